##@ C ABI (capi/, include/, tests/c/, examples/c/)

# The C tests link target/debug/libwspsan.a; every test program names the SPEC items it checks.
C_TESTS      := $(basename $(notdir $(wildcard tests/c/test_*.c)))
C_TEST_BINS  := $(addprefix $(C_BUILD)/,$(C_TESTS))
C_VALGRIND   := test_accept test_switch test_faults test_fuzz_regressions
C_HEADER_DEP := include/wspsan.h tests/c/harness.h
VALGRIND     ?= valgrind
# The debug library, which the C tests link, exports the test hooks too (wspsan_test_inject_panic);
# the release one, which is what gets installed, and the header never have them.
CAPI_TEST_FEATURES := --features test-hooks
CAPI_SOURCES := $(wildcard Cargo.toml Cargo.lock capi/Cargo.toml capi/build.rs core/Cargo.toml) \
                $(shell find capi/src core/src -name '*.rs')

.PHONY: c-lib header c-header-check c-test c-unit c-quickstart c-valgrind fabric-examples \
        own-fabric-example demo-c

c-lib: check-tools ## cargo build -p wspsan-capi (target/debug/libwspsan.{a,so}, with the test hooks)
	$(CARGO) build -p wspsan-capi $(CAPI_TEST_FEATURES)

# target/debug/libwspsan.a, target/release/libwspsan.so, ...: the profile is the directory's name.
target/%/libwspsan.a target/%/libwspsan.so: $(CAPI_SOURCES)
	$(CARGO) build -p wspsan-capi $(if $(filter release,$*),--release,$(CAPI_TEST_FEATURES))

# Regenerate include/wspsan.h from capi/src (cargo test checks that the committed one is current).
header: check-tools ## regenerate include/wspsan.h from capi/src (cbindgen)
	WSPSAN_WRITE_HEADER=1 $(CARGO) test -q -p wspsan-capi --test header

# The header on its own, after the platform's socket headers, with WSPSAN_UNPREFIXED, and as C++.
c-header-check: include/wspsan.h ## compile the header alone, after the platform's headers, and as C++
	@command -v $(CXX) >/dev/null || { echo "error: no C++ compiler ($(CXX)) found: install g++"; exit 1; }
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -Iinclude -c tests/c/header_alone.c -o $(C_BUILD)/header_alone.o
	$(CC) $(C_STD) -Iinclude -c tests/c/header_after_platform.c -o $(C_BUILD)/header_after_platform.o
	$(CXX) -x c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c tests/c/header_alone.c \
	    -o $(C_BUILD)/header_alone_cxx.o
	$(CXX) -x c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c tests/c/header_after_platform.c \
	    -o $(C_BUILD)/header_after_platform_cxx.o
	$(CXX) -x c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c tests/c/test_signatures.c \
	    -o $(C_BUILD)/test_signatures_cxx.o

$(C_BUILD)/test_%: tests/c/test_%.c $(C_HEADER_DEP) $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g $(C_SANITIZE) -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

# Built without sanitizers, for valgrind.
$(C_BUILD)/vg_%: tests/c/test_%.c $(C_HEADER_DEP) $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g -O0 -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

# The examples, under ASan/UBSan against the debug library: the README quick start; the fabric
# examples (plain WSP programs configured by WSPSAN_* alone, run as separate processes by
# tests/python/test_cross_process.py; make py-test builds them first); a provider's own
# transport (examples/c/own_fabric/).
$(addprefix $(C_BUILD)/,quickstart fabric_server fabric_client): $(C_BUILD)/%: examples/c/%.c include/wspsan.h $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g $(C_SANITIZE) -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

$(C_BUILD)/own_fabric: examples/c/own_fabric/own_fabric.c include/wspsan.h $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g $(C_SANITIZE) -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

c-unit: c-lib c-header-check $(C_TEST_BINS) ## run the C conformance tests tests/c/test_*.c (ASan/UBSan)
	@for t in $(C_TEST_BINS); do \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || { echo "error: $$t failed"; exit 1; }; \
	done

c-quickstart: c-lib $(C_BUILD)/quickstart ## the README's C quick start (examples/c/quickstart.c)
	@echo "README quick start (examples/c/quickstart.c)"
	$(C_BUILD)/quickstart

fabric-examples: c-lib $(C_BUILD)/fabric_server $(C_BUILD)/fabric_client ## build examples/c/fabric_{server,client}

# wspsan's messages carried over a socketpair between three forked processes; exits 0 only when
# every expected outcome is seen (a few seconds). OWN_FABRIC_TRACE=1 shows every message.
own-fabric-example: c-lib $(C_BUILD)/own_fabric ## run examples/c/own_fabric (a provider's own transport)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(C_BUILD)/own_fabric

c-valgrind: $(addprefix $(C_BUILD)/vg_,$(patsubst test_%,%,$(C_VALGRIND))) ## a few C tests under valgrind (no sanitizers)
	@command -v $(VALGRIND) >/dev/null || { echo "error: valgrind not found: install valgrind (Debian: apt install valgrind)"; exit 1; }
	@for t in $^; do \
	    echo "valgrind $$t"; \
	    $(VALGRIND) -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
	        --errors-for-leak-kinds=definite,indirect $$t > $$t.valgrind.log 2>&1 \
	        || { cat $$t.valgrind.log; echo "error: valgrind reported errors in $$t"; exit 1; }; \
	    tail -n 1 $$t.valgrind.log; \
	done

# c-install-test is in mk/install.mk.
c-test: c-unit c-quickstart own-fabric-example c-valgrind c-install-test ## every C check: c-unit, quick start, own fabric, valgrind, install
	@echo "C tests: all passed"

# The demo links the release library, as a user would.
demo-c: check-tools target/release/libwspsan.a ## the C demo (examples/c/demo.c, release library)
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -O2 -Iinclude examples/c/demo.c target/release/libwspsan.a $(C_LDLIBS) -o $(C_BUILD)/demo
	$(C_BUILD)/demo

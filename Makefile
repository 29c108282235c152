# wspsan: the front door. `make demo` runs the C and Python demos, `make test` runs every check.
# Both install what they need themselves (a .venv with pinned tools; crates from crates.io).

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO       ?= cargo
PYTHON      ?= python3
CC          ?= gcc
VENV        := .venv
VPY         := $(VENV)/bin/python
MATURIN_VERSION := 1.9.6
PYTEST_VERSION  := 8.4.2
MYPY_VERSION    := 1.18.2
export PYO3_PYTHON := $(abspath $(VPY))

.PHONY: all demo test bench header install check-tools lint rust-test c-test py-test venv develop \
        demo-c demo-py demo-fabric clean

all: demo

# ---------------------------------------------------------------------------------------------
# tools: fail early with a message naming what is missing
check-tools:
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@command -v $(CC) >/dev/null || { echo "error: no C compiler ($(CC)) found: install gcc"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.9 or later"; exit 1; }
	@$(PYTHON) -c 'import venv, sys; assert sys.version_info >= (3, 9)' 2>/dev/null || { echo "error: $(PYTHON) must be 3.9+ with the venv module (Debian: apt install python3-venv)"; exit 1; }

# ---------------------------------------------------------------------------------------------
# rust
# The python crate is not a default member (it needs libpython's headers via PYO3_PYTHON), so it
# is linted on its own once .venv exists.
lint: check-tools venv
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p wspsan-python --all-targets -- -D warnings

rust-test: check-tools
	$(CARGO) test

# ---------------------------------------------------------------------------------------------
# C ABI (capi/, include/, tests/c/, examples/c/)
# The C tests link target/debug/libwspsan.a; every test program names the SPEC items it checks.
C_BUILD      := build/c
C_LIBDIR     := target/debug
C_STD        := -std=c11 -Wall -Wextra -Werror -pedantic
C_SANITIZE   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
C_LDLIBS     := -lpthread -ldl -lm -lrt
C_TESTS      := $(basename $(notdir $(wildcard tests/c/test_*.c)))
C_TEST_BINS  := $(addprefix $(C_BUILD)/,$(C_TESTS))
C_VALGRIND   := test_accept test_switch test_faults test_fuzz_regressions
C_HEADER_DEP := include/wspsan.h tests/c/harness.h
# The library the C tests link exports the test hooks too (wspsan_test_inject_panic); the
# installed one and the header never have them.
CAPI_TEST_FEATURES := --features test-hooks
PREFIX       ?= /usr/local
INSTALL_PROFILE ?= release
VALGRIND     ?= valgrind
CXX          ?= g++

.PHONY: c-lib c-header-check c-valgrind c-install-test fabric-examples own-fabric-example

c-lib: check-tools
	$(CARGO) build -p wspsan-capi $(CAPI_TEST_FEATURES)

$(C_LIBDIR)/libwspsan.a: $(wildcard capi/Cargo.toml capi/src/*.rs core/Cargo.toml core/src/*.rs core/src/*/*.rs)
	$(CARGO) build -p wspsan-capi $(CAPI_TEST_FEATURES)

# Regenerate include/wspsan.h from capi/src (cargo test checks that the committed one is current).
header: check-tools
	WSPSAN_WRITE_HEADER=1 $(CARGO) test -q -p wspsan-capi --test header

# The header on its own, after the platform's socket headers, with WSPSAN_UNPREFIXED, and as C++.
c-header-check: include/wspsan.h
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

c-valgrind: $(addprefix $(C_BUILD)/vg_,$(patsubst test_%,%,$(C_VALGRIND)))
	@command -v $(VALGRIND) >/dev/null || { echo "error: valgrind not found: install valgrind (Debian: apt install valgrind)"; exit 1; }
	@for t in $^; do \
	    echo "valgrind $$t"; \
	    $(VALGRIND) -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
	        --errors-for-leak-kinds=definite,indirect $$t > $$t.valgrind.log 2>&1 \
	        || { cat $$t.valgrind.log; echo "error: valgrind reported errors in $$t"; exit 1; }; \
	    tail -n 1 $$t.valgrind.log; \
	done

c-install-test: check-tools
	tests/c/install_test.sh

c-test: c-lib c-header-check $(C_TEST_BINS)
	@for t in $(C_TEST_BINS); do \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || { echo "error: $$t failed"; exit 1; }; \
	done
	@echo "README quick start (examples/c/quickstart.c)"
	$(CC) $(C_STD) -g $(C_SANITIZE) -Iinclude examples/c/quickstart.c $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) \
	    -o $(C_BUILD)/quickstart
	$(C_BUILD)/quickstart
	$(MAKE) --no-print-directory own-fabric-example
	$(MAKE) --no-print-directory c-valgrind
	$(MAKE) --no-print-directory c-install-test
	@echo "C tests: all passed"

# The fabric examples (examples/c/fabric_*.c): plain WSP programs configured by WSPSAN_* alone, run
# as separate processes by tests/python/test_cross_process.py (make py-test builds them first).
FABRIC_BINS := $(C_BUILD)/fabric_server $(C_BUILD)/fabric_client

$(C_BUILD)/fabric_%: examples/c/fabric_%.c include/wspsan.h $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g $(C_SANITIZE) -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

fabric-examples: c-lib $(FABRIC_BINS)

# A provider's own transport (examples/c/own_fabric/): wspsan's messages carried over a socketpair
# between three forked processes, under ASan/UBSan; exits 0 only when every expected outcome is
# seen (a few seconds; part of c-test). OWN_FABRIC_TRACE=1 shows every message on the channel.
OWN_FABRIC_BIN := $(C_BUILD)/own_fabric

$(OWN_FABRIC_BIN): examples/c/own_fabric/own_fabric.c include/wspsan.h $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g $(C_SANITIZE) -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

own-fabric-example: c-lib $(OWN_FABRIC_BIN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(OWN_FABRIC_BIN)

# The demo links the release library, as a user would.
demo-c: check-tools
	$(CARGO) build --release -p wspsan-capi
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -O2 -Iinclude examples/c/demo.c target/release/libwspsan.a $(C_LDLIBS) -o $(C_BUILD)/demo
	$(C_BUILD)/demo

# Install the libraries, the header and wspsan.pc under $(PREFIX) (DESTDIR is honoured).
install: check-tools
	$(CARGO) build -p wspsan-capi $(if $(filter release,$(INSTALL_PROFILE)),--release)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 target/$(INSTALL_PROFILE)/libwspsan.a $(DESTDIR)$(PREFIX)/lib/libwspsan.a
	install -m 755 target/$(INSTALL_PROFILE)/libwspsan.so $(DESTDIR)$(PREFIX)/lib/libwspsan.so
	install -m 644 include/wspsan.h $(DESTDIR)$(PREFIX)/include/wspsan.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e "s|@VERSION@|$$(sed -n 's/^#define WSPSAN_VERSION_STRING "\(.*\)"/\1/p' include/wspsan.h)|g" \
	    capi/wspsan.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/wspsan.pc

# ---------------------------------------------------------------------------------------------
# Python (python/, tests/python/, examples/python/)
# .venv holds the pinned tools; the stamps make re-runs cheap: the tools are reinstalled only
# when a pinned version changes, the module rebuilt only when a Rust source or manifest changes
# (python/wspsan is installed editable, so its Python files are used in place).
PYTEST_TIMEOUT_VERSION := 2.4.0
PY_TOOLS_STAMP := $(VENV)/.tools-maturin$(MATURIN_VERSION)-pytest$(PYTEST_VERSION)-timeout$(PYTEST_TIMEOUT_VERSION)-mypy$(MYPY_VERSION)
PY_MODULE_STAMP := $(VENV)/.wspsan-built
PY_MODULE_INPUTS := Cargo.toml Cargo.lock $(wildcard core/Cargo.toml capi/Cargo.toml python/Cargo.toml \
                    python/pyproject.toml core/src/*.rs core/src/*/*.rs capi/src/*.rs python/src/*.rs)

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(PY_TOOLS_STAMP): | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check --quiet \
	    maturin==$(MATURIN_VERSION) pytest==$(PYTEST_VERSION) \
	    pytest-timeout==$(PYTEST_TIMEOUT_VERSION) mypy==$(MYPY_VERSION)
	rm -f $(VENV)/.tools-*
	touch $@

venv: check-tools $(PY_TOOLS_STAMP)

# maturin develop installs into the virtualenv named by VIRTUAL_ENV (editable: python/wspsan
# is used in place, the extension is copied next to it).
$(PY_MODULE_STAMP): $(PY_TOOLS_STAMP) $(PY_MODULE_INPUTS)
	cd python && VIRTUAL_ENV=$(abspath $(VENV)) $(abspath $(VENV))/bin/maturin develop --release --quiet
	touch $@

develop: venv $(PY_MODULE_STAMP)

# pytest (strict: tests/python/pytest.ini), the stubs checked against the module (stubtest), and
# the tests and demo type-checked against the stubs; mypy's caches stay inside .venv (stubtest
# keeps its own in the working directory).
py-test: export MYPY_CACHE_DIR := $(abspath $(VENV))/.mypy_cache
py-test: develop fabric-examples
	$(CARGO) test -q -p wspsan-python
	$(VPY) -m pytest tests/python
	cd $(VENV) && bin/python -m mypy.stubtest wspsan
	$(VPY) -m mypy --strict tests/python examples/python
	$(VPY) examples/python/quickstart.py >/dev/null

demo-py: develop
	$(VPY) examples/python/demo.py

# The third act: the C server (release library) in one process on 127.0.0.2 and Python clients in
# others on 127.0.0.3, through the TCP fabric (tests/python/test_cross_process.py runs the same
# script against the sanitized build).
demo-fabric: check-tools develop
	$(CARGO) build --release -p wspsan-capi
	@mkdir -p $(C_BUILD)/release
	$(CC) $(C_STD) -O2 -Iinclude examples/c/fabric_server.c target/release/libwspsan.a $(C_LDLIBS) \
	    -o $(C_BUILD)/release/fabric_server
	examples/fabric_demo.sh $(C_BUILD)/release/fabric_server $(VPY)

# ---------------------------------------------------------------------------------------------
# Benchmark (bench/): cases 1 to 6 in Rust (release build), case 7 in Python from .venv,
# cases 8 and 9 in Rust across two processes over the TCP fabric (ports 19470-19477 on 127.0.0.2/.3).
# Figures go to target/bench/ (results.json, python.json, scaling.svg); the chart is also copied
# to docs/bench-scaling.svg for the README. BENCH_ARGS, e.g. "--runs 9 --run-ms 200 --cases 1,5".
BENCH_ARGS    ?=
BENCH_PY_ARGS ?=

bench: check-tools
	$(CARGO) run --release -p wspsan-bench -- $(BENCH_ARGS)
	@echo "building the Python module for case 7 (make develop; log in target/bench/develop.log)"
	@mkdir -p target/bench
	@if $(MAKE) --no-print-directory develop >target/bench/develop.log 2>&1 \
	    && $(VPY) -c 'import wspsan' 2>/dev/null; then \
	    $(VPY) bench/python_bench.py $(BENCH_PY_ARGS); \
	else \
	    echo "Case 7: SKIPPED: the wspsan module could not be built into $(VENV) (see target/bench/develop.log)"; \
	fi

# ---------------------------------------------------------------------------------------------
# Reliability: each mk/*.mk file adds its own targets and appends the bounded part that
# belongs in `make test` to TEST_EXTRA (stress smoke, fuzz smoke).
TEST_EXTRA :=
include $(sort $(wildcard mk/*.mk))

# ---------------------------------------------------------------------------------------------
test: check-tools lint rust-test c-test py-test $(TEST_EXTRA)
	@echo "make test: all checks passed"

demo: check-tools demo-c demo-py demo-fabric

clean:
	$(CARGO) clean
	rm -rf $(VENV) build

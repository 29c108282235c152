##@ Porting (include/wspsan/*.h, tests/port/)

# Sources written for Windows against include/wspsan/ (winsock2.h, ws2spi.h), unchanged.
#
#   make port-check   compiles tests/port/headers_alone.c (<ws2spi.h> alone, and <winsock2.h>
#                     after the platform's socket headers) and tests/port/provider_port.c, a
#                     layered provider and its switch written the Windows way, as C11 and as
#                     C++17 with -Werror -pedantic, links both builds of provider_port.c against
#                     target/debug/libwspsan.a under ASan/UBSan and runs them (part of
#                     `make test` through TEST_EXTRA; a few seconds once the library is built)

PORT_BUILD     := $(C_BUILD)/port
PORT_INCLUDES  := -Iinclude/wspsan -Iinclude
PORT_HEADERS   := include/wspsan.h $(wildcard include/wspsan/*.h)
PORT_CXX_STD   := -x c++ -std=c++17 -Wall -Wextra -Werror -pedantic
PORT_BINS      := $(PORT_BUILD)/provider_port $(PORT_BUILD)/provider_port_cxx

.PHONY: port-check port-headers

TEST_EXTRA += port-check

port-headers: $(PORT_HEADERS) tests/port/headers_alone.c ## the porting headers alone, as C11 and C++17
	@command -v $(CXX) >/dev/null || { echo "error: no C++ compiler ($(CXX)) found: install g++"; exit 1; }
	@mkdir -p $(PORT_BUILD)
	$(CC) $(C_STD) $(PORT_INCLUDES) -c tests/port/headers_alone.c -o $(PORT_BUILD)/headers_alone.o
	$(CC) $(C_STD) $(PORT_INCLUDES) -DPORT_AFTER_PLATFORM -c tests/port/headers_alone.c \
	    -o $(PORT_BUILD)/headers_after_platform.o
	$(CXX) $(PORT_CXX_STD) $(PORT_INCLUDES) -c tests/port/headers_alone.c -o $(PORT_BUILD)/headers_alone_cxx.o
	$(CXX) $(PORT_CXX_STD) $(PORT_INCLUDES) -DPORT_AFTER_PLATFORM -c tests/port/headers_alone.c \
	    -o $(PORT_BUILD)/headers_after_platform_cxx.o

$(PORT_BUILD)/provider_port: tests/port/provider_port.c $(PORT_HEADERS) $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(PORT_BUILD)
	$(CC) $(C_STD) -g $(C_SANITIZE) $(PORT_INCLUDES) $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

# -x none after the source: the library that follows is an archive, not C++ source.
$(PORT_BUILD)/provider_port_cxx: tests/port/provider_port.c $(PORT_HEADERS) $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(PORT_BUILD)
	$(CXX) $(PORT_CXX_STD) -g $(C_SANITIZE) $(PORT_INCLUDES) $< -x none $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

port-check: check-tools c-lib port-headers $(PORT_BINS) ## a provider and switch written the Windows way, built as C11 and C++17 and run
	@for t in $(PORT_BINS); do \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || { echo "error: $$t failed"; exit 1; }; \
	done
	@echo "port-check: passed"

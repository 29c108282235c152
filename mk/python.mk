##@ Python (python/, tests/python/, examples/python/)

# .venv holds the pinned tools; the stamps make re-runs cheap: the tools are reinstalled only
# when a pinned version changes, the module rebuilt only when a Rust source or manifest changes
# (python/wspsan is installed editable, so its Python files are used in place).
# maturin 1.16 sets PYO3_BUILD_EXTENSION_MODULE itself, which is what pyo3 0.30 reads instead of
# the `extension-module` feature, so the crate needs no such feature and no warning is printed.
MATURIN_VERSION        := 1.16.0
PYTEST_VERSION         := 8.4.2
PYTEST_TIMEOUT_VERSION := 2.4.0
MYPY_VERSION           := 1.18.2
export PYO3_PYTHON     := $(abspath $(VPY))

PY_TOOLS_STAMP   := $(VENV)/.tools-maturin$(MATURIN_VERSION)-pytest$(PYTEST_VERSION)-timeout$(PYTEST_TIMEOUT_VERSION)-mypy$(MYPY_VERSION)
PY_MODULE_STAMP  := $(VENV)/.wspsan-built
PY_MODULE_INPUTS := Cargo.toml Cargo.lock $(wildcard core/Cargo.toml capi/Cargo.toml capi/build.rs python/Cargo.toml \
                    python/pyproject.toml) $(shell find core/src capi/src python/src -name '*.rs')
MATURIN          := $(abspath $(VENV))/bin/maturin
# The wheel: abi3 (one wheel for CPython 3.9 and later), stripped, with a manylinux tag that
# maturin checks against the extension's libraries and glibc symbol versions. Rust's std built on
# this machine's glibc (2.36) needs GLIBC_2.34 symbols, so the tag is manylinux_2_34 (glibc 2.34
# and later: Debian 12, Ubuntu 22.04, RHEL 9); an older tag needs an older glibc to build on
# (a manylinux container, or maturin's --zig).
WHEEL_DIR        := build/wheels
WHEEL_COMPAT     ?= manylinux_2_34

.PHONY: venv develop py-test demo-py demo-fabric wheel wheel-test

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(PY_TOOLS_STAMP): | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check --quiet \
	    maturin==$(MATURIN_VERSION) pytest==$(PYTEST_VERSION) \
	    pytest-timeout==$(PYTEST_TIMEOUT_VERSION) mypy==$(MYPY_VERSION)
	rm -f $(VENV)/.tools-*
	touch $@

venv: check-tools $(PY_TOOLS_STAMP) ## .venv with the pinned maturin, pytest, pytest-timeout, mypy

# maturin develop installs into the virtualenv named by VIRTUAL_ENV (editable: python/wspsan
# is used in place, the extension is copied next to it).
$(PY_MODULE_STAMP): $(PY_TOOLS_STAMP) $(PY_MODULE_INPUTS)
	cd python && VIRTUAL_ENV=$(abspath $(VENV)) $(MATURIN) develop --release --quiet
	touch $@

develop: venv $(PY_MODULE_STAMP) ## build the wspsan module into .venv (editable, release)

# pytest (strict: tests/python/pytest.ini), the stubs checked against the module (stubtest), and
# the tests and demo type-checked against the stubs; mypy's caches stay inside .venv (stubtest
# keeps its own in the working directory).
py-test: export MYPY_CACHE_DIR := $(abspath $(VENV))/.mypy_cache
py-test: develop fabric-examples ## pytest, stubtest, mypy --strict, the Python quick start and asyncio example
	$(CARGO) test -q -p wspsan-python
	$(VPY) -m pytest tests/python
	cd $(VENV) && bin/python -m mypy.stubtest wspsan
	$(VPY) -m mypy --strict tests/python examples/python
	$(VPY) examples/python/quickstart.py >/dev/null
	timeout 60 $(VPY) examples/python/asyncio_server.py >/dev/null

demo-py: develop ## the Python demo (examples/python/demo.py)
	$(VPY) examples/python/demo.py

# The third act: the C server (release library) in one process on 127.0.0.2 and Python clients in
# others on 127.0.0.3, through the TCP fabric (tests/python/test_cross_process.py runs the same
# script against the sanitized build).
$(C_BUILD)/release/fabric_server: examples/c/fabric_server.c include/wspsan.h target/release/libwspsan.a
	@mkdir -p $(@D)
	$(CC) $(C_STD) -O2 -Iinclude $< target/release/libwspsan.a $(C_LDLIBS) -o $@

demo-fabric: check-tools develop $(C_BUILD)/release/fabric_server ## a C server and Python clients over the TCP fabric
	examples/fabric_demo.sh $(C_BUILD)/release/fabric_server $(VPY)

# The wheel is rebuilt every time (maturin reuses target/release, so that is a link and a zip).
wheel: venv ## build/wheels/wspsan-VERSION-cp39-abi3-manylinux*.whl (maturin build --release)
	@mkdir -p $(WHEEL_DIR)
	rm -f $(WHEEL_DIR)/wspsan-*.whl
	cd python && $(MATURIN) build --release --strip --quiet --compatibility $(WHEEL_COMPAT) --out $(abspath $(WHEEL_DIR))

# What a user does with the wheel: pip install it into a new virtualenv (no network: it has no
# dependencies) and run the README's Python quick start from outside the checkout, so the
# installed package is the one imported.
wheel-test: wheel ## pip install the wheel into a scratch venv and run the Python quick start with it
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-index $(abspath $(WHEEL_DIR))/wspsan-*.whl; \
	cd "$$tmp" && "$$tmp/venv/bin/python" -c 'import sys, wspsan; assert wspsan.__file__.startswith(sys.prefix), wspsan.__file__; print("wheel: wspsan", wspsan.__version__, "from", wspsan.__file__)'; \
	"$$tmp/venv/bin/python" $(abspath examples/python/quickstart.py) >/dev/null; \
	echo "wheel-test: $$(cd $(abspath $(WHEEL_DIR)) && ls) installs and runs the quick start"

TEST_EXTRA += wheel-test

##@ Python (python/, tests/python/, examples/python/)

# .venv holds the pinned tools; the stamps make re-runs cheap: the tools are reinstalled only
# when a pinned version changes, the module rebuilt only when a Rust source or manifest changes
# (python/wspsan is installed editable, so its Python files are used in place).
MATURIN_VERSION        := 1.9.6
PYTEST_VERSION         := 8.4.2
PYTEST_TIMEOUT_VERSION := 2.4.0
MYPY_VERSION           := 1.18.2
export PYO3_PYTHON     := $(abspath $(VPY))

PY_TOOLS_STAMP   := $(VENV)/.tools-maturin$(MATURIN_VERSION)-pytest$(PYTEST_VERSION)-timeout$(PYTEST_TIMEOUT_VERSION)-mypy$(MYPY_VERSION)
PY_MODULE_STAMP  := $(VENV)/.wspsan-built
PY_MODULE_INPUTS := Cargo.toml Cargo.lock $(wildcard core/Cargo.toml capi/Cargo.toml capi/build.rs python/Cargo.toml \
                    python/pyproject.toml) $(shell find core/src capi/src python/src -name '*.rs')
MATURIN          := $(abspath $(VENV))/bin/maturin

.PHONY: venv develop py-test demo-py demo-fabric

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
py-test: develop fabric-examples ## pytest, stubtest, mypy --strict, the Python quick start
	$(CARGO) test -q -p wspsan-python
	$(VPY) -m pytest tests/python
	cd $(VENV) && bin/python -m mypy.stubtest wspsan
	$(VPY) -m mypy --strict tests/python examples/python
	$(VPY) examples/python/quickstart.py >/dev/null

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

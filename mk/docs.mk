##@ Documentation (docs/, make docs)

# The behaviour reference (docs/behaviour.md) and the HTML documentation in build/docs/.
#
#   make docs        build/docs/index.html and what it links: docs/behaviour.md,
#                    docs/fabric-protocol.md and README.md as HTML (python-markdown), the C
#                    header rendered from its comments (docs/tools/build_docs.py, no doxygen),
#                    the Python module (pdoc) and the Rust crates (cargo doc --no-deps)
#   make docs-test   builds the docs, type-checks the scripts that build and check them
#                    (mypy --strict), checks that every relative link and #anchor in
#                    build/docs resolves, and opens the pages in headless Chromium, failing on
#                    any console error (without a browser that one check says it was skipped);
#                    part of `make test` through TEST_EXTRA. About 20 s once the Python module
#                    and cargo doc's dependencies are built (the Chromium runs take ~11 of them)
#   make docs-ids    every SPEC id the header, stubs, README and tests cite has its anchor in
#                    docs/behaviour.md, and the reference covers the whole contract (part of
#                    `make test` through TEST_EXTRA; a second or so)
#
# pdoc and python-markdown are pinned and installed into .venv beside the main tools, with a
# stamp of their own. CHROMIUM names the browser (default: the first of chromium,
# chromium-browser, google-chrome on PATH; Debian: apt-get install chromium).

PDOC_VERSION     := 15.0.4
MARKDOWN_VERSION := 3.9
DOCS_OUT         := build/docs
DOCS_TOOLS_STAMP := $(VENV)/.docs-tools-pdoc$(PDOC_VERSION)-markdown$(MARKDOWN_VERSION)
CHROMIUM         ?=

.PHONY: docs docs-test docs-ids docs-tools

TEST_EXTRA += docs-ids docs-test

$(DOCS_TOOLS_STAMP): | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check --quiet \
	    pdoc==$(PDOC_VERSION) markdown==$(MARKDOWN_VERSION)
	rm -f $(VENV)/.docs-tools-*
	touch $@

docs-tools: check-tools $(DOCS_TOOLS_STAMP) ## the pinned documentation tools (pdoc, markdown) in .venv

docs: docs-tools develop ## build/docs/index.html: behaviour reference, Python, Rust and C API references
	$(CARGO) doc --no-deps -p wspsan-core -p wspsan-capi
	rm -rf $(DOCS_OUT)
	$(VPY) docs/tools/build_docs.py --out $(DOCS_OUT) --rustdoc target/doc

docs-test: export MYPY_CACHE_DIR := $(abspath $(VENV))/.mypy_cache
docs-test: docs ## build the docs, check every internal link, render them in headless Chromium (skipped without one)
	$(VPY) -m mypy --strict tests/docs docs/tools
	$(VPY) tests/docs/check_links.py $(DOCS_OUT)
	CHROMIUM=$(CHROMIUM) $(VPY) tests/docs/browser_check.py $(DOCS_OUT)

docs-ids: ## every SPEC id cited in tests, header, stubs and README has its anchor in docs/behaviour.md
	$(PYTHON) tests/docs/check_ids.py

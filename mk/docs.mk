# The behaviour reference (docs/behaviour.md) and the HTML documentation.
#
#   make docs-ids    every SPEC id the header, stubs, README and tests cite has its anchor in
#                    docs/behaviour.md, and the reference covers the whole contract (part of
#                    `make test` through TEST_EXTRA; a second or so)

.PHONY: docs-ids

TEST_EXTRA += docs-ids

docs-ids:
	$(PYTHON) tests/docs/check_ids.py

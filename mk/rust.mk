##@ Rust (core/, capi/, python/, bench/)

.PHONY: lint rust-test

# The python crate is not a default member (it needs libpython's headers via PYO3_PYTHON), so it
# is linted on its own once .venv exists.
lint: check-tools venv ## cargo fmt --check, clippy -D warnings on every crate
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p wspsan-python --all-targets -- -D warnings

rust-test: check-tools ## cargo test (core, capi, bench; the model check, the corpus replays)
	$(CARGO) test

##@ Fuzzing (tests/c/fuzz.c, fuzz/)

# Fuzzing the C ABI and the TCP fabric's frame decoder (SPEC F8, F10).
#
#   make fuzz-smoke   the C driver tests/c/fuzz.c (ASan/UBSan) for a few seeds, bounded (part of
#                     `make test` through TEST_EXTRA; stable toolchain only)
#   make fuzz         a cargo-fuzz target for FUZZ_SECONDS on the nightly toolchain
#                     (-Zsanitizer=address on the Rust code too); new corpus entries go to
#                     target/fuzz-corpus/FUZZ_TARGET/. FUZZ_TARGET is one of FUZZ_TARGETS:
#                       capi_calls     (default) sequences of C ABI calls, fuzz_targets/capi_calls.rs
#                       fabric_frames  bytes from a fabric peer, fuzz_targets/fabric_frames.rs
#                     e.g. make fuzz FUZZ_TARGET=fabric_frames FUZZ_SECONDS=300
#   make fuzz-merge   add to fuzz/corpus/FUZZ_TARGET/ only the inputs of target/fuzz-corpus/
#                     FUZZ_TARGET/ that reach new coverage (libFuzzer -merge=1), to commit them
#   make fuzz-c       only the long C-driver run (FUZZ_C_SECONDS, FUZZ_SEED)
#   make fuzz-build   check that the fuzz crate compiles, every target (nightly), without fuzzing
#
# cargo-fuzz is installed by this file, pinned, into .tools/ (git-ignored). The committed seed
# corpora live in fuzz/corpus/<target>/; libFuzzer reads them and writes what it finds to a
# scratch directory, so a run never changes the checkout. `cargo test` replays each committed
# corpus on stable (capi/tests/fuzz_corpus.rs, core/tests/fabric_corpus.rs). A crash is saved
# by libFuzzer under fuzz/artifacts/ (git-ignored); replay it with
#   cargo +nightly fuzz run <target> <file>     (in fuzz/, PATH with .tools/bin)
# and turn it into a regression test in tests/c, capi/tests or core/tests (or commit it to the
# target's corpus, which cargo test replays).

CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TOOLS     := $(abspath .tools)
CARGO_FUZZ     := $(FUZZ_TOOLS)/bin/cargo-fuzz
FUZZ_TARGETS   := capi_calls fabric_frames
FUZZ_TARGET    ?= capi_calls
FUZZ_MAX_LEN   ?= 2048
FUZZ_SECONDS   ?= 600
FUZZ_C_SECONDS ?= 300
FUZZ_SEED      ?= 1
FUZZ_NIGHTLY   ?= nightly
# Seeds and step counts of the smoke run: a few seconds each on the 2-core machine.
FUZZ_SMOKE_SEEDS ?= 1 2 3 4 5 6
FUZZ_SMOKE_STEPS ?= 50000
FUZZ_BIN       := $(C_BUILD)/fuzz

.PHONY: fuzz fuzz-c fuzz-smoke fuzz-build fuzz-tools fuzz-merge fuzz-target-check

TEST_EXTRA += fuzz-smoke

$(FUZZ_BIN): tests/c/fuzz.c fuzz/allowed_errors.h include/wspsan.h $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g -O1 $(C_SANITIZE) -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

# Each seed is a separate process: its own startup, its own leak check at exit. The results by
# function and code go to build/c/fuzz-seed-N.log; the whole log is shown when a seed fails.
fuzz-smoke: check-tools c-lib $(FUZZ_BIN) ## the C-ABI fuzz driver for 6 seeds, ASan/UBSan (in make test)
	@for seed in $(FUZZ_SMOKE_SEEDS); do \
	    log=$(C_BUILD)/fuzz-seed-$$seed.log; \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	        $(FUZZ_BIN) $$seed $(FUZZ_SMOKE_STEPS) > $$log 2>&1 \
	        || { cat $$log; echo "error: fuzz-smoke failed for seed $$seed (replay: $(FUZZ_BIN) $$seed $(FUZZ_SMOKE_STEPS))"; exit 1; }; \
	    echo "seed $$seed: $$(grep -m1 '^fuzz: seed .* steps, ' $$log | sed 's/^fuzz: seed [0-9]*: //; s/; upcalls.*//'); $$(tail -n 1 $$log)"; \
	done
	@echo "fuzz-smoke: all seeds passed"

fuzz-c: check-tools c-lib $(FUZZ_BIN) ## the long C-driver run (FUZZ_C_SECONDS, FUZZ_SEED)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(FUZZ_BIN) $(FUZZ_SEED) $(FUZZ_C_SECONDS)s

$(CARGO_FUZZ):
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(FUZZ_TOOLS)

# cargo-fuzz needs a nightly toolchain (it builds with -Zsanitizer=address); none of `make test` does.
fuzz-tools: $(CARGO_FUZZ) ## install cargo-fuzz (pinned) into .tools/; check for the nightly toolchain
	@rustup run $(FUZZ_NIGHTLY) rustc --version >/dev/null 2>&1 || { \
	    echo "error: the $(FUZZ_NIGHTLY) Rust toolchain is missing: rustup toolchain install $(FUZZ_NIGHTLY) --profile minimal"; exit 1; }

fuzz-target-check: ## check that FUZZ_TARGET is one of FUZZ_TARGETS
	@case " $(FUZZ_TARGETS) " in *" $(FUZZ_TARGET) "*) ;; \
	    *) echo "error: FUZZ_TARGET=$(FUZZ_TARGET) is not one of: $(FUZZ_TARGETS)"; exit 1;; esac

fuzz-build: fuzz-tools ## compile every cargo-fuzz target without fuzzing (nightly)
	cd fuzz && PATH="$(FUZZ_TOOLS)/bin:$$PATH" $(CARGO) +$(FUZZ_NIGHTLY) fuzz build

fuzz: fuzz-target-check fuzz-tools ## cargo-fuzz FUZZ_TARGET for FUZZ_SECONDS (nightly)
	@mkdir -p target/fuzz-corpus/$(FUZZ_TARGET)
	cd fuzz && PATH="$(FUZZ_TOOLS)/bin:$$PATH" $(CARGO) +$(FUZZ_NIGHTLY) fuzz run $(FUZZ_TARGET) \
	    ../target/fuzz-corpus/$(FUZZ_TARGET) corpus/$(FUZZ_TARGET) -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=$(FUZZ_MAX_LEN) -len_control=10 -print_final_stats=1

# The committed corpus keeps what it has and gains only inputs that reach new coverage.
fuzz-merge: fuzz-target-check fuzz-tools ## add the new-coverage inputs of a run to fuzz/corpus/FUZZ_TARGET
	@test -d target/fuzz-corpus/$(FUZZ_TARGET) || { echo "error: no target/fuzz-corpus/$(FUZZ_TARGET): run make fuzz FUZZ_TARGET=$(FUZZ_TARGET) first"; exit 1; }
	cd fuzz && PATH="$(FUZZ_TOOLS)/bin:$$PATH" $(CARGO) +$(FUZZ_NIGHTLY) fuzz run $(FUZZ_TARGET) \
	    corpus/$(FUZZ_TARGET) ../target/fuzz-corpus/$(FUZZ_TARGET) -- -merge=1 -max_len=$(FUZZ_MAX_LEN)
	@echo "fuzz/corpus/$(FUZZ_TARGET): $$(ls fuzz/corpus/$(FUZZ_TARGET) | wc -l) inputs"

##@ Stress (tests/c/stress.c, tests/c/stress_fabric.c)

# Stress through the C ABI with outcome accounting (SPEC T1, T2; with the switch's upcalls,
# X5/A11/L9, and three NICs with wildcard binds, B1/B2/C4/A15): tests/c/stress.c.
#
#   make stress-smoke   about 30 s (STRESS_SMOKE_DURATION) against target/debug/libwspsan.a with the
#                       driver under ASan/UBSan; part of `make test` through TEST_EXTRA
#   make stress         the long run, DURATION seconds (default 600):
#                         STRESS_SANITIZE=0 (default) release library, driver at -O2, no sanitizers:
#                           the most attempts (interleavings) per second, which is what a long run is for;
#                         STRESS_SANITIZE=1 debug library (overflow checks, debug assertions) and the
#                           driver under ASan/UBSan, about a third of the throughput.
#   STRESS_SEED=n       replays a run's random choices (the seed is printed; thread timing still varies).
#
# Across the TCP fabric (SPEC T2, F1-F7, F11): `stress --fabric`, the same accounting with the
# connectors and the listeners on two devices in two processes (tests/c/stress_fabric.c, included by
# stress.c): the parent forks a listener process (127.0.<n>.1,.3,.4: acceptors, listener churn,
# its device's faults) and a connector process (127.0.<n>.2,.5: connectors, connect timeouts,
# closes of blocked connectors), joins both processes' per-attempt logs by id, balances both
# devices' books (fabric requests sent = received), then kills the listener process with requests
# queued and connections open (F7). It ends in "T2/F6 fabric stress: OK" or exits non-zero, keeping
# both logs for a failed run.
#
#   make stress-fabric-smoke   about 25 s (STRESS_FABRIC_SMOKE_DURATION, default 20, plus the loss
#                              phase), the driver under ASan/UBSan against target/debug/libwspsan.a;
#                              part of `make test` through TEST_EXTRA
#   make stress-fabric         the long run, DURATION seconds, with STRESS_SANITIZE as for `make stress`
#   STRESS_SEED=n, and STRESS_FABRIC_LOSS=0 (no loss phase), STRESS_FABRIC_KEEP=1 (keep the logs, which
#   a failing run always keeps; the path is printed).
#
# The sanitizers instrument the C driver only (the Rust library is safe code, checked by the smoke's
# debug build); the long run defaults to throughput. The program prints a summary ending in
# "T1/T2 stress: OK" and exits non-zero on any violation, hang (watchdog) or counter mismatch.

DURATION              ?= 600
STRESS_SMOKE_DURATION ?= 30
STRESS_SANITIZE       ?= 0
STRESS_SRC            := tests/c/stress.c
STRESS_DEPS           := $(STRESS_SRC) tests/c/stress_fabric.c
STRESS_FABRIC_SMOKE_DURATION ?= 20
STRESS_SMOKE_BIN      := $(C_BUILD)/stress
STRESS_RUN_ENV        := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

ifeq ($(STRESS_SANITIZE),1)
STRESS_BIN         := $(STRESS_SMOKE_BIN)
else
STRESS_BIN         := $(C_BUILD)/stress-release
endif

.PHONY: stress stress-c stress-smoke stress-fabric stress-fabric-smoke stress-faults

TEST_EXTRA += stress-smoke stress-fabric-smoke

$(STRESS_SMOKE_BIN): $(STRESS_DEPS) include/wspsan.h $(C_LIBDIR)/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g -O1 $(C_SANITIZE) -Iinclude $< $(C_LIBDIR)/libwspsan.a $(C_LDLIBS) -o $@

# The long run's build without sanitizers (STRESS_SANITIZE=0): the release library, -O2.
$(C_BUILD)/stress-release: $(STRESS_DEPS) include/wspsan.h target/release/libwspsan.a
	@mkdir -p $(C_BUILD)
	$(CC) $(C_STD) -g -O2 -Iinclude $< target/release/libwspsan.a $(C_LDLIBS) -o $@

stress-smoke: check-tools c-lib $(STRESS_SMOKE_BIN) ## 30 s of C-ABI stress, ASan/UBSan (in make test)
	$(STRESS_RUN_ENV) $(STRESS_SMOKE_BIN) $(STRESS_SMOKE_DURATION)

stress: stress-c stress-faults ## the long stress run (DURATION s), then the fault scenarios

stress-c: check-tools $(STRESS_BIN) ## only the long C-ABI stress run, DURATION seconds (STRESS_SANITIZE, STRESS_SEED)
	$(STRESS_RUN_ENV) $(STRESS_BIN) $(DURATION)

# The fault-injecting fabric's property test over many seeds (make test runs 24).
FAULT_SCENARIOS ?= 2000
FAULT_SEED ?= 1
stress-faults: check-tools ## the fault-injecting fabric's property test over FAULT_SCENARIOS seeds
	FAULT_SCENARIOS=$(FAULT_SCENARIOS) FAULT_SEED=$(FAULT_SEED) $(CARGO) test --release -p wspsan-core --test fabric_faults every -- --nocapture

stress-fabric-smoke: check-tools c-lib $(STRESS_SMOKE_BIN) ## 20 s of stress across the TCP fabric, ASan/UBSan (in make test)
	$(STRESS_RUN_ENV) $(STRESS_SMOKE_BIN) --fabric $(STRESS_FABRIC_SMOKE_DURATION)

stress-fabric: check-tools $(STRESS_BIN) ## the long stress run across the TCP fabric, DURATION seconds
	$(STRESS_RUN_ENV) $(STRESS_BIN) --fabric $(DURATION)

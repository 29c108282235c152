##@ Benchmark (bench/)

# Cases 1 to 6 in Rust (release build), case 7 in Python from .venv, cases 8 and 9 in Rust across
# two processes over the TCP fabric (ports 19470-19477 on 127.0.0.2/.3). Figures go to
# target/bench/ (results.json, python.json, scaling.svg); the chart is also copied to
# docs/bench-scaling.svg for the README. BENCH_ARGS, e.g. "--runs 9 --run-ms 200 --cases 1,5".
# Needs a quiet machine; not part of `make test`.
BENCH_ARGS    ?=
BENCH_PY_ARGS ?=

.PHONY: bench bench-rust bench-py bench-atomics

bench: bench-rust bench-py ## the whole benchmark against kernel sockets (about a minute, quiet machine)

bench-rust: check-tools ## bench cases 1-6, 8 and 9 (Rust, release)
	$(CARGO) run --release -p wspsan-bench -- $(BENCH_ARGS)

bench-py: develop ## bench case 7 (Python, from .venv)
	$(VPY) bench/python_bench.py $(BENCH_PY_ARGS)

# Atomic read-modify-writes (lock round trips are two) per iteration of the hot loops, counted
# from callgrind's per-instruction counts and the disassembly: the same on every run and every
# machine of the same build, so it shows what a change did where timings are noisy.
BENCH_ATOMICS_PROFILES ?= core-pair capi-pair core-refusal capi-refusal

bench-atomics: check-tools ## atomic RMWs per pair and per refusal (valgrind; BY_FUNCTION=1 lists where)
	@command -v $(VALGRIND) >/dev/null || { echo "error: valgrind not found: install valgrind (Debian: apt install valgrind)"; exit 1; }
	$(CARGO) build --release -p wspsan-bench
	@for p in $(BENCH_ATOMICS_PROFILES); do bench/tools/count_atomics.py target/release/wspsan-bench $$p 2000; done

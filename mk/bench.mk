##@ Benchmark (bench/)

# Cases 1 to 6 in Rust (release build), case 7 in Python from .venv, cases 8 and 9 in Rust across
# two processes over the TCP fabric (ports 19470-19477 on 127.0.0.2/.3). Figures go to
# target/bench/ (results.json, python.json, scaling.svg); the chart is also copied to
# docs/bench-scaling.svg for the README. BENCH_ARGS, e.g. "--runs 9 --run-ms 200 --cases 1,5".
# Needs a quiet machine; not part of `make test`.
BENCH_ARGS    ?=
BENCH_PY_ARGS ?=

.PHONY: bench bench-rust bench-py

bench: bench-rust bench-py ## the whole benchmark against kernel sockets (about a minute, quiet machine)

bench-rust: check-tools ## bench cases 1-6, 8 and 9 (Rust, release)
	$(CARGO) run --release -p wspsan-bench -- $(BENCH_ARGS)

bench-py: develop ## bench case 7 (Python, from .venv)
	$(VPY) bench/python_bench.py $(BENCH_PY_ARGS)

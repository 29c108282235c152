"""Case 7 of the benchmark: pairs per second through the ``wspsan`` module against Python's own
``socket`` module doing the same loop over AF_UNIX.

One pair = make a client socket, non-blocking connect, accept, close both (client first), the
same as case 1 of the Rust benchmark. Every variant is calibrated once, then run interleaved
(A B A B ...); prints median, min and max, the ratio and whether the target (>= 3x) is met,
and writes target/bench/python.json. Run by ``make bench`` from .venv.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 3.0

try:
    import wspsan
except ImportError as e:  # pragma: no cover - depends on the environment
    print(f"\nCase 7: SKIPPED: the wspsan module is not importable here ({e}); run `make develop` first")
    sys.exit(0)


def wspsan_pair() -> Callable[[], None]:
    provider = wspsan.Provider()
    listener = provider.socket()
    address = ("127.0.0.1", 5000)
    listener.bind(address)
    listener.listen(1024)

    def pair() -> None:
        client = provider.socket()
        client.setblocking(False)
        client.connect_ex(address)
        accepted, _ = listener.accept()
        client.close()
        accepted.close()

    return pair


def unix_pair() -> Callable[[], None]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = f"\0wspsan-bench-py-{os.getpid()}"  # abstract namespace: no file system lookup
    listener.bind(address)
    listener.listen(1024)

    def pair() -> None:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.setblocking(False)
        client.connect_ex(address)
        accepted, _ = listener.accept()
        client.close()
        accepted.close()

    return pair


def timed(op: Callable[[], None], n: int) -> float:
    """Seconds for n pairs."""
    start = time.perf_counter()
    for _ in range(n):
        op()
    return time.perf_counter() - start


def calibrate(op: Callable[[], None], target: float) -> int:
    n = 8
    while True:
        took = max(timed(op, n), 1e-9)
        if took >= target / 8 or n >= 1 << 30:
            return max(1, int(n * target / took))
        n *= 4


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--run-ms", type=int, default=150)
    args = ap.parse_args()
    target = args.run_ms / 1000

    sanity = wspsan.Provider()
    listener = sanity.socket()
    listener.bind(("127.0.0.1", 5001))
    listener.listen(1)
    client = sanity.socket()
    client.setblocking(False)
    assert client.connect_ex(("127.0.0.1", 5001)) == wspsan.WSAEWOULDBLOCK, "non-blocking connect"

    variants = {"wspsan module": wspsan_pair(), "socket module AF_UNIX": unix_pair()}
    counts = {name: calibrate(op, target) for name, op in variants.items()}
    runs: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, op in variants.items():
            runs[name].append(counts[name] / timed(op, counts[name]))

    print(f"\nCase 7: Python, one pair per loop ({args.runs} runs, ~{args.run_ms} ms each, interleaved)")
    print(f"  {'variant':<44} {'median':>9} {'min':>9} {'max':>9}  unit")
    for name, rates in runs.items():
        print(f"  {name:<44} {statistics.median(rates):>9.0f} {min(rates):>9.0f} {max(rates):>9.0f}  pairs/s")
    ratio = statistics.median(runs["wspsan module"]) / statistics.median(runs["socket module AF_UNIX"])
    print(f"  ratio  wspsan module / socket module AF_UNIX = {ratio:.2f}x (pairs/s)")
    verdict = "MET" if ratio >= TARGET else "MISSED"
    goal = f"wspsan module >= {TARGET:g}x socket module AF_UNIX (pairs/s)"
    print(f"\nTarget\n  case 7  {verdict:<12} {goal:<58} measured: {ratio:.2f}x")

    out = ROOT / "target" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "settings": {"runs": args.runs, "run_ms": args.run_ms, "python": platform.python_version()},
        "case": 7,
        "rows": [
            {"name": name, "unit": "pairs/s", "median": statistics.median(r), "min": min(r), "max": max(r), "runs": r}
            for name, r in runs.items()
        ],
        "ratio": ratio,
        "target": {"goal": goal, "verdict": verdict},
    }
    (out / "python.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out / 'python.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

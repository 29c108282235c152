#!/usr/bin/env python3
"""Count the atomic read-modify-write instructions a benchmark loop executes, per iteration.

No hardware counters are needed (virtual machines rarely expose them): callgrind records how often
each instruction ran (--dump-instr=yes), objdump says which instructions are atomic RMWs (a `lock`
prefix, or `xchg` with memory, which is locked implicitly), and the two are joined by address.
The difference of two runs (N and 2N iterations) divided by N cancels the set-up cost.

usage: count_atomics.py BINARY PROFILE N [extra callgrind args]
  e.g. bench/tools/count_atomics.py target/release/wspsan-bench capi-pair 2000
"""
import os
import re
import subprocess
import sys
import tempfile


def atomic_addresses(binary):
    """Addresses of atomic RMW instructions in the binary, with their mnemonic."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary], check=True,
                         capture_output=True, text=True).stdout
    atomics = {}
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(.*)", line)
        if not m:
            continue
        insn = m.group(2)
        if insn.startswith("lock ") or (insn.startswith("xchg") and "(" in insn):
            atomics[int(m.group(1), 16)] = insn.split()[1] if insn.startswith("lock ") else "xchg"
    return atomics


FUNCTION = {}


def callgrind_counts(binary, profile, n, extra):
    """(object, instruction address) -> executions, for every object the process ran."""
    with tempfile.TemporaryDirectory() as d:
        outfile = os.path.join(d, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--compress-pos=no",
                        "--compress-strings=no", f"--callgrind-out-file={outfile}", *extra,
                        binary, "--profile", profile, str(n)],
                       check=True, capture_output=True)
        counts = {}
        obj = None
        fn = None
        after_calls = False
        for line in open(outfile):
            if line.startswith("ob="):
                obj = os.path.realpath(line[3:].strip())
            if line.startswith("fn="):
                fn = line[3:].strip()
                continue
            if line.startswith("calls="):
                after_calls = True  # the next cost line is the call's inclusive cost: skip it
                continue
            m = re.match(r"(0x[0-9a-f]+) \d+ (\d+)", line)
            if m and obj:
                if not after_calls:
                    key = (obj, int(m.group(1), 16))
                    counts[key] = counts.get(key, 0) + int(m.group(2))
                    FUNCTION[key] = fn
                after_calls = False
        return counts


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binary, profile, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    extra = sys.argv[4:]
    runs = [callgrind_counts(binary, profile, k, extra) for k in (n, 2 * n)]
    objects = {obj for obj, _ in runs[1] if os.path.exists(obj)}
    per = {}
    by_fn = {}
    for obj in objects:
        for addr, kind in atomic_addresses(obj).items():
            d = runs[1].get((obj, addr), 0) - runs[0].get((obj, addr), 0)
            if d:
                name = f"{kind} ({os.path.basename(obj)})" if obj != os.path.realpath(binary) else kind
                per[name] = per.get(name, 0) + d
                f = FUNCTION.get((obj, addr), "?")
                by_fn[f] = by_fn.get(f, 0) + d
    total = sum(per.values())
    instrs = sum(runs[1].values()) - sum(runs[0].values())
    detail = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
    print(f"{profile}: {total / n:.1f} atomic RMWs per iteration ({detail}); "
          f"{instrs / n:.0f} instructions per iteration")
    if os.environ.get("BY_FUNCTION"):
        for f, v in sorted(by_fn.items(), key=lambda kv: -kv[1]):
            print(f"  {v / n:5.1f}  {f[:150]}")


if __name__ == "__main__":
    main()

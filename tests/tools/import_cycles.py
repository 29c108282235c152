#!/usr/bin/env python3
"""Report `use crate::` circles among the modules of a Rust crate.

    python3 tests/tools/import_cycles.py python/src [capi/src ...]

Each argument is a crate's `src` directory. A module is a file `src/NAME.rs` (or a directory
`src/NAME/`, whose files all count as module NAME). Module A depends on module B when A's code
names `crate::B` (in a `use` line, inside a `use crate::{...}` group, or as a path anywhere).
The crate root (`lib.rs`, `main.rs`) is not a module here: it declares and re-exports the
others, and a module naming one of its items (`crate::helper`) is no circle between modules.
Comments, string and char literals are ignored.

Exit status: 0 when no directory has a circle, 1 when one has (each circle is printed as a path
`a -> b -> a`), 2 for a bad argument.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_rust(text: str) -> str:
    """The text without comments, string literals and char literals (replaced by spaces)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            out.append(" ")
        elif (m := re.match(r'b?r(#*)"', text[i:])) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and (m := re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|[^\\'])'", text[i:])):
            i += m.end()  # a char literal; a lifetime ('a) has no closing quote and stays
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _group_heads(body: str) -> list[str]:
    """The first path segment of each item of a `{...}` use group (nested groups skipped)."""
    heads, depth, item = [], 0, ""
    for c in body + ",":
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        if depth == 0 and c == ",":
            m = re.match(rf"\s*({_IDENT})", item)
            if m:
                heads.append(m.group(1))
            item = ""
        elif depth >= 0:
            item += c
    return heads


def _matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text)


def modules(src: Path) -> dict[str, list[Path]]:
    """Module name -> its files."""
    found: dict[str, list[Path]] = {}
    for f in sorted(src.glob("*.rs")):
        if f.stem not in ("lib", "main"):
            found.setdefault(f.stem, []).append(f)
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        files = sorted(d.rglob("*.rs"))
        if files:
            found.setdefault(d.name, []).extend(files)
    return found


def dependencies(src: Path) -> dict[str, set[str]]:
    """Module name -> the modules of the same crate it names through `crate::`."""
    mods = modules(src)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, files in mods.items():
        for f in files:
            code = strip_rust(f.read_text(encoding="utf-8"))
            targets: set[str] = set()
            for m in re.finditer(r"\bcrate\s*::\s*(\{|" + _IDENT + ")", code):
                if m.group(1) == "{":
                    close = _matching_brace(code, m.end() - 1)
                    targets.update(_group_heads(code[m.end() : close]))
                else:
                    targets.add(m.group(1))
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Each strongly connected component of more than one module, with one circle through it
    as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [(comp, _circle(graph, comp)) for comp in components]


def _circle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """A shortest closed path through the component's first module."""
    start, members = comp[0], set(comp)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return comp + [start]


def main(argv: list[str]) -> int:
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 0 if argv else 2
    status = 0
    for arg in argv:
        src = Path(arg)
        if not src.is_dir():
            print(f"error: {arg} is not a directory", file=sys.stderr)
            return 2
        found = cycles(dependencies(src))
        for members, circle in found:
            print(f"{arg}: circle among {', '.join(members)}: {' -> '.join(circle)}")
        if found:
            status = 1
        else:
            print(f"{arg}: no circle among {len(modules(src))} modules")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Report import cycles among the file modules of one Rust crate.

Usage: crate_cycles.py SRC_DIR

Each SRC_DIR/*.rs file is a module (lib.rs is the crate root, named `lib`). An arrow a -> b is
drawn for every `crate::b` path in a.rs (`use crate::b::..`, `crate::b::x(..)`, the names in
`use crate::{b, c::d}`), every `super::b` that names a sibling file module, and, in lib.rs, every
`use b::..` of one of its modules. `super::x` inside an inline module of a.rs (`mod tests`) is a.rs
itself and draws nothing. A path to an item the root re-exports (`crate::wspsan_WSPStartup`,
from `pub use startup::wspsan_WSPStartup` in lib.rs) is an arrow to the module it comes from; to
any other item of the root, an arrow to `lib`. Comments, string and char literals are skipped. Exit status: 0 without a cycle, 1 with
one (each cycle is printed), 2 for a usage error.
"""

import re
import sys
from pathlib import Path

ROOT = "lib"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text):
    """The source with comments, strings and char literals blanked (newlines kept)."""
    out = []
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
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not re.match(r"\w", text[i - 1])):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            # a char literal ('a', '\n', '\u{..}') or a lifetime ('a): only the former is skipped
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def brace_names(body):
    """The first path segment of each item of a `{a, b::c, d as e, self}` group."""
    return [m.group(0) for item in split_group(body) if (m := re.match(IDENT, item))]


def use_leaves(tree):
    """(first segment, leaf name) of every path of a use tree: `a::{b, c::d as e}` gives
    (a, b) and (a, e); a glob leaf is `*`."""
    tree = tree.strip()
    m = re.match(r"(" + IDENT + r")\s*::\s*", tree)
    if not m:
        if tree.startswith("{"):
            return [leaf for item in split_group(tree[1:-1]) for leaf in use_leaves(item)]
        alias = re.search(r"\bas\s+(" + IDENT + r")\s*$", tree)
        leaf = alias.group(1) if alias else tree.split()[0] if tree else ""
        return [(leaf, leaf)] if leaf else []
    first, rest = m.group(1), tree[m.end():]
    out = []
    for _, leaf in use_leaves(rest):
        out.append((first, leaf))
    return out


def split_group(body):
    """The items of a `{..}` group's inside, split at its top-level commas."""
    items, depth, start = [], 0, 0
    for k, ch in enumerate(body + ","):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            if body[start:k].strip():
                items.append(body[start:k].strip())
            start = k + 1
    return items


def root_exports(text, modules):
    """Item name -> the module lib.rs re-exports it from (`pub use a::{X, Y}`)."""
    exports = {}
    for m in re.finditer(r"\bpub(?:\s*\([^)]*\))?\s+use\s+([^;]*);", text):
        for first, leaf in use_leaves(m.group(1)):
            if first in modules and leaf != "*":
                exports[leaf] = first
    return exports


def block_end(text, start):
    """The offset just past the `}` that closes the block opened right before `start`."""
    depth, k = 1, start
    while k < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        k += 1
    return k


def references(name, text, modules, exports):
    """The modules file module `name` (source `text`, stripped) refers to."""
    refs = set()

    def add(target):
        refs.add(target if target in modules else exports.get(target, ROOT))

    # Where the inline `mod x { .. }` blocks are, to tell `super::` of the file from theirs.
    inline = []  # (start, end) offsets
    for m in re.finditer(r"\bmod\s+" + IDENT + r"\s*\{", text):
        k = block_end(text, m.end())
        inline.append((m.start(), k))

    def in_inline(pos):
        return sum(1 for a, b in inline if a < pos < b)

    for m in re.finditer(r"\bcrate\s*::\s*(\{|" + IDENT + r")", text):
        if m.group(1) == "{":
            k = block_end(text, m.end())
            for target in brace_names(text[m.end():k - 1]):
                add(target)
        else:
            add(m.group(1))
    for m in re.finditer(r"\bsuper\s*::\s*((?:super\s*::\s*)*)(\{|\*|" + IDENT + r")", text):
        ups = 1 + m.group(1).count("super")
        level = in_inline(m.start()) + (0 if name == ROOT else 1)
        if ups < level:
            continue  # an inline module's parent is inside this file
        if ups > level:
            continue  # above the crate root: not valid Rust
        # the crate root: `super::b` names module b (or an item of the root)
        if m.group(2) == "{":
            k = block_end(text, m.end())
            for target in brace_names(text[m.end():k - 1]):
                add(target)
        elif m.group(2) == "*":
            add(ROOT)
        else:
            add(m.group(2))
    if name == ROOT:
        for m in re.finditer(r"\buse\s+(\{|" + IDENT + r")", text):
            if m.group(1) == "{":
                k = block_end(text, m.end())
                targets = brace_names(text[m.end():k - 1])
            else:
                targets = [m.group(1)]
            refs.update(t for t in targets if t in modules)
    refs.discard(name)
    refs.discard("self")
    return refs


def cycles(graph):
    """Every strongly connected component with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def one_cycle(graph, component):
    """A shortest closed path through the first module of `component`, for the report."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return component


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src = Path(argv[1])
    files = sorted(src.glob("*.rs"))
    if not files:
        print(f"crate_cycles.py: no .rs files in {src}", file=sys.stderr)
        return 2
    # A directory module (src/fabric/mod.rs and its children) is one node; only its `crate::`
    # paths count (its `super::` paths stay inside it).
    dirs = {d.name: sorted(d.rglob("*.rs")) for d in sorted(src.iterdir()) if d.is_dir() and any(d.rglob("*.rs"))}
    modules = {f.stem for f in files} | set(dirs)
    texts = {f.stem: strip(f.read_text(encoding="utf-8")) for f in files}
    exports = root_exports(texts.get(ROOT, ""), modules)
    graph = {name: references(name, text, modules, exports) for name, text in texts.items()}
    for d, children in dirs.items():
        inside = "\n".join(re.sub(r"\bsuper\s*::", "self::", strip(c.read_text(encoding="utf-8"))) for c in children)
        graph[d] = graph.get(d, set()) | references(d, inside, modules, exports) - {d}
    found = cycles(graph)
    for component in found:
        print(f"cycle among {len(component)} modules of {src}: {' -> '.join(one_cycle(graph, component))}")
        for v in component:
            print(f"    {v} -> {', '.join(sorted(graph[v] & set(component)))}")
    if not found:
        print(f"{src}: {len(modules)} modules, no import cycle")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Every rule id the code and the tests cite has its anchor in docs/behaviour.md.

The header, the stubs, the README and the tests cite rules as `SPEC A7`, `SPEC A5 to A10, A14`,
`SPEC F1-F7` or `SPEC section 8`; a reader follows them to docs/behaviour.md#A7 and
docs/behaviour.md#section-8. This fails, naming file and line, for any cited id or section that
has no anchor there, for any rule of the contract that the reference lost, for an anchor
defined twice, and for an in-page link (#id) that points nowhere.

Usage: check_ids.py [REPO_ROOT]   (default: two levels above this file)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# The whole contract: every family and how many rules it has. A rule the reference drops, or
# a family that grows without the reference, fails here even when no test cites it yet.
CONTRACT = {"X": 5, "D": 4, "S": 1, "B": 2, "L": 10, "C": 7, "A": 15, "E": 6, "K": 3, "T": 2, "F": 11, "FX": 4}
SECTIONS = range(0, 12)

ID = r"[A-Z]{1,2}\d{1,2}"
SEP = r"\s*(?:,|/|-|–|\bto\b|\band\b)\s*"
CITE = re.compile(rf"\bSPEC\s+(?:items?\s+)?({ID}(?:{SEP}{ID})*)\b")
SECTION_CITE = re.compile(r"\bSPEC(?:\.md)?\s+sections?\s+(\d+(?:\s*(?:,|-|\bto\b|\band\b)\s*\d+)*)")
ANCHOR = re.compile(r"""<a\s+id="([^"]+)"\s*>""")
LINK = re.compile(r"""\]\(#([^)\s]+)\)""")


def expand_ids(text: str) -> list[str]:
    """`A5 to A10, A14` -> A5..A10, A14; `F1-F7` -> F1..F7."""
    tokens = re.findall(rf"{ID}|\bto\b|-|–", text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("to", "-", "–"):
            i += 1
            continue
        if i + 2 < len(tokens) and tokens[i + 1] in ("to", "-", "–"):
            lo, hi = re.fullmatch(r"([A-Z]+)(\d+)", tok), re.fullmatch(r"([A-Z]+)(\d+)", tokens[i + 2])
            if lo and hi and lo.group(1) == hi.group(1) and int(lo.group(2)) <= int(hi.group(2)):
                out.extend(f"{lo.group(1)}{n}" for n in range(int(lo.group(2)), int(hi.group(2)) + 1))
                i += 3
                continue
        out.append(tok)
        i += 1
    return out


def expand_sections(text: str) -> list[str]:
    nums = [int(n) for n in re.findall(r"\d+", text)]
    if re.search(r"-|\bto\b", text) and len(nums) == 2:
        nums = list(range(nums[0], nums[1] + 1))
    return [f"section-{n}" for n in nums]


def citations(path: Path) -> list[tuple[int, str]]:
    """(line, anchor) for every rule and section `path` cites."""
    found: list[tuple[int, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return found
    # A citation may wrap onto the next line of a comment: join lines but keep numbering.
    for m in CITE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.extend((line, i) for i in expand_ids(m.group(1)))
    for m in SECTION_CITE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.extend((line, s) for s in expand_sections(m.group(1)))
    return found


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
    reference = root / "docs" / "behaviour.md"
    text = reference.read_text(encoding="utf-8")
    anchors = ANCHOR.findall(text)
    defined = set(anchors)
    problems: list[str] = []

    for a in sorted(defined):
        if anchors.count(a) > 1:
            problems.append(f"docs/behaviour.md: anchor {a!r} is defined {anchors.count(a)} times")
    for family, count in CONTRACT.items():
        for n in range(1, count + 1):
            if f"{family}{n}" not in defined:
                problems.append(f"docs/behaviour.md: rule {family}{n} of the contract has no anchor")
    for n in SECTIONS:
        if f"section-{n}" not in defined:
            problems.append(f"docs/behaviour.md: section {n} has no anchor section-{n}")
    for m in LINK.finditer(text):
        if m.group(1) not in defined:
            line = text.count("\n", 0, m.start()) + 1
            problems.append(f"docs/behaviour.md:{line}: link #{m.group(1)} points to no anchor")

    sources = [root / "include" / "wspsan.h", root / "README.md"]
    sources += sorted((root / "python" / "wspsan").glob("*.pyi"))
    sources += sorted(p for p in (root / "tests").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    cited = 0
    files_citing = 0
    for src in sources:
        if not src.exists():
            continue
        cites = citations(src)
        files_citing += bool(cites)
        for line, anchor in cites:
            cited += 1
            if anchor not in defined:
                problems.append(f"{src.relative_to(root)}:{line}: cites SPEC {anchor}, which has no anchor in docs/behaviour.md")

    # A parser that silently finds nothing would pass everything: the tree cites hundreds.
    if cited < 100:
        problems.append(f"only {cited} citations found in {files_citing} files: the citation parser is broken")

    for p in problems:
        print(p)
    if problems:
        print(f"check_ids: {len(problems)} problem(s)")
        return 1
    print(f"check_ids: {cited} citations in {files_citing} files, {len(defined)} anchors in docs/behaviour.md: all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())

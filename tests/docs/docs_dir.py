"""The one argument the documentation checks take: the built documentation's directory."""

from __future__ import annotations

import sys
from pathlib import Path


def docs_dir(usage: str) -> Path | int:
    """DOCS_DIR from the command line, or the exit status after saying what is wrong (2: no
    single argument, `usage` printed; 1: no index.html there, the docs were not built)."""
    if len(sys.argv) != 2:
        print(usage, file=sys.stderr)
        return 2
    root = Path(sys.argv[1]).resolve()
    if not (root / "index.html").is_file():
        print(f"error: {root}/index.html missing: run make docs")
        return 1
    return root

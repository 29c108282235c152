#!/usr/bin/env python3
"""Open the built documentation in headless Chromium (make docs-test).

    browser_check.py DOCS_DIR

Loads index.html and every page it links (the behaviour reference, the C header, the Python
and Rust API, the fabric protocol, the README) with `chromium --headless --dump-dom`, each in
a fresh profile. A page passes when the browser exits 0 within the deadline, the rendered DOM
has the page's title and its text, and the browser logged no console message at all (our pages
log nothing; rustdoc's and pdoc's scripts log only on failure): an uncaught exception, a
console.error or a failed script shows up there. The browser is $CHROMIUM, else the first of
chromium, chromium-browser, google-chrome on PATH; with none, one line says the check was
skipped (the link check in check_links.py still ran) and the exit status is 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docs_dir import docs_dir

DEADLINE_S = 60
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)$")


def find_browser() -> str | None:
    named = os.environ.get("CHROMIUM", "").strip()
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def linked_pages(root: Path) -> list[Path]:
    """index.html and the pages of ours its cards link to, in order."""
    index = (root / "index.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'<div class="card"><h2><a href="([^"]+)"', index)
    return [root / "index.html"] + [root / h for h in hrefs]


def check_page(browser: str, page: Path) -> list[str]:
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wspsan-docs-chromium-") as profile:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-extensions", "--mute-audio", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={profile}", "--dump-dom", page.as_uri(),
        ]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE_S, errors="replace")
        except subprocess.TimeoutExpired:
            return [f"no answer within {DEADLINE_S} s"]
    if run.returncode != 0:
        problems.append(f"browser exit status {run.returncode}: {run.stderr.strip()[-500:]}")
    for line in run.stderr.splitlines():
        m = CONSOLE.search(line)
        if m:
            problems.append(f"console: {m.group(1)}")
    dom = run.stdout
    title = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8", errors="replace"), re.S)
    if title and f"<title>{title.group(1)}</title>" not in dom:
        problems.append(f"the rendered DOM lacks the title {title.group(1)!r}")
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S))
    if len(text.split()) < 20:
        problems.append(f"the rendered page has almost no text ({len(text.split())} words)")
    return problems


def main() -> int:
    root = docs_dir(__doc__.splitlines()[0])
    if isinstance(root, int):
        return root
    browser = find_browser()
    if browser is None and os.environ.get("CHROMIUM", "").strip():
        print(f"browser check: CHROMIUM={os.environ['CHROMIUM']} is not a program")
        return 1
    if browser is None:
        print("browser check: SKIPPED: no chromium found (Debian: apt-get install chromium); the link check ran")
        return 0
    pages = linked_pages(root)
    if len(pages) < 6:
        print(f"browser check: index.html links only {len(pages) - 1} pages")
        return 1
    failed = 0
    start = time.monotonic()
    for page in pages:
        if not page.is_file():
            print(f"{page.relative_to(root)}: missing")
            failed += 1
            continue
        problems = check_page(browser, page)
        failed += bool(problems)
        for p in problems:
            print(f"{page.relative_to(root)}: {p}")
    took = time.monotonic() - start
    if failed:
        print(f"browser check: {failed} of {len(pages)} pages failed ({browser})")
        return 1
    print(f"browser check: {len(pages)} pages rendered with no console message in {took:.1f} s ({browser})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

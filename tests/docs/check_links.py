#!/usr/bin/env python3
"""Every relative link and #anchor in the built documentation resolves (make docs-test).

    check_links.py DOCS_DIR

Reads every .html file under DOCS_DIR and checks each href and src that is not an absolute URL
(scheme:, //host) against the files there: the file must exist, and a #fragment must name an
id (or a name) in the target page. rustdoc's source pages link line ranges (#12-34), which its
script turns into a highlight: the first line's id must exist. Prints every broken link with
the page it is on, and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

from docs_dir import docs_dir
from urllib.parse import unquote, urlsplit


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[int, str]] = []
        self.redirect: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta" and ("http-equiv", "refresh") in attrs:
            content = dict(attrs).get("content") or ""
            m = re.search(r"url=(.+)$", content, re.I)
            if m:
                self.redirect = m.group(1).strip()
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src") and not (tag == "link" and ("rel", "preconnect") in attrs):
                self.links.append((self.getpos()[0], value))


def parse(path: Path, cache: dict[Path, Page]) -> Page:
    if path not in cache:
        p = Page()
        p.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = p
    return cache[path]


def main() -> int:
    root = docs_dir(__doc__.splitlines()[0])
    if isinstance(root, int):
        return root
    cache: dict[Path, Page] = {}
    broken: list[str] = []
    pages = sorted(root.rglob("*.html"))
    checked = 0
    for page_path in pages:
        for line, url in parse(page_path, cache).links:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("javascript:", "data:")):
                continue
            checked += 1
            where = f"{page_path.relative_to(root)}:{line}: {url}"
            target = page_path if not parts.path else (page_path.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if root not in target.parents and target != root:
                broken.append(f"{where}: leaves the documentation directory")
                continue
            if not target.is_file():
                broken.append(f"{where}: no file {target.relative_to(root)}")
                continue
            # A browser tries the fragment as written, then percent-decoded (rustdoc's ids keep
            # the %3C of generic impls).
            frag = parts.fragment
            if not frag or target.suffix != ".html":
                continue
            # rustdoc leaves a redirect page where an item is re-exported: the browser carries
            # the fragment on to the page it redirects to.
            for _ in range(5):
                redirect = parse(target, cache).redirect
                if redirect is None:
                    break
                target = (target.parent / unquote(urlsplit(redirect).path)).resolve()
                if not target.is_file():
                    break
            if not target.is_file():
                broken.append(f"{where}: redirects to a missing page")
                continue
            ids = parse(target, cache).ids
            m = re.fullmatch(r"(\d+)-\d+", frag)
            if frag not in ids and unquote(frag) not in ids and not (m and m.group(1) in ids):
                broken.append(f"{where}: no anchor #{frag} in {target.relative_to(root)}")
    for b in broken:
        print(b)
    if broken:
        print(f"check_links: {len(broken)} broken link(s) of {checked} in {len(pages)} pages")
        return 1
    if checked == 0:
        print("check_links: no links found: the documentation is empty")
        return 1
    print(f"check_links: {checked} relative links in {len(pages)} pages: all resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())

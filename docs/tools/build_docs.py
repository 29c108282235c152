#!/usr/bin/env python3
"""Build the HTML documentation into one directory (make docs).

    build_docs.py --out build/docs [--rustdoc target/doc] [--no-python]

- the markdown pages (docs/behaviour.md, docs/fabric-protocol.md, README.md) with python-markdown;
  their links to each other become links between the HTML pages, links to other files of the
  repository point at copies under files/;
- include/wspsan.h rendered from its doc comments (c/wspsan.h.html): every constant, type and
  function under an anchor of its own name, names cross-linked, SPEC citations linked to the
  behaviour reference;
- the Python module (python/, pdoc; the module must be importable: make develop);
- the Rust crates, copied from --rustdoc (cargo doc --no-deps -p wspsan-core -p wspsan-capi);
- index.html linking all of them.

Every page is static and self-contained (no network, no script of ours).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Markdown sources -> output pages (relative to --out).
PAGES = {
    "docs/behaviour.md": "behaviour.html",
    "docs/fabric-protocol.md": "fabric-protocol.html",
    "README.md": "README.html",
}
HEADER_SRC = "include/wspsan.h"
HEADER_PAGE = "c/wspsan.h.html"
REFERENCE_PAGE = "behaviour.html"
RUST_CRATES = ("wspsan_core", "wspsan")  # the C ABI crate's library is named wspsan

CSS = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0; }
main { max-width: 62rem; margin: 0 auto; padding: 1rem 2rem 4rem; }
nav.top { background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: .5rem 2rem; }
nav.top a { margin-right: 1.2rem; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
code, pre { font: 14px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { background: #eff1f3; padding: .1em .3em; border-radius: 4px; }
pre { background: #f6f8fa; padding: .8rem 1rem; overflow-x: auto; border-radius: 6px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: .35rem .7rem; vertical-align: top; }
th { background: #f6f8fa; }
h1, h2, h3, h4 { line-height: 1.25; margin-top: 1.8rem; }
h2 { border-bottom: 1px solid #d8dee4; padding-bottom: .3rem; }
.decl { border-top: 1px solid #d8dee4; padding-top: .4rem; margin-top: 1.6rem; }
.decl h3 { margin: .2rem 0 .4rem; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 1.05rem; }
.kind { color: #656d76; font-size: .85rem; font-weight: normal; margin-left: .6rem; }
ul.toc { columns: 3 14rem; padding-left: 1.2rem; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem 1rem; margin: .8rem 0; }
.card h2 { border: none; margin: .2rem 0; font-size: 1.15rem; }
"""


def page(title: str, body: str, out_path: str) -> str:
    """A complete page; `out_path` (relative to the output root) sets the relative links."""
    up = os.path.relpath(".", os.path.dirname(out_path) or ".")
    up = "" if up == "." else up + "/"
    nav = " ".join(
        f'<a href="{up}{href}">{label}</a>'
        for href, label in (
            ("index.html", "wspsan docs"),
            ("behaviour.html", "Behaviour"),
            (HEADER_PAGE, "C header"),
            ("python/wspsan.html", "Python"),
            ("rust/wspsan_core/index.html", "Rust core"),
            ("rust/wspsan/index.html", "Rust C ABI"),
            ("fabric-protocol.html", "Fabric protocol"),
            ("README.html", "README"),
        )
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<nav class=\"top\">{nav}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------
# SPEC citations -> links into the behaviour reference

ID = r"[A-Z]{1,2}\d{1,2}"
SPEC_CITE = re.compile(rf"\bSPEC(?:\.md)?((?:\s+items?)?\s+{ID}(?:\s*(?:,|/|-|–|\bto\b|\band\b)\s*{ID})*)")
SPEC_SECTION = re.compile(r"\bSPEC(?:\.md)?(\s+sections?\s+)(\d+)((?:\s*(?:,|\band\b)\s*\d+)*)")


def link_spec(text: str, reference: str) -> str:
    """Link every SPEC citation in escaped HTML text (no tags inside `text`)."""

    def ids(m: re.Match[str]) -> str:
        inner = re.sub(ID, lambda i: f'<a href="{reference}#{i.group(0)}">{i.group(0)}</a>', m.group(1))
        return "SPEC" + inner

    def sections(m: re.Match[str]) -> str:
        first = f'<a href="{reference}#section-{m.group(2)}">{m.group(2)}</a>'
        rest = re.sub(r"\d+", lambda n: f'<a href="{reference}#section-{n.group(0)}">{n.group(0)}</a>', m.group(3))
        return f"SPEC{m.group(1)}{first}{rest}"

    text = SPEC_SECTION.sub(sections, text)
    return SPEC_CITE.sub(ids, text)


def link_spec_in_html(doc: str, reference: str) -> str:
    """Link SPEC citations in the text of an HTML document, never inside tags, scripts or links."""
    out: list[str] = []
    skip = 0
    for part in re.split(r"(<[^>]*>)", doc):
        if part.startswith("<"):
            tag = part[1:].split(None, 1)[0].lower().rstrip(">") if len(part) > 2 else ""
            if tag in ("a", "script", "style"):
                skip += 1
            elif tag in ("/a", "/script", "/style"):
                skip = max(0, skip - 1)
            out.append(part)
        elif skip == 0 and "SPEC" in part:
            out.append(link_spec(part, reference))
        else:
            out.append(part)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# include/wspsan.h -> HTML


@dataclass
class Decl:
    kind: str  # constant, type, function, alias
    name: str
    code: str
    doc: list[str] = field(default_factory=list)
    members: list[tuple[str, str]] = field(default_factory=list)  # (declaration, doc)


def decl_name(kind: str, code: str) -> str:
    flat = " ".join(code.split())
    if kind in ("constant", "alias"):
        return flat.split()[1]
    if kind == "function":
        return re.search(r"(\w+)\s*\(", flat).group(1)  # type: ignore[union-attr]
    m = re.search(r"\(\s*\*\s*(\w+)\s*\)", flat)  # function pointer typedef
    if m and "{" not in flat:
        return m.group(1)
    return re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*;\s*$", flat).group(1)  # type: ignore[union-attr]


def parse_header(text: str) -> tuple[list[str], list[Decl]]:
    lines = text.splitlines()
    overview: list[str] = []
    decls: list[Decl] = []
    pending: list[str] = []
    group: list[str] = []  # a block comment that documents the definitions after it
    guarded = ""  # the name an #ifndef guards
    in_unprefixed = False
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("/*"):
            block = [s]
            while not block[-1].endswith("*/"):
                i += 1
                block.append(lines[i].strip())
            i += 1
            body = [re.sub(r"^/?\*+/?\s?", "", b).removesuffix("*/").strip() for b in block]
            body = [b for b in body if b]
            if not overview and not decls:
                overview = body
            elif len(block) == 1 and i < len(lines) and lines[i].startswith("#define"):
                pending = body
            else:
                group = body
            continue
        if s.startswith("//"):
            pending.append(s[2:].strip())
            i += 1
            continue
        if not s:
            i += 1
            continue
        if s.startswith("#ifndef") and not s.endswith("_H"):
            guarded = s.split()[1]
            i += 1
            continue
        if s.startswith("#ifdef WSPSAN_UNPREFIXED"):
            in_unprefixed = True
            i += 1
            continue
        if s.startswith("#define") and not s.endswith("_H"):
            kind = "alias" if in_unprefixed else "constant"
            d = Decl(kind, "", s, pending or [])
            d.name = decl_name(kind, s)
            if not d.doc and guarded == d.name:
                d.doc = group + ["Defined here only where the platform's headers have no such name."]
            elif not d.doc:
                d.doc = list(group)
            decls.append(d)
            pending = []
            i += 1
            continue
        if s.startswith("#") or s in ("extern \"C\" {", "}  // extern \"C\"") or s.startswith("}  //"):
            if s.startswith("#endif"):
                guarded = ""
            pending = [] if s.startswith("#include") else pending
            i += 1
            continue
        # A typedef or a prototype: up to the ';' that closes it at brace depth 0.
        start = i
        depth = 0
        while True:
            depth += lines[i].count("{") - lines[i].count("}")
            if depth == 0 and lines[i].rstrip().endswith(";"):
                break
            i += 1
        chunk = lines[start : i + 1]
        i += 1
        kind = "type" if chunk[0].lstrip().startswith("typedef") else "function"
        is_struct = "{" in chunk[0]
        d = Decl(kind, "", "", pending)
        pending = []
        code: list[str] = []
        member_doc: list[str] = []
        for c in chunk:
            cs = c.strip()
            if cs.startswith("//"):
                member_doc.append(cs[2:].strip())
                continue
            code.append(c)
            if is_struct and cs.endswith(";") and c.startswith("    "):
                d.members.append((cs, " ".join(member_doc)))
                member_doc = []
        d.code = "\n".join(code)
        d.name = decl_name(kind, d.code)
        decls.append(d)
    return overview, decls


def render_doc_text(lines: list[str], reference: str) -> str:
    """Comment lines -> paragraphs and lists, `code` marked, SPEC citations linked."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def inline(t: str) -> str:
        t = html.escape(t, quote=False)
        t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
        return link_spec(t, reference)

    def flush_para() -> None:
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()

    def flush_items() -> None:
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(x)}</li>" for x in items) + "</ul>")
            items.clear()

    for raw in lines:
        t = raw.strip()
        if not t:
            flush_para()
            flush_items()
        elif t.startswith("- "):
            flush_para()
            items.append(t[2:])
        elif items and not para:
            items[-1] += " " + t
        else:
            para.append(t)
    flush_para()
    flush_items()
    return "\n".join(out)


def render_header(src: Path, out_path: str) -> str:
    overview, decls = parse_header(src.read_text(encoding="utf-8"))
    reference = os.path.relpath(REFERENCE_PAGE, os.path.dirname(out_path))
    names = {d.name for d in decls}
    ident = re.compile(r"\b[A-Za-z_]\w*\b")

    def code_html(code: str, own: str) -> str:
        esc = html.escape(code, quote=False)
        return ident.sub(lambda m: f'<a href="#{m.group(0)}">{m.group(0)}</a>' if m.group(0) in names and m.group(0) != own else m.group(0), esc)

    sections = [
        ("functions", "Functions", "function"),
        ("types", "Types", "type"),
        ("constants", "Constants", "constant"),
        ("aliases", "Windows names (WSPSAN_UNPREFIXED)", "alias"),
    ]
    body = [f"<h1>The C header <code>{html.escape(HEADER_SRC)}</code></h1>", render_doc_text(overview, reference)]
    body.append(
        "<p>Rendered from the header's own comments (the header is generated by cbindgen from "
        "<code>capi/src</code>). The rules each call keeps are in the "
        f'<a href="{reference}">behaviour reference</a>; the porting headers '
        "<code>include/wspsan/winsock2.h</code> and <code>ws2spi.h</code> are described "
        f'<a href="{reference}#porting-header">there</a> too.</p>'
    )
    body.append("<p>" + " · ".join(f'<a href="#{sid}">{title}</a>' for sid, title, _ in sections) + "</p>")
    for sid, title, kind in sections:
        group = sorted((d for d in decls if d.kind == kind), key=lambda d: d.name.lower())
        if not group:
            continue
        body.append(f'<h2 id="{sid}">{html.escape(title)}</h2>')
        body.append('<ul class="toc">' + "".join(f'<li><a href="#{d.name}"><code>{d.name}</code></a></li>' for d in group) + "</ul>")
        for d in group:
            body.append(f'<section class="decl" id="{d.name}">')
            body.append(f'<h3>{html.escape(d.name)}<span class="kind">{kind}</span></h3>')
            body.append(f"<pre><code>{code_html(d.code, d.name)}</code></pre>")
            body.append(render_doc_text(d.doc, reference))
            if d.members:
                rows = "".join(
                    f"<tr><td><code>{code_html(m, d.name)}</code></td><td>{render_doc_text([doc], reference)}</td></tr>"
                    for m, doc in d.members
                )
                body.append(f"<table><tr><th>Member</th><th>What</th></tr>{rows}</table>")
            body.append("</section>")
    return page("wspsan.h: the C ABI", "\n".join(body), out_path)


# ---------------------------------------------------------------------------------------------
# Markdown pages


def github_slug(value: str, separator: str = "-") -> str:
    """Heading ids as GitHub makes them, so the repository's #links work in both places."""
    value = re.sub(r"<[^>]+>", "", value).strip().lower()
    value = re.sub(r"[^\w\- ]", "", value)
    return value.replace(" ", separator)


def rewrite_links(doc: str, src: str, out_path: str, out_root: Path) -> str:
    """Links of a rendered markdown page: other pages -> their HTML, other repository files ->
    copies under files/, everything else untouched (the link check reports what is broken)."""
    src_dir = os.path.dirname(src)

    def target(url: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*:", url) or url.startswith(("#", "/")):
            return url
        path, _, frag = url.partition("#")
        repo_path = os.path.normpath(os.path.join(src_dir, path))
        if repo_path in PAGES:
            new = PAGES[repo_path]
        elif repo_path == HEADER_SRC:
            new = HEADER_PAGE
        elif (ROOT / repo_path).is_file() and not repo_path.startswith(".."):
            new = f"files/{repo_path}"
            dest = out_root / new
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / repo_path, dest)
        else:
            return url
        rel = os.path.relpath(new, os.path.dirname(out_path) or ".")
        return rel + (f"#{frag}" if frag else "")

    return re.sub(r'(href|src)="([^"]*)"', lambda m: f'{m.group(1)}="{html.escape(target(html.unescape(m.group(2))))}"', doc)


def render_markdown(src: str, out_path: str, out_root: Path) -> str:
    import markdown  # type: ignore[import-untyped]

    text = (ROOT / src).read_text(encoding="utf-8")
    md = markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", "toc"],
        extension_configs={"toc": {"slugify": github_slug}},
    )
    body = md.convert(text)
    body = rewrite_links(body, src, out_path, out_root)
    title_match = re.search(r"^#\s+(.+)$", text, re.M)
    title = title_match.group(1) if title_match else src
    if src != "docs/behaviour.md":
        body = link_spec_in_html(body, os.path.relpath(REFERENCE_PAGE, os.path.dirname(out_path) or "."))
    return page(title, body, out_path)


# ---------------------------------------------------------------------------------------------
# Python (pdoc) and Rust (rustdoc)


def build_python(out_root: Path) -> None:
    dest = out_root / "python"
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(
        [sys.executable, str(Path(__file__).with_name("run_pdoc.py")), str(dest), "wspsan", "wspsan.wsp"],
        check=True,
        cwd=ROOT,
    )
    for f in dest.rglob("*.html"):
        rel_ref = os.path.relpath(out_root / REFERENCE_PAGE, f.parent)
        doc = unlink_missing_anchors(f.read_text(encoding="utf-8"))
        f.write_text(link_spec_in_html(doc, rel_ref), encoding="utf-8")


def unlink_missing_anchors(doc: str) -> str:
    """pdoc links every name a docstring marks as code to the member of that name, even one it
    does not render (`WSAError.errno`, inherited from OSError): keep the text, drop the link."""
    ids = set(re.findall(r'\bid="([^"]+)"', doc))
    return re.sub(
        r'<a href="#([^"]+)">(.*?)</a>',
        lambda m: m.group(0) if html.unescape(m.group(1)) in ids or m.group(1) in ids else m.group(2),
        doc,
    )


def copy_rust(rustdoc: Path, out_root: Path) -> None:
    for crate in RUST_CRATES:
        if not (rustdoc / crate / "index.html").is_file():
            raise SystemExit(f"error: {rustdoc}/{crate}/index.html missing: run cargo doc --no-deps -p wspsan-core -p wspsan-capi")
    dest = out_root / "rust"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(rustdoc, dest, ignore=shutil.ignore_patterns(".lock", "*.lock"))
    fill_rust_implementors(dest)
    crates = "".join(f'<li><a href="{c}/index.html"><code>{c}</code></a></li>' for c in RUST_CRATES)
    (dest / "index.html").write_text(
        page("Rust crates", f"<h1>Rust crates</h1><ul>{crates}</ul>", "rust/index.html"), encoding="utf-8"
    )


IMPLEMENTORS_NONE = """(function() {
    const implementors = Object.fromEntries([]);
    if (window.register_implementors) {
        window.register_implementors(implementors);
    } else {
        window.pending_implementors = implementors;
    }
})()
"""


def fill_rust_implementors(dest: Path) -> None:
    """A trait page loads trait.impl/<path>.js for its implementors in other crates; rustdoc
    writes that file only when some documented crate has one, so a trait implemented nowhere
    else (or only in the undocumented Python crate) points at a missing script. Write the
    empty list rustdoc would have written."""
    script = re.compile(r'<script src="([^"]*trait\.impl/[^"]+\.js)"')
    for f in dest.rglob("trait.*.html"):
        for src in script.findall(f.read_text(encoding="utf-8", errors="replace")):
            target = (f.parent / src).resolve()
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(IMPLEMENTORS_NONE, encoding="utf-8")


# ---------------------------------------------------------------------------------------------


def index_page(with_python: bool) -> str:
    cards = [
        ("behaviour.html", "Behaviour reference", "Every rule wspsan keeps, under its id (L3, A7, ...), the decisions where the sources disagree, and what Windows, WinOF and Wine do instead."),
        (HEADER_PAGE, "C header: include/wspsan.h", "Every export, type and constant of the C ABI, with the Windows WSP signatures."),
        ("python/wspsan.html", "Python module: wspsan", "The Provider, sockets, conditional accept, events, faults; and wspsan.wsp, the C ABI call for call."),
        ("rust/wspsan_core/index.html", "Rust: wspsan-core", "The engine: providers, devices, fabrics, the listen queue and its rules."),
        ("rust/wspsan/index.html", "Rust: wspsan-capi", "The C ABI's Rust side: the panic boundary and the exports."),
        ("fabric-protocol.html", "Fabric protocol", "The TCP fabric's frames, their order, liveness, loss and bad input."),
        ("README.html", "README", "What wspsan is, the two commands, quick starts in C, Python and Rust, and the decisions table."),
    ]
    if not with_python:
        cards = [c for c in cards if not c[0].startswith("python/")]
    body = ["<h1>wspsan documentation</h1>",
            "<p>wspsan is the connection-setup half of a Winsock SAN service provider on an emulated SAN device. Built by <code>make docs</code>.</p>"]
    for href, title, what in cards:
        body.append(f'<div class="card"><h2><a href="{href}">{html.escape(title)}</a></h2><p>{html.escape(what)}</p></div>')
    return page("wspsan documentation", "\n".join(body), "index.html")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rustdoc", type=Path, default=None, help="cargo doc's output directory (target/doc)")
    ap.add_argument("--no-python", action="store_true", help="skip pdoc (the module is not built)")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if (out / "files").exists():
        shutil.rmtree(out / "files")

    for src, dest in PAGES.items():
        (out / dest).write_text(render_markdown(src, dest, out), encoding="utf-8")
    (out / HEADER_PAGE).parent.mkdir(parents=True, exist_ok=True)
    (out / HEADER_PAGE).write_text(render_header(ROOT / HEADER_SRC, HEADER_PAGE), encoding="utf-8")
    if not args.no_python:
        build_python(out)
    if args.rustdoc is not None:
        copy_rust(args.rustdoc, out)
    (out / "index.html").write_text(index_page(not args.no_python), encoding="utf-8")
    print(f"docs: {out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

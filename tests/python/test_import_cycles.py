"""No import cycle among the modules of the Python face (python/src), checked with the generic
tool tests/tools/crate_cycles.py (which takes any crate's src directory; capi/tests/layers.rs runs
it on capi/src)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tests" / "tools" / "crate_cycles.py"


def run(src: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), str(src)], capture_output=True, text=True, timeout=60, check=False)


def test_python_src_has_no_module_circle() -> None:
    out = run(REPO / "python" / "src")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no import cycle" in out.stdout


def write_crate(src: Path, files: dict[str, str]) -> Path:
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    return src


def test_the_tool_finds_a_circle_through_use_groups_and_paths(tmp_path: Path) -> None:
    src = write_crate(
        tmp_path / "src",
        {
            "lib.rs": "mod a;\nmod b;\nmod c;\nmod d;\npub use a::f;\n",
            "a.rs": "use crate::{b::{self, g}, d};\npub fn f() {}\n",
            "d.rs": "pub fn k() {}\n",
            "b.rs": "pub fn g() { crate::c::h() }\n",
            "c.rs": "// use crate::a; (a comment)\nconst S: &str = \"crate::a::f\";\npub fn h() { crate::a::f() }\n",
        },
    )
    out = run(src)
    assert out.returncode == 1
    assert "cycle among 3 modules" in out.stdout and "a -> b -> c -> a" in out.stdout


def test_comments_and_strings_make_no_circle(tmp_path: Path) -> None:
    src = write_crate(
        tmp_path / "src",
        {
            "lib.rs": "mod a;\nmod b;\npub fn helper() {}\n",
            "a.rs": "use crate::b;\npub fn f() { crate::helper() }\n",
            "b.rs": "/* crate::a::f */\nconst S: &str = r#\"crate::a\"#;\nconst C: char = '\"';\npub fn g() { crate::helper() }\n",
        },
    )
    out = run(src)
    assert out.returncode == 0, out.stdout
    assert "no import cycle" in out.stdout


def test_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    assert run(tmp_path / "nowhere").returncode == 2

#!/usr/bin/env python3
"""pdoc (pinned in mk/docs.mk) for the wspsan module: `run_pdoc.py OUT_DIR MODULE...`.

pdoc executes a native module's .pyi stub to read its types. The stubs are written for type
checkers, which never execute them, so a class may name itself in its own annotations
(`def from_environment(...) -> Provider`); executed eagerly that is a NameError and pdoc drops
every type of the module. Executing the stubs with postponed evaluation of annotations (PEP 563,
what `from __future__ import annotations` does) is how a type checker reads them anyway.
"""

from __future__ import annotations

import __future__
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from pathlib import Path

import pdoc
import pdoc.doc_pyi
import pdoc.render


def _import_stub_postponed(module_name: str, stub_file: Path) -> types.ModuleType:
    source = stub_file.read_text(encoding="utf-8")
    code = compile(source, str(stub_file), "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
    spec = importlib.util.spec_from_loader(module_name, loader=None, origin=str(stub_file))
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(stub_file)
    exec(code, module.__dict__)
    return module


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    out, modules = Path(sys.argv[1]), sys.argv[2:]
    pdoc.doc_pyi._import_stub_file = _import_stub_postponed
    # pyo3 classes that define __eq__ have __hash__ = None, which pdoc cannot pair with the
    # stub's inherited method; and wspsan.wsp is a submodule made by the extension, so it has no
    # import spec (its stub python/wspsan/wsp.pyi is still read). Neither loses documentation.
    warnings.filterwarnings("ignore", message=r"Error processing type stub for .*\.__hash__")
    warnings.filterwarnings("ignore", message=r"Cannot find spec for wspsan\.wsp")
    pdoc.render.configure(docformat="restructuredtext", show_source=False, footer_text="wspsan")
    pdoc.pdoc(*modules, output_directory=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from faces import CFace, Face, PythonFace
from wspsan import wsp


@pytest.fixture(params=["python", "wsp"])
def face(request: pytest.FixtureRequest) -> Iterator[Face]:
    """Each face in turn: a new `wspsan.Provider`, then the C ABI between a WSPStartup and the
    WSPCleanup that ends the session (and closes what the test left open)."""
    if request.param == "python":
        yield PythonFace()
        return
    rc, info = wsp.WSPStartup()
    assert rc == 0 and info is not None
    try:
        yield CFace()
    finally:
        assert wsp.WSPCleanup() == (0, 0)

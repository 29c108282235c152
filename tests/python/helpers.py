"""Small builders shared by the tests: a listener, a pending non-blocking connect, threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import wspsan

HOST = "127.0.0.1"

#: How long a test waits for something that must happen before it calls it a bug.
DEADLINE = 10.0


def listener(p: wspsan.Provider, backlog: int = 8, address: tuple[str, int] = (HOST, 0)) -> wspsan.Socket:
    """A socket bound to `address` and listening with `backlog`."""
    s = p.socket()
    s.bind(address)
    s.listen(backlog)
    return s


def pending(
    p: wspsan.Provider,
    target: tuple[str, int],
    caller_data: bytes | None = None,
    qos: wspsan.Qos | None = None,
) -> wspsan.Socket:
    """A non-blocking connector whose request now waits in `target`'s queue."""
    c = p.socket()
    c.setblocking(False)
    with pytest.raises(wspsan.WouldBlockError):
        c.connect(target, caller_data, qos)
    return c


def connected_pair(
    p: wspsan.Provider, server: wspsan.Socket, target: tuple[str, int] | None = None
) -> tuple[wspsan.Socket, wspsan.Socket]:
    """(connector, accepted) connected through `server` (reached at `target`)."""
    c = pending(p, target or server.getsockname())
    a, _ = server.accept()
    return c, a


def connect_result(c: wspsan.Socket) -> int | None:
    """The FD_CONNECT error code recorded on `c`, or None if no answer arrived yet.

    FD_CONNECT is selected first (on a new event object, replacing any earlier selection): only
    selected events are reported (SPEC E4), and one recorded while unselected is kept until a
    selection includes it (E5)."""
    ev = wspsan.Event()
    c.event_select(ev, wspsan.FD_CONNECT)
    return c.enum_network_events(ev).error(wspsan.FD_CONNECT)


class Background:
    """Run `fn` in a thread and keep its result or exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as e:  # noqa: BLE001  (kept for the test to inspect)
            self.error = e

    def join(self, timeout: float = 10.0) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "background call did not finish"
        if self.error is not None:
            raise self.error
        return self.result

    def done(self) -> bool:
        return not self.thread.is_alive()


def until(cond: Callable[[], bool], what: str) -> None:
    """Poll `cond` until it holds; fail after DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"not within {DEADLINE} s: {what}")
        time.sleep(0.002)


def answered(c: wspsan.Socket) -> int:
    """Wait for the FD_CONNECT of `c` and return its error code."""
    result: list[int] = []

    def done() -> bool:
        r = connect_result(c)
        if r is not None:
            result.append(r)
        return bool(result)

    until(done, "FD_CONNECT")
    return result[0]

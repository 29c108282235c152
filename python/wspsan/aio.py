"""asyncio for wspsan: awaitable accept, connect and event waits.

    >>> conn, peer = await wspsan.aio.accept(listener, condition)
    >>> callee_data = await wspsan.aio.connect(sock, ("127.0.0.1", 5000), caller_data=b"hi")
    >>> await wspsan.aio.wait(event)

Every wait goes through the running loop's ``add_reader`` on an eventfd (a ``wspsan.Event``):
no thread is started. Any number of tasks may wait at once, also on the same listener or the
same event.

``accept`` and ``connect`` select network events on the socket while a call is pending
(``FD_ACCEPT`` / ``FD_CONNECT`` on an event of their own, which makes the socket non-blocking,
SPEC E1); when the last pending call on a socket ends, the selection is cancelled and the
socket's blocking mode is put back as it was. Do not select events on the same socket yourself
meanwhile. A listener or connector closed while a task waits on it wakes the task within
``POLL`` seconds with ``CallInterruptedError`` (``WSAEINTR``), as a blocked call would (SPEC A2).

Cancellation:

- an ``accept`` waiting for a request is withdrawn without taking anything off the queue: a
  request that arrived meanwhile stays queued for the next accept (nothing is lost);
- a pending ``connect`` is withdrawn by closing the socket, the one way SPEC C7 gives to end an
  attempt: the listener's accept that reaches the request fails with ``AccessDeniedError``
  (``WSAEACCES``, SPEC A12). Had the listener accepted it in the meantime, the new connection is
  closed at once and the accepted socket sees ``FD_CLOSE`` (SPEC K3), so both sides agree (T2).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Final

from . import _wspsan
from ._wspsan import (
    FD_ACCEPT,
    FD_CONNECT,
    FD_MAX_EVENTS,
    ConditionRequest,
    Event,
    NotASocketError,
    Qos,
    Socket,
    WouldBlockError,
    WSAError,
)

__all__ = ["POLL", "accept", "connect", "wait"]

#: How often (seconds) a waiting accept or connect looks whether its socket was closed under it.
POLL: Final = 0.25

# The futures waiting for one fd on one loop: a selector holds one reader callback per fd, so
# every waiter of the fd shares one add_reader, removed once it fired or nobody waits.
_Key = tuple[int, int]
_readers: dict[_Key, tuple[asyncio.AbstractEventLoop, set[asyncio.Future[None]]]] = {}


def _wake(key: _Key) -> None:
    entry = _readers.pop(key, None)
    if entry is None:
        return
    loop, waiters = entry
    loop.remove_reader(key[1])
    for fut in waiters:
        if not fut.done():
            fut.set_result(None)


async def _readable(fd: int, timeout: float | None = None) -> None:
    """Until `fd` is readable (or `timeout` seconds passed, whichever first)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), fd)
    entry = _readers.get(key)
    if entry is None:
        entry = _readers[key] = (loop, set())
        loop.add_reader(fd, _wake, key)
    waiters = entry[1]
    fut: asyncio.Future[None] = loop.create_future()
    waiters.add(fut)
    timer = None if timeout is None else loop.call_later(timeout, _resolve, fut)
    try:
        await fut
    finally:
        if timer is not None:
            timer.cancel()
        waiters.discard(fut)
        if not waiters and _readers.get(key) is entry:
            del _readers[key]
            loop.remove_reader(fd)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def wait(event: Event) -> None:
    """Until `event` is set (it is not reset: ``event.reset()`` or ``enum_network_events``
    does that), like ``threading.Event.wait``. Cancelling the wait leaves the event as it is."""
    while not event.is_set():
        await _readable(event.fileno())


class _Watch:
    """The network events of one socket while async calls on it are pending."""

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self.was_blocking = sock.getblocking()
        self.event = Event()
        self.mask = 0
        self.users = 0
        self.recorded: dict[int, int] = {}

    def select(self, flag: int) -> None:
        if not self.mask & flag:
            self.mask |= flag
            self.sock.event_select(self.event, self.mask)

    def harvest(self) -> None:
        """Move the socket's recorded events (reported once, SPEC E4) into `recorded`."""
        events = self.sock.enum_network_events(self.event)
        codes = events.error_codes
        for bit in range(FD_MAX_EVENTS):
            if events.events >> bit & 1:
                self.recorded[1 << bit] = codes[bit]

    async def next(self) -> None:
        """Until the socket's event is signalled (or POLL passed), then harvest. Raises
        CallInterruptedError when the socket was closed meanwhile."""
        await _readable(self.event.fileno(), POLL)
        try:
            self.harvest()
        except NotASocketError:
            raise _wspsan._error(_wspsan.WSAEINTR) from None

    def release(self) -> None:
        with contextlib.suppress(WSAError):  # closed meanwhile: nothing to undo
            self.sock.event_select(None, 0)
            self.sock.setblocking(self.was_blocking)
        self.event.close()


_watches: dict[int, _Watch] = {}


@contextlib.contextmanager
def _watching(sock: Socket, flag: int) -> Iterator[_Watch]:
    # Keyed by id(): the watch holds the socket, so the id is not reused while it is here.
    w = _watches.get(id(sock))
    if w is None:
        w = _watches[id(sock)] = _Watch(sock)
    w.users += 1
    try:
        w.select(flag)
        yield w
    finally:
        w.users -= 1
        if w.users == 0:
            del _watches[id(sock)]
            w.release()


async def accept(
    sock: Socket,
    condition: Callable[[ConditionRequest], object] | None = None,
    callback_data: Any = None,
) -> tuple[Socket, tuple[str, int]]:
    """``sock.accept(condition, callback_data)`` (SPEC A1 to A15) that waits for a request
    without blocking the loop: it waits for ``FD_ACCEPT`` (SPEC E1, E2) and tries again. The
    accepted socket is blocking with no event selection. The condition function runs on the
    loop's thread; its answer and errors are those of ``Socket.accept`` (``CF_DEFER`` raises
    ``RequestDeferredError``, the request stays first). Cancelling a waiting accept takes
    nothing off the queue."""
    with _watching(sock, FD_ACCEPT) as w:
        while True:
            try:
                conn, peer = sock.accept(condition, callback_data)
            except WouldBlockError:
                await w.next()
                continue
            # A7 copied the listener's selection and mode onto the new socket: undo that.
            conn.event_select(None, 0)
            conn.setblocking(True)
            return conn, peer


async def connect(
    sock: Socket,
    address: tuple[str, int],
    caller_data: bytes | None = None,
    qos: Qos | None = None,
) -> bytes:
    """``sock.connect(address, caller_data, qos)`` (SPEC C1 to C7) that waits for the
    listener's answer without blocking the loop (it arrives as ``FD_CONNECT``, SPEC C2, E5) and
    returns the callee data. A refusal raises ``ConnectRefusedError`` and so on, as
    ``Socket.connect``. Cancelling withdraws the request by closing the socket (SPEC C7)."""
    with _watching(sock, FD_CONNECT) as w:
        w.harvest()  # an earlier attempt's unreported FD_CONNECT is not this one's answer
        w.recorded.pop(FD_CONNECT, None)
        try:
            return sock.connect(address, caller_data, qos)
        except WouldBlockError:
            pass
        try:
            while FD_CONNECT not in w.recorded:
                await w.next()
        except asyncio.CancelledError:
            with contextlib.suppress(WSAError):  # a device that is down ends the attempt anyway
                sock.close()
            raise
        code = w.recorded.pop(FD_CONNECT)
        if code:
            raise _wspsan._error(code)
        return sock.callee_data()

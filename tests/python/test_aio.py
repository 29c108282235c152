"""wspsan.aio: accept, connect and event waits under asyncio (plain asyncio.run, several tasks
at once, no thread per wait)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

import wspsan
import wspsan.aio
from helpers import DEADLINE, HOST, listener, pending

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), DEADLINE)

    return asyncio.run(bounded())


def test_concurrent_accepts_and_connects_on_one_thread() -> None:
    # SPEC A7, C1, C5, E2: four acceptors on one listener, twelve connectors, one thread
    p = wspsan.Provider()
    s = listener(p, 16)
    target = s.getsockname()
    threads = threading.active_count()

    def greet(r: wspsan.ConditionRequest) -> int:
        r.callee_data = b"hello " + (r.caller_data or b"")
        return wspsan.CF_ACCEPT

    async def acceptor(out: list[wspsan.Socket]) -> None:
        for _ in range(3):
            conn, _ = await wspsan.aio.accept(s, greet)
            out.append(conn)

    async def connector(n: int) -> bytes:
        c = p.socket()
        data = await wspsan.aio.connect(c, target, caller_data=b"%d" % n)
        assert c.getpeername() == target and c.getblocking()
        return data

    async def main() -> tuple[list[bytes], list[wspsan.Socket]]:
        accepted: list[wspsan.Socket] = []
        acceptors = [asyncio.create_task(acceptor(accepted)) for _ in range(4)]
        replies = await asyncio.gather(*(connector(n) for n in range(12)))
        await asyncio.gather(*acceptors)
        assert threading.active_count() == threads  # no thread per wait
        return replies, accepted

    replies, accepted = run(main)
    assert sorted(replies) == sorted(b"hello %d" % n for n in range(12))
    assert len(accepted) == 12 and all(a.getblocking() for a in accepted)
    assert s.stats().accepted == 12 and s.stats().queue_len == 0
    assert s.getblocking()  # the listener is left as it was: blocking, nothing selected


def test_a_refused_connect_raises_and_a_deferred_request_stays() -> None:
    # SPEC A8, A9, C1
    p = wspsan.Provider()
    s = listener(p)

    async def main() -> None:
        c1, c2 = p.socket(), p.socket()
        first = asyncio.create_task(wspsan.aio.connect(c1, s.getsockname()))
        second = asyncio.create_task(wspsan.aio.connect(c2, s.getsockname()))
        with pytest.raises(wspsan.RequestDeferredError):
            await wspsan.aio.accept(s, lambda r: wspsan.CF_DEFER)
        with pytest.raises(wspsan.ConnectRefusedError) as info:
            await wspsan.aio.accept(s, lambda r: wspsan.CF_REJECT)
        assert info.value.address == c1.getsockname()
        with pytest.raises(wspsan.ConnectRefusedError):
            await first
        conn, peer = await wspsan.aio.accept(s)
        assert await second == b"" and peer == c2.getsockname()
        conn.close()

    run(main)


def test_cancelling_a_connect_withdraws_it() -> None:
    # SPEC C7, A12: the connector's attempt ends (its socket is closed), the listener's accept
    # that reaches the request fails with WSAEACCES and removes it
    p = wspsan.Provider()
    s = listener(p)

    async def main() -> None:
        c = p.socket()
        task = asyncio.create_task(wspsan.aio.connect(c, s.getsockname()))
        while s.stats().queue_len == 0:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(wspsan.NotASocketError):
            c.getsockname()
        with pytest.raises(wspsan.AccessDeniedError):
            await wspsan.aio.accept(s)
        assert s.stats().withdrawn == 1 and s.stats().queue_len == 0

    run(main)


def test_cancelling_an_accept_loses_no_queued_request() -> None:
    # SPEC A2, E2: the waiting accepts are cancelled after FD_ACCEPT was recorded and reported
    # (the loop woke them) but before they took the request; the next accept still gets it
    p = wspsan.Provider()
    s = listener(p)
    keep: list[wspsan.Socket] = []

    async def main() -> None:
        waiting = [asyncio.create_task(wspsan.aio.accept(s)) for _ in range(3)]
        await asyncio.sleep(0.01)
        keep.append(pending(p, s.getsockname()))  # the event is signalled now
        for t in waiting:
            t.cancel()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert s.stats().queue_len == 1
        conn, peer = await wspsan.aio.accept(s)
        assert peer == keep[0].getsockname()
        conn.close()

    run(main)


def test_closing_the_listener_wakes_a_waiting_accept() -> None:
    # SPEC A2: a blocked accept wakes with WSAEINTR when its listener is closed
    p = wspsan.Provider()
    s = listener(p)

    async def main() -> None:
        task = asyncio.create_task(wspsan.aio.accept(s))
        await asyncio.sleep(0.01)
        s.close()
        with pytest.raises(wspsan.CallInterruptedError):
            await task

    run(main)


def test_a_connect_answered_by_a_courier_thread() -> None:
    # SPEC C2, F1: on a fabric with faults the answer comes from another thread, late
    fabric = wspsan.Fabric(faults=True, seed=3)
    assert fabric.faults is not None
    fabric.faults.delay("answer", 0.05)
    server = wspsan.Provider([HOST], fabric=fabric)
    client = wspsan.Provider(["127.0.0.2"], fabric=fabric)
    s = listener(server)

    async def main() -> None:
        c = client.socket()
        connecting = asyncio.create_task(wspsan.aio.connect(c, s.getsockname(), b"late"))
        conn, _ = await wspsan.aio.accept(s, lambda r: wspsan.CF_ACCEPT)
        assert await connecting == b""
        assert c.getpeername() == s.getsockname() and conn.getpeername() == c.getsockname()

    run(main)


def test_event_waits_share_the_fd_and_cancel_alone() -> None:
    # SPEC section 8: an Event is an eventfd the loop's reader watches
    ev = wspsan.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        waiters = [asyncio.create_task(wspsan.aio.wait(ev)) for _ in range(5)]
        await asyncio.sleep(0.01)
        waiters[0].cancel()
        loop.call_later(0.02, ev.set)
        done = await asyncio.gather(*waiters[1:])
        assert done == [None] * 4 and waiters[0].cancelled()
        assert ev.is_set()  # a wait does not reset the event
        await wspsan.aio.wait(ev)  # set: returns at once
        ev.reset()
        late = asyncio.create_task(wspsan.aio.wait(ev))
        await asyncio.sleep(0.01)
        assert not late.done()
        threading.Timer(0.01, ev.set).start()  # set from another thread
        await late

    run(main)

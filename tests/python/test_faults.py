"""Faults, panics and misbehaving condition functions: the device's fault switches
hitting calls already blocked or requests already queued (SPEC D2), a condition function that
blocks (T1) or calls back into the provider (A14), and the C ABI's test-only panic injection (X4).

The single-switch basics are in test_device.py, test_accept.py and test_listen.py; these check
that after each fault nothing is lost, every request ends in one outcome and the statistics
balance."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import wspsan
from helpers import HOST, Background, connect_result, listener, pending
from wspsan import wsp

DEADLINE = 10.0  # seconds any wait may take before it counts as a hang
# Connect timeouts from short to long: one shorter than the machine's scheduling delay can fire
# before the accept reaches the request; the tests then retry with the next.
GROWING_TIMEOUTS = (0.03, 0.15, 0.6, 2.0)


def wait_until(cond: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def wait_event(ev: wspsan.Event) -> bool:
    """Whether `ev` becomes set within the deadline (select: no provider call, A14)."""
    readable, _, _ = select.select([ev.fileno()], [], [], DEADLINE)
    return bool(readable)


def assert_balanced(p: wspsan.Provider) -> None:
    """SPEC D3: every queued request ended in one outcome or is still queued."""
    s = p.stats()
    assert s.queued == s.accepted + s.rejected + s.reset + s.withdrawn + s.refused_by_close + s.queue_len, s
    assert s.pending == s.queue_len, s


def assert_new_pair_works(p: wspsan.Provider) -> None:
    with listener(p, 2) as server:
        c = pending(p, server.getsockname())
        a, peer = server.accept()
        assert peer == c.getsockname() and c.getpeername() == server.getsockname()
        a.close()
        c.close()


def test_network_down_under_a_blocked_accept_and_a_blocked_connect_loses_nothing() -> None:
    # SPEC D2, A2, C2, A12, C6, D3
    p = wspsan.Provider()
    idle = listener(p, 5)
    busy = listener(p, 5)
    early = pending(p, busy.getsockname())
    blocking = p.socket()
    connect = Background(lambda: blocking.connect(busy.getsockname()))
    assert wait_until(lambda: busy.stats().queue_len == 2)
    accept = Background(lambda: idle.accept())
    time.sleep(0.05)  # let the accept reach its wait (if not, it fails the same way)
    p.device.network_down = True
    with pytest.raises(wspsan.NetworkDownError):
        accept.join()
    with pytest.raises(wspsan.NetworkDownError):
        connect.join()
    assert busy.stats().queue_len == 2  # statistics readable, the queue kept
    p.device.network_down = False

    assert idle.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN) == 1
    assert busy.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN) == 1
    assert connect_result(early) is None  # still waiting
    a, peer = busy.accept()
    assert peer == early.getsockname() and early.getpeername() == busy.getsockname()
    # the woken blocking connect withdrew its request (A12)
    with pytest.raises(wspsan.AccessDeniedError) as info:
        busy.accept()
    assert info.value.address == blocking.getsockname()
    # C6: it connects again, answered by an accept on this thread
    again = Background(lambda: blocking.connect(busy.getsockname()))
    assert wait_until(lambda: busy.stats().queue_len == 1)
    b, peer = busy.accept()
    assert peer == blocking.getsockname() and again.join() == b""
    c = pending(p, idle.getsockname())
    d, peer = idle.accept()
    assert peer == c.getsockname()
    assert_new_pair_works(p)
    s = busy.stats()
    assert (s.queued, s.accepted, s.withdrawn, s.queue_len) == (3, 2, 1, 0)
    assert_balanced(p)
    del a, b, d


def test_buffer_exhaustion_keeps_queued_and_waiting_requests() -> None:
    # SPEC D2, A11
    p = wspsan.Provider()
    s = listener(p, 5)
    early = pending(p, s.getsockname())
    waiting = p.socket()
    connect = Background(lambda: waiting.connect(s.getsockname()))
    assert wait_until(lambda: s.stats().queue_len == 2)
    late = p.socket()
    late.setblocking(False)
    unlistened = p.socket()
    unlistened.bind((HOST, 0))
    open_sockets = p.stats().open_sockets
    p.device.buffer_exhaustion = True
    with pytest.raises(wspsan.NoBufferSpaceError):
        p.socket()
    assert late.connect_ex(s.getsockname()) == wspsan.WSAENOBUFS
    with pytest.raises(wspsan.NoBufferSpaceError):
        unlistened.listen(5)  # a listen queue is an allocation too
    assert unlistened.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN) == 0
    with pytest.raises(wspsan.NoBufferSpaceError) as info:
        s.accept()
    assert info.value.address is None  # nothing examined
    assert s.stats().queue_len == 2 and p.stats().open_sockets == open_sockets
    time.sleep(0.05)
    assert not connect.done() and connect_result(early) is None
    p.device.buffer_exhaustion = False

    a, peer = s.accept()
    assert peer == early.getsockname()
    b, peer = s.accept()
    assert peer == waiting.getsockname() and connect.join() == b""
    assert late.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK
    c, peer = s.accept()
    assert peer == late.getsockname()
    unlistened.listen(5)
    assert_balanced(p)
    del a, b, c


def test_descriptor_exhaustion_wakes_a_blocked_accept_and_recovers_when_one_is_freed() -> None:
    # SPEC D2, S1, A11, L9
    p = wspsan.Provider()
    s = listener(p, 2)
    target = s.getsockname()
    spare = p.socket()
    c1, c2, c3 = p.socket(), p.socket(), p.socket()
    for c in (c1, c2, c3):
        c.setblocking(False)
    accept = Background(lambda: s.accept())
    time.sleep(0.05)
    p.device.descriptor_limit = p.stats().open_sockets
    with pytest.raises(wspsan.TooManySocketsError):
        p.socket()
    # the request queues (no accept failed yet) and wakes the accept, which has no descriptor
    assert c1.connect_ex(target) == wspsan.WSAEWOULDBLOCK
    with pytest.raises(wspsan.TooManySocketsError):
        accept.join()
    assert s.stats().queue_len == 1
    # exhausted (L9): refused though the backlog has room; a listen with none free keeps it so
    assert c2.connect_ex(target) == wspsan.WSAECONNREFUSED
    s.listen(2)
    assert c2.connect_ex(target) == wspsan.WSAECONNREFUSED
    # a close frees a descriptor (the limit unchanged): that alone does not clear the state...
    spare.close()
    assert c2.connect_ex(target) == wspsan.WSAECONNREFUSED
    # ...the next accept does, with the same request
    a1, peer = s.accept()
    assert peer == c1.getsockname() and connect_result(c1) == 0
    assert c2.connect_ex(target) == wspsan.WSAEWOULDBLOCK
    # none free again: exhausted by the next accept, cleared by a listen once one is free
    with pytest.raises(wspsan.TooManySocketsError):
        s.accept()
    assert c3.connect_ex(target) == wspsan.WSAECONNREFUSED
    p.device.descriptor_limit = None
    s.listen(2)
    assert c3.connect_ex(target) == wspsan.WSAEWOULDBLOCK
    assert [s.accept()[1] for _ in range(2)] == [c2.getsockname(), c3.getsockname()]
    st = s.stats()
    assert (st.queued, st.accepted, st.refused_full) == (3, 3, 4)
    assert_balanced(p)
    del a1


@pytest.mark.parametrize("answer", [wspsan.CF_ACCEPT, wspsan.CF_REJECT, wspsan.CF_DEFER])
def test_a_connect_that_times_out_while_the_condition_runs_fails_the_accept(answer: int) -> None:
    # SPEC D2, C2, E5, A12 (README: WSAEACCES whatever the condition answered)
    p = wspsan.Provider()
    s = listener(p, 5)
    c = p.socket()
    ev = wspsan.Event()
    c.event_select(ev, wspsan.FD_CONNECT)
    open_sockets = p.stats().open_sockets
    ran = saw_timeout = False

    def waits_for_the_timeout(r: wspsan.ConditionRequest) -> int:
        nonlocal ran, saw_timeout
        ran = True
        saw_timeout = wait_event(ev)
        return answer

    for timeout in GROWING_TIMEOUTS:
        p.device.connect_timeout = timeout
        c.enum_network_events(ev)  # reset
        assert c.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK
        with pytest.raises(wspsan.AccessDeniedError) as info:
            s.accept(waits_for_the_timeout)
        assert info.value.address == c.getsockname()
        if ran:
            break
    p.device.connect_timeout = None
    assert ran and saw_timeout
    assert connect_result(c) == wspsan.WSAETIMEDOUT
    st = s.stats()
    assert (st.queue_len, st.accepted, st.rejected, st.deferred) == (0, 0, 0, 0)
    assert p.stats().open_sockets == open_sockets  # no accepted socket left behind
    assert c.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK  # C6
    a, peer = s.accept()
    assert peer == c.getsockname()
    assert_balanced(p)
    del a


def test_a_condition_that_blocks_holds_up_only_its_own_accept() -> None:
    # SPEC T1, A5: no provider lock is held while a condition runs: another listener's pair
    # completes, other sockets' calls succeed, and a second accept on the same listener from
    # another thread takes the next request (queue_len still counts the one being examined)
    p = wspsan.Provider()
    s = listener(p, 5)
    slow = pending(p, s.getsockname(), b"slow")
    nxt = pending(p, s.getsockname(), b"next")
    entered, release = threading.Event(), threading.Event()

    def gate(r: wspsan.ConditionRequest) -> int:
        entered.set()
        return wspsan.CF_ACCEPT if release.wait(DEADLINE) else wspsan.CF_REJECT

    held = Background(lambda: s.accept(gate))
    assert entered.wait(DEADLINE)
    assert_new_pair_works(p)
    o = p.socket()
    o.bind((HOST, 0))
    o.setsockopt(wspsan.SOL_SOCKET, wspsan.SO_SNDBUF, 8192)
    assert o.getsockname()[0] == HOST
    o.close()
    assert (s.stats().queue_len, s.stats().accepted) == (2, 0)
    third = pending(p, s.getsockname())
    second = Background(lambda: s.accept())
    a2, peer = second.join(DEADLINE)
    assert peer == nxt.getsockname() and connect_result(nxt) == 0
    assert not held.done() and connect_result(slow) is None

    release.set()
    a1, peer = held.join(DEADLINE)
    assert peer == slow.getsockname() and connect_result(slow) == 0
    a3, peer = s.accept()
    assert peer == third.getsockname()
    assert_balanced(p)
    del a1, a2, a3


def test_every_call_from_inside_the_condition_fails_in_progress() -> None:
    # SPEC A14 (test_accept.py checks five calls; this is the rest of the Socket API)
    p = wspsan.Provider()
    s = listener(p, 3)
    c = pending(p, s.getsockname())
    other = p.socket()
    ev = wspsan.Event()
    open_sockets = p.stats().open_sockets
    calls: list[Callable[[], object]] = [
        p.socket,
        lambda: other.bind((HOST, 0)),
        lambda: other.connect(s.getsockname()),
        lambda: other.connect_ex(s.getsockname()),
        lambda: s.listen(1),
        lambda: s.accept(),
        lambda: s.close(),
        lambda: c.getpeername(),
        lambda: s.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN),
        lambda: s.setsockopt(wspsan.SOL_SOCKET, wspsan.SO_SNDBUF, 1),
        lambda: s.setblocking(False),
        lambda: s.getblocking(),
        lambda: s.event_select(ev, wspsan.FD_ACCEPT),
        lambda: s.enum_network_events(),
        lambda: c.callee_data(),
    ]
    outcomes: list[object] = []

    def calls_back(r: wspsan.ConditionRequest) -> int:
        for call in calls:
            try:
                outcomes.append(call())
            except wspsan.WSAError as e:
                outcomes.append(e.winerror)
        return wspsan.CF_ACCEPT

    a, _ = s.accept(calls_back)
    assert outcomes == [wspsan.WSAEINPROGRESS] * len(calls)
    # nothing happened: one socket more (the accepted one), the listener listening with its
    # backlog, blocking, with no selection; the connector connected; the other socket unbound
    assert p.stats().open_sockets == open_sockets + 1
    assert s.stats().backlog == 3 and s.getblocking()
    assert c.getpeername() == s.getsockname()
    with pytest.raises(wspsan.InvalidArgumentError):
        other.getsockname()
    other.setblocking(False)
    assert other.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK
    assert not ev.is_set()  # had the event_select taken effect, the arrival would signal it
    b, peer = s.accept()
    assert peer == other.getsockname()
    assert_balanced(p)
    del a, b


# The C ABI (wspsan.wsp, the process-wide provider).

INVALID = wspsan.INVALID_SOCKET
ERR = wspsan.SOCKET_ERROR


@pytest.fixture
def started() -> Iterator[None]:
    """One WSPStartup for the test, undone after it; no panic left armed."""
    rc, _ = wsp.WSPStartup()
    assert rc == 0
    try:
        yield
    finally:
        wsp.test_inject_panic(0)
        assert wsp.WSPCleanup() == (0, 0)


def wsp_listener() -> tuple[int, tuple[str, int]]:
    s, err = wsp.WSPSocket()
    assert s != INVALID and err == 0
    assert wsp.WSPBind(s, (HOST, 0)) == (0, 0)
    assert wsp.WSPListen(s, 5) == (0, 0)
    rc, _, name = wsp.WSPGetSockName(s)
    assert rc == 0 and name is not None
    return s, name


def wsp_pending(target: tuple[str, int]) -> int:
    c, _ = wsp.WSPSocket()
    assert wsp.WSPIoctl(c, wspsan.FIONBIO, (1).to_bytes(4, "little"))[:2] == (0, 0)
    assert wsp.WSPConnect(c, target)[:2] == (ERR, wspsan.WSAEWOULDBLOCK)
    return c


def test_an_injected_panic_is_wsaenetdown_and_changes_nothing(started: None) -> None:
    # SPEC X4: caught at the export, reported as WSAENETDOWN with the message kept, before the
    # engine is reached
    listener_s, target = wsp_listener()
    c = wsp_pending(target)
    assert wsp.test_inject_panic(1) == 0
    assert wsp.WSPSocket()[:2] == (INVALID, wspsan.WSAENETDOWN)
    message = wsp.last_error_message()
    assert "wspsan_WSPSocket" in message and "injected panic in wspsan_WSPSocket" in message
    assert wsp.test_inject_panic(1) == 0  # the one before was used up
    seen: list[wspsan.ConditionRequest] = []

    def rejects(r: wspsan.ConditionRequest) -> int:
        seen.append(r)
        return wspsan.CF_REJECT

    assert wsp.WSPAccept(listener_s, rejects)[:3] == (INVALID, wspsan.WSAENETDOWN, None)
    assert seen == []  # the condition never ran: nothing was taken off the queue
    stats = wsp.device_listener_stats(listener_s)[2]
    assert (stats.queue_len, stats.rejected) == (1, 0)
    a, err, peer, _ = wsp.WSPAccept(listener_s)
    assert a != INVALID and err == 0 and peer == wsp.WSPGetSockName(c)[2]
    for s in (a, c, listener_s):
        assert wsp.WSPCloseSocket(s) == (0, 0)


def test_an_injected_panic_hits_only_the_arming_thread(started: None) -> None:
    # SPEC X4, T1
    assert wsp.test_inject_panic(2) == 0
    other = Background(lambda: wsp.WSPSocket())
    s, err = other.join(DEADLINE)
    assert s != INVALID and err == 0
    assert wsp.test_inject_panic(2) == 2  # none used by the other thread
    assert wsp.WSPCloseSocket(s) == (ERR, wspsan.WSAENETDOWN)
    assert wsp.WSPCloseSocket(s) == (ERR, wspsan.WSAENETDOWN)
    assert wsp.WSPCloseSocket(s) == (0, 0)  # disarmed; the socket was still open
    assert wsp.test_inject_panic(0) == 0


def test_every_c_abi_call_from_inside_the_condition_fails_in_progress(started: None) -> None:
    # SPEC A14 (test_wsp.py checks WSPListen and WSPSocket)
    listener_s, target = wsp_listener()
    c = wsp_pending(target)
    other, _ = wsp.WSPSocket()
    results: list[int] = []

    def calls_back(r: wspsan.ConditionRequest) -> int:
        results.append(wsp.WSPBind(other, (HOST, 0))[1])
        results.append(wsp.WSPConnect(other, target)[1])
        results.append(wsp.WSPAccept(listener_s)[1])
        results.append(wsp.WSPCloseSocket(c)[1])
        results.append(wsp.WSPGetSockName(listener_s)[1])
        results.append(wsp.WSPGetPeerName(c)[1])
        results.append(wsp.WSPGetSockOpt(listener_s, wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN)[1])
        results.append(wsp.WSPSetSockOpt(listener_s, wspsan.SOL_SOCKET, wspsan.SO_SNDBUF, 1)[1])
        results.append(wsp.WSPIoctl(listener_s, wspsan.SIO_ADDRESS_LIST_QUERY, None, 64)[1])
        results.append(wsp.WSPEventSelect(listener_s, None, 0)[1])
        results.append(wsp.WSPEnumNetworkEvents(listener_s)[1])
        results.append(wsp.switch_handle(listener_s)[1])
        results.append(wsp.WSPCleanup()[1])
        return wspsan.CF_ACCEPT

    a, err, _, _ = wsp.WSPAccept(listener_s, calls_back)
    assert a != INVALID and err == 0
    assert results == [wspsan.WSAEINPROGRESS] * 13
    assert wsp.WSPGetPeerName(c)[2] == target  # the connector was not closed: it is connected
    assert wsp.WSPGetSockName(other)[:2] == (ERR, wspsan.WSAEINVAL)  # not bound
    for s in (a, c, other, listener_s):
        assert wsp.WSPCloseSocket(s) == (0, 0)

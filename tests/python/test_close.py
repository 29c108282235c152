"""WSPCloseSocket (SPEC K1 to K3) and the Python socket life cycle."""

from __future__ import annotations

import gc
import os
import select
import threading
import time

import pytest

import wspsan
from helpers import DEADLINE, HOST, Background, connect_result, listener, pending, until


def test_closed_descriptor_is_dead_for_good() -> None:
    # SPEC K1
    p = wspsan.Provider()
    s = listener(p)
    s.close()
    s.close()  # closing twice is harmless in Python, like socket.socket
    for call in (
        lambda: s.listen(1),
        lambda: s.getsockname(),
        lambda: s.setblocking(False),
        lambda: s.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_TYPE),
        lambda: s.enum_network_events(),
        lambda: s.event_select(None, 0),
    ):
        with pytest.raises(wspsan.NotASocketError):
            call()
    newer = p.socket()
    assert newer.descriptor != s.descriptor


def test_closing_a_listener_refuses_the_queue_and_frees_the_port() -> None:
    # SPEC K2
    p = wspsan.Provider()
    s = listener(p, 8, (HOST, 7100))
    queued = [pending(p, (HOST, 7100)) for _ in range(3)]
    blocking_sock = p.socket()
    blocked_connect = Background(lambda: blocking_sock.connect((HOST, 7100)))
    while s.stats().queue_len < 4:
        time.sleep(0.005)
    s.close()
    assert [connect_result(c) for c in queued] == [wspsan.WSAECONNREFUSED] * 3
    with pytest.raises(ConnectionRefusedError):
        blocked_connect.join()
    again = listener(p, 8, (HOST, 7100))  # the address is free at once
    assert p.stats().refused_by_close == 4
    del again


def test_closing_a_listener_wakes_blocked_accepts() -> None:
    # SPEC K2, A2
    p = wspsan.Provider()
    s = listener(p)
    waiters = [Background(lambda: s.accept()) for _ in range(3)]
    time.sleep(0.1)
    s.close()
    for w in waiters:
        with pytest.raises(wspsan.CallInterruptedError):
            w.join()


def test_closing_a_connector_withdraws_its_request() -> None:
    # SPEC K3, A12
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    c.close()
    with pytest.raises(wspsan.AccessDeniedError):
        s.accept()


def test_closing_one_end_records_fd_close_on_the_other() -> None:
    # SPEC K3
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    a, _ = s.accept()
    ev = wspsan.Event()
    a.event_select(ev, wspsan.FD_CLOSE)
    c.close()
    assert ev.is_set()
    events = a.enum_network_events(ev)
    assert events.events == wspsan.FD_CLOSE and events.error(wspsan.FD_CLOSE) == 0
    with pytest.raises(wspsan.NotConnectedError):
        a.getpeername()
    # and the other way round
    c2 = pending(p, s.getsockname())
    a2, _ = s.accept()
    a2.close()
    assert not c2.enum_network_events()  # FD_CLOSE is not selected: kept, not reported (E4)
    ev2 = wspsan.Event()
    c2.event_select(ev2, wspsan.FD_CLOSE)
    assert ev2.is_set()  # recorded before the selection: signalled at once (E1)
    assert c2.enum_network_events(ev2).error(wspsan.FD_CLOSE) == 0
    with pytest.raises(wspsan.NotConnectedError):
        c2.getpeername()


def test_with_block_and_garbage_collection_close() -> None:
    # SPEC K1 (the Python life cycle: close at the end of `with`, or when collected)
    p = wspsan.Provider()
    with p.socket() as s:
        s.bind((HOST, 7200))
        assert p.stats().open_sockets == 1
    assert p.stats().open_sockets == 0
    with pytest.raises(wspsan.NotASocketError):
        s.getsockname()
    t = p.socket()
    t.bind((HOST, 7200))
    del t
    gc.collect()
    assert p.stats().open_sockets == 0
    p.socket().bind((HOST, 7200))  # the port is free again


def test_failed_close_keeps_the_socket_and_concurrent_closes_agree() -> None:
    # SPEC K1, D2: a close that fails leaves the socket open, to be closed again later; closes
    # racing on one socket never report success for a socket that stayed open
    p = wspsan.Provider()
    s = listener(p)
    p.device.network_down = True
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def close() -> None:
        start.wait()
        try:
            s.close()
            outcomes.append("closed")
        except wspsan.NetworkDownError:
            outcomes.append("down")

    threads = [threading.Thread(target=close) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert outcomes == ["down"] * 8
    p.device.network_down = False
    assert p.stats().open_sockets == 1 and "[closed]" not in repr(s)
    s.close()
    s.close()  # closing twice is harmless
    assert p.stats().open_sockets == 0 and "[closed]" in repr(s)


def test_garbage_collection_closes_whatever_the_device_state() -> None:
    # SPEC K1, D2: a socket collected while the device is down is closed all the same
    p = wspsan.Provider()
    t = p.socket()
    t.bind((HOST, 7201))
    p.device.network_down = True
    del t
    gc.collect()
    p.device.network_down = False
    assert p.stats().open_sockets == 0
    p.socket().bind((HOST, 7201))  # the port is free again


def test_socket_collected_inside_a_condition_function_is_closed() -> None:
    # SPEC A14, K1: closing is refused inside a condition function, collecting is not
    p = wspsan.Provider()
    server = listener(p)
    c = pending(p, server.getsockname())
    held = [p.socket()]

    def collect(r: wspsan.ConditionRequest) -> int:
        held.clear()
        gc.collect()
        return wspsan.CF_ACCEPT

    a, _ = server.accept(collect)
    assert p.stats().open_sockets == 3  # server, c and a
    del a, c


def test_closing_the_provider_closes_every_socket_it_owns() -> None:
    # SPEC K1, K2, K3 for each socket of the provider
    other = wspsan.Provider()
    p = wspsan.Provider()
    s = listener(p)
    queued = pending(p, s.getsockname())
    blocked_listener = listener(p)
    blocked = Background(blocked_listener.accept)
    until(lambda: blocked_listener.stats().queue_len == 0 and not blocked.done(), "accept blocked")
    time.sleep(0.05)
    spare = p.socket()
    survivor = listener(other)
    assert p.stats().open_sockets == 4 and not p.closed
    p.close()
    assert p.closed and p.stats().open_sockets == 0
    with pytest.raises(wspsan.CallInterruptedError):  # K2: the blocked accept woke
        blocked.join()
    for sock in (s, queued, blocked_listener, spare):
        for call in (sock.getsockname, lambda sock=sock: sock.listen(1), sock.getblocking):
            with pytest.raises(wspsan.NotASocketError) as info:  # K1
                call()
            assert info.value.winerror == wspsan.WSAENOTSOCK
        sock.close()  # harmless, as a second close
    with pytest.raises(ValueError, match="closed"):
        p.socket()
    p.close()  # twice is harmless
    assert survivor.getsockname()[0] == HOST  # another provider is untouched
    del queued


def test_a_provider_is_a_context_manager() -> None:
    # SPEC K2: leaving the block closes the listener, so a connector of another provider on the
    # same fabric waiting in its queue is refused
    fabric = wspsan.Fabric()
    client = wspsan.Provider(["127.0.0.2"], fabric=fabric)
    with wspsan.Provider([HOST], fabric=fabric) as p:
        s = listener(p)
        c = pending(client, s.getsockname())
    assert p.closed
    assert connect_result(c) == wspsan.WSAECONNREFUSED
    with pytest.raises(wspsan.NotASocketError):
        s.getsockname()


def test_closing_the_provider_from_its_condition_function_is_refused() -> None:
    # SPEC A14
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    errors: list[BaseException] = []

    def close_inside(r: wspsan.ConditionRequest) -> int:
        try:
            p.close()
        except wspsan.WSAError as e:
            errors.append(e)
        return wspsan.CF_ACCEPT

    a, _ = s.accept(close_inside)
    assert [type(e) for e in errors] == [wspsan.OperationInProgressError]
    assert not p.closed and a.getpeername() == c.getsockname()


def test_an_event_closes_and_is_a_context_manager() -> None:
    # SPEC section 8: the event object lets go of its eventfd
    with wspsan.Event() as ev:
        fd = ev.fileno()
        ev.set()
        assert ev.is_set() and not ev.closed
    assert ev.closed and repr(ev) == "<wspsan.Event [closed]>"
    for call in (ev.fileno, ev.set, ev.reset, ev.is_set):
        with pytest.raises(ValueError, match="closed"):
            call()
    ev.close()  # twice is harmless
    with pytest.raises(OSError):
        os.fstat(fd)  # the eventfd is gone: no selection held it
    p = wspsan.Provider()
    with p.socket() as sock, pytest.raises(ValueError, match="closed"):
        sock.event_select(ev, wspsan.FD_CONNECT)


def test_a_selected_event_keeps_signalling_after_close() -> None:
    # SPEC E1: the provider's selection holds the eventfd, so closing the Event object does not
    # pull it from under the selection (its fd number is not reused meanwhile)
    p = wspsan.Provider()
    s = listener(p)
    ev = wspsan.Event()
    fd = ev.fileno()
    s.event_select(ev, wspsan.FD_ACCEPT)
    ev.close()
    c = pending(p, s.getsockname())
    readable, _, _ = select.select([fd], [], [], DEADLINE)
    assert readable == [fd]
    s.event_select(None, 0)  # the selection ends: the eventfd closes
    with pytest.raises(OSError):
        os.fstat(fd)
    del c

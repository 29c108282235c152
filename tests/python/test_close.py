"""WSPCloseSocket (SPEC K1 to K3) and the Python socket life cycle."""

from __future__ import annotations

import gc
import threading
import time

import pytest

import wspsan
from helpers import HOST, Background, connect_result, listener, pending


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

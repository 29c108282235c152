"""WSPListen (SPEC L1 to L10)."""

from __future__ import annotations

import socket
import threading

import pytest

import wspsan
from helpers import HOST, Background, connect_result, connected_pair, listener, pending


def test_closed_socket() -> None:
    # SPEC L1
    p = wspsan.Provider()
    s = p.socket()
    s.bind((HOST, 0))
    s.close()
    with pytest.raises(wspsan.NotASocketError):
        s.listen(5)


@pytest.mark.parametrize("backlog", [0, 1, 5, -1, wspsan.SOMAXCONN, -(2**31)])
def test_not_bound(backlog: int) -> None:
    # SPEC L2
    with pytest.raises(wspsan.InvalidArgumentError):
        wspsan.Provider().socket().listen(backlog)


def test_connected_accepted_or_connecting_socket() -> None:
    # SPEC L3 (decided: WSAEISCONN)
    p = wspsan.Provider()
    s = listener(p)
    c, a = connected_pair(p, s)
    connecting = pending(p, s.getsockname())
    for sock in (c, a, connecting):
        with pytest.raises(wspsan.AlreadyConnectedError):
            sock.listen(5)


def test_listen_never_returns_the_excluded_codes() -> None:
    # SPEC L4: never WSAEADDRINUSE, WSAEINPROGRESS or WSAEOPNOTSUPP
    p = wspsan.Provider(nics=(HOST, "10.0.0.1"))
    s = listener(p, 2, ("0.0.0.0", 8000))
    c, a = connected_pair(p, s, (HOST, 8000))
    connecting = pending(p, ("10.0.0.1", 8000))
    created = p.socket()
    bound = p.socket()
    bound.bind(("10.0.0.1", 8001))
    closed = p.socket()
    closed.close()
    excluded = {wspsan.WSAEADDRINUSE, wspsan.WSAEINPROGRESS, wspsan.WSAEOPNOTSUPP}
    for sock in (s, c, a, connecting, created, bound, closed):
        for backlog in (0, 1, 3, -1, -300, wspsan.SOMAXCONN, 2**31 - 2, -(2**31)):
            try:
                sock.listen(backlog)
            except wspsan.WSAError as e:
                assert e.winerror not in excluded


@pytest.mark.parametrize(
    ("max_backlog", "backlog", "effective"),
    [
        (4096, 1, 1),
        (4096, 5, 5),
        (4096, 0, 1),  # 0 -> 1
        (16, 100, 16),  # above max -> max
        (4096, wspsan.SOMAXCONN, 4096),  # the device maximum
        (100, wspsan.SOMAXCONN, 100),
        (10000, socket.SOMAXCONN, 10000),  # the platform's SOMAXCONN means the same
        (4096, wspsan.SOMAXCONN_HINT(5), 200),  # hint clamped into 200..65535
        (4096, wspsan.SOMAXCONN_HINT(300), 300),
        (100000, wspsan.SOMAXCONN_HINT(100000), 65535),
        (4096, wspsan.SOMAXCONN_HINT(100000), 4096),  # then to the device maximum
        (100000, -(2**31), 65535),
    ],
)
def test_backlog_values(max_backlog: int, backlog: int, effective: int) -> None:
    # SPEC L5
    p = wspsan.Provider(max_backlog=max_backlog)
    s = listener(p, backlog)
    assert s.stats().backlog == effective


def test_backlog_is_enforced_as_given() -> None:
    # SPEC L5, L7
    p = wspsan.Provider()
    s = listener(p, 0)  # 0 -> 1
    first = pending(p, s.getsockname())
    with pytest.raises(wspsan.ConnectRefusedError):
        p.socket().connect(s.getsockname())
    del first


def test_listen_again_replaces_the_backlog_and_resets_the_newest() -> None:
    # SPEC L6 (decided: the newest excess requests are reset)
    p = wspsan.Provider()
    s = listener(p, 5)
    target = s.getsockname()
    conns = [pending(p, target) for _ in range(4)]
    blocked_sock = p.socket()
    blocked = Background(lambda: blocked_sock.connect(target))
    while s.stats().queue_len < 5:
        threading.Event().wait(0.01)
    s.listen(2)
    assert s.stats().backlog == 2
    assert s.stats().queue_len == 2
    assert s.stats().reset == 3
    with pytest.raises(ConnectionResetError):
        blocked.join()
    assert [connect_result(c) for c in conns] == [None, None, wspsan.WSAECONNRESET, wspsan.WSAECONNRESET]
    first, _ = s.accept()
    assert first.getpeername() == conns[0].getsockname()  # the oldest stayed
    s.listen(8)
    assert s.stats().backlog == 8


def test_full_queue_refuses_at_once_without_an_event() -> None:
    # SPEC L7
    p = wspsan.Provider()
    s = listener(p, 1)
    ev = wspsan.Event()
    s.event_select(ev, wspsan.FD_ACCEPT)
    first = pending(p, s.getsockname())
    assert ev.is_set()
    s.enum_network_events(ev)
    assert not ev.is_set()
    refused = p.socket()
    refused.setblocking(False)
    assert refused.connect_ex(s.getsockname()) == wspsan.WSAECONNREFUSED  # at once, not WSAEWOULDBLOCK
    assert not ev.is_set()
    assert not s.enum_network_events()
    assert s.stats().refused_full == 1 and s.stats().queue_len == 1
    del first


def test_so_acceptconn() -> None:
    # SPEC L8
    p = wspsan.Provider()
    s = p.socket()
    s.bind((HOST, 0))
    assert s.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN) == 0
    s.listen(1)
    assert s.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN) == 1
    assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1  # the platform's numbering
    with pytest.raises(wspsan.OptionNotSupportedError):
        s.setsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN, 0)
    with pytest.raises(wspsan.OptionNotSupportedError):
        s.getsockopt(wspsan.SOL_SOCKET, 0x4242)


def test_descriptor_exhaustion_keeps_the_queue() -> None:
    # SPEC L9, A11
    p = wspsan.Provider()
    s = listener(p, 4)
    target = s.getsockname()
    waiting = [pending(p, target) for _ in range(2)]
    spare = p.socket()
    spare.bind((HOST, 0))
    extra = p.socket()
    extra.setblocking(False)
    p.device.descriptor_limit = p.stats().open_sockets  # no descriptor is free
    with pytest.raises(wspsan.TooManySocketsError):
        s.accept()
    assert s.stats().queue_len == 2  # every queued request kept
    # exhausted: a new request is refused (L7 rule) although the queue has room
    assert extra.connect_ex(target) == wspsan.WSAECONNREFUSED
    # listen on a socket that is not listening yet, while no descriptor is free
    with pytest.raises(wspsan.TooManySocketsError):
        spare.listen(3)
    # a descriptor is free again: the next accept clears the state
    p.device.descriptor_limit = None
    a, peer = s.accept()
    assert peer == waiting[0].getsockname()
    assert s.stats().queue_len == 1
    again = pending(p, target)  # listening resumed
    assert s.stats().queue_len == 2
    del a, again


def test_listen_clears_exhaustion() -> None:
    # SPEC L9: a listen made when a descriptor is free clears the state too
    p = wspsan.Provider()
    s = listener(p, 4)
    target = s.getsockname()
    w = pending(p, target)
    p.device.descriptor_limit = p.stats().open_sockets
    with pytest.raises(wspsan.TooManySocketsError):
        s.accept()
    p.device.descriptor_limit = None
    s.listen(4)
    again = pending(p, target)
    assert s.stats().queue_len == 2
    del w, again


def test_listener_outlives_the_listening_thread() -> None:
    # SPEC L10
    p = wspsan.Provider()
    made: list[wspsan.Socket] = []
    t = threading.Thread(target=lambda: made.append(listener(p, 4)))
    t.start()
    t.join()
    s = made[0]
    c = pending(p, s.getsockname())
    a, peer = s.accept()
    assert peer == c.getsockname()

"""wspsan.wsp: the C ABI called from Python, on the process-wide provider (SPEC section 2 and
the items only the C view can show: NULL pointers, buffer lengths, the address of A3/A4/A13)."""

from __future__ import annotations

import gc
import os
import select
import socket
import struct
import weakref
from collections.abc import Callable, Iterator

import pytest

import wspsan
from wspsan import wsp

HOST = "127.0.0.1"
INVALID = wspsan.INVALID_SOCKET
ERR = wspsan.SOCKET_ERROR


@pytest.fixture
def started() -> Iterator[None]:
    """One WSPStartup for the test, undone after it; the device is put back as it was."""
    rc, info = wsp.WSPStartup()
    assert rc == 0 and info is not None
    try:
        yield
    finally:
        wsp.device_set_network_down(False)
        wsp.device_set_buffer_exhaustion(False)
        wsp.device_set_descriptor_limit(-1)
        wsp.device_set_wildcard_bind(True)
        wsp.device_set_limits(
            max_descriptors=65536,
            max_pending=1 << 20,
            max_backlog=4096,
            max_caller_data=256,
            max_callee_data=256,
            connect_timeout_ms=0,
        )
        assert wsp.WSPCleanup() == (0, 0)


def sock() -> int:
    s, err = wsp.WSPSocket()
    assert s != INVALID and err == 0
    return s


def listening(port: int = 0, backlog: int = 8) -> tuple[int, tuple[str, int]]:
    s = sock()
    assert wsp.WSPBind(s, (HOST, port)) == (0, 0)
    assert wsp.WSPListen(s, backlog) == (0, 0)
    rc, err, name = wsp.WSPGetSockName(s)
    assert rc == 0 and name is not None
    return s, name


def nonblocking(s: int, on: bool = True) -> tuple[int, int]:
    rc, err, _, _ = wsp.WSPIoctl(s, wspsan.FIONBIO, struct.pack("<I", int(on)))
    return rc, err


def queued(target: tuple[str, int], data: bytes | None = None) -> int:
    c = sock()
    assert nonblocking(c) == (0, 0)
    rc, err, _ = wsp.WSPConnect(c, target, data)
    assert (rc, err) == (ERR, wspsan.WSAEWOULDBLOCK)
    return c


def int_option(raw: bytes) -> int:
    return int(struct.unpack("<i", raw)[0])


def test_startup_fills_the_table_and_is_counted() -> None:
    # SPEC X1
    rc, info = wsp.WSPStartup(0x0202)
    assert rc == 0 and info is not None
    assert info["version"] == info["high_version"] == 0x0202
    assert info["description"].startswith("wspsan ")
    assert len(info["proc_table"]) == 30  # every member filled, none NULL
    assert info["proc_table"][0] == "lpWSPAccept" and info["proc_table"][-1] == "lpWSPStringToAddress"
    assert wsp.WSPStartup(0x0202)[0] == 0
    assert wsp.WSPCleanup() == (0, 0)
    s = sock()  # still started: one startup left
    assert wsp.WSPCleanup() == (0, 0)
    assert wsp.WSPCloseSocket(s) == (ERR, wspsan.WSANOTINITIALISED)


@pytest.mark.parametrize("version", [0x0101, 0x0102, 0x0002, 0x0000])
def test_startup_below_2_2(version: int) -> None:
    # SPEC X1
    assert wsp.WSPStartup(version) == (wspsan.WSAVERNOTSUPPORTED, None)


def test_calls_before_startup_or_after_cleanup() -> None:
    # SPEC X2
    assert wsp.WSPSocket() == (INVALID, wspsan.WSANOTINITIALISED)
    assert wsp.WSPListen(1, 5) == (ERR, wspsan.WSANOTINITIALISED)
    assert wsp.WSPCleanup() == (ERR, wspsan.WSANOTINITIALISED)
    assert wsp.WSPStartup()[0] == 0
    s = sock()
    assert wsp.WSPCleanup() == (0, 0)
    assert wsp.WSPBind(s, (HOST, 0)) == (ERR, wspsan.WSANOTINITIALISED)
    assert "WSANOTINITIALISED" in wsp.last_error_message()


def test_failure_and_success_conventions(started: None) -> None:
    # SPEC X3: failure returns SOCKET_ERROR / INVALID_SOCKET with *lpErrno; success leaves it;
    # no output parameter is written on failure
    s = sock()
    assert wsp.WSPGetSockName(s) == (ERR, wspsan.WSAEINVAL, None)
    assert wsp.WSPListen(s, 5) == (ERR, wspsan.WSAEINVAL)
    assert wsp.WSPBind(s, (HOST, 0)) == (0, 0)
    listener, _ = listening()
    assert nonblocking(listener) == (0, 0)
    assert wsp.WSPAccept(listener, addrlen=16) == (INVALID, wspsan.WSAEWOULDBLOCK, None, 16)
    assert wsp.WSPGetSockOpt(s, wspsan.SOL_SOCKET, 0x4242, 4) == (ERR, wspsan.WSAENOPROTOOPT, b"\0\0\0\0")
    assert wsp.strerror(wspsan.WSAECONNREFUSED) == "WSAECONNREFUSED: The connection was refused."
    assert wsp.version() == wspsan.__version__


def test_bad_pointers_and_descriptors(started: None) -> None:
    # SPEC X4, L1, A1, K1
    s = sock()
    assert wsp.WSPBind(s, None) == (ERR, wspsan.WSAEFAULT)
    assert wsp.WSPGetSockName(s, namelen=None) == (ERR, wspsan.WSAEINVAL, None)  # not bound comes first
    assert wsp.WSPBind(s, (HOST, 0)) == (0, 0)
    assert wsp.WSPGetSockName(s, namelen=None) == (ERR, wspsan.WSAEFAULT, None)
    assert wsp.WSPGetSockOpt(s, wspsan.SOL_SOCKET, wspsan.SO_TYPE, None)[:2] == (ERR, wspsan.WSAEFAULT)
    assert wsp.WSPGetSockOpt(s, wspsan.SOL_SOCKET, wspsan.SO_TYPE, 2)[:2] == (ERR, wspsan.WSAEFAULT)
    assert wsp.WSPSetSockOpt(s, wspsan.SOL_SOCKET, wspsan.SO_SNDBUF, None, 4) == (ERR, wspsan.WSAEFAULT)
    assert wsp.WSPIoctl(s, wspsan.FIONBIO, None)[:2] == (ERR, wspsan.WSAEFAULT)
    for bad in (0, 12345, INVALID, s + 1000):
        assert wsp.WSPListen(bad, 5) == (ERR, wspsan.WSAENOTSOCK)
        assert wsp.WSPAccept(bad)[:2] == (INVALID, wspsan.WSAENOTSOCK)
        assert wsp.WSPCloseSocket(bad) == (ERR, wspsan.WSAENOTSOCK)
    assert wsp.WSPCloseSocket(s) == (0, 0)
    assert wsp.WSPCloseSocket(s) == (ERR, wspsan.WSAENOTSOCK)
    assert wsp.WSPListen(s, 5) == (ERR, wspsan.WSAENOTSOCK)
    assert sock() != s  # never reused


class Switch:
    """A switch's upcalls: socket handles 0x10000 + descriptor, events through the eventfd."""

    def __init__(self) -> None:
        self.created: list[int] = []
        self.closed: list[int] = []
        self.fail_with: int | None = None

    def create_socket_handle(self, catalog_entry: int, context: int) -> int:
        if self.fail_with is not None:
            raise wspsan.WSAError(self.fail_with, "switch out of handles")
        self.created.append(context)
        return 0x10000 + context

    def close_socket_handle(self, handle: int) -> None:
        self.closed.append(handle)


def test_socket_handle_upcalls() -> None:
    # SPEC X5, A11
    switch = Switch()
    assert wsp.WSPStartup(0x0202, switch)[0] == 0
    try:
        s = sock()
        assert switch.created == [s]
        assert wsp.switch_handle(s) == (0, 0, 0x10000 + s)
        listener, target = listening()
        c = queued(target)
        switch.fail_with = wspsan.WSAEMFILE
        assert wsp.WSPSocket() == (INVALID, wspsan.WSAEMFILE)
        assert wsp.WSPAccept(listener)[:2] == (INVALID, wspsan.WSAEMFILE)
        assert wsp.device_listener_stats(listener)[2].queue_len == 1  # the request stays
        switch.fail_with = None
        a, err, peer, _ = wsp.WSPAccept(listener)
        assert err == 0 and wsp.switch_handle(a)[2] == 0x10000 + a
        assert wsp.WSPCloseSocket(a) == (0, 0)
        assert switch.closed == [0x10000 + a]
        del c
    finally:
        assert wsp.WSPCleanup() == (0, 0)
    assert len(switch.closed) == len(switch.created)  # the last cleanup closed the rest


def test_only_the_startup_that_begins_a_session_installs_its_upcalls() -> None:
    # SPEC X1, X5: the C ABI keeps the first startup's upcall table until the last cleanup; a
    # later or failed startup changes nothing, and the last cleanup lets go of the upcalls
    first = Switch()
    assert wsp.WSPStartup(0x0202, first)[0] == 0
    try:
        second = Switch()
        assert wsp.WSPStartup(0x0202, second)[0] == 0
        assert wsp.WSPStartup(0x0101, Switch()) == (wspsan.WSAVERNOTSUPPORTED, None)
        s = sock()
        assert first.created == [s] and second.created == []
        assert wsp.WSPCleanup() == (0, 0)
        s2 = sock()
        assert first.created == [s, s2] and second.created == []
    finally:
        assert wsp.WSPCleanup() == (0, 0)
    assert sorted(first.closed) == [0x10000 + s, 0x10000 + s2]
    gone = weakref.ref(first)
    del first
    gc.collect()
    assert gone() is None


def test_socket_arguments(started: None) -> None:
    # SPEC S1
    assert wsp.WSPSocket(af=23) == (INVALID, wspsan.WSAEAFNOSUPPORT)
    assert wsp.WSPSocket(type=2) == (INVALID, wspsan.WSAESOCKTNOSUPPORT)
    assert wsp.WSPSocket(protocol=17) == (INVALID, wspsan.WSAEPROTONOSUPPORT)
    assert wsp.WSPSocket(protocol=wspsan.IPPROTO_TCP)[1] == 0


def test_bind_arguments(started: None) -> None:
    # SPEC B1
    s = sock()
    assert wsp.WSPBind(s, (HOST, 5000), namelen=15) == (ERR, wspsan.WSAEFAULT)
    assert wsp.WSPBind(s, (HOST, 5000), family=23) == (ERR, wspsan.WSAEAFNOSUPPORT)
    assert wsp.WSPBind(s, ("10.1.1.1", 5000)) == (ERR, wspsan.WSAEADDRNOTAVAIL)
    assert wsp.WSPBind(s, (HOST, 5000), namelen=128) == (0, 0)
    assert wsp.WSPGetSockName(s) == (0, 0, (HOST, 5000))


def test_connect_arguments(started: None) -> None:
    # SPEC C3
    _, target = listening()
    c = sock()
    assert wsp.WSPConnect(c, target, namelen=8)[:2] == (ERR, wspsan.WSAEFAULT)
    assert wsp.WSPConnect(c, None)[:2] == (ERR, wspsan.WSAEFAULT)
    assert wsp.WSPConnect(c, target, family=23)[:2] == (ERR, wspsan.WSAEAFNOSUPPORT)
    assert wsp.WSPConnect(c, ("0.0.0.0", target[1]))[:2] == (ERR, wspsan.WSAEADDRNOTAVAIL)


def test_callee_data_buffer(started: None) -> None:
    # SPEC C5: len in = buffer size, out = bytes written; too small keeps the first len bytes
    listener, target = listening()
    answers = iter([b"0123456789", b"abc"])

    def condition(r: wspsan.ConditionRequest) -> int:
        r.callee_data = next(answers)
        return wspsan.CF_ACCEPT

    from threading import Thread

    results: list[tuple[int, int, bytes | None]] = []
    for size in (4, 64):
        c = sock()
        t = Thread(target=lambda: results.append(wsp.WSPConnect(c, target, b"hello", size)))
        t.start()
        while wsp.device_listener_stats(listener)[2].queue_len == 0:
            pass
        assert wsp.WSPAccept(listener, condition)[1] == 0
        t.join(5)
    assert results == [(0, 0, b"0123"), (0, 0, b"abc")]
    c = sock()
    assert wsp.WSPConnect(c, target, b"x" * 257)[:2] == (ERR, wspsan.WSAENOBUFS)


def test_accept_address_buffer_checked_first(started: None) -> None:
    # SPEC A3
    listener, target = listening()
    c = queued(target)
    assert wsp.WSPAccept(listener, addrlen=15) == (INVALID, wspsan.WSAEFAULT, None, 15)
    assert wsp.WSPAccept(listener, addrlen=0) == (INVALID, wspsan.WSAEFAULT, None, 0)
    assert wsp.device_listener_stats(listener)[2].queue_len == 1  # the request stays
    a, err, peer, length = wsp.WSPAccept(listener)
    assert err == 0 and peer == wsp.WSPGetSockName(c)[2] and length == 16


def test_accept_address_pointers_optional(started: None) -> None:
    # SPEC A4
    listener, target = listening()
    c1, c2, c3 = queued(target), queued(target), queued(target)
    a, err, peer, length = wsp.WSPAccept(listener, addr=False, addrlen=None)
    assert err == 0 and (peer, length) == (None, None)
    a, err, peer, length = wsp.WSPAccept(listener, addr=True, addrlen=None)
    assert err == 0 and (peer, length) == (None, None)  # addr untouched
    a, err, peer, length = wsp.WSPAccept(listener, addr=True, addrlen=64)
    assert err == 0 and peer == wsp.WSPGetSockName(c3)[2] and length == 16
    del c1, c2


def test_examined_request_fills_the_address(started: None) -> None:
    # SPEC A13, A8, A9, A10
    listener, target = listening()
    c = queued(target)
    me = wsp.WSPGetSockName(c)[2]
    for answer, error in ((wspsan.CF_DEFER, wspsan.WSATRY_AGAIN), (wspsan.CF_REJECT, wspsan.WSAECONNREFUSED)):
        assert wsp.WSPAccept(listener, lambda r: answer) == (INVALID, error, me, 16)
    c = queued(target)
    me = wsp.WSPGetSockName(c)[2]
    assert wsp.WSPAccept(listener, lambda r: 42) == (INVALID, wspsan.WSAEINVAL, me, 16)
    c = queued(target)
    me = wsp.WSPGetSockName(c)[2]
    assert wsp.WSPCloseSocket(c) == (0, 0)
    assert wsp.WSPAccept(listener) == (INVALID, wspsan.WSAEACCES, me, 16)  # A12


def test_condition_arguments_through_the_c_abi(started: None) -> None:
    # SPEC A5, A6
    listener, target = listening()
    qos = wspsan.Qos(wspsan.FlowSpec(token_rate=9), provider_specific=b"ps")
    c = sock()
    nonblocking(c)
    wsp.WSPConnect(c, target, b"data", None, qos)
    seen: dict[str, object] = {}

    def condition(r: wspsan.ConditionRequest) -> int:
        seen.update(
            caller=r.caller_address,
            callee=r.callee_address,
            data=r.caller_data,
            qos=r.qos,
            cb=r.callback_data,
            capacity=r.callee_data_capacity,
            group=r.group,
        )
        return wspsan.CF_ACCEPT

    a, err, peer, _ = wsp.WSPAccept(listener, condition, 0xDEADBEEF)
    assert err == 0
    assert seen == {
        "caller": peer,
        "callee": target,
        "data": b"data",
        "qos": qos,
        "cb": 0xDEADBEEF,
        "capacity": 256,
        "group": 0,
    }
    c2 = queued(target)  # no caller data, no QoS: NULL pointers
    nulls: dict[str, object] = {}

    def plain(r: wspsan.ConditionRequest) -> int:
        nulls.update(data=r.caller_data, qos=r.qos)
        return wspsan.CF_ACCEPT

    assert wsp.WSPAccept(listener, plain)[1] == 0
    assert nulls == {"data": None, "qos": None}
    c3 = queued(target)
    assert wsp.WSPAccept(listener, None)[1] == 0  # A6
    del c2, c3


def test_condition_exception_through_the_c_abi(started: None) -> None:
    # SPEC A9: the Python exception gives no answer: the accept is abandoned (not deferred), the
    # request stays first, and the exception is raised
    listener, target = listening()
    c = queued(target)

    def boom(r: wspsan.ConditionRequest) -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        wsp.WSPAccept(listener, boom)
    stats = wsp.device_listener_stats(listener)[2]
    assert (stats.queue_len, stats.deferred) == (1, 0)
    assert wsp.WSPAccept(listener)[1] == 0
    del c


@pytest.mark.parametrize("answer", [True, False, None, "0"])
def test_answers_that_are_not_ints_are_invalid_through_the_c_abi(started: None, answer: object) -> None:
    # SPEC A10: as through Socket.accept, WSAEINVAL and the connector refused (True and False
    # are not CF_REJECT and CF_ACCEPT)
    listener, target = listening()
    c = queued(target)
    assert wsp.WSPAccept(listener, lambda r: answer)[:2] == (INVALID, wspsan.WSAEINVAL)
    assert int_option(wsp.WSPGetSockOpt(c, wspsan.SOL_SOCKET, wspsan.SO_ERROR)[2]) == wspsan.WSAECONNREFUSED
    assert wsp.device_listener_stats(listener)[2].rejected == 1


def test_calls_from_the_condition_through_the_c_abi(started: None) -> None:
    # SPEC A14
    listener, target = listening()
    c = queued(target)
    inner: list[tuple[int, int]] = []

    def nested(r: wspsan.ConditionRequest) -> int:
        inner.append(wsp.WSPListen(listener, 3))
        inner.append(wsp.WSPSocket())
        return wspsan.CF_ACCEPT

    assert wsp.WSPAccept(listener, nested)[1] == 0
    assert inner == [(ERR, wspsan.WSAEINPROGRESS), (INVALID, wspsan.WSAEINPROGRESS)]
    del c


def test_address_list_query(started: None) -> None:
    # SPEC D4
    s = sock()
    rc, err, out, needed = wsp.WSPIoctl(s, wspsan.SIO_ADDRESS_LIST_QUERY, None, 4)
    assert (rc, err) == (ERR, wspsan.WSAEFAULT) and needed > 4
    assert wsp.WSPIoctl(s, wspsan.SIO_ADDRESS_LIST_QUERY, None, None)[3] == needed
    assert wsp.device_add_nic("10.0.0.7") == (0, 0)
    try:
        rc, err, out, needed = wsp.WSPIoctl(s, wspsan.SIO_ADDRESS_LIST_QUERY, None, 4)
        rc, err, out, returned = wsp.WSPIoctl(s, wspsan.SIO_ADDRESS_LIST_QUERY, None, needed)
        assert (rc, err, returned) == (0, 0, needed) and out is not None
        count = struct.unpack_from("<i", out)[0]
        assert count == 2
        first = needed - count * 16  # the sockaddr_in follow the entries
        addrs = [socket.inet_ntoa(out[first + 16 * i + 4 : first + 16 * i + 8]) for i in range(count)]
        assert addrs == [HOST, "10.0.0.7"]
    finally:
        assert wsp.device_remove_nic("10.0.0.7") == (0, 0)


def test_fionbio(started: None) -> None:
    # SPEC E6, S1: blocking by default, FIONBIO in both numberings
    listener, _ = listening()
    assert nonblocking(listener) == (0, 0)
    assert wsp.WSPAccept(listener)[1] == wspsan.WSAEWOULDBLOCK
    assert wsp.WSPIoctl(listener, 0x5421, struct.pack("<I", 0))[:2] == (0, 0)  # Linux FIONBIO
    ev = wspsan.Event()
    assert wsp.WSPEventSelect(listener, ev, wspsan.FD_ACCEPT) == (0, 0)
    assert nonblocking(listener, False) == (ERR, wspsan.WSAEINVAL)
    assert wsp.WSPAccept(listener)[1] == wspsan.WSAEWOULDBLOCK  # event select made it non-blocking
    assert wsp.WSPEventSelect(listener, None, 0) == (0, 0)


def test_events_through_the_c_abi(started: None) -> None:
    # SPEC E1, E2, E3, E4
    listener, target = listening()
    h = wsp.WSACreateEvent()
    assert h > 0
    try:
        assert wsp.WSPEventSelect(listener, h, wspsan.FD_ACCEPT) == (0, 0)
        c1, c2 = queued(target), queued(target)
        rc, err, events, codes = wsp.WSPEnumNetworkEvents(listener, h)
        assert (rc, err, events) == (0, 0, wspsan.FD_ACCEPT)
        assert codes[wspsan.FD_ACCEPT_BIT] == 0
        assert [c for i, c in enumerate(codes) if i != wspsan.FD_ACCEPT_BIT] == [-1] * 9  # untouched
        assert wsp.WSPEnumNetworkEvents(listener, h)[2] == 0  # nothing twice
        assert wsp.WSPAccept(listener)[1] == 0
        assert wsp.WSPEnumNetworkEvents(listener)[2] == wspsan.FD_ACCEPT  # level-triggered
        ev = wspsan.Event()
        assert wsp.WSPEventSelect(c1, ev, wspsan.FD_CONNECT | wspsan.FD_CLOSE) == (0, 0)
        assert ev.is_set()  # FD_CONNECT was recorded before the selection
        rc, err, events, codes = wsp.WSPEnumNetworkEvents(c1, ev)
        assert events == wspsan.FD_CONNECT and codes[wspsan.FD_CONNECT_BIT] == 0 and not ev.is_set()
        del c2
    finally:
        assert wsp.WSACloseEvent(h)
    assert not wsp.WSACloseEvent(h)


def test_selected_event_outlives_its_handle(started: None) -> None:
    # SPEC section 8, X4: the provider signals its own duplicate of the eventfd, so an Event
    # collected while selected never lets a signal reach the file that reuses its number
    listener, target = listening()
    ev = wspsan.Event()
    n = ev.fileno()
    assert wsp.WSPEventSelect(listener, ev, wspsan.FD_ACCEPT) == (0, 0)
    r, w = os.pipe()
    del ev
    gc.collect()
    os.dup2(w, n)  # a pipe now holds the event's number
    try:
        c = queued(target)  # FD_ACCEPT recorded: the selected event object is set
        assert select.select([r], [], [], 0)[0] == []  # nothing reached the pipe
        assert wsp.WSPEnumNetworkEvents(listener, n)[:3] == (0, 0, wspsan.FD_ACCEPT)
        # A handle that holds no eventfd: WSAEINVAL, to select and to reset.
        assert wsp.WSPEventSelect(listener, r, wspsan.FD_ACCEPT) == (ERR, wspsan.WSAEINVAL)
        assert wsp.WSPEnumNetworkEvents(c, r)[:2] == (ERR, wspsan.WSAEINVAL)
        assert wsp.WSPEventSelect(listener, None, 0) == (0, 0)
    finally:
        for fd in (n, r, w):
            os.close(fd)


def test_getsockopt_buffer_is_exactly_optlen(started: None) -> None:
    # SPEC X4, C5: the buffer handed to the C side holds optlen bytes, however many (up to the
    # largest callee data a device allows, 64 KiB)
    big = 65536
    assert wsp.device_set_limits(max_callee_data=big) == (0, 0)
    listener, target = listening()
    c = queued(target)

    def reply(r: wspsan.ConditionRequest) -> int:
        r.callee_data = b"z" * big
        return wspsan.CF_ACCEPT

    assert wsp.WSPAccept(listener, reply)[1] == 0
    assert wsp.WSPGetSockOpt(c, wspsan.SOL_SOCKET, wspsan.SO_CONNDATA, big) == (0, 0, b"z" * big)
    assert wsp.WSPGetSockOpt(c, wspsan.SOL_SOCKET, wspsan.SO_CONNDATA, 10) == (0, 0, b"z" * 10)
    assert wsp.WSPGetSockOpt(c, wspsan.SOL_SOCKET, wspsan.SO_CONNDATA, 0) == (0, 0, b"")
    # SPEC section 1: the platform's SOL_SOCKET (1 on Linux) serves it too
    assert wsp.WSPGetSockOpt(c, socket.SOL_SOCKET, wspsan.SO_CONNDATA, 10) == (0, 0, b"z" * 10)
    for bad in (-1, (1 << 24) + 1):
        with pytest.raises(ValueError):
            wsp.WSPGetSockOpt(c, wspsan.SOL_SOCKET, wspsan.SO_CONNDATA, bad)


def test_options_both_numberings(started: None) -> None:
    # SPEC L8, C2
    listener, target = listening()
    for level, name in ((wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN), (socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
        rc, err, raw = wsp.WSPGetSockOpt(listener, level, name)
        assert (rc, err) == (0, 0) and int_option(raw) == 1
    assert wsp.WSPSetSockOpt(listener, wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN, 0) == (ERR, wspsan.WSAENOPROTOOPT)
    assert wsp.WSPSetSockOpt(listener, wspsan.SOL_SOCKET, wspsan.SO_RCVBUF, 4096) == (0, 0)
    assert int_option(wsp.WSPGetSockOpt(listener, socket.SOL_SOCKET, socket.SO_RCVBUF)[2]) == 4096
    c = queued(target)
    assert wsp.WSPAccept(listener, lambda r: wspsan.CF_REJECT)[1] == wspsan.WSAECONNREFUSED
    assert int_option(wsp.WSPGetSockOpt(c, wspsan.SOL_SOCKET, wspsan.SO_ERROR)[2]) == wspsan.WSAECONNREFUSED


def test_device_control_and_statistics(started: None) -> None:
    # SPEC D1, D2, D3
    rc, err, limits = wsp.device_get_limits()
    assert (rc, err) == (0, 0) and limits["max_backlog"] == 4096 and limits["connect_timeout_ms"] == 0
    assert wsp.device_set_limits(max_backlog=3) == (0, 0)
    listener, target = listening(backlog=wspsan.SOMAXCONN)
    assert wsp.device_listener_stats(listener)[2].backlog == 3
    assert wsp.device_set_network_down(True) == (0, 0)
    assert wsp.device_get_faults()[2]["network_down"] == 1
    assert wsp.WSPSocket() == (INVALID, wspsan.WSAENETDOWN)
    assert wsp.device_set_network_down(False) == (0, 0)
    assert wsp.device_set_buffer_exhaustion(True) == (0, 0)
    assert wsp.WSPSocket() == (INVALID, wspsan.WSAENOBUFS)
    assert wsp.device_set_buffer_exhaustion(False) == (0, 0)
    assert wsp.device_set_descriptor_limit(wsp.device_stats()[2].open_sockets) == (0, 0)
    assert wsp.WSPSocket() == (INVALID, wspsan.WSAEMFILE)
    assert wsp.device_set_descriptor_limit(-1) == (0, 0)
    assert wsp.device_set_wildcard_bind(False) == (0, 0)
    assert wsp.WSPBind(sock(), ("0.0.0.0", 0)) == (ERR, wspsan.WSAEADDRNOTAVAIL)
    assert wsp.device_set_connect_timeout(50) == (0, 0)
    c = sock()
    assert wsp.WSPConnect(c, target)[:2] == (ERR, wspsan.WSAETIMEDOUT)
    stats = wsp.device_stats()[2]
    assert stats.timed_out >= 1 and stats.queued >= 1
    assert wsp.device_listener_stats(c)[:2] == (ERR, wspsan.WSAEINVAL)


def test_c_code_in_the_process_shares_the_provider(started: None) -> None:
    # SPEC section 2: the extension exports the C ABI; C code calling it sees the same provider
    import ctypes

    lib = ctypes.CDLL(wspsan._wspsan.__file__)
    lib.wspsan_WSPSocket.restype = ctypes.c_size_t
    err = ctypes.c_int(0)
    s = lib.wspsan_WSPSocket(2, 1, 0, None, 0, 0, ctypes.byref(err))
    assert err.value == 0 and s != INVALID
    assert wsp.WSPBind(s, (HOST, 0)) == (0, 0)  # the socket C made, used from Python
    assert wsp.WSPCloseSocket(s) == (0, 0)


# SPEC X4: the descriptor first, then whether the socket's state allows the call, then the
# pointers (Wine's test_getpeername and friends, run against Windows).

STATES = ["invalid", "closed", "unbound", "bound", "listening", "pending", "connected"]
NOT_A_SOCKET = ["invalid", "closed"]
BAD_EVENT = 1 << 40  # a WSAEVENT that holds no eventfd
UNKNOWN_IOCTL = 0x12345678


def in_state(state: str) -> int:
    """A descriptor in `state` (one of STATES)."""
    if state == "invalid":
        return INVALID
    s = sock()
    if state == "closed":
        assert wsp.WSPCloseSocket(s) == (0, 0)
    elif state in ("bound", "listening"):
        assert wsp.WSPBind(s, (HOST, 0)) == (0, 0)
        if state == "listening":
            assert wsp.WSPListen(s, 4) == (0, 0)
    elif state in ("pending", "connected"):
        listener, target = listening()
        assert nonblocking(s) == (0, 0)
        assert wsp.WSPConnect(s, target)[:2] == (ERR, wspsan.WSAEWOULDBLOCK)
        if state == "connected":
            assert wsp.WSPAccept(listener)[1] == 0
    return s


X4_CALLS: dict[str, Callable[[int], tuple[int, int]]] = {
    "WSPGetPeerName(NULL namelen)": lambda s: wsp.WSPGetPeerName(s, namelen=None)[:2],
    "WSPGetPeerName(short namelen)": lambda s: wsp.WSPGetPeerName(s, namelen=8)[:2],
    "WSPGetSockName(NULL namelen)": lambda s: wsp.WSPGetSockName(s, namelen=None)[:2],
    "WSPBind(NULL name)": lambda s: wsp.WSPBind(s, None),
    "WSPBind(short namelen)": lambda s: wsp.WSPBind(s, (HOST, 0), namelen=8),
    "WSPConnect(NULL name)": lambda s: wsp.WSPConnect(s, None)[:2],
    "WSPAccept(short addrlen)": lambda s: wsp.WSPAccept(s, addrlen=0)[:2],
    # optlen 0 passes a NULL optval with *optlen = 0
    "WSPGetSockOpt(unknown level, NULL optval)": lambda s: wsp.WSPGetSockOpt(s, 0x1234, wspsan.SO_TYPE, 0)[:2],
    "WSPGetSockOpt(unknown level, short optlen)": lambda s: wsp.WSPGetSockOpt(s, 0x1234, wspsan.SO_TYPE, 2)[:2],
    "WSPGetSockOpt(unknown option, NULL optval)": lambda s: wsp.WSPGetSockOpt(s, wspsan.SOL_SOCKET, 0x4242, 0)[:2],
    "WSPGetSockOpt(unknown TCP option, NULL optval)": lambda s: wsp.WSPGetSockOpt(s, wspsan.IPPROTO_TCP, 0x4242, 0)[:2],
    "WSPGetSockOpt(NULL optval)": lambda s: wsp.WSPGetSockOpt(s, wspsan.SOL_SOCKET, wspsan.SO_TYPE, 0)[:2],
    "WSPGetSockOpt(short optlen)": lambda s: wsp.WSPGetSockOpt(s, wspsan.SOL_SOCKET, wspsan.SO_ERROR, 2)[:2],
    "WSPGetSockOpt(NULL optlen)": lambda s: wsp.WSPGetSockOpt(s, wspsan.SOL_SOCKET, wspsan.SO_TYPE, None)[:2],
    "WSPSetSockOpt(unknown level, NULL optval)": lambda s: wsp.WSPSetSockOpt(s, 0x1234, wspsan.SO_TYPE, None, 4),
    "WSPSetSockOpt(NULL optval)": lambda s: wsp.WSPSetSockOpt(s, wspsan.SOL_SOCKET, wspsan.SO_ERROR, None, 4),
    "WSPIoctl(overlapped, unknown code, NULL returned)": lambda s: wsp.WSPIoctl(
        s, UNKNOWN_IOCTL, bytes_returned=False, overlapped=True
    )[:2],
    "WSPIoctl(unknown code, NULL returned)": lambda s: wsp.WSPIoctl(s, UNKNOWN_IOCTL, bytes_returned=False)[:2],
    "WSPIoctl(FIONBIO, NULL returned)": lambda s: wsp.WSPIoctl(
        s, wspsan.FIONBIO, struct.pack("<I", 1), bytes_returned=False
    )[:2],
    "WSPIoctl(FIONBIO, NULL in and returned)": lambda s: wsp.WSPIoctl(s, wspsan.FIONBIO, bytes_returned=False)[:2],
    "WSPIoctl(SIO_ADDRESS_LIST_QUERY, NULL returned)": lambda s: wsp.WSPIoctl(
        s, wspsan.SIO_ADDRESS_LIST_QUERY, None, 4096, bytes_returned=False
    )[:2],
    "WSPEventSelect(not an event)": lambda s: wsp.WSPEventSelect(s, BAD_EVENT, wspsan.FD_ACCEPT),
    "WSPEnumNetworkEvents(not an event)": lambda s: wsp.WSPEnumNetworkEvents(s, BAD_EVENT)[:2],
}

# (call, states, error): `error` is what the call fails with in each of `states`.
X4_ORDER: list[tuple[str, list[str], int]] = [
    *((name, NOT_A_SOCKET, wspsan.WSAENOTSOCK) for name in X4_CALLS),
    ("WSPGetPeerName(NULL namelen)", ["unbound", "bound", "listening", "pending"], wspsan.WSAENOTCONN),
    ("WSPGetPeerName(NULL namelen)", ["connected"], wspsan.WSAEFAULT),
    ("WSPGetPeerName(short namelen)", ["bound", "pending"], wspsan.WSAENOTCONN),
    ("WSPGetPeerName(short namelen)", ["connected"], wspsan.WSAEFAULT),
    ("WSPGetSockName(NULL namelen)", ["unbound"], wspsan.WSAEINVAL),
    ("WSPGetSockName(NULL namelen)", ["bound", "listening", "pending", "connected"], wspsan.WSAEFAULT),
    ("WSPBind(NULL name)", ["bound", "listening", "pending", "connected"], wspsan.WSAEINVAL),
    ("WSPBind(NULL name)", ["unbound"], wspsan.WSAEFAULT),
    ("WSPBind(short namelen)", ["bound"], wspsan.WSAEINVAL),
    ("WSPBind(short namelen)", ["unbound"], wspsan.WSAEFAULT),
    ("WSPConnect(NULL name)", ["listening"], wspsan.WSAEINVAL),
    ("WSPConnect(NULL name)", ["pending"], wspsan.WSAEALREADY),
    ("WSPConnect(NULL name)", ["connected"], wspsan.WSAEISCONN),
    ("WSPConnect(NULL name)", ["unbound", "bound"], wspsan.WSAEFAULT),
    ("WSPAccept(short addrlen)", ["unbound", "bound", "pending", "connected"], wspsan.WSAEINVAL),
    ("WSPAccept(short addrlen)", ["listening"], wspsan.WSAEFAULT),
    ("WSPGetSockOpt(unknown level, NULL optval)", ["unbound", "listening"], wspsan.WSAEINVAL),
    ("WSPGetSockOpt(unknown level, short optlen)", ["connected"], wspsan.WSAEINVAL),
    ("WSPGetSockOpt(unknown option, NULL optval)", ["unbound", "connected"], wspsan.WSAENOPROTOOPT),
    ("WSPGetSockOpt(unknown TCP option, NULL optval)", ["unbound"], wspsan.WSAENOPROTOOPT),
    ("WSPGetSockOpt(NULL optval)", ["unbound", "listening", "connected"], wspsan.WSAEFAULT),
    ("WSPGetSockOpt(short optlen)", ["unbound", "pending"], wspsan.WSAEFAULT),
    ("WSPGetSockOpt(NULL optlen)", ["unbound", "connected"], wspsan.WSAEFAULT),
    ("WSPSetSockOpt(unknown level, NULL optval)", ["unbound"], wspsan.WSAEINVAL),
    ("WSPSetSockOpt(NULL optval)", ["unbound", "connected"], wspsan.WSAEFAULT),
    ("WSPIoctl(overlapped, unknown code, NULL returned)", ["unbound", "listening"], wspsan.WSAEOPNOTSUPP),
    ("WSPIoctl(unknown code, NULL returned)", ["unbound", "listening"], wspsan.WSAEINVAL),
    ("WSPIoctl(FIONBIO, NULL returned)", ["unbound", "listening", "connected"], wspsan.WSAEFAULT),
    ("WSPIoctl(FIONBIO, NULL in and returned)", ["unbound"], wspsan.WSAEFAULT),
    ("WSPIoctl(SIO_ADDRESS_LIST_QUERY, NULL returned)", ["unbound", "bound"], wspsan.WSAEFAULT),
    ("WSPEventSelect(not an event)", ["unbound", "listening"], wspsan.WSAEINVAL),
    ("WSPEnumNetworkEvents(not an event)", ["unbound", "listening"], wspsan.WSAEINVAL),
]


@pytest.mark.parametrize(
    ("call", "state", "error"),
    [(call, state, error) for call, states, error in X4_ORDER for state in states],
    ids=[f"{call}-{state}" for call, states, _ in X4_ORDER for state in states],
)
def test_descriptor_then_state_then_pointers(started: None, call: str, state: str, error: int) -> None:
    # SPEC X4, X3, A1, A3, A15, B1, C3, L8
    s = in_state(state)
    failed = INVALID if call.startswith("WSPAccept") else ERR
    assert X4_CALLS[call](s) == (failed, error)


@pytest.mark.parametrize("code", [wspsan.FIONBIO, 0x5421], ids=["FIONBIO", "platform-FIONBIO"])
@pytest.mark.parametrize("was_nonblocking", [False, True], ids=["blocking", "non-blocking"])
def test_fionbio_without_lpcbbytesreturned_leaves_the_mode(started: None, code: int, was_nonblocking: bool) -> None:
    # SPEC X4, E6, C2 (as Windows: Wine's test_fionbio): WSAEFAULT and the mode unchanged
    _, target = listening()
    c = sock()
    if was_nonblocking:
        assert nonblocking(c) == (0, 0)
    flip = struct.pack("<I", int(not was_nonblocking))
    assert wsp.WSPIoctl(c, code, flip, bytes_returned=False) == (ERR, wspsan.WSAEFAULT, None, None)
    assert wsp.device_set_connect_timeout(50) == (0, 0)
    # A blocking connect waits for the answer (here: the device timeout), a non-blocking one not.
    expected = wspsan.WSAEWOULDBLOCK if was_nonblocking else wspsan.WSAETIMEDOUT
    assert wsp.WSPConnect(c, target)[:2] == (ERR, expected)

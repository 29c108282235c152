"""WSPConnect, the active side (SPEC C1 to C7)."""

from __future__ import annotations

import signal
import socket
import time
from types import FrameType

import pytest

import wspsan
from faces import Face
from helpers import HOST, Background, connect_result, listener, pending


def wait_queued(s: wspsan.Socket, n: int = 1) -> None:
    deadline = time.monotonic() + 5
    while s.stats().queue_len < n:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_answer_only_after_the_condition_ran() -> None:
    # SPEC C1
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    time.sleep(0.05)
    with pytest.raises(wspsan.NotConnectedError):
        c.getpeername()
    assert connect_result(c) is None  # no FD_CONNECT before accept
    assert c.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ERROR) == 0
    a, _ = s.accept(lambda r: wspsan.CF_ACCEPT)  # kept: a collected socket is closed (K3)
    assert connect_result(c) == 0
    assert c.getpeername() == s.getsockname()


def test_blocking_connect_waits_for_the_answer() -> None:
    # SPEC C1, C2
    p = wspsan.Provider()
    s = listener(p)
    accepted = p.socket()
    ok = Background(lambda: accepted.connect(s.getsockname()))
    refused_sock = p.socket()
    refused = Background(lambda: refused_sock.connect(s.getsockname()))
    wait_queued(s, 2)
    assert not ok.done() and not refused.done()
    wanted = accepted.getsockname()  # (provider calls inside the condition fail, A14)

    def decide(r: wspsan.ConditionRequest) -> int:
        r.callee_data = b"ok" if r.caller_address == wanted else b""
        return wspsan.CF_ACCEPT if r.caller_address == wanted else wspsan.CF_REJECT

    for _ in range(2):
        try:
            s.accept(decide)
        except wspsan.ConnectRefusedError:
            pass
    assert ok.join() == b"ok"
    with pytest.raises(ConnectionRefusedError):
        refused.join()


def test_blocking_connect_times_out() -> None:
    # SPEC C2: the device connect timeout, and the per-call timeout of the Python API
    p = wspsan.Provider()
    s = listener(p)
    with pytest.raises(wspsan.TimedOutError):
        p.socket().connect(s.getsockname(), timeout=0.05)
    p.device.connect_timeout = 0.05
    with pytest.raises(TimeoutError):
        p.socket().connect(s.getsockname())
    assert p.socket().connect_ex(s.getsockname()) == wspsan.WSAETIMEDOUT


def test_nonblocking_connect_reports_through_fd_connect_and_so_error() -> None:
    # SPEC C2, E4, E5
    p = wspsan.Provider()
    s = listener(p)
    c = p.socket()
    c.setblocking(False)
    assert c.connect_ex(s.getsockname(), b"x") == wspsan.WSAEWOULDBLOCK
    with pytest.raises(wspsan.ConnectRefusedError):
        s.accept(lambda r: wspsan.CF_REJECT)
    assert c.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ERROR) == wspsan.WSAECONNREFUSED
    assert c.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ERROR) == wspsan.WSAECONNREFUSED  # kept (decided)
    assert not c.enum_network_events()  # FD_CONNECT is not selected: kept, not reported (E4)
    ev = wspsan.Event()
    c.event_select(ev, wspsan.FD_CONNECT)
    assert ev.is_set()  # E5: reported once selected
    events = c.enum_network_events(ev)
    assert events.events == wspsan.FD_CONNECT
    assert events.error(wspsan.FD_CONNECT) == wspsan.WSAECONNREFUSED
    assert events.error_codes[wspsan.FD_CONNECT_BIT] == wspsan.WSAECONNREFUSED
    assert c.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ERROR) == wspsan.WSAECONNREFUSED  # nor by FD_CONNECT


def test_immediate_failures() -> None:
    # SPEC C3
    p = wspsan.Provider()
    s = listener(p, 1)
    target = s.getsockname()
    with pytest.raises(wspsan.ConnectRefusedError):
        p.socket().connect((HOST, 1))  # nothing listens there
    bound_only = p.socket()
    bound_only.bind((HOST, 0))
    with pytest.raises(wspsan.ConnectRefusedError):
        p.socket().connect(bound_only.getsockname())  # bound but not listening
    with pytest.raises(wspsan.AddressNotAvailableError):
        p.socket().connect(("0.0.0.0", target[1]))
    with pytest.raises(wspsan.AddressNotAvailableError):
        p.socket().connect((HOST, 0))
    with pytest.raises(wspsan.AddressFamilyNotSupportedError):
        p.socket().connect(("::1", 80))
    with pytest.raises(wspsan.InvalidArgumentError):
        s.connect(target)  # a listening socket
    c = pending(p, target)
    with pytest.raises(wspsan.AlreadyConnectingError):
        c.connect(target)  # pending
    with pytest.raises(wspsan.ConnectRefusedError):
        p.socket().connect(target)  # queue full
    s.accept()
    with pytest.raises(wspsan.AlreadyConnectedError):
        c.connect(target)  # connected


def test_unbound_connector_is_bound_implicitly() -> None:
    # SPEC C4
    p = wspsan.Provider(nics=(HOST, "10.0.0.1"))
    s = listener(p, 4, ("10.0.0.1", 9000))
    c = p.socket()
    with pytest.raises(wspsan.InvalidArgumentError):
        c.getsockname()
    c.setblocking(False)
    c.connect_ex(("10.0.0.1", 9000))
    ip, port = c.getsockname()
    assert ip == "10.0.0.1" and 49152 <= port <= 65535
    _, peer = s.accept()
    assert peer == (ip, port)


def test_caller_data_qos_and_callee_data() -> None:
    # SPEC C5
    p = wspsan.Provider(max_caller_data=8, max_callee_data=4)
    s = listener(p)
    target = s.getsockname()
    with pytest.raises(wspsan.NoBufferSpaceError):
        p.socket().connect(target, b"123456789")
    qos = wspsan.Qos(wspsan.FlowSpec(token_rate=1000, latency=5), provider_specific=b"\x01\x02")
    c = pending(p, target, b"12345678", qos)
    seen: dict[str, object] = {}

    def condition(r: wspsan.ConditionRequest) -> int:
        seen["data"], seen["qos"], seen["capacity"] = r.caller_data, r.qos, r.callee_data_capacity
        r.callee_data = b"welcome"  # longer than the device's buffer: cut to 4 bytes
        return wspsan.CF_ACCEPT

    s.accept(condition)
    assert seen == {"data": b"12345678", "qos": qos, "capacity": 4}
    assert c.callee_data() == b"welc"
    assert c.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_CONNDATALEN) == 4


def test_callee_data_round_trip_for_a_blocking_connect() -> None:
    # SPEC C5
    p = wspsan.Provider()
    s = listener(p)
    c = p.socket()
    call = Background(lambda: c.connect(s.getsockname(), caller_data=b"ping"))
    wait_queued(s)

    def pong(r: wspsan.ConditionRequest) -> int:
        assert r.caller_data == b"ping"
        r.callee_data = b"pong" * 64
        return wspsan.CF_ACCEPT

    s.accept(pong)
    assert call.join() == b"pong" * 64


def test_refused_or_reset_connector_may_connect_again() -> None:
    # SPEC C6
    p = wspsan.Provider()
    s = listener(p, 4)
    target = s.getsockname()
    c = pending(p, target)
    local = c.getsockname()
    with pytest.raises(wspsan.ConnectRefusedError):
        s.accept(lambda r: wspsan.CF_REJECT)
    assert connect_result(c) == wspsan.WSAECONNREFUSED
    assert c.connect_ex(target) == wspsan.WSAEWOULDBLOCK  # bound again, same address
    assert c.getsockname() == local
    filler = p.socket()
    filler.setblocking(False)
    assert filler.connect_ex(target) == wspsan.WSAEWOULDBLOCK
    s.listen(1)  # the newest (filler) is reset
    assert connect_result(filler) == wspsan.WSAECONNRESET
    assert filler.connect_ex(target) == wspsan.WSAECONNREFUSED  # queue full now, but allowed to try
    s.listen(4)
    assert filler.connect_ex(target) == wspsan.WSAEWOULDBLOCK
    a, peer = s.accept()
    assert peer == local
    del a


def test_closing_a_queued_connector_withdraws_it() -> None:
    # SPEC C7, A12, K3
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    who = c.getsockname()
    c.close()
    with pytest.raises(wspsan.AccessDeniedError) as info:
        s.accept()
    assert info.value.address == who
    assert s.stats().withdrawn == 1 and s.stats().queue_len == 0


def test_connect_answered_while_a_signal_handler_raises_keeps_its_result() -> None:
    # SPEC C1, T2 (decided: a connect that completed returns its result, or the connection
    # would exist with nobody told; a KeyboardInterrupt raised meanwhile by a signal handler is
    # raised again right after the call returns)
    p = wspsan.Provider()
    server = listener(p)
    c = p.socket()
    accepted: list[wspsan.Socket] = []
    interrupts: list[int] = []

    def welcome(r: wspsan.ConditionRequest) -> int:
        r.callee_data = b"hi"
        return wspsan.CF_ACCEPT

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        accepted.append(server.accept(welcome)[0])  # the answer arrives ...
        raise KeyboardInterrupt  # ... and so does Ctrl-C

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupts.append(signum)

    old_alarm = signal.signal(signal.SIGALRM, on_alarm)
    old_interrupt = signal.signal(signal.SIGINT, on_interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        try:
            data = c.connect(server.getsockname())
        except KeyboardInterrupt:
            pytest.fail("the completed connect's result was lost to the interrupt")
        deadline = time.monotonic() + 5
        while not interrupts and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGINT, old_interrupt)
    assert data == b"hi"
    assert c.getpeername() == server.getsockname()
    assert len(accepted) == 1
    assert interrupts == [signal.SIGINT]  # the interrupt was delivered after the call


# SO_ERROR as Windows keeps it (SPEC C2, decided), through both faces and both numberings.

SO_ERROR_NUMBERINGS = pytest.mark.parametrize(
    ("level", "name"),
    [(wspsan.SOL_SOCKET, wspsan.SO_ERROR), (socket.SOL_SOCKET, socket.SO_ERROR)],
    ids=["windows-numbering", "platform-numbering"],
)


@SO_ERROR_NUMBERINGS
def test_so_error_is_kept_by_reading_and_cleared_by_the_next_queued_connect(face: Face, level: int, name: int) -> None:
    # SPEC C2 (decided: real Windows reads the same error twice, Wine's test_select), C3, C6
    s, target = face.listener()
    full, full_target = face.listener(backlog=1)
    filler = face.pending(full_target)
    c = face.pending(target)
    assert face.get_option(c, level, name) == 0  # no answer yet
    assert face.accept(s, lambda r: wspsan.CF_REJECT) == (None, wspsan.WSAECONNREFUSED)
    for _ in range(3):
        assert face.get_option(c, level, name) == wspsan.WSAECONNREFUSED
    # Refused at once (nothing listens; the queue is full): no attempt, SO_ERROR stays.
    assert face.connect(c, (HOST, 1)) == wspsan.WSAECONNREFUSED
    assert face.connect(c, full_target) == wspsan.WSAECONNREFUSED
    assert face.get_option(c, level, name) == wspsan.WSAECONNREFUSED
    ev = wspsan.Event()
    face.select(c, ev, wspsan.FD_CONNECT)  # E5: so does the refused attempt's FD_CONNECT
    assert face.enum(c, ev) == {wspsan.FD_CONNECT: wspsan.WSAECONNREFUSED}
    assert face.get_option(c, level, name) == wspsan.WSAECONNREFUSED  # reporting it clears nothing
    assert face.connect(c, target) == wspsan.WSAEWOULDBLOCK  # the next attempt, queued: cleared
    assert face.get_option(c, level, name) == 0
    assert face.accept(s)[1] == 0
    assert face.get_option(c, level, name) == 0
    assert face.enum(c, ev) == {wspsan.FD_CONNECT: 0}
    del filler, full


@SO_ERROR_NUMBERINGS
def test_so_error_can_be_set(face: Face, level: int, name: int) -> None:
    # SPEC C2 (as Windows: Wine's test_set_getsockopt), C6
    s, target = face.listener()
    c = face.socket()
    face.set_option(c, level, name, 12345)
    assert face.get_option(c, level, name) == 12345
    assert face.get_option(c, level, name) == 12345
    face.set_option(c, level, name, wspsan.WSAECONNRESET)
    assert face.get_option(c, level, name) == wspsan.WSAECONNRESET
    assert face.get_option(c, wspsan.SOL_SOCKET, wspsan.SO_ERROR) == wspsan.WSAECONNRESET  # one option
    face.set_nonblocking(c)
    assert face.connect(c, target) == wspsan.WSAEWOULDBLOCK  # a queued attempt clears it
    assert face.get_option(c, level, name) == 0
    face.set_option(s, level, name, -1)  # any value, on any socket
    assert face.get_option(s, level, name) == -1

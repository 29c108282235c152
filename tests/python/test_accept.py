"""WSPAccept and condition functions written in Python (SPEC A1 to A15)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import wspsan
from wspsan import wsp
from faces import CFace, Face
from helpers import HOST, Background, connect_result, listener, pending


def test_closed_or_not_listening() -> None:
    # SPEC A1
    p = wspsan.Provider()
    s = listener(p)
    s.close()
    with pytest.raises(wspsan.NotASocketError):
        s.accept()
    bound = p.socket()
    bound.bind((HOST, 0))
    with pytest.raises(wspsan.InvalidArgumentError):
        bound.accept()
    with pytest.raises(wspsan.InvalidArgumentError):
        p.socket().accept()


def test_empty_queue() -> None:
    # SPEC A2
    p = wspsan.Provider()
    s = listener(p)
    s.setblocking(False)
    with pytest.raises(BlockingIOError):
        s.accept()
    s.setblocking(True)
    with pytest.raises(wspsan.TimedOutError):
        s.accept(timeout=0.05)  # the Python API's timeout
    blocked = Background(lambda: s.accept())
    time.sleep(0.1)
    assert not blocked.done()
    c = pending(p, s.getsockname())
    a, peer = blocked.join()
    assert peer == c.getsockname()


def test_blocked_accept_wakes_on_close_and_network_down() -> None:
    # SPEC A2, K2
    p = wspsan.Provider()
    s = listener(p)
    blocked = Background(lambda: s.accept())
    time.sleep(0.1)
    s.close()
    with pytest.raises(InterruptedError):
        blocked.join()
    s2 = listener(p)
    blocked = Background(lambda: s2.accept())
    time.sleep(0.1)
    p.device.network_down = True
    with pytest.raises(wspsan.NetworkDownError):
        blocked.join()


def test_condition_arguments() -> None:
    # SPEC A5
    p = wspsan.Provider(max_callee_data=100)
    s = listener(p, 4, (HOST, 5555))
    plain = pending(p, (HOST, 5555))
    qos = wspsan.Qos(receiving=wspsan.FlowSpec(peak_bandwidth=7))
    rich = pending(p, (HOST, 5555), b"data", qos)
    expected = [(plain.getsockname(), None, None), (rich.getsockname(), b"data", qos)]
    token = object()
    seen: list[Any] = []

    def condition(r: wspsan.ConditionRequest) -> int:
        seen.append((r.caller_address, r.caller_data, r.qos))
        assert r.callee_address == (HOST, 5555)
        assert r.callback_data is token
        assert r.callee_data == b"" and r.callee_data_capacity == 100
        assert r.group == 0
        assert threading.current_thread() is threading.main_thread()  # runs on the calling thread
        return wspsan.CF_ACCEPT

    accepted = [s.accept(condition, token), s.accept(condition, callback_data=token)]
    assert seen == expected
    del accepted


def test_condition_runs_with_no_provider_lock_held() -> None:
    # SPEC A5, T1: another thread can use the provider (even this listener) meanwhile
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    other: list[Any] = []

    def condition(r: wspsan.ConditionRequest) -> int:
        def elsewhere() -> None:
            extra = p.socket()
            extra.setblocking(False)
            other.append((extra.connect_ex(s.getsockname()), s.stats().queue_len, extra))

        t = threading.Thread(target=elsewhere)
        t.start()
        t.join(5)
        return wspsan.CF_ACCEPT

    a, _ = s.accept(condition)
    assert other[0][:2] == (wspsan.WSAEWOULDBLOCK, 2)  # the examined request still counts
    del a, c


def test_no_condition_accepts() -> None:
    # SPEC A6
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname(), b"ignored")
    a, peer = s.accept(None)
    assert peer == c.getsockname() and connect_result(c) == 0
    assert c.callee_data() == b""


def test_accept_creates_a_connected_socket_with_the_listeners_options() -> None:
    # SPEC A7
    p = wspsan.Provider()
    s = listener(p)
    s.setsockopt(wspsan.SOL_SOCKET, wspsan.SO_SNDBUF, 1234)
    s.setblocking(False)
    c = pending(p, s.getsockname())
    a, peer = s.accept(lambda r: wspsan.CF_ACCEPT)
    assert a.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_SNDBUF) == 1234
    assert not a.getblocking()
    assert a.getpeername() == peer == c.getsockname()
    with pytest.raises(wspsan.AlreadyConnectedError):
        a.listen(1)  # it cannot listen itself
    with pytest.raises(wspsan.InvalidArgumentError):
        a.accept()
    assert s.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN) == 1  # the listener stays
    assert connect_result(c) == 0
    assert a.descriptor not in (s.descriptor, c.descriptor)


def test_reject() -> None:
    # SPEC A8
    p = wspsan.Provider()
    s = listener(p)
    c = p.socket()
    blocked = Background(lambda: c.connect(s.getsockname()))
    while s.stats().queue_len == 0:
        time.sleep(0.005)
    with pytest.raises(wspsan.ConnectRefusedError) as info:
        s.accept(lambda r: wspsan.CF_REJECT)
    assert info.value.address == c.getsockname()
    with pytest.raises(ConnectionRefusedError):
        blocked.join()
    assert s.stats().queue_len == 0 and s.stats().rejected == 1


def test_defer_keeps_the_request_first() -> None:
    # SPEC A9
    p = wspsan.Provider()
    s = listener(p)
    first = pending(p, s.getsockname(), b"first")
    second = pending(p, s.getsockname(), b"second")
    seen: list[bytes | None] = []

    def defer(r: wspsan.ConditionRequest) -> int:
        seen.append(r.caller_data)
        return wspsan.CF.DEFER

    for _ in range(3):
        with pytest.raises(wspsan.RequestDeferredError) as info:
            s.accept(defer)
        assert info.value.address == first.getsockname()
    assert seen == [b"first"] * 3
    assert connect_result(first) is None  # the connector keeps waiting
    with pytest.raises(wspsan.NotConnectedError):
        first.getpeername()
    a, peer = s.accept()
    assert peer == first.getsockname()
    assert s.stats().deferred == 3
    del second, a


@pytest.mark.parametrize("answer", [3, -1, 2**40, None, "accept", 0.0, True, False, wspsan.CF])
def test_other_answers_are_invalid_and_refuse(answer: object) -> None:
    # SPEC A10 (bool is refused too: returning True is a likely mistake, not CF_REJECT)
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    with pytest.raises(wspsan.InvalidArgumentError) as info:
        s.accept(lambda r: answer)
    assert info.value.address == c.getsockname()
    # The message says what was expected and what came back.
    assert "expected CF_ACCEPT (0), CF_REJECT (1) or CF_DEFER (2)" in str(info.value)
    assert f"returned {answer!r} ({type(answer).__name__})" in str(info.value)
    assert connect_result(c) == wspsan.WSAECONNREFUSED
    assert s.stats().queue_len == 0


def test_an_invalid_answer_with_a_huge_repr_is_shortened() -> None:
    # SPEC A10
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    with pytest.raises(wspsan.InvalidArgumentError) as info:
        s.accept(lambda r: "x" * 10_000)
    assert "returned 'xxx" in str(info.value) and "x... (str)" in str(info.value)
    assert len(str(info.value)) < 400
    assert connect_result(c) == wspsan.WSAECONNREFUSED


def test_changing_the_group_is_invalid() -> None:
    # SPEC A10
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())

    def regroup(r: wspsan.ConditionRequest) -> int:
        r.group = 7
        return wspsan.CF_ACCEPT

    with pytest.raises(wspsan.InvalidArgumentError) as info:
        s.accept(regroup)
    assert "set request.group to 7; it must stay 0" in str(info.value)
    assert connect_result(c) == wspsan.WSAECONNREFUSED


def test_other_errors_of_an_accept_carry_no_answer_detail() -> None:
    # SPEC A1: not listening is WSAEINVAL too, with the plain message.
    p = wspsan.Provider()
    with p.socket() as s, pytest.raises(wspsan.InvalidArgumentError) as info:
        s.accept(lambda r: wspsan.CF_ACCEPT)
    assert "CF_ACCEPT" not in str(info.value)


def test_no_descriptor_or_no_memory_keeps_the_request() -> None:
    # SPEC A11
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    p.device.buffer_exhaustion = True
    with pytest.raises(wspsan.NoBufferSpaceError):
        s.accept()
    p.device.buffer_exhaustion = False
    p.device.descriptor_limit = p.stats().open_sockets
    with pytest.raises(wspsan.TooManySocketsError):
        s.accept(lambda r: wspsan.CF_ACCEPT)
    p.device.descriptor_limit = None
    a, peer = s.accept()
    assert peer == c.getsockname()


def test_withdrawn_request_fails_the_accept_that_reaches_it() -> None:
    # SPEC A12
    p = wspsan.Provider()
    s = listener(p)
    gone = pending(p, s.getsockname())
    stays = pending(p, s.getsockname())
    gone_address = gone.getsockname()
    del gone  # collected: closed, its request withdrawn
    assert s.stats().queue_len == 2  # stays queued until accept reaches it
    with pytest.raises(wspsan.AccessDeniedError) as info:
        s.accept(lambda r: pytest.fail("a withdrawn request is not shown to the condition"))
    assert info.value.address == gone_address
    a, peer = s.accept()
    assert peer == stays.getsockname()


def test_failed_accept_names_the_examined_request() -> None:
    # SPEC A13 (the Python API puts it on the exception's `address`)
    p = wspsan.Provider()
    s = listener(p)
    s.setblocking(False)
    with pytest.raises(wspsan.WouldBlockError) as nothing:
        s.accept()
    assert nothing.value.address is None
    c = pending(p, s.getsockname())
    for answer, error in ((wspsan.CF_DEFER, wspsan.RequestDeferredError), (9, wspsan.InvalidArgumentError)):
        with pytest.raises(error) as info:
            s.accept(lambda r: answer)
        assert info.value.address == c.getsockname()


def test_calls_from_inside_the_condition_fail_in_progress() -> None:
    # SPEC A14
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    errors: list[int] = []

    def nested(r: wspsan.ConditionRequest) -> int:
        for call in (p.socket, lambda: s.listen(3), lambda: s.getsockname(), lambda: c.close(), lambda: s.accept()):
            try:
                call()
            except wspsan.OperationInProgressError as e:
                errors.append(e.winerror)
        return wspsan.CF_ACCEPT

    a, _ = s.accept(nested)
    assert errors == [wspsan.WSAEINPROGRESS] * 5
    assert connect_result(c) == 0


def test_names_of_both_ends() -> None:
    # SPEC A15
    p = wspsan.Provider()
    s = listener(p, 4, (HOST, 6100))
    c = pending(p, (HOST, 6100))
    with pytest.raises(wspsan.NotConnectedError):
        c.getpeername()  # pending connect
    a, peer = s.accept()
    assert a.getsockname() == (HOST, 6100)
    assert a.getpeername() == c.getsockname() == peer
    assert c.getpeername() == (HOST, 6100)
    with pytest.raises(wspsan.InvalidArgumentError):
        p.socket().getsockname()
    with pytest.raises(wspsan.NotConnectedError):
        s.getpeername()


class Boom(Exception):
    pass


def test_condition_exception_propagates_and_the_request_stays() -> None:
    # SPEC A9 (the Python API: an exception in the condition leaves the request at the head)
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname(), b"x")
    calls = []

    def explode(r: wspsan.ConditionRequest) -> int:
        calls.append(r.caller_data)
        raise Boom("no decision")

    with pytest.raises(Boom, match="no decision"):
        s.accept(explode)
    assert s.stats().queue_len == 1
    assert connect_result(c) is None  # still waiting
    a, peer = s.accept(lambda r: wspsan.CF_ACCEPT)
    assert peer == c.getsockname() and calls == [b"x"]
    assert s.stats().deferred == 0 and s.stats().accepted == 1


def test_condition_exception_keeps_fd_accept_armed() -> None:
    # SPEC E2: the request went back as never examined
    p = wspsan.Provider()
    s = listener(p)
    ev = wspsan.Event()
    s.event_select(ev, wspsan.FD_ACCEPT)
    c = pending(p, s.getsockname())
    s.enum_network_events(ev)
    with pytest.raises(ZeroDivisionError):
        s.accept(lambda r: 1 // 0)
    assert ev.is_set()
    del c


def test_another_provider_is_usable_from_the_condition() -> None:
    # SPEC A14 (the re-entry rule is per provider: providers are independent, section 0)
    p, other = wspsan.Provider(), wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    made: list[wspsan.Socket] = []

    def condition(r: wspsan.ConditionRequest) -> int:
        made.append(other.socket())
        with pytest.raises(wspsan.OperationInProgressError):
            p.socket()
        return wspsan.CF_ACCEPT

    a, _ = s.accept(condition)
    assert len(made) == 1 and connect_result(c) == 0


def test_a_raising_condition_abandons_the_accept_on_both_faces(face: Face) -> None:
    # SPEC A9, E2 (decided: a condition that raises gave no answer; the accept is abandoned,
    # not deferred, through Socket.accept and through wspsan.wsp alike): the exception
    # propagates, the request stays first and is not counted as deferred, and FD_ACCEPT is
    # recorded again so an event loop is woken to retry (after CF_DEFER it would not be)
    s, target = face.listener()
    ev = wspsan.Event()
    face.select(s, ev, wspsan.FD_ACCEPT)
    first, second = face.pending(target), face.pending(target)
    assert face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}
    seen: list[tuple[str, int]] = []

    def explode(r: wspsan.ConditionRequest) -> int:
        seen.append(r.caller_address)
        raise Boom("no decision")

    with pytest.raises(Boom, match="no decision"):
        face.accept(s, explode)
    stats = face.stats(s)
    assert (stats.queue_len, stats.deferred, stats.rejected, stats.accepted) == (2, 0, 0, 0)
    assert ev.is_set() and face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}

    def take(r: wspsan.ConditionRequest) -> int:
        seen.append(r.caller_address)
        return wspsan.CF_ACCEPT

    a, err = face.accept(s, take)
    assert err == 0 and a is not None
    assert seen == [face.name(first), face.name(first)]  # the same request, first again
    assert face.get_option(first, wspsan.SOL_SOCKET, wspsan.SO_ERROR) == 0
    del second


@pytest.mark.parametrize("answer", [True, 7])
def test_an_invalid_answer_through_wsp_says_what_was_expected(answer: object) -> None:
    # SPEC A10 through the C ABI mirror: WSAEINVAL, and the error detail says what the condition
    # returned and that a CF_* value was expected, as Socket.accept's exception does
    assert wsp.WSPStartup()[0] == 0
    try:
        face = CFace()
        s, target = face.listener()
        face.pending(target)
        a, err, _, _ = wsp.WSPAccept(s, lambda r: answer)
        assert (a, err) == (wspsan.INVALID_SOCKET, wspsan.WSAEINVAL)
        message = wsp.last_error_message()
        assert "expected CF_ACCEPT (0), CF_REJECT (1) or CF_DEFER (2)" in message
        assert f"returned {answer!r}" in message
    finally:
        wsp.WSPCleanup()

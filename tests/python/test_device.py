"""The device: limits, fault switches, statistics (SPEC section 3), and provider isolation."""

from __future__ import annotations

import time

import pytest

import wspsan
from helpers import HOST, Background, connect_result, listener, pending


def test_default_limits() -> None:
    # SPEC D1
    limits = wspsan.Provider().device.limits
    assert limits.max_descriptors == 65536
    assert limits.max_backlog == 4096
    assert limits.max_caller_data == 256
    assert limits.max_callee_data == 256
    assert limits.max_pending == 1 << 20
    assert limits.connect_timeout is None
    assert wspsan.Provider().device.nics == [HOST]


def test_limits_set_at_creation_and_at_run_time() -> None:
    # SPEC D1
    p = wspsan.Provider(nics=("10.0.0.1", "10.0.0.2"), max_backlog=16, connect_timeout=1.5)
    assert p.device.nics == ["10.0.0.1", "10.0.0.2"]
    assert p.device.limits.max_backlog == 16
    assert p.device.limits.connect_timeout == 1.5
    p.device.set_limits(max_caller_data=8, connect_timeout=None)
    assert p.device.limits.max_caller_data == 8
    assert p.device.limits.max_backlog == 16
    assert p.device.connect_timeout is None
    # decided: connect-data limits are clamped to 64 KiB (an accept allocates the callee buffer)
    p.device.set_limits(max_caller_data=2**32 - 1, max_callee_data=10**9)
    assert (p.device.limits.max_caller_data, p.device.limits.max_callee_data) == (65536, 65536)
    assert wspsan.Provider(max_callee_data=10**6).device.limits.max_callee_data == 65536
    p.device.add_nic("10.0.0.3")
    p.device.remove_nic("10.0.0.1")
    assert p.device.nics == ["10.0.0.2", "10.0.0.3"]
    with pytest.raises(wspsan.InvalidArgumentError):
        p.device.add_nic("10.0.0.2")
    with pytest.raises(wspsan.InvalidArgumentError):
        p.device.add_nic("0.0.0.0")
    with pytest.raises(wspsan.AddressNotAvailableError):
        p.device.remove_nic("10.0.0.1")


@pytest.mark.parametrize("nics", [["0.0.0.0"], [HOST, "10.0.0.1", HOST], [""]])
def test_nic_list_is_checked(nics: list[str]) -> None:
    # SPEC D1 (decided: Provider(nics=...) follows the rule of Device.add_nic: 0.0.0.0 or an
    # address given twice is WSAEINVAL, raised as InvalidArgumentError)
    with pytest.raises(wspsan.InvalidArgumentError):
        wspsan.Provider(nics=nics)


def test_descriptor_limit() -> None:
    # SPEC D1, S1: at the limit, WSAEMFILE
    p = wspsan.Provider(max_descriptors=2)
    a, b = p.socket(), p.socket()
    with pytest.raises(wspsan.TooManySocketsError):
        p.socket()
    a.close()
    c = p.socket()
    assert p.stats().open_sockets == 2
    del b, c


def test_pending_request_limit_of_the_device() -> None:
    # SPEC D1: at most max_pending requests on the whole device
    p = wspsan.Provider(max_pending=1)
    s = listener(p)
    first = pending(p, s.getsockname())
    second = p.socket()
    with pytest.raises(wspsan.NoBufferSpaceError):
        second.connect(s.getsockname())
    assert p.stats().pending == 1
    s.accept()
    second.setblocking(False)
    assert second.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK
    del first


def test_network_down_fails_every_call_and_wakes_blocked_ones() -> None:
    # SPEC D2
    p = wspsan.Provider()
    s = listener(p)
    c = p.socket()
    blocked_accept = Background(lambda: s.accept())
    other = listener(p)
    blocked_connect = Background(lambda: c.connect(other.getsockname()))
    time.sleep(0.1)
    p.device.network_down = True
    assert p.device.network_down
    with pytest.raises(wspsan.NetworkDownError):
        blocked_accept.join()
    with pytest.raises(wspsan.NetworkDownError):
        blocked_connect.join()
    for call in (p.socket, lambda: s.listen(3), lambda: s.getsockname(), lambda: c.close(), lambda: s.accept()):
        with pytest.raises(wspsan.NetworkDownError):
            call()
    assert p.stats().open_sockets == 3  # statistics stay readable
    p.device.network_down = False
    assert s.getsockname()[0] == HOST
    # the connect that was woken was withdrawn: accept sees it withdrawn (A12)
    with pytest.raises(wspsan.AccessDeniedError):
        other.accept()


def test_buffer_exhaustion() -> None:
    # SPEC D2: allocating a socket or a pending request fails with WSAENOBUFS
    p = wspsan.Provider()
    s = listener(p)
    c = p.socket()
    p.device.buffer_exhaustion = True
    with pytest.raises(wspsan.NoBufferSpaceError):
        p.socket()
    with pytest.raises(wspsan.NoBufferSpaceError):
        c.connect(s.getsockname())
    p.device.buffer_exhaustion = False
    c.setblocking(False)
    assert c.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK


def test_descriptor_exhaustion_switch() -> None:
    # SPEC D2: a lower descriptor limit on top of max_descriptors
    p = wspsan.Provider()
    a = p.socket()
    p.device.descriptor_limit = 1
    assert p.device.descriptor_limit == 1
    with pytest.raises(wspsan.TooManySocketsError):
        p.socket()
    p.device.descriptor_limit = None
    b = p.socket()
    del a, b


def test_connect_timeout_withdraws_an_unanswered_request() -> None:
    # SPEC D2, C2, A12
    p = wspsan.Provider(connect_timeout=0.1)
    s = listener(p)
    c = p.socket()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        c.connect(s.getsockname())
    assert time.monotonic() - started >= 0.09
    nb = pending(p, s.getsockname())
    time.sleep(0.3)
    assert connect_result(nb) == wspsan.WSAETIMEDOUT
    with pytest.raises(wspsan.AccessDeniedError):
        s.accept()
    with pytest.raises(wspsan.AccessDeniedError):
        s.accept()
    assert p.stats().timed_out == 2
    assert s.stats().withdrawn == 2


def test_wildcard_switch() -> None:
    # SPEC B2: the device option turns wildcard binds off
    p = wspsan.Provider(wildcard_bind=False)
    assert not p.device.wildcard_bind
    with pytest.raises(wspsan.AddressNotAvailableError):
        p.socket().bind(("0.0.0.0", 5000))
    p.device.wildcard_bind = True
    p.socket().bind(("0.0.0.0", 5000))


def test_statistics_per_listener_and_device() -> None:
    # SPEC D3
    p = wspsan.Provider()
    s = listener(p, 2)
    target = s.getsockname()
    a = pending(p, target)
    b = pending(p, target)
    full = p.socket()
    with pytest.raises(wspsan.ConnectRefusedError):
        full.connect(target)  # L7: refused, never queued
    with pytest.raises(wspsan.RequestDeferredError):
        s.accept(lambda r: wspsan.CF_DEFER)
    s.accept(lambda r: wspsan.CF_ACCEPT)
    with pytest.raises(wspsan.ConnectRefusedError):
        s.accept(lambda r: wspsan.CF_REJECT)
    c = pending(p, target)
    d = pending(p, target)
    s.listen(1)  # L6: d is reset
    c.close()  # withdrawn, removed by the next accept
    with pytest.raises(wspsan.AccessDeniedError):
        s.accept()
    e = pending(p, target)
    with pytest.raises(ConnectionRefusedError):
        p.socket().connect((HOST, 1))
    stats = s.stats()
    assert stats.as_dict() == {
        "queued": 5,
        "accepted": 1,
        "rejected": 1,
        "deferred": 1,
        "refused_full": 1,
        "reset": 1,
        "withdrawn": 1,
        "refused_by_close": 0,
        "queue_len": 1,
        "backlog": 1,
    }
    s.close()  # K2: e is refused by the close
    total = p.stats()
    assert total.queued == 5 and total.refused_by_close == 1 and total.queue_len == 0 and total.backlog == 0
    assert total.refused_no_listener == 1
    assert total.pending == 0
    assert total.queued == (
        total.accepted + total.rejected + total.reset + total.withdrawn + total.refused_by_close + total.queue_len
    )
    with pytest.raises(wspsan.NotASocketError):
        s.stats()
    with pytest.raises(wspsan.InvalidArgumentError):
        p.socket().stats()
    del a, b, d, e


def test_two_providers_are_isolated() -> None:
    # SPEC section 0: providers never see each other's sockets
    one, two = wspsan.Provider(), wspsan.Provider()
    s1 = listener(one, 4, (HOST, 5000))
    s2 = listener(two, 4, (HOST, 5000))  # same address, other device: no conflict
    c = pending(one, (HOST, 5000))
    assert s1.stats().queue_len == 1 and s2.stats().queue_len == 0
    one.device.network_down = True
    assert s2.getsockname() == (HOST, 5000)
    assert two.stats().open_sockets == 1
    one.device.network_down = False
    del c

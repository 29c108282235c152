"""WSPSocket and WSPBind (SPEC S1, B1, B2)."""

from __future__ import annotations

import pytest

import wspsan
from helpers import HOST, listener, pending


def test_socket_arguments() -> None:
    # SPEC S1
    p = wspsan.Provider()
    with pytest.raises(wspsan.AddressFamilyNotSupportedError):
        p.socket(family=23)
    with pytest.raises(wspsan.SocketTypeNotSupportedError):
        p.socket(type=2)
    with pytest.raises(wspsan.ProtocolNotSupportedError):
        p.socket(proto=17)
    s = p.socket(wspsan.AF_INET, wspsan.SOCK_STREAM, wspsan.IPPROTO_TCP)
    assert s.getblocking()  # sockets start blocking
    assert s.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_TYPE) == wspsan.SOCK_STREAM


def test_socket_at_the_descriptor_limit() -> None:
    # SPEC S1
    p = wspsan.Provider(max_descriptors=1)
    s = p.socket()
    with pytest.raises(wspsan.TooManySocketsError):
        p.socket()
    s.close()
    p.socket()


def test_descriptors_are_never_reused() -> None:
    # SPEC section 0, K1
    p = wspsan.Provider()
    seen = set()
    for _ in range(100):
        s = p.socket()
        assert s.descriptor not in (0, wspsan.INVALID_SOCKET)
        assert s.descriptor not in seen
        seen.add(s.descriptor)
        s.close()


def test_bind_errors() -> None:
    # SPEC B1
    p = wspsan.Provider()
    s = p.socket()
    with pytest.raises(wspsan.AddressNotAvailableError):
        s.bind(("10.9.9.9", 5000))
    s.bind((HOST, 5000))
    with pytest.raises(wspsan.InvalidArgumentError):
        s.bind((HOST, 5001))  # already bound
    with pytest.raises(wspsan.AddressInUseError):
        p.socket().bind((HOST, 5000))
    assert s.getsockname() == (HOST, 5000)


def test_wildcard_conflicts_both_ways() -> None:
    # SPEC B1
    p = wspsan.Provider(nics=(HOST, "10.0.0.1"))
    nic = p.socket()  # kept: a socket that is garbage-collected is closed
    nic.bind(("10.0.0.1", 6000))
    with pytest.raises(wspsan.AddressInUseError):
        p.socket().bind(("0.0.0.0", 6000))
    w = p.socket()
    w.bind(("0.0.0.0", 6002))
    for ip in (HOST, "10.0.0.1"):
        with pytest.raises(wspsan.AddressInUseError):
            p.socket().bind((ip, 6002))
    # different ports never conflict, nor the same port on two NICs
    a, b = p.socket(), p.socket()
    a.bind((HOST, 6003))
    b.bind(("10.0.0.1", 6003))


def test_port_zero_takes_an_ephemeral_port() -> None:
    # SPEC B1
    p = wspsan.Provider()
    ports = set()
    socks = []
    for _ in range(20):
        s = p.socket()
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        assert 49152 <= port <= 65535
        ports.add(port)
        socks.append(s)
    assert len(ports) == 20


def test_ephemeral_ports_are_handed_out_in_order() -> None:
    # SPEC B1 (decided: in order from 49152 on a new device, skipping ports in use; a freed port
    # comes back only after the rest of the range)
    p = wspsan.Provider()

    def port_zero() -> tuple[wspsan.Socket, int]:
        s = p.socket()
        s.bind((HOST, 0))
        return s, s.getsockname()[1]

    first, port = port_zero()
    assert port == 49152
    taken = p.socket()
    taken.bind((HOST, 49154))
    kept = [port_zero(), port_zero()]
    assert [k[1] for k in kept] == [49153, 49155]
    first.close()
    assert port_zero()[1] == 49156


def test_wildcard_listener_serves_every_nic() -> None:
    # SPEC B2
    p = wspsan.Provider(nics=(HOST, "10.0.0.1"))
    s = listener(p, 8, ("0.0.0.0", 7000))
    assert s.getsockname() == ("0.0.0.0", 7000)
    c1 = pending(p, (HOST, 7000))
    c2 = pending(p, ("10.0.0.1", 7000))
    callees = []

    def note(r: wspsan.ConditionRequest) -> int:
        callees.append(r.callee_address)
        return wspsan.CF_ACCEPT

    a1, _ = s.accept(note)
    a2, _ = s.accept(note)
    assert callees == [(HOST, 7000), ("10.0.0.1", 7000)]
    assert a1.getsockname() == (HOST, 7000)  # the NIC the request was addressed to
    assert a2.getsockname() == ("10.0.0.1", 7000)
    assert c2.getpeername() == ("10.0.0.1", 7000)
    assert c1.getsockname()[0] == HOST and c2.getsockname()[0] == "10.0.0.1"


def test_wildcard_bind_switched_off() -> None:
    # SPEC B2
    p = wspsan.Provider()
    p.device.wildcard_bind = False
    with pytest.raises(wspsan.AddressNotAvailableError):
        p.socket().bind(("0.0.0.0", 0))


@pytest.mark.parametrize(
    ("level", "optname", "error"),
    [
        (wspsan.SOL_SOCKET, 0x4242, wspsan.OptionNotSupportedError),  # an unknown option at a known level
        (wspsan.IPPROTO_TCP, 0x4242, wspsan.OptionNotSupportedError),
        (0x1234, wspsan.SO_TYPE, wspsan.InvalidArgumentError),  # an unknown level (as Windows)
    ],
    ids=["unknown-option", "unknown-tcp-option", "unknown-level"],
)
def test_option_checks_come_in_the_order_of_every_call(level: int, optname: int, error: type[Exception]) -> None:
    # SPEC L8, K1, D2, X4 (as through the C ABI): the device, then the socket, then the level and
    # the option
    p = wspsan.Provider()
    s = p.socket()
    with pytest.raises(error):
        s.getsockopt(level, optname)
    with pytest.raises(error):
        s.setsockopt(level, optname, 1)
    p.device.network_down = True
    with pytest.raises(wspsan.NetworkDownError):
        s.getsockopt(level, optname)
    with pytest.raises(wspsan.NetworkDownError):
        s.setsockopt(level, optname, 1)
    p.device.network_down = False
    s.close()
    with pytest.raises(wspsan.NotASocketError):
        s.getsockopt(level, optname)
    with pytest.raises(wspsan.NotASocketError):
        s.setsockopt(level, optname, 1)


def test_a_wildcard_bound_connector_is_named_by_its_nic_once_connected() -> None:
    # SPEC A5, A15 (decided, as Windows): 0.0.0.0 until the connect completes, then the NIC it
    # connected to; the listener sees that NIC as the caller
    p = wspsan.Provider(nics=(HOST, "10.0.0.1"))
    lst = listener(p, 4, ("0.0.0.0", 6100))
    c = p.socket()
    c.bind(("0.0.0.0", 6101))
    c.setblocking(False)
    with pytest.raises(BlockingIOError):
        c.connect(("10.0.0.1", 6100))
    assert c.getsockname() == ("0.0.0.0", 6101)
    a, peer = lst.accept()
    assert peer == ("10.0.0.1", 6101)
    assert c.getsockname() == ("10.0.0.1", 6101)
    assert a.getpeername() == ("10.0.0.1", 6101)
    assert a.getsockname() == ("10.0.0.1", 6100)

"""SPEC section 11 through the Python face: the in-process fabric (F1) and the TCP fabric between
providers of this process on loopback addresses (F2, F4-F9, F11). Cross-process cases live in
test_cross_process.py. Every test uses addresses and a fabric port of its own."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

import wspsan
from helpers import DEADLINE, Background, answered, listener, pending, until


def refusal(client: wspsan.Provider, target: tuple[str, int]) -> int:
    """A non-blocking connect that is refused: at once on the in-process fabric (as on one
    device), after one round trip through FD_CONNECT across the TCP fabric (F5). Its code."""
    c = client.socket()
    c.setblocking(False)
    try:
        c.connect(target)
    except ConnectionRefusedError as e:
        assert e.errno is not None
        return e.errno
    except BlockingIOError:
        return answered(c)
    pytest.fail("a refused connect succeeded")


def welcome(req: wspsan.ConditionRequest) -> int:
    """Accept with callee data made from the caller data; reject "mallory"."""
    if req.caller_data == b"mallory":
        return wspsan.CF_REJECT
    req.callee_data = b"welcome, " + (req.caller_data or b"")
    return wspsan.CF_ACCEPT


Hosts = tuple[wspsan.Provider, wspsan.Provider, str]


@pytest.fixture(params=["in-process", "tcp"])
def hosts(request: pytest.FixtureRequest) -> Iterator[Hosts]:
    """A server and a client provider on one fabric of each kind; the server's NIC address."""
    if request.param == "in-process":
        f = wspsan.Fabric()
        yield (
            wspsan.Provider(nics=("10.0.0.1",), fabric=f),
            wspsan.Provider(nics=("10.0.0.2",), fabric=f),
            "10.0.0.1",
        )
    else:
        yield (
            wspsan.Provider(nics=("127.0.31.1",), fabric="tcp", fabric_port=17931, liveness=1.0),
            wspsan.Provider(nics=("127.0.31.2",), fabric="tcp", fabric_port=17931, liveness=1.0),
            "127.0.31.1",
        )


# SPEC F1, F2, F6, C1, C5, A5, A15: a connect reaches another provider's listener with caller and
# callee data, on either fabric; names are the NICs of each side
def test_a_connect_reaches_another_providers_listener(hosts: Hosts) -> None:
    server, client, ip = hosts
    with listener(server, 4, (ip, 5000)) as l, client.socket() as c:
        bg = Background(lambda: c.connect((ip, 5000), caller_data=b"alice", timeout=DEADLINE))
        until(lambda: l.stats().queue_len == 1, "the request is queued")
        conn, peer = l.accept(welcome, timeout=DEADLINE)
        assert bg.join(DEADLINE) == b"welcome, alice"
        assert c.getsockname() == peer and peer[0] == client.device.nics[0]  # F2: its first NIC
        assert c.getpeername() == (ip, 5000) and conn.getpeername() == peer
        conn.close()


# SPEC F5, A8, L7, K2: refusals come back from the other provider at once, never by a timeout
def test_refusals_cross_the_fabric(hosts: Hosts) -> None:
    server, client, ip = hosts
    with listener(server, 1, (ip, 5000)) as l:
        c1 = pending(client, (ip, 5000), b"mallory")
        until(lambda: l.stats().queue_len == 1, "queued")
        assert refusal(client, (ip, 5000)) == wspsan.WSAECONNREFUSED  # L7: the queue of 1 is full
        with pytest.raises(wspsan.ConnectRefusedError):
            l.accept(welcome)
        assert answered(c1) == wspsan.WSAECONNREFUSED  # A8
        c3 = pending(client, (ip, 5000))
        until(lambda: l.stats().queue_len == 1, "queued")
    assert answered(c3) == wspsan.WSAECONNREFUSED  # K2: the listener closed
    with client.socket() as c4, pytest.raises(ConnectionRefusedError):
        c4.connect((ip, 5999), timeout=DEADLINE)  # C3: nobody listens on that port
    assert server.stats().pending == 0 and client.stats().pending == 0


# SPEC F6, A12, C7: a connector that withdraws makes the accept that reaches it fail with WSAEACCES
def test_a_withdrawn_request_fails_the_accept(hosts: Hosts) -> None:
    server, client, ip = hosts
    with listener(server, 4, (ip, 5000)) as l:
        c = pending(client, (ip, 5000))
        until(lambda: l.stats().queue_len == 1, "queued")
        c.close()
        # whether the withdrawal arrived before the accept or crossed its acceptance (F6)
        with pytest.raises(wspsan.AccessDeniedError):
            l.accept(welcome)
        assert l.stats().withdrawn == 1


# SPEC F1: a NIC address belongs to one provider on a fabric; a provider without one is alone
def test_addresses_belong_to_one_provider_of_a_fabric() -> None:
    f = wspsan.Fabric()
    a = wspsan.Provider(nics=("10.0.0.1",), fabric=f)
    with pytest.raises(wspsan.AddressInUseError):
        wspsan.Provider(nics=("10.0.0.9", "10.0.0.1"), fabric=f)
    b = wspsan.Provider(nics=("10.0.0.9",), fabric=f)
    with pytest.raises(wspsan.AddressInUseError):
        b.device.add_nic("10.0.0.1")
    with listener(a, 4, ("10.0.0.1", 5000)):
        alone = wspsan.Provider()
        with alone.socket() as c, pytest.raises(ConnectionRefusedError):
            c.connect(("10.0.0.1", 5000), timeout=DEADLINE)


# SPEC F1 (TCP): one device per NIC:fabric_port; it can be taken again as soon as its device is gone
def test_a_tcp_device_address_is_in_use_until_its_device_is_gone() -> None:
    first = wspsan.Provider(nics=("127.0.32.1",), fabric="tcp", fabric_port=17932)
    with pytest.raises(wspsan.AddressInUseError):
        wspsan.Provider(nics=("127.0.32.1",), fabric="tcp", fabric_port=17932)
    del first
    wspsan.Provider(nics=("127.0.32.1",), fabric="tcp", fabric_port=17932)


# SPEC F4: an address where no device accepts fabric peers is refused by its host
def test_nobody_at_the_address_is_refused() -> None:
    p = wspsan.Provider(nics=("127.0.33.2",), fabric="tcp", fabric_port=17933)
    with p.socket() as c, pytest.raises(ConnectionRefusedError):
        c.connect(("127.0.33.9", 5000), timeout=DEADLINE)
    c2 = pending(p, ("127.0.33.9", 5000))
    assert answered(c2) == wspsan.WSAECONNREFUSED


# SPEC F9, F11: matching keys connect; another key or none is refused and counted on both sides
@pytest.mark.parametrize(
    ("key", "ok"), [(b"blue", True), ("blue", True), (b"red", False), (None, False)], ids=["bytes", "str", "other", "none"]
)
def test_the_fabric_key(key: bytes | str | None, ok: bool) -> None:
    port = 17934 + (0 if ok else 1) + (2 if key is None else 0)
    net = 34 + (0 if ok else 1) + (2 if key is None else 0) + (4 if isinstance(key, str) else 0)
    server = wspsan.Provider(nics=(f"127.0.{net}.1",), fabric="tcp", fabric_port=port, fabric_key=b"blue")
    client = wspsan.Provider(nics=(f"127.0.{net}.2",), fabric="tcp", fabric_port=port, fabric_key=key)
    with listener(server, 4, (f"127.0.{net}.1", 5000)) as l:
        c = pending(client, (f"127.0.{net}.1", 5000))
        if ok:
            until(lambda: l.stats().queue_len == 1, "queued")
            conn, _ = l.accept(welcome)
            conn.close()
            assert answered(c) == 0
            assert client.stats().fabric_key_failures == 0
        else:
            assert answered(c) == wspsan.WSAECONNREFUSED
            assert client.stats().fabric_key_failures == 1
            until(lambda: server.stats().fabric_key_failures == 1, "counted by the server too")


# SPEC F11, F2: the fabric counters: one connection per device pair, requests both ways counted
def test_fabric_statistics() -> None:
    s = wspsan.Provider(nics=("127.0.40.1",), fabric="tcp", fabric_port=17940)
    c = wspsan.Provider(nics=("127.0.40.2",), fabric="tcp", fabric_port=17940)
    with listener(s, 8, ("127.0.40.1", 5000)) as l:
        for _ in range(3):
            x = pending(c, ("127.0.40.1", 5000))
            until(lambda: l.stats().queue_len == 1, "queued")
            conn, _ = l.accept()
            conn.close()
            assert answered(x) == 0
    st, ct = s.stats(), c.stats()
    assert (ct.fabric_requests_sent, st.fabric_requests_received) == (3, 3)
    assert (ct.fabric_connections_open, st.fabric_connections_open) == (1, 1)
    assert st.fabric_protocol_errors == st.fabric_key_failures == 0
    assert wspsan.Provider().stats().fabric_connections_open == 0  # off the TCP fabric: all 0


# SPEC F7: the liveness interval is the device's, settable; None off the TCP fabric
def test_liveness_is_settable() -> None:
    p = wspsan.Provider(nics=("127.0.41.1",), fabric="tcp", fabric_port=17941, liveness=0.25)
    assert p.device.liveness == 0.25
    p.device.liveness = 2.0
    assert p.device.liveness == 2.0
    alone = wspsan.Provider()
    assert alone.device.liveness is None
    with pytest.raises(wspsan.InvalidArgumentError):
        alone.device.liveness = 1.0


# SPEC F7, F8: a peer that sends garbage costs one connection and a counter; a peer that stalls in
# the middle of a frame is closed within the liveness interval; the device serves others throughout
def test_a_rogue_peer_costs_one_connection() -> None:
    s = wspsan.Provider(nics=("127.0.42.1",), fabric="tcp", fabric_port=17942, liveness=0.3)
    c = wspsan.Provider(nics=("127.0.42.2",), fabric="tcp", fabric_port=17942)
    with socket.create_connection(("127.0.42.1", 17942), timeout=DEADLINE) as rogue:
        rogue.sendall(b"GET / HTTP/1.1\r\n\r\n")
        rogue.settimeout(DEADLINE)
        while rogue.recv(4096):  # until the device closes it
            pass
    until(lambda: s.stats().fabric_protocol_errors == 1, "a protocol error counted")
    with socket.create_connection(("127.0.42.1", 17942), timeout=DEADLINE) as stall:
        stall.sendall(struct.pack(">I", 27))  # a frame that never comes
        stall.settimeout(DEADLINE)
        start = time.monotonic()
        while stall.recv(4096):
            pass
        assert time.monotonic() - start < DEADLINE
    until(lambda: s.stats().fabric_connections_lost == 2, "the stalled peer is lost")
    with listener(s, 4, ("127.0.42.1", 5000)) as l:
        x = pending(c, ("127.0.42.1", 5000))
        until(lambda: l.stats().queue_len == 1, "queued")
        conn, _ = l.accept()
        conn.close()
        assert answered(x) == 0


# SPEC F3 (Python takes the same settings as arguments): bad ones raise before anything is bound
def test_bad_fabric_arguments() -> None:
    with pytest.raises(TypeError):
        wspsan.Provider(fabric="udp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fabric_key"):
        wspsan.Provider(fabric_key=b"k")
    with pytest.raises(wspsan.AddressNotAvailableError):
        wspsan.Provider(nics=("192.0.2.1",), fabric="tcp", fabric_port=17943)  # not an address of this host


# SPEC F3: Provider.from_environment reads WSPSAN_* by the C ABI's rules (the same parser in core)
def test_a_provider_from_the_environment() -> None:
    env = {"WSPSAN_FABRIC": "tcp", "WSPSAN_NICS": "127.0.44.1,127.0.44.2", "WSPSAN_FABRIC_PORT": "17944"}
    p = wspsan.Provider.from_environment(env, connect_timeout=2.0)
    assert p.device.nics == ["127.0.44.1", "127.0.44.2"] and p.device.liveness == 3.0
    assert p.device.limits.connect_timeout == 2.0
    assert wspsan.Provider.from_environment({}).device.nics == ["127.0.0.1"]  # alone, 127.0.0.1
    assert wspsan.Provider.from_environment({"WSPSAN_NICS": "10.1.1.1"}).device.liveness is None
    for bad, variable in [
        ({"WSPSAN_FABRIC": "udp"}, "WSPSAN_FABRIC"),
        ({"WSPSAN_NICS": "127.0.44.1,bogus"}, "WSPSAN_NICS"),
        ({"WSPSAN_FABRIC": "tcp", "WSPSAN_FABRIC_PORT": "70000"}, "WSPSAN_FABRIC_PORT"),
        ({"WSPSAN_FABRIC": "tcp", "WSPSAN_FABRIC_KEY": ""}, "WSPSAN_FABRIC_KEY"),
        ({"WSPSAN_FABRIC_KEY": "k"}, "WSPSAN_FABRIC_KEY"),
    ]:
        with pytest.raises(wspsan.InvalidArgumentError, match=variable):
            wspsan.Provider.from_environment(bad)

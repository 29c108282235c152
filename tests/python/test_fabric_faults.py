"""SPEC section 11 under faults, through the Python face: an in-process fabric made with a fault
injector (`wspsan.Fabric(faults=True, seed=...)`) whose devices exchange connection-setup
messages through it. Lost, late, copied and reordered messages, and partitions, must still give
every connect exactly one outcome that both sides agree on (F6), by the connect timeout (D2) and
the liveness interval (F7), and the counters must say what was injected (F11). Every wait has a
deadline."""

from __future__ import annotations

import time

import pytest

import wspsan
from helpers import DEADLINE, Background, answered, connect_result, listener, pending, until


SERVER, CLIENT, OTHER = "10.0.0.1", "10.0.0.2", "10.0.0.3"
TARGET = (SERVER, 5000)


def settled(f: wspsan.Fabric) -> None:
    assert f.settle(DEADLINE), f"messages still on their way after {DEADLINE} s"


def injector(f: wspsan.Fabric) -> wspsan.FaultInjector:
    faults = f.faults
    assert faults is not None
    return faults


def fabric_stats(*providers: wspsan.Provider) -> dict[str, int]:
    """The fabric_* counters of `providers`, summed."""
    total: dict[str, int] = {}
    for p in providers:
        for k, v in p.stats().as_dict().items():
            if k.startswith("fabric_"):
                total[k] = total.get(k, 0) + v
    return total


# SPEC F1, F5, F11: the Python face of a fabric with faults; with every knob off it is a fabric
# like any other, only asynchronous (a non-blocking connect is answered, refusals too, by
# FD_CONNECT), and misuse of the knobs is refused
def test_a_fabric_with_faults_and_its_knobs() -> None:
    plain = wspsan.Fabric()
    assert plain.faults is None and plain.settle(0.0)
    assert wspsan.Provider([SERVER], fabric=plain).fabric_faults is None
    assert wspsan.Provider([CLIENT], fabric=plain).device.liveness is None
    with pytest.raises(ValueError):
        wspsan.Provider(liveness=1.0)  # no fabric liveness without fabric messages
    with pytest.raises(ValueError):
        wspsan.Fabric(seed=1)
    with pytest.raises(TypeError):
        wspsan.Fabric(faults=1)  # type: ignore[arg-type]

    mine = wspsan.FaultInjector(seed=5)
    f = wspsan.Fabric(faults=mine)
    assert f.faults == mine and f.faults != wspsan.FaultInjector(seed=5)
    with pytest.raises(ValueError):
        wspsan.Fabric(faults=mine, seed=5)
    server = wspsan.Provider([SERVER], fabric=f)
    client = wspsan.Provider([CLIENT], fabric=f, liveness=0.5)
    assert server.fabric_faults == mine and client.fabric_faults == mine
    tcp = wspsan.Provider(["127.0.61.1"], fabric="tcp", fabric_port=17961)
    assert server.device.liveness == tcp.device.liveness  # the default, as on the TCP fabric
    tcp_faults = tcp.fabric_faults  # a TCP device has an injector of its own, knobs off
    assert tcp_faults is not None and tcp_faults != mine and not tcp_faults.active
    assert client.device.liveness == pytest.approx(0.5)  # F7 on a fabric with faults, too
    server.device.liveness = 0.25
    assert server.device.liveness == pytest.approx(0.25)

    assert not mine.active and mine.stats() == wspsan.FaultInjector().stats()
    assert mine.stats().as_dict() == dict.fromkeys(("delayed", "dropped", "duplicated", "reordered", "partitioned"), 0)
    with pytest.raises(ValueError):
        mine.drop_next("requests")  # type: ignore[arg-type]
    with pytest.raises(wspsan.InvalidArgumentError):
        mine.drop_probability("request", 1.5)
    with pytest.raises(wspsan.InvalidArgumentError):
        mine.duplicate_probability(None, -0.1)
    with pytest.raises(wspsan.InvalidArgumentError):
        mine.delay("answer", 0.05, 0.02)  # min > max
    with pytest.raises(ValueError):
        mine.delay("answer", -1.0)
    with pytest.raises(wspsan.InvalidArgumentError):
        mine.partition("0.0.0.0", SERVER)
    with pytest.raises(TypeError):
        mine.heal(SERVER)  # both addresses or neither
    assert not mine.active, "a refused knob changes nothing"
    mine.delay("confirm", 0.001)
    mine.reorder(1)  # 1: keep the order, no knob
    assert mine.active
    mine.clear()
    assert not mine.active

    with listener(server, 4, TARGET) as l:
        c = pending(client, TARGET, b"hello")  # WSAEWOULDBLOCK, then FD_CONNECT
        until(lambda: l.stats().queue_len == 1, "the request is queued")
        conn, peer = l.accept(timeout=DEADLINE)
        assert answered(c) == 0 and c.getpeername() == TARGET and peer == c.getsockname()
        refused = client.socket()
        refused.setblocking(False)
        with pytest.raises(wspsan.WouldBlockError):
            refused.connect((SERVER, 5999))  # nobody listens there: refused by a message
        assert answered(refused) == wspsan.WSAECONNREFUSED
        with client.socket() as blocking, pytest.raises(wspsan.ConnectRefusedError):
            blocking.connect((SERVER, 5999), timeout=DEADLINE)
        settled(f)
        st = fabric_stats(server, client)
        assert st["fabric_requests_sent"] == st["fabric_requests_received"] == 3
        assert not any(v for k, v in st.items() if k.startswith("fabric_faults_")), "no knob, no fault"
        for s in (conn, c, refused):
            s.close()


# SPEC F6, F7, D2, A12, A13, README FX1: the answer to one request is lost; that connector times out and the
# accept that answered it fails with WSAEACCES, naming it, while the other connects complete
def test_a_lost_answer_times_out_one_connector_only() -> None:
    f = wspsan.Fabric(faults=True, seed=11)
    faults = injector(f)
    server = wspsan.Provider([SERVER], fabric=f, liveness=0.2)  # how long an acceptance waits
    victim = wspsan.Provider([CLIENT], fabric=f, connect_timeout=0.2)
    others = wspsan.Provider([OTHER], fabric=f)  # no connect timeout
    with listener(server, 8, TARGET) as l:
        lost = pending(victim, TARGET)
        until(lambda: l.stats().queue_len == 1, "the victim's request is queued first")
        fine = [pending(others, TARGET, bytes([i])) for i in range(3)]
        until(lambda: l.stats().queue_len == 4, "every request is queued")
        faults.drop_next("answer", 1)

        started = time.monotonic()
        with pytest.raises(wspsan.AccessDeniedError) as failed:
            l.accept(timeout=DEADLINE)
        assert failed.value.address == lost.getsockname()  # A13: the request it examined
        assert time.monotonic() - started < DEADLINE
        accepted = [l.accept(timeout=DEADLINE) for _ in fine]
        assert sorted(peer for _, peer in accepted) == sorted(c.getsockname() for c in fine)

        assert answered(lost) == wspsan.WSAETIMEDOUT
        assert [answered(c) for c in fine] == [0, 0, 0]
        assert all(c.getpeername() == TARGET for c in fine)
        settled(f)
        assert faults.stats().dropped == 1 and not faults.active, "a drop count that ran out is off"
        st = l.stats()
        assert (st.queued, st.accepted, st.withdrawn, st.queue_len) == (4, 3, 1, 0)
        assert victim.stats().timed_out == 1 and others.stats().timed_out == 0
        assert victim.stats().fabric_faults_dropped == 1
        assert server.stats().pending == victim.stats().pending == others.stats().pending == 0
        for conn, _ in accepted:
            conn.close()
        for c in [lost, *fine]:
            c.close()


# SPEC F7, D2, F11: two devices partitioned cannot reach each other (the connect times out,
# the listener never sees it) while a third still can; after heal they connect again
def test_a_partition_times_connects_out_until_healed() -> None:
    f = wspsan.Fabric(faults=True, seed=2)
    faults = injector(f)
    server = wspsan.Provider([SERVER], fabric=f)
    client = wspsan.Provider([CLIENT], fabric=f, connect_timeout=0.3)
    third = wspsan.Provider([OTHER], fabric=f)
    with listener(server, 8, TARGET) as l:
        faults.partition(CLIENT, SERVER)
        assert faults.active
        with client.socket() as c, pytest.raises(wspsan.TimedOutError):
            c.connect(TARGET, timeout=DEADLINE)
        assert client.stats().timed_out == 1
        assert faults.stats().partitioned >= 1  # the request (and the withdrawal after it)
        assert server.stats().fabric_faults_partitioned == faults.stats().partitioned

        with third.socket() as t:  # only the pair is cut off
            bg = Background(lambda: t.connect(TARGET, timeout=DEADLINE))
            conn, peer = l.accept(timeout=DEADLINE)
            bg.join(DEADLINE)
            assert peer == t.getsockname()
            conn.close()
        settled(f)
        assert l.stats().queued == 1, "the partitioned request never reached the listener"

        faults.heal(SERVER, CLIENT)  # either order names the pair
        assert not faults.active
        before = faults.stats().partitioned
        with client.socket() as c:
            bg = Background(lambda: c.connect(TARGET, caller_data=b"again", timeout=DEADLINE))
            conn, peer = l.accept(timeout=DEADLINE)
            bg.join(DEADLINE)
            assert peer == c.getsockname() and c.getpeername() == TARGET
            conn.close()

        faults.partition(SERVER, CLIENT)
        faults.heal()  # every partition
        with client.socket() as c:
            bg = Background(lambda: c.connect(TARGET, timeout=DEADLINE))
            conn, _ = l.accept(timeout=DEADLINE)
            bg.join(DEADLINE)
            conn.close()
        settled(f)
        assert faults.stats().partitioned == before, "nothing lost once healed"
        assert l.stats().accepted == 3 and client.stats().timed_out == 1


# SPEC F6, F11, README FX2: every message delivered twice; every connect still ends in exactly one outcome,
# the listener accepts each request once, and the copies are counted as stale
def test_duplicated_messages_give_one_outcome_each() -> None:
    f = wspsan.Fabric(faults=True, seed=3)
    faults = injector(f)
    server = wspsan.Provider([SERVER], fabric=f)
    client = wspsan.Provider([CLIENT], fabric=f)
    n = 6
    faults.duplicate_probability(None, 1.0)
    with listener(server, 16, TARGET) as l:
        conns = [pending(client, TARGET, bytes([i])) for i in range(n)]
        settled(f)
        assert l.stats().queue_len == n, "each request queued once, its copy ignored"
        accepted = [l.accept(timeout=DEADLINE) for _ in range(n)]
        assert sorted(peer for _, peer in accepted) == sorted(c.getsockname() for c in conns)
        assert [answered(c) for c in conns] == [0] * n
        settled(f)
        assert all(connect_result(c) is None for c in conns), "no second outcome for any connect"
        st = l.stats()
        assert (st.queued, st.accepted, st.withdrawn, st.rejected, st.queue_len) == (n, n, 0, 0, 0)
        assert client.stats().timed_out == 0 and client.stats().pending == 0
        fs = fabric_stats(server, client)
        assert fs["fabric_stale_messages"] > 0
        assert fs["fabric_requests_sent"] == fs["fabric_requests_received"] == n
        assert faults.stats().duplicated >= 3 * n  # requests, answers, confirmations at least
        assert server.stats().fabric_faults_duplicated == faults.stats().duplicated
        for conn, _ in accepted:
            conn.close()
        for c in conns:
            c.close()


# SPEC F6, F11: answers held back 20 to 50 ms and messages shuffled in windows of 4; every
# connect still succeeds, each with the acceptance made for it
def test_delayed_and_reordered_messages_still_connect() -> None:
    f = wspsan.Fabric(faults=True, seed=4)
    faults = injector(f)
    server = wspsan.Provider([SERVER], fabric=f)
    client = wspsan.Provider([CLIENT], fabric=f)
    n = 12
    faults.delay("answer", 0.020, 0.050)
    faults.reorder(4)
    with listener(server, 16, TARGET) as l:
        conns = [pending(client, TARGET, bytes([i])) for i in range(n)]
        until(lambda: l.stats().queue_len == n, "every request is queued")
        accepted = []
        for _ in range(n):
            started = time.monotonic()
            conn, peer = l.accept(timeout=DEADLINE)
            # the accept returns once the confirmation of its delayed answer arrived
            assert time.monotonic() - started >= 0.019
            accepted.append((conn, peer))
        assert sorted(peer for _, peer in accepted) == sorted(c.getsockname() for c in conns)
        assert [answered(c) for c in conns] == [0] * n
        settled(f)
        st = faults.stats()
        assert st.delayed >= n and st.reordered > 0 and st.dropped == 0
        assert l.stats().accepted == n and client.stats().timed_out == 0
        for conn, _ in accepted:
            conn.close()
        for c in conns:
            c.close()


def dropped_indices(f: wspsan.Fabric, client: wspsan.Provider, l: wspsan.Socket, count: int) -> list[int]:
    """Send `count` non-blocking connects one at a time, the fabric settled after each; the
    indices of those whose request never reached the listener."""
    dropped = []
    for i in range(count):
        before = l.stats().queued
        c = client.socket()
        c.setblocking(False)
        with pytest.raises(wspsan.WouldBlockError):
            c.connect(TARGET)
        settled(f)
        if l.stats().queued == before:
            dropped.append(i)
            assert connect_result(c) is None, "a lost request leaves its connector waiting"
        c.close()
    return dropped


def a_run(seed: int, count: int) -> tuple[list[int], list[int]]:
    """On a fresh fabric seeded with `seed`, requests dropped with probability 1/2: the dropped
    indices of `count` connects, then of `count` more after reseeding with the same seed."""
    f = wspsan.Fabric(faults=True, seed=seed)
    faults = injector(f)
    server = wspsan.Provider([SERVER], fabric=f)
    client = wspsan.Provider([CLIENT], fabric=f)
    faults.drop_probability("request", 0.5)
    with listener(server, 2 * count, TARGET) as l:
        first = dropped_indices(f, client, l, count)
        assert faults.stats().dropped == len(first) == client.stats().fabric_faults_dropped
        assert server.stats().fabric_requests_received == count - len(first)
        faults.reseed(seed)
        again = dropped_indices(f, client, l, count)
        settled(f)
    return first, again


# SPEC F11: the same seed and the same sequence of messages give the same faults, on a fresh
# fabric and after reseeding
def test_the_same_seed_drops_the_same_requests() -> None:
    count = 16
    first, again = a_run(1234, count)
    assert 0 < len(first) < count, "a probability of 1/2 drops some requests, not all"
    assert again == first, "reseeding replays the same decisions"
    assert a_run(1234, count) == (first, again), "a fresh fabric with the same seed decides the same"

"""SPEC section 11 across processes: the fabric examples (a C or Python server, C or Python clients)
in processes of their own, placed on the TCP fabric by WSPSAN_* in their environment alone (F3),
and the loss of a process killed with SIGKILL while the test's own device waits on it (F7).

Every test has its own fabric port (181xx) and its own 127.<net>.0.0/24 addresses, so the tests
run in any order; every wait has a deadline and every process a test starts is killed when it
ends. The C programs come from `make fabric-examples` (built with the sanitizers; py-test builds
them first).
"""

from __future__ import annotations

import re
import select
import sys
import time

import pytest

import wspsan
from fabric_processes import DEADLINE, PY_EXAMPLES, ROOT, clean_env, fabric_env, program, run, running
from helpers import Background

LIVENESS = 1.0  # the liveness interval of the test's own device (SPEC F7)
SLACK = 2.0  # what a loss may take beyond it on a loaded 2-core machine


def addr(net: int, host: int) -> str:
    return f"127.{net}.0.{host}"


def without_ports(lines: list[str]) -> list[str]:
    """Output lines with the connectors' ports (implicit binds, C4) left out."""
    return [re.sub(r"(\d+\.\d+\.\d+\.\d+):\d+ ", r"\1 ", line) for line in lines]


def client(kind: str, nic: str, port: int, target: str, data: str, expect: str = "0", key: str | None = None) -> str:
    """Run one client process to its end: its RESULT line (it must exit 0: the result was `expect`)."""
    status, out = run([*program(kind, "fabric_client"), target, data, expect], fabric_env(nic, port, key))
    assert status == 0, f"client {data!r} to {target} expected {expect}: status {status}, output {out!r}"
    return out


PAIRS = [
    pytest.param("c", "python", 31, 18101, id="C-server-Python-clients"),
    pytest.param("python", "c", 32, 18102, id="Python-server-C-clients"),
    pytest.param("python", "python", 33, 18103, id="Python-server-Python-clients"),
    pytest.param("c", "c", 34, 18104, id="C-server-C-clients"),
]


@pytest.mark.parametrize(("server_kind", "client_kind", "net", "port"), PAIRS)
def test_a_server_process_serves_client_processes(server_kind: str, client_kind: str, net: int, port: int) -> None:
    # SPEC F2 F3 F4 F5 F6, C4 C5 A5 A8 A9: caller and callee data cross processes, a conditional
    # reject and a refusal are WSAECONNREFUSED after one round trip, a deferred request waits
    server_ip, client_ip = addr(net, 1), addr(net, 2)
    target = f"{server_ip}:5000"
    with running([*program(server_kind, "fabric_server"), "5000", "3", "30"], fabric_env(server_ip, port)) as server:
        assert server.wait_for("READY") == f"READY {target}"
        assert client(client_kind, client_ip, port, target, "alice") == 'RESULT 0 OK callee data "welcome, alice"'
        refused = "RESULT 10061 WSAECONNREFUSED"
        assert client(client_kind, client_ip, port, target, "mallory", "WSAECONNREFUSED") == refused
        # F5: no listener on that port of the remote device; F4: no device at that address at all
        assert client(client_kind, client_ip, port, f"{server_ip}:5999", "anyone", "10061") == refused
        assert client(client_kind, client_ip, port, f"{addr(net, 9)}:5000", "anyone", "10061") == refused
        assert client(client_kind, client_ip, port, target, "slow") == 'RESULT 0 OK callee data "welcome, slow"'
        assert server.finish() == 0, server.lines
    assert without_ports(server.lines) == [
        f"READY {target}",
        f'ACCEPTED {client_ip} "alice" -> "welcome, alice"',  # F2: bound to the client's first NIC
        f'REJECTED {client_ip} "mallory"',
        f'DEFERRED {client_ip} "slow"',
        f'ACCEPTED {client_ip} "slow" -> "welcome, slow"',
        "DONE 3",
    ]


def test_the_fabric_key_is_read_from_the_environment() -> None:
    # SPEC F3 F9: devices of different processes talk only when they hold the same key
    server_ip, port, target = addr(35, 1), 18105, f"{addr(35, 1)}:5000"
    with running([*program("c", "fabric_server"), "5000", "1", "30"], fabric_env(server_ip, port, "blue")) as server:
        server.wait_for("READY")
        refused = "RESULT 10061 WSAECONNREFUSED"
        assert client("python", addr(35, 2), port, target, "eve", "WSAECONNREFUSED", key="red") == refused
        assert client("c", addr(35, 3), port, target, "eve", "WSAECONNREFUSED") == refused
        welcome = 'RESULT 0 OK callee data "welcome, bob"'
        assert client("python", addr(35, 4), port, target, "bob", key="blue") == welcome
        assert server.finish() == 0, server.lines
    assert without_ports(server.lines[-2:]) == [f'ACCEPTED {addr(35, 4)} "bob" -> "welcome, bob"', "DONE 1"]


def test_an_unparsable_environment_fails_the_startup() -> None:
    # SPEC F3: a value that cannot be parsed fails WSPStartup (WSAEINVAL) and names the variable
    env = fabric_env("127.36.0.1,bogus", 18106)
    status, out = run([*program("c", "fabric_server"), "5000", "1", "5"], env)
    assert status == 1 and "WSPSAN_NICS" in out and "WSAEINVAL" in out, out
    status, out = run([*program("python", "fabric_server"), "5000", "1", "5"], env)
    assert status == 1 and "WSPSAN_NICS" in out, out


# ---------------------------------------------------------------------------------------------
# F7: a process killed with SIGKILL. The kernel closes its fabric connections at once, so the
# test's device learns of the loss well within its liveness interval.


def own_device(ip: str, port: int) -> wspsan.Provider:
    return wspsan.Provider([ip], fabric="tcp", fabric_port=port, liveness=LIVENESS)


@pytest.mark.parametrize(("kind", "net", "port"), [("c", 41, 18111), ("python", 42, 18112)])
def test_killing_the_listening_process_resets_a_blocking_connect(kind: str, net: int, port: int) -> None:
    # SPEC F7, C2: the blocked connect fails with WSAECONNRESET within the liveness interval
    server_ip = addr(net, 1)
    me = own_device(addr(net, 2), port)
    with running([*program(kind, "fabric_server"), "5000", "1", "60"], fabric_env(server_ip, port)) as server:
        server.wait_for("READY")
        with me.socket() as s:
            waiting = Background(lambda: s.connect((server_ip, 5000), b"stall", timeout=DEADLINE))
            server.wait_for("DEFERRED")  # the request waits in the other process's queue
            assert not waiting.done()
            killed = time.monotonic()
            server.kill()
            with pytest.raises(wspsan.ConnectResetError):
                waiting.join(LIVENESS + SLACK)
            assert time.monotonic() - killed < LIVENESS + SLACK
    st = me.stats()
    assert (st.fabric_requests_sent, st.fabric_connections_lost, st.fabric_connections_open) == (1, 1, 0)


# A listener that prints its queue length whenever it changes, and never accepts.
QUEUE_WATCHER = """
import sys, time
import wspsan
p = wspsan.Provider.from_environment()
listener = p.socket()
listener.bind((p.device.nics[0], 5000))
listener.listen(16)
print("READY", flush=True)
seen, deadline = -1, time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    n = listener.stats().queue_len
    if n != seen:
        print(f"QUEUED {n}", flush=True)
        seen = n
    time.sleep(0.01)
"""


def test_killing_the_listening_process_resets_queued_requests() -> None:
    # SPEC F7, C2, E3: every non-blocking attempt queued there records FD_CONNECT with
    # WSAECONNRESET (and SO_ERROR reads it) within the liveness interval
    server_ip, port = addr(43, 1), 18113
    me = own_device(addr(43, 2), port)
    watcher = [sys.executable, "-c", QUEUE_WATCHER, "60"]
    with running(watcher, fabric_env(server_ip, port)) as server:
        server.wait_for("READY")
        connectors = []
        for name in (b"first", b"second", b"third"):
            c, ev = me.socket(), wspsan.Event()
            c.event_select(ev, wspsan.FD_CONNECT)  # also makes it non-blocking
            with pytest.raises(wspsan.WouldBlockError):
                c.connect((server_ip, 5000), name)
            connectors.append((c, ev))
        server.wait_for("QUEUED 3")
        assert not any(ev.is_set() for _, ev in connectors)
        killed = time.monotonic()
        server.kill()
        for c, ev in connectors:
            left = killed + LIVENESS + SLACK - time.monotonic()
            readable, _, _ = select.select([ev.fileno()], [], [], max(left, 0))
            assert readable, "FD_CONNECT within the liveness interval"
            assert c.enum_network_events(ev).error(wspsan.FD_CONNECT) == wspsan.WSAECONNRESET
            assert c.getsockopt(wspsan.SOL_SOCKET, wspsan.SO_ERROR) == wspsan.WSAECONNRESET
            c.close()
    st = me.stats()
    assert (st.fabric_requests_sent, st.fabric_connections_lost, st.fabric_connections_open) == (3, 1, 0)


@pytest.mark.parametrize(("kind", "net", "port"), [("c", 44, 18114), ("python", 45, 18115)])
def test_killing_a_connecting_process_withdraws_its_queued_request(kind: str, net: int, port: int) -> None:
    # SPEC F7, F6, A12: the request of a killed connector is withdrawn within the liveness
    # interval, the accept that reaches it fails with WSAEACCES, and the device serves others
    server_ip, client_ip = addr(net, 1), addr(net, 2)
    me = own_device(server_ip, port)
    with me.socket() as listener:
        listener.bind((server_ip, 5000))
        listener.listen(8)
        target = f"{server_ip}:5000"
        with running([*program(kind, "fabric_client"), target, "doomed"], fabric_env(client_ip, port)) as doomed:
            deadline = time.monotonic() + DEADLINE
            while listener.stats().queue_len == 0:
                assert time.monotonic() < deadline, f"the request never arrived; the client printed {doomed.lines}"
                time.sleep(0.005)
            killed = time.monotonic()
            doomed.kill()
            while me.stats().fabric_connections_lost == 0:
                assert time.monotonic() - killed < LIVENESS + SLACK, "the loss is noticed within the liveness interval"
                time.sleep(0.005)
        assert listener.stats().queue_len == 1, "A12: a withdrawn request stays until accept reaches it"
        with pytest.raises(wspsan.AccessDeniedError):
            listener.accept(timeout=LIVENESS + SLACK)
        assert (listener.stats().withdrawn, listener.stats().accepted, me.stats().open_sockets) == (1, 0, 1)

        def welcome(request: wspsan.ConditionRequest) -> int:
            request.callee_data = b"welcome back, " + (request.caller_data or b"")
            return wspsan.CF_ACCEPT

        accepting = Background(lambda: listener.accept(welcome, timeout=DEADLINE))
        assert client(kind, client_ip, port, target, "phoenix") == 'RESULT 0 OK callee data "welcome back, phoenix"'
        conn, peer = accepting.join(DEADLINE)
        assert peer[0] == client_ip
        conn.close()


def test_the_demo_script() -> None:
    # SPEC F2 F3 F5: make demo's third act (examples/fabric_demo.sh), on its own fabric port,
    # with the sanitized C server
    script = ROOT / "examples" / "fabric_demo.sh"
    env = {**clean_env(), "WSPSAN_DEMO_FABRIC_PORT": "18190"}
    status, out = run([str(script), *program("c", "fabric_server"), sys.executable], env, timeout=60)
    assert status == 0, out
    assert '[Python client, 127.0.0.3] RESULT 0 OK callee data "welcome, alice"' in out
    assert out.count("RESULT 10061 WSAECONNREFUSED") == 2
    assert out.splitlines()[-1] == "Done."

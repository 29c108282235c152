"""Two hosts: the fabric examples in two Linux network namespaces joined by a veth pair, so the TCP
fabric crosses a real (virtual) link between hosts that do not share an address (SPEC section 11).

Needs root and iproute2's `ip`: without them the module is skipped with one line saying why, and
where the namespaces or the link cannot be made the tests are skipped naming the `ip` command
that failed. Each run names its namespaces and links after its pid (wspsan-a-<pid>,
wspsan-b-<pid>, wspva<pid>, wspvb<pid>), removes them when it ends however it ends, and first
removes what a run that died (its pid gone) left behind. The addresses, 10.200.<x>.1 and .2,
exist only inside the two namespaces.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from fabric_processes import DEADLINE, fabric_env, program, run, running

PORT = 7470  # the default fabric port: nothing else lives in these namespaces


@dataclass(frozen=True)
class Hosts:
    a: str  # namespace of host A (the server)
    b: str  # namespace of host B (the clients)
    link_a: str
    link_b: str
    ip_a: str
    ip_b: str
    subnet: str  # "10.200.<x>"


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=DEADLINE, check=False)


def why_no_namespaces() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux only (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"creating network namespaces needs root (running as uid {os.geteuid()})"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) to create network namespaces"
    return None


# Not root, or no `ip`: the whole module is skipped with one line saying why.
WHY_NOT = why_no_namespaces()
if WHY_NOT is not None:
    pytest.skip(WHY_NOT, allow_module_level=True)


def left_behind(name: str, pattern: str) -> bool:
    """Whether `name` is one of ours (`pattern` captures the pid) from a run that is gone, or
    from this very process."""
    m = re.fullmatch(pattern, name)
    if m is None:
        return False
    pid = int(m[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_leftovers() -> None:
    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if left_behind(name, r"wspsan-[ab]-(\d+)"):
            ip("netns", "del", name)
    for line in ip("-o", "link", "show").stdout.splitlines():
        fields = line.split(": ")
        name = fields[1].split("@")[0] if len(fields) > 1 else ""
        if left_behind(name, r"wspv[ab](\d+)"):
            ip("link", "del", name)


def remove(h: Hosts) -> None:
    """Remove both namespaces (the veth ends inside go with them) and a link not moved yet."""
    for ns in (h.a, h.b):
        ip("netns", "del", ns)
    ip("link", "del", h.link_a)  # only there if setting up stopped before moving it


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    remove_leftovers()
    pid = os.getpid()
    subnet = f"10.200.{pid % 254 + 1}"
    h = Hosts(f"wspsan-a-{pid}", f"wspsan-b-{pid}", f"wspva{pid}", f"wspvb{pid}", f"{subnet}.1", f"{subnet}.2", subnet)
    steps: list[Sequence[str]] = [
        ("netns", "add", h.a),
        ("netns", "add", h.b),
        ("link", "add", h.link_a, "type", "veth", "peer", "name", h.link_b),
        ("link", "set", h.link_a, "netns", h.a),
        ("link", "set", h.link_b, "netns", h.b),
        ("-n", h.a, "addr", "add", f"{h.ip_a}/24", "dev", h.link_a),
        ("-n", h.b, "addr", "add", f"{h.ip_b}/24", "dev", h.link_b),
        ("-n", h.a, "link", "set", "lo", "up"),
        ("-n", h.b, "link", "set", "lo", "up"),
        ("-n", h.a, "link", "set", h.link_a, "up"),
        ("-n", h.b, "link", "set", h.link_b, "up"),
    ]
    try:
        for step in steps:
            r = ip(*step)
            if r.returncode != 0:
                pytest.skip(f"cannot make two hosts with network namespaces: `ip {' '.join(step)}`: {r.stderr.strip()}")
        yield h
    finally:
        remove(h)
        names = ip("netns", "list").stdout + ip("-o", "link", "show").stdout
        left = [n for n in (h.a, h.b, h.link_a, h.link_b) if re.search(rf"\b{re.escape(n)}\b", names)]
        assert not left, f"namespaces and links removed: {left} are still there"


def inside(ns: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def client_in_b(h: Hosts, kind: str, args: Sequence[str]) -> tuple[int, str]:
    """Run a fabric client on host B to its end: (status, output)."""
    return run(inside(h.b, [*program(kind, "fabric_client"), *args]), fabric_env(h.ip_b, PORT))


def test_two_hosts_connect_refuse_reject_and_time_out(hosts: Hosts) -> None:
    # SPEC F2 F3 F5 F6, C2 C5 A8 A9 A12: a Python server process on host A, client processes on
    # host B; caller and callee data cross, a reject and a refusal are WSAECONNREFUSED, and a
    # request the server defers forever times out by the client device's connect timeout
    h = hosts
    target = f"{h.ip_a}:5000"
    server_argv = inside(h.a, [*program("python", "fabric_server"), "5000", "4", "30"])
    with running(server_argv, fabric_env(h.ip_a, PORT)) as server:
        assert server.wait_for("READY") == f"READY {target}"
        assert client_in_b(h, "python", [target, "alice"]) == (0, 'RESULT 0 OK callee data "welcome, alice"')
        refused = (0, "RESULT 10061 WSAECONNREFUSED")
        assert client_in_b(h, "python", [target, "mallory", "WSAECONNREFUSED"]) == refused
        assert client_in_b(h, "python", [f"{h.ip_a}:5999", "anyone", "WSAECONNREFUSED"]) == refused
        assert client_in_b(h, "python", ["-t", "1", target, "stall", "WSAETIMEDOUT"]) == (0, "RESULT 10060 WSAETIMEDOUT")
        assert client_in_b(h, "c", [target, "bob"]) == (0, 'RESULT 0 OK callee data "welcome, bob"')
        assert server.finish() == 0, server.lines
    assert [re.sub(r":\d+ ", " ", line) for line in server.lines] == [
        f"READY {target}",
        f'ACCEPTED {h.ip_b} "alice" -> "welcome, alice"',
        f'REJECTED {h.ip_b} "mallory"',
        f'DEFERRED {h.ip_b} "stall"',
        "WITHDRAWN",  # A12: the timed-out request's accept fails with WSAEACCES
        f'ACCEPTED {h.ip_b} "bob" -> "welcome, bob"',
        "DONE 4",
    ]


def test_a_host_nobody_answers_for_is_unreachable(hosts: Hosts) -> None:
    # SPEC F4: no route to the address, and no host answering at an address of the link (the
    # kernel's neighbour resolution fails after about 3 s): WSAEHOSTUNREACH
    h = hosts
    unreachable = (0, "RESULT 10065 WSAEHOSTUNREACH")
    assert client_in_b(h, "python", ["10.201.0.1:5000", "anyone", "WSAEHOSTUNREACH"]) == unreachable
    assert client_in_b(h, "c", [f"{h.subnet}.99:5000", "anyone", "WSAEHOSTUNREACH"]) == unreachable


def test_a_host_that_does_not_answer_within_the_connect_timeout_is_unreachable(hosts: Hosts) -> None:
    # SPEC F4: no answer within the device connect timeout (1 s, before the kernel gives up)
    h = hosts
    status, out = client_in_b(h, "python", ["-t", "1", f"{h.subnet}.98:5000", "anyone", "WSAEHOSTUNREACH"])
    assert (status, out) == (0, "RESULT 10065 WSAEHOSTUNREACH")

"""wspsan fabric client in Python: one connect, with caller data, to a server in another process or host.

    WSPSAN_FABRIC=tcp WSPSAN_NICS=127.0.0.3 .venv/bin/python examples/python/fabric_client.py \\
        [-t SECONDS] HOST:PORT [CALLER_DATA [EXPECT]]

The same program as examples/c/fabric_client.c: the device comes from WSPSAN_* in the environment
(wspsan.Provider.from_environment, SPEC F3). A blocking connect carries the caller data and returns the callee data.
It prints one line,

    RESULT 0 OK callee data "welcome, alice"
    RESULT 10061 WSAECONNREFUSED

and exits 0 when the result is EXPECT (a code or its name; default 0, OK), else 1 (2: usage or
startup). -t sets the device's connect timeout (the attempt then fails with WSAETIMEDOUT); the
client waits at most SECONDS + 10 (default 30) in any case.
"""

from __future__ import annotations

import sys

import wspsan


def error_name(code: int) -> str:
    """'WSAECONNREFUSED' for 10061, 'OK' for 0."""
    if code == 0:
        return "OK"
    return wspsan.wsp.strerror(code).split(":")[0]


def attempt(provider: wspsan.Provider, to: tuple[str, int], caller_data: bytes | None, wait: float) -> int:
    """Connect once; print the RESULT line and return the code."""
    with provider.socket() as s:
        try:
            reply = s.connect(to, caller_data, timeout=wait)
        except wspsan.WSAError as e:
            print(f"RESULT {e.winerror} {error_name(e.winerror)}", flush=True)
            return e.winerror
        print(f'RESULT 0 OK callee data "{reply.decode(errors="replace")}"', flush=True)
        return 0


def main(argv: list[str]) -> int:
    usage = (
        f"usage: {argv[0]} [-t SECONDS] HOST:PORT [CALLER_DATA [EXPECT]]\n"
        "  (the device comes from WSPSAN_* in the environment; EXPECT is a code or its name, default OK)"
    )
    args = argv[1:]
    timeout: float | None = None
    if len(args) >= 2 and args[0] == "-t":
        try:
            timeout = float(args[1])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 3600:
            print(usage, file=sys.stderr)
            return 2
        args = args[2:]
    if not 1 <= len(args) <= 3 or ":" not in args[0]:
        print(usage, file=sys.stderr)
        return 2
    host, _, port_text = args[0].rpartition(":")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        print(usage, file=sys.stderr)
        return 2
    caller_data = args[1].encode() if len(args) > 1 else None
    expect = args[2] if len(args) > 2 else "0"
    try:
        provider = wspsan.Provider.from_environment(connect_timeout=timeout)
    except wspsan.WSAError as e:
        print(f"cannot make the device: {e}", file=sys.stderr)
        return 2
    code = attempt(provider, (host, int(port_text)), caller_data, (timeout or 20.0) + 10.0)
    return 0 if expect in (str(code), error_name(code)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

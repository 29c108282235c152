"""wspsan fabric server in Python: serves connects from other processes and hosts.

    WSPSAN_FABRIC=tcp WSPSAN_NICS=127.0.0.2 .venv/bin/python examples/python/fabric_server.py [PORT [COUNT [SECONDS]]]

The same program as examples/c/fabric_server.c: the device comes from WSPSAN_* in the environment
(wspsan.Provider.from_environment reads it as the C ABI does, SPEC F3). It listens on the device's first NIC at PORT
(default 5000), prints "READY <address>:<port>", and decides COUNT requests (default 3):

    caller data "mallory"  CF_REJECT (the connector gets WSAECONNREFUSED)
    caller data "slow"     CF_DEFER the first time, then CF_ACCEPT
    caller data "stall"    CF_DEFER every time (the connector waits until it gives up)
    anything else          CF_ACCEPT with callee data "welcome, <caller data>"

One line per outcome (ACCEPTED, REJECTED, DEFERRED, WITHDRAWN: the connector gave up before the
accept reached it, SPEC A12/F6), then "DONE <count>" and exit status 0. A request still undecided
after SECONDS (default 60) ends it with "TIMEOUT" and status 1.
"""

from __future__ import annotations

import sys
import time

import wspsan


class Doorman:
    """The condition function, and what it saw and decided about the request it examined last."""

    def __init__(self) -> None:
        self.caller = ""
        self.data = ""
        self.reply = ""
        # A deferred request stays at the head of the queue and the next accept sees it first
        # (SPEC A9), so "deferred already" is one flag, cleared once an accept decides.
        self.head_deferred = False
        self.first_defer = False

    def __call__(self, request: wspsan.ConditionRequest) -> int:
        host, port = request.caller_address
        self.caller = f"{host}:{port}"
        self.data = (request.caller_data or b"").decode(errors="replace")
        self.reply = ""
        if self.data == "mallory":
            return wspsan.CF_REJECT
        if self.data == "stall" or (self.data == "slow" and not self.head_deferred):
            self.first_defer = not self.head_deferred
            self.head_deferred = True
            return wspsan.CF_DEFER
        reply = f"welcome, {self.data}".encode()[: request.callee_data_capacity]
        request.callee_data = reply
        self.reply = reply.decode(errors="replace")
        return wspsan.CF_ACCEPT


def serve(provider: wspsan.Provider, port: int, count: int, seconds: float) -> int:
    """Listen on the first NIC at `port` and decide `count` requests within `seconds`."""
    here = (provider.device.nics[0], port)
    server = provider.socket()
    server.bind(here)
    server.listen(16)
    print(f"READY {here[0]}:{port}", flush=True)
    doorman = Doorman()
    decided = 0
    deadline = time.monotonic() + seconds
    while decided < count:
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"TIMEOUT after {seconds:g} s with {decided} of {count} requests decided", flush=True)
            return 1
        try:
            conn, _ = server.accept(doorman, timeout=left)
        except wspsan.RequestDeferredError:  # deferred: the request stays at the head (A9); look again shortly
            if doorman.first_defer:
                print(f'DEFERRED {doorman.caller} "{doorman.data}"', flush=True)
            doorman.first_defer = False
            time.sleep(min(0.05, max(left, 0)))
            continue
        except wspsan.TimedOutError:
            continue  # nothing arrived in time: the deadline check above ends it
        except wspsan.ConnectRefusedError:
            print(f'REJECTED {doorman.caller} "{doorman.data}"', flush=True)
        except wspsan.AccessDeniedError:  # withdrawn by its connector: closed, timed out, lost (A12, F6, F7)
            print("WITHDRAWN", flush=True)
        else:
            print(f'ACCEPTED {doorman.caller} "{doorman.data}" -> "{doorman.reply}"', flush=True)
            conn.close()  # the connector records FD_CLOSE
        doorman.head_deferred = False
        decided += 1
    print(f"DONE {decided}", flush=True)
    server.close()
    return 0


def main(argv: list[str]) -> int:
    usage = f"usage: {argv[0]} [PORT [COUNT [SECONDS]]]  (the device comes from WSPSAN_* in the environment)"
    try:
        numbers = [int(a) for a in argv[1:]]
    except ValueError:
        numbers = [0]
    if len(numbers) > 3 or not all(n >= 1 for n in numbers) or (numbers and numbers[0] > 65535):
        print(usage, file=sys.stderr)
        return 2
    port, count, seconds = (numbers + [5000, 3, 60][len(numbers) :])[:3]
    try:
        provider = wspsan.Provider.from_environment()
    except wspsan.WSAError as e:
        print(f"cannot make the device: {e}", file=sys.stderr)
        return 1
    return serve(provider, port, count, seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

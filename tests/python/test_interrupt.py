"""Ctrl-C reaches the blocking calls of `wspsan.wsp` (the C ABI mirror) as it reaches
`Socket.accept` and `Socket.connect`: a child process blocks in the call, gets SIGINT, and must
leave the call with KeyboardInterrupt (raised by the call itself, not later) within a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import DEADLINE

PRELUDE = """
import signal, sys, time, traceback
import wspsan
from wspsan import wsp

# Python's own handler, even when this process was started with SIGINT ignored (as under nohup).
signal.signal(signal.SIGINT, signal.default_int_handler)

assert wsp.WSPStartup()[0] == 0
listener, err = wsp.WSPSocket()
assert wsp.WSPBind(listener, ("127.0.0.1", 0)) == (0, 0)
assert wsp.WSPListen(listener, 4) == (0, 0)
target = wsp.WSPGetSockName(listener)[2]

def blocked(call):
    try:
        print("blocking", flush=True)
        call()
    except KeyboardInterrupt:
        # the frame the exception came from: the call's own line, not the print before it
        print("interrupted at:", traceback.extract_tb(sys.exc_info()[2])[-1].line, flush=True)
    else:
        print("returned", flush=True)
"""

CASES = {
    # SPEC A2 (a blocking accept waits; Ctrl-C abandons the wait, nothing is taken off the queue)
    "accept": """
        blocked(lambda: wsp.WSPAccept(listener))
        c, _ = wsp.WSPSocket()
        assert wsp.WSPIoctl(c, wspsan.FIONBIO, (1).to_bytes(4, "little"))[:2] == (0, 0)
        assert wsp.WSPConnect(c, target)[1] == wspsan.WSAEWOULDBLOCK
        a, err, peer, _ = wsp.WSPAccept(listener)
        print("then:", err == 0 and peer == wsp.WSPGetSockName(c)[2], flush=True)
    """,
    # SPEC C2, C7 (a blocking connect waits; Ctrl-C withdraws it, the listener sees WSAEACCES)
    "connect": """
        c, _ = wsp.WSPSocket()
        blocked(lambda: wsp.WSPConnect(c, target))
        a, err, _, _ = wsp.WSPAccept(listener)
        print("then:", err == wspsan.WSAEACCES, flush=True)
    """,
}


@pytest.mark.parametrize("call", sorted(CASES))
def test_ctrl_c_interrupts_a_blocking_wsp_call(call: str, tmp_path: Path) -> None:
    script = tmp_path / "child.py"  # a file, so the traceback shows the line it came from
    script.write_text(PRELUDE + textwrap.dedent(CASES[call]) + "assert wsp.WSPCleanup()[0] == 0\n")
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "blocking\n"
        time.sleep(0.3)  # into the call's wait
        started = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=DEADLINE)
        elapsed = time.monotonic() - started
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("interrupted at: blocked(lambda: wsp.WSP"), out  # inside the call
    assert lines[1] == "then: True", out
    assert elapsed < 2.0  # the wait polls for signals about every 50 ms

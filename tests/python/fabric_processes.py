"""Running the fabric examples (examples/c/fabric_*.c, examples/python/fabric_*.py) as separate
processes, configured by WSPSAN_* in their environment alone (SPEC F3); shared by
test_cross_process.py and test_netns.py. Every wait has a deadline; a process a test started is
killed when the test ends, however it ends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
C_BUILD = ROOT / "build" / "c"
PY_EXAMPLES = ROOT / "examples" / "python"
DEADLINE = 20.0  # seconds any wait on another process may take before it counts as a hang


def clean_env() -> dict[str, str]:
    """This process's environment without any WSPSAN_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WSPSAN_")}


def fabric_env(nics: str, port: int, key: str | None = None) -> dict[str, str]:
    """This process's environment with the WSPSAN_* of a device on the TCP fabric (SPEC F3)."""
    env = clean_env()
    env.update(WSPSAN_FABRIC="tcp", WSPSAN_NICS=nics, WSPSAN_FABRIC_PORT=str(port))
    if key is not None:
        env["WSPSAN_FABRIC_KEY"] = key
    return env


def program(kind: str, name: str) -> list[str]:
    """The command line of example `name` ("fabric_server", "fabric_client") in C or Python."""
    if kind == "c":
        path = C_BUILD / name
        if not path.exists():
            pytest.fail(f"{path} is missing: `make fabric-examples` builds it (`make py-test` does)")
        return [str(path)]
    return [sys.executable, str(PY_EXAMPLES / f"{name}.py")]


class Process:
    """A program in its own process; a thread collects its output lines (stderr included)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.popen = subprocess.Popen(
            self.argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.eof = False
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.eof = True
            self.changed.notify_all()

    def wait_for(self, prefix: str, timeout: float = DEADLINE) -> str:
        """The first output line starting with `prefix`, waiting for it at most `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    why = "exited" if self.eof else f"ran {timeout:g} s"
                    pytest.fail(f"{self.argv} {why} without printing {prefix!r}; it printed {self.lines}")
                self.changed.wait(left)

    def finish(self, timeout: float = DEADLINE) -> int:
        """Its exit status, waiting at most `timeout` s (then it is killed and the test fails)."""
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.argv} still ran after {timeout:g} s; it printed {self.lines}")
        self.reader.join(timeout)
        return status

    def kill(self) -> None:
        """kill -9, and reap it."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(DEADLINE)
        self.reader.join(DEADLINE)


@contextmanager
def running(argv: Sequence[str], env: dict[str, str]) -> Iterator[Process]:
    """A process for the duration of the block, killed at its end if it still runs."""
    p = Process(argv, env)
    try:
        yield p
    finally:
        p.kill()
        if p.popen.stdout is not None:
            p.popen.stdout.close()


def run(argv: Sequence[str], env: dict[str, str], timeout: float = DEADLINE) -> tuple[int, str]:
    """Run a program to its end (killed after `timeout` s): its status and output."""
    r = subprocess.run(
        list(argv), env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )
    return r.returncode, (r.stdout + r.stderr).strip()

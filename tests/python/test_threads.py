"""Threads (SPEC T1, T2): blocking calls release the GIL, Ctrl-C gets through, and every
connect attempt ends in exactly one outcome."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from types import FrameType

import pytest

import wspsan
from helpers import DEADLINE, Background, listener


def test_blocking_accept_releases_the_gil() -> None:
    # SPEC T1: accept blocks in one thread, a connect in another completes it, a third runs on
    p = wspsan.Provider()
    s = listener(p)
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    accepting = Background(lambda: s.accept(lambda r: wspsan.CF_ACCEPT))
    time.sleep(0.2)
    before = ticks
    time.sleep(0.2)
    assert ticks > before  # the third thread keeps running while accept blocks
    c = p.socket()
    assert c.connect(s.getsockname()) == b""
    a, peer = accepting.join()
    stop.set()
    spinner.join()
    assert peer == c.getsockname() and a.getpeername() == peer


def test_blocking_connect_releases_the_gil() -> None:
    # SPEC T1
    p = wspsan.Provider()
    s = listener(p)
    c = p.socket()
    connecting = Background(lambda: c.connect(s.getsockname(), b"hi"))
    deadline = time.monotonic() + 5
    while s.stats().queue_len == 0:  # this thread runs while connect blocks
        assert time.monotonic() < deadline
        time.sleep(0.001)
    a, _ = s.accept()
    assert connecting.join() == b""
    del a


class Interrupted(Exception):
    pass


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


@pytest.mark.parametrize("call", ["accept", "connect"])
def test_signal_handlers_run_during_blocking_calls(call: str) -> None:
    # SPEC T1: a blocking call wakes regularly to run signal handlers; their exception wins
    p = wspsan.Provider()
    s = listener(p)
    c = p.socket()
    previous = signal.signal(signal.SIGUSR1, _raise_interrupted)
    try:
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        started = time.monotonic()
        with pytest.raises(Interrupted):
            if call == "accept":
                s.accept()
            else:
                c.connect(s.getsockname())
        assert time.monotonic() - started < 2
        timer.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    if call == "connect":
        # the interrupted connect was withdrawn; the socket may connect again (C6)
        with pytest.raises(wspsan.AccessDeniedError):
            s.accept()
        c.setblocking(False)
        assert c.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK


def test_keyboard_interrupt_reaches_a_blocked_accept() -> None:
    # SPEC T1: Ctrl-C works
    p = wspsan.Provider()
    s = listener(p)
    # Python's own handler, whatever the test runner inherited (a run started with SIGINT
    # ignored, as nohup does, would otherwise never see the signal).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            s.accept(timeout=DEADLINE)
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, previous)


def test_every_connect_ends_in_exactly_one_outcome() -> None:
    # SPEC T2, T1: concurrent connectors, an acceptor answering at random, closes and shrinks
    p = wspsan.Provider()
    s = listener(p, 4)
    target = s.getsockname()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    accepted: list[wspsan.Socket] = []
    rng = random.Random(7)
    answers = [wspsan.CF_ACCEPT, wspsan.CF_ACCEPT, wspsan.CF_REJECT, wspsan.CF_DEFER, 99]

    def connector(n: int) -> None:
        for i in range(25):
            c = p.socket()
            try:
                c.connect(target, bytes([n, i]), timeout=0.5)
                result = "accepted"
            except ConnectionRefusedError:
                result = "refused"
            except ConnectionResetError:
                result = "reset"
            except TimeoutError:
                result = "timed_out"
            with lock:
                outcomes[result] += 1
            c.close()

    def acceptor(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                a, _ = s.accept(lambda r: rng.choice(answers), timeout=0.05)
                accepted.append(a)
                if rng.random() < 0.1:
                    s.listen(rng.choice([1, 2, 4]))
            except (wspsan.RequestDeferredError, wspsan.InvalidArgumentError, wspsan.ConnectRefusedError, wspsan.AccessDeniedError):
                pass
            except wspsan.TimedOutError:
                pass

    stop = threading.Event()
    acc = threading.Thread(target=acceptor, args=(stop,))
    acc.start()
    threads = [threading.Thread(target=connector, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
        assert not t.is_alive()
    # drain what the connectors left behind (withdrawn by close or timeout)
    time.sleep(0.1)
    stop.set()
    acc.join(5)
    assert sum(outcomes.values()) == 200
    stats = s.stats()
    assert outcomes["accepted"] == stats.accepted == len(accepted)
    assert stats.queued == stats.accepted + stats.rejected + stats.reset + stats.withdrawn + stats.queue_len
    assert outcomes["reset"] == stats.reset
    assert outcomes["timed_out"] == p.stats().timed_out
    assert outcomes["refused"] == stats.rejected + stats.refused_full

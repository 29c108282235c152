"""Event objects and network events (SPEC E1 to E6), waited on with selectors."""

from __future__ import annotations

import select
import selectors
import threading

import pytest

import wspsan
from helpers import listener, pending


def test_event_object() -> None:
    ev = wspsan.Event()
    assert not ev.is_set()
    ev.set()
    ev.set()
    assert ev.is_set()
    assert select.select([ev.fileno()], [], [], 0)[0] == [ev.fileno()]
    ev.reset()
    assert not ev.is_set()
    assert select.select([ev.fileno()], [], [], 0)[0] == []
    assert wspsan.Event().fileno() != ev.fileno()


def test_event_select_records_mask_and_goes_nonblocking() -> None:
    # SPEC E1
    p = wspsan.Provider()
    s = listener(p)
    ev = wspsan.Event()
    assert s.getblocking()
    s.event_select(ev, wspsan.FD_ACCEPT)
    assert not s.getblocking()
    with pytest.raises(wspsan.WouldBlockError):
        s.accept()
    with pytest.raises(wspsan.InvalError):
        s.event_select(ev, 1 << 10)  # not an FD_* event


def test_event_select_does_not_clear_and_signals_recorded_events() -> None:
    # SPEC E1, E5
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    a, _ = s.accept()
    ev = wspsan.Event()
    c.event_select(ev, wspsan.FD_CLOSE)  # FD_CONNECT is recorded but not selected
    assert not ev.is_set()
    c.event_select(ev, wspsan.FD_CONNECT | wspsan.FD_CLOSE)  # now it is: signalled at once
    assert ev.is_set()
    events = c.enum_network_events(ev)
    assert events.events == wspsan.FD_CONNECT and events.error(wspsan.FD_CONNECT) == 0
    assert not ev.is_set()
    del a


def test_selecting_fd_accept_with_requests_queued_signals_at_once() -> None:
    # SPEC E1: a connect that arrived before the selection is not missed
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    ev = wspsan.Event()
    s.event_select(ev, wspsan.FD_ACCEPT)
    assert ev.is_set()
    assert wspsan.FD_ACCEPT in s.enum_network_events(ev)
    del c


def test_fd_accept_is_level_triggered() -> None:
    # SPEC E2, E3
    p = wspsan.Provider()
    s = listener(p)
    ev = wspsan.Event()
    s.event_select(ev, wspsan.FD_ACCEPT)
    target = s.getsockname()
    conns = [pending(p, target) for _ in range(2)]
    assert ev.is_set()
    s.enum_network_events(ev)
    a1, _ = s.accept()
    assert ev.is_set()  # E3 reset it, E2 set it again: one request is still queued
    assert s.enum_network_events(ev).events == wspsan.FD_ACCEPT
    a2, _ = s.accept()
    assert not ev.is_set()  # reset by the accept, nothing left
    assert not s.enum_network_events()
    del conns, a1, a2


def test_defer_does_not_reenable_fd_accept() -> None:
    # SPEC E2
    p = wspsan.Provider()
    s = listener(p)
    ev = wspsan.Event()
    s.event_select(ev, wspsan.FD_ACCEPT)
    first = pending(p, s.getsockname())
    s.enum_network_events(ev)
    with pytest.raises(wspsan.TryAgainError):
        s.accept(lambda r: wspsan.CF_DEFER)
    assert not ev.is_set()
    second = pending(p, s.getsockname())
    assert not ev.is_set()  # not re-enabled until the next accept call
    with pytest.raises(wspsan.ConnRefusedError):
        s.accept(lambda r: wspsan.CF_REJECT)
    assert ev.is_set()  # that accept re-enabled it; `second` is queued
    del first, second


def test_failing_accept_also_reenables() -> None:
    # SPEC E2: every accept except one answered CF_DEFER
    p = wspsan.Provider()
    s = listener(p)
    ev = wspsan.Event()
    s.event_select(ev, wspsan.FD_ACCEPT)
    c = pending(p, s.getsockname())
    s.enum_network_events(ev)
    p.device.buffer_exhaustion = True
    with pytest.raises(wspsan.NoBufsError):
        s.accept()
    p.device.buffer_exhaustion = False
    assert ev.is_set()
    del c


def test_enum_network_events_takes_and_clears() -> None:
    # SPEC E4
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    a, _ = s.accept()
    a.close()  # records FD_CLOSE on c (K3)
    assert not c.enum_network_events()  # nothing selected: nothing reported
    ev = wspsan.Event()
    c.event_select(ev, wspsan.FD_CONNECT | wspsan.FD_CLOSE)
    assert ev.is_set()
    events = c.enum_network_events(ev)
    assert not ev.is_set()  # reset because it was given
    assert events.events == wspsan.FD_CONNECT | wspsan.FD_CLOSE
    assert events.error(wspsan.FD_CONNECT) == 0 and events.error(wspsan.FD_CLOSE) == 0
    assert events.error(wspsan.FD_ACCEPT) is None
    assert wspsan.FD_CLOSE in events and wspsan.FD_ACCEPT not in events
    assert list(events.error_codes) == [0] * wspsan.FD_MAX_EVENTS
    assert not c.enum_network_events()  # nothing twice
    with pytest.raises(ValueError):
        events.error(wspsan.FD_CONNECT | wspsan.FD_CLOSE)


def test_fd_connect_once_per_attempt() -> None:
    # SPEC E5
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    with pytest.raises(wspsan.ConnRefusedError):
        s.accept(lambda r: wspsan.CF_REJECT)
    ev = wspsan.Event()
    c.event_select(ev, wspsan.FD_CONNECT)
    events = c.enum_network_events(ev)
    assert events.events == wspsan.FD_CONNECT
    assert events.error(wspsan.FD_CONNECT) == wspsan.WSAECONNREFUSED
    assert not c.enum_network_events()
    assert c.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK  # C6: a second attempt
    assert not c.enum_network_events() and not ev.is_set()
    a, _ = s.accept()
    assert ev.is_set()
    assert c.enum_network_events(ev).error(wspsan.FD_CONNECT) == 0
    assert not c.enum_network_events()
    del a


def test_fionbio_and_event_selection() -> None:
    # SPEC E6
    p = wspsan.Provider()
    s = p.socket()
    s.setblocking(False)
    assert not s.getblocking()
    s.setblocking(True)
    assert s.getblocking()
    ev = wspsan.Event()
    s.event_select(ev, wspsan.FD_CONNECT)
    with pytest.raises(wspsan.InvalError):
        s.setblocking(True)
    s.setblocking(False)
    s.event_select(None, 0)  # cancelled: blocking mode may be set again
    s.setblocking(True)


def test_waiting_on_the_eventfd_with_selectors() -> None:
    # SPEC section 8: FD_ACCEPT and FD_CONNECT wake a selector
    p = wspsan.Provider()
    s = listener(p)
    accept_ev, connect_ev = wspsan.Event(), wspsan.Event()
    s.event_select(accept_ev, wspsan.FD_ACCEPT)
    c = p.socket()
    c.event_select(connect_ev, wspsan.FD_CONNECT)
    with selectors.DefaultSelector() as sel:
        sel.register(accept_ev.fileno(), selectors.EVENT_READ, "accept")
        sel.register(connect_ev.fileno(), selectors.EVENT_READ, "connect")
        assert sel.select(0) == []
        threading.Timer(0.05, lambda: c.connect_ex(s.getsockname())).start()
        ready = sel.select(5)
        assert [key.data for key, _ in ready] == ["accept"]
        assert s.enum_network_events(accept_ev).events == wspsan.FD_ACCEPT
        a, _ = s.accept()
        ready = sel.select(5)
        assert [key.data for key, _ in ready] == ["connect"]
        events = c.enum_network_events(connect_ev)
        assert events.error(wspsan.FD_CONNECT) == 0
        assert sel.select(0) == []
    del a


def test_second_attempt_reports_its_own_fd_connect() -> None:
    # SPEC E5, C6: FD_CONNECT is recorded once per attempt with *its* result
    p = wspsan.Provider()
    s = listener(p)
    c = pending(p, s.getsockname())
    with pytest.raises(wspsan.ConnRefusedError):
        s.accept(lambda r: wspsan.CF_REJECT)
    assert c.connect_ex(s.getsockname()) == wspsan.WSAEWOULDBLOCK  # first result not read yet
    ev = wspsan.Event()
    c.event_select(ev, wspsan.FD_CONNECT)
    assert not ev.is_set()  # the second attempt cleared the first one's unreported result
    a, _ = s.accept()
    assert c.getpeername() == s.getsockname()  # connected
    assert ev.is_set()
    assert c.enum_network_events(ev).error(wspsan.FD_CONNECT) == 0  # not the first attempt's refusal
    del a

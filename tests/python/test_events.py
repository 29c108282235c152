"""Event objects and network events (SPEC E1 to E6), waited on with selectors."""

from __future__ import annotations

import select
import selectors
import threading

import pytest

import wspsan
from faces import Face
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
    with pytest.raises(wspsan.InvalidArgumentError):
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
    with pytest.raises(wspsan.RequestDeferredError):
        s.accept(lambda r: wspsan.CF_DEFER)
    assert not ev.is_set()
    second = pending(p, s.getsockname())
    assert not ev.is_set()  # not re-enabled until the next accept call
    with pytest.raises(wspsan.ConnectRefusedError):
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
    with pytest.raises(wspsan.NoBufferSpaceError):
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
    with pytest.raises(wspsan.ConnectRefusedError):
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
    with pytest.raises(wspsan.InvalidArgumentError):
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
    with pytest.raises(wspsan.ConnectRefusedError):
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


# The Windows rules of E2, E4 and E5 (Wine's sock.c tests, run against Windows), through both
# faces (the `face` fixture: the Pythonic API, then wspsan.wsp).

FD_CONNECT_CLOSE = wspsan.FD_CONNECT | wspsan.FD_CLOSE


@pytest.mark.parametrize("first", [wspsan.FD_CONNECT, wspsan.FD_CLOSE], ids=["FD_CONNECT-first", "FD_CLOSE-first"])
@pytest.mark.parametrize("cancelled", [False, True], ids=["never-selected", "selection-cancelled"])
def test_unselected_events_stay_recorded_until_a_selection_includes_them(
    face: Face, first: int, cancelled: bool
) -> None:
    # SPEC E4, E5, E1
    s, target = face.listener()
    c = face.socket()
    early = wspsan.Event()
    if cancelled:
        face.select(c, early, FD_CONNECT_CLOSE)
        face.select(c, None, 0)  # mask 0: nothing selected, still non-blocking
    else:
        face.set_nonblocking(c)
    assert face.connect(c, target) == wspsan.WSAEWOULDBLOCK
    a, err = face.accept(s)
    assert a is not None and err == 0  # FD_CONNECT (0) recorded on c
    face.close(a)  # FD_CLOSE (0) recorded on c (K3)
    assert not early.is_set()  # recorded, not signalled
    for _ in range(2):
        assert face.enum(c) == {}  # mask 0: nothing reported, nothing cleared
    ev = wspsan.Event()
    face.select(c, ev, first)
    assert ev.is_set()  # the selection signals what is recorded at once
    assert face.enum(c, ev) == {first: 0}  # only the selected one
    assert not ev.is_set() and face.enum(c, ev) == {}
    face.select(c, ev, FD_CONNECT_CLOSE)
    assert ev.is_set()  # the other one was kept
    assert face.enum(c, ev) == {FD_CONNECT_CLOSE & ~first: 0}
    face.select(c, ev, FD_CONNECT_CLOSE)
    assert not ev.is_set() and face.enum(c, ev) == {}  # nothing twice


def test_unselected_fd_connect_keeps_its_error(face: Face) -> None:
    # SPEC E5, C2: a refused attempt's FD_CONNECT waits, with its code, for a selection
    s, target = face.listener()
    c = face.pending(target)
    assert face.accept(s, lambda r: wspsan.CF_REJECT) == (None, wspsan.WSAECONNREFUSED)
    assert face.enum(c) == {}
    ev = wspsan.Event()
    face.select(c, ev, wspsan.FD_ACCEPT)  # a selection without it does not report it either
    assert not ev.is_set() and face.enum(c, ev) == {}
    face.select(c, ev, FD_CONNECT_CLOSE)
    assert ev.is_set()
    assert face.enum(c, ev) == {wspsan.FD_CONNECT: wspsan.WSAECONNREFUSED}


RESELECT = {
    "same-mask": [wspsan.FD_ACCEPT],
    "0-then-FD_ACCEPT": [0, wspsan.FD_ACCEPT],
    "wider-mask": [wspsan.FD_ACCEPT | FD_CONNECT_CLOSE],
}


@pytest.mark.parametrize("masks", RESELECT.values(), ids=RESELECT.keys())
def test_reported_fd_accept_is_recorded_again_only_by_an_arrival_or_an_accept(face: Face, masks: list[int]) -> None:
    # SPEC E2, E3 (Wine's test_accept_events: selecting again records nothing; Windows in event
    # mode records it again for a new arrival)
    s, target = face.listener()
    ev = wspsan.Event()

    def select_again() -> None:
        for mask in masks:
            face.select(s, ev if mask else None, mask)

    face.select(s, ev, wspsan.FD_ACCEPT)
    first = face.pending(target)
    assert ev.is_set() and face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}
    select_again()
    assert not ev.is_set() and face.enum(s, ev) == {}  # queued, but already reported
    second = face.pending(target)
    assert ev.is_set() and face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}  # a new arrival
    select_again()
    assert not ev.is_set() and face.enum(s, ev) == {}
    a1, err = face.accept(s)
    assert err == 0 and ev.is_set()  # one more is queued: recorded and signalled again
    assert face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}
    select_again()
    assert not ev.is_set() and face.enum(s, ev) == {}
    a2, err = face.accept(s)
    assert err == 0 and not ev.is_set() and face.enum(s, ev) == {}  # the queue is empty
    select_again()
    assert not ev.is_set() and face.enum(s, ev) == {}
    third = face.pending(target)
    assert ev.is_set() and face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}
    del first, second, third, a1, a2


@pytest.mark.parametrize(
    ("answer", "error", "again"),
    [
        (wspsan.CF_ACCEPT, 0, True),
        (wspsan.CF_REJECT, wspsan.WSAECONNREFUSED, True),
        (wspsan.CF_DEFER, wspsan.WSATRY_AGAIN, False),
    ],
    ids=["accepted", "rejected", "deferred"],
)
def test_every_accept_but_a_deferred_one_records_fd_accept_again(
    face: Face, answer: int, error: int, again: bool
) -> None:
    # SPEC E2: while requests are queued after it
    s, target = face.listener()
    ev = wspsan.Event()
    face.select(s, ev, wspsan.FD_ACCEPT)
    conns = [face.pending(target) for _ in range(2)]
    assert face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}
    assert face.accept(s, lambda r: answer)[1] == error
    assert ev.is_set() == again
    assert face.enum(s, ev) == ({wspsan.FD_ACCEPT: 0} if again else {})
    del conns


@pytest.mark.parametrize("reported", [True, False], ids=["reported", "still-recorded"])
def test_an_accept_that_empties_the_queue_clears_fd_accept(face: Face, reported: bool) -> None:
    # SPEC E2, E3
    s, target = face.listener()
    ev = wspsan.Event()
    face.select(s, ev, wspsan.FD_ACCEPT)
    c = face.pending(target)
    if reported:
        assert face.enum(s, ev) == {wspsan.FD_ACCEPT: 0}
    assert face.accept(s)[1] == 0
    assert not ev.is_set() and face.enum(s, ev) == {}
    del c

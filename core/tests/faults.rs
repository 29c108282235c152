//! Faults, panics and misbehaving condition functions: the device's fault switches
//! (SPEC D2) hitting calls that are already blocked or already queued, a panicking condition
//! closure (X4), and a condition function that blocks for a long time (T1).
//!
//! The single-switch basics live elsewhere (device.rs: each switch fails the calls it names;
//! listen.rs: L9; accept.rs: A11, A12, A14); these tests check what those do not: that after the
//! fault nothing is lost, every request ends in one outcome and the statistics balance. Every
//! test runs with connector and listener on one provider and on two providers of one fabric
//! (SPEC section 11); a fault is switched on the device it belongs to.

mod common;

use common::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use wspsan_core::consts::{FD_ACCEPT, FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{AcceptError, ConditionRequest, ConnectParams, Decision, Provider, SockOpt, WsaError};

/// SPEC D3: every request that entered a queue ended in exactly one outcome or is still queued,
/// and each device's pending count is the sum of its live queues (requests count on the
/// listener's device).
fn assert_balanced(h: &Hosts) {
    let devices = if h.one_provider() { vec![&h.server] } else { vec![&h.server, &h.client] };
    for p in devices {
        let s = p.device().stats();
        let l = s.listeners;
        assert_eq!(
            l.queued,
            l.accepted + l.rejected + l.reset + l.withdrawn + l.refused_by_close + l.queue_len,
            "every queued request has one outcome: {s:?}"
        );
        assert_eq!(s.pending, l.queue_len, "pending requests are the queued ones: {s:?}");
    }
}

/// A full connect/accept pair on a fresh listener: the providers work normally.
fn assert_a_new_pair_works(h: &Hosts) {
    let (l, addr) = listener(&h.server, 2);
    let c = queued_connect(&h.client, addr);
    let a = h.server.accept(l, None).expect("accept");
    assert_eq!(a.peer, h.client.sock_name(c).unwrap());
    assert_eq!(h.client.peer_name(c), Ok(addr));
    h.server.close(a.socket).unwrap();
    h.client.close(c).unwrap();
    h.server.close(l).unwrap();
}

// SPEC D2, A2, C2, A12, C6, D3: each blocked call wakes when its own device goes down (on one
// provider the listener's and the connector's device are one)
both_ways!(network_down_under_a_blocked_accept_and_a_blocked_connect_loses_nothing, |h| {
    let (idle, idle_addr) = listener(&h.server, 5); // an accept blocks on its empty queue
    let (busy, busy_addr) = listener(&h.server, 5); // a connect blocks in its queue
    let early = queued_connect(&h.client, busy_addr); // non-blocking, already queued
    let blocking = h.client.socket().unwrap();
    let q = h.client.clone();
    let connect = bg(move || q.connect(blocking, busy_addr, ConnectParams::default()));
    let q = h.server.clone();
    let accept = bg(move || q.accept(idle, None).map_err(|e| e.error));
    assert!(wait_until(|| h.server.listener_stats(busy).unwrap().queue_len == 2), "the blocking connect is queued");
    std::thread::sleep(SETTLE); // let the accept reach its wait (either way it fails the same)
    h.server.device().set_network_down(true);
    assert_eq!(accept.join(), Err(WsaError::NetDown));
    h.client.device().set_network_down(true);
    assert_eq!(connect.join(), Err(WsaError::NetDown));
    // While down the queues are kept (statistics stay readable).
    assert_eq!(h.server.listener_stats(busy).unwrap().queue_len, 2);
    h.server.device().set_network_down(false);
    h.client.device().set_network_down(false);

    // Back up: both listeners still listen and nothing queued was lost.
    assert_eq!(h.server.get_option(idle, SockOpt::AcceptConn), Ok(1));
    assert_eq!(h.server.get_option(busy, SockOpt::AcceptConn), Ok(1));
    assert_eq!(h.client.peer_name(early), Err(WsaError::NotConn), "the non-blocking request still waits");
    assert_eq!(h.server.accept(busy, None).unwrap().peer, h.client.sock_name(early).unwrap());
    assert_eq!(h.client.peer_name(early), Ok(busy_addr));
    // The woken blocking connect withdrew its request (A12): the accept that reaches it says so.
    let e = h.server.accept(busy, None).unwrap_err();
    assert_eq!(e, AcceptError { error: WsaError::Acces, examined: Some(h.client.sock_name(blocking).unwrap()) });
    // C6: the connector is back to bound and connects again (blocking: answered by an accept
    // on another thread); the idle listener takes requests.
    let q = h.client.clone();
    let again = bg(move || q.connect(blocking, busy_addr, ConnectParams::default()));
    assert_eq!(h.server.accept(busy, None).unwrap().peer, h.client.sock_name(blocking).unwrap());
    assert_eq!(again.join(), Ok(vec![]));
    let c = queued_connect(&h.client, idle_addr);
    assert_eq!(h.server.accept(idle, None).unwrap().peer, h.client.sock_name(c).unwrap());
    assert_a_new_pair_works(h);
    let s = h.server.listener_stats(busy).unwrap();
    assert_eq!((s.queued, s.accepted, s.withdrawn, s.queue_len), (3, 2, 1, 0));
    assert_balanced(h);
});

// SPEC D2, A11, C2: the listener's device runs out of buffers. A pending request is allocated
// where it waits, on the listener's device (its limits count it there), so a connect to it fails
// like its own socket, listen and accept calls.
both_ways!(buffer_exhaustion_keeps_queued_and_waiting_requests, |h| {
    let (l, addr) = listener(&h.server, 5);
    let early = queued_connect(&h.client, addr);
    let waiting = h.client.socket().unwrap();
    let q = h.client.clone();
    let connect = bg(move || q.connect(waiting, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 2));
    let late = nb_connector(&h.client);
    let unlistened = h.server.socket().unwrap();
    h.server.bind(unlistened, lo(0)).unwrap();
    let open = h.open_sockets();

    h.server.device().set_buffer_exhaustion(true);
    assert_eq!(h.server.socket(), Err(WsaError::NoBufs));
    // at a distance the listener's device refuses it after one round trip (F5): the connect
    // was an attempt, bound like any other
    assert_eq!(connect_outcome(&h.client, late, addr, ConnectParams::default()), Err(WsaError::NoBufs));
    if h.by_messages() {
        assert_eq!(h.client.sock_name(late).map(|a| *a.ip()), Ok(h.client_nic()), "bound by its attempt");
    } else {
        assert_eq!(h.client.sock_name(late), Err(WsaError::Inval), "the failed connect did not even bind it");
    }
    // A listen queue is an allocation too; the socket stays merely bound.
    assert_eq!(h.server.listen(unlistened, 5), Err(WsaError::NoBufs));
    assert_eq!(h.server.get_option(unlistened, SockOpt::AcceptConn), Ok(0));
    assert_eq!(h.server.accept(l, None).unwrap_err(), AcceptError { error: WsaError::NoBufs, examined: None });
    // Nothing was taken, nothing answered, no socket made: the blocked connect still waits.
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 2);
    assert_eq!(h.open_sockets(), open);
    std::thread::sleep(SETTLE);
    assert!(!connect.finished(), "the blocking connect is still waiting");
    h.server.device().set_buffer_exhaustion(false);

    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(early).unwrap());
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(waiting).unwrap());
    assert_eq!(connect.join(), Ok(vec![]));
    assert_eq!(h.client.connect(late, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(late).unwrap());
    h.server.listen(unlistened, 5).unwrap();
    assert_balanced(h);
});

// SPEC D2, S1, A11, L9: the listener's device runs out of descriptors
both_ways!(descriptor_exhaustion_wakes_a_blocked_accept_with_wsaemfile_and_recovers_when_one_is_freed, |h| {
    let p = &h.server;
    let (l, addr) = listener(p, 2);
    let spare = p.socket().unwrap();
    let unlistened = p.socket().unwrap();
    p.bind(unlistened, lo(0)).unwrap();
    let [c1, c2, c3] = [(); 3].map(|()| nb_connector(&h.client));
    let q = p.clone();
    let accept = bg(move || q.accept(l, None).map_err(|e| e.error));
    std::thread::sleep(SETTLE);
    p.device().set_descriptor_limit(Some(p.device().stats().open_sockets as usize));
    assert_eq!(p.socket(), Err(WsaError::MFile));
    // A request still queues (no accept failed yet); it wakes the blocked accept, which finds no
    // descriptor for it: WSAEMFILE, the request stays at the head (A11).
    assert_eq!(h.client.connect(c1, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(accept.join(), Err(WsaError::MFile));
    assert_eq!(p.listener_stats(l).unwrap().queue_len, 1);
    // L9: exhausted: refused though the backlog has room, the queue kept (at a distance after
    // one round trip, F5).
    assert_eq!(connect_outcome(&h.client, c2, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(p.listen(unlistened, 5), Err(WsaError::MFile), "listen on a socket not yet listening");
    assert_eq!(p.listen(l, 2), Ok(()), "a listen with no free descriptor does not clear the state");
    assert_eq!(connect_outcome(&h.client, c2, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    // Freeing a descriptor (a close, the limit unchanged) does not clear it either...
    p.close(spare).unwrap();
    assert_eq!(connect_outcome(&h.client, c2, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    // ...the next accept does, and takes the same request with the freed descriptor.
    let a1 = p.accept(l, None).unwrap();
    assert_eq!(a1.peer, h.client.sock_name(c1).unwrap());
    assert_eq!(h.client.connect(c2, addr, ConnectParams::default()), Err(WsaError::WouldBlock), "listening resumed");
    // None free again: exhausted again by the next accept; this time a listen clears it once
    // the limit is lifted.
    assert_eq!(p.accept(l, None).unwrap_err().error, WsaError::MFile);
    assert_eq!(connect_outcome(&h.client, c3, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    p.device().set_descriptor_limit(None);
    p.listen(l, 2).unwrap();
    assert_eq!(h.client.connect(c3, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(p.accept(l, None).unwrap().peer, h.client.sock_name(c2).unwrap());
    assert_eq!(p.accept(l, None).unwrap().peer, h.client.sock_name(c3).unwrap());
    let s = p.listener_stats(l).unwrap();
    assert_eq!((s.queued, s.accepted, s.refused_full, s.queue_len), (3, 3, 4, 0));
    p.listen(unlistened, 5).unwrap();
    assert_balanced(h);
});

/// Run `attempt` with connect timeouts of `p`'s device (the connector's: it times its own
/// connects out) from short to long until it reports that the order it needs happened (a timeout
/// shorter than the machine's scheduling delay can fire too early).
fn with_growing_timeouts(p: &Provider, mut attempt: impl FnMut() -> bool) {
    let ran = WAKE_DELAYS.iter().any(|&t| {
        p.device().set_connect_timeout(Some(t));
        attempt()
    });
    p.device().set_connect_timeout(None);
    assert!(ran, "the timeout never fired in the window the test needs, even at {:?}", WAKE_DELAYS[3]);
}

// SPEC D2, C2, A12, E5 (README: a request withdrawn while the condition ran fails the accept
// with WSAEACCES whatever the condition answered)
both_ways!(a_connect_that_times_out_while_the_condition_runs_fails_the_accept_with_wsaeacces, layout, |layout| {
    for answer in [Decision::Accept, Decision::Reject, Decision::Defer, Decision::Invalid(7)] {
        let h = Hosts::new(layout);
        let (l, addr) = listener(&h.server, 5);
        let server_open = h.server.device().stats().open_sockets;
        // Non-blocking: the condition waits for the timeout's FD_CONNECT, then answers.
        let mut last = None;
        let mut made = 0;
        with_growing_timeouts(&h.client, || {
            let sig = CountingSignal::new();
            let c = nb_connector(&h.client);
            made += 1;
            h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
            assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
            let mut ran = false;
            let r = h.server.accept(
                l,
                Some(&mut |_: &mut ConditionRequest<'_>| {
                    ran = true;
                    assert!(sig.wait_sets(1), "FD_CONNECT for the timeout");
                    // at a distance the withdrawal reaches the listener a moment later: let it
                    // arrive while the condition still runs
                    settle(&h.client);
                    answer
                }),
            );
            let e = r.unwrap_err();
            assert_eq!(
                e,
                AcceptError { error: WsaError::Acces, examined: Some(h.client.sock_name(c).unwrap()) },
                "{answer:?}"
            );
            last = Some(c);
            ran
        });
        let c = last.unwrap();
        assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 0, "{answer:?}: removed, not put back");
        // (on one provider the listener's device holds the connectors too)
        assert_eq!(
            h.server.device().stats().open_sockets,
            server_open + h.pick(made, 0),
            "no accepted socket was left behind"
        );
        assert_eq!(
            h.client.enum_network_events(c, None).unwrap().error(FD_CONNECT_BIT),
            Some(WsaError::TimedOut.code())
        );
        assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
        let s = h.server.listener_stats(l).unwrap();
        assert_eq!((s.accepted, s.rejected, s.deferred), (0, 0, 0), "{answer:?}: only withdrawn");
        // C6: it connects again once the timeout is off.
        assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
        assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
        assert_balanced(&h);
    }
});

// SPEC A9, A12, C7 (regression: a CF_DEFER answer for a request whose connector closed while
// the condition ran used to give WSATRY_AGAIN, count a deferral and put the dead request back)
both_ways!(cf_defer_for_a_connector_closed_during_the_condition_gives_wsaeacces, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    let caller = h.client.sock_name(c).unwrap();
    let d = queued_connect(&h.client, addr);
    let q = h.client.clone();
    let e = h
        .server
        .accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| {
                let q = q.clone();
                std::thread::spawn(move || q.close(c)).join().unwrap().unwrap();
                settle(&h.client); // at a distance the withdrawal arrives a moment later
                Decision::Defer
            }),
        )
        .unwrap_err();
    assert_eq!(e, AcceptError { error: WsaError::Acces, examined: Some(caller) });
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.withdrawn, s.deferred, s.queue_len), (1, 0, 1), "removed, not deferred");
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap(), "the next request is the head");
    assert_balanced(h);
});

// SPEC D2, C2, A12
both_ways!(a_blocking_connect_that_times_out_while_the_condition_runs_fails_both_sides, |h| {
    let (l, addr) = listener(&h.server, 5);
    with_growing_timeouts(&h.client, || {
        let b = h.client.socket().unwrap();
        let q = h.client.clone();
        let connect = bg(move || q.connect(b, addr, ConnectParams::default()));
        assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
        let mut ran = false;
        let e = h
            .server
            .accept(
                l,
                Some(&mut |_: &mut ConditionRequest<'_>| {
                    ran = true;
                    assert!(wait_until(|| connect.finished()), "the blocking connect timed out");
                    Decision::Accept
                }),
            )
            .unwrap_err();
        assert_eq!(e.error, WsaError::Acces);
        assert_eq!(connect.join(), Err(WsaError::TimedOut));
        assert_eq!(h.client.peer_name(b), Err(WsaError::NotConn));
        ran
    });
    // the connector's device counts the timeouts, the listener's the withdrawals
    let st = h.server.device().stats();
    assert_eq!(
        h.client.device().stats().timed_out,
        st.listeners.withdrawn,
        "every timed-out request was removed by an accept"
    );
    assert_eq!(st.listeners.accepted, 0);
    assert_balanced(h);
});

// SPEC A9, A12, D2
both_ways!(a_deferred_request_that_times_out_is_removed_by_the_next_accept, |h| {
    let (l, addr) = listener(&h.server, 5);
    with_growing_timeouts(&h.client, || {
        let sig = CountingSignal::new();
        let c = nb_connector(&h.client);
        h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
        assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
        h.client.device().set_connect_timeout(None); // for the connect below
        let deferred = accept_with_decision(&h.server, l, Decision::Defer).unwrap_err();
        if deferred.error == WsaError::Acces {
            return false; // timed out before the accept reached it: try a longer timeout
        }
        assert_eq!(deferred.error, WsaError::TryAgain);
        assert!(sig.wait_sets(1), "FD_CONNECT for the timeout");
        assert_eq!(
            h.client.enum_network_events(c, None).unwrap().error(FD_CONNECT_BIT),
            Some(WsaError::TimedOut.code())
        );
        let d = queued_connect(&h.client, addr);
        // The deferred request is still at the head, withdrawn: the next accept removes it
        // without showing it to the condition.
        let (r, seen) = accept_seeing(&h.server, l, Decision::Accept);
        assert_eq!(
            r.unwrap_err(),
            AcceptError { error: WsaError::Acces, examined: Some(h.client.sock_name(c).unwrap()) }
        );
        assert_eq!(seen, None);
        assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap());
        true
    });
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.deferred, s.accepted, s.queue_len), (1, 1, 0));
    assert!(s.withdrawn >= 1);
    assert_balanced(h);
});

// SPEC X4, A9, E2, A14 (README: a condition function's panic puts the request back at the head
// and continues unwinding)
both_ways!(a_panicking_condition_restores_the_request_and_leaves_the_provider_usable, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let c = nb_connector(&h.client);
    let data: &[u8] = b"first";
    assert_eq!(
        h.client.connect(c, addr, ConnectParams { caller_data: Some(data), qos: None }),
        Err(WsaError::WouldBlock)
    );
    let d = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(1)); // at a distance set a moment after the request arrived
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    let sets = sig.sets();
    let open = h.server.device().stats().open_sockets;
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        h.server.accept(l, Some(&mut |_: &mut ConditionRequest<'_>| -> Decision { panic!("condition exploded") }))
    }));
    let payload = panicked.expect_err("the panic continues out of accept");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"condition exploded"));
    // Restored at the head as never examined: not counted as deferred, FD_ACCEPT re-armed (E2),
    // the connector still waiting, no socket made.
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.queue_len, s.deferred, s.accepted, s.rejected), (2, 0, 0, 0));
    assert!(sig.sets() > sets, "FD_ACCEPT signalled again for the restored request");
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0, "no FD_CONNECT answer");
    assert_eq!(h.server.device().stats().open_sockets, open);
    // The A14 mark was dropped while unwinding: this thread calls the provider normally.
    let other = h.server.socket().expect("no WSAEINPROGRESS after the panic");
    h.server.close(other).unwrap();
    // The same request comes first, with its caller data.
    let mut seen = None;
    let a = h
        .server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                seen = r.caller_data().map(<[u8]>::to_vec);
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!((a.peer, seen.as_deref()), (h.client.sock_name(c).unwrap(), Some(data)));
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap());
    assert_a_new_pair_works(h);
    assert_balanced(h);
});

// SPEC X4, T1, A2
both_ways!(a_condition_panicking_on_a_blocked_accept_thread_loses_nothing, |h| {
    let (l, addr) = listener(&h.server, 5);
    let q = h.server.clone();
    let accepting = std::thread::spawn(move || {
        q.accept(l, Some(&mut |_: &mut ConditionRequest<'_>| -> Decision { panic!("exploded on another thread") }))
    });
    std::thread::sleep(SETTLE);
    let c = queued_connect(&h.client, addr);
    assert!(wait_until(|| accepting.is_finished()), "the accept ran its condition");
    assert!(accepting.join().is_err(), "the thread ended with the condition's panic");
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 1);
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
    assert_balanced(h);
});

// SPEC X4, K2 (README: a request restored after its listener closed cannot go back: refused)
both_ways!(a_condition_panicking_after_its_listener_closed_refuses_the_request, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    let q = h.server.clone();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        h.server.accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| -> Decision {
                let q = q.clone();
                std::thread::spawn(move || q.close(l)).join().unwrap().unwrap();
                panic!("exploded after the close");
            }),
        )
    }));
    assert!(panicked.is_err());
    settle(&h.server); // at a distance the refusal arrives a moment later
    // The connector got its one answer: refused, as every request of a closed listener.
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    let st = h.server.device().stats();
    assert_eq!((st.listeners.refused_by_close, st.pending, st.listeners.queue_len), (1, 0, 0));
    // The address is free again and a new pair works.
    let l2 = listener_at(&h.server, addr, 2);
    let d = queued_connect(&h.client, addr);
    assert_eq!(h.server.accept(l2, None).unwrap().peer, h.client.sock_name(d).unwrap());
    assert_balanced(h);
});

// SPEC T1, A5: a condition function that blocks holds up only its own accept. No provider lock
// is held while it runs: another listener's pair completes, other sockets' calls succeed, and a
// second accept on the same listener from another thread takes the next request and completes
// (the request being examined is out of the queue; queue_len still counts it).
both_ways!(a_condition_that_blocks_holds_up_only_its_own_accept, |h| {
    let (l, addr) = listener(&h.server, 5);
    let slow = queued_connect(&h.client, addr);
    let next = queued_connect(&h.client, addr);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let q = h.server.clone();
    let blocked = bg(move || {
        q.accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                entered_tx.send(r.caller_address()).unwrap();
                // Held until the test releases it (bounded so a broken test cannot hang).
                match release_rx.recv_timeout(LONG) {
                    Ok(()) => Decision::Accept,
                    Err(_) => Decision::Reject,
                }
            }),
        )
        .map(|a| a.peer)
        .map_err(|e| e.error)
    });
    assert_eq!(entered_rx.recv_timeout(LONG), Ok(h.client.sock_name(slow).unwrap()), "the condition is running");

    // Another listener's whole connect/accept pair, and calls on other sockets.
    assert_a_new_pair_works(h);
    let s = h.server.socket().unwrap();
    h.server.bind(s, lo(0)).unwrap();
    assert!(h.server.sock_name(s).is_ok());
    h.server.set_option(s, SockOpt::SndBuf, 4096).unwrap();
    // The same listener: its statistics, a new request, and an accept from another thread.
    let st = h.server.listener_stats(l).unwrap();
    assert_eq!((st.queue_len, st.accepted), (2, 0), "the examined request is still counted");
    let third = queued_connect(&h.client, addr);
    let q = h.server.clone();
    let second = bg(move || q.accept(l, None).map(|a| a.peer).map_err(|e| e.error));
    assert_eq!(second.join(), Ok(h.client.sock_name(next).unwrap()), "the second accept completed meanwhile");
    assert_eq!(h.client.peer_name(next), Ok(addr));
    assert!(!blocked.finished(), "the slow accept is still in its condition");
    assert_eq!(h.client.peer_name(slow), Err(WsaError::NotConn));

    release_tx.send(()).unwrap();
    assert_eq!(blocked.join(), Ok(h.client.sock_name(slow).unwrap()));
    assert_eq!(h.client.peer_name(slow), Ok(addr));
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(third).unwrap());
    h.server.close(s).unwrap();
    assert_balanced(h);
});

//! SPEC section 7: conditional accept. Tests of a connector and a listener run with both on one
//! provider and on two providers of one fabric (SPEC section 11).

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wspsan_core::consts::{FD_ACCEPT, FD_CONNECT};
use wspsan_core::{
    AcceptError, ConditionRequest, ConnectParams, Decision, Descriptor, Limits, Provider, Result, SockOpt, SocketHooks,
    Wait, WsaError,
};

// SPEC A1
both_ways!(accept_on_an_unknown_descriptor_or_a_socket_that_is_not_listening, |h| {
    let p = &h.server;
    let err = |r: std::result::Result<_, AcceptError>| r.map(|_| ()).unwrap_err();
    assert_eq!(err(p.accept(Descriptor::from_raw(0), None)), AcceptError { error: WsaError::NotSock, examined: None });
    assert_eq!(err(p.accept(Descriptor::from_raw(0x4242), None)).error, WsaError::NotSock);
    let created = p.socket().unwrap();
    assert_eq!(err(p.accept(created, None)).error, WsaError::Inval);
    let bound = p.socket().unwrap();
    p.bind(bound, lo(0)).unwrap();
    assert_eq!(err(p.accept(bound, None)).error, WsaError::Inval);
    let (l, addr) = listener(p, 3);
    let c = queued_connect(&h.client, addr);
    assert_eq!(err(h.client.accept(c, None)).error, WsaError::Inval, "connecting");
    let a = p.accept(l, None).unwrap();
    assert_eq!(err(h.client.accept(c, None)).error, WsaError::Inval, "connected");
    assert_eq!(err(p.accept(a.socket, None)).error, WsaError::Inval, "accepted");
    p.close(l).unwrap();
    assert_eq!(err(p.accept(l, None)).error, WsaError::NotSock, "closed");
});

// SPEC A2
#[test]
fn non_blocking_accept_on_an_empty_queue_gives_wsaewouldblock() {
    let p = Provider::new();
    let (l, _) = listener(&p, 3);
    p.set_nonblocking(l, true).unwrap();
    assert_eq!(p.accept(l, None).unwrap_err(), AcceptError { error: WsaError::WouldBlock, examined: None });
}

// SPEC A2, T1
both_ways!(blocking_accept_waits_for_a_connect_from_another_thread, |h| {
    let (l, addr) = listener(&h.server, 3);
    let q = h.server.clone();
    let waiting = bg(move || q.accept(l, None));
    std::thread::sleep(SETTLE);
    assert!(!waiting.finished());
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let connecting = bg(move || q.connect(c, addr, ConnectParams::default()));
    let a = waiting.join().unwrap();
    assert_eq!(connecting.join(), Ok(vec![]));
    assert_eq!(a.peer, h.client.sock_name(c).unwrap());
});

// SPEC A2, K2, T1
#[test]
fn blocking_accept_wakes_with_wsaeintr_when_the_listener_is_closed() {
    for (i, delay) in WAKE_DELAYS.iter().enumerate() {
        let p = Provider::new();
        let (l, addr) = listener(&p, 3);
        let q = p.clone();
        let waiting = bg(move || q.accept(l, None).map_err(|e| e.error));
        std::thread::sleep(*delay);
        p.close(l).unwrap();
        let r = waiting.join();
        if r == Err(WsaError::NotSock) && i + 1 < WAKE_DELAYS.len() {
            continue; // closed before the accept started; retry with a longer delay
        }
        assert_eq!(r.map(|_| ()), Err(WsaError::Intr));
        // the address is free at once
        let again = p.socket().unwrap();
        p.bind(again, addr).unwrap();
        return;
    }
}

// SPEC A2
both_ways!(blocking_accept_with_a_timeout_or_an_interrupt_hook, |h| {
    let (l, addr) = listener(&h.server, 3);
    let w = Wait { timeout: Some(Duration::from_millis(20)), interrupt: None };
    assert_eq!(h.server.accept_with(l, None, w).unwrap_err().error, WsaError::TimedOut);
    let mut polls = 0;
    let mut stop = || {
        polls += 1;
        polls >= 2
    };
    let w = Wait { timeout: None, interrupt: Some(&mut stop) };
    assert_eq!(h.server.accept_with(l, None, w).unwrap_err().error, WsaError::Intr);
    // still listening, nothing lost
    let c = queued_connect(&h.client, addr);
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
});

// SPEC A2: a thread's interruption hook (with_interrupt) reaches calls that bring no Wait, as
// the C ABI's accept and connect, and is gone once with_interrupt returns
both_ways!(the_thread_interruption_hook_reaches_calls_without_a_wait, |h| {
    let (l, addr) = listener(&h.server, 3);
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = polls.clone();
    let stop = move || counted.fetch_add(1, Ordering::Relaxed) >= 1;
    let r = wspsan_core::with_interrupt(stop.clone(), || h.server.accept(l, None));
    assert_eq!(r.unwrap_err().error, WsaError::Intr);
    assert!(polls.load(Ordering::Relaxed) >= 2);
    let c = h.client.socket().unwrap();
    let r = wspsan_core::with_interrupt(stop, || h.client.connect(c, addr, ConnectParams::default()));
    assert_eq!(r.unwrap_err(), WsaError::Intr);
    // the interrupted connect was withdrawn (C7, A12): the accept that reaches it says so
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
    let c = queued_connect(&h.client, addr);
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap(), "no hook left behind");
});

// SPEC A9, E2: a condition that calls abandon_condition() abandons the accept whatever it
// returns (the request stays first, not counted as deferred, FD_ACCEPT re-armed)
both_ways!(abandon_condition_overrides_the_answer, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let mut abandon = |_: &mut ConditionRequest<'_>| {
        wspsan_core::abandon_condition();
        Decision::Accept
    };
    let e = h.server.accept(l, Some(&mut abandon)).unwrap_err();
    assert_eq!(e, AcceptError { error: WsaError::Intr, examined: Some(h.client.sock_name(c).unwrap()) });
    let stats = h.server.listener_stats(l).unwrap();
    assert_eq!((stats.queue_len, stats.deferred, stats.accepted), (1, 0, 0));
    // the flag ended with that condition: the next accept takes the same request
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
});

// SPEC A3, A4, A13
both_ways!(the_peer_address_comes_with_the_result_and_a_failure_before_examining_leaves_the_request, |h| {
    // The C ABI checks `addr` / `addrlen` (A3, A4); through the Rust API the address is the
    // `peer` of the result or the `examined` of the error, and a call that fails before it
    // examines a request takes nothing off the queue.
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let caller = h.client.sock_name(c).unwrap();
    let dev = h.server.device();
    dev.set_buffer_exhaustion(true);
    assert_eq!(h.server.accept(l, None).unwrap_err(), AcceptError { error: WsaError::NoBufs, examined: None });
    dev.set_buffer_exhaustion(false);
    dev.set_descriptor_limit(Some(dev.stats().open_sockets as usize));
    assert_eq!(h.server.accept(l, None).unwrap_err(), AcceptError { error: WsaError::MFile, examined: None });
    dev.set_descriptor_limit(None);
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 1, "the request stayed");
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(a.peer, caller);
    assert_eq!(h.server.peer_name(a.socket), Ok(caller));
});

// SPEC A5, T1
both_ways!(the_condition_sees_the_request_and_runs_on_the_calling_thread_with_no_lock_held, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let caller = h.client.sock_name(c).unwrap();
    let me = std::thread::current().id();
    let (server, client) = (h.server.clone(), h.client.clone());
    let mut checked = false;
    let a = h
        .server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                assert_eq!(std::thread::current().id(), me);
                assert_eq!(r.caller_address(), caller);
                assert_eq!(r.callee_address(), addr);
                assert_eq!(r.caller_data(), None, "no caller data sent: NULL");
                assert_eq!(r.qos(), None, "no QoS sent: NULL");
                assert_eq!(r.callee_data_capacity(), 256, "the device callee-data maximum");
                assert_eq!(r.callee_data(), b"");
                assert_eq!(*r.group_mut(), 0);
                // another thread can use the listener, the connector and the device meanwhile
                let (server, client) = (server.clone(), client.clone());
                let other = std::thread::spawn(move || {
                    let d = client.socket().unwrap();
                    client.set_nonblocking(d, true).unwrap();
                    let connect = client.connect(d, addr, ConnectParams::default());
                    settle(&client);
                    (
                        connect,
                        server.get_option(l, SockOpt::AcceptConn),
                        client.peer_name(c),
                        server.listener_stats(l).map(|s| s.queue_len),
                        server.device().stats().pending,
                    )
                });
                let deadline = std::time::Instant::now() + LONG;
                while !other.is_finished() {
                    assert!(std::time::Instant::now() < deadline, "a lock is held while the condition runs");
                    std::thread::sleep(Duration::from_millis(1));
                }
                let got = other.join().unwrap();
                assert_eq!(got, (Err(WsaError::WouldBlock), Ok(1), Err(WsaError::NotConn), Ok(2), 2));
                checked = true;
                Decision::Accept
            }),
        )
        .unwrap();
    assert!(checked);
    assert_eq!(a.peer, caller);
});

// SPEC A5: the callee buffer has the size of the listener's device
both_ways!(the_callee_buffer_has_the_device_size, |h| {
    h.server.device().set_limits(Limits { max_callee_data: 1000, ..Limits::default() });
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let big = [7u8; 1000];
    h.server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                assert_eq!(r.callee_data_capacity(), 1000);
                assert_eq!(r.set_callee_data(&big), 1000);
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(h.client.callee_data(c), Ok(big.to_vec()));
});

// SPEC A6
both_ways!(no_condition_accepts_unconditionally, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(a.peer, h.client.sock_name(c).unwrap());
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.server.listener_stats(l).unwrap().accepted, 1);
});

// SPEC A7
both_ways!(cf_accept_creates_a_connected_socket_with_the_listeners_options, |h| {
    let p = &h.server;
    let (l, addr) = listener(p, 3);
    p.set_option(l, SockOpt::SndBuf, 1234).unwrap();
    p.set_option(l, SockOpt::RcvBuf, 4321).unwrap();
    p.set_nonblocking(l, true).unwrap();
    let c = queued_connect(&h.client, addr);
    let before = p.device().stats().open_sockets;
    let a = accept_with_decision(p, l, Decision::Accept).unwrap();
    assert_ne!(a.socket, l);
    if h.one_provider() {
        assert_ne!(a.socket, c); // (two providers may hand out the same value: not comparable)
    }
    assert_eq!(p.device().stats().open_sockets, before + 1);
    assert_eq!(p.get_option(a.socket, SockOpt::SndBuf), Ok(1234));
    assert_eq!(p.get_option(a.socket, SockOpt::RcvBuf), Ok(4321));
    assert_eq!(p.is_nonblocking(a.socket), Ok(true));
    assert_eq!(p.get_option(a.socket, SockOpt::AcceptConn), Ok(0));
    assert_eq!(p.get_option(a.socket, SockOpt::Type), Ok(wspsan_core::consts::SOCK_STREAM));
    // it cannot listen or accept itself
    assert_eq!(p.listen(a.socket, 1), Err(WsaError::IsConn));
    assert_eq!(p.accept(a.socket, None).unwrap_err().error, WsaError::Inval);
    // the listener stays listening and the queue is empty
    assert_eq!(p.get_option(l, SockOpt::AcceptConn), Ok(1));
    let s = p.listener_stats(l).unwrap();
    assert_eq!((s.queue_len, s.accepted), (0, 1));
    assert_eq!(p.accept(l, None).unwrap_err().error, WsaError::WouldBlock);
    // the connect completed
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
});

// SPEC A7, E1
both_ways!(an_accepted_socket_inherits_the_event_selection, |h| {
    let (l, addr) = listener(&h.server, 3);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT | wspsan_core::consts::FD_CLOSE).unwrap();
    let c = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(1), "FD_ACCEPT for the request (across a fabric set a moment later)");
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(h.server.is_nonblocking(a.socket), Ok(true));
    assert_eq!(h.server.set_nonblocking(a.socket, false), Err(WsaError::Inval), "a selection is active");
    let sets = sig.sets();
    h.client.close(c).unwrap();
    // Across a fabric the close arrives as a message, and its event is set a moment later.
    assert!(wait_until(|| sig.sets() > sets), "FD_CLOSE on the accepted socket signals the listener's event");
    std::thread::sleep(SETTLE);
    assert_eq!(sig.sets(), sets + 1, "signalled once");
});

// SPEC A8
both_ways!(cf_reject_refuses_both_sides, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let d = queued_connect(&h.client, addr);
    let caller = h.client.sock_name(c).unwrap();
    let (r, seen) = accept_seeing(&h.server, l, Decision::Reject);
    assert_eq!(r.unwrap_err(), AcceptError { error: WsaError::ConnRefused, examined: Some(caller) });
    assert_eq!(seen, Some(caller));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.queue_len, s.rejected), (1, 1));
    // the listener's device holds only the listener (and, on one provider, the two connectors)
    assert_eq!(h.server.device().stats().open_sockets, h.pick(3, 1), "no socket was created");
    assert_eq!(h.open_sockets(), 3);
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap(), "the next request is next");
});

// SPEC A9
both_ways!(cf_defer_keeps_the_same_request_at_the_head, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let d = queued_connect(&h.client, addr);
    let first = h.client.sock_name(c).unwrap();
    for _ in 0..3 {
        let (r, seen) = accept_seeing(&h.server, l, Decision::Defer);
        assert_eq!(r.unwrap_err(), AcceptError { error: WsaError::TryAgain, examined: Some(first) });
        assert_eq!(seen, Some(first), "the next accept sees the same request first");
    }
    // the connector keeps waiting
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0);
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::Already));
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.queue_len, s.deferred, s.queued), (2, 3, 2));
    let (r, seen) = accept_seeing(&h.server, l, Decision::Accept);
    assert_eq!(seen, Some(first));
    assert_eq!(r.unwrap().peer, first);
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap());
});

// SPEC A9, C1
both_ways!(cf_defer_keeps_a_blocking_connector_waiting, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
    assert_eq!(accept_with_decision(&h.server, l, Decision::Defer).unwrap_err().error, WsaError::TryAgain);
    std::thread::sleep(SETTLE);
    assert!(!waiting.finished(), "a deferred connect is not answered");
    h.server.accept(l, None).unwrap();
    assert_eq!(waiting.join(), Ok(vec![]));
});

// SPEC A10
both_ways!(an_invalid_answer_or_a_changed_group_refuses_the_request_with_wsaeinval, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let d = queued_connect(&h.client, addr);
    let e = queued_connect(&h.client, addr);
    for bad in [3, -1, 42, i32::MAX] {
        assert_eq!(Decision::from_raw(bad), Decision::Invalid(bad));
    }
    let r = accept_with_decision(&h.server, l, Decision::Invalid(3)).unwrap_err();
    assert_eq!(r, AcceptError { error: WsaError::Inval, examined: Some(h.client.sock_name(c).unwrap()) });
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    // *g set non-zero, whatever the answer
    for (s, decision) in [(d, Decision::Accept), (e, Decision::Defer)] {
        let r = h
            .server
            .accept(
                l,
                Some(&mut |r: &mut ConditionRequest<'_>| {
                    *r.group_mut() = 7;
                    decision
                }),
            )
            .unwrap_err();
        assert_eq!(r, AcceptError { error: WsaError::Inval, examined: Some(h.client.sock_name(s).unwrap()) });
        assert_eq!(h.client.get_option(s, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
        assert_eq!(h.client.peer_name(s), Err(WsaError::NotConn));
    }
    let st = h.server.listener_stats(l).unwrap();
    assert_eq!((st.queue_len, st.rejected, st.accepted, st.deferred), (0, 3, 0, 0));
    assert_eq!(h.server.device().stats().pending, 0, "every request was answered");
});

// SPEC A10
both_ways!(an_invalid_answer_refuses_a_blocking_connector, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
    assert_eq!(accept_with_decision(&h.server, l, Decision::from_raw(99)).unwrap_err().error, WsaError::Inval);
    assert_eq!(waiting.join(), Err(WsaError::ConnRefused));
});

// SPEC A11, L9: the listener's device has no free descriptor
both_ways!(no_free_descriptor_gives_wsaemfile_and_the_request_stays_at_the_head, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let d = queued_connect(&h.client, addr);
    let dev = h.server.device();
    dev.set_limits(Limits { max_descriptors: dev.stats().open_sockets as usize, ..Limits::default() });
    let mut ran = false;
    let r = h.server.accept(
        l,
        Some(&mut |_: &mut ConditionRequest<'_>| {
            ran = true;
            Decision::Accept
        }),
    );
    assert_eq!(r.unwrap_err().error, WsaError::MFile);
    assert!(!ran, "the provider limit is checked before the condition runs");
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 2);
    dev.set_limits(Limits::default());
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap());
});

/// Hooks that count creations and closes and fail creation on demand.
#[derive(Default)]
struct Hooks {
    fail: AtomicBool,
    created: AtomicUsize,
    closed: Mutex<Vec<(Descriptor, u64)>>,
}

impl SocketHooks for Hooks {
    fn created(&self, s: Descriptor) -> Result<u64> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(WsaError::MFile);
        }
        self.created.fetch_add(1, Ordering::SeqCst);
        Ok(s.raw() + 1_000_000)
    }

    fn closed(&self, s: Descriptor, context: u64) {
        self.closed.lock().unwrap().push((s, context));
    }
}

// SPEC A11, L9: the listener's provider's upcall fails
both_ways!(a_failing_create_hook_keeps_the_request_queued, |h| {
    let p = &h.server;
    let hooks = Arc::new(Hooks::default());
    p.set_hooks(Some(hooks.clone()));
    let (l, addr) = listener(p, 3);
    assert_eq!(p.context(l), Ok(l.raw() + 1_000_000));
    let c = queued_connect(&h.client, addr);
    let caller = h.client.sock_name(c).unwrap();
    hooks.fail.store(true, Ordering::SeqCst);
    let open = p.device().stats().open_sockets;
    let e = p.accept(l, None).unwrap_err();
    assert_eq!(e.error, WsaError::MFile);
    assert_eq!(p.device().stats().open_sockets, open, "no descriptor leaked");
    assert_eq!(p.listener_stats(l).unwrap().queue_len, 1);
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn), "the connector still waits");
    assert_eq!(p.socket(), Err(WsaError::MFile), "socket fails with the upcall's error too");
    hooks.fail.store(false, Ordering::SeqCst);
    // the listener is exhausted (L9) until this accept, which now succeeds with the same request
    let a = p.accept(l, None).unwrap();
    assert_eq!(a.peer, caller);
    assert_eq!(p.context(a.socket), Ok(a.socket.raw() + 1_000_000));
    p.close(a.socket).unwrap();
    assert!(hooks.closed.lock().unwrap().contains(&(a.socket, a.socket.raw() + 1_000_000)));
});

// SPEC A12, D2: the connector's device times the connect out
both_ways!(a_request_that_timed_out_is_removed_by_accept_with_wsaeacces, |h| {
    let (l, addr) = listener(&h.server, 3);
    h.client.device().set_connect_timeout(Some(Duration::from_millis(10)));
    let c = nb_connector(&h.client);
    let sig = CountingSignal::new();
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert!(sig.wait_sets(1));
    h.client.device().set_connect_timeout(None);
    let d = queued_connect(&h.client, addr);
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 2, "the withdrawn request stays until accept reaches it");
    let e = h.server.accept(l, None).unwrap_err();
    assert_eq!(e, AcceptError { error: WsaError::Acces, examined: Some(h.client.sock_name(c).unwrap()) });
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap());
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.withdrawn, s.accepted, s.queue_len), (1, 1, 0));
});

// SPEC A12, C7
both_ways!(a_connector_closed_while_the_condition_runs_makes_accept_fail_with_wsaeacces, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr);
    let caller = h.client.sock_name(c).unwrap();
    let server_open = h.server.device().stats().open_sockets;
    let client_open = h.client.device().stats().open_sockets;
    let q = h.client.clone();
    let e = h
        .server
        .accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| {
                let q = q.clone();
                std::thread::spawn(move || q.close(c)).join().unwrap().unwrap();
                Decision::Accept
            }),
        )
        .unwrap_err();
    assert_eq!(e, AcceptError { error: WsaError::Acces, examined: Some(caller) });
    assert_eq!(h.client.device().stats().open_sockets, client_open - 1, "the connector closed");
    assert_eq!(
        h.server.device().stats().open_sockets,
        server_open - h.pick(1, 0),
        "no accepted socket left (on one provider: minus the connector)"
    );
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.withdrawn, s.accepted, s.queue_len), (1, 0, 0));
    assert_eq!(h.server.device().stats().pending, 0);
});

// SPEC A13
both_ways!(the_examined_address_is_reported_for_every_examined_request, |h| {
    let (l, addr) = listener(&h.server, 5);
    h.server.set_nonblocking(l, true).unwrap();
    let c: Vec<SocketAddrV4> = (0..4).map(|_| h.client.sock_name(queued_connect(&h.client, addr)).unwrap()).collect();
    assert_eq!(accept_with_decision(&h.server, l, Decision::Defer).unwrap_err().examined, Some(c[0]));
    assert_eq!(accept_with_decision(&h.server, l, Decision::Reject).unwrap_err().examined, Some(c[0]));
    assert_eq!(accept_with_decision(&h.server, l, Decision::Invalid(9)).unwrap_err().examined, Some(c[1]));
    assert_eq!(accept_with_decision(&h.server, l, Decision::Accept).unwrap().peer, c[2]);
    assert_eq!(accept_with_decision(&h.server, l, Decision::Abandon).unwrap_err().examined, Some(c[3]));
    assert_eq!(h.server.accept(l, None).unwrap().peer, c[3], "an abandoned request stays at the head");
    assert_eq!(h.server.accept(l, None).unwrap_err(), AcceptError { error: WsaError::WouldBlock, examined: None });
});

// SPEC A14 (decided: the rule is per provider): inside the condition every call on the listener's
// provider fails; the connector's provider, when it is another one, works normally
both_ways!(calling_the_provider_inside_the_condition_gives_wsaeinprogress, |h| {
    let p = &h.server;
    let (l, addr) = listener(p, 3);
    let c = queued_connect(&h.client, addr);
    let other = p.socket().unwrap();
    let spare = h.client.socket().unwrap();
    let mut got = Vec::new();
    let mut client_side = Vec::new();
    let a = p
        .accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| {
                got.push(p.socket().map(|_| ()));
                got.push(p.bind(other, lo(0)));
                got.push(p.listen(l, 1));
                got.push(p.connect(other, addr, ConnectParams::default()).map(|_| ()));
                got.push(p.accept(l, None).map(|_| ()).map_err(|e| e.error));
                got.push(p.close(l));
                got.push(p.sock_name(l).map(|_| ()));
                got.push(p.get_option(l, SockOpt::AcceptConn).map(|_| ()));
                got.push(p.set_nonblocking(l, true));
                got.push(p.event_select(l, None, 0));
                got.push(p.enum_network_events(l, None).map(|_| ()));
                got.push(p.address_list().map(|_| ()));
                client_side.push(h.client.peer_name(c).map(|_| ()));
                client_side.push(h.client.get_option(c, SockOpt::Error).map(|_| ()));
                client_side.push(h.client.close(spare));
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(got.len(), 12);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(*r, Err(WsaError::InProgress), "call {i}");
    }
    let in_progress = Err(WsaError::InProgress);
    assert_eq!(
        client_side,
        h.pick(
            vec![in_progress; 3],
            // C1: the connect is not complete while the condition runs
            vec![Err(WsaError::NotConn), Ok(()), Ok(())]
        )
    );
    // nothing happened: the listener still listens with its backlog, the connector is connected
    assert_eq!(p.listener_stats(l).unwrap().backlog, 3);
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(p.sock_name(other), Err(WsaError::Inval));
    assert_eq!(p.is_nonblocking(l), Ok(false));
    // (the spare socket was closed only where the call was allowed)
    assert_eq!(h.client.sock_name(spare), Err(h.pick(WsaError::Inval, WsaError::NotSock)));
    // and the provider works normally again on this thread
    p.close(a.socket).unwrap();
});

// SPEC A14 (decided: the rule is per provider; independent providers never see each other)
#[test]
fn another_provider_stays_callable_inside_the_condition() {
    let p = Provider::new();
    let q = Provider::new();
    let (l, addr) = listener(&p, 3);
    let (ql, qaddr) = listener(&q, 3);
    let _c = queued_connect(&p, addr);
    let mut inner = None;
    p.accept(
        l,
        Some(&mut |_: &mut ConditionRequest<'_>| {
            // q works normally here; inside q's own condition both are refused (p's condition
            // is still running further up this thread).
            let qc = queued_connect(&q, qaddr);
            let r = q.accept(
                ql,
                Some(&mut |_: &mut ConditionRequest<'_>| {
                    assert_eq!(p.socket(), Err(WsaError::InProgress), "p's condition is still running");
                    assert_eq!(q.socket(), Err(WsaError::InProgress));
                    Decision::Accept
                }),
            );
            inner = Some((r.map(|a| a.socket), qc));
            Decision::Accept
        }),
    )
    .unwrap();
    let (accepted, qc) = inner.unwrap();
    let accepted = accepted.expect("q accepted inside p's condition");
    assert_eq!(q.peer_name(accepted), q.sock_name(qc));
}

// SPEC A15
both_ways!(socket_and_peer_names_of_both_ends, layout, |layout| {
    let nic2 = Ipv4Addr::new(10, 0, 0, 1);
    let h = Hosts::with_nics(layout, &[Ipv4Addr::LOCALHOST, nic2], &[CLIENT_NIC]);
    let l = listener_at(&h.server, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9300), 3);
    let target = SocketAddrV4::new(nic2, 9300);
    let c = queued_connect(&h.client, target);
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn), "a pending connect is not connected");
    let a = h.server.accept(l, None).unwrap();
    let caller = h.client.sock_name(c).unwrap();
    assert_eq!(*caller.ip(), h.connector_nic(nic2));
    assert_eq!(h.server.sock_name(a.socket), Ok(target), "NIC address and listener port");
    assert_eq!(h.server.peer_name(a.socket), Ok(caller));
    assert_eq!(h.client.peer_name(c), Ok(target));
    assert_eq!(h.server.peer_name(l), Err(WsaError::NotConn), "a listener is not connected");
    let unbound = h.client.socket().unwrap();
    assert_eq!(h.client.sock_name(unbound), Err(WsaError::Inval));
    assert_eq!(h.client.peer_name(unbound), Err(WsaError::NotConn));
    let bound = h.client.socket().unwrap();
    h.client.bind(bound, h.client_at(0)).unwrap();
    assert_eq!(h.client.peer_name(bound), Err(WsaError::NotConn));
    assert_eq!(h.client.sock_name(Descriptor::from_raw(8)), Err(WsaError::NotSock));
    assert_eq!(h.client.peer_name(Descriptor::from_raw(8)), Err(WsaError::NotSock));
});

/// Run `body` on its own thread; a hang (a deadlock) fails the test at the deadline instead of
/// blocking the suite.
fn within_deadline<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{what}: no return within 10 s (deadlock)"))
}

/// Closes the connector from inside its FD_CONNECT signal, as a switch's WPUSetEvent upcall may.
struct CloseOnSet(Provider, Mutex<Option<Descriptor>>);

impl wspsan_core::Signal for CloseOnSet {
    fn set(&self) {
        if let Some(c) = self.1.lock().unwrap().take() {
            let _ = self.0.close(c);
        }
    }
    fn reset(&self) {}
}

// SPEC A12, K3, E1 (no lock held while an upcall runs): the connector's FD_CONNECT signal,
// raised by the accept that answers it, may close the connector at once; the accept still
// returns its socket, which then sees FD_CLOSE.
#[test]
fn an_upcall_that_closes_the_connector_while_accept_answers_it() {
    let accepted = within_deadline("accept", || {
        let p = Provider::new();
        let (l, addr) = listener(&p, 5);
        let c = nb_connector(&p);
        let sig = Arc::new(CloseOnSet(p.clone(), Mutex::new(Some(c))));
        p.event_select(c, Some(sig), FD_CONNECT).unwrap();
        assert_eq!(p.connect(c, addr, ConnectParams::default()).unwrap_err(), WsaError::WouldBlock);
        let a = p.accept(l, None).map(|a| a.socket).map_err(|e| e.error);
        (p, a)
    });
    let (p, a) = accepted;
    let a = a.expect("accepted");
    assert!(matches!(p.close(a), Ok(())));
}

// SPEC A12, K1 (descriptors are never reused; the engine's storage for them is): a connector
// closed while the condition runs is withdrawn for the accept (WSAEACCES), even when the socket
// the accept makes gets the very storage the connector had. `discard` (the garbage collector's
// close) is callable from the condition; the closes on the accepting thread put the connector's
// slot first in line for that thread's next socket.
#[test]
fn a_connector_closed_during_the_condition_whose_storage_the_new_socket_gets() {
    let outcome = within_deadline("accept", || {
        let p = Provider::new();
        let (l, addr) = listener(&p, 5);
        let c = nb_connector(&p);
        assert_eq!(p.connect(c, addr, ConnectParams::default()).unwrap_err(), WsaError::WouldBlock);
        let others: Vec<Descriptor> = (0..1200).map(|_| p.socket().unwrap()).collect();
        let closer = p.clone();
        let mut condition = move |_: &mut ConditionRequest<'_>| {
            closer.discard(c).unwrap();
            for s in &others {
                closer.discard(*s).unwrap();
            }
            Decision::Accept
        };
        p.accept(l, Some(&mut condition)).map(|a| a.socket).map_err(|e| e.error)
    });
    assert_eq!(outcome, Err(WsaError::Acces));
}

//! SPEC section 8: network events and their signalling. Tests of a connector and a listener run
//! with both on one provider and on two providers of one fabric (SPEC section 11).

mod common;

use common::*;
use wspsan_core::consts::{
    FD_ACCEPT, FD_ACCEPT_BIT, FD_ALL_EVENTS, FD_CLOSE, FD_CLOSE_BIT, FD_CONNECT, FD_CONNECT_BIT, FD_MAX_EVENTS,
    FD_READ, FD_WRITE,
};
use wspsan_core::{ConnectParams, Decision, Descriptor, NetworkEvents, Provider, SockOpt, WsaError};

// SPEC E1, E6
#[test]
fn event_select_records_the_mask_and_makes_the_socket_non_blocking() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    assert_eq!(p.is_nonblocking(s), Ok(false));
    let sig = CountingSignal::new();
    p.event_select(s, Some(sig.handle()), FD_CONNECT | FD_CLOSE).unwrap();
    assert_eq!(p.is_nonblocking(s), Ok(true));
    assert_eq!(sig.sets(), 0, "nothing recorded, nothing signalled");
    assert_eq!(p.set_nonblocking(s, false), Err(WsaError::Inval));
    assert_eq!(p.set_nonblocking(s, true), Ok(()));
    // bits outside the ten FD_* events
    assert_eq!(p.event_select(s, Some(sig.handle()), 1 << FD_MAX_EVENTS), Err(WsaError::Inval));
    assert_eq!(p.event_select(s, Some(sig.handle()), FD_ALL_EVENTS), Ok(()));
    assert_eq!(p.event_select(Descriptor::from_raw(4), None, FD_READ), Err(WsaError::NotSock));
    // a mask of 0 cancels the selection; the socket stays non-blocking until FIONBIO clears it
    p.event_select(s, None, 0).unwrap();
    assert_eq!(p.is_nonblocking(s), Ok(true));
    assert_eq!(p.set_nonblocking(s, false), Ok(()));
    assert_eq!(p.is_nonblocking(s), Ok(false));
}

// SPEC E1, E5
both_ways!(selecting_an_event_already_recorded_signals_at_once_and_keeps_it, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr); // FIONBIO only, no selection
    h.server.accept(l, None).unwrap();
    // FD_CONNECT is recorded but not selected: remembered
    let sig = CountingSignal::new();
    h.client.event_select(c, Some(sig.handle()), FD_READ | FD_WRITE).unwrap();
    assert_eq!(sig.sets(), 0, "not in the new mask");
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT | FD_CLOSE).unwrap();
    assert_eq!(sig.sets(), 1, "already recorded: signalled at once");
    // selecting again does not clear the record
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
    assert_eq!(sig.sets(), 2);
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.events, FD_CONNECT, "reported once selected");
    assert_eq!(ev.error(FD_CONNECT_BIT), Some(0));
    assert_eq!(h.client.enum_network_events(c, None).unwrap(), NetworkEvents::default(), "nothing twice");
});

// SPEC E1
both_ways!(selecting_fd_accept_with_requests_queued_records_and_signals_at_once, |h| {
    let (l, addr) = listener(&h.server, 3);
    let c = queued_connect(&h.client, addr); // arrived before the selection
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!(sig.sets(), 1, "the connect that arrived before the selection is not missed");
    let ev = h.server.enum_network_events(l, Some(&sig.handle())).unwrap();
    assert_eq!(ev.events, FD_ACCEPT);
    assert_eq!(ev.error(FD_ACCEPT_BIT), Some(0));
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
    // an empty queue: nothing at selection time
    let (l2, _) = listener(&h.server, 3);
    let sig2 = CountingSignal::new();
    h.server.event_select(l2, Some(sig2.handle()), FD_ACCEPT).unwrap();
    assert_eq!(sig2.sets(), 0);
    assert_eq!(h.server.enum_network_events(l2, None).unwrap().events, 0);
});

// SPEC E2, E3
both_ways!(fd_accept_is_level_triggered_and_rearmed_by_accept, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    let e = sig.handle();
    h.server.event_select(l, Some(e.clone()), FD_ACCEPT).unwrap();
    let c: Vec<_> = (0..3).map(|_| queued_connect(&h.client, addr)).collect();
    assert!(sig.wait_sets(1)); // at a distance set a moment after the request arrived
    assert_eq!(sig.sets(), 1, "recorded once, signalled once");
    assert_eq!(h.server.enum_network_events(l, Some(&e)).unwrap().events, FD_ACCEPT);
    assert_eq!(sig.resets(), 1);
    // accept with requests left: reset (E3), then recorded and signalled again (E2)
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c[0]).unwrap());
    assert_eq!((sig.sets(), sig.resets()), (2, 2));
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    h.server.accept(l, None).unwrap();
    assert_eq!((sig.sets(), sig.resets()), (3, 3));
    // the last one: reset and nothing left to signal or report
    h.server.accept(l, None).unwrap();
    assert_eq!((sig.sets(), sig.resets()), (3, 4));
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0);
    // an empty non-blocking accept re-enables but records nothing
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::WouldBlock);
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0);
    let _d = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(4)); // at a distance set a moment after the request arrived
    assert_eq!(sig.sets(), 4);
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
});

// SPEC E2, E3
both_ways!(a_failing_accept_rearms_fd_accept_but_does_not_reset_the_event, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let _c = queued_connect(&h.client, addr);
    let _d = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(1)); // at a distance set a moment after the request arrived
    h.server.enum_network_events(l, None).unwrap();
    assert_eq!((sig.sets(), sig.resets()), (1, 0));
    assert_eq!(accept_with_decision(&h.server, l, Decision::Reject).unwrap_err().error, WsaError::ConnRefused);
    assert_eq!(sig.resets(), 0, "only a successful accept resets the event (E3)");
    assert_eq!(sig.sets(), 2, "a request is still queued: signalled again (E2)");
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    // a failure before examining (no descriptor) re-enables too
    h.server.device().set_descriptor_limit(Some(h.server.device().stats().open_sockets as usize));
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::MFile);
    assert_eq!(sig.sets(), 3);
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    h.server.device().set_descriptor_limit(None);
    h.server.accept(l, None).unwrap();
    assert_eq!((sig.sets(), sig.resets()), (3, 1));
});

// SPEC E2, A9
both_ways!(a_deferring_accept_does_not_rearm_fd_accept, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let c = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(1)); // at a distance set a moment after the request arrived
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    assert_eq!(accept_with_decision(&h.server, l, Decision::Defer).unwrap_err().error, WsaError::TryAgain);
    assert_eq!((sig.sets(), sig.resets()), (1, 0));
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0, "not re-recorded after WSATRY_AGAIN");
    // not even by a new request, until the next accept
    let d = queued_connect(&h.client, addr);
    assert_eq!(sig.sets(), 1);
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0);
    // nor by selecting again
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!(sig.sets(), 1);
    // the next accept (not deferring) re-enables it
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
    assert_eq!(sig.sets(), 2, "d is still queued");
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap());
});

// SPEC E3
both_ways!(a_successful_accept_resets_the_event_before_returning, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let _c = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(1)); // at a distance set a moment after the request arrived
    assert_eq!((sig.sets(), sig.resets()), (1, 0));
    h.server.accept(l, None).unwrap();
    assert_eq!((sig.sets(), sig.resets()), (1, 1));
    // a condition that accepts: same
    let _d = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(2)); // at a distance set a moment after the request arrived
    accept_with_decision(&h.server, l, Decision::Accept).unwrap();
    assert_eq!((sig.sets(), sig.resets()), (2, 2));
    // without a selection there is nothing to reset
    let (l2, a2) = listener(&h.server, 5);
    h.server.set_nonblocking(l2, true).unwrap();
    let _e = queued_connect(&h.client, a2);
    h.server.accept(l2, None).unwrap();
    assert_eq!(sig.resets(), 2);
});

// SPEC E4
both_ways!(enum_network_events_takes_and_clears_atomically, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let sig = CountingSignal::new();
    let e = sig.handle();
    h.client.event_select(c, Some(e.clone()), FD_CONNECT | FD_CLOSE).unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    let a = h.server.accept(l, None).unwrap();
    h.server.close(a.socket).unwrap();
    settle(&h.server); // at a distance the close arrives a moment later
    assert!(sig.wait_sets(2));
    assert_eq!(sig.sets(), 2);
    // without an event object: nothing is reset
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(sig.resets(), 0);
    assert_eq!(ev.events, FD_CONNECT | FD_CLOSE);
    assert_eq!(ev.error(FD_CONNECT_BIT), Some(0));
    assert_eq!(ev.error(FD_CLOSE_BIT), Some(0));
    assert_eq!(ev.error(FD_ACCEPT_BIT), None, "not reported");
    assert_eq!(ev.error_codes, [0; FD_MAX_EVENTS], "codes only for the reported bits");
    assert!(ev.contains(FD_CLOSE));
    assert!(!ev.contains(FD_ACCEPT));
    // nothing twice; the event object is reset when given
    let again = h.client.enum_network_events(c, Some(&e)).unwrap();
    assert_eq!(again, NetworkEvents::default());
    assert_eq!(sig.resets(), 1);
    assert_eq!(h.client.enum_network_events(Descriptor::from_raw(4), None), Err(WsaError::NotSock));
});

// SPEC E4, E2
both_ways!(an_error_code_is_written_only_for_its_bit, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    accept_with_decision(&h.server, l, Decision::Reject).unwrap_err();
    h.client.event_select(c, None, FD_CONNECT | FD_CLOSE).unwrap();
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.events, FD_CONNECT);
    let mut want = [0; FD_MAX_EVENTS];
    want[FD_CONNECT_BIT] = WsaError::ConnRefused.code();
    assert_eq!(ev.error_codes, want);
});

// SPEC E5
both_ways!(fd_connect_is_recorded_once_per_attempt_and_remembered_until_selected, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    accept_with_decision(&h.server, l, Decision::Reject).unwrap_err();
    // not selected yet: remembered
    let sig = CountingSignal::new();
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
    assert_eq!(sig.sets(), 1);
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.error(FD_CONNECT_BIT), Some(WsaError::ConnRefused.code()));
    // the next attempt records its own result, once
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(sig.sets(), 1, "nothing before the answer");
    h.server.accept(l, None).unwrap();
    assert!(sig.wait_sets(2)); // at a distance set a moment after the answer arrived
    assert_eq!(sig.sets(), 2);
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.error(FD_CONNECT_BIT), Some(0));
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0);
});

// SPEC E5, C6
both_ways!(fd_connect_of_a_new_attempt_replaces_an_unreported_older_one, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    accept_with_decision(&h.server, l, Decision::Reject).unwrap_err();
    // the refusal is recorded but never enumerated; the socket connects again and is accepted
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    h.server.accept(l, None).unwrap();
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
    h.client.event_select(c, None, FD_CONNECT).unwrap();
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(
        ev.error(FD_CONNECT_BIT),
        Some(0),
        "the connected socket must not report the previous attempt's WSAECONNREFUSED"
    );
});

// SPEC E6
#[test]
fn fionbio_sets_and_clears_non_blocking_mode() {
    let p = Provider::new();
    let (l, _) = listener(&p, 5);
    p.set_nonblocking(l, true).unwrap();
    assert_eq!(p.is_nonblocking(l), Ok(true));
    assert_eq!(p.accept(l, None).unwrap_err().error, WsaError::WouldBlock);
    p.set_nonblocking(l, false).unwrap();
    assert_eq!(p.is_nonblocking(l), Ok(false));
    // clearing it while a selection is active
    let sig = CountingSignal::new();
    p.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!(p.set_nonblocking(l, false), Err(WsaError::Inval));
    assert_eq!(p.is_nonblocking(l), Ok(true));
    assert_eq!(p.set_nonblocking(Descriptor::from_raw(4), true), Err(WsaError::NotSock));
}

// SPEC E4, E5 (Wine's test_connect_events, run against Windows): an event outside the selection
// is neither reported nor cleared; a later selection that includes it signals at once and reports it
both_ways!(an_unselected_fd_connect_stays_recorded_until_a_selection_includes_it, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let sig = CountingSignal::new();
    h.client.event_select(c, Some(sig.handle()), FD_CLOSE).unwrap(); // FD_CONNECT left out
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_with_decision(&h.server, l, Decision::Reject).unwrap_err();
    assert_eq!(sig.sets(), 0, "not selected: not signalled");
    assert_eq!(h.client.enum_network_events(c, None).unwrap(), NetworkEvents::default(), "not selected: not reported");
    h.client.event_select(c, Some(sig.handle()), FD_CLOSE | FD_CONNECT).unwrap();
    assert_eq!(sig.sets(), 1, "E1: the new selection signals what is recorded");
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!((ev.events, ev.error(FD_CONNECT_BIT)), (FD_CONNECT, Some(WsaError::ConnRefused.code())));
    // reported once: selecting again (same mask, or 0 and then the mask) finds nothing
    h.client.event_select(c, Some(sig.handle()), FD_CLOSE | FD_CONNECT).unwrap();
    h.client.event_select(c, None, 0).unwrap();
    h.client.event_select(c, Some(sig.handle()), FD_CLOSE | FD_CONNECT).unwrap();
    assert_eq!(sig.sets(), 1);
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0);
});

// SPEC E4 (Wine's test_close_events): FD_CLOSE recorded while unselected is reported once selected;
// with no selection at all (mask 0) nothing is reported and nothing cleared
both_ways!(an_unselected_fd_close_stays_recorded_until_a_selection_includes_it, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    let a = h.server.accept(l, None).unwrap().socket;
    let sig = CountingSignal::new();
    h.server.event_select(a, Some(sig.handle()), FD_CONNECT).unwrap();
    h.client.close(c).unwrap();
    settle(&h.client); // at a distance the close arrives a moment later
    assert_eq!(sig.sets(), 0);
    h.server.event_select(a, None, 0).unwrap();
    assert_eq!(h.server.enum_network_events(a, None).unwrap().events, 0, "mask 0: nothing reported");
    h.server.event_select(a, Some(sig.handle()), FD_CLOSE).unwrap();
    assert_eq!(sig.sets(), 1);
    let ev = h.server.enum_network_events(a, None).unwrap();
    assert_eq!((ev.events, ev.error(FD_CLOSE_BIT)), (FD_CLOSE, Some(0)));
    assert_eq!(h.server.enum_network_events(a, None).unwrap().events, 0, "nothing twice");
});

// SPEC E2 (Wine's test_accept_events): once FD_ACCEPT was reported, selecting again on the listener
// (same mask, or 0 and then FD_ACCEPT) records and signals nothing until an accept re-enables it
both_ways!(fd_accept_is_not_reported_twice_by_selecting_again, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let _c1 = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(1)); // at a distance set a moment after the request arrived
    assert_eq!(sig.sets(), 1);
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!((sig.sets(), h.server.enum_network_events(l, None).unwrap().events), (1, 0), "same mask again");
    h.server.event_select(l, None, 0).unwrap();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!((sig.sets(), h.server.enum_network_events(l, None).unwrap().events), (1, 0), "0, then FD_ACCEPT");
    // a new request records it again (Windows, event mode)
    let _c2 = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(2)); // at a distance set a moment after the request arrived
    assert_eq!(sig.sets(), 2);
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    // an accept re-enables it: still one queued, so it is recorded again
    h.server.accept(l, None).unwrap();
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    // the accept that empties the queue records nothing
    h.server.accept(l, None).unwrap();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0);
});

// SPEC E1, E2 (Wine's test_accept_events): a request that arrived while FD_ACCEPT was not selected
// is found by a later selection, which signals at once; an accept before that selection clears it
both_ways!(fd_accept_of_a_request_queued_before_the_selection, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_CONNECT).unwrap();
    let _c1 = queued_connect(&h.client, addr);
    assert_eq!(sig.sets(), 0);
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!(sig.sets(), 1);
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    h.server.accept(l, None).unwrap();
    h.server.event_select(l, Some(sig.handle()), FD_CONNECT).unwrap();
    let _c2 = queued_connect(&h.client, addr);
    h.server.accept(l, None).unwrap();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0, "accepted before the selection");
});

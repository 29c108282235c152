//! SPEC section 5: listen, the backlog rules and descriptor exhaustion. Tests of a connector and a
//! listener run with both on one provider and on two providers of one fabric (SPEC section 11).

mod common;

use common::*;
use wspsan_core::consts::{
    FD_ACCEPT, FD_ACCEPT_BIT, FD_CONNECT, FD_CONNECT_BIT, PLATFORM_SOMAXCONN, SO_ACCEPTCONN, SOL_SOCKET, SOMAXCONN,
    platform, somaxconn_hint,
};
use wspsan_core::{ConnectParams, Decision, Descriptor, Limits, Provider, SockOpt, WsaError, effective_backlog};

fn bound(p: &Provider) -> Descriptor {
    let s = p.socket().unwrap();
    p.bind(s, lo(0)).unwrap();
    s
}

fn backlog_of(p: &Provider, s: Descriptor) -> u64 {
    p.listener_stats(s).unwrap().backlog
}

/// Leave exactly no free descriptor.
fn exhaust_descriptors(p: &Provider) {
    let open = p.device().stats().open_sockets as usize;
    p.device().set_descriptor_limit(Some(open));
    assert_eq!(p.socket(), Err(WsaError::MFile));
}

// SPEC L1
#[test]
fn listen_on_an_unknown_descriptor_gives_wsaenotsock() {
    let p = Provider::new();
    for raw in [0, 1, 0x100, 0x104, 12345, u64::MAX] {
        assert_eq!(p.listen(Descriptor::from_raw(raw), 5), Err(WsaError::NotSock), "{raw:#x}");
    }
    let s = bound(&p);
    p.close(s).unwrap();
    assert_eq!(p.listen(s, 5), Err(WsaError::NotSock));
}

// SPEC L2
#[test]
fn listen_on_an_unbound_socket_gives_wsaeinval_whatever_the_backlog() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    for backlog in [0, 1, 5, -1, -300, SOMAXCONN, PLATFORM_SOMAXCONN, i32::MIN, i32::MAX - 1, 100_000] {
        assert_eq!(p.listen(s, backlog), Err(WsaError::Inval), "backlog {backlog}");
    }
    assert_eq!(p.get_option(s, SockOpt::AcceptConn), Ok(0));
}

// SPEC L3
both_ways!(listen_on_a_connected_accepted_or_connecting_socket_gives_wsaeisconn, |h| {
    let (l, addr) = listener(&h.server, 5);
    let connecting = queued_connect(&h.client, addr);
    assert_eq!(h.client.listen(connecting, 5), Err(WsaError::IsConn), "connect pending");
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(h.client.listen(connecting, 5), Err(WsaError::IsConn), "connected");
    assert_eq!(h.server.listen(a.socket, 5), Err(WsaError::IsConn), "accepted");
    assert_eq!(h.server.get_option(a.socket, SockOpt::AcceptConn), Ok(0));
    // a blocking connector while its connect waits
    let blocking = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(blocking, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
    assert_eq!(h.client.listen(blocking, 5), Err(WsaError::IsConn));
    let b = h.server.accept(l, None).unwrap();
    assert_eq!(waiting.join(), Ok(vec![]));
    assert_eq!(h.server.listen(b.socket, 5), Err(WsaError::IsConn));
});

// SPEC L4
both_ways!(listen_never_returns_addrinuse_inprogress_or_opnotsupp, |h| {
    let forbidden = [WsaError::AddrInUse, WsaError::InProgress, WsaError::OpNotSupp];
    let p = &h.server;
    let (l, addr) = listener(p, 5);
    let mut results = Vec::new();
    // listening again, with every kind of backlog, with requests queued
    let _c = queued_connect(&h.client, addr);
    for b in [0, 1, 2, -5, -100_000, SOMAXCONN, PLATFORM_SOMAXCONN, i32::MIN, i32::MAX, 7] {
        results.push(p.listen(l, b));
    }
    // a second socket on the same port cannot exist, but one on another port can listen too
    let (l2, _) = listener(p, 1);
    results.push(p.listen(l2, 1));
    // unbound, connected, closed, unknown
    let unbound = p.socket().unwrap();
    results.push(p.listen(unbound, 1));
    let a = p.accept(l, None).unwrap();
    results.push(p.listen(a.socket, 1));
    p.close(l2).unwrap();
    results.push(p.listen(l2, 1));
    // from another thread while a blocking accept waits on the socket
    let q = p.clone();
    let waiting = bg(move || q.accept(l, None).map(|a| a.peer));
    std::thread::sleep(SETTLE);
    results.push(p.listen(l, 3));
    let c = queued_connect(&h.client, addr);
    assert_eq!(waiting.join(), Ok(h.client.sock_name(c).unwrap()));
    for r in results {
        if let Err(e) = r {
            assert!(!forbidden.contains(&e), "listen returned {e}");
        }
    }
});

// SPEC L5
#[test]
fn backlog_values_are_clamped_never_refused() {
    let p = Provider::new();
    let s = bound(&p);
    let cases: &[(i32, u64)] = &[
        (1, 1),
        (5, 5),
        (4096, 4096),
        (0, 1),
        (4097, 4096),
        (100_000, 4096),
        (i32::MAX - 1, 4096),
        (SOMAXCONN, 4096),
        (PLATFORM_SOMAXCONN, 4096),
        (somaxconn_hint(1), 200),
        (somaxconn_hint(5), 200),
        (somaxconn_hint(200), 200),
        (somaxconn_hint(300), 300),
        (somaxconn_hint(4096), 4096),
        (somaxconn_hint(5000), 4096),
        (somaxconn_hint(100_000), 4096),
        (i32::MIN, 4096),
    ];
    for &(req, want) in cases {
        assert_eq!(p.listen(s, req), Ok(()), "backlog {req}");
        assert_eq!(backlog_of(&p, s), want, "backlog {req}");
        assert_eq!(u64::from(effective_backlog(req, 4096)), want, "effective_backlog({req})");
    }
}

// SPEC L5
#[test]
fn somaxconn_hint_is_clamped_to_65535_then_to_the_device_maximum() {
    let p = Provider::new();
    p.device().set_limits(Limits { max_backlog: 100_000, ..Limits::default() });
    let s = bound(&p);
    let cases: &[(i32, u64)] = &[
        (somaxconn_hint(100_000), 65535),
        (somaxconn_hint(65535), 65535),
        (somaxconn_hint(70_000), 65535),
        (somaxconn_hint(150), 200),
        (SOMAXCONN, 100_000),
        (90_000, 90_000),
    ];
    for &(req, want) in cases {
        p.listen(s, req).unwrap();
        assert_eq!(backlog_of(&p, s), want, "backlog {req}");
    }
    // a small device maximum wins over the 200 floor of the hint
    p.device().set_limits(Limits { max_backlog: 50, ..Limits::default() });
    p.listen(s, somaxconn_hint(10)).unwrap();
    assert_eq!(backlog_of(&p, s), 50);
    p.listen(s, 0).unwrap();
    assert_eq!(backlog_of(&p, s), 1);
}

// SPEC L5, L7
both_ways!(a_backlog_of_zero_means_one, |h| {
    let (l, addr) = listener(&h.server, 0);
    assert_eq!(backlog_of(&h.server, l), 1);
    let _c = queued_connect(&h.client, addr);
    let d = nb_connector(&h.client);
    // at a distance refused after one round trip (F5)
    assert_eq!(connect_outcome(&h.client, d, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
});

// SPEC L6
#[test]
fn listen_again_replaces_the_backlog() {
    let p = Provider::new();
    let (l, _) = listener(&p, 5);
    p.listen(l, 10).unwrap();
    assert_eq!(backlog_of(&p, l), 10);
    p.listen(l, 2).unwrap();
    assert_eq!(backlog_of(&p, l), 2);
    p.listen(l, SOMAXCONN).unwrap();
    assert_eq!(backlog_of(&p, l), 4096);
    assert_eq!(p.get_option(l, SockOpt::AcceptConn), Ok(1));
}

// SPEC L6, C2, C6
both_ways!(shrinking_the_backlog_resets_the_newest_excess_requests, |h| {
    let (l, addr) = listener(&h.server, 5);
    let mut conns = Vec::new();
    for _ in 0..5 {
        let c = nb_connector(&h.client);
        let sig = CountingSignal::new();
        h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
        assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
        conns.push((c, sig));
    }
    settle(&h.client); // at a distance the five requests are queued a moment later
    h.server.listen(l, 2).unwrap();
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.backlog, s.queue_len, s.reset), (2, 2, 3));
    settle(&h.server); // and the resets arrive a moment later
    for (c, sig) in &conns[2..] {
        assert!(sig.wait_sets(1), "a reset connector is signalled");
        assert_eq!(sig.sets(), 1, "a reset connector is signalled");
        let ev = h.client.enum_network_events(*c, None).unwrap();
        assert_eq!(ev.events, FD_CONNECT);
        assert_eq!(ev.error(FD_CONNECT_BIT), Some(WsaError::ConnReset.code()));
        assert_eq!(h.client.get_option(*c, SockOpt::Error), Ok(WsaError::ConnReset.code()));
        assert_eq!(h.client.get_option(*c, SockOpt::Error), Ok(WsaError::ConnReset.code()), "reading keeps it (C2)");
        assert_eq!(h.client.peer_name(*c), Err(WsaError::NotConn));
    }
    for (c, sig) in &conns[..2] {
        assert_eq!(sig.sets(), 0, "older requests are untouched");
        assert_eq!(h.client.enum_network_events(*c, None).unwrap().events, 0);
        assert_eq!(h.client.get_option(*c, SockOpt::Error), Ok(0));
    }
    // the new backlog is in force: the queue is full
    let late = nb_connector(&h.client);
    assert_eq!(connect_outcome(&h.client, late, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    // the older ones are accepted in order
    for (c, sig) in &conns[..2] {
        let a = h.server.accept(l, None).unwrap();
        assert_eq!(a.peer, h.client.sock_name(*c).unwrap());
        assert!(sig.wait_sets(1));
        assert_eq!(sig.sets(), 1);
        assert_eq!(h.client.enum_network_events(*c, None).unwrap().error(FD_CONNECT_BIT), Some(0));
        assert_eq!(h.client.peer_name(*c), Ok(addr));
    }
    h.server.set_nonblocking(l, true).unwrap();
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::WouldBlock);
    // C6: a reset connector may connect again
    let (c4, _) = &conns[4];
    let before = h.client.sock_name(*c4).unwrap();
    assert_eq!(h.client.connect(*c4, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    settle(&h.client); // the listener does not block: the request must be there
    assert_eq!(h.server.accept(l, None).unwrap().peer, before);
});

// SPEC L6, C2
both_ways!(shrinking_the_backlog_fails_a_blocking_connect_with_wsaeconnreset, |h| {
    let (l, addr) = listener(&h.server, 3);
    let first = queued_connect(&h.client, addr);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 2));
    h.server.listen(l, 1).unwrap();
    assert_eq!(waiting.join(), Err(WsaError::ConnReset));
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(first).unwrap());
    assert_eq!(h.server.device().stats().pending, 0);
});

// SPEC L6
both_ways!(growing_the_backlog_keeps_the_queue, |h| {
    let (l, addr) = listener(&h.server, 2);
    let a = queued_connect(&h.client, addr);
    let b = queued_connect(&h.client, addr);
    h.server.listen(l, 4).unwrap();
    let c = queued_connect(&h.client, addr);
    let d = queued_connect(&h.client, addr);
    assert_eq!(h.server.listener_stats(l).unwrap().reset, 0);
    for s in [a, b, c, d] {
        assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(s).unwrap());
    }
});

// SPEC L7, E2
both_ways!(a_full_queue_refuses_at_once_without_an_event, |h| {
    let (l, addr) = listener(&h.server, 3);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let queued: Vec<_> = (0..3).map(|_| queued_connect(&h.client, addr)).collect();
    assert!(sig.wait_sets(1), "FD_ACCEPT for the first request");
    assert_eq!(sig.sets(), 1, "FD_ACCEPT once for the first request");
    let ev = h.server.enum_network_events(l, Some(&sig.handle())).unwrap();
    assert_eq!(ev.error(FD_ACCEPT_BIT), Some(0));
    // exactly `backlog` queued: the next one is refused at once, even on a non-blocking socket;
    // at a distance after one round trip (F5): a non-blocking connect learns it through
    // FD_CONNECT, a blocking one from the call
    let refused = nb_connector(&h.client);
    let rsig = CountingSignal::new();
    h.client.event_select(refused, Some(rsig.handle()), FD_CONNECT).unwrap();
    assert_eq!(connect_outcome(&h.client, refused, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    let blocking = h.client.socket().unwrap();
    assert_eq!(h.client.connect(blocking, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(sig.sets(), 1, "no FD_ACCEPT signalled for a refused request");
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0, "none recorded");
    if h.by_messages() {
        assert!(rsig.wait_sets(1), "at a distance the refusal is an FD_CONNECT");
        assert_eq!(rsig.sets(), 1);
        let ev = h.client.enum_network_events(refused, None).unwrap();
        assert_eq!((ev.events, ev.error(FD_CONNECT_BIT)), (FD_CONNECT, Some(WsaError::ConnRefused.code())));
    } else {
        assert_eq!(rsig.sets(), 0, "an immediate failure is not an FD_CONNECT");
        assert_eq!(h.client.enum_network_events(refused, None).unwrap().events, 0);
    }
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.queue_len, s.queued, s.refused_full), (3, 3, 2));
    // C6: the refused connector is bound and may try again once there is room
    assert!(h.client.sock_name(refused).is_ok());
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(queued[0]).unwrap());
    assert_eq!(h.client.connect(refused, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    settle(&h.client); // the listener does not block: the request must be there
    for s in [queued[1], queued[2], refused] {
        assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(s).unwrap());
    }
});

// SPEC L7
both_ways!(the_request_being_examined_still_counts_against_the_backlog, |h| {
    let (l, addr) = listener(&h.server, 1);
    let _c = queued_connect(&h.client, addr);
    let q = h.client.clone();
    let mut inner = None;
    let a = h.server.accept(
        l,
        Some(&mut |_: &mut wspsan_core::ConditionRequest<'_>| {
            // another thread connects while this request is being examined
            let q = q.clone();
            inner = Some(
                std::thread::spawn(move || {
                    let d = q.socket().unwrap();
                    q.set_nonblocking(d, true).unwrap();
                    // at a distance refused after one round trip (F5)
                    connect_outcome(&q, d, addr, ConnectParams::default())
                })
                .join()
                .unwrap(),
            );
            Decision::Accept
        }),
    );
    assert!(a.is_ok());
    assert_eq!(inner, Some(Err(WsaError::ConnRefused)));
});

// SPEC L8
#[test]
fn so_acceptconn_reads_listening_state_and_is_read_only() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    assert_eq!(p.get_option(s, SockOpt::AcceptConn), Ok(0));
    p.bind(s, lo(0)).unwrap();
    assert_eq!(p.get_option(s, SockOpt::AcceptConn), Ok(0));
    p.listen(s, 1).unwrap();
    assert_eq!(p.get_option(s, SockOpt::AcceptConn), Ok(1));
    assert_eq!(p.set_option(s, SockOpt::AcceptConn, 0), Err(WsaError::NoProtoOpt));
    assert_eq!(p.set_option(s, SockOpt::AcceptConn, 1), Err(WsaError::NoProtoOpt));
    assert_eq!(p.get_option(s, SockOpt::AcceptConn), Ok(1));
    // both numberings name the option
    assert_eq!(SockOpt::from_level_name(SOL_SOCKET, SO_ACCEPTCONN), Some(SockOpt::AcceptConn));
    assert_eq!(SockOpt::from_level_name(platform::SOL_SOCKET, platform::SO_ACCEPTCONN), Some(SockOpt::AcceptConn));
    assert_eq!(SockOpt::from_level_name(SOL_SOCKET, platform::SO_ACCEPTCONN), None);
}

// SPEC L9
#[test]
fn listen_without_a_free_descriptor_gives_wsaemfile() {
    let p = Provider::new();
    let s = bound(&p);
    exhaust_descriptors(&p);
    assert_eq!(p.listen(s, 5), Err(WsaError::MFile));
    assert_eq!(p.get_option(s, SockOpt::AcceptConn), Ok(0));
    p.device().set_descriptor_limit(None);
    p.listen(s, 5).unwrap();
    // a socket already listening may listen again while none is free
    exhaust_descriptors(&p);
    assert_eq!(p.listen(s, 3), Ok(()));
    assert_eq!(backlog_of(&p, s), 3);
}

// SPEC L9, A11
both_ways!(exhausted_listener_keeps_its_queue_and_refuses_until_listen_clears_it, |h| {
    let p = &h.server;
    let (l, addr) = listener(p, 3);
    let c0 = queued_connect(&h.client, addr);
    let c1 = nb_connector(&h.client);
    let c2 = nb_connector(&h.client);
    let c3 = nb_connector(&h.client);
    let sig = CountingSignal::new();
    p.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    exhaust_descriptors(p);
    // no free descriptor, but no accept has failed yet: requests still queue
    assert_eq!(h.client.connect(c1, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    settle(&h.client); // the listener does not block: the request must be there
    assert_eq!(p.enum_network_events(l, None).unwrap().events, FD_ACCEPT);
    let e = p.accept(l, None).unwrap_err();
    assert_eq!(e.error, WsaError::MFile);
    assert_eq!(p.listener_stats(l).unwrap().queue_len, 2, "the queue is kept");
    // exhausted: refused as by L7, even though there is room, and no event
    let sets = sig.sets();
    p.enum_network_events(l, None).unwrap();
    // (at a distance refused after one round trip, F5)
    assert_eq!(connect_outcome(&h.client, c2, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(sig.sets(), sets);
    assert_eq!(p.enum_network_events(l, None).unwrap().events, 0);
    // freeing a descriptor alone does not clear the state...
    p.device().set_descriptor_limit(None);
    assert_eq!(connect_outcome(&h.client, c2, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    // ...the next listen does: the queue refills up to the current backlog
    p.listen(l, 3).unwrap();
    assert_eq!(connect_outcome(&h.client, c2, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(connect_outcome(&h.client, c3, addr, ConnectParams::default()), Err(WsaError::ConnRefused), "full at 3");
    let s = p.listener_stats(l).unwrap();
    assert_eq!((s.refused_full, s.queue_len), (3, 3));
    for c in [c0, c1, c2] {
        assert_eq!(p.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
    }
});

// SPEC L9, A11
both_ways!(accept_with_a_free_descriptor_clears_exhaustion, |h| {
    let p = &h.server;
    let (l, addr) = listener(p, 2);
    let c0 = queued_connect(&h.client, addr);
    let c1 = nb_connector(&h.client);
    exhaust_descriptors(p);
    assert_eq!(p.accept(l, None).unwrap_err().error, WsaError::MFile);
    // a listen made while no descriptor is free does not clear the state
    p.listen(l, 2).unwrap();
    // (at a distance refused after one round trip, F5)
    assert_eq!(connect_outcome(&h.client, c1, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    p.device().set_descriptor_limit(None);
    assert_eq!(p.accept(l, None).unwrap().peer, h.client.sock_name(c0).unwrap(), "the same request first");
    // listening resumed
    assert_eq!(h.client.connect(c1, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(p.accept(l, None).unwrap().peer, h.client.sock_name(c1).unwrap());
});

// SPEC L10
both_ways!(a_listener_keeps_working_after_its_thread_exits, |h| {
    let p = &h.server;
    let q = p.clone();
    let (l, addr) = std::thread::spawn(move || listener(&q, 4)).join().unwrap();
    let c = queued_connect(&h.client, addr);
    let blocking = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(blocking, addr, ConnectParams::default()));
    assert!(wait_until(|| p.listener_stats(l).unwrap().queue_len == 2));
    assert_eq!(p.accept(l, None).unwrap().peer, h.client.sock_name(c).unwrap());
    p.accept(l, None).unwrap();
    assert_eq!(waiting.join(), Ok(vec![]));
    // listen again from yet another thread, then accept from a third
    let q = p.clone();
    std::thread::spawn(move || q.listen(l, 1).unwrap()).join().unwrap();
    let d = queued_connect(&h.client, addr);
    let q = p.clone();
    let peer = std::thread::spawn(move || q.accept(l, None).unwrap().peer).join().unwrap();
    assert_eq!(peer, h.client.sock_name(d).unwrap());
});

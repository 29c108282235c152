//! SPEC section 9: close. Tests of a connector and a listener run with both on one provider and
//! on two providers of one fabric (SPEC section 11).

mod common;

use common::*;
use std::collections::HashSet;
use wspsan_core::consts::{FD_CLOSE, FD_CLOSE_BIT, FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{ConnectParams, Descriptor, Provider, SockOpt, WsaError};

// SPEC K1
#[test]
fn close_on_an_unknown_descriptor_gives_wsaenotsock() {
    let p = Provider::new();
    for raw in [0, 1, 0x100, u64::MAX, u64::from(u32::MAX)] {
        assert_eq!(p.close(Descriptor::from_raw(raw)), Err(WsaError::NotSock), "{raw:#x}");
    }
}

// SPEC K1
both_ways!(a_closed_descriptor_is_dead_for_good_and_never_reused, |h| {
    let p = &h.server;
    let (l, addr) = listener(p, 2);
    let s = p.socket().unwrap();
    p.close(s).unwrap();
    assert_eq!(p.close(s), Err(WsaError::NotSock));
    assert_eq!(p.bind(s, lo(0)), Err(WsaError::NotSock));
    assert_eq!(p.listen(s, 1), Err(WsaError::NotSock));
    assert_eq!(p.connect(s, addr, ConnectParams::default()), Err(WsaError::NotSock));
    assert_eq!(p.accept(s, None).unwrap_err().error, WsaError::NotSock);
    assert_eq!(p.sock_name(s), Err(WsaError::NotSock));
    assert_eq!(p.peer_name(s), Err(WsaError::NotSock));
    assert_eq!(p.get_option(s, SockOpt::Type), Err(WsaError::NotSock));
    assert_eq!(p.set_option(s, SockOpt::SndBuf, 1), Err(WsaError::NotSock));
    assert_eq!(p.set_nonblocking(s, true), Err(WsaError::NotSock));
    assert_eq!(p.event_select(s, None, FD_CLOSE), Err(WsaError::NotSock));
    assert_eq!(p.enum_network_events(s, None), Err(WsaError::NotSock));
    assert_eq!(p.listener_stats(s), Err(WsaError::NotSock));
    assert_eq!(p.context(s), Err(WsaError::NotSock));
    // no later socket, made by socket or by accept, ever gets a closed value; values are unique
    // per provider (two providers may hand out the same value), so each is seen with its owner
    let (server, client) = (0, h.pick(0, 1));
    let mut seen: HashSet<(u8, Descriptor)> = [(server, s), (server, l)].into_iter().collect();
    for _ in 0..200 {
        let t = p.socket().unwrap();
        assert!(seen.insert((server, t)), "{t} reused");
        p.close(t).unwrap();
    }
    for _ in 0..20 {
        let c = queued_connect(&h.client, addr);
        let a = p.accept(l, None).unwrap();
        assert!(seen.insert((client, c)) && seen.insert((server, a.socket)));
        p.close(a.socket).unwrap();
        h.client.close(c).unwrap();
        assert_eq!(p.close(a.socket), Err(WsaError::NotSock));
        assert_eq!(h.client.close(c), Err(WsaError::NotSock));
    }
    assert_eq!(h.open_sockets(), 1);
});

// SPEC K2
both_ways!(closing_a_listener_refuses_every_queued_request, |h| {
    let (l, addr) = listener(&h.server, 5);
    let mut nb = Vec::new();
    for _ in 0..3 {
        let c = nb_connector(&h.client);
        let sig = CountingSignal::new();
        h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
        assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
        nb.push((c, sig));
    }
    let blocking = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(blocking, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 4));
    h.server.close(l).unwrap();
    assert_eq!(waiting.join(), Err(WsaError::ConnRefused));
    settle(&h.server); // at a distance the refusals arrive a moment later
    for (c, sig) in &nb {
        assert!(sig.wait_sets(1));
        assert_eq!(sig.sets(), 1);
        let ev = h.client.enum_network_events(*c, None).unwrap();
        assert_eq!(ev.error(FD_CONNECT_BIT), Some(WsaError::ConnRefused.code()));
        assert_eq!(h.client.get_option(*c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
        assert_eq!(h.client.peer_name(*c), Err(WsaError::NotConn));
    }
    let dev = h.server.device().stats();
    assert_eq!((dev.listeners.refused_by_close, dev.pending), (4, 0));
    // the address is free at once, and the refused connectors may connect again (C6)
    let l2 = listener_at(&h.server, addr, 5);
    let (c0, _) = &nb[0];
    assert_eq!(h.client.connect(*c0, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(h.server.accept(l2, None).unwrap().peer, h.client.sock_name(*c0).unwrap());
});

// SPEC K2
both_ways!(connects_after_the_close_are_refused_as_nobody_listens, |h| {
    let (l, addr) = listener(&h.server, 5);
    h.server.close(l).unwrap();
    let c = nb_connector(&h.client);
    // at a distance the refusal comes back after one round trip (F5)
    assert_eq!(connect_outcome(&h.client, c, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    // counted by the device that owns the address
    assert_eq!(h.server.device().stats().refused_no_listener, 1);
});

// SPEC K2, A2
#[test]
fn closing_a_listener_wakes_every_blocked_accept() {
    for (i, delay) in WAKE_DELAYS.iter().enumerate() {
        let p = Provider::new();
        let (l, _) = listener(&p, 5);
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let q = p.clone();
                bg(move || q.accept(l, None).map(|_| ()).map_err(|e| e.error))
            })
            .collect();
        std::thread::sleep(*delay);
        p.close(l).unwrap();
        let results: Vec<_> = waiting.into_iter().map(Bg::join).collect();
        if results.contains(&Err(WsaError::NotSock)) && i + 1 < WAKE_DELAYS.len() {
            continue; // a thread had not started its accept yet
        }
        assert_eq!(results, vec![Err(WsaError::Intr); 3]);
        return;
    }
}

// SPEC K3, C7
both_ways!(closing_a_connector_withdraws_its_pending_request, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    h.client.close(c).unwrap();
    // pending requests count on the listener's device
    assert_eq!(h.server.device().stats().pending, 1, "still queued until accept reaches it");
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
    assert_eq!(h.server.device().stats().pending, 0);
});

// SPEC K3
both_ways!(closing_the_accepted_end_records_fd_close_on_the_connector, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let sig = CountingSignal::new();
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT | FD_CLOSE).unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, FD_CONNECT);
    assert_eq!(h.client.peer_name(c), Ok(addr));
    h.server.close(a.socket).unwrap();
    // at a distance the connector learns it a moment later (a CLOSE message)
    settle(&h.server);
    assert!(sig.wait_sets(2));
    assert_eq!(sig.sets(), 2);
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.events, FD_CLOSE);
    assert_eq!(ev.error(FD_CLOSE_BIT), Some(0));
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0, "reported once");
    // the socket itself stays usable until closed
    assert_eq!(h.client.sock_name(c).map(|_| ()), Ok(()));
    h.client.close(c).unwrap();
});

// SPEC K3
both_ways!(closing_the_connector_records_fd_close_on_the_accepted_socket, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(waiting.join(), Ok(vec![]));
    // FD_CLOSE is remembered while not selected (no selection inherited here)
    h.client.close(c).unwrap();
    settle(&h.client); // at a distance the accepted end learns it a moment later
    assert_eq!(h.server.peer_name(a.socket), Err(WsaError::NotConn));
    let sig = CountingSignal::new();
    h.server.event_select(a.socket, Some(sig.handle()), FD_CLOSE).unwrap();
    assert_eq!(sig.sets(), 1, "already recorded: signalled at once");
    let ev = h.server.enum_network_events(a.socket, None).unwrap();
    assert_eq!(ev.events, FD_CLOSE);
    assert_eq!(ev.error(FD_CLOSE_BIT), Some(0));
    // the listener is not affected
    assert_eq!(h.server.get_option(l, SockOpt::AcceptConn), Ok(1));
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0);
});

// SPEC K1
#[test]
fn descriptor_values_stay_unique_over_many_closes() {
    // enough closes for the table to recycle its slots: values must still never repeat
    let p = Provider::new();
    let mut seen = HashSet::new();
    let mut dead = Vec::new();
    for i in 0..40_000 {
        let s = p.socket().unwrap();
        assert!(seen.insert(s), "{s} handed out twice");
        p.close(s).unwrap();
        if i % 4000 == 0 {
            dead.push(s);
        }
    }
    let live = p.socket().unwrap();
    for s in dead {
        assert_eq!(p.close(s), Err(WsaError::NotSock));
        assert_eq!(p.sock_name(s), Err(WsaError::NotSock));
    }
    assert_eq!(p.device().stats().open_sockets, 1);
    p.close(live).unwrap();
}

// C7, K1: closing a socket while its blocking connect waits (or a listener while an accept
// waits) leaves its storage to the waiting thread, which gives it back when it leaves: a program
// that does this over and over does not grow without bound. (The slot is the low 24 bits of a
// descriptor divided by 4, core/src/table.rs.)
#[test]
fn storage_of_sockets_closed_under_a_waiting_thread_is_reused() {
    let p = Provider::new();
    let (l, addr) = listener(&p, 1000);
    let slot = |d: Descriptor| (d.raw() >> 2) & 0xff_ffff;
    let mut highest = 0;
    for round in 0..30_000 {
        let c = p.socket().unwrap();
        highest = highest.max(slot(c));
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || p.connect(c, addr, ConnectParams::default()))
        };
        // Close it once its request is queued (the connect is then surely waiting or about to).
        while p.listener_stats(l).unwrap().queue_len == 0 {
            std::thread::yield_now();
        }
        p.close(c).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap_err(), WsaError::Intr, "round {round}");
        // The withdrawn request: accept sees it gone (A12).
        assert_eq!(p.accept(l, None).unwrap_err().error, WsaError::Acces);
    }
    // Without reuse every round would take a new slot; with it the slab stays near the number of
    // slots that must wait in the free lists before reuse (16 lists of 1024 and a batch).
    assert!(highest < 24_000, "slot {highest} after 30000 rounds");
}

// SPEC K1, K2, T2: close_all while accepts and connects are in flight. Every call ends, every
// socket an accept returns can be closed (or was closed by close_all), and nothing is left open
// or pending: not even a socket an accept made for a connector that close_all closed meanwhile.
both_ways!(close_all_races_accepts_in_flight, |h| {
    use std::time::Duration;
    use wspsan_core::Wait;
    let (l, addr) = listener(&h.server, 64);
    let wait = || Wait { timeout: Some(Duration::from_secs(2)), interrupt: None };
    let connectors: Vec<_> = (0..4)
        .map(|_| {
            let p = h.client.clone();
            bg(move || {
                for _ in 0..10_000 {
                    let Ok(c) = p.socket() else { return };
                    let r = p.connect_with(c, addr, ConnectParams::default(), wait());
                    let _ = p.close(c); // close_all may have closed it already
                    if r == Err(WsaError::ConnRefused) {
                        return; // the listener is gone
                    }
                }
            })
        })
        .collect();
    let server = h.server.clone();
    let accepting = bg(move || {
        loop {
            match server.accept_with(l, None, wait()) {
                Ok(a) => {
                    let r = server.close(a.socket);
                    assert!(matches!(r, Ok(()) | Err(WsaError::NotSock)), "{r:?}");
                }
                Err(e) if e.error == WsaError::Acces => {} // that connector gave up (closed by close_all)
                Err(e) => return e.error,
            }
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    h.server.close_all().unwrap();
    let ended = accepting.join();
    assert!(matches!(ended, WsaError::NotSock | WsaError::Intr), "{ended:?}");
    for c in connectors {
        c.join();
    }
    assert!(wait_until(|| h.open_sockets() == 0), "sockets left open: {}", h.open_sockets());
    assert!(wait_until(|| h.server.device().stats().pending == 0), "requests left pending");
});

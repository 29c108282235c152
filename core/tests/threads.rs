//! SPEC section 10: threads. Small deterministic cases; the randomized stress test is stress.rs.
//! Every test runs with connector and listener on one provider and on two providers of one fabric
//! (SPEC section 11).

mod common;

use common::*;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::Duration;
use wspsan_core::{ConditionRequest, ConnectParams, Decision, Provider, Wait, WsaError};

// SPEC T1
both_ways!(a_blocked_accept_blocks_only_its_own_thread, |h| {
    let (l1, a1) = listener(&h.server, 2);
    let q = h.server.clone();
    let blocked = bg(move || q.accept(l1, None).map(|a| a.peer));
    std::thread::sleep(SETTLE);
    // meanwhile a whole connect/accept cycle on another listener, from two more threads
    let (l2, a2) = listener(&h.server, 2);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let connecting = bg(move || q.connect(c, a2, ConnectParams::default()));
    let q = h.server.clone();
    let accepting = bg(move || q.accept(l2, None).map(|a| a.peer));
    assert_eq!(accepting.join(), Ok(h.client.sock_name(c).unwrap()));
    assert_eq!(connecting.join(), Ok(vec![]));
    assert!(!blocked.finished());
    // and the blocked accept still gets its own request
    let d = queued_connect(&h.client, a1);
    assert_eq!(blocked.join(), Ok(h.client.sock_name(d).unwrap()));
});

// SPEC T1
both_ways!(a_blocked_connect_blocks_only_its_own_thread, |h| {
    let (l1, a1) = listener(&h.server, 2);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let blocked = bg(move || q.connect(c, a1, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l1).unwrap().queue_len == 1));
    let (l2, a2) = listener(&h.server, 2);
    let d = queued_connect(&h.client, a2);
    assert_eq!(h.server.accept(l2, None).unwrap().peer, h.client.sock_name(d).unwrap());
    assert!(!blocked.finished());
    h.server.accept(l1, None).unwrap();
    assert_eq!(blocked.join(), Ok(vec![]));
});

// SPEC T1
both_ways!(a_socket_may_be_used_from_any_thread_at_any_step, |h| {
    let run = |p: &Provider, f: Box<dyn FnOnce(&Provider) + Send>| {
        let q = p.clone();
        std::thread::spawn(move || f(&q)).join().unwrap();
    };
    let (server, client) = (&h.server, &h.client);
    let l = server.socket().unwrap();
    run(server, Box::new(move |q| q.bind(l, lo(0)).unwrap()));
    run(server, Box::new(move |q| q.listen(l, 3).unwrap()));
    let addr = server.sock_name(l).unwrap();
    let c = client.socket().unwrap();
    run(client, Box::new(move |q| q.set_nonblocking(c, true).unwrap()));
    run(client, Box::new(move |q| assert_eq!(q.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock))));
    let q = server.clone();
    let a = std::thread::spawn(move || q.accept(l, None).unwrap()).join().unwrap();
    run(client, Box::new(move |q| assert_eq!(q.peer_name(c), Ok(addr))));
    run(server, Box::new(move |q| q.close(a.socket).unwrap()));
    run(client, Box::new(move |q| q.close(c).unwrap()));
    run(server, Box::new(move |q| q.close(l).unwrap()));
    assert_eq!(h.open_sockets(), 0);
});

/// What a connector saw.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    Accepted,
    Refused,
    TimedOut,
}

// SPEC T2
both_ways!(every_blocking_connect_ends_in_exactly_the_outcome_the_listener_chose, |h| {
    const N: u16 = 12;
    let (l, addr) = listener(&h.server, i32::from(N));
    // connector i is bound to port 20000 + i so the condition can tell them apart
    let mut threads = Vec::new();
    for i in 0..N {
        let c = h.client.socket().unwrap();
        h.client.bind(c, h.client_at(20000 + i)).unwrap();
        let q = h.client.clone();
        threads.push((
            i,
            c,
            bg(move || {
                // every fourth gives up by itself after a while; the others wait for the answer
                let timeout = (i % 4 == 3).then_some(Duration::from_millis(20));
                q.connect_with(c, addr, ConnectParams::default(), Wait { timeout, interrupt: None })
            }),
        ));
    }
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == u64::from(N)));
    // let the self-timing ones time out before the listener looks
    for (i, _, t) in &threads {
        if i % 4 == 3 {
            assert!(wait_until(|| t.finished()));
        }
    }
    let mut chosen: HashMap<u16, Outcome> = HashMap::new();
    let mut deferred_once = std::collections::HashSet::new();
    let mut accepted = Vec::new();
    loop {
        let r = h.server.accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                let i = r.caller_address().port() - 20000;
                if i % 4 == 2 && deferred_once.insert(i) {
                    return Decision::Defer;
                }
                let d = if i % 4 == 1 { Decision::Reject } else { Decision::Accept };
                chosen.insert(i, if d == Decision::Accept { Outcome::Accepted } else { Outcome::Refused });
                d
            }),
        );
        match r {
            Ok(a) => accepted.push(a),
            Err(e) if e.error == WsaError::Acces => {
                let i = e.examined.unwrap().port() - 20000;
                assert!(chosen.insert(i, Outcome::TimedOut).is_none());
            }
            Err(e) if matches!(e.error, WsaError::ConnRefused | WsaError::TryAgain) => {}
            Err(e) => panic!("unexpected {e}"),
        }
        if h.server.listener_stats(l).unwrap().queue_len == 0 {
            break;
        }
    }
    assert_eq!(chosen.len(), usize::from(N), "every request examined exactly once to its end");
    for (i, c, t) in threads {
        let seen = match t.join() {
            Ok(_) => Outcome::Accepted,
            Err(WsaError::ConnRefused) => Outcome::Refused,
            Err(WsaError::TimedOut) => Outcome::TimedOut,
            Err(e) => panic!("connector {i}: {e}"),
        };
        assert_eq!(Some(&seen), chosen.get(&i), "connector {i}");
        let want_peer = if seen == Outcome::Accepted { Ok(addr) } else { Err(WsaError::NotConn) };
        assert_eq!(h.client.peer_name(c), want_peer);
    }
    let peers: Vec<SocketAddrV4> = accepted.iter().map(|a| a.peer).collect();
    assert_eq!(peers.len(), chosen.values().filter(|o| **o == Outcome::Accepted).count());
    for a in &accepted {
        assert_eq!(h.server.peer_name(a.socket), Ok(a.peer));
    }
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!(s.queued, u64::from(N));
    assert_eq!(s.queued, s.accepted + s.rejected + s.withdrawn);
    assert_eq!(s.deferred, 3);
    assert_eq!(h.server.device().stats().pending, 0, "nothing left waiting");
});

// SPEC T2, K2
both_ways!(closing_the_listener_answers_every_waiting_connector_once, |h| {
    let (l, addr) = listener(&h.server, 8);
    let waiting: Vec<_> = (0..6)
        .map(|_| {
            let c = h.client.socket().unwrap();
            let q = h.client.clone();
            (c, bg(move || q.connect(c, addr, ConnectParams::default())))
        })
        .collect();
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 6));
    let first = h.server.accept(l, None).unwrap();
    h.server.close(l).unwrap();
    let mut accepted = 0;
    for (c, w) in waiting {
        match w.join() {
            Ok(_) => {
                accepted += 1;
                assert_eq!(h.client.sock_name(c).unwrap(), first.peer);
            }
            Err(e) => assert_eq!(e, WsaError::ConnRefused),
        }
    }
    assert_eq!(accepted, 1);
    let dev = h.server.device().stats();
    assert_eq!((dev.listeners.accepted, dev.listeners.refused_by_close, dev.pending), (1, 5, 0));
});

// SPEC T1, T2, C3: two bound sockets that are not listening connect to each other's address at
// the same time (a simultaneous open). Each connect finds the other socket at its address and
// must be refused; neither may wait for the other for ever.
both_ways!(two_bound_sockets_connecting_to_each_other_are_both_refused, |h| {
    let a = h.client.socket().unwrap();
    h.client.bind(a, h.client_at(7401)).unwrap();
    let b = h.server.socket().unwrap();
    h.server.bind(b, lo(7402)).unwrap();
    let (to_b, to_a) = (lo(7402), h.client.sock_name(a).unwrap());
    let rounds = if h.by_messages() { 200 } else { 20_000 };
    let run = |p: &Provider, s, to| {
        let p = p.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..rounds {
                let r = p.connect(s, to, ConnectParams::default());
                if r != Err(WsaError::ConnRefused) {
                    let _ = tx.send(Err(r));
                    return;
                }
            }
            let _ = tx.send(Ok(()));
        });
        rx
    };
    let (ra, rb) = (run(&h.client, a, to_b), run(&h.server, b, to_a));
    for rx in [ra, rb] {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(r) => assert_eq!(r, Ok(()), "a connect to a socket that does not listen is refused"),
            Err(_) => panic!("the two connects still wait for each other (deadlock)"),
        }
    }
});

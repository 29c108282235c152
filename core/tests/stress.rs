//! Many threads connecting, closing, rejecting, deferring, shrinking the backlog and closing
//! the listener at random; every attempt's outcome is checked on both sides.
// SPEC T1, T2

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use wspsan_core::consts::{FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{
    ConditionRequest, ConnectParams, Decision, Descriptor, DeviceConfig, Limits, Provider, Signal, Wait, WsaError,
};

/// xorshift64*: deterministic per thread, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A signal a thread can wait on.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    cv: Condvar,
}
impl Signal for Flag {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn reset(&self) {
        *self.set.lock().unwrap() = false;
    }
}
impl Flag {
    fn wait(&self, d: Duration) {
        let g = self.set.lock().unwrap();
        let _ = self.cv.wait_timeout_while(g, d, |s| !*s).unwrap();
    }
}

/// What the connecting side saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientSaw {
    Accepted {
        local: SocketAddrV4,
    },
    Refused,
    Reset,
    TimedOut,
    /// Closed its socket before an answer arrived (it may still have been accepted just before).
    Abandoned,
}

/// What the accepting side did with a request it examined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerDid {
    Accepted { socket: Descriptor, peer: SocketAddrV4 },
    Rejected,
}

const PORT: u16 = 7000;

#[test]
fn every_attempt_ends_in_one_outcome_both_sides_agree() {
    let p = Provider::with_config(DeviceConfig {
        limits: Limits { max_backlog: 8, connect_timeout: Some(Duration::from_millis(25)), ..Limits::default() },
        ..DeviceConfig::default()
    });
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT);
    let new_listener = move |p: &Provider, backlog: i32| -> Descriptor {
        let l = p.socket().unwrap();
        p.bind(l, addr).unwrap();
        p.listen(l, backlog).unwrap();
        l
    };
    let current = Arc::new(AtomicU64::new(new_listener(&p, 4).raw()));
    let stop = Arc::new(AtomicBool::new(false));
    let client_log: Arc<Mutex<HashMap<u64, ClientSaw>>> = Arc::default();
    let server_log: Arc<Mutex<HashMap<u64, ServerDid>>> = Arc::default();
    let next_id = Arc::new(AtomicU64::new(1));

    // Two accepting threads with random decisions.
    let mut servers = Vec::new();
    for seed in 0..2u64 {
        let (p, current, stop, server_log) = (p.clone(), current.clone(), stop.clone(), server_log.clone());
        servers.push(thread::spawn(move || {
            let mut rng = Rng(0x9E37_79B9 + seed);
            let mut accepted = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if rng.below(40) == 0 {
                    thread::sleep(Duration::from_millis(60)); // a stall: queued connects time out
                }
                let l = Descriptor::from_raw(current.load(Ordering::Acquire));
                let mut seen = None;
                let choice = rng.below(10);
                let mut cond = |req: &mut ConditionRequest<'_>| {
                    let id = u64::from_le_bytes(req.caller_data().unwrap().try_into().unwrap());
                    seen = Some(id);
                    req.set_callee_data(&id.to_le_bytes());
                    match choice {
                        0..=5 => Decision::Accept,
                        6 => Decision::Reject,
                        7 => Decision::Invalid(42),
                        _ => Decision::Defer,
                    }
                };
                let wait = Wait { timeout: Some(Duration::from_millis(5)), interrupt: None };
                let r = p.accept_with(l, Some(&mut cond), wait);
                match r {
                    Ok(a) => {
                        let id = seen.expect("accepted without running the condition");
                        if let Ok(x) = p.peer_name(a.socket) {
                            assert_eq!(x, a.peer); // unless the connector closed already (K3)
                        }
                        let prev = server_log
                            .lock()
                            .unwrap()
                            .insert(id, ServerDid::Accepted { socket: a.socket, peer: a.peer });
                        assert!(prev.is_none(), "request {id} examined to a final answer twice");
                        accepted.push(a.socket);
                    }
                    Err(e) => match e.error {
                        WsaError::ConnRefused | WsaError::Inval => {
                            let id = seen.expect("rejected without running the condition");
                            let prev = server_log.lock().unwrap().insert(id, ServerDid::Rejected);
                            assert!(prev.is_none(), "request {id} answered twice");
                        }
                        WsaError::TryAgain => assert!(seen.is_some()),
                        WsaError::Acces | WsaError::TimedOut | WsaError::NotSock | WsaError::Intr => {}
                        other => panic!("unexpected accept error {other:?}"),
                    },
                }
            }
            accepted
        }));
    }

    // Chaos: shrink and grow the backlog, close and re-create the listener.
    let chaos = {
        let (p, current, stop) = (p.clone(), current.clone(), stop.clone());
        thread::spawn(move || {
            let mut rng = Rng(77);
            let mut closes = 0;
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(1 + rng.below(10)));
                let l = Descriptor::from_raw(current.load(Ordering::Acquire));
                match rng.below(10) {
                    0 => {
                        p.close(l).unwrap();
                        closes += 1;
                        current.store(new_listener(&p, 1 + rng.below(6) as i32).raw(), Ordering::Release);
                    }
                    1..=3 => p.listen(l, 1 + rng.below(8) as i32).unwrap(),
                    _ => {}
                }
            }
            closes
        })
    };

    // Connecting threads: blocking and non-blocking, some abandoning their attempt.
    let mut clients = Vec::new();
    for seed in 0..6u64 {
        let (p, client_log, next_id) = (p.clone(), client_log.clone(), next_id.clone());
        clients.push(thread::spawn(move || {
            let mut rng = Rng(1234 + seed * 7919);
            let flag = Arc::new(Flag::default());
            for _ in 0..150 {
                thread::sleep(Duration::from_micros(rng.below(3000))); // pace: let the queue drain
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let s = p.socket().unwrap();
                let nonblocking = rng.below(2) == 0;
                if nonblocking {
                    p.event_select(s, Some(flag.clone()), FD_CONNECT).unwrap();
                }
                flag.reset();
                let data = id.to_le_bytes();
                let r = p.connect(s, addr, ConnectParams { caller_data: Some(&data), qos: None });
                let saw = match r {
                    Ok(callee) => {
                        assert_eq!(callee, data.to_vec(), "callee data of another request");
                        ClientSaw::Accepted { local: p.sock_name(s).unwrap() }
                    }
                    Err(WsaError::ConnRefused) => ClientSaw::Refused,
                    Err(WsaError::ConnReset) => ClientSaw::Reset,
                    Err(WsaError::TimedOut) => ClientSaw::TimedOut,
                    Err(WsaError::WouldBlock) => {
                        let abandon_after = rng.below(4); // 0: abandon at once
                        let mut saw = None;
                        for round in 0.. {
                            if round >= abandon_after && abandon_after < 2 {
                                break;
                            }
                            flag.wait(Duration::from_millis(20));
                            let ev = p.enum_network_events(s, Some(&(flag.clone() as Arc<dyn Signal>))).unwrap();
                            if let Some(code) = ev.error(FD_CONNECT_BIT) {
                                saw = Some(match WsaError::from_code(code) {
                                    None => {
                                        assert_eq!(p.callee_data(s).unwrap(), data.to_vec());
                                        ClientSaw::Accepted { local: p.sock_name(s).unwrap() }
                                    }
                                    Some(WsaError::ConnRefused) => ClientSaw::Refused,
                                    Some(WsaError::ConnReset) => ClientSaw::Reset,
                                    Some(WsaError::TimedOut) => ClientSaw::TimedOut,
                                    Some(other) => panic!("unexpected FD_CONNECT error {other:?}"),
                                });
                                break;
                            }
                            assert!(round < 500, "non-blocking connect {id} never answered");
                        }
                        saw.unwrap_or(ClientSaw::Abandoned)
                    }
                    Err(other) => panic!("unexpected connect error {other:?}"),
                };
                if let ClientSaw::Accepted { .. } = saw {
                    assert_eq!(p.peer_name(s).unwrap(), addr);
                }
                client_log.lock().unwrap().insert(id, saw);
                p.close(s).unwrap();
            }
        }));
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    for c in clients {
        while !c.is_finished() {
            assert!(Instant::now() < deadline, "a connecting thread is stuck");
            thread::sleep(Duration::from_millis(5));
        }
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let closes = chaos.join().unwrap();
    let accepted_sockets: Vec<Descriptor> = servers.into_iter().flat_map(|s| s.join().unwrap()).collect();

    let clients = client_log.lock().unwrap();
    let servers = server_log.lock().unwrap();
    let count = |f: fn(&ClientSaw) -> bool| clients.values().filter(|s| f(s)).count();
    assert_eq!(clients.len(), 6 * 150);

    for (id, did) in servers.iter() {
        let saw = clients.get(id).copied().expect("server answered a request nobody made");
        match did {
            ServerDid::Accepted { socket, peer } => match saw {
                ClientSaw::Accepted { local } => assert_eq!(local, *peer, "request {id}: peers disagree"),
                // Closed just as the accept completed: the accepted end saw the close (K3).
                ClientSaw::Abandoned => assert_eq!(p.peer_name(*socket), Err(WsaError::NotConn)),
                other => panic!("request {id}: server accepted, client saw {other:?}"),
            },
            ServerDid::Rejected => {
                assert!(
                    matches!(saw, ClientSaw::Refused | ClientSaw::Abandoned),
                    "request {id}: rejected, client saw {saw:?}"
                )
            }
        }
    }
    for (id, saw) in clients.iter() {
        if let ClientSaw::Accepted { .. } = saw {
            assert!(
                matches!(servers.get(id), Some(ServerDid::Accepted { .. })),
                "request {id}: client connected, server did not accept it"
            );
        }
    }
    // Every accepted socket has seen its connector close (all clients closed).
    for s in &accepted_sockets {
        assert_eq!(p.peer_name(*s), Err(WsaError::NotConn));
        p.close(*s).unwrap();
    }
    p.close(Descriptor::from_raw(current.load(Ordering::Acquire))).unwrap();

    let st = p.device().stats();
    let l = st.listeners;
    assert_eq!(l.queue_len, 0);
    assert_eq!(st.pending, 0, "pending requests left on the device");
    assert_eq!(st.open_sockets, 0, "sockets left open");
    assert_eq!(l.queued, l.accepted + l.rejected + l.reset + l.withdrawn + l.refused_by_close, "{st:?}");
    let server_accepts = servers.values().filter(|d| matches!(d, ServerDid::Accepted { .. })).count() as u64;
    let server_rejects = servers.values().filter(|d| matches!(d, ServerDid::Rejected)).count() as u64;
    assert_eq!(l.accepted, server_accepts);
    assert_eq!(l.rejected, server_rejects);
    // A reset request whose connector had withdrawn is counted but reaches nobody.
    assert!(l.reset as usize >= count(|s| matches!(s, ClientSaw::Reset)), "{st:?}");
    // The mix really happened.
    assert!(count(|s| matches!(s, ClientSaw::Accepted { .. })) > 0, "{st:?}");
    assert!(count(|s| matches!(s, ClientSaw::Refused)) > 0, "{st:?}");
    assert!(l.deferred > 0 && l.rejected > 0 && l.reset > 0 && l.withdrawn > 0, "{st:?}");
    assert!(st.timed_out > 0, "{st:?}");
    eprintln!("stress: {st:?}, listener closes {closes}");
}

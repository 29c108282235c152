//! SPEC F6 and T2 under a fabric that misbehaves on purpose: random scenarios (several devices of
//! one in-process fabric with a fault injector, random conditions, closes and backlog changes,
//! random delays, losses, copies and reorderings) and a checker that matches every attempt's
//! outcome on both sides and requires nothing to remain pending at the end.
//!
//! `FAULT_SCENARIOS` sets how many seeds run (default 24, `make stress` runs more) and
//! `FAULT_SEED` the first one; a failure names its seed, and the same seed replays the same
//! fault decisions for the same messages.

mod common;

use common::*;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};
use wspsan_core::consts::{FD_CLOSE, FD_CLOSE_BIT, FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{
    ConditionRequest, ConnectParams, Decision, Descriptor, DeviceConfig, Fabric, FaultInjector, MessageKind, Provider,
    WsaError,
};

/// How long a connector waits for its answer, and an acceptance for its confirmation: short, so
/// that lost messages end in timeouts quickly.
const TIMEOUT: Duration = Duration::from_millis(120);

/// A small generator for the scenario itself (the injector has its own, from the same seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, of: &[T]) -> T {
        of[self.below(of.len() as u64) as usize]
    }
}

/// How one connect attempt ended, as the connector saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Waiting,
    Connected,
    Failed(i32),
    /// Closed by the scenario before it had an answer.
    ClosedByUs,
}

struct Attempt {
    from: usize,
    socket: Descriptor,
    name: SocketAddrV4,
    seen: Seen,
    /// FD_CLOSE recorded after it connected, with its code.
    peer_closed: Option<i32>,
}

fn knobs(rng: &mut Rng, faults: &FaultInjector) {
    // Losses of everything but CLOSE: a lost CLOSE leaves a half-open connection, as in TCP,
    // which no checker of agreement can tell from a live one.
    for kind in [MessageKind::Request, MessageKind::Answer, MessageKind::Confirm, MessageKind::Withdraw] {
        faults.drop_probability(Some(kind), rng.pick(&[0.0, 0.0, 0.1, 0.25])).unwrap();
    }
    faults.duplicate_probability(None, rng.pick(&[0.0, 0.2, 0.5])).unwrap();
    let max = Duration::from_micros(rng.pick(&[0, 500, 3000, 20_000]));
    faults.delay(None, Duration::ZERO, max).unwrap();
    faults.reorder(rng.pick(&[0, 0, 3, 6]) as usize);
}

/// Run one scenario; returns the faults injected and how many attempts connected and failed.
fn scenario(seed: u64) -> (wspsan_core::FaultStats, usize, usize) {
    let mut rng = Rng(seed);
    let faults = FaultInjector::new(seed);
    let fabric = Fabric::with_faults(faults.clone());
    let devices: Vec<Provider> = (1..=3)
        .map(|i| {
            let nics = vec![Ipv4Addr::new(10, 77, 0, i)];
            let p = Provider::on_fabric(&fabric, DeviceConfig { nics, ..DeviceConfig::default() }).unwrap();
            p.device().set_connect_timeout(Some(TIMEOUT));
            p.device().set_liveness(TIMEOUT).unwrap();
            p
        })
        .collect();
    let listeners: Vec<(Descriptor, SocketAddrV4)> = devices
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let addr = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, i as u8 + 1), 5000);
            let l = p.socket().unwrap();
            p.bind(l, addr).unwrap();
            p.listen(l, rng.below(4) as i32 + 1).unwrap();
            p.set_nonblocking(l, true).unwrap();
            (l, addr)
        })
        .collect();
    knobs(&mut rng, &faults);

    let signal = CountingSignal::new();
    let mut attempts: Vec<Attempt> = Vec::new();
    // Accepted sockets: (device, socket, the connector's address as the acceptor saw it).
    let mut accepted: Vec<(usize, Descriptor, SocketAddrV4)> = Vec::new();
    let total = 10 + rng.below(8) as usize;
    let deadline = Instant::now() + LONG;
    let mut round = 0;
    loop {
        round += 1;
        assert!(Instant::now() < deadline, "seed {seed}: the scenario ends (round {round})");
        // New connects, a few per round.
        if attempts.len() < total {
            for _ in 0..=rng.below(3) {
                let from = rng.below(3) as usize;
                let to = (from + 1 + rng.below(2) as usize) % 3;
                let p = &devices[from];
                let c = p.socket().unwrap();
                // Selected, so FD_CONNECT and FD_CLOSE are reported (E1).
                p.event_select(c, Some(signal.handle()), FD_CONNECT | FD_CLOSE).unwrap();
                let data = [rng.below(256) as u8; 3];
                let r = p.connect(c, listeners[to].1, ConnectParams { caller_data: Some(&data), qos: None });
                assert_eq!(
                    r,
                    Err(WsaError::WouldBlock),
                    "seed {seed}: at a distance every connect is answered later (F5)"
                );
                let name = p.sock_name(c).unwrap();
                attempts.push(Attempt { from, socket: c, name, seen: Seen::Waiting, peer_closed: None });
            }
        }
        // Now and then a backlog change or a close of a waiting connector.
        match rng.below(10) {
            0 => {
                let d = rng.below(3) as usize;
                devices[d].listen(listeners[d].0, rng.below(4) as i32 + 1).unwrap();
            }
            1 => {
                if let Some(a) = attempts.iter_mut().filter(|a| a.seen == Seen::Waiting).last() {
                    devices[a.from].close(a.socket).unwrap();
                    a.seen = Seen::ClosedByUs;
                }
            }
            _ => {}
        }
        // Each listener's device tries one accept, with a random decision.
        for (d, p) in devices.iter().enumerate() {
            let decision =
                rng.pick(&[Decision::Accept, Decision::Accept, Decision::Accept, Decision::Reject, Decision::Defer]);
            match p.accept(listeners[d].0, Some(&mut |_: &mut ConditionRequest<'_>| decision)) {
                Ok(a) => accepted.push((d, a.socket, a.peer)),
                Err(e) => assert!(
                    matches!(
                        e.error,
                        WsaError::WouldBlock | WsaError::Acces | WsaError::ConnRefused | WsaError::TryAgain
                    ),
                    "seed {seed}: accept failed with {:?}",
                    e.error
                ),
            }
        }
        // What the connectors heard.
        for a in attempts.iter_mut().filter(|a| a.seen != Seen::ClosedByUs) {
            let ev = devices[a.from].enum_network_events(a.socket, None).unwrap();
            if let Some(code) = ev.error(FD_CONNECT_BIT) {
                assert_eq!(a.seen, Seen::Waiting, "seed {seed}: one FD_CONNECT per attempt");
                a.seen = if code == 0 { Seen::Connected } else { Seen::Failed(code) };
            }
            if let Some(code) = ev.error(FD_CLOSE_BIT) {
                assert!(a.peer_closed.is_none(), "seed {seed}: one FD_CLOSE per connection");
                a.peer_closed = Some(code);
            }
        }
        let waiting = attempts.iter().any(|a| a.seen == Seen::Waiting);
        let queued: u64 = devices.iter().map(|p| p.device().stats().pending).sum();
        if attempts.len() >= total && !waiting && queued == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.below(3)));
    }
    // Let every message still on its way arrive (a late CLOSE, a copy, a request that a
    // reordering let its own withdrawal overtake: queued now, for a connector long gone), and
    // accept what is still queued until nothing is; then look once more.
    faults.clear();
    loop {
        assert!(fabric.settle(LONG), "seed {seed}: the fabric settles");
        if devices.iter().all(|p| p.device().stats().pending == 0) {
            break;
        }
        assert!(Instant::now() < deadline, "seed {seed}: the late requests are settled");
        for (d, p) in devices.iter().enumerate() {
            match p.accept(listeners[d].0, None) {
                Ok(a) => accepted.push((d, a.socket, a.peer)),
                Err(e) => {
                    assert!(matches!(e.error, WsaError::WouldBlock | WsaError::Acces), "seed {seed}: {:?}", e.error)
                }
            }
        }
    }
    std::thread::sleep(Duration::from_millis(20)); // events set by a relay a moment later
    for a in attempts.iter_mut().filter(|a| a.seen == Seen::Connected) {
        let ev = devices[a.from].enum_network_events(a.socket, None).unwrap();
        if let Some(code) = ev.error(FD_CLOSE_BIT) {
            assert!(a.peer_closed.is_none(), "seed {seed}: one FD_CLOSE per connection");
            a.peer_closed = Some(code);
        }
    }

    // The checker. Connectors by the address the acceptor sees (device NICs are distinct).
    let by_name: HashMap<SocketAddrV4, usize> = attempts.iter().enumerate().map(|(i, a)| (a.name, i)).collect();
    let mut matched = vec![false; attempts.len()];
    for &(d, s, peer) in &accepted {
        let i =
            *by_name.get(&peer).unwrap_or_else(|| panic!("seed {seed}: an accepted socket for no connector ({peer})"));
        assert!(!matched[i], "seed {seed}: one request accepted twice");
        matched[i] = true;
        let a = &attempts[i];
        match a.seen {
            // F6: an accept returns a socket only once the connector took the acceptance.
            Seen::Connected => {
                assert_eq!(a.peer_closed, None, "seed {seed}: both ends of {peer} stay connected");
                assert_eq!(devices[d].peer_name(s).map(|_| ()), Ok(()), "seed {seed}");
                assert_eq!(devices[a.from].peer_name(a.socket).map(|_| ()), Ok(()), "seed {seed}");
            }
            // The connector was closed by us after it connected, as a close right after connect.
            Seen::ClosedByUs => {
                assert!(wait_until(|| devices[d].peer_name(s).is_err()), "seed {seed}: the acceptor learns the close");
            }
            other => panic!("seed {seed}: accepted on the listener's side but {other:?} on the connector's"),
        }
    }
    for (i, a) in attempts.iter().enumerate() {
        if a.seen == Seen::Connected && !matched[i] {
            // The confirmation was lost: the accept failed (WSAEACCES) and the listener's
            // device closed the connection it had set up (FD_CLOSE, as a close by the peer), so
            // the connector is not left connected.
            assert_eq!(
                a.peer_closed,
                Some(0),
                "seed {seed}: connector {} connected with no acceptor, and not closed",
                a.name
            );
            assert_eq!(devices[a.from].peer_name(a.socket), Err(WsaError::NotConn), "seed {seed}");
        }
        // Timed out (a lost message), refused (rejected, full), reset (a backlog shrink, L6).
        if let Seen::Failed(code) = a.seen {
            assert!(
                [WsaError::TimedOut, WsaError::ConnRefused, WsaError::ConnReset].iter().any(|e| e.code() == code),
                "seed {seed}: connector failed with {code}"
            );
        }
    }
    // Nothing remains pending anywhere, and the counts agree.
    for (d, p) in devices.iter().enumerate() {
        let st = p.device().stats();
        assert_eq!(st.pending, 0, "seed {seed}: device {d} has nothing pending");
        assert_eq!(p.listener_stats(listeners[d].0).unwrap().queue_len, 0, "seed {seed}");
        let n = accepted.iter().filter(|x| x.0 == d).count() as u64;
        assert_eq!(p.listener_stats(listeners[d].0).unwrap().accepted, n, "seed {seed}: accepts counted once");
    }
    let connected = attempts.iter().filter(|a| a.seen == Seen::Connected).count();
    let failed = attempts.iter().filter(|a| matches!(a.seen, Seen::Failed(_))).count();
    (faults.stats(), connected, failed)
}

// SPEC F6, T2, F8 (copies and late messages), D2 (timeouts under loss); README FX1, FX2
#[test]
fn every_attempt_ends_in_one_outcome_both_sides_agree_on_whatever_the_fabric_does() {
    let n: u64 = std::env::var("FAULT_SCENARIOS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    let first: u64 = std::env::var("FAULT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let (mut faults, mut connected, mut failed) = (wspsan_core::FaultStats::default(), 0, 0);
    for seed in first..first + n {
        let (f, c, x) = scenario(seed);
        faults.dropped += f.dropped;
        faults.duplicated += f.duplicated;
        faults.delayed += f.delayed;
        faults.reordered += f.reordered;
        connected += c;
        failed += x;
    }
    println!("{n} scenarios from seed {first}: {faults:?}, {connected} connected, {failed} failed");
    // The scenarios did meet the faults they are about.
    if n >= 16 {
        assert!(
            faults.dropped > 0 && faults.duplicated > 0 && faults.delayed > 0 && faults.reordered > 0,
            "{faults:?}"
        );
        assert!(connected > 0 && failed > 0);
    }
}

fn two_hosts(faults: &FaultInjector) -> (Fabric, Provider, Provider, Descriptor, SocketAddrV4) {
    let fabric = Fabric::with_faults(faults.clone());
    let host = |ip| DeviceConfig { nics: vec![ip], ..DeviceConfig::default() };
    let server = Provider::on_fabric(&fabric, host(Ipv4Addr::new(10, 78, 0, 1))).unwrap();
    let client = Provider::on_fabric(&fabric, host(Ipv4Addr::new(10, 78, 0, 2))).unwrap();
    client.device().set_connect_timeout(Some(TIMEOUT));
    server.device().set_liveness(TIMEOUT).unwrap();
    let to = SocketAddrV4::new(Ipv4Addr::new(10, 78, 0, 1), 5000);
    let l = server.socket().unwrap();
    server.bind(l, to).unwrap();
    server.listen(l, 8).unwrap();
    (fabric, server, client, l, to)
}

fn connect_and_accept(
    server: &Provider,
    client: &Provider,
    l: Descriptor,
    to: SocketAddrV4,
) -> Result<Vec<u8>, WsaError> {
    let c = client.socket().unwrap();
    let q = client.clone();
    let waiting = std::thread::spawn(move || q.connect(c, to, ConnectParams::default()));
    server.set_nonblocking(l, true).unwrap();
    let deadline = std::time::Instant::now() + LONG;
    while !waiting.is_finished() && std::time::Instant::now() < deadline {
        let _ = server.accept(l, None);
        std::thread::sleep(Duration::from_millis(1));
    }
    waiting.join().expect("the connecting thread")
}

// SPEC D2, F6: a partition loses every message between two devices until healed.
#[test]
fn a_partition_times_connects_out_until_healed() {
    let faults = FaultInjector::new(5);
    let (_fabric, server, client, l, to) = two_hosts(&faults);
    faults.partition(Ipv4Addr::new(10, 78, 0, 2), Ipv4Addr::new(10, 78, 0, 1));
    assert_eq!(connect_and_accept(&server, &client, l, to), Err(WsaError::TimedOut));
    assert!(faults.stats().partitioned >= 1);
    assert_eq!(client.device().stats().fabric.faults, faults.stats(), "counted in the device statistics");
    faults.heal(Some((Ipv4Addr::new(10, 78, 0, 1), Ipv4Addr::new(10, 78, 0, 2))));
    assert!(!faults.active());
    assert_eq!(connect_and_accept(&server, &client, l, to), Ok(vec![]));
}

// The knobs refuse what makes no sense, and a seed replays the same decisions.
#[test]
fn knobs_check_their_arguments_and_a_seed_replays() {
    let f = FaultInjector::new(1);
    assert_eq!(f.drop_probability(None, 1.5), Err(WsaError::Inval));
    assert_eq!(f.duplicate_probability(Some(MessageKind::Answer), -0.1), Err(WsaError::Inval));
    assert_eq!(f.delay(None, Duration::from_millis(2), Duration::from_millis(1)), Err(WsaError::Inval));
    assert!(!f.active(), "a refused setting changes nothing");
    assert_eq!(MessageKind::from_name("confirm"), Some(MessageKind::Confirm));
    assert_eq!(MessageKind::from_name("bogus"), None);
    // Two fabrics with the same seed drop the same requests of the same sequence of connects.
    let dropped = |seed| {
        let faults = FaultInjector::new(seed);
        let (fabric, server, client, l, to) = two_hosts(&faults);
        faults.drop_probability(Some(MessageKind::Request), 0.5).unwrap();
        let mut lost = Vec::new();
        for i in 0..12 {
            let before = faults.stats().dropped;
            let _ = connect_and_accept(&server, &client, l, to);
            assert!(fabric.settle(LONG));
            if faults.stats().dropped > before {
                lost.push(i);
            }
        }
        lost
    };
    let first = dropped(42);
    assert!(!first.is_empty() && first.len() < 12, "{first:?}");
    assert_eq!(dropped(42), first);
}

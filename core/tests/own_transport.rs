//! A provider's own transport (SPEC section 11 over the embedder's carrier): two providers joined
//! by a transport written here, which can deliver straight away (from inside `send`, so the
//! engine is re-entered), deliver every message twice, fail, or hold messages back.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wspsan_core::consts::FD_CLOSE_BIT;
use wspsan_core::{ConnectParams, DeviceConfig, MessageKind, MessageTransport, PeerId, Provider, WsaError};

const A: Ipv4Addr = Ipv4Addr::new(10, 5, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 5, 0, 2);

#[derive(Default)]
struct Wire {
    /// The provider at the other end and our peer handle there.
    to: OnceLock<(Provider, PeerId)>,
    twice: AtomicBool,
    fail: AtomicBool,
    hold: AtomicBool,
    held: Mutex<Vec<Vec<u8>>>,
    sent: AtomicUsize,
}

impl MessageTransport for Wire {
    fn send(&self, _peer: PeerId, _kind: MessageKind, message: &[u8]) -> bool {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if self.fail.load(Ordering::Relaxed) {
            return false;
        }
        if self.hold.load(Ordering::Relaxed) {
            self.held.lock().unwrap().push(message.to_vec());
            return true;
        }
        let (to, there) = self.to.get().expect("joined");
        // Delivered from inside the callback: the engine must hold no lock here.
        let first = to.peer_receive(*there, message);
        if self.twice.load(Ordering::Relaxed) {
            let _ = to.peer_receive(*there, message);
        }
        first.is_ok()
    }
}

struct Pair {
    a: Provider,
    b: Provider,
    a_wire: Arc<Wire>,
    b_at_a: PeerId,
    a_at_b: PeerId,
}

fn pair() -> Pair {
    let host = |ip| DeviceConfig { nics: vec![ip], ..DeviceConfig::default() };
    let (a_wire, b_wire) = (Arc::new(Wire::default()), Arc::new(Wire::default()));
    let a = Provider::with_transport(host(A), a_wire.clone()).unwrap();
    let b = Provider::with_transport(host(B), b_wire.clone()).unwrap();
    let b_at_a = a.open_peer(&[B]).unwrap();
    let a_at_b = b.open_peer(&[A]).unwrap();
    a_wire.to.set((b.clone(), a_at_b)).ok();
    b_wire.to.set((a.clone(), b_at_a)).ok();
    Pair { a, b, a_wire, b_at_a, a_at_b }
}

fn listen_b(p: &Pair) -> (wspsan_core::Descriptor, SocketAddrV4) {
    let to = SocketAddrV4::new(B, 5000);
    let l = p.b.socket().unwrap();
    p.b.bind(l, to).unwrap();
    p.b.listen(l, 4).unwrap();
    (l, to)
}

// SPEC F2, F6, README FX3: caller and callee data cross the embedder's transport, re-entrantly delivered.
#[test]
fn a_connect_crosses_the_embedders_transport_with_caller_and_callee_data() {
    let p = pair();
    let (l, to) = listen_b(&p);
    let c = p.a.socket().unwrap();
    let a = p.a.clone();
    let waiting = bg(move || a.connect(c, to, ConnectParams { caller_data: Some(b"hi"), qos: None }));
    let acc =
        p.b.accept(
            l,
            Some(&mut |r: &mut wspsan_core::ConditionRequest<'_>| {
                assert_eq!(r.caller_data(), Some(&b"hi"[..]));
                r.set_callee_data(b"welcome");
                wspsan_core::Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(waiting.join(), Ok(b"welcome".to_vec()));
    assert_eq!(acc.peer, p.a.sock_name(c).unwrap());
    assert_eq!(p.a.device().stats().fabric.requests_sent, 1);
    assert_eq!(p.b.device().stats().fabric.requests_received, 1);
}

// SPEC F8, README FX2: a transport that delivers every message twice: each attempt has one outcome.
#[test]
fn copies_are_ignored_and_counted() {
    let p = pair();
    p.a_wire.twice.store(true, Ordering::Relaxed);
    let (l, to) = listen_b(&p);
    for _ in 0..3 {
        let c = p.a.socket().unwrap();
        let a = p.a.clone();
        let waiting = bg(move || a.connect(c, to, ConnectParams::default()));
        p.b.accept(l, None).unwrap();
        assert_eq!(waiting.join(), Ok(vec![]));
    }
    assert_eq!(p.b.listener_stats(l).unwrap().queued, 3, "each request queued once");
    assert_eq!(p.b.listener_stats(l).unwrap().accepted, 3);
    assert!(p.b.device().stats().fabric.stale_messages >= 3);
    p.b.set_nonblocking(l, true).unwrap();
    assert_eq!(p.b.accept(l, None).unwrap_err().error, WsaError::WouldBlock, "nothing answered twice");
}

// SPEC F7: a send that fails loses the peer: the connect fails with WSAECONNRESET, the handle
// is stale, and a new peer reaches the device again.
#[test]
fn a_failing_send_loses_the_peer_and_a_new_one_works() {
    let p = pair();
    let (l, to) = listen_b(&p);
    p.a_wire.fail.store(true, Ordering::Relaxed);
    let c = p.a.socket().unwrap();
    assert_eq!(p.a.connect(c, to, ConnectParams::default()), Err(WsaError::ConnReset));
    assert_eq!(p.a.peer_lost(p.b_at_a), Err(WsaError::Inval), "the handle is stale");
    assert_eq!(p.a.peer_receive(p.b_at_a, &[0, 0x15]), Err(WsaError::Inval));
    assert_eq!(p.a.device().stats().fabric.connections_lost, 1);
    // Bring it back with a new peer (never the old handle's value).
    p.a_wire.fail.store(false, Ordering::Relaxed);
    let again = p.a.open_peer(&[B]).unwrap();
    assert_ne!(again, p.b_at_a);
    assert_eq!(p.b.listener_stats(l).unwrap().queue_len, 0, "nothing reached the listener");
}

// SPEC F7: peer_lost gives the outcomes at once: a waiting connect WSAECONNRESET, a queued
// request withdrawn (its accept WSAEACCES), an established connection FD_CLOSE WSAECONNABORTED.
#[test]
fn peer_lost_settles_everything_it_carried() {
    let p = pair();
    let (l, to) = listen_b(&p);
    // An established connection.
    let c1 = p.a.socket().unwrap();
    let a = p.a.clone();
    let w1 = bg(move || a.connect(c1, to, ConnectParams::default()));
    let acc = p.b.accept(l, None).unwrap();
    assert_eq!(w1.join(), Ok(vec![]));
    let (sa, sb) = (CountingSignal::new(), CountingSignal::new());
    p.a.event_select(c1, Some(sa.handle()), wspsan_core::consts::FD_CLOSE).unwrap();
    p.b.event_select(acc.socket, Some(sb.handle()), wspsan_core::consts::FD_CLOSE).unwrap();
    // A queued request: b holds back nothing, a's REQUEST arrives and waits in the queue.
    let c2 = p.a.socket().unwrap();
    let a = p.a.clone();
    let w2 = bg(move || a.connect(c2, to, ConnectParams::default()));
    assert!(wait_until(|| p.b.listener_stats(l).unwrap().queue_len == 1));
    // Both sides learn the loss from their transports.
    p.a.peer_lost(p.b_at_a).unwrap();
    p.b.peer_lost(p.a_at_b).unwrap();
    assert_eq!(w2.join(), Err(WsaError::ConnReset));
    assert_eq!(p.b.accept(l, None).unwrap_err().error, WsaError::Acces);
    let ev = p.a.enum_network_events(c1, None).unwrap();
    assert_eq!(ev.error(FD_CLOSE_BIT), Some(WsaError::ConnAborted.code()));
    let ev = p.b.enum_network_events(acc.socket, None).unwrap();
    assert_eq!(ev.error(FD_CLOSE_BIT), Some(WsaError::ConnAborted.code()));
    assert_eq!(p.b.device().stats().pending, 0);
    // Late messages for the lost peer are rejected as a stale handle and counted.
    let stale = p.b.device().stats().fabric.stale_messages;
    assert_eq!(p.b.peer_receive(p.a_at_b, &[0, 0x13, 0, 0, 0, 0, 0, 0, 0, 1]), Err(WsaError::Inval));
    assert_eq!(p.b.device().stats().fabric.stale_messages, stale + 1);
}

// SPEC F8: made-up handles and malformed messages: an error code, nothing else disturbed.
#[test]
fn bad_handles_and_malformed_messages() {
    let p = pair();
    for h in [0, 999, u64::MAX] {
        assert_eq!(p.b.peer_receive(PeerId(h), &[0, 0x13]), Err(WsaError::Inval));
        assert_eq!(p.b.peer_lost(PeerId(h)), Err(WsaError::Inval));
    }
    // Handles belong to one provider's peers: a provider without its own transport has none.
    let plain = Provider::new();
    assert_eq!(plain.open_peer(&[B]), Err(WsaError::Inval));
    assert_eq!(plain.peer_receive(p.a_at_b, &[0]), Err(WsaError::Inval));
    assert_eq!(p.a.open_peer(&[A]), Err(WsaError::AddrInUse), "the device's own NIC");
    assert_eq!(p.a.open_peer(&[B]), Err(WsaError::AddrInUse), "a live peer's address");
    assert_eq!(p.a.open_peer(&[Ipv4Addr::UNSPECIFIED]), Err(WsaError::Inval));
    // Garbage, an unknown channel, HELLO (only the TCP fabric's own connections carry it).
    for bad in [&[][..], &[7, 0x13, 0, 0, 0, 0, 0, 0, 0, 1][..], &[0, 0xff][..], &[0, 0x03][..]] {
        let peer = p.b.open_peer(&[]).unwrap();
        assert_eq!(p.b.peer_receive(peer, bad), Err(WsaError::Inval), "{bad:?}");
        assert_eq!(p.b.peer_lost(peer), Err(WsaError::Inval), "lost with its bad message");
    }
    assert_eq!(p.b.device().stats().fabric.protocol_errors, 4);
    // The real pair still works.
    let (l, to) = listen_b(&p);
    let c = p.a.socket().unwrap();
    let a = p.a.clone();
    let waiting = bg(move || a.connect(c, to, ConnectParams::default()));
    p.b.accept(l, None).unwrap();
    assert_eq!(waiting.join(), Ok(vec![]));
}

// SPEC F6, D2, README FX1: messages held back past the timeouts: the connector times out, the accept of the
// late request fails with WSAEACCES, and nothing is left connected.
#[test]
fn held_messages_end_in_timeouts_both_sides_agree_on() {
    let p = pair();
    let (l, to) = listen_b(&p);
    p.a.device().set_connect_timeout(Some(Duration::from_millis(50)));
    p.b.device().set_liveness(Duration::from_millis(50)).unwrap();
    p.a_wire.hold.store(true, Ordering::Relaxed);
    let c = p.a.socket().unwrap();
    assert_eq!(p.a.connect(c, to, ConnectParams::default()), Err(WsaError::TimedOut));
    // Now the held REQUEST and WITHDRAW arrive, late but in order.
    p.a_wire.hold.store(false, Ordering::Relaxed);
    let (b, there) = p.a_wire.to.get().unwrap();
    for m in std::mem::take(&mut *p.a_wire.held.lock().unwrap()) {
        b.peer_receive(*there, &m).unwrap();
    }
    p.b.set_nonblocking(l, true).unwrap();
    assert_eq!(p.b.accept(l, None).unwrap_err().error, WsaError::Acces, "withdrawn before it was accepted");
    assert_eq!(p.a.peer_name(c), Err(WsaError::NotConn));
    assert_eq!(p.b.device().stats().pending, 0);
    assert!(p.a_wire.sent.load(Ordering::Relaxed) >= 2);
}

// The embedder's per-socket value: set and read by descriptor, 0 for an accepted socket.
#[test]
fn the_embedders_socket_context() {
    let p = pair();
    let (l, to) = listen_b(&p);
    p.b.set_embedder_context(l, 0xfeed).unwrap();
    assert_eq!(p.b.embedder_context(l), Ok(0xfeed));
    let c = p.a.socket().unwrap();
    let a = p.a.clone();
    let waiting = bg(move || a.connect(c, to, ConnectParams::default()));
    let acc = p.b.accept(l, None).unwrap();
    waiting.join().unwrap();
    assert_eq!(p.b.embedder_context(acc.socket), Ok(0), "not inherited");
    p.b.close(l).unwrap();
    assert_eq!(p.b.embedder_context(l), Err(WsaError::NotSock));
    assert_eq!(p.b.set_embedder_context(l, 1), Err(WsaError::NotSock));
}

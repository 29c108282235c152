//! SPEC section 11 over the TCP fabric: devices of one process on loopback addresses
//! (127.0.0.0/8 serve as separate hosts), talking through kernel TCP as they would across
//! processes. Every test uses its own addresses and port, so tests run in parallel.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::time::Duration;
use wspsan_core::consts::{FD_CLOSE, FD_CLOSE_BIT, FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{
    ConditionRequest, ConnectParams, Decision, Descriptor, DeviceConfig, Provider, SockOpt, TcpConfig, WsaError,
};

/// A loopback address of its own for each test: 127.<net>.0.<host>.
fn addr(net: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, net, 0, host)
}

fn device(ip: Ipv4Addr, port: u16, key: Option<&[u8]>) -> Provider {
    let tcp =
        TcpConfig { port, key: key.map(<[u8]>::to_vec), liveness: Duration::from_millis(500), ..TcpConfig::default() };
    Provider::on_tcp_fabric(DeviceConfig { nics: vec![ip], ..DeviceConfig::default() }, tcp)
        .expect("join the TCP fabric")
}

struct Hosts {
    server: Provider,
    client: Provider,
    listener: Descriptor,
    to: SocketAddrV4,
}

/// A server device at 127.<net>.0.1 listening on port 5000 and a client device at 127.<net>.0.2,
/// both on fabric port `port`.
fn hosts(net: u8, port: u16, backlog: i32) -> Hosts {
    let server = device(addr(net, 1), port, None);
    let client = device(addr(net, 2), port, None);
    let to = SocketAddrV4::new(addr(net, 1), 5000);
    let listener = listener_at(&server, to, backlog);
    Hosts { server, client, listener, to }
}

/// Wait (bounded) for a non-blocking connect's FD_CONNECT and return its error code.
fn fd_connect(p: &Provider, s: Descriptor) -> i32 {
    p.event_select(s, None, FD_CONNECT | FD_CLOSE).unwrap();
    let mut code = None;
    assert!(
        wait_until(|| {
            code = p.enum_network_events(s, None).unwrap().error(FD_CONNECT_BIT);
            code.is_some()
        }),
        "FD_CONNECT within {LONG:?}"
    );
    code.unwrap()
}

/// Accept on another thread's behalf: poll a non-blocking-style accept until a request is there.
fn accept_when_queued(p: &Provider, l: Descriptor) {
    assert!(wait_until(|| p.listener_stats(l).unwrap().queue_len > 0), "a request reached the listener");
}

// SPEC F2, F6, C1, C5, A5, A7, A15: a connect crosses the TCP fabric with caller and callee data
#[test]
fn a_connect_crosses_the_tcp_fabric_with_data() {
    let h = hosts(1, 17471, 5);
    let c = h.client.socket().unwrap();
    let client = h.client.clone();
    let to = h.to;
    let pending = bg(move || client.connect(c, to, ConnectParams { caller_data: Some(b"alice"), qos: None }));
    accept_when_queued(&h.server, h.listener);
    let mut seen = None;
    let a = h
        .server
        .accept(
            h.listener,
            Some(&mut |req: &mut ConditionRequest<'_>| {
                seen = Some((req.caller_address(), req.callee_address(), req.caller_data().map(<[u8]>::to_vec)));
                req.set_callee_data(b"welcome");
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(pending.join(), Ok(b"welcome".to_vec()));
    let from = h.client.sock_name(c).unwrap();
    assert_eq!(from.ip(), &addr(1, 2), "F2: bound to the client device's first NIC");
    assert_eq!(seen, Some((from, to, Some(b"alice".to_vec()))));
    assert_eq!((a.peer, h.server.peer_name(a.socket), h.client.peer_name(c)), (from, Ok(from), Ok(to)));
    let st = (h.client.device().stats().fabric, h.server.device().stats().fabric);
    assert_eq!((st.0.requests_sent, st.1.requests_received), (1, 1));
    assert_eq!((st.0.connections_open, st.1.connections_open), (1, 1), "F2: one fabric connection");
    // K3 across the fabric: the accepted end closes, the connector records FD_CLOSE 0
    h.client.event_select(c, None, FD_CLOSE).unwrap();
    h.server.close(a.socket).unwrap();
    let mut ev = None;
    assert!(wait_until(|| {
        ev = h.client.enum_network_events(c, None).unwrap().error(FD_CLOSE_BIT);
        ev.is_some()
    }));
    assert_eq!(ev, Some(0));
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
}

// SPEC F5, A8, A9, L7, C3, K2: refusals at a distance come after one round trip, never a timeout
#[test]
fn refusals_cross_the_fabric() {
    let h = hosts(2, 17472, 1);
    // no listener on that port of the remote device
    let c0 = h.client.socket().unwrap();
    let nobody = SocketAddrV4::new(addr(2, 1), 5999);
    assert_eq!(h.client.connect(c0, nobody, ConnectParams::default()), Err(WsaError::ConnRefused));
    // a non-blocking one fills the queue of 1; the next is refused through FD_CONNECT
    let c1 = nb_connector(&h.client);
    assert_eq!(h.client.connect(c1, h.to, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_when_queued(&h.server, h.listener);
    let c2 = nb_connector(&h.client);
    assert_eq!(h.client.connect(c2, h.to, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(fd_connect(&h.client, c2), WsaError::ConnRefused.code());
    assert_eq!(h.client.get_option(c2, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    // CF_DEFER keeps it waiting; CF_REJECT refuses it
    assert_eq!(accept_with_decision(&h.server, h.listener, Decision::Defer).unwrap_err().error, WsaError::TryAgain);
    assert_eq!(accept_with_decision(&h.server, h.listener, Decision::Reject).unwrap_err().error, WsaError::ConnRefused);
    assert_eq!(fd_connect(&h.client, c1), WsaError::ConnRefused.code());
    // K2: a listener closed with a request queued refuses it
    let c3 = nb_connector(&h.client);
    assert_eq!(h.client.connect(c3, h.to, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_when_queued(&h.server, h.listener);
    h.server.close(h.listener).unwrap();
    assert_eq!(fd_connect(&h.client, c3), WsaError::ConnRefused.code());
    let st = h.server.device().stats();
    assert_eq!(
        (st.pending, st.listeners.refused_full, st.listeners.rejected, st.listeners.refused_by_close),
        (0, 1, 1, 1)
    );
}

// SPEC F6, A12, C7: a connector that withdraws makes the accept that reaches it fail with WSAEACCES
#[test]
fn a_withdrawn_request_fails_the_accept() {
    let h = hosts(3, 17473, 5);
    let c = nb_connector(&h.client);
    assert_eq!(h.client.connect(c, h.to, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_when_queued(&h.server, h.listener);
    h.client.close(c).unwrap();
    assert!(wait_until(|| {
        // the withdrawal crosses the fabric: then accept finds it withdrawn
        h.server.device().stats().listeners.withdrawn == 0 && {
            let r = h.server.accept(h.listener, None);
            match r {
                Err(e) if e.error == WsaError::Acces => true,
                Ok(a) => panic!("accepted a withdrawn request: {a:?}"),
                Err(e) => panic!("{e:?}"),
            }
        }
    }));
    let st = h.server.device().stats();
    assert_eq!((st.pending, st.listeners.withdrawn, st.open_sockets), (0, 1, 1));
}

// SPEC F4: nothing accepts fabric peers at the address: refused at once by the host
#[test]
fn an_address_where_no_device_listens_is_refused() {
    let client = device(addr(4, 2), 17474, None);
    let c = client.socket().unwrap();
    let nowhere = SocketAddrV4::new(addr(4, 9), 5000);
    assert_eq!(client.connect(c, nowhere, ConnectParams::default()), Err(WsaError::ConnRefused));
    let n = nb_connector(&client);
    assert_eq!(client.connect(n, nowhere, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(fd_connect(&client, n), WsaError::ConnRefused.code());
}

// SPEC F9: matching keys connect; a wrong key or a missing one is refused and counted on both sides
#[test]
fn the_fabric_key_splits_the_network() {
    let server = device(addr(5, 1), 17475, Some(b"blue"));
    let to = SocketAddrV4::new(addr(5, 1), 5000);
    let l = listener_at(&server, to, 5);
    for (host, key, ok) in [(2, Some(&b"blue"[..]), true), (3, Some(&b"red"[..]), false), (4, None, false)] {
        let client = device(addr(5, host), 17475, key);
        let c = nb_connector(&client);
        assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::WouldBlock));
        if ok {
            accept_when_queued(&server, l);
            server.accept(l, None).unwrap();
            assert_eq!(fd_connect(&client, c), 0);
        } else {
            assert_eq!(fd_connect(&client, c), WsaError::ConnRefused.code(), "key {key:?}");
            assert_eq!(client.device().stats().fabric.key_failures, 1);
        }
    }
    assert!(wait_until(|| server.device().stats().fabric.key_failures == 2));
    assert_eq!(server.device().stats().fabric.requests_received, 1);
}

/// A scripted fabric peer speaking the protocol by hand (docs/fabric-protocol.md), to play a
/// device that vanishes or misbehaves at an exact moment.
struct Peer {
    s: TcpStream,
}

impl Peer {
    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut f = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        f.push(kind);
        f.extend_from_slice(body);
        f
    }

    fn hello() -> Vec<u8> {
        let mut b = b"WSPF".to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&60_000u32.to_be_bytes()); // liveness: a minute, so no PING is owed
        b.extend_from_slice(&[9; 16]);
        Peer::frame(0x01, &b)
    }

    /// Take a connection and exchange HELLOs (no key).
    fn greet(s: TcpStream) -> Peer {
        let mut p = Peer { s };
        p.s.set_read_timeout(Some(LONG)).unwrap();
        p.s.write_all(&Peer::hello()).unwrap();
        let (kind, _) = p.read();
        assert_eq!(kind, 0x01, "HELLO first");
        p
    }

    fn read(&mut self) -> (u8, Vec<u8>) {
        loop {
            let mut len = [0; 4];
            self.s.read_exact(&mut len).unwrap();
            let mut body = vec![0; u32::from_be_bytes(len) as usize];
            self.s.read_exact(&mut body).unwrap();
            if body[0] != 0x03 {
                return (body[0], body[1..].to_vec()); // PINGs skipped
            }
        }
    }

    fn request(&mut self, id: u64, caller: SocketAddrV4, callee: SocketAddrV4) {
        let mut b = id.to_be_bytes().to_vec();
        for a in [caller, callee] {
            b.extend_from_slice(&a.ip().octets());
            b.extend_from_slice(&a.port().to_be_bytes());
        }
        b.extend_from_slice(&[0, 0, 0, 0, 0]); // no caller data, no QoS
        self.s.write_all(&Peer::frame(0x10, &b)).unwrap();
    }
}

// SPEC F7: the connection to a device breaks (its process killed): requests from it queued here are
// withdrawn, established connections through it record FD_CLOSE with WSAECONNABORTED, and the
// device keeps serving others
#[test]
fn a_lost_connector_device_withdraws_its_requests_and_aborts_its_connections() {
    let h = hosts(6, 17476, 5);
    // The scripted peer never pings: a long interval, so only its death ends the connection.
    h.server.device().set_liveness(Duration::from_secs(30)).unwrap();
    let mut peer = Peer::greet(TcpStream::connect((addr(6, 1), 17476)).unwrap());
    let me = SocketAddrV4::new(addr(6, 7), 40000);
    peer.request(1, me, h.to);
    accept_when_queued(&h.server, h.listener);
    let accepting = {
        let server = h.server.clone();
        let l = h.listener;
        bg(move || server.accept(l, None))
    };
    let (kind, body) = peer.read();
    assert_eq!((kind, &body[..8]), (0x11, &1u64.to_be_bytes()[..]), "ACCEPTED for request 1");
    peer.s.write_all(&Peer::frame(0x13, &1u64.to_be_bytes())).unwrap(); // CONFIRM
    let a = accepting.join().expect("F6: accepted once confirmed");
    assert_eq!(a.peer, me);
    peer.request(2, SocketAddrV4::new(addr(6, 7), 40001), h.to);
    assert!(wait_until(|| h.server.listener_stats(h.listener).unwrap().queue_len == 1));
    h.server.event_select(a.socket, None, FD_CLOSE).unwrap();
    drop(peer); // the peer's process is gone
    let mut ev = None;
    assert!(wait_until(|| {
        ev = h.server.enum_network_events(a.socket, None).unwrap().error(FD_CLOSE_BIT);
        ev.is_some()
    }));
    assert_eq!(ev, Some(WsaError::ConnAborted.code()));
    assert_eq!(h.server.accept(h.listener, None).unwrap_err().error, WsaError::Acces);
    assert!(h.server.device().stats().fabric.connections_lost >= 1);
    // served as before
    let c = nb_connector(&h.client);
    assert_eq!(h.client.connect(c, h.to, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_when_queued(&h.server, h.listener);
    h.server.accept(h.listener, None).unwrap();
    assert_eq!(fd_connect(&h.client, c), 0);
}

// SPEC F7, F6: the listener's device is lost while an attempt waits on it (reset), and an acceptance
// whose confirmation the connector cannot send any more leaves nothing connected
#[test]
fn a_lost_listener_device_resets_waiting_attempts() {
    let fake = std::net::TcpListener::bind((addr(10, 1), 17480)).unwrap();
    let client = device(addr(10, 2), 17480, None);
    let to = SocketAddrV4::new(addr(10, 1), 5000);
    let c = client.socket().unwrap();
    let cl = client.clone();
    let blocked = bg(move || cl.connect(c, to, ConnectParams::default()));
    let mut peer = Peer::greet(fake.accept().unwrap().0);
    assert_eq!(peer.read().0, 0x10, "the REQUEST");
    drop(peer);
    assert_eq!(blocked.join(), Err(WsaError::ConnReset));
    // the attempt is over: the socket may connect again (C6), and a waiting non-blocking one
    // is reset through FD_CONNECT
    let n = nb_connector(&client);
    assert_eq!(client.connect(n, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    let mut peer = Peer::greet(fake.accept().unwrap().0);
    assert_eq!(peer.read().0, 0x10);
    drop(peer);
    assert_eq!(fd_connect(&client, n), WsaError::ConnReset.code());
    assert!(client.device().stats().fabric.connections_lost >= 2);
}

// SPEC K3: a device that leaves in order closes its sockets: the other ends record FD_CLOSE 0
#[test]
fn a_device_that_leaves_closes_its_connections() {
    let h = hosts(11, 17481, 5);
    let c = nb_connector(&h.client);
    assert_eq!(h.client.connect(c, h.to, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_when_queued(&h.server, h.listener);
    let a = h.server.accept(h.listener, None).unwrap();
    h.server.event_select(a.socket, None, FD_CLOSE).unwrap();
    drop(h.client);
    let mut ev = None;
    assert!(wait_until(|| {
        ev = h.server.enum_network_events(a.socket, None).unwrap().error(FD_CLOSE_BIT);
        ev.is_some()
    }));
    assert_eq!(ev, Some(0));
}

// SPEC F7, F8: a peer that says HELLO and then stalls mid-frame is closed within the liveness interval
#[test]
fn a_silent_peer_is_closed_within_the_liveness_interval() {
    let server = device(addr(7, 1), 17477, None);
    let mut rogue = TcpStream::connect((addr(7, 1), 17477)).unwrap();
    rogue.set_read_timeout(Some(LONG)).unwrap();
    let mut hello = [0u8; 4 + 1 + 4 + 1 + 1 + 4 + 16];
    rogue.read_exact(&mut hello).unwrap();
    assert_eq!(&hello[5..9], b"WSPF", "the device greets first");
    rogue.write_all(&[0, 0, 0, 27]).unwrap(); // a frame that never comes
    let mut rest = Vec::new();
    let _ = rogue.read_to_end(&mut rest); // returns once the device closes it
    let st = server.device().stats().fabric;
    assert_eq!((st.connections_lost, st.connections_open), (1, 0));
}

// SPEC F8: garbage, oversized lengths, wrong versions and frames out of order each cost one
// connection and a counter; a well-behaved device is served throughout
#[test]
fn bad_input_closes_only_that_connection() {
    let h = hosts(8, 17478, 5);
    let hello = |version: u8| {
        let mut f = vec![0, 0, 0, 27, 0x01, b'W', b'S', b'P', b'F', version, 0, 0, 0, 0x0b, 0xb8];
        f.extend_from_slice(&[7; 16]);
        f
    };
    let confirm_first = {
        let mut f = hello(1);
        f.extend_from_slice(&[0, 0, 0, 9, 0x11, 0, 0, 0, 0, 0, 0, 0, 1]); // ACCEPTED on an inbound connection
        f
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("oversized length", vec![0xff, 0xff, 0xff, 0xff, 1]),
        ("zero length", vec![0, 0, 0, 0]),
        ("wrong version", hello(9)),
        ("out of order", confirm_first),
        ("request before hello", vec![0, 0, 0, 9, 0x13, 0, 0, 0, 0, 0, 0, 0, 1]),
    ];
    for (i, (what, bytes)) in cases.iter().enumerate() {
        let mut rogue = TcpStream::connect((addr(8, 1), 17478)).unwrap();
        rogue.set_read_timeout(Some(LONG)).unwrap();
        rogue.write_all(bytes).unwrap();
        let mut rest = Vec::new();
        let _ = rogue.read_to_end(&mut rest);
        assert!(
            wait_until(|| h.server.device().stats().fabric.protocol_errors == i as u64 + 1),
            "{what}: counted as a protocol error"
        );
        // a well-behaved device is served between any two
        let c = nb_connector(&h.client);
        assert_eq!(h.client.connect(c, h.to, ConnectParams::default()), Err(WsaError::WouldBlock));
        accept_when_queued(&h.server, h.listener);
        h.server.accept(h.listener, None).unwrap();
        assert_eq!(fd_connect(&h.client, c), 0, "{what}");
    }
}

// SPEC F1: one device per NIC:port; the address can be taken again right after its device left
#[test]
fn a_device_rejoins_on_the_same_address_at_once() {
    let first = device(addr(9, 1), 17479, None);
    let tcp = TcpConfig { port: 17479, ..TcpConfig::default() };
    let nics = DeviceConfig { nics: vec![addr(9, 1)], ..DeviceConfig::default() };
    assert_eq!(Provider::on_tcp_fabric(nics.clone(), tcp.clone()).unwrap_err(), WsaError::AddrInUse);
    // a served connection leaves TIME_WAIT behind; rejoining must not care
    let client = device(addr(9, 2), 17479, None);
    let to = SocketAddrV4::new(addr(9, 1), 5000);
    let l = listener_at(&first, to, 5);
    let c = nb_connector(&client);
    assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_when_queued(&first, l);
    first.accept(l, None).unwrap();
    drop(first);
    let again = Provider::on_tcp_fabric(nics, tcp).expect("rejoin at once");
    let l = listener_at(&again, to, 5);
    // A request the client sends before it has read the old device's close goes down the dying
    // connection and is reset (F7); once the client has seen the close, the new device serves it.
    assert!(wait_until(|| client.device().stats().fabric.connections_open == 0));
    let c = nb_connector(&client);
    assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_when_queued(&again, l);
    again.accept(l, None).unwrap();
    assert_eq!(fd_connect(&client, c), 0);
}

// SPEC F8: a remote device may hold at most max_pending_per_peer requests queued here; more from it
// are refused at once, others are still served, and its flood costs no more than that
#[test]
fn a_flood_of_requests_is_capped_per_peer() {
    let tcp = TcpConfig { port: 17482, max_pending_per_peer: 50, ..TcpConfig::default() };
    let server = Provider::on_tcp_fabric(DeviceConfig { nics: vec![addr(12, 1)], ..DeviceConfig::default() }, tcp)
        .expect("join");
    let to = SocketAddrV4::new(addr(12, 1), 5000);
    let l = listener_at(&server, to, 1000);
    let mut peer = Peer::greet(TcpStream::connect((addr(12, 1), 17482)).unwrap());
    for id in 1..=200u64 {
        peer.request(id, SocketAddrV4::new(addr(12, 7), 40000 + id as u16), to);
    }
    let mut refused = 0;
    while refused < 150 {
        let (kind, body) = peer.read();
        assert_eq!(kind, 0x12, "only REFUSED answers the excess");
        assert_eq!(u32::from_be_bytes(body[8..12].try_into().unwrap()), WsaError::ConnRefused.code() as u32);
        refused += 1;
    }
    assert!(wait_until(|| server.listener_stats(l).unwrap().queue_len == 50));
    assert_eq!(server.device().stats().pending, 50);
    // another device is served meanwhile
    let client = device(addr(12, 2), 17482, None);
    let c = nb_connector(&client);
    assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert!(wait_until(|| server.listener_stats(l).unwrap().queue_len == 51));
    // the flooder leaves: its 50 are withdrawn, the other one is accepted
    drop(peer);
    for _ in 0..50 {
        let e = server.accept(l, None).map(|a| a.socket);
        assert!(matches!(e, Err(ref e) if e.error == WsaError::Acces), "{e:?}");
    }
    server.accept(l, None).unwrap();
    assert_eq!(fd_connect(&client, c), 0);
    assert_eq!(server.device().stats().pending, 0);
}

// SPEC F4: a host that accepts the TCP connection but never answers (no HELLO) within the device
// connect timeout is unreachable, for a blocking and a non-blocking connect alike; not a timeout
#[test]
fn a_host_that_never_answers_is_unreachable_at_the_connect_timeout() {
    let _silent = std::net::TcpListener::bind((addr(13, 1), 17483)).unwrap(); // never accepts
    let client = device(addr(13, 2), 17483, None);
    client.device().set_connect_timeout(Some(Duration::from_millis(150)));
    let to = SocketAddrV4::new(addr(13, 1), 5000);
    let c = client.socket().unwrap();
    assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::HostUnreach));
    let n = nb_connector(&client);
    assert_eq!(client.connect(n, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(fd_connect(&client, n), WsaError::HostUnreach.code());
    assert_eq!(client.device().stats().timed_out, 0, "no listener's device saw it: not a timeout (D3)");
}

// SPEC F6, A8, A12: the connector says whether it took a rejection: a rejection that crossed its
// withdrawal fails the accept with WSAEACCES (counted withdrawn), one it took with WSAECONNREFUSED
#[test]
fn a_rejection_counts_only_when_the_connector_took_it() {
    let h = hosts(14, 17484, 5);
    h.server.device().set_liveness(Duration::from_secs(30)).unwrap(); // the scripted peer never pings
    let mut peer = Peer::greet(TcpStream::connect((addr(14, 1), 17484)).unwrap());
    for (id, reply, expected) in [(1u64, 0x14u8, WsaError::Acces), (2, 0x13, WsaError::ConnRefused)] {
        peer.request(id, SocketAddrV4::new(addr(14, 7), 40000 + id as u16), h.to);
        accept_when_queued(&h.server, h.listener);
        let rejecting = {
            let server = h.server.clone();
            let l = h.listener;
            bg(move || accept_with_decision(&server, l, Decision::Reject).map(|a| a.socket))
        };
        let (kind, body) = peer.read();
        assert_eq!((kind, &body[..8]), (0x12, &id.to_be_bytes()[..]), "REFUSED");
        peer.s.write_all(&Peer::frame(reply, &id.to_be_bytes())).unwrap(); // WITHDRAW, then CONFIRM
        assert_eq!(rejecting.join().unwrap_err().error, expected);
    }
    let s = h.server.device().stats().listeners;
    assert_eq!((s.withdrawn, s.rejected), (1, 1));
}

// SPEC D2, F6 over the TCP fabric: the fault injector wraps a TCP device's outgoing setup
// messages too: a dropped request times the connect out, a dropped confirmation makes the accept
// fail with WSAEACCES and closes the connector's connection; with the knobs off all works again.
#[test]
fn the_fault_injector_wraps_the_tcp_fabric() {
    let h = hosts(21, 17491, 8);
    let faults = h.client.fabric_faults().expect("a TCP device has an injector");
    h.client.device().set_connect_timeout(Some(Duration::from_millis(150)));
    h.server.device().set_liveness(Duration::from_millis(150)).unwrap();
    faults.drop_next(Some(wspsan_core::MessageKind::Request), 1);
    let c = h.client.socket().unwrap();
    assert_eq!(h.client.connect(c, h.to, ConnectParams::default()), Err(WsaError::TimedOut));
    assert_eq!(h.client.device().stats().fabric.faults.dropped, 1);
    // A lost confirmation: the connector is connected, the accept fails, the connection closes.
    faults.drop_next(Some(wspsan_core::MessageKind::Confirm), 1);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let to = h.to;
    let waiting = bg(move || q.connect(c, to, ConnectParams::default()));
    accept_when_queued(&h.server, h.listener);
    assert_eq!(h.server.accept(h.listener, None).unwrap_err().error, WsaError::Acces);
    assert_eq!(waiting.join(), Ok(vec![]));
    h.client.event_select(c, None, FD_CLOSE).unwrap();
    assert!(wait_until(|| h.client.peer_name(c).is_err()), "the listener's CLOSE reaches the connector");
    assert_eq!(h.client.device().stats().fabric.faults.dropped, 2);
    // Knobs off: connects work as before.
    assert!(!faults.active());
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, to, ConnectParams::default()));
    h.server.accept(h.listener, None).unwrap();
    assert_eq!(waiting.join(), Ok(vec![]));
}

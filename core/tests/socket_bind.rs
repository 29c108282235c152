//! SPEC section 4: socket and bind. The tests of a listener that takes connects run with the
//! connector on the same provider and on another provider of one fabric (SPEC section 11).

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use wspsan_core::consts::{AF_INET, EPHEMERAL_FIRST, EPHEMERAL_LAST, IPPROTO_TCP, SOCK_STREAM};
use wspsan_core::{ConditionRequest, ConnectParams, Decision, Descriptor, Limits, Provider, WsaError};

const NIC2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

// SPEC S1
#[test]
fn socket_checks_family_type_and_protocol() {
    let p = Provider::new();
    assert_eq!(p.socket_with(23, SOCK_STREAM, 0), Err(WsaError::AfNoSupport)); // AF_INET6
    assert_eq!(p.socket_with(0, SOCK_STREAM, 0), Err(WsaError::AfNoSupport));
    assert_eq!(p.socket_with(AF_INET, 2, 0), Err(WsaError::SocktNoSupport)); // SOCK_DGRAM
    assert_eq!(p.socket_with(AF_INET, 0, 0), Err(WsaError::SocktNoSupport));
    assert_eq!(p.socket_with(AF_INET, SOCK_STREAM, 17), Err(WsaError::ProtoNoSupport)); // IPPROTO_UDP
    assert_eq!(p.socket_with(AF_INET, SOCK_STREAM, -1), Err(WsaError::ProtoNoSupport));
    // the family is checked first, then the type
    assert_eq!(p.socket_with(23, 2, 17), Err(WsaError::AfNoSupport));
    assert_eq!(p.socket_with(AF_INET, 2, 17), Err(WsaError::SocktNoSupport));
    let a = p.socket_with(AF_INET, SOCK_STREAM, 0).unwrap();
    let b = p.socket_with(AF_INET, SOCK_STREAM, IPPROTO_TCP).unwrap();
    assert_ne!(a, b);
    assert_eq!(p.device().stats().open_sockets, 2, "failed calls open nothing");
}

// SPEC S1
#[test]
fn sockets_start_blocking_and_unbound_with_valid_descriptors() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    assert_eq!(p.is_nonblocking(s), Ok(false));
    assert_eq!(p.sock_name(s), Err(WsaError::Inval));
    assert_ne!(s.raw(), 0);
    assert_ne!(s.raw(), u64::MAX, "never INVALID_SOCKET");
    assert_ne!(s.raw(), u64::from(u32::MAX));
}

// SPEC S1
#[test]
fn socket_at_the_descriptor_limit_gives_wsaemfile() {
    let p = Provider::new();
    p.device().set_limits(Limits { max_descriptors: 1, ..Limits::default() });
    let s = p.socket().unwrap();
    assert_eq!(p.socket(), Err(WsaError::MFile));
    assert_eq!(p.socket_with(AF_INET, SOCK_STREAM, IPPROTO_TCP), Err(WsaError::MFile));
    p.close(s).unwrap();
    p.socket().unwrap();
}

// SPEC B1
#[test]
fn bind_to_an_address_that_is_not_a_nic_gives_wsaeaddrnotavail() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    assert_eq!(p.bind(s, SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 5000)), Err(WsaError::AddrNotAvail));
    assert_eq!(p.bind(s, SocketAddrV4::new(NIC2, 5000)), Err(WsaError::AddrNotAvail));
    assert_eq!(p.sock_name(s), Err(WsaError::Inval), "still unbound");
    p.bind(s, lo(5000)).unwrap();
    assert_eq!(p.sock_name(s), Ok(lo(5000)));
}

// SPEC B1
#[test]
fn bind_twice_gives_wsaeinval() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    p.bind(s, lo(5001)).unwrap();
    assert_eq!(p.bind(s, lo(5002)), Err(WsaError::Inval));
    assert_eq!(p.bind(s, lo(5001)), Err(WsaError::Inval));
    assert_eq!(p.sock_name(s), Ok(lo(5001)));
    // a listening or connecting socket is bound too
    p.listen(s, 1).unwrap();
    assert_eq!(p.bind(s, lo(5003)), Err(WsaError::Inval));
    let c = queued_connect(&p, lo(5001));
    assert_eq!(p.bind(c, lo(5004)), Err(WsaError::Inval));
}

// SPEC B1
#[test]
fn bind_conflicts_give_wsaeaddrinuse() {
    let p = two_nic_provider();
    let a = p.socket().unwrap();
    let b = p.socket().unwrap();
    p.bind(a, lo(6000)).unwrap();
    assert_eq!(p.bind(b, lo(6000)), Err(WsaError::AddrInUse));
    // wildcard on the same port conflicts with every NIC...
    assert_eq!(p.bind(b, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6000)), Err(WsaError::AddrInUse));
    // ...another NIC on the same port does not
    p.bind(b, SocketAddrV4::new(NIC2, 6000)).unwrap();

    // and the reverse: a wildcard binding blocks every NIC on its port
    let w = p.socket().unwrap();
    p.bind(w, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6001)).unwrap();
    let x = p.socket().unwrap();
    assert_eq!(p.bind(x, lo(6001)), Err(WsaError::AddrInUse));
    assert_eq!(p.bind(x, SocketAddrV4::new(NIC2, 6001)), Err(WsaError::AddrInUse));
    assert_eq!(p.bind(x, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6001)), Err(WsaError::AddrInUse));
    // the failed binds left x unbound
    p.bind(x, lo(6002)).unwrap();

    // closing frees the port at once
    p.close(a).unwrap();
    let y = p.socket().unwrap();
    p.bind(y, lo(6000)).unwrap();
}

// SPEC B1
#[test]
fn port_zero_takes_a_free_ephemeral_port() {
    let p = two_nic_provider();
    let mut seen = std::collections::HashSet::new();
    for ip in [Ipv4Addr::LOCALHOST, NIC2, Ipv4Addr::UNSPECIFIED] {
        for _ in 0..20 {
            let s = p.socket().unwrap();
            p.bind(s, SocketAddrV4::new(ip, 0)).unwrap();
            let a = p.sock_name(s).unwrap();
            assert_eq!(*a.ip(), ip);
            assert!((EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(&a.port()), "{a}");
            assert!(seen.insert(a), "{a} handed out twice");
        }
    }
    // an ephemeral port is never one taken on the same NIC (or by a wildcard)
    let fixed = p.socket().unwrap();
    p.bind(fixed, lo(EPHEMERAL_FIRST + 1000)).unwrap();
    for _ in 0..50 {
        let s = p.socket().unwrap();
        p.bind(s, lo(0)).unwrap();
        assert_ne!(p.sock_name(s).unwrap().port(), EPHEMERAL_FIRST + 1000);
    }
}

// SPEC B2
both_ways!(wildcard_listener_gets_requests_for_every_nic, layout, |layout| {
    let h = Hosts::with_nics(layout, &[Ipv4Addr::LOCALHOST, NIC2], &[CLIENT_NIC]);
    let l = listener_at(&h.server, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000), 5);
    assert_eq!(h.server.sock_name(l), Ok(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000)));
    for nic in [Ipv4Addr::LOCALHOST, NIC2] {
        let target = SocketAddrV4::new(nic, 7000);
        let c = queued_connect(&h.client, target);
        let mut callee = None;
        let a = h
            .server
            .accept(
                l,
                Some(&mut |r: &mut ConditionRequest<'_>| {
                    callee = Some(r.callee_address());
                    Decision::Accept
                }),
            )
            .unwrap();
        assert_eq!(callee, Some(target), "the condition sees the NIC the request was addressed to");
        assert_eq!(h.server.sock_name(a.socket), Ok(target), "accepted socket's local address is that NIC");
        assert_eq!(h.client.peer_name(c), Ok(target));
        assert_eq!(*h.client.sock_name(c).unwrap().ip(), h.connector_nic(nic));
    }
});

// SPEC B2
both_ways!(a_specific_nic_listener_does_not_get_requests_for_another_nic, layout, |layout| {
    let h = Hosts::with_nics(layout, &[Ipv4Addr::LOCALHOST, NIC2], &[CLIENT_NIC]);
    let (l, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let other = SocketAddrV4::new(NIC2, addr.port());
    // at a distance refused after one round trip (F5)
    assert_eq!(connect_outcome(&h.client, c, other, ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(h.server.listener_stats(l).unwrap().queued, 0);
});

// SPEC B1, B2: two listeners sharing a port on two NICs each get only their own NIC's
// requests, with both bound, with one of them closed, and with a non-listening socket in its place.
both_ways!(listeners_on_one_port_of_two_nics_each_get_their_own_requests, layout, |layout| {
    let h = Hosts::with_nics(layout, &[Ipv4Addr::LOCALHOST, NIC2], &[CLIENT_NIC]);
    let first = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7300);
    let second = SocketAddrV4::new(NIC2, 7300);
    let l1 = listener_at(&h.server, first, 5);
    let l2 = listener_at(&h.server, second, 5);
    for (l, addr) in [(l1, first), (l2, second)] {
        queued_connect(&h.client, addr);
        assert_eq!(h.server.listener_stats(l).unwrap().queued, 1, "{addr} reached its own listener");
    }
    h.server.close(l1).unwrap();
    let c = nb_connector(&h.client);
    assert_eq!(connect_outcome(&h.client, c, first, ConnectParams::default()), Err(WsaError::ConnRefused));
    queued_connect(&h.client, second);
    assert_eq!(h.server.listener_stats(l2).unwrap().queued, 2);
    // a bound socket that does not listen takes the closed listener's place: still refused
    let b = h.server.socket().unwrap();
    h.server.bind(b, first).unwrap();
    assert_eq!(connect_outcome(&h.client, c, first, ConnectParams::default()), Err(WsaError::ConnRefused));
    h.server.close(l2).unwrap();
    assert_eq!(connect_outcome(&h.client, c, second, ConnectParams::default()), Err(WsaError::ConnRefused));
});

// SPEC B2
#[test]
fn wildcard_binds_can_be_switched_off() {
    let p = Provider::new();
    let d = p.device();
    d.set_wildcard_bind(false);
    assert!(!d.wildcard_bind());
    let s = p.socket().unwrap();
    assert_eq!(p.bind(s, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7100)), Err(WsaError::AddrNotAvail));
    assert_eq!(p.bind(s, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)), Err(WsaError::AddrNotAvail));
    d.set_wildcard_bind(true);
    p.bind(s, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7100)).unwrap();
}

// SPEC B1, K1
#[test]
fn bind_on_an_unknown_descriptor_gives_wsaenotsock() {
    let p = Provider::new();
    assert_eq!(p.bind(Descriptor::from_raw(0), lo(1)), Err(WsaError::NotSock));
    assert_eq!(p.bind(Descriptor::from_raw(12345), lo(1)), Err(WsaError::NotSock));
    let s = p.socket().unwrap();
    p.close(s).unwrap();
    assert_eq!(p.bind(s, lo(1)), Err(WsaError::NotSock));
    // the port was not taken by the failed call
    let t = p.socket().unwrap();
    p.bind(t, lo(1)).unwrap();
}

// SPEC B1, B2, C3, T2: while one thread binds a port on one NIC, on the other, on the wildcard
// (listening, or only bound), and closes each again, connects to both NICs at that port reach
// only a listener bound to the address they name (or the wildcard), and nothing is left behind.
both_ways!(connects_race_a_port_rebound_across_nics_and_the_wildcard, layout, |layout| {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let h = Hosts::with_nics(layout, &[Ipv4Addr::LOCALHOST, NIC2], &[CLIENT_NIC]);
    let port = 7360;
    let targets = [SocketAddrV4::new(Ipv4Addr::LOCALHOST, port), SocketAddrV4::new(NIC2, port)];
    let stop = Arc::new(AtomicBool::new(false));
    let wrong = Arc::new(AtomicUsize::new(0));
    let server = {
        let (p, stop, wrong) = (h.server.clone(), stop.clone(), wrong.clone());
        std::thread::spawn(move || {
            let wildcard = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
            let deadline = Instant::now() + Duration::from_millis(800);
            while Instant::now() < deadline {
                for (addr, listens) in [(targets[0], true), (targets[1], true), (wildcard, true), (targets[0], false)] {
                    let l = p.socket().unwrap();
                    p.bind(l, addr).unwrap();
                    if listens {
                        p.listen(l, 8).unwrap();
                        p.set_nonblocking(l, true).unwrap();
                    }
                    for _ in 0..20 {
                        let mut check = |req: &mut ConditionRequest<'_>| {
                            let callee = req.callee_address();
                            if callee.port() != port || !(addr.ip().is_unspecified() || callee == addr) {
                                wrong.fetch_add(1, Ordering::Relaxed);
                            }
                            Decision::Accept
                        };
                        match p.accept(l, Some(&mut check)) {
                            Ok(a) => p.close(a.socket).unwrap(),
                            Err(e) => assert!(
                                matches!(e.error, WsaError::WouldBlock | WsaError::Acces | WsaError::Inval),
                                "{e:?}"
                            ),
                        }
                    }
                    p.close(l).unwrap();
                }
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut connects = 0;
    while !stop.load(Ordering::Relaxed) {
        for to in targets {
            let c = nb_connector(&h.client);
            let r = h.client.connect(c, to, ConnectParams::default());
            assert!(matches!(r, Err(WsaError::WouldBlock | WsaError::ConnRefused)), "{r:?}");
            connects += 1;
            std::thread::yield_now();
            h.client.close(c).unwrap();
        }
    }
    server.join().unwrap();
    assert_eq!(wrong.load(Ordering::Relaxed), 0, "requests reached a listener bound to another address");
    assert!(connects > 0);
    assert!(wait_until(|| h.open_sockets() == 0), "sockets left open");
    assert!(wait_until(|| h.server.device().stats().pending == 0), "requests left pending");
});

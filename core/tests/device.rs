//! SPEC section 3: the device (limits, fault switches, statistics, address list). Tests of a
//! connector and a listener run with both on one provider and on two providers of one fabric
//! (SPEC section 11); a limit or a fault is set on the device it belongs to.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use wspsan_core::consts::{FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{
    ConditionRequest, ConnectParams, Decision, DeviceConfig, Faults, Limits, ListenerStats, Provider, SockOpt, WsaError,
};

// SPEC D1
#[test]
fn default_device_has_one_loopback_nic_and_the_default_limits() {
    let p = Provider::new();
    let d = p.device();
    assert_eq!(d.nics(), vec![Ipv4Addr::LOCALHOST]);
    let l = d.limits();
    assert_eq!(l.max_descriptors, 65536);
    assert_eq!(l.max_backlog, 4096);
    assert_eq!(l.max_caller_data, 256);
    assert_eq!(l.max_callee_data, 256);
    assert_eq!(l.max_pending, 1 << 20);
    assert_eq!(l.connect_timeout, None);
    assert_eq!(d.faults(), Faults::default());
    assert!(d.wildcard_bind());
}

// SPEC D1
#[test]
fn descriptor_limit_gives_wsaemfile() {
    let p = Provider::new();
    p.device().set_limits(Limits { max_descriptors: 3, ..Limits::default() });
    let s: Vec<_> = (0..3).map(|_| p.socket().expect("under the limit")).collect();
    assert_eq!(p.socket(), Err(WsaError::MFile));
    p.close(s[0]).unwrap();
    let again = p.socket().expect("a descriptor was freed");
    assert_eq!(p.socket(), Err(WsaError::MFile));
    assert_eq!(p.device().stats().open_sockets, 3);
    for d in [again, s[1], s[2]] {
        p.close(d).unwrap();
    }
    assert_eq!(p.device().stats().open_sockets, 0);
}

// SPEC D1, L5
#[test]
fn max_backlog_limit_clamps_listen() {
    let p = Provider::new();
    p.device().set_limits(Limits { max_backlog: 8, ..Limits::default() });
    let (l, _) = listener(&p, 100);
    assert_eq!(p.listener_stats(l).unwrap().backlog, 8);
}

// SPEC D1, C5
both_ways!(caller_data_limit_gives_wsaenobufs_and_callee_buffer_has_the_device_size, |h| {
    // the listener's device limits the caller data it takes (F8) and sizes the callee buffer
    h.server.device().set_limits(Limits { max_caller_data: 4, max_callee_data: 3, ..Limits::default() });
    let (l, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let too_big = ConnectParams { caller_data: Some(b"12345"), qos: None };
    // at a distance the listener's device refuses it after one round trip (F5)
    assert_eq!(connect_outcome(&h.client, c, addr, too_big), Err(WsaError::NoBufs));
    assert_eq!(h.server.listener_stats(l).unwrap().queued, 0, "nothing was queued");
    let exact = ConnectParams { caller_data: Some(b"1234"), qos: None };
    assert_eq!(h.client.connect(c, addr, exact), Err(WsaError::WouldBlock));
    let mut capacity = 0;
    let a = h
        .server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                capacity = r.callee_data_capacity();
                assert_eq!(r.caller_data(), Some(&b"1234"[..]));
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(capacity, 3);
    h.server.close(a.socket).unwrap();
    // the connector's device limits the caller data it sends
    h.client.device().set_limits(Limits { max_caller_data: 2, ..Limits::default() });
    let d = nb_connector(&h.client);
    assert_eq!(
        h.client.connect(d, addr, ConnectParams { caller_data: Some(b"123"), qos: None }),
        Err(WsaError::NoBufs)
    );
    assert_eq!(h.server.listener_stats(l).unwrap().queued, 1, "nothing more was queued");
});

// SPEC D1
both_ways!(pending_request_limit_of_the_device, |h| {
    h.server.device().set_limits(Limits { max_pending: 2, ..Limits::default() });
    let (l1, a1) = listener(&h.server, 10);
    let (l2, a2) = listener(&h.server, 10);
    let _c1 = queued_connect(&h.client, a1);
    let _c2 = queued_connect(&h.client, a2);
    assert_eq!(h.server.device().stats().pending, 2);
    let c3 = nb_connector(&h.client);
    // at a distance the listener's device refuses it after one round trip (F5)
    assert_eq!(
        connect_outcome(&h.client, c3, a1, ConnectParams::default()),
        Err(WsaError::NoBufs),
        "device-wide limit"
    );
    assert_eq!(h.server.listener_stats(l1).unwrap().queue_len, 1);
    h.server.accept(l2, None).unwrap();
    assert_eq!(h.server.device().stats().pending, 1);
    assert_eq!(h.client.connect(c3, a1, ConnectParams::default()), Err(WsaError::WouldBlock), "room again");
    settle(&h.client);
    assert_eq!(h.server.listener_stats(l1).unwrap().queue_len, 2);
});

// SPEC D2
#[test]
fn network_down_fails_every_call_and_comes_back() {
    let p = Provider::new();
    let (l, addr) = listener(&p, 5);
    let c = p.socket().unwrap();
    let d = p.device();
    d.set_network_down(true);
    assert!(d.faults().network_down);
    let down: Result<(), WsaError> = Err(WsaError::NetDown);
    assert_eq!(p.socket().map(|_| ()), down);
    assert_eq!(p.bind(c, lo(0)), down);
    assert_eq!(p.listen(l, 3), down);
    assert_eq!(p.connect(c, addr, ConnectParams::default()).map(|_| ()), down);
    assert_eq!(p.accept(l, None).map(|_| ()).map_err(|e| e.error), down);
    assert_eq!(p.sock_name(l).map(|_| ()), down);
    assert_eq!(p.peer_name(c).map(|_| ()), down);
    assert_eq!(p.get_option(l, SockOpt::AcceptConn).map(|_| ()), down);
    assert_eq!(p.set_option(l, SockOpt::SndBuf, 1), down);
    assert_eq!(p.set_nonblocking(c, true), down);
    assert_eq!(p.event_select(c, None, FD_CONNECT), down);
    assert_eq!(p.enum_network_events(c, None).map(|_| ()), down);
    assert_eq!(p.address_list().map(|_| ()), down);
    assert_eq!(p.close(c), down);
    d.set_network_down(false);
    assert_eq!(p.sock_name(l), Ok(addr), "back up: calls work again");
    p.close(l).unwrap();
    p.close(c).unwrap();
}

// SPEC D2, A2
#[test]
fn network_down_wakes_a_blocked_accept_from_another_thread() {
    let p = Provider::new();
    let (l, _) = listener(&p, 5);
    let q = p.clone();
    let blocked = bg(move || q.accept(l, None).map_err(|e| e.error));
    std::thread::sleep(SETTLE);
    p.device().set_network_down(true);
    assert_eq!(blocked.join(), Err(WsaError::NetDown));
    p.device().set_network_down(false);
    assert_eq!(p.get_option(l, SockOpt::AcceptConn), Ok(1), "the listener survives");
}

// SPEC D2, C2, A12
both_ways!(network_down_wakes_and_withdraws_a_blocked_connect, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let blocked = bg(move || q.connect(c, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1), "the request reached the queue");
    // the connector's device goes down: its blocked connect wakes
    h.client.device().set_network_down(true);
    assert_eq!(blocked.join(), Err(WsaError::NetDown));
    h.client.device().set_network_down(false);
    let e = h.server.accept(l, None).unwrap_err();
    assert_eq!(e.error, WsaError::Acces, "the withdrawn request is removed by accept");
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    // the listener's device goes down: a new connect fails at once, as a call on a device that is
    // down (one provider) or as a connect to a device nobody can reach (two providers, F4)
    h.server.device().set_network_down(true);
    assert_eq!(
        h.client.connect(c, addr, ConnectParams::default()),
        Err(h.pick(WsaError::NetDown, WsaError::HostUnreach))
    );
    h.server.device().set_network_down(false);
    assert_eq!(h.server.listener_stats(l).unwrap().queued, 1, "nothing was queued");
});

// SPEC D2, S1
#[test]
fn descriptor_exhaustion_fault_is_a_lower_limit() {
    let p = Provider::new();
    let a = p.socket().unwrap();
    let b = p.socket().unwrap();
    p.device().set_descriptor_limit(Some(2));
    assert_eq!(p.device().faults().descriptor_limit, Some(2));
    assert_eq!(p.socket(), Err(WsaError::MFile));
    p.close(a).unwrap();
    let c = p.socket().unwrap();
    assert_eq!(p.socket(), Err(WsaError::MFile));
    p.device().set_descriptor_limit(None);
    assert_eq!(p.device().faults().descriptor_limit, None);
    let d = p.socket().unwrap();
    for s in [b, c, d] {
        p.close(s).unwrap();
    }
}

// SPEC D2, A11
both_ways!(buffer_exhaustion_fails_socket_connect_and_accept_with_wsaenobufs, |h| {
    let (l, addr) = listener(&h.server, 5);
    let queued = queued_connect(&h.client, addr);
    let c = nb_connector(&h.client);
    // the connector's device: its sockets and its connects
    h.client.device().set_buffer_exhaustion(true);
    assert!(h.client.device().faults().buffer_exhaustion);
    assert_eq!(h.client.socket(), Err(WsaError::NoBufs));
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::NoBufs));
    h.client.device().set_buffer_exhaustion(false);
    // the listener's device: the socket an accept makes
    h.server.device().set_buffer_exhaustion(true);
    let e = h.server.accept(l, None).unwrap_err();
    assert_eq!(e.error, WsaError::NoBufs);
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 1, "the request stays");
    h.server.device().set_buffer_exhaustion(false);
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(a.peer, h.client.sock_name(queued).unwrap());
});

// SPEC D2
#[test]
fn set_faults_sets_every_switch() {
    let p = Provider::new();
    let f = Faults { network_down: true, buffer_exhaustion: true, descriptor_limit: Some(7) };
    p.device().set_faults(f);
    assert_eq!(p.device().faults(), f);
    p.device().set_faults(Faults::default());
    assert_eq!(p.device().faults(), Faults::default());
    p.close(p.socket().unwrap()).unwrap();
}

// SPEC D2, C2, A12
both_ways!(connect_timeout_withdraws_a_blocking_connect, |h| {
    h.client.device().set_connect_timeout(Some(Duration::from_millis(50)));
    assert_eq!(h.client.device().limits().connect_timeout, Some(Duration::from_millis(50)));
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::TimedOut));
    assert_eq!(h.client.device().stats().timed_out, 1);
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 1, "withdrawn requests stay until accept reaches them");
    let e = h.server.accept(l, None).unwrap_err();
    assert_eq!(e.error, WsaError::Acces);
    assert_eq!(e.examined, Some(h.client.sock_name(c).unwrap()));
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.withdrawn, s.queue_len), (1, 0));
});

// SPEC D2, C2, E5, A12
both_ways!(connect_timeout_withdraws_a_non_blocking_connect_with_fd_connect, |h| {
    h.client.device().set_connect_timeout(Some(Duration::from_millis(30)));
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    let c = nb_connector(&h.client);
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert!(sig.wait_sets(1), "FD_CONNECT signalled by the timeout");
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.error(FD_CONNECT_BIT), Some(WsaError::TimedOut.code()));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::TimedOut.code()));
    // the timer thread counts it right after it signals
    assert!(wait_until(|| h.client.device().stats().timed_out == 1));
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
});

// SPEC D3
both_ways!(listener_and_device_statistics_count_every_outcome, |h| {
    let (l, addr) = listener(&h.server, 4);
    let c: Vec<_> = (0..4).map(|_| queued_connect(&h.client, addr)).collect();
    let full = nb_connector(&h.client);
    // at a distance refused after one round trip (F5)
    assert_eq!(connect_outcome(&h.client, full, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.queued, s.refused_full, s.queue_len, s.backlog), (4, 1, 4, 4));

    assert_eq!(accept_with_decision(&h.server, l, Decision::Defer).unwrap_err().error, WsaError::TryAgain);
    let a0 = accept_with_decision(&h.server, l, Decision::Accept).unwrap();
    assert_eq!(accept_with_decision(&h.server, l, Decision::Reject).unwrap_err().error, WsaError::ConnRefused);
    h.client.close(c[2]).unwrap();
    settle(&h.client); // at a distance the withdrawal arrives a moment later
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
    h.server.listen(l, 2).unwrap(); // one queued, nothing to reset
    let _c4 = queued_connect(&h.client, addr);
    h.server.listen(l, 1).unwrap(); // resets the newest
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!(
        s,
        ListenerStats {
            queued: 5,
            accepted: 1,
            rejected: 1,
            deferred: 1,
            refused_full: 1,
            reset: 1,
            withdrawn: 1,
            refused_by_close: 0,
            queue_len: 1,
            backlog: 1,
        }
    );
    assert_eq!(s.queued, s.accepted + s.rejected + s.reset + s.withdrawn + s.refused_by_close + s.queue_len);

    let nobody = nb_connector(&h.client);
    assert_eq!(connect_outcome(&h.client, nobody, lo(1), ConnectParams::default()), Err(WsaError::ConnRefused));
    // the listener's device counts its listeners, its queues and a refusal at its own address
    let dev = h.server.device().stats();
    assert_eq!(dev.listeners.queued, 5);
    assert_eq!(dev.listeners.queue_len, 1);
    assert_eq!(dev.refused_no_listener, 1);
    assert_eq!(dev.pending, 1);

    // closing the listener refuses the last request and keeps the counts in the device totals
    h.server.close(l).unwrap();
    let dev = h.server.device().stats();
    assert_eq!(dev.listeners.refused_by_close, 1);
    assert_eq!(dev.listeners.accepted, 1);
    assert_eq!(dev.listeners.queue_len, 0);
    assert_eq!(dev.pending, 0);
    assert_eq!(h.server.listener_stats(l), Err(WsaError::NotSock));
    assert_eq!(h.server.listener_stats(a0.socket), Err(WsaError::Inval), "not a listener");
});

// SPEC D3
both_ways!(statistics_are_readable_while_the_device_is_down, |h| {
    let (l, addr) = listener(&h.server, 3);
    let _c = queued_connect(&h.client, addr);
    h.server.device().set_network_down(true);
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 1);
    assert_eq!(h.server.device().stats().pending, 1);
    h.server.device().set_network_down(false);
});

// SPEC D4
#[test]
fn address_list_lists_the_nics() {
    let p = Provider::with_config(DeviceConfig {
        nics: vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 1, 2, 3)],
        ..DeviceConfig::default()
    });
    assert_eq!(p.address_list(), Ok(vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 1, 2, 3)]));
    p.device().add_nic(Ipv4Addr::new(192, 168, 0, 1)).unwrap();
    assert_eq!(p.device().add_nic(Ipv4Addr::new(192, 168, 0, 1)), Err(WsaError::Inval));
    assert_eq!(p.device().add_nic(Ipv4Addr::UNSPECIFIED), Err(WsaError::Inval));
    p.device().remove_nic(Ipv4Addr::new(10, 1, 2, 3)).unwrap();
    assert_eq!(p.device().remove_nic(Ipv4Addr::new(10, 1, 2, 3)), Err(WsaError::AddrNotAvail));
    assert_eq!(p.address_list(), Ok(vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(192, 168, 0, 1)]));
    let s = p.socket().unwrap();
    assert_eq!(p.bind(s, SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 0)), Err(WsaError::AddrNotAvail));
    p.bind(s, SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 1), 0)).unwrap();
}

// SPEC D1, D3
#[test]
fn providers_are_independent() {
    let p1 = Provider::new();
    let p2 = Provider::new();
    let (l1, addr) = listener(&p1, 5);
    let l2 = listener_at(&p2, addr, 5); // same address: a different device
    let c = nb_connector(&p2);
    assert_eq!(p2.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(p1.listener_stats(l1).unwrap().queue_len, 0);
    assert_eq!(p2.listener_stats(l2).unwrap().queue_len, 1);
    assert_eq!(p1.device().stats().open_sockets, 1);
    assert_eq!(p2.device().stats().open_sockets, 2);
    p1.device().set_network_down(true);
    p2.accept(l2, None).unwrap();
}

//! The points the behaviour contract (docs/behaviour.md) leaves open, as wspsan decided them (README, "Where wspsan decided"). Tests
//! of a connector and a listener run with both on one provider and on two providers of one fabric
//! (SPEC section 11).

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::thread;
use wspsan_core::consts::{FD_ACCEPT, FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{ConditionRequest, ConnectParams, Decision, Descriptor, Limits, Provider, SockOpt, WsaError};

// SPEC C3, E5 (decided: an immediate failure is reported by the call only, no FD_CONNECT),
// F5 (at a distance no refusal is immediate: each connect was an attempt, answered after one
// round trip through FD_CONNECT and SO_ERROR)
both_ways!(an_immediate_connect_failure_records_no_fd_connect, |h| {
    let (_l, addr) = listener(&h.server, 1);
    let full = queued_connect(&h.client, addr);
    let c = nb_connector(&h.client);
    let sig = CountingSignal::new();
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
    let refused = Err(WsaError::ConnRefused);
    assert_eq!(connect_outcome(&h.client, c, lo(1), ConnectParams::default()), refused); // nobody there
    assert_eq!(connect_outcome(&h.client, c, addr, ConnectParams::default()), refused); // queue full
    if h.by_messages() {
        // two attempts, each answered by FD_CONNECT; the second one's answer is the one recorded
        assert!(sig.wait_sets(2));
        assert_eq!(sig.sets(), 2);
        let ev = h.client.enum_network_events(c, None).unwrap();
        assert_eq!((ev.events, ev.error(FD_CONNECT_BIT)), (FD_CONNECT, Some(WsaError::ConnRefused.code())));
        assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    } else {
        assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0);
        assert_eq!(sig.sets(), 0);
        assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
    }
    h.client.close(full).unwrap();
});

// SPEC E2 (decided: while a deferred request is at the head, arrivals do not signal FD_ACCEPT)
both_ways!(arrivals_behind_a_deferred_request_do_not_signal_until_the_next_accept, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let _first = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(1)); // at a distance set a moment after the request arrived
    assert_eq!(sig.sets(), 1);
    assert!(h.server.enum_network_events(l, None).unwrap().contains(FD_ACCEPT));
    assert_eq!(accept_with_decision(&h.server, l, Decision::Defer).unwrap_err().error, WsaError::TryAgain);
    let _second = queued_connect(&h.client, addr);
    assert_eq!(sig.sets(), 1, "no FD_ACCEPT while the deferred request waits at the head");
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0);
    // the next accept (any answer but CF_DEFER) re-enables, and a request is still queued
    h.server.accept(l, None).unwrap();
    assert!(h.server.enum_network_events(l, None).unwrap().contains(FD_ACCEPT));
    // a new arrival after the enumeration records it again (as Windows: Wine's test_accept_events)
    let before = sig.sets();
    let _third = queued_connect(&h.client, addr);
    assert!(sig.wait_sets(before + 1));
});

// SPEC E2, E3 (decided: an accept that leaves the queue empty clears a recorded FD_ACCEPT)
both_ways!(an_accept_that_empties_the_queue_clears_fd_accept, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig = CountingSignal::new();
    h.server.event_select(l, Some(sig.handle()), FD_ACCEPT).unwrap();
    let _c = queued_connect(&h.client, addr);
    h.server.accept(l, None).unwrap();
    assert!(sig.resets() >= 1, "E3: the successful accept reset the event object");
    assert_eq!(h.server.enum_network_events(l, None).unwrap().events, 0, "nothing waits: no FD_ACCEPT");
});

// SPEC A12, K2 (decided: a listener closed while the condition runs: CF_ACCEPT completes)
both_ways!(a_listener_closed_during_the_condition_still_completes_an_accept, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    let closer = h.server.clone();
    let a = h
        .server
        .accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| {
                let q = closer.clone();
                thread::spawn(move || q.close(l)).join().unwrap().unwrap();
                Decision::Accept
            }),
        )
        .expect("the accept had taken the request before the close");
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.server.peer_name(a.socket), h.client.sock_name(c));
    let st = h.server.device().stats().listeners;
    assert_eq!((st.queued, st.accepted, st.queue_len), (1, 1, 0));
});

// SPEC A9, K2 (decided: CF_DEFER on a listener closed meanwhile refuses the connector, WSAEINTR)
both_ways!(a_listener_closed_during_a_deferring_condition_refuses_the_request, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    let closer = h.server.clone();
    let e = h
        .server
        .accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| {
                let q = closer.clone();
                thread::spawn(move || q.close(l)).join().unwrap().unwrap();
                Decision::Defer
            }),
        )
        .unwrap_err();
    assert_eq!(e.error, WsaError::Intr);
    settle(&h.server); // at a distance the refusal arrives a moment later
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    let st = h.server.device().stats();
    assert_eq!((st.listeners.refused_by_close, st.pending), (1, 0));
});

// SPEC B1, C4 (decided: port 0 takes a device's ephemeral ports in order from 49152, skipping
// those in use; a freed port comes back only after the rest of the range)
#[test]
fn ephemeral_ports_are_handed_out_in_order() {
    let p = Provider::new();
    let port_zero = || {
        let s = p.socket().unwrap();
        p.bind(s, lo(0)).unwrap();
        (s, p.sock_name(s).unwrap().port())
    };
    let (first, port) = port_zero();
    assert_eq!(port, 49152, "a new device starts at the bottom of the range");
    let taken = p.socket().unwrap();
    p.bind(taken, lo(49154)).unwrap();
    assert_eq!(port_zero().1, 49153);
    assert_eq!(port_zero().1, 49155, "a port in use is skipped");
    p.close(first).unwrap();
    assert_eq!(port_zero().1, 49156, "a freed port is not handed out again at once");
    // the implicit bind of a connect takes the next one too
    let c = p.socket().unwrap();
    p.set_nonblocking(c, true).unwrap();
    assert_eq!(p.connect(c, lo(9), ConnectParams::default()), Err(WsaError::ConnRefused));
    let l = p.socket().unwrap();
    p.bind(l, lo(5000)).unwrap();
    p.listen(l, 1).unwrap();
    assert_eq!(p.connect(c, lo(5000), ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(p.sock_name(c).unwrap().port(), 49157);
}

// SPEC C4 (decided: running out of ephemeral ports gives WSAENOBUFS)
both_ways!(ephemeral_port_exhaustion_gives_wsaenobufs, |h| {
    let p = &h.client;
    let span = 65535 - 49152 + 1;
    for _ in 0..span {
        let s = p.socket().unwrap();
        p.bind(s, h.client_at(0)).unwrap();
    }
    let s = p.socket().unwrap();
    assert_eq!(p.bind(s, h.client_at(0)), Err(WsaError::NoBufs));
    // the implicit bind takes a port of the NIC just filled: the target's (C4) or the first (F2)
    assert_eq!(h.connector_nic(Ipv4Addr::LOCALHOST), h.client_nic());
    assert_eq!(p.connect(s, lo(9), ConnectParams::default()), Err(WsaError::NoBufs), "implicit bind too");
});

// SPEC B2, C3 (decided: an address that is not a NIC has nobody listening: WSAECONNREFUSED)
both_ways!(a_connect_to_an_address_that_is_not_a_nic_is_refused_even_by_a_wildcard_listener, |h| {
    let _l = listener_at(&h.server, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7100), 5);
    let c = nb_connector(&h.client);
    let elsewhere = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 7100);
    assert_eq!(h.client.connect(c, elsewhere, ConnectParams::default()), Err(WsaError::ConnRefused));
    // nobody owns the address: the connector's device counts the refusal
    assert_eq!(h.client.device().stats().refused_no_listener, 1);
    assert_eq!(h.server.device().stats().refused_no_listener, h.pick(1, 0));
    assert_eq!(h.client.connect(c, lo(7100), ConnectParams::default()), Err(WsaError::WouldBlock));
});

// SPEC C2 (decided: reading SO_ERROR does not clear it, as real Windows; the next attempt does)
both_ways!(so_error_reads_the_same_until_the_next_connect_attempt, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    accept_with_decision(&h.server, l, Decision::Reject).unwrap_err();
    for _ in 0..3 {
        assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    }
    // a connect refused at once is no attempt (README): the last attempt's error stays; at a
    // distance it is an attempt (F5), refused after one round trip: its own error is there
    assert_eq!(connect_outcome(&h.client, c, lo(1), ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    // the next attempt clears it; its own answer sets it again
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0), "cleared by the attempt");
    h.server.accept(l, None).unwrap();
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
});

// SPEC C2, L8 (decided: SO_ERROR can be set, as on Windows; other read-only options cannot)
#[test]
fn so_error_can_be_set_and_read_back() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    assert_eq!(p.set_option(s, SockOpt::Error, 1234), Ok(()));
    assert_eq!(p.get_option(s, SockOpt::Error), Ok(1234));
    assert_eq!(p.set_option(s, SockOpt::AcceptConn, 1), Err(WsaError::NoProtoOpt));
}

// SPEC L8, X4 (decided: an unknown option level is WSAEINVAL, an unknown option at a known level
// WSAENOPROTOOPT, as Windows; the descriptor comes first)
#[test]
fn an_unknown_option_level_is_wsaeinval() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    assert_eq!(p.get_option_raw(s, 0x7fff_ffff, 0x1007), Err(WsaError::Inval));
    assert_eq!(p.set_option_raw(s, 0x8000, 0x1006, 1), Err(WsaError::Inval));
    assert_eq!(p.get_option_raw(s, 0xffff, 0x7777), Err(WsaError::NoProtoOpt));
    assert_eq!(p.get_option_raw(s, 6, 0x7777), Err(WsaError::NoProtoOpt), "IPPROTO_TCP is a level");
    assert_eq!(p.get_option_raw(Descriptor::from_raw(4), 0x8000, 1), Err(WsaError::NotSock));
}

// SPEC D1, D2 (decided: no connect timeout by default)
#[test]
fn the_default_device_has_no_connect_timeout() {
    let p = Provider::new();
    assert_eq!(p.device().limits().connect_timeout, None);
    assert_eq!(Limits::default().connect_timeout, None);
}

// SPEC D2, K1 (decided: with the device down close fails too; the socket survives it)
#[test]
fn close_fails_while_the_device_is_down_and_works_after() {
    let p = Provider::new();
    let s = p.socket().unwrap();
    p.device().set_network_down(true);
    assert_eq!(p.close(s), Err(WsaError::NetDown));
    p.device().set_network_down(false);
    assert_eq!(p.close(s), Ok(()));
    assert_eq!(p.close(s), Err(WsaError::NotSock));
}

// SPEC D1, B1 (decided: removing a NIC affects new binds only)
#[test]
fn removing_a_nic_keeps_sockets_bound_to_it_working() {
    let p = two_nic_provider();
    let nic2 = Ipv4Addr::new(10, 0, 0, 1);
    let l = listener_at(&p, SocketAddrV4::new(nic2, 7200), 5);
    p.device().remove_nic(nic2).unwrap();
    assert_eq!(p.device().remove_nic(nic2), Err(WsaError::AddrNotAvail));
    let s = p.socket().unwrap();
    assert_eq!(p.bind(s, SocketAddrV4::new(nic2, 7201)), Err(WsaError::AddrNotAvail));
    let c = queued_connect(&p, SocketAddrV4::new(nic2, 7200));
    p.accept(l, None).unwrap();
    assert_eq!(p.peer_name(c), Ok(SocketAddrV4::new(nic2, 7200)));
}

struct PanickingSignal;
impl wspsan_core::Signal for PanickingSignal {
    fn set(&self) {
        panic!("set exploded");
    }
    fn reset(&self) {
        panic!("reset exploded");
    }
}

struct PanickingHooks;
impl wspsan_core::SocketHooks for PanickingHooks {
    fn created(&self, _: wspsan_core::Descriptor) -> wspsan_core::Result<u64> {
        panic!("create upcall exploded");
    }
    fn closed(&self, _: wspsan_core::Descriptor, _: u64) {}
}

// SPEC X4, T2 (decided: a panicking Signal is contained; the connect still ends in one outcome)
both_ways!(a_panicking_event_object_loses_nothing, |h| {
    let (l, addr) = listener(&h.server, 5);
    let sig: wspsan_core::EventHandle = std::sync::Arc::new(PanickingSignal);
    h.server.event_select(l, Some(sig.clone()), FD_ACCEPT).unwrap();
    let c = nb_connector(&h.client);
    h.client.event_select(c, Some(sig.clone()), FD_CONNECT).unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    settle(&h.client); // the selection made the listener non-blocking: the request must be there
    let a = h.server.accept(l, None).unwrap(); // E3 reset and E2 set both panic inside
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.client.enum_network_events(c, Some(&sig)).unwrap().error(FD_CONNECT_BIT), Some(0));
    let st = h.server.device().stats();
    assert_eq!((st.listeners.accepted, st.pending), (1, 0));
    h.server.close(a.socket).unwrap();
});

// SPEC X4, X5, A11 (decided: a panicking create hook fails with WSAENETDOWN, nothing leaks)
both_ways!(a_panicking_create_hook_fails_the_call_and_keeps_the_request, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    let open = h.server.device().stats().open_sockets;
    h.server.set_hooks(Some(std::sync::Arc::new(PanickingHooks)));
    assert_eq!(h.server.socket(), Err(WsaError::NetDown));
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::NetDown);
    assert_eq!(h.server.device().stats().open_sockets, open, "no descriptor leaked");
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 1, "the request stays queued");
    h.server.set_hooks(None);
    h.server.accept(l, None).unwrap();
    assert_eq!(h.client.peer_name(c), Ok(addr));
});

// SPEC C5, A5 (decided: caller data of length 0 is no caller data)
both_ways!(empty_caller_data_reaches_the_condition_as_none, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let data: &[u8] = b"";
    assert_eq!(
        h.client.connect(c, addr, ConnectParams { caller_data: Some(data), qos: None }),
        Err(WsaError::WouldBlock)
    );
    let mut seen: Option<Option<Vec<u8>>> = None;
    h.server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                seen = Some(r.caller_data().map(<[u8]>::to_vec));
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(seen, Some(None));
});

// SPEC L8, section 1 (options by number: entry checks and the socket before WSAENOPROTOOPT)
#[test]
fn raw_options_check_the_socket_before_the_option() {
    use wspsan_core::consts::{SO_ACCEPTCONN, SOL_SOCKET, platform};
    let p = Provider::new();
    let (l, _) = listener(&p, 5);
    assert_eq!(p.get_option_raw(l, SOL_SOCKET, SO_ACCEPTCONN), Ok(1));
    assert_eq!(p.get_option_raw(l, platform::SOL_SOCKET, platform::SO_ACCEPTCONN), Ok(1));
    assert_eq!(p.get_option_raw(l, SOL_SOCKET, 0x4242), Err(WsaError::NoProtoOpt));
    assert_eq!(p.set_option_raw(l, SOL_SOCKET, SO_ACCEPTCONN, 0), Err(WsaError::NoProtoOpt));
    p.close(l).unwrap();
    assert_eq!(p.get_option_raw(l, SOL_SOCKET, 0x4242), Err(WsaError::NotSock));
}

// SPEC E6, D4, section 1 (ioctl codes in both numberings; unknown: WSAEINVAL)
#[test]
fn ioctl_codes_in_both_numberings() {
    use wspsan_core::consts::{FIONBIO, Ioctl, SIO_ADDRESS_LIST_QUERY, platform};
    assert_eq!(Ioctl::from_code(FIONBIO), Ok(Ioctl::NonBlocking));
    assert_eq!(Ioctl::from_code(platform::FIONBIO), Ok(Ioctl::NonBlocking));
    assert_eq!(Ioctl::from_code(SIO_ADDRESS_LIST_QUERY), Ok(Ioctl::AddressListQuery));
    assert_eq!(Ioctl::from_code(0x1234), Err(WsaError::Inval));
}

// SPEC A14, K1 (decided: close_all and the switch context obey A14; discard ignores the device)
both_ways!(cleanup_obeys_a14_and_discard_works_while_the_device_is_down, |h| {
    let p = &h.server;
    let (l, addr) = listener(p, 5);
    let c = queued_connect(&h.client, addr);
    let mut inside = None;
    p.accept(
        l,
        Some(&mut |_: &mut ConditionRequest<'_>| {
            inside = Some((p.close_all(), p.context(l), h.client.context(c)));
            Decision::Accept
        }),
    )
    .unwrap();
    // A14 is per provider: the connector's provider, when it is another one, is not refused
    let in_progress = WsaError::InProgress;
    assert_eq!(inside, Some((Err(in_progress), Err(in_progress), h.pick(Err(in_progress), Ok(0)))));
    let s = p.socket().unwrap();
    p.device().set_network_down(true);
    assert_eq!(p.close(s), Err(WsaError::NetDown));
    assert_eq!(p.discard(s), Ok(()));
    assert_eq!(p.discard(s), Err(WsaError::NotSock));
    p.device().set_network_down(false);
    assert_eq!(p.close_all(), Ok(()));
    assert_eq!(h.client.close_all(), Ok(()));
    assert_eq!(h.open_sockets(), 0);
});

// SPEC D1 (decided: a NIC list with 0.0.0.0 or a repeat is invalid; with_config drops them)
#[test]
fn nic_lists_are_validated() {
    use wspsan_core::DeviceConfig;
    let bad = DeviceConfig { nics: vec![Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED], ..DeviceConfig::default() };
    assert_eq!(bad.validate(), Err(WsaError::Inval));
    let twice = DeviceConfig { nics: vec![Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST], ..DeviceConfig::default() };
    assert_eq!(twice.validate(), Err(WsaError::Inval));
    assert_eq!(Provider::with_config(twice).device().nics(), vec![Ipv4Addr::LOCALHOST]);
    assert_eq!(Provider::with_config(bad).device().nics(), vec![Ipv4Addr::LOCALHOST]);
    assert_eq!(DeviceConfig::default().validate(), Ok(()));
}

// SPEC D1, C5 (decided: caller and callee data limits are clamped to 64 KiB, like L5's backlog:
// an accept allocates a callee buffer of the limit's size, so an unbounded one could exhaust memory)
both_ways!(connect_data_limits_are_clamped_to_64_kib, |h| {
    use wspsan_core::{DeviceConfig, MAX_CONNECT_DATA};
    assert_eq!(MAX_CONNECT_DATA, 65536);
    let huge = Limits { max_caller_data: usize::MAX, max_callee_data: u32::MAX as usize, ..Limits::default() };
    let configured = Provider::with_config(DeviceConfig { limits: huge, ..DeviceConfig::default() });
    assert_eq!(configured.device().limits().max_caller_data, MAX_CONNECT_DATA);
    // the caller data must fit the limits of both devices (the connector's and the listener's)
    for p in [&h.client, &h.server] {
        p.device().set_limits(huge);
        let l = p.device().limits();
        assert_eq!((l.max_caller_data, l.max_callee_data), (MAX_CONNECT_DATA, MAX_CONNECT_DATA));
        assert_eq!(l.max_descriptors, Limits::default().max_descriptors, "other limits as given");
    }
    let (listener_socket, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let over = vec![7u8; MAX_CONNECT_DATA + 1];
    assert_eq!(h.client.connect(c, addr, ConnectParams { caller_data: Some(&over), qos: None }), Err(WsaError::NoBufs));
    let most = vec![7u8; MAX_CONNECT_DATA];
    assert_eq!(
        h.client.connect(c, addr, ConnectParams { caller_data: Some(&most), qos: None }),
        Err(WsaError::WouldBlock)
    );
    let mut seen = (0, 0);
    let a = h
        .server
        .accept(
            listener_socket,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                seen = (r.caller_data().map_or(0, <[u8]>::len), r.callee_data_capacity());
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(seen, (MAX_CONNECT_DATA, MAX_CONNECT_DATA));
    h.server.close(a.socket).unwrap();
    h.client.close(c).unwrap();
});

// SPEC A5, A15 (decided, as Windows): a wildcard-bound connector is named 0.0.0.0 until its
// connect completes, then by the NIC it connected to; its binding stays the wildcard.
both_ways!(a_wildcard_bound_connector_is_named_by_its_nic_once_connected, layout, |layout| {
    let nic2 = Ipv4Addr::new(10, 0, 0, 2);
    let h = Hosts::with_nics(layout, &[Ipv4Addr::LOCALHOST, nic2], &[CLIENT_NIC, Ipv4Addr::new(10, 0, 1, 2)]);
    let l = h.server.socket().unwrap();
    h.server.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7100)).unwrap();
    h.server.listen(l, 4).unwrap();
    let c = h.client.socket().unwrap();
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7101);
    h.client.bind(c, any).unwrap();
    h.client.set_nonblocking(c, true).unwrap();
    assert_eq!(h.client.connect(c, SocketAddrV4::new(nic2, 7100), ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(h.client.sock_name(c), Ok(any));
    let a = h.server.accept(l, None).unwrap();
    // the NIC it speaks from: the target's on one device (C4), its device's first otherwise (F2)
    let named = SocketAddrV4::new(h.connector_nic(nic2), 7101);
    assert_eq!(a.peer, named);
    assert_eq!(h.client.sock_name(c), Ok(named));
    // the port is still held on every NIC of the connector's device
    let other = h.client.socket().unwrap();
    for nic in h.client.device().nics() {
        assert_eq!(h.client.bind(other, SocketAddrV4::new(nic, 7101)), Err(WsaError::AddrInUse), "{nic}");
    }
    h.server.close(a.socket).unwrap();
    h.client.close(c).unwrap();
    h.client.bind(other, SocketAddrV4::new(h.client_nic(), 7101)).unwrap();
});

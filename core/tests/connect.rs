//! SPEC section 6: connect, the active side. Every test runs with connector and listener on one
//! provider and on two providers of one fabric (SPEC section 11).

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use wspsan_core::consts::{EPHEMERAL_FIRST, EPHEMERAL_LAST, FD_CONNECT, FD_CONNECT_BIT};
use wspsan_core::{
    ConditionRequest, ConnectParams, Decision, Descriptor, FlowSpec, Limits, Qos, SockOpt, Wait, WsaError,
};

// SPEC C1, C2
both_ways!(non_blocking_connect_completes_only_when_accept_runs_the_condition, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let sig = CountingSignal::new();
    h.client.event_select(c, Some(sig.handle()), FD_CONNECT).unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    // nothing is reported before accept decides
    assert_eq!(sig.sets(), 0);
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0);
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    let mut during = None;
    let q = h.client.clone();
    let a = h
        .server
        .accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| {
                // still not complete while the condition runs (another thread looks)
                let q = q.clone();
                during = Some(
                    std::thread::spawn(move || (q.peer_name(c), q.enum_network_events(c, None).map(|e| e.events)))
                        .join()
                        .unwrap(),
                );
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(during, Some((Err(WsaError::NotConn), Ok(0))));
    assert!(sig.wait_sets(1)); // at a distance set a moment after the answer arrived
    assert_eq!(sig.sets(), 1);
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.events, FD_CONNECT);
    assert_eq!(ev.error(FD_CONNECT_BIT), Some(0));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.server.peer_name(a.socket), h.client.sock_name(c));
});

// SPEC C1, C2, T1
both_ways!(blocking_connect_waits_until_accept_on_another_thread_answers, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams { caller_data: Some(b"hi"), qos: None }));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
    std::thread::sleep(SETTLE);
    assert!(!waiting.finished(), "a connect is never complete before the condition ran");
    let mut unfinished_in_condition = false;
    let a = h
        .server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                unfinished_in_condition = !waiting.finished();
                r.set_callee_data(b"welcome");
                Decision::Accept
            }),
        )
        .unwrap();
    assert!(unfinished_in_condition);
    assert_eq!(waiting.join(), Ok(b"welcome".to_vec()));
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.server.peer_name(a.socket), h.client.sock_name(c));
    assert_eq!(h.client.callee_data(c), Ok(b"welcome".to_vec()));
});

// SPEC C1, C2, A8
both_ways!(a_rejected_blocking_connect_fails_with_wsaeconnrefused, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
    assert_eq!(accept_with_decision(&h.server, l, Decision::Reject).unwrap_err().error, WsaError::ConnRefused);
    assert_eq!(waiting.join(), Err(WsaError::ConnRefused));
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
});

// SPEC C2
both_ways!(a_rejected_non_blocking_connect_reports_fd_connect_and_so_error, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = queued_connect(&h.client, addr);
    accept_with_decision(&h.server, l, Decision::Reject).unwrap_err();
    // not selected: remembered; SO_ERROR reads it too, as often as asked (C2, decided)
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()), "read twice");
    assert_eq!(h.client.enum_network_events(c, None).unwrap().events, 0, "E4: not selected, not reported");
    h.client.event_select(c, None, FD_CONNECT).unwrap();
    let ev = h.client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.error(FD_CONNECT_BIT), Some(WsaError::ConnRefused.code()));
});

// SPEC C2, D2: the timeout is the connector's device's; it counts the timeout, the listener the
// withdrawal
both_ways!(blocking_connect_times_out_with_the_device_timeout_or_its_own, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let w = Wait { timeout: Some(Duration::from_millis(20)), interrupt: None };
    assert_eq!(h.client.connect_with(c, addr, ConnectParams::default(), w), Err(WsaError::TimedOut));
    assert_eq!(h.client.peer_name(c), Err(WsaError::NotConn));
    // C6: back to bound, and the withdrawn request is removed by the next accept (A12)
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
    h.client.device().set_connect_timeout(Some(Duration::from_millis(20)));
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::TimedOut));
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
    assert_eq!(h.client.device().stats().timed_out, 2);
    assert_eq!(h.server.listener_stats(l).unwrap().withdrawn, 2);
});

// SPEC C2
both_ways!(an_interrupted_blocking_connect_gives_wsaeintr_and_is_withdrawn, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let mut polls = 0;
    let mut stop = || {
        polls += 1;
        polls >= 2
    };
    let w = Wait { timeout: None, interrupt: Some(&mut stop) };
    assert_eq!(h.client.connect_with(c, addr, ConnectParams::default(), w), Err(WsaError::Intr));
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
});

// SPEC C3
both_ways!(immediate_connect_failures, |h| {
    let (l, addr) = listener(&h.server, 1);
    let c = nb_connector(&h.client);
    let none = ConnectParams::default;
    // nobody listening there (also: bound but not listening); at a distance the refusal comes
    // back after one round trip (F5)
    assert_eq!(connect_outcome(&h.client, c, lo(1), none()), Err(WsaError::ConnRefused));
    let idle = h.server.socket().unwrap();
    h.server.bind(idle, lo(0)).unwrap();
    let idle_addr = h.server.sock_name(idle).unwrap();
    assert_eq!(connect_outcome(&h.client, c, idle_addr, none()), Err(WsaError::ConnRefused));
    // 0.0.0.0 or port 0
    assert_eq!(
        h.client.connect(c, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, addr.port()), none()),
        Err(WsaError::AddrNotAvail)
    );
    assert_eq!(h.client.connect(c, lo(0), none()), Err(WsaError::AddrNotAvail));
    // a listening socket cannot connect
    assert_eq!(h.server.connect(l, addr, none()), Err(WsaError::Inval));
    // connect already pending
    assert_eq!(h.client.connect(c, addr, none()), Err(WsaError::WouldBlock));
    assert_eq!(h.client.connect(c, addr, none()), Err(WsaError::Already));
    assert_eq!(h.client.connect(c, idle_addr, none()), Err(WsaError::Already));
    // queue full (once c's request is there)
    settle(&h.client);
    let d = nb_connector(&h.client);
    assert_eq!(connect_outcome(&h.client, d, addr, none()), Err(WsaError::ConnRefused));
    // connected socket, and the accepted one
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(h.client.connect(c, addr, none()), Err(WsaError::IsConn));
    assert_eq!(h.server.connect(a.socket, addr, none()), Err(WsaError::IsConn));
    // unknown descriptor
    assert_eq!(h.client.connect(Descriptor::from_raw(3), addr, none()), Err(WsaError::NotSock));
    // none of these queued anything
    let s = h.server.listener_stats(l).unwrap();
    assert_eq!((s.queued, s.refused_full), (1, 1));
    // counted by the device that owns the address
    assert_eq!(h.server.device().stats().refused_no_listener, 2);
});

// SPEC C3, L9
both_ways!(connect_to_an_exhausted_listener_is_refused, |h| {
    let (l, addr) = listener(&h.server, 5);
    let _c = queued_connect(&h.client, addr);
    let d = nb_connector(&h.client);
    h.server.device().set_descriptor_limit(Some(h.server.device().stats().open_sockets as usize));
    h.server.set_nonblocking(l, true).unwrap();
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::MFile);
    assert_eq!(connect_outcome(&h.client, d, addr, ConnectParams::default()), Err(WsaError::ConnRefused));
});

// SPEC C4, F2: bound to the target's NIC on the same device, to the client's first NIC towards
// another device
both_ways!(an_unbound_connector_is_bound_to_the_targets_nic_and_a_free_port, layout, |layout| {
    let nic2 = Ipv4Addr::new(10, 0, 0, 1);
    let h = Hosts::with_nics(layout, &[Ipv4Addr::LOCALHOST, nic2], &[CLIENT_NIC]);
    let l = listener_at(&h.server, SocketAddrV4::new(nic2, 8000), 5);
    let c = nb_connector(&h.client);
    assert_eq!(h.client.sock_name(c), Err(WsaError::Inval));
    assert_eq!(h.client.connect(c, SocketAddrV4::new(nic2, 8000), ConnectParams::default()), Err(WsaError::WouldBlock));
    let local = h.client.sock_name(c).unwrap();
    assert_eq!(*local.ip(), h.pick(nic2, CLIENT_NIC));
    assert!((EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(&local.port()));
    let a = h.server.accept(l, None).unwrap();
    assert_eq!(a.peer, local);
    assert_eq!(h.server.peer_name(a.socket), Ok(local));
    // the implicit binding holds the port: nobody else can bind it
    let other = h.client.socket().unwrap();
    assert_eq!(h.client.bind(other, local), Err(WsaError::AddrInUse));
    // a connector that failed at once is bound as well (to the NIC it would have spoken from)
    let d = nb_connector(&h.client);
    assert_eq!(connect_outcome(&h.client, d, lo(1), ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(*h.client.sock_name(d).unwrap().ip(), h.pick(Ipv4Addr::LOCALHOST, CLIENT_NIC));
});

// SPEC C4
both_ways!(an_explicitly_bound_connector_keeps_its_address, |h| {
    let (l, addr) = listener(&h.server, 5);
    let c = nb_connector(&h.client);
    let mine = h.client_at(9100);
    h.client.bind(c, mine).unwrap();
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(h.client.sock_name(c), Ok(mine));
    assert_eq!(h.server.accept(l, None).unwrap().peer, mine);
});

// SPEC C5, A5
both_ways!(caller_data_and_qos_reach_the_condition_and_callee_data_comes_back, |h| {
    let (l, addr) = listener(&h.server, 5);
    let qos = Qos {
        sending: FlowSpec { token_rate: 1, peak_bandwidth: 2, latency: 3, service_type: 4, ..FlowSpec::default() },
        receiving: FlowSpec {
            token_bucket_size: 5,
            delay_variation: 6,
            max_sdu_size: 7,
            minimum_policed_size: 8,
            ..FlowSpec::default()
        },
        provider_specific: vec![9, 10, 11],
    };
    let data = [0xabu8; 256]; // exactly the device maximum
    let c = nb_connector(&h.client);
    assert_eq!(
        h.client.connect(c, addr, ConnectParams { caller_data: Some(&data), qos: Some(&qos) }),
        Err(WsaError::WouldBlock)
    );
    let mut seen = None;
    let a = h
        .server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                seen = Some((r.caller_data().map(<[u8]>::to_vec), r.qos().cloned()));
                assert_eq!(r.set_callee_data(b"reply"), 5);
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(seen, Some((Some(data.to_vec()), Some(qos))));
    assert_eq!(h.client.callee_data(c), Ok(b"reply".to_vec()));
    assert_eq!(h.client.get_option(c, SockOpt::ConnDataLen), Ok(5));
    assert_eq!(h.server.callee_data(a.socket), Ok(vec![]), "the accepted side received none");
    // one byte over the limit
    let d = nb_connector(&h.client);
    let over = [0u8; 257];
    assert_eq!(h.client.connect(d, addr, ConnectParams { caller_data: Some(&over), qos: None }), Err(WsaError::NoBufs));
    assert_eq!(h.client.sock_name(d), Err(WsaError::Inval), "nothing happened");
});

// SPEC C5: the callee buffer has the size of the listener's device
both_ways!(callee_data_beyond_the_buffer_is_cut_to_its_first_bytes, |h| {
    h.server.device().set_limits(Limits { max_callee_data: 4, ..Limits::default() });
    let (l, addr) = listener(&h.server, 5);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
    let mut kept = 0;
    h.server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                kept = r.set_callee_data(b"abcdefgh");
                assert_eq!(r.callee_data(), b"abcd");
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(kept, 4);
    assert_eq!(waiting.join(), Ok(b"abcd".to_vec()));
    // writing in place, as a C condition function does
    let d = queued_connect(&h.client, addr);
    h.server
        .accept(
            l,
            Some(&mut |r: &mut ConditionRequest<'_>| {
                r.callee_buffer_mut()[..2].copy_from_slice(b"xy");
                r.set_callee_len(2);
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(h.client.callee_data(d), Ok(b"xy".to_vec()));
});

// SPEC C6
both_ways!(after_a_refused_or_reset_connect_the_socket_may_connect_again, |h| {
    let (l, addr) = listener(&h.server, 2);
    let c = nb_connector(&h.client);
    // refused at once: nobody listening (at a distance after one round trip, F5)
    assert_eq!(connect_outcome(&h.client, c, lo(1), ConnectParams::default()), Err(WsaError::ConnRefused));
    let local = h.client.sock_name(c).unwrap();
    // refused by the condition
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    accept_with_decision(&h.server, l, Decision::Reject).unwrap_err();
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    assert_eq!(h.client.sock_name(c), Ok(local), "still bound to the same address");
    // reset by a backlog shrink
    let _first = queued_connect(&h.client, addr);
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    settle(&h.client); // queued behind _first before the shrink
    h.server.listen(l, 1).unwrap();
    settle(&h.server); // at a distance the reset arrives a moment later
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(WsaError::ConnReset.code()));
    h.server.accept(l, None).unwrap();
    // and finally accepted
    assert_eq!(h.client.connect(c, addr, ConnectParams::default()), Err(WsaError::WouldBlock));
    assert_eq!(h.server.accept(l, None).unwrap().peer, local);
    assert_eq!(h.client.peer_name(c), Ok(addr));
    assert_eq!(h.client.get_option(c, SockOpt::Error), Ok(0));
});

// SPEC C6
both_ways!(a_blocking_socket_connects_again_after_a_refusal, |h| {
    let (l, addr) = listener(&h.server, 2);
    let c = h.client.socket().unwrap();
    for (decision, want) in [(Decision::Reject, Err(WsaError::ConnRefused)), (Decision::Accept, Ok(vec![]))] {
        let q = h.client.clone();
        let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
        assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
        let _ = accept_with_decision(&h.server, l, decision);
        assert_eq!(waiting.join(), want);
    }
});

// SPEC C7, A12
both_ways!(closing_a_queued_connector_withdraws_its_request, |h| {
    let (l, addr) = listener(&h.server, 2);
    let c = queued_connect(&h.client, addr);
    let caller = h.client.sock_name(c).unwrap();
    let d = queued_connect(&h.client, addr);
    h.client.close(c).unwrap();
    settle(&h.client); // at a distance the withdrawal arrives a moment later
    assert_eq!(h.server.listener_stats(l).unwrap().queue_len, 2, "still queued until accept reaches it");
    let mut ran = false;
    let e = h
        .server
        .accept(
            l,
            Some(&mut |_: &mut ConditionRequest<'_>| {
                ran = true;
                Decision::Accept
            }),
        )
        .unwrap_err();
    assert_eq!(e.error, WsaError::Acces);
    assert_eq!(e.examined, Some(caller));
    assert!(!ran, "the condition never sees a withdrawn request");
    assert_eq!(h.server.listener_stats(l).unwrap().withdrawn, 1);
    assert_eq!(h.server.accept(l, None).unwrap().peer, h.client.sock_name(d).unwrap());
    // its port is free again
    let e = h.client.socket().unwrap();
    h.client.bind(e, caller).unwrap();
});

// SPEC C7, K3, T1
both_ways!(closing_a_connector_from_another_thread_wakes_its_blocking_connect, |h| {
    let (l, addr) = listener(&h.server, 2);
    let c = h.client.socket().unwrap();
    let q = h.client.clone();
    let waiting = bg(move || q.connect(c, addr, ConnectParams::default()));
    // once the request is queued the call is past every entry check: it waits or is about to
    assert!(wait_until(|| h.server.listener_stats(l).unwrap().queue_len == 1));
    std::thread::sleep(SETTLE);
    h.client.close(c).unwrap();
    assert_eq!(waiting.join(), Err(WsaError::Intr));
    assert_eq!(h.server.accept(l, None).unwrap_err().error, WsaError::Acces);
});

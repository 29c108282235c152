//! SPEC section 11, F1: several providers of one process on one in-process fabric.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use wspsan_core::consts::{FD_CLOSE, FD_CLOSE_BIT, FD_CONNECT};
use wspsan_core::{
    ConditionRequest, ConnectParams, Decision, DeviceConfig, Fabric, Limits, Provider, SockOpt, WsaError,
};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

fn host(f: &Fabric, nics: &[Ipv4Addr]) -> Provider {
    Provider::on_fabric(f, DeviceConfig { nics: nics.to_vec(), ..DeviceConfig::default() }).expect("join the fabric")
}

/// A server host (10.0.0.1) listening on port 5000 and a client host (10.0.0.2).
fn two_hosts(backlog: i32) -> (Fabric, Provider, Provider, wspsan_core::Descriptor, SocketAddrV4) {
    let f = Fabric::new();
    let server = host(&f, &[ip(1)]);
    let client = host(&f, &[ip(2)]);
    let to = SocketAddrV4::new(ip(1), 5000);
    let l = listener_at(&server, to, backlog);
    (f, server, client, l, to)
}

// SPEC F1, C1, C5, A5, A7, A15: a connect from one provider reaches another provider's listener
#[test]
fn a_connect_reaches_a_listener_of_another_provider_on_the_fabric() {
    let (_f, server, client, l, to) = two_hosts(5);
    let c = client.socket().unwrap();
    client.set_nonblocking(c, true).unwrap();
    let params = ConnectParams { caller_data: Some(b"hello"), qos: None };
    assert_eq!(client.connect(c, to, params), Err(WsaError::WouldBlock));
    let from = client.sock_name(c).unwrap();
    assert_eq!(from.ip(), &ip(2), "F2: bound implicitly to the client's first NIC");
    let mut seen = None;
    let a = server
        .accept(
            l,
            Some(&mut |req: &mut ConditionRequest<'_>| {
                seen = Some((req.caller_address(), req.callee_address(), req.caller_data().map(<[u8]>::to_vec)));
                req.set_callee_data(b"welcome");
                Decision::Accept
            }),
        )
        .unwrap();
    assert_eq!(seen, Some((from, to, Some(b"hello".to_vec()))));
    assert_eq!(a.peer, from);
    assert_eq!(server.peer_name(a.socket), Ok(from));
    assert_eq!(server.sock_name(a.socket), Ok(to));
    assert_eq!(client.peer_name(c), Ok(to));
    assert_eq!(client.callee_data(c), Ok(b"welcome".to_vec()));
    assert_eq!(client.get_option(c, SockOpt::Error), Ok(0));
    // K3 across providers, both ways
    client.event_select(c, None, FD_CLOSE | FD_CONNECT).unwrap();
    server.close(a.socket).unwrap();
    let ev = client.enum_network_events(c, None).unwrap();
    assert_eq!(ev.error(FD_CLOSE_BIT), Some(0));
    assert_eq!(client.peer_name(c), Err(WsaError::NotConn));
}

// SPEC F1, C2: a blocking connect on one provider waits for the other provider's accept
#[test]
fn a_blocking_connect_waits_for_the_other_providers_accept() {
    let (_f, server, client, l, to) = two_hosts(5);
    let c = client.socket().unwrap();
    let cl = client.clone();
    let pending = bg(move || cl.connect(c, to, ConnectParams::default()));
    let a = server.accept(l, None).unwrap();
    assert_eq!(pending.join(), Ok(Vec::new()));
    assert_eq!(client.peer_name(c), Ok(to));
    assert_eq!(client.sock_name(c), Ok(a.peer));
    // K3 the other way
    server.event_select(a.socket, None, FD_CLOSE).unwrap();
    client.close(c).unwrap();
    assert!(server.enum_network_events(a.socket, None).unwrap().contains(FD_CLOSE));
}

// SPEC F1, A8, A9, A12, K2, L7: every answer crosses between providers
#[test]
fn refusals_deferrals_and_withdrawals_cross_providers() {
    let (_f, server, client, l, to) = two_hosts(1);
    let c1 = queued_connect(&client, to);
    // L7: the queue of 1 is full: the next one is refused at once
    let c2 = nb_connector(&client);
    assert_eq!(client.connect(c2, to, ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(accept_with_decision(&server, l, Decision::Defer).unwrap_err().error, WsaError::TryAgain);
    assert_eq!(accept_with_decision(&server, l, Decision::Reject).unwrap_err().error, WsaError::ConnRefused);
    assert_eq!(client.get_option(c1, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    // A12: a connector that closes withdraws its request on the other device
    let c4 = queued_connect(&client, to);
    client.close(c4).unwrap();
    assert_eq!(server.accept(l, None).unwrap_err().error, WsaError::Acces);
    // K2: closing the listener refuses what is queued from the other device
    let c5 = queued_connect(&client, to);
    server.close(l).unwrap();
    assert_eq!(client.get_option(c5, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    let st = server.device().stats();
    assert_eq!(
        (st.pending, st.listeners.rejected, st.listeners.withdrawn, st.listeners.refused_by_close),
        (0, 1, 1, 1)
    );
    assert_eq!(client.device().stats().pending, 0, "F8: pending requests count on the listener's device");
}

// SPEC F1: a NIC address belongs to at most one device on a fabric
#[test]
fn an_address_another_device_owns_is_in_use() {
    let f = Fabric::new();
    let a = host(&f, &[ip(1), ip(2)]);
    let on =
        |nics: &[Ipv4Addr]| Provider::on_fabric(&f, DeviceConfig { nics: nics.to_vec(), ..DeviceConfig::default() });
    assert_eq!(on(&[ip(3), ip(2)]).unwrap_err(), WsaError::AddrInUse);
    assert_eq!(on(&[ip(3), ip(3)]).unwrap_err(), WsaError::Inval);
    let b = on(&[ip(3)]).expect("the failed joins claimed nothing");
    assert_eq!(b.device().add_nic(ip(1)), Err(WsaError::AddrInUse));
    a.device().remove_nic(ip(1)).unwrap();
    b.device().add_nic(ip(1)).expect("free once removed");
    drop(a);
    assert!(on(&[ip(2)]).is_ok(), "free once its device is gone");
    // another fabric is another network: the same addresses are fine there
    assert!(Provider::on_fabric(&Fabric::new(), DeviceConfig { nics: vec![ip(1)], ..DeviceConfig::default() }).is_ok());
}

// SPEC F1: a provider made without a fabric is alone: it reaches nobody else's listener
#[test]
fn a_provider_without_a_fabric_is_alone() {
    let (_f, _server, _client, _l, to) = two_hosts(5);
    let alone = Provider::new();
    let c = nb_connector(&alone);
    assert_eq!(alone.connect(c, to, ConnectParams::default()), Err(WsaError::ConnRefused));
    assert_eq!(alone.sock_name(c), Err(WsaError::Inval), "left unbound");
}

// SPEC F1, T2: a provider that goes away answers the connectors of other devices in its queues
#[test]
fn a_provider_dropped_with_queued_requests_refuses_them() {
    let (_f, server, client, _l, to) = two_hosts(5);
    let queued = queued_connect(&client, to);
    let c = client.socket().unwrap();
    let cl = client.clone();
    let blocked = bg(move || cl.connect(c, to, ConnectParams::default()));
    assert!(wait_until(|| server.device().stats().pending == 2));
    drop(server);
    assert_eq!(blocked.join(), Err(WsaError::ConnRefused));
    assert_eq!(client.get_option(queued, SockOpt::Error), Ok(WsaError::ConnRefused.code()));
    // and its address no longer answers
    let again = nb_connector(&client);
    assert_eq!(client.connect(again, to, ConnectParams::default()), Err(WsaError::ConnRefused));
}

// SPEC F1, F8, D2: the listener's device limits and faults apply to requests from other devices
#[test]
fn the_listeners_device_limits_and_faults_apply() {
    let (_f, server, client, l, to) = two_hosts(5);
    server.device().set_limits(Limits { max_caller_data: 4, ..Limits::default() });
    let c = nb_connector(&client);
    let big = ConnectParams { caller_data: Some(b"hello"), qos: None };
    assert_eq!(client.connect(c, to, big), Err(WsaError::NoBufs));
    server.device().set_network_down(true);
    assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::HostUnreach));
    server.device().set_network_down(false);
    assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    server.accept(l, None).unwrap();
    assert_eq!(client.peer_name(c), Ok(to));
}

// SPEC F2, A5, A15: a connector bound to the wildcard speaks from its device's first NIC
#[test]
fn a_wildcard_bound_connector_is_named_by_its_first_nic() {
    let f = Fabric::new();
    let server = host(&f, &[ip(1)]);
    let client = host(&f, &[ip(7), ip(8)]);
    let to = SocketAddrV4::new(ip(1), 5000);
    let l = listener_at(&server, to, 5);
    let c = nb_connector(&client);
    client.bind(c, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    let a = server.accept(l, None).unwrap();
    assert_eq!(a.peer.ip(), &ip(7));
    assert_eq!(client.sock_name(c).unwrap().ip(), &ip(7));
}

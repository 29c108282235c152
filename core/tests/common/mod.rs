//! Small builders shared by the integration tests of wspsan-core (public API only).
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wspsan_core::{
    AcceptError, Accepted, ConditionRequest, ConnectParams, Decision, Descriptor, DeviceConfig, EventHandle, Fabric,
    Provider, Signal, SockOpt, WsaError,
};

/// How long a test waits for something that must happen before it calls it a bug. Only bounds
/// waits so a broken engine cannot hang the suite; never a performance assertion.
pub const LONG: Duration = Duration::from_secs(10);

/// A pause long enough for another thread to reach its blocking wait on a quiet machine. A test
/// that uses it must stay correct when the pause turns out too short (it retries or asserts
/// nothing that depends on it).
pub const SETTLE: Duration = Duration::from_millis(50);

/// `127.0.0.1:port`.
pub fn lo(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// The server's NIC in [`Hosts::new`]: listeners bound with [`lo`] are on the server.
pub const SERVER_NIC: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The client's NIC in [`Hosts::new`] when the client is a provider of its own.
pub const CLIENT_NIC: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Where a test's connectors and listeners live. SPEC section 11: every rule of sections 3-10
/// holds unchanged when the connector's device and the listener's device are different devices
/// on one fabric, so the tests of those sections run in both layouts (see [`both_ways`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Connector and listener on one provider (one device: the loopback SAN of sections 3-10).
    OneProvider,
    /// The listener on one provider, the connector on another, both on one in-process fabric.
    TwoProviders,
    /// As [`Layout::TwoProviders`], on an in-process fabric with a fault injector whose knobs
    /// are all off: requests, answers and confirmations travel as messages between the two
    /// devices' sessions (as over the TCP fabric or a provider's own transport), and every rule
    /// must hold unchanged.
    Messages,
}

/// The two ends of a test: listener-side calls go to `server`, connector-side calls to
/// `client`. In [`Layout::OneProvider`] they are the same provider.
///
/// A descriptor belongs to the provider that made it: two providers hand out the same values,
/// so a client socket must never be passed to the server or the reverse.
pub struct Hosts {
    pub layout: Layout,
    pub server: Provider,
    pub client: Provider,
}

impl Hosts {
    /// The server with one NIC, [`SERVER_NIC`]; in the two-provider layout the client with one
    /// NIC, [`CLIENT_NIC`].
    pub fn new(layout: Layout) -> Hosts {
        Hosts::with_nics(layout, &[SERVER_NIC], &[CLIENT_NIC])
    }

    /// The server with `server_nics`; in the two-provider layout the client with `client_nics`
    /// (unused in the one-provider layout: the client is the server).
    pub fn with_nics(layout: Layout, server_nics: &[Ipv4Addr], client_nics: &[Ipv4Addr]) -> Hosts {
        let config = |nics: &[Ipv4Addr]| DeviceConfig { nics: nics.to_vec(), ..DeviceConfig::default() };
        match layout {
            Layout::OneProvider => {
                let server = Provider::with_config(config(server_nics));
                Hosts { layout, client: server.clone(), server }
            }
            Layout::TwoProviders | Layout::Messages => {
                let fabric = if layout == Layout::Messages {
                    Fabric::with_faults(wspsan_core::FaultInjector::new(1))
                } else {
                    Fabric::new()
                };
                let server = Provider::on_fabric(&fabric, config(server_nics)).expect("the server joins the fabric");
                let client = Provider::on_fabric(&fabric, config(client_nics)).expect("the client joins the fabric");
                Hosts { layout, server, client }
            }
        }
    }

    /// Whether server and client are one provider.
    pub fn one_provider(&self) -> bool {
        self.layout == Layout::OneProvider
    }

    /// Whether server and client exchange messages (SPEC F5: a refusal that is "at once" on
    /// one device arrives after one round trip, through `FD_CONNECT` and `SO_ERROR`).
    pub fn by_messages(&self) -> bool {
        self.layout == Layout::Messages
    }

    /// The value a test expects in each layout.
    pub fn pick<T>(&self, one_provider: T, two_providers: T) -> T {
        if self.one_provider() { one_provider } else { two_providers }
    }

    /// The client device's first NIC.
    pub fn client_nic(&self) -> Ipv4Addr {
        self.client.device().nics()[0]
    }

    /// `port` on the client device's first NIC: an address a connector may bind.
    pub fn client_at(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.client_nic(), port)
    }

    /// The NIC an unbound connector is bound to when it connects to `target` on the server:
    /// the target's own NIC on the same device (SPEC C4), the client's first NIC towards another
    /// device (SPEC F2).
    pub fn connector_nic(&self, target: Ipv4Addr) -> Ipv4Addr {
        self.pick(target, self.client_nic())
    }

    /// Open descriptors of server and client together (each device counted once).
    pub fn open_sockets(&self) -> u64 {
        let server = self.server.device().stats().open_sockets;
        if self.one_provider() { server } else { server + self.client.device().stats().open_sockets }
    }
}

/// Run `body` with fresh [`Hosts`] of `layout` (what [`both_ways`] expands to).
pub fn with_hosts(layout: Layout, body: impl FnOnce(&Hosts)) {
    body(&Hosts::new(layout));
}

/// Run `body` with `layout` (what [`both_ways`] expands to for a body that makes its own hosts).
pub fn with_layout(layout: Layout, body: impl FnOnce(Layout)) {
    body(layout);
}

/// Define a test that runs in both layouts: a module `$name` with two tests, `one_provider` and
/// `two_providers` (`cargo test $name` runs both).
///
/// `both_ways!(name, |h| { ... })` gives the body fresh [`Hosts`]; `both_ways!(name, layout, |l|
/// { ... })` gives it the [`Layout`], for a body that makes its own (other NICs, or a fresh
/// pair per round).
#[allow(unused_macros)] // not every suite has tests of a connector and a listener
macro_rules! both_ways {
    ($name:ident, layout, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn one_provider() {
                $crate::common::with_layout($crate::common::Layout::OneProvider, $body);
            }

            #[test]
            fn two_providers() {
                $crate::common::with_layout($crate::common::Layout::TwoProviders, $body);
            }

            #[test]
            fn messages() {
                $crate::common::with_layout($crate::common::Layout::Messages, $body);
            }
        }
    };
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn one_provider() {
                $crate::common::with_hosts($crate::common::Layout::OneProvider, $body);
            }

            #[test]
            fn two_providers() {
                $crate::common::with_hosts($crate::common::Layout::TwoProviders, $body);
            }

            #[test]
            fn messages() {
                $crate::common::with_hosts($crate::common::Layout::Messages, $body);
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_ways;

/// A provider with a device of two NICs: 127.0.0.1 and 10.0.0.1.
pub fn two_nic_provider() -> Provider {
    Provider::with_config(DeviceConfig {
        nics: vec![Ipv4Addr::LOCALHOST, Ipv4Addr::new(10, 0, 0, 1)],
        ..DeviceConfig::default()
    })
}

/// A listening socket bound to 127.0.0.1 on an ephemeral port, and its address.
pub fn listener(p: &Provider, backlog: i32) -> (Descriptor, SocketAddrV4) {
    let l = p.socket().expect("socket");
    p.bind(l, lo(0)).expect("bind");
    p.listen(l, backlog).expect("listen");
    let addr = p.sock_name(l).expect("sock_name");
    (l, addr)
}

/// A listening socket bound to `addr`.
pub fn listener_at(p: &Provider, addr: SocketAddrV4, backlog: i32) -> Descriptor {
    let l = p.socket().expect("socket");
    p.bind(l, addr).expect("bind");
    p.listen(l, backlog).expect("listen");
    l
}

/// A fresh non-blocking socket, not bound.
pub fn nb_connector(p: &Provider) -> Descriptor {
    let s = p.socket().expect("socket");
    p.set_nonblocking(s, true).expect("FIONBIO");
    s
}

/// A non-blocking socket whose connect to `to` is queued (the call gave `WSAEWOULDBLOCK`).
pub fn queued_connect(p: &Provider, to: SocketAddrV4) -> Descriptor {
    let s = nb_connector(p);
    assert_eq!(p.connect(s, to, ConnectParams::default()), Err(WsaError::WouldBlock));
    settle(p);
    s
}

/// On a fabric whose devices exchange messages, wait until they have arrived (a request sent
/// is then queued at the listener, as it is at once when the connect reaches it by a call).
pub fn settle(p: &Provider) {
    if let Some(f) = p.fabric() {
        assert!(f.settle(LONG), "the fabric's messages arrive");
    }
}

/// Whether `p` reaches other devices by messages ([`Layout::Messages`]).
pub fn by_messages(p: &Provider) -> bool {
    p.fabric().is_some_and(|f| f.faults().is_some())
}

/// `p.connect(c, to, params)` as the rule states it in every layout. On one device, or on a
/// fabric whose devices call each other, that is the call's own result. On a fabric of messages
/// a refusal decided "at once" by the listener's device arrives after one round trip (SPEC F5):
/// a non-blocking connect then returns `WSAEWOULDBLOCK`, and this waits until the fabric is
/// quiet and returns the error the attempt reported through `SO_ERROR` (and `FD_CONNECT`), or
/// `WSAEWOULDBLOCK` if the request is still queued. A blocking connect returns the error itself.
pub fn connect_outcome(
    p: &Provider,
    c: Descriptor,
    to: SocketAddrV4,
    params: ConnectParams<'_>,
) -> Result<Vec<u8>, WsaError> {
    let r = p.connect(c, to, params);
    if r != Err(WsaError::WouldBlock) || !by_messages(p) {
        return r;
    }
    settle(p);
    match p.get_option(c, SockOpt::Error).expect("SO_ERROR") {
        0 => Err(WsaError::WouldBlock),
        code => Err(WsaError::from_code(code).unwrap_or_else(|| panic!("SO_ERROR {code} is a Winsock error"))),
    }
}

/// Accept with a condition that always gives `d`.
pub fn accept_with_decision(p: &Provider, l: Descriptor, d: Decision) -> Result<Accepted, AcceptError> {
    p.accept(l, Some(&mut |_: &mut ConditionRequest<'_>| d))
}

/// Accept and return the caller address the condition function saw (if it ran).
pub fn accept_seeing(
    p: &Provider,
    l: Descriptor,
    d: Decision,
) -> (Result<Accepted, AcceptError>, Option<SocketAddrV4>) {
    let mut seen = None;
    let r = p.accept(
        l,
        Some(&mut |req: &mut ConditionRequest<'_>| {
            seen = Some(req.caller_address());
            d
        }),
    );
    (r, seen)
}

/// An event object that counts `set` and `reset` calls and lets a test wait for a set.
#[derive(Default)]
pub struct CountingSignal {
    sets: AtomicUsize,
    resets: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl CountingSignal {
    pub fn new() -> Arc<CountingSignal> {
        Arc::new(CountingSignal::default())
    }

    /// The handle to give to `event_select` / `enum_network_events`.
    pub fn handle(self: &Arc<Self>) -> EventHandle {
        self.clone()
    }

    pub fn sets(&self) -> usize {
        self.sets.load(Ordering::SeqCst)
    }

    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }

    /// Wait (bounded by [`LONG`]) until at least `n` sets were counted; false if they never came.
    pub fn wait_sets(&self, n: usize) -> bool {
        let deadline = Instant::now() + LONG;
        let mut g = self.lock.lock().unwrap();
        while self.sets() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.cv.wait_timeout(g, deadline - now).unwrap().0;
        }
        true
    }
}

impl Signal for CountingSignal {
    fn set(&self) {
        let _g = self.lock.lock().unwrap();
        self.sets.fetch_add(1, Ordering::SeqCst);
        self.cv.notify_all();
    }

    fn reset(&self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
}

/// A call running on another thread.
pub struct Bg<T> {
    rx: mpsc::Receiver<T>,
    handle: Option<JoinHandle<()>>,
}

/// Run `f` on a new thread.
pub fn bg<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Bg<T> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    Bg { rx, handle: Some(handle) }
}

impl<T> Bg<T> {
    /// Whether the call has returned.
    pub fn finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The call's result; panics if it does not return within [`LONG`] (the thread is then
    /// left behind) and passes on a panic of the thread.
    pub fn join(mut self) -> T {
        match self.rx.recv_timeout(LONG) {
            Ok(v) => {
                self.handle.take().expect("joined once").join().expect("thread");
                v
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => match self.handle.take().expect("joined once").join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the thread sends before it ends"),
            },
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("a blocking call did not return within {LONG:?}"),
        }
    }
}

/// Poll `cond` until it holds or [`LONG`] passes.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LONG;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Delays for tests that wake a blocked call from another thread: if the wake came before the
/// call blocked (the call then fails the way a call on a dead socket fails), the test retries
/// with the next, longer delay.
pub const WAKE_DELAYS: [Duration; 4] =
    [Duration::from_millis(30), Duration::from_millis(150), Duration::from_millis(600), Duration::from_millis(2000)];

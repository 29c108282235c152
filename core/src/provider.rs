//! The provider: a descriptor table plus its device, and every WSP operation on them.

use crate::condition::{Condition, ConditionRequest, Decision};
use crate::consts::{self, FD_ACCEPT, FD_ALL_EVENTS};
use crate::device::{Device, DeviceConfig, DeviceState};
use crate::error::{Result, WsaError};
use crate::events::{EventHandle, NetworkEvents, contain};
use crate::fabric::Fabric;
use crate::fabric::tcp::{Inbound, Outbound, TcpConfig, TcpFabric};
use crate::fabric::wire;
use crate::link::{PeerLink, Reply};
use crate::listen_queue::{Head, ListenQueue, PendingRequest, Settle};
use crate::socket::{Answer, Descriptor, Inherited, Qos, SocketCell, SocketInner, State, answer_then};
use crate::stats::ListenerStats;
use crate::table::Table;
use crate::timer::Timer;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Called when the provider creates or closes a socket, so a C switch can run its
/// `WPUCreateSocketHandle` / `WPUCloseSocketHandle` upcalls (SPEC X5, A11).
///
/// The engine calls these with no lock held. A panic in `created` fails the operation with
/// `WSAENETDOWN` (SPEC X4) and nothing is lost; a panic in `closed` is contained.
pub trait SocketHooks: Send + Sync {
    /// A socket is being created (by `socket` or an accept). Return the switch's context
    /// for it (kept and readable with [`Provider::context`]), or an error: the operation then
    /// fails with that error and nothing is lost (an accept keeps the request queued).
    fn created(&self, s: Descriptor) -> Result<u64>;
    /// A socket that `created` accepted was closed; `context` is what `created` returned.
    fn closed(&self, s: Descriptor, context: u64);
}

/// What a connect sends with its request (SPEC C5).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectParams<'a> {
    /// Caller data for the condition function (at most the device's `max_caller_data`).
    pub caller_data: Option<&'a [u8]>,
    /// The quality of service asked for (`lpSQOS`).
    pub qos: Option<&'a Qos>,
}

/// How a blocking call waits (timeouts and interruption for Rust and Python callers; the C
/// ABI always waits without either).
#[derive(Default)]
pub struct Wait<'a> {
    /// Give up after this long with `WSAETIMEDOUT` (a connect is then withdrawn).
    pub timeout: Option<Duration>,
    /// Polled about every 50 ms with no lock held; returning true abandons the wait with
    /// `WSAEINTR` (Python uses it to let Ctrl-C through).
    pub interrupt: Option<&'a mut dyn FnMut() -> bool>,
}

/// How often a wait with an `interrupt` hook polls it.
const TICK: Duration = Duration::from_millis(50);

/// A socket created by a successful accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The new connected socket.
    pub socket: Descriptor,
    /// The connector's address.
    pub peer: SocketAddrV4,
}

/// A failed accept: the error, and the address of the request it examined, if any (SPEC A13:
/// `addr` is filled whenever a request was examined).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptError {
    /// The error.
    pub error: WsaError,
    /// The connector's address of the request examined (rejected, deferred, invalid, withdrawn).
    pub examined: Option<SocketAddrV4>,
}

impl From<WsaError> for AcceptError {
    fn from(error: WsaError) -> AcceptError {
        AcceptError { error, examined: None }
    }
}

impl From<AcceptError> for WsaError {
    fn from(e: AcceptError) -> WsaError {
        e.error
    }
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AcceptError {}

/// A socket option readable with [`Provider::get_option`] (SPEC L8, C2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    /// `SO_ACCEPTCONN`: 1 while listening. Read-only.
    AcceptConn,
    /// `SO_ERROR`: the error of the last non-blocking connect attempt, kept until the next attempt
    /// (reading does not clear it, as on Windows). Setting it stores the value, as on Windows.
    Error,
    /// `SO_TYPE`: always `SOCK_STREAM`. Read-only.
    Type,
    /// `SO_SNDBUF`: kept and inherited by accepted sockets.
    SndBuf,
    /// `SO_RCVBUF`: kept and inherited by accepted sockets.
    RcvBuf,
    /// `SO_CONNDATALEN`: length of the callee data of the completed connect. Read-only.
    ConnDataLen,
}

impl SockOpt {
    /// [`from_level_name`](Self::from_level_name) as `WSPGetSockOpt` / `WSPSetSockOpt` fail:
    /// `WSAEINVAL` for a level that is neither `SOL_SOCKET` (either numbering) nor `IPPROTO_TCP`,
    /// `WSAENOPROTOOPT` for an option unknown at a known level (as Windows).
    pub fn resolve(level: i32, name: i32) -> Result<SockOpt> {
        let known_level = matches!(level, consts::SOL_SOCKET | consts::platform::SOL_SOCKET | consts::IPPROTO_TCP);
        match SockOpt::from_level_name(level, name) {
            Some(opt) => Ok(opt),
            None if known_level => Err(WsaError::NoProtoOpt),
            None => Err(WsaError::Inval),
        }
    }

    /// Map a `(level, optname)` pair to an option. Both numberings work (SPEC section 1):
    /// level 0xffff takes Windows option numbers, the platform's `SOL_SOCKET` its own.
    pub fn from_level_name(level: i32, name: i32) -> Option<SockOpt> {
        use consts::platform as p;
        match (level, name) {
            (consts::SOL_SOCKET, consts::SO_ACCEPTCONN) | (p::SOL_SOCKET, p::SO_ACCEPTCONN) => {
                Some(SockOpt::AcceptConn)
            }
            (consts::SOL_SOCKET, consts::SO_ERROR) | (p::SOL_SOCKET, p::SO_ERROR) => Some(SockOpt::Error),
            (consts::SOL_SOCKET, consts::SO_TYPE) | (p::SOL_SOCKET, p::SO_TYPE) => Some(SockOpt::Type),
            (consts::SOL_SOCKET, consts::SO_SNDBUF) | (p::SOL_SOCKET, p::SO_SNDBUF) => Some(SockOpt::SndBuf),
            (consts::SOL_SOCKET, consts::SO_RCVBUF) | (p::SOL_SOCKET, p::SO_RCVBUF) => Some(SockOpt::RcvBuf),
            (consts::SOL_SOCKET, consts::SO_CONNDATALEN) => Some(SockOpt::ConnDataLen),
            _ => None,
        }
    }
}

/// A WSP call whose failures depend on the socket's state, for [`Provider::precheck`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// `WSPBind`: only an unbound socket (B1).
    Bind,
    /// `WSPListen`: a bound socket, not connected (L2, L3).
    Listen,
    /// `WSPConnect`: not listening, not connected, no connect pending (C3).
    Connect,
    /// `WSPAccept`: a listening socket (A1).
    Accept,
    /// `WSPGetSockName`: a bound socket (A15).
    SockName,
    /// `WSPGetPeerName`: a connected socket (A15, K3).
    PeerName,
    /// Any other call on a socket (options, ioctls, events): every live socket.
    Other,
}

impl Call {
    /// The error the socket's state gives this call, whatever its arguments (SPEC X4).
    fn check(self, state: &State, local: Option<SocketAddrV4>) -> Result<()> {
        let err = match (self, state) {
            (_, State::Closed) => WsaError::NotSock,
            (Call::Bind, State::Created) => return Ok(()),
            (Call::Bind, _) => WsaError::Inval,
            (Call::Listen, State::Created) => WsaError::Inval,
            (Call::Listen, State::Connecting { .. } | State::Connected { .. } | State::Disconnected) => {
                WsaError::IsConn
            }
            (Call::Connect, State::Listening(_)) => WsaError::Inval,
            (Call::Connect, State::Connecting { .. }) => WsaError::Already,
            (Call::Connect, State::Connected { .. } | State::Disconnected) => WsaError::IsConn,
            (Call::Accept, State::Listening(_)) => return Ok(()),
            (Call::Accept, _) => WsaError::Inval,
            (Call::SockName, _) if local.is_none() => WsaError::Inval,
            (Call::PeerName, State::Connected { .. }) => return Ok(()),
            (Call::PeerName, _) => WsaError::NotConn,
            _ => return Ok(()),
        };
        Err(err)
    }
}

/// Shared state of one provider.
pub(crate) struct Shared {
    pub(crate) device: DeviceState,
    pub(crate) table: Table,
    pub(crate) timer: Timer,
    hooks: RwLock<Option<Arc<dyn SocketHooks>>>,
    has_hooks: AtomicBool,
    /// The fabric this device shares with other devices (F1); `None`: alone on its own.
    pub(crate) fabric: Option<Fabric>,
    /// The TCP fabric, when this device joined one (F2).
    pub(crate) tcp: OnceLock<TcpFabric>,
}

impl Drop for Shared {
    /// The device leaves its fabric: its addresses are free again, and every socket is closed so
    /// that connectors of other devices waiting on its listeners get their answer (K2, T2).
    fn drop(&mut self) {
        for cell in self.table.drain() {
            self.destroy(&cell);
        }
        if let Some(t) = self.tcp.get() {
            t.stop();
        }
        if let Some(f) = &self.fabric {
            f.release(&self.device.nic_list(), std::ptr::from_ref(self));
        }
    }
}

/// Which device a connect goes to (F1, F2).
enum Route {
    /// This provider's own device.
    Here,
    /// Another device on the same in-process fabric.
    There(Arc<Shared>),
    /// A device across the TCP fabric, at this fabric address.
    Remote(SocketAddrV4),
}

/// One instance of the engine: a descriptor table plus its emulated SAN device.
///
/// Providers are independent: any number can live in one process and none sees another's
/// sockets. Clones share the same provider. Every method may be called from any thread.
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddrV4};
/// use wspsan_core::{ConnectParams, Decision, Provider};
///
/// let p = Provider::new();
/// let listener = p.socket()?;
/// p.bind(listener, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000))?;
/// p.listen(listener, 8)?;
///
/// // A non-blocking connect queues a request; the answer comes when accept decides.
/// let client = p.socket()?;
/// p.set_nonblocking(client, true)?;
/// let err = p.connect(client, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000),
///                     ConnectParams { caller_data: Some(b"hello"), qos: None }).unwrap_err();
/// assert_eq!(err, wspsan_core::WsaError::WouldBlock);
///
/// let accepted = p.accept(listener, Some(&mut |req: &mut wspsan_core::ConditionRequest<'_>| {
///     assert_eq!(req.caller_data(), Some(&b"hello"[..]));
///     req.set_callee_data(b"welcome");
///     Decision::Accept
/// }))?;
/// assert_eq!(p.peer_name(client)?, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000));
/// assert_eq!(p.callee_data(client)?, b"welcome".to_vec());
/// # p.close(accepted.socket)?; p.close(client)?; p.close(listener)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Provider {
    shared: Arc<Shared>,
}

impl Default for Provider {
    fn default() -> Provider {
        Provider::new()
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("device", &self.device()).finish()
    }
}

/// Marks the current thread as running a condition function (SPEC A14).
mod reentry {
    use std::cell::RefCell;
    // The providers whose condition functions are running on this thread, innermost last.
    thread_local!(static RUNNING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) });

    pub(crate) fn active(provider: usize) -> bool {
        RUNNING.with(|r| r.borrow().contains(&provider))
    }

    pub(crate) struct Guard;
    impl Guard {
        pub(crate) fn enter(provider: usize) -> Guard {
            RUNNING.with(|r| r.borrow_mut().push(provider));
            Guard
        }
    }
    impl Drop for Guard {
        fn drop(&mut self) {
            RUNNING.with(|r| r.borrow_mut().pop());
        }
    }
}

fn signal_set(h: Option<EventHandle>) {
    if let Some(h) = h {
        crate::events::fire_set(&h);
    }
}

/// SPEC L5: the effective backlog for a requested value.
pub fn effective_backlog(requested: i32, max: u32) -> u32 {
    let max = max.max(1);
    match requested {
        consts::SOMAXCONN | consts::PLATFORM_SOMAXCONN => max,
        n if n < 0 => (n.unsigned_abs()).clamp(200, 65535).min(max),
        0 => 1,
        n => (n as u32).min(max),
    }
}

impl Shared {
    fn new(config: DeviceConfig, fabric: Option<Fabric>) -> Shared {
        Shared {
            device: DeviceState::new(config),
            table: Table::new(),
            timer: Timer::default(),
            hooks: RwLock::new(None),
            has_hooks: AtomicBool::new(false),
            fabric,
            tcp: OnceLock::new(),
        }
    }

    /// A request that arrived over the TCP fabric (F5, F8): queued on the listener at `callee`
    /// under the same rules as a local one, or refused at once with the error for the connector.
    pub(crate) fn take_remote_request(&self, req: wire::Request, reply: Arc<Inbound>) -> Result<()> {
        if self.device.is_down() {
            return Err(WsaError::HostUnreach);
        }
        let Some(listener) = self.device.socket_at(req.callee) else {
            self.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        if req.caller_data.len() > self.device.max_caller_data() {
            return Err(WsaError::NoBufs); // F8: this device's limit
        }
        self.device.check_buffers()?;
        self.device.reserve_pending()?;
        let pending = PendingRequest {
            reply: Reply::Remote(reply),
            caller: req.caller,
            callee: req.callee,
            caller_data: (!req.caller_data.is_empty()).then(|| req.caller_data.into_boxed_slice()),
            qos: req.qos.map(Box::new),
        };
        self.enqueue(&listener, pending).inspect_err(|_| self.device.release_pending(1))
    }

    /// F1, F2: the device a connect to `addr` goes to. This device for its own NICs (and for a
    /// listener still bound to a NIC removed since), else the fabric's owner of the address;
    /// `None` when no device has it.
    fn route(&self, addr: SocketAddrV4) -> Option<Route> {
        if self.device.is_nic(*addr.ip()) {
            return Some(Route::Here);
        }
        if let Some(there) = self.fabric.as_ref().and_then(|f| f.device_at(*addr.ip())) {
            return Some(Route::There(there));
        }
        if self.device.socket_at(addr).is_some() {
            return Some(Route::Here);
        }
        self.tcp.get().map(|t| Route::Remote(t.endpoint.peer_of(*addr.ip())))
    }

    /// This provider's identity for the A14 re-entry check (other providers stay callable).
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Every WSP call starts here: A14 re-entry from one of this provider's condition
    /// functions, then D2 device down.
    fn enter(&self) -> Result<()> {
        self.check_reentry()?;
        self.device.check_up()
    }

    /// A14: `WSAEINPROGRESS` inside one of this provider's condition functions.
    fn check_reentry(&self) -> Result<()> {
        if reentry::active(self.id()) { Err(WsaError::InProgress) } else { Ok(()) }
    }

    fn hooks(&self) -> Option<Arc<dyn SocketHooks>> {
        if !self.has_hooks.load(Ordering::Acquire) {
            return None;
        }
        self.hooks.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Make a socket (S1, A7, A11): reserve a descriptor, run the create hook, and return the
    /// cell, not yet in the table.
    fn new_socket(&self, init: impl FnOnce(&mut SocketInner)) -> Result<Arc<SocketCell>> {
        self.device.check_buffers()?;
        self.device.reserve_descriptor()?;
        let id = self.table.allocate().inspect_err(|_| self.device.release_descriptor())?;
        // A panicking hook fails the operation like any panic at the boundary (X4).
        let created = self.hooks().map(|h| contain(|| h.created(id)).unwrap_or(Err(WsaError::NetDown)));
        let context = match created {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                self.table.release(id);
                self.device.release_descriptor();
                return Err(e);
            }
            None => 0,
        };
        Ok(Arc::new(SocketCell::new(id, context, init)))
    }

    /// Undo `new_socket` for a socket that never reached the table.
    fn discard_socket(&self, cell: &SocketCell) {
        self.table.release(cell.id);
        self.device.release_descriptor();
        if let Some(h) = self.hooks() {
            let context = cell.lock().context;
            contain(|| h.closed(cell.id, context));
        }
    }

    /// Settle a request taken off `listener`'s queue: its counters, the queue and the
    /// level-triggered FD_ACCEPT (E2). Returns the event handle to set.
    fn settle(&self, listener: &SocketCell, outcome: Settle) -> Settled {
        let mut g = listener.lock();
        let SocketInner { state, events, .. } = &mut *g;
        let State::Listening(q) = state else {
            // The listener was closed while its condition function ran (K2).
            drop(g);
            let (stats, orphan) = ListenQueue::settle_orphan(outcome);
            self.device.release_pending(1);
            self.device.retire(stats);
            return Settled { set: None, orphan };
        };
        let (set, done) = q.settle(outcome, events);
        drop(g);
        if done {
            self.device.release_pending(1);
        }
        Settled { set, orphan: None }
    }

    /// Close a socket taken out of the table (K1 to K3, C7).
    fn destroy(&self, cell: &Arc<SocketCell>) {
        let sh = self;
        let (old, local, context, sleepers) = {
            let mut g = cell.lock();
            cell.attempt.store(0, Ordering::Release); // C7: a pending request is withdrawn
            let old = std::mem::replace(&mut g.state, State::Closed);
            let sleepers = cell.changed(&g); // blocked accept or connect: WSAEINTR
            (old, g.local.filter(|_| g.owns_port), g.context, sleepers)
        };
        cell.notify(sleepers);
        if let Some(local) = local {
            sh.device.unbind_port(cell, local);
        }
        sh.device.release_descriptor();
        match old {
            State::Listening(q) => {
                // K2: every queued request is refused.
                let (refused, stats) = q.close();
                sh.device.retire_listener(cell, stats);
                sh.device.release_pending(refused.len());
                for r in refused {
                    r.reply.answer(Answer::Failed(WsaError::ConnRefused));
                }
            }
            State::Connected { peer, .. } => peer.close(cell),
            State::Connecting { outbound: Some(o), .. } => o.withdraw(), // C7 across the fabric
            _ => {}
        }
        if let Some(h) = sh.hooks() {
            contain(|| h.closed(cell.id, context));
        }
    }

    /// Put a request in a listener's queue, or refuse it at once (L7, L9, C3).
    fn enqueue(&self, listener: &SocketCell, req: PendingRequest) -> Result<()> {
        let mut g = listener.lock();
        let SocketInner { state, events, .. } = &mut *g;
        let State::Listening(q) = state else {
            self.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        let set = q.admit(req, events)?; // L7, L9
        let sleepers = listener.changed(&g);
        drop(g);
        if sleepers {
            listener.cv.notify_one(); // one request: one accept
        }
        signal_set(set);
        Ok(())
    }

    /// A non-blocking connect's deadline passed (D2): withdraw it with `WSAETIMEDOUT`.
    pub(crate) fn time_out(&self, cell: &SocketCell, attempt: u64) {
        // D3 before E5: the count is up to date when FD_CONNECT wakes anyone.
        answer_then(cell, attempt, Answer::Failed(WsaError::TimedOut), || {
            self.device.timed_out.fetch_add(1, Ordering::Relaxed);
        });
    }
}

#[derive(Default)]
struct Settled {
    /// FD_ACCEPT to signal (E2).
    set: Option<EventHandle>,
    /// A restored request that had no queue to go back to: refuse it.
    orphan: Option<PendingRequest>,
}

impl Provider {
    /// A provider with the default device: one NIC, 127.0.0.1, and the default limits.
    pub fn new() -> Provider {
        Provider::with_config(DeviceConfig::default())
    }

    /// A provider whose device is built from `config`.
    /// NICs that [`DeviceConfig::validate`] would refuse (0.0.0.0, repeats) are left out.
    pub fn with_config(mut config: DeviceConfig) -> Provider {
        let mut nics = Vec::with_capacity(config.nics.len());
        for ip in config.nics {
            if !ip.is_unspecified() && !nics.contains(&ip) {
                nics.push(ip);
            }
        }
        config.nics = nics;
        Provider { shared: Arc::new(Shared::new(config, None)) }
    }

    /// A provider whose device joins `fabric` (SPEC F1) and reaches the listeners of every other
    /// device on it. Fails with `WSAEINVAL` for a NIC list [`DeviceConfig::validate`] refuses and
    /// with `WSAEADDRINUSE` when another device on the fabric owns one of the NIC addresses.
    pub fn on_fabric(fabric: &Fabric, config: DeviceConfig) -> Result<Provider> {
        config.validate()?;
        let nics = config.nics.clone();
        let shared = Arc::new(Shared::new(config, Some(fabric.clone())));
        fabric.claim(&nics, &shared)?;
        Ok(Provider { shared })
    }

    /// A provider whose device joins the TCP fabric (SPEC F2): it accepts fabric peers on
    /// `NIC:port` for each of its NICs and reaches devices of other processes and hosts. Fails
    /// with `WSAEINVAL` for a NIC list [`DeviceConfig::validate`] refuses, `WSAEADDRINUSE` when
    /// `NIC:port` is held (another device is there), `WSAEADDRNOTAVAIL` when a NIC is not an
    /// address of this host.
    pub fn on_tcp_fabric(config: DeviceConfig, tcp: TcpConfig) -> Result<Provider> {
        config.validate()?;
        let nics = config.nics.clone();
        let shared = Arc::new(Shared::new(config, None));
        let fabric = TcpFabric::start(&nics, &tcp, Arc::downgrade(&shared))?;
        // Set once, before the provider is handed out: nobody can have read it yet.
        let _ = shared.tcp.set(fabric);
        Ok(Provider { shared })
    }

    /// The in-process fabric this provider's device is on, if it joined one (SPEC F1).
    pub fn fabric(&self) -> Option<Fabric> {
        self.shared.fabric.clone()
    }

    /// The provider's device: NICs, limits, fault switches, statistics.
    pub fn device(&self) -> Device {
        Device { shared: self.shared.clone() }
    }

    /// Install (or remove) the socket creation and close hooks (SPEC X5).
    pub fn set_hooks(&self, hooks: Option<Arc<dyn SocketHooks>>) {
        let mut slot = self.shared.hooks.write().unwrap_or_else(PoisonError::into_inner);
        self.shared.has_hooks.store(hooks.is_some(), Ordering::Release);
        *slot = hooks;
    }

    /// `WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP)`: a new blocking socket (SPEC S1).
    pub fn socket(&self) -> Result<Descriptor> {
        self.socket_with(consts::AF_INET, consts::SOCK_STREAM, 0)
    }

    /// `WSPSocket` with explicit arguments, checked as SPEC S1 says.
    pub fn socket_with(&self, af: i32, ty: i32, protocol: i32) -> Result<Descriptor> {
        let sh = &*self.shared;
        sh.enter()?;
        if af != consts::AF_INET {
            return Err(WsaError::AfNoSupport);
        }
        if ty != consts::SOCK_STREAM {
            return Err(WsaError::SocktNoSupport);
        }
        if protocol != 0 && protocol != consts::IPPROTO_TCP {
            return Err(WsaError::ProtoNoSupport);
        }
        let cell = sh.new_socket(|_| {})?;
        let id = cell.id;
        sh.table.insert(cell);
        Ok(id)
    }

    /// `WSPBind` (SPEC B1, B2). Port 0 picks a free port in 49152..65535.
    pub fn bind(&self, s: Descriptor, addr: SocketAddrV4) -> Result<()> {
        let sh = &*self.shared;
        sh.enter()?;
        let cell = sh.table.get(s)?;
        let mut g = cell.lock();
        Call::Bind.check(&g.state, g.local)?;
        let bound = sh.device.bind_port(&cell, addr, true)?;
        g.local = Some(bound);
        g.owns_port = true;
        g.state = State::Bound;
        Ok(())
    }

    /// `WSPListen` (SPEC L1 to L9). The backlog is never an error: see [`effective_backlog`].
    pub fn listen(&self, s: Descriptor, backlog: i32) -> Result<()> {
        let sh = &*self.shared;
        sh.enter()?;
        let cell = sh.table.get(s)?;
        let eff = effective_backlog(backlog, sh.device.max_backlog());
        let mut g = cell.lock();
        Call::Listen.check(&g.state, g.local)?;
        let reset: Vec<PendingRequest> = match &mut g.state {
            State::Listening(q) => q.rebacklog(eff, sh.device.descriptor_available()), // L6, L9
            // Call::Listen let only a bound or a listening socket through.
            _ => {
                if !sh.device.descriptor_available() {
                    return Err(WsaError::MFile); // L9
                }
                sh.device.check_buffers()?;
                g.state = State::Listening(Box::new(ListenQueue::new(eff)));
                drop(g);
                sh.device.register_listener(&cell);
                return Ok(());
            }
        };
        drop(g);
        sh.device.release_pending(reset.len());
        for r in reset {
            r.reply.answer(Answer::Failed(WsaError::ConnReset));
        }
        Ok(())
    }

    /// `WSPConnect` (SPEC C1 to C7). Returns the callee data.
    ///
    /// A blocking socket waits for the listener's answer; a non-blocking one fails with
    /// `WSAEWOULDBLOCK` and the answer arrives as `FD_CONNECT` (and `SO_ERROR`).
    pub fn connect(&self, s: Descriptor, addr: SocketAddrV4, params: ConnectParams<'_>) -> Result<Vec<u8>> {
        self.connect_with(s, addr, params, Wait::default())
    }

    /// [`connect`](Self::connect) with a timeout and an interruption hook for the wait.
    pub fn connect_with(
        &self,
        s: Descriptor,
        addr: SocketAddrV4,
        params: ConnectParams<'_>,
        wait: Wait<'_>,
    ) -> Result<Vec<u8>> {
        let sh = &self.shared;
        sh.enter()?;
        let cell = sh.table.get(s)?;
        let mut g = cell.lock();
        Call::Connect.check(&g.state, g.local)?;
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(WsaError::AddrNotAvail);
        }
        // A5: caller data of length 0 is no caller data (the condition sees NULL).
        let caller_data = match params.caller_data.filter(|d| !d.is_empty()) {
            Some(d) if d.len() > sh.device.max_caller_data() => return Err(WsaError::NoBufs),
            Some(d) => Some(Box::<[u8]>::from(d)),
            None => None,
        };
        sh.device.check_buffers()?;
        // An address no device has is refused (README) and leaves the socket unbound: binding it
        // there would let it listen at an address the device does not have. (A listener on a NIC
        // removed since keeps working, README: that address still takes connects.)
        let Some(route) = sh.route(addr) else {
            sh.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        // The NIC this connector speaks from: the target's own on this device (C4), the device's
        // first NIC towards another device (F2).
        let from = match &route {
            Route::Here => *addr.ip(),
            Route::There(_) | Route::Remote(_) => {
                sh.device.nic_list().first().copied().ok_or(WsaError::AddrNotAvail)?
            }
        };
        if let Route::There(t) = &route {
            if t.device.is_down() {
                return Err(WsaError::HostUnreach); // README: a device that is down answers nobody
            }
            if caller_data.as_ref().is_some_and(|d| d.len() > t.device.max_caller_data()) {
                return Err(WsaError::NoBufs); // F8: the listener's device limit applies too
            }
            t.device.check_buffers()?; // D2: the pending request is the listener's device's to allocate
        }
        if matches!(g.state, State::Created) {
            // C4, F2: bound implicitly to the NIC it speaks from and a free port.
            let local = sh.device.bind_port(&cell, SocketAddrV4::new(from, 0), false)?;
            g.local = Some(local);
            g.owns_port = true;
            g.state = State::Bound;
        }
        let target: &Shared = match &route {
            Route::Here => sh,
            Route::There(t) => t,
            Route::Remote(to) => {
                return self.connect_remote(&cell, g, (addr, from, *to), caller_data, params.qos, wait);
            }
        };
        let Some(listener) = target.device.socket_at(addr) else {
            target.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        // F8: pending requests are counted by the device whose listener holds them.
        target.device.reserve_pending()?;
        // E5, C2: the attempt clears an unreported FD_CONNECT and SO_ERROR of the previous one; if
        // it is refused at once below, it was no attempt (README) and those must still be there.
        let stale = (g.events.code(crate::consts::FD_CONNECT_BIT), g.so_error);
        let attempt = g.begin_attempt(&cell, addr, from);
        let deferred = g.nonblocking;
        let caller = g.local.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        // A5, A15: the listener sees a real address: a connector bound to the wildcard speaks
        // from its NIC towards the target (C4, F2), never from 0.0.0.0.
        let caller = if caller.ip().is_unspecified() { SocketAddrV4::new(from, caller.port()) } else { caller };
        drop(g);
        let req = PendingRequest {
            reply: Reply::Local { connector: cell.clone(), attempt },
            caller,
            callee: addr,
            caller_data,
            qos: params.qos.map(|q| Box::new(q.clone())),
        };
        if let Err(e) = target.enqueue(&listener, req) {
            target.device.release_pending(1);
            let mut g = cell.lock();
            if cell.attempt.load(Ordering::Relaxed) == attempt {
                g.withdraw(&cell); // C6: back to bound, may connect again
                if let Some(code) = stale.0 {
                    let _ = g.events.record(crate::consts::FD_CONNECT_BIT, code); // signalled when first recorded
                }
                g.so_error = stale.1;
            }
            return Err(e);
        }
        // The wait must not keep the listener's provider alive: if it goes away, it answers (T2).
        drop(route);
        if deferred {
            if let Some(t) = sh.device.connect_timeout() {
                sh.timer.schedule(sh, &cell, attempt, Instant::now() + t);
            }
            return Err(WsaError::WouldBlock);
        }
        self.wait_connect(&cell, attempt, wait)
    }

    /// A connect to a device across the TCP fabric (F2, F4, F5): the request leaves through the
    /// I/O thread, which answers the attempt like a local listener would, or with the fabric's
    /// own errors (refused, unreachable, reset).
    fn connect_remote(
        &self,
        cell: &Arc<SocketCell>,
        mut g: MutexGuard<'_, SocketInner>,
        (addr, from, to): (SocketAddrV4, Ipv4Addr, SocketAddrV4),
        caller_data: Option<Box<[u8]>>,
        qos: Option<&Qos>,
        wait: Wait<'_>,
    ) -> Result<Vec<u8>> {
        let sh = &self.shared;
        let ep = &sh.tcp.get().ok_or(WsaError::NetDown)?.endpoint;
        let attempt = g.begin_attempt(cell, addr, from);
        let deferred = g.nonblocking;
        let local = g.local.unwrap_or(SocketAddrV4::new(from, 0));
        let caller = if local.ip().is_unspecified() { SocketAddrV4::new(from, local.port()) } else { local };
        let request = wire::Request {
            id: ep.next_id(),
            caller,
            callee: addr,
            caller_data: caller_data.map(Vec::from).unwrap_or_default(),
            qos: qos.cloned(),
        };
        let out = Arc::new(Outbound::new(ep, to, cell, attempt, request));
        if let State::Connecting { outbound, .. } = &mut g.state {
            *outbound = Some(out.clone());
        }
        drop(g);
        ep.submit(to, out);
        if deferred {
            if let Some(t) = sh.device.connect_timeout() {
                sh.timer.schedule(sh, cell, attempt, Instant::now() + t);
            }
            return Err(WsaError::WouldBlock);
        }
        self.wait_connect(cell, attempt, wait)
    }

    /// C2: a blocking connect waits for the answer, the timeout, a close or the device going down.
    fn wait_connect(&self, cell: &SocketCell, attempt: u64, mut wait: Wait<'_>) -> Result<Vec<u8>> {
        let sh = &self.shared;
        let timeout = match (sh.device.connect_timeout(), wait.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = cell.lock();
        loop {
            if let Some((a, result)) = g.outcome.take() {
                if a == attempt {
                    return result.map(|()| g.callee_data.to_vec());
                }
            }
            if matches!(g.state, State::Closed) {
                return Err(WsaError::Intr);
            }
            if cell.attempt.load(Ordering::Relaxed) != attempt {
                return Err(WsaError::Intr);
            }
            if sh.device.is_down() {
                g.withdraw(cell);
                return Err(WsaError::NetDown);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                g.withdraw(cell);
                sh.device.timed_out.fetch_add(1, Ordering::Relaxed);
                return Err(WsaError::TimedOut);
            }
            g = wait_on(cell, g, deadline.map(|d| d - now), wait.interrupt.is_some());
            if let Some(interrupt) = wait.interrupt.as_mut() {
                drop(g);
                let stop = interrupt();
                g = cell.lock();
                if stop && g.outcome.is_none() {
                    if cell.attempt.load(Ordering::Relaxed) == attempt {
                        g.withdraw(cell);
                    }
                    return Err(WsaError::Intr);
                }
            }
        }
    }

    /// `WSPAccept` (SPEC A1 to A15). `condition` `None` accepts unconditionally (A6).
    ///
    /// The condition runs on this thread with no provider lock held; calling the provider from
    /// inside it fails with `WSAEINPROGRESS` (A14). If it panics, the request goes back to the
    /// head of the queue and the panic continues.
    pub fn accept(&self, s: Descriptor, condition: Option<&mut Condition<'_>>) -> Result<Accepted, AcceptError> {
        self.accept_with(s, condition, Wait::default())
    }

    /// [`accept`](Self::accept) with a timeout and an interruption hook for the wait.
    pub fn accept_with(
        &self,
        s: Descriptor,
        condition: Option<&mut Condition<'_>>,
        wait: Wait<'_>,
    ) -> Result<Accepted, AcceptError> {
        let sh = &*self.shared;
        sh.enter()?;
        let listener = sh.table.get(s)?;
        let (req, inherited) = self.take_request(&listener, wait)?;
        let examined = Some(req.caller);
        let fail = |error| AcceptError { error, examined };
        if req.is_withdrawn() {
            // A12: withdrawn before accept reached it.
            signal_set(sh.settle(&listener, Settle::Withdrawn).set);
            return Err(fail(WsaError::Acces));
        }
        let (decision, callee_data) = match condition {
            None => (Decision::Accept, Box::default()),
            Some(f) => match run_condition(sh, f, &req) {
                Ok(answer) => answer,
                Err(panic) => {
                    let _ = self.restore(&listener, req, false, false);
                    std::panic::resume_unwind(panic);
                }
            },
        };
        match decision {
            // A12: withdrawn while the condition ran: WSAEACCES whatever the answer (CF_DEFER
            // included: there is no connector left to keep waiting), and the request is removed.
            Decision::Defer if req.is_withdrawn() => {
                signal_set(sh.settle(&listener, Settle::Withdrawn).set);
                Err(fail(WsaError::Acces))
            }
            Decision::Defer => {
                self.restore(&listener, req, true, false).map_err(fail)?;
                Err(fail(WsaError::TryAgain))
            }
            Decision::Abandon => {
                self.restore(&listener, req, false, false).map_err(fail)?;
                Err(fail(WsaError::Intr))
            }
            Decision::Reject | Decision::Invalid(_) => {
                // A8, A10: the connector is refused, unless it withdrew while the condition ran.
                let refused = req.reply.answer(Answer::Failed(WsaError::ConnRefused));
                let outcome = if refused { Settle::Rejected } else { Settle::Withdrawn };
                signal_set(sh.settle(&listener, outcome).set);
                Err(fail(match (refused, decision) {
                    (false, _) => WsaError::Acces,
                    (true, Decision::Reject) => WsaError::ConnRefused,
                    (true, _) => WsaError::Inval,
                }))
            }
            Decision::Accept => {
                let new = sh.new_socket(|ng| {
                    ng.inherit(&inherited);
                    ng.local = Some(req.callee);
                    ng.state = State::Connected { remote: req.caller, peer: req.reply.peer_link() };
                });
                let new = match new {
                    Ok(c) => c,
                    Err(e) => {
                        // A11: no descriptor or no memory: the request stays at the head.
                        self.restore(&listener, req, false, e == WsaError::MFile).map_err(fail)?;
                        return Err(fail(e));
                    }
                };
                if let Some(h) = &inherited.handle {
                    crate::events::fire_reset(h); // E3, before E2 may set it again
                }
                let link = PeerLink::Local(Arc::downgrade(&new));
                if !req.reply.answer(Answer::Accepted { peer: link, callee_data }) {
                    // Withdrawn while the condition ran (A12).
                    sh.discard_socket(&new);
                    signal_set(sh.settle(&listener, Settle::Withdrawn).set);
                    return Err(fail(WsaError::Acces));
                }
                signal_set(sh.settle(&listener, Settle::Accepted).set);
                let socket = new.id;
                sh.table.insert(new);
                Ok(Accepted { socket, peer: req.caller })
            }
        }
    }

    /// Put an examined request back at the head of the queue. If the listener was closed in
    /// the meantime, the request is refused (K2) and the accept fails with `WSAEINTR`.
    fn restore(&self, listener: &SocketCell, req: PendingRequest, deferred: bool, exhausted: bool) -> Result<()> {
        let settled = self.shared.settle(listener, Settle::Restore { req, deferred, exhausted });
        signal_set(settled.set);
        if let Some(orphan) = settled.orphan {
            orphan.reply.answer(Answer::Failed(WsaError::ConnRefused));
            return Err(WsaError::Intr);
        }
        Ok(())
    }

    /// Take the head request off the queue, waiting if the socket blocks (A1, A2, A11, L9).
    /// Also returns the listener's selected event object, for E3.
    fn take_request(
        &self,
        listener: &SocketCell,
        mut wait: Wait<'_>,
    ) -> Result<(PendingRequest, Inherited), AcceptError> {
        let sh = &*self.shared;
        let deadline = wait.timeout.map(|t| Instant::now() + t);
        let mut waited = false;
        let mut g = listener.lock();
        loop {
            let SocketInner { state, events, nonblocking, .. } = &mut *g;
            let q = match state {
                State::Listening(q) => q,
                State::Closed if waited => return Err(WsaError::Intr.into()), // A2: closed under us
                State::Closed => return Err(WsaError::NotSock.into()),
                _ => return Err(WsaError::Inval.into()), // A1
            };
            if waited && sh.device.is_down() {
                return Err(WsaError::NetDown.into()); // D2: a blocked accept wakes with it
            }
            match q.take_head(sh.device.descriptor_available(), sh.device.check_buffers(), events) {
                Head::Request(req) => {
                    let inherited = g.options();
                    return Ok((req, inherited));
                }
                Head::Refused(e, set) => {
                    drop(g);
                    signal_set(set);
                    return Err(e.into());
                }
                Head::Empty => {}
            }
            if *nonblocking {
                return Err(WsaError::WouldBlock.into());
            }
            if sh.device.is_down() {
                return Err(WsaError::NetDown.into());
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(WsaError::TimedOut.into());
            }
            g = wait_on(listener, g, deadline.map(|d| d - now), wait.interrupt.is_some());
            waited = true;
            if let Some(interrupt) = wait.interrupt.as_mut() {
                drop(g);
                let stop = interrupt();
                g = listener.lock();
                if stop {
                    return Err(WsaError::Intr.into());
                }
            }
        }
    }

    /// `WSPCloseSocket` (SPEC K1 to K3).
    pub fn close(&self, s: Descriptor) -> Result<()> {
        let sh = &*self.shared;
        sh.enter()?;
        let cell = sh.table.remove(s)?;
        self.shared.destroy(&cell);
        Ok(())
    }

    /// Close every socket of the provider (the C ABI's last `WSPCleanup`).
    ///
    /// Fails only with `WSAEINPROGRESS` when called from one of this provider's condition
    /// functions (A14); the device being down does not stop it.
    pub fn close_all(&self) -> Result<()> {
        self.shared.check_reentry()?;
        for cell in self.shared.table.drain() {
            self.shared.destroy(&cell);
        }
        Ok(())
    }

    /// Whether one of this provider's condition functions is running on this thread (SPEC A14),
    /// for callers with calls of their own to refuse (the C ABI's `WSPStartup`/`WSPCleanup`).
    pub fn in_condition(&self) -> bool {
        self.shared.check_reentry().is_err()
    }

    /// Close a socket whatever the device state, for an owner that is going away and cannot
    /// try again later (Python's garbage collector). Fails only for an unknown descriptor
    /// (`WSAENOTSOCK`); `close` is the WSP call with the SPEC's entry checks.
    pub fn discard(&self, s: Descriptor) -> Result<()> {
        let cell = self.shared.table.remove(s)?;
        self.shared.destroy(&cell);
        Ok(())
    }

    /// SPEC X4: the error `call` on `s` fails with before any of its pointer or length arguments
    /// count: the entry checks, the descriptor, then whether the socket's state allows the call
    /// at all. `Ok` when only the arguments can fail it now. A face that finds a bad pointer
    /// reports this error if there is one, and `WSAEFAULT` only otherwise
    /// (`WSPGetPeerName(INVALID_SOCKET, NULL, NULL)` is `WSAENOTSOCK`, on an unconnected socket
    /// `WSAENOTCONN`).
    pub fn precheck(&self, s: Descriptor, call: Call) -> Result<()> {
        self.with_socket(s, |g| call.check(&g.state, g.local))
    }

    /// `WSPGetSockName` (SPEC A15): `WSAEINVAL` when not bound.
    pub fn sock_name(&self, s: Descriptor) -> Result<SocketAddrV4> {
        self.with_socket(s, |g| {
            Call::SockName.check(&g.state, g.local)?;
            g.local.ok_or(WsaError::Inval)
        })
    }

    /// `WSPGetPeerName` (SPEC A15, K3): `WSAENOTCONN` unless connected.
    pub fn peer_name(&self, s: Descriptor) -> Result<SocketAddrV4> {
        self.with_socket(s, |g| match g.state {
            State::Connected { remote, .. } => Ok(remote),
            ref other => Call::PeerName.check(other, g.local).and(Err(WsaError::NotConn)),
        })
    }

    /// `WSPGetSockOpt` for one option (SPEC L8, C2). Reading `SO_ERROR` leaves it as it is.
    pub fn get_option(&self, s: Descriptor, opt: SockOpt) -> Result<i32> {
        self.with_socket(s, |g| {
            Ok(match opt {
                SockOpt::AcceptConn => i32::from(matches!(g.state, State::Listening(_))),
                SockOpt::Error => g.so_error, // C2 (decided): reading does not clear it
                SockOpt::Type => consts::SOCK_STREAM,
                SockOpt::SndBuf => g.sndbuf,
                SockOpt::RcvBuf => g.rcvbuf,
                SockOpt::ConnDataLen => i32::try_from(g.callee_data.len()).unwrap_or(i32::MAX),
            })
        })
    }

    /// `WSPGetSockOpt` by level and option number, in either numbering (SPEC section 1): the
    /// entry checks and the socket come first, then a level that is neither `SOL_SOCKET` nor
    /// `IPPROTO_TCP` is `WSAEINVAL` and an unknown option `WSAENOPROTOOPT` (as Windows).
    pub fn get_option_raw(&self, s: Descriptor, level: i32, name: i32) -> Result<i32> {
        self.with_socket(s, |_| Ok(()))?;
        self.get_option(s, SockOpt::resolve(level, name)?)
    }

    /// `WSPSetSockOpt` by level and option number, checked in the order of
    /// [`get_option_raw`](Self::get_option_raw).
    pub fn set_option_raw(&self, s: Descriptor, level: i32, name: i32, value: i32) -> Result<()> {
        self.with_socket(s, |_| Ok(()))?;
        self.set_option(s, SockOpt::resolve(level, name)?, value)
    }

    /// `WSPSetSockOpt` for one option. Read-only options fail with `WSAENOPROTOOPT` (L8);
    /// a negative buffer size with `WSAEINVAL`. `SO_ERROR` takes any value, as on Windows.
    pub fn set_option(&self, s: Descriptor, opt: SockOpt, value: i32) -> Result<()> {
        self.with_socket(s, |g| {
            let slot = match opt {
                SockOpt::SndBuf => &mut g.sndbuf,
                SockOpt::RcvBuf => &mut g.rcvbuf,
                SockOpt::Error => {
                    g.so_error = value;
                    return Ok(());
                }
                _ => return Err(WsaError::NoProtoOpt),
            };
            if value < 0 {
                return Err(WsaError::Inval);
            }
            *slot = value;
            Ok(())
        })
    }

    /// The callee data the socket's completed connect received (`SO_CONNDATA`); empty if none.
    pub fn callee_data(&self, s: Descriptor) -> Result<Vec<u8>> {
        self.with_socket(s, |g| Ok(g.callee_data.to_vec()))
    }

    /// `FIONBIO` (SPEC E6): clearing it while an event selection is active fails with `WSAEINVAL`.
    pub fn set_nonblocking(&self, s: Descriptor, on: bool) -> Result<()> {
        self.with_socket(s, |g| {
            if !on && g.events.selected() {
                return Err(WsaError::Inval);
            }
            g.nonblocking = on;
            Ok(())
        })
    }

    /// Whether the socket is in non-blocking mode.
    pub fn is_nonblocking(&self, s: Descriptor) -> Result<bool> {
        self.with_socket(s, |g| Ok(g.nonblocking))
    }

    /// `WSPEventSelect` (SPEC E1): record the selection, make the socket non-blocking, keep
    /// recorded events, and signal at once if a selected event is already recorded. A mask of
    /// 0 cancels the selection. Bits outside the ten `FD_*` events: `WSAEINVAL`.
    pub fn event_select(&self, s: Descriptor, event: Option<EventHandle>, mask: u32) -> Result<()> {
        let set = self.with_socket(s, |g| {
            // X4: an unknown descriptor is WSAENOTSOCK whatever the mask; the mask comes second.
            if mask & !FD_ALL_EVENTS != 0 {
                return Err(WsaError::Inval);
            }
            g.nonblocking = true;
            let SocketInner { state, events, .. } = g;
            if let State::Listening(q) = state {
                if mask & FD_ACCEPT != 0 {
                    q.select_accept(events); // signalled by the selection below
                }
            }
            Ok(events.select(event, mask))
        })?;
        signal_set(set);
        Ok(())
    }

    /// `WSPEnumNetworkEvents` (SPEC E4): take the recorded events that are in the current
    /// selection, clearing them (the others stay recorded, E5), and reset `reset` if given.
    pub fn enum_network_events(&self, s: Descriptor, reset: Option<&EventHandle>) -> Result<NetworkEvents> {
        self.shared.enter()?;
        let cell = self.shared.table.get(s)?;
        let taken = {
            let mut g = cell.lock();
            if matches!(g.state, State::Closed) {
                return Err(WsaError::NotSock);
            }
            g.events.take()
        };
        if let Some(h) = reset {
            crate::events::fire_reset(h);
            // An event recorded between the take and the reset must not be left unsignalled.
            let again = cell.lock().events.pending_signal();
            signal_set(again);
        }
        Ok(taken)
    }

    /// `SIO_ADDRESS_LIST_QUERY` (SPEC D4): the device's NIC addresses.
    pub fn address_list(&self) -> Result<Vec<Ipv4Addr>> {
        self.shared.enter()?;
        Ok(self.device().nics())
    }

    /// Statistics of one listening socket (SPEC D3); `WSAEINVAL` if it is not listening.
    /// Readable while the device is down.
    pub fn listener_stats(&self, s: Descriptor) -> Result<ListenerStats> {
        let cell = self.shared.table.get(s)?;
        let g = cell.lock();
        match &g.state {
            State::Listening(q) => Ok(q.snapshot()),
            State::Closed => Err(WsaError::NotSock),
            _ => Err(WsaError::Inval),
        }
    }

    /// The context the create hook returned for this socket (SPEC X5), 0 without hooks.
    /// Fails with `WSAEINPROGRESS` from inside one of this provider's condition functions (A14).
    pub fn context(&self, s: Descriptor) -> Result<u64> {
        self.shared.check_reentry()?;
        let cell = self.shared.table.get(s)?;
        let g = cell.lock();
        Ok(g.context)
    }

    /// Run `f` on a live socket's state after the common entry checks.
    fn with_socket<T>(&self, s: Descriptor, f: impl FnOnce(&mut SocketInner) -> Result<T>) -> Result<T> {
        let sh = &*self.shared;
        sh.enter()?;
        let cell = sh.table.get(s)?;
        let mut g = cell.lock();
        if matches!(g.state, State::Closed) {
            return Err(WsaError::NotSock);
        }
        f(&mut g)
    }
}

/// Run a condition function on a request (SPEC A5, A10) with a callee-data buffer of the
/// device's size; returns its decision and the callee data it wrote, or its panic.
fn run_condition(
    sh: &Shared,
    f: &mut Condition<'_>,
    req: &PendingRequest,
) -> std::thread::Result<(Decision, Box<[u8]>)> {
    let capacity = sh.device.max_callee_data();
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if capacity <= stack.len() {
        &mut stack[..capacity]
    } else {
        heap.resize(capacity, 0);
        &mut heap
    };
    let mut creq = ConditionRequest {
        caller: req.caller,
        callee: req.callee,
        caller_data: req.caller_data.as_deref(),
        qos: req.qos.as_deref(),
        callee_buf: buf,
        callee_len: 0,
        group: 0,
    };
    let decision = {
        let _guard = reentry::Guard::enter(sh.id());
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut creq)))?
    };
    // A10: a group changed to non-zero makes any answer invalid.
    let decision = if creq.group != 0 { Decision::Invalid(decision.to_raw()) } else { decision };
    Ok((decision, Box::from(creq.callee_data())))
}

/// How a waiter polls before it sleeps: a hand-off between two threads usually completes within
/// a microsecond or two, while a futex sleep and wake-up costs tens of them on a loaded machine.
/// A short exponential spin, then yields, which let a thread sharing this core run; never a long
/// pure spin (on an oversubscribed machine it would burn the time the other side needs).
const SPIN_ROUNDS: u32 = 6; // 1 + 2 + ... + 32 pauses
const YIELD_ROUNDS: u32 = 24;

/// Wait for a change on a socket: poll briefly, then block on its condvar, counted as a waiter
/// so wakers only notify when needed. The caller re-checks its condition on return.
fn wait_on<'g>(
    cell: &'g SocketCell,
    mut g: MutexGuard<'g, SocketInner>,
    left: Option<Duration>,
    ticking: bool,
) -> MutexGuard<'g, SocketInner> {
    g.spinners += 1;
    let seen = cell.changes.load(Ordering::Relaxed);
    drop(g);
    let unchanged = || cell.changes.load(Ordering::Acquire) == seen;
    for round in 0..SPIN_ROUNDS + YIELD_ROUNDS {
        if !unchanged() {
            break;
        }
        if round < SPIN_ROUNDS {
            (0..1u32 << round).for_each(|_| std::hint::spin_loop());
        } else {
            std::thread::yield_now();
        }
    }
    let mut g = cell.lock();
    g.spinners -= 1;
    if cell.changes.load(Ordering::Relaxed) != seen {
        return g;
    }
    let slice = match (left, ticking) {
        (Some(l), true) => Some(l.min(TICK)),
        (Some(l), false) => Some(l),
        (None, true) => Some(TICK),
        (None, false) => None,
    };
    g.waiters += 1;
    let mut g = match slice {
        Some(d) => cell.cv.wait_timeout(g, d).unwrap_or_else(PoisonError::into_inner).0,
        None => cell.cv.wait(g).unwrap_or_else(PoisonError::into_inner),
    };
    g.waiters -= 1;
    g
}

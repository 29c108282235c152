//! The provider: a descriptor table plus its device, and every WSP operation on them, in rooms
//! that match the operations: this file holds the engine's state (the shared record, entry
//! checks, making and closing sockets, waiting); `listen`, `connect`, `accept` and `options`
//! each add their calls. The rooms use this file, never each other.

mod accept;
mod connect;
mod listen;
mod options;
mod transport;

use crate::consts;
use crate::device::{Device, DeviceConfig, DeviceState};
use crate::error::{Result, WsaError};
use crate::events::{EventHandle, contain};
use crate::fabric::Fabric;
use crate::fabric::carrier::{Links, MessageTransport};
use crate::fabric::tcp::{TcpConfig, TcpFabric};
use crate::socket::{Descriptor, Qos, SocketCell, SocketInner, State};
use crate::table::Table;
use crate::timer::Timer;
use std::cell::RefCell;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::Duration;

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

thread_local! {
    /// The interruption hook of this thread's blocking calls that bring none of their own (see
    /// [`with_interrupt`]).
    static AMBIENT_INTERRUPT: RefCell<Option<Box<dyn FnMut() -> bool>>> = const { RefCell::new(None) };
}

/// Run `f` with `hook` as the interruption hook ([`Wait::interrupt`]) of every blocking call it
/// makes on this thread without a hook of its own, so that calls that take no [`Wait`] (the C
/// ABI's) can be interrupted too: Python's `wspsan.wsp` lets Ctrl-C through this way. The
/// previous hook of the thread is back when `f` returns or unwinds.
pub fn with_interrupt<R>(hook: impl FnMut() -> bool + 'static, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Box<dyn FnMut() -> bool>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            AMBIENT_INTERRUPT.with(|a| *a.borrow_mut() = previous);
        }
    }
    let _restore = Restore(AMBIENT_INTERRUPT.with(|a| a.borrow_mut().replace(Box::new(hook))));
    f()
}

impl Wait<'_> {
    /// Whether the wait polls an interruption hook: its own, or the thread's ([`with_interrupt`]).
    fn ticking(&self) -> bool {
        self.interrupt.is_some() || AMBIENT_INTERRUPT.with(|a| a.borrow().is_some())
    }

    /// Poll the interruption hook (with no lock held): true abandons the wait.
    fn interrupted(&mut self) -> bool {
        if let Some(interrupt) = self.interrupt.as_mut() {
            return interrupt();
        }
        // Out of its slot while it runs: a blocking call made by the hook itself (a signal
        // handler's) then waits without it instead of re-entering it.
        let Some(mut hook) = AMBIENT_INTERRUPT.with(|a| a.borrow_mut().take()) else { return false };
        let stop = hook();
        AMBIENT_INTERRUPT.with(|a| {
            a.borrow_mut().get_or_insert(hook);
        });
        stop
    }
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
            // No platform numbers these: the Windows value serves at either SOL_SOCKET.
            (consts::SOL_SOCKET | p::SOL_SOCKET, consts::SO_CONNDATALEN) => Some(SockOpt::ConnDataLen),
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
    /// The devices this one reaches through a carrier (a provider's own transport, or an
    /// in-process fabric that injects faults).
    pub(crate) links: OnceLock<Arc<Links>>,
    /// The embedder's own transport, when it brought one.
    pub(crate) transport: OnceLock<Arc<dyn MessageTransport>>,
}

impl Drop for Shared {
    /// The device leaves its fabric: its addresses are free again, and every socket is closed so
    /// that connectors of other devices waiting on its listeners get their answer (K2, T2).
    fn drop(&mut self) {
        self.table.drain(|(cell, g)| {
            self.destroy(cell, g);
        });
        if let Some(t) = self.tcp.get() {
            t.stop();
        }
        if let Some(l) = self.links.get() {
            l.lose_all();
        }
        if let Some(f) = &self.fabric {
            f.release(&self.device.nic_list(), std::ptr::from_ref(self));
        }
    }
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
            links: OnceLock::new(),
            transport: OnceLock::new(),
        }
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

    /// Make a socket (S1, A7, A11): reserve a descriptor and its cell, run the create hook, and
    /// set the socket up in the cell, open: in the table at once.
    fn new_socket(&self) -> Result<Descriptor> {
        let (id, _, g) = self.new_socket_locked(|_| {})?;
        drop(g);
        self.table.publish(id);
        Ok(id)
    }

    /// [`new_socket`](Self::new_socket), not yet published (an accepted socket is found only
    /// once its connector has the answer) and still locked.
    #[allow(clippy::type_complexity)]
    fn new_socket_locked(
        &self,
        init: impl FnOnce(&mut SocketInner),
    ) -> Result<(Descriptor, &Arc<SocketCell>, MutexGuard<'_, SocketInner>)> {
        self.device.check_buffers()?;
        self.device.reserve_descriptor()?;
        let (id, cell) = self.table.allocate().inspect_err(|_| self.device.release_descriptor())?;
        // A panicking hook fails the operation like any panic at the boundary (X4).
        let created = self.hooks().map(|h| contain(|| h.created(id)).unwrap_or(Err(WsaError::NetDown)));
        let context = match created {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                self.table.kill(id); // never opened: nobody else can have it
                self.table.recycle(id);
                self.device.release_descriptor();
                return Err(e);
            }
            None => 0,
        };
        let mut g = cell.lock();
        g.open_as(id, context, init);
        Ok((id, cell, g))
    }

    /// Undo `new_socket_locked` for a socket never published (nobody else can have reached it).
    fn discard_locked(&self, id: Descriptor, cell: &SocketCell, mut g: MutexGuard<'_, SocketInner>) {
        let (_, nobody) = g.set_state(cell, State::Closed);
        drop(nobody);
        g.vacate(false);
        let context = g.context;
        drop(g);
        self.table.kill(id);
        self.table.recycle(id);
        self.device.release_descriptor();
        if let Some(h) = self.hooks() {
            contain(|| h.closed(id, context));
        }
    }

    /// Close a socket whose descriptor was just killed, with its cell still locked (K1 to K3,
    /// C7). Returns whether its cell may take a later socket (see [`SocketInner::awaited`]): the
    /// caller then recycles the descriptor, once nothing of the socket is left.
    fn destroy(&self, cell: &Arc<SocketCell>, mut g: MutexGuard<'_, SocketInner>) -> bool {
        let sh = self;
        let id = g.id;
        let awaited = g.awaited();
        // C7: a pending request is withdrawn; a blocked accept or connect wakes (WSAEINTR).
        let (old, sleepers) = g.set_state(cell, State::Closed);
        let (local, context) = (g.local.filter(|_| g.owns_port), g.context);
        g.vacate(awaited);
        if awaited {
            cell.retired.store(true, Ordering::Relaxed);
        }
        drop(g);
        sleepers.notify(cell);
        if let Some(local) = local {
            sh.device.unbind_port(id, local);
        }
        sh.device.release_descriptor();
        match old {
            State::Listening(q) => {
                // K2: every queued request is refused.
                let (refused, stats) = q.close();
                sh.device.retire_listener(id, stats);
                sh.device.release_pending(refused.len());
                for r in refused {
                    r.reply.refuse(&sh.table, WsaError::ConnRefused);
                }
            }
            State::Connected { peer, .. } => peer.close(&sh.table, cell, id),
            State::Connecting { outbound: Some(o), .. } => o.withdraw(), // C7 across the fabric
            _ => {}
        }
        if let Some(h) = sh.hooks() {
            contain(|| h.closed(id, context));
        }
        !awaited
    }

    /// A thread that waited on socket `s` (or made a blocking connect with it) is done with its
    /// cell: if the socket was closed meanwhile and this is the last such thread, the slot goes
    /// back for later sockets (see [`SocketInner::awaited`]).
    pub(crate) fn leave(&self, cell: &SocketCell, s: Descriptor) {
        if !cell.retired.load(Ordering::Relaxed) {
            return;
        }
        let mut g = cell.lock();
        // A retired cell is never given to a later socket, so it still names `s`.
        if g.id != s || g.waiters > 0 || g.spinners > 0 || !cell.retired.swap(false, Ordering::Relaxed) {
            return;
        }
        g.outcome = None;
        g.callee_data = Box::default();
        drop(g);
        self.table.recycle(s);
    }

    /// `WSPCloseSocket`'s work once the entry checks passed.
    fn close(&self, s: Descriptor) -> Result<()> {
        let (cell, g) = self.table.lock(s)?;
        self.table.kill(s);
        if self.destroy(cell, g) {
            self.table.recycle(s);
        }
        Ok(())
    }
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
        if let Some(links) = fabric.links_for(&shared, &nics)? {
            // Set once, before the provider is handed out: nobody can have read it yet.
            let _ = shared.links.set(links);
        }
        fabric.claim(&nics, &shared)?;
        Ok(Provider { shared })
    }

    /// A provider whose device joins the TCP fabric (SPEC F2): it accepts fabric peers on
    /// `NIC:port` for each of its NICs and reaches devices of other processes and hosts. Fails
    /// with `WSAEINVAL` for a NIC list [`DeviceConfig::validate`] refuses, `WSAEADDRINUSE` when
    /// `NIC:port` is held (another device is there), `WSAEADDRNOTAVAIL` when a NIC is not an
    /// address of this host.
    ///
    /// Two devices on loopback addresses of one host (they could as well be in two processes):
    ///
    /// ```
    /// use std::net::{Ipv4Addr, SocketAddrV4};
    /// use wspsan_core::{ConnectParams, Decision, DeviceConfig, Provider, TcpConfig};
    ///
    /// let on = |ip: Ipv4Addr| {
    ///     let tcp = TcpConfig { port: 17777, key: Some(b"s3cret".to_vec()), ..TcpConfig::default() };
    ///     Provider::on_tcp_fabric(DeviceConfig { nics: vec![ip], ..DeviceConfig::default() }, tcp)
    /// };
    /// let server = on(Ipv4Addr::new(127, 0, 77, 1))?;
    /// let client = on(Ipv4Addr::new(127, 0, 77, 2))?;
    ///
    /// let to = SocketAddrV4::new(Ipv4Addr::new(127, 0, 77, 1), 5000);
    /// let l = server.socket()?;
    /// server.bind(l, to)?;
    /// server.listen(l, 8)?;
    /// let c = client.socket()?;
    /// let connecting = std::thread::spawn(move || {
    ///     client.connect(c, to, ConnectParams { caller_data: Some(b"alice"), qos: None })
    /// });
    /// let a = server.accept(l, Some(&mut |req: &mut wspsan_core::ConditionRequest<'_>| {
    ///     req.set_callee_data(b"welcome");
    ///     Decision::Accept
    /// }))?;
    /// assert_eq!(connecting.join().unwrap()?, b"welcome".to_vec()); // confirmed before accept returned
    /// assert_eq!(a.peer.ip(), &Ipv4Addr::new(127, 0, 77, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        sh.new_socket()
    }

    /// `WSPBind` (SPEC B1, B2). Port 0 picks a free port in 49152..65535.
    pub fn bind(&self, s: Descriptor, addr: SocketAddrV4) -> Result<()> {
        let sh = &*self.shared;
        sh.enter()?;
        let (cell, mut g) = sh.table.lock(s)?;
        Call::Bind.check(&g.state, g.local)?;
        let bound = sh.device.bind_port(s, addr, true)?;
        g.local = Some(bound);
        g.owns_port = true;
        let (_, nobody) = g.set_state(cell, State::Bound); // nobody waits on an unbound socket
        drop(nobody);
        Ok(())
    }

    /// `WSPCloseSocket` (SPEC K1 to K3).
    pub fn close(&self, s: Descriptor) -> Result<()> {
        let sh = &*self.shared;
        sh.enter()?;
        sh.close(s)
    }

    /// Close every socket of the provider (the C ABI's last `WSPCleanup`).
    ///
    /// Fails only with `WSAEINPROGRESS` when called from one of this provider's condition
    /// functions (A14); the device being down does not stop it.
    pub fn close_all(&self) -> Result<()> {
        self.shared.check_reentry()?;
        self.shared.table.drain(|(cell, g)| {
            self.shared.destroy(cell, g);
        });
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
        self.shared.close(s)
    }

    /// Run `f` on a live socket's state after the common entry checks.
    fn with_socket<T>(&self, s: Descriptor, f: impl FnOnce(&mut SocketInner) -> Result<T>) -> Result<T> {
        let sh = &*self.shared;
        sh.enter()?;
        let (_, mut g) = sh.table.lock(s)?;
        f(&mut g)
    }
}

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
    crate::backoff::poll(|| cell.changes.load(Ordering::Acquire) != seen);
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

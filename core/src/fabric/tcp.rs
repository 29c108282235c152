//! The TCP fabric (SPEC F2-F11): devices in other processes and on other hosts reach each
//! other over kernel TCP. One I/O thread per device runs a `mio` event loop: it accepts fabric
//! peers on `NIC:port` for every NIC, opens one connection per remote device for the requests
//! this device sends, speaks the frame protocol of `wire.rs`, proves the key (`auth.rs`) and
//! declares silent peers lost. It never runs a condition function or a socket hook; the rules
//! stay in the engine, which it enters through [`Shared::take_remote_request`] and the
//! connector's [`answer_then`].

use super::auth::{self, Role};
use super::wire::{self, Frame, LEN_BYTES, NONCE, WireError};
use crate::error::{Result, WsaError};
use crate::link::{self, PeerLink};
use crate::provider::Shared;
use crate::socket::{Answer, SocketCell, answer_then};
use crate::stats::FabricStats;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The default fabric port (SPEC F2).
pub const DEFAULT_PORT: u16 = 7470;
/// The default liveness interval (SPEC F7).
pub const DEFAULT_LIVENESS: Duration = Duration::from_secs(3);
/// The default number of requests one remote device may have queued here (SPEC F8).
pub const DEFAULT_MAX_PENDING_PER_PEER: usize = 1024;
/// Bytes a connection may hold unsent before its peer counts as lost: one that does not read (F8).
const MAX_UNSENT: usize = 4 << 20;
/// How long opening a fabric connection may take when the device has no connect timeout (F4).
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How a device joins the TCP fabric (SPEC F2, F7, F8, F9).
#[derive(Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// The port every device of the fabric accepts fabric peers on, at each of its NICs.
    pub port: u16,
    /// The fabric key: devices talk only when both hold the same key or neither holds one.
    pub key: Option<Vec<u8>>,
    /// A peer silent for this long is declared lost (F7).
    pub liveness: Duration,
    /// Requests one remote device may have queued on this device; more are refused (F8).
    pub max_pending_per_peer: usize,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            port: DEFAULT_PORT,
            key: None,
            liveness: DEFAULT_LIVENESS,
            max_pending_per_peer: DEFAULT_MAX_PENDING_PER_PEER,
        }
    }
}

impl std::fmt::Debug for TcpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: only whether there is one.
        f.debug_struct("TcpConfig")
            .field("port", &self.port)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("liveness", &self.liveness)
            .field("max_pending_per_peer", &self.max_pending_per_peer)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Counters {
    open: AtomicU64,
    lost: AtomicU64,
    protocol_errors: AtomicU64,
    key_failures: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// What engine threads hand to the I/O thread.
enum Command {
    /// Send a new request to the device at this fabric address.
    Send(SocketAddrV4, Arc<Outbound>),
    /// A connector gave up request `id` sent to this fabric address.
    Withdraw(SocketAddrV4, u64),
    /// Frames were queued on a connection.
    Flush(Token),
}

/// The part of a device's TCP fabric that engine threads share with its I/O thread.
pub(crate) struct Endpoint {
    port: u16,
    key: Option<Vec<u8>>,
    liveness_ns: AtomicU64,
    max_pending_per_peer: AtomicUsize,
    waker: Waker,
    commands: Mutex<Vec<Command>>,
    stop: AtomicBool,
    next_id: AtomicU64,
    counters: Counters,
}

impl Endpoint {
    fn command(&self, c: Command) {
        lock(&self.commands).push(c);
        let _ = self.waker.wake(); // a failed wake-up is retried by the next tick
    }

    pub(crate) fn liveness(&self) -> Duration {
        Duration::from_nanos(self.liveness_ns.load(Relaxed))
    }

    /// The fabric address of the device that owns `ip` (F2).
    pub(crate) fn peer_of(&self, ip: Ipv4Addr) -> SocketAddrV4 {
        SocketAddrV4::new(ip, self.port)
    }

    /// Send a request for the engine (connector side): the I/O thread opens or reuses the
    /// connection to `to` and answers the attempt through `out`.
    pub(crate) fn submit(&self, to: SocketAddrV4, out: Arc<Outbound>) {
        self.command(Command::Send(to, out));
    }

    /// A new request id, unique on this device.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    pub(crate) fn stats(&self) -> FabricStats {
        let c = &self.counters;
        FabricStats {
            connections_open: c.open.load(Relaxed),
            connections_lost: c.lost.load(Relaxed),
            protocol_errors: c.protocol_errors.load(Relaxed),
            key_failures: c.key_failures.load(Relaxed),
            requests_sent: c.sent.load(Relaxed),
            requests_received: c.received.load(Relaxed),
        }
    }

    pub(crate) fn set_liveness(&self, d: Duration) {
        self.liveness_ns.store(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1_000_000), Relaxed);
        let _ = self.waker.wake();
    }
}

/// A device's membership of the TCP fabric: the endpoint and its I/O thread.
pub(crate) struct TcpFabric {
    pub(crate) endpoint: Arc<Endpoint>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TcpFabric {
    /// Bind `NIC:port` for every NIC and start the I/O thread. `WSAEADDRINUSE` when another
    /// device (or anything else) holds one of them, `WSAEADDRNOTAVAIL` when a NIC is not an
    /// address of this host.
    pub(crate) fn start(nics: &[Ipv4Addr], config: &TcpConfig, shared: Weak<Shared>) -> Result<TcpFabric> {
        let poll = Poll::new().map_err(|_| WsaError::NoBufs)?;
        let mut listeners = Vec::new();
        for (i, ip) in nics.iter().enumerate() {
            let addr = SocketAddr::V4(SocketAddrV4::new(*ip, config.port));
            let mut l = TcpListener::bind(addr).map_err(|e| match e.kind() {
                ErrorKind::AddrInUse => WsaError::AddrInUse,
                ErrorKind::AddrNotAvailable => WsaError::AddrNotAvail,
                _ => WsaError::NetDown,
            })?;
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)
                .map_err(|_| WsaError::NoBufs)?;
            listeners.push(l);
        }
        let waker = Waker::new(poll.registry(), WAKER).map_err(|_| WsaError::NoBufs)?;
        let endpoint = Arc::new(Endpoint {
            port: config.port,
            key: config.key.clone(),
            liveness_ns: AtomicU64::new(0),
            max_pending_per_peer: AtomicUsize::new(config.max_pending_per_peer),
            waker,
            commands: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            counters: Counters::default(),
        });
        endpoint.set_liveness(config.liveness);
        let io = Io {
            poll,
            listeners,
            endpoint: endpoint.clone(),
            shared,
            conns: HashMap::new(),
            outbound_by_peer: HashMap::new(),
            next_token: FIRST_CONN,
        };
        let thread = std::thread::Builder::new()
            .name("wspsan-fabric".into())
            .spawn(move || io.run())
            .map_err(|_| WsaError::NoBufs)?;
        Ok(TcpFabric { endpoint, thread: Mutex::new(Some(thread)) })
    }

    /// Stop the I/O thread and close every fabric connection and listening socket, waiting for
    /// it unless this is the I/O thread itself (it then ends on its own).
    pub(crate) fn stop(&self) {
        self.endpoint.stop.store(true, Relaxed);
        let _ = self.endpoint.waker.wake();
        let handle = lock(&self.thread).take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

const WAKER: Token = Token(0);
const LISTENER_BASE: usize = 1;
const FIRST_CONN: usize = 1 << 20;

/// Where an outbound request stands; only one of answer and withdrawal wins.
const PENDING: u8 = 0;
const ANSWERED: u8 = 1;
const WITHDRAWN: u8 = 2;

/// A request this device sent (the connector's side): its attempt and how it ends.
pub(crate) struct Outbound {
    id: u64,
    to: SocketAddrV4,
    connector: Weak<SocketCell>,
    attempt: u64,
    request: Mutex<Option<wire::Request>>,
    state: AtomicU8,
    endpoint: Weak<Endpoint>,
}

impl Outbound {
    pub(crate) fn new(
        endpoint: &Arc<Endpoint>,
        to: SocketAddrV4,
        connector: &Arc<SocketCell>,
        attempt: u64,
        request: wire::Request,
    ) -> Outbound {
        Outbound {
            id: request.id,
            to,
            connector: Arc::downgrade(connector),
            attempt,
            request: Mutex::new(Some(request)),
            state: AtomicU8::new(PENDING),
            endpoint: Arc::downgrade(endpoint),
        }
    }

    /// C7, A12: the connector gave up (closed, timed out, interrupted, device down). Tells the
    /// listener's device unless the answer already came. Idempotent.
    pub(crate) fn withdraw(&self) {
        if self.state.compare_exchange(PENDING, WITHDRAWN, Relaxed, Relaxed).is_ok() {
            if let Some(ep) = self.endpoint.upgrade() {
                ep.command(Command::Withdraw(self.to, self.id));
            }
        }
    }

    /// The I/O thread takes the answer, unless the connector withdrew first.
    fn take_answer(&self) -> bool {
        self.state.compare_exchange(PENDING, ANSWERED, Relaxed, Relaxed).is_ok()
    }

    /// Deliver `a` to the connector; false when it withdrew meanwhile.
    fn answer(&self, a: Answer) -> bool {
        match self.connector.upgrade() {
            Some(c) => answer_then(&c, self.attempt, a, || {}),
            None => false,
        }
    }
}

/// What engine threads may do with one fabric connection: queue frames, and find the
/// established connections and queued requests it carries.
pub(crate) struct ConnShared {
    token: Token,
    endpoint: Weak<Endpoint>,
    out: Mutex<Vec<u8>>,
    /// Connections established through this fabric connection, by request id (K3, F7).
    links: Mutex<HashMap<u64, Weak<SocketCell>>>,
    /// Requests from the peer queued on this device, by id (F6, F8).
    requests: Mutex<HashMap<u64, Weak<Inbound>>>,
    lost: AtomicBool,
}

impl ConnShared {
    /// Queue a frame for the I/O thread to write. Dropped once the connection is lost.
    fn send(&self, f: &Frame) {
        if self.lost.load(Relaxed) {
            return;
        }
        f.encode(&mut lock(&self.out));
        if let Some(ep) = self.endpoint.upgrade() {
            ep.command(Command::Flush(self.token));
        }
    }
}

/// How a request from another device stands while it is queued here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum InState {
    Queued,
    /// ACCEPTED sent; the connector's confirmation is awaited (F6).
    Accepting,
    Confirmed,
    /// The connector withdrew, or its device was lost (F7).
    Withdrawn,
    /// Refused or rejected: answered.
    Answered,
}

/// A request from another device, queued on this device (the listener's side): the reply
/// handle its pending request answers through.
pub(crate) struct Inbound {
    id: u64,
    conn: Arc<ConnShared>,
    state: Mutex<InState>,
    changed: Condvar,
}

impl Drop for Inbound {
    fn drop(&mut self) {
        lock(&self.conn.requests).remove(&self.id);
    }
}

impl Inbound {
    fn set(&self, s: InState) {
        *lock(&self.state) = s;
        self.changed.notify_all();
    }

    pub(crate) fn is_withdrawn(&self) -> bool {
        *lock(&self.state) == InState::Withdrawn
    }

    /// C1, F5, F6: answer the connector's device. An acceptance waits for the connector's
    /// confirmation: true only when it came (the connector is connected); a withdrawal that
    /// crossed it, the loss of the connection, or no confirmation within the liveness interval
    /// give false and the connector's side is told the connection is closed.
    pub(crate) fn answer(&self, a: Answer) -> bool {
        {
            let mut st = lock(&self.state);
            if *st != InState::Queued {
                return false;
            }
            *st = match a {
                Answer::Accepted { .. } => InState::Accepting,
                Answer::Failed(_) => InState::Answered,
            };
        }
        match a {
            Answer::Failed(e) => {
                self.conn.send(&Frame::Refused { id: self.id, code: e.code() as u32 });
                true
            }
            Answer::Accepted { peer, callee_data } => {
                let PeerLink::Local(accepted) = peer else { return false };
                lock(&self.conn.links).insert(self.id, accepted);
                self.conn.send(&Frame::Accepted { id: self.id, callee_data: callee_data.into_vec() });
                let limit = self
                    .conn
                    .endpoint
                    .upgrade()
                    .map_or(DEFAULT_LIVENESS, |e| e.liveness())
                    .max(Duration::from_millis(10));
                let deadline = Instant::now() + limit;
                let mut st = lock(&self.state);
                while *st == InState::Accepting {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    st = self.changed.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
                }
                let confirmed = *st == InState::Confirmed;
                if !confirmed {
                    *st = InState::Withdrawn;
                    drop(st);
                    lock(&self.conn.links).remove(&self.id);
                    // A late confirmation finds the connection closed (F6: nothing stays connected).
                    self.conn.send(&Frame::Close { id: self.id });
                }
                confirmed
            }
        }
    }

    /// The accepted socket's link to the connector (K3).
    pub(crate) fn peer_link(&self) -> PeerLink {
        PeerLink::Remote(Arc::new(RemoteLink { conn: self.conn.clone(), id: self.id }))
    }
}

/// One end of a connection established over a fabric connection.
pub(crate) struct RemoteLink {
    conn: Arc<ConnShared>,
    id: u64,
}

impl RemoteLink {
    /// K3: tell the other end this end closed.
    pub(crate) fn close(&self) {
        lock(&self.conn.links).remove(&self.id);
        self.conn.send(&Frame::Close { id: self.id });
    }
}

/// Which way a fabric connection carries requests.
enum Dir {
    /// Opened by this device to send its requests to `peer`.
    Out { peer: SocketAddrV4, waiting: Vec<Arc<Outbound>>, sent: HashMap<u64, Arc<Outbound>> },
    /// Accepted from another device that sends its requests here.
    In,
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Phase {
    /// TCP connect in progress (outbound only), until this instant.
    Opening(Instant),
    /// HELLO sent; the peer's HELLO is awaited.
    Hello,
    /// Both hold the key: the peer's AUTH is awaited.
    Auth,
    Ready,
}

/// Why a fabric connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The TCP connection could not be opened: refused (F4).
    Refused,
    /// The TCP connection could not be opened: unreachable or no answer in time (F4).
    Unreachable,
    /// The peer does not hold the same key (F9).
    Key,
    /// Bad input (F8).
    Protocol,
    /// Broken, closed by the peer, or silent for the liveness interval (F7).
    Lost,
    /// This device leaves the fabric.
    Shutdown,
}

struct Conn {
    stream: TcpStream,
    dir: Dir,
    phase: Phase,
    nonce: [u8; NONCE],
    peer_nonce: [u8; NONCE],
    /// How soon the peer declares this side lost: this side pings within a third of it.
    peer_liveness: Duration,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    last_rx: Instant,
    last_tx: Instant,
    shared: Arc<ConnShared>,
}

struct Io {
    poll: Poll,
    listeners: Vec<TcpListener>,
    endpoint: Arc<Endpoint>,
    shared: Weak<Shared>,
    conns: HashMap<Token, Conn>,
    outbound_by_peer: HashMap<SocketAddrV4, Token>,
    next_token: usize,
}

impl Io {
    fn run(mut self) {
        crate::events::relay_from_this_thread();
        let mut events = Events::with_capacity(256);
        loop {
            if self.endpoint.stop.load(Relaxed) {
                self.shutdown();
                return;
            }
            let tick = self.conns.values().fold(self.endpoint.liveness(), |t, c| t.min(c.peer_liveness)) / 4;
            if let Err(e) = self.poll.poll(&mut events, Some(tick)) {
                if e.kind() != ErrorKind::Interrupted {
                    self.shutdown();
                    return;
                }
            }
            for ev in &events {
                match ev.token() {
                    WAKER => {}
                    Token(t) if (LISTENER_BASE..FIRST_CONN).contains(&t) => self.accept_peers(t - LISTENER_BASE),
                    t => self.ready(t),
                }
            }
            self.commands();
            self.timers();
        }
    }

    /// The device leaves: what its sockets' closes queued (CLOSE, WITHDRAW) is written first, so
    /// the peers see an orderly close (K3) rather than a lost device (F7).
    fn shutdown(&mut self) {
        self.commands();
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for t in tokens {
            self.flush(t);
            self.end(t, End::Shutdown);
        }
        self.listeners.clear();
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    fn new_conn(&mut self, mut stream: TcpStream, dir: Dir, phase: Phase) -> Option<Token> {
        let token = self.token();
        let nonce = auth::nonce().ok()?;
        self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).ok()?;
        let now = Instant::now();
        let shared = Arc::new(ConnShared {
            token,
            endpoint: Arc::downgrade(&self.endpoint),
            out: Mutex::new(Vec::new()),
            links: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            lost: AtomicBool::new(false),
        });
        let mut conn = Conn {
            stream,
            dir,
            phase,
            nonce,
            peer_nonce: [0; NONCE],
            peer_liveness: self.endpoint.liveness(),
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            last_rx: now,
            last_tx: now,
            shared,
        };
        if phase == Phase::Hello {
            self.hello(&mut conn);
        }
        self.endpoint.counters.open.fetch_add(1, Relaxed);
        self.conns.insert(token, conn);
        Some(token)
    }

    fn hello(&self, conn: &mut Conn) {
        let liveness_ms = u32::try_from(self.endpoint.liveness().as_millis()).unwrap_or(u32::MAX).max(1);
        let f =
            Frame::Hello { version: wire::VERSION, keyed: self.endpoint.key.is_some(), liveness_ms, nonce: conn.nonce };
        f.encode(&mut conn.wbuf);
        conn.phase = Phase::Hello;
    }

    fn accept_peers(&mut self, i: usize) {
        loop {
            let Some(l) = self.listeners.get(i) else { return };
            match l.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(t) = self.new_conn(stream, Dir::In, Phase::Hello) {
                        self.flush(t);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return, // out of descriptors and the like: the next event retries
            }
        }
    }

    fn commands(&mut self) {
        let cmds = std::mem::take(&mut *lock(&self.endpoint.commands));
        for c in cmds {
            match c {
                Command::Send(to, out) => self.send_request(to, out),
                Command::Withdraw(to, id) => self.withdraw(to, id),
                Command::Flush(t) => self.flush(t),
            }
        }
    }

    /// F2: requests to one remote device share one connection; open it on first use.
    fn send_request(&mut self, to: SocketAddrV4, out: Arc<Outbound>) {
        if out.state.load(Relaxed) != PENDING {
            return; // withdrawn before it left
        }
        let token = match self.outbound_by_peer.get(&to) {
            Some(t) if self.conns.contains_key(t) => *t,
            _ => match self.open(to) {
                Ok(t) => t,
                Err(end) => {
                    if out.take_answer() {
                        out.answer(Answer::Failed(end_error(end, false)));
                    }
                    return;
                }
            },
        };
        let Some(conn) = self.conns.get_mut(&token) else { return };
        let ready = conn.phase == Phase::Ready;
        if let Dir::Out { waiting, .. } = &mut conn.dir {
            waiting.push(out);
        }
        if ready {
            self.release_waiting(token);
        }
    }

    fn open(&mut self, to: SocketAddrV4) -> std::result::Result<Token, End> {
        let stream = TcpStream::connect(SocketAddr::V4(to)).map_err(|e| match e.kind() {
            ErrorKind::ConnectionRefused => End::Refused,
            _ => End::Unreachable,
        })?;
        let _ = stream.set_nodelay(true);
        let limit = self.shared.upgrade().and_then(|s| s.device.connect_timeout()).unwrap_or(OPEN_TIMEOUT);
        let dir = Dir::Out { peer: to, waiting: Vec::new(), sent: HashMap::new() };
        let token = self.new_conn(stream, dir, Phase::Opening(Instant::now() + limit)).ok_or(End::Unreachable)?;
        self.outbound_by_peer.insert(to, token);
        Ok(token)
    }

    /// Send the requests that waited for the connection to be ready.
    fn release_waiting(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else { return };
        let Dir::Out { waiting, sent, .. } = &mut conn.dir else { return };
        for out in waiting.drain(..) {
            if out.state.load(Relaxed) != PENDING {
                continue;
            }
            let req = lock(&out.request).take();
            if let Some(req) = req {
                Frame::Request(req).encode(&mut conn.wbuf);
                self.endpoint.counters.sent.fetch_add(1, Relaxed);
                sent.insert(out.id, out);
            }
        }
        self.flush(token);
    }

    fn withdraw(&mut self, to: SocketAddrV4, id: u64) {
        let Some(token) = self.outbound_by_peer.get(&to).copied() else { return };
        let Some(conn) = self.conns.get_mut(&token) else { return };
        let Dir::Out { waiting, sent, .. } = &mut conn.dir else { return };
        waiting.retain(|o| o.id != id);
        if sent.remove(&id).is_some() {
            Frame::Withdraw { id }.encode(&mut conn.wbuf);
            self.flush(token);
        }
    }

    /// Write what is queued on a connection (its own buffer and what engine threads queued).
    fn flush(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else { return };
        if matches!(conn.phase, Phase::Opening(_)) {
            return;
        }
        {
            let mut queued = lock(&conn.shared.out);
            if !queued.is_empty() {
                // Engine frames only once the handshake is done: before it, only HELLO and AUTH.
                if conn.phase == Phase::Ready {
                    conn.wbuf.append(&mut queued);
                }
            }
        }
        // F8: a peer that sends but does not read cannot make this side buffer without end.
        let mut failed = conn.wbuf.len() > MAX_UNSENT;
        while !failed && !conn.wbuf.is_empty() {
            match conn.stream.write(&conn.wbuf) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => {
                    conn.wbuf.drain(..n);
                    conn.last_tx = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            self.end(token, End::Lost);
        }
    }

    fn ready(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else { return };
        if let Phase::Opening(_) = conn.phase {
            match conn.stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    let end = if e.kind() == ErrorKind::ConnectionRefused { End::Refused } else { End::Unreachable };
                    self.end(token, end);
                    return;
                }
                Ok(None) => {}
            }
            match conn.stream.peer_addr() {
                Ok(_) => {
                    conn.last_rx = Instant::now();
                    self.hello_on(token);
                    self.flush(token); // our HELLO leaves before anything of the peer's is judged
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(_) => {
                    self.end(token, End::Unreachable);
                    return;
                }
            }
        }
        self.read(token);
        self.flush(token);
    }

    fn hello_on(&mut self, token: Token) {
        let Some(mut conn) = self.conns.remove(&token) else { return };
        self.hello(&mut conn);
        self.conns.insert(token, conn);
    }

    fn read(&mut self, token: Token) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(conn) = self.conns.get_mut(&token) else { return };
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    self.end(token, End::Lost);
                    return;
                }
                Ok(n) => conn.rbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.end(token, End::Lost);
                    return;
                }
            }
            // F8: never buffer more than one frame's worth before decoding it.
            if let Err(end) = self.frames(token) {
                self.end(token, end);
                return;
            }
        }
        if let Err(end) = self.frames(token) {
            self.end(token, end);
        }
    }

    /// Decode and handle every complete frame in the read buffer.
    fn frames(&mut self, token: Token) -> std::result::Result<(), End> {
        loop {
            let Some(conn) = self.conns.get_mut(&token) else { return Ok(()) };
            if conn.rbuf.len() < LEN_BYTES {
                return Ok(());
            }
            let prefix = [conn.rbuf[0], conn.rbuf[1], conn.rbuf[2], conn.rbuf[3]];
            let len = Frame::body_len(prefix).map_err(|_| End::Protocol)?;
            if conn.rbuf.len() < LEN_BYTES + len {
                return Ok(());
            }
            let frame = Frame::decode(&conn.rbuf[LEN_BYTES..LEN_BYTES + len]).map_err(|_: WireError| End::Protocol)?;
            conn.rbuf.drain(..LEN_BYTES + len);
            conn.last_rx = Instant::now();
            self.handle(token, frame)?;
        }
    }

    fn handle(&mut self, token: Token, frame: Frame) -> std::result::Result<(), End> {
        let Some(conn) = self.conns.get_mut(&token) else { return Ok(()) };
        match (conn.phase, frame) {
            (_, Frame::Ping) if conn.phase != Phase::Hello => Ok(()),
            (Phase::Hello, Frame::Hello { version, keyed, liveness_ms, nonce }) => {
                if version != wire::VERSION {
                    return Err(End::Protocol);
                }
                conn.peer_liveness = Duration::from_millis(u64::from(liveness_ms));
                if keyed != self.endpoint.key.is_some() {
                    return Err(End::Key); // F9: one holds a key, the other none
                }
                conn.peer_nonce = nonce;
                match &self.endpoint.key {
                    Some(key) => {
                        let role = if matches!(conn.dir, Dir::Out { .. }) { Role::Opener } else { Role::Acceptor };
                        let proof = auth::prove(key, role, &nonce, &conn.nonce);
                        Frame::Auth { proof }.encode(&mut conn.wbuf);
                        conn.phase = Phase::Auth;
                    }
                    None => self.become_ready(token),
                }
                Ok(())
            }
            (Phase::Auth, Frame::Auth { proof }) => {
                let key = self.endpoint.key.as_deref().unwrap_or_default();
                let their_role = if matches!(conn.dir, Dir::Out { .. }) { Role::Acceptor } else { Role::Opener };
                if !auth::verify(key, their_role, &conn.nonce, &conn.peer_nonce, &proof) {
                    return Err(End::Key);
                }
                self.become_ready(token);
                Ok(())
            }
            (Phase::Ready, f) => self.request_frame(token, f),
            _ => Err(End::Protocol), // F8: against the protocol's order
        }
    }

    fn become_ready(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else { return };
        conn.phase = Phase::Ready;
        if matches!(conn.dir, Dir::Out { .. }) {
            self.release_waiting(token);
        }
    }

    fn request_frame(&mut self, token: Token, frame: Frame) -> std::result::Result<(), End> {
        let Some(conn) = self.conns.get_mut(&token) else { return Ok(()) };
        let shared = conn.shared.clone();
        match (&mut conn.dir, frame) {
            // Either side closes an established connection (K3).
            (_, Frame::Close { id }) => {
                let peer = lock(&shared.links).remove(&id);
                if let Some(cell) = peer.and_then(|w| w.upgrade()) {
                    link::disconnect(&cell, None, 0);
                }
                // A CLOSE that finds an acceptance still waiting: the connector took it and closed at once.
                Ok(())
            }
            // The listener's side of a request this device sent.
            (Dir::Out { sent, .. }, Frame::Accepted { id, callee_data }) => {
                let Some(out) = sent.remove(&id) else {
                    // Withdrawn (or never sent): the acceptance cannot be taken (F6).
                    shared.send(&Frame::Withdraw { id });
                    return Ok(());
                };
                if !out.take_answer() {
                    shared.send(&Frame::Withdraw { id });
                    return Ok(());
                }
                let connector = out.connector.upgrade();
                if let Some(c) = &connector {
                    lock(&shared.links).insert(id, Arc::downgrade(c));
                }
                let link = PeerLink::Remote(Arc::new(RemoteLink { conn: shared.clone(), id }));
                if out.answer(Answer::Accepted { peer: link, callee_data: callee_data.into_boxed_slice() }) {
                    shared.send(&Frame::Confirm { id });
                } else {
                    lock(&shared.links).remove(&id);
                    shared.send(&Frame::Withdraw { id });
                }
                Ok(())
            }
            (Dir::Out { sent, .. }, Frame::Refused { id, code }) => {
                let error = refusal(code).ok_or(End::Protocol)?;
                if let Some(out) = sent.remove(&id) {
                    if out.take_answer() {
                        out.answer(Answer::Failed(error));
                    }
                }
                Ok(())
            }
            // The connector's side of a request queued here.
            (Dir::In, Frame::Request(req)) => {
                self.endpoint.counters.received.fetch_add(1, Relaxed);
                self.take_request(&shared, req)
            }
            (Dir::In, Frame::Confirm { id }) => {
                let inbound = lock(&shared.requests).get(&id).and_then(Weak::upgrade);
                if let Some(i) = inbound {
                    let mut st = lock(&i.state);
                    if *st == InState::Accepting {
                        *st = InState::Confirmed;
                        i.changed.notify_all();
                    }
                }
                Ok(())
            }
            (Dir::In, Frame::Withdraw { id }) => {
                let inbound = lock(&shared.requests).get(&id).and_then(Weak::upgrade);
                if let Some(i) = inbound {
                    let mut st = lock(&i.state);
                    if matches!(*st, InState::Queued | InState::Accepting) {
                        *st = InState::Withdrawn;
                        i.changed.notify_all();
                    }
                }
                Ok(())
            }
            _ => Err(End::Protocol),
        }
    }

    /// A request from the peer: the engine queues it or refuses it at once (F5, F8).
    fn take_request(&mut self, conn: &Arc<ConnShared>, req: wire::Request) -> std::result::Result<(), End> {
        let id = req.id;
        let inbound =
            Arc::new(Inbound { id, conn: conn.clone(), state: Mutex::new(InState::Queued), changed: Condvar::new() });
        {
            let mut requests = lock(&conn.requests);
            if requests.get(&id).is_some_and(|w| w.strong_count() > 0) {
                return Err(End::Protocol); // the same id twice
            }
            if requests.len() >= self.endpoint.max_pending_per_peer.load(Relaxed) {
                requests.retain(|_, w| w.strong_count() > 0);
            }
            if requests.len() >= self.endpoint.max_pending_per_peer.load(Relaxed) {
                drop(requests);
                inbound.set(InState::Answered);
                conn.send(&Frame::Refused { id, code: WsaError::ConnRefused.code() as u32 });
                return Ok(());
            }
            requests.insert(id, Arc::downgrade(&inbound));
        }
        let result = match self.shared.upgrade() {
            Some(sh) => sh.take_remote_request(req, inbound.clone()),
            None => Err(WsaError::HostUnreach),
        };
        if let Err(e) = result {
            inbound.set(InState::Answered);
            conn.send(&Frame::Refused { id, code: e.code() as u32 });
        }
        Ok(())
    }

    /// Liveness (F7, F8): a connection silent for the interval is lost, one still opening past
    /// its deadline is unreachable (F4); one this side has not written to for a while pings.
    fn timers(&mut self) {
        let now = Instant::now();
        let live = self.endpoint.liveness();
        let mut ended = Vec::new();
        let mut ping = Vec::new();
        for (t, c) in &self.conns {
            match c.phase {
                Phase::Opening(deadline) if now >= deadline => ended.push((*t, End::Unreachable)),
                Phase::Opening(_) => {}
                _ if now.duration_since(c.last_rx) >= live => ended.push((*t, End::Lost)),
                Phase::Ready if now.duration_since(c.last_tx) >= live.min(c.peer_liveness) / 3 => ping.push(*t),
                _ => {}
            }
        }
        for (t, end) in ended {
            self.end(t, end);
        }
        for t in ping {
            if let Some(c) = self.conns.get_mut(&t) {
                Frame::Ping.encode(&mut c.wbuf);
            }
            self.flush(t);
        }
    }

    /// Close a fabric connection and settle everything it carried (F4, F7, F8, F9).
    fn end(&mut self, token: Token, end: End) {
        let Some(mut conn) = self.conns.remove(&token) else { return };
        // A peer that hangs up while proofs are exchanged refused ours (F9: counted on both
        // sides, whichever side found the mismatch first).
        let end = if end == End::Lost && conn.phase == Phase::Auth { End::Key } else { end };
        if matches!(end, End::Key) {
            // Best effort: our HELLO or AUTH still queued tells the peer why (it counts it too).
            let _ = conn.stream.write(&conn.wbuf);
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let c = &self.endpoint.counters;
        c.open.fetch_sub(1, Relaxed);
        match end {
            End::Key => {
                c.key_failures.fetch_add(1, Relaxed);
            }
            End::Protocol => {
                c.protocol_errors.fetch_add(1, Relaxed);
                c.lost.fetch_add(1, Relaxed);
            }
            End::Lost => {
                c.lost.fetch_add(1, Relaxed);
            }
            End::Refused | End::Unreachable | End::Shutdown => {}
        }
        conn.shared.lost.store(true, Relaxed);
        let was_ready = conn.phase == Phase::Ready;
        if let Dir::Out { peer, waiting, sent } = conn.dir {
            if self.outbound_by_peer.get(&peer) == Some(&token) {
                self.outbound_by_peer.remove(&peer);
            }
            // F7: attempts waiting on a device that is gone are reset; F4, F9: a connection that
            // never became ready refuses or cannot reach.
            let error = end_error(end, was_ready);
            for out in waiting.into_iter().chain(sent.into_values()) {
                if out.take_answer() {
                    out.answer(Answer::Failed(error));
                }
            }
        }
        // F7: requests from the peer queued here are withdrawn; acceptances waiting fail.
        let queued: Vec<Arc<Inbound>> = lock(&conn.shared.requests).values().filter_map(Weak::upgrade).collect();
        for i in queued {
            let mut st = lock(&i.state);
            if matches!(*st, InState::Queued | InState::Accepting) {
                *st = InState::Withdrawn;
                i.changed.notify_all();
            }
        }
        // F7: established connections through it are aborted.
        let links: Vec<Weak<SocketCell>> = lock(&conn.shared.links).drain().map(|(_, w)| w).collect();
        for cell in links.iter().filter_map(Weak::upgrade) {
            link::disconnect(&cell, None, WsaError::ConnAborted.code());
        }
    }
}

/// The error an attempt gets when its fabric connection ends.
fn end_error(end: End, was_ready: bool) -> WsaError {
    match end {
        End::Refused | End::Key => WsaError::ConnRefused,
        End::Unreachable => WsaError::HostUnreach,
        End::Lost | End::Protocol | End::Shutdown if was_ready => WsaError::ConnReset,
        End::Lost | End::Protocol | End::Shutdown => WsaError::ConnRefused,
    }
}

/// The codes a REFUSED frame may carry (F10); anything else is bad input.
fn refusal(code: u32) -> Option<WsaError> {
    let e = WsaError::from_code(i32::try_from(code).ok()?)?;
    matches!(e, WsaError::ConnRefused | WsaError::ConnReset | WsaError::NoBufs | WsaError::HostUnreach).then_some(e)
}

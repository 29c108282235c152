//! The TCP fabric (SPEC F2-F11): devices in other processes and on other hosts reach each
//! other over kernel TCP. One I/O thread per device runs a `mio` event loop: it accepts fabric
//! peers on `NIC:port` for every NIC, opens one connection per remote device for the requests
//! this device sends, speaks the frame protocol of `wire.rs`, proves the key (`auth.rs`) and
//! declares silent peers lost. What the messages mean is the transport-agnostic `Session`'s
//! business (`session.rs`); this file is the transport. It never runs a condition function or a
//! socket hook.

use super::auth::{self, Role};
use super::carrier::Courier;
use super::faults::FaultInjector;
use super::session::{Carries, Outbound, Policy, Session, Transport};
use super::wire::{self, Frame, LEN_BYTES, NONCE, WireError};
use crate::error::{Result, WsaError};
use crate::provider::Shared;
use crate::stats::FabricStats;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The default fabric port (SPEC F2).
pub const DEFAULT_PORT: u16 = 7470;
/// The default liveness interval (SPEC F7).
pub const DEFAULT_LIVENESS: Duration = Duration::from_secs(3);
/// The default number of requests one remote device may have queued here (SPEC F8).
pub const DEFAULT_MAX_PENDING_PER_PEER: usize = 1024;
/// Fabric connections a device keeps at once (F8: a flood of silent connections is capped).
const MAX_CONNECTIONS: usize = 4096;
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

/// What engine threads hand to the I/O thread.
enum Command {
    /// Send a new request to the device at this fabric address.
    Send(SocketAddrV4, Arc<Outbound>),
    /// Frames were queued on a connection.
    Flush(Token),
}

/// The part of a device's TCP fabric that engine threads share with its I/O thread.
pub(crate) struct Endpoint {
    port: u16,
    key: Option<Vec<u8>>,
    pub(crate) policy: Arc<Policy>,
    /// The fault injector on this device's outgoing setup messages, and the thread that hands
    /// on the ones it delays.
    pub(crate) courier: Courier,
    /// This device's first NIC: where its messages come from, for partitions.
    first_nic: Ipv4Addr,
    waker: Waker,
    commands: Mutex<Vec<Command>>,
    stop: AtomicBool,
}

impl Endpoint {
    fn command(&self, c: Command) {
        lock(&self.commands).push(c);
        let _ = self.waker.wake(); // a failed wake-up is retried by the next tick
    }

    pub(crate) fn liveness(&self) -> Duration {
        self.policy.liveness()
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

    pub(crate) fn stats(&self) -> FabricStats {
        self.policy.stats()
    }

    pub(crate) fn set_liveness(&self, d: Duration) {
        self.policy.set_liveness(d);
        let _ = self.waker.wake(); // the tick follows the new interval
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
            policy: Arc::new(Policy::new(config.liveness, config.max_pending_per_peer)),
            courier: Courier::start(FaultInjector::new(0))?,
            first_nic: nics.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED),
            waker,
            commands: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
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

/// A TCP connection as a session's transport. Any thread writes a frame straight to the socket
/// when nothing is queued before it (no hand-off to the I/O thread on the connect path); what the
/// socket does not take at once is queued, in order, for the I/O thread to write when it can.
struct TcpWire {
    token: Token,
    endpoint: Weak<Endpoint>,
    stream: Arc<TcpStream>,
    out: Mutex<Outgoing>,
    lost: AtomicBool,
    /// Set once the TCP connection is up: frames before it are queued.
    connected: AtomicBool,
}

/// Bytes not yet written, and when this side last wrote (for liveness pings).
struct Outgoing {
    buf: Vec<u8>,
    last_tx: Instant,
}

thread_local! {
    /// Whether this thread is a fabric's I/O thread (it flushes without being woken).
    static ON_IO_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl TcpWire {
    /// Queue `m` and write what the socket takes now; what is left goes to the I/O thread. A
    /// failed write is left for the I/O thread to find (the connection is then lost).
    fn push(&self, m: &Frame) {
        if self.lost.load(Relaxed) {
            return;
        }
        let left = {
            let mut out = lock(&self.out);
            let was_empty = out.buf.is_empty();
            m.encode(&mut out.buf);
            if was_empty && self.connected.load(Relaxed) {
                write_some(&self.stream, &mut out);
            }
            !out.buf.is_empty()
        };
        if left {
            if let Some(ep) = self.endpoint.upgrade() {
                if ON_IO_THREAD.with(std::cell::Cell::get) {
                    lock(&ep.commands).push(Command::Flush(self.token)); // flushed later this turn
                } else {
                    ep.command(Command::Flush(self.token));
                }
            }
        }
    }

    /// Write what is queued. `Err` when the connection is broken or its peer does not read (F8).
    fn flush(&self) -> std::result::Result<(), ()> {
        let mut out = lock(&self.out);
        if out.buf.len() > MAX_UNSENT {
            return Err(()); // F8: a peer that sends but does not read cannot make us buffer without end
        }
        if write_some(&self.stream, &mut out) { Ok(()) } else { Err(()) }
    }
}

/// Write as much of `out` as the socket takes without blocking; false when the socket is broken.
fn write_some(stream: &TcpStream, out: &mut Outgoing) -> bool {
    while !out.buf.is_empty() {
        match (&*stream).write(&out.buf) {
            Ok(0) => return false,
            Ok(n) => {
                out.buf.drain(..n);
                out.last_tx = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

impl Transport for TcpWire {
    fn send(&self, m: &Frame) {
        self.push(m);
    }
}

/// Which way a fabric connection carries requests.
enum Dir {
    /// Opened by this device to send its requests to `peer`; `waiting` until the handshake is done.
    Out { peer: SocketAddrV4, waiting: Vec<Arc<Outbound>> },
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
    stream: Arc<TcpStream>,
    dir: Dir,
    phase: Phase,
    nonce: [u8; NONCE],
    peer_nonce: [u8; NONCE],
    /// How soon the peer declares this side lost: this side pings within a third of it.
    peer_liveness: Duration,
    rbuf: Vec<u8>,
    last_rx: Instant,
    wire: Arc<TcpWire>,
    session: Arc<Session>,
}

/// How long an I/O thread keeps looking for events without sleeping after the last one.
const BUSY_POLL: Duration = Duration::from_micros(100);

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
        ON_IO_THREAD.with(|f| f.set(true));
        let mut events = Events::with_capacity(256);
        let mut active = Instant::now();
        loop {
            if self.endpoint.stop.load(Relaxed) {
                self.shutdown();
                return;
            }
            // Right after traffic, look again without sleeping (yielding between looks): the
            // next message of a connect (answer, confirmation) usually follows within tens of
            // microseconds, and waking a sleeping thread costs about that much again.
            let tick = if active.elapsed() < BUSY_POLL {
                std::thread::yield_now();
                Duration::ZERO
            } else {
                self.conns.values().fold(self.endpoint.liveness(), |t, c| t.min(c.peer_liveness)) / 4
            };
            if let Err(e) = self.poll.poll(&mut events, Some(tick)) {
                if e.kind() != ErrorKind::Interrupted {
                    self.shutdown();
                    return;
                }
            }
            if !events.is_empty() {
                active = Instant::now();
            }
            for ev in &events {
                match ev.token() {
                    WAKER => {}
                    Token(t) if (LISTENER_BASE..FIRST_CONN).contains(&t) => self.accept_peers(t - LISTENER_BASE),
                    t => self.ready(t, ev.is_readable() || ev.is_read_closed() || ev.is_error(), ev.is_writable()),
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

    fn new_conn(&mut self, stream: TcpStream, dir: Dir, phase: Phase) -> Option<Token> {
        let token = self.token();
        let nonce = auth::nonce().ok()?;
        let fd = stream.as_raw_fd();
        self.poll.registry().register(&mut SourceFd(&fd), token, Interest::READABLE | Interest::WRITABLE).ok()?;
        let now = Instant::now();
        let stream = Arc::new(stream);
        let wire = Arc::new(TcpWire {
            token,
            endpoint: Arc::downgrade(&self.endpoint),
            stream: stream.clone(),
            out: Mutex::new(Outgoing { buf: Vec::new(), last_tx: now }),
            lost: AtomicBool::new(false),
            connected: AtomicBool::new(!matches!(phase, Phase::Opening(_))),
        });
        let carries = if matches!(dir, Dir::Out { .. }) { Carries::Outbound } else { Carries::Inbound };
        let peer_ip = match &dir {
            Dir::Out { peer, .. } => *peer.ip(),
            Dir::In => match stream.peer_addr() {
                Ok(std::net::SocketAddr::V4(a)) => *a.ip(),
                _ => Ipv4Addr::UNSPECIFIED,
            },
        };
        let carrier = self.endpoint.courier.wrap(wire.clone(), self.endpoint.first_nic, peer_ip);
        let session = Arc::new(Session::new(carrier, carries, self.shared.clone(), self.endpoint.policy.clone(), true));
        let mut conn = Conn {
            stream,
            dir,
            phase,
            nonce,
            peer_nonce: [0; NONCE],
            peer_liveness: self.endpoint.liveness(),
            rbuf: Vec::new(),
            last_rx: now,
            wire,
            session,
        };
        if phase == Phase::Hello {
            self.hello(&mut conn);
        }
        self.endpoint.policy.open.fetch_add(1, Relaxed);
        self.conns.insert(token, conn);
        Some(token)
    }

    fn hello(&self, conn: &mut Conn) {
        let liveness_ms = u32::try_from(self.endpoint.liveness().as_millis()).unwrap_or(u32::MAX).max(1);
        let f =
            Frame::Hello { version: wire::VERSION, keyed: self.endpoint.key.is_some(), liveness_ms, nonce: conn.nonce };
        conn.phase = Phase::Hello;
        conn.wire.push(&f);
    }

    fn accept_peers(&mut self, i: usize) {
        loop {
            let Some(l) = self.listeners.get(i) else { return };
            match l.accept() {
                Ok((stream, _)) if self.conns.len() >= MAX_CONNECTIONS => {
                    // F8: connections that never speak cost memory until the liveness interval
                    // ends them; beyond this many, a new one is closed at once.
                    drop(stream);
                }
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
                Command::Flush(t) => self.flush(t),
            }
        }
    }

    /// F2: requests to one remote device share one connection; open it on first use.
    fn send_request(&mut self, to: SocketAddrV4, out: Arc<Outbound>) {
        if !out.is_pending() {
            return; // withdrawn before it left
        }
        let token = match self.outbound_by_peer.get(&to) {
            Some(t) if self.conns.contains_key(t) => *t,
            _ => match self.open(to) {
                Ok(t) => t,
                Err(end) => {
                    out.fail(end_error(end, false));
                    return;
                }
            },
        };
        let Some(conn) = self.conns.get_mut(&token) else { return };
        if conn.phase == Phase::Ready {
            conn.session.send_request(out);
            return;
        }
        if let Dir::Out { waiting, .. } = &mut conn.dir {
            out.set_parked(true); // until the connection to the host is up (F4)
            waiting.push(out);
        }
    }

    fn open(&mut self, to: SocketAddrV4) -> std::result::Result<Token, End> {
        let stream = TcpStream::connect(SocketAddr::V4(to)).map_err(|e| match e.kind() {
            ErrorKind::ConnectionRefused => End::Refused,
            _ => End::Unreachable,
        })?;
        let _ = stream.set_nodelay(true);
        let limit = self.shared.upgrade().and_then(|s| s.device.connect_timeout()).unwrap_or(OPEN_TIMEOUT);
        let dir = Dir::Out { peer: to, waiting: Vec::new() };
        let token = self.new_conn(stream, dir, Phase::Opening(Instant::now() + limit)).ok_or(End::Unreachable)?;
        self.outbound_by_peer.insert(to, token);
        Ok(token)
    }

    /// Send the requests that waited for the connection to be ready.
    fn release_waiting(&mut self, token: Token) {
        let Some(conn) = self.conns.get_mut(&token) else { return };
        let Dir::Out { waiting, .. } = &mut conn.dir else { return };
        for out in waiting.drain(..) {
            out.set_parked(false);
            conn.session.send_request(out); // one its connector withdrew meanwhile is not sent
        }
        self.flush(token);
    }

    /// Write what is queued on a connection.
    fn flush(&mut self, token: Token) {
        let Some(conn) = self.conns.get(&token) else { return };
        if matches!(conn.phase, Phase::Opening(_)) {
            return;
        }
        if conn.wire.flush().is_err() {
            self.end(token, End::Lost);
        }
    }

    fn ready(&mut self, token: Token, readable: bool, writable: bool) {
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
                    conn.wire.connected.store(true, Relaxed);
                    self.hello_on(token); // our HELLO leaves before anything of the peer's is judged
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(_) => {
                    self.end(token, End::Unreachable);
                    return;
                }
            }
        }
        if readable {
            self.read(token);
        }
        if writable {
            self.flush(token);
        }
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
            let mut drained = false;
            match (&*conn.stream).read(&mut buf) {
                Ok(0) => {
                    self.end(token, End::Lost);
                    return;
                }
                Ok(n) => {
                    conn.rbuf.extend_from_slice(&buf[..n]);
                    // A short read emptied the socket; new data raises a new event (epoll on
                    // Linux signals every arrival), so no read is spent on an empty socket.
                    drained = n < buf.len();
                }
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
            if drained {
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
                        conn.phase = Phase::Auth;
                        conn.wire.push(&Frame::Auth { proof });
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
            (Phase::Ready, f) => conn.session.receive(f).map_err(|_| End::Protocol),
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
                Phase::Ready if now.duration_since(lock(&c.wire.out).last_tx) >= live.min(c.peer_liveness) / 3 => {
                    ping.push(*t)
                }
                _ => {}
            }
        }
        for (t, end) in ended {
            self.end(t, end);
        }
        for t in ping {
            if let Some(c) = self.conns.get(&t) {
                c.wire.push(&Frame::Ping);
            }
        }
    }

    /// Close a fabric connection and settle everything it carried (F4, F7, F8, F9).
    fn end(&mut self, token: Token, end: End) {
        let Some(conn) = self.conns.remove(&token) else { return };
        // A peer that hangs up while proofs are exchanged refused ours (F9: counted on both
        // sides, whichever side found the mismatch first).
        let end = if end == End::Lost && conn.phase == Phase::Auth { End::Key } else { end };
        if matches!(end, End::Key) {
            // Best effort: our HELLO or AUTH still queued tells the peer why (it counts it too).
            let _ = conn.wire.flush();
        }
        let _ = self.poll.registry().deregister(&mut SourceFd(&conn.stream.as_raw_fd()));
        let c = &self.endpoint.policy;
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
        conn.wire.lost.store(true, Relaxed);
        let was_ready = conn.phase == Phase::Ready;
        // F7: attempts waiting on a device that is gone are reset; F4, F9: a connection that never
        // became ready refuses or cannot reach.
        let error = end_error(end, was_ready);
        if let Dir::Out { peer, waiting } = conn.dir {
            if self.outbound_by_peer.get(&peer) == Some(&token) {
                self.outbound_by_peer.remove(&peer);
            }
            for out in waiting {
                out.fail(error);
            }
        }
        conn.session.lost(error);
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

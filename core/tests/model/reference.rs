//! A reference model of the behaviour contract (docs/behaviour.md) sections 3 to 9 (and the README's "Where wspsan decided"), for
//! single-threaded call sequences. It is written from those texts alone: it imports nothing from
//! `wspsan_core`, keeps its own state types and speaks in the Windows numbers of SPEC section 1.
//! It favours being obviously right over being fast: lists are searched linearly, nothing is
//! cached, every socket ever made stays in `socks` (closed ones too, so stale descriptors can be
//! tested).
//!
//! Where the contract and the README leave a point open (mostly the order in which two failing checks
//! are made), the choice is marked "open:" in a comment.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

// SPEC 1: error values, as Windows numbers them.
pub const WSAEACCES: i32 = 10013;
pub const WSAEINVAL: i32 = 10022;
pub const WSAEMFILE: i32 = 10024;
pub const WSAEWOULDBLOCK: i32 = 10035;
pub const WSAEALREADY: i32 = 10037;
pub const WSAENOTSOCK: i32 = 10038;
pub const WSAEPROTONOSUPPORT: i32 = 10043;
pub const WSAESOCKTNOSUPPORT: i32 = 10044;
pub const WSAEAFNOSUPPORT: i32 = 10047;
pub const WSAEADDRINUSE: i32 = 10048;
pub const WSAEADDRNOTAVAIL: i32 = 10049;
pub const WSAENETDOWN: i32 = 10050;
pub const WSAECONNRESET: i32 = 10054;
pub const WSAENOBUFS: i32 = 10055;
pub const WSAEISCONN: i32 = 10056;
pub const WSAENOTCONN: i32 = 10057;
pub const WSAECONNREFUSED: i32 = 10061;
pub const WSATRY_AGAIN: i32 = 11002;

/// The Windows name of an error number, for readable failure messages.
pub fn error_name(code: i32) -> &'static str {
    match code {
        0 => "0",
        WSAEACCES => "WSAEACCES",
        WSAEINVAL => "WSAEINVAL",
        WSAEMFILE => "WSAEMFILE",
        WSAEWOULDBLOCK => "WSAEWOULDBLOCK",
        WSAEALREADY => "WSAEALREADY",
        WSAENOTSOCK => "WSAENOTSOCK",
        WSAEPROTONOSUPPORT => "WSAEPROTONOSUPPORT",
        WSAESOCKTNOSUPPORT => "WSAESOCKTNOSUPPORT",
        WSAEAFNOSUPPORT => "WSAEAFNOSUPPORT",
        WSAEADDRINUSE => "WSAEADDRINUSE",
        WSAEADDRNOTAVAIL => "WSAEADDRNOTAVAIL",
        WSAENETDOWN => "WSAENETDOWN",
        WSAECONNRESET => "WSAECONNRESET",
        WSAENOBUFS => "WSAENOBUFS",
        WSAEISCONN => "WSAEISCONN",
        WSAENOTCONN => "WSAENOTCONN",
        WSAECONNREFUSED => "WSAECONNREFUSED",
        WSATRY_AGAIN => "WSATRY_AGAIN",
        _ => "(another code)",
    }
}

// SPEC 1: constants.
pub const AF_INET: i32 = 2;
pub const SOCK_STREAM: i32 = 1;
pub const IPPROTO_TCP: i32 = 6;
pub const SOMAXCONN: i32 = 0x7fff_ffff;
/// The platform's (glibc) `SOMAXCONN`, which SPEC 1 says means the same as 0x7fffffff.
pub const PLATFORM_SOMAXCONN: i32 = 4096;
pub const FD_ACCEPT_BIT: usize = 3;
pub const FD_CONNECT_BIT: usize = 4;
pub const FD_CLOSE_BIT: usize = 5;
pub const FD_ACCEPT: u32 = 1 << FD_ACCEPT_BIT;
pub const FD_CONNECT: u32 = 1 << FD_CONNECT_BIT;
pub const FD_CLOSE: u32 = 1 << FD_CLOSE_BIT;
/// The ten `FD_*` bits (`FD_MAX_EVENTS` = 10).
pub const FD_ALL: u32 = (1 << 10) - 1;
/// SPEC B1: the port range of port-0 and implicit binds.
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// A socket of the model: an index into [`Model::socks`]; `None` stands for a descriptor the
/// provider never handed out.
pub type Sid = Option<usize>;

/// Bytes (caller or callee data), shown by length in failure traces.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// What a condition function answers (SPEC A6 to A10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Reject,
    Defer,
    /// Any other return value (A10).
    Other(i32),
}

/// The condition an accept runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `lpfnCondition` NULL: accept unconditionally (A6).
    Null,
    /// A function that writes `callee` (cut to the buffer's capacity), optionally changes `*g`,
    /// and answers `answer`.
    Fn { answer: Answer, callee: Bytes, set_group: bool },
}

/// What the condition function is shown (SPEC A5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub caller: SocketAddrV4,
    pub callee: SocketAddrV4,
    pub caller_data: Option<Vec<u8>>,
    /// `Some(true)`: the connector's QoS, unchanged; `None`: no QoS (`lpSQOS` NULL).
    pub qos: Option<bool>,
    pub capacity: usize,
    pub group: u32,
}

/// A call, with its sockets resolved.
#[derive(Clone, Debug)]
pub enum Call {
    Socket { af: i32, ty: i32, protocol: i32 },
    Bind { s: Sid, addr: SocketAddrV4 },
    Listen { s: Sid, backlog: i32 },
    Connect { s: Sid, to: SocketAddrV4, data: Option<Bytes>, qos: bool },
    Accept { s: Sid, cond: Cond },
    Close { s: Sid },
    SockName { s: Sid },
    PeerName { s: Sid },
    SoError { s: Sid },
    AcceptConn { s: Sid },
    NonBlocking { s: Sid, on: bool },
    EventSelect { s: Sid, mask: u32, event: usize },
    EnumEvents { s: Sid, reset: Option<usize> },
    NetworkDown(bool),
    BufferExhaustion(bool),
    DescriptorLimit(Option<usize>),
    Limits(Limits),
}

/// The device limits the model tracks (SPEC D1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_descriptors: usize,
    pub max_backlog: u32,
    pub max_caller_data: usize,
    pub max_callee_data: usize,
    pub max_pending: usize,
}

impl Default for Limits {
    /// SPEC D1 defaults.
    fn default() -> Limits {
        Limits {
            max_descriptors: 65536,
            max_backlog: 4096,
            max_caller_data: 256,
            max_callee_data: 256,
            max_pending: 1 << 20,
        }
    }
}

/// The result of a call as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success with nothing to report.
    Done,
    /// Failure with this error number.
    Fail(i32),
    /// A new socket; the model appended it to `socks`.
    Created,
    Addr(SocketAddrV4),
    Value(i32),
    /// `WSPEnumNetworkEvents`: the bits reported and the error code of each.
    Events {
        bits: u32,
        codes: Vec<(usize, i32)>,
    },
    /// A successful accept: the new socket was appended to `socks`.
    Accepted {
        peer: SocketAddrV4,
    },
    /// A failed accept and the address of the request it examined (A13); a failure that
    /// examined no request is a plain `Fail`.
    AcceptFailed {
        code: i32,
        examined: Option<SocketAddrV4>,
    },
    /// The call would block: the harness must not make it (only the dry run sees this).
    WouldWait,
}

/// Per-listener counters (SPEC D3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub queued: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub deferred: u64,
    pub refused_full: u64,
    pub reset: u64,
    pub withdrawn: u64,
}

#[derive(Clone, Debug)]
pub struct Listening {
    /// The effective backlog (L5).
    pub backlog: u32,
    /// Request ids, oldest first.
    pub queue: VecDeque<usize>,
    /// L9.
    pub exhausted: bool,
    /// E2: FD_ACCEPT is recorded on arrival; cleared by a CF_DEFER answer.
    pub accept_enabled: bool,
    /// E2: FD_ACCEPT was recorded since the last re-enabling accept: a selection records nothing new.
    pub accept_posted: bool,
    pub stats: Stats,
}

#[derive(Clone, Debug)]
pub enum State {
    Unbound,
    Bound,
    Listening(Listening),
    /// A non-blocking connect whose request `req` waits in a queue.
    Connecting {
        req: usize,
        remote: SocketAddrV4,
    },
    Connected {
        remote: SocketAddrV4,
        peer: usize,
    },
    /// Was connected; the other end closed (K3).
    Disconnected,
}

#[derive(Clone, Debug)]
pub struct Sock {
    pub open: bool,
    pub state: State,
    pub local: Option<SocketAddrV4>,
    /// Whether `local` holds the address and port (accepted sockets share their listener's).
    pub owns_port: bool,
    /// README (A15): a connector bound to the wildcard is named, once connected, by the NIC it
    /// connected to; its binding (`local`, what conflicts) stays the wildcard.
    pub connected_from: Option<Ipv4Addr>,
    pub nonblocking: bool,
    pub so_error: i32,
    pub recorded: u32,
    pub codes: [i32; 10],
    pub mask: u32,
    pub event: Option<usize>,
    pub callee_data: Vec<u8>,
}

impl Sock {
    fn new() -> Sock {
        Sock {
            open: true,
            state: State::Unbound,
            local: None,
            owns_port: false,
            connected_from: None,
            nonblocking: false, // S1: sockets start blocking
            so_error: 0,
            recorded: 0,
            codes: [0; 10],
            mask: 0,
            event: None,
            callee_data: Vec::new(),
        }
    }
}

/// A pending request (SPEC section 0).
#[derive(Clone, Debug)]
pub struct Request {
    pub connector: usize,
    pub caller: SocketAddrV4,
    pub callee: SocketAddrV4,
    pub data: Option<Vec<u8>>,
    pub qos: bool,
    /// A12: the connector closed before accept reached the request.
    pub withdrawn: bool,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub nics: Vec<Ipv4Addr>,
    pub wildcard_bind: bool,
    pub limits: Limits,
    pub network_down: bool,
    pub buffer_exhaustion: bool,
    pub descriptor_fault: Option<usize>,
    pub socks: Vec<Sock>,
    pub reqs: Vec<Request>,
    /// Whether each event object is signalled.
    pub signalled: Vec<bool>,
    /// What the last accept's condition function was shown (None: it did not run).
    pub last_view: Option<View>,
    /// D3: connects refused because nothing listened on the address.
    pub refused_no_listener: u64,
}

/// SPEC L5: the effective backlog.
pub fn effective_backlog(requested: i32, max_backlog: u32) -> u32 {
    let max = max_backlog.max(1); // the device takes a maximum of 0 as 1
    if requested == SOMAXCONN || requested == PLATFORM_SOMAXCONN {
        max
    } else if requested < 0 {
        // SOMAXCONN_HINT(N) = -N: N clamped into 200..65535, then to the device maximum
        let n = i64::from(requested).unsigned_abs().clamp(200, 65535) as u32;
        n.min(max)
    } else if requested == 0 {
        1
    } else {
        (requested as u32).min(max)
    }
}

type Oracle<'a> = &'a mut dyn FnMut(usize) -> Option<u16>;

impl Model {
    pub fn new(nics: Vec<Ipv4Addr>, wildcard_bind: bool, events: usize) -> Model {
        Model {
            nics,
            wildcard_bind,
            limits: Limits::default(),
            network_down: false,
            buffer_exhaustion: false,
            descriptor_fault: None,
            socks: Vec::new(),
            reqs: Vec::new(),
            signalled: vec![false; events],
            last_view: None,
            refused_no_listener: 0,
        }
    }

    pub fn open_count(&self) -> usize {
        self.socks.iter().filter(|s| s.open).count()
    }

    /// D1: pending requests on the whole device.
    pub fn pending(&self) -> usize {
        self.socks
            .iter()
            .filter(|s| s.open)
            .map(|s| match &s.state {
                State::Listening(l) => l.queue.len(),
                _ => 0,
            })
            .sum()
    }

    /// D1, D2: whether one more descriptor could be opened.
    fn descriptor_free(&self) -> bool {
        let limit = self.limits.max_descriptors.min(self.descriptor_fault.unwrap_or(usize::MAX));
        self.open_count() < limit
    }

    fn is_nic(&self, ip: Ipv4Addr) -> bool {
        self.nics.contains(&ip)
    }

    /// D2 then K1/X4: the checks every call on a socket starts with.
    fn live(&self, s: Sid) -> Result<usize, i32> {
        if self.network_down {
            return Err(WSAENETDOWN);
        }
        match s {
            Some(i) if self.socks[i].open => Ok(i),
            _ => Err(WSAENOTSOCK),
        }
    }

    /// B1: whether (ip, port) conflicts with a binding held now (wildcards conflict with all).
    fn conflicts(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.socks
            .iter()
            .filter(|s| s.open && s.owns_port)
            .filter_map(|s| s.local)
            .any(|a| a.port() == port && (*a.ip() == ip || a.ip().is_unspecified() || ip.is_unspecified()))
    }

    /// B1, C4: a free port of 49152..65535 for `ip`. The engine's choice (`oracle`) is taken
    /// when it is a legal one; which free port is picked is not part of the contract.
    fn ephemeral(&self, s: usize, ip: Ipv4Addr, oracle: Oracle<'_>) -> Result<u16, String> {
        match oracle(s) {
            Some(p) if !EPHEMERAL.contains(&p) => Err(format!("SPEC B1: ephemeral port {p} outside 49152..65535")),
            Some(p) if self.conflicts(ip, p) => Err(format!("SPEC B1: ephemeral port {p} on {ip} is already taken")),
            Some(p) => Ok(p),
            None => Ok(EPHEMERAL.clone().find(|&p| !self.conflicts(ip, p)).expect("a free port")),
        }
    }

    /// B2, C3: the socket bound to `to`: the exact address, or a wildcard binding on its port
    /// when `to` is a NIC of the device.
    fn bound_at(&self, to: SocketAddrV4) -> Option<usize> {
        let held = |i: &usize| {
            let s = &self.socks[*i];
            s.open && s.owns_port && s.local.is_some_and(|a| a.port() == to.port())
        };
        let ids = || (0..self.socks.len()).filter(held);
        ids().find(|&i| self.socks[i].local.is_some_and(|a| a.ip() == to.ip())).or_else(|| {
            ids().find(|&i| self.socks[i].local.is_some_and(|a| a.ip().is_unspecified()) && self.is_nic(*to.ip()))
        })
    }

    fn signal(&mut self, event: Option<usize>) {
        if let Some(e) = event {
            self.signalled[e] = true;
        }
    }

    /// Record a network event (SPEC section 8): a bit already recorded keeps its first code and
    /// is not signalled again (E4: nothing is reported twice); a selected one signals.
    fn record(&mut self, s: usize, bit: usize, code: i32) {
        let sock = &mut self.socks[s];
        if sock.recorded & (1 << bit) != 0 {
            return;
        }
        sock.recorded |= 1 << bit;
        sock.codes[bit] = code;
        if sock.mask & (1 << bit) != 0 {
            let e = sock.event;
            self.signal(e);
        }
    }

    /// E2: after a re-enabling accept, FD_ACCEPT is recorded and signalled again while
    /// requests are queued; with the queue empty a recorded FD_ACCEPT is cleared (README).
    fn rearm_accept(&mut self, l: usize) {
        let sock = &mut self.socks[l];
        let State::Listening(q) = &mut sock.state else { unreachable!("rearm on a listener") };
        q.accept_enabled = true;
        q.accept_posted = false;
        if q.queue.is_empty() {
            sock.recorded &= !FD_ACCEPT;
        } else {
            q.accept_posted = true;
            sock.recorded |= FD_ACCEPT;
            sock.codes[FD_ACCEPT_BIT] = 0;
            if sock.mask & FD_ACCEPT != 0 {
                let e = sock.event;
                self.signal(e);
            }
        }
    }

    /// C1, C2: the listener's answer reaches a non-blocking connector as SO_ERROR and
    /// FD_CONNECT. A withdrawn request (A12) has nobody to answer.
    fn answer(&mut self, req: usize, result: Result<usize, i32>, callee_data: Vec<u8>) {
        let r = &self.reqs[req];
        if r.withdrawn {
            return;
        }
        let c = r.connector;
        let State::Connecting { req: waiting, remote } = self.socks[c].state else {
            unreachable!("a request that is not withdrawn has its connector waiting")
        };
        assert_eq!(waiting, req, "model: the connector waits for this request");
        let code = match result {
            Ok(peer) => {
                self.socks[c].connected_from = Some(*remote.ip());
                self.socks[c].state = State::Connected { remote, peer };
                self.socks[c].callee_data = callee_data;
                0
            }
            Err(e) => {
                self.socks[c].state = State::Bound; // C6: may connect again
                e
            }
        };
        self.socks[c].so_error = code;
        self.record(c, FD_CONNECT_BIT, code); // E5
    }

    /// Apply a call. `oracle` gives the port the engine picked for a port-0 or implicit bind
    /// (None: pick one). An `Err` is a SPEC violation seen in the engine's choice.
    pub fn apply(&mut self, call: &Call, oracle: Oracle<'_>) -> Result<Outcome, String> {
        self.last_view = None;
        let out = match call {
            Call::Socket { af, ty, protocol } => self.socket(*af, *ty, *protocol),
            Call::Bind { s, addr } => return self.bind(*s, *addr, oracle),
            Call::Listen { s, backlog } => self.listen(*s, *backlog),
            Call::Connect { s, to, data, qos } => {
                return self.connect(*s, *to, data.as_ref().map(|d| d.0.clone()), *qos, oracle);
            }
            Call::Accept { s, cond } => self.accept(*s, cond),
            Call::Close { s } => self.close(*s),
            Call::SockName { s } => self.with(*s, |m, i| match m.socks[i].local {
                Some(a) if a.ip().is_unspecified() && m.socks[i].connected_from.is_some() => {
                    Outcome::Addr(SocketAddrV4::new(m.socks[i].connected_from.unwrap_or(*a.ip()), a.port()))
                }
                Some(a) => Outcome::Addr(a),
                None => Outcome::Fail(WSAEINVAL), // A15: not bound
            }),
            Call::PeerName { s } => self.with(*s, |m, i| match m.socks[i].state {
                State::Connected { remote, .. } => Outcome::Addr(remote),
                _ => Outcome::Fail(WSAENOTCONN), // A15, K3
            }),
            // C2 (decided): reading SO_ERROR does not clear it; the next connect attempt does
            Call::SoError { s } => self.with(*s, |m, i| Outcome::Value(m.socks[i].so_error)),
            Call::AcceptConn { s } => self.with(*s, |m, i| {
                Outcome::Value(i32::from(matches!(m.socks[i].state, State::Listening(_)))) // L8
            }),
            Call::NonBlocking { s, on } => self.with(*s, |m, i| {
                let sock = &mut m.socks[i];
                if !on && sock.mask != 0 {
                    return Outcome::Fail(WSAEINVAL); // E6
                }
                sock.nonblocking = *on;
                Outcome::Done
            }),
            Call::EventSelect { s, mask, event } => self.event_select(*s, *mask, *event),
            Call::EnumEvents { s, reset } => self.with(*s, |m, i| {
                // E4: take and clear the recorded events in the selection (the others stay
                // recorded, E5), then reset the given event object
                let sock = &mut m.socks[i];
                let bits = sock.recorded & sock.mask;
                sock.recorded &= !bits;
                let codes = (0..10).filter(|b| bits & (1 << b) != 0).map(|b| (b, sock.codes[b])).collect();
                if let Some(e) = reset {
                    m.signalled[*e] = false;
                }
                Outcome::Events { bits, codes }
            }),
            Call::NetworkDown(on) => {
                self.network_down = *on;
                Outcome::Done
            }
            Call::BufferExhaustion(on) => {
                self.buffer_exhaustion = *on;
                Outcome::Done
            }
            Call::DescriptorLimit(limit) => {
                self.descriptor_fault = *limit;
                Outcome::Done
            }
            Call::Limits(l) => {
                self.limits = *l;
                Outcome::Done
            }
        };
        Ok(out)
    }

    fn with(&mut self, s: Sid, f: impl FnOnce(&mut Model, usize) -> Outcome) -> Outcome {
        match self.live(s) {
            Ok(i) => f(self, i),
            Err(e) => Outcome::Fail(e),
        }
    }

    /// S1.
    fn socket(&mut self, af: i32, ty: i32, protocol: i32) -> Outcome {
        if self.network_down {
            return Outcome::Fail(WSAENETDOWN);
        }
        if af != AF_INET {
            return Outcome::Fail(WSAEAFNOSUPPORT);
        }
        if ty != SOCK_STREAM {
            return Outcome::Fail(WSAESOCKTNOSUPPORT);
        }
        if protocol != 0 && protocol != IPPROTO_TCP {
            return Outcome::Fail(WSAEPROTONOSUPPORT);
        }
        // open: D2 buffer exhaustion is checked before the descriptor limit
        if self.buffer_exhaustion {
            return Outcome::Fail(WSAENOBUFS);
        }
        if !self.descriptor_free() {
            return Outcome::Fail(WSAEMFILE);
        }
        self.socks.push(Sock::new());
        Outcome::Created
    }

    /// B1, B2.
    fn bind(&mut self, s: Sid, addr: SocketAddrV4, oracle: Oracle<'_>) -> Result<Outcome, String> {
        let i = match self.live(s) {
            Ok(i) => i,
            Err(e) => return Ok(Outcome::Fail(e)),
        };
        // open: "already bound" is checked before the address
        if !matches!(self.socks[i].state, State::Unbound) {
            return Ok(Outcome::Fail(WSAEINVAL));
        }
        let ip = *addr.ip();
        if ip.is_unspecified() {
            if !self.wildcard_bind {
                return Ok(Outcome::Fail(WSAEADDRNOTAVAIL)); // B2: wildcard binds switched off
            }
        } else if !self.is_nic(ip) {
            return Ok(Outcome::Fail(WSAEADDRNOTAVAIL));
        }
        let port = if addr.port() == 0 {
            self.ephemeral(i, ip, oracle)?
        } else if self.conflicts(ip, addr.port()) {
            return Ok(Outcome::Fail(WSAEADDRINUSE));
        } else {
            addr.port()
        };
        let sock = &mut self.socks[i];
        sock.local = Some(SocketAddrV4::new(ip, port));
        sock.owns_port = true;
        sock.state = State::Bound;
        Ok(Outcome::Done)
    }

    /// L1 to L9.
    fn listen(&mut self, s: Sid, backlog: i32) -> Outcome {
        let i = match self.live(s) {
            Ok(i) => i,
            Err(e) => return Outcome::Fail(e),
        };
        let eff = effective_backlog(backlog, self.limits.max_backlog);
        let descriptor_free = self.descriptor_free();
        match &mut self.socks[i].state {
            State::Unbound => Outcome::Fail(WSAEINVAL), // L2
            State::Connecting { .. } | State::Connected { .. } | State::Disconnected => Outcome::Fail(WSAEISCONN), // L3
            State::Bound => {
                if !descriptor_free {
                    return Outcome::Fail(WSAEMFILE); // L9
                }
                if self.buffer_exhaustion {
                    // open: D2 buffer exhaustion fails a first listen too (its queue is an
                    // allocation; the WSPListen page lists WSAENOBUFS)
                    return Outcome::Fail(WSAENOBUFS);
                }
                self.socks[i].state = State::Listening(Listening {
                    backlog: eff,
                    queue: VecDeque::new(),
                    exhausted: false,
                    accept_enabled: true,
                    accept_posted: false,
                    stats: Stats::default(),
                });
                Outcome::Done
            }
            State::Listening(q) => {
                // L6: the latest backlog wins; the newest excess requests are reset
                q.backlog = eff;
                let excess: Vec<usize> = q.queue.split_off(q.queue.len().min(eff as usize)).into();
                q.stats.reset += excess.len() as u64;
                if descriptor_free {
                    q.exhausted = false; // L9
                }
                for r in excess.into_iter().rev() {
                    self.answer(r, Err(WSAECONNRESET), Vec::new());
                }
                Outcome::Done
            }
        }
    }

    /// C1 to C7 for a non-blocking connect, or a blocking one that fails at once.
    fn connect(
        &mut self,
        s: Sid,
        to: SocketAddrV4,
        data: Option<Vec<u8>>,
        qos: bool,
        oracle: Oracle<'_>,
    ) -> Result<Outcome, String> {
        let i = match self.live(s) {
            Ok(i) => i,
            Err(e) => return Ok(Outcome::Fail(e)),
        };
        match self.socks[i].state {
            State::Unbound | State::Bound => {}
            State::Listening(_) => return Ok(Outcome::Fail(WSAEINVAL)), // C3
            State::Connecting { .. } => return Ok(Outcome::Fail(WSAEALREADY)), // C3
            State::Connected { .. } | State::Disconnected => return Ok(Outcome::Fail(WSAEISCONN)), // C3
        }
        if to.ip().is_unspecified() || to.port() == 0 {
            return Ok(Outcome::Fail(WSAEADDRNOTAVAIL)); // C3
        }
        // README: caller data of length 0 counts as none
        let data = data.filter(|d| !d.is_empty());
        if data.as_ref().is_some_and(|d| d.len() > self.limits.max_caller_data) {
            return Ok(Outcome::Fail(WSAENOBUFS)); // C5
        }
        // open: buffer exhaustion (D2) is checked before the target is looked up
        if self.buffer_exhaustion {
            return Ok(Outcome::Fail(WSAENOBUFS));
        }
        if !self.is_nic(*to.ip()) {
            // README: an address that is not a NIC is refused. There is no NIC to bind to
            // implicitly (C4), so an unbound socket stays unbound.
            self.refused_no_listener += 1;
            return Ok(Outcome::Fail(WSAECONNREFUSED));
        }
        if matches!(self.socks[i].state, State::Unbound) {
            // C4: bound implicitly to the NIC the target is on, and a free port
            let port = self.ephemeral(i, *to.ip(), oracle)?;
            let sock = &mut self.socks[i];
            sock.local = Some(SocketAddrV4::new(*to.ip(), port));
            sock.owns_port = true;
            sock.state = State::Bound;
        }
        let Some(l) = self.bound_at(to) else {
            self.refused_no_listener += 1;
            return Ok(Outcome::Fail(WSAECONNREFUSED)); // C3: nobody listening there
        };
        // open: the device-wide pending limit (README: WSAENOBUFS) is checked once a socket is
        // found at the address, before whether it listens
        if self.pending() >= self.limits.max_pending {
            return Ok(Outcome::Fail(WSAENOBUFS));
        }
        if !matches!(self.socks[l].state, State::Listening(_)) {
            self.refused_no_listener += 1;
            return Ok(Outcome::Fail(WSAECONNREFUSED)); // C3: bound there, but not listening
        }
        let nonblocking = self.socks[i].nonblocking;
        let local = self.socks[i].local.expect("bound above");
        let listener_mask = self.socks[l].mask;
        let State::Listening(q) = &mut self.socks[l].state else { unreachable!() };
        if q.exhausted || q.queue.len() >= q.backlog as usize {
            q.stats.refused_full += 1;
            return Ok(Outcome::Fail(WSAECONNREFUSED)); // L7, L9: refused at once, no event
        }
        if !nonblocking {
            return Ok(Outcome::WouldWait); // C2: a blocking connect would wait for the answer
        }
        // open: the caller's address is a real one: a wildcard-bound connector speaks from the NIC
        // the target is on (C4, A15: the accepted socket's peer is the connector's address).
        // Its own WSPGetSockName reports 0.0.0.0 and the port until the connect completes.
        let caller_ip = if local.ip().is_unspecified() { *to.ip() } else { *local.ip() };
        let req = self.reqs.len();
        self.reqs.push(Request {
            connector: i,
            caller: SocketAddrV4::new(caller_ip, local.port()),
            callee: to,
            data,
            qos,
            withdrawn: false,
        });
        q.queue.push_back(req);
        q.stats.queued += 1;
        let enabled = q.accept_enabled;
        let posts = enabled && listener_mask & FD_ACCEPT != 0;
        q.accept_posted |= posts;
        let sock = &mut self.socks[i];
        sock.state = State::Connecting { req, remote: to };
        // open (E5), C2: FD_CONNECT and SO_ERROR report this attempt; an earlier one's are stale
        sock.recorded &= !FD_CONNECT;
        sock.so_error = 0;
        if enabled && self.socks[l].mask & FD_ACCEPT != 0 {
            self.record(l, FD_ACCEPT_BIT, 0); // README: recorded on arrival when selected and enabled
        }
        Ok(Outcome::Fail(WSAEWOULDBLOCK)) // C2
    }

    /// A1 to A13.
    fn accept(&mut self, s: Sid, cond: &Cond) -> Outcome {
        let l = match self.live(s) {
            Ok(i) => i,
            Err(e) => return Outcome::Fail(e),
        };
        let descriptor_free = self.descriptor_free();
        let nobufs = self.buffer_exhaustion;
        let nonblocking = self.socks[l].nonblocking;
        let State::Listening(q) = &mut self.socks[l].state else {
            return Outcome::Fail(WSAEINVAL); // A1
        };
        if q.queue.is_empty() {
            if descriptor_free {
                q.exhausted = false; // L9
            }
            if !nonblocking {
                return Outcome::WouldWait; // A2: a blocking accept waits
            }
            self.rearm_accept(l); // E2: re-enabled; nothing queued, so FD_ACCEPT is cleared
            return Outcome::Fail(WSAEWOULDBLOCK); // A2
        }
        if !descriptor_free {
            // A11, L9: the request stays at the head, the listener is exhausted
            q.exhausted = true;
            self.rearm_accept(l); // E2: every accept but a deferring one re-enables
            return Outcome::Fail(WSAEMFILE);
        }
        q.exhausted = false; // L9: an accept made while a descriptor is free
        if nobufs {
            // open: with both faults on, WSAEMFILE (above) wins
            self.rearm_accept(l);
            return Outcome::Fail(WSAENOBUFS); // A11: the request stays
        }
        let head = q.queue[0];
        let r = self.reqs[head].clone();
        if r.withdrawn {
            // A12: the accept that reaches a withdrawn request fails and removes it
            q.queue.pop_front();
            q.stats.withdrawn += 1;
            self.rearm_accept(l);
            return Outcome::AcceptFailed { code: WSAEACCES, examined: Some(r.caller) };
        }
        let capacity = self.limits.max_callee_data;
        let (answer, callee) = match cond {
            Cond::Null => (Answer::Accept, Vec::new()), // A6
            Cond::Fn { answer, callee, set_group } => {
                // A5: what the condition function is shown
                self.last_view = Some(View {
                    caller: r.caller,
                    callee: r.callee,
                    caller_data: r.data.clone(),
                    qos: r.qos.then_some(true),
                    capacity,
                    group: 0,
                });
                let callee = callee.0[..callee.0.len().min(capacity)].to_vec();
                // A10: *g changed to non-zero makes any answer invalid
                (if *set_group { Answer::Other(-1) } else { *answer }, callee)
            }
        };
        let State::Listening(q) = &mut self.socks[l].state else { unreachable!() };
        match answer {
            Answer::Defer => {
                // A9: the request stays at the head; E2: FD_ACCEPT is not re-enabled
                q.stats.deferred += 1;
                q.accept_enabled = false;
                Outcome::AcceptFailed { code: WSATRY_AGAIN, examined: Some(r.caller) }
            }
            Answer::Reject | Answer::Other(_) => {
                // A8, A10: the request leaves the queue and its connector is refused
                q.queue.pop_front();
                q.stats.rejected += 1;
                self.answer(head, Err(WSAECONNREFUSED), Vec::new());
                self.rearm_accept(l);
                let code = if answer == Answer::Reject { WSAECONNREFUSED } else { WSAEINVAL };
                Outcome::AcceptFailed { code, examined: Some(r.caller) }
            }
            Answer::Accept => {
                // A7
                q.queue.pop_front();
                q.stats.accepted += 1;
                let listener = &self.socks[l];
                let reset = if listener.mask != 0 { listener.event } else { None };
                // A7: the new socket takes the listener's options, the event selection included
                let new = Sock {
                    state: State::Connected { remote: r.caller, peer: r.connector },
                    local: Some(r.callee), // A15, B2: the NIC the request was addressed to
                    nonblocking: listener.nonblocking,
                    mask: listener.mask,
                    event: listener.event,
                    ..Sock::new()
                };
                if let Some(e) = reset {
                    self.signalled[e] = false; // E3, before E2 may set it again
                }
                let id = self.socks.len();
                self.socks.push(new);
                self.answer(head, Ok(id), callee); // C5: callee data reaches the connector
                self.rearm_accept(l);
                Outcome::Accepted { peer: r.caller }
            }
        }
    }

    /// K1 to K3.
    fn close(&mut self, s: Sid) -> Outcome {
        let i = match self.live(s) {
            Ok(i) => i,
            Err(e) => return Outcome::Fail(e), // README: with the device down, close fails too
        };
        self.socks[i].open = false; // K2: the address and port are free at once
        match std::mem::replace(&mut self.socks[i].state, State::Unbound) {
            State::Listening(q) => {
                for r in q.queue {
                    self.answer(r, Err(WSAECONNREFUSED), Vec::new()); // K2
                }
            }
            State::Connecting { req, .. } => self.reqs[req].withdrawn = true, // C7, K3
            State::Connected { peer, .. } => {
                // K3: the other end sees FD_CLOSE and is no longer connected
                if matches!(self.socks[peer].state, State::Connected { peer: p, .. } if p == i) {
                    self.socks[peer].state = State::Disconnected;
                    self.record(peer, FD_CLOSE_BIT, 0);
                }
            }
            State::Unbound | State::Bound | State::Disconnected => {}
        }
        Outcome::Done
    }

    /// E1.
    fn event_select(&mut self, s: Sid, mask: u32, event: usize) -> Outcome {
        let i = match self.live(s) {
            Ok(i) => i,
            Err(e) => return Outcome::Fail(e),
        };
        if mask & !FD_ALL != 0 {
            return Outcome::Fail(WSAEINVAL);
        }
        let sock = &mut self.socks[i];
        sock.nonblocking = true;
        sock.mask = mask;
        sock.event = Some(event);
        if let State::Listening(q) = &mut sock.state {
            if mask & FD_ACCEPT != 0 && q.accept_enabled && !q.accept_posted && !q.queue.is_empty() {
                // E1: a connect that arrived before the selection is not missed; E2: one already
                // recorded since the last accept is not recorded again by selecting
                q.accept_posted = true;
                sock.recorded |= FD_ACCEPT;
                sock.codes[FD_ACCEPT_BIT] = 0;
            }
        }
        if sock.recorded & mask != 0 {
            self.signalled[event] = true; // E1: already recorded: signalled at once
        }
        Outcome::Done
    }
}

//! Model check: random single-threaded call sequences run through `wspsan-core` and
//! through the reference model of the behaviour contract (docs/behaviour.md) in `model/reference.rs` (written from that contract and the
//! README alone, sharing no code or state type with the engine). Every result and error code is
//! compared after every call, and after every call a sweep compares everything that can be read
//! without changing it: addresses (A15), SO_ACCEPTCONN (L8), blocking mode, callee data (C5),
//! listener and device statistics (D3), and whether each event object is signalled (E1 to E4).
//! The connector-side outcome of each non-blocking connect (C2) is read through SO_ERROR as soon
//! as it is answered on even sockets; odd ones keep it for the SoError and Enum operations.
//!
//! Calls that would block are not made: a blocking connect that would queue, a blocking accept on
//! an empty queue (the model decides; every call still has a deadline in case the engine blocks).
//!
//! `PROPTEST_CASES` sets the number of cases (default 256). A failure shrinks to a short
//! operation list and prints the trace of resolved calls and outcomes up to the disagreement.
//! `WSPSAN_MODEL_TRACE=file` appends the trace of every passing case to `file`, to see what the
//! generator reaches.

#[path = "model/reference.rs"]
mod reference;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use reference::{Answer, Bytes, Call, Cond, Model, Outcome, Sid, View, error_name};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wspsan_core::{
    AcceptError, ConditionRequest, ConnectParams, Decision, Descriptor, DeviceConfig, EventHandle, FlowSpec, Limits,
    Provider, Qos, Signal, SockOpt, Wait, WsaError,
};

const NIC1: Ipv4Addr = Ipv4Addr::LOCALHOST;
const NIC2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// An address that is no NIC of the device.
const NOT_NIC: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
/// Event objects shared by the sockets of one case.
const EVENTS: usize = 3;
/// A bound on calls the model says return at once, so a wrong engine cannot hang the test.
const DEADLINE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Operations as generated (and shrunk) by proptest.

/// A socket, picked by what it is in the model when the operation runs: the `n % count`-th of
/// the open sockets of that kind (if there is none: of the open sockets, else of all sockets made
/// so far), or a made-up descriptor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum S {
    /// Any socket made so far, closed ones included.
    Any(u8),
    /// An open listening socket.
    Listener(u8),
    /// An open listening socket with requests queued.
    Queued(u8),
    /// An open socket that is neither listening nor connecting nor connected.
    Idle(u8),
    /// An open socket whose connect is pending.
    Pending(u8),
    /// An open socket that is (or was) connected.
    Connected(u8),
    /// An open socket with network events recorded or an SO_ERROR to read.
    Flagged(u8),
    /// A descriptor the provider never handed out.
    Bogus,
}

impl fmt::Debug for S {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S::Any(n) => write!(f, "any{n}"),
            S::Listener(n) => write!(f, "listener{n}"),
            S::Queued(n) => write!(f, "queued{n}"),
            S::Idle(n) => write!(f, "idle{n}"),
            S::Pending(n) => write!(f, "pending{n}"),
            S::Connected(n) => write!(f, "connected{n}"),
            S::Flagged(n) => write!(f, "flagged{n}"),
            S::Bogus => write!(f, "bogus"),
        }
    }
}

#[derive(Clone, Debug)]
enum BindAt {
    /// NIC `n % nics` on a port (0: pick one).
    Nic(u8, u16),
    Wildcard(u16),
    NotNic(u16),
}

#[derive(Clone, Debug)]
enum To {
    /// The address socket `S` is bound to (a wildcard replaced by the first NIC).
    Sock(S),
    Nic(u8, u16),
    NotNic(u16),
    Wildcard(u16),
    PortZero,
}

#[derive(Clone, Debug)]
enum Data {
    None,
    /// `len` 0: counts as none.
    Empty,
    Bytes(u8),
    /// One byte more than the device's caller-data maximum.
    TooBig,
}

#[derive(Clone, Debug)]
enum CondOp {
    Null,
    Fn { answer: Answer, callee_len: u16, set_group: bool },
}

#[derive(Clone, Debug)]
enum Op {
    /// A new socket, then FIONBIO on it if asked.
    Socket {
        nonblocking: bool,
    },
    /// A new socket, bound and listening (three calls).
    NewListener {
        at: BindAt,
        backlog: i32,
        nonblocking: bool,
    },
    /// `WSPSocket` with a wrong family, type or protocol.
    BadSocket(u8),
    Bind(S, BindAt),
    Listen(S, i32),
    Connect {
        s: S,
        to: To,
        data: Data,
        qos: bool,
    },
    Accept(S, CondOp),
    Close(S),
    SoError(S),
    Select {
        s: S,
        mask: u32,
        event: u8,
    },
    Enum {
        s: S,
        reset: Option<u8>,
    },
    Fionbio(S, bool),
    NetworkDown(bool),
    BufferExhaustion(bool),
    DescriptorLimit(Option<u8>),
    Limit(Max),
}

/// A socket for a call, weighted towards the kinds `weights` favours
/// (any, listener, listener with requests queued, idle, pending, connected, flagged).
fn pick(weights: [u32; 7]) -> impl Strategy<Value = S> {
    let [any, listener, queued, idle, pending, connected, flagged] = weights;
    prop_oneof![
        any => (0u8..24).prop_map(S::Any),
        listener => (0u8..4).prop_map(S::Listener),
        queued => (0u8..4).prop_map(S::Queued),
        idle => (0u8..6).prop_map(S::Idle),
        pending => (0u8..6).prop_map(S::Pending),
        connected => (0u8..6).prop_map(S::Connected),
        flagged => (0u8..4).prop_map(S::Flagged),
        1 => Just(S::Bogus),
    ]
}

fn sock() -> impl Strategy<Value = S> {
    pick([10, 3, 2, 4, 3, 3, 2])
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![Just(5000u16), Just(5001), Just(0)]
}

/// Backlog values (SPEC L5): small ones most often, then the special and illegal ones: hints
/// (negative: SOMAXCONN_HINT), SOMAXCONN in both numberings, and values above the maximum.
fn backlog() -> impl Strategy<Value = i32> {
    const SPECIAL: [i32; 9] = [-1, -5, -300, -70000, i32::MIN, 0x7fff_ffff, 4096, 5000, 100_000];
    prop_oneof![6 => 0i32..=4, 4 => prop::sample::select(&SPECIAL[..])]
}

fn cond() -> impl Strategy<Value = CondOp> {
    let answer = prop_oneof![
        6 => Just(Answer::Accept),
        3 => Just(Answer::Reject),
        3 => Just(Answer::Defer),
        1 => prop_oneof![Just(3), Just(-1), Just(77)].prop_map(Answer::Other),
    ];
    let callee_len = prop_oneof![Just(0u16), Just(3), Just(300)];
    prop_oneof![
        1 => Just(CondOp::Null),
        5 => (answer, callee_len, prop::bool::weighted(0.1))
            .prop_map(|(answer, callee_len, set_group)| CondOp::Fn { answer, callee_len, set_group }),
    ]
}

/// One device limit changed (SPEC D1), the others kept.
#[derive(Clone, Copy, Debug)]
enum Max {
    Descriptors(usize),
    Backlog(u32),
    CallerData(usize),
    CalleeData(usize),
    Pending(usize),
}

fn limit() -> impl Strategy<Value = Max> {
    prop_oneof![
        prop_oneof![Just(3usize), Just(8), Just(65536)].prop_map(Max::Descriptors),
        prop_oneof![Just(0u32), Just(1), Just(2), Just(3), Just(5), Just(4096), Just(5000)].prop_map(Max::Backlog),
        prop_oneof![Just(0usize), Just(4), Just(256)].prop_map(Max::CallerData),
        prop_oneof![Just(0usize), Just(3), Just(256)].prop_map(Max::CalleeData),
        prop_oneof![Just(2usize), Just(3), Just(1 << 20)].prop_map(Max::Pending),
    ]
}

fn bind_at() -> impl Strategy<Value = BindAt> {
    prop_oneof![
        6 => (0u8..2, port()).prop_map(|(n, p)| BindAt::Nic(n, p)),
        2 => port().prop_map(BindAt::Wildcard),
        1 => port().prop_map(BindAt::NotNic),
    ]
}

/// Where a new listener binds: mostly where it can.
fn listener_at() -> impl Strategy<Value = BindAt> {
    let port = prop_oneof![2 => Just(0u16), 1 => Just(5000), 1 => Just(5001)];
    prop_oneof![
        8 => (0u8..2, port.clone()).prop_map(|(n, p)| BindAt::Nic(n, p)),
        2 => port.prop_map(BindAt::Wildcard),
        1 => Just(BindAt::NotNic(5000)),
    ]
}

/// A fault switch: off more often than on, so sequences spend most of their time working.
fn switch() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.3)
}

fn op() -> impl Strategy<Value = Op> {
    let to = prop_oneof![
        12 => pick([2, 8, 4, 1, 1, 1, 0]).prop_map(To::Sock),
        4 => (0u8..2, prop_oneof![Just(5000u16), Just(5001)]).prop_map(|(n, p)| To::Nic(n, p)),
        1 => Just(To::NotNic(5000)),
        1 => Just(To::Wildcard(5000)),
        1 => Just(To::PortZero),
    ];
    let data = prop_oneof![
        4 => Just(Data::None),
        1 => Just(Data::Empty),
        3 => (1u8..8).prop_map(Data::Bytes),
        1 => Just(Data::TooBig),
    ];
    let mask = prop_oneof![
        Just(0u32),
        Just(reference::FD_ACCEPT),
        Just(reference::FD_CONNECT),
        Just(reference::FD_CLOSE),
        Just(reference::FD_CONNECT | reference::FD_CLOSE),
        Just(reference::FD_ACCEPT | reference::FD_CONNECT | reference::FD_CLOSE),
        Just(1 << 10), // not an FD_* bit
    ];
    prop_oneof![
        12 => prop::bool::weighted(0.8).prop_map(|nonblocking| Op::Socket { nonblocking }),
        5 => (listener_at(), backlog(), prop::bool::weighted(0.4))
            .prop_map(|(at, backlog, nonblocking)| Op::NewListener { at, backlog, nonblocking }),
        1 => (0u8..3).prop_map(Op::BadSocket),
        5 => (pick([4, 1, 0, 10, 1, 1, 0]), bind_at()).prop_map(|(s, at)| Op::Bind(s, at)),
        6 => (pick([3, 3, 10, 6, 1, 1, 0]), backlog()).prop_map(|(s, b)| Op::Listen(s, b)),
        16 => (pick([3, 1, 0, 10, 2, 2, 1]), to, data, prop::bool::weighted(0.2))
            .prop_map(|(s, to, data, qos)| Op::Connect { s, to, data, qos }),
        14 => (pick([2, 4, 10, 1, 1, 1, 0]), cond()).prop_map(|(s, c)| Op::Accept(s, c)),
        5 => sock().prop_map(Op::Close),
        4 => pick([3, 1, 0, 2, 2, 2, 6]).prop_map(Op::SoError),
        4 => (sock(), mask, 0u8..EVENTS as u8).prop_map(|(s, mask, event)| Op::Select { s, mask, event }),
        5 => (pick([3, 1, 1, 1, 2, 2, 8]), prop::option::of(0u8..EVENTS as u8)).prop_map(|(s, reset)| Op::Enum { s, reset }),
        2 => (sock(), any::<bool>()).prop_map(|(s, on)| Op::Fionbio(s, on)),
        1 => switch().prop_map(Op::NetworkDown),
        1 => switch().prop_map(Op::BufferExhaustion),
        1 => prop::option::weighted(0.5, 0u8..10).prop_map(Op::DescriptorLimit),
        1 => limit().prop_map(Op::Limit),
    ]
}

/// A few listeners and sockets to start with, so that most sequences get to connect and accept.
fn prelude() -> impl Strategy<Value = Vec<Op>> {
    let listener = (listener_at(), prop_oneof![1i32..=3, Just(0x7fff_ffff)], prop::bool::weighted(0.5))
        .prop_map(|(at, backlog, nonblocking)| Op::NewListener { at, backlog, nonblocking });
    let socket = prop::bool::weighted(0.9).prop_map(|nonblocking| Op::Socket { nonblocking });
    prop::collection::vec(prop_oneof![1 => listener, 2 => socket], 0..6)
}

/// The device a case starts with: one or two NICs, wildcard binds on or off (B2).
#[derive(Clone, Debug)]
struct Setup {
    two_nics: bool,
    wildcard_bind: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (any::<bool>(), prop::bool::weighted(0.8)).prop_map(|(two_nics, wildcard_bind)| Setup { two_nics, wildcard_bind })
}

// ---------------------------------------------------------------------------------------------
// The engine side.

/// An event object that remembers whether it is signalled.
#[derive(Default)]
struct Flag(AtomicBool);

impl Signal for Flag {
    fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

fn qos_value() -> Qos {
    Qos {
        sending: FlowSpec { token_rate: 1000, peak_bandwidth: 2000, ..FlowSpec::default() },
        receiving: FlowSpec::default(),
        provider_specific: vec![1, 2, 3],
    }
}

fn fail(e: WsaError) -> Outcome {
    Outcome::Fail(e.code())
}

fn unit(r: Result<(), WsaError>) -> Outcome {
    r.map_or_else(fail, |()| Outcome::Done)
}

fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Fail(c) => format!("Fail({})", error_name(*c)),
        Outcome::AcceptFailed { code, examined } => {
            format!("AcceptFailed({}, examined {examined:?})", error_name(*code))
        }
        other => format!("{other:?}"),
    }
}

struct Harness {
    p: Provider,
    /// Descriptor of each model socket, same index.
    descs: Vec<Descriptor>,
    events: Vec<Arc<Flag>>,
    model: Model,
    nics: Vec<Ipv4Addr>,
    trace: Vec<String>,
}

impl Harness {
    fn new(setup: &Setup) -> Harness {
        let nics = if setup.two_nics { vec![NIC1, NIC2] } else { vec![NIC1] };
        let p = Provider::with_config(DeviceConfig {
            nics: nics.clone(),
            wildcard_bind: setup.wildcard_bind,
            ..DeviceConfig::default()
        });
        Harness {
            p,
            descs: Vec::new(),
            events: (0..EVENTS).map(|_| Arc::new(Flag::default())).collect(),
            model: Model::new(nics.clone(), setup.wildcard_bind, EVENTS),
            nics,
            trace: Vec::new(),
        }
    }

    fn sid(&self, s: S) -> Sid {
        use reference::{Sock, State};
        type Kind = fn(&Sock) -> bool;
        let listening: Kind = |k| matches!(k.state, State::Listening(_));
        let queued: Kind = |k| matches!(&k.state, State::Listening(q) if !q.queue.is_empty());
        let idle: Kind = |k| matches!(k.state, State::Unbound | State::Bound);
        let pending: Kind = |k| matches!(k.state, State::Connecting { .. });
        let connected: Kind = |k| matches!(k.state, State::Connected { .. } | State::Disconnected);
        let flagged: Kind = |k| k.recorded != 0 || k.so_error != 0;
        let (n, kinds): (u8, &[Kind]) = match s {
            S::Bogus => return None,
            S::Any(n) => {
                let made = self.model.socks.len();
                return (made > 0).then(|| usize::from(n) % made);
            }
            S::Listener(n) => (n, &[listening]),
            S::Queued(n) => (n, &[queued, listening]), // none queued: a listener rather than anything
            S::Idle(n) => (n, &[idle]),
            S::Pending(n) => (n, &[pending]),
            S::Connected(n) => (n, &[connected]),
            S::Flagged(n) => (n, &[flagged]),
        };
        let socks = &self.model.socks;
        let of = |kind: Kind| (0..socks.len()).filter(|&i| socks[i].open && kind(&socks[i])).collect::<Vec<_>>();
        // the first kind that has sockets, then any open socket, then any socket made so far
        let from =
            kinds.iter().map(|&k| of(k)).chain([of(|_| true), (0..socks.len()).collect()]).find(|c| !c.is_empty())?;
        Some(from[usize::from(n) % from.len()])
    }

    fn desc(&self, s: Sid) -> Descriptor {
        match s {
            Some(i) => self.descs[i],
            None => Descriptor::from_raw(0x7777_0000),
        }
    }

    fn nic(&self, n: u8) -> Ipv4Addr {
        self.nics[usize::from(n) % self.nics.len()]
    }

    fn bind_addr(&self, at: &BindAt) -> SocketAddrV4 {
        match at {
            BindAt::Nic(n, p) => SocketAddrV4::new(self.nic(*n), *p),
            BindAt::Wildcard(p) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, *p),
            BindAt::NotNic(p) => SocketAddrV4::new(NOT_NIC, *p),
        }
    }

    /// Turn a generated operation into model calls (two for a non-blocking socket).
    fn resolve(&self, op: &Op) -> Vec<Call> {
        let m = &self.model;
        match op {
            Op::Socket { nonblocking } => {
                let mut calls = vec![Call::Socket { af: reference::AF_INET, ty: reference::SOCK_STREAM, protocol: 0 }];
                if *nonblocking {
                    // the socket about to be made, if the first call succeeds
                    calls.push(Call::NonBlocking { s: Some(self.descs.len()), on: true });
                }
                calls
            }
            Op::NewListener { at, backlog, nonblocking } => {
                let new = Some(self.descs.len());
                let mut calls = vec![Call::Socket { af: reference::AF_INET, ty: reference::SOCK_STREAM, protocol: 0 }];
                if *nonblocking {
                    calls.push(Call::NonBlocking { s: new, on: true });
                }
                calls.push(Call::Bind { s: new, addr: self.bind_addr(at) });
                calls.push(Call::Listen { s: new, backlog: *backlog });
                calls
            }
            Op::BadSocket(which) => vec![match which {
                0 => Call::Socket { af: 23, ty: reference::SOCK_STREAM, protocol: 0 },
                1 => Call::Socket { af: reference::AF_INET, ty: 2, protocol: 0 },
                _ => Call::Socket { af: reference::AF_INET, ty: reference::SOCK_STREAM, protocol: 17 },
            }],
            Op::Bind(s, at) => vec![Call::Bind { s: self.sid(*s), addr: self.bind_addr(at) }],
            Op::Listen(s, backlog) => vec![Call::Listen { s: self.sid(*s), backlog: *backlog }],
            Op::Connect { s, to, data, qos } => {
                let to = match to {
                    To::Sock(t) => match self.sid(*t).and_then(|i| m.socks[i].local) {
                        Some(a) if a.ip().is_unspecified() => SocketAddrV4::new(self.nics[0], a.port()),
                        Some(a) => a,
                        None => SocketAddrV4::new(self.nics[0], 5000),
                    },
                    To::Nic(n, p) => SocketAddrV4::new(self.nic(*n), *p),
                    To::NotNic(p) => SocketAddrV4::new(NOT_NIC, *p),
                    To::Wildcard(p) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, *p),
                    To::PortZero => SocketAddrV4::new(self.nics[0], 0),
                };
                let data = match data {
                    Data::None => None,
                    Data::Empty => Some(Bytes(Vec::new())),
                    Data::Bytes(n) => Some(Bytes((0..*n).map(|i| i.wrapping_mul(37).wrapping_add(5)).collect())),
                    Data::TooBig => Some(Bytes(vec![0xab; m.limits.max_caller_data + 1])),
                };
                vec![Call::Connect { s: self.sid(*s), to, data, qos: *qos }]
            }
            Op::Accept(s, c) => {
                let cond = match c {
                    CondOp::Null => Cond::Null,
                    CondOp::Fn { answer, callee_len, set_group } => Cond::Fn {
                        answer: *answer,
                        callee: Bytes((0..*callee_len).map(|i| (i % 251) as u8).collect()),
                        set_group: *set_group,
                    },
                };
                vec![Call::Accept { s: self.sid(*s), cond }]
            }
            Op::Close(s) => vec![Call::Close { s: self.sid(*s) }],
            Op::SoError(s) => vec![Call::SoError { s: self.sid(*s) }],
            Op::Select { s, mask, event } => {
                vec![Call::EventSelect { s: self.sid(*s), mask: *mask, event: usize::from(*event) }]
            }
            Op::Enum { s, reset } => vec![Call::EnumEvents { s: self.sid(*s), reset: reset.map(usize::from) }],
            Op::Fionbio(s, on) => vec![Call::NonBlocking { s: self.sid(*s), on: *on }],
            Op::NetworkDown(on) => vec![Call::NetworkDown(*on)],
            Op::BufferExhaustion(on) => vec![Call::BufferExhaustion(*on)],
            Op::DescriptorLimit(n) => vec![Call::DescriptorLimit(n.map(usize::from))],
            Op::Limit(change) => {
                let mut l = m.limits;
                match *change {
                    Max::Descriptors(n) => l.max_descriptors = n,
                    Max::Backlog(n) => l.max_backlog = n,
                    Max::CallerData(n) => l.max_caller_data = n,
                    Max::CalleeData(n) => l.max_callee_data = n,
                    Max::Pending(n) => l.max_pending = n,
                }
                vec![Call::Limits(l)]
            }
        }
    }

    /// Make the call on the engine; also returns what a condition function was shown.
    fn engine(&mut self, call: &Call) -> (Outcome, Option<View>) {
        let p = self.p.clone();
        let mut view = None;
        let out = match call {
            Call::Socket { af, ty, protocol } => match p.socket_with(*af, *ty, *protocol) {
                Ok(d) => {
                    self.descs.push(d);
                    Outcome::Created
                }
                Err(e) => fail(e),
            },
            Call::Bind { s, addr } => unit(p.bind(self.desc(*s), *addr)),
            Call::Listen { s, backlog } => unit(p.listen(self.desc(*s), *backlog)),
            Call::Connect { s, to, data, qos } => {
                let qos_value = qos_value();
                let params =
                    ConnectParams { caller_data: data.as_ref().map(|d| &d.0[..]), qos: qos.then_some(&qos_value) };
                let wait = Wait { timeout: Some(DEADLINE), interrupt: None };
                match p.connect_with(self.desc(*s), *to, params, wait) {
                    Ok(_) => Outcome::Done,
                    Err(e) => fail(e),
                }
            }
            Call::Accept { s, cond } => {
                let wait = Wait { timeout: Some(DEADLINE), interrupt: None };
                let r = match cond {
                    Cond::Null => p.accept_with(self.desc(*s), None, wait),
                    Cond::Fn { answer, callee, set_group } => {
                        let mut f = |req: &mut ConditionRequest<'_>| {
                            view = Some(View {
                                caller: req.caller_address(),
                                callee: req.callee_address(),
                                caller_data: req.caller_data().map(<[u8]>::to_vec),
                                qos: req.qos().map(|q| *q == qos_value()),
                                capacity: req.callee_data_capacity(),
                                group: *req.group_mut(),
                            });
                            req.set_callee_data(&callee.0);
                            if *set_group {
                                *req.group_mut() = 1;
                            }
                            Decision::from_raw(match answer {
                                Answer::Accept => 0,
                                Answer::Reject => 1,
                                Answer::Defer => 2,
                                Answer::Other(v) => *v,
                            })
                        };
                        p.accept_with(self.desc(*s), Some(&mut f), wait)
                    }
                };
                match r {
                    Ok(a) => {
                        self.descs.push(a.socket);
                        Outcome::Accepted { peer: a.peer }
                    }
                    Err(AcceptError { error, examined: None }) => fail(error),
                    Err(AcceptError { error, examined }) => Outcome::AcceptFailed { code: error.code(), examined },
                }
            }
            Call::Close { s } => unit(p.close(self.desc(*s))),
            Call::SockName { s } => p.sock_name(self.desc(*s)).map_or_else(fail, Outcome::Addr),
            Call::PeerName { s } => p.peer_name(self.desc(*s)).map_or_else(fail, Outcome::Addr),
            Call::SoError { s } => p.get_option(self.desc(*s), SockOpt::Error).map_or_else(fail, Outcome::Value),
            Call::AcceptConn { s } => {
                p.get_option(self.desc(*s), SockOpt::AcceptConn).map_or_else(fail, Outcome::Value)
            }
            Call::NonBlocking { s, on } => unit(p.set_nonblocking(self.desc(*s), *on)),
            Call::EventSelect { s, mask, event } => {
                let h: EventHandle = self.events[*event].clone();
                unit(p.event_select(self.desc(*s), Some(h), *mask))
            }
            Call::EnumEvents { s, reset } => {
                let h: Option<EventHandle> = reset.map(|e| self.events[e].clone() as EventHandle);
                match p.enum_network_events(self.desc(*s), h.as_ref()) {
                    Ok(ne) => Outcome::Events {
                        bits: ne.events,
                        codes: (0..10).filter_map(|b| ne.error(b).map(|c| (b, c))).collect(),
                    },
                    Err(e) => fail(e),
                }
            }
            Call::NetworkDown(on) => {
                p.device().set_network_down(*on);
                Outcome::Done
            }
            Call::BufferExhaustion(on) => {
                p.device().set_buffer_exhaustion(*on);
                Outcome::Done
            }
            Call::DescriptorLimit(n) => {
                p.device().set_descriptor_limit(*n);
                Outcome::Done
            }
            Call::Limits(l) => {
                p.device().set_limits(Limits {
                    max_descriptors: l.max_descriptors,
                    max_backlog: l.max_backlog,
                    max_caller_data: l.max_caller_data,
                    max_callee_data: l.max_callee_data,
                    max_pending: l.max_pending,
                    connect_timeout: None,
                });
                Outcome::Done
            }
        };
        (out, view)
    }

    /// One model call: skipped if the model says it would block (a blocking connect that
    /// queues, a blocking accept on an empty queue), else made on both sides and compared.
    fn call(&mut self, call: &Call) -> Result<(), String> {
        if matches!(call, Call::Connect { .. } | Call::Accept { .. }) {
            let mut dry = self.model.clone();
            if dry.apply(call, &mut |_| None)? == Outcome::WouldWait {
                self.trace.push(format!("    {call:?} -> skipped: it would block"));
                return Ok(());
            }
        }
        let (got, seen) = self.engine(call);
        let (p, descs) = (&self.p, &self.descs);
        let want = self.model.apply(call, &mut |i| p.sock_name(descs[i]).ok().map(|a| a.port()))?;
        self.trace.push(format!("    {call:?} -> {}", outcome_name(&got)));
        if got != want {
            return Err(format!("engine: {}\nmodel:  {}", outcome_name(&got), outcome_name(&want)));
        }
        if seen != self.model.last_view {
            return Err(format!(
                "SPEC A5: the condition function was shown\nengine: {seen:?}\nmodel:  {:?}",
                self.model.last_view
            ));
        }
        if self.descs.len() != self.model.socks.len() {
            return Err(format!("{} descriptors, model has {} sockets", self.descs.len(), self.model.socks.len()));
        }
        self.sweep()
    }

    /// Compare everything that can be read without changing it.
    fn sweep(&mut self) -> Result<(), String> {
        let p = self.p.clone();
        for i in 0..self.descs.len() {
            let d = self.descs[i];
            for call in [Call::SockName { s: Some(i) }, Call::PeerName { s: Some(i) }, Call::AcceptConn { s: Some(i) }]
            {
                let (got, _) = self.engine(&call);
                let want = self.model.apply(&call, &mut |_| None)?;
                if got != want {
                    return Err(format!(
                        "sweep {call:?}\nengine: {}\nmodel:  {}",
                        outcome_name(&got),
                        outcome_name(&want)
                    ));
                }
            }
            let m = &self.model;
            let sock = &m.socks[i];
            let live = if m.network_down {
                Err(WsaError::NetDown)
            } else if !sock.open {
                Err(WsaError::NotSock)
            } else {
                Ok(())
            };
            let want_nb = live.map(|()| sock.nonblocking);
            let got_nb = p.is_nonblocking(d);
            if got_nb != want_nb {
                return Err(format!("sweep socket #{i} non-blocking: engine {got_nb:?}, model {want_nb:?}"));
            }
            // C5: callee data of the completed connect (SO_CONNDATA)
            let want_cd = live.map(|()| sock.callee_data.clone());
            let got_cd = p.callee_data(d);
            if got_cd != want_cd {
                return Err(format!("sweep socket #{i} callee data: engine {got_cd:?}, model {want_cd:?}"));
            }
            // D3: the listener's counters, queue length and effective backlog (readable while down)
            if let (true, reference::State::Listening(q)) = (sock.open, &sock.state) {
                let st = p.listener_stats(d).map_err(|e| format!("sweep listener #{i} stats: {e}"))?;
                let got = (
                    st.queued,
                    st.accepted,
                    st.rejected,
                    st.deferred,
                    st.refused_full,
                    st.reset,
                    st.withdrawn,
                    st.queue_len,
                    st.backlog,
                );
                let s = q.stats;
                let want = (
                    s.queued,
                    s.accepted,
                    s.rejected,
                    s.deferred,
                    s.refused_full,
                    s.reset,
                    s.withdrawn,
                    q.queue.len() as u64,
                    u64::from(q.backlog),
                );
                if got != want {
                    return Err(format!(
                        "sweep listener #{i} stats (queued, accepted, rejected, deferred, refused_full, reset, \
                         withdrawn, queue_len, backlog)\nengine: {got:?}\nmodel:  {want:?}"
                    ));
                }
            }
        }
        let ds = p.device().stats();
        let got = (ds.open_sockets, ds.pending, ds.refused_no_listener);
        let m = &self.model;
        let want = (m.open_count() as u64, m.pending() as u64, m.refused_no_listener);
        if got != want {
            return Err(format!(
                "sweep device stats (open_sockets, pending, refused_no_listener)\nengine: {got:?}\nmodel:  {want:?}"
            ));
        }
        let got: Vec<bool> = self.events.iter().map(|e| e.0.load(Ordering::SeqCst)).collect();
        if got != m.signalled {
            return Err(format!("sweep event objects signalled\nengine: {got:?}\nmodel:  {:?}", m.signalled));
        }
        Ok(())
    }

    /// The open sockets whose connect is pending, per the model.
    fn connecting(&self) -> Vec<usize> {
        let socks = &self.model.socks;
        (0..socks.len())
            .filter(|&i| socks[i].open && matches!(socks[i].state, reference::State::Connecting { .. }))
            .collect()
    }

    /// Run an operation list; the error holds the trace up to the failing call.
    fn run(setup: &Setup, ops: &[Op]) -> Result<Vec<String>, String> {
        let mut h = Harness::new(setup);
        for (n, op) in ops.iter().enumerate() {
            h.trace.push(format!("{n}: {op:?}"));
            let waiting = h.connecting();
            for call in h.resolve(op) {
                let s = match &call {
                    Call::NonBlocking { s, .. } | Call::Bind { s, .. } | Call::Listen { s, .. } => *s,
                    _ => None,
                };
                if s.is_some_and(|i| i >= h.descs.len()) {
                    continue; // the socket Op::Socket or Op::NewListener was to make was not made
                }
                if let Err(e) = h.call(&call) {
                    return Err(format!("{}\n{e}", h.trace.join("\n")));
                }
            }
            // C2: the connector-side outcome of a non-blocking connect answered in this step, read
            // at once through SO_ERROR on even sockets; odd ones keep it for the SoError and Enum
            // operations, so that an outcome waiting to be read is tested too.
            let answered = waiting.into_iter().filter(|i| i % 2 == 0 && !h.connecting().contains(i));
            for i in answered.collect::<Vec<_>>() {
                if let Err(e) = h.call(&Call::SoError { s: Some(i) }) {
                    return Err(format!("{}\n{e}", h.trace.join("\n")));
                }
            }
        }
        if let Ok(path) = std::env::var("WSPSAN_MODEL_TRACE") {
            // Appends every passing trace to a file, to see what the generator covers.
            use std::io::Write;
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
            let _ = file.and_then(|mut f| writeln!(f, "{}", h.trace.join("\n")));
        }
        Ok(h.trace)
    }
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    // No regression files in the source tree: shrunk failures become #[test]s below.
    Config { cases, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engine_matches_the_spec_model(setup in setup(), prelude in prelude(), ops in prop::collection::vec(op(), 1..60)) {
        if let Err(e) = Harness::run(&setup, &[prelude, ops].concat()) {
            return Err(TestCaseError::fail(e));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shrunk sequences the model check found, kept as regression tests.

/// Run `ops` (the engine must agree with the model at every step), then check that the trace
/// shows `expected` outcomes in this order: each is a piece of a trace line, such as
/// `"Fail(WSAECONNRESET)"` or `"Listen { s: Some(0), backlog: 1 } -> Done"`.
fn check(setup: Setup, ops: &[Op], expected: &[&str]) {
    let trace = Harness::run(&setup, ops).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = trace.iter().filter(|l| l.starts_with("    "));
    for want in expected {
        assert!(lines.any(|l| l.contains(want)), "{want:?} not found in order in the trace:\n{}", trace.join("\n"));
    }
}

const ONE_NIC: Setup = Setup { two_nics: false, wildcard_bind: true };
const TWO_NICS: Setup = Setup { two_nics: true, wildcard_bind: true };

fn s(n: u8) -> S {
    S::Any(n)
}

fn nb_socket() -> Op {
    Op::Socket { nonblocking: true }
}

fn listener_on(port: u16, backlog: i32) -> Op {
    Op::NewListener { at: BindAt::Nic(0, port), backlog, nonblocking: true }
}

fn connect(from: u8, to: u8) -> Op {
    Op::Connect { s: s(from), to: To::Sock(s(to)), data: Data::None, qos: false }
}

fn answer(answer: Answer) -> CondOp {
    CondOp::Fn { answer, callee_len: 3, set_group: false }
}

// ---------------------------------------------------------------------------------------------
// Scenarios: the stories the random sequences reach only now and then, run through the same
// harness (engine and model compared at every step) with their key outcomes spelled out.

// SPEC A5, A7, C2, C5, E4, E5, K1, K3
#[test]
fn quick_start_story() {
    check(
        ONE_NIC,
        &[
            Op::Socket { nonblocking: false },
            Op::Bind(s(0), BindAt::Nic(0, 5000)),
            Op::Listen(s(0), 8),
            Op::Socket { nonblocking: true },
            Op::Select { s: s(1), mask: reference::FD_CONNECT | reference::FD_CLOSE, event: 0 },
            Op::Connect { s: s(1), to: To::Sock(s(0)), data: Data::Bytes(5), qos: true },
            Op::Accept(s(0), CondOp::Fn { answer: Answer::Accept, callee_len: 7, set_group: false }),
            Op::Enum { s: s(1), reset: Some(0) },
            Op::SoError(s(1)),
            Op::Close(s(2)),
            Op::Enum { s: s(1), reset: Some(0) },
            Op::Close(s(1)),
            Op::Close(s(1)),
        ],
        &[
            "Fail(WSAEWOULDBLOCK)",
            "Accepted { peer: 127.0.0.1:49152 }",
            "Events { bits: 16, codes: [(4, 0)] }",
            "SoError { s: Some(1) } -> Value(0)",
            "Close { s: Some(2) } -> Done",
            "Events { bits: 32, codes: [(5, 0)] }",
            "Close { s: Some(1) } -> Done",
            "Close { s: Some(1) } -> Fail(WSAENOTSOCK)",
        ],
    );
}

// SPEC L5, L6, C6: a smaller backlog resets the newest excess requests
#[test]
fn a_backlog_shrink_resets_the_newest_requests() {
    check(
        ONE_NIC,
        &[
            listener_on(5000, 3),
            nb_socket(),
            nb_socket(),
            nb_socket(),
            connect(1, 0),
            connect(2, 0),
            connect(3, 0),
            Op::Listen(s(0), 0),               // 0 -> 1: the requests of sockets 3 and 2 are reset
            Op::Enum { s: s(3), reset: None }, // E4: not selected, nothing reported
            Op::Select { s: s(3), mask: reference::FD_CONNECT, event: 0 },
            Op::Enum { s: s(3), reset: None },
            Op::Accept(s(0), CondOp::Null),
            connect(3, 0),
        ],
        &[
            "Listen { s: Some(0), backlog: 0 } -> Done",
            "SoError { s: Some(2) } -> Value(10054)",
            "Events { bits: 0, codes: [] }",
            "Events { bits: 16, codes: [(4, 10054)] }",
            "Accepted { peer: 127.0.0.1:49152 }", // the oldest request stayed
            "Connect { s: Some(3), to: 127.0.0.1:5000, data: None, qos: false } -> Fail(WSAEWOULDBLOCK)",
        ],
    );
}

// SPEC L7, L9, A11, S1: no descriptor: the listener is exhausted and keeps its queue; it recovers
// on the next accept made while a descriptor is free
#[test]
fn an_exhausted_listener_refuses_until_an_accept_finds_a_descriptor() {
    check(
        ONE_NIC,
        &[
            listener_on(5000, 5),
            nb_socket(),
            nb_socket(),
            nb_socket(),
            Op::Bind(s(3), BindAt::Nic(0, 5001)),
            connect(1, 0),
            Op::DescriptorLimit(Some(4)),
            nb_socket(),
            Op::Accept(s(0), CondOp::Null),
            Op::Listen(s(3), 1),
            connect(2, 0),
            Op::DescriptorLimit(None),
            connect(2, 0),
            Op::Accept(s(0), CondOp::Null),
            connect(2, 0),
        ],
        &[
            "Socket { af: 2, ty: 1, protocol: 0 } -> Fail(WSAEMFILE)",
            "Accept { s: Some(0), cond: Null } -> Fail(WSAEMFILE)",
            "Listen { s: Some(3), backlog: 1 } -> Fail(WSAEMFILE)",
            "Fail(WSAECONNREFUSED)",
            "DescriptorLimit(None) -> Done",
            "Fail(WSAECONNREFUSED)",
            "Accepted { peer: 127.0.0.1:49152 }",
            "Connect { s: Some(2), to: 127.0.0.1:5000, data: None, qos: false } -> Fail(WSAEWOULDBLOCK)",
        ],
    );
}

// SPEC A12, C7, K1, K2: a withdrawn request fails the accept that reaches it; closing the
// listener refuses the rest and frees its port at once
#[test]
fn withdrawn_and_closed() {
    check(
        ONE_NIC,
        &[
            listener_on(5000, 5),
            nb_socket(),
            nb_socket(),
            nb_socket(),
            connect(1, 0),
            connect(2, 0),
            connect(3, 0),
            Op::Close(s(1)),
            Op::Accept(s(0), answer(Answer::Accept)),
            Op::Close(s(0)),
            Op::Select { s: s(3), mask: reference::FD_CONNECT, event: 0 },
            Op::Enum { s: s(3), reset: None },
            Op::Close(s(1)),
            listener_on(5000, 5),
        ],
        &[
            "Close { s: Some(1) } -> Done",
            "AcceptFailed(WSAEACCES, examined Some(127.0.0.1:49152))",
            "Close { s: Some(0) } -> Done",
            "SoError { s: Some(2) } -> Value(10061)",
            "Events { bits: 16, codes: [(4, 10061)] }",
            "Close { s: Some(1) } -> Fail(WSAENOTSOCK)",
            "Bind { s: Some(4), addr: 127.0.0.1:5000 } -> Done",
        ],
    );
}

// SPEC A5, A8, A9, A10, A13, C5: every condition answer
#[test]
fn every_condition_answer() {
    let data = |from: u8| Op::Connect { s: s(from), to: To::Sock(s(0)), data: Data::Bytes(3), qos: true };
    check(
        ONE_NIC,
        &[
            listener_on(5000, 5),
            nb_socket(),
            nb_socket(),
            nb_socket(),
            nb_socket(),
            data(1),
            data(2),
            data(3),
            Op::Connect { s: s(4), to: To::Sock(s(0)), data: Data::TooBig, qos: false },
            Op::Accept(s(0), answer(Answer::Defer)),
            Op::Accept(s(0), CondOp::Fn { answer: Answer::Accept, callee_len: 3, set_group: true }),
            Op::Accept(s(0), answer(Answer::Other(77))),
            Op::Accept(s(0), answer(Answer::Reject)),
            Op::Accept(s(0), answer(Answer::Accept)),
            Op::Select { s: s(1), mask: reference::FD_CONNECT, event: 0 },
            Op::Enum { s: s(1), reset: None },
        ],
        &[
            "Connect { s: Some(4), to: 127.0.0.1:5000, data: Some(<257 bytes>), qos: false } -> Fail(WSAENOBUFS)",
            "AcceptFailed(WSATRY_AGAIN, examined Some(127.0.0.1:49152))",
            "AcceptFailed(WSAEINVAL, examined Some(127.0.0.1:49152))",
            "AcceptFailed(WSAEINVAL, examined Some(127.0.0.1:49153))",
            "SoError { s: Some(2) } -> Value(10061)",
            "AcceptFailed(WSAECONNREFUSED, examined Some(127.0.0.1:49154))",
            "Accept { s: Some(0), cond: Fn { answer: Accept, callee: <3 bytes>, set_group: false } } -> Fail(WSAEWOULDBLOCK)",
            "Events { bits: 16, codes: [(4, 10061)] }",
        ],
    );
}

// SPEC E1, E2, E3, E4 (README: an accept that empties the queue clears FD_ACCEPT); the sweep
// compares whether the event object is signalled after every step
#[test]
fn fd_accept_is_level_triggered() {
    check(
        ONE_NIC,
        &[
            listener_on(5000, 5),
            nb_socket(),
            nb_socket(),
            connect(1, 0),
            connect(2, 0),
            Op::Select { s: s(0), mask: reference::FD_ACCEPT, event: 1 }, // E1: signalled at once
            Op::Enum { s: s(0), reset: None },
            Op::Accept(s(0), CondOp::Null), // E3 resets, E2 sets again: one is still queued
            Op::Enum { s: s(0), reset: Some(1) },
            Op::Accept(s(0), answer(Answer::Defer)), // A9: no re-enable
            nb_socket(),
            connect(4, 0),
            Op::Enum { s: s(0), reset: None },
            Op::Accept(s(0), CondOp::Null),
            Op::Accept(s(0), CondOp::Null),
            Op::Enum { s: s(0), reset: None },
        ],
        &[
            "Events { bits: 8, codes: [(3, 0)] }",
            "Accepted",
            "Events { bits: 8, codes: [(3, 0)] }",
            "AcceptFailed(WSATRY_AGAIN",
            "Events { bits: 0, codes: [] }",
            "Accepted",
            "Accepted",
            "Events { bits: 0, codes: [] }",
        ],
    );
}

// SPEC B1, B2, A5, A15: a wildcard listener takes requests for every NIC; the accepted socket's
// local address is the NIC the request was addressed to
#[test]
fn a_wildcard_listener_answers_on_every_nic() {
    check(
        TWO_NICS,
        &[
            Op::NewListener { at: BindAt::Wildcard(5000), backlog: 5, nonblocking: true },
            Op::Bind(s(0), BindAt::Nic(1, 5000)),
            nb_socket(),
            Op::Bind(s(1), BindAt::Nic(0, 5000)),
            Op::Connect { s: s(1), to: To::Nic(1, 5000), data: Data::None, qos: false },
            Op::Accept(s(0), answer(Answer::Accept)),
        ],
        &[
            "Bind { s: Some(0), addr: 0.0.0.0:5000 } -> Done",
            "Bind { s: Some(1), addr: 127.0.0.1:5000 } -> Fail(WSAEADDRINUSE)",
            "Connect { s: Some(1), to: 127.0.0.2:5000, data: None, qos: false } -> Fail(WSAEWOULDBLOCK)",
            "Accepted { peer: 127.0.0.2:",
        ],
    );
}

// SPEC D2: with the device down every call fails, close included, and nothing changes
#[test]
fn the_device_down_and_up_again() {
    check(
        ONE_NIC,
        &[
            listener_on(5000, 5),
            nb_socket(),
            connect(1, 0),
            Op::NetworkDown(true),
            Op::Accept(s(0), CondOp::Null),
            Op::Close(s(1)),
            nb_socket(),
            Op::NetworkDown(false),
            Op::Accept(s(0), CondOp::Null),
        ],
        &[
            "Accept { s: Some(0), cond: Null } -> Fail(WSAENETDOWN)",
            "Close { s: Some(1) } -> Fail(WSAENETDOWN)",
            "Socket { af: 2, ty: 1, protocol: 0 } -> Fail(WSAENETDOWN)",
            "Accepted { peer: 127.0.0.1:49152 }",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions: engine bugs the model check found, as it shrank them.

// SPEC X4: an unknown descriptor is WSAENOTSOCK whatever else is wrong with the call. The engine
// checked the event mask first and answered WSAEINVAL.
#[test]
fn regression_event_select_on_an_unknown_descriptor_with_a_bad_mask() {
    check(
        ONE_NIC,
        &[Op::Select { s: S::Bogus, mask: 1 << 10, event: 0 }],
        &["EventSelect { s: None, mask: 1024, event: 0 } -> Fail(WSAENOTSOCK)"],
    );
}

// SPEC C4, B1 (README: an address that is not a NIC is refused). The engine bound the connector
// implicitly to 127.0.0.9 before refusing it; that socket could then listen there and take
// requests for an address the device does not have.
#[test]
fn regression_a_connect_to_an_address_that_is_no_nic_binds_nothing() {
    check(
        ONE_NIC,
        &[
            Op::Socket { nonblocking: true },
            Op::Connect { s: s(0), to: To::NotNic(5000), data: Data::None, qos: false },
            Op::Listen(s(0), 1),
            nb_socket(),
            Op::Connect { s: s(1), to: To::Sock(s(0)), data: Data::None, qos: false },
        ],
        &[
            "Connect { s: Some(0), to: 127.0.0.9:5000, data: None, qos: false } -> Fail(WSAECONNREFUSED)",
            "Listen { s: Some(0), backlog: 1 } -> Fail(WSAEINVAL)",
        ],
    );
}

// SPEC A5, A15, C4: the listener sees the connector's real address. A connector bound to
// 0.0.0.0 reached the condition function and the accepted socket's peer name as 0.0.0.0:5000.
#[test]
fn regression_a_wildcard_bound_connector_is_seen_from_its_nic() {
    check(
        ONE_NIC,
        &[
            Op::NewListener { at: BindAt::Nic(0, 5001), backlog: 1, nonblocking: false },
            nb_socket(),
            Op::Bind(s(1), BindAt::Wildcard(5000)),
            connect(1, 0),
            Op::Accept(s(0), answer(Answer::Accept)),
        ],
        &["Accepted { peer: 127.0.0.1:5000 }"],
    );
}

// SPEC E5 (README: a connect that fails at once records no FD_CONNECT). A connect refused at
// once by a socket that does not listen (here: the connector itself) threw away the unreported
// FD_CONNECT of the previous attempt, so it was never reported and selecting it signalled nothing.
#[test]
fn regression_an_immediate_refusal_keeps_the_previous_fd_connect() {
    check(
        ONE_NIC,
        &[
            listener_on(5000, 1),
            nb_socket(),
            connect(1, 0),
            Op::Close(s(0)),
            connect(1, 1),
            Op::Select { s: s(1), mask: reference::FD_CONNECT, event: 0 },
            Op::Enum { s: s(1), reset: Some(0) },
            Op::SoError(s(1)),
        ],
        &[
            "Connect { s: Some(1), to: 127.0.0.1:49152, data: None, qos: false } -> Fail(WSAECONNREFUSED)",
            "Events { bits: 16, codes: [(4, 10061)] }",
            "SoError { s: Some(1) } -> Value(10061)",
        ],
    );
}

// SPEC C3, D2: a connect to a NIC where nothing is bound is refused even with the device's
// pending requests at their limit. The port's only socket, bound to the other NIC, was taken
// for the one at the address asked for (a lock-free lookup of a port's only binding that did not
// compare its address), so the pending limit answered WSAENOBUFS.
#[test]
fn regression_the_only_binding_of_a_port_on_another_nic_is_nobody_at_the_address() {
    check(
        TWO_NICS,
        &[
            listener_on(5000, 5),
            nb_socket(),
            nb_socket(),
            Op::Socket { nonblocking: false },
            Op::Limit(Max::Pending(2)),
            connect(1, 0),
            connect(2, 0),
            Op::Bind(s(3), BindAt::Nic(0, 5001)),
            Op::Connect { s: s(3), to: To::Nic(1, 5001), data: Data::None, qos: false },
        ],
        &["Connect { s: Some(3), to: 127.0.0.2:5001, data: None, qos: false } -> Fail(WSAECONNREFUSED)"],
    );
}

// SPEC L9: "the next WSPListen or WSPAccept made when a descriptor is free clears that state".
// An accept that found a descriptor free but failed with WSAENOBUFS (A11) left the listener
// exhausted, so it went on refusing every request.
#[test]
fn regression_an_accept_failing_for_buffers_still_ends_the_exhausted_state() {
    check(
        ONE_NIC,
        &[
            listener_on(5000, 5),
            nb_socket(),
            nb_socket(),
            connect(1, 0),
            Op::DescriptorLimit(Some(3)),
            Op::Accept(s(0), CondOp::Null),
            Op::DescriptorLimit(None),
            Op::BufferExhaustion(true),
            Op::Accept(s(0), CondOp::Null),
            Op::BufferExhaustion(false),
            connect(2, 0),
        ],
        &[
            "Accept { s: Some(0), cond: Null } -> Fail(WSAEMFILE)",
            "Accept { s: Some(0), cond: Null } -> Fail(WSAENOBUFS)",
            "Connect { s: Some(2), to: 127.0.0.1:5000, data: None, qos: false } -> Fail(WSAEWOULDBLOCK)",
        ],
    );
}

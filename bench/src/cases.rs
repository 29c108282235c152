//! Cases 1 to 6 of the benchmark. Each returns its table; `targets` reads the tables.

use crate::alloc;
use crate::capi::CAbi;
use crate::floor::{self, primitives};
use crate::handoff::{self, KernelHandoff, WspHandoff};
use crate::harness::{LatencyVariant, Settings, Variant, measure, measure_latency, timed};
use crate::kernel::{self, Family};
use crate::remote;
use crate::report::{Case, Row, Target};
use crate::wsp::{self, Api, listener};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};
use wspsan_core::{DeviceConfig, Limits, Provider, WsaError};

pub const CAPI: &str = "wspsan C ABI";
pub const CORE: &str = "wspsan Rust core";
pub const TCP: &str = "kernel TCP 127.0.0.1";
pub const UNIX: &str = "kernel AF_UNIX";
pub const FLOOR: &str = "floor";
pub const ROUND_TRIP_FLOOR: &str = "round-trip floor";
pub const LOCK: &str = "primitive: uncontended lock round trip";
pub const ARC: &str = "primitive: Arc clone and drop";
pub const ALLOC: &str = "primitive: 128-byte alloc and free";

/// What the cases run against.
pub struct Ctx<'a> {
    pub settings: Settings,
    pub capi: Option<&'a CAbi>,
    pub core: Provider,
}

impl Ctx<'_> {
    /// The wspsan variant the targets are checked on: the C ABI when it is built.
    pub fn primary(&self) -> &'static str {
        if self.capi.is_some() { CAPI } else { CORE }
    }
}

fn backlog_listener<A: Api>(api: &A) -> wsp::Listener<A> {
    listener(api, 1024)
}

/// Case 1: one pair on one thread.
pub fn single_thread(ctx: &Ctx<'_>) -> Case {
    fn wsp_variant<'a, A: Api>(api: &'a A, name: &str) -> Variant<'a> {
        let l = backlog_listener(api);
        Variant::new(name, move |n| timed(n, || wsp::pair(api, &l)))
    }
    let mut variants = vec![];
    if let Some(c) = ctx.capi {
        variants.push(wsp_variant(c, CAPI));
    }
    variants.push(wsp_variant(&ctx.core, CORE));
    for (name, family) in [(TCP, Family::Tcp), (UNIX, Family::Unix)] {
        let l = kernel::listener(family, 1024);
        variants.push(Variant::new(name, move |n| timed(n, || kernel::pair(&l))));
    }
    let q = floor::Queue::default();
    variants.push(Variant::new(FLOOR, move |n| timed(n, || q.pair())));
    let (m, a) = (std::sync::Mutex::new(0u64), std::sync::Arc::new(0u64));
    variants.push(Variant::new(LOCK, move |n| timed(n, || primitives::lock(&m))));
    variants.push(Variant::new(ARC, move |n| timed(n, || primitives::arc(&a))));
    variants.push(Variant::new(ALLOC, move |n| timed(n, primitives::alloc)));
    let mut case = Case::new(1, "single thread, one pair = socket, non-blocking connect, accept, close both");
    case.rows = measure(ctx.settings, variants)
        .iter()
        .map(|s| Row::new(s, if [LOCK, ARC, ALLOC].contains(&s.name.as_str()) { "ns/op" } else { "ns/pair" }))
        .collect();
    let median = |name: &str| case.row(name).map(|r| r.median());
    if let (Some(lock), Some(alloc), Some(floor)) = (median(LOCK), median(ALLOC), median(FLOOR)) {
        let minimum = primitives::PAIR_LOCKS * lock + primitives::PAIR_ALLOCS * alloc;
        case.notes.push(format!(
            "design minimum: {} lock round trips + {} allocations = {minimum:.0} ns = {:.1}x the floor, before any rule is checked (6 calls, each finds and locks its socket; 2 sockets and 1 request allocated)",
            primitives::PAIR_LOCKS,
            primitives::PAIR_ALLOCS,
            minimum / floor
        ));
    }
    let p = ctx.primary();
    case.ratio(UNIX, p);
    case.ratio(TCP, p);
    case.ratio(p, FLOOR);
    if p != CORE {
        case.ratio(CORE, FLOOR);
    }
    case.notes.push("kernel clients: SOCK_NONBLOCK at creation; TCP client SO_LINGER 0 (reset, no TIME_WAIT); AF_UNIX abstract name".into());
    case.notes.push("floor: Mutex<VecDeque<Box<[u8; 128]>>> push of a fresh box, pop, free".into());
    case
}

/// Case 2: a client thread doing blocking connects, a server thread doing blocking accepts.
pub fn two_threads(ctx: &Ctx<'_>) -> Case {
    fn wsp_variant<'a, A: Api>(api: &'a A, name: &str) -> Variant<'a> {
        let l = backlog_listener(api);
        Variant::new(name, move |n| handoff::pairs_wsp(api, &l, n))
    }
    let mut variants = vec![];
    if let Some(c) = ctx.capi {
        variants.push(wsp_variant(c, CAPI));
    }
    variants.push(wsp_variant(&ctx.core, CORE));
    for (name, family) in [(TCP, Family::Tcp), (UNIX, Family::Unix)] {
        let l = kernel::listener(family, 1024);
        variants.push(Variant::new(name, move |n| handoff::pairs_kernel(&l, n, family)));
    }
    let q = floor::Handoff::default();
    variants.push(Variant::new(FLOOR, move |n| handoff::pairs_floor(&q, n)));
    let (requests, answers) = (floor::Handoff::default(), floor::Handoff::default());
    variants.push(Variant::new(ROUND_TRIP_FLOOR, move |n| handoff::pairs_round_trip_floor(&requests, &answers, n)));
    let mut case =
        Case::new(2, "two threads: blocking connects (client thread) against blocking accepts (server thread)");
    case.rows = measure(ctx.settings, variants).iter().map(|s| Row::new(s, "ns/pair")).collect();
    let p = ctx.primary();
    case.ratio(UNIX, p);
    case.ratio(TCP, p);
    case.ratio(p, FLOOR);
    case.ratio(p, ROUND_TRIP_FLOOR);
    case.ratio(ROUND_TRIP_FLOOR, FLOOR);
    case.notes.push("wspsan's blocking connect returns only once accept answered; kernel connects complete in the kernel and the client runs ahead (TCP at most 256 ahead, so no SYN is dropped)".into());
    case.notes.push("floor: the same queue with a condvar, notified only when a waiter exists; the client does not wait for an answer".into());
    case.notes.push("round-trip floor: the same queue both ways; the client blocks for the server's answer, as SPEC C1 makes a SAN connect do".into());
    case
}

pub const BLOCKING: &str = "blocking connect";
pub const PARKED: &str = " to a parked accept";
pub const NONBLOCKING: &str = "non-blocking connect";

/// Case 3: latency from the start of a connect to the return of an accept blocked on another
/// thread.
pub fn handoff_latency(ctx: &Ctx<'_>) -> Case {
    fn wsp_variant<'a, A: Api>(api: &'a A, name: &str, nonblocking: bool, gap: Duration) -> LatencyVariant<'a> {
        let h = WspHandoff { api, listener: backlog_listener(api), nonblocking };
        let mode = if nonblocking { NONBLOCKING } else { BLOCKING };
        let parked = if gap == handoff::PARKED { PARKED } else { "" };
        LatencyVariant::new(format!("{name}, {mode}{parked}"), move |n| handoff::latency(&h, n, gap))
    }
    let mut variants = vec![];
    if let Some(c) = ctx.capi {
        variants.push(wsp_variant(c, CAPI, false, handoff::SOON));
        variants.push(wsp_variant(c, CAPI, false, handoff::PARKED));
        variants.push(wsp_variant(c, CAPI, true, handoff::SOON));
    }
    variants.push(wsp_variant(&ctx.core, CORE, false, handoff::SOON));
    let h = KernelHandoff(kernel::listener(Family::Unix, 1024));
    variants.push(LatencyVariant::new(UNIX, move |n| handoff::latency(&h, n, handoff::SOON)));
    let q = floor::Handoff::default();
    variants.push(LatencyVariant::new(FLOOR, move |n| handoff::latency(&q, n, handoff::SOON)));
    let mut case = Case::new(3, "hand-off latency: start of connect to return of an accept blocked on another thread");
    for s in measure_latency(ctx.settings, variants) {
        let mut p50 = Row::new(&s.p50, "ns p50");
        p50.name = format!("{} p50", s.p50.name);
        let mut p99 = Row::new(&s.p99, "ns p99");
        p99.name = format!("{} p99", s.p99.name);
        case.rows.push(p50);
        case.rows.push(p99);
    }
    let p = format!("{}, {BLOCKING} p50", ctx.primary());
    case.ratio(&p, &format!("{FLOOR} p50"));
    if ctx.capi.is_some() {
        case.ratio(&format!("{CAPI}, {BLOCKING}{PARKED} p50"), &format!("{FLOOR} p50"));
    }
    case.ratio(&format!("{UNIX} p50"), &p);
    if ctx.capi.is_some() {
        case.ratio(&format!("{CAPI}, {NONBLOCKING} p50"), &format!("{FLOOR} p50"));
    }
    case.notes.push(
        "the client connects 20 us after the server announced its accept (the floor and the kernel sleep at once; a wspsan wait polls for 60 us before it sleeps), or 200 us after (parked: every side asleep)"
            .into(),
    );
    case.notes.push("a blocking wspsan connect also waits for the answer: accept wakes the connector (one more futex wake) before it returns".into());
    case
}

/// A listener with backlog 1 and one request queued, and a non-blocking socket to connect.
fn full_listener<A: Api>(api: &A) -> (wsp::Listener<A>, A::Socket) {
    let l = listener(api, 1);
    let filler = api.socket();
    api.set_nonblocking(filler);
    assert_eq!(api.connect(filler, l.addr), Err(WsaError::WouldBlock.code()), "filler connect");
    let c = api.socket();
    api.set_nonblocking(c);
    (l, c)
}

/// Case 4: one connect refused because the listener's queue is full.
pub fn refusal(ctx: &Ctx<'_>) -> Case {
    fn wsp_variant<'a, A: Api>(api: &'a A, name: &str) -> Variant<'a> {
        let (l, c) = full_listener(api);
        let refused = WsaError::ConnRefused.code();
        Variant::new(name, move |n| timed(n, || assert_eq!(api.connect(c, l.addr), Err(refused), "refused connect")))
    }
    let mut variants = vec![];
    if let Some(c) = ctx.capi {
        variants.push(wsp_variant(c, CAPI));
    }
    variants.push(wsp_variant(&ctx.core, CORE));
    let l = kernel::listener(Family::Unix, 0);
    let filler = kernel::client(&l.addr, true);
    kernel::connect(&filler, &l.addr).expect("filler connect");
    let c = kernel::client(&l.addr, true);
    let name = format!("{UNIX} (EAGAIN: backlog full)");
    variants.push(Variant::new(name, move |n| {
        let _keep = &filler;
        timed(n, || assert_eq!(kernel::connect(&c, &l.addr), Err(libc::EAGAIN)))
    }));
    let mut case = Case::new(4, "refusal: one connect refused because the listener's queue is full");
    case.rows = measure(ctx.settings, variants).iter().map(|s| Row::new(s, "ns/connect")).collect();
    case.notes.push("wspsan: backlog 1 holding one request, the same socket connects again and again (WSAECONNREFUSED); TCP has no refusal: a full queue drops the SYN".into());
    case
}

/// A provider for the scaling and memory cases: four NICs (connectors bind on 127.0.0.2..4
/// outside the ephemeral range, so the measured pair on 127.0.0.1 keeps its port space) and
/// limits raised for a million sockets.
fn scaled_provider() -> Provider {
    Provider::with_config(DeviceConfig {
        nics: (1..=4).map(|k| Ipv4Addr::new(127, 0, 0, k)).collect(),
        limits: Limits { max_descriptors: 1_200_000, max_backlog: 200_000, max_pending: 1 << 21, ..Limits::default() },
        wildcard_bind: true,
    })
}

const FIRST_CONNECTOR_PORT: u16 = 3000;
const CONNECTOR_PORTS: u32 = 49152 - FIRST_CONNECTOR_PORT as u32;

/// `n` non-blocking sockets, each bound to its own address outside the ephemeral range.
fn bound_connectors(p: &Provider, n: usize) -> Vec<wspsan_core::Descriptor> {
    (0..n as u32)
        .map(|i| {
            let c = Api::socket(p);
            Api::set_nonblocking(p, c);
            let ip = Ipv4Addr::new(127, 0, 0, 2 + (i / CONNECTOR_PORTS) as u8);
            let port = FIRST_CONNECTOR_PORT + (i % CONNECTOR_PORTS) as u16;
            Api::bind(p, c, SocketAddrV4::new(ip, port));
            c
        })
        .collect()
}

fn connect_all(p: &Provider, connectors: &[wspsan_core::Descriptor], to: SocketAddrV4) {
    for &c in connectors {
        assert_eq!(Api::connect(p, c, to), Err(WsaError::WouldBlock.code()), "queued connect");
    }
}

pub const QUEUED: [(usize, &str); 3] = [(0, "0 queued"), (1_000, "1k queued"), (100_000, "100k queued")];
pub const OPEN: [(usize, &str); 3] = [(10, "10 open"), (10_000, "10k open"), (1_000_000, "1M open")];
/// Not a target: sockets open as in the 100k-queued case, without the queue, to tell the two apart.
pub const OPEN_CONTROL: (usize, &str) = (100_000, "100k open (control)");

/// Case 5: the pair of case 1 (Rust core) with load elsewhere in the same provider.
pub fn scaling(ctx: &Ctx<'_>) -> Case {
    let setup = Instant::now();
    let mut providers = vec![];
    for (n, name) in QUEUED {
        let p = scaled_provider();
        let other = listener(&p, n.max(1) as i32);
        let connectors = bound_connectors(&p, n);
        connect_all(&p, &connectors, other.addr);
        assert_eq!(p.listener_stats(other.socket).map(|s| s.queue_len), Ok(n as u64), "requests queued");
        providers.push((name, p));
    }
    for (n, name) in [OPEN[0], OPEN[1], OPEN_CONTROL, OPEN[2]] {
        let p = scaled_provider();
        for _ in 0..n {
            Api::socket(&p);
        }
        assert_eq!(p.device().stats().open_sockets, n as u64, "sockets open");
        providers.push((name, p));
    }
    let setup = setup.elapsed();
    let variants = providers
        .iter()
        .map(|(name, p)| {
            let l = backlog_listener(p);
            Variant::new(*name, move |n| timed(n, || wsp::pair(p, &l)))
        })
        .collect();
    let mut case =
        Case::new(5, "scaling: cost of one pair (Rust core) with requests queued on another listener, or sockets open");
    case.rows = measure(ctx.settings, variants).iter().map(|s| Row::new(s, "ns/pair")).collect();
    case.ratio(QUEUED[2].1, QUEUED[0].1);
    case.ratio(OPEN[2].1, OPEN[0].1);
    case.ratio(OPEN_CONTROL.1, OPEN[0].1);
    case.notes.push(format!(
        "queued requests come from sockets bound on 127.0.0.2..4 (so 100k queued also means 100k more sockets open); setup took {:.1} s",
        setup.as_secs_f64()
    ));
    let drop_start = Instant::now();
    drop(providers);
    case.notes.push(format!("tearing the six providers down took {:.2} s", drop_start.elapsed().as_secs_f64()));
    case
}

const MEMORY_REQUESTS: usize = 100_000;
const KERNEL_PENDING: usize = 4000;

/// Case 6: bytes per pending request, wspsan's heap against the kernel's slab.
pub fn memory(_ctx: &Ctx<'_>) -> Case {
    let mut case = Case::new(6, "memory per pending request (no caller data)");
    let p = scaled_provider();
    let l = listener(&p, MEMORY_REQUESTS as i32);
    let (connectors, socket_bytes) = alloc::measure(|| bound_connectors(&p, MEMORY_REQUESTS));
    let ((), request_bytes) = alloc::measure(|| connect_all(&p, &connectors, l.addr));
    let per = |b: isize| b as f64 / MEMORY_REQUESTS as f64;
    case.rows.push(Row::single("wspsan: heap per pending request (connect)", "bytes", per(request_bytes)));
    case.rows.push(Row::single("wspsan: heap per connecting socket (socket+bind)", "bytes", per(socket_bytes)));
    drop(p);
    case.notes.push(format!(
        "wspsan: net heap growth over {MEMORY_REQUESTS} non-blocking connects to one listener, counted by a global allocator; the connecting sockets were made and bound before"
    ));
    for (name, family) in [(UNIX, Family::Unix), (TCP, Family::Tcp)] {
        let runs: Vec<(f64, Vec<(String, f64)>)> =
            (0..3).filter_map(|_| kernel::pending_slab_cost(family, KERNEL_PENDING)).collect();
        if runs.is_empty() {
            case.notes.push(format!("{name}: /proc/slabinfo unavailable"));
            continue;
        }
        let caches: Vec<String> = runs[0].1.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
        case.rows.push(Row {
            name: format!("{name}: slab per pending connection"),
            unit: "bytes",
            runs: runs.iter().map(|r| r.0).collect(),
        });
        case.notes.push(format!("{name}: largest slab growth per connection: {} (SLUB merges caches of one size, so a cache may show under another's name)", caches.join(", ")));
    }
    case.notes.push(format!(
        "kernel: growth of /proc/slabinfo (active objects x size, all caches) over {KERNEL_PENDING} non-blocking connects left in the accept queue, 3 runs; client sockets made before"
    ));
    case
}

/// The loops `--profile` runs on their own (for perf or callgrind), without the harness.
pub const PROFILES: [&str; 9] = [
    "capi-pair",
    "core-pair",
    "capi-refusal",
    "core-refusal",
    "pair-100k-queued",
    "pair-1M-open",
    "core-two-threads",
    "capi-two-threads",
    "unix-two-threads",
];

/// Run one loop `n` times, for a profiler.
pub fn profile(name: &str, n: u64, capi: &CAbi) {
    let core = Provider::new();
    let loaded = |queued: usize, open: usize| {
        let p = scaled_provider();
        let other = listener(&p, queued.max(1) as i32);
        connect_all(&p, &bound_connectors(&p, queued), other.addr);
        for _ in 0..open {
            Api::socket(&p);
        }
        p
    };
    fn pairs<A: Api>(api: &A, n: u64) {
        let l = backlog_listener(api);
        timed(n, || wsp::pair(api, &l));
    }
    fn refusals<A: Api>(api: &A, n: u64) {
        let (l, c) = full_listener(api);
        timed(n, || assert!(api.connect(c, l.addr).is_err()));
    }
    match name {
        "capi-pair" => pairs(capi, n),
        "core-pair" => pairs(&core, n),
        "capi-refusal" => refusals(capi, n),
        "core-refusal" => refusals(&core, n),
        "pair-100k-queued" => pairs(&loaded(100_000, 0), n),
        "pair-1M-open" => pairs(&loaded(0, 1_000_000), n),
        "core-two-threads" => {
            handoff::pairs_wsp(&core, &backlog_listener(&core), n);
        }
        "capi-two-threads" => {
            handoff::pairs_wsp(capi, &backlog_listener(capi), n);
        }
        "unix-two-threads" => {
            handoff::pairs_kernel(&kernel::listener(Family::Unix, 1024), n, Family::Unix);
        }
        other => panic!("unknown profile {other}: one of {PROFILES:?}"),
    }
}

/// The targets for cases 1 to 6, and of the fabric for case 8, read off the tables.
pub fn targets(ctx: &Ctx<'_>, cases: &[Case]) -> Vec<Target> {
    let p = ctx.primary();
    let find = |id: u8| cases.iter().find(|c| c.id == id);
    let ratio = |id: u8, num: &str, den: &str| find(id)?.ratio_of(num, den);
    let mut out = vec![];
    let mut check = |case: u8, goal: String, value: Option<f64>, ok: fn(f64) -> bool, unit: &str| {
        out.push(Target {
            case,
            goal,
            measured: value.map_or("not measured".into(), |v| format!("{v:.2}{unit}")),
            met: value.map(ok),
        });
    };
    check(1, format!("{UNIX} / {p} >= 20x"), ratio(1, UNIX, p), |r| r >= 20.0, "x");
    check(1, format!("{TCP} / {p} >= 40x"), ratio(1, TCP, p), |r| r >= 40.0, "x");
    check(1, format!("{p} / floor <= 5x"), ratio(1, p, FLOOR), |r| r <= 5.0, "x");
    check(2, format!("{UNIX} / {p} >= 2x"), ratio(2, UNIX, p), |r| r >= 2.0, "x");
    if p != CORE {
        check(2, format!("{p} / {CORE} <= 1.2x"), ratio(2, p, CORE), |r| r <= 1.2, "x");
    }
    let p3 = format!("{p}, {BLOCKING} p50");
    check(3, format!("{p3} / floor p50 <= 1.2x"), ratio(3, &p3, &format!("{FLOOR} p50")), |r| r <= 1.2, "x");
    if p != CORE {
        let parked = format!("{p}, {BLOCKING}{PARKED} p50");
        check(
            3,
            format!("{parked} / floor p50 <= 1.2x"),
            ratio(3, &parked, &format!("{FLOOR} p50")),
            |r| r <= 1.2,
            "x",
        );
    }
    let refused = find(4).and_then(|c| c.row(p)).map(|r| r.median());
    check(4, format!("{p}: refused connect < 100 ns"), refused, |v| v < 100.0, " ns");
    check(
        5,
        format!("{} / {} <= 1.3x", QUEUED[2].1, QUEUED[0].1),
        ratio(5, QUEUED[2].1, QUEUED[0].1),
        |r| r <= 1.3,
        "x",
    );
    check(5, format!("{} / {} <= 1.3x", OPEN[2].1, OPEN[0].1), ratio(5, OPEN[2].1, OPEN[0].1), |r| r <= 1.3, "x");
    let bytes = find(6).and_then(|c| c.rows.first()).map(|r| r.median());
    check(6, "wspsan heap per pending request <= 256 bytes".into(), bytes, |b| b <= 256.0, " bytes");
    let (fabric, floor, tcp) = (remote::FABRIC, remote::REMOTE_FLOOR, remote::REMOTE_TCP);
    check(8, format!("{fabric} / cross-process floor <= 1.5x"), ratio(8, fabric, floor), |r| r <= 1.5, "x");
    check(8, format!("{tcp} / fabric > 1x (faster)"), ratio(8, tcp, fabric), |r| r > 1.0, "x");
    out
}

#[cfg(test)]
mod tests {
    //! The loops measure what they say they measure.
    use super::*;

    #[test]
    fn a_pair_leaves_only_the_listener_open() {
        let p = Provider::new();
        let l = listener(&p, 8);
        for _ in 0..100 {
            wsp::pair(&p, &l);
        }
        assert_eq!(p.device().stats().open_sockets, 1);
        assert_eq!(p.listener_stats(l.socket).map(|s| s.accepted), Ok(100));
    }

    #[test]
    fn the_refusal_case_is_refused_because_the_queue_is_full() {
        let p = Provider::new();
        let (l, c) = full_listener(&p);
        for _ in 0..10 {
            assert_eq!(Api::connect(&p, c, l.addr), Err(WsaError::ConnRefused.code()));
        }
        let stats = p.listener_stats(l.socket).expect("listening");
        assert_eq!((stats.queue_len, stats.refused_full), (1, 10));
    }

    #[test]
    fn the_c_abi_runs_the_same_pair() {
        let c = CAbi::start();
        let l = listener(&c, 8);
        for _ in 0..10 {
            wsp::pair(&c, &l);
        }
        c.close(l.socket);
    }

    #[test]
    fn queued_connectors_spill_over_to_the_next_nic() {
        let p = scaled_provider();
        let other = listener(&p, 200_000);
        let n = CONNECTOR_PORTS as usize + 10;
        connect_all(&p, &bound_connectors(&p, n), other.addr);
        assert_eq!(p.listener_stats(other.socket).map(|s| s.queue_len), Ok(n as u64));
        // the measured pair still works next to them
        let l = listener(&p, 8);
        wsp::pair(&p, &l);
    }

    #[test]
    fn heap_growth_is_counted() {
        // Other tests run in this process at the same time and allocate or free megabytes now and
        // then (a provider's port table, 65k connectors): one of a few tries is a quiet one.
        let mut seen = Vec::new();
        for _ in 0..8 {
            let (v, bytes) = crate::alloc::measure(|| vec![0u8; 1 << 24]);
            drop(v);
            if bytes.abs_diff(1 << 24) < 1 << 20 {
                return;
            }
            seen.push(bytes);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("a 16 MiB allocation was never counted as 16 MiB: {seen:?}");
    }
}

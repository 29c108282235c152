//! A fault injector for fabric messages: what a network does to connection setup (delay, loss,
//! duplication, reordering, partitions), seeded so that a failing scenario replays. It wraps
//! whatever carries a device's messages, as smoltcp's `FaultInjector` wraps any device: the
//! engine's rules never ask whether a fault was injected.

use super::wire::Frame;
use crate::stats::FaultStats;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The kinds of fabric message a fault can single out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A connect request (connector's device to listener's device).
    Request,
    /// The listener's answer: an acceptance with callee data, or a refusal.
    Answer,
    /// The connector's confirmation that it took the answer.
    Confirm,
    /// The connector giving its request up.
    Withdraw,
    /// One end of an established connection closed.
    Close,
}

impl MessageKind {
    /// Every kind, in the order the knobs index them.
    pub const ALL: [MessageKind; 5] =
        [MessageKind::Request, MessageKind::Answer, MessageKind::Confirm, MessageKind::Withdraw, MessageKind::Close];

    /// The kind of `f`; `None` for the transport's own frames (handshake, liveness), which faults
    /// leave alone.
    pub(crate) fn of(f: &Frame) -> Option<MessageKind> {
        Some(match f {
            Frame::Request(_) => MessageKind::Request,
            Frame::Accepted { .. } | Frame::Refused { .. } => MessageKind::Answer,
            Frame::Confirm { .. } => MessageKind::Confirm,
            Frame::Withdraw { .. } => MessageKind::Withdraw,
            Frame::Close { .. } => MessageKind::Close,
            Frame::Hello { .. } | Frame::Auth { .. } | Frame::Ping => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The lower-case name used by the C and Python faces (`"request"`, `"answer"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Answer => "answer",
            MessageKind::Confirm => "confirm",
            MessageKind::Withdraw => "withdraw",
            MessageKind::Close => "close",
        }
    }

    /// The kind named `name` (see [`name`](Self::name)).
    pub fn from_name(name: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The knobs for one kind of message.
#[derive(Clone, Copy, Debug, Default)]
struct Knobs {
    delay_min: Duration,
    delay_max: Duration,
    drop_next: u64,
    drop_probability: f64,
    duplicate_probability: f64,
}

#[derive(Debug)]
struct Settings {
    kinds: [Knobs; 5],
    reorder_window: usize,
    /// The next this many messages of any kind are dropped.
    drop_any_next: u64,
    /// Pairs of NIC addresses whose devices cannot reach each other, smaller address first.
    partitions: HashSet<(Ipv4Addr, Ipv4Addr)>,
    rng: SplitMix64,
}

/// What happens to one message: how many copies leave (0: dropped) and after what delay each.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) delays: Vec<Duration>,
    /// Hold it for reordering within this many messages (0: no reordering).
    pub(crate) reorder_window: usize,
}

/// A fault injector: knobs settable at run time from any thread, a seeded generator behind every
/// random choice, and a counter for each fault injected. Cheap to clone; clones are the same
/// injector. With every knob off (the start, and after [`clear`](Self::clear)) messages pass
/// through untouched.
///
/// Seeded: the same seed and the same sequence of messages give the same faults. Threads decide
/// the order in which messages reach the injector, so a scenario replays exactly when its
/// messages do.
#[derive(Clone)]
pub struct FaultInjector {
    inner: Arc<Inner>,
}

struct Inner {
    /// Whether any knob is on: the path a message takes when none is stays one load long.
    active: AtomicBool,
    settings: Mutex<Settings>,
    delayed: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    partitioned: AtomicU64,
}

impl std::fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultInjector").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Default for FaultInjector {
    fn default() -> Self {
        FaultInjector::new(0)
    }
}

fn check_probability(p: f64) -> crate::Result<f64> {
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(crate::WsaError::Inval) }
}

impl FaultInjector {
    /// An injector with every knob off, its random choices drawn from `seed`.
    pub fn new(seed: u64) -> FaultInjector {
        FaultInjector {
            inner: Arc::new(Inner {
                active: AtomicBool::new(false),
                settings: Mutex::new(Settings {
                    kinds: [Knobs::default(); 5],
                    reorder_window: 0,
                    drop_any_next: 0,
                    partitions: HashSet::new(),
                    rng: SplitMix64(seed),
                }),
                delayed: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                duplicated: AtomicU64::new(0),
                reordered: AtomicU64::new(0),
                partitioned: AtomicU64::new(0),
            }),
        }
    }

    /// Whether two handles are the same injector.
    pub fn same(&self, other: &FaultInjector) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.inner.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Change the settings and recompute whether any knob is on.
    fn change(&self, f: impl FnOnce(&mut Settings)) {
        let mut s = self.settings();
        f(&mut s);
        self.inner.active.store(s.any_on(), Relaxed);
    }

    fn each(kinds: &mut [Knobs; 5], kind: Option<MessageKind>, f: impl Fn(&mut Knobs)) {
        match kind {
            Some(k) => f(&mut kinds[k.index()]),
            None => kinds.iter_mut().for_each(f),
        }
    }

    /// Restart the random choices from `seed`.
    pub fn reseed(&self, seed: u64) {
        self.settings().rng = SplitMix64(seed);
    }

    /// Delay every message of `kind` (every kind for `None`) by a time drawn uniformly from
    /// `min..=max` (a fixed delay when they are equal; both zero: no delay). `WSAEINVAL` when
    /// `min > max`.
    pub fn delay(&self, kind: Option<MessageKind>, min: Duration, max: Duration) -> crate::Result<()> {
        if min > max {
            return Err(crate::WsaError::Inval);
        }
        self.change(|s| {
            FaultInjector::each(&mut s.kinds, kind, |k| {
                k.delay_min = min;
                k.delay_max = max;
            });
        });
        Ok(())
    }

    /// Drop the next `n` messages of `kind` (for `None`: the next `n` messages, whatever their
    /// kind).
    pub fn drop_next(&self, kind: Option<MessageKind>, n: u64) {
        self.change(|s| match kind {
            Some(k) => s.kinds[k.index()].drop_next = n,
            None => s.drop_any_next = n,
        });
    }

    /// Drop each message of `kind` with probability `p` (0 to 1, else `WSAEINVAL`).
    pub fn drop_probability(&self, kind: Option<MessageKind>, p: f64) -> crate::Result<()> {
        let p = check_probability(p)?;
        self.change(|s| FaultInjector::each(&mut s.kinds, kind, |k| k.drop_probability = p));
        Ok(())
    }

    /// Deliver each message of `kind` twice with probability `p` (0 to 1, else `WSAEINVAL`).
    pub fn duplicate_probability(&self, kind: Option<MessageKind>, p: f64) -> crate::Result<()> {
        let p = check_probability(p)?;
        self.change(|s| FaultInjector::each(&mut s.kinds, kind, |k| k.duplicate_probability = p));
        Ok(())
    }

    /// Reorder messages within windows of `window` messages (0 or 1: keep their order).
    pub fn reorder(&self, window: usize) {
        self.change(|s| s.reorder_window = if window > 1 { window } else { 0 });
    }

    /// Cut the devices owning `a` and `b` off from each other: every message between them is lost
    /// until [`heal`](Self::heal).
    pub fn partition(&self, a: Ipv4Addr, b: Ipv4Addr) {
        self.change(|s| {
            s.partitions.insert(pair(a, b));
        });
    }

    /// End the partition between `a` and `b`; `None` ends every partition.
    pub fn heal(&self, between: Option<(Ipv4Addr, Ipv4Addr)>) {
        self.change(|s| match between {
            Some((a, b)) => {
                s.partitions.remove(&pair(a, b));
            }
            None => s.partitions.clear(),
        });
    }

    /// Turn every knob off (the counters and the generator carry on).
    pub fn clear(&self) {
        self.change(|s| {
            s.kinds = [Knobs::default(); 5];
            s.reorder_window = 0;
            s.drop_any_next = 0;
            s.partitions.clear();
        });
    }

    /// Whether any knob is on.
    pub fn active(&self) -> bool {
        self.inner.active.load(Relaxed)
    }

    /// How many faults were injected, by kind of fault.
    pub fn stats(&self) -> FaultStats {
        let i = &self.inner;
        FaultStats {
            delayed: i.delayed.load(Relaxed),
            dropped: i.dropped.load(Relaxed),
            duplicated: i.duplicated.load(Relaxed),
            reordered: i.reordered.load(Relaxed),
            partitioned: i.partitioned.load(Relaxed),
        }
    }

    /// Count messages a reordering window released out of their order.
    pub(crate) fn count_reordered(&self, n: u64) {
        self.inner.reordered.fetch_add(n, Relaxed);
    }

    /// What happens to a message of `kind` from the device at `from` to the device at `to`.
    /// `None` when no knob is on: the message goes on untouched, now.
    pub(crate) fn plan(&self, from: Ipv4Addr, to: Ipv4Addr, kind: MessageKind) -> Option<Plan> {
        if !self.active() {
            return None;
        }
        let i = &self.inner;
        let mut s = self.settings();
        if s.partitions.contains(&pair(from, to)) {
            i.partitioned.fetch_add(1, Relaxed);
            return Some(Plan { delays: Vec::new(), reorder_window: 0 });
        }
        if s.drop_any_next > 0 {
            s.drop_any_next -= 1;
            i.dropped.fetch_add(1, Relaxed);
            i.active.store(s.any_on(), Relaxed); // the last of a count turns the knob off
            return Some(Plan { delays: Vec::new(), reorder_window: 0 });
        }
        let window = s.reorder_window;
        let Settings { kinds, rng, .. } = &mut *s;
        let k = &mut kinds[kind.index()];
        if k.drop_next > 0 {
            k.drop_next -= 1;
            i.dropped.fetch_add(1, Relaxed);
            i.active.store(s.any_on(), Relaxed); // the last of a count turns the knob off
            return Some(Plan { delays: Vec::new(), reorder_window: 0 });
        }
        if k.drop_probability > 0.0 && rng.chance(k.drop_probability) {
            i.dropped.fetch_add(1, Relaxed);
            return Some(Plan { delays: Vec::new(), reorder_window: 0 });
        }
        let copies = if k.duplicate_probability > 0.0 && rng.chance(k.duplicate_probability) {
            i.duplicated.fetch_add(1, Relaxed);
            2
        } else {
            1
        };
        let mut delays = Vec::with_capacity(copies);
        for _ in 0..copies {
            let d = rng.between(k.delay_min, k.delay_max);
            if !d.is_zero() {
                i.delayed.fetch_add(1, Relaxed);
            }
            delays.push(d);
        }
        Some(Plan { delays, reorder_window: window })
    }

    /// A random permutation of `0..n` for a reordering window.
    pub(crate) fn shuffle(&self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        let mut s = self.settings();
        for i in (1..n).rev() {
            let j = (s.rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }
}

impl Settings {
    fn any_on(&self) -> bool {
        self.reorder_window > 0
            || self.drop_any_next > 0
            || !self.partitions.is_empty()
            || self.kinds.iter().any(|k| {
                !k.delay_max.is_zero() || k.drop_next > 0 || k.drop_probability > 0.0 || k.duplicate_probability > 0.0
            })
    }
}

fn pair(a: Ipv4Addr, b: Ipv4Addr) -> (Ipv4Addr, Ipv4Addr) {
    if a <= b { (a, b) } else { (b, a) }
}

/// A small seeded generator (SplitMix64): reproducible, and no dependency for it.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn between(&mut self, min: Duration, max: Duration) -> Duration {
        if max <= min {
            return min;
        }
        let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
        min + Duration::from_nanos(self.next() % span.saturating_add(1))
    }
}

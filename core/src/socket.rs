//! One socket: its state machine, its listen queue and the pending requests in it.

use crate::error::WsaError;
use crate::events::{EventHandle, EventRecord};
use crate::fabric::session::Outbound;
use crate::link::PeerLink;
use crate::listen_queue::ListenQueue;
use crate::stats::declare_record;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// A socket descriptor as the provider hands it out (`SOCKET` in C).
///
/// Values are never reused within a provider: a closed descriptor stays dead for good and
/// every later call with it fails with `WSAENOTSOCK` (SPEC section 0, K1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Descriptor(u64);

impl Descriptor {
    /// Wrap a raw value (from C or Python); it is checked when used.
    pub const fn from_raw(raw: u64) -> Descriptor {
        Descriptor(raw)
    }

    /// The raw value, as C and Python see it.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Descriptor({:#x})", self.0)
    }
}

impl fmt::Display for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Calls `callback! { tokens <fields> }` with the fields of [`FlowSpec`], in the order of
/// Windows' `FLOWSPEC`, each `/// doc name (WindowsName): u32,`.
#[macro_export]
macro_rules! for_each_flowspec_field {
    ($cb:ident ! { $($args:tt)* }) => {
        $cb! { $($args)*
            /// Bytes per second.
            token_rate (TokenRate): u32,
            /// Bytes.
            token_bucket_size (TokenBucketSize): u32,
            /// Bytes per second.
            peak_bandwidth (PeakBandwidth): u32,
            /// Microseconds.
            latency (Latency): u32,
            /// Microseconds.
            delay_variation (DelayVariation): u32,
            /// `SERVICETYPE`.
            service_type (ServiceType): u32,
            /// Bytes.
            max_sdu_size (MaxSduSize): u32,
            /// Bytes.
            minimum_policed_size (MinimumPolicedSize): u32,
        }
    };
}

crate::for_each_flowspec_field!(declare_record! {
    /// Quality of service flow parameters, as Windows' `FLOWSPEC` (eight 32-bit fields).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    FlowSpec;
});

/// The quality of service a connector asks for (`QOS`), handed to the condition function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Qos {
    /// Sending flow.
    pub sending: FlowSpec,
    /// Receiving flow.
    pub receiving: FlowSpec,
    /// Provider-specific bytes (`ProviderSpecific`).
    pub provider_specific: Vec<u8>,
}

/// The state machine of one socket. Every SPEC state error comes from a match on this.
pub(crate) enum State {
    /// Made by `WSPSocket`, not bound.
    Created,
    /// Bound to a local address (explicitly or by a connect).
    Bound,
    /// Listening, with its queue.
    Listening(Box<ListenQueue>),
    /// A connect is pending.
    /// `from` is the NIC the connector speaks from (A15 names a wildcard-bound one by it).
    /// `outbound` is the request sent across the TCP fabric, told when the attempt is withdrawn;
    /// `attempt` numbers the attempt (answers for an older one are ignored).
    Connecting { remote: SocketAddrV4, from: Ipv4Addr, deferred: bool, outbound: Option<Arc<Outbound>>, attempt: u64 },
    /// Connected (by connect or accept).
    Connected { remote: SocketAddrV4, peer: PeerLink },
    /// Was connected; the other end has closed (K3).
    Disconnected,
    /// Closed: a dead end.
    Closed,
}

/// Everything about a socket that its lock protects.
pub(crate) struct SocketInner {
    /// The socket this cell holds now: a table slot's cell serves one socket after another, so
    /// whoever kept the cell beyond one call checks this before acting on it.
    pub(crate) id: Descriptor,
    /// Whether the socket is made and not closed. The table finds it only once published as
    /// well (`Table::publish`): an accepted socket is made before its connector's answer is
    /// known and is published only once that answer is in.
    pub(crate) open: bool,
    pub(crate) state: State,
    pub(crate) local: Option<SocketAddrV4>,
    /// Whether `local` holds an entry in the device's port table (accepted sockets share
    /// their listener's port and hold none).
    pub(crate) owns_port: bool,
    pub(crate) nonblocking: bool,
    pub(crate) events: EventRecord,
    pub(crate) so_error: i32,
    pub(crate) sndbuf: i32,
    pub(crate) rcvbuf: i32,
    /// Threads blocked on this socket's condvar.
    pub(crate) waiters: u32,
    /// Threads spinning on `SocketCell::changes` before they block.
    pub(crate) spinners: u32,
    /// The switch's context for this socket (from the create hook).
    pub(crate) context: u64,
    /// The embedding provider's own value for this socket (its data path's state), 0 until set.
    pub(crate) embedder: u64,
    /// Callee data of the completed connect (`SO_CONNDATA`).
    pub(crate) callee_data: Box<[u8]>,
    /// The outcome of a blocking connect attempt, left for the waiting thread.
    pub(crate) outcome: Option<(u64, Result<(), WsaError>)>,
    attempt_seq: u64,
}

/// A socket: its lock, its condvar and the lock-free mirror of its current connect attempt.
/// One cell holds the sockets of one table slot in turn ([`SocketInner::id`] names the current).
pub(crate) struct SocketCell {
    pub(crate) inner: Mutex<SocketInner>,
    pub(crate) cv: Condvar,
    /// A lock-free mirror of the `Connecting` state's attempt (0 = none), for a pending request
    /// to see a withdrawal without locking its connector (A12). Written only by `set_state`.
    pub(crate) attempt: AtomicU64,
    /// Bumped under `inner` on every change a spinning waiter may be waiting for.
    pub(crate) changes: AtomicU32,
    /// Set under `inner` when a socket closed while a thread was still to come back for it
    /// ([`SocketInner::awaited`]): its slot waits for the last such thread to leave
    /// (`Shared::leave`), which gives it back.
    pub(crate) retired: AtomicBool,
}

/// Default buffer size options (reported only; the emulated device moves no data).
const DEFAULT_BUF: i32 = 65536;

impl SocketInner {
    fn fresh(id: Descriptor, context: u64) -> SocketInner {
        SocketInner {
            id,
            open: false,
            state: State::Created,
            local: None,
            owns_port: false,
            nonblocking: false,
            events: EventRecord::default(),
            so_error: 0,
            sndbuf: DEFAULT_BUF,
            rcvbuf: DEFAULT_BUF,
            waiters: 0,
            spinners: 0,
            context,
            embedder: 0,
            callee_data: Box::default(),
            outcome: None,
            attempt_seq: 0,
        }
    }

    /// Make the cell hold a new socket `id`: everything starts afresh except what belongs to the
    /// cell rather than to one socket: the threads still waiting on it (they will find the
    /// socket they waited for gone) and the attempt numbers, which never repeat in a cell so an
    /// answer or a timeout for an earlier socket's attempt can never match a later one's.
    pub(crate) fn open_as(&mut self, id: Descriptor, context: u64, init: impl FnOnce(&mut SocketInner)) {
        let mut fresh = SocketInner::fresh(id, context);
        fresh.waiters = self.waiters;
        fresh.spinners = self.spinners;
        fresh.attempt_seq = self.attempt_seq;
        fresh.open = true;
        init(&mut fresh);
        *self = fresh;
    }

    /// Whether a thread may still come back to this socket to read something of it: one waiting
    /// on it, a blocking connect (it may be between its request and its wait), or an outcome a
    /// blocking connect has yet to read. The cell of a socket closed then is never given to a
    /// later socket, so that thread finds what it came for.
    pub(crate) fn awaited(&self) -> bool {
        self.waiters > 0
            || self.spinners > 0
            || self.outcome.is_some()
            || matches!(self.state, State::Connecting { deferred: false, .. })
    }

    /// Let go of what a closed socket held (its event object, its callee data): the cell stays
    /// for a later socket and must not keep them alive. A blocking connect's outcome and callee
    /// data stay while its thread may still read them (`awaited`).
    pub(crate) fn vacate(&mut self, awaited: bool) {
        self.open = false;
        self.events = EventRecord::default();
        if !awaited {
            self.callee_data = Box::default();
        }
        self.local = None;
        self.owns_port = false;
    }
}

impl SocketCell {
    /// A cell holding no socket yet.
    pub(crate) fn vacant() -> SocketCell {
        SocketCell {
            inner: Mutex::new(SocketInner::fresh(Descriptor::from_raw(0), 0)),
            cv: Condvar::new(),
            attempt: AtomicU64::new(0),
            changes: AtomicU32::new(0),
            retired: AtomicBool::new(false),
        }
    }

    /// A cell holding socket `id`, open: for tests of the parts that take a socket.
    #[cfg(test)]
    pub(crate) fn new(id: Descriptor) -> SocketCell {
        let cell = SocketCell::vacant();
        cell.lock().open_as(id, 0, |_| {});
        cell
    }

    /// Lock the socket if the cell still holds socket `id` (it may hold a later one by now).
    #[inline]
    pub(crate) fn lock_as(&self, id: Descriptor) -> Option<MutexGuard<'_, SocketInner>> {
        let g = self.lock();
        (g.id == id).then_some(g)
    }

    /// Lock the socket if no other thread holds it (poisoning ignored, as [`lock`](Self::lock)).
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, SocketInner>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Lock the socket. A panic elsewhere never leaves the engine unusable: poisoning is
    /// ignored because every critical section leaves the state consistent before it can panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SocketInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record a change that blocked threads may be waiting for. Call with the lock held; returns
    /// whether a thread sleeps on the condvar, to be notified once the lock is released (a thread
    /// woken while the lock is still held would only block again on the mutex).
    #[inline]
    pub(crate) fn changed(&self, inner: &SocketInner) -> bool {
        if inner.spinners > 0 {
            self.changes.fetch_add(1, Ordering::Release);
        }
        inner.waiters > 0
    }

    /// Wake every thread blocked on this socket: call after releasing the lock, when
    /// [`changed`](Self::changed) said so.
    #[inline]
    pub(crate) fn notify(&self, sleepers: bool) {
        if sleepers {
            self.cv.notify_all();
        }
    }
}

/// What a state change asks of its caller once the socket's lock is released: wake the threads
/// blocked on the socket, so they re-check their condition.
#[must_use = "threads blocked on the socket must be woken once the lock is released"]
pub(crate) struct Wake(bool);

impl Wake {
    /// Wake them (call with the socket's lock released).
    pub(crate) fn notify(self, cell: &SocketCell) {
        cell.notify(self.0);
    }
}

impl SocketInner {
    /// The one place a socket's state changes (smoltcp's `set_state`): it keeps the lock-free
    /// mirror of the current connect attempt in step with the `Connecting` state (a pending
    /// request reads it to see a withdrawal, A12) and says whom to wake. Returns the old state.
    #[inline]
    pub(crate) fn set_state(&mut self, cell: &SocketCell, new: State) -> (State, Wake) {
        let old = self.replace_state(cell, new);
        let wake = Wake(cell.changed(self));
        (old, wake)
    }

    /// [`set_state`](Self::set_state) without telling waiters yet: for a change that goes on
    /// under the lock, whose caller calls [`SocketCell::changed`] once it is complete, so that a
    /// spinning waiter does not wake to a lock still held.
    #[inline]
    fn replace_state(&mut self, cell: &SocketCell, new: State) -> State {
        let attempt = match &new {
            State::Connecting { attempt, .. } => *attempt,
            _ => 0,
        };
        cell.attempt.store(attempt, Ordering::Release);
        std::mem::replace(&mut self.state, new)
    }

    /// The error a connect attempt ends with when its time is up: `WSAEHOSTUNREACH` while its
    /// request waits for the fabric connection to the target's host to open (F4: the host did
    /// not answer), `WSAETIMEDOUT` otherwise (D2).
    pub(crate) fn expiry_error(&self) -> WsaError {
        match &self.state {
            State::Connecting { outbound: Some(o), .. } if o.parked() => WsaError::HostUnreach,
            _ => WsaError::TimedOut,
        }
    }

    /// The current connect attempt (0 when none).
    #[inline]
    pub(crate) fn attempt(&self) -> u64 {
        match self.state {
            State::Connecting { attempt, .. } => attempt,
            _ => 0,
        }
    }

    /// Start a connect attempt and return its number. Nobody waits on a socket that starts
    /// connecting: its caller is the only thread using it.
    #[inline]
    pub(crate) fn begin_attempt(&mut self, cell: &SocketCell, remote: SocketAddrV4, from: Ipv4Addr) -> u64 {
        self.attempt_seq += 1;
        let attempt = self.attempt_seq;
        let connecting = State::Connecting { remote, from, deferred: self.nonblocking, outbound: None, attempt };
        let (_, nobody) = self.set_state(cell, connecting);
        drop(nobody);
        self.outcome = None;
        // E5, C2: FD_CONNECT and SO_ERROR report this attempt; an older result is stale now.
        self.events.clear(crate::consts::FD_CONNECT);
        self.so_error = 0;
        attempt
    }

    /// End the current attempt without an answer from the listener (withdrawn: timed out,
    /// interrupted, device down). The queued request stays and accept will see it withdrawn.
    pub(crate) fn withdraw(&mut self, cell: &SocketCell) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        // The withdrawing thread is the one that waited; nobody else waits on a connector.
        let (old, nobody) = self.set_state(cell, State::Bound);
        drop(nobody);
        if let State::Connecting { outbound: Some(o), .. } = old {
            o.withdraw(); // the listener's device across the fabric learns it (A12)
        }
    }

    /// The options an accepted socket takes from this listener (SPEC A7).
    pub(crate) fn options(&self) -> Inherited {
        Inherited {
            nonblocking: self.nonblocking,
            sndbuf: self.sndbuf,
            rcvbuf: self.rcvbuf,
            mask: self.events.mask,
            handle: if self.events.selected() { self.events.handle.clone() } else { None },
        }
    }

    /// Take a listener's options (SPEC A7: the event selection included).
    pub(crate) fn inherit(&mut self, from: &Inherited) {
        self.nonblocking = from.nonblocking;
        self.sndbuf = from.sndbuf;
        self.rcvbuf = from.rcvbuf;
        let _ = self.events.select(from.handle.clone(), from.mask);
    }
}

/// A listener's options, copied while its lock is held.
pub(crate) struct Inherited {
    nonblocking: bool,
    sndbuf: i32,
    rcvbuf: i32,
    mask: u32,
    /// The selected event object, if any (also what E3 resets).
    pub(crate) handle: Option<EventHandle>,
}

/// How a connect attempt ended, as delivered to the connector.
pub(crate) enum Answer {
    Accepted { peer: PeerLink, callee_data: Box<[u8]> },
    Failed(WsaError),
}

/// Deliver the listener's answer to the connector (SPEC C1). Returns false when the attempt
/// was already withdrawn (A12), in which case nothing changed.
pub(crate) fn answer(connector: &SocketCell, attempt: u64, answer: Answer) -> bool {
    answer_then(connector, attempt, answer, || {})
}

/// [`answer`], running `then` under the connector's lock once the answer is in place, before
/// any thread can see it (a counter that must be current, a confirmation that must have left
/// before the connector's owner can act on the answer and, say, exit).
pub(crate) fn answer_then(connector: &SocketCell, attempt: u64, answer: Answer, then: impl FnOnce()) -> bool {
    let signal: Option<EventHandle>;
    let wake;
    let sent;
    {
        let mut g = connector.lock();
        let State::Connecting { remote, from, deferred, attempt: current, .. } = g.state else {
            return false;
        };
        if current != attempt {
            return false;
        }
        let (new, result) = match answer {
            Answer::Accepted { peer, callee_data } => {
                // A15 (decided, as Windows): once connected, a connector bound to the wildcard
                // is named by the NIC it speaks from; its port binding is unchanged.
                if let Some(l) = g.local.filter(|l| l.ip().is_unspecified()) {
                    g.local = Some(SocketAddrV4::new(from, l.port()));
                }
                g.callee_data = callee_data;
                (State::Connected { remote, peer }, Ok(()))
            }
            Answer::Failed(e) => (State::Bound, Err(e)), // C6: may connect again
        };
        let old = g.replace_state(connector, new);
        // Whatever ends the attempt here, a request sent across the fabric is settled: a no-op
        // when its answer is what is being delivered, a withdrawal when the attempt timed out.
        sent = match old {
            State::Connecting { outbound, .. } => outbound,
            _ => None,
        };
        signal = if deferred {
            // C2, E5: the non-blocking connect's answer arrives as FD_CONNECT and SO_ERROR.
            let code = result.err().map_or(0, WsaError::code);
            g.so_error = code;
            g.events.record(crate::consts::FD_CONNECT_BIT, code)
        } else {
            g.outcome = Some((attempt, result));
            None
        };
        then();
        wake = Wake(connector.changed(&g));
    }
    if let Some(o) = sent {
        o.withdraw();
    }
    wake.notify(connector);
    if let Some(h) = signal {
        crate::events::fire_set(&h);
    }
    true
}

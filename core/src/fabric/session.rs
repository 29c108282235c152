//! A session with one remote device (SPEC F5-F8): what the messages of the fabric protocol mean
//! to the engine, whatever carries them. A [`Transport`] only moves messages (the TCP fabric
//! frames them on a kernel TCP connection; a provider's own transport or a fault injector can
//! move them too); the session turns them into queued requests, answers, confirmations,
//! withdrawals and closes, and settles everything when the transport is lost.

use super::wire::{self, Frame};
use crate::error::{Result, WsaError};
use crate::link::{self, End, PeerLink};
use crate::provider::Shared;
use crate::socket::{Answer, SocketCell, answer_then};
use crate::stats::FabricStats;
use std::collections::HashMap;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What moves a session's messages to the peer device. `send` queues one message and returns
/// at once; it is called from any thread, never with an engine lock held, and may be called
/// after the transport is lost (the message is then dropped).
pub(crate) trait Transport: Send + Sync {
    fn send(&self, m: &Frame);
}

/// A device's fabric settings and counters, shared by all its sessions (F7, F8, F11).
pub(crate) struct Policy {
    liveness_ns: AtomicU64,
    max_pending_per_peer: AtomicUsize,
    pub(crate) open: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) key_failures: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    stale: AtomicU64,
    next_id: AtomicU64,
}

impl Policy {
    pub(crate) fn new(liveness: Duration, max_pending_per_peer: usize) -> Policy {
        let p = Policy {
            liveness_ns: AtomicU64::new(0),
            max_pending_per_peer: AtomicUsize::new(max_pending_per_peer),
            open: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            key_failures: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        };
        p.set_liveness(liveness);
        p
    }

    /// The liveness interval (F7): also how long an acceptance waits for its confirmation.
    pub(crate) fn liveness(&self) -> Duration {
        Duration::from_nanos(self.liveness_ns.load(Relaxed))
    }

    /// Set the liveness interval (at least 1 ms).
    pub(crate) fn set_liveness(&self, d: Duration) {
        self.liveness_ns.store(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1_000_000), Relaxed);
    }

    /// A new request id, unique on this device.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    pub(crate) fn stats(&self) -> FabricStats {
        FabricStats {
            connections_open: self.open.load(Relaxed),
            connections_lost: self.lost.load(Relaxed),
            protocol_errors: self.protocol_errors.load(Relaxed),
            key_failures: self.key_failures.load(Relaxed),
            requests_sent: self.sent.load(Relaxed),
            requests_received: self.received.load(Relaxed),
            stale_messages: self.stale.load(Relaxed),
            faults: Default::default(),
        }
    }

    /// A message that came twice or after its peer was lost, ignored.
    pub(crate) fn count_stale(&self) {
        self.stale.fetch_add(1, Relaxed);
    }
}

/// Where an outbound request stands; only one of answer and withdrawal wins.
const PENDING: u8 = 0;
const ANSWERED: u8 = 1;
const WITHDRAWN: u8 = 2;

/// A request this device sends to another (the connector's side): its attempt and how it ends.
pub(crate) struct Outbound {
    id: u64,
    connector: Weak<SocketCell>,
    attempt: u64,
    request: Mutex<Option<wire::Request>>,
    state: AtomicU8,
    /// The session that carries it, once the transport is there.
    session: OnceLock<Weak<Session>>,
    /// Waiting for the fabric connection to its host to open (F4: if the connect's time runs
    /// out meanwhile, the host did not answer).
    parked: AtomicBool,
}

impl Outbound {
    pub(crate) fn new(connector: &Arc<SocketCell>, attempt: u64, request: wire::Request) -> Outbound {
        Outbound {
            id: request.id,
            connector: Arc::downgrade(connector),
            attempt,
            request: Mutex::new(Some(request)),
            state: AtomicU8::new(PENDING),
            session: OnceLock::new(),
            parked: AtomicBool::new(false),
        }
    }

    /// C7, A12: the connector gave up (closed, timed out, interrupted, device down). Tells the
    /// listener's device unless the answer already came. Idempotent.
    pub(crate) fn withdraw(&self) {
        if self.state.compare_exchange(PENDING, WITHDRAWN, Relaxed, Relaxed).is_ok() {
            if let Some(s) = self.session.get().and_then(Weak::upgrade) {
                s.withdraw(self.id);
            }
        }
    }

    /// Whether it waits for the fabric connection to its host to open (F4).
    pub(crate) fn parked(&self) -> bool {
        self.parked.load(Relaxed)
    }

    /// The transport layer says whether it waits for the connection to its host.
    pub(crate) fn set_parked(&self, parked: bool) {
        self.parked.store(parked, Relaxed);
    }

    /// Whether the connector still waits for it.
    pub(crate) fn is_pending(&self) -> bool {
        self.state.load(Relaxed) == PENDING
    }

    /// Fail it with `error` unless it was answered or withdrawn already (the transport could
    /// not be opened, or was lost: F4, F7, F9).
    pub(crate) fn fail(&self, error: WsaError) {
        if self.take_answer() {
            self.answer(Answer::Failed(error), || {});
        }
    }

    /// The answer is taken, unless the connector withdrew first.
    fn take_answer(&self) -> bool {
        self.state.compare_exchange(PENDING, ANSWERED, Relaxed, Relaxed).is_ok()
    }

    /// Deliver `a` to the connector, running `then` under its lock once the answer is in place;
    /// false (and `then` not run) when its attempt ended meanwhile.
    fn answer(&self, a: Answer, then: impl FnOnce()) -> bool {
        match self.connector.upgrade() {
            Some(c) => answer_then(&c, self.attempt, a, then),
            None => false,
        }
    }
}

/// How a request from another device stands while it is queued here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum InState {
    Queued,
    /// ACCEPTED sent; the connector's confirmation is awaited (F6).
    Accepting,
    /// REFUSED sent for the accept's rejection; the connector's confirmation is awaited (F6:
    /// a rejection that crossed the connector's withdrawal is a withdrawal on both sides).
    Refusing,
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
    session: Arc<Session>,
    state: Mutex<InState>,
    changed: Condvar,
    /// Set with every change of `state` after the acceptance, so the accepting thread can poll
    /// briefly before it sleeps (the confirmation usually arrives within a round trip).
    moved: AtomicBool,
}

impl Drop for Inbound {
    fn drop(&mut self) {
        lock(&self.session.requests).remove(&self.id);
    }
}

impl Inbound {
    fn set(&self, s: InState) {
        *lock(&self.state) = s;
        self.moved.store(true, Release);
        self.changed.notify_all();
    }

    /// Mark it withdrawn if it is still waiting (queued, accepting or refusing).
    fn withdrawn(&self) {
        let mut st = lock(&self.state);
        if matches!(*st, InState::Queued | InState::Accepting | InState::Refusing) {
            *st = InState::Withdrawn;
            self.moved.store(true, Release);
            self.changed.notify_all();
        }
    }

    pub(crate) fn is_withdrawn(&self) -> bool {
        *lock(&self.state) == InState::Withdrawn
    }

    /// C1, F6: the accept's answer to the connector's device, which the connector confirms
    /// (it took it) or withdraws (it had given up). True only when it confirmed; a withdrawal
    /// that crossed the answer, the loss of the transport, or no reply within the liveness
    /// interval give false (the accept then fails with WSAEACCES, as for a local request
    /// withdrawn meanwhile, A12), and an acceptance is undone with CLOSE so nothing stays
    /// connected on either side.
    pub(crate) fn answer(&self, a: Answer) -> bool {
        {
            let mut st = lock(&self.state);
            if *st != InState::Queued {
                return false;
            }
            *st = match a {
                Answer::Accepted { .. } => InState::Accepting,
                Answer::Failed(_) => InState::Refusing,
            };
        }
        let s = &self.session;
        match a {
            Answer::Failed(e) => {
                s.transport.send(&Frame::Refused { id: self.id, code: e.code() as u32 });
                self.confirmed()
            }
            Answer::Accepted { peer, callee_data } => {
                let PeerLink::Local(accepted) = peer else { return false };
                lock(&s.links).insert(self.id, Arc::downgrade(&accepted));
                s.transport.send(&Frame::Accepted { id: self.id, callee_data: callee_data.into_vec() });
                let confirmed = self.confirmed();
                if !confirmed {
                    lock(&s.links).remove(&self.id);
                    // A late confirmation finds the connection closed (F6: nothing stays connected).
                    s.transport.send(&Frame::Close { id: self.id });
                }
                confirmed
            }
        }
    }

    /// K2, L6: refuse it for the listener's own reason (closed, backlog shrunk) without waiting.
    pub(crate) fn refuse(&self, e: WsaError) {
        {
            let mut st = lock(&self.state);
            if *st != InState::Queued {
                return;
            }
            *st = InState::Answered;
        }
        self.session.transport.send(&Frame::Refused { id: self.id, code: e.code() as u32 });
    }

    /// Wait for the connector's reply to an answer: true when it confirmed.
    fn confirmed(&self) -> bool {
        let deadline = Instant::now() + self.session.policy.liveness().max(Duration::from_millis(10));
        // Poll before sleeping: a futex wake-up across cores costs more than the round trip the
        // reply takes.
        crate::backoff::poll(|| self.moved.load(Acquire));
        let mut st = lock(&self.state);
        while matches!(*st, InState::Accepting | InState::Refusing) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        let confirmed = *st == InState::Confirmed;
        if !confirmed {
            *st = InState::Withdrawn;
        }
        confirmed
    }

    /// The accepted socket's link to the connector (K3).
    pub(crate) fn peer_link(&self) -> PeerLink {
        PeerLink::Remote(Arc::new(RemoteLink { session: self.session.clone(), id: self.id }))
    }
}

/// One end of a connection established through a session.
pub(crate) struct RemoteLink {
    session: Arc<Session>,
    id: u64,
}

impl RemoteLink {
    /// Whether this is connection `id` of `session`.
    pub(crate) fn is(&self, session: &Session, id: u64) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.session), session) && self.id == id
    }

    /// K3: tell the other end this end closed.
    pub(crate) fn close(&self) {
        lock(&self.session.links).remove(&self.id);
        self.session.transport.send(&Frame::Close { id: self.id });
    }
}

/// Which requests a session carries: its own device's to the peer, or the peer's to this device
/// (the TCP fabric opens one connection each way; a message for the other way is bad input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carries {
    Outbound,
    Inbound,
}

/// A message the protocol forbids here (F8): the transport is to be closed as a protocol error.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation(pub(crate) &'static str);

/// A session with one remote device over one transport.
pub(crate) struct Session {
    transport: Arc<dyn Transport>,
    carries: Carries,
    device: Weak<Shared>,
    policy: Arc<Policy>,
    /// Requests this device sent through it and not yet answered, by id.
    sent: Mutex<HashMap<u64, Arc<Outbound>>>,
    /// Requests from the peer queued on this device, by id (F6, F8).
    requests: Mutex<HashMap<u64, Weak<Inbound>>>,
    /// Connections established through it, by request id (K3, F7).
    links: Mutex<HashMap<u64, Weak<SocketCell>>>,
    lost: AtomicBool,
    /// Whether the transport delivers each message once, in order (TCP): a second REQUEST with
    /// one id is then bad input (F8). Over a carrier that may duplicate or deliver late, it is
    /// a copy, ignored and counted; `seen` remembers the latest request ids for that.
    reliable: bool,
    seen: Mutex<SeenIds>,
    /// This device's requests that were answered lately, to recognise a copy of the answer
    /// (over a carrier that may duplicate) rather than take it for an answer to a request
    /// given up, which is answered by WITHDRAW.
    answered: Mutex<SeenIds>,
}

/// The request ids a session received lately, to recognise a copy of one.
#[derive(Default)]
struct SeenIds {
    order: std::collections::VecDeque<u64>,
    set: std::collections::HashSet<u64>,
}

/// How many request ids a session remembers: far more than can be in flight at once.
const SEEN_IDS: usize = 4096;

impl SeenIds {
    /// Record `id`; false when it was there already.
    fn first(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > SEEN_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

impl Session {
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        carries: Carries,
        device: Weak<Shared>,
        policy: Arc<Policy>,
        reliable: bool,
    ) -> Session {
        Session {
            transport,
            carries,
            device,
            policy,
            sent: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
            lost: AtomicBool::new(false),
            reliable,
            seen: Mutex::new(SeenIds::default()),
            answered: Mutex::new(SeenIds::default()),
        }
    }

    /// Send a request of this device's, unless its connector withdrew already (then nothing is
    /// sent). The session is recorded first, so a withdrawal from now on reaches the peer.
    pub(crate) fn send_request(self: &Arc<Self>, out: Arc<Outbound>) {
        let _ = out.session.set(Arc::downgrade(self));
        if self.lost.load(Relaxed) {
            out.fail(WsaError::ConnReset);
            return;
        }
        // Under the lock, so a withdrawal either stops it here or follows it on the transport.
        let mut sent = lock(&self.sent);
        if !out.is_pending() {
            return;
        }
        let req = lock(&out.request).take();
        if let Some(req) = req {
            self.transport.send(&Frame::Request(req));
            self.policy.sent.fetch_add(1, Relaxed);
            sent.insert(out.id, out);
        }
    }

    /// C7, A12: this device's connector gave request `id` up.
    fn withdraw(&self, id: u64) {
        let mut sent = lock(&self.sent);
        if sent.remove(&id).is_some() {
            self.transport.send(&Frame::Withdraw { id });
        }
    }

    /// A message from the peer. `Err` for one the protocol forbids here (F8).
    pub(crate) fn receive(self: &Arc<Self>, m: Frame) -> std::result::Result<(), Violation> {
        if self.lost.load(Relaxed) {
            self.policy.count_stale(); // settled when the transport was lost (F7)
            return Ok(());
        }
        let outbound = self.carries == Carries::Outbound;
        let inbound = self.carries == Carries::Inbound;
        match m {
            // Either side closes an established connection (K3). One with no connection (yet,
            // or any more) is ignored.
            Frame::Close { id } => {
                let peer = lock(&self.links).remove(&id);
                if let Some(cell) = peer.and_then(|w| w.upgrade()) {
                    link::disconnect(&cell, End::Remote(self, id), 0);
                }
            }
            Frame::Accepted { id, callee_data } if outbound => self.accepted(id, callee_data),
            // F6: the connector says whether it took a refusal, so a rejection that crossed its
            // withdrawal counts as a withdrawal on both sides.
            Frame::Refused { id, code } if outbound => {
                let error = refusal(code).ok_or(Violation("REFUSED with a code the protocol does not name"))?;
                let out = lock(&self.sent).remove(&id);
                if out.is_none() && self.copy_of_answer(id) {
                    return Ok(());
                }
                // Confirmed under the connector's lock, as for an acceptance.
                let confirm = || self.transport.send(&Frame::Confirm { id });
                if out.is_some() {
                    self.answered(id);
                }
                match out.filter(|o| o.take_answer()) {
                    Some(out) if out.answer(Answer::Failed(error), confirm) => {}
                    _ => self.transport.send(&Frame::Withdraw { id }),
                }
            }
            Frame::Request(req) if inbound => {
                if !self.reliable && !lock(&self.seen).first(req.id) {
                    self.policy.count_stale(); // a copy: the first one is answered, once
                    return Ok(());
                }
                self.policy.received.fetch_add(1, Relaxed);
                self.take_request(req)?;
            }
            Frame::Confirm { id } if inbound => {
                // Looked up in a statement of its own: the last reference to an Inbound may be
                // dropped here, and its Drop takes the same lock.
                let found = lock(&self.requests).get(&id).and_then(Weak::upgrade);
                if let Some(i) = found {
                    let mut st = lock(&i.state);
                    if matches!(*st, InState::Accepting | InState::Refusing) {
                        *st = InState::Confirmed;
                        i.moved.store(true, Release);
                        i.changed.notify_all();
                    }
                }
            }
            // A withdrawal may cross an answer on the wire: one for a request no longer here
            // is ignored.
            Frame::Withdraw { id } if inbound => {
                let found = lock(&self.requests).get(&id).and_then(Weak::upgrade);
                if let Some(i) = found {
                    i.withdrawn();
                }
            }
            Frame::Ping => {}
            _ => return Err(Violation("a message the other side does not send, or one out of order")),
        }
        Ok(())
    }

    /// F6: the listener's accept took request `id`. The connector takes it and confirms, or,
    /// withdrawn meanwhile, answers with a withdrawal.
    fn accepted(self: &Arc<Self>, id: u64, callee_data: Vec<u8>) {
        let out = lock(&self.sent).remove(&id);
        if out.is_none() && self.copy_of_answer(id) {
            return;
        }
        if out.is_some() {
            self.answered(id);
        }
        let Some(out) = out.filter(|o| o.take_answer()) else {
            self.transport.send(&Frame::Withdraw { id });
            return;
        };
        if let Some(c) = out.connector.upgrade() {
            lock(&self.links).insert(id, Arc::downgrade(&c));
        }
        let link = PeerLink::Remote(Arc::new(RemoteLink { session: self.clone(), id }));
        // The confirmation leaves while the connector's lock is held, once the answer is in place:
        // no thread sees the answer before it has left (a process that exits as soon as its
        // connect returns has confirmed), and an attempt that ended first (timed out, closed)
        // withdraws instead (F6).
        let confirm = || self.transport.send(&Frame::Confirm { id });
        if !out.answer(Answer::Accepted { peer: link, callee_data: callee_data.into_boxed_slice() }, confirm) {
            lock(&self.links).remove(&id);
            self.transport.send(&Frame::Withdraw { id });
        }
    }

    /// Over a carrier that may duplicate: whether an answer for `id`, no longer waiting, is a
    /// copy of one already taken (ignored and counted). Records `id` as answered otherwise, so
    /// that only its first answer is taken.
    fn copy_of_answer(&self, id: u64) -> bool {
        if self.reliable {
            return false;
        }
        if lock(&self.answered).set.contains(&id) {
            self.policy.count_stale();
            return true;
        }
        false
    }

    /// Remember that request `id` of this device's was answered (see `copy_of_answer`).
    fn answered(&self, id: u64) {
        if !self.reliable {
            lock(&self.answered).first(id);
        }
    }

    /// A request from the peer: the engine queues it or refuses it at once (F5, F8).
    fn take_request(self: &Arc<Self>, req: wire::Request) -> std::result::Result<(), Violation> {
        let id = req.id;
        let inbound = Arc::new(Inbound {
            id,
            session: self.clone(),
            state: Mutex::new(InState::Queued),
            changed: Condvar::new(),
            moved: AtomicBool::new(false),
        });
        {
            let mut requests = lock(&self.requests);
            if requests.get(&id).is_some_and(|w| w.strong_count() > 0) {
                return Err(Violation("the same request id twice"));
            }
            let limit = self.policy.max_pending_per_peer.load(Relaxed);
            if requests.len() >= limit {
                requests.retain(|_, w| w.strong_count() > 0);
            }
            if requests.len() >= limit {
                drop(requests);
                inbound.set(InState::Answered);
                self.transport.send(&Frame::Refused { id, code: WsaError::ConnRefused.code() as u32 });
                return Ok(());
            }
            requests.insert(id, Arc::downgrade(&inbound));
        }
        let result: Result<()> = match self.device.upgrade() {
            Some(sh) => sh.take_remote_request(req, inbound.clone()),
            None => Err(WsaError::HostUnreach),
        };
        if let Err(e) = result {
            inbound.set(InState::Answered);
            self.transport.send(&Frame::Refused { id, code: e.code() as u32 });
        }
        Ok(())
    }

    /// The transport is gone (F7): this device's requests still waiting fail with `error`
    /// (`WSAECONNRESET` once the session had worked), the peer's queued here are withdrawn, an
    /// acceptance waiting for its confirmation fails, and every connection through it records
    /// FD_CLOSE with `WSAECONNABORTED`. Messages sent from now on are dropped.
    pub(crate) fn lost(&self, error: WsaError) {
        self.lost.store(true, Relaxed);
        let waiting: Vec<Arc<Outbound>> = lock(&self.sent).drain().map(|(_, o)| o).collect();
        for out in waiting {
            out.fail(error);
        }
        let queued: Vec<Arc<Inbound>> = lock(&self.requests).values().filter_map(Weak::upgrade).collect();
        for i in queued {
            i.withdrawn();
        }
        let links: Vec<(u64, Weak<SocketCell>)> = lock(&self.links).drain().collect();
        for (id, cell) in links {
            if let Some(cell) = cell.upgrade() {
                link::disconnect(&cell, End::Remote(self, id), WsaError::ConnAborted.code());
            }
        }
    }
}

/// The codes a REFUSED message may carry (F10); anything else is bad input.
fn refusal(code: u32) -> Option<WsaError> {
    let e = WsaError::from_code(i32::try_from(code).ok()?)?;
    matches!(e, WsaError::ConnRefused | WsaError::ConnReset | WsaError::NoBufs | WsaError::HostUnreach).then_some(e)
}

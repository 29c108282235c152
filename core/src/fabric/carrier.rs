//! Devices that reach each other through messages handed to a carrier, rather than over the
//! TCP fabric's own connections: a provider's own transport (the C ABI's `wspsan_transport_*`),
//! and the in-process fabric when it injects faults. The sessions (and so every rule) are the
//! TCP fabric's; what differs is only how a message travels.
//!
//! Every message leaves through a [`Courier`]: a thread of the carrier's own that hands messages
//! on in order, after the delays a [`FaultInjector`] decides. So the carrier's code (a C
//! callback, the peer device's engine) never runs on a thread that holds an engine lock, and it
//! may call back into the engine at once.

use super::faults::{FaultInjector, MessageKind, Plan};
use super::session::{Carries, Policy, Session, Transport, Violation};
use super::wire::Frame;
use crate::error::{Result, WsaError};
use crate::provider::Shared;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which session of the receiving device a message belongs to: one connection carries both
/// ways here, so each message says whose request it is about (the TCP fabric needs no such byte:
/// it opens one connection each way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Channel {
    /// About a request the sender sent (REQUEST, CONFIRM, WITHDRAW, the connector's CLOSE).
    SendersRequest = 0,
    /// About a request the receiver sent (ACCEPTED, REFUSED, the acceptor's CLOSE).
    ReceiversRequest = 1,
}

impl Channel {
    pub(crate) fn from_byte(b: u8) -> Option<Channel> {
        match b {
            0 => Some(Channel::SendersRequest),
            1 => Some(Channel::ReceiversRequest),
            _ => None,
        }
    }
}

/// The last step of a message's way: hands it to the peer device. Called on the courier's
/// thread with no engine lock held. False when the peer cannot be reached any more (the peer
/// is then lost, F7).
pub(crate) trait Hop: Send + Sync {
    fn carry(&self, channel: Channel, frame: &Frame) -> bool;

    /// This end was declared lost: the carrier may tell the other end.
    fn gone(&self) {}
}

/// Where a message on its way goes.
#[derive(Clone)]
enum Target {
    /// A peer reached through a carrier, on a channel.
    Peer(Weak<Peer>, Channel),
    /// The transport a fault injector wraps (a TCP fabric connection).
    Wire(Weak<dyn Transport>),
}

/// A message on its way.
struct Parcel {
    due: Instant,
    seq: u64,
    target: Target,
    frame: Frame,
}

impl PartialEq for Parcel {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Parcel {}
impl PartialOrd for Parcel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Parcel {
    /// The earliest first out of a max-heap; equal times in the order they were posted.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// How long a reordering window waits for more messages before it lets out what it holds.
const REORDER_HOLD: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Queue {
    ready: VecDeque<Parcel>,
    timed: BinaryHeap<Parcel>,
    /// Messages held for reordering, and when the first of them arrived.
    held: Vec<Parcel>,
    held_since: Option<Instant>,
    window: usize,
    seq: u64,
    stop: bool,
    /// A message is being handed on right now.
    busy: bool,
}

impl Queue {
    fn idle(&self) -> bool {
        !self.busy && self.ready.is_empty() && self.timed.is_empty() && self.held.is_empty()
    }
}

struct CourierInner {
    queue: Mutex<Queue>,
    more: Condvar,
    /// Notified whenever the courier has nothing left to hand on.
    drained: Condvar,
    faults: FaultInjector,
}

/// The thread that hands a carrier's messages on, in order, after their injected delays.
pub(crate) struct Courier {
    inner: Arc<CourierInner>,
}

impl Drop for Courier {
    fn drop(&mut self) {
        lock(&self.inner.queue).stop = true;
        self.inner.more.notify_all();
    }
}

impl Courier {
    /// A courier whose messages pass `faults`; its thread runs until the courier is dropped.
    pub(crate) fn start(faults: FaultInjector) -> Result<Courier> {
        let inner =
            Arc::new(CourierInner { queue: Mutex::default(), more: Condvar::new(), drained: Condvar::new(), faults });
        let run = inner.clone();
        std::thread::Builder::new()
            .name("wspsan-courier".into())
            .spawn(move || run.run())
            .map_err(|_| WsaError::NoBufs)?;
        Ok(Courier { inner })
    }

    pub(crate) fn faults(&self) -> &FaultInjector {
        &self.inner.faults
    }

    /// A leg of `peer`'s: its sessions' messages on `channel` leave through this courier.
    /// Wait until nothing is on its way through this courier, or `deadline`; true when idle.
    pub(crate) fn settle(&self, deadline: Instant) -> bool {
        let mut q = lock(&self.inner.queue);
        while !q.idle() && !q.stop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = self.inner.drained.wait_timeout(q, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    /// `next` wrapped by this courier's injector, for messages from `from` to `to`.
    pub(crate) fn wrap(&self, next: Arc<dyn Transport>, from: Ipv4Addr, to: Ipv4Addr) -> Arc<dyn Transport> {
        Arc::new(Faulted { next, courier: self.inner.clone(), from, to })
    }

    fn leg(&self, peer: Weak<Peer>, channel: Channel, from: Ipv4Addr, to: Ipv4Addr) -> Leg {
        Leg { courier: self.inner.clone(), peer, channel, from, to }
    }
}

impl CourierInner {
    fn post(&self, target: &Target, frame: &Frame, plan: Option<Plan>) {
        let now = Instant::now();
        let mut q = lock(&self.queue);
        if q.stop {
            return;
        }
        let Some(plan) = plan else {
            q.seq += 1;
            let seq = q.seq;
            q.ready.push_back(Parcel { due: now, seq, target: target.clone(), frame: frame.clone() });
            drop(q);
            self.more.notify_one();
            return;
        };
        for delay in plan.delays {
            q.seq += 1;
            let p = Parcel { due: now + delay, seq: q.seq, target: target.clone(), frame: frame.clone() };
            if plan.reorder_window > 1 {
                q.window = plan.reorder_window;
                q.held_since.get_or_insert(now);
                q.held.push(p);
            } else if delay.is_zero() {
                q.ready.push_back(p);
            } else {
                q.timed.push(p);
            }
        }
        drop(q);
        self.more.notify_one();
    }

    fn run(self: Arc<Self>) {
        crate::events::relay_from_this_thread(); // event sets never run the switch's upcall here
        let mut q = lock(&self.queue);
        loop {
            let now = Instant::now();
            // A full reordering window, or one that waited long enough, is let out shuffled.
            if !q.held.is_empty() && (q.held.len() >= q.window || q.held_since.is_some_and(|t| now >= t + REORDER_HOLD))
            {
                let held = std::mem::take(&mut q.held);
                q.held_since = None;
                let order = self.faults.shuffle(held.len());
                let moved = order.iter().enumerate().filter(|(i, j)| i != *j).count() as u64;
                self.faults.count_reordered(moved);
                let mut slots: Vec<Option<Parcel>> = held.into_iter().map(Some).collect();
                for j in order {
                    if let Some(p) = slots[j].take() {
                        if p.due <= now { q.ready.push_back(p) } else { q.timed.push(p) }
                    }
                }
            }
            while q.timed.peek().is_some_and(|p| p.due <= now) {
                if let Some(p) = q.timed.pop() {
                    q.ready.push_back(p);
                }
            }
            if let Some(p) = q.ready.pop_front() {
                q.busy = true;
                drop(q);
                deliver(p);
                q = lock(&self.queue);
                q.busy = false;
                continue;
            }
            if q.idle() {
                self.drained.notify_all();
            }
            if q.stop {
                return;
            }
            let next =
                [q.timed.peek().map(|p| p.due), q.held_since.map(|t| t + REORDER_HOLD)].into_iter().flatten().min();
            q = match next {
                Some(t) => {
                    self.more
                        .wait_timeout(q, t.saturating_duration_since(now))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.more.wait(q).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

fn deliver(p: Parcel) {
    match p.target {
        Target::Peer(peer, channel) => {
            if let Some(peer) = peer.upgrade() {
                if !peer.is_lost() && !peer.hop.carry(channel, &p.frame) {
                    peer.lose();
                }
            }
        }
        Target::Wire(wire) => {
            if let Some(w) = wire.upgrade() {
                w.send(&p.frame);
            }
        }
    }
}

/// One way out of a peer's session: through the courier, past the fault injector.
struct Leg {
    courier: Arc<CourierInner>,
    peer: Weak<Peer>,
    channel: Channel,
    from: Ipv4Addr,
    to: Ipv4Addr,
}

impl Transport for Leg {
    fn send(&self, m: &Frame) {
        let plan = MessageKind::of(m).and_then(|k| self.courier.faults.plan(self.from, self.to, k));
        self.courier.post(&Target::Peer(self.peer.clone(), self.channel), m, plan);
    }
}

/// A transport wrapped by a fault injector (the TCP fabric's connections): with every knob off a
/// message goes straight on, on the sending thread, as without the wrapper.
pub(crate) struct Faulted {
    next: Arc<dyn Transport>,
    courier: Arc<CourierInner>,
    from: Ipv4Addr,
    to: Ipv4Addr,
}

impl Transport for Faulted {
    fn send(&self, m: &Frame) {
        match MessageKind::of(m).and_then(|k| self.courier.faults.plan(self.from, self.to, k)) {
            None => self.next.send(m),
            plan => self.courier.post(&Target::Wire(Arc::downgrade(&self.next)), m, plan),
        }
    }
}

/// A remote device reached through a carrier: the two sessions with it (its requests to us, ours
/// to it) and the hop that carries their messages.
pub(crate) struct Peer {
    pub(crate) handle: u64,
    /// Addresses routed to this peer (its NICs).
    pub(crate) ips: Vec<Ipv4Addr>,
    out: Arc<Session>,
    inn: Arc<Session>,
    hop: Arc<dyn Hop>,
    lost: AtomicBool,
    links: Weak<Links>,
}

impl Peer {
    /// A message from the peer device. `Err` for one the protocol forbids (F8): the caller
    /// declares the peer lost.
    pub(crate) fn receive(&self, channel: Channel, frame: Frame) -> std::result::Result<(), Violation> {
        if self.is_lost() {
            // Delivered after the peer was declared lost (F7): settled already, so ignored.
            if let Some(l) = self.links.upgrade() {
                l.policy.count_stale();
            }
            return Ok(());
        }
        match channel {
            Channel::SendersRequest => self.inn.receive(frame),
            Channel::ReceiversRequest => self.out.receive(frame),
        }
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Relaxed)
    }

    /// F7: the peer is gone; what waited on it is settled, its handle is stale from now on.
    pub(crate) fn lose(&self) {
        if self.lost.swap(true, Relaxed) {
            return;
        }
        if let Some(l) = self.links.upgrade() {
            l.forget(self);
        }
        self.out.lost(WsaError::ConnReset);
        self.inn.lost(WsaError::ConnReset);
        self.hop.gone();
    }

    /// Send a request of this device's to the peer (F2).
    pub(crate) fn submit(&self, out: Arc<super::session::Outbound>) {
        self.out.send_request(out);
    }
}

/// A device's peers reached through a carrier, by handle and by address.
pub(crate) struct Links {
    device: Weak<Shared>,
    pub(crate) policy: Arc<Policy>,
    courier: Courier,
    /// The address this device's messages are counted from (its first NIC), for partitions.
    from: Ipv4Addr,
    peers: Mutex<HashMap<u64, Arc<Peer>>>,
    next_handle: AtomicU64,
}

impl Links {
    pub(crate) fn new(
        device: Weak<Shared>,
        from: Ipv4Addr,
        faults: FaultInjector,
        policy: Arc<Policy>,
    ) -> Result<Arc<Links>> {
        Ok(Arc::new(Links {
            device,
            policy,
            courier: Courier::start(faults)?,
            from,
            peers: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
        }))
    }

    pub(crate) fn faults(&self) -> &FaultInjector {
        self.courier.faults()
    }

    /// Wait until none of this device's messages is on its way, or `deadline`.
    pub(crate) fn settle(&self, deadline: Instant) -> bool {
        self.courier.settle(deadline)
    }

    /// A new peer owning `ips`, whose messages `hop` carries. `WSAEADDRINUSE` when a live peer
    /// already owns one of the addresses.
    pub(crate) fn open(self: &Arc<Self>, ips: &[Ipv4Addr], hop: Arc<dyn Hop>) -> Result<Arc<Peer>> {
        let mut peers = lock(&self.peers);
        if peers.values().any(|p| p.ips.iter().any(|ip| ips.contains(ip))) {
            return Err(WsaError::AddrInUse);
        }
        let handle = self.next_handle.fetch_add(1, Relaxed);
        let to = ips.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let peer = Arc::new_cyclic(|me: &Weak<Peer>| {
            let session = |channel, carries| {
                let leg = self.courier.leg(me.clone(), channel, self.from, to);
                Arc::new(Session::new(Arc::new(leg), carries, self.device.clone(), self.policy.clone(), false))
            };
            Peer {
                handle,
                ips: ips.to_vec(),
                // Our requests go out as the sender's; its requests come back as the receiver's.
                out: session(Channel::SendersRequest, Carries::Outbound),
                inn: session(Channel::ReceiversRequest, Carries::Inbound),
                hop,
                lost: AtomicBool::new(false),
                links: Arc::downgrade(self),
            }
        });
        peers.insert(handle, peer.clone());
        self.policy.open.fetch_add(1, Relaxed);
        Ok(peer)
    }

    /// The live peer with `handle`; `WSAEINVAL` for a stale or made-up one.
    pub(crate) fn get(&self, handle: u64) -> Result<Arc<Peer>> {
        lock(&self.peers).get(&handle).cloned().ok_or(WsaError::Inval)
    }

    /// The live peer that owns `ip`.
    pub(crate) fn route(&self, ip: Ipv4Addr) -> Option<Arc<Peer>> {
        lock(&self.peers).values().find(|p| p.ips.contains(&ip)).cloned()
    }

    fn forget(&self, peer: &Peer) {
        if lock(&self.peers).remove(&peer.handle).is_some() {
            self.policy.open.fetch_sub(1, Relaxed);
            self.policy.lost.fetch_add(1, Relaxed);
        }
    }

    /// Every peer is lost (the device is going away).
    pub(crate) fn lose_all(&self) {
        let all: Vec<Arc<Peer>> = lock(&self.peers).values().cloned().collect();
        for p in all {
            p.lose();
        }
    }
}

/// The in-process fabric's hop when it injects faults: hands the message to the peer device's
/// end of the pair.
pub(crate) struct Loop {
    pub(crate) to: std::sync::OnceLock<Weak<Peer>>,
}

impl Hop for Loop {
    fn carry(&self, channel: Channel, frame: &Frame) -> bool {
        let Some(there) = self.to.get().and_then(Weak::upgrade) else { return false };
        if there.receive(channel, frame.clone()).is_err() {
            there.lose(); // cannot happen between two engines; settled as bad input would be
            return false;
        }
        true
    }

    fn gone(&self) {
        if let Some(there) = self.to.get().and_then(Weak::upgrade) {
            there.lose();
        }
    }
}

/// A transport of the embedding provider's own (an InfiniBand CM, a vendor's messaging layer,
/// a socket pair): it only moves the fabric's messages between devices, and the engine owns
/// every rule of connection setup (SPEC sections 3-11).
///
/// A message is opaque bytes: one channel byte, then a frame body of the fabric protocol
/// (`docs/fabric-protocol.md`, "Over a provider's own transport"). The transport delivers each
/// message whole to the peer device, which hands it to [`Provider::peer_receive`](crate::Provider::peer_receive).
pub trait MessageTransport: Send + Sync {
    /// Carry `message` (of `kind`) to `peer`. Called on the device's courier thread, one message
    /// at a time in the order the engine sent them, never with an engine lock held; it may call
    /// the provider back (to deliver a message, say) before it returns. False when the peer
    /// cannot be reached any more: the peer is then lost (SPEC F7) and its handle stale.
    fn send(&self, peer: PeerId, kind: MessageKind, message: &[u8]) -> bool;
}

/// A peer device of a provider's own transport: a handle that is never reused; once the peer
/// is lost, calls with it fail with `WSAEINVAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// The hop of a provider's own transport.
pub(crate) struct Own {
    pub(crate) transport: Arc<dyn MessageTransport>,
    pub(crate) peer: std::sync::OnceLock<u64>,
}

impl Hop for Own {
    fn carry(&self, channel: Channel, frame: &Frame) -> bool {
        let (Some(kind), Some(&peer)) = (MessageKind::of(frame), self.peer.get()) else { return true };
        let message = encode(channel, frame);
        // The transport's own code: a panic in it is its failure to send, not the engine's.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.transport.send(PeerId(peer), kind, &message)))
            .unwrap_or(false)
    }
}

/// A message as a provider's own transport carries it: the channel byte, then the frame body.
pub(crate) fn encode(channel: Channel, frame: &Frame) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    frame.encode(&mut buf);
    buf[super::wire::LEN_BYTES - 1] = channel as u8;
    buf.split_off(super::wire::LEN_BYTES - 1)
}

/// Decode a message of a provider's own transport; `None` for one that is malformed or that
/// only the TCP fabric's own connections carry (handshake, liveness).
pub(crate) fn decode(message: &[u8]) -> Option<(Channel, Frame)> {
    let (&first, body) = message.split_first()?;
    let channel = Channel::from_byte(first)?;
    if body.len() > super::wire::MAX_BODY {
        return None;
    }
    let frame = Frame::decode(body).ok()?;
    MessageKind::of(&frame)?;
    Some((channel, frame))
}

//! The emulated SAN device: NICs, port space, limits, fault switches, statistics
//! (SPEC section 3).

use crate::consts::{EPHEMERAL_FIRST, EPHEMERAL_LAST};
use crate::error::{Result, WsaError};
use crate::pad::CacheLine;
use crate::provider::Shared;
use crate::socket::{Descriptor, SocketCell, State};
use crate::stats::{DeviceStats, FabricStats, ListenerStats, declare_record};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release, fence,
};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

/// Calls `callback! { tokens <fields> }` with the fields of [`Limits`] (SPEC D1, D2), each
/// `/// doc name: type,`.
#[macro_export]
macro_rules! for_each_limit {
    ($cb:ident ! { $($args:tt)* }) => {
        $cb! { $($args)*
            /// Maximum open descriptors (default 65536).
            max_descriptors: usize,
            /// Maximum backlog; what `SOMAXCONN` means (default 4096).
            max_backlog: u32,
            /// Maximum caller data bytes per connect (default 256).
            max_caller_data: usize,
            /// Size of the callee data buffer a condition function gets (default 256).
            max_callee_data: usize,
            /// Maximum pending requests on the whole device (default 1 << 20).
            max_pending: usize,
            /// Time after which an unanswered connect is withdrawn (default: none, wait for ever).
            connect_timeout: Option<Duration>,
        }
    };
}

crate::for_each_limit!(declare_record! {
    /// Limits of a device (SPEC D1). All of them can be changed at run time.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    Limits;
});

/// The most caller or callee data a device may allow per connect. Every accept with a condition
/// function allocates a callee buffer of `max_callee_data` bytes (A5), so an unbounded limit would
/// let one setting exhaust memory; Windows' own connect data is capped at 64 KiB too.
pub const MAX_CONNECT_DATA: usize = 65536;

impl Limits {
    /// The limits as the device applies them: `max_backlog` 0 becomes 1, caller and callee data
    /// above [`MAX_CONNECT_DATA`] become that maximum (the nearest legal value, like L5).
    pub fn clamped(self) -> Limits {
        Limits {
            max_backlog: self.max_backlog.max(1),
            max_caller_data: self.max_caller_data.min(MAX_CONNECT_DATA),
            max_callee_data: self.max_callee_data.min(MAX_CONNECT_DATA),
            ..self
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_descriptors: 65536,
            max_backlog: 4096,
            max_caller_data: 256,
            max_callee_data: 256,
            max_pending: 1 << 20,
            connect_timeout: None,
        }
    }
}

/// The fault switches of a device (SPEC D2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every call on the device fails with `WSAENETDOWN`; blocked calls wake with it.
    pub network_down: bool,
    /// Allocating a pending request or a socket fails with `WSAENOBUFS`.
    pub buffer_exhaustion: bool,
    /// A lower descriptor limit, on top of `Limits::max_descriptors`.
    pub descriptor_limit: Option<usize>,
}

/// How to build a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The NICs (default: one, 127.0.0.1).
    pub nics: Vec<Ipv4Addr>,
    /// The limits.
    pub limits: Limits,
    /// Whether 0.0.0.0 binds to every NIC (SPEC B2; default on).
    pub wildcard_bind: bool,
}

impl DeviceConfig {
    /// Check the NIC list: 0.0.0.0 or an address given twice is `WSAEINVAL` (the same rule as
    /// [`Device::add_nic`]).
    pub fn validate(&self) -> Result<()> {
        for (i, ip) in self.nics.iter().enumerate() {
            if ip.is_unspecified() || self.nics[..i].contains(ip) {
                return Err(WsaError::Inval);
            }
        }
        Ok(())
    }
}

impl Default for DeviceConfig {
    fn default() -> DeviceConfig {
        DeviceConfig { nics: vec![Ipv4Addr::LOCALHOST], limits: Limits::default(), wildcard_bind: true }
    }
}

/// One (address, port) binding in the port table.
struct Binding {
    ip: Ipv4Addr,
    /// The socket, found in its provider's table (by the time its cell is locked, the socket may
    /// be closed and the cell hold a later one: whoever uses it checks the descriptor then).
    id: Descriptor,
}

/// The sockets bound to one port number, on any NIC.
#[derive(Default)]
struct PortSlot {
    bindings: Vec<Binding>,
}

impl PortSlot {
    /// B1: the same address, or a wildcard on either side, conflicts.
    fn conflicts(&self, ip: Ipv4Addr) -> bool {
        self.bindings.iter().any(|b| b.ip == ip || b.ip.is_unspecified() || ip.is_unspecified())
    }
}

const NO_TIMEOUT: u64 = u64::MAX;

/// How many NIC addresses a lock-free read covers (devices with more take the lock).
const FAST_NICS: usize = 8;

/// The NIC addresses. Every connect asks whether an address is one of them, while they change
/// rarely: the first few are mirrored in atomics under a sequence number (odd while a change is
/// being written), so that question takes no lock. Changes hold `list`'s write lock.
struct NicSet {
    list: RwLock<Vec<Ipv4Addr>>,
    seq: AtomicU64,
    len: AtomicUsize,
    fast: [AtomicU32; FAST_NICS],
}

impl NicSet {
    fn new(list: Vec<Ipv4Addr>) -> NicSet {
        let set = NicSet {
            list: RwLock::new(Vec::new()),
            seq: AtomicU64::new(0),
            len: AtomicUsize::new(0),
            fast: std::array::from_fn(|_| AtomicU32::new(0)),
        };
        set.change(|l| *l = list);
        set
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Ipv4Addr>> {
        self.list.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let want = u32::from(ip);
        for _ in 0..4 {
            let before = self.seq.load(Acquire);
            if before & 1 == 0 {
                let n = self.len.load(Relaxed);
                if n > FAST_NICS {
                    break;
                }
                let found = self.fast[..n].iter().any(|a| a.load(Relaxed) == want);
                fence(Acquire);
                if self.seq.load(Relaxed) == before {
                    return found;
                }
            }
            std::hint::spin_loop();
        }
        self.read().contains(&ip)
    }

    /// Change the list under its write lock and publish the mirror.
    fn change<T>(&self, f: impl FnOnce(&mut Vec<Ipv4Addr>) -> T) -> T {
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut list);
        self.seq.fetch_add(1, Relaxed);
        fence(Release);
        for (a, ip) in self.fast.iter().zip(list.iter()) {
            a.store(u32::from(*ip), Relaxed);
        }
        self.len.store(list.len(), Relaxed);
        self.seq.fetch_add(1, Release);
        out
    }
}

/// Device state. Reads on the connect/accept path are single relaxed loads; the port table
/// has one lock per port so no two listeners serialise each other.
pub(crate) struct DeviceState {
    nics: NicSet,
    wildcard_bind: AtomicBool,
    max_descriptors: AtomicUsize,
    max_backlog: AtomicU32,
    max_caller_data: AtomicUsize,
    max_callee_data: AtomicUsize,
    max_pending: AtomicUsize,
    connect_timeout_ns: AtomicU64,
    network_down: AtomicBool,
    buffer_exhaustion: AtomicBool,
    descriptor_fault: AtomicUsize,
    /// Written by every socket create and close, connect and accept, on any thread: kept off
    /// the read-mostly lines, and on one line (see [`Counts`]).
    counts: CacheLine<Counts>,
    pub(crate) refused_no_listener: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    ports: Box<[Mutex<PortSlot>]>,
    /// For each port, the socket of its one binding, or 0 when it has none or several (one per
    /// NIC), and the address it is bound to: written under the port's lock, read without it, so
    /// that a connect finds its listener taking no lock but the listener's own (see
    /// [`listener_at`](Self::listener_at)).
    sole: Box<[AtomicU64]>,
    sole_ip: Box<[AtomicU32]>,
    ephemeral_cursor: AtomicU32,
    /// Live listeners, for device statistics; touched only by listen and close.
    listeners: Mutex<HashMap<u64, Weak<SocketCell>>>,
    /// Counters of listeners already closed.
    retired: Mutex<ListenerStats>,
}

/// The open sockets and the pending requests. A pair changes both, on both sides of a hand-off
/// between threads (the connecting thread makes a socket and queues a request, the accepting
/// one settles the request and makes a socket): on one line, that line moves between the
/// threads' cores half as often as two lines would.
#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    pending: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DeviceState {
    pub(crate) fn new(config: DeviceConfig) -> DeviceState {
        let l = config.limits.clamped();
        DeviceState {
            nics: NicSet::new(config.nics),
            wildcard_bind: AtomicBool::new(config.wildcard_bind),
            max_descriptors: AtomicUsize::new(l.max_descriptors),
            max_backlog: AtomicU32::new(l.max_backlog),
            max_caller_data: AtomicUsize::new(l.max_caller_data),
            max_callee_data: AtomicUsize::new(l.max_callee_data),
            max_pending: AtomicUsize::new(l.max_pending),
            connect_timeout_ns: AtomicU64::new(encode_timeout(l.connect_timeout)),
            network_down: AtomicBool::new(false),
            buffer_exhaustion: AtomicBool::new(false),
            descriptor_fault: AtomicUsize::new(usize::MAX),
            counts: CacheLine(Counts::default()),
            refused_no_listener: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            ports: (0..=u16::MAX as usize).map(|_| Mutex::new(PortSlot::default())).collect(),
            sole: (0..=u16::MAX as usize).map(|_| AtomicU64::new(0)).collect(),
            sole_ip: (0..=u16::MAX as usize).map(|_| AtomicU32::new(0)).collect(),
            ephemeral_cursor: AtomicU32::new(0),
            listeners: Mutex::new(HashMap::new()),
            retired: Mutex::new(ListenerStats::default()),
        }
    }

    pub(crate) fn check_up(&self) -> Result<()> {
        if self.network_down.load(Relaxed) { Err(WsaError::NetDown) } else { Ok(()) }
    }

    pub(crate) fn is_down(&self) -> bool {
        self.network_down.load(Relaxed)
    }

    pub(crate) fn check_buffers(&self) -> Result<()> {
        if self.buffer_exhaustion.load(Relaxed) { Err(WsaError::NoBufs) } else { Ok(()) }
    }

    fn descriptor_limit(&self) -> usize {
        self.max_descriptors.load(Relaxed).min(self.descriptor_fault.load(Relaxed))
    }

    /// L9: whether one more descriptor could be opened now.
    pub(crate) fn descriptor_available(&self) -> bool {
        self.counts.open.load(Relaxed) < self.descriptor_limit()
    }

    /// Reserve one descriptor (S1: `WSAEMFILE` at the limit).
    pub(crate) fn reserve_descriptor(&self) -> Result<()> {
        let limit = self.descriptor_limit();
        if self.counts.open.fetch_add(1, Relaxed) >= limit {
            self.counts.open.fetch_sub(1, Relaxed);
            return Err(WsaError::MFile);
        }
        Ok(())
    }

    pub(crate) fn release_descriptor(&self) {
        self.counts.open.fetch_sub(1, Relaxed);
    }

    pub(crate) fn max_backlog(&self) -> u32 {
        self.max_backlog.load(Relaxed)
    }

    pub(crate) fn max_caller_data(&self) -> usize {
        self.max_caller_data.load(Relaxed)
    }

    pub(crate) fn max_callee_data(&self) -> usize {
        self.max_callee_data.load(Relaxed)
    }

    pub(crate) fn connect_timeout(&self) -> Option<Duration> {
        decode_timeout(self.connect_timeout_ns.load(Relaxed))
    }

    /// Count one more pending request, unless the device limit is reached (D1).
    pub(crate) fn reserve_pending(&self) -> Result<()> {
        if self.counts.pending.fetch_add(1, Relaxed) >= self.max_pending.load(Relaxed) {
            self.counts.pending.fetch_sub(1, Relaxed);
            return Err(WsaError::NoBufs);
        }
        Ok(())
    }

    pub(crate) fn release_pending(&self, n: usize) {
        if n > 0 {
            self.counts.pending.fetch_sub(n, Relaxed);
        }
    }

    pub(crate) fn nic_list(&self) -> Vec<Ipv4Addr> {
        self.nics.read().clone()
    }

    pub(crate) fn is_nic(&self, ip: Ipv4Addr) -> bool {
        self.nics.contains(ip)
    }

    /// B1, B2: bind `socket` to `addr` in the port table (port 0 picks an ephemeral port).
    /// Returns the address actually bound. An implicit bind (C4) skips the NIC check: it binds
    /// to the address the connect is aimed at.
    pub(crate) fn bind_port(&self, id: Descriptor, addr: SocketAddrV4, check_nic: bool) -> Result<SocketAddrV4> {
        let ip = *addr.ip();
        if ip.is_unspecified() {
            if !self.wildcard_bind.load(Relaxed) {
                return Err(WsaError::AddrNotAvail);
            }
        } else if check_nic && !self.is_nic(ip) {
            return Err(WsaError::AddrNotAvail);
        }
        if addr.port() != 0 {
            let mut slot = lock(&self.ports[usize::from(addr.port())]);
            if slot.conflicts(ip) {
                return Err(WsaError::AddrInUse);
            }
            slot.bindings.push(Binding { ip, id });
            self.mirror(addr.port(), &slot);
            return Ok(addr);
        }
        let span = u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST) + 1;
        for _ in 0..span {
            let offset = self.ephemeral_cursor.fetch_add(1, Relaxed) % span;
            let port = EPHEMERAL_FIRST + offset as u16;
            let mut slot = lock(&self.ports[usize::from(port)]);
            if !slot.conflicts(ip) {
                slot.bindings.push(Binding { ip, id });
                self.mirror(port, &slot);
                return Ok(SocketAddrV4::new(ip, port));
            }
        }
        Err(WsaError::NoBufs) // every ephemeral port of this NIC is taken
    }

    /// Free the binding `socket` holds on `addr` (K2: the port is free at once).
    pub(crate) fn unbind_port(&self, id: Descriptor, addr: SocketAddrV4) {
        let mut slot = lock(&self.ports[usize::from(addr.port())]);
        slot.bindings.retain(|b| b.id != id);
        self.mirror(addr.port(), &slot);
    }

    /// Keep `sole` in step with a port's bindings (call with the port locked).
    fn mirror(&self, port: u16, slot: &PortSlot) {
        let (sole, ip) = match slot.bindings.as_slice() {
            [one] => (one.id.raw(), u32::from(one.ip)),
            _ => (0, 0),
        };
        // The address first: a reader that sees the socket sees its address, or a later one.
        self.sole_ip[usize::from(port)].store(ip, Relaxed);
        self.sole[usize::from(port)].store(sole, Release);
    }

    /// The socket a connect to `addr` finds, as [`socket_at`](Self::socket_at), to be confirmed
    /// under that socket's lock with [`binds`](Self::binds): a port with one binding at that
    /// address (or at the wildcard, for a NIC) names it with no lock taken (it may be gone by
    /// the time the socket is locked, which the confirmation sees); any other port is looked up
    /// under its lock.
    #[inline]
    pub(crate) fn listener_at(&self, addr: SocketAddrV4) -> Option<Descriptor> {
        let port = usize::from(addr.port());
        let sole = self.sole[port].load(Acquire);
        if sole != 0 {
            let ip = Ipv4Addr::from(self.sole_ip[port].load(Relaxed));
            if ip == *addr.ip() || (ip.is_unspecified() && self.is_nic(*addr.ip())) {
                return Some(Descriptor::from_raw(sole));
            }
        }
        self.socket_at(addr)
    }

    /// Whether a socket bound to `local` is the one [`socket_at`](Self::socket_at) finds for
    /// `addr`: bound to it, or to the wildcard on its port when `addr` is one of the NICs.
    #[inline]
    pub(crate) fn binds(&self, local: Option<SocketAddrV4>, addr: SocketAddrV4) -> bool {
        local.is_some_and(|l| {
            l == addr || (l.ip().is_unspecified() && l.port() == addr.port() && self.is_nic(*addr.ip()))
        })
    }

    /// The socket bound to `addr`, or to the wildcard on its port when `addr` is one of the
    /// device's NICs (B2: the wildcard stands for every NIC, not for any address).
    pub(crate) fn socket_at(&self, addr: SocketAddrV4) -> Option<Descriptor> {
        let slot = lock(&self.ports[usize::from(addr.port())]);
        if let Some(b) = slot.bindings.iter().find(|b| b.ip == *addr.ip()) {
            return Some(b.id);
        }
        let wildcard = slot.bindings.iter().find(|b| b.ip.is_unspecified()).map(|b| b.id)?;
        drop(slot);
        self.is_nic(*addr.ip()).then_some(wildcard)
    }

    pub(crate) fn register_listener(&self, id: Descriptor, socket: &Arc<SocketCell>) {
        lock(&self.listeners).insert(id.raw(), Arc::downgrade(socket));
    }

    /// A listener closed: keep its counters in the device totals.
    pub(crate) fn retire_listener(&self, id: Descriptor, stats: ListenerStats) {
        lock(&self.listeners).remove(&id.raw());
        self.retire(stats);
    }

    /// Add counters to the closed-listener totals (also for requests settled after close).
    pub(crate) fn retire(&self, stats: ListenerStats) {
        *lock(&self.retired) += ListenerStats { queue_len: 0, backlog: 0, ..stats };
    }

    fn stats(&self) -> DeviceStats {
        let live: Vec<(u64, Arc<SocketCell>)> =
            lock(&self.listeners).iter().filter_map(|(id, l)| Some((*id, l.upgrade()?))).collect();
        let mut total = *lock(&self.retired);
        for (id, l) in live {
            let g = l.lock();
            if let (State::Listening(q), true) = (&g.state, g.id.raw() == id) {
                total += q.snapshot();
            }
        }
        DeviceStats {
            listeners: total,
            refused_no_listener: self.refused_no_listener.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            open_sockets: self.counts.open.load(Relaxed) as u64,
            pending: self.counts.pending.load(Relaxed) as u64,
            fabric: FabricStats::default(),
        }
    }
}

fn encode_timeout(t: Option<Duration>) -> u64 {
    t.map_or(NO_TIMEOUT, |d| u64::try_from(d.as_nanos()).unwrap_or(NO_TIMEOUT - 1))
}

fn decode_timeout(ns: u64) -> Option<Duration> {
    (ns != NO_TIMEOUT).then(|| Duration::from_nanos(ns))
}

/// A handle on a provider's device: NICs, limits, fault switches and statistics.
///
/// Cheap to clone; every clone controls the same device. Changes take effect at once,
/// for calls already blocked too (SPEC D2).
#[derive(Clone)]
pub struct Device {
    pub(crate) shared: Arc<Shared>,
}

impl Device {
    fn state(&self) -> &DeviceState {
        &self.shared.device
    }

    /// The NIC addresses (SPEC D4: what `SIO_ADDRESS_LIST_QUERY` lists).
    pub fn nics(&self) -> Vec<Ipv4Addr> {
        self.state().nic_list()
    }

    /// Add a NIC. Adding one that exists, or 0.0.0.0, fails with `WSAEINVAL`; one that another
    /// device on the same fabric owns with `WSAEADDRINUSE` (SPEC F1).
    pub fn add_nic(&self, ip: Ipv4Addr) -> Result<()> {
        self.state().nics.change(|nics| {
            if ip.is_unspecified() || nics.contains(&ip) {
                return Err(WsaError::Inval);
            }
            if let Some(f) = &self.shared.fabric {
                f.claim(&[ip], &self.shared)?;
            }
            nics.push(ip);
            Ok(())
        })
    }

    /// Remove a NIC. New binds to it fail; sockets already bound to it keep working.
    /// Removing an address that is not a NIC fails with `WSAEADDRNOTAVAIL`.
    pub fn remove_nic(&self, ip: Ipv4Addr) -> Result<()> {
        self.state().nics.change(|nics| {
            let before = nics.len();
            nics.retain(|n| *n != ip);
            if nics.len() == before {
                return Err(WsaError::AddrNotAvail);
            }
            if let Some(f) = &self.shared.fabric {
                f.release(&[ip], Arc::as_ptr(&self.shared));
            }
            Ok(())
        })
    }

    /// Whether 0.0.0.0 binds are allowed (SPEC B2).
    pub fn wildcard_bind(&self) -> bool {
        self.state().wildcard_bind.load(Relaxed)
    }

    /// Allow or refuse 0.0.0.0 binds (refused: `WSAEADDRNOTAVAIL`, as Windows Vista and later).
    pub fn set_wildcard_bind(&self, on: bool) {
        self.state().wildcard_bind.store(on, Relaxed);
    }

    /// The current limits.
    pub fn limits(&self) -> Limits {
        let s = self.state();
        Limits {
            max_descriptors: s.max_descriptors.load(Relaxed),
            max_backlog: s.max_backlog.load(Relaxed),
            max_caller_data: s.max_caller_data.load(Relaxed),
            max_callee_data: s.max_callee_data.load(Relaxed),
            max_pending: s.max_pending.load(Relaxed),
            connect_timeout: s.connect_timeout(),
        }
    }

    /// Replace the limits, as [`Limits::clamped`] makes them legal (read them back to see).
    /// Existing backlogs are not changed; the next listen applies the new maximum.
    pub fn set_limits(&self, l: Limits) {
        let l = l.clamped();
        let s = self.state();
        s.max_descriptors.store(l.max_descriptors, Relaxed);
        s.max_backlog.store(l.max_backlog, Relaxed);
        s.max_caller_data.store(l.max_caller_data, Relaxed);
        s.max_callee_data.store(l.max_callee_data, Relaxed);
        s.max_pending.store(l.max_pending, Relaxed);
        s.connect_timeout_ns.store(encode_timeout(l.connect_timeout), Relaxed);
    }

    /// Set only the connect timeout (SPEC D2).
    pub fn set_connect_timeout(&self, timeout: Option<Duration>) {
        self.state().connect_timeout_ns.store(encode_timeout(timeout), Relaxed);
    }

    /// The fault switches now.
    pub fn faults(&self) -> Faults {
        let s = self.state();
        let limit = s.descriptor_fault.load(Relaxed);
        Faults {
            network_down: s.network_down.load(Relaxed),
            buffer_exhaustion: s.buffer_exhaustion.load(Relaxed),
            descriptor_limit: (limit != usize::MAX).then_some(limit),
        }
    }

    /// Set every fault switch at once.
    pub fn set_faults(&self, f: Faults) {
        self.set_buffer_exhaustion(f.buffer_exhaustion);
        self.set_descriptor_limit(f.descriptor_limit);
        self.set_network_down(f.network_down);
    }

    /// Take the device down or bring it back. Going down wakes every blocked call, which
    /// fails with `WSAENETDOWN`; a blocked connect is withdrawn.
    pub fn set_network_down(&self, down: bool) {
        self.state().network_down.store(down, Relaxed);
        if down {
            self.shared.table.for_each(|cell| {
                let sleepers = cell.changed(&cell.lock());
                cell.notify(sleepers);
            });
        }
    }

    /// Make socket and pending-request allocation fail with `WSAENOBUFS`, or stop doing so.
    pub fn set_buffer_exhaustion(&self, on: bool) {
        self.state().buffer_exhaustion.store(on, Relaxed);
    }

    /// Impose a lower descriptor limit (descriptor exhaustion), or lift it with `None`.
    pub fn set_descriptor_limit(&self, limit: Option<usize>) {
        self.state().descriptor_fault.store(limit.unwrap_or(usize::MAX), Relaxed);
    }

    /// Device-wide statistics (SPEC D3).
    pub fn stats(&self) -> DeviceStats {
        let mut st = self.state().stats();
        if let Some(t) = self.shared.tcp.get() {
            st.fabric = t.endpoint.stats();
            st.fabric.faults = t.endpoint.courier.faults().stats();
        } else if let Some(l) = self.shared.links.get() {
            st.fabric = l.policy.stats();
            st.fabric.faults = l.faults().stats();
        }
        st
    }

    /// The liveness interval of the device's fabric (SPEC F7), which is also how long an
    /// acceptance waits for the connector's confirmation; `None` for a device whose connects
    /// reach listeners by direct calls (alone, or on an in-process fabric without faults).
    pub fn liveness(&self) -> Option<Duration> {
        match (self.shared.tcp.get(), self.shared.links.get()) {
            (Some(t), _) => Some(t.endpoint.liveness()),
            (None, Some(l)) => Some(l.policy.liveness()),
            (None, None) => None,
        }
    }

    /// Set the liveness interval (SPEC F7; at least 1 ms). Returns `WSAEINVAL` for a device
    /// whose [`liveness`](Self::liveness) is `None`.
    pub fn set_liveness(&self, interval: Duration) -> Result<()> {
        match (self.shared.tcp.get(), self.shared.links.get()) {
            (Some(t), _) => t.endpoint.set_liveness(interval),
            (None, Some(l)) => l.policy.set_liveness(interval),
            (None, None) => return Err(WsaError::Inval),
        }
        Ok(())
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("nics", &self.nics())
            .field("limits", &self.limits())
            .field("faults", &self.faults())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC D4: an address that stays a NIC while others come and go is always seen as one, and
    // one that never was is never seen, however reads and changes interleave.
    #[test]
    fn nic_reads_without_a_lock_never_see_a_half_written_list() {
        let stays = Ipv4Addr::new(10, 0, 0, 1);
        let never = Ipv4Addr::new(10, 0, 0, 99);
        let set = Arc::new(NicSet::new(vec![stays]));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (set, stop) = (set.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u8;
                while !stop.load(Relaxed) {
                    n = n.wrapping_add(1);
                    // Move `stays` around the list, and past the lock-free part now and then.
                    let others = usize::from(n % 12);
                    set.change(|l| {
                        *l = (0..others).map(|i| Ipv4Addr::new(10, 1, n, i as u8)).collect();
                        l.insert(usize::from(n) % (others + 1), stays);
                    });
                }
            })
        };
        for _ in 0..200_000 {
            assert!(set.contains(stays));
            assert!(!set.contains(never));
        }
        stop.store(true, Relaxed);
        writer.join().unwrap();
    }
}

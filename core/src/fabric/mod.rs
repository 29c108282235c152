//! Fabrics (SPEC section 11): what carries connect requests between devices. The in-process
//! fabric joins the devices of several providers of one process; the engine asks it only which
//! device owns an address, and the listen/accept rules then run on that device unchanged.

pub(crate) mod auth;
pub(crate) mod carrier;
pub(crate) mod faults;
pub(crate) mod session;
pub(crate) mod tcp;
pub(crate) mod wire;

use crate::error::{Result, WsaError};
use crate::provider::Shared;
use carrier::{Links, Loop, Peer};
use faults::FaultInjector;
use session::Policy;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

/// An in-process fabric (SPEC F1): providers built on the same `Fabric` reach each other's
/// listeners, as hosts of one SAN do; a NIC address belongs to at most one device on it.
///
/// Cheap to clone; clones are the same fabric. A provider made without one is alone on a fabric
/// of its own.
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddrV4};
/// use wspsan_core::{ConnectParams, DeviceConfig, Fabric, Provider};
///
/// let fabric = Fabric::new();
/// let host = |ip| DeviceConfig { nics: vec![ip], ..DeviceConfig::default() };
/// let server = Provider::on_fabric(&fabric, host(Ipv4Addr::new(10, 0, 0, 1)))?;
/// let client = Provider::on_fabric(&fabric, host(Ipv4Addr::new(10, 0, 0, 2)))?;
///
/// let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000);
/// let l = server.socket()?;
/// server.bind(l, to)?;
/// server.listen(l, 8)?;
/// let c = client.socket()?;
/// client.set_nonblocking(c, true)?;
/// assert!(client.connect(c, to, ConnectParams::default()).is_err()); // WSAEWOULDBLOCK: queued
/// let accepted = server.accept(l, None)?;
/// assert_eq!(accepted.peer.ip(), &Ipv4Addr::new(10, 0, 0, 2));
/// assert_eq!(client.peer_name(c)?, to);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Fabric {
    owners: Arc<RwLock<HashMap<Ipv4Addr, Weak<Shared>>>>,
    /// Set when the fabric injects faults: its devices then exchange messages, as over the TCP
    /// fabric, through the injector (without it a connect reaches the other device's listener
    /// by a direct call).
    faulty: Option<Arc<Faulty>>,
}

struct Faulty {
    injector: FaultInjector,
    /// Each device's end of the pair joining it to another, by (device, other device).
    pairs: Mutex<HashMap<(usize, usize), Weak<Peer>>>,
}

impl std::fmt::Debug for Fabric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut addrs: Vec<Ipv4Addr> =
            self.read().iter().filter(|(_, w)| w.strong_count() > 0).map(|(a, _)| *a).collect();
        addrs.sort();
        f.debug_struct("Fabric").field("addresses", &addrs).finish()
    }
}

impl Fabric {
    /// A new, empty in-process fabric.
    pub fn new() -> Fabric {
        Fabric::default()
    }

    /// A new, empty in-process fabric whose messages between devices pass `faults` (a delay,
    /// a loss, a copy, a reordering, a partition, as the injector's knobs say at the time).
    /// With every knob off it behaves as [`Fabric::new`], a little slower: requests, answers
    /// and confirmations travel as messages on a thread of each device's, as over the TCP
    /// fabric.
    ///
    /// ```
    /// use std::net::{Ipv4Addr, SocketAddrV4};
    /// use std::time::Duration;
    /// use wspsan_core::{ConnectParams, DeviceConfig, Fabric, FaultInjector, MessageKind, Provider, WsaError};
    ///
    /// let faults = FaultInjector::new(7);
    /// let fabric = Fabric::with_faults(faults.clone());
    /// let host = |ip| DeviceConfig { nics: vec![ip], ..DeviceConfig::default() };
    /// let server = Provider::on_fabric(&fabric, host(Ipv4Addr::new(10, 0, 0, 1)))?;
    /// let client = Provider::on_fabric(&fabric, host(Ipv4Addr::new(10, 0, 0, 2)))?;
    /// client.device().set_connect_timeout(Some(Duration::from_millis(50)));
    ///
    /// let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000);
    /// let l = server.socket()?;
    /// server.bind(l, to)?;
    /// server.listen(l, 8)?;
    /// faults.drop_next(Some(MessageKind::Request), 1); // the request never arrives
    /// let c = client.socket()?;
    /// assert_eq!(client.connect(c, to, ConnectParams::default()), Err(WsaError::TimedOut));
    /// assert_eq!(faults.stats().dropped, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_faults(faults: FaultInjector) -> Fabric {
        Fabric {
            owners: Arc::default(),
            faulty: Some(Arc::new(Faulty { injector: faults, pairs: Mutex::new(HashMap::new()) })),
        }
    }

    /// Wait until no message between this fabric's devices is on its way (delayed ones
    /// included), or `timeout` has passed; true when none is. A test script's way of saying
    /// "and now the network is quiet" on a fabric with faults; on one without, messages do not
    /// exist and this returns true at once.
    pub fn settle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if self.faulty.is_none() {
            return true;
        }
        // A message handed on may make its receiver send another: settled when a whole round
        // over the devices found every one idle.
        loop {
            let devices: Vec<Arc<Shared>> = self.read().values().filter_map(Weak::upgrade).collect();
            let mut quiet = true;
            for d in &devices {
                if let Some(l) = d.links.get() {
                    if !l.settle(deadline) {
                        return false;
                    }
                }
            }
            for d in &devices {
                if let Some(l) = d.links.get() {
                    quiet &= l.settle(Instant::now());
                }
            }
            if quiet {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Whether the fabric injects faults (its devices exchange messages).
    pub(crate) fn is_faulty(&self) -> bool {
        self.faulty.is_some()
    }

    /// The fault injector between this fabric's devices, when it has one.
    pub fn faults(&self) -> Option<FaultInjector> {
        self.faulty.as_ref().map(|f| f.injector.clone())
    }

    /// The carrier a device joining this fabric uses for its messages (none for a fabric
    /// without faults: its devices call each other directly).
    pub(crate) fn links_for(&self, device: &Arc<Shared>, nics: &[Ipv4Addr]) -> Result<Option<Arc<Links>>> {
        let Some(f) = &self.faulty else { return Ok(None) };
        let from = nics.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let policy = Arc::new(Policy::new(tcp::DEFAULT_LIVENESS, tcp::DEFAULT_MAX_PENDING_PER_PEER));
        Links::new(Arc::downgrade(device), from, f.injector.clone(), policy).map(Some)
    }

    /// `from`'s end of the pair joining it to `to` on a fabric with faults, made on first use.
    pub(crate) fn pair(&self, from: &Arc<Shared>, to: &Arc<Shared>) -> Option<Arc<Peer>> {
        let f = self.faulty.as_ref()?;
        let (a, b) = (Arc::as_ptr(from) as usize, Arc::as_ptr(to) as usize);
        let mut pairs = f.pairs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = pairs.get(&(a, b)).and_then(Weak::upgrade).filter(|p| !p.is_lost()) {
            return Some(p);
        }
        let (la, lb) = (from.links.get()?, to.links.get()?);
        let (hop_a, hop_b) = (Arc::new(Loop { to: OnceLock::new() }), Arc::new(Loop { to: OnceLock::new() }));
        let pa = la.open(&to.device.nic_list(), hop_a.clone()).ok()?;
        let pb = match lb.open(&from.device.nic_list(), hop_b.clone()) {
            Ok(p) => p,
            Err(_) => {
                pa.lose();
                return None;
            }
        };
        let _ = hop_a.to.set(Arc::downgrade(&pb));
        let _ = hop_b.to.set(Arc::downgrade(&pa));
        pairs.retain(|_, w| w.strong_count() > 0);
        pairs.insert((a, b), Arc::downgrade(&pa));
        pairs.insert((b, a), Arc::downgrade(&pb));
        Some(pa)
    }

    /// Whether two handles are the same fabric.
    pub fn same(&self, other: &Fabric) -> bool {
        Arc::ptr_eq(&self.owners, &other.owners)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Ipv4Addr, Weak<Shared>>> {
        self.owners.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Ipv4Addr, Weak<Shared>>> {
        self.owners.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// F1: give `ips` to `owner`, all or none: an address another live device owns is
    /// `WSAEADDRINUSE`. The addresses of a device that is gone are free again.
    pub(crate) fn claim(&self, ips: &[Ipv4Addr], owner: &Arc<Shared>) -> Result<()> {
        let mut owners = self.write();
        let taken = |ip: &Ipv4Addr| owners.get(ip).and_then(Weak::upgrade).is_some_and(|o| !Arc::ptr_eq(&o, owner));
        if ips.iter().any(taken) {
            return Err(WsaError::AddrInUse);
        }
        for ip in ips {
            owners.insert(*ip, Arc::downgrade(owner));
        }
        Ok(())
    }

    /// Give back the addresses `owner` holds among `ips` (a NIC removed, a device gone).
    pub(crate) fn release(&self, ips: &[Ipv4Addr], owner: *const Shared) {
        let mut owners = self.write();
        for ip in ips {
            if owners.get(ip).is_some_and(|w| std::ptr::eq(w.as_ptr(), owner)) {
                owners.remove(ip);
            }
        }
    }

    /// The live device that owns `ip` on this fabric, if any.
    pub(crate) fn device_at(&self, ip: Ipv4Addr) -> Option<Arc<Shared>> {
        self.read().get(&ip).and_then(Weak::upgrade)
    }
}

/// Where a provider's device sits: its NICs and, when it joins one, the TCP fabric. The C ABI's
/// process-wide provider reads it from the environment at the first `WSPStartup` (SPEC F3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The device's NICs (and default limits).
    pub device: crate::DeviceConfig,
    /// The TCP fabric to join, or `None` for a device alone on its in-process fabric.
    pub tcp: Option<tcp::TcpConfig>,
}

/// Why a [`Placement`] could not be read: the variable, the error (`WSAEINVAL`) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// The Winsock error to report (`WSAEINVAL`).
    pub error: WsaError,
    /// What was wrong with its value.
    pub detail: String,
}

impl std::fmt::Display for PlacementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.detail)
    }
}

impl std::error::Error for PlacementError {}

impl Placement {
    /// The environment variables a placement is read from (SPEC F3).
    pub const VARIABLES: [&'static str; 4] =
        ["WSPSAN_FABRIC", "WSPSAN_NICS", "WSPSAN_FABRIC_PORT", "WSPSAN_FABRIC_KEY"];

    /// SPEC F3: `WSPSAN_FABRIC` (`tcp`, or absent / `local`), `WSPSAN_NICS` (comma-separated
    /// IPv4 addresses, default 127.0.0.1), `WSPSAN_FABRIC_PORT` (default 7470),
    /// `WSPSAN_FABRIC_KEY` (the key's bytes), read through `var` (e.g. `std::env::var`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> std::result::Result<Placement, PlacementError> {
        let bad = |variable: &'static str, detail: String| PlacementError { variable, error: WsaError::Inval, detail };
        let tcp = match var("WSPSAN_FABRIC").as_deref().map(str::trim) {
            None | Some("" | "local") => false,
            Some("tcp") => true,
            Some(other) => return Err(bad("WSPSAN_FABRIC", format!("{other:?} is neither \"tcp\" nor \"local\""))),
        };
        let mut device = crate::DeviceConfig::default();
        if let Some(list) = var("WSPSAN_NICS") {
            let nics = parse_nics(&list).map_err(|d| bad("WSPSAN_NICS", d))?;
            device.nics = nics;
        }
        let port = match var("WSPSAN_FABRIC_PORT") {
            None => tcp::DEFAULT_PORT,
            Some(p) => match p.trim().parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(bad("WSPSAN_FABRIC_PORT", format!("{p:?} is not a port from 1 to 65535"))),
            },
        };
        let key = match var("WSPSAN_FABRIC_KEY") {
            None => None,
            Some(k) if k.is_empty() => return Err(bad("WSPSAN_FABRIC_KEY", "the key is empty".into())),
            Some(k) => Some(k.into_bytes()),
        };
        if !tcp && (key.is_some() || var("WSPSAN_FABRIC_PORT").is_some()) {
            let variable = if key.is_some() { "WSPSAN_FABRIC_KEY" } else { "WSPSAN_FABRIC_PORT" };
            return Err(bad(variable, "set, but WSPSAN_FABRIC is not \"tcp\"".into()));
        }
        let tcp = tcp.then(|| tcp::TcpConfig { port, key, ..tcp::TcpConfig::default() });
        Ok(Placement { device, tcp })
    }

    /// The provider this placement describes (see [`crate::Provider::on_tcp_fabric`] for the
    /// errors of joining the TCP fabric).
    pub fn build(self) -> Result<crate::Provider> {
        match self.tcp {
            Some(t) => crate::Provider::on_tcp_fabric(self.device, t),
            None => {
                self.device.validate()?;
                Ok(crate::Provider::with_config(self.device))
            }
        }
    }
}

/// A comma-separated list of IPv4 NIC addresses: at least one, none 0.0.0.0, none twice.
pub fn parse_nics(list: &str) -> std::result::Result<Vec<Ipv4Addr>, String> {
    let mut nics = Vec::new();
    for part in list.split(',').map(str::trim) {
        let ip: Ipv4Addr = part.parse().map_err(|_| format!("{part:?} is not an IPv4 address"))?;
        if ip.is_unspecified() || nics.contains(&ip) {
            return Err(format!("{ip} is 0.0.0.0 or given twice"));
        }
        nics.push(ip);
    }
    Ok(nics)
}

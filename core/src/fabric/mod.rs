//! Fabrics (SPEC section 11): what carries connect requests between devices. The in-process
//! fabric joins the devices of several providers of one process; the engine asks it only which
//! device owns an address, and the listen/accept rules then run on that device unchanged.

pub(crate) mod auth;
pub(crate) mod session;
pub(crate) mod tcp;
pub(crate) mod wire;

use crate::error::{Result, WsaError};
use crate::provider::Shared;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, PoisonError, RwLock, Weak};

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

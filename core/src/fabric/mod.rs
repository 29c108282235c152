//! Fabrics (SPEC section 11): what carries connect requests between devices. The in-process
//! fabric joins the devices of several providers of one process; the engine asks it only which
//! device owns an address, and the listen/accept rules then run on that device unchanged.

pub(crate) mod auth;
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

//! The descriptor table: descriptor values that are never reused, sharded so that lookups
//! from different threads rarely meet on one lock.

use crate::error::{Result, WsaError};
use crate::socket::{Descriptor, SocketCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

const SHARDS: usize = 64;
/// Descriptors are multiples of 4 starting here, like Windows handles; never 0 and never
/// `INVALID_SOCKET`.
const FIRST: u64 = 0x100;
const STEP: u64 = 4;

/// Multiplicative hash for descriptor keys (sequential integers).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Shard = HashMap<u64, Arc<SocketCell>, BuildHasherDefault<IdHasher>>;

pub(crate) struct Table {
    shards: Box<[Mutex<Shard>]>,
    next: AtomicU64,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(), next: AtomicU64::new(FIRST) }
    }

    fn shard(&self, id: u64) -> MutexGuard<'_, Shard> {
        self.shards[((id / STEP) as usize) % SHARDS].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh descriptor value, never handed out before.
    pub(crate) fn allocate(&self) -> Descriptor {
        Descriptor::from_raw(self.next.fetch_add(STEP, Relaxed))
    }

    pub(crate) fn insert(&self, cell: Arc<SocketCell>) {
        let id = cell.id.raw();
        self.shard(id).insert(id, cell);
    }

    /// L1, A1, K1: an unknown or closed descriptor is `WSAENOTSOCK`.
    pub(crate) fn get(&self, s: Descriptor) -> Result<Arc<SocketCell>> {
        self.shard(s.raw()).get(&s.raw()).cloned().ok_or(WsaError::NotSock)
    }

    pub(crate) fn remove(&self, s: Descriptor) -> Result<Arc<SocketCell>> {
        self.shard(s.raw()).remove(&s.raw()).ok_or(WsaError::NotSock)
    }

    /// Every live socket, collected first so `f` runs with no table lock held.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<SocketCell>)) {
        for shard in self.shards.iter() {
            let cells: Vec<Arc<SocketCell>> =
                shard.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
            cells.iter().for_each(&mut f);
        }
    }

    /// Remove and return every live socket.
    pub(crate) fn drain(&self) -> Vec<Arc<SocketCell>> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(shard.lock().unwrap_or_else(PoisonError::into_inner).drain().map(|(_, c)| c));
        }
        all
    }
}

//! The descriptor table: a slab of slots indexed by part of the descriptor, each slot with its
//! own lock and a generation that is part of the descriptor too. A lookup is an index and one
//! uncontended lock; a closed descriptor's slot gets a new generation, so the old value never
//! reaches a newer socket.
//!
//! Descriptor layout: `((generation << INDEX_BITS) | index) << 2`: multiples of 4 like Windows
//! handles, never 0 (generations start at 1) and never `INVALID_SOCKET`. A slot is reused only
//! when at least `REUSE_AFTER` slots of its free list wait, oldest first, so a generation grows
//! by one per `REUSE_AFTER` closes at most: 2^38 generations would take years at full speed.

use crate::error::{Result, WsaError};
use crate::pad::CacheLine;
use crate::socket::{Descriptor, SocketCell};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

const INDEX_BITS: u32 = 24;
const MAX_SLOTS: u32 = 1 << INDEX_BITS;
const GENERATION_LIMIT: u64 = (1 << (64 - INDEX_BITS - 2)) - 1;
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = (MAX_SLOTS as usize) / CHUNK;
const FREE_LISTS: usize = 16;
const REUSE_AFTER: usize = 1024;

/// One slot: its socket, under the slot's lock, and its generation, written only under that
/// lock but readable without it (allocation reads it lock-free).
struct Slot {
    generation: AtomicU64,
    cell: Mutex<Option<Arc<SocketCell>>>,
}

type Chunk = Box<[Slot]>;

pub(crate) struct Table {
    chunks: Box<[OnceLock<Chunk>]>,
    fresh: CacheLine<AtomicU32>,
    /// Freed indexes, oldest first; an index goes back to list `index % FREE_LISTS`.
    free: Box<[CacheLine<Mutex<VecDeque<u32>>>]>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// The free list this thread takes indexes from (threads spread over the lists).
    static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn home_list() -> usize {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    HOME.with(|h| {
        if h.get() == usize::MAX {
            h.set(NEXT.fetch_add(1, Relaxed) as usize % FREE_LISTS);
        }
        h.get()
    })
}

fn encode(index: u32, generation: u64) -> Descriptor {
    Descriptor::from_raw(((generation << INDEX_BITS) | u64::from(index)) << 2)
}

fn decode(s: Descriptor) -> Option<(u32, u64)> {
    let raw = s.raw();
    if raw & 3 != 0 {
        return None;
    }
    let v = raw >> 2;
    Some(((v & u64::from(MAX_SLOTS - 1)) as u32, v >> INDEX_BITS))
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
            fresh: CacheLine(AtomicU32::new(0)),
            free: (0..FREE_LISTS).map(|_| CacheLine(Mutex::new(VecDeque::new()))).collect(),
        }
    }

    fn slot(&self, index: u32) -> Option<&Slot> {
        let chunk = self.chunks.get((index >> CHUNK_BITS) as usize)?.get()?;
        chunk.get(index as usize & (CHUNK - 1))
    }

    fn slot_or_create(&self, index: u32) -> &Slot {
        let chunk = self.chunks[(index >> CHUNK_BITS) as usize].get_or_init(|| {
            (0..CHUNK).map(|_| Slot { generation: AtomicU64::new(1), cell: Mutex::new(None) }).collect()
        });
        &chunk[index as usize & (CHUNK - 1)]
    }

    /// Reserve a descriptor value never handed out before; [`insert`](Self::insert) fills it,
    /// [`release`](Self::release) gives it back unused.
    pub(crate) fn allocate(&self) -> Result<Descriptor> {
        let list = home_list();
        let reused = {
            let mut free = lock(&self.free[list]);
            if free.len() >= REUSE_AFTER { free.pop_front() } else { None }
        };
        let index = match reused {
            Some(i) => i,
            None => {
                let i = self.fresh.fetch_add(1, Relaxed);
                if i >= MAX_SLOTS {
                    self.fresh.fetch_sub(1, Relaxed);
                    // The slab is full: take any freed slot rather than fail.
                    self.free.iter().find_map(|f| lock(f).pop_front()).ok_or(WsaError::MFile)?
                } else {
                    i
                }
            }
        };
        // The free list's lock orders this read after the close that bumped the generation.
        let generation = self.slot_or_create(index).generation.load(Acquire);
        Ok(encode(index, generation))
    }

    /// Put a socket into the slot its descriptor reserved.
    pub(crate) fn insert(&self, cell: Arc<SocketCell>) {
        if let Some((index, _)) = decode(cell.id) {
            *lock(&self.slot_or_create(index).cell) = Some(cell);
        }
    }

    /// L1, A1, K1: an unknown or closed descriptor is `WSAENOTSOCK`.
    pub(crate) fn get(&self, s: Descriptor) -> Result<Arc<SocketCell>> {
        let (index, generation) = decode(s).ok_or(WsaError::NotSock)?;
        let slot = self.slot(index).ok_or(WsaError::NotSock)?;
        let cell = lock(&slot.cell);
        match &*cell {
            Some(c) if slot.generation.load(Relaxed) == generation => Ok(c.clone()),
            _ => Err(WsaError::NotSock),
        }
    }

    /// Take a live socket out; its descriptor is dead from now on.
    pub(crate) fn remove(&self, s: Descriptor) -> Result<Arc<SocketCell>> {
        let (index, generation) = decode(s).ok_or(WsaError::NotSock)?;
        let cell = {
            let slot = self.slot(index).ok_or(WsaError::NotSock)?;
            let mut cell = lock(&slot.cell);
            if slot.generation.load(Relaxed) != generation || cell.is_none() {
                return Err(WsaError::NotSock);
            }
            slot.generation.store(generation + 1, Release);
            cell.take()
        };
        self.recycle(index, generation + 1);
        cell.ok_or(WsaError::NotSock)
    }

    /// Give back a descriptor from [`allocate`](Self::allocate) that never held a socket.
    pub(crate) fn release(&self, s: Descriptor) {
        if let Some((index, generation)) = decode(s) {
            if let Some(slot) = self.slot(index) {
                let cell = lock(&slot.cell);
                if slot.generation.load(Relaxed) != generation || cell.is_some() {
                    return;
                }
                slot.generation.store(generation + 1, Release);
            }
            self.recycle(index, generation + 1);
        }
    }

    fn recycle(&self, index: u32, next_generation: u64) {
        if next_generation < GENERATION_LIMIT {
            lock(&self.free[index as usize % FREE_LISTS]).push_back(index);
        } // else: the slot retires for good rather than repeat a value
    }

    fn live(&self) -> impl Iterator<Item = &Slot> {
        let used = self.fresh.load(Relaxed).min(MAX_SLOTS);
        (0..used).filter_map(|i| self.slot(i))
    }

    /// Every live socket, each slot locked only while it is read, so `f` runs with no table
    /// lock held.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<SocketCell>)) {
        for slot in self.live() {
            let cell = lock(&slot.cell).clone();
            if let Some(c) = cell {
                f(&c);
            }
        }
    }

    /// Remove and return every live socket.
    pub(crate) fn drain(&self) -> Vec<Arc<SocketCell>> {
        let mut all = Vec::new();
        for slot in self.live() {
            if let Some(c) = lock(&slot.cell).take() {
                slot.generation.fetch_add(1, Release);
                all.push(c);
            }
        }
        // Drained slots are not recycled: cleanup is rare and their generations moved on.
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_never_reused_and_stale_ones_fail() {
        let t = Table::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5000 {
            let d = t.allocate().unwrap();
            assert!(d.raw() != 0 && d.raw() % 4 == 0);
            assert!(seen.insert(d), "descriptor {d:?} handed out twice");
            t.insert(Arc::new(SocketCell::new(d, 0, |_| {})));
            assert!(t.get(d).is_ok());
            t.remove(d).unwrap();
            assert_eq!(t.get(d).err(), Some(WsaError::NotSock));
            assert_eq!(t.remove(d).err(), Some(WsaError::NotSock));
        }
        // Slots were reused (the slab did not grow without bound) under new generations.
        assert!(t.fresh.load(Relaxed) as usize <= (REUSE_AFTER + 1) * FREE_LISTS);
        for raw in [0, 1, 2, 3, u64::MAX, 1 << 62] {
            assert_eq!(t.get(Descriptor::from_raw(raw)).err(), Some(WsaError::NotSock));
        }
    }
}

//! The descriptor table: a slab of slots indexed by part of the descriptor, each slot with its
//! socket cell and a generation that is part of the descriptor too. A slot's cell is made once
//! and serves every socket the slot holds in turn, so a lookup is an index, one load and the
//! socket's own lock: no table lock and no reference count. A closed descriptor's slot gets a
//! new generation, so the old value never reaches a newer socket; whoever keeps a cell beyond
//! one call (a pending request, a port binding, a blocked waiter) names the socket it meant by
//! its descriptor and checks it under the cell's lock ([`SocketInner::id`]).
//!
//! Descriptor layout: `((generation << INDEX_BITS) | index) << 2`: multiples of 4 like Windows
//! handles, never 0 (generations start at 1) and never `INVALID_SOCKET`. A slot is reused only
//! when at least `REUSE_AFTER` slots of its free list wait, oldest first, so a generation grows
//! by one per `REUSE_AFTER` closes at most: 2^38 generations would take years at full speed.
//! Each thread moves freed slots to and from the shared free lists `BATCH` at a time (its
//! [`Stash`]), so making and closing a socket rarely takes a free list's lock.

use crate::error::{Result, WsaError};
use crate::pad::CacheLine;
use crate::socket::{Descriptor, SocketCell, SocketInner};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

const INDEX_BITS: u32 = 24;
const MAX_SLOTS: u32 = 1 << INDEX_BITS;
const GENERATION_LIMIT: u64 = (1 << (64 - INDEX_BITS - 2)) - 1;
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = (MAX_SLOTS as usize) / CHUNK;
const FREE_LISTS: usize = 16;
const REUSE_AFTER: usize = 1024;
const BATCH: usize = 32;
const STASHES_PER_THREAD: usize = 4;
/// Set in a slot's generation while its descriptor is not (or no longer) to be found: a decoded
/// generation never has it, so [`Table::lock`] fails without touching the cell. A socket is
/// published by storing its generation without it, which costs its maker no lock.
const SEALED: u64 = 1 << 63;

/// One slot: its cell, made when the slot is first handed out, and its generation (with
/// [`SEALED`] until its socket is published), killed only under the cell's lock and readable
/// without it.
struct Slot {
    generation: AtomicU64,
    cell: OnceLock<Arc<SocketCell>>,
}

type Chunk = Box<[Slot]>;

pub(crate) struct Table {
    chunks: Box<[OnceLock<Chunk>]>,
    fresh: CacheLine<AtomicU32>,
    free: Arc<FreeLists>,
}

/// Freed indexes, oldest first, over several lists so that threads rarely meet; a thread hands
/// its batches to its home list and takes from it first, then from any list long enough (a
/// thread that only makes sockets, such as an accepting one, reuses what others close).
struct FreeLists(Box<[CacheLine<FreeList>]>);

struct FreeList {
    indexes: Mutex<VecDeque<u32>>,
    /// The list's length, readable without its lock, to find a list worth taking from.
    len: AtomicUsize,
}

impl FreeLists {
    fn give(&self, list: usize, indexes: &mut Vec<u32>) {
        if !indexes.is_empty() {
            let l = &self.0[list];
            let mut q = lock(&l.indexes);
            q.extend(indexes.drain(..));
            l.len.store(q.len(), Relaxed);
        }
    }

    /// A batch of the oldest indexes of `list`, if at least `REUSE_AFTER` would still wait
    /// behind them, into `into` (oldest last).
    fn take(&self, list: usize, into: &mut Vec<u32>) -> bool {
        let l = &self.0[list];
        if l.len.load(Relaxed) < REUSE_AFTER + BATCH {
            return false;
        }
        let mut q = lock(&l.indexes);
        if q.len() < REUSE_AFTER + BATCH {
            return false;
        }
        into.extend(q.drain(..BATCH).rev());
        l.len.store(q.len(), Relaxed);
        true
    }

    /// Any one freed index (the slab is full).
    fn any(&self) -> Option<u32> {
        self.0.iter().find_map(|l| {
            let mut q = lock(&l.indexes);
            let i = q.pop_front();
            l.len.store(q.len(), Relaxed);
            i
        })
    }
}

/// One thread's share of one table's free indexes: those it freed lately, not yet handed to
/// the shared lists, and a batch taken from them to hand out (oldest last, popped first).
struct Stash {
    table: Weak<FreeLists>,
    freed: Vec<u32>,
    ready: Vec<u32>,
}

impl Drop for Stash {
    /// A thread that ends, or turns to another table, gives its indexes back (a table that is
    /// gone needs none).
    fn drop(&mut self) {
        if let Some(t) = self.table.upgrade() {
            let list = home_list();
            t.give(list, &mut self.freed);
            t.give(list, &mut self.ready);
        }
    }
}

thread_local! {
    /// This thread's stashes, the table used last first: a thread that works with a few
    /// providers in turn (two devices of an in-process fabric) keeps one for each.
    static STASHES: RefCell<Vec<Stash>> = const { RefCell::new(Vec::new()) };
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

/// A live socket, locked: its cell (for waits and for links that outlive the call) and its state.
pub(crate) type Locked<'t> = (&'t Arc<SocketCell>, MutexGuard<'t, SocketInner>);

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
            fresh: CacheLine(AtomicU32::new(0)),
            free: Arc::new(FreeLists(
                (0..FREE_LISTS)
                    .map(|_| CacheLine(FreeList { indexes: Mutex::new(VecDeque::new()), len: AtomicUsize::new(0) }))
                    .collect(),
            )),
        }
    }

    fn slot(&self, index: u32) -> Option<&Slot> {
        let chunk = self.chunks.get((index >> CHUNK_BITS) as usize)?.get()?;
        chunk.get(index as usize & (CHUNK - 1))
    }

    fn slot_or_create(&self, index: u32) -> &Slot {
        let chunk = self.chunks[(index >> CHUNK_BITS) as usize].get_or_init(|| {
            (0..CHUNK).map(|_| Slot { generation: AtomicU64::new(1 | SEALED), cell: OnceLock::new() }).collect()
        });
        &chunk[index as usize & (CHUNK - 1)]
    }

    /// Reserve a descriptor value never handed out before, and the cell its socket will live in
    /// (vacant: [`lock`](Self::lock) does not find it until the socket is opened in it and
    /// [`publish`](Self::publish)ed).
    /// [`recycle`](Self::recycle) gives it back once the socket is closed or was never opened.
    pub(crate) fn allocate(&self) -> Result<(Descriptor, &Arc<SocketCell>)> {
        let reused = self.with_stash(|st| {
            if st.ready.is_empty() {
                let home = home_list();
                let _ = (0..FREE_LISTS).any(|k| self.free.take((home + k) % FREE_LISTS, &mut st.ready));
            }
            st.ready.pop()
        });
        let index = match reused.flatten() {
            Some(i) => i,
            None => {
                let i = self.fresh.fetch_add(1, Relaxed);
                if i >= MAX_SLOTS {
                    self.fresh.fetch_sub(1, Relaxed);
                    // The slab is full: take any freed slot rather than fail.
                    self.free.any().ok_or(WsaError::MFile)?
                } else {
                    i
                }
            }
        };
        let slot = self.slot_or_create(index);
        // The free list's lock orders this read after the close that bumped the generation.
        let generation = slot.generation.load(Acquire) & !SEALED;
        let cell = slot.cell.get_or_init(|| Arc::new(SocketCell::vacant()));
        Ok((encode(index, generation), cell))
    }

    /// L1, A1, K1: the cell of a live socket, locked; an unknown, closed or not yet opened
    /// descriptor is `WSAENOTSOCK`.
    #[inline]
    pub(crate) fn lock(&self, s: Descriptor) -> Result<Locked<'_>> {
        let (index, generation) = decode(s).ok_or(WsaError::NotSock)?;
        let slot = self.slot(index).ok_or(WsaError::NotSock)?;
        if slot.generation.load(Acquire) != generation {
            return Err(WsaError::NotSock);
        }
        let cell = slot.cell.get().ok_or(WsaError::NotSock)?;
        let g = cell.lock();
        // The generation check above may have raced with a close: the cell's own record decides.
        if g.id != s || !g.open {
            return Err(WsaError::NotSock);
        }
        Ok((cell, g))
    }

    /// The cell that holds, or held, socket `s`, with no lock taken: for a socket found by its
    /// descriptor elsewhere (a port binding), to be checked under the cell's lock.
    #[inline]
    pub(crate) fn cell(&self, s: Descriptor) -> Option<&Arc<SocketCell>> {
        let (index, _) = decode(s)?;
        self.slot(index)?.cell.get()
    }

    /// The socket just opened as `s` may be found from now on. Only its maker calls this, once,
    /// before anything can kill `s` (a close needs `s` found; [`drain`](Self::drain) passes over
    /// sockets not yet published).
    #[inline]
    pub(crate) fn publish(&self, s: Descriptor) {
        if let Some((index, generation)) = decode(s) {
            if let Some(slot) = self.slot(index) {
                slot.generation.store(generation, Release);
            }
        }
    }

    /// Whether `s` was published and not killed since.
    fn published(&self, s: Descriptor) -> bool {
        decode(s).and_then(|(index, generation)| Some(self.slot(index)?.generation.load(Acquire) == generation))
            == Some(true)
    }

    /// The descriptor `s` is dead from now on (its socket is being closed or was never opened):
    /// call with its cell locked, so two closes cannot both succeed.
    pub(crate) fn kill(&self, s: Descriptor) {
        if let Some((index, generation)) = decode(s) {
            if let Some(slot) = self.slot(index) {
                slot.generation.store((generation + 1) | SEALED, Release);
            }
        }
    }

    /// Give a killed descriptor's slot back for later sockets, once nothing of its socket is
    /// left to tidy up.
    pub(crate) fn recycle(&self, s: Descriptor) {
        if let Some((index, generation)) = decode(s) {
            if generation + 1 < GENERATION_LIMIT {
                let stashed = self.with_stash(|st| {
                    st.freed.push(index);
                    if st.freed.len() >= BATCH {
                        self.free.give(home_list(), &mut st.freed);
                    }
                });
                if stashed.is_none() {
                    self.free.give(home_list(), &mut vec![index]);
                }
            } // else: the slot retires for good rather than repeat a value
        }
    }

    /// Run `f` on this thread's stash of this table's indexes; `None` when the thread is ending
    /// and has none any more.
    fn with_stash<T>(&self, f: impl FnOnce(&mut Stash) -> T) -> Option<T> {
        STASHES
            .try_with(|cell| {
                let mut stashes = cell.borrow_mut();
                let mine = |st: &Stash| std::ptr::eq(st.table.as_ptr(), Arc::as_ptr(&self.free));
                match stashes.iter().position(mine) {
                    Some(0) => {}
                    Some(i) => stashes[..=i].rotate_right(1),
                    None => {
                        // Stashes of tables that are gone go; past the limit, the one used least
                        // recently goes back to its table (dropping a stash does that).
                        stashes.retain(|st| st.table.strong_count() > 0);
                        stashes.truncate(STASHES_PER_THREAD - 1);
                        let fresh = Stash { table: Arc::downgrade(&self.free), freed: Vec::new(), ready: Vec::new() };
                        stashes.insert(0, fresh);
                    }
                }
                f(&mut stashes[0])
            })
            .ok()
    }

    fn cells(&self) -> impl Iterator<Item = &Arc<SocketCell>> {
        let used = self.fresh.load(Relaxed).min(MAX_SLOTS);
        (0..used).filter_map(|i| self.slot(i)?.cell.get())
    }

    /// Every cell ever handed out, live or not, with no lock held: for wake-ups that every
    /// socket must see.
    pub(crate) fn for_each(&self, f: impl FnMut(&Arc<SocketCell>)) {
        self.cells().for_each(f);
    }

    /// Kill every live socket and hand each, locked, to `close`; their slots are not recycled
    /// (cleanup is rare and their generations moved on).
    pub(crate) fn drain(&self, mut close: impl FnMut(Locked<'_>)) {
        for cell in self.cells() {
            let g = cell.lock();
            if g.open && self.published(g.id) {
                self.kill(g.id);
                close((cell, g));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(t: &Table) -> Descriptor {
        let (d, cell) = t.allocate().unwrap();
        cell.lock().open_as(d, 0, |_| {});
        t.publish(d);
        d
    }

    fn close(t: &Table, d: Descriptor) -> Result<()> {
        let (_, mut g) = t.lock(d)?;
        t.kill(d);
        g.open = false;
        drop(g);
        t.recycle(d);
        Ok(())
    }

    #[test]
    fn descriptors_are_never_reused_and_stale_ones_fail() {
        let t = Table::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5000 {
            let d = open(&t);
            assert!(d.raw() != 0 && d.raw() % 4 == 0);
            assert!(seen.insert(d), "descriptor {d:?} handed out twice");
            assert!(t.lock(d).is_ok());
            close(&t, d).unwrap();
            assert_eq!(t.lock(d).err(), Some(WsaError::NotSock));
            assert_eq!(close(&t, d).err(), Some(WsaError::NotSock));
        }
        // Slots were reused (the slab did not grow without bound) under new generations.
        assert!(t.fresh.load(Relaxed) as usize <= (REUSE_AFTER + 1) * FREE_LISTS);
        for raw in [0, 1, 2, 3, u64::MAX, 1 << 62] {
            assert_eq!(t.lock(Descriptor::from_raw(raw)).err(), Some(WsaError::NotSock));
        }
    }

    #[test]
    fn a_reserved_descriptor_is_not_found_until_published() {
        let t = Table::new();
        let (d, cell) = t.allocate().unwrap();
        assert_eq!(t.lock(d).err(), Some(WsaError::NotSock));
        cell.lock().open_as(d, 0, |_| {});
        assert_eq!(t.lock(d).err(), Some(WsaError::NotSock));
        t.publish(d);
        assert!(t.lock(d).is_ok());
    }

    // K1: a thread that only makes sockets reuses the slots another thread frees, so the slab
    // does not grow without bound when one thread accepts and others close.
    #[test]
    fn slots_freed_by_one_thread_are_reused_by_another() {
        let t = Arc::new(Table::new());
        let (tx, rx) = std::sync::mpsc::sync_channel::<Descriptor>(64);
        let closer = {
            let t = t.clone();
            std::thread::spawn(move || {
                for d in rx {
                    close(&t, d).unwrap();
                }
            })
        };
        for _ in 0..60_000 {
            tx.send(open(&t)).unwrap();
        }
        drop(tx);
        closer.join().unwrap();
        let used = t.fresh.load(Relaxed) as usize;
        assert!(used < 4 * (REUSE_AFTER + 2 * BATCH) + 2 * BATCH * FREE_LISTS, "{used} slots");
    }

    // K1: a thread working with several tables in turn reuses each one's slots, and hands every
    // freed slot back; descriptors stay unique in each.
    #[test]
    fn a_thread_alternating_between_tables_reuses_each_ones_slots() {
        let tables: Vec<Table> = (0..6).map(|_| Table::new()).collect();
        let mut seen: Vec<std::collections::HashSet<Descriptor>> = vec![Default::default(); tables.len()];
        for round in 0..72_000 {
            let k = round % tables.len();
            let d = open(&tables[k]);
            assert!(seen[k].insert(d), "descriptor {d:?} handed out twice");
            close(&tables[k], d).unwrap();
        }
        for t in &tables {
            assert!((t.fresh.load(Relaxed) as usize) < 4 * (REUSE_AFTER + 2 * BATCH) + 2 * BATCH * FREE_LISTS);
        }
    }
}

//! The in-process floor: what is physically left of a connection request when everything
//! but one allocation and one queue under a lock is taken away.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{Condvar, Mutex, PoisonError};

/// A request as the floor sees it: 128 bytes on the heap.
pub type Request = Box<[u8; 128]>;

fn request() -> Request {
    Box::new([0u8; 128])
}

/// Case 1 floor: push a fresh request and pop it again, on one thread.
#[derive(Default)]
pub struct Queue(Mutex<VecDeque<Request>>);

impl Queue {
    pub fn pair(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push_back(black_box(request()));
        let r = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
        drop(black_box(r));
    }
}

#[derive(Default)]
struct Shared {
    queue: VecDeque<Request>,
    waiters: u32,
}

/// Cases 2 and 3 floor: the same queue with a condvar, notified only when a waiter exists.
#[derive(Default)]
pub struct Handoff {
    shared: Mutex<Shared>,
    cv: Condvar,
}

impl Handoff {
    pub fn push(&self) {
        let r = request();
        let mut g = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        g.queue.push_back(r);
        if g.waiters > 0 {
            self.cv.notify_one();
        }
    }

    /// Block until a request is queued and take it.
    pub fn pop(&self) -> Request {
        let mut g = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(r) = g.queue.pop_front() {
                return r;
            }
            g.waiters += 1;
            g = self.cv.wait(g).unwrap_or_else(PoisonError::into_inner);
            g.waiters -= 1;
        }
    }
}

/// The primitives a pair is built from, for case 1's design minimum: each of a pair's six calls
/// finds its socket and locks it, and a pair allocates two sockets and one request.
pub mod primitives {
    use super::{Request, request};
    use std::hint::black_box;
    use std::sync::{Arc, Mutex, PoisonError};

    /// One uncontended lock round trip.
    pub fn lock(m: &Mutex<u64>) {
        *black_box(m).lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }

    /// One reference count taken and given back (a table lookup hands out an `Arc`).
    pub fn arc(a: &Arc<u64>) {
        drop(black_box(Arc::clone(black_box(a))));
    }

    /// One 128-byte allocation and free.
    pub fn alloc() {
        let r: Request = request();
        drop(black_box(r));
    }

    /// Lock round trips and allocations a pair cannot do without in this design.
    pub const PAIR_LOCKS: f64 = 12.0;
    pub const PAIR_ALLOCS: f64 = 3.0;
}

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

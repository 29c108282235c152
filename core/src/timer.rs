//! The device's connect timeout for non-blocking connects (SPEC D2): one thread per
//! provider, started the first time it is needed, gone when the provider is dropped.

use crate::provider::Shared;
use crate::socket::SocketCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

struct Entry {
    deadline: Instant,
    cell: Weak<SocketCell>,
    attempt: u64,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.deadline == o.deadline
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.deadline.cmp(&o.deadline)
    }
}

#[derive(Default)]
struct TimerState {
    heap: BinaryHeap<Reverse<Entry>>,
    running: bool,
}

#[derive(Default)]
pub(crate) struct Timer {
    state: Mutex<TimerState>,
    cv: Condvar,
}

/// How long the idle thread waits before checking whether its provider still exists.
const IDLE: Duration = Duration::from_millis(500);

impl Timer {
    /// Withdraw `attempt` of `cell` with `WSAETIMEDOUT` at `deadline` unless answered first.
    pub(crate) fn schedule(&self, shared: &Arc<Shared>, cell: &Arc<SocketCell>, attempt: u64, deadline: Instant) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let earliest = st.heap.peek().is_none_or(|Reverse(e)| deadline < e.deadline);
        st.heap.push(Reverse(Entry { deadline, cell: Arc::downgrade(cell), attempt }));
        if !st.running {
            st.running = true;
            let weak = Arc::downgrade(shared);
            let spawned = std::thread::Builder::new().name("wspsan-timer".into()).spawn(move || run(weak));
            if spawned.is_err() {
                st.running = false; // no thread: the entry fires at the next schedule that can spawn one
            }
        } else if earliest {
            self.cv.notify_one();
        }
    }
}

fn run(shared: Weak<Shared>) {
    loop {
        let Some(sh) = shared.upgrade() else { return };
        let timer = &sh.timer;
        let mut due = Vec::new();
        {
            let mut st = timer.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            while st.heap.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
                if let Some(Reverse(e)) = st.heap.pop() {
                    due.push(e);
                }
            }
            if due.is_empty() {
                let wait =
                    st.heap.peek().map_or(IDLE, |Reverse(e)| e.deadline.saturating_duration_since(now).min(IDLE));
                drop(timer.cv.wait_timeout(st, wait).unwrap_or_else(PoisonError::into_inner));
                continue;
            }
        }
        for e in due {
            if let Some(cell) = e.cell.upgrade() {
                sh.time_out(&cell, e.attempt);
            }
        }
    }
}

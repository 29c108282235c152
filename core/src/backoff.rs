//! How a thread waits for another thread's change before it sleeps. A hand-off between two
//! threads usually completes within a microsecond or two, while a futex sleep and wake-up costs
//! tens of them (a virtual CPU that halted must be woken by an interrupt). So a waiter first
//! looks often for a short while (one pause between looks, so it sees the change within tens of
//! nanoseconds), then yields between looks, which lets a thread sharing its core run, and only
//! then sleeps. Never a long pure spin: on an oversubscribed machine it would burn the time the
//! other side needs.

use std::time::{Duration, Instant};

/// Looking with a pause between looks, this long.
const SPIN: Duration = Duration::from_micros(4);
/// Then with a yield between looks, until this long has passed since the wait began.
const YIELD_UNTIL: Duration = Duration::from_micros(60);
/// How many looks between two readings of the clock while spinning.
const LOOKS_PER_CLOCK: u32 = 32;

/// Look at `changed` until it says true (returns true) or the time for polling is spent
/// (false: the caller sleeps).
#[inline]
pub(crate) fn poll(mut changed: impl FnMut() -> bool) -> bool {
    if changed() {
        return true;
    }
    let start = Instant::now();
    loop {
        for _ in 0..LOOKS_PER_CLOCK {
            std::hint::spin_loop();
            if changed() {
                return true;
            }
        }
        if start.elapsed() >= SPIN {
            break;
        }
    }
    loop {
        std::thread::yield_now();
        if changed() {
            return true;
        }
        if start.elapsed() >= YIELD_UNTIL {
            return false;
        }
    }
}

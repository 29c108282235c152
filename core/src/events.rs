//! Network event records (SPEC section 8) and the signalling trait behind them.

use crate::consts::FD_MAX_EVENTS;
use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

/// An event object the engine signals when a selected network event is recorded.
///
/// capi maps it to an eventfd or to the switch's `WPUSetEvent` / `WPUResetEvent` upcalls;
/// Python wraps an eventfd. The engine never calls it while holding a lock, and a panic in it
/// is contained (treated like a `SetEvent` that failed): the engine's state is already complete.
pub trait Signal: Send + Sync {
    /// Set the event object (`SetEvent` / `WPUSetEvent`).
    fn set(&self);
    /// Reset the event object (`ResetEvent` / `WPUResetEvent`).
    fn reset(&self);
}

/// A shared event object as stored by an event selection.
pub type EventHandle = Arc<dyn Signal>;

/// Run a user callback (a [`Signal`], a hook) so that a panic in it cannot unwind through the
/// engine's bookkeeping: the panic is contained here. A signal that panics is treated like a
/// `SetEvent` that failed; the engine's state is already complete when it runs.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok()
}

/// Set an event object, containing a panic. On a fabric's I/O thread the set is handed to the
/// relay thread instead: a [`Signal`] may be the switch's `WPUSetEvent` upcall, and the I/O
/// thread never runs user code (a slow upcall must not stall every peer's traffic).
pub(crate) fn fire_set(h: &EventHandle) {
    if RELAYED.with(Cell::get) {
        relay(h.clone());
    } else {
        contain(|| h.set());
    }
}

thread_local! {
    /// Whether this thread hands its event sets to the relay (a fabric's I/O thread).
    static RELAYED: Cell<bool> = const { Cell::new(false) };
}

/// Mark the calling thread as one that never runs user code: its event sets go to the relay.
pub(crate) fn relay_from_this_thread() {
    RELAYED.with(|r| r.set(true));
}

/// One thread per process sets the event objects the I/O threads recorded, in order.
fn relay(h: EventHandle) {
    static RELAY: Mutex<Option<mpsc::Sender<EventHandle>>> = Mutex::new(None);
    let mut tx = RELAY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(t) = tx.as_ref() {
        match t.send(h) {
            Ok(()) => return,
            Err(mpsc::SendError(back)) => {
                *tx = None; // the relay thread is gone: start another
                return relay_with(&mut tx, back);
            }
        }
    }
    relay_with(&mut tx, h);
}

fn relay_with(tx: &mut Option<mpsc::Sender<EventHandle>>, h: EventHandle) {
    let (t, rx) = mpsc::channel::<EventHandle>();
    let spawned = std::thread::Builder::new().name("wspsan-signal".into()).spawn(move || {
        for h in rx {
            contain(|| h.set());
        }
    });
    if spawned.is_err() {
        contain(|| h.set()); // no thread to be had: set it here rather than lose it
        return;
    }
    let _ = t.send(h);
    *tx = Some(t);
}

/// Reset an event object, containing a panic.
pub(crate) fn fire_reset(h: &EventHandle) {
    contain(|| h.reset());
}

/// What `WSPEnumNetworkEvents` returns: the recorded events and their error codes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkEvents {
    /// The `FD_*` bits reported.
    pub events: u32,
    /// `iErrorCode[i]`, meaningful only for the bits set in `events` (0 elsewhere).
    pub error_codes: [i32; FD_MAX_EVENTS],
}

impl NetworkEvents {
    /// The error recorded for event bit index `bit` (`FD_CONNECT_BIT`, ...), if reported.
    pub fn error(&self, bit: usize) -> Option<i32> {
        (bit < FD_MAX_EVENTS && self.events & (1 << bit) != 0).then(|| self.error_codes[bit])
    }

    /// Whether any of the `FD_*` bits in `mask` were reported.
    pub fn contains(&self, mask: u32) -> bool {
        self.events & mask != 0
    }
}

impl fmt::Debug for NetworkEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for bit in 0..FD_MAX_EVENTS {
            if let Some(code) = self.error(bit) {
                m.entry(&event_name(bit), &code);
            }
        }
        m.finish()
    }
}

fn event_name(bit: usize) -> &'static str {
    const NAMES: [&str; FD_MAX_EVENTS] = [
        "FD_READ",
        "FD_WRITE",
        "FD_OOB",
        "FD_ACCEPT",
        "FD_CONNECT",
        "FD_CLOSE",
        "FD_QOS",
        "FD_GROUP_QOS",
        "FD_ROUTING_INTERFACE_CHANGE",
        "FD_ADDRESS_LIST_CHANGE",
    ];
    NAMES[bit]
}

/// Per-socket event state: the selection and the internal network event record.
#[derive(Default)]
pub(crate) struct EventRecord {
    pub(crate) mask: u32,
    pub(crate) handle: Option<EventHandle>,
    recorded: NetworkEvents,
}

impl EventRecord {
    /// Record `bit` with `code`; returns the handle to signal when the event is selected.
    /// A bit already recorded keeps its first code and is not signalled twice.
    #[must_use]
    pub(crate) fn record(&mut self, bit: usize, code: i32) -> Option<EventHandle> {
        let flag = 1u32 << bit;
        if self.recorded.events & flag != 0 {
            return None;
        }
        self.recorded.events |= flag;
        self.recorded.error_codes[bit] = code;
        self.signal_for(flag)
    }

    /// Record `bit` with code 0 and signal it when selected, even if it was already recorded
    /// (E2: the level-triggered FD_ACCEPT after an accept whose E3 reset cleared the event object).
    #[must_use]
    pub(crate) fn record_again(&mut self, bit: usize) -> Option<EventHandle> {
        self.recorded.events |= 1 << bit;
        self.recorded.error_codes[bit] = 0;
        self.signal_for(1 << bit)
    }

    /// Forget a recorded bit (FD_ACCEPT once the queue is empty).
    pub(crate) fn clear(&mut self, flag: u32) {
        self.recorded.events &= !flag;
    }

    /// The code recorded for event bit index `bit`, if it is recorded.
    pub(crate) fn code(&self, bit: usize) -> Option<i32> {
        self.recorded.error(bit)
    }

    /// The handle to signal if `flag` is selected.
    pub(crate) fn signal_for(&self, flag: u32) -> Option<EventHandle> {
        if self.mask & flag != 0 { self.handle.clone() } else { None }
    }

    /// SPEC E1: install a selection; signal at once if a selected event is already recorded.
    #[must_use]
    pub(crate) fn select(&mut self, handle: Option<EventHandle>, mask: u32) -> Option<EventHandle> {
        self.mask = mask;
        self.handle = handle;
        if self.recorded.events & mask != 0 { self.handle.clone() } else { None }
    }

    /// The handle to set when a selected event is recorded (after a reset raced with it).
    pub(crate) fn pending_signal(&self) -> Option<EventHandle> {
        if self.recorded.events & self.mask != 0 { self.handle.clone() } else { None }
    }

    /// SPEC E4: take the recorded events that are in the current selection, leaving nothing to
    /// report twice; events outside it stay recorded until a selection includes them (E5).
    pub(crate) fn take(&mut self) -> NetworkEvents {
        let reported = self.recorded.events & self.mask;
        let mut taken = NetworkEvents::default();
        for bit in 0..FD_MAX_EVENTS {
            if reported & (1 << bit) != 0 {
                taken.error_codes[bit] = std::mem::take(&mut self.recorded.error_codes[bit]);
            }
        }
        taken.events = reported;
        self.recorded.events &= !reported;
        taken
    }

    pub(crate) fn selected(&self) -> bool {
        self.mask != 0
    }
}

//! `wspsan.Event`: an event object on an eventfd (SPEC section 8), so `selectors`, `select` and
//! asyncio's `add_reader` can wait for FD_ACCEPT / FD_CONNECT.

use pyo3::prelude::*;
use std::sync::Arc;
use wspsan::eventfd::EventFd;
use wspsan_core::EventHandle;

/// An event object: an eventfd that the provider sets when a selected network event is
/// recorded. `fileno()` is readable exactly while the event is set.
#[pyclass(frozen, module = "wspsan")]
pub(crate) struct Event(Arc<EventFd>);

impl Event {
    /// The handle the engine signals.
    pub(crate) fn handle(&self) -> EventHandle {
        self.0.clone()
    }

    /// The eventfd.
    pub(crate) fn fd(&self) -> i32 {
        self.0.fd()
    }
}

#[pymethods]
impl Event {
    #[new]
    fn new() -> PyResult<Event> {
        Ok(Event(Arc::new(EventFd::new()?)))
    }

    /// The eventfd, for `selectors`, `select.poll` or `loop.add_reader`. It stays open while the
    /// event object or a socket's event selection holds it.
    fn fileno(&self) -> i32 {
        self.0.fd()
    }

    /// Set the event (`WSASetEvent`).
    fn set(&self) {
        wspsan_core::Signal::set(&*self.0);
    }

    /// Reset the event (`WSAResetEvent`).
    fn reset(&self) {
        wspsan_core::Signal::reset(&*self.0);
    }

    /// Whether the event is set now.
    fn is_set(&self) -> bool {
        self.0.is_set()
    }

    fn __repr__(&self) -> String {
        let state = if self.0.is_set() { "set" } else { "reset" };
        format!("<wspsan.Event fd={} {state}>", self.0.fd())
    }
}

//! `wspsan.Event`: an event object on an eventfd (SPEC section 8), so `selectors`, `select` and
//! asyncio's `add_reader` can wait for FD_ACCEPT / FD_CONNECT.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use wspsan::eventfd::EventFd;
use wspsan_core::EventHandle;

/// An event object: an eventfd that the provider sets when a selected network event is
/// recorded. `fileno()` is readable exactly while the event is set.
#[pyclass(frozen, module = "wspsan")]
pub(crate) struct Event(Mutex<Option<Arc<EventFd>>>);

impl Event {
    fn slot(&self) -> MutexGuard<'_, Option<Arc<EventFd>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The eventfd, or ValueError once the event object is closed (as a closed file's).
    fn open(&self) -> PyResult<Arc<EventFd>> {
        self.slot().clone().ok_or_else(|| PyValueError::new_err("the wspsan.Event is closed"))
    }

    /// The handle the engine signals.
    pub(crate) fn handle(&self) -> PyResult<EventHandle> {
        Ok(self.open()?)
    }

    /// The eventfd.
    pub(crate) fn fd(&self) -> PyResult<i32> {
        Ok(self.open()?.fd())
    }
}

#[pymethods]
impl Event {
    #[new]
    fn new() -> PyResult<Event> {
        Ok(Event(Mutex::new(Some(Arc::new(EventFd::new()?)))))
    }

    /// The eventfd, for `selectors`, `select.poll` or `loop.add_reader`. It stays open while the
    /// event object or a socket's event selection holds it. Closed: ValueError.
    fn fileno(&self) -> PyResult<i32> {
        self.fd()
    }

    /// Set the event (`WSASetEvent`).
    fn set(&self) -> PyResult<()> {
        wspsan_core::Signal::set(&*self.open()?);
        Ok(())
    }

    /// Reset the event (`WSAResetEvent`).
    fn reset(&self) -> PyResult<()> {
        wspsan_core::Signal::reset(&*self.open()?);
        Ok(())
    }

    /// Whether the event is set now.
    fn is_set(&self) -> PyResult<bool> {
        Ok(self.open()?.is_set())
    }

    /// Let go of the eventfd (`WSACloseEvent`); afterwards every method but `close` raises
    /// ValueError. The eventfd is closed at once unless a socket's event selection still holds
    /// it (the provider keeps signalling it until the selection ends). Closing twice is harmless.
    fn close(&self) {
        let fd = self.slot().take();
        drop(fd);
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.slot().is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, _ty: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) {
        self.close();
    }

    fn __repr__(&self) -> String {
        match &*self.slot() {
            Some(e) => format!("<wspsan.Event fd={} {}>", e.fd(), if e.is_set() { "set" } else { "reset" }),
            None => "<wspsan.Event [closed]>".to_owned(),
        }
    }
}

//! Blocking calls: the GIL is released for the wait and taken back only to run Python code
//! (signal handlers, condition functions).

use pyo3::prelude::*;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use wspsan_core::Wait;

/// The first Python exception raised while the GIL was released (a signal handler's
/// `KeyboardInterrupt`, a condition function's error); it wins over the Winsock error the
/// engine returns for the abandoned call.
#[derive(Default)]
pub(crate) struct Raised(Mutex<Option<PyErr>>);

impl Raised {
    pub(crate) fn store(&self, e: PyErr) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(e);
    }

    pub(crate) fn take(self) -> Option<PyErr> {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Run `call` with the GIL released. The engine polls the interrupt hook about every 50 ms;
/// the hook runs pending signal handlers, and an exception from one abandons the wait.
pub(crate) fn blocking<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    call: impl for<'w> FnOnce(Wait<'w>, &Raised) -> T + Send,
) -> (T, Option<PyErr>) {
    let raised = Raised::default();
    let out = py.detach(|| {
        let mut interrupt = || {
            Python::attach(|py| match py.check_signals() {
                Ok(()) => false,
                Err(e) => {
                    raised.store(e);
                    true
                }
            })
        };
        call(Wait { timeout, interrupt: Some(&mut interrupt) }, &raised)
    });
    (out, raised.take())
}

/// What a blocking call returns: the engine's result and any Python exception raised meanwhile.
pub(crate) type Blocked<T, E> = (Result<T, E>, Option<PyErr>);

/// The outcome of a blocking call: a Python exception raised during it wins, then the
/// engine's result converted by `convert`.
pub(crate) fn finish<T, E, U>(
    (out, raised): Blocked<T, E>,
    convert: impl FnOnce(Result<T, E>) -> PyResult<U>,
) -> PyResult<U> {
    match raised {
        Some(e) => Err(e),
        None => convert(out),
    }
}

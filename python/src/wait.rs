//! Blocking calls: the GIL is released for the wait and taken back only to run Python code
//! (signal handlers, condition functions).

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wspsan_core::Wait;

/// The first Python exception raised while the GIL was released (a signal handler's
/// `KeyboardInterrupt`, a condition function's error); it wins over the Winsock error the
/// engine returns for the abandoned call (see [`finish`] for a call that succeeded).
#[derive(Default)]
pub(crate) struct Raised(Mutex<Option<PyErr>>);

impl Raised {
    pub(crate) fn store(&self, e: PyErr) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(e);
    }

    pub(crate) fn take(self) -> Option<PyErr> {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take the exception out of a `Raised` that is shared.
    fn take_shared(&self) -> Option<PyErr> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// The interruption hook of a wait: runs pending signal handlers (Python takes the GIL for
    /// that); an exception from one is kept and abandons the wait.
    fn check_signals(&self) -> bool {
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                self.store(e);
                true
            }
        })
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
        let mut interrupt = || raised.check_signals();
        call(Wait { timeout, interrupt: Some(&mut interrupt) }, &raised)
    });
    (out, raised.take())
}

/// Run a call into the C ABI (which takes no [`Wait`]) with the GIL released and the same
/// interruption hook as [`blocking`], installed for the thread (core's `with_interrupt`): a
/// blocking `WSPAccept` or `WSPConnect` polls it, and a signal handler's exception (Ctrl-C)
/// abandons the wait, which the C ABI reports as `WSAEINTR` (a connect is withdrawn).
pub(crate) fn blocking_c_abi<T: Send>(py: Python<'_>, call: impl FnOnce(&Raised) -> T + Send) -> (T, Option<PyErr>) {
    let raised = Arc::new(Raised::default());
    let out = py.detach(|| {
        let hook = {
            let raised = raised.clone();
            move || raised.check_signals()
        };
        wspsan_core::with_interrupt(hook, || call(&raised))
    });
    (out, raised.take_shared())
}

/// The outcome of a C ABI call made with [`blocking_c_abi`]: a Python exception raised meanwhile
/// wins over a call that `failed` (its return value only reports the abandoned call); a call
/// that succeeded keeps its result and the exception is delivered afterwards, as [`finish`]
/// does.
pub(crate) fn finish_c_abi<T>(value: T, failed: bool, raised: Option<PyErr>) -> PyResult<T> {
    match raised {
        Some(e) if failed => Err(e),
        Some(e) => {
            deliver_later(e);
            Ok(value)
        }
        None => Ok(value),
    }
}

/// What a blocking call returns: the engine's result and any Python exception raised meanwhile.
pub(crate) type Blocked<T, E> = (Result<T, E>, Option<PyErr>);

/// The outcome of a blocking call. A Python exception raised during a call that failed (an
/// abandoned wait, a condition function's error) wins over the engine's error. A call that
/// succeeded anyway (a connect answered while a signal handler raised) keeps its result: the
/// engine's state has moved on (the socket is connected, the listener counted the accept), so
/// dropping the result would leave Python out of step with it. The exception is then delivered
/// after the call returns, see [`deliver_later`].
pub(crate) fn finish<T, E, U>(
    (out, raised): Blocked<T, E>,
    convert: impl FnOnce(Result<T, E>) -> PyResult<U>,
) -> PyResult<U> {
    match (out, raised) {
        (Ok(v), Some(e)) => {
            let result = convert(Ok(v));
            deliver_later(e);
            result
        }
        (_, Some(e)) => Err(e),
        (out, None) => convert(out),
    }
}

/// Deliver an exception a signal handler raised during a call that succeeded: a
/// `KeyboardInterrupt` is re-armed with `PyErr_SetInterrupt`, so Python runs the SIGINT handler
/// again (raising it) at its next check, right after the call returns; any other exception
/// has nowhere to go and is reported to `sys.unraisablehook`.
fn deliver_later(e: PyErr) {
    Python::attach(|py| {
        if e.is_instance_of::<PyKeyboardInterrupt>(py) {
            // SAFETY: a plain call with the GIL held.
            unsafe { pyo3::ffi::PyErr_SetInterrupt() };
        } else {
            e.write_unraisable(py, None);
        }
    });
}

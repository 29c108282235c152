//! `WSAError(OSError)` and one subclass per Winsock code, built at import from core's table of
//! codes, so a code the engine knows always has its class.

use pyo3::exceptions::{
    PyBlockingIOError, PyConnectionAbortedError, PyConnectionRefusedError, PyConnectionResetError, PyInterruptedError,
    PyOSError, PyPermissionError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use wspsan_core::{AcceptError, WsaError};

struct Classes {
    base: Py<PyType>,
    by_code: HashMap<i32, Py<PyType>>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// The builtin a code's class also derives from, so `except ConnectionRefusedError` works:
/// the one CPython picks on Windows for the same WSAE code (10013 is `EACCES`, so
/// `PermissionError`).
fn builtin_base(py: Python<'_>, e: WsaError) -> Option<Bound<'_, PyType>> {
    Some(match e {
        WsaError::Acces => py.get_type::<PyPermissionError>(),
        WsaError::ConnRefused => py.get_type::<PyConnectionRefusedError>(),
        WsaError::WouldBlock => py.get_type::<PyBlockingIOError>(),
        WsaError::ConnReset => py.get_type::<PyConnectionResetError>(),
        WsaError::ConnAborted => py.get_type::<PyConnectionAbortedError>(),
        WsaError::TimedOut => py.get_type::<PyTimeoutError>(),
        WsaError::Intr => py.get_type::<PyInterruptedError>(),
        _ => return None,
    })
}

/// The Python class name of a code: what the code means, in words, plus `Error`
/// (`WSAEMFILE` -> `TooManySocketsError`). Never a builtin's name (`ConnectionRefusedError`),
/// so `from wspsan import *` shadows nothing; the class derives from that builtin instead.
pub(crate) fn class_name(e: WsaError) -> Cow<'static, str> {
    Cow::Borrowed(match e {
        WsaError::Intr => "CallInterruptedError",
        WsaError::Acces => "AccessDeniedError",
        WsaError::Fault => "InvalidPointerError",
        WsaError::Inval => "InvalidArgumentError",
        WsaError::MFile => "TooManySocketsError",
        WsaError::WouldBlock => "WouldBlockError",
        WsaError::InProgress => "OperationInProgressError",
        WsaError::Already => "AlreadyConnectingError",
        WsaError::NotSock => "NotASocketError",
        WsaError::Prototype => "WrongProtocolTypeError",
        WsaError::NoProtoOpt => "OptionNotSupportedError",
        WsaError::ProtoNoSupport => "ProtocolNotSupportedError",
        WsaError::SocktNoSupport => "SocketTypeNotSupportedError",
        WsaError::OpNotSupp => "OperationNotSupportedError",
        WsaError::AfNoSupport => "AddressFamilyNotSupportedError",
        WsaError::AddrInUse => "AddressInUseError",
        WsaError::AddrNotAvail => "AddressNotAvailableError",
        WsaError::NetDown => "NetworkDownError",
        WsaError::ConnAborted => "ConnectAbortedError",
        WsaError::ConnReset => "ConnectResetError",
        WsaError::NoBufs => "NoBufferSpaceError",
        WsaError::IsConn => "AlreadyConnectedError",
        WsaError::NotConn => "NotConnectedError",
        WsaError::TimedOut => "TimedOutError",
        WsaError::ConnRefused => "ConnectRefusedError",
        WsaError::HostUnreach => "HostUnreachableError",
        WsaError::VerNotSupported => "VersionNotSupportedError",
        WsaError::NotInitialised => "NotInitializedError",
        WsaError::TryAgain => "RequestDeferredError",
        // A code core learns later keeps a class, named after core's variant, until it gets a
        // name here (the test below fails meanwhile).
        _ => return Cow::Owned(format!("{e:?}Error")),
    })
}

/// `WSAError.winerror`: the Winsock code, the same number as `errno`.
#[pyfunction]
fn winerror<'py>(exc: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    exc.getattr("errno")
}

fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Bound<'py, PyTuple>,
    doc: &str,
    extra: &[(&str, Bound<'py, PyAny>)],
) -> PyResult<Bound<'py, PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "wspsan")?;
    ns.set_item("__doc__", doc)?;
    for (k, v) in extra {
        ns.set_item(*k, v)?;
    }
    let class = py.get_type::<PyType>().call1((name, bases, ns))?;
    Ok(class.cast_into::<PyType>()?)
}

/// Build the classes and add them to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes = CLASSES.get_or_try_init(py, || -> PyResult<Classes> {
        let property = py.import("builtins")?.getattr("property")?.call1((wrap_pyfunction!(winerror, py)?,))?;
        let base = new_class(
            py,
            "WSAError",
            PyTuple::new(py, [py.get_type::<PyOSError>()])?,
            "A Winsock error. `errno` and `winerror` hold the WSAE code, `strerror` its name and a \
             sentence; `address` is the connector's address when a failed accept examined a request \
             (SPEC A13), else None.",
            &[("winerror", property), ("address", py.None().into_bound(py))],
        )?;
        let mut by_code = HashMap::new();
        for &e in WsaError::ALL {
            let mut bases = vec![base.clone()];
            bases.extend(builtin_base(py, e));
            let doc = format!("{} ({}): {}", e.name(), e.code(), e.message());
            let class = new_class(py, &class_name(e), PyTuple::new(py, bases)?, &doc, &[])?;
            by_code.insert(e.code(), class.unbind());
        }
        Ok(Classes { base: base.unbind(), by_code })
    })?;
    m.add("WSAError", classes.base.bind(py))?;
    for &e in WsaError::ALL {
        m.add(&*class_name(e), classes.by_code[&e.code()].bind(py))?;
    }
    Ok(())
}

/// The exception for a Winsock error, with `address` set when an accept examined a request.
pub(crate) fn to_pyerr(e: WsaError, address: Option<SocketAddrV4>) -> PyErr {
    to_pyerr_with(e, address, None)
}

/// The exception for a Winsock error whose message also says what was wrong (`detail`).
pub(crate) fn to_pyerr_detail(e: WsaError, detail: &str) -> PyErr {
    to_pyerr_with(e, None, Some(detail))
}

/// The exception for a Winsock error: `address` as in [`to_pyerr`], `detail` (if any) appended
/// to the message in parentheses.
pub(crate) fn to_pyerr_with(e: WsaError, address: Option<SocketAddrV4>, detail: Option<&str>) -> PyErr {
    Python::attach(|py| {
        let make = || -> PyResult<PyErr> {
            let classes = CLASSES.get(py).expect("the module registers its exception classes at import");
            let class = classes.by_code.get(&e.code()).unwrap_or(&classes.base).bind(py);
            let message = match detail {
                Some(d) => format!("{}: {} ({d})", e.name(), e.message()),
                None => format!("{}: {}", e.name(), e.message()),
            };
            let exc = class.call1((e.code(), message))?;
            if let Some(a) = address {
                exc.setattr("address", crate::address::to_tuple(a))?;
            }
            Ok(PyErr::from_value(exc))
        };
        make().unwrap_or_else(|err| err)
    })
}

/// `_wspsan._error(code)`: the exception a call failing with WSAE `code` raises (for
/// `wspsan.aio`, which learns a connect's outcome as an FD_CONNECT error code). An unknown code
/// is a ValueError.
#[pyfunction]
#[pyo3(name = "_error")]
pub(crate) fn error_for(py: Python<'_>, code: i32) -> PyResult<Py<PyAny>> {
    let e = WsaError::from_code(code).ok_or_else(|| PyValueError::new_err(format!("{code} is no WSAE code")))?;
    Ok(to_pyerr(e, None).into_value(py).into_any())
}

/// `?`-friendly conversion of engine results into Python exceptions.
pub(crate) trait OrRaise<T> {
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, WsaError> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(|e| to_pyerr(e, None))
    }
}

impl<T> OrRaise<T> for Result<T, AcceptError> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(|e| to_pyerr(e.error, e.examined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_python_name() {
        let mut seen = std::collections::HashSet::new();
        for &e in WsaError::ALL {
            let name = class_name(e);
            assert!(matches!(name, Cow::Borrowed(_)), "{} has no Python name in class_name", e.name());
            assert!(name.ends_with("Error") && seen.insert(name.clone()), "{name} twice");
        }
    }
}

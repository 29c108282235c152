//! Arguments from Python: `(host, port)` tuples, IPv4 text, timeouts in seconds.

use crate::errors::to_pyerr;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use wspsan_core::WsaError;

/// An IPv4 address from text; `""` is the wildcard, as in the `socket` module. An IPv6 address
/// is a family the provider does not support.
pub(crate) fn parse_ip(host: &str) -> PyResult<Ipv4Addr> {
    if host.is_empty() {
        return Ok(Ipv4Addr::UNSPECIFIED);
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => Ok(ip),
        Ok(IpAddr::V6(_)) => Err(to_pyerr(WsaError::AfNoSupport, None)),
        Err(_) => Err(PyValueError::new_err(format!("{host:?} is not an IPv4 address"))),
    }
}

/// `(host, port)` to an address.
pub(crate) fn parse(address: &Bound<'_, PyAny>) -> PyResult<SocketAddrV4> {
    let tuple = address
        .cast::<PyTuple>()
        .ok()
        .filter(|t| t.len() == 2)
        .ok_or_else(|| PyTypeError::new_err("an address is a (host, port) tuple"))?;
    let host: String = tuple.get_item(0)?.extract()?;
    let port: i64 = tuple.get_item(1)?.extract()?;
    let port = u16::try_from(port).map_err(|_| PyOverflowError::new_err("port must be 0-65535"))?;
    Ok(SocketAddrV4::new(parse_ip(&host)?, port))
}

/// A timeout in seconds (`None`: wait for ever).
pub(crate) fn timeout(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    seconds
        .map(|s| {
            Duration::try_from_secs_f64(s).map_err(|_| PyValueError::new_err("timeout must be a non-negative number"))
        })
        .transpose()
}

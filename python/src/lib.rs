//! `wspsan._wspsan`: the native part of the `wspsan` Python package. It translates between
//! Python and the engine (wspsan-core); every Winsock rule lives in the engine.

mod address;
mod args;
mod condition;
mod errors;
mod event;
mod faults;
mod provider;
mod records;
mod socket;
mod wait;
mod wsp;

use pyo3::prelude::*;
use wspsan_core::{WsaError, consts};

/// `SOMAXCONN_HINT(b)`: a backlog of `b` clamped into 200..65535 (SPEC L5).
#[pyfunction]
#[pyo3(name = "SOMAXCONN_HINT")]
fn somaxconn_hint(b: i32) -> i32 {
    consts::somaxconn_hint(b)
}

/// The constants of SPEC section 1 with their Windows values, plus every WSAE code.
fn add_constants(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for &e in WsaError::ALL {
        m.add(e.name(), e.code())?;
    }
    macro_rules! add {
        ($($name:ident),* $(,)?) => { $(m.add(stringify!($name), consts::$name)?;)* };
    }
    add!(AF_INET, SOCK_STREAM, IPPROTO_TCP, SOMAXCONN, CF_ACCEPT, CF_REJECT, CF_DEFER);
    add!(FD_READ, FD_WRITE, FD_OOB, FD_ACCEPT, FD_CONNECT, FD_CLOSE, FD_ALL_EVENTS, FD_MAX_EVENTS);
    add!(FD_READ_BIT, FD_WRITE_BIT, FD_OOB_BIT, FD_ACCEPT_BIT, FD_CONNECT_BIT, FD_CLOSE_BIT);
    add!(SOL_SOCKET, SO_ACCEPTCONN, SO_SNDBUF, SO_RCVBUF, SO_ERROR, SO_TYPE, SO_CONNDATA, SO_CONNDATALEN);
    add!(FIONBIO, SIO_ADDRESS_LIST_QUERY);
    m.add("SOCKET_ERROR", -1)?;
    m.add("INVALID_SOCKET", u64::MAX)?;
    Ok(())
}

#[pymodule]
#[pyo3(name = "_wspsan")]
fn wspsan_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    add_constants(m)?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(somaxconn_hint, m)?)?;
    // Private (for wspsan.aio): set as an attribute, so it stays out of `__all__` and of
    // `from wspsan import *`.
    m.setattr("_error", wrap_pyfunction!(errors::error_for, m)?)?;
    m.add_class::<provider::Provider>()?;
    m.add_class::<provider::Fabric>()?;
    m.add_class::<faults::FaultInjector>()?;
    m.add_class::<faults::FaultStats>()?;
    m.add_class::<provider::Device>()?;
    m.add_class::<records::Limits>()?;
    m.add_class::<records::DeviceStats>()?;
    m.add_class::<records::ListenerStats>()?;
    m.add_class::<socket::Socket>()?;
    m.add_class::<socket::NetworkEvents>()?;
    m.add_class::<condition::ConditionRequest>()?;
    m.add_class::<condition::Qos>()?;
    m.add_class::<condition::FlowSpec>()?;
    m.add_class::<event::Event>()?;
    wsp::register(m)?;
    Ok(())
}

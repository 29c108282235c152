//! `wspsan.Socket`: one descriptor of a provider, with the `socket`-module look.

use crate::address::{repr, to_tuple};
use crate::args::{parse, timeout};
use crate::condition::{self, Qos};
use crate::errors::{OrRaise, to_pyerr_with};
use crate::event::Event;
use crate::records::ListenerStats;
use crate::wait::{Blocked, blocking, finish};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::{Mutex, MutexGuard, PoisonError};
use wspsan_core::consts::FD_MAX_EVENTS;
use wspsan_core::{ConnectParams, Descriptor, Provider, SockOpt, WsaError};

/// A socket of a `wspsan.Provider`. Sockets start blocking; every blocking call releases the
/// GIL and lets signal handlers (Ctrl-C) run. Closed when closed explicitly, at the end of a
/// `with` block, or when garbage-collected.
#[pyclass(frozen, module = "wspsan")]
pub(crate) struct Socket {
    provider: Provider,
    fd: Descriptor,
    /// Whether the descriptor is still ours to close. Held for the whole of a close, so that
    /// concurrent closes see one outcome: the first closes (or fails and leaves it open), the
    /// others then find it closed or try again.
    open: Mutex<bool>,
}

impl Socket {
    pub(crate) fn new(provider: Provider, fd: Descriptor) -> Socket {
        Socket { provider, fd, open: Mutex::new(true) }
    }

    fn open(&self) -> MutexGuard<'_, bool> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn do_connect(
        &self,
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        caller_data: Option<Vec<u8>>,
        qos: Option<&Qos>,
        timeout_s: Option<f64>,
    ) -> PyResult<Blocked<Vec<u8>, WsaError>> {
        let (addr, wait_for) = (parse(address)?, timeout(timeout_s)?);
        let qos = qos.map(|q| q.0.clone());
        let (p, fd) = (&self.provider, self.fd);
        Ok(blocking(py, wait_for, |wait, _| {
            let params = ConnectParams { caller_data: caller_data.as_deref(), qos: qos.as_ref() };
            p.connect_with(fd, addr, params, wait)
        }))
    }
}

impl Drop for Socket {
    /// Garbage collection cannot try again later: the socket is closed whatever the device
    /// state, also from inside a condition function (core's `discard`).
    fn drop(&mut self) {
        let open = self.open.get_mut().unwrap_or_else(PoisonError::into_inner);
        if std::mem::take(open) {
            let _ = self.provider.discard(self.fd);
        }
    }
}

#[pymethods]
impl Socket {
    /// Bind to `(host, port)` (`WSPBind`, SPEC B1, B2). Port 0 picks a free port.
    fn bind(&self, address: &Bound<'_, PyAny>) -> PyResult<()> {
        self.provider.bind(self.fd, parse(address)?).or_raise()
    }

    /// Listen (`WSPListen`, SPEC L1 to L9). Any backlog is legal: `SOMAXCONN`,
    /// `SOMAXCONN_HINT(n)`, 0, huge values are mapped as SPEC L5 says.
    fn listen(&self, backlog: i32) -> PyResult<()> {
        self.provider.listen(self.fd, backlog).or_raise()
    }

    /// Connect (`WSPConnect`, SPEC C1 to C7) and return the callee data the listener's
    /// condition function sent back. A blocking socket waits for the listener's answer (or
    /// `timeout` seconds: TimedOutError); a non-blocking one raises WouldBlockError and the
    /// answer arrives as FD_CONNECT.
    #[pyo3(signature = (address, caller_data=None, qos=None, timeout=None))]
    fn connect<'py>(
        &self,
        py: Python<'py>,
        address: &Bound<'_, PyAny>,
        caller_data: Option<Vec<u8>>,
        qos: Option<PyRef<'_, Qos>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let out = self.do_connect(py, address, caller_data, qos.as_deref(), timeout)?;
        let data = finish(out, OrRaise::or_raise)?;
        Ok(PyBytes::new(py, &data))
    }

    /// Like `connect`, but returns 0 or the WSAE code instead of raising a WSAError.
    #[pyo3(signature = (address, caller_data=None, qos=None, timeout=None))]
    fn connect_ex(
        &self,
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        caller_data: Option<Vec<u8>>,
        qos: Option<PyRef<'_, Qos>>,
        timeout: Option<f64>,
    ) -> PyResult<i32> {
        let out = self.do_connect(py, address, caller_data, qos.as_deref(), timeout)?;
        finish(out, |r| Ok(r.map_or_else(WsaError::code, |_| 0)))
    }

    /// Accept (`WSPAccept`, SPEC A1 to A15): returns `(socket, (host, port))`.
    ///
    /// `condition(request)` decides: `CF_ACCEPT`, `CF_REJECT` (ConnectRefusedError) or
    /// `CF_DEFER` (RequestDeferredError, the request stays first); anything else (`True`,
    /// `None`, 3, ...) is an invalid answer: InvalidArgumentError whose message says what the
    /// function returned, and the request is refused (SPEC A10). An exception raised by the
    /// condition is no answer: it propagates, the accept is abandoned and the request stays at
    /// the head of the queue (not counted as deferred; FD_ACCEPT is recorded again, so an event
    /// loop retries), the same through `wspsan.wsp.WSPAccept`. A failed accept that examined a
    /// request sets the exception's `address` to the connector's address.
    #[pyo3(signature = (condition=None, callback_data=None, timeout=None))]
    fn accept<'py>(
        &self,
        py: Python<'py>,
        condition: Option<Py<PyAny>>,
        callback_data: Option<Py<PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<(Socket, (String, u16))> {
        let wait_for = crate::args::timeout(timeout)?;
        let callback_data = callback_data.unwrap_or_else(|| py.None());
        let (p, fd) = (&self.provider, self.fd);
        let invalid = Mutex::new(None);
        let out = blocking(py, wait_for, |wait, raised| match &condition {
            Some(f) => {
                let mut run = |req: &mut wspsan_core::ConditionRequest<'_>| {
                    condition::run(f, &callback_data, req, raised, &invalid)
                };
                p.accept_with(fd, Some(&mut run), wait)
            }
            None => p.accept_with(fd, None, wait),
        });
        let invalid = invalid.into_inner().unwrap_or_else(PoisonError::into_inner);
        let accepted = finish(out, |r| {
            r.map_err(|e| {
                // A10: say why the answer was invalid (not when the connector withdrew meanwhile,
                // A12: then the error is WSAEACCES and the answer did not matter).
                let detail = invalid.as_deref().filter(|_| e.error == WsaError::Inval);
                to_pyerr_with(e.error, e.examined, detail)
            })
        })?;
        Ok((Socket::new(self.provider.clone(), accepted.socket), to_tuple(accepted.peer)))
    }

    /// Blocking (True) or non-blocking (False) mode (`FIONBIO`, SPEC E6).
    fn setblocking(&self, flag: bool) -> PyResult<()> {
        self.provider.set_nonblocking(self.fd, !flag).or_raise()
    }

    /// Whether the socket is in blocking mode.
    fn getblocking(&self) -> PyResult<bool> {
        Ok(!self.provider.is_nonblocking(self.fd).or_raise()?)
    }

    /// The local `(host, port)` (`WSPGetSockName`; not bound: InvalidArgumentError).
    fn getsockname(&self) -> PyResult<(String, u16)> {
        self.provider.sock_name(self.fd).map(to_tuple).or_raise()
    }

    /// The peer's `(host, port)` (`WSPGetPeerName`; not connected: NotConnectedError).
    fn getpeername(&self) -> PyResult<(String, u16)> {
        self.provider.peer_name(self.fd).map(to_tuple).or_raise()
    }

    /// Read an option (`WSPGetSockOpt`). Both numberings work: `SOL_SOCKET` (0xffff) with the
    /// Windows option numbers, the platform's `socket.SOL_SOCKET` with its own. After the checks
    /// every call makes (as in C), an unknown level raises InvalidArgumentError and an unknown option at a
    /// known level OptionNotSupportedError. `SO_ERROR` is the error of the last non-blocking connect
    /// attempt; reading it does not clear it, the next connect attempt that is queued does
    /// (SPEC C2).
    fn getsockopt(&self, level: i32, optname: i32) -> PyResult<i32> {
        self.provider.get_option_raw(self.fd, level, optname).or_raise()
    }

    /// Set an option (`WSPSetSockOpt`); read-only and unknown options raise OptionNotSupportedError, an
    /// unknown level InvalidArgumentError. Setting `SO_ERROR` stores the value, as on Windows (SPEC C2).
    fn setsockopt(&self, level: i32, optname: i32, value: i32) -> PyResult<()> {
        self.provider.set_option_raw(self.fd, level, optname, value).or_raise()
    }

    /// The callee data the socket's completed connect received (`SO_CONNDATA`).
    fn callee_data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.provider.callee_data(self.fd).or_raise()?))
    }

    /// Select network events (`WSPEventSelect`, SPEC E1): the socket becomes non-blocking and
    /// `event` is set whenever an event of `mask` is recorded, and at once if one is recorded
    /// already (also one recorded while it was not selected, SPEC E5). A mask of 0 cancels.
    fn event_select(&self, event: Option<PyRef<'_, Event>>, mask: u32) -> PyResult<()> {
        let handle = event.map(|e| e.handle()).transpose()?;
        self.provider.event_select(self.fd, handle, mask).or_raise()
    }

    /// Take the recorded network events that are in the current selection
    /// (`WSPEnumNetworkEvents`, SPEC E4), clearing them, and reset `event` if given. Events
    /// outside the selection stay recorded until a selection includes them (SPEC E5); with no
    /// selection (mask 0) nothing is reported.
    #[pyo3(signature = (event=None))]
    fn enum_network_events(&self, event: Option<PyRef<'_, Event>>) -> PyResult<NetworkEvents> {
        let handle = event.map(|e| e.handle()).transpose()?;
        let ev = self.provider.enum_network_events(self.fd, handle.as_ref()).or_raise()?;
        Ok(NetworkEvents { events: ev.events, error_codes: ev.error_codes })
    }

    /// Statistics of this listening socket (SPEC D3); not listening: InvalidArgumentError.
    fn stats(&self) -> PyResult<ListenerStats> {
        self.provider.listener_stats(self.fd).map(Into::into).or_raise()
    }

    /// Close (`WSPCloseSocket`, SPEC K1 to K3). Closing twice is harmless; any other use of a
    /// closed socket raises NotASocketError.
    ///
    /// A close that fails (device down, inside a condition function) leaves the socket open, to
    /// be closed again later; garbage collection closes it whatever the device state.
    fn close(&self) -> PyResult<()> {
        let mut open = self.open();
        if *open {
            match self.provider.close(self.fd) {
                // Closed already by its provider's close(): nothing left to do.
                Ok(()) | Err(WsaError::NotSock) => *open = false,
                Err(e) => return Err(to_pyerr_with(e, None, None)),
            }
        }
        Ok(())
    }

    /// The provider's descriptor (`SOCKET`, what `wspsan.wsp` calls `s`), also after close. It
    /// is no file descriptor of the OS, which is why a `Socket` has no `fileno()`: `selectors`
    /// and asyncio would wait on an unrelated fd. Wait on an `Event` (`event_select`) instead.
    #[getter]
    fn descriptor(&self) -> u64 {
        self.fd.raw()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, _ty: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) -> PyResult<()> {
        self.close()
    }

    fn __repr__(&self) -> String {
        if !*self.open() {
            return format!("<wspsan.Socket [closed] descriptor={}>", self.fd);
        }
        let p = &self.provider;
        let mut text = format!("<wspsan.Socket descriptor={}", self.fd);
        if let Ok(a) = p.sock_name(self.fd) {
            text += &format!(" laddr={}", repr(a));
        }
        if let Ok(a) = p.peer_name(self.fd) {
            text += &format!(" raddr={}", repr(a));
        }
        if p.get_option(self.fd, SockOpt::AcceptConn) == Ok(1) {
            text += " listening";
        }
        if p.is_nonblocking(self.fd) == Ok(true) {
            text += " non-blocking";
        }
        text + ">"
    }
}

/// What `enum_network_events` returns: the reported `FD_*` bits and their error codes.
#[pyclass(frozen, eq, module = "wspsan")]
#[derive(PartialEq)]
pub(crate) struct NetworkEvents {
    events: u32,
    error_codes: [i32; FD_MAX_EVENTS],
}

#[pymethods]
impl NetworkEvents {
    /// The reported `FD_*` flags (`lNetworkEvents`).
    #[getter]
    fn events(&self) -> u32 {
        self.events
    }

    /// `iErrorCode`: ten codes indexed by `FD_*_BIT`, meaningful only for reported events.
    #[getter]
    fn error_codes(&self) -> [i32; FD_MAX_EVENTS] {
        self.error_codes
    }

    /// The error code reported with event `flag` (`FD_CONNECT`, ...), or None if not reported.
    fn error(&self, flag: u32) -> PyResult<Option<i32>> {
        if !flag.is_power_of_two() || flag.trailing_zeros() as usize >= FD_MAX_EVENTS {
            return Err(PyValueError::new_err("flag must be one FD_* event"));
        }
        Ok((self.events & flag != 0).then(|| self.error_codes[flag.trailing_zeros() as usize]))
    }

    fn __contains__(&self, flag: u32) -> bool {
        self.events & flag != 0
    }

    fn __bool__(&self) -> bool {
        self.events != 0
    }

    fn __repr__(&self) -> String {
        let core = wspsan_core::NetworkEvents { events: self.events, error_codes: self.error_codes };
        format!("wspsan.NetworkEvents({core:?})").replace('"', "")
    }
}

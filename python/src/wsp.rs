#![allow(non_snake_case)] // the C names: wsp.WSPListen mirrors wspsan_WSPListen
//! `wspsan.wsp`: the C ABI called exactly as C calls it, on the process-wide provider that C
//! code in this process also uses (the `wspsan_*` exports of this very library).
//!
//! Every WSP function returns `(result, error)`: the C return value and `*lpErrno`, which starts
//! at 0 and so stays 0 unless the call failed (SPEC X3), followed by the output parameters.
//! `None` for an optional pointer argument passes NULL. As in C, a call checks the descriptor
//! first, then whether the socket's state allows it, and its pointer arguments last (SPEC X4).
//! Blocking calls (`WSPAccept`, `WSPConnect` on a blocking socket) release the GIL and let Ctrl-C
//! through as `Socket.accept` does: the engine polls the same signal check through the thread's
//! interruption hook (`wait::blocking_c_abi`), abandons the wait (a connect is withdrawn), and
//! the handler's KeyboardInterrupt is raised.

use crate::condition::{self, Request};
use crate::event::Event;
use crate::records::{DeviceStats, ListenerStats};
use crate::wait::{Raised, blocking_c_abi, finish_c_abi};
use core::ffi::c_int;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use std::any::Any;
use std::ffi::CStr;
use std::net::SocketAddrV4;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use wspsan::convert::{self, nullable};
use wspsan::types::*;
use wspsan::{WSPSAN_DEVICE_STATS, WSPSAN_FAULTS, WSPSAN_LIMITS, WSPSAN_LISTENER_STATS};
use wspsan_core::consts;

/// `(result, error)`.
type Outcome<T> = (T, c_int);

/// An address the C side wrote, as `(host, port)`, or None.
type Written = Option<(String, u16)>;

const SOCKADDR_IN_LEN: c_int = size_of::<libc::sockaddr_in>() as c_int;

/// A `WSAOVERLAPPED` in pointer-sized words (its size and alignment are those of its pointers).
const OVERLAPPED_WORDS: usize = size_of::<WSAOVERLAPPED>().div_ceil(size_of::<usize>());
const _: () = assert!(align_of::<WSAOVERLAPPED>() <= align_of::<usize>());

/// The largest `optlen` `WSPGetSockOpt` allocates a buffer for (16 MiB; no option is near it).
const MAX_OPTLEN: c_int = 1 << 24;

/// A `sockaddr_in` for `(host, port)` with the given family, inside a buffer large enough for
/// any `namelen` the C side might trust (it reads 16 bytes at most).
fn sockaddr_buffer(address: &Bound<'_, PyAny>, family: c_int) -> PyResult<libc::sockaddr_storage> {
    let tuple = address.cast::<PyTuple>().map_err(|_| PyTypeError::new_err("an address is a (host, port) tuple"))?;
    let host: String = tuple.get_item(0)?.extract()?;
    let port: u16 = tuple.get_item(1)?.extract()?;
    let mut sin = convert::sockaddr_in(SocketAddrV4::new(crate::args::parse_ip(&host)?, port));
    sin.sin_family = family as libc::sa_family_t;
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
    unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
    Ok(storage)
}

/// The address in a `sockaddr_in` the C side wrote, or None if it left the family at 0.
fn written_address(sin: &libc::sockaddr_in) -> Written {
    (c_int::from(sin.sin_family) == libc::AF_INET).then(|| crate::address::to_tuple(convert::socket_addr(sin)))
}

fn zeroed_sockaddr_in() -> libc::sockaddr_in {
    // SAFETY: all-zero bytes are a valid sockaddr_in (family 0: "not written").
    unsafe { std::mem::zeroed() }
}

/// A `WSAEVENT` value from Python: an `Event`, a raw handle value (an eventfd), or None (NULL).
/// The provider signals its own duplicate of an eventfd, so the `Event` need not outlive the
/// selection.
fn event_handle(event: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(event) = event else { return Ok(0) };
    if let Ok(e) = event.cast::<Event>() {
        return Ok(e.get().fd()? as usize);
    }
    event.extract().map_err(|_| PyTypeError::new_err("an event is a wspsan.Event, an int or None"))
}

/// NULL or a pointer to the address buffer.
fn sockaddr_ptr(storage: &Option<libc::sockaddr_storage>) -> *const libc::sockaddr {
    storage.as_ref().map_or(std::ptr::null(), |st| (st as *const libc::sockaddr_storage).cast())
}

/// The address in a WSABUF over a `sockaddr_in` (0.0.0.0:0 if it is shorter).
///
/// # Safety
/// `b` is NULL or a WSABUF over `len` readable bytes.
unsafe fn wsabuf_address(b: LPWSABUF) -> SocketAddrV4 {
    // SAFETY: as the caller promises.
    match unsafe { b.as_ref().and_then(|b| convert::wsabuf_slice(b)) } {
        Some(bytes) if bytes.len() >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: at least a sockaddr_in's bytes.
            convert::socket_addr(&unsafe { bytes.as_ptr().cast::<libc::sockaddr_in>().read_unaligned() })
        }
        _ => SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
    }
}

/// A panic's message, for the exception that reports it.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned())
}

/// Call a `wspsan_*` export with a fresh `lpErrno`, the GIL released: the C ABI may block, take
/// its own locks, or call back into Python (conditions, upcalls) from this or another thread.
macro_rules! c_abi {
    ($py:expr, $f:ident($($arg:expr),*)) => {
        $py.detach(|| {
            let mut err: c_int = 0;
            // SAFETY: every pointer argument is NULL or points at a live local of the caller for
            // the whole call, as the export's contract asks; lpErrno is valid.
            (unsafe { wspsan::$f($($arg,)* &mut err) }, err)
        })
    };
}

/// What `WSPAccept` hands the condition trampoline through `dwCallbackData`.
struct ConditionContext<'a> {
    condition: &'a Py<PyAny>,
    callback_data: DWORD_PTR,
    raised: &'a Raised,
    /// Why the callable's answer was invalid, in Python's terms (`returned True (bool)`), for
    /// the error detail `last_error_message` shows.
    invalid: std::cell::RefCell<Option<String>>,
}

/// The `LPCONDITIONPROC` behind `WSPAccept(condition=...)`: shows the C arguments to the Python
/// callable as a `ConditionRequest` and writes back `lpCalleeData` and `*g`. A Python exception
/// (or a panic here, which must not unwind into the C caller) gives no answer: the accept is
/// abandoned, as `Socket.accept` does (see [`abandoned`]), and the exception raised from
/// `WSPAccept`.
unsafe extern "C" fn condition_trampoline(
    lpCallerId: LPWSABUF,
    lpCallerData: LPWSABUF,
    lpSQOS: LPQOS,
    _lpGQOS: LPQOS,
    lpCalleeId: LPWSABUF,
    lpCalleeData: LPWSABUF,
    g: *mut GROUP,
    dwCallbackData: DWORD_PTR,
) -> c_int {
    // SAFETY: WSPAccept passes the context pointer it was given, alive for the whole call.
    let ctx = unsafe { &*(dwCallbackData as *const ConditionContext<'_>) };
    // SAFETY: the provider's arguments, valid during the call (SPEC A5).
    let run = || unsafe { run_condition(ctx, lpCallerId, lpCallerData, lpSQOS, lpCalleeId, lpCalleeData, g) };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        ctx.raised.store(PanicException::new_err(panic_message(&*payload)));
        abandoned()
    })
}

/// The answer of a condition whose Python callable raised: no answer at all. The engine is told
/// to disregard the returned value and abandon the accept (the request stays at the head, not
/// counted as deferred, FD_ACCEPT re-armed), as `Socket.accept` does for the same exception;
/// the value returned is then only a placeholder.
fn abandoned() -> c_int {
    wspsan_core::abandon_condition();
    consts::CF_DEFER
}

/// The body of [`condition_trampoline`].
///
/// # Safety
/// The provider's arguments, valid during the call (SPEC A5).
unsafe fn run_condition(
    ctx: &ConditionContext<'_>,
    lpCallerId: LPWSABUF,
    lpCallerData: LPWSABUF,
    lpSQOS: LPQOS,
    lpCalleeId: LPWSABUF,
    lpCalleeData: LPWSABUF,
    g: *mut GROUP,
) -> c_int {
    // SAFETY: as the caller promises.
    let callee_buf = unsafe { lpCalleeData.as_mut() };
    let req = Request {
        caller: unsafe { wsabuf_address(lpCallerId) },
        callee: unsafe { wsabuf_address(lpCalleeId) },
        caller_data: unsafe { lpCallerData.as_ref() }.map(|b| unsafe { convert::wsabuf_slice(b) }.unwrap_or_default()),
        qos: unsafe { lpSQOS.as_ref().and_then(|q| convert::qos_from_c(q)) },
        callee_data_capacity: callee_buf.as_ref().map_or(0, |b| b.len as usize),
    };
    Python::attach(|py| {
        let answer = ctx
            .callback_data
            .into_pyobject(py)
            .map_err(PyErr::from)
            .and_then(|data| condition::call(py, ctx.condition, data.into_any().unbind(), req));
        match answer {
            Ok(answer) => {
                if let Some(b) = callee_buf {
                    let n = answer.callee_data.len().min(b.len as usize);
                    if n > 0 && !b.buf.is_null() {
                        // SAFETY: the provider's buffer holds `len` bytes.
                        unsafe { std::ptr::copy_nonoverlapping(answer.callee_data.as_ptr(), b.buf.cast::<u8>(), n) };
                    }
                    b.len = n as ULONG;
                }
                if !g.is_null() {
                    // SAFETY: the provider's GROUP.
                    unsafe { g.write(answer.group) };
                }
                *ctx.invalid.borrow_mut() = condition::invalid_reason(&answer.value, answer.group);
                condition::decision(&answer.value).to_raw()
            }
            Err(e) => {
                ctx.raised.store(e);
                abandoned()
            }
        }
    })
}

fn upcall(
    name: &str,
    args: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyTuple>>,
) -> Result<Py<PyAny>, c_int> {
    Python::attach(|py| {
        // The upcalls object of the session in force: the C ABI's session keeps it, given by the
        // startup that began the session (`WSPStartup(upcalls=...)`), until its last cleanup.
        let target = wspsan::session_extra().and_then(|e| e.downcast::<Py<PyAny>>().ok());
        let Some(target) = target else { return Err(WSAEINVAL) };
        let result = args(py).and_then(|a| target.bind(py).call_method1(name, a));
        result.map(Bound::unbind).map_err(|e| {
            // A WSAError is the switch's answer; anything else is a bug worth seeing.
            match e.value(py).getattr("winerror").and_then(|w| w.extract::<c_int>()) {
                Ok(code) => code,
                Err(_) => {
                    e.write_unraisable(py, None);
                    WSAENOBUFS
                }
            }
        })
    })
}

/// Run an upcall's body so that nothing unwinds into the C caller: an error code is written to
/// `*lpErrno` and `failed` returned; a panic (reported to `sys.unraisablehook`) fails the
/// upcall with `WSAENETDOWN`.
fn upcall_guard<T>(lpErrno: LPINT, failed: T, body: impl FnOnce() -> Result<T, c_int>) -> T {
    let code = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => return v,
        Ok(Err(code)) => code,
        Err(payload) => {
            let message = panic_message(&*payload);
            let _ = catch_unwind(|| Python::attach(|py| PanicException::new_err(message).write_unraisable(py, None)));
            WSAENETDOWN
        }
    };
    if !lpErrno.is_null() {
        // SAFETY: the provider passes a valid lpErrno.
        unsafe { lpErrno.write(code) };
    }
    failed
}

unsafe extern "C" fn upcall_create_socket_handle(catalog: DWORD, context: DWORD_PTR, lpErrno: LPINT) -> SOCKET {
    upcall_guard(lpErrno, INVALID_SOCKET, || {
        let h = upcall("create_socket_handle", |py| PyTuple::new(py, [catalog as usize, context]))?;
        Python::attach(|py| h.extract::<SOCKET>(py).map_err(|_| WSAEINVAL))
    })
}

unsafe extern "C" fn upcall_close_socket_handle(s: SOCKET, lpErrno: LPINT) -> c_int {
    upcall_guard(lpErrno, SOCKET_ERROR, || upcall("close_socket_handle", |py| PyTuple::new(py, [s])).map(|_| 0))
}

unsafe extern "C" fn upcall_set_event(h: WSAEVENT, lpErrno: LPINT) -> BOOL {
    upcall_guard(lpErrno, WSPSAN_FALSE, || {
        upcall("set_event", |py| PyTuple::new(py, [h as usize])).map(|_| WSPSAN_TRUE)
    })
}

unsafe extern "C" fn upcall_reset_event(h: WSAEVENT, lpErrno: LPINT) -> BOOL {
    upcall_guard(lpErrno, WSPSAN_FALSE, || {
        upcall("reset_event", |py| PyTuple::new(py, [h as usize])).map(|_| WSPSAN_TRUE)
    })
}

fn has_method(upcalls: Option<&Bound<'_, PyAny>>, name: &str) -> bool {
    upcalls.is_some_and(|u| u.getattr(name).is_ok_and(|m| !m.is_none()))
}

/// The names of the non-NULL members of a procedure table, Windows order.
fn filled(t: &WSPPROC_TABLE) -> Vec<&'static str> {
    macro_rules! names {
        ($($m:ident),*) => { [$((stringify!($m), t.$m.is_some())),*] };
    }
    names!(
        lpWSPAccept,
        lpWSPAddressToString,
        lpWSPAsyncSelect,
        lpWSPBind,
        lpWSPCancelBlockingCall,
        lpWSPCleanup,
        lpWSPCloseSocket,
        lpWSPConnect,
        lpWSPDuplicateSocket,
        lpWSPEnumNetworkEvents,
        lpWSPEventSelect,
        lpWSPGetOverlappedResult,
        lpWSPGetPeerName,
        lpWSPGetSockName,
        lpWSPGetSockOpt,
        lpWSPGetQOSByName,
        lpWSPIoctl,
        lpWSPJoinLeaf,
        lpWSPListen,
        lpWSPRecv,
        lpWSPRecvDisconnect,
        lpWSPRecvFrom,
        lpWSPSelect,
        lpWSPSend,
        lpWSPSendDisconnect,
        lpWSPSendTo,
        lpWSPSetSockOpt,
        lpWSPShutdown,
        lpWSPSocket,
        lpWSPStringToAddress
    )
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// `WSPStartup(wVersionRequested, ...)`: returns `(result, info)`, `info` a dict of the
/// `WSPDATA` (`version`, `high_version`, `description`) and `proc_table`, the names of the
/// filled members, or None on failure. `upcalls`: an object whose methods
/// `create_socket_handle(catalog_entry, context) -> handle`, `close_socket_handle(handle)`,
/// `set_event(handle)`, `reset_event(handle)` become the upcall table's members (the missing
/// ones are NULL); raising a WSAError from one fails the upcall with its code. As in C, only the
/// startup that begins a session installs its upcalls; later ones keep the session's.
#[pyfunction]
#[pyo3(signature = (version=0x0202, upcalls=None))]
fn WSPStartup<'py>(
    py: Python<'py>,
    version: WORD,
    upcalls: Option<&Bound<'py, PyAny>>,
) -> PyResult<(c_int, Option<Bound<'py, PyDict>>)> {
    // SAFETY: all-zero bytes are valid for these plain C structs (NULL function pointers).
    let (mut data, mut table, mut table_in): (WSPDATA, WSPPROC_TABLE, WSPUPCALLTABLE) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed(), std::mem::zeroed()) };
    if upcalls.is_some() {
        if has_method(upcalls, "create_socket_handle") {
            table_in.lpWPUCreateSocketHandle = Some(upcall_create_socket_handle);
        }
        if has_method(upcalls, "close_socket_handle") {
            table_in.lpWPUCloseSocketHandle = Some(upcall_close_socket_handle);
        }
        if has_method(upcalls, "set_event") {
            table_in.lpWPUSetEvent = Some(upcall_set_event);
        }
        if has_method(upcalls, "reset_event") {
            table_in.lpWPUResetEvent = Some(upcall_reset_event);
        }
    }
    // Kept by the session if this call begins one; this reference is dropped with the GIL held,
    // so the session's is never the last one of an object the session did not keep.
    let mine: Option<wspsan::SessionExtra> = upcalls.map(|u| Arc::new(u.clone().unbind()) as wspsan::SessionExtra);
    let extra = mine.clone();
    let rc = py.detach(|| {
        // SAFETY: valid pointers to locals, NULL protocol info.
        unsafe { wspsan::startup_with(version, &mut data, std::ptr::null_mut(), table_in, &mut table, extra) }
    });
    drop(mine); // with the GIL held
    if rc != 0 {
        return Ok((rc, None));
    }
    let info = PyDict::new(py);
    info.set_item("version", data.wVersion)?;
    info.set_item("high_version", data.wHighVersion)?;
    let end = data.szDescription.iter().position(|&c| c == 0).unwrap_or(data.szDescription.len());
    info.set_item("description", String::from_utf16_lossy(&data.szDescription[..end]))?;
    info.set_item("proc_table", PyTuple::new(py, filled(&table))?)?;
    Ok((rc, Some(info)))
}

/// `WSPCleanup()`. The cleanup that ends the session forgets its upcalls object.
#[pyfunction]
fn WSPCleanup(py: Python<'_>) -> Outcome<c_int> {
    let (rc, err, ended) = py.detach(|| {
        let mut err: c_int = 0;
        // SAFETY: a valid lpErrno.
        let (rc, ended) = unsafe { wspsan::cleanup_with(&mut err) };
        (rc, err, ended)
    });
    drop(ended); // the ended session's upcalls object, with the GIL held
    (rc, err)
}

/// `WSPSocket(af, type, protocol, NULL, 0, flags)`: `(socket or INVALID_SOCKET, error)`.
#[pyfunction]
#[pyo3(signature = (af=consts::AF_INET, r#type=consts::SOCK_STREAM, protocol=0, flags=0),
       text_signature = "(af=2, type=1, protocol=0, flags=0)")]
fn WSPSocket(py: Python<'_>, af: c_int, r#type: c_int, protocol: c_int, flags: DWORD) -> Outcome<SOCKET> {
    c_abi!(py, wspsan_WSPSocket(af, r#type, protocol, std::ptr::null_mut(), 0, flags))
}

/// `WSPBind(s, &sockaddr_in, namelen)`; `address` None passes NULL.
#[pyfunction]
#[pyo3(signature = (s, address, namelen=SOCKADDR_IN_LEN, family=libc::AF_INET),
       text_signature = "(s, address, namelen=16, family=2)")]
fn WSPBind(
    py: Python<'_>,
    s: SOCKET,
    address: Option<&Bound<'_, PyAny>>,
    namelen: c_int,
    family: c_int,
) -> PyResult<Outcome<c_int>> {
    let storage = address.map(|a| sockaddr_buffer(a, family)).transpose()?;
    Ok(c_abi!(py, wspsan_WSPBind(s, sockaddr_ptr(&storage), namelen)))
}

/// `WSPListen(s, backlog)`.
#[pyfunction]
fn WSPListen(py: Python<'_>, s: SOCKET, backlog: c_int) -> Outcome<c_int> {
    c_abi!(py, wspsan_WSPListen(s, backlog))
}

/// `WSPConnect(s, &sockaddr_in, namelen, lpCallerData, lpCalleeData, lpSQOS, NULL)`:
/// `(result, error, callee_data)`. `caller_data` None passes NULL; `callee_len` is the size of
/// the callee-data buffer (None: NULL) and `callee_data` what the call left in it (`len` bytes).
#[pyfunction]
#[pyo3(signature = (s, address, caller_data=None, callee_len=None, qos=None, namelen=SOCKADDR_IN_LEN, family=libc::AF_INET),
       text_signature = "(s, address, caller_data=None, callee_len=None, qos=None, namelen=16, family=2)")]
#[allow(clippy::too_many_arguments)]
fn WSPConnect<'py>(
    py: Python<'py>,
    s: SOCKET,
    address: Option<&Bound<'_, PyAny>>,
    caller_data: Option<Vec<u8>>,
    callee_len: Option<ULONG>,
    qos: Option<PyRef<'_, crate::condition::Qos>>,
    namelen: c_int,
    family: c_int,
) -> PyResult<(c_int, c_int, Option<Bound<'py, PyBytes>>)> {
    let storage = address.map(|a| sockaddr_buffer(a, family)).transpose()?;
    let qos = qos.map(|q| q.0.clone());
    let ((rc, err, callee), raised) = blocking_c_abi(py, move |_| {
        let mut caller_data = caller_data;
        let mut qos = qos;
        let mut callee_bytes = callee_len.map(|n| vec![0u8; n as usize]);
        let mut caller_buf = caller_data.as_deref_mut().map(convert::wsabuf_over);
        let mut callee_buf = callee_bytes.as_deref_mut().map(convert::wsabuf_over);
        let mut qos_c = qos.as_mut().map(convert::qos_to_c);
        let mut err = 0;
        // SAFETY: NULL or live buffers for the whole call, a valid lpErrno.
        let rc = unsafe {
            wspsan::wspsan_WSPConnect(
                s,
                sockaddr_ptr(&storage),
                namelen,
                nullable(&mut caller_buf),
                nullable(&mut callee_buf),
                nullable(&mut qos_c),
                std::ptr::null_mut(),
                &mut err,
            )
        };
        let callee = callee_bytes.map(|mut d| {
            d.truncate(callee_buf.map_or(0, |b| b.len as usize));
            d
        });
        (rc, err, callee)
    });
    finish_c_abi((rc, err, callee.map(|d| PyBytes::new(py, &d))), rc != 0, raised)
}

/// `WSPAccept(s, addr, addrlen, lpfnCondition, dwCallbackData)`:
/// `(socket or INVALID_SOCKET, error, address, addrlen)`. `addr` False passes a NULL `addr`,
/// `addrlen` None a NULL `addrlen`; `address` is what the call wrote into `addr` (None if it
/// wrote nothing) and `addrlen` the value `*addrlen` holds afterwards. `condition(request)` is
/// called as the condition function with `request.callback_data` = `callback_data`; an
/// exception raised by it abandons the accept (the request stays first, not counted as
/// deferred, FD_ACCEPT recorded again) and is raised here. Ctrl-C abandons a blocked wait.
#[pyfunction]
#[pyo3(signature = (s, condition=None, callback_data=0, addr=true, addrlen=Some(SOCKADDR_IN_LEN)),
       text_signature = "(s, condition=None, callback_data=0, addr=True, addrlen=16)")]
fn WSPAccept(
    py: Python<'_>,
    s: SOCKET,
    condition: Option<Py<PyAny>>,
    callback_data: DWORD_PTR,
    addr: bool,
    addrlen: Option<c_int>,
) -> PyResult<(SOCKET, c_int, Written, Option<c_int>)> {
    let ((socket, err, sin, len), raised) = blocking_c_abi(py, |raised| {
        let mut sin = zeroed_sockaddr_in();
        let mut len = addrlen;
        let context = condition.as_ref().map(|c| ConditionContext {
            condition: c,
            callback_data,
            raised,
            invalid: std::cell::RefCell::new(None),
        });
        let (proc, data): (LPCONDITIONPROC, DWORD_PTR) = match &context {
            Some(ctx) => (Some(condition_trampoline), ctx as *const ConditionContext<'_> as DWORD_PTR),
            None => (None, callback_data),
        };
        let mut err = 0;
        // SAFETY: NULL or live locals for the whole call, a valid lpErrno; the context outlives it.
        let socket = unsafe {
            wspsan::wspsan_WSPAccept(
                s,
                if addr { (&raw mut sin).cast() } else { std::ptr::null_mut() },
                len.as_mut().map_or(std::ptr::null_mut(), |l| l as *mut c_int),
                proc,
                data,
                &mut err,
            )
        };
        if let Some(reason) = context.and_then(|c| c.invalid.into_inner()).filter(|_| err == WSAEINVAL) {
            wspsan::amend_last_error_detail(reason);
        }
        (socket, err, sin, len)
    });
    finish_c_abi((socket, err, written_address(&sin), len), socket == INVALID_SOCKET, raised)
}

/// `WSPCloseSocket(s)`.
#[pyfunction]
fn WSPCloseSocket(py: Python<'_>, s: SOCKET) -> Outcome<c_int> {
    c_abi!(py, wspsan_WSPCloseSocket(s))
}

/// `WSPGetSockName` or `WSPGetPeerName` into a zeroed `sockaddr_in`.
macro_rules! name_call {
    ($py:expr, $f:ident, $s:expr, $namelen:expr) => {{
        let mut sin = zeroed_sockaddr_in();
        let mut len: Option<c_int> = $namelen;
        let (rc, err) = c_abi!($py, $f($s, (&raw mut sin).cast(), nullable(&mut len)));
        (rc, err, written_address(&sin))
    }};
}

/// `WSPGetSockName(s, &sockaddr_in, &namelen)`: `(result, error, address)`. `namelen` None
/// passes NULL: `WSAEFAULT`, but only for a bound socket (an unbound one is `WSAEINVAL` and an
/// unknown descriptor `WSAENOTSOCK` whatever the pointers, SPEC X4).
#[pyfunction]
#[pyo3(signature = (s, namelen=Some(SOCKADDR_IN_LEN)), text_signature = "(s, namelen=16)")]
fn WSPGetSockName(py: Python<'_>, s: SOCKET, namelen: Option<c_int>) -> (c_int, c_int, Written) {
    name_call!(py, wspsan_WSPGetSockName, s, namelen)
}

/// `WSPGetPeerName(s, &sockaddr_in, &namelen)`: `(result, error, address)`. `namelen` None
/// passes NULL: `WSAEFAULT`, but only for a connected socket (an unconnected one is
/// `WSAENOTCONN` and an unknown descriptor `WSAENOTSOCK` whatever the pointers, SPEC X4).
#[pyfunction]
#[pyo3(signature = (s, namelen=Some(SOCKADDR_IN_LEN)), text_signature = "(s, namelen=16)")]
fn WSPGetPeerName(py: Python<'_>, s: SOCKET, namelen: Option<c_int>) -> (c_int, c_int, Written) {
    name_call!(py, wspsan_WSPGetPeerName, s, namelen)
}

/// `WSPGetSockOpt(s, level, optname, optval, &optlen)`: `(result, error, optval)`, `optval` the
/// first `*optlen` bytes of the buffer afterwards (an int option is 4 little-endian bytes).
/// `optval` is a buffer of exactly `optlen` bytes (NULL when 0); `optlen` None passes NULL for
/// both. A negative `optlen`, or one above 16 MiB, raises ValueError. The checks come in the C
/// ABI's order (SPEC X4): the descriptor, then the level (unknown: `WSAEINVAL`) and the option
/// (unknown at a known level: `WSAENOPROTOOPT`), then the buffer (`WSAEFAULT`). Reading
/// `SO_ERROR` does not clear it; the next connect attempt that is queued does (SPEC C2).
#[pyfunction]
#[pyo3(signature = (s, level, optname, optlen=Some(4)), text_signature = "(s, level, optname, optlen=4)")]
fn WSPGetSockOpt<'py>(
    py: Python<'py>,
    s: SOCKET,
    level: c_int,
    optname: c_int,
    optlen: Option<c_int>,
) -> PyResult<(c_int, c_int, Bound<'py, PyBytes>)> {
    let size = match optlen {
        Some(n) if !(0..=MAX_OPTLEN).contains(&n) => {
            return Err(PyValueError::new_err(format!("optlen must be 0 to {MAX_OPTLEN}, not {n}")));
        }
        Some(n) => n as usize,
        None => 0,
    };
    let mut buf = vec![0u8; size];
    // The C side is told exactly the buffer's length, never more.
    let mut len = optlen.map(|_| buf.len() as c_int);
    let (rc, err) = c_abi!(
        py,
        wspsan_WSPGetSockOpt(
            s,
            level,
            optname,
            if buf.is_empty() { std::ptr::null_mut() } else { buf.as_mut_ptr().cast() },
            nullable(&mut len)
        )
    );
    let n = len.unwrap_or(0).clamp(0, buf.len() as c_int) as usize;
    Ok((rc, err, PyBytes::new(py, &buf[..n])))
}

/// `WSPSetSockOpt(s, level, optname, optval, optlen)`: `optval` an int (4 bytes) or bytes,
/// None passes NULL; `optlen` defaults to its length. Setting `SO_ERROR` stores the value, as on
/// Windows (SPEC C2).
#[pyfunction]
#[pyo3(signature = (s, level, optname, optval, optlen=None))]
fn WSPSetSockOpt(
    py: Python<'_>,
    s: SOCKET,
    level: c_int,
    optname: c_int,
    optval: Option<&Bound<'_, PyAny>>,
    optlen: Option<c_int>,
) -> PyResult<Outcome<c_int>> {
    let bytes: Option<Vec<u8>> = match optval {
        None => None,
        Some(v) => Some(match v.extract::<c_int>() {
            Ok(i) => i.to_le_bytes().to_vec(),
            Err(_) => v.extract::<Vec<u8>>().map_err(|_| PyTypeError::new_err("optval is an int, bytes or None"))?,
        }),
    };
    let len = optlen.unwrap_or_else(|| bytes.as_ref().map_or(0, |b| b.len() as c_int));
    if bytes.as_ref().is_some_and(|b| len > b.len() as c_int) {
        return Err(PyValueError::new_err("optlen is larger than optval"));
    }
    let optval = |b: &Option<Vec<u8>>| b.as_ref().map_or(std::ptr::null(), |b| b.as_ptr().cast());
    Ok(c_abi!(py, wspsan_WSPSetSockOpt(s, level, optname, optval(&bytes), len)))
}

/// `WSPIoctl(s, code, in, cbIn, out, cbOut, &cbReturned, lpOverlapped, NULL, NULL)`:
/// `(result, error, out, bytes_returned)`; `out` is the whole output buffer of `out_len` bytes
/// (None: a NULL buffer), `in_buffer` None passes NULL. `bytes_returned` False passes a NULL
/// `lpcbBytesReturned` (`WSAEFAULT` for every control code, FIONBIO included, SPEC X4) and the
/// result's `bytes_returned` is then None; otherwise it is what `*lpcbBytesReturned` holds
/// afterwards (0 unless the call wrote it). `overlapped` True passes a zeroed `WSAOVERLAPPED`
/// (overlapped ioctls are not supported: `WSAEOPNOTSUPP`). The checks come in the C ABI's
/// order: the descriptor, then `lpOverlapped`, then the control code (`WSAEINVAL`), then
/// `lpcbBytesReturned`, then the buffers.
#[pyfunction]
#[pyo3(signature = (s, code, in_buffer=None, out_len=None, bytes_returned=true, overlapped=false))]
fn WSPIoctl<'py>(
    py: Python<'py>,
    s: SOCKET,
    code: DWORD,
    in_buffer: Option<Vec<u8>>,
    out_len: Option<DWORD>,
    bytes_returned: bool,
    overlapped: bool,
) -> (c_int, c_int, Option<Bound<'py, PyBytes>>, Option<DWORD>) {
    let mut input = in_buffer;
    let mut output = out_len.map(|n| vec![0u8; n as usize]);
    let mut returned: Option<DWORD> = bytes_returned.then_some(0);
    // A zeroed WSAOVERLAPPED (NULL hEvent), held as words so the call can leave the GIL with it.
    let mut overlapped_buf = overlapped.then_some([0usize; OVERLAPPED_WORDS]);
    let (rc, err) = c_abi!(
        py,
        wspsan_WSPIoctl(
            s,
            code,
            input.as_mut().map_or(std::ptr::null_mut(), |b| b.as_mut_ptr().cast()),
            input.as_ref().map_or(0, |b| b.len() as DWORD),
            output.as_mut().map_or(std::ptr::null_mut(), |b| b.as_mut_ptr().cast()),
            output.as_ref().map_or(0, |b| b.len() as DWORD),
            nullable(&mut returned),
            nullable(&mut overlapped_buf).cast::<WSAOVERLAPPED>(),
            None,
            std::ptr::null_mut()
        )
    );
    (rc, err, output.map(|b| PyBytes::new(py, &b)), returned)
}

/// `WSPEventSelect(s, hEventObject, lNetworkEvents)`; `event` a `wspsan.Event` (keep it alive
/// while selected), a raw handle, or None. An event of `mask` already recorded, also one
/// recorded while it was not selected, signals `event` at once (SPEC E1, E5).
#[pyfunction]
fn WSPEventSelect(py: Python<'_>, s: SOCKET, event: Option<&Bound<'_, PyAny>>, mask: LONG) -> PyResult<Outcome<c_int>> {
    let h = event_handle(event)?;
    Ok(c_abi!(py, wspsan_WSPEventSelect(s, h as WSAEVENT, mask)))
}

/// `WSPEnumNetworkEvents(s, hEventObject, &WSANETWORKEVENTS)`:
/// `(result, error, events, error_codes)`; `iErrorCode` starts as ten -1 values, so an entry the
/// call did not write reads -1. Only the recorded events in the socket's current selection are
/// reported and cleared; the others stay recorded until a selection includes them, and with no
/// selection (mask 0) nothing is reported (SPEC E4, E5).
#[pyfunction]
#[pyo3(signature = (s, event=None))]
fn WSPEnumNetworkEvents(
    py: Python<'_>,
    s: SOCKET,
    event: Option<&Bound<'_, PyAny>>,
) -> PyResult<(c_int, c_int, LONG, [c_int; FD_MAX_EVENTS])> {
    let h = event_handle(event)?;
    let mut out = WSANETWORKEVENTS { lNetworkEvents: 0, iErrorCode: [-1; FD_MAX_EVENTS] };
    let (rc, err) = c_abi!(py, wspsan_WSPEnumNetworkEvents(s, h as WSAEVENT, &mut out));
    Ok((rc, err, out.lNetworkEvents, out.iErrorCode))
}

/// `wspsan_WSACreateEvent()`: the new eventfd as an int (0: failed). Close it with
/// `WSACloseEvent`.
#[pyfunction]
fn WSACreateEvent() -> usize {
    wspsan::wspsan_WSACreateEvent() as usize
}

/// `wspsan_WSACloseEvent(hEvent)`.
#[pyfunction]
fn WSACloseEvent(event: usize) -> bool {
    // SAFETY: the caller gives up the handle.
    (unsafe { wspsan::wspsan_WSACloseEvent(event as WSAEVENT) }) != WSPSAN_FALSE
}

/// `wspsan_switch_handle(s, &handle)`: `(result, error, handle)` (SPEC X5).
#[pyfunction]
fn switch_handle(py: Python<'_>, s: SOCKET) -> (c_int, c_int, SOCKET) {
    let mut handle: SOCKET = 0;
    let (rc, err) = c_abi!(py, wspsan_switch_handle(s, &mut handle));
    (rc, err, handle)
}

/// `wspsan_strerror(code)`.
#[pyfunction]
fn strerror(code: c_int) -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(wspsan::wspsan_strerror(code)) }.to_string_lossy().into_owned()
}

/// `wspsan_last_error_message()`: this thread's last failure, with its detail ("" if none).
#[pyfunction]
fn last_error_message() -> String {
    let mut needed: usize = 0;
    // SAFETY: asking for the length only.
    unsafe { wspsan::wspsan_last_error_message(std::ptr::null_mut(), 0, &mut needed) };
    let mut buf = vec![0u8; needed + 1];
    // SAFETY: a buffer of the length given.
    unsafe { wspsan::wspsan_last_error_message(buf.as_mut_ptr().cast(), buf.len(), std::ptr::null_mut()) };
    CStr::from_bytes_until_nul(&buf).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `wspsan_test_inject_panic(calls)`: TEST ONLY: the next `calls` C ABI calls made on this thread
/// panic inside the panic boundary (SPEC X4); returns how many were still armed.
#[pyfunction]
fn test_inject_panic(calls: u32) -> u32 {
    wspsan::wspsan_test_inject_panic(calls)
}

/// `wspsan_version()`.
#[pyfunction]
fn version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(wspsan::wspsan_version()) }.to_string_lossy().into_owned()
}

fn s_addr(address: &str) -> PyResult<u32> {
    Ok(u32::from(crate::args::parse_ip(address)?).to_be())
}

/// `wspsan_device_add_nic(s_addr)`.
#[pyfunction]
fn device_add_nic(py: Python<'_>, address: &str) -> PyResult<Outcome<c_int>> {
    let a = s_addr(address)?;
    Ok(c_abi!(py, wspsan_device_add_nic(a)))
}

/// `wspsan_device_remove_nic(s_addr)`.
#[pyfunction]
fn device_remove_nic(py: Python<'_>, address: &str) -> PyResult<Outcome<c_int>> {
    let a = s_addr(address)?;
    Ok(c_abi!(py, wspsan_device_remove_nic(a)))
}

/// WSPSAN_LIMITS as a dict, and a dict's fields into it, by the C ABI's list of its fields.
macro_rules! limits_fields {
    ($($f:ident: $t:ty,)*) => {
        fn limits_dict<'py>(py: Python<'py>, l: &WSPSAN_LIMITS) -> PyResult<Bound<'py, PyDict>> {
            let d = PyDict::new(py);
            $(d.set_item(stringify!($f), l.$f)?;)*
            Ok(d)
        }

        fn set_limit(l: &mut WSPSAN_LIMITS, name: &str, v: &Bound<'_, PyAny>) -> PyResult<()> {
            match name {
                $(stringify!($f) => l.$f = v.extract()?,)*
                other => return Err(PyTypeError::new_err(format!("WSPSAN_LIMITS has no field {other:?}"))),
            }
            Ok(())
        }
    };
}
wspsan::for_each_c_limit!(limits_fields! {});

/// `wspsan_device_get_limits(&limits)`: `(result, error, limits)`, a dict of `WSPSAN_LIMITS`.
#[pyfunction]
fn device_get_limits(py: Python<'_>) -> PyResult<(c_int, c_int, Bound<'_, PyDict>)> {
    let mut l = WSPSAN_LIMITS::default();
    let (rc, err) = c_abi!(py, wspsan_device_get_limits(&mut l));
    Ok((rc, err, limits_dict(py, &l)?))
}

/// `wspsan_device_set_limits(&limits)`: the fields given by keyword, the others as they are now.
#[pyfunction]
#[pyo3(signature = (**fields))]
fn device_set_limits(py: Python<'_>, fields: Option<&Bound<'_, PyDict>>) -> PyResult<Outcome<c_int>> {
    let mut l = WSPSAN_LIMITS::default();
    let (rc, err) = c_abi!(py, wspsan_device_get_limits(&mut l));
    if rc != 0 {
        return Ok((rc, err));
    }
    for (k, v) in fields.into_iter().flat_map(|d| d.iter()) {
        set_limit(&mut l, k.extract::<String>()?.as_str(), &v)?;
    }
    Ok(c_abi!(py, wspsan_device_set_limits(&l)))
}

/// `wspsan_device_set_connect_timeout(ms)` (0: none).
#[pyfunction]
fn device_set_connect_timeout(py: Python<'_>, ms: u32) -> Outcome<c_int> {
    c_abi!(py, wspsan_device_set_connect_timeout(ms))
}

/// `wspsan_device_set_wildcard_bind(on)`.
#[pyfunction]
fn device_set_wildcard_bind(py: Python<'_>, on: bool) -> Outcome<c_int> {
    c_abi!(py, wspsan_device_set_wildcard_bind(c_int::from(on)))
}

/// `wspsan_device_set_network_down(on)`.
#[pyfunction]
fn device_set_network_down(py: Python<'_>, on: bool) -> Outcome<c_int> {
    c_abi!(py, wspsan_device_set_network_down(c_int::from(on)))
}

/// `wspsan_device_set_buffer_exhaustion(on)`.
#[pyfunction]
fn device_set_buffer_exhaustion(py: Python<'_>, on: bool) -> Outcome<c_int> {
    c_abi!(py, wspsan_device_set_buffer_exhaustion(c_int::from(on)))
}

/// `wspsan_device_set_descriptor_limit(limit)` (negative: lifted).
#[pyfunction]
fn device_set_descriptor_limit(py: Python<'_>, limit: i64) -> Outcome<c_int> {
    c_abi!(py, wspsan_device_set_descriptor_limit(limit))
}

/// `wspsan_device_get_faults(&faults)`: `(result, error, faults)`, a dict of `WSPSAN_FAULTS`.
#[pyfunction]
fn device_get_faults(py: Python<'_>) -> PyResult<(c_int, c_int, Bound<'_, PyDict>)> {
    let mut f = WSPSAN_FAULTS::default();
    let (rc, err) = c_abi!(py, wspsan_device_get_faults(&mut f));
    let d = PyDict::new(py);
    d.set_item("network_down", f.network_down)?;
    d.set_item("buffer_exhaustion", f.buffer_exhaustion)?;
    d.set_item("descriptor_limit", f.descriptor_limit)?;
    Ok((rc, err, d))
}

/// `wspsan_device_stats(&stats)`: `(result, error, stats)` (SPEC D3).
#[pyfunction]
fn device_stats(py: Python<'_>) -> (c_int, c_int, DeviceStats) {
    let mut d = WSPSAN_DEVICE_STATS::default();
    let (rc, err) = c_abi!(py, wspsan_device_stats(&mut d));
    (rc, err, d.into())
}

/// `wspsan_device_listener_stats(s, &stats)`: `(result, error, stats)` (SPEC D3).
#[pyfunction]
fn device_listener_stats(py: Python<'_>, s: SOCKET) -> (c_int, c_int, ListenerStats) {
    let mut l = WSPSAN_LISTENER_STATS::default();
    let (rc, err) = c_abi!(py, wspsan_device_listener_stats(s, &mut l));
    (rc, err, l.into())
}

/// Build `wspsan.wsp` and register it so `import wspsan.wsp` works.
pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, "wspsan.wsp")?;
    m.add("__doc__", "The C ABI of wspsan called as C calls it, on the process-wide provider.")?;
    macro_rules! add {
        ($($f:ident),* $(,)?) => { $(m.add_function(wrap_pyfunction!($f, &m)?)?;)* };
    }
    add!(WSPStartup, WSPCleanup, WSPSocket, WSPBind, WSPListen, WSPConnect, WSPAccept, WSPCloseSocket);
    add!(WSPGetSockName, WSPGetPeerName, WSPGetSockOpt, WSPSetSockOpt, WSPIoctl, WSPEventSelect);
    add!(WSPEnumNetworkEvents, WSACreateEvent, WSACloseEvent, switch_handle, strerror, last_error_message, version);
    add!(device_add_nic, device_remove_nic, device_get_limits, device_set_limits, device_set_connect_timeout);
    add!(device_set_wildcard_bind, device_set_network_down, device_set_buffer_exhaustion);
    add!(device_set_descriptor_limit, device_get_faults, device_stats, device_listener_stats);
    add!(test_inject_panic);
    parent.add("wsp", &m)?;
    py.import("sys")?.getattr("modules")?.set_item("wspsan.wsp", &m)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_upcall_fails_with_wsaenetdown_instead_of_unwinding_into_c() {
        // SPEC X4 (B8): the upcall trampolines are called by C; a panic must not cross them.
        // Without an interpreter the report to sys.unraisablehook panics too, and is contained.
        let mut err: c_int = 0;
        let rc = upcall_guard(&mut err, SOCKET_ERROR, || -> Result<c_int, c_int> { panic!("upcall bug") });
        assert_eq!((rc, err), (SOCKET_ERROR, WSAENETDOWN));
        let mut err: c_int = 0;
        assert_eq!(upcall_guard(&mut err, WSPSAN_FALSE, || Err(WSAEINVAL)), WSPSAN_FALSE);
        assert_eq!(err, WSAEINVAL);
        assert_eq!(upcall_guard(std::ptr::null_mut(), WSPSAN_FALSE, || Ok(WSPSAN_TRUE)), WSPSAN_TRUE);
    }
}

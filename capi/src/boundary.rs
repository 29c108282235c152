//! The one boundary every export goes through (model: rustls-ffi's `ffi_panic_boundary!`):
//! panics are caught and reported as `WSAENETDOWN`, pointers are checked before use, and a
//! failure is written to `*lpErrno` (and kept for `wspsan_last_error_message`) while a success
//! leaves `*lpErrno` untouched (SPEC X3, X4).

use crate::convert::{self, sockaddr_in};
pub(crate) use crate::failure::{Failure, Outcome, fault};
use crate::session;
use crate::types::{LPINT, QOS, WSABUF};
use core::ffi::c_int;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::net::SocketAddrV4;
use std::panic::{AssertUnwindSafe, catch_unwind};
use wspsan_core::{Call, Provider, Qos, WsaError};

/// SPEC X4: a bad pointer or length argument (`arg` failed) is reported only after the entry
/// checks, the descriptor and the socket's state for `call` had their say (the engine's
/// [`Provider::precheck`]): `WSPGetPeerName(INVALID_SOCKET, NULL, NULL)` is `WSAENOTSOCK`.
pub(crate) fn checked_after_state<T>(p: &Provider, s: crate::types::SOCKET, call: Call, arg: Outcome<T>) -> Outcome<T> {
    arg.or_else(|f| {
        p.precheck(descriptor(s), call)?;
        Err(f)
    })
}

/// The last failure on a thread, kept raw: the message is formatted only when asked for, so a
/// routine failure (a non-blocking connect's `WSAEWOULDBLOCK`) costs no allocation.
struct LastError {
    function: &'static str,
    code: c_int,
    detail: Option<Cow<'static, str>>,
}

thread_local! {
    /// The last failure on this thread.
    static LAST_ERROR: RefCell<Option<LastError>> = const { RefCell::new(None) };
    /// How many of this thread's next exports panic on purpose (`wspsan_test_inject_panic`).
    static INJECTED_PANICS: Cell<u32> = const { Cell::new(0) };
}

/// Exports an injected panic never hits, so a test can read what the panic left behind.
const NOT_INJECTED: [&str; 2] = ["wspsan_last_error_message", "wspsan_strerror"];

/// Panic here, inside the boundary and before `function` reaches the engine, if
/// `wspsan_test_inject_panic` armed this thread (SPEC X4 tests). One thread-local read when not.
fn injected_panic(function: &'static str) {
    let armed = INJECTED_PANICS.try_with(Cell::get).unwrap_or(0);
    if armed > 0 && !NOT_INJECTED.contains(&function) {
        INJECTED_PANICS.with(|n| n.set(armed - 1));
        // Unwinds like any panic and is caught the same way, but skips the panic hook: a test
        // that injects many gets no stderr output for them (a real panic prints as usual).
        std::panic::resume_unwind(Box::new(format!("wspsan_test_inject_panic: injected panic in {function}")));
    }
}

/// TEST ONLY, never for production code: make the next `calls` exports made on the calling
/// thread panic inside the panic boundary, before they reach the engine (so nothing is half
/// done), to test SPEC X4: each fails with WSAENETDOWN, wspsan_last_error_message holds the panic
/// message, and everything else keeps working. Other threads are unaffected;
/// wspsan_last_error_message and wspsan_strerror are never hit; the injected panic skips the panic
/// hook, so nothing is printed. 0 disarms. Returns how many were still armed.
///
/// Exported to C only with the `test-hooks` feature (the C tests' build); without it a Rust
/// caller of this library (the Python module's tests) still reaches it, C code cannot.
#[doc(hidden)]
#[cfg_attr(feature = "test-hooks", unsafe(no_mangle))]
pub extern "C" fn wspsan_test_inject_panic(calls: u32) -> u32 {
    INJECTED_PANICS.try_with(|n| n.replace(calls)).unwrap_or(0)
}

fn describe(code: c_int) -> String {
    match WsaError::from_code(code) {
        Some(e) => e.to_string(),
        None => format!("error {code}"),
    }
}

/// Replace the detail of this thread's last error (Rust callers that run their own condition
/// functions through the exports, such as the Python mirror, know better what went wrong).
#[doc(hidden)]
pub fn amend_last_error_detail(detail: String) {
    let _ = LAST_ERROR.try_with(|slot| {
        if let Some(e) = slot.borrow_mut().as_mut() {
            e.detail = Some(detail.into());
        }
    });
}

fn remember(function: &'static str, failure: Failure) {
    let last = LastError { function, code: failure.code, detail: failure.detail };
    // try_with: a failure reported while the thread is exiting is not worth a panic.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(last));
}

/// The code and message of this thread's last failure, if any.
pub(crate) fn last_error() -> Option<(c_int, String)> {
    LAST_ERROR
        .try_with(|slot| {
            slot.borrow().as_ref().map(|e| {
                let mut message = format!("{}: {}", e.function, describe(e.code));
                if let Some(detail) = &e.detail {
                    message.push_str(" (");
                    message.push_str(detail);
                    message.push(')');
                }
                (e.code, message)
            })
        })
        .ok()
        .flatten()
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The boundary: run `body`, turn a panic into `WSAENETDOWN`, remember any failure for this
/// thread. Every export calls this, directly or through [`wsp`].
pub(crate) fn guarded<T>(function: &'static str, body: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    let result = match catch_unwind(AssertUnwindSafe(|| {
        injected_panic(function);
        body()
    })) {
        Ok(r) => r,
        Err(payload) => Err(Failure::new(WsaError::NetDown, format!("panic caught: {}", panic_message(&*payload)))),
    };
    result.map_err(|f| {
        let code = f.code;
        remember(function, f);
        Failure { code, detail: None }
    })
}

/// Where an export writes its error code: the caller's `lpErrno`, NULL or writable.
pub(crate) struct ErrnoOut(LPINT);

impl ErrnoOut {
    /// # Safety
    /// `p` is NULL or valid for writing one `int` for the whole call: what the header says of
    /// every `lpErrno` (see [`errno_out!`]).
    pub(crate) unsafe fn new(p: LPINT) -> ErrnoOut {
        ErrnoOut(p)
    }

    /// Write `code`, if `lpErrno` is not NULL.
    fn write(&self, code: c_int) {
        if !self.0.is_null() {
            // SAFETY: non-NULL, so writable for this call, as `new`'s caller promised.
            unsafe { self.0.write(code) };
        }
    }

    fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

/// The [`ErrnoOut`] of an export's `lpErrno` argument (a raw `LPINT` from C).
macro_rules! errno_out {
    ($lp_errno:expr) => {{
        // SAFETY: every lpErrno is NULL or the caller's writable int for the whole call, the
        // contract the header states for every function that takes one (SPEC X3).
        unsafe { $crate::boundary::ErrnoOut::new($lp_errno) }
    }};
}
pub(crate) use errno_out;

/// A WSP-style export: `*lpErrno` is written on failure only and `failed` returned
/// (`SOCKET_ERROR`, `INVALID_SOCKET` or FALSE). A NULL `lpErrno` gives `failed` without
/// running anything. `body` gets the started provider (SPEC X2: `WSANOTINITIALISED` otherwise).
pub(crate) fn wsp<T>(
    function: &'static str,
    errno: ErrnoOut,
    failed: T,
    body: impl FnOnce(&'static Provider) -> Outcome<T>,
) -> T {
    if errno.is_null() {
        let _ = guarded(function, || -> Outcome<()> { Err(fault("lpErrno is NULL")) });
        return failed;
    }
    match guarded(function, || body(session::started()?)) {
        Ok(v) => v,
        Err(f) => {
            errno.write(f.code);
            failed
        }
    }
}

/// A wspsan extension (device control, statistics): like [`wsp`] but usable before
/// `WSPStartup`, on the process-wide provider.
pub(crate) fn extension(
    function: &'static str,
    errno: ErrnoOut,
    body: impl FnOnce(&'static Provider) -> Outcome<()>,
) -> c_int {
    wsp_like(function, errno, || body(session::provider()?))
}

/// A set-up call that must come before the process-wide provider exists (it decides how that
/// provider is made): `WSAEINVAL` once it does.
pub(crate) fn before_provider(function: &'static str, errno: ErrnoOut, body: impl FnOnce() -> Outcome<()>) -> c_int {
    wsp_like(function, errno, || {
        if session::made() {
            return Err(Failure::new(
                WsaError::Inval,
                "the provider exists already (WSPStartup or a wspsan_device_* call came first)",
            ));
        }
        body()
    })
}

/// 0, or `SOCKET_ERROR` with the failure in `*lpErrno` (none at all for a NULL `lpErrno`).
fn wsp_like(function: &'static str, errno: ErrnoOut, body: impl FnOnce() -> Outcome<()>) -> c_int {
    if errno.is_null() {
        let _ = guarded(function, || -> Outcome<()> { Err(fault("lpErrno is NULL")) });
        return crate::types::SOCKET_ERROR;
    }
    match guarded(function, body) {
        Ok(()) => 0,
        Err(f) => {
            errno.write(f.code);
            crate::types::SOCKET_ERROR
        }
    }
}

/// An output pointer: `WSAEFAULT` when NULL.
///
/// # Safety
/// `p` is NULL or valid for reading and writing a `T` for `'a`, with nothing else referring to
/// that `T` meanwhile.
pub(crate) unsafe fn out_ptr<'a, T>(p: *mut T, what: &'static str) -> Outcome<&'a mut T> {
    // SAFETY: non-NULL pointers are valid for T, as the caller promises.
    unsafe { p.as_mut() }.ok_or_else(|| fault(format!("{what} is NULL")))
}

/// An input pointer: `WSAEFAULT` when NULL.
///
/// # Safety
/// `p` is NULL or valid for reading a `T` for `'a`.
pub(crate) unsafe fn in_ptr<'a, T>(p: *const T, what: &'static str) -> Outcome<&'a T> {
    // SAFETY: as out_ptr.
    unsafe { p.as_ref() }.ok_or_else(|| fault(format!("{what} is NULL")))
}

/// An export's output pointer argument as `Outcome<&mut T>` (`WSAEFAULT` when NULL), on the
/// header's contract for pointer arguments (model: rustls-ffi's `try_mut_from_ptr!`).
macro_rules! out_ref {
    ($p:expr, $what:expr) => {{
        // SAFETY: the header's contract for every pointer argument of an export: NULL, or valid
        // for the whole call and not used by the caller meanwhile.
        unsafe { $crate::boundary::out_ptr($p, $what) }
    }};
}
pub(crate) use out_ref;

/// An export's input pointer argument as `Outcome<&T>` (`WSAEFAULT` when NULL), on the
/// header's contract (model: rustls-ffi's `try_ref_from_ptr!`).
macro_rules! in_ref {
    ($p:expr, $what:expr) => {{
        // SAFETY: the header's contract for every pointer argument of an export: NULL, or valid
        // for reading for the whole call.
        unsafe { $crate::boundary::in_ptr($p, $what) }
    }};
}
pub(crate) use in_ref;

/// The bytes of a WSABUF: `WSAEFAULT` when `buf` is NULL with a non-zero `len`.
pub(crate) unsafe fn wsabuf_bytes<'a>(b: &WSABUF, what: &'static str) -> Outcome<&'a [u8]> {
    // SAFETY: the caller promises `len` readable bytes at a non-NULL `buf`.
    unsafe { convert::wsabuf_slice(b) }.ok_or_else(|| fault(format!("{what}->buf is NULL with len {}", b.len)))
}

/// Length of `struct sockaddr_in`.
pub(crate) const SOCKADDR_IN_LEN: c_int = size_of::<libc::sockaddr_in>() as c_int;

/// Read an IPv4 address (SPEC B1, C3): `WSAEFAULT` for NULL or `namelen` < 16,
/// `WSAEAFNOSUPPORT` for another family.
pub(crate) unsafe fn read_sockaddr(name: *const libc::sockaddr, namelen: c_int) -> Outcome<SocketAddrV4> {
    if name.is_null() {
        return Err(fault("name is NULL"));
    }
    if namelen < SOCKADDR_IN_LEN {
        return Err(fault(format!("namelen is {namelen}, a sockaddr_in needs {SOCKADDR_IN_LEN}")));
    }
    // SAFETY: at least 16 readable bytes, as namelen says; no alignment assumed.
    let sin = unsafe { name.cast::<libc::sockaddr_in>().read_unaligned() };
    if c_int::from(sin.sin_family) != libc::AF_INET {
        return Err(Failure::new(WsaError::AfNoSupport, format!("address family {}, only AF_INET", sin.sin_family)));
    }
    Ok(convert::socket_addr(&sin))
}

/// Where an export writes an address back: `name` and `*namelen`, checked up front (SPEC A3,
/// A15) so that nothing is written when they are unusable.
pub(crate) struct AddrOut {
    name: *mut libc::sockaddr,
    namelen: *mut c_int,
}

impl AddrOut {
    /// Both pointers required, `*namelen` at least 16 (`WSPGetSockName`, `WSPGetPeerName`).
    pub(crate) unsafe fn required(name: *mut libc::sockaddr, namelen: LPINT) -> Outcome<AddrOut> {
        if name.is_null() || namelen.is_null() {
            return Err(fault("name or namelen is NULL"));
        }
        // SAFETY: non-NULL, see the function's contract.
        unsafe { AddrOut::optional(name, namelen) }
    }

    /// Written only when both are given (SPEC A3, A4): `*addrlen` < 16 is `WSAEFAULT`.
    pub(crate) unsafe fn optional(name: *mut libc::sockaddr, namelen: LPINT) -> Outcome<AddrOut> {
        if !name.is_null() && !namelen.is_null() {
            // SAFETY: a valid int pointer from the caller.
            let len = unsafe { namelen.read() };
            if len < SOCKADDR_IN_LEN {
                return Err(fault(format!("*addrlen is {len}, a sockaddr_in needs {SOCKADDR_IN_LEN}")));
            }
        }
        Ok(AddrOut { name, namelen })
    }

    /// Write `a` and set the length to 16, if both pointers were given.
    pub(crate) fn write(&self, a: SocketAddrV4) {
        if self.name.is_null() || self.namelen.is_null() {
            return;
        }
        // SAFETY: checked in the constructor: non-NULL and at least 16 bytes.
        unsafe {
            self.name.cast::<libc::sockaddr_in>().write_unaligned(sockaddr_in(a));
            self.namelen.write(SOCKADDR_IN_LEN);
        }
    }
}

/// A C `QOS` as the engine takes it (`WSAEFAULT` for a NULL `ProviderSpecific.buf` with a length).
pub(crate) unsafe fn read_qos(q: &QOS) -> Outcome<Qos> {
    // SAFETY: the caller's QOS describes its own buffer.
    unsafe { convert::qos_from_c(q) }
        .ok_or_else(|| fault(format!("lpSQOS->ProviderSpecific.buf is NULL with len {}", q.ProviderSpecific.len)))
}

/// A descriptor from C as the engine names it.
pub(crate) fn descriptor(s: crate::types::SOCKET) -> wspsan_core::Descriptor {
    wspsan_core::Descriptor::from_raw(s as u64)
}

/// A descriptor from the engine as C sees it.
pub(crate) fn socket(d: wspsan_core::Descriptor) -> crate::types::SOCKET {
    d.raw() as crate::types::SOCKET
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_panics_hit_only_the_arming_thread_and_only_as_many_calls_as_asked() {
        // SPEC X4: the test hook panics inside the boundary, before the body runs.
        let ran = std::sync::atomic::AtomicU32::new(0);
        let call = || guarded("test_export", || Ok(ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst)));
        assert_eq!(wspsan_test_inject_panic(2), 0);
        std::thread::scope(|s| s.spawn(|| assert!(call().is_ok(), "another thread is not armed")).join().unwrap());
        for _ in 0..2 {
            assert_eq!(call().map_err(|f| f.code), Err(WsaError::NetDown.code()));
            let (_, message) = last_error().expect("remembered");
            assert!(message.contains("injected panic in test_export"), "{message}");
        }
        assert!(call().is_ok(), "disarmed after two");
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 2, "the body never ran when a panic was injected");
        // diagnostics are never hit; 0 disarms and reports what was left
        assert_eq!(wspsan_test_inject_panic(5), 0);
        assert!(guarded("wspsan_last_error_message", || Ok(())).is_ok());
        assert_eq!(wspsan_test_inject_panic(0), 5);
        assert!(call().is_ok());
    }
}

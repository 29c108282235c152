//! The process-wide provider, counted `WSPStartup` / `WSPCleanup` (SPEC X1, X2), the
//! upcalls into the switch (X5) and the procedure table.
//!
//! The session lock is held only to read or change the session record, never while the engine
//! runs the switch's upcalls (T1): the last cleanup marks the session closing, closes every
//! socket with the lock released, then ends the session. A startup meanwhile waits for the end
//! (on another thread) or fails with `WSAEINPROGRESS` (from an upcall of that cleanup).

use crate::boundary::{Failure, Outcome, descriptor, guarded, out_ptr, wsp};
use crate::types::*;
use core::ffi::{c_int, c_uint};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::ThreadId;
use wspsan_core::{Descriptor, Placement, Provider, SocketHooks, WsaError};

/// The one provider behind the C ABI, and what startup recorded.
struct Global {
    /// Made at first use (the first `WSPStartup` or device call) from the environment (F3).
    provider: OnceLock<Provider>,
    /// Serialises that making, so a failed attempt can be retried and two never race.
    making: Mutex<()>,
    /// Startups in force as every call sees them (X2); 0 while the last cleanup closes.
    started: AtomicU32,
    session: Mutex<Session>,
    /// Notified when a last cleanup is over.
    closed: Condvar,
}

/// The session record.
struct Session {
    /// Startups not yet undone by a cleanup.
    count: u32,
    /// The thread running the last cleanup, while it closes the sockets.
    closing: Option<ThreadId>,
    /// What the first startup of the session recorded.
    upcalls: Option<WSPUPCALLTABLE>,
}

// SAFETY: the table holds only function pointers (Send + Sync by themselves); Option<fn> wraps them.
unsafe impl Send for Session {}

static GLOBAL: OnceLock<Global> = OnceLock::new();

fn global() -> &'static Global {
    GLOBAL.get_or_init(|| Global {
        provider: OnceLock::new(),
        making: Mutex::new(()),
        started: AtomicU32::new(0),
        session: Mutex::new(Session { count: 0, closing: None, upcalls: None }),
        closed: Condvar::new(),
    })
}

impl Global {
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The process-wide provider, whether or not it is started (device control, statistics),
/// made at first use where the environment says (SPEC F3): `WSAEINVAL` naming the variable that
/// cannot be parsed, or the error of joining the TCP fabric (`WSAEADDRINUSE`, ...). A failure is
/// not kept: the next call tries again.
pub(crate) fn provider() -> Outcome<&'static Provider> {
    let g = global();
    if let Some(p) = g.provider.get() {
        return Ok(p);
    }
    let _making = g.making.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = g.provider.get() {
        return Ok(p);
    }
    let placement =
        Placement::from_vars(|name| std::env::var(name).ok()).map_err(|e| Failure::new(e.error, format!("{e}")))?;
    let made = match crate::transport::installed() {
        Some(_) if placement.tcp.is_some() => {
            return Err(Failure::new(WsaError::Inval, "WSPSAN_FABRIC=tcp and an installed transport: choose one"));
        }
        Some(t) => {
            let what = format!("a device with NICs {:?} on the installed transport", placement.device.nics);
            Provider::with_transport(placement.device, t).map_err(|e| Failure::new(e, what))?
        }
        None => {
            let what = match &placement.tcp {
                Some(t) => format!("joining the TCP fabric on port {} with NICs {:?}", t.port, placement.device.nics),
                None => format!("a device with NICs {:?}", placement.device.nics),
            };
            placement.build().map_err(|e| Failure::new(e, what))?
        }
    };
    Ok(g.provider.get_or_init(|| made))
}

/// Whether the process-wide provider exists (it is made once, at first use).
pub(crate) fn made() -> bool {
    global().provider.get().is_some()
}

/// The provider, if `WSPStartup` is in force (SPEC X2).
pub(crate) fn started() -> Outcome<&'static Provider> {
    let g = global();
    match g.provider.get() {
        Some(p) if g.started.load(Ordering::Acquire) != 0 => Ok(p),
        _ => Err(WsaError::NotInitialised.into()),
    }
}

/// The upcall table of the session in force, if the switch gave one.
pub(crate) fn upcalls() -> Option<WSPUPCALLTABLE> {
    global().session().upcalls
}

/// The lowest SPI version served: 2.2, as `MAKEWORD(2, 2)`.
const VERSION_2_2: WORD = 0x0202;

/// `WPUCreateSocketHandle` / `WPUCloseSocketHandle` for every socket (SPEC X5).
struct SwitchHooks {
    create: unsafe extern "C" fn(DWORD, DWORD_PTR, LPINT) -> SOCKET,
    close: LPWPUCLOSESOCKETHANDLE,
    catalog_entry: DWORD,
}

impl SocketHooks for SwitchHooks {
    fn created(&self, s: Descriptor) -> wspsan_core::Result<u64> {
        let mut err: c_int = 0;
        // SAFETY: the switch's upcall, called as ws2spi.h declares it.
        let handle = unsafe { (self.create)(self.catalog_entry, s.raw() as DWORD_PTR, &mut err) };
        if handle == INVALID_SOCKET {
            // A11: a switch that cannot give a handle has no descriptor for us.
            return Err(WsaError::from_code(err).unwrap_or(WsaError::MFile));
        }
        Ok(handle as u64)
    }

    fn closed(&self, _s: Descriptor, context: u64) {
        if let Some(close) = self.close {
            let mut err: c_int = 0;
            // SAFETY: the switch's upcall with the handle it gave us.
            unsafe { close(context as SOCKET, &mut err) };
        }
    }
}

/// Whether sockets carry a switch handle (the session's table has `lpWPUCreateSocketHandle`).
pub(crate) fn has_switch_handles() -> bool {
    upcalls().is_some_and(|u| u.lpWPUCreateSocketHandle.is_some())
}

fn utf16_description() -> [WCHAR; WSPDESCRIPTION_LEN + 1] {
    let mut out = [0; WSPDESCRIPTION_LEN + 1];
    let text =
        concat!("wspsan ", env!("CARGO_PKG_VERSION"), ": Winsock SAN provider over an emulated loopback SAN device");
    for (slot, unit) in out[..WSPDESCRIPTION_LEN].iter_mut().zip(text.encode_utf16()) {
        *slot = unit;
    }
    out
}

/// Start the provider (SPEC X1): fills `*lpWSPData` and every entry of `*lpProcTable`; returns 0 or the error code (WSAVERNOTSUPPORTED below 2.2, WSAEFAULT for NULL pointers, WSAEINPROGRESS from an upcall made by the last WSPCleanup; on another thread a startup waits for that cleanup to end).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPStartup(
    wVersionRequested: WORD,
    lpWSPData: LPWSPDATA,
    lpProtocolInfo: LPWSAPROTOCOL_INFOW,
    UpcallTable: WSPUPCALLTABLE,
    lpProcTable: LPWSPPROC_TABLE,
) -> c_int {
    // SAFETY: the caller's pointers, passed on.
    unsafe { startup_with(wVersionRequested, lpWSPData, lpProtocolInfo, UpcallTable, lpProcTable, || {}) }
}

/// `wspsan_WSPStartup` for Rust callers of this library (the Python module): `on_new_session`
/// runs when this call starts a new session, under the session lock and before any upcall of
/// the session can run; it must not call wspsan.
///
/// # Safety
/// The pointers as `wspsan_WSPStartup` documents them.
pub unsafe fn startup_with(
    wVersionRequested: WORD,
    lpWSPData: LPWSPDATA,
    lpProtocolInfo: LPWSAPROTOCOL_INFOW,
    UpcallTable: WSPUPCALLTABLE,
    lpProcTable: LPWSPPROC_TABLE,
    on_new_session: impl FnOnce(),
) -> c_int {
    let result = guarded("wspsan_WSPStartup", || {
        // SAFETY: pointers from the caller, checked for NULL.
        let data = unsafe { out_ptr(lpWSPData, "lpWSPData") }?;
        let table = unsafe { out_ptr(lpProcTable, "lpProcTable") }?;
        let (major, minor) = (wVersionRequested & 0xff, wVersionRequested >> 8);
        if (major, minor) < (2, 2) {
            return Err(Failure::new(
                WsaError::VerNotSupported,
                format!("version {major}.{minor} requested, 2.2 is the lowest served"),
            ));
        }
        // SAFETY: NULL or the caller's catalog entry.
        let catalog_entry = unsafe { lpProtocolInfo.as_ref() }.map_or(0, |p| p.dwCatalogEntryId);
        let provider = crate::startup::provider()?;
        if provider.in_condition() {
            return Err(Failure::new(WsaError::InProgress, "called from a condition function (A14)"));
        }
        let g = global();
        let mut session = g.session();
        while let Some(closer) = session.closing {
            if closer == std::thread::current().id() {
                // An upcall of the last cleanup: waiting for that cleanup would never end.
                return Err(Failure::new(WsaError::InProgress, "called from an upcall of the last WSPCleanup"));
            }
            session = g.closed.wait(session).unwrap_or_else(PoisonError::into_inner);
        }
        if session.count == 0 {
            // A new session: its upcall table is used until the last cleanup.
            on_new_session();
            session.upcalls = Some(UpcallTable);
            let hooks = UpcallTable.lpWPUCreateSocketHandle.map(|create| {
                Arc::new(SwitchHooks { create, close: UpcallTable.lpWPUCloseSocketHandle, catalog_entry })
                    as Arc<dyn SocketHooks>
            });
            provider.set_hooks(hooks);
        }
        session.count += 1;
        g.started.store(session.count, Ordering::Release);
        drop(session);
        data.wVersion = VERSION_2_2;
        data.wHighVersion = VERSION_2_2;
        data.szDescription = utf16_description();
        *table = PROC_TABLE;
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(f) => f.code,
    }
}

/// Undo one `WSPStartup` (SPEC X1, X2); the last one closes every socket (descriptors are never reused), with no lock held while the switch's upcalls run; from a condition function it fails with WSAEINPROGRESS and undoes nothing (A14).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPCleanup(lpErrno: LPINT) -> c_int {
    // SAFETY: lpErrno is checked by the boundary.
    unsafe { cleanup_with(lpErrno, || {}) }
}

/// Ends the closing state of the session however the last cleanup leaves (a panic included).
struct Closing<'a> {
    g: &'a Global,
    /// Whether every socket was closed: the session ends. Otherwise it stays as it was.
    ended: bool,
}

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        let mut session = self.g.session();
        if self.ended {
            session.count = 0;
            session.upcalls = None;
        } else {
            self.g.started.store(session.count, Ordering::Release);
        }
        session.closing = None;
        drop(session);
        self.g.closed.notify_all();
    }
}

/// `wspsan_WSPCleanup` for Rust callers of this library (the Python module): `on_session_end`
/// runs when this call ends the session, after every socket is closed and before another
/// startup can begin; it must not call wspsan.
///
/// # Safety
/// `lpErrno` as `wspsan_WSPCleanup` documents it.
pub unsafe fn cleanup_with(lpErrno: LPINT, on_session_end: impl FnOnce()) -> c_int {
    // SAFETY: lpErrno is checked by the boundary.
    unsafe {
        wsp("wspsan_WSPCleanup", lpErrno, SOCKET_ERROR, |p| {
            if p.in_condition() {
                return Err(WsaError::InProgress.into()); // A14, before anything changes
            }
            let g = global();
            let mut session = g.session();
            if session.count == 0 || session.closing.is_some() {
                return Err(WsaError::NotInitialised.into()); // the last cleanup is already under way
            }
            if session.count > 1 {
                session.count -= 1;
                g.started.store(session.count, Ordering::Release);
                return Ok(0);
            }
            // The last cleanup: new calls see WSANOTINITIALISED from now on; the sockets are
            // closed with the session's upcalls still installed and the lock released (T1).
            session.closing = Some(std::thread::current().id());
            g.started.store(0, Ordering::Release);
            drop(session);
            let mut closing = Closing { g, ended: false };
            p.close_all()?; // cannot fail: A14 was checked above (Closing would restore anyway)
            p.set_hooks(None);
            closing.ended = true;
            on_session_end(); // still closing: no startup can begin yet
            drop(closing);
            Ok(0)
        })
    }
}

/// The switch's handle for socket `s` (SPEC X5): what `WPUCreateSocketHandle` returned, or `s` itself when the switch gave no `lpWPUCreateSocketHandle`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_switch_handle(s: SOCKET, out: *mut SOCKET, lpErrno: LPINT) -> c_int {
    // SAFETY: pointers checked by the boundary.
    unsafe {
        wsp("wspsan_switch_handle", lpErrno, SOCKET_ERROR, |p| {
            let context = p.context(descriptor(s))?; // X4: the descriptor before the pointer
            let out = out_ptr(out, "out")?;
            *out = if has_switch_handles() { context as SOCKET } else { s };
            Ok(0)
        })
    }
}

/// Every entry filled, Windows order (SPEC X1).
const PROC_TABLE: WSPPROC_TABLE = WSPPROC_TABLE {
    lpWSPAccept: Some(crate::accept::wspsan_WSPAccept),
    lpWSPAddressToString: Some(unsupported::address_to_string),
    lpWSPAsyncSelect: Some(unsupported::async_select),
    lpWSPBind: Some(crate::socket::wspsan_WSPBind),
    lpWSPCancelBlockingCall: Some(unsupported::cancel_blocking_call),
    lpWSPCleanup: Some(wspsan_WSPCleanup),
    lpWSPCloseSocket: Some(crate::socket::wspsan_WSPCloseSocket),
    lpWSPConnect: Some(crate::connect::wspsan_WSPConnect),
    lpWSPDuplicateSocket: Some(unsupported::duplicate_socket),
    lpWSPEnumNetworkEvents: Some(crate::events::wspsan_WSPEnumNetworkEvents),
    lpWSPEventSelect: Some(crate::events::wspsan_WSPEventSelect),
    lpWSPGetOverlappedResult: Some(unsupported::get_overlapped_result),
    lpWSPGetPeerName: Some(crate::socket::wspsan_WSPGetPeerName),
    lpWSPGetSockName: Some(crate::socket::wspsan_WSPGetSockName),
    lpWSPGetSockOpt: Some(crate::options::wspsan_WSPGetSockOpt),
    lpWSPGetQOSByName: Some(unsupported::get_qos_by_name),
    lpWSPIoctl: Some(crate::options::wspsan_WSPIoctl),
    lpWSPJoinLeaf: Some(unsupported::join_leaf),
    lpWSPListen: Some(crate::listen::wspsan_WSPListen),
    lpWSPRecv: Some(unsupported::recv),
    lpWSPRecvDisconnect: Some(unsupported::recv_disconnect),
    lpWSPRecvFrom: Some(unsupported::recv_from),
    lpWSPSelect: Some(unsupported::select),
    lpWSPSend: Some(unsupported::send),
    lpWSPSendDisconnect: Some(unsupported::send_disconnect),
    lpWSPSendTo: Some(unsupported::send_to),
    lpWSPSetSockOpt: Some(crate::options::wspsan_WSPSetSockOpt),
    lpWSPShutdown: Some(unsupported::shutdown),
    lpWSPSocket: Some(crate::socket::wspsan_WSPSocket),
    lpWSPStringToAddress: Some(unsupported::string_to_address),
};

/// The table entries this provider does not implement: each fails with `WSAEOPNOTSUPP` (after
/// the `WSANOTINITIALISED` check every WSP call makes, and `WSAEINPROGRESS` from inside a
/// condition function, A14). Not exported: reached through the table.
#[allow(unused_variables)]
mod unsupported {
    use super::*;

    unsafe fn fail<T>(function: &'static str, lp_errno: LPINT, failed: T) -> T {
        // SAFETY: lp_errno is checked by the boundary.
        unsafe {
            wsp(function, lp_errno, failed, |p| {
                if p.in_condition() {
                    return Err(WsaError::InProgress.into()); // A14 holds for every WSP function
                }
                Err(Failure::new(WsaError::OpNotSupp, "connection setup only: this provider moves no data"))
            })
        }
    }

    pub(super) unsafe extern "C" fn address_to_string(
        lpsaAddress: *mut libc::sockaddr,
        dwAddressLength: DWORD,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpszAddressString: LPWSTR,
        lpdwAddressStringLength: LPDWORD,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPAddressToString", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn async_select(
        s: SOCKET,
        hWnd: HWND,
        wMsg: c_uint,
        lEvent: LONG,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPAsyncSelect", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn cancel_blocking_call(lpErrno: LPINT) -> c_int {
        unsafe { fail("WSPCancelBlockingCall", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn duplicate_socket(
        s: SOCKET,
        dwProcessId: DWORD,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPDuplicateSocket", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn get_overlapped_result(
        s: SOCKET,
        lpOverlapped: LPWSAOVERLAPPED,
        lpcbTransfer: LPDWORD,
        fWait: BOOL,
        lpdwFlags: LPDWORD,
        lpErrno: LPINT,
    ) -> BOOL {
        unsafe { fail("WSPGetOverlappedResult", lpErrno, WSPSAN_FALSE) }
    }

    pub(super) unsafe extern "C" fn get_qos_by_name(
        s: SOCKET,
        lpQOSName: LPWSABUF,
        lpQOS: LPQOS,
        lpErrno: LPINT,
    ) -> BOOL {
        unsafe { fail("WSPGetQOSByName", lpErrno, WSPSAN_FALSE) }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn join_leaf(
        s: SOCKET,
        name: *const libc::sockaddr,
        namelen: c_int,
        lpCallerData: LPWSABUF,
        lpCalleeData: LPWSABUF,
        lpSQOS: LPQOS,
        lpGQOS: LPQOS,
        dwFlags: DWORD,
        lpErrno: LPINT,
    ) -> SOCKET {
        unsafe { fail("WSPJoinLeaf", lpErrno, INVALID_SOCKET) }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn recv(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesRecvd: LPDWORD,
        lpFlags: LPDWORD,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPRecv", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn recv_disconnect(
        s: SOCKET,
        lpInboundDisconnectData: LPWSABUF,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPRecvDisconnect", lpErrno, SOCKET_ERROR) }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn recv_from(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesRecvd: LPDWORD,
        lpFlags: LPDWORD,
        lpFrom: *mut libc::sockaddr,
        lpFromlen: LPINT,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPRecvFrom", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn select(
        nfds: c_int,
        readfds: LPWSPSAN_FD_SET,
        writefds: LPWSPSAN_FD_SET,
        exceptfds: LPWSPSAN_FD_SET,
        timeout: *const WSPSAN_TIMEVAL,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPSelect", lpErrno, SOCKET_ERROR) }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn send(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesSent: LPDWORD,
        dwFlags: DWORD,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPSend", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn send_disconnect(
        s: SOCKET,
        lpOutboundDisconnectData: LPWSABUF,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPSendDisconnect", lpErrno, SOCKET_ERROR) }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn send_to(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesSent: LPDWORD,
        dwFlags: DWORD,
        lpTo: *const libc::sockaddr,
        iTolen: c_int,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPSendTo", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn shutdown(s: SOCKET, how: c_int, lpErrno: LPINT) -> c_int {
        unsafe { fail("WSPShutdown", lpErrno, SOCKET_ERROR) }
    }

    pub(super) unsafe extern "C" fn string_to_address(
        AddressString: LPWSTR,
        AddressFamily: c_int,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpAddress: *mut libc::sockaddr,
        lpAddressLength: LPINT,
        lpErrno: LPINT,
    ) -> c_int {
        unsafe { fail("WSPStringToAddress", lpErrno, SOCKET_ERROR) }
    }
}

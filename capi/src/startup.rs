//! The process-wide provider, counted `WSPStartup` / `WSPCleanup` (SPEC X1, X2), the
//! upcalls into the switch (X5) and the procedure table.

use crate::boundary::{Failure, Outcome, descriptor, guarded, out_ptr, wsp};
use crate::types::*;
use core::ffi::{c_int, c_uint};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use wspsan_core::{Descriptor, Provider, SocketHooks, WsaError};

/// The one provider behind the C ABI, and what startup recorded.
struct Global {
    provider: Provider,
    /// Startups not yet undone by a cleanup; read on every call (X2).
    started: AtomicU32,
    /// Held only by startup and cleanup.
    session: Mutex<Session>,
}

/// What the first startup of a session recorded.
#[derive(Clone, Copy)]
struct Session {
    upcalls: Option<WSPUPCALLTABLE>,
    catalog_entry: DWORD,
}

// SAFETY: the table holds only function pointers (Send + Sync by themselves); Option<fn> wraps them.
unsafe impl Send for Session {}

static GLOBAL: OnceLock<Global> = OnceLock::new();

fn global() -> &'static Global {
    GLOBAL.get_or_init(|| Global {
        provider: Provider::new(),
        started: AtomicU32::new(0),
        session: Mutex::new(Session { upcalls: None, catalog_entry: 0 }),
    })
}

/// The process-wide provider, whether or not it is started (device control, statistics).
pub(crate) fn provider() -> &'static Provider {
    &global().provider
}

/// The provider, if `WSPStartup` is in force (SPEC X2).
pub(crate) fn started() -> Outcome<&'static Provider> {
    let g = global();
    if g.started.load(Ordering::Acquire) == 0 {
        return Err(WsaError::NotInitialised.into());
    }
    Ok(&g.provider)
}

/// The upcall table of the session in force, if the switch gave one.
pub(crate) fn upcalls() -> Option<WSPUPCALLTABLE> {
    global().session.lock().unwrap_or_else(PoisonError::into_inner).upcalls
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

/// Start the provider (SPEC X1): fills `*lpWSPData` and every entry of `*lpProcTable`; returns 0 or the error code (WSAVERNOTSUPPORTED below 2.2, WSAEFAULT for NULL pointers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPStartup(
    wVersionRequested: WORD,
    lpWSPData: LPWSPDATA,
    lpProtocolInfo: LPWSAPROTOCOL_INFOW,
    UpcallTable: WSPUPCALLTABLE,
    lpProcTable: LPWSPPROC_TABLE,
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
        let g = global();
        let mut session = g.session.lock().unwrap_or_else(PoisonError::into_inner);
        if g.started.load(Ordering::Acquire) == 0 {
            // A new session: its upcall table is used until the last cleanup.
            *session = Session { upcalls: Some(UpcallTable), catalog_entry };
            let hooks = UpcallTable.lpWPUCreateSocketHandle.map(|create| {
                Arc::new(SwitchHooks { create, close: UpcallTable.lpWPUCloseSocketHandle, catalog_entry })
                    as Arc<dyn SocketHooks>
            });
            g.provider.set_hooks(hooks);
        }
        g.started.fetch_add(1, Ordering::AcqRel);
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

/// Undo one `WSPStartup` (SPEC X1, X2); the last one closes every socket (descriptors are never reused).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPCleanup(lpErrno: LPINT) -> c_int {
    // SAFETY: lpErrno is checked by the boundary.
    unsafe {
        wsp("wspsan_WSPCleanup", lpErrno, SOCKET_ERROR, |p| {
            let g = global();
            let mut session = g.session.lock().unwrap_or_else(PoisonError::into_inner);
            match g.started.load(Ordering::Acquire) {
                0 => return Err(WsaError::NotInitialised.into()),
                1 => {
                    // Last cleanup: new calls see WSANOTINITIALISED from now on; the sockets are
                    // closed with the session's upcalls still installed, then the session ends.
                    g.started.store(0, Ordering::Release);
                    if let Err(e) = p.close_all() {
                        g.started.store(1, Ordering::Release); // A14: from a condition function
                        return Err(e.into());
                    }
                    p.set_hooks(None);
                    session.upcalls = None;
                    session.catalog_entry = 0;
                }
                _ => {
                    g.started.fetch_sub(1, Ordering::AcqRel);
                }
            }
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
            let out = out_ptr(out, "out")?;
            let context = p.context(descriptor(s))?;
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
/// the `WSANOTINITIALISED` check every WSP call makes). Not exported: reached through the table.
#[allow(unused_variables)]
mod unsupported {
    use super::*;

    unsafe fn fail<T>(function: &'static str, lp_errno: LPINT, failed: T) -> T {
        // SAFETY: lp_errno is checked by the boundary.
        unsafe {
            wsp(function, lp_errno, failed, |_| {
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

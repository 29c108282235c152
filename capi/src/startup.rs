//! `WSPStartup` (SPEC X1) and the switch's handle of a socket (X5): the top of the crate.

use crate::boundary::{Failure, descriptor, errno_out, guarded, out_ref, wsp};
use crate::procs::PROC_TABLE;
use crate::session::{self, SessionExtra, has_switch_handles};
use crate::types::*;
use core::ffi::c_int;
use wspsan_core::WsaError;

/// The lowest SPI version served: 2.2, as `MAKEWORD(2, 2)`.
const VERSION_2_2: WORD = 0x0202;

fn utf16_description() -> [WCHAR; WSPDESCRIPTION_LEN + 1] {
    let mut out = [0; WSPDESCRIPTION_LEN + 1];
    let text = concat!(
        "wspsan ",
        env!("CARGO_PKG_VERSION"),
        ": Winsock SAN provider connection setup over emulated SAN devices on fabrics ",
        "(in-process, TCP, or a provider's own transport)"
    );
    for (slot, unit) in out[..WSPDESCRIPTION_LEN].iter_mut().zip(text.encode_utf16()) {
        *slot = unit;
    }
    out
}

/// Start the provider (SPEC X1): fills `*lpWSPData` and every entry of `*lpProcTable`; returns 0 or
/// the error code (WSAVERNOTSUPPORTED below 2.2, WSAEFAULT for NULL pointers, WSAEINPROGRESS from
/// an upcall made by the last WSPCleanup; on another thread a startup waits for that cleanup to
/// end).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPStartup(
    wVersionRequested: WORD,
    lpWSPData: LPWSPDATA,
    lpProtocolInfo: LPWSAPROTOCOL_INFOW,
    UpcallTable: WSPUPCALLTABLE,
    lpProcTable: LPWSPPROC_TABLE,
) -> c_int {
    // SAFETY: the caller's pointers under the header's contract, which is startup_with's.
    unsafe { startup_with(wVersionRequested, lpWSPData, lpProtocolInfo, UpcallTable, lpProcTable, None) }
}

/// `wspsan_WSPStartup` for Rust callers of this library (the Python module): a call that begins
/// a session also gives it `extra`, which the session keeps until its last cleanup
/// ([`session_extra`](crate::session_extra) reads it, from the session's upcalls for example;
/// [`cleanup_with`](crate::cleanup_with) hands it back). A call that joins the session in force
/// drops `extra`.
///
/// # Safety
/// The pointers as `wspsan_WSPStartup` documents them.
pub unsafe fn startup_with(
    wVersionRequested: WORD,
    lpWSPData: LPWSPDATA,
    lpProtocolInfo: LPWSAPROTOCOL_INFOW,
    UpcallTable: WSPUPCALLTABLE,
    lpProcTable: LPWSPPROC_TABLE,
    extra: Option<SessionExtra>,
) -> c_int {
    let result = guarded("wspsan_WSPStartup", || {
        let data = out_ref!(lpWSPData, "lpWSPData")?;
        let table = out_ref!(lpProcTable, "lpProcTable")?;
        let (major, minor) = (wVersionRequested & 0xff, wVersionRequested >> 8);
        if (major, minor) < (2, 2) {
            return Err(Failure::new(
                WsaError::VerNotSupported,
                format!("version {major}.{minor} requested, 2.2 is the lowest served"),
            ));
        }
        // SAFETY: lpProtocolInfo is NULL or the caller's WSAPROTOCOL_INFOW, readable for the call
        // (the header's contract).
        let catalog_entry = unsafe { lpProtocolInfo.as_ref() }.map_or(0, |p| p.dwCatalogEntryId);
        let provider = session::provider()?;
        drop(session::begin(provider, UpcallTable, catalog_entry, extra)?);
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

/// The switch's handle for socket `s` (SPEC X5): what `WPUCreateSocketHandle` returned, or `s`
/// itself when the switch gave no `lpWPUCreateSocketHandle`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_switch_handle(s: SOCKET, out: *mut SOCKET, lpErrno: LPINT) -> c_int {
    wsp("wspsan_switch_handle", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let context = p.context(descriptor(s))?; // X4: the descriptor before the pointer
        let out = out_ref!(out, "out")?;
        *out = if has_switch_handles() { context as SOCKET } else { s };
        Ok(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_wsaenetdown_with_its_message_kept() {
        // SPEC X4: the boundary catches the panic; lpErrno gets WSAENETDOWN; the message stays.
        // SAFETY: zeroed plain C structs; live locals for every pointer.
        let rc = unsafe {
            let mut data: WSPDATA = std::mem::zeroed();
            let mut table: WSPPROC_TABLE = std::mem::zeroed();
            let upcalls: WSPUPCALLTABLE = std::mem::zeroed();
            wspsan_WSPStartup(0x0202, &mut data, std::ptr::null_mut(), upcalls, &mut table)
        };
        assert_eq!(rc, 0);
        let mut err: c_int = 0;
        let rc = crate::boundary::wsp(
            "test_export",
            errno_out!(&mut err),
            SOCKET_ERROR,
            |_| -> crate::failure::Outcome<c_int> { panic!("engine invariant broken") },
        );
        assert_eq!((rc, err), (SOCKET_ERROR, WsaError::NetDown.code()));
        let (code, message) = crate::boundary::last_error().expect("the failure is remembered");
        assert_eq!(code, WsaError::NetDown.code());
        assert!(message.contains("test_export"), "{message}");
        assert!(message.contains("engine invariant broken"), "{message}");
        // Success leaves lpErrno untouched (SPEC X3).
        let mut untouched: c_int = 7;
        let rc = crate::boundary::wsp("test_export", errno_out!(&mut untouched), SOCKET_ERROR, |_| Ok(0));
        assert_eq!((rc, untouched), (0, 7));
    }
}

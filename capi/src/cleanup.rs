//! `WSPCleanup` (SPEC X1, X2): the counting is the session's.

use crate::boundary::wsp;
use crate::session;
use crate::types::*;
use core::ffi::c_int;

/// Undo one `WSPStartup` (SPEC X1, X2); the last one closes every socket (descriptors are never reused), with no lock held while the switch's upcalls run; from a condition function it fails with WSAEINPROGRESS and undoes nothing (A14).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPCleanup(lpErrno: LPINT) -> c_int {
    // SAFETY: lpErrno is checked by the boundary.
    unsafe { cleanup_with(lpErrno, || {}) }
}

/// `wspsan_WSPCleanup` for Rust callers of this library (the Python module): `on_session_end`
/// runs when this call ends the session, after every socket is closed and before another
/// startup can begin; it must not call wspsan.
///
/// # Safety
/// `lpErrno` as `wspsan_WSPCleanup` documents it.
pub unsafe fn cleanup_with(lpErrno: LPINT, on_session_end: impl FnOnce()) -> c_int {
    // SAFETY: lpErrno is checked by the boundary.
    unsafe { wsp("wspsan_WSPCleanup", lpErrno, SOCKET_ERROR, |p| session::end(p, on_session_end)) }
}

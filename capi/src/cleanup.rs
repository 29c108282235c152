//! `WSPCleanup` (SPEC X1, X2): the counting is the session's.

use crate::boundary::{errno_out, wsp};
use crate::session::{self, SessionExtra};
use crate::types::*;
use core::ffi::c_int;

/// Undo one `WSPStartup` (SPEC X1, X2); the last one closes every socket (descriptors are never
/// reused), with no lock held while the switch's upcalls run; from a condition function it fails
/// with WSAEINPROGRESS and undoes nothing (A14).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPCleanup(lpErrno: LPINT) -> c_int {
    // SAFETY: the caller's lpErrno, under the same contract (NULL or a writable int).
    unsafe { cleanup_with(lpErrno) }.0
}

/// `wspsan_WSPCleanup` for Rust callers of this library (the Python module): also hands back
/// the extra of the session this call ended (see [`startup_with`](crate::startup_with)), for the
/// caller to drop where it chooses.
///
/// # Safety
/// `lpErrno` as `wspsan_WSPCleanup` documents it.
pub unsafe fn cleanup_with(lpErrno: LPINT) -> (c_int, Option<SessionExtra>) {
    let mut ended = None;
    let rc = wsp("wspsan_WSPCleanup", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        ended = session::end(p)?;
        Ok(0)
    });
    (rc, ended)
}

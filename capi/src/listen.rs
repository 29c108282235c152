//! `WSPListen` (SPEC L1 to L10): the backlog rules all live in the engine.

use crate::boundary::{descriptor, errno_out, wsp};
use crate::types::*;
use core::ffi::c_int;

/// Listen on bound socket `s` (SPEC L1 to L9): any backlog is legal (SOMAXCONN, SOMAXCONN_HINT(n),
/// clamped); again on a listener replaces the backlog.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPListen(s: SOCKET, backlog: c_int, lpErrno: LPINT) -> c_int {
    wsp("wspsan_WSPListen", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        p.listen(descriptor(s), backlog)?;
        Ok(0)
    })
}

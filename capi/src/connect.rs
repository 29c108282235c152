//! `WSPConnect` (SPEC C1 to C7).

use crate::boundary::{Outcome, checked_after_state, descriptor, fault, read_qos, read_sockaddr, wsabuf_bytes, wsp};
use crate::types::*;
use core::ffi::c_int;
use wspsan_core::{Call, ConnectParams};

/// The caller's callee-data buffer, checked before the connect starts (SPEC C5) and kept as raw
/// pointers: it may overlap the caller data, so no Rust reference to it lives across the call.
struct CalleeBuffer {
    wsabuf: LPWSABUF,
    buf: *mut u8,
    len: usize,
}

impl CalleeBuffer {
    /// NULL gives `None`; a NULL `buf` with a length is `WSAEFAULT`.
    unsafe fn new(b: LPWSABUF) -> Outcome<Option<CalleeBuffer>> {
        if b.is_null() {
            return Ok(None);
        }
        // SAFETY: the caller's WSABUF, read by value.
        let WSABUF { len, buf } = unsafe { b.read() };
        if len != 0 && buf.is_null() {
            return Err(fault(format!("lpCalleeData->buf is NULL with len {len}")));
        }
        Ok(Some(CalleeBuffer { wsabuf: b, buf: buf.cast(), len: len as usize }))
    }

    /// C5: the first `len` bytes of `data`, and `len` = the bytes written.
    unsafe fn fill(&self, data: &[u8]) {
        let n = data.len().min(self.len);
        // SAFETY: `len` writable bytes at `buf`, as the caller promised; ptr::copy allows the
        // buffer to overlap anything of the caller's; the WSABUF is written through its pointer.
        unsafe {
            if n > 0 {
                std::ptr::copy(data.as_ptr(), self.buf, n);
            }
            (&raw mut (*self.wsabuf).len).write(n as ULONG);
        }
    }
}

/// Connect `s` to a listener (SPEC C1 to C7): blocking waits for the condition function's answer;
/// non-blocking fails with WSAEWOULDBLOCK and answers by FD_CONNECT / SO_ERROR (a queued attempt
/// clears the previous SO_ERROR); `lpCalleeData->len` in = buffer size, out = bytes written. A
/// listening, connected or connecting socket fails (WSAEINVAL, WSAEISCONN, WSAEALREADY) before the
/// pointers are looked at (X4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPConnect(
    s: SOCKET,
    name: *const libc::sockaddr,
    namelen: c_int,
    lpCallerData: LPWSABUF,
    lpCalleeData: LPWSABUF,
    lpSQOS: LPQOS,
    lpGQOS: LPQOS,
    lpErrno: LPINT,
) -> c_int {
    let _ = lpGQOS; // groups are not supported; the group QoS has nowhere to go
    // SAFETY: pointers checked by the boundary.
    unsafe {
        wsp("wspsan_WSPConnect", lpErrno, SOCKET_ERROR, |p| {
            let args = || -> Outcome<_> {
                let addr = read_sockaddr(name, namelen)?;
                // Copied before the call: the caller's buffers may overlap the callee-data buffer.
                let caller_data = match lpCallerData.as_ref() {
                    Some(b) => Some(wsabuf_bytes(b, "lpCallerData")?.to_vec()),
                    None => None,
                };
                let qos = match lpSQOS.as_ref() {
                    Some(q) => Some(read_qos(q)?),
                    None => None,
                };
                Ok((addr, caller_data, qos, CalleeBuffer::new(lpCalleeData)?))
            };
            let (addr, caller_data, qos, callee) = checked_after_state(p, s, Call::Connect, args())?;
            let params = ConnectParams { caller_data: caller_data.as_deref(), qos: qos.as_ref() };
            let data = p.connect(descriptor(s), addr, params)?;
            if let Some(callee) = callee {
                callee.fill(&data);
            }
            Ok(0)
        })
    }
}

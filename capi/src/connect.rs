//! `WSPConnect` (SPEC C1 to C7).

use crate::boundary::{
    Outcome, checked_after_state, descriptor, errno_out, fault, read_qos, read_sockaddr, wsabuf_bytes, wsp,
};
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
    ///
    /// # Safety
    /// `b` is NULL or a WSABUF writable for as long as the result lives, over `len` writable
    /// bytes at `buf`.
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
    fn fill(&self, data: &[u8]) {
        let n = data.len().min(self.len);
        // SAFETY: `len` writable bytes at `buf` and a writable WSABUF, as `new`'s caller promised;
        // ptr::copy allows the buffer to overlap anything of the caller's; the WSABUF is written
        // through its pointer, with no reference to it.
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
    wsp("wspsan_WSPConnect", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let args = || -> Outcome<_> {
            // SAFETY: name is NULL or `namelen` readable bytes, as the header documents.
            let addr = unsafe { read_sockaddr(name, namelen) }?;
            // Copied before the call: the caller's buffers may overlap the callee-data buffer.
            // SAFETY: lpCallerData is NULL or the caller's WSABUF, readable for the call.
            let caller_data = match unsafe { lpCallerData.as_ref() } {
                // SAFETY: a WSABUF of the caller's describes `len` readable bytes at `buf`.
                Some(b) => Some(unsafe { wsabuf_bytes(b, "lpCallerData") }?.to_vec()),
                None => None,
            };
            // SAFETY: lpSQOS is NULL or the caller's QOS, readable for the call.
            let qos = match unsafe { lpSQOS.as_ref() } {
                // SAFETY: the QOS's ProviderSpecific WSABUF describes its own readable bytes.
                Some(q) => Some(unsafe { read_qos(q) }?),
                None => None,
            };
            // SAFETY: lpCalleeData is NULL or the caller's WSABUF over `len` writable bytes, both
            // writable for the call, as the header documents.
            let callee = unsafe { CalleeBuffer::new(lpCalleeData) }?;
            Ok((addr, caller_data, qos, callee))
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

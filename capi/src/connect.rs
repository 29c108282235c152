//! `WSPConnect` (SPEC C1 to C7).

use crate::boundary::{Outcome, descriptor, fault, read_qos, read_sockaddr, wsabuf_bytes, wsp};
use crate::types::*;
use core::ffi::c_int;
use wspsan_core::ConnectParams;

/// The caller's callee-data buffer, checked before the connect starts (SPEC C5).
unsafe fn callee_buffer<'a>(b: LPWSABUF) -> Outcome<Option<(&'a mut WSABUF, &'a mut [u8])>> {
    // SAFETY: NULL or the caller's WSABUF.
    let Some(b) = (unsafe { b.as_mut() }) else {
        return Ok(None);
    };
    let bytes: &mut [u8] = if b.len == 0 {
        &mut []
    } else if b.buf.is_null() {
        return Err(fault(format!("lpCalleeData->buf is NULL with len {}", b.len)));
    } else {
        // SAFETY: the caller promises `len` writable bytes at `buf`.
        unsafe { std::slice::from_raw_parts_mut(b.buf.cast::<u8>(), b.len as usize) }
    };
    Ok(Some((b, bytes)))
}

/// Connect `s` to a listener (SPEC C1 to C7): blocking waits for the condition function's answer; non-blocking fails with WSAEWOULDBLOCK and answers by FD_CONNECT / SO_ERROR; `lpCalleeData->len` in = buffer size, out = bytes written.
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
            let addr = read_sockaddr(name, namelen)?;
            // C5: no caller data when the WSABUF is NULL or empty.
            let caller_data = match lpCallerData.as_ref() {
                Some(b) => Some(wsabuf_bytes(b, "lpCallerData")?).filter(|d| !d.is_empty()),
                None => None,
            };
            let qos = match lpSQOS.as_ref() {
                Some(q) => Some(read_qos(q)?),
                None => None,
            };
            let callee = callee_buffer(lpCalleeData)?;
            let data = p.connect(descriptor(s), addr, ConnectParams { caller_data, qos: qos.as_ref() })?;
            if let Some((wsabuf, buffer)) = callee {
                // C5: too small a buffer keeps the first `len` bytes.
                let n = data.len().min(buffer.len());
                buffer[..n].copy_from_slice(&data[..n]);
                wsabuf.len = n as ULONG;
            }
            Ok(0)
        })
    }
}

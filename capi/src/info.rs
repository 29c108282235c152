//! Diagnostics: `wspsan_strerror`, `wspsan_last_error_message`, `wspsan_version`.

use crate::boundary::{fault, guarded, last_error};
use core::ffi::{c_char, c_int};
use libc::size_t;
use std::ffi::CString;
use std::sync::OnceLock;
use wspsan_core::WsaError;

/// `wspsan_version()`: the crate version from Cargo.toml.
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// One static string per known code, made once.
fn messages() -> &'static [(c_int, CString)] {
    static MESSAGES: OnceLock<Vec<(c_int, CString)>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        WsaError::ALL
            .iter()
            .map(|e| {
                let text = format!("{}: {}", e.name(), e.message());
                (e.code(), CString::new(text).unwrap_or_default())
            })
            .collect()
    })
}

/// A static description of error `code`, e.g. "WSAECONNREFUSED: The connection was refused."; never
/// NULL, never to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn wspsan_strerror(code: c_int) -> *const c_char {
    let found = guarded("wspsan_strerror", || Ok(messages().iter().find(|(c, _)| *c == code).map(|(_, m)| m.as_ptr())));
    match found {
        Ok(Some(m)) => m,
        Ok(None) if code == 0 => c"no error".as_ptr(),
        _ => c"unknown error".as_ptr(),
    }
}

/// Copy this thread's last failure message (function, error, detail; caught panics too) into `buf`
/// as a NUL-terminated string cut to `len` bytes, its full length into `*out_len` when not NULL; ""
/// when none; returns 0, or WSAEFAULT for a NULL `buf` with `len` > 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_last_error_message(buf: *mut c_char, len: size_t, out_len: *mut size_t) -> c_int {
    let copied = guarded("wspsan_last_error_message", || {
        if buf.is_null() && len > 0 {
            return Err(fault("buf is NULL"));
        }
        let message = last_error().map(|(_, m)| m).unwrap_or_default();
        if len > 0 {
            let n = message.len().min(len - 1);
            // SAFETY: `len` writable bytes at `buf`, as the caller promises.
            unsafe {
                std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), n);
                buf.add(n).write(0);
            }
        }
        // SAFETY: NULL or a valid size_t pointer.
        if let Some(out) = unsafe { out_len.as_mut() } {
            *out = message.len();
        }
        Ok(())
    });
    match copied {
        Ok(()) => 0,
        Err(f) => f.code,
    }
}

/// The library version, "MAJOR.MINOR.PATCH" (the same as WSPSAN_VERSION_STRING); static.
#[unsafe(no_mangle)]
pub extern "C" fn wspsan_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

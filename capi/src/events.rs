//! Event objects and network events: `WSPEventSelect`, `WSPEnumNetworkEvents`,
//! `wspsan_WSACreateEvent`, `wspsan_WSACloseEvent` (SPEC section 8).

use crate::boundary::{Failure, Outcome, descriptor, fault, guarded, out_ptr, wsp};
use crate::eventfd::{EventFd, FdSignal};
use crate::startup;
use crate::types::*;
use core::ffi::c_int;
use std::sync::Arc;
use wspsan_core::{EventHandle, Signal, WsaError};

/// A `WSAEVENT` as the engine signals it: through the switch's `WPUSetEvent` / `WPUResetEvent`
/// when its upcall table has them, else by writing or draining the eventfd the handle holds.
struct EventObject {
    handle: usize,
    set: LPWPUSETEVENT,
    reset: LPWPURESETEVENT,
}

impl EventObject {
    /// The event object for `h` (NULL: none), with the upcalls of the session in force.
    fn from_handle(h: WSAEVENT) -> Outcome<Option<EventHandle>> {
        if h.is_null() {
            return Ok(None);
        }
        let upcalls = startup::upcalls();
        let set = upcalls.and_then(|u| u.lpWPUSetEvent);
        let reset = upcalls.and_then(|u| u.lpWPUResetEvent);
        let handle = h as usize;
        if (set.is_none() || reset.is_none()) && c_int::try_from(handle).is_err() {
            return Err(Failure::new(
                WsaError::Inval,
                format!("event handle {handle:#x} does not hold a file descriptor"),
            ));
        }
        Ok(Some(Arc::new(EventObject { handle, set, reset })))
    }

    fn fd(&self) -> FdSignal {
        FdSignal(self.handle as c_int)
    }
}

impl Signal for EventObject {
    fn set(&self) {
        match self.set {
            Some(set) => {
                let mut err = 0;
                // SAFETY: the switch's upcall on the handle it passed in.
                unsafe { set(self.handle as WSAEVENT, &mut err) };
            }
            None => self.fd().set(),
        }
    }

    fn reset(&self) {
        match self.reset {
            Some(reset) => {
                let mut err = 0;
                // SAFETY: as in set.
                unsafe { reset(self.handle as WSAEVENT, &mut err) };
            }
            None => self.fd().reset(),
        }
    }
}

/// Select `lNetworkEvents` (FD_* bits, 0 cancels) on `s` to signal `hEventObject`; makes `s` non-blocking and signals at once for events already recorded (SPEC E1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPEventSelect(
    s: SOCKET,
    hEventObject: WSAEVENT,
    lNetworkEvents: LONG,
    lpErrno: LPINT,
) -> c_int {
    // SAFETY: pointers checked by the boundary.
    unsafe {
        wsp("wspsan_WSPEventSelect", lpErrno, SOCKET_ERROR, |p| {
            let event = EventObject::from_handle(hEventObject)?;
            p.event_select(descriptor(s), event, lNetworkEvents as u32)?;
            Ok(0)
        })
    }
}

/// Report and clear the events recorded on `s` into `*lpNetworkEvents` (iErrorCode written only for reported bits), resetting `hEventObject` when not NULL (SPEC E4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPEnumNetworkEvents(
    s: SOCKET,
    hEventObject: WSAEVENT,
    lpNetworkEvents: LPWSANETWORKEVENTS,
    lpErrno: LPINT,
) -> c_int {
    // SAFETY: pointers checked by the boundary.
    unsafe {
        wsp("wspsan_WSPEnumNetworkEvents", lpErrno, SOCKET_ERROR, |p| {
            let out = out_ptr(lpNetworkEvents, "lpNetworkEvents")?;
            let event = EventObject::from_handle(hEventObject)?;
            let recorded = p.enum_network_events(descriptor(s), event.as_ref())?;
            out.lNetworkEvents = recorded.events as LONG;
            for bit in 0..FD_MAX_EVENTS {
                if let Some(code) = recorded.error(bit) {
                    out.iErrorCode[bit] = code;
                }
            }
            Ok(0)
        })
    }
}

/// Create an event object: a non-blocking eventfd in the reset state, as `(WSAEVENT)(intptr_t)fd`; NULL on failure (see wspsan_last_error_message).
#[unsafe(no_mangle)]
pub extern "C" fn wspsan_WSACreateEvent() -> WSAEVENT {
    let made = guarded("wspsan_WSACreateEvent", || {
        let event = EventFd::new().map_err(|e| Failure::new(WsaError::NoBufs, e.to_string()))?;
        let fd = event.into_raw();
        if fd != 0 {
            return Ok(fd);
        }
        // fd 0 would read as NULL, the failure value: move it up.
        // SAFETY: plain fcntl/close on the fd we just made.
        let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 1) };
        unsafe { libc::close(fd) };
        if moved < 0 {
            return Err(Failure::new(WsaError::NoBufs, std::io::Error::last_os_error().to_string()));
        }
        Ok(moved)
    });
    match made {
        Ok(fd) => fd as isize as WSAEVENT,
        Err(_) => std::ptr::null_mut(),
    }
}

/// Close an event object made by wspsan_WSACreateEvent (or any eventfd the caller owns); returns TRUE, or FALSE for NULL or a bad descriptor.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSACloseEvent(hEvent: WSAEVENT) -> BOOL {
    let closed = guarded("wspsan_WSACloseEvent", || {
        let fd = c_int::try_from(hEvent as usize)
            .ok()
            .filter(|fd| *fd > 0)
            .ok_or_else(|| fault("hEvent is not an event object"))?;
        // SAFETY: the caller gives up the descriptor it owns.
        if unsafe { libc::close(fd) } != 0 {
            return Err(Failure::new(WsaError::Inval, std::io::Error::last_os_error().to_string()));
        }
        Ok(())
    });
    if closed.is_ok() { WSPSAN_TRUE } else { WSPSAN_FALSE }
}

//! Event objects and network events: `WSPEventSelect`, `WSPEnumNetworkEvents`,
//! `wspsan_WSACreateEvent`, `wspsan_WSACloseEvent` (SPEC section 8).

use crate::boundary::{Failure, Outcome, checked_after_state, descriptor, errno_out, fault, guarded, out_ref, wsp};
use crate::eventfd::EventFd;
use crate::session;
use crate::types::*;
use core::ffi::c_int;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use wspsan_core::{Call, EventHandle, Signal, WsaError};

type SetEvent = unsafe extern "C" fn(WSAEVENT, LPINT) -> BOOL;

/// A `WSAEVENT` as the engine signals it.
enum EventObject {
    /// Through the switch's `WPUSetEvent` / `WPUResetEvent` on the handle it passed, when the
    /// session's upcall table has both (one without the other is not used at all).
    Switch { handle: usize, set: SetEvent, reset: SetEvent },
    /// By writing or draining the provider's own duplicate of the caller's eventfd: closing or
    /// reusing the caller's number can never redirect a signal to another file.
    Fd(EventFd),
}

/// The session's `WPUSetEvent` / `WPUResetEvent`, only as a pair.
fn switch_pair() -> Option<(SetEvent, SetEvent)> {
    let u = session::upcalls()?;
    Some((u.lpWPUSetEvent?, u.lpWPUResetEvent?))
}

impl EventObject {
    /// The event object for a non-NULL handle: the switch's upcalls, else a duplicate of the
    /// eventfd it holds (`WSAEINVAL` if it holds none).
    fn new(h: WSAEVENT) -> Outcome<EventObject> {
        let handle = h as usize;
        if let Some((set, reset)) = switch_pair() {
            return Ok(EventObject::Switch { handle, set, reset });
        }
        let fd = c_int::try_from(handle)
            .map_err(|_| Failure::new(WsaError::Inval, format!("event handle {handle:#x} is not an eventfd")))?;
        EventFd::duplicate(fd)
            .map(EventObject::Fd)
            .map_err(|e| Failure::new(WsaError::Inval, format!("event handle {handle:#x} is not an eventfd ({e})")))
    }
}

impl Signal for EventObject {
    fn set(&self) {
        match self {
            EventObject::Switch { handle, set, .. } => {
                let mut err = 0;
                // SAFETY: the switch's upcall on the handle it passed in.
                unsafe { set(*handle as WSAEVENT, &mut err) };
            }
            EventObject::Fd(fd) => fd.set(),
        }
    }

    fn reset(&self) {
        match self {
            EventObject::Switch { handle, reset, .. } => {
                let mut err = 0;
                // SAFETY: as in set.
                unsafe { reset(*handle as WSAEVENT, &mut err) };
            }
            EventObject::Fd(fd) => fd.reset(),
        }
    }
}

/// Each socket's selected eventfd, by the handle value the switch selected it with, so that
/// `WSPEnumNetworkEvents` given that value resets the provider's duplicate. Weak: the engine's
/// selection owns the object, and its duplicate is closed when the selection ends.
struct Selected {
    by_socket: HashMap<SOCKET, (usize, Weak<EventObject>)>,
    /// Entries whose selection ended are dropped when the map reaches this size.
    prune_at: usize,
}

static SELECTED: LazyLock<Mutex<Selected>> =
    LazyLock::new(|| Mutex::new(Selected { by_socket: HashMap::new(), prune_at: 64 }));

fn selected() -> std::sync::MutexGuard<'static, Selected> {
    SELECTED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Remember what socket `s` now selects (an eventfd object, or nothing to remember).
fn remember(s: SOCKET, handle: usize, event: Option<&Arc<EventObject>>) {
    let mut sel = selected();
    match event {
        Some(e) if matches!(**e, EventObject::Fd(_)) => {
            sel.by_socket.insert(s, (handle, Arc::downgrade(e)));
            if sel.by_socket.len() >= sel.prune_at {
                sel.by_socket.retain(|_, (_, w)| w.strong_count() > 0);
                sel.prune_at = (sel.by_socket.len() * 2).max(64);
            }
        }
        _ => {
            sel.by_socket.remove(&s);
        }
    }
}

/// The event object `WSPEnumNetworkEvents` resets for handle `h` on socket `s`: the switch's
/// upcalls; the provider's duplicate when `h` is the value `s` selected; else a duplicate of
/// the eventfd `h` holds now (`WSAEINVAL` if it holds none).
fn for_reset(s: SOCKET, h: WSAEVENT) -> Outcome<Arc<EventObject>> {
    if switch_pair().is_none() {
        let found = selected().by_socket.get(&s).filter(|(v, _)| *v == h as usize).and_then(|(_, w)| w.upgrade());
        if let Some(e) = found {
            return Ok(e);
        }
    }
    Ok(Arc::new(EventObject::new(h)?))
}

/// Select `lNetworkEvents` (FD_* bits, 0 cancels) on `s` to signal `hEventObject` (an eventfd, or
/// any handle when the switch gives WPUSetEvent and WPUResetEvent; else WSAEINVAL, after
/// WSAENOTSOCK); makes `s` non-blocking and signals at once for selected events already recorded,
/// those recorded while unselected included (SPEC E1, E5). An FD_ACCEPT already reported is not
/// recorded again by selecting again: only a new request or the next WSPAccept records it (E2). The
/// provider signals its own duplicate of the eventfd, so the caller may close its handle at any
/// time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPEventSelect(
    s: SOCKET,
    hEventObject: WSAEVENT,
    lNetworkEvents: LONG,
    lpErrno: LPINT,
) -> c_int {
    wsp("wspsan_WSPEventSelect", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let event = if hEventObject.is_null() {
            None
        } else {
            Some(Arc::new(checked_after_state(p, s, Call::Other, EventObject::new(hEventObject))?))
        };
        let handle = event.clone().map(|e| e as EventHandle);
        p.event_select(descriptor(s), handle, lNetworkEvents as u32)?;
        remember(s, hEventObject as usize, event.as_ref());
        Ok(0)
    })
}

/// Report and clear the recorded events of `s` that are in its current selection into
/// `*lpNetworkEvents` (iErrorCode written only for reported bits; events outside the selection stay
/// recorded until a selection includes them; with no selection nothing is reported), resetting
/// `hEventObject` when not NULL (SPEC E4, E5): the provider's duplicate when it is the handle `s`
/// selected, else the eventfd it holds (WSAEINVAL if none). A bad descriptor is WSAENOTSOCK before
/// any pointer is looked at (X4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPEnumNetworkEvents(
    s: SOCKET,
    hEventObject: WSAEVENT,
    lpNetworkEvents: LPWSANETWORKEVENTS,
    lpErrno: LPINT,
) -> c_int {
    wsp("wspsan_WSPEnumNetworkEvents", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let out = checked_after_state(p, s, Call::Other, out_ref!(lpNetworkEvents, "lpNetworkEvents"))?;
        let event: Option<EventHandle> = if hEventObject.is_null() {
            None
        } else {
            Some(checked_after_state(p, s, Call::Other, for_reset(s, hEventObject))? as EventHandle)
        };
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

/// Create an event object: a non-blocking eventfd in the reset state, as `(WSAEVENT)(intptr_t)fd`;
/// NULL on failure (see wspsan_last_error_message).
#[unsafe(no_mangle)]
pub extern "C" fn wspsan_WSACreateEvent() -> WSAEVENT {
    let made = guarded("wspsan_WSACreateEvent", || {
        let event = EventFd::new().map_err(|e| Failure::new(WsaError::NoBufs, e.to_string()))?;
        let fd = event.into_raw();
        if fd != 0 {
            return Ok(fd);
        }
        // fd 0 would read as NULL, the failure value: move it up.
        // SAFETY: plain fcntl on the fd we just made, which nothing else uses.
        let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 1) };
        // SAFETY: closing the fd we just made and own; `moved` (if any) is a separate one.
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

/// Close an event object made by wspsan_WSACreateEvent (or any eventfd the caller owns); returns
/// TRUE, or FALSE for NULL or a bad descriptor.
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

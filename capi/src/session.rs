//! The process-wide session behind the C ABI: the one provider (made at first use), the
//! transport installed for it, counted `WSPStartup` / `WSPCleanup` (SPEC X1, X2) and the
//! upcalls into the switch (X5). The boundary and every export use it; it uses none of them.
//!
//! The session lock is held only to read or change the session record, never while the engine
//! runs the switch's upcalls (T1): the last cleanup marks the session closing, closes every
//! socket with the lock released, then ends the session. A startup meanwhile waits for the end
//! (on another thread) or fails with `WSAEINPROGRESS` (from an upcall of that cleanup).

use crate::failure::{Failure, Outcome};
use crate::types::*;
use core::ffi::c_int;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::ThreadId;
use wspsan_core::{Descriptor, MessageTransport, Placement, Provider, SocketHooks, WsaError};

/// The one provider behind the C ABI, and what startup recorded.
struct Global {
    /// Made at first use (the first `WSPStartup` or device call) from the environment (F3).
    provider: OnceLock<Provider>,
    /// Serialises that making, so a failed attempt can be retried and two never race.
    making: Mutex<()>,
    /// Startups in force as every call sees them (X2); 0 while the last cleanup closes.
    started: AtomicU32,
    session: Mutex<Session>,
    /// Notified when a last cleanup is over.
    closed: Condvar,
}

/// The session record.
struct Session {
    /// Startups not yet undone by a cleanup.
    count: u32,
    /// The thread running the last cleanup, while it closes the sockets.
    closing: Option<ThreadId>,
    /// What the first startup of the session recorded.
    upcalls: Option<WSPUPCALLTABLE>,
}

// SAFETY: the table holds only function pointers (Send + Sync by themselves); Option<fn> wraps them.
unsafe impl Send for Session {}

static GLOBAL: OnceLock<Global> = OnceLock::new();

fn global() -> &'static Global {
    GLOBAL.get_or_init(|| Global {
        provider: OnceLock::new(),
        making: Mutex::new(()),
        started: AtomicU32::new(0),
        session: Mutex::new(Session { count: 0, closing: None, upcalls: None }),
        closed: Condvar::new(),
    })
}

impl Global {
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The process-wide provider, whether or not it is started (device control, statistics),
/// made at first use where the environment says (SPEC F3): `WSAEINVAL` naming the variable that
/// cannot be parsed, or the error of joining the TCP fabric (`WSAEADDRINUSE`, ...). A failure is
/// not kept: the next call tries again.
pub(crate) fn provider() -> Outcome<&'static Provider> {
    let g = global();
    if let Some(p) = g.provider.get() {
        return Ok(p);
    }
    let _making = g.making.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = g.provider.get() {
        return Ok(p);
    }
    let placement =
        Placement::from_vars(|name| std::env::var(name).ok()).map_err(|e| Failure::new(e.error, format!("{e}")))?;
    let made = match installed() {
        Some(_) if placement.tcp.is_some() => {
            return Err(Failure::new(WsaError::Inval, "WSPSAN_FABRIC=tcp and an installed transport: choose one"));
        }
        Some(t) => {
            let what = format!("a device with NICs {:?} on the installed transport", placement.device.nics);
            Provider::with_transport(placement.device, t).map_err(|e| Failure::new(e, what))?
        }
        None => {
            let what = match &placement.tcp {
                Some(t) => format!("joining the TCP fabric on port {} with NICs {:?}", t.port, placement.device.nics),
                None => format!("a device with NICs {:?}", placement.device.nics),
            };
            placement.build().map_err(|e| Failure::new(e, what))?
        }
    };
    Ok(g.provider.get_or_init(|| made))
}

/// Whether the process-wide provider exists (it is made once, at first use).
pub(crate) fn made() -> bool {
    global().provider.get().is_some()
}

/// The provider, if `WSPStartup` is in force (SPEC X2).
pub(crate) fn started() -> Outcome<&'static Provider> {
    let g = global();
    match g.provider.get() {
        Some(p) if g.started.load(Ordering::Acquire) != 0 => Ok(p),
        _ => Err(WsaError::NotInitialised.into()),
    }
}

/// The upcall table of the session in force, if the switch gave one.
pub(crate) fn upcalls() -> Option<WSPUPCALLTABLE> {
    global().session().upcalls
}

static INSTALLED: Mutex<Option<Arc<dyn MessageTransport>>> = Mutex::new(None);

/// The transport installed for the process-wide provider, if any.
fn installed() -> Option<Arc<dyn MessageTransport>> {
    INSTALLED.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Install the embedder's transport, used when the provider is made.
pub(crate) fn install_transport(t: Arc<dyn MessageTransport>) {
    *INSTALLED.lock().unwrap_or_else(PoisonError::into_inner) = Some(t);
}

/// `WPUCreateSocketHandle` / `WPUCloseSocketHandle` for every socket (SPEC X5).
struct SwitchHooks {
    create: unsafe extern "C" fn(DWORD, DWORD_PTR, LPINT) -> SOCKET,
    close: LPWPUCLOSESOCKETHANDLE,
    catalog_entry: DWORD,
}

impl SocketHooks for SwitchHooks {
    fn created(&self, s: Descriptor) -> wspsan_core::Result<u64> {
        let mut err: c_int = 0;
        // SAFETY: the switch's upcall, called as ws2spi.h declares it.
        let handle = unsafe { (self.create)(self.catalog_entry, s.raw() as DWORD_PTR, &mut err) };
        if handle == INVALID_SOCKET {
            // A11: a switch that cannot give a handle has no descriptor for us.
            return Err(WsaError::from_code(err).unwrap_or(WsaError::MFile));
        }
        Ok(handle as u64)
    }

    fn closed(&self, _s: Descriptor, context: u64) {
        if let Some(close) = self.close {
            let mut err: c_int = 0;
            // SAFETY: the switch's upcall with the handle it gave us.
            unsafe { close(context as SOCKET, &mut err) };
        }
    }
}

/// Whether sockets carry a switch handle (the session's table has `lpWPUCreateSocketHandle`).
pub(crate) fn has_switch_handles() -> bool {
    upcalls().is_some_and(|u| u.lpWPUCreateSocketHandle.is_some())
}

/// Begin a session or join the one in force (SPEC X1): from an upcall of the last cleanup
/// `WSAEINPROGRESS`; on another thread, wait for that cleanup to end. A new session keeps
/// `upcalls` until its last cleanup; `on_new_session` runs then, under the session lock and
/// before any upcall of the session can run.
pub(crate) fn begin(
    provider: &Provider,
    upcalls: WSPUPCALLTABLE,
    catalog_entry: DWORD,
    on_new_session: impl FnOnce(),
) -> Outcome<()> {
    if provider.in_condition() {
        return Err(Failure::new(WsaError::InProgress, "called from a condition function (A14)"));
    }
    let g = global();
    let mut session = g.session();
    while let Some(closer) = session.closing {
        if closer == std::thread::current().id() {
            // An upcall of the last cleanup: waiting for that cleanup would never end.
            return Err(Failure::new(WsaError::InProgress, "called from an upcall of the last WSPCleanup"));
        }
        session = g.closed.wait(session).unwrap_or_else(PoisonError::into_inner);
    }
    if session.count == 0 {
        // A new session: its upcall table is used until the last cleanup.
        on_new_session();
        session.upcalls = Some(upcalls);
        let hooks = upcalls.lpWPUCreateSocketHandle.map(|create| {
            Arc::new(SwitchHooks { create, close: upcalls.lpWPUCloseSocketHandle, catalog_entry })
                as Arc<dyn SocketHooks>
        });
        provider.set_hooks(hooks);
    }
    session.count += 1;
    g.started.store(session.count, Ordering::Release);
    Ok(())
}

/// Ends the closing state of the session however the last cleanup leaves (a panic included).
struct Closing<'a> {
    g: &'a Global,
    /// Whether every socket was closed: the session ends. Otherwise it stays as it was.
    ended: bool,
}

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        let mut session = self.g.session();
        if self.ended {
            session.count = 0;
            session.upcalls = None;
        } else {
            self.g.started.store(session.count, Ordering::Release);
        }
        session.closing = None;
        drop(session);
        self.g.closed.notify_all();
    }
}

/// Undo one startup (SPEC X1, X2); the last one closes every socket with no lock held while
/// the switch's upcalls run, then runs `on_session_end` before another startup can begin.
pub(crate) fn end(p: &Provider, on_session_end: impl FnOnce()) -> Outcome<c_int> {
    if p.in_condition() {
        return Err(WsaError::InProgress.into()); // A14, before anything changes
    }
    let g = global();
    let mut session = g.session();
    if session.count == 0 || session.closing.is_some() {
        return Err(WsaError::NotInitialised.into()); // the last cleanup is already under way
    }
    if session.count > 1 {
        session.count -= 1;
        g.started.store(session.count, Ordering::Release);
        return Ok(0);
    }
    // The last cleanup: new calls see WSANOTINITIALISED from now on; the sockets are
    // closed with the session's upcalls still installed and the lock released (T1).
    session.closing = Some(std::thread::current().id());
    g.started.store(0, Ordering::Release);
    drop(session);
    let mut closing = Closing { g, ended: false };
    p.close_all()?; // cannot fail: A14 was checked above (Closing would restore anyway)
    p.set_hooks(None);
    closing.ended = true;
    on_session_end(); // still closing: no startup can begin yet
    drop(closing);
    Ok(0)
}

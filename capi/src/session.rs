//! The process-wide session behind the C ABI: the one provider (made at first use), the
//! transport installed for it, counted `WSPStartup` / `WSPCleanup` (SPEC X1, X2) and the
//! upcalls into the switch (X5). The boundary and every export use it; it uses none of them.
//!
//! The rules of the session (counting, A14, the last cleanup closing every socket with no lock
//! held while the switch's upcalls run) are the engine's [`Session`]; this module keeps the one
//! session of the process and what it holds.

use crate::failure::{Failure, Outcome};
use crate::types::*;
use core::ffi::c_int;
use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use wspsan_core::{
    Cleaned, Descriptor, MessageTransport, Placement, Provider, Session, SocketHooks, Started, WsaError,
};

/// What a Rust caller of this library (the Python module) keeps with a session it begins,
/// beside the switch's upcall table: it lives as long as the session (see [`extra`]).
pub type SessionExtra = Arc<dyn Any + Send + Sync>;

/// What a session keeps from its first startup (SPEC X5).
#[derive(Clone)]
struct Kept {
    upcalls: WSPUPCALLTABLE,
    extra: Option<SessionExtra>,
}

/// The one provider behind the C ABI, and its session.
struct Global {
    /// Made at first use (the first `WSPStartup` or device call) from the environment (F3).
    provider: OnceLock<Provider>,
    /// Serialises that making, so a failed attempt can be retried and two never race.
    making: Mutex<()>,
    /// Counted startup and cleanup: the rules are the engine's (SPEC X1, X2, A14).
    session: Session<Kept>,
}

static GLOBAL: Global = Global { provider: OnceLock::new(), making: Mutex::new(()), session: Session::new() };

fn global() -> &'static Global {
    &GLOBAL
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
        Some(p) if g.session.is_started() => Ok(p),
        _ => Err(WsaError::NotInitialised.into()),
    }
}

/// The upcall table of the session in force, if the switch gave one.
pub(crate) fn upcalls() -> Option<WSPUPCALLTABLE> {
    global().session.kept().map(|k| k.upcalls)
}

/// What the Rust caller that began the session in force gave it, if any.
pub fn extra() -> Option<SessionExtra> {
    global().session.kept().and_then(|k| k.extra)
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

/// Begin a session or join the one in force (SPEC X1; the rules are [`Session::start`]'s): a
/// new session keeps `upcalls` and `extra` until its last cleanup and makes its sockets through
/// the switch's `WPUCreateSocketHandle`. A startup that joins hands `extra` back.
pub(crate) fn begin(
    provider: &Provider,
    upcalls: WSPUPCALLTABLE,
    catalog_entry: DWORD,
    extra: Option<SessionExtra>,
) -> Outcome<Option<SessionExtra>> {
    let hooks = upcalls.lpWPUCreateSocketHandle.map(|create| {
        Arc::new(SwitchHooks { create, close: upcalls.lpWPUCloseSocketHandle, catalog_entry }) as Arc<dyn SocketHooks>
    });
    match global().session.start(provider, hooks, Kept { upcalls, extra }) {
        Ok(Started::New) => Ok(None),
        Ok(Started::Joined(unused)) => Ok(unused.extra),
        Err(e) if provider.in_condition() => Err(Failure::new(e, "called from a condition function (A14)")),
        Err(e) => Err(Failure::new(e, "called from an upcall of the last WSPCleanup")),
    }
}

/// Undo one startup (SPEC X1, X2; the rules are [`Session::cleanup`]'s); the last one closes
/// every socket with no lock held while the switch's upcalls run, and hands back the extra the
/// session kept.
pub(crate) fn end(p: &Provider) -> Outcome<Option<SessionExtra>> {
    match global().session.cleanup(p)? {
        Cleaned::Counted => Ok(None),
        Cleaned::Ended(kept) => Ok(kept.extra),
    }
}

/// The error of a WSP function this provider does not implement (SPEC X1, X2, A14).
pub(crate) fn unimplemented(p: &Provider) -> WsaError {
    global().session.unimplemented(p)
}

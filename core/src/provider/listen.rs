//! The listener's side of a request's arrival (SPEC section 5): listen, admission of local and
//! remote requests.

use super::{Provider, Shared, effective_backlog, signal_set};
use crate::error::{Result, WsaError};
use crate::events::EventHandle;
use crate::fabric::session::Inbound;
use crate::fabric::wire;
use crate::link::Reply;
use crate::listen_queue::{ListenQueue, PendingRequest};
use crate::provider::Call;
use crate::socket::{Descriptor, SocketCell, SocketInner, State};
use std::net::SocketAddrV4;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

impl Shared {
    /// Put a request in a listener's queue, or refuse it at once (L7, L9, C3). Returns the
    /// FD_ACCEPT event object to signal, for the caller to set once it holds no lock.
    /// `id` is the listener the caller found for `addr` ([`crate::device::DeviceState::listener_at`]): by now
    /// its cell may hold a later socket, or it may be bound elsewhere.
    pub(super) fn enqueue(
        &self,
        listener: &SocketCell,
        id: Descriptor,
        addr: SocketAddrV4,
        req: impl FnOnce() -> PendingRequest,
    ) -> Result<Option<EventHandle>> {
        self.enqueue_locked(listener, listener.lock(), id, addr, req)
    }

    /// [`enqueue`](Self::enqueue) with the listener's cell already locked (`g`).
    pub(super) fn enqueue_locked(
        &self,
        listener: &SocketCell,
        mut g: MutexGuard<'_, SocketInner>,
        id: Descriptor,
        addr: SocketAddrV4,
        req: impl FnOnce() -> PendingRequest,
    ) -> Result<Option<EventHandle>> {
        let SocketInner { state, events, id: holds, local, .. } = &mut *g;
        let (State::Listening(q), true) = (state, *holds == id && self.device.binds(*local, addr)) else {
            self.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        let set = q.admit(req, events)?; // L7, L9
        let sleepers = listener.changed(&g);
        drop(g);
        if sleepers {
            listener.cv.notify_one(); // one request: one accept
        }
        Ok(set)
    }

    /// A request that arrived over the TCP fabric (F5, F8): queued on the listener at `callee`
    /// under the same rules as a local one, or refused at once with the error for the connector.
    pub(crate) fn take_remote_request(&self, req: wire::Request, reply: Arc<Inbound>) -> Result<()> {
        if self.device.is_down() {
            return Err(WsaError::HostUnreach);
        }
        let Some((listener_id, listener)) =
            self.device.listener_at(req.callee).and_then(|id| Some((id, self.table.cell(id)?)))
        else {
            self.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        if req.caller_data.len() > self.device.max_caller_data() {
            return Err(WsaError::NoBufs); // F8: this device's limit
        }
        self.device.check_buffers()?;
        self.device.reserve_pending()?;
        let pending = || PendingRequest {
            reply: Reply::Remote(reply),
            caller: req.caller,
            callee: req.callee,
            caller_data: (!req.caller_data.is_empty()).then(|| req.caller_data.into_boxed_slice()),
            qos: req.qos.map(Box::new),
        };
        let callee = req.callee;
        let set =
            self.enqueue(listener, listener_id, callee, pending).inspect_err(|_| self.device.release_pending(1))?;
        signal_set(set);
        Ok(())
    }
}

impl Provider {
    /// `WSPListen` (SPEC L1 to L9). The backlog is never an error: see [`effective_backlog`].
    pub fn listen(&self, s: Descriptor, backlog: i32) -> Result<()> {
        let sh = &*self.shared;
        sh.enter()?;
        let eff = effective_backlog(backlog, sh.device.max_backlog());
        let (cell, mut g) = sh.table.lock(s)?;
        Call::Listen.check(&g.state, g.local)?;
        let reset: Vec<PendingRequest> = match &mut g.state {
            State::Listening(q) => q.rebacklog(eff, sh.device.descriptor_available()), // L6, L9
            // Call::Listen let only a bound or a listening socket through.
            _ => {
                if !sh.device.descriptor_available() {
                    return Err(WsaError::MFile); // L9
                }
                sh.device.check_buffers()?;
                let (_, nobody) = g.set_state(cell, State::Listening(Box::new(ListenQueue::new(eff))));
                drop(nobody); // nobody waits on a socket that was only bound
                drop(g);
                sh.device.register_listener(s, cell);
                return Ok(());
            }
        };
        drop(g);
        sh.device.release_pending(reset.len());
        for r in reset {
            r.reply.refuse(&sh.table, WsaError::ConnReset);
        }
        Ok(())
    }
}

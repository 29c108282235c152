//! The connector's side (SPEC section 6, F2, F4): where a connect goes, sending the request,
//! waiting for the answer, timing out.

use super::{ConnectParams, Provider, Shared, Wait, signal_set, wait_on};
use crate::error::{Result, WsaError};
use crate::fabric::carrier::Peer;
use crate::fabric::session::{Outbound, Policy};
use crate::fabric::wire;
use crate::link::Reply;
use crate::listen_queue::PendingRequest;
use crate::provider::Call;
use crate::socket::{Answer, Descriptor, Qos, SocketCell, SocketInner, State, answer_then};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

/// Which device a connect goes to (F1, F2).
enum Route {
    /// This provider's own device.
    Here,
    /// Another device on the same in-process fabric.
    There(Arc<Shared>),
    /// A device across the TCP fabric, at this fabric address.
    Remote(SocketAddrV4),
    /// A device reached through a carrier (a provider's own transport, a fabric with faults).
    Peer(Arc<Peer>),
}

impl Shared {
    /// F1, F2: the device a connect to `addr` goes to. This device for its own NICs (and for a
    /// listener still bound to a NIC removed since), else the fabric's owner of the address;
    /// `None` when no device has it.
    fn route(self: &Arc<Self>, addr: SocketAddrV4) -> Option<Route> {
        if self.device.is_nic(*addr.ip()) {
            return Some(Route::Here);
        }
        if let Some(f) = &self.fabric {
            if let Some(there) = f.device_at(*addr.ip()) {
                if !f.is_faulty() {
                    return Some(Route::There(there));
                }
                // A device that is down refuses with WSAEHOSTUNREACH when the request arrives
                // (README), as it does without faults.
                return f.pair(self, &there).map(Route::Peer);
            }
        }
        if self.device.socket_at(addr).is_some() {
            return Some(Route::Here);
        }
        if let Some(p) = self.links.get().and_then(|l| l.route(*addr.ip())) {
            return Some(Route::Peer(p));
        }
        self.tcp.get().map(|t| Route::Remote(t.endpoint.peer_of(*addr.ip())))
    }

    /// A non-blocking connect's deadline passed (D2): withdraw it with `WSAETIMEDOUT`.
    pub(crate) fn time_out(&self, cell: &SocketCell, attempt: u64) {
        let error = cell.lock().expiry_error();
        // D3 before E5: the count is up to date when FD_CONNECT wakes anyone.
        answer_then(cell, attempt, Answer::Failed(error), || {
            if error == WsaError::TimedOut {
                self.device.timed_out.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

impl Provider {
    /// `WSPConnect` (SPEC C1 to C7). Returns the callee data.
    ///
    /// A blocking socket waits for the listener's answer; a non-blocking one fails with
    /// `WSAEWOULDBLOCK` and the answer arrives as `FD_CONNECT` (and `SO_ERROR`).
    pub fn connect(&self, s: Descriptor, addr: SocketAddrV4, params: ConnectParams<'_>) -> Result<Vec<u8>> {
        self.connect_with(s, addr, params, Wait::default())
    }

    /// [`connect`](Self::connect) with a timeout and an interruption hook for the wait.
    pub fn connect_with(
        &self,
        s: Descriptor,
        addr: SocketAddrV4,
        params: ConnectParams<'_>,
        wait: Wait<'_>,
    ) -> Result<Vec<u8>> {
        let sh = &self.shared;
        sh.enter()?;
        // Found before the socket is locked, so that it is dropped after the lock is released on
        // every way out: the last reference to another provider may go with it, and that
        // provider's close must not run under this socket's lock.
        let found = sh.route(addr);
        let (cell, mut g) = sh.table.lock(s)?;
        Call::Connect.check(&g.state, g.local)?;
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(WsaError::AddrNotAvail);
        }
        // A5: caller data of length 0 is no caller data (the condition sees NULL).
        let caller_data = match params.caller_data.filter(|d| !d.is_empty()) {
            Some(d) if d.len() > sh.device.max_caller_data() => return Err(WsaError::NoBufs),
            Some(d) => Some(Box::<[u8]>::from(d)),
            None => None,
        };
        sh.device.check_buffers()?;
        // An address no device has is refused (README) and leaves the socket unbound: binding it
        // there would let it listen at an address the device does not have. (A listener on a NIC
        // removed since keeps working, README: that address still takes connects.)
        let Some(route) = &found else {
            sh.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        // The NIC this connector speaks from: the target's own on this device (C4), the device's
        // first NIC towards another device (F2).
        let from = match route {
            Route::Here => *addr.ip(),
            Route::There(_) | Route::Remote(_) | Route::Peer(_) => {
                sh.device.nic_list().first().copied().ok_or(WsaError::AddrNotAvail)?
            }
        };
        if let Route::There(t) = route {
            if t.device.is_down() {
                return Err(WsaError::HostUnreach); // README: a device that is down answers nobody
            }
            if caller_data.as_ref().is_some_and(|d| d.len() > t.device.max_caller_data()) {
                return Err(WsaError::NoBufs); // F8: the listener's device limit applies too
            }
            t.device.check_buffers()?; // D2: the pending request is the listener's device's to allocate
        }
        if matches!(g.state, State::Created) {
            // C4, F2: bound implicitly to the NIC it speaks from and a free port.
            let local = sh.device.bind_port(s, SocketAddrV4::new(from, 0), false)?;
            g.local = Some(local);
            g.owns_port = true;
            let (_, nobody) = g.set_state(cell, State::Bound); // nobody waits on an unbound socket
            drop(nobody);
        }
        let target: &Shared = match route {
            Route::Here => sh,
            Route::There(t) => t,
            Route::Remote(to) => {
                let ep = &sh.tcp.get().ok_or(WsaError::NetDown)?.endpoint;
                let submit = |out| ep.submit(*to, out);
                return self.connect_remote(cell, g, (addr, from), (caller_data, params.qos), &ep.policy, submit, wait);
            }
            Route::Peer(p) => {
                let ids = &sh.links.get().ok_or(WsaError::NetDown)?.policy;
                let submit = |out| p.submit(out);
                return self.connect_remote(cell, g, (addr, from), (caller_data, params.qos), ids, submit, wait);
            }
        };
        let Some((listener_id, listener)) =
            target.device.listener_at(addr).and_then(|id| Some((id, target.table.cell(id)?)))
        else {
            target.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            return Err(WsaError::ConnRefused);
        };
        // F8: pending requests are counted by the device whose listener holds them.
        target.device.reserve_pending()?;
        // E5, C2: the attempt clears an unreported FD_CONNECT and SO_ERROR of the previous one; if
        // it is refused at once below, it was no attempt (README) and those must still be there.
        let stale = (g.events.code(crate::consts::FD_CONNECT_BIT), g.so_error);
        let attempt = g.begin_attempt(cell, addr, from);
        let deferred = g.nonblocking;
        let caller = g.local.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        // A5, A15: the listener sees a real address: a connector bound to the wildcard speaks
        // from its NIC towards the target (C4, F2), never from 0.0.0.0.
        let caller = if caller.ip().is_unspecified() { SocketAddrV4::new(from, caller.port()) } else { caller };
        let req = || PendingRequest {
            reply: if std::ptr::eq(target, &**sh) {
                Reply::Here { connector: s, attempt }
            } else {
                Reply::Local { connector: cell.clone(), attempt }
            },
            caller,
            callee: addr,
            caller_data,
            qos: params.qos.map(|q| Box::new(q.clone())),
        };
        // The connector stays locked while the listener takes the request when the listener's
        // lock is free, so a refusal at once puts the connector back as it was without locking
        // it again. When it is held, the connector is let go first: the socket found at `addr`
        // may be one that does not listen but connects, at this very moment, to this
        // connector's address, holding its own lock and waiting for this one's (T1: a
        // simultaneous open must not deadlock). A socket connecting to its own address finds
        // itself, which is not listening.
        let mut g = Some(g);
        let queued = if std::ptr::eq(Arc::as_ptr(listener), Arc::as_ptr(cell)) {
            target.device.refused_no_listener.fetch_add(1, Ordering::Relaxed);
            Err(WsaError::ConnRefused)
        } else if let Some(lg) = listener.try_lock() {
            target.enqueue_locked(listener, lg, listener_id, addr, req)
        } else {
            g = None;
            target.enqueue(listener, listener_id, addr, req)
        };
        let set = match queued {
            Ok(set) => set,
            Err(e) => {
                target.device.release_pending(1);
                let mut g = g.unwrap_or_else(|| cell.lock());
                // Unless the connector was closed while it was let go (it cannot have begun another
                // attempt: only its own thread does that, and it is here).
                if g.id == s && g.attempt() == attempt {
                    g.withdraw(cell); // C6: back to bound, may connect again
                    if let Some(code) = stale.0 {
                        let _ = g.events.record(crate::consts::FD_CONNECT_BIT, code); // signalled when first recorded
                    }
                    g.so_error = stale.1;
                }
                drop(g);
                sh.leave(cell, s); // a blocking connector closed meanwhile left its cell to this thread
                return Err(e);
            }
        };
        drop(g);
        signal_set(set);
        // The wait must not keep the listener's provider alive: if it goes away, it answers (T2).
        drop(found);
        if deferred {
            if let Some(t) = sh.device.connect_timeout() {
                sh.timer.schedule(sh, cell, attempt, Instant::now() + t);
            }
            return Err(WsaError::WouldBlock);
        }
        self.wait_connect(cell, s, attempt, wait)
    }

    /// A connect to a device across a fabric that carries messages (F2, F4, F5): `submit` sends
    /// the request, and the session that carries it answers the attempt like a local listener
    /// would, or with the fabric's own errors (refused, unreachable, reset).
    #[allow(clippy::too_many_arguments)]
    fn connect_remote(
        &self,
        cell: &Arc<SocketCell>,
        mut g: MutexGuard<'_, SocketInner>,
        (addr, from): (SocketAddrV4, Ipv4Addr),
        (caller_data, qos): (Option<Box<[u8]>>, Option<&Qos>),
        ids: &Policy,
        submit: impl FnOnce(Arc<Outbound>),
        wait: Wait<'_>,
    ) -> Result<Vec<u8>> {
        let sh = &self.shared;
        let s = g.id;
        let attempt = g.begin_attempt(cell, addr, from);
        let deferred = g.nonblocking;
        let local = g.local.unwrap_or(SocketAddrV4::new(from, 0));
        let caller = if local.ip().is_unspecified() { SocketAddrV4::new(from, local.port()) } else { local };
        let request = wire::Request {
            id: ids.next_id(),
            caller,
            callee: addr,
            caller_data: caller_data.map(Vec::from).unwrap_or_default(),
            qos: qos.cloned(),
        };
        let out = Arc::new(Outbound::new(cell, attempt, request));
        if let State::Connecting { outbound, .. } = &mut g.state {
            *outbound = Some(out.clone());
        }
        drop(g);
        submit(out);
        if deferred {
            if let Some(t) = sh.device.connect_timeout() {
                sh.timer.schedule(sh, cell, attempt, Instant::now() + t);
            }
            return Err(WsaError::WouldBlock);
        }
        self.wait_connect(cell, s, attempt, wait)
    }

    /// C2: a blocking connect waits for the answer, the timeout, a close or the device going down.
    fn wait_connect(&self, cell: &SocketCell, s: Descriptor, attempt: u64, wait: Wait<'_>) -> Result<Vec<u8>> {
        let result = self.wait_for_answer(cell, s, attempt, wait);
        self.shared.leave(cell, s);
        result
    }

    fn wait_for_answer(&self, cell: &SocketCell, s: Descriptor, attempt: u64, mut wait: Wait<'_>) -> Result<Vec<u8>> {
        let sh = &self.shared;
        let timeout = match (sh.device.connect_timeout(), wait.timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = cell.lock();
        loop {
            if g.id != s {
                return Err(WsaError::Intr); // closed, and the cell holds a later socket by now
            }
            if let Some((a, result)) = g.outcome.take() {
                if a == attempt {
                    return result.map(|()| g.callee_data.to_vec());
                }
            }
            if matches!(g.state, State::Closed) {
                return Err(WsaError::Intr);
            }
            if g.attempt() != attempt {
                return Err(WsaError::Intr);
            }
            if sh.device.is_down() {
                g.withdraw(cell);
                return Err(WsaError::NetDown);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                let error = g.expiry_error();
                g.withdraw(cell);
                if error == WsaError::TimedOut {
                    sh.device.timed_out.fetch_add(1, Ordering::Relaxed);
                }
                return Err(error);
            }
            g = wait_on(cell, g, deadline.map(|d| d - now), wait.ticking());
            if wait.ticking() {
                drop(g);
                let stop = wait.interrupted();
                g = cell.lock();
                if stop && g.outcome.is_none() {
                    if g.attempt() == attempt {
                        g.withdraw(cell);
                    }
                    return Err(WsaError::Intr);
                }
            }
        }
    }
}

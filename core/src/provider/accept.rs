//! Accept (SPEC section 7): taking the head of the queue, running the condition function with
//! no lock held, and settling the request whatever the answer.

use super::{AcceptError, Accepted, Provider, Shared, Wait, reentry, signal_set, wait_on};
use crate::condition::{ABANDONED, Condition, ConditionRequest, Decision};
use crate::error::{Result, WsaError};
use crate::events::EventHandle;
use crate::listen_queue::{Head, ListenQueue, PendingRequest, Settle};
use crate::socket::{Answer, Descriptor, Inherited, SocketCell, SocketInner, State};
use std::sync::MutexGuard;
use std::time::Instant;

#[derive(Default)]
struct Settled {
    /// FD_ACCEPT to signal (E2).
    set: Option<EventHandle>,
    /// A restored request that had no queue to go back to: refuse it.
    orphan: Option<PendingRequest>,
}

impl Shared {
    /// Settle a request taken off `listener`'s queue: its counters, the queue and the
    /// level-triggered FD_ACCEPT (E2). Returns the event handle to set.
    fn settle(&self, listener: &SocketCell, id: Descriptor, outcome: Settle) -> Settled {
        let mut g = listener.lock();
        let SocketInner { state, events, id: holds, .. } = &mut *g;
        let (State::Listening(q), true) = (state, *holds == id) else {
            // The listener was closed while its condition function ran (K2); its cell may hold
            // a later socket by now.
            drop(g);
            let (stats, orphan) = ListenQueue::settle_orphan(outcome);
            self.device.release_pending(1);
            self.device.retire(stats);
            return Settled { set: None, orphan };
        };
        let (set, done) = q.settle(outcome, events);
        drop(g);
        if done {
            self.device.release_pending(1);
        }
        Settled { set, orphan: None }
    }
}

impl Provider {
    /// `WSPAccept` (SPEC A1 to A15). `condition` `None` accepts unconditionally (A6).
    ///
    /// The condition runs on this thread with no provider lock held; calling the provider from
    /// inside it fails with `WSAEINPROGRESS` (A14). If it panics, the request goes back to the
    /// head of the queue and the panic continues.
    pub fn accept(&self, s: Descriptor, condition: Option<&mut Condition<'_>>) -> Result<Accepted, AcceptError> {
        self.accept_with(s, condition, Wait::default())
    }

    /// [`accept`](Self::accept) with a timeout and an interruption hook for the wait.
    pub fn accept_with(
        &self,
        s: Descriptor,
        condition: Option<&mut Condition<'_>>,
        wait: Wait<'_>,
    ) -> Result<Accepted, AcceptError> {
        let sh = &*self.shared;
        sh.enter()?;
        let (listener, g) = sh.table.lock(s)?;
        let taken = self.take_request(listener, g, s, wait);
        sh.leave(listener, s);
        let (req, inherited) = taken?;
        let examined = Some(req.caller);
        let fail = |error| AcceptError { error, examined };
        if req.is_withdrawn(&sh.table) {
            // A12: withdrawn before accept reached it.
            signal_set(sh.settle(listener, s, Settle::Withdrawn).set);
            return Err(fail(WsaError::Acces));
        }
        let (decision, callee_data) = match condition {
            None => (Decision::Accept, Box::default()),
            Some(f) => match run_condition(sh, f, &req) {
                Ok(answer) => answer,
                Err(panic) => {
                    let _ = self.restore(listener, s, req, false, false);
                    std::panic::resume_unwind(panic);
                }
            },
        };
        match decision {
            // A12: withdrawn while the condition ran: WSAEACCES whatever the answer (CF_DEFER
            // included: there is no connector left to keep waiting), and the request is removed.
            Decision::Defer if req.is_withdrawn(&sh.table) => {
                signal_set(sh.settle(listener, s, Settle::Withdrawn).set);
                Err(fail(WsaError::Acces))
            }
            Decision::Defer => {
                self.restore(listener, s, req, true, false).map_err(fail)?;
                Err(fail(WsaError::TryAgain))
            }
            Decision::Abandon => {
                self.restore(listener, s, req, false, false).map_err(fail)?;
                Err(fail(WsaError::Intr))
            }
            Decision::Reject | Decision::Invalid(_) => {
                // A8, A10: the connector is refused, unless it withdrew while the condition ran.
                let refused = req.reply.answer(&sh.table, Answer::Failed(WsaError::ConnRefused));
                let outcome = if refused { Settle::Rejected } else { Settle::Withdrawn };
                signal_set(sh.settle(listener, s, outcome).set);
                Err(fail(match (refused, decision) {
                    (false, _) => WsaError::Acces,
                    (true, Decision::Reject) => WsaError::ConnRefused,
                    (true, _) => WsaError::Inval,
                }))
            }
            Decision::Accept => {
                let init = |ng: &mut SocketInner| {
                    ng.inherit(&inherited);
                    ng.local = Some(req.callee);
                    ng.state = State::Connected { remote: req.caller, peer: req.reply.peer_link() };
                };
                let new = sh.new_socket_locked(init);
                let (socket, new, ng) = match new {
                    Ok(c) => c,
                    Err(e) => {
                        // A11: no descriptor or no memory: the request stays at the head.
                        self.restore(listener, s, req, false, e == WsaError::MFile).map_err(fail)?;
                        return Err(fail(e));
                    }
                };
                // The answer goes with the new socket unlocked: answering locks the connector and
                // sets its FD_CONNECT event (a switch's upcall), and the connector's cell may even be
                // the new socket's (closed meanwhile and reused); the connector closing at once finds
                // the new socket connected all the same.
                drop(ng);
                if let Some(h) = &inherited.handle {
                    crate::events::fire_reset(h); // E3, before E2 (or the answer's E1) may set it again
                }
                let link = req.reply.link_to(new, socket);
                let answered = req.reply.answer(&sh.table, Answer::Accepted { peer: link, callee_data });
                if !answered {
                    sh.discard_locked(socket, new, new.lock()); // withdrawn while the condition ran (A12)
                    signal_set(sh.settle(listener, s, Settle::Withdrawn).set);
                    return Err(fail(WsaError::Acces));
                }
                sh.table.publish(socket);
                signal_set(sh.settle(listener, s, Settle::Accepted).set);
                Ok(Accepted { socket, peer: req.caller })
            }
        }
    }

    /// Put an examined request back at the head of the queue. If the listener was closed in
    /// the meantime, the request is refused (K2) and the accept fails with `WSAEINTR`.
    fn restore(
        &self,
        listener: &SocketCell,
        id: Descriptor,
        req: PendingRequest,
        deferred: bool,
        exhausted: bool,
    ) -> Result<()> {
        let settled = self.shared.settle(listener, id, Settle::Restore { req, deferred, exhausted });
        signal_set(settled.set);
        if let Some(orphan) = settled.orphan {
            orphan.reply.refuse(&self.shared.table, WsaError::ConnRefused);
            return Err(WsaError::Intr);
        }
        Ok(())
    }

    /// Take the head request off the queue, waiting if the socket blocks (A1, A2, A11, L9).
    /// Also returns the listener's selected event object, for E3.
    fn take_request<'c>(
        &self,
        listener: &'c SocketCell,
        mut g: MutexGuard<'c, SocketInner>,
        s: Descriptor,
        mut wait: Wait<'_>,
    ) -> Result<(PendingRequest, Inherited), AcceptError> {
        let sh = &*self.shared;
        let deadline = wait.timeout.map(|t| Instant::now() + t);
        let mut waited = false;
        loop {
            if g.id != s {
                return Err(WsaError::Intr.into()); // A2: closed under us, the cell reused since
            }
            let SocketInner { state, events, nonblocking, .. } = &mut *g;
            let q = match state {
                State::Listening(q) => q,
                State::Closed if waited => return Err(WsaError::Intr.into()), // A2: closed under us
                State::Closed => return Err(WsaError::NotSock.into()),
                _ => return Err(WsaError::Inval.into()), // A1
            };
            if waited && sh.device.is_down() {
                return Err(WsaError::NetDown.into()); // D2: a blocked accept wakes with it
            }
            match q.take_head(sh.device.descriptor_available(), sh.device.check_buffers(), events) {
                Head::Request(req) => {
                    let inherited = g.options();
                    return Ok((req, inherited));
                }
                Head::Refused(e, set) => {
                    drop(g);
                    signal_set(set);
                    return Err(e.into());
                }
                Head::Empty => {}
            }
            if *nonblocking {
                return Err(WsaError::WouldBlock.into());
            }
            if sh.device.is_down() {
                return Err(WsaError::NetDown.into());
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(WsaError::TimedOut.into());
            }
            g = wait_on(listener, g, deadline.map(|d| d - now), wait.ticking());
            waited = true;
            if wait.ticking() {
                drop(g);
                let stop = wait.interrupted();
                g = listener.lock();
                if stop {
                    return Err(WsaError::Intr.into());
                }
            }
        }
    }
}

/// Run a condition function on a request (SPEC A5, A10) with a callee-data buffer of the
/// device's size; returns its decision and the callee data it wrote, or its panic.
fn run_condition(
    sh: &Shared,
    f: &mut Condition<'_>,
    req: &PendingRequest,
) -> std::thread::Result<(Decision, Box<[u8]>)> {
    let capacity = sh.device.max_callee_data();
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if capacity <= stack.len() {
        &mut stack[..capacity]
    } else {
        heap.resize(capacity, 0);
        &mut heap
    };
    let mut creq = ConditionRequest {
        caller: req.caller,
        callee: req.callee,
        caller_data: req.caller_data.as_deref(),
        qos: req.qos.as_deref(),
        callee_buf: buf,
        callee_len: 0,
        group: 0,
    };
    let (decision, abandoned) = {
        let _guard = reentry::Guard::enter(sh.id());
        // Saved and restored: a condition may accept on another provider, whose condition runs
        // nested on this thread.
        let outer = ABANDONED.with(|a| a.replace(false));
        let decision = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut creq)));
        (decision, ABANDONED.with(|a| a.replace(outer)))
    };
    let decision = match decision? {
        _ if abandoned => Decision::Abandon,
        // A10: a group changed to non-zero makes any answer invalid.
        d if creq.group != 0 => Decision::Invalid(d.to_raw()),
        d => d,
    };
    Ok((decision, Box::from(creq.callee_data())))
}

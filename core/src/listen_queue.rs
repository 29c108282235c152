//! A listening socket's queue and the rules that belong to it (SPEC section 5 and the
//! listener's side of section 7): admission and immediate refusal, re-backlog and reset, taking,
//! restoring and settling the head, and the level of FD_ACCEPT (E2). Bookkeeping only: no lock,
//! no wake-up, no fabric. The provider calls these under the listener's lock, then wakes and
//! answers; the same rules serve every fabric because a request answers through its `Reply`.

use crate::consts::{FD_ACCEPT, FD_ACCEPT_BIT};
use crate::error::{Result, WsaError};
use crate::events::{EventHandle, EventRecord};
use crate::link::Reply;
use crate::socket::Qos;
use crate::stats::ListenerStats;
use std::collections::VecDeque;
use std::net::SocketAddrV4;

/// A connect that reached a listener and waits in its queue (SPEC section 0).
pub(crate) struct PendingRequest {
    /// Where the answer goes (A12: it also tells whether the connector withdrew).
    pub(crate) reply: Reply,
    pub(crate) caller: SocketAddrV4,
    pub(crate) callee: SocketAddrV4,
    pub(crate) caller_data: Option<Box<[u8]>>,
    pub(crate) qos: Option<Box<Qos>>,
}

impl PendingRequest {
    /// `table`: the listener's provider's.
    pub(crate) fn is_withdrawn(&self, table: &crate::table::Table) -> bool {
        self.reply.is_withdrawn(table)
    }
}

/// A listening socket's queue: requests, backlog and the exhaustion state (SPEC section 5).
pub(crate) struct ListenQueue {
    pub(crate) queue: VecDeque<PendingRequest>,
    /// Requests taken off the queue by an accept whose condition function is running; they
    /// still count against the backlog.
    pub(crate) examining: u32,
    pub(crate) backlog: u32,
    /// L9: an accept failed with WSAEMFILE; new requests are refused until it clears.
    pub(crate) exhausted: bool,
    /// E2: FD_ACCEPT may be recorded (cleared by a CF_DEFER answer until the next accept).
    pub(crate) accept_enabled: bool,
    /// E2: FD_ACCEPT was recorded since the last re-enabling accept, so selecting again does not
    /// record it a second time (Wine's `test_accept_events`, run against Windows).
    pub(crate) accept_posted: bool,
    pub(crate) stats: ListenerStats,
}

impl ListenQueue {
    pub(crate) fn new(backlog: u32) -> ListenQueue {
        ListenQueue {
            queue: VecDeque::new(),
            examining: 0,
            backlog,
            exhausted: false,
            accept_enabled: true,
            accept_posted: false,
            stats: ListenerStats::default(),
        }
    }

    /// Requests that count against the backlog (L7).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.queue.len() + self.examining as usize
    }

    /// E2: a request arrived on a listener that selects FD_ACCEPT: record it unless a CF_DEFER
    /// answer disabled it (a new arrival records it again even after it was reported, as
    /// Windows does). Returns the event object to signal.
    #[must_use]
    #[inline]
    pub(crate) fn post_accept(&mut self, events: &mut EventRecord) -> Option<EventHandle> {
        if !self.accept_enabled || self.queue.is_empty() {
            return None;
        }
        self.accept_posted = true;
        events.record(FD_ACCEPT_BIT, 0)
    }

    /// E1, E2: a selection that includes FD_ACCEPT records it for requests already queued, unless
    /// it was recorded since the last re-enabling accept: reporting it and selecting again (with
    /// any mask) records nothing new.
    pub(crate) fn select_accept(&mut self, events: &mut EventRecord) {
        if !self.accept_posted {
            let _ = self.post_accept(events); // the selection signals what is recorded
        }
    }

    /// E2: an accept (any but one answered CF_DEFER) re-enables FD_ACCEPT; it is level-triggered,
    /// so it is recorded again at once while requests are queued, and a recorded one is
    /// forgotten once the queue is empty. Returns the event object to signal.
    #[must_use]
    #[inline]
    pub(crate) fn reenable_accept(&mut self, events: &mut EventRecord) -> Option<EventHandle> {
        self.accept_enabled = true;
        if self.queue.is_empty() {
            self.accept_posted = false;
            events.clear(FD_ACCEPT);
            return None;
        }
        self.accept_posted = true;
        events.record_again(FD_ACCEPT_BIT)
    }

    pub(crate) fn snapshot(&self) -> ListenerStats {
        ListenerStats { queue_len: self.len() as u64, backlog: u64::from(self.backlog), ..self.stats }
    }

    /// L7, L9, E2: a request arrives. It is queued (FD_ACCEPT recorded when selected: the event
    /// object to signal is returned), or refused at once when the queue holds `backlog`
    /// requests or the listener is exhausted: never queued, no event, counted. The request is
    /// made only once it is admitted (a refusal costs nothing more).
    #[inline]
    pub(crate) fn admit(
        &mut self,
        req: impl FnOnce() -> PendingRequest,
        events: &mut EventRecord,
    ) -> Result<Option<EventHandle>> {
        if self.exhausted || self.len() >= self.backlog as usize {
            self.stats.refused_full += 1;
            return Err(WsaError::ConnRefused);
        }
        self.queue.push_back(req());
        self.stats.queued += 1;
        Ok(if events.mask & FD_ACCEPT != 0 { self.post_accept(events) } else { None })
    }

    /// L6, L9: listen again. The latest backlog wins; the newest requests beyond it are taken
    /// off the tail, newest first, for their connectors to be reset. A free descriptor clears
    /// the exhausted state.
    #[inline]
    pub(crate) fn rebacklog(&mut self, backlog: u32, descriptor_free: bool) -> Vec<PendingRequest> {
        self.backlog = backlog;
        let keep = (backlog as usize).saturating_sub(self.examining as usize).min(self.queue.len());
        let reset: Vec<PendingRequest> = self.queue.drain(keep..).rev().collect();
        self.stats.reset += reset.len() as u64;
        if descriptor_free {
            self.exhausted = false;
        }
        reset
    }

    /// A2, A11, L9, E2: an accept looks at the head. `descriptor_free` and `buffers` say whether
    /// the accepted socket could be made now; without them the request stays (an accept that
    /// finds no descriptor exhausts the listener) and the accept fails.
    #[inline]
    pub(crate) fn take_head(&mut self, descriptor_free: bool, buffers: Result<()>, events: &mut EventRecord) -> Head {
        if self.queue.is_empty() {
            let _ = self.reenable_accept(events); // nothing queued: nothing to signal
            if descriptor_free {
                self.exhausted = false;
            }
            return Head::Empty;
        }
        // L9: an accept made while a descriptor is free clears the exhausted state, even one
        // that then fails for want of buffers.
        self.exhausted = !descriptor_free;
        let refusal = if descriptor_free { buffers.err() } else { Some(WsaError::MFile) };
        if let Some(e) = refusal {
            return Head::Refused(e, self.reenable_accept(events)); // E2: a failing accept re-enables too
        }
        self.accept_enabled = true;
        match self.queue.pop_front() {
            Some(req) => {
                self.examining += 1;
                Head::Request(req)
            }
            None => Head::Empty,
        }
    }

    /// A7 to A12, E2: settle a request an accept took off the queue. Returns the event object to
    /// signal (the level-triggered FD_ACCEPT) and whether the request left the queue for good
    /// (its pending count is then released).
    #[inline]
    pub(crate) fn settle(&mut self, outcome: Settle, events: &mut EventRecord) -> (Option<EventHandle>, bool) {
        self.examining -= 1;
        match outcome {
            Settle::Accepted => self.stats.accepted += 1,
            Settle::Rejected => self.stats.rejected += 1,
            Settle::Withdrawn => self.stats.withdrawn += 1,
            Settle::Restore { req, deferred, exhausted } => {
                self.queue.push_front(req);
                if deferred {
                    // A9, E2: a CF_DEFER answer does not re-enable FD_ACCEPT.
                    self.stats.deferred += 1;
                    self.accept_enabled = false;
                    return (None, false);
                }
                self.exhausted |= exhausted;
                return (self.reenable_accept(events), false);
            }
        }
        (self.reenable_accept(events), true)
    }

    /// K2: the books of a request whose listener was closed while its condition function ran,
    /// and the request itself if it was to go back to the queue (it has none left: refuse it).
    pub(crate) fn settle_orphan(outcome: Settle) -> (ListenerStats, Option<PendingRequest>) {
        let mut stats = ListenerStats::default();
        let orphan = match outcome {
            Settle::Accepted => {
                stats.accepted = 1;
                None
            }
            Settle::Rejected => {
                stats.rejected = 1;
                None
            }
            Settle::Withdrawn => {
                stats.withdrawn = 1;
                None
            }
            Settle::Restore { req, deferred, .. } => {
                stats.deferred = u64::from(deferred);
                stats.refused_by_close = 1;
                Some(req)
            }
        };
        (stats, orphan)
    }

    /// K2: the listener is closed: every queued request is to be refused. Returns them and the
    /// final counters.
    pub(crate) fn close(mut self) -> (Vec<PendingRequest>, ListenerStats) {
        self.stats.refused_by_close += self.queue.len() as u64;
        (self.queue.into_iter().collect(), self.stats)
    }
}

/// What happened to a request an accept took off the queue, for the listener's books.
pub(crate) enum Settle {
    Accepted,
    Rejected,
    Withdrawn,
    /// Back to the head: deferred (counted) or not examined after all (not counted);
    /// `exhausted` when the accept found no descriptor for it (L9).
    Restore {
        req: PendingRequest,
        deferred: bool,
        exhausted: bool,
    },
}

/// What an accept finds at the head of the queue.
#[must_use]
pub(crate) enum Head {
    /// The request to examine (it still counts against the backlog until settled).
    Request(PendingRequest),
    /// No socket can be made now (A11: `WSAEMFILE`, `WSAENOBUFS`); the request stays. The
    /// event object to signal (E2) comes with it.
    Refused(WsaError, Option<EventHandle>),
    /// Nothing queued.
    Empty,
}

impl Head {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        matches!(self, Head::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Signal;
    use crate::socket::{Descriptor, SocketCell};
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Signal for Count {
        fn set(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn reset(&self) {}
    }

    fn request(n: u16) -> PendingRequest {
        let cell = Arc::new(SocketCell::new(Descriptor::from_raw(4 * u64::from(n))));
        PendingRequest {
            reply: Reply::Local { connector: cell, attempt: 1 },
            caller: SocketAddrV4::new(Ipv4Addr::LOCALHOST, n),
            callee: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000),
            caller_data: None,
            qos: None,
        }
    }

    fn selected() -> EventRecord {
        let mut e = EventRecord::default();
        let _ = e.select(Some(Arc::new(Count::default())), FD_ACCEPT);
        e
    }

    fn ports(q: &ListenQueue) -> Vec<u16> {
        q.queue.iter().map(|r| r.caller.port()).collect()
    }

    // SPEC L7, E2: admitted up to the backlog, FD_ACCEPT recorded when selected; then refused at
    // once, counted, with no event
    #[test]
    fn admission_stops_at_the_backlog() {
        let mut q = ListenQueue::new(2);
        let mut ev = selected();
        assert!(q.admit(|| request(1), &mut ev).unwrap().is_some(), "the first arrival signals");
        assert!(q.admit(|| request(2), &mut ev).unwrap().is_none(), "already recorded");
        assert_eq!(q.admit(|| request(3), &mut ev).err(), Some(WsaError::ConnRefused));
        assert_eq!((q.stats.queued, q.stats.refused_full, ports(&q)), (2, 1, vec![1, 2]));
        let mut unselected = EventRecord::default();
        let mut q2 = ListenQueue::new(1);
        assert!(q2.admit(|| request(1), &mut unselected).unwrap().is_none());
        assert_eq!(unselected.code(FD_ACCEPT_BIT), None, "nothing recorded without a selection");
    }

    // SPEC L9: an exhausted listener refuses, keeps its queue, and an accept with a free descriptor
    // clears the state
    #[test]
    fn exhaustion_refuses_until_a_descriptor_is_free() {
        let mut q = ListenQueue::new(5);
        let mut ev = EventRecord::default();
        q.admit(|| request(1), &mut ev).unwrap();
        assert!(matches!(q.take_head(false, Ok(()), &mut ev), Head::Refused(WsaError::MFile, _)));
        assert!(q.exhausted);
        assert_eq!(q.admit(|| request(2), &mut ev).err(), Some(WsaError::ConnRefused));
        assert_eq!(ports(&q), vec![1], "the queue is kept");
        assert!(matches!(q.take_head(true, Err(WsaError::NoBufs), &mut ev), Head::Refused(WsaError::NoBufs, _)));
        assert!(!q.exhausted, "a free descriptor clears it even when buffers then fail");
        assert!(matches!(q.take_head(true, Ok(()), &mut ev), Head::Request(_)));
        assert_eq!((q.examining, q.len()), (1, 1), "an examined request still counts (L7)");
    }

    // SPEC L6: a smaller backlog resets the newest excess requests, newest first; examined ones count
    #[test]
    fn a_smaller_backlog_resets_the_newest() {
        let mut q = ListenQueue::new(5);
        let mut ev = EventRecord::default();
        for n in 1..=4 {
            q.admit(|| request(n), &mut ev).unwrap();
        }
        let Head::Request(_examined) = q.take_head(true, Ok(()), &mut ev) else { panic!("a request") };
        let reset = q.rebacklog(2, true);
        assert_eq!(reset.iter().map(|r| r.caller.port()).collect::<Vec<_>>(), vec![4, 3]);
        assert_eq!((ports(&q), q.backlog, q.stats.reset), (vec![2], 2, 2));
        assert!(q.rebacklog(9, true).is_empty(), "a larger backlog resets nothing");
    }

    // SPEC A7 to A12, E2: every settlement keeps the books; CF_DEFER puts the request back at the
    // head without re-enabling FD_ACCEPT; any other answer re-enables it while requests remain
    #[test]
    fn settling_keeps_the_books_and_the_level_of_fd_accept() {
        let mut q = ListenQueue::new(5);
        let mut ev = selected();
        q.admit(|| request(1), &mut ev).unwrap();
        q.admit(|| request(2), &mut ev).unwrap();
        let _ = ev.take();
        let Head::Request(r) = q.take_head(true, Ok(()), &mut ev) else { panic!("a request") };
        assert!(!q.settle(Settle::Restore { req: r, deferred: true, exhausted: false }, &mut ev).1, "stays queued");
        assert_eq!((ports(&q), q.stats.deferred, q.accept_enabled), (vec![1, 2], 1, false));
        assert!(q.admit(|| request(3), &mut ev).unwrap().is_none(), "no FD_ACCEPT behind a deferral");
        let Head::Request(r) = q.take_head(true, Ok(()), &mut ev) else { panic!("a request") };
        assert_eq!(r.caller.port(), 1, "A9: the same request first");
        let (set, done) = q.settle(Settle::Accepted, &mut ev);
        assert!(set.is_some() && done, "E2: re-enabled with requests left: signalled again");
        for outcome in [Settle::Rejected, Settle::Withdrawn] {
            let Head::Request(_) = q.take_head(true, Ok(()), &mut ev) else { panic!("a request") };
            let (set, done) = q.settle(outcome, &mut ev);
            assert!(done);
            assert_eq!(set.is_some(), !q.queue.is_empty());
        }
        let s = q.snapshot();
        assert_eq!((s.accepted, s.rejected, s.withdrawn, s.queue_len), (1, 1, 1, 0));
        assert!(q.take_head(true, Ok(()), &mut ev).is_empty());
    }

    // SPEC K2: closing refuses every queued request and keeps the counts
    #[test]
    fn closing_hands_back_every_request() {
        let mut q = ListenQueue::new(5);
        let mut ev = EventRecord::default();
        q.admit(|| request(1), &mut ev).unwrap();
        q.admit(|| request(2), &mut ev).unwrap();
        let (refused, stats) = q.close();
        assert_eq!((refused.len(), stats.refused_by_close, stats.queued), (2, 2, 2));
        let (stats, orphan) =
            ListenQueue::settle_orphan(Settle::Restore { req: request(3), deferred: true, exhausted: false });
        assert!(orphan.is_some());
        assert_eq!((stats.deferred, stats.refused_by_close), (1, 1));
    }
}

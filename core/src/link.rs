//! How a pending request answers its connector and how a connection reaches its peer, whatever
//! fabric carried the request (SPEC section 11): the listen/accept rules only ever talk to a
//! [`Reply`] and a [`PeerLink`], never to the other socket directly.

use crate::consts::FD_CLOSE_BIT;
use crate::error::WsaError;
use crate::fabric::session::{Inbound, RemoteLink, Session};
use crate::socket::{Answer, SocketCell, State, answer};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Where the answer to a pending request goes: the connector's attempt.
pub(crate) enum Reply {
    /// The connector lives in this process (the in-process fabric): answered by a direct call.
    Local { connector: Arc<SocketCell>, attempt: u64 },
    /// The connector's device is across the TCP fabric: answered by a frame (F5, F6).
    Remote(Arc<Inbound>),
}

impl Reply {
    /// A12: the connector withdrew the attempt (closed, timed out, interrupted, lost).
    #[inline]
    pub(crate) fn is_withdrawn(&self) -> bool {
        match self {
            Reply::Local { connector, attempt } => connector.attempt.load(Ordering::Acquire) != *attempt,
            Reply::Remote(r) => r.is_withdrawn(),
        }
    }

    /// C1, F6: deliver the listener's answer. Returns false when the attempt was already
    /// withdrawn, in which case nothing changed on the connector's side.
    #[inline]
    pub(crate) fn answer(&self, a: Answer) -> bool {
        match self {
            Reply::Local { connector, attempt } => answer(connector, *attempt, a),
            Reply::Remote(r) => r.answer(a),
        }
    }

    /// K2, L6: refuse the request for a reason of the listener's own (closed, backlog shrunk),
    /// without waiting to learn whether the connector still waited: the listener counts it so
    /// either way.
    pub(crate) fn refuse(&self, e: WsaError) {
        match self {
            Reply::Local { connector, attempt } => {
                answer(connector, *attempt, Answer::Failed(e));
            }
            Reply::Remote(r) => r.refuse(e),
        }
    }

    /// The link an accepted socket keeps to this connector (K3).
    #[inline]
    pub(crate) fn peer_link(&self) -> PeerLink {
        match self {
            Reply::Local { connector, .. } => PeerLink::Local(connector.clone()),
            Reply::Remote(r) => r.peer_link(),
        }
    }
}

/// How one end of an established connection reaches the other (K3).
pub(crate) enum PeerLink {
    /// The other end lives in this process. Its cell outlives the socket (a table's cells serve
    /// one socket after another), but not while this link matters: a socket's links are dropped
    /// when it closes, before its cell can take a later socket.
    Local(Arc<SocketCell>),
    /// The other end is across the TCP fabric.
    Remote(Arc<RemoteLink>),
}

impl PeerLink {
    /// K3: this end (`closed`) was closed: the other end records FD_CLOSE (error 0) and is no
    /// longer connected.
    #[inline]
    pub(crate) fn close(&self, closed: &SocketCell) {
        match self {
            PeerLink::Local(peer) => disconnect(peer, End::Local(closed), 0),
            PeerLink::Remote(r) => r.close(),
        }
    }

    /// Whether this link leads to `end`.
    fn leads_to(&self, end: &End<'_>) -> bool {
        match (self, end) {
            (PeerLink::Local(p), End::Local(c)) => std::ptr::eq(Arc::as_ptr(p), *c),
            (PeerLink::Remote(r), End::Remote(session, id)) => r.is(session, *id),
            _ => false,
        }
    }
}

/// The end of a connection that went away, as the end that stays open names it.
pub(crate) enum End<'a> {
    /// A socket of this process.
    Local(&'a SocketCell),
    /// The connection `id` of a fabric session.
    Remote(&'a Session, u64),
}

/// K3, F7 on the side that stays open: `peer` learns that its other end (`closed`) is gone and
/// records FD_CLOSE with `code` (0 for a close, WSAECONNABORTED for a lost device). Nothing
/// happens unless `peer` is still connected to exactly that end, so a later socket in the same
/// cell is never touched.
#[inline]
pub(crate) fn disconnect(peer: &SocketCell, closed: End<'_>, code: i32) {
    let (set, wake) = {
        let mut g = peer.lock();
        if !matches!(&g.state, State::Connected { peer: p, .. } if p.leads_to(&closed)) {
            return;
        }
        let (_, wake) = g.set_state(peer, State::Disconnected);
        (g.events.record(FD_CLOSE_BIT, code), wake)
    };
    wake.notify(peer);
    if let Some(h) = set {
        crate::events::fire_set(&h);
    }
}

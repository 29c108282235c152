//! How a pending request answers its connector and how a connection reaches its peer, whatever
//! fabric carried the request (SPEC section 11): the listen/accept rules only ever talk to a
//! [`Reply`] and a [`PeerLink`], never to the other socket directly.

use crate::consts::FD_CLOSE_BIT;
use crate::error::WsaError;
use crate::fabric::session::{Inbound, RemoteLink, Session};
use crate::socket::{Answer, Descriptor, SocketCell, State, answer};
use crate::table::Table;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Where the answer to a pending request goes: the connector's attempt. The methods take the
/// table of the listener's provider, where a connector of that same provider is found.
pub(crate) enum Reply {
    /// The connector is a socket of the listener's own provider: found in its table by
    /// descriptor (the table's cells last as long as its queues, so no reference is counted),
    /// answered by a direct call.
    Here { connector: Descriptor, attempt: u64 },
    /// The connector lives in another provider of this process (the in-process fabric):
    /// answered by a direct call.
    Local { connector: Arc<SocketCell>, attempt: u64 },
    /// The connector's device is across the TCP fabric: answered by a frame (F5, F6).
    Remote(Arc<Inbound>),
}

impl Reply {
    /// A12: the connector withdrew the attempt (closed, timed out, interrupted, lost).
    #[inline]
    pub(crate) fn is_withdrawn(&self, table: &Table) -> bool {
        match self {
            Reply::Here { connector, attempt } => {
                table.cell(*connector).is_none_or(|c| c.attempt.load(Ordering::Acquire) != *attempt)
            }
            Reply::Local { connector, attempt } => connector.attempt.load(Ordering::Acquire) != *attempt,
            Reply::Remote(r) => r.is_withdrawn(),
        }
    }

    /// C1, F6: deliver the listener's answer. Returns false when the attempt was already
    /// withdrawn, in which case nothing changed on the connector's side.
    #[inline]
    pub(crate) fn answer(&self, table: &Table, a: Answer) -> bool {
        match self {
            Reply::Here { connector, attempt } => table.cell(*connector).is_some_and(|c| answer(c, *attempt, a)),
            Reply::Local { connector, attempt } => answer(connector, *attempt, a),
            Reply::Remote(r) => r.answer(a),
        }
    }

    /// K2, L6: refuse the request for a reason of the listener's own (closed, backlog shrunk),
    /// without waiting to learn whether the connector still waited: the listener counts it so
    /// either way.
    pub(crate) fn refuse(&self, table: &Table, e: WsaError) {
        match self {
            Reply::Here { connector, attempt } => {
                if let Some(c) = table.cell(*connector) {
                    answer(c, *attempt, Answer::Failed(e));
                }
            }
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
            Reply::Here { connector, .. } => PeerLink::Here(*connector),
            Reply::Local { connector, .. } => PeerLink::Local(connector.clone()),
            Reply::Remote(r) => r.peer_link(),
        }
    }

    /// The link this connector keeps to `accepted` (its cell, its descriptor) once answered (K3).
    #[inline]
    pub(crate) fn link_to(&self, accepted: &Arc<SocketCell>, id: Descriptor) -> PeerLink {
        match self {
            Reply::Here { .. } => PeerLink::Here(id),
            Reply::Local { .. } | Reply::Remote(_) => PeerLink::Local(accepted.clone()),
        }
    }
}

/// How one end of an established connection reaches the other (K3).
pub(crate) enum PeerLink {
    /// The other end is a socket of this end's own provider, found in its table by descriptor.
    Here(Descriptor),
    /// The other end lives in another provider of this process. Its cell outlives the socket
    /// (a table's cells serve one socket after another), but not while this link matters: a
    /// socket's links are dropped when it closes, before its cell can take a later socket.
    Local(Arc<SocketCell>),
    /// The other end is across the TCP fabric.
    Remote(Arc<RemoteLink>),
}

impl PeerLink {
    /// K3: this end (`closed`, socket `id` of `table`'s provider) was closed: the other end
    /// records FD_CLOSE (error 0) and is no longer connected.
    #[inline]
    pub(crate) fn close(&self, table: &Table, closed: &SocketCell, id: Descriptor) {
        match self {
            PeerLink::Here(peer) => {
                if let Some(peer) = table.cell(*peer) {
                    disconnect(peer, End::Here(id), 0);
                }
            }
            PeerLink::Local(peer) => disconnect(peer, End::Local(closed), 0),
            PeerLink::Remote(r) => r.close(),
        }
    }

    /// Whether this link leads to `end`.
    fn leads_to(&self, end: &End<'_>) -> bool {
        match (self, end) {
            (PeerLink::Here(p), End::Here(id)) => p == id,
            (PeerLink::Local(p), End::Local(c)) => std::ptr::eq(Arc::as_ptr(p), *c),
            (PeerLink::Remote(r), End::Remote(session, id)) => r.is(session, *id),
            _ => false,
        }
    }
}

/// The end of a connection that went away, as the end that stays open names it.
pub(crate) enum End<'a> {
    /// A socket of the provider of the end that stays open, by descriptor (that end links to
    /// it with [`PeerLink::Here`]). Only within one provider: two providers hand out the same
    /// descriptor values.
    Here(Descriptor),
    /// A socket of another provider of this process, by cell ([`PeerLink::Local`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn connected(cell: &SocketCell, peer: PeerLink) {
        cell.lock().state = State::Connected { remote: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1), peer };
    }

    // SPEC K3: two providers hand out the same descriptor values. A socket of another provider
    // whose link is stale (the socket it led to closed, its cell taken since by a socket
    // connected within its own provider) must not disconnect that later socket because the
    // descriptors are equal.
    #[test]
    fn a_close_in_another_provider_does_not_disconnect_a_socket_linked_to_an_equal_descriptor() {
        let d = Descriptor::from_raw(1 << 26);
        let later = Arc::new(SocketCell::new(Descriptor::from_raw(2 << 26)));
        connected(&later, PeerLink::Here(d)); // connected to socket `d` of its own provider
        let elsewhere = SocketCell::new(d); // socket `d` of another provider, closing
        PeerLink::Local(later.clone()).close(&Table::new(), &elsewhere, d);
        assert!(matches!(later.lock().state, State::Connected { .. }), "disconnected by a stranger");
    }

    // SPEC K3: within one provider, and across two, a close reaches the end it is connected to.
    #[test]
    fn a_close_disconnects_its_own_peer() {
        let t = Table::new();
        let (d, closing) = t.allocate().unwrap();
        let (e, peer) = t.allocate().unwrap();
        peer.lock().open_as(e, 0, |_| {});
        connected(peer, PeerLink::Here(d));
        PeerLink::Here(e).close(&t, closing, d);
        assert!(matches!(peer.lock().state, State::Disconnected));
        let there = Arc::new(SocketCell::new(e));
        connected(&there, PeerLink::Local(closing.clone()));
        PeerLink::Local(there.clone()).close(&Table::new(), closing, d);
        assert!(matches!(there.lock().state, State::Disconnected));
    }
}

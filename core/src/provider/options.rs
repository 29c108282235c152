//! Names, options and events (SPEC sections 7 (A15), 8, L8, C2, D3, D4): the calls that read or
//! change one socket's settings.

use super::{Call, Provider, SockOpt, signal_set};
use crate::consts::{self, FD_ACCEPT, FD_ALL_EVENTS};
use crate::error::{Result, WsaError};
use crate::events::{EventHandle, NetworkEvents};
use crate::socket::{Descriptor, SocketInner, State};
use crate::stats::ListenerStats;
use std::net::{Ipv4Addr, SocketAddrV4};

impl Provider {
    /// SPEC X4: the error `call` on `s` fails with before any of its pointer or length arguments
    /// count: the entry checks, the descriptor, then whether the socket's state allows the call
    /// at all. `Ok` when only the arguments can fail it now. A face that finds a bad pointer
    /// reports this error if there is one, and `WSAEFAULT` only otherwise
    /// (`WSPGetPeerName(INVALID_SOCKET, NULL, NULL)` is `WSAENOTSOCK`, on an unconnected socket
    /// `WSAENOTCONN`).
    pub fn precheck(&self, s: Descriptor, call: Call) -> Result<()> {
        self.with_socket(s, |g| call.check(&g.state, g.local))
    }

    /// `WSPGetSockName` (SPEC A15): `WSAEINVAL` when not bound.
    pub fn sock_name(&self, s: Descriptor) -> Result<SocketAddrV4> {
        self.with_socket(s, |g| {
            Call::SockName.check(&g.state, g.local)?;
            g.local.ok_or(WsaError::Inval)
        })
    }

    /// `WSPGetPeerName` (SPEC A15, K3): `WSAENOTCONN` unless connected.
    pub fn peer_name(&self, s: Descriptor) -> Result<SocketAddrV4> {
        self.with_socket(s, |g| match g.state {
            State::Connected { remote, .. } => Ok(remote),
            ref other => Call::PeerName.check(other, g.local).and(Err(WsaError::NotConn)),
        })
    }

    /// `WSPGetSockOpt` for one option (SPEC L8, C2). Reading `SO_ERROR` leaves it as it is.
    pub fn get_option(&self, s: Descriptor, opt: SockOpt) -> Result<i32> {
        self.with_socket(s, |g| {
            Ok(match opt {
                SockOpt::AcceptConn => i32::from(matches!(g.state, State::Listening(_))),
                SockOpt::Error => g.so_error, // C2 (decided): reading does not clear it
                SockOpt::Type => consts::SOCK_STREAM,
                SockOpt::SndBuf => g.sndbuf,
                SockOpt::RcvBuf => g.rcvbuf,
                SockOpt::ConnDataLen => i32::try_from(g.callee_data.len()).unwrap_or(i32::MAX),
            })
        })
    }

    /// `WSPGetSockOpt` by level and option number, in either numbering (SPEC section 1): the
    /// entry checks and the socket come first, then a level that is neither `SOL_SOCKET` nor
    /// `IPPROTO_TCP` is `WSAEINVAL` and an unknown option `WSAENOPROTOOPT` (as Windows).
    pub fn get_option_raw(&self, s: Descriptor, level: i32, name: i32) -> Result<i32> {
        self.with_socket(s, |_| Ok(()))?;
        self.get_option(s, SockOpt::resolve(level, name)?)
    }

    /// `WSPSetSockOpt` by level and option number, checked in the order of
    /// [`get_option_raw`](Self::get_option_raw).
    pub fn set_option_raw(&self, s: Descriptor, level: i32, name: i32, value: i32) -> Result<()> {
        self.with_socket(s, |_| Ok(()))?;
        self.set_option(s, SockOpt::resolve(level, name)?, value)
    }

    /// `WSPSetSockOpt` for one option. Read-only options fail with `WSAENOPROTOOPT` (L8);
    /// a negative buffer size with `WSAEINVAL`. `SO_ERROR` takes any value, as on Windows.
    pub fn set_option(&self, s: Descriptor, opt: SockOpt, value: i32) -> Result<()> {
        self.with_socket(s, |g| {
            let slot = match opt {
                SockOpt::SndBuf => &mut g.sndbuf,
                SockOpt::RcvBuf => &mut g.rcvbuf,
                SockOpt::Error => {
                    g.so_error = value;
                    return Ok(());
                }
                _ => return Err(WsaError::NoProtoOpt),
            };
            if value < 0 {
                return Err(WsaError::Inval);
            }
            *slot = value;
            Ok(())
        })
    }

    /// The callee data the socket's completed connect received (`SO_CONNDATA`); empty if none.
    pub fn callee_data(&self, s: Descriptor) -> Result<Vec<u8>> {
        self.with_socket(s, |g| Ok(g.callee_data.to_vec()))
    }

    /// `FIONBIO` (SPEC E6): clearing it while an event selection is active fails with `WSAEINVAL`.
    pub fn set_nonblocking(&self, s: Descriptor, on: bool) -> Result<()> {
        self.with_socket(s, |g| {
            if !on && g.events.selected() {
                return Err(WsaError::Inval);
            }
            g.nonblocking = on;
            Ok(())
        })
    }

    /// Whether the socket is in non-blocking mode.
    pub fn is_nonblocking(&self, s: Descriptor) -> Result<bool> {
        self.with_socket(s, |g| Ok(g.nonblocking))
    }

    /// `WSPEventSelect` (SPEC E1): record the selection, make the socket non-blocking, keep
    /// recorded events, and signal at once if a selected event is already recorded. A mask of
    /// 0 cancels the selection. Bits outside the ten `FD_*` events: `WSAEINVAL`.
    pub fn event_select(&self, s: Descriptor, event: Option<EventHandle>, mask: u32) -> Result<()> {
        let set = self.with_socket(s, |g| {
            // X4: an unknown descriptor is WSAENOTSOCK whatever the mask; the mask comes second.
            if mask & !FD_ALL_EVENTS != 0 {
                return Err(WsaError::Inval);
            }
            g.nonblocking = true;
            let SocketInner { state, events, .. } = g;
            if let State::Listening(q) = state {
                if mask & FD_ACCEPT != 0 {
                    q.select_accept(events); // signalled by the selection below
                }
            }
            Ok(events.select(event, mask))
        })?;
        signal_set(set);
        Ok(())
    }

    /// `WSPEnumNetworkEvents` (SPEC E4): take the recorded events that are in the current
    /// selection, clearing them (the others stay recorded, E5), and reset `reset` if given.
    pub fn enum_network_events(&self, s: Descriptor, reset: Option<&EventHandle>) -> Result<NetworkEvents> {
        self.shared.enter()?;
        let (cell, mut g) = self.shared.table.lock(s)?;
        let taken = g.events.take();
        drop(g);
        if let Some(h) = reset {
            crate::events::fire_reset(h);
            // An event recorded between the take and the reset must not be left unsignalled.
            let again = cell.lock_as(s).and_then(|g| g.events.pending_signal());
            signal_set(again);
        }
        Ok(taken)
    }

    /// `SIO_ADDRESS_LIST_QUERY` (SPEC D4): the device's NIC addresses.
    pub fn address_list(&self) -> Result<Vec<Ipv4Addr>> {
        self.shared.enter()?;
        Ok(self.device().nics())
    }

    /// Statistics of one listening socket (SPEC D3); `WSAEINVAL` if it is not listening.
    /// Readable while the device is down.
    pub fn listener_stats(&self, s: Descriptor) -> Result<ListenerStats> {
        let (_, g) = self.shared.table.lock(s)?;
        match &g.state {
            State::Listening(q) => Ok(q.snapshot()),
            State::Closed => Err(WsaError::NotSock),
            _ => Err(WsaError::Inval),
        }
    }

    /// The context the create hook returned for this socket (SPEC X5), 0 without hooks.
    /// Fails with `WSAEINPROGRESS` from inside one of this provider's condition functions (A14).
    pub fn context(&self, s: Descriptor) -> Result<u64> {
        self.shared.check_reentry()?;
        let (_, g) = self.shared.table.lock(s)?;
        Ok(g.context)
    }

    /// The embedding provider's value for this socket: 0 until
    /// [`set_embedder_context`](Self::set_embedder_context) sets it; an accepted socket starts at 0. Readable in any
    /// state, also while the device is down; `WSAENOTSOCK` for an unknown descriptor.
    pub fn embedder_context(&self, s: Descriptor) -> Result<u64> {
        let (_, g) = self.shared.table.lock(s)?;
        Ok(g.embedder)
    }

    /// Set the embedding provider's value for this socket, so its data path finds its own state
    /// for a socket the engine accepted or connected. The engine never reads it.
    pub fn set_embedder_context(&self, s: Descriptor, value: u64) -> Result<()> {
        self.shared.table.lock(s)?.1.embedder = value;
        Ok(())
    }
}

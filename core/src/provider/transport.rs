//! A provider's own transport (SPEC section 11 over a carrier the embedder brings): opening
//! peers, handing the engine what arrives, declaring a peer lost.

use super::{Provider, Shared};
use crate::device::DeviceConfig;
use crate::error::{Result, WsaError};
use crate::fabric::carrier::{self, Links, MessageTransport, Own, PeerId};
use crate::fabric::faults::FaultInjector;
use crate::fabric::session::Policy;
use crate::fabric::tcp::{DEFAULT_LIVENESS, DEFAULT_MAX_PENDING_PER_PEER};
use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

impl Provider {
    /// A provider whose device reaches other devices through `transport`, a transport of the
    /// embedder's own: the engine sends the fabric's messages through it and the embedder hands
    /// what arrives to [`peer_receive`](Self::peer_receive). Peers are opened with
    /// [`open_peer`](Self::open_peer). Fails with `WSAEINVAL` for a NIC list
    /// [`DeviceConfig::validate`] refuses.
    ///
    /// ```
    /// use std::net::{Ipv4Addr, SocketAddrV4};
    /// use std::sync::{Arc, Mutex, OnceLock};
    /// use wspsan_core::{ConnectParams, DeviceConfig, MessageKind, MessageTransport, PeerId, Provider};
    ///
    /// // A transport that hands each message straight to the other provider (in a real one,
    /// // over the wire): `to` is the provider at the other end, `there` our peer handle there.
    /// struct Wire { to: OnceLock<(Provider, PeerId)> }
    /// impl MessageTransport for Wire {
    ///     fn send(&self, _peer: PeerId, _kind: MessageKind, message: &[u8]) -> bool {
    ///         let (to, there) = self.to.get().unwrap();
    ///         to.peer_receive(*there, message).is_ok()
    ///     }
    /// }
    /// let host = |ip| DeviceConfig { nics: vec![ip], ..DeviceConfig::default() };
    /// let (a_ip, b_ip) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    /// let (to_b, to_a) = (Arc::new(Wire { to: OnceLock::new() }), Arc::new(Wire { to: OnceLock::new() }));
    /// let a = Provider::with_transport(host(a_ip), to_b.clone())?;
    /// let b = Provider::with_transport(host(b_ip), to_a.clone())?;
    /// let b_at_a = a.open_peer(&[b_ip])?; // a reaches 10.0.0.2 through this peer
    /// let a_at_b = b.open_peer(&[a_ip])?;
    /// to_b.to.set((b.clone(), a_at_b)).ok();
    /// to_a.to.set((a.clone(), b_at_a)).ok();
    ///
    /// let to = SocketAddrV4::new(b_ip, 5000);
    /// let l = b.socket()?;
    /// b.bind(l, to)?;
    /// b.listen(l, 8)?;
    /// let c = a.socket()?;
    /// let connecting = std::thread::spawn(move || a.connect(c, to, ConnectParams::default()));
    /// let accepted = b.accept(l, None)?;
    /// assert_eq!(accepted.peer.ip(), &a_ip);
    /// connecting.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_transport(config: DeviceConfig, transport: Arc<dyn MessageTransport>) -> Result<Provider> {
        Provider::with_transport_and_faults(config, transport, FaultInjector::new(0))
    }

    /// [`with_transport`](Self::with_transport), the messages passing `faults` on their way out.
    pub fn with_transport_and_faults(
        config: DeviceConfig,
        transport: Arc<dyn MessageTransport>,
        faults: FaultInjector,
    ) -> Result<Provider> {
        config.validate()?;
        let from = config.nics.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let shared = Arc::new(Shared::new(config, None));
        let policy = Arc::new(Policy::new(DEFAULT_LIVENESS, DEFAULT_MAX_PENDING_PER_PEER));
        let links = Links::new(Arc::downgrade(&shared), from, faults, policy)?;
        // Set once, before the provider is handed out: nobody can have read it yet.
        let _ = shared.links.set(links);
        let _ = shared.transport.set(transport);
        Ok(Provider { shared })
    }

    fn own_links(&self) -> Result<&Arc<Links>> {
        match (self.shared.transport.get(), self.shared.links.get()) {
            (Some(_), Some(l)) => Ok(l),
            _ => Err(WsaError::Inval),
        }
    }

    /// A new peer device of the provider's own transport, owning `nics`: connects to those
    /// addresses go to it. `nics` may be empty for a peer that only connects here. Fails with
    /// `WSAEINVAL` for a provider without its own transport or a NIC of 0.0.0.0, and with
    /// `WSAEADDRINUSE` when an address is this device's own or a live peer's.
    pub fn open_peer(&self, nics: &[Ipv4Addr]) -> Result<PeerId> {
        let links = self.own_links()?;
        let transport = self.shared.transport.get().ok_or(WsaError::Inval)?;
        if nics.iter().any(|ip| ip.is_unspecified()) {
            return Err(WsaError::Inval);
        }
        if nics.iter().any(|ip| self.shared.device.is_nic(*ip)) {
            return Err(WsaError::AddrInUse);
        }
        let hop = Arc::new(Own { transport: transport.clone(), peer: OnceLock::new() });
        let peer = links.open(nics, hop.clone())?;
        let _ = hop.peer.set(peer.handle);
        Ok(PeerId(peer.handle))
    }

    /// A message from `peer`, as the transport received it. A message that came twice or after
    /// the peer was lost is ignored (counted as stale). Fails with `WSAEINVAL` for a stale or
    /// made-up peer, and for a malformed message or one against the protocol's order, which also
    /// loses the peer (SPEC F8: counted as a protocol error, F7 applies to what it carried).
    pub fn peer_receive(&self, peer: PeerId, message: &[u8]) -> Result<()> {
        let links = self.own_links()?;
        let Ok(p) = links.get(peer.0) else {
            links.policy.count_stale();
            return Err(WsaError::Inval);
        };
        let received = carrier::decode(message).ok_or(()).and_then(|(ch, f)| p.receive(ch, f).map_err(|_| ()));
        if received.is_err() {
            links.policy.protocol_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            p.lose();
            return Err(WsaError::Inval);
        }
        Ok(())
    }

    /// The transport lost `peer` (its process died, its link broke): SPEC F7's outcomes at once,
    /// and the handle is stale from now on. `WSAEINVAL` for a stale or made-up peer.
    pub fn peer_lost(&self, peer: PeerId) -> Result<()> {
        self.own_links()?.get(peer.0)?.lose();
        Ok(())
    }

    /// The fault injector on the device's outgoing fabric messages (requests, answers,
    /// confirmations, withdrawals, closes; never the TCP fabric's handshake and liveness): the
    /// in-process fabric's when it has one, the TCP fabric's or the own transport's; `None` for a
    /// device whose connects are direct calls.
    pub fn fabric_faults(&self) -> Option<FaultInjector> {
        match (self.shared.tcp.get(), self.shared.links.get()) {
            (Some(t), _) => Some(t.endpoint.courier.faults().clone()),
            (None, Some(l)) => Some(l.faults().clone()),
            (None, None) => None,
        }
    }
}

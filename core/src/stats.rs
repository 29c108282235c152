//! Statistics counters (SPEC D3).

use std::ops::AddAssign;

/// Counters of one listening socket, or of a whole device (then summed over every listener
/// it ever had, plus the device-only counters).
///
/// Every request that entered a queue ends in exactly one of `accepted`, `rejected`,
/// `reset`, `withdrawn` or `refused_by_close`, or is still counted in `queue_len`:
/// `queued == accepted + rejected + reset + withdrawn + refused_by_close + queue_len`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// Requests that entered the queue.
    pub queued: u64,
    /// Requests accepted (CF_ACCEPT or no condition).
    pub accepted: u64,
    /// Requests rejected by the condition (CF_REJECT or an invalid answer, SPEC A8, A10).
    pub rejected: u64,
    /// CF_DEFER answers (the request stayed queued; SPEC A9).
    pub deferred: u64,
    /// Connects refused at once because the queue was full or the listener exhausted (L7, L9).
    pub refused_full: u64,
    /// Requests reset by a backlog shrink (L6).
    pub reset: u64,
    /// Requests withdrawn by their connector (closed or timed out) and removed by accept (A12).
    pub withdrawn: u64,
    /// Requests refused because the listener was closed (K2).
    pub refused_by_close: u64,
    /// Requests in the queue now (including one being examined by a condition function).
    pub queue_len: u64,
    /// The effective backlog now (0 for a device total).
    pub backlog: u64,
}

impl AddAssign for ListenerStats {
    fn add_assign(&mut self, o: Self) {
        self.queued += o.queued;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.deferred += o.deferred;
        self.refused_full += o.refused_full;
        self.reset += o.reset;
        self.withdrawn += o.withdrawn;
        self.refused_by_close += o.refused_by_close;
        self.queue_len += o.queue_len;
        self.backlog += o.backlog;
    }
}

/// Device-wide statistics: the listener counters summed, plus what only the device sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Sum of every listener's counters (live and closed); `backlog` is the sum of live ones.
    pub listeners: ListenerStats,
    /// Connects refused because nothing listened on the address.
    pub refused_no_listener: u64,
    /// Connects that timed out (SPEC D2).
    pub timed_out: u64,
    /// Descriptors open now.
    pub open_sockets: u64,
    /// Pending requests on the device now.
    pub pending: u64,
    /// The TCP fabric's counters (SPEC F11).
    pub fabric: FabricStats,
}

/// Fabric counters of a device (SPEC F11); all 0 for a device on the in-process fabric that
/// reaches other devices directly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FabricStats {
    /// Fabric connections open now (to and from other devices).
    pub connections_open: u64,
    /// Fabric connections lost: broken, silent past the liveness interval, or closed for bad input.
    pub connections_lost: u64,
    /// Fabric connections closed because the peer broke the protocol (F8).
    pub protocol_errors: u64,
    /// Fabric connections refused because the peer did not prove the same key, or any key (F9).
    pub key_failures: u64,
    /// Connect requests this device sent to other devices.
    pub requests_sent: u64,
    /// Connect requests this device received from other devices.
    pub requests_received: u64,
    /// Messages ignored because they came twice, or after their peer was declared lost (a
    /// transport that duplicates or delivers late: the first copy counts, nothing is answered
    /// twice).
    pub stale_messages: u64,
    /// Faults injected by the injector on this device's outgoing messages (on an in-process
    /// fabric with faults one injector serves every device, so these are the fabric's totals).
    pub faults: FaultStats,
}

/// Faults a fault injector injected, by kind of fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Messages held back by a delay (each copy of a duplicated message counts).
    pub delayed: u64,
    /// Messages dropped (by count or by probability).
    pub dropped: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Messages a reordering window delivered out of their order.
    pub reordered: u64,
    /// Messages lost to a partition.
    pub partitioned: u64,
}

//! Statistics counters (SPEC D3), and the field lists every record of the ABI is built from.
//!
//! Each record that the C ABI and the Python module copy field by field (the statistics here,
//! [`Limits`](crate::Limits), [`FlowSpec`](crate::FlowSpec)) is declared once, as a field list
//! macro: `for_each_x!(callback! { tokens })` expands to `callback! { tokens <fields> }`, each
//! field written `/// doc` `name: type,`. The engine declares its struct with the list; the C
//! ABI's conversions and the Python records are generated from the same list, so a field added
//! here is a field they have (or a compile error where one is written out by hand).

use std::ops::AddAssign;

/// Declares a public record struct with the fields a `for_each_*` list hands it (a field's
/// `(WindowsName)`, in the lists that have one, is for the C layout only).
macro_rules! declare_record {
    ($(#[$m:meta])* $name:ident; $($(#[$fm:meta])* $f:ident $(($w:ident))?: $t:ty,)*) => {
        $(#[$m])*
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
        }
    };
}
pub(crate) use declare_record;

/// Calls `callback! { tokens <fields> }` with the fields of [`ListenerStats`] (SPEC D3), each
/// `/// doc name: type,` (every one a `u64` counter).
#[macro_export]
macro_rules! for_each_listener_stat {
    ($cb:ident ! { $($args:tt)* }) => {
        $cb! { $($args)*
            /// Requests that entered the queue.
            queued: u64,
            /// Requests accepted (CF_ACCEPT or no condition).
            accepted: u64,
            /// Requests rejected by the condition (CF_REJECT or an invalid answer, SPEC A8, A10).
            rejected: u64,
            /// CF_DEFER answers (the request stayed queued; SPEC A9).
            deferred: u64,
            /// Connects refused at once because the queue was full or the listener exhausted (L7, L9).
            refused_full: u64,
            /// Requests reset by a backlog shrink (L6).
            reset: u64,
            /// Requests withdrawn by their connector (closed or timed out) and removed by accept (A12).
            withdrawn: u64,
            /// Requests refused because the listener was closed (K2).
            refused_by_close: u64,
            /// Requests in the queue now (including one being examined by a condition function).
            queue_len: u64,
            /// The effective backlog now (0 for a device total).
            backlog: u64,
        }
    };
}

/// Calls `callback! { tokens <fields> }` with the fields of [`DeviceStats`] (SPEC D3): `u64`
/// counters and the nested records `listeners` ([`ListenerStats`]) and `fabric`
/// ([`FabricStats`]).
#[macro_export]
macro_rules! for_each_device_stat {
    ($cb:ident ! { $($args:tt)* }) => {
        $cb! { $($args)*
            /// Sum of every listener's counters (live and closed); `backlog` is the sum of live ones.
            listeners: ListenerStats,
            /// Connects refused because nothing listened on the address.
            refused_no_listener: u64,
            /// Connects that timed out (SPEC D2).
            timed_out: u64,
            /// Descriptors open now.
            open_sockets: u64,
            /// Pending requests on the device now.
            pending: u64,
            /// The TCP fabric's counters (SPEC F11).
            fabric: FabricStats,
        }
    };
}

/// Calls `callback! { tokens <fields> }` with the fields of [`FabricStats`] (SPEC F11): `u64`
/// counters and the nested record `faults` ([`FaultStats`]).
#[macro_export]
macro_rules! for_each_fabric_stat {
    ($cb:ident ! { $($args:tt)* }) => {
        $cb! { $($args)*
            /// Fabric connections open now (to and from other devices).
            connections_open: u64,
            /// Fabric connections lost: broken, silent past the liveness interval, or closed for bad input.
            connections_lost: u64,
            /// Fabric connections closed because the peer broke the protocol (F8).
            protocol_errors: u64,
            /// Fabric connections refused because the peer did not prove the same key, or any key (F9).
            key_failures: u64,
            /// Connect requests this device sent to other devices.
            requests_sent: u64,
            /// Connect requests this device received from other devices.
            requests_received: u64,
            /// Messages ignored because they came twice, or after their peer was declared lost (a
            /// transport that duplicates or delivers late: the first copy counts, nothing is answered
            /// twice).
            stale_messages: u64,
            /// Faults injected by the injector on this device's outgoing messages (on an in-process
            /// fabric with faults one injector serves every device, so these are the fabric's totals).
            faults: FaultStats,
        }
    };
}

/// Calls `callback! { tokens <fields> }` with the fields of [`FaultStats`] (every one a `u64`
/// counter).
#[macro_export]
macro_rules! for_each_fault_stat {
    ($cb:ident ! { $($args:tt)* }) => {
        $cb! { $($args)*
            /// Messages held back by a delay (each copy of a duplicated message counts).
            delayed: u64,
            /// Messages dropped (by count or by probability).
            dropped: u64,
            /// Messages delivered twice.
            duplicated: u64,
            /// Messages a reordering window delivered out of their order.
            reordered: u64,
            /// Messages lost to a partition.
            partitioned: u64,
        }
    };
}

for_each_listener_stat!(declare_record! {
    /// Counters of one listening socket, or of a whole device (then summed over every listener
    /// it ever had, plus the device-only counters).
    ///
    /// Every request that entered a queue ends in exactly one of `accepted`, `rejected`,
    /// `reset`, `withdrawn` or `refused_by_close`, or is still counted in `queue_len`:
    /// `queued == accepted + rejected + reset + withdrawn + refused_by_close + queue_len`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    ListenerStats;
});

/// Adds every counter of a `u64`-only record.
macro_rules! impl_add_assign {
    ($name:ident; $($(#[$fm:meta])* $f:ident: u64,)*) => {
        impl AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                $(self.$f += o.$f;)*
            }
        }
    };
}
for_each_listener_stat!(impl_add_assign! { ListenerStats; });

for_each_device_stat!(declare_record! {
    /// Device-wide statistics: the listener counters summed, plus what only the device sees.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    DeviceStats;
});

for_each_fabric_stat!(declare_record! {
    /// Fabric counters of a device (SPEC F11); all 0 for a device on the in-process fabric that
    /// reaches other devices directly.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    FabricStats;
});

for_each_fault_stat!(declare_record! {
    /// Faults a fault injector injected, by kind of fault.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    FaultStats;
});

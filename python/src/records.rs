//! Read-only records with a repr, `==` and `as_dict()`: the statistics and limits of devices and
//! listeners (SPEC D1, D3), shared by `wspsan.Provider`, `wspsan.Socket`, `wspsan.wsp` and the
//! fault injector.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use wspsan_core::Limits as CoreLimits;

/// A field's text in a record's repr.
pub(crate) trait FieldRepr {
    fn field_repr(&self) -> String;
}

macro_rules! plain_repr {
    ($($t:ty),*) => { $(impl FieldRepr for $t { fn field_repr(&self) -> String { self.to_string() } })* };
}
plain_repr!(u32, u64, usize, f64);

impl FieldRepr for bool {
    fn field_repr(&self) -> String {
        if *self { "True" } else { "False" }.into()
    }
}

impl<T: FieldRepr> FieldRepr for Option<T> {
    fn field_repr(&self) -> String {
        self.as_ref().map_or_else(|| "None".into(), FieldRepr::field_repr)
    }
}

/// A small read-only record class with a repr, `==` and `as_dict()`.
macro_rules! record {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[pyclass(frozen, get_all, eq, module = "wspsan")]
        #[derive(Clone, Debug, PartialEq)]
        pub(crate) struct $name { $($(#[$fdoc])* pub(crate) $field: $ty,)* }

        #[pymethods]
        impl $name {
            pub(crate) fn __repr__(&self) -> String {
                let fields = [$(format!("{}={}", stringify!($field), self.$field.field_repr())),*];
                format!("wspsan.{}({})", stringify!($name), fields.join(", "))
            }

            /// The fields as a dict.
            fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let d = PyDict::new(py);
                $(d.set_item(stringify!($field), self.$field)?;)*
                Ok(d)
            }
        }
    };
}
pub(crate) use record;

record! {
    /// Counters of one listening socket (SPEC D3).
    ListenerStats {
        queued: u64,
        accepted: u64,
        rejected: u64,
        deferred: u64,
        refused_full: u64,
        reset: u64,
        withdrawn: u64,
        refused_by_close: u64,
        queue_len: u64,
        backlog: u64,
    }
}

record! {
    /// Device-wide counters (SPEC D3): every listener's counters summed (closed ones included;
    /// `backlog` sums the live ones), plus what only the device sees.
    DeviceStats {
        queued: u64,
        accepted: u64,
        rejected: u64,
        deferred: u64,
        refused_full: u64,
        reset: u64,
        withdrawn: u64,
        refused_by_close: u64,
        queue_len: u64,
        backlog: u64,
        refused_no_listener: u64,
        timed_out: u64,
        open_sockets: u64,
        pending: u64,
        fabric_connections_open: u64,
        fabric_connections_lost: u64,
        fabric_protocol_errors: u64,
        fabric_key_failures: u64,
        fabric_requests_sent: u64,
        fabric_requests_received: u64,
        fabric_stale_messages: u64,
        fabric_faults_delayed: u64,
        fabric_faults_dropped: u64,
        fabric_faults_duplicated: u64,
        fabric_faults_reordered: u64,
        fabric_faults_partitioned: u64,
    }
}

record! {
    /// The limits of a device (SPEC D1). `connect_timeout` is in seconds, None for no timeout.
    Limits {
        max_descriptors: usize,
        max_backlog: u32,
        max_caller_data: usize,
        max_callee_data: usize,
        max_pending: usize,
        connect_timeout: Option<f64>,
    }
}

impl From<wspsan_core::ListenerStats> for ListenerStats {
    fn from(s: wspsan_core::ListenerStats) -> Self {
        ListenerStats {
            queued: s.queued,
            accepted: s.accepted,
            rejected: s.rejected,
            deferred: s.deferred,
            refused_full: s.refused_full,
            reset: s.reset,
            withdrawn: s.withdrawn,
            refused_by_close: s.refused_by_close,
            queue_len: s.queue_len,
            backlog: s.backlog,
        }
    }
}

impl From<wspsan_core::DeviceStats> for DeviceStats {
    fn from(d: wspsan_core::DeviceStats) -> Self {
        let s = d.listeners;
        DeviceStats {
            queued: s.queued,
            accepted: s.accepted,
            rejected: s.rejected,
            deferred: s.deferred,
            refused_full: s.refused_full,
            reset: s.reset,
            withdrawn: s.withdrawn,
            refused_by_close: s.refused_by_close,
            queue_len: s.queue_len,
            backlog: s.backlog,
            refused_no_listener: d.refused_no_listener,
            timed_out: d.timed_out,
            open_sockets: d.open_sockets,
            pending: d.pending,
            fabric_connections_open: d.fabric.connections_open,
            fabric_connections_lost: d.fabric.connections_lost,
            fabric_protocol_errors: d.fabric.protocol_errors,
            fabric_key_failures: d.fabric.key_failures,
            fabric_requests_sent: d.fabric.requests_sent,
            fabric_requests_received: d.fabric.requests_received,
            fabric_stale_messages: d.fabric.stale_messages,
            fabric_faults_delayed: d.fabric.faults.delayed,
            fabric_faults_dropped: d.fabric.faults.dropped,
            fabric_faults_duplicated: d.fabric.faults.duplicated,
            fabric_faults_reordered: d.fabric.faults.reordered,
            fabric_faults_partitioned: d.fabric.faults.partitioned,
        }
    }
}

impl From<CoreLimits> for Limits {
    fn from(l: CoreLimits) -> Self {
        Limits {
            max_descriptors: l.max_descriptors,
            max_backlog: l.max_backlog,
            max_caller_data: l.max_caller_data,
            max_callee_data: l.max_callee_data,
            max_pending: l.max_pending,
            connect_timeout: l.connect_timeout.map(|d| d.as_secs_f64()),
        }
    }
}

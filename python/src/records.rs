//! Read-only records with a repr, `==` and `as_dict()`: the statistics and limits of devices and
//! listeners (SPEC D1, D3), shared by `wspsan.Provider`, `wspsan.Socket`, `wspsan.wsp` and the
//! fault injector.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::Duration;
use wspsan::WSPSAN_DEVICE_STATS;
use wspsan::WSPSAN_LISTENER_STATS;

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
                let fields = [$(format!("{}={}", stringify!($field), $crate::records::FieldRepr::field_repr(&self.$field))),*];
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

/// A record field as Python sees it: its type and its conversion from the engine's.
pub(crate) trait PyValue {
    type Py;
    fn py(self) -> Self::Py;
}

macro_rules! same_value {
    ($($t:ty),*) => { $(impl PyValue for $t { type Py = $t; fn py(self) -> $t { self } })* };
}
same_value!(u32, u64, usize);

/// A duration in seconds, None for none.
impl PyValue for Option<Duration> {
    type Py = Option<f64>;
    fn py(self) -> Option<f64> {
        self.map(|d| d.as_secs_f64())
    }
}

/// A [`record!`] with the fields of an engine record, the `callback!` of its `for_each_*` list,
/// and the conversion from the engine's record (and from the C struct of the same names, when
/// one is given).
macro_rules! engine_record {
    ($(#[$doc:meta])* $name:ident from $core:ty, $c:ty; $($(#[$fm:meta])* $f:ident: $t:ty,)*) => {
        $crate::records::engine_record! { $(#[$doc])* $name from $core; $($f: $t,)* }

        impl From<$c> for $name {
            fn from(s: $c) -> Self {
                $name { $($f: $crate::records::PyValue::py(s.$f),)* }
            }
        }
    };
    ($(#[$doc:meta])* $name:ident from $core:ty; $($(#[$fm:meta])* $f:ident: $t:ty,)*) => {
        $crate::records::record! { $(#[$doc])* $name { $($f: <$t as $crate::records::PyValue>::Py,)* } }

        impl From<$core> for $name {
            fn from(s: $core) -> Self {
                $name { $($f: $crate::records::PyValue::py(s.$f),)* }
            }
        }
    };
}
pub(crate) use engine_record;

wspsan_core::for_each_listener_stat!(engine_record! {
    /// Counters of one listening socket (SPEC D3).
    ListenerStats from wspsan_core::ListenerStats, WSPSAN_LISTENER_STATS;
});

wspsan_core::for_each_limit!(engine_record! {
    /// The limits of a device (SPEC D1). `connect_timeout` is in seconds, None for no timeout.
    Limits from wspsan_core::Limits;
});

/// The flat record Python has for device statistics: each name with the path of its counter in
/// the engine's `DeviceStats`, which the C ABI's `WSPSAN_DEVICE_STATS` nests the same way, so
/// both conversions come from this one list. The names are written out because a declarative
/// macro cannot make `fabric_faults_delayed` out of `fabric.faults.delayed`; a path that is
/// not the engine's fails to compile, and the count is checked against the engine's lists below.
macro_rules! flat_record {
    ($(#[$doc:meta])* $name:ident { $($field:ident = $($path:ident).+,)* }) => {
        record! { $(#[$doc])* $name { $($field: u64,)* } }

        impl From<wspsan_core::DeviceStats> for $name {
            fn from(d: wspsan_core::DeviceStats) -> Self {
                $name { $($field: d.$($path).+,)* }
            }
        }

        impl From<WSPSAN_DEVICE_STATS> for $name {
            fn from(d: WSPSAN_DEVICE_STATS) -> Self {
                $name { $($field: d.$($path).+,)* }
            }
        }

        impl $name {
            /// The counters in the record's order.
            #[cfg(test)]
            fn values(&self) -> Vec<u64> {
                vec![$(self.$field),*]
            }
        }

        /// How many counters the record has.
        const FLAT_DEVICE_STATS: usize = [$(stringify!($field)),*].len();
    };
}

flat_record! {
    /// Device-wide counters (SPEC D3): every listener's counters summed (closed ones included;
    /// `backlog` sums the live ones), plus what only the device sees.
    DeviceStats {
        queued = listeners.queued,
        accepted = listeners.accepted,
        rejected = listeners.rejected,
        deferred = listeners.deferred,
        refused_full = listeners.refused_full,
        reset = listeners.reset,
        withdrawn = listeners.withdrawn,
        refused_by_close = listeners.refused_by_close,
        queue_len = listeners.queue_len,
        backlog = listeners.backlog,
        refused_no_listener = refused_no_listener,
        timed_out = timed_out,
        open_sockets = open_sockets,
        pending = pending,
        fabric_connections_open = fabric.connections_open,
        fabric_connections_lost = fabric.connections_lost,
        fabric_protocol_errors = fabric.protocol_errors,
        fabric_key_failures = fabric.key_failures,
        fabric_requests_sent = fabric.requests_sent,
        fabric_requests_received = fabric.requests_received,
        fabric_stale_messages = fabric.stale_messages,
        fabric_faults_delayed = fabric.faults.delayed,
        fabric_faults_dropped = fabric.faults.dropped,
        fabric_faults_duplicated = fabric.faults.duplicated,
        fabric_faults_reordered = fabric.faults.reordered,
        fabric_faults_partitioned = fabric.faults.partitioned,
    }
}

/// The number of `u64` counters in a `for_each_*` list (the nested records not counted).
macro_rules! count_u64 {
    () => { 0 };
    ($(#[$m:meta])* $f:ident: u64, $($rest:tt)*) => { 1 + count_u64!($($rest)*) };
    ($(#[$m:meta])* $f:ident: $t:ty, $($rest:tt)*) => { count_u64!($($rest)*) };
}

// Every counter of the engine's device statistics (with its nested records) has its name.
const _: () = assert!(
    FLAT_DEVICE_STATS
        == wspsan_core::for_each_listener_stat!(count_u64! {})
            + wspsan_core::for_each_device_stat!(count_u64! {})
            + wspsan_core::for_each_fabric_stat!(count_u64! {})
            + wspsan_core::for_each_fault_stat!(count_u64! {})
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name reads its own counter: with every counter of the C struct different, so are the
    /// record's values (two names on one path would show twice).
    #[test]
    fn flat_device_stats_read_every_counter_once() {
        let mut c = WSPSAN_DEVICE_STATS::default();
        let n = size_of::<WSPSAN_DEVICE_STATS>() / size_of::<u64>();
        assert_eq!(n, FLAT_DEVICE_STATS);
        let counters: Vec<u64> = (1..=n as u64).collect();
        // SAFETY: WSPSAN_DEVICE_STATS is repr(C) and made of u64 fields only (its size is n u64s,
        // checked above), so it is n u64s in a row; any value is valid for each.
        unsafe { std::ptr::copy_nonoverlapping(counters.as_ptr(), (&raw mut c).cast::<u64>(), n) };
        let mut seen = DeviceStats::from(c).values();
        seen.sort_unstable();
        assert_eq!(seen, counters);
        // The engine's record reaches Python as its C struct does.
        let mut d = wspsan_core::DeviceStats::default();
        d.listeners.withdrawn = 7;
        d.pending = 8;
        d.fabric.key_failures = 9;
        d.fabric.faults.reordered = 10;
        assert_eq!(DeviceStats::from(d), DeviceStats::from(WSPSAN_DEVICE_STATS::from(d)));
    }
}

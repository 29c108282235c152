//! Device control for C callers (SPEC D1 to D3): NICs, limits, fault switches and statistics of
//! the process-wide provider's device. Usable before `WSPStartup`; same conventions as the WSP
//! functions (0 or `SOCKET_ERROR` with `*lpErrno`).

use crate::boundary::{descriptor, errno_out, extension, in_ref, out_ref};
use crate::types::*;
use core::ffi::c_int;
use std::net::Ipv4Addr;
use std::time::Duration;
use wspsan_core::{DeviceStats, FabricStats, FaultStats, Limits, ListenerStats};

/// The device's limits (SPEC D1, D2), as `wspsan_device_get_limits` reads and
/// `wspsan_device_set_limits` writes them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSPSAN_LIMITS {
    /// Maximum open descriptors (default 65536).
    pub max_descriptors: u64,
    /// Maximum pending requests on the device (default 1 << 20).
    pub max_pending: u64,
    /// Maximum backlog, what SOMAXCONN means (default 4096).
    pub max_backlog: u32,
    /// Maximum caller data bytes per connect (default 256; at most 65536, larger values are
    /// clamped).
    pub max_caller_data: u32,
    /// Size of the callee data buffer a condition function gets (default 256; at most 65536).
    pub max_callee_data: u32,
    /// Milliseconds after which an unanswered connect is withdrawn; 0 = never (default).
    pub connect_timeout_ms: u32,
}

/// The device's fault switches (SPEC D2), as `wspsan_device_get_faults` reads them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSPSAN_FAULTS {
    /// Non-zero: every call fails with WSAENETDOWN.
    pub network_down: c_int,
    /// Non-zero: allocating a socket or pending request fails with WSAENOBUFS.
    pub buffer_exhaustion: c_int,
    /// A lower descriptor limit in force, or -1 for none.
    pub descriptor_limit: i64,
}

/// Counters of one listening socket, or summed over a device (SPEC D3).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSPSAN_LISTENER_STATS {
    /// Requests that entered the queue.
    pub queued: u64,
    /// Requests accepted.
    pub accepted: u64,
    /// Requests rejected by the condition function (CF_REJECT or an invalid answer).
    pub rejected: u64,
    /// CF_DEFER answers.
    pub deferred: u64,
    /// Connects refused at once because the queue was full or the listener exhausted.
    pub refused_full: u64,
    /// Requests reset by a backlog shrink.
    pub reset: u64,
    /// Requests withdrawn by their connector and removed by accept.
    pub withdrawn: u64,
    /// Requests refused because the listener was closed.
    pub refused_by_close: u64,
    /// Requests in the queue now.
    pub queue_len: u64,
    /// The effective backlog now (a device sums its live listeners').
    pub backlog: u64,
}

/// Device-wide statistics (SPEC D3).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSPSAN_DEVICE_STATS {
    /// Every listener's counters summed, live and closed.
    pub listeners: WSPSAN_LISTENER_STATS,
    /// Connects refused because nothing listened on the address.
    pub refused_no_listener: u64,
    /// Connects that timed out.
    pub timed_out: u64,
    /// Descriptors open now.
    pub open_sockets: u64,
    /// Pending requests on the device now.
    pub pending: u64,
    /// The TCP fabric's counters (SPEC F11), all 0 off the TCP fabric.
    pub fabric: WSPSAN_FABRIC_STATS,
}

/// A device's TCP fabric counters (SPEC F11).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSPSAN_FABRIC_STATS {
    /// Fabric connections open now, to and from other devices.
    pub connections_open: u64,
    /// Fabric connections lost: broken, silent past the liveness interval, or closed for bad input.
    pub connections_lost: u64,
    /// Fabric connections closed because the peer broke the protocol (F8).
    pub protocol_errors: u64,
    /// Fabric connections refused because the peer did not prove the same key, or any key (F9).
    pub key_failures: u64,
    /// Connect requests sent to other devices.
    pub requests_sent: u64,
    /// Connect requests received from other devices.
    pub requests_received: u64,
    /// Messages ignored because they came twice or after their peer was lost.
    pub stale_messages: u64,
    /// Faults injected into the device's outgoing fabric messages.
    pub faults: WSPSAN_FAULT_STATS,
}

/// Faults injected into a device's fabric messages, by kind of fault.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSPSAN_FAULT_STATS {
    /// Messages held back by a delay.
    pub delayed: u64,
    /// Messages dropped.
    pub dropped: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Messages a reordering window delivered out of their order.
    pub reordered: u64,
    /// Messages lost to a partition.
    pub partitioned: u64,
}

// The C statistics structs are written out above because cbindgen reads them without expanding
// macros; their conversions are generated from the engine's field lists. Each is a struct
// literal naming every field of the list, so a field the C struct lacks, or has and the list
// does not, is a compile error (the order is checked by the tests below).
macro_rules! stats_to_c {
    ($core:ident => $c:ident; $($(#[$fm:meta])* $f:ident: $t:ty,)*) => {
        impl From<$core> for $c {
            fn from(s: $core) -> Self {
                $c { $($f: s.$f.into(),)* }
            }
        }
    };
}
wspsan_core::for_each_listener_stat!(stats_to_c! { ListenerStats => WSPSAN_LISTENER_STATS; });
wspsan_core::for_each_device_stat!(stats_to_c! { DeviceStats => WSPSAN_DEVICE_STATS; });
wspsan_core::for_each_fabric_stat!(stats_to_c! { FabricStats => WSPSAN_FABRIC_STATS; });
wspsan_core::for_each_fault_stat!(stats_to_c! { FaultStats => WSPSAN_FAULT_STATS; });

/// Calls `callback! { tokens <fields> }` with the fields of the C struct [`WSPSAN_LIMITS`], in
/// its order, each `name: type,` (for the Python module's `wspsan.wsp`, which reads and writes
/// the struct by field name). A test checks the list against the struct.
#[macro_export]
macro_rules! for_each_c_limit {
    ($cb:ident ! { $($args:tt)* }) => {
        $cb! { $($args)*
            max_descriptors: u64,
            max_pending: u64,
            max_backlog: u32,
            max_caller_data: u32,
            max_callee_data: u32,
            connect_timeout_ms: u32,
        }
    };
}

/// An IPv4 address given as `struct in_addr`'s `s_addr` (network byte order).
fn ip(s_addr: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_be(s_addr))
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn timeout(ms: u32) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(u64::from(ms)))
}

fn timeout_ms(t: Option<Duration>) -> u32 {
    t.map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1))
}

/// Add a NIC, its address as `s_addr` in network byte order (e.g. from inet_pton); WSAEINVAL for
/// 0.0.0.0 or an existing NIC.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_add_nic(s_addr: u32, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_add_nic", errno_out!(lpErrno), |p| Ok(p.device().add_nic(ip(s_addr))?))
}

/// Remove a NIC (network byte order); sockets bound to it keep working; WSAEADDRNOTAVAIL if it is
/// not a NIC.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_remove_nic(s_addr: u32, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_remove_nic", errno_out!(lpErrno), |p| Ok(p.device().remove_nic(ip(s_addr))?))
}

/// Read the device's limits into `*out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_get_limits(out: *mut WSPSAN_LIMITS, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_get_limits", errno_out!(lpErrno), |p| {
        let out = out_ref!(out, "out")?;
        // Every field named (no `..`): a limit added to the engine is a compile error here
        // until the C struct has it.
        let Limits { max_descriptors, max_backlog, max_caller_data, max_callee_data, max_pending, connect_timeout } =
            p.device().limits();
        *out = WSPSAN_LIMITS {
            max_descriptors: max_descriptors as u64,
            max_pending: max_pending as u64,
            max_backlog,
            max_caller_data: u32::try_from(max_caller_data).unwrap_or(u32::MAX),
            max_callee_data: u32::try_from(max_callee_data).unwrap_or(u32::MAX),
            connect_timeout_ms: timeout_ms(connect_timeout),
        };
        Ok(())
    })
}

/// Replace every limit of the device (read them first with wspsan_device_get_limits to change one);
/// existing backlogs keep their value. A max_backlog of 0 is taken as 1 and caller/callee data
/// limits above 65536 as 65536: read them back to see what applies.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_set_limits(limits: *const WSPSAN_LIMITS, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_set_limits", errno_out!(lpErrno), |p| {
        let l = in_ref!(limits, "limits")?;
        p.device().set_limits(Limits {
            max_descriptors: to_usize(l.max_descriptors),
            max_backlog: l.max_backlog,
            max_caller_data: l.max_caller_data as usize,
            max_callee_data: l.max_callee_data as usize,
            max_pending: to_usize(l.max_pending),
            connect_timeout: timeout(l.connect_timeout_ms),
        });
        Ok(())
    })
}

/// Set only the connect timeout (SPEC D2), in milliseconds; 0 = wait for ever.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_set_connect_timeout(ms: u32, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_set_connect_timeout", errno_out!(lpErrno), |p| {
        p.device().set_connect_timeout(timeout(ms));
        Ok(())
    })
}

/// Allow (non-zero) or refuse (0: WSAEADDRNOTAVAIL) binds to 0.0.0.0 (SPEC B2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_set_wildcard_bind(on: c_int, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_set_wildcard_bind", errno_out!(lpErrno), |p| {
        p.device().set_wildcard_bind(on != 0);
        Ok(())
    })
}

/// Take the device down (non-zero: every call fails with WSAENETDOWN, blocked calls wake) or bring
/// it back (SPEC D2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_set_network_down(on: c_int, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_set_network_down", errno_out!(lpErrno), |p| {
        p.device().set_network_down(on != 0);
        Ok(())
    })
}

/// Make socket and pending-request allocation fail with WSAENOBUFS (non-zero) or stop (SPEC D2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_set_buffer_exhaustion(on: c_int, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_set_buffer_exhaustion", errno_out!(lpErrno), |p| {
        p.device().set_buffer_exhaustion(on != 0);
        Ok(())
    })
}

/// Impose a lower descriptor limit (descriptor exhaustion, SPEC D2, L9), or lift it with a negative
/// `limit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_set_descriptor_limit(limit: i64, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_set_descriptor_limit", errno_out!(lpErrno), |p| {
        p.device().set_descriptor_limit(u64::try_from(limit).ok().map(to_usize));
        Ok(())
    })
}

/// Read the fault switches into `*out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_get_faults(out: *mut WSPSAN_FAULTS, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_get_faults", errno_out!(lpErrno), |p| {
        let out = out_ref!(out, "out")?;
        let f = p.device().faults();
        *out = WSPSAN_FAULTS {
            network_down: c_int::from(f.network_down),
            buffer_exhaustion: c_int::from(f.buffer_exhaustion),
            descriptor_limit: f.descriptor_limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)),
        };
        Ok(())
    })
}

/// Read the device-wide statistics into `*out` (SPEC D3).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_stats(out: *mut WSPSAN_DEVICE_STATS, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_stats", errno_out!(lpErrno), |p| {
        *out_ref!(out, "out")? = p.device().stats().into();
        Ok(())
    })
}

/// Read the statistics of listening socket `s` into `*out` (SPEC D3); WSAEINVAL if it is not
/// listening.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_listener_stats(
    s: SOCKET,
    out: *mut WSPSAN_LISTENER_STATS,
    lpErrno: LPINT,
) -> c_int {
    extension("wspsan_device_listener_stats", errno_out!(lpErrno), |p| {
        let out = out_ref!(out, "out")?;
        *out = p.listener_stats(descriptor(s))?.into();
        Ok(())
    })
}

/// Set the liveness interval of the device's fabric in milliseconds (SPEC F7; at least 1): how
/// soon a silent TCP-fabric peer is lost, and how long an acceptance waits for the connector's
/// confirmation (F6). WSAEINVAL for a device whose connects are direct calls (no fabric).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_set_liveness(ms: u32, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_set_liveness", errno_out!(lpErrno), |p| {
        Ok(p.device().set_liveness(Duration::from_millis(u64::from(ms.max(1))))?)
    })
}

/// Read the liveness interval of the device's fabric in milliseconds into `*ms`; WSAEINVAL for
/// a device whose connects are direct calls.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_device_get_liveness(ms: *mut u32, lpErrno: LPINT) -> c_int {
    extension("wspsan_device_get_liveness", errno_out!(lpErrno), |p| {
        let out = out_ref!(ms, "ms")?;
        let d = p.device().liveness().ok_or(wspsan_core::WsaError::Inval)?;
        *out = u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Each field of the list is at a larger offset than the one before, and the last ends the
    /// struct: the C struct has the list's fields in the list's order (the generated struct
    /// literals have already checked the names).
    macro_rules! in_list_order {
        ($c:ident; $($(#[$fm:meta])* $f:ident: $t:ty,)*) => {{
            let offsets = [$(offset_of!($c, $f)),*];
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{}: {:?}", stringify!($c), offsets);
            let sizes = [$(size_of::<$t>()),*];
            let end = offsets.last().unwrap() + sizes.last().unwrap();
            assert_eq!(end, size_of::<$c>(), "{}", stringify!($c));
        }};
    }

    #[test]
    fn c_structs_follow_the_engines_lists() {
        // The nested records are C structs of their own; their size is the one to count.
        type ListenerStats = WSPSAN_LISTENER_STATS;
        type FabricStats = WSPSAN_FABRIC_STATS;
        type FaultStats = WSPSAN_FAULT_STATS;
        wspsan_core::for_each_listener_stat!(in_list_order! { WSPSAN_LISTENER_STATS; });
        wspsan_core::for_each_device_stat!(in_list_order! { WSPSAN_DEVICE_STATS; });
        wspsan_core::for_each_fabric_stat!(in_list_order! { WSPSAN_FABRIC_STATS; });
        wspsan_core::for_each_fault_stat!(in_list_order! { WSPSAN_FAULT_STATS; });
        for_each_c_limit!(in_list_order! { WSPSAN_LIMITS; });
    }

    /// The C limits list names every field of WSPSAN_LIMITS with its type (a struct literal).
    #[test]
    fn c_limits_list_is_the_struct() {
        macro_rules! rebuild {
            ($($f:ident: $t:ty,)*) => {{
                let l = WSPSAN_LIMITS { max_descriptors: 1, max_pending: 2, max_backlog: 3, ..Default::default() };
                let copy = WSPSAN_LIMITS { $($f: <$t>::from(l.$f),)* };
                assert_eq!(format!("{copy:?}"), format!("{l:?}"));
            }};
        }
        for_each_c_limit!(rebuild! {});
    }

    #[test]
    fn stats_reach_c_field_by_field() {
        let mut d = DeviceStats::default();
        d.listeners.queued = 1;
        d.listeners.backlog = 2;
        d.timed_out = 3;
        d.fabric.stale_messages = 4;
        d.fabric.faults.partitioned = 5;
        let c = WSPSAN_DEVICE_STATS::from(d);
        assert_eq!(
            (
                c.listeners.queued,
                c.listeners.backlog,
                c.timed_out,
                c.fabric.stale_messages,
                c.fabric.faults.partitioned
            ),
            (1, 2, 3, 4, 5)
        );
    }
}

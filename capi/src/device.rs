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

impl From<FaultStats> for WSPSAN_FAULT_STATS {
    fn from(s: FaultStats) -> Self {
        WSPSAN_FAULT_STATS {
            delayed: s.delayed,
            dropped: s.dropped,
            duplicated: s.duplicated,
            reordered: s.reordered,
            partitioned: s.partitioned,
        }
    }
}

impl From<WSPSAN_FAULT_STATS> for FaultStats {
    fn from(s: WSPSAN_FAULT_STATS) -> Self {
        FaultStats {
            delayed: s.delayed,
            dropped: s.dropped,
            duplicated: s.duplicated,
            reordered: s.reordered,
            partitioned: s.partitioned,
        }
    }
}

impl From<FabricStats> for WSPSAN_FABRIC_STATS {
    fn from(s: FabricStats) -> Self {
        WSPSAN_FABRIC_STATS {
            connections_open: s.connections_open,
            connections_lost: s.connections_lost,
            protocol_errors: s.protocol_errors,
            key_failures: s.key_failures,
            requests_sent: s.requests_sent,
            requests_received: s.requests_received,
            stale_messages: s.stale_messages,
            faults: s.faults.into(),
        }
    }
}

impl From<WSPSAN_FABRIC_STATS> for FabricStats {
    fn from(s: WSPSAN_FABRIC_STATS) -> Self {
        FabricStats {
            connections_open: s.connections_open,
            connections_lost: s.connections_lost,
            protocol_errors: s.protocol_errors,
            key_failures: s.key_failures,
            requests_sent: s.requests_sent,
            requests_received: s.requests_received,
            stale_messages: s.stale_messages,
            faults: s.faults.into(),
        }
    }
}

impl From<ListenerStats> for WSPSAN_LISTENER_STATS {
    fn from(s: ListenerStats) -> Self {
        WSPSAN_LISTENER_STATS {
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

impl From<DeviceStats> for WSPSAN_DEVICE_STATS {
    fn from(s: DeviceStats) -> Self {
        WSPSAN_DEVICE_STATS {
            listeners: s.listeners.into(),
            refused_no_listener: s.refused_no_listener,
            timed_out: s.timed_out,
            open_sockets: s.open_sockets,
            pending: s.pending,
            fabric: s.fabric.into(),
        }
    }
}

impl From<WSPSAN_LISTENER_STATS> for ListenerStats {
    fn from(s: WSPSAN_LISTENER_STATS) -> Self {
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

impl From<WSPSAN_DEVICE_STATS> for DeviceStats {
    fn from(s: WSPSAN_DEVICE_STATS) -> Self {
        DeviceStats {
            listeners: s.listeners.into(),
            refused_no_listener: s.refused_no_listener,
            timed_out: s.timed_out,
            open_sockets: s.open_sockets,
            pending: s.pending,
            fabric: s.fabric.into(),
        }
    }
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
        let l = p.device().limits();
        *out = WSPSAN_LIMITS {
            max_descriptors: l.max_descriptors as u64,
            max_pending: l.max_pending as u64,
            max_backlog: l.max_backlog,
            max_caller_data: u32::try_from(l.max_caller_data).unwrap_or(u32::MAX),
            max_callee_data: u32::try_from(l.max_callee_data).unwrap_or(u32::MAX),
            connect_timeout_ms: timeout_ms(l.connect_timeout),
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

//! A provider's own transport for the process-wide provider (SPEC section 11 over the
//! embedder's carrier), the fault injector on the device's fabric messages, and the embedder's
//! per-socket context.

use crate::boundary::{Failure, Outcome, descriptor, errno_out, extension, in_ref, out_ref};
use crate::types::*;
use core::ffi::{c_char, c_int, c_void};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use wspsan_core::{FaultInjector, MessageKind, MessageTransport, PeerId, Provider, WsaError};

/// A message kind (the `kind` of a send callback and of the fault knobs).
pub const WSPSAN_MESSAGE_ANY: c_int = 0;
/// A connect request, with caller address, caller data and QoS.
pub const WSPSAN_MESSAGE_REQUEST: c_int = 1;
/// The listener's answer: an acceptance with callee data, or a refusal.
pub const WSPSAN_MESSAGE_ANSWER: c_int = 2;
/// The connector's confirmation that it took the answer.
pub const WSPSAN_MESSAGE_CONFIRM: c_int = 3;
/// The connector giving its request up.
pub const WSPSAN_MESSAGE_WITHDRAW: c_int = 4;
/// One end of an established connection closed.
pub const WSPSAN_MESSAGE_CLOSE: c_int = 5;

/// Carries one message to a peer: return 0 once it is on its way, anything else when the peer
/// cannot be reached (the peer is then lost, SPEC F7).
pub type WSPSAN_TRANSPORT_SEND = Option<
    unsafe extern "C" fn(context: *mut c_void, peer: u64, kind: c_int, message: *const u8, length: usize) -> c_int,
>;

/// A transport of the embedder's own, installed with `wspsan_transport_install`: it only moves
/// messages, and wspsan owns every rule of connection setup. The rules:
/// - Install before the first WSPStartup or wspsan_device_* call; the table is copied.
/// - `send` runs on wspsan's courier thread, one message at a time, in the order sent.
/// - `send` is never called with a wspsan lock held; it may call any wspsan function, the
///   wspsan_transport_* entry points included (they never wait for the courier).
/// - `message` is valid only during the call: copy it to keep it.
/// - A message is opaque: carry its `length` bytes whole; `kind` is for routing and faults only.
/// - `send` returning non-zero loses the peer (SPEC F7); open a new one to reach that device again.
/// - Entry points (receive, peer_lost) may be called on any thread, also from inside `send`.
/// - Peer handles are never reused; a stale or made-up one gives WSAEINVAL, never a crash.
/// - A copy of a request or an answer, or a message for a lost peer, is ignored and counted
///   (stale_messages; the lost peer's handle also gives WSAEINVAL); copies of the other messages
///   change nothing.
/// - `context` is passed back untouched and must stay valid for the life of the process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSPSAN_TRANSPORT {
    /// Passed back to `send` untouched.
    pub context: *mut c_void,
    /// Called on wspsan's courier thread, one message at a time, in order, with no wspsan lock
    /// held.
    pub send: WSPSAN_TRANSPORT_SEND,
}

/// The installed table, as the engine calls it.
struct CTransport(WSPSAN_TRANSPORT);

// SAFETY: the context is the embedder's to share; the header says `send` is called from
// wspsan's courier thread, so the embedder makes it safe to use from there.
unsafe impl Send for CTransport {}
// SAFETY: as above: wspsan only passes the pointer back, never dereferences it.
unsafe impl Sync for CTransport {}

impl MessageTransport for CTransport {
    fn send(&self, peer: PeerId, kind: MessageKind, message: &[u8]) -> bool {
        let Some(send) = self.0.send else { return false };
        // SAFETY: the embedder's callback, called as the header documents.
        unsafe { send(self.0.context, peer.0, kind_code(kind), message.as_ptr(), message.len()) == 0 }
    }
}

fn kind_code(k: MessageKind) -> c_int {
    match k {
        MessageKind::Request => WSPSAN_MESSAGE_REQUEST,
        MessageKind::Answer => WSPSAN_MESSAGE_ANSWER,
        MessageKind::Confirm => WSPSAN_MESSAGE_CONFIRM,
        MessageKind::Withdraw => WSPSAN_MESSAGE_WITHDRAW,
        MessageKind::Close => WSPSAN_MESSAGE_CLOSE,
    }
}

fn kind_of(code: c_int) -> Outcome<Option<MessageKind>> {
    Ok(Some(match code {
        WSPSAN_MESSAGE_ANY => return Ok(None),
        WSPSAN_MESSAGE_REQUEST => MessageKind::Request,
        WSPSAN_MESSAGE_ANSWER => MessageKind::Answer,
        WSPSAN_MESSAGE_CONFIRM => MessageKind::Confirm,
        WSPSAN_MESSAGE_WITHDRAW => MessageKind::Withdraw,
        WSPSAN_MESSAGE_CLOSE => MessageKind::Close,
        _ => return Err(Failure::new(WsaError::Inval, format!("message kind {code} is not a WSPSAN_MESSAGE_* value"))),
    }))
}

/// A C string of NIC addresses (comma-separated; empty for none).
///
/// # Safety
/// `nics` is NULL or a NUL-terminated string, readable for the call.
unsafe fn nic_list(nics: *const c_char, what: &'static str) -> Outcome<Vec<Ipv4Addr>> {
    if nics.is_null() {
        return Err(crate::boundary::fault(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, so NUL-terminated and readable, as the caller promises.
    let text = unsafe { std::ffi::CStr::from_ptr(nics) }.to_string_lossy();
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    wspsan_core::parse_nics(&text).map_err(|e| Failure::new(WsaError::Inval, format!("{what}: {e}")))
}

/// Install the embedder's own transport for the process-wide provider. Only before the provider
/// exists (before the first `WSPStartup` or `wspsan_device_*` call): later, WSAEINVAL. The table
/// is copied; `context` must stay valid for the life of the process.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_transport_install(transport: *const WSPSAN_TRANSPORT, lpErrno: LPINT) -> c_int {
    let table = transport;
    crate::boundary::before_provider("wspsan_transport_install", errno_out!(lpErrno), || {
        let t = *in_ref!(table, "transport")?;
        if t.send.is_none() {
            return Err(crate::boundary::fault("transport->send is NULL"));
        }
        crate::session::install_transport(Arc::new(CTransport(t)));
        Ok(())
    })
}

/// Open a peer device of the installed transport owning `nics` (comma-separated IPv4 addresses,
/// "" for a peer that only connects here); its handle goes to `*peer`, never reused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_transport_open_peer(nics: *const c_char, peer: *mut u64, lpErrno: LPINT) -> c_int {
    extension("wspsan_transport_open_peer", errno_out!(lpErrno), |p| {
        let out = out_ref!(peer, "peer")?;
        // SAFETY: nics is NULL or a NUL-terminated string, as the header documents.
        let ips = unsafe { nic_list(nics, "nics") }?;
        *out = p.open_peer(&ips).map_err(|e| Failure::new(e, "no transport installed, or an address taken"))?.0;
        Ok(())
    })
}

/// Hand wspsan a message the transport received from `peer` (`length` bytes at `message`). May
/// be called on any thread, also from inside the send callback. A copy, or a message after the
/// peer was lost, is ignored; a malformed one loses the peer (WSAEINVAL); a stale or made-up
/// handle gives WSAEINVAL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_transport_receive(
    peer: u64,
    message: *const u8,
    length: usize,
    lpErrno: LPINT,
) -> c_int {
    extension("wspsan_transport_receive", errno_out!(lpErrno), |p| {
        if message.is_null() {
            return Err(crate::boundary::fault("message is NULL"));
        }
        // SAFETY: non-NULL (checked above) with `length` readable bytes, as the header documents;
        // the slice lives only for this call.
        let bytes = unsafe { std::slice::from_raw_parts(message, length) };
        p.peer_receive(PeerId(peer), bytes)
            .map_err(|e| Failure::new(e, "a stale or made-up peer, or a malformed message (the peer is then lost)"))
    })
}

/// The transport lost `peer`: what waited on it fails at once (SPEC F7), the handle is stale.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_transport_peer_lost(peer: u64, lpErrno: LPINT) -> c_int {
    extension("wspsan_transport_peer_lost", errno_out!(lpErrno), |p| {
        p.peer_lost(PeerId(peer)).map_err(|e| Failure::new(e, "a stale or made-up peer"))
    })
}

/// Set the embedder's value for socket `s` (its data path's state); wspsan never reads it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_socket_set_context(s: SOCKET, context: *mut c_void, lpErrno: LPINT) -> c_int {
    extension("wspsan_socket_set_context", errno_out!(lpErrno), |p| {
        Ok(p.set_embedder_context(descriptor(s), context as usize as u64)?)
    })
}

/// Read the embedder's value for socket `s` into `*context` (NULL until set; NULL for an
/// accepted socket).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_socket_get_context(s: SOCKET, context: *mut *mut c_void, lpErrno: LPINT) -> c_int {
    extension("wspsan_socket_get_context", errno_out!(lpErrno), |p| {
        let out = out_ref!(context, "context")?;
        *out = p.embedder_context(descriptor(s))? as usize as *mut c_void;
        Ok(())
    })
}

/// The injector on the device's fabric messages; WSAEINVAL for a device without one.
fn faults(p: &Provider) -> Outcome<FaultInjector> {
    p.fabric_faults().ok_or_else(|| {
        Failure::new(
            WsaError::Inval,
            "the device's connects are direct calls: no fabric messages to inject faults into",
        )
    })
}

/// Delay every message of `kind` (WSPSAN_MESSAGE_ANY: every kind) by `min_us` to `max_us`
/// microseconds, drawn uniformly (equal: fixed; both 0: no delay).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_delay(kind: c_int, min_us: u64, max_us: u64, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_delay", errno_out!(lpErrno), |p| {
        Ok(faults(p)?.delay(kind_of(kind)?, Duration::from_micros(min_us), Duration::from_micros(max_us))?)
    })
}

/// Drop the next `n` messages of `kind` (WSPSAN_MESSAGE_ANY: of any kind).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_drop_next(kind: c_int, n: u64, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_drop_next", errno_out!(lpErrno), |p| {
        faults(p)?.drop_next(kind_of(kind)?, n);
        Ok(())
    })
}

/// Drop each message of `kind` with probability `p` (0 to 1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_drop_probability(kind: c_int, p: f64, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_drop_probability", errno_out!(lpErrno), |pr| {
        Ok(faults(pr)?.drop_probability(kind_of(kind)?, p)?)
    })
}

/// Deliver each message of `kind` twice with probability `p` (0 to 1).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_duplicate_probability(kind: c_int, p: f64, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_duplicate_probability", errno_out!(lpErrno), |pr| {
        Ok(faults(pr)?.duplicate_probability(kind_of(kind)?, p)?)
    })
}

/// Reorder messages within windows of `window` messages (0 or 1: in order).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_reorder(window: u32, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_reorder", errno_out!(lpErrno), |p| {
        faults(p)?.reorder(window as usize);
        Ok(())
    })
}

/// One IPv4 address from a C string.
///
/// # Safety
/// As [`nic_list`].
unsafe fn one_ip(s: *const c_char, what: &'static str) -> Outcome<Ipv4Addr> {
    // SAFETY: as this function's caller promises.
    let ips = unsafe { nic_list(s, what)? };
    match ips.as_slice() {
        [ip] => Ok(*ip),
        _ => Err(Failure::new(WsaError::Inval, format!("{what}: one IPv4 address"))),
    }
}

/// Cut the devices owning addresses `a` and `b` off from each other (every message between
/// them is lost) until `wspsan_fabric_heal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_partition(a: *const c_char, b: *const c_char, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_partition", errno_out!(lpErrno), |p| {
        let f = faults(p)?;
        // SAFETY: a and b are NULL or NUL-terminated strings, as the header documents.
        let (a, b) = unsafe { (one_ip(a, "a")?, one_ip(b, "b")?) };
        f.partition(a, b);
        Ok(())
    })
}

/// End the partition between `a` and `b`; both NULL: every partition.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_heal(a: *const c_char, b: *const c_char, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_heal", errno_out!(lpErrno), |p| {
        let f = faults(p)?;
        if a.is_null() && b.is_null() {
            f.heal(None);
        } else {
            // SAFETY: a and b are NULL or NUL-terminated strings, as the header documents.
            f.heal(Some(unsafe { (one_ip(a, "a")?, one_ip(b, "b")?) }));
        }
        Ok(())
    })
}

/// Restart the injector's random choices from `seed` (a scenario replays with the same seed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_reseed(seed: u64, lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_reseed", errno_out!(lpErrno), |p| {
        faults(p)?.reseed(seed);
        Ok(())
    })
}

/// Turn every fault knob off.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_fabric_clear_faults(lpErrno: LPINT) -> c_int {
    extension("wspsan_fabric_clear_faults", errno_out!(lpErrno), |p| {
        faults(p)?.clear();
        Ok(())
    })
}

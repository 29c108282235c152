//! What a condition function sees and what it answers (SPEC A5 to A10).

use crate::consts::{CF_ACCEPT, CF_DEFER, CF_REJECT};
use crate::socket::Qos;
use std::cell::Cell;
use std::net::SocketAddrV4;

/// The answer of a condition function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// `CF_ACCEPT`: create the connected socket and complete the connect (A7).
    Accept,
    /// `CF_REJECT`: refuse the request; both sides get `WSAECONNREFUSED` (A8).
    Reject,
    /// `CF_DEFER`: leave the request at the head; accept fails with `WSATRY_AGAIN` (A9).
    Defer,
    /// Any other value: accept fails with `WSAEINVAL` and the request is refused (A10).
    Invalid(i32),
    /// The condition could not decide (for example the Python callable raised): the request
    /// stays at the head as if never examined and accept fails with `WSAEINTR`. Not a
    /// Winsock answer; C callers cannot produce it.
    Abandon,
}

impl Decision {
    /// The decision for a raw `CF_*` value as a C condition function returns it.
    pub const fn from_raw(v: i32) -> Decision {
        match v {
            CF_ACCEPT => Decision::Accept,
            CF_REJECT => Decision::Reject,
            CF_DEFER => Decision::Defer,
            other => Decision::Invalid(other),
        }
    }

    /// The raw `CF_*` value (`Abandon` has none and gives -1).
    pub const fn to_raw(self) -> i32 {
        match self {
            Decision::Accept => CF_ACCEPT,
            Decision::Reject => CF_REJECT,
            Decision::Defer => CF_DEFER,
            Decision::Invalid(v) => v,
            Decision::Abandon => -1,
        }
    }
}

/// One pending request as shown to a condition function. Everything borrowed here is valid
/// only during the call.
#[derive(Debug)]
pub struct ConditionRequest<'a> {
    pub(crate) caller: SocketAddrV4,
    pub(crate) callee: SocketAddrV4,
    pub(crate) caller_data: Option<&'a [u8]>,
    pub(crate) qos: Option<&'a Qos>,
    pub(crate) callee_buf: &'a mut [u8],
    pub(crate) callee_len: usize,
    pub(crate) group: u32,
}

impl<'a> ConditionRequest<'a> {
    /// The connector's address (`lpCallerId`).
    pub fn caller_address(&self) -> SocketAddrV4 {
        self.caller
    }

    /// The local address the request was addressed to: the NIC and the listener's port
    /// (`lpCalleeId`).
    pub fn callee_address(&self) -> SocketAddrV4 {
        self.callee
    }

    /// The caller data, or `None` when the connector sent none (`lpCallerData` NULL).
    pub fn caller_data(&self) -> Option<&'a [u8]> {
        self.caller_data
    }

    /// The connector's QoS, or `None` (`lpSQOS`).
    pub fn qos(&self) -> Option<&'a Qos> {
        self.qos
    }

    /// How many callee-data bytes can go back (the device's `max_callee_data`).
    pub fn callee_data_capacity(&self) -> usize {
        self.callee_buf.len()
    }

    /// Send `data` back to the connector; anything beyond the capacity is cut off.
    /// Returns how many bytes were kept.
    pub fn set_callee_data(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.callee_buf.len());
        self.callee_buf[..n].copy_from_slice(&data[..n]);
        self.callee_len = n;
        n
    }

    /// The raw callee-data buffer, for a C condition function that writes in place; follow
    /// with [`set_callee_len`](Self::set_callee_len).
    pub fn callee_buffer_mut(&mut self) -> &mut [u8] {
        self.callee_buf
    }

    /// Set how many bytes of the buffer were written (clamped to the capacity).
    pub fn set_callee_len(&mut self, len: usize) {
        self.callee_len = len.min(self.callee_buf.len());
    }

    /// The callee data written so far.
    pub fn callee_data(&self) -> &[u8] {
        &self.callee_buf[..self.callee_len]
    }

    /// The group value (`*g`); it holds 0 and must stay 0 (A10).
    pub fn group_mut(&mut self) -> &mut u32 {
        &mut self.group
    }
}

thread_local! {
    /// Set by [`abandon_condition`] during the condition function running on this thread.
    pub(crate) static ABANDONED: Cell<bool> = const { Cell::new(false) };
}

/// Called from inside a condition function: the engine disregards what the function returns and
/// treats the answer as [`Decision::Abandon`] (the request stays at the head as if never
/// examined, the accept fails with `WSAEINTR`). For a condition function that answers through
/// the C ABI's `int` and so cannot return `Abandon`: a trampoline into another language whose
/// callable failed (Python's `wspsan.wsp`). Only the condition function running on this thread
/// is affected; outside one, the call has no effect.
pub fn abandon_condition() {
    ABANDONED.with(|a| a.set(true));
}

/// A condition function as the Rust API takes it.
pub type Condition<'f> = dyn FnMut(&mut ConditionRequest<'_>) -> Decision + 'f;

//! `WSPAccept` and the condition-function trampoline (SPEC A1 to A15).

use crate::boundary::{AddrOut, Failure, checked_after_state, descriptor, errno_out, socket, wsp};
use crate::convert::{nullable, qos_to_c, sockaddr_in, wsabuf_over};
use crate::types::*;
use core::ffi::c_int;
use std::cell::Cell;
use wspsan_core::{Call, ConditionRequest, Decision, WsaError};

/// Run a C condition function on one request (SPEC A5): WSABUFs over the two sockaddr_in, the
/// caller data and QoS (NULL when none), `lpGQOS` NULL, the engine's callee-data buffer with its
/// capacity as `len`, and `g` pointing at the request's group.
fn run_condition(
    f: unsafe extern "C" fn(LPWSABUF, LPWSABUF, LPQOS, LPQOS, LPWSABUF, LPWSABUF, *mut GROUP, DWORD_PTR) -> c_int,
    callback_data: DWORD_PTR,
    req: &mut ConditionRequest<'_>,
    answered: &Cell<Option<(c_int, GROUP)>>,
) -> Decision {
    // Writable locals: the C function may write through lpCallerId / lpCalleeId.
    let mut caller = sockaddr_in(req.caller_address());
    let mut callee = sockaddr_in(req.callee_address());
    let mut caller_id = WSABUF { len: size_of::<libc::sockaddr_in>() as ULONG, buf: (&raw mut caller).cast() };
    let mut callee_id = WSABUF { len: size_of::<libc::sockaddr_in>() as ULONG, buf: (&raw mut callee).cast() };
    // Copies: the C function gets writable buffers, as on Windows, and cannot touch the request.
    let mut caller_bytes = req.caller_data().map(<[u8]>::to_vec);
    let mut caller_data = caller_bytes.as_deref_mut().map(wsabuf_over);
    let mut qos_copy = req.qos().cloned();
    let mut qos = qos_copy.as_mut().map(qos_to_c);
    let mut callee_data = wsabuf_over(req.callee_buffer_mut());
    let group: *mut GROUP = req.group_mut();
    // SAFETY: every pointer refers to a live local or to the request's buffers for the whole call,
    // as the LPCONDITIONPROC contract states.
    let raw = unsafe {
        f(
            &mut caller_id,
            nullable(&mut caller_data),
            nullable(&mut qos),
            std::ptr::null_mut(),
            &mut callee_id,
            &mut callee_data,
            group,
            callback_data,
        )
    };
    req.set_callee_len(callee_data.len as usize);
    // SAFETY: the request's group, a live GROUP.
    answered.set(Some((raw, unsafe { group.read() })));
    Decision::from_raw(raw)
}

/// Why the condition function's answer was invalid (SPEC A10), for the error detail.
fn invalid_answer(raw: c_int, group: GROUP) -> String {
    if matches!(Decision::from_raw(raw), Decision::Invalid(_)) {
        format!("the condition function returned {raw}; expected CF_ACCEPT (0), CF_REJECT (1) or CF_DEFER (2)")
    } else {
        format!("the condition function set *g to {group}; groups are not supported, it must stay 0")
    }
}

/// Take the request at the head of the queue of `s`, run `lpfnCondition` (NULL accepts) and return
/// the new socket (SPEC A1 to A15); `addr`/`*addrlen` get the peer of any request examined. A
/// socket that is not listening gives WSAEINVAL before `*addrlen` is looked at (X4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPAccept(
    s: SOCKET,
    addr: *mut libc::sockaddr,
    addrlen: LPINT,
    lpfnCondition: LPCONDITIONPROC,
    dwCallbackData: DWORD_PTR,
    lpErrno: LPINT,
) -> SOCKET {
    wsp("wspsan_WSPAccept", errno_out!(lpErrno), INVALID_SOCKET, |p| {
        // A3: a short *addrlen fails before anything leaves the queue.
        // SAFETY: addr and addrlen are NULL or the caller's sockaddr and int, writable for the
        // call, as the header documents.
        let out = unsafe { AddrOut::optional(addr, addrlen) };
        let out = checked_after_state(p, s, Call::Accept, out)?;
        let answered = Cell::new(None);
        let seen = &answered;
        let mut trampoline =
            lpfnCondition.map(|f| move |req: &mut ConditionRequest<'_>| run_condition(f, dwCallbackData, req, seen));
        let condition = trampoline.as_mut().map(|t| t as &mut wspsan_core::Condition<'_>);
        match p.accept(descriptor(s), condition) {
            Ok(accepted) => {
                out.write(accepted.peer);
                Ok(socket(accepted.socket))
            }
            Err(e) => {
                // A13: the address of an examined request is reported on failure too.
                if let Some(peer) = e.examined {
                    out.write(peer);
                }
                match answered.get() {
                    Some((raw, group)) if e.error == WsaError::Inval && e.examined.is_some() => {
                        Err(Failure::new(WsaError::Inval, invalid_answer(raw, group)))
                    }
                    _ => Err(e.error.into()),
                }
            }
        }
    })
}

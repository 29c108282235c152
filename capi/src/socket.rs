//! Sockets and their names: `WSPSocket`, `WSPBind`, `WSPCloseSocket`, `WSPGetSockName`,
//! `WSPGetPeerName` (SPEC S1, B1, B2, K1 to K3, A15).

use crate::boundary::{AddrOut, checked_after_state, descriptor, errno_out, fault, read_sockaddr, socket, wsp};
use crate::types::*;
use core::ffi::c_int;
use wspsan_core::Call;

/// Create a socket (SPEC S1): AF_INET, SOCK_STREAM, protocol 0 or IPPROTO_TCP; `FROM_PROTOCOL_INFO`
/// takes a value from `lpProtocolInfo` (NULL: WSAEFAULT); `g` and `dwFlags` are ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPSocket(
    af: c_int,
    r#type: c_int,
    protocol: c_int,
    lpProtocolInfo: LPWSAPROTOCOL_INFOW,
    g: GROUP,
    dwFlags: DWORD,
    lpErrno: LPINT,
) -> SOCKET {
    let _ = (g, dwFlags);
    wsp("wspsan_WSPSocket", errno_out!(lpErrno), INVALID_SOCKET, |p| {
        // SAFETY: lpProtocolInfo is NULL or the caller's WSAPROTOCOL_INFOW, readable for the
        // call, as the header documents.
        let info = unsafe { lpProtocolInfo.as_ref() };
        let pick = |value: c_int, from: fn(&WSAPROTOCOL_INFOW) -> c_int| {
            if value != FROM_PROTOCOL_INFO {
                return Ok(value);
            }
            // X4: a NULL pointer the call needs is WSAEFAULT.
            info.map(from).ok_or_else(|| fault("FROM_PROTOCOL_INFO with a NULL lpProtocolInfo"))
        };
        let af = pick(af, |i| i.iAddressFamily)?;
        let ty = pick(r#type, |i| i.iSocketType)?;
        let protocol = pick(protocol, |i| i.iProtocol)?;
        Ok(socket(p.socket_with(af, ty, protocol)?))
    })
}

/// Bind `s` to an address of the device or 0.0.0.0 (SPEC B1, B2); port 0 picks a free port. A bound
/// socket gives WSAEINVAL before `name` is looked at (X4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPBind(
    s: SOCKET,
    name: *const libc::sockaddr,
    namelen: c_int,
    lpErrno: LPINT,
) -> c_int {
    wsp("wspsan_WSPBind", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        // SAFETY: name is NULL or `namelen` readable bytes, as the header documents.
        let addr = unsafe { read_sockaddr(name, namelen) };
        let addr = checked_after_state(p, s, Call::Bind, addr)?;
        p.bind(descriptor(s), addr)?;
        Ok(0)
    })
}

/// Close `s` (SPEC K1 to K3): a listener refuses its queue, a connector withdraws its request; the
/// descriptor is dead for good.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPCloseSocket(s: SOCKET, lpErrno: LPINT) -> c_int {
    wsp("wspsan_WSPCloseSocket", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        p.close(descriptor(s))?;
        Ok(0)
    })
}

/// The local address of `s` into `*name` (`*namelen` >= 16, set to 16) (SPEC A15); WSAEINVAL when
/// unbound, before the pointers are looked at (X4).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPGetSockName(
    s: SOCKET,
    name: *mut libc::sockaddr,
    namelen: LPINT,
    lpErrno: LPINT,
) -> c_int {
    wsp("wspsan_WSPGetSockName", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let local = p.sock_name(descriptor(s))?; // X4: the socket and its state first
        // SAFETY: name and namelen are NULL or the caller's sockaddr (of `*namelen` bytes) and
        // int, writable for the call, as the header documents.
        unsafe { AddrOut::required(name, namelen) }?.write(local);
        Ok(0)
    })
}

/// The peer address of `s` into `*name` (`*namelen` >= 16, set to 16) (SPEC A15, K3); WSAENOTCONN
/// unless connected, before the pointers are looked at (X4: `WSPGetPeerName(INVALID_SOCKET, NULL,
/// NULL)` is WSAENOTSOCK).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPGetPeerName(
    s: SOCKET,
    name: *mut libc::sockaddr,
    namelen: LPINT,
    lpErrno: LPINT,
) -> c_int {
    wsp("wspsan_WSPGetPeerName", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let peer = p.peer_name(descriptor(s))?; // X4: the socket and its state first
        // SAFETY: as in wspsan_WSPGetSockName.
        unsafe { AddrOut::required(name, namelen) }?.write(peer);
        Ok(0)
    })
}

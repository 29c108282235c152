//! Options and ioctls: `WSPGetSockOpt`, `WSPSetSockOpt`, `WSPIoctl` (SPEC L8, C2, E6, D4).
//! Both option numberings, the ioctl codes and the order of the checks are the engine's
//! (`Provider::get_option_raw`, `consts::Ioctl`); this file checks the C buffers.

use crate::boundary::{Failure, Outcome, checked_after_state, descriptor, errno_out, fault, out_ref, wsp};
use crate::convert::sockaddr_in;
use crate::types::*;
use core::ffi::{c_char, c_int};
use std::net::SocketAddrV4;
use wspsan_core::consts::{self, Ioctl};
use wspsan_core::{Call, SockOpt, WsaError};

const INT_LEN: c_int = size_of::<c_int>() as c_int;

/// Read an option of `s` into `optval` (`*optlen` in = size, out = bytes written) (SPEC L8, C2):
/// SO_ACCEPTCONN, SO_ERROR (kept when read), SO_TYPE, SO_SNDBUF, SO_RCVBUF in either numbering,
/// SO_CONNDATA and SO_CONNDATALEN at either SOL_SOCKET. Checked in this order (X4): the descriptor
/// (WSAENOTSOCK), `optlen` (NULL: WSAEFAULT), the level (neither SOL_SOCKET nor IPPROTO_TCP:
/// WSAEINVAL), the option (WSAENOPROTOOPT), then `optval` and `*optlen` (WSAEFAULT).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPGetSockOpt(
    s: SOCKET,
    level: c_int,
    optname: c_int,
    optval: *mut c_char,
    optlen: LPINT,
    lpErrno: LPINT,
) -> c_int {
    wsp("wspsan_WSPGetSockOpt", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let optlen = checked_after_state(p, s, Call::Other, out_ref!(optlen, "optlen"))?;
        let d = descriptor(s);
        let sol_socket = level == consts::SOL_SOCKET || level == consts::platform::SOL_SOCKET;
        if sol_socket && optname == consts::SO_CONNDATA {
            let data = p.callee_data(d)?; // X4: the socket first
            let room = usize::try_from(*optlen).map_err(|_| fault(format!("*optlen is {}", *optlen)))?;
            if optval.is_null() && room > 0 {
                return Err(fault("optval is NULL"));
            }
            let n = data.len().min(room);
            if n > 0 {
                // SAFETY: optval is non-NULL (checked above) with `*optlen` writable bytes, as the
                // header documents; n is at most that; `data` is the engine's own copy.
                unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), optval.cast::<u8>(), n) };
            }
            *optlen = n as c_int;
            return Ok(0);
        }
        // X4: the engine checks the call, the socket and the option, in that order; then the
        // int buffer (reading an option changes nothing, so nothing is lost by reading first).
        let value = p.get_option_raw(d, level, optname)?;
        if optval.is_null() || *optlen < INT_LEN {
            return Err(fault(format!("optval NULL or *optlen {} below {INT_LEN}", *optlen)));
        }
        // SAFETY: optval is non-NULL with `*optlen` >= 4 writable bytes (both checked above, the
        // length as the header documents it); no alignment assumed.
        unsafe { optval.cast::<c_int>().write_unaligned(value) };
        *optlen = INT_LEN;
        Ok(0)
    })
}

/// Set an option of `s` from an int at `optval` (`optlen` >= 4, else WSAEFAULT after WSAENOTSOCK):
/// SO_SNDBUF and SO_RCVBUF (negative: WSAEINVAL), SO_ERROR (stores any value, as Windows: SPEC C2);
/// read-only options give WSAENOPROTOOPT (L8), an unknown level WSAEINVAL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPSetSockOpt(
    s: SOCKET,
    level: c_int,
    optname: c_int,
    optval: *const c_char,
    optlen: c_int,
    lpErrno: LPINT,
) -> c_int {
    wsp("wspsan_WSPSetSockOpt", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let value = if SockOpt::from_level_name(level, optname).is_some() {
            if optval.is_null() || optlen < INT_LEN {
                let f = fault(format!("optval NULL or optlen {optlen} below {INT_LEN}"));
                return checked_after_state(p, s, Call::Other, Err(f));
            }
            // SAFETY: optval is non-NULL with `optlen` >= 4 readable bytes (both checked above, the
            // length as the header documents it); no alignment assumed.
            unsafe { optval.cast::<c_int>().read_unaligned() }
        } else {
            0 // not read: the engine fails the call (its entry checks, the socket, WSAENOPROTOOPT)
        };
        p.set_option_raw(descriptor(s), level, optname, value)?;
        Ok(0)
    })
}

/// Bytes `SIO_ADDRESS_LIST_QUERY` needs for `n` addresses: the list head and `n` entries, then
/// the `n` sockaddr_in they point at, in the same buffer.
fn address_list_size(n: usize) -> usize {
    std::mem::offset_of!(SOCKET_ADDRESS_LIST, Address)
        + n * (size_of::<SOCKET_ADDRESS>() + size_of::<libc::sockaddr_in>())
}

/// Write a `SOCKET_ADDRESS_LIST` into `out`, its `lpSockaddr` pointers pointing inside `out`
/// (SPEC D4).
///
/// # Safety
/// `out` is valid for writing `address_list_size(nics.len())` bytes, at any alignment.
unsafe fn write_address_list(out: *mut u8, nics: &[SocketAddrV4]) {
    let head = std::mem::offset_of!(SOCKET_ADDRESS_LIST, Address);
    let entries = out.wrapping_add(head).cast::<SOCKET_ADDRESS>();
    let addrs = out.wrapping_add(head + nics.len() * size_of::<SOCKET_ADDRESS>()).cast::<libc::sockaddr_in>();
    // SAFETY: every write lies within the size the caller checked; unaligned writes throughout.
    unsafe {
        out.cast::<c_int>().write_unaligned(nics.len() as c_int);
        for (i, nic) in nics.iter().enumerate() {
            let addr = addrs.add(i);
            addr.write_unaligned(sockaddr_in(*nic));
            entries.add(i).write_unaligned(SOCKET_ADDRESS {
                lpSockaddr: addr.cast(),
                iSockaddrLength: size_of::<libc::sockaddr_in>() as c_int,
            });
        }
    }
}

/// Control `s` (SPEC E6, D4): FIONBIO (32-bit u_long in `lpvInBuffer`, either numbering) and
/// SIO_ADDRESS_LIST_QUERY (too small a buffer: WSAEFAULT, needed size in `*lpcbBytesReturned`).
/// Checked in this order (X4): the descriptor (WSAENOTSOCK), overlapped calls (WSAEOPNOTSUPP), the
/// code (unknown: WSAEINVAL), then `lpcbBytesReturned`, which every code needs, FIONBIO too (NULL:
/// WSAEFAULT, the mode unchanged).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wspsan_WSPIoctl(
    s: SOCKET,
    dwIoControlCode: DWORD,
    lpvInBuffer: LPVOID,
    cbInBuffer: DWORD,
    lpvOutBuffer: LPVOID,
    cbOutBuffer: DWORD,
    lpcbBytesReturned: LPDWORD,
    lpOverlapped: LPWSAOVERLAPPED,
    lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
    lpThreadId: LPWSATHREADID,
    lpErrno: LPINT,
) -> c_int {
    let _ = lpThreadId;
    wsp("wspsan_WSPIoctl", errno_out!(lpErrno), SOCKET_ERROR, |p| {
        let d = descriptor(s);
        let args = || -> Outcome<(Ioctl, &mut DWORD)> {
            if !lpOverlapped.is_null() || lpCompletionRoutine.is_some() {
                return Err(Failure::new(WsaError::OpNotSupp, "overlapped ioctls are not supported"));
            }
            let code = Ioctl::from_code(dwIoControlCode)
                .map_err(|e| Failure::new(e, format!("ioctl code {dwIoControlCode:#x} is not supported")))?;
            // X4: every control code needs lpcbBytesReturned, FIONBIO too (as Windows).
            let returned = out_ref!(lpcbBytesReturned, "lpcbBytesReturned")?;
            if code == Ioctl::NonBlocking && (lpvInBuffer.is_null() || (cbInBuffer as usize) < size_of::<ULONG>()) {
                return Err(fault("FIONBIO needs a 32-bit u_long in lpvInBuffer"));
            }
            Ok((code, returned))
        };
        // X4: the call and the socket first (looked at only when an argument is bad: the
        // call itself checks them on the way), then the rest of the arguments.
        let (code, returned) = checked_after_state(p, s, Call::Other, args())?;
        match code {
            Ioctl::NonBlocking => {
                // SAFETY: args() checked lpvInBuffer non-NULL with `cbInBuffer` >= 4 readable bytes
                // (the length as the header documents it); no alignment assumed.
                let on = unsafe { lpvInBuffer.cast::<ULONG>().read_unaligned() } != 0;
                p.set_nonblocking(d, on)?;
                *returned = 0;
                Ok(0)
            }
            Ioctl::AddressListQuery => {
                p.precheck(d, Call::Other)?; // the list is the device's: the socket is checked here
                let nics: Vec<SocketAddrV4> =
                    p.address_list()?.into_iter().map(|ip| SocketAddrV4::new(ip, 0)).collect();
                let needed = address_list_size(nics.len());
                if lpvOutBuffer.is_null() || (cbOutBuffer as usize) < needed {
                    // D4: the needed size is reported with the failure.
                    *returned = needed as DWORD;
                    return Err(fault(format!(
                        "{needed} bytes needed for {} addresses, {cbOutBuffer} given",
                        nics.len()
                    )));
                }
                // SAFETY: lpvOutBuffer is non-NULL with `cbOutBuffer` >= `needed` writable bytes
                // (checked above, the length as the header documents it).
                unsafe { write_address_list(lpvOutBuffer.cast(), &nics) };
                *returned = needed as DWORD;
                Ok(0)
            }
        }
    })
}

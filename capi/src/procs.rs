//! The procedure table `WSPStartup` hands the switch (SPEC X1): every entry filled, the
//! functions this provider does not implement with stubs that fail as the SPEC says.

use crate::boundary::{ErrnoOut, Failure, errno_out, wsp};
use crate::types::*;
use core::ffi::{c_int, c_uint};
use wspsan_core::WsaError;

/// Every entry filled, Windows order (SPEC X1).
pub(crate) const PROC_TABLE: WSPPROC_TABLE = WSPPROC_TABLE {
    lpWSPAccept: Some(crate::accept::wspsan_WSPAccept),
    lpWSPAddressToString: Some(unsupported::address_to_string),
    lpWSPAsyncSelect: Some(unsupported::async_select),
    lpWSPBind: Some(crate::socket::wspsan_WSPBind),
    lpWSPCancelBlockingCall: Some(unsupported::cancel_blocking_call),
    lpWSPCleanup: Some(crate::cleanup::wspsan_WSPCleanup),
    lpWSPCloseSocket: Some(crate::socket::wspsan_WSPCloseSocket),
    lpWSPConnect: Some(crate::connect::wspsan_WSPConnect),
    lpWSPDuplicateSocket: Some(unsupported::duplicate_socket),
    lpWSPEnumNetworkEvents: Some(crate::events::wspsan_WSPEnumNetworkEvents),
    lpWSPEventSelect: Some(crate::events::wspsan_WSPEventSelect),
    lpWSPGetOverlappedResult: Some(unsupported::get_overlapped_result),
    lpWSPGetPeerName: Some(crate::socket::wspsan_WSPGetPeerName),
    lpWSPGetSockName: Some(crate::socket::wspsan_WSPGetSockName),
    lpWSPGetSockOpt: Some(crate::options::wspsan_WSPGetSockOpt),
    lpWSPGetQOSByName: Some(unsupported::get_qos_by_name),
    lpWSPIoctl: Some(crate::options::wspsan_WSPIoctl),
    lpWSPJoinLeaf: Some(unsupported::join_leaf),
    lpWSPListen: Some(crate::listen::wspsan_WSPListen),
    lpWSPRecv: Some(unsupported::recv),
    lpWSPRecvDisconnect: Some(unsupported::recv_disconnect),
    lpWSPRecvFrom: Some(unsupported::recv_from),
    lpWSPSelect: Some(unsupported::select),
    lpWSPSend: Some(unsupported::send),
    lpWSPSendDisconnect: Some(unsupported::send_disconnect),
    lpWSPSendTo: Some(unsupported::send_to),
    lpWSPSetSockOpt: Some(crate::options::wspsan_WSPSetSockOpt),
    lpWSPShutdown: Some(unsupported::shutdown),
    lpWSPSocket: Some(crate::socket::wspsan_WSPSocket),
    lpWSPStringToAddress: Some(unsupported::string_to_address),
};

/// The table entries this provider does not implement: each fails with `WSAEOPNOTSUPP` (after
/// the `WSANOTINITIALISED` check every WSP call makes, and `WSAEINPROGRESS` from inside a
/// condition function, A14). Not exported: reached through the table.
#[allow(unused_variables)]
mod unsupported {
    use super::*;

    fn fail<T>(function: &'static str, errno: ErrnoOut, failed: T) -> T {
        wsp(function, errno, failed, |p| match crate::session::unimplemented(p) {
            WsaError::OpNotSupp => {
                Err(Failure::new(WsaError::OpNotSupp, "connection setup only: this provider moves no data"))
            }
            e => Err(e.into()),
        })
    }

    pub(super) unsafe extern "C" fn address_to_string(
        lpsaAddress: *mut libc::sockaddr,
        dwAddressLength: DWORD,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpszAddressString: LPWSTR,
        lpdwAddressStringLength: LPDWORD,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPAddressToString", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn async_select(
        s: SOCKET,
        hWnd: HWND,
        wMsg: c_uint,
        lEvent: LONG,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPAsyncSelect", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn cancel_blocking_call(lpErrno: LPINT) -> c_int {
        fail("WSPCancelBlockingCall", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn duplicate_socket(
        s: SOCKET,
        dwProcessId: DWORD,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPDuplicateSocket", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn get_overlapped_result(
        s: SOCKET,
        lpOverlapped: LPWSAOVERLAPPED,
        lpcbTransfer: LPDWORD,
        fWait: BOOL,
        lpdwFlags: LPDWORD,
        lpErrno: LPINT,
    ) -> BOOL {
        fail("WSPGetOverlappedResult", errno_out!(lpErrno), WSPSAN_FALSE)
    }

    pub(super) unsafe extern "C" fn get_qos_by_name(
        s: SOCKET,
        lpQOSName: LPWSABUF,
        lpQOS: LPQOS,
        lpErrno: LPINT,
    ) -> BOOL {
        fail("WSPGetQOSByName", errno_out!(lpErrno), WSPSAN_FALSE)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn join_leaf(
        s: SOCKET,
        name: *const libc::sockaddr,
        namelen: c_int,
        lpCallerData: LPWSABUF,
        lpCalleeData: LPWSABUF,
        lpSQOS: LPQOS,
        lpGQOS: LPQOS,
        dwFlags: DWORD,
        lpErrno: LPINT,
    ) -> SOCKET {
        fail("WSPJoinLeaf", errno_out!(lpErrno), INVALID_SOCKET)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn recv(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesRecvd: LPDWORD,
        lpFlags: LPDWORD,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPRecv", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn recv_disconnect(
        s: SOCKET,
        lpInboundDisconnectData: LPWSABUF,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPRecvDisconnect", errno_out!(lpErrno), SOCKET_ERROR)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn recv_from(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesRecvd: LPDWORD,
        lpFlags: LPDWORD,
        lpFrom: *mut libc::sockaddr,
        lpFromlen: LPINT,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPRecvFrom", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn select(
        nfds: c_int,
        readfds: LPWSPSAN_FD_SET,
        writefds: LPWSPSAN_FD_SET,
        exceptfds: LPWSPSAN_FD_SET,
        timeout: *const WSPSAN_TIMEVAL,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPSelect", errno_out!(lpErrno), SOCKET_ERROR)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn send(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesSent: LPDWORD,
        dwFlags: DWORD,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPSend", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn send_disconnect(
        s: SOCKET,
        lpOutboundDisconnectData: LPWSABUF,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPSendDisconnect", errno_out!(lpErrno), SOCKET_ERROR)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe extern "C" fn send_to(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesSent: LPDWORD,
        dwFlags: DWORD,
        lpTo: *const libc::sockaddr,
        iTolen: c_int,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPSendTo", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn shutdown(s: SOCKET, how: c_int, lpErrno: LPINT) -> c_int {
        fail("WSPShutdown", errno_out!(lpErrno), SOCKET_ERROR)
    }

    pub(super) unsafe extern "C" fn string_to_address(
        AddressString: LPWSTR,
        AddressFamily: c_int,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpAddress: *mut libc::sockaddr,
        lpAddressLength: LPINT,
        lpErrno: LPINT,
    ) -> c_int {
        fail("WSPStringToAddress", errno_out!(lpErrno), SOCKET_ERROR)
    }
}

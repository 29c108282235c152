//! The C view of the Winsock SPI (SPEC section 1): types with Windows widths, constants with
//! Windows values, the `LPWSP*` / `LPWPU*` function-pointer types and the two tables.
//!
//! Names follow Windows so that C code written against `ws2spi.h` reads the same.

use core::ffi::{c_char, c_int, c_uint, c_void};

/// Windows `WORD`: 16-bit unsigned.
pub type WORD = u16;
/// Windows `DWORD`: 32-bit unsigned.
pub type DWORD = u32;
/// Windows `ULONG` (and Winsock's `u_long`): 32-bit unsigned, unlike the platform's `u_long`.
pub type ULONG = u32;
/// Windows `LONG`: 32-bit signed.
pub type LONG = i32;
/// Windows `BOOL`: an int, 0 is FALSE.
pub type BOOL = c_int;
/// Windows `UINT`.
pub type UINT = c_uint;
/// Windows `WCHAR`: one UTF-16 code unit.
pub type WCHAR = u16;
/// Windows `DWORD_PTR`: pointer-sized unsigned.
pub type DWORD_PTR = usize;
/// Windows `UINT_PTR`: pointer-sized unsigned.
pub type UINT_PTR = usize;
/// Windows `WPARAM`: pointer-sized unsigned.
pub type WPARAM = usize;
/// Windows `LPARAM`: pointer-sized signed.
pub type LPARAM = isize;
/// Windows `HANDLE`: an opaque pointer.
pub type HANDLE = *mut c_void;
/// Windows `HWND`: an opaque window handle (never used by this provider).
pub type HWND = *mut c_void;
/// A socket descriptor: pointer-sized unsigned, never 0 and never `INVALID_SOCKET`.
pub type SOCKET = usize;
/// A socket group; this provider knows only group 0.
pub type GROUP = u32;
/// An event object: on Linux an eventfd, `(WSAEVENT)(intptr_t)fd` (SPEC section 8).
pub type WSAEVENT = *mut c_void;
/// Windows `LPINT`.
pub type LPINT = *mut c_int;
/// Windows `LPDWORD`.
pub type LPDWORD = *mut DWORD;
/// Windows `PDWORD_PTR`.
pub type PDWORD_PTR = *mut DWORD_PTR;
/// Windows `LPVOID`.
pub type LPVOID = *mut c_void;
/// Windows `LPWSTR`: a UTF-16 string.
pub type LPWSTR = *mut WCHAR;

/// `SOCKET_ERROR`: what the int-returning functions return on failure.
pub const SOCKET_ERROR: c_int = -1;
/// `INVALID_SOCKET` = `~(SOCKET)0`: what the SOCKET-returning functions return on failure.
pub const INVALID_SOCKET: SOCKET = usize::MAX;
/// `FALSE`.
pub const WSPSAN_FALSE: BOOL = 0;
/// `TRUE`.
pub const WSPSAN_TRUE: BOOL = 1;

// Errors (numeric, as Windows).
/// A blocking call was interrupted (the socket was closed from another thread).
pub const WSAEINTR: c_int = 10004;
/// The connection request was withdrawn or timed out before accept reached it.
pub const WSAEACCES: c_int = 10013;
/// A pointer or length argument is invalid.
pub const WSAEFAULT: c_int = 10014;
/// An argument is invalid or the socket is in the wrong state.
pub const WSAEINVAL: c_int = 10022;
/// No socket descriptor is available.
pub const WSAEMFILE: c_int = 10024;
/// The operation would block on a non-blocking socket.
pub const WSAEWOULDBLOCK: c_int = 10035;
/// A blocking call is in progress on this thread (called from a condition function).
pub const WSAEINPROGRESS: c_int = 10036;
/// A connect is already pending on this socket.
pub const WSAEALREADY: c_int = 10037;
/// The descriptor is not a socket of this provider.
pub const WSAENOTSOCK: c_int = 10038;
/// Wrong protocol type for the socket.
pub const WSAEPROTOTYPE: c_int = 10041;
/// Unknown option or option level, or the option cannot be set.
pub const WSAENOPROTOOPT: c_int = 10042;
/// The protocol is not supported.
pub const WSAEPROTONOSUPPORT: c_int = 10043;
/// The socket type is not supported.
pub const WSAESOCKTNOSUPPORT: c_int = 10044;
/// The operation is not supported.
pub const WSAEOPNOTSUPP: c_int = 10045;
/// The address family is not supported.
pub const WSAEAFNOSUPPORT: c_int = 10047;
/// The address and port are already bound by another socket.
pub const WSAEADDRINUSE: c_int = 10048;
/// The address is not an address of the device.
pub const WSAEADDRNOTAVAIL: c_int = 10049;
/// The device is down (or a panic was caught inside the library).
pub const WSAENETDOWN: c_int = 10050;
/// The connection was aborted.
pub const WSAECONNABORTED: c_int = 10053;
/// The pending connect was reset (the listener shrank its backlog).
pub const WSAECONNRESET: c_int = 10054;
/// No buffer space (allocation failed, or a device limit was reached).
pub const WSAENOBUFS: c_int = 10055;
/// The socket is already connected.
pub const WSAEISCONN: c_int = 10056;
/// The socket is not connected.
pub const WSAENOTCONN: c_int = 10057;
/// The connect timed out.
pub const WSAETIMEDOUT: c_int = 10060;
/// The connect was refused.
pub const WSAECONNREFUSED: c_int = 10061;
/// No device on the fabric answers for the address (down, unreachable or silent) (SPEC F4).
pub const WSAEHOSTUNREACH: c_int = 10065;
/// The requested Winsock SPI version is not supported.
pub const WSAVERNOTSUPPORTED: c_int = 10092;
/// `WSPStartup` was not called (or the last `WSPCleanup` already ran).
pub const WSANOTINITIALISED: c_int = 10093;
/// The condition function deferred the request (`CF_DEFER`).
pub const WSATRY_AGAIN: c_int = 11002;

// Socket arguments.
/// `FROM_PROTOCOL_INFO`: `WSPSocket` takes af, type or protocol from `lpProtocolInfo`.
pub const FROM_PROTOCOL_INFO: c_int = -1;
/// Windows `SOMAXCONN`: the device's maximum backlog (`SOMAXCONN` where the platform has none).
pub const WSPSAN_SOMAXCONN: c_int = 0x7fffffff;
/// Windows `SOL_SOCKET`: options at this level take Windows option numbers.
pub const WSPSAN_SOL_SOCKET: c_int = 0xffff;
/// Windows `SO_ACCEPTCONN`: 1 while listening, read-only.
pub const WSPSAN_SO_ACCEPTCONN: c_int = 0x0002;
/// Windows `SO_SNDBUF`.
pub const WSPSAN_SO_SNDBUF: c_int = 0x1001;
/// Windows `SO_RCVBUF`.
pub const WSPSAN_SO_RCVBUF: c_int = 0x1002;
/// Windows `SO_ERROR`: the result of the last non-blocking connect attempt. Reading it does not
/// clear it
/// (as Windows); the next connect that is queued does; setting it stores the value (SPEC C2).
pub const WSPSAN_SO_ERROR: c_int = 0x1007;
/// Windows `SO_TYPE`: always `SOCK_STREAM`.
pub const WSPSAN_SO_TYPE: c_int = 0x1008;
/// `SO_CONNDATA` (level `WSPSAN_SOL_SOCKET` or the platform's `SOL_SOCKET`): the callee data of the
/// completed connect.
pub const SO_CONNDATA: c_int = 0x7000;
/// `SO_CONNDATALEN` (either `SOL_SOCKET`): the length of `SO_CONNDATA`.
pub const SO_CONNDATALEN: c_int = 0x7004;
/// Windows `FIONBIO` (a 32-bit `u_long` in `lpvInBuffer`); the platform's value works too.
pub const WSPSAN_FIONBIO: DWORD = 0x8004667E;
/// `SIO_ADDRESS_LIST_QUERY`: the device's NIC addresses as a `SOCKET_ADDRESS_LIST`.
pub const SIO_ADDRESS_LIST_QUERY: DWORD = 0x48000016;

// The values above are the engine's (literals here so that cbindgen can print them).
const _: () = assert!(WSPSAN_SOMAXCONN == wspsan_core::consts::SOMAXCONN);
const _: () = assert!(WSPSAN_SOL_SOCKET == wspsan_core::consts::SOL_SOCKET);
const _: () = assert!(WSPSAN_SO_ACCEPTCONN == wspsan_core::consts::SO_ACCEPTCONN);
const _: () = assert!(WSPSAN_SO_SNDBUF == wspsan_core::consts::SO_SNDBUF);
const _: () = assert!(WSPSAN_SO_RCVBUF == wspsan_core::consts::SO_RCVBUF);
const _: () = assert!(WSPSAN_SO_ERROR == wspsan_core::consts::SO_ERROR);
const _: () = assert!(WSPSAN_SO_TYPE == wspsan_core::consts::SO_TYPE);
const _: () = assert!(SO_CONNDATA == wspsan_core::consts::SO_CONNDATA);
const _: () = assert!(SO_CONNDATALEN == wspsan_core::consts::SO_CONNDATALEN);
const _: () = assert!(WSPSAN_FIONBIO == wspsan_core::consts::FIONBIO);
const _: () = assert!(SIO_ADDRESS_LIST_QUERY == wspsan_core::consts::SIO_ADDRESS_LIST_QUERY);
const _: () = assert!(CF_ACCEPT == wspsan_core::consts::CF_ACCEPT);
const _: () = assert!(CF_REJECT == wspsan_core::consts::CF_REJECT);
const _: () = assert!(CF_DEFER == wspsan_core::consts::CF_DEFER);

// Condition function results.
/// Condition function result: accept the request.
pub const CF_ACCEPT: c_int = 0;
/// Condition function result: reject the request.
pub const CF_REJECT: c_int = 1;
/// Condition function result: leave the request queued and decide later.
pub const CF_DEFER: c_int = 2;

// Network events.
/// `FD_READ` event bit.
pub const FD_READ: LONG = 0x01;
/// `FD_WRITE` event bit.
pub const FD_WRITE: LONG = 0x02;
/// `FD_OOB` event bit.
pub const FD_OOB: LONG = 0x04;
/// `FD_ACCEPT` event bit: a connection request is queued.
pub const FD_ACCEPT: LONG = 0x08;
/// `FD_CONNECT` event bit: a non-blocking connect has its answer.
pub const FD_CONNECT: LONG = 0x10;
/// `FD_CLOSE` event bit: the other end closed.
pub const FD_CLOSE: LONG = 0x20;
/// Index of `FD_READ` in `iErrorCode`.
pub const FD_READ_BIT: c_int = 0;
/// Index of `FD_WRITE` in `iErrorCode`.
pub const FD_WRITE_BIT: c_int = 1;
/// Index of `FD_OOB` in `iErrorCode`.
pub const FD_OOB_BIT: c_int = 2;
/// Index of `FD_ACCEPT` in `iErrorCode`.
pub const FD_ACCEPT_BIT: c_int = 3;
/// Index of `FD_CONNECT` in `iErrorCode`.
pub const FD_CONNECT_BIT: c_int = 4;
/// Index of `FD_CLOSE` in `iErrorCode`.
pub const FD_CLOSE_BIT: c_int = 5;
/// Length of `WSANETWORKEVENTS.iErrorCode`.
pub const FD_MAX_EVENTS: usize = 10;

/// Length of `WSPDATA.szDescription` without its terminating NUL.
pub const WSPDESCRIPTION_LEN: usize = 255;
/// Length of `WSAPROTOCOL_INFOW.szProtocol` without its terminating NUL.
pub const WSAPROTOCOL_LEN: usize = 255;
/// Length of `WSAPROTOCOLCHAIN.ChainEntries`.
pub const MAX_PROTOCOL_CHAIN: usize = 7;
/// Windows `FD_SETSIZE`: the capacity of `WSPSAN_FD_SET`.
pub const WSPSAN_FD_SETSIZE: usize = 64;

/// A counted buffer, as Windows' `WSABUF`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSABUF {
    /// Length of the buffer in bytes.
    pub len: ULONG,
    /// The buffer.
    pub buf: *mut c_char,
}
/// Pointer to a `WSABUF`.
pub type LPWSABUF = *mut WSABUF;

/// Flow parameters of a quality of service, as Windows' `FLOWSPEC`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FLOWSPEC {
    /// Bytes per second.
    pub TokenRate: ULONG,
    /// Bytes.
    pub TokenBucketSize: ULONG,
    /// Bytes per second.
    pub PeakBandwidth: ULONG,
    /// Microseconds.
    pub Latency: ULONG,
    /// Microseconds.
    pub DelayVariation: ULONG,
    /// `SERVICETYPE`.
    pub ServiceType: ULONG,
    /// Bytes.
    pub MaxSduSize: ULONG,
    /// Bytes.
    pub MinimumPolicedSize: ULONG,
}

/// Quality of service, as Windows' `QOS`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct QOS {
    /// Sending flow.
    pub SendingFlowspec: FLOWSPEC,
    /// Receiving flow.
    pub ReceivingFlowspec: FLOWSPEC,
    /// Provider-specific bytes (`len` 0 and `buf` NULL when none).
    pub ProviderSpecific: WSABUF,
}
/// Pointer to a `QOS`.
pub type LPQOS = *mut QOS;

/// What `WSPEnumNetworkEvents` reports, as Windows' `WSANETWORKEVENTS`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSANETWORKEVENTS {
    /// The `FD_*` bits reported.
    pub lNetworkEvents: LONG,
    /// The error of each reported event, indexed by `FD_*_BIT`; only reported bits are written.
    pub iErrorCode: [c_int; FD_MAX_EVENTS],
}
/// Pointer to a `WSANETWORKEVENTS`.
pub type LPWSANETWORKEVENTS = *mut WSANETWORKEVENTS;

/// What `WSPStartup` reports about the provider, as Windows' `WSPDATA`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSPDATA {
    /// The SPI version the caller is to use (2.2 as `MAKEWORD(2, 2)`).
    pub wVersion: WORD,
    /// The highest SPI version the provider supports.
    pub wHighVersion: WORD,
    /// A NUL-terminated UTF-16 description of the provider (`WSPDESCRIPTION_LEN + 1` units).
    pub szDescription: [WCHAR; 256],
}
/// Pointer to a `WSPDATA`.
pub type LPWSPDATA = *mut WSPDATA;

/// A GUID, as Windows' `GUID`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GUID {
    /// First 32 bits.
    pub Data1: u32,
    /// Next 16 bits.
    pub Data2: u16,
    /// Next 16 bits.
    pub Data3: u16,
    /// Last 64 bits.
    pub Data4: [u8; 8],
}
/// Pointer to a `GUID`.
pub type LPGUID = *mut GUID;

/// A protocol chain, as Windows' `WSAPROTOCOLCHAIN`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WSAPROTOCOLCHAIN {
    /// Number of entries (0 layered, 1 base provider, more for a chain).
    pub ChainLen: c_int,
    /// Catalog entry ids of the chain.
    pub ChainEntries: [DWORD; MAX_PROTOCOL_CHAIN],
}

/// A protocol's catalog entry, as Windows' `WSAPROTOCOL_INFOW` (full Windows layout).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSAPROTOCOL_INFOW {
    /// `XP1_*` service flags.
    pub dwServiceFlags1: DWORD,
    /// Reserved.
    pub dwServiceFlags2: DWORD,
    /// Reserved.
    pub dwServiceFlags3: DWORD,
    /// Reserved.
    pub dwServiceFlags4: DWORD,
    /// `PFL_*` provider flags.
    pub dwProviderFlags: DWORD,
    /// The provider's GUID.
    pub ProviderId: GUID,
    /// The catalog entry id, passed back in `WPUCreateSocketHandle`.
    pub dwCatalogEntryId: DWORD,
    /// The protocol chain.
    pub ProtocolChain: WSAPROTOCOLCHAIN,
    /// Protocol version.
    pub iVersion: c_int,
    /// Address family (`AF_INET`).
    pub iAddressFamily: c_int,
    /// Largest address length in bytes.
    pub iMaxSockAddr: c_int,
    /// Smallest address length in bytes.
    pub iMinSockAddr: c_int,
    /// Socket type (`SOCK_STREAM`).
    pub iSocketType: c_int,
    /// Protocol (`IPPROTO_TCP`).
    pub iProtocol: c_int,
    /// Largest protocol offset.
    pub iProtocolMaxOffset: c_int,
    /// `BIGENDIAN` (0) or `LITTLEENDIAN` (1).
    pub iNetworkByteOrder: c_int,
    /// Security scheme.
    pub iSecurityScheme: c_int,
    /// Largest message size.
    pub dwMessageSize: DWORD,
    /// Reserved for the provider.
    pub dwProviderReserved: DWORD,
    /// NUL-terminated UTF-16 protocol name (`WSAPROTOCOL_LEN + 1` units).
    pub szProtocol: [WCHAR; 256],
}
/// Pointer to a `WSAPROTOCOL_INFOW`.
pub type LPWSAPROTOCOL_INFOW = *mut WSAPROTOCOL_INFOW;

/// One address in a `SOCKET_ADDRESS_LIST`, as Windows' `SOCKET_ADDRESS`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SOCKET_ADDRESS {
    /// The address (a `struct sockaddr_in` inside the same output buffer).
    pub lpSockaddr: *mut libc::sockaddr,
    /// Its length (16).
    pub iSockaddrLength: c_int,
}

/// What `SIO_ADDRESS_LIST_QUERY` returns, as Windows' `SOCKET_ADDRESS_LIST` (variable length).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SOCKET_ADDRESS_LIST {
    /// Number of entries in `Address`.
    pub iAddressCount: c_int,
    /// The addresses (`iAddressCount` entries follow in the same buffer).
    pub Address: [SOCKET_ADDRESS; 1],
}

/// An overlapped operation, as Windows' `WSAOVERLAPPED` (this provider never completes one).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSAOVERLAPPED {
    /// Status of the operation.
    pub Internal: DWORD_PTR,
    /// Bytes transferred.
    pub InternalHigh: DWORD_PTR,
    /// Low offset.
    pub Offset: DWORD,
    /// High offset.
    pub OffsetHigh: DWORD,
    /// Event signalled on completion.
    pub hEvent: WSAEVENT,
}
/// Pointer to a `WSAOVERLAPPED`.
pub type LPWSAOVERLAPPED = *mut WSAOVERLAPPED;

/// A thread, as Windows' `WSATHREADID` (opaque to this provider).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSATHREADID {
    /// The thread.
    pub ThreadHandle: HANDLE,
    /// Reserved.
    pub Reserved: DWORD_PTR,
}
/// Pointer to a `WSATHREADID`.
pub type LPWSATHREADID = *mut WSATHREADID;

/// Windows' `fd_set` (named so it cannot clash with the platform's own `fd_set`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSPSAN_FD_SET {
    /// Number of sockets in the set.
    pub fd_count: c_uint,
    /// The sockets.
    pub fd_array: [SOCKET; WSPSAN_FD_SETSIZE],
}
/// Pointer to a `WSPSAN_FD_SET` (Windows' `LPFD_SET`).
pub type LPWSPSAN_FD_SET = *mut WSPSAN_FD_SET;

/// Windows' `struct timeval` with 32-bit fields (named so it cannot clash with the platform's).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSPSAN_TIMEVAL {
    /// Seconds.
    pub tv_sec: LONG,
    /// Microseconds.
    pub tv_usec: LONG,
}

/// Completion routine of an overlapped operation (never called by this provider).
pub type LPWSAOVERLAPPED_COMPLETION_ROUTINE =
    Option<unsafe extern "C" fn(dwError: DWORD, cbTransferred: DWORD, lpOverlapped: LPWSAOVERLAPPED, dwFlags: DWORD)>;

/// The condition function `WSPAccept` calls for the request at the head of the queue.
///
/// Contract (SPEC A5 to A10, A14): it runs on the thread that called `WSPAccept`, before that
/// call returns, with no provider lock held. `lpCallerId` and `lpCalleeId` are WSABUFs over the
/// connector's and the local `struct sockaddr_in` (16 bytes). `lpCallerData` is the caller data
/// or NULL when the connector sent none; `lpSQOS` the connector's QoS or NULL; `lpGQOS` is
/// always NULL. `lpCalleeData` is a provider buffer whose `len` is the device's callee-data
/// maximum: write at most `len` bytes to `buf` and set `len` to the count written (they reach the
/// connector). `*g` holds 0 and must stay 0. `dwCallbackData` is `WSPAccept`'s, untouched.
/// Return `CF_ACCEPT`, `CF_REJECT` or `CF_DEFER`; any other value (or a non-zero `*g`) fails the
/// accept with `WSAEINVAL` and refuses the request. Every pointer is valid only during the call.
/// Calling a WSP function from inside fails with `WSAEINPROGRESS`. The function must return
/// normally: no longjmp out of it, no C++ exception through it.
pub type LPCONDITIONPROC = Option<
    unsafe extern "C" fn(
        lpCallerId: LPWSABUF,
        lpCallerData: LPWSABUF,
        lpSQOS: LPQOS,
        lpGQOS: LPQOS,
        lpCalleeId: LPWSABUF,
        lpCalleeData: LPWSABUF,
        g: *mut GROUP,
        dwCallbackData: DWORD_PTR,
    ) -> c_int,
>;

/// A blocking hook, as Windows' `LPBLOCKINGCALLBACK` (never called by this provider).
pub type LPBLOCKINGCALLBACK = Option<unsafe extern "C" fn(dwContext: DWORD_PTR) -> BOOL>;
/// An asynchronous procedure call, as Windows' `LPWSAUSERAPC` (never called by this provider).
pub type LPWSAUSERAPC = Option<unsafe extern "C" fn(dwContext: DWORD_PTR)>;

// The provider's procedure table: one function-pointer type per entry, Windows signatures.

/// `WSPAccept`.
pub type LPWSPACCEPT = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        addr: *mut libc::sockaddr,
        addrlen: LPINT,
        lpfnCondition: LPCONDITIONPROC,
        dwCallbackData: DWORD_PTR,
        lpErrno: LPINT,
    ) -> SOCKET,
>;
/// `WSPAddressToString` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPADDRESSTOSTRING = Option<
    unsafe extern "C" fn(
        lpsaAddress: *mut libc::sockaddr,
        dwAddressLength: DWORD,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpszAddressString: LPWSTR,
        lpdwAddressStringLength: LPDWORD,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPAsyncSelect` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPASYNCSELECT =
    Option<unsafe extern "C" fn(s: SOCKET, hWnd: HWND, wMsg: c_uint, lEvent: LONG, lpErrno: LPINT) -> c_int>;
/// `WSPBind`.
pub type LPWSPBIND =
    Option<unsafe extern "C" fn(s: SOCKET, name: *const libc::sockaddr, namelen: c_int, lpErrno: LPINT) -> c_int>;
/// `WSPCancelBlockingCall` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPCANCELBLOCKINGCALL = Option<unsafe extern "C" fn(lpErrno: LPINT) -> c_int>;
/// `WSPCleanup`.
pub type LPWSPCLEANUP = Option<unsafe extern "C" fn(lpErrno: LPINT) -> c_int>;
/// `WSPCloseSocket`.
pub type LPWSPCLOSESOCKET = Option<unsafe extern "C" fn(s: SOCKET, lpErrno: LPINT) -> c_int>;
/// `WSPConnect`.
pub type LPWSPCONNECT = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        name: *const libc::sockaddr,
        namelen: c_int,
        lpCallerData: LPWSABUF,
        lpCalleeData: LPWSABUF,
        lpSQOS: LPQOS,
        lpGQOS: LPQOS,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPDuplicateSocket` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPDUPLICATESOCKET = Option<
    unsafe extern "C" fn(s: SOCKET, dwProcessId: DWORD, lpProtocolInfo: LPWSAPROTOCOL_INFOW, lpErrno: LPINT) -> c_int,
>;
/// `WSPEnumNetworkEvents`.
pub type LPWSPENUMNETWORKEVENTS = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        hEventObject: WSAEVENT,
        lpNetworkEvents: LPWSANETWORKEVENTS,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPEventSelect`.
pub type LPWSPEVENTSELECT =
    Option<unsafe extern "C" fn(s: SOCKET, hEventObject: WSAEVENT, lNetworkEvents: LONG, lpErrno: LPINT) -> c_int>;
/// `WSPGetOverlappedResult` (not supported: FALSE with `WSAEOPNOTSUPP`).
pub type LPWSPGETOVERLAPPEDRESULT = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        lpOverlapped: LPWSAOVERLAPPED,
        lpcbTransfer: LPDWORD,
        fWait: BOOL,
        lpdwFlags: LPDWORD,
        lpErrno: LPINT,
    ) -> BOOL,
>;
/// `WSPGetPeerName`.
pub type LPWSPGETPEERNAME =
    Option<unsafe extern "C" fn(s: SOCKET, name: *mut libc::sockaddr, namelen: LPINT, lpErrno: LPINT) -> c_int>;
/// `WSPGetSockName`.
pub type LPWSPGETSOCKNAME =
    Option<unsafe extern "C" fn(s: SOCKET, name: *mut libc::sockaddr, namelen: LPINT, lpErrno: LPINT) -> c_int>;
/// `WSPGetSockOpt`.
pub type LPWSPGETSOCKOPT = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        level: c_int,
        optname: c_int,
        optval: *mut c_char,
        optlen: LPINT,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPGetQOSByName` (not supported: FALSE with `WSAEOPNOTSUPP`).
pub type LPWSPGETQOSBYNAME =
    Option<unsafe extern "C" fn(s: SOCKET, lpQOSName: LPWSABUF, lpQOS: LPQOS, lpErrno: LPINT) -> BOOL>;
/// `WSPIoctl`.
pub type LPWSPIOCTL = Option<
    unsafe extern "C" fn(
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
    ) -> c_int,
>;
/// `WSPJoinLeaf` (not supported: `INVALID_SOCKET` with `WSAEOPNOTSUPP`).
pub type LPWSPJOINLEAF = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        name: *const libc::sockaddr,
        namelen: c_int,
        lpCallerData: LPWSABUF,
        lpCalleeData: LPWSABUF,
        lpSQOS: LPQOS,
        lpGQOS: LPQOS,
        dwFlags: DWORD,
        lpErrno: LPINT,
    ) -> SOCKET,
>;
/// `WSPListen`.
pub type LPWSPLISTEN = Option<unsafe extern "C" fn(s: SOCKET, backlog: c_int, lpErrno: LPINT) -> c_int>;
/// `WSPRecv` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPRECV = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesRecvd: LPDWORD,
        lpFlags: LPDWORD,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPRecvDisconnect` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPRECVDISCONNECT =
    Option<unsafe extern "C" fn(s: SOCKET, lpInboundDisconnectData: LPWSABUF, lpErrno: LPINT) -> c_int>;
/// `WSPRecvFrom` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPRECVFROM = Option<
    unsafe extern "C" fn(
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
    ) -> c_int,
>;
/// `WSPSelect` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPSELECT = Option<
    unsafe extern "C" fn(
        nfds: c_int,
        readfds: LPWSPSAN_FD_SET,
        writefds: LPWSPSAN_FD_SET,
        exceptfds: LPWSPSAN_FD_SET,
        timeout: *const WSPSAN_TIMEVAL,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPSend` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPSEND = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        lpBuffers: LPWSABUF,
        dwBufferCount: DWORD,
        lpNumberOfBytesSent: LPDWORD,
        dwFlags: DWORD,
        lpOverlapped: LPWSAOVERLAPPED,
        lpCompletionRoutine: LPWSAOVERLAPPED_COMPLETION_ROUTINE,
        lpThreadId: LPWSATHREADID,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPSendDisconnect` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPSENDDISCONNECT =
    Option<unsafe extern "C" fn(s: SOCKET, lpOutboundDisconnectData: LPWSABUF, lpErrno: LPINT) -> c_int>;
/// `WSPSendTo` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPSENDTO = Option<
    unsafe extern "C" fn(
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
    ) -> c_int,
>;
/// `WSPSetSockOpt`.
pub type LPWSPSETSOCKOPT = Option<
    unsafe extern "C" fn(
        s: SOCKET,
        level: c_int,
        optname: c_int,
        optval: *const c_char,
        optlen: c_int,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WSPShutdown` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPSHUTDOWN = Option<unsafe extern "C" fn(s: SOCKET, how: c_int, lpErrno: LPINT) -> c_int>;
/// `WSPSocket`.
pub type LPWSPSOCKET = Option<
    unsafe extern "C" fn(
        af: c_int,
        r#type: c_int,
        protocol: c_int,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        g: GROUP,
        dwFlags: DWORD,
        lpErrno: LPINT,
    ) -> SOCKET,
>;
/// `WSPStringToAddress` (not supported: `WSAEOPNOTSUPP`).
pub type LPWSPSTRINGTOADDRESS = Option<
    unsafe extern "C" fn(
        AddressString: LPWSTR,
        AddressFamily: c_int,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        lpAddress: *mut libc::sockaddr,
        lpAddressLength: LPINT,
        lpErrno: LPINT,
    ) -> c_int,
>;

/// The provider's procedure table that `WSPStartup` fills: all 30 entries, Windows order, none
/// NULL (the ones this provider does not implement fail with `WSAEOPNOTSUPP`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSPPROC_TABLE {
    /// `WSPAccept`.
    pub lpWSPAccept: LPWSPACCEPT,
    /// `WSPAddressToString` (`WSAEOPNOTSUPP`).
    pub lpWSPAddressToString: LPWSPADDRESSTOSTRING,
    /// `WSPAsyncSelect` (`WSAEOPNOTSUPP`).
    pub lpWSPAsyncSelect: LPWSPASYNCSELECT,
    /// `WSPBind`.
    pub lpWSPBind: LPWSPBIND,
    /// `WSPCancelBlockingCall` (`WSAEOPNOTSUPP`).
    pub lpWSPCancelBlockingCall: LPWSPCANCELBLOCKINGCALL,
    /// `WSPCleanup`.
    pub lpWSPCleanup: LPWSPCLEANUP,
    /// `WSPCloseSocket`.
    pub lpWSPCloseSocket: LPWSPCLOSESOCKET,
    /// `WSPConnect`.
    pub lpWSPConnect: LPWSPCONNECT,
    /// `WSPDuplicateSocket` (`WSAEOPNOTSUPP`).
    pub lpWSPDuplicateSocket: LPWSPDUPLICATESOCKET,
    /// `WSPEnumNetworkEvents`.
    pub lpWSPEnumNetworkEvents: LPWSPENUMNETWORKEVENTS,
    /// `WSPEventSelect`.
    pub lpWSPEventSelect: LPWSPEVENTSELECT,
    /// `WSPGetOverlappedResult` (`WSAEOPNOTSUPP`).
    pub lpWSPGetOverlappedResult: LPWSPGETOVERLAPPEDRESULT,
    /// `WSPGetPeerName`.
    pub lpWSPGetPeerName: LPWSPGETPEERNAME,
    /// `WSPGetSockName`.
    pub lpWSPGetSockName: LPWSPGETSOCKNAME,
    /// `WSPGetSockOpt`.
    pub lpWSPGetSockOpt: LPWSPGETSOCKOPT,
    /// `WSPGetQOSByName` (`WSAEOPNOTSUPP`).
    pub lpWSPGetQOSByName: LPWSPGETQOSBYNAME,
    /// `WSPIoctl`.
    pub lpWSPIoctl: LPWSPIOCTL,
    /// `WSPJoinLeaf` (`WSAEOPNOTSUPP`).
    pub lpWSPJoinLeaf: LPWSPJOINLEAF,
    /// `WSPListen`.
    pub lpWSPListen: LPWSPLISTEN,
    /// `WSPRecv` (`WSAEOPNOTSUPP`).
    pub lpWSPRecv: LPWSPRECV,
    /// `WSPRecvDisconnect` (`WSAEOPNOTSUPP`).
    pub lpWSPRecvDisconnect: LPWSPRECVDISCONNECT,
    /// `WSPRecvFrom` (`WSAEOPNOTSUPP`).
    pub lpWSPRecvFrom: LPWSPRECVFROM,
    /// `WSPSelect` (`WSAEOPNOTSUPP`).
    pub lpWSPSelect: LPWSPSELECT,
    /// `WSPSend` (`WSAEOPNOTSUPP`).
    pub lpWSPSend: LPWSPSEND,
    /// `WSPSendDisconnect` (`WSAEOPNOTSUPP`).
    pub lpWSPSendDisconnect: LPWSPSENDDISCONNECT,
    /// `WSPSendTo` (`WSAEOPNOTSUPP`).
    pub lpWSPSendTo: LPWSPSENDTO,
    /// `WSPSetSockOpt`.
    pub lpWSPSetSockOpt: LPWSPSETSOCKOPT,
    /// `WSPShutdown` (`WSAEOPNOTSUPP`).
    pub lpWSPShutdown: LPWSPSHUTDOWN,
    /// `WSPSocket`.
    pub lpWSPSocket: LPWSPSOCKET,
    /// `WSPStringToAddress` (`WSAEOPNOTSUPP`).
    pub lpWSPStringToAddress: LPWSPSTRINGTOADDRESS,
}
/// Pointer to a `WSPPROC_TABLE`.
pub type LPWSPPROC_TABLE = *mut WSPPROC_TABLE;

// The switch's upcall table: one function-pointer type per entry, Windows signatures.

/// `WPUCloseEvent` (not called by this provider).
pub type LPWPUCLOSEEVENT = Option<unsafe extern "C" fn(hEvent: WSAEVENT, lpErrno: LPINT) -> BOOL>;
/// `WPUCloseSocketHandle`: called with the switch's handle when a socket is closed.
pub type LPWPUCLOSESOCKETHANDLE = Option<unsafe extern "C" fn(s: SOCKET, lpErrno: LPINT) -> c_int>;
/// `WPUCreateEvent` (not called by this provider).
pub type LPWPUCREATEEVENT = Option<unsafe extern "C" fn(lpErrno: LPINT) -> WSAEVENT>;
/// `WPUCreateSocketHandle`: called for every socket created; returns the switch's handle.
pub type LPWPUCREATESOCKETHANDLE =
    Option<unsafe extern "C" fn(dwCatalogEntryId: DWORD, dwContext: DWORD_PTR, lpErrno: LPINT) -> SOCKET>;
/// `WPUFDIsSet` (not called by this provider).
pub type LPWPUFDISSET = Option<unsafe extern "C" fn(s: SOCKET, fdset: LPWSPSAN_FD_SET) -> c_int>;
/// `WPUGetProviderPath` (not called by this provider).
pub type LPWPUGETPROVIDERPATH = Option<
    unsafe extern "C" fn(
        lpProviderId: LPGUID,
        lpszProviderDllPath: *mut WCHAR,
        lpProviderDllPathLen: LPINT,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WPUModifyIFSHandle` (not called by this provider).
pub type LPWPUMODIFYIFSHANDLE =
    Option<unsafe extern "C" fn(dwCatalogEntryId: DWORD, ProposedHandle: SOCKET, lpErrno: LPINT) -> SOCKET>;
/// `WPUPostMessage` (not called by this provider).
pub type LPWPUPOSTMESSAGE = Option<unsafe extern "C" fn(hWnd: HWND, Msg: UINT, wParam: WPARAM, lParam: LPARAM) -> BOOL>;
/// `WPUQueryBlockingCallback` (not called by this provider).
pub type LPWPUQUERYBLOCKINGCALLBACK = Option<
    unsafe extern "C" fn(
        dwCatalogEntryId: DWORD,
        lplpfnCallback: *mut LPBLOCKINGCALLBACK,
        lpdwContext: PDWORD_PTR,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WPUQuerySocketHandleContext` (not called by this provider).
pub type LPWPUQUERYSOCKETHANDLECONTEXT =
    Option<unsafe extern "C" fn(s: SOCKET, lpContext: PDWORD_PTR, lpErrno: LPINT) -> c_int>;
/// `WPUQueueApc` (not called by this provider).
pub type LPWPUQUEUEAPC = Option<
    unsafe extern "C" fn(
        lpThreadId: LPWSATHREADID,
        lpfnUserApc: LPWSAUSERAPC,
        dwContext: DWORD_PTR,
        lpErrno: LPINT,
    ) -> c_int,
>;
/// `WPUResetEvent`: resets an event object, used instead of draining the eventfd.
pub type LPWPURESETEVENT = Option<unsafe extern "C" fn(hEvent: WSAEVENT, lpErrno: LPINT) -> BOOL>;
/// `WPUSetEvent`: sets an event object, used instead of writing the eventfd.
pub type LPWPUSETEVENT = Option<unsafe extern "C" fn(hEvent: WSAEVENT, lpErrno: LPINT) -> BOOL>;
/// `WPUOpenCurrentThread` (not called by this provider).
pub type LPWPUOPENCURRENTTHREAD = Option<unsafe extern "C" fn(lpThreadId: LPWSATHREADID, lpErrno: LPINT) -> c_int>;
/// `WPUCloseThread` (not called by this provider).
pub type LPWPUCLOSETHREAD = Option<unsafe extern "C" fn(lpThreadId: LPWSATHREADID, lpErrno: LPINT) -> c_int>;

/// The switch's upcall table, passed by value to `WSPStartup`: all 15 entries, Windows order.
///
/// Contract (SPEC X5, section 8): any entry may be NULL. The provider calls only four, always
/// with no lock held and possibly from any thread that calls into it: `lpWPUCreateSocketHandle`
/// for every socket it creates (`dwContext` = the provider's descriptor; returning
/// `INVALID_SOCKET` with `*lpErrno` set fails that socket's creation with that error, an accept
/// then keeps its request queued), `lpWPUCloseSocketHandle` with the switch's handle when such
/// a socket is closed, and `lpWPUSetEvent` / `lpWPUResetEvent`, when present, instead of
/// writing or draining the eventfd behind a `WSAEVENT`. Upcalls must return normally (no
/// longjmp, no C++ exception) and must not call `WSPStartup` or `WSPCleanup`. The table of the
/// first `WSPStartup` is used until the last `WSPCleanup`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WSPUPCALLTABLE {
    /// `WPUCloseEvent`.
    pub lpWPUCloseEvent: LPWPUCLOSEEVENT,
    /// `WPUCloseSocketHandle`.
    pub lpWPUCloseSocketHandle: LPWPUCLOSESOCKETHANDLE,
    /// `WPUCreateEvent`.
    pub lpWPUCreateEvent: LPWPUCREATEEVENT,
    /// `WPUCreateSocketHandle`.
    pub lpWPUCreateSocketHandle: LPWPUCREATESOCKETHANDLE,
    /// `WPUFDIsSet`.
    pub lpWPUFDIsSet: LPWPUFDISSET,
    /// `WPUGetProviderPath`.
    pub lpWPUGetProviderPath: LPWPUGETPROVIDERPATH,
    /// `WPUModifyIFSHandle`.
    pub lpWPUModifyIFSHandle: LPWPUMODIFYIFSHANDLE,
    /// `WPUPostMessage`.
    pub lpWPUPostMessage: LPWPUPOSTMESSAGE,
    /// `WPUQueryBlockingCallback`.
    pub lpWPUQueryBlockingCallback: LPWPUQUERYBLOCKINGCALLBACK,
    /// `WPUQuerySocketHandleContext`.
    pub lpWPUQuerySocketHandleContext: LPWPUQUERYSOCKETHANDLECONTEXT,
    /// `WPUQueueApc`.
    pub lpWPUQueueApc: LPWPUQUEUEAPC,
    /// `WPUResetEvent`.
    pub lpWPUResetEvent: LPWPURESETEVENT,
    /// `WPUSetEvent`.
    pub lpWPUSetEvent: LPWPUSETEVENT,
    /// `WPUOpenCurrentThread`.
    pub lpWPUOpenCurrentThread: LPWPUOPENCURRENTTHREAD,
    /// `WPUCloseThread`.
    pub lpWPUCloseThread: LPWPUCLOSETHREAD,
}
/// Pointer to a `WSPUPCALLTABLE`.
pub type LPWSPUPCALLTABLE = *mut WSPUPCALLTABLE;

/// `WSPStartup`.
pub type LPWSPSTARTUP = Option<
    unsafe extern "C" fn(
        wVersionRequested: WORD,
        lpWSPData: LPWSPDATA,
        lpProtocolInfo: LPWSAPROTOCOL_INFOW,
        UpcallTable: WSPUPCALLTABLE,
        lpProcTable: LPWSPPROC_TABLE,
    ) -> c_int,
>;

const _: () = assert!(WSPDESCRIPTION_LEN + 1 == 256 && WSAPROTOCOL_LEN + 1 == 256);

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn windows_layouts() {
        assert_eq!(size_of::<WSABUF>(), 16);
        assert_eq!(size_of::<FLOWSPEC>(), 32);
        assert_eq!(size_of::<QOS>(), 80);
        assert_eq!(size_of::<WSANETWORKEVENTS>(), 44);
        assert_eq!(size_of::<WSPDATA>(), 516);
        assert_eq!(size_of::<GUID>(), 16);
        assert_eq!(size_of::<WSAPROTOCOL_INFOW>(), 628);
        assert_eq!(offset_of!(WSAPROTOCOL_INFOW, szProtocol), 116);
        assert_eq!(size_of::<WSPPROC_TABLE>(), 30 * size_of::<usize>());
        assert_eq!(size_of::<WSPUPCALLTABLE>(), 15 * size_of::<usize>());
        assert_eq!(offset_of!(SOCKET_ADDRESS_LIST, Address), size_of::<usize>());
    }

    #[test]
    fn error_numbers_are_the_engines() {
        use wspsan_core::WsaError;
        let ours = [
            (WSAEINTR, WsaError::Intr),
            (WSAEACCES, WsaError::Acces),
            (WSAEFAULT, WsaError::Fault),
            (WSAEINVAL, WsaError::Inval),
            (WSAEMFILE, WsaError::MFile),
            (WSAEWOULDBLOCK, WsaError::WouldBlock),
            (WSAEINPROGRESS, WsaError::InProgress),
            (WSAEALREADY, WsaError::Already),
            (WSAENOTSOCK, WsaError::NotSock),
            (WSAEPROTOTYPE, WsaError::Prototype),
            (WSAENOPROTOOPT, WsaError::NoProtoOpt),
            (WSAEPROTONOSUPPORT, WsaError::ProtoNoSupport),
            (WSAESOCKTNOSUPPORT, WsaError::SocktNoSupport),
            (WSAEOPNOTSUPP, WsaError::OpNotSupp),
            (WSAEAFNOSUPPORT, WsaError::AfNoSupport),
            (WSAEADDRINUSE, WsaError::AddrInUse),
            (WSAEADDRNOTAVAIL, WsaError::AddrNotAvail),
            (WSAENETDOWN, WsaError::NetDown),
            (WSAECONNABORTED, WsaError::ConnAborted),
            (WSAECONNRESET, WsaError::ConnReset),
            (WSAENOBUFS, WsaError::NoBufs),
            (WSAEISCONN, WsaError::IsConn),
            (WSAENOTCONN, WsaError::NotConn),
            (WSAETIMEDOUT, WsaError::TimedOut),
            (WSAECONNREFUSED, WsaError::ConnRefused),
            (WSAEHOSTUNREACH, WsaError::HostUnreach),
            (WSAVERNOTSUPPORTED, WsaError::VerNotSupported),
            (WSANOTINITIALISED, WsaError::NotInitialised),
            (WSATRY_AGAIN, WsaError::TryAgain),
        ];
        assert_eq!(ours.len(), WsaError::ALL.len());
        for (code, e) in ours {
            assert_eq!(code, e.code(), "{}", e.name());
        }
        assert_eq!(FD_ACCEPT as u32, wspsan_core::consts::FD_ACCEPT);
        assert_eq!(FD_CONNECT as u32, wspsan_core::consts::FD_CONNECT);
        assert_eq!(FD_CLOSE as u32, wspsan_core::consts::FD_CLOSE);
        assert_eq!(FD_MAX_EVENTS, wspsan_core::consts::FD_MAX_EVENTS);
    }
}

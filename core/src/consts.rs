//! Winsock constants with their Windows values (SPEC section 1), and the Linux numbers the
//! provider also accepts where the platform defines the same name.

/// `AF_INET`.
pub const AF_INET: i32 = 2;
/// `SOCK_STREAM`.
pub const SOCK_STREAM: i32 = 1;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: i32 = 6;

/// Windows `SOMAXCONN`: "a reasonable maximum", the device's maximum backlog (SPEC L5).
pub const SOMAXCONN: i32 = 0x7fff_ffff;
/// The platform's own `SOMAXCONN` (glibc), which means the same as [`SOMAXCONN`].
pub const PLATFORM_SOMAXCONN: i32 = 4096;

/// `SOMAXCONN_HINT(b)` = `-(b)`: a backlog of `b` clamped into 200..65535 (SPEC L5).
pub const fn somaxconn_hint(b: i32) -> i32 {
    b.wrapping_neg()
}

/// Condition function result: accept the request.
pub const CF_ACCEPT: i32 = 0;
/// Condition function result: reject the request.
pub const CF_REJECT: i32 = 1;
/// Condition function result: leave the request queued and decide later.
pub const CF_DEFER: i32 = 2;

/// `FD_READ` event bit.
pub const FD_READ: u32 = 0x01;
/// `FD_WRITE` event bit.
pub const FD_WRITE: u32 = 0x02;
/// `FD_OOB` event bit.
pub const FD_OOB: u32 = 0x04;
/// `FD_ACCEPT` event bit.
pub const FD_ACCEPT: u32 = 0x08;
/// `FD_CONNECT` event bit.
pub const FD_CONNECT: u32 = 0x10;
/// `FD_CLOSE` event bit.
pub const FD_CLOSE: u32 = 0x20;
/// Index of `FD_READ` in `iErrorCode`.
pub const FD_READ_BIT: usize = 0;
/// Index of `FD_WRITE` in `iErrorCode`.
pub const FD_WRITE_BIT: usize = 1;
/// Index of `FD_OOB` in `iErrorCode`.
pub const FD_OOB_BIT: usize = 2;
/// Index of `FD_ACCEPT` in `iErrorCode`.
pub const FD_ACCEPT_BIT: usize = 3;
/// Index of `FD_CONNECT` in `iErrorCode`.
pub const FD_CONNECT_BIT: usize = 4;
/// Index of `FD_CLOSE` in `iErrorCode`.
pub const FD_CLOSE_BIT: usize = 5;
/// Length of `iErrorCode`.
pub const FD_MAX_EVENTS: usize = 10;
/// Every event bit `WSPEventSelect` accepts.
pub const FD_ALL_EVENTS: u32 = (1 << FD_MAX_EVENTS) - 1;

/// Windows `SOL_SOCKET`: options at this level use Windows numbers.
pub const SOL_SOCKET: i32 = 0xffff;
/// Windows `SO_ACCEPTCONN`.
pub const SO_ACCEPTCONN: i32 = 0x0002;
/// Windows `SO_SNDBUF`.
pub const SO_SNDBUF: i32 = 0x1001;
/// Windows `SO_RCVBUF`.
pub const SO_RCVBUF: i32 = 0x1002;
/// Windows `SO_ERROR`.
pub const SO_ERROR: i32 = 0x1007;
/// Windows `SO_TYPE`.
pub const SO_TYPE: i32 = 0x1008;
/// Windows `SO_CONNDATA`: reads the callee data of the socket's completed connect.
pub const SO_CONNDATA: i32 = 0x7000;
/// Windows `SO_CONNDATALEN`: the length of [`SO_CONNDATA`].
pub const SO_CONNDATALEN: i32 = 0x7004;

/// Windows `FIONBIO`.
pub const FIONBIO: u32 = 0x8004_667E;
/// `SIO_ADDRESS_LIST_QUERY`.
pub const SIO_ADDRESS_LIST_QUERY: u32 = 0x4800_0016;

/// The platform's (Linux) numbering of the names that clash with Windows (SPEC section 1).
pub mod platform {
    /// Linux `SOL_SOCKET`.
    pub const SOL_SOCKET: i32 = 1;
    /// Linux `SO_TYPE`.
    pub const SO_TYPE: i32 = 3;
    /// Linux `SO_ERROR`.
    pub const SO_ERROR: i32 = 4;
    /// Linux `SO_SNDBUF`.
    pub const SO_SNDBUF: i32 = 7;
    /// Linux `SO_RCVBUF`.
    pub const SO_RCVBUF: i32 = 8;
    /// Linux `SO_ACCEPTCONN`.
    pub const SO_ACCEPTCONN: i32 = 30;
    /// Linux `FIONBIO`.
    pub const FIONBIO: u32 = 0x5421;
}

/// First ephemeral port handed out for port 0 binds and implicit binds.
pub const EPHEMERAL_FIRST: u16 = 49152;
/// Last ephemeral port.
pub const EPHEMERAL_LAST: u16 = 65535;

/// The `WSPIoctl` codes the provider implements, in either numbering (SPEC section 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ioctl {
    /// `FIONBIO` (0x8004667E, or the platform's 0x5421): set or clear non-blocking mode (E6).
    NonBlocking,
    /// `SIO_ADDRESS_LIST_QUERY`: list the device's NICs (D4).
    AddressListQuery,
}

impl Ioctl {
    /// The ioctl for a code; any other code is `WSAEINVAL`, as the WSPIoctl page says (WinOF
    /// answers `WSAENOPROTOOPT`).
    pub fn from_code(code: u32) -> crate::Result<Ioctl> {
        match code {
            FIONBIO | platform::FIONBIO => Ok(Ioctl::NonBlocking),
            SIO_ADDRESS_LIST_QUERY => Ok(Ioctl::AddressListQuery),
            _ => Err(crate::WsaError::Inval),
        }
    }
}

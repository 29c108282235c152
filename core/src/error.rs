//! The one error type: Winsock error codes with their Windows numbers (SPEC section 1).

use std::fmt;

macro_rules! wsa_errors {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $msg:literal; )*) => {
        /// A Winsock error, numbered exactly as Windows numbers it (SPEC section 1).
        ///
        /// Every failure of the engine is one of these; `code()` is the value a C caller
        /// finds in `*lpErrno`, `name()` the `WSAE...` identifier, `message()` a sentence.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(i32)]
        #[non_exhaustive]
        pub enum WsaError {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl WsaError {
            /// Every error the engine knows, in numeric order.
            pub const ALL: &'static [WsaError] = &[$(WsaError::$variant),*];

            /// The Windows name, for example `"WSAECONNREFUSED"`.
            pub const fn name(self) -> &'static str {
                match self { $(WsaError::$variant => $name,)* }
            }

            /// A one-sentence description of the error.
            pub const fn message(self) -> &'static str {
                match self { $(WsaError::$variant => $msg,)* }
            }

            /// The error with this Windows number, if the engine knows it.
            pub const fn from_code(code: i32) -> Option<WsaError> {
                match code { $($code => Some(WsaError::$variant),)* _ => None }
            }
        }
    };
}

wsa_errors! {
    /// A blocking call was interrupted (the socket was closed from another thread).
    Intr = 10004, "WSAEINTR", "A blocking operation was interrupted by closing the socket.";
    /// The connection request was withdrawn or timed out before accept reached it.
    Acces = 10013, "WSAEACCES", "The connection request was withdrawn or timed out before it was accepted.";
    /// A pointer or length argument is invalid.
    Fault = 10014, "WSAEFAULT", "A pointer or length argument is not valid.";
    /// An argument is invalid or the socket is in the wrong state.
    Inval = 10022, "WSAEINVAL", "An invalid argument was supplied or the socket is in the wrong state.";
    /// No socket descriptor is available.
    MFile = 10024, "WSAEMFILE", "No more socket descriptors are available.";
    /// The operation would block on a non-blocking socket.
    WouldBlock = 10035, "WSAEWOULDBLOCK", "The operation would block on a non-blocking socket.";
    /// A blocking call is in progress on this thread (called from a condition function).
    InProgress = 10036, "WSAEINPROGRESS", "A blocking operation is in progress on this thread.";
    /// A connect is already pending on this socket.
    Already = 10037, "WSAEALREADY", "A connect is already in progress on this socket.";
    /// The descriptor is not a socket of this provider.
    NotSock = 10038, "WSAENOTSOCK", "The descriptor is not a socket.";
    /// Wrong protocol type for the socket.
    Prototype = 10041, "WSAEPROTOTYPE", "The protocol is the wrong type for the socket.";
    /// Unknown option or option level, or the option cannot be set.
    NoProtoOpt = 10042, "WSAENOPROTOOPT", "The option is unknown or not supported for this operation.";
    /// The protocol is not supported.
    ProtoNoSupport = 10043, "WSAEPROTONOSUPPORT", "The protocol is not supported.";
    /// The socket type is not supported.
    SocktNoSupport = 10044, "WSAESOCKTNOSUPPORT", "The socket type is not supported.";
    /// The operation is not supported.
    OpNotSupp = 10045, "WSAEOPNOTSUPP", "The operation is not supported by this provider.";
    /// The address family is not supported.
    AfNoSupport = 10047, "WSAEAFNOSUPPORT", "The address family is not supported.";
    /// The address and port are already bound by another socket.
    AddrInUse = 10048, "WSAEADDRINUSE", "The address and port are already in use.";
    /// The address is not an address of the device.
    AddrNotAvail = 10049, "WSAEADDRNOTAVAIL", "The address is not available on this device.";
    /// The device is down.
    NetDown = 10050, "WSAENETDOWN", "The network (the SAN device) is down.";
    /// The connection was aborted.
    ConnAborted = 10053, "WSAECONNABORTED", "The connection was aborted.";
    /// The pending connect was reset (the listener shrank its backlog).
    ConnReset = 10054, "WSAECONNRESET", "The connection request was reset by the listener.";
    /// No buffer space (allocation failed, or a device limit was reached).
    NoBufs = 10055, "WSAENOBUFS", "No buffer space is available.";
    /// The socket is already connected.
    IsConn = 10056, "WSAEISCONN", "The socket is already connected.";
    /// The socket is not connected.
    NotConn = 10057, "WSAENOTCONN", "The socket is not connected.";
    /// The connect timed out.
    TimedOut = 10060, "WSAETIMEDOUT", "The connection attempt timed out.";
    /// The connect was refused.
    ConnRefused = 10061, "WSAECONNREFUSED", "The connection was refused.";
    /// No device on the fabric answers for the address (down, unreachable or silent).
    HostUnreach = 10065, "WSAEHOSTUNREACH", "The host (the device that owns the address) cannot be reached.";
    /// The requested Winsock SPI version is not supported.
    VerNotSupported = 10092, "WSAVERNOTSUPPORTED", "The requested Winsock version is not supported.";
    /// `WSPStartup` was not called (or the last `WSPCleanup` already ran).
    NotInitialised = 10093, "WSANOTINITIALISED", "WSPStartup has not been called.";
    /// The condition function deferred the request (`CF_DEFER`).
    TryAgain = 11002, "WSATRY_AGAIN", "The connection request was deferred; try again.";
}

impl WsaError {
    /// The Windows error number (what `*lpErrno` receives).
    pub const fn code(self) -> i32 {
        self as i32
    }
}

impl fmt::Display for WsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.code(), self.message())
    }
}

impl std::error::Error for WsaError {}

impl From<WsaError> for i32 {
    fn from(e: WsaError) -> i32 {
        e.code()
    }
}

/// Result of an engine operation.
pub type Result<T, E = WsaError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names_are_distinct() {
        for &e in WsaError::ALL {
            assert_eq!(WsaError::from_code(e.code()), Some(e));
            assert!(e.name().starts_with("WSA"));
            assert!(!e.message().is_empty());
        }
        assert_eq!(WsaError::ConnRefused.code(), 10061);
        assert_eq!(WsaError::TryAgain.code(), 11002);
        assert_eq!(WsaError::from_code(0), None);
        let names: std::collections::HashSet<_> = WsaError::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), WsaError::ALL.len());
    }
}

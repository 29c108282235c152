//! wspsan C ABI (libwspsan): the Winsock SAN provider's connection setup with the exact
//! Windows WSP signatures, prefixed `wspsan_`. See include/wspsan.h (generated from this crate
//! by cbindgen) and docs/behaviour.md sections 1 and 2.
//!
//! Every export translates C arguments into a call on the engine (`wspsan-core`) and back,
//! through the one boundary in `boundary`; no rule of the contract is decided here. The
//! conversions between C layouts and engine types are public in [`convert`] (and the session
//! entry points [`startup_with`] / [`cleanup_with`]) for the Python module, which builds the
//! same C structures; none of them is exported to C.
// Windows names for Windows things: WSABUF, lpErrno, wspsan_WSPListen.
#![allow(non_camel_case_types, non_snake_case, clippy::upper_case_acronyms)]
// The safety contract of every export is the C one documented in the header.
#![allow(clippy::missing_safety_doc)]
// Every raw dereference sits in its own unsafe block that says why it is sound; the body of an
// unsafe fn is safe code like any other.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
// The Windows signatures have as many parameters as they have.
#![allow(clippy::too_many_arguments)]

// The layers, bottom up; no module uses one above it (tests/tools/crate_cycles.py checks that
// no two use each other, capi/tests/layers.rs runs it):
// - types, convert, eventfd, failure: C layouts and conversions, what a failure reports;
// - session: the process-wide provider, counted startup, the switch's upcalls;
// - boundary: the panic boundary, lpErrno, pointer checks; on the session;
// - the exports (accept, connect, device, events, info, listen, options, socket, transport,
//   cleanup), each on the boundary;
// - procs: the procedure table of the exports and the unimplemented entries' stubs;
// - startup: WSPStartup, which hands out that table.
mod accept;
mod boundary;
mod cleanup;
mod connect;
pub mod convert;
mod device;
pub mod eventfd;
mod events;
mod failure;
mod info;
mod listen;
mod options;
mod procs;
mod session;
mod socket;
mod startup;
mod transport;
pub mod types;

pub use accept::wspsan_WSPAccept;
pub use boundary::{amend_last_error_detail, wspsan_test_inject_panic};
pub use cleanup::wspsan_WSPCleanup;
pub use connect::wspsan_WSPConnect;
pub use device::*;
pub use events::{wspsan_WSACloseEvent, wspsan_WSACreateEvent, wspsan_WSPEnumNetworkEvents, wspsan_WSPEventSelect};
pub use info::{wspsan_last_error_message, wspsan_strerror, wspsan_version};
pub use listen::wspsan_WSPListen;
pub use options::{wspsan_WSPGetSockOpt, wspsan_WSPIoctl, wspsan_WSPSetSockOpt};
pub use socket::{
    wspsan_WSPBind, wspsan_WSPCloseSocket, wspsan_WSPGetPeerName, wspsan_WSPGetSockName, wspsan_WSPSocket,
};
pub use startup::{wspsan_WSPStartup, wspsan_switch_handle};
pub use transport::*;
// For Rust callers of this library (the Python module); not exported to C.
pub use cleanup::cleanup_with;
pub use session::{SessionExtra, extra as session_extra};
pub use startup::startup_with;

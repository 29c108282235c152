//! # wspsan-core
//!
//! The engine of wspsan: the connection-establishment half of a Winsock SAN service provider
//! (socket, bind, listen, connect, conditional accept, events, close) over emulated SAN devices
//! that reach each other over a fabric (in-process, TCP, or a transport of the embedder's own).
//! Every rule of the behaviour reference (docs/behaviour.md) lives here; the C ABI and the
//! Python module only translate.
//!
//! Start with [`Provider`]: it owns a descriptor table and a [`Device`]. Any number of
//! providers can live in one process; none sees another's sockets.
//!
//! Design notes:
//! - one state machine per socket, one lock per socket, one lock per port of the device;
//!   no lock is global to the connect/accept path and none is held while user code runs
//!   (condition functions, hooks, event signals);
//! - descriptors are never reused, and every lookup returns `WSAENOTSOCK` rather than panic;
//! - every failure is a [`WsaError`] with the Windows number.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod condition;
pub mod consts;
mod device;
mod error;
mod events;
mod fabric;
mod link;
mod listen_queue;
mod pad;
mod provider;
mod session;
mod socket;
mod stats;
mod table;
mod timer;

pub use condition::{Condition, ConditionRequest, Decision, abandon_condition};
pub use device::{Device, DeviceConfig, Faults, Limits, MAX_CONNECT_DATA};
pub use error::{Result, WsaError};
pub use events::{EventHandle, NetworkEvents, Signal};
pub use fabric::carrier::{MessageTransport, PeerId};
pub use fabric::faults::{FaultInjector, MessageKind};
pub use fabric::tcp::{DEFAULT_LIVENESS, DEFAULT_MAX_PENDING_PER_PEER, DEFAULT_PORT, TcpConfig};
/// Decode a stream of TCP-fabric frames as a receiving device would (for the fuzz target and
/// its corpus replay): the number of frames decoded, or why the bytes are not frames.
#[doc(hidden)]
pub use fabric::wire::decode_stream as decode_fabric_frames;
pub use fabric::{Fabric, Placement, PlacementError, parse_nics};
pub use provider::{
    AcceptError, Accepted, Call, ConnectParams, Provider, SockOpt, SocketHooks, Wait, effective_backlog, with_interrupt,
};
pub use session::{Cleaned, Session, Started};
pub use socket::{Descriptor, FlowSpec, Qos};
pub use stats::{DeviceStats, FabricStats, FaultStats, ListenerStats};

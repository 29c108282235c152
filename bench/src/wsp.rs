//! wspsan behind one small trait, so every case runs the same loop through the Rust core API
//! and through the C ABI exports.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use wspsan_core::{ConnectParams, Descriptor, Provider, WsaError};

/// The calls a connection-setup loop needs. Errors are Winsock codes.
pub trait Api: Sync {
    type Socket: Copy + Send + Sync;
    fn socket(&self) -> Self::Socket;
    fn bind(&self, s: Self::Socket, addr: SocketAddrV4);
    fn listen(&self, s: Self::Socket, backlog: i32);
    fn set_nonblocking(&self, s: Self::Socket);
    fn connect(&self, s: Self::Socket, addr: SocketAddrV4) -> Result<(), i32>;
    fn accept(&self, listener: Self::Socket) -> Self::Socket;
    fn close(&self, s: Self::Socket);
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(1000);

/// A fresh listener port, below the ephemeral range and never handed out twice per run.
pub fn fresh_port() -> u16 {
    NEXT_PORT.fetch_add(1, Ordering::Relaxed)
}

/// A listening socket and its address.
pub struct Listener<A: Api> {
    pub socket: A::Socket,
    pub addr: SocketAddrV4,
}

pub fn listener<A: Api>(api: &A, backlog: i32) -> Listener<A> {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, fresh_port());
    let socket = api.socket();
    api.bind(socket, addr);
    api.listen(socket, backlog);
    Listener { socket, addr }
}

/// Case 1: one pair on one thread: non-blocking connect, accept, close both (client first).
pub fn pair<A: Api>(api: &A, l: &Listener<A>) {
    let c = api.socket();
    api.set_nonblocking(c);
    assert_eq!(api.connect(c, l.addr), Err(WsaError::WouldBlock.code()), "non-blocking connect");
    let a = api.accept(l.socket);
    api.close(c);
    api.close(a);
}

/// The Rust core API.
impl Api for Provider {
    type Socket = Descriptor;

    fn socket(&self) -> Descriptor {
        Provider::socket(self).expect("socket")
    }
    fn bind(&self, s: Descriptor, addr: SocketAddrV4) {
        Provider::bind(self, s, addr).expect("bind");
    }
    fn listen(&self, s: Descriptor, backlog: i32) {
        Provider::listen(self, s, backlog).expect("listen");
    }
    fn set_nonblocking(&self, s: Descriptor) {
        Provider::set_nonblocking(self, s, true).expect("set_nonblocking");
    }
    fn connect(&self, s: Descriptor, addr: SocketAddrV4) -> Result<(), i32> {
        match Provider::connect(self, s, addr, ConnectParams::default()) {
            Ok(_) => Ok(()),
            Err(e) => Err(e.code()),
        }
    }
    fn accept(&self, listener: Descriptor) -> Descriptor {
        Provider::accept(self, listener, None).expect("accept").socket
    }
    fn close(&self, s: Descriptor) {
        Provider::close(self, s).expect("close");
    }
}

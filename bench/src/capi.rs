//! The C ABI exports, called directly through the wspsan-capi rlib exactly as a C caller
//! would: `wspsan_WSPStartup` once, then the `wspsan_WSP*` functions with `lpErrno`.

use crate::wsp::Api;
use std::mem::{size_of, zeroed};
use std::net::SocketAddrV4;
use std::ptr::null_mut;
use wspsan::types::{INVALID_SOCKET, SOCKET, SOCKET_ERROR, WSPDATA, WSPPROC_TABLE, WSPSAN_FIONBIO, WSPUPCALLTABLE};
use wspsan_core::consts::{AF_INET, IPPROTO_TCP, SOCK_STREAM};

/// The started process-wide provider behind the C ABI; cleaned up on drop.
pub struct CAbi(());

impl CAbi {
    pub fn start() -> CAbi {
        // SAFETY: zeroed WSPDATA / proc table / upcall table are valid (integers, arrays and
        // Option<fn> = NULL); the pointers are live locals.
        let rc = unsafe {
            let mut data: WSPDATA = zeroed();
            let mut table: WSPPROC_TABLE = zeroed();
            let upcalls: WSPUPCALLTABLE = zeroed();
            wspsan::wspsan_WSPStartup(0x0202, &mut data, null_mut(), upcalls, &mut table)
        };
        assert_eq!(rc, 0, "wspsan_WSPStartup");
        CAbi(())
    }
}

impl Drop for CAbi {
    fn drop(&mut self) {
        let mut err = 0;
        // SAFETY: lpErrno is a live local.
        unsafe { wspsan::wspsan_WSPCleanup(&mut err) };
    }
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is a plain C struct; zero is a valid value.
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    sin.sin_family = AF_INET as libc::sa_family_t;
    sin.sin_port = addr.port().to_be();
    sin.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    sin
}

const SIN_LEN: i32 = size_of::<libc::sockaddr_in>() as i32;

fn ok(rc: i32, err: i32, what: &str) {
    assert_ne!(rc, SOCKET_ERROR, "{what}: error {err}");
}

impl Api for CAbi {
    type Socket = SOCKET;

    fn socket(&self) -> SOCKET {
        let mut err = 0;
        // SAFETY: NULL protocol info is allowed with explicit arguments; lpErrno is live.
        let s = unsafe { wspsan::wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, null_mut(), 0, 0, &mut err) };
        assert_ne!(s, INVALID_SOCKET, "wspsan_WSPSocket: error {err}");
        s
    }

    fn bind(&self, s: SOCKET, addr: SocketAddrV4) {
        let (sin, mut err) = (sockaddr(addr), 0);
        // SAFETY: `sin` is a live sockaddr_in of SIN_LEN bytes.
        let rc = unsafe { wspsan::wspsan_WSPBind(s, (&raw const sin).cast(), SIN_LEN, &mut err) };
        ok(rc, err, "wspsan_WSPBind");
    }

    fn listen(&self, s: SOCKET, backlog: i32) {
        let mut err = 0;
        // SAFETY: lpErrno is live.
        let rc = unsafe { wspsan::wspsan_WSPListen(s, backlog, &mut err) };
        ok(rc, err, "wspsan_WSPListen");
    }

    fn set_nonblocking(&self, s: SOCKET) {
        let (mut on, mut returned, mut err) = (1u32, 0u32, 0);
        // SAFETY: FIONBIO reads a 32-bit u_long from a live local; no overlapped arguments.
        let rc = unsafe {
            wspsan::wspsan_WSPIoctl(
                s,
                WSPSAN_FIONBIO,
                (&raw mut on).cast(),
                4,
                null_mut(),
                0,
                &mut returned,
                null_mut(),
                None,
                null_mut(),
                &mut err,
            )
        };
        ok(rc, err, "wspsan_WSPIoctl(FIONBIO)");
    }

    fn connect(&self, s: SOCKET, addr: SocketAddrV4) -> Result<(), i32> {
        let (sin, mut err) = (sockaddr(addr), 0);
        // SAFETY: `sin` is live; no caller data, callee data or QoS.
        let rc = unsafe {
            wspsan::wspsan_WSPConnect(
                s,
                (&raw const sin).cast(),
                SIN_LEN,
                null_mut(),
                null_mut(),
                null_mut(),
                null_mut(),
                &mut err,
            )
        };
        if rc == SOCKET_ERROR { Err(err) } else { Ok(()) }
    }

    fn accept(&self, listener: SOCKET) -> SOCKET {
        // SAFETY: sockaddr_in is a plain C struct; zero is a valid value.
        let mut peer: libc::sockaddr_in = unsafe { zeroed() };
        let (mut len, mut err) = (SIN_LEN, 0);
        // SAFETY: the peer buffer and its length are live locals; no condition function.
        let s = unsafe { wspsan::wspsan_WSPAccept(listener, (&raw mut peer).cast(), &mut len, None, 0, &mut err) };
        assert_ne!(s, INVALID_SOCKET, "wspsan_WSPAccept: error {err}");
        s
    }

    fn close(&self, s: SOCKET) {
        let mut err = 0;
        // SAFETY: lpErrno is live.
        let rc = unsafe { wspsan::wspsan_WSPCloseSocket(s, &mut err) };
        ok(rc, err, "wspsan_WSPCloseSocket");
    }
}

//! Kernel sockets through libc: TCP on 127.0.0.1 and AF_UNIX stream sockets (abstract
//! namespace, so no file system lookup is counted), plus /proc/slabinfo.

use std::collections::HashMap;
use std::io;
use std::mem::{size_of, zeroed};
use std::sync::atomic::{AtomicU64, Ordering};

/// An owned file descriptor, closed on drop.
pub struct Fd(pub libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

fn check(ret: libc::c_int, what: &str) -> libc::c_int {
    if ret < 0 {
        panic!("{what}: {}", io::Error::last_os_error());
    }
    ret
}

/// Which kernel family a socket belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    Tcp,
    Unix,
}

/// A socket address of either family, ready for `connect`.
#[derive(Clone, Copy)]
pub enum Addr {
    Tcp(libc::sockaddr_in),
    Unix(libc::sockaddr_un, libc::socklen_t),
}

// SAFETY: plain C structs with no pointers.
unsafe impl Send for Addr {}
unsafe impl Sync for Addr {}

impl Addr {
    fn family(&self) -> Family {
        match self {
            Addr::Tcp(_) => Family::Tcp,
            Addr::Unix(..) => Family::Unix,
        }
    }

    fn raw(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        match self {
            Addr::Tcp(a) => ((a as *const libc::sockaddr_in).cast(), size_of::<libc::sockaddr_in>() as libc::socklen_t),
            Addr::Unix(a, len) => ((a as *const libc::sockaddr_un).cast(), *len),
        }
    }
}

/// A listening kernel socket and the address to connect to.
pub struct Listener {
    pub fd: Fd,
    pub addr: Addr,
}

static UNIX_SEQ: AtomicU64 = AtomicU64::new(0);

/// A blocking listener on 127.0.0.1 (ephemeral port) or on a fresh abstract AF_UNIX name.
pub fn listener(family: Family, backlog: i32) -> Listener {
    // SAFETY: plain socket calls on a descriptor this function owns; the address structs are
    // zeroed C structs filled field by field.
    unsafe {
        match family {
            Family::Tcp => {
                let fd = Fd(check(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0), "socket"));
                let one: libc::c_int = 1;
                let size = size_of::<libc::c_int>() as libc::socklen_t;
                let opt = (&raw const one).cast();
                check(libc::setsockopt(fd.0, libc::SOL_SOCKET, libc::SO_REUSEADDR, opt, size), "SO_REUSEADDR");
                let mut sin: libc::sockaddr_in = zeroed();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
                let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                check(libc::bind(fd.0, (&raw const sin).cast(), len), "bind");
                check(libc::listen(fd.0, backlog), "listen");
                check(libc::getsockname(fd.0, (&raw mut sin).cast(), &mut len), "getsockname");
                Listener { fd, addr: Addr::Tcp(sin) }
            }
            Family::Unix => {
                let fd = Fd(check(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0), "socket"));
                let mut sun: libc::sockaddr_un = zeroed();
                sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
                let name = format!("wspsan-bench-{}-{}", std::process::id(), UNIX_SEQ.fetch_add(1, Ordering::Relaxed));
                // sun_path[0] stays 0: the abstract namespace
                for (dst, &src) in sun.sun_path[1..].iter_mut().zip(name.as_bytes()) {
                    *dst = src as libc::c_char;
                }
                let len = (size_of::<libc::sa_family_t>() + 1 + name.len()) as libc::socklen_t;
                check(libc::bind(fd.0, (&raw const sun).cast(), len), "bind");
                check(libc::listen(fd.0, backlog), "listen");
                Listener { fd, addr: Addr::Unix(sun, len) }
            }
        }
    }
}

/// The kernel address of `addr`, for [`client`] and [`connect`].
pub fn tcp_addr(addr: std::net::SocketAddrV4) -> Addr {
    // SAFETY: sockaddr_in is a plain C struct; zero is a valid value.
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = addr.port().to_be();
    sin.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    Addr::Tcp(sin)
}

/// A blocking TCP listener at a fixed address (cases 8 and 9: the server process's port).
pub fn tcp_listener_at(addr: std::net::SocketAddrV4, backlog: i32) -> Listener {
    let target = tcp_addr(addr);
    let (sa, len) = target.raw();
    // SAFETY: plain socket calls on a descriptor this function owns; `sa` points to a live
    // address of `len` bytes.
    unsafe {
        let fd = Fd(check(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0), "socket"));
        let one: libc::c_int = 1;
        let size = size_of::<libc::c_int>() as libc::socklen_t;
        check(
            libc::setsockopt(fd.0, libc::SOL_SOCKET, libc::SO_REUSEADDR, (&raw const one).cast(), size),
            "SO_REUSEADDR",
        );
        check(libc::bind(fd.0, sa, len), &format!("bind {addr}"));
        check(libc::listen(fd.0, backlog), "listen");
        Listener { fd, addr: target }
    }
}

/// A client socket of the address's family. TCP clients get SO_LINGER 0, so their close
/// sends a reset and leaves no TIME_WAIT behind.
pub fn client(addr: &Addr, nonblocking: bool) -> Fd {
    let flags = libc::SOCK_STREAM | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket calls on a descriptor this function owns.
    unsafe {
        match addr.family() {
            Family::Tcp => {
                let fd = Fd(check(libc::socket(libc::AF_INET, flags, 0), "socket"));
                let linger = libc::linger { l_onoff: 1, l_linger: 0 };
                let size = size_of::<libc::linger>() as libc::socklen_t;
                check(
                    libc::setsockopt(fd.0, libc::SOL_SOCKET, libc::SO_LINGER, (&raw const linger).cast(), size),
                    "SO_LINGER",
                );
                fd
            }
            Family::Unix => Fd(check(libc::socket(libc::AF_UNIX, flags, 0), "socket")),
        }
    }
}

/// Connect; a non-blocking TCP connect in progress counts as success. Returns the errno on
/// any other failure.
pub fn connect(fd: &Fd, addr: &Addr) -> Result<(), i32> {
    let (sa, len) = addr.raw();
    // SAFETY: `sa` points to a live address of `len` bytes.
    if unsafe { libc::connect(fd.0, sa, len) } == 0 {
        return Ok(());
    }
    match io::Error::last_os_error().raw_os_error().unwrap_or(0) {
        libc::EINPROGRESS => Ok(()),
        e => Err(e),
    }
}

/// Blocking accept, reading the peer address as a WSPAccept caller would.
pub fn accept(listener: &Listener) -> Fd {
    // SAFETY: the address buffer is a live, zeroed sockaddr_storage of the length passed.
    unsafe {
        let mut peer: libc::sockaddr_storage = zeroed();
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        Fd(check(libc::accept4(listener.fd.0, (&raw mut peer).cast(), &mut len, libc::SOCK_CLOEXEC), "accept"))
    }
}

/// Case 1: one pair on one thread: non-blocking connect, accept, close both (client first).
pub fn pair(listener: &Listener) {
    let c = client(&listener.addr, true);
    connect(&c, &listener.addr).expect("kernel connect");
    let a = accept(listener);
    drop(c);
    drop(a);
}

/// Kernel slab usage: bytes held per cache (active objects times object size).
pub fn slab_bytes() -> Option<HashMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let mut out = HashMap::new();
    for line in text.lines().skip(2) {
        let mut f = line.split_whitespace();
        let (Some(name), Some(active), Some(_), Some(size)) = (f.next(), f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Ok(active), Ok(size)) = (active.parse::<u64>(), size.parse::<u64>()) else { continue };
        out.insert(name.to_string(), active * size);
    }
    Some(out)
}

/// Case 6, kernel side: slab growth per pending connection (`n` non-blocking connects left in
/// the accept queue). Returns the bytes per connection and the caches that grew most.
pub fn pending_slab_cost(family: Family, n: usize) -> Option<(f64, Vec<(String, f64)>)> {
    slab_bytes()?;
    let l = listener(family, n as i32 + 16);
    let clients: Vec<Fd> = (0..n).map(|_| client(&l.addr, true)).collect();
    let before = slab_bytes()?;
    let mut connected = 0usize;
    for c in &clients {
        if connect(c, &l.addr).is_ok() {
            connected += 1;
        }
    }
    // let loopback finish any handshake still in flight
    std::thread::sleep(std::time::Duration::from_millis(20));
    let after = slab_bytes()?;
    drop(clients);
    drop(l);
    if connected == 0 {
        return None;
    }
    let mut growth: Vec<(String, f64)> = after
        .iter()
        .map(|(k, &v)| (k.clone(), (v as f64 - *before.get(k).unwrap_or(&0) as f64) / connected as f64))
        .collect();
    let total = growth.iter().map(|(_, d)| d).sum();
    growth.sort_by(|a, b| b.1.total_cmp(&a.1));
    growth.truncate(3);
    Some((total, growth))
}

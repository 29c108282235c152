//! The TCP fabric's architecture with nothing of the engine in it, for case 8: the floor's three
//! messages, but in each process a caller thread hands what it sends to an I/O thread (a queue
//! and an eventfd the I/O thread polls with epoll, edge-triggered, as mio's waker does) and the
//! I/O thread hands what it reads to the caller thread (a queue and a condvar). The gap between
//! the floor and this is what the design's thread hand-offs cost; the gap between this and the
//! fabric is what the engine and its protocol add.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The message size, as the floor's.
pub const MSG: usize = 64;
pub type Msg = [u8; MSG];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct Inbox {
    msgs: VecDeque<Msg>,
    waiting: bool,
    /// The peer closed the connection or it broke.
    closed: bool,
}

struct Shared {
    stream: TcpStream,
    eventfd: crate::kernel::Fd,
    out: Mutex<Vec<u8>>,
    inbox: Mutex<Inbox>,
    arrived: Condvar,
    stop: AtomicBool,
}

impl Shared {
    /// Wake the I/O thread (as mio's `Waker::wake`: write the eventfd; reset it when full).
    fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes and reads 8 bytes from and to live locals on an eventfd this owns.
        unsafe {
            if libc::write(self.eventfd.0, one.as_ptr().cast(), 8) < 0 {
                let mut v = [0u8; 8];
                libc::read(self.eventfd.0, v.as_mut_ptr().cast(), 8);
                libc::write(self.eventfd.0, one.as_ptr().cast(), 8);
            }
        }
    }

    fn close_inbox(&self) {
        lock(&self.inbox).closed = true;
        self.arrived.notify_all();
    }
}

/// One end of a relayed connection: [`send`](Pump::send) and [`recv`](Pump::recv) go through
/// this end's I/O thread, which ends when the pump is dropped.
pub struct Pump {
    shared: Arc<Shared>,
    io: Option<JoinHandle<()>>,
}

impl Pump {
    pub fn new(stream: TcpStream) -> Pump {
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream.set_nonblocking(true).expect("O_NONBLOCK");
        // SAFETY: no pointers.
        let eventfd = crate::kernel::Fd(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) });
        assert!(eventfd.0 >= 0, "eventfd: {}", std::io::Error::last_os_error());
        let shared = Arc::new(Shared {
            stream,
            eventfd,
            out: Mutex::new(Vec::new()),
            inbox: Mutex::new(Inbox::default()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        let io = thread::Builder::new()
            .name("relay-io".into())
            .spawn(move || {
                io_loop(&sh);
                sh.close_inbox();
            })
            .expect("spawn the relay's I/O thread");
        Pump { shared, io: Some(io) }
    }

    /// Queue a message and wake the I/O thread.
    pub fn send(&self, m: &Msg) {
        lock(&self.shared.out).extend_from_slice(m);
        self.shared.wake();
    }

    /// The next message, waiting at most `within`; `None` when the connection closed or the
    /// time ran out.
    pub fn recv(&self, within: Duration) -> Option<Msg> {
        let deadline = Instant::now() + within;
        let mut g = lock(&self.shared.inbox);
        loop {
            if let Some(m) = g.msgs.pop_front() {
                return Some(m);
            }
            let now = Instant::now();
            if g.closed || now >= deadline {
                return None;
            }
            g.waiting = true;
            g = self.shared.arrived.wait_timeout(g, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
            g.waiting = false;
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.shared.stop.store(true, Relaxed);
        self.shared.wake();
        if let Some(io) = self.io.take() {
            let _ = io.join();
        }
    }
}

const WAKER: u64 = 0;
const STREAM: u64 = 1;

fn register(epfd: libc::c_int, fd: libc::c_int, events: u32, token: u64) {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is a live local.
    let rc = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
    assert_eq!(rc, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
}

/// The I/O thread: on a wake-up, write what callers queued; on a readable socket, read until it
/// would block and hand every whole message to the caller thread. Ends on stop, or when the
/// connection closes or breaks.
fn io_loop(sh: &Shared) {
    // SAFETY: no pointers.
    let epfd = crate::kernel::Fd(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) });
    assert!(epfd.0 >= 0, "epoll_create1: {}", std::io::Error::last_os_error());
    let et = libc::EPOLLET as u32;
    register(epfd.0, sh.eventfd.0, libc::EPOLLIN as u32 | et, WAKER);
    register(epfd.0, sh.stream.as_raw_fd(), (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP) as u32 | et, STREAM);
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
    let (mut rbuf, mut wbuf, mut buf) = (Vec::new(), Vec::new(), [0u8; 16 * 1024]);
    let mut stream = &sh.stream;
    loop {
        if sh.stop.load(Relaxed) {
            return;
        }
        // SAFETY: `events` is a live array of the length passed.
        let n = unsafe { libc::epoll_wait(epfd.0, events.as_mut_ptr(), events.len() as libc::c_int, 1000) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let readable = events[..n as usize].iter().any(|e| e.u64 == STREAM);
        if readable {
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return,
                    Ok(k) => rbuf.extend_from_slice(&buf[..k]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
            if rbuf.len() >= MSG {
                let mut g = lock(&sh.inbox);
                for chunk in rbuf.chunks_exact(MSG) {
                    g.msgs.push_back(chunk.try_into().expect("a whole message"));
                }
                if g.waiting {
                    sh.arrived.notify_one();
                }
                drop(g);
                let whole = rbuf.len() / MSG * MSG;
                rbuf.drain(..whole);
            }
        }
        wbuf.append(&mut *lock(&sh.out));
        while !wbuf.is_empty() {
            match stream.write(&wbuf) {
                Ok(0) => return,
                Ok(k) => {
                    wbuf.drain(..k);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn a_pump_relays_whole_messages_both_ways_and_sees_the_close() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = Pump::new(TcpStream::connect(l.local_addr().unwrap()).unwrap());
        let server = Pump::new(l.accept().unwrap().0);
        for i in 0..100u8 {
            client.send(&[i; MSG]);
            assert_eq!(server.recv(LONG), Some([i; MSG]));
            server.send(&[i ^ 0xff; MSG]);
            client.send(&[i; MSG]);
            assert_eq!(client.recv(LONG), Some([i ^ 0xff; MSG]));
            assert_eq!(server.recv(LONG), Some([i; MSG]));
        }
        drop(client);
        assert_eq!(server.recv(LONG), None, "the peer's close ends the inbox");
    }
}

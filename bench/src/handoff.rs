//! Two-thread cases: throughput with a client thread and a server thread (case 2), and the
//! latency from a connect to the return of an accept blocked on another thread (case 3).

use crate::floor::{self, Handoff as FloorQueue};
use crate::kernel;
use crate::wsp::{Api, Listener};
use std::hint::spin_loop;
use std::sync::Barrier;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Release},
};
use std::thread;
use std::time::{Duration, Instant};

/// Run `client` and `server` on two threads started together; the time until both finish.
fn two_threads(client: impl FnOnce() + Send, server: impl FnOnce() + Send) -> Duration {
    let barrier = Barrier::new(3);
    let start = thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            server();
        });
        s.spawn(|| {
            barrier.wait();
            client();
        });
        barrier.wait();
        Instant::now()
    });
    start.elapsed()
}

/// Case 2, wspsan: blocking connects against blocking accepts.
pub fn pairs_wsp<A: Api>(api: &A, l: &Listener<A>, n: u64) -> Duration {
    two_threads(
        || {
            for _ in 0..n {
                let c = api.socket();
                api.connect(c, l.addr).expect("blocking connect");
                api.close(c);
            }
        },
        || {
            for _ in 0..n {
                let a = api.accept(l.socket);
                api.close(a);
            }
        },
    )
}

/// How far a TCP client may run ahead of accept: a full accept queue drops the SYN and the
/// retransmit costs a second, so the client waits instead.
const TCP_WINDOW: u64 = 256;

/// Case 2, kernel: blocking connects against blocking accepts.
pub fn pairs_kernel(l: &kernel::Listener, n: u64, family: kernel::Family) -> Duration {
    let accepted = AtomicU64::new(0);
    two_threads(
        || {
            for i in 0..n {
                if family == kernel::Family::Tcp {
                    while i >= accepted.load(Acquire) + TCP_WINDOW {
                        thread::yield_now();
                    }
                }
                let c = kernel::client(&l.addr, false);
                kernel::connect(&c, &l.addr).expect("kernel connect");
                drop(c);
            }
        },
        || {
            for i in 0..n {
                drop(kernel::accept(l));
                accepted.store(i + 1, Release);
            }
        },
    )
}

/// Case 2, floor: pushes against blocking pops.
pub fn pairs_floor(q: &FloorQueue, n: u64) -> Duration {
    two_threads(
        || {
            for _ in 0..n {
                q.push();
            }
        },
        || {
            for _ in 0..n {
                drop(q.pop());
            }
        },
    )
}

/// Case 2, round-trip floor: what SPEC C1 leaves physically: the client pushes a request and
/// blocks until the server's answer comes back on a second queue of the same kind.
pub fn pairs_round_trip_floor(requests: &FloorQueue, answers: &FloorQueue, n: u64) -> Duration {
    two_threads(
        || {
            for _ in 0..n {
                requests.push();
                drop(answers.pop());
            }
        },
        || {
            for _ in 0..n {
                drop(requests.pop());
                answers.push();
            }
        },
    )
}

/// One side of a hand-off measured by [`latency`].
pub trait Handoff: Sync {
    type Client: Send;
    type Accepted;
    /// Untimed: make the client socket.
    fn prepare(&self) -> Self::Client;
    /// Timed from its start: the connect.
    fn connect(&self, c: &Self::Client);
    /// Untimed: close the client once the server is ready for the next hand-off.
    fn finish(&self, c: Self::Client);
    /// The blocking accept; the sample ends when it returns.
    fn accept(&self) -> Self::Accepted;
    /// Untimed: close the accepted socket.
    fn release(&self, a: Self::Accepted);
}

/// How long the client waits after the server announced its accept before it connects: a
/// connect that comes soon after the accept blocked, and one that comes once the accept is
/// surely parked (wspsan's waits poll for 60 us before they sleep; the floor and the kernel
/// sleep at once).
pub const SOON: Duration = Duration::from_micros(20);
pub const PARKED: Duration = Duration::from_micros(200);

fn spin_until(cond: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !cond() {
        spins += 1;
        if spins < 1000 {
            spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

/// Case 3: `n` hand-offs; each sample runs from the start of a connect to the return of the
/// accept blocked on the other thread, in ns.
pub fn latency<H: Handoff>(h: &H, n: u64, park_gap: Duration) -> Vec<u64> {
    let base = Instant::now();
    let started = AtomicU64::new(0);
    let ready = AtomicU64::new(0);
    let mut samples = Vec::with_capacity(n as usize);
    thread::scope(|s| {
        s.spawn(|| {
            let mut previous = None;
            for i in 0..n {
                let c = h.prepare();
                spin_until(|| ready.load(Acquire) > i);
                if let Some(p) = previous.take() {
                    h.finish(p);
                }
                let gap = Instant::now();
                spin_until(|| gap.elapsed() >= park_gap);
                started.store(base.elapsed().as_nanos() as u64, Release);
                h.connect(&c);
                previous = Some(c);
            }
            spin_until(|| ready.load(Acquire) > n);
            if let Some(p) = previous {
                h.finish(p);
            }
        });
        for i in 0..n {
            ready.store(i + 1, Release);
            let a = h.accept();
            let end = base.elapsed().as_nanos() as u64;
            samples.push(end.saturating_sub(started.load(Acquire)));
            h.release(a);
        }
        ready.store(n + 1, Release);
    });
    samples
}

/// wspsan hand-off, with a blocking or a non-blocking connect.
pub struct WspHandoff<'a, A: Api> {
    pub api: &'a A,
    pub listener: Listener<A>,
    pub nonblocking: bool,
}

impl<A: Api> Handoff for WspHandoff<'_, A> {
    type Client = A::Socket;
    type Accepted = A::Socket;
    fn prepare(&self) -> A::Socket {
        let c = self.api.socket();
        if self.nonblocking {
            self.api.set_nonblocking(c);
        }
        c
    }
    fn connect(&self, c: &A::Socket) {
        let r = self.api.connect(*c, self.listener.addr);
        assert!(r.is_ok() || self.nonblocking, "blocking connect: {r:?}");
    }
    fn finish(&self, c: A::Socket) {
        self.api.close(c);
    }
    fn accept(&self) -> A::Socket {
        self.api.accept(self.listener.socket)
    }
    fn release(&self, a: A::Socket) {
        self.api.close(a);
    }
}

/// Kernel hand-off (a blocking connect completes without the server).
pub struct KernelHandoff(pub kernel::Listener);

impl Handoff for KernelHandoff {
    type Client = kernel::Fd;
    type Accepted = kernel::Fd;
    fn prepare(&self) -> kernel::Fd {
        kernel::client(&self.0.addr, false)
    }
    fn connect(&self, c: &kernel::Fd) {
        kernel::connect(c, &self.0.addr).expect("kernel connect");
    }
    fn finish(&self, c: kernel::Fd) {
        drop(c);
    }
    fn accept(&self) -> kernel::Fd {
        kernel::accept(&self.0)
    }
    fn release(&self, a: kernel::Fd) {
        drop(a);
    }
}

/// Floor hand-off: push a request, pop it on the other thread.
impl Handoff for FloorQueue {
    type Client = ();
    type Accepted = floor::Request;
    fn prepare(&self) {}
    fn connect(&self, _: &()) {
        self.push();
    }
    fn finish(&self, _: ()) {}
    fn accept(&self) -> floor::Request {
        self.pop()
    }
    fn release(&self, a: floor::Request) {
        drop(a);
    }
}

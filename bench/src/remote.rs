//! Cases 8 and 9: connection setup between two processes over the TCP fabric. The bench runs
//! itself again as the server process (`wspsan-bench --fabric-server ...`, a hidden flag): its
//! device is on 127.0.0.2, this process's on 127.0.0.3. Side by side between the same two
//! processes: kernel TCP connect + accept to 127.0.0.2, and (case 8) the physical floor, three
//! 64-byte messages ping-ponged over an open kernel TCP connection, and that floor relayed through
//! an I/O thread in each process as the fabric's messages are (`relay.rs`). Case 8 also splits a
//! fabric pair in two: each device against a peer scripted by hand (`scripted.rs`).
//!
//! The server process always ends: it exits when its stdin, a pipe from this process, reaches end
//! of file (however this process ends); it asks for SIGKILL when its parent dies
//! (PR_SET_PDEATHSIG); it exits on a deadline of its own; and this process kills it when it has
//! not exited [`EXIT_WITHIN`] after its stdin closed. Every wait of this process has a deadline.

use crate::cases::Ctx;
use crate::harness::{Settings, Variant, measure, quantile};
use crate::kernel;
use crate::relay::{MSG, Pump};
use crate::report::{Case, Row};
use crate::scripted;
use crate::wsp::Api;
use std::hint::spin_loop;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};
use wspsan_core::{DeviceConfig, Limits, Provider, TcpConfig, WsaError};

/// The hidden flag that makes the bench the server process.
pub const SERVER_FLAG: &str = "--fabric-server";

pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// The wspsan listener on the server's device (an address of the SAN: no kernel port).
const SAN_LISTENER: SocketAddrV4 = SocketAddrV4::new(SERVER_IP, 5000);
/// A second listener on the server's device, for the scripted connector.
const SCRIPTED_LISTENER: SocketAddrV4 = SocketAddrV4::new(SERVER_IP, 5001);
/// Where the scripted listener side takes fabric connections (on the fabric port), in the server
/// process; the client's device reaches it as the device owning this address.
const SCRIPTED_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// The address the scripted connector's requests name as their caller.
const SCRIPTED_CALLER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 5), 1);
const BACKLOG: i32 = 4096;
/// How far kernel TCP clients may run ahead of the server's accepts: a full accept queue drops
/// the SYN and its retransmit costs a second (as in case 2).
const TCP_WINDOW: u64 = 256;
/// The longest this process waits for the server: to start, to answer, to catch up.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// How long the server may take to exit once its stdin closed, before it is killed.
const EXIT_WITHIN: Duration = Duration::from_secs(2);
/// Case 9: connecting threads in this process, accepting threads in the server process.
pub const CONNECTORS: usize = 16;
pub const ACCEPTERS: usize = 4;

/// Kernel ports of one case (fabric, kernel TCP listener, floor, relayed floor), all on
/// 127.0.0.2 (the fabric port on 127.0.0.3 too); each case has its own, so a case never meets
/// the last one's sockets.
#[derive(Clone, Copy)]
struct Ports {
    fabric: u16,
    kernel: u16,
    floor: u16,
    relay: u16,
}

const CASE8_PORTS: Ports = Ports { fabric: 19470, kernel: 19471, floor: 19472, relay: 19473 };
const CASE9_PORTS: Ports = Ports { fabric: 19474, kernel: 19475, floor: 19476, relay: 19477 };

pub const FABRIC: &str = "wspsan TCP fabric (Rust core)";
pub const REMOTE_TCP: &str = "kernel TCP 127.0.0.2 (other process)";
pub const REMOTE_FLOOR: &str = "floor: 3 x 64 B over open TCP";
pub const RELAYED_FLOOR: &str = "floor relayed by an I/O thread each side";
pub const HALF_CLIENT: &str = "client device, scripted server";
pub const HALF_SERVER: &str = "scripted client, server device";
pub const FABRIC_MANY: &str = "wspsan TCP fabric, 16 connectors";
pub const REMOTE_TCP_MANY: &str = "kernel TCP, 16 connectors";

/// Counters the server process shares with this one: slots of a memfd both map.
const KERNEL_ACCEPTED: usize = 0;
const FABRIC_ACCEPTED: usize = 1;
/// Fabric accepts that failed with WSAEACCES (a request withdrawn): none expected.
const FABRIC_FAILED: usize = 2;
/// Accepts of the scripted connector's requests.
const SCRIPTED_ACCEPTED: usize = 3;
const SHM_BYTES: usize = 4096;

struct Shm(*mut AtomicU64);

// SAFETY: the mapping holds only atomics and lives as long as the value.
unsafe impl Send for Shm {}
unsafe impl Sync for Shm {}

impl Shm {
    /// A fresh shared page and its descriptor, which a child process inherits (no CLOEXEC).
    fn create() -> (Shm, kernel::Fd) {
        // SAFETY: plain calls on a descriptor this function owns; the name is a C string.
        let fd = unsafe {
            let fd = kernel::Fd(libc::memfd_create(c"wspsan-bench".as_ptr(), 0));
            assert!(fd.0 >= 0, "memfd_create: {}", std::io::Error::last_os_error());
            assert_eq!(libc::ftruncate(fd.0, SHM_BYTES as libc::off_t), 0, "ftruncate");
            fd
        };
        (Shm::map(fd.0), fd)
    }

    fn map(fd: libc::c_int) -> Shm {
        // SAFETY: a shared mapping of a descriptor of at least SHM_BYTES bytes; zeroed memory is
        // a valid AtomicU64.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), SHM_BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap: {}", std::io::Error::last_os_error());
        Shm(p.cast())
    }

    fn slot(&self, i: usize) -> &AtomicU64 {
        assert!(i < SHM_BYTES / 8);
        // SAFETY: in bounds of the mapping, aligned (page start), alive as long as `self`.
        unsafe { &*self.0.add(i) }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, not used after this.
        unsafe { libc::munmap(self.0.cast(), SHM_BYTES) };
    }
}

/// The server process, seen from this one; killed on drop if it does not exit on its own.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    shm: Shm,
}

impl Server {
    /// Start the server process and wait (bounded) until its listeners are up.
    fn spawn(ports: Ports, accepters: usize, settings: Settings) -> Server {
        let (shm, fd) = Shm::create();
        // Generous: every run of every variant ten times over, and a minute.
        let deadline = 60 + (settings.runs as u64 + 4) * 3 * settings.run_time.as_millis() as u64 * 10 / 1000;
        let exe = std::env::current_exe().expect("the bench's own executable");
        let arg = |v: u64| v.to_string();
        let mut child = Command::new(exe)
            .arg(SERVER_FLAG)
            .args(["--shm", &arg(fd.0 as u64), "--parent", &arg(u64::from(std::process::id()))])
            .args(["--fabric-port", &arg(ports.fabric.into()), "--kernel-port", &arg(ports.kernel.into())])
            .args(["--floor-port", &arg(ports.floor.into()), "--relay-port", &arg(ports.relay.into())])
            .args(["--accepters", &arg(accepters as u64)])
            .args(["--deadline-s", &arg(deadline)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server process");
        drop(fd); // the child has its own copy; later children must not inherit it
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("the server's stdout");
        let server = Server { child, stdin, shm }; // from here on, dropping it ends the child
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(ANSWER_WITHIN) {
            Ok(line) if line.trim() == "ready" => server,
            Ok(line) => panic!("the server process did not start (said {line:?}; its stderr is above)"),
            Err(_) => panic!("the server process was not ready within {ANSWER_WITHIN:?}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn count(&self, slot: usize) -> u64 {
        self.shm.slot(slot).load(Acquire)
    }

    /// Wait (bounded) until the server counted at least `n` in `slots`.
    fn wait_for(&self, slots: &[usize], n: u64, what: &str) {
        let sum = || slots.iter().map(|&s| self.count(s)).sum::<u64>();
        if sum() >= n {
            return;
        }
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut spins = 0u32;
        while sum() < n {
            spins += 1;
            if spins < 200 {
                spin_loop();
            } else if Instant::now() >= deadline {
                panic!("{what}: the server process counted {} of {n} within {ANSWER_WITHIN:?}", sum());
            } else {
                thread::yield_now();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take()); // end of file: the server exits
        let deadline = Instant::now() + EXIT_WITHIN;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        eprintln!("wspsan-bench: the server process {} did not exit within {EXIT_WITHIN:?}: killed", self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A device on `ip` joining the TCP fabric on `port`; connects give up after [`ANSWER_WITHIN`].
fn device(ip: Ipv4Addr, port: u16) -> Provider {
    let limits = Limits { connect_timeout: Some(ANSWER_WITHIN), ..Limits::default() };
    let config = DeviceConfig { nics: vec![ip], limits, ..DeviceConfig::default() };
    Provider::on_tcp_fabric(config, TcpConfig { port, ..TcpConfig::default() })
        .unwrap_or_else(|e| panic!("join the TCP fabric on {ip}:{port}: {e:?}"))
}

/// Start a thread of the server process, named for `--profile`'s per-thread figures.
fn named(name: &str, f: impl FnOnce() + Send + 'static) {
    thread::Builder::new().name(name.into()).spawn(f).unwrap_or_else(|e| panic!("spawn {name}: {e}"));
}

/// The server process's `main`: args after [`SERVER_FLAG`]. Never returns.
pub fn server_main(args: &[String]) -> ! {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("wspsan-bench fabric server: {info}");
        std::process::exit(1);
    }));
    let opt = |name: &str| -> u64 {
        args.windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or_else(|| panic!("{name} N missing"))
    };
    // SAFETY: prctl and getppid take no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if i64::from(libc::getppid()) != opt("--parent") as i64 {
            std::process::exit(1); // the bench is already gone
        }
    }
    let deadline = Duration::from_secs(opt("--deadline-s"));
    named("watchdog", move || {
        thread::sleep(deadline);
        eprintln!("wspsan-bench fabric server: still running after {deadline:?}: exiting");
        std::process::exit(3);
    });
    let shm: &'static Shm = Box::leak(Box::new(Shm::map(opt("--shm") as libc::c_int)));
    let port = |name: &str| u16::try_from(opt(name)).expect("a port");
    let accepters = opt("--accepters") as usize;

    // wspsan: the device on 127.0.0.2, blocking accepts closing what they accept: `accepters`
    // threads on the listener the client's device connects to, one on the scripted connector's
    let p = device(SERVER_IP, port("--fabric-port"));
    for (at, threads, slot) in [(SAN_LISTENER, accepters, FABRIC_ACCEPTED), (SCRIPTED_LISTENER, 1, SCRIPTED_ACCEPTED)] {
        let l = Api::socket(&p);
        Api::bind(&p, l, at);
        Api::listen(&p, l, BACKLOG);
        for _ in 0..threads {
            let p = p.clone();
            named("accept-fabric", move || {
                loop {
                    match p.accept(l, None) {
                        Ok(a) => {
                            p.close(a.socket).expect("close");
                            shm.slot(slot).fetch_add(1, Release);
                        }
                        Err(e) if e.error == WsaError::Acces => {
                            shm.slot(FABRIC_FAILED).fetch_add(1, Release);
                        }
                        Err(e) => panic!("fabric accept: {e:?}"),
                    }
                }
            });
        }
    }
    // the scripted listener side, answering on the thread that reads
    let sl = TcpListener::bind((SCRIPTED_IP, port("--fabric-port"))).expect("bind the scripted listener side");
    named("scripted-server", move || scripted::serve(sl));

    // kernel TCP: the same loop on 127.0.0.2
    let kl: &'static kernel::Listener =
        Box::leak(Box::new(kernel::tcp_listener_at(SocketAddrV4::new(SERVER_IP, port("--kernel-port")), BACKLOG)));
    for _ in 0..accepters {
        named("accept-kernel", move || {
            loop {
                drop(kernel::accept(kl));
                shm.slot(KERNEL_ACCEPTED).fetch_add(1, Release);
            }
        });
    }

    // the floor: read the request, answer, read the confirmation, on one open connection
    let fl = TcpListener::bind((SERVER_IP, port("--floor-port"))).expect("bind the floor's port");
    named("floor-server", move || {
        for s in fl.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_nodelay(true);
            let mut m = [0u8; MSG];
            while s.read_exact(&mut m).is_ok() && s.write_all(&m).is_ok() && s.read_exact(&mut m).is_ok() {}
        }
    });

    // the relayed floor: the same, each message through this process's I/O thread
    let rl = TcpListener::bind((SERVER_IP, port("--relay-port"))).expect("bind the relayed floor's port");
    named("relayed-server", move || {
        for s in rl.incoming() {
            let Ok(s) = s else { continue };
            let pump = Pump::new(s);
            let forever = Duration::from_secs(24 * 3600);
            while pump.recv(forever).is_some() {
                pump.send(&[2; MSG]);
                if pump.recv(forever).is_none() {
                    break;
                }
            }
        }
    });

    println!("ready");
    let _ = std::io::stdout().flush();
    let mut buf = [0u8; 64];
    loop {
        match std::io::stdin().read(&mut buf) {
            Ok(0) | Err(_) => std::process::exit(0),
            Ok(_) => {}
        }
    }
}

/// One wspsan pair from this side: a fresh socket, blocking connect, close.
fn fabric_pair(p: &Provider, to: SocketAddrV4) {
    let c = Api::socket(p);
    if let Err(e) = Api::connect(p, c, to) {
        panic!("fabric connect: error {e}");
    }
    Api::close(p, c);
}

/// The wspsan variant: `n` pairs on `threads` threads, until the server accepted them all.
fn fabric_run<'a>(server: &'a Server, p: &'a Provider, threads: usize) -> impl FnMut(u64) -> Duration + 'a {
    let mut issued = 0u64;
    move |n| {
        let start = on_threads(threads, n, &|| fabric_pair(p, SAN_LISTENER));
        issued += n;
        server.wait_for(&[FABRIC_ACCEPTED, FABRIC_FAILED], issued, "fabric accepts");
        start.elapsed()
    }
}

/// Half a fabric pair: this process's device against the scripted listener side.
fn half_client_run(p: &Provider) -> impl FnMut(u64) -> Duration + '_ {
    let to = SocketAddrV4::new(SCRIPTED_IP, SAN_LISTENER.port());
    move |n| on_threads(1, n, &|| fabric_pair(p, to)).elapsed()
}

/// The other half: the scripted connector against the server's device, until it accepted all.
/// Each run opens its own fabric connection (untimed), so an idle one never has to be kept alive.
fn half_server_run(server: &Server, fabric_port: u16) -> impl FnMut(u64) -> Duration + '_ {
    let fabric = SocketAddrV4::new(SERVER_IP, fabric_port);
    let mut issued = 0u64;
    move |n| {
        let mut c = scripted::Connector::open(fabric, SCRIPTED_CALLER, SCRIPTED_LISTENER, ANSWER_WITHIN);
        let start = Instant::now();
        for _ in 0..n {
            c.exchange();
        }
        issued += n;
        server.wait_for(&[SCRIPTED_ACCEPTED], issued, "accepts of scripted requests");
        start.elapsed()
    }
}

/// The kernel variant: `n` blocking connects + closes on `threads` threads, at most
/// [`TCP_WINDOW`] ahead of the server's accepts, until the server accepted them all.
fn kernel_run(server: &Server, port: u16, threads: usize) -> impl FnMut(u64) -> Duration + '_ {
    let addr = kernel::tcp_addr(SocketAddrV4::new(SERVER_IP, port));
    let issued = AtomicU64::new(0);
    move |n| {
        let start = on_threads(threads, n, &|| {
            let i = issued.fetch_add(1, Relaxed);
            server.wait_for(&[KERNEL_ACCEPTED], (i + 1).saturating_sub(TCP_WINDOW), "kernel accepts (window)");
            let c = kernel::client(&addr, false);
            kernel::connect(&c, &addr).expect("kernel connect to the server process");
            drop(c);
        });
        server.wait_for(&[KERNEL_ACCEPTED], issued.load(Relaxed), "kernel accepts");
        start.elapsed()
    }
}

/// The floor: `n` exchanges of request, answer and confirmation on one open connection; the
/// client waits for the answer, as a blocking connect does.
fn floor_run(port: u16) -> impl FnMut(u64) -> Duration {
    let mut s = TcpStream::connect((SERVER_IP, port)).expect("connect to the floor's port");
    s.set_nodelay(true).expect("TCP_NODELAY");
    s.set_read_timeout(Some(ANSWER_WITHIN)).expect("SO_RCVTIMEO");
    s.set_write_timeout(Some(ANSWER_WITHIN)).expect("SO_SNDTIMEO");
    let (request, confirm, mut answer) = ([1u8; MSG], [3u8; MSG], [0u8; MSG]);
    move |n| {
        let start = Instant::now();
        for _ in 0..n {
            s.write_all(&request).expect("floor request");
            s.read_exact(&mut answer).expect("floor answer");
            s.write_all(&confirm).expect("floor confirmation");
        }
        start.elapsed()
    }
}

/// The relayed floor: the floor's exchanges, each message through an I/O thread in each process.
fn relayed_floor_run(port: u16) -> impl FnMut(u64) -> Duration {
    let pump = Pump::new(TcpStream::connect((SERVER_IP, port)).expect("connect to the relayed floor's port"));
    let (request, confirm) = ([1u8; MSG], [3u8; MSG]);
    move |n| {
        let start = Instant::now();
        for _ in 0..n {
            pump.send(&request);
            pump.recv(ANSWER_WITHIN).expect("relayed floor answer within the deadline");
            pump.send(&confirm);
        }
        start.elapsed()
    }
}

/// Run `op` `n` times in all over `k` threads started together (one: this thread); the start.
fn on_threads(k: usize, n: u64, op: &(dyn Fn() + Sync)) -> Instant {
    if k <= 1 {
        let start = Instant::now();
        for _ in 0..n {
            op();
        }
        return start;
    }
    let barrier = Barrier::new(k + 1);
    thread::scope(|s| {
        for t in 0..k as u64 {
            let share = n / k as u64 + u64::from(t < n % k as u64);
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for _ in 0..share {
                    op();
                }
            });
        }
        barrier.wait();
        Instant::now()
    })
}

/// What one thread of a process has done so far.
#[derive(Clone, Default)]
struct ThreadStat {
    tid: u32,
    name: String,
    /// Voluntary context switches: each one a sleep that another thread or the kernel had to end.
    wakeups: u64,
    /// User + system CPU time, in ns (clock-tick resolution).
    cpu_ns: u64,
}

/// Every live thread of process `pid`, from /proc.
fn thread_stats(pid: u32) -> Vec<ThreadStat> {
    // SAFETY: no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return vec![] };
    tasks
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let tid = dir.file_name()?.to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            let wakeups =
                status.lines().find_map(|l| l.strip_prefix("voluntary_ctxt_switches:")?.trim().parse().ok())?;
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // after the name (which may hold spaces): utime and stime are fields 14 and 15
            let rest = stat.rsplit_once(')')?.1;
            let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim().to_string();
            Some(ThreadStat { tid, name, wakeups, cpu_ns: ticks * 1_000_000_000 / hz })
        })
        .collect()
}

/// What every thread of both processes did over `run(n)`, per operation: (client, server)
/// lists of (thread, wake-ups per op, CPU ns per op), and the totals of each process.
struct Cost {
    client: Vec<(String, f64, f64)>,
    server: Vec<(String, f64, f64)>,
}

impl Cost {
    fn measure(server: &Server, n: u64, run: &mut dyn FnMut(u64) -> Duration) -> Cost {
        let (me, them) = (std::process::id(), server.pid());
        let (a, b) = (thread_stats(me), thread_stats(them));
        run(n);
        let per_op = |before: Vec<ThreadStat>, after: Vec<ThreadStat>| {
            after
                .into_iter()
                .filter_map(|t| {
                    let old = before.iter().find(|o| o.tid == t.tid).cloned().unwrap_or_default();
                    let (w, c) = (t.wakeups - old.wakeups, t.cpu_ns - old.cpu_ns);
                    let (w, c) = (w as f64 / n as f64, c as f64 / n as f64);
                    (w >= 0.01 || c >= 50.0).then_some((t.name, w, c))
                })
                .collect()
        };
        Cost { client: per_op(a, thread_stats(me)), server: per_op(b, thread_stats(them)) }
    }

    fn totals(list: &[(String, f64, f64)]) -> (f64, f64) {
        list.iter().fold((0.0, 0.0), |(w, c), t| (w + t.1, c + t.2))
    }

    /// "wake-ups client + server, CPU client + server".
    fn summary(&self) -> String {
        let ((wc, cc), (ws, cs)) = (Cost::totals(&self.client), Cost::totals(&self.server));
        format!("{wc:.1} + {ws:.1} wake-ups, {:.1} + {:.1} us CPU", cc / 1e3, cs / 1e3)
    }
}

/// How long the untimed sample of each variant runs for [`Cost`] (CPU time counts in ticks).
const COST_SAMPLE: Duration = Duration::from_millis(300);

/// Case 8: one pair at a time between two processes.
pub fn cross_process_pair(ctx: &Ctx<'_>) -> Case {
    let ports = CASE8_PORTS;
    let server = Server::spawn(ports, 1, ctx.settings);
    let client = device(CLIENT_IP, ports.fabric);
    let mut fabric = fabric_run(&server, &client, 1);
    let mut tcp = kernel_run(&server, ports.kernel, 1);
    let mut floor = floor_run(ports.floor);
    let mut relayed = relayed_floor_run(ports.relay);
    let mut half_client = half_client_run(&client);
    let mut half_server = half_server_run(&server, ports.fabric);
    let summaries = measure(
        ctx.settings,
        vec![
            Variant::new(FABRIC, &mut fabric),
            Variant::new(REMOTE_TCP, &mut tcp),
            Variant::new(REMOTE_FLOOR, &mut floor),
            Variant::new(RELAYED_FLOOR, &mut relayed),
            Variant::new(HALF_CLIENT, &mut half_client),
            Variant::new(HALF_SERVER, &mut half_server),
        ],
    );
    let mut case = Case::new(
        8,
        "two processes: blocking connect + close (device 127.0.0.3) against blocking accepts + close (device 127.0.0.2)",
    );
    case.rows = summaries
        .iter()
        .map(|s| {
            Row::new(
                s,
                if [REMOTE_FLOOR, RELAYED_FLOOR].contains(&s.name.as_str()) { "ns/exchange" } else { "ns/pair" },
            )
        })
        .collect();
    case.ratio(FABRIC, REMOTE_FLOOR);
    case.ratio(REMOTE_TCP, FABRIC);
    case.ratio(FABRIC, RELAYED_FLOOR);
    case.ratio(RELAYED_FLOOR, REMOTE_FLOOR);
    case.ratio(HALF_CLIENT, REMOTE_FLOOR);
    case.ratio(HALF_SERVER, REMOTE_FLOOR);
    let median = |name: &str| summaries.iter().find(|s| s.name == name).map_or(f64::NAN, |s| s.median());
    let floor_ns = median(REMOTE_FLOOR);
    let (over_client, over_server) = (median(HALF_CLIENT) - floor_ns, median(HALF_SERVER) - floor_ns);
    case.notes.push(format!(
        "split of a pair (medians): the client device adds {:.1} us over the floor, the server device {:.1} us; together {:.1} us, the whole pair {:.1} us over the floor",
        over_client / 1e3,
        over_server / 1e3,
        (over_client + over_server) / 1e3,
        (median(FABRIC) - floor_ns) / 1e3
    ));
    if let Some(f) = summaries.iter().find(|s| s.name == REMOTE_FLOOR).filter(|f| f.max() > 3.0 * f.min()) {
        let most = if f.median() > 2.0 * f.min() { "most rounds, the median among them" } else { "some rounds" };
        case.notes.push(format!(
            "the floor's runs spread {:.1}x (min {:.1} us, median {:.1} us, max {:.1} us): in {most}, cross-process wake-ups on this machine were slow; the floor pays them in full and the fabric's spinning waiters less, so the ratios to the floor of those rounds are low",
            f.max() / f.min(),
            f.min() / 1e3,
            f.median() / 1e3,
            f.max() / 1e3
        ));
    }
    let mut w = vec![];
    let loops: [(&str, &mut dyn FnMut(u64) -> Duration); 6] = [
        (FABRIC, &mut fabric),
        (REMOTE_TCP, &mut tcp),
        (REMOTE_FLOOR, &mut floor),
        (RELAYED_FLOOR, &mut relayed),
        (HALF_CLIENT, &mut half_client),
        (HALF_SERVER, &mut half_server),
    ];
    for (name, run) in loops {
        let n = (COST_SAMPLE.as_nanos() as f64 / median(name)).clamp(500.0, 1e6) as u64;
        w.push(format!("{name}: {}", Cost::measure(&server, n, run).summary()));
    }
    case.notes.push(format!(
        "per pair or exchange, client + server process, all threads, over ~{COST_SAMPLE:?} more of each (CPU in clock ticks): {}",
        w.join("; ")
    ));
    let failed = server.count(FABRIC_FAILED);
    if failed > 0 {
        case.notes.push(format!("{failed} fabric accepts failed with WSAEACCES (withdrawn)"));
    }
    case.notes.push(format!(
        "one server process (this executable run again) with one accepting thread per listener; wspsan devices on {SERVER_IP} and {CLIENT_IP} (fabric port {}); kernel ports {}, {}, {} on {SERVER_IP}",
        ports.fabric, ports.kernel, ports.floor, ports.relay
    ));
    case.notes.push("fabric pair: REQUEST, ACCEPTED, CONFIRM on the device pair's one TCP connection, plus a CLOSE each way when both ends close".into());
    case.notes.push(format!("kernel clients: blocking, SO_LINGER 0 (reset, no TIME_WAIT), at most {TCP_WINDOW} connects ahead of the server's accepts; every run ends when the server accepted all"));
    case.notes.push(format!("floor: {MSG}-byte request, answer, confirmation over one open TCP_NODELAY connection; the client waits for the answer, not for the confirmation to be read"));
    case.notes.push("relayed floor: the same exchange, but in each process the calling thread hands each message to an I/O thread (queue + eventfd, epoll edge-triggered, as mio) and the I/O thread hands what it reads back (queue + condvar): 4 thread hand-offs per exchange, as a fabric pair has on its path".into());
    case.notes.push(format!("halves: each device against a peer scripted by hand in the other process, which answers REQUEST with ACCEPTED (or sends REQUEST, reads ACCEPTED, sends CONFIRM) on the thread that reads, as the floor does; the scripted listener side is the device of {SCRIPTED_IP}"));
    drop((fabric, tcp, floor, relayed, half_client, half_server));
    drop(client);
    drop(server);
    case
}

/// Case 9: [`CONNECTORS`] threads connecting at once against [`ACCEPTERS`] accepting threads.
pub fn many_connectors(ctx: &Ctx<'_>) -> Case {
    let ports = CASE9_PORTS;
    let server = Server::spawn(ports, ACCEPTERS, ctx.settings);
    let client = device(CLIENT_IP, ports.fabric);
    let mut fabric = fabric_run(&server, &client, CONNECTORS);
    let mut tcp = kernel_run(&server, ports.kernel, CONNECTORS);
    let summaries =
        measure(ctx.settings, vec![Variant::new(FABRIC_MANY, &mut fabric), Variant::new(REMOTE_TCP_MANY, &mut tcp)]);
    let mut case = Case::new(
        9,
        format!(
            "many connectors: {CONNECTORS} threads of one device connect + close, {ACCEPTERS} threads of another process accept + close"
        ),
    );
    case.rows = summaries.iter().map(|s| Row::new(s, "ns/pair")).collect();
    case.ratio(REMOTE_TCP_MANY, FABRIC_MANY);
    case.notes.push("ns/pair is wall time over all threads: pairs per second = 1e9 / ns/pair (last column); the ratio > 1 means the fabric makes more pairs per second".into());
    case.notes.push(format!(
        "fabric port {}, kernel port {} on {SERVER_IP}; kernel clients at most {TCP_WINDOW} connects ahead of the accepts, all threads together",
        ports.fabric, ports.kernel
    ));
    let failed = server.count(FABRIC_FAILED);
    if failed > 0 {
        case.notes.push(format!("{failed} fabric accepts failed with WSAEACCES (withdrawn)"));
    }
    drop((fabric, tcp));
    drop(client);
    drop(server);
    case
}

/// The loops `--profile` runs across processes (for strace -f or timing), without the harness.
pub const PROFILES: [&str; 7] = [
    "fabric-pair",
    "remote-tcp-pair",
    "remote-floor",
    "remote-relayed-floor",
    "half-client",
    "half-server",
    "remote-phases",
];

/// `--profile remote-phases N`: one operation at a time, after an idle gap (every thread asleep:
/// each hand-off is a full wake-up) and back to back; prints p50 and p90 of each in ns.
fn phases(server: &Server, client: &Provider, ports: Ports, n: u64) {
    const GAP: Duration = Duration::from_micros(300);
    let mut floor = floor_run(ports.floor);
    let mut relayed = relayed_floor_run(ports.relay);
    let mut half_client = half_client_run(client);
    let mut half_server = half_server_run(server, ports.fabric);
    let c = std::cell::Cell::new(None);
    let mut connect_only = |_| {
        let s = Api::socket(client);
        let a = Instant::now();
        assert_eq!(Api::connect(client, s, SAN_LISTENER), Ok(()), "fabric connect");
        let took = a.elapsed();
        c.set(Some(s));
        took
    };
    let mut close_only = |_| {
        let a = Instant::now();
        if let Some(s) = c.take() {
            Api::close(client, s);
        }
        a.elapsed()
    };
    let mut ops: [(&str, &mut dyn FnMut(u64) -> Duration); 6] = [
        ("fabric connect", &mut connect_only),
        ("fabric close", &mut close_only),
        (REMOTE_FLOOR, &mut floor),
        (RELAYED_FLOOR, &mut relayed),
        (HALF_CLIENT, &mut half_client),
        (HALF_SERVER, &mut half_server),
    ];
    for gap in [Some(GAP), None] {
        let mut t: Vec<Vec<u64>> = vec![vec![]; ops.len()];
        for _ in 0..n {
            for (i, (_, op)) in ops.iter_mut().enumerate() {
                if let Some(g) = gap {
                    thread::sleep(g);
                }
                t[i].push(op(1).as_nanos() as u64);
            }
        }
        let mode = if gap.is_some() { format!("each after a {GAP:?} idle gap") } else { "back to back".into() };
        println!("one operation at a time, {mode}, {n} each (ns):");
        for ((name, _), mut v) in ops.iter().zip(t) {
            v.sort_unstable();
            println!("  {name:<42} p50 {:>8.0}  p90 {:>8.0}", quantile(&v, 0.5), quantile(&v, 0.9));
        }
    }
}

pub fn profile(name: &str, n: u64) {
    let ports = CASE8_PORTS;
    let settings = Settings { runs: 1, run_time: Duration::from_secs(60) };
    let server = Server::spawn(ports, 1, settings);
    let client = device(CLIENT_IP, ports.fabric);
    let mut run: Box<dyn FnMut(u64) -> Duration + '_> = match name {
        "remote-phases" => {
            phases(&server, &client, ports, n);
            return;
        }
        "fabric-pair" => Box::new(fabric_run(&server, &client, 1)),
        "remote-tcp-pair" => Box::new(kernel_run(&server, ports.kernel, 1)),
        "remote-floor" => Box::new(floor_run(ports.floor)),
        "remote-relayed-floor" => Box::new(relayed_floor_run(ports.relay)),
        "half-client" => Box::new(half_client_run(&client)),
        "half-server" => Box::new(half_server_run(&server, ports.fabric)),
        other => panic!("unknown profile {other}: one of {PROFILES:?}"),
    };
    let mut took = Duration::ZERO;
    let cost = Cost::measure(&server, n, &mut |n| {
        took = run(n);
        took
    });
    println!("{name}: {:.0} ns per op; {}", took.as_nanos() as f64 / n as f64, cost.summary());
    for (side, list) in [("client", &cost.client), ("server", &cost.server)] {
        for (thread, w, c) in list {
            println!("  {side} thread {thread:<16} {w:>5.2} wake-ups per op, {c:>8.0} ns CPU per op");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_threads_runs_the_operation_exactly_n_times() {
        for (k, n) in [(1, 7), (16, 8), (16, 1000), (4, 3)] {
            let done = AtomicU64::new(0);
            on_threads(k, n, &|| {
                done.fetch_add(1, Relaxed);
            });
            assert_eq!(done.load(Relaxed), n, "{k} threads");
        }
    }

    #[test]
    fn the_shared_page_is_shared_through_its_descriptor() {
        let (a, fd) = Shm::create();
        let b = Shm::map(fd.0);
        a.slot(KERNEL_ACCEPTED).fetch_add(3, Release);
        assert_eq!(b.slot(KERNEL_ACCEPTED).load(Acquire), 3);
        assert_eq!(b.slot(FABRIC_ACCEPTED).load(Acquire), 0);
    }

    #[test]
    fn the_threads_of_this_process_and_their_wake_ups_are_seen() {
        let me = std::process::id();
        let total = |stats: Vec<ThreadStat>| stats.iter().map(|t| t.wakeups).sum::<u64>();
        let before = total(thread_stats(me));
        thread::sleep(Duration::from_millis(1));
        let after = thread_stats(me);
        assert!(after.iter().any(|t| t.tid == me), "the main thread is listed");
        assert!(total(after) > before, "a sleep is a voluntary context switch");
    }
}

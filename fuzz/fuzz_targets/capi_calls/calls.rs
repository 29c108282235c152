//! The calls of the cargo-fuzz target `capi_calls`. An input, decoded with
//! `arbitrary`, is a sequence of C ABI calls on the `wspsan-capi` exports, with the checks of
//! tests/c/fuzz.c: every call returns success or the failure value with `*lpErrno` a code the
//! SPEC allows for it (X3), `*lpErrno` untouched on success, outputs untouched on failure, no
//! success on a closed or made-up descriptor, `WSANOTINITIALISED` before startup (X2),
//! `WSAEINPROGRESS` from inside a condition function (A14), new descriptors never reused; the
//! descriptor checked before the socket's state and the state before the pointers (X4); only
//! selected events reported (E4); SO_ERROR kept when read and stored when set (C2).
//!
//! Two users: fuzz/fuzz_targets/capi_calls.rs (`make fuzz`, nightly, the whole library under
//! AddressSanitizer, so the exact-length buffers (`Vec`s) catch any overread or overwrite), and
//! capi/tests/fuzz_corpus.rs, which replays the committed corpus in `cargo test` on stable.
//!
//! Each input starts from a clean provider: every startup undone, the device back to its
//! defaults. Blocking calls are never made (FIONBIO first), so an input cannot hang.

use arbitrary::Arbitrary;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ffi::c_int;
use std::ptr::{null, null_mut};
use wspsan::types::*;
use wspsan::*;

const SENTINEL: c_int = 0x5EED_BEEF;

/// The codes the header defines.
const CODES: [c_int; 28] = [
    WSAEINTR,
    WSAEACCES,
    WSAEFAULT,
    WSAEINVAL,
    WSAEMFILE,
    WSAEWOULDBLOCK,
    WSAEINPROGRESS,
    WSAEALREADY,
    WSAENOTSOCK,
    WSAEPROTOTYPE,
    WSAENOPROTOOPT,
    WSAEPROTONOSUPPORT,
    WSAESOCKTNOSUPPORT,
    WSAEOPNOTSUPP,
    WSAEAFNOSUPPORT,
    WSAEADDRINUSE,
    WSAEADDRNOTAVAIL,
    WSAENETDOWN,
    WSAECONNABORTED,
    WSAECONNRESET,
    WSAENOBUFS,
    WSAEISCONN,
    WSAENOTCONN,
    WSAETIMEDOUT,
    WSAECONNREFUSED,
    WSAVERNOTSUPPORTED,
    WSANOTINITIALISED,
    WSATRY_AGAIN,
];

/// The codes each call may fail with on a live descriptor: the table the C driver
/// (tests/c/fuzz.c) includes too, one `ALLOWED(FN, K(NAME) | ...)` line per call.
const ALLOWED_TABLE: &str = include_str!("../../allowed_errors.h");

/// The codes of `fn_name`'s line of [`ALLOWED_TABLE`] (each `K(NAME)` is `WSAENAME` or `WSANAME`).
fn allowed(fn_name: &str) -> &'static [c_int] {
    static TABLE: std::sync::OnceLock<std::collections::HashMap<&'static str, Vec<c_int>>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let code = |name: &str| {
            let e = wspsan_core::WsaError::ALL
                .iter()
                .find(|e| e.name().strip_prefix("WSAE").or_else(|| e.name().strip_prefix("WSA")) == Some(name));
            e.unwrap_or_else(|| panic!("allowed_errors.h: K({name}) is no WSA code")).code()
        };
        ALLOWED_TABLE
            .lines()
            .filter_map(|l| l.strip_prefix("ALLOWED("))
            .map(|l| {
                let (f, set) = l.split_once(',').expect("allowed_errors.h: ALLOWED(fn, set)");
                let codes = set.split("K(").skip(1).map(|k| code(k.split(')').next().unwrap_or(""))).collect();
                (f.trim(), codes)
            })
            .collect()
    });
    table.get(fn_name).unwrap_or_else(|| panic!("allowed_errors.h has no line for {fn_name}"))
}

/// A descriptor argument.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub(crate) enum Desc {
    Live(u8),
    Dead(u8),
    Near(u8, i8),
    Zero,
    Invalid,
    Raw(u64),
}

/// An address argument.
#[derive(Arbitrary, Debug)]
pub(crate) struct Addr {
    /// Some: a live listener's address (by index); None: `ip`/`port`.
    listener: Option<u8>,
    ip: u8,
    port: u16,
    family: Option<u16>,
    /// None: 16; else this length (the buffer is exactly that long when 0..=64).
    len: Option<i32>,
    null: bool,
}

#[derive(Arbitrary, Debug)]
pub(crate) struct Cond {
    answer: i32,
    answer_raw: bool,
    set_g: Option<u32>,
    callee_len: u32,
    callee_fill: u8,
    /// Calls back into the provider (each must fail with WSAEINPROGRESS).
    reenter: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
pub(crate) enum Op {
    Socket {
        af: i8,
        ty: i8,
        proto: i8,
        info: Option<(i32, i32, i32)>,
    },
    Bind {
        s: Desc,
        addr: Addr,
    },
    Listen {
        s: Desc,
        backlog: i32,
        pick: u8,
    },
    Connect {
        s: Desc,
        addr: Addr,
        caller: Option<(u16, bool)>,
        callee: Option<(u16, bool)>,
        qos: Option<(u16, bool)>,
    },
    Accept {
        s: Desc,
        addrlen: Option<i32>,
        addr: bool,
        cond: Option<Cond>,
    },
    Close {
        s: Desc,
    },
    Name {
        s: Desc,
        peer: bool,
        len: i32,
        null_name: bool,
        null_len: bool,
    },
    GetOpt {
        s: Desc,
        level: u8,
        name: u8,
        len: i32,
        null_val: bool,
        null_len: bool,
    },
    SetOpt {
        s: Desc,
        level: u8,
        name: u8,
        len: i32,
        value: i32,
        null_val: bool,
    },
    Ioctl {
        s: Desc,
        code: u8,
        raw_code: u32,
        in_len: Option<u8>,
        on: u32,
        out_len: u16,
        null_ret: bool,
        overlapped: bool,
    },
    Select {
        s: Desc,
        ev: u8,
        mask: i32,
    },
    Enum {
        s: Desc,
        ev: u8,
        null_out: bool,
    },
    Event {
        close: Option<u8>,
    },
    Device {
        which: u8,
        a: u32,
        b: u64,
    },
    SwitchHandle {
        s: Desc,
        null_out: bool,
    },
    Unsupported {
        which: u8,
        s: Desc,
    },
    Startup {
        version: u16,
        null_data: bool,
        null_table: bool,
        create: bool,
        close: bool,
        events: bool,
        plan: u32,
    },
    Cleanup,
    LastError {
        len: u16,
        null_buf: bool,
        null_len: bool,
    },
    Strerror {
        code: i32,
    },
    /// socket, bind 127.0.0.1:0, listen: the common path, in one op.
    Listener {
        backlog: i8,
    },
}

pub(crate) struct Sock {
    s: SOCKET,
    listening: bool,
    /// Made by an accept: connected, or disconnected once its peer closed.
    accepted: bool,
    /// A connect of it was queued (WSAEWOULDBLOCK): pending, connected or answered since.
    attempted: bool,
    /// The events selected by the last successful WSPEventSelect (an accepted socket starts with
    /// its listener's, SPEC A7).
    mask: u32,
}

/// What the target knows, per input.
pub(crate) struct State {
    live: Vec<Sock>,
    dead: Vec<SOCKET>,
    events: Vec<WSAEVENT>,
    started: u32,
    down: bool,
    sw_events: bool,
    sw_create: bool,
    /// The `WPUCreateSocketHandle` plan: which creations fail.
    plan: u32,
}

thread_local! {
    static ISSUED: RefCell<HashSet<SOCKET>> = RefCell::new(HashSet::new());
    static IN_CONDITION: Cell<bool> = const { Cell::new(false) };
    static PLAN: Cell<u32> = const { Cell::new(0) };
    static CREATES: Cell<u32> = const { Cell::new(0) };
    static OPEN_HANDLES: Cell<i64> = const { Cell::new(0) };
    /* The session's table has WPUCloseSocketHandle: every handle must be closed by its end. */
    static SESSION_CLOSES: Cell<bool> = const { Cell::new(false) };
    static COND: RefCell<Option<(Cond, Vec<SOCKET>, u32)>> = const { RefCell::new(None) };
    static COND_SEEN: Cell<Option<(c_int, u32)>> = const { Cell::new(None) };
    static UPCALL_CODE: Cell<Option<c_int>> = const { Cell::new(None) };
    static TABLE: Cell<Option<WSPPROC_TABLE>> = const { Cell::new(None) };
}

fn known(code: c_int) -> bool {
    CODES.contains(&code)
}

/// Check an int-returning WSP call: `rc` 0 or SOCKET_ERROR, the errno convention, the code in
/// `allowed` (plus what the state adds), no success on a dead descriptor.
fn check(st: &State, name: &str, rc: c_int, err: c_int, allowed: &[c_int], dead: bool) -> bool {
    check_ok(st, name, rc == 0, rc != 0 && rc != SOCKET_ERROR, err, allowed, dead)
}

fn check_ok(st: &State, name: &str, ok: bool, bad: bool, err: c_int, allowed: &[c_int], dead: bool) -> bool {
    assert!(!bad, "{name}: returned neither success nor the failure value");
    if ok {
        assert_eq!(err, SENTINEL, "{name}: success wrote *lpErrno (SPEC X3)");
        assert!(!dead, "{name}: succeeded on a closed or made-up descriptor (SPEC K1, X4)");
        assert!(st.started > 0, "{name}: succeeded before WSPStartup (SPEC X2)");
        return true;
    }
    assert!(known(err), "{name}: failed with {err}, not a WSAE code (SPEC X3)");
    if st.started == 0 {
        assert_eq!(err, WSANOTINITIALISED, "{name}: before startup (SPEC X2)");
        return false;
    }
    if err == WSAENETDOWN && !st.down && UPCALL_CODE.get() != Some(WSAENETDOWN) {
        let mut buf = [0u8; 512];
        let mut n = 0usize;
        // SAFETY: a live buffer and length.
        unsafe { wspsan_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut n) };
        let msg = String::from_utf8_lossy(&buf[..n.min(511)]).into_owned();
        panic!("{name}: WSAENETDOWN with the device up: {msg}");
    }
    let extra = err == WSAENETDOWN
        || (dead && err == WSAENOTSOCK)
        || UPCALL_CODE.get() == Some(err)
        || (UPCALL_CODE.get() == Some(0) && err == WSAEMFILE);
    assert!(allowed.contains(&err) || extra, "{name}: failed with {err}, not allowed by the SPEC here");
    false
}

impl State {
    fn desc(&self, d: Desc) -> (SOCKET, bool) {
        let live = |i: u8| self.live.get(i as usize % self.live.len().max(1)).map(|s| s.s);
        let s = match d {
            Desc::Live(i) => live(i).unwrap_or(4),
            Desc::Dead(i) => self.dead.get(i as usize % self.dead.len().max(1)).copied().unwrap_or(8),
            Desc::Near(i, k) => live(i).unwrap_or(4).wrapping_add_signed(k as isize),
            Desc::Zero => 0,
            Desc::Invalid => INVALID_SOCKET,
            Desc::Raw(v) => v as SOCKET,
        };
        (s, !self.live.iter().any(|x| x.s == s))
    }

    fn sock(&self, s: SOCKET) -> Option<&Sock> {
        self.live.iter().find(|x| x.s == s)
    }

    fn sock_mut(&mut self, s: SOCKET) -> Option<&mut Sock> {
        self.live.iter_mut().find(|x| x.s == s)
    }

    fn adopt(&mut self, s: SOCKET, listening: bool) -> &mut Sock {
        assert!(s != 0 && s != INVALID_SOCKET && s % 4 == 0, "new descriptor {s:#x}");
        let fresh = ISSUED.with(|i| i.borrow_mut().insert(s));
        assert!(fresh, "descriptor {s:#x} returned twice (never reused: SPEC section 0)");
        self.live.push(Sock { s, listening, accepted: false, attempted: false, mask: 0 });
        self.live.last_mut().expect("just pushed")
    }

    fn forget(&mut self, s: SOCKET) {
        self.live.retain(|x| x.s != s);
        self.dead.push(s);
    }

    /// SPEC X4: a call whose pointer or length arguments are bad fails first with what the entry
    /// checks, the descriptor and the socket's state give: `Known(code)`, or `Maybe(codes)` when
    /// the target does not know the state (one of `codes`, or the argument's own error).
    /// `state` is the state's error for a live socket.
    fn before_args(&self, dead: bool, state: Pre) -> Pre {
        if self.down {
            Pre::Known(WSAENETDOWN)
        } else if dead {
            Pre::Known(WSAENOTSOCK)
        } else {
            state
        }
    }
}

/// What a call gets before its pointer and length arguments are looked at (SPEC X4).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pre {
    /// Nothing: the arguments decide.
    Passes,
    /// This error.
    Known(c_int),
    /// One of these, or nothing (the target does not know the socket's state).
    Maybe(&'static [c_int]),
}

impl Pre {
    /// Check a failed call whose arguments alone would give `argerr`.
    fn check(self, name: &str, rc_failed: bool, err: c_int, argerr: c_int) {
        assert!(rc_failed, "{name}: succeeded with a bad argument ({argerr} expected)");
        match self {
            Pre::Passes => assert_eq!(err, argerr, "{name}: the argument check (SPEC X4)"),
            Pre::Known(code) => assert_eq!(err, code, "{name}: descriptor and state before the arguments (SPEC X4)"),
            Pre::Maybe(codes) => assert!(
                err == argerr || codes.contains(&err),
                "{name}: failed with {err}: neither the argument's {argerr} nor a state error {codes:?} (SPEC X4)"
            ),
        }
    }
}

/// SPEC X4: a call on a closed or made-up descriptor fails with WSAENOTSOCK whatever its other
/// arguments, once the entry checks passed (started, device up).
fn descriptor_first(st: &State, name: &str, ok: bool, err: c_int, dead: bool) {
    if dead && !ok && st.started > 0 && !st.down {
        assert_eq!(err, WSAENOTSOCK, "{name} on a closed or made-up descriptor: the descriptor first (SPEC X4)");
    }
}

/// Whether `(level, name)` is an option the provider knows (SPEC section 1, both numberings), and
/// whether the level is one it knows at all (SOL_SOCKET either numbering, IPPROTO_TCP).
fn option_known(level: c_int, name: c_int) -> (bool, bool) {
    let windows = [WSPSAN_SO_ACCEPTCONN, WSPSAN_SO_ERROR, WSPSAN_SO_TYPE, WSPSAN_SO_SNDBUF, WSPSAN_SO_RCVBUF];
    let known = match level {
        WSPSAN_SOL_SOCKET => windows.contains(&name) || name == SO_CONNDATALEN,
        // Linux SO_ACCEPTCONN, SO_ERROR, SO_TYPE, SO_SNDBUF, SO_RCVBUF; SO_CONNDATALEN at either level
        1 => [30, 4, 3, 7, 8].contains(&name) || name == SO_CONNDATALEN,
        _ => false,
    };
    (known, matches!(level, WSPSAN_SOL_SOCKET | 1 | 6))
}

/// The int options by what setting them does (SPEC L8, C2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SockOptName {
    /// SO_SNDBUF, SO_RCVBUF: settable, not negative.
    Buffer,
    /// SO_ERROR: kept when read, stored when set.
    Error,
    /// SO_ACCEPTCONN, SO_TYPE, SO_CONNDATALEN.
    ReadOnly,
}

impl SockOptName {
    fn of(level: c_int, name: c_int) -> Option<SockOptName> {
        if !option_known(level, name).0 {
            return None;
        }
        Some(match (level, name) {
            (WSPSAN_SOL_SOCKET, WSPSAN_SO_SNDBUF | WSPSAN_SO_RCVBUF) | (1, 7 | 8) => SockOptName::Buffer,
            (WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR) | (1, 4) => SockOptName::Error,
            _ => SockOptName::ReadOnly,
        })
    }
}

// ------------------------------------------------------------------------------------------------
// Upcalls.

unsafe extern "C" fn up_create(_catalog: DWORD, context: DWORD_PTR, err: LPINT) -> SOCKET {
    assert!(context != 0 && context % 4 == 0, "WPUCreateSocketHandle context {context:#x}");
    let n = CREATES.get();
    CREATES.set(n + 1);
    let plan = PLAN.get();
    if plan & (1 << (n % 32)) != 0 {
        // Fail: a known code or an unknown one (SPEC X5, A11).
        let code = if n % 3 == 0 { 0 } else { CODES[(plan as usize ^ n as usize) % CODES.len()] };
        // SAFETY: the provider's lpErrno.
        unsafe { *err = code };
        UPCALL_CODE.set(Some(code));
        return INVALID_SOCKET;
    }
    OPEN_HANDLES.set(OPEN_HANDLES.get() + 1);
    0x10_0000 + (n as SOCKET) * 8
}

unsafe extern "C" fn up_close(_s: SOCKET, err: LPINT) -> c_int {
    OPEN_HANDLES.set(OPEN_HANDLES.get() - 1);
    // SAFETY: the provider's lpErrno.
    unsafe { *err = WSAENOTSOCK };
    SOCKET_ERROR // ignored by the provider
}

unsafe extern "C" fn up_event(_h: WSAEVENT, _err: LPINT) -> BOOL {
    WSPSAN_TRUE
}

// ------------------------------------------------------------------------------------------------
// The condition function.

unsafe extern "C" fn condition(
    caller_id: LPWSABUF,
    caller_data: LPWSABUF,
    sqos: LPQOS,
    gqos: LPQOS,
    callee_id: LPWSABUF,
    callee_data: LPWSABUF,
    g: *mut GROUP,
    cb: DWORD_PTR,
) -> c_int {
    // SAFETY: the provider's arguments, valid during the call (SPEC A5).
    unsafe {
        assert_eq!(cb, 0xC0FFEE, "dwCallbackData passed through (A5)");
        assert!(gqos.is_null(), "lpGQOS is NULL (A5)");
        assert!(!g.is_null() && *g == 0, "g holds 0 (A5)");
        for id in [caller_id, callee_id] {
            assert!(!id.is_null() && (*id).len == 16 && !(*id).buf.is_null(), "ids are sockaddr_in WSABUFs (A5)");
            let bytes = std::slice::from_raw_parts((*id).buf.cast::<u8>(), 16);
            assert_eq!(u16::from_ne_bytes([bytes[0], bytes[1]]), libc_af_inet(), "AF_INET ids");
        }
        if let Some(d) = caller_data.as_ref() {
            assert!(d.len > 0 && !d.buf.is_null(), "caller data NULL or data (A5)");
            let bytes = std::slice::from_raw_parts_mut(d.buf.cast::<u8>(), d.len as usize);
            bytes.iter_mut().for_each(|b| *b ^= 0x55); // writable, as on Windows
        }
        if let Some(q) = sqos.as_ref() {
            if q.ProviderSpecific.len > 0 {
                let _ =
                    std::slice::from_raw_parts(q.ProviderSpecific.buf.cast::<u8>(), q.ProviderSpecific.len as usize)
                        .iter()
                        .sum::<u8>();
            }
        }
        let cd = &mut *callee_data;
        let (answer, set_g, new_len, fill, reenter, targets, capacity) = COND.with(|c| {
            let c = c.borrow();
            let (cond, targets, capacity) = c.as_ref().expect("a condition plan");
            let answer = if cond.answer_raw { cond.answer } else { cond.answer.rem_euclid(3) };
            (answer, cond.set_g, cond.callee_len, cond.callee_fill, cond.reenter.clone(), targets.clone(), *capacity)
        });
        assert_eq!(cd.len, capacity, "callee data buffer of the device's size (A5)");
        if cd.len > 0 {
            std::slice::from_raw_parts_mut(cd.buf.cast::<u8>(), cd.len as usize).fill(fill);
        }
        cd.len = new_len; // may be larger than offered: the provider clamps
        IN_CONDITION.set(true);
        for (k, which) in reenter.iter().take(4).enumerate() {
            let s = targets.get(k % targets.len().max(1)).copied().unwrap_or(4);
            reenter_call(*which, s);
        }
        IN_CONDITION.set(false);
        if let Some(v) = set_g {
            *g = v;
        }
        COND_SEEN.set(Some((answer, *g)));
        answer
    }
}

fn libc_af_inet() -> u16 {
    2
}

/// A14: a valid call back into the provider from a condition function gives WSAEINPROGRESS.
fn reenter_call(which: u8, s: SOCKET) {
    let mut err = SENTINEL;
    let mut a = sockaddr_in(0x7f00_0001, 5000);
    let mut len = 16;
    let mut v: c_int = 1;
    let mut on: u32 = 1;
    let mut n: DWORD = 0;
    // SAFETY: live locals for every pointer.
    let rc = unsafe {
        match which % 14 {
            12 | 13 if TABLE.get().is_some() => {
                // The table entries the provider does not implement: A14 holds for them too.
                let t = TABLE.get().unwrap();
                if which % 14 == 12 {
                    (t.lpWSPShutdown.unwrap())(s, 2, &mut err)
                } else {
                    (t.lpWSPSend.unwrap())(s, null_mut(), 0, null_mut(), 0, null_mut(), None, null_mut(), &mut err)
                }
            }
            0 => (wspsan_WSPSocket(2, 1, 0, null_mut(), 0, 0, &mut err) != INVALID_SOCKET) as c_int - 1,
            1 => wspsan_WSPBind(s, (&raw const a).cast(), 16, &mut err),
            2 => wspsan_WSPListen(s, 5, &mut err),
            3 => wspsan_WSPConnect(
                s,
                (&raw const a).cast(),
                16,
                null_mut(),
                null_mut(),
                null_mut(),
                null_mut(),
                &mut err,
            ),
            4 => (wspsan_WSPAccept(s, null_mut(), null_mut(), None, 0, &mut err) != INVALID_SOCKET) as c_int - 1,
            5 => wspsan_WSPCloseSocket(s, &mut err),
            6 => wspsan_WSPGetSockName(s, (&raw mut a).cast(), &mut len, &mut err),
            7 => {
                len = 4;
                wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, (&raw mut v).cast(), &mut len, &mut err)
            }
            8 => wspsan_WSPIoctl(
                s,
                WSPSAN_FIONBIO,
                (&raw mut on).cast(),
                4,
                null_mut(),
                0,
                &mut n,
                null_mut(),
                None,
                null_mut(),
                &mut err,
            ),
            9 => wspsan_WSPEventSelect(s, null_mut(), 0, &mut err),
            10 => wspsan_WSPCleanup(&mut err),
            _ => {
                let mut out: SOCKET = 0;
                wspsan_switch_handle(s, &mut out, &mut err)
            }
        }
    };
    assert!(rc == SOCKET_ERROR && err == WSAEINPROGRESS, "call {which} from a condition function: {rc}/{err} (A14)");
}

fn sockaddr_in(ip: u32, port: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&libc_af_inet().to_ne_bytes());
    b[2..4].copy_from_slice(&port.to_be_bytes());
    b[4..8].copy_from_slice(&ip.to_be_bytes());
    b
}

// ------------------------------------------------------------------------------------------------

/// Back to a clean provider: every startup undone, the device at its defaults.
fn reset() {
    // The never-reused check spans inputs; bounded so that a long run keeps a flat memory use.
    ISSUED.with(|i| {
        if i.borrow().len() > 200_000 {
            i.borrow_mut().clear();
        }
    });
    let mut err = SENTINEL;
    // SAFETY: live locals.
    unsafe {
        wspsan_device_set_network_down(0, &mut err);
        while wspsan_WSPCleanup(&mut err) == 0 {}
        assert_eq!(err, WSANOTINITIALISED);
        session_ended();
        let limits = WSPSAN_LIMITS {
            max_descriptors: 65536,
            max_pending: 1 << 20,
            max_backlog: 4096,
            max_caller_data: 256,
            max_callee_data: 256,
            connect_timeout_ms: 0,
        };
        wspsan_device_set_limits(&limits, &mut err);
        wspsan_device_set_buffer_exhaustion(0, &mut err);
        wspsan_device_set_descriptor_limit(-1, &mut err);
        wspsan_device_set_wildcard_bind(1, &mut err);
        for ip in [0x0a00_0001u32, 0x0a00_0002, 0x7f00_0002] {
            wspsan_device_remove_nic(ip.to_be(), &mut err);
        }
        wspsan_device_add_nic(0x7f00_0001u32.to_be(), &mut err);
        let mut stats = std::mem::zeroed::<WSPSAN_DEVICE_STATS>();
        wspsan_device_stats(&mut stats, &mut err);
        assert_eq!((stats.open_sockets, stats.pending), (0, 0), "sockets left after the last cleanup");
    }
}

/// X5: with a WPUCloseSocketHandle, every handle the switch gave was closed by the last cleanup.
fn session_ended() {
    if SESSION_CLOSES.get() {
        assert_eq!(OPEN_HANDLES.get(), 0, "a switch handle was never closed (SPEC X5)");
    }
    OPEN_HANDLES.set(0);
    SESSION_CLOSES.set(false);
}

fn startup(
    st: &mut State,
    version: u16,
    null_data: bool,
    null_table: bool,
    create: bool,
    close: bool,
    events: bool,
    plan: u32,
) {
    // SAFETY: zeroed plain C structs.
    let mut data: WSPDATA = unsafe { std::mem::zeroed() };
    let mut table: WSPPROC_TABLE = unsafe { std::mem::zeroed() };
    let mut up: WSPUPCALLTABLE = unsafe { std::mem::zeroed() };
    if create {
        up.lpWPUCreateSocketHandle = Some(up_create);
    }
    if close {
        up.lpWPUCloseSocketHandle = Some(up_close);
    }
    if events {
        up.lpWPUSetEvent = Some(up_event);
        up.lpWPUResetEvent = Some(up_event);
    }
    let (major, minor) = (version & 0xff, version >> 8);
    let want = if null_data || null_table {
        WSAEFAULT
    } else if (major, minor) < (2, 2) {
        WSAVERNOTSUPPORTED
    } else {
        0
    };
    let first = st.started == 0;
    if first && want == 0 {
        PLAN.set(plan);
        SESSION_CLOSES.set(create && close);
        st.plan = plan;
        st.sw_create = create;
        st.sw_events = events;
    }
    let dp = if null_data { null_mut() } else { &raw mut data };
    let tp = if null_table { null_mut() } else { &raw mut table };
    // SAFETY: NULL or live locals.
    let rc = unsafe { wspsan_WSPStartup(version, dp, null_mut(), up, tp) };
    assert_eq!(rc, want, "WSPStartup({version:#x}) (SPEC X1)");
    if rc == 0 {
        st.started += 1;
        TABLE.set(Some(table));
        assert!(table.lpWSPAccept.is_some() && table.lpWSPStringToAddress.is_some(), "every entry filled (X1)");
        assert_eq!((data.wVersion, data.wHighVersion), (0x0202, 0x0202));
        // The table entries the provider does not implement fail with WSAEOPNOTSUPP.
        let mut err = SENTINEL;
        // SAFETY: the table's functions with valid or NULL pointers they must not read.
        let rc = unsafe { (table.lpWSPShutdown.unwrap())(4, 2, &mut err) };
        assert_eq!((rc, err), (SOCKET_ERROR, WSAEOPNOTSUPP));
        let rc = unsafe {
            (table.lpWSPSend.unwrap())(4, null_mut(), 0, null_mut(), 0, null_mut(), None, null_mut(), &mut err)
        };
        assert_eq!((rc, err), (SOCKET_ERROR, WSAEOPNOTSUPP));
    }
}

fn cleanup(st: &mut State) {
    let mut err = SENTINEL;
    // SAFETY: a live local.
    let rc = unsafe { wspsan_WSPCleanup(&mut err) };
    if st.started == 0 {
        assert_eq!((rc, err), (SOCKET_ERROR, WSANOTINITIALISED), "cleanup without startup (X2)");
        return;
    }
    assert_eq!((rc, err), (0, SENTINEL), "WSPCleanup");
    st.started -= 1;
    if st.started == 0 {
        for s in std::mem::take(&mut st.live) {
            st.dead.push(s.s);
        }
        session_ended();
        st.sw_create = false;
        st.sw_events = false;
    }
}

/// FIONBIO on a live socket, so that accept and connect never wait.
fn nonblocking(st: &State, s: SOCKET) {
    let mut on: u32 = 1;
    let mut err = SENTINEL;
    let mut n: DWORD = 0;
    // SAFETY: live locals.
    let rc = unsafe {
        wspsan_WSPIoctl(
            s,
            WSPSAN_FIONBIO,
            (&raw mut on).cast(),
            4,
            null_mut(),
            0,
            &mut n,
            null_mut(),
            None,
            null_mut(),
            &mut err,
        )
    };
    let dead = !st.live.iter().any(|x| x.s == s);
    check(st, "FIONBIO", rc, err, &[], dead);
}

fn pick_ip(i: u8) -> u32 {
    match i % 6 {
        0 | 1 => 0x7f00_0001,
        2 => 0,
        3 => 0x0a00_0001,
        4 => 0x7f00_0002,
        _ => 0xc000_0207,
    }
}

/// The sockaddr bytes for `a` (exactly `len` bytes when 0..=64), and whether the argument
/// checks pass (0) or give WSAEFAULT / WSAEAFNOSUPPORT.
fn build_addr(st: &State, a: &Addr, listeners: &[[u8; 16]]) -> (Option<Vec<u8>>, c_int, c_int) {
    let mut b = match a.listener {
        Some(i) if !listeners.is_empty() => listeners[i as usize % listeners.len()],
        _ => sockaddr_in(pick_ip(a.ip), a.port % 8 + if a.port & 8 != 0 { 5000 } else { 0 }),
    };
    if let Some(f) = a.family {
        b[0..2].copy_from_slice(&f.to_ne_bytes());
    }
    let _ = st;
    let len = a.len.unwrap_or(16);
    if a.null {
        return (None, len, WSAEFAULT);
    }
    let bytes = if len < 0 {
        0
    } else if len > 64 {
        16
    } else {
        len as usize
    };
    let mut v = vec![0u8; bytes];
    let n = bytes.min(16);
    v[..n].copy_from_slice(&b[..n]);
    let argerr = if len < 16 {
        WSAEFAULT
    } else if u16::from_ne_bytes([b[0], b[1]]) != libc_af_inet() {
        WSAEAFNOSUPPORT
    } else {
        0
    };
    (Some(v), len, argerr)
}

/// Whether `s` has a local name (`WSPGetSockName` with valid buffers): bound (SPEC A15).
fn bound(s: SOCKET) -> bool {
    let (mut a, mut len, mut err) = ([0u8; 16], 16, SENTINEL);
    // SAFETY: live locals.
    unsafe { wspsan_WSPGetSockName(s, a.as_mut_ptr().cast(), &mut len, &mut err) == 0 }
}

/// What `WSPGetPeerName` (`peer`) or `WSPGetSockName` with valid buffers gives on `s`: the
/// socket's and its state's error, if any.
fn name_error(s: SOCKET, peer: bool) -> Option<c_int> {
    let (mut a, mut len, mut err) = ([0u8; 16], 16, SENTINEL);
    // SAFETY: live locals.
    let rc = unsafe {
        if peer {
            wspsan_WSPGetPeerName(s, a.as_mut_ptr().cast(), &mut len, &mut err)
        } else {
            wspsan_WSPGetSockName(s, a.as_mut_ptr().cast(), &mut len, &mut err)
        }
    };
    (rc != 0).then_some(err)
}

/// An int option of `s` (`WSPGetSockOpt` with a valid buffer), or its error.
fn int_option(s: SOCKET, level: c_int, name: c_int) -> Result<c_int, c_int> {
    let (mut v, mut len, mut err): (c_int, c_int, c_int) = (0, 4, SENTINEL);
    // SAFETY: live locals.
    let rc = unsafe { wspsan_WSPGetSockOpt(s, level, name, (&raw mut v).cast(), &mut len, &mut err) };
    if rc == 0 { Ok(v) } else { Err(err) }
}

/// Whether `s` is connected (`WSPGetPeerName` with valid buffers, SPEC A15, K3).
fn connected(s: SOCKET) -> bool {
    let (mut a, mut len, mut err) = ([0u8; 16], 16, SENTINEL);
    // SAFETY: live locals.
    unsafe { wspsan_WSPGetPeerName(s, a.as_mut_ptr().cast(), &mut len, &mut err) == 0 }
}

fn listener_addrs(st: &State) -> Vec<[u8; 16]> {
    let mut out = Vec::new();
    for l in st.live.iter().filter(|l| l.listening) {
        let mut a = [0u8; 16];
        let mut len = 16;
        let mut err = SENTINEL;
        // SAFETY: live locals.
        if unsafe { wspsan_WSPGetSockName(l.s, a.as_mut_ptr().cast(), &mut len, &mut err) } == 0 {
            if a[4..8] == [0, 0, 0, 0] {
                a[4..8].copy_from_slice(&[127, 0, 0, 1]);
            }
            out.push(a);
        }
    }
    out
}

fn run(op: Op, st: &mut State) {
    UPCALL_CODE.set(None);
    let mut err = SENTINEL;
    match op {
        Op::Socket { af, ty, proto, info } => {
            let af = if af < 0 {
                FROM_PROTOCOL_INFO
            } else if af % 4 == 0 {
                af as c_int
            } else {
                2
            };
            let ty = if ty < 0 {
                FROM_PROTOCOL_INFO
            } else if ty % 4 == 0 {
                ty as c_int
            } else {
                1
            };
            let proto = if proto < 0 {
                FROM_PROTOCOL_INFO
            } else if proto % 3 == 0 {
                proto as c_int
            } else {
                6
            };
            // SAFETY: a zeroed plain C struct.
            let mut pi: WSAPROTOCOL_INFOW = unsafe { std::mem::zeroed() };
            let pip = match info {
                Some((a, t, p)) => {
                    pi.iAddressFamily = a;
                    pi.iSocketType = t;
                    pi.iProtocol = p;
                    &raw mut pi
                }
                None => null_mut(),
            };
            // SAFETY: NULL or a live local.
            let s = unsafe { wspsan_WSPSocket(af, ty, proto, pip, 0, 0, &mut err) };
            let ok = check_ok(
                st,
                "WSPSocket",
                s != INVALID_SOCKET,
                false,
                err,
                // The argument checks' codes, which the table leaves to each driver, then the call's.
                &[&[WSAEFAULT, WSAEAFNOSUPPORT, WSAESOCKTNOSUPPORT, WSAEPROTONOSUPPORT], allowed("SOCKET")].concat(),
                false,
            );
            if ok {
                st.adopt(s, false);
            }
        }
        Op::Bind { s, addr } => {
            let (s, dead) = st.desc(s);
            let (name, len, argerr) = build_addr(st, &addr, &[]);
            let p = name.as_ref().map_or(null(), |v| v.as_ptr().cast());
            // X4: only an unbound socket may bind (B1), whatever the name; a bound one has a name.
            let pre = st.before_args(dead, if bound(s) { Pre::Known(WSAEINVAL) } else { Pre::Passes });
            // SAFETY: NULL or `len`-byte (at most 16 read) buffer.
            let rc = unsafe { wspsan_WSPBind(s, p, len, &mut err) };
            if argerr != 0 && st.started > 0 {
                pre.check("WSPBind", rc == SOCKET_ERROR, err, argerr);
            }
            descriptor_first(st, "WSPBind", rc == 0, err, dead);
            check(st, "WSPBind", rc, err, allowed("BIND"), dead);
        }
        Op::Listen { s, backlog, pick } => {
            let (s, dead) = if pick % 2 == 0 { st.desc(s) } else { st.desc(Desc::Live(pick)) };
            // SAFETY: plain values.
            let rc = unsafe { wspsan_WSPListen(s, backlog, &mut err) };
            descriptor_first(st, "WSPListen", rc == 0, err, dead);
            if check(st, "WSPListen", rc, err, allowed("LISTEN"), dead) {
                if let Some(x) = st.live.iter_mut().find(|x| x.s == s) {
                    x.listening = true;
                }
                // SAFETY: a zeroed plain C struct.
                let mut ls: WSPSAN_LISTENER_STATS = unsafe { std::mem::zeroed() };
                let mut e2 = SENTINEL;
                assert_eq!(unsafe { wspsan_device_listener_stats(s, &mut ls, &mut e2) }, 0);
                assert!(ls.queue_len <= ls.backlog && ls.backlog >= 1, "L5/L6");
                let ended = ls.accepted + ls.rejected + ls.reset + ls.withdrawn + ls.refused_by_close + ls.queue_len;
                assert_eq!(ls.queued, ended, "every queued request has one outcome (T2, D3)");
            }
        }
        Op::Connect { s, addr, caller, callee, qos } => {
            let (s, dead) = st.desc(s);
            if !dead {
                nonblocking(st, s);
            }
            let listeners = listener_addrs(st);
            let (name, len, mut argerr) = build_addr(st, &addr, &listeners);
            let mut caller_bytes;
            let mut caller_buf = WSABUF { len: 0, buf: null_mut() };
            if let Some((n, null)) = caller {
                let n = n % 600;
                caller_bytes = vec![7u8; n as usize];
                caller_buf =
                    WSABUF { len: n as ULONG, buf: if null { null_mut() } else { caller_bytes.as_mut_ptr().cast() } };
                if null && n > 0 && argerr == 0 {
                    argerr = WSAEFAULT;
                }
            }
            let mut callee_bytes;
            let mut callee_buf = WSABUF { len: 0, buf: null_mut() };
            let mut qos_ps;
            // SAFETY: a zeroed plain C struct.
            let mut q: QOS = unsafe { std::mem::zeroed() };
            if let Some((n, null)) = qos {
                let n = n % 300;
                qos_ps = vec![1u8; n as usize];
                q.ProviderSpecific =
                    WSABUF { len: n as ULONG, buf: if null { null_mut() } else { qos_ps.as_mut_ptr().cast() } };
                if null && n > 0 && argerr == 0 {
                    argerr = WSAEFAULT;
                }
            }
            if let Some((n, null)) = callee {
                let n = n % 600;
                callee_bytes = vec![0u8; n as usize];
                callee_buf =
                    WSABUF { len: n as ULONG, buf: if null { null_mut() } else { callee_bytes.as_mut_ptr().cast() } };
                if null && n > 0 && argerr == 0 {
                    argerr = WSAEFAULT;
                }
            }
            let before = callee_buf.len;
            let p = name.as_ref().map_or(null(), |v| v.as_ptr().cast());
            // X4: a listener, a connected socket or a pending connect fails whatever the arguments (C3).
            let state = match st.sock(s) {
                Some(x) if x.listening => Pre::Known(WSAEINVAL),
                Some(x) if x.accepted => Pre::Known(WSAEISCONN),
                Some(x) if x.attempted && connected(s) => Pre::Known(WSAEISCONN),
                // pending (WSAEALREADY), disconnected (WSAEISCONN) or answered and bound again
                Some(x) if x.attempted => Pre::Maybe(&[WSAEALREADY, WSAEISCONN]),
                _ => Pre::Passes,
            };
            let pre = st.before_args(dead, state);
            // SAFETY: every buffer is as long as its length says.
            let rc = unsafe {
                wspsan_WSPConnect(
                    s,
                    p,
                    len,
                    if caller.is_some() { &mut caller_buf } else { null_mut() },
                    if callee.is_some() { &mut callee_buf } else { null_mut() },
                    if qos.is_some() { &mut q } else { null_mut() },
                    null_mut(),
                    &mut err,
                )
            };
            if argerr != 0 && st.started > 0 {
                pre.check("WSPConnect", rc == SOCKET_ERROR, err, argerr);
            }
            descriptor_first(st, "WSPConnect", rc == 0, err, dead);
            if rc == 0 || err == WSAEWOULDBLOCK {
                if let Some(x) = st.sock_mut(s) {
                    x.attempted = true;
                }
            }
            check(st, "WSPConnect", rc, err, allowed("CONNECT"), dead);
            if rc != 0 {
                assert_eq!(callee_buf.len, before, "a failed connect wrote lpCalleeData (X3)");
            }
        }
        Op::Accept { s, addrlen, addr, cond } => {
            let (s, dead) = st.desc(s);
            if !dead {
                nonblocking(st, s);
            }
            let mut len_val = addrlen.unwrap_or(0);
            let bytes = if len_val < 0 {
                0
            } else if len_val > 64 {
                16
            } else {
                len_val as usize
            };
            let mut abuf = vec![0xAAu8; if addr { bytes.max(if addrlen.is_none() { 16 } else { 0 }) } else { 0 }];
            let ap = if addr { abuf.as_mut_ptr().cast() } else { null_mut() };
            let lp = if addrlen.is_some() { &raw mut len_val } else { null_mut() };
            let short = addr && addrlen.is_some_and(|l| l < 16);
            let with_cond = cond.is_some();
            let targets: Vec<SOCKET> = st.live.iter().map(|x| x.s).chain(st.dead.iter().copied()).take(8).collect();
            let mut limits: WSPSAN_LIMITS = WSPSAN_LIMITS::default();
            let mut e2 = SENTINEL;
            // SAFETY: a live local.
            unsafe { wspsan_device_get_limits(&mut limits, &mut e2) };
            COND.with(|c| *c.borrow_mut() = cond.map(|k| (k, targets, limits.max_callee_data)));
            COND_SEEN.set(None);
            let f: LPCONDITIONPROC = if with_cond { Some(condition) } else { None };
            // X4, A1: only a listener accepts, whatever the arguments.
            let listener = st.sock(s).filter(|x| x.listening).map(|x| x.mask);
            let pre = st.before_args(dead, if listener.is_some() { Pre::Passes } else { Pre::Known(WSAEINVAL) });
            // SAFETY: buffers as long as their lengths say.
            let r = unsafe { wspsan_WSPAccept(s, ap, lp, f, 0xC0FFEE, &mut err) };
            let seen = COND_SEEN.take();
            if short && st.started > 0 {
                pre.check("WSPAccept with *addrlen < 16 (A3)", r == INVALID_SOCKET, err, WSAEFAULT);
                assert_eq!(len_val, addrlen.unwrap(), "*addrlen unchanged (A3)");
            }
            descriptor_first(st, "WSPAccept", r != INVALID_SOCKET, err, dead);
            let ok = check_ok(st, "WSPAccept", r != INVALID_SOCKET, false, err, allowed("ACCEPT"), dead);
            if let Some((answer, g)) = seen {
                let accepted = answer == CF_ACCEPT && g == 0;
                if ok {
                    assert!(accepted, "accept succeeded after answer {answer} with *g {g} (A7 to A10)");
                } else if !accepted {
                    let may: &[c_int] = match (answer, g) {
                        (CF_REJECT, 0) => &[WSAECONNREFUSED, WSAEACCES],
                        // A9; the README: a connector that withdrew meanwhile (timed out) gives WSAEACCES.
                        (CF_DEFER, 0) => &[WSATRY_AGAIN, WSAEINTR, WSAEACCES],
                        _ => &[WSAEINVAL, WSAEACCES],
                    };
                    assert!(may.contains(&err), "answer {answer} with *g {g} gave {err} (A8 to A10)");
                }
            } else if ok {
                assert!(!with_cond, "accept succeeded without running its condition function (A5)");
            }
            if ok {
                let x = st.adopt(r, false);
                x.accepted = true;
                x.mask = listener.unwrap_or(0); // A7: the listener's selection
            }
        }
        Op::Close { s } => {
            let (s, dead) = st.desc(s);
            // SAFETY: plain values.
            let rc = unsafe { wspsan_WSPCloseSocket(s, &mut err) };
            descriptor_first(st, "WSPCloseSocket", rc == 0, err, dead);
            if check(st, "WSPCloseSocket", rc, err, &[], dead) {
                st.forget(s);
            }
        }
        Op::Name { s, peer, len, null_name, null_len } => {
            let (s, dead) = st.desc(s);
            let mut l = len;
            let bytes = if len < 0 {
                0
            } else if len > 64 {
                16
            } else {
                len as usize
            };
            let mut buf = vec![0x33u8; bytes];
            let np = if null_name { null_mut() } else { buf.as_mut_ptr().cast() };
            let lp = if null_len { null_mut() } else { &raw mut l };
            // X4: the socket and its state first (A15: unbound WSAEINVAL, not connected
            // WSAENOTCONN), as the same call with good buffers finds them; then WSAEFAULT.
            let bad = null_name || null_len || len < 16;
            let pre = st
                .before_args(dead, if bad { name_error(s, peer).map_or(Pre::Passes, Pre::Known) } else { Pre::Passes });
            // SAFETY: buffers as long as their lengths say.
            let rc = unsafe {
                if peer {
                    wspsan_WSPGetPeerName(s, np, lp, &mut err)
                } else {
                    wspsan_WSPGetSockName(s, np, lp, &mut err)
                }
            };
            if bad && st.started > 0 {
                pre.check("WSPGet*Name", rc == SOCKET_ERROR, err, WSAEFAULT);
            }
            descriptor_first(st, "WSPGet*Name", rc == 0, err, dead);
            if check(st, "WSPGet*Name", rc, err, &[allowed("SOCKNAME"), allowed("PEERNAME")].concat(), dead) {
                assert_eq!(l, 16);
            } else {
                assert_eq!(l, len, "failure changed *namelen (X3)");
                assert!(buf.iter().all(|b| *b == 0x33), "failure wrote name (X3)");
            }
        }
        Op::GetOpt { s, level, name, len, null_val, null_len } => {
            let (s, dead) = st.desc(s);
            let level = [WSPSAN_SOL_SOCKET, 1, 0, 6, -1][level as usize % 5];
            let name = [
                WSPSAN_SO_ACCEPTCONN,
                WSPSAN_SO_ERROR,
                WSPSAN_SO_TYPE,
                WSPSAN_SO_SNDBUF,
                WSPSAN_SO_RCVBUF,
                SO_CONNDATA,
                SO_CONNDATALEN,
                30,
                4,
                3,
                7,
                8,
                0,
                -1,
            ][name as usize % 14];
            let mut l = len;
            let bytes = if len < 0 {
                3
            } else if len > 4096 {
                4096
            } else {
                len as usize
            };
            let mut buf = vec![0x44u8; bytes];
            let vp = if null_val { null_mut() } else { buf.as_mut_ptr().cast() };
            let lp = if null_len { null_mut() } else { &raw mut l };
            // X4: the descriptor, then optlen, then the level (unknown: WSAEINVAL) and the option
            // (unknown at a known level: WSAENOPROTOOPT), then the buffer (WSAEFAULT).
            let (known, known_level) = option_known(level, name);
            let conndata = matches!(level, WSPSAN_SOL_SOCKET | 1) && name == SO_CONNDATA;
            let want = if null_len {
                WSAEFAULT
            } else if conndata {
                if len < 0 || (null_val && len > 0) { WSAEFAULT } else { 0 }
            } else if known {
                if null_val || len < 4 { WSAEFAULT } else { 0 }
            } else if known_level {
                WSAENOPROTOOPT
            } else {
                WSAEINVAL
            };
            let pre = st.before_args(dead, Pre::Passes);
            // SAFETY: buffers as long as their lengths say (4096 for a huge length: the most it can get).
            let rc = unsafe { wspsan_WSPGetSockOpt(s, level, name, vp, lp, &mut err) };
            if st.started > 0 {
                match pre {
                    Pre::Passes if want == 0 => assert_eq!((rc, err), (0, SENTINEL), "WSPGetSockOpt({level}, {name})"),
                    _ => pre.check("WSPGetSockOpt", rc == SOCKET_ERROR, err, want),
                }
            }
            if rc == 0 && known && SockOptName::of(level, name) == Some(SockOptName::Error) {
                // C2 (decided, as Windows): reading SO_ERROR does not clear it.
                let first = buf[..4].try_into().map(c_int::from_ne_bytes).expect("4 bytes");
                assert_eq!(int_option(s, level, name), Ok(first), "SO_ERROR read twice (C2)");
            }
            if check(st, "WSPGetSockOpt", rc, err, allowed("GETSOCKOPT"), dead) {
                assert!(l >= 0 && l as usize <= bytes, "*optlen within the buffer");
                assert!(buf[l as usize..].iter().all(|b| *b == 0x44), "wrote past *optlen");
            } else {
                assert_eq!(l, len, "failure changed *optlen (X3)");
                assert!(buf.iter().all(|b| *b == 0x44), "failure wrote optval (X3)");
            }
        }
        Op::SetOpt { s, level, name, len, value, null_val } => {
            let (s, dead) = st.desc(s);
            let level = [WSPSAN_SOL_SOCKET, 1, 0, -1][level as usize % 4];
            let name = [
                WSPSAN_SO_SNDBUF,
                WSPSAN_SO_RCVBUF,
                WSPSAN_SO_TYPE,
                WSPSAN_SO_ACCEPTCONN,
                7,
                8,
                30,
                0,
                WSPSAN_SO_ERROR,
                4,
            ][name as usize % 10];
            let bytes = if len < 0 {
                2
            } else if len > 64 {
                4
            } else {
                len as usize
            };
            let mut buf = vec![0u8; bytes];
            let n = bytes.min(4);
            buf[..n].copy_from_slice(&value.to_ne_bytes()[..n]);
            let vp = if null_val { null() } else { buf.as_ptr().cast() };
            // X4: the descriptor, then the int buffer of a known option (WSAEFAULT), then the level
            // (WSAEINVAL) and the option (WSAENOPROTOOPT); L8: read-only options WSAENOPROTOOPT, a
            // negative buffer size WSAEINVAL; C2: SO_ERROR takes any value (as Windows).
            let (known, known_level) = option_known(level, name);
            let want = match SockOptName::of(level, name) {
                Some(_) if null_val || len < 4 => WSAEFAULT,
                Some(SockOptName::Buffer) if value < 0 => WSAEINVAL,
                Some(SockOptName::Buffer | SockOptName::Error) => 0,
                Some(SockOptName::ReadOnly) => WSAENOPROTOOPT,
                None if known_level => WSAENOPROTOOPT,
                None => WSAEINVAL,
            };
            assert_eq!(known, SockOptName::of(level, name).is_some());
            let pre = st.before_args(dead, Pre::Passes);
            // SAFETY: a buffer as long as its length says (4 for a huge one: the most it reads).
            let rc = unsafe { wspsan_WSPSetSockOpt(s, level, name, vp, len, &mut err) };
            if st.started > 0 {
                match pre {
                    Pre::Passes if want == 0 => assert_eq!((rc, err), (0, SENTINEL), "WSPSetSockOpt({level}, {name})"),
                    _ => pre.check("WSPSetSockOpt", rc == SOCKET_ERROR, err, want),
                }
            }
            if rc == 0 && SockOptName::of(level, name) == Some(SockOptName::Error) {
                // C2: setting SO_ERROR stores the value, read back in the Windows numbering.
                assert_eq!(int_option(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR), Ok(value), "SO_ERROR as set (C2)");
            }
            check(st, "WSPSetSockOpt", rc, err, allowed("SETSOCKOPT"), dead);
        }
        Op::Ioctl { s, code, raw_code, in_len, on, out_len, null_ret, overlapped } => {
            let (s, dead) = st.desc(s);
            let code = match code % 6 {
                0 | 1 => WSPSAN_FIONBIO,
                2 => 0x5421,
                3 | 4 => SIO_ADDRESS_LIST_QUERY,
                _ => raw_code,
            };
            let mut inb = in_len.map(|n| {
                let mut v = vec![0u8; n as usize % 9];
                let k = v.len().min(4);
                v[..k].copy_from_slice(&on.to_ne_bytes()[..k]);
                v
            });
            let (ip, il) = inb.as_mut().map_or((null_mut(), 4), |v| (v.as_mut_ptr().cast(), v.len() as DWORD));
            let mut outb = vec![0u8; out_len as usize % 700];
            let mut ret: DWORD = 0xDEAD;
            // SAFETY: a zeroed plain C struct.
            let mut ov: WSAOVERLAPPED = unsafe { std::mem::zeroed() };
            // X4: the descriptor, then overlapped (WSAEOPNOTSUPP), then the code (WSAEINVAL), then
            // lpcbBytesReturned (WSAEFAULT for every code, FIONBIO too), then FIONBIO's u_long.
            let fionbio = code == WSPSAN_FIONBIO || code == 0x5421;
            let known_code = fionbio || code == SIO_ADDRESS_LIST_QUERY;
            let short_in = inb.as_ref().is_none_or(|v| v.len() < 4);
            let want = if overlapped {
                Some(WSAEOPNOTSUPP)
            } else if !known_code {
                Some(WSAEINVAL)
            } else if null_ret || (fionbio && short_in) {
                Some(WSAEFAULT)
            } else {
                None // the call itself decides
            };
            let pre = st.before_args(dead, Pre::Passes);
            // SAFETY: buffers as long as their lengths say.
            let rc = unsafe {
                wspsan_WSPIoctl(
                    s,
                    code,
                    ip,
                    il,
                    outb.as_mut_ptr().cast(),
                    outb.len() as DWORD,
                    if null_ret { null_mut() } else { &mut ret },
                    if overlapped { &mut ov } else { null_mut() },
                    None,
                    null_mut(),
                    &mut err,
                )
            };
            match (pre, want) {
                (_, Some(code)) if st.started > 0 => pre.check("WSPIoctl", rc == SOCKET_ERROR, err, code),
                (Pre::Known(code), None) if st.started > 0 => pre.check("WSPIoctl", rc == SOCKET_ERROR, err, code),
                _ => {}
            }
            descriptor_first(st, "WSPIoctl", rc == 0, err, dead);
            if check(st, "WSPIoctl", rc, err, allowed("IOCTL"), dead) {
                assert!(!null_ret, "WSPIoctl({code:#x}) succeeded without lpcbBytesReturned (X4)");
                assert!(
                    code == WSPSAN_FIONBIO || code == 0x5421 || code == SIO_ADDRESS_LIST_QUERY,
                    "unknown ioctl {code:#x} succeeded"
                );
            } else if !null_ret && !(code == SIO_ADDRESS_LIST_QUERY && err == WSAEFAULT) {
                assert_eq!(ret, 0xDEAD, "failure wrote *lpcbBytesReturned (X3)");
            }
        }
        Op::Select { s, ev, mask } => {
            let (s, dead) = st.desc(s);
            let h = pick_event(st, ev);
            // SAFETY: plain values.
            let rc = unsafe { wspsan_WSPEventSelect(s, h, mask, &mut err) };
            descriptor_first(st, "WSPEventSelect", rc == 0, err, dead);
            check(st, "WSPEventSelect", rc, err, allowed("EVENTSELECT"), dead || false);
            if rc == 0 {
                assert!(mask & !0x3ff == 0, "mask {mask:#x} accepted");
                if let Some(x) = st.sock_mut(s) {
                    x.mask = mask as u32;
                }
            }
        }
        Op::Enum { s, ev, null_out } => {
            let (s, dead) = st.desc(s);
            let h = pick_event(st, ev);
            // SAFETY: a zeroed plain C struct.
            let mut ne: WSANETWORKEVENTS = unsafe { std::mem::zeroed() };
            ne.iErrorCode = [0x7777_7777; 10];
            // SAFETY: NULL or a live local.
            let rc =
                unsafe { wspsan_WSPEnumNetworkEvents(s, h, if null_out { null_mut() } else { &mut ne }, &mut err) };
            descriptor_first(st, "WSPEnumNetworkEvents", rc == 0, err, dead);
            if check(st, "WSPEnumNetworkEvents", rc, err, allowed("ENUMNETWORKEVENTS"), dead) {
                let mask = st.sock(s).map_or(0x3ff, |x| x.mask);
                assert!(
                    ne.lNetworkEvents as u32 & !mask == 0,
                    "reported {:#x} with only {mask:#x} selected (E4: only selected events are reported)",
                    ne.lNetworkEvents
                );
                for b in 0..10 {
                    let reported = ne.lNetworkEvents & (1 << b) != 0;
                    assert_eq!(reported, ne.iErrorCode[b] != 0x7777_7777, "iErrorCode[{b}] written iff reported (E4)");
                }
            }
        }
        Op::Event { close } => match close {
            Some(i) if !st.events.is_empty() => {
                let h = st.events.remove(i as usize % st.events.len());
                // SAFETY: our own event.
                assert_eq!(unsafe { wspsan_WSACloseEvent(h) }, WSPSAN_TRUE);
            }
            Some(_) => {
                // SAFETY: values that are not ours to close: refused.
                assert_eq!(unsafe { wspsan_WSACloseEvent(null_mut()) }, WSPSAN_FALSE);
                assert_eq!(unsafe { wspsan_WSACloseEvent(usize::MAX as WSAEVENT) }, WSPSAN_FALSE);
            }
            None if st.events.len() < 8 => {
                let h = wspsan_WSACreateEvent();
                assert!(!h.is_null(), "WSACreateEvent");
                st.events.push(h);
            }
            None => {}
        },
        Op::Device { which, a, b } => {
            // SAFETY: live locals.
            unsafe {
                let rc = match which % 9 {
                    0 => wspsan_device_add_nic(pick_ip(a as u8).to_be(), &mut err),
                    1 => wspsan_device_remove_nic(pick_ip(a as u8).to_be(), &mut err),
                    2 => {
                        let mut l = WSPSAN_LIMITS::default();
                        wspsan_device_get_limits(&mut l, &mut err);
                        match a % 6 {
                            0 => l.max_backlog = (b % 10) as u32,
                            1 => l.max_caller_data = (b % 1025) as u32,
                            2 => l.max_callee_data = (b % 1025) as u32,
                            3 => l.max_descriptors = b % 100,
                            4 => l.max_pending = b % 10,
                            _ => l.connect_timeout_ms = 0,
                        }
                        wspsan_device_set_limits(&l, &mut err)
                    }
                    3 => wspsan_device_set_wildcard_bind((a % 2) as c_int, &mut err),
                    4 => {
                        st.down = a % 4 == 0;
                        wspsan_device_set_network_down(st.down as c_int, &mut err)
                    }
                    5 => wspsan_device_set_buffer_exhaustion((a % 4 == 0) as c_int, &mut err),
                    6 => wspsan_device_set_descriptor_limit(if a % 2 == 0 { -1 } else { (b % 64) as i64 }, &mut err),
                    7 => {
                        let mut ds = std::mem::zeroed::<WSPSAN_DEVICE_STATS>();
                        let rc = wspsan_device_stats(if a % 8 == 0 { null_mut() } else { &mut ds }, &mut err);
                        if rc == 0 {
                            assert_eq!(ds.open_sockets, st.live.len() as u64, "device_stats open sockets");
                        }
                        rc
                    }
                    _ => {
                        let (s, _) = st.desc(Desc::Live(a as u8));
                        let mut ls = std::mem::zeroed::<WSPSAN_LISTENER_STATS>();
                        wspsan_device_listener_stats(s, &mut ls, &mut err)
                    }
                };
                if rc == 0 {
                    assert_eq!(err, SENTINEL, "device call success wrote *lpErrno");
                } else {
                    assert!(rc == SOCKET_ERROR && known(err), "device call {which}: {rc}/{err}");
                }
            }
        }
        Op::SwitchHandle { s, null_out } => {
            let (s, dead) = st.desc(s);
            let mut out: SOCKET = 0xBAD;
            // SAFETY: NULL or a live local.
            let rc = unsafe { wspsan_switch_handle(s, if null_out { null_mut() } else { &mut out }, &mut err) };
            if check(st, "switch_handle", rc, err, allowed("SWITCH_HANDLE"), dead) && !st.sw_create {
                assert_eq!(out, s, "switch handle without WPUCreateSocketHandle is the descriptor (X5)");
            }
        }
        Op::Unsupported { which, s } => {
            let (s, _) = st.desc(s);
            let mut data: WSPDATA = unsafe { std::mem::zeroed() };
            let mut table: WSPPROC_TABLE = unsafe { std::mem::zeroed() };
            let up: WSPUPCALLTABLE = unsafe { std::mem::zeroed() };
            // SAFETY: live locals; a startup we undo right after (or that fails).
            let started = unsafe { wspsan_WSPStartup(0x0202, &mut data, null_mut(), up, &mut table) } == 0;
            if started {
                // SAFETY: the table's functions; pointers NULL (must not be read).
                let rc = unsafe {
                    match which % 4 {
                        0 => (table.lpWSPRecvDisconnect.unwrap())(s, null_mut(), &mut err),
                        1 => (table.lpWSPDuplicateSocket.unwrap())(s, 1, null_mut(), &mut err),
                        2 => (table.lpWSPCancelBlockingCall.unwrap())(&mut err),
                        _ => (table.lpWSPGetQOSByName.unwrap())(s, null_mut(), null_mut(), &mut err) - 1,
                    }
                };
                assert_eq!((rc, err), (SOCKET_ERROR, WSAEOPNOTSUPP), "unsupported table entry (X1)");
                let mut e2 = SENTINEL;
                assert_eq!(unsafe { wspsan_WSPCleanup(&mut e2) }, 0);
            }
        }
        Op::Startup { version, null_data, null_table, create, close, events, plan } => {
            startup(st, version, null_data, null_table, create, close, events, plan)
        }
        Op::Cleanup => cleanup(st),
        Op::LastError { len, null_buf, null_len } => {
            let len = len as usize % 300;
            let mut buf = vec![0x41u8; len];
            let mut out = 0usize;
            // SAFETY: a buffer of `len` bytes, or NULL.
            let rc = unsafe {
                wspsan_last_error_message(
                    if null_buf { null_mut() } else { buf.as_mut_ptr().cast() },
                    len,
                    if null_len { null_mut() } else { &mut out },
                )
            };
            if null_buf && len > 0 {
                assert_eq!(rc, WSAEFAULT);
            } else {
                assert_eq!(rc, 0);
                if len > 0 {
                    assert!(buf.contains(&0), "NUL-terminated within len");
                    let text = String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == 0).unwrap()]).into_owned();
                    assert!(!text.contains("panic"), "a panic was caught inside the library: {text}");
                }
            }
        }
        Op::Strerror { code } => {
            // SAFETY: a static C string.
            let m = unsafe { std::ffi::CStr::from_ptr(wspsan_strerror(code)) };
            assert!(!m.to_bytes().is_empty());
        }
        Op::Listener { backlog } => {
            // SAFETY: live locals.
            let s = unsafe { wspsan_WSPSocket(2, 1, 6, null_mut(), 0, 0, &mut err) };
            if !check_ok(st, "WSPSocket", s != INVALID_SOCKET, false, err, allowed("SOCKET"), false) {
                return;
            }
            st.adopt(s, false);
            let a = sockaddr_in(0x7f00_0001, 0);
            let rc = unsafe { wspsan_WSPBind(s, a.as_ptr().cast(), 16, &mut err) };
            if check(st, "WSPBind", rc, err, &[WSAEADDRNOTAVAIL, WSAENOBUFS], false) {
                let rc = unsafe { wspsan_WSPListen(s, backlog as c_int, &mut err) };
                if check(st, "WSPListen", rc, err, &[WSAEMFILE, WSAENOBUFS], false) {
                    st.live.last_mut().unwrap().listening = true;
                }
            }
        }
    }
}

fn pick_event(st: &State, ev: u8) -> WSAEVENT {
    match ev % 5 {
        0 | 1 if !st.events.is_empty() => st.events[ev as usize % st.events.len()],
        2 => null_mut(),
        3 => 1 as WSAEVENT, // stdout: not an eventfd
        _ => usize::MAX as WSAEVENT,
    }
}

/// Run one input: a sequence of calls from a clean provider, undone at the end. Panics (a failed
/// check) on any SPEC violation.
pub(crate) fn run_ops(ops: Vec<Op>) {
    reset();
    CREATES.set(0);
    let mut st = State {
        live: Vec::new(),
        dead: Vec::new(),
        events: Vec::new(),
        started: 0,
        down: false,
        sw_events: false,
        sw_create: false,
        plan: 0,
    };
    // Start most inputs (the ops may start more, or clean up).
    if ops.len() % 4 != 0 {
        startup(&mut st, 0x0202, false, false, ops.len() % 3 == 0, true, ops.len() % 5 == 0, ops.len() as u32 * 0x9E37);
    }
    for op in ops.into_iter().take(200) {
        if st.down && matches!(op, Op::Close { .. }) {
            let mut err = 0;
            // SAFETY: a live local.
            unsafe { wspsan_device_set_network_down(0, &mut err) };
            st.down = false;
        }
        run(op, &mut st);
    }
    let mut err = 0;
    // SAFETY: a live local.
    unsafe { wspsan_device_set_network_down(0, &mut err) };
    st.down = false;
    for s in std::mem::take(&mut st.live) {
        let mut err = SENTINEL;
        // SAFETY: plain values.
        let rc = unsafe { wspsan_WSPCloseSocket(s.s, &mut err) };
        assert_eq!((rc, err), (0, SENTINEL), "closing a live socket at the end");
    }
    for h in st.events.drain(..) {
        // SAFETY: our own event.
        assert_eq!(unsafe { wspsan_WSACloseEvent(h) }, WSPSAN_TRUE);
    }
    let _ = st.plan;
    reset();
}

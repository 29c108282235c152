/* tests/c/fuzz.c: a seeded random driver for every export of include/wspsan.h.
 *
 *   fuzz SEED COUNT      COUNT steps, or "<N>s" to run for N seconds
 *
 * Each step is one randomly chosen operation (socket, bind, listen, connect, accept, close,
 * names, options, ioctls, events, device control, diagnostics, startup/cleanup, the proc-table
 * entries the provider does not implement) with random arguments: descriptors that are live,
 * closed, made up, 0, INVALID_SOCKET or next to live ones; NULL pointers; buffers of exactly the
 * length the call is told (odd lengths: negative, 0, 15, huge); random backlogs, option levels
 * and names, ioctl codes, event masks and handles. Condition functions misbehave (random answers,
 * *g changed, callee-data length larger than offered, calls back into the provider, which must
 * fail with WSAEINPROGRESS: SPEC A14), and so do the switch's upcalls (failing, returning
 * duplicate handles, calling back into the provider); the upcalls the provider must never call
 * are traps.
 *
 * Every call is checked (SPEC X3, X4): it returns success or SOCKET_ERROR / INVALID_SOCKET /
 * FALSE with *lpErrno set to a code the SPEC allows for that call (a table per function below),
 * *lpErrno untouched on success, outputs untouched on failure, and no call on a closed or made-up
 * descriptor ever succeeds. Where the outcome is fully determined (not started: X2; inside a
 * condition function: A14; argument checks, made after the descriptor and the socket's state: X4;
 * option levels and names; ioctl codes; startup versions; device switches read back; the
 * effective backlog: L5; condition answers: A7 to A10; A3, A13) the exact result is checked.
 * Only selected events may be reported (E4), under the selection WSPEventSelect installs before
 * its signal's upcall can call back (E1; replayed once before the random steps, see
 * replay_select_reentry); SO_ERROR reads the same twice and reads back what was set (C2).
 *
 * Buffers live at the end of mmap'd pages followed by a PROT_NONE page: the library is Rust and
 * not instrumented by ASan, so a guard page (and canary bytes in the alignment gap) is what
 * catches an overread or overwrite past the length it was given. Fixed-size structures
 * (WSANETWORKEVENTS, QOS, WSPSAN_LIMITS, ...) are given at their full size, against a guard page.
 *
 * Blocking calls never hang: accept and connect are made on blocking sockets only when they
 * cannot wait (a queued request, or a short device connect timeout); otherwise FIONBIO first.
 * One operation (op_pair) uses a second thread: a blocking connect on the main thread answered by
 * a helper thread's accepts, so that blocking connects complete with callee data (C1, C2, C5).
 * A watchdog (alarm) fails the run with the call in progress if a step takes over 20 s.
 * At the end every socket and event is closed, WSPCleanup undoes every startup, the switch's
 * handles must all be closed, no file descriptor may be left open, and ASan's leak check runs at
 * exit. The run is deterministic from the seed (except the timing of device connect timeouts,
 * which fire on the provider's timer thread).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "wspsan.h"

void __sanitizer_print_stack_trace(void); /* ASan's: where a failure was found, with FUZZ_TRACE */

#define WATCHDOG_SECONDS 20
#define MAX_FAILURES 25

/* ------------------------------------------------------------------------------------------ */
/* Random numbers: splitmix64, one stream per thread (the main thread's comes from the seed).  */

static _Thread_local uint64_t rng_state = 0x243F6A8885A308D3u;

static uint64_t next64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}
static uint32_t below(uint32_t n) { return n ? (uint32_t)(next64() % n) : 0; }
static int pct(uint32_t p) { return below(100) < p; }
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(a) ((a)[below((uint32_t)COUNT(a))])

/* ------------------------------------------------------------------------------------------ */
/* The WSAE* codes the header defines, and the functions (for the per-code statistics).       */

enum {
    I_INTR, I_ACCES, I_FAULT, I_INVAL, I_MFILE, I_WOULDBLOCK, I_INPROGRESS, I_ALREADY, I_NOTSOCK,
    I_PROTOTYPE, I_NOPROTOOPT, I_PROTONOSUPPORT, I_SOCKTNOSUPPORT, I_OPNOTSUPP, I_AFNOSUPPORT,
    I_ADDRINUSE, I_ADDRNOTAVAIL, I_NETDOWN, I_CONNABORTED, I_CONNRESET, I_NOBUFS, I_ISCONN,
    I_NOTCONN, I_TIMEDOUT, I_CONNREFUSED, I_VERNOTSUPPORTED, I_NOTINITIALISED, I_TRY_AGAIN, NCODES
};
#define K(name) (1u << I_##name)

/* Each call's allowed codes, ALLOWED_SOCKET and so on: the table the cargo-fuzz driver reads too. */
#define ALLOWED(fn, set) ALLOWED_##fn = (set),
enum {
#include "../../fuzz/allowed_errors.h"
};
#undef ALLOWED

static const struct {
    int code;
    const char *name;
} CODES[NCODES] = {
    {WSAEINTR, "WSAEINTR"}, {WSAEACCES, "WSAEACCES"}, {WSAEFAULT, "WSAEFAULT"}, {WSAEINVAL, "WSAEINVAL"},
    {WSAEMFILE, "WSAEMFILE"}, {WSAEWOULDBLOCK, "WSAEWOULDBLOCK"}, {WSAEINPROGRESS, "WSAEINPROGRESS"},
    {WSAEALREADY, "WSAEALREADY"}, {WSAENOTSOCK, "WSAENOTSOCK"}, {WSAEPROTOTYPE, "WSAEPROTOTYPE"},
    {WSAENOPROTOOPT, "WSAENOPROTOOPT"}, {WSAEPROTONOSUPPORT, "WSAEPROTONOSUPPORT"},
    {WSAESOCKTNOSUPPORT, "WSAESOCKTNOSUPPORT"}, {WSAEOPNOTSUPP, "WSAEOPNOTSUPP"},
    {WSAEAFNOSUPPORT, "WSAEAFNOSUPPORT"}, {WSAEADDRINUSE, "WSAEADDRINUSE"}, {WSAEADDRNOTAVAIL, "WSAEADDRNOTAVAIL"},
    {WSAENETDOWN, "WSAENETDOWN"}, {WSAECONNABORTED, "WSAECONNABORTED"}, {WSAECONNRESET, "WSAECONNRESET"},
    {WSAENOBUFS, "WSAENOBUFS"}, {WSAEISCONN, "WSAEISCONN"}, {WSAENOTCONN, "WSAENOTCONN"},
    {WSAETIMEDOUT, "WSAETIMEDOUT"}, {WSAECONNREFUSED, "WSAECONNREFUSED"},
    {WSAVERNOTSUPPORTED, "WSAVERNOTSUPPORTED"}, {WSANOTINITIALISED, "WSANOTINITIALISED"},
    {WSATRY_AGAIN, "WSATRY_AGAIN"},
};

static int code_index(int code) {
    for (int i = 0; i < NCODES; i++)
        if (CODES[i].code == code) return i;
    return -1;
}

static uint32_t bit(int code) {
    int i = code_index(code);
    return i < 0 ? 0 : 1u << i;
}

static const char *code_name(int code) {
    int i = code_index(code);
    return i < 0 ? "(not a WSAE code)" : CODES[i].name;
}

enum fn {
    F_STARTUP, F_CLEANUP, F_SOCKET, F_BIND, F_LISTEN, F_CONNECT, F_ACCEPT, F_CLOSE, F_SOCKNAME, F_PEERNAME,
    F_GETOPT, F_SETOPT, F_IOCTL, F_SELECT, F_ENUM, F_CREATE_EVENT, F_CLOSE_EVENT, F_STRERROR, F_LAST_ERROR,
    F_VERSION, F_SWITCH_HANDLE, F_ADD_NIC, F_REMOVE_NIC, F_GET_LIMITS, F_SET_LIMITS, F_SET_TIMEOUT,
    F_SET_WILDCARD, F_SET_DOWN, F_SET_BUFEXH, F_SET_DESCLIMIT, F_GET_FAULTS, F_STATS, F_LSTATS,
    /* the proc-table entries the provider does not implement */
    F_T_ADDRTOSTR, F_T_ASYNCSELECT, F_T_CANCEL, F_T_DUPLICATE, F_T_OVERLAPPED, F_T_QOSBYNAME, F_T_JOINLEAF,
    F_T_RECV, F_T_RECVDISC, F_T_RECVFROM, F_T_SELECT, F_T_SEND, F_T_SENDDISC, F_T_SENDTO, F_T_SHUTDOWN,
    F_T_STRTOADDR, NFN
};

static const char *FN_NAMES[NFN] = {
    "WSPStartup", "WSPCleanup", "WSPSocket", "WSPBind", "WSPListen", "WSPConnect", "WSPAccept",
    "WSPCloseSocket", "WSPGetSockName", "WSPGetPeerName", "WSPGetSockOpt", "WSPSetSockOpt", "WSPIoctl",
    "WSPEventSelect", "WSPEnumNetworkEvents", "WSACreateEvent", "WSACloseEvent", "strerror",
    "last_error_message", "version", "switch_handle", "device_add_nic", "device_remove_nic",
    "device_get_limits", "device_set_limits", "device_set_connect_timeout", "device_set_wildcard_bind",
    "device_set_network_down", "device_set_buffer_exhaustion", "device_set_descriptor_limit",
    "device_get_faults", "device_stats", "device_listener_stats",
    "table.WSPAddressToString", "table.WSPAsyncSelect", "table.WSPCancelBlockingCall",
    "table.WSPDuplicateSocket", "table.WSPGetOverlappedResult", "table.WSPGetQOSByName", "table.WSPJoinLeaf",
    "table.WSPRecv", "table.WSPRecvDisconnect", "table.WSPRecvFrom", "table.WSPSelect", "table.WSPSend",
    "table.WSPSendDisconnect", "table.WSPSendTo", "table.WSPShutdown", "table.WSPStringToAddress",
};

/* Results by function: [NCODES] = success, [NCODES + 1] = NULL lpErrno, [NCODES + 2] = other. */
static atomic_ulong results[NFN][NCODES + 3];
static atomic_ulong calls_made;
static atomic_int failures;
static uint64_t g_seed;
static atomic_ulong g_step;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t main_thread;
static int is_main(void) { return pthread_equal(pthread_self(), main_thread); }

/* The function being called, for the watchdog's message. */
static const char *volatile g_current = "(none)";

static void fail(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&print_lock);
    fprintf(stderr, "FUZZ FAIL (seed %llu, step %lu, in %s): ", (unsigned long long)g_seed,
            (unsigned long)atomic_load(&g_step), g_current);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (getenv("FUZZ_TRACE")) __sanitizer_print_stack_trace();
    pthread_mutex_unlock(&print_lock);
    if (atomic_fetch_add(&failures, 1) + 1 >= MAX_FAILURES) {
        fprintf(stderr, "fuzz: too many failures, stopping\n");
        _exit(1);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Watchdog.                                                                                   */

static void put_str(const char *s) {
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void put_num(unsigned long long v) {
    char buf[32];
    int i = (int)sizeof buf;
    buf[--i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    put_str(buf + i);
}

static void on_alarm(int sig) {
    (void)sig;
    put_str("FUZZ FAIL: watchdog: a step took more than ");
    put_num(WATCHDOG_SECONDS);
    put_str(" s (a hang) in ");
    put_str(g_current);
    put_str(", seed ");
    put_num(g_seed);
    put_str(", step ");
    put_num(atomic_load(&g_step));
    put_str("\n");
    _exit(3);
}

/* ------------------------------------------------------------------------------------------ */
/* Guarded buffers: the last bytes of a few mmap'd pages, a PROT_NONE page right after them.   */

#define GB_DATA_PAGES 4
#define GB_SLOTS 20 /* per bank */
#define GB_BANKS 8  /* nesting depth 0..3 on the main thread, 4..7 on a helper thread */
enum { S_ERR, S_NAME, S_LEN, S_OPTVAL, S_IN, S_OUT, S_RET, S_CALLER_WSABUF, S_CALLER, S_CALLEE_WSABUF,
       S_CALLEE, S_QOS, S_QOS_PS, S_GQOS, S_EVENTS, S_STRUCT, S_DATA, S_TABLE, S_INFO, S_MISC };

static size_t page_size;
static unsigned char *gb_area[GB_BANKS][GB_SLOTS];
static _Thread_local int tl_bank_base;  /* 0 on the main thread, 4 on a helper */
static _Thread_local int tl_nest;       /* checked calls in progress on this thread */
static struct gb {
    unsigned char *p, *gap;
    size_t size, gapn;
} gb_state[GB_BANKS][GB_SLOTS];

static int bank(void) {
    int b = tl_bank_base + tl_nest;
    if (b >= GB_BANKS) b = GB_BANKS - 1;
    return b;
}

static size_t gb_capacity(void) { return GB_DATA_PAGES * page_size; }

/* A buffer of `size` bytes ending (after an alignment gap of canary bytes) at a guard page,
 * filled with a pattern. size 0 gives a pointer right at the guard page. */
static void *gbuf(int slot, size_t size, size_t align) {
    struct gb *g = &gb_state[bank()][slot];
    unsigned char *end = gb_area[bank()][slot] + gb_capacity();
    if (size > gb_capacity()) size = gb_capacity();
    uintptr_t start = ((uintptr_t)end - size) & ~(uintptr_t)(align - 1);
    g->p = (unsigned char *)start;
    g->size = size;
    g->gap = g->p + size;
    g->gapn = (size_t)(end - g->gap);
    for (size_t i = 0; i < size; i++) g->p[i] = (unsigned char)(0x40 + (i * 7) % 61);
    memset(g->gap, 0xA5, g->gapn);
    return g->p;
}

/* The canary bytes after the buffer are intact. */
static void gb_check(int slot, const char *what) {
    struct gb *g = &gb_state[bank()][slot];
    for (size_t i = 0; i < g->gapn; i++)
        if (g->gap[i] != 0xA5) {
            fail("%s: %zu-byte buffer overwritten %zu bytes past its end", what, g->size, i);
            return;
        }
}

static void gb_init(void) {
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    for (int b = 0; b < GB_BANKS; b++)
        for (int s = 0; s < GB_SLOTS; s++) {
            size_t len = (GB_DATA_PAGES + 1) * page_size;
            unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED || mprotect(m + GB_DATA_PAGES * page_size, page_size, PROT_NONE) != 0) {
                perror("mmap");
                exit(2);
            }
            gb_area[b][s] = m;
        }
}

static void gb_free(void) {
    for (int b = 0; b < GB_BANKS; b++)
        for (int s = 0; s < GB_SLOTS; s++) munmap(gb_area[b][s], (GB_DATA_PAGES + 1) * page_size);
}

/* ------------------------------------------------------------------------------------------ */
/* The model: what the driver knows about the provider.                                       */

enum { ST_CREATED, ST_BOUND, ST_LISTENING, ST_CONNECTED, ST_UNKNOWN };

struct sock {
    SOCKET s;
    SOCKET handle;          /* the switch's handle (create upcall), or s */
    int nb;                 /* known non-blocking */
    int st;                 /* ST_* as far as the driver knows */
    struct sockaddr_in addr; /* the bound address once known (port 0: not known) */
    LONG mask;              /* the events selected (an accepted socket starts with its listener's) */
};

#define POOL_MAX 512
#define POOL_TARGET 48
#define DEAD_MAX 64
#define NIC_MAX 16
#define EVENTS_MAX 10

static struct {
    int started;  /* startups in force */
    int closing;  /* inside the last WSPCleanup */
    int down, bufexh;
    int64_t desc_limit;
    WSPSAN_LIMITS limits;
    int wildcard;
    uint32_t nics[NIC_MAX]; /* network byte order */
    int nnics;
    int sw_create, sw_close, sw_events; /* the session's upcall table has them */
    DWORD catalog;
    int threaded; /* a helper thread runs: callbacks stay tame */
    WSPPROC_TABLE procs;
    int have_procs;
} M;

static struct sock pool[POOL_MAX];
static int npool;
static SOCKET dead[DEAD_MAX];
static int ndead;

/* Every descriptor ever returned: a closed one must never come back (SPEC section 0). */
static SOCKET *issued;
static size_t issued_cap, issued_len;

static size_t issued_slot(SOCKET s) {
    uint64_t h = (uint64_t)s * 0x9E3779B97F4A7C15u;
    return (size_t)(h >> 17) & (issued_cap - 1);
}

static int issued_has(SOCKET s) {
    if (!issued_cap) return 0;
    for (size_t i = issued_slot(s);; i = (i + 1) & (issued_cap - 1)) {
        if (issued[i] == 0) return 0;
        if (issued[i] == s) return 1;
    }
}

static void issued_add(SOCKET s) {
    if ((issued_len + 1) * 2 > issued_cap) {
        SOCKET *old = issued;
        size_t old_cap = issued_cap;
        issued_cap = old_cap ? old_cap * 2 : 4096;
        issued = calloc(issued_cap, sizeof *issued);
        issued_len = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) issued_add(old[i]);
        free(old);
    }
    size_t i = issued_slot(s);
    while (issued[i] != 0) i = (i + 1) & (issued_cap - 1);
    issued[i] = s;
    issued_len++;
}

static int pool_find(SOCKET s) {
    for (int i = 0; i < npool; i++)
        if (pool[i].s == s) return i;
    return -1;
}

static void set_mask(SOCKET s, LONG mask) {
    int i = pool_find(s);
    if (i >= 0) pool[i].mask = mask;
}

/* DS_LIMBO: being closed by a call in progress on this thread (a call back from its close upcall
 * finds it gone from the provider but not yet from the pool). */
enum { DS_NONE, DS_LIVE, DS_DEAD, DS_LIMBO };
static SOCKET closing_now[8];
static int nclosing_now;
static int dstate(SOCKET s) {
    for (int k = 0; k < nclosing_now; k++)
        if (closing_now[k] == s) return DS_LIMBO;
    return pool_find(s) >= 0 ? DS_LIVE : DS_DEAD;
}

static void mark_dead(SOCKET s) {
    int i = pool_find(s);
    if (i < 0) return;
    pool[i] = pool[--npool];
    dead[ndead < DEAD_MAX ? ndead++ : (int)below(DEAD_MAX)] = s;
}

/* The switch's handles: created by the create upcall, each closed exactly once (SPEC X5). */
#define HANDLES_MAX 4096
static pthread_mutex_t sw_lock = PTHREAD_MUTEX_INITIALIZER;
static SOCKET sw_open[HANDLES_MAX];
static int sw_nopen;
static SOCKET sw_next = 0x100000;
static struct {
    DWORD_PTR context;
    SOCKET handle;
} sw_recent[64];
static int sw_recent_pos;
static atomic_ulong up_calls[4]; /* create, close, set, reset */

static SOCKET handle_for(SOCKET s, int *found) {
    SOCKET h = s;
    *found = 0;
    pthread_mutex_lock(&sw_lock);
    for (int i = 0; i < 64; i++)
        if (sw_recent[i].context == (DWORD_PTR)s) {
            h = sw_recent[i].handle;
            *found = 1;
        }
    pthread_mutex_unlock(&sw_lock);
    return h;
}

/* A descriptor the provider just returned: valid, new, recorded. */
static void adopt(SOCKET s, int nb, int st, const char *from) {
    if (s == 0 || s == INVALID_SOCKET || s % 4 != 0)
        fail("%s returned descriptor %#llx (never 0 or INVALID_SOCKET; multiples of 4)", from,
             (unsigned long long)s);
    if (issued_has(s)) {
        fail("%s returned descriptor %#llx, which was returned before (descriptors are never reused)", from,
             (unsigned long long)s);
        return;
    }
    issued_add(s);
    if (npool >= POOL_MAX) {
        fail("pool full");
        return;
    }
    struct sock *p = &pool[npool++];
    memset(p, 0, sizeof *p);
    p->s = s;
    p->nb = nb;
    p->st = st;
    int found;
    p->handle = handle_for(s, &found);
    if (M.sw_create && !found) fail("%s: socket %#llx was created without a WPUCreateSocketHandle upcall", from,
                                    (unsigned long long)s);
    if (!M.sw_create) p->handle = s;
}

/* Event objects the driver owns: WSACreateEvent ones and raw eventfds (blocking and not). */
static WSAEVENT events[EVENTS_MAX];
static int nevents;
static intptr_t closed_events[8]; /* numbers closed before (may be reused by now) */
static int nclosed_events;
static int pipe_fds[2];
static long fd_limit;

/* ------------------------------------------------------------------------------------------ */
/* Checked calls.                                                                              */

#define SENTINEL 0x5EEDBEEF

struct call {
    int fn;
    int *lperr;
    int ds;            /* DS_NONE: no descriptor; else the descriptor's state before the call */
    SOCKET s;          /* the descriptor, for the trace */
    uint32_t allowed;  /* codes a live descriptor (or a call without one) may fail with */
    uint32_t argcheck; /* codes the argument checks may give before the descriptor is looked at */
    int wsp;           /* 1: WSP boundary (X2, A14, D2 rules); 2: unsupported table entry */
    int valid_args;    /* inside a condition the result is exactly INPROGRESS: the arguments are all
                          valid, or checked only after the entry checks (X4) */
    int downfails;     /* must fail while the device is down */
    int exact;         /* -1, or the exact result: 0 success, else the code */
    int down_before;   /* the device was down when the call began */
    uint32_t upcall_codes;
    int upcall_unknown;
    /* condition function bookkeeping (WSPAccept) */
    int cond_called, cond_ret, cond_g;
    struct sockaddr_in cond_caller;
    uint32_t cond_capacity;
    struct call *outer;
};

static _Thread_local struct call *tl_call;
static _Thread_local int tl_cond_depth; /* inside one of the driver's condition functions */

static int *errslot(int null_pct) {
    if (pct(null_pct)) return NULL;
    int *e = gbuf(S_ERR, sizeof(int), sizeof(int));
    *e = SENTINEL;
    return e;
}

static void begin(struct call *c, int fn, int *lperr) {
    memset(c, 0, sizeof *c);
    c->fn = fn;
    c->lperr = lperr;
    c->exact = -1;
    c->wsp = 1;
    c->downfails = 1;
    c->down_before = M.down;
    c->outer = tl_call;
    tl_call = c;
    tl_nest++;
    g_current = FN_NAMES[fn];
    atomic_fetch_add(&calls_made, 1);
}

static void count(int fn, int slot) { atomic_fetch_add(&results[fn][slot], 1); }

static int started_now(void) { return M.started > 0 && !M.closing; }

/* Whether this thread's last failure was a caught panic (SPEC X4: reported as WSAENETDOWN). */
static void check_no_panic(const char *fn) {
    char msg[512];
    size_t n = 0;
    if (wspsan_last_error_message(msg, sizeof msg, &n) == 0 && strstr(msg, "panic"))
        fail("%s: a panic was caught inside the library: %s", fn, msg);
}

/* Check the result of an int- (or BOOL-, or SOCKET-) returning call. `ok` is whether it
 * returned success, `bad_ret` whether the return value was neither success nor the failure
 * value. Returns 1 on success. */
static int g_trace;

static int end_call(struct call *c, int ok, int bad_ret, long long rc) {
    const char *fn = FN_NAMES[c->fn];
    if (g_trace)
        fprintf(stderr, "  [%lu]%*s %s(%#llx%s) -> %s\n", (unsigned long)atomic_load(&g_step), tl_nest * 2, "", fn,
                (unsigned long long)c->s, c->ds == DS_LIVE ? " live" : c->ds == DS_DEAD ? " dead" : c->ds == DS_LIMBO ? " closing" : "",
                ok ? "ok" : c->lperr ? code_name(*c->lperr) : "failed (NULL lpErrno)");
    tl_call = c->outer;
    tl_nest--;
    g_current = c->outer ? FN_NAMES[c->outer->fn] : "(between calls)";
    if (bad_ret) {
        fail("%s returned %lld: neither success nor the failure value", fn, rc);
        count(c->fn, NCODES + 2);
        return 0;
    }
    if (c->lperr == NULL) {
        count(c->fn, NCODES + 1);
        if (ok) fail("%s succeeded with a NULL lpErrno", fn);
        return ok;
    }
    int err = *c->lperr;
    if (ok) {
        count(c->fn, NCODES);
        if (err != SENTINEL) fail("%s succeeded but wrote %d to *lpErrno (SPEC X3)", fn, err);
    } else {
        int i = code_index(err);
        count(c->fn, i < 0 ? NCODES + 2 : i);
        if (i < 0) {
            fail("%s failed with %d, not a WSAE code the header defines (SPEC X3)", fn, err);
            return 0;
        }
    }
    /* What the call may give. */
    int in_cond = tl_cond_depth > 0;
    if (c->wsp && !started_now()) {
        if (ok || err != WSANOTINITIALISED)
            fail("%s before WSPStartup / after the last WSPCleanup gave %s, not WSANOTINITIALISED (SPEC X2)", fn,
                 ok ? "success" : code_name(err));
        return ok;
    }
    if (c->wsp && in_cond && c->valid_args) {
        if (ok || err != WSAEINPROGRESS)
            fail("%s from inside a condition function gave %s, not WSAEINPROGRESS (SPEC A14)", fn,
                 ok ? "success" : code_name(err));
        return ok;
    }
    if (c->exact >= 0) {
        if (c->exact == 0 ? !ok : (ok || err != c->exact))
            fail("%s gave %s, expected %s", fn, ok ? "success" : code_name(err),
                 c->exact ? code_name(c->exact) : "success");
        return ok;
    }
    uint32_t allowed = (c->ds == DS_DEAD) ? (K(NOTSOCK) | c->argcheck) : (c->allowed | c->argcheck);
    if (c->ds == DS_LIMBO) allowed |= K(NOTSOCK);
    if (c->wsp && in_cond) allowed |= K(INPROGRESS);
    if (c->wsp && (M.down || c->down_before)) allowed |= K(NETDOWN);
    allowed |= c->upcall_codes;
    if (c->upcall_unknown) allowed |= K(MFILE);
    if (ok) {
        if (c->ds == DS_DEAD) fail("%s succeeded on a closed or made-up descriptor (SPEC K1, X4)", fn);
        if (c->wsp == 1 && c->downfails && M.down && c->down_before) fail("%s succeeded while the device is down (SPEC D2)", fn);
        return 1;
    }
    if (err == WSAENETDOWN) check_no_panic(fn);
    if (!(allowed & bit(err)))
        fail("%s failed with %s, which the SPEC does not allow here (descriptor %s)", fn, code_name(err),
             c->ds == DS_DEAD ? "closed/made up" : c->ds == DS_LIVE ? "live" : c->ds == DS_LIMBO ? "closing" : "none");
    return 0;
}

static int end_int(struct call *c, int rc) {
    return end_call(c, rc == 0, rc != 0 && rc != SOCKET_ERROR, rc);
}

/* SPEC X4: what a WSP call on a descriptor gives when its arguments alone would give `argerr`
 * (0: success), once the entry checks passed (X2 and A14 are end_call's: inside a condition
 * function the result is WSAEINPROGRESS whatever the arguments): WSAENETDOWN with the device down
 * (D2), WSAENOTSOCK for a closed or made-up descriptor, then `state_err`, the error the socket's
 * state gives the call (0: none; -1: the model does not know the state), and only then argerr. */
static void expect_after_state(struct call *c, int argerr, int state_err) {
    c->valid_args = 1;
    if (M.down)
        c->exact = WSAENETDOWN;
    else if (c->ds == DS_DEAD)
        c->exact = WSAENOTSOCK;
    else if (c->ds == DS_LIMBO || state_err < 0)
        c->allowed |= bit(argerr); /* the allowed set has the state's codes */
    else
        c->exact = state_err ? state_err : argerr;
}

/* The error the state of live socket `s` gives `fn` whatever its arguments (SPEC X4, B1, C3, A1,
 * A15): 0 none, -1 not known to the model. */
static int state_error(int fn, SOCKET s) {
    int i = pool_find(s);
    if (i < 0) return -1;
    int st = pool[i].st;
    switch (fn) {
    case F_BIND: return st == ST_UNKNOWN ? -1 : st == ST_CREATED ? 0 : WSAEINVAL;
    case F_CONNECT:
        if (st == ST_LISTENING) return WSAEINVAL;
        if (st == ST_CONNECTED) return WSAEISCONN; /* or disconnected since: the same */
        return st == ST_UNKNOWN ? -1 : 0;
    case F_ACCEPT: return st == ST_LISTENING ? 0 : WSAEINVAL;
    case F_SOCKNAME: return st == ST_UNKNOWN ? -1 : st == ST_CREATED ? WSAEINVAL : 0;
    case F_PEERNAME: return st == ST_CONNECTED || st == ST_UNKNOWN ? -1 : WSAENOTCONN;
    default: return 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Random arguments.                                                                           */

static SOCKET live_socket(void) { return npool ? pool[below((uint32_t)npool)].s : (SOCKET)4; }

static SOCKET live_with(int st) {
    int idx[POOL_MAX], n = 0;
    for (int i = 0; i < npool; i++)
        if (pool[i].st == st) idx[n++] = i;
    return n ? pool[idx[below((uint32_t)n)]].s : live_socket();
}

/* A descriptor: mostly live, else closed, else made up (0, INVALID_SOCKET, near a live one). */
static SOCKET pick_desc(void) {
    uint32_t r = below(100);
    if (r < 72 && npool) return live_socket();
    if (r < 84 && ndead) return dead[below((uint32_t)ndead)];
    SOCKET l = live_socket();
    switch (below(12)) {
    case 0: return 0;
    case 1: return INVALID_SOCKET;
    case 2: return l + 1;
    case 3: return l + 4;
    case 4: return l - 4;
    case 5: return l ^ ((SOCKET)1 << 32);
    case 6: return l + ((SOCKET)1 << 20);
    case 7: return (SOCKET)below(64);
    case 8: return (SOCKET)next64();
    case 9: return (SOCKET)INT_MAX;
    case 10: return INVALID_SOCKET - 3;
    default: return l + 2;
    }
}

static uint32_t pick_ip(void) {
    uint32_t r = below(100);
    if (r < 50) return htonl(INADDR_LOOPBACK);
    if (r < 62) return 0;
    if (r < 80 && M.nnics) return M.nics[below((uint32_t)M.nnics)];
    if (r < 92) {
        static const char *ips[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "127.0.0.2", "192.0.2.7", "255.255.255.255"};
        struct in_addr a;
        inet_pton(AF_INET, PICK(ips), &a);
        return a.s_addr;
    }
    return (uint32_t)next64();
}

static uint16_t pick_port(void) {
    uint32_t r = below(100);
    if (r < 40) return 0;
    if (r < 85) return htons((uint16_t)(5000 + below(8)));
    return (uint16_t)next64();
}

/* An address argument (sockaddr *, namelen) with odd lengths and families. When `target` is set,
 * the address is that (a listener's). Returns the pointer (NULL sometimes) and sets *len.
 * *expect_err: the argument check's result (0: passes; WSAEFAULT; WSAEAFNOSUPPORT). */
/* 127.0.0.1, port 0: what the replays bind their listener to. */
static struct sockaddr_in loopback_port0(void) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static struct sockaddr *pick_name(const struct sockaddr_in *target, int *len, int *expect_err) {
    static const int odd[] = {-1, 0, 1, 8, 15, 17, 28, 128, INT_MAX, INT_MIN};
    int namelen = pct(92) ? (int)sizeof(struct sockaddr_in) : PICK(odd);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    if (target) {
        a = *target;
    } else {
        a.sin_addr.s_addr = pick_ip();
        a.sin_port = pick_port();
    }
    a.sin_family = AF_INET;
    if (pct(8)) {
        static const int fams[] = {0, AF_INET6, AF_UNIX, 0xffff, 23, 3};
        a.sin_family = (sa_family_t)PICK(fams);
    }
    *len = namelen;
    if (pct(3)) {
        *expect_err = WSAEFAULT;
        return NULL;
    }
    size_t bytes = namelen < 0 ? 0 : namelen > 128 ? sizeof a : (size_t)namelen;
    unsigned char *p = gbuf(S_NAME, bytes, 1);
    memcpy(p, &a, bytes < sizeof a ? bytes : sizeof a);
    if (namelen < (int)sizeof a)
        *expect_err = WSAEFAULT;
    else if (a.sin_family != AF_INET)
        *expect_err = WSAEAFNOSUPPORT;
    else
        *expect_err = 0;
    return (struct sockaddr *)p;
}

/* A WSABUF with `len` bytes behind it (or a NULL buf). *bad: NULL buf with a length. */
static WSABUF *pick_wsabuf(int wslot, int bslot, const ULONG *lens, size_t nlens, int *bad) {
    WSABUF *w = gbuf(wslot, sizeof(WSABUF), sizeof(void *));
    w->len = lens[below((uint32_t)nlens)];
    *bad = 0;
    if (pct(4)) {
        w->buf = NULL;
        *bad = w->len != 0;
    } else {
        w->buf = gbuf(bslot, w->len, 1);
    }
    return w;
}

static QOS *pick_qos(int slot, int ps_slot, int *bad) {
    QOS *q = gbuf(slot, sizeof(QOS), sizeof(void *));
    static const ULONG lens[] = {0, 1, 17, 300};
    uint32_t *words = (uint32_t *)q;
    for (size_t i = 0; i < 16; i++) words[i] = (uint32_t)next64();
    q->ProviderSpecific.len = PICK(lens);
    *bad = 0;
    if (pct(5)) {
        q->ProviderSpecific.buf = NULL;
        *bad = q->ProviderSpecific.len != 0;
    } else {
        q->ProviderSpecific.buf = gbuf(ps_slot, q->ProviderSpecific.len, 1);
    }
    return q;
}

/* ------------------------------------------------------------------------------------------ */
/* Operations. Each makes one checked call (some make a few), updating the model.              */

static void op_any(int depth);
static void set_nonblocking_for(SOCKET s);
static int nic_index(uint32_t a);
static int condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR cb);
static void trap_completion(DWORD a, DWORD b, LPWSAOVERLAPPED o, DWORD f);
static int listener_queue_len(SOCKET s);

static void op_socket(void) {
    static const int afs[] = {AF_INET, AF_INET, AF_INET, AF_INET6, 0, -1, 1, 0x7fffffff};
    static const int types[] = {SOCK_STREAM, SOCK_STREAM, SOCK_STREAM, SOCK_DGRAM, 0, -1, 5};
    static const int protos[] = {0, IPPROTO_TCP, 0, IPPROTO_TCP, IPPROTO_UDP, -1, 255};
    int af = pct(85) ? AF_INET : PICK(afs), type = pct(85) ? SOCK_STREAM : PICK(types);
    int proto = pct(85) ? (pct(50) ? 0 : IPPROTO_TCP) : PICK(protos);
    WSAPROTOCOL_INFOW *info = NULL;
    if (pct(15)) {
        info = gbuf(S_INFO, sizeof *info, 8);
        info->iAddressFamily = pct(80) ? AF_INET : PICK(afs);
        info->iSocketType = pct(80) ? SOCK_STREAM : PICK(types);
        info->iProtocol = PICK(protos);
        info->dwCatalogEntryId = (DWORD)next64();
    }
    if (pct(10)) af = FROM_PROTOCOL_INFO;
    if (pct(10)) type = FROM_PROTOCOL_INFO;
    if (pct(10)) proto = FROM_PROTOCOL_INFO;
    int *e = errslot(2);
    struct call c;
    begin(&c, F_SOCKET, e);
    c.ds = DS_NONE;
    c.allowed = ALLOWED_SOCKET;
    /* S1, in the order the arguments are taken: the FROM_PROTOCOL_INFO pointer, af, type, protocol. */
    int eaf = af, etype = type, eproto = proto, argerr = 0;
    if ((af == FROM_PROTOCOL_INFO || type == FROM_PROTOCOL_INFO || proto == FROM_PROTOCOL_INFO) && !info)
        argerr = WSAEFAULT;
    if (info) {
        if (af == FROM_PROTOCOL_INFO) eaf = info->iAddressFamily;
        if (type == FROM_PROTOCOL_INFO) etype = info->iSocketType;
        if (proto == FROM_PROTOCOL_INFO) eproto = info->iProtocol;
    }
    if (!argerr) {
        if (eaf != AF_INET) argerr = WSAEAFNOSUPPORT;
        else if (etype != SOCK_STREAM) argerr = WSAESOCKTNOSUPPORT;
        else if (eproto != 0 && eproto != IPPROTO_TCP) argerr = WSAEPROTONOSUPPORT;
    }
    /* The FROM_PROTOCOL_INFO pointer is checked before the engine; af, type and protocol after its
     * entry checks (A14 re-entry, D2 device down). */
    c.valid_args = argerr != WSAEFAULT;
    if (argerr == WSAEFAULT) c.exact = WSAEFAULT;
    else if (argerr) c.exact = M.down ? WSAENETDOWN : argerr;
    SOCKET s = M.have_procs && pct(30) ? M.procs.lpWSPSocket(af, type, proto, info, (GROUP)next64(), (DWORD)next64(), e)
                                       : wspsan_WSPSocket(af, type, proto, info, (GROUP)next64(), (DWORD)next64(), e);
    if (end_call(&c, s != INVALID_SOCKET, 0, (long long)s)) adopt(s, 0, ST_CREATED, "WSPSocket");
    if (info) gb_check(S_INFO, "WSPSocket lpProtocolInfo");
}

static void op_bind(void) {
    SOCKET s = pick_desc();
    int len, argerr;
    struct sockaddr *name = pick_name(NULL, &len, &argerr);
    struct sockaddr_in want;
    if (name && len >= 16) memcpy(&want, name, sizeof want);
    int *e = errslot(2);
    struct call c;
    begin(&c, F_BIND, e);
    c.ds = dstate(s);
    c.s = s;
    c.allowed = ALLOWED_BIND;
    c.valid_args = 1;
    if (argerr) expect_after_state(&c, argerr, state_error(F_BIND, s)); /* B1 after X4 */
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPBind(s, name, len, e) : wspsan_WSPBind(s, name, len, e);
    if (end_int(&c, rc)) {
        int i = pool_find(s);
        if (i >= 0) {
            pool[i].st = ST_BOUND;
            pool[i].addr = want;
            /* learn the port it got */
            struct sockaddr_in got;
            int glen = sizeof got, err = SENTINEL;
            if (wspsan_WSPGetSockName(s, (struct sockaddr *)&got, &glen, &err) == 0) {
                if (want.sin_port && got.sin_port != want.sin_port) fail("WSPBind: bound to another port");
                if (got.sin_addr.s_addr != want.sin_addr.s_addr) fail("WSPBind: bound to another address");
                pool[i].addr = got;
            }
        }
    }
    if (name) gb_check(S_NAME, "WSPBind name");
}

/* SPEC L5, as the provider computes the effective backlog. */
static uint64_t effective_backlog(int b, uint32_t max) {
    if (max == 0) max = 1;
    if (b == WSPSAN_SOMAXCONN || b == SOMAXCONN) return max;
    if (b < 0) {
        uint64_t n = b == INT_MIN ? 2147483648u : (uint64_t)(-(int64_t)b);
        if (n < 200) n = 200;
        if (n > 65535) n = 65535;
        return n < max ? n : max;
    }
    if (b == 0) return 1;
    return (uint64_t)b < max ? (uint64_t)b : max;
}

static void op_listen(void) {
    static const int backlogs[] = {0, 1, 2, 3, 5, 16, 100, -1, -5, -200, -1000, -100000, SOMAXCONN,
                                   WSPSAN_SOMAXCONN, INT_MIN, INT_MAX, 4095, 4097};
    SOCKET s = pct(60) ? live_with(ST_BOUND) : pct(50) ? live_with(ST_LISTENING) : pick_desc();
    int backlog = pct(80) ? PICK(backlogs) : (int)next64();
    int *e = errslot(2);
    struct call c;
    begin(&c, F_LISTEN, e);
    c.ds = dstate(s);
    c.s = s;
    c.valid_args = 1;
    c.allowed = ALLOWED_LISTEN;
    int i = pool_find(s);
    if (i >= 0 && c.ds == DS_LIVE && !M.down && started_now() && !tl_cond_depth) {
        if (pool[i].st == ST_CREATED) c.exact = WSAEINVAL;      /* L2 */
        if (pool[i].st == ST_CONNECTED) c.exact = WSAEISCONN;   /* L3 */
    }
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPListen(s, backlog, e) : wspsan_WSPListen(s, backlog, e);
    if (end_int(&c, rc)) {
        i = pool_find(s);
        if (i >= 0) pool[i].st = ST_LISTENING;
        /* L5, L6: the effective backlog is the latest one. */
        WSPSAN_LISTENER_STATS st;
        int err = SENTINEL;
        if (i < 0) {
            /* closed meanwhile by a call back from an upcall */
        } else if (wspsan_device_listener_stats(s, &st, &err) != 0)
            fail("device_listener_stats on a listener failed with %s", code_name(err));
        else if (st.backlog != effective_backlog(backlog, M.limits.max_backlog))
            fail("WSPListen(%d) with max_backlog %u: effective backlog %llu, expected %llu (SPEC L5)", backlog,
                 M.limits.max_backlog, (unsigned long long)st.backlog,
                 (unsigned long long)effective_backlog(backlog, M.limits.max_backlog));
        else if (st.queue_len > st.backlog)
            fail("listener queue %llu above its backlog %llu (SPEC L6)", (unsigned long long)st.queue_len,
                 (unsigned long long)st.backlog);
    }
}

/* A target for connect: mostly a listener's address. */
static int listener_target(struct sockaddr_in *out) {
    int idx[POOL_MAX], n = 0;
    for (int i = 0; i < npool; i++)
        if (pool[i].st == ST_LISTENING && pool[i].addr.sin_port) idx[n++] = i;
    if (!n) return 0;
    *out = pool[idx[below((uint32_t)n)]].addr;
    out->sin_family = AF_INET;
    if (out->sin_addr.s_addr == 0) out->sin_addr.s_addr = M.nnics && pct(80) ? M.nics[below((uint32_t)M.nnics)] : 0;
    return 1;
}

static void op_connect(void) {
    SOCKET s = pct(70) ? live_with(pct(70) ? ST_CREATED : ST_BOUND) : pick_desc();
    struct sockaddr_in target;
    int have_target = pct(75) && listener_target(&target);
    int i = pool_find(s);
    /* Never a blocking wait without an end: FIONBIO first unless a short connect timeout is set. */
    if (i >= 0 && !pool[i].nb && !(M.limits.connect_timeout_ms >= 1 && M.limits.connect_timeout_ms <= 30))
        set_nonblocking_for(s);
    int len, argerr;
    struct sockaddr *name = pick_name(have_target ? &target : NULL, &len, &argerr);
    static const ULONG caller_lens[] = {0, 1, 5, 16, 16, 100, 255, 256, 257, 4096};
    static const ULONG callee_lens[] = {0, 1, 16, 256, 1000};
    int bad;
    WSABUF *caller = NULL, *callee = NULL;
    QOS *sqos = NULL, *gqos = NULL;
    if (pct(60)) {
        caller = pick_wsabuf(S_CALLER_WSABUF, S_CALLER, caller_lens, COUNT(caller_lens), &bad);
        if (bad && !argerr) argerr = WSAEFAULT;
    }
    if (pct(30)) {
        sqos = pick_qos(S_QOS, S_QOS_PS, &bad);
        if (bad && !argerr) argerr = WSAEFAULT;
    }
    if (pct(50)) {
        callee = pick_wsabuf(S_CALLEE_WSABUF, S_CALLEE, callee_lens, COUNT(callee_lens), &bad);
        if (bad && !argerr) argerr = WSAEFAULT;
    }
    if (pct(15)) gqos = pick_qos(S_GQOS, S_MISC, &bad); /* ignored by the provider */
    WSABUF callee_before;
    unsigned char callee_bytes[1000];
    if (callee) {
        callee_before = *callee;
        if (callee->buf) memcpy(callee_bytes, callee->buf, callee->len);
    }
    int *e = errslot(2);
    struct call c;
    begin(&c, F_CONNECT, e);
    c.ds = dstate(s);
    c.s = s;
    c.valid_args = 1;
    /* This driver's connects also meet connect timeouts, closes and interrupts from its other
     * threads. */
    c.allowed = ALLOWED_CONNECT | K(TIMEDOUT) | K(CONNRESET) | K(INTR);
    if (argerr) expect_after_state(&c, argerr, state_error(F_CONNECT, s)); /* C3 after X4 */
    /* While the connect runs (its upcalls may call back), the socket may be bound and connecting. */
    int st_before = -1;
    i = pool_find(s);
    if (i >= 0 && (pool[i].st == ST_CREATED || pool[i].st == ST_BOUND)) {
        st_before = pool[i].st;
        pool[i].st = ST_UNKNOWN;
    }
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPConnect(s, name, len, caller, callee, sqos, gqos, e)
                                     : wspsan_WSPConnect(s, name, len, caller, callee, sqos, gqos, e);
    int ok = end_int(&c, rc);
    if (callee) {
        if (!ok && (callee->len != callee_before.len || callee->buf != callee_before.buf ||
                    (callee->buf && memcmp(callee->buf, callee_bytes, callee->len) != 0)))
            fail("WSPConnect failed but wrote lpCalleeData (SPEC X3)");
        if (ok && callee->len > callee_before.len) fail("WSPConnect: callee data len grew past the buffer (SPEC C5)");
        if (callee->buf) gb_check(S_CALLEE, "WSPConnect callee data");
    }
    if (caller && caller->buf) gb_check(S_CALLER, "WSPConnect caller data");
    if (name) gb_check(S_NAME, "WSPConnect name");
    i = pool_find(s);
    int early = e && !ok && (*e == WSAEFAULT || *e == WSAEAFNOSUPPORT || *e == WSANOTINITIALISED ||
                             *e == WSAEINPROGRESS || (*e == WSAENETDOWN && c.down_before));
    /* Unless it failed before touching the socket, it may be bound implicitly (C4), connecting or
     * connected now. */
    if (i >= 0 && st_before >= 0 && !ok && early && pool[i].st == ST_UNKNOWN) pool[i].st = st_before;
}

/* The condition function: checks its arguments (SPEC A5), misbehaves, calls back (A14). */
static int condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    struct call *c = tl_call;
    if (!c || c->fn != F_ACCEPT) {
        fail("condition function called outside WSPAccept");
        return CF_REJECT;
    }
    if (cb != (DWORD_PTR)c) fail("condition: dwCallbackData %#llx, not the value given (SPEC A5)", (unsigned long long)cb);
    c->cond_called++;
    if (!caller_id || caller_id->len != 16 || !caller_id->buf) {
        fail("condition: lpCallerId is not a WSABUF over a sockaddr_in (SPEC A5)");
    } else {
        memcpy(&c->cond_caller, caller_id->buf, 16);
        if (c->cond_caller.sin_family != AF_INET) fail("condition: lpCallerId family %d", c->cond_caller.sin_family);
    }
    if (!callee_id || callee_id->len != 16 || !callee_id->buf) {
        fail("condition: lpCalleeId is not a WSABUF over a sockaddr_in (SPEC A5)");
    } else {
        struct sockaddr_in l;
        memcpy(&l, callee_id->buf, 16);
        if (l.sin_family != AF_INET || l.sin_port == 0) fail("condition: lpCalleeId is not a local address");
    }
    if (gqos) fail("condition: lpGQOS is not NULL (SPEC A5)");
    if (!g || *g != 0) fail("condition: g is NULL or does not hold 0 (SPEC A5)");
    if (!callee_data) {
        fail("condition: lpCalleeData is NULL (SPEC A5)");
    } else if (callee_data->len != c->cond_capacity) {
        fail("condition: lpCalleeData->len %u, the device's callee-data maximum is %u (SPEC A5)", callee_data->len,
             c->cond_capacity);
    } else if (callee_data->len && !callee_data->buf) {
        fail("condition: lpCalleeData->buf is NULL with len %u", callee_data->len);
    }
    if (caller_data && (caller_data->len == 0 || !caller_data->buf || caller_data->len > 4096))
        fail("condition: lpCallerData is not NULL and not data (len %u)", caller_data->len);
    if (sqos && sqos->ProviderSpecific.len && !sqos->ProviderSpecific.buf)
        fail("condition: lpSQOS->ProviderSpecific.buf NULL with len %u", sqos->ProviderSpecific.len);
    /* Touch every byte we were given (reads and writes: the buffers are writable, as on Windows). */
    volatile unsigned sum = 0;
    if (caller_id && caller_id->buf)
        for (ULONG i = 0; i < caller_id->len; i++) sum += (unsigned char)caller_id->buf[i];
    if (caller_data && caller_data->buf)
        for (ULONG i = 0; i < caller_data->len; i++) caller_data->buf[i] ^= (char)sum;
    if (sqos) {
        sqos->SendingFlowspec.TokenRate ^= 1;
        for (ULONG i = 0; i < sqos->ProviderSpecific.len && sqos->ProviderSpecific.buf; i++)
            sum += (unsigned char)sqos->ProviderSpecific.buf[i];
    }
    if (callee_id && callee_id->buf && pct(10)) memset(callee_id->buf, 0x5A, callee_id->len);
    if (callee_data && callee_data->buf) {
        ULONG n = below(callee_data->len + 1);
        for (ULONG i = 0; i < n; i++) callee_data->buf[i] = (char)('a' + i % 26);
    }
    if (callee_data) {
        static const ULONG lens[] = {0, 1, 7, 256, 257, 1024, UINT32_MAX};
        ULONG cap = callee_data->len;
        callee_data->len = pct(60) ? below(cap + 1) : pct(50) ? cap + 1 + below(4) : PICK(lens);
    }
    /* A14: calling back into the provider fails with WSAEINPROGRESS. */
    tl_cond_depth++;
    int n = (int)below(3);
    for (int k = 0; k < n; k++) op_any(-1);
    if (is_main() && !M.threaded && pct(5)) op_any(-2); /* a device control call from inside */
    tl_cond_depth--;
    static const int answers[] = {CF_ACCEPT, CF_ACCEPT, CF_ACCEPT, CF_REJECT, CF_DEFER, 3, -1, INT_MIN, 42};
    int ret = PICK(answers);
    if (pct(6) && g) *g = (GROUP)(1 + below(1000)); /* A10 */
    c->cond_ret = ret;
    c->cond_g = g ? (int)*g : 0;
    return ret;
}

static void op_accept(void) {
    SOCKET s = pct(80) ? live_with(ST_LISTENING) : pick_desc();
    int i = pool_find(s);
    int nb_before = i >= 0 ? pool[i].nb : 0;
    /* A blocking accept only when a request is queued (it cannot wait then), and never from inside
     * another call: queue_len counts a request that an accept in progress on this thread is
     * examining, and waiting for it would wait for ourselves. */
    if (i >= 0 && !pool[i].nb && !(tl_nest == 0 && pool[i].st == ST_LISTENING && listener_queue_len(s) > 0)) {
        set_nonblocking_for(s);
        i = pool_find(s);
        nb_before = i >= 0 ? pool[i].nb : 0;
    }
    struct sockaddr *addr = NULL;
    int *addrlen = NULL, addrlen_in = 0;
    uint32_t shape = below(10);
    if (shape < 6) { /* both given */
        static const int lens[] = {16, 16, 16, 16, 16, 16, 16, 16, 17, 64, INT_MAX, 15, 8, 0, -1, INT_MIN};
        addrlen_in = PICK(lens);
        addrlen = gbuf(S_LEN, sizeof(int), sizeof(int));
        *addrlen = addrlen_in;
        size_t bytes = addrlen_in < 0 ? 0 : addrlen_in > 64 ? 16 : (size_t)addrlen_in;
        addr = gbuf(S_NAME, bytes, 4);
    } else if (shape < 7) { /* addr without addrlen: allowed, untouched (A4) */
        addr = gbuf(S_NAME, 16, 4);
    } else if (shape < 8) {
        addrlen = gbuf(S_LEN, sizeof(int), sizeof(int));
        *addrlen = addrlen_in = (int)below(40) - 4;
    }
    unsigned char addr_before[16];
    if (addr) memcpy(addr_before, addr, addrlen_in >= 16 || !addrlen ? 16 : (size_t)(addrlen_in > 0 ? addrlen_in : 0));
    LPCONDITIONPROC cond = pct(80) ? condition : NULL;
    int *e = errslot(2);
    struct call c;
    begin(&c, F_ACCEPT, e);
    c.ds = dstate(s);
    c.s = s;
    c.valid_args = 1;
    c.cond_capacity = M.limits.max_callee_data;
    c.allowed = ALLOWED_ACCEPT;
    int short_len = addr && addrlen && addrlen_in < 16;
    /* A3: before anything leaves the queue, but after the descriptor and the state (X4, A1). */
    if (short_len) expect_after_state(&c, WSAEFAULT, state_error(F_ACCEPT, s));
    int li = pool_find(s);
    LONG listener_mask = li >= 0 ? pool[li].mask : 0;
    SOCKET r = M.have_procs && pct(30) ? M.procs.lpWSPAccept(s, addr, addrlen, cond, (DWORD_PTR)&c, e)
                                       : wspsan_WSPAccept(s, addr, addrlen, cond, (DWORD_PTR)&c, e);
    int err = e ? *e : 0;
    int ok = end_call(&c, r != INVALID_SOCKET, 0, (long long)r);
    /* A7 to A10 against what the condition answered. */
    if (c.cond_called > 1) fail("WSPAccept ran the condition function %d times", c.cond_called);
    if (ok && cond && !c.cond_called) fail("WSPAccept succeeded without running the condition function (A5)");
    if (c.cond_called && e) {
        int accepted = c.cond_ret == CF_ACCEPT && c.cond_g == 0;
        uint32_t may;
        if (accepted)
            may = K(MFILE) | K(NOBUFS) | K(ACCES) | K(INTR) | c.upcall_codes | (c.upcall_unknown ? K(MFILE) : 0);
        else if (c.cond_ret == CF_REJECT && c.cond_g == 0)
            may = K(CONNREFUSED) | K(ACCES); /* A8; A12 when the connector withdrew meanwhile */
        else if (c.cond_ret == CF_DEFER && c.cond_g == 0)
            may = K(TRY_AGAIN) | K(INTR) | K(ACCES); /* A9; README: a connector that withdrew meanwhile */
        else
            may = K(INVAL) | K(ACCES); /* A10 */
        if (ok ? !accepted : !(may & bit(err)))
            fail("WSPAccept: the condition answered %d with *g = %d, the accept gave %s (SPEC A7 to A10)",
                 c.cond_ret, c.cond_g, ok ? "success" : code_name(err));
    }
    if (addr && addrlen && !short_len && e) {
        /* A13: written for every request taken off the queue; MFILE and NOBUFS (and the create
         * upcall's codes) come both before and after a request is taken. */
        int examined = ok || c.cond_called || err == WSAEACCES;
        int maybe = err == WSAEMFILE || err == WSAENOBUFS || (c.upcall_codes & bit(err)) || c.upcall_unknown;
        if (examined) {
            struct sockaddr_in got;
            memcpy(&got, addr, 16);
            if (*addrlen != 16 || got.sin_family != AF_INET)
                fail("WSPAccept: the examined request's address was not written (SPEC A4, A13)");
            else if (c.cond_called && memcmp(&got, &c.cond_caller, 8) != 0)
                fail("WSPAccept: addr is not the caller the condition saw (SPEC A13)");
        } else if (!maybe && (*addrlen != addrlen_in || memcmp(addr, addr_before, 16) != 0)) {
            fail("WSPAccept failed with %s before examining a request but wrote addr (SPEC X3)", code_name(err));
        }
    } else if (addrlen && *addrlen != addrlen_in) {
        fail("WSPAccept changed *addrlen %d -> %d (addr NULL or *addrlen short: SPEC A3)", addrlen_in, *addrlen);
    } else if (addr && !addrlen && memcmp(addr, addr_before, 16) != 0) {
        fail("WSPAccept wrote addr with a NULL addrlen (SPEC A4)");
    }
    if (addr) gb_check(S_NAME, "WSPAccept addr");
    if (ok) {
        adopt(r, nb_before, ST_CONNECTED, "WSPAccept");
        set_mask(r, listener_mask); /* A7: the listener's selection (taken before any upcall ran) */
    }
}

static void op_close(void) {
    SOCKET s = pick_desc();
    int *e = errslot(2);
    struct call c;
    begin(&c, F_CLOSE, e);
    c.ds = dstate(s);
    c.s = s;
    c.valid_args = 1;
    if (c.ds == DS_DEAD && !M.down) c.exact = WSAENOTSOCK; /* K1 */
    int limbo = c.ds == DS_LIVE && nclosing_now < 8;
    if (limbo) closing_now[nclosing_now++] = s;
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPCloseSocket(s, e) : wspsan_WSPCloseSocket(s, e);
    if (limbo) nclosing_now--;
    if (end_int(&c, rc)) mark_dead(s);
}

static void op_name(int peer) {
    SOCKET s = pick_desc();
    static const int lens[] = {16, 16, 16, 17, 100, 15, 0, -1, INT_MAX, INT_MIN};
    int inlen = PICK(lens);
    int *namelen = pct(5) ? NULL : gbuf(S_LEN, sizeof(int), sizeof(int));
    if (namelen) *namelen = inlen;
    size_t bytes = inlen < 0 ? 0 : inlen > 100 ? 16 : (size_t)inlen;
    struct sockaddr *name = pct(5) ? NULL : gbuf(S_NAME, bytes, 4);
    unsigned char before[100];
    if (name) memcpy(before, name, bytes);
    int *e = errslot(2);
    struct call c;
    begin(&c, peer ? F_PEERNAME : F_SOCKNAME, e);
    c.ds = dstate(s);
    c.s = s;
    c.allowed = peer ? ALLOWED_PEERNAME : ALLOWED_SOCKNAME;
    /* X4, A15: the descriptor, then the state (unbound: WSAEINVAL; not connected: WSAENOTCONN),
     * then the buffers. */
    int args_ok = name && namelen && inlen >= 16;
    expect_after_state(&c, args_ok ? 0 : WSAEFAULT, state_error(peer ? F_PEERNAME : F_SOCKNAME, s));
    int rc;
    if (peer)
        rc = M.have_procs && pct(30) ? M.procs.lpWSPGetPeerName(s, name, namelen, e) : wspsan_WSPGetPeerName(s, name, namelen, e);
    else
        rc = M.have_procs && pct(30) ? M.procs.lpWSPGetSockName(s, name, namelen, e) : wspsan_WSPGetSockName(s, name, namelen, e);
    if (end_int(&c, rc)) {
        struct sockaddr_in a;
        memcpy(&a, name, 16);
        if (*namelen != 16 || a.sin_family != AF_INET) fail("%s: *namelen %d, family %d", FN_NAMES[c.fn], *namelen, a.sin_family);
        int i = pool_find(s);
        /* A wildcard-bound socket keeps its port but, once connected, is named by the NIC it
         * connected to (README, A15), so only its port is checked. */
        int wildcard = pool[i >= 0 ? i : 0].addr.sin_addr.s_addr == htonl(INADDR_ANY);
        if (!peer && i >= 0 && pool[i].addr.sin_port &&
            (a.sin_port != pool[i].addr.sin_port || (!wildcard && a.sin_addr.s_addr != pool[i].addr.sin_addr.s_addr)))
            fail("WSPGetSockName: not the address it was bound to");
        if (!peer && i >= 0 && pool[i].st == ST_CREATED) fail("WSPGetSockName succeeded on an unbound socket (A15)");
    } else {
        if (namelen && *namelen != inlen) fail("%s failed but changed *namelen (SPEC X3)", FN_NAMES[c.fn]);
        if (name && memcmp(name, before, bytes) != 0) fail("%s failed but wrote name (SPEC X3)", FN_NAMES[c.fn]);
    }
    if (name) gb_check(S_NAME, FN_NAMES[c.fn]);
}

static const int OPT_LEVELS[] = {WSPSAN_SOL_SOCKET, WSPSAN_SOL_SOCKET, SOL_SOCKET, 0, IPPROTO_TCP, -1, 0x10000};
static const int OPT_NAMES[] = {WSPSAN_SO_ACCEPTCONN, WSPSAN_SO_ERROR, WSPSAN_SO_TYPE, WSPSAN_SO_SNDBUF,
                                WSPSAN_SO_RCVBUF, SO_CONNDATA, SO_CONNDATALEN, SO_ACCEPTCONN, SO_ERROR,
                                SO_TYPE, SO_SNDBUF, SO_RCVBUF, 0, -1, 0x7010, 13};

/* Whether the provider knows (level, name) as an int option (SockOpt::from_level_name). */
static int known_int_option(int level, int name) {
    if (level == WSPSAN_SOL_SOCKET)
        return name == WSPSAN_SO_ACCEPTCONN || name == WSPSAN_SO_ERROR || name == WSPSAN_SO_TYPE ||
               name == WSPSAN_SO_SNDBUF || name == WSPSAN_SO_RCVBUF || name == SO_CONNDATALEN;
    if (level == SOL_SOCKET)
        return name == SO_ACCEPTCONN || name == SO_ERROR || name == SO_TYPE || name == SO_SNDBUF || name == SO_RCVBUF ||
               name == SO_CONNDATALEN;
    return 0;
}

/* The levels the provider knows (SockOpt::resolve): SOL_SOCKET in either numbering, IPPROTO_TCP. */
static int known_option_level(int level) {
    return level == WSPSAN_SOL_SOCKET || level == SOL_SOCKET || level == IPPROTO_TCP;
}

static int is_so_error(int level, int name) {
    return (level == WSPSAN_SOL_SOCKET && name == WSPSAN_SO_ERROR) || (level == SOL_SOCKET && name == SO_ERROR);
}

/* SO_SNDBUF / SO_RCVBUF in either numbering: settable, never negative (L8). */
static int is_buffer_option(int level, int name) {
    return (level == WSPSAN_SOL_SOCKET && (name == WSPSAN_SO_SNDBUF || name == WSPSAN_SO_RCVBUF)) ||
           (level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_RCVBUF));
}

static void op_getopt(void) {
    SOCKET s = pick_desc();
    int level = PICK(OPT_LEVELS), name = PICK(OPT_NAMES);
    static const int lens[] = {4, 4, 4, 8, 16, 256, 300, 0, 1, 3, -1, INT_MAX, INT_MIN};
    int inlen = PICK(lens);
    int *optlen = pct(4) ? NULL : gbuf(S_LEN, sizeof(int), sizeof(int));
    if (optlen) *optlen = inlen;
    size_t bytes = inlen < 0 ? (size_t)below(8) : inlen > 4096 ? 4096 : (size_t)inlen;
    char *optval = pct(5) ? NULL : gbuf(S_OPTVAL, bytes, 1);
    unsigned char before[4096];
    if (optval) memcpy(before, optval, bytes);
    int *e = errslot(2);
    struct call c;
    begin(&c, F_GETOPT, e);
    c.ds = dstate(s);
    c.s = s;
    c.allowed = ALLOWED_GETSOCKOPT;
    int conndata = (level == WSPSAN_SOL_SOCKET || level == SOL_SOCKET) && name == SO_CONNDATA;
    int known = known_int_option(level, name);
    /* X4: the descriptor, then optlen, then the level (unknown: WSAEINVAL) and the option (unknown
     * at a known level: WSAENOPROTOOPT), then optval and *optlen; reading never fails otherwise. */
    int want;
    if (!optlen) want = WSAEFAULT;
    else if (conndata) want = inlen < 0 || (!optval && inlen > 0) ? WSAEFAULT : 0;
    else if (known) want = !optval || inlen < 4 ? WSAEFAULT : 0;
    else want = known_option_level(level) ? WSAENOPROTOOPT : WSAEINVAL;
    expect_after_state(&c, want, 0);
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPGetSockOpt(s, level, name, optval, optlen, e)
                                     : wspsan_WSPGetSockOpt(s, level, name, optval, optlen, e);
    if (end_int(&c, rc)) {
        if (!conndata && !known) fail("WSPGetSockOpt succeeded for unknown option %d/%d", level, name);
        if (*optlen < 0 || *optlen > (inlen > 4096 ? 4096 : inlen))
            fail("WSPGetSockOpt: *optlen %d out of 0..%d", *optlen, inlen);
        if (known) {
            int v;
            memcpy(&v, optval, 4);
            if (*optlen != 4) fail("WSPGetSockOpt: int option with *optlen %d", *optlen);
            if ((name == WSPSAN_SO_TYPE || (level == SOL_SOCKET && name == SO_TYPE)) && v != SOCK_STREAM)
                fail("SO_TYPE %d", v);
            if ((name == WSPSAN_SO_ACCEPTCONN || (level == SOL_SOCKET && name == SO_ACCEPTCONN)) && v != 0 && v != 1)
                fail("SO_ACCEPTCONN %d", v);
            if (name == SO_CONNDATALEN && (v < 0 || (uint32_t)v > 4096)) fail("SO_CONNDATALEN %d", v);
            /* C2 (decided, as Windows): reading SO_ERROR does not clear it. Only where nothing
             * can answer a connect meanwhile (no pending connect, no helper thread). */
            int i = pool_find(s);
            if (is_so_error(level, name) && i >= 0 && pool[i].st != ST_UNKNOWN && !M.threaded && !tl_cond_depth) {
                int again = -1, alen = sizeof again, e2 = SENTINEL;
                if (wspsan_WSPGetSockOpt(s, level, name, (char *)&again, &alen, &e2) != 0)
                    fail("SO_ERROR read %d, then failed with %s", v, code_name(e2));
                else if (again != v)
                    fail("SO_ERROR read %d, then %d: reading must not clear it (SPEC C2)", v, again);
            }
        }
        if (optval && (size_t)*optlen < bytes && memcmp(optval + *optlen, before + *optlen, bytes - (size_t)*optlen) != 0)
            fail("WSPGetSockOpt wrote past *optlen");
    } else {
        if (optlen && *optlen != inlen) fail("WSPGetSockOpt failed but changed *optlen (SPEC X3)");
        if (optval && memcmp(optval, before, bytes) != 0) fail("WSPGetSockOpt failed but wrote optval (SPEC X3)");
    }
    if (optval) gb_check(S_OPTVAL, "WSPGetSockOpt optval");
}

static void op_setopt(void) {
    SOCKET s = pick_desc();
    int level = PICK(OPT_LEVELS), name = PICK(OPT_NAMES);
    static const int lens[] = {4, 4, 4, 8, 0, 1, 3, -1, INT_MAX, INT_MIN};
    int optlen = PICK(lens);
    size_t bytes = optlen < 0 ? (size_t)below(4) : optlen > 64 ? 4 : (size_t)optlen;
    char *optval = pct(5) ? NULL : gbuf(S_OPTVAL, bytes, 1);
    int v = 0;
    if (optval && bytes >= 4) {
        static const int vals[] = {0, 1, 4096, 65536, -1, INT_MIN, INT_MAX, WSAECONNREFUSED};
        v = PICK(vals);
        memcpy(optval, &v, 4);
    }
    int *e = errslot(2);
    struct call c;
    begin(&c, F_SETOPT, e);
    c.ds = dstate(s);
    c.s = s;
    c.allowed = ALLOWED_SETSOCKOPT;
    int known = known_int_option(level, name);
    int buffer = is_buffer_option(level, name), so_error = is_so_error(level, name);
    /* X4: the descriptor, then a known option's int buffer (WSAEFAULT), then the level (unknown:
     * WSAEINVAL) and the option (unknown at a known level, or read-only: WSAENOPROTOOPT, L8), then
     * the value (a negative buffer size: WSAEINVAL); SO_ERROR takes any value (C2, as Windows). */
    int want;
    if (known && (!optval || optlen < 4)) want = WSAEFAULT;
    else if (buffer) want = v < 0 ? WSAEINVAL : 0;
    else if (so_error) want = 0;
    else want = known || known_option_level(level) ? WSAENOPROTOOPT : WSAEINVAL;
    expect_after_state(&c, want, 0);
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPSetSockOpt(s, level, name, optval, optlen, e)
                                     : wspsan_WSPSetSockOpt(s, level, name, optval, optlen, e);
    if (end_int(&c, rc)) {
        if (!buffer && !so_error) fail("WSPSetSockOpt succeeded for %d/%d, which is not settable (SPEC L8)", level, name);
        /* C2: SO_ERROR reads back what was set (where no connect can be answered meanwhile). */
        int i = pool_find(s);
        if (so_error && i >= 0 && pool[i].st != ST_UNKNOWN && !M.threaded && !tl_cond_depth) {
            int back = -1, blen = sizeof back, e2 = SENTINEL;
            if (wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR, (char *)&back, &blen, &e2) != 0)
                fail("SO_ERROR set to %d, then reading it failed with %s", v, code_name(e2));
            else if (back != v)
                fail("SO_ERROR set to %d reads %d (SPEC C2: setting it stores the value)", v, back);
        }
    }
    if (optval) gb_check(S_OPTVAL, "WSPSetSockOpt optval");
}

static size_t address_list_size(int n) {
    return offsetof(SOCKET_ADDRESS_LIST, Address) + (size_t)n * (sizeof(SOCKET_ADDRESS) + sizeof(struct sockaddr_in));
}

static void op_ioctl(void) {
    SOCKET s = pick_desc();
    static const DWORD codes[] = {WSPSAN_FIONBIO, WSPSAN_FIONBIO, FIONBIO, SIO_ADDRESS_LIST_QUERY,
                                  SIO_ADDRESS_LIST_QUERY, 0, 0x98000004u, 0xC8000006u, 0xFFFFFFFFu, 0x4004667F};
    DWORD code = pct(90) ? PICK(codes) : (DWORD)next64();
    static const DWORD inlens[] = {4, 4, 4, 8, 0, 1, 3, UINT32_MAX};
    DWORD cbin = PICK(inlens);
    void *in = NULL;
    if (pct(92)) {
        size_t bytes = cbin > 64 ? 4 : cbin;
        in = gbuf(S_IN, bytes, 1);
        if (bytes >= 4) {
            uint32_t v = pct(70) ? 1 : pct(50) ? 0 : (uint32_t)next64();
            memcpy(in, &v, 4);
        }
    }
    static const DWORD outlens[] = {0, 4, 8, 24, 39, 40, 41, 72, 200, 600, UINT32_MAX};
    DWORD cbout = PICK(outlens);
    size_t outbytes = cbout > 4096 ? 4096 : cbout;
    void *out = pct(90) ? gbuf(S_OUT, outbytes, 8) : NULL;
    DWORD *ret = pct(10) ? NULL : gbuf(S_RET, sizeof(DWORD), sizeof(DWORD));
    if (ret) *ret = 0xDEAD;
    WSAOVERLAPPED *ov = pct(4) ? gbuf(S_MISC, sizeof(WSAOVERLAPPED), 8) : NULL;
    WSATHREADID *tid = pct(10) ? gbuf(S_STRUCT, sizeof(WSATHREADID), 8) : NULL;
    LPWSAOVERLAPPED_COMPLETION_ROUTINE cr = pct(3) ? trap_completion : NULL;
    int *e = errslot(2);
    struct call c;
    begin(&c, F_IOCTL, e);
    c.ds = dstate(s);
    c.s = s;
    c.allowed = ALLOWED_IOCTL;
    int fionbio = code == WSPSAN_FIONBIO || code == FIONBIO;
    int query = code == SIO_ADDRESS_LIST_QUERY;
    /* X4: the descriptor, then overlapped (WSAEOPNOTSUPP), then the code (WSAEINVAL), then
     * lpcbBytesReturned (WSAEFAULT for every code, FIONBIO too, as Windows), then FIONBIO's u_long. */
    c.valid_args = 1;
    if (ov || cr) expect_after_state(&c, WSAEOPNOTSUPP, 0);
    else if (!fionbio && !query) expect_after_state(&c, WSAEINVAL, 0);
    else if (!ret) expect_after_state(&c, WSAEFAULT, 0);
    else if (fionbio && (!in || cbin < 4)) expect_after_state(&c, WSAEFAULT, 0);
    uint32_t on = 0;
    if (in && cbin >= 4) memcpy(&on, in, 4);
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPIoctl(s, code, in, cbin, out, cbout, ret, ov, cr, tid, e)
                                     : wspsan_WSPIoctl(s, code, in, cbin, out, cbout, ret, ov, cr, tid, e);
    int err = e ? *e : 0;
    if (end_int(&c, rc)) {
        if (!fionbio && !query) fail("WSPIoctl succeeded for unknown code %#x", code);
        if (!ret) fail("WSPIoctl(%#x) succeeded without lpcbBytesReturned (SPEC X4)", code);
        if (fionbio) {
            int i = pool_find(s);
            if (i >= 0) pool[i].nb = on != 0;
            if (ret && *ret != 0) fail("WSPIoctl(FIONBIO): *lpcbBytesReturned %u", *ret);
        }
        if (query) {
            size_t need = address_list_size(M.nnics);
            if (*ret != need) fail("SIO_ADDRESS_LIST_QUERY: %u bytes returned, %zu expected for %d NICs", *ret, need, M.nnics);
            SOCKET_ADDRESS_LIST list;
            memcpy(&list, out, sizeof(int));
            if (list.iAddressCount != M.nnics) fail("SIO_ADDRESS_LIST_QUERY: %d addresses, the device has %d", list.iAddressCount, M.nnics);
            for (int k = 0; k < list.iAddressCount && k < NIC_MAX; k++) {
                SOCKET_ADDRESS sa;
                memcpy(&sa, (unsigned char *)out + offsetof(SOCKET_ADDRESS_LIST, Address) + (size_t)k * sizeof sa, sizeof sa);
                unsigned char *p = (unsigned char *)sa.lpSockaddr;
                if (sa.iSockaddrLength != 16 || p < (unsigned char *)out || p + 16 > (unsigned char *)out + outbytes) {
                    fail("SIO_ADDRESS_LIST_QUERY: entry %d does not point inside the buffer", k);
                    break;
                }
                struct sockaddr_in a;
                memcpy(&a, p, 16);
                int known = 0;
                for (int n = 0; n < M.nnics; n++) known |= M.nics[n] == a.sin_addr.s_addr;
                if (a.sin_family != AF_INET || !known) fail("SIO_ADDRESS_LIST_QUERY: entry %d is not a NIC", k);
            }
        }
    } else if (ret) {
        int reported = query && err == WSAEFAULT && *ret == address_list_size(M.nnics); /* D4 */
        if (*ret != 0xDEAD && !reported) fail("WSPIoctl failed with %s but wrote *lpcbBytesReturned = %u", code_name(err), *ret);
    }
    if (out) gb_check(S_OUT, "WSPIoctl out buffer");
    if (in) gb_check(S_IN, "WSPIoctl in buffer");
}

/* An event handle: one of ours (class 1), a number closed before (2: it may have been reused,
 * or be what a socket selected), not an eventfd (0: a pipe, stdout, -1, huge), or NULL. */
static WSAEVENT pick_event(int *cls) {
    uint32_t r = below(100);
    *cls = 0;
    if (r < 55 && nevents) {
        *cls = 1;
        return events[below((uint32_t)nevents)];
    }
    if (r < 62 && nclosed_events) {
        intptr_t v = closed_events[below((uint32_t)nclosed_events)];
        *cls = 2;
        for (int k = 0; k < nevents; k++)
            if ((intptr_t)events[k] == v) *cls = 1;
        return (WSAEVENT)v;
    }
    if (r < 70) return (WSAEVENT)(intptr_t)pipe_fds[below(2)];
    if (r < 80) return NULL;
    static const intptr_t odd[] = {-1, 1, 2, INT_MAX, (intptr_t)1 << 40, 12345};
    return (WSAEVENT)PICK(odd);
}

/* WSPEventSelect(s, h, mask), checked, and the model's selection; `cls` as pick_event says. */
static void select_checked(SOCKET s, WSAEVENT h, int cls, LONG mask, int *e) {
    struct call c;
    begin(&c, F_SELECT, e);
    c.ds = dstate(s);
    c.s = s;
    c.allowed = ALLOWED_EVENTSELECT;
    /* X4: the descriptor, then the handle (no eventfd: WSAEINVAL), then the mask. */
    int hbad = h && !M.sw_events && cls == 0; /* cls 2 (a closed number) may hold an eventfd again */
    c.valid_args = 1;
    if (hbad) expect_after_state(&c, WSAEINVAL, 0);
    else if (mask & ~0x3ff) expect_after_state(&c, WSAEINVAL, 0); /* whatever a closed number holds now */
    /* E1: the provider installs the selection (and non-blocking mode) before it signals the
     * selected events already recorded, and that signal may be the switch's WPUSetEvent upcall,
     * which may call back on this very socket: WSPEnumNetworkEvents then reports under the new
     * selection (E4), and a WSPEventSelect made then is the one in force when this call returns.
     * So the model takes the new selection before the call, and leaves what a call back selected
     * after it; a failing call installs nothing and signals nothing, so the old one comes back. */
    int i = pool_find(s);
    int installs = i >= 0 && !(mask & ~0x3ff);
    LONG mask_before = i >= 0 ? pool[i].mask : 0;
    int nb_before = i >= 0 ? pool[i].nb : 0;
    if (installs) {
        pool[i].mask = mask;
        pool[i].nb = 1;
    }
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPEventSelect(s, h, mask, e) : wspsan_WSPEventSelect(s, h, mask, e);
    if (end_int(&c, rc)) {
        if (mask & ~0x3ff) fail("WSPEventSelect accepted mask %#x", (unsigned)mask);
        if (hbad) fail("WSPEventSelect accepted handle %p, which holds no eventfd", h);
    } else if (installs && (i = pool_find(s)) >= 0) {
        pool[i].mask = mask_before;
        pool[i].nb = nb_before;
    }
}

static void op_select(void) {
    SOCKET s = pick_desc();
    int cls;
    WSAEVENT h = pick_event(&cls);
    static const LONG masks[] = {0, FD_ACCEPT, FD_CONNECT, FD_CLOSE, FD_ACCEPT | FD_CONNECT | FD_CLOSE, 0x3ff,
                                 FD_READ | FD_WRITE, 0x400, -1, INT32_MIN};
    LONG mask = PICK(masks);
    select_checked(s, h, cls, mask, errslot(2));
}

/* WSPEnumNetworkEvents(s, h, ne), checked against the model's selection; returns the events
 * reported, -1 when it failed. `ne` is filled with 0x77 first. */
static LONG enum_checked(SOCKET s, WSAEVENT h, int cls, WSANETWORKEVENTS *ne, int *e) {
    if (ne) memset(ne, 0x77, sizeof *ne);
    struct call c;
    begin(&c, F_ENUM, e);
    c.ds = dstate(s);
    c.s = s;
    c.allowed = ALLOWED_ENUMNETWORKEVENTS;
    /* X4: the descriptor, then lpNetworkEvents (WSAEFAULT), then the handle (WSAEINVAL). */
    int hbad = h && !M.sw_events && cls == 0;
    c.valid_args = 1;
    if (!ne) expect_after_state(&c, WSAEFAULT, 0);
    else if (hbad) expect_after_state(&c, WSAEINVAL, 0);
    int si = pool_find(s);
    LONG selected = si >= 0 ? pool[si].mask : 0x3ff;
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPEnumNetworkEvents(s, h, ne, e) : wspsan_WSPEnumNetworkEvents(s, h, ne, e);
    LONG got = -1;
    if (end_int(&c, rc)) {
        got = ne->lNetworkEvents;
        if (ne->lNetworkEvents & ~0x3ff) fail("WSPEnumNetworkEvents reported %#x", (unsigned)ne->lNetworkEvents);
        /* E4: only the events in the current selection are reported (none with mask 0). */
        if (ne->lNetworkEvents & ~selected)
            fail("WSPEnumNetworkEvents reported %#x with %#x selected (SPEC E4)", (unsigned)ne->lNetworkEvents,
                 (unsigned)selected);
        for (int b = 0; b < FD_MAX_EVENTS; b++) {
            int reported = (ne->lNetworkEvents >> b) & 1;
            int untouched = ne->iErrorCode[b] == 0x77777777;
            if (!reported && !untouched) fail("WSPEnumNetworkEvents wrote iErrorCode[%d] for an unreported bit (E4)", b);
            if (reported && (untouched || (ne->iErrorCode[b] != 0 && code_index(ne->iErrorCode[b]) < 0)))
                fail("WSPEnumNetworkEvents: iErrorCode[%d] = %d for a reported bit", b, ne->iErrorCode[b]);
        }
    } else if (ne) {
        const unsigned char *p = (const unsigned char *)ne;
        for (size_t k = 0; k < sizeof *ne; k++)
            if (p[k] != 0x77) {
                fail("WSPEnumNetworkEvents failed but wrote lpNetworkEvents (SPEC X3)");
                break;
            }
    }
    if (ne) gb_check(S_EVENTS, "WSPEnumNetworkEvents");
    return got;
}

static void op_enum(void) {
    SOCKET s = pick_desc();
    int cls;
    WSAEVENT h = pick_event(&cls);
    WSANETWORKEVENTS *ne = pct(5) ? NULL : gbuf(S_EVENTS, sizeof(WSANETWORKEVENTS), 4);
    enum_checked(s, h, cls, ne, errslot(2));
}

static void close_event_at(int k) {
    WSAEVENT h = events[k];
    struct call c;
    begin(&c, F_CLOSE_EVENT, NULL);
    c.wsp = 0;
    BOOL r = wspsan_WSACloseEvent(h);
    tl_call = c.outer;
    tl_nest--;
    count(F_CLOSE_EVENT, r ? NCODES : NCODES + 2);
    if (r != WSPSAN_TRUE) fail("WSACloseEvent(%p) of a live eventfd gave %d", h, r);
    closed_events[nclosed_events < 8 ? nclosed_events++ : (int)below(8)] = (intptr_t)h;
    events[k] = events[--nevents];
}

static void op_events_misc(void) {
    uint32_t r = below(10);
    if (r < 4) { /* create (or a raw eventfd of our own) */
        if (nevents == EVENTS_MAX) close_event_at((int)below(EVENTS_MAX));
        WSAEVENT h;
        if (pct(75)) {
            struct call c;
            begin(&c, F_CREATE_EVENT, NULL);
            c.wsp = 0;
            h = wspsan_WSACreateEvent();
            tl_call = c.outer;
            tl_nest--;
            count(F_CREATE_EVENT, h ? NCODES : NCODES + 2);
            if (!h) {
                fail("WSACreateEvent failed");
                return;
            }
        } else {
            int fd = eventfd(0, pct(50) ? EFD_NONBLOCK : 0);
            if (fd <= 0) return;
            h = (WSAEVENT)(intptr_t)fd;
        }
        events[nevents++] = h;
    } else if (r < 7 && nevents) {
        close_event_at((int)below((uint32_t)nevents));
    } else { /* close something that is not ours to close: must refuse */
        static const intptr_t bad[] = {0, -1, -5};
        intptr_t v = pct(50) ? PICK(bad) : (intptr_t)fd_limit + (intptr_t)below(1000);
        struct call c;
        begin(&c, F_CLOSE_EVENT, NULL);
        c.wsp = 0;
        BOOL b = wspsan_WSACloseEvent((WSAEVENT)v);
        tl_call = c.outer;
        tl_nest--;
        count(F_CLOSE_EVENT, b ? NCODES : NCODES + 2);
        if (b != WSPSAN_FALSE) fail("WSACloseEvent(%ld) gave TRUE", (long)v);
    }
}

static void op_diag(void) {
    uint32_t r = below(3);
    struct call c;
    if (r == 0) {
        int code = pct(50) ? CODES[below(NCODES)].code : (int)next64() % 20000;
        begin(&c, F_STRERROR, NULL);
        c.wsp = 0;
        const char *m = wspsan_strerror(code);
        tl_call = c.outer;
        tl_nest--;
        count(F_STRERROR, m ? NCODES : NCODES + 2);
        if (!m) {
            fail("wspsan_strerror(%d) is NULL", code);
        } else {
            int i = code_index(code);
            if (i >= 0 && strncmp(m, CODES[i].name, strlen(CODES[i].name)) != 0)
                fail("wspsan_strerror(%d) = \"%s\"", code, m);
        }
    } else if (r == 1) {
        begin(&c, F_VERSION, NULL);
        c.wsp = 0;
        const char *v = wspsan_version();
        tl_call = c.outer;
        tl_nest--;
        count(F_VERSION, NCODES);
        if (!v || strcmp(v, WSPSAN_VERSION_STRING) != 0) fail("wspsan_version() = %s", v ? v : "NULL");
    } else {
        static const size_t lens[] = {0, 1, 2, 10, 64, 256, 1024};
        size_t len = PICK(lens);
        char *buf = pct(8) ? NULL : gbuf(S_DATA, len, 1);
        size_t *outlen = pct(30) ? NULL : gbuf(S_RET, sizeof(size_t), sizeof(size_t));
        if (outlen) *outlen = 0xDEAD;
        begin(&c, F_LAST_ERROR, NULL);
        c.wsp = 0;
        int rc = wspsan_last_error_message(buf, len, outlen);
        tl_call = c.outer;
        tl_nest--;
        if (rc == 0) {
            count(F_LAST_ERROR, NCODES);
            if (!buf && len > 0) fail("wspsan_last_error_message(NULL, %zu) succeeded", len);
            if (buf && len > 0) {
                size_t n = strnlen(buf, len);
                if (n == len) fail("wspsan_last_error_message: not NUL-terminated within %zu bytes", len);
                if (outlen && *outlen < n) fail("wspsan_last_error_message: *out_len %zu < %zu", *outlen, n);
                if (strstr(buf, "panic")) fail("a panic was caught inside the library: %s", buf);
            }
        } else {
            count(F_LAST_ERROR, code_index(rc) < 0 ? NCODES + 2 : code_index(rc));
            if (!(rc == WSAEFAULT && !buf && len > 0)) fail("wspsan_last_error_message returned %d", rc);
        }
        if (buf) gb_check(S_DATA, "wspsan_last_error_message buf");
    }
}

static void op_switch_handle(void) {
    SOCKET s = pick_desc();
    SOCKET *out = pct(5) ? NULL : gbuf(S_RET, sizeof(SOCKET), sizeof(SOCKET));
    if (out) *out = 0xBAD;
    int *e = errslot(2);
    struct call c;
    begin(&c, F_SWITCH_HANDLE, e);
    c.ds = dstate(s);
    c.s = s;
    c.downfails = 0;
    c.allowed = ALLOWED_SWITCH_HANDLE;
    c.argcheck = K(FAULT);
    c.valid_args = out != NULL;
    /* X4: the descriptor, then the pointer. */
    if (c.ds == DS_DEAD)
        c.exact = WSAENOTSOCK;
    else if (!out && c.ds != DS_LIMBO)
        c.exact = WSAEFAULT;
    int rc = wspsan_switch_handle(s, out, e);
    if (end_int(&c, rc)) {
        int i = pool_find(s);
        if (i >= 0 && *out != pool[i].handle)
            fail("switch_handle(%#llx) = %#llx, the switch gave %#llx (SPEC X5)", (unsigned long long)s,
                 (unsigned long long)*out, (unsigned long long)pool[i].handle);
    } else if (out && *out != 0xBAD) {
        fail("switch_handle failed but wrote *out");
    }
}

/* T2, D3: every queued request ends in exactly one outcome or is still queued. */
static void check_books(const WSPSAN_LISTENER_STATS *st, const char *what) {
    uint64_t ended = st->accepted + st->rejected + st->reset + st->withdrawn + st->refused_by_close + st->queue_len;
    if (st->queued != ended)
        fail("%s: %llu requests queued, %llu accounted for (accepted %llu, rejected %llu, reset %llu, withdrawn %llu, "
             "refused by close %llu, queued now %llu)", what, (unsigned long long)st->queued, (unsigned long long)ended,
             (unsigned long long)st->accepted, (unsigned long long)st->rejected, (unsigned long long)st->reset,
             (unsigned long long)st->withdrawn, (unsigned long long)st->refused_by_close,
             (unsigned long long)st->queue_len);
}

/* Device control. `depth` -2: from inside a condition function (no lasting damage). */
static int nic_index(uint32_t a) {
    for (int i = 0; i < M.nnics; i++)
        if (M.nics[i] == a) return i;
    return -1;
}

static void default_limits(WSPSAN_LIMITS *l) {
    l->max_descriptors = 65536;
    l->max_pending = 1u << 20;
    l->max_backlog = 4096;
    l->max_caller_data = 256;
    l->max_callee_data = 256;
    l->connect_timeout_ms = 0;
}

static void op_device(void) {
    uint32_t r = below(13);
    int *e = errslot(2);
    struct call c;
    int rc;
    switch (r) {
    case 0: { /* add a NIC */
        uint32_t a = pick_ip();
        if (M.nnics >= NIC_MAX - 1 && nic_index(a) < 0) a = M.nics[0];
        begin(&c, F_ADD_NIC, e);
        c.wsp = 0;
        c.exact = (a == 0 || nic_index(a) >= 0) ? WSAEINVAL : 0;
        rc = wspsan_device_add_nic(a, e);
        if (end_int(&c, rc) && nic_index(a) < 0) M.nics[M.nnics++] = a;
        break;
    }
    case 1: { /* remove one */
        uint32_t a = pct(70) && M.nnics ? M.nics[below((uint32_t)M.nnics)] : pick_ip();
        begin(&c, F_REMOVE_NIC, e);
        c.wsp = 0;
        c.exact = nic_index(a) >= 0 ? 0 : WSAEADDRNOTAVAIL;
        rc = wspsan_device_remove_nic(a, e);
        if (end_int(&c, rc)) {
            int i = nic_index(a);
            M.nics[i] = M.nics[--M.nnics];
        }
        break;
    }
    case 2: { /* read the limits back */
        WSPSAN_LIMITS *l = pct(5) ? NULL : gbuf(S_STRUCT, sizeof *l, 8);
        begin(&c, F_GET_LIMITS, e);
        c.wsp = 0;
        c.exact = l ? 0 : WSAEFAULT;
        rc = wspsan_device_get_limits(l, e);
        if (end_int(&c, rc) && memcmp(l, &M.limits, sizeof *l) != 0)
            fail("device_get_limits does not read back what was set");
        if (l) gb_check(S_STRUCT, "device_get_limits");
        break;
    }
    case 3: { /* set them (bounded: the callee-data buffer is allocated per accept) */
        WSPSAN_LIMITS *l = pct(5) ? NULL : gbuf(S_STRUCT, sizeof *l, 8);
        WSPSAN_LIMITS want;
        default_limits(&want);
        if (l && pct(70)) {
            static const uint64_t descs[] = {0, 1, 2, 16, 64, 200, 65536, UINT64_MAX};
            static const uint64_t pend[] = {0, 1, 4, 64, 1u << 20, UINT64_MAX};
            static const uint32_t backlogs[] = {0, 1, 2, 8, 200, 4096, UINT32_MAX};
            static const uint32_t data[] = {0, 1, 16, 256, 1024};
            static const uint32_t tmo[] = {0, 0, 1, 5, 20};
            if (pct(30)) want.max_descriptors = PICK(descs);
            if (pct(30)) want.max_pending = PICK(pend);
            if (pct(40)) want.max_backlog = PICK(backlogs);
            if (pct(40)) want.max_caller_data = PICK(data);
            if (pct(40)) want.max_callee_data = PICK(data);
            if (pct(40)) want.connect_timeout_ms = PICK(tmo);
        }
        if (l) *l = want;
        begin(&c, F_SET_LIMITS, e);
        c.wsp = 0;
        c.exact = l ? 0 : WSAEFAULT;
        rc = wspsan_device_set_limits(l, e);
        if (end_int(&c, rc)) {
            if (want.max_backlog == 0) want.max_backlog = 1;
            M.limits = want;
        }
        if (l) gb_check(S_STRUCT, "device_set_limits");
        break;
    }
    case 4: {
        static const uint32_t tmo[] = {0, 1, 5, 20, 0, UINT32_MAX};
        uint32_t ms = PICK(tmo);
        begin(&c, F_SET_TIMEOUT, e);
        c.wsp = 0;
        c.exact = 0;
        if (end_int(&c, wspsan_device_set_connect_timeout(ms, e))) M.limits.connect_timeout_ms = ms;
        break;
    }
    case 5: {
        int on = pct(70) ? 1 : pct(50) ? 0 : (int)next64();
        begin(&c, F_SET_WILDCARD, e);
        c.wsp = 0;
        c.exact = 0;
        if (end_int(&c, wspsan_device_set_wildcard_bind(on, e))) M.wildcard = on != 0;
        break;
    }
    case 6: {
        int on = M.down ? (pct(20) ? 1 : 0) : (pct(15) ? (int)(1 + below(5)) : 0);
        begin(&c, F_SET_DOWN, e);
        c.wsp = 0;
        c.exact = 0;
        if (end_int(&c, wspsan_device_set_network_down(on, e))) M.down = on != 0;
        break;
    }
    case 7: {
        int on = M.bufexh ? pct(10) : pct(15);
        begin(&c, F_SET_BUFEXH, e);
        c.wsp = 0;
        c.exact = 0;
        if (end_int(&c, wspsan_device_set_buffer_exhaustion(on, e))) M.bufexh = on != 0;
        break;
    }
    case 8: {
        int64_t lim;
        if (M.desc_limit >= 0 && pct(60)) lim = -1;
        else {
            static const int64_t lims[] = {-1, -100, 0, 1, 2, 1000, INT64_MAX, INT64_MIN};
            lim = pct(50) ? PICK(lims) : npool + (int64_t)below(3);
        }
        begin(&c, F_SET_DESCLIMIT, e);
        c.wsp = 0;
        c.exact = 0;
        if (end_int(&c, wspsan_device_set_descriptor_limit(lim, e))) M.desc_limit = lim < 0 ? -1 : lim;
        break;
    }
    case 9: {
        WSPSAN_FAULTS *f = pct(5) ? NULL : gbuf(S_STRUCT, sizeof *f, 8);
        begin(&c, F_GET_FAULTS, e);
        c.wsp = 0;
        c.exact = f ? 0 : WSAEFAULT;
        if (end_int(&c, wspsan_device_get_faults(f, e)) &&
            (f->network_down != M.down || f->buffer_exhaustion != M.bufexh || f->descriptor_limit != M.desc_limit))
            fail("device_get_faults: %d %d %lld, set %d %d %lld", f->network_down, f->buffer_exhaustion,
                 (long long)f->descriptor_limit, M.down, M.bufexh, (long long)M.desc_limit);
        if (f) gb_check(S_STRUCT, "device_get_faults");
        break;
    }
    case 10: {
        WSPSAN_DEVICE_STATS *st = pct(5) ? NULL : gbuf(S_STRUCT, sizeof *st, 8);
        begin(&c, F_STATS, e);
        c.wsp = 0;
        c.exact = st ? 0 : WSAEFAULT;
        if (end_int(&c, wspsan_device_stats(st, e))) {
            if (!M.threaded && tl_nest == 0 && st->open_sockets != (uint64_t)npool)
                fail("device_stats: %llu sockets open, the driver holds %d", (unsigned long long)st->open_sockets, npool);
            if (tl_nest == 0) check_books(&st->listeners, "device_stats");
        }
        if (st) gb_check(S_STRUCT, "device_stats");
        break;
    }
    default: {
        SOCKET s = pct(70) ? live_with(ST_LISTENING) : pick_desc();
        WSPSAN_LISTENER_STATS *st = pct(5) ? NULL : gbuf(S_STRUCT, sizeof *st, 8);
        int i = pool_find(s);
        begin(&c, F_LSTATS, e);
        c.wsp = 0;
        int limbo = dstate(s) == DS_LIMBO;
        if (!st) c.exact = WSAEFAULT;
        else if (limbo) c.allowed = K(NOTSOCK) | K(INVAL);
        else if (i < 0) c.exact = WSAENOTSOCK;
        else if (pool[i].st == ST_LISTENING) c.exact = 0;
        else c.allowed = K(INVAL); /* ST_UNKNOWN never listens; the others do not either */
        c.ds = limbo ? DS_LIMBO : i >= 0 ? DS_LIVE : DS_DEAD;
        if (end_int(&c, wspsan_device_listener_stats(s, st, e))) {
            if (st->queue_len > st->backlog)
                fail("listener_stats: queue %llu above backlog %llu", (unsigned long long)st->queue_len,
                     (unsigned long long)st->backlog);
            check_books(st, "device_listener_stats");
        }
        if (st) gb_check(S_STRUCT, "device_listener_stats");
        break;
    }
    }
}

/* The proc-table entries this provider does not implement: WSAEOPNOTSUPP, nothing touched
 * (WSAEINPROGRESS from inside a condition function: A14). */
static void op_unsupported(void) {
    if (!M.have_procs) return;
    WSPPROC_TABLE *t = &M.procs;
    int fn = F_T_ADDRTOSTR + (int)below(F_T_STRTOADDR - F_T_ADDRTOSTR + 1);
    SOCKET s = pick_desc();
    int *e = errslot(3);
    void *junk = gbuf(S_MISC, pct(50) ? 0 : 8, 8); /* a short buffer: must not be read */
    WSABUF *wb = junk;
    DWORD *dw = junk;
    struct call c;
    begin(&c, fn, e);
    c.ds = DS_NONE;
    c.wsp = 2;
    c.valid_args = 1;
    c.exact = WSAEOPNOTSUPP;
    long long rc;
    int bool_fn = 0, sock_fn = 0;
    switch (fn) {
    case F_T_ADDRTOSTR: rc = t->lpWSPAddressToString(junk, 16, NULL, junk, dw, e); break;
    case F_T_ASYNCSELECT: rc = t->lpWSPAsyncSelect(s, junk, 1, FD_ACCEPT, e); break;
    case F_T_CANCEL: rc = t->lpWSPCancelBlockingCall(e); break;
    case F_T_DUPLICATE: rc = t->lpWSPDuplicateSocket(s, 1, junk, e); break;
    case F_T_OVERLAPPED: rc = t->lpWSPGetOverlappedResult(s, junk, dw, 1, dw, e), bool_fn = 1; break;
    case F_T_QOSBYNAME: rc = t->lpWSPGetQOSByName(s, wb, junk, e), bool_fn = 1; break;
    case F_T_JOINLEAF: rc = (long long)t->lpWSPJoinLeaf(s, junk, 16, wb, wb, junk, junk, 0, e), sock_fn = 1; break;
    case F_T_RECV: rc = t->lpWSPRecv(s, wb, 1, dw, dw, NULL, NULL, NULL, e); break;
    case F_T_RECVDISC: rc = t->lpWSPRecvDisconnect(s, wb, e); break;
    case F_T_RECVFROM: rc = t->lpWSPRecvFrom(s, wb, 1, dw, dw, junk, junk, NULL, NULL, NULL, e); break;
    case F_T_SELECT: rc = t->lpWSPSelect(1, junk, junk, junk, junk, e); break;
    case F_T_SEND: rc = t->lpWSPSend(s, wb, 1, dw, 0, NULL, NULL, NULL, e); break;
    case F_T_SENDDISC: rc = t->lpWSPSendDisconnect(s, wb, e); break;
    case F_T_SENDTO: rc = t->lpWSPSendTo(s, wb, 1, dw, 0, junk, 16, NULL, NULL, NULL, e); break;
    case F_T_SHUTDOWN: rc = t->lpWSPShutdown(s, 2, e); break;
    default: rc = t->lpWSPStringToAddress(junk, AF_INET, NULL, junk, junk, e); break;
    }
    long long failed = bool_fn ? WSPSAN_FALSE : sock_fn ? (long long)INVALID_SOCKET : SOCKET_ERROR;
    if (sock_fn) end_call(&c, (SOCKET)rc != INVALID_SOCKET, 0, rc);
    else end_call(&c, rc != failed, 0, rc);
}

/* ------------------------------------------------------------------------------------------ */
/* Upcalls of the switch.                                                                      */

static _Thread_local int tl_upcall_depth;

/* Whether an upcall may call back into the provider now: on the main thread, single-threaded,
 * not too deep. */
static int may_call_back(void) {
    return is_main() && !M.threaded && tl_nest < 3 && tl_upcall_depth < 2 && tl_cond_depth == 0;
}

static SOCKET up_create(DWORD catalog, DWORD_PTR context, LPINT lpErrno) {
    atomic_fetch_add(&up_calls[0], 1);
    struct call *c = tl_call;
    if (!M.sw_create) fail("WPUCreateSocketHandle called, but the session's table has none");
    if (catalog != M.catalog) fail("WPUCreateSocketHandle: catalog entry %u, startup gave %u", catalog, M.catalog);
    if (context == 0 || context % 4 != 0) fail("WPUCreateSocketHandle: context %#llx is not a descriptor",
                                               (unsigned long long)context);
    if (!lpErrno) {
        fail("WPUCreateSocketHandle: lpErrno NULL");
        return INVALID_SOCKET;
    }
    uint32_t r = below(100);
    if (r < 8) {
        int code = CODES[below(NCODES)].code;
        *lpErrno = code;
        if (c) c->upcall_codes |= bit(code);
        return INVALID_SOCKET;
    }
    if (r < 11) {
        static const int unknown[] = {0, -1, 12345, 10000};
        *lpErrno = unknown[r % 4];
        if (c) c->upcall_unknown = 1;
        return INVALID_SOCKET;
    }
    if (r < 16 && may_call_back()) {
        tl_upcall_depth++;
        op_any(-3);
        tl_upcall_depth--;
    }
    SOCKET h;
    pthread_mutex_lock(&sw_lock);
    if (r >= 16 && r < 19 && sw_nopen) h = sw_open[(context / 4) % (uint64_t)sw_nopen]; /* a duplicate */
    else if (r == 19) h = 0;
    else h = sw_next += 8;
    if (sw_nopen < HANDLES_MAX) sw_open[sw_nopen++] = h;
    sw_recent[sw_recent_pos++ % 64].context = context;
    sw_recent[(sw_recent_pos - 1) % 64].handle = h;
    pthread_mutex_unlock(&sw_lock);
    if (r % 5 == 0) *lpErrno = 777; /* garbage on success: ignored */
    return h;
}

static int up_close(SOCKET s, LPINT lpErrno) {
    atomic_fetch_add(&up_calls[1], 1);
    if (!M.sw_create) fail("WPUCloseSocketHandle called without WPUCreateSocketHandle in the session's table");
    pthread_mutex_lock(&sw_lock);
    int found = -1;
    for (int i = 0; i < sw_nopen; i++)
        if (sw_open[i] == s) found = i;
    if (found >= 0) sw_open[found] = sw_open[--sw_nopen];
    pthread_mutex_unlock(&sw_lock);
    if (found < 0) fail("WPUCloseSocketHandle(%#llx): not an open handle of the switch (closed twice?)", (unsigned long long)s);
    if (may_call_back() && pct(15)) {
        tl_upcall_depth++;
        op_any(-3);
        tl_upcall_depth--;
    }
    if (lpErrno && pct(20)) {
        *lpErrno = WSAENOTSOCK;
        return SOCKET_ERROR;
    }
    return 0;
}

/* The replay of replay_select_reentry: the next WPUSetEvent on the main thread calls back on this
 * socket (WSPEnumNetworkEvents, reporting into reenter_seen, then WSPEventSelect(reenter_mask)). */
static SOCKET reenter_on;
static LONG reenter_mask, reenter_seen;

static BOOL up_event(int which, WSAEVENT h, LPINT lpErrno) {
    atomic_fetch_add(&up_calls[2 + which], 1);
    if (!M.sw_events) fail("WPU%sEvent called, but the session's table does not have both", which ? "Reset" : "Set");
    (void)h;
    if (which == 0 && reenter_on && is_main()) {
        SOCKET s = reenter_on;
        reenter_on = 0;
        tl_upcall_depth++;
        reenter_seen = enum_checked(s, NULL, 0, gbuf(S_EVENTS, sizeof(WSANETWORKEVENTS), 4), errslot(0));
        select_checked(s, NULL, 0, reenter_mask, errslot(0));
        tl_upcall_depth--;
    } else if (may_call_back() && pct(10)) {
        tl_upcall_depth++;
        op_any(-3);
        tl_upcall_depth--;
    }
    if (is_main() && pct(15)) {
        if (lpErrno) *lpErrno = WSAEINVAL;
        return WSPSAN_FALSE;
    }
    return WSPSAN_TRUE;
}
static BOOL up_set(WSAEVENT h, LPINT lpErrno) { return up_event(0, h, lpErrno); }
static BOOL up_reset(WSAEVENT h, LPINT lpErrno) { return up_event(1, h, lpErrno); }

/* Traps: upcalls the provider must never make. */
#define TRAP(name) fail("the provider called the upcall %s, which it must not use", name)
static BOOL trap_close_event(WSAEVENT h, LPINT e) { (void)h, (void)e; TRAP("WPUCloseEvent"); return 0; }
static WSAEVENT trap_create_event(LPINT e) { (void)e; TRAP("WPUCreateEvent"); return NULL; }
static int trap_fd_isset(SOCKET s, LPWSPSAN_FD_SET f) { (void)s, (void)f; TRAP("WPUFDIsSet"); return 0; }
static int trap_provider_path(LPGUID g, WCHAR *p, LPINT l, LPINT e) { (void)g, (void)p, (void)l, (void)e; TRAP("WPUGetProviderPath"); return 0; }
static SOCKET trap_modify(DWORD c, SOCKET s, LPINT e) { (void)c, (void)s, (void)e; TRAP("WPUModifyIFSHandle"); return INVALID_SOCKET; }
static BOOL trap_post(HWND w, UINT m, WPARAM wp, LPARAM lp) { (void)w, (void)m, (void)wp, (void)lp; TRAP("WPUPostMessage"); return 0; }
static int trap_blocking(DWORD c, LPBLOCKINGCALLBACK *f, PDWORD_PTR x, LPINT e) { (void)c, (void)f, (void)x, (void)e; TRAP("WPUQueryBlockingCallback"); return 0; }
static int trap_context(SOCKET s, PDWORD_PTR x, LPINT e) { (void)s, (void)x, (void)e; TRAP("WPUQuerySocketHandleContext"); return 0; }
static int trap_apc(LPWSATHREADID t, LPWSAUSERAPC f, DWORD_PTR x, LPINT e) { (void)t, (void)f, (void)x, (void)e; TRAP("WPUQueueApc"); return 0; }
static int trap_open_thread(LPWSATHREADID t, LPINT e) { (void)t, (void)e; TRAP("WPUOpenCurrentThread"); return 0; }
static int trap_close_thread(LPWSATHREADID t, LPINT e) { (void)t, (void)e; TRAP("WPUCloseThread"); return 0; }
static SOCKET trap_create_later(DWORD c, DWORD_PTR x, LPINT e) { (void)c, (void)x, (void)e; TRAP("WPUCreateSocketHandle of a later startup (the first table is used)"); return INVALID_SOCKET; }
static void trap_completion(DWORD a, DWORD b, LPWSAOVERLAPPED o, DWORD f) { (void)a, (void)b, (void)o, (void)f; TRAP("a completion routine"); }

static WSPUPCALLTABLE random_upcalls(int first) {
    WSPUPCALLTABLE u;
    memset(&u, 0, sizeof u);
    if (pct(55)) u.lpWPUCreateSocketHandle = first ? up_create : trap_create_later;
    if (pct(70)) u.lpWPUCloseSocketHandle = up_close;
    if (pct(45)) u.lpWPUSetEvent = up_set;
    if (pct(45)) u.lpWPUResetEvent = up_reset;
    if (pct(50)) u.lpWPUCloseEvent = trap_close_event;
    if (pct(50)) u.lpWPUCreateEvent = trap_create_event;
    if (pct(50)) u.lpWPUFDIsSet = trap_fd_isset;
    if (pct(50)) u.lpWPUGetProviderPath = trap_provider_path;
    if (pct(50)) u.lpWPUModifyIFSHandle = trap_modify;
    if (pct(50)) u.lpWPUPostMessage = trap_post;
    if (pct(50)) u.lpWPUQueryBlockingCallback = trap_blocking;
    if (pct(50)) u.lpWPUQuerySocketHandleContext = trap_context;
    if (pct(50)) u.lpWPUQueueApc = trap_apc;
    if (pct(50)) u.lpWPUOpenCurrentThread = trap_open_thread;
    if (pct(50)) u.lpWPUCloseThread = trap_close_thread;
    return u;
}

/* ------------------------------------------------------------------------------------------ */
/* Startup and cleanup.                                                                        */

static void check_table(const WSPPROC_TABLE *t) {
    if (t->lpWSPAccept != wspsan_WSPAccept || t->lpWSPBind != wspsan_WSPBind || t->lpWSPCleanup != wspsan_WSPCleanup ||
        t->lpWSPCloseSocket != wspsan_WSPCloseSocket || t->lpWSPConnect != wspsan_WSPConnect ||
        t->lpWSPEnumNetworkEvents != wspsan_WSPEnumNetworkEvents || t->lpWSPEventSelect != wspsan_WSPEventSelect ||
        t->lpWSPGetPeerName != wspsan_WSPGetPeerName || t->lpWSPGetSockName != wspsan_WSPGetSockName ||
        t->lpWSPGetSockOpt != wspsan_WSPGetSockOpt || t->lpWSPIoctl != wspsan_WSPIoctl ||
        t->lpWSPListen != wspsan_WSPListen || t->lpWSPSetSockOpt != wspsan_WSPSetSockOpt ||
        t->lpWSPSocket != wspsan_WSPSocket)
        fail("WSPStartup: a proc-table entry is not the export of the same name");
    if (!t->lpWSPAddressToString || !t->lpWSPAsyncSelect || !t->lpWSPCancelBlockingCall || !t->lpWSPDuplicateSocket ||
        !t->lpWSPGetOverlappedResult || !t->lpWSPGetQOSByName || !t->lpWSPJoinLeaf || !t->lpWSPRecv ||
        !t->lpWSPRecvDisconnect || !t->lpWSPRecvFrom || !t->lpWSPSelect || !t->lpWSPSend || !t->lpWSPSendDisconnect ||
        !t->lpWSPSendTo || !t->lpWSPShutdown || !t->lpWSPStringToAddress)
        fail("WSPStartup left a proc-table entry NULL (SPEC X1)");
}

static void op_startup(int valid) {
    static const WORD versions[] = {0x0202, 0x0202, 0x0202, 0x0302, 0xFFFF, 0x0102, 0x0101, 0x0002, 0, 0x0201, 0x0203};
    WORD v = valid ? 0x0202 : PICK(versions);
    WSPDATA *data = !valid && pct(5) ? NULL : gbuf(S_DATA, sizeof(WSPDATA), 8);
    WSPPROC_TABLE *table = !valid && pct(5) ? NULL : gbuf(S_TABLE, sizeof(WSPPROC_TABLE), 8);
    WSAPROTOCOL_INFOW *info = pct(50) ? gbuf(S_INFO, sizeof(WSAPROTOCOL_INFOW), 8) : NULL;
    DWORD catalog = info ? (DWORD)next64() : 0;
    if (info) info->dwCatalogEntryId = catalog;
    int first = M.started == 0;
    WSPUPCALLTABLE u = random_upcalls(first);
    int want = (!data || !table) ? WSAEFAULT : ((v & 0xff) < 2 || ((v & 0xff) == 2 && (v >> 8) < 2)) ? WSAVERNOTSUPPORTED
                                                                                                   : tl_cond_depth ? WSAEINPROGRESS : 0;
    if (first && want == 0) {
        /* The model must know the session's table before any upcall can run. */
        M.sw_create = u.lpWPUCreateSocketHandle != NULL;
        M.sw_close = u.lpWPUCloseSocketHandle != NULL;
        M.sw_events = u.lpWPUSetEvent && u.lpWPUResetEvent;
        M.catalog = catalog;
    }
    struct call c;
    begin(&c, F_STARTUP, NULL);
    c.wsp = 0;
    int rc = wspsan_WSPStartup(v, data, info, u, table);
    tl_call = c.outer;
    tl_nest--;
    count(F_STARTUP, rc == 0 ? NCODES : code_index(rc) < 0 ? NCODES + 2 : code_index(rc));
    if (rc != want) fail("WSPStartup(%#x, data %s, table %s) gave %d, expected %d (SPEC X1)", v, data ? "ok" : "NULL",
                         table ? "ok" : "NULL", rc, want);
    if (rc == 0) {
        M.started++;
        if (data->wVersion != 0x0202 || data->wHighVersion != 0x0202) fail("WSPStartup: WSPDATA version %#x/%#x", data->wVersion, data->wHighVersion);
        int terminated = 0;
        for (int k = 0; k <= WSPDESCRIPTION_LEN; k++) terminated |= data->szDescription[k] == 0;
        if (!terminated) fail("WSPStartup: szDescription is not NUL-terminated");
        check_table(table);
        M.procs = *table;
        M.have_procs = 1;
        gb_check(S_TABLE, "WSPStartup lpProcTable");
        gb_check(S_DATA, "WSPStartup lpWSPData");
    }
}

/* WSPCleanup; the last one closes every socket and must close every switch handle. */
static void session_ended(void) {
    while (npool) mark_dead(pool[npool - 1].s);
    pthread_mutex_lock(&sw_lock);
    int left = sw_nopen;
    sw_nopen = 0;
    pthread_mutex_unlock(&sw_lock);
    if (M.sw_create && M.sw_close && left)
        fail("the last WSPCleanup left %d switch handles without WPUCloseSocketHandle (SPEC X5)", left);
    M.sw_create = M.sw_close = M.sw_events = 0;
}

static void op_cleanup(void) {
    int *e = errslot(2);
    int in_cond = tl_cond_depth > 0;
    struct call c;
    begin(&c, F_CLEANUP, e);
    c.wsp = 0; /* judged here: the last one runs while the session is closing */
    c.exact = in_cond ? WSAEINPROGRESS : M.started > 0 ? 0 : WSANOTINITIALISED;
    if (e && !in_cond && M.started == 1) M.closing = 1; /* upcalls meanwhile see WSANOTINITIALISED */
    int rc = M.have_procs && pct(30) ? M.procs.lpWSPCleanup(e) : wspsan_WSPCleanup(e);
    M.closing = 0;
    if (end_int(&c, rc) && M.started > 0) {
        M.started--;
        if (M.started == 0) session_ended();
    }
}

/* ------------------------------------------------------------------------------------------ */
/* A directed replay, before the random steps (SPEC E1, E4). The E4 check once failed now and then
 * with "WSPEnumNetworkEvents reported 0x30 with 0 selected": WSPEventSelect installs its selection
 * before it signals the selected events already recorded; that signal was the switch's WPUSetEvent
 * upcall, and a call back from it enumerated the socket while the model still held the old
 * selection (and a WSPEventSelect called back then was overwritten by the outer one's). Here the
 * upcall always calls back on a socket with FD_CONNECT and FD_CLOSE recorded and nothing selected:
 * WSPEnumNetworkEvents, then WSPEventSelect(FD_CLOSE), both checked against the model as in any
 * step, then the socket is enumerated again under the selection the call back made.             */

static void replay_select_reentry(void) {
    uint64_t saved = rng_state; /* the seed's steps stay the ones they were */
    WSPUPCALLTABLE u;
    memset(&u, 0, sizeof u);
    u.lpWPUSetEvent = up_set;
    u.lpWPUResetEvent = up_reset;
    WSPDATA d;
    WSPPROC_TABLE t;
    M.sw_create = M.sw_close = 0;
    M.sw_events = 1;
    int rc = wspsan_WSPStartup(0x0202, &d, NULL, u, &t);
    if (rc != 0) {
        fail("the E1/E4 replay: WSPStartup gave %d", rc);
        M.sw_events = 0;
        return;
    }
    M.started = 1;
    int err = SENTINEL;
    struct sockaddr_in a = loopback_port0();
    int len = sizeof a;
    uint32_t on = 1;
    DWORD n;
    SOCKET l = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    if (l != INVALID_SOCKET) adopt(l, 0, ST_CREATED, "WSPSocket");
    SOCKET c = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    if (c != INVALID_SOCKET) adopt(c, 0, ST_CREATED, "WSPSocket");
    SOCKET acc = INVALID_SOCKET;
    int ready = l != INVALID_SOCKET && c != INVALID_SOCKET &&
                wspsan_WSPBind(l, (struct sockaddr *)&a, sizeof a, &err) == 0 &&
                wspsan_WSPGetSockName(l, (struct sockaddr *)&a, &len, &err) == 0 && wspsan_WSPListen(l, 4, &err) == 0 &&
                wspsan_WSPIoctl(c, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err) == 0 &&
                wspsan_WSPConnect(c, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &err) == SOCKET_ERROR &&
                err == WSAEWOULDBLOCK && (acc = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err)) != INVALID_SOCKET;
    if (acc != INVALID_SOCKET) {
        adopt(acc, 0, ST_CONNECTED, "WSPAccept");
        ready = ready && wspsan_WSPCloseSocket(acc, &err) == 0; /* K3: FD_CLOSE on c */
        mark_dead(acc);
    }
    int li = pool_find(l), ci = pool_find(c);
    if (!ready || li < 0 || ci < 0) {
        fail("the E1/E4 replay could not make its connection: %s", code_name(err));
    } else {
        pool[li].st = ST_LISTENING;
        pool[li].addr = a;
        pool[ci].st = ST_CONNECTED; /* and disconnected since: the same to the model */
        pool[ci].nb = 1;
        /* E5: FD_CONNECT and FD_CLOSE are recorded on c, nothing is selected. Selecting FD_CONNECT
         * signals at once (E1), through WPUSetEvent, whose call back reports FD_CONNECT (E4) and
         * selects FD_CLOSE instead. */
        reenter_on = c;
        reenter_mask = FD_CLOSE;
        reenter_seen = -1;
        select_checked(c, (WSAEVENT)(intptr_t)0x5e1ec7, 1, FD_CONNECT, errslot(0));
        if (reenter_on) {
            reenter_on = 0;
            fail("the E1/E4 replay: WSPEventSelect(FD_CONNECT) did not signal the FD_CONNECT recorded (SPEC E1, E5)");
        } else if (reenter_seen != FD_CONNECT) {
            fail("the E1/E4 replay: WSPEnumNetworkEvents inside WSPEventSelect's signal reported %#x, not FD_CONNECT "
                 "(SPEC E1, E4)", (unsigned)reenter_seen);
        }
        /* The call back's selection is the one in force: FD_CLOSE is reported now (E4). */
        LONG got = enum_checked(c, NULL, 0, gbuf(S_EVENTS, sizeof(WSANETWORKEVENTS), 4), errslot(0));
        if (got != FD_CLOSE)
            fail("the E1/E4 replay: WSPEnumNetworkEvents under the call back's selection reported %#x, not FD_CLOSE "
                 "(SPEC E4)", (unsigned)got);
    }
    err = SENTINEL;
    if (wspsan_WSPCleanup(&err) != 0) fail("the E1/E4 replay: WSPCleanup failed with %s", code_name(err));
    M.started = 0;
    session_ended();
    rng_state = saved;
}

/* ------------------------------------------------------------------------------------------ */
/* Two threads: a blocking connect on this thread answered by accepts on a helper thread, so that
 * a blocking connect completes and its callee data comes back (SPEC C1, C2, C5, T1). While the
 * helper runs, callbacks are tame (M.threaded): nothing else changes the model.                 */

struct helper {
    SOCKET listener;
    atomic_int done;
    uint64_t seed;
    SOCKET accepted[4];
    int naccepted;
};

static void *helper_main(void *p) {
    struct helper *h = p;
    tl_bank_base = 4;
    rng_state = h->seed;
    int defers = 0;
    while (!atomic_load(&h->done)) {
        LPCONDITIONPROC cond = defers < 20 && pct(85) ? condition : NULL;
        int *e = errslot(0);
        struct call c;
        begin(&c, F_ACCEPT, e);
        c.ds = DS_LIVE;
        c.s = h->listener;
        c.valid_args = 1;
        c.cond_capacity = M.limits.max_callee_data;
        c.allowed = K(WOULDBLOCK) | K(CONNREFUSED) | K(TRY_AGAIN) | K(INVAL) | K(ACCES) | K(MFILE) | K(NOBUFS) | K(INTR);
        SOCKET r = wspsan_WSPAccept(h->listener, NULL, NULL, cond, (DWORD_PTR)&c, e);
        int err = *e;
        int ok = end_call(&c, r != INVALID_SOCKET, 0, (long long)r);
        if (ok && cond && !c.cond_called) fail("WSPAccept succeeded without running the condition function (A5)");
        if (ok && c.cond_called && !(c.cond_ret == CF_ACCEPT && c.cond_g == 0))
            fail("WSPAccept succeeded after the condition answered %d with *g = %d (A7 to A10)", c.cond_ret, c.cond_g);
        if (ok && h->naccepted < 4) h->accepted[h->naccepted++] = r;
        else if (ok) {
            int e2;
            wspsan_WSPCloseSocket(r, &e2);
        }
        if (!ok && err == WSATRY_AGAIN) defers++;
        if (!ok && err == WSAEWOULDBLOCK) {
            struct timespec t = {0, 20000};
            nanosleep(&t, NULL);
        }
    }
    return NULL;
}

static void op_pair(void) {
    /* Only when the helper's accepts can succeed: no faults, room for descriptors. */
    if (tl_nest || !started_now() || M.down || M.bufexh || M.desc_limit >= 0 || M.limits.max_descriptors < 1024 ||
        M.limits.max_pending < 16 || npool >= POOL_MAX - 8)
        return;
    int err = SENTINEL;
    SOCKET l = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    if (l == INVALID_SOCKET) return;
    adopt(l, 0, ST_CREATED, "WSPSocket");
    struct sockaddr_in a = loopback_port0();
    int len = sizeof a;
    uint32_t on = 1;
    DWORD n;
    if (nic_index(a.sin_addr.s_addr) < 0 || wspsan_WSPBind(l, (struct sockaddr *)&a, sizeof a, &err) != 0 ||
        wspsan_WSPGetSockName(l, (struct sockaddr *)&a, &len, &err) != 0 || wspsan_WSPListen(l, 4, &err) != 0 ||
        wspsan_WSPIoctl(l, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err) != 0)
        return;
    int i = pool_find(l);
    if (i < 0) return;
    pool[i].st = ST_LISTENING;
    pool[i].nb = 1;
    pool[i].addr = a;
    SOCKET s = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    if (s == INVALID_SOCKET) return;
    adopt(s, 0, ST_UNKNOWN, "WSPSocket");

    static const ULONG caller_lens[] = {0, 1, 5, 64, 256, 257};
    static const ULONG callee_lens[] = {0, 1, 8, 255, 256, 600};
    int bad;
    WSABUF *caller = pct(60) ? pick_wsabuf(S_CALLER_WSABUF, S_CALLER, caller_lens, COUNT(caller_lens), &bad) : NULL;
    if (caller && bad) caller->buf = gbuf(S_CALLER, caller->len, 1);
    WSABUF *callee = pct(80) ? pick_wsabuf(S_CALLEE_WSABUF, S_CALLEE, callee_lens, COUNT(callee_lens), &bad) : NULL;
    if (callee && bad) callee->buf = gbuf(S_CALLEE, callee->len, 1);
    QOS *sqos = pct(30) ? pick_qos(S_QOS, S_QOS_PS, &bad) : NULL;
    if (sqos && bad) sqos->ProviderSpecific.buf = gbuf(S_QOS_PS, sqos->ProviderSpecific.len, 1);
    ULONG offered = callee ? callee->len : 0;

    struct helper h;
    memset(&h, 0, sizeof h);
    h.listener = l;
    h.seed = next64();
    atomic_init(&h.done, 0);
    M.threaded = 1;
    pthread_t t;
    if (pthread_create(&t, NULL, helper_main, &h) != 0) {
        M.threaded = 0;
        return;
    }
    int *e = errslot(0);
    struct call c;
    begin(&c, F_CONNECT, e);
    c.ds = DS_LIVE;
    c.s = s;
    c.valid_args = 1;
    /* Blocking: waits for the helper's answer (or the device's connect timeout). */
    c.allowed = K(CONNREFUSED) | K(NOBUFS) | K(TIMEDOUT) | K(ACCES);
    int rc = wspsan_WSPConnect(s, (struct sockaddr *)&a, sizeof a, caller, callee, sqos, NULL, e);
    atomic_store(&h.done, 1);
    pthread_join(t, NULL);
    M.threaded = 0;
    int ok = end_int(&c, rc);
    if (caller && caller->len > M.limits.max_caller_data && ok)
        fail("WSPConnect succeeded with %u bytes of caller data, above the device's %u (SPEC C5)", caller->len,
             M.limits.max_caller_data);
    if (ok && h.naccepted == 0) fail("a blocking connect completed, but no accept succeeded (SPEC C1)");
    if (callee) {
        if (ok && (callee->len > offered || callee->len > M.limits.max_callee_data))
            fail("WSPConnect: %u bytes of callee data for a %u-byte buffer (SPEC C5)", callee->len, offered);
        if (ok) {
            /* SO_CONNDATA reads the same bytes back. */
            char back[1024];
            int blen = sizeof back, e2 = SENTINEL;
            if (wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, SO_CONNDATA, back, &blen, &e2) != 0)
                fail("SO_CONNDATA after a completed connect: %s", code_name(e2));
            else if ((ULONG)blen < callee->len || (callee->len && memcmp(back, callee->buf, callee->len) != 0))
                fail("SO_CONNDATA differs from the callee data the connect returned");
        }
        if (callee->buf) gb_check(S_CALLEE, "WSPConnect callee data (blocking)");
    }
    for (int k = 0; k < h.naccepted; k++) adopt(h.accepted[k], 1, ST_CONNECTED, "WSPAccept (helper thread)");
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers used by the operations.                                                             */

/* An unchecked close (eviction, teardown): the socket is in limbo while it runs. */
static int raw_close(SOCKET s, int *err) {
    int limbo = nclosing_now < 8;
    if (limbo) closing_now[nclosing_now++] = s;
    int rc = wspsan_WSPCloseSocket(s, err);
    if (limbo) nclosing_now--;
    return rc;
}

static void set_nonblocking_for(SOCKET s) {
    uint32_t on = 1;
    DWORD n;
    int *e = errslot(0);
    struct call c;
    begin(&c, F_IOCTL, e);
    c.ds = dstate(s);
    c.s = s;
    c.valid_args = 1;
    c.allowed = 0;
    int rc = wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, e);
    if (end_int(&c, rc)) {
        int i = pool_find(s);
        if (i >= 0) pool[i].nb = 1;
    }
}

static int listener_queue_len(SOCKET s) {
    WSPSAN_LISTENER_STATS st;
    int err = SENTINEL;
    if (wspsan_device_listener_stats(s, &st, &err) != 0) return 0;
    return (int)st.queue_len;
}

/* Close sockets until the pool is back under its target size. */
static void evict(void) {
    while (npool > POOL_TARGET) {
        SOCKET s = pool[below((uint32_t)npool)].s;
        int err = SENTINEL;
        if (raw_close(s, &err) == 0) mark_dead(s);
        else if (err == WSAENETDOWN) break;
        else if (err == WSAENOTSOCK) {
            fail("WSPCloseSocket of a live socket gave WSAENOTSOCK");
            mark_dead(s);
        } else break;
    }
}

/* One operation. depth >= 0: a step of the main loop; -1: a valid-argument call back into the
 * provider from a condition function (must give WSAEINPROGRESS); -2: a device call from a
 * condition; -3: a call back from an upcall. */
static void op_any(int depth) {
    if (depth == -1) {
        /* Valid arguments throughout: anything but WSAEINPROGRESS is a failure (A14). */
        if (M.have_procs && pct(12)) {
            op_unsupported(); /* the table entries the provider does not implement too */
            return;
        }
        SOCKET s = pick_desc();
        int *e = errslot(0);
        struct call c;
        uint32_t r = below(16);
        begin(&c, F_SOCKET, e);
        c.valid_args = 1;
        c.ds = dstate(s);
    c.s = s;
        int rc = 0;
        SOCKET rs = 0;
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons(5000);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int len = sizeof a, v = 1;
        WSANETWORKEVENTS ne;
        uint32_t on = 1;
        DWORD n;
        switch (r) {
        case 0: c.fn = F_SOCKET; rs = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, e); rc = rs == INVALID_SOCKET ? -1 : 0; if (!rc) adopt(rs, 0, ST_CREATED, "WSPSocket in a condition"); break;
        case 1: c.fn = F_BIND; rc = wspsan_WSPBind(s, (struct sockaddr *)&a, len, e); break;
        case 2: c.fn = F_LISTEN; rc = wspsan_WSPListen(s, 5, e); break;
        case 3: c.fn = F_CONNECT; rc = wspsan_WSPConnect(s, (struct sockaddr *)&a, len, NULL, NULL, NULL, NULL, e); break;
        case 4: c.fn = F_ACCEPT; rs = wspsan_WSPAccept(s, NULL, NULL, NULL, 0, e); rc = rs == INVALID_SOCKET ? -1 : 0; if (!rc) adopt(rs, 1, ST_CONNECTED, "WSPAccept in a condition"); break;
        case 5: c.fn = F_CLOSE; rc = wspsan_WSPCloseSocket(s, e); if (!rc) mark_dead(s); break;
        case 6: c.fn = F_SOCKNAME; rc = wspsan_WSPGetSockName(s, (struct sockaddr *)&a, &len, e); break;
        case 7: c.fn = F_PEERNAME; rc = wspsan_WSPGetPeerName(s, (struct sockaddr *)&a, &len, e); break;
        case 8: len = 4; c.fn = F_GETOPT; rc = wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, (char *)&v, &len, e); break;
        case 9: c.fn = F_SETOPT; rc = wspsan_WSPSetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_SNDBUF, (char *)&v, 4, e); break;
        case 10: c.fn = F_IOCTL; rc = wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &on, 4, NULL, 0, &n, NULL, NULL, NULL, e); break;
        case 11: c.fn = F_SELECT; rc = wspsan_WSPEventSelect(s, NULL, 0, e); break;
        case 12: c.fn = F_ENUM; rc = wspsan_WSPEnumNetworkEvents(s, NULL, &ne, e); break;
        case 13: c.fn = F_SWITCH_HANDLE; rc = wspsan_switch_handle(s, &rs, e); break;
        case 14: c.fn = F_CLEANUP; rc = wspsan_WSPCleanup(e); break;
        default: {
            /* WSPStartup answers with its return value. */
            WSPDATA d;
            WSPPROC_TABLE t;
            WSPUPCALLTABLE u;
            memset(&u, 0, sizeof u);
            c.fn = F_STARTUP;
            int got = wspsan_WSPStartup(0x0202, &d, NULL, u, &t);
            if (got != WSAEINPROGRESS) fail("WSPStartup from a condition function gave %d, not WSAEINPROGRESS (A14)", got);
            rc = got ? -1 : 0;
            if (e) *e = got ? got : SENTINEL;
            if (!got) M.started++; /* keep the model honest if it did start */
            break;
        }
        }
        g_current = FN_NAMES[c.fn];
        end_int(&c, rc);
        return;
    }
    if (depth == -2) {
        op_device();
        return;
    }
    /* From an upcall: only the socket calls (no startup, cleanup or device switches). */
    uint32_t r = below(depth == -3 ? 730 : 1000);
    if (r < 90) op_socket();
    else if (r < 150) op_bind();
    else if (r < 200) op_listen();
    else if (r < 310) op_connect();
    else if (r < 430) op_accept();
    else if (r < 480) op_close();
    else if (r < 510) op_name((int)below(2));
    else if (r < 560) op_getopt();
    else if (r < 585) op_setopt();
    else if (r < 630) op_ioctl();
    else if (r < 680) op_select();
    else if (r < 730) op_enum();
    else if (r < 760) op_events_misc();
    else if (r < 775) op_diag();
    else if (r < 795) op_switch_handle();
    else if (r < 900) op_device();
    else if (r < 930) op_unsupported();
    else if (r < 940) op_startup(0);
    else if (r < 950) { if (M.started > 1 || pct(10)) op_cleanup(); }
    else if (r < 960) op_pair();
    else if (r < 975) { /* a burst of connects on one listener, then accepts: deeper queues */
        struct sockaddr_in t;
        if (!listener_target(&t)) { op_socket(); return; }
        int k = (int)below(6);
        for (int j = 0; j < k; j++) op_connect();
        for (int j = 0; j < k; j++) op_accept();
    } else {
        /* a fresh listener: socket, bind 127.0.0.1:0, listen (the valid path, often) */
        int before = npool;
        op_socket();
        if (npool > before) {
            SOCKET s = pool[npool - 1].s;
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = M.nnics ? M.nics[below((uint32_t)M.nnics)] : htonl(INADDR_LOOPBACK);
            int err = SENTINEL;
            if (wspsan_WSPBind(s, (struct sockaddr *)&a, sizeof a, &err) == 0) {
                int len = sizeof a, i = pool_find(s);
                if (i >= 0 && wspsan_WSPGetSockName(s, (struct sockaddr *)&a, &len, &err) == 0) {
                    pool[i].st = ST_BOUND;
                    pool[i].addr = a;
                }
                op_listen();
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Back to a sane device (up, no faults, default limits, only 127.0.0.1). */
static void device_defaults(void) {
    int err = SENTINEL;
    WSPSAN_LIMITS l;
    default_limits(&l);
    if (wspsan_device_set_network_down(0, &err) || wspsan_device_set_buffer_exhaustion(0, &err) ||
        wspsan_device_set_descriptor_limit(-1, &err) || wspsan_device_set_limits(&l, &err) ||
        wspsan_device_set_wildcard_bind(1, &err))
        fail("resetting the device failed: %s", code_name(err));
    M.down = M.bufexh = 0;
    M.desc_limit = -1;
    M.limits = l;
    M.wildcard = 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SEED COUNT   (COUNT steps, or <N>s for N seconds)\n", argv[0]);
        return 2;
    }
    g_seed = strtoull(argv[1], NULL, 0);
    g_trace = getenv("FUZZ_TRACE") != NULL;
    size_t alen = strlen(argv[2]);
    int timed = alen > 0 && argv[2][alen - 1] == 's';
    double limit = strtod(argv[2], NULL);
    rng_state = g_seed * 0x2545F4914F6CDD1Du + 1;
    main_thread = pthread_self();
    setvbuf(stdout, NULL, _IOLBF, 0);
    gb_init();
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    fd_limit = rl.rlim_cur == RLIM_INFINITY ? (1L << 20) : (long)rl.rlim_cur;
    if (pipe(pipe_fds) != 0) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    M.nics[0] = htonl(INADDR_LOOPBACK);
    M.nnics = 1;
    device_defaults();
    int fds_at_start = count_fds();
    printf("fuzz: seed %llu, %s %s\n", (unsigned long long)g_seed, argv[2], timed ? "" : "steps");

    replay_select_reentry();

    /* Before startup: every WSP call is WSANOTINITIALISED (X2), device calls work. */
    for (int k = 0; k < 50; k++) op_any(0);
    op_startup(1);

    double t0 = now_s();
    unsigned long steps = 0;
    for (;; steps++) {
        if (timed ? (steps % 256 == 0 && now_s() - t0 >= limit) : steps >= (unsigned long)limit) break;
        atomic_store(&g_step, steps);
        alarm(WATCHDOG_SECONDS);
        if (M.started == 0 && below(100) < 30) op_startup(1);
        op_any(0);
        evict();
        /* Faults do not last: a down device or exhausted buffers make every step fail. */
        if (M.down && pct(30)) {
            int err;
            if (wspsan_device_set_network_down(0, &err) == 0) M.down = 0;
        }
        if ((M.bufexh || M.desc_limit >= 0) && pct(10)) device_defaults();
        /* A full restart now and then: a new session with a new upcall table. */
        if (steps % 4000 == 3999) {
            device_defaults();
            while (M.started) op_cleanup();
            op_startup(1);
        }
    }
    alarm(WATCHDOG_SECONDS * 3);

    /* Tear down: device up, close every socket and event, undo every startup. */
    device_defaults();
    while (npool) {
        SOCKET s = pool[npool - 1].s;
        int err = SENTINEL;
        if (raw_close(s, &err) != 0 && pool_find(s) >= 0) {
            fail("closing socket %#llx at the end failed with %s", (unsigned long long)s, code_name(err));
        }
        mark_dead(s);
    }
    while (nevents) close_event_at(nevents - 1);
    while (M.started) op_cleanup();
    int err = SENTINEL;
    if (wspsan_WSPCleanup(&err) != SOCKET_ERROR || err != WSANOTINITIALISED)
        fail("WSPCleanup after the last one: %s", code_name(err));
    WSPSAN_DEVICE_STATS st;
    if (wspsan_device_stats(&st, &err) != 0 || st.open_sockets != 0 || st.pending != 0)
        fail("after the last cleanup: %llu sockets open, %llu requests pending", (unsigned long long)st.open_sockets,
             (unsigned long long)st.pending);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    int fds_at_end = count_fds();
    if (fds_at_end != fds_at_start - 2)
        fail("file descriptors: %d open at the start, %d at the end (a leaked eventfd duplicate?)", fds_at_start - 2,
             fds_at_end);
    alarm(0);

    /* Report. */
    unsigned long by_code[NCODES + 3] = {0};
    printf("fuzz: seed %llu: %lu steps, %lu calls in %.1f s; upcalls: %lu create, %lu close, %lu set, %lu reset\n",
           (unsigned long long)g_seed, steps, (unsigned long)atomic_load(&calls_made), now_s() - t0,
           (unsigned long)up_calls[0], (unsigned long)up_calls[1], (unsigned long)up_calls[2],
           (unsigned long)up_calls[3]);
    for (int f = 0; f < NFN; f++) {
        unsigned long total = 0;
        for (int k = 0; k < NCODES + 3; k++) total += results[f][k], by_code[k] += results[f][k];
        if (!total) {
            printf("  %-30s never called\n", FN_NAMES[f]);
            continue;
        }
        printf("  %-30s %7lu: ok %lu", FN_NAMES[f], total, (unsigned long)results[f][NCODES]);
        for (int k = 0; k < NCODES; k++)
            if (results[f][k]) printf(", %s %lu", CODES[k].name + 3, (unsigned long)results[f][k]);
        if (results[f][NCODES + 1]) printf(", NULL lpErrno %lu", (unsigned long)results[f][NCODES + 1]);
        if (results[f][NCODES + 2])
            printf(", %s %lu", f == F_CLOSE_EVENT ? "FALSE" : f == F_CREATE_EVENT ? "NULL" : "other",
                   (unsigned long)results[f][NCODES + 2]);
        printf("\n");
    }
    printf("  by code: ok %lu", by_code[NCODES]);
    for (int k = 0; k < NCODES; k++)
        if (by_code[k]) printf(", %s %lu", CODES[k].name, by_code[k]);
    printf(", NULL lpErrno %lu\n", by_code[NCODES + 1]);
    gb_free();
    free(issued);
    int failed = atomic_load(&failures);
    printf("fuzz: %lu passed, %d failed\n", (unsigned long)atomic_load(&calls_made) - (unsigned long)failed, failed);
    return failed ? 1 : 0;
}

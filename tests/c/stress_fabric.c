/* The fabric mode of the C-ABI stress: `stress --fabric [DURATION_SECONDS]`. SPEC T1, T2 across the
 * TCP fabric (F1-F7, F11), with the switch's upcalls on both sides (X5, A11).
 *
 * This file is included by stress.c (one program, two modes) and uses its helpers: random numbers,
 * violations, the per-thread contexts and watchdog, the switch, the listener churn of its chaos
 * thread (build_listener, close_listener, check_backlog, check_listener_books). It is not compiled
 * on its own.
 *
 * Processes. The parent forks, before any wspsan call, two children, each with its own environment
 * (SPEC F3: WSPSAN_FABRIC=tcp, WSPSAN_NICS, WSPSAN_FABRIC_PORT, read at its first WSPStartup):
 *
 *   listener process   device 127.0.<n>.1, .3, .4: 3 acceptors (conditions that accept, reject,
 *                      defer, answer invalid values or write *g) and the listener's chaos:
 *                      re-listen smaller and larger (L6), close and re-create the listener (K2),
 *                      its device down (-> WSAEHOSTUNREACH), out of buffers (-> WSAENOBUFS),
 *                      under a descriptor limit (L9), and the switch's create upcall failing (A11).
 *   connector process  device 127.0.<n>.2, .5: 6 connector threads (blocking, non-blocking with
 *                      FD_CONNECT, non-blocking polling SO_ERROR; implicit, NIC and wildcard binds;
 *                      non-blocking ones sometimes close while pending) and the connector's chaos:
 *                      its connect timeout (D2) and closes of blocked connectors (C7).
 *
 * Every attempt carries its id as caller data. Each side writes its own records to a file in a
 * scratch directory: the connector one record per attempt (its outcome, the interval it took,
 * what the listener must see), the listener one per condition run (what WSPAccept then returned)
 * and one per fault window (when a fault was on, when a re-listen or a listener-less stretch
 * happened). The parent then joins both logs by id and checks that every attempt has exactly
 * one outcome both sides agree on (f_allowed below), and that the books of both devices balance
 * against the logs and against each other (fabric requests sent = requests received).
 *
 * A short loss phase follows (unless STRESS_FABRIC_LOSS=0): the listener process accepts a few
 * connections and holds a few requests queued, is killed with SIGKILL, and the connector process
 * checks F7: every attempt waiting on it fails with WSAECONNRESET, every connection to it records
 * FD_CLOSE with WSAECONNABORTED, and a new connect is refused (F4).
 *
 * Every wait is bounded: each child has the watchdog of stress.c and an alarm(); the parent waits
 * for each message with a timeout, kills both children on any failure and always reaps them;
 * children die with the parent (PR_SET_PDEATHSIG). Addresses and the fabric port come from the
 * parent's pid, so that two runs at once do not collide. The logs are kept when the run fails
 * (or with STRESS_FABRIC_KEEP=1); the seed is printed ($STRESS_SEED replays the random choices). */

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#define F_CONNECTORS 6
#define F_LNICS 3                /* the listener device: 127.0.<n>.1, .3, .4 (nics[] in its process) */
#define F_CNICS 2                /* the connector device: 127.0.<n>.2, .5 */
#define F_LIVENESS_NS 3000000000ull /* the engine's liveness interval (F7), which the C ABI keeps */
#define F_MSG_WAIT_S 90          /* the longest the parent waits for one message of a child */
#define F_LOSS_PAIRS 4           /* loss phase: connections established before the kill */
#define F_LOSS_NB 6              /*             non-blocking requests queued at the kill */
#define F_LOSS_BLOCKING 3        /*             blocking requests queued at the kill */
#define F_PORT_LOSS (PORT + 1)   /* the loss phase's listener */
#define F_PORT_NONE (PORT + 2)   /* never listened on: the warm-up connects are refused there */

/* ------------------------------------------------------------------------------------------ */
/* Run parameters (the parent sets them before forking; the children inherit them) */

static int f_net;
static unsigned f_port;
static uint32_t f_lnic[F_LNICS], f_cnic[F_CNICS], f_dead;
static double f_duration;
static uint64_t f_seed;
static int f_loss = 1;
static char f_dir[200];
static pid_t f_parent_pid;
static _Atomic uint32_t *f_hint; /* shared page: the listener's NIC now (0: the wildcard or none) */

static uint32_t f_ip(int host) {
    return htonl((127u << 24) | ((uint32_t)f_net << 8) | (uint32_t)host);
}
static int f_lnic_index(uint32_t a) {
    for (int i = 0; i < F_LNICS; i++)
        if (f_lnic[i] == a)
            return i;
    return -1;
}
static int f_cnic_index(uint32_t a) {
    for (int i = 0; i < F_CNICS; i++)
        if (f_cnic[i] == a)
            return i;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* The two logs */

/* What the connector saw, final. Over the fabric nothing is refused synchronously: a connect
 * leaves through the fabric and is answered from the listener's device (F5). */
enum fc_out {
    FC_NONE,
    FC_SETUP_FAILED, /* WSPSocket / WSPEventSelect / FIONBIO / WSPBind failed: no connect */
    FC_NOTSOCK,      /* blocking: the chaos thread closed the socket before the connect ran */
    FC_ACCEPTED,     /* connected, with our own id back as callee data */
    FC_REFUSED,      /* WSAECONNREFUSED (no listener, queue full, exhausted, rejected, invalid, closed; F4) */
    FC_RESET,        /* WSAECONNRESET: a backlog shrink (L6), or the listener's device lost (F7) */
    FC_NOBUFS,       /* WSAENOBUFS: the listener's device out of buffers (D2, F8) */
    FC_UNREACH,      /* WSAEHOSTUNREACH: the listener's device down (README), or no fabric peer (F4) */
    FC_TIMEDOUT,     /* WSAETIMEDOUT: the connector's device's connect timeout (D2) */
    FC_INTR,         /* blocking, closed by the chaos thread while waiting: WSAEINTR (C7) */
    FC_ABANDONED,    /* non-blocking, closed by its own thread before it saw an answer (C7, K3) */
    FC_N
};
static const char *const fc_names[FC_N] = {
    "none", "setup failed", "closed before connect", "accepted", "refused", "reset", "WSAENOBUFS",
    "WSAEHOSTUNREACH", "timed out", "interrupted by close", "withdrawn by close"};

enum fc_phase { FP_WARMUP, FP_MAIN, FP_LOSS_PAIR, FP_LOSS_QUEUED, FP_LOSS_AFTER, FP_N };
static const char *const fp_names[FP_N] = {"warm-up", "main", "loss: connected", "loss: queued",
                                           "loss: after"};

struct fc_rec {            /* one per attempt, written by the connector process */
    uint64_t id;
    uint64_t t0, t1;       /* CLOCK_MONOTONIC: just before WSPConnect; when the outcome was known */
    uint32_t caller;       /* the address the listener must see it come from */
    uint32_t target;       /* the address connected to */
    uint16_t port;         /* its local port (0: unknown) */
    uint16_t lport;        /* the port connected to */
    uint8_t out, mode, bind, phase, stolen, pad[7];
};

/* What the listener process logs: every accept that ran the condition, and fault windows. */
enum fl_kind { FL_ACCEPT = 1, FL_WINDOW };
enum fl_window {
    W_DOWN = FAULT_DOWN,
    W_BUFEX = FAULT_BUFEX,
    W_DLIMIT = FAULT_DLIMIT,
    W_UPFAIL = FAULT_UPFAIL,
    W_RELISTEN = FAULT_RELISTEN,
    W_NOLISTENER,
    W_N
};
static const char *const w_names[W_N] = {"device down", "buffer exhaustion", "descriptor limit",
                                         "create upcall failing", "re-listen", "no listener"};

struct fl_ev {
    uint64_t id;          /* the attempt id the condition saw (FL_ACCEPT) */
    uint64_t t0, t1, t2;  /* condition start, condition end, WSPAccept return; a window: on, off */
    uint32_t caller, callee;
    int32_t result;       /* 0: WSPAccept returned a socket; else its error */
    uint16_t caller_port, callee_port;
    uint8_t kind, plan, upcall, what, phase, pad[3];
};

/* Per-thread batches, appended to the process's log (O_APPEND: whole records, never interleaved). */
struct f_log {
    int fd;
    size_t n;
    unsigned char buf[16384];
};

static void f_log_flush(struct f_log *lg) {
    size_t off = 0;
    while (off < lg->n) {
        ssize_t w = write(lg->fd, lg->buf + off, lg->n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            violation("writing a log: %s", strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    lg->n = 0;
}

static void f_log_put(struct f_log *lg, const void *rec, size_t size) {
    if (lg->n + size > sizeof lg->buf)
        f_log_flush(lg);
    memcpy(lg->buf + lg->n, rec, size);
    lg->n += size;
}

static int f_open_log(const char *name) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", f_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        _exit(2);
    }
    return fd;
}

/* ------------------------------------------------------------------------------------------ */
/* Control messages between the parent and a child (pipes; one write each, below PIPE_BUF) */

enum f_msg_type {
    FM_NONE, FM_READY, FM_GO, FM_CALM, FM_CALM_OK, FM_STOP, FM_DONE, FM_FINISH, FM_FINAL,
    FM_LOSS_LISTEN, FM_LOSS_LISTENING, FM_LOSS_PAIRS, FM_LOSS_PAIRS_SENT, FM_LOSS_ACCEPT, FM_LOSS_ACCEPTED,
    FM_LOSS_QUEUE, FM_LOSS_QUEUED, FM_LOSS_HOLD, FM_LOSS_HELD, FM_LOSS_LOST, FM_LOSS_DONE, FM_EXIT,
    FM_FAILED, FM_N
};
static const char *const fm_names[FM_N] = {
    "none", "ready", "go", "calm", "calm ok", "stop", "done", "finish", "final", "loss listen",
    "loss listening", "loss pairs", "loss pairs sent", "loss accept", "loss accepted", "loss queue",
    "loss queued", "loss hold", "loss held", "loss lost", "loss done", "exit", "failed"};

#define F_ARGS 40
struct f_msg {
    int32_t type, code;
    uint64_t arg[F_ARGS];
    WSPSAN_DEVICE_STATS st;
};

static int f_cmd_fd = -1, f_rep_fd = -1; /* in a child: commands in, reports out */

static int f_write_msg(int fd, const struct f_msg *m) {
    for (;;) {
        ssize_t w = write(fd, m, sizeof *m);
        if (w == (ssize_t)sizeof *m)
            return 1;
        if (w < 0 && errno == EINTR)
            continue;
        return 0;
    }
}

/* Read one message within `ms`; 0 on timeout, -1 on EOF or error. */
static int f_read_msg(int fd, struct f_msg *m, int ms) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    int r = poll(&p, 1, ms);
    if (r == 0)
        return 0;
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    size_t got = 0;
    while (got < sizeof *m) {
        ssize_t n = read(fd, (char *)m + got, sizeof *m - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 1;
}

static void f_report(int type, int code) {
    struct f_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.code = code;
    if (!f_write_msg(f_rep_fd, &m))
        _exit(2); /* the parent is gone */
}

/* In a child: wait for the parent's next command (bounded). While waiting, a violation found by
 * this process is reported at once (FM_FAILED, once), so that the parent ends the run early. */
static int f_failed_reported;
static int f_wait_cmd(struct f_msg *m, double seconds) {
    uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
    for (;;) {
        if (atomic_load(&stop_all) && !f_failed_reported) {
            f_failed_reported = 1;
            f_report(FM_FAILED, 0);
        }
        int r = f_read_msg(f_cmd_fd, m, 100);
        if (r > 0)
            return m->type;
        if (r < 0) {
            fprintf(stderr, "fabric stress: the parent is gone\n");
            _exit(2);
        }
        if (now_ns() > deadline) {
            fprintf(stderr, "VIOLATION: no command from the parent for %.0f s\n", seconds);
            _exit(3);
        }
    }
}

/* Both children: die with the parent, and on their own after a bound. */
static void f_child_setup(const char *nics) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != f_parent_pid)
        _exit(2);
    alarm((unsigned)(f_duration + 8 * STALL_S + 60));
    char port[16];
    snprintf(port, sizeof port, "%u", f_port);
    setenv("WSPSAN_FABRIC", "tcp", 1);
    setenv("WSPSAN_NICS", nics, 1);
    setenv("WSPSAN_FABRIC_PORT", port, 1);
    unsetenv("WSPSAN_FABRIC_KEY");
}

/* WSPStartup with the switch's upcalls (X5), as stress.c's main does. */
static int f_startup(int *err) {
    WSPDATA wd;
    WSPPROC_TABLE procs;
    WSPUPCALLTABLE up;
    WSAPROTOCOL_INFOW info;
    memset(&up, 0, sizeof up);
    up.lpWPUCreateSocketHandle = sw_create;
    up.lpWPUCloseSocketHandle = sw_close;
    memset(&info, 0, sizeof info);
    info.dwCatalogEntryId = CATALOG_ENTRY;
    info.iAddressFamily = AF_INET;
    *err = wspsan_WSPStartup(0x0202, &wd, &info, up, &procs);
    if (*err != 0) {
        char msg[512];
        size_t len = 0;
        if (wspsan_last_error_message(msg, sizeof msg, &len) != 0)
            msg[0] = '\0';
        fprintf(stderr, "fabric stress: WSPStartup failed with %d: %s\n", *err, msg);
        return -1;
    }
    return 0;
}

/* The switch's books (X5) in one process: every handle made was closed exactly once. */
static void f_switch_books(uint64_t accepted, uint64_t discarded, uint64_t accept_upfails) {
    uint64_t creates = atomic_load(&sw_creates), closes = atomic_load(&sw_closes), failed = 0;
    for (int k = 0; k < SWF_N; k++)
        failed += atomic_load(&sw_fails[k]);
    pthread_mutex_lock(&sw_lock);
    uint64_t live = sw_live;
    pthread_mutex_unlock(&sw_lock);
    expect_eq("switch handles open after closing everything", live, 0);
    expect_eq("switch creates - closes", creates - closes, 0);
    expect_eq("switch creates == WSPSocket sockets + accepted sockets + accepted then discarded", creates,
              atomic_load(&n_sockets_made) + accepted + discarded);
    expect_eq("failing creates == WSPSocket + WSPAccept calls they failed", failed,
              atomic_load(&n_socket_upfails) + accept_upfails);
    expect_eq("creates with a foreign catalog entry id", atomic_load(&sw_catalog_bad), 0);
}

/* ========================================================================================== */
/* The listener process */

static struct f_log f_acc_log[N_ACCEPTORS], f_chaos_log, f_main_log;
static atomic_ullong f_late_confirms; /* accepts that waited the liveness interval for a confirmation in vain */

static int f_condition_body(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                            LPWSABUF callee_data, GROUP *g, struct cond_call *cc) {
    struct sockaddr_in ca, la;
    char t1[16], t2[16];
    if (!cond_enter(cc, caller_id, callee_id, &ca, &la))
        return CF_REJECT;
    /* A5, F2: the caller is a NIC of the connector's device (never 0.0.0.0) and an ephemeral port. */
    if (ca.sin_family != AF_INET || f_cnic_index(ca.sin_addr.s_addr) < 0 || ntohs(ca.sin_port) < 49152)
        violation("condition: caller %s:%u is not a NIC of the connector's device and an ephemeral port (A5, F2)",
                  addr_text(ca.sin_addr.s_addr, t1), ntohs(ca.sin_port));
    /* B2: the callee is the listener's own NIC when it is bound to one, else any of its device's. */
    if (la.sin_family != AF_INET || la.sin_port != htons(PORT) || f_lnic_index(la.sin_addr.s_addr) < 0 ||
        (cc->l->addr.sin_addr.s_addr != 0 && la.sin_addr.s_addr != cc->l->addr.sin_addr.s_addr))
        violation("condition: callee %s:%u is not the listener's (bound to %s) (A5, B2)",
                  addr_text(la.sin_addr.s_addr, t1), ntohs(la.sin_port), addr_text(cc->l->addr.sin_addr.s_addr, t2));
    cc->caller_addr = ca.sin_addr.s_addr;
    cc->caller_port = ntohs(ca.sin_port);
    cc->callee_addr = la.sin_addr.s_addr;
    cc->callee_port = ntohs(la.sin_port);
    cond_check_rest(gqos, g, callee_data);
    if (caller_data == NULL || caller_data->buf == NULL || caller_data->len != 8) {
        violation("condition: caller data is not the 8-byte attempt id (it crossed the fabric)");
        return CF_REJECT;
    }
    uint64_t id;
    memcpy(&id, caller_data->buf, 8);
    cc->id = id;
    if (sqos != NULL) {
        /* The QoS crossed the fabric too (REQUEST's FLOWSPECs and provider bytes, F10). */
        uint64_t qid = 0;
        if (sqos->ProviderSpecific.len != 8 || sqos->ProviderSpecific.buf == NULL ||
            sqos->SendingFlowspec.TokenRate != (ULONG)id || sqos->ReceivingFlowspec.Latency != (ULONG)(id >> 8))
            violation("condition: QoS of %#" PRIx64 " is not the one its connector sent", id);
        else if (memcpy(&qid, sqos->ProviderSpecific.buf, 8), qid != id)
            violation("condition: QoS provider bytes of %#" PRIx64 " carry %#" PRIx64, id, qid);
    }
    return cond_answer(cc, id, callee_data, g);
}

static int f_condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                       LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    struct cond_call *cc = (struct cond_call *)cb;
    cc->t_start = now_ns();
    int r = f_condition_body(caller_id, caller_data, sqos, gqos, callee_id, callee_data, g, cc);
    cc->t_end = now_ns();
    return r;
}

/* The fabric's acceptors: stress.c's acceptor_loop, each call whose condition ran logged for the
 * checker. */
static void f_after_accept(struct acceptor *a, const struct cond_call *cc, SOCKET s, int err,
                           const struct sw_note *note, uint64_t t_ret) {
    struct f_log *lg = &f_acc_log[a - accs];
    struct fl_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = FL_ACCEPT;
    ev.phase = FP_MAIN;
    ev.id = cc->id;
    ev.t0 = cc->t_start;
    ev.t1 = cc->t_end;
    ev.t2 = t_ret;
    ev.caller = cc->caller_addr;
    ev.callee = cc->callee_addr;
    ev.caller_port = cc->caller_port;
    ev.callee_port = cc->callee_port;
    ev.result = s != INVALID_SOCKET ? 0 : err;
    ev.plan = (uint8_t)cc->plan;
    ev.upcall = (uint8_t)note->what;
    f_log_put(lg, &ev, sizeof ev);
    /* F6: after CF_ACCEPT the accept waits for the connector's confirmation, at most the
     * liveness interval; one that gave up after about that long is the README's late case. */
    if (cc->plan == P_ACCEPT && s == INVALID_SOCKET && err == WSAEACCES &&
        t_ret - cc->t_end > F_LIVENESS_NS * 9 / 10)
        atomic_fetch_add(&f_late_confirms, 1);
}

static void f_acceptor_done(struct acceptor *a) { f_log_flush(&f_acc_log[a - accs]); }

static void *f_acceptor_main(void *arg) {
    static const struct acc_mode fabric = {f_condition, 1, f_after_accept, f_acceptor_done};
    acceptor_loop(arg, &fabric);
    return NULL;
}

/* The listener's chaos: stress.c's listener churn and device faults, each fault logged as a window
 * [just before it went on, just after it went off], so that the checker can tell whether a
 * connector's WSAEHOSTUNREACH or WSAENOBUFS met the fault that explains it. */
static uint64_t f_win_on[W_N];
static int f_nolistener_open;

static void f_window(int what, uint64_t on, uint64_t off) {
    struct fl_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = FL_WINDOW;
    ev.what = (uint8_t)what;
    ev.t0 = on;
    ev.t1 = off;
    f_log_put(&f_chaos_log, &ev, sizeof ev);
}

static int f_build_listener(void) {
    if (!build_listener())
        return 0;
    struct lsn *l = atomic_load(&current);
    atomic_store(f_hint, l != NULL ? l->addr.sin_addr.s_addr : 0);
    if (f_nolistener_open) {
        f_window(W_NOLISTENER, f_win_on[W_NOLISTENER], now_ns());
        f_nolistener_open = 0;
    }
    return 1;
}

static void f_close_listener(void) {
    if (atomic_load(&current) == NULL)
        return;
    if (!f_nolistener_open) {
        f_win_on[W_NOLISTENER] = now_ns();
        f_nolistener_open = 1;
    }
    close_listener();
}

static void f_fault_on(int fault) { f_win_on[fault] = now_ns(); }

static void f_fault_off(int fault) { f_window(fault, f_win_on[fault], now_ns()); }

static void f_chaos_done(void) { f_log_flush(&f_chaos_log); }

static void *f_lchaos_main(void *arg) {
    (void)arg;
    static const struct chaos_mode fabric = {f_build_listener, f_close_listener, 0, f_fault_on, f_fault_off,
                                             f_chaos_done};
    chaos_loop(&fabric);
    return NULL;
}

/* A socket for the loss phase: the switch's create upcall fails now and then (WSAEMFILE,
 * WSAENOBUFS): try again. */
static SOCKET f_socket_retry(int *err) {
    for (int i = 0; i < 100; i++) {
        SOCKET s = w_socket(err);
        if (s != INVALID_SOCKET || (*err != WSAEMFILE && *err != WSAENOBUFS))
            return s;
    }
    return INVALID_SOCKET;
}

/* Loss phase, listener side: a listener on F_PORT_LOSS whose first requests are accepted (and
 * logged at once: this process is killed later) and whose later ones stay queued. */
static int f_loss_condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                            LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    struct fl_ev *ev = (struct fl_ev *)cb;
    (void)sqos, (void)gqos, (void)g, (void)callee_data;
    struct sockaddr_in ca, la;
    ev->t0 = now_ns();
    if (caller_data == NULL || caller_data->len != 8 || caller_id == NULL || caller_id->len != sizeof ca ||
        callee_id == NULL || callee_id->len != sizeof la)
        return CF_REJECT;
    memcpy(&ev->id, caller_data->buf, 8);
    memcpy(&ca, caller_id->buf, sizeof ca);
    memcpy(&la, callee_id->buf, sizeof la);
    ev->caller = ca.sin_addr.s_addr;
    ev->caller_port = ntohs(ca.sin_port);
    ev->callee = la.sin_addr.s_addr;
    ev->callee_port = ntohs(la.sin_port);
    ev->plan = P_ACCEPT;
    ev->t1 = now_ns();
    return CF_ACCEPT;
}

static SOCKET f_loss_listener = INVALID_SOCKET;
static WSAEVENT f_loss_ev;
static SOCKET f_loss_accepted[F_LOSS_PAIRS];

static int f_loss_listen(void) {
    int err = 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(F_PORT_LOSS);
    a.sin_addr.s_addr = f_lnic[0];
    f_loss_listener = f_socket_retry(&err);
    f_loss_ev = wspsan_WSACreateEvent();
    if (f_loss_listener == INVALID_SOCKET || f_loss_ev == NULL ||
        wspsan_WSPBind(f_loss_listener, (struct sockaddr *)&a, sizeof a, &err) != 0 ||
        wspsan_WSPListen(f_loss_listener, WSPSAN_SOMAXCONN, &err) != 0 ||
        wspsan_WSPEventSelect(f_loss_listener, f_loss_ev, FD_ACCEPT, &err) != 0) {
        violation("loss phase: no listener (%d)", err);
        return 0;
    }
    return 1;
}

static int f_loss_accept(int n) {
    uint64_t deadline = now_ns() + 10000000000ull;
    int got = 0;
    while (got < n) {
        struct fl_ev ev;
        memset(&ev, 0, sizeof ev);
        int err = 0;
        memset(&sw_note, 0, sizeof sw_note);
        tl->calls[K_ACCEPT]++;
        SOCKET s = wspsan_WSPAccept(f_loss_listener, NULL, NULL, f_loss_condition, (DWORD_PTR)&ev, &err);
        if (s != INVALID_SOCKET) {
            ev.kind = FL_ACCEPT;
            ev.phase = FP_LOSS_PAIR;
            ev.t2 = now_ns();
            ev.result = 0;
            f_log_put(&f_main_log, &ev, sizeof ev);
            f_loss_accepted[got++] = s;
            continue;
        }
        if (err != WSAEWOULDBLOCK && err != WSAEMFILE && err != WSAENOBUFS) { /* A11: kept queued */
            violation("loss phase: WSPAccept gave %d", err);
            return 0;
        }
        if (now_ns() > deadline) {
            violation("loss phase: only %d of %d requests arrived in 10 s", got, n);
            return 0;
        }
        (void)wait_eventfd(f_loss_ev, 10);
    }
    f_log_flush(&f_main_log); /* before the kill */
    return 1;
}

static int f_loss_hold(uint64_t n) {
    uint64_t deadline = now_ns() + 10000000000ull;
    for (;;) {
        WSPSAN_LISTENER_STATS ls;
        int err = 0;
        if (wspsan_device_listener_stats(f_loss_listener, &ls, &err) != 0) {
            violation("loss phase: listener stats gave %d", err);
            return 0;
        }
        if (ls.queue_len == n)
            return 1;
        if (now_ns() > deadline) {
            violation("loss phase: %" PRIu64 " requests queued after 10 s, expected %" PRIu64, ls.queue_len, n);
            return 0;
        }
        sleep_us(2000);
    }
}

/* A child process's start: its main thread's context, its device's NICs (n of them), its seed,
 * its device. Returns 0, or the error after reporting FM_FAILED. */
static int f_proc_start(struct tctx *ctx, const char *name, const uint32_t *nics, int n, uint64_t seed_mix) {
    tl = ctx;
    snprintf(ctx->name, sizeof ctx->name, "%s", name);
    char nics_env[64];
    char t[3][16];
    if (n == 3)
        snprintf(nics_env, sizeof nics_env, "%s,%s,%s", addr_text(nics[0], t[0]), addr_text(nics[1], t[1]),
                 addr_text(nics[2], t[2]));
    else
        snprintf(nics_env, sizeof nics_env, "%s,%s", addr_text(nics[0], t[0]), addr_text(nics[1], t[1]));
    f_child_setup(nics_env);
    run_seed = f_seed ^ seed_mix;
    int err = 0;
    if (f_startup(&err) != 0) {
        f_report(FM_FAILED, err);
        return err != 0 ? err : -1;
    }
    return 0;
}

static int f_listener_proc(void) {
    static struct tctx main_ctx;
    if (f_proc_start(&main_ctx, "listener main", f_lnic, 3, 0x4c4c4c4cull) != 0)
        return 2;
    int err = 0;
    WSPSAN_LIMITS lim;
    if (wspsan_device_get_limits(&lim, &err) != 0)
        violation("get_limits: %d", err);
    lim.max_backlog = MAX_BACKLOG;
    lim.connect_timeout_ms = 0;
    if (wspsan_device_set_limits(&lim, &err) != 0)
        violation("set_limits: %d", err);
    /* stress.c's listener churn works on nics[] and listen_addr: this device's NICs. */
    for (int i = 0; i < N_NICS; i++)
        nics[i] = f_lnic[i];
    memset(&listen_addr, 0, sizeof listen_addr);
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_port = htons(PORT);
    listen_addr.sin_addr.s_addr = f_lnic[0];
    listen_ev = wspsan_WSACreateEvent();
    int fd = f_open_log("listener.log");
    for (int i = 0; i < N_ACCEPTORS; i++)
        f_acc_log[i].fd = fd;
    f_chaos_log.fd = fd;
    f_main_log.fd = fd;
    uint64_t rs = f_seed ^ 0x1234567ull;
    char name[24];
    for (int i = 0; i < N_ACCEPTORS; i++) {
        snprintf(name, sizeof name, "acceptor %d", i);
        watch(&accs[i].t, name, rnd(&rs));
    }
    watch(&chaos.t, "listener chaos", rnd(&rs));
    main_ctx.rng = rnd(&rs);
    tl = &chaos.t;
    uint64_t deadline = now_ns() + 10000000000ull;
    while (!f_build_listener() && now_ns() < deadline)
        sleep_us(1000);
    tl = &main_ctx;
    if (atomic_load(&current) == NULL)
        violation("listener process: no first listener");
    run_deadline_ns = now_ns() + (uint64_t)((f_duration + 6 * STALL_S) * 1e9);
    pthread_t wd_th, chaos_th;
    pthread_create(&wd_th, NULL, watchdog_main, NULL);
    for (int i = 0; i < N_ACCEPTORS; i++)
        pthread_create(&accs[i].th, NULL, f_acceptor_main, &accs[i]);
    f_report(FM_READY, 0);

    struct f_msg m;
    int chaos_started = 0;
    if (f_wait_cmd(&m, 60) == FM_GO) {
        pthread_create(&chaos_th, NULL, f_lchaos_main, NULL);
        chaos_started = 1;
    }
    if (m.type == FM_GO)
        f_wait_cmd(&m, f_duration + 60);
    if (m.type != FM_CALM)
        violation("listener process: got \"%s\", expected \"calm\"", fm_names[m.type < FM_N ? m.type : 0]);
    atomic_store(&stop_chaos, 1);
    if (chaos_started)
        join_watched(chaos_th, &chaos.t);
    f_report(FM_CALM_OK, 0);

    /* The connectors have finished: every request they sent has arrived once received == sent. */
    if (f_wait_cmd(&m, 120) != FM_FINISH)
        violation("listener process: got \"%s\", expected \"finish\"", fm_names[m.type < FM_N ? m.type : 0]);
    uint64_t sent = m.arg[0];
    WSPSAN_DEVICE_STATS st;
    deadline = now_ns() + 10000000000ull;
    for (;;) {
        device_stats(&st);
        if (st.fabric.requests_received >= sent)
            break;
        if (now_ns() > deadline) {
            violation("fabric: the connector's device sent %" PRIu64 " requests, 10 s later %" PRIu64
                      " have arrived (F11)", sent, st.fabric.requests_received);
            break;
        }
        sleep_us(2000);
    }
    stop_acceptors("listener main");
    close_half_listener("listener main");
    atomic_store(&watchdog_stop, 1);
    pthread_join(wd_th, NULL);
    device_stats(&st);

    /* This device's own books (D3) against its acceptors' results. */
    struct acc_totals at;
    sum_acceptors(&at);
    const uint64_t *ares = at.res, *plans = at.plans;
    uint64_t up_fails = at.up_fails, up_restored = at.up_restored, up_orphaned = at.up_orphaned,
             up_discarded = at.up_discarded;
    uint64_t a14 = at.a14, t1c = at.t1c, slowc = at.slowc, k3c = at.k3c, names = at.names,
             peers = at.pair_peers + at.peerc;
    WSPSAN_LISTENER_STATS L = st.listeners;
    expect_eq("listener device: open_sockets after closing everything", st.open_sockets, 0);
    expect_eq("listener device: pending after closing everything", st.pending, 0);
    expect_eq("listener device: queue_len after closing everything", L.queue_len, 0);
    expect_eq("listener device: queued == accepted + rejected + reset + withdrawn + refused_by_close + queue_len",
              L.queued, L.accepted + L.rejected + L.reset + L.withdrawn + L.refused_by_close + L.queue_len);
    expect_eq("listener device: accepted == accepts that returned a socket", L.accepted, ares[A_SOCKET]);
    expect_eq("listener device: rejected == accepts failed WSAECONNREFUSED + WSAEINVAL", L.rejected,
              ares[A_REFUSED] + ares[A_INVALID]);
    expect_eq("listener device: withdrawn == accepts failed WSAEACCES", L.withdrawn,
              ares[A_ACCES_SEEN] + ares[A_ACCES_UNSEEN]);
    expect_eq("listener device: deferred == WSATRY_AGAIN + CF_DEFER orphans", L.deferred,
              ares[A_TRYAGAIN] + ares[A_ORPHAN_DEFER]);
    expect_eq("accepts failed by a failing create == restored + orphaned", up_fails, up_restored + up_orphaned);
    f_switch_books(ares[A_SOCKET], up_discarded, up_fails);

    printf("listener process (127.0.%d.1, .3, .4):\n", f_net);
    printf("  accept results:");
    for (int k = 0; k < A_N; k++)
        printf("%s%s %" PRIu64, k % 4 ? ", " : "\n    ", a_names[k], ares[k]);
    printf("\n  condition answers:");
    for (int k = 0; k < P_N; k++)
        printf(" %s %" PRIu64 "%s", plan_names[k], plans[k], k + 1 < P_N ? "," : "\n");
    printf("  probes: A14 %" PRIu64 ", T1 stats inside %" PRIu64 ", slow conditions %" PRIu64
           ", accepted names %" PRIu64 ", peers %" PRIu64 ", K3 peers gone across the fabric %" PRIu64
           ", L5 backlogs %" PRIu64 ", live listener books %" PRIu64 "\n",
           a14, t1c, slowc, names, peers, k3c, chaos.n_backlog_checked, chaos.n_books_checked);
    printf("  chaos: re-listen %" PRIu64 " (smaller %" PRIu64 "), listener closes %" PRIu64 ", listeners made %" PRIu64
           " (wildcard %" PRIu64 ", per NIC %" PRIu64 " / %" PRIu64 " / %" PRIu64 "), device down %" PRIu64
           ", buffer exhaustion %" PRIu64 ", descriptor limit %" PRIu64 ", create upcalls failing %" PRIu64 "\n",
           chaos.n_relisten, chaos.n_relisten_smaller, chaos.n_lclose, chaos.n_lcreate, chaos.n_lwildcard,
           chaos.n_lnic[0], chaos.n_lnic[1], chaos.n_lnic[2], chaos.n_down, chaos.n_bufex, chaos.n_dlimit,
           chaos.n_upfail);
    printf("  switch: creates %" PRIu64 ", failing %" PRIu64 " (accepts kept queued %" PRIu64 ", orphaned %" PRIu64
           "), accepted sockets discarded (withdrawn or unconfirmed) %" PRIu64 "\n",
           (uint64_t)atomic_load(&sw_creates), up_fails + (uint64_t)atomic_load(&n_socket_upfails), up_restored,
           up_orphaned, up_discarded);

    memset(&m, 0, sizeof m);
    m.type = FM_FINAL;
    m.st = st;
    for (int k = 0; k < A_N && k < F_ARGS - 4; k++)
        m.arg[k] = ares[k];
    m.arg[F_ARGS - 2] = atomic_load(&f_late_confirms);
    m.arg[F_ARGS - 1] = atomic_load(&n_violations);
    f_write_msg(f_rep_fd, &m);

    /* The loss phase, or the end. */
    while (f_wait_cmd(&m, 120) != FM_EXIT) {
        switch (m.type) {
        case FM_LOSS_LISTEN: f_report(FM_LOSS_LISTENING, f_loss_listen()); break;
        case FM_LOSS_ACCEPT: f_report(FM_LOSS_ACCEPTED, f_loss_accept((int)m.arg[0])); break;
        case FM_LOSS_HOLD: f_report(FM_LOSS_HELD, f_loss_hold(m.arg[0])); break; /* then the kill */
        default: violation("listener process: unexpected \"%s\"", fm_names[m.type < FM_N ? m.type : 0]); break;
        }
    }
    atomic_store(&sw_in_cleanup, 1);
    if (wspsan_WSPCleanup(&err) != 0)
        violation("WSPCleanup failed: %d", err);
    while (all_listeners != NULL) {
        struct lsn *n = all_listeners->next;
        free(all_listeners);
        all_listeners = n;
    }
    close(fd);
    return atomic_load(&n_violations) == 0 ? 0 : 1;
}

/* ========================================================================================== */
/* The connector process */

struct fconn {
    struct tctx t;
    pthread_t th;
    int index;
    uint64_t seq;
    struct conn_slot sl;
    struct f_log log;
    uint64_t binds[BK_N], callee_short, wouldblock;
    struct wc_counts wc;
    uint64_t names_checked;
};
static struct fconn fconns[F_CONNECTORS];

static struct {
    struct tctx t;
    pthread_t th;
    uint64_t n_stolen, n_stolen_bound, n_timeout;
} fcc; /* the connector's chaos */

static atomic_int f_stop_connect, f_stop_cchaos;

/* The outcome a connect's final code means; -1 for a code no connect may end with. */
static int f_outcome_of(int code) {
    switch (code) {
    case 0: return FC_ACCEPTED;
    case WSAECONNREFUSED: return FC_REFUSED;
    case WSAECONNRESET: return FC_RESET;
    case WSAENOBUFS: return FC_NOBUFS;
    case WSAEHOSTUNREACH: return FC_UNREACH;
    case WSAETIMEDOUT: return FC_TIMEDOUT;
    default: return -1;
    }
}

/* One attempt of the main phase; fills r and returns the outcome. */
static int f_attempt(struct fconn *c, struct fc_rec *r, WSAEVENT ev) {
    int err = 0;
    char t1[16], t2[16];
    unsigned m = below(&tl->rng, 10);
    int mode = m < 4 ? M_BLOCKING : m < 8 ? M_EVENT : M_POLL;
    r->mode = (uint8_t)mode;
    /* The target: the listener's NIC (as its process publishes it) or, when it is bound to the
     * wildcard, any NIC of its device; now and then any of them anyway (refused when the listener
     * is bound to another), and now and then 127.0.<n>.6, where no device is (F4). */
    unsigned tr = below(&tl->rng, 100);
    uint32_t hint = atomic_load(f_hint);
    uint32_t target = tr < 2 ? f_dead : (hint != 0 && tr < 97) ? hint : f_lnic[below(&tl->rng, F_LNICS)];
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(PORT);
    to.sin_addr.s_addr = target;
    r->target = target;
    r->lport = PORT;
    /* Bound first now and then: to a NIC of this device, or to 0.0.0.0 (F2: an unbound one is
     * bound to the first NIC; a wildcard-bound one speaks from it). */
    unsigned b = below(&tl->rng, 4);
    int bk = b < 2 ? BK_IMPLICIT : b == 2 ? BK_NIC : BK_WILDCARD;
    struct sockaddr_in bind_addr;
    memset(&bind_addr, 0, sizeof bind_addr);
    bind_addr.sin_family = AF_INET;
    bind_addr.sin_addr.s_addr = bk == BK_NIC ? f_cnic[below(&tl->rng, F_CNICS)] : 0;
    r->bind = (uint8_t)bk;
    uint32_t own = bk == BK_NIC ? bind_addr.sin_addr.s_addr : f_cnic[0];
    uint32_t own_pending = bk == BK_WILDCARD ? 0 : own;
    r->caller = own;
    r->t0 = r->t1 = now_ns();

    progress("creating a socket");
    SOCKET s = w_socket(&err);
    if (s == INVALID_SOCKET) {
        if (err != WSAENOBUFS && err != WSAEMFILE)
            violation("WSPSocket: unexpected error %d", err);
        return FC_SETUP_FAILED;
    }
    if (mode != M_BLOCKING) {
        if (connect_mode_setup(s, mode, ev, &err) != 0) {
            violation("%s: unexpected error %d", mode == M_EVENT ? "WSPEventSelect" : "FIONBIO", err);
            close_retry(s, c->t.name);
            return FC_SETUP_FAILED;
        }
    }
    struct sockaddr_in a;
    c->binds[bk]++;
    if (bk != BK_IMPLICIT) {
        tl->calls[K_BIND]++;
        if (wspsan_WSPBind(s, (struct sockaddr *)&bind_addr, sizeof bind_addr, &err) != 0) {
            violation("WSPBind(%s:0) gave %d (B1)", addr_text(bind_addr.sin_addr.s_addr, t1), err);
            close_retry(s, c->t.name);
            return FC_SETUP_FAILED;
        }
        if (sockname_retry(s, &a, c->t.name) == 0) {
            if (a.sin_addr.s_addr != bind_addr.sin_addr.s_addr || ntohs(a.sin_port) < 49152)
                violation("bound to %s:0, named %s:%u (B1)", addr_text(bind_addr.sin_addr.s_addr, t1),
                          addr_text(a.sin_addr.s_addr, t2), ntohs(a.sin_port));
            r->port = ntohs(a.sin_port);
        } else {
            violation("WSPGetSockName on a bound socket failed");
        }
    }
    uint64_t id = r->id;
    struct conn_args x;
    conn_args_init(&x, id, 1);

    if (mode == M_BLOCKING) {
        offer_slot(&c->sl, s);
        progress("in a blocking WSPConnect");
        tl->calls[K_CONNECT]++;
        r->t0 = now_ns();
        int rc = wspsan_WSPConnect(s, (struct sockaddr *)&to, sizeof to, &x.caller, &x.callee_buf, x.qp, NULL, &err);
        r->t1 = now_ns();
        int stolen = reclaim_slot(&c->sl, c->t.name);
        r->stolen = (uint8_t)stolen;
        int out = f_outcome_of(rc == 0 ? 0 : err);
        if (rc == 0) {
            size_t want = x.short_callee ? 4 : 8;
            if (x.callee_buf.len != want || memcmp(x.callee, &id, want) != 0)
                violation("attempt %#" PRIx64 ": callee data is not its own id (len %u) (C5)", id, x.callee_buf.len);
            c->callee_short += (uint64_t)x.short_callee;
        } else if (err == WSAEINTR) {
            out = FC_INTR;
            if (!stolen)
                violation("attempt %#" PRIx64 ": blocking connect WSAEINTR, but nobody closed its socket", id);
        } else if (err == WSAENOTSOCK) {
            out = FC_NOTSOCK;
            if (!stolen)
                violation("attempt %#" PRIx64 ": WSAENOTSOCK on its own open socket", id);
        } else if (out < 0) {
            violation("attempt %#" PRIx64 ": blocking connect failed with %d", id, err);
            out = FC_REFUSED;
        }
        if (stolen) {
            if (r->port == 0)
                r->port = (uint16_t)atomic_load(&c->sl.port);
            return out;
        }
        /* F2: bound implicitly to the device's first NIC; C6: back to its bind after a failure. */
        uint32_t want = out == FC_ACCEPTED ? own : own_pending;
        if (sockname_retry(s, &a, c->t.name) == 0) {
            if (a.sin_addr.s_addr != want || (r->port != 0 && ntohs(a.sin_port) != r->port))
                violation("attempt %#" PRIx64 " (%s bind, %s): named %s:%u, expected %s:%u (F2, C4, A15)", id,
                          bind_names[bk], fc_names[out], addr_text(a.sin_addr.s_addr, t1), ntohs(a.sin_port),
                          addr_text(want, t2), r->port);
            r->port = ntohs(a.sin_port);
            c->names_checked++;
        } else {
            violation("attempt %#" PRIx64 ": connector unbound after a connect", id);
        }
        if (out == FC_ACCEPTED)
            check_connected_peer(s, &to, id, " (A15)", 0);
        close_attempt(s, c->t.name, id);
        return out;
    }

    /* Non-blocking: over the fabric every connect is queued first (WSAEWOULDBLOCK, F4, F5); the
     * answer comes as FD_CONNECT or SO_ERROR. */
    progress("in a non-blocking WSPConnect");
    tl->calls[K_CONNECT]++;
    r->t0 = now_ns();
    int rc = wspsan_WSPConnect(s, (struct sockaddr *)&to, sizeof to, &x.caller, NULL, x.qp, NULL, &err);
    int out = -1;
    if (rc == 0 || err != WSAEWOULDBLOCK) {
        violation("attempt %#" PRIx64 ": non-blocking connect across the fabric gave %d, not WSAEWOULDBLOCK (F5)",
                  id, rc == 0 ? 0 : err);
        r->t1 = now_ns();
        close_retry(s, c->t.name);
        return rc == 0 ? FC_ACCEPTED : FC_REFUSED;
    }
    c->wouldblock++;
    int named_early = check_pending_name(s, c->t.name, id, bk, own, own_pending, "F2", &c->wc, &r->port, NULL);
    int abandon = below(&tl->rng, 4) == 0;
    uint64_t give_up = now_ns() + (abandon ? below(&tl->rng, 2000) * 1000ull : (uint64_t)WAIT_ANSWER_S * 1000000000u);
    progress(mode == M_EVENT ? "waiting for FD_CONNECT" : "polling SO_ERROR");
    while (out < 0) {
        int code = connect_answer(s, mode, ev, id, 0);
        if (code != -1) {
            out = f_outcome_of(code);
            if (out < 0) {
                violation("attempt %#" PRIx64 ": connect answered with %d", id, code);
                out = FC_REFUSED;
            }
        }
        if (out < 0 && now_ns() >= give_up) {
            if (!abandon)
                violation("attempt %#" PRIx64 ": no answer in %d s (T2: nothing left waiting for ever)", id,
                          WAIT_ANSWER_S);
            out = FC_ABANDONED;
        }
        if (out < 0)
            progress(mode == M_EVENT ? "waiting for FD_CONNECT" : "polling SO_ERROR");
    }
    r->t1 = now_ns();
    if (out != FC_ABANDONED) {
        /* C2: the answer stays in SO_ERROR, across the fabric too. */
        static const int codes[FC_N] = {[FC_REFUSED] = WSAECONNREFUSED, [FC_RESET] = WSAECONNRESET,
                                        [FC_NOBUFS] = WSAENOBUFS, [FC_UNREACH] = WSAEHOSTUNREACH,
                                        [FC_TIMEDOUT] = WSAETIMEDOUT};
        check_so_error_twice(s, id, codes[out], 0);
    }
    if (out == FC_ACCEPTED) {
        char got[16];
        int len = sizeof got, e = 0;
        tl->calls[K_GETSOCKOPT]++;
        if (wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, SO_CONNDATA, got, &len, &e) != 0)
            violation("attempt %#" PRIx64 ": SO_CONNDATA gave %d", id, e);
        else if (len != 8 || memcmp(got, &id, 8) != 0)
            violation("attempt %#" PRIx64 ": callee data is not its own id (C5)", id);
    }
    if (out != FC_ABANDONED && check_answered_name(s, c->t.name, id, bk, fc_names[out], out == FC_ACCEPTED,
                                                   named_early, own, own_pending, r->port, &c->wc, NULL))
        c->names_checked++;
    close_attempt(s, c->t.name, id);
    return out;
}

static void *f_connector_main(void *arg) {
    struct fconn *c = arg;
    tl = &c->t;
    WSAEVENT ev = connector_event(&c->t);
    if (ev == NULL)
        return NULL;
    while (!atomic_load(&f_stop_connect) && !atomic_load(&stop_all)) {
        struct fc_rec r;
        memset(&r, 0, sizeof r);
        r.id = make_id(c->index, c->seq++);
        r.phase = FP_MAIN;
        r.out = (uint8_t)f_attempt(c, &r, ev);
        f_log_put(&c->log, &r, sizeof r);
        progress("between attempts");
        if (below(&tl->rng, 4) == 0)
            sleep_us(below(&tl->rng, 300));
    }
    f_log_flush(&c->log);
    wspsan_WSACloseEvent(ev);
    atomic_store(&c->t.watched, 0);
    return NULL;
}

/* Close a blocking connector's socket under it (C7): its connect ends with WSAEINTR and the
 * listener's device learns the withdrawal (WITHDRAW), unless it was answered first. */
static void f_steal_connector(void) {
    struct fconn *c = &fconns[below(&tl->rng, F_CONNECTORS)];
    steal_slot(&c->sl, &fcc.n_stolen, &fcc.n_stolen_bound);
}

static void *f_cchaos_main(void *arg) {
    (void)arg;
    tl = &fcc.t;
    int err = 0;
    while (!atomic_load(&f_stop_cchaos) && !atomic_load(&stop_all)) {
        progress("chaos");
        sleep_us(100 + below(&tl->rng, 1500));
        unsigned r = below(&tl->rng, 1000);
        if (r < 6) {
            static const uint32_t timeouts[] = {0, 0, 1, 3, 10, 50};
            device_call(wspsan_device_set_connect_timeout(timeouts[below(&tl->rng, 6)], &err), err,
                        "set_connect_timeout");
            fcc.n_timeout++;
        } else if (r < 66) {
            f_steal_connector();
        }
    }
    device_call(wspsan_device_set_connect_timeout(0, &err), err, "set_connect_timeout(0)");
    atomic_store(&fcc.t.watched, 0);
    return NULL;
}

/* A plain connect to addr:port, the id its only caller data (no QoS, no callee buffer), as the
 * warm-up and the loss phase make; *t0 is when it was called. */
static int f_connect_id(SOCKET s, uint32_t addr, unsigned port, uint64_t id, uint64_t *t0, int *err) {
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)port);
    to.sin_addr.s_addr = addr;
    char data[8];
    memcpy(data, &id, 8);
    WSABUF caller = {8, data};
    *t0 = now_ns();
    return wspsan_WSPConnect(s, (struct sockaddr *)&to, sizeof to, &caller, NULL, NULL, NULL, err);
}

/* A blocking connect on its own, for the warm-up and the loss phase. */
static int f_blocking_connect(uint32_t addr, unsigned port, uint64_t id, struct fc_rec *r, int phase) {
    int err = 0;
    memset(r, 0, sizeof *r);
    r->id = id;
    r->phase = (uint8_t)phase;
    r->mode = M_BLOCKING;
    r->target = addr;
    r->lport = (uint16_t)port;
    r->caller = f_cnic[0];
    r->t0 = r->t1 = now_ns();
    SOCKET s = f_socket_retry(&err);
    if (s == INVALID_SOCKET)
        return r->out = FC_SETUP_FAILED;
    int rc = f_connect_id(s, addr, port, id, &r->t0, &err);
    r->t1 = now_ns();
    int out = f_outcome_of(rc == 0 ? 0 : err);
    struct sockaddr_in a;
    if (sockname_retry(s, &a, "connect") == 0)
        r->port = ntohs(a.sin_port);
    close_retry(s, "connect");
    r->out = (uint8_t)(out < 0 ? FC_NONE : out);
    return out < 0 ? -err : out;
}

/* Loss phase, connector side. */
struct f_loss_blocker {
    pthread_t th;
    SOCKET s;
    uint64_t id;
    atomic_int done;
    int rc, err;
    uint64_t t0, t1;
};
static struct f_loss_blocker f_blockers[F_LOSS_BLOCKING];

static void *f_loss_blocker_main(void *arg) {
    struct f_loss_blocker *b = arg;
    static struct tctx bctx[F_LOSS_BLOCKING];
    tl = &bctx[b - f_blockers];
    b->rc = f_connect_id(b->s, f_lnic[0], F_PORT_LOSS, b->id, &b->t0, &b->err);
    b->t1 = now_ns();
    atomic_store(&b->done, 1);
    return NULL;
}

struct f_loss_nb {
    SOCKET s;
    WSAEVENT ev;
    uint64_t id, t0, t1;
    uint16_t port;
    int code; /* FD_CONNECT's error, -1 until it came */
};
static struct f_loss_nb f_pairs[F_LOSS_PAIRS], f_queued[F_LOSS_NB];
static uint64_t f_loss_seq;

static int f_loss_nb_connect(struct f_loss_nb *n) {
    int err = 0;
    memset(n, 0, sizeof *n);
    n->code = -1;
    n->id = make_id(F_CONNECTORS, f_loss_seq++);
    n->s = f_socket_retry(&err);
    n->ev = wspsan_WSACreateEvent();
    if (n->s == INVALID_SOCKET || n->ev == NULL ||
        wspsan_WSPEventSelect(n->s, n->ev, FD_CONNECT | FD_CLOSE, &err) != 0) {
        violation("loss phase: no connector (%d)", err);
        return 0;
    }
    if (f_connect_id(n->s, f_lnic[0], F_PORT_LOSS, n->id, &n->t0, &err) == 0 || err != WSAEWOULDBLOCK) {
        violation("loss phase: non-blocking connect gave %d, not WSAEWOULDBLOCK", err);
        return 0;
    }
    struct sockaddr_in a;
    if (sockname_retry(n->s, &a, "loss") == 0)
        n->port = ntohs(a.sin_port);
    return 1;
}

/* Wait (bounded) for the FD_CONNECT of every one of `n`; with `want_close`, also for their FD_CLOSE
 * with that error (F7: WSAECONNABORTED). Returns 1 when all came as expected. */
static int f_loss_wait(struct f_loss_nb *v, int n, int want_connect, int want_close, double seconds) {
    uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        struct f_loss_nb *x = &v[i];
        int have_connect = want_connect < 0 || x->code != -1, have_close = want_close < 0;
        while (!have_connect || !have_close) {
            WSANETWORKEVENTS ne;
            int e = 0;
            (void)wait_eventfd(x->ev, 10);
            memset(&ne, 0, sizeof ne);
            if (wspsan_WSPEnumNetworkEvents(x->s, x->ev, &ne, &e) != 0) {
                violation("loss phase: WSPEnumNetworkEvents gave %d", e);
                return 0;
            }
            if (ne.lNetworkEvents & FD_CONNECT) {
                x->code = ne.iErrorCode[FD_CONNECT_BIT];
                x->t1 = now_ns();
                have_connect = 1;
                if (want_connect >= 0 && x->code != want_connect) {
                    violation("loss phase: attempt %#" PRIx64 ": FD_CONNECT error %d, expected %d (F7)", x->id,
                              x->code, want_connect);
                    ok = 0;
                }
            }
            if (ne.lNetworkEvents & FD_CLOSE) {
                int code = ne.iErrorCode[FD_CLOSE_BIT];
                if (want_close < 0 || code != want_close) {
                    violation("loss phase: attempt %#" PRIx64 ": FD_CLOSE error %d, expected %d (F7)", x->id, code,
                              want_close);
                    ok = 0;
                }
                have_close = 1;
            }
            if (now_ns() > deadline) {
                violation("loss phase: attempt %#" PRIx64 ": no %s within %.0f s (F7: within the liveness interval)",
                          x->id, have_connect ? "FD_CLOSE" : "FD_CONNECT", seconds);
                return 0;
            }
        }
    }
    return ok;
}

static void f_loss_log(struct f_log *lg, const struct f_loss_nb *x, int phase, int out) {
    struct fc_rec r;
    memset(&r, 0, sizeof r);
    r.id = x->id;
    r.t0 = x->t0;
    r.t1 = x->t1 ? x->t1 : now_ns();
    r.caller = f_cnic[0];
    r.target = f_lnic[0];
    r.port = x->port;
    r.lport = F_PORT_LOSS;
    r.mode = M_EVENT;
    r.phase = (uint8_t)phase;
    r.out = (uint8_t)out;
    f_log_put(lg, &r, sizeof r);
}

static int f_connector_proc(void) {
    static struct tctx main_ctx;
    if (f_proc_start(&main_ctx, "connector main", f_cnic, 2, 0x43434343ull) != 0)
        return 2;
    int err = 0;
    char t[2][16];
    int fd = f_open_log("connector.log");
    struct f_log *mlog = &f_main_log;
    mlog->fd = fd;
    uint64_t rs = f_seed ^ 0x7654321ull;
    main_ctx.rng = rnd(&rs);

    /* Warm-up: one refused connect to each NIC of the listener's device opens the fabric
     * connections before any connect timeout is set (F2, F4: an opening connection is bounded by
     * it), and checks the refusal of an address nobody listens on crosses the fabric (F5). */
    device_call(wspsan_device_set_connect_timeout(10000, &err), err, "set_connect_timeout(10000)");
    for (int i = 0; i < F_LNICS; i++) {
        struct fc_rec r;
        int out = f_blocking_connect(f_lnic[i], F_PORT_NONE, make_id(F_CONNECTORS + 1, (uint64_t)i), &r, FP_WARMUP);
        if (out != FC_REFUSED)
            violation("warm-up: a connect to %s:%u (nobody listens) gave %s (%d), not WSAECONNREFUSED (F5)",
                      addr_text(f_lnic[i], t[0]), F_PORT_NONE, out >= 0 ? fc_names[out] : "an error", out);
        f_log_put(mlog, &r, sizeof r);
    }
    device_call(wspsan_device_set_connect_timeout(0, &err), err, "set_connect_timeout(0)");
    WSPSAN_DEVICE_STATS st;
    device_stats(&st);
    if (st.fabric.connections_open != F_LNICS || st.fabric.requests_sent != F_LNICS)
        violation("warm-up: %" PRIu64 " fabric connections open and %" PRIu64 " requests sent, expected %d each "
                  "(F2, F11)",
                  st.fabric.connections_open, st.fabric.requests_sent, F_LNICS);

    char name[24];
    for (int i = 0; i < F_CONNECTORS; i++) {
        fconns[i].index = i;
        fconns[i].log.fd = fd;
        snprintf(name, sizeof name, "connector %d", i);
        watch(&fconns[i].t, name, rnd(&rs));
    }
    watch(&fcc.t, "connector chaos", rnd(&rs));
    f_report(FM_READY, 0);

    struct f_msg m;
    int started = 0;
    if (f_wait_cmd(&m, 60) == FM_GO) {
        run_deadline_ns = now_ns() + (uint64_t)((f_duration + 6 * STALL_S) * 1e9);
        pthread_t wd_th;
        pthread_create(&wd_th, NULL, watchdog_main, NULL);
        pthread_detach(wd_th);
        for (int i = 0; i < F_CONNECTORS; i++)
            pthread_create(&fconns[i].th, NULL, f_connector_main, &fconns[i]);
        pthread_create(&fcc.th, NULL, f_cchaos_main, NULL);
        started = 1;
        f_wait_cmd(&m, f_duration + 120);
    }
    if (m.type != FM_STOP)
        violation("connector process: got \"%s\", expected \"stop\"", fm_names[m.type < FM_N ? m.type : 0]);
    if (started) {
        atomic_store(&f_stop_cchaos, 1);
        join_watched(fcc.th, &fcc.t);
        atomic_store(&f_stop_connect, 1);
        for (int i = 0; i < F_CONNECTORS; i++)
            join_watched(fconns[i].th, &fconns[i].t);
    }
    f_log_flush(mlog);
    device_stats(&st);
    expect_eq("connector device: open_sockets after closing everything", st.open_sockets, 0);
    expect_eq("connector device: pending", st.pending, 0);
    expect_eq("connector device: requests queued on it (it has no listener)", st.listeners.queued, 0);
    f_switch_books(0, 0, 0);
    uint64_t binds[BK_N] = {0}, cshort = 0, wb = 0, wpa = 0, wpn = 0, wn = 0, wu = 0, names = 0;
    uint64_t calls = 0;
    for (int i = 0; i < F_CONNECTORS; i++) {
        for (int k = 0; k < BK_N; k++)
            binds[k] += fconns[i].binds[k];
        cshort += fconns[i].callee_short;
        wb += fconns[i].wouldblock;
        wpa += fconns[i].wc.pending_any;
        wpn += fconns[i].wc.pending_nic;
        wn += fconns[i].wc.named;
        wu += fconns[i].wc.unnamed_again;
        names += fconns[i].names_checked;
        for (int k = 0; k < NCALL; k++)
            calls += fconns[i].t.calls[k];
    }
    printf("connector process (127.0.%d.2, .5):\n", f_net);
    printf("  binds: implicit %" PRIu64 ", NIC %" PRIu64 ", wildcard %" PRIu64 "; wildcard names: 0.0.0.0 while "
           "pending %" PRIu64 ", NIC already %" PRIu64 ", NIC once connected %" PRIu64 ", 0.0.0.0 after a failure %"
           PRIu64 "; names checked %" PRIu64 "\n",
           binds[BK_IMPLICIT], binds[BK_NIC], binds[BK_WILDCARD], wpa, wpn, wn, wu, names);
    printf("  non-blocking WSAEWOULDBLOCK %" PRIu64 ", 4-byte callee buffers %" PRIu64 "; chaos: blocking connectors "
           "closed %" PRIu64 " (bound %" PRIu64 "), connect timeout changes %" PRIu64 "; calls %" PRIu64 "\n",
           wb, cshort, fcc.n_stolen, fcc.n_stolen_bound, fcc.n_timeout, calls);
    memset(&m, 0, sizeof m);
    m.type = FM_DONE;
    m.st = st;
    m.arg[0] = atomic_load(&n_violations);
    f_write_msg(f_rep_fd, &m);

    /* The loss phase (F7), or the end. */
    while (f_wait_cmd(&m, 120) != FM_EXIT) {
        int ok = 1;
        switch (m.type) {
        case FM_LOSS_PAIRS:
            for (int i = 0; i < F_LOSS_PAIRS && ok; i++)
                ok = f_loss_nb_connect(&f_pairs[i]);
            f_report(FM_LOSS_PAIRS_SENT, ok);
            break;
        case FM_LOSS_QUEUE:
            /* The pairs are accepted: connected, with nothing but FD_CONNECT 0 so far. */
            ok = f_loss_wait(f_pairs, F_LOSS_PAIRS, 0, -1, 10);
            for (int i = 0; i < F_LOSS_NB && ok; i++)
                ok = f_loss_nb_connect(&f_queued[i]);
            for (int i = 0; i < F_LOSS_BLOCKING; i++)
                f_blockers[i].s = INVALID_SOCKET;
            for (int i = 0; i < F_LOSS_BLOCKING && ok; i++) {
                struct f_loss_blocker *b = &f_blockers[i];
                b->id = make_id(F_CONNECTORS, f_loss_seq++);
                b->s = f_socket_retry(&err);
                if (b->s == INVALID_SOCKET) {
                    violation("loss phase: no blocking connector (%d)", err);
                    ok = 0;
                    break;
                }
                pthread_create(&b->th, NULL, f_loss_blocker_main, b);
            }
            f_report(FM_LOSS_QUEUED, ok);
            break;
        case FM_LOSS_LOST: {
            /* F7: the listener's process was killed. Within the liveness interval (and here at
             * once: the kernel closed its fabric connections) every attempt waiting on it fails
             * with WSAECONNRESET and every connection to it records FD_CLOSE WSAECONNABORTED. */
            double limit = (double)F_LIVENESS_NS / 1e9 + 5;
            uint64_t t_lost = now_ns();
            ok = f_loss_wait(f_queued, F_LOSS_NB, WSAECONNRESET, -1, limit);
            ok &= f_loss_wait(f_pairs, F_LOSS_PAIRS, -1, WSAECONNABORTED, limit);
            for (int i = 0; i < F_LOSS_PAIRS; i++) {
                struct sockaddr_in p;
                int e = 0;
                if (w_peername(f_pairs[i].s, &p, &e) != SOCKET_ERROR || e != WSAENOTCONN)
                    violation("loss phase: a connection to the lost device still has a peer (%d) (F7)", e);
            }
            for (int i = 0; i < F_LOSS_BLOCKING; i++) {
                struct f_loss_blocker *b = &f_blockers[i];
                if (b->s == INVALID_SOCKET)
                    continue;
                uint64_t deadline = now_ns() + (uint64_t)(limit * 1e9);
                while (!atomic_load(&b->done) && now_ns() < deadline)
                    sleep_us(1000);
                if (!atomic_load(&b->done)) {
                    violation("loss phase: a blocking connect to the lost device still waits after %.0f s (F7)", limit);
                    close_retry(b->s, "loss"); /* wakes it (WSAEINTR), so that it can be joined */
                    b->s = INVALID_SOCKET;
                } else if (b->rc == 0 || b->err != WSAECONNRESET) {
                    violation("loss phase: a blocking connect to the lost device gave %d, not WSAECONNRESET (F7)",
                              b->rc == 0 ? 0 : b->err);
                }
                pthread_join(b->th, NULL);
            }
            double took = (double)(now_ns() - t_lost) / 1e9;
            /* F4: nothing accepts fabric peers there any more: refused. */
            device_call(wspsan_device_set_connect_timeout(10000, &err), err, "set_connect_timeout(10000)");
            struct fc_rec ar;
            int out = f_blocking_connect(f_lnic[0], F_PORT_LOSS, make_id(F_CONNECTORS, f_loss_seq++), &ar,
                                         FP_LOSS_AFTER);
            if (out != FC_REFUSED)
                violation("loss phase: a connect to the killed device gave %s (%d), not WSAECONNREFUSED (F4)",
                          out >= 0 ? fc_names[out] : "an error", out);
            f_log_put(mlog, &ar, sizeof ar);
            device_call(wspsan_device_set_connect_timeout(0, &err), err, "set_connect_timeout(0)");
            for (int i = 0; i < F_LOSS_PAIRS; i++)
                f_loss_log(mlog, &f_pairs[i], FP_LOSS_PAIR, f_pairs[i].code == 0 ? FC_ACCEPTED : FC_NONE);
            for (int i = 0; i < F_LOSS_NB; i++) {
                int o = f_queued[i].code == -1 ? -1 : f_outcome_of(f_queued[i].code);
                f_loss_log(mlog, &f_queued[i], FP_LOSS_QUEUED, o < 0 ? FC_NONE : o);
            }
            for (int i = 0; i < F_LOSS_BLOCKING; i++) {
                struct f_loss_blocker *b = &f_blockers[i];
                struct f_loss_nb x;
                memset(&x, 0, sizeof x);
                x.id = b->id;
                x.t0 = b->t0;
                x.t1 = b->t1;
                int o = b->rc == 0 ? FC_ACCEPTED : f_outcome_of(b->err);
                f_loss_log(mlog, &x, FP_LOSS_QUEUED, o < 0 ? FC_NONE : o);
            }
            f_log_flush(mlog);
            for (int i = 0; i < F_LOSS_PAIRS; i++) {
                close_retry(f_pairs[i].s, "loss");
                wspsan_WSACloseEvent(f_pairs[i].ev);
            }
            for (int i = 0; i < F_LOSS_NB; i++) {
                close_retry(f_queued[i].s, "loss");
                wspsan_WSACloseEvent(f_queued[i].ev);
            }
            for (int i = 0; i < F_LOSS_BLOCKING; i++)
                if (f_blockers[i].s != INVALID_SOCKET)
                    close_retry(f_blockers[i].s, "loss");
            WSPSAN_DEVICE_STATS ls;
            device_stats(&ls);
            expect_eq("loss phase: connector device open_sockets after closing everything", ls.open_sockets, 0);
            expect_eq("loss phase: connector device pending", ls.pending, 0);
            if (ls.fabric.connections_lost - st.fabric.connections_lost < 1)
                violation("loss phase: the connector's device counts no fabric connection lost (F7, F11)");
            printf("loss phase: %d connections aborted, %d queued requests reset (%d blocking) within %.3f s, "
                   "fabric connections lost %" PRIu64 ", the killed device's address refused afterwards\n",
                   F_LOSS_PAIRS, F_LOSS_NB + F_LOSS_BLOCKING, F_LOSS_BLOCKING, took,
                   ls.fabric.connections_lost - st.fabric.connections_lost);
            memset(&m, 0, sizeof m);
            m.type = FM_LOSS_DONE;
            m.st = ls;
            m.code = ok;
            f_write_msg(f_rep_fd, &m);
            break;
        }
        default: violation("connector process: unexpected \"%s\"", fm_names[m.type < FM_N ? m.type : 0]); break;
        }
    }
    atomic_store(&sw_in_cleanup, 1);
    if (wspsan_WSPCleanup(&err) != 0)
        violation("WSPCleanup failed: %d", err);
    close(fd);
    return atomic_load(&n_violations) == 0 ? 0 : 1;
}

/* ========================================================================================== */
/* The parent: runs the two processes through the phases, then checks the two logs */

struct f_child {
    const char *name;
    pid_t pid;
    int cmd, rep; /* parent's ends */
    int reaped, status;
};

static struct f_child f_kids[2]; /* 0: listener, 1: connector */

static int f_spawn(struct f_child *k, const char *name, int (*body)(void)) {
    int cmd[2], rep[2];
    if (pipe(cmd) != 0 || pipe(rep) != 0) {
        perror("pipe");
        return 0;
    }
    fflush(NULL);
    k->name = name;
    k->reaped = 0;
    k->pid = fork();
    if (k->pid < 0) {
        perror("fork");
        return 0;
    }
    if (k->pid == 0) {
        close(cmd[1]);
        close(rep[0]);
        for (int i = 0; i < 2; i++)
            if (&f_kids[i] != k && f_kids[i].pid > 0) {
                close(f_kids[i].cmd);
                close(f_kids[i].rep);
            }
        f_cmd_fd = cmd[0];
        f_rep_fd = rep[1];
        signal(SIGPIPE, SIG_IGN);
        int rc = body();
        fflush(NULL);
        _exit(rc);
    }
    close(cmd[0]);
    close(rep[1]);
    k->cmd = cmd[1];
    k->rep = rep[0];
    return 1;
}

/* Reap within `ms` (then SIGKILL). */
static void f_reap(struct f_child *k, int ms) {
    if (k->pid <= 0 || k->reaped)
        return;
    uint64_t deadline = now_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        pid_t r = waitpid(k->pid, &k->status, WNOHANG);
        if (r == k->pid)
            break;
        if (r < 0 && errno != EINTR) {
            k->status = -1;
            break;
        }
        if (now_ns() > deadline) {
            fprintf(stderr, "fabric stress: the %s process still runs after %d ms: killed\n", k->name, ms);
            kill(k->pid, SIGKILL);
            waitpid(k->pid, &k->status, 0);
            break;
        }
        sleep_us(10000);
    }
    k->reaped = 1;
    close(k->cmd);
    close(k->rep);
}

static void f_kill_all(void) {
    for (int i = 0; i < 2; i++)
        if (f_kids[i].pid > 0 && !f_kids[i].reaped) {
            kill(f_kids[i].pid, SIGKILL);
            f_reap(&f_kids[i], 5000);
        }
}

static void f_send(struct f_child *k, int type, uint64_t arg) {
    struct f_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.arg[0] = arg;
    if (!f_write_msg(k->cmd, &m))
        fprintf(stderr, "fabric stress: cannot write to the %s process\n", k->name);
}

/* The next message of `k`, which must be `want`, within F_MSG_WAIT_S. */
static int f_expect(struct f_child *k, int want, struct f_msg *m) {
    int r = f_read_msg(k->rep, m, F_MSG_WAIT_S * 1000);
    while (r > 0 && m->type == FM_FAILED && want != FM_FAILED)
        r = f_read_msg(k->rep, m, F_MSG_WAIT_S * 1000); /* noted already by the child's exit status */
    if (r > 0 && m->type == want)
        return 1;
    if (r == 0)
        violation("the %s process sent no \"%s\" within %d s", k->name, fm_names[want], F_MSG_WAIT_S);
    else if (r < 0)
        violation("the %s process ended before \"%s\"", k->name, fm_names[want]);
    else
        violation("the %s process sent \"%s\", expected \"%s\"", k->name,
                  fm_names[m->type >= 0 && m->type < FM_N ? m->type : 0], fm_names[want]);
    return 0;
}

/* ---- the checker ---- */

static void *f_slurp(const char *name, size_t rec, size_t *count) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", f_dir, name);
    *count = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        violation("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size % (off_t)rec != 0) {
        violation("%s: %lld bytes, not whole records of %zu", path, (long long)sb.st_size, rec);
        close(fd);
        return NULL;
    }
    unsigned char *buf = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (buf != NULL && got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (buf == NULL || got != (size_t)sb.st_size) {
        violation("%s: read failed", path);
        free(buf);
        return NULL;
    }
    *count = got / rec;
    return buf;
}

static int f_cmp_crec(const void *a, const void *b) {
    uint64_t x = ((const struct fc_rec *)a)->id, y = ((const struct fc_rec *)b)->id;
    return x < y ? -1 : x > y;
}
static int f_cmp_ev(const void *a, const void *b) {
    const struct fl_ev *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->kind == FL_WINDOW && x->what != y->what)
        return x->what < y->what ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

/* Windows of one kind, sorted by start; one at a time, so their ends are sorted too. */
static const struct fl_ev *f_win[W_N];
static size_t f_nwin[W_N];
static uint64_t f_overlap_checked[W_N];

/* Whether [t0, t1] meets a window of `what`. */
static int f_overlaps(int what, uint64_t t0, uint64_t t1) {
    const struct fl_ev *w = f_win[what];
    size_t lo = 0, hi = f_nwin[what];
    while (lo < hi) { /* the first window starting after t1 */
        size_t mid = (lo + hi) / 2;
        if (w[mid].t0 <= t1)
            lo = mid + 1;
        else
            hi = mid;
    }
    f_overlap_checked[what]++;
    return lo > 0 && w[lo - 1].t1 >= t0;
}

/* What the listener's side decided for one id, from its accept records. */
static int f_verdict(int32_t result) {
    switch (result) {
    case 0: return L_ACCEPTED;
    case WSAECONNREFUSED: return L_REJECTED;
    case WSAEINVAL: return L_INVALID;
    case WSAEACCES: return L_ACCES;
    case WSAEINTR: return L_ORPHAN;
    default: return L_NONE; /* WSATRY_AGAIN (deferred), WSAEMFILE / WSAENOBUFS (kept queued, A11) */
    }
}

/* Which listener verdicts each connector outcome may meet across the fabric.
 *  - accepted <=> WSPAccept returned a socket for that id, exactly once (F6). The one exception the
 *    README decides: an accept that waited the liveness interval for a confirmation that came late
 *    fails with WSAEACCES while the connector is connected (and then finds the connection closed);
 *    allowed only when the record shows that wait.
 *  - refused: the condition rejected or answered an invalid value, or no accept decided it (no
 *    listener, queue full, exhausted, closed; F4 for 127.0.<n>.6), or the listener closed while the
 *    condition ran (orphaned).
 *  - reset, WSAENOBUFS, WSAEHOSTUNREACH: decided at arrival or by a shrink; no accept decided them.
 *  - timed out, interrupted: the connector withdrew, so no accept may decide it (A12, C7): the
 *    accept that reaches it fails with WSAEACCES (also when the condition already ran: README,
 *    "whatever the condition answered, so both sides agree"; F6 for an acceptance), or a shrink or
 *    close answers it; orphaned as on one device. A rejection or an invalid answer here would be
 *    a refusal the connector never got (A8, A10: both sides see it), checked apart below.
 *  - withdrawn by close: the answer may have arrived just before the close, unseen: anything. */
static const unsigned f_allowed[FC_N] = {
    [FC_SETUP_FAILED] = B(L_NONE),
    [FC_NOTSOCK] = B(L_NONE),
    [FC_ACCEPTED] = B(L_ACCEPTED),
    [FC_REFUSED] = B(L_NONE) | B(L_REJECTED) | B(L_INVALID) | B(L_ORPHAN),
    [FC_RESET] = B(L_NONE),
    [FC_NOBUFS] = B(L_NONE),
    [FC_UNREACH] = B(L_NONE),
    [FC_TIMEDOUT] = B(L_NONE) | B(L_ACCES) | B(L_ORPHAN),
    [FC_INTR] = B(L_NONE) | B(L_ACCES) | B(L_ORPHAN),
    [FC_ABANDONED] = B(L_NONE) | B(L_ACCEPTED) | B(L_REJECTED) | B(L_INVALID) | B(L_ACCES) | B(L_ORPHAN),
};

struct f_totals {
    uint64_t attempts, by_phase[FP_N], by_out[FC_N], by_mode_out[M_N][FC_N], by_final[L_N], pair[FC_N][L_N];
    uint64_t crossed, unexplained[W_N], main[FC_N], sent_min, sent_max, dead[FC_N], seen_total, seen_multi,
        restored_ids, late_confirms, sockets;
    uint64_t by_result_rejected, by_result_invalid, by_result_acces, by_result_orphan, by_result_tryagain,
        by_result_restored, orphan_defer;
    uint64_t addr_checked, causality_checked, nobufs_live, unreach_live, refused_live_none, acc_by_target[F_LNICS],
        acc_by_bind[BK_N];
};
static struct f_totals ft;

static int f_never_sent(const struct fc_rec *c) {
    return c->out == FC_SETUP_FAILED || c->out == FC_NOTSOCK || c->target == f_dead;
}

static void f_check_attempt(const struct fc_rec *c, const struct fl_ev *ev, size_t nev) {
    char t1[16], t2[16];
    uint64_t id = c->id;
    int o = c->out;
    ft.attempts++;
    if (c->phase >= FP_N || o <= FC_NONE || o >= FC_N || c->mode >= M_N) {
        violation("attempt %#" PRIx64 " (%s): no outcome recorded", id, c->phase < FP_N ? fp_names[c->phase] : "?");
        return;
    }
    ft.by_phase[c->phase]++;
    ft.by_out[o]++;
    if (c->phase == FP_MAIN)
        ft.main[o]++;
    ft.by_mode_out[c->mode][o]++;
    if (c->target == f_dead)
        ft.dead[o]++;
    /* The listener's side: its final answer (at most one), its sockets, its condition runs. */
    int f = L_NONE;
    unsigned socks = 0, restores = 0;
    const struct fl_ev *final_ev = NULL;
    for (size_t i = 0; i < nev; i++) {
        const struct fl_ev *e = &ev[i];
        int v = f_verdict(e->result);
        if (e->result == 0)
            socks++;
        if (e->result == WSAEMFILE || e->result == WSAENOBUFS)
            restores++;
        if (v != L_NONE) {
            if (f != L_NONE)
                violation("attempt %#" PRIx64 ": two final accept answers (%s, then %s)", id, l_names[f], l_names[v]);
            f = v;
            final_ev = e;
        }
        /* What the listener saw is what the connector sent, from where it sent it (A5, F2). */
        if (e->caller != c->caller || (c->port != 0 && e->caller_port != c->port) || e->callee != c->target ||
            e->callee_port != c->lport)
            violation("attempt %#" PRIx64 ": the condition saw %s:%u -> %s:%u, the connector was %s:%u -> %s:%u "
                      "(%s bind)", id, addr_text(e->caller, t1), e->caller_port, addr_text(e->callee, t2),
                      e->callee_port, addr_text(c->caller, (char[16]){0}), c->port,
                      addr_text(c->target, (char[16]){0}), c->lport, bind_names[c->bind < BK_N ? c->bind : 0]);
        else
            ft.addr_checked++;
        /* Causality across the processes (one clock): no condition sees a request before its
         * connect began. */
        if (e->t0 < c->t0)
            violation("attempt %#" PRIx64 ": a condition ran %.3f ms before its connect began", id,
                      (double)(c->t0 - e->t0) / 1e6);
        if (e->phase != c->phase)
            violation("attempt %#" PRIx64 ": logged in phase %s by the connector, %s by the listener", id,
                      fp_names[c->phase], fp_names[e->phase < FP_N ? e->phase : 0]);
    }
    ft.seen_total += nev;
    ft.seen_multi += nev > 1;
    /* REQUEST frames the connector's device sent before its books were read (warm-up, main): at
     * least those the listener's device answered or examined, at most those that reached the
     * fabric (not to the address with no device: that connection never opens). */
    if ((c->phase == FP_MAIN || c->phase == FP_WARMUP) && !f_never_sent(c)) {
        ft.sent_max++;
        if (nev > 0 || o == FC_ACCEPTED || o == FC_REFUSED || o == FC_RESET || o == FC_NOBUFS)
            ft.sent_min++; /* not WSAEHOSTUNREACH: also for a request whose time was up before it left (F4) */
    }
    ft.by_final[f]++;
    ft.pair[o][f]++;
    int late = 0;
    if (o == FC_ACCEPTED && f == L_ACCES && final_ev != NULL && final_ev->plan == P_ACCEPT &&
        final_ev->t2 - final_ev->t1 > F_LIVENESS_NS * 9 / 10) {
        late = 1; /* README: the confirmation came after the liveness interval */
        ft.late_confirms++;
    }
    if ((o == FC_TIMEDOUT || o == FC_INTR) && (f == L_REJECTED || f == L_INVALID) && final_ev != NULL) {
        ft.crossed++;
        violation("attempt %#" PRIx64 " (%s): the listener's WSPAccept failed with %s (its condition answered %.3f ms "
                  "after the connect began) and its device counts a rejection, but the connector's attempt had "
                  "ended %s %.3f ms after it began and never got the refusal: the REFUSED crossed the WITHDRAW on "
                  "the fabric and the two sides disagree (SPEC A8/A10: both sides see the refusal; T2, section 11; "
                  "on one device the accept fails with WSAEACCES)", id, mode_names[c->mode],
                  f == L_REJECTED ? "WSAECONNREFUSED" : "WSAEINVAL", (double)(final_ev->t1 - c->t0) / 1e6,
                  o == FC_TIMEDOUT ? "WSAETIMEDOUT" : "WSAEINTR (closed)", (double)(c->t1 - c->t0) / 1e6);
    } else if (!(f_allowed[o] & B(f)) && !late)
        violation("attempt %#" PRIx64 " (%s, %s): connector saw \"%s\" but the listener's side \"%s\" (T2, F6)", id,
                  fp_names[c->phase], mode_names[c->mode], fc_names[o], l_names[f]);
    if (socks > 1 || (socks == 1) != (f == L_ACCEPTED))
        violation("attempt %#" PRIx64 ": %u accepted sockets, final answer %s (F6)", id, socks, l_names[f]);
    if (f_never_sent(c) && nev != 0)
        violation("attempt %#" PRIx64 ": \"%s\" to %s was never sent, yet a condition saw it %zu times", id,
                  fc_names[o], addr_text(c->target, t1), nev);
    if ((o == FC_NOBUFS || o == FC_UNREACH) && nev != 0)
        violation("attempt %#" PRIx64 ": \"%s\" is decided at arrival, yet a condition saw it %zu times", id,
                  fc_names[o], nev);
    /* The listener decided before the connector learnt it (one clock for both processes). */
    if (final_ev != NULL && (o == FC_ACCEPTED || o == FC_REFUSED) && final_ev->t1 > c->t1) {
        violation("attempt %#" PRIx64 ": the connector saw \"%s\" %.3f ms before the condition decided", id,
                  fc_names[o], (double)(final_ev->t1 - c->t1) / 1e6);
    } else if (final_ev != NULL) {
        ft.causality_checked++;
    }
    if (restores > 0) {
        ft.restored_ids++;
        if (nev <= restores && f != L_NONE)
            violation("attempt %#" PRIx64 ": kept queued %u times, seen %zu times, final %s (A11)", id, restores, nev,
                      l_names[f]);
    }
    if (o == FC_ACCEPTED && c->phase == FP_MAIN) {
        int ti = f_lnic_index(c->target);
        if (ti >= 0)
            ft.acc_by_target[ti]++;
        ft.acc_by_bind[c->bind < BK_N ? c->bind : 0]++;
    }
    /* The fabric's own refusals against the listener's fault windows (one clock): WSAENOBUFS only
     * while its device was out of buffers, WSAEHOSTUNREACH only while it was down (for a device that
     * exists), a reset only around a re-listen (L6; the fabric is not lost in this phase). */
    if (c->phase == FP_MAIN && c->target != f_dead) {
        if (o == FC_NOBUFS) {
            ft.nobufs_live++;
            if (!f_overlaps(W_BUFEX, c->t0, c->t1) && ++ft.unexplained[W_BUFEX])
                violation("attempt %#" PRIx64 ": WSAENOBUFS from %s, whose device was not out of buffers during "
                          "[%.6f, %.6f] s", id, addr_text(c->target, t1), (double)c->t0 / 1e9, (double)c->t1 / 1e9);
        } else if (o == FC_UNREACH) {
            ft.unreach_live++;
            if (!f_overlaps(W_DOWN, c->t0, c->t1) && ++ft.unexplained[W_DOWN])
                violation("attempt %#" PRIx64 ": WSAEHOSTUNREACH from %s, whose device was up during [%.6f, %.6f] s",
                          id, addr_text(c->target, t1), (double)c->t0 / 1e9, (double)c->t1 / 1e9);
        } else if (o == FC_RESET) {
            if (!f_overlaps(W_RELISTEN, c->t0, c->t1) && ++ft.unexplained[W_RELISTEN])
                violation("attempt %#" PRIx64 ": WSAECONNRESET with no re-listen during [%.6f, %.6f] s (L6)", id,
                          (double)c->t0 / 1e9, (double)c->t1 / 1e9);
        } else if (o == FC_REFUSED && f == L_NONE) {
            ft.refused_live_none++;
        }
    }
    if (c->target == f_dead && o != FC_REFUSED && o != FC_UNREACH && o != FC_TIMEDOUT && o != FC_INTR &&
        o != FC_ABANDONED && o != FC_SETUP_FAILED && o != FC_NOTSOCK)
        violation("attempt %#" PRIx64 ": a connect to %s, where no device is, ended \"%s\" (F4)", id,
                  addr_text(f_dead, t1), fc_names[o]);
    switch (c->phase) {
    case FP_WARMUP:
        if (o != FC_REFUSED || nev != 0)
            violation("warm-up attempt %#" PRIx64 ": %s, seen %zu times", id, fc_names[o], nev);
        break;
    case FP_LOSS_PAIR:
        if (o != FC_ACCEPTED || f != L_ACCEPTED)
            violation("loss-phase pair %#" PRIx64 ": connector %s, listener %s", id, fc_names[o], l_names[f]);
        break;
    case FP_LOSS_QUEUED:
        if (o != FC_RESET || nev != 0)
            violation("loss-phase request %#" PRIx64 ": connector %s (F7: WSAECONNRESET), seen %zu times", id,
                      fc_names[o], nev);
        break;
    case FP_LOSS_AFTER:
        if (o != FC_REFUSED || nev != 0)
            violation("after the loss, attempt %#" PRIx64 ": %s (F4: WSAECONNREFUSED)", id, fc_names[o]);
        break;
    default: break;
    }
    for (size_t i = 0; i < nev; i++) {
        switch (ev[i].result) {
        case 0: ft.sockets++; break;
        case WSAECONNREFUSED: ft.by_result_rejected++; break;
        case WSAEINVAL: ft.by_result_invalid++; break;
        case WSAEACCES: ft.by_result_acces++; break;
        case WSAEINTR:
            ft.by_result_orphan++;
            ft.orphan_defer += ev[i].plan == P_DEFER;
            break;
        case WSATRY_AGAIN: ft.by_result_tryagain++; break;
        default: ft.by_result_restored++; break;
        }
    }
}

/* The books: printed even past violation()'s first 40 (the per-attempt messages come first). */
static void f_book_failed(const char *what, int64_t got, int64_t lo, int64_t hi) {
    if (atomic_load(&n_violations) < 40) {
        if (lo == hi)
            violation("%s: %" PRId64 ", expected %" PRId64, what, got, lo);
        else
            violation("%s: %" PRId64 ", expected within [%" PRId64 ", %" PRId64 "]", what, got, lo, hi);
        return;
    }
    atomic_fetch_add(&n_violations, 1);
    fprintf(stderr, "VIOLATION: %s: %" PRId64 ", expected within [%" PRId64 ", %" PRId64 "]\n", what, got, lo, hi);
}
static void f_book_eq(const char *what, uint64_t got, uint64_t want) {
    if (got != want)
        f_book_failed(what, (int64_t)got, (int64_t)want, (int64_t)want);
}
static void f_book_range(const char *what, int64_t got, int64_t lo, int64_t hi) {
    if (got < lo || got > hi)
        f_book_failed(what, got, lo, hi);
}

/* Join the logs, check every attempt, then the books. */
static void f_check(const struct f_msg *cdone, const struct f_msg *lfinal, const struct f_msg *closs, double secs) {
    size_t nc = 0, nl = 0;
    struct fc_rec *cr = f_slurp("connector.log", sizeof(struct fc_rec), &nc);
    struct fl_ev *le = f_slurp("listener.log", sizeof(struct fl_ev), &nl);
    if (cr == NULL || le == NULL) {
        free(cr);
        free(le);
        return;
    }
    qsort(cr, nc, sizeof *cr, f_cmp_crec);
    qsort(le, nl, sizeof *le, f_cmp_ev);
    size_t nacc = 0;
    while (nacc < nl && le[nacc].kind == FL_ACCEPT)
        nacc++;
    for (size_t i = nacc; i < nl; i++) {
        if (le[i].kind != FL_WINDOW || le[i].what >= W_N) {
            violation("listener log: record %zu of unknown kind %u", i, le[i].kind);
            continue;
        }
        if (f_win[le[i].what] == NULL)
            f_win[le[i].what] = &le[i];
        f_nwin[le[i].what]++;
    }
    for (int w = 0; w < W_N; w++)
        for (size_t i = 1; i < f_nwin[w]; i++)
            if (f_win[w][i].t0 < f_win[w][i - 1].t1)
                violation("listener log: %s windows overlap", w_names[w]);
    size_t j = 0;
    for (size_t i = 0; i < nc; i++) {
        if (i > 0 && cr[i].id == cr[i - 1].id) {
            violation("connector log: attempt %#" PRIx64 " twice", cr[i].id);
            continue;
        }
        while (j < nacc && le[j].id < cr[i].id) {
            violation("the listener's side saw id %#" PRIx64 ", which no connector sent (T2)", le[j].id);
            j++;
        }
        size_t k = j;
        while (k < nacc && le[k].id == cr[i].id)
            k++;
        f_check_attempt(&cr[i], &le[j], k - j);
        j = k;
    }
    for (; j < nacc; j++)
        violation("the listener's side saw id %#" PRIx64 ", which no connector sent (T2)", le[j].id);

    /* ---- the books: each device against the logs, and the two devices against each other ---- */
    const WSPSAN_DEVICE_STATS *C = &cdone->st, *Ls = &lfinal->st;
    const WSPSAN_LISTENER_STATS *L = &Ls->listeners;
    const uint64_t *o = ft.by_out, *la = lfinal->arg;
    const uint64_t *mo = ft.main;
    uint64_t loss_pairs = ft.by_phase[FP_LOSS_PAIR];
    uint64_t main_acc = ft.pair[FC_ACCEPTED][L_ACCEPTED] + ft.pair[FC_ABANDONED][L_ACCEPTED] - loss_pairs;
    f_book_eq("fabric: requests sent by the connector's device == requests received by the listener's (F11)",
              C->fabric.requests_sent, Ls->fabric.requests_received);
    f_book_eq("fabric: connections lost, connector's device (none in the main phase)", C->fabric.connections_lost, 0);
    f_book_eq("fabric: connections lost, listener's device", Ls->fabric.connections_lost, 0);
    f_book_eq("fabric: protocol errors", C->fabric.protocol_errors + Ls->fabric.protocol_errors, 0);
    f_book_eq("fabric: key failures", C->fabric.key_failures + Ls->fabric.key_failures, 0);
    f_book_eq("fabric: connections open on the connector's device == on the listener's",
              C->fabric.connections_open, Ls->fabric.connections_open);
    f_book_eq("listener device: accepted == sockets its accepts returned (log)", L->accepted, ft.sockets - loss_pairs);
    f_book_eq("listener device: accepted == attempts accepted on both sides + withdrawn by close after acceptance",
              L->accepted, main_acc);
    f_book_eq("listener device: accepts that returned a socket (its count) == (its log)", la[A_SOCKET],
              ft.sockets - loss_pairs);
    f_book_eq("listener device: rejected == accepts failed WSAECONNREFUSED + WSAEINVAL (log)", L->rejected,
              ft.by_result_rejected + ft.by_result_invalid);
    f_book_eq("listener device: withdrawn == WSAEACCES after the condition (log) + before it (count)", L->withdrawn,
              ft.by_result_acces + la[A_ACCES_UNSEEN]);
    f_book_eq("listener device: deferred == WSATRY_AGAIN + CF_DEFER orphans (log)", L->deferred,
              ft.by_result_tryagain + ft.orphan_defer);
    f_book_eq("listener device: orphans (count) == (log)", la[A_ORPHAN], ft.by_result_orphan);
    f_book_eq("listener device: accepts kept queued after CF_ACCEPT (count) == (log)", la[A_RESTORED],
              ft.by_result_restored);
    /* What arrived and was never queued: refused at arrival. The device counts the refusals
     * (queue full or exhausted, no listener); WSAENOBUFS and WSAEHOSTUNREACH it does not count:
     * they are the connectors' (those that had withdrawn meanwhile did not see theirs). Not every
     * WSAEHOSTUNREACH is the listener's: a connect whose time is up before its request leaves gets
     * one too (F4), so only WSAENOBUFS bounds this from below. */
    uint64_t withdrawers = mo[FC_TIMEDOUT] + mo[FC_INTR] + mo[FC_ABANDONED];
    int64_t uncounted = (int64_t)Ls->fabric.requests_received - (int64_t)L->queued - (int64_t)L->refused_full -
                        (int64_t)Ls->refused_no_listener;
    f_book_range("requests received - queued - refused at arrival (counted), against WSAENOBUFS and "
                 "WSAEHOSTUNREACH seen", uncounted, (int64_t)ft.nobufs_live,
                 (int64_t)(ft.nobufs_live + ft.unreach_live + withdrawers));
    /* Refusals seen with no accept's verdict: at arrival (refused_full, no listener; the warm-up
     * among them) or by a close (refused_by_close, which counts orphans too). */
    int64_t refusals = (int64_t)L->refused_full + (int64_t)Ls->refused_no_listener - (int64_t)F_LNICS +
                       (int64_t)L->refused_by_close - (int64_t)ft.by_result_orphan;
    f_book_range("listener refusals without a verdict - connectors that saw them", refusals -
                 (int64_t)ft.refused_live_none, 0, (int64_t)withdrawers);
    f_book_range("listener device reset - connectors that saw WSAECONNRESET (main phase)",
                 (int64_t)L->reset - (int64_t)mo[FC_RESET], 0, (int64_t)withdrawers);
    f_book_range("connector device timed_out - connectors that saw WSAETIMEDOUT", (int64_t)C->timed_out -
                 (int64_t)mo[FC_TIMEDOUT], 0, (int64_t)mo[FC_ABANDONED]);
    f_book_range("requests sent by the connector's device (between those answered and those attempted)",
                 (int64_t)C->fabric.requests_sent, (int64_t)ft.sent_min, (int64_t)ft.sent_max);
    if (closs != NULL && closs->code != 1)
        violation("loss phase: the connector process found F7 outcomes wrong (see above)");

    /* Coverage: a run that never met a fault proves little (runs under 10 s are too short). */
    const struct { const char *what; uint64_t n; } cover[] = {
        {"connects accepted", o[FC_ACCEPTED]}, {"connects refused", o[FC_REFUSED]}, {"connects reset", o[FC_RESET]},
        {"connects timed out", o[FC_TIMEDOUT]}, {"connects withdrawn by close", o[FC_ABANDONED]},
        {"blocking connects interrupted by close", o[FC_INTR]},
        {"WSAENOBUFS from the listener's device", ft.nobufs_live},
        {"WSAEHOSTUNREACH from the listener's device", ft.unreach_live},
        {"connects to an address with no device", ft.dead[FC_REFUSED] + ft.dead[FC_UNREACH]},
        {"accepts rejected", ft.by_result_rejected}, {"accepts invalid", ft.by_result_invalid},
        {"accepts deferred", ft.by_result_tryagain}, {"accepts of withdrawn requests", L->withdrawn},
        {"requests refused by a listener close", L->refused_by_close}, {"requests reset", L->reset},
        {"accepts that kept a request queued (A11)", ft.by_result_restored},
        {"timed-out or interrupted attempts whose accept failed WSAEACCES",
         ft.pair[FC_TIMEDOUT][L_ACCES] + ft.pair[FC_INTR][L_ACCES]},
    };
    for (size_t i = 0; i < sizeof cover / sizeof cover[0] && secs >= 10; i++)
        if (cover[i].n == 0)
            violation("coverage: no %s in the whole run", cover[i].what);

    /* ---- summary ---- */
    uint64_t per_mode[M_N] = {0};
    for (int m = 0; m < M_N; m++)
        for (int k = 0; k < FC_N; k++)
            per_mode[m] += ft.by_mode_out[m][k];
    printf("duration: %.1f s\n", secs);
    printf("attempts: %" PRIu64 " (%.0f/s in the main phase): blocking %" PRIu64 ", non-blocking FD_CONNECT %" PRIu64
           ", non-blocking SO_ERROR %" PRIu64 "; by phase:",
           ft.attempts, (double)ft.by_phase[FP_MAIN] / secs, per_mode[M_BLOCKING], per_mode[M_EVENT], per_mode[M_POLL]);
    for (int p = 0; p < FP_N; p++)
        printf(" %s %" PRIu64 "%s", fp_names[p], ft.by_phase[p], p + 1 < FP_N ? "," : "\n");
    printf("connector outcomes (blocking / FD_CONNECT / SO_ERROR; to the address with no device):\n");
    for (int k = 1; k < FC_N; k++)
        printf("  %-24s %10" PRIu64 "  (%" PRIu64 " / %" PRIu64 " / %" PRIu64 "; %" PRIu64 ")\n", fc_names[k], o[k],
               ft.by_mode_out[M_BLOCKING][k], ft.by_mode_out[M_EVENT][k], ft.by_mode_out[M_POLL][k], ft.dead[k]);
    printf("listener's side, per attempt id:");
    for (int k = 0; k < L_N; k++)
        printf(" %s %" PRIu64 "%s", l_names[k], ft.by_final[k], k + 1 < L_N ? "," : "\n");
    printf("  condition runs %" PRIu64 ", ids seen more than once %" PRIu64 ", ids kept queued by a failing create %"
           PRIu64 ", accepts that waited the liveness interval for a confirmation %" PRIu64 " (of them the connector "
           "connected late: %" PRIu64 ")\n", ft.seen_total, ft.seen_multi, ft.restored_ids, la[F_ARGS - 2],
           ft.late_confirms);
    printf("  refusals the listener's side decided for attempts whose connector had withdrawn (A8, T2): %" PRIu64
           "\n", ft.crossed);
    printf("  connector outcome x listener verdict:");
    int col = 0;
    for (int c = 1; c < FC_N; c++)
        for (int f = 0; f < L_N; f++)
            if (ft.pair[c][f])
                printf("%s%s/%s %" PRIu64, col++ % 4 ? ", " : "\n    ", fc_names[c], l_names[f], ft.pair[c][f]);
    printf("\n  per id: addresses checked %" PRIu64 ", causal order checked %" PRIu64 "; accepted pairs by NIC "
           "addressed %" PRIu64 " / %" PRIu64 " / %" PRIu64 ", by bind: implicit %" PRIu64 ", NIC %" PRIu64
           ", wildcard %" PRIu64 "\n",
           ft.addr_checked, ft.causality_checked, ft.acc_by_target[0], ft.acc_by_target[1], ft.acc_by_target[2],
           ft.acc_by_bind[BK_IMPLICIT], ft.acc_by_bind[BK_NIC], ft.acc_by_bind[BK_WILDCARD]);
    printf("listener fault windows:");
    for (int w = 0; w < W_N; w++)
        printf(" %s %zu%s", w_names[w], f_nwin[w], w + 1 < W_N ? "," : "\n");
    printf("  attempts checked against them: WSAENOBUFS %" PRIu64 " (outside every window: %" PRIu64
           "), WSAEHOSTUNREACH %" PRIu64 " (outside: %" PRIu64 "), resets %" PRIu64 " (outside: %" PRIu64 ")\n",
           f_overlap_checked[W_BUFEX], ft.unexplained[W_BUFEX], f_overlap_checked[W_DOWN], ft.unexplained[W_DOWN],
           f_overlap_checked[W_RELISTEN], ft.unexplained[W_RELISTEN]);
    printf("listener device: queued %" PRIu64 ", accepted %" PRIu64 ", rejected %" PRIu64 ", deferred %" PRIu64
           ", refused_full %" PRIu64 ", reset %" PRIu64 ", withdrawn %" PRIu64 ", refused_by_close %" PRIu64
           ", refused_no_listener %" PRIu64 "; now queue_len %" PRIu64 ", pending %" PRIu64 ", open_sockets %" PRIu64
           "\n", L->queued, L->accepted, L->rejected, L->deferred, L->refused_full, L->reset, L->withdrawn,
           L->refused_by_close, Ls->refused_no_listener, L->queue_len, Ls->pending, Ls->open_sockets);
    printf("connector device: timed_out %" PRIu64 ", open_sockets %" PRIu64 ", pending %" PRIu64 "\n", C->timed_out,
           C->open_sockets, C->pending);
    printf("fabric: requests sent %" PRIu64 " / received %" PRIu64 ", connections open %" PRIu64 " / %" PRIu64
           ", lost %" PRIu64 " / %" PRIu64 ", protocol errors %" PRIu64 " / %" PRIu64 ", key failures %" PRIu64
           " / %" PRIu64 " (connector's / listener's device)\n",
           C->fabric.requests_sent, Ls->fabric.requests_received, C->fabric.connections_open,
           Ls->fabric.connections_open, C->fabric.connections_lost, Ls->fabric.connections_lost,
           C->fabric.protocol_errors, Ls->fabric.protocol_errors, C->fabric.key_failures, Ls->fabric.key_failures);
    uint64_t nv = atomic_load(&n_violations), classed = ft.crossed + ft.unexplained[W_BUFEX] +
                                                        ft.unexplained[W_DOWN] + ft.unexplained[W_RELISTEN];
    if (nv > 0)
        printf("violations by kind: refusals crossing a withdrawal %" PRIu64 ", WSAEHOSTUNREACH from an up device %"
               PRIu64 ", WSAENOBUFS from a device with buffers %" PRIu64 ", resets with no re-listen %" PRIu64
               ", other %" PRIu64 " (the first 40 are printed above)\n",
               ft.crossed, ft.unexplained[W_DOWN], ft.unexplained[W_BUFEX], ft.unexplained[W_RELISTEN],
               nv > classed ? nv - classed : 0);
    free(cr);
    free(le);
}

static int f_parent(double duration) {
    f_parent_pid = getpid();
    f_duration = duration;
    const char *seed_s = getenv("STRESS_SEED");
    f_seed = seed_s ? strtoull(seed_s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (f_seed == 0)
        f_seed = 1;
    const char *loss = getenv("STRESS_FABRIC_LOSS");
    f_loss = loss == NULL || strcmp(loss, "0") != 0;
    const char *keep = getenv("STRESS_FABRIC_KEEP");
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *tmp = getenv("TMPDIR");
    snprintf(f_dir, sizeof f_dir, "%s/wspsan-stress-fabric.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(f_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    /* The shared page for the listener's address (a directory service, not part of any check). */
    char hint_path[300];
    snprintf(hint_path, sizeof hint_path, "%s/hint", f_dir);
    int hfd = open(hint_path, O_RDWR | O_CREAT, 0600);
    if (hfd < 0 || ftruncate(hfd, 4096) != 0) {
        perror("hint page");
        return 2;
    }
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, hfd, 0);
    close(hfd);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    f_hint = (_Atomic uint32_t *)page;
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)(duration + 10 * STALL_S + 120)); /* the last resort; the children die with us */

    struct f_msg m, cdone, lfinal, closs;
    memset(&cdone, 0, sizeof cdone);
    memset(&lfinal, 0, sizeof lfinal);
    memset(&closs, 0, sizeof closs);
    int ok = 0, have_loss = 0;
    uint64_t t_start = 0;
    /* The listener first; a fabric port already taken (WSAEADDRINUSE) is tried again elsewhere. */
    for (int attempt = 0; attempt < 5; attempt++) {
        pid_t p = getpid();
        f_net = 8 + (int)((p + attempt * 37) % 110);
        f_port = 12000u + (unsigned)((p + attempt * 997) % 8000); /* below the ephemeral ports */
        for (int i = 0; i < F_LNICS; i++)
            f_lnic[i] = f_ip(i == 0 ? 1 : i + 2);
        f_cnic[0] = f_ip(2);
        f_cnic[1] = f_ip(5);
        f_dead = f_ip(6);
        atomic_store(f_hint, 0);
        memset(f_kids, 0, sizeof f_kids);
        if (!f_spawn(&f_kids[0], "listener", f_listener_proc))
            goto out;
        int r = f_read_msg(f_kids[0].rep, &m, F_MSG_WAIT_S * 1000);
        if (r > 0 && m.type == FM_READY)
            break;
        f_reap(&f_kids[0], 5000);
        if (r > 0 && m.type == FM_FAILED && m.code == WSAEADDRINUSE && attempt < 4) {
            fprintf(stderr, "fabric stress: fabric port %u or 127.0.%d.x taken; trying another\n", f_port, f_net);
            continue;
        }
        violation("the listener process did not start");
        goto out;
    }
    printf("wspsan C-ABI stress across the TCP fabric (SPEC T2, F1-F7, F11): %.0f s, listener device 127.0.%d.1,"
           ".3,.4 (%d acceptors), connector device 127.0.%d.2,.5 (%d connectors), fabric port %u, seed %#" PRIx64
           ", logs in %s\n", duration, f_net, N_ACCEPTORS, f_net, F_CONNECTORS, f_port, f_seed, f_dir);
    if (!f_spawn(&f_kids[1], "connector", f_connector_proc))
        goto out;
    if (!f_expect(&f_kids[1], FM_READY, &m))
        goto out;
    f_send(&f_kids[0], FM_GO, 0);
    f_send(&f_kids[1], FM_GO, 0);
    t_start = now_ns();
    uint64_t t_end = t_start + (uint64_t)(duration * 1e9), next_report = t_start + 60000000000ull;
    int early = 0;
    while (now_ns() < t_end && !early) {
        for (int i = 0; i < 2 && !early; i++) {
            int r = f_read_msg(f_kids[i].rep, &m, 50);
            if (r < 0) {
                violation("the %s process ended during the run", f_kids[i].name);
                goto out;
            }
            if (r > 0) {
                if (m.type != FM_FAILED) {
                    violation("the %s process sent \"%s\" during the run", f_kids[i].name,
                              fm_names[m.type >= 0 && m.type < FM_N ? m.type : 0]);
                    goto out;
                }
                fprintf(stderr, "fabric stress: the %s process found a violation; ending the run early\n",
                        f_kids[i].name);
                early = 1;
            }
        }
        if (now_ns() >= next_report) {
            printf("  ... %.0f s\n", (double)(now_ns() - t_start) / 1e9);
            next_report += 60000000000ull;
        }
    }
    /* Wind down: the listener's chaos first (faults off, one listener up), then the connectors
     * (each finishes its attempt), then the listener (once every request sent has arrived). */
    f_send(&f_kids[0], FM_CALM, 0);
    if (!f_expect(&f_kids[0], FM_CALM_OK, &m))
        goto out;
    f_send(&f_kids[1], FM_STOP, 0);
    if (!f_expect(&f_kids[1], FM_DONE, &cdone))
        goto out;
    f_send(&f_kids[0], FM_FINISH, cdone.st.fabric.requests_sent);
    if (!f_expect(&f_kids[0], FM_FINAL, &lfinal))
        goto out;
    double secs = (double)(now_ns() - t_start) / 1e9;
    if (f_loss) {
        /* F7: the listener's process dies with requests queued and connections open. */
        f_send(&f_kids[0], FM_LOSS_LISTEN, 0);
        if (!f_expect(&f_kids[0], FM_LOSS_LISTENING, &m) || m.code != 1)
            goto out;
        f_send(&f_kids[1], FM_LOSS_PAIRS, 0);
        if (!f_expect(&f_kids[1], FM_LOSS_PAIRS_SENT, &m) || m.code != 1)
            goto out;
        f_send(&f_kids[0], FM_LOSS_ACCEPT, F_LOSS_PAIRS);
        if (!f_expect(&f_kids[0], FM_LOSS_ACCEPTED, &m) || m.code != 1)
            goto out;
        f_send(&f_kids[1], FM_LOSS_QUEUE, 0);
        if (!f_expect(&f_kids[1], FM_LOSS_QUEUED, &m) || m.code != 1)
            goto out;
        f_send(&f_kids[0], FM_LOSS_HOLD, F_LOSS_NB + F_LOSS_BLOCKING);
        if (!f_expect(&f_kids[0], FM_LOSS_HELD, &m) || m.code != 1)
            goto out;
        kill(f_kids[0].pid, SIGKILL);
        f_reap(&f_kids[0], 5000);
        f_send(&f_kids[1], FM_LOSS_LOST, 0);
        if (!f_expect(&f_kids[1], FM_LOSS_DONE, &closs))
            goto out;
        have_loss = 1;
    } else {
        f_send(&f_kids[0], FM_EXIT, 0);
    }
    f_send(&f_kids[1], FM_EXIT, 0);
    for (int i = 0; i < 2; i++)
        f_reap(&f_kids[i], 30000);
    ok = 1;
    for (int i = 0; i < 2; i++) {
        struct f_child *k = &f_kids[i];
        int killed = i == 0 && have_loss;
        if (killed ? !(WIFSIGNALED(k->status) && WTERMSIG(k->status) == SIGKILL)
                   : !(WIFEXITED(k->status) && WEXITSTATUS(k->status) == 0)) {
            violation("the %s process ended with status %#x (its violations are above)", k->name, k->status);
        }
    }
    if (lfinal.arg[F_ARGS - 1] != 0 || cdone.arg[0] != 0)
        violation("the processes found %" PRIu64 " + %" PRIu64 " violations (above)", lfinal.arg[F_ARGS - 1],
                  cdone.arg[0]);
    f_check(&cdone, &lfinal, have_loss ? &closs : NULL, secs);
out:
    f_kill_all();
    munmap(page, 4096);
    unsigned long nv = atomic_load(&n_violations);
    if (ok && nv == 0) {
        if (keep == NULL || strcmp(keep, "1") != 0) {
            char path[300];
            const char *files[] = {"connector.log", "listener.log", "hint"};
            for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                snprintf(path, sizeof path, "%s/%s", f_dir, files[i]);
                unlink(path);
            }
            rmdir(f_dir);
        }
        printf("T2/F6 fabric stress: OK\n");
        return 0;
    }
    printf("T2/F6 fabric stress: FAILED: %lu violation(s)%s, seed %#" PRIx64 ", logs kept in %s\n", nv,
           ok ? "" : " and the run could not finish", f_seed, f_dir);
    return 1;
}

/* The C ABI's fabric from the environment (SPEC F3) and devices in separate processes on the
 * TCP fabric (SPEC F1, F2, F4, F5, F6, F9, F11).
 *
 * The provider is process-wide and made at the first WSPStartup, and its threads do not survive
 * fork(), so every scenario runs in a process of its own: the parent forks all its children
 * before its own first wspsan call, each child sets its environment and calls WSPStartup itself.
 * A child reports its checks back through a pipe ("passed failed") and its exit status. Every
 * wait is bounded (poll timeouts, and alarm() in every process as the last resort), and every
 * child is reaped, killed first if it overstays.
 *
 * Addresses and the fabric port are derived from the process id, so that two runs of this
 * program at once (two checkouts) do not claim the same NIC:port. */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

/* Every process gives up after this many seconds (SIGALRM ends it). */
#define ALARM_SECONDS 60
/* The longest any single wait of the test lasts, in milliseconds. */
#define WAIT_MS 10000

static int net;              /* 127.0.<net>.x: this run's addresses */
static unsigned fabric_port; /* this run's fabric port */
static char port_text[16];

static void ip_of(char *out, size_t len, int host) {
    snprintf(out, len, "127.0.%d.%d", net, host);
}

/* ------------------------------------------------------------------------------------------ */
/* Processes */

typedef struct {
    pid_t pid;
    int report; /* read end of the child's report pipe */
    int go;     /* write end of the pipe the child waits on */
    const char *name;
} Child;

/* The child's side of the `go` pipe: wait (bounded) for one byte from the parent. */
static int go_fd = -1;

static int wait_for_go(void) {
    struct pollfd p;
    char c;
    p.fd = go_fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, WAIT_MS) != 1)
        return 0;
    return read(go_fd, &c, 1) == 1;
}

static void send_go(Child *c) {
    char b = 'g';
    if (write(c->go, &b, 1) != 1)
        fprintf(stderr, "cannot signal child %s\n", c->name);
}

/* Fork a child that runs `body` after its own `go` (if `wait_go`), reports its counts and exits. */
static Child spawn(const char *name, void (*body)(void), int wait_go) {
    int report[2], go[2];
    Child c;
    fflush(stdout);
    fflush(stderr);
    if (pipe(report) != 0 || pipe(go) != 0) {
        perror("pipe");
        exit(2);
    }
    c.name = name;
    c.pid = fork();
    if (c.pid < 0) {
        perror("fork");
        exit(2);
    }
    if (c.pid == 0) {
        char line[64];
        int n;
        close(report[0]);
        close(go[1]);
        go_fd = go[0];
        alarm(ALARM_SECONDS);
        h_passed = h_failed = 0;
        if (wait_go && !wait_for_go()) {
            fprintf(stderr, "FAIL [%s] no go from the parent within %d ms\n", name, WAIT_MS);
            h_failed++;
        } else {
            body();
        }
        n = snprintf(line, sizeof line, "%d %d\n", h_passed, h_failed);
        if (write(report[1], line, (size_t)n) != n)
            h_failed++;
        exit(h_failed == 0 ? 0 : 1);
    }
    close(report[1]);
    close(go[0]);
    c.report = report[0];
    c.go = go[1];
    return c;
}

/* Reap the child (within WAIT_MS, then SIGKILL), add its counts, check its exit status. */
static void reap(Child *c) {
    char line[64];
    int status = -1, passed = 0, failed = 0, got = 0;
    size_t used = 0;
    struct pollfd p;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        long waited;
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid)
            break;
        if (r < 0 && errno != EINTR) {
            perror("waitpid");
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited > WAIT_MS) {
            fprintf(stderr, "FAIL [%s] child still running after %d ms: killed\n", c->name, WAIT_MS);
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            break;
        }
        h_sleep_ms(10);
    }
    p.fd = c->report;
    p.events = POLLIN;
    p.revents = 0;
    while (used < sizeof line - 1 && poll(&p, 1, 0) == 1) {
        ssize_t n = read(c->report, line + used, sizeof line - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    line[used] = '\0';
    got = sscanf(line, "%d %d", &passed, &failed) == 2;
    close(c->report);
    close(c->go);
    TEST(c->name);
    CHECK(got);
    CHECK(WIFEXITED(status));
    if (WIFEXITED(status))
        CHECK_EQ(WEXITSTATUS(status), 0);
    else if (WIFSIGNALED(status))
        fprintf(stderr, "child %s ended by signal %d\n", c->name, WTERMSIG(status));
    h_passed += passed;
    h_failed += failed;
}

/* ------------------------------------------------------------------------------------------ */
/* Startup and the provider */

static int startup(void) {
    WSPDATA data;
    WSPPROC_TABLE table;
    WSPUPCALLTABLE upcalls;
    memset(&upcalls, 0, sizeof upcalls);
    return wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &table);
}

static void clear_env(void) {
    unsetenv("WSPSAN_FABRIC");
    unsetenv("WSPSAN_NICS");
    unsetenv("WSPSAN_FABRIC_PORT");
    unsetenv("WSPSAN_FABRIC_KEY");
}

/* The environment of a TCP fabric device at 127.0.<net>.<host> on this run's fabric port. */
static void tcp_env(int host, const char *key) {
    char ip[32];
    clear_env();
    ip_of(ip, sizeof ip, host);
    setenv("WSPSAN_FABRIC", "tcp", 1);
    setenv("WSPSAN_NICS", ip, 1);
    setenv("WSPSAN_FABRIC_PORT", port_text, 1);
    if (key)
        setenv("WSPSAN_FABRIC_KEY", key, 1);
}

static WSPSAN_DEVICE_STATS stats(void) {
    WSPSAN_DEVICE_STATS s;
    int err = 0;
    memset(&s, 0xff, sizeof s);
    if (wspsan_device_stats(&s, &err) != 0)
        fprintf(stderr, "[%s] wspsan_device_stats failed: %d\n", h_test, err);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* SPEC F3: a value that cannot be parsed fails WSPStartup with WSAEINVAL naming the variable */

static char last_message[512];

/* WSPStartup fails with `code` and the message names `variable` (and not `not_named`). */
static void startup_fails(int code, const char *variable, const char *not_named) {
    size_t len = 0;
    CHECK_EQ(startup(), code);
    last_message[0] = '\0';
    CHECK_EQ(wspsan_last_error_message(last_message, sizeof last_message, &len), 0);
    if (strstr(last_message, variable) == NULL || (not_named && strstr(last_message, not_named) != NULL)) {
        h_failed++;
        fprintf(stderr, "FAIL [%s] the message should name %s: \"%s\"\n", h_test, variable, last_message);
    } else {
        h_passed++;
    }
}

static void env_errors(void) {
    /* not IPv4 addresses, an empty entry, the wildcard (no NIC's address), a NIC given twice */
    static const char *bad_nics[] = {"bogus", "", "127.0.0.1,", "127.0.0.256", "0.0.0.0", "127.0.0.1,127.0.0.1",
                                     "127.0.0.1;127.0.0.2", "::1"};
    static const char *bad_ports[] = {"0", "70000", "abc", "", "-1", "65536"};
    size_t i;
    int err = 0;

    TEST("F3 WSPSAN_FABRIC");
    clear_env();
    setenv("WSPSAN_FABRIC", "bogus", 1);
    /* SPEC F3: only tcp and local (or absent) */
    startup_fails(WSAEINVAL, "WSPSAN_FABRIC", "WSPSAN_FABRIC_");
    setenv("WSPSAN_FABRIC", "tcpx", 1);
    startup_fails(WSAEINVAL, "WSPSAN_FABRIC", "WSPSAN_FABRIC_");
    /* a failed startup starts nothing (X2) */
    CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSANOTINITIALISED);

    TEST("F3 WSPSAN_NICS");
    for (i = 0; i < sizeof bad_nics / sizeof bad_nics[0]; i++) {
        clear_env();
        setenv("WSPSAN_NICS", bad_nics[i], 1);
        startup_fails(WSAEINVAL, "WSPSAN_NICS", NULL); /* the local fabric */
        setenv("WSPSAN_FABRIC", "tcp", 1);
        setenv("WSPSAN_FABRIC_PORT", port_text, 1);
        startup_fails(WSAEINVAL, "WSPSAN_NICS", NULL); /* and the TCP fabric */
    }

    TEST("F3 WSPSAN_FABRIC_PORT");
    for (i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        tcp_env(9, NULL);
        setenv("WSPSAN_FABRIC_PORT", bad_ports[i], 1);
        startup_fails(WSAEINVAL, "WSPSAN_FABRIC_PORT", NULL);
    }

    TEST("F3 WSPSAN_FABRIC_KEY");
    tcp_env(9, "");
    startup_fails(WSAEINVAL, "WSPSAN_FABRIC_KEY", NULL);
    /* a key without the TCP fabric: a key only means something between devices on it (F9) */
    clear_env();
    setenv("WSPSAN_FABRIC_KEY", "secret", 1);
    startup_fails(WSAEINVAL, "WSPSAN_FABRIC_KEY", NULL);
    setenv("WSPSAN_FABRIC", "local", 1);
    startup_fails(WSAEINVAL, "WSPSAN_FABRIC_KEY", NULL);

    TEST("F3 failures are not kept");
    /* the environment fixed, the next startup reads it again and succeeds */
    tcp_env(9, "secret");
    CHECK_EQ(startup(), 0);
    /* the failed startups were not counted: one cleanup ends the session */
    CHECK_OK(wspsan_WSPCleanup(&err));
    CHECK_FAILS(wspsan_WSPCleanup(&err), WSANOTINITIALISED);
    /* the provider was made once: the environment is read at the first successful startup only */
    setenv("WSPSAN_FABRIC", "bogus", 1);
    CHECK_EQ(startup(), 0);
    CHECK_OK(wspsan_WSPCleanup(&err));
}

/* SPEC F3, F1: the local fabric (the default) takes its NICs from WSPSAN_NICS too. */
static void env_local_nics(void) {
    char ip[32], other[32];
    struct sockaddr_in a;
    SOCKET s;
    WSPSAN_DEVICE_STATS st;
    TEST("F3 WSPSAN_NICS on the local fabric");
    clear_env();
    ip_of(ip, sizeof ip, 5);
    ip_of(other, sizeof other, 6);
    {
        char list[80];
        snprintf(list, sizeof list, "%s,%s", ip, other);
        setenv("WSPSAN_NICS", list, 1);
    }
    CHECK_EQ(startup(), 0);
    s = h_socket();
    a = h_addr("127.0.0.1", h_port());
    CHECK_FAILS(wspsan_WSPBind(s, (const struct sockaddr *)&a, sizeof a, &err), WSAEADDRNOTAVAIL);
    a = h_addr(other, h_port());
    CHECK_OK(wspsan_WSPBind(s, (const struct sockaddr *)&a, sizeof a, &err));
    h_close(s);
    /* SPEC F11: the fabric counters are all 0 off the TCP fabric */
    st = stats();
    CHECK_EQ(st.fabric.connections_open, 0);
    CHECK_EQ(st.fabric.connections_lost, 0);
    CHECK_EQ(st.fabric.protocol_errors, 0);
    CHECK_EQ(st.fabric.key_failures, 0);
    CHECK_EQ(st.fabric.requests_sent, 0);
    CHECK_EQ(st.fabric.requests_received, 0);
    CHECK_OK(wspsan_WSPCleanup(&err));
}

/* ------------------------------------------------------------------------------------------ */
/* Across processes: the parent device at 127.0.<net>.2 listens on port 5000 */

#define LISTEN_PORT 5000

/* The connector at 127.0.<net>.3: a connect with caller data that the parent accepts with callee
 * data, then one it rejects. It exits without a cleanup, as a killed process would. */
static void connector_child(void) {
    char server[32], me[32], callee[32];
    struct sockaddr_in to, name;
    WSABUF cd, ce;
    WSPSAN_DEVICE_STATS st;
    SOCKET s, r;
    int len;

    TEST("F2 F6 connector process");
    tcp_env(3, NULL);
    ip_of(server, sizeof server, 2);
    ip_of(me, sizeof me, 3);
    if (startup() != 0) {
        h_failed++;
        fprintf(stderr, "FAIL [%s] WSPStartup on %s:%s\n", h_test, me, port_text);
        return;
    }
    to = h_addr(server, LISTEN_PORT);

    /* SPEC C1, C5, F6: a blocking connect returns once the other process accepted, with its data */
    s = h_socket();
    cd.buf = (char *)"alice";
    cd.len = 5;
    memset(callee, 0, sizeof callee);
    ce.buf = callee;
    ce.len = sizeof callee;
    CHECK_OK(wspsan_WSPConnect(s, (const struct sockaddr *)&to, sizeof to, &cd, &ce, NULL, NULL, &err));
    CHECK_EQ(ce.len, 7);
    CHECK(memcmp(callee, "welcome", 7) == 0);
    len = sizeof name;
    CHECK_OK(wspsan_WSPGetPeerName(s, (struct sockaddr *)&name, &len, &err));
    CHECK_EQ(name.sin_addr.s_addr, to.sin_addr.s_addr);
    CHECK_EQ(ntohs(name.sin_port), LISTEN_PORT);
    /* SPEC F2: an unbound connector aimed at a remote address is bound to the first NIC */
    len = sizeof name;
    CHECK_OK(wspsan_WSPGetSockName(s, (struct sockaddr *)&name, &len, &err));
    CHECK_EQ(name.sin_addr.s_addr, h_addr(me, 0).sin_addr.s_addr);

    /* SPEC F5: a rejection at a distance is WSAECONNREFUSED after one round trip */
    r = h_socket();
    cd.buf = (char *)"mallory";
    cd.len = 7;
    CHECK_FAILS(wspsan_WSPConnect(r, (const struct sockaddr *)&to, sizeof to, &cd, NULL, NULL, NULL, &err),
                WSAECONNREFUSED);

    /* SPEC F11, F2: both requests went over one fabric connection */
    st = stats();
    CHECK_EQ(st.fabric.requests_sent, 2);
    CHECK_EQ(st.fabric.requests_received, 0);
    CHECK_EQ(st.fabric.connections_open, 1);
    CHECK_EQ(st.fabric.protocol_errors, 0);
    CHECK_EQ(st.fabric.key_failures, 0);

    /* SPEC F4: no device runs at 127.0.<net>.9, so its host refuses the fabric connection: a
     * blocking connect fails with WSAECONNREFUSED, a non-blocking one returns WSAEWOULDBLOCK and
     * reports it through SO_ERROR */
    {
        char nobody[32];
        struct sockaddr_in gone;
        SOCKET u, v;
        int code = 0, waited;
        ip_of(nobody, sizeof nobody, 9);
        gone = h_addr(nobody, LISTEN_PORT);
        u = h_socket();
        CHECK_FAILS(wspsan_WSPConnect(u, (const struct sockaddr *)&gone, sizeof gone, NULL, NULL, NULL, NULL, &err),
                    WSAECONNREFUSED);
        v = h_socket();
        h_nonblocking(v, 1);
        CHECK_FAILS(wspsan_WSPConnect(v, (const struct sockaddr *)&gone, sizeof gone, NULL, NULL, NULL, NULL, &err),
                    WSAEWOULDBLOCK);
        for (waited = 0; waited < WAIT_MS && (code = h_so_error(v)) == 0; waited += 5)
            h_sleep_ms(5);
        CHECK_EQ(code, WSAECONNREFUSED);
        h_close(u);
        h_close(v);
    }
    /* s stays connected; the process ends without WSPCleanup */
}

/* A second process claiming the parent's NIC:port (SPEC F1). */
static void squatter_child(void) {
    size_t len = 0;
    TEST("F1 the same NIC:port in a second process");
    tcp_env(2, NULL);
    CHECK_EQ(startup(), WSAEADDRINUSE);
    last_message[0] = '\0';
    wspsan_last_error_message(last_message, sizeof last_message, &len);
    CHECK(strlen(last_message) > 0);
    /* not kept either: with a NIC of its own the next startup joins */
    tcp_env(7, NULL);
    CHECK_EQ(startup(), 0);
    CHECK_OK(wspsan_WSPCleanup(&err));
}

/* A device holding a key the parent does not hold (SPEC F9). */
static void keyed_child(void) {
    char server[32];
    struct sockaddr_in to;
    SOCKET s;
    WSPSAN_DEVICE_STATS st;
    TEST("F9 a key only one side holds");
    tcp_env(4, "secret");
    ip_of(server, sizeof server, 2);
    if (startup() != 0) {
        h_failed++;
        fprintf(stderr, "FAIL [%s] WSPStartup with a key\n", h_test);
        return;
    }
    to = h_addr(server, LISTEN_PORT);
    s = h_socket();
    CHECK_FAILS(wspsan_WSPConnect(s, (const struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err),
                WSAECONNREFUSED);
    st = stats();
    CHECK(st.fabric.key_failures >= 1);
    CHECK_EQ(st.fabric.requests_received, 0);
    CHECK_OK(wspsan_WSPCleanup(&err));
}

/* The connector's NIC:port again, right after the connector process exited (SPEC F1). */
static void rejoin_child(void) {
    TEST("F1 rejoin after the holder exited");
    tcp_env(3, NULL);
    CHECK_EQ(startup(), 0);
    CHECK_OK(wspsan_WSPCleanup(&err));
}

typedef struct {
    int calls;
    int caller_ok;
    int data_ok;
} Seen;

/* Accept "alice" from the connector's NIC with callee data; reject anyone else. */
static int conditional(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                       LPWSABUF callee_data, GROUP *g, DWORD_PTR callback) {
    Seen *seen = (Seen *)callback;
    struct sockaddr_in caller, callee;
    char connector[32], server[32];
    (void)sqos, (void)gqos, (void)g;
    seen->calls++;
    ip_of(connector, sizeof connector, 3);
    ip_of(server, sizeof server, 2);
    memcpy(&caller, caller_id->buf, sizeof caller);
    memcpy(&callee, callee_id->buf, sizeof callee);
    seen->caller_ok = caller.sin_addr.s_addr == h_addr(connector, 0).sin_addr.s_addr &&
                      callee.sin_addr.s_addr == h_addr(server, 0).sin_addr.s_addr &&
                      ntohs(callee.sin_port) == LISTEN_PORT;
    if (caller_data && caller_data->len == 5 && memcmp(caller_data->buf, "alice", 5) == 0) {
        seen->data_ok = 1;
        if (callee_data->len < 7)
            return CF_REJECT;
        memcpy(callee_data->buf, "welcome", 7);
        callee_data->len = 7;
        return CF_ACCEPT;
    }
    callee_data->len = 0;
    return CF_REJECT;
}

/* Accept on the non-blocking listener `l`, waiting (bounded) for FD_ACCEPT on `ev`. */
static SOCKET accept_within(SOCKET l, WSAEVENT ev, Seen *seen, int *err_out) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int err = 0;
        long waited;
        struct sockaddr_in peer;
        int len = sizeof peer;
        SOCKET a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, conditional, (DWORD_PTR)seen, &err);
        if (a != INVALID_SOCKET || err != WSAEWOULDBLOCK) {
            *err_out = err;
            return a;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited > WAIT_MS) {
            *err_out = WSAETIMEDOUT;
            return INVALID_SOCKET;
        }
        h_wait_set(ev, 100);
        {
            WSANETWORKEVENTS ne;
            wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err); /* resets the event */
        }
    }
}

/* Wait (bounded) for FD_CLOSE on `s` and return its error code, or -1. */
static int fd_close_within(SOCKET s, WSAEVENT ev, int ms) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        WSANETWORKEVENTS ne;
        int err = 0;
        long waited;
        memset(&ne, 0, sizeof ne);
        if (wspsan_WSPEnumNetworkEvents(s, ev, &ne, &err) == 0 && (ne.lNetworkEvents & FD_CLOSE))
            return ne.iErrorCode[FD_CLOSE_BIT];
        clock_gettime(CLOCK_MONOTONIC, &now);
        waited = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited > ms)
            return -1;
        h_wait_set(ev, 100);
    }
}

static void across_processes(void) {
    Child connector, squatter, keyed, rejoin;
    char server[32], me[32], connector_ip[32];
    SOCKET l, a = INVALID_SOCKET, r;
    WSAEVENT ev, aev;
    Seen seen;
    WSPSAN_DEVICE_STATS st;
    struct sockaddr_in name;
    int err = 0, len;

    /* every child that will call wspsan is forked before this process's first wspsan call */
    connector = spawn("F2 F6 connector process", connector_child, 1);
    squatter = spawn("F1 the same NIC:port in a second process", squatter_child, 1);
    keyed = spawn("F9 a key only one side holds", keyed_child, 1);
    rejoin = spawn("F1 rejoin after the holder exited", rejoin_child, 1);

    TEST("F2 F6 listener process");
    tcp_env(2, NULL);
    ip_of(server, sizeof server, 2);
    ip_of(me, sizeof me, 2);
    ip_of(connector_ip, sizeof connector_ip, 3);
    if (startup() != 0) {
        char msg[256];
        size_t n = 0;
        wspsan_last_error_message(msg, sizeof msg, &n);
        fprintf(stderr, "FAIL [%s] WSPStartup on %s:%s: %s\n", h_test, me, port_text, msg);
        h_failed++;
        kill(connector.pid, SIGKILL);
        kill(squatter.pid, SIGKILL);
        kill(keyed.pid, SIGKILL);
        kill(rejoin.pid, SIGKILL);
        reap(&connector);
        reap(&squatter);
        reap(&keyed);
        reap(&rejoin);
        return;
    }
    l = h_bound(server, LISTEN_PORT);
    CHECK_OK(wspsan_WSPListen(l, 8, &err));
    ev = wspsan_WSACreateEvent();
    aev = wspsan_WSACreateEvent();
    CHECK(ev != NULL && aev != NULL);
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));

    /* SPEC F1: the NIC:port this process holds is in use for every other process */
    send_go(&squatter);
    reap(&squatter);

    /* SPEC F6, A5, C5: the other process's connect, accepted conditionally with callee data */
    send_go(&connector);
    memset(&seen, 0, sizeof seen);
    TEST("F2 F6 listener process");
    a = accept_within(l, ev, &seen, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(seen.calls, 1);
    CHECK(seen.caller_ok);
    CHECK(seen.data_ok);
    if (a != INVALID_SOCKET) {
        len = sizeof name;
        CHECK_OK(wspsan_WSPGetPeerName(a, (struct sockaddr *)&name, &len, &err));
        CHECK_EQ(name.sin_addr.s_addr, h_addr(connector_ip, 0).sin_addr.s_addr);
        CHECK_OK(wspsan_WSPEventSelect(a, aev, FD_CLOSE, &err));
    }
    /* SPEC F5: the second request is rejected, the connector gets WSAECONNREFUSED */
    memset(&seen, 0, sizeof seen);
    r = accept_within(l, ev, &seen, &err);
    CHECK_EQ(r, INVALID_SOCKET);
    CHECK_EQ(err, WSAECONNREFUSED);
    CHECK_EQ(seen.calls, 1);
    CHECK(!seen.data_ok);

    st = stats();
    TEST("F11 listener process counters");
    CHECK_EQ(st.fabric.requests_received, 2);
    CHECK_EQ(st.fabric.requests_sent, 0);
    CHECK(st.fabric.connections_open >= 1);
    CHECK_EQ(st.fabric.protocol_errors, 0);
    CHECK_EQ(st.listeners.accepted, 1);
    CHECK_EQ(st.listeners.rejected, 1);

    /* the connector process ends (no cleanup): SPEC F7, its connection is aborted here */
    reap(&connector);
    TEST("F7 the connector process exited");
    if (a != INVALID_SOCKET)
        CHECK_EQ(fd_close_within(a, aev, WAIT_MS), WSAECONNABORTED);
    st = stats();
    CHECK(st.fabric.connections_lost >= 1);
    CHECK_EQ(st.fabric.protocol_errors, 0);

    /* SPEC F1: its NIC:port is free again for a new process right away */
    send_go(&rejoin);
    reap(&rejoin);

    /* SPEC F9: a device holding a key is refused, and counted here too */
    send_go(&keyed);
    reap(&keyed);
    TEST("F9 listener process counters");
    st = stats();
    CHECK(st.fabric.key_failures >= 1);
    CHECK_EQ(st.fabric.requests_received, 2);

    if (a != INVALID_SOCKET)
        h_close(a);
    h_close(l);
    wspsan_WSACloseEvent(ev);
    wspsan_WSACloseEvent(aev);
    CHECK_OK(wspsan_WSPCleanup(&err));
}

/* The environment checks in a process of their own (the provider is made once per process). */
static void env_checks(void) {
    Child errors = spawn("F3 environment errors", env_errors, 0);
    Child local = spawn("F3 WSPSAN_NICS on the local fabric", env_local_nics, 0);
    reap(&errors);
    reap(&local);
}

int main(void) {
    pid_t pid = getpid();
    net = 128 + (int)(pid % 120);
    fabric_port = 22000u + (unsigned)(pid % 9000);
    snprintf(port_text, sizeof port_text, "%u", fabric_port);
    alarm(ALARM_SECONDS);
    signal(SIGPIPE, SIG_IGN);
    env_checks();
    across_processes();
    return h_summary("test_fabric_env");
}

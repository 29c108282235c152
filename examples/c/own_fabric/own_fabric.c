/* own_fabric: a provider that carries wspsan's connection-setup messages over a channel of its
 * own, between processes.
 *
 * wspsan owns every rule of connection setup (queues, condition functions, refusals, withdrawals,
 * agreement between the two sides, loss). A provider with its own way to reach other hosts (an
 * InfiniBand CM, a vendor's messaging layer; here an AF_UNIX socketpair) only moves messages:
 *
 *   1. before its first wspsan call, the process installs a WSPSAN_TRANSPORT whose send callback
 *      carries one message to one peer (wspsan_transport_install);
 *   2. it opens one wspsan peer per device it can reach, naming that device's NIC addresses
 *      (wspsan_transport_open_peer): connects to those addresses go to that peer;
 *   3. whatever arrives from a peer it hands to wspsan_transport_receive, on any thread;
 *   4. when a peer is gone (its process died, the link broke) it says so once:
 *      wspsan_transport_peer_lost. wspsan settles everything that depended on it (SPEC F7).
 *
 * Here: the parent is the server's device (NIC 10.1.0.1); it forks a client device (10.1.0.2)
 * and a "doomed" client device (10.1.0.3) that is killed while its request is queued. Each child
 * is joined to the parent by a SOCK_SEQPACKET socketpair, so every record keeps its boundaries.
 * A record is one tag byte and a payload:
 *
 *   'M' + a wspsan message (opaque bytes: carry them whole, wspsan parses them)
 *   'S' + a line of this program's script ("listening", "withdrawn", ...), to pace the scenes
 *
 * Because both kinds travel in one ordered channel, a script line sent after a wspsan message
 * arrives after it too. The 10.x addresses are wspsan-internal names; no network is used.
 *
 * The scenes: a conditional accept with caller and callee data (SPEC A5, C5, F6); a refusal on
 * a full queue (L7, F5); a CF_DEFER, then a later accept (A9); a connector that withdraws its
 * queued request (C7, A12); a connector whose process is killed with its request queued (F7).
 * Every wait has a deadline; the program prints what happens and exits 0 only when every
 * expected outcome was seen. Set OWN_FABRIC_TRACE=1 to see every message on the channel. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wspsan.h"

#define SERVER_NIC "10.1.0.1"
#define CLIENT_NIC "10.1.0.2"
#define DOOMED_NIC "10.1.0.3"
#define PORT 7000
#define WAIT_MS 10000    /* the longest any single wait lasts */
#define ALARM_SECONDS 60 /* the last resort in every process */
#define MAX_RECORD (1 + 140000) /* tag + the largest wspsan message (MAX_BODY + channel byte) */

static const char *me = "?"; /* this process's role, for the log */
static int unexpected;       /* outcomes that were not the expected ones */
static int trace;

static void say(const char *fmt, ...) {
    va_list ap;
    char line[512];
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("%-7s %s\n", me, line);
}

/* Check an outcome: logged either way, counted when it is not what was expected. */
static int expect(int ok, const char *what) {
    if (!ok) {
        unexpected++;
        say("UNEXPECTED: %s", what);
    }
    return ok;
}

/* ---------------------------------------------------------------------------------------------
 * The transport: one link (socketpair end) per peer device */

struct link {
    const char *name; /* who is at the other end, for the log */
    const char *nics; /* its NIC addresses, as wspsan_transport_open_peer takes them */
    int fd;           /* our end of the socketpair */
    uint64_t peer;    /* wspsan's handle for the device at the other end */
    pthread_t reader;
    /* script lines the reader received, for the main thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char lines[8][64];
    int head, count;
    int lost; /* the reader saw the link end and told wspsan */
};

static struct link links[2];
static int nlinks;
static atomic_int sent_by_kind[8]; /* messages this process's wspsan sent, by WSPSAN_MESSAGE_* */

static const char *kind_name(int kind) {
    static const char *names[] = {"ANY", "REQUEST", "ANSWER", "CONFIRM", "WITHDRAW", "CLOSE"};
    return kind >= 0 && kind <= 5 ? names[kind] : "?";
}

/* One record on a link: the tag byte and the payload, in one sendmsg (one SEQPACKET record, so
 * the courier thread and the main thread never interleave within a record). */
static int send_record(struct link *l, char tag, const void *payload, size_t len) {
    struct iovec iov[2];
    struct msghdr mh;
    iov[0].iov_base = &tag;
    iov[0].iov_len = 1;
    iov[1].iov_base = (void *)(uintptr_t)payload;
    iov[1].iov_len = len;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;
    return sendmsg(l->fd, &mh, MSG_NOSIGNAL) == (ssize_t)(len + 1) ? 0 : -1;
}

/* wspsan's send callback. It runs on wspsan's courier thread, one message at a time, with no
 * wspsan lock held; `message` is valid only during the call. Returning non-zero tells wspsan the
 * peer cannot be reached: the peer is then lost (SPEC F7). */
static int carry(void *context, uint64_t peer, int kind, const uint8_t *message, uintptr_t length) {
    struct link *all = (struct link *)context;
    for (int i = 0; i < nlinks; i++) {
        if (all[i].peer != peer)
            continue;
        if (trace)
            say("  [wire] -> %s: %s, %zu bytes", all[i].name, kind_name(kind), (size_t)length);
        if (send_record(&all[i], 'M', message, length) != 0)
            return 1; /* EPIPE: the other process is gone */
        if (kind > 0 && kind < 8)
            atomic_fetch_add(&sent_by_kind[kind], 1);
        return 0;
    }
    return 1; /* a peer we never opened */
}

/* The reader thread of a link: wspsan messages go to wspsan_transport_receive, script lines to
 * the main thread; the end of the link (EOF, error) is the loss of the peer. */
static void *reader(void *arg) {
    struct link *l = (struct link *)arg;
    uint8_t *buf = malloc(MAX_RECORD);
    int err = 0;
    for (;;) {
        ssize_t n = buf ? recv(l->fd, buf, MAX_RECORD, 0) : -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (buf[0] == 'M') {
            if (wspsan_transport_receive(l->peer, buf + 1, (size_t)n - 1, &err) != 0)
                say("  wspsan refused a message from %s: %s", l->name, wspsan_strerror(err));
        } else if (buf[0] == 'S') {
            pthread_mutex_lock(&l->mu);
            if (l->count < 8) {
                int at = (l->head + l->count++) % 8;
                snprintf(l->lines[at], sizeof l->lines[at], "%.*s", (int)(n - 1), (char *)buf + 1);
            }
            pthread_cond_broadcast(&l->cv);
            pthread_mutex_unlock(&l->mu);
        }
    }
    free(buf);
    /* The other process is gone: wspsan fails its waiting connects with WSAECONNRESET, withdraws
     * its queued requests (their accepts fail WSAEACCES) and aborts its connections (F7). */
    if (wspsan_transport_peer_lost(l->peer, &err) == 0)
        say("link to %s ended: told wspsan the peer is lost", l->name);
    pthread_mutex_lock(&l->mu);
    l->lost = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static struct timespec deadline_in(int ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Install the transport and open a peer for every link: before any other wspsan call, since the
 * process-wide provider is made at the first one (and reads WSPSAN_NICS then). */
static void join_fabric(const char *own_nics) {
    WSPSAN_TRANSPORT t;
    int err = 0;
    setenv("WSPSAN_NICS", own_nics, 1);
    t.context = links;
    t.send = carry;
    if (wspsan_transport_install(&t, &err) != 0) {
        say("wspsan_transport_install: %s", wspsan_strerror(err));
        exit(2);
    }
    for (int i = 0; i < nlinks; i++) {
        if (wspsan_transport_open_peer(links[i].nics, &links[i].peer, &err) != 0) {
            say("wspsan_transport_open_peer(%s): %s", links[i].nics, wspsan_strerror(err));
            exit(2);
        }
        pthread_mutex_init(&links[i].mu, NULL);
        pthread_cond_init(&links[i].cv, NULL);
        pthread_create(&links[i].reader, NULL, reader, &links[i]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * The script: lines between the processes, and small helpers */

static void tell(struct link *l, const char *line) {
    if (send_record(l, 'S', line, strlen(line)) != 0)
        say("cannot tell %s \"%s\"", l->name, line);
}

/* Wait (at most `ms`) for the next script line from `l`; it must be `line`. */
static int hear_within(struct link *l, const char *line, int ms) {
    struct timespec until = deadline_in(ms);
    char got[64] = "";
    pthread_mutex_lock(&l->mu);
    while (l->count == 0 && !l->lost && pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0)
        ;
    if (l->count > 0) {
        snprintf(got, sizeof got, "%s", l->lines[l->head]);
        l->head = (l->head + 1) % 8;
        l->count--;
    }
    pthread_mutex_unlock(&l->mu);
    if (strcmp(got, line) != 0) {
        say("UNEXPECTED: waited for \"%s\" from %s, got \"%s\"", line, l->name, got);
        unexpected++;
        return 0;
    }
    return 1;
}

static int hear(struct link *l, const char *line) {
    return hear_within(l, line, WAIT_MS);
}

/* Wait (bounded) until this process's wspsan has sent `n` messages of `kind`. */
static int wait_sent(int kind, int n) {
    for (int ms = 0; ms < WAIT_MS; ms += 5) {
        if (atomic_load(&sent_by_kind[kind]) >= n)
            return 1;
        poll(NULL, 0, 5);
    }
    return 0;
}

/* Wait (bounded) for the link's reader to have declared its peer lost. */
static int wait_lost(struct link *l) {
    struct timespec until = deadline_in(WAIT_MS);
    int lost;
    pthread_mutex_lock(&l->mu);
    while (!l->lost && pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0)
        ;
    lost = l->lost;
    pthread_mutex_unlock(&l->mu);
    return lost;
}

static WSPPROC_TABLE wsp; /* the provider's entry points, as a switch would call them */

static void startup(void) {
    WSPDATA data;
    WSPUPCALLTABLE upcalls;
    memset(&upcalls, 0, sizeof upcalls);
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &wsp) != 0) {
        say("WSPStartup failed");
        exit(2);
    }
}

static SOCKET new_socket(void) {
    int err = 0;
    SOCKET s = wsp.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    if (s == INVALID_SOCKET) {
        say("WSPSocket: %s", wspsan_strerror(err));
        exit(2);
    }
    return s;
}

static struct sockaddr_in address(const char *ip, unsigned short port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/* Wait (bounded) for a selected event on `s` and return its error code, or -1 on timeout. */
static int wait_event(SOCKET s, WSAEVENT ev, long bit_mask, int bit) {
    WSANETWORKEVENTS ne;
    struct pollfd p;
    int err = 0;
    p.fd = (int)(intptr_t)ev;
    p.events = POLLIN;
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        p.revents = 0;
        poll(&p, 1, 50);
        memset(&ne, 0, sizeof ne);
        if (wsp.lpWSPEnumNetworkEvents(s, ev, &ne, &err) == 0 && (ne.lNetworkEvents & bit_mask))
            return ne.iErrorCode[bit];
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * The server's device (the parent) */

struct decision {
    int defer_first; /* answer CF_DEFER the first time this request is seen */
    char caller[32];
    char data[64];
};

/* The condition function: reads the caller data, writes the callee data (SPEC A5, C5). */
static int condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR context) {
    struct decision *d = (struct decision *)context;
    struct sockaddr_in *from = (struct sockaddr_in *)(void *)caller_id->buf;
    char reply[96];
    size_t n;
    (void)sqos, (void)gqos, (void)callee_id, (void)g;
    snprintf(d->caller, sizeof d->caller, "%s:%u", inet_ntoa(from->sin_addr), ntohs(from->sin_port));
    snprintf(d->data, sizeof d->data, "%.*s", caller_data ? (int)caller_data->len : 0,
             caller_data ? caller_data->buf : "");
    if (d->defer_first) {
        d->defer_first = 0;
        return CF_DEFER;
    }
    snprintf(reply, sizeof reply, "welcome, %s", d->data);
    n = strlen(reply) < callee_data->len ? strlen(reply) : callee_data->len;
    memcpy(callee_data->buf, reply, n);
    callee_data->len = (ULONG)n;
    return CF_ACCEPT;
}

/* One WSPAccept on the non-blocking listener, waiting (bounded) for FD_ACCEPT while the queue
 * is empty. Returns the socket, or INVALID_SOCKET with the error in *err. */
static SOCKET accept_one(SOCKET l, WSAEVENT ev, struct decision *d, int *err) {
    for (int waited = 0; waited <= WAIT_MS; waited += 50) {
        SOCKET s = wsp.lpWSPAccept(l, NULL, NULL, condition, (DWORD_PTR)d, err);
        if (s != INVALID_SOCKET || *err != WSAEWOULDBLOCK)
            return s;
        struct pollfd p = {(int)(intptr_t)ev, POLLIN, 0};
        if (poll(&p, 1, 50) == 1) {
            WSANETWORKEVENTS ne;
            wsp.lpWSPEnumNetworkEvents(l, ev, &ne, err); /* resets the event */
        }
    }
    *err = WSAETIMEDOUT;
    return INVALID_SOCKET;
}

static WSPSAN_LISTENER_STATS listener_stats(SOCKET l) {
    WSPSAN_LISTENER_STATS st;
    int err = 0;
    memset(&st, 0, sizeof st);
    wspsan_device_listener_stats(l, &st, &err);
    return st;
}

static int wait_queued(SOCKET l, uint64_t n) {
    for (int ms = 0; ms < WAIT_MS; ms += 5) {
        if (listener_stats(l).queue_len == n)
            return 1;
        poll(NULL, 0, 5);
    }
    return 0;
}

static void server(struct link *client, struct link *doomed, pid_t doomed_pid) {
    struct decision d;
    struct sockaddr_in here = address(SERVER_NIC, PORT);
    SOCKET l, first, second = INVALID_SOCKET, s;
    WSAEVENT ev;
    int err = 0, status = 0;

    join_fabric(SERVER_NIC);
    startup();
    l = new_socket();
    ev = wspsan_WSACreateEvent();
    if (wsp.lpWSPBind(l, (struct sockaddr *)&here, sizeof here, &err) != 0 || wsp.lpWSPListen(l, 1, &err) != 0 ||
        wsp.lpWSPEventSelect(l, ev, FD_ACCEPT, &err) != 0) { /* also makes it non-blocking */
        say("cannot listen: %s", wspsan_strerror(err));
        exit(2);
    }
    say("listening on %s:%d, backlog 1", SERVER_NIC, PORT);
    tell(client, "listening");

    say("-- scene 1: a conditional accept with caller and callee data (A5, C5, F6)");
    memset(&d, 0, sizeof d);
    first = accept_one(l, ev, &d, &err);
    if (expect(first != INVALID_SOCKET, "the first connect is accepted"))
        say("accepted %s, caller data \"%s\", answered \"welcome, %s\"", d.caller, d.data, d.data);
    hear(client, "connected");
    /* The queue's one slot is free only once WSPAccept has returned, and the connector may have
     * its acceptance a moment earlier: the client waits for this before it connects again. */
    tell(client, "queue empty");

    say("-- scene 2: the queue is full (backlog 1): the second connect is refused at once (L7, F5)");
    hear(client, "second refused");
    expect(listener_stats(l).refused_full == 1 && listener_stats(l).queue_len == 1,
           "one request queued, one refused as the queue was full");
    say("one request queued, one refused_full");

    say("-- scene 3: CF_DEFER leaves the request at the head of the queue, a later accept takes it (A9)");
    memset(&d, 0, sizeof d);
    d.defer_first = 1;
    s = accept_one(l, ev, &d, &err);
    if (expect(s == INVALID_SOCKET && err == WSATRY_AGAIN, "the deferred accept fails WSATRY_AGAIN"))
        say("deferred \"%s\" from %s: WSPAccept failed WSATRY_AGAIN, the connector keeps waiting", d.data, d.caller);
    second = accept_one(l, ev, &d, &err);
    if (expect(second != INVALID_SOCKET, "the deferred request is accepted later"))
        say("accepted \"%s\" on the next WSPAccept", d.data);
    hear(client, "first connected");
    tell(client, "queue empty");

    say("-- scene 4: the connector closes its queued connect: withdrawn (C7, A12)");
    hear(client, "withdrawn");
    memset(&d, 0, sizeof d);
    s = accept_one(l, ev, &d, &err);
    if (expect(s == INVALID_SOCKET && err == WSAEACCES, "the accept of a withdrawn request fails WSAEACCES"))
        say("WSPAccept failed WSAEACCES: the request was withdrawn; the condition function never ran");

    say("-- scene 5: a connector's process is killed while its request is queued (F7)");
    tell(doomed, "listening");
    if (expect(wait_queued(l, 1), "the doomed connector's request is queued"))
        say("a request from %s is queued; killing its process (SIGKILL)", DOOMED_NIC);
    kill(doomed_pid, SIGKILL);
    waitpid(doomed_pid, &status, 0);
    expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the doomed process died of SIGKILL");
    expect(wait_lost(doomed), "the link's reader saw the end of the link");
    memset(&d, 0, sizeof d);
    s = accept_one(l, ev, &d, &err);
    if (expect(s == INVALID_SOCKET && err == WSAEACCES, "the accept of the lost peer's request fails WSAEACCES"))
        say("WSPAccept failed WSAEACCES: the request went with its device");

    tell(client, "done");
    {
        WSPSAN_DEVICE_STATS st;
        wspsan_device_stats(&st, &err);
        say("fabric: %llu requests received, %llu sent, %llu peers lost, %llu protocol errors",
            (unsigned long long)st.fabric.requests_received, (unsigned long long)st.fabric.requests_sent,
            (unsigned long long)st.fabric.connections_lost, (unsigned long long)st.fabric.protocol_errors);
        expect(st.fabric.requests_received == 5 && st.fabric.protocol_errors == 0, "5 requests, no protocol error");
    }
    wsp.lpWSPCloseSocket(first, &err);
    wsp.lpWSPCloseSocket(second, &err);
    wsp.lpWSPCloseSocket(l, &err);
    wspsan_WSACloseEvent(ev);
}

/* ---------------------------------------------------------------------------------------------
 * The client devices (the children) */

static void client(struct link *srv) {
    struct sockaddr_in to = address(SERVER_NIC, PORT);
    char reply[128];
    WSABUF caller, callee;
    SOCKET a, c1, c2, c3;
    WSAEVENT e1, e2;
    int err = 0, rc, len;
    uint32_t on = 1;
    DWORD n = 0;

    join_fabric(CLIENT_NIC);
    startup();
    hear(srv, "listening");

    /* scene 1: a blocking connect with caller data; the callee data comes back */
    a = new_socket();
    caller.buf = (char *)"hello from the client";
    caller.len = (ULONG)strlen(caller.buf);
    callee.buf = reply;
    callee.len = sizeof reply - 1;
    rc = wsp.lpWSPConnect(a, (struct sockaddr *)&to, sizeof to, &caller, &callee, NULL, NULL, &err);
    if (expect(rc == 0, "the blocking connect succeeds")) {
        reply[callee.len] = 0;
        say("connected; callee data \"%s\"", reply);
    }
    tell(srv, "connected");
    hear(srv, "queue empty");

    /* scene 2: two non-blocking connects; the queue holds one */
    c1 = new_socket();
    c2 = new_socket();
    e1 = wspsan_WSACreateEvent();
    e2 = wspsan_WSACreateEvent();
    wsp.lpWSPEventSelect(c1, e1, FD_CONNECT, &err); /* non-blocking from here */
    wsp.lpWSPEventSelect(c2, e2, FD_CONNECT, &err);
    caller.buf = (char *)"first";
    caller.len = 5;
    rc = wsp.lpWSPConnect(c1, (struct sockaddr *)&to, sizeof to, &caller, NULL, NULL, NULL, &err);
    expect(rc == SOCKET_ERROR && err == WSAEWOULDBLOCK, "the first non-blocking connect is under way");
    caller.buf = (char *)"second";
    caller.len = 6;
    rc = wsp.lpWSPConnect(c2, (struct sockaddr *)&to, sizeof to, &caller, NULL, NULL, NULL, &err);
    expect(rc == SOCKET_ERROR && err == WSAEWOULDBLOCK, "the second non-blocking connect is under way");
    if (expect(wait_event(c2, e2, FD_CONNECT, FD_CONNECT_BIT) == WSAECONNREFUSED,
               "the second connect is refused (FD_CONNECT WSAECONNREFUSED)"))
        say("second connect: FD_CONNECT with WSAECONNREFUSED (queue full)");
    tell(srv, "second refused");

    /* scene 3: the first one is deferred, then accepted */
    if (expect(wait_event(c1, e1, FD_CONNECT, FD_CONNECT_BIT) == 0, "the first connect completes")) {
        len = sizeof reply - 1;
        if (wsp.lpWSPGetSockOpt(c1, WSPSAN_SOL_SOCKET, SO_CONNDATA, reply, &len, &err) == 0) {
            reply[len] = 0;
            say("first connect: FD_CONNECT 0 after the deferral; callee data \"%s\"", reply);
        }
    }
    tell(srv, "first connected");
    hear(srv, "queue empty");

    /* scene 4: a queued connect, closed by its connector. Waiting until wspsan has handed the
     * WITHDRAW to our transport puts the script line behind it on the channel. */
    c3 = new_socket();
    wsp.lpWSPIoctl(c3, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err);
    caller.buf = (char *)"never mind";
    caller.len = 10;
    rc = wsp.lpWSPConnect(c3, (struct sockaddr *)&to, sizeof to, &caller, NULL, NULL, NULL, &err);
    expect(rc == SOCKET_ERROR && err == WSAEWOULDBLOCK, "the third connect is under way");
    expect(wait_sent(WSPSAN_MESSAGE_REQUEST, 4), "the third request left");
    wsp.lpWSPCloseSocket(c3, &err);
    if (expect(wait_sent(WSPSAN_MESSAGE_WITHDRAW, 1), "closing it sent a withdrawal"))
        say("closed the third connector while its request was queued: withdrawn");
    tell(srv, "withdrawn");

    hear(srv, "done");
    wsp.lpWSPCloseSocket(a, &err);
    wsp.lpWSPCloseSocket(c1, &err);
    wsp.lpWSPCloseSocket(c2, &err);
    wspsan_WSACloseEvent(e1);
    wspsan_WSACloseEvent(e2);
}

static void doomed(struct link *srv) {
    struct sockaddr_in to = address(SERVER_NIC, PORT);
    WSABUF caller;
    SOCKET s;
    int err = 0;

    join_fabric(DOOMED_NIC);
    startup();
    hear_within(srv, "listening", (ALARM_SECONDS - 10) * 1000); /* its turn comes last */
    s = new_socket();
    caller.buf = (char *)"doomed";
    caller.len = 6;
    say("connecting (blocking) with caller data \"doomed\"; this process will be killed meanwhile");
    wsp.lpWSPConnect(s, (struct sockaddr *)&to, sizeof to, &caller, NULL, NULL, NULL, &err);
    say("UNEXPECTED: the connect returned (%s)", wspsan_strerror(err));
    exit(1);
}

/* ---------------------------------------------------------------------------------------------
 * Processes: every child is forked before the parent's first wspsan call (the provider's
 * threads do not survive fork). */

/* Fork a child joined by a new socketpair; the child runs `body` with its link to the server and
 * exits. The parent gets its end of the link in *end. */
static pid_t spawn(const char *role, const char *nics, void (*body)(struct link *), struct link *end) {
    int sv[2];
    pid_t pid;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
        perror("socketpair");
        exit(2);
    }
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        for (int i = 0; i < nlinks; i++)
            close(links[i].fd); /* the parent's ends of earlier links: theirs to close, not ours */
        close(sv[0]);
        alarm(ALARM_SECONDS);
        me = role;
        memset(links, 0, sizeof links);
        links[0].name = "server";
        links[0].nics = SERVER_NIC;
        links[0].fd = sv[1];
        nlinks = 1;
        body(&links[0]);
        /* leave: end our side of the link, so the reader (here and there) sees it end */
        shutdown(links[0].fd, SHUT_RDWR);
        pthread_join(links[0].reader, NULL);
        wspsan_WSPCleanup(&(int){0});
        say("%s", unexpected ? "FAILED" : "done");
        exit(unexpected ? 1 : 0);
    }
    close(sv[1]);
    end->name = role;
    end->nics = nics;
    end->fd = sv[0];
    nlinks++;
    return pid;
}

/* Reap `pid`, waiting at most WAIT_MS; 1 when it exited with 0. */
static int reap(pid_t pid) {
    int status = 0;
    for (int ms = 0; ms < WAIT_MS; ms += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        poll(NULL, 0, 10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 0;
}

int main(void) {
    pid_t client_pid, doomed_pid;
    int err = 0;
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, even into a pipe */
    trace = getenv("OWN_FABRIC_TRACE") != NULL;
    alarm(ALARM_SECONDS);
    me = "server";

    client_pid = spawn("client", CLIENT_NIC, client, &links[0]);
    doomed_pid = spawn("doomed", DOOMED_NIC, doomed, &links[1]);
    server(&links[0], &links[1], doomed_pid);

    expect(reap(client_pid), "the client process exits 0");
    expect(wait_lost(&links[0]), "the client's link ended");
    for (int i = 0; i < nlinks; i++) {
        pthread_join(links[i].reader, NULL);
        close(links[i].fd);
    }
    wspsan_WSPCleanup(&err);
    say("%s", unexpected ? "FAILED: some outcomes were not the expected ones" : "every expected outcome was seen");
    return unexpected ? 1 : 0;
}

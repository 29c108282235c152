/* Faults, panics and misbehaving condition functions through the C ABI: the device's
 * fault switches hitting calls already blocked or requests already queued (SPEC D2), the
 * test-only panic injection (X4), a condition function that blocks (T1) and one that calls back
 * into the provider (A14).
 *
 * The single-switch basics are in test_device.c, test_accept.c and test_listen.c; these check
 * that after each fault nothing is lost, every request ends in one outcome and the statistics
 * balance. */
#include "harness.h" /* first: it sets _POSIX_C_SOURCE */

#include <stdatomic.h>

/* How long any wait in this program may take before it counts as a hang. */
#define DEADLINE_MS 10000

/* ---------------------------------------------------------------------------------------------
 * helpers */

/* A WSPAccept or a blocking WSPConnect running on its own thread. */
struct call {
    pthread_t thread;
    atomic_int done;
    int is_accept;
    SOCKET s;             /* the listener, or the connecting socket */
    unsigned short port;  /* connect target on 127.0.0.1 */
    LPCONDITIONPROC condition;
    DWORD_PTR context;
    SOCKET result; /* accept */
    int rc;        /* connect */
    int err;
    struct sockaddr_in peer;
};

static void *call_thread(void *arg) {
    struct call *c = (struct call *)arg;
    c->err = 0;
    if (c->is_accept) {
        int len = sizeof c->peer;
        c->result = wspsan_WSPAccept(c->s, (struct sockaddr *)&c->peer, &len, c->condition, c->context, &c->err);
    } else {
        struct sockaddr_in a = h_addr("127.0.0.1", c->port);
        c->rc = wspsan_WSPConnect(c->s, (const struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &c->err);
    }
    atomic_store(&c->done, 1);
    return NULL;
}

static void start_accept(struct call *c, SOCKET l, LPCONDITIONPROC condition, DWORD_PTR context) {
    memset(c, 0, sizeof *c);
    atomic_init(&c->done, 0);
    c->is_accept = 1;
    c->s = l;
    c->condition = condition;
    c->context = context;
    pthread_create(&c->thread, NULL, call_thread, c);
}

static void start_connect(struct call *c, SOCKET s, unsigned short port) {
    memset(c, 0, sizeof *c);
    atomic_init(&c->done, 0);
    c->s = s;
    c->port = port;
    pthread_create(&c->thread, NULL, call_thread, c);
}

/* Wait for `flag` to become non-zero, at most DEADLINE_MS; 0 if it never did. */
static int wait_flag(atomic_int *flag) {
    for (int ms = 0; ms < DEADLINE_MS; ms++) {
        if (atomic_load(flag))
            return 1;
        h_sleep_ms(1);
    }
    return atomic_load(flag);
}

/* Join a call's thread; a call that never returns is a hang: report it and stop the program. */
static void finish(struct call *c) {
    if (!wait_flag(&c->done)) {
        fprintf(stderr, "FAIL [%s] a blocking call did not return within %d ms\n", h_test, DEADLINE_MS);
        exit(1);
    }
    pthread_join(c->thread, NULL);
}

static WSPSAN_LISTENER_STATS listener_stats(SOCKET l) {
    WSPSAN_LISTENER_STATS st;
    int err = 0;
    memset(&st, 0, sizeof st);
    CHECK_EQ(wspsan_device_listener_stats(l, &st, &err), 0);
    return st;
}

static WSPSAN_DEVICE_STATS device_stats(void) {
    WSPSAN_DEVICE_STATS st;
    int err = 0;
    memset(&st, 0, sizeof st);
    CHECK_EQ(wspsan_device_stats(&st, &err), 0);
    return st;
}

/* Wait until `l` holds `n` requests (a blocking connect from another thread has arrived). */
static int wait_queue_len(SOCKET l, uint64_t n) {
    for (int ms = 0; ms < DEADLINE_MS; ms++) {
        if (listener_stats(l).queue_len == n)
            return 1;
        h_sleep_ms(1);
    }
    return 0;
}

/* The local port of `s` (host order), 0 if it has none. */
static unsigned short port_of(SOCKET s) {
    struct sockaddr_in a;
    int len = sizeof a, err = 0;
    if (wspsan_WSPGetSockName(s, (struct sockaddr *)&a, &len, &err) != 0)
        return 0;
    return ntohs(a.sin_port);
}

/* Whether `s` is connected (WSPGetPeerName succeeds). */
static int connected(SOCKET s) {
    struct sockaddr_in a;
    int len = sizeof a, err = 0;
    return wspsan_WSPGetPeerName(s, (struct sockaddr *)&a, &len, &err) == 0;
}

static int accept_conn_opt(SOCKET l) {
    int v = -1, len = sizeof v, err = 0;
    if (wspsan_WSPGetSockOpt(l, WSPSAN_SOL_SOCKET, WSPSAN_SO_ACCEPTCONN, (char *)&v, &len, &err) != 0)
        return -err;
    return v;
}

/* SPEC D3: every request that entered a queue ended in one outcome or is still queued, and the
 * device's pending requests are the queued ones. */
static void check_balanced(void) {
    WSPSAN_DEVICE_STATS d = device_stats();
    WSPSAN_LISTENER_STATS l = d.listeners;
    CHECK_EQ(l.queued, l.accepted + l.rejected + l.reset + l.withdrawn + l.refused_by_close + l.queue_len);
    CHECK_EQ(d.pending, l.queue_len);
}

/* A whole connect/accept pair on a fresh listener, on the calling thread. */
static void check_new_pair(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 2), c = h_pending(port, NULL), a;
    int err = 0;
    a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(h_so_error(c), 0);
    CHECK(connected(c));
    h_close(a);
    h_close(c);
    h_close(l);
}

/* The accept with a NULL condition, from this thread. */
static SOCKET accept_peer(SOCKET l, unsigned short *peer_port, int *err) {
    struct sockaddr_in peer;
    int len = sizeof peer;
    SOCKET a;
    memset(&peer, 0, sizeof peer);
    *err = 0;
    a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, NULL, 0, err);
    *peer_port = ntohs(peer.sin_port);
    return a;
}

/* ---------------------------------------------------------------------------------------------
 * SPEC D2, A2, C2, A12, C6, D3: the device goes down under a blocked accept and a blocked
 * connect; once it is back nothing is lost. */
static void network_down(void) {
    unsigned short idle_port = h_port(), busy_port = h_port(), peer = 0;
    SOCKET idle = h_listener(idle_port, 5), busy = h_listener(busy_port, 5);
    SOCKET early = h_pending(busy_port, NULL), blocking = h_socket(), a, c;
    struct call acc, con;
    WSPSAN_LISTENER_STATS st;
    int err = 0;
    TEST("D2 network down under blocked calls");
    start_connect(&con, blocking, busy_port);
    CHECK(wait_queue_len(busy, 2));
    start_accept(&acc, idle, NULL, 0);
    h_sleep_ms(50); /* let the accept reach its wait; if not, it fails the same way */
    CHECK_OK(wspsan_device_set_network_down(1, &err));
    finish(&acc);
    finish(&con);
    CHECK_EQ(acc.result, INVALID_SOCKET);
    CHECK_EQ(acc.err, WSAENETDOWN);
    CHECK_EQ(con.rc, SOCKET_ERROR);
    CHECK_EQ(con.err, WSAENETDOWN);
    CHECK_EQ(listener_stats(busy).queue_len, 2); /* statistics readable, the queue kept */
    CHECK_OK(wspsan_device_set_network_down(0, &err));

    /* Both still listen; the non-blocking request is still there and comes first. */
    CHECK_EQ(accept_conn_opt(idle), 1);
    CHECK_EQ(accept_conn_opt(busy), 1);
    CHECK(!connected(early));
    a = accept_peer(busy, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(early));
    CHECK_EQ(h_so_error(early), 0);
    CHECK(connected(early));
    h_close(a);
    /* The woken blocking connect withdrew its request: the accept that reaches it says so (A12). */
    CHECK_EQ(accept_peer(busy, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEACCES);
    CHECK_EQ(peer, port_of(blocking));
    /* C6: the connector connects again, answered by an accept. */
    CHECK(!connected(blocking));
    start_connect(&con, blocking, busy_port);
    CHECK(wait_queue_len(busy, 1));
    a = accept_peer(busy, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(blocking));
    finish(&con);
    CHECK_EQ(con.rc, 0);
    h_close(a);
    /* The listener whose accept was woken takes requests too. */
    c = h_pending(idle_port, NULL);
    a = accept_peer(idle, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(c));
    h_close(a);
    h_close(c);
    check_new_pair();
    st = listener_stats(busy);
    CHECK_EQ(st.queued, 3);
    CHECK_EQ(st.accepted, 2);
    CHECK_EQ(st.withdrawn, 1);
    CHECK_EQ(st.queue_len, 0);
    h_close(early);
    h_close(blocking);
    h_close(idle);
    h_close(busy);
    check_balanced();
}

/* ---------------------------------------------------------------------------------------------
 * SPEC D2, A11: buffer exhaustion fails WSPSocket and WSPConnect with WSAENOBUFS; queued
 * requests (one of them a blocking connect still waiting) are kept and accepted afterwards. */
static void buffer_exhaustion(void) {
    unsigned short port = h_port(), peer = 0;
    SOCKET l = h_listener(port, 5), early = h_pending(port, NULL), waiting = h_socket(), late = h_socket();
    SOCKET unlistened = h_bound("127.0.0.1", h_port()), a;
    struct call con;
    uint64_t open;
    int err = 0;
    TEST("D2 A11 buffer exhaustion");
    start_connect(&con, waiting, port);
    CHECK(wait_queue_len(l, 2));
    open = device_stats().open_sockets;
    CHECK_OK(wspsan_device_set_buffer_exhaustion(1, &err));
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAENOBUFS);
    }
    CHECK_EQ(h_connect_nb(late, port, NULL), WSAENOBUFS);
    CHECK_EQ(port_of(late), 0); /* not even bound by the failed connect */
    /* A listen queue is an allocation too: the socket stays merely bound. */
    CHECK_FAILS(wspsan_WSPListen(unlistened, 5, &err), WSAENOBUFS);
    CHECK_EQ(accept_conn_opt(unlistened), 0);
    CHECK_EQ(accept_peer(l, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAENOBUFS);
    /* Nothing was taken, answered or created; the blocking connect still waits. */
    CHECK_EQ(listener_stats(l).queue_len, 2);
    CHECK_EQ(device_stats().open_sockets, open);
    CHECK_EQ(h_so_error(early), 0);
    h_sleep_ms(50);
    CHECK(!atomic_load(&con.done));
    CHECK_OK(wspsan_device_set_buffer_exhaustion(0, &err));

    a = accept_peer(l, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(early));
    h_close(a);
    a = accept_peer(l, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(waiting));
    finish(&con);
    CHECK_EQ(con.rc, 0);
    h_close(a);
    CHECK_EQ(h_connect_nb(late, port, NULL), WSAEWOULDBLOCK);
    a = accept_peer(l, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(late));
    h_close(a);
    CHECK_OK(wspsan_WSPListen(unlistened, 5, &err));
    h_close(early);
    h_close(waiting);
    h_close(late);
    h_close(unlistened);
    h_close(l);
    check_balanced();
}

/* ---------------------------------------------------------------------------------------------
 * SPEC D2, S1, A11, L9: no free descriptor: WSAEMFILE on WSPSocket, on a blocked accept woken by
 * a request (which stays at the head), the exhausted listener refuses new requests and keeps
 * its queue, and the next accept or listen made when a descriptor is free clears the state. */
static void descriptor_limit(void) {
    unsigned short port = h_port(), peer = 0;
    SOCKET l = h_listener(port, 2), spare = h_socket(), unlistened = h_bound("127.0.0.1", h_port());
    SOCKET c1 = h_socket(), c2 = h_socket(), c3 = h_socket(), a1, a;
    struct call acc;
    WSPSAN_LISTENER_STATS st;
    int err = 0;
    TEST("D2 L9 A11 descriptor limit");
    start_accept(&acc, l, NULL, 0);
    h_sleep_ms(50);
    CHECK_OK(wspsan_device_set_descriptor_limit((int64_t)device_stats().open_sockets, &err));
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEMFILE);
    }
    /* No accept has failed yet: the request queues, wakes the blocked accept, which has no
     * descriptor for it. */
    CHECK_EQ(h_connect_nb(c1, port, NULL), WSAEWOULDBLOCK);
    finish(&acc);
    CHECK_EQ(acc.result, INVALID_SOCKET);
    CHECK_EQ(acc.err, WSAEMFILE);
    CHECK_EQ(ntohs(acc.peer.sin_port), 0); /* nothing was examined (A13) */
    CHECK_EQ(listener_stats(l).queue_len, 1);
    CHECK_EQ(h_so_error(c1), 0); /* still waiting */
    /* Exhausted: refused although the backlog has room. */
    CHECK_EQ(h_connect_nb(c2, port, NULL), WSAECONNREFUSED);
    CHECK_FAILS(wspsan_WSPListen(unlistened, 5, &err), WSAEMFILE);
    CHECK_OK(wspsan_WSPListen(l, 2, &err)); /* made with none free: the state stays */
    CHECK_EQ(h_connect_nb(c2, port, NULL), WSAECONNREFUSED);
    /* A close frees a descriptor (the limit unchanged); that alone does not clear the state... */
    h_close(spare);
    CHECK_EQ(h_connect_nb(c2, port, NULL), WSAECONNREFUSED);
    /* ...the next accept does, and takes the same request with the freed descriptor. */
    a1 = accept_peer(l, &peer, &err);
    CHECK(a1 != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(c1));
    CHECK_EQ(h_so_error(c1), 0);
    CHECK(connected(c1));
    CHECK_EQ(h_connect_nb(c2, port, NULL), WSAEWOULDBLOCK); /* listening resumed */
    /* None free again: the next accept exhausts it again; a listen clears it once one is free. */
    CHECK_EQ(accept_peer(l, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEMFILE);
    CHECK_EQ(h_connect_nb(c3, port, NULL), WSAECONNREFUSED);
    CHECK_OK(wspsan_device_set_descriptor_limit(-1, &err));
    CHECK_OK(wspsan_WSPListen(l, 2, &err));
    CHECK_EQ(h_connect_nb(c3, port, NULL), WSAEWOULDBLOCK);
    a = accept_peer(l, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(c2));
    h_close(a);
    a = accept_peer(l, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(c3));
    h_close(a);
    st = listener_stats(l);
    CHECK_EQ(st.queued, 3);
    CHECK_EQ(st.accepted, 3);
    CHECK_EQ(st.refused_full, 4);
    CHECK_OK(wspsan_WSPListen(unlistened, 5, &err));
    h_close(a1);
    h_close(c1);
    h_close(c2);
    h_close(c3);
    h_close(unlistened);
    h_close(l);
    check_balanced();
}

/* ---------------------------------------------------------------------------------------------
 * SPEC D2, C2, E5, A12: the device's connect timeout. */

/* What the condition below waits for and answers. */
struct timeout_wait {
    WSAEVENT connector_event; /* FD_CONNECT of the connector */
    int answer;
    int ran, saw_timeout;
};

/* Waits (bounded) for the connector's FD_CONNECT, i.e. its timeout, then answers. It makes no
 * WSP call (A14). */
static int wait_for_timeout(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                            LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx) {
    struct timeout_wait *w = (struct timeout_wait *)ctx;
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    w->ran = 1;
    w->saw_timeout = h_wait_set(w->connector_event, DEADLINE_MS);
    callee_data->len = 0;
    return w->answer;
}

static void connect_timeout(void) {
    unsigned short port = h_port(), peer = 0;
    SOCKET l = h_listener(port, 5), blocking = h_socket(), nb = h_socket();
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    struct call con;
    const int answers[3] = {CF_ACCEPT, CF_REJECT, CF_DEFER};
    const int delays_ms[4] = {30, 150, 600, 2000};
    int err = 0;
    TEST("D2 C2 A12 connect timeout");
    CHECK_OK(wspsan_device_set_connect_timeout(50, &err));
    /* Blocking connector: WSAETIMEDOUT from WSPConnect. */
    start_connect(&con, blocking, port);
    finish(&con);
    CHECK_EQ(con.rc, SOCKET_ERROR);
    CHECK_EQ(con.err, WSAETIMEDOUT);
    /* Non-blocking connector: WSAEWOULDBLOCK, then FD_CONNECT with WSAETIMEDOUT, and SO_ERROR. */
    CHECK_OK(wspsan_WSPEventSelect(nb, ev, FD_CONNECT, &err));
    CHECK_EQ(h_connect_nb(nb, port, NULL), WSAEWOULDBLOCK);
    CHECK(h_wait_set(ev, DEADLINE_MS));
    memset(&ne, 0, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(nb, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_CONNECT);
    CHECK_EQ(ne.iErrorCode[FD_CONNECT_BIT], WSAETIMEDOUT);
    CHECK_EQ(h_so_error(nb), WSAETIMEDOUT);
    CHECK_OK(wspsan_device_set_connect_timeout(0, &err));
    /* Both requests stay until accept reaches them: WSAEACCES (A12), addr filled (A13). */
    CHECK_EQ(listener_stats(l).queue_len, 2);
    CHECK_EQ(accept_peer(l, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEACCES);
    CHECK_EQ(peer, port_of(blocking));
    CHECK_EQ(accept_peer(l, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEACCES);
    CHECK_EQ(peer, port_of(nb));
    CHECK_EQ(listener_stats(l).withdrawn, 2);
    CHECK_EQ(listener_stats(l).queue_len, 0);

    /* Timed out while the condition function ran: WSAEACCES whatever it answered (README), the
     * request removed, no socket left behind. A timeout shorter than the machine's scheduling
     * delay can fire before the accept reaches the request: then retry with a longer one. */
    TEST("D2 A12 timeout during the condition");
    for (int i = 0; i < 3; i++) {
        struct timeout_wait w;
        uint64_t open = device_stats().open_sockets;
        int d;
        memset(&w, 0, sizeof w);
        w.connector_event = ev;
        w.answer = answers[i];
        for (d = 0; d < 4 && !w.ran; d++) {
            struct sockaddr_in p;
            int len = sizeof p;
            CHECK_OK(wspsan_device_set_connect_timeout((uint32_t)delays_ms[d], &err));
            wspsan_WSPEnumNetworkEvents(nb, ev, &ne, &err); /* reset */
            CHECK_EQ(h_connect_nb(nb, port, NULL), WSAEWOULDBLOCK);
            CHECK_EQ(wspsan_WSPAccept(l, (struct sockaddr *)&p, &len, wait_for_timeout, (DWORD_PTR)&w, &err),
                     INVALID_SOCKET);
            CHECK_EQ(err, WSAEACCES);
            CHECK_EQ(ntohs(p.sin_port), port_of(nb));
            CHECK_EQ(h_so_error(nb), WSAETIMEDOUT);
        }
        CHECK(w.ran);
        CHECK(w.saw_timeout);
        CHECK_EQ(listener_stats(l).queue_len, 0);
        CHECK_EQ(device_stats().open_sockets, open);
        CHECK(!connected(nb));
    }
    CHECK_EQ(listener_stats(l).accepted + listener_stats(l).rejected + listener_stats(l).deferred, 0);
    CHECK_OK(wspsan_device_set_connect_timeout(0, &err));
    /* C6: it connects again. */
    CHECK_EQ(h_connect_nb(nb, port, NULL), WSAEWOULDBLOCK);
    {
        SOCKET a = accept_peer(l, &peer, &err);
        CHECK(a != INVALID_SOCKET);
        CHECK_EQ(peer, port_of(nb));
        h_close(a);
    }
    h_close(blocking);
    h_close(nb);
    h_close(l);
    wspsan_WSACloseEvent(ev);
    check_balanced();
}

/* ---------------------------------------------------------------------------------------------
 * SPEC X4: a panic inside the library (forced by the test-only wspsan_test_inject_panic) is
 * caught at the export: WSAENETDOWN, the message kept, nothing half done, everything else works. */

static int last_error_contains(const char *needle) {
    char buf[512];
    size_t len = 0;
    if (wspsan_last_error_message(buf, sizeof buf, &len) != 0)
        return 0;
    return strstr(buf, needle) != NULL;
}

static void *pair_on_another_thread(void *arg) {
    int *ok = (int *)arg, err = 0;
    unsigned short port = h_port();
    SOCKET l = wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    SOCKET c = wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    struct sockaddr_in a = h_addr("127.0.0.1", port);
    uint32_t nb = 1;
    DWORD n = 0;
    SOCKET acc;
    *ok = l != INVALID_SOCKET && c != INVALID_SOCKET;
    *ok = *ok && wspsan_WSPBind(l, (struct sockaddr *)&a, sizeof a, &err) == 0;
    *ok = *ok && wspsan_WSPListen(l, 2, &err) == 0;
    *ok = *ok && wspsan_WSPIoctl(c, WSPSAN_FIONBIO, &nb, sizeof nb, NULL, 0, &n, NULL, NULL, NULL, &err) == 0;
    *ok = *ok && wspsan_WSPConnect(c, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &err) ==
                     SOCKET_ERROR && err == WSAEWOULDBLOCK;
    acc = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
    *ok = *ok && acc != INVALID_SOCKET;
    *ok = *ok && wspsan_WSPCloseSocket(acc, &err) == 0 && wspsan_WSPCloseSocket(c, &err) == 0 &&
          wspsan_WSPCloseSocket(l, &err) == 0;
    return NULL;
}

/* A condition function that arms one panic and makes two calls: the first panics inside its own
 * export (WSAENETDOWN), the second is refused by A14; the outer accept is not disturbed. */
struct nested_panic {
    int socket_err, listen_err;
    SOCKET l;
};

static int arms_a_panic(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                        LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx) {
    struct nested_panic *n = (struct nested_panic *)ctx;
    int err = 0;
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    wspsan_test_inject_panic(1);
    if (wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err) == INVALID_SOCKET)
        n->socket_err = err;
    err = 0;
    if (wspsan_WSPListen(n->l, 1, &err) == SOCKET_ERROR)
        n->listen_err = err;
    callee_data->len = 0;
    return CF_ACCEPT;
}

static void injected_panics(void) {
    unsigned short port = h_port(), peer = 0;
    SOCKET l = h_listener(port, 5), c = h_pending(port, "kept"), c2 = h_socket(), a;
    struct sockaddr_in addr;
    WSPSAN_FAULTS f;
    uint64_t open = device_stats().open_sockets;
    pthread_t t;
    int len, ok = 0, err = 0;
    struct nested_panic nested;
    TEST("X4 injected panics");
    CHECK_EQ(wspsan_test_inject_panic(1), 0);
    {
        int err = -12345;
        CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAENETDOWN);
    }
    CHECK(last_error_contains("wspsan_WSPSocket"));
    CHECK(last_error_contains("panic caught"));
    CHECK(last_error_contains("injected panic in wspsan_WSPSocket"));
    CHECK_EQ(device_stats().open_sockets, open); /* disarmed after one: this call works */

    /* An accept panics before it takes anything: addr untouched, the request stays, the
     * connector keeps waiting. */
    CHECK_EQ(wspsan_test_inject_panic(1), 0);
    memset(&addr, 0xab, sizeof addr);
    len = sizeof addr;
    {
        int err = -12345;
        CHECK_EQ(wspsan_WSPAccept(l, (struct sockaddr *)&addr, &len, h_answer, CF_REJECT, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAENETDOWN);
    }
    CHECK_EQ(len, (int)sizeof addr);
    CHECK_EQ(((unsigned char *)&addr)[0], 0xab);
    CHECK_EQ(listener_stats(l).queue_len, 1);
    CHECK_EQ(listener_stats(l).rejected, 0);
    CHECK_EQ(h_so_error(c), 0);
    CHECK(!connected(c));
    /* A connect panics before it queues anything. */
    h_nonblocking(c2, 1);
    CHECK_EQ(wspsan_test_inject_panic(1), 0);
    {
        struct sockaddr_in to = h_addr("127.0.0.1", port);
        CHECK_FAILS(wspsan_WSPConnect(c2, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err),
                    WSAENETDOWN);
    }
    CHECK_EQ(listener_stats(l).queue_len, 1);
    CHECK_EQ(port_of(c2), 0);
    /* A close panics: the socket stays open. */
    CHECK_EQ(wspsan_test_inject_panic(1), 0);
    CHECK_FAILS(wspsan_WSPCloseSocket(c2, &err), WSAENETDOWN);
    CHECK_EQ(accept_conn_opt(c2), 0);
    /* Device extensions and the event functions go through the same boundary. */
    CHECK_EQ(wspsan_test_inject_panic(2), 0);
    CHECK_FAILS(wspsan_device_set_network_down(1, &err), WSAENETDOWN);
    CHECK(wspsan_WSACreateEvent() == NULL);
    CHECK(last_error_contains("wspsan_WSACreateEvent"));
    CHECK_OK(wspsan_device_get_faults(&f, &err));
    CHECK_EQ(f.network_down, 0);

    /* Thread-local: another thread's calls are not hit while this thread is armed. */
    TEST("X4 injected panics are per thread");
    CHECK_EQ(wspsan_test_inject_panic(3), 0);
    pthread_create(&t, NULL, pair_on_another_thread, &ok);
    pthread_join(t, NULL);
    CHECK(ok);
    CHECK_EQ(wspsan_test_inject_panic(0), 3); /* none consumed by the other thread; disarmed */

    /* A panic in an export called from inside a condition function stays in that export. */
    TEST("X4 A14 a panic inside a nested call");
    memset(&nested, 0, sizeof nested);
    nested.l = l;
    a = wspsan_WSPAccept(l, NULL, NULL, arms_a_panic, (DWORD_PTR)&nested, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(nested.socket_err, WSAENETDOWN);
    CHECK_EQ(nested.listen_err, WSAEINPROGRESS);
    CHECK_EQ(h_so_error(c), 0);
    CHECK(connected(c)); /* the request kept through the panics above, accepted now */
    CHECK_EQ(listener_stats(l).backlog, 5);
    h_close(a);

    /* And the provider works normally on this thread. */
    CHECK_EQ(h_connect_nb(c2, port, NULL), WSAEWOULDBLOCK);
    a = accept_peer(l, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(c2));
    h_close(a);
    check_new_pair();
    h_close(c);
    h_close(c2);
    h_close(l);
    check_balanced();
}

/* ---------------------------------------------------------------------------------------------
 * SPEC T1, A5: a condition function that blocks holds up only its own accept. No provider lock
 * is held while it runs: another listener's pair completes, other sockets' calls succeed, and a
 * second accept on the same listener from another thread takes the next request and completes
 * (the examined request is out of the queue; queue_len still counts it). */

struct gate {
    atomic_int entered;
    WSAEVENT open; /* set by the test to let the condition return */
    int opened;
};

static int waits_at_gate(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                         LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx) {
    struct gate *gt = (struct gate *)ctx;
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    atomic_store(&gt->entered, 1);
    gt->opened = h_wait_set(gt->open, DEADLINE_MS);
    callee_data->len = 0;
    return gt->opened ? CF_ACCEPT : CF_REJECT;
}

static void slow_condition(void) {
    unsigned short port = h_port(), other_port = h_port(), peer = 0;
    SOCKET l = h_listener(port, 5), slow = h_pending(port, "slow"), next = h_pending(port, "next"), third;
    SOCKET other = h_listener(other_port, 5), c, a, s;
    struct gate gt;
    struct call held, second;
    WSPSAN_LISTENER_STATS st;
    struct sockaddr_in any = h_addr("127.0.0.1", 0);
    int v = 8192, err = 0;
    uint64_t one = 1;
    TEST("T1 a condition function that blocks");
    memset(&gt, 0, sizeof gt);
    atomic_init(&gt.entered, 0);
    gt.open = wspsan_WSACreateEvent();
    start_accept(&held, l, waits_at_gate, (DWORD_PTR)&gt);
    CHECK(wait_flag(&gt.entered));

    /* Another listener's whole pair. */
    c = h_pending(other_port, NULL);
    a = accept_peer(other, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(c));
    CHECK(connected(c));
    h_close(a);
    h_close(c);
    /* Calls on other sockets. */
    s = h_socket();
    CHECK_OK(wspsan_WSPBind(s, (struct sockaddr *)&any, sizeof any, &err));
    CHECK(port_of(s) != 0);
    CHECK_OK(wspsan_WSPSetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_SNDBUF, (char *)&v, sizeof v, &err));
    CHECK_OK(wspsan_WSPCloseSocket(s, &err));
    /* The same listener: statistics, a new request, and an accept from another thread. */
    st = listener_stats(l);
    CHECK_EQ(st.queue_len, 2);
    CHECK_EQ(st.accepted, 0);
    third = h_pending(port, "third");
    start_accept(&second, l, NULL, 0);
    finish(&second);
    CHECK(second.result != INVALID_SOCKET);
    CHECK_EQ(ntohs(second.peer.sin_port), port_of(next));
    CHECK(connected(next));
    CHECK(!atomic_load(&held.done)); /* still in its condition */
    CHECK(!connected(slow));
    CHECK_EQ(h_so_error(slow), 0);

    CHECK_EQ(write((int)(intptr_t)gt.open, &one, sizeof one), (long)sizeof one);
    finish(&held);
    CHECK(gt.opened);
    CHECK(held.result != INVALID_SOCKET);
    CHECK_EQ(ntohs(held.peer.sin_port), port_of(slow));
    CHECK(connected(slow));
    a = accept_peer(l, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer, port_of(third));
    h_close(a);
    h_close(held.result);
    h_close(second.result);
    h_close(slow);
    h_close(next);
    h_close(third);
    h_close(other);
    h_close(l);
    wspsan_WSACloseEvent(gt.open);
    check_balanced();
}

/* ---------------------------------------------------------------------------------------------
 * SPEC A14: every WSP call made from inside a condition function fails with WSAEINPROGRESS and
 * changes nothing (test_accept.c checks WSPListen, test_session.c WSPStartup and WSPCleanup). */

#define REENTRY_CALLS 16

struct reentry {
    SOCKET l, c, other;
    unsigned short port;
    WSAEVENT ev;
    int failed[REENTRY_CALLS]; /* 1: the call returned its failure value */
    int err[REENTRY_CALLS];
};

static int calls_back(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                      LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx) {
    struct reentry *r = (struct reentry *)ctx;
    struct sockaddr_in any = h_addr("127.0.0.1", 0), target = h_addr("127.0.0.1", r->port), name;
    int namelen = sizeof name, v = 4096, vlen = sizeof v, i = 0;
    uint32_t on = 1;
    DWORD n = 0;
    char list[64];
    WSANETWORKEVENTS ne;
    SOCKET handle = 0;
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
#define RECORD(call, failure)                                                                                         \
    do {                                                                                                              \
        r->err[i] = 0;                                                                                                \
        r->failed[i] = (call) == (failure);                                                                           \
        i++;                                                                                                          \
    } while (0)
    RECORD(wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &r->err[i]), INVALID_SOCKET);
    RECORD(wspsan_WSPBind(r->other, (struct sockaddr *)&any, sizeof any, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_WSPListen(r->other, 1, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_WSPConnect(r->other, (struct sockaddr *)&target, sizeof target, NULL, NULL, NULL, NULL, &r->err[i]),
           SOCKET_ERROR);
    RECORD(wspsan_WSPAccept(r->l, NULL, NULL, NULL, 0, &r->err[i]), INVALID_SOCKET);
    RECORD(wspsan_WSPCloseSocket(r->c, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_WSPCloseSocket(r->l, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_WSPGetSockName(r->l, (struct sockaddr *)&name, &namelen, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_WSPGetPeerName(r->c, (struct sockaddr *)&name, &namelen, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_WSPGetSockOpt(r->l, WSPSAN_SOL_SOCKET, WSPSAN_SO_ACCEPTCONN, (char *)&v, &vlen, &r->err[i]),
           SOCKET_ERROR);
    RECORD(wspsan_WSPSetSockOpt(r->l, WSPSAN_SOL_SOCKET, WSPSAN_SO_SNDBUF, (char *)&v, sizeof v, &r->err[i]),
           SOCKET_ERROR);
    RECORD(wspsan_WSPIoctl(r->l, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &r->err[i]),
           SOCKET_ERROR);
    RECORD(wspsan_WSPIoctl(r->l, SIO_ADDRESS_LIST_QUERY, NULL, 0, list, sizeof list, &n, NULL, NULL, NULL, &r->err[i]),
           SOCKET_ERROR);
    RECORD(wspsan_WSPEventSelect(r->l, r->ev, FD_ACCEPT, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_WSPEnumNetworkEvents(r->l, NULL, &ne, &r->err[i]), SOCKET_ERROR);
    RECORD(wspsan_switch_handle(r->l, &handle, &r->err[i]), SOCKET_ERROR);
#undef RECORD
    callee_data->len = 0;
    return CF_ACCEPT;
}

static void reentry(void) {
    unsigned short port = h_port();
    struct reentry r;
    uint64_t open;
    SOCKET a;
    int err = 0;
    TEST("A14 every call from a condition function");
    memset(&r, 0, sizeof r);
    r.port = port;
    r.l = h_listener(port, 3);
    r.c = h_pending(port, NULL);
    r.other = h_socket();
    r.ev = wspsan_WSACreateEvent();
    open = device_stats().open_sockets;
    a = wspsan_WSPAccept(r.l, NULL, NULL, calls_back, (DWORD_PTR)&r, &err);
    CHECK(a != INVALID_SOCKET);
    for (int i = 0; i < REENTRY_CALLS; i++) {
        if (!r.failed[i] || r.err[i] != WSAEINPROGRESS)
            fprintf(stderr, "call %d from the condition: failed %d, error %d\n", i, r.failed[i], r.err[i]);
        CHECK(r.failed[i]);
        CHECK_EQ(r.err[i], WSAEINPROGRESS);
    }
    /* Nothing happened: one socket more (the accepted one), the listener open, listening, with its
     * backlog and no selection, the connector connected, the other socket unbound. */
    CHECK_EQ(device_stats().open_sockets, open + 1);
    CHECK_EQ(accept_conn_opt(r.l), 1);
    CHECK_EQ(listener_stats(r.l).backlog, 3);
    CHECK(connected(r.c));
    CHECK_EQ(port_of(r.other), 0);
    /* Had the WSPEventSelect taken effect, this arrival would signal r.ev (FD_ACCEPT). */
    CHECK_EQ(h_connect_nb(r.other, port, NULL), WSAEWOULDBLOCK);
    CHECK(!h_is_set(r.ev));
    h_close(a);
    /* The calls work again on this thread. */
    {
        unsigned short peer = 0;
        SOCKET b = accept_peer(r.l, &peer, &err);
        CHECK(b != INVALID_SOCKET);
        CHECK_EQ(peer, port_of(r.other));
        h_close(b);
    }
    h_close(r.c);
    h_close(r.other);
    h_close(r.l);
    wspsan_WSACloseEvent(r.ev);
    check_balanced();
}

int main(void) {
    h_startup();
    network_down();
    buffer_exhaustion();
    descriptor_limit();
    connect_timeout();
    injected_panics();
    slow_condition();
    reentry();
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPCleanup(&err), 0);
    }
    return h_summary("test_faults");
}

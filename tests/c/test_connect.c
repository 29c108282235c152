/* WSPConnect through the C ABI: SPEC C1 to C7. */
#include "harness.h"

/* A blocking connect run on its own thread. */
struct blocking_connect {
    unsigned short port;
    SOCKET s;
    const char *caller_data;
    char callee[64];
    ULONG callee_len;
    int rc, err;
    volatile int done;
};

static void *connect_thread(void *arg) {
    struct blocking_connect *bc = (struct blocking_connect *)arg;
    struct sockaddr_in a = h_addr("127.0.0.1", bc->port);
    WSABUF cd, ce;
    cd.len = bc->caller_data ? (ULONG)strlen(bc->caller_data) : 0;
    cd.buf = (char *)(uintptr_t)bc->caller_data;
    ce.len = bc->callee_len;
    ce.buf = bc->callee;
    bc->err = 0;
    bc->rc = wspsan_WSPConnect(bc->s, (struct sockaddr *)&a, sizeof a, bc->caller_data ? &cd : NULL, &ce, NULL,
                               NULL, &bc->err);
    bc->callee_len = ce.len;
    bc->done = 1;
    return NULL;
}

static void start_connect(struct blocking_connect *bc, pthread_t *t, unsigned short port, const char *data) {
    memset(bc, 0, sizeof *bc);
    bc->port = port;
    bc->s = h_socket();
    bc->caller_data = data;
    bc->callee_len = sizeof bc->callee;
    pthread_create(t, NULL, connect_thread, bc);
}

/* Wait until the listener has `n` queued requests. */
static void wait_queued(SOCKET l, uint64_t n) {
    int i, err = 0;
    WSPSAN_LISTENER_STATS st;
    for (i = 0; i < 500; i++) {
        if (wspsan_device_listener_stats(l, &st, &err) == 0 && st.queue_len >= n)
            return;
        h_sleep_ms(2);
    }
}

/* Writes "welcome" as callee data and answers CF_ACCEPT. */
static int welcome(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                   LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g, (void)cb;
    memcpy(callee_data->buf, "welcome", 7);
    callee_data->len = 7;
    return CF_ACCEPT;
}

static SOCKET accept_with(SOCKET l, LPCONDITIONPROC f, DWORD_PTR cb, int *err) {
    return wspsan_WSPAccept(l, NULL, NULL, f, cb, err);
}

static void blocking_answer(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), a;
    struct blocking_connect bc;
    pthread_t t;
    int err = 0;
    TEST("C1 C2 blocking");
    /* SPEC C1: a blocking connect is not complete before the condition function answers. */
    start_connect(&bc, &t, port, "hello");
    wait_queued(l, 1);
    h_sleep_ms(20);
    CHECK(!bc.done);
    a = accept_with(l, welcome, 0, &err);
    CHECK(a != INVALID_SOCKET);
    pthread_join(t, NULL);
    CHECK_EQ(bc.rc, 0);
    CHECK_EQ(bc.err, 0);
    /* SPEC C5: callee data comes back, len out = bytes written. */
    CHECK_EQ(bc.callee_len, 7);
    CHECK(memcmp(bc.callee, "welcome", 7) == 0);
    h_close(a);
    h_close(bc.s);
    /* CF_REJECT fails the connect with WSAECONNREFUSED. */
    start_connect(&bc, &t, port, NULL);
    wait_queued(l, 1);
    CHECK_EQ(accept_with(l, h_answer, CF_REJECT, &err), INVALID_SOCKET);
    pthread_join(t, NULL);
    CHECK_EQ(bc.rc, SOCKET_ERROR);
    CHECK_EQ(bc.err, WSAECONNREFUSED);
    /* SPEC C6: after a refusal the socket is bound and may connect again. */
    {
        SOCKET s = bc.s;
        struct sockaddr_in a2 = h_addr("127.0.0.1", port);
        int err2 = 0;
        h_nonblocking(s, 1);
        CHECK_EQ(wspsan_WSPConnect(s, (struct sockaddr *)&a2, sizeof a2, NULL, NULL, NULL, NULL, &err2),
                 SOCKET_ERROR);
        CHECK_EQ(err2, WSAEWOULDBLOCK);
        a = accept_with(l, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
        CHECK_EQ(h_so_error(s), 0);
        h_close(a);
        h_close(s);
    }
    h_close(l);
}

static void timeout(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5);
    struct blocking_connect bc;
    pthread_t t;
    int err = 0;
    TEST("C2 timeout");
    /* SPEC C2: a blocking connect gives up at the device's connect timeout. */
    CHECK_EQ(wspsan_device_set_connect_timeout(100, &err), 0);
    start_connect(&bc, &t, port, NULL);
    pthread_join(t, NULL);
    CHECK_EQ(bc.rc, SOCKET_ERROR);
    CHECK_EQ(bc.err, WSAETIMEDOUT);
    CHECK_EQ(wspsan_device_set_connect_timeout(0, &err), 0);
    /* The withdrawn request is removed by the next accept (A12). */
    CHECK_EQ(accept_with(l, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEACCES);
    h_close(bc.s);
    h_close(l);
}

static void nonblocking(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c, a;
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    char data[16];
    int len;
    TEST("C2 non-blocking");
    c = h_socket();
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CONNECT, &err));
    /* SPEC C2: WSAEWOULDBLOCK, then FD_CONNECT with the result, and SO_ERROR. */
    CHECK_EQ(h_connect_nb(c, port, NULL), WSAEWOULDBLOCK);
    CHECK(!h_is_set(ev));
    {
        int err = 0;
        a = accept_with(l, welcome, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK(h_wait_set(ev, 1000));
    memset(&ne, 0xff, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_CONNECT);
    CHECK_EQ(ne.iErrorCode[FD_CONNECT_BIT], 0);
    CHECK_EQ(h_so_error(c), 0);
    /* SPEC C5: the callee data of a non-blocking connect, through SO_CONNDATA. */
    len = sizeof data;
    CHECK_OK(wspsan_WSPGetSockOpt(c, WSPSAN_SOL_SOCKET, SO_CONNDATA, data, &len, &err));
    CHECK_EQ(len, 7);
    CHECK(memcmp(data, "welcome", 7) == 0);
    len = 3;
    CHECK_OK(wspsan_WSPGetSockOpt(c, WSPSAN_SOL_SOCKET, SO_CONNDATA, data, &len, &err));
    CHECK_EQ(len, 3);
    {
        int n = 0;
        len = sizeof n;
        CHECK_OK(wspsan_WSPGetSockOpt(c, WSPSAN_SOL_SOCKET, SO_CONNDATALEN, (char *)&n, &len, &err));
        CHECK_EQ(n, 7);
        /* SPEC section 1: the platform's SOL_SOCKET serves SO_CONNDATA and SO_CONNDATALEN too */
        n = 0;
        len = sizeof n;
        CHECK_OK(wspsan_WSPGetSockOpt(c, SOL_SOCKET, SO_CONNDATALEN, (char *)&n, &len, &err));
        CHECK_EQ(n, 7);
        len = sizeof data;
        memset(data, 0, sizeof data);
        CHECK_OK(wspsan_WSPGetSockOpt(c, SOL_SOCKET, SO_CONNDATA, data, &len, &err));
        CHECK_EQ(len, 7);
        CHECK(memcmp(data, "welcome", 7) == 0);
    }
    h_close(a);
    h_close(c);
    /* A refused non-blocking connect reports the error in FD_CONNECT and SO_ERROR. */
    c = h_socket();
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CONNECT, &err));
    CHECK_EQ(h_connect_nb(c, port, NULL), WSAEWOULDBLOCK);
    {
        int err = 0;
        CHECK_EQ(accept_with(l, h_answer, CF_REJECT, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAECONNREFUSED);
    }
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_CONNECT);
    CHECK_EQ(ne.iErrorCode[FD_CONNECT_BIT], WSAECONNREFUSED);
    /* SPEC C2 (decided, as Windows): reading SO_ERROR does not clear it. */
    CHECK_EQ(h_so_error(c), WSAECONNREFUSED);
    CHECK_EQ(h_so_error(c), WSAECONNREFUSED);
    h_close(c);
    h_close(l);
    wspsan_WSACloseEvent(ev);
}

/* SO_ERROR in the platform's numbering. */
static int platform_so_error(SOCKET s) {
    int err = 0, v = -1, len = sizeof v;
    if (wspsan_WSPGetSockOpt(s, SOL_SOCKET, SO_ERROR, (char *)&v, &len, &err) != 0)
        return -err;
    return v;
}

static void so_error_kept(void) {
    unsigned short port = h_port(), nobody = h_port(), full_port = h_port();
    SOCKET l = h_listener(port, 5), full = h_listener(full_port, 1), filler = h_pending(full_port, NULL), c, a;
    struct sockaddr_in none = h_addr("127.0.0.1", nobody), to_full = h_addr("127.0.0.1", full_port);
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    int v, code, i;
    TEST("C2 SO_ERROR kept until the next attempt");
    c = h_pending(port, NULL);
    CHECK_EQ(h_so_error(c), 0); /* no answer yet */
    {
        int err = 0;
        CHECK_EQ(accept_with(l, h_answer, CF_REJECT, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAECONNREFUSED);
    }
    /* SPEC C2 (decided: real Windows reads the same error twice, Wine's test_select): reading it,
     * in either numbering, does not clear it. */
    for (i = 0; i < 3; i++) {
        CHECK_EQ(h_so_error(c), WSAECONNREFUSED);
        CHECK_EQ(platform_so_error(c), WSAECONNREFUSED);
    }
    /* A connect refused at once (nobody listens; the queue is full) is no attempt: it stays. */
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&none, sizeof none, NULL, NULL, NULL, NULL, &err),
                WSAECONNREFUSED);
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&to_full, sizeof to_full, NULL, NULL, NULL, NULL, &err),
                WSAECONNREFUSED);
    CHECK_EQ(h_so_error(c), WSAECONNREFUSED);
    /* Neither does reporting the refused attempt's FD_CONNECT clear it (E5). */
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CONNECT, &err));
    memset(&ne, 0, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_CONNECT);
    CHECK_EQ(ne.iErrorCode[FD_CONNECT_BIT], WSAECONNREFUSED);
    CHECK_EQ(h_so_error(c), WSAECONNREFUSED);
    /* The next attempt that is queued clears it. */
    CHECK_EQ(h_connect_nb(c, port, NULL), WSAEWOULDBLOCK);
    CHECK_EQ(h_so_error(c), 0);
    CHECK_EQ(platform_so_error(c), 0);
    {
        int err = 0;
        a = accept_with(l, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_EQ(h_so_error(c), 0);
    /* SPEC C2: setsockopt(SO_ERROR, v) stores v (as Windows), in either numbering. */
    code = WSAECONNRESET;
    CHECK_OK(wspsan_WSPSetSockOpt(c, WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR, (char *)&code, sizeof code, &err));
    CHECK_EQ(h_so_error(c), WSAECONNRESET);
    CHECK_EQ(platform_so_error(c), WSAECONNRESET);
    code = 1234;
    CHECK_OK(wspsan_WSPSetSockOpt(c, SOL_SOCKET, SO_ERROR, (char *)&code, sizeof code, &err));
    CHECK_EQ(h_so_error(c), 1234);
    code = 0;
    CHECK_OK(wspsan_WSPSetSockOpt(a, WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR, (char *)&code, sizeof code, &err));
    CHECK_EQ(h_so_error(a), 0);
    /* Its int buffer is checked as for every int option (X4). */
    CHECK_FAILS(wspsan_WSPSetSockOpt(c, WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR, (char *)&code, 2, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_WSPSetSockOpt(c, WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR, NULL, sizeof code, &err), WSAEFAULT);
    CHECK_EQ(h_so_error(c), 1234);
    /* SPEC X4 (as Windows): an unknown option level is WSAEINVAL, for SO_ERROR too. */
    v = 0;
    {
        int len = sizeof v;
        CHECK_FAILS(wspsan_WSPGetSockOpt(c, 0x4242, WSPSAN_SO_ERROR, (char *)&v, &len, &err), WSAEINVAL);
        CHECK_FAILS(wspsan_WSPSetSockOpt(c, 0x4242, WSPSAN_SO_ERROR, (char *)&v, sizeof v, &err), WSAEINVAL);
        CHECK_EQ(len, sizeof v);
    }
    CHECK_EQ(h_so_error(c), 1234);
    h_close(a);
    h_close(c);
    h_close(filler);
    h_close(full);
    h_close(l);
    wspsan_WSACloseEvent(ev);
}

static void immediate_failures(void) {
    unsigned short port = h_port(), nobody = h_port();
    SOCKET l = h_listener(port, 1), c = h_socket(), pending, a;
    struct sockaddr_in to = h_addr("127.0.0.1", port), any = h_addr("0.0.0.0", port);
    struct sockaddr_in zero = h_addr("127.0.0.1", 0), none = h_addr("127.0.0.1", nobody);
    TEST("C3 immediate failures");
    /* SPEC C3 */
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&none, sizeof none, NULL, NULL, NULL, NULL, &err),
                WSAECONNREFUSED);
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&to, 15, NULL, NULL, NULL, NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_WSPConnect(c, NULL, sizeof to, NULL, NULL, NULL, NULL, &err), WSAEFAULT);
    to.sin_family = AF_UNIX;
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err),
                WSAEAFNOSUPPORT);
    to.sin_family = AF_INET;
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&any, sizeof any, NULL, NULL, NULL, NULL, &err),
                WSAEADDRNOTAVAIL);
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&zero, sizeof zero, NULL, NULL, NULL, NULL, &err),
                WSAEADDRNOTAVAIL);
    CHECK_FAILS(wspsan_WSPConnect(l, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err), WSAEINVAL);
    /* SPEC X4: the descriptor, then the socket's state, then the pointers and lengths. */
    CHECK_FAILS(wspsan_WSPConnect(l, NULL, sizeof to, NULL, NULL, NULL, NULL, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPConnect(l, (struct sockaddr *)&to, 15, NULL, NULL, NULL, NULL, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPConnect(INVALID_SOCKET, NULL, 0, NULL, NULL, NULL, NULL, &err), WSAENOTSOCK);
    /* A pending connect: WSAEALREADY; the queue (backlog 1) is then full: WSAECONNREFUSED. */
    pending = h_pending(port, NULL);
    CHECK_FAILS(wspsan_WSPConnect(pending, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err),
                WSAEALREADY);
    /* SPEC X4 */
    CHECK_FAILS(wspsan_WSPConnect(pending, NULL, sizeof to, NULL, NULL, NULL, NULL, &err), WSAEALREADY);
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err),
                WSAECONNREFUSED);
    {
        int err = 0;
        a = accept_with(l, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    /* Connected: WSAEISCONN (both ends). */
    CHECK_FAILS(wspsan_WSPConnect(pending, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err),
                WSAEISCONN);
    CHECK_FAILS(wspsan_WSPConnect(a, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err), WSAEISCONN);
    /* SPEC X4: the state before the pointers (a NULL name, a NULL caller-data buffer with a length). */
    {
        WSABUF bad;
        bad.len = 5;
        bad.buf = NULL;
        CHECK_FAILS(wspsan_WSPConnect(pending, NULL, 0, NULL, NULL, NULL, NULL, &err), WSAEISCONN);
        CHECK_FAILS(wspsan_WSPConnect(a, (struct sockaddr *)&to, sizeof to, &bad, NULL, NULL, NULL, &err),
                    WSAEISCONN);
        CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&to, sizeof to, &bad, NULL, NULL, NULL, &err),
                    WSAEFAULT);
    }
    h_close(a);
    h_close(pending);
    h_close(c);
    h_close(l);
}

static void implicit_bind(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c = h_socket(), a;
    struct sockaddr_in name, peer;
    int len = sizeof name;
    TEST("C4 implicit bind");
    CHECK_FAILS(wspsan_WSPGetSockName(c, (struct sockaddr *)&name, &len, &err), WSAEINVAL);
    CHECK_EQ(h_connect_nb(c, port, NULL), WSAEWOULDBLOCK);
    /* SPEC C4: bound to the NIC of the target and a free port. */
    CHECK_OK(wspsan_WSPGetSockName(c, (struct sockaddr *)&name, &len, &err));
    CHECK_EQ(name.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK(ntohs(name.sin_port) >= 49152);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_EQ(peer.sin_port, name.sin_port);
    h_close(a);
    h_close(c);
    h_close(l);
}

/* Checks the caller data and QoS it gets, writes 200 bytes of callee data. */
static int inspect(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                   LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    int *ok = (int *)cb;
    (void)caller_id, (void)gqos, (void)callee_id, (void)g;
    *ok = caller_data != NULL && caller_data->len == 5 && memcmp(caller_data->buf, "hello", 5) == 0 &&
          sqos != NULL && sqos->SendingFlowspec.TokenRate == 1000 && sqos->ReceivingFlowspec.Latency == 7 &&
          sqos->ProviderSpecific.len == 3 && memcmp(sqos->ProviderSpecific.buf, "abc", 3) == 0;
    memset(callee_data->buf, 'x', 200);
    callee_data->len = 200;
    return CF_ACCEPT;
}

struct data_connect {
    SOCKET s;
    unsigned short port;
    int rc, err;
    char callee[16];
    ULONG callee_len;
};

static void *data_connect_thread(void *arg) {
    struct data_connect *d = (struct data_connect *)arg;
    struct sockaddr_in a = h_addr("127.0.0.1", d->port);
    WSABUF cd, ce;
    QOS q;
    memset(&q, 0, sizeof q);
    q.SendingFlowspec.TokenRate = 1000;
    q.ReceivingFlowspec.Latency = 7;
    q.ProviderSpecific.len = 3;
    q.ProviderSpecific.buf = (char *)(uintptr_t) "abc";
    cd.len = 5;
    cd.buf = (char *)(uintptr_t) "hello";
    ce.len = sizeof d->callee;
    ce.buf = d->callee;
    d->rc = wspsan_WSPConnect(d->s, (struct sockaddr *)&a, sizeof a, &cd, &ce, &q, NULL, &d->err);
    d->callee_len = ce.len;
    return NULL;
}

static void caller_and_callee_data(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c = h_socket(), a;
    struct data_connect d;
    pthread_t t;
    int ok = 0;
    char big[300];
    WSABUF cd;
    struct sockaddr_in to = h_addr("127.0.0.1", port);
    TEST("C5 caller and callee data");
    /* SPEC C5: caller data above the device limit: WSAENOBUFS. */
    memset(big, 'b', sizeof big);
    cd.len = 257;
    cd.buf = big;
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&to, sizeof to, &cd, NULL, NULL, NULL, &err), WSAENOBUFS);
    cd.buf = NULL;
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&to, sizeof to, &cd, NULL, NULL, NULL, &err), WSAEFAULT);
    /* Caller data and QoS reach the condition function; a 16-byte callee buffer keeps 16 of 200. */
    memset(&d, 0, sizeof d);
    d.s = c;
    d.port = port;
    pthread_create(&t, NULL, data_connect_thread, &d);
    {
        int err = 0, i;
        WSPSAN_LISTENER_STATS st;
        for (i = 0; i < 500; i++) {
            if (wspsan_device_listener_stats(l, &st, &err) == 0 && st.queue_len >= 1)
                break;
            h_sleep_ms(2);
        }
        a = wspsan_WSPAccept(l, NULL, NULL, inspect, (DWORD_PTR)&ok, &err);
        CHECK(a != INVALID_SOCKET);
    }
    pthread_join(t, NULL);
    CHECK(ok);
    CHECK_EQ(d.rc, 0);
    CHECK_EQ(d.callee_len, 16);
    CHECK(d.callee[0] == 'x' && d.callee[15] == 'x');
    h_close(a);
    h_close(c);
    h_close(l);
}

/* Keeps the caller data it gets, answers "welcome!" as callee data. */
static int keep_and_welcome(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                            LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    char *seen = (char *)cb;
    (void)caller_id, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    if (caller_data && caller_data->len < 16)
        memcpy(seen, caller_data->buf, caller_data->len);
    memcpy(callee_data->buf, "welcome!", 8);
    callee_data->len = 8;
    return CF_ACCEPT;
}

/* A blocking connect whose caller data and callee-data buffer share memory. */
struct shared_connect {
    SOCKET s;
    unsigned short port;
    int same_wsabuf; /* one WSABUF for both, else two WSABUFs over the same bytes */
    int rc, err;
    char buf[32];
    WSABUF cd, ce;
};

static void *shared_connect_thread(void *arg) {
    struct shared_connect *d = (struct shared_connect *)arg;
    struct sockaddr_in a = h_addr("127.0.0.1", d->port);
    memcpy(d->buf, "hello", 5);
    d->cd.len = 5;
    d->cd.buf = d->buf;
    d->ce.len = sizeof d->buf;
    d->ce.buf = d->buf;
    d->rc = wspsan_WSPConnect(d->s, (struct sockaddr *)&a, sizeof a, &d->cd, d->same_wsabuf ? &d->cd : &d->ce,
                              NULL, NULL, &d->err);
    return NULL;
}

static void overlapping_buffers(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), a;
    int same, err = 0;
    TEST("C5 overlapping caller and callee buffers");
    /* SPEC C5, X4: the caller may hand the same memory (even the same WSABUF) for the caller data
     * and the callee data: the caller data is read before the call, the callee data written after. */
    for (same = 0; same <= 1; same++) {
        struct shared_connect d;
        char seen[16];
        pthread_t t;
        memset(&d, 0, sizeof d);
        memset(seen, 0, sizeof seen);
        d.s = h_socket();
        d.port = port;
        d.same_wsabuf = same;
        pthread_create(&t, NULL, shared_connect_thread, &d);
        wait_queued(l, 1);
        a = wspsan_WSPAccept(l, NULL, NULL, keep_and_welcome, (DWORD_PTR)seen, &err);
        CHECK(a != INVALID_SOCKET);
        pthread_join(t, NULL);
        CHECK_EQ(d.rc, 0);
        CHECK(memcmp(seen, "hello", 6) == 0);
        if (same) {
            /* The one WSABUF said 5 bytes: the callee data keeps its first 5. */
            CHECK_EQ(d.cd.len, 5);
            CHECK(memcmp(d.buf, "welco", 5) == 0);
        } else {
            CHECK_EQ(d.ce.len, 8);
            CHECK(memcmp(d.buf, "welcome!", 8) == 0);
            CHECK_EQ(d.cd.len, 5);
        }
        h_close(a);
        h_close(d.s);
    }
    h_close(l);
}

static void reset_then_again(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1 = h_pending(port, NULL), c2 = h_pending(port, NULL), a;
    TEST("C6 reset then again");
    CHECK_OK(wspsan_WSPListen(l, 1, &err));
    CHECK_EQ(h_so_error(c2), WSAECONNRESET);
    /* SPEC C6: a reset connector is bound again and may connect again. */
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_EQ(h_connect_nb(c2, port, NULL), WSAEWOULDBLOCK);
    h_close(a);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_EQ(h_so_error(c2), 0);
    h_close(a);
    h_close(c1);
    h_close(c2);
    h_close(l);
}

static void close_withdraws(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c = h_pending(port, NULL);
    WSPSAN_LISTENER_STATS st;
    TEST("C7 close withdraws");
    h_close(c);
    /* SPEC C7 */
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEACCES);
    }
    CHECK_OK(wspsan_device_listener_stats(l, &st, &err));
    CHECK_EQ(st.withdrawn, 1);
    CHECK_EQ(st.queue_len, 0);
    h_close(l);
}

int main(void) {
    h_startup();
    blocking_answer();
    timeout();
    nonblocking();
    so_error_kept();
    immediate_failures();
    implicit_bind();
    caller_and_callee_data();
    overlapping_buffers();
    reset_then_again();
    close_withdraws();
    return h_summary("test_connect");
}

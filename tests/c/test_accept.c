/* WSPAccept and the condition function through the C ABI: SPEC A1 to A15. */
#include "harness.h"

static SOCKET accept_plain(SOCKET l, int *err) {
    return wspsan_WSPAccept(l, NULL, NULL, NULL, 0, err);
}

static void errors(void) {
    SOCKET s = h_bound("127.0.0.1", h_port());
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5);
    int err = 0;
    TEST("A1 A2");
    /* SPEC A1 */
    CHECK_EQ(accept_plain(0x4444440, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAENOTSOCK);
    CHECK_EQ(accept_plain(s, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEINVAL);
    /* SPEC X4, A1, A3: the descriptor, then the state (not listening), then *addrlen. */
    {
        struct sockaddr_in peer;
        int len = 8;
        memset(&peer, 0xab, sizeof peer);
        CHECK_EQ(wspsan_WSPAccept(s, (struct sockaddr *)&peer, &len, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEINVAL);
        CHECK_EQ(len, 8);
        CHECK_EQ(((unsigned char *)&peer)[0], 0xab);
        CHECK_EQ(wspsan_WSPAccept(INVALID_SOCKET, (struct sockaddr *)&peer, &len, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAENOTSOCK);
        CHECK_EQ(wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEFAULT);
        CHECK_EQ(len, 8);
    }
    /* SPEC A2: empty queue on a non-blocking listener. */
    h_nonblocking(l, 1);
    CHECK_EQ(accept_plain(l, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEWOULDBLOCK);
    h_close(s);
    h_close(l);
}

struct blocked_accept {
    SOCKET l, result;
    int err;
};

static void *accept_thread(void *arg) {
    struct blocked_accept *b = (struct blocked_accept *)arg;
    b->err = 0;
    b->result = accept_plain(b->l, &b->err);
    return NULL;
}

static void blocking(void) {
    unsigned short port = h_port();
    struct blocked_accept b;
    pthread_t t;
    SOCKET c;
    int err = 0;
    TEST("A2 blocking accept");
    /* SPEC A2, S1: a new socket blocks; its accept waits for a request. */
    b.l = h_listener(port, 5);
    pthread_create(&t, NULL, accept_thread, &b);
    h_sleep_ms(30);
    c = h_pending(port, NULL);
    pthread_join(t, NULL);
    CHECK(b.result != INVALID_SOCKET);
    CHECK_EQ(h_so_error(c), 0);
    h_close(b.result);
    h_close(c);
    /* Closing the listener from another thread wakes it with WSAEINTR (K2). A close that lands
     * before the accept started blocking gives WSAENOTSOCK instead: try again, waiting longer. */
    for (int wait_ms = 50; wait_ms <= 3200; wait_ms *= 2) {
        pthread_create(&t, NULL, accept_thread, &b);
        h_sleep_ms(wait_ms);
        h_close(b.l);
        pthread_join(t, NULL);
        if (b.err != WSAENOTSOCK) break;
        b.l = h_listener(h_port(), 5);
    }
    CHECK_EQ(b.result, INVALID_SOCKET);
    CHECK_EQ(b.err, WSAEINTR);
    /* The device going down wakes it with WSAENETDOWN (D2). */
    b.l = h_listener(h_port(), 5);
    pthread_create(&t, NULL, accept_thread, &b);
    h_sleep_ms(30);
    wspsan_device_set_network_down(1, &err);
    pthread_join(t, NULL);
    CHECK_EQ(b.result, INVALID_SOCKET);
    CHECK_EQ(b.err, WSAENETDOWN);
    wspsan_device_set_network_down(0, &err);
    h_close(b.l);
}

static void address_arguments(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1 = h_pending(port, NULL), c2 = h_pending(port, NULL), a;
    struct sockaddr_in peer, c1_name;
    int len, err = 0, name_len = sizeof c1_name;
    WSPSAN_LISTENER_STATS st;
    TEST("A3 A4 addresses");
    wspsan_WSPGetSockName(c1, (struct sockaddr *)&c1_name, &name_len, &err);
    /* SPEC A3: *addrlen < 16 fails before anything leaves the queue; *addrlen unchanged. */
    len = 15;
    memset(&peer, 0xab, sizeof peer);
    CHECK_EQ(wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEFAULT);
    CHECK_EQ(len, 15);
    CHECK_EQ(((unsigned char *)&peer)[0], 0xab);
    wspsan_device_listener_stats(l, &st, &err);
    CHECK_EQ(st.queue_len, 2);
    CHECK_EQ(h_so_error(c1), 0);
    /* SPEC A4: addr with NULL addrlen: allowed, addr untouched. */
    a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(((unsigned char *)&peer)[0], 0xab);
    h_close(a);
    /* Both given: the peer address and *addrlen = 16. */
    len = 64;
    a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(len, 16);
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    h_close(a);
    /* Both NULL: allowed. */
    c1 = h_pending(port, NULL);
    a = accept_plain(l, &err);
    CHECK(a != INVALID_SOCKET);
    h_close(a);
    (void)c2;
    h_close(c1);
    h_close(l);
}

/* What the condition function saw. */
struct seen {
    int calls;
    int caller_family, callee_family;
    ULONG caller_id_len, callee_id_len;
    unsigned short caller_port, callee_port;
    uint32_t callee_addr;
    int caller_data_null, sqos_null, gqos_null;
    char caller_data[32];
    ULONG callee_capacity;
    GROUP group;
    int g_valid;
    DWORD_PTR cb;
    int answer;
    int set_group;
    int reentry_err;
    const char *callee_reply;
};

static int recorder(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                    LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    struct seen *s = (struct seen *)cb;
    struct sockaddr_in caller, callee;
    s->calls++;
    memcpy(&caller, caller_id->buf, sizeof caller);
    memcpy(&callee, callee_id->buf, sizeof callee);
    s->caller_id_len = caller_id->len;
    s->callee_id_len = callee_id->len;
    s->caller_family = caller.sin_family;
    s->callee_family = callee.sin_family;
    s->caller_port = ntohs(caller.sin_port);
    s->callee_port = ntohs(callee.sin_port);
    s->callee_addr = callee.sin_addr.s_addr;
    s->caller_data_null = caller_data == NULL;
    memset(s->caller_data, 0, sizeof s->caller_data);
    if (caller_data)
        memcpy(s->caller_data, caller_data->buf, caller_data->len < 31 ? caller_data->len : 31);
    s->sqos_null = sqos == NULL;
    s->gqos_null = gqos == NULL;
    s->callee_capacity = callee_data->len;
    s->g_valid = g != NULL;
    s->group = g ? *g : 99;
    s->cb = cb;
    if (s->set_group)
        *g = 5;
    {
        /* SPEC A14: a WSP call from inside the condition function fails with WSAEINPROGRESS. */
        int err = 0;
        s->reentry_err = wspsan_WSPListen(0x100, 5, &err) == SOCKET_ERROR ? err : 0;
    }
    if (s->callee_reply) {
        size_t n = strlen(s->callee_reply);
        memcpy(callee_data->buf, s->callee_reply, n);
        callee_data->len = (ULONG)n;
    } else {
        callee_data->len = 0;
    }
    return s->answer;
}

/* Writes over every byte of lpCallerId and lpCalleeId, then accepts. */
static int scribbler(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    (void)caller_data, (void)sqos, (void)gqos, (void)g, (void)cb;
    memset(caller_id->buf, 0xee, caller_id->len);
    memset(callee_id->buf, 0xee, callee_id->len);
    callee_data->len = 0;
    return CF_ACCEPT;
}

static SOCKET accept_seen(SOCKET l, struct seen *s, int answer, struct sockaddr_in *peer, int *err) {
    int len = sizeof *peer;
    s->answer = answer;
    *err = 0;
    return wspsan_WSPAccept(l, (struct sockaddr *)peer, &len, recorder, (DWORD_PTR)s, err);
}

static void condition_arguments(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c, a;
    struct seen s;
    struct sockaddr_in peer, c_name;
    int err = 0, len = sizeof c_name;
    TEST("A5 A6 A14 condition arguments");
    memset(&s, 0, sizeof s);
    c = h_pending(port, "hello");
    wspsan_WSPGetSockName(c, (struct sockaddr *)&c_name, &len, &err);
    a = accept_seen(l, &s, CF_ACCEPT, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    /* SPEC A5 */
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(s.caller_id_len, 16);
    CHECK_EQ(s.callee_id_len, 16);
    CHECK_EQ(s.caller_family, AF_INET);
    CHECK_EQ(s.caller_port, ntohs(c_name.sin_port));
    CHECK_EQ(s.callee_family, AF_INET);
    CHECK_EQ(s.callee_port, port);
    CHECK_EQ(s.callee_addr, htonl(INADDR_LOOPBACK));
    CHECK(!s.caller_data_null);
    CHECK(strcmp(s.caller_data, "hello") == 0);
    CHECK(s.sqos_null);
    CHECK(s.gqos_null);
    CHECK_EQ(s.callee_capacity, 256);
    CHECK(s.g_valid);
    CHECK_EQ(s.group, 0);
    CHECK_EQ(s.cb, (DWORD_PTR)&s);
    /* SPEC A14 */
    CHECK_EQ(s.reentry_err, WSAEINPROGRESS);
    h_close(a);
    h_close(c);
    /* No caller data: lpCallerData is NULL. */
    c = h_pending(port, NULL);
    a = accept_seen(l, &s, CF_ACCEPT, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK(s.caller_data_null);
    h_close(a);
    h_close(c);
    /* SPEC A5: caller data of length 0 is no caller data: lpCallerData is NULL. */
    c = h_pending(port, "");
    a = accept_seen(l, &s, CF_ACCEPT, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK(s.caller_data_null);
    h_close(a);
    h_close(c);
    /* SPEC A5: the WSABUFs are writable, as on Windows: a function that writes over lpCallerId and
     * lpCalleeId changes nothing the provider reports. */
    c = h_pending(port, NULL);
    len = sizeof c_name;
    wspsan_WSPGetSockName(c, (struct sockaddr *)&c_name, &len, &err);
    memset(&peer, 0, sizeof peer);
    len = sizeof peer;
    a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, scribbler, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK_EQ(peer.sin_port, c_name.sin_port);
    len = sizeof peer;
    CHECK_OK(wspsan_WSPGetSockName(a, (struct sockaddr *)&peer, &len, &err));
    CHECK_EQ(ntohs(peer.sin_port), port);
    h_close(a);
    h_close(c);
    /* SPEC A6: a NULL condition accepts unconditionally. */
    c = h_pending(port, "x");
    a = accept_plain(l, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(h_so_error(c), 0);
    h_close(a);
    h_close(c);
    h_close(l);
}

static void decisions(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1, c2, a, again;
    struct seen s;
    struct sockaddr_in peer, c1_name, name;
    int err = 0, len = sizeof c1_name, v = 0, vlen = sizeof v, opt = 12345;
    char data[16];
    WSPSAN_LISTENER_STATS st;
    memset(&s, 0, sizeof s);

    TEST("A7 accept");
    /* SPEC A7: a new connected socket, with the listener's options; the listener keeps listening. */
    CHECK_OK(wspsan_WSPSetSockOpt(l, WSPSAN_SOL_SOCKET, WSPSAN_SO_SNDBUF, (char *)&opt, sizeof opt, &err));
    c1 = h_pending(port, "one");
    s.callee_reply = "hi one";
    a = accept_seen(l, &s, CF_ACCEPT, &peer, &err);
    CHECK(a != INVALID_SOCKET && a != l && a != c1);
    CHECK_OK(wspsan_WSPGetSockOpt(a, WSPSAN_SOL_SOCKET, WSPSAN_SO_SNDBUF, (char *)&v, &vlen, &err));
    CHECK_EQ(v, 12345);
    CHECK_OK(wspsan_WSPGetSockOpt(a, WSPSAN_SOL_SOCKET, WSPSAN_SO_ACCEPTCONN, (char *)&v, &vlen, &err));
    CHECK_EQ(v, 0);
    CHECK_FAILS(wspsan_WSPListen(a, 5, &err), WSAEISCONN);
    CHECK_OK(wspsan_WSPGetSockOpt(l, WSPSAN_SOL_SOCKET, WSPSAN_SO_ACCEPTCONN, (char *)&v, &vlen, &err));
    CHECK_EQ(v, 1);
    CHECK_EQ(h_so_error(c1), 0);
    len = sizeof data;
    CHECK_OK(wspsan_WSPGetSockOpt(c1, WSPSAN_SOL_SOCKET, SO_CONNDATA, data, &len, &err));
    CHECK_EQ(len, 6);
    CHECK(memcmp(data, "hi one", 6) == 0);
    s.callee_reply = NULL;

    TEST("A15 names");
    /* SPEC A15 */
    len = sizeof name;
    CHECK_OK(wspsan_WSPGetSockName(a, (struct sockaddr *)&name, &len, &err));
    CHECK_EQ(name.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_EQ(ntohs(name.sin_port), port);
    CHECK_OK(wspsan_WSPGetPeerName(a, (struct sockaddr *)&name, &len, &err));
    len = sizeof c1_name;
    CHECK_OK(wspsan_WSPGetSockName(c1, (struct sockaddr *)&c1_name, &len, &err));
    CHECK_EQ(name.sin_port, c1_name.sin_port);
    CHECK_OK(wspsan_WSPGetPeerName(c1, (struct sockaddr *)&name, &len, &err));
    CHECK_EQ(ntohs(name.sin_port), port);
    CHECK_FAILS(wspsan_WSPGetPeerName(l, (struct sockaddr *)&name, &len, &err), WSAENOTCONN);
    len = 8;
    CHECK_FAILS(wspsan_WSPGetPeerName(a, (struct sockaddr *)&name, &len, &err), WSAEFAULT);
    CHECK_EQ(len, 8);
    len = sizeof name;
    CHECK_FAILS(wspsan_WSPGetPeerName(a, NULL, &len, &err), WSAEFAULT);
    again = h_socket();
    CHECK_FAILS(wspsan_WSPGetSockName(again, (struct sockaddr *)&name, &len, &err), WSAEINVAL);
    h_close(again);
    h_close(a);
    h_close(c1);

    TEST("A8 A13 reject");
    /* SPEC A8, A13: the request leaves; both sides get WSAECONNREFUSED; addr is filled. */
    c1 = h_pending(port, "two");
    memset(&peer, 0, sizeof peer);
    CHECK_EQ(accept_seen(l, &s, CF_REJECT, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAECONNREFUSED);
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK_EQ(h_so_error(c1), WSAECONNREFUSED);
    wspsan_device_listener_stats(l, &st, &err);
    CHECK_EQ(st.queue_len, 0);
    h_close(c1);

    TEST("A9 A13 defer");
    /* SPEC A9: WSATRY_AGAIN; the same request stays at the head; the connector keeps waiting. */
    c1 = h_pending(port, "first");
    c2 = h_pending(port, "second");
    memset(&peer, 0, sizeof peer);
    CHECK_EQ(accept_seen(l, &s, CF_DEFER, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSATRY_AGAIN);
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK(strcmp(s.caller_data, "first") == 0);
    CHECK_EQ(h_so_error(c1), 0);
    CHECK_EQ(accept_seen(l, &s, CF_DEFER, &peer, &err), INVALID_SOCKET);
    CHECK(strcmp(s.caller_data, "first") == 0);
    a = accept_seen(l, &s, CF_ACCEPT, &peer, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK(strcmp(s.caller_data, "first") == 0);
    h_close(a);

    TEST("A10 A13 invalid answers");
    /* SPEC A10: any other value: WSAEINVAL, the request is refused; addr filled (A13). */
    memset(&peer, 0, sizeof peer);
    CHECK_EQ(accept_seen(l, &s, 42, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEINVAL);
    {
        /* The error detail says what came back and what was expected. */
        char msg[512];
        size_t n = 0;
        CHECK_EQ(wspsan_last_error_message(msg, sizeof msg, &n), 0);
        CHECK(strstr(msg, "returned 42; expected CF_ACCEPT (0), CF_REJECT (1) or CF_DEFER (2)") != NULL);
    }
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK(strcmp(s.caller_data, "second") == 0);
    CHECK_EQ(h_so_error(c2), WSAECONNREFUSED);
    h_close(c2);
    /* *g changed to non-zero: the same. */
    c2 = h_pending(port, "third");
    s.set_group = 1;
    CHECK_EQ(accept_seen(l, &s, CF_ACCEPT, &peer, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEINVAL);
    {
        char msg[512];
        size_t n = 0;
        CHECK_EQ(wspsan_last_error_message(msg, sizeof msg, &n), 0);
        CHECK(strstr(msg, "set *g to 5; groups are not supported") != NULL);
    }
    CHECK_EQ(h_so_error(c2), WSAECONNREFUSED);
    s.set_group = 0;
    h_close(c1);
    h_close(c2);
    h_close(l);
}

static void resources(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c, a;
    WSPSAN_DEVICE_STATS dev;
    WSPSAN_LISTENER_STATS st;
    int err = 0;
    TEST("A11 resources");
    c = h_pending(port, NULL);
    /* SPEC A11: no free descriptor: WSAEMFILE, the request stays at the head. */
    wspsan_device_stats(&dev, &err);
    wspsan_device_set_descriptor_limit((int64_t)dev.open_sockets, &err);
    CHECK_EQ(accept_plain(l, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEMFILE);
    wspsan_device_set_descriptor_limit(-1, &err);
    /* Allocation failure: WSAENOBUFS, the request stays. */
    wspsan_device_set_buffer_exhaustion(1, &err);
    CHECK_EQ(accept_plain(l, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAENOBUFS);
    wspsan_device_set_buffer_exhaustion(0, &err);
    wspsan_device_listener_stats(l, &st, &err);
    CHECK_EQ(st.queue_len, 1);
    CHECK_EQ(h_so_error(c), 0);
    a = accept_plain(l, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(h_so_error(c), 0);
    h_close(a);
    h_close(c);
    h_close(l);
}

static void withdrawn(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1, c2, a;
    struct sockaddr_in peer;
    int len = sizeof peer, err = 0;
    TEST("A12 withdrawn");
    c1 = h_pending(port, NULL);
    c2 = h_pending(port, NULL);
    h_close(c1);
    /* SPEC A12: the withdrawn request stays until accept reaches it: WSAEACCES, removed. */
    memset(&peer, 0, sizeof peer);
    CHECK_EQ(wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEACCES);
    CHECK_EQ(peer.sin_family, AF_INET); /* A13: examined */
    a = accept_plain(l, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(h_so_error(c2), 0);
    h_close(a);
    /* Timed out by the device (non-blocking connect with a connect timeout). */
    wspsan_device_set_connect_timeout(50, &err);
    c1 = h_pending(port, NULL);
    {
        int i, so_error = 0;
        for (i = 0; i < 400 && so_error == 0; i++) {
            h_sleep_ms(5);
            so_error = h_so_error(c1);
        }
        CHECK_EQ(so_error, WSAETIMEDOUT);
    }
    CHECK_EQ(accept_plain(l, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEACCES);
    wspsan_device_set_connect_timeout(0, &err);
    h_close(c1);
    h_close(c2);
    h_close(l);
}

int main(void) {
    h_startup();
    errors();
    blocking();
    address_arguments();
    condition_arguments();
    decisions();
    resources();
    withdrawn();
    return h_summary("test_accept");
}

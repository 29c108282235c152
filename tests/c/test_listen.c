/* WSPListen through the C ABI: SPEC L1 to L10. */
#include "harness.h"

static uint64_t backlog_of(SOCKET l) {
    int err = 0;
    WSPSAN_LISTENER_STATS st;
    if (wspsan_device_listener_stats(l, &st, &err) != 0)
        return 0;
    return st.backlog;
}

/* Listen on a fresh bound socket with `requested` and report the effective backlog. */
static uint64_t effective(int requested) {
    int err = 0;
    uint64_t b;
    SOCKET l = h_bound("127.0.0.1", h_port());
    if (wspsan_WSPListen(l, requested, &err) != 0) {
        /* SPEC L4, L5: a backlog value is never an error. */
        fprintf(stderr, "listen(%d) failed with %d\n", requested, err);
        h_close(l);
        return 0;
    }
    b = backlog_of(l);
    h_close(l);
    return b;
}

static void errors(void) {
    SOCKET s = h_socket(), l, c, a;
    unsigned short port = h_port();
    TEST("L1 L2 L3");
    /* SPEC L1 */
    CHECK_FAILS(wspsan_WSPListen(0x12345678, 5, &err), WSAENOTSOCK);
    /* SPEC L2: not bound, whatever the backlog. */
    CHECK_FAILS(wspsan_WSPListen(s, 5, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPListen(s, 0, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPListen(s, -7, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPListen(s, WSPSAN_SOMAXCONN, &err), WSAEINVAL);
    h_close(s);
    /* SPEC L3: a pending connect, a connected and an accepted socket: WSAEISCONN. */
    l = h_listener(port, 5);
    c = h_pending(port, NULL);
    CHECK_FAILS(wspsan_WSPListen(c, 5, &err), WSAEISCONN);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_FAILS(wspsan_WSPListen(c, 5, &err), WSAEISCONN);
    CHECK_FAILS(wspsan_WSPListen(a, 5, &err), WSAEISCONN);
    h_close(a);
    h_close(c);
    h_close(l);
}

static void backlog_values(void) {
    WSPSAN_LIMITS limits, wide;
    int values[] = {1, 2, 5, 100, 4096, 5000, 0, -1, -5, -300, -100000, 0x7fffffff, (int)0x80000000};
    size_t i;
    TEST("L4 L5 backlog");
    /* SPEC L4: no backlog value, however odd, gives an error (checked inside effective()). */
    for (i = 0; i < sizeof values / sizeof values[0]; i++)
        CHECK(effective(values[i]) > 0);
    /* SPEC L5: 1..max kept; SOMAXCONN (both numberings) = device max; 0 -> 1; above max -> max. */
    CHECK_EQ(effective(1), 1);
    CHECK_EQ(effective(37), 37);
    CHECK_EQ(effective(WSPSAN_SOMAXCONN), 4096);
    CHECK_EQ(effective(SOMAXCONN), 4096);
    CHECK_EQ(effective(0), 1);
    CHECK_EQ(effective(5000), 4096);
    /* SOMAXCONN_HINT(N): N clamped into 200..65535, then to the device maximum. */
    CHECK_EQ(effective(SOMAXCONN_HINT(5)), 200);
    CHECK_EQ(effective(SOMAXCONN_HINT(300)), 300);
    CHECK_EQ(effective(SOMAXCONN_HINT(100000)), 4096);
    CHECK_OK(wspsan_device_get_limits(&limits, &err));
    wide = limits;
    wide.max_backlog = 100000;
    CHECK_OK(wspsan_device_set_limits(&wide, &err));
    CHECK_EQ(effective(SOMAXCONN_HINT(100000)), 65535);
    CHECK_EQ(effective(WSPSAN_SOMAXCONN), 100000);
    CHECK_OK(wspsan_device_set_limits(&limits, &err));
}

static void relisten(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c[5];
    int i;
    WSPSAN_LISTENER_STATS st;
    TEST("L6 listen again");
    for (i = 0; i < 5; i++)
        c[i] = h_pending(port, NULL);
    /* SPEC L6: the latest backlog wins; the newest excess requests are reset. */
    CHECK_OK(wspsan_WSPListen(l, 2, &err));
    CHECK_EQ(backlog_of(l), 2);
    CHECK_EQ(h_so_error(c[0]), 0);
    CHECK_EQ(h_so_error(c[1]), 0);
    for (i = 2; i < 5; i++)
        CHECK_EQ(h_so_error(c[i]), WSAECONNRESET);
    CHECK_OK(wspsan_device_listener_stats(l, &st, &err));
    CHECK_EQ(st.reset, 3);
    CHECK_EQ(st.queue_len, 2);
    /* A larger backlog again: kept, nothing reset. */
    CHECK_OK(wspsan_WSPListen(l, 10, &err));
    CHECK_EQ(backlog_of(l), 10);
    for (i = 0; i < 5; i++)
        h_close(c[i]);
    h_close(l);
}

static void full_queue(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 2), c1, c2, c3;
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    WSPSAN_LISTENER_STATS st;
    TEST("L7 full queue");
    c1 = h_pending(port, NULL);
    c2 = h_pending(port, NULL);
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK(!h_is_set(ev));
    /* SPEC L7: refused at once, never queued, no event. */
    c3 = h_socket();
    CHECK_EQ(h_connect_nb(c3, port, NULL), WSAECONNREFUSED);
    CHECK(!h_is_set(ev));
    memset(&ne, 0, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0);
    CHECK_OK(wspsan_device_listener_stats(l, &st, &err));
    CHECK_EQ(st.refused_full, 1);
    CHECK_EQ(st.queue_len, 2);
    /* A blocking connect is refused at once too. */
    {
        int err = 0;
        struct sockaddr_in a = h_addr("127.0.0.1", port);
        SOCKET c4 = h_socket();
        CHECK_EQ(wspsan_WSPConnect(c4, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &err), SOCKET_ERROR);
        CHECK_EQ(err, WSAECONNREFUSED);
        h_close(c4);
    }
    h_close(c1);
    h_close(c2);
    h_close(c3);
    h_close(l);
    wspsan_WSACloseEvent(ev);
}

static void acceptconn(void) {
    SOCKET l = h_bound("127.0.0.1", h_port());
    int v = -1, len = sizeof v;
    TEST("L8 SO_ACCEPTCONN");
    /* SPEC L8, in the Windows and the platform numbering. */
    CHECK_OK(wspsan_WSPGetSockOpt(l, WSPSAN_SOL_SOCKET, WSPSAN_SO_ACCEPTCONN, (char *)&v, &len, &err));
    CHECK_EQ(v, 0);
    CHECK_EQ(len, 4);
    CHECK_OK(wspsan_WSPListen(l, 5, &err));
    v = -1;
    CHECK_OK(wspsan_WSPGetSockOpt(l, WSPSAN_SOL_SOCKET, WSPSAN_SO_ACCEPTCONN, (char *)&v, &len, &err));
    CHECK_EQ(v, 1);
    v = -1;
    CHECK_OK(wspsan_WSPGetSockOpt(l, SOL_SOCKET, SO_ACCEPTCONN, (char *)&v, &len, &err));
    CHECK_EQ(v, 1);
    v = 0;
    CHECK_FAILS(wspsan_WSPSetSockOpt(l, WSPSAN_SOL_SOCKET, WSPSAN_SO_ACCEPTCONN, (char *)&v, sizeof v, &err),
                WSAENOPROTOOPT);
    CHECK_FAILS(wspsan_WSPSetSockOpt(l, SOL_SOCKET, SO_ACCEPTCONN, (char *)&v, sizeof v, &err), WSAENOPROTOOPT);
    h_close(l);
}

static void exhaustion(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1, c2, c3, spare = h_bound("127.0.0.1", h_port()), a;
    WSPSAN_DEVICE_STATS dev;
    WSPSAN_LISTENER_STATS st;
    TEST("L9 descriptor exhaustion");
    c1 = h_pending(port, NULL);
    c2 = h_pending(port, NULL);
    c3 = h_socket();
    CHECK_OK(wspsan_device_stats(&dev, &err));
    CHECK_OK(wspsan_device_set_descriptor_limit((int64_t)dev.open_sockets, &err));
    /* SPEC L9: no free descriptor: the queue is kept, accept fails with WSAEMFILE. */
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEMFILE);
    }
    CHECK_OK(wspsan_device_listener_stats(l, &st, &err));
    CHECK_EQ(st.queue_len, 2);
    /* Exhausted: new requests are refused though the queue has room. */
    CHECK_EQ(h_connect_nb(c3, port, NULL), WSAECONNREFUSED);
    /* Listen on a socket not yet listening while no descriptor is free: WSAEMFILE. */
    CHECK_FAILS(wspsan_WSPListen(spare, 5, &err), WSAEMFILE);
    /* A descriptor is free again: the next accept clears the state and takes the head. */
    CHECK_OK(wspsan_device_set_descriptor_limit(-1, &err));
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_EQ(h_so_error(c1), 0);
    CHECK_EQ(h_connect_nb(c3, port, NULL), WSAEWOULDBLOCK);
    CHECK_OK(wspsan_device_listener_stats(l, &st, &err));
    CHECK_EQ(st.queue_len, 2);
    h_close(a);
    h_close(c1);
    h_close(c2);
    h_close(c3);
    h_close(spare);
    h_close(l);
}

static void *listen_in_thread(void *arg) {
    SOCKET *out = (SOCKET *)arg;
    *out = h_listener((unsigned short)(*out), 3);
    return NULL;
}

static void listener_outlives_thread(void) {
    pthread_t t;
    unsigned short port = h_port();
    SOCKET l = port, c, a;
    TEST("L10 listener outlives its thread");
    pthread_create(&t, NULL, listen_in_thread, &l);
    pthread_join(t, NULL);
    /* SPEC L10 */
    c = h_pending(port, NULL);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_EQ(h_so_error(c), 0);
    h_close(a);
    h_close(c);
    h_close(l);
}

int main(void) {
    h_startup();
    errors();
    backlog_values();
    relisten();
    full_queue();
    acceptconn();
    exhaustion();
    listener_outlives_thread();
    return h_summary("test_listen");
}

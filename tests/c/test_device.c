/* The device through the C ABI: SPEC D1 to D4 (limits, faults, statistics, address list). */
#include "harness.h"

static void defaults(void) {
    WSPSAN_LIMITS l;
    WSPSAN_FAULTS f;
    TEST("D1 defaults");
    /* SPEC D1 */
    CHECK_OK(wspsan_device_get_limits(&l, &err));
    CHECK_EQ(l.max_descriptors, 65536);
    CHECK_EQ(l.max_backlog, 4096);
    CHECK_EQ(l.max_caller_data, 256);
    CHECK_EQ(l.max_callee_data, 256);
    CHECK_EQ(l.max_pending, 1 << 20);
    CHECK_EQ(l.connect_timeout_ms, 0);
    CHECK_OK(wspsan_device_get_faults(&f, &err));
    CHECK_EQ(f.network_down, 0);
    CHECK_EQ(f.buffer_exhaustion, 0);
    CHECK_EQ(f.descriptor_limit, -1);
    CHECK_FAILS(wspsan_device_get_limits(NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_device_set_limits(NULL, &err), WSAEFAULT);
    CHECK_EQ(wspsan_device_get_limits(&l, NULL), SOCKET_ERROR);
}

static int capacity_seen;

static int note_capacity(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                         LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g, (void)cb;
    capacity_seen = (int)callee_data->len;
    memset(callee_data->buf, 'z', callee_data->len);
    /* Claiming more than the buffer holds is cut to the capacity. */
    callee_data->len = 1000;
    return CF_ACCEPT;
}

static void limits(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c, a;
    WSPSAN_LIMITS saved, changed;
    WSPSAN_DEVICE_STATS st;
    char data[32];
    int len = sizeof data;
    TEST("D1 limits");
    CHECK_OK(wspsan_device_get_limits(&saved, &err));
    changed = saved;
    changed.max_callee_data = 8;
    changed.max_caller_data = 4;
    CHECK_OK(wspsan_device_set_limits(&changed, &err));
    /* Caller data above the limit: WSAENOBUFS. */
    c = h_socket();
    CHECK_EQ(h_connect_nb(c, port, "hello"), WSAENOBUFS);
    CHECK_EQ(h_connect_nb(c, port, "hey"), WSAEWOULDBLOCK);
    /* The condition function's callee buffer has the device's callee-data maximum. */
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, note_capacity, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_EQ(capacity_seen, 8);
    CHECK_OK(wspsan_WSPGetSockOpt(c, WSPSAN_SOL_SOCKET, SO_CONNDATA, data, &len, &err));
    CHECK_EQ(len, 8);
    h_close(a);
    h_close(c);
    /* Decided: caller and callee data limits are clamped to 65536 (an accept allocates a
     * callee buffer of that size), max_backlog 0 to 1; reading them back shows what applies. */
    changed = saved;
    changed.max_caller_data = 0xFFFFFFFFu;
    changed.max_callee_data = 0xFFFFFFFFu;
    changed.max_backlog = 0;
    CHECK_OK(wspsan_device_set_limits(&changed, &err));
    {
        WSPSAN_LIMITS applied;
        CHECK_OK(wspsan_device_get_limits(&applied, &err));
        CHECK_EQ(applied.max_caller_data, 65536);
        CHECK_EQ(applied.max_callee_data, 65536);
        CHECK_EQ(applied.max_backlog, 1);
        CHECK_EQ(applied.max_descriptors, saved.max_descriptors);
    }
    /* Maximum pending requests per device. */
    CHECK_OK(wspsan_device_stats(&st, &err));
    changed = saved;
    changed.max_pending = st.pending + 1;
    CHECK_OK(wspsan_device_set_limits(&changed, &err));
    c = h_pending(port, NULL);
    a = h_socket();
    CHECK_EQ(h_connect_nb(a, port, NULL), WSAENOBUFS);
    CHECK_OK(wspsan_device_set_limits(&saved, &err));
    h_close(a);
    h_close(c);
    h_close(l);
}

struct blocked_connect {
    SOCKET s;
    unsigned short port;
    int rc, err;
};

static void *connect_thread(void *arg) {
    struct blocked_connect *b = (struct blocked_connect *)arg;
    struct sockaddr_in a = h_addr("127.0.0.1", b->port);
    b->rc = wspsan_WSPConnect(b->s, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &b->err);
    return NULL;
}

static void faults(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), s;
    struct blocked_connect b;
    pthread_t t;
    WSPSAN_FAULTS f;
    WSPSAN_LISTENER_STATS st;
    TEST("D2 network down");
    /* SPEC D2: a blocked connect wakes with WSAENETDOWN; every call fails with it. */
    b.s = h_socket();
    b.port = port;
    b.err = 0;
    pthread_create(&t, NULL, connect_thread, &b);
    h_sleep_ms(50);
    CHECK_OK(wspsan_device_set_network_down(1, &err));
    pthread_join(t, NULL);
    CHECK_EQ(b.rc, SOCKET_ERROR);
    CHECK_EQ(b.err, WSAENETDOWN);
    CHECK_OK(wspsan_device_get_faults(&f, &err));
    CHECK_EQ(f.network_down, 1);
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAENETDOWN);
    }
    CHECK_FAILS(wspsan_WSPListen(l, 5, &err), WSAENETDOWN);
    CHECK_FAILS(wspsan_WSPCloseSocket(b.s, &err), WSAENETDOWN);
    /* Statistics stay readable while down. */
    CHECK_OK(wspsan_device_listener_stats(l, &st, &err));
    CHECK_OK(wspsan_device_set_network_down(0, &err));
    h_close(b.s);

    TEST("D2 buffer exhaustion");
    CHECK_OK(wspsan_device_set_buffer_exhaustion(1, &err));
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAENOBUFS);
    }
    CHECK_OK(wspsan_device_set_buffer_exhaustion(0, &err));
    s = h_socket();
    CHECK_OK(wspsan_device_set_buffer_exhaustion(1, &err));
    CHECK_EQ(h_connect_nb(s, port, NULL), WSAENOBUFS);
    CHECK_OK(wspsan_device_set_buffer_exhaustion(0, &err));
    h_close(s);
    h_close(l);
}

static void statistics(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 3), c[6], a;
    WSPSAN_LISTENER_STATS st;
    WSPSAN_DEVICE_STATS before, after;
    int i;
    TEST("D3 statistics");
    CHECK_OK(wspsan_device_stats(&before, &err));
    for (i = 0; i < 3; i++)
        c[i] = h_pending(port, NULL);
    c[3] = h_socket();
    CHECK_EQ(h_connect_nb(c[3], port, NULL), WSAECONNREFUSED); /* refused_full */
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err); /* accepted */
        h_close(a);
        wspsan_WSPAccept(l, NULL, NULL, h_answer, CF_DEFER, &err);  /* deferred */
        wspsan_WSPAccept(l, NULL, NULL, h_answer, CF_REJECT, &err); /* rejected */
    }
    c[4] = h_pending(port, NULL);
    h_close(c[4]);
    {
        int err = 0;
        wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err); /* c[2]: accepted */
    }
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET); /* withdrawn */
        CHECK_EQ(err, WSAEACCES);
    }
    c[5] = h_pending(port, NULL);
    c[4] = h_pending(port, NULL);
    CHECK_OK(wspsan_WSPListen(l, 1, &err)); /* reset */
    /* SPEC D3 */
    CHECK_OK(wspsan_device_listener_stats(l, &st, &err));
    CHECK_EQ(st.queued, 6);
    CHECK_EQ(st.accepted, 2);
    CHECK_EQ(st.rejected, 1);
    CHECK_EQ(st.deferred, 1);
    CHECK_EQ(st.refused_full, 1);
    CHECK_EQ(st.withdrawn, 1);
    CHECK_EQ(st.reset, 1);
    CHECK_EQ(st.queue_len, 1);
    CHECK_EQ(st.backlog, 1);
    CHECK_EQ(st.queued, st.accepted + st.rejected + st.reset + st.withdrawn + st.refused_by_close + st.queue_len);
    CHECK_FAILS(wspsan_device_listener_stats(c[0], &st, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_device_listener_stats(l, NULL, &err), WSAEFAULT);
    /* Device totals include the listener's counters and the device-only ones. */
    {
        SOCKET nobody = h_socket();
        CHECK_EQ(h_connect_nb(nobody, h_port(), NULL), WSAECONNREFUSED);
        h_close(nobody);
    }
    CHECK_OK(wspsan_device_stats(&after, &err));
    CHECK_EQ(after.listeners.accepted - before.listeners.accepted, 2);
    CHECK_EQ(after.refused_no_listener - before.refused_no_listener, 1);
    CHECK(after.open_sockets >= 7);
    CHECK_EQ(after.pending, 1);
    h_close(l);
    CHECK_OK(wspsan_device_stats(&after, &err));
    CHECK_EQ(after.listeners.refused_by_close - before.listeners.refused_by_close, 1);
    CHECK_EQ(after.pending, 0);
    for (i = 0; i < 6; i++)
        h_close(c[i]);
}

static void address_list(void) {
    SOCKET s = h_socket();
    union {
        SOCKET_ADDRESS_LIST list;
        char bytes[256];
    } out;
    DWORD needed = 0, n = 0;
    uint32_t nic2;
    struct sockaddr_in *sin;
    TEST("D4 address list");
    inet_pton(AF_INET, "10.1.2.3", &nic2);
    CHECK_OK(wspsan_device_add_nic(nic2, &err));
    CHECK_FAILS(wspsan_device_add_nic(nic2, &err), WSAEINVAL);
    /* SPEC D4: too small a buffer: WSAEFAULT with the needed size. */
    CHECK_FAILS(wspsan_WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, &out, 8, &needed, NULL, NULL, NULL, &err),
                WSAEFAULT);
    CHECK(needed > 8 && needed <= sizeof out);
    CHECK_OK(wspsan_WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, &out, needed, &n, NULL, NULL, NULL, &err));
    CHECK_EQ(n, needed);
    CHECK_EQ(out.list.iAddressCount, 2);
    sin = (struct sockaddr_in *)(void *)out.list.Address[0].lpSockaddr;
    CHECK((char *)sin >= out.bytes && (char *)sin < out.bytes + needed);
    CHECK_EQ(out.list.Address[0].iSockaddrLength, 16);
    CHECK_EQ(sin->sin_family, AF_INET);
    CHECK_EQ(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    sin = (struct sockaddr_in *)(void *)((SOCKET_ADDRESS *)out.list.Address)[1].lpSockaddr;
    CHECK_EQ(sin->sin_addr.s_addr, nic2);
    CHECK_FAILS(wspsan_WSPIoctl(s, SIO_ADDRESS_LIST_QUERY, NULL, 0, &out, sizeof out, NULL, NULL, NULL, NULL, &err),
                WSAEFAULT);
    CHECK_OK(wspsan_device_remove_nic(nic2, &err));
    CHECK_FAILS(wspsan_device_remove_nic(nic2, &err), WSAEADDRNOTAVAIL);
    h_close(s);
}

int main(void) {
    /* Device control works before startup. */
    defaults();
    h_startup();
    limits();
    faults();
    statistics();
    address_list();
    return h_summary("test_device");
}

/* Startup, cleanup, the procedure table and the boundary: SPEC X1 to X4, plus the diagnostics
 * (wspsan_strerror, wspsan_last_error_message, wspsan_version). */
#include "harness.h"

static int nonzero_lperrno_untouched(void) {
    int err = 777;
    SOCKET s = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    int untouched = s != INVALID_SOCKET && err == 777;
    h_close(s);
    return untouched;
}

static void before_startup(void) {
    struct sockaddr_in a = h_addr("127.0.0.1", 1);
    WSANETWORKEVENTS ne;
    int len = sizeof a;
    TEST("X2 before startup");
    /* SPEC X2: every WSP call before startup fails with WSANOTINITIALISED. */
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSANOTINITIALISED);
    }
    CHECK_FAILS(wspsan_WSPCleanup(&err), WSANOTINITIALISED);
    CHECK_FAILS(wspsan_WSPBind(0x100, (struct sockaddr *)&a, sizeof a, &err), WSANOTINITIALISED);
    CHECK_FAILS(wspsan_WSPListen(0x100, 5, &err), WSANOTINITIALISED);
    CHECK_FAILS(wspsan_WSPGetSockName(0x100, (struct sockaddr *)&a, &len, &err), WSANOTINITIALISED);
    CHECK_FAILS(wspsan_WSPEnumNetworkEvents(0x100, NULL, &ne, &err), WSANOTINITIALISED);
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(0x100, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSANOTINITIALISED);
    }
}

/* Every proc-table function this provider does not implement fails with WSAEOPNOTSUPP. */
static void unimplemented(const WSPPROC_TABLE *t) {
    int err;
    DWORD n = 0, flags = 0;
    WSABUF b;
    struct sockaddr_in a = h_addr("127.0.0.1", 1);
    int len = sizeof a;
    b.len = 0;
    b.buf = NULL;
    TEST("X1 unimplemented entries");
    /* SPEC X1 */
    CHECK_FAILS(t->lpWSPAddressToString((struct sockaddr *)&a, sizeof a, NULL, NULL, &n, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPAsyncSelect(1, NULL, 0, 0, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPCancelBlockingCall(&err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPDuplicateSocket(1, 0, NULL, &err), WSAEOPNOTSUPP);
    err = 0;
    CHECK_EQ(t->lpWSPGetOverlappedResult(1, NULL, &n, 0, &flags, &err), 0);
    CHECK_EQ(err, WSAEOPNOTSUPP);
    err = 0;
    CHECK_EQ(t->lpWSPGetQOSByName(1, &b, NULL, &err), 0);
    CHECK_EQ(err, WSAEOPNOTSUPP);
    err = 0;
    CHECK_EQ(t->lpWSPJoinLeaf(1, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPRecv(1, &b, 1, &n, &flags, NULL, NULL, NULL, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPRecvDisconnect(1, &b, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPRecvFrom(1, &b, 1, &n, &flags, (struct sockaddr *)&a, &len, NULL, NULL, NULL, &err),
                WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPSelect(0, NULL, NULL, NULL, NULL, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPSend(1, &b, 1, &n, 0, NULL, NULL, NULL, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPSendDisconnect(1, &b, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPSendTo(1, &b, 1, &n, 0, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, &err),
                WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPShutdown(1, 2, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(t->lpWSPStringToAddress(NULL, AF_INET, NULL, (struct sockaddr *)&a, &len, &err), WSAEOPNOTSUPP);
}

static void diagnostics(void) {
    char buf[256];
    size_t len = 0;
    TEST("diagnostics");
    CHECK(strstr(wspsan_strerror(WSAECONNREFUSED), "WSAECONNREFUSED") != NULL);
    CHECK(strstr(wspsan_strerror(WSATRY_AGAIN), "WSATRY_AGAIN") != NULL);
    CHECK(strcmp(wspsan_strerror(0), "no error") == 0);
    CHECK(strcmp(wspsan_strerror(4242), "unknown error") == 0);
    CHECK(strcmp(wspsan_version(), WSPSAN_VERSION_STRING) == 0);
    /* The last failure on this thread, with its detail. */
    CHECK_FAILS(wspsan_WSPListen(0xdead0, 1, &err), WSAENOTSOCK);
    CHECK_EQ(wspsan_last_error_message(buf, sizeof buf, &len), 0);
    CHECK(strstr(buf, "wspsan_WSPListen") != NULL);
    CHECK(strstr(buf, "WSAENOTSOCK") != NULL);
    CHECK_EQ(len, strlen(buf));
    /* Cut to the buffer, full length reported. */
    CHECK_EQ(wspsan_last_error_message(buf, 5, &len), 0);
    CHECK_EQ(strlen(buf), 4);
    CHECK(len > 4);
    CHECK_EQ(wspsan_last_error_message(NULL, 0, &len), 0);
    CHECK_EQ(wspsan_last_error_message(NULL, 10, &len), WSAEFAULT);
}

/* A thread's last error is its own. */
static void *other_thread(void *arg) {
    char buf[128];
    size_t len = 99;
    (void)arg;
    wspsan_last_error_message(buf, sizeof buf, &len);
    return (void *)(uintptr_t)len;
}

int main(void) {
    WSPDATA data;
    WSPPROC_TABLE table, again;
    WSPUPCALLTABLE upcalls;
    memset(&upcalls, 0, sizeof upcalls);
    memset(&table, 0, sizeof table);

    before_startup();

    TEST("X1 version");
    /* SPEC X1: below 2.2 is WSAVERNOTSUPPORTED and starts nothing. */
    CHECK_EQ(wspsan_WSPStartup(0x0101, &data, NULL, upcalls, &table), WSAVERNOTSUPPORTED);
    CHECK_EQ(wspsan_WSPStartup(0x0102, &data, NULL, upcalls, &table), WSAVERNOTSUPPORTED);
    CHECK_FAILS(wspsan_WSPCleanup(&err), WSANOTINITIALISED);
    /* SPEC X4: NULL out-pointers give WSAEFAULT. */
    CHECK_EQ(wspsan_WSPStartup(0x0202, NULL, NULL, upcalls, &table), WSAEFAULT);
    CHECK_EQ(wspsan_WSPStartup(0x0202, &data, NULL, upcalls, NULL), WSAEFAULT);

    TEST("X1 startup");
    CHECK_EQ(wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &table), 0);
    CHECK_EQ(data.wVersion, 0x0202);
    CHECK_EQ(data.wHighVersion, 0x0202);
    CHECK_EQ(data.szDescription[0], 'w');
    {
        /* SPEC X1: all 30 entries filled. */
        void (*const *entry)(void) = (void (*const *)(void))(const void *)&table;
        size_t i, filled = 0;
        for (i = 0; i < sizeof table / sizeof(void *); i++)
            filled += entry[i] != NULL;
        CHECK_EQ(sizeof table / sizeof(void *), 30);
        CHECK_EQ(filled, 30);
    }
    unimplemented(&table);
    /* A higher version is served as 2.2. */
    CHECK_EQ(wspsan_WSPStartup(0x0303, &data, NULL, upcalls, &again), 0);
    CHECK_EQ(data.wVersion, 0x0202);
    CHECK(memcmp(&table, &again, sizeof table) == 0);

    TEST("X3 lpErrno untouched on success");
    /* SPEC X3 */
    CHECK(nonzero_lperrno_untouched());

    TEST("X4 bad pointers");
    {
        /* SPEC X4: NULL lpErrno cannot be reported but never crashes. */
        CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, NULL), INVALID_SOCKET);
        CHECK_EQ(wspsan_WSPListen(1, 1, NULL), SOCKET_ERROR);
        /* Unknown descriptors give WSAENOTSOCK. */
        CHECK_FAILS(wspsan_WSPListen(0, 1, &err), WSAENOTSOCK);
        CHECK_FAILS(wspsan_WSPListen(INVALID_SOCKET, 1, &err), WSAENOTSOCK);
        CHECK_FAILS(wspsan_WSPCloseSocket(12345, &err), WSAENOTSOCK);
    }

    diagnostics();
    {
        pthread_t t;
        void *len = NULL;
        pthread_create(&t, NULL, other_thread, NULL);
        pthread_join(t, &len);
        CHECK_EQ((uintptr_t)len, 0);
    }

    TEST("X1 counted cleanup");
    {
        SOCKET s = h_listener(h_port(), 5), s2;
        int len = sizeof(struct sockaddr_in);
        struct sockaddr_in a;
        /* Two startups: the first cleanup keeps the provider running. */
        CHECK_OK(wspsan_WSPCleanup(&err));
        CHECK_OK(wspsan_WSPGetSockName(s, (struct sockaddr *)&a, &len, &err));
        /* SPEC X2: the last cleanup closes every socket; later calls are WSANOTINITIALISED. */
        CHECK_OK(wspsan_WSPCleanup(&err));
        CHECK_FAILS(wspsan_WSPGetSockName(s, (struct sockaddr *)&a, &len, &err), WSANOTINITIALISED);
        CHECK_FAILS(wspsan_WSPCleanup(&err), WSANOTINITIALISED);
        /* A new startup: the old socket is gone, its descriptor never comes back. */
        h_startup();
        CHECK_FAILS(wspsan_WSPGetSockName(s, (struct sockaddr *)&a, &len, &err), WSAENOTSOCK);
        s2 = h_socket();
        CHECK(s2 != s);
        CHECK(s2 != 0 && s2 != INVALID_SOCKET);
        CHECK_OK(wspsan_WSPCleanup(&err));
    }
    return h_summary("test_startup");
}

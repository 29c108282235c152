/* This program plays the switch: it hands wspsan_WSPStartup an upcall table and checks the
 * provider's upcalls (SPEC X5, A11, section 8: WPUSetEvent / WPUResetEvent). */
#include "harness.h"

#define MAX_HANDLES 64
#define CATALOG_ENTRY 1001u

/* The switch's own socket handles: handle i is 0x5000 + i, holding the provider's context. */
static struct {
    DWORD_PTR context[MAX_HANDLES];
    int open[MAX_HANDLES];
    int created, closed;
    DWORD last_catalog;
    int fail_with; /* non-zero: WPUCreateSocketHandle fails with this error */
    int sets, resets;
    WSAEVENT last_event;
    SOCKET watched;      /* a socket to query from inside an upcall (no provider lock held) */
    int query_in_upcall; /* its WSPGetSockName result from inside WPUCloseSocketHandle */
} sw;

static SOCKET WSPAPI_create(DWORD catalog, DWORD_PTR context, LPINT lpErrno) {
    int i;
    sw.last_catalog = catalog;
    if (sw.fail_with) {
        *lpErrno = sw.fail_with;
        return INVALID_SOCKET;
    }
    for (i = 0; i < MAX_HANDLES; i++) {
        if (!sw.open[i] && sw.context[i] == 0) {
            sw.open[i] = 1;
            sw.context[i] = context;
            sw.created++;
            return (SOCKET)(0x5000 + i);
        }
    }
    *lpErrno = WSAEMFILE;
    return INVALID_SOCKET;
}

static int WSPAPI_close(SOCKET s, LPINT lpErrno) {
    int i = (int)s - 0x5000;
    if (i < 0 || i >= MAX_HANDLES || !sw.open[i]) {
        *lpErrno = WSAENOTSOCK;
        return SOCKET_ERROR;
    }
    sw.open[i] = 0;
    sw.closed++;
    if (sw.watched) {
        struct sockaddr_in a;
        int len = sizeof a, err = 0;
        sw.query_in_upcall = wspsan_WSPGetSockName(sw.watched, (struct sockaddr *)&a, &len, &err) == 0 ? 1 : -err;
    }
    return 0;
}

static int WSPAPI_query_context(SOCKET s, PDWORD_PTR context, LPINT lpErrno) {
    int i = (int)s - 0x5000;
    if (i < 0 || i >= MAX_HANDLES || !sw.open[i]) {
        *lpErrno = WSAENOTSOCK;
        return SOCKET_ERROR;
    }
    *context = sw.context[i];
    return 0;
}

static BOOL WSPAPI_set_event(WSAEVENT e, LPINT lpErrno) {
    (void)lpErrno;
    sw.sets++;
    sw.last_event = e;
    return 1;
}

static BOOL WSPAPI_reset_event(WSAEVENT e, LPINT lpErrno) {
    (void)lpErrno;
    sw.resets++;
    sw.last_event = e;
    return 1;
}

static SOCKET switch_handle(SOCKET s) {
    SOCKET h = 0;
    int err = 0;
    if (wspsan_switch_handle(s, &h, &err) != 0)
        return INVALID_SOCKET;
    return h;
}

int main(void) {
    WSPDATA data;
    WSPPROC_TABLE table;
    WSPUPCALLTABLE up;
    WSAPROTOCOL_INFOW info;
    unsigned short port = h_port();
    SOCKET l, c, a, h;
    DWORD_PTR ctx = 0;
    int err = 0;
    WSAEVENT fake = (WSAEVENT)(uintptr_t)0xabcdef0; /* not an fd: only the upcalls may touch it */
    WSANETWORKEVENTS ne;

    memset(&up, 0, sizeof up);
    up.lpWPUCreateSocketHandle = WSPAPI_create;
    up.lpWPUCloseSocketHandle = WSPAPI_close;
    up.lpWPUQuerySocketHandleContext = WSPAPI_query_context;
    up.lpWPUSetEvent = WSPAPI_set_event;
    up.lpWPUResetEvent = WSPAPI_reset_event;
    memset(&info, 0, sizeof info);
    info.dwCatalogEntryId = CATALOG_ENTRY;
    info.iAddressFamily = AF_INET;
    if (wspsan_WSPStartup(0x0202, &data, &info, up, &table) != 0)
        return 2;

    TEST("X5 WPUCreateSocketHandle");
    /* SPEC X5: the provider calls WPUCreateSocketHandle, stores the switch's handle and returns its
     * own descriptor; the context is that descriptor. */
    l = h_bound("127.0.0.1", port);
    CHECK_EQ(sw.created, 1);
    CHECK_EQ(sw.last_catalog, CATALOG_ENTRY);
    h = switch_handle(l);
    CHECK_EQ(h, 0x5000);
    CHECK(l != h);
    CHECK_EQ(WSPAPI_query_context(h, &ctx, &err), 0);
    CHECK_EQ(ctx, l);
    CHECK_FAILS(wspsan_switch_handle(l, NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_switch_handle(0x999990, &h, &err), WSAENOTSOCK);
    CHECK_OK(wspsan_WSPListen(l, 5, &err));

    TEST("X5 accepted sockets");
    c = h_pending(port, NULL);
    CHECK_EQ(sw.created, 2);
    a = table.lpWSPAccept(l, NULL, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(sw.created, 3);
    h = switch_handle(a);
    CHECK(h >= 0x5000 && h < 0x5000 + MAX_HANDLES);
    CHECK_EQ(WSPAPI_query_context(h, &ctx, &err), 0);
    CHECK_EQ(ctx, a);

    TEST("X5 WPUCloseSocketHandle");
    /* Closing calls WPUCloseSocketHandle with the switch's handle, with no provider lock held. */
    sw.watched = l;
    CHECK_OK(wspsan_WSPCloseSocket(a, &err));
    CHECK_EQ(sw.closed, 1);
    CHECK_EQ(sw.open[h - 0x5000], 0);
    CHECK_EQ(sw.query_in_upcall, 1);
    sw.watched = 0;
    h_close(c);
    CHECK_EQ(sw.closed, 2);

    TEST("X5 A11 failing upcall");
    /* SPEC X5: a failing upcall fails the operation with its error and loses nothing. */
    sw.fail_with = WSAENOBUFS;
    CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAENOBUFS);
    sw.fail_with = 0;
    c = h_pending(port, NULL);
    /* SPEC A11: for accept the request stays queued (WSAEMFILE). */
    sw.fail_with = WSAEMFILE;
    CHECK_EQ(table.lpWSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEMFILE);
    sw.fail_with = 0;
    CHECK_EQ(h_so_error(c), 0);
    a = table.lpWSPAccept(l, NULL, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK_EQ(h_so_error(c), 0);

    TEST("section 8 WPUSetEvent / WPUResetEvent");
    /* Event objects go through the switch's upcalls when it has them. */
    {
        SOCKET c2 = h_socket();
        int sets = sw.sets, resets = sw.resets;
        CHECK_OK(wspsan_WSPEventSelect(c2, fake, FD_CONNECT, &err));
        CHECK_EQ(h_connect_nb(c2, port, NULL), WSAEWOULDBLOCK);
        a = table.lpWSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
        CHECK_EQ(sw.sets, sets + 1);
        CHECK(sw.last_event == fake);
        CHECK_OK(wspsan_WSPEnumNetworkEvents(c2, fake, &ne, &err));
        CHECK_EQ(sw.resets, resets + 1);
        CHECK_EQ(ne.lNetworkEvents, FD_CONNECT);
        h_close(c2);
    }

    TEST("X5 last cleanup closes the switch's handles");
    {
        int i, open = 0;
        CHECK_OK(wspsan_WSPCleanup(&err));
        for (i = 0; i < MAX_HANDLES; i++)
            open += sw.open[i];
        CHECK_EQ(open, 0);
        CHECK_EQ(sw.created, sw.closed);
    }
    /* A new session without upcalls: the switch handle is the descriptor itself. */
    h_startup();
    {
        int created = sw.created;
        SOCKET s = h_socket();
        CHECK_EQ(sw.created, created);
        CHECK_EQ(switch_handle(s), s);
        h_close(s);
        CHECK_OK(wspsan_WSPCleanup(&err));
    }
    return h_summary("test_switch");
}

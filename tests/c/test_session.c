/* The session around the switch's upcalls: counted startup and cleanup (SPEC X1, X2) with no
 * lock held while the last cleanup's upcalls run (T1), cleanup from a condition function (A14),
 * and WPUSetEvent / WPUResetEvent used only as a pair (section 8). */
#include "harness.h"

#include <signal.h>

static struct {
    int closes;
    int startup_rc;           /* wspsan_WSPStartup from inside WPUCloseSocketHandle */
    int call_err;             /* wspsan_WSPSocket from inside it */
    pthread_t other;          /* a startup on another thread, begun from inside it */
    volatile int other_done;  /* set when that startup returned */
    int other_rc;
    int other_done_in_upcall; /* whether it had returned before the upcall did */
    int sets, resets;
} sw;

static SOCKET next_handle = 0x7000;

static SOCKET WSPAPI_create(DWORD catalog, DWORD_PTR context, LPINT lpErrno) {
    (void)catalog, (void)context, (void)lpErrno;
    return next_handle++;
}

static void *other_startup(void *arg) {
    WSPDATA data;
    WSPPROC_TABLE table;
    WSPUPCALLTABLE none;
    (void)arg;
    memset(&none, 0, sizeof none);
    sw.other_rc = wspsan_WSPStartup(0x0202, &data, NULL, none, &table);
    sw.other_done = 1;
    return NULL;
}

/* The first close re-enters the provider the way a switch might. */
static int WSPAPI_close(SOCKET s, LPINT lpErrno) {
    (void)s, (void)lpErrno;
    if (sw.closes++ == 0) {
        WSPDATA data;
        WSPPROC_TABLE table;
        WSPUPCALLTABLE none;
        int err = 0;
        SOCKET x;
        memset(&none, 0, sizeof none);
        sw.startup_rc = wspsan_WSPStartup(0x0202, &data, NULL, none, &table);
        x = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
        sw.call_err = x == INVALID_SOCKET ? err : 0;
        pthread_create(&sw.other, NULL, other_startup, NULL);
        h_sleep_ms(100);
        sw.other_done_in_upcall = sw.other_done;
    }
    return 0;
}

static BOOL WSPAPI_set_event(WSAEVENT e, LPINT lpErrno) {
    (void)e, (void)lpErrno;
    sw.sets++;
    return 1;
}

static BOOL WSPAPI_reset_event(WSAEVENT e, LPINT lpErrno) {
    (void)e, (void)lpErrno;
    sw.resets++;
    return 1;
}

static int start(WSPUPCALLTABLE up) {
    WSPDATA data;
    WSPPROC_TABLE table;
    return wspsan_WSPStartup(0x0202, &data, NULL, up, &table);
}

/* Calls WSPCleanup from inside the condition function, keeps its error, accepts. */
static int cleanup_inside(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                          LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    int err = 0;
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    WSPDATA data;
    WSPPROC_TABLE table;
    WSPUPCALLTABLE up;
    callee_data->len = 0;
    memset(&up, 0, sizeof up);
    ((int *)cb)[0] = wspsan_WSPCleanup(&err) == SOCKET_ERROR ? err : 0;
    ((int *)cb)[1] = wspsan_WSPStartup(0x0202, &data, NULL, up, &table);
    return CF_ACCEPT;
}

static void upcalls_of_the_last_cleanup(void) {
    WSPUPCALLTABLE up;
    SOCKET s1, s2, s;
    struct sockaddr_in a;
    int len = sizeof a;
    TEST("T1 upcalls of the last cleanup");
    memset(&up, 0, sizeof up);
    up.lpWPUCreateSocketHandle = WSPAPI_create;
    up.lpWPUCloseSocketHandle = WSPAPI_close;
    CHECK_EQ(start(up), 0);
    s1 = h_bound("127.0.0.1", h_port());
    s2 = h_socket();
    /* SPEC T1: the last cleanup runs WPUCloseSocketHandle with no lock held. From inside it, a
     * startup cannot wait for the cleanup that called it: WSAEINPROGRESS; every other call sees
     * the provider already cleaned up (X2); a startup on another thread waits for the end. */
    CHECK_OK(wspsan_WSPCleanup(&err));
    CHECK_EQ(sw.closes, 2);
    CHECK_EQ(sw.startup_rc, WSAEINPROGRESS);
    CHECK_EQ(sw.call_err, WSANOTINITIALISED);
    CHECK_EQ(sw.other_done_in_upcall, 0);
    pthread_join(sw.other, NULL);
    CHECK_EQ(sw.other_rc, 0);
    /* That startup began a new session without upcalls; the old sockets are gone. */
    CHECK_FAILS(wspsan_WSPGetSockName(s1, (struct sockaddr *)&a, &len, &err), WSAENOTSOCK);
    s = h_socket();
    CHECK(s != s1 && s != s2);
    h_close(s);
    CHECK_EQ(sw.closes, 2);
    CHECK_OK(wspsan_WSPCleanup(&err));
    CHECK_FAILS(wspsan_WSPCleanup(&err), WSANOTINITIALISED);
}

static void cleanup_from_a_condition(void) {
    unsigned short port = h_port();
    SOCKET l, c, a;
    struct sockaddr_in name;
    int len = sizeof name, err = 0, inner[2] = {0, 0};
    TEST("A14 cleanup from a condition function");
    h_startup();
    l = h_listener(port, 5);
    c = h_pending(port, NULL);
    a = wspsan_WSPAccept(l, NULL, NULL, cleanup_inside, (DWORD_PTR)inner, &err);
    CHECK(a != INVALID_SOCKET);
    /* SPEC A14: WSAEINPROGRESS for cleanup and startup alike, and nothing is undone: one startup
     * still in force, sockets alive. */
    CHECK_EQ(inner[0], WSAEINPROGRESS);
    CHECK_EQ(inner[1], WSAEINPROGRESS);
    CHECK_OK(wspsan_WSPGetSockName(l, (struct sockaddr *)&name, &len, &err));
    CHECK_EQ(h_so_error(c), 0);
    h_close(a);
    h_close(c);
    h_close(l);
    CHECK_OK(wspsan_WSPCleanup(&err));
    CHECK_FAILS(wspsan_WSPCleanup(&err), WSANOTINITIALISED);
}

/* One session whose upcall table has only WPUSetEvent (set_only) or only WPUResetEvent. */
static void one_sided(int set_only) {
    WSPUPCALLTABLE up;
    unsigned short port = h_port();
    SOCKET l, c;
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    memset(&up, 0, sizeof up);
    if (set_only)
        up.lpWPUSetEvent = WSPAPI_set_event;
    else
        up.lpWPUResetEvent = WSPAPI_reset_event;
    CHECK_EQ(start(up), 0);
    l = h_listener(port, 5);
    sw.sets = sw.resets = 0;
    /* Section 8: one upcall without the other is not used; the eventfd is set and reset. */
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    c = h_pending(port, NULL);
    CHECK(h_is_set(ev));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_ACCEPT);
    CHECK(!h_is_set(ev));
    CHECK_EQ(sw.sets, 0);
    CHECK_EQ(sw.resets, 0);
    /* So a handle must hold an eventfd. */
    CHECK_FAILS(wspsan_WSPEventSelect(l, (WSAEVENT)(uintptr_t)0xabcdef0, FD_ACCEPT, &err), WSAEINVAL);
    h_close(c);
    h_close(l);
    wspsan_WSACloseEvent(ev);
    CHECK_OK(wspsan_WSPCleanup(&err));
}

int main(void) {
    alarm(60); /* a deadlock fails the program rather than hanging it */
    upcalls_of_the_last_cleanup();
    cleanup_from_a_condition();
    TEST("section 8 WPUSetEvent without WPUResetEvent");
    one_sided(1);
    TEST("section 8 WPUResetEvent without WPUSetEvent");
    one_sided(0);
    return h_summary("test_session");
}

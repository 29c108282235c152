/* Regression tests for what the fuzzers (tests/c/fuzz.c, fuzz/fuzz_targets/capi_calls.rs) found.
 *
 * 1. The proc-table entries the provider does not implement (WSPSend, WSPRecv, ...) answered
 *    WSAEOPNOTSUPP from inside a condition function, where every WSP function must fail with
 *    WSAEINPROGRESS (SPEC A14; README: "A14 wins").
 * 2. tests/c/fuzz.c reported "WSPEnumNetworkEvents reported 0x30 with 0 selected (SPEC E4)" now
 *    and then. The provider was right: WSPEventSelect installs the selection before it signals the
 *    events already recorded (E1), so a WSPEnumNetworkEvents made from the switch's WPUSetEvent
 *    upcall of that signal reports them under the new selection (E4), and a WSPEventSelect made
 *    from that upcall is the one in force once the outer call returns. The driver's model only
 *    learnt the new selection after the outer call returned. */
#include "harness.h"

static WSPPROC_TABLE table;
static int inner_errors[16];
static int inner_rcs[16];

/* Calls every unsupported table entry from inside the condition function. */
static int call_unsupported(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                            LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx) {
    SOCKET s = (SOCKET)ctx;
    WSABUF b = {0, NULL};
    DWORD n = 0;
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    callee_data->len = 0;
    for (int i = 0; i < 16; i++) inner_errors[i] = -1;
    inner_rcs[0] = table.lpWSPAddressToString(NULL, 0, NULL, NULL, &n, &inner_errors[0]);
    inner_rcs[1] = table.lpWSPAsyncSelect(s, NULL, 0, 0, &inner_errors[1]);
    inner_rcs[2] = table.lpWSPCancelBlockingCall(&inner_errors[2]);
    inner_rcs[3] = table.lpWSPDuplicateSocket(s, 1, NULL, &inner_errors[3]);
    inner_rcs[4] = table.lpWSPGetOverlappedResult(s, NULL, &n, 0, &n, &inner_errors[4]) == WSPSAN_FALSE ? -1 : 0;
    inner_rcs[5] = table.lpWSPGetQOSByName(s, &b, NULL, &inner_errors[5]) == WSPSAN_FALSE ? -1 : 0;
    inner_rcs[6] = table.lpWSPJoinLeaf(s, NULL, 0, NULL, NULL, NULL, NULL, 0, &inner_errors[6]) == INVALID_SOCKET ? -1 : 0;
    inner_rcs[7] = table.lpWSPRecv(s, &b, 1, &n, &n, NULL, NULL, NULL, &inner_errors[7]);
    inner_rcs[8] = table.lpWSPRecvDisconnect(s, &b, &inner_errors[8]);
    inner_rcs[9] = table.lpWSPRecvFrom(s, &b, 1, &n, &n, NULL, NULL, NULL, NULL, NULL, &inner_errors[9]);
    inner_rcs[10] = table.lpWSPSelect(0, NULL, NULL, NULL, NULL, &inner_errors[10]);
    inner_rcs[11] = table.lpWSPSend(s, &b, 1, &n, 0, NULL, NULL, NULL, &inner_errors[11]);
    inner_rcs[12] = table.lpWSPSendDisconnect(s, &b, &inner_errors[12]);
    inner_rcs[13] = table.lpWSPSendTo(s, &b, 1, &n, 0, NULL, 0, NULL, NULL, NULL, &inner_errors[13]);
    inner_rcs[14] = table.lpWSPShutdown(s, 2, &inner_errors[14]);
    inner_rcs[15] = table.lpWSPStringToAddress(NULL, AF_INET, NULL, NULL, NULL, &inner_errors[15]);
    return CF_ACCEPT;
}

/* The switch's WPUSetEvent / WPUResetEvent; the set upcall calls back into the provider on
 * `watched` once it is armed: WSPEnumNetworkEvents, then WSPEventSelect(reselect) if non-zero. */
static struct {
    SOCKET watched;
    int armed;
    int sets;
    int enum_rc, enum_err;
    WSANETWORKEVENTS seen;
    LONG reselect;
    int select_rc;
} cb;

static BOOL WSPAPI_set_event(WSAEVENT e, LPINT lpErrno) {
    (void)e, (void)lpErrno;
    cb.sets++;
    if (cb.armed) {
        cb.armed = 0;
        memset(&cb.seen, 0x77, sizeof cb.seen);
        cb.enum_err = 0;
        cb.enum_rc = wspsan_WSPEnumNetworkEvents(cb.watched, NULL, &cb.seen, &cb.enum_err);
        if (cb.reselect) cb.select_rc = wspsan_WSPEventSelect(cb.watched, e, cb.reselect, &cb.enum_err);
    }
    return 1;
}

static BOOL WSPAPI_reset_event(WSAEVENT e, LPINT lpErrno) {
    (void)e, (void)lpErrno;
    return 1;
}

/* A non-blocking connector whose connect was accepted and whose peer then closed: FD_CONNECT
 * and FD_CLOSE recorded, nothing selected (E5: remembered while not selected). */
static SOCKET connected_then_closed(SOCKET l, unsigned short port) {
    int err = 0;
    SOCKET c = h_socket();
    CHECK_EQ(h_connect_nb(c, port, NULL), WSAEWOULDBLOCK);
    SOCKET a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    h_close(a);
    return c;
}

int main(void) {
    WSPDATA data;
    WSPUPCALLTABLE upcalls;
    int err = 0;
    memset(&upcalls, 0, sizeof upcalls);
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &table) != 0) return 2;

    TEST("unsupported table entries outside a condition: WSAEOPNOTSUPP (SPEC X1)");
    CHECK_FAILS(table.lpWSPShutdown(4, 2, &err), WSAEOPNOTSUPP);
    CHECK_FAILS(table.lpWSPSend(4, NULL, 0, NULL, 0, NULL, NULL, NULL, &err), WSAEOPNOTSUPP);

    TEST("unsupported table entries inside a condition: WSAEINPROGRESS (SPEC A14)");
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 4);
    SOCKET c = h_pending(port, NULL);
    SOCKET a = wspsan_WSPAccept(l, NULL, NULL, call_unsupported, (DWORD_PTR)c, &err);
    CHECK(a != INVALID_SOCKET);
    for (int i = 0; i < 16; i++) {
        CHECK_EQ(inner_rcs[i], SOCKET_ERROR);
        CHECK_EQ(inner_errors[i], WSAEINPROGRESS);
    }
    h_close(a);
    h_close(c);
    h_close(l);
    CHECK_OK(wspsan_WSPCleanup(&err));

    /* A session whose switch has WPUSetEvent and WPUResetEvent: signals are upcalls. */
    upcalls.lpWPUSetEvent = WSPAPI_set_event;
    upcalls.lpWPUResetEvent = WSPAPI_reset_event;
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &table) != 0) return 2;
    WSAEVENT fake = (WSAEVENT)(uintptr_t)0xabcdef0; /* not an fd: only the upcalls touch it */
    port = h_port();
    l = h_listener(port, 4);

    TEST("E1 E4 WSPEnumNetworkEvents from the upcall that WSPEventSelect's signal makes");
    /* SPEC E1, E4: the new selection is in force when the events already recorded are signalled,
     * so the upcall's enumeration reports them (not the old, empty selection's nothing). */
    c = connected_then_closed(l, port);
    WSANETWORKEVENTS ne;
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, NULL, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0); /* E4: nothing selected, nothing reported; both stay recorded */
    cb.watched = c;
    cb.armed = 1;
    cb.reselect = 0;
    int sets = cb.sets;
    CHECK_OK(wspsan_WSPEventSelect(c, fake, FD_ACCEPT | FD_CONNECT | FD_CLOSE, &err));
    CHECK_EQ(cb.sets, sets + 1);
    CHECK_EQ(cb.enum_rc, 0);
    CHECK_EQ(cb.seen.lNetworkEvents, FD_CONNECT | FD_CLOSE);
    CHECK_EQ(cb.seen.iErrorCode[FD_CONNECT_BIT], 0);
    CHECK_EQ(cb.seen.iErrorCode[FD_CLOSE_BIT], 0);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, fake, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0); /* E4: reported once, by the upcall */
    h_close(c);

    TEST("E1 E4 a WSPEventSelect from that upcall is the selection in force afterwards");
    /* The upcall's own selection (0: none) came after the outer one was installed: it is the one
     * in force when the outer WSPEventSelect returns, so nothing recorded later is reported. */
    c = connected_then_closed(l, port);
    cb.watched = c;
    cb.armed = 1;
    cb.reselect = FD_ACCEPT;
    cb.select_rc = -2;
    CHECK_OK(wspsan_WSPEventSelect(c, fake, FD_CONNECT, &err));
    CHECK_EQ(cb.select_rc, 0);
    CHECK_EQ(cb.seen.lNetworkEvents, FD_CONNECT); /* FD_CLOSE stays recorded, not selected (E4) */
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, fake, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0); /* FD_ACCEPT selected: FD_CLOSE is still not reported */
    cb.reselect = 0;
    CHECK_OK(wspsan_WSPEventSelect(c, fake, FD_CLOSE, &err));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, fake, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_CLOSE); /* E4: reported once a selection includes it */
    h_close(c);
    h_close(l);
    CHECK_OK(wspsan_WSPCleanup(&err));
    return h_summary("test_fuzz_regressions");
}

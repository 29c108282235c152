/* Regression tests for what the fuzzers (tests/c/fuzz.c, fuzz/fuzz_targets/capi_calls.rs) found.
 *
 * 1. The proc-table entries the provider does not implement (WSPSend, WSPRecv, ...) answered
 *    WSAEOPNOTSUPP from inside a condition function, where every WSP function must fail with
 *    WSAEINPROGRESS (SPEC A14; README: "A14 wins"). */
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
    return h_summary("test_fuzz_regressions");
}

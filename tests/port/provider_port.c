/*
 * A layered provider and its switch, written the Windows way: it includes <winsock2.h> and
 * <ws2spi.h>, uses WSPAPI/CALLBACK/FAR decorations, MAKEWORD, SOCKADDR_IN, u_long, WSAEVENT and
 * a condition function taking LPWSABUF/LPQOS/GROUP FAR *, and knows nothing of wspsan. It
 * compiles unchanged against include/wspsan/ (as C11 and as C++17, -Werror -pedantic) and runs
 * a real listen, connect and conditional accept through the procedure table (make port-check).
 *
 * The layer's WSPStartup takes the switch's upcall table, hands the base provider (wspsan) an
 * upcall table of its own whose entries call the switch's (as a layered provider does), and
 * returns the base provider's procedure table with WSPAccept wrapped. The switch's events are
 * its own objects, set and reset through its WPUSetEvent / WPUResetEvent upcalls.
 *
 * SPEC X1, X5, A5, A8, A9, C2, C5, E1, E4, section 1 (SO_CONNDATA at Windows' SOL_SOCKET 0xffff).
 */
#include <winsock2.h>
#include <ws2spi.h>

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "provider_port.c:%d: check failed: %s: ", __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

/* ----------------------------------------------------------------------------------------- */
/* The switch: its socket handles and event objects, and the upcalls that manage them.       */

#define MAX_HANDLES 64

typedef struct SWITCH_EVENT {
    BOOL signalled;
    int sets;
} SWITCH_EVENT;

static struct {
    SOCKET provider_socket[MAX_HANDLES]; /* 0: free */
    int created;
    int closed;
} g_switch;

static SOCKET WSPAPI SwitchCreateSocketHandle(DWORD dwCatalogEntryId, DWORD_PTR dwContext, LPINT lpErrno) {
    UNREFERENCED_PARAMETER(dwCatalogEntryId);
    for (int i = 0; i < MAX_HANDLES; i++) {
        if (g_switch.provider_socket[i] == 0) {
            g_switch.provider_socket[i] = (SOCKET)dwContext;
            g_switch.created++;
            return (SOCKET)(0x1000 + i * 4); /* the switch's own handle values */
        }
    }
    *lpErrno = WSAEMFILE;
    return INVALID_SOCKET;
}

static int WSPAPI SwitchCloseSocketHandle(SOCKET s, LPINT lpErrno) {
    SOCKET index = (s - 0x1000) / 4;
    if (s < 0x1000 || index >= MAX_HANDLES || g_switch.provider_socket[index] == 0) {
        *lpErrno = WSAENOTSOCK;
        return SOCKET_ERROR;
    }
    g_switch.provider_socket[index] = 0;
    g_switch.closed++;
    return NO_ERROR;
}

static BOOL WSPAPI SwitchSetEvent(WSAEVENT hEvent, LPINT lpErrno) {
    SWITCH_EVENT FAR *ev = (SWITCH_EVENT FAR *)hEvent;
    if (ev == NULL) {
        *lpErrno = WSAEINVAL;
        return FALSE;
    }
    ev->signalled = TRUE;
    ev->sets++;
    return TRUE;
}

static BOOL WSPAPI SwitchResetEvent(WSAEVENT hEvent, LPINT lpErrno) {
    SWITCH_EVENT FAR *ev = (SWITCH_EVENT FAR *)hEvent;
    if (ev == NULL) {
        *lpErrno = WSAEINVAL;
        return FALSE;
    }
    ev->signalled = FALSE;
    return TRUE;
}

/* ----------------------------------------------------------------------------------------- */
/* The layered provider.                                                                     */

static WSPUPCALLTABLE g_SwitchUpcalls; /* what the switch gave the layer */
static WSPPROC_TABLE g_BaseProcs;      /* what the base provider gave the layer */
static int g_LayerAccepts;

static SOCKET WSPAPI LayerCreateSocketHandle(DWORD dwCatalogEntryId, DWORD_PTR dwContext, LPINT lpErrno) {
    return g_SwitchUpcalls.lpWPUCreateSocketHandle(dwCatalogEntryId, dwContext, lpErrno);
}

static int WSPAPI LayerCloseSocketHandle(SOCKET s, LPINT lpErrno) {
    return g_SwitchUpcalls.lpWPUCloseSocketHandle(s, lpErrno);
}

static BOOL WSPAPI LayerSetEvent(WSAEVENT hEvent, LPINT lpErrno) {
    return g_SwitchUpcalls.lpWPUSetEvent(hEvent, lpErrno);
}

static BOOL WSPAPI LayerResetEvent(WSAEVENT hEvent, LPINT lpErrno) {
    return g_SwitchUpcalls.lpWPUResetEvent(hEvent, lpErrno);
}

static SOCKET WSPAPI LayerWSPAccept(SOCKET s, struct sockaddr FAR *addr, LPINT addrlen,
                                    LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData, LPINT lpErrno) {
    SOCKET accepted = g_BaseProcs.lpWSPAccept(s, addr, addrlen, lpfnCondition, dwCallbackData, lpErrno);
    if (accepted != INVALID_SOCKET)
        g_LayerAccepts++;
    return accepted;
}

static int WSPAPI LayerWSPStartup(WORD wVersionRequested, LPWSPDATA lpWSPData, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                                  WSPUPCALLTABLE UpcallTable, LPWSPPROC_TABLE lpProcTable) {
    WSPUPCALLTABLE ours;
    int rc;

    g_SwitchUpcalls = UpcallTable;
    memset(&ours, 0, sizeof ours);
    ours.lpWPUCreateSocketHandle = LayerCreateSocketHandle;
    ours.lpWPUCloseSocketHandle = LayerCloseSocketHandle;
    ours.lpWPUSetEvent = LayerSetEvent;
    ours.lpWPUResetEvent = LayerResetEvent;

    rc = WSPStartup(wVersionRequested, lpWSPData, lpProtocolInfo, ours, &g_BaseProcs);
    if (rc != NO_ERROR)
        return rc;
    *lpProcTable = g_BaseProcs;
    lpProcTable->lpWSPAccept = LayerWSPAccept;
    return NO_ERROR;
}

/* ----------------------------------------------------------------------------------------- */
/* The application side: a condition function and the calls, through the layer's table.    */

typedef struct ACCEPT_POLICY {
    int calls;
    GROUP group_seen;
    BOOL caller_matches_peer;
    BOOL callee_is_listener;
    SOCKADDR_IN listener;
} ACCEPT_POLICY;

static int CALLBACK ConditionFunc(LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS, LPQOS lpGQOS,
                                  LPWSABUF lpCalleeId, LPWSABUF lpCalleeData, GROUP FAR *g,
                                  DWORD_PTR dwCallbackData) {
    ACCEPT_POLICY FAR *policy = (ACCEPT_POLICY FAR *)dwCallbackData;
    SOCKADDR_IN caller, callee;
    static const char welcome[] = "welcome";

    UNREFERENCED_PARAMETER(lpSQOS);
    UNREFERENCED_PARAMETER(lpGQOS);
    policy->calls++;
    policy->group_seen = *g;
    memset(&caller, 0, sizeof caller);
    memset(&callee, 0, sizeof callee);
    if (lpCallerId != NULL && lpCallerId->len >= sizeof caller)
        memcpy(&caller, lpCallerId->buf, sizeof caller);
    if (lpCalleeId != NULL && lpCalleeId->len >= sizeof callee)
        memcpy(&callee, lpCalleeId->buf, sizeof callee);
    policy->caller_matches_peer = caller.sin_family == AF_INET && caller.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    policy->callee_is_listener = callee.sin_port == policy->listener.sin_port &&
                                 callee.sin_addr.s_addr == policy->listener.sin_addr.s_addr;

    if (lpCallerData == NULL)
        return CF_REJECT;
    if (lpCallerData->len == 4 && memcmp(lpCallerData->buf, "slow", 4) == 0 && policy->calls == 1)
        return CF_DEFER;
    if (lpCallerData->len == 7 && memcmp(lpCallerData->buf, "mallory", 7) == 0)
        return CF_REJECT;
    if (lpCalleeData != NULL && lpCalleeData->len >= sizeof welcome - 1) {
        memcpy(lpCalleeData->buf, welcome, sizeof welcome - 1);
        lpCalleeData->len = (u_long)(sizeof welcome - 1);
    }
    return CF_ACCEPT;
}

/* A non-blocking connector with FD_CONNECT selected on a switch event. */
static SOCKET Connector(WSPPROC_TABLE FAR *procs, SWITCH_EVENT FAR *ev, const SOCKADDR_IN *to, const char *data,
                        int *connectErr) {
    int err = 0;
    SOCKET s = procs->lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED, &err);
    u_long nonblocking = 1;
    DWORD bytes = 0;
    WSABUF callerData;

    CHECK(s != INVALID_SOCKET, "WSPSocket: %d", err);
    CHECK(procs->lpWSPIoctl(s, FIONBIO, &nonblocking, sizeof nonblocking, NULL, 0, &bytes, NULL, NULL, NULL, &err) ==
              NO_ERROR,
          "WSPIoctl(FIONBIO) with a 32-bit u_long: %d", err);
    CHECK(procs->lpWSPEventSelect(s, (WSAEVENT)ev, FD_CONNECT, &err) == NO_ERROR, "WSPEventSelect: %d", err);
    callerData.len = (u_long)strlen(data);
    callerData.buf = (char FAR *)data;
    *connectErr = 0;
    if (procs->lpWSPConnect(s, (const SOCKADDR FAR *)to, sizeof *to, &callerData, NULL, NULL, NULL, connectErr) !=
        SOCKET_ERROR)
        *connectErr = NO_ERROR;
    return s;
}

static int GetIntOption(WSPPROC_TABLE FAR *procs, SOCKET s, int level, int name, int *value) {
    int err = 0;
    int len = (int)sizeof *value;
    *value = -1;
    if (procs->lpWSPGetSockOpt(s, level, name, (char FAR *)value, &len, &err) == SOCKET_ERROR)
        return err;
    return len == (int)sizeof *value ? NO_ERROR : WSAEFAULT;
}

int main(void) {
    WSPDATA wspData;
    WSAPROTOCOL_INFOW protocolInfo;
    WSPUPCALLTABLE upcalls;
    WSPPROC_TABLE procs;
    SWITCH_EVENT listenEvent, connEvent1, connEvent2, connEvent3;
    WSANETWORKEVENTS ne;
    ACCEPT_POLICY policy;
    SOCKADDR_IN addr, peer;
    int addrLen, err = 0, rc, value, connectErr;
    SOCKET listener, c1, c2, c3, accepted;
    char calleeData[32];
    int calleeLen;
    WSAEVENT none = WSA_INVALID_EVENT;

    memset(&listenEvent, 0, sizeof listenEvent);
    memset(&connEvent1, 0, sizeof connEvent1);
    memset(&connEvent2, 0, sizeof connEvent2);
    memset(&connEvent3, 0, sizeof connEvent3);
    memset(&policy, 0, sizeof policy);
    memset(&protocolInfo, 0, sizeof protocolInfo);
    protocolInfo.dwServiceFlags1 = XP1_GUARANTEED_DELIVERY | XP1_GUARANTEED_ORDER | XP1_GRACEFUL_CLOSE |
                                   XP1_CONNECT_DATA | XP1_IFS_HANDLES;
    protocolInfo.iAddressFamily = AF_INET;
    protocolInfo.iSocketType = SOCK_STREAM;
    protocolInfo.iProtocol = IPPROTO_TCP;
    protocolInfo.iMaxSockAddr = protocolInfo.iMinSockAddr = (int)sizeof(SOCKADDR_IN);
    protocolInfo.iNetworkByteOrder = BIGENDIAN;

    /* The switch starts the layer (SPEC X1, X5). */
    memset(&upcalls, 0, sizeof upcalls);
    upcalls.lpWPUCreateSocketHandle = SwitchCreateSocketHandle;
    upcalls.lpWPUCloseSocketHandle = SwitchCloseSocketHandle;
    upcalls.lpWPUSetEvent = SwitchSetEvent;
    upcalls.lpWPUResetEvent = SwitchResetEvent;
    CHECK(LayerWSPStartup(MAKEWORD(1, 1), &wspData, &protocolInfo, upcalls, &procs) == WSAVERNOTSUPPORTED,
          "a 1.1 request is refused by the base provider");
    rc = LayerWSPStartup(MAKEWORD(2, 2), &wspData, &protocolInfo, upcalls, &procs);
    if (rc != NO_ERROR) {
        fprintf(stderr, "WSPStartup: %d\n", rc);
        return 1;
    }
    CHECK(LOBYTE(wspData.wVersion) == 2 && HIBYTE(wspData.wVersion) == 2, "wVersion 0x%04x", wspData.wVersion);
    CHECK(wspData.wVersion == WSPSAN_SPI_VERSION, "wVersion 0x%04x", wspData.wVersion);
    CHECK(procs.lpWSPAccept == LayerWSPAccept && procs.lpWSPListen != NULL && procs.lpWSPSend != NULL,
          "the layer's table");

    /* A listener on 127.0.0.1, any port; FD_ACCEPT on a switch event. */
    listener = procs.lpWSPSocket(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &protocolInfo, 0,
                                 WSA_FLAG_OVERLAPPED, &err);
    CHECK(listener != INVALID_SOCKET, "WSPSocket(FROM_PROTOCOL_INFO): %d", err);
    CHECK(g_switch.created == 1, "the switch got a handle for the listener (created %d)", g_switch.created);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = inet_addr("127.0.0.1");
    addr.sin_port = htons(0);
    CHECK(procs.lpWSPBind(listener, (const SOCKADDR FAR *)&addr, sizeof addr, &err) == NO_ERROR, "WSPBind: %d", err);
    addrLen = (int)sizeof addr;
    CHECK(procs.lpWSPGetSockName(listener, (LPSOCKADDR)&addr, &addrLen, &err) == NO_ERROR && addrLen == 16,
          "WSPGetSockName: %d", err);
    CHECK(ntohs(addr.sin_port) >= 49152, "an ephemeral port, got %u", (unsigned)ntohs(addr.sin_port));
    policy.listener = addr;
    CHECK(procs.lpWSPListen(listener, SOMAXCONN, &err) == NO_ERROR, "WSPListen(SOMAXCONN): %d", err);
    CHECK(GetIntOption(&procs, listener, SOL_SOCKET, SO_ACCEPTCONN, &value) == NO_ERROR && value == TRUE,
          "SO_ACCEPTCONN at SOL_SOCKET 0x%x: %d", SOL_SOCKET, value);
    CHECK(procs.lpWSPEventSelect(listener, (WSAEVENT)&listenEvent, FD_ACCEPT, &err) == NO_ERROR,
          "WSPEventSelect(FD_ACCEPT): %d", err);
    CHECK(none == NULL, "WSA_INVALID_EVENT is NULL");

    /* 1. "alice" is accepted with callee data (SPEC A5, C1, C5). */
    c1 = Connector(&procs, &connEvent1, &addr, "alice", &connectErr);
    CHECK(connectErr == WSAEWOULDBLOCK, "non-blocking connect: %d", connectErr);
    CHECK(listenEvent.signalled, "FD_ACCEPT signalled through WPUSetEvent (sets %d)", listenEvent.sets);
    memset(&ne, 0xab, sizeof ne);
    CHECK(procs.lpWSPEnumNetworkEvents(listener, (WSAEVENT)&listenEvent, &ne, &err) == NO_ERROR,
          "WSPEnumNetworkEvents: %d", err);
    CHECK(ne.lNetworkEvents == FD_ACCEPT && ne.iErrorCode[FD_ACCEPT_BIT] == 0, "FD_ACCEPT reported, got 0x%x",
          (unsigned)ne.lNetworkEvents);
    CHECK(!listenEvent.signalled, "the event was reset through WPUResetEvent");

    addrLen = (int)sizeof peer;
    accepted = procs.lpWSPAccept(listener, (LPSOCKADDR)&peer, &addrLen, ConditionFunc, (DWORD_PTR)&policy, &err);
    CHECK(accepted != INVALID_SOCKET, "WSPAccept: %d", err);
    CHECK(g_LayerAccepts == 1, "the layer's WSPAccept ran");
    CHECK(policy.calls == 1 && policy.group_seen == 0 && policy.caller_matches_peer && policy.callee_is_listener,
          "condition arguments: calls %d, group %u", policy.calls, (unsigned)policy.group_seen);
    CHECK(addrLen == (int)sizeof(SOCKADDR_IN) && peer.sin_family == AF_INET, "peer address, len %d", addrLen);
    CHECK(connEvent1.signalled, "FD_CONNECT signalled through WPUSetEvent");
    memset(&ne, 0, sizeof ne);
    CHECK(procs.lpWSPEnumNetworkEvents(c1, (WSAEVENT)&connEvent1, &ne, &err) == NO_ERROR &&
              (ne.lNetworkEvents & FD_CONNECT) && ne.iErrorCode[FD_CONNECT_BIT] == NO_ERROR,
          "FD_CONNECT with 0: events 0x%x, code %d", (unsigned)ne.lNetworkEvents, ne.iErrorCode[FD_CONNECT_BIT]);

    /* Options at Windows' SOL_SOCKET (0xffff) and Windows' option numbers (SPEC section 1, C2, C5). */
    CHECK(SOL_SOCKET == 0xffff, "SOL_SOCKET is Windows' 0x%x", SOL_SOCKET);
    CHECK(GetIntOption(&procs, c1, SOL_SOCKET, SO_ERROR, &value) == NO_ERROR && value == 0, "SO_ERROR %d", value);
    CHECK(GetIntOption(&procs, c1, SOL_SOCKET, SO_TYPE, &value) == NO_ERROR && value == SOCK_STREAM, "SO_TYPE %d",
          value);
    CHECK(GetIntOption(&procs, c1, SOL_SOCKET, SO_CONNDATALEN, &value) == NO_ERROR && value == 7,
          "SO_CONNDATALEN %d", value);
    memset(calleeData, 0, sizeof calleeData);
    calleeLen = (int)sizeof calleeData;
    rc = procs.lpWSPGetSockOpt(c1, SOL_SOCKET, SO_CONNDATA, calleeData, &calleeLen, &err);
    CHECK(rc == NO_ERROR && calleeLen == 7 && memcmp(calleeData, "welcome", 7) == 0,
          "SO_CONNDATA at SOL_SOCKET 0xffff: rc %d, err %d, len %d", rc, err, calleeLen);
    addrLen = (int)sizeof peer;
    CHECK(procs.lpWSPGetPeerName(c1, (LPSOCKADDR)&peer, &addrLen, &err) == NO_ERROR &&
              peer.sin_port == addr.sin_port && peer.sin_addr.s_addr == addr.sin_addr.s_addr,
          "the connector's peer is the listener: %d", err);

    /* 2. "mallory" is rejected: the accept and the connector fail with WSAECONNREFUSED (SPEC A8). */
    c2 = Connector(&procs, &connEvent2, &addr, "mallory", &connectErr);
    CHECK(connectErr == WSAEWOULDBLOCK, "non-blocking connect: %d", connectErr);
    err = 0;
    CHECK(procs.lpWSPAccept(listener, NULL, NULL, ConditionFunc, (DWORD_PTR)&policy, &err) == INVALID_SOCKET &&
              err == WSAECONNREFUSED,
          "a rejected request: %d", err);
    CHECK(GetIntOption(&procs, c2, SOL_SOCKET, SO_ERROR, &value) == NO_ERROR && value == WSAECONNREFUSED,
          "SO_ERROR at 0xffff after the refusal: %d", value);
    memset(&ne, 0, sizeof ne);
    CHECK(procs.lpWSPEnumNetworkEvents(c2, (WSAEVENT)&connEvent2, &ne, &err) == NO_ERROR &&
              ne.iErrorCode[FD_CONNECT_BIT] == WSAECONNREFUSED,
          "FD_CONNECT with WSAECONNREFUSED: %d", ne.iErrorCode[FD_CONNECT_BIT]);

    /* 3. "slow" is deferred once, then accepted (SPEC A9). */
    policy.calls = 0;
    c3 = Connector(&procs, &connEvent3, &addr, "slow", &connectErr);
    CHECK(connectErr == WSAEWOULDBLOCK, "non-blocking connect: %d", connectErr);
    err = 0;
    CHECK(procs.lpWSPAccept(listener, NULL, NULL, ConditionFunc, (DWORD_PTR)&policy, &err) == INVALID_SOCKET &&
              err == WSATRY_AGAIN,
          "a deferred request: %d", err);
    CHECK(!connEvent3.signalled, "the deferred connector is still waiting");
    SOCKET second = procs.lpWSPAccept(listener, NULL, NULL, ConditionFunc, (DWORD_PTR)&policy, &err);
    CHECK(second != INVALID_SOCKET && policy.calls == 2, "the deferred request accepted next: %d", err);
    CHECK(connEvent3.signalled, "FD_CONNECT for the deferred connector");

    /* Close everything: the switch's handles go back through WPUCloseSocketHandle (SPEC X5). */
    CHECK(g_switch.created == 6, "six sockets, six switch handles (created %d)", g_switch.created);
    SOCKET all[] = {accepted, second, c1, c2, c3, listener};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(procs.lpWSPCloseSocket(all[i], &err) == NO_ERROR, "WSPCloseSocket: %d", err);
    CHECK(g_switch.closed == g_switch.created, "every switch handle closed: %d of %d", g_switch.closed,
          g_switch.created);
    CHECK(procs.lpWSPCloseSocket(listener, &err) == SOCKET_ERROR && err == WSAENOTSOCK, "a closed descriptor: %d",
          err);
    CHECK(procs.lpWSPCleanup(&err) == NO_ERROR, "WSPCleanup: %d", err);

    if (failures != 0) {
        fprintf(stderr, "provider_port: %d check(s) failed\n", failures);
        return 1;
    }
    printf("provider_port (%s): listen, connect, accept, reject, defer and SO_CONNDATA at SOL_SOCKET 0x%x: OK\n",
#ifdef __cplusplus
           "C++",
#else
           "C",
#endif
           SOL_SOCKET);
    return 0;
}

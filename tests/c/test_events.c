/* Event objects and network events through the C ABI: SPEC E1 to E6 (eventfds as WSAEVENT). */
#include "harness.h"

#include <sys/eventfd.h>

static void select_rules(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1, c2, a;
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    int err = 0;
    TEST("E1 select");
    CHECK(ev != NULL);
    CHECK(!h_is_set(ev));
    /* SPEC E1: a connect that arrived before the selection is not missed. */
    c1 = h_pending(port, NULL);
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    CHECK(h_is_set(ev));
    /* The selection made the listener non-blocking. */
    memset(&ne, 0, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_ACCEPT);
    CHECK_EQ(ne.iErrorCode[FD_ACCEPT_BIT], 0);
    CHECK(!h_is_set(ev));
    a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    h_close(a);
    CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEWOULDBLOCK);
    /* Bits outside the ten FD_* events: WSAEINVAL. */
    CHECK_FAILS(wspsan_WSPEventSelect(l, ev, 1 << 12, &err), WSAEINVAL);
    /* Selecting again does not clear recorded events; an already recorded one signals at once. */
    c2 = h_pending(port, NULL);
    CHECK(h_is_set(ev));
    {
        int err2 = 0;
        uint64_t drained;
        CHECK(read((int)(intptr_t)ev, &drained, sizeof drained) == 8);
        CHECK(!h_is_set(ev));
        CHECK_EQ(wspsan_WSPEventSelect(l, ev, FD_ACCEPT | FD_CLOSE, &err2), 0);
    }
    CHECK(h_is_set(ev));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_ACCEPT);
    h_close(c1);
    h_close(c2);
    h_close(l);
    CHECK_EQ(wspsan_WSACloseEvent(ev), 1);
    CHECK_EQ(wspsan_WSACloseEvent(NULL), 0);
}

static void level_triggered(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1, c2, a;
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    struct sockaddr_in peer;
    int len = sizeof peer, err = 0;
    TEST("E2 E3 level-triggered FD_ACCEPT");
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    c1 = h_pending(port, NULL);
    c2 = h_pending(port, NULL);
    CHECK(h_is_set(ev));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK(!h_is_set(ev));
    /* SPEC E2, E3: a successful accept resets the event, then sets it again while requests remain. */
    a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, &len, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK(h_is_set(ev));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_ACCEPT);
    h_close(a);
    /* A CF_DEFER answer does not re-enable FD_ACCEPT. */
    CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, h_answer, CF_DEFER, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSATRY_AGAIN);
    CHECK(!h_is_set(ev));
    memset(&ne, 0, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0);
    /* The last accept leaves no FD_ACCEPT behind; the event object is reset (E3). */
    a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    CHECK(!h_is_set(ev));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0);
    h_close(a);
    h_close(c1);
    h_close(c2);
    h_close(l);
    wspsan_WSACloseEvent(ev);
}

static void enumerate(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c;
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    int i;
    TEST("E4 enumerate");
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    c = h_pending(port, NULL);
    /* SPEC E4: reports and clears; iErrorCode written only for reported bits; nothing twice. */
    memset(&ne, 0x5a, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_ACCEPT);
    CHECK_EQ(ne.iErrorCode[FD_ACCEPT_BIT], 0);
    for (i = 0; i < FD_MAX_EVENTS; i++)
        if (i != FD_ACCEPT_BIT)
            CHECK_EQ(ne.iErrorCode[i], 0x5a5a5a5a);
    CHECK(!h_is_set(ev));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, NULL, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0);
    CHECK_FAILS(wspsan_WSPEnumNetworkEvents(l, ev, NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_WSPEnumNetworkEvents(0x999990, ev, &ne, &err), WSAENOTSOCK);
    h_close(c);
    h_close(l);
    wspsan_WSACloseEvent(ev);
}

static void connect_events(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c, a;
    int fd = eventfd(0, EFD_NONBLOCK); /* any eventfd the caller made works */
    WSAEVENT ev = (WSAEVENT)(intptr_t)fd;
    WSANETWORKEVENTS ne;
    int err = 0;
    TEST("E5 FD_CONNECT");
    c = h_pending(port, NULL);
    a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
    CHECK(a != INVALID_SOCKET);
    /* SPEC E4, E5: recorded while not selected; with no selection (mask 0) nothing is reported
     * and nothing is cleared; reported once selected, once. */
    memset(&ne, 0x5a, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, NULL, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0);
    CHECK_EQ(ne.iErrorCode[FD_CONNECT_BIT], 0x5a5a5a5a);
    CHECK(!h_is_set(ev));
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CONNECT, &err));
    CHECK(h_is_set(ev));
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_CONNECT);
    CHECK_EQ(ne.iErrorCode[FD_CONNECT_BIT], 0);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, 0);
    h_close(a);
    h_close(c);
    h_close(l);
    close(fd);
}

static void closed_handles(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c;
    WSAEVENT ev = wspsan_WSACreateEvent(), other = wspsan_WSACreateEvent();
    int fd = (int)(intptr_t)ev, p[2];
    uint64_t one = 1;
    WSANETWORKEVENTS ne;
    struct pollfd pr;
    TEST("section 8 closed event handles");
    CHECK_EQ(pipe(p), 0);
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    /* Section 8, SPEC X4: the provider signals its own duplicate of the eventfd, so a handle
     * closed while selected never lets a signal reach the file that reuses its number. */
    CHECK_EQ(wspsan_WSACloseEvent(ev), 1);
    CHECK_EQ(dup2(p[1], fd), fd); /* a pipe's write end now holds the event's number */
    c = h_pending(port, NULL);    /* FD_ACCEPT recorded: the selected event object is set */
    pr.fd = p[0];
    pr.events = POLLIN;
    pr.revents = 0;
    CHECK_EQ(poll(&pr, 1, 0), 0); /* nothing reached the pipe */
    /* Enumerating with the selected value resets the provider's duplicate, not the pipe. */
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, ev, &ne, &err));
    CHECK_EQ(ne.lNetworkEvents, FD_ACCEPT);
    /* Another eventfd given to WSPEnumNetworkEvents is reset. */
    CHECK(write((int)(intptr_t)other, &one, sizeof one) == 8);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(l, other, &ne, &err));
    CHECK(!h_is_set(other));
    /* A handle that holds no eventfd: WSAEINVAL, to select and to reset. */
    CHECK_FAILS(wspsan_WSPEventSelect(l, (WSAEVENT)(intptr_t)p[0], FD_ACCEPT, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPEventSelect(l, (WSAEVENT)(intptr_t)0x7ffff000, FD_ACCEPT, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPEnumNetworkEvents(c, (WSAEVENT)(intptr_t)p[0], &ne, &err), WSAEINVAL);
    CHECK_OK(wspsan_WSPEventSelect(l, NULL, 0, &err));
    h_close(c);
    h_close(l);
    close(fd);
    close(p[0]);
    close(p[1]);
    wspsan_WSACloseEvent(other);
}

static void fionbio(void) {
    SOCKET s = h_socket();
    WSAEVENT ev = wspsan_WSACreateEvent();
    uint32_t off = 0, on = 1;
    uint64_t wide = 1;
    DWORD n = 77;
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5);
    TEST("E6 FIONBIO");
    /* SPEC E6: FIONBIO in the Windows and the platform numbering. */
    CHECK_OK(wspsan_WSPIoctl(l, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err));
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEWOULDBLOCK);
    }
    CHECK_OK(wspsan_WSPIoctl(l, FIONBIO, &off, sizeof off, NULL, 0, &n, NULL, NULL, NULL, &err));
    /* A wider buffer is fine: the first 32 bits are the u_long. */
    CHECK_OK(wspsan_WSPIoctl(l, FIONBIO, &wide, sizeof wide, NULL, 0, &n, NULL, NULL, NULL, &err));
    CHECK_EQ(n, 0);
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEWOULDBLOCK);
    }
    CHECK_FAILS(wspsan_WSPIoctl(l, WSPSAN_FIONBIO, NULL, 4, NULL, 0, &n, NULL, NULL, NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_WSPIoctl(l, WSPSAN_FIONBIO, &on, 2, NULL, 0, &n, NULL, NULL, NULL, &err), WSAEFAULT);
    /* Clearing it while an event selection is active: WSAEINVAL. */
    CHECK_OK(wspsan_WSPEventSelect(s, ev, FD_CONNECT, &err));
    CHECK_FAILS(wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &off, sizeof off, NULL, 0, &n, NULL, NULL, NULL, &err),
                WSAEINVAL);
    CHECK_OK(wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err));
    /* A mask of 0 cancels the selection; then blocking mode can come back. */
    CHECK_OK(wspsan_WSPEventSelect(s, NULL, 0, &err));
    CHECK_OK(wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &off, sizeof off, NULL, 0, &n, NULL, NULL, NULL, &err));
    /* Unknown ioctl codes: WSAEINVAL; overlapped calls: WSAEOPNOTSUPP. */
    CHECK_FAILS(wspsan_WSPIoctl(s, 0x12345678u, NULL, 0, NULL, 0, &n, NULL, NULL, NULL, &err), WSAEINVAL);
    {
        WSAOVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        CHECK_FAILS(wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, &ov, NULL, NULL, &err),
                    WSAEOPNOTSUPP);
    }
    CHECK_FAILS(wspsan_WSPIoctl(0x999990, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err),
                WSAENOTSOCK);
    h_close(s);
    h_close(l);
    wspsan_WSACloseEvent(ev);
}

static void options(void) {
    SOCKET s = h_socket();
    int v = 0, len = sizeof v;
    TEST("options");
    /* SO_TYPE in both numberings; SO_SNDBUF round trip; unknown options: WSAENOPROTOOPT. */
    CHECK_OK(wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, (char *)&v, &len, &err));
    CHECK_EQ(v, SOCK_STREAM);
    CHECK_OK(wspsan_WSPGetSockOpt(s, SOL_SOCKET, SO_TYPE, (char *)&v, &len, &err));
    CHECK_EQ(v, SOCK_STREAM);
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, 0x4242, (char *)&v, &len, &err), WSAENOPROTOOPT);
    CHECK_FAILS(wspsan_WSPGetSockOpt(0x999990, WSPSAN_SOL_SOCKET, 0x4242, (char *)&v, &len, &err), WSAENOTSOCK);
    len = 2;
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, (char *)&v, &len, &err), WSAEFAULT);
    CHECK_EQ(len, 2);
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, (char *)&v, NULL, &err), WSAEFAULT);
    v = 4096;
    CHECK_OK(wspsan_WSPSetSockOpt(s, SOL_SOCKET, SO_RCVBUF, (char *)&v, sizeof v, &err));
    v = 0;
    len = sizeof v;
    CHECK_OK(wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_RCVBUF, (char *)&v, &len, &err));
    CHECK_EQ(v, 4096);
    CHECK_FAILS(wspsan_WSPSetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_RCVBUF, NULL, 4, &err), WSAEFAULT);
    /* An unknown option needs no buffer: the call, the socket, then the option, as the engine
     * checks them for every face. */
    len = sizeof v;
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, 0x4242, NULL, &len, &err), WSAENOPROTOOPT);
    CHECK_FAILS(wspsan_WSPSetSockOpt(s, WSPSAN_SOL_SOCKET, 0x4242, NULL, 0, &err), WSAENOPROTOOPT);
    CHECK_FAILS(wspsan_WSPSetSockOpt(0x999990, WSPSAN_SOL_SOCKET, 0x4242, (char *)&v, sizeof v, &err),
                WSAENOTSOCK);
    /* SPEC X4 (as Windows): the descriptor, then the level (neither SOL_SOCKET, in either
     * numbering, nor IPPROTO_TCP: WSAEINVAL) and the option (unknown at a known level:
     * WSAENOPROTOOPT), then optval and *optlen (WSAEFAULT). */
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, 0x4242, WSPSAN_SO_TYPE, (char *)&v, &len, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, 0x4242, WSPSAN_SO_TYPE, NULL, &len, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, IPPROTO_IP, SO_TYPE, (char *)&v, &len, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, IPPROTO_TCP, 0x4242, (char *)&v, &len, &err), WSAENOPROTOOPT);
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, SOL_SOCKET, 0x4242, NULL, &len, &err), WSAENOPROTOOPT);
    CHECK_FAILS(wspsan_WSPGetSockOpt(INVALID_SOCKET, 0x4242, 0x4242, NULL, NULL, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPGetSockOpt(INVALID_SOCKET, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, NULL, NULL, &err),
                WSAENOTSOCK);
    CHECK_EQ(len, sizeof v);
    v = 4096;
    CHECK_FAILS(wspsan_WSPSetSockOpt(s, 0x4242, WSPSAN_SO_RCVBUF, (char *)&v, sizeof v, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPSetSockOpt(s, IPPROTO_TCP, 0x4242, (char *)&v, sizeof v, &err), WSAENOPROTOOPT);
    CHECK_FAILS(wspsan_WSPSetSockOpt(INVALID_SOCKET, WSPSAN_SOL_SOCKET, WSPSAN_SO_RCVBUF, NULL, 0, &err),
                WSAENOTSOCK);
    CHECK_OK(wspsan_device_set_network_down(1, &err));
    CHECK_FAILS(wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, 0x4242, (char *)&v, &len, &err), WSAENETDOWN);
    CHECK_FAILS(wspsan_WSPSetSockOpt(s, WSPSAN_SOL_SOCKET, 0x4242, (char *)&v, sizeof v, &err), WSAENETDOWN);
    CHECK_FAILS(wspsan_WSPIoctl(s, 0x12345678u, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, &err), WSAENETDOWN);
    CHECK_OK(wspsan_device_set_network_down(0, &err));
    CHECK_FAILS(wspsan_WSPIoctl(0x999990, 0x12345678u, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAENOTSOCK);
    h_close(s);
}

/* Enumerates `s` (resetting `ev`) and returns the reported events; `code` gets iErrorCode[bit]. */
static LONG enum_events(SOCKET s, WSAEVENT ev, int bit, int *code) {
    WSANETWORKEVENTS ne;
    int err = -12345;
    memset(&ne, 0x5a, sizeof ne);
    if (wspsan_WSPEnumNetworkEvents(s, ev, &ne, &err) != 0) {
        fprintf(stderr, "[%s] WSPEnumNetworkEvents failed: %d\n", h_test, err);
        return -1;
    }
    CHECK_EQ(err, -12345);
    if (code)
        *code = ne.iErrorCode[bit];
    return ne.lNetworkEvents;
}

static void unselected_events(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c, c2, a;
    WSAEVENT ev = wspsan_WSACreateEvent(), ev2 = wspsan_WSACreateEvent();
    int code = 0;
    TEST("E4 E5 events outside the selection");
    /* SPEC E4, E5: FD_CONNECT left out of the selection (FD_CLOSE only) is recorded but neither
     * signalled nor reported, and stays recorded. */
    c = h_socket();
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CLOSE, &err));
    CHECK_EQ(h_connect_nb(c, port, NULL), WSAEWOULDBLOCK);
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, h_answer, CF_REJECT, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAECONNREFUSED);
    }
    CHECK(!h_is_set(ev));
    code = 0x5a5a5a5a;
    CHECK_EQ(enum_events(c, ev, FD_CONNECT_BIT, &code), 0);
    CHECK_EQ(code, 0x5a5a5a5a); /* not reported: iErrorCode not written */
    CHECK_EQ(enum_events(c, NULL, FD_CONNECT_BIT, NULL), 0);
    /* SPEC E4, E1: a selection that includes it signals at once; it is reported with its error. */
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CLOSE | FD_CONNECT, &err));
    CHECK(h_is_set(ev));
    CHECK_EQ(enum_events(c, ev, FD_CONNECT_BIT, &code), FD_CONNECT);
    CHECK_EQ(code, WSAECONNREFUSED);
    CHECK(!h_is_set(ev));
    /* Reported once: selecting again (the same mask, or 0 and then the mask) finds nothing. */
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CLOSE | FD_CONNECT, &err));
    CHECK(!h_is_set(ev));
    CHECK_OK(wspsan_WSPEventSelect(c, NULL, 0, &err));
    CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CLOSE | FD_CONNECT, &err));
    CHECK(!h_is_set(ev));
    CHECK_EQ(enum_events(c, ev, FD_CONNECT_BIT, NULL), 0);
    h_close(c);

    /* SPEC E4: FD_CLOSE left out of the selection (FD_CONNECT only) stays recorded; with no
     * selection at all (mask 0) nothing is reported and nothing is cleared. */
    c2 = h_pending(port, NULL);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_OK(wspsan_WSPEventSelect(a, ev2, FD_CONNECT, &err));
    h_close(c2); /* K3: FD_CLOSE recorded on the accepted end */
    CHECK(!h_is_set(ev2));
    CHECK_EQ(enum_events(a, ev2, FD_CLOSE_BIT, NULL), 0);
    CHECK_OK(wspsan_WSPEventSelect(a, NULL, 0, &err));
    CHECK_EQ(enum_events(a, NULL, FD_CLOSE_BIT, NULL), 0);
    CHECK(!h_is_set(ev2));
    CHECK_OK(wspsan_WSPEventSelect(a, ev2, FD_CLOSE, &err));
    CHECK(h_is_set(ev2));
    code = -1;
    CHECK_EQ(enum_events(a, ev2, FD_CLOSE_BIT, &code), FD_CLOSE);
    CHECK_EQ(code, 0);
    CHECK(!h_is_set(ev2));
    CHECK_EQ(enum_events(a, ev2, FD_CLOSE_BIT, NULL), 0);
    h_close(a);
    h_close(l);
    wspsan_WSACloseEvent(ev);
    wspsan_WSACloseEvent(ev2);
}

static void accept_not_recorded_by_selecting_again(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), c1, c2, a;
    WSAEVENT ev = wspsan_WSACreateEvent();
    TEST("E2 FD_ACCEPT after it was reported");
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    c1 = h_pending(port, NULL);
    CHECK(h_is_set(ev));
    CHECK_EQ(enum_events(l, ev, FD_ACCEPT_BIT, NULL), FD_ACCEPT);
    CHECK(!h_is_set(ev));
    /* SPEC E2 (Wine's test_accept_events, as Windows): once reported, selecting again with no
     * accept in between records nothing and signals nothing: the same mask, ... */
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    CHECK(!h_is_set(ev));
    CHECK_EQ(enum_events(l, ev, FD_ACCEPT_BIT, NULL), 0);
    /* ... or 0 and then FD_ACCEPT. */
    CHECK_OK(wspsan_WSPEventSelect(l, NULL, 0, &err));
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    CHECK(!h_is_set(ev));
    CHECK_EQ(enum_events(l, ev, FD_ACCEPT_BIT, NULL), 0);
    /* A new request records it again (Windows in event mode). */
    c2 = h_pending(port, NULL);
    CHECK(h_is_set(ev));
    CHECK_EQ(enum_events(l, ev, FD_ACCEPT_BIT, NULL), FD_ACCEPT);
    CHECK(!h_is_set(ev));
    /* An accept re-enables it: one request is still queued, so it is recorded and signalled again. */
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
        h_close(a);
    }
    CHECK(h_is_set(ev));
    CHECK_EQ(enum_events(l, ev, FD_ACCEPT_BIT, NULL), FD_ACCEPT);
    /* The accept that empties the queue clears it: nothing to signal, and a new selection finds
     * nothing. */
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
        h_close(a);
    }
    CHECK(!h_is_set(ev));
    CHECK_OK(wspsan_WSPEventSelect(l, ev, FD_ACCEPT, &err));
    CHECK(!h_is_set(ev));
    CHECK_EQ(enum_events(l, ev, FD_ACCEPT_BIT, NULL), 0);
    h_close(c1);
    h_close(c2);
    h_close(l);
    wspsan_WSACloseEvent(ev);
}

/* Whether `s` is blocking, seen through a connect to the listener on `port` with a short device
 * connect timeout: a blocking socket waits and times out, a non-blocking one queues the request. */
static int blocking_mode(SOCKET s, SOCKET l, unsigned short port) {
    struct sockaddr_in to = h_addr("127.0.0.1", port);
    int err = 0, rc, blocking;
    CHECK_OK(wspsan_device_set_connect_timeout(50, &err));
    rc = wspsan_WSPConnect(s, (struct sockaddr *)&to, sizeof to, NULL, NULL, NULL, NULL, &err);
    CHECK_EQ(rc, SOCKET_ERROR);
    blocking = err == WSAETIMEDOUT;
    CHECK(err == WSAETIMEDOUT || err == WSAEWOULDBLOCK);
    if (!blocking)
        h_sleep_ms(200); /* let the queued request time out too */
    CHECK_OK(wspsan_device_set_connect_timeout(0, &err));
    /* The timed-out request leaves the queue at the next accept (A12). */
    CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEACCES);
    return blocking;
}

static void fionbio_needs_bytes_returned(void) {
    unsigned short port = h_port();
    SOCKET l = h_listener(port, 5), s = h_socket(), t = h_socket();
    uint32_t off = 0, on = 1;
    DWORD n = 77;
    TEST("X4 E6 FIONBIO without lpcbBytesReturned");
    h_nonblocking(l, 1);
    /* SPEC X4: every control code needs lpcbBytesReturned, FIONBIO too (as Windows): NULL is
     * WSAEFAULT, in either numbering, and the mode stays as it was. */
    h_nonblocking(s, 1);
    CHECK_FAILS(wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &off, sizeof off, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAEFAULT);
    CHECK_FAILS(wspsan_WSPIoctl(s, FIONBIO, &off, sizeof off, NULL, 0, NULL, NULL, NULL, NULL, &err), WSAEFAULT);
    CHECK_EQ(blocking_mode(s, l, port), 0);
    /* t is blocking (a new socket): turning FIONBIO on without lpcbBytesReturned leaves it so. */
    CHECK_FAILS(wspsan_WSPIoctl(t, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAEFAULT);
    CHECK_EQ(blocking_mode(t, l, port), 1);
    /* With it, FIONBIO works and reports 0 bytes. */
    CHECK_OK(wspsan_WSPIoctl(t, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err));
    CHECK_EQ(n, 0);
    h_close(s);
    h_close(t);
    h_close(l);
}

int main(void) {
    h_startup();
    select_rules();
    level_triggered();
    enumerate();
    connect_events();
    closed_handles();
    fionbio();
    options();
    unselected_events();
    accept_not_recorded_by_selecting_again();
    fionbio_needs_bytes_returned();
    return h_summary("test_events");
}

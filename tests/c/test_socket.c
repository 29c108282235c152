/* WSPSocket, WSPBind and WSPCloseSocket through the C ABI: SPEC S1, B1, B2, K1, K2, K3; the order in
 * which every call checks its descriptor, the socket's state and its pointers: X4. */
#include "harness.h"

static void socket_arguments(void) {
    int err = 0;
    WSAPROTOCOL_INFOW info;
    SOCKET s;
    TEST("S1 arguments");
    /* SPEC S1 */
    CHECK_EQ(wspsan_WSPSocket(AF_INET6, SOCK_STREAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEAFNOSUPPORT);
    CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_DGRAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAESOCKTNOSUPPORT);
    CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_UDP, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEPROTONOSUPPORT);
    err = 0;
    s = wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    CHECK(s != INVALID_SOCKET && s != 0);
    CHECK_EQ(err, 0);
    h_close(s);
    /* FROM_PROTOCOL_INFO takes the values from the protocol info. */
    memset(&info, 0, sizeof info);
    info.iAddressFamily = AF_INET;
    info.iSocketType = SOCK_STREAM;
    info.iProtocol = IPPROTO_TCP;
    s = wspsan_WSPSocket(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0, 0, &err);
    CHECK(s != INVALID_SOCKET);
    h_close(s);
    /* SPEC X4: FROM_PROTOCOL_INFO with a NULL lpProtocolInfo is a NULL pointer the call needs. */
    CHECK_EQ(wspsan_WSPSocket(FROM_PROTOCOL_INFO, SOCK_STREAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEFAULT);
    err = 0;
    CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, FROM_PROTOCOL_INFO, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEFAULT);
}

static void descriptor_limit(void) {
    int err = 0;
    WSPSAN_DEVICE_STATS st;
    SOCKET s;
    TEST("S1 descriptor limit");
    CHECK_OK(wspsan_device_stats(&st, &err));
    /* SPEC S1: at the limit, WSAEMFILE. */
    CHECK_OK(wspsan_device_set_descriptor_limit((int64_t)st.open_sockets, &err));
    CHECK_EQ(wspsan_WSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err), INVALID_SOCKET);
    CHECK_EQ(err, WSAEMFILE);
    CHECK_OK(wspsan_device_set_descriptor_limit(-1, &err));
    s = h_socket();
    h_close(s);
}

static void bind_rules(void) {
    unsigned short port = h_port();
    struct sockaddr_in a = h_addr("127.0.0.1", port), any = h_addr("0.0.0.0", port);
    struct sockaddr_in other = h_addr("10.9.9.9", port), got;
    SOCKET s = h_socket(), t = h_socket(), u = h_socket();
    int len = sizeof got;
    TEST("B1 bind");
    /* SPEC B1: NULL name or namelen < 16: WSAEFAULT. */
    CHECK_FAILS(wspsan_WSPBind(s, NULL, sizeof a, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_WSPBind(s, (struct sockaddr *)&a, 15, &err), WSAEFAULT);
    /* Family not AF_INET: WSAEAFNOSUPPORT. */
    a.sin_family = AF_INET6;
    CHECK_FAILS(wspsan_WSPBind(s, (struct sockaddr *)&a, sizeof a, &err), WSAEAFNOSUPPORT);
    a.sin_family = AF_INET;
    /* Not a NIC of the device: WSAEADDRNOTAVAIL. */
    CHECK_FAILS(wspsan_WSPBind(s, (struct sockaddr *)&other, sizeof other, &err), WSAEADDRNOTAVAIL);
    CHECK_OK(wspsan_WSPBind(s, (struct sockaddr *)&a, sizeof a, &err));
    /* Already bound: WSAEINVAL. */
    CHECK_FAILS(wspsan_WSPBind(s, (struct sockaddr *)&a, sizeof a, &err), WSAEINVAL);
    /* Same address and port: WSAEADDRINUSE; the wildcard conflicts with every NIC. */
    CHECK_FAILS(wspsan_WSPBind(t, (struct sockaddr *)&a, sizeof a, &err), WSAEADDRINUSE);
    CHECK_FAILS(wspsan_WSPBind(t, (struct sockaddr *)&any, sizeof any, &err), WSAEADDRINUSE);
    /* Port 0 takes a port in 49152..65535. */
    a.sin_port = 0;
    CHECK_OK(wspsan_WSPBind(u, (struct sockaddr *)&a, sizeof a, &err));
    CHECK_OK(wspsan_WSPGetSockName(u, (struct sockaddr *)&got, &len, &err));
    CHECK(ntohs(got.sin_port) >= 49152);
    CHECK_EQ(len, 16);
    /* Decided (README): port 0 goes on in order, skipping a port in use. */
    if (ntohs(got.sin_port) < 65530) {
        unsigned short next = (unsigned short)(ntohs(got.sin_port) + 1);
        SOCKET v = h_socket(), w = h_socket(), x = h_socket();
        struct sockaddr_in in_use = h_addr("127.0.0.1", (unsigned short)(next + 1)), zero = h_addr("127.0.0.1", 0);
        CHECK_OK(wspsan_WSPBind(w, (struct sockaddr *)&in_use, sizeof in_use, &err));
        CHECK_OK(wspsan_WSPBind(v, (struct sockaddr *)&zero, sizeof zero, &err));
        len = sizeof got;
        CHECK_OK(wspsan_WSPGetSockName(v, (struct sockaddr *)&got, &len, &err));
        CHECK_EQ(ntohs(got.sin_port), next);
        CHECK_OK(wspsan_WSPBind(x, (struct sockaddr *)&zero, sizeof zero, &err));
        len = sizeof got;
        CHECK_OK(wspsan_WSPGetSockName(x, (struct sockaddr *)&got, &len, &err));
        CHECK_EQ(ntohs(got.sin_port), next + 2);
        h_close(v);
        h_close(w);
        h_close(x);
    }
    h_close(s);
    h_close(t);
    h_close(u);
    /* Closing frees the port at once (K2). */
    s = h_bound("127.0.0.1", port);
    h_close(s);
}

static void wildcard(void) {
    unsigned short port = h_port();
    struct sockaddr_in nic2 = h_addr("10.0.0.2", port), local, any = h_addr("0.0.0.0", port);
    int len = sizeof local;
    uint32_t ip;
    SOCKET l, c, a;
    TEST("B2 wildcard");
    inet_pton(AF_INET, "10.0.0.2", &ip);
    CHECK_OK(wspsan_device_add_nic(ip, &err));
    /* SPEC B2: a wildcard listener gets requests for any NIC; the accepted socket's local address
     * is the NIC the request was addressed to. */
    l = h_bound("0.0.0.0", port);
    CHECK_OK(wspsan_WSPListen(l, 5, &err));
    c = h_socket();
    h_nonblocking(c, 1);
    CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&nic2, sizeof nic2, NULL, NULL, NULL, NULL, &err),
                WSAEWOULDBLOCK);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_OK(wspsan_WSPGetSockName(a, (struct sockaddr *)&local, &len, &err));
    CHECK_EQ(local.sin_addr.s_addr, ip);
    CHECK_EQ(ntohs(local.sin_port), port);
    h_close(a);
    h_close(c);
    /* Decided (A5, A15, as Windows): a connector bound to the wildcard is named 0.0.0.0 until its
     * connect completes, then by the NIC it connected to; the listener sees that NIC too. */
    {
        unsigned short cport = h_port();
        struct sockaddr_in peer;
        int plen = sizeof peer;
        c = h_bound("0.0.0.0", cport);
        h_nonblocking(c, 1);
        CHECK_FAILS(wspsan_WSPConnect(c, (struct sockaddr *)&nic2, sizeof nic2, NULL, NULL, NULL, NULL, &err),
                    WSAEWOULDBLOCK);
        len = sizeof local;
        CHECK_OK(wspsan_WSPGetSockName(c, (struct sockaddr *)&local, &len, &err));
        CHECK_EQ(local.sin_addr.s_addr, htonl(INADDR_ANY));
        {
            int err = 0;
            a = wspsan_WSPAccept(l, (struct sockaddr *)&peer, &plen, NULL, 0, &err);
            CHECK(a != INVALID_SOCKET);
        }
        CHECK_EQ(peer.sin_addr.s_addr, ip);
        CHECK_EQ(ntohs(peer.sin_port), cport);
        len = sizeof local;
        CHECK_OK(wspsan_WSPGetSockName(c, (struct sockaddr *)&local, &len, &err));
        CHECK_EQ(local.sin_addr.s_addr, ip);
        CHECK_EQ(ntohs(local.sin_port), cport);
        h_close(a);
        h_close(c);
    }
    h_close(l);
    /* The device option turns wildcard binds off. */
    CHECK_OK(wspsan_device_set_wildcard_bind(0, &err));
    l = h_socket();
    CHECK_FAILS(wspsan_WSPBind(l, (struct sockaddr *)&any, sizeof any, &err), WSAEADDRNOTAVAIL);
    CHECK_OK(wspsan_device_set_wildcard_bind(1, &err));
    CHECK_OK(wspsan_WSPBind(l, (struct sockaddr *)&any, sizeof any, &err));
    h_close(l);
    CHECK_OK(wspsan_device_remove_nic(ip, &err));
}

static void close_rules(void) {
    unsigned short port = h_port();
    SOCKET l, c1, c2, a, s;
    WSANETWORKEVENTS ne;
    struct sockaddr_in peer;
    int len = sizeof peer;
    TEST("K1 close");
    /* SPEC K1: unknown descriptor; closed descriptor is dead for good. */
    CHECK_FAILS(wspsan_WSPCloseSocket(0x7777777, &err), WSAENOTSOCK);
    s = h_socket();
    CHECK_OK(wspsan_WSPCloseSocket(s, &err));
    CHECK_FAILS(wspsan_WSPCloseSocket(s, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPListen(s, 1, &err), WSAENOTSOCK);

    TEST("K2 closing a listener");
    /* SPEC K2: queued requests are refused; the port is free at once. */
    l = h_listener(port, 5);
    c1 = h_pending(port, NULL);
    c2 = h_pending(port, NULL);
    h_close(l);
    CHECK_EQ(h_so_error(c1), WSAECONNREFUSED);
    CHECK_EQ(h_so_error(c2), WSAECONNREFUSED);
    l = h_listener(port, 5);
    h_close(c1);
    h_close(c2);

    TEST("K3 closing a connector");
    /* SPEC K3: closing the connector withdraws its request (accept: WSAEACCES). */
    c1 = h_pending(port, NULL);
    h_close(c1);
    {
        int err = 0;
        CHECK_EQ(wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err), INVALID_SOCKET);
        CHECK_EQ(err, WSAEACCES);
    }
    /* Closing one end of a connection records FD_CLOSE on the other; its peer name is gone. */
    c1 = h_pending(port, NULL);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    CHECK_OK(wspsan_WSPGetPeerName(c1, (struct sockaddr *)&peer, &len, &err));
    h_close(a);
    CHECK_OK(wspsan_WSPEventSelect(c1, NULL, FD_CLOSE, &err));
    memset(&ne, 0, sizeof ne);
    CHECK_OK(wspsan_WSPEnumNetworkEvents(c1, NULL, &ne, &err));
    CHECK(ne.lNetworkEvents & FD_CLOSE);
    CHECK_EQ(ne.iErrorCode[FD_CLOSE_BIT], 0);
    CHECK_FAILS(wspsan_WSPGetPeerName(c1, (struct sockaddr *)&peer, &len, &err), WSAENOTCONN);
    h_close(c1);
    h_close(l);
}

static void validation_order(void) {
    unsigned short port = h_port();
    SOCKET u = h_socket(), b = h_bound("127.0.0.1", h_port()), l = h_listener(port, 5), c, a, closed;
    struct sockaddr_in name = h_addr("127.0.0.1", h_port());
    int len = sizeof name, v = 0;
    uint32_t on = 1;
    WSAEVENT ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    int p[2];
    TEST("X4 validation order");
    CHECK_EQ(pipe(p), 0);
    c = h_pending(port, NULL);
    {
        int err = 0;
        a = wspsan_WSPAccept(l, NULL, NULL, NULL, 0, &err);
        CHECK(a != INVALID_SOCKET);
    }
    closed = h_socket();
    h_close(closed);
    /* SPEC X4 (Wine's test_getpeername, as Windows): the descriptor first, then whether the
     * socket's state allows the call at all, then the pointers. */
    CHECK_FAILS(wspsan_WSPGetPeerName(INVALID_SOCKET, NULL, NULL, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPGetPeerName(closed, NULL, NULL, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPGetPeerName(b, NULL, NULL, &err), WSAENOTCONN);
    CHECK_FAILS(wspsan_WSPGetPeerName(u, NULL, NULL, &err), WSAENOTCONN);
    CHECK_FAILS(wspsan_WSPGetPeerName(l, NULL, &len, &err), WSAENOTCONN);
    CHECK_FAILS(wspsan_WSPGetPeerName(c, NULL, NULL, &err), WSAEFAULT); /* connected: the pointers */
    CHECK_FAILS(wspsan_WSPGetPeerName(a, (struct sockaddr *)&name, NULL, &err), WSAEFAULT);
    /* SPEC X4: the switch-handle extension too checks the descriptor before its pointer. */
    CHECK_FAILS(wspsan_switch_handle(INVALID_SOCKET, NULL, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_switch_handle(closed, NULL, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_switch_handle(u, NULL, &err), WSAEFAULT);
    /* SPEC X4, A15: WSPGetSockName on an unbound socket: WSAEINVAL before the pointers. */
    CHECK_FAILS(wspsan_WSPGetSockName(INVALID_SOCKET, NULL, NULL, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPGetSockName(u, NULL, NULL, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPGetSockName(b, NULL, NULL, &err), WSAEFAULT);
    len = 8;
    CHECK_FAILS(wspsan_WSPGetSockName(u, (struct sockaddr *)&name, &len, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPGetSockName(b, (struct sockaddr *)&name, &len, &err), WSAEFAULT);
    CHECK_EQ(len, 8);
    /* SPEC X4, B1: WSPBind on a bound socket: WSAEINVAL before the name is looked at. */
    CHECK_FAILS(wspsan_WSPBind(INVALID_SOCKET, NULL, 0, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPBind(b, NULL, sizeof name, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPBind(l, (struct sockaddr *)&name, 15, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPBind(a, NULL, 0, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPBind(u, NULL, sizeof name, &err), WSAEFAULT);
    /* SPEC X4: WSPGetSockOpt and WSPSetSockOpt: the descriptor before the buffers. */
    CHECK_FAILS(wspsan_WSPGetSockOpt(INVALID_SOCKET, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, NULL, NULL, &err),
                WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPGetSockOpt(closed, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, (char *)&v, NULL, &err),
                WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPGetSockOpt(u, WSPSAN_SOL_SOCKET, WSPSAN_SO_TYPE, NULL, NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_WSPSetSockOpt(closed, WSPSAN_SOL_SOCKET, WSPSAN_SO_SNDBUF, NULL, 0, &err), WSAENOTSOCK);
    /* SPEC X4: WSPIoctl: the descriptor, then overlapped (WSAEOPNOTSUPP), then the code (WSAEINVAL),
     * then lpcbBytesReturned (WSAEFAULT, for every code). */
    CHECK_FAILS(wspsan_WSPIoctl(closed, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPIoctl(closed, SIO_ADDRESS_LIST_QUERY, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPIoctl(INVALID_SOCKET, 0x12345678u, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAENOTSOCK);
    {
        WSAOVERLAPPED ov;
        memset(&ov, 0, sizeof ov);
        CHECK_FAILS(wspsan_WSPIoctl(closed, 0x12345678u, NULL, 0, NULL, 0, NULL, &ov, NULL, NULL, &err), WSAENOTSOCK);
        CHECK_FAILS(wspsan_WSPIoctl(u, 0x12345678u, NULL, 0, NULL, 0, NULL, &ov, NULL, NULL, &err), WSAEOPNOTSUPP);
    }
    CHECK_FAILS(wspsan_WSPIoctl(u, 0x12345678u, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPIoctl(u, SIO_ADDRESS_LIST_QUERY, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAEFAULT);
    CHECK_FAILS(wspsan_WSPIoctl(u, WSPSAN_FIONBIO, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, &err), WSAEFAULT);
    /* SPEC X4: WSPEventSelect with a handle that holds no eventfd, WSPEnumNetworkEvents with a NULL
     * lpNetworkEvents: the descriptor first. */
    CHECK_FAILS(wspsan_WSPEventSelect(INVALID_SOCKET, (WSAEVENT)(intptr_t)p[0], FD_ACCEPT, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPEventSelect(closed, (WSAEVENT)(intptr_t)p[0], FD_ACCEPT, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPEventSelect(l, (WSAEVENT)(intptr_t)p[0], FD_ACCEPT, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_WSPEnumNetworkEvents(INVALID_SOCKET, ev, NULL, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPEnumNetworkEvents(closed, (WSAEVENT)(intptr_t)p[0], &ne, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_WSPEnumNetworkEvents(l, ev, NULL, &err), WSAEFAULT);
    /* The entry checks come before everything: the device down (D2). */
    CHECK_OK(wspsan_device_set_network_down(1, &err));
    CHECK_FAILS(wspsan_WSPGetPeerName(INVALID_SOCKET, NULL, NULL, &err), WSAENETDOWN);
    CHECK_FAILS(wspsan_WSPGetPeerName(b, NULL, NULL, &err), WSAENETDOWN);
    CHECK_FAILS(wspsan_WSPBind(b, NULL, 0, &err), WSAENETDOWN);
    CHECK_FAILS(wspsan_WSPIoctl(u, WSPSAN_FIONBIO, &on, sizeof on, NULL, 0, NULL, NULL, NULL, NULL, &err),
                WSAENETDOWN);
    CHECK_OK(wspsan_device_set_network_down(0, &err));
    h_close(a);
    h_close(c);
    h_close(l);
    h_close(b);
    h_close(u);
    close(p[0]);
    close(p[1]);
    wspsan_WSACloseEvent(ev);
}

int main(void) {
    h_startup();
    socket_arguments();
    descriptor_limit();
    bind_rules();
    wildcard();
    close_rules();
    validation_order();
    return h_summary("test_socket");
}

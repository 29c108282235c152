/* The README's C quick start: listen, a non-blocking connect with caller data, and an accept
 * whose condition function answers with callee data. Built and run by `make c-test`.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs wspsan) */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "wspsan.h"

static int condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR ctx) {
    (void)caller_id, (void)sqos, (void)gqos, (void)callee_id, (void)g, (void)ctx;
    if (caller_data == NULL || caller_data->len != 5 || memcmp(caller_data->buf, "alice", 5) != 0)
        return CF_REJECT;                       /* the connector gets WSAECONNREFUSED */
    memcpy(callee_data->buf, "welcome", 7);     /* provider-owned buffer, valid during the call */
    callee_data->len = 7;
    return CF_ACCEPT;
}

int main(void) {
    WSPDATA data;
    WSPPROC_TABLE procs;
    WSPUPCALLTABLE upcalls = {0};               /* no switch upcalls: eventfds, plain descriptors */
    int err = 0;
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &procs) != 0) return 1;

    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(5000);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    SOCKET server = procs.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    procs.lpWSPBind(server, (struct sockaddr *)&addr, sizeof addr, &err);
    procs.lpWSPListen(server, 8, &err);

    SOCKET client = procs.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    WSAEVENT ev = wspsan_WSACreateEvent();      /* an eventfd: poll it, or use epoll/selectors */
    procs.lpWSPEventSelect(client, ev, FD_CONNECT, &err);   /* also makes the socket non-blocking */
    WSABUF hello = {5, (char *)"alice"};
    if (procs.lpWSPConnect(client, (struct sockaddr *)&addr, sizeof addr, &hello, NULL, NULL, NULL, &err) ==
            SOCKET_ERROR && err != WSAEWOULDBLOCK) return 1;  /* SAN: answered when accept decides */

    struct sockaddr_in peer;
    int peerlen = sizeof peer;
    SOCKET conn = procs.lpWSPAccept(server, (struct sockaddr *)&peer, &peerlen, condition, 0, &err);
    if (conn == INVALID_SOCKET) { printf("accept: %s\n", wspsan_strerror(err)); return 1; }

    WSANETWORKEVENTS ne;
    procs.lpWSPEnumNetworkEvents(client, ev, &ne, &err);
    char reply[16] = {0};
    int len = sizeof reply - 1;
    procs.lpWSPGetSockOpt(client, WSPSAN_SOL_SOCKET, SO_CONNDATA, reply, &len, &err);
    printf("accepted %s:%u, FD_CONNECT error %d, callee data \"%s\"\n", inet_ntoa(peer.sin_addr),
           ntohs(peer.sin_port), ne.iErrorCode[FD_CONNECT_BIT], reply);

    procs.lpWSPCloseSocket(conn, &err);
    procs.lpWSPCloseSocket(client, &err);
    procs.lpWSPCloseSocket(server, &err);
    wspsan_WSACloseEvent(ev);
    return wspsan_WSPCleanup(&err);
}

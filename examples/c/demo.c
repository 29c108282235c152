/* wspsan C demo: a server and its clients on the emulated SAN, told as a story.
 *
 *   make demo-c      (builds against target/release/libwspsan.a and runs it)
 *
 * The server listens with a backlog of 2 and watches FD_ACCEPT on an eventfd; three clients
 * connect with caller data; the third is refused at once because the queue is full; the
 * server's condition function turns "mallory" away and welcomes the others with callee data;
 * the statistics close the story. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "wspsan.h"

#define PORT 5150

static void fail(const char *what, int err) {
    fprintf(stderr, "%s failed: %s\n", what, wspsan_strerror(err));
}

static struct sockaddr_in server_address(void) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(PORT);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* The server's condition function: it sees who calls and what they sent, and answers. */
static int doorman(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                   LPWSABUF callee_data, GROUP *g, DWORD_PTR server_name) {
    struct sockaddr_in from;
    char name[64] = "(nobody)";
    (void)sqos, (void)gqos, (void)callee_id, (void)g;
    memcpy(&from, caller_id->buf, sizeof from);
    if (caller_data && caller_data->len < sizeof name) {
        memcpy(name, caller_data->buf, caller_data->len);
        name[caller_data->len] = 0;
    }
    printf("  [%s] condition function: request from 127.0.0.1:%u saying \"%s\"\n", (const char *)server_name,
           ntohs(from.sin_port), name);
    if (strcmp(name, "mallory") == 0) {
        printf("  [%s]   -> CF_REJECT (not on the list)\n", (const char *)server_name);
        callee_data->len = 0;
        return CF_REJECT;
    }
    callee_data->len = (ULONG)snprintf(callee_data->buf, callee_data->len, "welcome, %s", name);
    printf("  [%s]   -> CF_ACCEPT with callee data \"%s\"\n", (const char *)server_name, callee_data->buf);
    return CF_ACCEPT;
}

/* A client: a non-blocking connect carrying its name as caller data. */
static SOCKET client_connect(const char *name, WSAEVENT ev) {
    int err = 0;
    struct sockaddr_in to = server_address();
    WSABUF data;
    SOCKET s = wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    data.len = (ULONG)strlen(name);
    data.buf = (char *)(uintptr_t)name;
    wspsan_WSPEventSelect(s, ev, FD_CONNECT, &err); /* also makes it non-blocking */
    if (wspsan_WSPConnect(s, (struct sockaddr *)&to, sizeof to, &data, NULL, NULL, NULL, &err) == SOCKET_ERROR)
        printf("  [%s] connect: %s\n", name, err == WSAEWOULDBLOCK ? "queued, waiting for the server's answer (WSAEWOULDBLOCK)"
                                                                  : wspsan_strerror(err));
    return s;
}

/* How a client's connect ended: FD_CONNECT with its error, and the callee data on success. */
static void client_result(const char *name, SOCKET s, WSAEVENT ev) {
    WSANETWORKEVENTS ne;
    int err = 0;
    char reply[64];
    int len = sizeof reply - 1;
    memset(&ne, 0, sizeof ne);
    wspsan_WSPEnumNetworkEvents(s, ev, &ne, &err);
    if (!(ne.lNetworkEvents & FD_CONNECT)) {
        printf("  [%s] no answer yet\n", name);
        return;
    }
    if (ne.iErrorCode[FD_CONNECT_BIT] != 0) {
        printf("  [%s] FD_CONNECT: %s\n", name, wspsan_strerror(ne.iErrorCode[FD_CONNECT_BIT]));
        return;
    }
    wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, SO_CONNDATA, reply, &len, &err);
    reply[len] = 0;
    printf("  [%s] FD_CONNECT: connected; the server said \"%s\"\n", name, reply);
}

static int is_set(WSAEVENT ev) {
    struct pollfd p;
    p.fd = (int)(intptr_t)ev;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) == 1;
}

/* The last client connects blocking, on its own thread: the call returns with the answer. */
static void *patient_client(void *arg) {
    int err = 0;
    struct sockaddr_in to = server_address();
    char reply[64];
    WSABUF data, callee;
    SOCKET s = wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    (void)arg;
    data.len = 5;
    data.buf = (char *)(uintptr_t) "carol";
    callee.len = sizeof reply - 1;
    callee.buf = reply;
    if (wspsan_WSPConnect(s, (struct sockaddr *)&to, sizeof to, &data, &callee, NULL, NULL, &err) == 0) {
        reply[callee.len] = 0;
        printf("  [carol] blocking connect returned: connected; the server said \"%s\"\n", reply);
    } else {
        fail("carol's connect", err);
    }
    return (void *)(uintptr_t)s;
}

int main(void) {
    WSPDATA data;
    WSPPROC_TABLE table;
    WSPUPCALLTABLE upcalls;
    struct sockaddr_in here = server_address();
    WSAEVENT server_ev = wspsan_WSACreateEvent(), client_ev = wspsan_WSACreateEvent();
    WSANETWORKEVENTS ne;
    WSPSAN_LISTENER_STATS st;
    WSPSAN_DEVICE_STATS dev;
    SOCKET server, alice, mallory, carol, conn;
    pthread_t patient;
    void *carol_socket;
    int err = 0, round;

    memset(&upcalls, 0, sizeof upcalls);
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &table) != 0)
        return 1;
    printf("wspsan %s: a Winsock SAN provider on emulated SAN devices; this story: one device, alone\n\n",
           wspsan_version());

    printf("1. The server listens on 127.0.0.1:%d with a backlog of 2 and selects FD_ACCEPT.\n", PORT);
    server = wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    if (wspsan_WSPBind(server, (struct sockaddr *)&here, sizeof here, &err) != 0 ||
        wspsan_WSPListen(server, 2, &err) != 0) {
        fail("listen", err);
        return 1;
    }
    wspsan_WSPEventSelect(server, server_ev, FD_ACCEPT, &err);

    printf("\n2. Three clients connect, each sending its name as caller data.\n");
    alice = client_connect("alice", client_ev);
    printf("  [server] FD_ACCEPT event object is %s\n", is_set(server_ev) ? "set: a request is queued" : "not set");
    mallory = client_connect("mallory", client_ev);
    carol = client_connect("carol", client_ev);
    printf("  (carol was refused at once: the queue already held 2 requests, the backlog)\n");
    wspsan_WSPCloseSocket(carol, &err);

    printf("\n3. The server accepts while FD_ACCEPT says requests are queued.\n");
    for (round = 0; round < 4; round++) {
        if (!is_set(server_ev))
            break;
        wspsan_WSPEnumNetworkEvents(server, server_ev, &ne, &err);
        if (!(ne.lNetworkEvents & FD_ACCEPT))
            break;
        printf("  [server] FD_ACCEPT\n");
        conn = wspsan_WSPAccept(server, NULL, NULL, doorman, (DWORD_PTR) "server", &err);
        if (conn == INVALID_SOCKET) {
            printf("  [server] WSPAccept: %s\n", wspsan_strerror(err));
        } else {
            struct sockaddr_in peer;
            int len = sizeof peer;
            wspsan_WSPGetPeerName(conn, (struct sockaddr *)&peer, &len, &err);
            printf("  [server] WSPAccept: new socket %#lx connected to 127.0.0.1:%u\n", (unsigned long)conn,
                   ntohs(peer.sin_port));
        }
    }

    printf("\n4. The clients learn their answers through FD_CONNECT.\n");
    client_result("alice", alice, client_ev);
    client_result("mallory", mallory, client_ev);

    printf("\n5. Carol tries again, with a blocking connect this time.\n");
    pthread_create(&patient, NULL, patient_client, NULL);
    for (round = 0; round < 1000 && !is_set(server_ev); round++) {
        struct timespec t = {0, 1000000L};
        nanosleep(&t, NULL);
    }
    wspsan_WSPEnumNetworkEvents(server, server_ev, &ne, &err);
    conn = wspsan_WSPAccept(server, NULL, NULL, doorman, (DWORD_PTR) "server", &err);
    pthread_join(patient, &carol_socket);

    printf("\n6. Statistics.\n");
    wspsan_device_listener_stats(server, &st, &err);
    printf("  listener: queued %llu, accepted %llu, rejected %llu, refused (queue full) %llu, "
           "queue length %llu, backlog %llu\n",
           (unsigned long long)st.queued, (unsigned long long)st.accepted, (unsigned long long)st.rejected,
           (unsigned long long)st.refused_full, (unsigned long long)st.queue_len, (unsigned long long)st.backlog);
    wspsan_device_stats(&dev, &err);
    printf("  device:   open sockets %llu, pending requests %llu\n", (unsigned long long)dev.open_sockets,
           (unsigned long long)dev.pending);

    wspsan_WSPCleanup(&err); /* the last cleanup closes every socket */
    wspsan_WSACloseEvent(server_ev);
    wspsan_WSACloseEvent(client_ev);
    printf("\nDone.\n");
    return 0;
}

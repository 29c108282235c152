/* wspsan fabric server: a plain WSP program that serves connects from other processes and hosts.
 *
 *   WSPSAN_FABRIC=tcp WSPSAN_NICS=127.0.0.2 build/c/fabric_server [PORT [COUNT [SECONDS]]]
 *
 * Nothing in it knows about the fabric: the provider reads WSPSAN_FABRIC, WSPSAN_NICS,
 * WSPSAN_FABRIC_PORT and WSPSAN_FABRIC_KEY at WSPStartup (SPEC F3), exactly as it would for an
 * unmodified Winsock program. It listens on its device's first NIC (SIO_ADDRESS_LIST_QUERY) at
 * PORT (default 5000), prints "READY <address>:<port>", and decides COUNT requests (default 3)
 * with a condition function:
 *
 *   caller data "mallory"  CF_REJECT (the connector gets WSAECONNREFUSED)
 *   caller data "slow"     CF_DEFER the first time, then CF_ACCEPT
 *   caller data "stall"    CF_DEFER every time (the connector waits until it gives up)
 *   anything else          CF_ACCEPT with callee data "welcome, <caller data>"
 *
 * One line per outcome (ACCEPTED, REJECTED, DEFERRED, WITHDRAWN: the connector gave up before the
 * accept reached it, SPEC A12/F6), then "DONE <count>" and exit status 0. A request that is still
 * undecided after SECONDS (default 60) ends it with "TIMEOUT" and status 1: every wait has a
 * deadline. examples/python/fabric_server.py does the same from Python. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wspsan.h"

#define MAX_DATA 256

/* What the condition function saw and decided about the request it examined last. */
struct decision {
    char caller[32];            /* "a.b.c.d:port" */
    char data[MAX_DATA];        /* the caller data, NUL-terminated ("" when none) */
    char reply[MAX_DATA + 16];  /* "welcome, " and the caller data */
    int head_deferred;          /* the request at the head of the queue was deferred already */
    int first_defer;            /* the last defer was that request's first */
};

static int condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR context) {
    struct decision *d = (struct decision *)context;
    struct sockaddr_in from;
    size_t n = 0, capacity = callee_data->len; /* the device's callee-data maximum (SPEC A5) */
    (void)sqos, (void)gqos, (void)callee_id, (void)g;
    memcpy(&from, caller_id->buf, sizeof from);
    snprintf(d->caller, sizeof d->caller, "%s:%u", inet_ntoa(from.sin_addr), ntohs(from.sin_port));
    if (caller_data != NULL) {
        n = caller_data->len < MAX_DATA - 1 ? caller_data->len : MAX_DATA - 1;
        memcpy(d->data, caller_data->buf, n);
    }
    d->data[n] = 0;
    d->reply[0] = 0;
    callee_data->len = 0;
    if (strcmp(d->data, "mallory") == 0)
        return CF_REJECT;
    /* A deferred request stays at the head of the queue and the next accept sees it first
       (SPEC A9), so "deferred already" is one flag, cleared once an accept decides. */
    if (strcmp(d->data, "stall") == 0 || (strcmp(d->data, "slow") == 0 && !d->head_deferred)) {
        d->first_defer = !d->head_deferred;
        d->head_deferred = 1;
        return CF_DEFER;
    }
    snprintf(d->reply, sizeof d->reply, "welcome, %s", d->data);
    n = strlen(d->reply);
    if (n > capacity)
        n = capacity;
    memcpy(callee_data->buf, d->reply, n);
    callee_data->len = (ULONG)n;
    d->reply[n] = 0;
    return CF_ACCEPT;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int usage(const char *argv0) {
    fprintf(stderr, "usage: %s [PORT [COUNT [SECONDS]]]  (the device comes from WSPSAN_* in the environment)\n",
            argv0);
    return 2;
}

int main(int argc, char **argv) {
    WSPDATA data;
    WSPPROC_TABLE procs;
    WSPUPCALLTABLE upcalls;
    WSANETWORKEVENTS ne;
    struct decision d;
    struct sockaddr_in here;
    union {
        SOCKET_ADDRESS_LIST list;
        char bytes[1024];
    } nics;
    DWORD returned = 0;
    SOCKET server;
    WSAEVENT ev;
    long port = 5000, count = 3, seconds = 60;
    long decided = 0;
    double deadline;
    int err = 0;
    char *end;

    if (argc > 4)
        return usage(argv[0]);
    if (argc > 1 && ((port = strtol(argv[1], &end, 10)) < 1 || port > 65535 || *end))
        return usage(argv[0]);
    if (argc > 2 && ((count = strtol(argv[2], &end, 10)) < 1 || *end))
        return usage(argv[0]);
    if (argc > 3 && ((seconds = strtol(argv[3], &end, 10)) < 1 || *end))
        return usage(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line per outcome, even into a pipe */

    memset(&upcalls, 0, sizeof upcalls);
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &procs) != 0) {
        char why[256];
        wspsan_last_error_message(why, sizeof why, NULL);
        fprintf(stderr, "WSPStartup failed: %s\n", why); /* e.g. WSPSAN_NICS cannot be parsed */
        return 1;
    }
    server = procs.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    if (server == INVALID_SOCKET ||
        procs.lpWSPIoctl(server, SIO_ADDRESS_LIST_QUERY, NULL, 0, &nics, sizeof nics, &returned, NULL, NULL, NULL,
                         &err) != 0 ||
        nics.list.iAddressCount < 1) {
        fprintf(stderr, "cannot learn the device's NICs: %s\n", wspsan_strerror(err));
        return 1;
    }
    memcpy(&here, nics.list.Address[0].lpSockaddr, sizeof here); /* the first NIC */
    here.sin_port = htons((unsigned short)port);
    ev = wspsan_WSACreateEvent();
    if (procs.lpWSPBind(server, (struct sockaddr *)&here, sizeof here, &err) != 0 ||
        procs.lpWSPListen(server, 16, &err) != 0 || ev == NULL ||
        procs.lpWSPEventSelect(server, ev, FD_ACCEPT, &err) != 0) { /* also makes it non-blocking */
        fprintf(stderr, "cannot listen on %s:%ld: %s\n", inet_ntoa(here.sin_addr), port, wspsan_strerror(err));
        return 1;
    }
    printf("READY %s:%ld\n", inet_ntoa(here.sin_addr), port);

    memset(&d, 0, sizeof d);
    deadline = now() + (double)seconds;
    while (decided < count) {
        SOCKET conn = procs.lpWSPAccept(server, NULL, NULL, condition, (DWORD_PTR)&d, &err);
        double left = deadline - now();
        if (conn != INVALID_SOCKET || err != WSATRY_AGAIN)
            d.head_deferred = 0;
        if (conn != INVALID_SOCKET) {
            printf("ACCEPTED %s \"%s\" -> \"%s\"\n", d.caller, d.data, d.reply);
            procs.lpWSPCloseSocket(conn, &err); /* the connector records FD_CLOSE */
            decided++;
            continue;
        }
        switch (err) {
        case WSAECONNREFUSED:
            printf("REJECTED %s \"%s\"\n", d.caller, d.data);
            decided++;
            continue;
        case WSAEACCES: /* withdrawn by its connector (closed, timed out, lost): SPEC A12, F6, F7 */
            printf("WITHDRAWN\n");
            decided++;
            continue;
        case WSATRY_AGAIN: /* the request stays at the head of the queue (A9): look again shortly */
            if (d.first_defer)
                printf("DEFERRED %s \"%s\"\n", d.caller, d.data);
            d.first_defer = 0;
            if (left > 0) {
                poll(NULL, 0, 50);
                continue;
            }
            break;
        case WSAEWOULDBLOCK: /* nothing queued: wait for FD_ACCEPT */
            if (left > 0) {
                struct pollfd p;
                p.fd = (int)(intptr_t)ev;
                p.events = POLLIN;
                p.revents = 0;
                if (poll(&p, 1, (int)(left * 1000) + 1) == 1)
                    procs.lpWSPEnumNetworkEvents(server, ev, &ne, &err); /* resets the event */
                continue;
            }
            break;
        default:
            fprintf(stderr, "WSPAccept failed: %s\n", wspsan_strerror(err));
            return 1;
        }
        printf("TIMEOUT after %ld s with %ld of %ld requests decided\n", seconds, decided, count);
        return 1;
    }
    printf("DONE %ld\n", decided);
    procs.lpWSPCloseSocket(server, &err);
    wspsan_WSACloseEvent(ev);
    return procs.lpWSPCleanup(&err) == 0 ? 0 : 1;
}

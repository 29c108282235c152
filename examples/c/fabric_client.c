/* wspsan fabric client: one connect, with caller data, to a server in another process or host.
 *
 *   WSPSAN_FABRIC=tcp WSPSAN_NICS=127.0.0.3 build/c/fabric_client [-t SECONDS] HOST:PORT [CALLER_DATA [EXPECT]]
 *
 * The device comes from the environment (WSPSAN_FABRIC, WSPSAN_NICS, WSPSAN_FABRIC_PORT,
 * WSPSAN_FABRIC_KEY: SPEC F3). The connect is non-blocking; the answer arrives as FD_CONNECT
 * (SPEC C2, F5) and the callee data is read with SO_CONNDATA. It prints one line,
 *
 *   RESULT 0 OK callee data "welcome, alice"
 *   RESULT 10061 WSAECONNREFUSED
 *
 * and exits 0 when the result is EXPECT (a code or its name; default 0, OK), else 1 (2: usage or
 * startup). -t sets the device's connect timeout (the engine then fails the attempt with
 * WSAETIMEDOUT); whatever happens the client waits at most SECONDS + 10 (default 30) for the
 * answer, then prints "RESULT NONE" and exits 1. examples/python/fabric_client.py does the same
 * from Python. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wspsan.h"

/* "WSAECONNREFUSED" out of "WSAECONNREFUSED: The connection was refused."; "OK" for 0. */
static const char *error_name(int code) {
    static char name[64];
    const char *s = code == 0 ? "OK" : wspsan_strerror(code);
    size_t n = strcspn(s, ":");
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, s, n);
    name[n] = 0;
    return name;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [-t SECONDS] HOST:PORT [CALLER_DATA [EXPECT]]\n"
            "  (the device comes from WSPSAN_* in the environment; EXPECT is a code or its name, default OK)\n",
            argv0);
    return 2;
}

int main(int argc, char **argv) {
    WSPDATA data;
    WSPPROC_TABLE procs;
    WSPUPCALLTABLE upcalls;
    WSANETWORKEVENTS ne;
    struct sockaddr_in to;
    WSABUF caller;
    SOCKET s;
    WSAEVENT ev;
    char host[64], reply[512], *colon, *end;
    const char *expect = "0";
    long port, timeout_s = 0;
    double deadline;
    int err = 0, code = -1, len, arg = 1;

    if (argc > 2 && strcmp(argv[1], "-t") == 0) {
        if ((timeout_s = strtol(argv[2], &end, 10)) < 1 || *end || timeout_s > 3600)
            return usage(argv[0]);
        arg = 3;
    }
    if (argc - arg < 1 || argc - arg > 3)
        return usage(argv[0]);
    colon = strrchr(argv[arg], ':');
    if (colon == NULL || (size_t)(colon - argv[arg]) >= sizeof host)
        return usage(argv[0]);
    memcpy(host, argv[arg], (size_t)(colon - argv[arg]));
    host[colon - argv[arg]] = 0;
    port = strtol(colon + 1, &end, 10);
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons((unsigned short)port);
    if (port < 1 || port > 65535 || *end || inet_pton(AF_INET, host, &to.sin_addr) != 1)
        return usage(argv[0]);
    caller.buf = arg + 1 < argc ? argv[arg + 1] : NULL;
    caller.len = caller.buf ? (ULONG)strlen(caller.buf) : 0;
    if (arg + 2 < argc)
        expect = argv[arg + 2];
    setvbuf(stdout, NULL, _IOLBF, 0);

    memset(&upcalls, 0, sizeof upcalls);
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &procs) != 0) {
        char why[256];
        wspsan_last_error_message(why, sizeof why, NULL);
        fprintf(stderr, "WSPStartup failed: %s\n", why);
        return 2;
    }
    if (timeout_s > 0 && wspsan_device_set_connect_timeout((uint32_t)(timeout_s * 1000), &err) != 0) {
        fprintf(stderr, "cannot set the connect timeout: %s\n", wspsan_strerror(err));
        return 2;
    }
    ev = wspsan_WSACreateEvent();
    s = procs.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    if (ev == NULL || s == INVALID_SOCKET ||
        procs.lpWSPEventSelect(s, ev, FD_CONNECT, &err) != 0) { /* also makes it non-blocking */
        fprintf(stderr, "cannot make the socket: %s\n", wspsan_strerror(err));
        return 2;
    }
    reply[0] = 0;
    if (procs.lpWSPConnect(s, (struct sockaddr *)&to, sizeof to, caller.buf ? &caller : NULL, NULL, NULL, NULL,
                           &err) == 0)
        code = 0;
    else if (err != WSAEWOULDBLOCK)
        code = err; /* refused at once, or an argument error */
    deadline = now() + (double)(timeout_s > 0 ? timeout_s + 10 : 30);
    while (code < 0) {
        struct pollfd p;
        double left = deadline - now();
        if (left <= 0) {
            printf("RESULT NONE: no answer within %.0f s\n", (double)(timeout_s > 0 ? timeout_s + 10 : 30));
            return 1;
        }
        p.fd = (int)(intptr_t)ev;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, (int)(left * 1000) + 1) != 1)
            continue;
        memset(&ne, 0, sizeof ne);
        if (procs.lpWSPEnumNetworkEvents(s, ev, &ne, &err) == 0 && (ne.lNetworkEvents & FD_CONNECT))
            code = ne.iErrorCode[FD_CONNECT_BIT];
    }
    if (code == 0) {
        len = sizeof reply - 1;
        if (procs.lpWSPGetSockOpt(s, WSPSAN_SOL_SOCKET, SO_CONNDATA, reply, &len, &err) != 0)
            len = 0;
        reply[len] = 0;
        printf("RESULT 0 OK callee data \"%s\"\n", reply);
    } else {
        printf("RESULT %d %s\n", code, error_name(code));
    }
    procs.lpWSPCloseSocket(s, &err);
    wspsan_WSACloseEvent(ev);
    procs.lpWSPCleanup(&err);
    return (strcmp(expect, error_name(code)) == 0 || (strtol(expect, &end, 10) == code && *end == 0)) ? 0 : 1;
}

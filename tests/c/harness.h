/* A small test harness for the C conformance programs: checks that count and report, and
 * helpers that set up sockets through the wspsan C ABI. Each program ends with
 * "N passed, N failed" and exits non-zero on any failure. */
#ifndef WSPSAN_TEST_HARNESS_H
#define WSPSAN_TEST_HARNESS_H

#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wspsan.h"

/* TEST ONLY: the next `calls` wspsan calls on this thread panic inside the panic boundary (SPEC
 * X4); 0 disarms; returns how many were still armed. Not in wspsan.h: only the test build of the
 * library exports it (cargo feature test-hooks, the Makefile's CAPI_TEST_FEATURES). */
#ifdef __cplusplus
extern "C" {
#endif
uint32_t wspsan_test_inject_panic(uint32_t calls);
#ifdef __cplusplus
}
#endif

static int h_passed;
static int h_failed;
static const char *h_test = "?";

/* Start a named test case (for the failure messages). */
#define TEST(name) (h_test = (name))

/* A check: counts, and prints the failing expression with its location. */
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (cond) {                                                                          \
            h_passed++;                                                                      \
        } else {                                                                             \
            h_failed++;                                                                      \
            fprintf(stderr, "FAIL [%s] %s:%d: %s\n", h_test, __FILE__, __LINE__, #cond);     \
        }                                                                                    \
    } while (0)

/* Two integers are equal; prints both when not. */
#define CHECK_EQ(a, b)                                                                       \
    do {                                                                                     \
        long long h_a = (long long)(a), h_b = (long long)(b);                                \
        if (h_a == h_b) {                                                                    \
            h_passed++;                                                                      \
        } else {                                                                             \
            h_failed++;                                                                      \
            fprintf(stderr, "FAIL [%s] %s:%d: %s == %s (%lld != %lld)\n", h_test, __FILE__,  \
                    __LINE__, #a, #b, h_a, h_b);                                             \
        }                                                                                    \
    } while (0)

/* An int-returning WSP call fails with `code` (and SOCKET_ERROR). */
#define CHECK_FAILS(call, code)                                                              \
    do {                                                                                     \
        int err = -12345;                                                                    \
        int h_rc = (call);                                                                   \
        CHECK_EQ(h_rc, SOCKET_ERROR);                                                        \
        CHECK_EQ(err, (code));                                                               \
    } while (0)

/* An int-returning WSP call succeeds and leaves *lpErrno untouched (SPEC X3). */
#define CHECK_OK(call)                                                                       \
    do {                                                                                     \
        int err = -12345;                                                                    \
        int h_rc = (call);                                                                   \
        CHECK_EQ(h_rc, 0);                                                                   \
        CHECK_EQ(err, -12345);                                                               \
    } while (0)

/* Print the summary and return the exit status. */
static inline int h_summary(const char *program) {
    printf("%s: %d passed, %d failed\n", program, h_passed, h_failed);
    return h_failed == 0 ? 0 : 1;
}

/* Start the provider without upcalls. */
static inline void h_startup(void) {
    WSPDATA data;
    WSPPROC_TABLE table;
    WSPUPCALLTABLE upcalls;
    memset(&upcalls, 0, sizeof upcalls);
    if (wspsan_WSPStartup(0x0202, &data, NULL, upcalls, &table) != 0) {
        fprintf(stderr, "wspsan_WSPStartup failed\n");
        exit(2);
    }
}

/* A sockaddr_in for a dotted address and a port. */
static inline struct sockaddr_in h_addr(const char *ip, unsigned short port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/* A fresh port for each test in the program. */
static inline unsigned short h_port(void) {
    static unsigned short next = 20000;
    return next++;
}

/* A new socket; aborts the program on failure. */
static inline SOCKET h_socket(void) {
    int err = 0;
    SOCKET s = wspsan_WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, 0, &err);
    if (s == INVALID_SOCKET) {
        fprintf(stderr, "[%s] WSPSocket failed: %d\n", h_test, err);
        exit(2);
    }
    return s;
}

/* A socket bound to ip:port. */
static inline SOCKET h_bound(const char *ip, unsigned short port) {
    int err = 0;
    SOCKET s = h_socket();
    struct sockaddr_in a = h_addr(ip, port);
    if (wspsan_WSPBind(s, (const struct sockaddr *)&a, sizeof a, &err) != 0) {
        fprintf(stderr, "[%s] WSPBind %s:%u failed: %d\n", h_test, ip, port, err);
        exit(2);
    }
    return s;
}

/* A socket listening on 127.0.0.1:port with `backlog`. */
static inline SOCKET h_listener(unsigned short port, int backlog) {
    int err = 0;
    SOCKET s = h_bound("127.0.0.1", port);
    if (wspsan_WSPListen(s, backlog, &err) != 0) {
        fprintf(stderr, "[%s] WSPListen failed: %d\n", h_test, err);
        exit(2);
    }
    return s;
}

/* Switch `s` to non-blocking (FIONBIO). */
static inline void h_nonblocking(SOCKET s, int on) {
    int err = 0;
    uint32_t v = (uint32_t)on;
    DWORD n = 0;
    if (wspsan_WSPIoctl(s, WSPSAN_FIONBIO, &v, sizeof v, NULL, 0, &n, NULL, NULL, NULL, &err) != 0) {
        fprintf(stderr, "[%s] FIONBIO failed: %d\n", h_test, err);
        exit(2);
    }
}

/* A non-blocking connect to 127.0.0.1:port; returns the error (WSAEWOULDBLOCK when queued). */
static inline int h_connect_nb(SOCKET s, unsigned short port, const char *caller_data) {
    int err = 0;
    struct sockaddr_in a = h_addr("127.0.0.1", port);
    WSABUF cd;
    cd.len = caller_data ? (ULONG)strlen(caller_data) : 0;
    cd.buf = (char *)(uintptr_t)caller_data;
    h_nonblocking(s, 1);
    if (wspsan_WSPConnect(s, (const struct sockaddr *)&a, sizeof a, caller_data ? &cd : NULL, NULL,
                          NULL, NULL, &err) == 0)
        return 0;
    return err;
}

/* A connector that has a request queued at 127.0.0.1:port. */
static inline SOCKET h_pending(unsigned short port, const char *caller_data) {
    SOCKET s = h_socket();
    int err = h_connect_nb(s, port, caller_data);
    if (err != WSAEWOULDBLOCK) {
        fprintf(stderr, "[%s] non-blocking connect to %u gave %d\n", h_test, port, err);
        exit(2);
    }
    return s;
}

/* Close, ignoring the result. */
static inline void h_close(SOCKET s) {
    int err = 0;
    wspsan_WSPCloseSocket(s, &err);
}

/* SO_ERROR of `s`, or -(the error) when the call fails. Reading it does not clear it (SPEC C2). */
static inline int h_so_error(SOCKET s) {
    int err = 0, v = -1, len = sizeof v;
    if (wspsan_WSPGetSockOpt(s, WSPSAN_SOL_SOCKET, WSPSAN_SO_ERROR, (char *)&v, &len, &err) != 0)
        return -err;
    return v;
}

/* Whether the eventfd behind `e` is set, without consuming it. */
static inline int h_is_set(WSAEVENT e) {
    struct pollfd p;
    p.fd = (int)(intptr_t)e;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Wait up to `ms` for the eventfd behind `e`. */
static inline int h_wait_set(WSAEVENT e, int ms) {
    struct pollfd p;
    p.fd = (int)(intptr_t)e;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* Sleep `ms` milliseconds. */
static inline void h_sleep_ms(long ms) {
    struct timespec t;
    t.tv_sec = ms / 1000;
    t.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&t, NULL);
}

/* A condition function answering the DWORD_PTR it is given (CF_ACCEPT, CF_REJECT, ...). */
static inline int h_answer(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos,
                    LPWSABUF callee_id, LPWSABUF callee_data, GROUP *g, DWORD_PTR answer) {
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    callee_data->len = 0;
    return (int)answer;
}

#endif

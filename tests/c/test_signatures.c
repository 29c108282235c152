/* Signature drift fails the build: every export is assigned to its LPWSP* type (and the
 * extensions to explicit prototypes). Also compiled as C++ by make c-header-check.
 * SPEC X1: the table WSPStartup fills holds exactly these functions. */
#include <stdio.h>
#include <string.h>

#include "wspsan.h"

static const LPWSPSTARTUP startup_fn = wspsan_WSPStartup;
static const LPWSPCLEANUP cleanup_fn = wspsan_WSPCleanup;
static const LPWSPSOCKET socket_fn = wspsan_WSPSocket;
static const LPWSPBIND bind_fn = wspsan_WSPBind;
static const LPWSPLISTEN listen_fn = wspsan_WSPListen;
static const LPWSPCONNECT connect_fn = wspsan_WSPConnect;
static const LPWSPACCEPT accept_fn = wspsan_WSPAccept;
static const LPWSPCLOSESOCKET close_fn = wspsan_WSPCloseSocket;
static const LPWSPGETSOCKNAME getsockname_fn = wspsan_WSPGetSockName;
static const LPWSPGETPEERNAME getpeername_fn = wspsan_WSPGetPeerName;
static const LPWSPGETSOCKOPT getsockopt_fn = wspsan_WSPGetSockOpt;
static const LPWSPSETSOCKOPT setsockopt_fn = wspsan_WSPSetSockOpt;
static const LPWSPIOCTL ioctl_fn = wspsan_WSPIoctl;
static const LPWSPEVENTSELECT eventselect_fn = wspsan_WSPEventSelect;
static const LPWSPENUMNETWORKEVENTS enumnetworkevents_fn = wspsan_WSPEnumNetworkEvents;

/* The wspsan extensions, against explicit prototypes. */
static WSAEVENT (*const create_event_fn)(void) = wspsan_WSACreateEvent;
static BOOL (*const close_event_fn)(WSAEVENT) = wspsan_WSACloseEvent;
static int (*const switch_handle_fn)(SOCKET, SOCKET *, int *) = wspsan_switch_handle;
static const char *(*const strerror_fn)(int) = wspsan_strerror;
static int (*const last_error_fn)(char *, size_t, size_t *) = wspsan_last_error_message;
static const char *(*const version_fn)(void) = wspsan_version;
static int (*const add_nic_fn)(uint32_t, int *) = wspsan_device_add_nic;
static int (*const remove_nic_fn)(uint32_t, int *) = wspsan_device_remove_nic;
static int (*const get_limits_fn)(WSPSAN_LIMITS *, int *) = wspsan_device_get_limits;
static int (*const set_limits_fn)(const WSPSAN_LIMITS *, int *) = wspsan_device_set_limits;
static int (*const set_timeout_fn)(uint32_t, int *) = wspsan_device_set_connect_timeout;
static int (*const set_wildcard_fn)(int, int *) = wspsan_device_set_wildcard_bind;
static int (*const set_down_fn)(int, int *) = wspsan_device_set_network_down;
static int (*const set_nobufs_fn)(int, int *) = wspsan_device_set_buffer_exhaustion;
static int (*const set_desc_limit_fn)(int64_t, int *) = wspsan_device_set_descriptor_limit;
static int (*const get_faults_fn)(WSPSAN_FAULTS *, int *) = wspsan_device_get_faults;
static int (*const device_stats_fn)(WSPSAN_DEVICE_STATS *, int *) = wspsan_device_stats;
static int (*const listener_stats_fn)(SOCKET, WSPSAN_LISTENER_STATS *, int *) = wspsan_device_listener_stats;

/* The condition function type is exactly Windows' LPCONDITIONPROC. */
static int condition(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)callee_data, (void)g;
    (void)cb;
    return CF_ACCEPT;
}
static const LPCONDITIONPROC condition_fn = condition;

int main(void) {
    WSPDATA data;
    WSPPROC_TABLE table;
    WSPUPCALLTABLE upcalls;
    int failed = 0, err = 0;
    const void *extensions[] = {
        (const void *)(uintptr_t)create_event_fn,   (const void *)(uintptr_t)close_event_fn,
        (const void *)(uintptr_t)switch_handle_fn,  (const void *)(uintptr_t)strerror_fn,
        (const void *)(uintptr_t)last_error_fn,     (const void *)(uintptr_t)version_fn,
        (const void *)(uintptr_t)add_nic_fn,        (const void *)(uintptr_t)remove_nic_fn,
        (const void *)(uintptr_t)get_limits_fn,     (const void *)(uintptr_t)set_limits_fn,
        (const void *)(uintptr_t)set_timeout_fn,    (const void *)(uintptr_t)set_wildcard_fn,
        (const void *)(uintptr_t)set_down_fn,       (const void *)(uintptr_t)set_nobufs_fn,
        (const void *)(uintptr_t)set_desc_limit_fn, (const void *)(uintptr_t)get_faults_fn,
        (const void *)(uintptr_t)device_stats_fn,   (const void *)(uintptr_t)listener_stats_fn,
        (const void *)(uintptr_t)condition_fn,
    };
    size_t i;
    memset(&upcalls, 0, sizeof upcalls);
    for (i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        failed += extensions[i] == NULL;
    if (startup_fn(0x0202, &data, NULL, upcalls, &table) != 0)
        return 1;
    /* SPEC X1: the table holds the exports. */
    failed += table.lpWSPAccept != accept_fn;
    failed += table.lpWSPBind != bind_fn;
    failed += table.lpWSPCleanup != cleanup_fn;
    failed += table.lpWSPCloseSocket != close_fn;
    failed += table.lpWSPConnect != connect_fn;
    failed += table.lpWSPEnumNetworkEvents != enumnetworkevents_fn;
    failed += table.lpWSPEventSelect != eventselect_fn;
    failed += table.lpWSPGetPeerName != getpeername_fn;
    failed += table.lpWSPGetSockName != getsockname_fn;
    failed += table.lpWSPGetSockOpt != getsockopt_fn;
    failed += table.lpWSPIoctl != ioctl_fn;
    failed += table.lpWSPListen != listen_fn;
    failed += table.lpWSPSetSockOpt != setsockopt_fn;
    failed += table.lpWSPSocket != socket_fn;
    failed += cleanup_fn(&err) != 0;
    printf("test_signatures: %d passed, %d failed\n", failed ? 0 : 1, failed ? 1 : 0);
    return failed != 0;
}

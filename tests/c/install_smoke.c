/* Built by tests/c/install_test.sh against an installed wspsan (pkg-config wspsan): start the
 * provider, listen, connect, accept, and check the version macros match the library. */
#include <stdio.h>
#include <string.h>

#include <wspsan.h>

int main(void) {
    WSPDATA data;
    WSPPROC_TABLE t;
    WSPUPCALLTABLE up;
    struct sockaddr_in a;
    int err = 0, ok;
    SOCKET l, c, s;
    memset(&up, 0, sizeof up);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(7000);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (wspsan_WSPStartup(0x0202, &data, NULL, up, &t) != 0)
        return 1;
    l = t.lpWSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    c = t.lpWSPSocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0, &err);
    ok = t.lpWSPBind(l, (struct sockaddr *)&a, sizeof a, &err) == 0 && t.lpWSPListen(l, SOMAXCONN, &err) == 0;
    {
        ULONG on = 1;
        DWORD n = 0;
        ok = ok && t.lpWSPIoctl(c, FIONBIO, &on, sizeof on, NULL, 0, &n, NULL, NULL, NULL, &err) == 0;
    }
    ok = ok && t.lpWSPConnect(c, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &err) == SOCKET_ERROR &&
         err == WSAEWOULDBLOCK;
    s = t.lpWSPAccept(l, NULL, NULL, NULL, 0, &err);
    ok = ok && s != INVALID_SOCKET && strcmp(wspsan_version(), WSPSAN_VERSION_STRING) == 0;
    ok = ok && t.lpWSPCleanup(&err) == 0;
    printf("install_smoke (wspsan %s): %d passed, %d failed\n", wspsan_version(), ok, !ok);
    return ok ? 0 : 1;
}

/* Threads through the C ABI: SPEC T1, T2. Blocking connectors on several threads, one
 * acceptor answering alternately CF_ACCEPT and CF_REJECT; every attempt ends exactly once. */
#include "harness.h"

#define CONNECTORS 4
#define ATTEMPTS 40

static unsigned short port;
static int accepted_by_connectors[CONNECTORS], refused_by_connectors[CONNECTORS], other[CONNECTORS];

static void *connector(void *arg) {
    int id = (int)(intptr_t)arg, i;
    struct sockaddr_in a = h_addr("127.0.0.1", port);
    for (i = 0; i < ATTEMPTS; i++) {
        int err = 0;
        SOCKET s = h_socket();
        if (wspsan_WSPConnect(s, (struct sockaddr *)&a, sizeof a, NULL, NULL, NULL, NULL, &err) == 0)
            accepted_by_connectors[id]++;
        else if (err == WSAECONNREFUSED)
            refused_by_connectors[id]++; /* rejected, or the queue was full (L7) */
        else
            other[id]++;
        h_close(s);
    }
    return NULL;
}

static int alternate(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR cb) {
    int *n = (int *)cb;
    (void)caller_id, (void)caller_data, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    callee_data->len = 0;
    return (*n)++ % 2 == 0 ? CF_ACCEPT : CF_REJECT;
}

int main(void) {
    pthread_t t[CONNECTORS];
    SOCKET l;
    int i, n = 0, accepted = 0, rejected = 0, acc_c = 0, ref_c = 0, oth = 0, err = 0, done;
    WSPSAN_LISTENER_STATS st;
    h_startup();
    port = h_port();
    l = h_listener(port, 8);
    h_nonblocking(l, 1);
    TEST("T1 T2 concurrent connects");
    for (i = 0; i < CONNECTORS; i++)
        pthread_create(&t[i], NULL, connector, (void *)(intptr_t)i);
    /* SPEC T1: the acceptor polls while the connectors block on their own threads. */
    for (done = 0; done < 20000 && accepted + rejected < CONNECTORS * ATTEMPTS; done++) {
        SOCKET a = wspsan_WSPAccept(l, NULL, NULL, alternate, (DWORD_PTR)&n, &err);
        if (a != INVALID_SOCKET) {
            accepted++;
            h_close(a);
        } else if (err == WSAECONNREFUSED) {
            rejected++;
        } else if (err == WSAEWOULDBLOCK) {
            wspsan_device_listener_stats(l, &st, &err);
            if (st.queued == st.accepted + st.rejected + st.withdrawn && st.refused_full + st.queued ==
                                                                             CONNECTORS * ATTEMPTS)
                break;
            h_sleep_ms(1);
        }
    }
    for (i = 0; i < CONNECTORS; i++) {
        pthread_join(t[i], NULL);
        acc_c += accepted_by_connectors[i];
        ref_c += refused_by_connectors[i];
        oth += other[i];
    }
    /* SPEC T2: one outcome per attempt, seen the same by both sides. */
    CHECK_EQ(acc_c + ref_c + oth, CONNECTORS * ATTEMPTS);
    CHECK_EQ(oth, 0);
    CHECK_EQ(acc_c, accepted);
    wspsan_device_listener_stats(l, &st, &err);
    CHECK_EQ(st.accepted, (uint64_t)accepted);
    CHECK_EQ(st.rejected, (uint64_t)rejected);
    CHECK_EQ(ref_c, rejected + (int)st.refused_full);
    CHECK_EQ(st.queue_len, 0);
    h_close(l);
    return h_summary("test_threads");
}

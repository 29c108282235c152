/* A provider's own transport through the C ABI (wspsan_transport_*, SPEC section 11 over the
 * embedder's carrier: F5, F6, F7, F8, F11, T2), the embedder's per-socket context and the fault
 * knobs on the device's outgoing fabric messages (wspsan_fabric_*).
 *
 * One process has one provider, so this program plays the remote device itself: a scripted peer
 * that decodes what wspsan sends (the send callback captures every message) and crafts what the
 * remote device would answer. A message of a provider's own transport is one channel byte
 * (0 = about a request the sender sent, 1 = about a request the receiver sent), then a frame
 * body of docs/fabric-protocol.md without its 4-byte length prefix.
 *
 * The device here owns NIC 10.2.0.1 (WSPSAN_NICS, set before the first wspsan call); scripted
 * peers own 10.2.<n>.2, one per scenario. 10.x addresses are wspsan-internal names: no real
 * socket is opened. Every wait is bounded (DEADLINE_MS, and alarm() as the last resort). */
#include "harness.h" /* first: it sets _POSIX_C_SOURCE */

#include <signal.h>
#include <stdatomic.h>

#define DEADLINE_MS 10000
#define OWN_NIC "10.2.0.1"

/* Frame kinds of docs/fabric-protocol.md. */
enum { K_HELLO = 0x01, K_REQUEST = 0x10, K_ACCEPTED = 0x11, K_REFUSED = 0x12, K_CONFIRM = 0x13,
       K_WITHDRAW = 0x14, K_CLOSE = 0x15 };
/* The channel byte. */
enum { CH_SENDERS = 0, CH_RECEIVERS = 1 };

/* ---------------------------------------------------------------------------------------------
 * crafting messages (the scripted peer's side) */

typedef struct {
    uint8_t b[1024];
    size_t n;
} msg_t;

static void put8(msg_t *m, uint8_t v) { m->b[m->n++] = v; }
static void put32(msg_t *m, uint32_t v) {
    for (int i = 3; i >= 0; i--)
        put8(m, (uint8_t)(v >> (8 * i)));
}
static void put64(msg_t *m, uint64_t v) {
    for (int i = 7; i >= 0; i--)
        put8(m, (uint8_t)(v >> (8 * i)));
}
static void put_addr(msg_t *m, const char *ip, unsigned short port) {
    struct in_addr a;
    inet_pton(AF_INET, ip, &a);
    memcpy(m->b + m->n, &a, 4); /* network order already */
    m->n += 4;
    put8(m, (uint8_t)(port >> 8));
    put8(m, (uint8_t)port);
}
static void put_bytes(msg_t *m, const char *s) {
    size_t len = s ? strlen(s) : 0;
    put32(m, (uint32_t)len);
    memcpy(m->b + m->n, s ? s : "", len);
    m->n += len;
}

/* The peer's own connect request to this device (channel 0: about the sender's request). */
static msg_t m_request(uint64_t id, const char *caller, unsigned short cport, unsigned short port,
                       const char *data) {
    msg_t m = {{0}, 0};
    put8(&m, CH_SENDERS);
    put8(&m, K_REQUEST);
    put64(&m, id);
    put_addr(&m, caller, cport);
    put_addr(&m, OWN_NIC, port);
    put_bytes(&m, data);
    put8(&m, 0); /* no QoS */
    return m;
}
/* The peer's answer to a request of this device's (channel 1: about the receiver's request). */
static msg_t m_accepted(uint64_t id, const char *callee_data) {
    msg_t m = {{0}, 0};
    put8(&m, CH_RECEIVERS);
    put8(&m, K_ACCEPTED);
    put64(&m, id);
    put_bytes(&m, callee_data);
    return m;
}
static msg_t m_refused(uint64_t id, uint32_t code) {
    msg_t m = {{0}, 0};
    put8(&m, CH_RECEIVERS);
    put8(&m, K_REFUSED);
    put64(&m, id);
    put32(&m, code);
    return m;
}
/* CONFIRM, WITHDRAW or CLOSE on `channel`. */
static msg_t m_id(uint8_t channel, uint8_t kind, uint64_t id) {
    msg_t m = {{0}, 0};
    put8(&m, channel);
    put8(&m, kind);
    put64(&m, id);
    return m;
}

/* ---------------------------------------------------------------------------------------------
 * the transport: captures what wspsan sends, optionally answers from inside the callback */

typedef struct {
    uint64_t peer;
    int kind; /* WSPSAN_MESSAGE_* as the callback got it */
    size_t len;
    uint8_t b[512];
    int taken;
} sent_t;

#define MAX_SENT 4096
static sent_t sent_log[MAX_SENT];
static int sent_n;
static pthread_mutex_t sent_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sent_cv = PTHREAD_COND_INITIALIZER;

/* How the transport behaves (set by the scenarios). */
static atomic_int fail_sends;   /* non-zero: every send fails (the peer cannot be reached) */
static atomic_int auto_answer;  /* 0, or CF_ACCEPT+1 / CF_REJECT+1: answer REQUESTs re-entrantly */
static atomic_int auto_confirm; /* confirm wspsan's ACCEPTED/REFUSED re-entrantly */
static atomic_int twice;        /* deliver everything the scripted peer sends twice */
static atomic_int sends;        /* callback invocations */
static atomic_int reentrant_ok; /* re-entrant receives that succeeded */

static uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Hand wspsan a message from the scripted peer (twice when `twice` is on); the first result. */
static int deliver(uint64_t peer, msg_t m) {
    int err = 0, err2 = 0;
    int rc = wspsan_transport_receive(peer, m.b, m.n, &err);
    if (atomic_load(&twice))
        wspsan_transport_receive(peer, m.b, m.n, &err2);
    return rc == 0 ? 0 : err;
}

static int test_send(void *context, uint64_t peer, int kind, const uint8_t *message, uintptr_t length) {
    int *tag = (int *)context;
    int answer_request, confirm_answer;
    atomic_fetch_add(&sends, 1);
    if (*tag != 0x5eed) /* the context comes back untouched */
        return 1;
    answer_request = length >= 10 && message[0] == CH_SENDERS && message[1] == K_REQUEST && atomic_load(&auto_answer);
    confirm_answer = length >= 10 && message[0] == CH_RECEIVERS && (message[1] == K_ACCEPTED || message[1] == K_REFUSED) &&
                     atomic_load(&auto_confirm);
    pthread_mutex_lock(&sent_mu);
    if (sent_n < MAX_SENT) {
        sent_t *s = &sent_log[sent_n++];
        s->peer = peer;
        s->kind = kind;
        s->len = length;
        memcpy(s->b, message, length < sizeof s->b ? length : sizeof s->b);
        s->taken = answer_request || confirm_answer; /* answered here: no scenario waits for it */
    }
    pthread_cond_broadcast(&sent_cv);
    pthread_mutex_unlock(&sent_mu);
    if (atomic_load(&fail_sends))
        return 1;
    /* Re-entrant answers: wspsan_transport_receive from inside send (the header allows it). */
    if (answer_request) {
        uint64_t id = be64(message + 2);
        msg_t m = atomic_load(&auto_answer) == CF_ACCEPT + 1 ? m_accepted(id, "re-entrant")
                                                             : m_refused(id, WSAECONNREFUSED);
        if (deliver(peer, m) == 0)
            atomic_fetch_add(&reentrant_ok, 1);
    }
    if (confirm_answer) {
        msg_t m = m_id(CH_SENDERS, K_CONFIRM, be64(message + 2));
        if (deliver(peer, m) == 0)
            atomic_fetch_add(&reentrant_ok, 1);
    }
    return 0;
}

static int transport_tag = 0x5eed;

/* Wait for the next message not yet taken with frame kind `fkind` (and `id`, unless 0) to
 * `peer`; 1 with it in *out, 0 after DEADLINE_MS. */
static int wait_sent(uint64_t peer, int fkind, uint64_t id, sent_t *out, int ms) {
    struct timespec until;
    int found = 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sent_mu);
    for (;;) {
        for (int i = 0; i < sent_n && !found; i++) {
            sent_t *s = &sent_log[i];
            if (!s->taken && s->peer == peer && s->len >= 10 && s->b[1] == fkind && (id == 0 || be64(s->b + 2) == id)) {
                s->taken = 1;
                if (out)
                    *out = *s;
                found = 1;
            }
        }
        if (found || pthread_cond_timedwait(&sent_cv, &sent_mu, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&sent_mu);
    return found;
}

/* How many messages of frame kind `fkind` about `id` went to `peer`. */
static int count_sent(uint64_t peer, int fkind, uint64_t id) {
    int n = 0;
    pthread_mutex_lock(&sent_mu);
    for (int i = 0; i < sent_n; i++)
        if (sent_log[i].peer == peer && sent_log[i].len >= 10 && sent_log[i].b[1] == fkind &&
            be64(sent_log[i].b + 2) == id)
            n++;
    pthread_mutex_unlock(&sent_mu);
    return n;
}

/* The courier delivers asynchronously: give it time to hand on what is queued. */
static void let_courier_run(void) { h_sleep_ms(100); }

/* ---------------------------------------------------------------------------------------------
 * calls on threads (blocking connects and accepts), stats */

struct call {
    pthread_t thread;
    atomic_int done;
    int is_accept;
    SOCKET s;
    struct sockaddr_in to;
    const char *caller_data;
    char callee[64];
    ULONG callee_len;
    LPCONDITIONPROC condition;
    DWORD_PTR context;
    SOCKET result;
    int rc, err;
    struct sockaddr_in peer;
};

static void *call_thread(void *arg) {
    struct call *c = (struct call *)arg;
    c->err = 0;
    if (c->is_accept) {
        int len = sizeof c->peer;
        c->result = wspsan_WSPAccept(c->s, (struct sockaddr *)&c->peer, &len, c->condition, c->context, &c->err);
    } else {
        WSABUF cd, ce;
        cd.buf = (char *)(uintptr_t)c->caller_data;
        cd.len = c->caller_data ? (ULONG)strlen(c->caller_data) : 0;
        ce.buf = c->callee;
        ce.len = sizeof c->callee - 1;
        c->rc = wspsan_WSPConnect(c->s, (const struct sockaddr *)&c->to, sizeof c->to, c->caller_data ? &cd : NULL,
                                  &ce, NULL, NULL, &c->err);
        c->callee_len = c->rc == 0 ? ce.len : 0;
        c->callee[c->callee_len < sizeof c->callee ? c->callee_len : 0] = 0;
    }
    atomic_store(&c->done, 1);
    return NULL;
}

static void start_connect(struct call *c, SOCKET s, const char *ip, unsigned short port, const char *data) {
    memset(c, 0, sizeof *c);
    atomic_init(&c->done, 0);
    c->s = s;
    c->to = h_addr(ip, port);
    c->caller_data = data;
    pthread_create(&c->thread, NULL, call_thread, c);
}

static void start_accept(struct call *c, SOCKET l, LPCONDITIONPROC condition, DWORD_PTR context) {
    memset(c, 0, sizeof *c);
    atomic_init(&c->done, 0);
    c->is_accept = 1;
    c->s = l;
    c->condition = condition;
    c->context = context;
    pthread_create(&c->thread, NULL, call_thread, c);
}

/* Join a call's thread; one that never returns is a hang: report it and stop. */
static void finish(struct call *c) {
    for (int ms = 0; ms < DEADLINE_MS && !atomic_load(&c->done); ms++)
        h_sleep_ms(1);
    if (!atomic_load(&c->done)) {
        fprintf(stderr, "FAIL [%s] a blocking call did not return within %d ms\n", h_test, DEADLINE_MS);
        exit(1);
    }
    pthread_join(c->thread, NULL);
}

static WSPSAN_FABRIC_STATS fabric(void) {
    WSPSAN_DEVICE_STATS st;
    int err = 0;
    memset(&st, 0, sizeof st);
    CHECK_EQ(wspsan_device_stats(&st, &err), 0);
    return st.fabric;
}

static uint64_t queue_len(SOCKET l) {
    WSPSAN_LISTENER_STATS st;
    int err = 0;
    memset(&st, 0, sizeof st);
    wspsan_device_listener_stats(l, &st, &err);
    return st.queue_len;
}

static int wait_queue_len(SOCKET l, uint64_t n) {
    for (int ms = 0; ms < DEADLINE_MS; ms++) {
        if (queue_len(l) == n)
            return 1;
        h_sleep_ms(1);
    }
    return 0;
}

/* A fresh scripted peer owning 10.2.<n>.2; its address goes to ip (16 bytes). */
static uint64_t open_peer(char *ip) {
    static int next = 10;
    uint64_t peer = 0;
    int err = 0;
    snprintf(ip, 16, "10.2.%d.2", next++);
    if (wspsan_transport_open_peer(ip, &peer, &err) != 0) {
        fprintf(stderr, "[%s] open_peer %s failed: %d\n", h_test, ip, err);
        exit(2);
    }
    return peer;
}

static void lose(uint64_t peer) {
    int err = 0;
    wspsan_transport_peer_lost(peer, &err);
}

/* A listener on OWN_NIC:port (non-blocking when `nb`). */
static SOCKET listener(unsigned short port, int backlog) {
    int err = 0;
    SOCKET l = h_bound(OWN_NIC, port);
    if (wspsan_WSPListen(l, backlog, &err) != 0) {
        fprintf(stderr, "[%s] listen failed: %d\n", h_test, err);
        exit(2);
    }
    return l;
}

/* A condition function that wants caller data "abc" and answers callee data "xyz". */
static int wants_abc(LPWSABUF caller_id, LPWSABUF caller_data, LPQOS sqos, LPQOS gqos, LPWSABUF callee_id,
                     LPWSABUF callee_data, GROUP *g, DWORD_PTR answer) {
    (void)caller_id, (void)sqos, (void)gqos, (void)callee_id, (void)g;
    if (!caller_data || caller_data->len != 3 || memcmp(caller_data->buf, "abc", 3) != 0)
        return CF_REJECT;
    memcpy(callee_data->buf, "xyz", 3);
    callee_data->len = 3;
    return (int)answer;
}

/* ---------------------------------------------------------------------------------------------
 * scenarios */

/* Before the provider exists: the table's checks (and the installed transport is used later). */
static void test_install(void) {
    WSPSAN_TRANSPORT t;
    TEST("install: arguments");
    CHECK_FAILS(wspsan_transport_install(NULL, &err), WSAEFAULT);
    t.context = &transport_tag;
    t.send = NULL;
    CHECK_FAILS(wspsan_transport_install(&t, &err), WSAEFAULT);
    t.send = test_send;
    CHECK_EQ(wspsan_transport_install(&t, NULL), SOCKET_ERROR); /* lpErrno NULL */

    /* WSPSAN_FABRIC=tcp and a transport of one's own cannot both be had: the provider is not
     * made (and a failure is not kept: the next call tries again). */
    TEST("install: not with the TCP fabric");
    CHECK_OK(wspsan_transport_install(&t, &err));
    setenv("WSPSAN_FABRIC", "tcp", 1);
    {
        WSPSAN_DEVICE_STATS st;
        CHECK_FAILS(wspsan_device_stats(&st, &err), WSAEINVAL);
    }
    unsetenv("WSPSAN_FABRIC");
    CHECK_OK(wspsan_transport_install(&t, &err)); /* still before the provider */
    h_startup();

    TEST("install: after the provider exists");
    CHECK_FAILS(wspsan_transport_install(&t, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_transport_install(NULL, &err), WSAEINVAL);
}

static void test_open_peer(void) {
    uint64_t peer = 0, p2 = 0;
    TEST("open_peer: arguments");
    CHECK_FAILS(wspsan_transport_open_peer(NULL, &peer, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_transport_open_peer("10.2.1.2", NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_transport_open_peer("bogus", &peer, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_transport_open_peer("0.0.0.0", &peer, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_transport_open_peer(OWN_NIC, &peer, &err), WSAEADDRINUSE); /* our own NIC */
    CHECK_OK(wspsan_transport_open_peer("10.2.1.2,10.2.1.3", &peer, &err));
    CHECK(peer != 0);
    CHECK_FAILS(wspsan_transport_open_peer("10.2.1.3", &p2, &err), WSAEADDRINUSE); /* a live peer's */
    CHECK_OK(wspsan_transport_open_peer("", &p2, &err)); /* a peer that only connects here */
    CHECK(p2 != peer && p2 != 0);
    CHECK_EQ(fabric().connections_open, 2);
    CHECK_OK(wspsan_transport_peer_lost(peer, &err));
    CHECK_OK(wspsan_transport_peer_lost(p2, &err));
    CHECK_EQ(fabric().connections_open, 0);
    /* a lost peer's addresses are free again; handles are never reused */
    CHECK_OK(wspsan_transport_open_peer("10.2.1.3", &p2, &err));
    CHECK(p2 != peer);
    lose(p2);
}

/* Bad handles: WSAEINVAL, never a crash, and everything keeps working. */
static void test_bad_handles(void) {
    char ip[16];
    uint64_t peer, stale;
    msg_t m = m_id(CH_SENDERS, K_CONFIRM, 1);
    WSPSAN_FABRIC_STATS before, after;
    TEST("bad handles");
    stale = open_peer(ip);
    CHECK_OK(wspsan_transport_peer_lost(stale, &err));
    before = fabric();
    CHECK_FAILS(wspsan_transport_receive(0, m.b, m.n, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_transport_receive(0xdeadbeef, m.b, m.n, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_transport_receive(stale, m.b, m.n, &err), WSAEINVAL); /* after peer_lost */
    CHECK_FAILS(wspsan_transport_peer_lost(0, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_transport_peer_lost(0xdeadbeef, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_transport_peer_lost(stale, &err), WSAEINVAL); /* twice */
    CHECK_FAILS(wspsan_transport_receive(stale, NULL, 1, &err), WSAEFAULT);
    CHECK_EQ(wspsan_transport_receive(stale, m.b, m.n, NULL), SOCKET_ERROR);
    after = fabric();
    CHECK_EQ(after.protocol_errors, before.protocol_errors); /* nobody's fault but the caller's */
    CHECK_EQ(after.connections_lost, before.connections_lost);
    /* SPEC F7: a message after its peer was lost is ignored and counted */
    CHECK(after.stale_messages >= before.stale_messages + 1);

    TEST("bad handles: everything keeps working");
    peer = open_peer(ip);
    CHECK_FAILS(wspsan_transport_receive(peer, NULL, 4, &err), WSAEFAULT); /* the peer survives that */
    {
        SOCKET c = h_socket();
        struct call call;
        sent_t req;
        start_connect(&call, c, ip, 5000, NULL);
        CHECK(wait_sent(peer, K_REQUEST, 0, &req, DEADLINE_MS));
        msg_t empty = {{0}, 0};
        CHECK_EQ(deliver(peer, empty), WSAEINVAL); /* empty: malformed, loses the peer */
        finish(&call);
        CHECK_EQ(call.rc, SOCKET_ERROR);
        CHECK_EQ(call.err, WSAECONNRESET); /* SPEC F8 -> F7 */
        h_close(c);
    }
}

/* SPEC F8: a malformed message, or one against the protocol's order, loses that peer only,
 * settling what it carried (F7), and is counted. */
static void test_malformed(void) {
    static const uint8_t bad_channel[] = {2, K_CONFIRM, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t unknown_kind[] = {0, 0x7f, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t truncated[] = {0, K_CONFIRM, 0, 0, 0};
    static const uint8_t trailing[] = {0, K_CONFIRM, 0, 0, 0, 0, 0, 0, 0, 1, 9};
    static const uint8_t hello[] = {0, K_HELLO, 'W', 'S', 'P', 'F', 1, 0, 0, 0, 0x0b, 0xb8,
                                    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct {
        const char *what;
        msg_t m;
    } cases[9];
    int n = 0;
    char ip[16];
    uint64_t bystander = open_peer(ip);
#define RAW(name, arr)                                                                                       \
    do {                                                                                                     \
        cases[n].what = name;                                                                                \
        memcpy(cases[n].m.b, arr, sizeof arr);                                                               \
        cases[n].m.n = sizeof arr;                                                                           \
        n++;                                                                                                 \
    } while (0)
    RAW("channel byte 2", bad_channel);
    RAW("unknown kind", unknown_kind);
    RAW("truncated", truncated);
    RAW("trailing bytes", trailing);
    RAW("HELLO (the TCP fabric's own)", hello);
#undef RAW
    cases[n].what = "ACCEPTED on the sender's channel";
    cases[n].m = m_accepted(1, "x");
    cases[n++].m.b[0] = CH_SENDERS;
    cases[n].what = "REFUSED with an unnamed code";
    cases[n++].m = m_refused(1, 12345);
    cases[n].what = "REQUEST on the receiver's channel";
    cases[n].m = m_request(1, "10.2.9.2", 4000, 5000, NULL);
    cases[n++].m.b[0] = CH_RECEIVERS;

    for (int i = 0; i < n; i++) {
        uint64_t peer;
        WSPSAN_FABRIC_STATS before;
        TEST(cases[i].what);
        peer = open_peer(ip);
        before = fabric();
        CHECK_FAILS(wspsan_transport_receive(peer, cases[i].m.b, cases[i].m.n, &err), WSAEINVAL);
        CHECK_EQ(fabric().protocol_errors, before.protocol_errors + 1);
        CHECK_EQ(fabric().connections_lost, before.connections_lost + 1);
        /* the peer is lost: its handle is stale */
        CHECK_FAILS(wspsan_transport_peer_lost(peer, &err), WSAEINVAL);
    }

    TEST("malformed: other peers untouched");
    {
        msg_t ok = m_id(CH_SENDERS, K_WITHDRAW, 77); /* for an id it does not have: ignored */
        CHECK_EQ(deliver(bystander, ok), 0);
        CHECK_OK(wspsan_transport_peer_lost(bystander, &err));
    }
}

/* A send callback that fails: the peer is lost (SPEC F7), the connect fails WSAECONNRESET. */
static void test_send_fails(void) {
    char ip[16];
    uint64_t peer = open_peer(ip);
    SOCKET c = h_socket();
    struct call call;
    WSPSAN_FABRIC_STATS before = fabric();
    TEST("send fails");
    atomic_store(&fail_sends, 1);
    start_connect(&call, c, ip, 5000, "hello");
    finish(&call);
    atomic_store(&fail_sends, 0);
    CHECK_EQ(call.rc, SOCKET_ERROR);
    CHECK_EQ(call.err, WSAECONNRESET);
    CHECK_EQ(fabric().connections_lost, before.connections_lost + 1);
    CHECK_FAILS(wspsan_transport_peer_lost(peer, &err), WSAEINVAL); /* already lost */
    /* SPEC C6: the socket may connect again, through a new peer for that address */
    {
        uint64_t again = 0;
        CHECK_OK(wspsan_transport_open_peer(ip, &again, &err));
        atomic_store(&auto_answer, CF_ACCEPT + 1);
        start_connect(&call, c, ip, 5000, NULL);
        finish(&call);
        atomic_store(&auto_answer, 0);
        CHECK_EQ(call.rc, 0);
        lose(again);
    }
    h_close(c);
}

/* This device connects; the scripted peer is the listener's device (SPEC F2, F5, F6, C5). */
static void test_outbound(void) {
    char ip[16];
    uint64_t peer = open_peer(ip);
    SOCKET c = h_socket();
    struct call call;
    sent_t req, conf;
    uint64_t id;
    WSPSAN_FABRIC_STATS before = fabric();

    TEST("outbound: accepted");
    start_connect(&call, c, ip, 5000, "caller bytes");
    CHECK(wait_sent(peer, K_REQUEST, 0, &req, DEADLINE_MS));
    CHECK_EQ(req.kind, WSPSAN_MESSAGE_REQUEST);
    CHECK_EQ(req.b[0], CH_SENDERS);
    id = be64(req.b + 2);
    {
        struct in_addr caller, callee;
        char cs[16], ds[16];
        memcpy(&caller, req.b + 10, 4);
        memcpy(&callee, req.b + 16, 4);
        inet_ntop(AF_INET, &caller, cs, sizeof cs);
        inet_ntop(AF_INET, &callee, ds, sizeof ds);
        CHECK(strcmp(cs, OWN_NIC) == 0); /* SPEC F2: bound to the first NIC */
        CHECK(strcmp(ds, ip) == 0);
        CHECK_EQ((req.b[20] << 8) | req.b[21], 5000);
        CHECK_EQ(be32(req.b + 22), 12);
        CHECK(memcmp(req.b + 26, "caller bytes", 12) == 0);
        CHECK_EQ(req.b[38], 0); /* no QoS */
        CHECK_EQ(req.len, 39);
    }
    h_sleep_ms(20);
    CHECK_EQ(atomic_load(&call.done), 0); /* SPEC C1: no answer, no connect */
    CHECK_EQ(deliver(peer, m_accepted(id, "callee bytes")), 0);
    finish(&call);
    CHECK_EQ(call.rc, 0);
    CHECK(strcmp(call.callee, "callee bytes") == 0); /* SPEC C5 */
    /* SPEC F6: the connector confirms, once */
    CHECK(wait_sent(peer, K_CONFIRM, id, &conf, DEADLINE_MS));
    CHECK_EQ(conf.kind, WSPSAN_MESSAGE_CONFIRM);
    CHECK_EQ(conf.b[0], CH_SENDERS);
    CHECK_EQ(fabric().requests_sent, before.requests_sent + 1);

    TEST("outbound: the peer closes (K3), then this end closes");
    {
        WSAEVENT ev = wspsan_WSACreateEvent();
        WSANETWORKEVENTS ne;
        CHECK_OK(wspsan_WSPEventSelect(c, ev, FD_CLOSE, &err));
        CHECK_EQ(deliver(peer, m_id(CH_RECEIVERS, K_CLOSE, id)), 0);
        CHECK(h_wait_set(ev, DEADLINE_MS));
        memset(&ne, 0, sizeof ne);
        CHECK_OK(wspsan_WSPEnumNetworkEvents(c, ev, &ne, &err));
        CHECK(ne.lNetworkEvents & FD_CLOSE);
        CHECK_EQ(ne.iErrorCode[FD_CLOSE_BIT], 0);
        wspsan_WSACloseEvent(ev);
    }
    h_close(c);

    TEST("outbound: this end closes an established connection");
    c = h_socket();
    start_connect(&call, c, ip, 5001, NULL);
    CHECK(wait_sent(peer, K_REQUEST, 0, &req, DEADLINE_MS));
    id = be64(req.b + 2);
    CHECK_EQ(deliver(peer, m_accepted(id, "")), 0);
    finish(&call);
    CHECK_EQ(call.rc, 0);
    h_close(c);
    CHECK(wait_sent(peer, K_CLOSE, id, NULL, DEADLINE_MS));

    TEST("outbound: refused (F5)");
    c = h_socket();
    start_connect(&call, c, ip, 5002, NULL);
    CHECK(wait_sent(peer, K_REQUEST, 0, &req, DEADLINE_MS));
    id = be64(req.b + 2);
    CHECK_EQ(deliver(peer, m_refused(id, WSAECONNREFUSED)), 0);
    finish(&call);
    CHECK_EQ(call.rc, SOCKET_ERROR);
    CHECK_EQ(call.err, WSAECONNREFUSED);
    CHECK(wait_sent(peer, K_CONFIRM, id, NULL, DEADLINE_MS)); /* F6: it says it took the refusal */

    TEST("outbound: re-entrant answers from inside send");
    atomic_store(&reentrant_ok, 0);
    atomic_store(&auto_answer, CF_ACCEPT + 1);
    start_connect(&call, c, ip, 5003, NULL); /* C6: the same socket connects again */
    finish(&call);
    CHECK_EQ(call.rc, 0);
    CHECK(strcmp(call.callee, "re-entrant") == 0);
    h_close(c);
    c = h_socket();
    atomic_store(&auto_answer, CF_REJECT + 1);
    start_connect(&call, c, ip, 5004, NULL);
    finish(&call);
    atomic_store(&auto_answer, 0);
    CHECK_EQ(call.err, WSAECONNREFUSED);
    CHECK_EQ(atomic_load(&reentrant_ok), 2);

    TEST("outbound: the peer is lost while a connect waits (F7)");
    start_connect(&call, c, ip, 5005, NULL);
    CHECK(wait_sent(peer, K_REQUEST, 0, &req, DEADLINE_MS));
    CHECK_OK(wspsan_transport_peer_lost(peer, &err));
    finish(&call);
    CHECK_EQ(call.err, WSAECONNRESET);
    /* messages after the loss are ignored and counted; the handle is stale */
    {
        uint64_t stale_before = fabric().stale_messages;
        CHECK_FAILS(wspsan_transport_receive(peer, m_accepted(be64(req.b + 2), "").b,
                                             m_accepted(be64(req.b + 2), "").n, &err),
                    WSAEINVAL);
        CHECK_EQ(fabric().stale_messages, stale_before + 1);
    }
    h_close(c);
}

/* The scripted peer connects; this device listens (SPEC F5, F6, F7, A5, A12). */
static void test_inbound(void) {
    char ip[16];
    uint64_t peer = open_peer(ip);
    unsigned short port = h_port();
    SOCKET l = listener(port, 2);
    struct call acc;
    sent_t ans;
    WSPSAN_FABRIC_STATS before = fabric();
    void *ctx = (void *)&ctx;

    TEST("inbound: accepted, callee data, confirmation awaited (F6)");
    CHECK_OK(wspsan_socket_set_context(l, ctx, &err));
    CHECK_EQ(deliver(peer, m_request(1, ip, 4000, port, "abc")), 0);
    CHECK(wait_queue_len(l, 1));
    CHECK_EQ(fabric().requests_received, before.requests_received + 1);
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    CHECK(wait_sent(peer, K_ACCEPTED, 1, &ans, DEADLINE_MS));
    CHECK_EQ(ans.kind, WSPSAN_MESSAGE_ANSWER);
    CHECK_EQ(ans.b[0], CH_RECEIVERS);
    CHECK_EQ(be32(ans.b + 10), 3);
    CHECK(memcmp(ans.b + 14, "xyz", 3) == 0);
    h_sleep_ms(50);
    CHECK_EQ(atomic_load(&acc.done), 0); /* F6: not before the connector's confirmation */
    CHECK_EQ(deliver(peer, m_id(CH_SENDERS, K_CONFIRM, 1)), 0);
    finish(&acc);
    CHECK(acc.result != INVALID_SOCKET);
    {
        char pip[16];
        void *got = (void *)&got;
        inet_ntop(AF_INET, &acc.peer.sin_addr, pip, sizeof pip);
        CHECK(strcmp(pip, ip) == 0);
        CHECK_EQ(ntohs(acc.peer.sin_port), 4000);
        /* the embedder's context: an accepted socket starts with none */
        CHECK_OK(wspsan_socket_get_context(acc.result, &got, &err));
        CHECK(got == NULL);
        CHECK_OK(wspsan_socket_get_context(l, &got, &err));
        CHECK(got == ctx);
    }

    TEST("inbound: established connection lost (F7: FD_CLOSE, WSAECONNABORTED)");
    {
        WSAEVENT ev = wspsan_WSACreateEvent();
        WSANETWORKEVENTS ne;
        SOCKET a = acc.result;
        CHECK_OK(wspsan_WSPEventSelect(a, ev, FD_CLOSE, &err));
        /* a request queued from it at the same time: withdrawn, its accept fails (F7) */
        CHECK_EQ(deliver(peer, m_request(2, ip, 4001, port, "abc")), 0);
        CHECK(wait_queue_len(l, 1));
        CHECK_OK(wspsan_transport_peer_lost(peer, &err));
        CHECK(h_wait_set(ev, DEADLINE_MS));
        memset(&ne, 0, sizeof ne);
        CHECK_OK(wspsan_WSPEnumNetworkEvents(a, ev, &ne, &err));
        CHECK(ne.lNetworkEvents & FD_CLOSE);
        CHECK_EQ(ne.iErrorCode[FD_CLOSE_BIT], WSAECONNABORTED);
        start_accept(&acc, l, wants_abc, CF_ACCEPT);
        finish(&acc);
        CHECK_EQ(acc.result, INVALID_SOCKET);
        CHECK_EQ(acc.err, WSAEACCES);
        wspsan_WSACloseEvent(ev);
        h_close(a);
    }

    TEST("inbound: rejected, after the confirmation (F6, A8)");
    peer = open_peer(ip);
    CHECK_EQ(deliver(peer, m_request(1, ip, 4000, port, "nope")), 0);
    CHECK(wait_queue_len(l, 1));
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    CHECK(wait_sent(peer, K_REFUSED, 1, &ans, DEADLINE_MS));
    CHECK_EQ(be32(ans.b + 10), WSAECONNREFUSED);
    CHECK_EQ(deliver(peer, m_id(CH_SENDERS, K_CONFIRM, 1)), 0);
    finish(&acc);
    CHECK_EQ(acc.err, WSAECONNREFUSED);

    TEST("inbound: withdrawn while queued (A12)");
    CHECK_EQ(deliver(peer, m_request(2, ip, 4001, port, "abc")), 0);
    CHECK(wait_queue_len(l, 1));
    CHECK_EQ(deliver(peer, m_id(CH_SENDERS, K_WITHDRAW, 2)), 0);
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    finish(&acc);
    CHECK_EQ(acc.err, WSAEACCES);
    CHECK_EQ(count_sent(peer, K_ACCEPTED, 2), 0);

    TEST("inbound: withdrawn while the accept waits for its confirmation (F6)");
    CHECK_EQ(deliver(peer, m_request(3, ip, 4002, port, "abc")), 0);
    CHECK(wait_queue_len(l, 1));
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    CHECK(wait_sent(peer, K_ACCEPTED, 3, NULL, DEADLINE_MS));
    CHECK_EQ(deliver(peer, m_id(CH_SENDERS, K_WITHDRAW, 3)), 0);
    finish(&acc);
    CHECK_EQ(acc.err, WSAEACCES);
    CHECK(wait_sent(peer, K_CLOSE, 3, NULL, DEADLINE_MS)); /* nothing stays connected */

    TEST("inbound: re-entrant confirmation from inside send");
    atomic_store(&auto_confirm, 1);
    CHECK_EQ(deliver(peer, m_request(4, ip, 4003, port, "abc")), 0);
    CHECK(wait_queue_len(l, 1));
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    finish(&acc);
    atomic_store(&auto_confirm, 0);
    CHECK(acc.result != INVALID_SOCKET);
    h_close(acc.result);
    CHECK(wait_sent(peer, K_CLOSE, 4, NULL, DEADLINE_MS)); /* K3: the other end hears of it */

    TEST("inbound: refused at once when the queue is full (F5, L7)");
    CHECK_EQ(deliver(peer, m_request(5, ip, 4004, port, "abc")), 0);
    CHECK_EQ(deliver(peer, m_request(6, ip, 4005, port, "abc")), 0);
    CHECK_EQ(deliver(peer, m_request(7, ip, 4006, port, "abc")), 0);
    CHECK(wait_sent(peer, K_REFUSED, 7, &ans, DEADLINE_MS));
    CHECK_EQ(be32(ans.b + 10), WSAECONNREFUSED);
    CHECK_EQ(queue_len(l), 2);

    TEST("inbound: a closed listener refuses its queue (K2)");
    h_close(l);
    CHECK(wait_sent(peer, K_REFUSED, 5, NULL, DEADLINE_MS));
    CHECK(wait_sent(peer, K_REFUSED, 6, NULL, DEADLINE_MS));
    CHECK_EQ(deliver(peer, m_request(8, ip, 4007, port, "abc")), 0); /* nobody listens */
    CHECK(wait_sent(peer, K_REFUSED, 8, NULL, DEADLINE_MS));
    lose(peer);
}

/* SPEC F6 with no answer: an acceptance waits for the confirmation for the liveness interval
 * (set to 300 ms here), then the accept fails WSAEACCES and CLOSE follows. */
static void test_no_confirmation(void) {
    char ip[16];
    uint64_t peer = open_peer(ip);
    unsigned short port = h_port();
    SOCKET l = listener(port, 2);
    struct call acc;
    struct timespec t0, t1;
    double took;
    uint32_t ms = 0;
    TEST("inbound: no confirmation within the liveness interval (F6)");
    CHECK_OK(wspsan_device_set_liveness(300, &err));
    CHECK_OK(wspsan_device_get_liveness(&ms, &err));
    CHECK_EQ(ms, 300);
    CHECK_FAILS(wspsan_device_get_liveness(NULL, &err), WSAEFAULT);
    CHECK_EQ(deliver(peer, m_request(1, ip, 4000, port, "abc")), 0);
    CHECK(wait_queue_len(l, 1));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    finish(&acc);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK_EQ(acc.err, WSAEACCES);
    CHECK(took >= 0.29); /* it did wait the interval (no upper bound: machines differ) */
    CHECK(wait_sent(peer, K_CLOSE, 1, NULL, DEADLINE_MS));
    /* a late confirmation finds nothing: ignored */
    CHECK_EQ(deliver(peer, m_id(CH_SENDERS, K_CONFIRM, 1)), 0);
    h_close(l);
    lose(peer);
}

/* A transport that delivers every message twice (SPEC T2 over a carrier that duplicates; README FX2): each
 * attempt ends in one outcome, the copies are ignored, nothing is answered twice. */
static void test_twice(void) {
    char ip[16];
    uint64_t peer = open_peer(ip);
    unsigned short port = h_port();
    SOCKET l = listener(port, 4);
    SOCKET c = h_socket();
    struct call call, acc;
    sent_t req;
    uint64_t id;
    WSPSAN_FABRIC_STATS before = fabric();
    atomic_store(&twice, 1);

    TEST("twice: inbound request queued once (stale counted)");
    CHECK_EQ(deliver(peer, m_request(1, ip, 4000, port, "abc")), 0);
    CHECK(wait_queue_len(l, 1));
    CHECK_EQ(fabric().requests_received, before.requests_received + 1);
    CHECK_EQ(fabric().stale_messages, before.stale_messages + 1);
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    CHECK(wait_sent(peer, K_ACCEPTED, 1, NULL, DEADLINE_MS));
    CHECK_EQ(deliver(peer, m_id(CH_SENDERS, K_CONFIRM, 1)), 0);
    finish(&acc);
    CHECK(acc.result != INVALID_SOCKET);
    CHECK_EQ(queue_len(l), 0);
    let_courier_run();
    CHECK_EQ(count_sent(peer, K_ACCEPTED, 1), 1);
    CHECK_EQ(count_sent(peer, K_REFUSED, 1), 0);
    h_close(acc.result);

    TEST("twice: inbound withdrawn");
    CHECK_EQ(deliver(peer, m_request(2, ip, 4001, port, "abc")), 0);
    CHECK(wait_queue_len(l, 1));
    CHECK_EQ(deliver(peer, m_id(CH_SENDERS, K_WITHDRAW, 2)), 0);
    start_accept(&acc, l, wants_abc, CF_ACCEPT);
    finish(&acc);
    CHECK_EQ(acc.err, WSAEACCES);
    CHECK_EQ(queue_len(l), 0);

    TEST("twice: outbound accepted once, confirmed once");
    start_connect(&call, c, ip, 5000, NULL);
    CHECK(wait_sent(peer, K_REQUEST, 0, &req, DEADLINE_MS));
    id = be64(req.b + 2);
    CHECK_EQ(deliver(peer, m_accepted(id, "once")), 0);
    finish(&call);
    CHECK_EQ(call.rc, 0);
    CHECK(strcmp(call.callee, "once") == 0);
    let_courier_run();
    CHECK_EQ(count_sent(peer, K_CONFIRM, id), 1);
    /* The copy of ACCEPTED is recognised: ignored and counted, never answered. */
    CHECK_EQ(count_sent(peer, K_WITHDRAW, id), 0);
    h_close(c);

    TEST("twice: outbound refused once");
    c = h_socket();
    start_connect(&call, c, ip, 5001, NULL);
    CHECK(wait_sent(peer, K_REQUEST, 0, &req, DEADLINE_MS));
    id = be64(req.b + 2);
    CHECK_EQ(deliver(peer, m_refused(id, WSAECONNREFUSED)), 0);
    finish(&call);
    CHECK_EQ(call.err, WSAECONNREFUSED);
    let_courier_run();
    CHECK_EQ(count_sent(peer, K_CONFIRM, id), 1);
    CHECK_EQ(count_sent(peer, K_WITHDRAW, id), 0);
    /* the copies of the two requests, of ACCEPTED and of REFUSED */
    CHECK_EQ(fabric().stale_messages, before.stale_messages + 4);

    atomic_store(&twice, 0);
    CHECK_EQ(fabric().protocol_errors, before.protocol_errors); /* copies are not bad input */
    h_close(c);
    h_close(l);
    lose(peer);
}

/* wspsan_socket_set_context / get_context. */
static void test_context(void) {
    SOCKET s = h_socket();
    void *v = (void *)&v, *got = (void *)1;
    TEST("context");
    CHECK_OK(wspsan_socket_get_context(s, &got, &err));
    CHECK(got == NULL); /* NULL until set */
    CHECK_OK(wspsan_socket_set_context(s, v, &err));
    CHECK_OK(wspsan_socket_get_context(s, &got, &err));
    CHECK(got == v);
    CHECK_OK(wspsan_socket_set_context(s, NULL, &err));
    CHECK_OK(wspsan_socket_get_context(s, &got, &err));
    CHECK(got == NULL);
    CHECK_FAILS(wspsan_socket_get_context(s, NULL, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_socket_set_context((SOCKET)987654, v, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_socket_get_context((SOCKET)987654, &got, &err), WSAENOTSOCK);
    CHECK_FAILS(wspsan_socket_get_context(INVALID_SOCKET, &got, &err), WSAENOTSOCK);
    h_close(s);
    CHECK_FAILS(wspsan_socket_get_context(s, &got, &err), WSAENOTSOCK); /* K1: dead for good */
}

/* The fault knobs on the device's outgoing fabric messages. */
static void test_fault_knobs(void) {
    char ip[16];
    uint64_t peer = open_peer(ip);
    SOCKET c = h_socket();
    struct call call;
    WSPSAN_FABRIC_STATS before;

    TEST("knobs: arguments");
    CHECK_FAILS(wspsan_fabric_drop_next(99, 1, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_drop_next(-1, 1, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_delay(99, 0, 0, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_drop_probability(99, 0.5, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_duplicate_probability(99, 0.5, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_drop_probability(WSPSAN_MESSAGE_ANY, 2.0, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_drop_probability(WSPSAN_MESSAGE_ANY, -0.5, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_partition("bogus", ip, &err), WSAEINVAL);
    CHECK_FAILS(wspsan_fabric_partition(NULL, ip, &err), WSAEFAULT);
    CHECK_FAILS(wspsan_fabric_heal(OWN_NIC, NULL, &err), WSAEFAULT);
    CHECK_EQ(wspsan_fabric_clear_faults(NULL), SOCKET_ERROR);
    CHECK_OK(wspsan_fabric_reseed(42, &err));

    TEST("knobs: drop the next REQUEST -> the connect times out");
    before = fabric();
    CHECK_OK(wspsan_device_set_connect_timeout(300, &err));
    CHECK_OK(wspsan_fabric_drop_next(WSPSAN_MESSAGE_REQUEST, 1, &err));
    start_connect(&call, c, ip, 5000, NULL);
    finish(&call);
    CHECK_EQ(call.err, WSAETIMEDOUT);
    CHECK_EQ(fabric().faults.dropped, before.faults.dropped + 1);
    CHECK(!wait_sent(peer, K_REQUEST, 0, NULL, 50)); /* it never left */
    CHECK_OK(wspsan_device_set_connect_timeout(DEADLINE_MS, &err));

    TEST("knobs: duplicate every REQUEST");
    CHECK_OK(wspsan_fabric_duplicate_probability(WSPSAN_MESSAGE_REQUEST, 1.0, &err));
    atomic_store(&auto_answer, CF_ACCEPT + 1);
    start_connect(&call, c, ip, 5001, NULL);
    finish(&call);
    CHECK_EQ(call.rc, 0);
    let_courier_run();
    CHECK_EQ(fabric().faults.duplicated, before.faults.duplicated + 1);
    h_close(c);

    TEST("knobs: delay, then partition and heal");
    CHECK_OK(wspsan_fabric_clear_faults(&err));
    CHECK_OK(wspsan_fabric_delay(WSPSAN_MESSAGE_ANY, 1000, 2000, &err));
    c = h_socket();
    start_connect(&call, c, ip, 5002, NULL);
    finish(&call);
    CHECK_EQ(call.rc, 0);
    CHECK(fabric().faults.delayed > before.faults.delayed);
    h_close(c);
    CHECK_OK(wspsan_fabric_clear_faults(&err));
    CHECK_OK(wspsan_fabric_partition(OWN_NIC, ip, &err));
    CHECK_OK(wspsan_device_set_connect_timeout(300, &err));
    c = h_socket();
    start_connect(&call, c, ip, 5003, NULL);
    finish(&call);
    CHECK_EQ(call.err, WSAETIMEDOUT);
    CHECK(fabric().faults.partitioned > before.faults.partitioned);
    CHECK_OK(wspsan_fabric_heal(NULL, NULL, &err));
    CHECK_OK(wspsan_device_set_connect_timeout(DEADLINE_MS, &err));
    start_connect(&call, c, ip, 5004, NULL);
    finish(&call);
    CHECK_EQ(call.rc, 0);
    atomic_store(&auto_answer, 0);
    CHECK_OK(wspsan_fabric_reorder(0, &err));
    CHECK_OK(wspsan_fabric_clear_faults(&err));
    h_close(c);
    lose(peer);
}

int main(void) {
    int err = 0;
    alarm(120); /* the last resort against a hang */
    setenv("WSPSAN_NICS", OWN_NIC, 1);
    unsetenv("WSPSAN_FABRIC");
    test_install();
    /* a generous connect timeout: a connect nobody answers fails instead of hanging */
    if (wspsan_device_set_connect_timeout(DEADLINE_MS, &err) != 0)
        return 2;
    test_open_peer();
    test_bad_handles();
    test_malformed();
    test_send_fails();
    test_outbound();
    test_inbound();
    test_twice();
    test_context();
    test_fault_knobs();
    test_no_confirmation();
    TEST("the send callback got its context back");
    CHECK(atomic_load(&sends) > 0);
    CHECK_OK(wspsan_WSPCleanup(&err));
    return h_summary("test_own_transport");
}

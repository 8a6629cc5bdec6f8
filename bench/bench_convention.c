/*
 * bench/bench_convention.c - ens-bench base "convention": two systems of
 * one convention (A and B, both on this host) on a private nats-server
 * started for the group (tests/support/nats_server.h: a free loopback port,
 * stopped by pid at the end). Skipped, with a line on stderr, when
 * nats-server is not installed.
 *
 *  - remote_pingpong: a Pinger on A bounces an int64 off an Echo on B n
 *    times (timed inside the Pinger): us per round trip. Raw baseline in the
 *    same run: two forked plain-libnats clients bounce the same 72-byte frame
 *    with natsConnection_Request and a responder that publishes it back to
 *    the reply subject (both with SendAsap, the fastest way libnats has for
 *    one message at a time).
 *  - remote_throughput: a Producer on A sends n int64 messages to a Counter
 *    on B, which reports once it has them all: msgs/s from the first tell to
 *    the report. Raw baseline: a forked plain-libnats publisher sends the
 *    same frame n times (natsConnection_Publish, libnats's default buffered
 *    options) to a forked subscriber that counts them.
 *  - join: from ens_system_start with the convention until the new
 *    system's first ask to an Echo of B is answered (ens_system_start returns
 *    before the admin has forked the gateway); baseline: a start without a
 *    convention until the admin answers a status request.
 *  - name_register: a Registrar actor on A registers n fresh names one
 *    after the other with ens_name_register, giving each up again with
 *    ens_name_unregister before the next (an actor holds at most one name):
 *    each registration is one claim in the names bucket (kvStore_Create in
 *    the gateway, answered before ens_name_register returns) and one
 *    release (the delete at the claimed revision, which the gateway does
 *    before the next claim). Registrations/s, timed inside the Registrar.
 *    Baselines in the same run: the same on a system without a convention
 *    (base "process": the admin's table only), and a forked plain-libnats
 *    client doing the same two bucket operations (kvStore_Create, then the
 *    delete marker published with the expected last sequence) n times on a
 *    bucket of the same configuration.
 *  - name_lookup: the outside of B looks up a name held by an actor on A,
 *    n times (answered from B's cache of the bucket: us per lookup);
 *    baseline: a lookup of a local name on the system without a convention.
 *  - remote_spawn: A spawns from outside, n times, a definition that needs
 *    "gpu", which only B has (started with capabilities "gpu=1"): placed on
 *    B through both gateways, answered once its init ran there; each is
 *    asked to exit at once. spawns/s. Baseline in the same run: the same
 *    loop on A with a definition without requirements (a local spawn).
 *  - detect: a victim system is started in a forked child (its own process
 *    group) with the default heartbeat (500 ms) and down_after_ms (2000),
 *    joins, and its whole group (program, admin, gateway) is SIGKILLed: ms
 *    from the kill until a Detector actor on A receives "unreachable" for
 *    its node (stamped by the Detector with the monotonic clock), over n
 *    kills: the median and the 99th percentile (nearest rank).
 *
 * No libnats call runs in the ens-bench process itself: the raw clients are
 * forked children (libnats starts threads, and a program with threads must
 * not fork the admin of a system afterwards).
 */
#include "bench_convention.h"

#include <errno.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"
#include "support/nats_server.h"

#define CONV_WAIT_MS 60000u /* longest wait for any one reply or report */
#define CONV_MAILBOX 16384u
#define CONV_CHUNK   (256u * 1024u)
#define SERVER_START 30000

/* ---- message types and actors ------------------------------------------ */

/* Start a pinger or a producer (n messages to peer), or tell a counter how
 * many to expect (n). */
typedef struct {
    int64_t n;
    ens_addr peer;
} cstart_v;
static ens_msgtype cstart_t = {"bench.conv.Start", "S(I$(Uuu))", sizeof(cstart_v), 0, 0};
static ens_msgtype cgo_t = {"bench.conv.Go", "S(I)", sizeof(ens_int64_v), 0, 0};

static int echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    return v != NULL ? ens_reply(c, &ens_msg_int64, v) : 0;
}
static const ens_actor_def echo_def = {
    "bench.conv.Echo", 0, NULL, echo_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct {
    int64_t left;
    ens_addr peer, report;
    uint64_t t0;
} pinger_state;

static int pinger_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    pinger_state *ps = state;
    const cstart_v *s = ens_msg_value(m, &cstart_t);
    if (s != NULL) {
        ps->left = s->n;
        ps->peer = s->peer;
        ps->report = ens_sender(c);
        ps->t0 = bench_now_ns();
        return ens_send(c, ps->peer, &ens_msg_int64, &(ens_int64_v){ps->left});
    }
    if (ens_msg_value(m, &ens_msg_int64) == NULL)
        return 0;
    if (--ps->left > 0)
        return ens_send(c, ps->peer, &ens_msg_int64, &(ens_int64_v){ps->left});
    ens_int64_v dt = {(int64_t)(bench_now_ns() - ps->t0)};
    return ens_send(c, ps->report, &ens_msg_int64, &dt);
}
static const ens_actor_def pinger_def = {
    "bench.conv.Pinger", sizeof(pinger_state), NULL, pinger_receive, NULL, NULL, NULL, NULL, NULL};

/* Sends about CONV_CHUNK bytes of messages per handler call, then a Go to
 * itself (the runtime flushes between calls); on ENS_EFULL it retries the
 * same message after a 1 ms wake-up. */
typedef struct {
    int64_t left;
    ens_addr peer;
} producer_state;

static int producer_burst(ens_ctx *c, producer_state *ps)
{
    int64_t chunk = CONV_CHUNK / (64 + 8);
    for (int64_t i = 0; i < chunk && ps->left > 0; i++) {
        int rc = ens_send(c, ps->peer, &ens_msg_int64, &(ens_int64_v){ps->left});
        if (rc == ENS_EFULL)
            return ens_wakeup_after(c, 1, 0, NULL);
        if (rc < 0)
            return rc;
        ps->left--;
    }
    if (ps->left == 0)
        return 0;
    return ens_send(c, ens_self(c), &cgo_t, &(ens_int64_v){ps->left});
}

static int producer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    producer_state *ps = state;
    const cstart_v *s = ens_msg_value(m, &cstart_t);
    if (s != NULL) {
        ps->left = s->n;
        ps->peer = s->peer;
        return producer_burst(c, ps);
    }
    if (ens_msg_value(m, &cgo_t) != NULL || ens_msg_value(m, &ens_msg_wakeup) != NULL)
        return producer_burst(c, ps);
    return 0;
}
static const ens_actor_def producer_def = {"bench.conv.Producer",
                                           sizeof(producer_state),
                                           NULL,
                                           producer_receive,
                                           NULL,
                                           NULL,
                                           NULL,
                                           NULL,
                                           NULL};

/* Counts int64 messages; once it has the number a Start asked for (Start
 * and data come on different connections, in either order) it tells the
 * Start's sender the count. */
typedef struct {
    int64_t count, expected;
    ens_addr report;
} counter_state;

static int counter_check(ens_ctx *c, counter_state *cs)
{
    if (cs->expected == 0 || cs->count < cs->expected)
        return 0;
    ens_int64_v x = {cs->count};
    cs->count -= cs->expected;
    cs->expected = 0;
    return ens_send(c, cs->report, &ens_msg_int64, &x);
}

static int counter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    counter_state *cs = state;
    if (ens_msg_type_id(m) == ens_msg_int64.id) {
        cs->count++;
        return counter_check(c, cs);
    }
    const cstart_v *s = ens_msg_value(m, &cstart_t);
    if (s != NULL) {
        cs->expected = s->n;
        cs->report = ens_sender(c);
        return counter_check(c, cs);
    }
    return 0;
}
static const ens_actor_def counter_def = {"bench.conv.Counter",
                                          sizeof(counter_state),
                                          NULL,
                                          counter_receive,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL};

/* ---- systems ------------------------------------------------------------- */

static test_nats server;
static char conv_name[32];

static int conv_start_caps(const char *tag, bool convention, const char *caps, ens_system **s);

static int conv_start(const char *tag, bool convention, ens_system **s)
{
    return conv_start_caps(tag, convention, NULL, s);
}

static int conv_start_caps(const char *tag, bool convention, const char *caps, ens_system **s)
{
    char name[64];
    snprintf(name, sizeof(name), "ens-bench-%s-%d", tag, (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.mailbox_limit = CONV_MAILBOX;
    o.call_timeout_ms = CONV_WAIT_MS;
    o.log_level = ENS_LOG_ERROR;
    if (convention) {
        o.convention.servers = server.url;
        o.convention.name = conv_name;
        o.convention.capabilities = caps;
    }
    fflush(NULL); /* the admin is forked */
    return ens_system_start(&o, s);
}

static int listen_int64(ens_ctx *out, int64_t *value)
{
    ens_msg *m = NULL;
    int rc = ens_listen(out, CONV_WAIT_MS, &m);
    if (rc < 0)
        return rc;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    rc = v != NULL ? 0 : ENS_EBADTYPE;
    if (v != NULL)
        *value = v->value;
    ens_msg_free(m);
    return rc;
}

/* ---- the raw libnats baselines (in forked children) -------------------- */

/* The frame ensemble puts on the wire for an int64 message (72 bytes). */
static uint8_t *int64_frame(size_t *len)
{
    ens_frame_hdr h = {0};
    h.target = (ens_addr){16, 1, 0};
    h.sender = (ens_addr){17, 2, 0};
    h.attempt = 1;
    uint8_t *f = NULL;
    return ens__frame_build(&ens_msg_int64, &(ens_int64_v){42}, &h, 16u << 20, &f, len) < 0 ? NULL
                                                                                            : f;
}

static natsConnection *raw_connect(bool asap)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    if (natsOptions_Create(&o) != NATS_OK)
        return NULL;
    natsOptions_SetURL(o, server.url);
    if (asap)
        natsOptions_SetSendAsap(o, true);
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        nc = NULL;
    natsOptions_Destroy(o);
    return nc;
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static bool read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c += r;
        n -= (size_t)r;
    }
    return true;
}

static void reap(pid_t pid, bool kill_it)
{
    if (pid <= 0)
        return;
    if (kill_it)
        kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* Fork a child that runs body(arg, fd) and _exits; *fd is the parent's end
 * of a socketpair to it. */
static pid_t child(void (*body)(int fd, long n), long n, int *fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        body(sv[1], n);
        _exit(0);
    }
    close(sv[1]);
    *fd = sv[0];
    return pid;
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    (void)sub;
    (void)arg;
    const char *reply = natsMsg_GetReply(m);
    if (reply != NULL)
        natsConnection_Publish(nc, reply, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

/* The responder: answers every request on bench.rr until killed. */
static void responder_body(int fd, long n)
{
    (void)n;
    natsConnection *nc = raw_connect(true);
    natsSubscription *sub = NULL;
    char ok = nc != NULL &&
                      natsConnection_Subscribe(&sub, nc, "bench.rr", on_request, NULL) == NATS_OK &&
                      natsConnection_FlushTimeout(nc, SERVER_START) == NATS_OK
                  ? 'R'
                  : 'X';
    write_all(fd, &ok, 1);
    for (;;)
        pause(); /* killed by pid */
}

/* The requester: n round trips, then the elapsed ns (or -1). */
static void requester_body(int fd, long n)
{
    size_t len = 0;
    uint8_t *f = int64_frame(&len);
    natsConnection *nc = raw_connect(true);
    int64_t ns = -1;
    if (f != NULL && nc != NULL) {
        uint64_t t0 = bench_now_ns();
        long i = 0;
        for (; i < n; i++) {
            natsMsg *r = NULL;
            if (natsConnection_Request(&r, nc, "bench.rr", f, (int)len, CONV_WAIT_MS) != NATS_OK ||
                natsMsg_GetDataLength(r) != (int)len) {
                natsMsg_Destroy(r);
                break;
            }
            natsMsg_Destroy(r);
        }
        if (i == n)
            ns = (int64_t)(bench_now_ns() - t0);
    }
    write_all(fd, &ns, sizeof(ns));
    natsConnection_Destroy(nc);
    free(f);
}

/* us per raw round trip, or < 0. */
static double raw_roundtrip_us(long n)
{
    int rfd = -1, qfd = -1;
    pid_t r = child(responder_body, 0, &rfd);
    if (r < 0)
        return -1;
    char ok = 0;
    double us = -1;
    if (read_all(rfd, &ok, 1) && ok == 'R') {
        pid_t q = child(requester_body, n, &qfd);
        int64_t ns = -1;
        if (q > 0 && read_all(qfd, &ns, sizeof(ns)) && ns > 0)
            us = (double)ns / 1e3 / (double)n;
        if (q > 0) {
            close(qfd);
            reap(q, false);
        }
    }
    close(rfd);
    reap(r, true);
    return us;
}

typedef struct {
    long want, got;
    int fd;
} sink;

static void on_count(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    (void)nc;
    (void)sub;
    sink *k = arg;
    natsMsg_Destroy(m);
    if (++k->got == k->want)
        write_all(k->fd, &k->got, sizeof(k->got));
}

/* The subscriber: counts n messages on bench.tp, says "R" once subscribed
 * and the count once it has them all; killed by pid. */
static void subscriber_body(int fd, long n)
{
    static sink k;
    k = (sink){n, 0, fd};
    natsConnection *nc = raw_connect(false);
    natsSubscription *sub = NULL;
    bool up = nc != NULL && natsConnection_Subscribe(&sub, nc, "bench.tp", on_count, &k) == NATS_OK;
    if (up)
        natsSubscription_SetPendingLimits(sub, -1, -1);
    char ok = up && natsConnection_FlushTimeout(nc, SERVER_START) == NATS_OK ? 'R' : 'X';
    write_all(fd, &ok, 1);
    for (;;)
        pause();
}

/* The publisher: says "R" once connected, waits for a go byte, publishes n
 * frames and flushes. */
static void publisher_body(int fd, long n)
{
    size_t len = 0;
    uint8_t *f = int64_frame(&len);
    natsConnection *nc = raw_connect(false);
    char ok = f != NULL && nc != NULL ? 'R' : 'X', go = 0;
    write_all(fd, &ok, 1);
    if (ok == 'R' && read_all(fd, &go, 1)) {
        for (long i = 0; i < n; i++)
            if (natsConnection_Publish(nc, "bench.tp", f, (int)len) != NATS_OK)
                break;
        natsConnection_FlushTimeout(nc, CONV_WAIT_MS);
    }
    natsConnection_Destroy(nc);
    free(f);
}

/* msgs/s from the go to the subscriber's count, or < 0. */
static double raw_publish_rate(long n)
{
    int sfd = -1, pfd = -1;
    pid_t s = child(subscriber_body, n, &sfd);
    if (s < 0)
        return -1;
    double rate = -1;
    char ok = 0;
    if (read_all(sfd, &ok, 1) && ok == 'R') {
        pid_t p = child(publisher_body, n, &pfd);
        if (p > 0 && read_all(pfd, &ok, 1) && ok == 'R') {
            uint64_t t0 = bench_now_ns();
            long got = 0;
            write_all(pfd, "g", 1);
            if (read_all(sfd, &got, sizeof(got)) && got == n)
                rate = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
        }
        if (p > 0) {
            close(pfd);
            reap(p, false);
        }
    }
    close(sfd);
    reap(s, true);
    return rate;
}

/* ---- ensemble across two systems ----------------------------------------- */

static int pingpong_run(ens_ctx *out, ens_addr pinger, ens_addr echo, long n, double *us)
{
    cstart_v st = {n, echo};
    int rc = ens_send(out, pinger, &cstart_t, &st);
    int64_t ns = 0;
    if (rc == 0)
        rc = listen_int64(out, &ns);
    if (rc == 0)
        *us = (double)ns / 1e3 / (double)n;
    return rc;
}

static int tput_run(ens_ctx *out, ens_addr producer, ens_addr counter, long n, double *rate)
{
    uint64_t t0 = bench_now_ns();
    int rc = ens_send(out, counter, &cstart_t, &(cstart_v){n, ENS_ADDR_NONE});
    if (rc == 0)
        rc = ens_send(out, producer, &cstart_t, &(cstart_v){n, counter});
    int64_t got = 0;
    if (rc == 0)
        rc = listen_int64(out, &got);
    if (rc == ENS_ETIMEDOUT)
        fprintf(stderr,
                "ens-bench: remote_throughput: no report within %u ms: messages were "
                "lost between the systems\n",
                CONV_WAIT_MS);
    if (rc == 0 && got != n)
        rc = ENS_EIO;
    if (rc == 0)
        *rate = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
    return rc;
}

/* One figure: a warm-up at a tenth of n, then bench.runs recorded runs of
 * fn; printed, or reported as failed. */
typedef int (*run_fn)(long n, double *v, void *arg);

static void measure(const char *name, const char *base, long n, long payload, const char *unit,
                    run_fn fn, void *arg)
{
    bench_result r;
    bench_result_init(&r, name, base, n, payload, unit);
    double v = 0;
    int rc = fn(n / 10 > 0 ? n / 10 : 1, &v, arg);
    for (int i = 0; rc == 0 && i < bench.runs; i++)
        if ((rc = fn(n, &v, arg)) == 0)
            bench_add(&r, v);
    if (rc < 0)
        bench_fail(name, base, "a run", rc);
    else
        bench_print(&r);
}

typedef struct {
    ens_ctx *out;
    ens_addr a, b;
} pair;

static int run_pingpong(long n, double *v, void *arg)
{
    pair *p = arg;
    return pingpong_run(p->out, p->a, p->b, n, v);
}

static int run_tput(long n, double *v, void *arg)
{
    pair *p = arg;
    return tput_run(p->out, p->a, p->b, n, v);
}

static int run_raw_rr(long n, double *v, void *arg)
{
    (void)arg;
    *v = raw_roundtrip_us(n);
    return *v < 0 ? ENS_EIO : 0;
}

static int run_raw_pub(long n, double *v, void *arg)
{
    (void)arg;
    *v = raw_publish_rate(n);
    return *v < 0 ? ENS_EIO : 0;
}

/* ms from ens_system_start until the system answers: with the convention,
 * until the first ask from its outside to an Echo of a system already in
 * the convention (B) is answered (the gateway connected and subscribed, the
 * node found, one round trip); without, until the admin answers a status
 * request. */
typedef struct {
    bool convention;
    ens_addr echo;
} join_arg;

static int run_join(long n, double *v, void *arg)
{
    const join_arg *j = arg;
    double total = 0;
    for (long i = 0; i < n; i++) {
        ens_system *s = NULL;
        uint64_t t0 = bench_now_ns();
        int rc = conv_start(j->convention ? "join" : "solo", j->convention, &s);
        if (rc < 0)
            return rc;
        if (j->convention) {
            ens_msg *m = NULL;
            rc = ens_ask(ens_system_ctx(s), j->echo, &ens_msg_int64, &(ens_int64_v){1},
                         CONV_WAIT_MS, &m);
            ens_msg_free(m);
        } else {
            ens_status *st = NULL;
            rc = ens_system_status(s, CONV_WAIT_MS, &st);
            ens_status_free(st);
        }
        uint64_t dt = bench_now_ns() - t0;
        ens_system_close(s, 30000);
        if (rc < 0)
            return rc;
        total += (double)dt / 1e6;
    }
    *v = total / (double)n;
    return 0;
}

/* ---- remote spawn ------------------------------------------------------- */

static const char *const gpu_needed[] = {"gpu", NULL};
static const ens_actor_def gpu_def = {
    .name = "bench.conv.Gpu", .receive = echo_receive, .requirements = gpu_needed};

typedef struct {
    ens_ctx *out;
    const ens_actor_def *def;
    uint32_t node; /* where each must run */
} spawn_arg;

static int run_spawn(long n, double *v, void *arg)
{
    const spawn_arg *sa = arg;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        ens_addr a;
        int rc = ens_spawn(sa->out, sa->def, NULL, NULL, &a);
        if (rc < 0)
            return rc;
        if (a.node != sa->node)
            return ENS_EINVAL;
        ens_exit_request(sa->out, a);
    }
    *v = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
    return 0;
}

/* A places on B once it knows B's record (its gateway reports it within a
 * heartbeat or so of B's start): tried until then, at most CONV_WAIT_MS. */
static int wait_placeable(ens_ctx *out, uint32_t node)
{
    uint64_t end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    for (;;) {
        ens_addr a;
        int rc = ens_spawn(out, &gpu_def, NULL, NULL, &a);
        if (rc == 0) {
            ens_exit_request(out, a);
            return a.node == node ? 0 : ENS_EINVAL;
        }
        if (rc != ENS_ENOPLACE || bench_now_ns() > end)
            return rc;
        usleep(50000); /* nothing to wait on: the member view is the admin's */
    }
}

static void measure_spawn(ens_system *a, ens_system *b)
{
    ens_ctx *out = ens_system_ctx(a);
    uint32_t node_a = ens_self(out).node, node_b = ens_self(ens_system_ctx(b)).node;
    int rc = wait_placeable(out, node_b);
    if (rc < 0) {
        bench_fail("remote_spawn", "convention", "place on B", rc);
        return;
    }
    long n = bench_n(1000, 100);
    spawn_arg local = {out, &echo_def, node_a}, remote = {out, &gpu_def, node_b};
    measure("remote_spawn_local", "process", n, 0, "spawns/s", run_spawn, &local);
    measure("remote_spawn", "convention", n, 0, "spawns/s", run_spawn, &remote);
}

/* ---- names across the convention ------------------------------------------ */

/* On a Start {n}: n fresh names, each registered and given up again; reports
 * the ns it took, or a negative error code. */
static int registrar_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    int64_t *run = state;
    const cstart_v *s = ens_msg_value(m, &cstart_t);
    if (s == NULL)
        return 0;
    ++*run;
    int rc = 0;
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; rc == 0 && i < s->n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "bench.reg-%d-%lld-%lld", (int)getpid(), (long long)*run,
                 (long long)i);
        rc = ens_name_register(c, name);
        if (rc == 0)
            rc = ens_name_unregister(c);
    }
    ens_int64_v r = {rc < 0 ? rc : (int64_t)(bench_now_ns() - t0)};
    return ens_send(c, ens_sender(c), &ens_msg_int64, &r);
}
static const ens_actor_def registrar_def = {
    "bench.conv.Registrar", sizeof(int64_t), NULL, registrar_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct {
    ens_ctx *out;
    ens_addr registrar;
} reg_arg;

static int run_register(long n, double *v, void *arg)
{
    const reg_arg *r = arg;
    int rc = ens_send(r->out, r->registrar, &cstart_t, &(cstart_v){n, ENS_ADDR_NONE});
    int64_t ns = 0;
    if (rc == 0)
        rc = listen_int64(r->out, &ns);
    if (rc == 0 && ns <= 0)
        rc = ns < 0 ? (int)ns : ENS_EIO;
    if (rc == 0)
        *v = (double)n / ((double)ns / 1e9);
    return rc;
}

typedef struct {
    ens_ctx *out;
    const char *name;
    ens_addr holder;
} lookup_arg;

static int run_lookup(long n, double *v, void *arg)
{
    const lookup_arg *l = arg;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        ens_addr got = ENS_ADDR_NONE;
        int rc = ens_name_lookup(l->out, l->name, &got);
        if (rc < 0)
            return rc;
        if (!ens_addr_equal(got, l->holder))
            return ENS_EIO;
    }
    *v = (double)(bench_now_ns() - t0) / 1e3 / (double)n;
    return 0;
}

/* Until the outside of s finds name (the cache of the bucket filled), at
 * most CONV_WAIT_MS: 0 or the last error. */
static int await_name(ens_ctx *out, const char *name, ens_addr holder)
{
    uint64_t end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    for (;;) {
        ens_addr got = ENS_ADDR_NONE;
        int rc = ens_name_lookup(out, name, &got);
        if (rc == 0 && !ens_addr_equal(got, holder))
            rc = ENS_EIO;
        if (rc == 0 || bench_now_ns() >= end)
            return rc;
        usleep(1000); /* a poll with a deadline: the cache fills when the watch delivers */
    }
}

/* The raw client: its own bucket configured as the convention's names
 * bucket (history 1, entries republished), then n times a create of a fresh
 * key and the delete marker at the created revision. Writes the elapsed ns
 * (or -1). */
static void raw_names_body(int fd, long n)
{
    char bucket[64], source[96], live[96];
    snprintf(bucket, sizeof(bucket), "bench-raw-names-%d", (int)getpid());
    snprintf(source, sizeof(source), "$KV.%s.>", bucket);
    snprintf(live, sizeof(live), "ens-kv.%s.>", bucket);
    natsConnection *nc = raw_connect(true);
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    int64_t ns = -1;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = CONV_WAIT_MS;
    jsRePublish rp;
    jsRePublish_Init(&rp);
    rp.Source = source;
    rp.Destination = live;
    kvConfig c;
    kvConfig_Init(&c);
    c.Bucket = bucket;
    c.History = 1;
    c.RePublish = &rp;
    if (nc != NULL && natsConnection_JetStream(&js, nc, &o) == NATS_OK &&
        js_CreateKeyValue(&kv, js, &c) == NATS_OK) {
        uint64_t t0 = bench_now_ns();
        long i = 0;
        for (; i < n; i++) {
            char key[48], subject[160];
            snprintf(key, sizeof(key), "bench.reg-%ld", i);
            uint64_t rev = 0;
            if (kvStore_CreateString(&rev, kv, key, "ens:1/16") != NATS_OK)
                break;
            snprintf(subject, sizeof(subject), "$KV.%s.%s", bucket, key);
            natsMsg *m = NULL;
            jsPubAck *ack = NULL;
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.ExpectLastSubjectSeq = rev;
            natsStatus st = natsMsg_Create(&m, subject, NULL, NULL, 0);
            if (st == NATS_OK)
                st = natsMsgHeader_Set(m, "KV-Operation", "DEL");
            if (st == NATS_OK)
                st = js_PublishMsg(&ack, js, m, &po, NULL);
            jsPubAck_Destroy(ack);
            natsMsg_Destroy(m);
            if (st != NATS_OK)
                break;
        }
        if (i == n)
            ns = (int64_t)(bench_now_ns() - t0);
        js_DeleteKeyValue(js, bucket);
    }
    write_all(fd, &ns, sizeof(ns));
    if (kv != NULL)
        kvStore_Destroy(kv);
    if (js != NULL)
        jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static int run_raw_names(long n, double *v, void *arg)
{
    (void)arg;
    int fd = -1;
    pid_t p = child(raw_names_body, n, &fd);
    if (p < 0)
        return ENS_EIO;
    int64_t ns = -1;
    bool got = read_all(fd, &ns, sizeof(ns));
    close(fd);
    reap(p, !got);
    if (!got || ns <= 0)
        return ENS_EIO;
    *v = (double)n / ((double)ns / 1e9);
    return 0;
}

/* name_register and name_lookup: A and B of the convention, solo without. */
static void names_figures(ens_system *a, ens_system *b, ens_system *solo)
{
    reg_arg wide = {ens_system_ctx(a), ENS_ADDR_NONE},
            local = {ens_system_ctx(solo), ENS_ADDR_NONE};
    char held[64], own[64];
    snprintf(held, sizeof(held), "bench.held-%d", (int)getpid());
    snprintf(own, sizeof(own), "bench.own-%d", (int)getpid());
    lookup_arg remote = {ens_system_ctx(b), held, ENS_ADDR_NONE};
    lookup_arg here = {ens_system_ctx(solo), own, ENS_ADDR_NONE};
    int rc = ens_spawn(wide.out, &registrar_def, NULL, NULL, &wide.registrar);
    if (rc == 0)
        rc = ens_spawn(local.out, &registrar_def, NULL, NULL, &local.registrar);
    if (rc == 0)
        rc = ens_name_spawn(ens_system_ctx(a), held, &echo_def, NULL, NULL, &remote.holder);
    if (rc == 0)
        rc = ens_name_spawn(here.out, own, &echo_def, NULL, NULL, &here.holder);
    if (rc == 0)
        rc = await_name(remote.out, held, remote.holder);
    if (rc < 0) {
        bench_fail("name_register", "convention", "start the registrars and named actors", rc);
        return;
    }
    long n_reg = bench_n(2000, 200), n_look = bench_n(20000, 2000);
    measure("name_register_raw_nats", "raw", n_reg, 0, "names/s", run_raw_names, NULL);
    measure("name_register", "process", n_reg, 0, "names/s", run_register, &local);
    measure("name_register", "convention", n_reg, 0, "names/s", run_register, &wide);
    measure("name_lookup", "process", n_look, 0, "us/lookup", run_lookup, &here);
    measure("name_lookup", "convention", n_look, 0, "us/lookup", run_lookup, &remote);
}

/* ---- detection of a lost member ---------------------------------------- */

/* Subscribed to the convention's updates: keeps when it was told each
 * node joined and went unreachable (the last of each). Asked with an
 * int64 node, it answers "joined_ns unreachable_ns" of that node (0 when
 * not told). */
#define DETECT_NODES 64
typedef struct detector_state {
    uint32_t node[DETECT_NODES];
    uint64_t joined_ns[DETECT_NODES], down_ns[DETECT_NODES];
    int n;
} detector_state;

static int detector_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    return ens_convention_subscribe(c, true);
}

static int detector_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    detector_state *d = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        uint64_t now = bench_now_ns();
        int i = 0;
        while (i < d->n && d->node[i] != u->node)
            i++;
        if (i == d->n) {
            if (d->n == DETECT_NODES)
                return 0;
            d->node[d->n++] = u->node;
            d->joined_ns[i] = d->down_ns[i] = 0;
        }
        if (u->change == ENS_MEMBER_JOINED)
            d->joined_ns[i] = now;
        else if (u->change == ENS_MEMBER_UNREACHABLE)
            d->down_ns[i] = now;
        return 0;
    }
    const ens_int64_v *q = ens_msg_value(m, &ens_msg_int64);
    if (q == NULL)
        return 0;
    char text[64] = "0 0";
    for (int i = 0; i < d->n; i++)
        if (d->node[i] == (uint32_t)q->value)
            snprintf(text, sizeof(text), "%llu %llu", (unsigned long long)d->joined_ns[i],
                     (unsigned long long)d->down_ns[i]);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
}

static const ens_actor_def detector_def = {.name = "bench.conv.Detector",
                                           .state_size = sizeof(detector_state),
                                           .init = detector_init,
                                           .receive = detector_receive};

static void nap_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* What the Detector at d was told about node: false if it did not answer. */
static bool detector_ask(ens_ctx *out, ens_addr d, uint32_t node, uint64_t *joined, uint64_t *down)
{
    ens_msg *r = NULL;
    if (ens_ask(out, d, &ens_msg_int64, &(ens_int64_v){node}, CONV_WAIT_MS, &r) < 0)
        return false;
    const ens_string_v *t = ens_msg_value(r, &ens_msg_string);
    unsigned long long j = 0, dn = 0;
    bool ok = t != NULL && sscanf(t->text, "%llu %llu", &j, &dn) == 2;
    ens_msg_free(r);
    *joined = j;
    *down = dn;
    return ok;
}

/* One victim: started in a child of its own process group, joined (seen by
 * the Detector), SIGKILLed whole; ms until the Detector saw it unreachable,
 * or a negative error. */
static double detect_once(ens_ctx *out, ens_addr det, int i)
{
    int ready[2];
    if (pipe(ready) < 0)
        return ENS_EIO;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(ready[0]);
        close(ready[1]);
        return ENS_EAGAIN;
    }
    if (pid == 0) {
        setpgid(0, 0);
        close(ready[0]);
        char tag[32];
        snprintf(tag, sizeof(tag), "victim%d", i);
        ens_system *v = NULL;
        ens_addr a = ENS_ADDR_NONE;
        uint32_t node = 0;
        if (conv_start(tag, true, &v) == 0 &&
            ens_spawn(ens_system_ctx(v), &echo_def, NULL, NULL, &a) == 0)
            node = a.node;
        write_all(ready[1], &node, sizeof(node));
        for (;;)
            pause();
    }
    setpgid(pid, pid);
    close(ready[1]);
    uint32_t node = 0;
    bool got = read_all(ready[0], &node, sizeof(node));
    close(ready[0]);
    double ms = ENS_ETIMEDOUT;
    uint64_t joined = 0, down = 0, end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    while (got && node != 0 && bench_now_ns() < end &&
           detector_ask(out, det, node, &joined, &down) && joined == 0)
        nap_ms(20); /* the Detector's table offers nothing to wait on */
    uint64_t t0 = bench_now_ns();
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (joined == 0)
        return ENS_ETIMEDOUT;
    end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    while (bench_now_ns() < end && detector_ask(out, det, node, &joined, &down)) {
        if (down > t0) {
            ms = (double)(down - t0) / 1e6;
            break;
        }
        nap_ms(20);
    }
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure_detect(ens_system *a)
{
    ens_addr det;
    int rc = ens_spawn(ens_system_ctx(a), &detector_def, NULL, NULL, &det);
    if (rc < 0) {
        bench_fail("detect", "convention", "spawn the Detector", rc);
        return;
    }
    long n = bench_n(50, 5);
    double *ms = calloc((size_t)n, sizeof(*ms));
    if (ms == NULL) {
        bench_fail("detect", "convention", "memory", ENS_ENOMEM);
        return;
    }
    for (long i = 0; i < n; i++) {
        ms[i] = detect_once(ens_system_ctx(a), det, (int)i);
        if (ms[i] < 0) {
            bench_fail("detect", "convention", "a kill seen unreachable", (int)ms[i]);
            free(ms);
            return;
        }
    }
    qsort(ms, (size_t)n, sizeof(*ms), cmp_double);
    bench_result med, p99;
    bench_result_init(&med, "detect", "convention", n, 0, "ms (median of n kills)");
    bench_add(&med, ms[(n - 1) / 2]);
    bench_print(&med);
    long rank = (99 * n + 99) / 100; /* nearest rank */
    bench_result_init(&p99, "detect_p99", "convention", n, 0, "ms (p99 of n kills)");
    bench_add(&p99, ms[rank - 1]);
    bench_print(&p99);
    free(ms);
}

void bench_convention_group(void)
{
    if (test_nats_program() == NULL) {
        fprintf(stderr, "ens-bench: convention: skipped: nats-server is not installed "
                        "(scripts/deps.sh installs it)\n");
        return;
    }
    if (ens_msgtype_register(&cstart_t) < 0 || ens_msgtype_register(&cgo_t) < 0 ||
        ens_actor_register(&gpu_def) < 0) {
        bench_fail("convention", "convention", "register the message types", -1);
        return;
    }
    if (test_nats_start(&server, SERVER_START) < 0) {
        bench_fail("convention", "convention", "start nats-server", -1);
        return;
    }
    snprintf(conv_name, sizeof(conv_name), "bench%d", (int)getpid());
    ens_system *a = NULL, *b = NULL;
    int rc = conv_start("a", true, &a);
    if (rc == 0)
        rc = conv_start_caps("b", true, "gpu=1", &b);
    pair pp = {0}, tp = {0};
    if (rc == 0) {
        pp.out = tp.out = ens_system_ctx(a);
        rc = ens_spawn(ens_system_ctx(a), &pinger_def, NULL, NULL, &pp.a);
    }
    if (rc == 0)
        rc = ens_spawn(ens_system_ctx(b), &echo_def, NULL, NULL, &pp.b);
    if (rc == 0)
        rc = ens_spawn(ens_system_ctx(a), &producer_def, NULL, NULL, &tp.a);
    if (rc == 0)
        rc = ens_spawn(ens_system_ctx(b), &counter_def, NULL, NULL, &tp.b);
    if (rc < 0) {
        bench_fail("convention", "convention", "start systems A and B", rc);
    } else {
        long n_pp = bench_n(20000, 2000), n_tp = bench_n(1000000, 100000);
        measure("remote_pingpong_raw_nats", "raw", n_pp, 8, "us/roundtrip", run_raw_rr, NULL);
        measure("remote_pingpong", "convention", n_pp, 8, "us/roundtrip", run_pingpong, &pp);
        measure("remote_throughput_raw_nats", "raw", n_tp, 8, "msgs/s", run_raw_pub, NULL);
        measure("remote_throughput", "convention", n_tp, 8, "msgs/s", run_tput, &tp);
    }
    if (rc == 0) {
        long n_join = bench_n(10, 3);
        join_arg solo = {false, ENS_ADDR_NONE}, joined = {true, pp.b};
        measure("join", "process", n_join, 0, "ms/start", run_join, &solo);
        measure("join", "convention", n_join, 0, "ms/start", run_join, &joined);
    }
    if (rc == 0) {
        ens_system *solo = NULL;
        rc = conv_start("local", false, &solo);
        if (rc < 0)
            bench_fail("name_register", "process", "start a system without a convention", rc);
        else
            names_figures(a, b, solo);
        if (solo != NULL)
            ens_system_close(solo, 30000);
    }
    if (rc == 0)
        measure_spawn(a, b);
    if (rc == 0)
        measure_detect(a);
    if (a != NULL)
        ens_system_close(a, 30000);
    if (b != NULL)
        ens_system_close(b, 30000);
    test_nats_stop(&server);
}

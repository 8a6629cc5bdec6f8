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
 *  - name_register, name_lookup: bench/bench_convention_names.c.
 *  - remote_spawn: bench/bench_convention_spawn.c.
 *  - detect: bench/bench_convention_detect.c.
 *  - restart_across, heal: bench/bench_convention_loss.c.
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

#include "bench_convention_shared.h"
#include "bench_util.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"
#include "support/nats_server.h"

#define CONV_MAILBOX 16384u
#define CONV_CHUNK   (256u * 1024u)
#define SERVER_START 30000

/* ---- message types and actors ------------------------------------------ */

ens_msgtype conv_start_t = {"bench.conv.Start", "S(I$(Uuu))", sizeof(conv_start_v), 0, 0, NULL};
static ens_msgtype cgo_t = {"bench.conv.Go", "S(I)", sizeof(ens_int64_v), 0, 0, NULL};

int conv_echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    return v != NULL ? ens_reply(c, &ens_msg_int64, v) : 0;
}
const ens_actor_def conv_echo_def = {
    "bench.conv.Echo", 0, NULL, conv_echo_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct {
    int64_t left;
    ens_addr peer, report;
    uint64_t t0;
} pinger_state;

static int pinger_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    pinger_state *ps = state;
    const conv_start_v *s = ens_msg_value(m, &conv_start_t);
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
    const conv_start_v *s = ens_msg_value(m, &conv_start_t);
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
    const conv_start_v *s = ens_msg_value(m, &conv_start_t);
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

int conv_start(const char *tag, bool convention, ens_system **s)
{
    return conv_start_caps(tag, convention, NULL, s);
}

int conv_start_caps(const char *tag, bool convention, const char *caps, ens_system **s)
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

int conv_listen_int64(ens_ctx *out, int64_t *value)
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

natsConnection *conv_raw_connect(bool asap)
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

void conv_write_all(int fd, const void *p, size_t n)
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

bool conv_read_all(int fd, void *p, size_t n)
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

void conv_reap(pid_t pid, bool kill_it)
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
pid_t conv_child(void (*body)(int fd, long n), long n, int *fd)
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
    natsConnection *nc = conv_raw_connect(true);
    natsSubscription *sub = NULL;
    char ok = nc != NULL &&
                      natsConnection_Subscribe(&sub, nc, "bench.rr", on_request, NULL) == NATS_OK &&
                      natsConnection_FlushTimeout(nc, SERVER_START) == NATS_OK
                  ? 'R'
                  : 'X';
    conv_write_all(fd, &ok, 1);
    for (;;)
        pause(); /* killed by pid */
}

/* The requester: n round trips, then the elapsed ns (or -1). */
static void requester_body(int fd, long n)
{
    size_t len = 0;
    uint8_t *f = int64_frame(&len);
    natsConnection *nc = conv_raw_connect(true);
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
    conv_write_all(fd, &ns, sizeof(ns));
    natsConnection_Destroy(nc);
    free(f);
}

/* us per raw round trip, or < 0. */
static double raw_roundtrip_us(long n)
{
    int rfd = -1, qfd = -1;
    pid_t r = conv_child(responder_body, 0, &rfd);
    if (r < 0)
        return -1;
    char ok = 0;
    double us = -1;
    if (conv_read_all(rfd, &ok, 1) && ok == 'R') {
        pid_t q = conv_child(requester_body, n, &qfd);
        int64_t ns = -1;
        if (q > 0 && conv_read_all(qfd, &ns, sizeof(ns)) && ns > 0)
            us = (double)ns / 1e3 / (double)n;
        if (q > 0) {
            close(qfd);
            conv_reap(q, false);
        }
    }
    close(rfd);
    conv_reap(r, true);
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
        conv_write_all(k->fd, &k->got, sizeof(k->got));
}

/* The subscriber: counts n messages on bench.tp, says "R" once subscribed
 * and the count once it has them all; killed by pid. */
static void subscriber_body(int fd, long n)
{
    static sink k;
    k = (sink){n, 0, fd};
    natsConnection *nc = conv_raw_connect(false);
    natsSubscription *sub = NULL;
    bool up = nc != NULL && natsConnection_Subscribe(&sub, nc, "bench.tp", on_count, &k) == NATS_OK;
    if (up)
        natsSubscription_SetPendingLimits(sub, -1, -1);
    char ok = up && natsConnection_FlushTimeout(nc, SERVER_START) == NATS_OK ? 'R' : 'X';
    conv_write_all(fd, &ok, 1);
    for (;;)
        pause();
}

/* The publisher: says "R" once connected, waits for a go byte, publishes n
 * frames and flushes. */
static void publisher_body(int fd, long n)
{
    size_t len = 0;
    uint8_t *f = int64_frame(&len);
    natsConnection *nc = conv_raw_connect(false);
    char ok = f != NULL && nc != NULL ? 'R' : 'X', go = 0;
    conv_write_all(fd, &ok, 1);
    if (ok == 'R' && conv_read_all(fd, &go, 1)) {
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
    pid_t s = conv_child(subscriber_body, n, &sfd);
    if (s < 0)
        return -1;
    double rate = -1;
    char ok = 0;
    if (conv_read_all(sfd, &ok, 1) && ok == 'R') {
        pid_t p = conv_child(publisher_body, n, &pfd);
        if (p > 0 && conv_read_all(pfd, &ok, 1) && ok == 'R') {
            uint64_t t0 = bench_now_ns();
            long got = 0;
            conv_write_all(pfd, "g", 1);
            if (conv_read_all(sfd, &got, sizeof(got)) && got == n)
                rate = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
        }
        if (p > 0) {
            close(pfd);
            conv_reap(p, false);
        }
    }
    close(sfd);
    conv_reap(s, true);
    return rate;
}

/* ---- ensemble across two systems ----------------------------------------- */

static int pingpong_run(ens_ctx *out, ens_addr pinger, ens_addr echo, long n, double *us)
{
    conv_start_v st = {n, echo};
    int rc = ens_send(out, pinger, &conv_start_t, &st);
    int64_t ns = 0;
    if (rc == 0)
        rc = conv_listen_int64(out, &ns);
    if (rc == 0)
        *us = (double)ns / 1e3 / (double)n;
    return rc;
}

static int tput_run(ens_ctx *out, ens_addr producer, ens_addr counter, long n, double *rate)
{
    uint64_t t0 = bench_now_ns();
    int rc = ens_send(out, counter, &conv_start_t, &(conv_start_v){n, ENS_ADDR_NONE});
    if (rc == 0)
        rc = ens_send(out, producer, &conv_start_t, &(conv_start_v){n, counter});
    int64_t got = 0;
    if (rc == 0)
        rc = conv_listen_int64(out, &got);
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

void conv_measure(const char *name, const char *base, long n, long payload, const char *unit,
                  conv_run_fn fn, void *arg)
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

void bench_convention_group(void)
{
    if (test_nats_program() == NULL) {
        fprintf(stderr, "ens-bench: convention: skipped: nats-server is not installed "
                        "(scripts/deps.sh installs it)\n");
        return;
    }
    if (ens_msgtype_register(&conv_start_t) < 0 || ens_msgtype_register(&cgo_t) < 0 ||
        conv_spawn_register() < 0 || conv_loss_register() < 0) {
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
        rc = ens_spawn(ens_system_ctx(b), &conv_echo_def, NULL, NULL, &pp.b);
    if (rc == 0)
        rc = ens_spawn(ens_system_ctx(a), &producer_def, NULL, NULL, &tp.a);
    if (rc == 0)
        rc = ens_spawn(ens_system_ctx(b), &counter_def, NULL, NULL, &tp.b);
    if (rc < 0) {
        bench_fail("convention", "convention", "start systems A and B", rc);
    } else {
        long n_pp = bench_n(20000, 2000), n_tp = bench_n(1000000, 100000);
        conv_measure("remote_pingpong_raw_nats", "raw", n_pp, 8, "us/roundtrip", run_raw_rr, NULL);
        conv_measure("remote_pingpong", "convention", n_pp, 8, "us/roundtrip", run_pingpong, &pp);
        conv_measure("remote_throughput_raw_nats", "raw", n_tp, 8, "msgs/s", run_raw_pub, NULL);
        conv_measure("remote_throughput", "convention", n_tp, 8, "msgs/s", run_tput, &tp);
    }
    if (rc == 0) {
        long n_join = bench_n(10, 3);
        join_arg solo = {false, ENS_ADDR_NONE}, joined = {true, pp.b};
        conv_measure("join", "process", n_join, 0, "ms/start", run_join, &solo);
        conv_measure("join", "convention", n_join, 0, "ms/start", run_join, &joined);
    }
    /* The members that join and die come before the names figures: after
     * them (about 10 000 claims and as many deletes in the names bucket) a
     * joining member's gateway took about 14 s of CPU and loaded the server
     * meanwhile, so each kill took 25-30 s instead of about 3. */
    if (rc == 0)
        conv_detect_figures(a);
    if (rc == 0)
        conv_loss_figures(a);
    if (rc == 0) {
        ens_system *solo = NULL;
        rc = conv_start("local", false, &solo);
        if (rc < 0)
            bench_fail("name_register", "process", "start a system without a convention", rc);
        else
            conv_names_figures(a, b, solo);
        if (solo != NULL)
            ens_system_close(solo, 30000);
    }
    if (rc == 0)
        conv_spawn_figures(a, b);
    if (a != NULL)
        ens_system_close(a, 30000);
    if (b != NULL)
        ens_system_close(b, 30000);
    test_nats_stop(&server);
}

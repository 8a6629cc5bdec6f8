/*
 * bench/ens_bench.c - ens-bench, the benchmarks of issue 4.
 *
 * Usage: ens-bench [--quick] [--only NAME]
 *   NAME: pingpong, ask, throughput, spawn, memory, recovery, journal, troupe,
 *         admin_scaling (bench/bench_admin.c), convention (bench/bench_convention*.c),
 *         supervisor (bench/bench_supervisor.c)
 * Prints one JSON object per line on stdout (diagnostics go to stderr):
 *   {"bench", "base", "n", "payload", "value", "unit", "runs", "min",
 *    "median", "max"}   value = median of the recorded runs.
 * Every result is one unrecorded warm-up run (a tenth of n) then 5 runs
 * (3 with --quick, and smaller n). The raw baselines of each benchmark run
 * in the same invocation, right beside it, so ratios hold on a noisy host.
 * The troupe benchmark lives in bench/bench_troupe.c (its lines carry an
 * extra "workers" field).
 * BENCHMARKS.md says what each figure means.
 *
 * Back-pressure in `throughput`: a producer sends CHUNK_BYTES worth of
 * messages per handler call, then sends itself a bench.Go message to go on
 * in a later loop turn (so its outgoing buffer is flushed between chunks).
 * If ens_send answers ENS_EFULL (the consumer's connection holds
 * mailbox_limit frames not yet taken), the producer stops the chunk there
 * and asks for a wake-up 1 ms later instead, retrying the same message.
 *
 * Every system is shut down and every forked child reaped before the
 * program ends, also when a benchmark fails.
 */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_admin.h"
#include "bench_convention.h"
#include "bench_raw.h"
#include "bench_spin.h"
#include "bench_supervisor.h"
#include "bench_troupe.h"
#include "bench_util.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"

#define WAIT_MS       120000u /* longest wait for any one reply */
#define MAILBOX_LIMIT 16384u  /* frames waiting per destination before ENS_EFULL */
#define CHUNK_BYTES   (256u * 1024u)
#define MAX_PRODUCERS 4

/* ---- message types --------------------------------------------------------- */

/* Start a pinger or a producer (n messages of payload bytes to peer), or
 * tell a counter how many messages to expect (n). */
typedef struct {
    int64_t n;
    int64_t payload;
    ens_addr peer;
} start_v;
static ens_msgtype start_t = {"bench.Start", "S(II$(Uuu))", sizeof(start_v), 0, 0, NULL};

/* A producer's note to itself: go on with the next chunk. */
static ens_msgtype go_t = {"bench.Go", "S(I)", sizeof(ens_int64_v), 0, 0, NULL};

/* ---- actors ------------------------------------------------------------------ */

/* echo: replies with the message it got (int64 or bytes). The ponger of
 * pingpong and the target of ask. */
static int echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v != NULL)
        return ens_reply(c, &ens_msg_int64, v);
    const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
    if (b != NULL)
        return ens_reply(c, &ens_msg_bytes, b);
    return 0;
}
const ens_actor_def echo_def = {"bench.Echo", 0, NULL, echo_receive, NULL, NULL, NULL, NULL, NULL};

/* hello: replies to an int64 with its process id (spawn, memory). */
static int hello_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    if (ens_msg_value(m, &ens_msg_int64) == NULL)
        return 0;
    ens_int64_v pid = {(int64_t)getpid()};
    return ens_reply(c, &ens_msg_int64, &pid);
}
static const ens_actor_def hello_def = {"bench.Hello", 0,    NULL, hello_receive, NULL,
                                        NULL,          NULL, NULL, NULL};

/* pinger: on Start{n, peer} bounces an int64 off peer n times, then tells
 * the starter the elapsed nanoseconds (timed inside the actor). */
typedef struct {
    int64_t left;
    ens_addr peer, report;
    uint64_t t0;
} pinger_state;

static int pinger_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    pinger_state *ps = state;
    const start_v *s = ens_msg_value(m, &start_t);
    if (s != NULL) {
        ps->left = s->n;
        ps->peer = s->peer;
        ps->report = ens_sender(c);
        ps->t0 = bench_now_ns();
        ens_int64_v x = {ps->left};
        return ens_send(c, ps->peer, &ens_msg_int64, &x);
    }
    if (ens_msg_value(m, &ens_msg_int64) == NULL)
        return 0;
    if (--ps->left > 0) {
        ens_int64_v x = {ps->left};
        return ens_send(c, ps->peer, &ens_msg_int64, &x);
    }
    ens_int64_v dt = {(int64_t)(bench_now_ns() - ps->t0)};
    return ens_send(c, ps->report, &ens_msg_int64, &dt);
}
const ens_actor_def pinger_def = {
    "bench.Pinger", sizeof(pinger_state), NULL, pinger_receive, NULL, NULL, NULL, NULL, NULL};

/* producer: on Start{n, payload, peer} sends n messages to peer (int64 when
 * payload is 8, else bytes of that size), a chunk per handler call. */
typedef struct {
    int64_t left;
    int64_t payload;
    ens_addr peer;
    uint8_t *buf;
    size_t buf_len;
} producer_state;

static int producer_burst(ens_ctx *c, producer_state *ps)
{
    size_t frame = 64 + (size_t)ps->payload; /* 64-byte header + payload */
    int64_t chunk = (int64_t)(CHUNK_BYTES / frame);
    if (chunk < 1)
        chunk = 1; /* a message above a chunk goes alone */
    ens_bytes_v b = {{ps->buf, (uint32_t)ps->payload}};
    bool full = false;
    for (int64_t i = 0; i < chunk && ps->left > 0; i++) {
        int rc;
        if (ps->payload == 8) {
            ens_int64_v x = {ps->left};
            rc = ens_send(c, ps->peer, &ens_msg_int64, &x);
        } else {
            rc = ens_send(c, ps->peer, &ens_msg_bytes, &b);
        }
        if (rc == ENS_EFULL) {
            full = true;
            break;
        }
        if (rc < 0)
            return rc;
        ps->left--;
    }
    if (ps->left == 0)
        return 0;
    if (full)
        return ens_wakeup_after(c, 1, 0, NULL);
    ens_int64_v go = {ps->left};
    return ens_send(c, ens_self(c), &go_t, &go);
}

static int producer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    producer_state *ps = state;
    const start_v *s = ens_msg_value(m, &start_t);
    if (s != NULL) {
        ps->left = s->n;
        ps->payload = s->payload;
        ps->peer = s->peer;
        if (ps->buf_len < (size_t)s->payload) {
            uint8_t *nb = realloc(ps->buf, (size_t)s->payload);
            if (nb == NULL)
                return ENS_ENOMEM;
            memset(nb, 0xa5, (size_t)s->payload);
            ps->buf = nb;
            ps->buf_len = (size_t)s->payload;
        }
        return producer_burst(c, ps);
    }
    if (ens_msg_value(m, &go_t) != NULL || ens_msg_value(m, &ens_msg_wakeup) != NULL)
        return producer_burst(c, ps);
    return 0;
}

static void producer_terminate(ens_ctx *c, void *state, int reason)
{
    (void)c;
    (void)reason;
    free(((producer_state *)state)->buf);
}
static const ens_actor_def producer_def = {"bench.Producer",
                                           sizeof(producer_state),
                                           NULL,
                                           producer_receive,
                                           producer_terminate,
                                           NULL,
                                           NULL,
                                           NULL,
                                           NULL};

/* counter: counts int64 and bytes messages; once it has the number a
 * Start{n} asked for (Start and data may arrive in either order: they come
 * on different connections), it tells the Start's sender the count. */
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
    uint32_t id = ens_msg_type_id(m);
    if (id == ens_msg_int64.id || id == ens_msg_bytes.id) {
        cs->count++;
        return counter_check(c, cs);
    }
    const start_v *s = ens_msg_value(m, &start_t);
    if (s != NULL) {
        cs->expected = s->n;
        cs->report = ens_sender(c);
        return counter_check(c, cs);
    }
    return 0;
}
static const ens_actor_def counter_def = {
    "bench.Counter", sizeof(counter_state), NULL, counter_receive, NULL, NULL, NULL, NULL, NULL};

/* victim (recovery): int64 0 -> replies with its pid; int64 1 -> on
 * attempt 1 raises the shared flag and blocks until killed, on the
 * redelivery (attempt 2) replies with the attempt. */
static volatile uint32_t *in_handler; /* shared page, mapped before any system */

static int victim_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v == NULL)
        return 0;
    if (v->value == 0) {
        ens_int64_v pid = {(int64_t)getpid()};
        return ens_reply(c, &ens_msg_int64, &pid);
    }
    if (ens_msg_attempt(m) == 1) {
        *in_handler = 1;
        syscall(SYS_futex, (uint32_t *)in_handler, FUTEX_WAKE, 1, NULL, NULL, 0);
        for (;;)
            pause(); /* until ens-bench kills this process */
    }
    ens_int64_v a = {(int64_t)ens_msg_attempt(m)};
    return ens_reply(c, &ens_msg_int64, &a);
}
static const ens_actor_def victim_def = {"bench.Victim", 0,    NULL, victim_receive, NULL, NULL,
                                         NULL,           NULL, NULL};

/* ---- systems ------------------------------------------------------------------ */

static const char *base_name(ens_base b)
{
    return b == ENS_BASE_PROCESS ? "process" : "inproc";
}

static ens_system *sys_start(ens_base base)
{
    static char name[64];
    snprintf(name, sizeof(name), "ens-bench-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = ""; /* measured on its own (bench_journal) */
    o.base = base;
    o.mailbox_limit = MAILBOX_LIMIT;
    o.call_timeout_ms = WAIT_MS;
    o.log_level = ENS_LOG_ERROR;
    /* ENS_BENCH_SPIN_US: the spin before sleep for a whole run (an A/B of
     * the default; the spin group sets its own). */
    const char *spin = getenv("ENS_BENCH_SPIN_US");
    if (spin != NULL)
        o.spin_us = (uint32_t)strtoul(spin, NULL, 10);
    ens_system *s = NULL;
    fflush(NULL); /* the admin is forked */
    int rc = ens_system_start(&o, &s);
    if (rc < 0) {
        bench_fail("system", base_name(base), "ens_system_start", rc);
        return NULL;
    }
    return s;
}

static void sys_stop(ens_system *s)
{
    int rc = ens_system_close(s, 30000);
    if (rc < 0)
        bench_fail("system", "-", "ens_system_close", rc);
}

/* Wait for the next int64 told to the outside; its value, or < 0. */
static int listen_int64(ens_ctx *out, int64_t *value)
{
    ens_msg *m = NULL;
    int rc = ens_listen(out, WAIT_MS, &m);
    if (rc < 0)
        return rc;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    rc = v != NULL ? 0 : ENS_EBADTYPE;
    if (v != NULL)
        *value = v->value;
    ens_msg_free(m);
    return rc;
}

/* ---- the frames everything exchanges ---------------------------------------- */

/* The frame ensemble puts on the wire for payload bytes (int64 when 8):
 * the raw baselines move exactly these bytes. Caller frees. */
uint8_t *sample_frame(long payload, size_t *len)
{
    uint8_t *data = calloc(1, (size_t)payload);
    if (data == NULL)
        return NULL;
    ens_frame_hdr h = {0};
    h.target = (ens_addr){16, 1, 0};
    h.sender = (ens_addr){17, 1, 0};
    h.attempt = 1;
    ens_int64_v x = {42};
    ens_bytes_v b = {{data, (uint32_t)payload}};
    uint8_t *f = NULL;
    int rc = payload == 8 ? ens__frame_build(&ens_msg_int64, &x, &h, 16u << 20, &f, len)
                          : ens__frame_build(&ens_msg_bytes, &b, &h, 16u << 20, &f, len);
    free(data);
    return rc < 0 ? NULL : f;
}

/* ---- 1. pingpong ------------------------------------------------------------- */

int pingpong_run(ens_ctx *out, ens_addr pinger, ens_addr ponger, long n, double *us)
{
    start_v s = {n, 8, ponger};
    int rc = ens_send(out, pinger, &start_t, &s);
    int64_t ns = 0;
    if (rc == 0)
        rc = listen_int64(out, &ns);
    if (rc == 0)
        *us = (double)ns / 1e3 / (double)n;
    return rc;
}

static void bench_pingpong_base(ens_base base, long n)
{
    ens_system *s = sys_start(base);
    if (s == NULL)
        return;
    ens_ctx *out = ens_system_ctx(s);
    ens_addr pinger, ponger;
    bench_result r;
    bench_result_init(&r, "pingpong", base_name(base), n, 8, "us/roundtrip");
    double us;
    int rc = ens_spawn(out, &pinger_def, NULL, NULL, &pinger);
    if (rc == 0)
        rc = ens_spawn(out, &echo_def, NULL, NULL, &ponger);
    if (rc == 0)
        rc = pingpong_run(out, pinger, ponger, n / 10, &us); /* warm-up */
    for (int i = 0; rc == 0 && i < bench.runs; i++)
        if ((rc = pingpong_run(out, pinger, ponger, n, &us)) == 0)
            bench_add(&r, us);
    if (rc < 0)
        bench_fail("pingpong", r.base, "a run", rc);
    else
        bench_print(&r);
    sys_stop(s);
}

/* The raw round trip over a socketpair with the frames pingpong and ask
 * exchange (an int64 message), reported under `name`. */
static void bench_raw_roundtrip(const char *name, long n)
{
    size_t len = 0;
    uint8_t *f = sample_frame(8, &len);
    bench_result r;
    bench_result_init(&r, name, "raw", n, 8, "us/roundtrip");
    double us = f != NULL ? raw_pingpong_us(f, len, n / 10) : -1;
    for (int i = 0; us >= 0 && i < bench.runs; i++)
        if ((us = raw_pingpong_us(f, len, n)) >= 0)
            bench_add(&r, us);
    if (us < 0)
        bench_fail(name, "raw", "socketpair round trip", 0);
    else
        bench_print(&r);
    free(f);
}

static void group_pingpong(void)
{
    long n = bench_n(100000, 5000);
    bench_pingpong_base(ENS_BASE_PROCESS, n);
    bench_pingpong_base(ENS_BASE_INPROC, n);
    bench_raw_roundtrip("pingpong", n);
}

/* ---- 2. ask -------------------------------------------------------------------- */

static int ask_run(ens_ctx *out, ens_addr echo, long n, double *us)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        ens_int64_v x = {i};
        ens_msg *m = NULL;
        int rc = ens_ask(out, echo, &ens_msg_int64, &x, WAIT_MS, &m);
        if (rc < 0) {
            ens_msg_free(m); /* an error reply, if one came */
            return rc;
        }
        const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
        rc = v != NULL && v->value == i ? 0 : ENS_EBADTYPE;
        ens_msg_free(m);
        if (rc < 0)
            return rc;
    }
    *us = (double)(bench_now_ns() - t0) / 1e3 / (double)n;
    return 0;
}

static void bench_ask_base(ens_base base, long n)
{
    ens_system *s = sys_start(base);
    if (s == NULL)
        return;
    ens_ctx *out = ens_system_ctx(s);
    ens_addr echo;
    bench_result r;
    bench_result_init(&r, "ask", base_name(base), n, 8, "us/roundtrip");
    double us;
    int rc = ens_spawn(out, &echo_def, NULL, NULL, &echo);
    if (rc == 0)
        rc = ask_run(out, echo, n / 10, &us);
    for (int i = 0; rc == 0 && i < bench.runs; i++)
        if ((rc = ask_run(out, echo, n, &us)) == 0)
            bench_add(&r, us);
    if (rc < 0)
        bench_fail("ask", r.base, "a run", rc);
    else
        bench_print(&r);
    sys_stop(s);
}

static void group_ask(void)
{
    long n = bench_n(20000, 2000);
    bench_ask_base(ENS_BASE_PROCESS, n);
    bench_ask_base(ENS_BASE_INPROC, n);
    bench_raw_roundtrip("ask", n);
}

/* ---- 3. throughput ------------------------------------------------------------ */

/* One run: the counter is told to expect n, each producer to send its
 * share; timed from the first tell to the counter's report. */
static int tput_run(ens_ctx *out, ens_addr counter, const ens_addr *prod, int np, long n,
                    long payload, double *rate)
{
    uint64_t t0 = bench_now_ns();
    start_v e = {n, 0, ENS_ADDR_NONE};
    int rc = ens_send(out, counter, &start_t, &e);
    for (int i = 0; rc == 0 && i < np; i++) {
        start_v s = {n / np + (i < n % np ? 1 : 0), payload, counter};
        rc = ens_send(out, prod[i], &start_t, &s);
    }
    int64_t got = 0;
    if (rc == 0)
        rc = listen_int64(out, &got);
    if (rc == 0 && got != n) {
        fprintf(stderr, "ens-bench: throughput: counted %lld of %ld\n", (long long)got, n);
        rc = ENS_EIO;
    }
    if (rc == 0)
        *rate = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
    return rc;
}

/* Returns the median msgs/s, -1 if it could not run. */
static double bench_tput_base(const char *name, ens_base base, int np, long n, long payload)
{
    ens_system *s = sys_start(base);
    if (s == NULL)
        return -1;
    ens_ctx *out = ens_system_ctx(s);
    ens_addr counter, prod[MAX_PRODUCERS];
    bench_result r;
    bench_result_init(&r, name, base_name(base), n, payload, "msgs/s");
    int rc = ens_spawn(out, &counter_def, NULL, NULL, &counter);
    for (int i = 0; rc == 0 && i < np; i++)
        rc = ens_spawn(out, &producer_def, NULL, NULL, &prod[i]);
    double rate;
    if (rc == 0)
        rc = tput_run(out, counter, prod, np, n / 10, payload, &rate);
    for (int i = 0; rc == 0 && i < bench.runs; i++)
        if ((rc = tput_run(out, counter, prod, np, n, payload, &rate)) == 0)
            bench_add(&r, rate);
    if (rc < 0)
        bench_fail(name, r.base, "a run", rc);
    else
        bench_print(&r);
    sys_stop(s);
    return rc < 0 ? -1 : bench_median(&r);
}

/* Raw: the same frames over AF_UNIX, one write() each or 64 KiB writes. */
static double bench_tput_raw(const char *name, long n, long payload, int batch)
{
    size_t len = 0;
    uint8_t *f = sample_frame(payload, &len);
    bench_result r;
    bench_result_init(&r, name, "raw", n, payload, "msgs/s");
    double v = f != NULL ? raw_stream_msgs(f, len, n / 10, batch) : -1;
    for (int i = 0; v >= 0 && i < bench.runs; i++)
        if ((v = raw_stream_msgs(f, len, n, batch)) >= 0)
            bench_add(&r, v);
    if (v < 0)
        bench_fail(name, "raw", "socketpair stream", 0);
    else
        bench_print(&r);
    free(f);
    return v < 0 ? -1 : bench_median(&r);
}

/* Codec: encode + decode (+ free) of the same message, one loop, no I/O. */
static double codec_run(long n, long payload)
{
    uint8_t *data = calloc(1, (size_t)payload);
    if (data == NULL)
        return -1;
    ens_frame_hdr h = {0};
    h.target = (ens_addr){16, 1, 0};
    h.sender = (ens_addr){17, 1, 0};
    h.attempt = 1;
    ens_bytes_v b = {{data, (uint32_t)payload}};
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        ens_int64_v x = {i};
        uint8_t *f = NULL;
        size_t len = 0;
        ens_msg *m = NULL;
        int rc = payload == 8 ? ens__frame_build(&ens_msg_int64, &x, &h, 16u << 20, &f, &len)
                              : ens__frame_build(&ens_msg_bytes, &b, &h, 16u << 20, &f, &len);
        if (rc < 0 || ens__msg_from_frame(f, len, 16u << 20, &m) < 0) {
            free(data);
            return -1;
        }
        ens_msg_free(m);
    }
    free(data);
    return (double)n / ((double)(bench_now_ns() - t0) / 1e9);
}

static double bench_tput_codec(long n, long payload)
{
    bench_result r;
    bench_result_init(&r, "throughput_codec", "raw", n, payload, "msgs/s");
    double v = codec_run(n / 10, payload);
    for (int i = 0; v >= 0 && i < bench.runs; i++)
        if ((v = codec_run(n, payload)) >= 0)
            bench_add(&r, v);
    if (v < 0)
        bench_fail("throughput_codec", "raw", "encode/decode", 0);
    else
        bench_print(&r);
    return v < 0 ? -1 : bench_median(&r);
}

/* A ratio of two medians of this run, as its own line (unit "ratio"). */
static void print_ratio(const char *name, const char *base, long n, long payload, double num,
                        double den)
{
    if (num < 0 || den <= 0)
        return;
    bench_result r;
    bench_result_init(&r, name, base, n, payload, "ratio");
    bench_add(&r, num / den);
    bench_print(&r);
}

static long one_payload; /* --payload: throughput at this size only (0: all) */

static void group_throughput(void)
{
    long n = bench_n(2000000, 200000);
    static const long payloads[] = {8, 64, 4096, 65536, 1048576};
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        long p = one_payload != 0 ? one_payload : payloads[i];
        if (one_payload != 0 && i > 0)
            break;
        /* From 4 KiB on, about 800 MB in a full run (a tenth with --quick). */
        long np = p >= 4096 ? (long)((double)n * 410.0 / (double)p) : n;
        double proc = bench_tput_base("throughput", ENS_BASE_PROCESS, 1, np, p);
        double inproc = bench_tput_base("throughput", ENS_BASE_INPROC, 1, np, p);
        bench_tput_raw("throughput_raw_write", np / 10, p, 0); /* one syscall each: slow */
        double batch = bench_tput_raw("throughput_raw_batch", np, p, 1);
        double codec = bench_tput_codec(np / 4, p);
        /* The ceiling a base can reach: encode + decode with no transport
         * (its baseline moves with the machine as ensemble does). */
        print_ratio("throughput_of_codec", "process", np, p, proc, codec);
        print_ratio("throughput_of_codec", "inproc", np, p, inproc, codec);
        print_ratio("throughput_of_raw_batch", "process", np, p, proc, batch);
    }
    if (one_payload != 0)
        return;
    bench_tput_base("throughput_4p", ENS_BASE_PROCESS, 4, n, 8);
    bench_tput_base("throughput_4p", ENS_BASE_INPROC, 4, n, 8);
}

/* ---- 4. spawn ------------------------------------------------------------------ */

/* Spawn n hello actors from outside, tell each an int64, collect n
 * replies. *pids (n entries, may be NULL) receives their process ids. */
static int spawn_hellos(ens_ctx *out, long n, int64_t *pids)
{
    ens_addr a;
    for (long i = 0; i < n; i++) {
        ens_int64_v x = {i};
        int rc = ens_spawn(out, &hello_def, NULL, NULL, &a);
        if (rc == 0)
            rc = ens_send(out, a, &ens_msg_int64, &x);
        if (rc < 0)
            return rc;
    }
    for (long i = 0; i < n; i++) {
        int64_t pid;
        int rc = listen_int64(out, &pid);
        if (rc < 0)
            return rc;
        if (pids != NULL)
            pids[i] = pid;
    }
    return 0;
}

/* One at a time: spawn a hello actor (connected to us at once:
 * ENS_SPAWN_CONNECT), tell it an int64, wait for its reply, then the next;
 * every actor stays alive. */
static int spawn_one_each(ens_ctx *out, long n)
{
    ens_addr a;
    for (long i = 0; i < n; i++) {
        ens_int64_v x = {i};
        int64_t pid;
        int rc = ens_spawn_flags(out, &hello_def, NULL, NULL, ENS_SPAWN_CONNECT, &a);
        if (rc == 0)
            rc = ens_send(out, a, &ens_msg_int64, &x);
        if (rc == 0)
            rc = listen_int64(out, &pid);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* All at once: one ens_spawn_many of n hello actors (ENS_SPAWN_CONNECT),
 * then an int64 told to each and the n replies collected. */
static int spawn_batch(ens_ctx *out, long n)
{
    ens_addr *a = calloc((size_t)n, sizeof(*a));
    if (a == NULL)
        return ENS_ENOMEM;
    int rc = ens_spawn_many(out, &hello_def, NULL, NULL, ENS_SPAWN_CONNECT, (size_t)n, a, NULL);
    if (rc >= 0 && rc != n)
        rc = ENS_EIO;
    for (long i = 0; rc >= 0 && i < n; i++) {
        ens_int64_v x = {i};
        rc = ens_send(out, a[i], &ens_msg_int64, &x);
    }
    for (long i = 0; rc >= 0 && i < n; i++) {
        int64_t pid;
        rc = listen_int64(out, &pid);
    }
    free(a);
    return rc < 0 ? rc : 0;
}

/* One run: a fresh system, n actors spawned and heard from (one at a time,
 * or in one batch); the shutdown is not timed. */
static int spawn_run(ens_base base, long n, bool batch, double *rate)
{
    ens_system *s = sys_start(base);
    if (s == NULL)
        return ENS_EIO;
    uint64_t t0 = bench_now_ns();
    int rc = batch ? spawn_batch(ens_system_ctx(s), n) : spawn_one_each(ens_system_ctx(s), n);
    uint64_t dt = bench_now_ns() - t0;
    sys_stop(s);
    if (rc == 0)
        *rate = (double)n / ((double)dt / 1e9);
    return rc;
}

static void bench_spawn_base(const char *name, ens_base base, long n, bool batch)
{
    bench_result r;
    bench_result_init(&r, name, base_name(base), n, 0, "actors/s");
    double rate;
    int rc = spawn_run(base, n / 10, batch, &rate);
    for (int i = 0; rc == 0 && i < bench.runs; i++)
        if ((rc = spawn_run(base, n, batch, &rate)) == 0)
            bench_add(&r, rate);
    if (rc < 0)
        bench_fail(name, r.base, "a run", rc);
    else
        bench_print(&r);
}

/* The raw child start answering one message (bench_raw.c): pipelined or not. */
static void bench_spawn_raw(const char *name, long n, int pipelined)
{
    bench_result r;
    bench_result_init(&r, name, "raw", n, RAW_REPLY_BYTES, "procs/s");
    double v = raw_reply_spawn_rate(n / 10, pipelined);
    for (int i = 0; v >= 0 && i < bench.runs; i++)
        if ((v = raw_reply_spawn_rate(n, pipelined)) >= 0)
            bench_add(&r, v);
    if (v < 0)
        bench_fail(name, "raw", "fork", 0);
    else
        bench_print(&r);
}

/* spawn_one: spawn-to-first-reply one at a time; spawn_many: a batch of n
 * then the n replies; each next to its raw child start of the same shape,
 * and spawn_fork, plain fork + _exit + waitpid. The raw lines run first,
 * before this process has forked any admin. */
static void group_spawn(void)
{
    long n = bench_n(1000, 100);
    bench_result r;
    bench_result_init(&r, "spawn_fork", "raw", n, 0, "procs/s");
    double v = raw_spawn_rate(n / 10);
    for (int i = 0; v >= 0 && i < bench.runs; i++)
        if ((v = raw_spawn_rate(n)) >= 0)
            bench_add(&r, v);
    if (v < 0)
        bench_fail("spawn_fork", "raw", "fork", 0);
    else
        bench_print(&r);
    bench_spawn_raw("spawn_one", n, 0);
    bench_spawn_raw("spawn_many", n, 1);
    bench_spawn_base("spawn_one", ENS_BASE_PROCESS, n, false);
    bench_spawn_base("spawn_many", ENS_BASE_PROCESS, n, true);
    bench_spawn_base("spawn_one", ENS_BASE_INPROC, n, false);
    bench_spawn_base("spawn_many", ENS_BASE_INPROC, n, true);
}

/* ---- 5. memory ----------------------------------------------------------------- */

/* One run: a fresh system with n idle hello actors; mean PSS and RSS. */
static int memory_run(long n, double *pss, double *rss)
{
    ens_system *s = sys_start(ENS_BASE_PROCESS);
    if (s == NULL)
        return ENS_EIO;
    int64_t *pids = calloc((size_t)n, sizeof(*pids));
    int rc = pids != NULL ? spawn_hellos(ens_system_ctx(s), n, pids) : ENS_ENOMEM;
    double tp = 0, tr = 0;
    for (long i = 0; rc == 0 && i < n; i++) {
        double p, r;
        if (bench_proc_mem((int)pids[i], &p, &r) < 0)
            rc = ENS_EIO;
        tp += p;
        tr += r;
    }
    free(pids);
    sys_stop(s);
    if (rc == 0) {
        *pss = tp / (double)n;
        *rss = tr / (double)n;
    }
    return rc;
}

static void group_memory(void)
{
    long n = bench_n(200, 50);
    bench_result pss, rss, rpss, rrss;
    bench_result_init(&pss, "memory_pss", "process", n, 0, "KiB/actor");
    bench_result_init(&rss, "memory_rss", "process", n, 0, "KiB/actor");
    bench_result_init(&rpss, "memory_pss", "raw", n, 0, "KiB/process");
    bench_result_init(&rrss, "memory_rss", "raw", n, 0, "KiB/process");
    double p, r;
    int rc = 0;
    for (int i = 0; rc == 0 && i < bench.runs; i++) {
        if ((rc = memory_run(n, &p, &r)) == 0) {
            bench_add(&pss, p);
            bench_add(&rss, r);
        }
    }
    if (rc < 0)
        bench_fail("memory", "process", "a run", rc);
    bench_print(&pss);
    bench_print(&rss);
    rc = 0;
    for (int i = 0; rc == 0 && i < bench.runs; i++) {
        if ((rc = raw_idle_memory((int)n, &p, &r)) == 0) {
            bench_add(&rpss, p);
            bench_add(&rrss, r);
        }
    }
    if (rc < 0)
        bench_fail("memory", "raw", "idle libuv children", 0);
    bench_print(&rpss);
    bench_print(&rrss);
}

/* ---- 6. recovery --------------------------------------------------------------- */

static bool wait_in_handler(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (*in_handler == 0) {
        if (syscall(SYS_futex, (uint32_t *)in_handler, FUTEX_WAIT, 0, &ts, NULL, 0) < 0 &&
            errno == ETIMEDOUT)
            return *in_handler != 0;
    }
    return true;
}

/* One run: a fresh victim gets a message that blocks its handler; once it
 * is in the handler the process is SIGKILLed; timed from the kill to the
 * reply of the redelivered message (attempt 2) reaching the outside. */
static int recovery_run(ens_system *s, double *ms)
{
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    int rc = ens_spawn(out, &victim_def, NULL, NULL, &v);
    ens_msg *m = NULL;
    ens_int64_v x = {0};
    if (rc == 0)
        rc = ens_ask(out, v, &ens_msg_int64, &x, WAIT_MS, &m);
    if (rc < 0) {
        ens_msg_free(m); /* an error reply, if one came */
        return rc;
    }
    const ens_int64_v *pv = ens_msg_value(m, &ens_msg_int64);
    pid_t pid = pv != NULL ? (pid_t)pv->value : 0;
    ens_msg_free(m);
    if (pid <= 0)
        return ENS_EBADTYPE;
    *in_handler = 0;
    x.value = 1;
    if ((rc = ens_send(out, v, &ens_msg_int64, &x)) < 0)
        return rc;
    ens_system_run(s, 0); /* let the tell leave */
    if (!wait_in_handler((int)WAIT_MS))
        return ENS_ETIMEDOUT;
    uint64_t t0 = bench_now_ns();
    kill(pid, SIGKILL);
    int64_t attempt = 0;
    rc = listen_int64(out, &attempt);
    uint64_t dt = bench_now_ns() - t0;
    if (rc == 0 && attempt != 2)
        rc = ENS_EIO;
    if (rc == 0)
        *ms = (double)dt / 1e6;
    ens_exit_request(out, v); /* one victim at a time stays alive */
    return rc;
}

static void group_recovery(void)
{
    ens_system *s = sys_start(ENS_BASE_PROCESS);
    if (s == NULL)
        return;
    bench_result r;
    bench_result_init(&r, "recovery", "process", 1, 8, "ms");
    double ms;
    int rc = recovery_run(s, &ms);
    for (int i = 0; rc == 0 && i < bench.runs; i++)
        if ((rc = recovery_run(s, &ms)) == 0)
            bench_add(&r, ms);
    if (rc < 0)
        bench_fail("recovery", "process", "a run", rc);
    else
        bench_print(&r);
    sys_stop(s);
}

/* ---- 7. journal ----------------------------------------------------------------- */

/* bench_journal (bench/bench_journal.c, its own program beside ens-bench)
 * already measures the writer and a plain-sqlite floor and prints lines in
 * this format: run it with n rows and pass its stdout through; then at
 * size (--at M: a journal of M rows, 1 000 000 by default, 100 000 with
 * --quick, ENS_BENCH_JOURNAL_AT to choose, e.g. 10000000). */
static void run_bench_journal(const char *exe, const char *const *args)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        bench_fail("journal", "-", "fork", 0);
        return;
    }
    if (pid == 0) {
        execv(exe, (char *const *)args);
        fprintf(stderr, "ens-bench: journal: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_fail("journal", "-", "bench_journal", 0);
}

static void group_journal(void)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 32);
    if (len <= 0) {
        bench_fail("journal", "-", "readlink /proc/self/exe", 0);
        return;
    }
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    strcpy(slash != NULL ? slash + 1 : exe, "bench_journal");
    char nrows[32], at[32], tail[32];
    snprintf(nrows, sizeof(nrows), "%ld", bench_n(100000, 10000));
    const char *env_at = getenv("ENS_BENCH_JOURNAL_AT");
    long m = env_at != NULL && atol(env_at) > 0 ? atol(env_at) : bench_n(1000000, 100000);
    snprintf(at, sizeof(at), "%ld", m);
    snprintf(tail, sizeof(tail), "%ld", bench_n(200000, 20000));
    run_bench_journal(exe, (const char *const[]){"bench_journal", nrows, "/tmp", NULL});
    run_bench_journal(
        exe, (const char *const[]){"bench_journal", "--at", at, "--tail", tail, "/tmp", NULL});
}

/* ---- main --------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    void (*run)(void);
} group;

static const group groups[] = {
    {"pingpong", group_pingpong},
    {"ask", group_ask},
    {"throughput", group_throughput},
    {"spawn", group_spawn},
    {"memory", group_memory},
    {"recovery", group_recovery},
    {"journal", group_journal},
    {"troupe", bench_troupe_group},
    {"admin_scaling", bench_admin_group},
    {"convention", bench_convention_group},
    {"supervisor", bench_supervisor_group},
    {"spin", bench_spin_group},
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

/* Run `ens-bench [--quick] --only name` as a child and wait for it; its
 * JSON lines go straight to our stdout. 0, or -1 if it failed. */
static int run_isolated(const char *name)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (bench.quick)
            execl("/proc/self/exe", "ens-bench", "--quick", "--only", name, (char *)NULL);
        else
            execl("/proc/self/exe", "ens-bench", "--only", name, (char *)NULL);
        fprintf(stderr, "ens-bench: cannot re-run itself: %s\n", strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    fprintf(stderr, "ens-bench: %s did not finish cleanly\n", name);
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ens-bench [--quick] [--only NAME] [--payload BYTES]\n"
               "  --payload: throughput at that one payload size only\n  NAME:");
    for (size_t i = 0; i < N_GROUPS; i++)
        fprintf(f, " %s", groups[i].name);
    fprintf(f, "\n");
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            bench.quick = true;
            bench.runs = 3;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc) {
            char *end = NULL;
            one_payload = strtol(argv[++i], &end, 10);
            if (*end != '\0' || one_payload < 8 || one_payload > (8L << 20)) {
                fprintf(stderr, "ens-bench: --payload takes 8 to 8388608 bytes\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    bool known = only == NULL;
    for (size_t i = 0; only != NULL && i < N_GROUPS; i++)
        known |= strcmp(only, groups[i].name) == 0;
    if (!known) {
        fprintf(stderr, "ens-bench: no benchmark named %s\n", only);
        usage(stderr);
        return 2;
    }
    /* The recovery victim signals through this page: mapped before any
     * system starts, so the admin and every actor inherit it. */
    in_handler = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (in_handler == MAP_FAILED)
        return 1;
    if (ens_msgtype_register(&start_t) < 0 || ens_msgtype_register(&go_t) < 0) {
        fprintf(stderr, "ens-bench: cannot register the message types\n");
        return 1;
    }
    if (only != NULL) {
        for (size_t i = 0; i < N_GROUPS; i++)
            if (strcmp(only, groups[i].name) == 0)
                groups[i].run();
        return bench_failures > 0 ? 1 : 0;
    }
    /* The full set: each benchmark in a fresh ens-bench process. The admin
     * and every raw child are forked from this program, so a heap grown by
     * an earlier benchmark would make later forks slower and inflate the
     * memory figures (measured: RSS per actor 2.3 MiB fresh, 52 MiB after
     * the throughput benchmarks). */
    int failed = 0;
    for (size_t i = 0; i < N_GROUPS; i++)
        failed |= run_isolated(groups[i].name) < 0;
    return failed ? 1 : 0;
}

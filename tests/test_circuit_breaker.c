/*
 * tests/test_circuit_breaker.c - the circuit breaker on every base, driven
 * through each transition with a flaky downstream actor that does what each
 * request says: answer, answer with an error, never answer (the breaker's
 * call timeout), or fail twice (poison).
 *
 * The test talks to the breaker with ens_ask (outside) and through a proxy
 * actor that uses ens_request (inside); both see the payload of the
 * ENS_EBREAKER_OPEN error reply. States are read with ens_breaker_info;
 * waiting for a reset timeout is polling that state with asks until a
 * deadline, never a sleep. Each state change must leave one BREAKER row in
 * the journal (read after shutdown, on both bases) and, on inproc, one
 * event through on_event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/scenario.h"

/* ---- message types ---------------------------------------------------- */

enum work_op {
    WK_OK = 1, /* reply Int64 = requests seen so far */
    WK_FAIL,   /* error reply WK_ERR */
    WK_HANG,   /* no reply */
    WK_POISON, /* handler fails twice */
    WK_COUNT,  /* reply Int64 = requests seen so far, not counted */
};
#define WK_ERR (-5000)

typedef struct work_v {
    int32_t op;
    int32_t then; /* proxy: a second request sent right after, 0 = none */
} work_v;
static ens_msgtype work_t = {"cbt.Work", "S(ii)", sizeof(work_v), 0, 0};

/* The proxy's answer: status and retry_after_ms of each request. */
typedef struct seen_v {
    int32_t status1, status2;
    int64_t retry1, retry2;
} seen_v;
static ens_msgtype seen_t = {"cbt.Seen", "S(iiII)", sizeof(seen_v), 0, 0};

/* The proxy's start argument: the breaker's address. */
typedef struct addr_v {
    ens_addr addr;
} addr_v;
static ens_msgtype addr_t = {"cbt.Addr", "S(" ENS_ADDR_FMT ")", sizeof(addr_v), 0, 0};

#define WORK(...) (&(work_v){__VA_ARGS__})

/* ---- the flaky downstream --------------------------------------------- */

typedef struct flaky_state {
    int64_t seen;
} flaky_state;

static int flaky_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    flaky_state *f = state;
    const work_v *w = ens_msg_value(m, &work_t);
    if (w == NULL)
        return 0;
    if (!ens_msg_is_request(m)) /* a forwarded tell: say who sent it */
        return ens_send(c, ens_msg_sender(m), ENS_MSG_INT64, &(ens_int64_v){1000 + w->op});
    if (w->op == WK_COUNT)
        return ens_reply(c, ENS_MSG_INT64, &(ens_int64_v){f->seen});
    if (ens_msg_attempt(m) == 1)
        f->seen++;
    switch (w->op) {
    case WK_OK:
        return ens_reply(c, ENS_MSG_INT64, &(ens_int64_v){f->seen});
    case WK_FAIL:
        return ens_reply_error(c, WK_ERR, NULL, NULL);
    case WK_HANG:
        return 0;
    default:
        return ENS_EIO;
    }
}

static const ens_actor_def flaky_def = {
    "cbt.Flaky", sizeof(flaky_state), NULL, flaky_receive, NULL, NULL, NULL};

/* ---- the proxy: requests from inside an actor ---------------------------- */

typedef struct proxy_state {
    ens_addr breaker;
    ens_from asker;
    int pending;
    seen_v seen;
} proxy_state;

static int proxy_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    const addr_v *v = arg != NULL ? ens_msg_value(arg, &addr_t) : NULL;
    if (v == NULL)
        return ENS_EINVAL;
    ((proxy_state *)state)->breaker = v->addr;
    return 0;
}

static void proxy_done(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    proxy_state *p = state;
    const ens_breaker_open_v *o = reply != NULL ? ens_msg_value(reply, ENS_MSG_BREAKER_OPEN) : NULL;
    int64_t retry = o != NULL ? (int64_t)o->retry_after_ms : -1;
    if (tag == 1) {
        p->seen.status1 = status;
        p->seen.retry1 = retry;
    } else {
        p->seen.status2 = status;
        p->seen.retry2 = retry;
    }
    if (--p->pending == 0)
        ens_reply_to(c, p->asker, 0, &seen_t, &p->seen);
}

static int proxy_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    proxy_state *p = state;
    const work_v *w = ens_msg_value(m, &work_t);
    if (w == NULL)
        return 0;
    p->asker = ens_from_current(c); /* a tell: the answer is a plain send */
    memset(&p->seen, 0, sizeof(p->seen));
    p->pending = w->then != 0 ? 2 : 1;
    int rc = ens_request(c, p->breaker, &work_t, WORK(w->op, 0), 30000, proxy_done, 1);
    if (rc == 0 && w->then != 0)
        rc = ens_request(c, p->breaker, &work_t, WORK(w->then, 0), 30000, proxy_done, 2);
    return rc < 0 ? ens_reply_error(c, rc, NULL, NULL) : 0;
}

static const ens_actor_def proxy_def = {
    "cbt.Proxy", sizeof(proxy_state), proxy_init, proxy_receive, NULL, NULL, NULL};

/* ---- fixture: a system with a journal, a flaky target, a breaker -------- */

typedef struct rig {
    char dir[64];
    char path[96];
    ens_addr flaky, breaker, proxy;
} rig;

static void rig_start(scn *t, rig *r, ens_breaker_opts *o)
{
    snprintf(r->dir, sizeof(r->dir), "/tmp/ens-cbt-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->path, sizeof(r->path), "%s/journal.db", r->dir);
    ens_system_opts so = ENS_SYSTEM_OPTS_INIT;
    so.journal_path = r->path;
    so.log_level = ENS_LOG_ERROR;
    scn_start(t, &so);
    assert_int_equal(ens_spawn(t->out, &flaky_def, NULL, NULL, &r->flaky), 0);
    o->target = r->flaky;
    assert_int_equal(ens_breaker_spawn(t->out, o, &r->breaker), 0);
    assert_int_equal(ens_spawn(t->out, &proxy_def, &addr_t, &(addr_v){r->breaker}, &r->proxy), 0);
}

static int work(scn *t, ens_addr to, int32_t op)
{
    ens_msg *m = NULL;
    int rc = ens_ask(t->out, to, &work_t, WORK(op, 0), SCN_WAIT_MS, &m);
    ens_msg_free(m);
    return rc;
}

static int64_t flaky_seen(scn *t, rig *r)
{
    ens_msg *m = NULL;
    assert_int_equal(ens_ask(t->out, r->flaky, &work_t, WORK(WK_COUNT, 0), SCN_WAIT_MS, &m), 0);
    int64_t n = ((const ens_int64_v *)ens_msg_value(m, ENS_MSG_INT64))->value;
    ens_msg_free(m);
    return n;
}

static ens_breaker_info_v info(scn *t, rig *r)
{
    ens_breaker_info_v v;
    memset(&v, 0, sizeof(v));
    assert_int_equal(ens_breaker_info(t->out, r->breaker, SCN_WAIT_MS, &v), 0);
    return v;
}

static void assert_state(scn *t, rig *r, ens_breaker_state want)
{
    ens_breaker_info_v v = info(t, r);
    if (v.state != (int32_t)want)
        fail_msg("breaker is %s, expected %s", ens_breaker_state_name(v.state),
                 ens_breaker_state_name(want));
}

/* Ask for the state until it is `want` or SCN_WAIT_MS passed. */
static void wait_state(scn *t, rig *r, ens_breaker_state want)
{
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (info(t, r).state != (int32_t)want) {
        if (scn_now_ns() > deadline)
            fail_msg("breaker never became %s", ens_breaker_state_name(want));
    }
}

static seen_v via_proxy(scn *t, rig *r, int32_t op, int32_t then)
{
    ens_msg *m = NULL;
    int rc = ens_ask(t->out, r->proxy, &work_t, WORK(op, then), SCN_WAIT_MS, &m);
    if (rc != 0) {
        ens_msg_free(m);
        fail_msg("proxy: %s", ens_err_name(rc));
    }
    seen_v s = *(const seen_v *)ens_msg_value(m, &seen_t);
    ens_msg_free(m);
    return s;
}

/* ---- the journal, read after shutdown ------------------------------------ */

#define MAX_ROWS 16

typedef struct rows {
    size_t n;
    char reason[MAX_ROWS][200];
    int32_t error[MAX_ROWS];
} rows;

static int keep_row(const ens_journal_row *row, void *arg)
{
    rows *rs = arg;
    if (rs->n < MAX_ROWS) {
        snprintf(rs->reason[rs->n], sizeof(rs->reason[0]), "%s", row->ev.reason);
        rs->error[rs->n] = row->ev.error;
        rs->n++;
    }
    return 0;
}

/* Shut down, then check that the BREAKER rows of the breaker are, oldest
 * first, the given reason prefixes (NULL-terminated), and the same count of
 * BREAKER events reached on_event (inproc). Removes the journal. */
static void finish(scn *t, rig *r, const char *const *want)
{
    size_t n_want = 0;
    while (want[n_want] != NULL)
        n_want++;
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_BREAKER, r->breaker), n_want);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(r->path, &j), 0);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor = r->breaker;
    f.kinds = 1u << ENS_EV_BREAKER;
    rows rs = {0};
    int got = ens_journal_query(j, &f, keep_row, &rs);
    ens_journal_close(j);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(got, (int)n_want);
    for (size_t i = 0; i < n_want; i++) {
        const char *have = rs.reason[n_want - 1 - i]; /* newest first */
        if (strncmp(have, want[i], strlen(want[i])) != 0)
            fail_msg("journal row %zu: \"%s\", expected \"%s...\"", i, have, want[i]);
    }
}

/* ---- tests -------------------------------------------------------------- */

static ens_breaker_opts opts_base(void)
{
    ens_breaker_opts o = ENS_BREAKER_OPTS_INIT;
    o.call_timeout_ms = 10000;
    return o;
}

/* Consecutive failures open it (a success in between starts the count
 * again); then requests fail fast without reaching the target, and the
 * error reply carries retry_after_ms. */
static void test_consecutive_failures_open_then_fail_fast(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 3;
    rig_start(t, &r, &o);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    ens_breaker_info_v v = info(t, &r);
    assert_int_equal(v.state, ENS_BREAKER_CLOSED);
    assert_int_equal(v.consecutive_failures, 2);
    assert_int_equal(work(t, r.breaker, WK_OK), 0);
    assert_int_equal(info(t, &r).consecutive_failures, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    v = info(t, &r);
    assert_int_equal(v.state, ENS_BREAKER_OPEN);
    assert_int_equal(v.times_opened, 1);
    assert_int_equal(flaky_seen(t, &r), 6);

    int64_t t0 = scn_now_ns();
    ens_msg *m = NULL; /* outside, the error reply comes back too */
    assert_int_equal(ens_ask(t->out, r.breaker, &work_t, WORK(WK_OK, 0), SCN_WAIT_MS, &m),
                     ENS_EBREAKER_OPEN);
    const ens_breaker_open_v *open = m != NULL ? ens_msg_value(m, ENS_MSG_BREAKER_OPEN) : NULL;
    assert_non_null(open);
    assert_true(open->retry_after_ms > 0 && open->retry_after_ms <= 60000);
    ens_msg_free(m);
    seen_v s = via_proxy(t, &r, WK_OK, 0);
    assert_true(scn_now_ns() - t0 < 5 * 1000000000LL);
    assert_int_equal(s.status1, ENS_EBREAKER_OPEN);
    assert_true(s.retry1 > 0 && s.retry1 <= 60000);
    assert_int_equal(flaky_seen(t, &r), 6); /* nothing reached the target */
    assert_int_equal(info(t, &r).rejected, 2);
    finish(t, &r, (const char *const[]){"closed -> open after 3 consecutive failures", NULL});
}

/* The ratio rule waits for a full window: two failures out of two do not
 * open a 4-call window at 50%; two out of four do. */
static void test_failure_ratio_needs_full_window(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 0;
    o.failure_percent = 50;
    o.window_calls = 4;
    rig_start(t, &r, &o);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_state(t, &r, ENS_BREAKER_CLOSED);
    assert_int_equal(work(t, r.breaker, WK_OK), 0);
    assert_state(t, &r, ENS_BREAKER_CLOSED);
    assert_int_equal(work(t, r.breaker, WK_OK), 0);
    assert_state(t, &r, ENS_BREAKER_OPEN);
    finish(t, &r,
           (const char *const[]){"closed -> open: 2 of the last 4 calls failed (threshold 50%)",
                                 NULL});
}

/* The window slides: old failures leave it. 1 of 4, then 1 of the last 4
 * (the first failure left), then 2 of the last 4: open. A cumulative count
 * (2 of 6) would not open. */
static void test_failure_ratio_window_slides(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 0;
    o.failure_percent = 50;
    o.window_calls = 4;
    rig_start(t, &r, &o);
    const int32_t ops[] = {WK_FAIL, WK_OK, WK_OK, WK_OK, WK_OK, WK_FAIL};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(work(t, r.breaker, ops[i]), ops[i] == WK_OK ? 0 : WK_ERR);
        assert_state(t, &r, ENS_BREAKER_CLOSED);
    }
    assert_int_equal(info(t, &r).window_failures, 1);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_state(t, &r, ENS_BREAKER_OPEN);
    finish(t, &r, (const char *const[]){"closed -> open: 2 of the last 4 calls failed", NULL});
}

/* open -> half-open after the reset timeout (by itself), half-open ->
 * closed when the trial succeeds. */
static void test_reset_timeout_then_trial_success_closes(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 1;
    o.reset_timeout_ms = 50;
    o.max_reset_timeout_ms = 50;
    rig_start(t, &r, &o);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_state(t, &r, ENS_BREAKER_OPEN);
    wait_state(t, &r, ENS_BREAKER_HALF_OPEN);
    assert_int_equal(work(t, r.breaker, WK_OK), 0);
    assert_state(t, &r, ENS_BREAKER_CLOSED);
    assert_int_equal(work(t, r.breaker, WK_OK), 0); /* closed again: goes through */
    assert_int_equal(flaky_seen(t, &r), 3);
    finish(t, &r,
           (const char *const[]){"closed -> open after 1 consecutive failures",
                                 "open -> half-open after 50 ms",
                                 "half-open -> closed after 1 successful trial", NULL});
}

/* A failed trial opens it again with the reset timeout grown by
 * backoff_percent, up to max_reset_timeout_ms; closing resets it. */
static void test_failed_trial_reopens_with_backoff(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 1;
    o.reset_timeout_ms = 50;
    o.max_reset_timeout_ms = 150;
    o.backoff_percent = 200;
    rig_start(t, &r, &o);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_int_equal(info(t, &r).reset_timeout_ms, 50);
    wait_state(t, &r, ENS_BREAKER_HALF_OPEN);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    ens_breaker_info_v v = info(t, &r);
    assert_int_equal(v.reset_timeout_ms, 100);
    wait_state(t, &r, ENS_BREAKER_HALF_OPEN);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_int_equal(info(t, &r).reset_timeout_ms, 150); /* 200 capped */
    wait_state(t, &r, ENS_BREAKER_HALF_OPEN);
    assert_int_equal(work(t, r.breaker, WK_OK), 0);
    v = info(t, &r);
    assert_int_equal(v.state, ENS_BREAKER_CLOSED);
    assert_int_equal(v.reset_timeout_ms, 50);
    assert_int_equal(v.times_opened, 3);
    finish(t, &r,
           (const char *const[]){
               "closed -> open after 1 consecutive failures", "open -> half-open after 50 ms",
               "half-open -> open: trial failed (ENS_EUNKNOWN); next trial in 100 ms",
               "open -> half-open after 100 ms",
               "half-open -> open: trial failed (ENS_EUNKNOWN); next trial in 150 ms",
               "open -> half-open after 150 ms", "half-open -> closed after 1 successful trial",
               NULL});
}

/* Half-open lets one trial through: a second request while the trial is
 * in flight fails fast (retry_after_ms 0); the trial that times out opens
 * the breaker again. */
static void test_half_open_lets_one_trial_through(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 1;
    o.reset_timeout_ms = 50;
    o.max_reset_timeout_ms = 60000;
    o.backoff_percent = 10000; /* the reopened breaker stays open 5 s */
    o.call_timeout_ms = 200;
    rig_start(t, &r, &o);
    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    wait_state(t, &r, ENS_BREAKER_HALF_OPEN);
    seen_v s = via_proxy(t, &r, WK_HANG, WK_OK);
    assert_int_equal(s.status1, ENS_ETIMEDOUT);
    assert_int_equal(s.status2, ENS_EBREAKER_OPEN);
    assert_int_equal(s.retry2, 0);
    ens_breaker_info_v v = info(t, &r);
    assert_int_equal(v.state, ENS_BREAKER_OPEN);
    assert_int_equal(v.reset_timeout_ms, 5000);
    assert_int_equal(flaky_seen(t, &r), 2); /* the failure and the one trial */
    finish(t, &r,
           (const char *const[]){"closed -> open after 1 consecutive failures",
                                 "open -> half-open after 50 ms",
                                 "half-open -> open: trial failed (ENS_ETIMEDOUT)", NULL});
}

/* No reply within call_timeout_ms and a poisoned request are failures; the
 * requesters get ENS_ETIMEDOUT and ENS_EPOISON. */
static void test_timeouts_and_poison_count_as_failures(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 2;
    o.call_timeout_ms = 100;
    rig_start(t, &r, &o);
    assert_int_equal(work(t, r.breaker, WK_HANG), ENS_ETIMEDOUT);
    assert_state(t, &r, ENS_BREAKER_CLOSED);
    assert_int_equal(work(t, r.breaker, WK_POISON), ENS_EPOISON);
    assert_state(t, &r, ENS_BREAKER_OPEN);
    finish(t, &r,
           (const char *const[]){"closed -> open after 2 consecutive failures (last ENS_EPOISON)",
                                 NULL});
}

/* Tells: forwarded with their sender kept while closed; dropped and
 * reported (dead letter) while open. */
static void test_tells_forwarded_when_closed_dropped_when_open(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 1;
    rig_start(t, &r, &o);
    assert_int_equal(ens_send(t->out, r.breaker, &work_t, WORK(WK_OK, 0)), 0);
    ens_msg *m = scn_listen_type(t, ENS_MSG_INT64, SCN_WAIT_MS);
    assert_int_equal(((const ens_int64_v *)ens_msg_value(m, ENS_MSG_INT64))->value, 1000 + WK_OK);
    assert_true(ens_addr_equal(ens_msg_sender(m), r.flaky));
    ens_msg_free(m);

    assert_int_equal(work(t, r.breaker, WK_FAIL), WK_ERR);
    assert_state(t, &r, ENS_BREAKER_OPEN);
    assert_int_equal(ens_send(t->out, r.breaker, &work_t, WORK(WK_OK, 0)), 0);
    assert_int_equal(flaky_seen(t, &r), 1);
    m = NULL;
    assert_int_equal(ens_listen(t->out, 200, &m), ENS_ETIMEDOUT);
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_DEAD_LETTER, r.flaky), 1);
    finish(t, &r, (const char *const[]){"closed -> open after 1 consecutive failures", NULL});
}

/* Only outcomes of requests made in the current state count: a timeout of
 * a request let through before the breaker opened arrives after it has
 * closed again, and must not open it. */
static void test_stale_outcome_does_not_count(void **state)
{
    scn *t = *state;
    rig r;
    ens_breaker_opts o = opts_base();
    o.max_failures = 1;
    o.reset_timeout_ms = 50;
    o.call_timeout_ms = 1000;
    rig_start(t, &r, &o);
    /* Both let through while closed; the failure opens it at once, the
     * hanging one times out 1 s later. */
    assert_int_equal(ens_send(t->out, r.proxy, &work_t, WORK(WK_HANG, WK_FAIL)), 0);
    wait_state(t, &r, ENS_BREAKER_OPEN);
    wait_state(t, &r, ENS_BREAKER_HALF_OPEN);
    assert_int_equal(work(t, r.breaker, WK_OK), 0);
    assert_state(t, &r, ENS_BREAKER_CLOSED);
    ens_msg *m = scn_listen_type(t, &seen_t, SCN_WAIT_MS);
    const seen_v *s = ens_msg_value(m, &seen_t);
    assert_int_equal(s->status1, ENS_ETIMEDOUT);
    assert_int_equal(s->status2, WK_ERR);
    ens_msg_free(m);
    ens_breaker_info_v v = info(t, &r);
    assert_int_equal(v.state, ENS_BREAKER_CLOSED);
    assert_int_equal(v.consecutive_failures, 0);
    finish(t, &r,
           (const char *const[]){"closed -> open after 1 consecutive failures",
                                 "open -> half-open after 50 ms",
                                 "half-open -> closed after 1 successful trial", NULL});
}

/* Options that make no breaker are refused. */
static void test_bad_options_refused(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr flaky, b = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &flaky_def, NULL, NULL, &flaky), 0);
    ens_breaker_opts ok = ENS_BREAKER_OPTS_INIT;
    ok.target = flaky;
    ens_breaker_opts bad[6];
    for (size_t i = 0; i < 6; i++)
        bad[i] = ok;
    bad[0].target = ENS_ADDR_NONE;
    bad[1].max_failures = 0; /* and no ratio rule */
    bad[2].half_open_probes = 0;
    bad[3].backoff_percent = 50;
    bad[4].failure_percent = 101;
    bad[5].failure_percent = 50;
    bad[5].window_calls = ENS_BREAKER_MAX_WINDOW + 1;
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(ens_breaker_spawn(t->out, &bad[i], &b), ENS_EINVAL);
    assert_true(ens_addr_is_none(b));
    assert_int_equal(ens_breaker_spawn(t->out, &ok, &b), 0);
    ens_breaker_info_v v;
    assert_int_equal(ens_breaker_info(t->out, b, SCN_WAIT_MS, &v), 0);
    assert_int_equal(v.state, ENS_BREAKER_CLOSED);
    assert_int_equal(v.reset_timeout_ms, 60000);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_consecutive_failures_open_then_fail_fast),
    SCN_TEST(test_failure_ratio_needs_full_window),
    SCN_TEST(test_failure_ratio_window_slides),
    SCN_TEST(test_reset_timeout_then_trial_success_closes),
    SCN_TEST(test_failed_trial_reopens_with_backoff),
    SCN_TEST(test_half_open_lets_one_trial_through),
    SCN_TEST(test_timeouts_and_poison_count_as_failures),
    SCN_TEST(test_tells_forwarded_when_closed_dropped_when_open),
    SCN_TEST(test_stale_outcome_does_not_count),
    SCN_TEST(test_bad_options_refused),
};

int main(void)
{
    ens_msgtype *types[] = {&work_t, &seen_t, &addr_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ens_msgtype_register(types[i]);
        if (rc != 0) {
            fprintf(stderr, "registering %s: %s\n", types[i]->name, ens_err_name(rc));
            return 1;
        }
    }
    return scn_run_bases("circuit_breaker", tests, sizeof(tests) / sizeof(tests[0]));
}

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
 *
 * The transitions are a table: each case gives the breaker's options, the
 * steps (what is sent, and the status, state or figure that must follow)
 * and the journal rows it must leave; one runner plays them.
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
    WK_HANG,   /* kept and never answered */
    WK_POISON, /* handler fails twice */
    WK_COUNT,  /* reply Int64 = requests seen so far, not counted */
};
#define WK_ERR (-5000)

typedef struct work_v {
    int32_t op;
    int32_t then; /* proxy: a second request sent right after, 0 = none */
} work_v;
static ens_msgtype work_t = {"cbt.Work", "S(ii)", sizeof(work_v), 0, 0, NULL};

/* The proxy's answer: status and retry_after_ms of each request. */
typedef struct seen_v {
    int32_t status1, status2;
    int64_t retry1, retry2;
} seen_v;
static ens_msgtype seen_t = {"cbt.Seen", "S(iiII)", sizeof(seen_v), 0, 0, NULL};

/* The proxy's start argument: the breaker's address. */
typedef struct addr_v {
    ens_addr addr;
} addr_v;
static ens_msgtype addr_t = {"cbt.Addr", "S(" ENS_ADDR_FMT ")", sizeof(addr_v), 0, 0, NULL};

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
        return ens_send(c, ens_msg_sender(m), &ens_msg_int64, &(ens_int64_v){1000 + w->op});
    if (w->op == WK_COUNT)
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){f->seen});
    if (ens_msg_attempt(m) == 1)
        f->seen++;
    switch (w->op) {
    case WK_OK:
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){f->seen});
    case WK_FAIL:
        return ens_reply_error(c, WK_ERR, NULL, NULL);
    case WK_HANG: /* kept, never answered (not ENS_ENOREPLY): the asker times out */
        (void)ens_from_current(c);
        return 0;
    default:
        return ENS_EIO;
    }
}

static const ens_actor_def flaky_def = {
    "cbt.Flaky", sizeof(flaky_state), NULL, flaky_receive, NULL, NULL, NULL, NULL, NULL};

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
    const ens_breaker_open_v *o =
        reply != NULL ? ens_msg_value(reply, &ens_msg_breaker_open) : NULL;
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
    "cbt.Proxy", sizeof(proxy_state), proxy_init, proxy_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- fixture: a system with a journal, a flaky target, a breaker -------- */

/* How the breaker names its target. */
typedef enum target_by {
    BY_ADDRESS = 0,
    BY_NAME,         /* the target holds TARGET_NAME; the breaker has the name */
    BY_MISSING_NAME, /* the breaker has TARGET_NAME, which nobody holds */
} target_by;

#define TARGET_NAME "cbt.target"

typedef struct rig {
    char dir[64];
    char path[96];
    ens_addr flaky, breaker, proxy;
} rig;

static void rig_start(scn *t, rig *r, ens_breaker_opts *o, target_by by)
{
    snprintf(r->dir, sizeof(r->dir), "/tmp/ens-cbt-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->path, sizeof(r->path), "%s/journal.db", r->dir);
    ens_system_opts so = ENS_SYSTEM_OPTS_INIT;
    so.journal_path = r->path;
    so.log_level = ENS_LOG_ERROR;
    scn_start(t, &so);
    if (by == BY_NAME)
        assert_int_equal(ens_name_spawn(t->out, TARGET_NAME, &flaky_def, NULL, NULL, &r->flaky), 0);
    else
        assert_int_equal(ens_spawn(t->out, &flaky_def, NULL, NULL, &r->flaky), 0);
    o->target = by == BY_ADDRESS ? r->flaky : ENS_ADDR_NONE;
    o->target_name = by == BY_ADDRESS ? NULL : TARGET_NAME;
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
    int64_t n = ((const ens_int64_v *)ens_msg_value(m, &ens_msg_int64))->value;
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

/* Kill the target (ens_kill) and wait until its name is free. */
static void target_gone(scn *t, rig *r)
{
    assert_int_equal(ens_kill(t->out, r->flaky), 0);
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    ens_addr holder;
    int rc;
    while ((rc = ens_name_lookup(t->out, TARGET_NAME, &holder)) == 0) {
        if (scn_now_ns() > deadline)
            fail_msg("the killed target still holds its name");
        assert_int_equal(ens_system_run(t->sys, 1), 0);
    }
    assert_int_equal(rc, ENS_ENOENT);
}

/* A new target under the name, at another address than the last one. */
static void target_back(scn *t, rig *r)
{
    ens_addr old = r->flaky;
    assert_int_equal(ens_name_spawn(t->out, TARGET_NAME, &flaky_def, NULL, NULL, &r->flaky), 0);
    assert_false(ens_addr_equal(old, r->flaky));
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

/* ---- the cases: a table of steps and the journal they must leave ---------- */

/* What a step does, and what must follow. */
typedef enum step_kind {
    END = 0,
    ASK,           /* ask the breaker op from outside: the status is want */
    PROXY,         /* the proxy requests op, then op2 (0: none): statuses want, want2 and
                      retry_after_ms retry, retry2 (-1: no BreakerOpen payload) */
    PROXY_TELL,    /* tell the proxy to request op, then op2; it answers later */
    PROXY_ANSWER,  /* the proxy's answer to PROXY_TELL comes: want, want2 as for PROXY */
    TELL,          /* tell the breaker op */
    FORWARDED,     /* the target's answer to a forwarded tell of op comes, from the target */
    NOTHING_COMES, /* no message comes within 200 ms */
    DEAD_LETTERS,  /* n dead letters about the target reached on_event (inproc) */
    IS,            /* the breaker is in state n */
    BECOMES,       /* the breaker becomes state n by itself (within SCN_WAIT_MS) */
    INFO,          /* ens_breaker_info's field `field` is n */
    SEEN,          /* the target has seen n requests */
    FAILS_FAST,    /* an ask and a request of op are both refused with ENS_EBREAKER_OPEN and a
                      retry_after_ms in (0, 60 s], without reaching the target, within 5 s */
    GONE,          /* the target is killed (ens_kill); its name is free */
    BACK,          /* a new target takes the name, at another address (SEEN asks it) */
    NO_SUCH_NAME,  /* an ask of op is answered ENS_ENOACTOR saying "no such name: ..." */
} step_kind;

typedef enum info_field {
    CONSECUTIVE_FAILURES,
    WINDOW_FAILURES,
    RESET_TIMEOUT_MS,
    TIMES_OPENED,
    REJECTED,
} info_field;

typedef struct step {
    step_kind kind;
    int32_t op, op2;
    int64_t want, want2, retry, retry2;
    info_field field;
    int64_t n;
} step;

/* The steps as the table writes them. */
#define STEP(...)                                                                                  \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define S_ASK(o, w) STEP(.kind = ASK, .op = (o), .want = (w))
#define S_PROXY(o, w, r, o2, w2, r2)                                                               \
    STEP(.kind = PROXY, .op = (o), .want = (w), .retry = (r), .op2 = (o2), .want2 = (w2),          \
         .retry2 = (r2))
#define S_PROXY_TELL(o, o2) STEP(.kind = PROXY_TELL, .op = (o), .op2 = (o2))
#define S_PROXY_ANSWER(w, r, w2, r2)                                                               \
    STEP(.kind = PROXY_ANSWER, .want = (w), .retry = (r), .want2 = (w2), .retry2 = (r2))
#define S_TELL(o)         STEP(.kind = TELL, .op = (o))
#define S_FORWARDED(o)    STEP(.kind = FORWARDED, .op = (o))
#define S_NOTHING_COMES   STEP(.kind = NOTHING_COMES)
#define S_DEAD_LETTERS(k) STEP(.kind = DEAD_LETTERS, .n = (k))
#define S_IS(st)          STEP(.kind = IS, .n = ENS_BREAKER_##st)
#define S_BECOMES(st)     STEP(.kind = BECOMES, .n = ENS_BREAKER_##st)
#define S_INFO(f, k)      STEP(.kind = INFO, .field = (f), .n = (k))
#define S_SEEN(k)         STEP(.kind = SEEN, .n = (k))
#define S_FAILS_FAST(o)   STEP(.kind = FAILS_FAST, .op = (o))
#define S_GONE            STEP(.kind = GONE)
#define S_BACK            STEP(.kind = BACK)
#define S_NO_SUCH_NAME(o) STEP(.kind = NO_SUCH_NAME, .op = (o))

/* The breaker's options. Zero is the default of ENS_BREAKER_OPTS_INIT,
 * except for max_failures, which every case gives (0 turns the rule off);
 * the call timeout defaults to 10 s. */
typedef struct config {
    uint32_t max_failures, failure_percent, window_calls, call_timeout_ms;
    uint32_t reset_timeout_ms, max_reset_timeout_ms, backoff_percent;
    target_by by; /* how the breaker names its target */
} config;

#define MAX_STEPS   24
#define MAX_JOURNAL 8

typedef struct cb_case {
    const char *name;
    config opts;
    step steps[MAX_STEPS];                /* up to the first END */
    const char *journal[MAX_JOURNAL + 1]; /* BREAKER rows, oldest first: reason prefixes */
} cb_case;

static const cb_case cases[] = {
    /* Consecutive failures open it (a success in between starts the count
     * again); then requests fail fast without reaching the target, and the
     * error reply carries retry_after_ms. */
    {"test_consecutive_failures_open_then_fail_fast",
     {.max_failures = 3},
     {S_ASK(WK_FAIL, WK_ERR), S_ASK(WK_FAIL, WK_ERR), S_IS(CLOSED), S_INFO(CONSECUTIVE_FAILURES, 2),
      S_ASK(WK_OK, 0), S_INFO(CONSECUTIVE_FAILURES, 0), S_ASK(WK_FAIL, WK_ERR),
      S_ASK(WK_FAIL, WK_ERR), S_ASK(WK_FAIL, WK_ERR), S_IS(OPEN), S_INFO(TIMES_OPENED, 1),
      S_SEEN(6), S_FAILS_FAST(WK_OK), S_SEEN(6), S_INFO(REJECTED, 2)},
     {"closed -> open after 3 consecutive failures"}},

    /* The ratio rule waits for a full window: two failures out of two do
     * not open a 4-call window at 50%; two out of four do. */
    {"test_failure_ratio_needs_full_window",
     {.max_failures = 0, .failure_percent = 50, .window_calls = 4},
     {S_ASK(WK_FAIL, WK_ERR), S_ASK(WK_FAIL, WK_ERR), S_IS(CLOSED), S_ASK(WK_OK, 0), S_IS(CLOSED),
      S_ASK(WK_OK, 0), S_IS(OPEN)},
     {"closed -> open: 2 of the last 4 calls failed (threshold 50%)"}},

    /* The window slides: old failures leave it. 1 of 4, then 1 of the last
     * 4 (the first failure left), then 2 of the last 4: open. A cumulative
     * count (2 of 6) would not open. */
    {"test_failure_ratio_window_slides",
     {.max_failures = 0, .failure_percent = 50, .window_calls = 4},
     {S_ASK(WK_FAIL, WK_ERR), S_IS(CLOSED), S_ASK(WK_OK, 0), S_IS(CLOSED), S_ASK(WK_OK, 0),
      S_IS(CLOSED), S_ASK(WK_OK, 0), S_IS(CLOSED), S_ASK(WK_OK, 0), S_IS(CLOSED),
      S_ASK(WK_FAIL, WK_ERR), S_IS(CLOSED), S_INFO(WINDOW_FAILURES, 1), S_ASK(WK_FAIL, WK_ERR),
      S_IS(OPEN)},
     {"closed -> open: 2 of the last 4 calls failed"}},

    /* open -> half-open after the reset timeout (by itself), half-open ->
     * closed when the trial succeeds; closed again, requests go through. */
    {"test_reset_timeout_then_trial_success_closes",
     {.max_failures = 1, .reset_timeout_ms = 50, .max_reset_timeout_ms = 50},
     {S_ASK(WK_FAIL, WK_ERR), S_IS(OPEN), S_BECOMES(HALF_OPEN), S_ASK(WK_OK, 0), S_IS(CLOSED),
      S_ASK(WK_OK, 0), S_SEEN(3)},
     {"closed -> open after 1 consecutive failures", "open -> half-open after 50 ms",
      "half-open -> closed after 1 successful trial"}},

    /* A failed trial opens it again with the reset timeout grown by
     * backoff_percent, up to max_reset_timeout_ms (200 capped at 150);
     * closing resets it. */
    {"test_failed_trial_reopens_with_backoff",
     {.max_failures = 1,
      .reset_timeout_ms = 50,
      .max_reset_timeout_ms = 150,
      .backoff_percent = 200},
     {S_ASK(WK_FAIL, WK_ERR), S_INFO(RESET_TIMEOUT_MS, 50), S_BECOMES(HALF_OPEN),
      S_ASK(WK_FAIL, WK_ERR), S_INFO(RESET_TIMEOUT_MS, 100), S_BECOMES(HALF_OPEN),
      S_ASK(WK_FAIL, WK_ERR), S_INFO(RESET_TIMEOUT_MS, 150), S_BECOMES(HALF_OPEN), S_ASK(WK_OK, 0),
      S_IS(CLOSED), S_INFO(RESET_TIMEOUT_MS, 50), S_INFO(TIMES_OPENED, 3)},
     {"closed -> open after 1 consecutive failures", "open -> half-open after 50 ms",
      "half-open -> open: trial failed (ENS_EUNKNOWN); next trial in 100 ms",
      "open -> half-open after 100 ms",
      "half-open -> open: trial failed (ENS_EUNKNOWN); next trial in 150 ms",
      "open -> half-open after 150 ms", "half-open -> closed after 1 successful trial"}},

    /* Half-open lets one trial through: a second request while the trial
     * is in flight fails fast (retry_after_ms 0); the trial that times out
     * opens the breaker again, for 5 s (backoff 10000%). */
    {"test_half_open_lets_one_trial_through",
     {.max_failures = 1,
      .reset_timeout_ms = 50,
      .max_reset_timeout_ms = 60000,
      .backoff_percent = 10000,
      .call_timeout_ms = 200},
     {S_ASK(WK_FAIL, WK_ERR), S_BECOMES(HALF_OPEN),
      S_PROXY(WK_HANG, ENS_ETIMEDOUT, -1, WK_OK, ENS_EBREAKER_OPEN, 0), S_IS(OPEN),
      S_INFO(RESET_TIMEOUT_MS, 5000), S_SEEN(2) /* the failure and the one trial */},
     {"closed -> open after 1 consecutive failures", "open -> half-open after 50 ms",
      "half-open -> open: trial failed (ENS_ETIMEDOUT)"}},

    /* No reply within call_timeout_ms and a poisoned request are failures;
     * the requesters get ENS_ETIMEDOUT and ENS_EPOISON. */
    {"test_timeouts_and_poison_count_as_failures",
     {.max_failures = 2, .call_timeout_ms = 100},
     {S_ASK(WK_HANG, ENS_ETIMEDOUT), S_IS(CLOSED), S_ASK(WK_POISON, ENS_EPOISON), S_IS(OPEN)},
     {"closed -> open after 2 consecutive failures (last ENS_EPOISON)"}},

    /* Tells: forwarded with their sender kept while closed; dropped and
     * reported (dead letter) while open. */
    {"test_tells_forwarded_when_closed_dropped_when_open",
     {.max_failures = 1},
     {S_TELL(WK_OK), S_FORWARDED(WK_OK), S_ASK(WK_FAIL, WK_ERR), S_IS(OPEN), S_TELL(WK_OK),
      S_SEEN(1), S_NOTHING_COMES, S_DEAD_LETTERS(1)},
     {"closed -> open after 1 consecutive failures"}},

    /* Only outcomes of requests made in the current state count: a timeout
     * of a request let through before the breaker opened arrives after it
     * has closed again (both let through while closed; the failure opens it
     * at once, the hanging one times out 1 s later), and must not open it. */
    {"test_stale_outcome_does_not_count",
     {.max_failures = 1, .reset_timeout_ms = 50, .call_timeout_ms = 1000},
     {S_PROXY_TELL(WK_HANG, WK_FAIL), S_BECOMES(OPEN), S_BECOMES(HALF_OPEN), S_ASK(WK_OK, 0),
      S_IS(CLOSED), S_PROXY_ANSWER(ENS_ETIMEDOUT, -1, WK_ERR, -1), S_IS(CLOSED),
      S_INFO(CONSECUTIVE_FAILURES, 0)},
     {"closed -> open after 1 consecutive failures", "open -> half-open after 50 ms",
      "half-open -> closed after 1 successful trial"}},

    /* A target by name is followed to a new address: the breaker found the
     * name's holder; that one is killed and another takes the name. The
     * request still sent to the old address fails (ENS_ENOACTOR, counted:
     * never resent, the old one may have taken it); the breaker looks the
     * name up again and the next requests and tells reach the new target. */
    {"test_target_by_name_followed_to_new_address",
     {.max_failures = 3, .by = BY_NAME},
     {S_ASK(WK_OK, 0), S_SEEN(1), S_GONE, S_BACK, S_ASK(WK_OK, ENS_ENOACTOR),
      S_INFO(CONSECUTIVE_FAILURES, 1), S_ASK(WK_OK, 0), S_SEEN(1), S_ASK(WK_OK, 0), S_SEEN(2),
      S_TELL(WK_OK), S_FORWARDED(WK_OK), S_IS(CLOSED), S_INFO(CONSECUTIVE_FAILURES, 0)},
     {NULL}},

    /* A name nobody holds is a failure of each request: the requester gets
     * ENS_ENOACTOR ("no such name"), and the breaker opens; when the name
     * is held again the trial after the reset timeout looks it up and
     * closes the breaker. */
    {"test_target_name_missing_counts_as_failure",
     {.max_failures = 2, .reset_timeout_ms = 50, .by = BY_NAME},
     {S_ASK(WK_OK, 0), S_GONE, S_ASK(WK_OK, ENS_ENOACTOR), S_IS(CLOSED), S_NO_SUCH_NAME(WK_OK),
      S_IS(OPEN), S_BACK, S_BECOMES(HALF_OPEN), S_ASK(WK_OK, 0), S_IS(CLOSED), S_SEEN(1)},
     {"closed -> open after 2 consecutive failures (last ENS_ENOACTOR)",
      "open -> half-open after 50 ms", "half-open -> closed after 1 successful trial"}},

    /* A breaker may start before anyone holds its target's name: requests
     * fail and count, tells are reported as dead letters naming the name. */
    {"test_target_name_never_held",
     {.max_failures = 2, .by = BY_MISSING_NAME},
     {S_TELL(WK_OK), S_NOTHING_COMES, S_NO_SUCH_NAME(WK_OK), S_IS(CLOSED), S_NO_SUCH_NAME(WK_OK),
      S_IS(OPEN), S_SEEN(0)},
     {"closed -> open after 2 consecutive failures (last ENS_ENOACTOR)"}},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static ens_breaker_opts opts_of(const config *c)
{
    ens_breaker_opts o = ENS_BREAKER_OPTS_INIT;
    o.max_failures = c->max_failures;
    o.failure_percent = c->failure_percent;
    if (c->window_calls != 0)
        o.window_calls = c->window_calls;
    if (c->call_timeout_ms != 0)
        o.call_timeout_ms = c->call_timeout_ms;
    if (c->reset_timeout_ms != 0)
        o.reset_timeout_ms = c->reset_timeout_ms;
    if (c->max_reset_timeout_ms != 0)
        o.max_reset_timeout_ms = c->max_reset_timeout_ms;
    if (c->backoff_percent != 0)
        o.backoff_percent = c->backoff_percent;
    return o;
}

static const char *const step_names[] = {
    "END",       "ASK",           "PROXY",        "PROXY_TELL", "PROXY_ANSWER", "TELL",
    "FORWARDED", "NOTHING_COMES", "DEAD_LETTERS", "IS",         "BECOMES",      "INFO",
    "SEEN",      "FAILS_FAST",    "GONE",         "BACK",       "NO_SUCH_NAME",
};

/* Fail the case at step i unless have == want. */
static void expect(size_t i, const step *s, const char *what, int64_t have, int64_t want)
{
    if (have != want)
        fail_msg("step %zu (%s): %s is %lld, expected %lld", i, step_names[s->kind], what,
                 (long long)have, (long long)want);
}

static void expect_seen(size_t i, const step *s, const seen_v *v)
{
    expect(i, s, "the first status", v->status1, s->want);
    expect(i, s, "the first retry_after_ms", v->retry1, s->retry);
    if (s->op2 != 0 || s->kind == PROXY_ANSWER) {
        expect(i, s, "the second status", v->status2, s->want2);
        expect(i, s, "the second retry_after_ms", v->retry2, s->retry2);
    }
}

static int64_t info_field_of(const ens_breaker_info_v *v, info_field f)
{
    switch (f) {
    case CONSECUTIVE_FAILURES:
        return v->consecutive_failures;
    case WINDOW_FAILURES:
        return v->window_failures;
    case RESET_TIMEOUT_MS:
        return v->reset_timeout_ms;
    case TIMES_OPENED:
        return (int64_t)v->times_opened;
    case REJECTED:
        return (int64_t)v->rejected;
    }
    fail_msg("no info field %d", (int)f);
    return -1;
}

static void fails_fast(scn *t, rig *r, size_t i, const step *s)
{
    int64_t t0 = scn_now_ns();
    ens_msg *m = NULL; /* outside, the error reply comes back too */
    expect(i, s, "the ask's status",
           ens_ask(t->out, r->breaker, &work_t, WORK(s->op, 0), SCN_WAIT_MS, &m),
           ENS_EBREAKER_OPEN);
    const ens_breaker_open_v *open = m != NULL ? ens_msg_value(m, &ens_msg_breaker_open) : NULL;
    assert_non_null(open);
    assert_true(open->retry_after_ms > 0 && open->retry_after_ms <= 60000);
    ens_msg_free(m);
    seen_v v = via_proxy(t, r, s->op, 0);
    assert_true(scn_now_ns() - t0 < 5 * 1000000000LL);
    expect(i, s, "the request's status", v.status1, ENS_EBREAKER_OPEN);
    assert_true(v.retry1 > 0 && v.retry1 <= 60000);
}

static void run_step(scn *t, rig *r, size_t i, const step *s)
{
    ens_msg *m = NULL;
    switch (s->kind) {
    case END:
        break;
    case ASK:
        expect(i, s, "the status", work(t, r->breaker, s->op), s->want);
        break;
    case PROXY: {
        seen_v v = via_proxy(t, r, s->op, s->op2);
        expect_seen(i, s, &v);
        break;
    }
    case PROXY_TELL:
        assert_int_equal(ens_send(t->out, r->proxy, &work_t, WORK(s->op, s->op2)), 0);
        break;
    case PROXY_ANSWER:
        m = scn_listen_type(t, &seen_t, SCN_WAIT_MS);
        expect_seen(i, s, ens_msg_value(m, &seen_t));
        ens_msg_free(m);
        break;
    case TELL:
        assert_int_equal(ens_send(t->out, r->breaker, &work_t, WORK(s->op, 0)), 0);
        break;
    case FORWARDED:
        m = scn_listen_type(t, &ens_msg_int64, SCN_WAIT_MS);
        expect(i, s, "the answer", ((const ens_int64_v *)ens_msg_value(m, &ens_msg_int64))->value,
               1000 + s->op);
        assert_true(ens_addr_equal(ens_msg_sender(m), r->flaky));
        ens_msg_free(m);
        break;
    case NOTHING_COMES:
        expect(i, s, "ens_listen", ens_listen(t->out, 200, &m), ENS_ETIMEDOUT);
        break;
    case DEAD_LETTERS:
        if (scn_events_local(t))
            expect(i, s, "dead letters", (int64_t)scn_events_count(t, ENS_EV_DEAD_LETTER, r->flaky),
                   s->n);
        break;
    case IS:
        assert_state(t, r, (ens_breaker_state)s->n);
        break;
    case BECOMES:
        wait_state(t, r, (ens_breaker_state)s->n);
        break;
    case INFO: {
        ens_breaker_info_v v = info(t, r);
        static const char *const names[] = {"consecutive_failures", "window_failures",
                                            "reset_timeout_ms", "times_opened", "rejected"};
        expect(i, s, names[s->field], info_field_of(&v, s->field), s->n);
        break;
    }
    case SEEN:
        expect(i, s, "the target's count", flaky_seen(t, r), s->n);
        break;
    case FAILS_FAST:
        fails_fast(t, r, i, s);
        break;
    case GONE:
        target_gone(t, r);
        break;
    case BACK:
        target_back(t, r);
        break;
    case NO_SUCH_NAME: {
        expect(i, s, "the status",
               ens_ask(t->out, r->breaker, &work_t, WORK(s->op, 0), SCN_WAIT_MS, &m), ENS_ENOACTOR);
        const ens_string_v *why = m != NULL ? ens_msg_value(m, &ens_msg_string) : NULL;
        if (why == NULL || why->text == NULL ||
            strcmp(why->text, "no such name: " TARGET_NAME) != 0)
            fail_msg("step %zu: the error reply does not say \"no such name\"", i);
        ens_msg_free(m);
        break;
    }
    }
}

/* The runner: a breaker with the case's options in front of a flaky
 * target, the steps in order, then the journal. */
static void run_case(void **state)
{
    scn *t = *state;
    const cb_case *c = t->row;
    assert_non_null(c);
    rig r;
    ens_breaker_opts o = opts_of(&c->opts);
    rig_start(t, &r, &o, c->opts.by);
    for (size_t i = 0; i < MAX_STEPS && c->steps[i].kind != END; i++)
        run_step(t, &r, i, &c->steps[i]);
    finish(t, &r, c->journal);
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
    ens_breaker_opts bad[9];
    for (size_t i = 0; i < 9; i++)
        bad[i] = ok;
    bad[0].target = ENS_ADDR_NONE;
    bad[1].max_failures = 0; /* and no ratio rule */
    bad[2].half_open_probes = 0;
    bad[3].backoff_percent = 50;
    bad[4].failure_percent = 101;
    bad[5].failure_percent = 50;
    bad[5].window_calls = ENS_BREAKER_MAX_WINDOW + 1;
    bad[6].target_name = "cbt.both"; /* and the target */
    bad[7].target = ENS_ADDR_NONE;
    bad[7].target_name = "no spaces allowed";
    bad[8].target = ENS_ADDR_NONE;
    bad[8].target_name = "";
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(ens_breaker_spawn(t->out, &bad[i], &b), ENS_EINVAL);
    assert_true(ens_addr_is_none(b));
    assert_int_equal(ens_breaker_spawn(t->out, &ok, &b), 0);
    ens_breaker_info_v v;
    assert_int_equal(ens_breaker_info(t->out, b, SCN_WAIT_MS, &v), 0);
    assert_int_equal(v.state, ENS_BREAKER_CLOSED);
    assert_int_equal(v.reset_timeout_ms, 60000);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

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
    struct CMUnitTest tests[N_CASES + 1];
    for (size_t i = 0; i < N_CASES; i++)
        tests[i] = SCN_TEST_ROW(cases[i].name, run_case, &cases[i]);
    tests[N_CASES] = (struct CMUnitTest)SCN_TEST(test_bad_options_refused);
    return scn_run_bases("circuit_breaker", tests, N_CASES + 1);
}

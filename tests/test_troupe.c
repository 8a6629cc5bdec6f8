/*
 * tests/test_troupe.c - the troupe behaviour (behaviours/troupe.c), on both
 * bases (tests/support/scenario.h) where it applies.
 *
 * Workers answer each job with a Result (the job's id, the delivery attempt,
 * their pid, address and start argument) by ens_reply, so a Result reaching
 * the test proves the reply went to the original sender through the
 * leader's forward. A page of shared memory, mapped before any system
 * starts, lets process-base workers show how many of them are inside a
 * handler at once and lets the test hold them there; the test waits for
 * states it reads there or in the leader's ens_msg_troupe_stats, never for
 * time. Crash tests run on the process base only.
 *
 * The cases are a table: each gives the troupe's shape, the traffic it gets
 * (a function that sends and checks what comes back) and the leader's
 * figures once settled; one runner starts, plays and checks them.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "support/deadline.h"
#include "support/scenario.h"

/* ---- messages ------------------------------------------------------------- */

enum job_mode {
    JOB_PLAIN = 0,
    JOB_FAIL_ONCE,   /* error on attempt 1, then fine */
    JOB_FAIL_ALWAYS, /* error on both attempts: poison */
    JOB_CRASH_ONCE,  /* SIGSEGV on attempt 1 (process base) */
    JOB_CRASH_ALWAYS,
    JOB_BLOCK, /* attempt 1 waits inside the handler until shared->release */
    JOB_STOP,  /* reply, then ens_stop: the worker ends for good */
    JOB_HOLD,  /* ens_troupe_busy(true), answer from a wake-up, then release */
};

typedef struct job_v {
    int64_t id;
    int32_t mode;
} job_v;
static ens_msgtype job_t = {"tt.Job", "S(Ii)", sizeof(job_v), 0, 0, NULL};

typedef struct result_v {
    int64_t id;
    int64_t arg; /* the worker's start argument */
    int32_t attempt;
    int32_t pid;
    ens_addr worker;
} result_v;
static ens_msgtype result_t = {"tt.Result", "S(IIii" ENS_ADDR_FMT ")", sizeof(result_v), 0, 0,
                               NULL};

/* Shared with every process of the process base. */
typedef struct shared_page {
    atomic_int in_handler;
    atomic_int max_in_handler;
    atomic_int release;
    atomic_int blocked_pid;
} shared_page;
static shared_page *shared;

/* A start argument that fails the worker's init. */
#define INIT_FAILS (-99)

/* ---- the worker ------------------------------------------------------------ */

typedef struct worker_state {
    int64_t arg;
    ens_from held; /* JOB_HOLD: whom to answer */
    int64_t held_id;
} worker_state;

static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    const ens_int64_v *v = arg != NULL ? ens_msg_value(arg, &ens_msg_int64) : NULL;
    ((worker_state *)state)->arg = v != NULL ? v->value : -1;
    return v != NULL && v->value == INIT_FAILS ? ENS_EIO : 0;
}

static int reply_result(ens_ctx *c, worker_state *w, int64_t id, uint32_t attempt)
{
    result_v r = {id, w->arg, (int32_t)attempt, (int32_t)getpid(), ens_self(c)};
    return ens_reply(c, &result_t, &r);
}

static int worker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    worker_state *w = state;
    if (ens_msg_value(m, &ens_msg_wakeup) != NULL && !ens_addr_is_none(w->held.to)) {
        result_v r = {w->held_id, w->arg, 1, (int32_t)getpid(), ens_self(c)};
        int rc = ens_reply_to(c, w->held, 0, &result_t, &r);
        w->held = (ens_from){ENS_ADDR_NONE, 0};
        return rc < 0 ? rc : ens_troupe_busy(c, false);
    }
    const job_v *j = ens_msg_value(m, &job_t);
    if (j == NULL)
        return 0;
    uint32_t attempt = ens_msg_attempt(m);
    int now = atomic_fetch_add(&shared->in_handler, 1) + 1;
    int seen = atomic_load(&shared->max_in_handler);
    while (now > seen && !atomic_compare_exchange_weak(&shared->max_in_handler, &seen, now)) {
    }
    int rc = 0;
    switch (j->mode) {
    case JOB_FAIL_ONCE:
        rc = attempt == 1 ? ENS_EIO : 0;
        break;
    case JOB_FAIL_ALWAYS:
        rc = ENS_EIO;
        break;
    case JOB_CRASH_ONCE:
        if (attempt == 1)
            raise(SIGSEGV);
        break;
    case JOB_CRASH_ALWAYS:
        raise(SIGSEGV); /* as a NULL dereference would (UBSan stops those) */
        break;
    case JOB_BLOCK:
        atomic_store(&shared->blocked_pid, (int)getpid());
        while (attempt == 1 && !atomic_load(&shared->release))
            nanosleep(&(struct timespec){0, 200000}, NULL);
        break;
    case JOB_HOLD:
        atomic_fetch_sub(&shared->in_handler, 1);
        w->held = ens_from_current(c);
        w->held_id = j->id;
        rc = ens_troupe_busy(c, true);
        return rc < 0 ? rc : ens_wakeup_after(c, 1, 0, NULL);
    default:
        break;
    }
    atomic_fetch_sub(&shared->in_handler, 1);
    if (rc < 0)
        return rc;
    rc = reply_result(c, w, j->id, attempt);
    if (rc == 0 && j->mode == JOB_STOP)
        rc = ens_stop(c, ENS_EXIT_NORMAL, 0);
    return rc;
}

static const ens_actor_def worker_def = {
    "tt.Worker", sizeof(worker_state), worker_init, worker_receive, NULL, NULL, NULL, NULL, NULL};

/* A client actor: on a job from the outside, asks the troupe (its start
 * argument) with ens_request and tells the outside what came back. */
typedef struct client_state {
    ens_addr troupe;
    ens_addr outside;
} client_state;

static int client_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    const result_v *r = arg != NULL ? ens_msg_value(arg, &result_t) : NULL;
    if (r == NULL)
        return ENS_EINVAL;
    ((client_state *)state)->troupe = r->worker;
    return 0;
}

static void client_reply(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    client_state *cs = state;
    const result_v *r = reply != NULL ? ens_msg_value(reply, &result_t) : NULL;
    result_v out = r != NULL ? *r : (result_v){(int64_t)tag, 0, status, 0, ENS_ADDR_NONE};
    if (status != 0)
        out.attempt = status;
    (void)ens_send(c, cs->outside, &result_t, &out);
}

static int client_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    client_state *cs = state;
    const job_v *j = ens_msg_value(m, &job_t);
    if (j == NULL)
        return 0;
    cs->outside = ens_sender(c);
    return ens_request(c, cs->troupe, &job_t, j, SCN_WAIT_MS, client_reply, (uint64_t)j->id);
}

static const ens_actor_def client_def = {
    "tt.Client", sizeof(client_state), client_init, client_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- test helpers ------------------------------------------------------------ */

static void shared_reset(void)
{
    atomic_store(&shared->in_handler, 0);
    atomic_store(&shared->max_in_handler, 0);
    atomic_store(&shared->release, 0);
    atomic_store(&shared->blocked_pid, 0);
}

static ens_addr troupe_ok(scn *t, uint32_t max, uint32_t idle, uint32_t dismiss_ms, int64_t arg)
{
    ens_troupe_opts o = ENS_TROUPE_OPTS_INIT;
    o.worker = &worker_def;
    o.arg_type = &ens_msg_int64;
    o.arg = &(ens_int64_v){arg};
    o.max_count = max;
    o.idle_count = idle;
    o.dismiss_after_ms = dismiss_ms;
    ens_addr a = ENS_ADDR_NONE;
    int rc = ens_troupe_spawn(t->out, &o, &a);
    if (rc != 0)
        fail_msg("ens_troupe_spawn: %s", ens_err_name(rc));
    return a;
}

static void tell_job(scn *t, ens_addr to, int64_t id, int32_t mode)
{
    int rc = ens_send(t->out, to, &job_t, &(job_v){id, mode});
    if (rc != 0)
        fail_msg("tell job %lld: %s", (long long)id, ens_err_name(rc));
}

static result_v listen_result(scn *t)
{
    ens_msg *m = scn_listen_type(t, &result_t, SCN_WAIT_MS);
    result_v r = *(const result_v *)ens_msg_value(m, &result_t);
    ens_msg_free(m);
    return r;
}

/* Ask for a job and return the Result; the reply must be one. */
static result_v ask_job(scn *t, ens_addr to, int64_t id, int32_t mode)
{
    ens_msg *m = NULL;
    int rc = ens_ask(t->out, to, &job_t, &(job_v){id, mode}, SCN_WAIT_MS, &m);
    if (rc != 0) {
        ens_msg_free(m);
        fail_msg("ask job %lld: %s", (long long)id, ens_err_name(rc));
    }
    const result_v *r = ens_msg_value(m, &result_t);
    assert_non_null(r);
    result_v out = *r;
    ens_msg_free(m);
    return out;
}

static ens_troupe_stats_v stats(scn *t, ens_addr troupe)
{
    ens_msg *m = NULL;
    int rc =
        ens_ask(t->out, troupe, &ens_msg_troupe_stats, &(ens_troupe_stats_v){0}, SCN_WAIT_MS, &m);
    if (rc != 0)
        fail_msg("stats: %s", ens_err_name(rc));
    ens_troupe_stats_v v = *(const ens_troupe_stats_v *)ens_msg_value(m, &ens_msg_troupe_stats);
    ens_msg_free(m);
    return v;
}

/* The leader's stats once no work is in hand or waiting: a worker's reply
 * can reach the test before the leader hears that the worker is done. */
static ens_troupe_stats_v stats_settled(scn *t, ens_addr troupe)
{
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    ens_troupe_stats_v s;
    while ((s = stats(t, troupe)).busy > 0 || s.waiting > 0)
        if (scn_now_ns() > deadline)
            fail_msg("the troupe stays busy (%u busy, %u waiting)", s.busy, s.waiting);
    return s;
}

/* Let time pass for wake-ups (inproc runs them while the outside listens). */
static void let_time_pass(scn *t, uint32_t ms)
{
    ens_msg *m = NULL;
    int rc = ens_listen(t->out, ms, &m);
    if (rc != ENS_ETIMEDOUT)
        fail_msg("unexpected message while waiting: %s", ens_err_name(rc));
}

static void wait_in_handler(scn *t, int n)
{
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (atomic_load(&shared->in_handler) < n) {
        if (scn_now_ns() > deadline)
            fail_msg("%d workers never were in a handler at once (%d)", n,
                     atomic_load(&shared->in_handler));
        /* Also sends what the outside has queued (the jobs). */
        assert_int_equal(ens_system_run(t->sys, 1), 0);
    }
}

/* The rows of the status whose parent is the troupe tr: its workers, each
 * shown with its own definition's type (any other type fails the test). */
static size_t count_workers(scn *t, ens_addr tr)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    size_t n = 0;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (!ens_addr_equal(a->parent, tr))
            continue;
        if (strcmp(a->type, worker_def.name) != 0)
            fail_msg("a worker of the troupe shows as \"%s\", not \"%s\"", a->type,
                     worker_def.name);
        n++;
    }
    ens_status_free(st);
    return n;
}

/* Distinct worker addresses among results. */
static size_t distinct_workers(const result_v *r, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < i && !ens_addr_equal(r[k].worker, r[i].worker))
            k++;
        d += k == i;
    }
    return d;
}

/* ---- the cases: a table of troupes, what is sent, the figures at the end ---- */

/* The leader's figures (&ens_msg_troupe_stats) once no work is in hand or
 * waiting, and the most workers the shared page saw in a handler at once. */
typedef enum figure {
    NO_FIGURE = 0,
    DONE,
    WAITING,
    BUSY,
    MAX_BUSY,
    STARTED,
    LOST,
    WORKERS,
    IN_HANDLER_AT_ONCE,
} figure;
typedef enum cmp { EQ, AT_MOST } cmp;
typedef struct want {
    figure what;
    cmp how;
    int64_t n;
} want;

#define MAX_WANTS 6

typedef struct troupe_case {
    const char *name;
    bool process_only; /* crashes and kills need processes */
    uint32_t max, idle, dismiss_ms;
    int64_t arg; /* the workers' start argument */
    /* What is sent and what must come back. Returns the pid of a worker
     * that must not outlive the system's shutdown, or 0. */
    int (*drive)(scn *t, ens_addr tr);
    want settled[MAX_WANTS]; /* up to the first NO_FIGURE; none: not waited for */
} troupe_case;

#define MANY 10000

/* MANY tells, each handled exactly once, by at most max_count workers. */
static int ten_thousand_once(scn *t, ens_addr tr)
{
    for (int64_t i = 0; i < MANY; i++)
        tell_job(t, tr, i, JOB_PLAIN);
    uint8_t *seen = calloc(MANY, 1);
    result_v *r = calloc(MANY, sizeof(*r));
    assert_non_null(seen);
    assert_non_null(r);
    for (size_t i = 0; i < MANY; i++) {
        r[i] = listen_result(t);
        assert_true(r[i].id >= 0 && r[i].id < MANY);
        assert_int_equal(seen[r[i].id], 0);
        seen[r[i].id] = 1;
        assert_int_equal(r[i].attempt, 1);
        assert_int_equal(r[i].arg, 7);
    }
    assert_true(distinct_workers(r, MANY) <= 4);
    free(seen);
    free(r);
    return 0;
}

/* One worker: everything waits at the leader and comes out in order. */
static int order_one_worker(scn *t, ens_addr one)
{
    for (int64_t i = 0; i < 500; i++)
        tell_job(t, one, i, JOB_PLAIN);
    for (int64_t i = 0; i < 500; i++)
        assert_int_equal(listen_result(t).id, i);
    return 0;
}

/* Three workers: each sees its share in arrival order. */
static int order_three_workers(scn *t, ens_addr three)
{
    for (int64_t i = 0; i < 900; i++)
        tell_job(t, three, i, JOB_PLAIN);
    result_v r[900];
    for (size_t i = 0; i < 900; i++)
        r[i] = listen_result(t);
    assert_true(distinct_workers(r, 900) <= 3);
    for (size_t i = 0; i < 900; i++)
        for (size_t k = 0; k < i; k++)
            if (ens_addr_equal(r[k].worker, r[i].worker))
                assert_true(r[k].id < r[i].id);
    return 0;
}

/* max_count workers at most, created on demand, the rest waits. */
static int created_on_demand(scn *t, ens_addr tr)
{
    assert_int_equal(stats(t, tr).workers, 0);
    if (t->base == ENS_BASE_PROCESS) {
        for (int64_t i = 0; i < 5; i++)
            tell_job(t, tr, i, JOB_BLOCK);
        wait_in_handler(t, 3);
        ens_troupe_stats_v s = stats(t, tr);
        assert_int_equal(s.workers, 3);
        assert_int_equal(s.busy, 3);
        assert_int_equal(s.waiting, 2);
        assert_int_equal(count_workers(t, tr), 3);
        atomic_store(&shared->release, 1);
    } else {
        /* Inproc runs the leader on all five before any worker. */
        for (int64_t i = 0; i < 5; i++)
            tell_job(t, tr, i, JOB_PLAIN);
    }
    result_v r[5];
    for (size_t i = 0; i < 5; i++)
        r[i] = listen_result(t);
    assert_int_equal(distinct_workers(r, 5), 3);
    return 0;
}

/* Idle workers go after dismiss_after_ms, down to idle_count. */
static int dismissed_down_to_minimum(scn *t, ens_addr tr)
{
    assert_int_equal(stats(t, tr).workers, 1);
    if (t->base == ENS_BASE_PROCESS) {
        for (int64_t i = 0; i < 4; i++)
            tell_job(t, tr, i, JOB_BLOCK);
        wait_in_handler(t, 4);
        atomic_store(&shared->release, 1);
    } else {
        for (int64_t i = 0; i < 4; i++)
            tell_job(t, tr, i, JOB_PLAIN);
    }
    for (int i = 0; i < 4; i++)
        (void)listen_result(t);
    assert_int_equal(stats(t, tr).started, 4);
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    ens_troupe_stats_v s;
    while ((s = stats(t, tr)).workers > 1) {
        if (scn_now_ns() > deadline)
            fail_msg("still %u workers", s.workers);
        let_time_pass(t, 10);
    }
    assert_int_equal(s.dismissed, 3);
    assert_int_equal(s.lost, 0);
    /* The leader hears of an orderly exit from the worker itself, a moment
     * before the admin has reaped its process. */
    while (count_workers(t, tr) > 1) {
        if (scn_now_ns() > deadline)
            fail_msg("the status still shows more than one worker");
        let_time_pass(t, 1);
    }
    assert_int_equal(count_workers(t, tr), 1);
    /* The one kept still works, and no more go. */
    assert_int_equal(ask_job(t, tr, 9, JOB_PLAIN).id, 9);
    let_time_pass(t, 60);
    assert_int_equal(stats(t, tr).workers, 1);
    return 0;
}

static int replies_reach_original_sender(scn *t, ens_addr tr)
{
    /* Outside ens_ask through the leader gets the worker's reply. */
    result_v r = ask_job(t, tr, 1, JOB_PLAIN);
    assert_int_equal(r.id, 1);
    assert_int_equal(r.arg, 42);
    assert_false(ens_addr_equal(r.worker, tr));
    /* And an ens_request from inside another actor. */
    ens_addr client = ENS_ADDR_NONE;
    result_v targ = {0, 0, 0, 0, tr};
    assert_int_equal(ens_spawn(t->out, &client_def, &result_t, &targ, &client), 0);
    tell_job(t, client, 2, JOB_PLAIN);
    r = listen_result(t);
    assert_int_equal(r.id, 2);
    assert_int_equal(r.attempt, 1);
    assert_int_equal(r.arg, 42);
    /* A poisoned request completes the requester's callback with EPOISON. */
    tell_job(t, client, 3, JOB_FAIL_ALWAYS);
    r = listen_result(t);
    assert_int_equal(r.id, 3);
    assert_int_equal(r.attempt, ENS_EPOISON);
    return 0;
}

static int retried_then_poisoned(scn *t, ens_addr tr)
{
    result_v r = ask_job(t, tr, 1, JOB_FAIL_ONCE);
    assert_int_equal(r.attempt, 2);

    ens_msg *m = NULL;
    assert_int_equal(ens_ask(t->out, tr, &job_t, &(job_v){2, JOB_FAIL_ALWAYS}, SCN_WAIT_MS, &m),
                     ENS_EPOISON);
    const ens_poison_v *p = ens_msg_value(m, &ens_msg_poison);
    assert_non_null(p);
    assert_int_equal(p->attempts, 2);
    assert_int_equal(p->error, ENS_EIO);
    assert_false(ens_addr_equal(p->target, tr)); /* the worker failed, not the leader */
    const ens_msg *orig = ens_poison_original(m);
    assert_non_null(orig);
    assert_int_equal(((const job_v *)ens_msg_value(orig, &job_t))->id, 2);
    ens_msg_free(m);

    /* A tell's poison comes back to the outside through ens_listen. */
    tell_job(t, tr, 3, JOB_FAIL_ALWAYS);
    m = scn_listen_type(t, &ens_msg_poison, SCN_WAIT_MS);
    orig = ens_poison_original(m);
    assert_non_null(orig);
    assert_int_equal(((const job_v *)ens_msg_value(orig, &job_t))->id, 3);
    ens_msg_free(m);

    for (int64_t i = 10; i < 20; i++)
        assert_int_equal(ask_job(t, tr, i, JOB_PLAIN).id, i);
    return 0;
}

static int ended_worker_replaced(scn *t, ens_addr tr)
{
    result_v first = ask_job(t, tr, 1, JOB_STOP);
    for (int64_t i = 2; i < 40; i++)
        tell_job(t, tr, i, JOB_PLAIN);
    for (int64_t i = 2; i < 40; i++) {
        result_v r = listen_result(t);
        assert_int_equal(r.id, i);
        assert_false(ens_addr_equal(r.worker, first.worker));
    }
    return 0;
}

static int busy_worker_keeps_its_item(scn *t, ens_addr tr)
{
    tell_job(t, tr, 1, JOB_HOLD);
    tell_job(t, tr, 2, JOB_PLAIN);
    /* Job 2 waits at the leader until the held job 1 is answered. */
    assert_int_equal(listen_result(t).id, 1);
    assert_int_equal(listen_result(t).id, 2);
    assert_int_equal(ens_troupe_busy(t->out, true), ENS_EINVAL);
    return 0;
}

/* Job 10 crashes once (handled again), job 20 on every attempt (poison). */
static int crashed_worker_redelivers(scn *t, ens_addr tr)
{
    for (int64_t i = 0; i < 60; i++)
        tell_job(t, tr, i, i == 10 ? JOB_CRASH_ONCE : i == 20 ? JOB_CRASH_ALWAYS : JOB_PLAIN);
    uint8_t seen[60] = {0};
    bool poisoned = false;
    for (int n = 0; n < 60; n++) {
        ens_msg *m = NULL;
        assert_int_equal(ens_listen(t->out, SCN_WAIT_MS, &m), 0);
        const result_v *r = ens_msg_value(m, &result_t);
        if (r == NULL) {
            const ens_poison_v *p = ens_msg_value(m, &ens_msg_poison);
            assert_non_null(p);
            assert_int_equal(p->signal, SIGSEGV);
            const ens_msg *o = ens_poison_original(m);
            assert_int_equal(((const job_v *)ens_msg_value(o, &job_t))->id, 20);
            poisoned = true;
        } else {
            assert_int_equal(seen[r->id], 0);
            seen[r->id] = 1;
            assert_int_equal(r->attempt, r->id == 10 ? 2 : 1);
            assert_int_equal(r->arg, 5);
        }
        ens_msg_free(m);
    }
    assert_true(poisoned);
    return 0;
}

/* A worker killed inside a handler: the other takes what follows, the
 * killed one's job is handled again by its replacement. */
static int killed_worker_redelivers(scn *t, ens_addr tr)
{
    tell_job(t, tr, 0, JOB_BLOCK);
    wait_in_handler(t, 1);
    for (int64_t i = 1; i < 30; i++)
        tell_job(t, tr, i, JOB_PLAIN);
    for (int64_t i = 1; i < 30; i++)
        assert_int_equal(listen_result(t).id, i);
    int pid = atomic_load(&shared->blocked_pid);
    assert_true(pid > 0);
    atomic_fetch_sub(&shared->in_handler, 1); /* it will not get to say so */
    assert_int_equal(kill(pid, SIGKILL), 0);
    result_v r = listen_result(t);
    assert_int_equal(r.id, 0);
    assert_int_equal(r.attempt, 2);
    assert_true(r.pid != pid);
    for (int64_t i = 30; i < 40; i++)
        assert_int_equal(ask_job(t, tr, i, JOB_PLAIN).id, i);
    return r.pid; /* nothing is left behind */
}

/* Workers that cannot start are not started over and over, and work sent
 * meanwhile does not wait forever. */
static int failing_init_not_looped(scn *t, ens_addr tr)
{
    ens_msg *m = NULL;
    assert_int_equal(ens_ask(t->out, tr, &job_t, &(job_v){1, JOB_PLAIN}, SCN_WAIT_MS, &m),
                     ENS_ENOACTOR);
    ens_msg_free(m); /* the error reply says why */
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    ens_troupe_stats_v s;
    while ((s = stats(t, tr)).workers > 0) {
        if (scn_now_ns() > deadline)
            fail_msg("still %u workers", s.workers);
        let_time_pass(t, 1);
    }
    assert_true(s.started <= 3);
    let_time_pass(t, 50);
    s = stats(t, tr);
    assert_true(s.started <= 3);
    assert_int_equal(s.workers, 0);
    assert_int_equal(s.waiting, 0);
    return 0;
}

/* A figure and the value it must have, or the most it may be. */
#define WANT(...)                                                                                  \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define W(f, k)         WANT(f, EQ, k)
#define W_AT_MOST(f, k) WANT(f, AT_MOST, k)

static const troupe_case cases[] = {
    {"test_ten_thousand_handled_exactly_once",
     false,
     4,
     1,
     2000,
     7,
     ten_thousand_once,
     {W(DONE, MANY), W(WAITING, 0), W(BUSY, 0), W_AT_MOST(MAX_BUSY, 4),
      W_AT_MOST(IN_HANDLER_AT_ONCE, 4)}},
    {"test_waiting_messages_keep_order_one_worker", false, 1, 1, 2000, 0, order_one_worker, {}},
    {"test_waiting_messages_keep_order_three_workers",
     false,
     3,
     0,
     2000,
     0,
     order_three_workers,
     {}},
    {"test_max_count_respected_and_created_on_demand",
     false,
     3,
     0,
     60000,
     0,
     created_on_demand,
     {W(MAX_BUSY, 3), W(STARTED, 3), W(DONE, 5), W_AT_MOST(IN_HANDLER_AT_ONCE, 3)}},
    {"test_idle_workers_dismissed_down_to_minimum",
     false,
     4,
     1,
     30,
     0,
     dismissed_down_to_minimum,
     {}},
    {"test_replies_reach_original_sender",
     false,
     2,
     1,
     2000,
     42,
     replies_reach_original_sender,
     {}},
    {"test_error_retried_then_poisoned_to_original_sender",
     false,
     2,
     1,
     2000,
     0,
     retried_then_poisoned,
     {W(LOST, 0), W(BUSY, 0), W(DONE, 13)}},
    {"test_worker_that_ends_is_replaced",
     false,
     1,
     1,
     2000,
     0,
     ended_worker_replaced,
     {W(LOST, 1), W(STARTED, 2), W(WORKERS, 1)}},
    {"test_busy_worker_keeps_its_item_open",
     false,
     1,
     1,
     2000,
     0,
     busy_worker_keeps_its_item,
     {W(DONE, 2)}},
    {"test_crashed_worker_restarted_and_message_redelivered",
     true,
     3,
     1,
     2000,
     5,
     crashed_worker_redelivers,
     {W(DONE, 60), W(BUSY, 0), W(LOST, 0)}},
    {"test_killed_worker_restarted_and_message_redelivered",
     true,
     2,
     2,
     2000,
     0,
     killed_worker_redelivers,
     {W(DONE, 40), W(WORKERS, 2), W(LOST, 0)}},
    {"test_workers_failing_init_not_restarted_in_a_loop",
     false,
     3,
     2,
     2000,
     INIT_FAILS,
     failing_init_not_looped,
     {}},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static int64_t figure_of(const ens_troupe_stats_v *s, figure f)
{
    switch (f) {
    case NO_FIGURE:
        break;
    case DONE:
        return (int64_t)s->done;
    case WAITING:
        return s->waiting;
    case BUSY:
        return s->busy;
    case MAX_BUSY:
        return s->max_busy;
    case STARTED:
        return (int64_t)s->started;
    case LOST:
        return (int64_t)s->lost;
    case WORKERS:
        return s->workers;
    case IN_HANDLER_AT_ONCE:
        return atomic_load(&shared->max_in_handler);
    }
    fail_msg("no figure %d", (int)f);
    return -1;
}

/* The runner: a troupe of the case's shape, the case's traffic, then the
 * settled figures; after the shutdown, no worker is left. */
static void run_case(void **state)
{
    static const char *const names[] = {"",     "done",     "waiting",
                                        "busy", "max_busy", "started",
                                        "lost", "workers",  "most in a handler at once"};
    scn *t = *state;
    const troupe_case *c = t->row;
    assert_non_null(c);
    if (c->process_only && t->base != ENS_BASE_PROCESS)
        skip();
    shared_reset();
    scn_start(t, NULL);
    ens_addr tr = troupe_ok(t, c->max, c->idle, c->dismiss_ms, c->arg);
    int left = c->drive(t, tr);
    if (c->settled[0].what != NO_FIGURE) {
        ens_troupe_stats_v s = stats_settled(t, tr);
        for (size_t i = 0; i < MAX_WANTS && c->settled[i].what != NO_FIGURE; i++) {
            const want *w = &c->settled[i];
            int64_t have = figure_of(&s, w->what);
            if (w->how == EQ ? have != w->n : have > w->n)
                fail_msg("%s is %lld, expected %s%lld", names[w->what], (long long)have,
                         w->how == EQ ? "" : "at most ", (long long)w->n);
        }
    }
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    if (left > 0) {
        test_deadline d = test_deadline_in(TEST_WAIT_MS);
        while (kill(left, 0) == 0 && !test_deadline_passed(d))
            test_nap_ms(1); /* polling for an exit that is not our child's */
        assert_int_not_equal(kill(left, 0), 0);
    }
}

static void test_bad_options_rejected(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr a = ENS_ADDR_NONE;
    ens_troupe_opts o = ENS_TROUPE_OPTS_INIT;
    assert_int_equal(ens_troupe_spawn(t->out, &o, &a), ENS_EINVAL); /* no worker */
    o.worker = &worker_def;
    assert_int_equal(ens_troupe_spawn(NULL, &o, &a), ENS_EINVAL);
    assert_int_equal(ens_troupe_spawn(t->out, NULL, &a), ENS_EINVAL);
    assert_int_equal(ens_troupe_spawn(t->out, &o, NULL), ENS_EINVAL);
    o.max_count = 0;
    assert_int_equal(ens_troupe_spawn(t->out, &o, &a), ENS_EINVAL);
    o.max_count = 2;
    o.idle_count = 3;
    assert_int_equal(ens_troupe_spawn(t->out, &o, &a), ENS_EINVAL);
    o.idle_count = 0;
    o.arg_type = &ens_msg_int64; /* without a value */
    assert_int_equal(ens_troupe_spawn(t->out, &o, &a), ENS_EINVAL);
    assert_true(ens_addr_is_none(a));
    o.arg_type = NULL;
    assert_int_equal(ens_troupe_spawn(t->out, &o, &a), 0);
    assert_false(ens_addr_is_none(a));
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- how workers show: status rows and journal rows ------------------------- */

#define MAX_SHOWN_ROWS 32

typedef struct shown_rows {
    size_t n;
    struct {
        int32_t kind;
        char type[64];
        ens_addr actor, parent;
    } row[MAX_SHOWN_ROWS];
} shown_rows;

static int keep_shown(const ens_journal_row *row, void *arg)
{
    shown_rows *rs = arg;
    if (rs->n < MAX_SHOWN_ROWS) {
        rs->row[rs->n].kind = (int32_t)row->ev.kind;
        snprintf(rs->row[rs->n].type, sizeof(rs->row[0].type), "%s", row->ev.actor_type);
        rs->row[rs->n].actor = row->ev.actor;
        rs->row[rs->n].parent = row->ev.parent;
        rs->n++;
    }
    return 0;
}

/* The journal rows of kind `kind` about worker w: each must name the
 * worker's own type and the troupe tr as its parent; returns how many. */
static size_t worker_rows(ens_journal *j, ens_addr w, ens_addr tr, ens_event_kind kind)
{
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor = w;
    f.kinds = 1u << kind;
    shown_rows rs = {0};
    assert_true(ens_journal_query(j, &f, keep_shown, &rs) >= 0);
    for (size_t i = 0; i < rs.n; i++) {
        if (strcmp(rs.row[i].type, worker_def.name) != 0 || !ens_addr_equal(rs.row[i].parent, tr))
            fail_msg("a %s row of a worker names type \"%s\"", ens_event_kind_name(kind),
                     rs.row[i].type);
    }
    return rs.n;
}

/* A troupe's workers show as what they are, not as the wrapper that runs
 * them: in the status, rows of their own definition's type whose parent is
 * the troupe (the idle ones, before any work); in the journal, the rows of
 * a message poisoned in a worker (both bases) and of a worker's crash and
 * restart (process base) name that type and the troupe. */
static void test_workers_show_their_type_and_troupe(void **state)
{
    scn *t = *state;
    shared_reset();
    char dir[] = "/tmp/ens-tt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/journal.db", dir);
    ens_system_opts so = ENS_SYSTEM_OPTS_INIT;
    so.journal_path = path;
    so.log_level = ENS_LOG_ERROR;
    scn_start(t, &so);
    ens_addr tr = troupe_ok(t, 3, 2, 60000, 0);

    /* The idle workers are asked to start with the leader: wait for both. */
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (count_workers(t, tr) < 2) {
        if (scn_now_ns() > deadline)
            fail_msg("the status never showed the troupe's two idle workers");
        let_time_pass(t, 1);
    }
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        assert_string_not_equal(a->type, "ens.TroupeWorker");
        if (ens_addr_equal(a->addr, tr))
            assert_string_equal(a->type, "ens.Troupe");
    }
    ens_status_free(st);

    ens_msg *m = NULL;
    assert_int_equal(ens_ask(t->out, tr, &job_t, &(job_v){1, JOB_FAIL_ALWAYS}, SCN_WAIT_MS, &m),
                     ENS_EPOISON);
    const ens_poison_v *p = ens_msg_value(m, &ens_msg_poison);
    assert_non_null(p);
    ens_addr poisoned = p->target;
    ens_msg_free(m);
    ens_addr crashed = ENS_ADDR_NONE;
    if (t->base == ENS_BASE_PROCESS) {
        result_v r = ask_job(t, tr, 2, JOB_CRASH_ONCE);
        assert_int_equal(r.attempt, 2);
        crashed = r.worker;
    }
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);

    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(path, &j), 0);
    size_t poison = worker_rows(j, poisoned, tr, ENS_EV_POISON);
    size_t errors = worker_rows(j, poisoned, tr, ENS_EV_ERROR);
    size_t crashes = 0, restarts = 0;
    if (t->base == ENS_BASE_PROCESS) {
        crashes = worker_rows(j, crashed, tr, ENS_EV_CRASH);
        restarts = worker_rows(j, crashed, tr, ENS_EV_RESTART);
    }
    ens_journal_close(j);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(poison, 1);
    assert_true(errors >= 1);
    if (t->base == ENS_BASE_PROCESS) {
        assert_int_equal(crashes, 1);
        assert_int_equal(restarts, 1);
    }
}

int main(void)
{
    shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return 1;
    ens_msgtype *types[] = {&job_t, &result_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ens_msgtype_register(types[i]);
        if (rc != 0) {
            fprintf(stderr, "registering %s: %s\n", types[i]->name, ens_err_name(rc));
            return 1;
        }
    }
    struct CMUnitTest tests[N_CASES + 2];
    for (size_t i = 0; i < N_CASES; i++)
        tests[i] = SCN_TEST_ROW(cases[i].name, run_case, &cases[i]);
    tests[N_CASES] = (struct CMUnitTest)SCN_TEST(test_bad_options_rejected);
    tests[N_CASES + 1] = (struct CMUnitTest)SCN_TEST(test_workers_show_their_type_and_troupe);
    return scn_run_bases("troupe", tests, N_CASES + 2);
}

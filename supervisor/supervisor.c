/*
 * supervisor/supervisor.c - the supervisor runtime: start, the restart rules
 * per strategy and restart type, restart intensity, and ordered stops and
 * starts.
 *
 * Everything happens in the supervisor's own handlers. A child's end reaches
 * it as child exited (ended for good) or child restarted (the process base
 * restarted it in place); each is turned into a decision: nothing, restart
 * one child, restart a group (one_for_all, rest_for_one), or give up.
 * Every decision that stops or starts children runs as a job
 * (sup_internal.h): children are stopped one at a time in reverse start
 * order, each by its shutdown rule (exit request, then ens_kill when its
 * shutdown_ms run out; ens_kill at once for brutal_kill; or a wait without
 * end), then started one at a time in start order, each awaited until its
 * init has run (&ens_msg_child_started) or failed (child exited with
 * INIT_FAILED), as OTP starts children (under ENS_SUP_START_CONCURRENT
 * both side by side: sup_stop.c, sup_start.c). Messages that need a
 * decision while a job runs are deferred and handled in order afterwards;
 * queries (which/count children) are answered at once, except while the
 * supervisor is still starting.
 *
 * An exit request to the supervisor is deferred with ens_exit_defer: the
 * running job is cut short, every running child is stopped by its rule,
 * the last started first (under ENS_SUP_START_CONCURRENT all at once, a
 * concurrent stop in progress going on), and only then does the supervisor
 * exit with ENS_EXIT_SHUTDOWN, so a tree stops from the leaves up.
 *
 * The operations (start/terminate/restart/delete child) are in sup_ops.c.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/runtime/runtime.h"
#include "ensemble/error.h"
#include "ensemble/event.h"
#include "ensemble/registry.h"
#include "registry/registry_internal.h"
#include "supervisor/sup_internal.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *ens_sup_strategy_name(ens_sup_strategy s)
{
    switch (s) {
    case ENS_ONE_FOR_ONE:
        return "one_for_one";
    case ENS_ONE_FOR_ALL:
        return "one_for_all";
    case ENS_REST_FOR_ONE:
        return "rest_for_one";
    case ENS_SIMPLE_ONE_FOR_ONE:
        return "simple_one_for_one";
    }
    return "unknown";
}

bool ens_sup_is_shutdown_exit(int reason, int status)
{
    (void)status;
    return reason == ENS_EXIT_NORMAL || reason == ENS_EXIT_SHUTDOWN || reason == ENS_EXIT_INTENSITY;
}

/* ---- children ----------------------------------------------------------- */

int ens__sup_add(sup_state *st, sup_child *k)
{
    if (ens__sup_index_reserve(st, st->n_kids + 1) < 0)
        return ENS_ENOMEM;
    if (st->n_kids == st->cap_kids) {
        size_t cap = st->cap_kids ? st->cap_kids * 2 : 8;
        sup_child **n = realloc(st->kids, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        st->kids = n;
        st->cap_kids = cap;
    }
    k->pos = st->n_kids;
    st->kids[st->n_kids++] = k;
    return 0;
}

void ens__sup_compact(sup_state *st)
{
    if (st->n_holes == 0)
        return;
    size_t n = 0;
    for (size_t i = 0; i < st->n_kids; i++)
        if (st->kids[i] != NULL) {
            st->kids[i]->pos = n;
            st->kids[n++] = st->kids[i];
        }
    st->n_kids = n;
    st->n_holes = 0;
}

void ens__sup_release(ens_ctx *c, sup_child *k)
{
    if (ens_addr_is_none(k->kept))
        return;
    (void)ens__addr_release(c, k->kept); /* ENS_ENOENT: the base kept none */
    k->kept = ENS_ADDR_NONE;
}

void ens__sup_remove(ens_ctx *c, sup_state *st, sup_child *k)
{
    ens__sup_release(c, k);
    ens__sup_index_del(st, k);
    if (k->retry)
        st->n_retry--;
    for (size_t i = 0; k->idle_queued && i < st->n_idle; i++)
        if (st->idle[i] == k) {
            st->idle[i] = st->idle[--st->n_idle];
            k->idle_queued = false;
        }
    if (k->pos < st->n_kids && st->kids[k->pos] == k) {
        st->kids[k->pos] = NULL; /* a hole: closed by ens__sup_compact */
        st->n_holes++;
    }
    ens__sup_child_free(k);
}

sup_child *ens__sup_find_id(const sup_state *st, const char *id)
{
    for (size_t i = 0; id != NULL && i < st->n_kids; i++)
        if (st->kids[i] != NULL && strcmp(st->kids[i]->id, id) == 0)
            return st->kids[i];
    return NULL;
}

/* A definition placed by capabilities (requirements or a check): in a
 * convention it may run on another member, and after a loss of that member
 * it is placed again, maybe on a third: its address is never kept (a kept
 * address is this system's, and pins the spawn here). */
static bool placed(const ens_actor_def *d)
{
    return d != NULL &&
           ((d->requirements != NULL && d->requirements[0] != NULL) || d->capability_check != NULL);
}

uint32_t ens__sup_spawn_flags(const sup_state *st, const sup_child *k)
{
    /* The runtime restarts one_for_one children in place after a crash
     * (counted through child restarted). Where siblings must restart too, or
     * never, the supervisor does it itself, at the address kept. */
    uint32_t flags = ENS_SPAWN_NOTIFY_START;
    if (k->restart == ENS_TEMPORARY || st->flags.strategy == ENS_ONE_FOR_ALL ||
        st->flags.strategy == ENS_REST_FOR_ONE)
        flags |= ENS_SPAWN_NO_RESTART;
    /* Whatever ends it, its base keeps its address (and name) for us until
     * we start it again there or release it: a restart is invisible to
     * everyone who holds the address. A temporary child is never started
     * again: its address ends with it. A placed child gets a new address
     * each time the supervisor starts it (placed()). */
    if (k->restart != ENS_TEMPORARY && !placed(k->def))
        flags |= ENS__SPAWN_KEEP_ADDR;
    return flags;
}

void ens__sup_spawned(sup_state *st, sup_child *k, ens_addr a)
{
    k->addr = a;
    ens__sup_index_put(st, k);
    k->status = ENS_SUP_CHILD_RUNNING;
}

int ens__sup_spawn(ens_ctx *c, sup_state *st, sup_child *k)
{
    const uint32_t flags = ens__sup_spawn_flags(st, k);
    const ens_msgtype *argt = k->arg != NULL ? ens_msg_type(k->arg) : NULL;
    const void *argv = argt != NULL ? ens_msg_value(k->arg, argt) : NULL;
    ens_addr a = ENS_ADDR_NONE;
    int rc = ENS_ENOENT;
    bool said = false;
    if (!ens_addr_is_none(k->kept)) {
        a = k->kept;
        rc = ens__spawn_at(c, k->def, argt, argv, flags, a);
        if (rc == ENS_ENOENT) { /* the base kept none after all: a new address */
            ens_log(c, ENS_LOG_WARN, "child %s: its address was not kept; started anew", k->id);
            k->kept = ENS_ADDR_NONE;
        } else if (rc < 0) {
            ens_log(c, rc == ENS_ESHUTDOWN ? ENS_LOG_INFO : ENS_LOG_ERROR,
                    "supervisor could not start child %s (%s): %s", k->id, k->def->name,
                    ens_strerror(rc));
            k->status = ENS_SUP_CHILD_STOPPED;
            return rc; /* the address stays kept: tried again, or released */
        }
    }
    if (rc == 0) {
        k->kept = ENS_ADDR_NONE;
    } else if (k->name != NULL) {
        /* Create-or-get: spawned and named in one step. A name already
         * taken is another live actor's (the child's own earlier actor gave
         * it up with its address, before we heard that it exited or when we
         * released it): this start fails. */
        rc = ens__name_spawn(c, k->name, k->def, argt, argv, flags, &a);
        if (rc == 1) {
            char who[ENS_ADDR_STRLEN];
            ens_addr_format(a, who, sizeof(who));
            ens_log(c, ENS_LOG_ERROR,
                    "supervisor could not start child %s (%s): its name %s belongs to %s", k->id,
                    k->def->name, k->name, who);
            rc = ENS_EEXIST;
            said = true;
        }
    } else {
        rc = ens__spawn_shown(c, k->def, NULL, argt, argv, flags, &a);
    }
    if (rc < 0) {
        if (!said)
            ens_log(c, rc == ENS_ESHUTDOWN ? ENS_LOG_INFO : ENS_LOG_ERROR,
                    "supervisor could not start child %s (%s): %s", k->id, k->def->name,
                    ens_strerror(rc));
        k->addr = ENS_ADDR_NONE;
        k->status = ENS_SUP_CHILD_STOPPED;
        return rc;
    }
    ens__sup_spawned(st, k, a);
    return 0;
}

static void report(ens_ctx *c, ens_event_kind kind, ens_addr actor, const char *type,
                   const char *reason)
{
    ens_event ev = {0};
    ev.kind = kind;
    ev.actor = actor;
    if (!ens_addr_is_none(actor))
        ev.parent = ens_self(c);
    ev.actor_type = type;
    ev.reason = reason;
    (void)ens_event_report(c, &ev);
}

/* Add a restart at now; true when that exceeds the intensity. */
static bool restart_exceeds(sup_state *st)
{
    int64_t now = now_ms();
    size_t keep = 0;
    for (size_t i = 0; i < st->n_restarts; i++)
        if (now - st->restarts[i] < (int64_t)st->flags.period_ms)
            st->restarts[keep++] = st->restarts[i];
    st->n_restarts = keep;
    if (st->n_restarts >= st->flags.intensity)
        return true;
    st->restarts[st->n_restarts++] = now; /* room: n < intensity <= allocated */
    return false;
}

/* ---- jobs: stopping and starting children in order ---------------------- */

sup_job *ens__sup_job_begin(sup_state *st, int kind, sup_child **stop, size_t n_stop,
                            sup_child **start, size_t n_start)
{
    sup_job *j = &st->job;
    assert(j->kind == JOB_NONE);
    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->seq = ++st->job_seq;
    j->stop = stop;
    j->n_stop = stop != NULL ? n_stop : 0;
    j->start = start;
    j->n_start = start != NULL ? n_start : 0;
    for (size_t i = 0; i < j->n_stop; i++) {
        stop[i]->in_stop = true;
        if (kind == JOB_RESTART && stop[i]->status == ENS_SUP_CHILD_RUNNING)
            stop[i]->status = ENS_SUP_CHILD_RESTARTING;
    }
    for (size_t i = 0; i < j->n_start; i++) {
        start[i]->in_start = true;
        start[i]->start_status = 0;
        if (kind == JOB_RESTART && ens_addr_is_none(start[i]->addr))
            start[i]->status = ENS_SUP_CHILD_RESTARTING;
    }
    return j;
}

/* The running children of kids[from..to) in reverse order (malloc'ed with
 * room for one more; the count in *n), skipping `except`. */
sup_child **ens__sup_running_reversed(sup_state *st, size_t from, size_t to,
                                      const sup_child *except, size_t *n)
{
    sup_child **v = malloc((to - from + 1) * sizeof(*v));
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = to; i > from; i--) {
        sup_child *k = st->kids[i - 1];
        if (k != NULL && k != except && !ens_addr_is_none(k->addr))
            v[(*n)++] = k;
    }
    return v;
}

/* k holds a kept address now: release_idle looks at it after the job. Out
 * of memory, the look walks every child instead (st->n_idle = SIZE_MAX). */
static void idle_note(sup_state *st, sup_child *k)
{
    if (k->idle_queued || st->n_idle == SIZE_MAX)
        return;
    if (st->n_idle == st->cap_idle) {
        size_t cap = st->cap_idle ? st->cap_idle * 2 : 16;
        sup_child **n = realloc(st->idle, cap * sizeof(*n));
        if (n == NULL) {
            for (size_t i = 0; i < st->n_idle; i++)
                st->idle[i]->idle_queued = false;
            st->n_idle = SIZE_MAX;
            return;
        }
        st->idle = n;
        st->cap_idle = cap;
    }
    st->idle[st->n_idle++] = k;
    k->idle_queued = true;
}

void ens__sup_child_stopped(sup_state *st, sup_child *k)
{
    k->in_stop = false;
    ens__sup_index_del(st, k);
    if (!ens_addr_is_none(k->addr) && k->restart != ENS_TEMPORARY && !placed(k->def)) {
        k->kept = k->addr;
        idle_note(st, k);
    }
    k->addr = ENS_ADDR_NONE;
    k->status = ENS_SUP_CHILD_STOPPED;
}

void ens__sup_job_stopped(sup_state *st, sup_child *k)
{
    ens__sup_child_stopped(st, k);
    if (st->job.kind == JOB_RESTART && k->in_start)
        k->status = ENS_SUP_CHILD_RESTARTING;
}

static void child_failed(ens_ctx *c, sup_state *st, sup_child *k, int reason, int status);
static void give_up(ens_ctx *c, sup_state *st, const sup_child *k);
static void start_why(sup_state *st, const sup_child *k, int status);
static void abort_start(ens_ctx *c, sup_state *st, const sup_child *k, int status);

void ens__sup_restart_reported(ens_ctx *c, sup_state *st, const sup_child *k)
{
    char why[160];
    snprintf(why, sizeof(why), "supervisor restarted child %s (%s)", k->id,
             ens_sup_strategy_name(st->flags.strategy));
    report(c, ENS_EV_RESTART, k->addr, k->def->name, why);
}

/* No job runs: children stopped for good (not restarting) have nothing
 * to keep an address for. */
static void release_idle(ens_ctx *c, sup_state *st)
{
    if (st->n_idle == SIZE_MAX) { /* the list could not be kept: every child */
        for (size_t i = 0; i < st->n_kids; i++)
            if (st->kids[i] != NULL && st->kids[i]->status == ENS_SUP_CHILD_STOPPED)
                ens__sup_release(c, st->kids[i]);
        st->n_idle = 0;
        return;
    }
    for (size_t i = 0; i < st->n_idle; i++) {
        sup_child *k = st->idle[i];
        k->idle_queued = false;
        if (k->status == ENS_SUP_CHILD_STOPPED)
            ens__sup_release(c, k);
    }
    st->n_idle = 0;
}

/* Restarts that failed are tried again from the mailbox: one wake-up with
 * no delay, taken once no job runs. */
#define SUP_RETRY_PAYLOAD UINT64_MAX

static void retry_soon(ens_ctx *c, sup_state *st)
{
    if (st->job.kind != JOB_NONE || st->retry_armed || st->n_retry == 0)
        return;
    for (size_t i = 0; i < st->n_kids; i++) {
        if (st->kids[i] == NULL || !st->kids[i]->retry)
            continue;
        if (ens_wakeup_after(c, 0, SUP_RETRY_PAYLOAD, NULL) == 0) {
            st->retry_armed = true;
            return;
        }
        /* No wake-up to be had: the failure cannot be retried, give up as
         * when the intensity is reached. */
        sup_child *k = st->kids[i];
        k->retry = false;
        st->n_retry--;
        ens_log(c, ENS_LOG_ERROR, "supervisor cannot retry the restart of child %s", k->id);
        give_up(c, st, k);
        return;
    }
}

static void retry_now(ens_ctx *c, sup_state *st)
{
    st->retry_armed = false;
    for (size_t i = 0; i < st->n_kids && st->job.kind == JOB_NONE && !st->stopping; i++) {
        sup_child *k = st->kids[i];
        if (k == NULL || !k->retry)
            continue;
        k->retry = false;
        st->n_retry--;
        child_failed(c, st, k, ENS_EXIT_INIT_FAILED, k->retry_status);
    }
    retry_soon(c, st);
}

static void job_finish(ens_ctx *c, sup_state *st)
{
    sup_job j = st->job;
    memset(&st->job, 0, sizeof(st->job));
    for (size_t i = j.pos; i < j.n_stop; i++)
        j.stop[i]->in_stop = false;
    free(j.stop);
    free(j.due);
    /* Children a failed start left out stay stopped. */
    for (size_t i = j.spos; i < j.n_start; i++) {
        j.start[i]->in_start = false;
        if (ens_addr_is_none(j.start[i]->addr))
            ens__sup_child_stopped(st, j.start[i]);
    }
    if (j.kind == JOB_START_CHILDREN)
        ens__sup_started(c, st, j.start, j.n_start, j.from);
    free(j.start);
    switch (j.kind) {
    case JOB_START:
        if (j.failed != NULL && st->in_init) { /* nothing runs yet: init fails */
            st->init_error = j.fail_status;
            start_why(st, j.failed, j.fail_detail);
            (void)ens_init_ack(c, j.fail_status, st->start_why);
        } else if (j.failed != NULL)
            abort_start(c, st, j.failed, j.fail_detail);
        else /* every child (and every nested subtree) has started */
            (void)ens_init_ack(c, 0, NULL);
        break;
    case JOB_RESTART:
        if (j.failed != NULL && j.fail_status == ENS_ESHUTDOWN)
            break; /* the system is ending: no restart, the supervisor's own exit follows */
        if (j.failed != NULL) {
            /* Counts as one more failure, as in OTP, and is tried again
             * from the mailbox (OTP's try_again_restart), not from here: a
             * child whose restarts keep failing must not nest calls until
             * the stack runs out before the intensity is reached. */
            st->n_retry += !j.failed->retry;
            j.failed->retry = true;
            j.failed->retry_status = j.fail_status;
        }
        break;
    case JOB_START_CHILD:
        if (j.failed != NULL) {
            ens_log(c, ENS_LOG_ERROR, "child %s added by start_child failed to start: %s",
                    j.target->id, ens_strerror(j.fail_status));
            ens__sup_remove(c, st, j.target);
            ens__sup_reply(c, j.from, j.fail_status, ENS_ADDR_NONE, 0);
        } else {
            ens__sup_reply(c, j.from, 0, j.target->addr, 0);
        }
        break;
    case JOB_RESTART_CHILD:
        if (j.failed != NULL)
            ens_log(c, ENS_LOG_ERROR, "child %s restarted by restart_child failed to start: %s",
                    j.target->id, ens_strerror(j.fail_status));
        ens__sup_reply(c, j.from, j.failed != NULL ? j.fail_status : 0, j.target->addr, 0);
        break;
    case JOB_TERMINATE:
        ens__sup_terminated(c, st, j.target, j.target_addr, j.last_reason, j.from);
        break;
    case JOB_GIVE_UP:
        st->stopping = true;
        (void)ens_stop(c, ENS_EXIT_INTENSITY, 0);
        break;
    case JOB_ABORT_START:
        /* The start fails as an init does: a spawn waiting for it returns
         * ENS_EINIT with start_why as its ens_errmsg, a parent hears child
         * exited INIT_FAILED. */
        st->stopping = true;
        if (ens_init_ack(c, ENS_EINIT, st->start_why) < 0)
            (void)ens_stop(c, ENS_EXIT_ERROR, ENS_EINIT);
        break;
    case JOB_SHUTDOWN:
        st->stopping = true;
        (void)ens_stop(c, ENS_EXIT_SHUTDOWN, 0);
        break;
    default:
        break;
    }
    if (st->job.kind == JOB_NONE)
        release_idle(c, st);
    if (!st->stopping && !st->in_init)
        ens__sup_run_deferred(c, st);
    retry_soon(c, st);
}

/* End k at once; false when there is nothing to wait for. */
static bool kill_child(ens_ctx *c, sup_job *j, sup_child *k)
{
    if (ens_kill(c, k->addr) < 0)
        return false;
    j->killed = true;
    return true;
}

/* Begin stopping k by its shutdown rule; false when it is stopped already
 * (nothing to wait for). */
static bool stop_child(ens_ctx *c, sup_job *j, sup_child *k)
{
    j->killed = false;
    j->timer = 0;
    if (k->shutdown == ENS_SHUTDOWN_BRUTAL)
        return kill_child(c, j, k);
    if (ens_exit_request(c, k->addr) < 0)
        return kill_child(c, j, k);
    if (k->shutdown == ENS_SHUTDOWN_TIMEOUT &&
        ens_wakeup_after(c, k->shutdown_ms, j->seq, &j->timer) < 0) {
        j->timer = 0;
        return kill_child(c, j, k); /* no way to time it: do not wait forever */
    }
    return true;
}

/* Start the job's children j->start[from..to) that need it: the one place
 * where a job spawns. Ordered (the default): each is spawned with
 * ENS_SPAWN_NOTIFY_START and awaited (j->starting) until its init has run
 * before the next is spawned (OTP's ordered start). Concurrent (a start or
 * restart job under ENS_SUP_START_CONCURRENT): sup_start.c spawns the whole
 * range and awaits the inits together (j->n_awaited). Returns true while a
 * start is awaited (the job goes on from j->spos when it is), false when
 * the range is done or a spawn failed (j->failed). */
static bool job_start_range(ens_ctx *c, sup_state *st, size_t from, size_t to)
{
    sup_job *j = &st->job;
    j->spos = from;
    if (j->kind == JOB_START_CHILDREN || (st->flags.start == ENS_SUP_START_CONCURRENT &&
                                          (j->kind == JOB_START || j->kind == JOB_RESTART)))
        return ens__sup_start_concurrent(c, st, to);
    while (j->failed == NULL && j->spos < to) {
        sup_child *k = j->start[j->spos++];
        k->in_start = false;
        if (j->kind == JOB_RESTART && k->restart == ENS_TEMPORARY) {
            ens__sup_remove(c, st, k); /* never restarted */
            continue;
        }
        if (!ens_addr_is_none(k->addr))
            continue;
        int rc = ens__sup_spawn(c, st, k);
        if (rc < 0) {
            j->failed = k;
            j->fail_status = rc;
            j->fail_detail = rc;
            return false;
        }
        if (j->kind == JOB_RESTART)
            ens__sup_restart_reported(c, st, k);
        j->starting = k;
        return true;
    }
    return false;
}

void ens__sup_job_next(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    if (j->n_stopping > 0)
        return; /* a concurrent stop: ends still awaited */
    if (st->flags.start == ENS_SUP_START_CONCURRENT && j->pos < j->n_stop &&
        ens__sup_stop_concurrent(c, st))
        return;
    while (j->pos < j->n_stop) {
        sup_child *k = j->stop[j->pos++];
        int reason = ENS_EXIT_SHUTDOWN;
        k->in_stop = false;
        if (ens_addr_is_none(k->addr))
            continue; /* it ended on its own meanwhile */
        if (ens__sup_take_deferred_exit(st, k->addr, &reason) || !stop_child(c, j, k)) {
            j->last_reason = reason;
            ens__sup_job_stopped(st, k);
            continue;
        }
        j->waiting = k;
        return;
    }
    if (job_start_range(c, st, j->spos, j->n_start))
        return;
    job_finish(c, st);
}

/* The awaited child ended with reason. */
static void job_child_done(ens_ctx *c, sup_state *st, int reason)
{
    sup_job *j = &st->job;
    if (j->timer != 0)
        (void)ens_wakeup_cancel(c, j->timer);
    j->timer = 0;
    j->last_reason = reason;
    sup_child *k = j->waiting;
    j->waiting = NULL;
    ens__sup_job_stopped(st, k);
    ens__sup_job_next(c, st);
}

/* The awaited child did not stop within its shutdown_ms: kill it and wait
 * for its exit notice (ENS_EXIT_KILLED). */
static void job_timed_out(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    sup_child *k = j->waiting;
    j->timer = 0;
    ens_log(c, ENS_LOG_WARN, "child %s did not stop within %u ms: killed", k->id, k->shutdown_ms);
    if (!kill_child(c, j, k))
        job_child_done(c, st, ENS_EXIT_KILLED);
}

/* The awaited child has run its init. */
static void job_child_started(ens_ctx *c, sup_state *st)
{
    st->job.starting = NULL;
    ens__sup_job_next(c, st);
}

/* ---- decisions ---------------------------------------------------------- */

/* Stop every running child in reverse start order, then exit (the job's
 * follow-up); out of memory, exit at once (the runtime then sends the
 * children exit requests, the last started first). */
static void stop_all_then_exit(ens_ctx *c, sup_state *st, int kind)
{
    size_t n = 0;
    sup_child **stop = ens__sup_running_reversed(st, 0, st->n_kids, NULL, &n);
    if (stop == NULL) {
        ens_log(c, ENS_LOG_ERROR, "supervisor out of memory: exiting without ordered stops");
        ens__sup_job_begin(st, kind, NULL, 0, NULL, 0);
    } else {
        ens__sup_job_begin(st, kind, stop, n, NULL, 0);
    }
    ens__sup_job_next(c, st);
}

static void give_up(ens_ctx *c, sup_state *st, const sup_child *k)
{
    char why[200];
    snprintf(why, sizeof(why),
             "supervisor gave up: child %s needed more than %u restarts in %u ms (%s); stopping "
             "its children and exiting with intensity",
             k != NULL ? k->id : "?", st->flags.intensity, st->flags.period_ms,
             ens_sup_strategy_name(st->flags.strategy));
    ens_log(c, ENS_LOG_ERROR, "%s", why);
    report(c, ENS_EV_ESCALATE, ENS_ADDR_NONE, NULL, why);
    stop_all_then_exit(c, st, JOB_GIVE_UP);
}

/* Child k could not start (status: its own code): stop the started
 * children, the last started first, then fail the start with a text that
 * names k. */
static void start_why(sup_state *st, const sup_child *k, int status)
{
    if (status >= 0)
        status = ENS_EINIT;
    snprintf(st->start_why, sizeof(st->start_why), "child %s (%s) failed to start: %s (%s)", k->id,
             k->def->name, ens_strerror(status), ens_err_name(status));
}

static void abort_start(ens_ctx *c, sup_state *st, const sup_child *k, int status)
{
    start_why(st, k, status);
    ens_log(c, ENS_LOG_ERROR, "supervisor start failed: %s; stopping the started children",
            st->start_why);
    stop_all_then_exit(c, st, JOB_ABORT_START);
}

/* k ended for good with (reason, status): apply its restart type and the
 * strategy. k is already marked stopped. No job is running. */
static void child_failed(ens_ctx *c, sup_state *st, sup_child *k, int reason, int status)
{
    const ens_sup_strategy strategy = st->flags.strategy;
    bool restart = k->restart == ENS_PERMANENT ||
                   (k->restart == ENS_TRANSIENT && !ens_sup_is_shutdown_exit(reason, status));
    if (!restart) { /* its address is freed: later messages are dead letters */
        ens__sup_release(c, k);
        if (k->restart == ENS_TEMPORARY || strategy == ENS_SIMPLE_ONE_FOR_ONE)
            ens__sup_remove(c, st, k);
        return;
    }
    if (restart_exceeds(st)) {
        give_up(c, st, k);
        return;
    }
    k->restarts++;
    /* one_for_one, simple_one_for_one: k alone; one_for_all: every child;
     * rest_for_one: k and those after it. The others are stopped in reverse
     * start order, then the group is started again in start order. */
    size_t from = strategy == ENS_ONE_FOR_ALL ? 0 : k->pos;
    size_t to =
        strategy == ENS_ONE_FOR_ONE || strategy == ENS_SIMPLE_ONE_FOR_ONE ? from + 1 : st->n_kids;
    size_t n_stop = 0;
    sup_child **stop = ens__sup_running_reversed(st, from, to, k, &n_stop);
    sup_child **group = malloc((to - from + 1) * sizeof(*group));
    if (stop == NULL || group == NULL) {
        free(stop);
        free(group);
        ens_log(c, ENS_LOG_ERROR, "supervisor out of memory: cannot restart child %s", k->id);
        give_up(c, st, k);
        return;
    }
    size_t n_group = 0;
    for (size_t i = from; i < to; i++)
        if (st->kids[i] != NULL)
            group[n_group++] = st->kids[i];
    ens__sup_job_begin(st, JOB_RESTART, stop, n_stop, group, n_group);
    ens__sup_job_next(c, st);
}

/* ---- notices from the runtime ------------------------------------------- */

static bool job_busy(const sup_state *st)
{
    return st->job.kind != JOB_NONE;
}

static bool in_pending_stop(const sup_state *st, const sup_child *k)
{
    (void)st;
    return k->in_stop;
}

static const ens_from no_reply = {{0}, 0};

/* Returns true if m was deferred. */
static bool on_child_exited(ens_ctx *c, sup_state *st, const ens_msg *m,
                            const ens_child_exited_v *v)
{
    sup_child *k = ens__sup_find_addr(st, v->child);
    if (k == NULL)
        return false; /* an earlier incarnation, or one we stopped waiting for */
    if (job_busy(st)) {
        sup_job *j = &st->job;
        if (k->stopping) {
            if (ens__sup_stop_done(c, st, k, v->reason))
                ens__sup_job_next(c, st);
            return false;
        }
        if (j->waiting == k) {
            job_child_done(c, st, v->reason);
            return false;
        }
        if ((j->starting == k || k->awaited) && v->reason == ENS_EXIT_INIT_FAILED) {
            ens__sup_child_stopped(st, k);
            k->start_status = ENS_EINIT;
            if (j->failed == NULL) { /* a concurrent start keeps the first */
                j->failed = k;
                j->fail_status = ENS_EINIT;
                j->fail_detail = v->status < 0 ? v->status : ENS_EINIT;
            }
            if (j->starting == k) {
                j->starting = NULL;
                ens__sup_job_next(c, st);
            } else if (ens__sup_start_awaited_done(st, k)) {
                ens__sup_job_next(c, st);
            }
            return false;
        }
        if (j->starting == k || k->awaited) {
            /* It started and ended already: its start notice comes from
             * another sender (or was lost with a crash). The start counts;
             * the end is handled after the job. */
            bool deferred = ens__sup_defer(c, st, m, no_reply);
            if (j->starting == k || ens__sup_start_awaited_done(st, k))
                job_child_started(c, st);
            return deferred;
        }
        if (in_pending_stop(st, k)) {
            ens__sup_child_stopped(st, k);
            return false;
        }
        return ens__sup_defer(c, st, m, no_reply);
    }
    ens__sup_child_stopped(st, k);
    child_failed(c, st, k, v->reason, v->status);
    return false;
}

static bool on_child_restarted(ens_ctx *c, sup_state *st, const ens_msg *m,
                               const ens_child_restarted_v *v)
{
    sup_child *k = ens__sup_find_addr(st, v->child);
    if (k == NULL)
        return false;
    if (job_busy(st)) {
        bool deferred = ens__sup_defer(c, st, m, no_reply);
        if (st->job.starting == k ||
            (k->awaited &&
             ens__sup_start_awaited_done(st, k))) /* restarted in place: its init had run */
            job_child_started(c, st);
        return deferred;
    }
    if (restart_exceeds(st)) {
        give_up(c, st, k);
        return false;
    }
    k->restarts++;
    return false;
}

/* Handle one message that needs a decision (fresh, or deferred earlier);
 * returns true when it was deferred (again). */
bool ens__sup_handle(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from)
{
    const void *v;
    if ((v = ens_msg_value(m, &ens_msg_child_exited)) != NULL)
        return on_child_exited(c, st, m, v);
    if ((v = ens_msg_value(m, &ens_msg_child_restarted)) != NULL)
        return on_child_restarted(c, st, m, v);
    if (ens__sup_is_query(m)) {
        if (st->job.kind == JOB_START) /* as OTP: nothing is answered before the start */
            return ens__sup_defer(c, st, m, from);
        ens__sup_query(c, st, m, from);
        return false;
    }
    return ens__sup_operation(c, st, m, from);
}

/* An exit request while a concurrent stop runs: the job becomes the
 * shutdown in place (its stop list, the ends it awaits and their deadlines
 * kept); its starts are dropped, and every other running child is asked to
 * stop too, at once. */
static void shutdown_while_stopping(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    for (size_t i = j->spos; i < j->n_start; i++) { /* never started */
        j->start[i]->in_start = false;
        if (ens_addr_is_none(j->start[i]->addr))
            ens__sup_child_stopped(st, j->start[i]);
    }
    free(j->start);
    j->start = NULL;
    j->n_start = j->spos = 0;
    j->kind = JOB_SHUTDOWN;
    j->failed = NULL;
    j->target = NULL;
    j->from = no_reply;
    size_t n = 0;
    sup_child **more = ens__sup_running_reversed(st, 0, st->n_kids, NULL, &n);
    sup_child **grown = more != NULL ? realloc(j->stop, (j->n_stop + n) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        /* The children outside the stop are left to the runtime, which asks
         * them to stop when the supervisor exits. */
        ens_log(c, ENS_LOG_ERROR, "supervisor out of memory: exiting without stopping every child");
        free(more);
        return;
    }
    j->stop = grown;
    for (size_t i = 0; i < n; i++)
        if (!more[i]->stopping) {
            more[i]->in_stop = true;
            j->stop[j->n_stop++] = more[i];
        }
    free(more);
    (void)ens__sup_stop_concurrent(c, st); /* ends are awaited: j->n_stopping > 0 */
}

/* An exit request: stop every child by its rule, the last started first,
 * then exit with ENS_EXIT_SHUTDOWN. A running job is cut short (its
 * requester is answered ENS_ESHUTDOWN); a child being stopped is still
 * awaited, first. A supervisor already stopping everything goes on. */
static void on_exit_request(ens_ctx *c, sup_state *st)
{
    (void)ens_exit_defer(c);
    st->shutting_down = true;
    sup_job *j = &st->job;
    if (j->kind == JOB_GIVE_UP || j->kind == JOB_ABORT_START || j->kind == JOB_SHUTDOWN)
        return;
    if (j->kind == JOB_START_CHILD || j->kind == JOB_RESTART_CHILD || j->kind == JOB_TERMINATE ||
        j->kind == JOB_START_CHILDREN)
        ens__sup_reply(c, j->from, ENS_ESHUTDOWN, ENS_ADDR_NONE, 0);
    if (j->n_stopping > 0) {
        shutdown_while_stopping(c, st);
        return;
    }
    sup_child *w = j->waiting;
    uint64_t seq = j->seq, timer = j->timer;
    bool killed = j->killed;
    for (size_t i = j->pos; i < j->n_stop; i++)
        j->stop[i]->in_stop = false;
    for (size_t i = j->spos; i < j->n_start; i++) { /* never started */
        j->start[i]->in_start = false;
        if (ens_addr_is_none(j->start[i]->addr))
            ens__sup_child_stopped(st, j->start[i]);
    }
    if (j->n_awaited > 0) /* a concurrent start cut short: stop awaiting */
        for (size_t i = 0; i < st->n_kids; i++)
            if (st->kids[i] != NULL)
                st->kids[i]->awaited = false;
    free(j->stop);
    free(j->start);
    memset(j, 0, sizeof(*j));
    if (w == NULL) {
        stop_all_then_exit(c, st, JOB_SHUTDOWN);
        return;
    }
    size_t n = 0;
    sup_child **stop = ens__sup_running_reversed(st, 0, st->n_kids, w, &n);
    if (stop == NULL) {
        ens_log(c, ENS_LOG_ERROR, "supervisor out of memory: exiting without ordered stops");
        (void)ens_wakeup_cancel(c, timer);
        ens__sup_job_begin(st, JOB_SHUTDOWN, NULL, 0, NULL, 0);
        ens__sup_job_next(c, st);
        return;
    }
    memmove(&stop[1], &stop[0], n * sizeof(*stop)); /* room for one more */
    stop[0] = w;
    ens__sup_job_begin(st, JOB_SHUTDOWN, stop, n + 1, NULL, 0);
    j->pos = 1; /* w: stopping already, awaited first */
    j->waiting = w;
    j->seq = seq; /* its shutdown wake-up carries the old number */
    j->timer = timer;
    j->killed = killed;
}

/* ---- the actor callbacks ------------------------------------------------ */

static sup_state *state_of(void *state)
{
    return state != NULL ? *(sup_state **)state : NULL;
}

static void state_free(sup_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_kids; i++)
        if (st->kids[i] != NULL)
            ens__sup_child_free(st->kids[i]);
    free(st->kids);
    free(st->slots);
    ens__sup_child_free(st->tmpl);
    free(st->restarts);
    ens_msg_free(st->start_arg);
    free(st->job.stop);
    free(st->job.start);
    free(st->job.due);
    for (size_t i = 0; i < st->n_deferred; i++)
        ens_msg_free(st->deferred[i].m);
    free(st->deferred);
    free(st->idle);
    free(st);
}

static int check_flags(const ens_sup_flags *f)
{
    if ((unsigned)f->strategy > ENS_SIMPLE_ONE_FOR_ONE || f->period_ms == 0 ||
        f->intensity > 1000000 || (unsigned)f->start > ENS_SUP_START_CONCURRENT)
        return ENS_EINVAL;
    return 0;
}

/* Take the children records kids[0..n) (ownership passes in every case),
 * check them and start the static ones in order: the first is spawned
 * here, the others each once the one before has run its init. */
int ens__sup_begin(ens_ctx *c, void *state, sup_state *st, sup_child **kids, size_t n)
{
    if (kids == NULL)
        n = 0; /* refused below: a supervisor has at least one spec */
    int rc = check_flags(&st->flags);
    if (rc == 0 && (n == 0 || n > ENS_SUP_MAX_SPECS ||
                    (st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE && n != 1)))
        rc = ENS_EINVAL;
    st->restarts = malloc((st->flags.intensity + 1) * sizeof(*st->restarts));
    if (rc == 0 && st->restarts == NULL)
        rc = ENS_ENOMEM;
    if (rc == 0 && n > 0) {
        /* ids and names side by side: sorted copies, O(n log n) */
        const char **strs = malloc(2 * n * sizeof(*strs));
        if (strs == NULL)
            rc = ENS_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (kids[i] == NULL) {
                rc = ENS_EINVAL; /* every spec is made into a child before this */
                break;
            }
            strs[2 * i] = kids[i]->id;
            strs[2 * i + 1] = kids[i]->name;
        }
        if (rc == 0)
            rc = ens__sup_unique(&strs[0], 2 * sizeof(*strs), n);
        if (rc == 0)
            rc = ens__sup_unique(&strs[1], 2 * sizeof(*strs), n);
        free(strs);
    }
    if (rc == 0 && st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE && kids[0]->name != NULL)
        rc = ENS_EINVAL; /* one name cannot follow many children */
    if (rc == 0 && st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE) {
        st->tmpl = kids[0];
        kids[0] = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (kids[i] == NULL)
            continue;
        if (rc == 0)
            rc = ens__sup_add(st, kids[i]);
        if (rc < 0)
            ens__sup_child_free(kids[i]);
        kids[i] = NULL;
    }
    sup_child **start = NULL;
    if (rc == 0 && st->n_kids > 0 && (start = malloc(st->n_kids * sizeof(*start))) == NULL)
        rc = ENS_ENOMEM;
    if (rc == 0) {
        if (start != NULL)
            memcpy(start, st->kids, st->n_kids * sizeof(*start));
        st->in_init = true;
        /* Started once every child has: the job's end acknowledges. */
        (void)ens_init_defer(c);
        ens__sup_job_begin(st, JOB_START, NULL, 0, start, st->n_kids);
        ens__sup_job_next(c, st); /* spawns the first child */
        st->in_init = false;
        rc = st->init_error; /* the first spawn failed: nothing runs */
    }
    if (rc < 0) {
        ens_log(c, ENS_LOG_ERROR, "supervisor start failed: %s", ens_strerror(rc));
        state_free(st);
        *(sup_state **)state = NULL;
        return rc;
    }
    return 0;
}

/* The room a configure callback is first given: the old fixed bound, so
 * small trees allocate no more than before. */
#define SUP_CONFIGURE_ROOM 256

/* Call configure with room for `room` specs (each preset); the specs in
 * *specs_out (malloc'ed), their count in *n. A callback that needs more
 * room says how much through *n (up to ENS_SUP_MAX_SPECS) and is called
 * once more with it. */
static int configure_specs(ens_ctx *c, sup_state *st, ens_sup_configure_cb configure,
                           ens_child_spec **specs_out, size_t *n)
{
    size_t room = SUP_CONFIGURE_ROOM;
    for (int round = 0;; round++) {
        ens_child_spec *specs = calloc(room, sizeof(*specs));
        if (specs == NULL)
            return ENS_ENOMEM;
        for (size_t i = 0; i < room; i++)
            specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
        st->flags = (ens_sup_flags)ENS_SUP_FLAGS_INIT;
        *n = 0;
        int rc = configure(c, st->start_arg, &st->flags, specs, room, n);
        if (rc == 0 && *n > room && round == 0 && *n <= ENS_SUP_MAX_SPECS) {
            room = *n; /* it asked for more room */
            free(specs);
            continue;
        }
        if (rc == 0 && *n > room)
            rc = ENS_EINVAL;
        if (rc < 0) {
            free(specs);
            *n = 0;
            return rc;
        }
        *specs_out = specs;
        return 0;
    }
}

/* Start a supervisor defined with ENS_SUPERVISOR_DEF: its configure
 * callback gives the flags and specs. */
static int start_configured(ens_ctx *c, void *state, const ens_msg *arg,
                            ens_sup_configure_cb configure)
{
    if (configure == NULL)
        return ENS_EINVAL;
    sup_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ENS_ENOMEM;
    *(sup_state **)state = st;
    ens_child_spec *specs = NULL;
    sup_child **kids = NULL;
    size_t n = 0;
    int rc = 0;
    if (arg != NULL && (st->start_arg = ens_msg_dup(arg)) == NULL)
        rc = ENS_ENOMEM;
    if (rc == 0)
        rc = configure_specs(c, st, configure, &specs, &n);
    if (rc == 0 && (kids = calloc(n + 1, sizeof(*kids))) == NULL)
        rc = ENS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((kids[i] = ens__sup_child_new(&specs[i], &rc)) == NULL && rc == 0)
            rc = ENS_ENOMEM;
    free(specs);
    if (rc < 0) {
        ens_log(c, ENS_LOG_ERROR, "supervisor configuration failed: %s", ens_strerror(rc));
        for (size_t i = 0; kids != NULL && i < n; i++)
            ens__sup_child_free(kids[i]);
        free(kids);
        state_free(st);
        *(sup_state **)state = NULL;
        return rc;
    }
    rc = ens__sup_begin(c, state, st, kids, n);
    free(kids);
    return rc;
}

int ens_supervisor_on_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    const ens_actor_def *d = ens_self_def(c);
    const ens_sup_impl *impl = d != NULL ? d->impl : NULL;
    if (impl != NULL)
        return start_configured(c, state, arg, impl->configure);
    return ens__sup_start_config(c, state, arg); /* ens_supervisor_def */
}

int ens_supervisor_on_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    sup_state *st = state_of(state);
    if (st == NULL || st->stopping)
        return 0;
    if (st->n_holes > 16 && 2 * st->n_holes > st->n_kids)
        ens__sup_compact(st); /* no loop over kids runs here: amortised O(1) a removal */
    if (ens_msg_value(m, &ens_msg_exit_request) != NULL) {
        if (!st->shutting_down) /* later ones are ordinary messages */
            on_exit_request(c, st);
        return 0;
    }
    const ens_wakeup_v *w = ens_msg_value(m, &ens_msg_wakeup);
    if (w != NULL && w->payload == SUP_RETRY_PAYLOAD) {
        retry_now(c, st);
        return 0;
    }
    if (w != NULL && st->job.n_stopping > 0) {
        if (ens__sup_stop_wakeup(c, st, w))
            ens__sup_job_next(c, st);
        return 0;
    }
    if (w != NULL) {
        const sup_job *j = &st->job;
        if (job_busy(st) && j->waiting != NULL && !j->killed && j->timer != 0 &&
            w->payload == j->seq && w->timer_id == j->timer)
            job_timed_out(c, st);
        return 0;
    }
    const ens_child_started_v *started = ens_msg_value(m, &ens_msg_child_started);
    if (started != NULL) {
        if (st->job.starting != NULL && ens_addr_equal(st->job.starting->addr, started->child)) {
            job_child_started(c, st);
        } else if (st->job.n_awaited > 0) {
            sup_child *k = ens__sup_find_addr(st, started->child);
            if (k != NULL && k->awaited && ens__sup_start_awaited_done(st, k))
                job_child_started(c, st);
        }
        return 0; /* else: one we stopped waiting for */
    }
    (void)ens__sup_handle(c, st, m, ens_from_current(c));
    return 0;
}

void ens_supervisor_on_terminate(ens_ctx *c, void *state, int reason)
{
    (void)reason;
    sup_state *st = state_of(state);
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n_deferred; i++) {
        ens_from f = st->deferred[i].from;
        if (f.corr != 0)
            (void)ens_reply_to(c, f, ENS_ESHUTDOWN, NULL, NULL);
    }
    const int k = st->job.kind;
    if (k == JOB_TERMINATE || k == JOB_START_CHILD || k == JOB_RESTART_CHILD ||
        k == JOB_START_CHILDREN)
        ens__sup_reply(c, st->job.from, ENS_ESHUTDOWN, ENS_ADDR_NONE, 0);
    state_free(st);
    *(sup_state **)state = NULL;
}

/*
 * supervisor/sup_stop.c - the concurrent stop of a range of children
 * (ENS_SUP_START_CONCURRENT): every child of the range is asked to stop at
 * once, each by its own shutdown rule, and their ends are awaited together,
 * instead of one stop-to-exit round trip after another in reverse order.
 *
 * Each child is sent its exit request (ens_kill for brutal_kill, or when
 * the request cannot be sent) and counted in j->n_stopping (at most
 * SUP_STOP_WINDOW at a time, the next asked as they end); its exit
 * notice uncounts it in O(1) (found by address). The children with a
 * shutdown timeout get their own deadline, stop_due = the time of their
 * request + their shutdown_ms, but not a timer each: the bases cancel a
 * timer by a walk over the actor's timers, which with thousands of them
 * would cost a walk per exit. Instead the job keeps those children sorted
 * by deadline (j->due) and one wake-up for the earliest one still running;
 * when it fires, every child whose deadline has passed is killed and the
 * wake-up is set again for the next one. A child that ended meanwhile is
 * skipped there, so an exit costs no timer work at all, and the wake-up is
 * cancelled once the last end is known. Supervisors (shutdown infinity)
 * have no deadline: they take as long as their own subtree needs.
 */
#include <stdlib.h>
#include <time.h>

#include "ensemble/error.h"
#include "supervisor/sup_internal.h"

/* The most children asked to stop whose end is not known yet; the rest of
 * the range is asked as these end (refilled at half). An exit request is
 * most often the supervisor's first frame to that child: on the process
 * base it opens a connection, a descriptor of the admin's until the child
 * has ended. Five thousand at once ran into the admin's descriptor reserve
 * (measured: 2 368 exit requests lost as dead letters, those children
 * killed after their 5 s shutdown timeout). */
#define SUP_STOP_WINDOW 256u

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* End k at once; false when there is nothing to wait for. */
static bool kill_child(ens_ctx *c, sup_child *k)
{
    if (ens_kill(c, k->addr) < 0)
        return false;
    k->stop_killed = true;
    return true;
}

/* Ask k to stop by its rule (at now); false when there is nothing to wait
 * for. */
static bool send_stop(ens_ctx *c, sup_child *k, int64_t now)
{
    k->stop_killed = false;
    k->stop_due = 0;
    if (k->shutdown == ENS_SHUTDOWN_BRUTAL || ens_exit_request(c, k->addr) < 0)
        return kill_child(c, k);
    if (k->shutdown == ENS_SHUTDOWN_TIMEOUT)
        k->stop_due = now + (int64_t)k->shutdown_ms;
    return true;
}

/* k's end is known: bookkeeping only (finish_or_refill decides what
 * follows). */
static void stopped(sup_state *st, sup_child *k, int reason)
{
    sup_job *j = &st->job;
    k->stopping = false;
    k->stop_killed = false;
    j->last_reason = reason;
    ens__sup_job_stopped(st, k);
    j->n_stopping--;
}

static bool dispatch(ens_ctx *c, sup_state *st);

/* No deadline is watched any more: the wake-up cancelled, the list gone. */
static void forget_deadlines(ens_ctx *c, sup_job *j)
{
    if (j->timer != 0)
        (void)ens_wakeup_cancel(c, j->timer);
    j->timer = 0;
    free(j->due);
    j->due = NULL;
    j->n_due = j->dpos = 0;
}

/* After ends: ask the next children of the range when the window is half
 * empty; true when no end is awaited any more (the job goes on). */
static bool finish_or_refill(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    if (j->pos < j->n_stop && j->n_stopping <= SUP_STOP_WINDOW / 2)
        (void)dispatch(c, st);
    if (j->n_stopping > 0)
        return false;
    forget_deadlines(c, j);
    return true;
}

/* Set the wake-up for the earliest deadline still running. Without a
 * wake-up the deadlines cannot be kept: those children are killed now
 * rather than waited for without end. */
static void arm(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    if (j->timer != 0)
        return; /* set already (by a refill's plan) */
    while (j->dpos < j->n_due && (!j->due[j->dpos]->stopping || j->due[j->dpos]->stop_killed))
        j->dpos++;
    if (j->dpos == j->n_due)
        return;
    int64_t wait = j->due[j->dpos]->stop_due - now_ms();
    if (wait < 0)
        wait = 0;
    if (ens_wakeup_after(c, (uint32_t)wait, j->seq, &j->timer) == 0)
        return;
    j->timer = 0;
    ens_log(c, ENS_LOG_ERROR, "supervisor cannot time its children's shutdown: killing them");
    for (size_t i = j->dpos; i < j->n_due && j->n_stopping > 0; i++) {
        sup_child *k = j->due[i];
        if (k->stopping && !k->stop_killed && !kill_child(c, k))
            stopped(st, k, ENS_EXIT_KILLED);
    }
    j->dpos = j->n_due;
}

static int by_due(const void *a, const void *b)
{
    const sup_child *x = *(sup_child *const *)a, *y = *(sup_child *const *)b;
    if (x->stop_due != y->stop_due)
        return x->stop_due < y->stop_due ? -1 : 1;
    return x->pos < y->pos ? 1 : x->pos > y->pos ? -1 : 0; /* the last started first */
}

/* The children with a deadline still running, sorted, and the wake-up for
 * the first. Out of memory: those are killed now (as when no wake-up can
 * be had). */
static void plan(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    forget_deadlines(c, j);
    size_t n = 0;
    for (size_t i = 0; i < j->n_stop; i++)
        n += j->stop[i]->stopping && !j->stop[i]->stop_killed && j->stop[i]->stop_due != 0;
    if (n == 0)
        return;
    j->due = malloc(n * sizeof(*j->due));
    if (j->due == NULL) {
        ens_log(c, ENS_LOG_ERROR, "supervisor out of memory: killing its children being stopped");
        for (size_t i = 0; i < j->n_stop && j->n_stopping > 0; i++) {
            sup_child *k = j->stop[i];
            if (k->stopping && !k->stop_killed && k->stop_due != 0 && !kill_child(c, k))
                stopped(st, k, ENS_EXIT_KILLED);
        }
        return;
    }
    for (size_t i = 0; i < j->n_stop; i++) {
        sup_child *k = j->stop[i];
        if (k->stopping && !k->stop_killed && k->stop_due != 0)
            j->due[j->n_due++] = k;
    }
    qsort(j->due, j->n_due, sizeof(*j->due), by_due);
    arm(c, st);
}

/* Ask the children of j->stop[j->pos..) to stop, up to the window; true
 * while ends are awaited. */
static bool dispatch(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    const int64_t now = now_ms();
    bool sent = false;
    while (j->pos < j->n_stop && j->n_stopping < SUP_STOP_WINDOW) {
        sup_child *k = j->stop[j->pos++];
        int reason = ENS_EXIT_SHUTDOWN;
        k->in_stop = false;
        if (ens_addr_is_none(k->addr) || k->stopping)
            continue; /* it ended on its own meanwhile, or is being stopped */
        if (ens__sup_take_deferred_exit(st, k->addr, &reason) || !send_stop(c, k, now)) {
            j->last_reason = reason;
            ens__sup_job_stopped(st, k);
            continue;
        }
        k->stopping = true;
        j->n_stopping++;
        sent = true;
    }
    if (sent)
        plan(c, st); /* kills in it (no wake-up to be had) may end some */
    return j->n_stopping > 0;
}

bool ens__sup_stop_concurrent(ens_ctx *c, sup_state *st)
{
    sup_job *j = &st->job;
    while (!dispatch(c, st) && j->pos < j->n_stop)
        ; /* every end known at once: on with the rest of the range */
    return j->n_stopping > 0;
}

bool ens__sup_stop_done(ens_ctx *c, sup_state *st, sup_child *k, int reason)
{
    if (!k->stopping || st->job.n_stopping == 0)
        return false;
    stopped(st, k, reason);
    return finish_or_refill(c, st);
}

bool ens__sup_stop_wakeup(ens_ctx *c, sup_state *st, const ens_wakeup_v *w)
{
    sup_job *j = &st->job;
    if (j->n_stopping == 0 || j->timer == 0 || w->payload != j->seq || w->timer_id != j->timer)
        return false;
    j->timer = 0;
    const int64_t now = now_ms();
    while (j->dpos < j->n_due && j->n_stopping > 0) {
        sup_child *k = j->due[j->dpos];
        if (k->stopping && !k->stop_killed && k->stop_due > now)
            break;
        j->dpos++;
        if (!k->stopping || k->stop_killed)
            continue;
        ens_log(c, ENS_LOG_WARN, "child %s did not stop within %u ms: killed", k->id,
                k->shutdown_ms);
        if (!kill_child(c, k))
            stopped(st, k, ENS_EXIT_KILLED);
    }
    if (finish_or_refill(c, st))
        return true;
    arm(c, st);
    return finish_or_refill(c, st);
}

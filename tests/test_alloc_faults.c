/*
 * tests/test_alloc_faults.c - allocation failures are never silent.
 *
 * One allocation at a time is made to fail (core/wire/arena.h's one-shot
 * countdown) over a window of countdown values, in one of three places:
 * the outside program while it asks, sends to a dead address and takes a
 * status; an actor while it sends, spawns and asks for status; the admin's
 * loop (ENS__TEST_ADMIN_ALLOC_FAIL, read by the admin at start) while the
 * program spawns, asks, sends and takes a status. For every value:
 *  - nothing crashes: no actor restarts, the admin lives (a failure that is
 *    fatal by design would show as a restart; none is expected here);
 *  - a failure that fired is reported: a call returned an error other than
 *    a timeout, or the status counter alloc_failures went up (a timeout is
 *    what a lost answer looks like to its waiter, never its report);
 *  - the system answers an ask afterwards, within the full wait.
 * A call made while an allocation may fail waits only ARMED_MS: when its
 * answer is lost, the loss is the expected outcome and is reported by the
 * counter, so the test does not wait out the full timeout for it.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/wire/arena.h"
#include "ensemble/ensemble.h"
#include "ensemble/status.h"
#include "support/echo.h"

#define WAIT_MS  30000 /* an answer that must come */
#define ARMED_MS 100   /* a call while an allocation may fail: its answer may be lost */
#define DENSE    60    /* every countdown value below this is tried ... */
#define STRIDE   7     /* ... then every STRIDE-th ... */
#define WINDOW   200   /* ... up to this */
/* The admin: one system per value, each costing a start and a stop. */
#define ADMIN_DENSE  25
#define ADMIN_STRIDE 4
#define ADMIN_WINDOW 65

/* Failures an echo on inproc was told of (its reply failed): it runs in this
 * process, where the outside's countdown reaches it too. */
static unsigned long echo_told;

static int echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *v = ens_msg_value(m, &ens_msg_string);
    if (v == NULL)
        return 0;
    int rc = ens_reply(c, &ens_msg_string, v);
    if (rc < 0)
        echo_told++;
    return rc; /* the runtime journals it and delivers the message again */
}

static const ens_actor_def echo_def = {"af.Echo", 0,    NULL, echo_receive, NULL,
                                       NULL,      NULL, NULL, NULL};

/* An error that reports a failure (a timeout only says an answer is late). */
static int reported(int rc)
{
    return rc < 0 && rc != ENS_ETIMEDOUT;
}

/* On "arm K": make the K-th next allocation of this actor fail while it
 * sends to a dead address, spawns an echo, sends to it and asks for status,
 * then answer "FIRED ERRORS"; anything else is echoed. */
static int worker_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *v = ens_msg_value(m, &ens_msg_string);
    if (v == NULL || v->text == NULL)
        return 0;
    long k = 0;
    if (sscanf(v->text, "arm %ld", &k) != 1)
        return ens_reply(c, &ens_msg_string, v);
    unsigned long before = ens__alloc_injected();
    int errors = 0;
    ens__alloc_fail_once(k);
    ens_string_v hi = {"hello"};
    ens_addr dead = {999999, ens_self(c).node, 0};
    errors += reported(ens_send(c, dead, &ens_msg_string, &hi));
    ens_addr child = ENS_ADDR_NONE;
    int rc = ens_spawn(c, &echo_def, NULL, NULL, &child);
    errors += reported(rc);
    if (rc == 0)
        errors += reported(ens_send(c, child, &ens_msg_string, &hi));
    errors += reported(ens_status_request(c));
    ens__alloc_fail_after(-1);
    char out[64];
    snprintf(out, sizeof(out), "%lu %d", ens__alloc_injected() - before, errors);
    ens_string_v r = {out};
    return ens_reply(c, &ens_msg_string, &r);
}

static const ens_actor_def worker_def = {"af.Worker", 0,    NULL, worker_receive, NULL, NULL,
                                         NULL,        NULL, NULL};

typedef enum fault_site { AT_OUTSIDE, AT_ACTOR, AT_ADMIN } fault_site;

typedef struct sweep_case {
    const char *name;
    ens_base base;
    fault_site at;
} sweep_case;

static long next_k(long k)
{
    return k < DENSE ? k + 1 : k + STRIDE;
}

static long next_admin_k(long k)
{
    return k < ADMIN_DENSE ? k + 1 : k + ADMIN_STRIDE;
}

static ens_system *start(ens_base base)
{
    static unsigned seq;
    char name[64];
    snprintf(name, sizeof(name), "af-%d-%u", (int)getpid(), ++seq);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.name = base == ENS_BASE_PROCESS ? name : NULL;
    o.log_path = "/dev/null"; /* the first failure of each kind is logged: keep output clean */
    ens_system *s = NULL;
    fflush(NULL);
    assert_int_equal(ens_system_start(&o, &s), 0);
    return s;
}

/* Failures counted by the whole system (the admin's, this program's, every
 * actor's, and those an inproc echo was told of). Checks that the admin
 * lives and that no actor restarted. */
static uint64_t failures_counted(ens_system *s)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    uint64_t n = ens_status_alloc_failures(st) + echo_told;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        n += ens_status_at(st, i)->alloc_failures;
        assert_int_equal(ens_status_at(st, i)->restarts, 0);
    }
    int admin = ens_status_admin_pid(st);
    assert_true(admin > 0 && kill(admin, 0) == 0);
    ens_status_free(st);
    return n;
}

/* The outside program's k-th allocation fails while it asks, sends to a
 * dead address and takes a status. Returns the failures that fired. */
static unsigned long outside_round(ens_system *s, ens_addr echo, long k, int *errors)
{
    ens_ctx *out = ens_system_ctx(s);
    unsigned long before = ens__alloc_injected();
    ens__alloc_fail_once(k);
    ens_string_v hi = {"hello"};
    ens_msg *r = NULL;
    *errors += reported(ens_ask(out, echo, &ens_msg_string, &hi, ARMED_MS, &r));
    ens_msg_free(r);
    ens_addr dead = {999999, 0, 0};
    *errors += reported(ens_send(out, dead, &ens_msg_string, &hi));
    ens_status *st = NULL;
    *errors += reported(ens_system_status(s, ARMED_MS, &st));
    ens_status_free(st);
    ens__alloc_fail_after(-1);
    return ens__alloc_injected() - before;
}

/* The worker's k-th allocation fails (see worker_receive). */
static unsigned long actor_round(ens_system *s, ens_addr worker, long k, int *errors)
{
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "arm %ld", k);
    ens_string_v v = {cmd};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(s), worker, &ens_msg_string, &v, WAIT_MS, &r), 0);
    const ens_string_v *a = ens_msg_value(r, &ens_msg_string);
    assert_non_null(a);
    unsigned long fired = 0;
    assert_int_equal(sscanf(a->text, "%lu %d", &fired, errors), 2);
    ens_msg_free(r);
    return fired;
}

/* A spawn whose answer the worker lost returned ENS_ENOMEM, yet its child
 * may run, unknown to the worker, so the worker's stop would not end it and
 * the system's stop would wait its full timeout for it: end the worker's
 * children from here first. */
static void end_children(ens_system *s, ens_addr parent)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    for (size_t i = 0; i < ens_status_count(st); i++) {
        if (ens_addr_equal(ens_status_at(st, i)->parent, parent))
            assert_int_equal(ens_exit_request(ens_system_ctx(s), ens_status_at(st, i)->addr), 0);
    }
    ens_status_free(st);
}

/* The outside or an actor: one system, every sampled countdown value. */
static void sweep_in_system(const sweep_case *c)
{
    ens_system *s = start(c->base);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr target;
    assert_int_equal(
        ens_spawn(out, c->at == AT_ACTOR ? &worker_def : &echo_def, NULL, NULL, &target), 0);
    unsigned long fired_total = 0;
    for (long k = 0; k < WINDOW; k = next_k(k)) {
        uint64_t counted = failures_counted(s);
        int errors = 0;
        unsigned long fired = c->at == AT_ACTOR ? actor_round(s, target, k, &errors)
                                                : outside_round(s, target, k, &errors);
        fired_total += fired;
        uint64_t now = failures_counted(s);
        if (fired != 0 && errors == 0 && now == counted)
            fail_msg("%s: allocation %ld failed and nothing reported it",
                     c->at == AT_ACTOR ? "actor" : "outside", k);
        test_expect_echo(out, target, "after", WAIT_MS);
    }
    assert_true(fired_total > 0);
    if (c->at == AT_ACTOR)
        end_children(s, target);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
}

/* The admin: its k-th allocation after start fails (once), one system per
 * value. Whether it fired is the admin's to know: every k must leave a
 * working admin, and over the window the failures must show as errors or
 * in the count. */
static void sweep_admin(void)
{
    uint64_t reports = 0;
    for (long k = 0; k < ADMIN_WINDOW; k = next_admin_k(k)) {
        char val[32];
        snprintf(val, sizeof(val), "%ld", k);
        setenv("ENS__TEST_ADMIN_ALLOC_FAIL", val, 1);
        ens_system *s = start(ENS_BASE_PROCESS);
        unsetenv("ENS__TEST_ADMIN_ALLOC_FAIL");
        ens_ctx *out = ens_system_ctx(s);
        int errors = 0;
        ens_addr w = ENS_ADDR_NONE;
        int rc = ens_spawn(out, &echo_def, NULL, NULL, &w);
        errors += reported(rc);
        ens_string_v hi = {"hello"};
        if (rc == 0) {
            ens_msg *r = NULL;
            errors += reported(ens_ask(out, w, &ens_msg_string, &hi, ARMED_MS, &r));
            ens_msg_free(r);
        }
        ens_addr dead = {999999, 0, 0};
        errors += reported(ens_send(out, dead, &ens_msg_string, &hi));
        ens_status *st = NULL;
        errors += reported(ens_system_status(s, ARMED_MS, &st));
        ens_status_free(st);
        reports += failures_counted(s) + (uint64_t)errors;
        ens_addr again;
        assert_int_equal(ens_spawn(out, &echo_def, NULL, NULL, &again), 0);
        test_expect_echo(out, again, "after", WAIT_MS);
        assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    }
    assert_true(reports > 0);
}

static void test_sweep(void **state)
{
    const sweep_case *c = *state;
    if (c->at == AT_ADMIN)
        sweep_admin();
    else
        sweep_in_system(c);
}

static const sweep_case cases[] = {
    {"outside_inproc", ENS_BASE_INPROC, AT_OUTSIDE},
    {"outside_process", ENS_BASE_PROCESS, AT_OUTSIDE},
    {"actor_inproc", ENS_BASE_INPROC, AT_ACTOR},
    {"actor_process", ENS_BASE_PROCESS, AT_ACTOR},
    {"admin_process", ENS_BASE_PROCESS, AT_ADMIN},
};

int main(void)
{
    struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        tests[i] = (struct CMUnitTest){cases[i].name, test_sweep, NULL, NULL, (void *)&cases[i]};
    return _cmocka_run_group_tests("alloc_faults", tests, sizeof(cases) / sizeof(cases[0]), NULL,
                                   NULL);
}

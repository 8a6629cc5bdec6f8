/*
 * tests/alloc_faults_wip.c - allocation failures are never silent. NOT YET
 * BUILT (not tests/test_*.c): it still fails (outside k=39 unreported, an
 * actor that stops answering after a failure, ~4 min run); rename to
 * tests/test_alloc_faults.c once those are fixed.
 *
 * One allocation at a time is made to fail (core/wire/arena.h's one-shot
 * countdown) over a window of countdown values: in the outside program, in
 * an actor while it sends, spawns and asks for status, and in the admin's
 * loop (ENS__TEST_ADMIN_ALLOC_FAIL, read by the admin at start). For every
 * value: no actor crashes, the admin lives, a failure that fired is reported
 * (an error returned, or the status counter alloc_failures went up), and
 * the system answers an ask afterwards.
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

#define WAIT_MS      30000 /* an answer that must come */
#define ARMED_MS     3000  /* an ask while an allocation may fail: its loss is reported */
#define WINDOW       200   /* countdown values swept in the outside and in an actor */
#define ADMIN_WINDOW 60    /* in the admin: one system per value */

static const ens_actor_def echo_def = {"af.Echo", 0, NULL, test_echo_receive, NULL, NULL, NULL};

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
    errors += ens_send(c, dead, &ens_msg_string, &hi) < 0;
    ens_addr child = ENS_ADDR_NONE;
    int rc = ens_spawn(c, &echo_def, NULL, NULL, &child);
    errors += rc < 0;
    if (rc == 0)
        errors += ens_send(c, child, &ens_msg_string, &hi) < 0;
    errors += ens_status_request(c) < 0;
    ens__alloc_fail_after(-1);
    char out[64];
    snprintf(out, sizeof(out), "%lu %d", ens__alloc_injected() - before, errors);
    ens_string_v r = {out};
    return ens_reply(c, &ens_msg_string, &r);
}

static const ens_actor_def worker_def = {"af.Worker", 0, NULL, worker_receive, NULL, NULL, NULL};

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

/* alloc_failures of the whole system (the admin's, this program's, every
 * actor's); *restarts gets the actors' restarts (a crash shows there). The
 * admin must be alive. */
static uint64_t failures_counted(ens_system *s, uint32_t *restarts)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    uint64_t n = ens_status_alloc_failures(st);
    *restarts = 0;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        n += ens_status_at(st, i)->alloc_failures;
        *restarts += ens_status_at(st, i)->restarts;
    }
    int admin = ens_status_admin_pid(st);
    assert_true(admin > 0 && kill(admin, 0) == 0);
    ens_status_free(st);
    return n;
}

/* The outside program: ask, send to a dead address, take a status, with its
 * k-th allocation failing. */
static void sweep_outside(ens_base base)
{
    ens_system *s = start(base);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr echo;
    assert_int_equal(ens_spawn(out, &echo_def, NULL, NULL, &echo), 0);
    unsigned long fired_total = 0;
    for (long k = 0; k < WINDOW; k++) {
        uint32_t restarts = 0;
        uint64_t counted = failures_counted(s, &restarts);
        unsigned long before = ens__alloc_injected();
        int errors = 0;
        ens__alloc_fail_once(k);
        ens_string_v hi = {"hello"};
        ens_msg *r = NULL;
        errors += ens_ask(out, echo, &ens_msg_string, &hi, ARMED_MS, &r) < 0;
        ens_msg_free(r);
        ens_addr dead = {999999, 0, 0};
        errors += ens_send(out, dead, &ens_msg_string, &hi) < 0;
        ens_status *st = NULL;
        errors += ens_system_status(s, ARMED_MS, &st) < 0;
        ens_status_free(st);
        ens__alloc_fail_after(-1);
        unsigned long fired = ens__alloc_injected() - before;
        fired_total += fired;
        uint64_t now = failures_counted(s, &restarts);
        if (fired != 0 && errors == 0 && now == counted)
            fail_msg("outside: allocation %ld failed and nothing reported it", k);
        assert_int_equal(restarts, 0);
        test_expect_echo(out, echo, "after", WAIT_MS);
    }
    assert_true(fired_total > 0);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
}

static void test_outside_inproc(void **state)
{
    (void)state;
    sweep_outside(ENS_BASE_INPROC);
}

static void test_outside_process(void **state)
{
    (void)state;
    sweep_outside(ENS_BASE_PROCESS);
}

/* An actor: its k-th allocation fails while it sends, spawns and asks for
 * status. */
static void sweep_actor(ens_base base)
{
    ens_system *s = start(base);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr w;
    assert_int_equal(ens_spawn(out, &worker_def, NULL, NULL, &w), 0);
    unsigned long fired_total = 0;
    for (long k = 0; k < WINDOW; k++) {
        uint32_t restarts = 0;
        uint64_t counted = failures_counted(s, &restarts);
        char cmd[32];
        snprintf(cmd, sizeof(cmd), "arm %ld", k);
        ens_string_v v = {cmd};
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(out, w, &ens_msg_string, &v, WAIT_MS, &r), 0);
        const ens_string_v *a = ens_msg_value(r, &ens_msg_string);
        assert_non_null(a);
        unsigned long fired = 0;
        int errors = 0;
        assert_int_equal(sscanf(a->text, "%lu %d", &fired, &errors), 2);
        ens_msg_free(r);
        fired_total += fired;
        uint64_t now = failures_counted(s, &restarts);
        if (fired != 0 && errors == 0 && now == counted)
            fail_msg("actor: allocation %ld failed and nothing reported it", k);
        assert_int_equal(restarts, 0);
        test_expect_echo(out, w, "after", WAIT_MS);
    }
    assert_true(fired_total > 0);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
}

static void test_actor_inproc(void **state)
{
    (void)state;
    sweep_actor(ENS_BASE_INPROC);
}

static void test_actor_process(void **state)
{
    (void)state;
    sweep_actor(ENS_BASE_PROCESS);
}

/* The admin: its k-th allocation after start fails (once) while this
 * program spawns, asks, sends to a dead address and takes status. Whether
 * it fired is the admin's to know: every k must leave a working admin, and
 * over the window the failures must show as errors or in the count. */
static void test_admin_process(void **state)
{
    (void)state;
    uint64_t reported = 0;
    for (long k = 0; k < ADMIN_WINDOW; k++) {
        char val[32];
        snprintf(val, sizeof(val), "%ld", k);
        setenv("ENS__TEST_ADMIN_ALLOC_FAIL", val, 1);
        ens_system *s = start(ENS_BASE_PROCESS);
        unsetenv("ENS__TEST_ADMIN_ALLOC_FAIL");
        ens_ctx *out = ens_system_ctx(s);
        int errors = 0;
        ens_addr w = ENS_ADDR_NONE;
        int rc = ens_spawn(out, &echo_def, NULL, NULL, &w);
        errors += rc < 0;
        ens_string_v hi = {"hello"};
        if (rc == 0) {
            ens_msg *r = NULL;
            errors += ens_ask(out, w, &ens_msg_string, &hi, ARMED_MS, &r) < 0;
            ens_msg_free(r);
        }
        ens_addr dead = {999999, 0, 0};
        errors += ens_send(out, dead, &ens_msg_string, &hi) < 0;
        ens_status *st = NULL;
        errors += ens_system_status(s, ARMED_MS, &st) < 0;
        ens_status_free(st);
        uint32_t restarts = 0;
        reported += failures_counted(s, &restarts) + (uint64_t)errors;
        ens_addr again;
        assert_int_equal(ens_spawn(out, &echo_def, NULL, NULL, &again), 0);
        test_expect_echo(out, again, "after", WAIT_MS);
        assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    }
    assert_true(reported > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_inproc), cmocka_unit_test(test_outside_process),
        cmocka_unit_test(test_actor_inproc),   cmocka_unit_test(test_actor_process),
        cmocka_unit_test(test_admin_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

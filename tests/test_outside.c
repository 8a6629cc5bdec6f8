/*
 * tests/test_outside.c - the outside program's calls (core/runtime/outside.c) exist
 * only where an outside program runs. An actor process of the process base
 * inherits a copy of the starting program's system handle; every outside
 * call made with it is refused with ENS_EWRONGTHREAD (as inside an inproc
 * actor, tests/test_wrong_thread.c), and the system runs on
 * untouched (the handle is neither freed nor closed, the admin is not
 * asked to end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"

#define WAIT_MS 30000

/* Told the address of the starting program's handle (the same in every
 * process forked from it), make each outside call with it and reply with
 * the codes, in one line. */
static int caller_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v == NULL)
        return 0;
    ens_system *inherited = (ens_system *)(uintptr_t)v->value;
    ens_ctx *out = ens_system_ctx(inherited);
    ens_msg *r = NULL;
    ens_status *snap = NULL;
    int ask = ens_ask(out, ens_self(c), &ens_msg_int64, v, 100, &r);
    int listen = ens_listen(out, 100, &r);
    int run = ens_system_run(inherited, 100);
    int status = ens_system_status(inherited, 100, &snap);
    int shutdown = ens_system_close(inherited, 100);
    int stop = ens_system_stop(inherited, 100);
    char line[160];
    snprintf(line, sizeof(line), "ask %d listen %d run %d status %d shutdown %d stop %d", ask,
             listen, run, status, shutdown, stop);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){line});
}

static const ens_actor_def caller_def = {
    "outside.Caller", 0, NULL, caller_receive, NULL, NULL, NULL, NULL, NULL};

static void test_outside_calls_are_refused_in_an_actor_process(void **state)
{
    (void)state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    o.log_level = ENS_LOG_ERROR;
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr a;
    assert_int_equal(ens_spawn(out, &caller_def, NULL, NULL, &a), 0);
    ens_msg *r = NULL;
    ens_int64_v handle = {(int64_t)(uintptr_t)s};
    int rc = ens_ask(out, a, &ens_msg_int64, &handle, WAIT_MS, &r);
    if (rc != 0) {
        ens_msg_free(r);
        ens_system_close(s, WAIT_MS);
        fail_msg("the caller did not answer: %s", ens_err_name(rc));
    }
    const ens_string_v *line = ens_msg_value(r, &ens_msg_string);
    assert_non_null(line);
    char want[160];
    const int e = ENS_EWRONGTHREAD;
    snprintf(want, sizeof(want), "ask %d listen %d run %d status %d shutdown %d stop %d", e, e, e,
             e, e, e);
    assert_string_equal(line->text, want);
    ens_msg_free(r);
    /* Nothing of the system went with those calls: the same actor answers
     * again, and the program ends the system as usual. */
    rc = ens_ask(out, a, &ens_msg_int64, &handle, WAIT_MS, &r);
    ens_msg_free(r);
    assert_int_equal(rc, 0);
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outside_calls_are_refused_in_an_actor_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

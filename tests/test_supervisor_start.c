/*
 * tests/test_supervisor_start.c - a supervisor's start is synchronous for
 * the whole tree (OTP's start_link), on every base: the start returns only
 * once every child, and every nested subtree, has run its init, in order; a
 * child whose init fails stops the children started before it, the last
 * started first, and the start returns ENS_EINIT with ens_errmsg naming the
 * child.
 *
 * Workers count their inits in memory shared with every process
 * (tsup_inits), so "has run" is checked right after the start returns,
 * without waiting; their up and down reports carry CLOCK_MONOTONIC times
 * for the order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/sup_actors.h"

/* ---- a nested tree: top -> mid (workers 1..3) and worker 4 -------------- */

static int mid_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                         ens_child_spec *specs, size_t max, size_t *n);
static int top_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                         ens_child_spec *specs, size_t max, size_t *n);
ENS_SUPERVISOR_DEF(mid_def, "tstart.Mid", mid_configure);
ENS_SUPERVISOR_DEF(top_def, "tstart.Top", top_configure);

/* Workers 1..3 under mid (worker fail_num's init fails); the arguments are
 * read when configure returns, so they are static, not locals. */
static int mid_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                         ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)max;
    const tsup_sarg_v *a = arg != NULL ? ens_msg_value(arg, &tsup_sarg_t) : NULL;
    if (a == NULL)
        return ENS_EINVAL;
    static tsup_warg_v w[3];
    static const char *const ids[3] = {"w1", "w2", "w3"};
    flags->strategy = ENS_ONE_FOR_ONE;
    flags->intensity = 0;
    for (int i = 0; i < 3; i++) {
        specs[i] = tsup_wspec(ids[i], &w[i], i + 1, a->to, ENS_PERMANENT);
        w[i].init_fail = a->fail_num == i + 1;
    }
    *n = 3;
    return 0;
}

/* mid, then worker 4. */
static int top_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                         ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)max;
    const tsup_sarg_v *a = arg != NULL ? ens_msg_value(arg, &tsup_sarg_t) : NULL;
    if (a == NULL)
        return ENS_EINVAL;
    static tsup_sarg_v below;
    static tsup_warg_v w4;
    below = *a;
    flags->strategy = ENS_ONE_FOR_ONE;
    flags->intensity = 0;
    specs[0].id = "mid";
    specs[0].def = &mid_def;
    specs[0].arg_type = &tsup_sarg_t;
    specs[0].arg = &below;
    specs[0].shutdown = ENS_SHUTDOWN_INFINITY;
    specs[0].is_supervisor = true;
    specs[1] = tsup_wspec("w4", &w4, 4, a->to, ENS_PERMANENT);
    *n = 2;
    return 0;
}

/* ---- tests -------------------------------------------------------------- */

/* Four children, the third's init fails: the start returns ENS_EINIT and
 * ens_errmsg names c3; 1 and 2 started and were stopped (2, then 1) before
 * it returned; 4 never ran init. */
static void test_third_of_four_fails(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_inits_clear();
    ens_addr me = ens_self(t->out);
    tsup_warg_v w[4];
    ens_child_spec specs[4] = {tsup_wspec("c1", &w[0], 1, me, ENS_PERMANENT),
                               tsup_wspec("c2", &w[1], 2, me, ENS_PERMANENT),
                               tsup_wspec("c3", &w[2], 3, me, ENS_PERMANENT),
                               tsup_wspec("c4", &w[3], 4, me, ENS_PERMANENT)};
    w[2].init_fail = 1;
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup = ENS_ADDR_NONE;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, 4, &sup), ENS_EINIT);
    assert_true(ens_addr_is_none(sup)); /* written on success only */
    const char *why = ens_errmsg();
    assert_non_null(strstr(why, "child c3 (tsup.Worker)"));
    assert_non_null(strstr(why, "ENS_EINIT"));
    /* Now, without waiting: 1..3 ran init, 4 never. */
    assert_int_equal(tsup_inits(1), 1);
    assert_int_equal(tsup_inits(2), 1);
    assert_int_equal(tsup_inits(3), 1);
    assert_int_equal(tsup_inits(4), 0);
    const int want[4][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_DOWN, 2}, {TAG_DOWN, 1}};
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, want, 4, r);
    assert_true(tsup_pos_of(r, 4, TAG_UP, 1) < tsup_pos_of(r, 4, TAG_UP, 2));
    assert_true(tsup_pos_of(r, 4, TAG_UP, 2) < tsup_pos_of(r, 4, TAG_DOWN, 2));
    assert_true(tsup_pos_of(r, 4, TAG_DOWN, 2) < tsup_pos_of(r, 4, TAG_DOWN, 1));
    assert_int_equal(r[tsup_pos_of(r, 4, TAG_DOWN, 2)].n, ENS_EXIT_SHUTDOWN);
    assert_int_equal(tsup_inits(4), 0);
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_INIT_FAILED, ENS_ADDR_NONE), 2); /* c3, sup */
}

/* A nested tree starts whole: when the top's spawn returns 0, every worker
 * (three under mid, one under top) has run its init, once. */
static void test_nested_start_returns_after_every_init(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_inits_clear();
    tsup_sarg_v a = {0};
    a.to = ens_self(t->out);
    ens_addr top;
    assert_int_equal(ens_spawn(t->out, &top_def, &tsup_sarg_t, &a, &top), 0);
    for (int num = 1; num <= 4; num++)
        assert_int_equal(tsup_inits(num), 1);
    const int want[4][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}, {TAG_UP, 4}};
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, want, 4, r);
    /* In order: mid's subtree before worker 4. */
    assert_true(tsup_pos_of(r, 4, TAG_UP, 3) < tsup_pos_of(r, 4, TAG_UP, 4));
    ens_addr mid = tsup_child_of(t, top, "mid");
    tsup_kid k[4];
    assert_int_equal(tsup_which(t, mid, k, 4), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k[i].status, ENS_SUP_CHILD_RUNNING);
}

/* A deep worker's init fails: mid's start fails, so the top's start fails
 * with ENS_EINIT naming mid; worker 1 was stopped, worker 4 never ran. */
static void test_nested_deep_failure_fails_top(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_inits_clear();
    tsup_sarg_v a = {0};
    a.to = ens_self(t->out);
    a.fail_num = 2;
    ens_addr top = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &top_def, &tsup_sarg_t, &a, &top), ENS_EINIT);
    assert_non_null(strstr(ens_errmsg(), "child mid (tstart.Mid)"));
    assert_int_equal(tsup_inits(1), 1);
    assert_int_equal(tsup_inits(2), 1);
    assert_int_equal(tsup_inits(3), 0);
    assert_int_equal(tsup_inits(4), 0);
    const int want[2][2] = {{TAG_UP, 1}, {TAG_DOWN, 1}};
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, want, 2, r);
    assert_int_equal(tsup_inits(3), 0);
    assert_int_equal(tsup_inits(4), 0);
}

/* From inside an actor the start is asynchronous, and its failure reaches
 * the parent as an init failure with ENS_EINIT. */
static void test_failed_start_inside_is_init_failure(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, 5, 0, ENS_PERMANENT, 1, 0, ENS_ADDR_NONE};
    ens_addr sup = tsup_start_host(t, a, &host);
    const int want[1][2] = {{TAG_EXITED, ENS_EINIT}};
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, want, 1, r);
    assert_int_equal(r[0].n, ENS_EXIT_INIT_FAILED);
    assert_addr_eq(r[0].who, sup);
}

int main(void)
{
    if (tsup_types_register() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_third_of_four_fails),
        SCN_TEST(test_nested_start_returns_after_every_init),
        SCN_TEST(test_nested_deep_failure_fails_top),
        SCN_TEST(test_failed_start_inside_is_init_failure),
    };
    return scn_run_bases("supervisor_start", tests, sizeof(tests) / sizeof(tests[0]));
}

/*
 * tests/test_supervisor_stop.c - the concurrent stop of a group
 * (ENS_SUP_START_CONCURRENT), on every base (tests/support/scenario.h):
 * a one_for_all restart asks every child of the group to stop at once, each
 * by its own shutdown rule, and starts the group once every end is known.
 *
 * The group, in start order: a nested supervisor "sub" (shutdown infinity,
 * its worker 1), orderly workers 2..6, "brutal" (7: brutal_kill, and it
 * would ignore an exit request) and "stubborn" (8: ignores exit requests,
 * shutdown timeout). In OTP's order the stubborn one, started last, is
 * stopped first and nothing else is asked before it is killed.
 *
 * Nothing sleeps to synchronise and no upper bound of time is checked: the
 * concurrency is shown by causality (every other child has stopped while
 * the stubborn one, with a shutdown timeout of ten minutes, still runs),
 * the timeout by a lower bound (the group restarts only after it ran out).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/sup_actors.h"

#define SHUT_MS  300    /* the stubborn child's shutdown timeout, when it is to be killed */
#define LONG_MS  600000 /* ... when it must still run while the others stop */
#define N_GROUP  8      /* children of the supervisor */
#define ORDERLY  2      /* workers ORDERLY..LAST_ORD stop when asked */
#define LAST_ORD 6
#define BRUTAL   7
#define STUBBORN 8

/* The host (argument tsup_sarg_v: strategy, intensity, stubborn_ms, to):
 * starts the group's supervisor as its child, reports TAG_SUP with it, and
 * TAG_EXITED when it exits. */
static int host_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    tsup_host_st *s = state;
    const tsup_sarg_v *a = ens_msg_value(arg, &tsup_sarg_t);
    s->to = a->to;
    tsup_sarg_v sub = {ENS_ONE_FOR_ONE, 0, 1, ENS_PERMANENT, 0, 0, a->to};
    tsup_warg_v w[N_GROUP];
    ens_child_spec specs[N_GROUP];
    static const char *const ids[N_GROUP] = {"sub", "w2", "w3",     "w4",
                                             "w5",  "w6", "brutal", "stubborn"};
    for (int i = 0; i < N_GROUP; i++) {
        const int num = i + 1;
        w[i] = (tsup_warg_v){num, 0, 0, num >= BRUTAL, a->to};
        specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
        specs[i].id = ids[i];
        specs[i].def = &tsup_worker_def;
        specs[i].arg_type = &tsup_warg_t;
        specs[i].arg = &w[i];
        specs[i].shutdown_ms = 30000;
    }
    specs[0].def = tsup_nested_def;
    specs[0].arg_type = &tsup_sarg_t;
    specs[0].arg = &sub;
    specs[0].is_supervisor = true;
    specs[0].shutdown = ENS_SHUTDOWN_INFINITY;
    specs[BRUTAL - 1].shutdown = ENS_SHUTDOWN_BRUTAL;
    specs[STUBBORN - 1].shutdown_ms = (uint32_t)a->stubborn_ms;
    ens_sup_flags f = {(ens_sup_strategy)a->strategy, a->intensity, 60000,
                       ENS_SUP_START_CONCURRENT};
    ens_addr sup = ENS_ADDR_NONE;
    int rc = ens_supervisor_spawn(c, &f, specs, N_GROUP, &sup);
    ens_send(c, s->to, &tsup_rep_t, &(tsup_rep_v){TAG_SUP, 0, rc, 0, scn_now_ns(), 0, sup});
    return 0;
}

static const ens_actor_def host_def = {
    "tstop.Host", sizeof(tsup_host_st), host_init, tsup_host_receive, NULL, NULL, NULL, NULL, NULL};

/* Start the group under a host; returns the supervisor once every child
 * has run its init. */
static ens_addr start_group(scn *t, ens_sup_strategy strategy, int stubborn_ms)
{
    tsup_stash_clear();
    tsup_inits_clear();
    tsup_sarg_v a = {strategy, 1, 0, 0, 0, stubborn_ms, ens_self(t->out)};
    ens_addr host;
    assert_int_equal(ens_spawn(t->out, &host_def, &tsup_sarg_t, &a, &host), 0);
    int want[N_GROUP + 1][2];
    for (int i = 0; i < N_GROUP; i++) {
        want[i][0] = TAG_UP;
        want[i][1] = i + 1;
    }
    want[N_GROUP][0] = TAG_SUP;
    want[N_GROUP][1] = 0;
    tsup_rep_v r[N_GROUP + 1];
    tsup_expect_reps(t, (const int(*)[2])want, N_GROUP + 1, r);
    const tsup_rep_v *s = &r[tsup_pos_of(r, N_GROUP + 1, TAG_SUP, 0)];
    assert_int_equal(s->n, 0);
    return s->who;
}

/* Worker 2 fails: the reports of the group's stop (worker 2's own end,
 * DOWN of 1 and 3..6 with SHUTDOWN, and the stubborn one's DEFER) into
 * r[0..LAST_ORD + 1), sorted by time. No report may come from the brutal
 * one: it is killed without a request. */
static void fail_two_and_see_stops(scn *t, ens_addr sup, tsup_rep_v *r)
{
    tsup_tell(t, tsup_child_of(t, sup, "w2"), "stop_error");
    int want[LAST_ORD + 1][2];
    for (int i = 0; i < LAST_ORD; i++) {
        want[i][0] = TAG_DOWN;
        want[i][1] = i + 1;
    }
    want[LAST_ORD][0] = TAG_DEFER;
    want[LAST_ORD][1] = STUBBORN;
    tsup_expect_reps(t, (const int(*)[2])want, LAST_ORD + 1, r);
    for (int i = 0; i < LAST_ORD + 1; i++) {
        if (r[i].tag != TAG_DOWN)
            continue;
        assert_int_equal(r[i].n, r[i].num == ORDERLY ? ENS_EXIT_ERROR : ENS_EXIT_SHUTDOWN);
    }
}

/* Every child up again (1..8), in any order. */
static void expect_group_up(scn *t, tsup_rep_v *r)
{
    int want[N_GROUP][2];
    for (int i = 0; i < N_GROUP; i++) {
        want[i][0] = TAG_UP;
        want[i][1] = i + 1;
    }
    tsup_expect_reps(t, (const int(*)[2])want, N_GROUP, r);
}

/* Every child running, worker 2 restarted once (the group's restart counts
 * once: with intensity 1 a second count would have ended the supervisor). */
static void check_all_running(scn *t, ens_addr sup)
{
    tsup_kid k[N_GROUP];
    assert_int_equal(tsup_which(t, sup, k, N_GROUP), N_GROUP);
    for (int i = 0; i < N_GROUP; i++) {
        assert_int_equal(k[i].status, ENS_SUP_CHILD_RUNNING);
        assert_false(ens_addr_is_none(k[i].addr));
        assert_int_equal(k[i].restarts, i == ORDERLY - 1 ? 1 : 0);
    }
}

/* Ask count_children until one child only is running: the stubborn one,
 * which ends only when killed or told to (each ask is a round trip; a
 * short pause between them). Then its row in which_children (k). */
static void wait_only_stubborn(scn *t, ens_addr sup, tsup_kid *k)
{
    const int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    ens_sup_counts_v n;
    for (;;) {
        assert_int_equal(ens_supervisor_count_children_wait(t->out, sup, &n), 0);
        assert_int_equal(n.specs, N_GROUP);
        if (n.active == 1)
            break;
        if (scn_now_ns() > end)
            fail_msg("%u children still running", n.active);
        usleep(2000);
    }
    assert_int_equal(tsup_which(t, sup, k, N_GROUP), N_GROUP);
}

/* The others stop while the stubborn one still runs (its timeout is ten
 * minutes): they were asked at once, not after it. It then ends on its own
 * in the middle of the stop, and the group starts again. */
static void test_group_stops_at_once(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr sup = start_group(t, ENS_ONE_FOR_ALL, LONG_MS);
    ens_addr stubborn = tsup_child_of(t, sup, "stubborn");
    tsup_rep_v r[TSUP_MAX_REPS];
    fail_two_and_see_stops(t, sup, r);

    /* During the stop: the others' ends reach the supervisor after their
     * reports; then only the stubborn one runs, and which_children shows
     * the group as restarting (each row with its kept address). */
    tsup_kid k[N_GROUP];
    wait_only_stubborn(t, sup, k);
    for (int i = 0; i < N_GROUP; i++)
        assert_int_equal(k[i].status, ENS_SUP_CHILD_RESTARTING);
    assert_addr_eq(k[STUBBORN - 1].addr, stubborn);

    tsup_tell(t, stubborn, "stop_normal");
    int down[1][2] = {{TAG_DOWN, STUBBORN}};
    tsup_expect_reps(t, (const int(*)[2])down, 1, r);
    expect_group_up(t, r);
    check_all_running(t, sup);
    assert_addr_eq(tsup_child_of(t, sup, "stubborn"), stubborn); /* its address kept */

    /* The supervisor's own shutdown stops them side by side too (and ends
     * the test without a ten-minute stop at the system's end). */
    assert_int_equal(ens_exit_request(t->out, sup), 0);
    int all[LAST_ORD + 1][2];
    for (int i = 0; i < LAST_ORD; i++) {
        all[i][0] = TAG_DOWN;
        all[i][1] = i + 1;
    }
    all[LAST_ORD][0] = TAG_DEFER;
    all[LAST_ORD][1] = STUBBORN;
    tsup_expect_reps(t, (const int(*)[2])all, LAST_ORD + 1, r);
    tsup_tell(t, stubborn, "stop_normal");
    const int end[2][2] = {{TAG_DOWN, STUBBORN}, {TAG_EXITED, 0}};
    tsup_expect_reps(t, end, 2, r);
    assert_int_equal(r[1].tag, TAG_EXITED);
    assert_int_equal(r[1].n, ENS_EXIT_SHUTDOWN);
}

/* A stubborn child among many is killed after its own timeout while the
 * others stop at once; the brutal one is killed without a request. */
static void test_stubborn_killed_after_its_timeout(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr sup = start_group(t, ENS_ONE_FOR_ALL, SHUT_MS);
    tsup_rep_v r[TSUP_MAX_REPS];
    int64_t t0 = scn_now_ns();
    fail_two_and_see_stops(t, sup, r);
    tsup_rep_v up[N_GROUP];
    expect_group_up(t, up);
    /* the group started only once the stubborn one's time had run out */
    int64_t first = up[0].begin;
    for (int i = 1; i < N_GROUP; i++)
        if (up[i].begin < first)
            first = up[i].begin;
    assert_true((first - t0) / 1000000 >= SHUT_MS);
    check_all_running(t, sup);
}

/* rest_for_one: worker 2 fails, 3..8 are being stopped (the stubborn one
 * for ten minutes) when the supervisor is asked to exit: the restart is
 * dropped, the child outside the group ("sub", started before worker 2) is
 * asked at once too, and the supervisor exits with SHUTDOWN once the
 * stubborn one ends; nothing starts again. */
static void test_exit_request_during_stop(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr sup = start_group(t, ENS_REST_FOR_ONE, LONG_MS);
    ens_addr stubborn = tsup_child_of(t, sup, "stubborn");
    tsup_tell(t, tsup_child_of(t, sup, "w2"), "stop_error");
    int want[LAST_ORD][2];
    for (int i = 0; i < LAST_ORD - 1; i++) {
        want[i][0] = TAG_DOWN;
        want[i][1] = i + 2;
    }
    want[LAST_ORD - 1][0] = TAG_DEFER;
    want[LAST_ORD - 1][1] = STUBBORN;
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, (const int(*)[2])want, LAST_ORD, r);

    assert_int_equal(ens_exit_request(t->out, sup), 0);
    tsup_expect_one(t, TAG_DOWN, 1); /* sub's worker: asked while the stubborn one runs */
    tsup_kid k[N_GROUP];
    wait_only_stubborn(t, sup, k); /* sub too has ended while the stubborn one runs */
    assert_addr_eq(k[STUBBORN - 1].addr, stubborn);

    tsup_tell(t, stubborn, "stop_normal");
    const int end[2][2] = {{TAG_DOWN, STUBBORN}, {TAG_EXITED, 0}};
    tsup_expect_reps(t, end, 2, r);
    assert_int_equal(r[1].tag, TAG_EXITED); /* after the stubborn one */
    assert_int_equal(r[1].n, ENS_EXIT_SHUTDOWN);
    assert_addr_eq(r[1].who, sup);
    for (int num = 1; num <= N_GROUP; num++)
        assert_int_equal(tsup_inits(num), 1); /* nothing started again */
}

int main(void)
{
    if (tsup_types_register() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_group_stops_at_once),
        SCN_TEST(test_stubborn_killed_after_its_timeout),
        SCN_TEST(test_exit_request_during_stop),
    };
    return scn_run_bases("supervisor_stop", tests, sizeof(tests) / sizeof(tests[0]));
}

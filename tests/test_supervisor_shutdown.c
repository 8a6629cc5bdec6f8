/*
 * tests/test_supervisor_shutdown.c - how a supervisor stops and starts its
 * children, on every base (tests/support/scenario.h): the shutdown rules
 * (a child that ignores exit requests is killed after shutdown_ms, or at
 * once for brutal_kill, and ends with ENS_EXIT_KILLED), an exit request to a
 * supervisor (children stopped the last started first, then the supervisor
 * exits with ENS_EXIT_SHUTDOWN; a tree stops from the leaves up), and starts
 * made strictly one after another (at start, in a group restart, and for
 * start_child / restart_child, whose replies come after the child's init).
 *
 * A child that "ignores" exit requests defers them with ens_exit_defer and
 * never stops (both bases); a handler that really never returns (pause()
 * for ever) needs a process of its own: that test runs on the process base
 * only. Nothing sleeps to synchronise: the test waits for reports and
 * replies. The only timing checks are lower bounds ("waited at least
 * shutdown_ms"); inits that take a while make overlapping starts visible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/sup_internal.h"
#include "support/sup_actors.h"

#define SHUT_MS 300 /* the shutdown timeout of the stubborn children */
#define INIT_MS 40  /* the length of the slow inits */

/* terminate_child sent as a plain ask (&ens__msg_sup_terminate), so the
 * reply's exit reason can be read from outside. Returns the status. */
static int terminate_reason(scn *t, ens_addr sup, const char *id, int32_t *reason)
{
    ens_sup_child_ref_v v = {(char *)id, ENS_ADDR_NONE};
    ens_msg *r = NULL;
    int rc = ens_ask(t->out, sup, &ens__msg_sup_terminate, &v, SCN_WAIT_MS, &r);
    const ens_sup_result_v *res = r != NULL ? ens_msg_value(r, &ens_msg_sup_result) : NULL;
    *reason = res != NULL ? res->reason : -100;
    ens_msg_free(r);
    return rc;
}

/* A supervisor (one_for_one, outside) of worker a (1) and worker s (2) with
 * shutdown rule `how`; s is stubborn when asked. Waits for both inits. */
static ens_addr start_pair(scn *t, ens_shutdown how, bool stubborn)
{
    ens_addr me = ens_self(t->out), sup;
    tsup_warg_v w[2];
    ens_child_spec specs[2] = {tsup_wspec("a", &w[0], 1, me, ENS_PERMANENT),
                               tsup_wspec("s", &w[1], 2, me, ENS_PERMANENT)};
    w[1].stubborn = stubborn;
    specs[1].shutdown = how;
    specs[1].shutdown_ms = how == ENS_SHUTDOWN_TIMEOUT ? SHUT_MS : 600000;
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 3, 60000, ENS_SUP_START_ORDERED};
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, 2, &sup), 0);
    tsup_rep_v r[2];
    const int ups[2][2] = {{TAG_UP, 1}, {TAG_UP, 2}};
    tsup_expect_reps(t, ups, 2, r);
    return sup;
}

/* After s was killed: it is listed stopped, a runs on; terminating a then
 * brings exactly a's own terminate report (s's terminate never ran). */
static void check_after_kill(scn *t, ens_addr sup)
{
    tsup_kid k[2];
    assert_int_equal(tsup_which(t, sup, k, 2), 2);
    assert_int_equal(k[0].status, ENS_SUP_CHILD_RUNNING);
    assert_int_equal(k[1].status, ENS_SUP_CHILD_STOPPED);
    assert_true(ens_addr_is_none(k[1].addr));
    assert_int_equal(k[1].restarts, 0);
    int32_t reason = 0;
    assert_int_equal(terminate_reason(t, sup, "a", &reason), 0);
    assert_int_equal(reason, ENS_EXIT_SHUTDOWN);
    tsup_expect_one(t, TAG_DOWN, 1);
}

/* ---- shutdown rules --------------------------------------------------- */

/* TIMEOUT: an exit request, shutdown_ms, then ens_kill. */
static void test_timeout_kills_child_that_ignores_exit(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr sup = start_pair(t, ENS_SHUTDOWN_TIMEOUT, true);
    int64_t t0 = scn_now_ns();
    int32_t reason = 0;
    assert_int_equal(terminate_reason(t, sup, "s", &reason), 0);
    int64_t waited_ms = (scn_now_ns() - t0) / 1000000;
    assert_int_equal(reason, ENS_EXIT_KILLED);
    assert_true(waited_ms >= SHUT_MS); /* it had its shutdown time first */
    tsup_rep_v d = tsup_listen_rep(t); /* it did get (and ignore) the request */
    assert_int_equal(d.tag, TAG_DEFER);
    assert_int_equal(d.num, 2);
    assert_int_equal(d.n, 0); /* ens_exit_defer accepted */
    check_after_kill(t, sup);
}

/* BRUTAL: ens_kill at once; no exit request at all. shutdown_ms is ten
 * minutes, longer than the ask waits: a wait would fail the ask. */
static void test_brutal_kills_at_once(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr sup = start_pair(t, ENS_SHUTDOWN_BRUTAL, true);
    int32_t reason = 0;
    assert_int_equal(terminate_reason(t, sup, "s", &reason), 0);
    assert_int_equal(reason, ENS_EXIT_KILLED);
    check_after_kill(t, sup); /* and no TAG_DEFER: s never saw a request */
}

/* INFINITY: the supervisor waits for as long as it takes: an orderly child
 * ends with SHUTDOWN. */
static void test_infinity_waits_for_orderly_exit(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr sup = start_pair(t, ENS_SHUTDOWN_INFINITY, false);
    int32_t reason = 0;
    assert_int_equal(terminate_reason(t, sup, "s", &reason), 0);
    assert_int_equal(reason, ENS_EXIT_SHUTDOWN);
    tsup_rep_v d = tsup_listen_rep(t);
    assert_int_equal(d.tag, TAG_DOWN);
    assert_int_equal(d.num, 2);
    assert_int_equal(d.n, ENS_EXIT_SHUTDOWN);
    assert_int_equal(terminate_reason(t, sup, "s", &reason), 0); /* stopped already */
    assert_int_equal(reason, -1);
}

/* Process base: a handler that never returns never reads the exit request;
 * the kill frees it, after shutdown_ms (TIMEOUT) or at once (BRUTAL). */
static void test_stuck_handler_is_killed(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip();
    scn_start(t, NULL);
    tsup_stash_clear();
    for (int brutal = 0; brutal < 2; brutal++) {
        ens_addr sup = start_pair(t, brutal ? ENS_SHUTDOWN_BRUTAL : ENS_SHUTDOWN_TIMEOUT, false);
        tsup_block(t, sup, "s", 2);
        int64_t t0 = scn_now_ns();
        int32_t reason = 0;
        assert_int_equal(terminate_reason(t, sup, "s", &reason), 0);
        assert_int_equal(reason, ENS_EXIT_KILLED);
        if (!brutal)
            assert_true((scn_now_ns() - t0) / 1000000 >= SHUT_MS);
        check_after_kill(t, sup);
    }
}

/* ---- an exit request to a supervisor ----------------------------------- */

/* Children a, b, c and a stubborn one (started last): the exit request
 * stops the stubborn one first (killed after SHUT_MS), then c, b, a, and
 * only then does the supervisor exit, with SHUTDOWN. */
static void test_exit_request_stops_children_last_started_first(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, 3, 0, ENS_PERMANENT, 0, SHUT_MS, ENS_ADDR_NONE};
    ens_addr sup = tsup_start_host(t, a, &host);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int ups[4][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}, {TAG_UP, 4}};
    tsup_expect_reps(t, ups, 4, r);
    int64_t t0 = scn_now_ns();
    assert_int_equal(ens_exit_request(t->out, sup), 0);
    const int want[5][2] = {
        {TAG_DEFER, 4}, {TAG_DOWN, 3}, {TAG_DOWN, 2}, {TAG_DOWN, 1}, {TAG_EXITED, 0}};
    tsup_expect_reps(t, want, 5, r);
    for (int i = 0; i < 5; i++)
        assert_true(r[i].tag == want[i][0] && r[i].num == want[i][1]); /* in this order */
    assert_true((r[1].at - t0) / 1000000 >= SHUT_MS);                  /* c only after the kill */
    for (int i = 1; i < 4; i++)
        assert_int_equal(r[i].n, ENS_EXIT_SHUTDOWN);
    assert_int_equal(r[4].n, ENS_EXIT_SHUTDOWN);
    assert_addr_eq(r[4].who, sup);
}

/* host -> top -> mid -> leaf -> worker: an exit request to the top stops
 * the worker first, and the top exits with SHUTDOWN (each level waits for
 * the one below: ENS_SHUTDOWN_INFINITY). */
static void test_exit_request_stops_tree_from_the_leaves(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, 0, 3, ENS_PERMANENT, 0, 0, ENS_ADDR_NONE};
    ens_addr top = tsup_start_host(t, a, &host);
    tsup_expect_one(t, TAG_UP, 1);
    assert_int_equal(ens_exit_request(t->out, top), 0);
    const int want[2][2] = {{TAG_DOWN, 1}, {TAG_EXITED, 0}};
    tsup_rep_v r[2];
    tsup_expect_reps(t, want, 2, r);
    assert_int_equal(r[0].tag, TAG_DOWN);
    assert_int_equal(r[0].n, ENS_EXIT_SHUTDOWN);
    assert_int_equal(r[1].n, ENS_EXIT_SHUTDOWN);
    assert_addr_eq(r[1].who, top);
    if (scn_events_local(t)) /* an orderly stop: nobody gave up */
        assert_int_equal(scn_events_count(t, ENS_EV_ESCALATE, ENS_ADDR_NONE), 0);
}

/* ---- starts, strictly one after another -------------------------------- */

/* up[0..n) sorted by time are workers first..first+n-1 in order, each init
 * begun after the one before had ended. */
static void check_sequential(const tsup_rep_v *up, size_t n, int first)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(up[i].tag, TAG_UP);
        assert_int_equal(up[i].num, first + (int)i);
        assert_true(up[i].begin <= up[i].at);
        if (i > 0)
            assert_true(up[i - 1].at <= up[i].begin);
    }
}

static void test_children_start_strictly_in_order(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out), sup;
    tsup_warg_v w[3];
    ens_child_spec specs[3] = {tsup_wspec("a", &w[0], 1, me, ENS_PERMANENT),
                               tsup_wspec("b", &w[1], 2, me, ENS_PERMANENT),
                               tsup_wspec("c", &w[2], 3, me, ENS_PERMANENT)};
    for (int i = 0; i < 3; i++)
        w[i].init_ms = INIT_MS;
    ens_sup_flags f = {ENS_ONE_FOR_ALL, 3, 60000, ENS_SUP_START_ORDERED};
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, 3, &sup), 0);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int ups[3][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}};
    tsup_expect_reps(t, ups, 3, r);
    check_sequential(r, 3, 1);

    /* one_for_all: b fails; c and a are stopped (in that order), then a, b,
     * c are started again one after another. */
    tsup_tell(t, tsup_child_of(t, sup, "b"), "stop_error");
    const int again[6][2] = {{TAG_DOWN, 2}, {TAG_DOWN, 3}, {TAG_DOWN, 1},
                             {TAG_UP, 1},   {TAG_UP, 2},   {TAG_UP, 3}};
    tsup_expect_reps(t, again, 6, r);
    assert_int_equal(r[0].num, 2);
    assert_int_equal(r[1].num, 3);
    assert_int_equal(r[2].num, 1);
    assert_true(r[2].at <= r[3].begin); /* every stop before the first start */
    check_sequential(&r[3], 3, 1);
    tsup_kid k[3];
    assert_int_equal(tsup_which(t, sup, k, 3), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k[i].status, ENS_SUP_CHILD_RUNNING);
}

/* start_child and restart_child answer once the child's init has run (its
 * report's time is before the answer), or with ENS_EINIT when it failed. */
static void run_start_child_after_init(scn *t, bool inside)
{
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out), sup, none = ENS_ADDR_NONE;
    ens_addr cl = inside ? tsup_spawn_client(t) : none;
    tsup_warg_v w;
    ens_child_spec a = tsup_wspec("a", &w, 1, me, ENS_PERMANENT);
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 3, 60000, ENS_SUP_START_ORDERED};
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &a, 1, &sup), 0);
    tsup_expect_one(t, TAG_UP, 1);

    tsup_opres o = tsup_op(t, cl, OP_START, sup, "b", none, 2);
    assert_int_equal(o.status, 0);
    tsup_rep_v up = tsup_listen_rep(t); /* stashed, when inside */
    assert_int_equal(up.tag, TAG_UP);
    assert_int_equal(up.num, 2);
    assert_true(up.at <= o.at);
    assert_addr_eq(up.who, o.addr);

    assert_int_equal(tsup_op(t, cl, OP_TERMINATE, sup, "b", none, 0).status, 0);
    tsup_expect_one(t, TAG_DOWN, 2);
    o = tsup_op(t, cl, OP_RESTART, sup, "b", none, 0);
    assert_int_equal(o.status, 0);
    up = tsup_listen_rep(t);
    assert_int_equal(up.tag, TAG_UP);
    assert_true(up.at <= o.at);
    assert_addr_eq(up.who, o.addr);

    /* An init that fails: ENS_EINIT, and the child is not kept. */
    tsup_warg_v bad_w;
    ens_child_spec bad = tsup_wspec("bad", &bad_w, 9, me, ENS_PERMANENT);
    bad_w.init_fail = 1;
    ens_addr out = none;
    assert_int_equal(ens_supervisor_start_child_wait(t->out, sup, &bad, NULL, NULL, &out),
                     ENS_EINIT);
    assert_true(ens_addr_is_none(out));
    tsup_kid k[4];
    assert_int_equal(tsup_which(t, sup, k, 4), 2);
    assert_null(tsup_kid_by_id(k, 2, "bad"));
}

static void test_start_child_replies_after_init_outside(void **state)
{
    run_start_child_after_init(*state, false);
}

static void test_start_child_replies_after_init_inside(void **state)
{
    run_start_child_after_init(*state, true);
}

/* simple_one_for_one: the same for children added at run time. */
static void test_simple_start_child_init_failure(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out), sup, out = ENS_ADDR_NONE;
    tsup_warg_v w;
    ens_child_spec tmpl = tsup_wspec("w", &w, 0, me, ENS_TRANSIENT);
    ens_sup_flags f = {ENS_SIMPLE_ONE_FOR_ONE, 3, 60000, ENS_SUP_START_ORDERED};
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &tmpl, 1, &sup), 0);
    tsup_warg_v arg = {5, 1, 0, 0, me};
    assert_int_equal(ens_supervisor_start_child_wait(t->out, sup, NULL, &tsup_warg_t, &arg, &out),
                     ENS_EINIT);
    arg.init_fail = 0;
    assert_int_equal(ens_supervisor_start_child_wait(t->out, sup, NULL, &tsup_warg_t, &arg, &out),
                     0);
    int64_t answered = scn_now_ns();
    tsup_rep_v up = tsup_listen_rep(t);
    assert_int_equal(up.tag, TAG_UP);
    assert_true(up.at <= answered);
    assert_addr_eq(up.who, out);
    ens_sup_counts_v n;
    assert_int_equal(ens_supervisor_count_children_wait(t->out, sup, &n), 0);
    assert_int_equal(n.specs, 1);
    assert_int_equal(n.active, 1);
}

/* ---- main --------------------------------------------------------------- */

int main(void)
{
    if (tsup_types_register() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_timeout_kills_child_that_ignores_exit),
        SCN_TEST(test_brutal_kills_at_once),
        SCN_TEST(test_infinity_waits_for_orderly_exit),
        SCN_TEST(test_stuck_handler_is_killed),
        SCN_TEST(test_exit_request_stops_children_last_started_first),
        SCN_TEST(test_exit_request_stops_tree_from_the_leaves),
        SCN_TEST(test_children_start_strictly_in_order),
        SCN_TEST(test_start_child_replies_after_init_outside),
        SCN_TEST(test_start_child_replies_after_init_inside),
        SCN_TEST(test_simple_start_child_init_failure),
    };
    return scn_run_bases("supervisor_shutdown", tests, sizeof(tests) / sizeof(tests[0]));
}

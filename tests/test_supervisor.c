/*
 * tests/test_supervisor.c - the OTP supervisor rules, one by one, on every
 * base (tests/support/scenario.h): each strategy with each restart type and
 * exit reason (a table), restart intensity and escalation, a three-level
 * tree, a failed start, and every operation from outside and from inside an
 * actor. Crashes need a process: those rows run on the process base only.
 *
 * Workers report what happens to them (tsup.Report: up from init, down from
 * terminate, with CLOCK_MONOTONIC time so the order of events in different
 * processes can be checked); a host actor reports its supervisor's exit.
 * Nothing sleeps: the test waits for reports, and polls which_children with
 * asks where nothing else would tsup_tell it that a decision was made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/deadline.h"
#include "support/sup_actors.h"

/* ---- strategy x restart type x exit reason ----------------------------- */

enum how { BY_NORMAL, BY_ERROR, BY_CRASH };

typedef struct row {
    ens_sup_strategy strategy;
    ens_restart restart; /* of child b; a and c are permanent */
    enum how how;
} row;

static const char *how_cmd(enum how h)
{
    return h == BY_NORMAL ? "stop_normal" : h == BY_ERROR ? "stop_error" : "crash";
}

static void run_row(scn *t, const row *rw)
{
    if (rw->how == BY_CRASH && t->base != ENS_BASE_PROCESS)
        return; /* crashes need a process */
    scn_start(t, NULL);
    ens_addr me = ens_self(t->out);
    tsup_warg_v w[3];
    ens_child_spec specs[3] = {tsup_wspec("a", &w[0], 1, me, ENS_PERMANENT),
                               tsup_wspec("b", &w[1], 2, me, rw->restart),
                               tsup_wspec("c", &w[2], 3, me, ENS_PERMANENT)};
    ens_sup_flags f = {rw->strategy, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, 3, &sup), 0);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int ups[3][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}};
    tsup_expect_reps(t, ups, 3, r);
    tsup_kid before[4], after[4];
    assert_int_equal(tsup_which(t, sup, before, 4), 3);
    scn_events_clear(t);

    tsup_tell(t, before[1].addr, how_cmd(rw->how));
    const bool abnormal = rw->how != BY_NORMAL;
    const bool restarted =
        rw->restart == ENS_PERMANENT || (rw->restart == ENS_TRANSIENT && abnormal);
    /* A crash restarts a one_for_one child in place (init again, no
     * terminate); elsewhere the child ends and the supervisor starts it
     * again at the same address. */
    const bool in_place = rw->how == BY_CRASH && restarted && rw->strategy == ENS_ONE_FOR_ONE;
    const bool own_down = rw->how != BY_CRASH;
    size_t n_after;
    if (!restarted) {
        if (own_down) {
            const int down[1][2] = {{TAG_DOWN, 2}};
            tsup_expect_reps(t, down, 1, r);
        }
        n_after = tsup_wait_not_running(t, sup, "b", after, 4);
        if (rw->restart == ENS_TEMPORARY) {
            assert_int_equal(n_after, 2); /* forgotten */
            assert_null(tsup_kid_by_id(after, n_after, "b"));
        } else {
            assert_int_equal(n_after, 3);
            assert_int_equal(after[1].status, ENS_SUP_CHILD_STOPPED);
            assert_true(ens_addr_is_none(after[1].addr));
        }
        assert_addr_eq(tsup_kid_by_id(after, n_after, "a")->addr, before[0].addr);
        assert_addr_eq(tsup_kid_by_id(after, n_after, "c")->addr, before[2].addr);
        assert_int_equal(scn_events_count(t, ENS_EV_RESTART, ENS_ADDR_NONE), 0);
        return;
    }
    int want[8][2];
    size_t nw = 0;
    if (own_down)
        want[nw][0] = TAG_DOWN, want[nw++][1] = 2;
    if (rw->strategy != ENS_ONE_FOR_ONE)
        want[nw][0] = TAG_DOWN, want[nw++][1] = 3, want[nw][0] = TAG_UP, want[nw++][1] = 3;
    if (rw->strategy == ENS_ONE_FOR_ALL)
        want[nw][0] = TAG_DOWN, want[nw++][1] = 1, want[nw][0] = TAG_UP, want[nw++][1] = 1;
    want[nw][0] = TAG_UP, want[nw++][1] = 2;
    tsup_expect_reps(t, (const int(*)[2])want, nw, r);
    if (rw->strategy != ENS_ONE_FOR_ONE) {
        /* Others stopped in reverse start order, all before any start. */
        int last_down = tsup_pos_of(r, nw, TAG_DOWN, 3);
        if (rw->strategy == ENS_ONE_FOR_ALL) {
            assert_true(tsup_pos_of(r, nw, TAG_DOWN, 3) < tsup_pos_of(r, nw, TAG_DOWN, 1));
            last_down = tsup_pos_of(r, nw, TAG_DOWN, 1);
            assert_true(last_down < tsup_pos_of(r, nw, TAG_UP, 1));
        }
        assert_true(last_down < tsup_pos_of(r, nw, TAG_UP, 2));
        assert_true(last_down < tsup_pos_of(r, nw, TAG_UP, 3));
        /* inits run in start order, one after another */
        assert_true(tsup_pos_of(r, nw, TAG_UP, 2) < tsup_pos_of(r, nw, TAG_UP, 3));
    }
    /* The supervisor counts the restart when the notice reaches it; that
     * notice and the worker's report travel on different connections (the
     * admin's to the supervisor may still be being handed over), so the
     * count is awaited, not assumed, once the worker is up. */
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while ((n_after = tsup_which(t, sup, after, 4)) == 3 && after[1].restarts == 0 &&
           !test_deadline_passed(d))
        test_nap_ms(10);
    assert_int_equal(n_after, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(after[i].id, before[i].id); /* start order kept */
        assert_int_equal(after[i].status, ENS_SUP_CHILD_RUNNING);
    }
    /* Every child keeps its address, whoever restarted it. */
    bool anew[3] = {rw->strategy == ENS_ONE_FOR_ALL, !in_place, rw->strategy != ENS_ONE_FOR_ONE};
    for (size_t i = 0; i < 3; i++)
        assert_addr_eq(after[i].addr, before[i].addr);
    assert_int_equal(after[1].restarts, 1);
    if (scn_events_local(t)) /* journaled supervisor restarts: one per child started again */
        assert_int_equal(scn_events_count(t, ENS_EV_RESTART, ENS_ADDR_NONE),
                         (size_t)(anew[0] + anew[1] + anew[2]));
}

static const row rows[] = {
    {ENS_ONE_FOR_ONE, ENS_PERMANENT, BY_NORMAL}, {ENS_ONE_FOR_ONE, ENS_PERMANENT, BY_ERROR},
    {ENS_ONE_FOR_ONE, ENS_TRANSIENT, BY_NORMAL}, {ENS_ONE_FOR_ONE, ENS_TRANSIENT, BY_ERROR},
    {ENS_ONE_FOR_ONE, ENS_TEMPORARY, BY_NORMAL}, {ENS_ONE_FOR_ONE, ENS_TEMPORARY, BY_ERROR},
    {ENS_ONE_FOR_ALL, ENS_PERMANENT, BY_NORMAL}, {ENS_ONE_FOR_ALL, ENS_PERMANENT, BY_ERROR},
    {ENS_ONE_FOR_ALL, ENS_TRANSIENT, BY_NORMAL}, {ENS_ONE_FOR_ALL, ENS_TRANSIENT, BY_ERROR},
    {ENS_ONE_FOR_ALL, ENS_TEMPORARY, BY_ERROR},  {ENS_REST_FOR_ONE, ENS_PERMANENT, BY_NORMAL},
    {ENS_REST_FOR_ONE, ENS_PERMANENT, BY_ERROR}, {ENS_REST_FOR_ONE, ENS_TRANSIENT, BY_NORMAL},
    {ENS_REST_FOR_ONE, ENS_TRANSIENT, BY_ERROR}, {ENS_REST_FOR_ONE, ENS_TEMPORARY, BY_ERROR},
    {ENS_ONE_FOR_ONE, ENS_PERMANENT, BY_CRASH},  {ENS_ONE_FOR_ONE, ENS_TRANSIENT, BY_CRASH},
    {ENS_ONE_FOR_ONE, ENS_TEMPORARY, BY_CRASH},  {ENS_ONE_FOR_ALL, ENS_PERMANENT, BY_CRASH},
    {ENS_ONE_FOR_ALL, ENS_TEMPORARY, BY_CRASH},  {ENS_REST_FOR_ONE, ENS_TRANSIENT, BY_CRASH},
};

static void test_strategy_restart_table(void **state)
{
    scn *t = *state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %zu: %s, restart %d, %s\n", i, ens_sup_strategy_name(rows[i].strategy),
                      rows[i].restart, how_cmd(rows[i].how));
        run_row(t, &rows[i]);
        if (t->sys != NULL)
            scn_shutdown(t, 5000);
    }
}

/* ---- restart intensity and escalation ---------------------------------- */

/* b fails `limit` times and is restarted; the next failure is one too many:
 * the supervisor stops a (the only other child), escalates and exits with
 * ENS_EXIT_INTENSITY, tsup_which its parent (the host) sees. */
static void run_intensity(scn *t, uint32_t limit)
{
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, limit, 0, ENS_PERMANENT, 0, 0, ENS_ADDR_NONE};
    ens_addr sup = tsup_start_host(t, a, &host);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int ups[3][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}};
    tsup_expect_reps(t, ups, 3, r);
    tsup_kid k[4];
    for (uint32_t i = 0; i < limit; i++) {
        assert_int_equal(tsup_which(t, sup, k, 4), 3);
        tsup_tell(t, k[1].addr, "stop_error");
        const int again[2][2] = {{TAG_DOWN, 2}, {TAG_UP, 2}};
        tsup_expect_reps(t, again, 2, r);
    }
    assert_int_equal(tsup_which(t, sup, k, 4), 3);
    assert_int_equal(k[1].restarts, limit);
    tsup_tell(t, k[1].addr, "stop_error");
    const int end[4][2] = {{TAG_DOWN, 2}, {TAG_DOWN, 3}, {TAG_DOWN, 1}, {TAG_EXITED, 0}};
    tsup_rep_v got[4];
    size_t n = 0;
    while (n < 4) { /* TAG_EXITED carries the status in num: match by tag */
        tsup_rep_v x = tsup_listen_rep(t);
        if (x.tag == TAG_EXITED) {
            assert_true(tsup_is_intensity_exit(&x));
            assert_addr_eq(x.who, sup);
            x.num = 0;
        }
        size_t i = 0;
        while (i < 4 && !(end[i][0] == x.tag && end[i][1] == x.num))
            i++;
        if (i == 4)
            fail_msg("unexpected report tag %d num %d", x.tag, x.num);
        got[n++] = x;
    }
    /* Children stopped in reverse start order (b had ended), then the exit. */
    for (size_t i = 1; i < 4; i++)
        for (size_t j = i; j > 0 && got[j].at < got[j - 1].at; j--) {
            tsup_rep_v x = got[j];
            got[j] = got[j - 1];
            got[j - 1] = x;
        }
    assert_true(tsup_pos_of(got, 4, TAG_DOWN, 3) < tsup_pos_of(got, 4, TAG_DOWN, 1));
    assert_true(tsup_pos_of(got, 4, TAG_DOWN, 1) < tsup_pos_of(got, 4, TAG_EXITED, 0));
    if (scn_events_local(t)) {
        assert_int_equal(scn_events_count(t, ENS_EV_ESCALATE, sup), 1);
        assert_int_equal(scn_events_count(t, ENS_EV_RESTART, ENS_ADDR_NONE), limit);
    }
}

static void test_intensity_reached_escalates(void **state)
{
    run_intensity(*state, 2);
}

static void test_intensity_zero_never_restarts(void **state)
{
    run_intensity(*state, 0);
}

/* Process base: crashes absorbed by the runtime (same address) count too. */
static void test_intensity_counts_restarts_in_place(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip();
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, 1, 0, ENS_PERMANENT, 0, 0, ENS_ADDR_NONE};
    ens_addr sup = tsup_start_host(t, a, &host);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int ups[3][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}};
    tsup_expect_reps(t, ups, 3, r);
    tsup_kid k[4];
    assert_int_equal(tsup_which(t, sup, k, 4), 3);
    tsup_tell(t, k[1].addr, "crash");
    const int up2[1][2] = {{TAG_UP, 2}};
    tsup_expect_reps(t, up2, 1, r);
    assert_addr_eq(r[0].who, k[1].addr); /* restarted in place */
    tsup_tell(t, k[1].addr, "crash");
    /* b is restarted in place once more (its init reports), then the
     * supervisor gives up: c and a are stopped, the host sees the exit. */
    const int end[4][2] = {{TAG_UP, 2}, {TAG_DOWN, 3}, {TAG_DOWN, 1}, {TAG_EXITED, 0}};
    size_t n = 0;
    bool seen[4] = {false};
    while (n < 4) {
        tsup_rep_v x = tsup_listen_rep(t);
        if (x.tag == TAG_EXITED) {
            assert_true(tsup_is_intensity_exit(&x));
            x.num = 0;
        }
        if (x.tag == TAG_DOWN && x.num == 2)
            continue; /* b may or may not get its exit request in time */
        size_t i = 0;
        while (i < 4 && (seen[i] || !(end[i][0] == x.tag && end[i][1] == x.num)))
            i++;
        if (i == 4)
            fail_msg("unexpected report tag %d num %d", x.tag, x.num);
        seen[i] = true;
        n++;
    }
}

static void test_nested_permanent_escalates_to_top(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, 0, 3, ENS_PERMANENT, 0, 0, ENS_ADDR_NONE};
    ens_addr top = tsup_start_host(t, a, &host);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int up[1][2] = {{TAG_UP, 1}};
    tsup_expect_reps(t, up, 1, r);
    ens_addr mid = tsup_child_of(t, top, "mid");
    ens_addr leaf = tsup_child_of(t, mid, "leaf");
    tsup_kid k[2];
    assert_int_equal(tsup_which(t, top, k, 2), 1);
    assert_int_equal(k[0].is_sup, 1);
    assert_string_equal(k[0].type, "tsup.Nested");
    /* First failure: leaf gives up, mid restarts it (its one restart). */
    tsup_tell(t, tsup_child_of(t, leaf, "worker"), "stop_error");
    const int again[2][2] = {{TAG_DOWN, 1}, {TAG_UP, 1}};
    tsup_expect_reps(t, again, 2, r);
    ens_addr leaf2 = tsup_child_of(t, mid, "leaf");
    assert_addr_eq(leaf2, leaf); /* restarted at its address */
    assert_addr_eq(tsup_child_of(t, top, "mid"), mid);
    /* Second: leaf gives up, mid is over its intensity and gives up, top
     * (intensity 0) gives up: the host sees top exit with INTENSITY. */
    tsup_tell(t, tsup_child_of(t, leaf2, "worker"), "stop_error");
    const int down[1][2] = {{TAG_DOWN, 1}};
    tsup_expect_reps(t, down, 1, r);
    tsup_rep_v x = tsup_listen_rep(t);
    assert_int_equal(x.tag, TAG_EXITED);
    assert_true(tsup_is_intensity_exit(&x));
    assert_addr_eq(x.who, top);
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_ESCALATE, ENS_ADDR_NONE), 4);
}

static void test_nested_transient_not_restarted_after_escalation(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, 0, 3, ENS_TRANSIENT, 0, 0, ENS_ADDR_NONE};
    ens_addr top = tsup_start_host(t, a, &host);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int up[1][2] = {{TAG_UP, 1}};
    tsup_expect_reps(t, up, 1, r);
    ens_addr mid = tsup_child_of(t, top, "mid");
    ens_addr leaf = tsup_child_of(t, mid, "leaf");
    tsup_tell(t, tsup_child_of(t, leaf, "worker"), "stop_error");
    const int down[1][2] = {{TAG_DOWN, 1}};
    tsup_expect_reps(t, down, 1, r);
    tsup_kid k[2];
    assert_int_equal(tsup_wait_not_running(t, mid, "leaf", k, 2), 1);
    assert_int_equal(k[0].status, ENS_SUP_CHILD_STOPPED); /* INTENSITY = shutdown */
    assert_int_equal(k[0].restarts, 0);
    assert_addr_eq(tsup_child_of(t, top, "mid"), mid);
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_ESCALATE, ENS_ADDR_NONE), 1);
}

/* ---- start ------------------------------------------------------------- */

/* Children start one after another: a started, b's init failed, so c was
 * never spawned; a is stopped, then the supervisor's start fails as an
 * init does: its parent hears child exited INIT_FAILED with ENS_EINIT. */
static void test_start_failure_stops_started_children(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr host;
    tsup_sarg_v a = {ENS_ONE_FOR_ONE, 5, 0, ENS_PERMANENT, 2, 0, ENS_ADDR_NONE};
    ens_addr sup = tsup_start_host(t, a, &host);
    const int want[3][2] = {{TAG_UP, 1}, {TAG_DOWN, 1}, {TAG_EXITED, ENS_EINIT}};
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, want, 3, r);
    assert_true(tsup_pos_of(r, 3, TAG_DOWN, 1) < tsup_pos_of(r, 3, TAG_EXITED, ENS_EINIT));
    const tsup_rep_v *e = &r[tsup_pos_of(r, 3, TAG_EXITED, ENS_EINIT)];
    assert_int_equal(e->n, ENS_EXIT_INIT_FAILED);
    assert_addr_eq(e->who, sup);
}

static void test_bad_specs_rejected(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr me = ens_self(t->out), sup;
    tsup_warg_v w[2];
    ens_child_spec s[2] = {tsup_wspec("x", &w[0], 1, me, ENS_PERMANENT),
                           tsup_wspec("x", &w[1], 2, me, ENS_PERMANENT)};
    ens_sup_flags f = ENS_SUP_FLAGS_INIT;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), ENS_EINVAL); /* same id */
    s[1].id = NULL;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), ENS_EINVAL);
    s[1].id = "y";
    s[1].def = NULL;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), ENS_EINVAL);
    s[1].def = &tsup_worker_def;
    f.strategy = ENS_SIMPLE_ONE_FOR_ONE;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), ENS_EINVAL);
    f.strategy = ENS_ONE_FOR_ONE;
    f.period_ms = 0;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), ENS_EINVAL);
    f.period_ms = 1000;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 0, &sup), ENS_EINVAL);
    /* Valid: children started in order, listed in order. */
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), 0);
    tsup_rep_v r[2];
    const int ups[2][2] = {{TAG_UP, 1}, {TAG_UP, 2}};
    tsup_expect_reps(t, ups, 2, r);
    assert_int_equal(r[0].num, 1); /* started in order */
    tsup_kid k[2];
    assert_int_equal(tsup_which(t, sup, k, 2), 2);
    assert_string_equal(k[0].id, "x");
    assert_string_equal(k[1].id, "y");
}

static void run_static_ops(scn *t, bool inside)
{
    tsup_stash_clear();
    scn_start(t, NULL);
    ens_addr cl = inside ? tsup_spawn_client(t) : ENS_ADDR_NONE, sup, none = ENS_ADDR_NONE;
    tsup_warg_v w;
    ens_child_spec a = tsup_wspec("a", &w, 1, ens_self(t->out), ENS_PERMANENT);
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 3, 60000, ENS_SUP_START_ORDERED};
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &a, 1, &sup), 0);
    tsup_expect_one(t, TAG_UP, 1);

    tsup_opres o = tsup_op(t, cl, OP_START, sup, "b", none, 2);
    assert_int_equal(o.status, 0);
    assert_false(ens_addr_is_none(o.addr));
    tsup_expect_one(t, TAG_UP, 2);
    assert_int_equal(tsup_op(t, cl, OP_START, sup, "b", none, 2).status, ENS_EEXIST);
    o = tsup_op(t, cl, OP_COUNT, sup, NULL, none, 0);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.specs, 2);
    assert_int_equal(o.active, 2);

    tsup_kid k[3];
    assert_int_equal(tsup_which(t, sup, k, 3), 2);
    assert_string_equal(k[0].id, "a");
    assert_string_equal(k[1].id, "b");
    assert_string_equal(k[0].type, "tsup.Worker");
    assert_int_equal(k[1].status, ENS_SUP_CHILD_RUNNING);
    assert_int_equal(k[1].is_sup, 0);
    ens_addr a_addr = k[0].addr;

    /* terminate: permanent a stops and stays stopped, spec kept */
    o = tsup_op(t, cl, OP_TERMINATE, sup, "a", none, 0);
    assert_int_equal(o.status, 0);
    if (inside) /* the reply carries the address it had */
        assert_addr_eq(o.addr, a_addr);
    tsup_expect_one(t, TAG_DOWN, 1);
    assert_int_equal(tsup_which(t, sup, k, 3), 2);
    assert_int_equal(k[0].status, ENS_SUP_CHILD_STOPPED);
    assert_true(ens_addr_is_none(k[0].addr));
    assert_int_equal(k[0].restarts, 0);
    assert_int_equal(tsup_op(t, cl, OP_COUNT, sup, NULL, none, 0).active, 1);

    /* restart: a stopped child comes back at a new address */
    o = tsup_op(t, cl, OP_RESTART, sup, "a", none, 0);
    assert_int_equal(o.status, 0);
    assert_false(ens_addr_is_none(o.addr));
    assert_false(ens_addr_equal(o.addr, a_addr));
    tsup_expect_one(t, TAG_UP, 1);
    assert_int_equal(tsup_op(t, cl, OP_RESTART, sup, "a", none, 0).status, ENS_EEXIST);

    /* delete: only a stopped child */
    assert_int_equal(tsup_op(t, cl, OP_DELETE, sup, "a", none, 0).status, ENS_EEXIST);
    assert_int_equal(tsup_op(t, cl, OP_TERMINATE, sup, "a", none, 0).status, 0);
    tsup_expect_one(t, TAG_DOWN, 1);
    assert_int_equal(tsup_op(t, cl, OP_DELETE, sup, "a", none, 0).status, 0);
    assert_int_equal(tsup_which(t, sup, k, 3), 1);
    assert_string_equal(k[0].id, "b");

    assert_int_equal(tsup_op(t, cl, OP_DELETE, sup, "zz", none, 0).status, ENS_ENOENT);
    assert_int_equal(tsup_op(t, cl, OP_TERMINATE, sup, "zz", none, 0).status, ENS_ENOENT);
    assert_int_equal(tsup_op(t, cl, OP_RESTART, sup, "zz", none, 0).status, ENS_ENOENT);
}

static void test_ops_static_outside(void **state)
{
    run_static_ops(*state, false);
}

static void test_ops_static_inside(void **state)
{
    run_static_ops(*state, true);
}

static void run_simple(scn *t, bool inside)
{
    tsup_stash_clear();
    scn_start(t, NULL);
    ens_addr cl = inside ? tsup_spawn_client(t) : ENS_ADDR_NONE, sup, none = ENS_ADDR_NONE;
    tsup_warg_v w;
    ens_child_spec tmpl = tsup_wspec("w", &w, 0, ens_self(t->out), ENS_TRANSIENT);
    ens_sup_flags f = {ENS_SIMPLE_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &tmpl, 1, &sup), 0);
    assert_int_equal(tsup_op(t, cl, OP_COUNT, sup, NULL, none, 0).specs, 0); /* none at start */

    tsup_opres o5 = tsup_op(t, cl, OP_START_SIMPLE, sup, NULL, none, 5);
    assert_int_equal(o5.status, 0);
    tsup_expect_one(t, TAG_UP, 5);
    tsup_opres o6 = tsup_op(t, cl, OP_START_SIMPLE, sup, NULL, none, 6);
    assert_int_equal(o6.status, 0);
    tsup_expect_one(t, TAG_UP, 6);
    tsup_opres n = tsup_op(t, cl, OP_COUNT, sup, NULL, none, 0);
    assert_int_equal(n.specs, 2);
    assert_int_equal(n.active, 2);
    assert_int_equal(tsup_op(t, cl, OP_RESTART, sup, "w", none, 0).status, ENS_EINVAL);
    assert_int_equal(tsup_op(t, cl, OP_DELETE, sup, "w", none, 0).status, ENS_EINVAL);

    /* terminate by address: that child only, forgotten */
    tsup_opres tm = tsup_op(t, cl, OP_TERMINATE, sup, NULL, o5.addr, 0);
    assert_int_equal(tm.status, 0);
    tsup_expect_one(t, TAG_DOWN, 5);
    assert_int_equal(tsup_op(t, cl, OP_COUNT, sup, NULL, none, 0).specs, 1);
    assert_int_equal(tsup_op(t, cl, OP_TERMINATE, sup, NULL, o5.addr, 0).status, ENS_ENOENT);

    /* transient instance: restarted after an error, forgotten after normal */
    tsup_tell(t, o6.addr, "stop_error");
    tsup_rep_v r[2];
    const int again[2][2] = {{TAG_DOWN, 6}, {TAG_UP, 6}};
    tsup_expect_reps(t, again, 2, r);
    tsup_kid k[2];
    assert_int_equal(tsup_which(t, sup, k, 2), 1);
    assert_int_equal(k[0].restarts, 1);
    assert_addr_eq(k[0].addr, o6.addr); /* restarted at its address */
    tsup_tell(t, k[0].addr, "stop_normal");
    const int down[1][2] = {{TAG_DOWN, 6}};
    tsup_expect_reps(t, down, 1, r);
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (tsup_op(t, ENS_ADDR_NONE, OP_COUNT, sup, NULL, none, 0).specs != 0 && scn_now_ns() < end)
        ;
    assert_int_equal(tsup_op(t, ENS_ADDR_NONE, OP_COUNT, sup, NULL, none, 0).specs, 0);
}

static void test_simple_one_for_one_outside(void **state)
{
    run_simple(*state, false);
}

static void test_simple_one_for_one_inside(void **state)
{
    run_simple(*state, true);
}

/* ---- main --------------------------------------------------------------- */

int main(void)
{
    if (tsup_types_register() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_strategy_restart_table),
        SCN_TEST(test_intensity_reached_escalates),
        SCN_TEST(test_intensity_zero_never_restarts),
        SCN_TEST(test_intensity_counts_restarts_in_place),
        SCN_TEST(test_nested_permanent_escalates_to_top),
        SCN_TEST(test_nested_transient_not_restarted_after_escalation),
        SCN_TEST(test_start_failure_stops_started_children),
        SCN_TEST(test_bad_specs_rejected),
        SCN_TEST(test_ops_static_outside),
        SCN_TEST(test_ops_static_inside),
        SCN_TEST(test_simple_one_for_one_outside),
        SCN_TEST(test_simple_one_for_one_inside),
    };
    return scn_run_bases("supervisor", tests, sizeof(tests) / sizeof(tests[0]));
}

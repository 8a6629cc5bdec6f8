/*
 * tests/test_supervisor_names.c - named children and the restart intensity
 * window, on every base (tests/support/scenario.h).
 *
 * A child spec with a global name is started through create-or-get; a
 * restarted child keeps its address, and the name stays with it
 * throughout: a lookup made at any moment of a restart finds the address
 * it always had, and messages sent by name meanwhile wait for the new
 * incarnation. The intensity test lets real time pass between restarts (the rule
 * under test is about time): restarts spaced more than period_ms apart never
 * reach the limit, intensity + 1 within period_ms make the supervisor give
 * up. Everything else waits for messages, never for time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/sup_actors.h"

#define NAME_B "tsup.named/b"

/* ---- a named child is found under its name after every restart ---------- */

typedef struct nrow {
    ens_sup_strategy strategy;
    bool crash; /* a real SIGSEGV (process base) instead of ens_stop with an error */
} nrow;

static void run_named_row(scn *t, const nrow *rw)
{
    if (rw->crash && t->base != ENS_BASE_PROCESS)
        return;
    scn_start(t, NULL);
    ens_addr me = ens_self(t->out);
    tsup_warg_v w[3];
    ens_child_spec specs[3] = {tsup_wspec("a", &w[0], 1, me, ENS_PERMANENT),
                               tsup_wspec("b", &w[1], 2, me, ENS_PERMANENT),
                               tsup_wspec("c", &w[2], 3, me, ENS_PERMANENT)};
    specs[1].name = NAME_B;
    ens_sup_flags f = {rw->strategy, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, 3, &sup), 0);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int ups[3][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}};
    tsup_expect_reps(t, ups, 3, r);
    tsup_kid k[4];
    assert_int_equal(tsup_which(t, sup, k, 4), 3);
    const ens_addr old = k[1].addr;
    ens_addr got = ENS_ADDR_NONE;
    assert_int_equal(ens_name_lookup(t->out, NAME_B, &got), 0);
    assert_addr_eq(got, old);
    assert_int_equal(ens_name_lookup(t->out, "tsup.named/none", &got), ENS_ENOENT);

    tsup_tell(t, old, rw->crash ? "crash" : "stop_error");
    /* The runtime restarts a crashed one_for_one child in place; otherwise
     * the supervisor starts it again at the address kept for it. Either
     * way the name never leaves that address. */
    const int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000 * 2;
    ens_addr now_b = ENS_ADDR_NONE;
    for (;;) { /* round trips only: which_children, then a lookup */
        assert_int_equal(tsup_which(t, sup, k, 4), 3);
        const tsup_kid *b = tsup_kid_by_id(k, 3, "b");
        const bool restarted = b->status == ENS_SUP_CHILD_RUNNING && b->restarts == 1;
        assert_int_equal(ens_name_lookup(t->out, NAME_B, &got), 0);
        assert_addr_eq(got, old);
        if (restarted) {
            now_b = b->addr;
            break;
        }
        assert_true(scn_now_ns() < end);
    }
    /* The reports of the restart: b (and the group) down and up again. */
    int want[8][2];
    size_t nw = 0;
    if (!rw->crash)
        want[nw][0] = TAG_DOWN, want[nw++][1] = 2;
    if (rw->strategy != ENS_ONE_FOR_ONE)
        want[nw][0] = TAG_DOWN, want[nw++][1] = 3, want[nw][0] = TAG_UP, want[nw++][1] = 3;
    if (rw->strategy == ENS_ONE_FOR_ALL)
        want[nw][0] = TAG_DOWN, want[nw++][1] = 1, want[nw][0] = TAG_UP, want[nw++][1] = 1;
    want[nw][0] = TAG_UP, want[nw++][1] = 2;
    tsup_expect_reps(t, (const int(*)[2])want, nw, r);
    assert_addr_eq(r[tsup_pos_of(r, nw, TAG_UP, 2)].who, now_b);

    assert_int_equal(tsup_which(t, sup, k, 4), 3);
    assert_addr_eq(k[1].addr, now_b);
    assert_int_equal(k[1].restarts, 1);
    assert_string_equal(k[1].name, NAME_B); /* which_children shows the names */
    assert_string_equal(k[0].name, "");
    assert_int_equal(ens_name_lookup(t->out, NAME_B, &got), 0);
    assert_addr_eq(got, now_b);
    assert_addr_eq(now_b, old);
    /* Sending by name reaches the new incarnation: it stops in order this
     * time, and is started again under the name once more (which_children
     * says when; other reports are left unread). */
    ens_string_v cmd = {(char *)"stop_error"};
    assert_int_equal(ens_name_send(t->out, NAME_B, &ens_msg_string, &cmd), 0);
    for (;;) {
        assert_int_equal(tsup_which(t, sup, k, 4), 3);
        if (k[1].status == ENS_SUP_CHILD_RUNNING && k[1].restarts == 2)
            break;
        assert_true(scn_now_ns() < end);
    }
    assert_addr_eq(k[1].addr, old);
    assert_int_equal(ens_name_lookup(t->out, NAME_B, &got), 0);
    assert_addr_eq(got, old);
}

static void test_named_child_keeps_name_across_restarts(void **state)
{
    scn *t = *state;
    static const nrow rows[] = {
        {ENS_ONE_FOR_ONE, false}, {ENS_ONE_FOR_ALL, false}, {ENS_REST_FOR_ONE, false},
        {ENS_ONE_FOR_ONE, true},  {ENS_ONE_FOR_ALL, true},  {ENS_REST_FOR_ONE, true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %zu: %s, %s\n", i, ens_sup_strategy_name(rows[i].strategy),
                      rows[i].crash ? "crash" : "stop_error");
        run_named_row(t, &rows[i]);
        if (t->sys != NULL)
            scn_shutdown(t, 5000);
    }
}

/* A name held by another live actor: the child cannot start (ENS_EEXIST),
 * the supervisor and its other children go on. Invalid and duplicate names
 * and a named simple_one_for_one template are rejected up front. */
static void test_named_child_name_taken(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr me = ens_self(t->out);
    tsup_warg_v w[3];
    ens_child_spec s[2] = {tsup_wspec("a", &w[0], 1, me, ENS_PERMANENT),
                           tsup_wspec("b", &w[1], 2, me, ENS_PERMANENT)};
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 1, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup, other;
    s[0].name = "bad name";
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), ENS_EINVAL);
    s[0].name = "same";
    s[1].name = "same";
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), ENS_EINVAL);
    f.strategy = ENS_SIMPLE_ONE_FOR_ONE;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 1, &sup), ENS_EINVAL);
    f.strategy = ENS_ONE_FOR_ONE;

    tsup_warg_v ow = {9, 0, 0, 0, me};
    assert_int_equal(ens_name_spawn(t->out, "taken", &tsup_worker_def, &tsup_warg_t, &ow, &other),
                     0);
    tsup_expect_one(t, TAG_UP, 9);
    s[0].name = NULL;
    s[1].name = NULL;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 1, &sup), 0);
    tsup_expect_one(t, TAG_UP, 1);
    s[1].name = "taken";
    ens_addr b = ENS_ADDR_NONE;
    assert_int_equal(ens_supervisor_start_child_wait(t->out, sup, &s[1], NULL, NULL, &b),
                     ENS_EEXIST);
    tsup_kid k[4];
    assert_int_equal(tsup_which(t, sup, k, 4), 1); /* dropped, as any failed start_child */
    ens_addr got;
    assert_int_equal(ens_name_lookup(t->out, "taken", &got), 0);
    assert_addr_eq(got, other);
    /* A free name works the same way through start_child. */
    s[1].name = "free";
    assert_int_equal(ens_supervisor_start_child_wait(t->out, sup, &s[1], NULL, NULL, &b), 0);
    tsup_expect_one(t, TAG_UP, 2);
    assert_int_equal(ens_name_lookup(t->out, "free", &got), 0);
    assert_addr_eq(got, b);
}

/* ---- the intensity window ----------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

#define WINDOW_MS 1000u

/* b ends, then its restart is awaited (its init reports); returns the
 * address of the new b. */
static ens_addr fail_and_restart(scn *t, ens_addr b)
{
    tsup_tell(t, b, "stop_error");
    tsup_rep_v r[TSUP_MAX_REPS];
    const int again[2][2] = {{TAG_DOWN, 2}, {TAG_UP, 2}};
    tsup_expect_reps(t, again, 2, r);
    return r[tsup_pos_of(r, 2, TAG_UP, 2)].who;
}

/* intensity 1, period 1 s. Three failures of b, each more than a period
 * after the restart before it: each is restarted (the earlier restarts fell
 * out of the window). Then two failures back to back: the second is one
 * restart too many within the period, so the supervisor stops a and exits. */
static void test_intensity_window(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr me = ens_self(t->out);
    tsup_warg_v w[2];
    ens_child_spec s[2] = {tsup_wspec("a", &w[0], 1, me, ENS_PERMANENT),
                           tsup_wspec("b", &w[1], 2, me, ENS_PERMANENT)};
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 1, WINDOW_MS, ENS_SUP_START_ORDERED};
    ens_addr sup;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, s, 2, &sup), 0);
    tsup_rep_v r[TSUP_MAX_REPS];
    const int ups[2][2] = {{TAG_UP, 1}, {TAG_UP, 2}};
    tsup_expect_reps(t, ups, 2, r);
    tsup_kid k[3];
    assert_int_equal(tsup_which(t, sup, k, 3), 2);
    ens_addr b = k[1].addr;
    for (uint32_t i = 1; i <= 3; i++) {
        b = fail_and_restart(t, b);
        assert_int_equal(tsup_which(t, sup, k, 3), 2); /* still there */
        assert_int_equal(k[1].restarts, i);
        assert_addr_eq(k[1].addr, b);
        sleep_ms(WINDOW_MS + 100); /* the rule is about time: let it pass */
    }
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_ESCALATE, sup), 0);
    /* Within one period: the first is restarted, the second gives up. */
    b = fail_and_restart(t, b);
    tsup_tell(t, b, "stop_error");
    const int end[2][2] = {{TAG_DOWN, 2}, {TAG_DOWN, 1}};
    tsup_expect_reps(t, end, 2, r);
    /* The supervisor is gone: a request to it is a dead letter. */
    int64_t until = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    int rc;
    do {
        ens_msg *m = NULL;
        rc = ens_supervisor_which_children_wait(t->out, sup, &m);
        ens_msg_free(m);
        assert_true(scn_now_ns() < until);
    } while (rc == 0);
    assert_int_equal(rc, ENS_ENOACTOR);
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_ESCALATE, sup), 1);
}

int main(void)
{
    if (tsup_types_register() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_named_child_keeps_name_across_restarts),
        SCN_TEST(test_named_child_name_taken),
        SCN_TEST(test_intensity_window),
    };
    return scn_run_bases("supervisor_names", tests, sizeof(tests) / sizeof(tests[0]));
}

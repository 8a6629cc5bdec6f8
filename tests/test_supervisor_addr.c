/*
 * tests/test_supervisor_addr.c - a child restarted by its supervisor keeps
 * its address, on every base (tests/support/scenario.h).
 *
 * The test is a sender that keeps the address it learned first: it streams
 * numbered messages to a child and, in the middle of the stream, makes it
 * end (ens_stop with an error; a real crash on the process base). Every
 * number must reach the child exactly once, in order: the incarnation that
 * ended got a prefix of the stream, the next one (at the same address) the
 * rest, none lost while the supervisor decided. which_children shows the
 * same address before and after, for every strategy, for a nested tree and
 * for a named child. An address the supervisor gives up (a temporary child
 * that ended, terminate_child, a supervisor that gave up) gives dead letters:
 * an ask there is answered ENS_ENOACTOR.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/sup_actors.h"

#define N_SEQ   300 /* numbers streamed */
#define AT_STOP 100 /* the number whose handler ends the child */
#define TAG_SEQ 100 /* a seq worker's report: num its number, n the number received */

enum { CMD_COUNT = 0, CMD_STOP_ERROR, CMD_CRASH };

typedef struct taddr_num_v {
    int32_t n;
    int32_t cmd;
} taddr_num_v;

static ens_msgtype taddr_num_t = {"taddr.Num", "S(ii)", sizeof(taddr_num_v), 0, 0, NULL};

/* ---- a worker that reports every number it receives --------------------- */

typedef struct seq_st {
    int32_t num;
    int64_t born; /* when this incarnation's init ran: tells incarnations apart */
    ens_addr to;
} seq_st;

static int seq_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    seq_st *s = state;
    const tsup_warg_v *a = arg != NULL ? ens_msg_value(arg, &tsup_warg_t) : NULL;
    if (a == NULL)
        return ENS_EINVAL;
    s->num = a->num;
    s->to = a->to;
    s->born = scn_now_ns();
    tsup_rep_v r = {TAG_UP, s->num, 0, 0, scn_now_ns(), s->born, ens_self(c)};
    return ens_send(c, s->to, &tsup_rep_t, &r);
}

static int seq_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    seq_st *s = state;
    const taddr_num_v *v = ens_msg_value(m, &taddr_num_t);
    if (v == NULL)
        return 0;
    if (v->cmd == CMD_CRASH && ens_msg_attempt(m) == 1)
        raise(SIGSEGV); /* before it is counted: the next incarnation gets it again */
    tsup_rep_v r = {TAG_SEQ, s->num, v->n, 0, scn_now_ns(), s->born, ens_self(c)};
    int rc = ens_send(c, s->to, &tsup_rep_t, &r);
    if (v->cmd == CMD_STOP_ERROR)
        return ens_stop(c, ENS_EXIT_ERROR, 7);
    return rc;
}

static const ens_actor_def seq_def = {"taddr.Seq", sizeof(seq_st), seq_init, seq_receive, NULL,
                                      NULL,        NULL,           NULL,     NULL};

/* An inner supervisor of one seq worker (number 1), for the nested tree:
 * intensity 1 per minute, so a second failure makes it give up. */
static int inner_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                           ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)max;
    const tsup_warg_v *a = arg != NULL ? ens_msg_value(arg, &tsup_warg_t) : NULL;
    if (a == NULL)
        return ENS_EINVAL;
    static tsup_warg_v w;
    w = *a;
    flags->strategy = ENS_ONE_FOR_ONE;
    flags->intensity = 1;
    flags->period_ms = 60000;
    specs[0].id = "seq";
    specs[0].def = &seq_def;
    specs[0].arg_type = &tsup_warg_t;
    specs[0].arg = &w;
    *n = 1;
    return 0;
}
ENS_SUPERVISOR_DEF(inner_def, "taddr.Inner", inner_configure);

/* ---- helpers ------------------------------------------------------------ */

static ens_child_spec seq_spec(const char *id, tsup_warg_v *w, int num, ens_addr to)
{
    ens_child_spec s = tsup_wspec(id, w, num, to, ENS_PERMANENT);
    s.def = &seq_def;
    return s;
}

/* Stream 0..N_SEQ-1 to `to` from outside (far below the mailbox limit);
 * AT_STOP carries cmd. */
static void stream(scn *t, ens_addr to, int cmd)
{
    for (int32_t i = 0; i < N_SEQ; i++) {
        taddr_num_v v = {i, i == AT_STOP ? cmd : CMD_COUNT};
        assert_int_equal(ens_send(t->out, to, &taddr_num_t, &v), 0);
    }
}

/* Read reports until every number of worker num has come; check that each
 * came once, from `addr`, and that the incarnations got consecutive runs in
 * order (the first one up to stop_at, the next the rest). Reports of other
 * workers' starts (TAG_UP) are allowed and counted in *ups. */
static void expect_stream(scn *t, int num, ens_addr addr, int stop_at, size_t *ups)
{
    int64_t born_of[N_SEQ];
    bool seen[N_SEQ] = {false};
    size_t got = 0;
    *ups = 0;
    while (got < N_SEQ) {
        ens_msg *m = scn_listen_type(t, &tsup_rep_t, SCN_WAIT_MS);
        tsup_rep_v r = *(const tsup_rep_v *)ens_msg_value(m, &tsup_rep_t);
        ens_msg_free(m);
        if (r.tag == TAG_UP) {
            (*ups)++;
            continue;
        }
        assert_int_equal(r.tag, TAG_SEQ);
        assert_int_equal(r.num, num);
        assert_addr_eq(r.who, addr);
        assert_true(r.n >= 0 && r.n < N_SEQ);
        assert_false(seen[r.n]); /* none twice */
        seen[r.n] = true;
        born_of[r.n] = r.begin;
        got++;
    }
    /* In order: the numbers split into two runs, one per incarnation, the
     * older incarnation's first. */
    for (int i = 1; i < N_SEQ; i++) {
        if (i == stop_at + 1) {
            assert_true(born_of[i] > born_of[i - 1]); /* a new incarnation from here */
        } else {
            assert_true(born_of[i] == born_of[i - 1]);
        }
    }
}

/* Ask at `a` until the answer is ENS_ENOACTOR (a dead letter); an address
 * still kept would make the ask wait instead. */
static void expect_dead_letters(scn *t, ens_addr a)
{
    taddr_num_v v = {-1, CMD_COUNT};
    ens_msg *reply = NULL;
    int rc = ens_ask(t->out, a, &taddr_num_t, &v, SCN_WAIT_MS, &reply);
    ens_msg_free(reply);
    assert_int_equal(rc, ENS_ENOACTOR);
}

/* ---- every strategy: a stream through a restart ------------------------- */

typedef struct srow {
    ens_sup_strategy strategy;
    bool crash; /* a real SIGSEGV (process base) instead of ens_stop with an error */
} srow;

static void run_stream_row(scn *t, const srow *rw)
{
    if (rw->crash && t->base != ENS_BASE_PROCESS)
        return;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out);
    const bool simple = rw->strategy == ENS_SIMPLE_ONE_FOR_ONE;
    tsup_warg_v w[3];
    ens_child_spec specs[3] = {seq_spec("a", &w[0], 1, me), seq_spec("b", &w[1], 2, me),
                               seq_spec("c", &w[2], 3, me)};
    ens_sup_flags f = {rw->strategy, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, simple ? 1 : 3, &sup), 0);
    tsup_kid before[4], after[4];
    size_t n;
    ens_addr target;
    if (simple) {
        tsup_warg_v arg = {2, 0, 0, 0, me};
        assert_int_equal(
            ens_supervisor_start_child_wait(t->out, sup, NULL, &tsup_warg_t, &arg, &target), 0);
        tsup_expect_one(t, TAG_UP, 2);
        n = tsup_which(t, sup, before, 4);
        assert_int_equal(n, 1);
    } else {
        const int ups[3][2] = {{TAG_UP, 1}, {TAG_UP, 2}, {TAG_UP, 3}};
        tsup_rep_v r[TSUP_MAX_REPS];
        tsup_expect_reps(t, ups, 3, r);
        n = tsup_which(t, sup, before, 4);
        assert_int_equal(n, 3);
        target = before[1].addr;
    }
    stream(t, target, rw->crash ? CMD_CRASH : CMD_STOP_ERROR);
    size_t ups = 0;
    /* A crash comes before the number is counted: the next incarnation
     * gets it again, so its run starts at AT_STOP. */
    expect_stream(t, 2, target, rw->crash ? AT_STOP - 1 : AT_STOP, &ups);
    /* The restart re-ran init of the child and of the siblings its strategy
     * restarts with it. */
    const size_t restarted = rw->strategy == ENS_ONE_FOR_ALL    ? 3
                             : rw->strategy == ENS_REST_FOR_ONE ? 2
                                                                : 1;
    while (ups < restarted) {
        tsup_rep_v r = tsup_listen_rep(t);
        assert_int_equal(r.tag, TAG_UP);
        ups++;
    }
    assert_int_equal(ups, restarted);
    /* which_children: the same addresses, all running, b restarted once.
     * Awaited: the supervisor hears of a restart in place from the admin,
     * on another connection than the restarted child's report to us. */
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    for (;;) {
        assert_int_equal(tsup_which(t, sup, after, 4), n);
        bool all = after[simple ? 0 : 1].restarts >= 1;
        for (size_t i = 0; i < n; i++)
            all = all && after[i].status == ENS_SUP_CHILD_RUNNING;
        if (all)
            break;
        assert_true(scn_now_ns() < end);
    }
    for (size_t i = 0; i < n; i++)
        assert_addr_eq(after[i].addr, before[i].addr);
    assert_int_equal(after[simple ? 0 : 1].restarts, 1);
}

static void test_stream_reaches_the_restarted_child(void **state)
{
    scn *t = *state;
    static const srow rows[] = {
        {ENS_ONE_FOR_ONE, false},        {ENS_ONE_FOR_ALL, false}, {ENS_REST_FOR_ONE, false},
        {ENS_SIMPLE_ONE_FOR_ONE, false}, {ENS_ONE_FOR_ALL, true},  {ENS_REST_FOR_ONE, true},
        {ENS_ONE_FOR_ONE, true},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %zu: %s, %s\n", i, ens_sup_strategy_name(rows[i].strategy),
                      rows[i].crash ? "crash" : "stop_error");
        run_stream_row(t, &rows[i]);
        if (t->sys != NULL)
            scn_shutdown(t, 5000);
    }
}

/* ---- a nested tree ------------------------------------------------------- */

/* outer (one_for_one) > inner (one_for_one, intensity 1) > seq worker. The
 * worker's first failure: inner restarts it at its address while the
 * stream flows. Its second: inner gives up, outer restarts inner at inner's
 * address (a new inner incarnation knows nothing of the old one's child,
 * so its worker is a new actor). */
static void test_nested_tree_keeps_addresses(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out);
    tsup_warg_v w = {1, 0, 0, 0, me};
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = "inner";
    spec.def = &inner_def;
    spec.arg_type = &tsup_warg_t;
    spec.arg = &w;
    spec.is_supervisor = true;
    spec.shutdown = ENS_SHUTDOWN_INFINITY;
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr outer;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &spec, 1, &outer), 0);
    tsup_expect_one(t, TAG_UP, 1);
    ens_addr inner = tsup_child_of(t, outer, "inner");
    ens_addr worker = tsup_child_of(t, inner, "seq");

    stream(t, worker, CMD_STOP_ERROR);
    size_t ups = 0;
    expect_stream(t, 1, worker, AT_STOP, &ups);
    if (ups == 0)
        tsup_expect_one(t, TAG_UP, 1);
    assert_addr_eq(tsup_child_of(t, inner, "seq"), worker);
    assert_addr_eq(tsup_child_of(t, outer, "inner"), inner);

    /* Second failure: inner gives up; outer restarts inner where it was. */
    taddr_num_v v = {0, CMD_STOP_ERROR};
    assert_int_equal(ens_send(t->out, worker, &taddr_num_t, &v), 0);
    tsup_rep_v r = tsup_listen_rep(t);
    assert_int_equal(r.tag, TAG_SEQ);
    tsup_expect_one(t, TAG_UP, 1);
    tsup_kid k[2];
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (tsup_which(t, outer, k, 2) != 1 || k[0].status != ENS_SUP_CHILD_RUNNING ||
           k[0].restarts != 1)
        assert_true(scn_now_ns() < end);
    assert_addr_eq(k[0].addr, inner);
    ens_addr worker2 = tsup_child_of(t, inner, "seq");
    assert_false(ens_addr_equal(worker2, worker));
    expect_dead_letters(t, worker); /* the old inner's reservation ended with it */
}

/* ---- addresses given up -------------------------------------------------- */

/* A temporary child is never restarted: once it ended, its address gives
 * dead letters. */
static void test_temporary_child_address_is_freed(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out);
    tsup_warg_v w[2];
    ens_child_spec specs[2] = {seq_spec("a", &w[0], 1, me), seq_spec("tmp", &w[1], 2, me)};
    specs[1].restart = ENS_TEMPORARY;
    ens_sup_flags f = ENS_SUP_FLAGS_INIT;
    ens_addr sup;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, 2, &sup), 0);
    const int ups[2][2] = {{TAG_UP, 1}, {TAG_UP, 2}};
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, ups, 2, r);
    ens_addr tmp = tsup_child_of(t, sup, "tmp");
    taddr_num_v v = {0, CMD_STOP_ERROR};
    assert_int_equal(ens_send(t->out, tmp, &taddr_num_t, &v), 0);
    assert_int_equal(tsup_listen_rep(t).tag, TAG_SEQ);
    tsup_kid k[2];
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (tsup_which(t, sup, k, 2) != 1) /* forgotten */
        assert_true(scn_now_ns() < end);
    expect_dead_letters(t, tmp);
}

/* terminate_child frees the address before it replies; a supervisor that
 * gives up frees the addresses of all its children. */
static void test_given_up_addresses_are_freed(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out);
    tsup_warg_v w[2];
    ens_child_spec specs[2] = {seq_spec("a", &w[0], 1, me), seq_spec("b", &w[1], 2, me)};
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 0, 60000,
                       ENS_SUP_START_ORDERED}; /* the first failure: give up */
    ens_addr sup;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, 2, &sup), 0);
    const int ups[2][2] = {{TAG_UP, 1}, {TAG_UP, 2}};
    tsup_rep_v r[TSUP_MAX_REPS];
    tsup_expect_reps(t, ups, 2, r);
    tsup_kid k[2];
    assert_int_equal(tsup_which(t, sup, k, 2), 2);
    const ens_addr a = k[0].addr, b = k[1].addr;

    assert_int_equal(ens_supervisor_terminate_child_wait(t->out, sup, "a", ENS_ADDR_NONE), 0);
    expect_dead_letters(t, a);

    taddr_num_v v = {0, CMD_STOP_ERROR};
    assert_int_equal(ens_send(t->out, b, &taddr_num_t, &v), 0);
    assert_int_equal(tsup_listen_rep(t).tag, TAG_SEQ);
    expect_dead_letters(t, b); /* waits while the supervisor gives up, then dead */
    expect_dead_letters(t, sup);
}

/* A named child: the name and the address stay together through a
 * restart; a stream sent by name reaches both incarnations in order. */
static void test_named_child_stream(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    tsup_stash_clear();
    ens_addr me = ens_self(t->out);
    tsup_warg_v w;
    ens_child_spec spec = seq_spec("n", &w, 1, me);
    spec.name = "taddr.named";
    ens_sup_flags f = ENS_SUP_FLAGS_INIT;
    ens_addr sup;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &spec, 1, &sup), 0);
    tsup_expect_one(t, TAG_UP, 1);
    ens_addr child = tsup_child_of(t, sup, "n");
    for (int32_t i = 0; i < N_SEQ; i++) {
        taddr_num_v v = {i, i == AT_STOP ? CMD_STOP_ERROR : CMD_COUNT};
        assert_int_equal(ens_name_send(t->out, "taddr.named", &taddr_num_t, &v), 0);
    }
    size_t ups = 0;
    expect_stream(t, 1, child, AT_STOP, &ups);
    if (ups == 0)
        tsup_expect_one(t, TAG_UP, 1);
    ens_addr got;
    assert_int_equal(ens_name_lookup(t->out, "taddr.named", &got), 0);
    assert_addr_eq(got, child);
    assert_addr_eq(tsup_child_of(t, sup, "n"), child);
}

int main(void)
{
    if (tsup_types_register() != 0 || ens_msgtype_register(&taddr_num_t) != 0 ||
        ens_actor_register(&seq_def) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_stream_reaches_the_restarted_child),
        SCN_TEST(test_nested_tree_keeps_addresses),
        SCN_TEST(test_temporary_child_address_is_freed),
        SCN_TEST(test_given_up_addresses_are_freed),
        SCN_TEST(test_named_child_stream),
    };
    return scn_run_bases("supervisor_addr", tests, sizeof(tests) / sizeof(tests[0]));
}

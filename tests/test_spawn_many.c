/*
 * tests/test_spawn_many.c - ens_spawn_many on every base: one actor, 200
 * actors that each answer, an init that fails among them (per-actor
 * status: the others run), bad arguments, the limits (n = 0, n above
 * ENS_SPAWN_MANY_MAX), and a batch spawned from inside an actor, whose
 * children announce their starts and the failed one its end.
 *
 * Workers count their inits in memory shared with every process (mapped
 * before any system starts): the init numbered fail_at fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "support/echo.h"
#include "support/scenario.h"

typedef struct seen {
    int32_t inits;   /* inits run so far */
    int32_t fail_at; /* the init with this number (from 1) fails; 0: none */
} seen;

static volatile seen *shared;

static void reset_shared(int32_t fail_at)
{
    shared->inits = 0;
    shared->fail_at = fail_at;
}

static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    int32_t k = __atomic_add_fetch(&shared->inits, 1, __ATOMIC_SEQ_CST);
    return k == shared->fail_at ? ENS_EIO : 0;
}

static const ens_actor_def worker_def = {
    "tmany.Worker", 0, worker_init, test_plus_receive, NULL, NULL, NULL, NULL, NULL};

static const ens_actor_def no_receive_def = {
    "tmany.NoReceive", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

/* Tell each of the n live addresses of a its index, then collect the n
 * answers: each index answered once. */
static void all_answer(scn *t, const ens_addr *a, const int *status, size_t n)
{
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        if (status[i] != 0)
            continue;
        ens_int64_v x = {(int64_t)i};
        assert_int_equal(ens_send(t->out, a[i], &ens_msg_int64, &x), 0);
        live++;
    }
    uint8_t *got = calloc(n, 1);
    assert_non_null(got);
    for (size_t k = 0; k < live; k++) {
        ens_msg *m = scn_listen_type(t, &ens_msg_int64, SCN_WAIT_MS);
        assert_non_null(m);
        int64_t i = ((const ens_int64_v *)ens_msg_value(m, &ens_msg_int64))->value - TEST_PLUS;
        ens_msg_free(m);
        assert_true(i >= 0 && (size_t)i < n);
        assert_int_equal(status[i], 0);
        assert_int_equal(got[i], 0);
        got[i] = 1;
    }
    free(got);
}

static void test_one(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared(0);
    ens_addr a = ENS_ADDR_NONE;
    int st = 1;
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, 1, &a, &st), 1);
    assert_int_equal(st, 0);
    assert_false(ens_addr_is_none(a));
    assert_int_equal(shared->inits, 1); /* from outside: init ran before the return */
    all_answer(t, &a, &st, 1);
}

static void test_two_hundred(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared(0);
    enum { N = 200 };
    ens_addr a[N];
    int st[N];
    ens_int64_v arg = {7};
    assert_int_equal(ens_spawn_many(t->out, &worker_def, &ens_msg_int64, &arg,
                                    ENS_SPAWN_NO_RESTART | ENS_SPAWN_CONNECT, N, a, st),
                     N);
    assert_int_equal(shared->inits, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(st[i], 0);
        assert_false(ens_addr_is_none(a[i]));
        for (size_t j = 0; j < i; j++)
            assert_false(ens_addr_equal(a[i], a[j]));
    }
    all_answer(t, a, st, N);
    /* status NULL is allowed */
    ens_addr b[3];
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, 3, b, NULL), 3);
}

/* ENS_SPAWN_CONNECT on a single spawn, and a batch without it: all
 * answer (the connections are made at the spawn or asked for later). */
static void test_connect_flag(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared(0);
    ens_addr a[4];
    int st[4] = {0, 0, 0, 0};
    assert_int_equal(ens_spawn_flags(t->out, &worker_def, NULL, NULL, ENS_SPAWN_CONNECT, &a[0]), 0);
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, 3, &a[1], &st[1]), 3);
    all_answer(t, a, st, 4);
}

/* Init number 7 of 20 fails: its entry is ENS_EINIT with no address and
 * ens_errmsg names it; the 19 others started and answer. */
static void test_failing_init_among_them(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared(7);
    enum { N = 20 };
    ens_addr a[N];
    int st[N];
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, N, a, st), N - 1);
    int failed = 0;
    for (size_t i = 0; i < N; i++) {
        if (st[i] != 0) {
            assert_int_equal(st[i], ENS_EINIT);
            assert_true(ens_addr_is_none(a[i]));
            failed++;
        }
    }
    assert_int_equal(failed, 1);
    assert_non_null(strstr(ens_errmsg(), "tmany.Worker"));
    all_answer(t, a, st, N);
}

static void test_bad_arguments(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared(0);
    ens_addr a[2];
    int st[2];
    ens_int64_v arg = {1};
    assert_int_equal(ens_spawn_many(NULL, &worker_def, NULL, NULL, 0, 2, a, st), ENS_EINVAL);
    assert_int_equal(ens_spawn_many(t->out, NULL, NULL, NULL, 0, 2, a, st), ENS_EINVAL);
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, 2, NULL, st), ENS_EINVAL);
    assert_int_equal(ens_spawn_many(t->out, &worker_def, &ens_msg_int64, NULL, 0, 2, a, st),
                     ENS_EINVAL);
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, &arg, 0, 2, a, st), ENS_EINVAL);
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 1u << 20, 2, a, st),
                     ENS_EINVAL);
    assert_int_equal(ens_spawn_many(t->out, &no_receive_def, NULL, NULL, 0, 2, a, st), ENS_EINVAL);
    static ens_msgtype unregistered = {"tmany.Unregistered", "S(i)", sizeof(int32_t), 0, 0, NULL};
    int32_t v = 1;
    assert_int_equal(ens_spawn_many(t->out, &worker_def, &unregistered, &v, 0, 2, a, st),
                     ENS_EBADTYPE);
    assert_int_equal(shared->inits, 0); /* none of these started anything */
}

static void test_limits(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared(0);
    ens_addr a[1] = {{42, 0, 0}};
    int st[1] = {42};
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, 0, a, st), 0);
    assert_int_equal(a[0].id, 42); /* n = 0: nothing written */
    assert_int_equal(st[0], 42);
    assert_int_equal(ens_spawn_many(t->out, NULL, NULL, NULL, 0, 0, a, st), ENS_EINVAL);
    assert_int_equal(
        ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, ENS_SPAWN_MANY_MAX + 1u, a, st),
        ENS_EINVAL);
    assert_int_equal(ens_spawn_many(t->out, &worker_def, NULL, NULL, 0, SIZE_MAX, a, st),
                     ENS_EINVAL);
    assert_int_equal(shared->inits, 0);
}

/* ---- from inside an actor ---------------------------------------------- */

enum { INSIDE_N = 30 };

typedef struct parent_st {
    ens_addr report;
    int32_t rc, started, failed;
} parent_st;

/* On an int64 (how many): ens_spawn_many of that many workers with
 * ENS_SPAWN_NOTIFY_START and ENS_SPAWN_CONNECT; once every child has announced its start or its
 * failed init, the outside hears rc * 1 000 000 + started * 1 000 + failed. */
static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent_st *p = state;
    const ens_int64_v *n = ens_msg_value(m, &ens_msg_int64);
    if (n != NULL) {
        ens_addr a[INSIDE_N];
        int st[INSIDE_N];
        p->report = ens_sender(c);
        p->rc = ens_spawn_many(c, &worker_def, NULL, NULL,
                               ENS_SPAWN_NOTIFY_START | ENS_SPAWN_CONNECT, (size_t)n->value, a, st);
        for (int i = 0; i < p->rc; i++)
            if (st[i] != 0 || ens_addr_is_none(a[i]))
                p->rc = -1000; /* inside, every entry is 0: inits run later */
    } else if (ens_msg_value(m, &ens_msg_child_started) != NULL) {
        p->started++;
    } else {
        const ens_child_exited_v *x = ens_msg_value(m, &ens_msg_child_exited);
        if (x == NULL)
            return 0;
        if (x->reason == ENS_EXIT_INIT_FAILED)
            p->failed++;
    }
    if (p->rc > 0 && p->started + p->failed == p->rc) {
        ens_int64_v r = {(int64_t)p->rc * 1000000 + p->started * 1000 + p->failed};
        p->rc = 0; /* reported */
        return ens_send(c, p->report, &ens_msg_int64, &r);
    }
    return 0;
}

static const ens_actor_def parent_def = {
    "tmany.Parent", sizeof(parent_st), NULL, parent_receive, NULL, NULL, NULL, NULL, NULL};

static void test_from_inside_an_actor(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared(5);
    ens_addr p;
    assert_int_equal(ens_spawn(t->out, &parent_def, NULL, NULL, &p), 0);
    ens_int64_v n = {INSIDE_N};
    assert_int_equal(ens_send(t->out, p, &ens_msg_int64, &n), 0);
    ens_msg *m = scn_listen_type(t, &ens_msg_int64, SCN_WAIT_MS);
    assert_non_null(m);
    int64_t got = ((const ens_int64_v *)ens_msg_value(m, &ens_msg_int64))->value;
    ens_msg_free(m);
    assert_int_equal(got, (int64_t)INSIDE_N * 1000000 + (INSIDE_N - 1) * 1000 + 1);
    assert_int_equal(shared->inits, INSIDE_N);
}

int main(void)
{
    void *p = mmap(NULL, sizeof(seen), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    shared = p;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_one),
        SCN_TEST(test_two_hundred),
        SCN_TEST(test_connect_flag),
        SCN_TEST(test_failing_init_among_them),
        SCN_TEST(test_bad_arguments),
        SCN_TEST(test_limits),
        SCN_TEST(test_from_inside_an_actor),
    };
    return scn_run_bases("spawn_many", tests, sizeof(tests) / sizeof(tests[0]));
}

/*
 * tests/test_spawn_direct.c - the process base's connected spawn from
 * outside, answered by the new actor itself on the connection made at the
 * spawn (ENS__SPAWN_DIRECT), and its failure cases: an init that fails is
 * answered once, by the admin, and no later spawn takes a stale answer; an
 * actor killed right after its own answer left (before its report to the
 * admin) makes the spawn return once, with one of the two answers, and
 * the spawns after it get their own; a spawner gone while the init runs
 * leaves the actor running and its system sane.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/echo.h"
#include "support/procfs.h"
#include "support/scenario.h"

typedef struct shared_mem {
    int32_t fail_inits;  /* inits of tdirect.Worker fail while set */
    int32_t release;     /* tdirect.Blocker's init returns once set */
    int32_t blocker_pid; /* set by tdirect.Blocker's init */
    ens_addr blocker;    /* ... with its address */
} shared_mem;

static volatile shared_mem *shared;

static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    return __atomic_load_n(&shared->fail_inits, __ATOMIC_SEQ_CST) ? ENS_EIO : 0;
}

static const ens_actor_def worker_def = {
    "tdirect.Worker", 0, worker_init, test_plus_receive, NULL, NULL, NULL, NULL, NULL};

/* Says who it is, then waits (30 s at most) until the test releases it. */
static int blocker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    (void)arg;
    shared->blocker = ens_self(c);
    __atomic_store_n(&shared->blocker_pid, (int32_t)getpid(), __ATOMIC_SEQ_CST);
    for (int i = 0; i < 30000 && !__atomic_load_n(&shared->release, __ATOMIC_SEQ_CST); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    return 0;
}

static const ens_actor_def blocker_def = {
    "tdirect.Blocker", 0, blocker_init, test_plus_receive, NULL, NULL, NULL, NULL, NULL};

static bool is_process(const scn *t)
{
    return t->base == ENS_BASE_PROCESS;
}

/* The actor at a answers an int64 from outside. */
static void expect_answer(scn *t, ens_addr a, int64_t x)
{
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(t->out, a, &ens_msg_int64, &(ens_int64_v){x}, SCN_WAIT_MS, &r), 0);
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    assert_int_equal(v->value, x + TEST_PLUS);
    ens_msg_free(r);
}

/* A connected spawn answers, and the first message reaches the actor on the
 * connection made at the spawn. */
static void test_direct_answer(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    shared->fail_inits = 0;
    for (int i = 0; i < 20; i++) {
        ens_addr a = ENS_ADDR_NONE;
        assert_int_equal(ens_spawn_flags(t->out, &worker_def, NULL, NULL, ENS_SPAWN_CONNECT, &a),
                         0);
        assert_false(ens_addr_is_none(a));
        expect_answer(t, a, i);
    }
}

/* Failing inits are answered by the admin, with their text, once each:
 * the good spawns between them get their own answers. */
static void test_init_fails(void **state)
{
    scn *t = *state;
    if (!is_process(t))
        skip();
    scn_start(t, NULL);
    for (int i = 0; i < 10; i++) {
        ens_addr a = ENS_ADDR_NONE;
        shared->fail_inits = 1;
        int rc = ens_spawn_flags(t->out, &worker_def, NULL, NULL,
                                 ENS_SPAWN_CONNECT | ENS_SPAWN_NO_RESTART, &a);
        assert_true(rc < 0);
        assert_true(ens_addr_is_none(a));
        shared->fail_inits = 0;
        assert_int_equal(ens_spawn_flags(t->out, &worker_def, NULL, NULL, ENS_SPAWN_CONNECT, &a),
                         0);
        expect_answer(t, a, i);
    }
    /* Each failed init is an init failure, not a crash as well: the
     * actor's Exiting was read although it ended without reading what the
     * admin had sent it (the connections), whose end the admin's channel
     * reports as ECONNRESET ahead of the frames still queued. A crash row
     * would be recorded before the init_failed row of the same actor. */
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (scn_events_count(t, ENS_EV_INIT_FAILED, ENS_ADDR_NONE) < 10 && scn_now_ns() < deadline)
        (void)ens_system_run(t->sys, 10);
    assert_int_equal(scn_events_count(t, ENS_EV_INIT_FAILED, ENS_ADDR_NONE), 10);
    assert_int_equal(scn_events_count(t, ENS_EV_CRASH, ENS_ADDR_NONE), 0);
}

/* Every actor that answered its spawner itself is SIGKILLed right after
 * (ENS__TEST_KILL_AFTER_ANSWER), before its Started report: the spawn
 * returns once (the actor's success or the admin's failure, whichever came
 * first), and each spawn after it (answered by the admin) gets its own
 * live actor. */
static void test_killed_after_answer(void **state)
{
    scn *t = *state;
    if (!is_process(t))
        skip();
    setenv("ENS__TEST_KILL_AFTER_ANSWER", "1", 1);
    scn_start(t, NULL);
    unsetenv("ENS__TEST_KILL_AFTER_ANSWER"); /* the system's processes have it */
    shared->fail_inits = 0;
    for (int i = 0; i < 10; i++) {
        ens_addr a = ENS_ADDR_NONE;
        int rc = ens_spawn_flags(t->out, &worker_def, NULL, NULL,
                                 ENS_SPAWN_CONNECT | ENS_SPAWN_NO_RESTART, &a);
        assert_true(rc == 0 || rc < 0);
        assert_true(rc == 0 ? !ens_addr_is_none(a) : ens_addr_is_none(a));
        ens_addr b = ENS_ADDR_NONE;
        assert_int_equal(ens_spawn(t->out, &worker_def, NULL, NULL, &b), 0);
        assert_false(ens_addr_equal(a, b));
        expect_answer(t, b, i);
    }
}

/* The spawner (the program that started a persistent system) is killed
 * while the new actor's init runs: the actor's answer finds nobody, and
 * the actor runs on and answers a program that connects later. */
static void test_spawner_gone(void **state)
{
    scn *t = *state;
    if (!is_process(t))
        skip();
    char name[64];
    snprintf(name, sizeof(name), "test-direct-%d", (int)getpid());
    shared->release = 0;
    shared->blocker_pid = 0;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
        o.name = name;
        o.persistent = true;
        o.log_level = ENS_LOG_ERROR;
        ens_system *s = NULL;
        if (ens_system_start(&o, &s) != 0)
            _exit(2);
        ens_addr a;
        (void)ens_spawn_flags(ens_system_ctx(s), &blocker_def, NULL, NULL, ENS_SPAWN_CONNECT, &a);
        _exit(3); /* killed before this, normally */
    }
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (__atomic_load_n(&shared->blocker_pid, __ATOMIC_SEQ_CST) == 0 && scn_now_ns() < deadline)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    pid_t actor = shared->blocker_pid;
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_true(actor > 0);
    __atomic_store_n(&shared->release, 1, __ATOMIC_SEQ_CST);
    ens_system *s = NULL;
    assert_int_equal(ens_system_connect(name, &s), 0);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, SCN_WAIT_MS, &st), 0);
    pid_t admin = ens_status_admin_pid(st);
    ens_status_free(st);
    ens_msg *r = NULL;
    int rc = ens_ask(ens_system_ctx(s), shared->blocker, &ens_msg_int64, &(ens_int64_v){5},
                     SCN_WAIT_MS, &r);
    const ens_int64_v *v = rc == 0 ? ens_msg_value(r, &ens_msg_int64) : NULL;
    const int64_t got = v != NULL ? v->value : -1;
    ens_msg_free(r);
    assert_int_equal(ens_system_stop(s, SCN_WAIT_MS), 0);
    assert_true(test_gone_within((int)admin, 5000));
    assert_true(test_gone_within((int)actor, 5000));
    (void)waitpid(admin, NULL, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    assert_int_equal(rc, 0);
    assert_int_equal(got, 1005);
}

int main(void)
{
    void *p =
        mmap(NULL, sizeof(shared_mem), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    shared = p;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_direct_answer),
        SCN_TEST(test_init_fails),
        SCN_TEST(test_killed_after_answer),
        SCN_TEST(test_spawner_gone),
    };
    return scn_run_bases("spawn_direct", tests, sizeof(tests) / sizeof(tests[0]));
}

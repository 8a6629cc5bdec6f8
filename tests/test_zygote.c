/*
 * tests/test_zygote.c - the zygote and its spares (core/proc_zygote.h):
 * new actors are the admin's children, started in spares that the zygote
 * keeps ready; killing the zygote or a spare loses no spawn (the admin
 * falls back to forking itself); a first incarnation made this way
 * crashes, restarts and aborts like any other; nothing is left behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/procfs.h"

#include "ensemble/ensemble.h"

#define WAIT_MS 20000

/* echo: replies to an int64 with its pid; "abort" aborts (once per value). */
static int echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, ENS_MSG_INT64);
    if (v == NULL)
        return 0;
    if (v->value == -1 && ens_msg_attempt(m) == 1)
        abort();
    ens_int64_v pid = {(int64_t)getpid()};
    return ens_reply(c, ENS_MSG_INT64, &pid);
}
static const ens_actor_def echo_def = {"zygote.Echo", 0, NULL, echo_receive, NULL, NULL, NULL};

/* ---- /proc ------------------------------------------------------------- */

/* The children of admin named prefix..., up to max in pids; their count. */
static int children_named(pid_t admin, const char *prefix, pid_t *pids, int max)
{
    int n = test_children_named((int)admin, prefix, pids, max);
    assert_true(n >= 0);
    return n;
}

/* Wait (bounded) until admin has want children named prefix. */
static bool wait_children(pid_t admin, const char *prefix, int want)
{
    pid_t pids[16];
    for (int i = 0; i < WAIT_MS; i++) {
        if (children_named(admin, prefix, pids, 16) == want)
            return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* polling /proc: nothing to wait on */
    }
    return false;
}

/* ---- helpers ------------------------------------------------------------ */

static ens_system *start(pid_t *admin)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    *admin = (pid_t)ens_status_admin_pid(st);
    ens_status_free(st);
    return s;
}

/* A started system at rest: the zygote and both spares, named (until a
 * spare names itself it still carries the zygote's name). *zygote gets the
 * zygote's pid. */
static ens_system *start_steady(pid_t *admin, pid_t *zygote)
{
    ens_system *s = start(admin);
    assert_true(wait_children(*admin, "ens-spare", 2));
    pid_t z[2];
    assert_int_equal(children_named(*admin, "ens-zygote", z, 2), 1);
    *zygote = z[0];
    return s;
}

/* Spawn an echo actor and ask it for its pid. */
static pid_t spawn_echo(ens_system *s, ens_addr *a)
{
    ens_ctx *out = ens_system_ctx(s);
    assert_int_equal(ens_spawn(out, &echo_def, NULL, NULL, a), 0);
    ens_int64_v x = {1};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, *a, ENS_MSG_INT64, &x, WAIT_MS, &r), 0);
    const ens_int64_v *pid = ens_msg_value(r, ENS_MSG_INT64);
    assert_non_null(pid);
    pid_t p = (pid_t)pid->value;
    ens_msg_free(r);
    return p;
}

/* Stop s and check that the admin, zygote, spares and actors are gone. */
static void stop_all_gone(ens_system *s, pid_t admin, const pid_t *others, int n)
{
    pid_t z[16];
    int nz = children_named(admin, "ens-", z, 16);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    assert_true(test_gone_within((int)admin, WAIT_MS));
    for (int i = 0; i < nz && i < 16; i++)
        assert_true(test_gone_within((int)z[i], WAIT_MS));
    for (int i = 0; i < n; i++)
        assert_true(test_gone_within((int)others[i], WAIT_MS));
}

/* ---- tests ------------------------------------------------------------- */

static void test_actors_come_from_spares(void **state)
{
    (void)state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady(&admin, &zygote);
    pid_t spares[2];
    assert_int_equal(children_named(admin, "ens-spare", spares, 2), 2);
    ens_addr a;
    pid_t p = spawn_echo(s, &a);
    assert_int_equal(test_ppid_of(p), admin); /* CLONE_PARENT: the admin's child */
    assert_true(p == spares[0] || p == spares[1]);
    /* The zygote made a new spare in its place. */
    assert_true(wait_children(admin, "ens-spare", 2));
    stop_all_gone(s, admin, &p, 1);
}

static void test_spare_born_actor_aborts_and_restarts(void **state)
{
    (void)state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady(&admin, &zygote);
    ens_addr a;
    pid_t first = spawn_echo(s, &a);
    ens_int64_v boom = {-1};
    ens_msg *r = NULL;
    /* The abort kills the first incarnation (SIGABRT goes to the actor,
     * not to the zygote whose thread id glibc may remember); the
     * restarted one handles the message again and answers. */
    assert_int_equal(ens_ask(ens_system_ctx(s), a, ENS_MSG_INT64, &boom, WAIT_MS, &r), 0);
    const ens_int64_v *pid = ens_msg_value(r, ENS_MSG_INT64);
    assert_non_null(pid);
    assert_int_not_equal((pid_t)pid->value, first);
    assert_true(test_gone_within((int)first, WAIT_MS));
    assert_int_equal(kill(zygote, 0), 0); /* the zygote lives on */
    pid_t second = (pid_t)pid->value;
    ens_msg_free(r);
    stop_all_gone(s, admin, &second, 1);
}

static void test_zygote_killed_spawns_go_on(void **state)
{
    (void)state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady(&admin, &zygote);
    assert_int_equal(kill(zygote, SIGKILL), 0);
    assert_true(test_gone_within((int)zygote, WAIT_MS));
    /* Two spares in hand, then the admin forks: every spawn works. */
    pid_t pids[6];
    for (int i = 0; i < 6; i++) {
        ens_addr a;
        pids[i] = spawn_echo(s, &a);
        assert_int_equal(test_ppid_of(pids[i]), admin);
    }
    stop_all_gone(s, admin, pids, 6);
}

static void test_spares_killed_spawns_go_on(void **state)
{
    (void)state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady(&admin, &zygote);
    pid_t sp[2];
    assert_int_equal(children_named(admin, "ens-spare", sp, 2), 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kill(sp[i], SIGKILL), 0);
        assert_true(test_gone_within((int)sp[i], WAIT_MS));
    }
    pid_t pids[4];
    for (int i = 0; i < 4; i++) {
        ens_addr a;
        pids[i] = spawn_echo(s, &a);
        assert_true(pids[i] != sp[0] && pids[i] != sp[1]);
    }
    stop_all_gone(s, admin, pids, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actors_come_from_spares),
        cmocka_unit_test(test_spare_born_actor_aborts_and_restarts),
        cmocka_unit_test(test_zygote_killed_spawns_go_on),
        cmocka_unit_test(test_spares_killed_spawns_go_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

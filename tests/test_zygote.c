/*
 * tests/test_zygote.c - the zygote and its spares (core/process/proc_zygote.h):
 * new actors are the admin's children, started in spares that the zygote
 * keeps ready; a killed zygote is replaced (journaled as a crash), and one
 * that dies too often is not, the admin then forking by itself; killing a
 * spare loses no spawn; a first incarnation made this way crashes,
 * restarts and aborts like any other, and its restart starts in a spare
 * too; nothing is left behind.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/procfs.h"

#include "ensemble/ensemble.h"
#include "support/scratch.h"

#define WAIT_MS 20000

/* echo: replies to an int64 with its pid; "abort" aborts (once per value). */
static int echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v == NULL)
        return 0;
    if (v->value == -1 && ens_msg_attempt(m) == 1)
        abort();
    ens_int64_v pid = {(int64_t)getpid()};
    return ens_reply(c, &ens_msg_int64, &pid);
}
static const ens_actor_def echo_def = {"zygote.Echo", 0,    NULL, echo_receive, NULL,
                                       NULL,          NULL, NULL, NULL};

/* ---- /proc ------------------------------------------------------------- */

/* The children of admin named prefix..., up to max in pids; their count. */
static int children_named(pid_t admin, const char *prefix, pid_t *pids, int max)
{
    int n = test_children_named((int)admin, prefix, pids, max);
    assert_true(n >= 0);
    return n;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL); /* polling /proc or a file: nothing to wait on */
}

/* Wait (until a deadline) until admin has want children named prefix. */
static bool wait_children(pid_t admin, const char *prefix, int want)
{
    pid_t pids[16];
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end; nap()) {
        if (children_named(admin, prefix, pids, 16) == want)
            return true;
    }
    return false;
}

/* The zygote that replaced old (until a deadline): admin's one child named
 * ens-zygote, not old; 0 if none came. With both spares in hand the new
 * zygote makes none, so no unnamed spare carries its name. */
static pid_t wait_new_zygote(pid_t admin, pid_t old)
{
    pid_t z[4];
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end; nap()) {
        if (children_named(admin, "ens-zygote", z, 4) == 1 && z[0] != old)
            return z[0];
    }
    return 0;
}

static bool same_pids(const pid_t *a, const pid_t *b)
{
    return (a[0] == b[0] && a[1] == b[1]) || (a[0] == b[1] && a[1] == b[0]);
}

/* A process made by a zygote started while actors ran holds nothing of
 * theirs: one socket (its channel; an actor's connection held here would
 * hide the actor's hang-up), no stage, open or mapped. */
static void holds_only_its_channel(pid_t pid)
{
    assert_int_equal(test_fds_linked((int)pid, "socket:"), 1);
    assert_int_equal(test_fds_linked((int)pid, "/memfd:ens-stage"), 0);
    assert_false(test_maps_name((int)pid, "ens-stage"));
}

/* ---- a system with a journal and a log in a directory of its own ------- */

typedef struct fixture {
    char dir[64];
    char db[128];
    char log[128];
    ens_system *sys; /* stopped by the teardown if a test failed */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/ens-zygote-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->db, sizeof(fx->db), "%s/journal.db", fx->dir);
    snprintf(fx->log, sizeof(fx->log), "%s/log", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->sys != NULL)
        ens_system_close(fx->sys, WAIT_MS);
    test_tree_remove(fx->dir);
    free(fx);
    return 0;
}

/* Lines of the log at path that contain text. */
static int log_lines(const char *path, const char *text)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

typedef struct crash_rows {
    int n, sigkill, replaced;
} crash_rows;

static int count_crash(const ens_journal_row *row, void *arg)
{
    crash_rows *c = arg;
    c->n++;
    c->sigkill += row->ev.signal == SIGKILL;
    c->replaced += strstr(row->ev.reason, "a new one was started") != NULL;
    return 0;
}

/* The CRASH rows of the zygote in the journal at db. */
static crash_rows zygote_crashes(const char *db)
{
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(db, &j), 0);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_CRASH;
    f.actor_type = "ens.Zygote";
    f.limit = 0;
    crash_rows c = {0, 0, 0};
    assert_true(ens_journal_query(j, &f, count_crash, &c) >= 0);
    ens_journal_close(j);
    return c;
}

/* ---- helpers ------------------------------------------------------------ */

static ens_system *start_with(pid_t *admin, fixture *fx)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    if (fx != NULL) {
        o.journal_path = fx->db;
        o.log_path = fx->log;
        o.log_level = ENS_LOG_WARN;
    }
    fflush(NULL); /* the admin is forked */
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    *admin = (pid_t)ens_status_admin_pid(st);
    ens_status_free(st);
    if (fx != NULL)
        fx->sys = s;
    return s;
}

/* A started system at rest: the zygote and both spares, named (until a
 * spare names itself it still carries the zygote's name). *zygote gets the
 * zygote's pid. */
static ens_system *start_steady_with(pid_t *admin, pid_t *zygote, fixture *fx)
{
    ens_system *s = start_with(admin, fx);
    assert_true(wait_children(*admin, "ens-spare", 2));
    pid_t z[2];
    assert_int_equal(children_named(*admin, "ens-zygote", z, 2), 1);
    *zygote = z[0];
    return s;
}

static ens_system *start_steady(pid_t *admin, pid_t *zygote)
{
    return start_steady_with(admin, zygote, NULL);
}

/* Spawn an echo actor and ask it for its pid. */
static pid_t spawn_echo(ens_system *s, ens_addr *a)
{
    ens_ctx *out = ens_system_ctx(s);
    assert_int_equal(ens_spawn(out, &echo_def, NULL, NULL, a), 0);
    ens_int64_v x = {1};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, *a, &ens_msg_int64, &x, WAIT_MS, &r), 0);
    const ens_int64_v *pid = ens_msg_value(r, &ens_msg_int64);
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
    assert_int_equal(ens_ask(ens_system_ctx(s), a, &ens_msg_int64, &boom, WAIT_MS, &r), 0);
    const ens_int64_v *pid = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(pid);
    assert_int_not_equal((pid_t)pid->value, first);
    assert_true(test_gone_within((int)first, WAIT_MS));
    assert_int_equal(kill(zygote, 0), 0); /* the zygote lives on */
    pid_t second = (pid_t)pid->value;
    ens_msg_free(r);
    stop_all_gone(s, admin, &second, 1);
}

/* A restart in place starts in a spare too (the admin keeps the stage's
 * memfd and sends the receiving ends it holds): forking the admin itself
 * costs more with every actor it holds. The restarted incarnation holds its
 * stage and handles the frame it had in hand again. */
static void test_restart_in_place_comes_from_a_spare(void **state)
{
    (void)state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady(&admin, &zygote);
    ens_addr a;
    pid_t first = spawn_echo(s, &a);
    assert_true(wait_children(admin, "ens-spare", 2)); /* the used one replaced */
    pid_t spares[2];
    assert_int_equal(children_named(admin, "ens-spare", spares, 2), 2);
    ens_int64_v boom = {-1};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(s), a, &ens_msg_int64, &boom, WAIT_MS, &r), 0);
    const ens_int64_v *pid = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(pid);
    pid_t second = (pid_t)pid->value;
    ens_msg_free(r);
    assert_int_not_equal(second, first);
    assert_true(second == spares[0] || second == spares[1]);
    assert_int_equal(test_ppid_of(second), admin);
    assert_int_equal(test_fds_linked((int)second, "/memfd:ens-stage"), 0); /* mapped, closed */
    assert_true(test_maps_name((int)second, "ens-stage"));
    stop_all_gone(s, admin, &second, 1);
}

/* Kill the zygote while actors run: a new one takes its place, named as it
 * was and holding nothing of the actors'; the spares in hand stay in use,
 * then the new zygote makes the next ones; the crash is journaled. */
static void test_killed_zygote_is_replaced(void **state)
{
    fixture *fx = *state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady_with(&admin, &zygote, fx);
    pid_t pids[7]; /* the actors, then the old zygote */
    ens_addr a[6];
    for (int i = 0; i < 3; i++)
        pids[i] = spawn_echo(s, &a[i]);
    assert_true(wait_children(admin, "ens-spare", 2));
    pid_t spares[2];
    assert_int_equal(children_named(admin, "ens-spare", spares, 2), 2);
    char title[256], title2[256];
    assert_true(test_cmdline_of((int)zygote, title, sizeof(title)));

    assert_int_equal(kill(zygote, SIGKILL), 0);
    assert_true(test_gone_within((int)zygote, WAIT_MS));
    pids[6] = zygote;
    pid_t second = wait_new_zygote(admin, zygote);
    assert_true(second > 0);
    assert_true(test_cmdline_of((int)second, title2, sizeof(title2)));
    assert_string_equal(title2, title);
    holds_only_its_channel(second);
    pid_t now[2];
    assert_int_equal(children_named(admin, "ens-spare", now, 2), 2);
    assert_true(same_pids(now, spares)); /* the spares in hand stay */

    /* The next actors start in spares: the two kept, then (the admin asks
     * the new zygote for one per spare used) the new zygote's, which hold
     * nothing of the actors' either. */
    int from_new = 0;
    for (int i = 3; i < 6; i++) {
        pid_t ready[2];
        assert_true(wait_children(admin, "ens-spare", 2));
        assert_int_equal(children_named(admin, "ens-spare", ready, 2), 2);
        for (int k = 0; k < 2; k++) {
            if (ready[k] != spares[0] && ready[k] != spares[1])
                holds_only_its_channel(ready[k]);
        }
        pids[i] = spawn_echo(s, &a[i]);
        assert_true(pids[i] == ready[0] || pids[i] == ready[1]);
        from_new += pids[i] != spares[0] && pids[i] != spares[1];
    }
    assert_true(from_new >= 1);
    assert_int_equal(kill(second, 0), 0);
    /* The actors from before the kill still answer (from their own
     * processes: none was restarted). */
    for (int i = 0; i < 3; i++) {
        ens_int64_v x = {1};
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(ens_system_ctx(s), a[i], &ens_msg_int64, &x, WAIT_MS, &r), 0);
        assert_int_equal(((const ens_int64_v *)ens_msg_value(r, &ens_msg_int64))->value, pids[i]);
        ens_msg_free(r);
    }
    fx->sys = NULL;
    stop_all_gone(s, admin, pids, 7);

    crash_rows c = zygote_crashes(fx->db);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.sigkill, 1);
    assert_int_equal(c.replaced, 1);
}

/* A zygote that dies 6 times within a minute is replaced 5 times, then
 * not again: one log line says so, and spawns go on, forked by the admin
 * once the spares in hand are used. */
static void test_zygote_dying_too_often_is_not_replaced(void **state)
{
    fixture *fx = *state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady_with(&admin, &zygote, fx);
    pid_t pids[10]; /* the dead zygotes, then the actors */
    for (int i = 0; i < 6; i++) {
        pids[i] = zygote;
        assert_int_equal(kill(zygote, SIGKILL), 0);
        assert_true(test_gone_within((int)zygote, WAIT_MS));
        if (i < 5) {
            zygote = wait_new_zygote(admin, zygote);
            assert_true(zygote > 0);
        }
    }
    const char *gave_up = "it died too often to start it again";
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end && log_lines(fx->log, gave_up) == 0;)
        nap();
    assert_int_equal(log_lines(fx->log, gave_up), 1);
    assert_int_equal(children_named(admin, "ens-zygote", NULL, 0), 0);

    for (int i = 6; i < 10; i++) {
        ens_addr a;
        pids[i] = spawn_echo(s, &a);
        assert_int_equal(test_ppid_of(pids[i]), admin);
    }
    assert_int_equal(children_named(admin, "ens-spare", NULL, 0), 0); /* none made any more */
    assert_int_equal(children_named(admin, "ens-zygote", NULL, 0), 0);
    assert_int_equal(log_lines(fx->log, gave_up), 1);
    fx->sys = NULL;
    stop_all_gone(s, admin, pids, 10);

    crash_rows c = zygote_crashes(fx->db);
    assert_int_equal(c.n, 6);
    assert_int_equal(c.sigkill, 6);
    assert_int_equal(c.replaced, 5);
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

/* A batch spawn keeps more spares ready while it runs (the pool grows when
 * a spawn finds none in hand); at rest the pool goes back to its floor of
 * two, its surplus spares ended, and every actor of the batch started with
 * its own status and answers. */
#define BATCH 300
static void test_pool_grows_for_a_batch_and_shrinks_back(void **state)
{
    (void)state;
    pid_t admin;
    pid_t zygote;
    ens_system *s = start_steady(&admin, &zygote);
    ens_ctx *out = ens_system_ctx(s);
    static ens_addr a[BATCH];
    static int status[BATCH];
    assert_int_equal(ens_spawn_many(out, &echo_def, NULL, NULL, 0, BATCH, a, status), BATCH);
    pid_t seen[64];
    int most = children_named(admin, "ens-spare", seen, 64);
    for (int i = 0; i < BATCH; i++) {
        assert_int_equal(status[i], 0);
        ens_int64_v x = {i};
        assert_int_equal(ens_send(out, a[i], &ens_msg_int64, &x), 0);
    }
    for (int i = 0; i < BATCH; i++) {
        ens_msg *m = NULL;
        assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
        const ens_int64_v *pid = ens_msg_value(m, &ens_msg_int64);
        assert_non_null(pid);
        assert_int_equal(test_ppid_of((int)pid->value), (int)admin);
        ens_msg_free(m);
    }
    /* At rest: the floor again, made by the same zygote (none was late). */
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end; nap()) {
        int n = children_named(admin, "ens-spare", seen, 64);
        if (n > most)
            most = n;
        if (n == 2)
            break;
    }
    assert_true(wait_children(admin, "ens-spare", 2));
    pid_t z[2];
    assert_int_equal(children_named(admin, "ens-zygote", z, 2), 1);
    assert_int_equal(z[0], zygote);
    printf("# %d spares at most seen after the batch of %d, 2 at rest\n", most, BATCH);
    /* The pool grows again for the next batch. */
    assert_int_equal(ens_spawn_many(out, &echo_def, NULL, NULL, 0, 16, a, status), 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(status[i], 0);
    assert_int_equal(ens_system_stop(s, WAIT_MS), 0);
    assert_true(test_gone_within((int)admin, WAIT_MS));
    assert_true(test_gone_within((int)zygote, WAIT_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actors_come_from_spares),
        cmocka_unit_test(test_spare_born_actor_aborts_and_restarts),
        cmocka_unit_test(test_restart_in_place_comes_from_a_spare),
        cmocka_unit_test_setup_teardown(test_killed_zygote_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zygote_dying_too_often_is_not_replaced, setup,
                                        teardown),
        cmocka_unit_test(test_spares_killed_spawns_go_on),
        cmocka_unit_test(test_pool_grows_for_a_batch_and_shrinks_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

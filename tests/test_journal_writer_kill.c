/*
 * tests/test_journal_writer_kill.c - no journal row is lost, and none is
 * written twice, when the process base's journal writer dies (SIGKILL)
 * during a flood of failures.
 *
 * An actor floods dead letters (each a DEAD_LETTER event of the admin's);
 * meanwhile the writer is killed 20 times, each time after a different
 * number of rows of the round were committed (4 systems in a row on one
 * journal file, 5 kills each: the writer's restart limit is 5 a minute).
 * Then every event must be a row exactly once: the admin numbers the
 * events of a run 1, 2, 3, ..., so each run's rows are exactly the numbers
 * 1..max; the dead letters and the writer's crash rows are as many as
 * produced.
 *
 * Waiting is for what must happen, until a deadline; no sleeps, no counts of
 * tries (the journal file is polled: there is nothing to wait on).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ensemble/ensemble.h"
#include "support/deadline.h"
#include "support/procfs.h"
#include "support/scratch.h"

#define WAIT_MS   30000
#define SYSTEMS   4
#define KILLS     5    /* per system: within the writer's restart limit */
#define PER_FLOOD 2000 /* dead letters per flood command */

typedef struct {
    int32_t n; /* FLOOD: dead letters to send; 0: just reply */
} flood_v;
static ens_msgtype flood_t = {"jwk.Flood", "S(i)", sizeof(flood_v), 0, 0, NULL};

typedef struct {
    int32_t i;
} letter_v;
static ens_msgtype letter_t = {"jwk.Letter", "S(i)", sizeof(letter_v), 0, 0, NULL};

/* Sends n letters to an address nobody has; replies to an ask. */
static int flooder_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const flood_v *v = ens_msg_value(m, &flood_t);
    if (v == NULL)
        return 0;
    ens_addr self = ens_self(c);
    ens_addr nobody = {UINT32_MAX - 7, self.node, 0};
    for (int32_t i = 0; i < v->n; i++) {
        letter_v l = {i};
        ens_send(c, nobody, &letter_t, &l);
    }
    return ens_msg_is_request(m) ? ens_reply(c, &flood_t, v) : 0;
}

static const ens_actor_def flooder_def = {"jwk.Flooder", 0,    NULL, flooder_receive, NULL, NULL,
                                          NULL,          NULL, NULL};

typedef struct {
    char dir[64];
    char path[PATH_MAX];
    char name[64];
    ens_system *sys;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/ens-jwk-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/journal.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->sys != NULL)
        ens_system_close(fx->sys, 5000); /* an assertion ended the test early */
    test_tree_remove(fx->dir);
    free(fx);
    return 0;
}

/* One integer from a read-only query of the journal; -1 while the file
 * does not exist yet. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, WAIT_MS);
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int64_t letters(const char *path)
{
    return sql_int(path, "SELECT count(*) FROM failures WHERE kind = 'dead_letter'"
                         " AND msg_type = 'jwk.Letter'");
}

/* The journal writer of admin other than `old` (bounded wait), else 0. */
static pid_t writer_other_than(pid_t admin, pid_t old)
{
    test_deadline d = test_deadline_in(WAIT_MS);
    for (;;) {
        int pids[4];
        int n = test_children_named((int)admin, "ens-journal", pids, 4);
        if (n == 1 && pids[0] != old)
            return pids[0];
        if (test_deadline_passed(d))
            return 0;
        test_nap_ms(1); /* polling /proc: nothing to wait on */
    }
}

static void kill_and_wait(pid_t pid)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(pfd >= 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    close(pfd);
}

/* One system: a flood of PER_FLOOD letters per kill, the writer killed
 * once `after[k]` letters of the round are committed. */
static void run_system(fixture *fx, int sysno, const int *after)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    snprintf(fx->name, sizeof(fx->name), "jwk-%d-%d", (int)getpid(), sysno);
    o.name = fx->name;
    o.journal_path = fx->path;
    o.log_level = getenv("ENS_TEST_LOG") ? ENS_LOG_DEBUG : ENS_LOG_ERROR;
    fflush(NULL); /* the admin is forked */
    assert_int_equal(ens_system_start(&o, &fx->sys), 0);
    ens_system *s = fx->sys;
    ens_ctx *out = ens_system_ctx(s);
    ens_addr flooder;
    assert_int_equal(ens_spawn(out, &flooder_def, NULL, NULL, &flooder), 0);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    pid_t admin = (pid_t)ens_status_admin_pid(st);
    ens_status_free(st);
    pid_t writer = writer_other_than(admin, 0);
    assert_true(writer > 0);

    int64_t before = letters(fx->path);
    for (int k = 0; k < KILLS; k++) {
        int64_t round = letters(fx->path);
        /* Answered once the letters are sent: they are on their way to
         * the admin and the writer while the kill waits for its moment. */
        flood_v f = {PER_FLOOD};
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(out, flooder, &flood_t, &f, WAIT_MS, &r), 0);
        ens_msg_free(r);
        test_deadline d = test_deadline_in(WAIT_MS);
        while (letters(fx->path) < round + after[k] && !test_deadline_passed(d))
            test_nap_ms(1); /* polling the journal: nothing to wait on */
        assert_true(letters(fx->path) >= round + after[k]);
        kill_and_wait(writer);
        writer = writer_other_than(admin, writer);
        assert_true(writer > 0);
    }
    int64_t want = before + (int64_t)KILLS * PER_FLOOD;
    test_deadline d = test_deadline_in(WAIT_MS);
    while (letters(fx->path) < want && !test_deadline_passed(d))
        test_nap_ms(1); /* polling the journal: nothing to wait on */
    fx->sys = NULL;
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
    assert_int_equal(letters(fx->path), want);
}

static void test_writer_killed_20_times_mid_flood_loses_and_repeats_nothing(void **state)
{
    fixture *fx = *state;
    /* After how many letters of the round's flood each kill comes: from
     * the first commits to near the end, different in every round. */
    static const int after[SYSTEMS][KILLS] = {{1, 250, 900, 1500, 1990},
                                              {40, 600, 1200, 1800, 100},
                                              {400, 10, 1700, 700, 1300},
                                              {1000, 1600, 60, 1100, 500}};
    for (int i = 0; i < SYSTEMS; i++)
        run_system(fx, i, after[i]);

    const char *p = fx->path;
    assert_int_equal(letters(p), (int64_t)SYSTEMS * KILLS * PER_FLOOD);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM failures WHERE kind = 'crash'"
                                " AND actor_type = 'ens.JournalWriter'"),
                     SYSTEMS * KILLS);
    /* Every row has a key, one run per system, no key twice. */
    assert_int_equal(sql_int(p, "SELECT count(*) FROM failures WHERE run_id IS NULL"
                                " OR run_seq IS NULL"),
                     0);
    assert_int_equal(sql_int(p, "SELECT count(DISTINCT run_id) FROM failures"), SYSTEMS);
    assert_int_equal(sql_int(p, "SELECT count(*) FROM (SELECT 1 FROM failures"
                                " GROUP BY run_id, run_seq HAVING count(*) > 1)"),
                     0);
    /* Every event the admin numbered is a row: each run's numbers are
     * exactly 1..max. */
    assert_int_equal(sql_int(p, "SELECT count(*) FROM (SELECT run_id FROM failures"
                                " GROUP BY run_id HAVING min(run_seq) != 1"
                                " OR max(run_seq) != count(*))"),
                     0);
    /* The kills came while events were not acknowledged: the new writers
     * were sent events again (the crash rows say how many). */
    int64_t resent = sql_int(p, "SELECT sum(CAST(substr(reason, instr(reason, 'sent the ') + 9)"
                                " AS INTEGER)) FROM failures WHERE kind = 'crash'"
                                " AND actor_type = 'ens.JournalWriter'");
    assert_true(resent > 0);
    printf("# %d writer kills mid-flood: %d letters and every numbered event a row once "
           "(%lld events sent again to the next writer)\n",
           SYSTEMS * KILLS, SYSTEMS * KILLS * PER_FLOOD, (long long)resent);
}

int main(void)
{
    if (ens_msgtype_register(&flood_t) < 0 || ens_msgtype_register(&letter_t) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_writer_killed_20_times_mid_flood_loses_and_repeats_nothing, setup, teardown),
    };
    return cmocka_run_group_tests_name("journal_writer_kill", tests, NULL, NULL);
}

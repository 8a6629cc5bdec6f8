/*
 * tests/test_journal_runtime.c - the failure journal written by a running
 * system, on both bases: every failure event becomes one row (handler
 * errors, retries, poison, dead letters; on the process base also crashes
 * and restarts), committed by the time ens_system_close returns; a path
 * that cannot be used fails ens_system_start with the writer's error. On
 * the process base the rows come from the journal writer process: the admin
 * never holds the database open, and no process is left afterwards.
 *
 * Handlers never assert (on the process base they run in other processes).
 * Waiting is always a blocking call with a timeout; no sleeps.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/deadline.h"
#include "support/procfs.h"
#include <sqlite3.h>

#include "ensemble/ensemble.h"
#include "ensemble/journal.h"
#include "persistence/journal_writer.h"
#include "support/scratch.h"

#define WAIT_MS 30000

typedef struct {
    int32_t op;
} cmd_v;
static ens_msgtype cmd_t = {"jrt.Cmd", "S(i)", sizeof(cmd_v), 0, 0, NULL};

enum {
    OP_ECHO = 1,  /* reply */
    OP_FAIL,      /* return an error on every attempt: error, retry, error, poison */
    OP_SEGV_ONCE, /* SIGSEGV on attempt 1, then reply */
};

static int worker_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const cmd_v *v = ens_msg_value(m, &cmd_t);
    if (v == NULL)
        return 0;
    if (v->op == OP_FAIL)
        return ENS_EIO;
    if (v->op == OP_SEGV_ONCE && ens_msg_attempt(m) == 1)
        raise(SIGSEGV);
    return ens_reply(c, &cmd_t, v);
}

static const ens_actor_def worker_def = {"jrt.Worker", 0,    NULL, worker_receive, NULL, NULL,
                                         NULL,         NULL, NULL};

/* ---- fixture: a scratch directory and the system of the running test -- */

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
    strcpy(fx->dir, "/tmp/ens-jrt-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/journal.db", fx->dir);
    static unsigned seq;
    snprintf(fx->name, sizeof(fx->name), "jrt-%d-%u", (int)getpid(), ++seq);
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

static ens_system *start(fixture *fx, ens_base base, const char *journal_path)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.name = fx->name;
    o.journal_path = journal_path;
    o.log_level = getenv("ENS_TEST_LOG") ? ENS_LOG_DEBUG : ENS_LOG_ERROR;
    fflush(NULL); /* the admin is forked */
    assert_int_equal(ens_system_start(&o, &fx->sys), 0);
    return fx->sys;
}

static void stop(fixture *fx)
{
    ens_system *s = fx->sys;
    fx->sys = NULL;
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
}

/* ---- processes, seen through /proc ----------------------------------- */

/* Pids of the processes whose command line starts with `title`. */
static size_t procs_titled(const char *title, pid_t *pids, size_t max)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char p[64], buf[256] = "";
        snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
        FILE *f = fopen(p, "re");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        if (strncmp(buf, title, strlen(title)) == 0) {
            if (n < max)
                pids[n] = (pid_t)pid;
            n++;
        }
    }
    closedir(d);
    return n;
}

/* True if process pid has a descriptor open on a file whose path starts
 * with prefix (the journal and its -wal / -shm files). */
static bool holds_file(pid_t pid, const char *prefix)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(p);
    if (d == NULL)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char link[PATH_MAX + 64], target[PATH_MAX] = "";
        snprintf(link, sizeof(link), "%s/%s", p, e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            found = strncmp(target, prefix, strlen(prefix)) == 0;
        }
    }
    closedir(d);
    return found;
}

/* The journal writer processes of admin (by name: the admin's other
 * children are actors, the zygote and its spares); the last in *found. */
static int writers_of(pid_t admin, pid_t *found)
{
    int pids[4];
    int n = test_children_named((int)admin, "ens-journal", pids, 4);
    assert_true(n >= 0);
    if (n > 0)
        *found = (pid_t)pids[n < 4 ? n - 1 : 3];
    return n;
}

/* The journal writer process of the running system s. The admin forks it
 * before it answers anything, so after the status round trip it exists;
 * it names itself first thing, which is waited for (bounded). */
static pid_t writer_of(ens_system *s, pid_t *admin)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    *admin = (pid_t)ens_status_admin_pid(st);
    ens_status_free(st);
    pid_t found = 0;
    int n = 0;
    test_deadline named = test_deadline_in(WAIT_MS);
    while ((n = writers_of(*admin, &found)) == 0 && !test_deadline_passed(named))
        test_nap_ms(1); /* polling /proc: nothing to wait on */
    assert_int_equal(n, 1);
    return found;
}

static bool gone(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/* ---- the journal, read back -------------------------------------------- */

static int keep_row(const ens_journal_row *row, void *arg)
{
    *(ens_journal_row *)arg = *row; /* only the scalar fields are used */
    ((ens_journal_row *)arg)->ev.actor_type = NULL;
    ((ens_journal_row *)arg)->ev.msg_type = NULL;
    return 0;
}

typedef struct {
    const char *actor_type, *msg_type;
    int32_t signal; /* -1: any */
    int bad;
} row_check;

static int check_row(const ens_journal_row *row, void *arg)
{
    row_check *c = arg;
    if (strcmp(row->ev.actor_type, c->actor_type) != 0 ||
        (c->msg_type != NULL && strcmp(row->ev.msg_type, c->msg_type) != 0) ||
        (c->signal >= 0 && row->ev.signal != c->signal) || strcmp(row->system, "") == 0) {
        fprintf(stderr, "unexpected %s row: actor_type '%s' msg_type '%s' signal %d\n",
                ens_event_kind_name(row->ev.kind), row->ev.actor_type, row->ev.msg_type,
                row->ev.signal);
        c->bad++;
    }
    return 0;
}

/* Rows of one kind: their number, each checked against (actor_type,
 * msg_type (NULL: any), signal (-1: any)). */
static int rows_of(ens_journal *j, ens_event_kind kind, const char *actor_type,
                   const char *msg_type, int32_t signal)
{
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << kind;
    f.limit = 0;
    row_check c = {actor_type, msg_type, signal, 0};
    int n = ens_journal_query(j, &f, check_row, &c);
    assert_true(n >= 0);
    assert_int_equal(c.bad, 0);
    return n;
}

typedef struct {
    int64_t by_kind[ENS_EV_INIT_FAILED + 1];
} kind_counts;

static int count_cb(const ens_journal_row *row, void *arg)
{
    kind_counts *k = arg;
    if (row->ev.kind >= ENS_EV_ERROR && row->ev.kind <= ENS_EV_INIT_FAILED)
        k->by_kind[row->ev.kind] = row->seq;
    return 0;
}

/* ---- the tests ------------------------------------------------------- */

/* Fail a handler twice, send to a dead address, crash once (process base),
 * shut down, and find every event as a row. */
static void run_rows(void **state, ens_base base)
{
    fixture *fx = *state;
    ens_system *s = start(fx, base, fx->path);
    assert_string_equal(ens_system_options(s)->journal_path, fx->path);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr w;
    assert_int_equal(ens_spawn(out, &worker_def, NULL, NULL, &w), 0);

    /* error, retry, error, poison */
    ens_msg *r = NULL;
    cmd_v c = {OP_FAIL};
    assert_int_equal(ens_ask(out, w, &cmd_t, &c, WAIT_MS, &r), ENS_EPOISON);
    ens_msg_free(r);

    /* A dead letter, nobody to take it. On the process base an ask waits
     * until the admin has handled it; the inproc base refuses an ask to a
     * dead address up front, but routes a tell at once. */
    ens_addr dead = {9999, w.node, 0};
    c.op = OP_ECHO;
    if (base == ENS_BASE_PROCESS) {
        assert_int_equal(ens_ask(out, dead, &cmd_t, &c, WAIT_MS, &r), ENS_ENOACTOR);
        ens_msg_free(r); /* the error reply: why nobody was there */
        r = NULL;
    } else {
        assert_int_equal(ens_send(out, dead, &cmd_t, &c), 0);
        assert_int_equal(ens_system_run(s, 0), 0);
    }

    if (base == ENS_BASE_PROCESS) {
        /* crash, restart, retry; then the reply */
        c.op = OP_SEGV_ONCE;
        assert_int_equal(ens_ask(out, w, &cmd_t, &c, WAIT_MS, &r), 0);
        ens_msg_free(r);
    }
    /* One journal writer process; the admin never holds the file. */
    pid_t admin = 0, writer = 0;
    if (base == ENS_BASE_PROCESS) {
        writer = writer_of(s, &admin);
        assert_false(holds_file(admin, fx->path));
    }
    stop(fx);
    if (base == ENS_BASE_PROCESS) { /* nothing left behind */
        assert_true(gone(writer));
        assert_true(gone(admin));
    }

    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(fx->path, &j), 0);
    bool proc = base == ENS_BASE_PROCESS;
    assert_int_equal(rows_of(j, ENS_EV_ERROR, "jrt.Worker", "jrt.Cmd", 0), 2);
    assert_int_equal(rows_of(j, ENS_EV_POISON, "jrt.Worker", "jrt.Cmd", -1), 1);
    /* one retry after the first error; on the process base one more after
     * the crash, carrying its signal */
    assert_int_equal(rows_of(j, ENS_EV_RETRY, "jrt.Worker", "jrt.Cmd", -1), proc ? 2 : 1);
    assert_int_equal(rows_of(j, ENS_EV_DEAD_LETTER, "", "jrt.Cmd", 0), 1);
    assert_int_equal(rows_of(j, ENS_EV_CRASH, "jrt.Worker", NULL, SIGSEGV), proc ? 1 : 0);
    assert_int_equal(rows_of(j, ENS_EV_RESTART, "jrt.Worker", NULL, SIGSEGV), proc ? 1 : 0);

    /* The details of a few rows. */
    ens_journal_row row;
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_DEAD_LETTER;
    assert_int_equal(ens_journal_query(j, &f, keep_row, &row), 1);
    assert_true(ens_addr_equal(row.ev.actor, dead));
    assert_true(row.ev.msg_size > 0);
    f.kinds = 1u << ENS_EV_POISON;
    assert_int_equal(ens_journal_query(j, &f, keep_row, &row), 1);
    assert_true(ens_addr_equal(row.ev.actor, w));
    assert_int_equal(row.ev.attempt, 2);
    if (proc) {
        f.kinds = 1u << ENS_EV_RETRY;
        f.actor = w;
        row_check any = {"jrt.Worker", "jrt.Cmd", SIGSEGV, 0};
        f.limit = 1; /* newest first: the retry after the crash */
        assert_int_equal(ens_journal_query(j, &f, check_row, &any), 1);
        assert_int_equal(any.bad, 0);
    }

    /* Counted by kind. */
    kind_counts k = {{0}};
    assert_true(ens_journal_count(j, NULL, "kind", count_cb, &k) >= 4);
    assert_int_equal(k.by_kind[ENS_EV_ERROR], 2);
    assert_int_equal(k.by_kind[ENS_EV_POISON], 1);
    assert_int_equal(k.by_kind[ENS_EV_DEAD_LETTER], 1);
    assert_int_equal(k.by_kind[ENS_EV_CRASH], proc ? 1 : 0);
    ens_journal_close(j);
}

static void test_rows_inproc(void **state)
{
    run_rows(state, ENS_BASE_INPROC);
}

static void test_rows_process(void **state)
{
    run_rows(state, ENS_BASE_PROCESS);
}

/* A regular file used as a directory: the start fails with the writer's own
 * error, and nothing runs. */
static void run_bad_path(void **state, ens_base base)
{
    fixture *fx = *state;
    char file[PATH_MAX], bad[PATH_MAX + 32];
    snprintf(file, sizeof(file), "%s/plain-file", fx->dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(bad, sizeof(bad), "%s/x/y.db", file);
    ens_jwriter *w = NULL;
    int want = ens__jwriter_open(bad, "x", &w);
    assert_true(want < 0);
    assert_null(w);

    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.name = fx->name;
    o.journal_path = bad;
    o.log_path = "/dev/null"; /* the reason is logged: keep the test output clean */
    ens_system *s = NULL;
    fflush(NULL);
    assert_int_equal(ens_system_start(&o, &s), want);
    assert_null(s);
    if (base == ENS_BASE_PROCESS) {
        char title[128];
        pid_t pids[4];
        snprintf(title, sizeof(title), "ens-admin %s", fx->name);
        assert_int_equal(procs_titled(title, pids, 4), 0);
        /* The name is free: nothing was started. */
        start(fx, base, ":memory:");
        stop(fx);
    }
}

static void test_bad_path_inproc(void **state)
{
    run_bad_path(state, ENS_BASE_INPROC);
}

static void test_bad_path_process(void **state)
{
    run_bad_path(state, ENS_BASE_PROCESS);
}

/* A journal_path naming a file that is not a journal (random bytes, then
 * another program's sqlite database) refuses the start with ENS_ENOTJOURNAL,
 * not with a frame error, and leaves the file as it was. */
static void run_not_a_journal(void **state, ens_base base)
{
    fixture *fx = *state;
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 131u + 7u);
    FILE *f = fopen(fx->path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
    fclose(f);

    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.name = fx->name;
    o.journal_path = fx->path;
    o.log_path = "/dev/null"; /* the reason is logged: keep the test output clean */
    ens_system *s = NULL;
    fflush(NULL);
    assert_int_equal(ens_system_start(&o, &s), ENS_ENOTJOURNAL);
    assert_null(s);

    assert_int_equal(remove(fx->path), 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE accounts(id INTEGER, owner TEXT)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    fflush(NULL);
    assert_int_equal(ens_system_start(&o, &s), ENS_ENOTJOURNAL);
    assert_null(s);
    /* The other program's table is untouched and no journal table was added. */
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT group_concat(name) FROM sqlite_schema", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "accounts");
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_string_equal(ens_err_name(ENS_ENOTJOURNAL), "ENS_ENOTJOURNAL");
}

static void test_not_a_journal_inproc(void **state)
{
    run_not_a_journal(state, ENS_BASE_INPROC);
}

static void test_not_a_journal_process(void **state)
{
    run_not_a_journal(state, ENS_BASE_PROCESS);
}

/* A named system without journal_path journals at the default place; an
 * unnamed one has no journal. */
static void test_default_path(void **state)
{
    fixture *fx = *state;
    char saved[PATH_MAX] = "";
    const char *old = getenv("XDG_STATE_HOME");
    if (old != NULL)
        snprintf(saved, sizeof(saved), "%s", old);
    setenv("XDG_STATE_HOME", fx->dir, 1);
    char want[PATH_MAX];
    assert_true(ens_journal_default_path(fx->name, want, sizeof(want)) > 0);
    for (int b = 0; b < 2; b++) {
        ens_base base = b == 0 ? ENS_BASE_INPROC : ENS_BASE_PROCESS;
        ens_system *s = start(fx, base, NULL);
        assert_string_equal(ens_system_options(s)->journal_path, want);
        ens_addr dead = {9999, 1, 0};
        cmd_v c = {OP_ECHO};
        if (base == ENS_BASE_INPROC) {
            assert_int_equal(ens_send(ens_system_ctx(s), dead, &cmd_t, &c), 0);
            ens_system_run(s, 0);
        }
        stop(fx);
        ens_journal *j = NULL;
        assert_int_equal(ens_journal_open(want, &j), 0);
        ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
        f.kinds = 1u << ENS_EV_DEAD_LETTER;
        ens_journal_row row;
        assert_int_equal(ens_journal_query(j, &f, keep_row, &row), 1); /* from the inproc run */
        ens_journal_close(j);
    }
    if (old != NULL)
        setenv("XDG_STATE_HOME", saved, 1);
    else
        unsetenv("XDG_STATE_HOME");

    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_INPROC;
    assert_int_equal(ens_system_start(&o, &fx->sys), 0);
    assert_null(ens_system_options(fx->sys)->journal_path);
    stop(fx);
}

/* True if the log file at path has a line containing text. */
static bool log_says(const char *path, const char *text)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    char line[1024];
    bool said = false;
    while (!said && fgets(line, sizeof(line), f) != NULL)
        said = strstr(line, text) != NULL;
    fclose(f);
    return said;
}

/* SIGKILL process pid and wait until it has gone. */
static void kill_and_wait(pid_t pid)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(pfd >= 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, WAIT_MS), 1);
    close(pfd);
}

/* The writer after old: a new process (bounded wait), or 0 if none came. */
static pid_t next_writer(pid_t admin, pid_t old, int wait_ms)
{
    test_deadline d = test_deadline_in(wait_ms);
    for (;;) {
        pid_t w = 0;
        if (writers_of(admin, &w) == 1 && w != old)
            return w;
        if (test_deadline_passed(d))
            return 0;
        test_nap_ms(1); /* polling /proc: nothing to wait on */
    }
}

static ens_system *start_logged(fixture *fx, const char *log)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    o.name = fx->name;
    o.journal_path = fx->path;
    o.log_path = log;
    o.log_level = ENS_LOG_WARN;
    fflush(NULL);
    assert_int_equal(ens_system_start(&o, &fx->sys), 0);
    return fx->sys;
}

/* The journal writer process killed: the admin starts a new one, journals
 * the writer's crash, and the failures after it are journaled as before. */
static void test_writer_killed(void **state)
{
    fixture *fx = *state;
    char log[PATH_MAX + 16];
    snprintf(log, sizeof(log), "%s/log", fx->dir);
    ens_system *s = start_logged(fx, log);
    ens_ctx *out = ens_system_ctx(s);
    pid_t admin = 0, writer = writer_of(s, &admin);
    kill_and_wait(writer);
    pid_t second = next_writer(admin, writer, WAIT_MS);
    assert_true(second > 0);

    ens_addr w;
    assert_int_equal(ens_spawn(out, &worker_def, NULL, NULL, &w), 0);
    ens_msg *r = NULL;
    cmd_v c = {OP_FAIL};
    assert_int_equal(ens_ask(out, w, &cmd_t, &c, WAIT_MS, &r), ENS_EPOISON);
    ens_msg_free(r);
    c.op = OP_ECHO;
    assert_int_equal(ens_ask(out, w, &cmd_t, &c, WAIT_MS, &r), 0);
    ens_msg_free(r);
    stop(fx);

    assert_true(log_says(log, "a new one was started"));
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(fx->path, &j), 0);
    assert_int_equal(rows_of(j, ENS_EV_CRASH, "ens.JournalWriter", NULL, SIGKILL), 1);
    assert_int_equal(rows_of(j, ENS_EV_POISON, "jrt.Worker", NULL, -1), 1);
    ens_journal_close(j);
}

/* A writer that dies again and again is started JOURNAL_RESTART_MAX (5)
 * times within a minute, then no more: the admin says so, and the system
 * runs on without a journal. */
static void test_writer_dies_too_often(void **state)
{
    fixture *fx = *state;
    char log[PATH_MAX + 16];
    snprintf(log, sizeof(log), "%s/log", fx->dir);
    ens_system *s = start_logged(fx, log);
    pid_t admin = 0, writer = writer_of(s, &admin);
    for (int i = 0; i < 5; i++) {
        kill_and_wait(writer);
        pid_t next = next_writer(admin, writer, WAIT_MS);
        assert_true(next > 0);
        writer = next;
    }
    kill_and_wait(writer);
    test_deadline logged = test_deadline_in(WAIT_MS);
    bool said;
    while (!(said = log_says(log, "died too often")) && !test_deadline_passed(logged))
        test_nap_ms(1); /* polling the log: nothing to wait on */
    assert_true(said);
    pid_t none = 0;
    assert_int_equal(writers_of(admin, &none), 0);
    ens_addr w;
    ens_msg *r = NULL;
    cmd_v c = {OP_ECHO};
    assert_int_equal(ens_spawn(ens_system_ctx(s), &worker_def, NULL, NULL, &w), 0);
    assert_int_equal(ens_ask(ens_system_ctx(s), w, &cmd_t, &c, WAIT_MS, &r), 0);
    ens_msg_free(r);
    stop(fx);
}

static int count_any(const ens_journal_row *row, void *arg)
{
    (void)row;
    (*(int *)arg)++;
    return 0;
}

static int journal_rows(const char *path)
{
    ens_journal *j = NULL;
    if (ens_journal_open(path, &j) != 0)
        return -1;
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.limit = 0;
    int n = 0;
    int rc = ens_journal_query(j, &f, count_any, &n);
    ens_journal_close(j);
    return rc < 0 ? rc : n;
}

/* The admin killed with SIGKILL: every actor process and the writer end
 * within 2 s, the outside program gets a clear error on its next call, and
 * the journal opens clean (integrity_check) holding every row that was
 * committed before the kill. */
static void test_admin_killed(void **state)
{
    fixture *fx = *state;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); /* orphans come to us */
    ens_system *s = start(fx, ENS_BASE_PROCESS, fx->path);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr w[3];
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ens_spawn(out, &worker_def, NULL, NULL, &w[i]), 0);
        ens_status *st = NULL;
        assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
        pids[i] = ens_status_at(st, ens_status_count(st) - 1)->pid;
        ens_status_free(st);
    }
    /* 10 poisoned asks: 4 rows each (error, retry, error, poison). */
    for (int i = 0; i < 10; i++) {
        ens_msg *r = NULL;
        cmd_v c = {OP_FAIL};
        assert_int_equal(ens_ask(out, w[i % 3], &cmd_t, &c, WAIT_MS, &r), ENS_EPOISON);
        ens_msg_free(r);
    }
    /* Acknowledged means committed: wait until the rows are readable. */
    test_deadline readable = test_deadline_in(WAIT_MS);
    int committed;
    while ((committed = journal_rows(fx->path)) < 40 && !test_deadline_passed(readable))
        ;
    assert_int_equal(committed, 40);
    pid_t admin = 0, writer = writer_of(s, &admin);
    assert_int_equal(kill(admin, SIGKILL), 0);
    int64_t t0 = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0 = ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (int i = 0; i < 3; i++) {
        while (!gone(pids[i])) {
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            assert_true(ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0 < 2000);
        }
    }
    while (!gone(writer)) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        assert_true(ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - t0 < 2000);
    }
    ens_msg *r = NULL;
    cmd_v c = {OP_ECHO};
    assert_int_equal(ens_ask(out, w[0], &cmd_t, &c, WAIT_MS, &r), ENS_ESHUTDOWN);
    assert_null(r);
    fx->sys = NULL;
    ens_system_close(s, 1000);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(journal_rows(fx->path) >= committed);
    printf("# admin SIGKILLed: actors and writer gone within 2 s, next call ENS_ESHUTDOWN, "
           "journal integrity ok with all %d committed rows\n",
           committed);
}

/* ":memory:" is allowed on both bases. */
static void test_memory_journal(void **state)
{
    fixture *fx = *state;
    for (int b = 0; b < 2; b++) {
        ens_system *s = start(fx, b == 0 ? ENS_BASE_INPROC : ENS_BASE_PROCESS, ":memory:");
        ens_addr w;
        assert_int_equal(ens_spawn(ens_system_ctx(s), &worker_def, NULL, NULL, &w), 0);
        ens_msg *r = NULL;
        cmd_v c = {OP_FAIL};
        assert_int_equal(ens_ask(ens_system_ctx(s), w, &cmd_t, &c, WAIT_MS, &r), ENS_EPOISON);
        ens_msg_free(r);
        stop(fx);
    }
}

int main(void)
{
    if (ens_msgtype_register(&cmd_t) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows_inproc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_path_inproc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_path_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_journal_inproc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_journal_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_dies_too_often, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_killed, setup, teardown),
    };
    return cmocka_run_group_tests_name("journal_runtime", tests, NULL, NULL);
}

/*
 * tests/test_files.c - the files a system writes cannot be pointed elsewhere
 * by another local user (core/runtime/files.h): a symbolic link, a hard link, a
 * FIFO or another user's file planted at the log path or beside the failure
 * journal is refused at ens_system_start (ENS_EUNSAFE) and what it points
 * to stays unchanged; so is a directory others may change. Files the system
 * creates are private (0600) whatever the umask.
 *
 * The directories stand in for /tmp: mode 01777 (anyone may plant a name,
 * no one may move another's). Checks that need a second uid chown to
 * nobody (65534) as root and skip otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"
#include "support/scratch.h"

#define NOBODY 65534

typedef struct fixture {
    char dir[64];  /* the shared directory (01777), where names are planted */
    char mine[96]; /* a private directory of ours, holding the "victim" */
    char victim[128];
} fixture;

static const char victim_text[] = "a file of ours that must not change\n";

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void assert_victim_unchanged(const fixture *fx)
{
    char buf[256] = "";
    int fd = open(fx->victim, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, victim_text);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ens-files-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(chmod(fx->dir, 01777), 0);
    snprintf(fx->mine, sizeof(fx->mine), "%s/mine", fx->dir);
    assert_int_equal(mkdir(fx->mine, 0700), 0);
    snprintf(fx->victim, sizeof(fx->victim), "%s/victim", fx->mine);
    write_file(fx->victim, victim_text);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    test_tree_remove(fx->dir);
    free(fx);
    return 0;
}

static void path_in(const fixture *fx, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", fx->dir, name);
}

/* Start an inproc system with the given log and journal paths (NULL: none);
 * returns the start's result and shuts a started system down. */
static int try_start(ens_base base, const char *log, const char *journal)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.log_path = log;
    o.journal_path = journal != NULL ? journal : "";
    ens_system *s = NULL;
    int rc = ens_system_start(&o, &s);
    if (rc == 0)
        assert_int_equal(ens_system_close(s, 5000), 0);
    else
        assert_null(s);
    return rc;
}

static bool skip_unless_root(const char *what)
{
    if (geteuid() == 0)
        return false;
    print_message("%s needs a second uid (run as root): skipped\n", what);
    return true;
}

/* ---- the log ---------------------------------------------------------- */

static void test_symlinked_log_is_refused_and_its_target_unchanged(void **state)
{
    fixture *fx = *state;
    char log[160];
    path_in(fx, "ens.log", log, sizeof(log));
    assert_int_equal(symlink(fx->victim, log), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
    assert_int_equal(try_start(ENS_BASE_PROCESS, log, NULL), ENS_EUNSAFE);
    assert_victim_unchanged(fx);

    /* A dangling link does not create its target either. */
    char missing[160], dangling[160];
    snprintf(missing, sizeof(missing), "%s/created", fx->mine);
    path_in(fx, "dangling.log", dangling, sizeof(dangling));
    assert_int_equal(symlink(missing, dangling), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, dangling, NULL), ENS_EUNSAFE);
    assert_int_equal(access(missing, F_OK), -1);
}

static void test_fifo_log_is_refused_with_or_without_a_reader(void **state)
{
    fixture *fx = *state;
    char log[160];
    path_in(fx, "fifo.log", log, sizeof(log));
    assert_int_equal(mkfifo(log, 0600), 0);
    /* With a reader an open for writing succeeds: only the check refuses. */
    int reader = open(log, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(reader >= 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
    char buf[64];
    assert_true(read(reader, buf, sizeof(buf)) <= 0); /* nothing was written to it */
    close(reader);
    /* Without one the open must not hang. */
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
}

static void test_hard_linked_log_is_refused_and_its_target_unchanged(void **state)
{
    fixture *fx = *state;
    char log[160];
    path_in(fx, "linked.log", log, sizeof(log));
    assert_int_equal(link(fx->victim, log), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
    assert_victim_unchanged(fx);
}

static void test_log_of_another_user_is_refused(void **state)
{
    fixture *fx = *state;
    if (skip_unless_root("a log file of another uid"))
        skip();
    char log[160];
    path_in(fx, "theirs.log", log, sizeof(log));
    write_file(log, "");
    assert_int_equal(chmod(log, 0666), 0);
    assert_int_equal(chown(log, NOBODY, NOBODY), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_size, 0);
}

static void test_directory_others_may_change_is_refused(void **state)
{
    fixture *fx = *state;
    char sub[160], log[200];
    path_in(fx, "open", sub, sizeof(sub));
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chmod(sub, 0777), 0); /* others may rename our file away */
    snprintf(log, sizeof(log), "%s/ens.log", sub);
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
    assert_int_equal(access(log, F_OK), -1);
    assert_int_equal(chmod(sub, 01777), 0); /* sticky: as /tmp */
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), 0);
    if (geteuid() != 0)
        return;
    /* A directory of another user: its owner decides what names mean. */
    assert_int_equal(unlink(log), 0);
    assert_int_equal(chmod(sub, 0755), 0);
    assert_int_equal(chown(sub, NOBODY, NOBODY), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
    assert_int_equal(access(log, F_OK), -1);
}

static void test_link_of_another_user_in_the_path_is_refused(void **state)
{
    fixture *fx = *state;
    if (skip_unless_root("a symbolic link of another uid"))
        skip();
    char evil[160], log[200], landed[200];
    path_in(fx, "evil", evil, sizeof(evil));
    assert_int_equal(symlink(fx->mine, evil), 0);
    snprintf(log, sizeof(log), "%s/victim", evil); /* would be our own file */
    snprintf(landed, sizeof(landed), "%s/ens.log", evil);
    assert_int_equal(lchown(evil, NOBODY, NOBODY), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, log, NULL), ENS_EUNSAFE);
    assert_int_equal(try_start(ENS_BASE_INPROC, landed, NULL), ENS_EUNSAFE);
    assert_victim_unchanged(fx);
    /* Our own link is ours to follow. */
    assert_int_equal(lchown(evil, 0, 0), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, landed, NULL), 0);
}

static void test_dev_null_is_a_log_that_is_thrown_away(void **state)
{
    (void)state;
    assert_int_equal(try_start(ENS_BASE_INPROC, "/dev/null", NULL), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, "/dev/zero", NULL), ENS_EUNSAFE);
}

/* ---- the journal ------------------------------------------------------ */

static void assert_victim_still_there_and_not_a_journal(const fixture *fx)
{
    assert_victim_unchanged(fx);
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(fx->victim, &j), ENS_ENOTJOURNAL);
}

static void test_symlinked_journal_is_refused_and_its_target_unchanged(void **state)
{
    fixture *fx = *state;
    char db[160];
    path_in(fx, "j.db", db, sizeof(db));
    assert_int_equal(symlink(fx->victim, db), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, NULL, db), ENS_EUNSAFE);
    assert_int_equal(try_start(ENS_BASE_PROCESS, NULL, db), ENS_EUNSAFE);
    assert_victim_still_there_and_not_a_journal(fx);
    /* An empty file of ours is what sqlite would turn into a journal. */
    write_file(fx->victim, "");
    assert_int_equal(try_start(ENS_BASE_INPROC, NULL, db), ENS_EUNSAFE);
    struct stat st;
    assert_int_equal(stat(fx->victim, &st), 0);
    assert_int_equal(st.st_size, 0);
    /* Readers do not go through a link either. */
    write_file(fx->victim, victim_text);
    ens_journal *j = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(db, &j, why, sizeof(why)), ENS_EUNSAFE);
    assert_null(j);
    assert_non_null(strstr(why, "symbolic link"));
}

static void test_linked_wal_or_shm_is_refused_before_sqlite_opens(void **state)
{
    fixture *fx = *state;
    static const char *const companions[] = {"-wal", "-shm", "-journal"};
    char db[160], side[176];
    path_in(fx, "j.db", db, sizeof(db));
    for (size_t i = 0; i < 3; i++) {
        snprintf(side, sizeof(side), "%s%s", db, companions[i]);
        /* A symbolic link: sqlite would refuse it too, but only after it
         * created the database; the check comes first. */
        assert_int_equal(symlink(fx->victim, side), 0);
        assert_int_equal(try_start(ENS_BASE_INPROC, NULL, db), ENS_EUNSAFE);
        assert_int_equal(access(db, F_OK), -1);
        assert_int_equal(unlink(side), 0);
        /* A hard link: sqlite would take it as its own and overwrite it. */
        assert_int_equal(link(fx->victim, side), 0);
        assert_int_equal(try_start(ENS_BASE_INPROC, NULL, db), ENS_EUNSAFE);
        assert_int_equal(access(db, F_OK), -1);
        assert_int_equal(unlink(side), 0);
        assert_victim_unchanged(fx);
    }
}

static void test_journal_files_of_another_user_are_refused(void **state)
{
    fixture *fx = *state;
    if (skip_unless_root("journal files of another uid"))
        skip();
    char db[160], wal[176];
    path_in(fx, "j.db", db, sizeof(db));
    snprintf(wal, sizeof(wal), "%s-wal", db);
    /* A database planted by another user. */
    write_file(db, "");
    assert_int_equal(chown(db, NOBODY, NOBODY), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, NULL, db), ENS_EUNSAFE);
    assert_int_equal(unlink(db), 0);
    /* A WAL planted beside our journal: refused by writer and reader. */
    assert_int_equal(try_start(ENS_BASE_INPROC, NULL, db), 0);
    write_file(wal, "");
    assert_int_equal(chmod(wal, 0666), 0);
    assert_int_equal(chown(wal, NOBODY, NOBODY), 0);
    assert_int_equal(try_start(ENS_BASE_INPROC, NULL, db), ENS_EUNSAFE);
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(db, &j), ENS_EUNSAFE);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_size, 0);
}

/* ---- created files are private --------------------------------------- */

static void assert_mode_0600(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    if ((st.st_mode & 07777) != 0600)
        fail_msg("%s has mode %04o, not 0600", path, (unsigned)(st.st_mode & 07777));
}

/* Wait until path exists (the process base's journal writer opens it after
 * the start returned). */
static void wait_exists(const char *path)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (access(path, F_OK) == 0)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 30)
            fail_msg("%s did not appear within 30 s", path);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
}

static void check_created_files_are_private(const fixture *fx, ens_base base)
{
    char log[160], db[160], wal[176], shm[176];
    path_in(fx, base == ENS_BASE_INPROC ? "in.log" : "pr.log", log, sizeof(log));
    path_in(fx, base == ENS_BASE_INPROC ? "in.db" : "pr.db", db, sizeof(db));
    snprintf(wal, sizeof(wal), "%s-wal", db);
    snprintf(shm, sizeof(shm), "%s-shm", db);
    mode_t old = umask(022); /* sqlite's own default would give 0644 */
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.log_path = log;
    o.journal_path = db;
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    umask(old);
    /* The journal stays open while the system runs: its WAL and
     * shared-memory files exist (inproc: in this program; process base:
     * in the journal writer process). */
    wait_exists(wal);
    wait_exists(shm);
    assert_mode_0600(log);
    assert_mode_0600(db);
    assert_mode_0600(wal);
    assert_mode_0600(shm);
    assert_int_equal(ens_system_close(s, 5000), 0);
    /* And a second start takes the files it made. */
    assert_int_equal(try_start(base, log, db), 0);
}

static void test_created_log_and_journal_files_are_0600(void **state)
{
    fixture *fx = *state;
    check_created_files_are_private(fx, ENS_BASE_INPROC);
    check_created_files_are_private(fx, ENS_BASE_PROCESS);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_symlinked_log_is_refused_and_its_target_unchanged),
        T(test_fifo_log_is_refused_with_or_without_a_reader),
        T(test_hard_linked_log_is_refused_and_its_target_unchanged),
        T(test_log_of_another_user_is_refused),
        T(test_directory_others_may_change_is_refused),
        T(test_link_of_another_user_in_the_path_is_refused),
        T(test_dev_null_is_a_log_that_is_thrown_away),
        T(test_symlinked_journal_is_refused_and_its_target_unchanged),
        T(test_linked_wal_or_shm_is_refused_before_sqlite_opens),
        T(test_journal_files_of_another_user_are_refused),
        T(test_created_log_and_journal_files_are_0600),
    };
#undef T
    return cmocka_run_group_tests_name("files", tests, NULL, NULL);
}

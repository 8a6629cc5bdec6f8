/*
 * tests/test_journal.c - the failure journal read back: the writer
 * (persistence/journal_writer.h) and the query API (ensemble/journal.h)
 * against real files: every field, order and limits, every filter, counts,
 * odd strings, batches, a reader beside an open writer; paths (missing
 * directories, read-only files, the default path). Damage (full disk,
 * SIGKILL, files that are not a journal, schema versions) is
 * tests/test_journal_damage.c.
 *
 * Each test works in its own temporary directory. Rows are checked against
 * a reference filter written here over the same generated events.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "persistence/journal_schema.h"
#include "persistence/journal_writer.h"

#include "support/journal_cases.h"

static bool matches(const ens_event *e, const ens_journal_filter *f)
{
    if (!ens_addr_is_none(f->actor) && !ens_addr_equal(f->actor, e->actor))
        return false;
    if (f->actor_type != NULL && strcmp(f->actor_type, e->actor_type) != 0)
        return false;
    if (f->msg_type != NULL && strcmp(f->msg_type, e->msg_type) != 0)
        return false;
    if (f->kinds != 0 && !(f->kinds & (1u << e->kind)))
        return false;
    if (f->since_ms != 0 && e->at_ms < f->since_ms)
        return false;
    if (f->until_ms != 0 && e->at_ms >= f->until_ms)
        return false;
    return true;
}

/* The reference answer: matching indexes, newest first (at_ms, then
 * insertion order), cut at the limit. */
static int expected(const journal_fixture *fx, const ens_journal_filter *f, int *out)
{
    int n = 0;
    for (int i = 0; i < NEV; i++)
        if (matches(&fx->ev[i], f))
            out[n++] = i;
    for (int a = 1; a < n; a++) /* insertion sort, newest first */
        for (int b = a; b > 0; b--) {
            const ens_event *x = &fx->ev[out[b - 1]], *y = &fx->ev[out[b]];
            if (x->at_ms > y->at_ms || (x->at_ms == y->at_ms && out[b - 1] > out[b]))
                break;
            int t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    if (f->limit != 0 && n > (int)f->limit)
        n = (int)f->limit;
    return n;
}

static void check_query(journal_fixture *fx, ens_journal *j, const ens_journal_filter *f)
{
    int want[NEV];
    int n = expected(fx, f, want);
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, f, journal_collect, &s), n);
    assert_int_equal(s.n, n);
    for (int k = 0; k < n; k++)
        assert_int_equal(s.idx[k], want[k]);
}

static void test_written_events_read_back_with_every_field(void **state)
{
    journal_fixture *fx = *state;
    journal_write_all(fx);
    ens_journal *j = journal_open_reader(fx->db);
    /* Event 3 (a crash: kind 4) is the only one at BASE + 21 s. */
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.since_ms = BASE_MS + 21000;
    f.until_ms = BASE_MS + 21001;
    journal_one_row o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    const ens_event *e = &fx->ev[3];
    assert_int_equal(o.row.seq, 4);
    assert_int_equal(o.row.ev.at_ms, e->at_ms);
    assert_int_equal(o.row.ev.kind, ENS_EV_CRASH);
    assert_true(ens_addr_equal(o.row.ev.actor, e->actor));
    assert_true(ens_addr_equal(o.row.ev.parent, e->parent));
    assert_true(ens_addr_equal(o.row.ev.sender, e->sender));
    assert_string_equal(o.system, "testsys");
    char host[256] = "";
    gethostname(host, sizeof(host));
    assert_string_equal(o.host, host);
    assert_string_equal(o.type, e->actor_type);
    assert_string_equal(o.msg, e->msg_type);
    assert_string_equal(o.reason, "reason 3");
    assert_int_equal(o.row.ev.error, ENS_EINVAL);
    assert_string_equal(o.err, "ENS_EINVAL");
    assert_int_equal(o.row.ev.signal, 11);
    assert_int_equal(o.row.ev.attempt, e->attempt);
    assert_int_equal(o.row.ev.incarnation, e->incarnation);
    assert_int_equal(o.row.ev.msg_size, e->msg_size);
    /* A top-level actor's parent and a message without sender stay none. */
    f.since_ms = fx->ev[0].at_ms;
    f.until_ms = fx->ev[0].at_ms + 1;
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    assert_true(ens_addr_is_none(o.row.ev.parent));
    assert_true(ens_addr_is_none(o.row.ev.sender));
    assert_string_equal(o.err, "");
    ens_journal_close(j);
}

static void test_rows_come_newest_first_and_limit_cuts(void **state)
{
    journal_fixture *fx = *state;
    journal_write_all(fx);
    ens_journal *j = journal_open_reader(fx->db);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.limit = 0;
    check_query(fx, j, &f);
    f.limit = 7;
    check_query(fx, j, &f);
    f.limit = 1;
    check_query(fx, j, &f);
    /* NULL filter: every row. */
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), NEV);
    for (int k = 1; k < s.n; k++)
        assert_true(fx->ev[s.idx[k - 1]].at_ms > fx->ev[s.idx[k]].at_ms);
    /* A callback that returns nonzero stops the query. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 5;
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), 5);
    ens_journal_close(j);
}

static void test_every_filter_selects_the_matching_rows(void **state)
{
    journal_fixture *fx = *state;
    journal_write_all(fx);
    ens_journal *j = journal_open_reader(fx->db);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){17, 1, 0};
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){17, 2, 0}; /* same id, other node: nothing */
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.actor_type = "cache";
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.msg_type = "tick";
    check_query(fx, j, &f);
    f.msg_type = "";
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_CRASH;
    check_query(fx, j, &f);
    f.kinds |= 1u << ENS_EV_POISON | 1u << ENS_EV_DEAD_LETTER;
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.since_ms = BASE_MS + 30000;
    check_query(fx, j, &f);
    f.until_ms = BASE_MS + 45000;
    check_query(fx, j, &f);
    f.since_ms = 0;
    check_query(fx, j, &f);
    /* All at once, and a filter that matches nothing. */
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){16, 1, 0};
    f.actor_type = "worker";
    f.kinds = 0x7fe;
    f.since_ms = BASE_MS + 5000;
    f.until_ms = BASE_MS + 55000;
    f.limit = 3;
    check_query(fx, j, &f);
    f.actor_type = "nobody";
    check_query(fx, j, &f);
    /* A kinds bit that names no kind is an error, not an empty answer. */
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << 30;
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, &f, journal_collect, &s), ENS_EINVAL);
    assert_true(strlen(ens_journal_errmsg(j)) > 0);
    assert_int_equal(ens_journal_query(j, NULL, NULL, NULL), ENS_EINVAL);
    assert_int_equal(ens_journal_query(NULL, NULL, journal_collect, &s), ENS_EINVAL);
    ens_journal_close(j);
}

static void test_counts_group_by_kind_and_by_actor_type(void **state)
{
    journal_fixture *fx = *state;
    journal_write_all(fx);
    ens_journal *j = journal_open_reader(fx->db);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.limit = 1; /* ignored by counts */
    journal_seen s = {0};
    assert_int_equal(ens_journal_count(j, &f, "kind", journal_count_kind, &s), 11);
    for (int k = 1; k <= 11; k++) {
        int64_t want = 0;
        for (int i = 0; i < NEV; i++)
            want += fx->ev[i].kind == (ens_event_kind)k;
        assert_int_equal(s.count[k], want);
    }
    memset(&s, 0, sizeof(s));
    f.actor_type = "cache";
    f.kinds = 1u << ENS_EV_ERROR | 1u << ENS_EV_RETRY;
    assert_int_equal(ens_journal_count(j, &f, "kind", journal_count_kind, &s), 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ens_journal_count(j, NULL, "actor_type", journal_count_type, &s), 3);
    for (int g = 0; g < 3; g++)
        assert_int_equal(s.type_count[g], NEV / 3);
    assert_int_equal(ens_journal_count(j, NULL, "reason", journal_count_type, &s), ENS_EINVAL);
    assert_int_equal(ens_journal_count(j, NULL, NULL, journal_count_type, &s), ENS_EINVAL);
    ens_journal_close(j);
}

static void test_strings_with_quotes_newlines_and_unicode_survive(void **state)
{
    journal_fixture *fx = *state;
    static const char tricky[] = "it said \"no\";\nDROP TABLE failures; -- 'x' \t\\ é ∂ 🎉";
    ens_event e = fx->ev[0];
    e.reason = tricky;
    e.actor_type = "tÿpe'\"";
    e.msg_type = NULL; /* NULL strings are taken as "" */
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "sys \"quoted\"", &w), 0);
    assert_int_equal(ens__jwriter_append(w, &e), 0);
    ens__jwriter_close(w); /* close flushes */
    ens_journal *j = journal_open_reader(fx->db);
    journal_one_row o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(ens_journal_query(j, NULL, journal_keep_first, &o), 1);
    assert_string_equal(o.reason, tricky);
    assert_string_equal(o.type, "tÿpe'\"");
    assert_string_equal(o.msg, "");
    assert_string_equal(o.system, "sys \"quoted\"");
    /* User text in a filter is a bound value, never SQL. */
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor_type = "tÿpe'\"";
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, &f, journal_collect, &s), 1);
    f.actor_type = "x' OR '1'='1";
    assert_int_equal(ens_journal_query(j, &f, journal_collect, &s), 0);
    ens_journal_close(j);
}

static void test_memory_journal_takes_events(void **state)
{
    journal_fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(":memory:", "mem", &w), 0);
    for (int i = 0; i < NEV; i++)
        assert_int_equal(ens__jwriter_append(w, &fx->ev[i]), 0);
    assert_int_equal(ens__jwriter_pending(w), NEV);
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(ens__jwriter_pending(w), 0);
    assert_int_equal(ens__jwriter_set_durable(w, true), 0);
    assert_int_equal(ens__jwriter_set_durable(w, false), 0);
    assert_string_equal(ens__jwriter_last_error(w), "");
    ens__jwriter_close(w);
    ens__jwriter_close(NULL);
    ens_journal_close(NULL);
    assert_int_equal(ens__jwriter_dropped(NULL), 0);
    assert_string_equal(ens__jwriter_last_error(NULL), "");
    assert_int_equal(ens__jwriter_append(NULL, &fx->ev[0]), ENS_EINVAL);
    assert_int_equal(ens__jwriter_flush(NULL), ENS_EINVAL);
}

static void test_batch_at_its_bound_flushes_by_itself(void **state)
{
    journal_fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "bound", &w), 0);
    for (uint32_t i = 0; i < ENS__JWRITER_BATCH_MAX; i++)
        assert_int_equal(ens__jwriter_append(w, &fx->ev[i % NEV]), 0);
    assert_int_equal(ens__jwriter_pending(w), ENS__JWRITER_BATCH_MAX);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[0]), 0);
    assert_int_equal(ens__jwriter_pending(w), 1);
    assert_int_equal(ens__jwriter_dropped(w), 0);
    assert_int_equal(journal_count_rows(fx->db), ENS__JWRITER_BATCH_MAX);
    ens__jwriter_close(w);
    assert_int_equal(journal_count_rows(fx->db), ENS__JWRITER_BATCH_MAX + 1);
}

/* A keyed event written twice (in one batch, in a later transaction, by a
 * second writer on the same file) is one row; the same number in another
 * run, and unkeyed events, are rows of their own. */
static void test_keyed_event_written_twice_is_one_row(void **state)
{
    journal_fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "keyed", &w), 0);
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[0], 77, 1), 0);
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[1], 77, 2), 0);
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[1], 77, 2), 0); /* same batch */
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(journal_count_rows(fx->db), 2);
    assert_int_equal(ens__jwriter_duplicates(w), 1);
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[0], 77, 1), 0); /* committed before */
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[2], 77, 3), 0);
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[0], 78, 1), 0); /* another run */
    assert_int_equal(ens__jwriter_append(w, &fx->ev[3]), 0);              /* no key */
    assert_int_equal(ens__jwriter_append(w, &fx->ev[3]), 0);
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(journal_count_rows(fx->db), 6);
    assert_int_equal(ens__jwriter_duplicates(w), 2);
    ens__jwriter_close(w);
    /* A second writer, as after a restart, given the last events again. */
    assert_int_equal(ens__jwriter_open(fx->db, "keyed", &w), 0);
    for (uint64_t seq = 1; seq <= 4; seq++)
        assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[seq % NEV], 77, seq), 0);
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(ens__jwriter_duplicates(w), 3);
    ens__jwriter_close(w);
    assert_int_equal(journal_count_rows(fx->db), 7);
    /* The row that was kept is the first one written. */
    ens_journal *j = journal_open_reader(fx->db);
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), 7);
    int first = 0;
    for (int i = 0; i < s.n; i++)
        first += s.idx[i] == 0;
    assert_int_equal(first, 2); /* run 77 and run 78 */
    ens_journal_close(j);
    assert_int_equal(ens__jwriter_append_keyed(NULL, &fx->ev[0], 1, 1), ENS_EINVAL);
    assert_int_equal(ens__jwriter_duplicates(NULL), 0);
    assert_int_equal(ens__jwriter_open(":memory:", "keyed", &w), 0);
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[0], UINT64_MAX, 1), ENS_EINVAL);
    assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[0], 1, UINT64_MAX), ENS_EINVAL);
    ens__jwriter_close(w);
}

static void test_reader_sees_commits_while_the_writer_stays_open(void **state)
{
    journal_fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "live", &w), 0);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[0]), 0);
    assert_int_equal(ens__jwriter_flush(w), 0);
    ens_journal *j = journal_open_reader(fx->db);
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), 1);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[1]), 0);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[2]), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), 1); /* not flushed yet */
    assert_int_equal(ens__jwriter_flush(w), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), 3);
    ens_journal_close(j);
    ens__jwriter_close(w);
}

/* ---- paths ---- */

static void test_writer_creates_missing_directories_private(void **state)
{
    journal_fixture *fx = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/c/sys.db", fx->dir);
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(path, "sys", &w), 0);
    ens__jwriter_close(w);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/a/b/c", fx->dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    ens_journal *j = journal_open_reader(path);
    ens_journal_close(j);
}

static void test_directory_that_cannot_be_created_fails_at_open(void **state)
{
    journal_fixture *fx = *state;
    char file[256], path[300];
    snprintf(file, sizeof(file), "%s/plainfile", fx->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/sub/j.db", file); /* under a regular file */
    ens_jwriter *w = (ens_jwriter *)1;
    char why[256];
    assert_int_equal(ens__jwriter_open_why(path, "sys", &w, why, sizeof(why)), ENS_EIO);
    assert_null(w);
    assert_non_null(strstr(why, "cannot create directory"));
    assert_non_null(strstr(why, "Not a directory"));
    assert_int_equal(ens__jwriter_open(NULL, "sys", &w), ENS_EINVAL);
    assert_int_equal(ens__jwriter_open("", "sys", &w), ENS_EINVAL);
}

static void test_missing_journal_is_enoent_and_not_created(void **state)
{
    journal_fixture *fx = *state;
    ens_journal *j = (ens_journal *)1;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOENT);
    assert_null(j);
    assert_non_null(strstr(why, "No such file"));
    assert_int_equal(access(fx->db, F_OK), -1);
    assert_int_equal(ens_journal_open(fx->dir, &j), ENS_ENOTJOURNAL); /* a directory */
    assert_int_equal(ens_journal_open(NULL, &j), ENS_EINVAL);
}

static void test_read_only_journal_is_refused_at_writer_open(void **state)
{
    journal_fixture *fx = *state;
    journal_write_all(fx);
    assert_int_equal(chmod(fx->db, 0444), 0);
    assert_int_equal(chmod(fx->dir, 0755), 0);
    /* Root ignores permission bits: the check runs in a child that drops
     * to the unprivileged user "nobody" first. */
    struct passwd *nobody = getpwnam("nobody");
    uid_t uid = nobody != NULL ? nobody->pw_uid : 65534;
    gid_t gid = nobody != NULL ? nobody->pw_gid : 65534;
    /* The writer takes only a file of its own user (core/runtime/files.h): the
     * read-only file must be nobody's. */
    bool root = geteuid() == 0;
    if (root)
        assert_int_equal(chown(fx->db, uid, gid), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        char msg[300] = "";
        int rc = 0;
        if (root && (setgid(gid) != 0 || setuid(uid) != 0)) {
            snprintf(msg, sizeof(msg), "SKIP cannot drop root: %s", strerror(errno));
        } else {
            ens_jwriter *w = NULL;
            char why[256] = "";
            rc = ens__jwriter_open_why(fx->db, "ro", &w, why, sizeof(why));
            snprintf(msg, sizeof(msg), "%d %s", rc, why);
            ens__jwriter_close(w);
        }
        ssize_t n = write(pfd[1], msg, strlen(msg) + 1);
        _exit(n > 0 ? 0 : 1);
    }
    close(pfd[1]);
    char msg[300] = "";
    ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(n > 0);
    if (strncmp(msg, "SKIP", 4) == 0) {
        print_message("read-only test skipped: %s\n", msg + 5);
        skip();
    }
    int rc = atoi(msg);
    assert_int_equal(rc, ENS_EIO);
    assert_non_null(strstr(msg, "read-only"));
    /* Reading a read-only journal is fine. */
    ens_journal *j = journal_open_reader(fx->db);
    ens_journal_close(j);
}

/* ---- default path ---- */

static void test_default_path_follows_xdg_state_home_then_home(void **state)
{
    (void)state;
    char buf[256];
    char *old_xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("XDG_STATE_HOME", "/state", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(ens_journal_default_path("sys", buf, sizeof(buf)),
                     (int)strlen("/state/ensemble/sys.db"));
    assert_string_equal(buf, "/state/ensemble/sys.db");
    setenv("XDG_STATE_HOME", "relative", 1); /* invalid per XDG: ignored */
    ens_journal_default_path(NULL, buf, sizeof(buf));
    assert_string_equal(buf, "/home/u/.local/state/ensemble/default.db");
    unsetenv("XDG_STATE_HOME");
    assert_true(ens_journal_default_path("a", buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "/home/u/.local/state/ensemble/a.db");
    assert_int_equal(ens_journal_default_path("a", buf, 5), ENS_ENOBUFS);
    assert_int_equal(ens_journal_default_path("", buf, sizeof(buf)), ENS_EINVAL);
    assert_int_equal(ens_journal_default_path("a/b", buf, sizeof(buf)), ENS_EINVAL);
    assert_int_equal(ens_journal_default_path("..", buf, sizeof(buf)), ENS_EINVAL);
    unsetenv("HOME");
    assert_int_equal(ens_journal_default_path("a", buf, sizeof(buf)), ENS_EINVAL);
    if (old_xdg != NULL)
        setenv("XDG_STATE_HOME", old_xdg, 1);
    if (old_home != NULL)
        setenv("HOME", old_home, 1);
    free(old_xdg);
    free(old_home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_written_events_read_back_with_every_field,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_rows_come_newest_first_and_limit_cuts, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_every_filter_selects_the_matching_rows, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_counts_group_by_kind_and_by_actor_type, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_strings_with_quotes_newlines_and_unicode_survive,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_memory_journal_takes_events, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_batch_at_its_bound_flushes_by_itself, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_keyed_event_written_twice_is_one_row, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_reader_sees_commits_while_the_writer_stays_open,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_writer_creates_missing_directories_private,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_directory_that_cannot_be_created_fails_at_open,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_missing_journal_is_enoent_and_not_created,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_journal_is_refused_at_writer_open,
                                        journal_setup, journal_teardown),
        cmocka_unit_test(test_default_path_follows_xdg_state_home_then_home),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/test_journal_damage.c - the failure journal when things go wrong: a
 * full disk (RLIMIT_FSIZE in a child), SIGKILL mid-flood, random and
 * truncated files, another program's database, the migrations from schema
 * versions 0, 1 and 2 and a newer version refused. Each test works in its own
 * temporary directory (tests/support/journal_cases.c).
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

#include "core/runtime/caps.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "persistence/journal_schema.h"
#include "persistence/journal_writer.h"

#include "support/journal_cases.h"

typedef struct disk_report {
    int64_t acked;
    int first_err;
    uint32_t pending_after;
    int bound_err;
    uint64_t dropped;
    char msg[256];
} disk_report;

static int integrity(const char *path, char *out, size_t len)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(out, len, "error: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static void test_full_disk_fails_clearly_and_keeps_acknowledged_rows(void **state)
{
    journal_fixture *fx = *state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A 512 KiB file-size limit is a disk that fills up; works as root. */
        close(pfd[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {512 * 1024, 512 * 1024};
        disk_report r;
        memset(&r, 0, sizeof(r));
        ens_jwriter *w = NULL;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0 || ens__jwriter_open(fx->db, "full", &w) != 0)
            _exit(3);
        char reason[300];
        memset(reason, 'x', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = '\0';
        ens_event e = fx->ev[1];
        e.reason = reason;
        for (int round = 0; round < 10000 && r.first_err == 0; round++) {
            for (int i = 0; i < 50; i++)
                ens__jwriter_append(w, &e);
            int rc = ens__jwriter_flush(w);
            if (rc == 0)
                r.acked += 50;
            else
                r.first_err = rc;
        }
        snprintf(r.msg, sizeof(r.msg), "%s", ens__jwriter_last_error(w));
        /* The failed batch is kept; filling it to the bound and one more
         * drops exactly that one event. */
        r.pending_after = ens__jwriter_pending(w);
        while (ens__jwriter_pending(w) < ENS__JWRITER_BATCH_MAX)
            ens__jwriter_append(w, &e);
        r.bound_err = ens__jwriter_append(w, &e);
        r.dropped = ens__jwriter_dropped(w);
        ens__jwriter_close(w);
        ssize_t n = write(pfd[1], &r, sizeof(r));
        _exit(n == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(pfd[1]);
    disk_report r;
    memset(&r, 0, sizeof(r));
    ssize_t n = read(pfd[0], &r, sizeof(r));
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(n, sizeof(r));
    print_message("full disk after %lld rows: %s (%s)\n", (long long)r.acked, r.msg,
                  ens_err_name(r.first_err));
    assert_int_equal(r.first_err, ENS_EIO);
    assert_true(r.acked > 0);
    assert_non_null(strstr(r.msg, "cannot"));
    assert_int_equal(r.pending_after, 50);
    assert_int_equal(r.bound_err, ENS_EIO);
    assert_int_equal(r.dropped, 1);
    char check[256];
    assert_int_equal(integrity(fx->db, check, sizeof(check)), SQLITE_OK);
    assert_string_equal(check, "ok");
    assert_int_equal(journal_count_rows(fx->db), r.acked);
}

static void test_sigkill_mid_flood_keeps_every_acknowledged_row(void **state)
{
    journal_fixture *fx = *state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        ens_jwriter *w = NULL;
        if (ens__jwriter_open(fx->db, "flood", &w) != 0)
            _exit(3);
        for (int64_t acked = 0;;) {
            for (int i = 0; i < 100; i++)
                ens__jwriter_append(w, &fx->ev[i % NEV]);
            if (ens__jwriter_flush(w) != 0)
                _exit(4);
            acked += 100;
            if (write(pfd[1], &acked, sizeof(acked)) != sizeof(acked))
                _exit(5);
        }
    }
    close(pfd[1]);
    int64_t acked = 0, v;
    while (acked < 20000 && read(pfd[0], &v, sizeof(v)) == sizeof(v))
        acked = v;
    kill(pid, SIGKILL);
    while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
        acked = v; /* acknowledged before the kill landed */
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char check[256];
    assert_int_equal(integrity(fx->db, check, sizeof(check)), SQLITE_OK);
    assert_string_equal(check, "ok");
    int64_t rows = journal_count_rows(fx->db);
    assert_true(rows >= acked);
    assert_true(rows <= acked + 100); /* at most the batch in flight */
}

/* ---- not a journal ---- */

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

static void test_random_bytes_are_not_a_journal(void **state)
{
    journal_fixture *fx = *state;
    unsigned char junk[8192];
    srand(42);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)rand();
    write_bytes(fx->db, junk, sizeof(junk));
    ens_journal *j = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "not an ensemble journal"));
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_null(w);
    /* An empty file and another program's database are not journals either. */
    write_bytes(fx->db, "", 0);
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "without a failures table"));
}

static void test_truncated_journal_is_reported_corrupt(void **state)
{
    journal_fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "trunc", &w), 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(ens__jwriter_append(w, &fx->ev[i % NEV]), 0);
    ens__jwriter_close(w); /* the last close checkpoints into the main file */
    struct stat st;
    assert_int_equal(stat(fx->db, &st), 0);
    char full[256];
    snprintf(full, sizeof(full), "%s/full.db", fx->dir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cp %s %s", fx->db, full);
    assert_int_equal(system(cmd), 0);
    const off_t cuts[] = {st.st_size / 2, 50, 4096, 4096 + 100, st.st_size - 4096};
    int corrupt_seen = 0;
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        snprintf(cmd, sizeof(cmd), "cp %s %s", full, fx->db);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(truncate(fx->db, cuts[c]), 0);
        ens_journal *j = NULL;
        char why[256] = "";
        int rc = ens_journal_open_why(fx->db, &j, why, sizeof(why));
        if (rc == 0) {
            journal_seen s = {0};
            s.stop_after = 0;
            ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
            f.limit = 0;
            f.kinds = 1u << ENS_EV_CRASH; /* forces a full scan */
            int q = ens_journal_query(j, &f, journal_collect, &s);
            print_message("cut at %lld bytes: open ok, query %s %s\n", (long long)cuts[c],
                          ens_err_name(q), q < 0 ? ens_journal_errmsg(j) : "");
            if (q < 0) {
                assert_int_equal(q, ENS_ENOTJOURNAL);
                assert_non_null(strstr(ens_journal_errmsg(j), "corrupt"));
                corrupt_seen++;
            }
            int n = ens_journal_count(j, NULL, "actor_type", journal_count_type, &s);
            assert_true(n == ENS_ENOTJOURNAL || n >= 0);
            ens_journal_close(j);
        } else {
            print_message("cut at %lld bytes: open %s: %s\n", (long long)cuts[c], ens_err_name(rc),
                          why);
            assert_int_equal(rc, ENS_ENOTJOURNAL);
            corrupt_seen++;
        }
    }
    assert_int_equal(corrupt_seen, 5); /* sqlite checks the file against its header */
    /* The writer refuses a truncated journal at open too. */
    ens_jwriter *w2 = NULL;
    char why[256];
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w2, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "corrupt"));
    /* A page of garbage inside the tree, file size intact: found by the query. */
    snprintf(cmd, sizeof(cmd), "cp %s %s", full, fx->db);
    assert_int_equal(system(cmd), 0);
    int fd = open(fx->db, O_WRONLY);
    assert_true(fd >= 0);
    unsigned char junk[4096];
    memset(junk, 0xa5, sizeof(junk));
    for (off_t off = 8 * 4096; off < st.st_size - 4096; off += 16 * 4096)
        assert_int_equal(pwrite(fd, junk, sizeof(junk), off), sizeof(junk));
    close(fd);
    ens_journal *j = NULL;
    int rc = ens_journal_open_why(fx->db, &j, why, sizeof(why));
    if (rc == 0) {
        journal_seen s = {0};
        ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
        f.limit = 0;
        int q = ens_journal_query(j, &f, journal_collect, &s);
        print_message("garbage pages: query %s %s\n", ens_err_name(q), ens_journal_errmsg(j));
        assert_int_equal(q, ENS_ENOTJOURNAL);
        assert_non_null(strstr(ens_journal_errmsg(j), "corrupt"));
        ens_journal_close(j);
    } else {
        assert_int_equal(rc, ENS_ENOTJOURNAL);
    }
}

/* ---- schema versions ---- */

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

static void test_version0_journal_is_migrated_by_the_writer(void **state)
{
    journal_fixture *fx = *state;
    /* The prototype layout, by hand: loose columns, no schema_version. */
    exec_sql(fx->db,
             "CREATE TABLE failures (seq INTEGER PRIMARY KEY, at_ms, system, actor, actor_type,"
             " msg_type, kind, error, signal, attempt, reason);"
             "INSERT INTO failures VALUES (1, 1795899600000, 'old', 'ens:1/17', 'worker', 'job',"
             " 'error', -22, 0, 1, 'first');"
             "INSERT INTO failures VALUES (2, 1795899601000, 'old', 'ens:3/40', 'cache', 'ping',"
             " 'crash', NULL, 11, 2, 'it''s \"quoted\"');"
             "INSERT INTO failures VALUES (3, '1795899602000', 'old', 'garbage', NULL, NULL,"
             " 'poison', 0, 0, 2, NULL);");
    ens_journal *j = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "version 0"));

    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open_why(fx->db, "new", &w, why, sizeof(why)), 0);
    ens_event e = fx->ev[0];
    e.at_ms = BASE_MS + 10000;
    assert_int_equal(ens__jwriter_append(w, &e), 0);
    ens__jwriter_close(w);

    j = journal_open_reader(fx->db);
    journal_one_row o;
    memset(&o, 0, sizeof(o));
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){40, 3, 0};
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    assert_int_equal(o.row.seq, 2);
    assert_int_equal(o.row.ev.kind, ENS_EV_CRASH);
    assert_int_equal(o.row.ev.signal, 11);
    assert_int_equal(o.row.ev.attempt, 2);
    assert_string_equal(o.reason, "it's \"quoted\"");
    assert_string_equal(o.system, "old");
    f.actor = (ens_addr){17, 1, 0};
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    assert_string_equal(o.err, "ENS_EINVAL");
    assert_int_equal(o.row.ev.at_ms, BASE_MS);
    f.actor = ENS_ADDR_NONE;
    f.kinds = 1u << ENS_EV_POISON;
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    assert_int_equal(o.row.ev.at_ms, BASE_MS + 2000);
    assert_true(ens_addr_is_none(o.row.ev.actor));
    assert_string_equal(o.type, "");
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), 4);
    assert_int_equal(s.seq[0], 4); /* the new row follows the old ones */
    ens_journal_close(j);
    char check[256];
    integrity(fx->db, check, sizeof(check));
    assert_string_equal(check, "ok");
}

/* One integer from a query on path (fails the test otherwise). */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Version 1, as this project wrote it before rows had keys: the STRICT
 * table without run_id/run_seq, its indexes, version 1. */
static const char v1_layout[] =
    "CREATE TABLE failures (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
    " system TEXT NOT NULL, host TEXT NOT NULL, actor TEXT NOT NULL,"
    " actor_id INTEGER NOT NULL, node INTEGER NOT NULL, actor_type TEXT NOT NULL,"
    " parent TEXT NOT NULL, msg_type TEXT NOT NULL, sender TEXT NOT NULL, kind TEXT NOT NULL,"
    " error INTEGER NOT NULL, error_name TEXT NOT NULL, signal INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL, incarnation INTEGER NOT NULL, msg_size INTEGER NOT NULL,"
    " reason TEXT NOT NULL) STRICT;"
    "CREATE INDEX failures_at ON failures(at_ms);"
    "CREATE INDEX failures_actor ON failures(actor_id, at_ms);"
    "CREATE INDEX failures_type ON failures(actor_type, at_ms);"
    "CREATE INDEX failures_kind ON failures(kind, at_ms);"
    "CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT;"
    "INSERT INTO schema_version VALUES (1);"
    "PRAGMA application_id = 1162761034;" /* ENS__JOURNAL_APP_ID */
    "INSERT INTO failures VALUES (1, 1795899600000, 'old', 'h', 'ens:1/17', 17, 1, 'worker',"
    " '', 'job', '', 'error', -22, 'ENS_EINVAL', 0, 1, 1, 12, 'first');"
    "INSERT INTO failures VALUES (2, 1795899601000, 'old', 'h', 'ens:1/18', 18, 1, 'cache',"
    " '', '', '', 'crash', 0, '', 11, 0, 2, 0, 'second');";

/* A version-1 journal: refused by the reader (older), migrated by the
 * writer in place: its rows kept with no key, the key columns and their
 * unique index added, keyed rows then written once per key. */
static void test_version1_journal_gets_row_keys(void **state)
{
    journal_fixture *fx = *state;
    exec_sql(fx->db, v1_layout);
    ens_journal *j = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "version 1"));

    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open_why(fx->db, "new", &w, why, sizeof(why)), 0);
    assert_int_equal(sql_int(fx->db, "SELECT max(version) FROM schema_version"),
                     ENS__JOURNAL_SCHEMA_VERSION);
    assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM failures WHERE run_id IS NULL"
                                     " AND run_seq IS NULL"),
                     2);
    assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                     " AND name = 'failures_run'"),
                     1);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[0], 5, 1), 0);
        assert_int_equal(ens__jwriter_append_keyed(w, &fx->ev[1], 5, 2), 0);
        assert_int_equal(ens__jwriter_flush(w), 0);
    }
    ens__jwriter_close(w);
    assert_int_equal(journal_count_rows(fx->db), 4);
    assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM failures WHERE run_id = 5"), 2);

    /* The migrated file has the layout of a new one (same columns, in the
     * same order, and the same indexes). */
    char fresh[192];
    snprintf(fresh, sizeof(fresh), "%s/fresh.db", fx->dir);
    assert_int_equal(ens__jwriter_open(fresh, "fresh", &w), 0);
    ens__jwriter_close(w);
    static const char cols[] = "SELECT group_concat(name || ':' || type || ':' || \"notnull\", ',')"
                               " FROM pragma_table_info('failures')";
    static const char idx[] = "SELECT group_concat(name, ',') FROM (SELECT name FROM"
                              " sqlite_schema WHERE type = 'index' AND tbl_name = 'failures'"
                              " AND sql IS NOT NULL ORDER BY name)";
    for (int q = 0; q < 2; q++) {
        sqlite3 *a = NULL, *b = NULL;
        assert_int_equal(sqlite3_open_v2(fx->db, &a, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_open_v2(fresh, &b, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_stmt *sa = NULL, *sb = NULL;
        assert_int_equal(sqlite3_prepare_v2(a, q == 0 ? cols : idx, -1, &sa, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(b, q == 0 ? cols : idx, -1, &sb, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(sa), SQLITE_ROW);
        assert_int_equal(sqlite3_step(sb), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(sa, 0),
                            (const char *)sqlite3_column_text(sb, 0));
        sqlite3_finalize(sa);
        sqlite3_finalize(sb);
        sqlite3_close(a);
        sqlite3_close(b);
    }
    j = journal_open_reader(fx->db);
    journal_one_row o;
    memset(&o, 0, sizeof(o));
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){18, 1, 0};
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    assert_string_equal(o.reason, "second");
    assert_int_equal(o.row.ev.incarnation, 2);
    ens_journal_close(j);
    char check[256];
    integrity(fx->db, check, sizeof(check));
    assert_string_equal(check, "ok");
}

/* Version 2 as this project wrote it: version 1's table with the row key
 * columns and their unique index, no system_node. */
static const char v2_layout[] =
    "CREATE TABLE failures (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
    " system TEXT NOT NULL, host TEXT NOT NULL, actor TEXT NOT NULL,"
    " actor_id INTEGER NOT NULL, node INTEGER NOT NULL, actor_type TEXT NOT NULL,"
    " parent TEXT NOT NULL, msg_type TEXT NOT NULL, sender TEXT NOT NULL, kind TEXT NOT NULL,"
    " error INTEGER NOT NULL, error_name TEXT NOT NULL, signal INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL, incarnation INTEGER NOT NULL, msg_size INTEGER NOT NULL,"
    " reason TEXT NOT NULL, run_id INTEGER, run_seq INTEGER) STRICT;"
    "CREATE INDEX failures_at ON failures(at_ms);"
    "CREATE INDEX failures_actor ON failures(actor_id, at_ms);"
    "CREATE INDEX failures_type ON failures(actor_type, at_ms);"
    "CREATE INDEX failures_kind ON failures(kind, at_ms);"
    "CREATE UNIQUE INDEX failures_run ON failures(run_id, run_seq);"
    "CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT;"
    "INSERT INTO schema_version VALUES (2);"
    "PRAGMA application_id = 1162761034;" /* ENS__JOURNAL_APP_ID */
    "INSERT INTO failures VALUES (1, 1795899600000, 'old', 'h', 'ens:1/17', 17, 1, 'worker',"
    " '', 'job', '', 'error', -22, 'ENS_EINVAL', 0, 1, 1, 12, 'first', 9, 1);";

/* A version-2 journal: refused by the reader (older), migrated by the
 * writer in place: its row kept with node 0 (not known), rows written
 * after it carry the writer's node and its host, one line. */
static void test_version2_journal_gains_the_writers_node(void **state)
{
    journal_fixture *fx = *state;
    exec_sql(fx->db, v2_layout);
    ens_journal *j = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "version 2"));

    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open_why(fx->db, "new", &w, why, sizeof(why)), 0);
    assert_int_equal(sql_int(fx->db, "SELECT max(version) FROM schema_version"),
                     ENS__JOURNAL_SCHEMA_VERSION);
    ens__jwriter_set_node(w, 77);
    ens_event e = fx->ev[0];
    e.at_ms = BASE_MS + 50000;
    assert_int_equal(ens__jwriter_append_keyed(w, &e, 9, 2), 0);
    /* The key of the old row still makes a second write of it one row. */
    assert_int_equal(ens__jwriter_append_keyed(w, &e, 9, 1), 0);
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(ens__jwriter_duplicates(w), 1);
    ens__jwriter_close(w);

    j = journal_open_reader(fx->db);
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), 2);
    journal_one_row o;
    memset(&o, 0, sizeof(o));
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.until_ms = BASE_MS + 1;
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    assert_string_equal(o.reason, "first");
    assert_int_equal(o.row.node, 0);
    f.until_ms = 0;
    f.since_ms = BASE_MS + 50000;
    assert_int_equal(ens_journal_query(j, &f, journal_keep_first, &o), 1);
    assert_int_equal(o.row.node, 77);
    ens_journal_close(j);
    char host[256];
    ens__caps_host(host, sizeof(host));
    assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM failures WHERE system_node = 77"), 1);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT host FROM failures WHERE system_node = 77", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), host);
    sqlite3_finalize(st);
    sqlite3_close(db);
    char check[256];
    integrity(fx->db, check, sizeof(check));
    assert_string_equal(check, "ok");
}

static void test_newer_schema_version_is_refused(void **state)
{
    journal_fixture *fx = *state;
    journal_write_all(fx);
    char sql[64];
    snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
             ENS__JOURNAL_SCHEMA_VERSION + 1);
    exec_sql(fx->db, sql);
    ens_journal *j = NULL;
    ens_jwriter *w = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "newer"));
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "newer"));
    /* The refused file is unchanged. */
    snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
             ENS__JOURNAL_SCHEMA_VERSION);
    exec_sql(fx->db, sql);
    j = journal_open_reader(fx->db);
    journal_seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, journal_collect, &s), NEV);
    ens_journal_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_disk_fails_clearly_and_keeps_acknowledged_rows,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_mid_flood_keeps_every_acknowledged_row,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_random_bytes_are_not_a_journal, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_journal_is_reported_corrupt, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_version0_journal_is_migrated_by_the_writer,
                                        journal_setup, journal_teardown),
        cmocka_unit_test_setup_teardown(test_version1_journal_gets_row_keys, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_version2_journal_gains_the_writers_node, journal_setup,
                                        journal_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_version_is_refused, journal_setup,
                                        journal_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

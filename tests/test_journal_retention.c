/*
 * tests/test_journal_retention.c - a journal does not grow forever.
 *
 * The writer's retention (journal_max_rows, journal_max_age_days) deletes
 * the oldest rows in small steps inside its own commits; a prune by hand
 * (ens__jwriter_prune, ens_journal_prune, `ens journal prune`) does the
 * same at once. Checked here: the oldest rows go and the newest stay, the
 * counts the count queries read (failure_counts, schema 4) stay equal to
 * a count of the rows, the file's size stops growing, rows older than the
 * age limit go (back-dated rows), the command line tool, and a journal of
 * schema 3 is read as it is and migrated by the writer.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "ensemble/system.h"
#include "persistence/journal_schema.h"
#include "persistence/journal_writer.h"
#include "support/journal_files.h"
#include "support/run_tool.h"
#include "support/scratch.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define DAY_MS INT64_C(86400000)
#define NOW_MS INT64_C(1796000000000) /* the test clock: 2026-12-01 */

typedef struct fixture {
    char dir[64];
    char db[128];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ens_jret_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/j.db", fx->dir);
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

static int64_t test_clock(void)
{
    return NOW_MS;
}

static const char *const types[] = {"worker", "cache", "supervisor", "gate"};

/* Event number i: its reason says i, at_ms is given. */
static void event_at(ens_event *e, char reason[32], int i, int64_t at_ms)
{
    memset(e, 0, sizeof(*e));
    snprintf(reason, 32, "r%d", i);
    e->at_ms = at_ms;
    e->kind = (ens_event_kind)(1 + i % 7);
    e->actor = (ens_addr){16 + (uint64_t)(i % 13), 1, 0};
    e->actor_type = types[i % 4];
    e->msg_type = "job";
    e->error = ENS_EINVAL;
    e->reason = reason;
}

static ens_jwriter *open_writer(const char *path)
{
    ens_jwriter *w = NULL;
    char why[256] = "";
    int rc = ens__jwriter_open_why(path, "ret", &w, why, sizeof(why));
    if (rc != 0)
        fail_msg("open %s: %s", path, why);
    return w;
}

/* Rows first .. first + n - 1, flushed every `per` rows. */
static void write_rows(ens_jwriter *w, int first, int n, int per, int64_t at0)
{
    ens_event e;
    char reason[32];
    for (int i = first; i < first + n; i++) {
        event_at(&e, reason, i, at0 + i);
        assert_int_equal(ens__jwriter_append(w, &e), 0);
        if ((i - first + 1) % per == 0)
            assert_int_equal(ens__jwriter_flush(w), 0);
    }
    assert_int_equal(ens__jwriter_flush(w), 0);
}

static sqlite3 *plain(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
}

/* The rows, the lowest and highest event number still there (from the
 * reasons "rN"). */
static void row_span(const char *path, int64_t *rows, int64_t *lo, int64_t *hi)
{
    sqlite3 *db = plain(path);
    *rows = one_int(db, "SELECT count(*) FROM failures");
    *lo = one_int(db, "SELECT min(CAST(substr(reason, 2) AS INTEGER)) FROM failures");
    *hi = one_int(db, "SELECT max(CAST(substr(reason, 2) AS INTEGER)) FROM failures");
    sqlite3_close(db);
}

typedef struct groups {
    int n;
    int64_t total;
    int64_t by_kind[32];
} groups;

static int on_group(const ens_journal_row *row, void *arg)
{
    groups *g = arg;
    g->n++;
    g->total += row->seq;
    g->by_kind[row->ev.kind & 31] += row->seq;
    return 0;
}

/* The counts of the count query (from failure_counts) equal a count of
 * the rows (since_ms = 1 makes the reader scan), by kind, overall and for
 * one actor type; returns the total. */
static int64_t assert_counts_right(const char *path)
{
    ens_journal *j = NULL;
    char why[256] = "";
    if (ens_journal_open_why(path, &j, why, sizeof(why)) != 0)
        fail_msg("open %s: %s", path, why);
    for (int typed = 0; typed < 2; typed++) {
        ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
        if (typed)
            f.actor_type = "cache";
        groups fast = {0}, scan = {0};
        assert_true(ens_journal_count(j, &f, "kind", on_group, &fast) >= 0);
        f.since_ms = 1;
        assert_true(ens_journal_count(j, &f, "kind", on_group, &scan) >= 0);
        assert_int_equal(fast.n, scan.n);
        assert_int_equal(fast.total, scan.total);
        assert_memory_equal(fast.by_kind, scan.by_kind, sizeof(fast.by_kind));
    }
    groups all = {0};
    assert_true(ens_journal_count(j, NULL, "kind", on_group, &all) >= 0);
    ens_journal_close(j);
    return all.total;
}

/* What a listing gave: the first row's time and the kind all rows had
 * (-1 when they differ). */
typedef struct journal_rows_seen {
    int n;
    int64_t first_at;
    int all_kind;
} journal_rows_seen;

static int on_row(const ens_journal_row *row, void *arg)
{
    journal_rows_seen *s = arg;
    if (s->n == 0) {
        s->first_at = row->ev.at_ms;
        s->all_kind = (int)row->ev.kind;
    } else if (s->all_kind != (int)row->ev.kind) {
        s->all_kind = -1;
    }
    s->n++;
    return 0;
}

/* The database file's size once its WAL is moved into it (another
 * connection's checkpoint: the writer may stay open). */
static off_t db_size(const char *path)
{
    sqlite3 *db = plain(path);
    exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_max_rows_keeps_the_newest(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    ens__jwriter_set_retention_ms(w, 1000, 0);
    write_rows(w, 0, 5000, 100, NOW_MS);
    /* Each commit deletes what it took past the limit. */
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 1000);
    assert_int_equal(lo, 4000);
    assert_int_equal(hi, 4999);
    assert_int_equal(ens__jwriter_pruned(w), 4000);
    assert_int_equal(assert_counts_right(fx->db), 1000);
    ens__jwriter_close(w);
}

static void test_a_large_excess_goes_in_steps(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    write_rows(w, 0, 12000, 4000, NOW_MS);
    /* A limit set far below what is there: one small batch deletes at most
     * ENS__JWRITER_PRUNE_STEP, never everything at once. */
    ens__jwriter_set_retention_ms(w, 500, 0);
    write_rows(w, 12000, 10, 10, NOW_MS);
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 12010 - ENS__JWRITER_PRUNE_STEP);
    assert_int_equal(lo, ENS__JWRITER_PRUNE_STEP);
    /* Later batches catch up; then the limit holds. */
    for (int k = 0; k < 4; k++)
        write_rows(w, 12010 + 10 * k, 10, 10, NOW_MS);
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 500);
    assert_int_equal(hi, 12049);
    assert_int_equal(lo, 12049 - 499);
    assert_int_equal(assert_counts_right(fx->db), 500);
    ens__jwriter_close(w);
}

static void test_file_size_stops_growing(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    sqlite3 *db = plain(fx->db);
    assert_int_equal(one_int(db, "PRAGMA auto_vacuum"), 2); /* INCREMENTAL */
    sqlite3_close(db);
    /* Fill, prune by hand, fill again: the file's size is bounded by the
     * rows kept, not by the rows ever written. */
    write_rows(w, 0, 5000, 500, NOW_MS);
    off_t full = db_size(fx->db);
    uint64_t gone = 0;
    assert_int_equal(ens__jwriter_prune(w, 1000, 0, &gone), 0);
    assert_int_equal(gone, 4000);
    off_t pruned = db_size(fx->db);
    assert_true(pruned < full / 2);
    write_rows(w, 5000, 4000, 500, NOW_MS);
    assert_int_equal(ens__jwriter_prune(w, 1000, 0, &gone), 0);
    off_t again = db_size(fx->db);
    assert_true(again <= pruned + 8 * 4096);
    /* The writer's own retention: twenty times the limit written, the file
     * stays at the size of the limit's rows. */
    ens__jwriter_set_retention_ms(w, 1000, 0);
    write_rows(w, 9000, 4000, 250, NOW_MS);
    off_t steady = db_size(fx->db);
    write_rows(w, 13000, 16000, 250, NOW_MS);
    off_t later = db_size(fx->db);
    assert_true(later <= steady + steady / 4);
    assert_true(later < full);
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 1000);
    assert_int_equal(hi, 28999);
    assert_int_equal(assert_counts_right(fx->db), 1000);
    ens__jwriter_close(w);
}

static void test_max_age_deletes_backdated_rows(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    ens__jwriter_set_clock(w, test_clock);
    /* 600 rows of 100 days ago, then 400 of yesterday. */
    write_rows(w, 0, 600, 200, NOW_MS - 100 * DAY_MS);
    write_rows(w, 600, 400, 200, NOW_MS - DAY_MS);
    ens__jwriter_set_retention_ms(w, 0, 90 * DAY_MS);
    write_rows(w, 1000, 10, 10, NOW_MS);
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 410);
    assert_int_equal(lo, 600);
    assert_int_equal(assert_counts_right(fx->db), 410);
    ens__jwriter_close(w);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* failure_counts equals a full count of the rows by (actor type, kind):
 * no pair differs, none is missing, and the totals agree. */
static void assert_counts_equal_full_count(const char *path)
{
    sqlite3 *db = plain(path);
    assert_int_equal(one_int(db, "SELECT count(*) FROM failure_counts c WHERE n !="
                                 " (SELECT count(*) FROM failures f"
                                 "  WHERE f.actor_type = c.actor_type AND f.kind = c.kind)"),
                     0);
    assert_int_equal(one_int(db, "SELECT count(*) FROM"
                                 " (SELECT DISTINCT actor_type, kind FROM failures) d"
                                 " WHERE NOT EXISTS (SELECT 1 FROM failure_counts c"
                                 "  WHERE c.actor_type = d.actor_type AND c.kind = d.kind)"),
                     0);
    assert_int_equal(one_int(db, "SELECT total(n) FROM failure_counts"),
                     one_int(db, "SELECT count(*) FROM failures"));
    sqlite3_close(db);
}

static void test_row_limit_deletes_across_gaps(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    ens__jwriter_set_clock(w, test_clock);
    /* 3000 rows, every fifth 100 days old; the age limit takes those, which
     * leaves a gap in seq after every four rows. */
    ens_event e;
    char reason[32];
    for (int i = 0; i < 3000; i++) {
        event_at(&e, reason, i, i % 5 == 0 ? NOW_MS - 100 * DAY_MS : NOW_MS + i);
        assert_int_equal(ens__jwriter_append(w, &e), 0);
        if ((i + 1) % 500 == 0)
            assert_int_equal(ens__jwriter_flush(w), 0);
    }
    ens__jwriter_set_retention_ms(w, 0, 90 * DAY_MS);
    write_rows(w, 3000, 1, 1, NOW_MS);
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 2401);
    assert_counts_equal_full_count(fx->db);
    /* The row limit then deletes the oldest by seq across those gaps, in
     * batches of 100: exactly the rows past the limit go, whatever the
     * gaps, and the counts follow. */
    ens__jwriter_set_retention_ms(w, 1000, 90 * DAY_MS);
    write_rows(w, 3001, 499, 100, NOW_MS);
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 1000);
    assert_int_equal(hi, 3499);
    /* The newest 1000: 3000..3499, the 400 of 2500..2999 not old, and the
     * 100 of 2375..2499 not old (2375 was). */
    assert_int_equal(lo, 2376);
    assert_int_equal(ens__jwriter_pruned(w), 600 + 1900);
    assert_counts_equal_full_count(fx->db);
    assert_int_equal(assert_counts_right(fx->db), 1000);
    ens__jwriter_close(w);
}

static void test_system_options_map_to_limits(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    int64_t now = wall_ms();
    write_rows(w, 0, 300, 100, now - 95 * DAY_MS);
    write_rows(w, 300, 300, 100, now - 10 * DAY_MS);
    /* 0 = the default age (90 days); no limit by count. */
    ens__jwriter_set_retention(w, ENS_JOURNAL_KEEP_ALL, 0);
    write_rows(w, 600, 1, 1, now);
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 301);
    assert_int_equal(lo, 300);
    /* A row count and no age limit. */
    ens__jwriter_set_retention(w, 100, UINT32_MAX);
    write_rows(w, 601, 1, 1, now - 1000 * DAY_MS);
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 100);
    assert_int_equal(hi, 601);
    /* The options' defaults as ens_system_opts gives them. */
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    assert_int_equal(o.journal_max_rows, ENS_JOURNAL_MAX_ROWS_DEFAULT);
    assert_int_equal(o.journal_max_age_days, ENS_JOURNAL_MAX_AGE_DAYS_DEFAULT);
    ens__jwriter_close(w);
}

/* Run ens with args (NULL-terminated, without argv[0]); the exit code,
 * stdout in out (up to len). */
static int run_ens(char *out, size_t len, const char *const *args)
{
    char *out_text = NULL, *err_text = NULL;
    int code = test_tool_run(ENS_TOOL_PATH, args, NULL, &out_text, &err_text);
    snprintf(out, len, "%s", out_text);
    free(out_text);
    free(err_text);
    return code;
}

#define RUN(out, ...) run_ens((out), sizeof(out), (const char *const[]){__VA_ARGS__, NULL})

static void test_prune_from_the_command_line(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    int64_t now = wall_ms();
    write_rows(w, 0, 1000, 500, now - 3 * DAY_MS);
    write_rows(w, 1000, 2000, 500, now);
    ens__jwriter_close(w);
    char out[512];
    assert_int_equal(RUN(out, "journal", "prune", "--db", fx->db), 2); /* no limit given */
    assert_int_equal(RUN(out, "journal", "prune", "--max-rows", "x", "--db", fx->db), 2);
    assert_int_equal(RUN(out, "journal", "prune", "--max-age", "2", "--db", fx->db), 0);
    assert_non_null(strstr(out, "1000 rows deleted"));
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 2000);
    assert_int_equal(lo, 1000);
    assert_int_equal(RUN(out, "journal", "prune", "--max-rows", "500", "--db", fx->db), 0);
    assert_non_null(strstr(out, "1500 rows deleted"));
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 500);
    assert_int_equal(lo, 2500);
    assert_int_equal(hi, 2999);
    assert_int_equal(assert_counts_right(fx->db), 500);
    /* A missing journal is a runtime error, and none is created. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/none.db", fx->dir);
    assert_int_equal(RUN(out, "journal", "prune", "--max-rows", "5", "--db", missing), 1);
    assert_int_equal(access(missing, F_OK), -1);
    uint64_t gone = 7;
    assert_int_equal(ens_journal_prune(missing, 5, 0, &gone, NULL, 0), ENS_ENOENT);
    assert_int_equal(gone, 0);
}

/* Schema 4's indexes in place of schema 5's: the key index over every
 * row, and the kind index. */
static const char old_indexes[] = "DROP INDEX failures_run;"
                                  "CREATE UNIQUE INDEX failures_run ON failures(run_id, run_seq);"
                                  "CREATE INDEX failures_kind ON failures(kind, at_ms);";

/* The indexes schema 5 has: the key index partial, no kind index. */
static void assert_schema5_indexes(const char *path)
{
    sqlite3 *db = plain(path);
    assert_int_equal(one_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                 " AND name = 'failures_kind'"),
                     0);
    assert_int_equal(one_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                 " AND name = 'failures_run' AND sql LIKE '%UNIQUE%'"
                                 " AND sql LIKE '%WHERE run_id IS NOT NULL'"),
                     1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                 " AND name IN ('failures_at', 'failures_actor', 'failures_type')"),
                     3);
    sqlite3_close(db);
}

/* A journal as schema 4 left it (made from a current one). */
static void make_schema4(const char *path)
{
    sqlite3 *db = plain(path);
    exec_sql(db, old_indexes);
    exec_sql(db, "UPDATE schema_version SET version = 4;");
    sqlite3_close(db);
}

/* A journal as schema 3 left it: no failure_counts, version 3, auto_vacuum
 * off (made from a current one: its tables are schema 3's plus the counts). */
static void make_schema3(const char *path)
{
    sqlite3 *db = plain(path);
    exec_sql(db, old_indexes);
    exec_sql(db, "DROP TABLE failure_counts; UPDATE schema_version SET version = 3;"
                 "PRAGMA journal_mode = DELETE; PRAGMA auto_vacuum = NONE; VACUUM;"
                 "PRAGMA journal_mode = WAL;");
    assert_int_equal(one_int(db, "PRAGMA auto_vacuum"), 0);
    sqlite3_close(db);
}

static void test_schema3_journal_is_read_and_migrated(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    write_rows(w, 0, 3000, 1000, NOW_MS);
    ens__jwriter_close(w);
    make_schema3(fx->db);
    /* A reader reads it as it is (counts by scanning). */
    ens_journal *j = NULL;
    char why[256] = "";
    if (ens_journal_open_why(fx->db, &j, why, sizeof(why)) != 0)
        fail_msg("open schema 3: %s", why);
    groups g = {0};
    assert_true(ens_journal_count(j, NULL, "kind", on_group, &g) > 0);
    assert_int_equal(g.total, 3000);
    ens_journal_close(j);
    /* The writer migrates it: the counts are filled from its rows. */
    w = open_writer(fx->db);
    sqlite3 *db = plain(fx->db);
    assert_int_equal(one_int(db, "SELECT max(version) FROM schema_version"),
                     ENS__JOURNAL_SCHEMA_VERSION);
    assert_int_equal(one_int(db, "SELECT sum(n) FROM failure_counts"), 3000);
    assert_int_equal(one_int(db, "PRAGMA auto_vacuum"), 0); /* stays off: no VACUUM */
    sqlite3_close(db);
    assert_schema5_indexes(fx->db);
    assert_int_equal(assert_counts_right(fx->db), 3000);
    /* Retention works on it; its freed pages are reused, so at the limit
     * the file stops growing (it does not shrink). */
    ens__jwriter_set_retention_ms(w, 1000, 0);
    write_rows(w, 3000, 2000, 250, NOW_MS);
    off_t steady = db_size(fx->db);
    write_rows(w, 5000, 10000, 250, NOW_MS);
    off_t later = db_size(fx->db);
    assert_true(later <= steady + steady / 4);
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 1000);
    assert_int_equal(lo, 14000);
    assert_int_equal(assert_counts_right(fx->db), 1000);
    ens__jwriter_close(w);
}

/* Schema 4 (every row in the key index, a kind index) is read as it is;
 * the writer migrates it to 5: the key index holds the keyed rows only and
 * still makes a keyed row written again one row; the kind index is gone
 * and a filter on kind still finds its rows, newest first. */
static void test_schema4_journal_is_read_and_migrated(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = open_writer(fx->db);
    ens_event e;
    char reason[32];
    for (int i = 0; i < 2000; i++) {
        event_at(&e, reason, i, NOW_MS + i);
        if (i % 2 == 0)
            assert_int_equal(ens__jwriter_append_keyed(w, &e, 5, (uint64_t)i + 1), 0);
        else
            assert_int_equal(ens__jwriter_append(w, &e), 0);
    }
    ens__jwriter_close(w);
    make_schema4(fx->db);
    ens_journal *j = NULL;
    char why[256] = "";
    if (ens_journal_open_why(fx->db, &j, why, sizeof(why)) != 0)
        fail_msg("open schema 4: %s", why);
    groups g = {0};
    assert_true(ens_journal_count(j, NULL, "kind", on_group, &g) > 0);
    assert_int_equal(g.total, 2000);
    ens_journal_close(j);

    w = open_writer(fx->db);
    sqlite3 *db = plain(fx->db);
    assert_int_equal(one_int(db, "SELECT max(version) FROM schema_version"),
                     ENS__JOURNAL_SCHEMA_VERSION);
    assert_int_equal(one_int(db, "SELECT count(*) FROM failures WHERE run_id IS NOT NULL"), 1000);
    sqlite3_close(db);
    assert_schema5_indexes(fx->db);
    /* Keyed rows given again (as after a writer died unacknowledged) are
     * not written twice; a new key and unkeyed rows are. */
    event_at(&e, reason, 2000, NOW_MS + 2000);
    assert_int_equal(ens__jwriter_append_keyed(w, &e, 5, 1), 0);
    assert_int_equal(ens__jwriter_append_keyed(w, &e, 5, 1999), 0);
    assert_int_equal(ens__jwriter_append_keyed(w, &e, 5, 2001), 0);
    assert_int_equal(ens__jwriter_append(w, &e), 0);
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(ens__jwriter_duplicates(w), 2);
    ens__jwriter_close(w);
    int64_t rows, lo, hi;
    row_span(fx->db, &rows, &lo, &hi);
    assert_int_equal(rows, 2002);
    assert_int_equal(assert_counts_right(fx->db), 2002);
    /* A filter on kind alone, without its index. */
    if (ens_journal_open_why(fx->db, &j, why, sizeof(why)) != 0)
        fail_msg("open: %s", why);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << e.kind;
    f.limit = 3;
    journal_rows_seen seen = {0};
    assert_int_equal(ens_journal_query(j, &f, on_row, &seen), 3);
    assert_int_equal(seen.first_at, NOW_MS + 2000);
    assert_true(seen.all_kind == (int)e.kind);
    ens_journal_close(j);

    /* A rare kind (3 rows in 2000: the reader scans the table and sorts
     * what it finds) and a kind with no rows (failure_counts says so). */
    w = open_writer(fx->db);
    for (int i = 0; i < 3; i++) {
        event_at(&e, reason, 3000 + i, NOW_MS - 5000 + i * 1000);
        e.kind = ENS_EV_DEAD_LETTER;
        assert_int_equal(ens__jwriter_append(w, &e), 0);
    }
    ens__jwriter_close(w);
    if (ens_journal_open_why(fx->db, &j, why, sizeof(why)) != 0)
        fail_msg("open: %s", why);
    f.kinds = 1u << ENS_EV_DEAD_LETTER;
    f.limit = 2;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(ens_journal_query(j, &f, on_row, &seen), 2);
    assert_int_equal(seen.first_at, NOW_MS - 3000); /* newest first, not first written */
    assert_int_equal(seen.all_kind, ENS_EV_DEAD_LETTER);
    f.limit = 0;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(ens_journal_query(j, &f, on_row, &seen), 3);
    f.kinds = 1u << ENS_EV_NOPLACE;
    assert_int_equal(ens_journal_query(j, &f, on_row, &seen), 0);
    f.kinds = 1u << 30; /* names no kind: refused as before */
    assert_int_equal(ens_journal_query(j, &f, on_row, &seen), ENS_EINVAL);
    ens_journal_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_max_rows_keeps_the_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_large_excess_goes_in_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_size_stops_growing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_age_deletes_backdated_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_limit_deletes_across_gaps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_options_map_to_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_from_the_command_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema3_journal_is_read_and_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema4_journal_is_read_and_migrated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

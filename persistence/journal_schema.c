/*
 * persistence/journal_schema.c - create, check and migrate the journal's
 * tables (version history in journal_schema.h).
 *
 * Only constant SQL lives here. A migration is one function per step
 * (version N to N+1), run in order inside the same IMMEDIATE transaction as
 * the version bump, so a crash or an error mid-way leaves the old layout
 * intact. The version-0 layout is detected by its `failures` table without a
 * schema_version table.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/wire/why.h"
#include "ensemble/error.h"
#include "persistence/journal_schema.h"

/* The columns of version 1's failures table. */
#define FAILURES_COLUMNS_V1                                                                        \
    "seq INTEGER PRIMARY KEY,"                                                                     \
    " at_ms INTEGER NOT NULL,"                                                                     \
    " system TEXT NOT NULL,"                                                                       \
    " host TEXT NOT NULL,"                                                                         \
    " actor TEXT NOT NULL,"                                                                        \
    " actor_id INTEGER NOT NULL,"                                                                  \
    " node INTEGER NOT NULL,"                                                                      \
    " actor_type TEXT NOT NULL,"                                                                   \
    " parent TEXT NOT NULL,"                                                                       \
    " msg_type TEXT NOT NULL,"                                                                     \
    " sender TEXT NOT NULL,"                                                                       \
    " kind TEXT NOT NULL,"                                                                         \
    " error INTEGER NOT NULL,"                                                                     \
    " error_name TEXT NOT NULL,"                                                                   \
    " signal INTEGER NOT NULL,"                                                                    \
    " attempt INTEGER NOT NULL,"                                                                   \
    " incarnation INTEGER NOT NULL,"                                                               \
    " msg_size INTEGER NOT NULL,"                                                                  \
    " reason TEXT NOT NULL"

/* The failures table of version 1, after "CREATE TABLE <name> ". */
#define FAILURES_V1 "(" FAILURES_COLUMNS_V1 ") STRICT"

/* Version 2 adds the key of a row reported through the process base's
 * admin: run_id (random, one per admin start) and run_seq (the admin's
 * number for the event in that run), NULL for rows without one. The
 * unique index makes a row written twice (an event resent to a new writer
 * after the one before died unacknowledged) one row; NULLs never collide. */
#define FAILURES_V2 "(" FAILURES_COLUMNS_V1 ", run_id INTEGER, run_seq INTEGER) STRICT"
#define INDEXES_V2  "CREATE UNIQUE INDEX IF NOT EXISTS failures_run ON failures(run_id, run_seq);"

/* Version 3 adds system_node: the node of the system that wrote the row
 * (its convention node; actor's node column is the actor's, which for a
 * dead letter to another system is not the writer's). Rows of older
 * versions get 0 (not known). The host column, there since version 1, is
 * written sanitized from version 3 on (one line, as in member records). */
#define FAILURES_V3                                                                                \
    "(" FAILURES_COLUMNS_V1 ", run_id INTEGER, run_seq INTEGER,"                                   \
    " system_node INTEGER NOT NULL DEFAULT 0) STRICT"

/* The indexes serve the filters of ens_journal_query; each ends in at_ms so
 * that "newest first" within a filter needs no sort. */
#define INDEXES_V1                                                                                 \
    "CREATE INDEX IF NOT EXISTS failures_at ON failures(at_ms);"                                   \
    "CREATE INDEX IF NOT EXISTS failures_actor ON failures(actor_id, at_ms);"                      \
    "CREATE INDEX IF NOT EXISTS failures_type ON failures(actor_type, at_ms);"                     \
    "CREATE INDEX IF NOT EXISTS failures_kind ON failures(kind, at_ms);"

/* Version 5's indexes: every row costs the writer a seek in each index
 * twice, once when written and once when retention deletes it, and at the
 * retention limit that is most of its time. So: the key index holds keyed
 * rows only (a partial index: rows without a key, all of the inproc
 * base's, no longer pay for it; NULLs never collided anyway), and the kind
 * index is gone (eleven values: a filter on kind alone walks failures_at
 * newest first and stops at the limit; counts by kind read
 * failure_counts). */
#define INDEXES_V5                                                                                 \
    "CREATE INDEX IF NOT EXISTS failures_at ON failures(at_ms);"                                   \
    "CREATE INDEX IF NOT EXISTS failures_actor ON failures(actor_id, at_ms);"                      \
    "CREATE INDEX IF NOT EXISTS failures_type ON failures(actor_type, at_ms);"                     \
    "CREATE UNIQUE INDEX IF NOT EXISTS failures_run ON failures(run_id, run_seq)"                  \
    " WHERE run_id IS NOT NULL;"

/* Version 4: the counts the reader's count queries need, kept by the
 * writer in the transaction of each batch and each retention delete
 * (persistence/journal_writer.c), so `count by kind` reads a table of
 * (actor type x kind) rows instead of scanning an index of millions.
 * Not triggers: a trigger makes every INSERT a statement with a
 * sub-journal, which cost the writer a third of its rate. */
#define COUNTS_V4                                                                                  \
    "CREATE TABLE failure_counts (actor_type TEXT NOT NULL, kind TEXT NOT NULL,"                   \
    " n INTEGER NOT NULL, PRIMARY KEY (actor_type, kind)) STRICT, WITHOUT ROWID;"

int ens__jschema_err(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return ENS_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ENS_EAGAIN;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
        return ENS_ENOTJOURNAL;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
        return ENS_EINVAL;
    default:
        return ENS_EIO;
    }
}

/* An ENS_E* code for rc, with sqlite's own words in why. */
static int fail(sqlite3 *db, int rc, char *why, size_t len, const char *doing)
{
    int err = ens__jschema_err(rc);
    if ((rc & 0xff) == SQLITE_CORRUPT)
        ens__why(why, len, "corrupt journal (%s: %s)", doing, sqlite3_errmsg(db));
    else if (err == ENS_ENOTJOURNAL)
        ens__why(why, len, "not an ensemble journal (%s: %s)", doing, sqlite3_errmsg(db));
    else
        ens__why(why, len, "%s: %s", doing, sqlite3_errmsg(db));
    return err != 0 ? err : ENS_EIO;
}

/* One integer from a constant query (0 when it yields no row). */
static int query_int(sqlite3 *db, const char *sql, long long *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    *out = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* What the file holds: -1 empty database, else the schema version (0 for
 * the prototype layout). ENS_ENOTJOURNAL (reason in why) for anything that is
 * not a journal. */
static int detect_version(sqlite3 *db, char *why, size_t len, int *version)
{
    long long n_tables = 0, has_version = 0, has_failures = 0, app_id = 0;
    int rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &n_tables);
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA application_id", &app_id);
    if (rc == SQLITE_OK)
        rc = query_int(db,
                       "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
                       " AND name = 'schema_version'",
                       &has_version);
    if (rc == SQLITE_OK)
        rc = query_int(db,
                       "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
                       " AND name = 'failures'",
                       &has_failures);
    if (rc != SQLITE_OK)
        return fail(db, rc, why, len, "reading the schema");
    if (app_id != 0 && app_id != ENS__JOURNAL_APP_ID) {
        ens__why(why, len, "not an ensemble journal (application_id %#llx)",
                 (unsigned long long)app_id);
        return ENS_ENOTJOURNAL;
    }
    if (n_tables == 0) {
        *version = -1;
        return 0;
    }
    if (!has_failures) {
        ens__why(why, len, "not an ensemble journal (a sqlite database without a failures table)");
        return ENS_ENOTJOURNAL;
    }
    if (!has_version) {
        *version = 0;
        return 0;
    }
    long long v = 0;
    rc = query_int(db, "SELECT max(version) FROM schema_version", &v);
    if (rc != SQLITE_OK)
        return fail(db, rc, why, len, "reading the schema version");
    if (v < 0 || v > 1000000) {
        ens__why(why, len, "not an ensemble journal (schema version %lld)", v);
        return ENS_ENOTJOURNAL;
    }
    *version = (int)v;
    return 0;
}

static int exec(sqlite3 *db, const char *sql, char *why, size_t len, const char *doing)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(db, rc, why, len, doing);
}

static int create_current(sqlite3 *db, char *why, size_t len)
{
    return exec(db, "CREATE TABLE failures " FAILURES_V3 ";" INDEXES_V5 COUNTS_V4, why, len,
                "creating the journal tables");
}

/* 0 -> 1: the loose prototype table becomes the STRICT one. Columns the
 * prototype lacked get neutral values (host "", no parent/sender, sizes 0);
 * node and id come from the "ens:N/ID" text; error_name from the code. */
static void err_name_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_text(ctx, ens_err_name(sqlite3_value_int(argv[0])), -1, SQLITE_STATIC);
}

static int migrate_0_to_1(sqlite3 *db, char *why, size_t len)
{
    int rc = sqlite3_create_function(db, "ens_err_name", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                     NULL, err_name_fn, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(db, rc, why, len, "migrating from version 0");
    static const char sql[] =
        "CREATE TABLE failures_v1 " FAILURES_V1 ";"
        "INSERT INTO failures_v1 (seq, at_ms, system, host, actor, actor_id, node, actor_type,"
        " parent, msg_type, sender, kind, error, error_name, signal, attempt, incarnation,"
        " msg_size, reason)"
        " SELECT seq, CAST(coalesce(at_ms, 0) AS INTEGER), CAST(coalesce(system, '') AS TEXT),"
        " '', CAST(coalesce(actor, '') AS TEXT),"
        " CASE WHEN actor LIKE 'ens:%/%'"
        "  THEN CAST(substr(actor, instr(actor, '/') + 1) AS INTEGER) ELSE 0 END,"
        " CASE WHEN actor LIKE 'ens:%/%'"
        "  THEN CAST(substr(actor, 5, instr(actor, '/') - 5) AS INTEGER) ELSE 0 END,"
        " CAST(coalesce(actor_type, '') AS TEXT), '', CAST(coalesce(msg_type, '') AS TEXT), '',"
        " CAST(coalesce(kind, '') AS TEXT), CAST(coalesce(error, 0) AS INTEGER),"
        " ens_err_name(CAST(coalesce(error, 0) AS INTEGER)), CAST(coalesce(signal, 0) AS INTEGER),"
        " CAST(coalesce(attempt, 0) AS INTEGER), 0, 0, CAST(coalesce(reason, '') AS TEXT)"
        " FROM failures ORDER BY seq;"
        "DROP TABLE failures;"
        "ALTER TABLE failures_v1 RENAME TO failures;" INDEXES_V1;
    int err = exec(db, sql, why, len, "migrating from version 0");
    sqlite3_create_function(db, "ens_err_name", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
    return err;
}

/* 1 -> 2: the row key columns, at the end as a new table has them; the
 * rows already there have none (NULL). */
static int migrate_1_to_2(sqlite3 *db, char *why, size_t len)
{
    return exec(db,
                "ALTER TABLE failures ADD COLUMN run_id INTEGER;"
                "ALTER TABLE failures ADD COLUMN run_seq INTEGER;" INDEXES_V2,
                why, len, "migrating from version 1");
}

/* 2 -> 3: the writer's node; older rows say 0 (not known). */
static int migrate_2_to_3(sqlite3 *db, char *why, size_t len)
{
    return exec(db, "ALTER TABLE failures ADD COLUMN system_node INTEGER NOT NULL DEFAULT 0;", why,
                len, "migrating from version 2");
}

/* 3 -> 4: the counts table, filled from the rows there (one scan), and
 * its triggers. */
static int migrate_3_to_4(sqlite3 *db, char *why, size_t len)
{
    return exec(db,
                COUNTS_V4 "INSERT INTO failure_counts (actor_type, kind, n)"
                          " SELECT actor_type, kind, count(*) FROM failures"
                          " GROUP BY actor_type, kind;",
                why, len, "migrating from version 3");
}

/* 4 -> 5: the key index becomes partial (rebuilt from the keyed rows:
 * one scan, inside the migration's transaction, so a crash leaves the old
 * one), the kind index goes. */
static int migrate_4_to_5(sqlite3 *db, char *why, size_t len)
{
    return exec(db,
                "DROP INDEX IF EXISTS failures_run;"
                "DROP INDEX IF EXISTS failures_kind;"
                "CREATE UNIQUE INDEX failures_run ON failures(run_id, run_seq)"
                " WHERE run_id IS NOT NULL;",
                why, len, "migrating from version 4");
}

typedef int (*migrate_step)(sqlite3 *db, char *why, size_t len);

/* steps[v] upgrades version v to v + 1. */
static const migrate_step steps[ENS__JOURNAL_SCHEMA_VERSION] = {
    migrate_0_to_1, migrate_1_to_2, migrate_2_to_3, migrate_3_to_4, migrate_4_to_5};

static int migrate_locked(sqlite3 *db, char *why, size_t len)
{
    int version = 0;
    int err = detect_version(db, why, len, &version);
    if (err != 0)
        return err;
    if (version > ENS__JOURNAL_SCHEMA_VERSION) {
        ens__why(why, len, "journal schema version %d is newer than this build's (%d)", version,
                 ENS__JOURNAL_SCHEMA_VERSION);
        return ENS_ENOTJOURNAL;
    }
    if (version == ENS__JOURNAL_SCHEMA_VERSION)
        return 0;
    if (version < 0) {
        err = create_current(db, why, len);
    } else {
        for (int v = version; v < ENS__JOURNAL_SCHEMA_VERSION && err == 0; v++)
            err = steps[v](db, why, len);
    }
    if (err == 0)
        err = exec(db,
                   "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT;"
                   "DELETE FROM schema_version;",
                   why, len, "writing the schema version");
    if (err == 0) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_version (version) VALUES (%d);"
                 "PRAGMA application_id = %d;",
                 ENS__JOURNAL_SCHEMA_VERSION, ENS__JOURNAL_APP_ID);
        err = exec(db, sql, why, len, "writing the schema version");
    }
    return err;
}

int ens__jschema_migrate(sqlite3 *db, char *why, size_t why_len)
{
    if (db == NULL)
        return ENS_EINVAL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(db, rc, why, why_len, "starting the schema transaction");
    int err = migrate_locked(db, why, why_len);
    if (err == 0) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            err = fail(db, rc, why, why_len, "committing the schema");
    }
    if (err != 0 && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

int ens__jschema_check(sqlite3 *db, char *why, size_t why_len)
{
    int version = 0;
    int err = ens__jschema_check_version(db, why, why_len, &version);
    if (err == 0 && version < ENS__JOURNAL_SCHEMA_VERSION) {
        ens__why(why, why_len,
                 "journal schema version %d is older than this build's (%d); the writer migrates it"
                 " when the system next starts with this journal",
                 version, ENS__JOURNAL_SCHEMA_VERSION);
        return ENS_ENOTJOURNAL;
    }
    return err;
}

int ens__jschema_check_version(sqlite3 *db, char *why, size_t why_len, int *out)
{
    if (db == NULL || out == NULL)
        return ENS_EINVAL;
    int version = 0;
    int err = detect_version(db, why, why_len, &version);
    if (err != 0)
        return err;
    if (version < 0) {
        ens__why(why, why_len, "not an ensemble journal (an empty database)");
        return ENS_ENOTJOURNAL;
    }
    if (version < ENS__JOURNAL_SCHEMA_READABLE) {
        ens__why(
            why, why_len,
            "journal schema version %d is older than this build reads (%d); the writer migrates"
            " it when the system next starts with this journal",
            version, ENS__JOURNAL_SCHEMA_READABLE);
        return ENS_ENOTJOURNAL;
    }
    if (version > ENS__JOURNAL_SCHEMA_VERSION) {
        ens__why(why, why_len, "journal schema version %d is newer than this build's (%d)", version,
                 ENS__JOURNAL_SCHEMA_VERSION);
        return ENS_ENOTJOURNAL;
    }
    *out = version;
    return 0;
}

/*
 * persistence/journal_query.c - reading the failure journal: the public API
 * of ensemble/journal.h.
 *
 * A reader opens the file read-only (it never creates or migrates one),
 * checks its schema, and answers each query with one prepared statement.
 * The SQL is assembled only from constant fragments chosen by which filter
 * fields are set; every value the caller gives is a bound parameter. Reads
 * work while the writer writes (WAL) and after the system ended.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "core/runtime/files.h"
#include "core/wire/why.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "persistence/journal_schema.h"

#define BUSY_TIMEOUT_MS 5000
#define MAX_KIND        31

struct ens_journal {
    sqlite3 *db;
    int version; /* the schema version found (failure_counts from 4 on) */
    char err[512];
};

/* A reader may read another user's journal (file permissions decide), but
 * never through a link (sqlite would open -shm beside the link's target
 * and write it) and never a FIFO or a device (the open would hang or read
 * a stream); sqlite's companions, which a reader opens and may write (the
 * shared-memory index), must belong to the journal's owner: a -shm or -wal
 * planted by someone else beside it is refused. */
static int check_files(const char *path, const struct stat *st, char *why, size_t why_len)
{
    if (S_ISLNK(st->st_mode) || !S_ISREG(st->st_mode)) {
        ens__why(why, why_len, "%s is %s", path,
                 S_ISLNK(st->st_mode) ? "a symbolic link (give the journal's own path)"
                                      : "not a regular file");
        return ENS_EUNSAFE;
    }
    static const char *const companions[] = {"-journal", "-wal", "-shm"};
    size_t len = strlen(path);
    char *name = malloc(len + sizeof("-journal"));
    if (name == NULL)
        return ENS_ENOMEM;
    int err = 0;
    for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]) && err == 0; i++) {
        memcpy(name, path, len);
        strcpy(name + len, companions[i]);
        char reason[512] = "";
        err = ens__file_check(name, st->st_uid, NULL, reason, sizeof(reason));
        if (err != 0)
            ens__why(why, why_len, "%s", reason);
    }
    free(name);
    return err;
}

static int open_why(const char *path, ens_journal **out, char *why, size_t why_len);

int ens_journal_open_why(const char *path, ens_journal **out, char *why, size_t why_len)
{
    char own[512];
    ens__errmsg_clear();
    int err = open_why(path, out, own, sizeof(own));
    ens__why(why, why_len, "%s", own);
    if (err < 0)
        ens__errmsg_set("ens_journal_open: %.256s: %s", path != NULL ? path : "(null)", own);
    return err;
}

static int open_why(const char *path, ens_journal **out, char *why, size_t why_len)
{
    ens__why(why, why_len, "%s", "");
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        ens__why(why, why_len, "no journal path given");
        return ENS_EINVAL;
    }
    /* Look first: sqlite would report a missing file as "unable to open". */
    struct stat st;
    if (lstat(path, &st) != 0) {
        int e = errno;
        ens__why(why, why_len, "%s", strerror(e));
        return e == ENOENT || e == ENOTDIR ? ENS_ENOENT : ENS_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        ens__why(why, why_len, "not an ensemble journal (a directory)");
        return ENS_ENOTJOURNAL;
    }
    int err = check_files(path, &st, why, why_len);
    if (err != 0)
        return err;
    ens_journal *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return ENS_ENOMEM;
    int rc = sqlite3_open_v2(
        path, &j->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc != SQLITE_OK) {
        err = ens__jschema_err(rc);
        if (err == 0 || err == ENS_EAGAIN)
            err = ENS_EIO;
        ens__why(why, why_len, "cannot open: %s",
                 j->db != NULL ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
    } else {
        sqlite3_extended_result_codes(j->db, 1);
        sqlite3_busy_timeout(j->db, BUSY_TIMEOUT_MS);
        err = ens__jschema_check_version(j->db, why, why_len, &j->version);
    }
    if (err != 0) {
        sqlite3_close_v2(j->db);
        free(j);
        return err;
    }
    *out = j;
    return 0;
}

int ens_journal_open(const char *path, ens_journal **out)
{
    return ens_journal_open_why(path, out, NULL, 0);
}

void ens_journal_close(ens_journal *j)
{
    if (j == NULL)
        return;
    sqlite3_close_v2(j->db);
    free(j);
}

const char *ens_journal_errmsg(const ens_journal *j)
{
    return j != NULL ? j->err : "";
}

/* ---- building a statement ---- */

/* Room for the longest statement: every filter and all 31 kinds. */
typedef struct sqlbuf {
    char text[1536];
    size_t len;
} sqlbuf;

/* Append a constant fragment (never caller text). */
static void sql_add(sqlbuf *b, const char *frag)
{
    size_t n = strlen(frag);
    assert(b->len + n < sizeof(b->text));
    memcpy(b->text + b->len, frag, n + 1);
    b->len += n;
}

/* Parameter numbers: fixed per filter field, kinds from KIND_PARAM + k. */
enum { P_NODE = 1, P_ID, P_TYPE, P_MSG, P_SINCE, P_UNTIL, P_LIMIT, KIND_PARAM = 10 };

static int add_kinds(ens_journal *j, sqlbuf *b, const ens_journal_filter *f);

/* The WHERE clause for f (NULL = none). ENS_EINVAL for a kinds bit that
 * names no kind. */
static int add_where(ens_journal *j, sqlbuf *b, const ens_journal_filter *f)
{
    sql_add(b, " WHERE 1");
    if (f == NULL)
        return 0;
    if (!ens_addr_is_none(f->actor))
        sql_add(b, " AND node = ?1 AND actor_id = ?2");
    if (f->actor_type != NULL)
        sql_add(b, " AND actor_type = ?3");
    if (f->msg_type != NULL)
        sql_add(b, " AND msg_type = ?4");
    if (f->since_ms != 0)
        sql_add(b, " AND at_ms >= ?5");
    if (f->until_ms != 0)
        sql_add(b, " AND at_ms < ?6");
    return add_kinds(j, b, f);
}

/* " AND kind IN (...)" for f's kinds (nothing when none). ENS_EINVAL for a
 * kinds bit that names no kind. */
static int add_kinds(ens_journal *j, sqlbuf *b, const ens_journal_filter *f)
{
    if (f->kinds != 0) {
        sql_add(b, " AND kind IN (");
        bool first = true;
        for (int k = 0; k <= MAX_KIND; k++) {
            if (!(f->kinds & (1u << k)))
                continue;
            if (strcmp(ens_event_kind_name((ens_event_kind)k), "unknown") == 0) {
                snprintf(j->err, sizeof(j->err), "kinds bit %d names no event kind", k);
                return ens__fail(ENS_EINVAL, "ens_journal: %s", j->err);
            }
            char p[8];
            snprintf(p, sizeof(p), "%s?%d", first ? "" : ", ", KIND_PARAM + k);
            sql_add(b, p);
            first = false;
        }
        sql_add(b, ")");
    }
    return 0;
}

static void bind_where(sqlite3_stmt *st, const ens_journal_filter *f)
{
    if (f == NULL)
        return;
    if (!ens_addr_is_none(f->actor)) {
        sqlite3_bind_int64(st, P_NODE, f->actor.node);
        sqlite3_bind_int64(st, P_ID, (sqlite3_int64)f->actor.id);
    }
    if (f->actor_type != NULL)
        sqlite3_bind_text(st, P_TYPE, f->actor_type, -1, SQLITE_TRANSIENT);
    if (f->msg_type != NULL)
        sqlite3_bind_text(st, P_MSG, f->msg_type, -1, SQLITE_TRANSIENT);
    if (f->since_ms != 0)
        sqlite3_bind_int64(st, P_SINCE, f->since_ms);
    if (f->until_ms != 0)
        sqlite3_bind_int64(st, P_UNTIL, f->until_ms);
    for (int k = 0; k <= MAX_KIND; k++) {
        if (f->kinds & (1u << k))
            sqlite3_bind_text(st, KIND_PARAM + k, ens_event_kind_name((ens_event_kind)k), -1,
                              SQLITE_STATIC);
    }
}

static int db_fail(ens_journal *j, int rc, const char *doing)
{
    int err = ens__jschema_err(rc);
    if (err == 0)
        err = ENS_EIO;
    snprintf(j->err, sizeof(j->err), "%s: %s%s", doing, sqlite3_errmsg(j->db),
             err == ENS_ENOTJOURNAL ? " (the journal is corrupt)" : "");
    return err;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t != NULL ? (const char *)t : "";
}

static ens_addr col_addr(sqlite3_stmt *st, int col)
{
    ens_addr a = ENS_ADDR_NONE;
    const char *t = col_text(st, col);
    if (t[0] != '\0' && ens_addr_parse(t, &a) != 0)
        a = ENS_ADDR_NONE;
    return a;
}

/* Step st to the end, calling cb per row through `row_of`. */
typedef void (*row_fn)(sqlite3_stmt *st, ens_journal_row *row);

static int run(ens_journal *j, sqlite3_stmt *st, row_fn fill, ens_journal_row_cb cb, void *arg,
               const char *doing)
{
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ens_journal_row row;
        memset(&row, 0, sizeof(row));
        fill(st, &row);
        n++;
        if (cb(&row, arg) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int err = rc == SQLITE_DONE ? 0 : db_fail(j, rc, doing);
    sqlite3_finalize(st);
    if (err == 0)
        ens__errmsg_clear(); /* a row's unknown kind or address is not the call's failure */
    return err != 0 ? err : n;
}

/* For a filter on kinds with no other indexed filter (schema 4 and up):
 * the rows of those kinds and the rows in all, from failure_counts. */
static int kind_rows(ens_journal *j, const ens_journal_filter *f, int64_t *of_kinds, int64_t *all)
{
    sqlbuf b = {.len = 0};
    b.text[0] = '\0';
    sql_add(&b, "SELECT (SELECT total(n) FROM failure_counts WHERE 1");
    int err = add_kinds(j, &b, f);
    if (err != 0)
        return err;
    sql_add(&b, "), (SELECT total(n) FROM failure_counts)");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, b.text, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(j, rc, "cannot count in the journal");
    bind_where(st, f);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *of_kinds = (int64_t)sqlite3_column_double(st, 0);
        *all = (int64_t)sqlite3_column_double(st, 1);
    }
    err = rc == SQLITE_ROW ? 0 : db_fail(j, rc, "cannot count in the journal");
    sqlite3_finalize(st);
    return err;
}

/* Whether a filter on kinds alone should read the table in its own order
 * rather than walk failures_at newest first (schema 5 has no kind index):
 * when the kinds are rare and the walk would cover much of the table
 * before it found `limit` rows, a scan in rowid order and a sort of the
 * few rows found costs a quarter as much. *none when the kinds have no
 * rows at all. */
static int kinds_alone_plan(ens_journal *j, const ens_journal_filter *f, bool *scan, bool *none)
{
    *scan = *none = false;
    if (f == NULL || f->kinds == 0 || j->version < 4 || !ens_addr_is_none(f->actor) ||
        f->actor_type != NULL || f->since_ms != 0 || f->until_ms != 0)
        return 0;
    int64_t k = 0, all = 0;
    int err = kind_rows(j, f, &k, &all);
    if (err != 0)
        return err;
    *none = k <= 0;
    *scan = k * 64 < all && (f->limit == 0 || k < 4 * (int64_t)f->limit);
    return 0;
}

static const char select_sql[] =
    "SELECT seq, at_ms, system, host, actor_id, node, actor_type, parent, msg_type, sender,"
    " kind, error, error_name, signal, attempt, incarnation, msg_size, reason, system_node"
    " FROM failures";

static void fill_row(sqlite3_stmt *st, ens_journal_row *row)
{
    row->seq = sqlite3_column_int64(st, 0);
    row->ev.at_ms = sqlite3_column_int64(st, 1);
    row->system = col_text(st, 2);
    row->host = col_text(st, 3);
    row->ev.actor.id = (uint64_t)sqlite3_column_int64(st, 4);
    row->ev.actor.node = (uint32_t)sqlite3_column_int64(st, 5);
    row->ev.actor_type = col_text(st, 6);
    row->ev.parent = col_addr(st, 7);
    row->ev.msg_type = col_text(st, 8);
    row->ev.sender = col_addr(st, 9);
    int kind = ens_event_kind_parse(col_text(st, 10));
    row->ev.kind = (ens_event_kind)(kind > 0 ? kind : 0);
    row->ev.error = (int32_t)sqlite3_column_int64(st, 11);
    row->error_name = col_text(st, 12);
    row->ev.signal = (int32_t)sqlite3_column_int64(st, 13);
    row->ev.attempt = (uint32_t)sqlite3_column_int64(st, 14);
    row->ev.incarnation = (uint32_t)sqlite3_column_int64(st, 15);
    row->ev.msg_size = (uint32_t)sqlite3_column_int64(st, 16);
    row->ev.reason = col_text(st, 17);
    row->node = (uint32_t)sqlite3_column_int64(st, 18);
}

int ens_journal_query(ens_journal *j, const ens_journal_filter *f, ens_journal_row_cb cb, void *arg)
{
    ens__errmsg_clear();
    if (j == NULL || cb == NULL)
        return ens__fail(ENS_EINVAL, "ens_journal_query: %s is NULL", j == NULL ? "j" : "cb");
    j->err[0] = '\0';
    sqlbuf b = {.len = 0};
    b.text[0] = '\0';
    bool scan, none;
    int err = kinds_alone_plan(j, f, &scan, &none);
    if (err != 0)
        return err;
    if (none)
        return 0; /* failure_counts has no row of these kinds */
    sql_add(&b, select_sql);
    if (scan)
        sql_add(&b, " NOT INDEXED");
    err = add_where(j, &b, f);
    if (err != 0)
        return err;
    sql_add(&b, " ORDER BY at_ms DESC, seq DESC");
    if (f != NULL && f->limit != 0)
        sql_add(&b, " LIMIT ?7");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, b.text, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(j, rc, "cannot query the journal");
    bind_where(st, f);
    if (f != NULL && f->limit != 0)
        sqlite3_bind_int64(st, P_LIMIT, f->limit);
    return run(j, st, fill_row, cb, arg, "cannot read the journal");
}

static void fill_kind_group(sqlite3_stmt *st, ens_journal_row *row)
{
    int kind = ens_event_kind_parse(col_text(st, 0));
    row->ev.kind = (ens_event_kind)(kind > 0 ? kind : 0);
    row->count = row->seq = sqlite3_column_int64(st, 1);
    row->system = row->host = row->error_name = "";
    row->ev.actor_type = row->ev.msg_type = row->ev.reason = "";
}

static void fill_type_group(sqlite3_stmt *st, ens_journal_row *row)
{
    row->ev.actor_type = col_text(st, 0);
    row->count = row->seq = sqlite3_column_int64(st, 1);
    row->system = row->host = row->error_name = "";
    row->ev.msg_type = row->ev.reason = "";
}

int ens_journal_count(ens_journal *j, const ens_journal_filter *f, const char *by,
                      ens_journal_row_cb cb, void *arg)
{
    ens__errmsg_clear();
    if (j == NULL || cb == NULL || by == NULL)
        return ens__fail(ENS_EINVAL, "ens_journal_count: %s is NULL",
                         j == NULL    ? "j"
                         : cb == NULL ? "cb"
                                      : "by");
    j->err[0] = '\0';
    const char *col;
    row_fn fill;
    if (strcmp(by, "kind") == 0) {
        col = "kind";
        fill = fill_kind_group;
    } else if (strcmp(by, "actor_type") == 0) {
        col = "actor_type";
        fill = fill_type_group;
    } else {
        snprintf(j->err, sizeof(j->err), "cannot count by \"%.64s\" (kind or actor_type)", by);
        return ens__fail(ENS_EINVAL, "ens_journal_count: %s", j->err);
    }
    sqlbuf b = {.len = 0};
    b.text[0] = '\0';
    /* Filters on actor type and kind only: failure_counts (schema 4) has
     * the answer in a few rows; anything else counts the matching rows. */
    bool summary =
        j->version >= 4 && (f == NULL || (ens_addr_is_none(f->actor) && f->msg_type == NULL &&
                                          f->since_ms == 0 && f->until_ms == 0));
    sql_add(&b, "SELECT ");
    sql_add(&b, col);
    sql_add(&b, summary ? ", sum(n) AS c FROM failure_counts" : ", count(*) AS c FROM failures");
    int err = add_where(j, &b, f);
    if (err != 0)
        return err;
    sql_add(&b, " GROUP BY ");
    sql_add(&b, col);
    if (summary)
        sql_add(&b, " HAVING c > 0");
    sql_add(&b, " ORDER BY c DESC, ");
    sql_add(&b, col);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, b.text, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(j, rc, "cannot count in the journal");
    bind_where(st, f);
    return run(j, st, fill, cb, arg, "cannot read the journal");
}

/* ---- where a system keeps its journal ---- */

int ens_journal_default_path(const char *name, char *buf, size_t len)
{
    ens__errmsg_clear();
    if (name == NULL)
        name = "default";
    if (buf == NULL)
        return ens__fail(ENS_EINVAL, "ens_journal_default_path: buf is NULL");
    if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return ens__fail(ENS_EINVAL, "ens_journal_default_path: \"%.64s\" is not a system name",
                         name);
    const char *state = getenv("XDG_STATE_HOME");
    int n;
    /* The XDG spec: a relative XDG_STATE_HOME is invalid and ignored. */
    if (state != NULL && state[0] == '/') {
        n = snprintf(buf, len, "%s/ensemble/%s.db", state, name);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0')
            return ens__fail(ENS_EINVAL, "ens_journal_default_path: neither XDG_STATE_HOME (an "
                                         "absolute path) nor HOME is set");
        n = snprintf(buf, len, "%s/.local/state/ensemble/%s.db", home, name);
    }
    if (n < 0)
        return ENS_EINVAL;
    if ((size_t)n >= len) {
        if (len > 0)
            buf[0] = '\0';
        return ENS_ENOBUFS;
    }
    return n;
}

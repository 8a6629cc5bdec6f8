/*
 * persistence/journal_writer.c - the failure journal's writer: events are
 * copied into a bounded in-memory batch and written one transaction per
 * flush through a single prepared INSERT.
 *
 * Everything a writer needs hangs off its handle (no globals), so the same
 * code serves the inproc base and a dedicated writer process. Failure is
 * explicit: a flush that cannot commit rolls back, keeps its batch for the
 * next try and leaves its reason in last_error; an event that finds the
 * batch full and unflushable is counted in `dropped`, never lost silently.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/runtime/caps.h"
#include "core/runtime/files.h"
#include "core/runtime/runtime.h"
#include "ensemble/addr.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "ensemble/system.h"
#include "persistence/journal_schema.h"
#include "persistence/journal_writer.h"
#include "persistence/journal_writer_state.h"

#define BUSY_TIMEOUT_MS 5000

/* The writer's page cache (KiB; sqlite allocates it as pages are read):
 * an insert touches the right edge of the table and one leaf of each
 * index (four for keyed rows, three for others; five before schema 5),
 * and sqlite's default 2 MiB stopped holding their interior
 * pages near a million rows (35 k rows/s there against 124 k at 100 k). */
#define CACHE_KIB 65536
/* Pages between checkpoints: a page written again before the checkpoint
 * is copied into the database once. */
#define WAL_AUTOCHECKPOINT 8192
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char insert_sql[] =
    "INSERT INTO failures (at_ms, system, host, actor, actor_id, node, actor_type, parent,"
    " msg_type, sender, kind, error, error_name, signal, attempt, incarnation, msg_size, reason,"
    " run_id, run_seq, system_node)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21)"
    " ON CONFLICT (run_id, run_seq) WHERE run_id IS NOT NULL DO NOTHING";

int ens__jw_prepared(ens_jwriter *w, sqlite3_stmt **st, const char *sql)
{
    if (*st != NULL)
        return SQLITE_OK;
    return sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static void set_err(ens_jwriter *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(ens_jwriter *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
}

/* Create every missing directory of dir (mode 0700). 0 or -errno. */
static int make_dirs(char *dir)
{
    size_t len = strlen(dir);
    for (size_t i = 1; i <= len; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char saved = dir[i];
        dir[i] = '\0';
        int rc = 0;
        if (mkdir(dir, 0700) != 0) {
            struct stat st;
            if (errno != EEXIST)
                rc = -errno;
            else if (stat(dir, &st) != 0)
                rc = -errno;
            else if (!S_ISDIR(st.st_mode))
                rc = -ENOTDIR;
        }
        dir[i] = saved;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The parent directory of path, created if missing. */
static int ensure_parent(ens_jwriter *w, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path)
        return 0; /* the current directory or "/" */
    size_t len = (size_t)(slash - path);
    char *dir = malloc(len + 1);
    if (dir == NULL)
        return ENS_ENOMEM;
    memcpy(dir, path, len);
    dir[len] = '\0';
    int rc = make_dirs(dir);
    if (rc != 0)
        set_err(w, "cannot create directory %s: %s", dir, strerror(-rc));
    free(dir);
    return rc != 0 ? ENS_EIO : 0;
}

int ens__jw_db_fail(ens_jwriter *w, int rc, const char *doing)
{
    int err = ens__jschema_err(rc);
    if (err == 0)
        err = ENS_EIO;
    /* sqlite's words, its extended code (778 is SQLITE_IOERR_WRITE) and the
     * errno behind an I/O error when sqlite kept one. */
    int ext = w->db != NULL ? sqlite3_extended_errcode(w->db) : rc;
    int sys = w->db != NULL ? sqlite3_system_errno(w->db) : 0;
    char os[96] = "";
    if (sys != 0 && (rc & 0xff) == SQLITE_IOERR)
        snprintf(os, sizeof(os), ": %s", strerror(sys));
    set_err(w, "journal %s%s: %s: %s (sqlite %d%s, %s)", w->path,
            err == ENS_ENOTJOURNAL ? " is corrupt or not a journal" : "", doing,
            w->db != NULL ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc), ext, os, ens_err_name(err));
    return err;
}

/* sqlite's companions of a database: the rollback journal (used while
 * switching to WAL), the WAL and the shared-memory index. */
static const char *const companions[] = {"-journal", "-wal", "-shm"};

/* Check every companion that exists (core/runtime/files.h: a file we may write). */
static int check_companions(ens_jwriter *w)
{
    size_t len = strlen(w->path);
    char *name = malloc(len + sizeof("-journal"));
    if (name == NULL)
        return ENS_ENOMEM;
    int err = 0;
    for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]) && err == 0; i++) {
        memcpy(name, w->path, len);
        strcpy(name + len, companions[i]);
        err = ens__file_check(name, geteuid(), NULL, w->err, sizeof(w->err));
    }
    free(name);
    return err;
}

/* Before sqlite sees the path: the directory (created if missing) and the
 * files pass core/runtime/files.h's rule, and a new database file is created here,
 * mode 0600, so that sqlite, which gives the WAL and shared-memory files
 * the database's mode, makes them 0600 too. */
static int prepare_files(ens_jwriter *w)
{
    int err = ens__file_dir_check(w->path, w->err, sizeof(w->err));
    if (err == ENS_ENOENT) {
        err = ensure_parent(w, w->path);
        if (err == 0)
            err = ens__file_dir_check(w->path, w->err, sizeof(w->err));
    }
    if (err == 0)
        err = check_companions(w);
    if (err == 0)
        err = ens__file_create_private(w->path, w->err, sizeof(w->err));
    return err == ENS_ENOENT ? ENS_EIO : err;
}

static int open_db(ens_jwriter *w)
{
    bool memory = strcmp(w->path, ":memory:") == 0;
    if (!memory) {
        int err = prepare_files(w);
        if (err != 0)
            return err;
    }
    /* NOFOLLOW: a link put at the path after the check is refused too. */
    int rc = sqlite3_open_v2(w->path, &w->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 (memory ? 0 : SQLITE_OPEN_NOFOLLOW),
                             NULL);
    if (rc != SQLITE_OK) {
        int err = ens__jschema_err(rc) != 0 ? ens__jschema_err(rc) : ENS_EIO;
        set_err(w, "cannot open journal %s: %s", w->path,
                w->db != NULL ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
        return err == ENS_EAGAIN ? ENS_EIO : err;
    }
    sqlite3_extended_result_codes(w->db, 1);
    sqlite3_busy_timeout(w->db, BUSY_TIMEOUT_MS);
    /* sqlite falls back to read-only when it may not write the file; the
     * writer must say so now, not at its first flush. */
    if (sqlite3_db_readonly(w->db, "main") == 1) {
        set_err(w, "journal %s is read-only", w->path);
        return ENS_EIO;
    }
    /* Only a database without tables takes it, and only before WAL mode
     * writes the header; on an older journal it changes nothing. */
    rc = sqlite3_exec(w->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ens__jw_db_fail(w, rc, "cannot set auto_vacuum");
    rc = sqlite3_exec(w->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ens__jw_db_fail(w, rc, "cannot switch to WAL");
    rc = sqlite3_exec(w->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ens__jw_db_fail(w, rc, "cannot set synchronous");
    char tune[128];
    snprintf(tune, sizeof(tune),
             "PRAGMA cache_size = -%d; PRAGMA wal_autocheckpoint = %d; PRAGMA temp_store = MEMORY",
             CACHE_KIB, WAL_AUTOCHECKPOINT);
    rc = sqlite3_exec(w->db, tune, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ens__jw_db_fail(w, rc, "cannot size the page cache");
    char why[256] = "";
    int err = ens__jschema_migrate(w->db, why, sizeof(why));
    if (err != 0) {
        set_err(w, "journal %s: %s", w->path, why);
        return err;
    }
    rc = sqlite3_prepare_v3(w->db, insert_sql, -1, SQLITE_PREPARE_PERSISTENT, &w->ins, NULL);
    if (rc != SQLITE_OK)
        return ens__jw_db_fail(w, rc, "cannot prepare the insert");
    /* sqlite has its WAL and shared-memory files open now: names planted
     * between the first check and sqlite's open show here. */
    return memory ? 0 : check_companions(w);
}

static void release(ens_jwriter *w)
{
    for (uint32_t i = 0; i < w->n; i++)
        free(w->batch[i].strs);
    free(w->batch);
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->rows_st);
    sqlite3_finalize(w->oldest_st);
    sqlite3_finalize(w->del_old_st);
    sqlite3_finalize(w->del_aged_st);
    sqlite3_finalize(w->count_st);
    for (uint32_t i = 0; i < w->n_counts; i++) {
        free(w->counts[i].type);
        free(w->counts[i].kind);
    }
    free(w->counts);
    sqlite3_close_v2(w->db);
    free(w->path);
    free(w->system);
    free(w);
}

int ens__jwriter_open_why(const char *path, const char *system_name, ens_jwriter **out, char *why,
                          size_t why_len)
{
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL || path[0] == '\0') {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "no journal path given");
        return ENS_EINVAL;
    }
    ens_jwriter *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ENS_ENOMEM;
    w->clock_ms = wall_ms;
    w->path = strdup(path);
    w->system = strdup(system_name != NULL ? system_name : "");
    if (w->path == NULL || w->system == NULL) {
        release(w);
        return ENS_ENOMEM;
    }
    /* As member records say it: rows gathered from a convention's members
     * are read next to those records. */
    ens__caps_host(w->host, sizeof(w->host));
    int err = open_db(w);
    if (err != 0) {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "%s", w->err);
        release(w);
        return err;
    }
    *out = w;
    return 0;
}

int ens__jwriter_open(const char *path, const char *system_name, ens_jwriter **out)
{
    return ens__jwriter_open_why(path, system_name, out, NULL, 0);
}

/* Copy ev into e (strings into one allocation). */
static int copy_event(jentry *e, const ens_event *ev)
{
    const char *at = ev->actor_type != NULL ? ev->actor_type : "";
    const char *mt = ev->msg_type != NULL ? ev->msg_type : "";
    const char *rs = ev->reason != NULL ? ev->reason : "";
    size_t la = strlen(at) + 1, lm = strlen(mt) + 1, lr = strlen(rs) + 1;
    char *s = malloc(la + lm + lr);
    if (s == NULL)
        return ENS_ENOMEM;
    memcpy(s, at, la);
    memcpy(s + la, mt, lm);
    memcpy(s + la + lm, rs, lr);
    e->ev = *ev;
    e->ev.actor_type = s;
    e->ev.msg_type = s + la;
    e->ev.reason = s + la + lm;
    e->strs = s;
    return 0;
}

int ens__jwriter_append(ens_jwriter *w, const ens_event *ev)
{
    return ens__jwriter_append_keyed(w, ev, 0, 0);
}

int ens__jwriter_append_keyed(ens_jwriter *w, const ens_event *ev, uint64_t run_id,
                              uint64_t run_seq)
{
    if (w == NULL || ev == NULL || run_id > INT64_MAX || run_seq > INT64_MAX)
        return ENS_EINVAL;
    if (w->n >= ENS__JWRITER_BATCH_MAX) {
        int err = ens__jwriter_flush(w);
        if (err != 0) {
            w->dropped++;
            return err;
        }
    }
    if (w->n == w->cap) {
        uint32_t cap = w->cap == 0 ? 64 : w->cap * 2;
        if (cap > ENS__JWRITER_BATCH_MAX)
            cap = ENS__JWRITER_BATCH_MAX;
        jentry *b = realloc(w->batch, cap * sizeof(*b));
        if (b == NULL) {
            w->dropped++;
            set_err(w, "journal %s: out of memory for the batch", w->path);
            return ENS_ENOMEM;
        }
        w->batch = b;
        w->cap = cap;
    }
    if (copy_event(&w->batch[w->n], ev) != 0) {
        w->dropped++;
        set_err(w, "journal %s: out of memory copying an event", w->path);
        return ENS_ENOMEM;
    }
    w->batch[w->n].run_id = run_id;
    w->batch[w->n].run_seq = run_seq;
    w->n++;
    return 0;
}

/* Text form of an address; "" for none. */
static void addr_text(ens_addr a, char buf[ENS_ADDR_STRLEN])
{
    buf[0] = '\0';
    if (!ens_addr_is_none(a))
        ens_addr_format(a, buf, ENS_ADDR_STRLEN);
}

static int insert_one(ens_jwriter *w, const jentry *e)
{
    const ens_event *ev = &e->ev;
    sqlite3_stmt *st = w->ins;
    char actor[ENS_ADDR_STRLEN], parent[ENS_ADDR_STRLEN], sender[ENS_ADDR_STRLEN];
    addr_text(ev->actor, actor);
    addr_text(ev->parent, parent);
    addr_text(ev->sender, sender);
    sqlite3_bind_int64(st, 1, ev->at_ms);
    sqlite3_bind_text(st, 2, w->system, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, w->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)ev->actor.id);
    sqlite3_bind_int64(st, 6, ev->actor.node);
    sqlite3_bind_text(st, 7, ev->actor_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, parent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, ev->msg_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, sender, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, ens_event_kind_name(ev->kind), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, ev->error);
    sqlite3_bind_text(st, 13, ev->error != 0 ? ens_err_name(ev->error) : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 14, ev->signal);
    sqlite3_bind_int64(st, 15, ev->attempt);
    sqlite3_bind_int64(st, 16, ev->incarnation);
    sqlite3_bind_int64(st, 17, ev->msg_size);
    sqlite3_bind_text(st, 18, ev->reason, -1, SQLITE_STATIC);
    if (e->run_id != 0) {
        sqlite3_bind_int64(st, 19, (sqlite3_int64)e->run_id);
        sqlite3_bind_int64(st, 20, (sqlite3_int64)e->run_seq);
    } else {
        sqlite3_bind_null(st, 19);
        sqlite3_bind_null(st, 20);
    }
    sqlite3_bind_int64(st, 21, w->node);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (sqlite3_changes(w->db) == 0) {
        w->flush_dups++;
        return SQLITE_OK;
    }
    return ens__jw_tally(w, ev->actor_type, ens_event_kind_name(ev->kind), 1);
}

int ens__jwriter_flush(ens_jwriter *w)
{
    if (w == NULL)
        return ENS_EINVAL;
    if (w->n == 0)
        return 0;
    w->flush_dups = 0;
    int rc = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    const char *doing = "cannot begin a transaction";
    for (uint32_t i = 0; rc == SQLITE_OK && i < w->n; i++) {
        rc = insert_one(w, &w->batch[i]);
        doing = "cannot insert";
    }
    uint64_t deleted = 0;
    if (rc == SQLITE_OK) {
        rc = ens__jw_retain_step(w, w->max_rows, w->max_age_ms, ENS__JWRITER_PRUNE_STEP, &deleted);
        doing = "cannot delete old rows";
    }
    if (rc == SQLITE_OK) {
        rc = ens__jw_tally_write(w);
        doing = "cannot count";
    }
    ens__jw_tally_clear(w);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
        doing = "cannot commit";
    }
    if (rc != SQLITE_OK) {
        char what[96];
        snprintf(what, sizeof(what), "%s %u events", doing, w->n);
        int err = ens__jw_db_fail(w, rc, what);
        if (!sqlite3_get_autocommit(w->db))
            sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        return err;
    }
    sqlite3_clear_bindings(w->ins);
    w->pruned += deleted;
    if (deleted > 0)
        ens__jw_vacuum_step(w);
    w->duplicates += w->flush_dups;
    for (uint32_t i = 0; i < w->n; i++)
        free(w->batch[i].strs);
    w->n = 0;
    return 0;
}

uint32_t ens__jwriter_pending(const ens_jwriter *w)
{
    return w != NULL ? w->n : 0;
}

uint64_t ens__jwriter_dropped(const ens_jwriter *w)
{
    return w != NULL ? w->dropped : 0;
}

uint64_t ens__jwriter_duplicates(const ens_jwriter *w)
{
    return w != NULL ? w->duplicates : 0;
}

void ens__jwriter_set_node(ens_jwriter *w, uint32_t node)
{
    if (w != NULL)
        w->node = node;
}

int ens__jwriter_set_durable(ens_jwriter *w, bool full)
{
    if (w == NULL)
        return ENS_EINVAL;
    int rc = sqlite3_exec(w->db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                          NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ens__jw_db_fail(w, rc, "cannot set synchronous");
}

void ens__jwriter_set_clock(ens_jwriter *w, int64_t (*clock_ms)(void))
{
    if (w != NULL)
        w->clock_ms = clock_ms != NULL ? clock_ms : wall_ms;
}

const char *ens__jwriter_last_error(const ens_jwriter *w)
{
    return w != NULL ? w->err : "";
}

void ens__jwriter_close(ens_jwriter *w)
{
    if (w == NULL)
        return;
    ens__jwriter_flush(w);
    release(w);
}

const ens__journal_store ens__sqlite_journal = {
    .default_path = ens_journal_default_path,
    .open = ens__jwriter_open_why,
    .append = ens__jwriter_append,
    .append_keyed = ens__jwriter_append_keyed,
    .flush = ens__jwriter_flush,
    .pending = ens__jwriter_pending,
    .dropped = ens__jwriter_dropped,
    .last_error = ens__jwriter_last_error,
    .close = ens__jwriter_close,
    .set_node = ens__jwriter_set_node,
    .set_retention = ens__jwriter_set_retention,
};

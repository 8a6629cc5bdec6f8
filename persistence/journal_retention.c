/*
 * persistence/journal_retention.c - the rows the journal keeps:
 * failure_counts kept in step with the failures table (each transaction's
 * added and deleted rows tallied and written before its COMMIT), and
 * retention: the oldest rows past journal_max_rows or journal_max_age
 * deleted in small steps inside the writer's own transactions, free pages
 * given back, and `ens journal prune` by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "ensemble/system.h"
#include "persistence/journal_writer.h"
#include "persistence/journal_writer_state.h"

/* Free pages given back to the file system per flush, once more than
 * VACUUM_KEEP wait in the free list (the rows of the next batches reuse
 * those). */
#define VACUUM_STEP 256
#define VACUUM_KEEP 1024

#define DAY_MS INT64_C(86400000)

/* Add d to the transaction's count of (type, kind). SQLITE_NOMEM when a
 * new pair cannot be kept. */
int ens__jw_tally(ens_jwriter *w, const char *type, const char *kind, int64_t d)
{
    for (uint32_t i = w->n_counts; i-- > 0;) {
        jcount *c = &w->counts[i];
        if (strcmp(c->kind, kind) == 0 && strcmp(c->type, type) == 0) {
            c->n += d;
            return SQLITE_OK;
        }
    }
    if (w->n_counts == w->cap_counts) {
        uint32_t cap = w->cap_counts == 0 ? 16 : w->cap_counts * 2;
        jcount *c = realloc(w->counts, cap * sizeof(*c));
        if (c == NULL)
            return SQLITE_NOMEM;
        w->counts = c;
        w->cap_counts = cap;
    }
    jcount *c = &w->counts[w->n_counts];
    c->type = strdup(type);
    c->kind = strdup(kind);
    if (c->type == NULL || c->kind == NULL) {
        free(c->type);
        free(c->kind);
        return SQLITE_NOMEM;
    }
    c->n = d;
    w->n_counts++;
    return SQLITE_OK;
}

/* Forget the transaction's counts (written, or rolled back). */
void ens__jw_tally_clear(ens_jwriter *w)
{
    for (uint32_t i = 0; i < w->n_counts; i++) {
        free(w->counts[i].type);
        free(w->counts[i].kind);
    }
    w->n_counts = 0;
}

/* Write the transaction's counts into failure_counts (before COMMIT). */
int ens__jw_tally_write(ens_jwriter *w)
{
    int rc = SQLITE_OK;
    if (w->n_counts > 0)
        rc = ens__jw_prepared(w, &w->count_st,
                              "INSERT INTO failure_counts (actor_type, kind, n) VALUES (?1, ?2, ?3)"
                              " ON CONFLICT (actor_type, kind) DO UPDATE SET n = n + excluded.n");
    for (uint32_t i = 0; rc == SQLITE_OK && i < w->n_counts; i++) {
        if (w->counts[i].n == 0)
            continue;
        sqlite3_bind_text(w->count_st, 1, w->counts[i].type, -1, SQLITE_STATIC);
        sqlite3_bind_text(w->count_st, 2, w->counts[i].kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w->count_st, 3, w->counts[i].n);
        rc = sqlite3_step(w->count_st);
        sqlite3_reset(w->count_st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (w->count_st != NULL)
        sqlite3_clear_bindings(w->count_st);
    return rc;
}

/* Run a DELETE ... RETURNING actor_type, kind (bound) to its end,
 * taking each row from the transaction's counts; *changes gets the rows
 * it deleted. */
static int step_changes(ens_jwriter *w, sqlite3_stmt *st, uint64_t *changes)
{
    int rc;
    uint64_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *type = sqlite3_column_text(st, 0);
        const unsigned char *kind = sqlite3_column_text(st, 1);
        rc = ens__jw_tally(w, type != NULL ? (const char *)type : "",
                           kind != NULL ? (const char *)kind : "", -1);
        if (rc != SQLITE_OK)
            break;
        n++;
    }
    sqlite3_reset(st);
    *changes = n;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* In the transaction under way: delete the `limit` oldest rows (lowest
 * seq, the rowid: first written first). One grouped read of them gives
 * what to take from each (actor type, kind) and the highest seq among
 * them; then a single range delete on the rowid, with no subquery and no
 * row handed back. *deleted gets the rows deleted. */
static int delete_oldest(ens_jwriter *w, sqlite3_int64 limit, uint64_t *deleted)
{
    *deleted = 0;
    int rc = ens__jw_prepared(w, &w->oldest_st,
                              "SELECT actor_type, kind, count(*), max(seq) FROM"
                              " (SELECT seq, actor_type, kind FROM failures ORDER BY seq LIMIT ?1)"
                              " GROUP BY actor_type, kind");
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(w->oldest_st, 1, limit);
    sqlite3_int64 last = INT64_MIN;
    uint64_t n = 0;
    while ((rc = sqlite3_step(w->oldest_st)) == SQLITE_ROW) {
        const unsigned char *type = sqlite3_column_text(w->oldest_st, 0);
        const unsigned char *kind = sqlite3_column_text(w->oldest_st, 1);
        sqlite3_int64 k = sqlite3_column_int64(w->oldest_st, 2);
        sqlite3_int64 top = sqlite3_column_int64(w->oldest_st, 3);
        rc = ens__jw_tally(w, type != NULL ? (const char *)type : "",
                           kind != NULL ? (const char *)kind : "", -k);
        if (rc != SQLITE_OK)
            break;
        n += (uint64_t)k;
        if (top > last)
            last = top;
    }
    sqlite3_reset(w->oldest_st);
    if (rc != SQLITE_DONE)
        return rc;
    if (n == 0)
        return SQLITE_OK;
    rc = ens__jw_prepared(w, &w->del_old_st, "DELETE FROM failures WHERE seq <= ?1");
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(w->del_old_st, 1, last);
    rc = sqlite3_step(w->del_old_st);
    sqlite3_reset(w->del_old_st);
    if (rc != SQLITE_DONE)
        return rc;
    /* The rows at or below the highest seq read are exactly the ones read
     * (they were the lowest), so the counts taken match what went. */
    *deleted = (uint64_t)sqlite3_changes64(w->db);
    return *deleted == n ? SQLITE_OK : SQLITE_CORRUPT;
}

/* In the transaction under way: delete at most `most` of the oldest rows
 * past max_rows (first written first) or older than max_age_ms (0: no
 * limit of that kind). The row count comes from failure_counts (a few
 * rows, not a scan) and the transaction's own counts. *deleted gets what went. */
int ens__jw_retain_step(ens_jwriter *w, uint64_t max_rows, int64_t max_age_ms, uint32_t most,
                        uint64_t *deleted)
{
    *deleted = 0;
    int rc = SQLITE_OK;
    if (max_age_ms > 0) {
        rc = ens__jw_prepared(w, &w->del_aged_st,
                              "DELETE FROM failures WHERE seq IN (SELECT seq FROM failures"
                              " WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)"
                              " RETURNING actor_type, kind");
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_bind_int64(w->del_aged_st, 1, w->clock_ms() - max_age_ms);
        sqlite3_bind_int64(w->del_aged_st, 2, most);
        rc = step_changes(w, w->del_aged_st, deleted);
        if (rc != SQLITE_OK || *deleted >= most)
            return rc;
        most -= (uint32_t)*deleted;
    }
    if (max_rows == 0)
        return SQLITE_OK;
    rc = ens__jw_prepared(w, &w->rows_st, "SELECT total(n) FROM failure_counts");
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(w->rows_st);
    double rows = rc == SQLITE_ROW ? sqlite3_column_double(w->rows_st, 0) : 0;
    sqlite3_reset(w->rows_st);
    /* With this transaction's rows, not in failure_counts until its end. */
    for (uint32_t i = 0; i < w->n_counts; i++)
        rows += (double)w->counts[i].n;
    if (rc != SQLITE_ROW)
        return rc;
    if (rows <= (double)max_rows)
        return SQLITE_OK;
    double over = rows - (double)max_rows;
    uint64_t n = 0;
    rc = delete_oldest(w, over < most ? (sqlite3_int64)over : most, &n);
    *deleted += n;
    return rc;
}

/* After a commit that deleted rows: give at most VACUUM_STEP free pages
 * back to the file system once more than VACUUM_KEEP wait (a journal
 * created with auto_vacuum off keeps them for new rows). Best effort: a
 * failure here loses nothing. */
void ens__jw_vacuum_step(ens_jwriter *w)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db, "PRAGMA freelist_count", -1, &st, NULL) != SQLITE_OK)
        return;
    long long free_pages = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (free_pages <= VACUUM_KEEP)
        return;
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%lld)",
             free_pages - VACUUM_KEEP < VACUUM_STEP ? free_pages - VACUUM_KEEP : VACUUM_STEP);
    sqlite3_exec(w->db, sql, NULL, NULL, NULL);
}

/* 0: the default; all bits: no limit (stored as 0). */
static uint64_t rows_limit(uint64_t v)
{
    return v == 0 ? ENS_JOURNAL_MAX_ROWS_DEFAULT : v == ENS_JOURNAL_KEEP_ALL ? 0 : v;
}

static int64_t age_limit_ms(uint32_t days)
{
    if (days == 0)
        days = ENS_JOURNAL_MAX_AGE_DAYS_DEFAULT;
    return days == UINT32_MAX ? 0 : (int64_t)days * DAY_MS;
}

void ens__jwriter_set_retention(ens_jwriter *w, uint64_t max_rows, uint32_t max_age_days)
{
    if (w == NULL)
        return;
    w->max_rows = rows_limit(max_rows);
    w->max_age_ms = age_limit_ms(max_age_days);
}

void ens__jwriter_set_retention_ms(ens_jwriter *w, uint64_t max_rows, int64_t max_age_ms)
{
    if (w == NULL)
        return;
    w->max_rows = max_rows;
    w->max_age_ms = max_age_ms > 0 ? max_age_ms : 0;
}

uint64_t ens__jwriter_pruned(const ens_jwriter *w)
{
    return w != NULL ? w->pruned : 0;
}

int ens__jwriter_prune(ens_jwriter *w, uint64_t max_rows, int64_t max_age_ms, uint64_t *deleted)
{
    if (w == NULL)
        return ENS_EINVAL;
    if (deleted != NULL)
        *deleted = 0;
    int err = ens__jwriter_flush(w);
    if (err != 0)
        return err;
    for (;;) {
        uint64_t n = 0;
        int rc = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = ens__jw_retain_step(w, max_rows, max_age_ms > 0 ? max_age_ms : 0,
                                     ENS__JWRITER_PRUNE_STEP, &n);
        if (rc == SQLITE_OK)
            rc = ens__jw_tally_write(w);
        ens__jw_tally_clear(w);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            err = ens__jw_db_fail(w, rc, "cannot delete old rows");
            if (!sqlite3_get_autocommit(w->db))
                sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
            return err;
        }
        w->pruned += n;
        if (deleted != NULL)
            *deleted += n;
        if (n == 0)
            break;
    }
    /* All free pages back, in steps (each its own short transaction). */
    for (;;) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(w->db, "PRAGMA freelist_count", -1, &st, NULL);
        long long free_pages = 0;
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            free_pages = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (rc != SQLITE_OK)
            return ens__jw_db_fail(w, rc, "cannot read the free list");
        if (free_pages == 0)
            break;
        long long before = free_pages;
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", VACUUM_STEP * 4);
        rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return ens__jw_db_fail(w, rc, "cannot give free pages back");
        st = NULL;
        if (sqlite3_prepare_v2(w->db, "PRAGMA freelist_count", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            free_pages = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (free_pages >= before)
            break; /* auto_vacuum off (an older journal): pages stay for new rows */
    }
    /* Move the WAL's pages into the file and cut the WAL, so that the
     * file's size says what the journal holds. */
    sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    return 0;
}

int ens_journal_prune(const char *path, uint64_t max_rows, int64_t max_age_ms, uint64_t *deleted,
                      char *why, size_t why_len)
{
    if (deleted != NULL)
        *deleted = 0;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (path == NULL || max_age_ms < 0) {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "no journal path given");
        return ENS_EINVAL;
    }
    /* Prune never creates a journal. */
    struct stat st;
    if (strcmp(path, ":memory:") == 0 || lstat(path, &st) != 0) {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "%s", strerror(errno != 0 ? errno : ENOENT));
        return ENS_ENOENT;
    }
    ens_jwriter *w = NULL;
    int err = ens__jwriter_open_why(path, "", &w, why, why_len);
    if (err != 0)
        return err;
    err = ens__jwriter_prune(w, max_rows, max_age_ms, deleted);
    if (err != 0 && why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", w->err);
    ens__jwriter_close(w);
    return err;
}

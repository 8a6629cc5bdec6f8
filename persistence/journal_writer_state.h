/*
 * persistence/journal_writer_state.h - what the writer's two files share:
 * the writer's handle and the helpers each calls in the other. Internal to
 * persistence/ (journal_writer.c: open, batch, flush, close;
 * journal_retention.c: failure_counts kept in step with the rows, and the
 * deletion of old rows).
 */
#ifndef ENS_PERSISTENCE_JOURNAL_WRITER_STATE_H
#define ENS_PERSISTENCE_JOURNAL_WRITER_STATE_H

#include <stdint.h>

#include <sqlite3.h>

#include "ensemble/event.h"
#include "persistence/journal_writer.h"

/* One batched event: ev's strings point into strs (owned); its key
 * (run_id, run_seq), or run_id 0 for none. */
typedef struct jentry {
    ens_event ev;
    char *strs;
    uint64_t run_id, run_seq;
} jentry;

/* The rows one transaction adds to (or takes from) one (actor type, kind)
 * of failure_counts. */
typedef struct jcount {
    char *type, *kind;
    int64_t n;
} jcount;

struct ens_jwriter {
    sqlite3 *db;
    sqlite3_stmt *ins;
    char *path;
    char *system;
    char host[256];
    uint32_t node; /* the system's node, written as system_node */
    jentry *batch;
    uint32_t n, cap; /* cap grows up to ENS__JWRITER_BATCH_MAX */
    uint64_t dropped;
    uint64_t duplicates; /* keyed events whose row was there already */
    uint32_t flush_dups; /* the same, in the flush under way */
    /* Retention (0: none of that kind) and its statements, prepared on first use. */
    uint64_t max_rows;
    int64_t max_age_ms;
    sqlite3_stmt *rows_st, *oldest_st, *del_old_st, *del_aged_st, *count_st;
    jcount *counts; /* the transaction's, written before its COMMIT */
    uint32_t n_counts, cap_counts;
    uint64_t pruned; /* rows deleted by retention, never reset */
    int64_t (*clock_ms)(void);
    char err[512];
};

/* Prepare *st from sql once (kept for the writer's life). A sqlite code. */
int ens__jw_prepared(ens_jwriter *w, sqlite3_stmt **st, const char *sql);

/* Map sqlite failure rc of w->db while `doing` to an ENS_E* code, with the
 * message in w->err. */
int ens__jw_db_fail(ens_jwriter *w, int rc, const char *doing);

/* Add d to the transaction's count of (type, kind) (copied). SQLITE_OK, or
 * SQLITE_NOMEM when a new pair cannot be kept. */
int ens__jw_tally(ens_jwriter *w, const char *type, const char *kind, int64_t d);

/* Write the transaction's counts into failure_counts (before its COMMIT). */
int ens__jw_tally_write(ens_jwriter *w);

/* Forget the transaction's counts (written, or rolled back). */
void ens__jw_tally_clear(ens_jwriter *w);

/* In the transaction under way: delete at most `most` of the oldest rows
 * past max_rows or older than max_age_ms (0: no limit of that kind),
 * counted. *deleted gets what went. A sqlite code. */
int ens__jw_retain_step(ens_jwriter *w, uint64_t max_rows, int64_t max_age_ms, uint32_t most,
                        uint64_t *deleted);

/* After a commit that deleted rows: give some free pages back to the file
 * system. Best effort. */
void ens__jw_vacuum_step(ens_jwriter *w);

#endif

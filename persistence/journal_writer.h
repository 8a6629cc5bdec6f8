/*
 * persistence/journal_writer.h - the one writer of a system's failure
 * journal. Internal.
 *
 * The runtime hands every ens_event to ens__jwriter_append(), which copies it
 * into an in-memory batch, and calls ens__jwriter_flush() when it has time
 * (a loop turn, a timer): one sqlite transaction per batch is where the
 * throughput comes from. A writer keeps no global state, so it can live in
 * the calling process (inproc base) or in a dedicated writer process forked
 * before it opens the database (process base; PLATFORM-NOTES.md: a sqlite
 * connection must never cross a fork). A writer is not thread-safe: one
 * owner calls it.
 *
 * Durability: WAL with synchronous=NORMAL. A flush that returned 0 survives
 * the writer or the whole system being killed (SIGKILL): the WAL is written
 * before COMMIT returns. It may be lost if the machine itself loses power or
 * the OS crashes before the next checkpoint syncs the WAL; the database then
 * still opens clean, it just ends at an earlier transaction.
 * ens__jwriter_set_durable() switches to synchronous=FULL (an fsync per
 * flush) for those who need power-loss durability.
 */
#ifndef ENS_PERSISTENCE_JOURNAL_WRITER_H
#define ENS_PERSISTENCE_JOURNAL_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ensemble/event.h"

/* The batch bound: at most this many events wait in memory. */
#define ENS__JWRITER_BATCH_MAX 4096u

/* Retention deletes at most this many rows per commit (at least a full
 * batch, so that it keeps up with any rate of writes). */
#define ENS__JWRITER_PRUNE_STEP 4096u

typedef struct ens_jwriter ens_jwriter;

/* Open (or create) the journal at path for writing, as system system_name
 * (borrowed, copied; NULL = ""). ":memory:" gives a private in-memory
 * journal (for tests). The parent directory is created (mode 0700, with any
 * missing ancestors) when missing; the database is put in WAL mode with a
 * busy timeout and its schema is created or migrated to the current version
 * (persistence/journal_schema.h).
 * A new database file is created mode 0600 before sqlite opens it; the
 * path passes core/runtime/files.h's rule before sqlite opens it, and the -wal and
 * -shm files again after.
 * Errors: ENS_EINVAL (NULL path/out, empty path), ENS_EUNSAFE (refused by
 * core/runtime/files.h's rule), ENS_EIO (directory cannot
 * be created, file cannot be opened, file or directory read-only, I/O
 * error), ENS_ENOTJOURNAL (the file is not a journal: not a sqlite database,
 * corrupt, another program's database, or a newer schema), ENS_ENOMEM.
 * On success *out is owned by the caller (ens__jwriter_close); on failure
 * *out is NULL and nothing stays open (ens__jwriter_open_why() also says
 * why). */
int ens__jwriter_open(const char *path, const char *system_name, ens_jwriter **out);

/* ens__jwriter_open() that also writes a one-line reason for a failure
 * ("cannot create directory /x/y: Not a directory") into why (borrowed,
 * may be NULL; always NUL-terminated when why_len > 0). */
int ens__jwriter_open_why(const char *path, const char *system_name, ens_jwriter **out, char *why,
                          size_t why_len);

/* Copy ev (borrowed; its strings may be NULL, taken as "") into the batch.
 * No I/O unless the batch already holds ENS__JWRITER_BATCH_MAX events: then
 * it flushes first. If that flush fails, ev is not kept, the dropped count
 * grows by one and the flush's error is returned; out of memory for the copy
 * is ENS_ENOMEM (also counted as dropped). ENS_EINVAL for NULL arguments. */
int ens__jwriter_append(ens_jwriter *w, const ens_event *ev);

/* ens__jwriter_append() of an event with a key: run_id (nonzero; 0 means
 * no key, as ens__jwriter_append) and run_seq, both at most INT64_MAX
 * (else ENS_EINVAL). At most one row per key is ever written: when the
 * journal holds the key already (the event was written before, e.g. by a
 * writer that died before its commit was acknowledged and the sender gave
 * the event again), the flush writes nothing for it and counts it in
 * ens__jwriter_duplicates(). */
int ens__jwriter_append_keyed(ens_jwriter *w, const ens_event *ev, uint64_t run_id,
                              uint64_t run_seq);

/* Write every batched event in one transaction. Returns 0 (the batch is
 * then empty and its rows are committed), or on failure ENS_EIO (disk full,
 * read-only, I/O error), ENS_EAGAIN (the database stayed locked past the
 * busy timeout), ENS_ENOTJOURNAL (the file became corrupt), ENS_ENOMEM; the
 * transaction is rolled back, the batch is kept for a later retry and
 * ens__jwriter_last_error() says what happened. ENS_EINVAL for NULL. */
int ens__jwriter_flush(ens_jwriter *w);

/* Events in the batch, not yet committed. */
uint32_t ens__jwriter_pending(const ens_jwriter *w);

/* Events that were never written: refused by append because the batch was
 * at its bound and could not be flushed, or because their copy could not be
 * allocated. Never reset. 0 for NULL. */
uint64_t ens__jwriter_dropped(const ens_jwriter *w);

/* Keyed events that committed flushes found written already (and wrote
 * no second row for). Never reset. 0 for NULL. */
uint64_t ens__jwriter_duplicates(const ens_jwriter *w);

/* The node of the system w writes for (ens_system's node; 0 until set),
 * stored in every row flushed from now on (system_node). NULL-safe. */
void ens__jwriter_set_node(ens_jwriter *w, uint32_t node);

/* Retention as the system options say it (system.h: journal_max_rows,
 * journal_max_age_days; 0 = the default, all bits = no limit). Each flush
 * then deletes, in its own transaction, at most ENS__JWRITER_PRUNE_STEP of
 * the oldest rows past the limits, and gives free pages back in small
 * steps. A new writer has no limits (the system sets its options
 * right after opening). NULL-safe. */
void ens__jwriter_set_retention(ens_jwriter *w, uint64_t max_rows, uint32_t max_age_days);

/* The same in the writer's own units: max_rows 0 and max_age_ms <= 0 mean
 * no limit (for tests and the prune tool). NULL-safe. */
void ens__jwriter_set_retention_ms(ens_jwriter *w, uint64_t max_rows, int64_t max_age_ms);

/* The clock retention measures age against (UTC ms; NULL: the real one).
 * For tests. NULL-safe. */
void ens__jwriter_set_clock(ens_jwriter *w, int64_t (*clock_ms)(void));

/* Rows deleted by retention and prunes so far. 0 for NULL. */
uint64_t ens__jwriter_pruned(const ens_jwriter *w);

/* Prune now, by hand: flush, then delete every row past max_rows (0: no
 * limit) or older than max_age_ms (<= 0: no limit), ENS__JWRITER_PRUNE_STEP
 * rows per transaction (other writers and readers get the file between
 * them), give the free pages back (journals created with auto_vacuum; an
 * older journal keeps them for new rows) and checkpoint the WAL. *deleted
 * (may be NULL) gets the rows deleted. Returns 0, or the errors of
 * ens__jwriter_flush (rows deleted before the error stay deleted). */
int ens__jwriter_prune(ens_jwriter *w, uint64_t max_rows, int64_t max_age_ms, uint64_t *deleted);

/* synchronous=FULL (durable) or NORMAL (the default). 0, or ENS_EIO. */
int ens__jwriter_set_durable(ens_jwriter *w, bool full);

/* A one-line description of the last failure of w ("" if none). Owned by
 * w, valid until the next call on w. Never NULL (for NULL w: ""). */
const char *ens__jwriter_last_error(const ens_jwriter *w);

/* Flush, then close and free w. Events that the final flush cannot write
 * are lost with the handle: a caller that must know calls
 * ens__jwriter_flush() first and checks ens__jwriter_pending(). NULL-safe. */
void ens__jwriter_close(ens_jwriter *w);

/* The sqlite store as the runtime reaches it (core/runtime/runtime.h,
 * ens__journal_store): these functions and ens_journal_default_path. */
struct ens__journal_store;
extern const struct ens__journal_store ens__sqlite_journal;

#endif

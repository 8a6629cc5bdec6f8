/*
 * persistence/journal_schema.h - the journal's on-disk layout: its tables,
 * its version and the migrations from older versions. Internal; shared by
 * the writer (which creates and migrates) and the query side (which only
 * checks).
 *
 * Version history (schema_version.version):
 *   0  the prototype layout: a loose `failures` table (seq, at_ms, system,
 *      actor, actor_type, msg_type, kind, error, signal, attempt, reason)
 *      and no schema_version table.
 *   1  STRICT `failures` with every ens_event field plus system, host and
 *      error_name; indexes on at_ms, actor_id, actor_type and kind; the
 *      file's application_id is ENS__JOURNAL_APP_ID.
 *   2  `failures` gains run_id and run_seq (INTEGER, NULL when the event has
 *      no key) with a unique index on the pair: the process base's admin
 *      numbers every event of a run (run_id: random, one per admin start)
 *      and may send an event to a new writer when the one before died
 *      before acknowledging it; the index makes the second insert a no-op.
 *      Rows of version 1 keep NULL keys.
 *   3  `failures` gains system_node (INTEGER NOT NULL, default 0): the node
 *      of the system whose writer wrote the row, so rows gathered from the
 *      members of a convention say where they come from; rows of older
 *      versions say 0. The host column is written sanitized (control
 *      characters as '?', "unknown" when gethostname gives nothing).
 *   4  `failure_counts` (actor_type, kind, n): the rows of each (actor type,
 *      kind), kept by the writer in the transaction of every batch and
 *      every delete (another program that deletes rows must adjust it too;
 *      `ens journal prune` goes through the writer), so the count queries read a few rows, not an
 * index of millions. A new journal is also created with auto_vacuum=INCREMENTAL (the writer's
 * retention gives freed pages back in small steps); a journal of an older version keeps auto_vacuum
 * off (switching needs a VACUUM, a full rewrite): its freed pages are reused by new rows, so it
 * stops growing at the retention limit but does not shrink. The migration from 3 fills the counts
 * in one scan.
 *   5  fewer indexes, for the writer's rate at millions of rows (each index
 *      costs a seek when a row is written and another when retention
 *      deletes it): failures_run covers keyed rows only (partial, WHERE
 *      run_id IS NOT NULL), failures_kind is dropped (a filter on kind
 *      alone walks failures_at newest first; counts come from
 *      failure_counts). The tables are unchanged.
 * Readers read versions 3 to 5 (3 without the counts: a scan).
 */
#ifndef ENS_PERSISTENCE_JOURNAL_SCHEMA_H
#define ENS_PERSISTENCE_JOURNAL_SCHEMA_H

#include <stddef.h>

#include <sqlite3.h>

/* The version this build writes and reads. */
#define ENS__JOURNAL_SCHEMA_VERSION 5

/* The oldest version a reader reads without the writer migrating it. */
#define ENS__JOURNAL_SCHEMA_READABLE 3

/* PRAGMA application_id of a journal: "ENSJ". */
#define ENS__JOURNAL_APP_ID 0x454e534a

/* Bring db (borrowed, open read-write, no transaction active) to the
 * current schema: create it in an empty database, migrate an older one step
 * by step, all in one transaction. Returns 0; ENS_ENOTJOURNAL when db is not a
 * journal (another program's database, a newer schema, corrupt); ENS_EIO,
 * ENS_EAGAIN, ENS_ENOMEM for sqlite failures. A failure leaves the file as
 * it was and writes a one-line reason into why (borrowed, may be NULL). */
int ens__jschema_migrate(sqlite3 *db, char *why, size_t why_len);

/* Check that db (borrowed, may be read-only) holds a journal of the current
 * version, without changing it. Returns 0, ENS_ENOTJOURNAL (not a journal,
 * corrupt, older or newer version; reason in why), or the mapped sqlite
 * error. */
int ens__jschema_check(sqlite3 *db, char *why, size_t why_len);

/* ens__jschema_check() that also accepts the older versions a reader can
 * read (ENS__JOURNAL_SCHEMA_READABLE and up) and stores the version found
 * in *version. Same errors (ENS_EINVAL for NULL version). */
int ens__jschema_check_version(sqlite3 *db, char *why, size_t why_len, int *version);

/* The ENS_E* code for a sqlite result code (extended codes accepted):
 * 0 for SQLITE_OK/ROW/DONE, ENS_ENOTJOURNAL for corrupt/not-a-database,
 * ENS_EAGAIN for busy/locked, ENS_ENOMEM, ENS_EINVAL for misuse, else
 * ENS_EIO. */
int ens__jschema_err(int sqlite_rc);

#endif

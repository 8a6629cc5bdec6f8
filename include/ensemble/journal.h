/*
 * ensemble/journal.h - the failure journal: one sqlite database per system
 * holding one row per failure event (see event.h), and the query API.
 *
 * The runtime writes the journal (one writer per system; actors never touch
 * sqlite); any program may read it at any time, also while the system runs
 * (WAL mode) and after it ended. Rows are returned newest first.
 *
 * Files: the writer creates a new journal mode 0600 (sqlite gives its WAL
 * and shared-memory files the same mode) and refuses (ENS_EUNSAFE) a
 * journal, or a -wal, -shm or -journal file beside it, that is a symbolic
 * link, not a regular file, another user's, or has more than one link, a
 * directory others may write without the sticky bit, or one of another
 * user (system.h, "Files"). It checks before sqlite opens the path and
 * again once sqlite holds the WAL open. A reader may read another user's
 * journal (file permissions decide) but not through a symbolic link, not
 * a FIFO or device, and only with -wal, -shm and -journal files (which a
 * reader opens, and may write the shared-memory one) of the journal's
 * owner, regular and with one link.
 *
 * Retention: a system's writer keeps at most journal_max_rows rows and none
 * older than journal_max_age_days (system.h; 10 M rows and 90 days by
 * default), deleting the oldest in steps of at most 4096 rows, each in the
 * commit of new rows. A journal created by this version
 * (auto_vacuum=INCREMENTAL) gives the freed pages back to the file system
 * in small steps; an older journal keeps them and reuses them for new rows,
 * so it stops growing at the limit but does not shrink.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_journal_open, ens_journal_open_why (the path and why), ens_journal_query, ens_journal_count,
 * ens_journal_query_convention and ens_journal_default_path; ens_journal_errmsg stays the journal
 * handle's own text.
 */
#ifndef ENSEMBLE_JOURNAL_H
#define ENSEMBLE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "api.h"
#include "event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A filter for ens_journal_query and ens_journal_count. Zero/NULL fields do
 * not filter. */
typedef struct ens_journal_filter {
    ens_addr actor;         /* one actor (none = all) */
    const char *actor_type; /* exact actor type name */
    const char *msg_type;   /* exact message type name */
    uint32_t kinds;         /* bit mask of (1u << ens_event_kind); 0 = all */
    int64_t since_ms;       /* at_ms >= since_ms (UTC ms); 0 = open */
    int64_t until_ms;       /* at_ms < until_ms; 0 = open */
    uint32_t limit;         /* at most this many rows; 0 = no limit */
} ens_journal_filter;

#define ENS_JOURNAL_FILTER_INIT                                                                    \
    {                                                                                              \
        {0, 0, 0}, NULL, NULL, 0, 0, 0, 1000                                                       \
    }

/* One journal row: an ens_event plus where it happened. Every pointer is
 * borrowed for the duration of the callback. */
typedef struct ens_journal_row {
    int64_t seq;            /* row id, increasing */
    const char *system;     /* system name */
    const char *host;       /* the writer's host name (one line; "unknown" if it had none) */
    const char *error_name; /* ens_err_name(ev.error) as the writer saw it; "" if none */
    ens_event ev;           /* the event; its strings are never NULL */
    uint32_t node;          /* the writer's system node (0: a row of an older journal) */
    int64_t count;          /* ens_journal_count: the number of rows in the group;
                               0 in the rows of a query */
} ens_journal_row;

/* Called per row; return nonzero to stop the query early. */
typedef int (*ens_journal_row_cb)(const ens_journal_row *row, void *arg);

typedef struct ens_journal ens_journal;

/* Open the journal at path for reading (path borrowed). The file is opened
 * read-only and never created or changed. Errors: ENS_EINVAL (NULL
 * arguments), ENS_ENOENT (no such file), ENS_ENOTJOURNAL (not a journal: not
 * a sqlite database, corrupt, without the journal's schema, or a schema
 * version this build does not read), ENS_EUNSAFE (a symbolic link, not a
 * regular file, or a -wal/-shm/-journal beside it that is not a regular
 * file of the journal's owner with one link: see "Files" above), ENS_EIO
 * (cannot be opened, e.g. no permission), ENS_ENOMEM. On success *out is owned by the caller
 * (ens_journal_close); on failure *out is NULL. */
ENS_API int ens_journal_open(const char *path, ens_journal **out);

/* ens_journal_open() that also writes a one-line reason for a failure
 * ("not an ensemble journal (file is not a database)") into why (borrowed,
 * may be NULL; always NUL-terminated when why_len > 0). */
ENS_API int ens_journal_open_why(const char *path, ens_journal **out, char *why, size_t why_len);

/* Call cb for each row matching f (borrowed; NULL = every row, no limit),
 * newest first (by at_ms, then seq). Returns the number of rows passed to cb
 * (>= 0), or ENS_EINVAL (NULL j or cb, a kinds bit that names no kind),
 * ENS_ENOTJOURNAL (the file turned out corrupt while reading), ENS_EAGAIN
 * (locked past the busy timeout), ENS_EIO, ENS_ENOMEM; rows passed to cb
 * before an error stay passed. ens_journal_errmsg() then says more. */
ENS_API int ens_journal_query(ens_journal *j, const ens_journal_filter *f, ens_journal_row_cb cb,
                              void *arg);

/* Rows matching f (limit ignored), grouped: for each distinct value of
 * `by` ("kind" or "actor_type"), cb gets a row whose ev.kind (for "kind")
 * or ev.actor_type (for "actor_type") names the group and whose count
 * holds the number of its rows (seq holds the same number, as it did
 * before count existed; read count). Returns the number of groups, or ENS_EINVAL (bad `by`,
 * NULL j or cb), or the errors of ens_journal_query. Groups come largest
 * first. */
ENS_API int ens_journal_count(ens_journal *j, const ens_journal_filter *f, const char *by,
                              ens_journal_row_cb cb, void *arg);

/* A one-line description of j's last failure ("" if none). Owned by j,
 * valid until the next call on j; "" for NULL. */
ENS_API const char *ens_journal_errmsg(const ens_journal *j);

/* Close a journal opened for reading. NULL-safe. */
ENS_API void ens_journal_close(ens_journal *j);

/* Delete, now, every row of the journal at path (borrowed) beyond the
 * newest max_rows (0: no limit by count) and every row with at_ms older
 * than max_age_ms before now (0: no limit by age), oldest first, 4096 rows
 * per transaction (the system's writer and readers get the file between
 * them), then give the freed pages back to the file system (a journal
 * created by this version; see "Retention") and checkpoint its WAL. The
 * file must exist already; an older schema is migrated first, as the
 * writer does. *deleted (may be NULL) gets the number of rows deleted.
 * Returns 0, or ENS_EINVAL (NULL path), ENS_ENOENT (no such file),
 * ENS_ENOTJOURNAL (not a journal, corrupt, a newer schema), ENS_EUNSAFE
 * (refused by the rule of "Files"), ENS_EAGAIN (locked past the busy
 * timeout), ENS_EIO (read-only, I/O error), ENS_ENOMEM; rows deleted before
 * an error stay deleted. A one-line reason is written into why (borrowed,
 * may be NULL). */
ENS_API int ens_journal_prune(const char *path, uint64_t max_rows, int64_t max_age_ms,
                              uint64_t *deleted, char *why, size_t why_len);

/* A member of a convention that gave ens_journal_query_convention() no
 * rows, or not all: node, its system and host as its member record says
 * (borrowed for the call; "" if unknown), status ENS_ETIMEDOUT (it did not
 * answer within the timeout, e.g. its gateway is stopped or cut off),
 * ENS_ENOENT (it has no journal), ENS_EBADFRAME (its answer was malformed)
 * or the error its journal gave (ENS_ENOTJOURNAL, ENS_EIO, ...), why in
 * words. */
typedef void (*ens_journal_missing_cb)(uint32_t node, const char *system, const char *host,
                                       int status, const char *why, void *arg);

/* Query the journals of every member of convention `convention` (its
 * members bucket on the NATS server(s) `servers`, "nats://host:port[,...]")
 * with filter f (NULL: ENS_JOURNAL_FILTER_INIT): each member's gateway
 * answers from its own journal (read-only), on subject
 * ens.<convention>.journal.<node>. The rows of all members are merged,
 * newest first (by at_ms, then node, then seq), and passed to cb, at most
 * f->limit of them (0: all; each member gives at most 10000); row->node and
 * row->host say where each row was written. Waits at most timeout_ms in
 * all; then missing (may be NULL) is called once per member that did not
 * answer in full. Returns the number of rows passed to cb (>= 0; missing
 * members are not an error), or ENS_EINVAL (NULL servers, convention or
 * cb; a convention name that is empty, longer than 64 bytes or holds '.',
 * '*', '>' or white space; timeout_ms 0; a type name in f longer than 256
 * bytes), ENS_EUNREACHABLE (no server answered), ENS_ENOENT (the server
 * has no such convention: no members bucket), ENS_ENOMEM. Credentials
 * (convention.h) are not supported here: the server must let the caller
 * in by URL. */
ENS_API int ens_journal_query_convention(const char *servers, const char *convention,
                                         const ens_journal_filter *f, uint32_t timeout_ms,
                                         ens_journal_row_cb cb, void *arg,
                                         ens_journal_missing_cb missing, void *missing_arg);

/* The default journal path of system `name` (NULL = "default"):
 * $XDG_STATE_HOME/ensemble/<name>.db, else $HOME/.local/state/ensemble/
 * <name>.db. Written into buf (borrowed). Returns the length, ENS_ENOBUFS,
 * or ENS_EINVAL (no HOME, bad name: empty or with '/'). */
ENS_API int ens_journal_default_path(const char *name, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif

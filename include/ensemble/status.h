/*
 * ensemble/status.h - what a running system is made of: every actor with
 * its type, address, parent, process, restarts, messages handled, bytes
 * waiting in its mailbox and memory. The admin answers from what it holds
 * (the shared stage of each actor and /proc), so a stuck actor still shows.
 * The same rows reach an actor as an ens_msg_status message, and `ens
 * status` prints them.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_system_status, ens_status_request and ens_status_query_convention (a convention that does
 * not exist).
 */
#ifndef ENSEMBLE_STATUS_H
#define ENSEMBLE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "addr.h"
#include "api.h"
#include "msg.h"
#include "system.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One actor. In an ens_status or an ens_msg_status value; strings are owned
 * by that object. */
typedef struct ens_actor_status {
    ens_addr addr;
    ens_addr parent;         /* none for top-level actors */
    char *type;              /* the actor definition's name (a troupe worker:
                                its own definition's, parent the troupe) */
    char *name;              /* its global name (ensemble/registry.h), or NULL */
    int32_t pid;             /* its process (the program's own pid on inproc) */
    uint32_t incarnation;    /* 1, +1 per restart */
    uint32_t restarts;       /* incarnation - 1 */
    uint32_t alloc_failures; /* allocations that failed in its process (over all
                                incarnations) where no caller could be given
                                ENS_ENOMEM: each lost or degraded something,
                                and the first one is logged (0 on inproc: see
                                ens_status_alloc_failures) */
    uint64_t handled;        /* messages handled, over all incarnations */
    uint64_t mailbox_bytes;  /* bytes of messages waiting for it */
    uint64_t rss_kib;        /* resident memory of its process (0 on inproc) */
} ens_actor_status;

/* The value of an ens_msg_status message: the system's own facts, then its
 * actors. Strings are owned by the message (NULL: none). */
typedef struct ens_status_v {
    int32_t admin_pid;       /* the admin's pid (the program's own on inproc) */
    uint32_t alloc_failures; /* the admin's allocations that failed where no caller
                                could be given ENS_ENOMEM (on inproc: 0) */
    int64_t started_ms;      /* when the system started: Unix time in ms, UTC */
    uint32_t persistent;     /* 1: it outlives the program that started it
                                (ens_system_opts.persistent), else 0 */
    char *journal;           /* its failure journal's path as resolved at start,
                                or NULL: it keeps none */
    char *log;               /* the file its log lines go to (log_path, or the
                                default file of a named system), or NULL: it
                                logs to stderr or syslog */
    ens_array actors;        /* ens_actor_status items, in start order */
} ens_status_v;

/* "ens.Status", a built-in type (see ensemble/msg.h). */
ENS_API extern const ens_msgtype ens_msg_status;

/* A status snapshot taken from outside. Opaque. */
typedef struct ens_status ens_status;

/* Take a snapshot of the system's actors, waiting up to timeout_ms for the
 * admin. Only from the outside context's thread. *out is owned by the
 * caller: ens_status_free. Errors: ENS_EINVAL (NULL arguments),
 * ENS_ETIMEDOUT, ENS_ESHUTDOWN, ENS_ENOMEM. */
ENS_API int ens_system_status(ens_system *s, uint32_t timeout_ms, ens_status **out);

/* Number of actors in st. */
ENS_API size_t ens_status_count(const ens_status *st);

/* Actor i (0 <= i < count) of st, borrowed from st; NULL past the end. */
ENS_API const ens_actor_status *ens_status_at(const ens_status *st, size_t i);

/* The admin's pid (0 for a NULL st). */
ENS_API int ens_status_admin_pid(const ens_status *st);

/* When the system started, in Unix milliseconds (UTC); 0 for a NULL st. */
ENS_API int64_t ens_status_started_ms(const ens_status *st);

/* Whether the system is persistent (outlives the program that started it:
 * ens_system_opts.persistent). false for a NULL st. */
ENS_API bool ens_status_persistent(const ens_status *st);

/* The path of the system's failure journal as it resolved it at start
 * (ens_system_opts.journal_path, or the default file of a named system),
 * or NULL when it keeps none (or st is NULL). Borrowed from st: valid until
 * ens_status_free(st). */
ENS_API const char *ens_status_journal(const ens_status *st);

/* The file the system writes its log lines to (ens_system_opts.log_path, or
 * the default file of a named system), or NULL when it logs to stderr or
 * syslog (or st is NULL). Borrowed from st: valid until ens_status_free(st). */
ENS_API const char *ens_status_log(const ens_status *st);

/* Allocation failures that nothing could return as ENS_ENOMEM (a frame,
 * a reply or a dead letter that could not be kept, a connection not kept
 * for restarts), counted since the system started: the admin's (process
 * base) plus those of the program that took the snapshot. Each kind is
 * logged the first time. The actors' own are in their rows. */
ENS_API uint64_t ens_status_alloc_failures(const ens_status *st);

/* Release a snapshot. NULL-safe. */
ENS_API void ens_status_free(ens_status *st);

/* One member of a convention, for ens_status_query_convention: node, its
 * system and host as its member record says ("" if unknown), and either
 * its snapshot (st, borrowed for the call; status 0) or why not (st NULL;
 * status ENS_ETIMEDOUT: it did not answer in time; ENS_EAGAIN: busy or
 * its admin could not be asked; ENS_EMSGSIZE: its snapshot is larger than
 * one NATS message; ENS_EBADFRAME: a malformed answer; why in words). */
typedef void (*ens_status_member_cb)(uint32_t node, const char *system, const char *host,
                                     const ens_status *st, int status, const char *why, void *arg);

/* The status of every member of convention `convention` on the NATS
 * server(s) `servers` ("nats://host:port[,...]"): each member's gateway
 * asks its admin (as ens_system_status does) and answers, on subject
 * ens.<convention>.status.<node>. Waits at most timeout_ms in all, then
 * calls cb once per member of the members bucket, in node order. Returns
 * the number of members that answered with a snapshot (>= 0), or
 * ENS_EINVAL (NULL servers or cb, timeout_ms 0, a convention name that is
 * empty, longer than 64 bytes or holds '.', '*', '>' or white space),
 * ENS_EUNREACHABLE (no server answered), ENS_ENOENT (no such convention:
 * no members bucket), ENS_ENOMEM. Credentials (convention.h) are not
 * supported here: the server must let the caller in by URL. */
ENS_API int ens_status_query_convention(const char *servers, const char *convention,
                                        uint32_t timeout_ms, ens_status_member_cb cb, void *arg);

/* From inside an actor: ask the admin for status; the answer arrives as an
 * ens_msg_status message (read it with ens_msg_value(m, &ens_msg_status)).
 * Errors: ENS_EINVAL (outside an actor), ENS_EIO (the admin is gone). */
ENS_API int ens_status_request(ens_ctx *c);

#ifdef __cplusplus
}
#endif
#endif

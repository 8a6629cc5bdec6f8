/*
 * ensemble/troupe.h - a troupe: one leader spreading messages over a pool of
 * worker actors of one definition (Thespian's troupe).
 *
 * The leader is an actor. Every message sent to it (but its own stats
 * request, below, and system messages) is work: it goes to an idle worker
 * with ens_forward, so the worker sees the original sender and correlation
 * and its ens_reply reaches whoever sent the work - an ens_ask from outside
 * or an ens_request from another actor through the leader gets the worker's
 * answer. A worker handles one work message at a time. When every worker is
 * busy and there are max_count of them, work waits at the leader, in
 * arrival order, and goes out in that order as workers finish.
 *
 * Workers are created on demand up to max_count; idle_count of them are
 * started with the leader and always kept; one more than that which has
 * been idle for dismiss_after_ms is sent an exit request.
 *
 * Failures follow the core's rules, in the worker: an error return is
 * retried once, a second error returns the work to its original sender as
 * a PoisonMessage; on the process base a crash restarts the worker at the
 * same address, redelivers the work once, and poisons it after a second
 * crash. A worker that ends for good (ens_stop, init failure, too many
 * crashes) is replaced when work waits or the troupe is below idle_count;
 * what it had in hand and queued became dead letters in the core (requests
 * among them complete with ENS_ENOACTOR).
 *
 * How workers show. A worker's status row (ens_system_status, `ens
 * status`), its journal rows and events (a crash, a poisoned message, an
 * exit) and its log lines name its own definition's type (o->worker->name,
 * e.g. "app.Resizer"), and their parent is the troupe: the leader's address
 * (ens_actor_status.parent, ens_event.parent), whose own row has the type
 * "ens.Troupe" and the leader's global name if it has one. So the workers
 * of a troupe are the rows whose parent is the troupe; nothing shows the
 * wrapper that runs them.
 *
 * A worker knows it is one only through ens_troupe_busy. Its definition is
 * used as is, with one limit: the state given to ens_request / ens_call
 * completion callbacks inside a worker is the troupe's, not the worker's
 * (pass what the callback needs in its tag).
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_troupe_spawn and ens_troupe_busy.
 */
#ifndef ENSEMBLE_TROUPE_H
#define ENSEMBLE_TROUPE_H

#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "api.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ens_troupe_opts {
    const ens_actor_def *worker; /* the workers' definition; borrowed for the
                                    life of the system (static, as for ens_spawn) */
    const ens_msgtype *arg_type; /* each worker's start argument (both NULL for */
    const void *arg;             /* none): encoded by ens_troupe_spawn, borrowed */
    uint32_t max_count;          /* most workers at once: 10 */
    uint32_t idle_count;         /* workers started with the leader and always
                                    kept, even idle: 2 (at most max_count) */
    uint32_t dismiss_after_ms;   /* a worker above idle_count idle this long is
                                    sent an exit request: 2000 */
} ens_troupe_opts;

#define ENS_TROUPE_OPTS_INIT                                                                       \
    {                                                                                              \
        NULL, NULL, NULL, 10, 2, 2000                                                              \
    }

/* Start a troupe leader described by o (borrowed; the start argument is
 * encoded before return) and store its address in *out. From inside an
 * actor the leader is the caller's child; from the outside context it is a
 * top-level actor whose idle_count workers have been asked to start when
 * this returns. Stopping the leader (exit request, system shutdown) stops
 * its workers; work still waiting at the leader is then dropped.
 * Errors: ENS_EINVAL (NULL c, o, out or o->worker; a worker definition
 * without receive and dispatch; max_count 0; idle_count > max_count;
 * arg_type/arg mismatch), ENS_EBADTYPE (arg_type not registered),
 * ENS_EMSGSIZE, ENS_ENOMEM, ENS_EINIT (outside only: the leader could not
 * start), ENS_ESHUTDOWN. *out is written only on success. */
ENS_API int ens_troupe_spawn(ens_ctx *c, const ens_troupe_opts *o, ens_addr *out);

/* Inside a worker: keep (busy true) or end (false) the current work item
 * beyond the handler that took it. While kept, the worker counts as busy
 * and gets no new work, so it can finish the item later (after a wake-up,
 * a reply of its own request, a watched descriptor); calling it with false
 * then makes the worker idle. May be called from any callback of the
 * worker, including request completions. Errors: ENS_EINVAL (NULL c, or c
 * is not a troupe worker). */
ENS_API int ens_troupe_busy(ens_ctx *c, bool busy);

/* The leader's figures, as the value of an ens_msg_troupe_stats reply. */
typedef struct ens_troupe_stats_v {
    uint32_t workers;   /* living workers, those being dismissed included */
    uint32_t busy;      /* workers with work in hand */
    uint32_t waiting;   /* work messages waiting at the leader */
    uint32_t max_busy;  /* most workers busy at once so far */
    uint64_t started;   /* workers started so far */
    uint64_t dismissed; /* workers let go after being idle */
    uint64_t lost;      /* workers that ended for good (not dismissed) */
    uint64_t done;      /* work messages finished (handled, or poisoned) */
} ens_troupe_stats_v;

/* "ens.TroupeStats", format "S(uuuuUUUU)". Sent to a leader as a request
 * (ens_ask, ens_request; the value is ignored) it is answered by the leader
 * with its own ens_troupe_stats_v instead of being given to a worker. A
 * built-in type (see ensemble/msg.h). */
ENS_API extern const ens_msgtype ens_msg_troupe_stats;

#ifdef __cplusplus
}
#endif
#endif

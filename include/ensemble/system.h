/*
 * ensemble/system.h - starting a system and talking to it from outside.
 *
 * A system runs actors on one base:
 *  - ENS_BASE_INPROC: sequential and deterministic, inside the calling
 *    process (Thespian's simpleSystemBase). Handlers run only while the
 *    outside program is inside ens_spawn, ens_ask, ens_listen or
 *    ens_system_shutdown, one message at a time, in the order messages were
 *    sent. Messages are still encoded, so actors never share memory.
 *  - ENS_BASE_PROCESS: every actor its own OS process (not available yet:
 *    ens_system_start returns ENS_ENOTSUP for it).
 *
 * The outside program holds one ens_ctx for the system (ens_system_ctx) with
 * an address of its own: it spawns top-level actors, sends ("tell"), asks
 * and listens through it. Not thread-safe: use a system from one thread.
 */
#ifndef ENSEMBLE_SYSTEM_H
#define ENSEMBLE_SYSTEM_H

#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "event.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ens_base {
    ENS_BASE_PROCESS = 0, /* one OS process per actor */
    ENS_BASE_INPROC,      /* sequential, deterministic, in this process */
} ens_base;

typedef struct ens_system_opts {
    const char *name; /* system name; NULL = "default" */
    ens_base base;
    const char *journal_path; /* failure journal; NULL = default location */
    uint32_t max_frame_bytes; /* frame limit (header + payload); 16 MiB by default */
    uint32_t mailbox_limit;   /* queued messages per actor before ENS_EFULL */
    uint32_t call_timeout_ms; /* default timeout for blocking calls */
    bool persistent;          /* process base: outlive the starting program */
    ens_log_level log_level;  /* lines above this level are not written */
    ens_event_cb on_event;    /* failure events as they happen, or NULL */
    void *event_arg;          /* passed to on_event */
} ens_system_opts;

#define ENS_SYSTEM_OPTS_INIT                                                                       \
    {                                                                                              \
        NULL, ENS_BASE_PROCESS, NULL, 16u << 20, 1u << 20, 5000, false, ENS_LOG_WARN, NULL, NULL   \
    }

typedef struct ens_system ens_system;

/* Start a system with options o (borrowed; NULL = ENS_SYSTEM_OPTS_INIT) and
 * store its handle in *out (owned by the caller until ens_system_shutdown).
 * Errors: ENS_EINVAL (NULL out, bad options: frame limit below 4 KiB,
 * mailbox_limit 0), ENS_ENOTSUP (base not available), ENS_ENOMEM. */
int ens_system_start(const ens_system_opts *o, ens_system **out);

/* The outside context of the system (borrowed; valid until shutdown). */
ens_ctx *ens_system_ctx(ens_system *s);

/* The system's options as started (borrowed). */
const ens_system_opts *ens_system_options(const ens_system *s);

/* Send (t, v) to `to` as a request and wait up to timeout_ms for the reply.
 * Only from the outside context. On success *reply is the reply (owned by
 * the caller: ens_msg_free). Errors: ENS_ETIMEDOUT (no reply in time; a
 * late reply is dropped), ENS_EPOISON (the handler failed twice: *reply is
 * the PoisonMessage, owned by the caller), ENS_ENOACTOR (no live actor at
 * `to`; nothing was delivered), ENS_EINVAL (NULL arguments, called inside
 * an actor), the send errors of ens_send. *reply is NULL on every error
 * but ENS_EPOISON. */
int ens_ask(ens_ctx *outside, ens_addr to, const ens_msgtype *t, const void *v, uint32_t timeout_ms,
            ens_msg **reply);

/* Wait up to timeout_ms for the next message sent to the outside endpoint
 * that is not the reply to an ask: replies to tells, PoisonMessages of
 * tells, anything actors send to it. On success *out is owned by the caller
 * (ens_msg_free). Errors: ENS_ETIMEDOUT, ENS_EINVAL (NULL arguments, inside
 * an actor), ENS_ESHUTDOWN. */
int ens_listen(ens_ctx *outside, uint32_t timeout_ms, ens_msg **out);

/* Run the actors of an inproc system until no message is queued or
 * timeout_ms passed, without waiting for wake-ups. Returns the number of
 * messages handled (>= 0). A no-op returning 0 on bases where actors run by
 * themselves. Errors: ENS_EINVAL (NULL s). */
int ens_system_run(ens_system *s, uint32_t timeout_ms);

/* End the system: every top-level actor gets an exit request (and with it
 * its children), queued messages are handled up to timeout_ms, then all that
 * is left is stopped and everything is freed, s included. NULL-safe
 * (returns 0). Returns 0, or ENS_ETIMEDOUT when actors had to be stopped
 * without finishing (the system is freed all the same). */
int ens_system_shutdown(ens_system *s, uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif

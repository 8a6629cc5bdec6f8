/*
 * ensemble/actor.h - defining actors, and what a handler may do.
 *
 * An actor is a const ens_actor_def (callbacks, state size, a registered type
 * name) plus its private state, which the runtime allocates zeroed for every
 * incarnation. Actors share no memory; they only exchange messages. Every
 * callback receives an ens_ctx, borrowed for the duration of the callback,
 * through which it sends, spawns, replies and sets wake-ups.
 *
 * Failure semantics (the same on every base):
 *  - receive (or a dispatch handler) returning < 0 is journaled (ERROR) and
 *    the same message is delivered once more at once with attempt 2
 *    (RETRY); a second error returns it to its original sender as a
 *    PoisonMessage (POISON) - not for system messages nor for poison itself -
 *    and the actor goes on with its next message.
 *  - Messages sent by a handler that then returns an error are delivered.
 *  - Order is FIFO per sender -> receiver pair.
 */
#ifndef ENSEMBLE_ACTOR_H
#define ENSEMBLE_ACTOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The context of one callback (inside an actor) or of the outside program
 * (ens_system_ctx). Opaque; borrowed, never freed by the user. */
typedef struct ens_ctx ens_ctx;

/* init: runs before the first message. arg is the start argument given to
 * ens_spawn (NULL if none), borrowed. Return < 0 to fail the start: the actor
 * never runs and its parent learns it (ENS_EINIT or child exited with
 * ENS_EXIT_INIT_FAILED). May be NULL. */
typedef int (*ens_init_cb)(ens_ctx *c, void *state, const ens_msg *arg);

/* receive: handles one message (m borrowed for the call). Return 0, or < 0
 * for the retry-then-poison rule above. */
typedef int (*ens_receive_cb)(ens_ctx *c, void *state, const ens_msg *m);

/* terminate: runs once when the actor ends in order (exit request, ens_stop),
 * with an ens_exit_reason. Not after init failed. May be NULL. */
typedef void (*ens_terminate_cb)(ens_ctx *c, void *state, int reason);

/* A typed handler: value is the decoded struct of the entry's type, owned by
 * m and borrowed for the call. Same return rule as receive. */
typedef int (*ens_handler_cb)(ens_ctx *c, void *state, const void *value, const ens_msg *m);

/* One row of a typed dispatch table (Thespian's ActorTypeDispatcher). A
 * table is an array ended by a row whose type is NULL. */
typedef struct ens_dispatch_entry {
    const ens_msgtype *type;
    ens_handler_cb handle;
} ens_dispatch_entry;

typedef struct ens_actor_def {
    const char *name;                   /* type name: status, journal, spawn by name */
    size_t state_size;                  /* bytes of zeroed state per incarnation; may be 0 */
    ens_init_cb init;                   /* may be NULL */
    ens_receive_cb receive;             /* fallback when no dispatch row matches; may be
                                           NULL if dispatch is set (unmatched: ignored) */
    ens_terminate_cb terminate;         /* may be NULL */
    const ens_dispatch_entry *dispatch; /* optional typed dispatch table, or NULL */
    const void *impl; /* behaviour data (supervisor, ...); NULL for plain actors */
} ens_actor_def;

/* The calling actor's own address (the outside endpoint's address for the
 * outside context). */
ens_addr ens_self(const ens_ctx *c);

/* The sender of the message being handled; ENS_ADDR_NONE outside receive. */
ens_addr ens_sender(const ens_ctx *c);

/* The calling actor's parent; ENS_ADDR_NONE for top-level actors and for
 * the outside context. */
ens_addr ens_parent(const ens_ctx *c);

/* Start an actor of definition d with start argument (argt, arg) - both NULL
 * for none; arg is encoded before return, so it is only borrowed. From inside
 * an actor the new actor is a child of the caller: the address is valid at
 * once, messages queue until init has run, and an init failure reaches the
 * parent as child exited with ENS_EXIT_INIT_FAILED. From the outside
 * context the actor is top level and init has run when this returns.
 * Errors: ENS_EINVAL (NULL c/d/out, d without receive and dispatch,
 * argt/arg mismatch), ENS_EBADTYPE (argt not registered), ENS_EMSGSIZE,
 * ENS_ENOMEM, ENS_EINIT (outside only: init failed, no actor is left),
 * ENS_ESHUTDOWN. *out is written only on success. */
int ens_spawn(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
              ens_addr *out);

/* Send a message of type t with value v to `to`, asynchronously; v is
 * encoded before return (borrowed). From the outside context this is a
 * "tell": replies and PoisonMessages come back through ens_listen. A send to
 * an address with no live actor still returns 0: the message becomes a dead
 * letter. Errors: ENS_EINVAL (NULL arguments, the none address),
 * ENS_EBADTYPE (t not registered), ENS_EMSGSIZE (above the frame limit),
 * ENS_EFULL (the receiver's mailbox is at its bound: nothing was queued),
 * ENS_ENOMEM, ENS_ESHUTDOWN. */
int ens_send(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v);

/* Send m on to `to` unchanged: same type, value and original sender, and the
 * same correlation, so a reply from `to` reaches the original asker. m is
 * borrowed. Errors as ens_send. */
int ens_forward(ens_ctx *c, ens_addr to, const ens_msg *m);

/* Reply to the message being handled: to its sender, carrying its
 * correlation, so an ens_ask waiting for it completes. Errors as ens_send,
 * plus ENS_EINVAL when called outside receive or when the message has no
 * sender. */
int ens_reply(ens_ctx *c, const ens_msgtype *t, const void *v);

/* Ask for a WakeUp message to this actor after delay_ms, carrying payload.
 * Wake-ups arrive in deadline order (ties in request order), never early.
 * *timer_id (may be NULL) receives an id for ens_wakeup_cancel. Errors:
 * ENS_EINVAL (outside an actor, NULL c), ENS_ENOMEM. */
int ens_wakeup_after(ens_ctx *c, uint32_t delay_ms, uint64_t payload, uint64_t *timer_id);

/* Cancel a wake-up not yet delivered. ENS_ENOENT if it fired or is unknown. */
int ens_wakeup_cancel(ens_ctx *c, uint64_t timer_id);

/* Send an exit request to `who` (which may be ens_self(c)). It is queued
 * like a message; an address with no live actor turns it into a dead letter.
 * Errors as ens_send. */
int ens_exit_request(ens_ctx *c, ens_addr who);

/* Stop the calling actor once the current handler returns, with reason
 * (ENS_EXIT_NORMAL, or ENS_EXIT_ERROR with status carried in the parent's
 * child-exited notice). terminate runs; queued messages become dead
 * letters; living children get exit requests. Errors: ENS_EINVAL outside an
 * actor or for a reason other than NORMAL/ERROR. */
int ens_stop(ens_ctx *c, int reason, int status);

/* Register (enable) or unregister the calling actor as the system's handler
 * of dead letters: it then receives each as ENS_MSG_DEAD_ENVELOPE. The latest
 * registration wins; after it unregisters or ends, dead letters are only
 * journaled. Errors: ENS_EINVAL outside an actor. */
int ens_dead_letters_handle(ens_ctx *c, bool enable);

typedef enum ens_log_level {
    ENS_LOG_ERROR = 0,
    ENS_LOG_WARN,
    ENS_LOG_INFO,
    ENS_LOG_DEBUG,
} ens_log_level;

/* Log a line prefixed with time, level and the actor's type and address, to
 * the system's log (stderr by default), if level is within the system's
 * log level. fmt is printf-style and borrowed. */
void ens_log(ens_ctx *c, ens_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* va_list form of ens_log. */
void ens_logv(ens_ctx *c, ens_log_level level, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif
#endif

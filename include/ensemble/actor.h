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
 *    and the actor goes on with its next message. A message is returned as
 *    poison exactly once, even when its actor's process is killed while
 *    returning it (the process base hands the poison to the admin through
 *    the stage).
 *  - System messages are retried or not by what they are (the rule for
 *    each is at its type in msg.h). A notice of something the runtime has
 *    already acted on runs its handler once: exit request, child exited,
 *    child started, child restarted, fd ready. A second run would repeat
 *    its side effects (a cleanup, a restart, a count) and tell nothing new;
 *    an fd's readiness may be gone after the first run. An error there is
 *    journaled (ERROR, "not retried") and nothing more happens: after an
 *    exit request the actor ends all the same. A crash in such a handler
 *    (process base) is no reason to run it again either: the next
 *    incarnation journals it as not retried and, for an exit request, ends
 *    (Thespian does not retry ActorExitRequest either). A message that carries what exists nowhere
 *    else - wake-up, command result, dead envelope, PoisonMessage - is
 *    retried once like any message; it never becomes poison (nobody asked
 *    for it to be returned).
 *  - Messages sent by a handler that then returns an error are delivered.
 *  - Order is FIFO per sender -> receiver pair.
 *
 * Ending (exit request, ens_stop, a supervisor giving up): children end
 * before their parent, as with Thespian (which waits for the children's
 * exits) and OTP (a supervisor stops its children before it terminates).
 * Once the handler that asked to end has returned, the actor's living
 * children get exit requests, the last started first, and the actor waits
 * for their child-exited notices before its own terminate runs, so
 * terminate may count on every child being gone (and the children on their
 * own children: a tree ends from the leaves up). Meanwhile the actor
 * handles nothing: messages to it become dead letters (requests get
 * ENS_ENOACTOR), replies and wake-ups are dropped. The wait is bounded by
 * the system's child_exit_timeout_ms (system.h): children still there are
 * then killed as ens_kill does (no terminate; on the process base their
 * process is SIGKILLed, also in the middle of a terminate that never
 * returns), each with an EXIT journal row "did not end within N ms of its
 * parent's exit request: killed", and terminate runs once their notices
 * are in. A killed actor (ens_kill, a crash that ends it) does not wait:
 * its children are asked to exit and it is gone at once. An actor that
 * ends in a deferred exit (ens_exit_defer: supervisors) stops its children
 * itself first, by their own shutdown rules, so nothing is left to wait for.
 *
 * Crashes (process base: the actor's process dies by a signal or exits
 * without its orderly stop; the inproc base has none):
 *  - A crash is restarted at the same address with zeroed state: the
 *    message in hand is delivered once more (attempt 2; poison after a
 *    second crash) and nothing queued is lost. The parent gets
 *    ens_msg_child_restarted for every restart.
 *  - A crash in the FIRST init (the spawn) is not restarted: the spawn
 *    fails (ENS_EINIT outside; child exited with ENS_EXIT_INIT_FAILED).
 *  - A crash in the init of a restart counts as a crash (a CRASH row saying
 *    so): the restart is tried again after a backoff of 10 ms, doubling
 *    with each such crash in a row up to 1 s; the admin's loop waits for it
 *    (nothing else waits). Messages sent meanwhile wait at the address and
 *    go to the incarnation whose init succeeds, the message in hand too.
 *    Every try is a RESTART row.
 *  - The actor ends for good (an EXIT row; the parent gets child exited
 *    with ENS_EXIT_CRASH or ENS_EXIT_KILLED; what is queued becomes dead
 *    letters) when it crashes more than 10 times within a second, after 10
 *    restarts in a row whose init crashed (the backoff spaces those out, so
 *    the one-second window alone would never be reached: about 3.3 s of
 *    backoff in all), when it was spawned with ENS_SPAWN_NO_RESTART, killed
 *    with ens_kill (also while its restart waits for its backoff), or when
 *    the system is shutting down (a restart waiting for its backoff then
 *    ends at once).
 *  - An init that RETURNS an error is no crash: on a restart, too, the actor
 *    ends (ENS_EXIT_INIT_FAILED to its parent), as init's contract says.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_actor_register, ens_spawn, ens_spawn_flags, ens_send, ens_forward, ens_reply,
 * ens_reply_error, ens_reply_to, ens_request, ens_call, ens_cast, ens_wakeup_after,
 * ens_wakeup_cancel, ens_init_defer, ens_init_ack, ens_exit_request, ens_stop, ens_exit_defer,
 * ens_kill, ens_dead_letters_handle, ens_watch_fd, ens_unwatch_fd, ens_command_run and
 * ens_event_report.
 */
#ifndef ENSEMBLE_ACTOR_H
#define ENSEMBLE_ACTOR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "api.h"
#include "msg.h"

struct ens_event; /* event.h */

#ifdef __cplusplus
extern "C" {
#endif

/* The context of one callback (inside an actor) or of the outside program
 * (ens_system_ctx). Opaque; borrowed, never freed by the user. */
typedef struct ens_ctx ens_ctx;

/* init: runs before the first message. arg is the start argument given to
 * ens_spawn (NULL if none), borrowed. Return < 0 to fail the start: the actor
 * never runs and its parent learns it (ENS_EINIT or child exited with
 * ENS_EXIT_INIT_FAILED). An init may also say "started" later than its
 * end (ens_init_defer, ens_init_ack). May be NULL. */
typedef int (*ens_init_cb)(ens_ctx *c, void *state, const ens_msg *arg);

/* receive: handles one message (m borrowed for the call). Return 0, or < 0
 * for the retry-then-poison rule above. */
typedef int (*ens_receive_cb)(ens_ctx *c, void *state, const ens_msg *m);

/* terminate: runs once when the actor ends in order (exit request, ens_stop),
 * with an ens_exit_reason, after its children have ended ("Ending" above).
 * Not after init returned an error, not when killed; it does run (with
 * ENS_EXIT_INIT_FAILED) after a deferred init failed, since that init
 * returned 0 and may hold what terminate releases. May be NULL. */
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

/* A placement check (Thespian's actorSystemCapabilityCheck): given a
 * system's capabilities ("key=value\n" lines, convention.h), true if an
 * actor of the definition may run there. Called in the admin process of
 * the spawning system and again in that of the chosen system, once per
 * member tried: it must be quick, must not block and must not keep the
 * pointer (borrowed for the call). */
typedef bool (*ens_capability_check_cb)(const char *capabilities);

typedef struct ens_actor_def {
    const char *name;                   /* type name: status, journal, spawn by name */
    size_t state_size;                  /* bytes of zeroed state per incarnation; may be 0 */
    ens_init_cb init;                   /* may be NULL */
    ens_receive_cb receive;             /* fallback when no dispatch row matches; may be
                                           NULL if dispatch is set (unmatched: ignored) */
    ens_terminate_cb terminate;         /* may be NULL */
    const ens_dispatch_entry *dispatch; /* optional typed dispatch table, or NULL */
    const void *impl; /* behaviour data (supervisor, ...); NULL for plain actors */
    /* Placement in a convention (convention.h, "Placement"): the
     * requirements a system's capabilities must all meet to run this actor
     * (a NULL-terminated list of "key" or "key=value", ens_capabilities_meet),
     * or NULL; and/or a check of a system's capabilities, or NULL. Both NULL:
     * the actor runs on the system that spawns it, as without a convention. */
    const char *const *requirements;
    ens_capability_check_cb capability_check;
} ens_actor_def;

/* Register d under its name, so that programs connected to a running
 * system by name (ens_system_connect) can spawn it - and, later, other
 * hosts. Call before ens_system_start, like ens_msgtype_register. d is
 * borrowed for the life of the process. The same pointer twice returns 0.
 * Errors: ENS_EINVAL (NULL d or name, neither receive nor dispatch),
 * ENS_EEXIST (another definition has this name), ENS_ENOMEM. Not
 * thread-safe: register at start-up. */
ENS_API int ens_actor_register(const ens_actor_def *d);

/* The registered definition called name, or NULL. name is borrowed. */
ENS_API const ens_actor_def *ens_actor_find(const char *name);

/* True if c is an actor's context (false for the outside context and NULL):
 * behaviours use it to choose between ens_request (inside) and ens_ask. */
ENS_API bool ens_in_actor(const ens_ctx *c);

/* The calling actor's own address (the outside endpoint's address for the
 * outside context). */
ENS_API ens_addr ens_self(const ens_ctx *c);

/* The sender of the message being handled; ENS_ADDR_NONE outside receive. */
ENS_API ens_addr ens_sender(const ens_ctx *c);

/* The calling actor's parent; ENS_ADDR_NONE for top-level actors and for
 * the outside context. */
ENS_API ens_addr ens_parent(const ens_ctx *c);

/* Largest encoded start argument (frame header included) a spawn carries
 * on the process base: it travels to the admin, and from there to the new
 * process, inside one control frame (a datagram of at most 64 KiB). A
 * larger one is refused with ENS_EMSGSIZE. The in-process base takes up to
 * max_frame_bytes. Bulk data belongs in a message sent after the spawn. */
#define ENS_SPAWN_ARG_MAX 64512u

/* Start an actor of definition d with start argument (argt, arg) - both NULL
 * for none; arg is encoded before return, so it is only borrowed. From inside
 * an actor the new actor is a child of the caller: the address is valid at
 * once, messages queue until init has run, and an init failure reaches the
 * parent as child exited with ENS_EXIT_INIT_FAILED. From the outside
 * context the actor is top level and init has run when this returns - and,
 * for an init that deferred (ens_init_defer), been acknowledged
 * (ens_init_ack): the call waits for that, up to the system's
 * call_timeout_ms. From a program connected by name (ens_system_connect)
 * d stands for the registered definition of its name: only d->name counts
 * (no receive needed), and a name not registered there is ENS_ENOENT.
 * Errors: ENS_EINVAL (NULL c/d/out, d->name NULL, d without receive and
 * dispatch - from a connected program: only the name is needed -, argt/arg
 * mismatch: one NULL, the other not; ens_errmsg says which), ENS_ENOENT (a
 * program connected by name: d's type is not registered in the system;
 * ens_errmsg names it), ENS_EBADTYPE (argt
 * not registered), ENS_EMSGSIZE (the encoded argument is above the
 * frame limit, or on the process base above ENS_SPAWN_ARG_MAX; ens_errmsg
 * gives its size), ENS_ENOMEM, ENS_EINIT (outside only: init
 * failed or was acknowledged with an error, or the actor ended before its
 * ack; no actor is left), ENS_ETIMEDOUT (outside only: a deferred init was
 * not acknowledged within call_timeout_ms; the actor is stopped),
 * ENS_ESHUTDOWN. From outside, an init failure sets ens_errmsg() (error.h):
 * the actor's type and address, and the init's own code or the reason its
 * ack gave. *out is written only on success. */
ENS_API int ens_spawn(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                      ens_addr *out);

/* Send a message of type t with value v to `to`, asynchronously; v is
 * encoded before return (borrowed). From the outside context this is a
 * "tell": replies and PoisonMessages come back through ens_listen. A send to
 * an address with no live actor still returns 0: the message becomes a dead
 * letter. Errors: ENS_EINVAL (NULL c, t or v - every message type has a
 * value, so v is never optional -, the none address, an address whose
 * reserved field is not 0), ENS_EBADTYPE (t not registered), ENS_EMSGSIZE (above the frame limit),
 * ENS_EFULL (the receiver's mailbox is at its bound: nothing was queued),
 * ENS_ENOMEM, ENS_ESHUTDOWN, ENS_EWRONGTHREAD (the outside context used from
 * another thread than the one that started or connected the system, or
 * inside an actor: ensemble/system.h; every call that takes an ens_ctx
 * answers so). */
ENS_API int ens_send(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v);

/* Send m on to `to` unchanged: same type, value and original sender, and the
 * same correlation, so a reply from `to` reaches the original asker. m is
 * borrowed. Errors as ens_send. */
ENS_API int ens_forward(ens_ctx *c, ens_addr to, const ens_msg *m);

/* Every request (ens_ask, ens_request, ens_call, ens_gen_server_call) is
 * answered. A handler that returns 0 must reply to it (ens_reply,
 * ens_reply_error, ens_reply_to), forward it (ens_forward: the new target
 * owes the answer), or keep it for later: take its ens_from
 * (ens_from_current, to answer with ens_reply_to) or a copy (ens_msg_dup,
 * to forward or answer later). Otherwise the runtime answers it at once
 * with the error reply ENS_ENOREPLY (an ens.String "demo.Echo handled
 * demo.Ping without replying", which the asker's ens_errmsg() gives from
 * outside; a debug-level log line says the same) instead of letting the
 * asker wait its whole timeout. A handler that returns an error is answered
 * by the retry-then-poison rule instead, a crash's redelivery is handled as
 * a first delivery is, system messages and plain sends are never answered.
 * A gen_server's handle_call gets the call's ens_from, which the runtime
 * counts as kept: a handle_call that returns without replying leaves the
 * call open (OTP's noreply) until it replies or the caller's timeout.
 *
 * Reply to the message being handled: to its sender, carrying its
 * correlation, so an ens_ask waiting for it completes. Errors as ens_send,
 * plus ENS_EINVAL when called outside receive or when the message has no
 * sender. */
ENS_API int ens_reply(ens_ctx *c, const ens_msgtype *t, const void *v);

/* Reply with an error: the sender's ens_ask, ens_request or ens_call
 * completes with status `error` (a negative code: an ENS_E* code or the
 * caller's own convention, -32768..-1) and the reply message (t, v), which
 * may carry details (t NULL: no payload, an empty ens.String is sent).
 * Errors as ens_reply, plus ENS_EINVAL for error >= 0 or < -32768. */
ENS_API int ens_reply_error(ens_ctx *c, int error, const ens_msgtype *t, const void *v);

/* Where a reply must go: the requester and its correlation. Storable, so a
 * handler can answer later, from another handler (OTP's From). */
typedef struct ens_from {
    ens_addr to;
    uint64_t corr; /* 0: the message was not a request (the reply is a plain send) */
} ens_from;

/* The ens_from of the message being handled; to is ENS_ADDR_NONE outside
 * receive or when the message has no sender. Taking it keeps the request:
 * the runtime no longer answers it ENS_ENOREPLY when the handler returns
 * (see ens_reply). */
ENS_API ens_from ens_from_current(const ens_ctx *c);

/* Reply to `from` now (error 0: a reply; < 0: an error reply as in
 * ens_reply_error). Used to answer a request later than its own handler.
 * Errors as ens_send; ENS_EINVAL for a from with no address, or t set with
 * v NULL. */
ENS_API int ens_reply_to(ens_ctx *c, ens_from from, int error, const ens_msgtype *t, const void *v);

/* The completion of ens_request / ens_call, called exactly once, inside
 * the requesting actor, with its state: status 0 and the reply; or the
 * error of an error reply (ENS_ENOACTOR: nobody at that address; ENS_EPOISON:
 * the handler failed twice, reply is the PoisonMessage; or the replier's own
 * code) with the error reply; or ENS_ETIMEDOUT with reply NULL; or, in a
 * convention, ENS_EUNREACHABLE with reply NULL as soon as this system learns
 * that the member the actor asked runs on became unreachable or left (not
 * at the timeout; a reply that comes later is dropped). reply is
 * borrowed for the call (ens_msg_dup to keep it). The callback may send,
 * reply (to the message being handled when the request was made it cannot:
 * use ens_reply_to), request, stop. */
typedef void (*ens_reply_cb)(ens_ctx *c, void *state, int status, const ens_msg *reply,
                             uint64_t tag);

/* Send (t, v) to `to` as a request and have cb called with its reply or
 * its failure within timeout_ms (0: the system's call_timeout_ms). The
 * actor goes on handling other messages meanwhile. A reply that comes after
 * the timeout is dropped, never delivered. A system message sent back as a
 * reply (an exit request, a notice, a wake-up: any system type of msg.h but
 * the PoisonMessage of a request that failed twice) is never the answer:
 * it is dropped with a log line and the request goes on waiting, as
 * ens_ask does. A handler that returns without answering the request (see
 * ens_reply) completes it at once with status ENS_ENOREPLY and an ens.String
 * reply naming the two types. Pending requests belong to the
 * incarnation: after a crash restart (process base) their callbacks never
 * run and their replies are dropped. Inside an actor only.
 * Errors (cb is then never called): ENS_EINVAL (outside an actor, NULL cb,
 * t or v, an address ens_send refuses), ENS_EWRONGTHREAD (the outside
 * context, from another thread or an actor), ENS_ENOMEM, and those of
 * ens_send. */
ENS_API int ens_request(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v,
                        uint32_t timeout_ms, ens_reply_cb cb, uint64_t tag);

/* Like ens_request, but the actor handles nothing else until cb has run
 * (OTP's gen_server:call from inside a process): every other message that
 * arrives meanwhile - system messages and exit requests included - is held
 * in arrival order and delivered after cb, before anything newer. A call
 * made from cb (or while held messages are delivered) holds them again.
 * Held messages are still in the actor's mailbox: on the process base they
 * wait in its stage, so a crash while the call waits loses none; the next
 * incarnation gets them in order, once each (a message the caller had
 * handled before the crash does not come back), before anything newer.
 * The call itself dies with the process (its late reply is dropped). Past
 * the stage's held area (mailbox_bytes_limit, at most 256 MiB) messages
 * are held in memory, with a log line, and a crash loses those.
 * Errors as ens_request. */
ENS_API int ens_call(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v,
                     uint32_t timeout_ms, ens_reply_cb cb, uint64_t tag);

/* Send (t, v) to `to` marked as a cast (ens_msg_is_cast), the asynchronous
 * counterpart of a call for behaviours such as gen_server. Errors as
 * ens_send. */
ENS_API int ens_cast(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v);

/* Ask for a WakeUp message to this actor after delay_ms, carrying payload.
 * Wake-ups arrive in deadline order (ties in request order), never early.
 * *timer_id (may be NULL) receives an id for ens_wakeup_cancel. Errors:
 * ENS_EINVAL (outside an actor, NULL c), ENS_ENOMEM. */
ENS_API int ens_wakeup_after(ens_ctx *c, uint32_t delay_ms, uint64_t payload, uint64_t *timer_id);

/* Cancel a wake-up not yet delivered. ENS_ENOENT if it fired or is unknown. */
ENS_API int ens_wakeup_cancel(ens_ctx *c, uint64_t timer_id);

/* ---- Starting later than the end of init (OTP's proc_lib:init_ack) ----- */

/* Called in init: the actor is not "started" when init returns 0, but
 * when it calls ens_init_ack later, from any of its handlers (a reply
 * callback, a wake-up, a child's notice: it runs and handles messages
 * meanwhile, as after any init). Until then a synchronous spawn (from
 * outside) waits, and a parent that spawned it with ENS_SPAWN_NOTIFY_START
 * gets no child-started notice. The wait is bounded by the system's
 * call_timeout_ms from the end of init: with no ack by then, the init fails
 * with ENS_ETIMEDOUT as if ens_init_ack(c, ENS_ETIMEDOUT, ...) had been
 * called (an INIT_FAILED row says so; an outside spawn returns
 * ENS_ETIMEDOUT). A crash before the ack counts as a crash in init (no
 * restart). Supervisors use it: they ack once every child (and every nested
 * subtree) has started. Errors: ENS_EINVAL (NULL c, outside an actor, not
 * inside init, or after an ens_init_ack inside init). */
ENS_API int ens_init_defer(ens_ctx *c);

/* Acknowledge a deferred init: status 0, started (child-started to a parent
 * that asked, the outside spawn returns 0), or < 0, the init failed with
 * that code: an INIT_FAILED row with `why` (borrowed, may be NULL) as its
 * reason, an outside spawn returns ENS_EINIT (ens_errmsg() says why), the
 * parent gets child exited with ENS_EXIT_INIT_FAILED and that status, and
 * the actor stops once the running handler returns (children first, then
 * terminate with ENS_EXIT_INIT_FAILED). Called inside init itself, it
 * counts as init returning status. Errors: ENS_EINVAL (NULL c, outside an
 * actor, status > 0, an init that did not defer or was acknowledged
 * already, or after the wait timed out). */
ENS_API int ens_init_ack(ens_ctx *c, int status, const char *why);

/* Spawn flags (ens_spawn_flags). */
enum ens_spawn_flag {
    /* A crash ends the actor for good instead of a restart in place
     * (process base): the parent gets child exited with ENS_EXIT_CRASH or
     * ENS_EXIT_KILLED, the message in hand and the queue become dead
     * letters (requests among them get ENS_ENOACTOR). For supervisors'
     * temporary children and strategies that restart siblings. */
    ENS_SPAWN_NO_RESTART = 1u << 0,
    /* Once init has run (for a deferred init: once it acknowledged), the
     * parent receives ens_msg_child_started (first start, and a
     * supervisor's start of a new incarnation at a kept address; in-place
     * restarts are told by ens_msg_child_restarted).
     * With an init failure it receives child exited (INIT_FAILED) as
     * always, so a parent can start children strictly one after another. */
    ENS_SPAWN_NOTIFY_START = 1u << 1,
    /* Connect the spawner (the outside program or the parent) and the new
     * actor both ways at the spawn (process base), so that the first
     * message between them and its reply skip a round trip through the
     * admin each. Costs the spawner two descriptors per actor from the
     * start (a spawner that talks to the actor holds them anyway). The
     * in-process base has no connections: ignored there. */
    ENS_SPAWN_CONNECT = 1u << 2,
};

/* ens_spawn with flags (a mask of enum ens_spawn_flag). Unknown flags:
 * ENS_EINVAL. Otherwise as ens_spawn. */
ENS_API int ens_spawn_flags(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt,
                            const void *arg, uint32_t flags, ens_addr *out);

/* The most actors one ens_spawn_many starts. */
#define ENS_SPAWN_MANY_MAX 65536u

/* Start n actors of definition d, each with the same start argument (argt,
 * arg) and flags (as ens_spawn_flags), and return their addresses: the
 * batch counterpart of ens_spawn, for pools and a supervisor's start of its
 * children. The process base asks the admin for up to 64 at once instead
 * of one round trip after another; the in-process base starts them one
 * after another.
 *
 * Each actor succeeds or fails on its own (no all-or-nothing): out[i] (n
 * entries) receives the i-th actor's address, or ENS_ADDR_NONE when it
 * did not start; status[i] (n entries; may be NULL) receives 0 or what
 * ens_spawn_flags would have returned for it (ENS_EINIT, ENS_ETIMEDOUT,
 * ENS_EAGAIN: too few descriptors left, ENS_ENOMEM, ENS_ESHUTDOWN, ...).
 * The actors that started keep running whatever happened to the others; a
 * caller that wants all or nothing stops the started ones itself
 * (ens_exit_request or ens_kill).
 *  - From outside, init has run (and a deferred init been acknowledged)
 *    for every actor when this returns, as with ens_spawn: an init that
 *    fails makes that entry ENS_EINIT, leaves no actor there, and sets
 *    ens_errmsg() to the first such failure's text.
 *  - Inside an actor, the actors are its children, and their inits run
 *    after this returns, as with ens_spawn: an init that fails leaves its
 *    entry 0 and comes to the caller as ens_msg_child_exited
 *    (ENS_EXIT_INIT_FAILED), and ENS_SPAWN_NOTIFY_START announces each
 *    start.
 * Returns the number of actors started (0..n; n == 0 checks the arguments
 * and writes nothing), or one of these with nothing started (out and status
 * then say nothing):
 * ENS_EINVAL (NULL c, d or out, n > ENS_SPAWN_MANY_MAX, unknown flags, d
 * without receive and dispatch, argt/arg mismatch), ENS_EBADTYPE (argt not
 * registered), ENS_EMSGSIZE (the argument above the frame limit),
 * ENS_ENOMEM (no room for the per-actor state), ENS_ESHUTDOWN. */
ENS_API int ens_spawn_many(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt,
                           const void *arg, uint32_t flags, size_t n, ens_addr *out, int *status);

/* Send an exit request to `who` (which may be ens_self(c)). It is queued
 * like a message; an address with no live actor turns it into a dead letter.
 * Errors as ens_send. */
ENS_API int ens_exit_request(ens_ctx *c, ens_addr who);

/* Stop the calling actor once the current handler returns, with reason
 * (ENS_EXIT_NORMAL; ENS_EXIT_ERROR with status carried in the parent's
 * child-exited notice; ENS_EXIT_SHUTDOWN to finish an exit request deferred
 * with ens_exit_defer; ENS_EXIT_INTENSITY for a supervisor that gave up).
 * Living children get exit requests, the last started first, and terminate
 * runs once they have ended ("Ending" above); queued messages become dead
 * letters. Errors: ENS_EINVAL outside an actor or for another reason. */
ENS_API int ens_stop(ens_ctx *c, int reason, int status);

/* Called while handling an exit request: do not stop when this handler
 * returns; the actor stops itself later with ens_stop(c,
 * ENS_EXIT_SHUTDOWN, 0) (a supervisor first stops its children, the last
 * started first, each by its shutdown rule). Meanwhile it handles messages
 * as usual; further exit requests are ordinary messages. Errors: ENS_EINVAL
 * (outside an actor, or not handling an exit request). */
ENS_API int ens_exit_defer(ens_ctx *c);

/* The definition of the calling actor (NULL for the outside context):
 * behaviours reach their data through its impl. Borrowed. */
ENS_API const ens_actor_def *ens_self_def(const ens_ctx *c);

/* End `who` at once and for good, without its terminate callback (OTP's
 * exit(Pid, kill), a supervisor's brutal kill or the end of a shutdown
 * timeout): on the process base its process is SIGKILLed, also in the
 * middle of a handler that never returns; it is not restarted; its parent
 * gets child exited with ENS_EXIT_KILLED; its queue and the message in hand
 * become dead letters. On the inproc base it stops before its next message
 * (a handler that never returns cannot be stopped there). Asynchronous:
 * returns once asked; an address with no live actor is ignored. who may be
 * the caller itself. Errors: ENS_EINVAL (NULL c, an address ens_send
 * refuses), ENS_ESHUTDOWN, ENS_ENOTSUP. */
ENS_API int ens_kill(ens_ctx *c, ens_addr who);

/* Register (enable) or unregister the calling actor as the system's handler
 * of dead letters: it then receives each as ens_msg_dead_envelope. The latest
 * registration wins; after it unregisters or ends, dead letters are only
 * journaled. Errors: ENS_EINVAL outside an actor. */
ENS_API int ens_dead_letters_handle(ens_ctx *c, bool enable);

/* ---- Services: watched descriptors and shell commands ------------------ */

/* Ask to be told once when fd becomes readable (or hangs up, or is in
 * error), without blocking: the actor then receives one system message
 * ens_msg_fd_ready (ens_fd_ready_v: fd, events as a mask of enum
 * ens_fd_event, tag) and the watch is off, until this is called again
 * (Thespian's WatchMessage). Nothing is read from fd: the handler reads it;
 * the watch makes fd non-blocking (O_NONBLOCK stays set), so a read never
 * stalls the actor. fd must be open in the calling actor's
 * process - on the process base that is the actor's own process, so the
 * actor opens or creates it itself (descriptors of the starting program are
 * not inherited) - and stays owned by the caller: unwatch it before closing
 * it (a descriptor closed while watched may never report). Watches end with
 * the actor and are not carried over a crash restart on the process base:
 * the new incarnation watches again if it wants to. A FdReady already
 * queued when the watch is dropped is still delivered.
 * Errors: ENS_EINVAL (NULL c, outside an actor, fd not open, a regular file
 * or a directory: those are always readable), ENS_EEXIST (fd is watched
 * already), ENS_ENOMEM, ENS_ENOTSUP (the base has no watches). */
ENS_API int ens_watch_fd(ens_ctx *c, int fd, uint64_t tag);

/* Stop watching fd. Errors: ENS_ENOENT (fd is not watched: never was, or its
 * FdReady was sent already), ENS_EINVAL (NULL c, outside an actor, fd < 0). */
ENS_API int ens_unwatch_fd(ens_ctx *c, int fd);

/* The max_output of ens_command_run when 0 is given: 64 KiB. */
#define ENS_COMMAND_OUTPUT_DEFAULT 65536u

/* Run `/bin/sh -c shell_command` without blocking the actor (Thespian's
 * runCommand). When the shell has exited, the actor receives one system
 * message ens_msg_command_result (ens_command_result_v): the tag, the exit
 * status (or -1 and the signal that ended it), and its standard output and
 * standard error merged in one stream, as a terminal shows them: the first
 * max_output bytes (0 = ENS_COMMAND_OUTPUT_DEFAULT); the rest is read and
 * thrown away and truncated is 1. Standard input is /dev/null; the command
 * inherits no other descriptor of the actor, runs in a process group of its
 * own with default signal dispositions and an empty signal mask. When the
 * shell exits while something it started in the background still holds the
 * output open, that process group is killed (SIGKILL), so the result comes
 * at once. shell_command is borrowed for the call.
 * Commands end with the actor: one still running when the actor ends (stop,
 * exit request, shutdown) is killed with its process group (SIGKILL) and
 * reaped before the actor is gone, and its result never comes. A process-
 * base actor that crashes (or is killed) cannot do that: the commands of
 * that incarnation are left running, and their results are lost; the next
 * incarnation does not know them.
 * On the inproc base the command is a child of the program that started the
 * system: a SIGCHLD handler there that reaps every child (waitpid(-1, ...))
 * would take its exit status away.
 * Errors: ENS_EINVAL (NULL c or shell_command, outside an actor),
 * ENS_EMSGSIZE (max_output does not fit in a frame: above the frame limit
 * less 1 KiB), ENS_ENOMEM, ENS_EAGAIN (the shell could not be started:
 * fork or exec failed; no result will come), ENS_ENOTSUP. */
ENS_API int ens_command_run(ens_ctx *c, const char *shell_command, uint32_t max_output,
                            uint64_t tag);

/* Report a failure event (a behaviour's decision: ENS_EV_ESCALATE,
 * ENS_EV_BREAKER, ENS_EV_RESTART by a supervisor, ...) as the runtime does:
 * to on_event, the log and the journal. Fields of ev left zero or NULL are
 * filled from c: actor, parent, actor_type and incarnation of the calling
 * actor (when ev->actor is none), the time, and "" for strings. ev and its
 * strings are borrowed. What may be reported: a kind of enum
 * ens_event_kind; from the outside context, events about the outside
 * program itself (ev->actor none or its own address); from an actor,
 * events about itself, about its children (ev->parent its own address) and
 * dead letters (ev->actor the address a message could not reach). On the
 * process base the admin applies the same rule to every event that reaches
 * it, so a program cannot write journal rows about other actors. Errors:
 * ENS_EINVAL (NULL c or ev, a report the caller may not make). */
ENS_API int ens_event_report(ens_ctx *c, const struct ens_event *ev);

typedef enum ens_log_level {
    ENS_LOG_ERROR = 0,
    ENS_LOG_WARN,
    ENS_LOG_INFO,
    ENS_LOG_DEBUG,
} ens_log_level;

/* Log a line prefixed with time, level and the actor's type and address, to
 * the system's log (stderr by default), if level is within the system's
 * log level. fmt is printf-style and borrowed. */
ENS_API void ens_log(ens_ctx *c, ens_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* va_list form of ens_log. */
ENS_API void ens_logv(ens_ctx *c, ens_log_level level, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif
#endif

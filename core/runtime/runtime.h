/*
 * core/runtime/runtime.h - what every system base shares: the system and context
 * objects, one actor instance, and the table of operations a base provides.
 * Internal.
 *
 * The split: core/runtime/actor.c holds everything an actor does that does not
 * depend on where it runs (the handler calls, the retry-then-poison rule,
 * the orderly stop, the ens_ctx API); a base (core/inproc/inproc.c, the process
 * base's core/process/) moves frames, starts actors and keeps timers
 * through ens__host_ops, and runs the outside program's loop through
 * ens__outside_ops (core/runtime/outside.c builds ask, listen and the rest on it).
 * Frames travel as encoded bytes on every base; a message is
 * decoded only when it is delivered.
 */
#ifndef ENS_CORE_RUNTIME_H
#define ENS_CORE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/wire/frame.h"
#include "core/wire/msg_internal.h"
#include "ensemble/actor.h"
#include "ensemble/event.h"
#include "ensemble/system.h"

#define ENS_ID_ADMIN       1u /* the admin (the system itself on inproc) */
#define ENS_ID_OUTSIDE     2u /* the outside endpoint of a system */
#define ENS_ID_FIRST_ACTOR 16u

typedef enum ens_actor_state {
    ENS_ACTOR_STARTING = 1, /* init not run yet */
    ENS_ACTOR_RUNNING,
    ENS_ACTOR_STOPPING, /* ending: waits for its children before terminate */
    ENS_ACTOR_DEAD,
} ens_actor_state;

typedef struct ens_actor ens_actor;
struct ens_jwriter; /* persistence/journal_writer.h (sqlite stays out of core/ headers) */

struct ens_ctx {
    ens_system *sys;
    ens_actor *actor;   /* NULL for the outside context */
    const ens_msg *cur; /* the message being handled, or NULL */
    ens_addr self;
};

struct ens_actor {
    const ens_actor_def *def;
    /* The definition named in status and journal rows when it is not def:
     * a wrapper's (a troupe worker's) user definition. NULL: def. See
     * ens__actor_type. */
    const ens_actor_def *shown;
    void *state;
    ens_addr addr;
    ens_addr parent;      /* none for top-level actors */
    uint32_t incarnation; /* 1 for the first start */
    ens_actor_state status;
    uint8_t *arg_frame; /* encoded start argument (owned), or NULL */
    size_t arg_len;
    bool stop_requested;  /* ens_stop or an exit request was handled */
    bool killed;          /* ens_kill: stops without terminate */
    bool exit_deferred;   /* ens_exit_defer: an exit request did not stop it */
    uint32_t spawn_flags; /* enum ens_spawn_flag it was spawned with */
    int stop_reason;
    int stop_status;
    /* While STOPPING: the wake-up that bounds the wait for the children,
     * and how far the wait is (1: asked them to exit, 2: killed those left). */
    uint64_t stop_timer;
    int stop_phase;
    ens_addr *children; /* living children, in start order */
    size_t n_children, cap_children;
    uint32_t queued;       /* frames waiting for this actor (mailbox depth) */
    uint64_t queued_bytes; /* their bytes */
    uint64_t handled;      /* messages handled */
    /* The request being handled was answered: replied to, forwarded, or
     * its ens_from taken to answer later (ens__answered). A request whose
     * handler returns 0 without this gets ENS_ENOREPLY at once. */
    bool answered;
    /* Requests waiting for their reply (ens_request, ens_call). */
    struct ens_pending *pending;
    size_t n_pending, cap_pending;
    /* Messages held while an ens_call waits (a FIFO of owned copies). */
    uint32_t calls_waiting; /* ens_call requests pending */
    ens_msg **held;
    size_t held_head, n_held, cap_held;
    /* An init acknowledged later (ens_init_defer, ens_init_ack). */
    bool in_init;        /* its init callback is running */
    bool init_deferred;  /* init deferred its acknowledgement, not given yet */
    bool init_acked;     /* ens_init_ack was called inside init itself */
    int init_ack_status; /* ... with this status */
    char *init_why;      /* ... and this reason (owned), or NULL */
    uint64_t init_timer; /* the wake-up that bounds the wait for the ack */
    ens_ctx ctx;
};

/* One request waiting for its reply. */
typedef struct ens_pending {
    uint64_t corr;
    uint64_t timer_id;
    ens_reply_cb cb;
    uint64_t tag;
    bool exclusive; /* ens_call: other messages are held meanwhile */
    uint32_t node;  /* the node of the actor asked (ens.NodeDown completes it) */
} ens_pending;

struct ens_names_req; /* below */
struct ens_endpoint;  /* core/runtime/endpoint.h */

/* What an actor's host provides: the base an ens_ctx runs on. Every base
 * fills it for its actors; the process base's outside program fills the
 * part an outside context uses (route, spawn, status, kill, names) and
 * leaves the rest NULL, since it hosts no actor. A NULL operation has one
 * caller, which answers ENS_ENOTSUP (or never calls it: the operations
 * that take an ens_actor are only called where actors run). */
typedef struct ens__host_ops {
    /* Route a frame (header already in the bytes; h is its parsed header)
     * to h->target. Takes ownership of frame in every case. `bounded`: the
     * receiver's mailbox bound applies (ENS_EFULL, frame freed). */
    int (*route)(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded);
    /* Create an actor of def d, child of parent (NULL: top level), with the
     * encoded start argument (ownership transferred, may be NULL). sync:
     * run init before returning (outside spawns). flags: enum
     * ens_spawn_flag (a base without restarts ignores them). shown: the
     * definition its status and journal rows name instead of d (a static
     * definition, as d), or NULL. */
    int (*spawn)(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                 const ens_actor_def *shown, uint8_t *arg_frame, size_t arg_len, bool sync,
                 uint32_t flags, ens_addr *out);
    /* ens_spawn_many: n actors as n calls of spawn would start them, the
     * argument frame borrowed (each gets a copy). Fills out[i] and
     * status[i] (0 or what spawn would have returned) for every i and
     * returns 0 (a failure midway, the system going away, is in the
     * statuses), or returns an error before anything was asked
     * (ENS_EMSGSIZE, ENS_ESHUTDOWN) with out and status untouched. NULL:
     * actor.c calls spawn n times. */
    int (*spawn_many)(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                      const ens_actor_def *shown, const uint8_t *arg_frame, size_t arg_len,
                      bool sync, uint32_t flags, size_t n, ens_addr *out, int *status);
    /* Wake-ups of actor a (ens_wakeup_after, request timeouts). */
    int (*timer_add)(ens_system *s, ens_actor *a, uint32_t delay_ms, uint64_t payload,
                     uint64_t *id);
    int (*timer_cancel)(ens_system *s, ens_actor *a, uint64_t id);
    /* The actor has stopped: forget it (table, timers); the frame memory of
     * its queue stays with the base, whose later deliveries turn them into
     * dead letters. Frees a. */
    void (*actor_gone)(ens_system *s, ens_actor *a);
    /* Make `who` the dead-letter handler (enable) or drop it if it is the
     * current one (!enable). */
    void (*dead_letters_set)(ens_system *s, ens_addr who, bool enable);
    /* The handler is about to see the message in hand again with this
     * attempt (the process base records it in the stage). May be NULL. */
    void (*on_attempt)(ens_system *s, ens_actor *a, uint32_t attempt);
    /* An ens_call of a waits and m, the message in hand, is to be held:
     * keep it where a crash does not lose it and deliver it, in order,
     * once no call waits (the process base: the stage's held area, read by
     * its loop). 0: kept; an error (ENS_EFULL): request.c keeps it in
     * memory. NULL: request.c keeps held messages in memory. */
    int (*hold)(ens_system *s, ens_actor *a, const ens_msg *m);
    /* Have a status snapshot (&ens_msg_status) sent to `requester` (an actor,
     * or the outside endpoint), as a reply to corr when corr is not 0.
     * Errors: the send's. */
    int (*status)(ens_system *s, ens_addr requester, uint64_t corr);
    /* Services (ens_watch_fd, ens_command_run): start (on) or stop a watch
     * of fd for a; start a command for a. NULL: ENS_ENOTSUP. */
    int (*watch)(ens_system *s, ens_actor *a, int fd, uint64_t tag, bool on);
    int (*command)(ens_system *s, ens_actor *a, const char *cmd, uint32_t max_output, uint64_t tag);
    /* End `who` at once and for good (ens_kill), asked by caller (NULL:
     * the outside). NULL: ENS_ENOTSUP. */
    int (*kill)(ens_system *s, ens_actor *caller, ens_addr who);
    /* Global names (registry/): one request to the system's name table, from
     * `caller` (NULL: the outside). See ens_names_req. NULL: ENS_ENOTSUP. */
    int (*names)(ens_system *s, ens_actor *caller, struct ens_names_req *req);
    /* a's init has ended: rc 0 (started: at the end of init, or at its
     * ens_init_ack), or what a synchronous spawn of a returns (ENS_EINIT,
     * ENS_ETIMEDOUT: no ack within call_timeout_ms) with why, the text for
     * the spawner's ens_errmsg (borrowed). Called before a failed actor
     * stops. NULL: nobody waits here. */
    void (*init_done)(ens_system *s, ens_actor *a, int rc, const char *why);
    /* End the reservation of `who`, a child of caller spawned with
     * ENS__SPAWN_KEEP_ADDR that ended (see there): what waits for it and
     * what comes later become dead letters, its global name is freed.
     * ENS_ENOENT: no reservation of caller's there (never made, released
     * already, or the child runs again). NULL: ENS_ENOTSUP. */
    int (*release)(ens_system *s, ens_actor *caller, ens_addr who);
    /* Subscribe actor a to its convention's updates (on) or end that
     * (ens_convention_subscribe, which checked that the system has a
     * convention). NULL: ENS_ENOTSUP (no base without a gateway has one). */
    int (*convention_subscribe)(ens_system *s, ens_actor *a, bool on);
    /* Set (value non-NULL) or remove capability key of the system, asked
     * by caller (NULL: the outside), key and value within the limits
     * (ens_capability_set checked them; the admin checks again). The
     * system's own word: 0 or its refusal. NULL: ENS_ENOTSUP. */
    int (*capability_set)(ens_system *s, ens_actor *caller, const char *key, const char *value);
} ens__host_ops;

/* How much longer than call_timeout_ms a synchronous spawn waits for its
 * answer: an actor that defers its init fails by itself call_timeout_ms
 * after its init, and the spawner hears that rather than a timeout of its
 * own. */
#define ENS__INIT_ACK_GRACE_MS 5000u

/* Internal spawn flags, beside enum ens_spawn_flag (ens_spawn_flags refuses
 * them; the supervisor uses them through ens__spawn_shown, ens__spawn_at
 * and ens__name_spawn).
 *  - ENS__SPAWN_KEEP_ADDR: when the actor ends, for whatever reason, while
 *    its parent (the incarnation that spawned it) lives and the system is
 *    not shutting down, its address stays reserved for that parent: the
 *    base keeps its mailbox (inproc: the frames; process base: the record,
 *    the receiving ends and the stage) and its global name, and messages
 *    sent to it wait. The parent then starts a new incarnation there
 *    (ENS__SPAWN_AT), which gets every waiting message in order, or
 *    releases it (host->release). The parent's end (or restart in place)
 *    releases every reservation it holds.
 *  - ENS__SPAWN_AT: host->spawn starts a new incarnation at the reserved
 *    address *out (in and out) instead of a new address; ENS_ENOENT when
 *    the caller holds no reservation there. The new incarnation's init is
 *    announced to the parent with ens_msg_child_started (with
 *    ENS_SPAWN_NOTIFY_START) as a first start is. */
#define ENS__SPAWN_KEEP_ADDR (1u << 16)
#define ENS__SPAWN_AT        (1u << 17)
/*  - ENS__SPAWN_DIRECT (process base, the outside's synchronous spawn with
 *    ENS_SPAWN_CONNECT): the new actor answers the spawn itself, on the
 *    connection made at the spawn, once its init succeeded; failures are
 *    still answered by the admin. The spawner takes the first answer. */
#define ENS__SPAWN_DIRECT (1u << 18)
#define ENS__SPAWN_PUBLIC                                                                          \
    ((uint32_t)(ENS_SPAWN_NO_RESTART | ENS_SPAWN_NOTIFY_START | ENS_SPAWN_CONNECT))

/* What the outside program's side of a base provides: a loop that runs
 * only inside the program's blocking calls. ask, listen, status and the
 * rest are written once on top of it (core/runtime/outside.c); frames for the
 * outside endpoint go to ens__outside_deliver. NULL in an actor process:
 * there is no outside program there. */
typedef struct ens__outside_ops {
    /* Run the loop until done(s) (checked before every wait) or until
     * deadline_ns (monotonic). Returns 0 (done), ENS_ETIMEDOUT, or
     * ENS_ESHUTDOWN (the system ended under the program). */
    int (*pump)(ens_system *s, bool (*done)(ens_system *s), uint64_t deadline_ns);
    /* ens_system_run: one turn of the loop, bounded by timeout_ms (see its
     * contract in ensemble/system.h for what each base does). */
    int (*run)(ens_system *s, uint32_t timeout_ms);
    /* True when `to` is known at once to be no live actor (ens_ask then
     * answers ENS_ENOACTOR without sending). NULL: the base cannot tell
     * without sending. */
    bool (*absent)(ens_system *s, ens_addr to);
    /* Release the program's side of the system (its base data; s itself
     * stays to the caller): with `end`, end the whole system first
     * (ens_system_stop); without, as ens_system_close says (end it, or
     * only detach from a persistent or connected system). Returns 0 or
     * ENS_ETIMEDOUT. */
    int (*close)(ens_system *s, uint32_t timeout_ms, bool end);
} ens__outside_ops;

/* A request to the name table (ens__host_ops.names). Returns 0, 1 (SPAWN:
 * the name was taken, req->addr is its actor) or an error. */
typedef enum ens_names_op {
    ENS_NAMES_LOOKUP = 1, /* req->addr = the live actor named req->name; ENS_ENOENT */
    ENS_NAMES_REGISTER,   /* name the caller (an actor); ENS_EEXIST */
    ENS_NAMES_UNREGISTER, /* drop the caller's name; ENS_ENOENT */
    ENS_NAMES_SPAWN,      /* create-or-get: spawn as host->spawn and name it atomically */
    ENS_NAMES_DEAD,       /* req->frame (taken) is a dead letter for req->reason */
} ens_names_op;

typedef struct ens_names_req {
    ens_names_op op;
    const char *name; /* valid (ens_name_valid) for every op but UNREGISTER, DEAD */
    ens_addr addr;    /* out: LOOKUP, SPAWN */
    /* SPAWN: as host->spawn (arg_frame taken in every case); DEAD: the frame. */
    const ens_actor_def *def;
    uint8_t *frame;
    size_t len;
    bool sync;
    uint32_t flags;
    const char *reason; /* DEAD */
} ens_names_req;

struct ens_system {
    ens_system_opts opts;
    char *name;
    const ens__host_ops *host;
    const ens__outside_ops *outside_ops; /* NULL in an actor process */
    /* A program connected by name (ens_system_connect): the admin finds
     * what it spawns among the registered definitions by name, so the
     * definition it passes needs only its name. */
    bool spawn_by_name;
    struct ens_endpoint *endpoint; /* the outside endpoint (core/runtime/outside.c), or NULL */
    void *base;                    /* the base's private data */
    uint32_t node;
    int64_t started_ms; /* when ens_system_start began (Unix ms): a member's start */
    uint64_t next_corr;
    ens_ctx outside;
    /* The thread that started or connected the system (gettid): the only
     * one whose calls on the outside context are let in
     * (ens__outside_check). */
    pid_t owner_tid;
    bool down;  /* shutdown started */
    int log_fd; /* where log lines go (2, or the opened log_path) */
    /* Where this process sends its log lines instead (actor processes: to
     * the admin), or NULL. */
    void (*log_sink)(ens_system *s, ens_log_level level, const char *line);
    /* The log file's path when log lines go to a file (owned, NULL
     * otherwise): rotation (ens__log_write) renames it and opens it again. */
    char *log_file;
    /* What this process is, for its own lines (no actor): "admin",
     * "journal", "zygote", "gateway"; NULL: the outside program. */
    const char *log_role;
    /* The actor this process hosts (an actor process), named by the
     * process's own lines (its failure events) too; NULL elsewhere. */
    const struct ens_actor *log_actor;
    bool log_syslog_open; /* openlog() done in this process */
    /* The failure journal: its resolved path (owned; NULL = no journal) and,
     * in the one process that writes it (the inproc program, the process
     * base's journal writer process), the open writer. */
    char *journal_path;
    const struct ens__journal_store *journal_store; /* set before ens__journal_setup */
    struct ens_jwriter *journal;
    bool journal_failing;     /* the last flush failed (logged once) */
    uint64_t journal_dropped; /* drops already logged */
    /* Allocation failures of this process that no caller could be given
     * ENS_ENOMEM for (ens__alloc_failed); each role (admin, actor process)
     * starts its own count from 0. */
    uint64_t alloc_failures;
    uint64_t *alloc_failures_mirror; /* counted here too (an actor's stage), or NULL */
    /* The strings of opts.convention, copied into one block (owned), or NULL. */
    char *convention_copy;
    /* Started here by ens_system_start (not connected): counted by the type
     * table, which refuses new types while such a system runs. */
    bool holds_msgtypes;
};

/* An allocation for `what` failed where nothing can return ENS_ENOMEM to
 * a caller: count it in s->alloc_failures (shown by status snapshots) and
 * log it the first time in this process. */
void ens__alloc_failed(ens_system *s, const char *what);

/* ---- core/runtime/status.c ---- */

/* A snapshot made of an ens.Status message m (decoded elsewhere, e.g.
 * received from another member): on success *out owns m. ENS_EBADTYPE
 * (m is not an ens.Status), ENS_ENOMEM (m stays the caller's). */
struct ens_status;
int ens__status_from_msg(ens_msg *m, struct ens_status **out);

/* ---- core/runtime/actor.c ---- */

/* True if a can be the target of a message: not the none address, and its
 * reserved field (spare) 0. Every frame header with a non-zero spare is
 * malformed (core/wire/frame.c), so such an address could only make a frame
 * that every receiver rejects: the API refuses it with ENS_EINVAL. */
static inline bool ens__addr_usable(ens_addr a)
{
    return !ens_addr_is_none(a) && a.spare == 0;
}

/* Allocate an actor of def d (state zeroed, incarnation 1, STARTING).
 * Takes arg_frame. NULL when out of memory (arg_frame freed). */
ens_actor *ens__actor_new(ens_system *s, const ens_actor_def *d, ens_addr addr, ens_addr parent,
                          uint8_t *arg_frame, size_t arg_len);

/* Free an actor's memory (no callbacks). NULL-safe. */
void ens__actor_free(ens_actor *a);

/* Run init. On failure reports INIT_FAILED (and host->init_done) and stops
 * the actor (which then is gone: a freed). Returns 0 (started:
 * host->init_done was told), ENS__INIT_DEFERRED (init deferred its
 * acknowledgement: a runs and host->init_done hears the outcome later, at
 * the latest call_timeout_ms from now) or the init error. */
int ens__actor_start(ens_actor *a);
#define ENS__INIT_DEFERRED 1

/* Deliver message m (owned by the caller) to a RUNNING actor, applying the
 * retry-then-poison rule (only to the messages ens__msg_retried accepts)
 * and exit requests; stops the actor when it asked to stop. Returns true
 * if the actor goes on handling messages; false when it ended (a is freed)
 * or is STOPPING (a lives on until its children are gone: its later
 * messages come here too and are dealt with by the stop). */
bool ens__actor_deliver(ens_actor *a, ens_msg *m);

/* Return m (borrowed) to its sender as a PoisonMessage after its handler
 * failed with err (or was killed by signal sig), and report POISON. */
void ens__actor_poison(ens_actor *a, const ens_msg *m, int err, int sig);

/* Stop a. With living children (and a not killed, its init run): exit
 * requests to them, the last started first, and a becomes STOPPING: it
 * handles nothing more (messages become dead letters, replies and other
 * wake-ups are dropped) until every child's child-exited notice is in, or
 * opts.child_exit_timeout_ms has passed and the children left were killed
 * (ens_kill, an EXIT row each) and their notices are in (or a second
 * timeout passed: a row says so). Then, or at once without children:
 * terminate (unless init failed or a was killed), child-exited to the
 * parent, dead-letter registration dropped, and the base forgets and frees
 * a. A killed STOPPING actor ends at once. */
void ens__actor_stop(ens_actor *a, int reason, int status);

/* True when a handler that returned an error on m gets m once more
 * (attempt 2): every message but the system notices of a fact the runtime
 * acted on already - exit request, child exited, started or restarted, fd
 * ready (actor.h, "Failure semantics"). */
bool ens__msg_retried(const ens_frame_hdr *h);

/* True for a reply the outside endpoint must not take as an answer: a
 * system message (type id in the system range) other than a PoisonMessage
 * sent as an error reply, the runtime's answer to a request that failed
 * twice. */
bool ens__reply_is_system(const ens_frame_hdr *h);

/* c (an actor's context) answered the request (to, corr): when that is
 * the request its handler is handling now, the handler owes nothing more
 * (ens_reply, ens_reply_to, ens_forward, ens_from_current call it). */
void ens__answered(const ens_ctx *c, ens_addr to, uint64_t corr);

/* An actor's code (a handler, init, terminate, a request's completion)
 * runs on this thread now: the outside context is refused here
 * (ens__outside_check). Enter and leave nest. */
void ens__callback_enter(void);
void ens__callback_leave(void);
bool ens__in_callback(void);

/* Remove child from a's list of living children (no-op if absent). */
void ens__actor_forget_child(ens_actor *a, ens_addr child);

/* Note child in a's list of living children (registry/: a named spawn).
 * ENS_ENOMEM. */
int ens__actor_add_child(ens_actor *a, ens_addr child);

/* Who may report which failure events (ens_event_report; the admin applies
 * the same rule to events that reach it on a control channel): NULL if
 * `reporter` may report ev, else why not. The kind must be one of enum
 * ens_event_kind. An outside program (outside) reports events about itself
 * only: ev->actor is its own address or none (then filled in). An actor
 * reports events about itself, about its children (ev->parent is its
 * address, as a supervisor reporting a restart) and dead letters
 * (ev->actor the address a message could not reach). */
const char *ens__event_refusal(ens_addr reporter, bool outside, const ens_event *ev);

/* Build and route a frame of (t, v) from ctx c: the common path of send,
 * reply and system notices. flags/corr/error as in the header. */
int ens__send_frame(ens_system *s, ens_addr from, ens_addr to, const ens_msgtype *t, const void *v,
                    uint16_t flags, uint64_t corr, int16_t error, bool bounded);

/* A dead letter: frame (owned, taken) could not be delivered to h->target.
 * Requests get an ENS_ENOACTOR error reply; then the frame goes to the
 * dead-letter handler `handler` as a DeadEnvelope if it is not none, else
 * it is reported as a DEAD_LETTER event. child-exited notices to a parent
 * that already ended are dropped (nobody could act on them). */
void ens__dead_letter(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h,
                      ens_addr handler, const char *reason);

/* The checks of ens_spawn_flags (ENS_EINVAL, ENS_ESHUTDOWN) and the start
 * argument encoded into *frame (malloc'ed, owned by the caller; NULL when
 * none): shared with the registry's named spawn. */
int ens__spawn_prepare(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                       uint32_t flags, ens_addr *out, uint8_t **frame, size_t *len);

/* Start a new incarnation of a child of the calling actor at the address
 * `at` its base keeps reserved for it (ENS__SPAWN_KEEP_ADDR), with def d,
 * start argument (argt, arg) and flags (public ones and
 * ENS__SPAWN_KEEP_ADDR). Errors: ENS_EINVAL (outside an actor, bad
 * arguments), ENS_ENOENT (no reservation of the caller at `at`), ENS_ENOTSUP
 * (a base without reservations) and those of ens_spawn_flags. */
int ens__spawn_at(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                  uint32_t flags, ens_addr at);

/* Release the reservation of the calling actor at `who` (host->release).
 * Errors: ENS_EINVAL (outside an actor), ENS_ENOENT, ENS_ENOTSUP. */
int ens__addr_release(ens_ctx *c, ens_addr who);

/* ens_spawn_many with `shown` as in ens__spawn_shown and the internal flag
 * ENS__SPAWN_KEEP_ADDR allowed (a supervisor's start of its children).
 * Returns and errors as ens_spawn_many. */
int ens__spawn_many_shown(ens_ctx *c, const ens_actor_def *d, const ens_actor_def *shown,
                          const ens_msgtype *argt, const void *arg, uint32_t flags, size_t n,
                          ens_addr *out, int *status);

/* ens__spawn_many_shown (shown NULL) of n new incarnations at the addresses
 * the calling actor reserved, at[0..n) (as n calls of ens__spawn_at, but
 * in one batch: a supervisor's concurrent restart). out[i] is at[i] when
 * status[i] is 0. Errors: ENS_EINVAL (outside an actor, an unusable
 * address), per actor ENS_ENOENT (no reservation at at[i]) and those of
 * ens_spawn_many. */
int ens__spawn_many_at(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                       uint32_t flags, size_t n, const ens_addr *at, ens_addr *out, int *status);

/* ens_spawn_flags of an actor that runs d and is shown everywhere (status
 * rows, journal rows, events) as the definition `shown`, for a wrapper
 * that runs another definition (the troupe's worker runs the user's). The
 * actor's own process learns it from ens__actor_show_as in d's init. shown
 * NULL: as ens_spawn_flags. Errors: those of ens_spawn_flags. */
int ens__spawn_shown(ens_ctx *c, const ens_actor_def *d, const ens_actor_def *shown,
                     const ens_msgtype *argt, const void *arg, uint32_t flags, ens_addr *out);

/* Have the calling actor named as `shown` in the events its own process
 * reports from now on (the base's records learned it at the spawn). For a
 * wrapper's init; a no-op outside an actor or with NULL. */
void ens__actor_show_as(ens_ctx *c, const ens_actor_def *shown);

/* The type name of a's status and journal rows. */
static inline const char *ens__actor_type(const ens_actor *a)
{
    return a->shown != NULL ? a->shown->name : a->def->name;
}

/* ---- core/runtime/actor_registry.c ---- */

/* An actor definition of the library outside core/ (the circuit breaker)
 * that ens_actor_find must know in every process without a registration
 * call: ENS__BUILTIN_ACTOR(def) puts a reference to it in the linker
 * section ens_builtin_actors, which ens_actor_find searches after the
 * registered definitions (so core calls nothing above it, and nothing runs
 * at load time). */
#define ENS__BUILTIN_ACTOR(def)                                                                    \
    __attribute__((                                                                                \
        used,                                                                                      \
        section("ens_builtin_actors"))) static const ens_actor_def *const def##_builtin_ref =      \
        &(def)

/* ---- core/runtime/request.c ---- */

/* Let the request machinery see m (borrowed) before the handler: a reply
 * completes its request (one nobody waits for is dropped), a request's
 * timer completes it with ENS_ETIMEDOUT, an ens.NodeDown (msgtype.h)
 * completes every request to an actor of that node with ENS_EUNREACHABLE
 * (reply NULL) and is consumed, and while an ens_call waits every
 * other message is held. Returns 1 (m consumed, the actor lives on), 0 (not
 * consumed: deliver it as usual) or -1 (consumed, and the actor stopped: a
 * is freed). */
int ens__request_intercept(ens_actor *a, ens_msg *m);

/* Deliver the messages held in memory while no call waits (a base with
 * host->hold calls it once the messages it keeps are delivered). 1: the
 * actor lives on; -1: it stopped (a is freed). */
int ens__request_release_held(ens_actor *a);

/* a is stopping: its held messages are sent to it again (to become dead
 * letters), pending requests are dropped with their timers. */
void ens__request_release(ens_actor *a);

/* ---- core/runtime/log.c ---- */

/* Now, UTC milliseconds since the Unix epoch. */
int64_t ens__now_ms(void);

/* Monotonic nanoseconds. */
uint64_t ens__mono_ns(void);

/* Report a failure event (fills at_ms and empty strings), to opts.on_event
 * and to the log. */
void ens__event(ens_system *s, ens_event *ev);

/* Fill the strings of ev an event source left NULL with "" (every
 * consumer of an ens_event may read them as text). */
void ens__event_fill(ens_event *ev);

/* Copy in[0..len) into out (cap bytes, always NUL-terminated when cap > 0)
 * as printable text on one line: newline, carriage return and tab become
 * \n, \r, \t; every other control character (below 0x20, 0x7F, and the C1
 * controls U+0080..U+009F) and every byte that is not part of well-formed
 * UTF-8 becomes \xNN, byte by byte; the rest is copied as is. Stops before
 * an escape or a character that would not fit whole. Returns the length
 * written (without the NUL). */
size_t ens__text_escape(char *out, size_t cap, const char *in, size_t len);

/* Fill the actor fields of ev from a (a may be NULL). */
void ens__event_actor(ens_event *ev, const ens_actor *a);

/* Write line (one log line, a NUL-terminated text; a final newline is
 * dropped) at level where this process's lines go: syslog (log_target), a
 * log file (rotated past log_max_bytes: see ens_system_opts), or fd 2. As
 * one line: every control character in it is escaped as ens__text_escape
 * does, and one newline ends it. */
void ens__log_write(ens_system *s, ens_log_level level, const char *line);

/* Log a line for the system (a may be NULL: the system itself). */
void ens__log(ens_system *s, const ens_actor *a, ens_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- core/runtime/journal_sink.c ---- */

/* What the runtime needs of a failure-journal store. persistence/ provides
 * the sqlite one (persistence/journal_writer.h) and core/system.c plugs it
 * in: the runtime reaches the store only through this table, so it stays
 * below persistence in the layers (docs/ARCHITECTURE.md, Layout). The
 * entries have the contracts of the ens__jwriter_* functions. */
typedef struct ens__journal_store {
    int (*default_path)(const char *system_name, char *buf, size_t len);
    int (*open)(const char *path, const char *system_name, struct ens_jwriter **out, char *why,
                size_t why_len);
    int (*append)(struct ens_jwriter *w, const ens_event *ev);
    int (*append_keyed)(struct ens_jwriter *w, const ens_event *ev, uint64_t run_id,
                        uint64_t run_seq);
    int (*flush)(struct ens_jwriter *w);
    uint32_t (*pending)(const struct ens_jwriter *w);
    uint64_t (*dropped)(const struct ens_jwriter *w);
    const char *(*last_error)(const struct ens_jwriter *w);
    void (*close)(struct ens_jwriter *w);
    void (*set_node)(struct ens_jwriter *w, uint32_t node); /* the system's, for every row */
    /* The system's retention options (0: the default, all bits: no limit). */
    void (*set_retention)(struct ens_jwriter *w, uint64_t max_rows, uint32_t max_age_days);
} ens__journal_store;

/* At system start (s->name and s->log_fd set): resolve the journal path of
 * options o into s->journal_path (opts.journal_path; NULL with a name: the
 * default path; NULL without one: none), then open the writer and keep it
 * (inproc) or open and close it again (process base: only the journal
 * writer process, forked by the admin, holds it). Returns 0 or the
 * writer's open error (logged with its reason); on error nothing is kept. */
int ens__journal_setup(ens_system *s, const ens_system_opts *o);

/* Batch ev for the journal, if this process writes it (no I/O unless the
 * batch is full). */
void ens__journal_append(ens_system *s, const ens_event *ev);

/* Commit what is batched. A failure is logged (once until writes work
 * again); the writer keeps the batch for the next try. */
void ens__journal_flush(ens_system *s);

/* Flush and close the writer (if open) and free the path. NULL-safe. */
void ens__journal_close(ens_system *s);

/* ---- core/runtime/outside.c ---- */

/* Give s (base not started yet) its outside endpoint. ENS_ENOMEM. */
int ens__outside_open(ens_system *s);

/* A frame for the outside endpoint (taken in every case): the answer to
 * the request the program waits for, or a message for ens_listen. */
void ens__outside_deliver(ens_system *s, uint8_t *frame, size_t len);

/* Start waiting for an answer at the outside endpoint: the correlation id
 * to send the request with. */
uint64_t ens__outside_expect(ens_system *s);

/* Wait up to timeout_ms for the answer expected, after the request was
 * sent with result rc (not 0: no wait, rc is returned). Returns as
 * ens_ask does: 0 with *reply the answer, an error reply's code with
 * *reply set, or an error with *reply NULL. */
int ens__outside_await(ens_system *s, int rc, uint32_t timeout_ms, ens_msg **reply);

/* 0 when the calling thread may use c: an actor's context, or the
 * outside context on the thread that started or connected its system
 * (s->owner_tid), outside every actor callback. ENS_EWRONGTHREAD, with
 * ens_errmsg saying which thread owns it and which called, for the outside
 * context used from another thread, inside an actor's callback (inproc:
 * the same thread), or in an actor process (the copy it inherited). NULL:
 * 0 (the caller's own argument check answers). Every public call that
 * takes the outside context checks this at its entry. */
int ens__outside_check(const ens_ctx *c);

/* Free what ens__outside_open gave s. NULL-safe. */
void ens__outside_free(ens_system *s);

/* ---- core/inproc/inproc.c ---- */
int ens__inproc_start(ens_system *s);

#endif

/*
 * ensemble/supervisor.h - OTP supervisors: trees of actors that restart
 * their children by rule.
 *
 * A supervisor is an ordinary actor definition (ENS_SUPERVISOR_DEF, or the
 * built-in one behind ens_supervisor_spawn), so supervisors nest to any
 * depth. It starts its children in spec order, one after another: each is
 * spawned with ENS_SPAWN_NOTIFY_START and the next is spawned only once its
 * init has run (OTP's synchronous start). A supervisor's own init defers its
 * acknowledgement (ens_init_defer) and acknowledges once every child has
 * started, so a child supervisor counts as started only once its whole
 * subtree is up, and starting a tree returns when every worker in it has
 * run its init (OTP's start_link). (ENS_SUP_START_CONCURRENT in the flags
 * starts a range of children side by side instead: ens_sup_start.) It
 * watches them (child exited and
 * child restarted notices from the runtime) and applies:
 *
 *  - restart types: permanent children are always restarted; transient ones
 *    only after an abnormal exit (anything but ENS_EXIT_NORMAL,
 *    ENS_EXIT_SHUTDOWN and ENS_EXIT_INTENSITY, which counts as OTP's
 *    `shutdown`); temporary ones never (their spec is dropped when they end).
 *  - strategies: one_for_one (the failed child alone), one_for_all (the
 *    others are stopped in reverse start order, then all are started again
 *    in start order, one after another), rest_for_one (the failed child and
 *    those started after it, the same way), simple_one_for_one (one spec,
 *    children added at run time with ens_supervisor_start_child (or many
 *    at once with ens_supervisor_start_children), each
 *    restarted alone).
 *  - restart intensity: more than `intensity` restarts within `period_ms`
 *    make the supervisor give up: it journals ENS_EV_ESCALATE, stops all its
 *    children in reverse start order and exits with ENS_EXIT_INTENSITY, so
 *    that its own supervisor decides (escalation). A restart whose init
 *    fails counts as one more failure and is tried again, as in OTP.
 *
 * Addresses. A restarted child keeps its address, however it ended and
 * whoever restarted it, so a restart is invisible to everyone who holds
 * the address (OTP gives a new pid and makes clients go through a name).
 * The runtime restarts a crashed one_for_one or simple_one_for_one child
 * in place (process base); the supervisor counts that restart toward its
 * intensity. When a child that is not temporary ends otherwise (an exit,
 * normal or with an error, an init failure, a kill, a crash of a
 * one_for_all / rest_for_one child, which are spawned with
 * ENS_SPAWN_NO_RESTART, or a sibling the strategy stops), its base keeps
 * the address reserved for the supervisor while it decides: messages sent
 * there meanwhile wait (inproc: in the system's queue; process base: in the
 * kernel, with the frames the child had read and not handled), and its
 * global name stays with it. The supervisor starts the next incarnation at
 * that address, which gets every waiting message, in order, none lost (a
 * message in hand at a crash is delivered once more, or returned as poison
 * on its second crash, as for a restart in place). which_children shows the
 * same address before, during (status restarting) and after a restart. An
 * address is freed - what waits there and everything sent later become dead
 * letters - when the child will not run again: a temporary child's end, a
 * transient child's orderly end, terminate_child (before its reply),
 * delete_child, and the supervisor's own end (giving up, a failed start,
 * its shutdown, a crash: no reservation outlives the supervisor
 * incarnation that made it). restart_child after terminate_child starts
 * the child at a new address. Only the supervisor that holds a
 * reservation can start an actor there. Every restart the supervisor makes
 * is journaled as ENS_EV_RESTART with a reason such as "supervisor
 * restarted child db (one_for_all)".
 *
 * Placed children (convention.h: a definition with requirements or a
 * capability_check) are the exception: an address names its node, so a
 * child that may run on another member cannot keep one across members. A
 * placed child is spawned without a kept address, so placement may put it
 * on any member that fits; a crash where it runs is still restarted in
 * place by that system's runtime (one_for_one, simple_one_for_one: same
 * address), but every start the supervisor makes itself places it again
 * at a new address (on this system if it fits, else on another member), and
 * messages sent to the old address meanwhile are dead letters. When the
 * member a child runs on is lost (unreachable, or left without the child's
 * own notice), the supervisor gets child exited with ENS_EXIT_NOCONNECTION
 * (msg.h), an abnormal exit: a permanent or transient child is restarted
 * by placement, on a member that fits and is reachable, so it comes back
 * at a new address on another node. A global name the child registers in
 * its init (ens_name_register in a convention) follows it once the lost
 * member's names are removed (convention.h); a placed spec with
 * ens_child_spec.name is started on this system only (a named spawn is
 * never placed elsewhere).
 *
 * Names. A spec with a global name (ens_child_spec.name) is started through
 * the registry's create-or-get (ens_name_spawn_flags), so the child is
 * registered under that name atomically with its spawn. The name stays
 * with the address through every restart (lookups during a restart find
 * it, and messages sent by name wait like the others); it is freed with the
 * address. If the name belongs to another live actor when the child starts
 * at a new address, that start fails with ENS_EEXIST (logged), as any start
 * failure.
 *
 * Stopping a child, by its spec's shutdown rule (OTP's): ENS_SHUTDOWN_TIMEOUT
 * sends an exit request and waits shutdown_ms for the child's exit notice,
 * then ends it with ens_kill (ENS_EXIT_KILLED: on the process base also in
 * the middle of a handler that never returns) and waits for that notice;
 * ENS_SHUTDOWN_BRUTAL ends it with ens_kill at once (no exit request, no
 * terminate callback); ENS_SHUTDOWN_INFINITY sends an exit request and waits
 * as long as it takes (for child supervisors, which stop their own children
 * first). Children are stopped one at a time, the last started first (all at
 * once under ENS_SUP_START_CONCURRENT, below).
 *
 * Stopping the supervisor. An exit request to a supervisor (from its parent
 * supervisor, or anyone) is deferred (ens_exit_defer): it stops its running
 * children one at a time, the last started first, each by its shutdown rule,
 * and then exits with ENS_EXIT_SHUTDOWN, so a tree stops from the leaves up.
 * Work in progress is cut short: a restart is not finished, a pending
 * start/restart/terminate_child request is answered ENS_ESHUTDOWN, and later
 * requests get ENS_ESHUTDOWN too. An ens_kill of the supervisor skips all
 * that (on the process base the runtime ends its children).
 *
 * A start failure. If a child's init fails while the supervisor starts (a
 * child supervisor's: because one of its own children failed), the
 * children started before it are stopped in reverse order, each by its
 * shutdown rule, the later ones are never spawned, and then the
 * supervisor's start fails as an init does (ens_init_ack with ENS_EINIT and
 * the reason "child ID (TYPE) failed to start: ..."): an outside
 * ens_supervisor_spawn or ens_spawn returns ENS_EINIT with that reason in
 * ens_errmsg(), a parent gets child exited with ENS_EXIT_INIT_FAILED and
 * status ENS_EINIT. The start is bounded by the system's call_timeout_ms:
 * a tree not up by then fails with ENS_ETIMEDOUT (ens_init_defer).
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_supervisor_spawn (which spec is wrong) and the operations; the _wait calls also for a child
 * that does not exist (ENS_ENOENT) or exists already (ENS_EEXIST), naming the child and the
 * supervisor.
 */
#ifndef ENSEMBLE_SUPERVISOR_H
#define ENSEMBLE_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "addr.h"
#include "api.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ens_sup_strategy {
    ENS_ONE_FOR_ONE = 0,
    ENS_ONE_FOR_ALL,
    ENS_REST_FOR_ONE,
    ENS_SIMPLE_ONE_FOR_ONE,
} ens_sup_strategy;

typedef enum ens_restart {
    ENS_PERMANENT = 0, /* always restarted */
    ENS_TRANSIENT,     /* restarted after an abnormal exit only */
    ENS_TEMPORARY,     /* never restarted; forgotten when it ends */
} ens_restart;

typedef enum ens_shutdown {
    ENS_SHUTDOWN_TIMEOUT = 0, /* exit request, wait up to shutdown_ms, then ens_kill */
    ENS_SHUTDOWN_BRUTAL,      /* ens_kill at once (OTP's brutal_kill) */
    ENS_SHUTDOWN_INFINITY,    /* exit request, wait as long as it takes */
} ens_shutdown;

/* How a supervisor starts a range of children: every child at its own
 * start, and the group of a one_for_all / rest_for_one restart.
 *  - ENS_SUP_START_ORDERED (the default, OTP's): one after another, each
 *    spawned only once the one before has run its init. An init may rely on
 *    its earlier siblings running (call them by name or address, or find
 *    them registered), and a failed start leaves the later children
 *    unstarted. Its cost grows with one spawn-to-init round trip per child.
 *  - ENS_SUP_START_CONCURRENT: every child of the range is spawned at once
 *    (runs of children of one definition with the same restart type and
 *    start argument and no name, through the batch spawn, ens_spawn_many's
 *    path, also at the addresses a restart keeps) and their inits run side
 *    by side; the range is done when every one has run its init or failed.
 *    Stops go side by side too: the group of a restart, the children of a
 *    supervisor that is asked to exit (or gives up, or fails its start),
 *    are all sent their exit request (ens_kill for brutal_kill) at once
 *    (up to 256 awaited at a time, the next asked as those end),
 *    each killed when its own shutdown_ms run out (never, for
 *    ENS_SHUTDOWN_INFINITY: a supervisor child takes as long as its
 *    subtree), and the supervisor goes on once every end is known. So the
 *    order of the stops is not kept: a child may still be running, or see
 *    its siblings go, while one started after it (which may depend on it)
 *    is still stopping. Choose ORDERED where a child's terminate needs the
 *    children started before it (a writer flushing into a store started
 *    earlier, a connection closed before its pool). For children that do
 *    not depend on each other's start or stop (pools, independent
 *    workers). A failure is handled by OTP's rules for a failed start as
 *    the ordered start handles it, only the set of children that ran
 *    differs: at the supervisor's own start, the children that started
 *    (before or after the failed one) are stopped (all at once, as above),
 *    and the start fails with ENS_EINIT naming the first child that
 *    failed; in a restart, the children that started stay running and the
 *    first that failed is tried again from the mailbox, counting toward
 *    the intensity. A child's spawn that fails at once (no process, no
 *    descriptor) ends the spawning of the rest of the range, as in the
 *    ordered start. */
typedef enum ens_sup_start {
    ENS_SUP_START_ORDERED = 0,
    ENS_SUP_START_CONCURRENT,
} ens_sup_start;

/* Supervisor flags: at most `intensity` restarts within `period_ms`
 * (OTP's MaxR and MaxT, the period in milliseconds). intensity 0: the
 * first restart needed makes the supervisor give up. */
typedef struct ens_sup_flags {
    ens_sup_strategy strategy;
    uint32_t intensity;
    uint32_t period_ms;  /* > 0 */
    ens_sup_start start; /* how a range of children is started (below) */
} ens_sup_flags;

#define ENS_SUP_FLAGS_INIT                                                                         \
    {                                                                                              \
        ENS_ONE_FOR_ONE, 1, 5000, ENS_SUP_START_ORDERED                                            \
    }

/* Largest number of static children specs one supervisor holds (the
 * specs of ens_supervisor_spawn, of a configure callback, and those added by
 * start_child under a static strategy). A configure callback
 * (ENS_SUPERVISOR_DEF) runs in the supervisor, so its specs are never
 * sent: it is the way to thousands of static children. The specs of
 * ens_supervisor_spawn travel as the supervisor's start argument, one
 * "ens.sup.Config" frame of about 50-80 bytes a spec (short ids, no
 * argument, no name): on the process base a start argument is at most
 * ENS_SPAWN_ARG_MAX (63 KiB: ~1 000 such specs; measured, 1 000 specs with
 * 2-4 byte ids fit, 5 000 do not), on the in-process base at most
 * max_frame_bytes (16 MiB by default). Above that ens_supervisor_spawn
 * returns ENS_EMSGSIZE and ens_errmsg gives the size and the way out. The
 * dynamic children of simple_one_for_one have no count limit: each costs
 * the supervisor a few hundred bytes (BENCHMARKS.md) and the system one
 * process, so the machine's process and descriptor limits bound them. */
#define ENS_SUP_MAX_SPECS 65536

/* A child spec. Every pointer is borrowed for the call it is given to: the
 * supervisor copies the id and encodes the start argument at once. */
typedef struct ens_child_spec {
    const char *id;              /* unique within the supervisor: 1-63 bytes */
    const ens_actor_def *def;    /* travels by name if registered
                                    (ens_actor_register), else by pointer: then
                                    only the program that started the system
                                    may use it */
    const ens_msgtype *arg_type; /* start argument, or NULL for none */
    const void *arg;
    ens_restart restart;
    ens_shutdown shutdown;
    uint32_t shutdown_ms; /* for ENS_SHUTDOWN_TIMEOUT: the wait before the kill */
    bool is_supervisor;   /* OTP's child type (worker / supervisor) */
    const char *name;     /* optional global name (ensemble/registry.h), or
                             NULL: the child is spawned through create-or-get
                             under this name at every start and restart, so
                             the name follows it to each new address. Not
                             with simple_one_for_one. */
} ens_child_spec;

#define ENS_CHILD_SPEC_INIT                                                                        \
    {                                                                                              \
        NULL, NULL, NULL, NULL, ENS_PERMANENT, ENS_SHUTDOWN_TIMEOUT, 5000, false, NULL             \
    }

/* A supervisor's configuration callback (OTP's Module:init/1). It runs in
 * the supervisor's init with its start argument (borrowed, may be NULL) and
 * fills *flags (preset to ENS_SUP_FLAGS_INIT) and specs[0..*n_specs) (at
 * most max_specs, each preset to ENS_CHILD_SPEC_INIT). max_specs is 256 at
 * first; a callback that needs more room sets *n_specs to the number it
 * needs (up to ENS_SUP_MAX_SPECS), fills nothing and returns 0: it is then
 * called once more with that much room (so it must not count on being
 * called once). The specs' strings
 * and arguments are copied when it returns, so they need only live until
 * then: static data, or values inside arg (a local's address stored through
 * specs trips GCC's -Wdangling-pointer). For simple_one_for_one,
 * exactly one spec: the template of the children added later (its arg is
 * used when start_child gives none). Return 0, or < 0 to fail the start. */
typedef int (*ens_sup_configure_cb)(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                                    ens_child_spec *specs, size_t max_specs, size_t *n_specs);

/* The supervisor's actor callbacks, named by ENS_SUPERVISOR_DEF (not called
 * directly). ens_supervisor_on_init finds the configure callback through
 * the definition's impl (an ens_sup_impl); a definition without impl
 * (ens_supervisor_def) takes its configuration from the start argument. */
typedef struct ens_sup_impl {
    ens_sup_configure_cb configure;
} ens_sup_impl;
ENS_API int ens_supervisor_on_init(ens_ctx *c, void *state, const ens_msg *arg);
ENS_API int ens_supervisor_on_receive(ens_ctx *c, void *state, const ens_msg *m);
ENS_API void ens_supervisor_on_terminate(ens_ctx *c, void *state, int reason);

/* Define `var`, a static const ens_actor_def of a supervisor named
 * type_name whose flags and children come from configure_fn (declared
 * before). Use it at file scope (it also defines var_sup_impl, the
 * ens_sup_impl the definition points to):
 *   ENS_SUPERVISOR_DEF(shop_sup, "shop.Sup", shop_configure);
 * Spawn it like any actor, or name &var in a parent's child spec (with
 * is_supervisor true and ENS_SHUTDOWN_INFINITY). */
#define ENS_SUPERVISOR_DEF(var, type_name, configure_fn)                                           \
    static const ens_sup_impl var##_sup_impl = {(configure_fn)};                                   \
    static const ens_actor_def var = {(type_name),                                                 \
                                      sizeof(void *),                                              \
                                      ens_supervisor_on_init,                                      \
                                      ens_supervisor_on_receive,                                   \
                                      ens_supervisor_on_terminate,                                 \
                                      NULL,                                                        \
                                      &var##_sup_impl,                                             \
                                      NULL,                                                        \
                                      NULL}

/* The definition ens_supervisor_spawn uses ("ens.Supervisor"); its start
 * argument is an internal configuration made by ens_supervisor_spawn: use
 * that (or ENS_SUPERVISOR_DEF) to start one. */
ENS_API extern const ens_actor_def ens_supervisor_def;

/* True when a child-exited notice (reason, status) means "stopped in
 * order" for the transient rule: ENS_EXIT_NORMAL, ENS_EXIT_SHUTDOWN, or
 * ENS_EXIT_INTENSITY (a supervisor that gave up, OTP's `shutdown`). status
 * is not looked at. */
ENS_API bool ens_sup_is_shutdown_exit(int reason, int status);

/* ---- Starting a tree ------------------------------------------------- */

/* Spawn a supervisor (ens_supervisor_def) with flags f and children
 * specs[0..n) (copied and encoded before return; all borrowed). From
 * inside an actor the supervisor is its child and starts its children
 * after this returns (operations and queries sent meanwhile are answered
 * once all have started; a failure reaches the caller as child exited with
 * ENS_EXIT_INIT_FAILED). From outside it is top level and this returns once
 * every child, and every nested subtree, has run its init, in order; if
 * one failed, the ones started before it have been stopped, the last
 * started first, and this returns ENS_EINIT with ens_errmsg() naming the
 * child (see "A start failure" above). Errors: ENS_EINVAL (NULL arguments,
 * n 0 or above ENS_SUP_MAX_SPECS, a spec without id or def, an invalid
 * name, duplicate ids or names, bad flags, simple_one_for_one with n != 1
 * or a name), ENS_EBADTYPE (an argument type not registered), ENS_EMSGSIZE
 * (the specs encode to more than a start argument carries: see
 * ENS_SUP_MAX_SPECS; ens_errmsg says so), ENS_ENOMEM, ENS_EINIT (outside: a child's init failed, or
 * one could not be spawned; ens_errmsg says which and why), ENS_ETIMEDOUT (outside: the tree was
 * not up within the system's call_timeout_ms; it is stopped), and those of ens_spawn. *out is
 * written on success only. */
ENS_API int ens_supervisor_spawn(ens_ctx *c, const ens_sup_flags *f, const ens_child_spec *specs,
                                 size_t n, ens_addr *out);

/* ---- Operations ------------------------------------------------------ */
/*
 * Each operation is a request to the supervisor `sup`, in two calls that
 * differ by the context they may be called from:
 *  - ens_supervisor_<op>: asynchronous, only from inside an actor (c is the
 *    actor's context). It returns 0 once the request is sent; cb (required)
 *    then runs exactly once, later, in the calling actor with the status and
 *    the reply (an ens_msg_sup_result, ens_msg_sup_children or
 *    ens_msg_sup_counts value; for an error the error reply), or with
 *    ENS_ETIMEDOUT after ENS_SUP_CALL_TIMEOUT_MS. If it returns an error,
 *    cb is never called. From the outside context (or with cb NULL) it
 *    returns ENS_EINVAL and sends nothing.
 *  - ens_supervisor_<op>_wait: blocking, only from the outside context (the
 *    system's, ens_system_ctx). It waits up to ENS_SUP_CALL_TIMEOUT_MS for
 *    the reply, returns the operation's status and fills its out-parameter
 *    (may be NULL) on success. From inside an actor, where blocking would
 *    stop the actor's other messages, it returns ENS_EINVAL and sends
 *    nothing (use the asynchronous call there).
 * The supervisor handles operations one at a time, after any restart or
 * stop in progress (as OTP's does). Operation errors: ENS_ENOENT (no child
 * with that id / address), ENS_EEXIST (start: the id exists; restart,
 * delete: the child is running), ENS_EINIT (start, restart: the child's
 * init failed), ENS_EINVAL (bad arguments, the wrong context as above, or
 * an operation the strategy does not have: restart/delete under
 * simple_one_for_one), ENS_ENOBUFS (start under a static strategy:
 * ENS_SUP_MAX_SPECS children already), ENS_ESHUTDOWN (the supervisor is stopping), ENS_EBADTYPE,
 * ENS_ENOMEM, and ENS_ETIMEDOUT / ENS_ENOACTOR from the request itself.
 */

#define ENS_SUP_CALL_TIMEOUT_MS 60000u

/* Add and start a child. Static strategies: spec is the new child's spec.
 * simple_one_for_one: spec is NULL and (argt, arg) the new child's start
 * argument (both NULL: the template's). All borrowed: encoded before
 * return. The reply comes once the child's init has run and carries its
 * address (an ens_sup_result_v; *out for the blocking call); if its init
 * fails the child is dropped and the reply is ENS_EINIT (OTP's
 * {error, Reason}). */
ENS_API int ens_supervisor_start_child(ens_ctx *c, ens_addr sup, const ens_child_spec *spec,
                                       const ens_msgtype *argt, const void *arg, ens_reply_cb cb,
                                       uint64_t tag);
ENS_API int ens_supervisor_start_child_wait(ens_ctx *outside, ens_addr sup,
                                            const ens_child_spec *spec, const ens_msgtype *argt,
                                            const void *arg, ens_addr *out);

/* simple_one_for_one: add and start n children of the template at once,
 * each with the start argument (argt, arg) (both NULL: the template's),
 * through the batch spawn (as ENS_SUP_START_CONCURRENT starts a range: their
 * inits run side by side). Each child succeeds or fails on its own, as with
 * ens_spawn_many: one whose spawn or init fails is dropped, the others run.
 * The reply comes once every init has run or failed: an ens_sup_started_v
 * with one row per child in order (its address, or none, and 0 or its
 * error: ENS_EINIT, ENS_EAGAIN, ENS_ENOMEM, ...). The blocking call fills
 * out[0..n) and status[0..n) (status may be NULL) and returns the number
 * started (0..n). Errors, with nothing started: ENS_EINVAL (n 0 or above
 * ENS_SPAWN_MANY_MAX, argt/arg mismatch, a static strategy, the wrong
 * context, out NULL), ENS_EBADTYPE, ENS_EMSGSIZE, ENS_ENOMEM,
 * ENS_ESHUTDOWN, ENS_ETIMEDOUT / ENS_ENOACTOR from the request. */
ENS_API int ens_supervisor_start_children(ens_ctx *c, ens_addr sup, const ens_msgtype *argt,
                                          const void *arg, size_t n, ens_reply_cb cb, uint64_t tag);
ENS_API int ens_supervisor_start_children_wait(ens_ctx *outside, ens_addr sup,
                                               const ens_msgtype *argt, const void *arg, size_t n,
                                               ens_addr *out, int *status);

/* Stop a child with its shutdown rule (exit request and shutdown_ms, then
 * ens_kill; ens_kill at once; or an unbounded wait), without restarting it.
 * Static strategies: by id (child ignored); its spec is kept (status
 * stopped) unless it is temporary. simple_one_for_one: by address (id NULL),
 * and the child is forgotten. The reply comes once the child has ended and
 * carries the address it had and how it ended (ens_sup_result_v.reason:
 * ENS_EXIT_SHUTDOWN, ENS_EXIT_KILLED, or its own reason if it ended first;
 * -1 if it was not running). */
ENS_API int ens_supervisor_terminate_child(ens_ctx *c, ens_addr sup, const char *id, ens_addr child,
                                           ens_reply_cb cb, uint64_t tag);
ENS_API int ens_supervisor_terminate_child_wait(ens_ctx *outside, ens_addr sup, const char *id,
                                                ens_addr child);

/* Start again a stopped child of a static strategy by id; the reply comes
 * once its init has run and carries its new address (stopped, it had given
 * its address up; *out for the blocking call). ENS_EEXIST if it runs; ENS_EINIT if its init failed
 * (it stays stopped). */
ENS_API int ens_supervisor_restart_child(ens_ctx *c, ens_addr sup, const char *id, ens_reply_cb cb,
                                         uint64_t tag);
ENS_API int ens_supervisor_restart_child_wait(ens_ctx *outside, ens_addr sup, const char *id,
                                              ens_addr *out);

/* Forget the spec of a stopped child of a static strategy. ENS_EEXIST if it
 * runs. */
ENS_API int ens_supervisor_delete_child(ens_ctx *c, ens_addr sup, const char *id, ens_reply_cb cb,
                                        uint64_t tag);
ENS_API int ens_supervisor_delete_child_wait(ens_ctx *outside, ens_addr sup, const char *id);

/* List the children in start order: id, address (while restarting: the one
 * kept for it; none when stopped),
 * definition name, status, worker or supervisor: an ens_sup_children_v
 * (read it with ens_msg_value(reply, &ens_msg_sup_children)). For the
 * blocking call *out is the reply, owned by the caller (ens_msg_free). */
ENS_API int ens_supervisor_which_children(ens_ctx *c, ens_addr sup, ens_reply_cb cb, uint64_t tag);
ENS_API int ens_supervisor_which_children_wait(ens_ctx *outside, ens_addr sup, ens_msg **out);

/* Rows one page may carry (the codec's array limit). The whole list in one
 * reply (the two calls above) is refused with ENS_EMSGSIZE above it. */
#define ENS_SUP_PAGE_MAX 65536u

/* which_children by pages, for supervisors of thousands: the rows
 * [offset, offset + limit) of the children in start order (limit 1 to
 * ENS_SUP_PAGE_MAX; fewer at the end, none when offset >= total). The
 * reply's total is the number of children when the page was made and its
 * offset the position of its first row: read pages with offset 0, then
 * offset + rows, until offset + rows >= total. Each page is answered on its
 * own, between the supervisor's other work: children that start or end
 * between two pages shift the later positions (a child may be seen twice
 * or missed), as a list taken in one piece could not show either. A page
 * costs the supervisor O(limit), wherever it starts. Errors: those of
 * which_children, and ENS_EINVAL for a limit of 0 or above
 * ENS_SUP_PAGE_MAX. */
ENS_API int ens_supervisor_which_children_page(ens_ctx *c, ens_addr sup, uint32_t offset,
                                               uint32_t limit, ens_reply_cb cb, uint64_t tag);
ENS_API int ens_supervisor_which_children_page_wait(ens_ctx *outside, ens_addr sup, uint32_t offset,
                                                    uint32_t limit, ens_msg **out);

/* Counts of the children (OTP's count_children). */
typedef struct ens_sup_counts_v {
    uint32_t specs;       /* children known (specs, or dynamic children) */
    uint32_t active;      /* of them, running */
    uint32_t supervisors; /* of them, of type supervisor */
    uint32_t workers;     /* of them, of type worker */
} ens_sup_counts_v;

/* Count the children: an ens_sup_counts_v; the blocking call copies it to
 * *out. */
ENS_API int ens_supervisor_count_children(ens_ctx *c, ens_addr sup, ens_reply_cb cb, uint64_t tag);
ENS_API int ens_supervisor_count_children_wait(ens_ctx *outside, ens_addr sup,
                                               ens_sup_counts_v *out);

/* ---- Replies of the operations ---------------------------------------- */

/* "ens.sup.Result": reply of start/terminate/restart/delete (error replies
 * carry the code, and the address when one is known). */
typedef struct ens_sup_result_v {
    ens_addr child;
    int32_t reason; /* terminate: how the child ended (enum ens_exit_reason),
                       -1 if it was not running; otherwise 0 */
    int32_t spare;  /* 0 */
} ens_sup_result_v;

typedef enum ens_sup_child_status {
    ENS_SUP_CHILD_RUNNING = 0,
    ENS_SUP_CHILD_STOPPED,    /* OTP's undefined: spec kept, not running */
    ENS_SUP_CHILD_RESTARTING, /* being stopped or started again by a restart */
} ens_sup_child_status;

/* One row of "ens.sup.Children" (the reply of which_children). */
typedef struct ens_sup_child_info {
    char *id;
    ens_addr child; /* kept while restarting; none when stopped */
    char *type;     /* the definition's name */
    int32_t status; /* enum ens_sup_child_status */
    int32_t is_supervisor;
    uint32_t restarts; /* restarts of this child counted by the supervisor */
    char *name;        /* its global name (ens_child_spec.name), "" if none */
} ens_sup_child_info;

typedef struct ens_sup_children_v {
    int32_t strategy;
    uint32_t total;     /* children known when the reply was made */
    uint32_t offset;    /* position of the first row (0 for the whole list) */
    ens_array children; /* ens_sup_child_info items, in start order */
} ens_sup_children_v;

/* One row of "ens.sup.Started" (the reply of start_children). */
typedef struct ens_sup_started_row {
    ens_addr child; /* none when it did not start */
    int32_t status; /* 0, or why it did not start */
    int32_t spare;  /* 0 */
} ens_sup_started_row;

typedef struct ens_sup_started_v {
    uint32_t started;   /* rows with status 0 */
    uint32_t spare;     /* 0 */
    ens_array children; /* ens_sup_started_row items, one per child asked for */
} ens_sup_started_v;

/* The reply types (built-in types, see ensemble/msg.h): what an operation's
 * callback reads with ens_msg_value. The requests themselves travel in
 * internal types: use the functions above. */
ENS_API extern const ens_msgtype ens_msg_sup_result;   /* "ens.sup.Result" */
ENS_API extern const ens_msgtype ens_msg_sup_children; /* "ens.sup.Children" */
ENS_API extern const ens_msgtype ens_msg_sup_counts;   /* "ens.sup.Counts" */
ENS_API extern const ens_msgtype ens_msg_sup_started;  /* "ens.sup.Started" */

/* "one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one";
 * "unknown" otherwise. Static strings. */
ENS_API const char *ens_sup_strategy_name(ens_sup_strategy s);

#ifdef __cplusplus
}
#endif
#endif

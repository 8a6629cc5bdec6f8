/*
 * ensemble/convention.h - the members of a convention (system.h,
 * ens_convention_opts) and the updates an actor can subscribe to.
 *
 * Each system of a convention is a member while it runs. Its gateway keeps
 * a record (who it is, its capabilities, its actor count) under its node
 * id in the JetStream key-value bucket "ens-<convention>-members": put when
 * it starts, when its capabilities or actor count change, and every half
 * down_after_ms; deleted when the system stops in order. Liveness is not
 * the bucket's: each gateway publishes a heartbeat on the core NATS subject
 * ens.<convention>.hb.<node> when it put nothing in the bucket for
 * heartbeat_ms (ens_convention_opts, 500 ms by default), and every gateway
 * listens to all of them. Anything received from a member counts as life:
 * its heartbeat, its record, a frame or batch it sent here (the sender's
 * node is in each frame). What members see:
 *  - a member's first record (or life after it was unreachable) is
 *    "joined"; a record with other capabilities is "joined" again, with the
 *    new ones;
 *  - a deleted record, or its "leaving" heartbeat (published by a system
 *    that stops in order, before its record goes), is "left": seen within
 *    NATS's latency (well under 100 ms on a LAN);
 *  - a member from which nothing was received for the observer's
 *    down_after_ms (2000 ms by default) is "unreachable" (its host, its
 *    link or the whole system died without a word): seen within
 *    down_after_ms plus at most 50 ms of the observer's checking. Silence
 *    is measured by the observer's monotonic clock when things arrive, and
 *    only while the observer hears its own heartbeats come back: a
 *    gateway whose NATS connection is down, or whose host is too busy to
 *    read, holds its judgement, for another down_after_ms at most (a
 *    gateway that reconnects to another server of the cluster within that
 *    time is marked down by nobody). It is "joined" again if anything of
 *    it comes back.
 * Every change is a log line at info and a ConventionUpdate below. When a
 * member becomes unreachable (not when it leaves: its own system deletes
 * its names then), the survivors remove the global names it held
 * (registry.h) with a compare-and-delete at the revision it wrote: one of
 * them succeeds, the others are refused harmlessly, and a name claimed
 * anew meanwhile is never removed.
 * Records that nobody puts again go from the bucket after
 * ENS_CONVENTION_RECORD_TTL_S (the bucket's maximum age); one found at
 * start older than the observer's down_after_ms is "unreachable" at once.
 *
 * Capabilities are text key/values, one "key=value\n" line each in a
 * member's `capabilities`; every member has the built-ins ens.version (the
 * ensemble version, "0.1.0") and ens.host (its host name).
 *
 * Placement. An actor definition with requirements or a capability_check
 * (actor.h) is placed by capabilities when it is spawned (ens_spawn,
 * ens_spawn_flags); one with neither runs on the system that spawns it, as
 * without a convention. The spawning system's admin tries, in this order:
 *  1. its own system, with its own capabilities (the built-ins and
 *     ens_convention_opts.capabilities);
 *  2. the members it knows as joined (what its gateway reported: the
 *     capabilities in their records), the one with the fewest actors first
 *     (ens_convention_update_v.actors: each member's record carries its
 *     actor count, at most one of its heartbeats old; it is not a
 *     capability), ties by the lower node id.
 * A member is asked only when its capabilities, as its record says, meet
 * the requirements and the check accepts them. The spawn travels by the
 * registered type name with the start argument (encoded), the parent
 * (inside an actor: the caller, on the spawning system; from outside:
 * none), the public flags and, from outside, "answer once init ran". The
 * member's admin checks again before it starts anything: the type must be
 * registered there (ens_actor_register) with requirements or a check, and
 * its own capabilities of now must meet them; else it refuses. The first
 * member that starts the actor answers with its address (of that member's
 * node). Each member that does not fit or refuses adds a reason, "<system
 * name>: <why>": "b: gpu missing", "b: zone is us, not eu", "b: the
 * capability check refused", "c: type demo.Trainer not registered", "c: the
 * system did not answer in time", "a: ..." for the spawning system itself.
 * When none takes it:
 *  - from outside, ens_spawn returns ENS_ENOPLACE and ens_errmsg() is "no
 *    system can run <type>: " and the reasons, separated by "; ";
 *  - inside an actor, ens_spawn returns 0 and an address at once, as for
 *    any child; no actor ever lives there (messages to it are dead
 *    letters) and the parent receives child exited with ENS_EXIT_NOPLACE
 *    (status ENS_ENOPLACE);
 *  - either way the journal gets one row of kind no_place (ENS_EV_NOPLACE)
 *    whose reason is that text.
 * An init that fails on the member that took the actor is the actor's
 * failure, not the member's: from outside ENS_EINIT, as locally. The
 * members are tried one after the other, so from outside a placement that
 * meets silent members can take longer than call_timeout_ms (each member
 * asked gets that long).
 * Only spawns are placed: ens_name_spawn of such a definition runs on the
 * spawning system if its capabilities fit, else ENS_ENOPLACE. A
 * supervisor's placed children are placed like any spawn, and get a new
 * address each time the supervisor starts them (supervisor.h, "Placed
 * children"). A system
 * without a convention, and the inproc base, apply the same rule with their
 * built-ins only (ens.version, ens.host): the definition runs there if they
 * meet it, else ENS_ENOPLACE (or child exited ENS_EXIT_NOPLACE) with one
 * no_place row.
 * A child started on another system has its parent there: ens_parent()
 * names it, child exited / child restarted / child started reach it through
 * the gateways, and the parent's end asks it to exit and waits for its
 * child exited as for a local child. On its own system it is top level: that
 * system's end stops it as one of its own. A parent that crashes (restarted
 * in place, or ended for good) or is killed has its children on other
 * systems asked to exit by its admin, as its local ones are; their notices
 * reach the parent's address (the next incarnation, or a dead letter).
 *
 * Loss of a member. When a member becomes unreachable, or leaves (a clean
 * leave: its system stopped its actors in order, and their notices come
 * first), every other member's admin, on learning it:
 *  - sends each local parent of a child there (spawned by placement) whose
 *    own child exited has not come one child exited with reason
 *    ENS_EXIT_NOCONNECTION, status ENS_EUNREACHABLE, incarnation 0 (msg.h):
 *    not an actor exit, the child may still run there; a notice from the
 *    child itself coming later (its member back) is dropped. Journaled as
 *    an exit row about the child. A supervisor restarts such a child (it is
 *    an abnormal exit) by placement, so it comes back on a member that fits
 *    and is reachable, at a new address;
 *  - completes at once with ENS_EUNREACHABLE every request and call of a
 *    local actor (ens_request, ens_call: reply NULL) and the ask of an
 *    outside program (ens_ask) waiting for an actor of that member, instead
 *    of at their timeout; a reply that comes later is dropped;
 *  - routes nothing there: new sends are dead letters "node gone" until
 *    the member is seen joined again.
 * The member, if it is alive (a partition), knows nothing of this: its
 * actors, a lost child included, keep running.
 * The spawn requests on NATS (subject ens.<convention>.spawn.<node>) come
 * from whoever may publish on the server: the receiving gateway checks
 * every field and bound (core/process/gateway/gateway_spawn.h) and answers
 * a refusal, with a BADFRAME row, to anything else.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_convention_subscribe, ens_capability_set and ens_capability_get (the key that is missing).
 */
#ifndef ENSEMBLE_CONVENTION_H
#define ENSEMBLE_CONVENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "api.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default heartbeat of a member, and the bounds ens_system_start takes
 * for ens_convention_opts.heartbeat_ms. */
#define ENS_CONVENTION_HEARTBEAT_MS     500u
#define ENS_CONVENTION_HEARTBEAT_MIN_MS 50u
#define ENS_CONVENTION_HEARTBEAT_MAX_MS 60000u
/* The default silence after which a member is unreachable (or 4 heartbeats
 * of the observer's, when that is longer), and the bounds ens_system_start
 * takes for ens_convention_opts.down_after_ms. */
#define ENS_CONVENTION_DOWN_AFTER_MS     2000u
#define ENS_CONVENTION_DOWN_AFTER_MIN_MS 200u
#define ENS_CONVENTION_DOWN_AFTER_MAX_MS 600000u
/* The members bucket's maximum age of a record (set by the member that
 * creates the bucket). */
#define ENS_CONVENTION_RECORD_TTL_S 600u

enum ens_member_change {
    ENS_MEMBER_JOINED = 1,      /* it runs (first seen, back, or new capabilities) */
    ENS_MEMBER_LEFT = 2,        /* it stopped in order */
    ENS_MEMBER_UNREACHABLE = 3, /* nothing of it received for the observer's down_after_ms */
};

/* ConventionUpdate: another member of the convention joined, left or became
 * unreachable. Sent to each actor that subscribed (ens_convention_subscribe)
 * on the subscriber's system; the member's own system is never reported. */
typedef struct ens_convention_update_v {
    uint32_t node;      /* the member's node (ens_addr.node of its actors) */
    int32_t change;     /* enum ens_member_change */
    uint32_t admin_pid; /* its admin process, on its host */
    uint32_t actors;    /* its actor count, as its record last said (at most one of its
                           heartbeats old; not a capability): placement's order */
    int64_t started_ms; /* when it started (Unix time, ms) */
    char *system;       /* its system name */
    char *host;         /* its host name */
    char *capabilities; /* "key=value\n" lines */
} ens_convention_update_v;

ENS_API extern const ens_msgtype ens_msg_convention_update; /* "ens.ConventionUpdate" */

/* Subscribe (on) the calling actor to the updates of its system's
 * convention, or end its subscription (!on). A new subscriber first gets
 * one "joined" per member live now (other than its own system), then every
 * change, in the order its gateway saw them. The subscription lasts until
 * !on or the actor's end (a restart in place keeps it); subscribing again
 * is still one subscription, and sends the live members again (an actor
 * restarted in place that subscribes in its init learns them anew). Errors: ENS_EINVAL (NULL c, or
 * c is not an actor's context), ENS_ENOTSUP (the system has no convention, or the base has none:
 * inproc), ENS_ENOMEM (the admin could not keep the subscription), ENS_ETIMEDOUT (the admin did not
 * answer within call_timeout_ms), ENS_ESHUTDOWN (the system is ending). */
ENS_API int ens_convention_subscribe(ens_ctx *c, bool on);

/* Limits of a system's capabilities: at most ENS_CAPABILITY_MAX_KEYS keys
 * (the built-ins included), each 1-64 bytes of [A-Za-z0-9._-], each value
 * at most 1 KiB without control characters, and the system's own
 * "key=value\n" lines at most ENS_CAPABILITY_TOTAL_MAX bytes in all (a
 * member's record reaches every admin of the convention in one control
 * frame). */
#define ENS_CAPABILITY_MAX_KEYS  256u
#define ENS_CAPABILITY_KEY_MAX   64u
#define ENS_CAPABILITY_VALUE_MAX 1024u
#define ENS_CAPABILITY_TOTAL_MAX 49152u

/* Set (value non-NULL) or remove (value NULL) capability `key` of the
 * caller's system at run time, from the outside context (ens_system_ctx;
 * a program connected with ens_system_connect too) or an actor's. The
 * system's record in the members bucket is put again at once, so the other
 * members see "joined" with the new capabilities; actors of this system
 * whose definition no longer fits the new capabilities (their
 * requirements or capability check, actor.h) get an exit request, as from
 * their parent (Thespian's capability update; their parent is told
 * child-exited with ENS_EXIT_SHUTDOWN). Returns once the system took the
 * change. Removing a key the system does not have is 0. key and value are
 * borrowed. Errors: ENS_EINVAL (NULL c or key, a key or value outside the
 * limits above, a built-in key "ens.*"), ENS_ETOOMANY
 * (ENS_CAPABILITY_MAX_KEYS keys already, or ENS_CAPABILITY_TOTAL_MAX bytes
 * in all after the change), ENS_ENOTSUP (the system has no convention, or
 * the base has none: inproc), ENS_ETIMEDOUT (no answer within
 * call_timeout_ms), ENS_ESHUTDOWN (the system is ending), ENS_ENOMEM. A
 * refusal changes nothing. */
ENS_API int ens_capability_set(ens_ctx *c, const char *key, const char *value);

/* True if the capabilities caps ("key=value\n" lines) meet every one of
 * requirements (a NULL-terminated list; NULL or empty: true):
 *  - "key": the key is present and its value is not "", "0" or "false";
 *  - "key=value": the key is present with exactly that value.
 * When false and why is not NULL, why gets the first requirement that
 * failed and how ("gpu missing", "zone is us, not eu"), NUL-terminated and
 * cut to why_len - 1 bytes. NULL caps is no capabilities. */
ENS_API bool ens_capabilities_meet(const char *caps, const char *const *requirements, char *why,
                                   size_t why_len);

/* Copy the value of capability `key` from caps (an update's capabilities)
 * into out (NUL-terminated, cut to out_len - 1 bytes). Returns the value's
 * full length, ENS_ENOENT (no such key), or ENS_EINVAL (a NULL argument, an
 * empty key, out_len 0). */
ENS_API int ens_capability_get(const char *caps, const char *key, char *out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif

/*
 * core/process/gateway/gateway_members.h - membership of the convention,
 * in the gateway (ensemble/convention.h says what members see): this
 * system's record in the JetStream key-value bucket "ens-<convention>-
 * members", put at start, on a change and every half down_after_ms,
 * deleted when the system ends in order; its heartbeats on
 * ens.<convention>.hb.<node>; and a follower of the bucket and of every
 * member's heartbeats that turns them into changes (joined, left,
 * unreachable) for the gateway's loop to hand to the admin.
 * Internal to core/process/gateway/.
 *
 * A record is text, one "key=value" line each (the ens CLI reads it too):
 *   system=NAME  host=HOST  pid=ADMIN_PID  version=VERSION
 *   started=UNIX_MS  heartbeat_ms=N  down_after_ms=N
 *   cap.KEY=VALUE (one per capability)
 *   actors=N (the system's actor count, at most one heartbeat old: not a
 *   capability; placement tries members with fewer actors first)
 * under the key of the member's node id in decimal.
 *
 * The work runs on a thread of its own (libnats's KV calls block); it
 * hands changes over in a queue and wakes the gateway's loop through the
 * eventfd it is given.
 */
#ifndef ENS_CORE_GATEWAY_MEMBERS_H
#define ENS_CORE_GATEWAY_MEMBERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/process/gateway/gateway_nats.h"
#include "ensemble/convention.h"

#pragma GCC visibility push(hidden)

/* The largest record taken from the bucket (a larger one is ignored and
 * logged): a change must fit a control frame to the admin. A record of
 * ours holds at most ENS_CAPABILITY_TOTAL_MAX bytes of capabilities (with
 * "cap." before each of at most 256 lines) beside a few short fields. */
#define ENS_GW_RECORD_MAX 60000u
_Static_assert(ENS_GW_RECORD_MAX >= ENS_CAPABILITY_TOTAL_MAX + 4u * ENS_CAPABILITY_MAX_KEYS + 1500u,
               "a record of ours fits");

/* One change seen in the bucket: v's strings point into text. change 0:
 * the bucket as found at start has been reported in full. */
typedef struct ens_gw_change {
    struct ens_gw_change *next;
    ens_convention_update_v v;
    char text[];
} ens_gw_change;

/* Whether a member's record data[0..len), stored at stamp_ns (the
 * stream's time, ns since the epoch), was put less than its writer's
 * down_after_ms (a field of the record; the default when it has none)
 * before now_ns (this host's real time): its writer puts it every half of
 * that, so a fresher record says its writer still reaches the bucket's
 * quorum. A record that is no record of ours (empty, larger than
 * ENS_GW_RECORD_MAX) is not fresh. */
bool ens__gw_members_record_fresh(const void *data, int len, int64_t stamp_ns, int64_t now_ns);

/* Whether a copy of the members bucket's stream whose last message was
 * stored at last_ns (ns since the epoch; 0: none) is current at now_ns
 * (this host's real time) for a gateway judging with down_ms: that gateway
 * puts its own record every half of down_ms, so a copy that has nothing
 * that recent was cut off or is catching up (nats-server 2.9 was seen to
 * answer a get of a record from a restarted server's copy, 10 s behind). */
bool ens__gw_members_stream_current(int64_t last_ns, int64_t now_ns, uint32_t down_ms);

typedef struct ens_gw_members ens_gw_members;

/* Start the membership of node `node` of s (its convention options) on the
 * connection of g: its thread binds or creates the bucket, puts the record
 * (admin: the admin's pid; caps: the system's full capabilities now, as
 * the admin holds them, borrowed), watches, and tries again every
 * heartbeat while NATS does not answer (logged once). wake_fd (borrowed)
 * is written when changes wait. Returns 0, or ENS_ENOMEM / ENS_EAGAIN (no
 * thread). */
int ens__gw_members_start(ens_system *s, ens_gw_nats *g, uint32_t node, pid_t admin, int wake_fd,
                          const char *caps, ens_gw_members **out);

/* The system's capabilities changed to caps (borrowed): the record is
 * rebuilt and handed to the thread, which puts it at once (within
 * HANDOVER_WAIT_MS of gateway_members.c, or when the bucket answers again)
 * and with every heartbeat after. Returns 0, ENS_EINVAL (NULL m or caps),
 * ENS_ENOMEM (the old record stays). */
int ens__gw_members_set_caps(ens_gw_members *m, const char *caps);

/* The changes waiting, oldest first (owned by the caller: free each), or
 * NULL. */
ens_gw_change *ens__gw_members_take(ens_gw_members *m);

/* The admin's actor count changed: the next put of the record (at the
 * next heartbeat) carries it. m NULL: nothing. */
void ens__gw_members_set_actors(ens_gw_members *m, uint32_t actors);

/* Something of node (a frame or batch it sent) was received now: life,
 * as a heartbeat of its is (any thread). m NULL, node 0: nothing. */
void ens__gw_members_life(ens_gw_members *m, uint32_t node);

/* Stop the thread; with leave, publish a "leaving" heartbeat and delete this member's record first
 * (waiting up to wait_ms for the server), so the others see it "left". Frees m (NULL is fine). */
void ens__gw_members_stop(ens_gw_members *m, bool leave, uint32_t wait_ms);

#pragma GCC visibility pop

#endif

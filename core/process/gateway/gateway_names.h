/*
 * core/process/gateway/gateway_names.h - global names across hosts, the
 * gateway's half: the convention's JetStream KeyValue bucket
 * `ens-<convention>-names` (key: the name, value: the holder's address as
 * ens_addr_format writes it), create-or-get by kvStore_Create (atomic in
 * the cluster), deletion only at the revision a claim created, and a
 * follower of the bucket whose entries go to the admin's cache
 * (ens.ctl.GwName SEEN and GONE). Internal to core/process/gateway/; the admin's half is
 * core/process/admin/names_wide.c.
 *
 * Everything is called from the gateway's loop thread except the follower,
 * which runs on a thread of its own (it waits on its subscription and reads
 * the bucket): it queues entries and wakes the loop through the eventfd
 * the inbound frames use.
 * A claim or a deletion blocks the loop for one JetStream round trip (at
 * most half the call timeout, and not at all while the connection is
 * down: refused at once).
 */
#ifndef ENS_CORE_GATEWAY_NAMES_H
#define ENS_CORE_GATEWAY_NAMES_H

#include <stdint.h>

#include "core/process/gateway/gateway_nats.h"
#include "core/process/proc.h"

#pragma GCC visibility push(hidden)

typedef struct ens_gw_names ens_gw_names;

/* The names half of the gateway of s, on the connection of g (borrowed),
 * answering the admin on ctl as `self`; wake_fd (borrowed) is written when
 * the follower's entries wait. The bucket is opened (created if no system
 * made it yet) once the connection is up: here, or at a later tick. NULL
 * when out of memory (logged). */
ens_gw_names *ens__gw_names_open(ens_system *s, ens_gw_nats *g, int ctl, ens_addr self,
                                 int wake_fd);

/* A request of the admin's (an ens.ctl.GwName CLAIM or RELEASE, corr its
 * correlation id): done, and answered (a RELEASE that cannot be done while
 * NATS is unreachable is kept and tried again by the tick, answered then).
 * n NULL (out of memory at the start): not answered; the requester's call
 * times out. */
void ens__gw_names_request(ens_gw_names *n, const ens__ctl_gwname_v *v, uint64_t corr);

/* From the loop, each turn: open the bucket and start following it once
 * connected, try kept releases again (at most every 500 ms), and send the
 * follower's entries to the admin. n NULL: nothing. */
void ens__gw_names_tick(ens_gw_names *n);

/* Member `node` became unreachable: every name the bucket says it holds
 * is deleted at the revision it has now, that node's claim (the same
 * revision check as a release: a name claimed anew meanwhile is refused
 * by the server and left alone; the other survivors' deletions of the
 * same revision are refused likewise, harmlessly). Blocks the loop for a
 * read of the bucket and one round trip per name found; logged, never
 * answered. Nothing is deleted while the node's record in the members
 * bucket, from a copy holding this gateway's own recent puts, is younger
 * than its down_after_ms: it still reaches the buckets' quorum (this
 * gateway is the one cut off, or the node's heartbeats are not delivered
 * yet after a heal). When a bucket does not answer (its leader was on the
 * far side of a cut and a new one is being elected), or the record is
 * young, tried again from the tick every 2 s until done or the node is
 * back. n NULL, node 0 or this system's: nothing. */
void ens__gw_names_purge_node(ens_gw_names *n, uint32_t node);

/* Member `node` was seen joined again after it was unreachable: its names
 * are no longer removed (a purge the bucket did not answer is not tried
 * again), and, since a partition may have healed while this gateway's
 * server was cut off from the bucket's leader with the connection up (no
 * reconnect tells the follower), the follower reads the whole bucket
 * again soon, passing removals on: the admin hears of its own names that
 * the other side purged (and claims them again) and its cache catches
 * up. n NULL: nothing. */
void ens__gw_names_member_back(ens_gw_names *n, uint32_t node);

/* Stop the follower (joins its thread) and free n. NULL: nothing. */
void ens__gw_names_close(ens_gw_names *n);

#pragma GCC visibility pop

#endif

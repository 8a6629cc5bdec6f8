/*
 * core/process/gateway/gateway_spawn.h - remote spawn, the gateway's half
 * (the admin's is core/process/admin/placement.c). Internal to
 * core/process/gateway/.
 *
 * Subject, for convention C: ens.C.spawn.NODE takes spawn requests for the
 * system whose node is NODE. A request is an ens.ctl.GwSpawn frame (op ASK,
 * node: the asking system's) published with a reply subject under this
 * gateway's own inbox; the answer is an ens.ctl.GwSpawn frame (op ANSWER)
 * published to that reply subject. Neither side's loop ever waits for the
 * network: requests and answers are queued by libnats's threads and taken
 * by the loop (woken through the eventfd the inbound frames use), and what
 * waits too long is answered ENS_ETIMEDOUT.
 *
 * A request from NATS is checked whole before the admin sees it (it may
 * come from anyone who can publish on the server): at most ENS_CTL_MAX
 * bytes, a frame the checked decoder takes, of type ens.ctl.GwSpawn and op
 * ASK, a type name of 1-ENS_GWSPAWN_NAME_MAX bytes of [A-Za-z0-9._:-], an
 * asking node that is not this one, a parent that is none or an actor of
 * the asking node, public spawn flags only, sync 0 or 1, no address, a
 * start argument of at most ENS_GWSPAWN_ARG_MAX bytes that is a frame of
 * this system's limits. Anything else is answered with the error and its
 * reason and is a BADFRAME row about the gateway; at most
 * ENS_GW_SPAWN_WAITING requests wait for the admin at once (beyond:
 * answered ENS_EAGAIN).
 */
#ifndef ENS_CORE_GATEWAY_SPAWN_H
#define ENS_CORE_GATEWAY_SPAWN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/process/gateway/gateway_nats.h"
#include "core/process/proc.h"

#pragma GCC visibility push(hidden)

/* Spawn requests of other nodes waiting for this admin, and this admin's
 * requests waiting for another node, at most (each). */
#define ENS_GW_SPAWN_WAITING 256u

typedef struct ens_gw_spawn ens_gw_spawn;

/* The spawn half of the gateway of s (node self.node) on g's connection,
 * speaking to the admin on ctl as self; wake_fd is written when requests
 * or answers wait. NULL when out of memory or the subscriptions could not
 * be made (logged): spawns to and from this system are then refused. */
ens_gw_spawn *ens__gw_spawn_open(ens_system *s, ens_gw_nats *g, int ctl, ens_addr self,
                                 int wake_fd);

/* A control frame from the admin: an ens.ctl.GwSpawn ASK (sent to its node,
 * answered later), or the ens.ctl.InitFailed / ens.ctl.Spawned answering a
 * FOREIGN spawn (passed on to the asker). True if m was one of these. sp
 * NULL: an ASK is answered ENS_EUNREACHABLE at once. */
bool ens__gw_spawn_ctl(ens_gw_spawn *sp, ens_system *s, int ctl, ens_addr self, const ens_msg *m);

/* From the loop, each turn: take what NATS delivered (requests to hand to
 * the admin, answers to pass back), and answer ENS_ETIMEDOUT what waited
 * too long. NULL: nothing. */
void ens__gw_spawn_tick(ens_gw_spawn *sp);

/* Unsubscribe and free (NULL: nothing). */
void ens__gw_spawn_close(ens_gw_spawn *sp);

#pragma GCC visibility pop

#endif

/*
 * core/process/admin/names_wide.h - global names across hosts, the admin's
 * half. In a system of a convention a global name is convention-wide: the
 * admin stays free of NATS and asks its gateway (ens.ctl.GwName,
 * core/process/gateway/gateway_names.h) to claim a name in the
 * convention's bucket before it names an actor, and to delete the entry
 * (at the revision claimed) when the name leaves its table. The gateway's
 * watch keeps a cache here of the names other systems hold, so a lookup is
 * answered at once, from this process's memory. Without a convention
 * nothing here runs: every call is a no-op or says "not found". Internal to
 * the admin.
 */
#ifndef ENS_CORE_PROCESS_ADMIN_NAMES_WIDE_H
#define ENS_CORE_PROCESS_ADMIN_NAMES_WIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/process/admin/admin.h"

#pragma GCC visibility push(hidden)

/* True when names are convention-wide (the system is in a convention). */
bool ens__admin_wide(void);

/* ens_name_spawn of `from` (m, an ens.ctl.Spawn, borrowed) for a name this
 * system does not hold: the gateway claims it for a new address first;
 * when it answers, the spawn goes on (ens__admin_spawn) or is answered
 * with the holder (status 1) or the error (ENS_EUNREACHABLE: no gateway or
 * NATS unreachable, logged). */
void ens__admin_wide_spawn(arec *from, const ens_msg *m);

/* ens_name_register of the actor `from` (under corr) for a name no actor
 * of this system holds: claimed first, answered (ens.ctl.Ack) when the
 * gateway answers: 0, ENS_EEXIST (another system's), or the error. */
void ens__admin_wide_register(arec *from, const char *name, uint64_t corr);

/* The name left this system's table: delete its entry in the bucket at
 * revision rev (0: whatever revision holds addr). Kept until the gateway
 * says it is done, sent again to a new gateway. */
void ens__admin_wide_release(const char *name, uint64_t rev, ens_addr addr);

/* The holder of a name of another system, from the cache: 0 (*out),
 * ENS_ENOENT, ENS_EBADFRAME (the entry is not an address: refused). */
int ens__admin_wide_lookup(const char *name, ens_addr *out);

/* An ens.ctl.GwName from `from` (only the gateway's are taken): an answer,
 * or what the watch saw. */
void ens__admin_wide_on_ctl(arec *from, const ens_msg *m);

/* A new gateway runs (its record is admin_state.gateway): the cache starts
 * over from its watch, releases not confirmed are sent to it. */
void ens__admin_wide_gateway_up(void);

/* The gateway is gone: the claims it did not answer are answered
 * ENS_EUNREACHABLE (and their entries, if the claim was made, deleted by
 * the next gateway when they hold the address claimed). */
void ens__admin_wide_gateway_down(void);

#pragma GCC visibility pop

/* Re-claims of this system's purged names that the convention did not
 * answer are tried again here (every second, while the actor holds the
 * name). Returns when to call again (monotonic ns), or 0: nothing waits. */
uint64_t ens__admin_wide_tick(uint64_t now);

#endif

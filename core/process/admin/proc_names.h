/*
 * core/process/admin/proc_names.h - the process base's table of global names, owned by
 * the admin (core/process/admin/). The admin is one thread with one poll
 * loop: a name check and the spawn that follows it cannot interleave with
 * another request, which is what makes ens_name_spawn atomic across every
 * process of the system. Internal; used by the admin only.
 */
#ifndef ENS_CORE_PROC_NAMES_H
#define ENS_CORE_PROC_NAMES_H

#include <stdbool.h>

#include "core/process/proc.h"

/* Answer a name request (ens__ctl_name_v) from the endpoint `from`
 * (is_actor: an actor, which may name itself; else an outside program):
 * the status for the reply, and *out the address for LOOKUP. */
int ens__admin_name_request(ens_addr from, bool is_actor, const ens__ctl_name_v *v, ens_addr *out);

/* The live actor named `name`, or ENS_ADDR_NONE (NULL or "": none). */
ens_addr ens__admin_name_get(const char *name);

/* Name the new actor addr (spawned by ens_name_spawn). 0, ENS_ENOMEM. */
int ens__admin_name_set(const char *name, ens_addr addr);

/* The name of addr (borrowed until the table changes), or NULL. */
const char *ens__admin_name_of(ens_addr addr);

/* addr ended for good: its name, if any, is free again. */
void ens__admin_name_forget(ens_addr addr);

#endif

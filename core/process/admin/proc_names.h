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
#include <stdint.h>

#include "core/process/proc.h"

/* Answer a name request (ens__ctl_name_v) from the endpoint `from`
 * (is_actor: an actor, which may name itself; else an outside program):
 * the status for the reply, and *out the address for LOOKUP. */
int ens__admin_name_request(ens_addr from, bool is_actor, const ens__ctl_name_v *v, ens_addr *out);

/* LOOKUP: this system's actor named `name`, else (in a convention) the
 * holder the convention's bucket names, as the watch last reported it
 * (core/process/admin/names_wide.c). 0, ENS_ENOENT, ENS_EBADFRAME (the
 * bucket's entry is not an address: refused). */
int ens__admin_name_lookup(const char *name, ens_addr *out);

/* The live actor of this system named `name`, or ENS_ADDR_NONE (NULL or "": none). */
ens_addr ens__admin_name_get(const char *name);

/* Name the new actor addr (spawned by ens_name_spawn). 0, ENS_ENOMEM. */
int ens__admin_name_set(const char *name, ens_addr addr);

/* Name addr `name`, claimed in the convention's bucket at revision rev:
 * when the name leaves the table, the entry is deleted at that revision.
 * 0, ENS_EEXIST, ENS_ENOMEM (the caller releases the claim). */
int ens__admin_name_set_claimed(const char *name, ens_addr addr, uint64_t rev);

/* The revision at which `name` was claimed in the convention's bucket for
 * this system's actor, or 0 (not claimed there). */
uint64_t ens__admin_name_claimed_rev(const char *name);

/* `name` of addr was claimed again (after the other side of a partition
 * purged it) at revision rev. 0; ENS_ENOENT when the name no longer names
 * addr (the caller releases the claim); ENS_ENOMEM (the name is dropped,
 * and the caller releases the claim). */
int ens__admin_name_reclaimed(const char *name, ens_addr addr, uint64_t rev);

/* `name` of addr is held by another system's actor now: it leaves the
 * table without a deletion in the bucket (the entry is not ours). */
void ens__admin_name_lost(const char *name, ens_addr addr);

/* The name of addr (borrowed until the table changes), or NULL. */
const char *ens__admin_name_of(ens_addr addr);

/* addr ended for good: its name, if any, is free again (in a convention,
 * its entry in the bucket is deleted at the revision it was claimed at). */
void ens__admin_name_forget(ens_addr addr);

#endif

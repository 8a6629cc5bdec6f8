/*
 * core/runtime/names.h - a table of global names (name -> address, at most one name
 * per address), the one data structure behind registry/: the inproc base
 * keeps one in the system, the process base's admin keeps the system's one
 * (core/process/admin/proc_names.c). Internal.
 */
#ifndef ENS_CORE_NAMES_H
#define ENS_CORE_NAMES_H

#include <stddef.h>

#include "ensemble/addr.h"

typedef struct ens_name_entry {
    char *name; /* owned */
    ens_addr addr;
} ens_name_entry;

/* Sorted by name (strcmp), so lookups are a binary search. */
typedef struct ens_names {
    ens_name_entry *v;
    size_t n, cap;
} ens_names;

/* The address named `name`, or ENS_ADDR_NONE. */
ens_addr ens__names_get(const ens_names *t, const char *name);

/* The name of addr (borrowed from t, valid until t changes), or NULL. */
const char *ens__names_of(const ens_names *t, ens_addr addr);

/* Name addr `name` (copied). 0 done (also when addr already has exactly that
 * name), ENS_EEXIST (the name is another address's, or addr has another
 * name), ENS_ENOMEM. The caller has dropped stale entries first. */
int ens__names_set(ens_names *t, const char *name, ens_addr addr);

/* Drop the name of addr, if any. Returns 0, or ENS_ENOENT if it had none. */
int ens__names_drop_addr(ens_names *t, ens_addr addr);

/* One request of the name-op vocabulary (enum ens_names_op,
 * core/runtime/runtime.h) that only reads or writes the table: LOOKUP (*out = the
 * address named `name`; ENS_ENOENT), REGISTER (name `from`, and *out =
 * from; errors as ens__names_set) or UNREGISTER (drop from's name;
 * ENS_ENOENT). Any other op: ENS_EINVAL. The caller has checked the name
 * and that `from` may ask (an actor, for REGISTER and UNREGISTER). Both
 * bases answer their name requests with it. */
int ens__names_apply(ens_names *t, int op, const char *name, ens_addr from, ens_addr *out);

/* Free every entry. */
void ens__names_clear(ens_names *t);

#endif

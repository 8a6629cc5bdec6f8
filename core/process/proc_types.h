/*
 * core/process/proc_types.h - the list of a system's registered message
 * types, as the admin answers it to a program (ens_system_types,
 * include/ensemble/system.h). The admin is forked after the starting
 * program registered its types (registration comes before
 * ens_system_start), so its table is the system's.
 *
 * The request is an ens.ctl.Status whose `enable` is ENS__STATUS_TYPES;
 * the answer an ens.TypeList sent like a status snapshot (a reply under
 * the request's correlation). Internal.
 */
#ifndef ENS_CORE_PROC_TYPES_H
#define ENS_CORE_PROC_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "ensemble/msg.h"
#include "ensemble/system.h"

/* ens.ctl.Status `enable`: 0 a status snapshot, this: the type list. */
#define ENS__STATUS_TYPES 1

/* "ens.TypeList": A(S(susUs)) of ens_type_desc (system.h). */
typedef struct ens__type_list_v {
    ens_array types; /* ens_type_desc */
} ens__type_list_v;

extern const ens_msgtype ens__msg_type_list;

/* The types of this process's table that programs may send or receive
 * (the internal ens.ctl.* and the system-range ones left out), in a
 * calloc'ed array (*out, *n; free with free(): the strings are borrowed
 * from the table). Returns 0 or ENS_ENOMEM. */
int ens__types_snapshot(ens_type_desc **out, size_t *n);

/* Ask the admin for the type list from the outside endpoint of s under
 * corr (core/process/outside/proc_outside.c). 0 or ENS_ESHUTDOWN. */
int ens__po_types_request(ens_system *s, uint64_t corr);

#endif

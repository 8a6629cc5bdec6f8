/*
 * core/process/admin/proc_names.c - the admin's table of global names
 * (core/process/admin/proc_names.h).
 *
 * One core/runtime/names.h table in the admin's memory. Entries always name live
 * records: the admin drops an actor's name when the actor announces an
 * orderly exit (ctl Exiting, which the actor sends and has acknowledged
 * before its parent's child-exited notice leaves, so a supervisor restarting
 * the child at once finds the name free), and at the latest when it frees
 * the actor's record (it ended for good: an init failure, a crash it does
 * not absorb); a restart in place keeps the record, hence the name.
 * Requests are answered at once; nothing here waits.
 */
#include "core/process/admin/proc_names.h"
#include "core/runtime/names.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"

static ens_names name_table;

int ens__admin_name_request(ens_addr from, bool is_actor, const ens__ctl_name_v *v, ens_addr *out)
{
    /* The request came over a socket: check what the registry's API
     * checked on the sender's side. */
    *out = ENS_ADDR_NONE;
    if ((v->op == ENS_NAMES_LOOKUP || v->op == ENS_NAMES_REGISTER) && !ens_name_valid(v->name))
        return ENS_EINVAL;
    if ((v->op == ENS_NAMES_REGISTER || v->op == ENS_NAMES_UNREGISTER) && !is_actor)
        return ENS_EINVAL;
    return ens__names_apply(&name_table, v->op, v->name, from, out);
}

ens_addr ens__admin_name_get(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return ENS_ADDR_NONE;
    return ens__names_get(&name_table, name);
}

int ens__admin_name_set(const char *name, ens_addr addr)
{
    return ens__names_set(&name_table, name, addr);
}

const char *ens__admin_name_of(ens_addr addr)
{
    return ens__names_of(&name_table, addr);
}

void ens__admin_name_forget(ens_addr addr)
{
    ens__names_drop_addr(&name_table, addr);
}

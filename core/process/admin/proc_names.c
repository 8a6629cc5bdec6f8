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
 *
 * In a convention the table stays the authority for this system's actors,
 * and a name held here is also this system's entry in the convention's
 * names bucket (core/process/admin/names_wide.c): its revision is kept
 * beside it, and every way a name leaves this table asks the gateway to
 * delete the entry at exactly that revision.
 */
#include <stdio.h>

#include "core/process/admin/names_wide.h"
#include "core/process/admin/proc_names.h"
#include "core/runtime/names.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"

static ens_names name_table;
/* Names of this system's actors claimed in the convention's bucket: the
 * address field carries the revision of the claim (id; node 0), unique
 * per entry of the bucket as the table needs it to be. */
static ens_names claimed;

/* addr leaves the table: the entry of its name in the bucket goes too. */
static int drop(ens_addr addr)
{
    const char *name = ens__names_of(&name_table, addr);
    if (name == NULL)
        return ENS_ENOENT;
    char copy[ENS_NAME_MAX + 1];
    snprintf(copy, sizeof(copy), "%s", name);
    ens__names_drop_addr(&name_table, addr);
    ens_addr rev = ens__names_get(&claimed, copy);
    if (!ens_addr_is_none(rev)) {
        ens__names_drop_addr(&claimed, rev);
        ens__admin_wide_release(copy, rev.id, addr);
    }
    return 0;
}

int ens__admin_name_request(ens_addr from, bool is_actor, const ens__ctl_name_v *v, ens_addr *out)
{
    /* The request came over a socket: check what the registry's API
     * checked on the sender's side. */
    *out = ENS_ADDR_NONE;
    if ((v->op == ENS_NAMES_LOOKUP || v->op == ENS_NAMES_REGISTER) && !ens_name_valid(v->name))
        return ENS_EINVAL;
    if ((v->op == ENS_NAMES_REGISTER || v->op == ENS_NAMES_UNREGISTER) && !is_actor)
        return ENS_EINVAL;
    if (v->op == ENS_NAMES_LOOKUP)
        return ens__admin_name_lookup(v->name, out);
    if (v->op == ENS_NAMES_UNREGISTER)
        return drop(from);
    return ens__names_apply(&name_table, v->op, v->name, from, out);
}

int ens__admin_name_lookup(const char *name, ens_addr *out)
{
    *out = ens__names_get(&name_table, name);
    if (!ens_addr_is_none(*out))
        return 0;
    return ens__admin_wide_lookup(name, out);
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

int ens__admin_name_set_claimed(const char *name, ens_addr addr, uint64_t rev)
{
    int rc = ens__names_set(&name_table, name, addr);
    if (rc < 0)
        return rc;
    rc = ens__names_set(&claimed, name, (ens_addr){rev, 0, 0});
    if (rc < 0) /* it could not be deleted in time: refused, and freed now */
        ens__names_drop_addr(&name_table, addr);
    return rc;
}

uint64_t ens__admin_name_claimed_rev(const char *name)
{
    return ens__names_get(&claimed, name).id;
}

int ens__admin_name_reclaimed(const char *name, ens_addr addr, uint64_t rev)
{
    if (!ens_addr_equal(ens__names_get(&name_table, name), addr))
        return ENS_ENOENT;
    ens_addr old = ens__names_get(&claimed, name);
    if (!ens_addr_is_none(old))
        ens__names_drop_addr(&claimed, old);
    int rc = ens__names_set(&claimed, name, (ens_addr){rev, 0, 0});
    if (rc < 0) /* its entry could not be deleted in time: the name goes */
        ens__names_drop_addr(&name_table, addr);
    return rc;
}

void ens__admin_name_lost(const char *name, ens_addr addr)
{
    if (!ens_addr_equal(ens__names_get(&name_table, name), addr))
        return;
    ens__names_drop_addr(&name_table, addr);
    ens_addr rev = ens__names_get(&claimed, name);
    if (!ens_addr_is_none(rev))
        ens__names_drop_addr(&claimed, rev);
}

const char *ens__admin_name_of(ens_addr addr)
{
    return ens__names_of(&name_table, addr);
}

void ens__admin_name_forget(ens_addr addr)
{
    (void)drop(addr);
}

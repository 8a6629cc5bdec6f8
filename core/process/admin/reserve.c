/*
 * core/process/admin/reserve.c - a supervisor's child between two
 * incarnations. A child spawned with ENS__SPAWN_KEEP_ADDR that ends (an
 * orderly exit, an error, a crash that is not restarted in place, a kill)
 * keeps its record while its parent decides: no process, but its receiving
 * ends (what senders send meanwhile waits in the kernel, as during a
 * restart in place), its stage (frames it had read and not handled) and its
 * global name. The parent then asks for a new incarnation at that address
 * (ens.ctl.Spawn with `at`), forked here like a restart in place, or
 * releases it (ens.ctl.Release), and everything that waited becomes a dead
 * letter. A reservation belongs to the parent's incarnation that spawned
 * the child: it ends when that incarnation ends or is restarted in place.
 */
#include <stdlib.h>
#include <string.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/proc_names.h"
#include "ensemble/error.h"

/* r ends for good now: what waits for it becomes dead letters. */
static void end_reserved(arec *r)
{
    ens_addr addr = r->addr;
    r->reserved = false;
    r->addr = ENS_ADDR_NONE; /* its letters must not come back to it */
    ens__admin_drain_to_dead_letters(r, "the actor ended");
    r->addr = addr;
    ens__admin_rec_free(r);
}

/* Answer the parent's spawn request for r (status 0: r runs again). */
static void reply_spawned(arec *r, int status)
{
    ens__ctl_status_v reply = {status == 0 ? r->addr : ENS_ADDR_NONE, status};
    arec *q = ens__admin_by_addr(r->requester);
    if (q != NULL && q->ctl >= 0)
        ens__admin_ctl_out(q, reply.addr, &ens__ctl_spawned, &reply, r->req_corr, -1, false);
}

/* Start r's next incarnation (its definition, argument and flags already
 * set from the request) and answer the requester. */
static void reborn(arec *r)
{
    r->reborn_asked = false;
    r->incarnation++;
    /* The flag tells the new process to announce its start to the parent
     * (ENS_SPAWN_NOTIFY_START) as a first start; later restarts in place
     * are announced as restarts. */
    r->spawn_flags |= ENS__SPAWN_AT;
    int rc = ens__admin_fork_actor(r, false, -1);
    r->spawn_flags &= ~ENS__SPAWN_AT;
    if (rc < 0) {
        r->incarnation--;
        reply_spawned(r, rc); /* still reserved: the parent may try again or release it */
        return;
    }
    r->reserved = false;
    reply_spawned(r, 0);
}

/* The parent that may decide for r: it must be the incarnation that spawned
 * r, running and not ending. NULL if there is none. */
static arec *deciding_parent(const arec *r)
{
    arec *p = ens__admin_by_addr(r->parent);
    if (p == NULL || p->outside || p->pid <= 0 || p->exiting || p->reserved ||
        p->incarnation != r->parent_inc)
        return NULL;
    return p;
}

bool ens__admin_keep(arec *r, int sig)
{
    const bool keep = (r->spawn_flags & ENS__SPAWN_KEEP_ADDR) && !r->outside && !r->release_asked &&
                      !admin_state.shutting_down && deciding_parent(r) != NULL;
    if (!keep) {
        if (r->reborn_asked)
            reply_spawned(r, ENS_ENOENT);
        r->reborn_asked = false;
        return false;
    }
    r->reserved = true;
    r->exiting = false;
    r->killed = false;
    r->sync_pending = false;
    if (r->stage != NULL)
        r->stage->last_signal = sig; /* the next incarnation reports it with the frame in hand */
    if (r->reborn_asked)
        reborn(r);
    return true;
}

void ens__admin_release_children(const arec *parent)
{
    for (size_t i = admin_state.n; i-- > 0;) {
        arec *c = admin_state.recs[i];
        if (c != parent && c->reserved && ens_addr_equal(c->parent, parent->addr))
            end_reserved(c); /* removes recs[i]: the walk goes down */
    }
}

/* The status of a request from `from` about its child r: 0 when r is its
 * reservation (or will be one once reaped). */
static int check_owner(const arec *from, const arec *r)
{
    if (r == NULL || r->outside || from->outside || !ens_addr_equal(r->parent, from->addr) ||
        r->parent_inc != from->incarnation || !(r->spawn_flags & ENS__SPAWN_KEEP_ADDR) ||
        r->release_asked)
        return ENS_ENOENT;
    if (r->reserved || (r->exiting && r->pid > 0))
        return 0;
    return ENS_ENOENT; /* it runs (or crashed and is being restarted in place) */
}

void ens__admin_reincarnate(arec *from, const ens_msg *m)
{
    const ens__ctl_spawn_v *v = m->value;
    arec *r = ens__admin_by_addr(v->at);
    const ens_actor_def *def = from->foreign ? NULL : (const ens_actor_def *)(uintptr_t)v->def;
    int status = admin_state.shutting_down ? ENS_ESHUTDOWN : check_owner(from, r);
    if (status == 0 && r->reborn_asked)
        status = ENS_EEXIST; /* asked already */
    if (status == 0 &&
        (def == NULL || v->name == NULL || def->name == NULL || strcmp(def->name, v->name) != 0))
        status = ENS_EINVAL;
    uint8_t *arg = NULL;
    if (status == 0 && v->arg.len > 0 && (arg = ens__malloc(v->arg.len)) == NULL)
        status = ENS_ENOMEM;
    if (status < 0) {
        ens__ctl_status_v reply = {ENS_ADDR_NONE, status};
        ens__admin_ctl_out(from, v->at, &ens__ctl_spawned, &reply, m->hdr.corr, -1, false);
        return;
    }
    if (arg != NULL)
        memcpy(arg, v->arg.data, v->arg.len);
    free(r->arg);
    r->arg = arg;
    r->arg_len = arg != NULL ? v->arg.len : 0;
    r->def = def;
    r->shown = v->shown != 0 ? (const ens_actor_def *)(uintptr_t)v->shown : def;
    r->spawn_flags = (uint32_t)v->flags & ~ENS__SPAWN_AT;
    r->no_restart = (v->flags & ENS_SPAWN_NO_RESTART) != 0;
    r->requester = from->addr;
    r->req_corr = m->hdr.corr;
    r->reborn_asked = true;
    if (r->reserved)
        reborn(r);
    /* else its old process is still ending: reborn once it is reaped */
}

void ens__admin_do_release(arec *from, const ens_msg *m)
{
    const ens__ctl_conn_v *v = m->value;
    arec *r = ens__admin_by_addr(v->peer);
    int status = check_owner(from, r);
    if (status == 0 && r->reserved) {
        end_reserved(r);
    } else if (status == 0) {
        /* Still ending: it ends for good when reaped; its name is free now,
         * so the parent may start the child anew under it at once. */
        r->release_asked = true;
        if (r->reborn_asked)
            reply_spawned(r, ENS_ENOENT);
        r->reborn_asked = false;
        ens__admin_name_forget(r->addr);
    }
    ens__ctl_status_v ack = {v->peer, status};
    if (m->hdr.corr != 0 && from->ctl >= 0)
        ens__admin_ctl_out(from, v->peer, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
}

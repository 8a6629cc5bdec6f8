/*
 * supervisor/sup_start.c - the concurrent start of a range of children
 * (ENS_SUP_START_CONCURRENT): every child of the range is spawned at once
 * and their inits are awaited together, instead of one spawn-to-init round
 * trip after another.
 *
 * A run of children that the runtime would start alike - one definition,
 * one restart type (so the same spawn flags), equal start arguments, no
 * global name, and all at new addresses or all at addresses kept from
 * their earlier incarnations - goes through the batch spawn
 * (ens__spawn_many_shown, or ens__spawn_many_at for kept addresses: on the
 * process base up to 64 requests in flight to the admin); a named child
 * through the supervisor's own ens__sup_spawn. Each
 * spawned child is marked awaited; its start notice, its init failure or
 * its end clears the mark (ens__sup_start_awaited_done) and the job goes
 * on when the last one has.
 */
#include <stdlib.h>
#include <string.h>

#include "core/runtime/runtime.h"
#include "ensemble/error.h"
#include "supervisor/sup_internal.h"

/* The most children one batch spawn call is given: the per-call arrays stay
 * small, and a batch is never above ENS_SPAWN_MANY_MAX. */
#define SUP_BATCH_MAX 1024u

/* k may be started by a batch spawn: no name (a new address, or the one
 * kept from its earlier incarnation). */
static bool batchable(const sup_child *k)
{
    return k->name == NULL;
}

static bool same_arg(const ens_msg *a, const ens_msg *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a == b)
        return true;
    const ens_msgtype *t = ens_msg_type(a);
    if (t == NULL || t != ens_msg_type(b) || ens_msg_size(a) != ens_msg_size(b))
        return false;
    uint8_t *ea = NULL, *eb = NULL;
    size_t la = 0, lb = 0;
    bool same = ens_msg_encode(t, ens_msg_value(a, t), &ea, &la) == 0 &&
                ens_msg_encode(t, ens_msg_value(b, t), &eb, &lb) == 0 && la == lb &&
                memcmp(ea, eb, la) == 0;
    free(ea);
    free(eb);
    return same;
}

/* b starts as a does (both at kept addresses, or both at new ones). */
static bool alike(const sup_state *st, const sup_child *a, const sup_child *b)
{
    return batchable(b) && ens_addr_is_none(a->kept) == ens_addr_is_none(b->kept) &&
           a->def == b->def && a->restart == b->restart &&
           ens__sup_spawn_flags(st, a) == ens__sup_spawn_flags(st, b) && same_arg(a->arg, b->arg);
}

static void await_child(ens_ctx *c, sup_state *st, sup_child *k)
{
    k->awaited = true;
    st->job.n_awaited++;
    if (st->job.kind == JOB_RESTART)
        ens__sup_restart_reported(c, st, k);
}

static void fail_with(sup_job *j, sup_child *k, int rc)
{
    k->start_status = rc;
    if (j->failed != NULL)
        return; /* the first failure is the one reported */
    j->failed = k;
    j->fail_status = rc;
    j->fail_detail = rc;
}

/* Spawn the run j->start[from..from+n) (all alike) in one batch: at the
 * addresses they kept (a restart), or at new ones. The children whose
 * spawn failed are stopped (a kept address stays kept, as in
 * ens__sup_spawn; one the base did not keep after all is started anew on
 * its own); the first failure is the job's. */
static void spawn_run(ens_ctx *c, sup_state *st, size_t from, size_t n)
{
    sup_job *j = &st->job;
    sup_child *k0 = j->start[from];
    const bool kept = !ens_addr_is_none(k0->kept);
    ens_addr *out = calloc(n, sizeof(*out));
    ens_addr *at = kept ? calloc(n, sizeof(*at)) : NULL;
    int *status = calloc(n, sizeof(*status));
    int rc = ENS_ENOMEM;
    if (out != NULL && status != NULL && (at != NULL || !kept)) {
        const ens_msgtype *argt = k0->arg != NULL ? ens_msg_type(k0->arg) : NULL;
        const void *argv = argt != NULL ? ens_msg_value(k0->arg, argt) : NULL;
        const uint32_t flags = ens__sup_spawn_flags(st, k0);
        for (size_t i = 0; kept && i < n; i++)
            at[i] = j->start[from + i]->kept;
        rc = kept ? ens__spawn_many_at(c, k0->def, argt, argv, flags, n, at, out, status)
                  : ens__spawn_many_shown(c, k0->def, NULL, argt, argv, flags, n, out, status);
    }
    free(at);
    for (size_t i = 0; i < n; i++) {
        sup_child *k = j->start[from + i];
        k->in_start = false;
        int s = rc < 0 ? rc : status[i];
        if (s == 0 && !ens_addr_is_none(out[i])) {
            k->kept = ENS_ADDR_NONE;
            ens__sup_spawned(st, k, out[i]);
            await_child(c, st, k);
            continue;
        }
        if (kept && s == ENS_ENOENT) { /* no reservation after all: a new address */
            ens_log(c, ENS_LOG_WARN, "child %s: its address was not kept; started anew", k->id);
            k->kept = ENS_ADDR_NONE;
            if ((s = ens__sup_spawn(c, st, k)) == 0) {
                await_child(c, st, k);
                continue;
            }
            fail_with(j, k, s);
            continue;
        }
        if (s == 0)
            s = ENS_EAGAIN; /* no address and no reason: counted as a failed spawn */
        ens_log(c, s == ENS_ESHUTDOWN ? ENS_LOG_INFO : ENS_LOG_ERROR,
                "supervisor could not start child %s (%s): %s", k->id, k->def->name,
                ens_strerror(s));
        k->addr = ENS_ADDR_NONE;
        k->status = ENS_SUP_CHILD_STOPPED;
        fail_with(j, k, s);
    }
    free(out);
    free(status);
}

bool ens__sup_start_concurrent(ens_ctx *c, sup_state *st, size_t to)
{
    sup_job *j = &st->job;
    /* start_children: each child on its own, as ens_spawn_many's actors */
    const bool each = j->kind == JOB_START_CHILDREN;
    while ((j->failed == NULL || each) && j->spos < to) {
        sup_child *k = j->start[j->spos];
        if (j->kind == JOB_RESTART && k->restart == ENS_TEMPORARY) {
            j->spos++;
            k->in_start = false;
            ens__sup_remove(c, st, k); /* never restarted */
            continue;
        }
        if (!ens_addr_is_none(k->addr)) {
            j->spos++;
            k->in_start = false;
            continue;
        }
        size_t end = j->spos + 1;
        if (batchable(k))
            while (end < to && end - j->spos < SUP_BATCH_MAX &&
                   ens_addr_is_none(j->start[end]->addr) &&
                   !(j->kind == JOB_RESTART && j->start[end]->restart == ENS_TEMPORARY) &&
                   alike(st, k, j->start[end]))
                end++;
        if (end - j->spos > 1) {
            size_t from = j->spos;
            j->spos = end;
            spawn_run(c, st, from, end - from);
            continue;
        }
        j->spos++;
        k->in_start = false;
        int rc = ens__sup_spawn(c, st, k);
        if (rc < 0)
            fail_with(j, k, rc);
        else
            await_child(c, st, k);
    }
    return j->n_awaited > 0;
}

bool ens__sup_start_awaited_done(sup_state *st, sup_child *k)
{
    if (!k->awaited)
        return false;
    k->awaited = false;
    return --st->job.n_awaited == 0;
}

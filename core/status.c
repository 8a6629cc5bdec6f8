/*
 * core/status.c - status snapshots: the ENS_MSG_STATUS type, the outside's
 * ens_status object and the inproc base's answer. The process base's
 * answer is built by the admin (core/proc_admin.c) from its records.
 */
#include <stdlib.h>
#include <unistd.h>

#include "core/runtime.h"
#include "ensemble/error.h"
#include "ensemble/status.h"

ens_msgtype ens_sys_status = {"ens.Status", "S(iu)A(S(" ENS_ADDR_FMT ENS_ADDR_FMT "ssiuuuUUU))",
                              sizeof(ens_status_v), 1u << 20, 0};

struct ens_status {
    ens_msg *m;
    const ens_status_v *v;
    uint64_t own_alloc_failures; /* the snapshot taker's, when it is not the admin */
};

int ens__status_register(void)
{
    return ens_msgtype_register(&ens_sys_status);
}

int ens_system_status(ens_system *s, uint32_t timeout_ms, ens_status **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL)
        return ENS_EINVAL;
    if (s->down)
        return ENS_ESHUTDOWN;
    ens_msg *m = NULL;
    int rc = s->ops->status(s, NULL, timeout_ms, &m);
    if (rc < 0)
        return rc;
    const ens_status_v *v = ens_msg_value(m, ENS_MSG_STATUS);
    ens_status *st = malloc(sizeof(*st));
    if (v == NULL || st == NULL) {
        free(st);
        ens_msg_free(m);
        return v == NULL ? ENS_EBADTYPE : ENS_ENOMEM;
    }
    st->m = m;
    st->v = v;
    st->own_alloc_failures = s->opts.base == ENS_BASE_PROCESS ? s->alloc_failures : 0;
    *out = st;
    return 0;
}

size_t ens_status_count(const ens_status *st)
{
    return st != NULL ? st->v->actors.count : 0;
}

const ens_actor_status *ens_status_at(const ens_status *st, size_t i)
{
    if (st == NULL || i >= st->v->actors.count)
        return NULL;
    return &((const ens_actor_status *)st->v->actors.items)[i];
}

int ens_status_admin_pid(const ens_status *st)
{
    return st != NULL ? st->v->admin_pid : 0;
}

uint64_t ens_status_alloc_failures(const ens_status *st)
{
    return st != NULL ? st->v->alloc_failures + st->own_alloc_failures : 0;
}

void ens_status_free(ens_status *st)
{
    if (st == NULL)
        return;
    ens_msg_free(st->m);
    free(st);
}

int ens_status_request(ens_ctx *c)
{
    if (c == NULL || c->actor == NULL)
        return ENS_EINVAL;
    return c->sys->ops->status(c->sys, c->actor, 0, NULL);
}

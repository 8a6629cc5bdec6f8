/*
 * core/runtime/status.c - status snapshots: the outside's ens_status object
 * and the requests for one. An outside program asks and waits like an ask
 * (core/runtime/outside.c), an actor has it delivered; the rows come from
 * the base (core/inproc/inproc.c; on the process base the admin's records,
 * core/process/admin/ctl_dispatch.c, do_status).
 */
#include <stdlib.h>
#include <unistd.h>

#include "core/runtime/runtime.h"
#include "core/wire/why.h"
#include "ensemble/error.h"
#include "ensemble/status.h"

struct ens_status {
    ens_msg *m;
    const ens_status_v *v;
    uint64_t own_alloc_failures; /* the snapshot taker's, when it is not the admin */
};

int ens_system_status(ens_system *s, uint32_t timeout_ms, ens_status **out)
{
    ens__errmsg_clear();
    if (out != NULL)
        *out = NULL;
    if (s == NULL || out == NULL)
        return ens__fail(ENS_EINVAL, "ens_system_status: %s is NULL", s == NULL ? "s" : "out");
    int wrong = ens__outside_check(&s->outside);
    if (wrong < 0)
        return wrong;
    if (s->outside_ops == NULL)
        return ens__fail(ENS_EINVAL, "ens_system_status: called inside an actor process (use "
                                     "ens_status_request)");
    if (s->down)
        return ENS_ESHUTDOWN;
    ens_msg *m = NULL;
    uint64_t corr = ens__outside_expect(s);
    int rc = ens__outside_await(s, s->host->status(s, s->outside.self, corr), timeout_ms, &m);
    if (rc < 0) {
        ens_msg_free(m); /* an error reply: not a snapshot */
        return rc;
    }
    const ens_status_v *v = ens_msg_value(m, &ens_msg_status);
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

int ens__status_from_msg(ens_msg *m, ens_status **out)
{
    *out = NULL;
    const ens_status_v *v = ens_msg_value(m, &ens_msg_status);
    if (v == NULL)
        return ENS_EBADTYPE;
    ens_status *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ENS_ENOMEM;
    st->m = m;
    st->v = v;
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

int64_t ens_status_started_ms(const ens_status *st)
{
    return st != NULL ? st->v->started_ms : 0;
}

bool ens_status_persistent(const ens_status *st)
{
    return st != NULL && st->v->persistent != 0;
}

/* A string of the snapshot: NULL for none (an empty one is none too). */
static const char *text_or_null(const char *t)
{
    return t != NULL && t[0] != '\0' ? t : NULL;
}

const char *ens_status_journal(const ens_status *st)
{
    return st != NULL ? text_or_null(st->v->journal) : NULL;
}

const char *ens_status_log(const ens_status *st)
{
    return st != NULL ? text_or_null(st->v->log) : NULL;
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
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || c->actor == NULL)
        return ens__fail(ENS_EINVAL, "ens_status_request: %s",
                         c == NULL ? "the context is NULL"
                                   : "called outside an actor (use ens_system_status)");
    return c->sys->host->status(c->sys, c->self, 0);
}

/*
 * supervisor/sup_ops.c - the operations as the supervisor handles them:
 * start, terminate, restart and delete child (deferred while a job runs, so
 * they see the children as OTP's supervisor would, one decision at a time;
 * start and restart child are jobs themselves, answered once the child's
 * init has run), and the which/count children queries (answered at once,
 * except while the supervisor starts).
 *
 * Every answer goes through ens_reply_to with the ens_from of the request,
 * so a deferred request is answered as well as a fresh one.
 */
#include <stdlib.h>
#include <string.h>

#include "ensemble/error.h"
#include "supervisor/sup_internal.h"

void ens__sup_reply(ens_ctx *c, ens_from from, int err, ens_addr child, int reason)
{
    if (ens_addr_is_none(from.to))
        return;
    ens_sup_result_v r = {child, reason, 0};
    (void)ens_reply_to(c, from, err, &ens_msg_sup_result, &r);
}

static void reply(ens_ctx *c, ens_from from, int err, ens_addr child)
{
    ens__sup_reply(c, from, err, child, 0);
}

/* ---- deferral ---------------------------------------------------------- */

bool ens__sup_defer(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from)
{
    if (st->n_deferred == st->cap_deferred) {
        size_t cap = st->cap_deferred ? st->cap_deferred * 2 : 8;
        sup_deferred *n = realloc(st->deferred, cap * sizeof(*n));
        if (n == NULL)
            goto nomem;
        st->deferred = n;
        st->cap_deferred = cap;
    }
    ens_msg *copy = ens_msg_dup(m);
    if (copy == NULL)
        goto nomem;
    st->deferred[st->n_deferred++] = (sup_deferred){copy, from};
    return true;
nomem:
    ens_log(c, ENS_LOG_ERROR, "supervisor out of memory: a message is dropped");
    reply(c, from, ENS_ENOMEM, ENS_ADDR_NONE);
    return false;
}

bool ens__sup_take_deferred_exit(sup_state *st, ens_addr addr, int *reason)
{
    for (size_t i = 0; i < st->n_deferred; i++) {
        const ens_child_exited_v *v = ens_msg_value(st->deferred[i].m, &ens_msg_child_exited);
        if (v == NULL || !ens_addr_equal(v->child, addr))
            continue;
        *reason = v->reason;
        ens_msg_free(st->deferred[i].m);
        memmove(&st->deferred[i], &st->deferred[i + 1],
                (st->n_deferred - i - 1) * sizeof(st->deferred[0]));
        st->n_deferred--;
        return true;
    }
    return false;
}

void ens__sup_run_deferred(ens_ctx *c, sup_state *st)
{
    while (st->n_deferred > 0 && st->job.kind == JOB_NONE && !st->stopping) {
        sup_deferred d = st->deferred[0];
        memmove(&st->deferred[0], &st->deferred[1], (st->n_deferred - 1) * sizeof(d));
        st->n_deferred--;
        (void)ens__sup_handle(c, st, d.m, d.from); /* not busy: never deferred again */
        ens_msg_free(d.m);
    }
}

/* ---- queries ------------------------------------------------------------- */

/* The rows [offset, offset + limit) in start order (limit 0: all of them,
 * refused above ENS_SUP_PAGE_MAX rows: the reply could not be decoded). */
static void which_children(ens_ctx *c, sup_state *st, const ens_sup_query_v *q, ens_from from)
{
    ens__sup_compact(st); /* offsets count children, not holes */
    size_t from_i = q->offset < st->n_kids ? q->offset : st->n_kids;
    size_t n = st->n_kids - from_i;
    if (q->limit == 0 && n > ENS_SUP_PAGE_MAX) {
        (void)ens_reply_to(c, from, ENS_EMSGSIZE, NULL, NULL);
        return;
    }
    if (q->limit != 0 && n > q->limit)
        n = q->limit;
    ens_sup_child_info *rows = calloc(n + 1, sizeof(*rows));
    if (rows == NULL) {
        (void)ens_reply_to(c, from, ENS_ENOMEM, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const sup_child *k = st->kids[from_i + i];
        rows[i] = (ens_sup_child_info){
            .id = k->id,
            .child = ens_addr_is_none(k->addr) ? k->kept : k->addr,
            .type = (char *)k->def->name,
            .status = k->status,
            .is_supervisor = k->is_supervisor ? 1 : 0,
            .restarts = k->restarts,
            .name = k->name != NULL ? k->name : "",
        };
    }
    ens_sup_children_v v = {
        (int32_t)st->flags.strategy, (uint32_t)st->n_kids, (uint32_t)from_i, {rows, (uint32_t)n}};
    int rc = ens_reply_to(c, from, 0, &ens_msg_sup_children, &v);
    if (rc < 0)
        (void)ens_reply_to(c, from, rc, NULL, NULL);
    free(rows);
}

static void count_children(ens_ctx *c, sup_state *st, ens_from from)
{
    ens_sup_counts_v v = {(uint32_t)ens__sup_count(st), 0, 0, 0};
    for (size_t i = 0; i < st->n_kids; i++) {
        const sup_child *k = st->kids[i];
        if (k == NULL)
            continue;
        if (!ens_addr_is_none(k->addr))
            v.active++;
        if (k->is_supervisor)
            v.supervisors++;
        else
            v.workers++;
    }
    (void)ens_reply_to(c, from, 0, &ens_msg_sup_counts, &v);
}

bool ens__sup_is_query(const ens_msg *m)
{
    return ens_msg_value(m, &ens__msg_sup_which) != NULL ||
           ens_msg_value(m, &ens__msg_sup_count) != NULL;
}

void ens__sup_query(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from)
{
    const ens_sup_query_v *q = ens_msg_value(m, &ens__msg_sup_which);
    if (q != NULL)
        which_children(c, st, q, from);
    else
        count_children(c, st, from);
}

/* ---- operations ---------------------------------------------------------- */

/* A dynamic child of the simple_one_for_one template with the start
 * argument in args (the whole of it; none: the template's). */
static sup_child *dynamic_child(const sup_state *st, const ens_bytes *args, int *err)
{
    const sup_child *t = st->tmpl;
    ens_child_spec s = {t->id,          t->def,           NULL, NULL, t->restart, t->shutdown,
                        t->shutdown_ms, t->is_supervisor, NULL}; /* a template has no name */
    if (t->arg != NULL && args->len == 0) {
        s.arg_type = ens_msg_type(t->arg);
        s.arg = ens_msg_value(t->arg, s.arg_type);
    }
    sup_child *k = ens__sup_child_new(&s, err);
    if (k != NULL && args->len > 0) {
        *err = ens_msg_decode(args->data, args->len, &k->arg);
        if (*err < 0) {
            ens__sup_child_free(k);
            return NULL;
        }
    }
    return k;
}

static void start_child(ens_ctx *c, sup_state *st, const ens_sup_config_v *v, ens_from from)
{
    int err = 0;
    sup_child *k = NULL;
    if (st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE) {
        k = v->specs.count == 0 ? dynamic_child(st, &v->args, &err) : NULL;
        if (v->specs.count != 0)
            err = ENS_EINVAL;
    } else if (v->specs.count != 1) {
        err = ENS_EINVAL;
    } else {
        const ens_sup_spec_w *w = v->specs.items;
        if (w->id != NULL && ens__sup_find_id(st, w->id) != NULL)
            err = ENS_EEXIST;
        else if (ens__sup_count(st) >= ENS_SUP_MAX_SPECS)
            err = ENS_ENOBUFS;
        else
            k = ens__sup_child_from_wire(w, &v->args, &err);
    }
    if (k == NULL) {
        reply(c, from, err < 0 ? err : ENS_ENOMEM, ENS_ADDR_NONE);
        return;
    }
    if ((err = ens__sup_add(st, k)) < 0) {
        ens__sup_child_free(k);
        reply(c, from, err, ENS_ADDR_NONE);
        return;
    }
    sup_child **start = malloc(sizeof(*start));
    if (start == NULL) {
        ens__sup_remove(c, st, k);
        reply(c, from, ENS_ENOMEM, ENS_ADDR_NONE);
        return;
    }
    start[0] = k; /* the reply comes once its init has run (or failed) */
    sup_job *j = ens__sup_job_begin(st, JOB_START_CHILD, NULL, 0, start, 1);
    j->target = k;
    j->from = from;
    ens__sup_job_next(c, st);
}

static void terminate_child(ens_ctx *c, sup_state *st, const ens_sup_child_ref_v *v, ens_from from)
{
    const bool simple = st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE;
    sup_child *k = simple ? ens__sup_find_addr(st, v->child) : ens__sup_find_id(st, v->id);
    if (k == NULL) {
        reply(c, from, ENS_ENOENT, ENS_ADDR_NONE);
        return;
    }
    if (ens_addr_is_none(k->addr)) { /* stopped already: OTP answers ok */
        ens__sup_terminated(c, st, k, ENS_ADDR_NONE, -1, from);
        return;
    }
    sup_child **stop = malloc(sizeof(*stop));
    if (stop == NULL) {
        reply(c, from, ENS_ENOMEM, ENS_ADDR_NONE);
        return;
    }
    stop[0] = k;
    sup_job *j = ens__sup_job_begin(st, JOB_TERMINATE, stop, 1, NULL, 0);
    j->target = k;
    j->target_addr = k->addr;
    j->from = from;
    ens__sup_job_next(c, st);
}

void ens__sup_terminated(ens_ctx *c, sup_state *st, sup_child *k, ens_addr addr, int reason,
                         ens_from from)
{
    /* Given up on: its address is freed before the reply, so what the
     * requester sends there next is a dead letter. */
    ens__sup_release(c, k);
    if (k->restart == ENS_TEMPORARY || st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE)
        ens__sup_remove(c, st, k);
    ens__sup_reply(c, from, 0, addr, reason);
}

static void restart_child(ens_ctx *c, sup_state *st, const ens_sup_child_ref_v *v, ens_from from)
{
    if (st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE) {
        reply(c, from, ENS_EINVAL, ENS_ADDR_NONE);
        return;
    }
    sup_child *k = ens__sup_find_id(st, v->id);
    if (k == NULL || !ens_addr_is_none(k->addr)) {
        reply(c, from, k == NULL ? ENS_ENOENT : ENS_EEXIST, k ? k->addr : ENS_ADDR_NONE);
        return;
    }
    sup_child **start = malloc(sizeof(*start));
    if (start == NULL) {
        reply(c, from, ENS_ENOMEM, ENS_ADDR_NONE);
        return;
    }
    start[0] = k; /* the reply comes once its init has run (or failed) */
    sup_job *j = ens__sup_job_begin(st, JOB_RESTART_CHILD, NULL, 0, start, 1);
    j->target = k;
    j->from = from;
    ens__sup_job_next(c, st);
}

static void delete_child(ens_ctx *c, sup_state *st, const ens_sup_child_ref_v *v, ens_from from)
{
    if (st->flags.strategy == ENS_SIMPLE_ONE_FOR_ONE) {
        reply(c, from, ENS_EINVAL, ENS_ADDR_NONE);
        return;
    }
    sup_child *k = ens__sup_find_id(st, v->id);
    if (k == NULL || !ens_addr_is_none(k->addr)) {
        reply(c, from, k == NULL ? ENS_ENOENT : ENS_EEXIST, k ? k->addr : ENS_ADDR_NONE);
        return;
    }
    ens__sup_remove(c, st, k);
    reply(c, from, 0, ENS_ADDR_NONE);
}

/* start_children: n dynamic children in one concurrent start job. */
static void start_children(ens_ctx *c, sup_state *st, const ens_sup_start_many_v *v, ens_from from)
{
    int err = 0;
    if (st->flags.strategy != ENS_SIMPLE_ONE_FOR_ONE || v->n == 0 || v->n > ENS_SPAWN_MANY_MAX)
        err = ENS_EINVAL;
    sup_child **start = err == 0 ? calloc(v->n, sizeof(*start)) : NULL;
    if (err == 0 && start == NULL)
        err = ENS_ENOMEM;
    size_t n = 0;
    for (; err == 0 && n < v->n; n++) {
        sup_child *k = dynamic_child(st, &v->args, &err);
        if (k == NULL) {
            err = err < 0 ? err : ENS_ENOMEM;
            break;
        }
        if ((err = ens__sup_add(st, k)) < 0) {
            ens__sup_child_free(k);
            break;
        }
        start[n] = k;
    }
    if (err < 0) { /* all or nothing before anything starts */
        for (size_t i = 0; i < n; i++)
            ens__sup_remove(c, st, start[i]);
        free(start);
        reply(c, from, err, ENS_ADDR_NONE);
        return;
    }
    sup_job *j = ens__sup_job_begin(st, JOB_START_CHILDREN, NULL, 0, start, n);
    j->from = from;
    ens__sup_job_next(c, st);
}

void ens__sup_started(ens_ctx *c, sup_state *st, sup_child **kids, size_t n, ens_from from)
{
    ens_sup_started_row *rows = calloc(n + 1, sizeof(*rows));
    ens_sup_started_v v = {0, 0, {rows, (uint32_t)n}};
    for (size_t i = 0; i < n; i++) {
        sup_child *k = kids[i];
        int s = ens_addr_is_none(k->addr) ? (k->start_status < 0 ? k->start_status : ENS_EINIT) : 0;
        if (rows != NULL)
            rows[i] = (ens_sup_started_row){k->addr, s, 0};
        if (s == 0)
            v.started++;
        else
            ens__sup_remove(c, st, k); /* as start_child: a child that did not start is dropped */
    }
    int rc = rows != NULL ? ens_reply_to(c, from, 0, &ens_msg_sup_started, &v) : ENS_ENOMEM;
    if (rc < 0)
        (void)ens_reply_to(c, from, rc, NULL, NULL);
    free(rows);
}

bool ens__sup_operation(ens_ctx *c, sup_state *st, const ens_msg *m, ens_from from)
{
    const ens_sup_start_many_v *many = ens_msg_value(m, &ens__msg_sup_start_many);
    if (many != NULL) {
        if (st->job.kind != JOB_NONE)
            return ens__sup_defer(c, st, m, from);
        start_children(c, st, many, from);
        return false;
    }
    const ens_sup_config_v *start = ens_msg_value(m, &ens__msg_sup_start);
    const ens_sup_child_ref_v *term = ens_msg_value(m, &ens__msg_sup_terminate);
    const ens_sup_child_ref_v *rest = ens_msg_value(m, &ens__msg_sup_restart);
    const ens_sup_child_ref_v *del = ens_msg_value(m, &ens__msg_sup_delete);
    if (start == NULL && term == NULL && rest == NULL && del == NULL) {
        if (ens_msg_is_request(m) && !ens_msg_is_system(m))
            (void)ens_reply_to(c, from, ENS_EBADTYPE, NULL, NULL);
        return false;
    }
    if (st->job.kind != JOB_NONE)
        return ens__sup_defer(c, st, m, from);
    if (start != NULL)
        start_child(c, st, start, from);
    else if (term != NULL)
        terminate_child(c, st, term, from);
    else if (rest != NULL)
        restart_child(c, st, rest, from);
    else
        delete_child(c, st, del, from);
    return false;
}

/*
 * supervisor/sup_api.c - the caller's side: ens_supervisor_spawn (the
 * built-in supervisor definition and its encoded configuration) and the
 * operations, each one request: ens_supervisor_<op> sends it from inside an
 * actor (ens_request), ens_supervisor_<op>_wait asks from outside (ens_ask).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/why.h"
#include "ensemble/error.h"
#include "ensemble/system.h"
#include "supervisor/sup_internal.h"

/* ---- the built-in supervisor ------------------------------------------- */

int ens__sup_start_config(ens_ctx *c, void *state, const ens_msg *arg)
{
    const ens_sup_config_v *cfg = arg != NULL ? ens_msg_value(arg, &ens__msg_sup_config) : NULL;
    if (cfg == NULL || cfg->specs.count == 0 || cfg->specs.count > ENS_SUP_MAX_SPECS)
        return ENS_EINVAL;
    sup_state *st = calloc(1, sizeof(*st));
    sup_child **kids = calloc(cfg->specs.count, sizeof(*kids));
    if (st == NULL || kids == NULL) {
        free(st);
        free(kids);
        return ENS_ENOMEM;
    }
    *(sup_state **)state = st;
    st->flags.strategy = (ens_sup_strategy)cfg->strategy;
    st->flags.intensity = cfg->intensity;
    st->flags.period_ms = cfg->period_ms;
    st->flags.start = (ens_sup_start)cfg->start;
    const ens_sup_spec_w *w = cfg->specs.items;
    int rc = 0;
    size_t n = cfg->specs.count;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if ((kids[i] = ens__sup_child_from_wire(&w[i], &cfg->args, &rc)) == NULL && rc == 0)
            rc = ENS_ENOMEM;
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            ens__sup_child_free(kids[i]);
        for (size_t i = 0; i < n; i++)
            kids[i] = NULL;
    }
    /* ens__sup_begin owns the records (and frees st on failure). */
    int rc2 = ens__sup_begin(c, state, st, kids, rc < 0 ? 0 : n);
    free(kids);
    return rc < 0 ? rc : rc2;
}

/* No impl: ens_supervisor_on_init takes the configuration from the start argument. */
const ens_actor_def ens_supervisor_def = {"ens.Supervisor",
                                          sizeof(void *),
                                          ens_supervisor_on_init,
                                          ens_supervisor_on_receive,
                                          ens_supervisor_on_terminate,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL};

int ens_supervisor_spawn(ens_ctx *c, const ens_sup_flags *f, const ens_child_spec *specs, size_t n,
                         ens_addr *out)
{
    ens__errmsg_clear();
    if (c == NULL || f == NULL || specs == NULL || out == NULL)
        return ens__fail(ENS_EINVAL,
                         "ens_supervisor_spawn: an argument is NULL (c, f, specs or out)");
    if (n == 0 || n > ENS_SUP_MAX_SPECS)
        return ens__fail(ENS_EINVAL, "ens_supervisor_spawn: %zu specs (1 to %u)", n,
                         (unsigned)ENS_SUP_MAX_SPECS);
    if ((unsigned)f->strategy > ENS_SIMPLE_ONE_FOR_ONE || f->period_ms == 0 ||
        (unsigned)f->start > ENS_SUP_START_CONCURRENT)
        return ens__fail(ENS_EINVAL, "ens_supervisor_spawn: %s",
                         f->period_ms == 0                               ? "period_ms is 0"
                         : (unsigned)f->start > ENS_SUP_START_CONCURRENT ? "no such start"
                                                                         : "no such strategy");
    if (f->strategy == ENS_SIMPLE_ONE_FOR_ONE && n != 1)
        return ens__fail(ENS_EINVAL, "ens_supervisor_spawn: simple_one_for_one takes one spec");
    for (size_t i = 0; i < n; i++) {
        const char *name = specs[i].name != NULL && specs[i].name[0] != '\0' ? specs[i].name : NULL;
        if (ens__sup_spec_check(&specs[i]) < 0)
            return ens__fail(ENS_EINVAL, "ens_supervisor_spawn: spec %zu (id %s) is invalid", i,
                             specs[i].id != NULL ? specs[i].id : "NULL");
        if (name != NULL && f->strategy == ENS_SIMPLE_ONE_FOR_ONE)
            return ens__fail(ENS_EINVAL,
                             "ens_supervisor_spawn: a simple_one_for_one template has no name");
    }
    int rc = ens__sup_unique(&specs[0].id, sizeof(specs[0]), n);
    if (rc == 0)
        rc = ens__sup_unique(&specs[0].name, sizeof(specs[0]), n);
    if (rc == ENS_EINVAL) /* which: a second look on the failure path only */
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < i; j++) {
                const char *ni = specs[i].name, *nj = specs[j].name;
                if (strcmp(specs[i].id, specs[j].id) == 0 ||
                    (ni != NULL && ni[0] != '\0' && nj != NULL && strcmp(ni, nj) == 0))
                    return ens__fail(ENS_EINVAL,
                                     "ens_supervisor_spawn: specs %zu and %zu share %s %s", j, i,
                                     strcmp(specs[i].id, specs[j].id) == 0 ? "the id" : "the name",
                                     strcmp(specs[i].id, specs[j].id) == 0 ? specs[i].id : ni);
            }
    if (rc < 0)
        return rc;
    ens_sup_config_v cfg;
    rc = ens__sup_config_build(f, specs, n, &cfg);
    if (rc < 0)
        return rc;
    rc = ens_spawn(c, &ens_supervisor_def, &ens__msg_sup_config, &cfg, out);
    if (rc == ENS_EMSGSIZE) { /* say what to do instead (the size: a second encode, here only) */
        uint8_t *frame = NULL;
        size_t len = 0;
        if (ens_msg_encode(&ens__msg_sup_config, &cfg, &frame, &len) == 0)
            ens__fail(rc,
                      "ens_supervisor_spawn: the configuration of %zu specs encodes to %zu bytes, "
                      "above what a start argument carries (ENS_SPAWN_ARG_MAX, %u bytes, on the "
                      "process base); give the specs from a configure callback "
                      "(ENS_SUPERVISOR_DEF): they are not sent",
                      n, len, ENS_SPAWN_ARG_MAX);
        free(frame);
    }
    ens__sup_config_release(&cfg);
    return rc;
}

/* ---- operations ----------------------------------------------------------- */

/* Each operation has two calls: ens_supervisor_<op> sends the request from
 * inside an actor and completes through cb; ens_supervisor_<op>_wait asks
 * from the outside context and blocks for the reply. A call from the other
 * context is ENS_EINVAL, as for ens_ask and ens_request. */
static int sup_send(ens_ctx *c, ens_addr sup, const ens_msgtype *t, const void *v, ens_reply_cb cb,
                    uint64_t tag)
{
    ens__errmsg_clear();
    if (c == NULL || !ens_in_actor(c) || cb == NULL || ens_addr_is_none(sup))
        return ens__fail(ENS_EINVAL, "ens_supervisor: %s",
                         c == NULL || !ens_in_actor(c)
                             ? "called outside an actor (use the _wait call outside)"
                         : cb == NULL ? "cb is NULL"
                                      : "the supervisor address is none");
    return ens_request(c, sup, t, v, ENS_SUP_CALL_TIMEOUT_MS, cb, tag);
}

/* Outside: ask; the reply (owned by the caller, may be an error reply) in
 * *reply, its error code returned. */
static int sup_wait(ens_ctx *c, ens_addr sup, const ens_msgtype *t, const void *v, ens_msg **reply)
{
    *reply = NULL;
    ens__errmsg_clear();
    if (c == NULL || ens_in_actor(c) || ens_addr_is_none(sup))
        return ens__fail(ENS_EINVAL, "ens_supervisor: %s",
                         c == NULL || ens_in_actor(c)
                             ? "the _wait calls are made from the outside context"
                             : "the supervisor address is none");
    int rc = ens_ask(c, sup, t, v, ENS_SUP_CALL_TIMEOUT_MS, reply);
    if (rc == 0 && *reply != NULL && ens_msg_error(*reply) < 0)
        rc = ens_msg_error(*reply);
    return rc;
}

/* ens_errmsg for an operation on child `id` (or at `at`) of sup refused
 * with rc; `held` is the address the refusal carries. */
static void child_refused(const char *call, ens_addr sup, const char *id, ens_addr at, int rc,
                          ens_addr held)
{
    char sup_s[ENS_ADDR_STRLEN], who[ENS_ADDR_STRLEN + 8], held_s[ENS_ADDR_STRLEN];
    ens_addr_format(sup, sup_s, sizeof(sup_s));
    ens_addr_format(at, who, sizeof(who));
    ens_addr_format(held, held_s, sizeof(held_s));
    if (id != NULL)
        snprintf(who, sizeof(who), "%s", id);
    if (rc == ENS_ENOENT)
        ens__errmsg_set("%s: supervisor %s has no child %s", call, sup_s, who);
    else if (rc == ENS_EEXIST && !ens_addr_is_none(held))
        ens__errmsg_set("%s: child %s of supervisor %s runs (at %s)", call, who, sup_s, held_s);
    else if (rc == ENS_EEXIST)
        ens__errmsg_set("%s: supervisor %s has a child %s already", call, sup_s, who);
}

/* Outside: ask, fill *out (may be NULL) with the result's child address on
 * success; a refusal naming the child (id or at) sets ens_errmsg. */
static int wait_result(ens_ctx *c, ens_addr sup, const ens_msgtype *t, const void *v, ens_addr *out,
                       const char *call, const char *id, ens_addr at)
{
    ens_msg *r = NULL;
    int rc = sup_wait(c, sup, t, v, &r);
    const ens_sup_result_v *res = r != NULL ? ens_msg_value(r, &ens_msg_sup_result) : NULL;
    if (rc == 0 && out != NULL && res != NULL)
        *out = res->child;
    if (rc == ENS_ENOENT || rc == ENS_EEXIST)
        child_refused(call, sup, id, at, rc, res != NULL ? res->child : ENS_ADDR_NONE);
    ens_msg_free(r);
    return rc;
}

/* A start argument encoded into *out (owned by the caller: free(out->data)).
 * Errors: those of ens_msg_encode, ENS_EMSGSIZE (over 4 GiB). */
static int encode_arg(const ens_msgtype *argt, const void *arg, ens_bytes *out)
{
    uint8_t *f = NULL;
    size_t len = 0;
    int rc = ens_msg_encode(argt, arg, &f, &len);
    if (rc < 0)
        return rc;
    if (len > UINT32_MAX) {
        free(f);
        return ENS_EMSGSIZE;
    }
    out->data = f;
    out->len = (uint32_t)len;
    return 0;
}

/* The request of start_child: one spec, or (simple_one_for_one) the start
 * argument alone. Release with ens__sup_config_release. */
static int start_request(const ens_child_spec *spec, const ens_msgtype *argt, const void *arg,
                         ens_sup_config_v *cfg)
{
    ens__errmsg_clear();
    if ((argt == NULL) != (arg == NULL) || (spec != NULL && argt != NULL))
        return ens__fail(ENS_EINVAL, "ens_supervisor_start_child: %s",
                         spec != NULL && argt != NULL
                             ? "a spec and a start argument: the spec carries its own"
                             : "argt and arg go together (one is NULL, the other not)");
    if (spec != NULL && ens__sup_spec_check(spec) < 0)
        return ens__fail(ENS_EINVAL, "ens_supervisor_start_child: the spec (id %s) is invalid",
                         spec->id != NULL ? spec->id : "NULL");
    if (spec != NULL)
        return ens__sup_config_build(NULL, spec, 1, cfg);
    memset(cfg, 0, sizeof(*cfg));
    if (argt == NULL)
        return 0;
    return encode_arg(argt, arg, &cfg->args);
}

int ens_supervisor_start_child(ens_ctx *c, ens_addr sup, const ens_child_spec *spec,
                               const ens_msgtype *argt, const void *arg, ens_reply_cb cb,
                               uint64_t tag)
{
    ens_sup_config_v cfg;
    int rc = start_request(spec, argt, arg, &cfg);
    if (rc < 0)
        return rc;
    rc = sup_send(c, sup, &ens__msg_sup_start, &cfg, cb, tag);
    ens__sup_config_release(&cfg);
    return rc;
}

int ens_supervisor_start_child_wait(ens_ctx *outside, ens_addr sup, const ens_child_spec *spec,
                                    const ens_msgtype *argt, const void *arg, ens_addr *out)
{
    ens_sup_config_v cfg;
    int rc = start_request(spec, argt, arg, &cfg);
    if (rc < 0)
        return rc;
    rc =
        wait_result(outside, sup, &ens__msg_sup_start, &cfg, out, "ens_supervisor_start_child_wait",
                    spec != NULL ? spec->id : NULL, ENS_ADDR_NONE);
    ens__sup_config_release(&cfg);
    return rc;
}

/* The request of start_children; release with free(v->args.data). */
static int start_many_request(const char *call, const ens_msgtype *argt, const void *arg, size_t n,
                              ens_sup_start_many_v *v)
{
    ens__errmsg_clear();
    memset(v, 0, sizeof(*v));
    if ((argt == NULL) != (arg == NULL))
        return ens__fail(ENS_EINVAL, "%s: argt and arg go together (one is NULL, the other not)",
                         call);
    if (n == 0 || n > ENS_SPAWN_MANY_MAX)
        return ens__fail(ENS_EINVAL, "%s: %zu children (1 to %u)", call, n,
                         (unsigned)ENS_SPAWN_MANY_MAX);
    v->n = (uint32_t)n;
    if (argt == NULL)
        return 0;
    return encode_arg(argt, arg, &v->args);
}

int ens_supervisor_start_children(ens_ctx *c, ens_addr sup, const ens_msgtype *argt,
                                  const void *arg, size_t n, ens_reply_cb cb, uint64_t tag)
{
    ens_sup_start_many_v v;
    int rc = start_many_request("ens_supervisor_start_children", argt, arg, n, &v);
    if (rc == 0)
        rc = sup_send(c, sup, &ens__msg_sup_start_many, &v, cb, tag);
    free(v.args.data);
    return rc;
}

int ens_supervisor_start_children_wait(ens_ctx *outside, ens_addr sup, const ens_msgtype *argt,
                                       const void *arg, size_t n, ens_addr *out, int *status)
{
    if (out == NULL) {
        ens__errmsg_clear();
        return ens__fail(ENS_EINVAL, "ens_supervisor_start_children_wait: out is NULL");
    }
    ens_sup_start_many_v v;
    int rc = start_many_request("ens_supervisor_start_children_wait", argt, arg, n, &v);
    ens_msg *r = NULL;
    if (rc == 0)
        rc = sup_wait(outside, sup, &ens__msg_sup_start_many, &v, &r);
    free(v.args.data);
    const ens_sup_started_v *res = r != NULL ? ens_msg_value(r, &ens_msg_sup_started) : NULL;
    if (rc == 0 && (res == NULL || res->children.count != n))
        rc = ENS_EBADTYPE; /* not the reply of this request */
    if (rc == 0) {
        const ens_sup_started_row *rows = res->children.items;
        for (size_t i = 0; i < n; i++) {
            out[i] = rows[i].child;
            if (status != NULL)
                status[i] = rows[i].status;
        }
        rc = (int)res->started;
    }
    ens_msg_free(r);
    return rc;
}

int ens_supervisor_terminate_child(ens_ctx *c, ens_addr sup, const char *id, ens_addr child,
                                   ens_reply_cb cb, uint64_t tag)
{
    ens__errmsg_clear();
    if (id == NULL && ens_addr_is_none(child))
        return ens__fail(ENS_EINVAL, "ens_supervisor_terminate_child: neither id nor child given");
    ens_sup_child_ref_v v = {(char *)id, child};
    return sup_send(c, sup, &ens__msg_sup_terminate, &v, cb, tag);
}

int ens_supervisor_terminate_child_wait(ens_ctx *outside, ens_addr sup, const char *id,
                                        ens_addr child)
{
    ens__errmsg_clear();
    if (id == NULL && ens_addr_is_none(child))
        return ens__fail(ENS_EINVAL,
                         "ens_supervisor_terminate_child_wait: neither id nor child given");
    ens_sup_child_ref_v v = {(char *)id, child};
    return wait_result(outside, sup, &ens__msg_sup_terminate, &v, NULL,
                       "ens_supervisor_terminate_child_wait", id, child);
}

int ens_supervisor_restart_child(ens_ctx *c, ens_addr sup, const char *id, ens_reply_cb cb,
                                 uint64_t tag)
{
    ens__errmsg_clear();
    if (id == NULL)
        return ens__fail(ENS_EINVAL, "ens_supervisor_restart_child: id is NULL");
    ens_sup_child_ref_v v = {(char *)id, ENS_ADDR_NONE};
    return sup_send(c, sup, &ens__msg_sup_restart, &v, cb, tag);
}

int ens_supervisor_restart_child_wait(ens_ctx *outside, ens_addr sup, const char *id, ens_addr *out)
{
    ens__errmsg_clear();
    if (id == NULL)
        return ens__fail(ENS_EINVAL, "ens_supervisor_restart_child_wait: id is NULL");
    ens_sup_child_ref_v v = {(char *)id, ENS_ADDR_NONE};
    return wait_result(outside, sup, &ens__msg_sup_restart, &v, out,
                       "ens_supervisor_restart_child_wait", id, ENS_ADDR_NONE);
}

int ens_supervisor_delete_child(ens_ctx *c, ens_addr sup, const char *id, ens_reply_cb cb,
                                uint64_t tag)
{
    ens__errmsg_clear();
    if (id == NULL)
        return ens__fail(ENS_EINVAL, "ens_supervisor_delete_child: id is NULL");
    ens_sup_child_ref_v v = {(char *)id, ENS_ADDR_NONE};
    return sup_send(c, sup, &ens__msg_sup_delete, &v, cb, tag);
}

int ens_supervisor_delete_child_wait(ens_ctx *outside, ens_addr sup, const char *id)
{
    ens__errmsg_clear();
    if (id == NULL)
        return ens__fail(ENS_EINVAL, "ens_supervisor_delete_child_wait: id is NULL");
    ens_sup_child_ref_v v = {(char *)id, ENS_ADDR_NONE};
    return wait_result(outside, sup, &ens__msg_sup_delete, &v, NULL,
                       "ens_supervisor_delete_child_wait", id, ENS_ADDR_NONE);
}

int ens_supervisor_which_children(ens_ctx *c, ens_addr sup, ens_reply_cb cb, uint64_t tag)
{
    ens_sup_query_v v = {0, 0, 0};
    return sup_send(c, sup, &ens__msg_sup_which, &v, cb, tag);
}

/* Outside: ask for the rows of q, *out the reply on success. */
static int which_wait(ens_ctx *outside, ens_addr sup, const ens_sup_query_v *q, ens_msg **out)
{
    ens_msg *r = NULL;
    int rc = sup_wait(outside, sup, &ens__msg_sup_which, q, &r);
    if (rc == 0 && r != NULL && ens_msg_value(r, &ens_msg_sup_children) == NULL)
        rc = ENS_EBADTYPE;
    if (rc == 0 && out != NULL) {
        *out = r;
        r = NULL;
    }
    ens_msg_free(r);
    return rc;
}

int ens_supervisor_which_children_wait(ens_ctx *outside, ens_addr sup, ens_msg **out)
{
    ens_sup_query_v v = {0, 0, 0};
    return which_wait(outside, sup, &v, out);
}

int ens_supervisor_which_children_page(ens_ctx *c, ens_addr sup, uint32_t offset, uint32_t limit,
                                       ens_reply_cb cb, uint64_t tag)
{
    if (limit == 0 || limit > ENS_SUP_PAGE_MAX)
        return ENS_EINVAL;
    ens_sup_query_v v = {0, offset, limit};
    return sup_send(c, sup, &ens__msg_sup_which, &v, cb, tag);
}

int ens_supervisor_which_children_page_wait(ens_ctx *outside, ens_addr sup, uint32_t offset,
                                            uint32_t limit, ens_msg **out)
{
    if (limit == 0 || limit > ENS_SUP_PAGE_MAX)
        return ENS_EINVAL;
    ens_sup_query_v v = {0, offset, limit};
    return which_wait(outside, sup, &v, out);
}

int ens_supervisor_count_children(ens_ctx *c, ens_addr sup, ens_reply_cb cb, uint64_t tag)
{
    ens_sup_query_v v = {0, 0, 0};
    return sup_send(c, sup, &ens__msg_sup_count, &v, cb, tag);
}

int ens_supervisor_count_children_wait(ens_ctx *outside, ens_addr sup, ens_sup_counts_v *out)
{
    ens_sup_query_v v = {0, 0, 0};
    ens_msg *r = NULL;
    int rc = sup_wait(outside, sup, &ens__msg_sup_count, &v, &r);
    const ens_sup_counts_v *n = r != NULL ? ens_msg_value(r, &ens_msg_sup_counts) : NULL;
    if (rc == 0 && r != NULL && n == NULL)
        rc = ENS_EBADTYPE;
    if (rc == 0 && out != NULL && n != NULL)
        *out = *n;
    ens_msg_free(r);
    return rc;
}

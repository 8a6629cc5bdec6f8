/*
 * supervisor/sup_api.c - the caller's side: ens_supervisor_spawn (the
 * built-in supervisor definition and its encoded configuration) and the
 * operations, each one request that is asynchronous inside an actor
 * (ens_request) and blocking outside (ens_ask).
 */
#include <stdlib.h>
#include <string.h>

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
const ens_actor_def ens_supervisor_def = {
    "ens.Supervisor",
    sizeof(void *),
    ens_supervisor_on_init,
    ens_supervisor_on_receive,
    ens_supervisor_on_terminate,
    NULL,
    NULL,
};

int ens_supervisor_spawn(ens_ctx *c, const ens_sup_flags *f, const ens_child_spec *specs, size_t n,
                         ens_addr *out)
{
    if (c == NULL || f == NULL || specs == NULL || out == NULL || n == 0 || n > ENS_SUP_MAX_SPECS ||
        (unsigned)f->strategy > ENS_SIMPLE_ONE_FOR_ONE || f->period_ms == 0 ||
        (f->strategy == ENS_SIMPLE_ONE_FOR_ONE && n != 1))
        return ENS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const char *name = specs[i].name != NULL && specs[i].name[0] != '\0' ? specs[i].name : NULL;
        if (ens__sup_spec_check(&specs[i]) < 0 ||
            (name != NULL && f->strategy == ENS_SIMPLE_ONE_FOR_ONE))
            return ENS_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[i].id, specs[j].id) == 0 ||
                (name != NULL && specs[j].name != NULL && strcmp(name, specs[j].name) == 0))
                return ENS_EINVAL;
    }
    ens_sup_config_v cfg;
    int rc = ens__sup_config_build(f, specs, n, &cfg);
    if (rc < 0)
        return rc;
    rc = ens_spawn(c, &ens_supervisor_def, &ens__msg_sup_config, &cfg, out);
    ens__sup_config_release(&cfg);
    return rc;
}

/* ---- operations ----------------------------------------------------------- */

/* Send one operation: inside, a request completed through cb; outside, an
 * ask whose reply is returned in *reply (owned by the caller). */
static int sup_call(ens_ctx *c, ens_addr sup, const ens_msgtype *t, const void *v, ens_reply_cb cb,
                    uint64_t tag, ens_msg **reply)
{
    if (c == NULL || ens_addr_is_none(sup))
        return ENS_EINVAL;
    if (ens_in_actor(c)) {
        if (cb == NULL)
            return ENS_EINVAL;
        return ens_request(c, sup, t, v, ENS_SUP_CALL_TIMEOUT_MS, cb, tag);
    }
    if (cb != NULL)
        return ENS_EINVAL;
    int rc = ens_ask(c, sup, t, v, ENS_SUP_CALL_TIMEOUT_MS, reply);
    if (rc == 0 && *reply != NULL && ens_msg_error(*reply) < 0)
        rc = ens_msg_error(*reply);
    return rc;
}

/* The child address of a result reply. */
static void result_addr(const ens_msg *r, ens_addr *out)
{
    const ens_sup_result_v *v = r != NULL ? ens_msg_value(r, &ens_msg_sup_result) : NULL;
    if (out != NULL && v != NULL)
        *out = v->child;
}

/* Outside: ask, fill *out with the result's address on success. */
static int call_result(ens_ctx *c, ens_addr sup, const ens_msgtype *t, const void *v,
                       ens_reply_cb cb, uint64_t tag, ens_addr *out)
{
    if (c != NULL && ens_in_actor(c) && out != NULL)
        return ENS_EINVAL;
    ens_msg *r = NULL;
    int rc = sup_call(c, sup, t, v, cb, tag, &r);
    if (rc == 0 && r != NULL)
        result_addr(r, out);
    ens_msg_free(r);
    return rc;
}

int ens_supervisor_start_child(ens_ctx *c, ens_addr sup, const ens_child_spec *spec,
                               const ens_msgtype *argt, const void *arg, ens_reply_cb cb,
                               uint64_t tag, ens_addr *out)
{
    if ((argt == NULL) != (arg == NULL) || (spec != NULL && argt != NULL))
        return ENS_EINVAL;
    ens_sup_config_v cfg;
    int rc;
    if (spec != NULL) {
        rc = ens__sup_config_build(NULL, spec, 1, &cfg);
    } else {
        memset(&cfg, 0, sizeof(cfg));
        rc = 0;
        if (argt != NULL) {
            uint8_t *f = NULL;
            size_t len = 0;
            rc = ens_msg_encode(argt, arg, &f, &len);
            if (rc == 0 && len > UINT32_MAX) {
                free(f);
                rc = ENS_EMSGSIZE;
            }
            if (rc == 0) {
                cfg.args.data = f;
                cfg.args.len = (uint32_t)len;
            }
        }
    }
    if (rc < 0)
        return rc;
    rc = call_result(c, sup, &ens__msg_sup_start, &cfg, cb, tag, out);
    ens__sup_config_release(&cfg);
    return rc;
}

int ens_supervisor_terminate_child(ens_ctx *c, ens_addr sup, const char *id, ens_addr child,
                                   ens_reply_cb cb, uint64_t tag)
{
    if (id == NULL && ens_addr_is_none(child))
        return ENS_EINVAL;
    ens_sup_child_ref_v v = {(char *)id, child};
    return call_result(c, sup, &ens__msg_sup_terminate, &v, cb, tag, NULL);
}

int ens_supervisor_restart_child(ens_ctx *c, ens_addr sup, const char *id, ens_reply_cb cb,
                                 uint64_t tag, ens_addr *out)
{
    if (id == NULL)
        return ENS_EINVAL;
    ens_sup_child_ref_v v = {(char *)id, ENS_ADDR_NONE};
    return call_result(c, sup, &ens__msg_sup_restart, &v, cb, tag, out);
}

int ens_supervisor_delete_child(ens_ctx *c, ens_addr sup, const char *id, ens_reply_cb cb,
                                uint64_t tag)
{
    if (id == NULL)
        return ENS_EINVAL;
    ens_sup_child_ref_v v = {(char *)id, ENS_ADDR_NONE};
    return call_result(c, sup, &ens__msg_sup_delete, &v, cb, tag, NULL);
}

int ens_supervisor_which_children(ens_ctx *c, ens_addr sup, ens_reply_cb cb, uint64_t tag,
                                  ens_msg **out)
{
    if (c != NULL && ens_in_actor(c) && out != NULL)
        return ENS_EINVAL;
    ens_sup_query_v v = {0};
    ens_msg *r = NULL;
    int rc = sup_call(c, sup, &ens__msg_sup_which, &v, cb, tag, &r);
    if (rc == 0 && r != NULL && ens_msg_value(r, &ens_msg_sup_children) == NULL)
        rc = ENS_EBADTYPE;
    if (rc == 0 && out != NULL) {
        *out = r;
        r = NULL;
    }
    ens_msg_free(r);
    return rc;
}

int ens_supervisor_count_children(ens_ctx *c, ens_addr sup, ens_reply_cb cb, uint64_t tag,
                                  ens_sup_counts_v *out)
{
    if (c != NULL && ens_in_actor(c) && out != NULL)
        return ENS_EINVAL;
    ens_sup_query_v v = {0};
    ens_msg *r = NULL;
    int rc = sup_call(c, sup, &ens__msg_sup_count, &v, cb, tag, &r);
    const ens_sup_counts_v *n = r != NULL ? ens_msg_value(r, &ens_msg_sup_counts) : NULL;
    if (rc == 0 && r != NULL && n == NULL)
        rc = ENS_EBADTYPE;
    if (rc == 0 && out != NULL && n != NULL)
        *out = *n;
    ens_msg_free(r);
    return rc;
}

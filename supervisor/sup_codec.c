/*
 * supervisor/sup_codec.c - the supervisor's message types, and child specs
 * turned into owned records and into bytes.
 *
 * A supervisor keeps the start argument of each child for as long as the
 * child may be restarted, and specs travel to a supervisor in a message
 * (ens_supervisor_spawn, start_child). Both need a start argument as bytes:
 * the encoded frame of (type, value), which decodes anywhere the type is
 * registered (ens_msg_encode / ens_msg_decode).
 */
#include <stdlib.h>
#include <string.h>

#include "core/wire/msgtype.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"
#include "supervisor/sup_internal.h"

#define SPEC_W_FMT "S(ssUiiuiuus)"

/* Built-in types (ENS__BUILTIN_MSGTYPE): known in every process without a
 * registration call; each id is its name's FNV-1a hash (checked when the
 * type table starts). */
const ens_msgtype ens__msg_sup_config = {"ens.sup.Config",
                                         "S(iuui)A(" SPEC_W_FMT ")B",
                                         sizeof(ens_sup_config_v),
                                         ENS_SUP_MAX_SPECS,
                                         0xFA22E777u,
                                         NULL};
const ens_msgtype ens__msg_sup_start = {"ens.sup.StartChild",
                                        "S(iuui)A(" SPEC_W_FMT ")B",
                                        sizeof(ens_sup_config_v),
                                        1,
                                        0xD021059Fu,
                                        NULL};
const ens_msgtype ens__msg_sup_terminate = {"ens.sup.TerminateChild",
                                            "S(s" ENS_ADDR_FMT ")",
                                            sizeof(ens_sup_child_ref_v),
                                            0,
                                            0x6BE391E2u,
                                            NULL};
const ens_msgtype ens__msg_sup_restart = {"ens.sup.RestartChild",
                                          "S(s" ENS_ADDR_FMT ")",
                                          sizeof(ens_sup_child_ref_v),
                                          0,
                                          0x2F09716Au,
                                          NULL};
const ens_msgtype ens__msg_sup_delete = {"ens.sup.DeleteChild",
                                         "S(s" ENS_ADDR_FMT ")",
                                         sizeof(ens_sup_child_ref_v),
                                         0,
                                         0x679877C0u,
                                         NULL};
const ens_msgtype ens__msg_sup_which = {
    "ens.sup.WhichChildren", "S(iuu)", sizeof(ens_sup_query_v), 0, 0x8EAD815Du, NULL};
const ens_msgtype ens__msg_sup_count = {
    "ens.sup.CountChildren", "S(iuu)", sizeof(ens_sup_query_v), 0, 0x53FBD9A3u, NULL};
const ens_msgtype ens_msg_sup_result = {
    "ens.sup.Result", "S(" ENS_ADDR_FMT "ii)", sizeof(ens_sup_result_v), 0, 0x56058ED4u, NULL};
const ens_msgtype ens_msg_sup_children = {"ens.sup.Children",
                                          "S(iuu)A(S(s" ENS_ADDR_FMT "siius))",
                                          sizeof(ens_sup_children_v),
                                          ENS_SUP_PAGE_MAX,
                                          0xE4CB7AA2u,
                                          NULL};
const ens_msgtype ens_msg_sup_counts = {"ens.sup.Counts", "S(uuuu)", sizeof(ens_sup_counts_v), 0,
                                        0x98322AD5u,      NULL};
const ens_msgtype ens__msg_sup_start_many = {
    "ens.sup.StartChildren", "S(uu)B", sizeof(ens_sup_start_many_v), 0, 0xEEA062C8u, NULL};
const ens_msgtype ens_msg_sup_started = {"ens.sup.Started",
                                         "S(uu)A(S(" ENS_ADDR_FMT "ii))",
                                         sizeof(ens_sup_started_v),
                                         ENS_SPAWN_MANY_MAX,
                                         0x796A4BEEu,
                                         NULL};
ENS__BUILTIN_MSGTYPE(ens__msg_sup_start_many);
ENS__BUILTIN_MSGTYPE(ens_msg_sup_started);
ENS__BUILTIN_MSGTYPE(ens__msg_sup_config);
ENS__BUILTIN_MSGTYPE(ens__msg_sup_start);
ENS__BUILTIN_MSGTYPE(ens__msg_sup_terminate);
ENS__BUILTIN_MSGTYPE(ens__msg_sup_restart);
ENS__BUILTIN_MSGTYPE(ens__msg_sup_delete);
ENS__BUILTIN_MSGTYPE(ens__msg_sup_which);
ENS__BUILTIN_MSGTYPE(ens__msg_sup_count);
ENS__BUILTIN_MSGTYPE(ens_msg_sup_result);
ENS__BUILTIN_MSGTYPE(ens_msg_sup_children);
ENS__BUILTIN_MSGTYPE(ens_msg_sup_counts);

/* ---- start arguments as bytes ------------------------------------------ */

int ens__sup_copy_arg(const ens_msgtype *t, const void *v, ens_msg **out)
{
    *out = NULL;
    if (t == NULL && v == NULL)
        return 0;
    uint8_t *f = NULL;
    size_t len = 0;
    int rc = ens_msg_encode(t, v, &f, &len);
    if (rc < 0)
        return rc;
    rc = ens_msg_decode(f, len, out);
    free(f);
    return rc;
}

/* ---- child records ----------------------------------------------------- */

int ens__sup_spec_check(const ens_child_spec *s)
{
    if (s == NULL || s->id == NULL || s->id[0] == '\0' || strlen(s->id) > SUP_ID_MAX ||
        s->def == NULL || s->def->name == NULL ||
        (s->def->receive == NULL && s->def->dispatch == NULL))
        return ENS_EINVAL;
    if ((unsigned)s->restart > ENS_TEMPORARY || (unsigned)s->shutdown > ENS_SHUTDOWN_INFINITY)
        return ENS_EINVAL;
    if ((s->arg_type == NULL) != (s->arg == NULL))
        return ENS_EINVAL;
    if (s->name != NULL && s->name[0] != '\0' && !ens_name_valid(s->name))
        return ENS_EINVAL;
    return 0;
}

static sup_child *child_alloc(const char *id, const ens_actor_def *def, int restart, int shutdown,
                              uint32_t shutdown_ms, bool is_sup, const char *name)
{
    sup_child *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    k->id = strdup(id);
    if (name != NULL && name[0] != '\0')
        k->name = strdup(name);
    if (k->id == NULL || (name != NULL && name[0] != '\0' && k->name == NULL)) {
        free(k->id);
        free(k->name);
        free(k);
        return NULL;
    }
    k->def = def;
    k->restart = (ens_restart)restart;
    k->shutdown = (ens_shutdown)shutdown;
    k->shutdown_ms = shutdown_ms;
    k->is_supervisor = is_sup;
    k->status = ENS_SUP_CHILD_STOPPED;
    return k;
}

sup_child *ens__sup_child_new(const ens_child_spec *s, int *err)
{
    *err = ens__sup_spec_check(s);
    if (*err < 0)
        return NULL;
    sup_child *k = child_alloc(s->id, s->def, s->restart, s->shutdown, s->shutdown_ms,
                               s->is_supervisor, s->name);
    if (k == NULL) {
        *err = ENS_ENOMEM;
        return NULL;
    }
    *err = ens__sup_copy_arg(s->arg_type, s->arg, &k->arg);
    if (*err < 0) {
        ens__sup_child_free(k);
        return NULL;
    }
    return k;
}

/* The definition a wire spec names: the registered one of that name, else
 * the pointer (same program image), checked against the name. */
static const ens_actor_def *wire_def(const ens_sup_spec_w *w)
{
    if (w->def_name == NULL)
        return NULL;
    const ens_actor_def *d = ens_actor_find(w->def_name);
    if (d != NULL)
        return d;
    d = (const ens_actor_def *)(uintptr_t)w->def_ptr;
    if (d == NULL || d->name == NULL || strcmp(d->name, w->def_name) != 0)
        return NULL;
    return d;
}

sup_child *ens__sup_child_from_wire(const ens_sup_spec_w *w, const ens_bytes *args, int *err)
{
    ens_child_spec s = ENS_CHILD_SPEC_INIT;
    s.id = w->id;
    s.def = wire_def(w);
    s.restart = (ens_restart)w->restart;
    s.shutdown = (ens_shutdown)w->shutdown;
    s.shutdown_ms = w->shutdown_ms;
    s.is_supervisor = w->is_supervisor != 0;
    s.name = w->name;
    *err = ens__sup_spec_check(&s);
    if (*err < 0)
        return NULL;
    if (w->args_len > 0 && ((uint64_t)w->args_off + w->args_len > args->len)) {
        *err = ENS_EINVAL;
        return NULL;
    }
    sup_child *k =
        child_alloc(s.id, s.def, s.restart, s.shutdown, s.shutdown_ms, s.is_supervisor, s.name);
    if (k == NULL) {
        *err = ENS_ENOMEM;
        return NULL;
    }
    if (w->args_len > 0) {
        *err = ens_msg_decode((const uint8_t *)args->data + w->args_off, w->args_len, &k->arg);
        if (*err < 0) {
            ens__sup_child_free(k);
            return NULL;
        }
    }
    *err = 0;
    return k;
}

void ens__sup_child_free(sup_child *k)
{
    if (k == NULL)
        return;
    ens_msg_free(k->arg);
    free(k->id);
    free(k->name);
    free(k);
}

/* ---- uniqueness of ids and names ---------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ens__sup_unique(const char *const *strs, size_t stride, size_t n)
{
    const char **v = malloc((n + 1) * sizeof(*v));
    if (v == NULL)
        return ENS_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *x = *(const char *const *)((const char *)strs + i * stride);
        if (x != NULL && x[0] != '\0')
            v[m++] = x;
    }
    qsort(v, m, sizeof(*v), cmp_str);
    int rc = 0;
    for (size_t i = 1; rc == 0 && i < m; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            rc = ENS_EINVAL;
    free(v);
    return rc;
}

/* ---- specs into a config message ----------------------------------------- */

int ens__sup_config_build(const ens_sup_flags *f, const ens_child_spec *specs, size_t n,
                          ens_sup_config_v *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    if (f != NULL) {
        cfg->strategy = (int32_t)f->strategy;
        cfg->intensity = f->intensity;
        cfg->period_ms = f->period_ms;
        cfg->start = (int32_t)f->start;
    }
    if (n == 0)
        return 0;
    ens_sup_spec_w *w = calloc(n, sizeof(*w));
    if (w == NULL)
        return ENS_ENOMEM;
    cfg->specs.items = w;
    cfg->specs.count = (uint32_t)n;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    for (size_t i = 0; i < n; i++) {
        const ens_child_spec *s = &specs[i];
        int rc = ens__sup_spec_check(s);
        if (rc < 0) {
            free(blob);
            ens__sup_config_release(cfg);
            return rc;
        }
        w[i].id = (char *)s->id;
        w[i].def_name = (char *)s->def->name;
        w[i].def_ptr = (uint64_t)(uintptr_t)s->def;
        w[i].restart = (int32_t)s->restart;
        w[i].shutdown = (int32_t)s->shutdown;
        w[i].shutdown_ms = s->shutdown_ms;
        w[i].is_supervisor = s->is_supervisor ? 1 : 0;
        w[i].name = (char *)s->name;
        if (s->arg_type == NULL)
            continue;
        uint8_t *f1 = NULL;
        size_t len = 0;
        rc = ens_msg_encode(s->arg_type, s->arg, &f1, &len);
        uint8_t *nb =
            rc == 0 && blob_len + len <= UINT32_MAX ? realloc(blob, blob_len + len) : NULL;
        if (nb == NULL) {
            free(f1);
            free(blob);
            ens__sup_config_release(cfg);
            return rc < 0 ? rc : ENS_ENOMEM;
        }
        blob = nb;
        memcpy(blob + blob_len, f1, len);
        free(f1);
        w[i].args_off = (uint32_t)blob_len;
        w[i].args_len = (uint32_t)len;
        blob_len += len;
    }
    cfg->args.data = blob;
    cfg->args.len = (uint32_t)blob_len;
    return 0;
}

void ens__sup_config_release(ens_sup_config_v *cfg)
{
    free(cfg->specs.items);
    free(cfg->args.data);
    cfg->specs.items = NULL;
    cfg->args.data = NULL;
}

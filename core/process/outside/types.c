/*
 * core/process/outside/types.c - ens_system_types (ensemble/system.h): a
 * program learns the message types of the system it started or connected
 * to. On the process base the admin answers (core/process/proc_types.h);
 * on the inproc base this process's table is the system's.
 */
#include <stdlib.h>

#include "core/process/proc_types.h"
#include "core/runtime/runtime.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

static int walk(const ens_type_desc *types, size_t n, ens_type_desc_cb cb, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        int rc = cb(&types[i], arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ens_system_types(ens_system *s, uint32_t timeout_ms, ens_type_desc_cb cb, void *arg)
{
    ens__errmsg_clear();
    if (s == NULL || cb == NULL)
        return ens__fail(ENS_EINVAL, "ens_system_types: %s is NULL", s == NULL ? "s" : "cb");
    int wrong = ens__outside_check(&s->outside);
    if (wrong < 0)
        return wrong;
    if (s->outside_ops == NULL) /* an actor process has no outside endpoint */
        return ens__fail(ENS_EINVAL, "ens_system_types: called inside an actor process");
    if (s->down)
        return ENS_ESHUTDOWN;
    if (s->opts.base != ENS_BASE_PROCESS) {
        ens_type_desc *types = NULL;
        size_t n = 0;
        int rc = ens__types_snapshot(&types, &n);
        if (rc == 0)
            rc = walk(types, n, cb, arg);
        free(types);
        return rc;
    }
    ens_msg *m = NULL;
    uint64_t corr = ens__outside_expect(s);
    int rc = ens__outside_await(s, ens__po_types_request(s, corr), timeout_ms, &m);
    if (rc < 0) {
        ens_msg_free(m);
        return rc;
    }
    const ens__type_list_v *v = ens_msg_value(m, &ens__msg_type_list);
    rc = v != NULL ? walk(v->types.items, v->types.count, cb, arg) : ENS_EBADTYPE;
    ens_msg_free(m);
    return rc;
}

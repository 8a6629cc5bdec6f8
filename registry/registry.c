/*
 * registry/registry.c - global names (ensemble/registry.h), independent of
 * the system base.
 *
 * Everything here checks arguments, encodes what has to travel, and hands
 * one request to the base's name table through ens__host_ops.names: the
 * inproc base answers from the table in the system (core/inproc/inproc.c), the
 * process base asks the admin, which owns the system's one table and is
 * single-threaded, so create-or-get is atomic by construction
 * (core/process/admin/proc_names.c). Sending by name is a lookup followed by an ordinary
 * send, so ordering per sender and receiver is the same as by address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime/runtime.h"
#include "core/wire/why.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"
#include "registry/registry_internal.h"

bool ens_name_valid(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return false;
    char first = name[0];
    if (!((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z') ||
          (first >= '0' && first <= '9') || first == '_'))
        return false;
    size_t n = 0;
    for (const char *p = name; *p != '\0'; p++, n++) {
        char ch = *p;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' || ch == '/';
        if (!ok || n >= ENS_NAME_MAX)
            return false;
    }
    return true;
}

/* ens_errmsg for an invalid name argument of `call`. */
static int bad_name(const char *call, const char *name)
{
    return ens__fail(ENS_EINVAL, "%s: %s%.*s%s is not a valid global name", call,
                     name != NULL ? "\"" : "", name != NULL ? ENS_NAME_MAX : 0,
                     name != NULL ? name : "NULL", name != NULL ? "\"" : "");
}

/* ens_errmsg for a name request the table refused with rc. */
static void names_refused(ens_ctx *c, const char *call, const char *name, int rc)
{
    if (rc == ENS_ENOENT && name != NULL) {
        ens__errmsg_set("%s: no actor is named %s", call, name);
    } else if (rc == ENS_ENOENT) {
        ens__errmsg_set("%s: this actor has no global name", call);
    } else if (rc == ENS_EEXIST) {
        ens_names_req req = {.op = ENS_NAMES_LOOKUP, .name = name};
        char holder[ENS_ADDR_STRLEN] = "";
        if (c->sys->host->names(c->sys, c->actor, &req) == 0 && !ens_addr_equal(req.addr, c->self))
            ens_addr_format(req.addr, holder, sizeof(holder));
        if (holder[0] != '\0')
            ens__errmsg_set("%s: the name %s is taken by %s", call, name, holder);
        else
            ens__errmsg_set("%s: this actor has a global name already, not %s", call, name);
    }
}

/* Hand req to the base; frames in req are taken in every case. */
static int names_call(ens_ctx *c, ens_names_req *req)
{
    int wrong = ens__outside_check(c);
    if (wrong < 0) {
        free(req->frame);
        return wrong;
    }
    ens_system *s = c->sys;
    if (s->down || s->host->names == NULL) {
        free(req->frame);
        return s->down ? ENS_ESHUTDOWN : ENS_ENOTSUP;
    }
    return s->host->names(s, c->actor, req);
}

int ens_name_spawn(ens_ctx *c, const char *name, const ens_actor_def *d, const ens_msgtype *argt,
                   const void *arg, ens_addr *out)
{
    return ens_name_spawn_flags(c, name, d, argt, arg, 0, out);
}

int ens_name_spawn_flags(ens_ctx *c, const char *name, const ens_actor_def *d,
                         const ens_msgtype *argt, const void *arg, uint32_t flags, ens_addr *out)
{
    ens__errmsg_clear();
    if (flags & ~ENS__SPAWN_PUBLIC)
        return ens__fail(ENS_EINVAL, "ens_name_spawn_flags: unknown flags 0x%x",
                         (unsigned)(flags & ~ENS__SPAWN_PUBLIC));
    return ens__name_spawn(c, name, d, argt, arg, flags, out);
}

int ens__name_spawn(ens_ctx *c, const char *name, const ens_actor_def *d, const ens_msgtype *argt,
                    const void *arg, uint32_t flags, ens_addr *out)
{
    if (!ens_name_valid(name))
        return bad_name("ens_name_spawn", name);
    uint8_t *frame = NULL;
    size_t len = 0;
    int prep = ens__spawn_prepare(c, d, argt, arg, flags, out, &frame, &len);
    if (prep < 0)
        return prep;
    ens_system *s = c->sys;
    ens_names_req req = {
        .op = ENS_NAMES_SPAWN,
        .name = name,
        .def = d,
        .frame = frame,
        .len = len,
        .sync = c->actor == NULL,
        .flags = flags,
    };
    int rc = names_call(c, &req);
    if (rc < 0)
        return rc;
    if (rc == 0 && c->actor != NULL && ens__actor_add_child(c->actor, req.addr) < 0) {
        /* As ens_spawn: a child its parent cannot note is stopped. */
        ens__send_frame(s, c->self, req.addr, &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM, 0, 0,
                        false);
        return ENS_ENOMEM;
    }
    *out = req.addr;
    return rc;
}

int ens_name_lookup(ens_ctx *c, const char *name, ens_addr *out)
{
    ens__errmsg_clear();
    if (c == NULL || out == NULL)
        return ens__fail(ENS_EINVAL, "ens_name_lookup: %s is NULL", c == NULL ? "c" : "out");
    if (!ens_name_valid(name))
        return bad_name("ens_name_lookup", name);
    ens_names_req req = {.op = ENS_NAMES_LOOKUP, .name = name};
    int rc = names_call(c, &req);
    if (rc < 0)
        names_refused(c, "ens_name_lookup", name, rc);
    if (rc < 0)
        return rc;
    *out = req.addr;
    return 0;
}

int ens_name_register(ens_ctx *c, const char *name)
{
    ens__errmsg_clear();
    if (c == NULL || c->actor == NULL)
        return ens__fail(ENS_EINVAL, "ens_name_register: %s",
                         c == NULL ? "the context is NULL" : "called outside an actor");
    if (!ens_name_valid(name))
        return bad_name("ens_name_register", name);
    ens_names_req req = {.op = ENS_NAMES_REGISTER, .name = name};
    int rc = names_call(c, &req);
    if (rc < 0)
        names_refused(c, "ens_name_register", name, rc);
    return rc < 0 ? rc : 0;
}

int ens_name_unregister(ens_ctx *c)
{
    ens__errmsg_clear();
    if (c == NULL || c->actor == NULL)
        return ens__fail(ENS_EINVAL, "ens_name_unregister: %s",
                         c == NULL ? "the context is NULL" : "called outside an actor");
    ens_names_req req = {.op = ENS_NAMES_UNREGISTER};
    int rc = names_call(c, &req);
    if (rc < 0)
        names_refused(c, "ens_name_unregister", NULL, rc);
    return rc < 0 ? rc : 0;
}

int ens_name_send(ens_ctx *c, const char *name, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    if (c == NULL || t == NULL || v == NULL)
        return ens__fail(ENS_EINVAL, "ens_name_send: %s is NULL",
                         c == NULL   ? "the context"
                         : t == NULL ? "the message type"
                                     : "the value");
    if (!ens_name_valid(name))
        return bad_name("ens_name_send", name);
    ens_addr to = ENS_ADDR_NONE;
    int rc = ens_name_lookup(c, name, &to);
    if (rc == 0)
        return ens_send(c, to, t, v);
    if (rc != ENS_ENOENT)
        return rc;
    ens__errmsg_clear(); /* not a failure: a dead letter */
    /* No such name: the message is built as if sent, to nobody, and goes
     * to the dead-letter rules with a reason that names the name. */
    ens_system *s = c->sys;
    ens_frame_hdr h = {.target = ENS_ADDR_NONE, .sender = c->self, .attempt = 1};
    uint8_t *frame = NULL;
    size_t len = 0;
    rc = ens__frame_build(t, v, &h, s->opts.max_frame_bytes, &frame, &len);
    if (rc < 0)
        return rc;
    char reason[ENS_NAME_MAX + 32];
    snprintf(reason, sizeof(reason), "no such name: %s", name);
    ens_names_req req = {.op = ENS_NAMES_DEAD, .frame = frame, .len = len, .reason = reason};
    rc = names_call(c, &req);
    return rc < 0 ? rc : 0;
}

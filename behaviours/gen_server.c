/*
 * behaviours/gen_server.c - OTP's gen_server on top of the core's requests.
 *
 * A gen_server is a plain actor whose receive sorts messages into the
 * callbacks of ens_gen_server_cbs (see ensemble/gen_server.h): requests to
 * handle_call, casts to handle_cast, everything else to handle_info. All the
 * hard parts live in the core and are the same for every actor: correlation
 * of replies, timeouts and dropping late replies (ens_request / ens_call),
 * holding other messages while an ens_call waits, and the retry-then-poison
 * rule whose PoisonMessage completes the caller's request with ENS_EPOISON.
 * So this file only dispatches, and the behaviour cannot drift from what a
 * hand-written actor gets.
 */
#include "ensemble/gen_server.h"
#include "core/wire/why.h"

#include <stddef.h>

#include "ensemble/error.h"
#include "ensemble/system.h"

/* The callbacks of the running server: its definition's impl
 * (ENS_GEN_SERVER_DEF puts them there). */
static const ens_gen_server_cbs *cbs_of(const ens_ctx *c)
{
    const ens_actor_def *d = ens_self_def(c);
    return d != NULL ? (const ens_gen_server_cbs *)d->impl : NULL;
}

int ens_gen_server_on_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    const ens_gen_server_cbs *cbs = cbs_of(c);
    if (cbs == NULL)
        return ENS_EINVAL; /* a definition without callbacks cannot run */
    return cbs->init != NULL ? cbs->init(c, state, arg) : 0;
}

int ens_gen_server_on_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    const ens_gen_server_cbs *cbs = cbs_of(c);
    if (cbs == NULL)
        return 0;
    /* System messages first: they are never calls or casts, whatever
     * flags they carry, and handle_info is where OTP puts them. */
    if (ens_msg_is_system(m))
        return cbs->handle_info != NULL ? cbs->handle_info(c, state, m) : 0;
    if (ens_msg_is_request(m)) {
        if (cbs->handle_call == NULL) {
            /* Not an error of the server's: answer at once, no poison. */
            (void)ens_reply_error(c, ENS_ENOTSUP, NULL, NULL);
            return 0;
        }
        /* handle_call gets the call's ens_from to keep: the runtime
         * cannot see whether it did, so a handle_call that returns without
         * replying keeps the call open (OTP's noreply) rather than have
         * it answered ENS_ENOREPLY (ens_from_current marks it kept). */
        return cbs->handle_call(c, state, m, ens_from_current(c));
    }
    if (ens_msg_is_cast(m))
        return cbs->handle_cast != NULL ? cbs->handle_cast(c, state, m) : 0;
    return cbs->handle_info != NULL ? cbs->handle_info(c, state, m) : 0;
}

void ens_gen_server_on_terminate(ens_ctx *c, void *state, int reason)
{
    const ens_gen_server_cbs *cbs = cbs_of(c);
    if (cbs != NULL && cbs->terminate != NULL)
        cbs->terminate(c, state, reason);
}

int ens_gen_server_call(ens_ctx *c, ens_addr server, const ens_msgtype *t, const void *v,
                        uint32_t timeout_ms, ens_reply_cb cb, uint64_t tag, ens_msg **reply)
{
    ens__errmsg_clear();
    if (c == NULL || t == NULL || ens_addr_is_none(server))
        return ens__fail(ENS_EINVAL, "ens_gen_server_call: %s",
                         c == NULL   ? "the context is NULL"
                         : t == NULL ? "the message type is NULL"
                                     : "the server address is none");
    if (ens_in_actor(c)) {
        if (cb == NULL || reply != NULL)
            return ens__fail(ENS_EINVAL, "ens_gen_server_call: in an actor, give cb and no reply");
        return ens_call(c, server, t, v, timeout_ms, cb, tag);
    }
    if (cb != NULL || reply == NULL)
        return ens__fail(ENS_EINVAL, "ens_gen_server_call: outside, give reply and no cb");
    *reply = NULL;
    return ens_ask(c, server, t, v, timeout_ms, reply);
}

int ens_gen_server_cast(ens_ctx *c, ens_addr server, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    if (c == NULL || t == NULL || ens_addr_is_none(server))
        return ens__fail(ENS_EINVAL, "ens_gen_server_cast: %s",
                         c == NULL   ? "the context is NULL"
                         : t == NULL ? "the message type is NULL"
                                     : "the server address is none");
    return ens_cast(c, server, t, v);
}

int ens_gen_server_reply(ens_ctx *c, ens_from from, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    if (c == NULL || t == NULL || ens_addr_is_none(from.to))
        return ens__fail(ENS_EINVAL, "ens_gen_server_reply: %s",
                         c == NULL   ? "the context is NULL"
                         : t == NULL ? "the message type is NULL"
                                     : "the from has no address");
    return ens_reply_to(c, from, 0, t, v);
}

int ens_gen_server_reply_error(ens_ctx *c, ens_from from, int error, const ens_msgtype *t,
                               const void *v)
{
    ens__errmsg_clear();
    if (c == NULL || ens_addr_is_none(from.to) || error >= 0)
        return ens__fail(ENS_EINVAL, "ens_gen_server_reply_error: %s",
                         c == NULL                   ? "the context is NULL"
                         : ens_addr_is_none(from.to) ? "the from has no address"
                                                     : "error is not negative");
    return ens_reply_to(c, from, error, t, v);
}

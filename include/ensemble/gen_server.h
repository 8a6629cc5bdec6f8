/*
 * ensemble/gen_server.h - OTP's gen_server: a server actor written as a set
 * of callbacks, with calls (request/reply, correlated), casts (one way) and
 * everything else as info.
 *
 * A gen_server is an ordinary actor whose receive sorts each message:
 *  - a request (ens_ask, ens_request, ens_call, ens_gen_server_call) goes to
 *    handle_call with the ens_from to answer. handle_call may reply at once
 *    (ens_reply, ens_reply_error or ens_gen_server_reply with its from),
 *    keep the from and reply later from another callback (a stored ens_from
 *    outlives the message), or never reply (the caller's timeout ends it);
 *  - a cast (ens_cast, ens_gen_server_cast) goes to handle_cast;
 *  - any other message - plain sends, wake-ups, child exited, exit
 *    requests, PoisonMessages of what the server sent - goes to handle_info.
 * Errors follow the core rules: a callback returning < 0 gets the same
 * message once more, and after a second error the message goes back to its
 * sender as a PoisonMessage; for a call the caller's ens_ask, ens_request or
 * ens_call then completes at once with ENS_EPOISON instead of timing out.
 * terminate runs with the exit reason when the server ends in order (exit
 * request: ENS_EXIT_SHUTDOWN, ens_stop: its reason).
 *
 * Calls from inside an actor use ens_call: the calling actor handles
 * nothing else until the reply, the timeout (ENS_ETIMEDOUT) or an error;
 * messages that arrive meanwhile are kept in order and handled after it. A
 * reply that comes after the timeout is dropped by the runtime, never
 * delivered as a stray message.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_gen_server_call, ens_gen_server_cast, ens_gen_server_reply and ens_gen_server_reply_error.
 */
#ifndef ENSEMBLE_GEN_SERVER_H
#define ENSEMBLE_GEN_SERVER_H

#include <stdint.h>

#include "actor.h"
#include "api.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The callbacks of a gen_server. Every callback gets the server's state
 * (state_size bytes, zeroed for every incarnation) and the message,
 * borrowed for the call. Every callback may be NULL: a NULL handle_call
 * answers each call with the error reply ENS_ENOTSUP; NULL handle_cast and
 * handle_info ignore their messages. */
typedef struct ens_gen_server_cbs {
    /* Before the first message; arg is the start argument (NULL if none).
     * < 0 fails the start as for any actor (ENS_EINIT / INIT_FAILED). */
    int (*init)(ens_ctx *c, void *state, const ens_msg *arg);
    /* A call. from says where the reply goes: store it to reply later. */
    int (*handle_call)(ens_ctx *c, void *state, const ens_msg *req, ens_from from);
    /* A cast: no reply is expected. */
    int (*handle_cast)(ens_ctx *c, void *state, const ens_msg *m);
    /* Anything else, system messages included (ens_msg_is_system). */
    int (*handle_info)(ens_ctx *c, void *state, const ens_msg *m);
    /* The server ends in order, with an enum ens_exit_reason. */
    void (*terminate)(ens_ctx *c, void *state, int reason);
} ens_gen_server_cbs;

/* The gen_server's actor callbacks, named by ENS_GEN_SERVER_DEF (not
 * called directly). */
ENS_API int ens_gen_server_on_init(ens_ctx *c, void *state, const ens_msg *arg);
ENS_API int ens_gen_server_on_receive(ens_ctx *c, void *state, const ens_msg *m);
ENS_API void ens_gen_server_on_terminate(ens_ctx *c, void *state, int reason);

/* An ens_actor_def initializer for a gen_server called `name` (a string:
 * the registered actor type name) with state of type state_type and the
 * callbacks at cbs_ptr (a const ens_gen_server_cbs *, which must outlive
 * every server of the definition: usually static). Use it like
 *   static const ens_gen_server_cbs cache_cbs = {cache_init, cache_call, ...};
 *   static const ens_actor_def cache_def =
 *       ENS_GEN_SERVER_DEF("app.Cache", cache_state, &cache_cbs);
 * and spawn cache_def with ens_spawn, or from a supervisor's child spec. */
#define ENS_GEN_SERVER_DEF(name, state_type, cbs_ptr)                                              \
    {                                                                                              \
        (name), sizeof(state_type), ens_gen_server_on_init, ens_gen_server_on_receive,             \
            ens_gen_server_on_terminate, NULL, (const void *)(cbs_ptr), NULL, NULL                 \
    }

/* ENS_GEN_SERVER_DEF for a server without state. */
#define ENS_GEN_SERVER_DEF_STATELESS(name, cbs_ptr)                                                \
    {                                                                                              \
        (name), 0, ens_gen_server_on_init, ens_gen_server_on_receive, ens_gen_server_on_terminate, \
            NULL, (const void *)(cbs_ptr), NULL, NULL                                              \
    }

/* Call `server` with (t, v) (v encoded before return: borrowed), to land
 * in its handle_call.
 *  - Inside an actor: as ens_call. Returns at once; cb (required) runs
 *    exactly once, later, with the reply (status 0), an error reply
 *    (ENS_EPOISON when handle_call failed twice, ENS_ENOACTOR when nobody is
 *    at `server`, or the server's own code) or ENS_ETIMEDOUT; until then the
 *    actor handles nothing else (other messages wait, in order). reply
 *    must be NULL.
 *  - Outside (the system's context): blocks like ens_ask for up to
 *    timeout_ms and stores the reply in *reply (required; owned by the
 *    caller: ens_msg_free). cb must be NULL. Returns 0 or the ens_ask
 *    errors: ENS_ETIMEDOUT, ENS_EPOISON (*reply is the PoisonMessage),
 *    ENS_ENOACTOR, an error the server replied with (*reply is its error
 *    reply, with the payload the server gave; *reply may be NULL when
 *    nobody was at `server` to begin with).
 * timeout_ms 0: the system's call_timeout_ms. A server calling itself
 * only ever gets ENS_ETIMEDOUT (its own call holds the request).
 * Errors: ENS_EINVAL (NULL c or t, the none address, cb/reply not as
 * above), and the send errors of ens_send; inside an actor cb is then
 * never called. */
ENS_API int ens_gen_server_call(ens_ctx *c, ens_addr server, const ens_msgtype *t, const void *v,
                                uint32_t timeout_ms, ens_reply_cb cb, uint64_t tag,
                                ens_msg **reply);

/* Cast (t, v) to `server`, to land in its handle_cast; no reply. Works
 * from inside an actor and from the outside context. v is encoded before
 * return (borrowed). Errors as ens_cast / ens_send. */
ENS_API int ens_gen_server_cast(ens_ctx *c, ens_addr server, const ens_msgtype *t, const void *v);

/* Reply (t, v) to a call whose ens_from the server kept (OTP's
 * gen_server:reply), from any callback of the server, once. A reply to a
 * caller that has timed out is dropped by the caller's runtime. v is
 * encoded before return (borrowed). Errors: ENS_EINVAL (NULL c or t, a from
 * with no address) and those of ens_reply_to. */
ENS_API int ens_gen_server_reply(ens_ctx *c, ens_from from, const ens_msgtype *t, const void *v);

/* Complete a kept call with an error (error < 0, -32768..-1): the caller's
 * call completes with that status; (t, v) may carry details (t NULL: none).
 * Errors as ens_reply_to. */
ENS_API int ens_gen_server_reply_error(ens_ctx *c, ens_from from, int error, const ens_msgtype *t,
                                       const void *v);

#ifdef __cplusplus
}
#endif
#endif

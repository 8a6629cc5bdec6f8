/*
 * core/runtime/request.c - requests made from inside an actor (ens_request,
 * ens_call), their replies and timeouts, the messages held while an
 * ens_call waits, and the reply and cast calls that go with them.
 *
 * A request is a frame with the REQUEST flag and a correlation id unique to
 * the requesting incarnation; the actor keeps one ens_pending per request
 * and a wake-up timer for its timeout. Every frame delivered to the actor
 * passes ens__request_intercept first: a reply completes its request (or,
 * when nothing waits for it, is dropped), the timer of a request completes
 * it with ENS_ETIMEDOUT, and while an ens_call waits everything else is
 * held in arrival order and delivered once the call has completed (by the
 * base, when it keeps them across a crash: host->hold). Like the
 * rest of core/runtime/actor.c this does not know the base: timers and frames go
 * through s->host.
 */
#include <stdlib.h>
#include <string.h>

#include "core/runtime/runtime.h"
#include "core/wire/msgtype.h"
#include "core/wire/why.h"
#include "ensemble/error.h"
#include "ensemble/event.h"

#define NOT_FOUND ((size_t)-1)

static size_t find_pending(const ens_actor *a, uint64_t corr, uint64_t timer_id)
{
    for (size_t i = 0; i < a->n_pending; i++) {
        if ((corr != 0 && a->pending[i].corr == corr) ||
            (corr == 0 && a->pending[i].timer_id == timer_id))
            return i;
    }
    return NOT_FOUND;
}

static ens_pending take_pending(ens_actor *a, size_t i)
{
    ens_pending p = a->pending[i];
    memmove(&a->pending[i], &a->pending[i + 1], (a->n_pending - i - 1) * sizeof(a->pending[0]));
    a->n_pending--;
    if (p.exclusive)
        a->calls_waiting--;
    return p;
}

/* Keep a copy of m at the tail of the held queue. */
static int hold(ens_actor *a, const ens_msg *m)
{
    if (a->held_head + a->n_held == a->cap_held) {
        if (a->held_head > 0) {
            memmove(a->held, a->held + a->held_head, a->n_held * sizeof(a->held[0]));
            a->held_head = 0;
        } else {
            size_t cap = a->cap_held ? a->cap_held * 2 : 16;
            ens_msg **n = realloc(a->held, cap * sizeof(*n));
            if (n == NULL)
                return ENS_ENOMEM;
            a->held = n;
            a->cap_held = cap;
        }
    }
    ens_msg *copy = ens_msg_dup(m);
    if (copy == NULL)
        return ENS_ENOMEM;
    a->held[a->held_head + a->n_held++] = copy;
    return 0;
}

/* Deliver held messages while no call waits. 1: the actor lives on; -1: it
 * stopped (a freed). */
static int release_held(ens_actor *a)
{
    while (a->calls_waiting == 0 && a->n_held > 0) {
        ens_msg *m = a->held[a->held_head++];
        if (--a->n_held == 0)
            a->held_head = 0;
        bool alive = ens__actor_deliver(a, m);
        ens_msg_free(m);
        if (!alive)
            return -1;
    }
    return 1;
}

/* Run the completion of p, then what it released. */
static int complete(ens_actor *a, const ens_pending *p, int status, const ens_msg *reply)
{
    const ens_msg *cur = a->ctx.cur;
    a->ctx.cur = NULL; /* ens_reply has no message to answer in a completion */
    ens__callback_enter();
    p->cb(&a->ctx, a->state, status, reply, p->tag);
    ens__callback_leave();
    a->ctx.cur = cur;
    if (a->stop_requested) {
        ens__actor_stop(a, a->stop_reason, a->stop_status);
        return -1;
    }
    /* A base that holds messages delivers them itself, those it keeps
     * first (ens__request_release_held). */
    return a->ctx.sys->host->hold != NULL ? 1 : release_held(a);
}

int ens__request_release_held(ens_actor *a)
{
    return release_held(a);
}

/* The member of node went away: every request to an actor there completes
 * now with ENS_EUNREACHABLE (its answer cannot come; one that comes all the
 * same, the node back, is a reply nobody waits for). Each completion may
 * start or end requests, so the search starts again after each. */
static int node_down(ens_actor *a, uint32_t node)
{
    ens_system *s = a->ctx.sys;
    for (;;) {
        size_t i = 0;
        while (i < a->n_pending && a->pending[i].node != node)
            i++;
        if (i == a->n_pending)
            return 1;
        ens_pending p = take_pending(a, i);
        s->host->timer_cancel(s, a, p.timer_id);
        if (complete(a, &p, ENS_EUNREACHABLE, NULL) < 0)
            return -1;
    }
}

int ens__request_intercept(ens_actor *a, ens_msg *m)
{
    ens_system *s = a->ctx.sys;
    const ens_frame_hdr *h = &m->hdr;
    if ((h->flags & ENS_FRAME_SYSTEM) && h->type_id == ens__msg_node_down.id) {
        const ens__node_down_v *v = m->value;
        if (v == NULL || v->node == 0 || v->node == a->addr.node)
            return 1;
        return node_down(a, v->node);
    }
    if ((h->flags & ENS_FRAME_REPLY) && h->corr != 0) {
        if (ens__reply_is_system(h)) { /* never an answer: the request goes on waiting */
            ens__log(s, a, ENS_LOG_WARN,
                     "%s came as a reply and was dropped: a system message is never an answer",
                     m->info != NULL ? m->info->type->name : "a system message");
            return 1;
        }
        size_t i = find_pending(a, h->corr, 0);
        if (i == NOT_FOUND) {
            ens__log(s, a, ENS_LOG_DEBUG, "a reply nobody waits for (late or unknown) was dropped");
            return 1;
        }
        ens_pending p = take_pending(a, i);
        s->host->timer_cancel(s, a, p.timer_id);
        int status = 0;
        if (h->flags & ENS_FRAME_ERROR)
            status = h->error < 0 ? h->error : ENS_EIO;
        return complete(a, &p, status, m);
    }
    if ((h->flags & ENS_FRAME_SYSTEM) && h->type_id == ens_msg_wakeup.id && m->value != NULL &&
        a->n_pending > 0) {
        size_t i = find_pending(a, 0, ((const ens_wakeup_v *)m->value)->timer_id);
        if (i != NOT_FOUND) {
            ens_pending p = take_pending(a, i);
            return complete(a, &p, ENS_ETIMEDOUT, NULL);
        }
    }
    if (a->calls_waiting > 0) {
        /* The base keeps it across a crash, unless it is out of room (or
         * messages wait here already: those come first). */
        if (s->host->hold != NULL && a->n_held == 0) {
            int rc = s->host->hold(s, a, m);
            if (rc == 0)
                return 1;
            ens__log(s, a, ENS_LOG_WARN,
                     "holding a message while a call waits: %s; kept in memory (lost if the "
                     "process crashes)",
                     ens_strerror(rc));
        }
        if (hold(a, m) == 0)
            return 1;
        ens__log(s, a, ENS_LOG_ERROR,
                 "out of memory holding a message while a call waits: delivered now");
    }
    return 0;
}

void ens__request_release(ens_actor *a)
{
    ens_system *s = a->ctx.sys;
    /* Held messages were for this actor: sent to it again now that it is
     * ending, they become dead letters like the rest of its queue. */
    for (size_t k = 0; k < a->n_held; k++) {
        ens_msg *m = a->held[a->held_head + k];
        uint8_t *frame = malloc(m->frame_len);
        if (frame != NULL) {
            memcpy(frame, m->frame, m->frame_len);
            s->host->route(s, frame, m->frame_len, &m->hdr, false);
        }
        ens_msg_free(m);
    }
    free(a->held);
    a->held = NULL;
    a->n_held = a->held_head = a->cap_held = 0;
    for (size_t i = 0; i < a->n_pending; i++)
        s->host->timer_cancel(s, a, a->pending[i].timer_id);
    free(a->pending);
    a->pending = NULL;
    a->n_pending = a->cap_pending = 0;
    a->calls_waiting = 0;
}

/* ---- the API ------------------------------------------------------------ */

static int request(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v,
                   uint32_t timeout_ms, ens_reply_cb cb, uint64_t tag, bool exclusive)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || c->actor == NULL || t == NULL || v == NULL || cb == NULL ||
        !ens__addr_usable(to))
        return ens__fail(ENS_EINVAL, "%s: %s", exclusive ? "ens_call" : "ens_request",
                         c == NULL          ? "the context is NULL"
                         : c->actor == NULL ? "called outside an actor (use ens_ask outside)"
                         : t == NULL        ? "the message type is NULL"
                         : v == NULL        ? "the value is NULL"
                         : cb == NULL       ? "cb is NULL"
                                            : "the address is none or not one a message can go to");
    ens_system *s = c->sys;
    ens_actor *a = c->actor;
    if (s->down)
        return ENS_ESHUTDOWN;
    if (a->n_pending == a->cap_pending) {
        size_t cap = a->cap_pending ? a->cap_pending * 2 : 4;
        ens_pending *n = realloc(a->pending, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        a->pending = n;
        a->cap_pending = cap;
    }
    /* Unique within the incarnation, and not reused by the next one (the
     * counter starts again in a restarted process). */
    uint64_t corr = (++s->next_corr & 0xFFFFFFFFFFFFull) | ((uint64_t)a->incarnation << 48);
    uint64_t timer_id = 0;
    int rc =
        s->host->timer_add(s, a, timeout_ms ? timeout_ms : s->opts.call_timeout_ms, 0, &timer_id);
    if (rc < 0)
        return rc;
    a->pending[a->n_pending++] = (ens_pending){corr, timer_id, cb, tag, exclusive, to.node};
    if (exclusive)
        a->calls_waiting++;
    rc = ens__send_frame(s, c->self, to, t, v, ENS_FRAME_REQUEST, corr, 0, true);
    if (rc < 0) {
        size_t i = find_pending(a, corr, 0);
        if (i != NOT_FOUND)
            take_pending(a, i);
        s->host->timer_cancel(s, a, timer_id);
    }
    return rc;
}

int ens_request(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v, uint32_t timeout_ms,
                ens_reply_cb cb, uint64_t tag)
{
    return request(c, to, t, v, timeout_ms, cb, tag, false);
}

int ens_call(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v, uint32_t timeout_ms,
             ens_reply_cb cb, uint64_t tag)
{
    return request(c, to, t, v, timeout_ms, cb, tag, true);
}

ens_from ens_from_current(const ens_ctx *c)
{
    ens_from f = {ENS_ADDR_NONE, 0};
    if (c == NULL || c->cur == NULL)
        return f;
    f.to = c->cur->hdr.sender;
    if ((c->cur->hdr.flags & ENS_FRAME_REQUEST) && !ens_addr_is_none(f.to))
        f.corr = c->cur->hdr.corr;
    /* Who takes the ens_from may answer later: the request is kept. */
    ens__answered(c, f.to, f.corr);
    return f;
}

int ens_reply_to(ens_ctx *c, ens_from from, int error, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || !ens__addr_usable(from.to) || error > 0 || error < -32768 ||
        (t != NULL && v == NULL))
        return ens__fail(ENS_EINVAL, "ens_reply_to: %s",
                         c == NULL                     ? "the context is NULL"
                         : !ens__addr_usable(from.to)  ? "the from has no address to reply to"
                         : error > 0 || error < -32768 ? "error is not 0 or in -32768..-1"
                                                       : "t given with a NULL value");
    if (c->sys->down)
        return ENS_ESHUTDOWN;
    ens_string_v none = {""};
    if (t == NULL) {
        if (error == 0)
            return ens__fail(ENS_EINVAL, "ens_reply_to: neither a message type nor an error");
        t = &ens_msg_string;
        v = &none;
    }
    uint16_t flags = (from.corr != 0 ? ENS_FRAME_REPLY : 0) | (error != 0 ? ENS_FRAME_ERROR : 0);
    return ens__send_frame(c->sys, c->self, from.to, t, v, flags, from.corr, (int16_t)error, true);
}

int ens_reply_error(ens_ctx *c, int error, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    if (c == NULL || c->cur == NULL || error >= 0)
        return ens__fail(ENS_EINVAL, "ens_reply_error: %s",
                         c == NULL        ? "the context is NULL"
                         : c->cur == NULL ? "called outside receive (no message to reply to)"
                                          : "error is not negative");
    return ens_reply_to(c, ens_from_current(c), error, t, v);
}

int ens_cast(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || t == NULL || v == NULL || !ens__addr_usable(to))
        return ens__fail(ENS_EINVAL, "ens_cast: %s",
                         c == NULL   ? "the context is NULL"
                         : t == NULL ? "the message type is NULL"
                         : v == NULL ? "the value is NULL"
                                     : "the address is none or not one a message can go to");
    if (c->sys->down)
        return ENS_ESHUTDOWN;
    return ens__send_frame(c->sys, c->self, to, t, v, ENS_FRAME_CAST, 0, 0, true);
}

/*
 * core/runtime/outside.c - the outside program's calls, written once for every
 * base: ask, listen, run, status's wait, shutdown and stop.
 *
 * The outside program has one endpoint (core/runtime/endpoint.h) and a loop that
 * runs only inside its blocking calls. The loop is the base's
 * (ens__outside_ops.pump: the inproc base runs the actors there, the
 * process base's starting program moves frames to and from the admin and
 * the actors); everything above it - the one answer waited for, matched by
 * its correlation id, the inbox for ens_listen, the deadlines - is here, so
 * both bases keep one contract (ensemble/system.h).
 */
#include <stdlib.h>
#include <unistd.h>

#include "core/runtime/endpoint.h"
#include "core/runtime/runtime.h"
#include "core/wire/msgtype.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

int ens__outside_open(ens_system *s)
{
    /* Called by ens_system_start and ens_system_connect on the caller's
     * thread: the one the outside context belongs to from now on. */
    s->owner_tid = gettid();
    s->endpoint = calloc(1, sizeof(*s->endpoint));
    return s->endpoint != NULL ? 0 : ENS_ENOMEM;
}

void ens__outside_free(ens_system *s)
{
    if (s == NULL || s->endpoint == NULL)
        return;
    ens__endpoint_clear(s->endpoint);
    free(s->endpoint);
    s->endpoint = NULL;
}

void ens__outside_deliver(ens_system *s, uint8_t *frame, size_t len)
{
    ens__endpoint_accept(s, s->endpoint, frame, len);
}

uint64_t ens__outside_expect(ens_system *s)
{
    return ens__endpoint_expect(s, s->endpoint);
}

static uint64_t deadline_after(uint32_t timeout_ms)
{
    return ens__mono_ns() + (uint64_t)timeout_ms * 1000000u;
}

static bool answer_here(ens_system *s)
{
    return s->endpoint->ask_reply != NULL || s->endpoint->ask_lost != 0;
}

static bool inbox_ready(ens_system *s)
{
    return s->endpoint->head != NULL;
}

int ens__outside_await(ens_system *s, int rc, uint32_t timeout_ms, ens_msg **reply)
{
    if (rc == 0)
        rc = s->outside_ops->pump(s, answer_here, deadline_after(timeout_ms));
    rc = ens__endpoint_answer(s->endpoint, rc, reply);
    if (rc == ENS_ENOREPLY && *reply != NULL) {
        /* The runtime's answer carries its sentence ("demo.Echo handled
         * demo.Ping without replying"): the program's ens_errmsg. */
        const ens_string_v *why = ens_msg_value(*reply, &ens_msg_string);
        if (why != NULL && why->text != NULL)
            ens__errmsg_set("%s", why->text);
    }
    return rc;
}

int ens__outside_check(const ens_ctx *c)
{
    if (c == NULL || c->actor != NULL || c->sys == NULL || c != &c->sys->outside)
        return 0;
    const ens_system *s = c->sys;
    const char *name = s->name != NULL ? s->name : "(unnamed)";
    const pid_t me = gettid();
    if (s->outside_ops == NULL) { /* the copy an actor process inherited */
        ens__errmsg_set("the outside context of system %s was used inside an actor (process %d, "
                        "thread %d); it belongs to thread %d of the program that started or "
                        "connected the system: an actor uses its own ens_ctx",
                        name, (int)getpid(), (int)me, (int)s->owner_tid);
        return ENS_EWRONGTHREAD;
    }
    if (me != s->owner_tid) {
        ens__errmsg_set("the outside context of system %s belongs to thread %d (which started or "
                        "connected it); called from thread %d",
                        name, (int)s->owner_tid, (int)me);
        return ENS_EWRONGTHREAD;
    }
    if (ens__in_callback()) {
        ens__errmsg_set("the outside context of system %s was used inside an actor's callback "
                        "(thread %d, its owner %d): an actor uses its own ens_ctx",
                        name, (int)me, (int)s->owner_tid);
        return ENS_EWRONGTHREAD;
    }
    return 0;
}

/* The program's own context of a system whose outside runs here (not the
 * copy of it an actor process inherits). */
static bool is_outside(const ens_ctx *c)
{
    return c != NULL && c->actor == NULL && c == &c->sys->outside && c->sys->outside_ops != NULL;
}

int ens_ask(ens_ctx *outside, ens_addr to, const ens_msgtype *t, const void *v, uint32_t timeout_ms,
            ens_msg **reply)
{
    ens__errmsg_clear();
    if (reply != NULL)
        *reply = NULL;
    int wrong = ens__outside_check(outside);
    if (wrong < 0)
        return wrong;
    if (!is_outside(outside) || t == NULL || v == NULL || reply == NULL || !ens__addr_usable(to))
        return ens__fail(ENS_EINVAL, "ens_ask: %s",
                         !is_outside(outside) ? "not the outside context of a system (NULL, or "
                                                "called inside an actor)"
                         : t == NULL          ? "the message type is NULL"
                         : v == NULL          ? "the value is NULL"
                         : reply == NULL      ? "reply is NULL"
                                         : "the address is none or not one a message can go to");
    ens_system *s = outside->sys;
    if (s->down)
        return ENS_ESHUTDOWN;
    if (s->outside_ops->absent != NULL && s->outside_ops->absent(s, to))
        return ENS_ENOACTOR;
    uint64_t corr = ens__outside_expect(s);
    s->endpoint->ask_node = to.node;
    int rc = ens__send_frame(s, s->outside.self, to, t, v, ENS_FRAME_REQUEST, corr, 0, true);
    return ens__outside_await(s, rc, timeout_ms, reply);
}

int ens_listen(ens_ctx *outside, uint32_t timeout_ms, ens_msg **out)
{
    ens__errmsg_clear();
    if (out != NULL)
        *out = NULL;
    int wrong = ens__outside_check(outside);
    if (wrong < 0)
        return wrong;
    if (!is_outside(outside) || out == NULL)
        return ens__fail(ENS_EINVAL, "ens_listen: %s",
                         out == NULL ? "out is NULL"
                                     : "not the outside context of a system (NULL, or called "
                                       "inside an actor)");
    ens_system *s = outside->sys;
    if (s->down)
        return ENS_ESHUTDOWN;
    int rc = s->outside_ops->pump(s, inbox_ready, deadline_after(timeout_ms));
    if (rc < 0)
        return rc;
    *out = ens__endpoint_pop(s->endpoint);
    return 0;
}

int ens_system_run(ens_system *s, uint32_t timeout_ms)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(&s->outside);
    if (wrong < 0)
        return wrong;
    if (s == NULL || s->outside_ops == NULL)
        return ens__fail(ENS_EINVAL, "ens_system_run: %s",
                         s == NULL ? "the system is NULL" : "called inside an actor process");
    if (s->down)
        return ENS_ESHUTDOWN;
    return s->outside_ops->run(s, timeout_ms);
}

/* Close the program's side (ending the system with `end`), then free s. */
static int release(ens_system *s, uint32_t timeout_ms, bool end)
{
    if (s == NULL)
        return 0;
    /* Another thread, or an actor (inproc: inside the loop that runs it;
     * process base: its inherited copy), is refused and s stays open: the
     * owning thread may be inside a call on s right now. */
    int wrong = ens__outside_check(&s->outside);
    if (wrong < 0)
        return wrong;
    if (s->outside_ops == NULL) /* an actor process holds no outside to close */
        return ens__fail(ENS_EINVAL, "ens_system_%s: called inside an actor process",
                         end ? "stop" : "close");
    int rc = s->outside_ops->close(s, timeout_ms, end);
    s->down = true;
    if (s->holds_msgtypes)
        ens__msgtype_system_ended();
    ens__outside_free(s);
    ens__journal_close(s); /* inproc: the last events of the shutdown */
    if (s->log_fd > 2)
        close(s->log_fd);
    free(s->log_file);
    free(s->name);
    free(s->convention_copy);
    free(s);
    return rc;
}

int ens_system_stop(ens_system *s, uint32_t timeout_ms)
{
    ens__errmsg_clear();
    return release(s, timeout_ms, true);
}

int ens_system_close(ens_system *s, uint32_t timeout_ms)
{
    ens__errmsg_clear();
    return release(s, timeout_ms, false);
}

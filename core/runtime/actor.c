/*
 * core/runtime/actor.c - one actor, wherever it runs: the handler calls with the
 * retry-then-poison rule, start and orderly stop, dead letters, and the
 * ens_ctx API that handlers (and the outside program) call.
 *
 * Nothing here knows how frames travel or where actors live: that is the
 * base's job, reached through s->host (core/runtime/runtime.h). So the process base
 * runs this same file in every actor process, and the failure semantics are
 * the same on every base by construction.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/runtime/runtime.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

ens_actor *ens__actor_new(ens_system *s, const ens_actor_def *d, ens_addr addr, ens_addr parent,
                          uint8_t *arg_frame, size_t arg_len)
{
    ens_actor *a = calloc(1, sizeof(*a));
    void *state = calloc(1, d->state_size > 0 ? d->state_size : 1);
    if (a == NULL || state == NULL) {
        free(a);
        free(state);
        free(arg_frame);
        return NULL;
    }
    a->def = d;
    a->state = state;
    a->addr = addr;
    a->parent = parent;
    a->incarnation = 1;
    a->status = ENS_ACTOR_STARTING;
    a->arg_frame = arg_frame;
    a->arg_len = arg_len;
    a->ctx.sys = s;
    a->ctx.actor = a;
    a->ctx.self = addr;
    return a;
}

void ens__actor_free(ens_actor *a)
{
    if (a == NULL)
        return;
    free(a->state);
    free(a->arg_frame);
    free(a->children);
    free(a->pending);
    for (size_t k = 0; k < a->n_held; k++)
        ens_msg_free(a->held[a->held_head + k]);
    free(a->held);
    free(a->init_why);
    free(a);
}

static int add_child(ens_actor *a, ens_addr child)
{
    if (a->n_children == a->cap_children) {
        size_t cap = a->cap_children ? a->cap_children * 2 : 4;
        ens_addr *n = realloc(a->children, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        a->children = n;
        a->cap_children = cap;
    }
    a->children[a->n_children++] = child;
    return 0;
}

int ens__actor_add_child(ens_actor *a, ens_addr child)
{
    return add_child(a, child);
}

void ens__actor_forget_child(ens_actor *a, ens_addr child)
{
    for (size_t i = 0; i < a->n_children; i++) {
        if (ens_addr_equal(a->children[i], child)) {
            memmove(&a->children[i], &a->children[i + 1],
                    (a->n_children - i - 1) * sizeof(a->children[0]));
            a->n_children--;
            return;
        }
    }
}

int ens__send_frame(ens_system *s, ens_addr from, ens_addr to, const ens_msgtype *t, const void *v,
                    uint16_t flags, uint64_t corr, int16_t error, bool bounded)
{
    if (to.spare != 0 || from.spare != 0)
        return ENS_EINVAL; /* no receiver would accept the frame (ens__addr_usable) */
    const ens_typeinfo *info = ens__typeinfo_of(t);
    if (info == NULL)
        return ens__fail(ENS_EBADTYPE, "the message type %.64s is not registered",
                         t->name != NULL ? t->name : "(unnamed)");
    ens_frame_hdr h = {
        .flags = flags,
        .type_id = info->type->id,
        .target = to,
        .sender = from,
        .corr = corr,
        .attempt = 1,
        .error = error,
    };
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__frame_build(t, v, &h, s->opts.max_frame_bytes, &frame, &len);
    if (rc < 0)
        return rc;
    h.payload_len = (uint32_t)(len - ENS_FRAME_HEADER_LEN);
    return s->host->route(s, frame, len, &h, bounded);
}

/* ---- events ----------------------------------------------------------- */

static void msg_event(ens_actor *a, const ens_msg *m, ens_event_kind kind, int err, int sig,
                      const char *reason)
{
    ens_event ev = {.kind = kind, .signal = sig};
    ens__event_actor(&ev, a);
    ev.msg_type = m->info != NULL ? m->info->type->name : "";
    ev.sender = m->hdr.sender;
    ev.error = err;
    ev.attempt = m->hdr.attempt;
    ev.msg_size = (uint32_t)m->frame_len;
    ev.reason = reason;
    ens__event(a->ctx.sys, &ev);
}

/* ---- delivery --------------------------------------------------------- */

/* How deep this thread is in actors' code (handlers, init, terminate,
 * completions): the outside context is refused while it is not 0. */
static _Thread_local unsigned callback_depth;

void ens__callback_enter(void)
{
    callback_depth++;
}

void ens__callback_leave(void)
{
    callback_depth--;
}

bool ens__in_callback(void)
{
    return callback_depth > 0;
}

static int call_handler(ens_actor *a, const ens_msg *m)
{
    const ens_actor_def *d = a->def;
    int rc = 0;
    ens__callback_enter();
    if (d->dispatch != NULL) {
        for (const ens_dispatch_entry *e = d->dispatch; e->type != NULL; e++) {
            if (e->type->id == m->hdr.type_id && e->handle != NULL) {
                rc = e->handle(&a->ctx, a->state, m->value, m);
                ens__callback_leave();
                return rc;
            }
        }
    }
    if (d->receive != NULL)
        rc = d->receive(&a->ctx, a->state, m);
    ens__callback_leave();
    return rc;
}

/* True for a request m whose asker waits for an answer: not a system
 * message (the runtime's own notices are never asked), a correlation and a
 * sender to answer. */
static bool is_asked(const ens_msg *m)
{
    const ens_frame_hdr *h = &m->hdr;
    return !(h->flags & ENS_FRAME_SYSTEM) && (h->flags & ENS_FRAME_REQUEST) && h->corr != 0 &&
           !ens_addr_is_none(h->sender);
}

void ens__answered(const ens_ctx *c, ens_addr to, uint64_t corr)
{
    if (c == NULL || c->actor == NULL || c->cur == NULL || corr == 0)
        return;
    const ens_frame_hdr *h = &c->cur->hdr;
    if (h->corr == corr && ens_addr_equal(h->sender, to))
        c->actor->answered = true;
}

/* m's handler returned 0 without answering it: the asker hears
 * ENS_ENOREPLY now rather than at the end of its timeout. */
static void unanswered(ens_actor *a, const ens_msg *m)
{
    ens_system *s = a->ctx.sys;
    char why[200];
    snprintf(why, sizeof(why), "%s handled %s without replying", ens__actor_type(a),
             m->info != NULL ? m->info->type->name : "a message");
    ens__log(s, a, ENS_LOG_DEBUG, "%s", why);
    ens_string_v v = {why};
    int rc = ens__send_frame(s, a->addr, m->hdr.sender, &ens_msg_string, &v,
                             ENS_FRAME_REPLY | ENS_FRAME_ERROR, m->hdr.corr, ENS_ENOREPLY, false);
    if (rc < 0)
        ens__log(s, a, ENS_LOG_WARN, "telling the asker that %s failed: %s", why, ens_strerror(rc));
}

/* Return m to its sender as a PoisonMessage (rule 1 of the failure
 * semantics): with the original frame inside, or without it when the whole
 * would pass the frame limit. */
void ens__actor_poison(ens_actor *a, const ens_msg *m, int err, int sig)
{
    ens_system *s = a->ctx.sys;
    char detail[160];
    if (sig != 0)
        snprintf(detail, sizeof(detail), "handler of %s was killed twice by signal %d (%s)",
                 ens__actor_type(a) != NULL ? ens__actor_type(a) : "actor", sig, strsignal(sig));
    else
        snprintf(detail, sizeof(detail), "handler of %s failed twice: %s (%s)",
                 ens__actor_type(a) != NULL ? ens__actor_type(a) : "actor", ens_strerror(err),
                 ens_err_name(err));
    if (ens_addr_is_none(m->hdr.sender)) {
        msg_event(a, m, ENS_EV_POISON, err, sig, "no sender to return the poisoned message to");
        return;
    }
    ens_poison_v p = {
        .target = a->addr,
        .error = err,
        .signal = sig,
        .attempts = m->hdr.attempt,
        .detail = detail,
        .original = {m->frame, (uint32_t)m->frame_len},
    };
    uint16_t flags = ENS_FRAME_SYSTEM;
    int16_t code = 0;
    if (m->hdr.corr != 0 && (m->hdr.flags & ENS_FRAME_REQUEST)) {
        flags |= ENS_FRAME_REPLY | ENS_FRAME_ERROR;
        code = ENS_EPOISON;
    }
    int rc = ens__send_frame(s, a->addr, m->hdr.sender, &ens_msg_poison, &p, flags, m->hdr.corr,
                             code, false);
    if (rc == ENS_EMSGSIZE) {
        p.original.data = NULL;
        p.original.len = 0;
        rc = ens__send_frame(s, a->addr, m->hdr.sender, &ens_msg_poison, &p, flags, m->hdr.corr,
                             code, false);
    }
    msg_event(a, m, ENS_EV_POISON, err, sig, rc == 0 ? detail : "poisoned; returning it failed");
}

bool ens__msg_retried(const ens_frame_hdr *h)
{
    if (!(h->flags & ENS_FRAME_SYSTEM))
        return true;
    const uint32_t id = h->type_id;
    /* Notices of something that already happened and was acted on: a
     * second run repeats its side effects (a cleanup, a restart, a count)
     * and tells nothing new; readiness may be gone after the first run. */
    return id != ens_msg_exit_request.id && id != ens_msg_child_exited.id &&
           id != ens_msg_child_started.id && id != ens_msg_child_restarted.id &&
           id != ens_msg_fd_ready.id;
}

bool ens__reply_is_system(const ens_frame_hdr *h)
{
    if (h->type_id < ENS_TYPE_ID_SYSTEM_MIN)
        return false;
    return !(h->type_id == ens_msg_poison.id && (h->flags & ENS_FRAME_ERROR));
}

static void stop_finish(ens_actor *a);
static void init_deferred_failed(ens_actor *a, int status, const char *why, bool timed_out);

/* Journal and kill the children that did not end in time (phase 1 -> 2),
 * or give up waiting for their notices (phase 2). */
static void stop_timeout(ens_actor *a)
{
    ens_system *s = a->ctx.sys;
    const uint32_t ms = s->opts.child_exit_timeout_ms ? s->opts.child_exit_timeout_ms
                                                      : ENS_CHILD_EXIT_TIMEOUT_DEFAULT;
    if (a->stop_phase == 1 && s->host->kill != NULL) {
        char why[128];
        snprintf(why, sizeof(why), "did not end within %u ms of its parent's exit request: killed",
                 ms);
        for (size_t i = a->n_children; i-- > 0;) {
            ens_event ev = {.kind = ENS_EV_EXIT, .reason = why};
            ens__event_actor(&ev, a);
            ev.actor = a->children[i];
            ev.parent = a->addr;
            ev.actor_type = "";
            ev.incarnation = 0;
            ens__event(s, &ev);
            s->host->kill(s, a, a->children[i]);
        }
        a->stop_phase = 2;
        if (s->host->timer_add(s, a, ms, 0, &a->stop_timer) == 0)
            return;
    }
    char why[128];
    snprintf(why, sizeof(why), "ended without the exit notices of %zu killed children",
             a->n_children);
    ens_event ev = {.kind = ENS_EV_EXIT, .reason = why};
    ens__event_actor(&ev, a);
    ens__event(s, &ev);
    a->n_children = 0;
    stop_finish(a);
}

/* A message for an actor that waits for its children to end. Returns
 * false (the actor handles nothing more). */
static bool stopping_deliver(ens_actor *a, const ens_msg *m)
{
    ens_system *s = a->ctx.sys;
    const ens_frame_hdr *h = &m->hdr;
    const bool system = (h->flags & ENS_FRAME_SYSTEM) != 0;
    if (system && h->type_id == ens_msg_child_exited.id && m->value != NULL) {
        ens__actor_forget_child(a, ((const ens_child_exited_v *)m->value)->child);
        if (a->n_children == 0) {
            s->host->timer_cancel(s, a, a->stop_timer);
            stop_finish(a);
        }
        return false;
    }
    if (system && h->type_id == ens_msg_wakeup.id && m->value != NULL &&
        ((const ens_wakeup_v *)m->value)->timer_id == a->stop_timer) {
        stop_timeout(a);
        return false;
    }
    if (system || ((h->flags & ENS_FRAME_REPLY) && h->corr != 0))
        return false; /* notices, wake-ups, replies: nobody is left to act on them */
    uint8_t *copy = malloc(m->frame_len);
    if (copy == NULL) {
        ens__alloc_failed(s, "a message to an ending actor was lost without a dead-letter row");
        return false;
    }
    memcpy(copy, m->frame, m->frame_len);
    ens_names_req req = {.op = ENS_NAMES_DEAD,
                         .frame = copy,
                         .len = m->frame_len,
                         .reason = "the actor is ending (waiting for its children)"};
    if (s->host->names == NULL)
        free(copy);
    else
        s->host->names(s, a, &req);
    return false;
}

bool ens__actor_deliver(ens_actor *a, ens_msg *m)
{
    if (a->status == ENS_ACTOR_STOPPING)
        return stopping_deliver(a, m);
    if (a->init_deferred && (m->hdr.flags & ENS_FRAME_SYSTEM) &&
        m->hdr.type_id == ens_msg_wakeup.id && m->value != NULL &&
        ((const ens_wakeup_v *)m->value)->timer_id == a->init_timer) {
        char why[96];
        snprintf(why, sizeof(why), "did not acknowledge its init within %u ms (ens_init_ack)",
                 a->ctx.sys->opts.call_timeout_ms);
        init_deferred_failed(a, ENS_ETIMEDOUT, why, true);
        ens__actor_stop(a, a->stop_reason, a->stop_status);
        return false;
    }
    int taken = ens__request_intercept(a, m);
    if (taken != 0)
        return taken > 0;
    const bool system = (m->hdr.flags & ENS_FRAME_SYSTEM) != 0;
    const bool is_exit = system && m->hdr.type_id == ens_msg_exit_request.id;
    if (system && m->hdr.type_id == ens_msg_child_exited.id && m->value != NULL)
        ens__actor_forget_child(a, ((const ens_child_exited_v *)m->value)->child);

    a->ctx.cur = m;
    const bool asked = is_asked(m);
    const bool answered_before = a->answered; /* a delivery nested in a handler's */
    a->answered = false;
    int rc = call_handler(a, m);
    if (rc < 0 && !ens__msg_retried(&m->hdr)) {
        char why[128];
        snprintf(why, sizeof(why), "handler returned an error on %s: not retried%s",
                 m->info != NULL ? m->info->type->name : "a system message",
                 is_exit ? " (the actor ends all the same)" : "");
        msg_event(a, m, ENS_EV_ERROR, rc, 0, why);
    } else if (rc < 0) {
        msg_event(a, m, ENS_EV_ERROR, rc, 0, "handler returned an error");
        if (m->hdr.attempt < 2 && !a->stop_requested) {
            m->hdr.attempt = 2;
            msg_event(a, m, ENS_EV_RETRY, rc, 0, "delivering the message once more");
            if (a->ctx.sys->host->on_attempt != NULL)
                a->ctx.sys->host->on_attempt(a->ctx.sys, a, 2);
            rc = call_handler(a, m);
            if (rc < 0)
                msg_event(a, m, ENS_EV_ERROR, rc, 0, "handler returned an error");
        }
        if (rc < 0 && !system && m->hdr.type_id != ens_msg_poison.id)
            ens__actor_poison(a, m, rc, 0);
    }
    /* An error has its own answer (the retry, then the poison); a handler
     * that returned 0 owes one unless it replied, forwarded or kept the
     * request's ens_from. */
    if (asked && rc >= 0 && !a->answered && !m->copied)
        unanswered(a, m);
    a->answered = answered_before;
    a->ctx.cur = NULL;
    a->handled++;
    if (is_exit && !a->stop_requested && !a->exit_deferred) {
        a->stop_requested = true;
        a->stop_reason = ENS_EXIT_SHUTDOWN;
        a->stop_status = 0;
    }
    if (a->stop_requested) {
        ens__actor_stop(a, a->stop_reason, a->stop_status);
        return false;
    }
    return true;
}

/* a's init has ended well (at its end, or at its ens_init_ack): a parent
 * that asked hears child-started, a synchronous spawn is answered. */
static void init_started(ens_actor *a)
{
    ens_system *s = a->ctx.sys;
    if ((a->spawn_flags & ENS_SPAWN_NOTIFY_START) &&
        (a->incarnation == 1 || (a->spawn_flags & ENS__SPAWN_AT)) && !ens_addr_is_none(a->parent) &&
        a->parent.id != ENS_ID_OUTSIDE) {
        ens_child_started_v cs = {a->addr, a->incarnation, 0};
        ens__send_frame(s, a->addr, a->parent, &ens_msg_child_started, &cs, ENS_FRAME_SYSTEM, 0, 0,
                        false);
    }
    if (s->host->init_done != NULL)
        s->host->init_done(s, a, 0, NULL);
}

/* a's init failed with status (its own code), why its reason (may be
 * NULL): an INIT_FAILED row, and the spawner's answer (ENS_ETIMEDOUT when
 * the ack never came, else ENS_EINIT) with a text that names a. */
static void init_failed(ens_actor *a, int status, const char *why, bool timed_out)
{
    ens_system *s = a->ctx.sys;
    char at[ENS_ADDR_STRLEN], text[400];
    ens_addr_format(a->addr, at, sizeof(at));
    if (why != NULL && why[0] != '\0')
        snprintf(text, sizeof(text), "%s %s: init failed: %s", ens__actor_type(a), at, why);
    else
        snprintf(text, sizeof(text), "%s %s: init failed: %s (%s)", ens__actor_type(a), at,
                 ens_strerror(status), ens_err_name(status));
    ens_event ev = {.kind = ENS_EV_INIT_FAILED,
                    .error = status,
                    .reason = why != NULL && why[0] != '\0' ? why : ens_strerror(status)};
    ens__event_actor(&ev, a);
    ens__event(s, &ev);
    if (s->host->init_done != NULL)
        s->host->init_done(s, a, timed_out ? ENS_ETIMEDOUT : ENS_EINIT, text);
}

/* A deferred init failed (an ack with an error, or none in time): the
 * actor stops once the running handler returns, as with ens_stop, with
 * ENS_EXIT_INIT_FAILED: its children end first, and its terminate runs,
 * since its init returned 0 and may hold what terminate releases. */
static void init_deferred_failed(ens_actor *a, int status, const char *why, bool timed_out)
{
    a->init_deferred = false;
    init_failed(a, status, why, timed_out);
    a->stop_requested = true;
    a->stop_reason = ENS_EXIT_INIT_FAILED;
    a->stop_status = status;
}

int ens__actor_start(ens_actor *a)
{
    ens_system *s = a->ctx.sys;
    ens_msg *arg = NULL;
    int rc = 0;
    if (a->arg_frame != NULL) {
        uint8_t *copy = malloc(a->arg_len);
        if (copy == NULL)
            rc = ENS_ENOMEM;
        else {
            memcpy(copy, a->arg_frame, a->arg_len);
            rc = ens__msg_from_frame(copy, a->arg_len, s->opts.max_frame_bytes, &arg);
        }
    }
    a->in_init = true;
    if (rc == 0 && a->def->init != NULL) {
        ens__callback_enter();
        rc = a->def->init(&a->ctx, a->state, arg);
        ens__callback_leave();
    }
    a->in_init = false;
    ens_msg_free(arg);
    if (rc == 0 && a->init_acked && a->init_ack_status < 0)
        rc = a->init_ack_status; /* deferred, then acknowledged with an error inside init */
    if (rc < 0) {
        a->init_deferred = false;
        init_failed(a, rc, a->init_acked ? a->init_why : NULL, false);
        ens__actor_stop(a, ENS_EXIT_INIT_FAILED, rc);
        return rc;
    }
    a->status = ENS_ACTOR_RUNNING;
    if (a->init_deferred) {
        const uint32_t ms = s->opts.call_timeout_ms;
        if (s->host->timer_add(s, a, ms, 0, &a->init_timer) < 0) {
            init_deferred_failed(a, ENS_ENOMEM, "no timer to bound the wait for its init's ack",
                                 false);
            ens__actor_stop(a, a->stop_reason, a->stop_status);
            return ENS_ENOMEM;
        }
        if (a->stop_requested)
            ens__actor_stop(a, a->stop_reason, a->stop_status);
        return ENS__INIT_DEFERRED;
    }
    init_started(a);
    if (a->stop_requested)
        ens__actor_stop(a, a->stop_reason, a->stop_status);
    return 0;
}

void ens__actor_stop(ens_actor *a, int reason, int status)
{
    ens_system *s = a->ctx.sys;
    if (a->status == ENS_ACTOR_DEAD)
        return;
    if (a->status == ENS_ACTOR_STOPPING) {
        if (a->killed) /* ens_kill while it waited: no terminate, no more waiting */
            stop_finish(a);
        return;
    }
    const bool ran = a->status == ENS_ACTOR_RUNNING;
    a->stop_reason = reason;
    a->stop_status = status;
    a->ctx.cur = NULL;
    if (!ran || a->killed || a->n_children == 0) {
        a->status = ran ? ENS_ACTOR_STOPPING : ENS_ACTOR_DEAD;
        stop_finish(a);
        return;
    }
    /* Children first (Thespian's and OTP's order): its terminate runs once
     * they have ended, so it may count on them being gone. */
    a->status = ENS_ACTOR_STOPPING;
    ens__request_release(a);
    for (size_t i = a->n_children; i-- > 0;) /* the last started first */
        ens__send_frame(s, a->addr, a->children[i], &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM,
                        0, 0, false);
    a->stop_phase = 1;
    const uint32_t ms = s->opts.child_exit_timeout_ms ? s->opts.child_exit_timeout_ms
                                                      : ENS_CHILD_EXIT_TIMEOUT_DEFAULT;
    if (s->host->timer_add(s, a, ms, 0, &a->stop_timer) < 0) {
        ens__log(s, a, ENS_LOG_ERROR,
                 "no timer to bound the wait for its children: ending without waiting");
        stop_finish(a);
    }
}

/* The end of a stop: a is STOPPING (it ran) or DEAD (init did not). */
static void stop_finish(ens_actor *a)
{
    ens_system *s = a->ctx.sys;
    const bool ran = a->status == ENS_ACTOR_STOPPING;
    const int reason = a->stop_reason, status = a->stop_status;
    a->status = ENS_ACTOR_DEAD;
    a->ctx.cur = NULL;
    if (ran && !a->killed && a->def->terminate != NULL) {
        ens__callback_enter();
        a->def->terminate(&a->ctx, a->state, reason);
        ens__callback_leave();
    }
    ens__request_release(a);
    for (size_t i = a->n_children; i-- > 0;) /* killed, or init failed: not waited for */
        ens__send_frame(s, a->addr, a->children[i], &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM,
                        0, 0, false);
    a->n_children = 0;
    if (reason == ENS_EXIT_ERROR) {
        char why[64];
        snprintf(why, sizeof(why), "stopped with an error (status %d)", status);
        ens_event ev = {.kind = ENS_EV_EXIT, .error = status < 0 ? status : 0, .reason = why};
        ens__event_actor(&ev, a);
        ens__event(s, &ev);
    }
    if (!ens_addr_is_none(a->parent) && a->parent.id != ENS_ID_OUTSIDE) {
        ens_child_exited_v ce = {
            .child = a->addr,
            .reason = reason,
            .signal = 0,
            .status = status,
            .incarnation = a->incarnation,
        };
        ens__send_frame(s, a->addr, a->parent, &ens_msg_child_exited, &ce, ENS_FRAME_SYSTEM, 0, 0,
                        false);
    }
    s->host->dead_letters_set(s, a->addr, false);
    s->host->actor_gone(s, a);
}

void ens__dead_letter(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h,
                      ens_addr handler, const char *reason)
{
    const bool system = (h->flags & ENS_FRAME_SYSTEM) != 0;
    if (system && h->type_id == ens_msg_child_exited.id) {
        free(frame); /* the parent ended first: nobody could act on it */
        return;
    }
    if ((h->flags & ENS_FRAME_REQUEST) && h->corr != 0 && !ens_addr_is_none(h->sender)) {
        ens_string_v why = {(char *)reason};
        ens__send_frame(s, h->target, h->sender, &ens_msg_string, &why,
                        ENS_FRAME_SYSTEM | ENS_FRAME_REPLY | ENS_FRAME_ERROR, h->corr, ENS_ENOACTOR,
                        false);
    }
    const ens_typeinfo *info = ens__typeinfo_by_id(h->type_id);
    bool handled = false;
    if (!ens_addr_is_none(handler) && !ens_addr_equal(handler, h->target) &&
        h->type_id != ens_msg_dead_envelope.id) {
        ens_dead_envelope_v env = {
            .intended = h->target,
            .type_id = h->type_id,
            .reason = (char *)reason,
            .original = {frame, (uint32_t)len},
        };
        handled = ens__send_frame(s, h->sender, handler, &ens_msg_dead_envelope, &env,
                                  ENS_FRAME_SYSTEM, 0, 0, false) == 0;
    }
    if (!handled) {
        ens_event ev = {
            .kind = ENS_EV_DEAD_LETTER,
            .actor = h->target,
            .msg_type = info != NULL ? info->type->name : "",
            .sender = h->sender,
            .msg_size = (uint32_t)len,
            .reason = reason,
        };
        ens__event(s, &ev);
    }
    free(frame);
}

/* ---- the ens_ctx API -------------------------------------------------- */

bool ens_in_actor(const ens_ctx *c)
{
    return c != NULL && c->actor != NULL;
}

const char *ens__event_refusal(ens_addr reporter, bool outside, const ens_event *ev)
{
    if (strcmp(ens_event_kind_name(ev->kind), "unknown") == 0)
        return "not a kind of event";
    if (ens_addr_is_none(ev->actor) || ens_addr_equal(ev->actor, reporter))
        return NULL;
    if (outside)
        return "an outside program reports events about itself only";
    if (ev->kind == ENS_EV_DEAD_LETTER || ens_addr_equal(ev->parent, reporter))
        return NULL;
    return "an actor reports events about itself, its children and its dead letters only";
}

int ens_event_report(ens_ctx *c, const ens_event *ev)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || ev == NULL)
        return ens__fail(ENS_EINVAL, "ens_event_report: %s",
                         c == NULL ? "the context is NULL" : "ev is NULL");
    const char *why = ens__event_refusal(c->self, c->actor == NULL, ev);
    if (why != NULL)
        return ens__fail(ENS_EINVAL, "ens_event_report: %s", why);
    ens_event e = *ev;
    if (ens_addr_is_none(e.actor) && c->actor != NULL) {
        ens__event_actor(&e, c->actor);
    } else if (ens_addr_is_none(e.actor)) {
        e.actor = c->self;
    }
    ens__event(c->sys, &e);
    return 0;
}

ens_addr ens_self(const ens_ctx *c)
{
    return c != NULL ? c->self : ENS_ADDR_NONE;
}

ens_addr ens_sender(const ens_ctx *c)
{
    return c != NULL && c->cur != NULL ? c->cur->hdr.sender : ENS_ADDR_NONE;
}

ens_addr ens_parent(const ens_ctx *c)
{
    return c != NULL && c->actor != NULL ? c->actor->parent : ENS_ADDR_NONE;
}

int ens_spawn(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
              ens_addr *out)
{
    return ens_spawn_flags(c, d, argt, arg, 0, out);
}

/* Why a spawn's arguments are refused, or NULL. */
static const char *spawn_refusal(const ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt,
                                 const void *arg, const ens_addr *out)
{
    if (c == NULL)
        return "the context is NULL";
    if (d == NULL)
        return "def is NULL";
    if (out == NULL)
        return "out is NULL";
    if (d->name == NULL)
        return "def->name is NULL";
    /* What runs is this definition, except from a connected program, where
     * it is only a name (the system's registered one runs). */
    const bool name_only = c->actor == NULL && c->sys->spawn_by_name;
    if (!name_only && d->receive == NULL && d->dispatch == NULL)
        return "the definition has neither receive nor dispatch";
    if ((argt == NULL) != (arg == NULL))
        return argt == NULL ? "arg given without its type argt" : "argt given with a NULL arg";
    return NULL;
}

int ens__spawn_prepare(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                       uint32_t flags, ens_addr *out, uint8_t **frame, size_t *len)
{
    *frame = NULL;
    *len = 0;
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    const char *bad = spawn_refusal(c, d, argt, arg, out);
    if (bad != NULL)
        return ens__fail(ENS_EINVAL, "ens_spawn: %s", bad);
    if (flags & ~(ENS__SPAWN_PUBLIC | ENS__SPAWN_KEEP_ADDR))
        return ens__fail(ENS_EINVAL, "ens_spawn: unknown flags 0x%x", (unsigned)flags);
    if (c->sys->down)
        return ENS_ESHUTDOWN;
    if (argt == NULL)
        return 0;
    ens_frame_hdr h = {.flags = ENS_FRAME_SYSTEM, .sender = c->self, .attempt = 1};
    return ens__frame_build(argt, arg, &h, c->sys->opts.max_frame_bytes, frame, len);
}

int ens_spawn_flags(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                    uint32_t flags, ens_addr *out)
{
    if (flags & ~ENS__SPAWN_PUBLIC)
        return ens__fail(ENS_EINVAL, "ens_spawn_flags: unknown flags 0x%x",
                         (unsigned)(flags & ~ENS__SPAWN_PUBLIC));
    return ens__spawn_shown(c, d, NULL, argt, arg, flags, out);
}

int ens__spawn_at(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                  uint32_t flags, ens_addr at)
{
    if (c == NULL || c->actor == NULL || !ens__addr_usable(at))
        return ENS_EINVAL;
    uint8_t *frame = NULL;
    size_t len = 0;
    ens_addr child = at;
    int prep = ens__spawn_prepare(c, d, argt, arg, flags, &child, &frame, &len);
    if (prep < 0)
        return prep;
    ens_system *s = c->sys;
    int rc = s->host->spawn(s, c->actor, d, NULL, frame, len, false, flags | ENS__SPAWN_AT, &child);
    if (rc < 0)
        return rc;
    if (add_child(c->actor, child) < 0) {
        ens__send_frame(s, c->self, child, &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM, 0, 0,
                        false);
        return ENS_ENOMEM;
    }
    return 0;
}

int ens__addr_release(ens_ctx *c, ens_addr who)
{
    if (c == NULL || c->actor == NULL || !ens__addr_usable(who))
        return ENS_EINVAL;
    ens_system *s = c->sys;
    return s->host->release != NULL ? s->host->release(s, c->actor, who) : ENS_ENOTSUP;
}

int ens__spawn_shown(ens_ctx *c, const ens_actor_def *d, const ens_actor_def *shown,
                     const ens_msgtype *argt, const void *arg, uint32_t flags, ens_addr *out)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    int prep = ens__spawn_prepare(c, d, argt, arg, flags, out, &frame, &len);
    if (prep < 0)
        return prep;
    ens_system *s = c->sys;
    ens_addr child;
    int rc = s->host->spawn(s, c->actor, d, shown, frame, len, c->actor == NULL, flags, &child);
    if (rc < 0)
        return rc;
    if (c->actor != NULL && add_child(c->actor, child) < 0) {
        /* The child runs but its parent could not note it: stop it rather
         * than leave an actor nobody stops with its parent. */
        ens__send_frame(s, c->self, child, &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM, 0, 0,
                        false);
        return ENS_ENOMEM;
    }
    *out = child;
    return 0;
}

/* Why c cannot make a call that needs an actor (in_actor) or any context. */
static const char *ctx_refusal(const ens_ctx *c, bool in_actor)
{
    if (c == NULL)
        return "the context is NULL";
    if (in_actor && c->actor == NULL)
        return "called outside an actor (the outside context has no actor)";
    return NULL;
}

/* Why a message (t, v) to `to` cannot be sent, or NULL. */
static const char *send_refusal(const ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v,
                                bool check_to)
{
    const char *why = ctx_refusal(c, false);
    if (why != NULL)
        return why;
    if (t == NULL)
        return "the message type is NULL";
    if (v == NULL)
        return "the value is NULL (every message type has a value)";
    if (check_to && !ens__addr_usable(to))
        return "the address is none or not one a message can go to";
    return NULL;
}

int ens_spawn_many(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                   uint32_t flags, size_t n, ens_addr *out, int *status)
{
    if (flags & ~ENS__SPAWN_PUBLIC)
        return ENS_EINVAL;
    return ens__spawn_many_shown(c, d, NULL, argt, arg, flags, n, out, status);
}

/* The base has no batch of its own: one spawn after another. */
static int spawn_each(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                      const ens_actor_def *shown, const uint8_t *frame, size_t len, uint32_t flags,
                      size_t n, ens_addr *out, int *status)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *copy = NULL;
        if (!(flags & ENS__SPAWN_AT)) /* else out[i] is where it starts */
            out[i] = ENS_ADDR_NONE;
        if (frame != NULL && (copy = ens__malloc(len)) == NULL) {
            status[i] = ENS_ENOMEM;
            continue;
        }
        if (copy != NULL)
            memcpy(copy, frame, len);
        status[i] = s->host->spawn(s, parent, d, shown, copy, len, parent == NULL, flags, &out[i]);
        if (status[i] > 0)
            status[i] = 0;
        if (status[i] < 0)
            out[i] = ENS_ADDR_NONE;
    }
    return 0;
}

/* ens__spawn_many_shown, or with at (n addresses) ens__spawn_many_at. */
static int spawn_many(ens_ctx *c, const ens_actor_def *d, const ens_actor_def *shown,
                      const ens_msgtype *argt, const void *arg, uint32_t flags, size_t n,
                      const ens_addr *at, ens_addr *out, int *status)
{
    if (out == NULL || n > ENS_SPAWN_MANY_MAX)
        return ENS_EINVAL;
    if (n == 0) {
        /* the arguments are checked all the same */
        ens_addr none;
        uint8_t *frame = NULL;
        size_t len = 0;
        int prep = ens__spawn_prepare(c, d, argt, arg, flags, &none, &frame, &len);
        free(frame);
        return prep < 0 ? prep : 0;
    }
    uint8_t *frame = NULL;
    size_t len = 0;
    int prep = ens__spawn_prepare(c, d, argt, arg, flags, out, &frame, &len);
    if (prep < 0)
        return prep;
    int *own = NULL;
    if (status == NULL && (status = own = ens__calloc(n, sizeof(*own))) == NULL) {
        free(frame);
        return ENS_ENOMEM;
    }
    ens_system *s = c->sys;
    for (size_t i = 0; i < n; i++) {
        out[i] = at != NULL ? at[i] : ENS_ADDR_NONE; /* at: where each starts */
        status[i] = 1;                               /* not answered yet */
    }
    if (at != NULL)
        flags |= ENS__SPAWN_AT;
    int rc = s->host->spawn_many != NULL
                 ? s->host->spawn_many(s, c->actor, d, shown, frame, len, c->actor == NULL, flags,
                                       n, out, status)
                 : spawn_each(s, c->actor, d, shown, frame, len, flags, n, out, status);
    free(frame);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            status[i] = rc;
        free(own);
        return rc;
    }
    int started = 0;
    for (size_t i = 0; i < n; i++) {
        if (status[i] > 0) /* a base that left one unanswered: no actor known there */
            status[i] = ENS_EIO;
        if (status[i] == 0 && c->actor != NULL && add_child(c->actor, out[i]) < 0) {
            /* As ens_spawn: a child its parent cannot note is stopped. */
            ens__send_frame(s, c->self, out[i], &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM, 0, 0,
                            false);
            status[i] = ENS_ENOMEM;
        }
        if (status[i] == 0)
            started++;
        else
            out[i] = ENS_ADDR_NONE;
    }
    free(own);
    return started;
}

int ens__spawn_many_shown(ens_ctx *c, const ens_actor_def *d, const ens_actor_def *shown,
                          const ens_msgtype *argt, const void *arg, uint32_t flags, size_t n,
                          ens_addr *out, int *status)
{
    return spawn_many(c, d, shown, argt, arg, flags, n, NULL, out, status);
}

int ens__spawn_many_at(ens_ctx *c, const ens_actor_def *d, const ens_msgtype *argt, const void *arg,
                       uint32_t flags, size_t n, const ens_addr *at, ens_addr *out, int *status)
{
    if (c == NULL || c->actor == NULL || at == NULL)
        return ENS_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!ens__addr_usable(at[i]))
            return ENS_EINVAL;
    return spawn_many(c, d, NULL, argt, arg, flags, n, at, out, status);
}

int ens_send(ens_ctx *c, ens_addr to, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    const char *bad = send_refusal(c, to, t, v, true);
    if (bad != NULL)
        return ens__fail(ENS_EINVAL, "ens_send: %s", bad);
    if (c->sys->down)
        return ENS_ESHUTDOWN;
    return ens__send_frame(c->sys, c->self, to, t, v, 0, 0, 0, true);
}

int ens_forward(ens_ctx *c, ens_addr to, const ens_msg *m)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || m == NULL || !ens__addr_usable(to))
        return ens__fail(ENS_EINVAL, "ens_forward: %s",
                         c == NULL   ? "the context is NULL"
                         : m == NULL ? "the message is NULL"
                                     : "the address is none or not one a message can go to");
    ens_system *s = c->sys;
    if (s->down)
        return ENS_ESHUTDOWN;
    if (m->hdr.flags & ENS_FRAME_REQUEST) /* the new target owes the answer */
        ens__answered(c, m->hdr.sender, m->hdr.corr);
    ens_frame_hdr h = m->hdr;
    h.target = to;
    h.flags |= ENS_FRAME_FORWARDED;
    h.attempt = 1;
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__frame_rebuild(m, &h, &frame, &len);
    if (rc < 0)
        return rc;
    return s->host->route(s, frame, len, &h, true);
}

int ens_reply(ens_ctx *c, const ens_msgtype *t, const void *v)
{
    ens__errmsg_clear();
    const char *bad = send_refusal(c, ENS_ADDR_NONE, t, v, false);
    if (bad == NULL && c->cur == NULL)
        bad = "called outside receive (no message to reply to)";
    else if (bad == NULL && ens_addr_is_none(c->cur->hdr.sender))
        bad = "the message has no sender to reply to";
    if (bad != NULL)
        return ens__fail(ENS_EINVAL, "ens_reply: %s", bad);
    if (c->sys->down)
        return ENS_ESHUTDOWN;
    const ens_frame_hdr *in = &c->cur->hdr;
    uint16_t flags = (in->flags & ENS_FRAME_REQUEST) && in->corr != 0 ? ENS_FRAME_REPLY : 0;
    if (flags)
        ens__answered(c, in->sender, in->corr);
    return ens__send_frame(c->sys, c->self, in->sender, t, v, flags, flags ? in->corr : 0, 0, true);
}

int ens_wakeup_after(ens_ctx *c, uint32_t delay_ms, uint64_t payload, uint64_t *timer_id)
{
    ens__errmsg_clear();
    if (ctx_refusal(c, true) != NULL)
        return ens__fail(ENS_EINVAL, "ens_wakeup_after: %s", ctx_refusal(c, true));
    uint64_t id = 0;
    int rc = c->sys->host->timer_add(c->sys, c->actor, delay_ms, payload, &id);
    if (rc == 0 && timer_id != NULL)
        *timer_id = id;
    return rc;
}

int ens_wakeup_cancel(ens_ctx *c, uint64_t timer_id)
{
    ens__errmsg_clear();
    if (ctx_refusal(c, true) != NULL)
        return ens__fail(ENS_EINVAL, "ens_wakeup_cancel: %s", ctx_refusal(c, true));
    int rc = c->sys->host->timer_cancel(c->sys, c->actor, timer_id);
    if (rc == ENS_ENOENT)
        ens__errmsg_set(
            "ens_wakeup_cancel: no wake-up %llu is pending (it fired, or was never set)",
            (unsigned long long)timer_id);
    return rc;
}

int ens_exit_request(ens_ctx *c, ens_addr who)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || !ens__addr_usable(who))
        return ens__fail(ENS_EINVAL, "ens_exit_request: %s",
                         c == NULL ? "the context is NULL" : "the address is not an actor's");
    if (c->sys->down)
        return ENS_ESHUTDOWN;
    return ens__send_frame(c->sys, c->self, who, &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM, 0,
                           0, false);
}

int ens_stop(ens_ctx *c, int reason, int status)
{
    ens__errmsg_clear();
    if (ctx_refusal(c, true) != NULL)
        return ens__fail(ENS_EINVAL, "ens_stop: %s", ctx_refusal(c, true));
    if (reason != ENS_EXIT_NORMAL && reason != ENS_EXIT_ERROR && reason != ENS_EXIT_SHUTDOWN &&
        reason != ENS_EXIT_INTENSITY)
        return ens__fail(ENS_EINVAL, "ens_stop: reason %d is not an ENS_EXIT_* reason", reason);
    ens_actor *a = c->actor;
    if (!a->stop_requested) {
        a->stop_requested = true;
        a->stop_reason = reason;
        a->stop_status = status;
    }
    return 0;
}

int ens_kill(ens_ctx *c, ens_addr who)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || !ens__addr_usable(who))
        return ens__fail(ENS_EINVAL, "ens_kill: %s",
                         c == NULL ? "the context is NULL" : "the address is not an actor's");
    if (c->sys->down)
        return ENS_ESHUTDOWN;
    if (c->sys->host->kill == NULL)
        return ENS_ENOTSUP;
    return c->sys->host->kill(c->sys, c->actor, who);
}

int ens_exit_defer(ens_ctx *c)
{
    ens__errmsg_clear();
    if (c == NULL || c->actor == NULL || c->cur == NULL ||
        !(c->cur->hdr.flags & ENS_FRAME_SYSTEM) || c->cur->hdr.type_id != ens_msg_exit_request.id)
        return ens__fail(ENS_EINVAL, "ens_exit_defer: %s",
                         ctx_refusal(c, true) != NULL
                             ? ctx_refusal(c, true)
                             : "the message being handled is not an ens.ExitRequest");
    c->actor->exit_deferred = true;
    return 0;
}

int ens_init_defer(ens_ctx *c)
{
    ens__errmsg_clear();
    if (c == NULL || c->actor == NULL || !c->actor->in_init || c->actor->init_acked)
        return ens__fail(ENS_EINVAL, "ens_init_defer: %s",
                         ctx_refusal(c, true) != NULL ? ctx_refusal(c, true)
                         : !c->actor->in_init         ? "called outside init"
                                                      : "init was acknowledged already");
    c->actor->init_deferred = true;
    return 0;
}

int ens_init_ack(ens_ctx *c, int status, const char *why)
{
    ens__errmsg_clear();
    if (c == NULL || c->actor == NULL || status > 0 || !c->actor->init_deferred ||
        c->actor->status == ENS_ACTOR_STOPPING || c->actor->status == ENS_ACTOR_DEAD)
        return ens__fail(ENS_EINVAL, "ens_init_ack: %s",
                         ctx_refusal(c, true) != NULL ? ctx_refusal(c, true)
                         : status > 0                 ? "status is positive (0 or an ENS_E* code)"
                         : !c->actor->init_deferred ? "init did not defer (ens_init_defer) or was "
                                                      "acknowledged already"
                                                    : "the actor is stopping");
    ens_actor *a = c->actor;
    ens_system *s = c->sys;
    if (a->in_init) { /* ends like an init that returned status */
        a->init_deferred = false;
        a->init_acked = true;
        a->init_ack_status = status;
        free(a->init_why);
        a->init_why = why != NULL ? strdup(why) : NULL;
        return 0;
    }
    a->init_deferred = false;
    (void)s->host->timer_cancel(s, a, a->init_timer);
    a->init_timer = 0;
    if (status == 0)
        init_started(a);
    else
        init_deferred_failed(a, status, why, false);
    return 0;
}

const ens_actor_def *ens_self_def(const ens_ctx *c)
{
    return c != NULL && c->actor != NULL ? c->actor->def : NULL;
}

int ens_dead_letters_handle(ens_ctx *c, bool enable)
{
    ens__errmsg_clear();
    if (ctx_refusal(c, true) != NULL)
        return ens__fail(ENS_EINVAL, "ens_dead_letters_handle: %s", ctx_refusal(c, true));
    c->sys->host->dead_letters_set(c->sys, c->self, enable);
    return 0;
}

/* ---- services: watched descriptors and commands (the bases do the work) -- */

int ens_watch_fd(ens_ctx *c, int fd, uint64_t tag)
{
    struct stat sb;
    ens__errmsg_clear();
    if (ctx_refusal(c, true) != NULL)
        return ens__fail(ENS_EINVAL, "ens_watch_fd: %s", ctx_refusal(c, true));
    if (fd < 0 || fstat(fd, &sb) < 0 || S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))
        return ens__fail(ENS_EINVAL, "ens_watch_fd: fd %d is %s", fd, /* epoll refuses files */
                         fd < 0 || fcntl(fd, F_GETFD) < 0 ? "not open"
                                                          : "a regular file or a directory");
    if (c->sys->host->watch == NULL)
        return ENS_ENOTSUP;
    int rc = c->sys->host->watch(c->sys, c->actor, fd, tag, true);
    if (rc == ENS_EEXIST)
        ens__errmsg_set("ens_watch_fd: fd %d is watched already", fd);
    return rc;
}

int ens_unwatch_fd(ens_ctx *c, int fd)
{
    ens__errmsg_clear();
    if (ctx_refusal(c, true) != NULL || fd < 0)
        return ens__fail(ENS_EINVAL, "ens_unwatch_fd: %s",
                         ctx_refusal(c, true) != NULL ? ctx_refusal(c, true) : "fd is negative");
    if (c->sys->host->watch == NULL)
        return ENS_ENOTSUP;
    int rc = c->sys->host->watch(c->sys, c->actor, fd, 0, false);
    if (rc == ENS_ENOENT)
        ens__errmsg_set("ens_unwatch_fd: fd %d is not watched", fd);
    return rc;
}

int ens_command_run(ens_ctx *c, const char *shell_command, uint32_t max_output, uint64_t tag)
{
    ens__errmsg_clear();
    if (ctx_refusal(c, true) != NULL || shell_command == NULL)
        return ens__fail(ENS_EINVAL, "ens_command_run: %s",
                         ctx_refusal(c, true) != NULL ? ctx_refusal(c, true)
                                                      : "shell_command is NULL");
    if (max_output == 0)
        max_output = ENS_COMMAND_OUTPUT_DEFAULT;
    /* The result carries the output in one frame: keep room for the rest. */
    if (max_output > c->sys->opts.max_frame_bytes - 1024u)
        return ENS_EMSGSIZE;
    if (c->sys->host->command == NULL)
        return ENS_ENOTSUP;
    return c->sys->host->command(c->sys, c->actor, shell_command, max_output, tag);
}

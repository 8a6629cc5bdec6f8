/*
 * behaviours/circuit_breaker.c - the circuit breaker actor (see
 * ensemble/circuit_breaker.h for the rules it implements).
 *
 * The breaker is a plain actor. Each request it lets through becomes a
 * request of its own to the target (ens_request with call_timeout_ms, so
 * the core's timeout and late-reply dropping apply), remembered in a small
 * table with the original requester's ens_from; the completion answers the
 * requester with ens_reply_to and feeds the outcome to the state machine.
 * The breaker never waits (no ens_call): while the target is slow, other
 * requests keep flowing or fail fast, which is the point of a breaker.
 *
 * Every state change bumps an epoch. A completion counts only if its
 * request was made in the current epoch, so slow replies from an earlier
 * state cannot close a breaker that has since opened, or count twice. The
 * open -> half-open move is a wake-up tagged with the epoch (a stale one
 * is ignored); a request that finds the reset timeout passed makes the move
 * too, should the wake-up ever be missing.
 *
 * A target named by global name is an address cached in the state: looked
 * up (ens_name_lookup, one short request to the admin) when none is cached,
 * and dropped after every failed request, so the next request asks the
 * name table again and follows the target to a new address. The breaker
 * never resends a request to the new address: the old target may have
 * taken it before it ended.
 *
 * The library's message types and the breaker's definition are built-in
 * (ENS__BUILTIN_MSGTYPE, ENS__BUILTIN_ACTOR): the type table and
 * ens_actor_find know them in every process of the process base, before any
 * system starts, without a call the user could forget and without code
 * run at load time.
 */
#include "ensemble/circuit_breaker.h"
#include "core/wire/why.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/runtime/runtime.h"
#include "core/wire/msgtype.h"
#include "ensemble/error.h"
#include "ensemble/event.h"
#include "ensemble/registry.h"
#include "ensemble/system.h"

/* ---- message types and definition ------------------------------------- */

/* Ids: the names' FNV-1a hashes (checked when the type table starts). */
const ens_msgtype ens_msg_breaker_open = {"ens.BreakerOpen", "S(u)", sizeof(ens_breaker_open_v), 0,
                                          0x699CC919u,       NULL};
const ens_msgtype ens_msg_breaker_info = {
    "ens.BreakerInfo", "S(iuuuuuUUU)", sizeof(ens_breaker_info_v), 0, 0x82C874B5u, NULL};
/* The start argument: the options as given (layout of ens_breaker_opts). */
static const ens_msgtype arg_type = {"ens.BreakerArg",
                                     "S(" ENS_ADDR_FMT "suuuuuuuu)",
                                     sizeof(ens_breaker_opts),
                                     0,
                                     0x9FE23BD7u,
                                     NULL};
ENS__BUILTIN_MSGTYPE(ens_msg_breaker_open);
ENS__BUILTIN_MSGTYPE(ens_msg_breaker_info);
ENS__BUILTIN_MSGTYPE(arg_type);

_Static_assert(sizeof(ens_breaker_opts) == 56, "ens_breaker_opts layout (ens.BreakerArg)");
_Static_assert(sizeof(ens_breaker_info_v) == 48, "ens_breaker_info_v layout");

/* A request let through and not completed yet. */
typedef struct pending_call {
    uint64_t tag;   /* the tag of the breaker's own request */
    ens_from from;  /* who asked the breaker */
    uint64_t epoch; /* the state it was let through in */
    int probe;      /* a half-open trial */
} pending_call;

typedef struct breaker {
    ens_breaker_opts o; /* o.target_name points to name (or is NULL) */
    char name[ENS_NAME_MAX + 1];
    ens_addr cached; /* by name: the holder's address, none until looked up */
    ens_breaker_state state;
    uint64_t epoch; /* +1 per state change */
    uint32_t consecutive;
    uint8_t window[ENS_BREAKER_MAX_WINDOW]; /* ring of outcomes, 1 = failure */
    uint32_t win_next, win_count, win_failures;
    uint32_t reset_ms;      /* the current reset timeout (backoff applied) */
    uint64_t open_until_ns; /* monotonic: when open ends */
    uint32_t probes_sent;   /* trials let through in this half-open */
    uint32_t probes_ok;     /* of which succeeded */
    uint64_t next_tag;
    pending_call *pend;
    size_t n_pend, cap_pend;
    uint64_t times_opened, rejected, passed;
} breaker;

static int breaker_init(ens_ctx *c, void *state, const ens_msg *arg);
static int breaker_receive(ens_ctx *c, void *state, const ens_msg *m);
static void breaker_terminate(ens_ctx *c, void *state, int reason);

const ens_actor_def ens_breaker_def = {"ens.CircuitBreaker",
                                       sizeof(breaker),
                                       breaker_init,
                                       breaker_receive,
                                       breaker_terminate,
                                       NULL,
                                       NULL,
                                       NULL,
                                       NULL};

ENS__BUILTIN_ACTOR(ens_breaker_def);

const char *ens_breaker_state_name(int state)
{
    switch (state) {
    case ENS_BREAKER_CLOSED:
        return "closed";
    case ENS_BREAKER_OPEN:
        return "open";
    case ENS_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}

/* ---- the state machine -------------------------------------------------- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Report a state change as a failure event (ENS_EV_BREAKER). */
static void report(ens_ctx *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(ens_ctx *c, int err, const char *fmt, ...)
{
    char reason[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    ens_event ev = {.kind = ENS_EV_BREAKER, .error = err, .reason = reason};
    if (ens_event_report(c, &ev) < 0)
        ens_log(c, ENS_LOG_WARN, "circuit breaker: %s", reason);
}

static void window_clear(breaker *b)
{
    memset(b->window, 0, sizeof(b->window));
    b->win_next = b->win_count = b->win_failures = 0;
    b->consecutive = 0;
}

static void window_push(breaker *b, int failed)
{
    uint32_t size = b->o.window_calls;
    if (size == 0 || size > ENS_BREAKER_MAX_WINDOW)
        size = ENS_BREAKER_MAX_WINDOW;
    if (b->win_count == size)
        b->win_failures -= b->window[b->win_next];
    else
        b->win_count++;
    b->window[b->win_next] = (uint8_t)(failed != 0);
    b->win_failures += (uint32_t)(failed != 0);
    b->win_next = (b->win_next + 1) % size;
}

static void enter_open(ens_ctx *c, breaker *b)
{
    b->state = ENS_BREAKER_OPEN;
    b->epoch++;
    b->times_opened++;
    b->open_until_ns = mono_ns() + (uint64_t)b->reset_ms * 1000000u;
    /* A failed wake-up leaves the lazy check in admit() to end the wait. */
    if (ens_wakeup_after(c, b->reset_ms, b->epoch, NULL) < 0)
        ens_log(c, ENS_LOG_WARN, "circuit breaker: no reset wake-up; half-open on next request");
}

static void enter_half_open(ens_ctx *c, breaker *b)
{
    b->state = ENS_BREAKER_HALF_OPEN;
    b->epoch++;
    b->probes_sent = b->probes_ok = 0;
    report(c, 0, "open -> half-open after %u ms; %u trial(s) let through", b->reset_ms,
           b->o.half_open_probes);
}

static void enter_closed(ens_ctx *c, breaker *b)
{
    b->state = ENS_BREAKER_CLOSED;
    b->epoch++;
    window_clear(b);
    b->reset_ms = b->o.reset_timeout_ms;
    report(c, 0, "half-open -> closed after %u successful trial(s)", b->probes_ok);
}

/* The outcome of a request let through in the current epoch. */
static void record(ens_ctx *c, breaker *b, int status, int probe)
{
    const int failed = status != 0;
    if (b->state == ENS_BREAKER_CLOSED) {
        window_push(b, failed);
        b->consecutive = failed ? b->consecutive + 1 : 0;
        if (b->o.max_failures > 0 && b->consecutive >= b->o.max_failures) {
            uint32_t n = b->consecutive;
            enter_open(c, b);
            report(c, status, "closed -> open after %u consecutive failures (last %s)", n,
                   ens_err_name(status));
        } else if (b->o.failure_percent > 0 && b->win_count >= b->o.window_calls &&
                   (uint64_t)b->win_failures * 100u >=
                       (uint64_t)b->o.failure_percent * b->win_count) {
            uint32_t f = b->win_failures, n = b->win_count;
            enter_open(c, b);
            report(c, failed ? status : 0,
                   "closed -> open: %u of the last %u calls failed (threshold %u%%)", f, n,
                   b->o.failure_percent);
        }
        return;
    }
    if (b->state != ENS_BREAKER_HALF_OPEN || !probe)
        return;
    if (failed) {
        uint64_t grown = (uint64_t)b->reset_ms * b->o.backoff_percent / 100u;
        uint32_t cap = b->o.max_reset_timeout_ms > b->o.reset_timeout_ms ? b->o.max_reset_timeout_ms
                                                                         : b->o.reset_timeout_ms;
        b->reset_ms = grown > cap ? cap : (uint32_t)grown;
        enter_open(c, b);
        report(c, status, "half-open -> open: trial failed (%s); next trial in %u ms",
               ens_err_name(status), b->reset_ms);
        return;
    }
    if (++b->probes_ok >= b->o.half_open_probes)
        enter_closed(c, b);
}

/* ---- requests ------------------------------------------------------------ */

static int pending_add(breaker *b, pending_call p)
{
    if (b->n_pend == b->cap_pend) {
        size_t cap = b->cap_pend ? b->cap_pend * 2 : 8;
        pending_call *n = realloc(b->pend, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        b->pend = n;
        b->cap_pend = cap;
    }
    b->pend[b->n_pend++] = p;
    return 0;
}

/* Remove the entry of tag into *out; 0 if it was not there. */
static int pending_take(breaker *b, uint64_t tag, pending_call *out)
{
    for (size_t i = 0; i < b->n_pend; i++) {
        if (b->pend[i].tag == tag) {
            *out = b->pend[i];
            b->pend[i] = b->pend[--b->n_pend];
            return 1;
        }
    }
    return 0;
}

/* Pass the target's answer on to the original requester. */
static void answer(ens_ctx *c, ens_from from, int status, const ens_msg *reply)
{
    const ens_msgtype *t = reply != NULL ? ens_msg_type(reply) : NULL;
    const void *v = t != NULL ? ens_msg_value(reply, t) : NULL;
    if (status == 0 && t == NULL) {
        (void)ens_reply_to(c, from, ENS_EBADTYPE, NULL, NULL); /* unknown here */
        return;
    }
    if (ens_reply_to(c, from, status, t, v) < 0 && status != 0)
        (void)ens_reply_to(c, from, status, NULL, NULL); /* at least the code */
}

static void on_reply(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    breaker *b = state;
    pending_call p;
    if (!pending_take(b, tag, &p))
        return;
    if (status != 0)
        b->cached = ENS_ADDR_NONE; /* the name may have moved: look again */
    answer(c, p.from, status, reply);
    if (p.epoch == b->epoch)
        record(c, b, status, p.probe);
}

static uint32_t retry_after_ms(const breaker *b)
{
    if (b->state != ENS_BREAKER_OPEN)
        return 0;
    uint64_t now = mono_ns();
    if (now >= b->open_until_ns)
        return 0;
    return (uint32_t)((b->open_until_ns - now + 999999u) / 1000000u);
}

static int reject(ens_ctx *c, breaker *b)
{
    b->rejected++;
    ens_breaker_open_v v = {retry_after_ms(b)};
    (void)ens_reply_error(c, ENS_EBREAKER_OPEN, &ens_msg_breaker_open, &v);
    return 0;
}

/* The address to send to: the target, or the name's holder (looked up if
 * none is cached). Errors: ENS_ENOENT (nobody holds the name) and those of
 * ens_name_lookup. */
static int target_of(ens_ctx *c, breaker *b, ens_addr *out)
{
    if (b->o.target_name == NULL) {
        *out = b->o.target;
        return 0;
    }
    if (ens_addr_is_none(b->cached)) {
        int rc = ens_name_lookup(c, b->name, &b->cached);
        if (rc < 0) {
            b->cached = ENS_ADDR_NONE;
            return rc;
        }
    }
    *out = b->cached;
    return 0;
}

/* A request let through whose target name nobody holds: a failure of the
 * call, answered as a call to a dead actor is. */
static int no_such_name(ens_ctx *c, breaker *b, int probe)
{
    char why[ENS_NAME_MAX + 32];
    snprintf(why, sizeof(why), "no such name: %s", b->name);
    ens_string_v v = {why};
    if (ens_reply_error(c, ENS_ENOACTOR, &ens_msg_string, &v) < 0)
        (void)ens_reply_error(c, ENS_ENOACTOR, NULL, NULL);
    b->passed++;
    b->probes_sent += (uint32_t)probe;
    record(c, b, ENS_ENOACTOR, probe);
    return 0;
}

static int admit(ens_ctx *c, breaker *b, const ens_msg *m)
{
    if (b->state == ENS_BREAKER_OPEN && mono_ns() >= b->open_until_ns)
        enter_half_open(c, b);
    int probe = 0;
    if (b->state == ENS_BREAKER_OPEN)
        return reject(c, b);
    if (b->state == ENS_BREAKER_HALF_OPEN) {
        if (b->probes_sent >= b->o.half_open_probes)
            return reject(c, b);
        probe = 1;
    }
    const ens_msgtype *t = ens_msg_type(m);
    if (t == NULL) {
        (void)ens_reply_error(c, ENS_EBADTYPE, NULL, NULL);
        return 0;
    }
    ens_addr to;
    int rc = target_of(c, b, &to);
    if (rc == ENS_ENOENT)
        return no_such_name(c, b, probe);
    pending_call p = {++b->next_tag, ens_from_current(c), b->epoch, probe};
    if (rc == 0)
        rc = pending_add(b, p);
    if (rc == 0) {
        rc = ens_request(c, to, t, ens_msg_value(m, t), b->o.call_timeout_ms, on_reply, p.tag);
        if (rc < 0)
            pending_take(b, p.tag, &p);
    }
    if (rc < 0) {
        /* Our own failure (a lookup or the send), not the target's: answered,
         * not counted. */
        (void)ens_reply_error(c, rc, NULL, NULL);
        return 0;
    }
    b->passed++;
    b->probes_sent += (uint32_t)probe;
    return 0;
}

static int reply_info(ens_ctx *c, const breaker *b)
{
    ens_breaker_info_v v = {
        .state = (int32_t)b->state,
        .consecutive_failures = b->consecutive,
        .window_failures = b->win_failures,
        .window_count = b->win_count,
        .reset_timeout_ms = b->reset_ms,
        .retry_after_ms = retry_after_ms(b),
        .times_opened = b->times_opened,
        .rejected = b->rejected,
        .passed = b->passed,
    };
    return ens_reply(c, &ens_msg_breaker_info, &v);
}

/* ---- the actor ------------------------------------------------------------ */

/* Why opts_check refuses o, in words. */
static const char *opts_refusal(const ens_breaker_opts *o)
{
    if (ens_addr_is_none(o->target) == (o->target_name == NULL))
        return "give one of target and target_name";
    if (o->target_name != NULL && !ens_name_valid(o->target_name))
        return "target_name is not a valid global name";
    if (o->max_failures == 0 && o->failure_percent == 0)
        return "max_failures and failure_percent are both 0";
    if (o->failure_percent > 100)
        return "failure_percent is above 100";
    if (o->call_timeout_ms == 0 || o->reset_timeout_ms == 0)
        return "call_timeout_ms and reset_timeout_ms must not be 0";
    if (o->backoff_percent < 100)
        return "backoff_percent is below 100";
    if (o->half_open_probes == 0)
        return "half_open_probes is 0";
    return "window_calls must be 1 to ENS_BREAKER_MAX_WINDOW with failure_percent";
}

static int opts_check(const ens_breaker_opts *o)
{
    if (ens_addr_is_none(o->target) == (o->target_name == NULL) ||
        (o->target_name != NULL && !ens_name_valid(o->target_name)) ||
        (o->max_failures == 0 && o->failure_percent == 0) || o->failure_percent > 100 ||
        o->call_timeout_ms == 0 || o->reset_timeout_ms == 0 || o->backoff_percent < 100 ||
        o->half_open_probes == 0)
        return ENS_EINVAL;
    if (o->failure_percent > 0 &&
        (o->window_calls == 0 || o->window_calls > ENS_BREAKER_MAX_WINDOW))
        return ENS_EINVAL;
    return 0;
}

static int breaker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    breaker *b = state;
    const ens_breaker_opts *o = arg != NULL ? ens_msg_value(arg, &arg_type) : NULL;
    if (o == NULL || opts_check(o) < 0)
        return ENS_EINVAL;
    b->o = *o;
    if (o->target_name != NULL) { /* the argument is borrowed: keep a copy */
        snprintf(b->name, sizeof(b->name), "%s", o->target_name);
        b->o.target_name = b->name;
    }
    b->cached = ENS_ADDR_NONE;
    b->state = ENS_BREAKER_CLOSED;
    b->epoch = 1;
    b->reset_ms = o->reset_timeout_ms;
    return 0;
}

static int breaker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    breaker *b = state;
    if (ens_msg_is_system(m)) {
        const ens_wakeup_v *w = ens_msg_value(m, &ens_msg_wakeup);
        if (w != NULL && b->state == ENS_BREAKER_OPEN && w->payload == b->epoch)
            enter_half_open(c, b);
        return 0;
    }
    if (ens_msg_is_request(m)) {
        if (ens_msg_value(m, &ens_msg_breaker_info) != NULL)
            return reply_info(c, b);
        return admit(c, b, m);
    }
    if (ens_msg_error(m) != 0)
        return 0; /* an error reply nobody waits for: the core drops those */
    char why[ENS_NAME_MAX + 32];
    const char *reason =
        b->state == ENS_BREAKER_OPEN ? "circuit breaker open" : "circuit breaker half-open";
    if (b->state == ENS_BREAKER_CLOSED) {
        ens_addr to;
        int rc = target_of(c, b, &to);
        if (rc == 0)
            return ens_forward(c, to, m);
        if (rc != ENS_ENOENT)
            return rc; /* retried once, then back to its sender as poison */
        snprintf(why, sizeof(why), "no such name: %s", b->name);
        reason = why;
    }
    const ens_msgtype *t = ens_msg_type(m);
    ens_event ev = {
        .kind = ENS_EV_DEAD_LETTER,
        .actor = b->o.target_name != NULL ? b->cached : b->o.target,
        .msg_type = t != NULL ? t->name : "",
        .sender = ens_msg_sender(m),
        .reason = reason,
    };
    (void)ens_event_report(c, &ev);
    return 0;
}

static void breaker_terminate(ens_ctx *c, void *state, int reason)
{
    (void)reason;
    breaker *b = state;
    /* Requesters still waiting learn it now rather than at their timeout. */
    for (size_t i = 0; i < b->n_pend; i++)
        (void)ens_reply_to(c, b->pend[i].from, ENS_ENOACTOR, NULL, NULL);
    free(b->pend);
    b->pend = NULL;
    b->n_pend = b->cap_pend = 0;
}

/* ---- the API -------------------------------------------------------------- */

int ens_breaker_spawn(ens_ctx *c, const ens_breaker_opts *o, ens_addr *out)
{
    ens__errmsg_clear();
    if (c == NULL || o == NULL || out == NULL)
        return ens__fail(ENS_EINVAL, "ens_breaker_spawn: an argument is NULL (c, o or out)");
    int rc = opts_check(o);
    if (rc < 0)
        return ens__fail(rc, "ens_breaker_spawn: the options are refused: %s", opts_refusal(o));
    return ens_spawn(c, &ens_breaker_def, &arg_type, o, out);
}

int ens_breaker_info(ens_ctx *outside, ens_addr breaker_addr, uint32_t timeout_ms,
                     ens_breaker_info_v *out)
{
    ens__errmsg_clear();
    if (outside == NULL || out == NULL || ens_in_actor(outside))
        return ens__fail(ENS_EINVAL, "ens_breaker_info: %s",
                         out != NULL && outside != NULL
                             ? "called inside an actor (request ens.BreakerInfo instead)"
                             : "an argument is NULL");
    ens_breaker_info_v q;
    memset(&q, 0, sizeof(q));
    ens_msg *r = NULL;
    int rc = ens_ask(outside, breaker_addr, &ens_msg_breaker_info, &q, timeout_ms, &r);
    if (rc == 0) {
        const ens_breaker_info_v *v = ens_msg_value(r, &ens_msg_breaker_info);
        if (v != NULL)
            *out = *v;
        else
            rc = ENS_EBADTYPE;
    }
    ens_msg_free(r);
    return rc;
}

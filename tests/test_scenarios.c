/*
 * tests/test_scenarios.c - the behaviour every system base must show, written
 * once and run on each base (see tests/support/scenario.h).
 *
 * Each scenario starts its own system, drives it from the outside context
 * (spawn, tell, ask, listen) and shuts it down. Synchronisation is only ever
 * an ens_ask or ens_listen with a timeout, never a sleep. Actors do not
 * assert: they report what they saw in scn.Report messages (to the outside
 * or to a parent that relays them), and the test asserts on the reports.
 * Checks that cannot hold on the process base (failure events delivered to
 * on_event in this program, static counters, an outside program that holds
 * actors still) are marked inproc-only where they are made.
 *
 * Message types are registered once in main(), before any system starts,
 * because the process base forks after that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "support/scenario.h"

/* ---- Message types ---------------------------------------------------- */

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;
static ens_msgtype greeting_t = {"scn.Greeting", "S(is)", sizeof(greeting_v), 0, 0};

typedef struct roster_v {
    int32_t n;
    ens_array people; /* greeting_v items */
} roster_v;
static ens_msgtype roster_t = {"scn.Roster", "S(i)A(S(is))", sizeof(roster_v), 0, 0};

/* What actors tell the test: `tag` says what happened, the rest depends. */
typedef struct report_v {
    int32_t tag;
    int32_t n;
    int64_t a;
    int64_t b;
    ens_addr who;
    ens_addr other;
} report_v;
static ens_msgtype report_t = {"scn.Report", "S(iiII" ENS_ADDR_FMT ENS_ADDR_FMT ")",
                               sizeof(report_v), 0, 0};

/* Never registered: sending it must fail. */
typedef struct unregistered_v {
    int32_t x;
} unregistered_v;
static ens_msgtype unregistered_t = {"scn.Unregistered", "S(i)", sizeof(unregistered_v), 0, 0};

enum report_tag {
    TAG_SPAWNED = 1,  /* parent: n = spawn rc, who = child */
    TAG_SAW_EXIT,     /* child: its receive saw the exit request */
    TAG_TERMINATE,    /* child: terminate ran, n = reason */
    TAG_STOPPING,     /* child: n = ens_stop(99) rc, a = ens_stop(ERROR, 42) rc */
    TAG_CHILD_EXITED, /* parent: n = reason, a = status, b = incarnation, who = child */
    TAG_CHILD_REPLY,  /* forwarded request answered by the child */
    TAG_DEAD,         /* dead envelope seen by collector n */
    TAG_UNREGISTERED, /* n = ens_dead_letters_handle(false) rc */
    TAG_FLAKY,        /* n = deliveries seen, a = first attempt, b = second */
    TAG_GO,           /* n = wake-up request rcs, a/b = cancel rcs */
    TAG_WAKE,         /* a = payload, b = ns since request, n = checks passed */
    TAG_H_GREETING,   /* typed handler for greetings */
    TAG_H_INT64,      /* typed handler for int64 */
    TAG_H_FALLBACK,   /* receive fallback, a = type id */
    TAG_ORDER,        /* n = order held, a = count, b = next expected */
};

#define REPORT(...) (&(report_v){__VA_ARGS__})

static int send_report(ens_ctx *c, ens_addr to, const report_v *r)
{
    return ens_send(c, to, &report_t, r);
}

static int reply_report(ens_ctx *c, const report_v *r)
{
    return ens_reply(c, &report_t, r);
}

/* The text of a string message, or NULL if m is not one. */
static const char *msg_text(const ens_msg *m)
{
    const ens_string_v *s = ens_msg_value(m, ENS_MSG_STRING);
    return s != NULL ? s->text : NULL;
}

static bool msg_is_text(const ens_msg *m, const char *text)
{
    const char *s = msg_text(m);
    return s != NULL && strcmp(s, text) == 0;
}

/* ---- Test-side helpers ------------------------------------------------ */

static ens_addr spawn_ok(scn *t, const ens_actor_def *d, const ens_msgtype *argt, const void *arg)
{
    ens_addr a = ENS_ADDR_NONE;
    int rc = ens_spawn(t->out, d, argt, arg, &a);
    if (rc != 0)
        fail_msg("spawning %s: %s", d->name, ens_err_name(rc));
    assert_false(ens_addr_is_none(a));
    return a;
}

static ens_addr spawn_mode(scn *t, const ens_actor_def *d, int64_t mode)
{
    return spawn_ok(t, d, ENS_MSG_INT64, &(ens_int64_v){mode});
}

static void tell_text(scn *t, ens_addr to, const char *text)
{
    int rc = ens_send(t->out, to, ENS_MSG_STRING, &(ens_string_v){(char *)text});
    if (rc != 0)
        fail_msg("telling \"%s\": %s", text, ens_err_name(rc));
}

/* Ask and expect a reply of type want; the reply is returned (caller frees). */
static ens_msg *ask_ok(scn *t, ens_addr to, const ens_msgtype *type, const void *v,
                       const ens_msgtype *want)
{
    ens_msg *r = NULL;
    int rc = ens_ask(t->out, to, type, v, SCN_WAIT_MS, &r);
    if (rc != 0) {
        ens_msg_free(r);
        fail_msg("ens_ask with %s: %s", type->name, ens_err_name(rc));
    }
    assert_non_null(r);
    if (ens_msg_value(r, want) == NULL) {
        ens_msg_free(r);
        fail_msg("ens_ask with %s: reply is not %s", type->name, want->name);
    }
    return r;
}

static report_v ask_report(scn *t, ens_addr to, const ens_msgtype *type, const void *v)
{
    ens_msg *r = ask_ok(t, to, type, v, &report_t);
    report_v rep = *(const report_v *)ens_msg_value(r, &report_t);
    ens_msg_free(r);
    return rep;
}

static report_v ask_text_report(scn *t, ens_addr to, const char *text)
{
    return ask_report(t, to, ENS_MSG_STRING, &(ens_string_v){(char *)text});
}

static report_v listen_report(scn *t)
{
    ens_msg *m = scn_listen_type(t, &report_t, SCN_WAIT_MS);
    report_v rep = *(const report_v *)ens_msg_value(m, &report_t);
    ens_msg_free(m);
    return rep;
}

/* Listen for reports until one with tag `last` (included) or max reports. */
static size_t collect_until(scn *t, int32_t last, report_v *out, size_t max)
{
    for (size_t i = 0; i < max; i++) {
        out[i] = listen_report(t);
        if (out[i].tag == last)
            return i + 1;
    }
    fail_msg("no report with tag %d among %zu reports", (int)last, max);
    return max;
}

/* Index of the first report with tag, or -1. */
static int find_tag(const report_v *r, size_t n, int32_t tag)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].tag == tag)
            return (int)i;
    return -1;
}

static void assert_listen_quiet(scn *t, uint32_t timeout_ms)
{
    ens_msg *m = NULL;
    int rc = ens_listen(t->out, timeout_ms, &m);
    if (rc != ENS_ETIMEDOUT) {
        const ens_msgtype *ty = m != NULL ? ens_msg_type(m) : NULL;
        char name[64];
        snprintf(name, sizeof(name), "%s", ty != NULL ? ty->name : "?");
        ens_msg_free(m);
        fail_msg("expected no message, ens_listen gave %s (%s)", ens_err_name(rc), name);
    }
    assert_null(m);
}

#define assert_addr_equal(a, b) assert_true(ens_addr_equal((a), (b)))

/* ---- hello ------------------------------------------------------------ */

static int greeter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const char *text = msg_text(m);
    if (text == NULL)
        return 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "Hello, %s!", text);
    return ens_reply(c, ENS_MSG_STRING, &(ens_string_v){buf});
}

static const ens_actor_def greeter_def = {"scn.Greeter", 0,    NULL, greeter_receive,
                                          NULL,          NULL, NULL};

static void test_hello_ask_gets_reply_text(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr g = spawn_ok(t, &greeter_def, NULL, NULL);

    ens_msg *r = ask_ok(t, g, ENS_MSG_STRING, &(ens_string_v){"world"}, ENS_MSG_STRING);
    assert_string_equal(msg_text(r), "Hello, world!");
    assert_addr_equal(ens_msg_sender(r), g);
    assert_ptr_equal(ens_msg_type(r), ENS_MSG_STRING);
    assert_int_equal(ens_msg_attempt(r), 1);
    ens_msg_free(r);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- ask timeout and the late reply ----------------------------------- */

/* Answers by ens_reply, then tells the original sender 42, so the test
 * knows the (late) reply was sent before it. */
static int late_echo_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (msg_text(m) == NULL)
        return 0;
    ens_reply(c, ENS_MSG_STRING, &(ens_string_v){"late reply"});
    return ens_send(c, ens_msg_sender(m), ENS_MSG_INT64, &(ens_int64_v){42});
}

static const ens_actor_def late_echo_def = {"scn.LateEcho", 0,    NULL, late_echo_receive,
                                            NULL,           NULL, NULL};

/* Keeps a request and forwards it to its echo child 50 ms later, so the
 * reply carries the correlation of an ask that has timed out. */
typedef struct slow_state {
    ens_msg *held;
    ens_addr echo;
} slow_state;

static int slow_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)arg;
    slow_state *s = state;
    return ens_spawn(c, &late_echo_def, NULL, NULL, &s->echo);
}

static int slow_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    slow_state *s = state;
    if (msg_text(m) != NULL && s->held == NULL) {
        s->held = ens_msg_dup(m);
        if (s->held == NULL)
            return ENS_ENOMEM;
        return ens_wakeup_after(c, 50, 0, NULL);
    }
    if (ens_msg_value(m, ENS_MSG_WAKEUP) != NULL && s->held != NULL) {
        int rc = ens_forward(c, s->echo, s->held);
        ens_msg_free(s->held);
        s->held = NULL;
        return rc;
    }
    return 0;
}

static void slow_terminate(ens_ctx *c, void *state, int reason)
{
    (void)c;
    (void)reason;
    slow_state *s = state;
    ens_msg_free(s->held);
    s->held = NULL;
}

static const ens_actor_def slow_def = {
    "scn.Slow", sizeof(slow_state), slow_init, slow_receive, slow_terminate, NULL, NULL};

static void test_ask_timeout_drops_late_reply(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr slow = spawn_ok(t, &slow_def, NULL, NULL);

    ens_msg *r = (ens_msg *)&r; /* must be set to NULL */
    int64_t t0 = scn_now_ns();
    int rc = ens_ask(t->out, slow, ENS_MSG_STRING, &(ens_string_v){"hurry"}, 10, &r);
    int64_t waited_ms = (scn_now_ns() - t0) / 1000000;
    assert_int_equal(rc, ENS_ETIMEDOUT);
    assert_null(r);
    assert_true(waited_ms < 5000);

    /* The echo's 42 follows its late reply on the same pair: if the reply
     * leaked to the outside it would come first. */
    ens_msg *m = scn_listen_type(t, ENS_MSG_INT64, SCN_WAIT_MS);
    assert_int_equal(((const ens_int64_v *)ens_msg_value(m, ENS_MSG_INT64))->value, 42);
    ens_msg_free(m);
    assert_listen_quiet(t, 100);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- ordering --------------------------------------------------------- */

#define ORDER_COUNT 10000

typedef struct counter_state {
    int64_t next;
    int64_t count;
    int32_t broken;
} counter_state;

static int counter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    counter_state *s = state;
    const ens_int64_v *v = ens_msg_value(m, ENS_MSG_INT64);
    if (v != NULL) {
        if (v->value != s->next)
            s->broken = 1;
        s->next = v->value + 1;
        s->count++;
        return 0;
    }
    if (msg_is_text(m, "result"))
        return reply_report(c,
                            REPORT(.tag = TAG_ORDER, .n = !s->broken, .a = s->count, .b = s->next));
    return 0;
}

static const ens_actor_def counter_def = {
    "scn.Counter", sizeof(counter_state), NULL, counter_receive, NULL, NULL, NULL};

/* Sends 0..n-1 to its counter child when told n, and forwards requests for
 * the result to it: the actor-to-actor pair must keep order too, and the
 * counter's reply reaches the asker through the forward. */
typedef struct pump_state {
    ens_addr counter;
} pump_state;

static int pump_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)arg;
    pump_state *s = state;
    return ens_spawn(c, &counter_def, NULL, NULL, &s->counter);
}

static int pump_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    pump_state *s = state;
    const ens_int64_v *v = ens_msg_value(m, ENS_MSG_INT64);
    if (v != NULL) {
        for (int64_t i = 0; i < v->value; i++) {
            int rc = ens_send(c, s->counter, ENS_MSG_INT64, &(ens_int64_v){i});
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (msg_text(m) != NULL)
        return ens_forward(c, s->counter, m);
    return 0;
}

static const ens_actor_def pump_def = {
    "scn.Pump", sizeof(pump_state), pump_init, pump_receive, NULL, NULL, NULL};

static void test_order_per_pair_is_fifo(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);

    ens_addr counter = spawn_ok(t, &counter_def, NULL, NULL);
    for (int64_t i = 0; i < ORDER_COUNT; i++) {
        int rc = ens_send(t->out, counter, ENS_MSG_INT64, &(ens_int64_v){i});
        if (rc != 0)
            fail_msg("send %lld: %s", (long long)i, ens_err_name(rc));
    }
    report_v r = ask_text_report(t, counter, "result");
    assert_int_equal(r.tag, TAG_ORDER);
    assert_int_equal(r.a, ORDER_COUNT);
    assert_int_equal(r.b, ORDER_COUNT);
    assert_int_equal(r.n, 1);

    /* Actor to actor, through a pump. */
    ens_addr pump = spawn_ok(t, &pump_def, NULL, NULL);
    assert_int_equal(ens_send(t->out, pump, ENS_MSG_INT64, &(ens_int64_v){ORDER_COUNT}), 0);
    r = ask_text_report(t, pump, "result");
    assert_int_equal(r.tag, TAG_ORDER);
    assert_int_equal(r.a, ORDER_COUNT);
    assert_int_equal(r.b, ORDER_COUNT);
    assert_int_equal(r.n, 1);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- a parent and its child: exit request, ens_stop, init failure ----- */

enum parent_mode {
    MODE_EXIT_REQUEST = 1, /* spawn, then ens_exit_request the child */
    MODE_STOP_ERROR,       /* spawn, then ask the child to ens_stop(ERROR, 42) */
    MODE_INIT_FAIL,        /* spawn a child whose init fails, send it a greeting */
};

typedef struct parent_state {
    int64_t mode;
    ens_addr outside;
    ens_addr child;
} parent_state;

typedef struct child_state {
    int32_t unused;
} child_state;

static int child_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (ens_msg_value(m, ENS_MSG_EXIT_REQUEST) != NULL)
        return send_report(c, ens_parent(c), REPORT(.tag = TAG_SAW_EXIT, .who = ens_self(c)));
    if (msg_is_text(m, "stop")) {
        int bad = ens_stop(c, 99, 0);
        int rc = ens_stop(c, ENS_EXIT_ERROR, 42);
        return send_report(c, ens_parent(c), REPORT(.tag = TAG_STOPPING, .n = bad, .a = rc));
    }
    return 0;
}

static int terminate_count; /* inproc-only: terminate calls of child_fail_def */

static void child_terminate(ens_ctx *c, void *state, int reason)
{
    (void)state;
    send_report(c, ens_parent(c), REPORT(.tag = TAG_TERMINATE, .n = reason, .who = ens_self(c)));
}

static const ens_actor_def child_def = {
    "scn.Child", sizeof(child_state), NULL, child_receive, child_terminate, NULL, NULL};

static int child_fail_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    return ENS_EIO;
}

static void child_fail_terminate(ens_ctx *c, void *state, int reason)
{
    terminate_count++;
    child_terminate(c, state, reason);
}

static const ens_actor_def child_fail_def = {"scn.FailingChild",
                                             sizeof(child_state),
                                             child_fail_init,
                                             child_receive,
                                             child_fail_terminate,
                                             NULL,
                                             NULL};

static int parent_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    parent_state *s = state;
    const ens_int64_v *mode = arg != NULL ? ens_msg_value(arg, ENS_MSG_INT64) : NULL;
    if (mode == NULL)
        return ENS_EINVAL;
    s->mode = mode->value;
    return 0;
}

static int parent_start(ens_ctx *c, parent_state *s)
{
    s->outside = ens_sender(c);
    const ens_actor_def *d = s->mode == MODE_INIT_FAIL ? &child_fail_def : &child_def;
    int rc = ens_spawn(c, d, NULL, NULL, &s->child);
    send_report(c, s->outside, REPORT(.tag = TAG_SPAWNED, .n = rc, .who = s->child));
    if (rc != 0)
        return 0;
    switch (s->mode) {
    case MODE_EXIT_REQUEST:
        return ens_exit_request(c, s->child);
    case MODE_STOP_ERROR:
        return ens_send(c, s->child, ENS_MSG_STRING, &(ens_string_v){"stop"});
    case MODE_INIT_FAIL:
        return ens_send(c, s->child, &greeting_t, &(greeting_v){1, "never read"});
    }
    return 0;
}

static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent_state *s = state;
    if (msg_is_text(m, "start"))
        return parent_start(c, s);
    const report_v *r = ens_msg_value(m, &report_t);
    if (r != NULL) /* from the child: pass it on */
        return send_report(c, s->outside, r);
    const ens_child_exited_v *ce = ens_msg_value(m, ENS_MSG_CHILD_EXITED);
    if (ce != NULL)
        return send_report(c, s->outside,
                           REPORT(.tag = TAG_CHILD_EXITED, .n = ce->reason, .a = ce->status,
                                  .b = ce->incarnation, .who = ce->child, .other = s->child));
    return 0;
}

static const ens_actor_def parent_def = {
    "scn.Parent", sizeof(parent_state), parent_init, parent_receive, NULL, NULL, NULL};

/* Start a parent in `mode` and collect its reports up to child-exited. */
static size_t run_parent(scn *t, int64_t mode, report_v *r, size_t max, ens_addr *child)
{
    ens_addr p = spawn_mode(t, &parent_def, mode);
    tell_text(t, p, "start");
    size_t n = collect_until(t, TAG_CHILD_EXITED, r, max);
    assert_int_equal(r[0].tag, TAG_SPAWNED);
    assert_int_equal(r[0].n, 0);
    *child = r[0].who;
    assert_false(ens_addr_is_none(*child));
    assert_addr_equal(r[n - 1].who, *child);   /* the notice names the child */
    assert_addr_equal(r[n - 1].other, *child); /* ... the one the parent spawned */
    assert_int_equal(r[n - 1].b, 1);           /* first incarnation */
    return n;
}

static void test_exit_request_seen_then_terminate_then_child_exited(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    report_v r[8];
    ens_addr child;
    size_t n = run_parent(t, MODE_EXIT_REQUEST, r, 8, &child);

    int saw = find_tag(r, n, TAG_SAW_EXIT);
    int term = find_tag(r, n, TAG_TERMINATE);
    assert_true(saw > 0);
    assert_true(term > saw); /* receive saw the request before terminate ran */
    assert_int_equal(r[term].n, ENS_EXIT_SHUTDOWN);
    assert_addr_equal(r[saw].who, child);
    if (t->base == ENS_BASE_INPROC) /* deterministic base: terminate's report first */
        assert_int_equal((size_t)term, n - 2);
    assert_int_equal(r[n - 1].n, ENS_EXIT_SHUTDOWN);
    assert_int_equal(r[n - 1].a, 0);

    /* The child is gone: asking it fails at once. */
    ens_msg *reply = NULL;
    assert_int_equal(
        ens_ask(t->out, child, ENS_MSG_STRING, &(ens_string_v){"hi"}, SCN_WAIT_MS, &reply),
        ENS_ENOACTOR);
    ens_msg_free(reply); /* why nobody was there, when it came as a reply */
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_stop_error_reaches_parent_with_status(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    assert_int_equal(ens_stop(t->out, ENS_EXIT_NORMAL, 0), ENS_EINVAL); /* not an actor */

    report_v r[8];
    ens_addr child;
    size_t n = run_parent(t, MODE_STOP_ERROR, r, 8, &child);

    int stopping = find_tag(r, n, TAG_STOPPING);
    int term = find_tag(r, n, TAG_TERMINATE);
    assert_true(stopping > 0);
    assert_int_equal(r[stopping].n, ENS_EINVAL); /* reason 99 is refused */
    assert_int_equal(r[stopping].a, 0);
    assert_true(term > stopping); /* terminate ran, after the handler */
    assert_int_equal(r[term].n, ENS_EXIT_ERROR);
    assert_int_equal(r[n - 1].n, ENS_EXIT_ERROR);
    assert_int_equal(r[n - 1].a, 42);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_init_failure_outside_and_inside(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    terminate_count = 0;

    /* From outside: ENS_EINIT, no address written, no actor left. */
    ens_addr a = {7, 7, 0};
    assert_int_equal(ens_spawn(t->out, &child_fail_def, NULL, NULL, &a), ENS_EINIT);
    assert_int_equal(a.id, 7);
    assert_int_equal(a.node, 7);
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_INIT_FAILED, ENS_ADDR_NONE), 1);

    /* From inside: the parent is told, with init's code; the greeting
     * queued for the child becomes a dead letter. */
    scn_events_clear(t);
    report_v r[8];
    ens_addr child;
    size_t n = run_parent(t, MODE_INIT_FAIL, r, 8, &child);
    assert_int_equal(r[n - 1].n, ENS_EXIT_INIT_FAILED);
    assert_int_equal(r[n - 1].a, ENS_EIO);
    assert_int_equal(find_tag(r, n, TAG_TERMINATE), -1);
    if (scn_events_local(t)) {
        assert_int_equal(scn_events_count(t, ENS_EV_INIT_FAILED, child), 1);
        /* the dead letter may be reported after the notice: flush */
        assert_listen_quiet(t, 50);
        assert_int_equal(scn_events_count(t, ENS_EV_DEAD_LETTER, child), 1);
        assert_int_equal(terminate_count, 0); /* static counter: inproc only */
    }
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- actors creating actors: forward keeps the correlation ------------ */

typedef struct fwd_state {
    ens_addr child;
} fwd_state;

static int fwd_child_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (msg_text(m) == NULL)
        return 0;
    return reply_report(c, REPORT(.tag = TAG_CHILD_REPLY, .n = msg_is_text(m, "ping"),
                                  .a = ens_msg_attempt(m), .who = ens_parent(c),
                                  .other = ens_msg_sender(m)));
}

static const ens_actor_def fwd_child_def = {"scn.FwdChild", 0,    NULL, fwd_child_receive,
                                            NULL,           NULL, NULL};

/* Start argument 1: spawn the child in init; 0: on the first request. */
static int fwd_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    fwd_state *s = state;
    const ens_int64_v *early = ens_msg_value(arg, ENS_MSG_INT64);
    if (early != NULL && early->value == 1)
        return ens_spawn(c, &fwd_child_def, NULL, NULL, &s->child);
    return 0;
}

static int fwd_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    fwd_state *s = state;
    if (msg_text(m) == NULL)
        return 0;
    if (ens_addr_is_none(s->child)) {
        int rc = ens_spawn(c, &fwd_child_def, NULL, NULL, &s->child);
        if (rc != 0)
            return rc;
    }
    return ens_forward(c, s->child, m);
}

static const ens_actor_def fwd_def = {
    "scn.Forwarder", sizeof(fwd_state), fwd_init, fwd_receive, NULL, NULL, NULL};

static void test_child_answers_forwarded_ask(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    for (int64_t early = 0; early <= 1; early++) {
        ens_addr parent = spawn_mode(t, &fwd_def, early);
        ens_addr first_child = ENS_ADDR_NONE;
        for (int i = 0; i < 2; i++) {
            ens_msg *r = ask_ok(t, parent, ENS_MSG_STRING, &(ens_string_v){"ping"}, &report_t);
            const report_v *rep = ens_msg_value(r, &report_t);
            ens_addr child = ens_msg_sender(r);
            assert_int_equal(rep->tag, TAG_CHILD_REPLY);
            assert_int_equal(rep->n, 1);
            assert_int_equal(rep->a, 1);
            assert_addr_equal(rep->who, parent);             /* the child's parent */
            assert_addr_equal(rep->other, ens_self(t->out)); /* original sender kept */
            assert_false(ens_addr_equal(child, parent));     /* the child answered */
            assert_false(ens_addr_is_none(child));
            if (i == 0)
                first_child = child;
            else
                assert_addr_equal(child, first_child); /* spawned once */
            ens_msg_free(r);
        }
    }
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- dead letters ----------------------------------------------------- */

typedef struct collector_state {
    int32_t id;
    ens_addr outside;
} collector_state;

/* Start argument: a report with n = collector id, who = the outside. */
static int collector_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    collector_state *s = state;
    const report_v *r = ens_msg_value(arg, &report_t);
    if (r == NULL)
        return ENS_EINVAL;
    s->id = r->n;
    s->outside = r->who;
    return ens_dead_letters_handle(c, true);
}

static int collector_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    collector_state *s = state;
    const ens_dead_envelope_v *d = ens_msg_value(m, ENS_MSG_DEAD_ENVELOPE);
    if (d != NULL) {
        const ens_msg *orig = ens_poison_original(m);
        const greeting_v *g = orig != NULL ? ens_msg_value(orig, &greeting_t) : NULL;
        int rc = send_report(c, s->outside,
                             REPORT(.tag = TAG_DEAD, .n = s->id, .a = d->type_id,
                                    .b = g != NULL ? g->count : -1, .who = d->intended,
                                    .other = orig != NULL ? ens_msg_sender(orig) : ENS_ADDR_NONE));
        if (rc == 0 && g != NULL)
            rc = ens_send(c, s->outside, &greeting_t, g);
        return rc;
    }
    if (msg_is_text(m, "unregister"))
        return reply_report(
            c, REPORT(.tag = TAG_UNREGISTERED, .n = ens_dead_letters_handle(c, false)));
    return 0;
}

static const ens_actor_def collector_def = {"scn.DeadLetters",
                                            sizeof(collector_state),
                                            collector_init,
                                            collector_receive,
                                            NULL,
                                            NULL,
                                            NULL};

static void test_dead_letters_go_to_latest_handler_else_event(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    assert_int_equal(ens_dead_letters_handle(t->out, true), ENS_EINVAL);

    /* A dead address: a child that has exited (its parent said so). */
    report_v r[8];
    ens_addr dead;
    run_parent(t, MODE_EXIT_REQUEST, r, 8, &dead);

    ens_addr self = ens_self(t->out);
    spawn_ok(t, &collector_def, &report_t, REPORT(.n = 1, .who = self));
    ens_addr c2 = spawn_ok(t, &collector_def, &report_t, REPORT(.n = 2, .who = self));

    assert_int_equal(ens_send(t->out, dead, &greeting_t, &(greeting_v){7, "lost"}), 0);
    report_v d = listen_report(t);
    assert_int_equal(d.tag, TAG_DEAD);
    assert_int_equal(d.n, 2); /* the latest registration wins */
    assert_int_equal(d.a, greeting_t.id);
    assert_int_equal(d.b, 7);
    assert_addr_equal(d.who, dead);
    assert_addr_equal(d.other, self);
    ens_msg *m = scn_listen_type(t, &greeting_t, SCN_WAIT_MS);
    const greeting_v *g = ens_msg_value(m, &greeting_t);
    assert_int_equal(g->count, 7);
    assert_string_equal(g->text, "lost");
    ens_msg_free(m);

    /* Unregistered: no fallback to collector 1; the letter is an event. */
    report_v u = ask_text_report(t, c2, "unregister");
    assert_int_equal(u.tag, TAG_UNREGISTERED);
    assert_int_equal(u.n, 0);
    scn_events_clear(t);
    assert_int_equal(ens_send(t->out, dead, &greeting_t, &(greeting_v){8, "lost again"}), 0);
    assert_listen_quiet(t, 200);
    if (scn_events_local(t)) {
        assert_int_equal(scn_events_count(t, ENS_EV_DEAD_LETTER, dead), 1);
        for (size_t i = 0; i < t->n_events; i++)
            if (t->events[i].kind == ENS_EV_DEAD_LETTER)
                assert_string_equal(t->events[i].msg_type, "scn.Greeting");
    }

    ens_msg *reply = NULL;
    assert_int_equal(
        ens_ask(t->out, dead, &greeting_t, &(greeting_v){9, "ask"}, SCN_WAIT_MS, &reply),
        ENS_ENOACTOR);
    ens_msg_free(reply); /* why nobody was there, when it came as a reply */
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- retry, then poison ----------------------------------------------- */

typedef struct flaky_state {
    uint32_t seen[2];
    int32_t n_seen;
} flaky_state;

/* "once": fails its first delivery only. A greeting: always fails.
 * "ping": answers "pong". */
static int flaky_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    flaky_state *s = state;
    if (msg_is_text(m, "once")) {
        if (s->n_seen < 2)
            s->seen[s->n_seen] = ens_msg_attempt(m);
        s->n_seen++;
        if (ens_msg_attempt(m) == 1)
            return ENS_EIO;
        report_v r = {.tag = TAG_FLAKY, .n = s->n_seen, .a = s->seen[0], .b = s->seen[1]};
        s->n_seen = 0;
        return reply_report(c, &r);
    }
    if (ens_msg_value(m, &greeting_t) != NULL)
        return ENS_EIO;
    if (msg_is_text(m, "ping"))
        return ens_reply(c, ENS_MSG_STRING, &(ens_string_v){"pong"});
    return 0;
}

static const ens_actor_def flaky_def = {
    "scn.Flaky", sizeof(flaky_state), NULL, flaky_receive, NULL, NULL, NULL};

static void assert_poison_of(const ens_msg *p, ens_addr target, ens_addr sender, int32_t count,
                             const char *text)
{
    const ens_poison_v *pv = ens_msg_value(p, ENS_MSG_POISON);
    assert_non_null(pv);
    assert_addr_equal(pv->target, target);
    assert_int_equal(pv->error, ENS_EIO);
    assert_int_equal(pv->signal, 0);
    assert_int_equal(pv->attempts, 2);
    const ens_msg *orig = ens_poison_original(p);
    assert_non_null(orig);
    assert_ptr_equal(ens_msg_type(orig), &greeting_t);
    assert_addr_equal(ens_msg_sender(orig), sender);
    const greeting_v *g = ens_msg_value(orig, &greeting_t);
    assert_non_null(g);
    assert_int_equal(g->count, count);
    assert_string_equal(g->text, text);
}

static void test_retry_once_then_poison(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr f = spawn_ok(t, &flaky_def, NULL, NULL);
    ens_addr self = ens_self(t->out);

    /* Fails once: attempt 1 then 2, and no poison. */
    report_v r = ask_text_report(t, f, "once");
    assert_int_equal(r.tag, TAG_FLAKY);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.a, 1);
    assert_int_equal(r.b, 2);
    if (scn_events_local(t)) {
        ens_event_kind k[8];
        assert_int_equal(scn_events_kinds(t, f, k, 8), 2);
        assert_int_equal(k[0], ENS_EV_ERROR);
        assert_int_equal(k[1], ENS_EV_RETRY);
    }
    assert_listen_quiet(t, 50);

    /* Always fails: the ask completes with the poison. */
    scn_events_clear(t);
    ens_msg *p = NULL;
    int rc = ens_ask(t->out, f, &greeting_t, &(greeting_v){3, "bad"}, SCN_WAIT_MS, &p);
    assert_int_equal(rc, ENS_EPOISON);
    assert_non_null(p);
    assert_poison_of(p, f, self, 3, "bad");
    ens_msg_free(p);
    if (scn_events_local(t)) {
        ens_event_kind k[8];
        assert_int_equal(scn_events_kinds(t, f, k, 8), 4);
        assert_int_equal(k[0], ENS_EV_ERROR);
        assert_int_equal(k[1], ENS_EV_RETRY);
        assert_int_equal(k[2], ENS_EV_ERROR);
        assert_int_equal(k[3], ENS_EV_POISON);
        assert_int_equal(t->events[0].attempt, 1);
        assert_int_equal(t->events[2].attempt, 2);
        assert_int_equal(t->events[0].error, ENS_EIO);
        assert_string_equal(t->events[0].msg_type, "scn.Greeting");
        assert_string_equal(t->events[0].actor_type, "scn.Flaky");
    }

    /* A poisoned tell comes back through ens_listen. */
    assert_int_equal(ens_send(t->out, f, &greeting_t, &(greeting_v){4, "worse"}), 0);
    p = scn_listen_type(t, ENS_MSG_POISON, SCN_WAIT_MS);
    assert_poison_of(p, f, self, 4, "worse");
    ens_msg_free(p);

    /* ... and the actor goes on. */
    ens_msg *pong = ask_ok(t, f, ENS_MSG_STRING, &(ens_string_v){"ping"}, ENS_MSG_STRING);
    assert_string_equal(msg_text(pong), "pong");
    assert_null(ens_poison_original(pong));
    ens_msg_free(pong);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- wake-ups --------------------------------------------------------- */

#define WAKE_N 5 /* payloads 1..4 fire, 5 is cancelled */

static const uint32_t wake_delay[WAKE_N + 1] = {0, 30, 10, 20, 10, 15};

typedef struct sleeper_state {
    ens_addr outside;
    int64_t asked_ns[WAKE_N + 1];
    uint64_t timer[WAKE_N + 1];
} sleeper_state;

static int sleeper_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    sleeper_state *s = state;
    if (msg_is_text(m, "go")) {
        s->outside = ens_sender(c);
        int rc = 0;
        for (int p = 1; p <= WAKE_N; p++) {
            s->asked_ns[p] = scn_now_ns();
            int r = ens_wakeup_after(c, wake_delay[p], (uint64_t)p, &s->timer[p]);
            if (r != 0)
                rc = r;
        }
        int cancel1 = ens_wakeup_cancel(c, s->timer[WAKE_N]);
        int cancel2 = ens_wakeup_cancel(c, s->timer[WAKE_N]);
        return reply_report(c, REPORT(.tag = TAG_GO, .n = rc, .a = cancel1, .b = cancel2));
    }
    const ens_wakeup_v *w = ens_msg_value(m, ENS_MSG_WAKEUP);
    if (w != NULL) {
        int64_t now = scn_now_ns();
        if (w->payload < 1 || w->payload > WAKE_N)
            return send_report(c, s->outside, REPORT(.tag = TAG_WAKE, .a = (int64_t)w->payload));
        int p = (int)w->payload;
        int32_t checks = (w->timer_id == s->timer[p]) | (w->delay_ms == wake_delay[p]) << 1;
        return send_report(c, s->outside,
                           REPORT(.tag = TAG_WAKE, .n = checks, .a = p, .b = now - s->asked_ns[p]));
    }
    return 0;
}

static const ens_actor_def sleeper_def = {
    "scn.Sleeper", sizeof(sleeper_state), NULL, sleeper_receive, NULL, NULL, NULL};

static void test_wakeups_in_deadline_order_never_early(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    assert_int_equal(ens_wakeup_after(t->out, 10, 1, NULL), ENS_EINVAL);
    ens_addr s = spawn_ok(t, &sleeper_def, NULL, NULL);

    report_v go = ask_text_report(t, s, "go");
    assert_int_equal(go.tag, TAG_GO);
    assert_int_equal(go.n, 0);
    assert_int_equal(go.a, 0);
    assert_int_equal(go.b, ENS_ENOENT);

    static const int64_t expected[] = {2, 4, 3, 1};
    for (size_t i = 0; i < 4; i++) {
        report_v w = listen_report(t);
        assert_int_equal(w.tag, TAG_WAKE);
        assert_int_equal(w.a, expected[i]);
        assert_int_equal(w.n, 3); /* timer id and delay as requested */
        int64_t min_ns = (int64_t)wake_delay[w.a] * 1000000;
        if (w.b < min_ns)
            fail_msg("wake-up %lld came %lld ns after its request, before its %u ms",
                     (long long)w.a, (long long)w.b, wake_delay[w.a]);
    }
    assert_listen_quiet(t, 100); /* the cancelled one never comes */
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- typed dispatch --------------------------------------------------- */

static int typed_on_greeting(ens_ctx *c, void *state, const void *value, const ens_msg *m)
{
    (void)state;
    const greeting_v *g = value;
    return reply_report(c, REPORT(.tag = TAG_H_GREETING, .n = g->count,
                                  .a = g->text != NULL && strcmp(g->text, "typed") == 0,
                                  .b = value == ens_msg_value(m, &greeting_t)));
}

static int typed_on_int64(ens_ctx *c, void *state, const void *value, const ens_msg *m)
{
    (void)state;
    (void)m;
    const ens_int64_v *v = value;
    return reply_report(c, REPORT(.tag = TAG_H_INT64, .a = v->value));
}

static int typed_fallback(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (msg_text(m) == NULL)
        return 0;
    return reply_report(c, REPORT(.tag = TAG_H_FALLBACK, .a = ens_msg_type_id(m)));
}

static const ens_dispatch_entry typed_table[] = {
    {&greeting_t, typed_on_greeting},
    {&ens_type_int64, typed_on_int64},
    {NULL, NULL},
};

static const ens_actor_def typed_def = {"scn.Typed", 0,           NULL, typed_fallback,
                                        NULL,        typed_table, NULL};
static const ens_actor_def typed_only_def = {"scn.TypedOnly", 0,   NULL, NULL, NULL,
                                             typed_table,     NULL};

static void test_dispatch_table_then_fallback(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr a = spawn_ok(t, &typed_def, NULL, NULL);

    report_v r = ask_report(t, a, &greeting_t, &(greeting_v){5, "typed"});
    assert_int_equal(r.tag, TAG_H_GREETING);
    assert_int_equal(r.n, 5);
    assert_int_equal(r.a, 1);
    assert_int_equal(r.b, 1);
    r = ask_report(t, a, ENS_MSG_INT64, &(ens_int64_v){-99});
    assert_int_equal(r.tag, TAG_H_INT64);
    assert_int_equal(r.a, -99);
    r = ask_text_report(t, a, "other");
    assert_int_equal(r.tag, TAG_H_FALLBACK);
    assert_int_equal(r.a, ENS_MSG_STRING->id);

    /* No receive: an unmatched message is ignored, without an error. */
    ens_addr only = spawn_ok(t, &typed_only_def, NULL, NULL);
    scn_events_clear(t);
    ens_msg *reply = NULL;
    assert_int_equal(ens_ask(t->out, only, ENS_MSG_STRING, &(ens_string_v){"x"}, 100, &reply),
                     ENS_ETIMEDOUT);
    assert_null(reply);
    r = ask_report(t, only, ENS_MSG_INT64, &(ens_int64_v){7});
    assert_int_equal(r.tag, TAG_H_INT64);
    assert_int_equal(r.a, 7);
    if (scn_events_local(t))
        assert_int_equal(t->n_events, 0);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- user message types ----------------------------------------------- */

static int echo_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_msgtype *ty = ens_msg_type(m);
    if (ty == &greeting_t || ty == &roster_t)
        return ens_reply(c, ty, ens_msg_value(m, ty));
    return 0;
}

static const ens_actor_def echo_def = {"scn.Echo", 0, NULL, echo_receive, NULL, NULL, NULL};

static void assert_greeting_round_trip(scn *t, ens_addr echo, int32_t count, const char *text)
{
    ens_msg *r = ask_ok(t, echo, &greeting_t, &(greeting_v){count, (char *)text}, &greeting_t);
    const greeting_v *g = ens_msg_value(r, &greeting_t);
    assert_int_equal(g->count, count);
    if (text == NULL)
        assert_null(g->text);
    else
        assert_string_equal(g->text, text);
    ens_msg_free(r);
}

static void assert_roster_round_trip(scn *t, ens_addr echo, const greeting_v *people, uint32_t n)
{
    roster_v sent = {(int32_t)n, {(void *)people, n}};
    ens_msg *r = ask_ok(t, echo, &roster_t, &sent, &roster_t);
    const roster_v *got = ens_msg_value(r, &roster_t);
    assert_int_equal(got->n, n);
    assert_int_equal(got->people.count, n);
    const greeting_v *items = got->people.items;
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(items[i].count, people[i].count);
        assert_string_equal(items[i].text, people[i].text);
    }
    ens_msg_free(r);
}

static void test_user_types_round_trip(void **state)
{
    scn *t = *state;
    /* Registered in main(): the same pointer again is fine, another type
     * with the same name is refused. */
    assert_int_equal(ens_msgtype_register(&greeting_t), 0);
    ens_msgtype twin = {"scn.Greeting", "S(i)", sizeof(int32_t), 0, 0};
    assert_int_equal(ens_msgtype_register(&twin), ENS_EEXIST);
    assert_ptr_equal(ens_msgtype_find("scn.Roster"), &roster_t);

    scn_start(t, NULL);
    ens_addr echo = spawn_ok(t, &echo_def, NULL, NULL);

    assert_greeting_round_trip(t, echo, 12, "h\xc3\xa9llo, w\xc3\xb6rld");
    assert_greeting_round_trip(t, echo, -1, "");
    assert_greeting_round_trip(t, echo, 0, NULL);
    char *big = malloc(5001);
    assert_non_null(big);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    assert_greeting_round_trip(t, echo, 5000, big);
    free(big);

    static const greeting_v people[] = {{1, "ada"}, {2, "grace"}, {3, "barbara"}};
    assert_roster_round_trip(t, echo, people, 3);
    assert_roster_round_trip(t, echo, NULL, 0);

    unregistered_v u = {1};
    assert_int_equal(ens_send(t->out, echo, &unregistered_t, &u), ENS_EBADTYPE);
    ens_msg *reply = (ens_msg *)&reply;
    assert_int_equal(ens_ask(t->out, echo, &unregistered_t, &u, 100, &reply), ENS_EBADTYPE);
    assert_null(reply);
    assert_int_equal(ens_send(t->out, ENS_ADDR_NONE, &greeting_t, &(greeting_v){1, "x"}),
                     ENS_EINVAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- mailbox bound ---------------------------------------------------- */

typedef struct sink_state {
    int64_t count;
} sink_state;

static int sink_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    sink_state *s = state;
    if (ens_msg_value(m, ENS_MSG_INT64) != NULL)
        s->count++;
    else if (msg_is_text(m, "count"))
        return reply_report(c, REPORT(.a = s->count));
    return 0;
}

static const ens_actor_def sink_def = {
    "scn.Sink", sizeof(sink_state), NULL, sink_receive, NULL, NULL, NULL};

static void test_mailbox_bound_gives_efull(void **state)
{
    scn *t = *state;
    /* The bound holds where frames wait: on the inproc base in the system's
     * queue (tells do not run actors), on the process base in this
     * program's buffer for the destination (sends leave during its calls). */
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.mailbox_limit = 100;
    scn_start(t, &o);
    ens_addr sink = spawn_ok(t, &sink_def, NULL, NULL);

    for (int64_t i = 0; i < 100; i++)
        assert_int_equal(ens_send(t->out, sink, ENS_MSG_INT64, &(ens_int64_v){i}), 0);
    assert_int_equal(ens_send(t->out, sink, ENS_MSG_INT64, &(ens_int64_v){100}), ENS_EFULL);

    int ran = ens_system_run(t->sys, SCN_WAIT_MS);
    if (t->base == ENS_BASE_INPROC)
        assert_int_equal(ran, 100);
    report_v r = ask_text_report(t, sink, "count");
    assert_int_equal(r.a, 100); /* the refused one was not queued */
    assert_int_equal(ens_send(t->out, sink, ENS_MSG_INT64, &(ens_int64_v){101}), 0);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* Counts byte messages, each numbered in its first 8 bytes: a = how many,
 * b = how many came out of order. */
typedef struct bytes_sink_state {
    int64_t count, out_of_order;
} bytes_sink_state;

static int bytes_sink_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    bytes_sink_state *s = state;
    const ens_bytes_v *b = ens_msg_value(m, ENS_MSG_BYTES);
    if (b != NULL) {
        int64_t seq = -1;
        if (b->data.len >= sizeof(seq))
            memcpy(&seq, b->data.data, sizeof(seq));
        if (seq != s->count)
            s->out_of_order++;
        s->count++;
    } else if (msg_is_text(m, "count")) {
        return reply_report(c, REPORT(.a = s->count, .b = s->out_of_order));
    }
    return 0;
}

static const ens_actor_def bytes_sink_def = {
    "scn.BytesSink", sizeof(bytes_sink_state), NULL, bytes_sink_receive, NULL, NULL, NULL};

static int send_numbered(scn *t, ens_addr to, uint8_t *buf, size_t len, int64_t seq)
{
    memcpy(buf, &seq, sizeof(seq));
    return ens_send(t->out, to, ENS_MSG_BYTES, &(ens_bytes_v){{buf, (uint32_t)len}});
}

/* Ask a bytes sink for its report; an ask is a bounded send too, so it
 * waits for room like the sends before it. */
static report_v ask_bytes_sink(scn *t, ens_addr sink)
{
    ens_msg *r = NULL;
    int rc;
    while ((rc = ens_ask(t->out, sink, ENS_MSG_STRING, &(ens_string_v){"count"}, SCN_WAIT_MS,
                         &r)) == ENS_EFULL)
        assert_true(ens_system_run(t->sys, 100) >= 0);
    assert_int_equal(rc, 0);
    const report_v *v = ens_msg_value(r, &report_t);
    assert_non_null(v);
    report_v rep = *v;
    ens_msg_free(r);
    return rep;
}

static void test_mailbox_bytes_bound_gives_efull(void **state)
{
    scn *t = *state;
    /* 1 MiB holds ten messages of 100 000 bytes on both bases (inproc:
     * encoded, about 100 100 bytes; process base: as sent, in pieces,
     * about 100 400), never eleven. A message count bound would take all. */
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.mailbox_bytes_limit = 1u << 20;
    scn_start(t, &o);
    assert_int_equal(ens_system_options(t->sys)->mailbox_bytes_limit, 1u << 20);
    ens_addr sink = spawn_ok(t, &bytes_sink_def, NULL, NULL);
    size_t len = 100000;
    uint8_t *buf = calloc(1, len);
    assert_non_null(buf);
    int64_t seq = 0;
    for (; seq < 10; seq++)
        assert_int_equal(send_numbered(t, sink, buf, len, seq), 0);
    assert_int_equal(send_numbered(t, sink, buf, len, seq), ENS_EFULL);
    /* A small message that still fits is taken. */
    assert_int_equal(ens_send(t->out, sink, ENS_MSG_STRING, &(ens_string_v){"fits"}), 0);

    /* Once the queue drains there is room again; nothing refused arrives,
     * nothing accepted is lost or reordered. */
    for (int i = 0; i < 3; seq++, i++) {
        int rc;
        while ((rc = send_numbered(t, sink, buf, len, seq)) == ENS_EFULL)
            assert_true(ens_system_run(t->sys, 100) >= 0);
        assert_int_equal(rc, 0);
    }
    report_v r = ask_bytes_sink(t, sink);
    assert_int_equal(r.a, seq);
    assert_int_equal(r.b, 0);
    free(buf);

    /* A message larger than the bound fits where nothing waits (a new
     * destination: on the process base its frames wait for the connection
     * until this program's next call). */
    ens_addr second = spawn_ok(t, &bytes_sink_def, NULL, NULL);
    len = (1u << 20) + 4096;
    buf = calloc(1, len);
    assert_non_null(buf);
    assert_int_equal(send_numbered(t, second, buf, len, 0), 0);
    assert_int_equal(send_numbered(t, second, buf, len, 1), ENS_EFULL);
    r = ask_bytes_sink(t, second);
    assert_int_equal(r.a, 1);
    assert_int_equal(r.b, 0);
    free(buf);
    o.mailbox_bytes_limit = 0;
    ens_system *bad = NULL;
    assert_int_equal(ens_system_start(&o, &bad), ENS_EINVAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- shutdown terminates every live actor ----------------------------- */

/* terminate counts in a page shared with every process of the system
 * (mapped in main before any system starts, so forked actors update the
 * test's copy): after shutdown no actor is left to report to. */
typedef struct {
    int terminated;
    int bad_reason;
    ens_addr order[16]; /* who terminated, in order */
} shutdown_record;
static shutdown_record *shut;

static int counted_init(ens_ctx *c, void *state, const ens_msg *arg);

static void counted_terminate(ens_ctx *c, void *state, int reason)
{
    (void)state;
    int at = __atomic_fetch_add(&shut->terminated, 1, __ATOMIC_SEQ_CST);
    if (at < 16)
        shut->order[at] = ens_self(c);
    if (reason != ENS_EXIT_SHUTDOWN)
        __atomic_fetch_add(&shut->bad_reason, 1, __ATOMIC_SEQ_CST);
}

static int counted_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    (void)m;
    return 0;
}

static const ens_actor_def counted_def = {"scn.Counted",     0,    counted_init, counted_receive,
                                          counted_terminate, NULL, NULL};

/* Start argument: the number of children to spawn. */
static int counted_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    const ens_int64_v *kids = arg != NULL ? ens_msg_value(arg, ENS_MSG_INT64) : NULL;
    for (int64_t i = 0; kids != NULL && i < kids->value; i++) {
        ens_addr child;
        int rc = ens_spawn(c, &counted_def, NULL, NULL, &child);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void test_shutdown_terminates_every_actor(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    memset(shut, 0, sizeof(*shut));
    ens_addr top[3] = {spawn_mode(t, &counted_def, 2), spawn_mode(t, &counted_def, 0),
                       spawn_mode(t, &counted_def, 1)};
    assert_true(ens_system_run(t->sys, SCN_WAIT_MS) >= 0);
    assert_int_equal(shut->terminated, 0);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    assert_int_equal(shut->terminated, 6); /* 3 top level + 3 children */
    assert_int_equal(shut->bad_reason, 0);
    if (t->base != ENS_BASE_INPROC)
        return; /* processes end concurrently: no order to check */

    /* Top-level actors stop in reverse start order (API-SKETCH 6.2.7). */
    int at[3];
    for (int i = 0; i < 3; i++) {
        at[i] = -1;
        for (int j = 0; j < shut->terminated; j++)
            if (ens_addr_equal(shut->order[j], top[i]))
                at[i] = j;
        assert_true(at[i] >= 0);
    }
    assert_true(at[2] < at[1]);
    assert_true(at[1] < at[0]);
}

/* ---- main ------------------------------------------------------------- */

static const struct CMUnitTest scenarios[] = {
    SCN_TEST(test_hello_ask_gets_reply_text),
    SCN_TEST(test_ask_timeout_drops_late_reply),
    SCN_TEST(test_order_per_pair_is_fifo),
    SCN_TEST(test_child_answers_forwarded_ask),
    SCN_TEST(test_exit_request_seen_then_terminate_then_child_exited),
    SCN_TEST(test_stop_error_reaches_parent_with_status),
    SCN_TEST(test_init_failure_outside_and_inside),
    SCN_TEST(test_dead_letters_go_to_latest_handler_else_event),
    SCN_TEST(test_retry_once_then_poison),
    SCN_TEST(test_wakeups_in_deadline_order_never_early),
    SCN_TEST(test_dispatch_table_then_fallback),
    SCN_TEST(test_user_types_round_trip),
    SCN_TEST(test_mailbox_bound_gives_efull),
    SCN_TEST(test_mailbox_bytes_bound_gives_efull),
    SCN_TEST(test_shutdown_terminates_every_actor),
};

int main(void)
{
    shut = mmap(NULL, sizeof(*shut), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shut == MAP_FAILED)
        return 1;
    ens_msgtype *types[] = {&greeting_t, &roster_t, &report_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ens_msgtype_register(types[i]);
        if (rc != 0) {
            fprintf(stderr, "registering %s: %s\n", types[i]->name, ens_err_name(rc));
            return 1;
        }
    }
    return scn_run_bases("scenarios", scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}

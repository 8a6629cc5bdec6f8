/*
 * tests/test_scenarios_delivery.c - how messages travel between actors and the outside, written
 * once and run on each system base (see tests/support/scenario.h).
 *
 * Asks and their replies (a late reply is dropped), order per pair, a
 * forwarded ask, wake-ups, typed dispatch, user message types, and the
 * mailbox bounds (count and bytes) that refuse with ENS_EFULL.
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

#include "support/scn_reports.h"

/* ---- hello ------------------------------------------------------------ */

static int greeter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const char *text = msg_text(m);
    if (text == NULL)
        return 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "Hello, %s!", text);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){buf});
}

static const ens_actor_def greeter_def = {"scn.Greeter", 0,    NULL, greeter_receive, NULL, NULL,
                                          NULL,          NULL, NULL};

static void test_hello_ask_gets_reply_text(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr g = spawn_ok(t, &greeter_def, NULL, NULL);

    ens_msg *r = ask_ok(t, g, &ens_msg_string, &(ens_string_v){"world"}, &ens_msg_string);
    assert_string_equal(msg_text(r), "Hello, world!");
    assert_addr_equal(ens_msg_sender(r), g);
    assert_ptr_equal(ens_msg_type(r), &ens_msg_string);
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
    ens_reply(c, &ens_msg_string, &(ens_string_v){"late reply"});
    return ens_send(c, ens_msg_sender(m), &ens_msg_int64, &(ens_int64_v){42});
}

static const ens_actor_def late_echo_def = {
    "scn.LateEcho", 0, NULL, late_echo_receive, NULL, NULL, NULL, NULL, NULL};

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
    if (ens_msg_value(m, &ens_msg_wakeup) != NULL && s->held != NULL) {
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
    "scn.Slow", sizeof(slow_state), slow_init, slow_receive, slow_terminate, NULL, NULL, NULL,
    NULL};

static void test_ask_timeout_drops_late_reply(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr slow = spawn_ok(t, &slow_def, NULL, NULL);

    ens_msg *r = (ens_msg *)&r; /* must be set to NULL */
    int64_t t0 = scn_now_ns();
    int rc = ens_ask(t->out, slow, &ens_msg_string, &(ens_string_v){"hurry"}, 10, &r);
    int64_t waited_ms = (scn_now_ns() - t0) / 1000000;
    assert_int_equal(rc, ENS_ETIMEDOUT);
    assert_null(r);
    assert_true(waited_ms < 5000);

    /* The echo's 42 follows its late reply on the same pair: if the reply
     * leaked to the outside it would come first. */
    ens_msg *m = scn_listen_type(t, &ens_msg_int64, SCN_WAIT_MS);
    assert_int_equal(((const ens_int64_v *)ens_msg_value(m, &ens_msg_int64))->value, 42);
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
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
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
    "scn.Counter", sizeof(counter_state), NULL, counter_receive, NULL, NULL, NULL, NULL, NULL};

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
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v != NULL) {
        for (int64_t i = 0; i < v->value; i++) {
            int rc = ens_send(c, s->counter, &ens_msg_int64, &(ens_int64_v){i});
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
    "scn.Pump", sizeof(pump_state), pump_init, pump_receive, NULL, NULL, NULL, NULL, NULL};

static void test_order_per_pair_is_fifo(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);

    ens_addr counter = spawn_ok(t, &counter_def, NULL, NULL);
    for (int64_t i = 0; i < ORDER_COUNT; i++) {
        int rc = ens_send(t->out, counter, &ens_msg_int64, &(ens_int64_v){i});
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
    assert_int_equal(ens_send(t->out, pump, &ens_msg_int64, &(ens_int64_v){ORDER_COUNT}), 0);
    r = ask_text_report(t, pump, "result");
    assert_int_equal(r.tag, TAG_ORDER);
    assert_int_equal(r.a, ORDER_COUNT);
    assert_int_equal(r.b, ORDER_COUNT);
    assert_int_equal(r.n, 1);

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

static const ens_actor_def fwd_child_def = {
    "scn.FwdChild", 0, NULL, fwd_child_receive, NULL, NULL, NULL, NULL, NULL};

/* Start argument 1: spawn the child in init; 0: on the first request. */
static int fwd_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    fwd_state *s = state;
    const ens_int64_v *early = ens_msg_value(arg, &ens_msg_int64);
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
    "scn.Forwarder", sizeof(fwd_state), fwd_init, fwd_receive, NULL, NULL, NULL, NULL, NULL};

static void test_child_answers_forwarded_ask(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    for (int64_t early = 0; early <= 1; early++) {
        ens_addr parent = spawn_mode(t, &fwd_def, early);
        ens_addr first_child = ENS_ADDR_NONE;
        for (int i = 0; i < 2; i++) {
            ens_msg *r = ask_ok(t, parent, &ens_msg_string, &(ens_string_v){"ping"}, &report_t);
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
    const ens_wakeup_v *w = ens_msg_value(m, &ens_msg_wakeup);
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
    "scn.Sleeper", sizeof(sleeper_state), NULL, sleeper_receive, NULL, NULL, NULL, NULL, NULL};

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
    {&ens_msg_int64, typed_on_int64},
    {NULL, NULL},
};

static const ens_actor_def typed_def = {"scn.Typed", 0,    NULL, typed_fallback, NULL, typed_table,
                                        NULL,        NULL, NULL};
static const ens_actor_def typed_only_def = {"scn.TypedOnly", 0,    NULL, NULL, NULL,
                                             typed_table,     NULL, NULL, NULL};

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
    r = ask_report(t, a, &ens_msg_int64, &(ens_int64_v){-99});
    assert_int_equal(r.tag, TAG_H_INT64);
    assert_int_equal(r.a, -99);
    r = ask_text_report(t, a, "other");
    assert_int_equal(r.tag, TAG_H_FALLBACK);
    assert_int_equal(r.a, ens_msg_string.id);

    /* No receive: an unmatched message is ignored, without an error event. */
    ens_addr only = spawn_ok(t, &typed_only_def, NULL, NULL);
    scn_events_clear(t);
    ens_msg *reply = NULL;
    assert_int_equal(
        ens_ask(t->out, only, &ens_msg_string, &(ens_string_v){"x"}, SCN_WAIT_MS, &reply),
        ENS_ENOREPLY); /* handled (by nothing) without a reply: said at once */
    ens_msg_free(reply);
    r = ask_report(t, only, &ens_msg_int64, &(ens_int64_v){7});
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

static const ens_actor_def echo_def = {"scn.Echo", 0,    NULL, echo_receive, NULL,
                                       NULL,       NULL, NULL, NULL};

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
    ens_msgtype twin = {"scn.Greeting", "S(i)", sizeof(int32_t), 0, 0, NULL};
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
    if (ens_msg_value(m, &ens_msg_int64) != NULL)
        s->count++;
    else if (msg_is_text(m, "count"))
        return reply_report(c, REPORT(.a = s->count));
    return 0;
}

static const ens_actor_def sink_def = {
    "scn.Sink", sizeof(sink_state), NULL, sink_receive, NULL, NULL, NULL, NULL, NULL};

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
        assert_int_equal(ens_send(t->out, sink, &ens_msg_int64, &(ens_int64_v){i}), 0);
    assert_int_equal(ens_send(t->out, sink, &ens_msg_int64, &(ens_int64_v){100}), ENS_EFULL);

    int ran = ens_system_run(t->sys, SCN_WAIT_MS);
    if (t->base == ENS_BASE_INPROC)
        assert_int_equal(ran, 100);
    report_v r = ask_text_report(t, sink, "count");
    assert_int_equal(r.a, 100); /* the refused one was not queued */
    assert_int_equal(ens_send(t->out, sink, &ens_msg_int64, &(ens_int64_v){101}), 0);
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
    const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
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

static const ens_actor_def bytes_sink_def = {"scn.BytesSink",
                                             sizeof(bytes_sink_state),
                                             NULL,
                                             bytes_sink_receive,
                                             NULL,
                                             NULL,
                                             NULL,
                                             NULL,
                                             NULL};

static int send_numbered(scn *t, ens_addr to, uint8_t *buf, size_t len, int64_t seq)
{
    memcpy(buf, &seq, sizeof(seq));
    return ens_send(t->out, to, &ens_msg_bytes, &(ens_bytes_v){{buf, (uint32_t)len}});
}

/* Ask a bytes sink for its report; an ask is a bounded send too, so it
 * waits for room like the sends before it. */
static report_v ask_bytes_sink(scn *t, ens_addr sink)
{
    ens_msg *r = NULL;
    int rc;
    while ((rc = ens_ask(t->out, sink, &ens_msg_string, &(ens_string_v){"count"}, SCN_WAIT_MS,
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
    assert_int_equal(ens_send(t->out, sink, &ens_msg_string, &(ens_string_v){"fits"}), 0);

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

/* ---- main ------------------------------------------------------------- */

static const struct CMUnitTest scenarios[] = {
    SCN_TEST(test_hello_ask_gets_reply_text),
    SCN_TEST(test_ask_timeout_drops_late_reply),
    SCN_TEST(test_order_per_pair_is_fifo),
    SCN_TEST(test_child_answers_forwarded_ask),
    SCN_TEST(test_wakeups_in_deadline_order_never_early),
    SCN_TEST(test_dispatch_table_then_fallback),
    SCN_TEST(test_user_types_round_trip),
    SCN_TEST(test_mailbox_bound_gives_efull),
    SCN_TEST(test_mailbox_bytes_bound_gives_efull),
};

int main(void)
{
    if (scn_reports_register() != 0)
        return 1;
    return scn_run_bases("scenarios_delivery", scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}

/*
 * tests/test_scenarios_failure.c - what happens when actors end or fail, written once and run on
 * each system base (see tests/support/scenario.h).
 *
 * Exit requests, ens_stop and init failures seen by a parent, dead
 * letters, a retry then poison, and a shutdown that terminates every live
 * actor.
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

#include "support/deadline.h"
#include "support/scn_reports.h"

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
    if (ens_msg_value(m, &ens_msg_exit_request) != NULL)
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
    "scn.Child", sizeof(child_state), NULL, child_receive, child_terminate, NULL, NULL, NULL, NULL};

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
                                             NULL,
                                             NULL,
                                             NULL};

static int parent_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    parent_state *s = state;
    const ens_int64_v *mode = arg != NULL ? ens_msg_value(arg, &ens_msg_int64) : NULL;
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
        return ens_send(c, s->child, &ens_msg_string, &(ens_string_v){"stop"});
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
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL)
        return send_report(c, s->outside,
                           REPORT(.tag = TAG_CHILD_EXITED, .n = ce->reason, .a = ce->status,
                                  .b = ce->incarnation, .who = ce->child, .other = s->child));
    return 0;
}

static const ens_actor_def parent_def = {
    "scn.Parent", sizeof(parent_state), parent_init, parent_receive, NULL, NULL, NULL, NULL, NULL};

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
        ens_ask(t->out, child, &ens_msg_string, &(ens_string_v){"hi"}, SCN_WAIT_MS, &reply),
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
    const ens_dead_envelope_v *d = ens_msg_value(m, &ens_msg_dead_envelope);
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
        return ens_reply(c, &ens_msg_string, &(ens_string_v){"pong"});
    return 0;
}

static const ens_actor_def flaky_def = {
    "scn.Flaky", sizeof(flaky_state), NULL, flaky_receive, NULL, NULL, NULL, NULL, NULL};

static void assert_poison_of(const ens_msg *p, ens_addr target, ens_addr sender, int32_t count,
                             const char *text)
{
    const ens_poison_v *pv = ens_msg_value(p, &ens_msg_poison);
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
    p = scn_listen_type(t, &ens_msg_poison, SCN_WAIT_MS);
    assert_poison_of(p, f, self, 4, "worse");
    ens_msg_free(p);

    /* ... and the actor goes on. */
    ens_msg *pong = ask_ok(t, f, &ens_msg_string, &(ens_string_v){"ping"}, &ens_msg_string);
    assert_string_equal(msg_text(pong), "pong");
    assert_null(ens_poison_original(pong));
    ens_msg_free(pong);
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

static const ens_actor_def counted_def = {
    "scn.Counted", 0, counted_init, counted_receive, counted_terminate, NULL, NULL, NULL, NULL};

/* Start argument: the number of children to spawn. */
static int counted_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    const ens_int64_v *kids = arg != NULL ? ens_msg_value(arg, &ens_msg_int64) : NULL;
    for (int64_t i = 0; kids != NULL && i < kids->value; i++) {
        ens_addr child;
        int rc = ens_spawn(c, &counted_def, NULL, NULL, &child);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* How many scn.Counted actors the system's status lists. */
static size_t counted_live(scn *t)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    size_t n = 0;
    for (size_t i = 0; i < ens_status_count(st); i++)
        n += strcmp(ens_status_at(st, i)->type, counted_def.name) == 0;
    ens_status_free(st);
    return n;
}

static void test_shutdown_terminates_every_actor(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    memset(shut, 0, sizeof(*shut));
    ens_addr top[3] = {spawn_mode(t, &counted_def, 2), spawn_mode(t, &counted_def, 0),
                       spawn_mode(t, &counted_def, 1)};
    /* Every actor is up (the parents spawn the children in their init). */
    test_deadline up = test_deadline_in(TEST_WAIT_MS);
    while (counted_live(t) < 6 && !test_deadline_passed(up))
        assert_true(ens_system_run(t->sys, 10) >= 0);
    assert_int_equal(counted_live(t), 6);
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
    SCN_TEST(test_exit_request_seen_then_terminate_then_child_exited),
    SCN_TEST(test_stop_error_reaches_parent_with_status),
    SCN_TEST(test_init_failure_outside_and_inside),
    SCN_TEST(test_dead_letters_go_to_latest_handler_else_event),
    SCN_TEST(test_retry_once_then_poison),
    SCN_TEST(test_shutdown_terminates_every_actor),
};

int main(void)
{
    shut = mmap(NULL, sizeof(*shut), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shut == MAP_FAILED)
        return 1;
    if (scn_reports_register() != 0)
        return 1;
    return scn_run_bases("scenarios_failure", scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}

/*
 * tests/test_kill.c - ens_kill on every base, and a stuck handler on the
 * process base: an actor whose handler never returns does not hold anybody
 * else up, shows in status (its handled count stops, its mailbox fills),
 * ignores an exit request (it never reads it), and ens_kill frees it: its
 * parent hears ENS_EXIT_KILLED, it is not restarted, its terminate does not
 * run, and what was queued for it becomes dead letters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/deadline.h"
#include "support/scenario.h"

typedef struct note_v {
    int32_t what;
    int32_t value;
    ens_addr who;
} note_v;
static ens_msgtype note_t = {"kill.Note", "S(ii" ENS_ADDR_FMT ")", sizeof(note_v), 0, 0, NULL};

enum { NOTE_SPAWNED = 1, NOTE_EXITED, NOTE_TERMINATED, NOTE_ECHO };

/* ---- the victim -------------------------------------------------------- */

typedef struct victim_state {
    ens_addr outside;
} victim_state;

static int victim_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    victim_state *st = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    st->outside = ens_sender(c);
    if (strcmp(s->text, "hang") == 0) {
        for (;;)
            pause(); /* stuck for good: only a kill ends it */
    }
    if (strcmp(s->text, "kill-me") == 0)
        return ens_kill(c, ens_self(c));
    note_v n = {NOTE_ECHO, 0, ens_self(c)};
    return ens_send(c, st->outside, &note_t, &n);
}

static void victim_terminate(ens_ctx *c, void *state, int reason)
{
    victim_state *st = state;
    note_v n = {NOTE_TERMINATED, reason, ens_self(c)};
    if (!ens_addr_is_none(st->outside))
        ens_send(c, st->outside, &note_t, &n);
}

static const ens_actor_def victim_def = {
    "kill.Victim", sizeof(victim_state), NULL, victim_receive, victim_terminate, NULL, NULL, NULL,
    NULL};

/* ---- the parent: spawns victims, reports their exits -------------------- */

typedef struct parent_state {
    ens_addr outside;
} parent_state;

static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent_state *st = state;
    if (ens_msg_value(m, &ens_msg_string) != NULL) {
        st->outside = ens_sender(c);
        ens_addr child;
        int rc = ens_spawn(c, &victim_def, NULL, NULL, &child);
        note_v n = {NOTE_SPAWNED, rc, child};
        return ens_send(c, st->outside, &note_t, &n);
    }
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL) {
        note_v n = {NOTE_EXITED, ce->reason, ce->child};
        return ens_send(c, st->outside, &note_t, &n);
    }
    if (ens_msg_value(m, &ens_msg_child_restarted) != NULL) {
        note_v n = {NOTE_EXITED, -1, ENS_ADDR_NONE}; /* must never happen */
        return ens_send(c, st->outside, &note_t, &n);
    }
    return 0;
}

static const ens_actor_def parent_def = {
    "kill.Parent", sizeof(parent_state), NULL, parent_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- helpers ----------------------------------------------------------- */

static note_v next_note(scn *t)
{
    ens_msg *m = scn_listen_type(t, &note_t, SCN_WAIT_MS);
    note_v n = *(const note_v *)ens_msg_value(m, &note_t);
    ens_msg_free(m);
    return n;
}

static void say(scn *t, ens_addr to, const char *text)
{
    assert_int_equal(ens_send(t->out, to, &ens_msg_string, &(ens_string_v){(char *)text}), 0);
}

static ens_addr spawn_victim(scn *t, ens_addr parent)
{
    say(t, parent, "spawn");
    note_v n = next_note(t);
    assert_int_equal(n.what, NOTE_SPAWNED);
    assert_int_equal(n.value, 0);
    return n.who;
}

static void expect_killed(scn *t, ens_addr victim)
{
    note_v n = next_note(t); /* never NOTE_TERMINATED: terminate does not run */
    assert_int_equal(n.what, NOTE_EXITED);
    assert_int_equal(n.value, ENS_EXIT_KILLED);
    assert_true(ens_addr_equal(n.who, victim));
}

/* ---- tests --------------------------------------------------------------- */

static void test_kill_idle_actor(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr parent;
    assert_int_equal(ens_spawn(t->out, &parent_def, NULL, NULL, &parent), 0);
    ens_addr v = spawn_victim(t, parent);
    say(t, v, "hello");
    assert_int_equal(next_note(t).what, NOTE_ECHO);
    assert_int_equal(ens_kill(t->out, v), 0);
    expect_killed(t, v);
    /* Gone for good: a message to it is a dead letter, an ask says so. */
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(t->out, v, &ens_msg_string, &(ens_string_v){"x"}, SCN_WAIT_MS, &r),
                     ENS_ENOACTOR);
    ens_msg_free(r);
    /* A dead address is ignored. */
    assert_int_equal(ens_kill(t->out, v), 0);
    assert_int_equal(ens_kill(t->out, ENS_ADDR_NONE), ENS_EINVAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_kill_self(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr parent;
    assert_int_equal(ens_spawn(t->out, &parent_def, NULL, NULL, &parent), 0);
    ens_addr v = spawn_victim(t, parent);
    say(t, v, "kill-me");
    expect_killed(t, v);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static uint64_t handled_of(scn *t, ens_addr who, uint64_t *mailbox)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    uint64_t handled = UINT64_MAX;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (ens_addr_equal(a->addr, who)) {
            handled = a->handled;
            *mailbox = a->mailbox_bytes;
        }
    }
    ens_status_free(st);
    return handled;
}

static void test_stuck_handler_is_freed_by_kill(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip(); /* inproc: a handler that never returns stops everything */
    scn_start(t, NULL);
    ens_addr parent, other;
    assert_int_equal(ens_spawn(t->out, &parent_def, NULL, NULL, &parent), 0);
    assert_int_equal(ens_spawn(t->out, &victim_def, NULL, NULL, &other), 0);
    ens_addr v = spawn_victim(t, parent);
    say(t, v, "hello");
    assert_int_equal(next_note(t).what, NOTE_ECHO);
    say(t, v, "hang");
    for (int i = 0; i < 5; i++)
        say(t, v, "queued");
    /* An exit request is only a message: a stuck actor never reads it. */
    assert_int_equal(ens_exit_request(t->out, v), 0);
    /* Others are not held up. */
    for (int i = 0; i < 3; i++) {
        say(t, other, "hello");
        note_v n = next_note(t);
        assert_int_equal(n.what, NOTE_ECHO);
        assert_true(ens_addr_equal(n.who, other));
    }
    /* Status shows it: what it handled stays put while mail waits. Wait
     * until the queued messages are in its mailbox. */
    uint64_t mailbox = 0, handled = 0;
    test_deadline queued = test_deadline_in(TEST_WAIT_MS);
    while ((handled = handled_of(t, v, &mailbox), mailbox == 0) && !test_deadline_passed(queued))
        ;
    assert_true(mailbox > 0);
    assert_true(handled <= 2);
    assert_int_equal(ens_kill(t->out, v), 0);
    expect_killed(t, v);
    if (scn_events_local(t))
        assert_true(scn_events_count(t, ENS_EV_DEAD_LETTER, v) >= 5);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_kill_idle_actor),
    SCN_TEST(test_kill_self),
    SCN_TEST(test_stuck_handler_is_freed_by_kill),
};

int main(void)
{
    if (ens_msgtype_register(&note_t) != 0)
        return 1;
    return scn_run_bases("kill", tests, sizeof(tests) / sizeof(tests[0]));
}

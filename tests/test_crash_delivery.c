/*
 * tests/test_crash_delivery.c - nothing lost, nothing twice, across a
 * SIGKILL, on the process base:
 *  - messages held while an ens_call waits live in the caller's stage: the
 *    caller killed during the call, its next incarnation gets every one, in
 *    order, once;
 *  - a PoisonMessage is returned exactly once, whatever instant the actor
 *    is killed at around its sending (a test-only hook, ENS__TEST_KILL_AT_STEP,
 *    makes each actor's first incarnation SIGKILL itself at a stage step);
 *  - the message in hand at a kill stays in hand when the next incarnation,
 *    started by a supervisor at the kept address, is killed in its init:
 *    the one after it gets the message at attempt 2, not as a new message.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/process/stage.h"
#include "support/deadline.h"
#include "support/scenario.h"
#include "support/sup_actors.h"

#define N_HELD 1000

typedef struct seen_v {
    int32_t what;  /* SEEN_* */
    int32_t value; /* the number handled, or the caller's pid */
    uint32_t incarnation;
    uint32_t attempt;
} seen_v;
static ens_msgtype seen_t = {"cd.Seen", "S(iiuu)", sizeof(seen_v), 0, 0, NULL};

typedef struct num_v {
    int32_t n;
} num_v;
static ens_msgtype num_t = {"cd.Num", "S(i)", sizeof(num_v), 0, 0, NULL};

typedef struct addr_v {
    ens_addr who;
} addr_v;
static ens_msgtype addr_t = {"cd.Addr", "S(" ENS_ADDR_FMT ")", sizeof(addr_v), 0, 0, NULL};

enum { SEEN_CALLING = 1, SEEN_NUM, SEEN_DONE, SEEN_PONG };

/* ---- the slow server: answers a parked request when told to ------------- */

typedef struct slow_state {
    ens_from parked;
} slow_state;

static int slow_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    slow_state *st = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "park") == 0) {
        st->parked = ens_from_current(c);
        return 0;
    }
    if (strcmp(s->text, "answer") == 0 && !ens_addr_is_none(st->parked.to))
        return ens_reply_to(c, st->parked, 0, &ens_msg_string, &(ens_string_v){"late"});
    return 0;
}

static const ens_actor_def slow_def = {
    "cd.Slow", sizeof(slow_state), NULL, slow_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- the caller: calls the server, reports what it handles -------------- */

typedef struct caller_state {
    ens_addr server, outside;
    uint32_t incarnation;
} caller_state;

static int caller_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    caller_state *st = state;
    st->server = ((const addr_v *)ens_msg_value(arg, &addr_t))->who;
    return 0;
}

static void report(ens_ctx *c, caller_state *st, int32_t what, int32_t value, uint32_t attempt)
{
    seen_v v = {what, value, (uint32_t)getpid(), attempt};
    ens_send(c, st->outside, &seen_t, &v);
}

static void on_reply(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    (void)reply;
    (void)tag;
    report(c, state, SEEN_DONE, status, 0);
}

static int caller_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    caller_state *st = state;
    const num_v *n = ens_msg_value(m, &num_t);
    st->outside = ens_sender(c); /* a new incarnation learns it again */
    if (n != NULL) {
        report(c, st, SEEN_NUM, n->n, ens_msg_attempt(m));
        return 0;
    }
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "call") == 0) {
        int rc =
            ens_call(c, st->server, &ens_msg_string, &(ens_string_v){"park"}, 60000, on_reply, 0);
        report(c, st, SEEN_CALLING, rc, 0);
        return 0;
    }
    report(c, st, SEEN_PONG, 0, 0);
    return 0;
}

static const ens_actor_def caller_def = {
    "cd.Caller", sizeof(caller_state), caller_init, caller_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- helpers ------------------------------------------------------------ */

static seen_v next_seen(scn *t)
{
    ens_msg *m = scn_listen_type(t, &seen_t, SCN_WAIT_MS);
    seen_v v = *(const seen_v *)ens_msg_value(m, &seen_t);
    ens_msg_free(m);
    return v;
}

static void say(scn *t, ens_addr to, const char *text)
{
    assert_int_equal(ens_send(t->out, to, &ens_msg_string, &(ens_string_v){(char *)text}), 0);
}

/* The status row of `who`: its pid, what it handled, its mailbox bytes. */
static bool row_of(scn *t, ens_addr who, int *pid, uint64_t *handled, uint64_t *mailbox)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    bool found = false;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (ens_addr_equal(a->addr, who)) {
            *pid = a->pid;
            *handled = a->handled;
            *mailbox = a->mailbox_bytes;
            found = true;
        }
    }
    ens_status_free(st);
    return found;
}

/* ---- messages held during a call ---------------------------------------- */

/* kill_after: how many of the N_HELD messages the caller must have taken
 * (held) before it is killed; the rest may still be on their way. */
static void held_messages_survive(scn *t, uint64_t kill_after)
{
    if (t->base != ENS_BASE_PROCESS)
        skip(); /* inproc: no process to kill */
    scn_start(t, NULL);
    ens_addr server, caller;
    assert_int_equal(ens_spawn(t->out, &slow_def, NULL, NULL, &server), 0);
    addr_v arg = {server};
    assert_int_equal(ens_spawn(t->out, &caller_def, &addr_t, &arg, &caller), 0);
    say(t, caller, "call");
    seen_v calling = next_seen(t);
    assert_int_equal(calling.what, SEEN_CALLING);
    assert_int_equal(calling.value, 0);
    int pid = 0;
    uint64_t handled = 0, mailbox = 0, before = 0;
    assert_true(row_of(t, caller, &pid, &before, &mailbox));
    assert_int_equal(pid, (int)calling.incarnation);
    for (int32_t i = 0; i < N_HELD; i++) {
        num_v v = {i};
        assert_int_equal(ens_send(t->out, caller, &num_t, &v), 0);
    }
    /* Held (taken from the kernel into the stage) before the kill. */
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (row_of(t, caller, &pid, &handled, &mailbox),
           handled < before + kill_after && !test_deadline_passed(d))
        ;
    assert_true(handled >= before + kill_after);
    if (kill_after == N_HELD) /* all of them wait in the held area: the mailbox shows them */
        assert_true(mailbox >= N_HELD * 64u);
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* The next incarnation: every message once, in order, then the marker. */
    for (int32_t i = 0; i < N_HELD; i++) {
        seen_v s = next_seen(t);
        if (s.what != SEEN_NUM || s.value != i)
            fail_msg("message %d: got what %d value %d", i, s.what, s.value);
        assert_int_not_equal((int)s.incarnation, pid); /* not the killed process */
    }
    say(t, caller, "ping");
    seen_v pong = next_seen(t);
    assert_int_equal(pong.what, SEEN_PONG);
    /* The call died with its process: its late reply is dropped. */
    say(t, server, "answer");
    say(t, caller, "ping");
    assert_int_equal(next_seen(t).what, SEEN_PONG);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_held_messages_survive_a_kill(void **state)
{
    held_messages_survive(*state, N_HELD);
}

static void test_held_messages_survive_a_kill_mid_stream(void **state)
{
    held_messages_survive(*state, N_HELD / 2);
}

/* ---- a poison at most once, at least once -------------------------------- */

static int victim_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (strncmp(s->text, "bad:", 4) == 0)
        return ENS_EINVAL; /* twice: returned as poison */
    seen_v v = {SEEN_PONG, 0, 0, 0};
    return ens_send(c, ens_sender(c), &seen_t, &v);
}

static const ens_actor_def victim_def = {"cd.Victim", 0,    NULL, victim_receive, NULL, NULL,
                                         NULL,        NULL, NULL};

#define POISON_ROUNDS 6

/* Every actor's first incarnation kills itself at stage step `step`. Each
 * round: a fresh victim, a message it fails on; exactly one poison comes
 * back for it, and nothing more by the end. */
static void poison_once_at(scn *t, enum ens_stage_step step)
{
    if (t->base != ENS_BASE_PROCESS)
        skip();
    char v[16];
    snprintf(v, sizeof(v), "%d", (int)step);
    setenv("ENS__TEST_KILL_AT_STEP", v, 1);
    scn_start(t, NULL);
    unsetenv("ENS__TEST_KILL_AT_STEP");
    int poisons[POISON_ROUNDS] = {0};
    for (int round = 0; round < POISON_ROUNDS; round++) {
        ens_addr victim;
        assert_int_equal(ens_spawn(t->out, &victim_def, NULL, NULL, &victim), 0);
        char text[32];
        snprintf(text, sizeof(text), "bad:%d", round);
        say(t, victim, text);
        /* Its poison, then (through the next incarnation) its pong. */
        say(t, victim, "ping");
        bool ponged = false;
        while (!ponged || poisons[round] == 0) {
            ens_msg *m = NULL;
            int rc = ens_listen(t->out, SCN_WAIT_MS, &m);
            if (rc != 0)
                fail_msg("round %d at step %d: %s (poisons %d, pong %d)", round, (int)step,
                         ens_strerror(rc), poisons[round], ponged);
            if (ens_msg_value(m, &seen_t) != NULL) {
                ponged = true;
            } else {
                const ens_msg *orig = ens_poison_original(m);
                const ens_string_v *s = orig != NULL ? ens_msg_value(orig, &ens_msg_string) : NULL;
                int r = -1;
                assert_non_null(s);
                assert_int_equal(sscanf(s->text, "bad:%d", &r), 1);
                assert_true(r >= 0 && r <= round);
                poisons[r]++;
            }
            ens_msg_free(m);
        }
    }
    /* A second poison would come from the admin or the victim: give it
     * time to show (the only wait for something that must not happen). */
    ens_msg *m = NULL;
    while (ens_listen(t->out, 500, &m) == 0) {
        const ens_msg *orig = ens_poison_original(m);
        const ens_string_v *s = orig != NULL ? ens_msg_value(orig, &ens_msg_string) : NULL;
        int r = -1;
        if (s != NULL && sscanf(s->text, "bad:%d", &r) == 1 && r >= 0 && r < POISON_ROUNDS)
            poisons[r]++;
        ens_msg_free(m);
    }
    for (int round = 0; round < POISON_ROUNDS; round++) {
        if (poisons[round] != 1)
            fail_msg("step %d, round %d: %d poisons", (int)step, round, poisons[round]);
    }
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_poison_once_killed_in_hand(void **state)
{
    poison_once_at(*state, ENS_STAGE_STEP_IN_HAND);
}

static void test_poison_once_killed_before_it_is_noted(void **state)
{
    poison_once_at(*state, ENS_STAGE_STEP_POISON_BEFORE);
}

static void test_poison_once_killed_once_noted(void **state)
{
    poison_once_at(*state, ENS_STAGE_STEP_POISON_NOTED);
}

static void test_poison_once_killed_once_sent(void **state)
{
    poison_once_at(*state, ENS_STAGE_STEP_POISON_SENT);
}

static void test_poison_once_killed_once_marked(void **state)
{
    poison_once_at(*state, ENS_STAGE_STEP_MARKED);
}

/* ---- in hand across a kill in the init of a supervisor's restart ---------- */

/* Shared by every process of the system (mapped before the admin forks). */
typedef struct twice_counts {
    uint32_t inits;        /* inits run, over all incarnations */
    uint32_t kill_init_at; /* the init run (1, 2, ...) that SIGKILLs itself */
    uint32_t attempt1, attempt2;
} twice_counts;
static twice_counts *twice;

static int twice_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    if (__atomic_add_fetch(&twice->inits, 1, __ATOMIC_SEQ_CST) == twice->kill_init_at)
        raise(SIGKILL);
    return 0;
}

/* The first handling of a number is killed after the handler did its work
 * and before the frame is marked handled: the kill storm's worst case. */
static int twice_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const num_v *n = ens_msg_value(m, &num_t);
    if (n == NULL)
        return 0;
    uint32_t attempt = ens_msg_attempt(m);
    __atomic_add_fetch(attempt >= 2 ? &twice->attempt2 : &twice->attempt1, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&twice->attempt1, __ATOMIC_SEQ_CST) +
            __atomic_load_n(&twice->attempt2, __ATOMIC_SEQ_CST) ==
        1)
        raise(SIGKILL);
    seen_v v = {SEEN_NUM, n->n, (uint32_t)getpid(), attempt};
    return ens_send(c, ens_sender(c), &seen_t, &v);
}

static const ens_actor_def twice_def = {
    .name = "cd.Twice", .init = twice_init, .receive = twice_receive};

/* one_for_all: its children are not restarted in place by the runtime; the
 * supervisor starts them again at the addresses kept. */
static int all_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                         ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    (void)max;
    *flags = (ens_sup_flags){ENS_ONE_FOR_ALL, 1000, 1000, ENS_SUP_START_ORDERED};
    specs[0] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
    specs[0].id = "w";
    specs[0].def = &twice_def;
    specs[0].shutdown_ms = 2000;
    *n = 1;
    return 0;
}
ENS_SUPERVISOR_DEF(all_def, "cd.AllForOne", all_configure);

/* The worker is killed with a number in hand (handled, not yet marked); its
 * supervisor starts it again at its address and that incarnation is killed
 * in its init; the supervisor starts it once more. That third incarnation
 * must find the number still in hand from the kill: once more at attempt 2,
 * never a second time at attempt 1. */
static void test_in_hand_survives_a_kill_in_a_supervisor_restart_init(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip(); /* SIGKILL needs processes */
    memset(twice, 0, sizeof(*twice));
    twice->kill_init_at = 2; /* the init of the supervisor's restart */
    scn_start(t, NULL);
    ens_addr sup;
    assert_int_equal(ens_spawn(t->out, &all_def, NULL, NULL, &sup), 0);
    ens_addr w = tsup_child_of(t, sup, "w");
    assert_int_equal(ens_send(t->out, w, &num_t, &(num_v){7}), 0);
    seen_v v = next_seen(t);
    assert_int_equal(v.what, SEEN_NUM);
    assert_int_equal(v.value, 7);
    if (v.attempt != 2)
        fail_msg("the number was handled at attempt %u (attempt 1: %u times, attempt 2: %u times, "
                 "%u inits)",
                 v.attempt, twice->attempt1, twice->attempt2, twice->inits);
    assert_int_equal(__atomic_load_n(&twice->attempt1, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(__atomic_load_n(&twice->attempt2, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(__atomic_load_n(&twice->inits, __ATOMIC_SEQ_CST), 3);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_held_messages_survive_a_kill),
    SCN_TEST(test_held_messages_survive_a_kill_mid_stream),
    SCN_TEST(test_poison_once_killed_in_hand),
    SCN_TEST(test_poison_once_killed_before_it_is_noted),
    SCN_TEST(test_poison_once_killed_once_noted),
    SCN_TEST(test_poison_once_killed_once_sent),
    SCN_TEST(test_poison_once_killed_once_marked),
    SCN_TEST(test_in_hand_survives_a_kill_in_a_supervisor_restart_init),
};

int main(void)
{
    twice = mmap(NULL, sizeof(*twice), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (twice == MAP_FAILED)
        return 1;
    if (ens_msgtype_register(&seen_t) != 0 || ens_msgtype_register(&num_t) != 0 ||
        ens_msgtype_register(&addr_t) != 0)
        return 1;
    return scn_run_bases("crash_delivery", tests, sizeof(tests) / sizeof(tests[0]));
}

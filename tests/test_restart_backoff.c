/*
 * tests/test_restart_backoff.c - a crash in the init of a restart (process
 * base) counts as a crash: the admin tries the restart again after a
 * backoff (10 ms doubling to 1 s) and ends the actor for good only after
 * RESTART_MAX restarts in a row whose init crashed. A crash in the first
 * init still fails the spawn (test_process.c).
 *
 * How many times an actor's init ran is counted in a page shared with every
 * process of the system (mapped before the system starts, so the admin and
 * the actors inherit it): init decides from it whether to crash. Handlers
 * never assert; they report to the outside in messages, and the test
 * asserts on those and on the journal.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/deadline.h"
#include "support/journal_files.h"

#include "ensemble/ensemble.h"

#define WAIT_MS 30000
#define FLAKY_K 4  /* the flaky actor's init crashes on incarnations 2..FLAKY_K */
#define LIMIT   10 /* restarts in a row whose init crashed before the end (RESTART_MAX) */

typedef struct shared_counts {
    volatile int32_t flaky_inits;  /* init calls of rb.Flaky */
    volatile int32_t broken_inits; /* init calls of rb.Broken */
} shared_counts;
static shared_counts *counts;

/* What actors tell the outside. */
typedef struct note_v {
    int32_t tag;
    int32_t pid;
    int32_t attempt; /* of the message handled */
    int32_t reason;  /* TAG_CHILD_EXITED: the child's exit reason */
    uint32_t inits;  /* init calls counted so far */
    uint32_t incarn; /* TAG_CHILD_EXITED: the child's last incarnation */
    ens_addr who;
} note_v;
static ens_msgtype note_t = {"rb.Note", "S(iiiiuu" ENS_ADDR_FMT ")", sizeof(note_v), 0, 0, NULL};

enum { TAG_HELLO = 1, TAG_REDELIVERED, TAG_SPAWNED, TAG_CHILD_EXITED };

static ens_system *sys;
static char journal[64];

static void open_system(void)
{
    snprintf(journal, sizeof(journal), "/tmp/ens-restart-backoff-XXXXXX");
    int fd = mkstemp(journal);
    assert_true(fd >= 0);
    close(fd);
    unlink(journal);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    o.journal_path = journal;
    assert_int_equal(ens_system_start(&o, &sys), 0);
}

static int teardown(void **state)
{
    (void)state;
    if (sys != NULL)
        ens_system_stop(sys, 5000);
    sys = NULL;
    if (journal[0] != '\0')
        test_journal_remove(journal);
    journal[0] = '\0';
    return 0;
}

static void crash(void)
{
    signal(SIGABRT, SIG_DFL);
    abort();
}

/* ---- rb.Flaky: init crashes on incarnations 2..FLAKY_K ------------------ */

static int flaky_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    int32_t n = __atomic_add_fetch(&counts->flaky_inits, 1, __ATOMIC_SEQ_CST);
    if (n >= 2 && n <= FLAKY_K)
        crash();
    return 0;
}

/* "crash": crash on attempt 1, tell the outside on attempt 2 (the message
 * in hand outlives the restarts whose init crashed); "hello": reply. */
static int flaky_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL)
        return 0;
    note_v n = {0, (int32_t)getpid(), (int32_t)ens_msg_attempt(m), 0, (uint32_t)counts->flaky_inits,
                0, ens_self(c)};
    if (strcmp(s->text, "crash") == 0) {
        if (ens_msg_attempt(m) == 1)
            crash();
        n.tag = TAG_REDELIVERED;
        return ens_send(c, ens_sender(c), &note_t, &n);
    }
    n.tag = TAG_HELLO;
    return ens_reply(c, &note_t, &n);
}

static const ens_actor_def flaky_def = {"rb.Flaky", 0,    flaky_init, flaky_receive, NULL,
                                        NULL,       NULL, NULL,       NULL};

/* How many CRASH rows say the crash was in the init of a restart, and how
 * many EXIT rows say the actor gave up on every restart. */
typedef struct row_counts {
    ens_addr actor;
    int init_crashes, gave_up, restarts;
} row_counts;

static int count_row(const ens_journal_row *row, void *arg)
{
    row_counts *rc = arg;
    if (!ens_addr_equal(row->ev.actor, rc->actor))
        return 0;
    if (row->ev.kind == ENS_EV_CRASH && strstr(row->ev.reason, "in the init of a restart"))
        rc->init_crashes++;
    if (row->ev.kind == ENS_EV_EXIT && strstr(row->ev.reason, "init of every restart"))
        rc->gave_up++;
    if (row->ev.kind == ENS_EV_RESTART)
        rc->restarts++;
    return 0;
}

static row_counts journal_rows(ens_addr actor)
{
    row_counts rc = {actor, 0, 0, 0};
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(journal, &j), 0);
    assert_true(ens_journal_query(j, NULL, count_row, &rc) >= 0);
    ens_journal_close(j);
    return rc;
}

static void test_restart_whose_init_crashes_is_retried_at_the_same_address(void **state)
{
    (void)state;
    counts->flaky_inits = 0;
    open_system();
    ens_ctx *out = ens_system_ctx(sys);
    ens_addr a;
    assert_int_equal(ens_spawn(out, &flaky_def, NULL, NULL, &a), 0);
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, a, &ens_msg_string, &(ens_string_v){"hello"}, WAIT_MS, &r), 0);
    const note_v *first = ens_msg_value(r, &note_t);
    assert_non_null(first);
    int32_t pid1 = first->pid;
    ens_msg_free(r);

    /* The crash, then a message sent while the restarts crash in init. */
    assert_int_equal(ens_send(out, a, &ens_msg_string, &(ens_string_v){"crash"}), 0);
    assert_int_equal(ens_ask(out, a, &ens_msg_string, &(ens_string_v){"hello"}, WAIT_MS, &r), 0);
    const note_v *back = ens_msg_value(r, &note_t);
    assert_non_null(back);
    assert_int_equal(back->tag, TAG_HELLO);
    assert_true(ens_addr_equal(back->who, a));  /* the same address */
    assert_true(back->pid != pid1);             /* a new process */
    assert_int_equal(back->inits, FLAKY_K + 1); /* the first, FLAKY_K-1 crashed, the good one */
    ens_msg_free(r);
    /* The message in hand when it crashed came again (attempt 2), before
     * the hello: it was not lost to the restarts that crashed. */
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
    const note_v *re = ens_msg_value(m, &note_t);
    assert_non_null(re);
    assert_int_equal(re->tag, TAG_REDELIVERED);
    assert_int_equal(re->attempt, 2);
    ens_msg_free(m);

    assert_int_equal(ens_system_stop(sys, WAIT_MS), 0);
    sys = NULL;
    row_counts rc = journal_rows(a);
    assert_int_equal(rc.init_crashes, FLAKY_K - 1);
    assert_int_equal(rc.restarts, FLAKY_K - 1 + 1); /* every try is a row */
    assert_int_equal(rc.gave_up, 0);
}

/* ---- rb.Broken under rb.Parent: init crashes on every restart ---------- */

static int broken_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    if (__atomic_add_fetch(&counts->broken_inits, 1, __ATOMIC_SEQ_CST) > 1)
        crash();
    return 0;
}

static int broken_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    if (ens_msg_value(m, &ens_msg_string) != NULL)
        crash();
    return 0;
}

static const ens_actor_def broken_def = {"rb.Broken", 0,    broken_init, broken_receive, NULL, NULL,
                                         NULL,        NULL, NULL};

typedef struct parent_state {
    ens_addr outside;
    ens_addr child;
} parent_state;

/* "go": spawn the child and make it crash, remember who asked; the child's
 * exit is told to the outside. */
static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent_state *ps = state;
    const ens_child_exited_v *x = ens_msg_value(m, &ens_msg_child_exited);
    if (x != NULL) {
        note_v n = {
            TAG_CHILD_EXITED, (int32_t)getpid(), 0, x->reason, (uint32_t)counts->broken_inits,
            x->incarnation,   x->child};
        return ens_send(c, ps->outside, &note_t, &n);
    }
    if (ens_msg_value(m, &ens_msg_string) == NULL)
        return 0;
    ps->outside = ens_sender(c);
    int rc = ens_spawn(c, &broken_def, NULL, NULL, &ps->child);
    if (rc < 0)
        return rc;
    note_v n = {TAG_SPAWNED, (int32_t)getpid(), 0, 0, 0, 0, ps->child};
    if ((rc = ens_send(c, ps->outside, &note_t, &n)) < 0)
        return rc;
    return ens_send(c, ps->child, &ens_msg_string, &(ens_string_v){"crash"});
}

static const ens_actor_def parent_def = {
    "rb.Parent", sizeof(parent_state), NULL, parent_receive, NULL, NULL, NULL, NULL, NULL};

/* The next message to the outside, a note with tag `tag` (owned by the
 * caller). */
static ens_msg *listen_tag(ens_ctx *out, int32_t tag)
{
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
    const note_v *n = ens_msg_value(m, &note_t);
    assert_non_null(n);
    assert_int_equal(n->tag, tag);
    return m;
}

static void test_restart_whose_init_always_crashes_ends_after_the_limit(void **state)
{
    (void)state;
    counts->broken_inits = 0;
    open_system();
    ens_ctx *out = ens_system_ctx(sys);
    ens_addr p;
    assert_int_equal(ens_spawn(out, &parent_def, NULL, NULL, &p), 0);
    assert_int_equal(ens_send(out, p, &ens_msg_string, &(ens_string_v){"go"}), 0);
    ens_msg *m = listen_tag(out, TAG_SPAWNED);
    ens_msg_free(m);
    m = listen_tag(out, TAG_CHILD_EXITED);
    const note_v *n = ens_msg_value(m, &note_t);
    assert_non_null(n);
    assert_int_equal(n->tag, TAG_CHILD_EXITED);
    assert_int_equal(n->reason, ENS_EXIT_CRASH);
    /* the first init, then LIMIT restarts whose init crashed */
    assert_int_equal(n->inits, 1 + LIMIT);
    ens_addr child = n->who;
    ens_msg_free(m);
    assert_int_equal(ens_system_stop(sys, WAIT_MS), 0);
    sys = NULL;
    row_counts rc = journal_rows(child);
    assert_int_equal(rc.init_crashes, LIMIT);
    assert_int_equal(rc.gave_up, 1);
    assert_int_equal(rc.restarts, LIMIT); /* the one after the handler's crash, then LIMIT-1 */
}

/* Wait until child's ninth init has crashed and its next try waits for
 * its backoff (a second, from the eighth init crash in a row on): the
 * status shows no process for it then. Polled: a counter in shared memory
 * and a status offer nothing to wait on. */
static void wait_for_backoff(ens_addr child)
{
    test_deadline d = test_deadline_in(WAIT_MS);
    for (;;) {
        bool waiting = false;
        if (__atomic_load_n(&counts->broken_inits, __ATOMIC_SEQ_CST) >= 9) {
            ens_status *st = NULL;
            assert_int_equal(ens_system_status(sys, WAIT_MS, &st), 0);
            for (size_t i = 0; i < ens_status_count(st); i++) {
                const ens_actor_status *a = ens_status_at(st, i);
                if (ens_addr_equal(a->addr, child))
                    waiting = a->pid == 0;
            }
            ens_status_free(st);
        }
        if (waiting)
            break;
        assert_false(test_deadline_passed(d));
        test_nap_ms(1);
    }
    assert_int_equal(counts->broken_inits, 9);
}

/* ens_kill while the restart waits for its backoff ends the actor at once:
 * no further try. */
static void test_kill_during_the_backoff_ends_the_actor(void **state)
{
    (void)state;
    counts->broken_inits = 0;
    open_system();
    ens_ctx *out = ens_system_ctx(sys);
    ens_addr p;
    assert_int_equal(ens_spawn(out, &parent_def, NULL, NULL, &p), 0);
    assert_int_equal(ens_send(out, p, &ens_msg_string, &(ens_string_v){"go"}), 0);
    ens_msg *m = listen_tag(out, TAG_SPAWNED);
    ens_addr child = ((const note_v *)ens_msg_value(m, &note_t))->who;
    ens_msg_free(m);
    wait_for_backoff(child);
    assert_int_equal(ens_kill(out, child), 0);
    m = listen_tag(out, TAG_CHILD_EXITED);
    const note_v *n = ens_msg_value(m, &note_t);
    assert_int_equal(n->reason, ENS_EXIT_KILLED);
    assert_int_equal(n->inits, 9); /* not tried again */
    ens_msg_free(m);
    assert_int_equal(ens_system_stop(sys, WAIT_MS), 0);
    sys = NULL;
    assert_int_equal(counts->broken_inits, 9);
}

/* A system stopped while a restart waits for its backoff ends that actor at
 * once: no further try runs. */
static void test_stop_during_the_backoff_tries_no_more(void **state)
{
    (void)state;
    counts->broken_inits = 0;
    open_system();
    ens_ctx *out = ens_system_ctx(sys);
    ens_addr p;
    assert_int_equal(ens_spawn(out, &parent_def, NULL, NULL, &p), 0);
    assert_int_equal(ens_send(out, p, &ens_msg_string, &(ens_string_v){"go"}), 0);
    ens_msg *m = listen_tag(out, TAG_SPAWNED);
    ens_addr child = ((const note_v *)ens_msg_value(m, &note_t))->who;
    ens_msg_free(m);
    wait_for_backoff(child);
    assert_int_equal(ens_system_stop(sys, WAIT_MS), 0);
    sys = NULL;
    assert_int_equal(counts->broken_inits, 9);
}

int main(void)
{
    counts = mmap(NULL, sizeof(*counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counts == MAP_FAILED)
        return 1;
    if (ens_msgtype_register(&note_t) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restart_whose_init_crashes_is_retried_at_the_same_address,
                                  teardown),
        cmocka_unit_test_teardown(test_restart_whose_init_always_crashes_ends_after_the_limit,
                                  teardown),
        cmocka_unit_test_teardown(test_kill_during_the_backoff_ends_the_actor, teardown),
        cmocka_unit_test_teardown(test_stop_during_the_backoff_tries_no_more, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

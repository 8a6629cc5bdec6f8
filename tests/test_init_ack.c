/*
 * tests/test_init_ack.c - an init that says "started" later than its end
 * (ens_init_defer in init, ens_init_ack from a later handler: OTP's
 * proc_lib:init_ack), on every base: a synchronous spawn returns after the
 * ack, with ENS_EINIT and the ack's reason in ens_errmsg for an ack with an
 * error, and with ENS_ETIMEDOUT, the actor stopped, when no ack comes
 * within call_timeout_ms.
 *
 * The actor writes what happens to it into memory shared with every
 * process (mapped before any system starts), so the test checks it right
 * after the spawn returns, without waiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "support/scenario.h"

enum mode { ACK_OK = 1, ACK_ERROR, ACK_NEVER, ACK_UNDEFERRED };

typedef struct seen {
    int32_t acked;          /* the ack was given (1) */
    int32_t defer_again;    /* ens_init_defer outside init returned this */
    int32_t ack_undeferred; /* ens_init_ack without a defer returned this */
    int32_t terminated;     /* terminate ran: its reason + 100 */
} seen;

static volatile seen *shared;

typedef struct late_st {
    int mode;
} late_st;

static int late_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    late_st *s = state;
    const int64_t *mode = ens_msg_value(arg, &ens_msg_int64);
    s->mode = mode != NULL ? (int)*mode : ACK_OK;
    if (s->mode == ACK_UNDEFERRED) {
        shared->ack_undeferred = ens_init_ack(c, 0, NULL);
        return 0;
    }
    int rc = ens_init_defer(c);
    if (rc < 0)
        return rc;
    return ens_wakeup_after(c, 50, 0, NULL);
}

static int late_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    late_st *s = state;
    if (ens_msg_value(m, &ens_msg_wakeup) == NULL)
        return 0;
    shared->defer_again = ens_init_defer(c);
    if (s->mode == ACK_OK) {
        shared->acked = 1;
        return ens_init_ack(c, 0, NULL);
    }
    if (s->mode == ACK_ERROR) {
        shared->acked = 1;
        return ens_init_ack(c, ENS_EIO, "the disk it needs is gone");
    }
    return 0; /* ACK_NEVER */
}

static void late_terminate(ens_ctx *c, void *state, int reason)
{
    (void)c;
    (void)state;
    shared->terminated = reason + 100;
}

static const ens_actor_def late_def = {
    "tack.Late", sizeof(late_st), late_init, late_receive, late_terminate, NULL, NULL, NULL, NULL};

static void reset_shared(void)
{
    memset((void *)shared, 0, sizeof(*shared));
}

static int spawn_late(scn *t, int64_t mode, ens_addr *out)
{
    return ens_spawn(t->out, &late_def, &ens_msg_int64, &mode, out);
}

/* The spawn returns after the ack (given on a wake-up), not at init's end. */
static void test_spawn_returns_after_ack(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared();
    ens_addr a = ENS_ADDR_NONE;
    assert_int_equal(spawn_late(t, ACK_OK, &a), 0);
    assert_int_equal(shared->acked, 1);
    assert_int_equal(shared->defer_again, ENS_EINVAL); /* only inside init */
    assert_false(ens_addr_is_none(a));
    assert_int_equal(shared->terminated, 0);
    /* It runs: an ask of its status finds it. */
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    bool found = false;
    for (size_t i = 0; i < ens_status_count(st); i++)
        found = found || ens_addr_equal(ens_status_at(st, i)->addr, a);
    ens_status_free(st);
    assert_true(found);
}

/* An ack with an error fails the spawn with ENS_EINIT; ens_errmsg carries
 * the reason; the actor is stopped, its terminate run (its init had
 * returned 0). */
static void test_ack_with_error_fails_spawn(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared();
    ens_addr a = ENS_ADDR_NONE;
    assert_int_equal(spawn_late(t, ACK_ERROR, &a), ENS_EINIT);
    assert_true(ens_addr_is_none(a));
    assert_non_null(strstr(ens_errmsg(), "tack.Late"));
    assert_non_null(strstr(ens_errmsg(), "the disk it needs is gone"));
    assert_int_equal(shared->acked, 1);
    assert_int_equal(shared->terminated, ENS_EXIT_INIT_FAILED + 100);
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_INIT_FAILED, ENS_ADDR_NONE), 1);
}

/* No ack: the spawn fails with ENS_ETIMEDOUT after call_timeout_ms, and
 * the actor is stopped. */
static void test_no_ack_times_out(void **state)
{
    scn *t = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.call_timeout_ms = 1000;
    scn_start(t, &o);
    reset_shared();
    ens_addr a = ENS_ADDR_NONE;
    assert_int_equal(spawn_late(t, ACK_NEVER, &a), ENS_ETIMEDOUT);
    assert_non_null(strstr(ens_errmsg(), "did not acknowledge its init within 1000 ms"));
    assert_int_equal(shared->terminated, ENS_EXIT_INIT_FAILED + 100);
}

/* An ack from an init that did not defer is refused (the init runs on). */
static void test_ack_without_defer_refused(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    reset_shared();
    ens_addr a;
    assert_int_equal(spawn_late(t, ACK_UNDEFERRED, &a), 0);
    assert_int_equal(shared->ack_undeferred, ENS_EINVAL);
    assert_int_equal(ens_init_defer(t->out), ENS_EINVAL); /* the outside context */
    assert_int_equal(ens_init_ack(t->out, 0, NULL), ENS_EINVAL);
}

int main(void)
{
    void *p = mmap(NULL, sizeof(seen), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    shared = p;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_spawn_returns_after_ack),
        SCN_TEST(test_ack_with_error_fails_spawn),
        SCN_TEST(test_no_ack_times_out),
        SCN_TEST(test_ack_without_defer_refused),
    };
    return scn_run_bases("init_ack", tests, sizeof(tests) / sizeof(tests[0]));
}

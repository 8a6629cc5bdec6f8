/*
 * tests/test_init_failed_notice.c - a parent hears of its child's failed
 * init exactly once on the process base, even when the child's own
 * child-exited notice cannot leave before its process ends.
 *
 * An actor process that ends sends its parent the notice itself (after its
 * ens.ctl.Exiting, so the admin does not send one too), then waits a bounded
 * time for its connections to drain. Here the parent is busy in a handler
 * and the child's init has queued more than the socket holds, so the notice
 * is still in the child's process when it ends: the admin must tell the
 * parent instead (ens.ctl.Untold). The parent's handler waits, on a page
 * shared with every process, until the test has seen the child's process
 * end - no timing is involved.
 */
#include <errno.h>
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

#include "ensemble/ensemble.h"

/* More than a socket holds (the kernel grants a connection at most a few
 * MiB here: net.core.wmem_max), in messages below a piece. */
#define FLOOD_N     256
#define FLOOD_BYTES (32 * 1024)

typedef struct shared {
    volatile int32_t child_pid; /* the flooder's process, once its init ran */
    volatile int32_t release;   /* the test saw it end: the parent's handler returns */
    volatile int32_t notices;   /* child-exited notices the parent got for it */
    volatile int32_t reason;    /* ... the last one's reason */
    volatile int32_t floods;    /* flood messages the parent got */
    volatile int32_t spawn_rc;
} shared;
static shared *sh;

static ens_system *sys;

static int flooder_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    (void)arg;
    static char text[FLOOD_BYTES];
    memset(text, 'x', sizeof(text) - 1);
    ens_string_v v = {text};
    __atomic_store_n(&sh->child_pid, (int32_t)getpid(), __ATOMIC_SEQ_CST);
    for (int i = 0; i < FLOOD_N; i++)
        (void)ens_send(c, ens_parent(c), &ens_msg_string, &v);
    return -1; /* the init fails: the notice queues behind the flood */
}

static int flooder_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    (void)m;
    return 0;
}

static const ens_actor_def flooder_def = {
    "nt.Flooder", 0, flooder_init, flooder_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct parent_state {
    ens_addr child;
} parent_state;

static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent_state *ps = state;
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL) {
        if (ens_addr_equal(ce->child, ps->child)) {
            __atomic_store_n(&sh->reason, ce->reason, __ATOMIC_SEQ_CST);
            __atomic_add_fetch(&sh->notices, 1, __ATOMIC_SEQ_CST);
        }
        return 0;
    }
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL)
        return 0;
    if (strcmp(s->text, "ping") == 0)
        return ens_reply(c, &ens_msg_string, s);
    if (strcmp(s->text, "go") != 0) {
        __atomic_add_fetch(&sh->floods, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    int rc = ens_spawn(c, &flooder_def, NULL, NULL, &ps->child);
    __atomic_store_n(&sh->spawn_rc, rc, __ATOMIC_SEQ_CST);
    /* Busy until the child's process has ended: nothing of its connection
     * is read meanwhile. Bounded, so a failing test still ends. */
    test_deadline d = test_deadline_in(120000);
    while (!__atomic_load_n(&sh->release, __ATOMIC_SEQ_CST) && !test_deadline_passed(d))
        test_nap_ms(5);
    return 0;
}

static const ens_actor_def parent_def = {
    "nt.Parent", sizeof(parent_state), NULL, parent_receive, NULL, NULL, NULL, NULL, NULL};

/* pid has ended: gone, or a zombie its parent has not reaped yet. */
static bool process_ended(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    return close_paren != NULL && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

static int teardown(void **state)
{
    (void)state;
    __atomic_store_n(&sh->release, 1, __ATOMIC_SEQ_CST);
    if (sys != NULL)
        ens_system_stop(sys, 30000);
    sys = NULL;
    return 0;
}

static void test_notice_that_cannot_leave_is_sent_by_the_admin(void **state)
{
    (void)state;
    memset((void *)sh, 0, sizeof(*sh));
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    o.log_level = ENS_LOG_ERROR;
    assert_int_equal(ens_system_start(&o, &sys), 0);
    ens_ctx *out = ens_system_ctx(sys);
    ens_addr parent = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(out, &parent_def, NULL, NULL, &parent), 0);
    ens_string_v go = {"go"};
    assert_int_equal(ens_send(out, parent, &ens_msg_string, &go), 0);

    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (__atomic_load_n(&sh->child_pid, __ATOMIC_SEQ_CST) == 0 && !test_deadline_passed(d))
        (void)ens_system_run(sys, 5); /* the outside's sends leave from its loop */
    pid_t child = (pid_t)__atomic_load_n(&sh->child_pid, __ATOMIC_SEQ_CST);
    if (child <= 0)
        fail_msg("the child's init never ran (spawn: %d)", (int)sh->spawn_rc);
    /* The child gives up on its notice after a bounded drain, then ends. */
    d = test_deadline_in(TEST_WAIT_MS);
    while (!process_ended(child) && !test_deadline_passed(d))
        test_nap_ms(5);
    assert_true(process_ended(child));
    assert_int_equal(__atomic_load_n(&sh->spawn_rc, __ATOMIC_SEQ_CST), 0);
    __atomic_store_n(&sh->release, 1, __ATOMIC_SEQ_CST);

    d = test_deadline_in(TEST_WAIT_MS);
    while (__atomic_load_n(&sh->notices, __ATOMIC_SEQ_CST) == 0 && !test_deadline_passed(d))
        test_nap_ms(5);
    assert_int_equal(__atomic_load_n(&sh->notices, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(__atomic_load_n(&sh->reason, __ATOMIC_SEQ_CST), ENS_EXIT_INIT_FAILED);
    /* Once, not twice: what the child's process still held died with it. A
     * round trip through the parent's mailbox comes after the notice. */
    ens_string_v ping = {"ping"};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, parent, &ens_msg_string, &ping, TEST_WAIT_MS, &r), 0);
    ens_msg_free(r);
    assert_int_equal(__atomic_load_n(&sh->notices, __ATOMIC_SEQ_CST), 1);
    /* The scenario took place: the flood did not wholly leave either. */
    assert_true(__atomic_load_n(&sh->floods, __ATOMIC_SEQ_CST) < FLOOD_N);
    print_message("floods delivered before the child's end: %d of %d\n",
                  (int)__atomic_load_n(&sh->floods, __ATOMIC_SEQ_CST), FLOOD_N);
    assert_int_equal(ens_system_stop(sys, 30000), 0);
    sys = NULL;
}

int main(void)
{
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_notice_that_cannot_leave_is_sent_by_the_admin, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/test_convention_loss.c - what the loss of a member means to the
 * actors of the others: systems A (no capabilities), B and C (each
 * "gpu=1") of one convention on a private nats-server, with short
 * heartbeats (250 ms). A member is lost by freezing its gateway (SIGSTOP:
 * its heartbeats stop, so the others see it unreachable; continued at
 * teardown, even on failure). Checked:
 *  - a parent on A whose child was placed on the lost member gets exactly
 *    one child exited ENS_EXIT_NOCONNECTION, and not the child's own notice
 *    when the member is back and the child ends after all; a member that
 *    stops in order tells the child's own end (ENS_EXIT_SHUTDOWN), once;
 *  - a supervisor on A restarts such a permanent child by placement: it
 *    comes back on the other member with the gpu, at a new address;
 *  - an ask from A's outside and an ens_request from an actor on A to an
 *    actor on the lost member, waiting when it went silent, end with
 *    ENS_EUNREACHABLE (their timeout is a minute: never reached here);
 *  - a parent on A killed for good (ens_kill), or crashed and not
 *    restarted (SIGKILL, spawned with ENS_SPAWN_NO_RESTART): its child on
 *    another member is asked to exit and ends.
 * Skipped, with a message, when nats-server is not installed.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"
#include "support/convention.h"
#include "support/deadline.h"
#include "support/nats_server.h"

#define LONG_WAIT_MS 120000 /* for what a busy 2-core machine may take long to move */
#define ASK_MS       60000  /* the timeout of the asks and requests that must not reach it */
#define HEARTBEAT_MS 250u

static test_nats server;
static char conv_name[32];
static ens_system *sys_a, *sys_b, *sys_c;
static pid_t stopped_pid; /* a gateway this test SIGSTOPped: continued at teardown */

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (server.pid == 0) {                                                                     \
            print_message("nats-server is not installed: skipped\n");                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static const char *string_of(const ens_msg *m)
{
    const ens_string_v *v = m != NULL ? ens_msg_value(m, &ens_msg_string) : NULL;
    return v != NULL ? v->text : NULL;
}

/* ---- the actors ------------------------------------------------------ */

static const char *const gpu_needed[] = {"gpu", NULL};

/* The worker (placed: it needs a gpu). Its start argument, if any, is a
 * global name it registers in its init (the outcome kept, not fatal: the
 * lost member's entry may still hold the name). Asked "where": "node=N";
 * "name?": the status of that registration; "hold PID": SIGSTOPs process
 * PID (its own system's gateway) and never answers; told "stop": stops. */
typedef struct worker {
    int name_rc;
} worker;

static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    worker *w = state;
    const char *name = string_of(arg);
    w->name_rc = name != NULL ? ens_name_register(c, name) : ENS_ENOENT;
    return 0;
}

static int worker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    worker *w = state;
    const char *text = string_of(m);
    if (text == NULL)
        return 0;
    char out[64];
    if (strcmp(text, "stop") == 0)
        return ens_stop(c, ENS_EXIT_NORMAL, 0);
    if (strcmp(text, "where") == 0) {
        snprintf(out, sizeof(out), "node=%" PRIu32, ens_self(c).node);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){out});
    }
    if (strcmp(text, "name?") == 0) {
        snprintf(out, sizeof(out), "%d", w->name_rc);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){out});
    }
    int pid = 0;
    if (sscanf(text, "hold %d", &pid) == 1 && pid > 0) {
        kill((pid_t)pid, SIGSTOP);
        return 0; /* no answer: the asker learns of the loss */
    }
    return ens_reply_error(c, ENS_EINVAL, NULL, NULL);
}

static const ens_actor_def worker_def = {.name = "loss.Worker",
                                         .state_size = sizeof(worker),
                                         .init = worker_init,
                                         .receive = worker_receive,
                                         .requirements = gpu_needed};

/* The parent (runs anywhere). Asked "spawn": spawns a worker (placed) and
 * answers its address; "log": what it heard ("exit:REASON:NODE " per
 * child exited); "pid": its process id; "request ADDR TEXT": ens_request TEXT of ADDR and answers
 * "STATUS reply=yes|no" once it completes. */
typedef struct parent {
    char log[1024];
    ens_from asker;
} parent;

static void parent_completed(ens_ctx *c, void *state, int status, const ens_msg *reply,
                             uint64_t tag)
{
    (void)tag;
    parent *p = state;
    char out[64];
    snprintf(out, sizeof(out), "%d reply=%s", status, reply != NULL ? "yes" : "no");
    ens_reply_to(c, p->asker, 0, &ens_msg_string, &(ens_string_v){out});
}

static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent *p = state;
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL) {
        size_t used = strlen(p->log);
        snprintf(p->log + used, sizeof(p->log) - used, "exit:%d:%" PRIu32 " ", ce->reason,
                 ce->child.node);
        return 0;
    }
    const char *text = string_of(m);
    if (text == NULL)
        return 0;
    if (strcmp(text, "log") == 0)
        return ens_reply(c, &ens_msg_string, &(ens_string_v){p->log});
    if (strcmp(text, "pid") == 0) {
        char out[32];
        snprintf(out, sizeof(out), "%d", (int)getpid());
        return ens_reply(c, &ens_msg_string, &(ens_string_v){out});
    }
    if (strcmp(text, "spawn") == 0) {
        ens_addr child = ENS_ADDR_NONE;
        char out[ENS_ADDR_STRLEN + 16];
        int rc = ens_spawn(c, &worker_def, NULL, NULL, &child);
        if (rc == 0)
            ens_addr_format(child, out, sizeof(out));
        else
            snprintf(out, sizeof(out), "error %d", rc);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){out});
    }
    char where[64];
    int off = 0;
    ens_addr to;
    if (sscanf(text, "request %63s %n", where, &off) == 1 && off > 0 &&
        ens_addr_parse(where, &to) == 0) {
        p->asker = ens_from_current(c);
        int rc = ens_request(c, to, &ens_msg_string, &(ens_string_v){(char *)text + off}, ASK_MS,
                             parent_completed, 0);
        return rc == 0 ? 0 : ens_reply_error(c, rc, NULL, NULL);
    }
    return ens_reply_error(c, ENS_EINVAL, NULL, NULL);
}

static const ens_actor_def parent_def = {
    .name = "loss.Parent", .state_size = sizeof(parent), .receive = parent_receive};

/* ---- systems --------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0; /* each test skips and says why */
    if (ens_actor_register(&worker_def) < 0 || ens_actor_register(&parent_def) < 0)
        return -1;
    return test_nats_start(&server, TEST_WAIT_MS) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    test_nats_stop(&server);
    return 0;
}

static ens_system *start_member(const char *caps)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.log_path = "/dev/null";
    o.convention.servers = server.url;
    o.convention.name = conv_name;
    o.convention.heartbeat_ms = HEARTBEAT_MS;
    o.convention.capabilities = caps;
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    return s;
}

static int setup(void **state)
{
    (void)state;
    static int round;
    if (server.pid == 0)
        return 0;
    snprintf(conv_name, sizeof(conv_name), "l%d-%d", (int)getpid(), ++round);
    sys_a = start_member(NULL);
    sys_b = start_member("gpu=1\n");
    sys_c = start_member("gpu=1\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (stopped_pid > 0)
        kill(stopped_pid, SIGCONT);
    stopped_pid = 0;
    ens_system **all[] = {&sys_a, &sys_b, &sys_c};
    for (size_t i = 0; i < 3; i++) {
        if (*all[i] != NULL)
            ens_system_stop(*all[i], 5000);
        *all[i] = NULL;
    }
    return 0;
}

/* The member whose node is node (B or C). */
static ens_system *member_of(uint32_t node)
{
    ens_system *all[] = {sys_b, sys_c};
    for (size_t i = 0; i < 2; i++)
        if (ens_system_ctx(all[i]) != NULL && ens_self(ens_system_ctx(all[i])).node == node)
            return all[i];
    fail_msg("node %" PRIu32 " is neither B nor C", node);
    return NULL;
}

/* The gateway process of local system s. */
static pid_t gateway_pid(ens_system *s)
{
    return test_conv_gateway_pid(ens_system_options(s)->name);
}

/* Freeze the gateway of the member of node: its heartbeats stop. */
static void lose(uint32_t node)
{
    pid_t gw = gateway_pid(member_of(node));
    assert_true(gw > 0);
    stopped_pid = gw;
    assert_int_equal(kill(gw, SIGSTOP), 0);
}

/* Ask `to` from s's outside with text; the status, and the reply's text
 * in out ("" if it has none). */
static int ask_text(ens_system *s, ens_addr to, const char *text, uint32_t wait_ms, char *out,
                    size_t len)
{
    ens_msg *r = NULL;
    int rc =
        ens_ask(ens_system_ctx(s), to, &ens_msg_string, &(ens_string_v){(char *)text}, wait_ms, &r);
    const char *t = string_of(r);
    snprintf(out, len, "%s", t != NULL ? t : "");
    ens_msg_free(r);
    return rc;
}

static ens_addr spawn_on(ens_system *s, const ens_actor_def *d, const char *arg)
{
    ens_addr a = ENS_ADDR_NONE;
    ens_string_v v = {(char *)arg};
    assert_int_equal(
        ens_spawn(ens_system_ctx(s), d, arg != NULL ? &ens_msg_string : NULL, arg ? &v : NULL, &a),
        0);
    return a;
}

/* A parent on A (spawned with flags) with a worker placed on B or C: the
 * worker's address. */
static ens_addr parent_with_child_flags(ens_addr *parent_at, uint32_t flags)
{
    assert_int_equal(
        ens_spawn_flags(ens_system_ctx(sys_a), &parent_def, NULL, NULL, flags, parent_at), 0);
    char got[128];
    assert_int_equal(ask_text(sys_a, *parent_at, "spawn", LONG_WAIT_MS, got, sizeof(got)), 0);
    ens_addr child;
    if (ens_addr_parse(got, &child) < 0)
        fail_msg("the parent did not spawn its child: \"%s\"", got);
    assert_true(child.node == ens_self(ens_system_ctx(sys_b)).node ||
                child.node == ens_self(ens_system_ctx(sys_c)).node);
    return child;
}

static ens_addr parent_with_child(ens_addr *parent_at)
{
    return parent_with_child_flags(parent_at, 0);
}

/* Ask the parent for its log until it holds needle; the log in log. */
static void wait_log(ens_addr parent_at, const char *needle, char *log, size_t len)
{
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    for (;;) {
        assert_int_equal(ask_text(sys_a, parent_at, "log", TEST_WAIT_MS, log, len), 0);
        if (strstr(log, needle) != NULL)
            return;
        if (test_deadline_passed(d))
            fail_msg("the parent's log has no \"%s\": \"%s\"", needle, log);
        ens_system_run(sys_a, 50);
    }
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* ---- the tests ------------------------------------------------------- */

/* B (or C, wherever the child went) goes silent: its parent on A hears
 * child exited NOCONNECTION once; back again, the child's own notice of its
 * end does not reach the parent a second time. */
static void test_a_parent_hears_noconnection_once(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr parent_at;
    ens_addr child = parent_with_child(&parent_at);
    char got[128], log[1024], want[48];
    assert_int_equal(ask_text(sys_a, child, "where", LONG_WAIT_MS, got, sizeof(got)), 0);
    lose(child.node);
    snprintf(want, sizeof(want), "exit:%d:%" PRIu32 " ", ENS_EXIT_NOCONNECTION, child.node);
    wait_log(parent_at, want, log, sizeof(log));
    assert_int_equal(count_of(log, "exit:"), 1);

    /* Back: the child still runs there; asked to stop, it tells its parent,
     * whose system drops that notice (it told the parent already). */
    assert_int_equal(kill(stopped_pid, SIGCONT), 0);
    stopped_pid = 0;
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    while (ask_text(sys_a, child, "where", TEST_WAIT_MS, got, sizeof(got)) != 0) {
        if (test_deadline_passed(d))
            fail_msg("the child's member was not seen back");
        ens_system_run(sys_a, 50);
    }
    ens_system *home = member_of(child.node);
    assert_int_equal(
        ens_send(ens_system_ctx(home), child, &ens_msg_string, &(ens_string_v){"stop"}), 0);
    d = test_deadline_in(LONG_WAIT_MS);
    while (ask_text(home, child, "where", TEST_WAIT_MS, got, sizeof(got)) != ENS_ENOACTOR) {
        if (test_deadline_passed(d))
            fail_msg("the child did not stop");
        ens_system_run(home, 50);
    }
    /* A round trip from A through the child's member after its end. */
    assert_int_equal(ask_text(sys_a, child, "where", LONG_WAIT_MS, got, sizeof(got)), ENS_ENOACTOR);
    assert_int_equal(ask_text(sys_a, parent_at, "log", TEST_WAIT_MS, log, sizeof(log)), 0);
    assert_int_equal(count_of(log, "exit:"), 1);
}

/* The child's member stops in order: it stops the child, whose own notice
 * (ENS_EXIT_SHUTDOWN) reaches the parent before the member's leave; the
 * parent hears of the child's end once, with that reason. */
static void test_a_clean_leave_tells_the_childs_own_end_once(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr parent_at;
    ens_addr child = parent_with_child(&parent_at);
    char got[128], log[1024], want[48];
    assert_int_equal(ask_text(sys_a, child, "where", LONG_WAIT_MS, got, sizeof(got)), 0);
    ens_system **home = member_of(child.node) == sys_b ? &sys_b : &sys_c;
    assert_int_equal(ens_system_stop(*home, 5000), 0);
    *home = NULL;
    snprintf(want, sizeof(want), "exit:%d:%" PRIu32 " ", ENS_EXIT_SHUTDOWN, child.node);
    wait_log(parent_at, want, log, sizeof(log));
    /* A round trip to the node that left: A has seen it leave. */
    assert_int_equal(ask_text(sys_a, child, "where", LONG_WAIT_MS, got, sizeof(got)), ENS_ENOACTOR);
    assert_int_equal(ask_text(sys_a, parent_at, "log", TEST_WAIT_MS, log, sizeof(log)), 0);
    assert_int_equal(count_of(log, "exit:"), 1);
}

/* A supervisor on A with a permanent placed child: the child's member goes
 * silent, the child comes back by placement on the other member with a
 * gpu, at a new address; the name its init registers follows it once the
 * lost member's entry is gone. */
static void test_a_supervisor_places_a_lost_child_again(void **state)
{
    (void)state;
    NEED_SERVER();
    char name[48];
    snprintf(name, sizeof(name), "loss.worker.%d", (int)getpid());
    ens_sup_flags f = ENS_SUP_FLAGS_INIT;
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = "w";
    spec.def = &worker_def;
    spec.arg_type = &ens_msg_string;
    spec.arg = &(ens_string_v){name};
    ens_addr sup = ENS_ADDR_NONE;
    assert_int_equal(ens_supervisor_spawn(ens_system_ctx(sys_a), &f, &spec, 1, &sup), 0);

    ens_msg *m = NULL;
    assert_int_equal(ens_supervisor_which_children_wait(ens_system_ctx(sys_a), sup, &m), 0);
    const ens_sup_children_v *kids = ens_msg_value(m, &ens_msg_sup_children);
    assert_non_null(kids);
    assert_int_equal(kids->children.count, 1);
    ens_addr first = ((const ens_sup_child_info *)kids->children.items)[0].child;
    ens_msg_free(m);
    const uint32_t b = ens_self(ens_system_ctx(sys_b)).node;
    const uint32_t c = ens_self(ens_system_ctx(sys_c)).node;
    assert_true(first.node == b || first.node == c);
    const uint32_t other = first.node == b ? c : b;

    lose(first.node);
    ens_addr next = ENS_ADDR_NONE;
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    for (;;) {
        assert_int_equal(ens_supervisor_which_children_wait(ens_system_ctx(sys_a), sup, &m), 0);
        kids = ens_msg_value(m, &ens_msg_sup_children);
        assert_non_null(kids);
        const ens_sup_child_info *k = kids->children.items;
        if (kids->children.count == 1 && k[0].status == ENS_SUP_CHILD_RUNNING &&
            !ens_addr_is_none(k[0].child) && !ens_addr_equal(k[0].child, first))
            next = k[0].child;
        ens_msg_free(m);
        if (!ens_addr_is_none(next))
            break;
        if (test_deadline_passed(d))
            fail_msg("the child did not come back");
        ens_system_run(sys_a, 50);
    }
    assert_int_equal(next.node, other);
    char got[64], want[32];
    snprintf(want, sizeof(want), "node=%" PRIu32, other);
    assert_int_equal(ask_text(sys_a, next, "where", LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_string_equal(got, want);

    assert_int_equal(ask_text(sys_a, next, "name?", LONG_WAIT_MS, got, sizeof(got)), 0);
    /* The lost member's names are purged by each survivor's gateway before
     * its admin hears of the loss, so before the supervisor restarts the
     * child: the new incarnation's registration finds the name free. */
    if (strcmp(got, "0") != 0)
        fail_msg("the restarted child could not register %s: %s", name, got);
    d = test_deadline_in(LONG_WAIT_MS);
    for (;;) {
        ens_addr at = ENS_ADDR_NONE;
        if (ens_name_lookup(ens_system_ctx(sys_a), name, &at) == 0 && ens_addr_equal(at, next))
            break;
        if (test_deadline_passed(d))
            fail_msg("the name did not follow the child");
        ens_system_run(sys_a, 50);
    }
}

/* An ask from A's outside to an actor whose member goes silent while it
 * waits: ENS_EUNREACHABLE, not its timeout. */
static void test_an_ask_to_a_lost_member_ends_unreachable(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr w = spawn_on(sys_a, &worker_def, NULL);
    char got[64], hold[32];
    assert_int_equal(ask_text(sys_a, w, "where", LONG_WAIT_MS, got, sizeof(got)), 0);
    pid_t gw = gateway_pid(member_of(w.node));
    assert_true(gw > 0);
    stopped_pid = gw; /* the worker freezes it once it has the ask */
    snprintf(hold, sizeof(hold), "hold %d", (int)gw);
    assert_int_equal(ask_text(sys_a, w, hold, ASK_MS, got, sizeof(got)), ENS_EUNREACHABLE);
}

/* The same for ens_request from an actor on A: its callback gets
 * ENS_EUNREACHABLE and no reply. */
static void test_a_request_to_a_lost_member_ends_unreachable(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr p = spawn_on(sys_a, &parent_def, NULL);
    ens_addr w = spawn_on(sys_a, &worker_def, NULL);
    char got[64], cmd[128], at[ENS_ADDR_STRLEN];
    assert_int_equal(ask_text(sys_a, w, "where", LONG_WAIT_MS, got, sizeof(got)), 0);
    pid_t gw = gateway_pid(member_of(w.node));
    assert_true(gw > 0);
    stopped_pid = gw;
    ens_addr_format(w, at, sizeof(at));
    snprintf(cmd, sizeof(cmd), "request %s hold %d", at, (int)gw);
    assert_int_equal(ask_text(sys_a, p, cmd, LONG_WAIT_MS, got, sizeof(got)), 0);
    char want[48];
    snprintf(want, sizeof(want), "%d reply=no", ENS_EUNREACHABLE);
    assert_string_equal(got, want);
}

/* A parent on A killed for good: its child on another member is asked to
 * exit and ends. */
static void test_a_killed_parent_ends_its_remote_child(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr parent_at;
    ens_addr child = parent_with_child(&parent_at);
    ens_system *home = member_of(child.node);
    char got[64];
    assert_int_equal(ask_text(home, child, "where", LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_int_equal(ens_kill(ens_system_ctx(sys_a), parent_at), 0);
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    while (ask_text(home, child, "where", TEST_WAIT_MS, got, sizeof(got)) != ENS_ENOACTOR) {
        if (test_deadline_passed(d))
            fail_msg("the child of the killed parent still runs");
        ens_system_run(home, 50);
    }
}

/* A parent on A that crashes and is not restarted (spawned with
 * ENS_SPAWN_NO_RESTART, its process SIGKILLed): its child on another member
 * is asked to exit and ends. */
static void test_a_crashed_parent_ends_its_remote_child(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr parent_at;
    ens_addr child = parent_with_child_flags(&parent_at, ENS_SPAWN_NO_RESTART);
    ens_system *home = member_of(child.node);
    char got[64];
    assert_int_equal(ask_text(home, child, "where", LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_int_equal(ask_text(sys_a, parent_at, "pid", LONG_WAIT_MS, got, sizeof(got)), 0);
    pid_t pid = (pid_t)atoi(got);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    while (ask_text(home, child, "where", TEST_WAIT_MS, got, sizeof(got)) != ENS_ENOACTOR) {
        if (test_deadline_passed(d))
            fail_msg("the child of the crashed parent still runs");
        ens_system_run(home, 50);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_parent_hears_noconnection_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_clean_leave_tells_the_childs_own_end_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_supervisor_places_a_lost_child_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_ask_to_a_lost_member_ends_unreachable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_request_to_a_lost_member_ends_unreachable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_parent_ends_its_remote_child, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_crashed_parent_ends_its_remote_child, setup,
                                        teardown),
    };
    if (getenv("ENS_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("ENS_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

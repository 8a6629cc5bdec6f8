/*
 * tests/test_convention_status.c - `ens status --convention` and
 * ens_status_query_convention (ensemble/status.h; the gateway's answerer
 * in core/process/gateway/gateway_status.c): two systems on one private
 * nats-server (tests/support/nats_server.h); each member's tree comes
 * from its own admin through its gateway; a member whose gateway is
 * stopped (SIGSTOP) is named as not answering while the other's tree still
 * comes; garbage on the status subject is refused. Skipped, with a
 * message, when nats-server is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "ensemble/ensemble.h"
#include "support/convention.h"
#include "support/deadline.h"
#include "support/nats_server.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define NSYS 2

static test_nats server;
static char conv_name[32];
static char names[NSYS][32];
static ens_system *sys[NSYS];
static pid_t stopped_gateway; /* continued at teardown if a test fails meanwhile */
static char *out_text;

static int idle_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)c;
    (void)st;
    (void)m;
    return 0;
}

static const ens_actor_def idle_def = {"cs.Idle", 0,    NULL, idle_receive, NULL,
                                       NULL,      NULL, NULL, NULL};

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    snprintf(conv_name, sizeof(conv_name), "s%d", (int)getpid());
    for (int i = 0; i < NSYS; i++)
        snprintf(names[i], sizeof(names[i]), "cs-%d-%c", (int)getpid(), 'a' + i);
    return test_nats_start(&server, TEST_WAIT_MS) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (stopped_gateway > 0)
        kill(stopped_gateway, SIGCONT);
    for (int i = 0; i < NSYS; i++)
        if (sys[i] != NULL)
            ens_system_stop(sys[i], 5000);
    test_nats_stop(&server);
    free(out_text);
    return 0;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (server.pid == 0) {                                                                     \
            print_message("nats-server is not installed: skipped\n");                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static pid_t gateway_pid(const char *name)
{
    return test_conv_gateway_pid(name);
}

/* Run the built ens with args; its stdout and stderr in out_text; returns
 * its exit status. */
static int run_ens(const char *const *args)
{
    return test_conv_run_tool(ENS_TOOL_PATH, args, NULL, &out_text);
}

/* ---- the public call ---- */

typedef struct seen {
    int trees, missing;
    int idle_rows[NSYS]; /* cs.Idle actors in each system's tree */
    int missing_status;
} seen;

static void on_member(uint32_t node, const char *system, const char *host, const ens_status *st,
                      int status, const char *why, void *arg)
{
    (void)node;
    (void)host;
    (void)why;
    seen *s = arg;
    if (st == NULL) {
        s->missing++;
        s->missing_status = status;
        return;
    }
    s->trees++;
    for (int i = 0; i < NSYS; i++)
        if (strcmp(system, names[i]) == 0)
            for (size_t k = 0; k < ens_status_count(st); k++)
                s->idle_rows[i] += strcmp(ens_status_at(st, k)->type, "cs.Idle") == 0;
}

/* The status answer's status to a request sent by hand. */
static int32_t ask_raw(natsConnection *nc, const char *subject, const void *data, int len)
{
    natsMsg *reply = NULL;
    natsStatus st = natsConnection_Request(&reply, nc, subject, data, len, TEST_WAIT_MS);
    if (st != NATS_OK)
        fail_msg("no answer on %s: %s", subject, natsStatus_GetText(st));
    const uint8_t *p = (const uint8_t *)natsMsg_GetData(reply);
    assert_true(natsMsg_GetDataLength(reply) >= 8);
    assert_memory_equal(p, "ESA1", 4);
    int32_t status = (int32_t)((uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                               (uint32_t)p[7] << 24);
    natsMsg_Destroy(reply);
    return status;
}

static void test_every_members_tree_and_a_stopped_member_named(void **state)
{
    (void)state;
    NEED_SERVER();
    ens_addr a0 = ENS_ADDR_NONE;
    for (int i = 0; i < NSYS; i++) {
        ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
        o.name = names[i];
        o.journal_path = "";
        o.log_path = "/dev/null";
        o.convention.servers = server.url;
        o.convention.name = conv_name;
        o.convention.heartbeat_ms = 300;
        assert_int_equal(ens_system_start(&o, &sys[i]), 0);
        /* i + 1 idle actors on system i: each tree is told apart. */
        for (int k = 0; k <= i; k++)
            assert_int_equal(ens_spawn(ens_system_ctx(sys[i]), &idle_def, NULL, NULL, &a0), 0);
    }
    seen s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(
        ens_status_query_convention(server.url, conv_name, TEST_WAIT_MS, on_member, &s), NSYS);
    assert_int_equal(s.trees, NSYS);
    assert_int_equal(s.missing, 0);
    assert_int_equal(s.idle_rows[0], 1);
    assert_int_equal(s.idle_rows[1], 2);

    assert_int_equal(run_ens((const char *const[]){"status", "--convention", conv_name, "--nats",
                                                   server.url, NULL}),
                     0);
    for (int i = 0; i < NSYS; i++) {
        char head[96];
        snprintf(head, sizeof(head), "system %s", names[i]);
        if (strstr(out_text, head) == NULL)
            fail_msg("no tree of %s in: %s", names[i], out_text);
    }
    assert_non_null(strstr(out_text, "cs.Idle"));
    assert_int_equal(run_ens((const char *const[]){"status", "--convention", conv_name, "--nats",
                                                   server.url, "--json", NULL}),
                     0);
    /* One {"actors": [...]} document per member. */
    assert_non_null(strstr(out_text, "\"actors\": ["));
    assert_non_null(strstr(out_text, "\"type\": \"cs.Idle\""));

    /* B's gateway stops: named, exit status 1; A's tree still comes. */
    pid_t gw = gateway_pid(names[1]);
    assert_true(gw > 0);
    stopped_gateway = gw;
    assert_int_equal(kill(gw, SIGSTOP), 0);
    assert_int_equal(run_ens((const char *const[]){"status", "--convention", conv_name, "--nats",
                                                   server.url, "--timeout", "5000", NULL}),
                     1);
    char head[96];
    snprintf(head, sizeof(head), "system %s", names[0]);
    assert_non_null(strstr(out_text, head));
    snprintf(head, sizeof(head), "(system %s on host", names[1]);
    assert_non_null(strstr(out_text, head));
    assert_non_null(strstr(out_text, "did not answer within 5000 ms"));
    memset(&s, 0, sizeof(s));
    assert_int_equal(ens_status_query_convention(server.url, conv_name, 5000, on_member, &s), 1);
    assert_int_equal(s.missing, 1);
    assert_int_equal(s.missing_status, ENS_ETIMEDOUT);
    assert_int_equal(kill(gw, SIGCONT), 0);
    stopped_gateway = 0;
}

static void test_garbage_on_the_status_subject_is_refused(void **state)
{
    (void)state;
    NEED_SERVER();
    assert_non_null(sys[0]);
    ens_addr self = ens_self(ens_system_ctx(sys[0]));
    char subject[128];
    snprintf(subject, sizeof(subject), "ens.%s.status.%u", conv_name, (unsigned)self.node);
    natsConnection *nc = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, server.url), NATS_OK);
    assert_int_equal(natsConnection_Publish(nc, subject, "ESQ1", 4), NATS_OK); /* no reply */
    assert_int_equal(ask_raw(nc, subject, "", 0), ENS_EBADFRAME);
    assert_int_equal(ask_raw(nc, subject, "ESQ", 3), ENS_EBADFRAME);
    assert_int_equal(ask_raw(nc, subject, "ESQ1x", 5), ENS_EBADFRAME);
    static char big[100000];
    memset(big, 'E', sizeof(big));
    assert_int_equal(ask_raw(nc, subject, big, 30000), ENS_EBADFRAME);
    /* Past the bytes bound of the answerer's queue: dropped by libnats
     * unanswered (the asker times out); the answerer goes on. */
    assert_int_equal(
        natsConnection_PublishRequest(nc, subject, "nobody.listens", big, (int)sizeof(big)),
        NATS_OK);
    /* A good request is still answered with a snapshot. */
    assert_int_equal(ask_raw(nc, subject, "ESQ1", 4), 0);
    natsConnection_Destroy(nc);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(run_ens((const char *const[]){"status", "--convention", "x", NULL}), 2);
    assert_non_null(strstr(out_text, "no NATS server"));
    assert_int_equal(run_ens((const char *const[]){"status", "--convention", "x", "--nats",
                                                   "nats://127.0.0.1:1", "sys", NULL}),
                     2);
    assert_int_equal(run_ens((const char *const[]){"status", "--convention", "a.b", "--nats",
                                                   "nats://127.0.0.1:1", NULL}),
                     2);
    assert_int_equal(ens_status_query_convention("nats://127.0.0.1:1", "a*", 100, on_member, NULL),
                     ENS_EINVAL);
    assert_int_equal(ens_status_query_convention("nats://127.0.0.1:1", "x", 0, on_member, NULL),
                     ENS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_every_members_tree_and_a_stopped_member_named),
        cmocka_unit_test(test_garbage_on_the_status_subject_is_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

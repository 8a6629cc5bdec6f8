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

/* The gateway process of system `name` (the child of its admin titled
 * ens-gateway), 0 if none now. */
static pid_t gateway_pid(const char *name)
{
    int uid = -1, admin = -1;
    if (ens_system_holder(name, &uid, &admin) < 0)
        return 0;
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", admin, admin);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    pid_t found = 0;
    for (int pid; found == 0 && fscanf(f, "%d", &pid) == 1;) {
        char comm_path[64], comm[32] = "";
        snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", pid);
        FILE *c = fopen(comm_path, "r");
        if (c == NULL)
            continue;
        if (fgets(comm, sizeof(comm), c) != NULL && strncmp(comm, "ens-gateway", 11) == 0)
            found = pid;
        fclose(c);
    }
    fclose(f);
    return found;
}

/* Run the built ens with args; its stdout and stderr in out_text; returns
 * its exit status. */
static int run_ens(const char *const *args)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = ENS_TOOL_PATH;
    for (; args[n - 1] != NULL && n < 23; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int po[2];
    assert_int_equal(pipe2(po, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(po[1], 1) < 0 || dup2(po[1], 2) < 0)
            _exit(126);
        unsetenv("ENSEMBLE_NATS_URL");
        execv(ENS_TOOL_PATH, (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    size_t len = 0, cap = 8192;
    char *buf = malloc(cap);
    assert_non_null(buf);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        struct pollfd p = {po[0], POLLIN, 0};
        int k = poll(&p, 1, test_deadline_left_ms(d));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("ens journal did not finish");
        }
        if (len + 1024 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t got = read(po[0], buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    buf[len] = '\0';
    close(po[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(out_text);
    out_text = buf;
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
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
    assert_non_null(strstr(out_text, "\"type\":\"cs.Idle\""));

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

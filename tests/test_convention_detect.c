/*
 * tests/test_convention_detect.c - how members of a convention learn that
 * one is lost (ensemble/convention.h): heartbeats every 100 ms, a member
 * unreachable after 400 ms of silence. With the other core kept busy by a
 * spinning process for a bounded time, no member is judged down; a member
 * SIGKILLed is seen unreachable and its global names are removed, so the
 * name can be claimed on a survivor; a survivor whose gateway was stopped
 * meanwhile purges late and leaves the new claim alone, and is joined
 * again when it runs again; a member that stops in order is seen left;
 * every change is a log line. A cluster of three nats-servers loses the
 * one a system is connected to: the system's gateway reconnects to another
 * within down_after_ms, nobody marks it down, and messages still cross.
 * Skipped, with a message, when nats-server is not installed.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "ensemble/ensemble.h"
#include "support/convention.h"
#include "support/deadline.h"
#include "support/echo.h"
#include "support/nats_server.h"

#define HEARTBEAT_MS  100u
#define DOWN_AFTER_MS 400u
#define BUSY_MS       20000 /* how long the other core is kept busy */
#define CLUSTER       3     /* JetStream in a cluster needs a quorum: 3 survive one loss */

static test_nats server;
static test_nats cluster[CLUSTER];
static char conv_name[32];
static char name_a[32], name_b[32], name_c[32];
static char log_c[96];
static ens_system *sys_a, *sys_c;
static ens_system *sys_x, *sys_y; /* the failover and buffer groups' */
static pid_t b_group;             /* the child that runs B, leader of its process group */
static pid_t spinner;

#define NEED(srv)                                                                                  \
    do {                                                                                           \
        if ((srv).pid == 0) {                                                                      \
            print_message("nats-server is not installed: skipped\n");                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void kill_group(pid_t *group)
{
    if (*group > 0) {
        kill(-*group, SIGKILL);
        waitpid(*group, NULL, 0);
        *group = 0;
    }
}

static void kill_spinner(void)
{
    if (spinner > 0) {
        kill(spinner, SIGKILL);
        waitpid(spinner, NULL, 0);
        spinner = 0;
    }
}

static ens_system_opts member_opts(const char *name, const char *servers, const char *log)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.log_path = log != NULL ? log : "/dev/null";
    o.log_level = ENS_LOG_INFO; /* each change of a member is a line at info */
    o.convention.servers = servers;
    o.convention.name = conv_name;
    o.convention.heartbeat_ms = HEARTBEAT_MS;
    o.convention.down_after_ms = DOWN_AFTER_MS;
    return o;
}

/* ---- the subscriber: keeps what it was told, as text ---------------- */

/* "J<system> " per joined, "L..." left, "U..." unreachable. Asked with any
 * string, it answers the whole text. */
typedef struct watcher {
    char log[4096];
} watcher;

static int watcher_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    return ens_convention_subscribe(c, true);
}

static int watcher_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    watcher *w = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        char letter = u->change == ENS_MEMBER_JOINED        ? 'J'
                      : u->change == ENS_MEMBER_LEFT        ? 'L'
                      : u->change == ENS_MEMBER_UNREACHABLE ? 'U'
                                                            : '!';
        size_t len = strlen(w->log);
        snprintf(w->log + len, sizeof(w->log) - len, "%c%s ", letter, u->system);
        return 0;
    }
    if (ens_msg_value(m, &ens_msg_string) != NULL)
        return ens_reply(c, &ens_msg_string, &(ens_string_v){w->log});
    return 0;
}

static const ens_actor_def watcher_def = {
    "det.Watcher", sizeof(watcher), watcher_init, watcher_receive, NULL, NULL, NULL, NULL, NULL};

static const ens_actor_def echo_def = {"det.Echo", 0,    NULL, test_echo_receive, NULL, NULL,
                                       NULL,       NULL, NULL};

/* What the watcher at w on s was told so far (a static buffer). */
static const char *told(ens_system *s, ens_addr w)
{
    static char text[4096];
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ens_system_ctx(s), w, &ens_msg_string, &(ens_string_v){"?"}, TEST_WAIT_MS, &r), 0);
    snprintf(text, sizeof(text), "%s",
             ((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text);
    ens_msg_free(r);
    return text;
}

/* How many changes `letter` about system `name` the log holds. */
static int count(const char *log, char letter, const char *name)
{
    char word[48];
    snprintf(word, sizeof(word), "%c%s ", letter, name);
    int n = 0;
    for (const char *p = log; (p = strstr(p, word)) != NULL; p += strlen(word))
        if (p == log || p[-1] == ' ')
            n++;
    return n;
}

/* The last change told about system `name` ('J', 'L', 'U'), or 0. */
static char last_change(const char *log, const char *name)
{
    char last = 0;
    size_t n = strlen(name);
    for (const char *p = log; *p != '\0';) {
        const char *end = strchr(p, ' ');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n + 1 && memcmp(p + 1, name, n) == 0)
            last = p[0];
        p += len;
        if (*p == ' ')
            p++;
    }
    return last;
}

/* Wait until the watcher's last change about `name` is `want`; the time
 * it took in ms. */
static int wait_for(ens_system *s, ens_addr w, const char *name, char want)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        const char *log = told(s, w);
        if (last_change(log, name) == want)
            break;
        if (test_deadline_passed(d))
            fail_msg("waited for %c%s; the watcher was told: %s", want, name, log);
        ens_system_run(s, 10);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
}

/* Start B in a child of its own process group, with an actor named
 * "lost.svc" there; it runs until killed. */
static void start_b(const char *servers)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        close(ready[0]);
        ens_system_opts o = member_opts(name_b, servers, NULL);
        ens_system *b = NULL;
        ens_addr held;
        char ok = ens_system_start(&o, &b) == 0 && ens_name_spawn(ens_system_ctx(b), "lost.svc",
                                                                  &echo_def, NULL, NULL, &held) == 0
                      ? 'y'
                      : 'n';
        ssize_t w = write(ready[1], &ok, 1);
        (void)w;
        for (;;)
            pause();
    }
    setpgid(pid, pid); /* either side may run first */
    b_group = pid;
    close(ready[1]);
    char ok = 0;
    ssize_t got;
    while ((got = read(ready[0], &ok, 1)) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    assert_int_equal(got, 1);
    assert_int_equal(ok, 'y');
}

/* Whether the file at path holds text. */
static bool file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

/* ---- group: one server, A and C here, B in a child ------------------ */

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    snprintf(conv_name, sizeof(conv_name), "d%d", (int)getpid());
    snprintf(name_a, sizeof(name_a), "det-%d-a", (int)getpid());
    snprintf(name_b, sizeof(name_b), "det-%d-b", (int)getpid());
    snprintf(name_c, sizeof(name_c), "det-%d-c", (int)getpid());
    if (test_nats_start(&server, TEST_WAIT_MS) != 0)
        return -1;
    snprintf(log_c, sizeof(log_c), "%s/c.log", server.dir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kill_spinner();
    pid_t gw = sys_c != NULL ? test_conv_gateway_pid(name_c) : 0;
    if (gw > 0)
        kill(gw, SIGCONT); /* a failed test may leave it stopped */
    if (sys_a != NULL)
        ens_system_stop(sys_a, 5000);
    if (sys_c != NULL)
        ens_system_stop(sys_c, 5000);
    sys_a = sys_c = NULL;
    kill_group(&b_group);
    test_nats_stop(&server);
    return 0;
}

static ens_addr watch_a;

/* The other core busy with a spinning process for BUSY_MS: A, B and C
 * keep hearing each other (0 false downs). */
static void test_busy_host_makes_no_false_down(void **state)
{
    (void)state;
    NEED(server);
    ens_system_opts oa = member_opts(name_a, server.url, NULL);
    assert_int_equal(ens_system_start(&oa, &sys_a), 0);
    ens_system_opts oc = member_opts(name_c, server.url, log_c);
    assert_int_equal(ens_system_start(&oc, &sys_c), 0);
    assert_int_equal(ens_spawn(ens_system_ctx(sys_a), &watcher_def, NULL, NULL, &watch_a), 0);
    start_b(server.url);
    wait_for(sys_a, watch_a, name_b, 'J');
    wait_for(sys_a, watch_a, name_c, 'J');

    fflush(NULL);
    spinner = fork();
    assert_true(spinner >= 0);
    if (spinner == 0)
        for (volatile unsigned long i = 0;; i++)
            ;
    test_deadline busy = test_deadline_in(BUSY_MS);
    while (!test_deadline_passed(busy)) /* a bounded measurement, not a wait */
        ens_system_run(sys_a, 100);
    kill_spinner();
    const char *log = told(sys_a, watch_a);
    print_message("%d s with the other core busy (heartbeat %u ms, down after %u ms): A was told "
                  "%s\n",
                  BUSY_MS / 1000, HEARTBEAT_MS, DOWN_AFTER_MS, log);
    assert_int_equal(count(log, 'U', name_b) + count(log, 'U', name_c), 0);
    assert_int_equal(count(log, 'L', name_b) + count(log, 'L', name_c), 0);
}

/* B SIGKILLed with its actor named "lost.svc", while C's gateway is
 * stopped: A sees B (and C) unreachable, B's name is removed and A claims
 * it for an actor of its own; C, running again, purges late and leaves
 * A's claim alone, and is joined again; C then leaves in order. */
static void test_lost_member_names_and_rejoin(void **state)
{
    (void)state;
    NEED(server);
    assert_non_null(sys_a);
    ens_addr old;
    assert_int_equal(ens_name_lookup(ens_system_ctx(sys_a), "lost.svc", &old), 0);
    pid_t gw_c = test_conv_gateway_pid(name_c);
    assert_true(gw_c > 0);
    assert_int_equal(kill(gw_c, SIGSTOP), 0);
    kill_group(&b_group);
    int ms = wait_for(sys_a, watch_a, name_b, 'U');
    print_message("B seen unreachable %d ms after its SIGKILL (down_after_ms %u)\n", ms,
                  DOWN_AFTER_MS);
    wait_for(sys_a, watch_a, name_c, 'U');

    /* The name is free again once A's purge has run: claimed here. */
    ens_addr fresh = ENS_ADDR_NONE;
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        int rc = ens_name_spawn(ens_system_ctx(sys_a), "lost.svc", &echo_def, NULL, NULL, &fresh);
        assert_true(rc == 0 || rc == 1);
        if (rc == 0)
            break;
        assert_true(ens_addr_equal(fresh, old)); /* B's, until removed */
        assert_false(test_deadline_passed(d));
        ens_system_run(sys_a, 20);
    }
    assert_false(ens_addr_equal(fresh, old));
    assert_int_equal(fresh.node, watch_a.node); /* on A */

    /* C runs again: it judges B unreachable and purges late. */
    assert_int_equal(kill(gw_c, SIGCONT), 0);
    char line[96];
    snprintf(line, sizeof(line), "names of unreachable node %u:", (unsigned)old.node);
    d = test_deadline_in(TEST_WAIT_MS);
    while (!file_has(log_c, line)) {
        assert_false(test_deadline_passed(d));
        ens_system_run(sys_a, 20); /* a log file offers nothing to wait on */
    }
    assert_true(file_has(log_c, "is unreachable"));
    wait_for(sys_a, watch_a, name_c, 'J'); /* rejoined */
    assert_true(count(told(sys_a, watch_a), 'J', name_c) >= 2);

    /* The bucket still names A's actor. */
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    kvEntry *e = NULL;
    char bucket[64], want[ENS_ADDR_STRLEN];
    snprintf(bucket, sizeof(bucket), "ens-%s-names", conv_name);
    ens_addr_format(fresh, want, sizeof(want));
    assert_int_equal(natsConnection_ConnectTo(&nc, server.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    assert_int_equal(kvStore_Get(&e, kv, "lost.svc"), NATS_OK);
    assert_int_equal(kvEntry_ValueLen(e), (int)strlen(want));
    assert_memory_equal(kvEntry_Value(e), want, strlen(want));
    kvEntry_Destroy(e);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    test_expect_echo(ens_system_ctx(sys_c), fresh, "from C", TEST_WAIT_MS);

    /* C stops in order: A sees it left, by its leaving heartbeat. */
    assert_int_equal(ens_system_stop(sys_c, 5000), 0);
    sys_c = NULL;
    ms = wait_for(sys_a, watch_a, name_c, 'L');
    print_message("C seen left %d ms after its stop returned\n", ms);
}

/* ---- group: a cluster of three servers ------------------------------ */

static int cluster_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    snprintf(conv_name, sizeof(conv_name), "f%d", (int)getpid());
    snprintf(name_a, sizeof(name_a), "det-%d-x", (int)getpid());
    snprintf(name_b, sizeof(name_b), "det-%d-y", (int)getpid());
    return test_nats_start_cluster(cluster, CLUSTER, TEST_WAIT_MS) == 0 ? 0 : -1;
}

static int cluster_teardown(void **state)
{
    (void)state;
    if (sys_x != NULL)
        ens_system_stop(sys_x, 5000);
    if (sys_y != NULL)
        ens_system_stop(sys_y, 5000);
    sys_x = sys_y = NULL;
    for (size_t i = 0; i < CLUSTER; i++)
        test_nats_stop(&cluster[i]);
    return 0;
}

/* X connected to server 1, Y to server 2; server 1 is killed: X's gateway
 * reconnects to another within down_after_ms, Y never judges X down, and
 * messages cross both ways after. */
static void test_server_dies_cluster_lives(void **state)
{
    (void)state;
    NEED(cluster[0]);
    char urls_x[512];
    snprintf(urls_x, sizeof(urls_x), "%s", test_nats_cluster_urls(cluster, CLUSTER, 0));
    ens_system_opts ox = member_opts(name_a, urls_x, NULL);
    ox.convention.down_after_ms = 1000; /* a reconnect takes a few ms on loopback */
    ens_system_opts oy = member_opts(name_b, test_nats_cluster_urls(cluster, CLUSTER, 1), NULL);
    oy.convention.down_after_ms = 1000;
    assert_int_equal(ens_system_start(&ox, &sys_x), 0);
    assert_int_equal(ens_system_start(&oy, &sys_y), 0);
    ens_addr watch_x, watch_y, echo_x, echo_y;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_x), &watcher_def, NULL, NULL, &watch_x), 0);
    assert_int_equal(ens_spawn(ens_system_ctx(sys_y), &watcher_def, NULL, NULL, &watch_y), 0);
    assert_int_equal(ens_spawn(ens_system_ctx(sys_x), &echo_def, NULL, NULL, &echo_x), 0);
    assert_int_equal(ens_spawn(ens_system_ctx(sys_y), &echo_def, NULL, NULL, &echo_y), 0);
    /* JetStream elects its leaders first: the members find each other then. */
    wait_for(sys_x, watch_x, name_b, 'J');
    wait_for(sys_y, watch_y, name_a, 'J');
    test_expect_echo(ens_system_ctx(sys_x), echo_y, "before", TEST_WAIT_MS);

    test_nats_stop(&cluster[0]);
    /* Sent while X's gateway reconnects: buffered by libnats, then sent. */
    test_expect_echo(ens_system_ctx(sys_x), echo_y, "x during", TEST_WAIT_MS);
    test_expect_echo(ens_system_ctx(sys_y), echo_x, "y during", TEST_WAIT_MS);
    /* Watched for twice down_after_ms more: a bounded observation. */
    test_deadline d = test_deadline_in(2000);
    while (!test_deadline_passed(d))
        ens_system_run(sys_y, 50);
    const char *log = told(sys_y, watch_y);
    print_message("Y was told: %s\n", log);
    assert_int_equal(count(log, 'U', name_a) + count(log, 'L', name_a), 0);
    log = told(sys_x, watch_x);
    print_message("X was told: %s\n", log);
    assert_int_equal(count(log, 'U', name_b) + count(log, 'L', name_b), 0);
    test_expect_echo(ens_system_ctx(sys_x), echo_y, "x after", TEST_WAIT_MS);
    test_expect_echo(ens_system_ctx(sys_y), echo_x, "y after", TEST_WAIT_MS);
}

/* ---- group: the server gone, the reconnect buffer fills ------------- */

#define BIG_BYTES (600u * 1024u) /* a frame under NATS's 1 MiB max_payload */
#define BIG_SENDS 24             /* 14.4 MiB: more than the 8 MiB reconnect buffer */

static int buffer_full; /* dead letters about the full reconnect buffer */
static int dead_other;  /* other dead letters */
static char last_dead[256];

static void on_event(const ens_event *ev, void *arg)
{
    (void)arg;
    if (ev->kind != ENS_EV_DEAD_LETTER)
        return;
    if (strstr(ev->reason, "reconnect buffer is full") != NULL)
        buffer_full++;
    else
        dead_other++;
    snprintf(last_dead, sizeof(last_dead), "%s", ev->reason);
}

static int buffer_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    snprintf(conv_name, sizeof(conv_name), "r%d", (int)getpid());
    snprintf(name_a, sizeof(name_a), "det-%d-r", (int)getpid());
    snprintf(name_b, sizeof(name_b), "det-%d-s", (int)getpid());
    return test_nats_start(&server, TEST_WAIT_MS);
}

static int buffer_teardown(void **state)
{
    (void)state;
    if (sys_x != NULL)
        ens_system_stop(sys_x, 5000);
    if (sys_y != NULL)
        ens_system_stop(sys_y, 5000);
    sys_x = sys_y = NULL;
    test_nats_stop(&server);
    return 0;
}

/* With its server gone, X's gateway keeps what it publishes in libnats's
 * reconnect buffer; past its bound every frame is a dead letter that says
 * so (none is dropped without a word). */
static void test_a_full_reconnect_buffer_makes_dead_letters(void **state)
{
    (void)state;
    NEED(server);
    ens_system_opts ox = member_opts(name_a, server.url, NULL);
    ox.convention.down_after_ms = 0; /* 2000: the sends below take far less */
    ox.on_event = on_event;
    ens_system_opts oy = member_opts(name_b, server.url, NULL);
    assert_int_equal(ens_system_start(&ox, &sys_x), 0);
    assert_int_equal(ens_system_start(&oy, &sys_y), 0);
    ens_addr echo_y;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_y), &echo_def, NULL, NULL, &echo_y), 0);
    test_expect_echo(ens_system_ctx(sys_x), echo_y, "known", TEST_WAIT_MS); /* Y's node known */

    test_nats_stop(&server);
    char *big = malloc(BIG_BYTES + 1);
    assert_non_null(big);
    memset(big, 'x', BIG_BYTES);
    big[BIG_BYTES] = '\0';
    for (int i = 0; i < BIG_SENDS; i++)
        assert_int_equal(
            ens_send(ens_system_ctx(sys_x), echo_y, &ens_msg_string, &(ens_string_v){big}), 0);
    free(big);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (buffer_full == 0) {
        if (test_deadline_passed(d))
            fail_msg("no dead letter about the full buffer; %d others, the last: %s", dead_other,
                     last_dead);
        ens_system_run(sys_x, 20);
    }
    print_message("%d of %d frames of %u KiB were dead letters: %s\n", buffer_full, BIG_SENDS,
                  BIG_BYTES / 1024, last_dead);
    assert_true(buffer_full < BIG_SENDS); /* the buffer took some */
}

int main(void)
{
    const struct CMUnitTest one_server[] = {
        cmocka_unit_test(test_busy_host_makes_no_false_down),
        cmocka_unit_test(test_lost_member_names_and_rejoin),
    };
    const struct CMUnitTest three_servers[] = {
        cmocka_unit_test(test_server_dies_cluster_lives),
    };
    int failed = cmocka_run_group_tests_name("detect", one_server, group_setup, group_teardown);
    failed +=
        cmocka_run_group_tests_name("failover", three_servers, cluster_setup, cluster_teardown);
    const struct CMUnitTest no_server[] = {
        cmocka_unit_test(test_a_full_reconnect_buffer_makes_dead_letters),
    };
    failed += cmocka_run_group_tests_name("buffer", no_server, buffer_setup, buffer_teardown);
    return failed;
}

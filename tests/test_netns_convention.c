/*
 * tests/test_netns_convention.c - a convention on three hosts
 * (tests/support/netns.h): three nats-servers clustered by routes and
 * three systems A, B, C, each with its own server first in its URL list.
 * Run without arguments, the hosts are network namespaces joined by a
 * bridge (root only: otherwise it says why and exits 77, ctest's skip);
 * with the argument "loopback", the same scenarios on 127.0.0.1 (any
 * user). A has no capabilities, B "gpu=1 role=main", C "gpu=1".
 * Scenarios, in order (each leaves the cluster as the next needs it):
 *  - placement across hosts: a Gpu actor (needs gpu and role=main)
 *    spawned from A runs on B, in B's network namespace;
 *  - `ens members` given the list of the three servers lists all three;
 *  - B's link cut without a word (namespaces: its veth down on the bridge
 *    side; loopback: its gateway stopped): A and C see B unreachable, B
 *    sees A and C unreachable (namespaces only: a stopped gateway sees
 *    nothing); healed, each sees the others joined again;
 *  - a partition (namespaces only): B's side has 1 of 3 servers, so its
 *    registrations are refused (ENS_EUNREACHABLE) while A and C register;
 *    A and C purge B's names and agree on every holder; healed, B claims
 *    its free names again and drops one A took; B restarted, its old node
 *    id gets nothing;
 *  - B's nats-server killed while B's system lives: B's gateway goes on
 *    through another server and nobody marks B down;
 *  - a supervisor on A whose child (needs gpu) runs on B comes back on C
 *    after B's admin is SIGKILLed (skipped, saying why, while a
 *    supervisor's children are not placed across hosts).
 * ENS_TEST_FILTER=<cmocka pattern> runs some scenarios only (each begins
 * by waiting for the three members); ENS_TEST_NETNS_LOG_DIR=<dir> keeps
 * each system's debug log there (tests/support/netns.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "ensemble/ensemble.h"
#include "support/deadline.h"
#include "support/netns.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define A 0
#define B 1
#define C 2

/* The default: unreachable after 3 of them without a record, about 3.5 s.
 * Shorter ones are falsely down when a server dies: a heartbeat in flight
 * then waits up to 2 s for its JetStream ack (gateway_members.c). */
#define HEARTBEAT_MS ENS_CONVENTION_HEARTBEAT_MS

static test_cluster cluster;
static bool cluster_up;
static bool b_cut; /* B's link is cut: healed after the test, even a failed one */
static bool in_namespaces;

/* ---- the actors ------------------------------------------------------------ */

/* The network namespace of the calling process, as an inode number. */
static unsigned long long netns_id(void)
{
    struct stat st = {0};
    stat("/proc/self/ns/net", &st);
    return (unsigned long long)st.st_ino;
}

/* Gpu and Worker answer any string with "node=N netns=I". */
static int where_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (ens_msg_value(m, &ens_msg_string) == NULL || !ens_msg_is_request(m))
        return 0;
    char text[96];
    snprintf(text, sizeof(text), "node=%" PRIu32 " netns=%llu", ens_self(c).node, netns_id());
    return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
}

static const char *const gpu_main[] = {"gpu", "role=main", NULL};
static const ens_actor_def gpu_def = {
    .name = "nsc.Gpu", .receive = where_receive, .requirements = gpu_main};

/* A named actor: answers where it runs, as Gpu, but runs anywhere. */
static const ens_actor_def named_def = {.name = "nsc.Named", .receive = where_receive};

/* The Worker's start argument is the address of a recorder (text): its
 * init tells it "started:<node>". */
static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(arg, &ens_msg_string);
    ens_addr rec;
    if (s != NULL && ens_addr_parse(s->text, &rec) == 0) {
        char text[48];
        snprintf(text, sizeof(text), "started:%" PRIu32, ens_self(c).node);
        ens_send(c, rec, &ens_msg_string, &(ens_string_v){text});
    }
    return 0;
}

static const char *const gpu_any[] = {"gpu", NULL};
static const ens_actor_def worker_def = {
    .name = "nsc.Worker", .init = worker_init, .receive = where_receive, .requirements = gpu_any};

/* The recorder keeps what it is told and, subscribed to the convention,
 * "J<system> " / "L..." / "U..." per update; asked anything, it answers
 * all of it. */
typedef struct text_log {
    char text[4096];
} text_log;

static void log_add(text_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_add(text_log *l, const char *fmt, ...)
{
    size_t len = strlen(l->text);
    if (len + 128 > sizeof(l->text)) /* keep the newest */
        memmove(l->text, l->text + len / 2, len - len / 2 + 1), len = strlen(l->text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text + len, sizeof(l->text) - len, fmt, ap);
    va_end(ap);
}

static int recorder_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    return ens_convention_subscribe(c, true);
}

static int recorder_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    text_log *l = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        char letter = u->change == ENS_MEMBER_JOINED        ? 'J'
                      : u->change == ENS_MEMBER_LEFT        ? 'L'
                      : u->change == ENS_MEMBER_UNREACHABLE ? 'U'
                                                            : '!';
        log_add(l, "%c%s ", letter, u->system);
        return 0;
    }
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (ens_msg_is_request(m))
        return ens_reply(c, &ens_msg_string, &(ens_string_v){l->text});
    log_add(l, "%s ", s->text);
    return 0;
}

static const ens_actor_def recorder_def = {.name = "nsc.Recorder",
                                           .state_size = sizeof(text_log),
                                           .init = recorder_init,
                                           .receive = recorder_receive};

/* ---- what each host does when the test asks -------------------------------- */

static int ask_text(ens_system *sys, const char *to, char *reply, size_t len)
{
    ens_addr a;
    int rc = ens_addr_parse(to, &a);
    if (rc < 0)
        return rc;
    ens_msg *r = NULL;
    rc = ens_ask(ens_system_ctx(sys), a, &ens_msg_string, &(ens_string_v){"?"}, 10000, &r);
    if (rc < 0)
        return rc;
    const ens_string_v *s = ens_msg_value(r, &ens_msg_string);
    snprintf(reply, len, "%s", s != NULL ? s->text : "(not a string)");
    ens_msg_free(r);
    return 0;
}

/* "spawn-gpu", "recorder": spawn one, answer its address; "ask ADDR": its
 * answer; "sup RECORDER": a supervisor with one Worker, answers "ok" or
 * "refused <code> <why>". */
static int serve(ens_system *sys, int host, const char *cmd, char *reply, size_t len)
{
    ens_ctx *ctx = ens_system_ctx(sys);
    ens_addr a = ENS_ADDR_NONE;
    int rc;
    if (strcmp(cmd, "spawn-gpu") == 0 || strcmp(cmd, "recorder") == 0) {
        rc = ens_spawn(ctx, cmd[0] == 's' ? &gpu_def : &recorder_def, NULL, NULL, &a);
        if (rc < 0) {
            snprintf(reply, len, "refused %d %s", rc, ens_errmsg());
            return 0;
        }
        ens_addr_format(a, reply, len);
        return 0;
    }
    if (strncmp(cmd, "ask ", 4) == 0)
        return ask_text(sys, cmd + 4, reply, len);
    if (strncmp(cmd, "name-spawn ", 11) == 0) {
        /* "name-spawn NAME": the address ens_name_spawn gives (its own
         * actor, or the holder), or "refused <code>". */
        rc = ens_name_spawn(ctx, cmd + 11, &named_def, NULL, NULL, &a);
        if (rc < 0) {
            snprintf(reply, len, "refused %d", rc);
            return 0;
        }
        ens_addr_format(a, reply, len);
        return 0;
    }
    if (strncmp(cmd, "lookup ", 7) == 0) {
        /* "lookup NAME": the holder's address, or "none <code>". */
        rc = ens_name_lookup(ctx, cmd + 7, &a);
        if (rc < 0) {
            snprintf(reply, len, "none %d", rc);
            return 0;
        }
        ens_addr_format(a, reply, len);
        return 0;
    }
    if (strncmp(cmd, "ask-rc ", 7) == 0) {
        /* "ask-rc ADDR": "rc=N" of an ask (0: answered). */
        rc = ask_text(sys, cmd + 7, reply, len);
        snprintf(reply, len, "rc=%d", rc);
        return 0;
    }
    if (strncmp(cmd, "sup ", 4) == 0) {
        ens_child_spec spec = ENS_CHILD_SPEC_INIT;
        spec.id = "worker";
        spec.def = &worker_def;
        spec.arg_type = &ens_msg_string;
        spec.arg = &(ens_string_v){(char *)cmd + 4};
        ens_sup_flags f = {ENS_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
        rc = ens_supervisor_spawn(ctx, &f, &spec, 1, &a);
        if (rc < 0) {
            snprintf(reply, len, "refused %d %s", rc, ens_errmsg());
            return 0;
        }
        ens_addr_format(a, reply, len);
        return 0;
    }
    if (strcmp(cmd, "members") == 0) {
        /* The output of `ens members` given the URL list of all three
         * servers, as run on this host. */
        int po[2];
        if (pipe(po) != 0)
            return ENS_EIO;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(po[1], 1);
            dup2(po[1], 2);
            execl(ENS_TOOL_PATH, ENS_TOOL_PATH, "members", "--nats", cluster.h[host].servers,
                  "--convention", cluster.conv, (char *)NULL);
            _exit(127);
        }
        close(po[1]);
        size_t got = 0;
        for (ssize_t k; got + 1 < len && (k = read(po[0], reply + got, len - 1 - got)) != 0;)
            if (k > 0)
                got += (size_t)k;
            else if (errno != EINTR)
                break;
        reply[got] = '\0';
        close(po[0]);
        int status = 0;
        while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        size_t used = strlen(reply);
        snprintf(reply + used, len - used, " exit=%d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    if (strncmp(cmd, "lead ", 5) == 0) {
        /* "lead J STREAM": make server J (0-2) the leader of that JetStream
         * stream, asking the leader to step down until J is chosen, for at
         * most half the caller's wait (elections are slow on a busy
         * machine); answers "server=L", the leader at the end (-1:
         * unknown). */
        int want = cmd[5] - '0';
        const char *stream = cmd + 7;
        natsConnection *nc = NULL;
        jsCtx *js = NULL;
        int j = -1;
        if (natsConnection_ConnectTo(&nc, cluster.h[host].servers) == NATS_OK &&
            natsConnection_JetStream(&js, nc, NULL) == NATS_OK) {
            test_deadline d = test_deadline_in(TEST_WAIT_MS / 2);
            int asked_of = -1;
            while (!test_deadline_passed(d)) {
                jsStreamInfo *si = NULL;
                j = -1;
                if (js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK &&
                    si->Cluster != NULL && si->Cluster->Leader != NULL &&
                    si->Cluster->Leader[0] != '\0' && si->Cluster->Leader[1] == '\0')
                    j = si->Cluster->Leader[0] - 'a';
                jsStreamInfo_Destroy(si);
                if (j == want)
                    break;
                if (j >= 0 && j != asked_of) { /* a leader not yet asked: step down */
                    char subject[160];
                    natsMsg *r = NULL;
                    snprintf(subject, sizeof(subject), "$JS.API.STREAM.LEADER.STEPDOWN.%s", stream);
                    if (natsConnection_RequestString(&r, nc, subject, "", 5000) == NATS_OK)
                        asked_of = j;
                    natsMsg_Destroy(r);
                }
                test_nap_ms(100); /* an election offers nothing to wait on */
            }
        }
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        snprintf(reply, len, "server=%d", j);
        return 0;
    }
    if (strncmp(cmd, "children ", 9) == 0) {
        /* "child=ADDR status=S" of the supervisor's only child. */
        if ((rc = ens_addr_parse(cmd + 9, &a)) < 0)
            return rc;
        ens_msg *r = NULL;
        if ((rc = ens_supervisor_which_children_wait(ctx, a, &r)) < 0)
            return rc;
        const ens_sup_children_v *ch = ens_msg_value(r, &ens_msg_sup_children);
        char child[ENS_ADDR_STRLEN] = "none";
        int status = -1;
        if (ch != NULL && ch->children.count == 1) {
            const ens_sup_child_info *info = ch->children.items;
            ens_addr_format(info->child, child, sizeof(child));
            status = info->status;
        }
        snprintf(reply, len, "child=%s status=%d", child, status);
        ens_msg_free(r);
        return 0;
    }
    return ENS_EINVAL;
}

/* ---- the test's side ------------------------------------------------------------ */

static char answer[8192];

/* Ask host i; fail the test if it does not answer. */
static const char *call(int i, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *call(int i, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (test_cluster_call(&cluster, i, cmd, answer, sizeof(answer), TEST_WAIT_MS) != 0)
        fail_msg("%s", answer);
    return answer;
}

static long long pid_field(int i, const char *key)
{
    return test_cluster_field(call(i, "pids"), key);
}

/* The last change the log tells about system `name` ('J', 'L', 'U'), or 0. */
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

/* Wait until the recorder rec on host i was last told `want` about each
 * of hosts who[0..n). */
static void wait_told(int i, const char *rec, char want, const int *who, int n)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        const char *log = call(i, "ask %s", rec);
        int ok = 0;
        for (int k = 0; k < n; k++)
            ok += last_change(log, cluster.h[who[k]].system) == want;
        if (ok == n)
            return;
        if (test_deadline_passed(d))
            fail_msg("host %d waited for %c of %d hosts; told: %s", i, want, n, log);
        test_nap_ms(100); /* the recorder's log offers nothing to wait on */
    }
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int cluster_setup(void **state)
{
    (void)state;
    static const char *const caps[TEST_CLUSTER_HOSTS] = {NULL, "gpu=1\nrole=main", "gpu=1"};
    if (test_cluster_start(&cluster, in_namespaces, caps, HEARTBEAT_MS, serve, NULL,
                           TEST_WAIT_MS) != 0)
        return -1;
    cluster_up = true;
    return 0;
}

static int cluster_teardown(void **state)
{
    (void)state;
    test_cluster_stop(&cluster);
    cluster_up = false;
    return 0;
}

static int heal_b(void **state)
{
    (void)state;
    if (b_cut && test_cluster_cut(&cluster, B, false) == 0)
        b_cut = false;
    return 0;
}

/* ---- the scenarios ------------------------------------------------------------ */

static void test_placement_across_hosts(void **state)
{
    (void)state;
    char gpu[64];
    snprintf(gpu, sizeof(gpu), "%s", call(A, "spawn-gpu"));
    assert_null(strstr(gpu, "refused"));
    char where[256];
    snprintf(where, sizeof(where), "%s", call(A, "ask %s", gpu));
    long long node = test_cluster_field(where, "node");
    unsigned long long ns = (unsigned long long)test_cluster_field(where, "netns");
    assert_int_equal(node, pid_field(B, "node"));
    assert_true(ns == (unsigned long long)pid_field(B, "netns"));
    if (in_namespaces)
        assert_true(ns != (unsigned long long)pid_field(A, "netns"));
    print_message("a Gpu spawned from A runs on B: %s (%s)\n", gpu, where);
}

/* `ens members --nats URL,URL,URL` (each host's list, its own server
 * first) lists the three systems live. */
static void test_members_through_the_url_list(void **state)
{
    (void)state;
    const char *out = call(C, "members");
    assert_non_null(strstr(out, "exit=0"));
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        if (strstr(out, cluster.h[i].system) == NULL)
            fail_msg("ens members does not list %s: %s", cluster.h[i].system, out);
    assert_null(strstr(out, "unreachable"));
}

static void test_link_cut_both_sides_see_unreachable_then_rejoin(void **state)
{
    (void)state;
    char rec[TEST_CLUSTER_HOSTS][64];
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        snprintf(rec[i], sizeof(rec[i]), "%s", call(i, "recorder"));
    const int b[] = {B}, ac[] = {A, C};
    wait_told(A, rec[A], 'J', b, 1);
    wait_told(C, rec[C], 'J', b, 1);
    wait_told(B, rec[B], 'J', ac, 2);

    int64_t t0 = now_ms();
    assert_int_equal(test_cluster_cut(&cluster, B, true), 0);
    b_cut = true;
    wait_told(A, rec[A], 'U', b, 1);
    wait_told(C, rec[C], 'U', b, 1);
    print_message("B cut: A and C saw it unreachable within %lld ms\n", (long long)(now_ms() - t0));
    if (in_namespaces) {
        /* Silent both ways: no refusal, no unreachable, nothing. */
        assert_string_equal(call(A, "probe %d", B), "silent");
        assert_string_equal(call(B, "probe %d", A), "silent");
        assert_string_equal(call(A, "probe %d", C), "connected");
        /* B lives on alone: its gateway hears nobody either. */
        wait_told(B, rec[B], 'U', ac, 2);
        print_message("B saw A and C unreachable within %lld ms\n", (long long)(now_ms() - t0));
    }
    /* A and C still see each other. */
    const int a[] = {A}, c[] = {C};
    if (last_change(call(A, "ask %s", rec[A]), cluster.h[C].system) != 'J')
        fail_msg("A does not see C joined while B is cut: %s", answer);
    if (last_change(call(C, "ask %s", rec[C]), cluster.h[A].system) != 'J')
        fail_msg("C does not see A joined while B is cut: %s", answer);

    t0 = now_ms();
    assert_int_equal(test_cluster_cut(&cluster, B, false), 0);
    b_cut = false;
    wait_told(A, rec[A], 'J', b, 1);
    wait_told(C, rec[C], 'J', b, 1);
    wait_told(B, rec[B], 'J', ac, 2);
    print_message("healed: B rejoined within %lld ms\n", (long long)(now_ms() - t0));
    (void)a, (void)c;
}

/* Wait until host i's lookup of name answers want ("none -1002" for none).
 * A purge or a claim waits for the names bucket, whose copies elect a new
 * leader after a cut or a heal, and a restarted server is healthy only once
 * its streams caught up: on two busy cores, with three servers in
 * namespaces, each was seen to take longer than TEST_WAIT_MS. */
#define NAMES_WAIT_MS 120000
static void wait_lookup(int i, const char *name, const char *want)
{
    test_deadline d = test_deadline_in(NAMES_WAIT_MS);
    while (strcmp(call(i, "lookup %s", name), want) != 0) {
        if (test_deadline_passed(d))
            fail_msg("host %d: lookup %s answers %s, not %s", i, name, answer, want);
        test_nap_ms(100); /* the name cache follows the bucket: nothing to wait on */
    }
}

/* Host i's ens_name_spawn of name, tried again while the convention is
 * unreachable (the buckets elect leaders again after a heal), until the
 * deadline; its answer. */
static const char *name_spawn_settled(int i, const char *name)
{
    char unreachable[32];
    snprintf(unreachable, sizeof(unreachable), "refused %d", ENS_EUNREACHABLE);
    test_deadline d = test_deadline_in(NAMES_WAIT_MS);
    while (strcmp(call(i, "name-spawn %s", name), unreachable) == 0 && !test_deadline_passed(d))
        test_nap_ms(200); /* an election offers nothing to wait on */
    return answer;
}

/* A partition: B's side holds 1 of the 3 servers, so the buckets (three
 * copies) have no quorum there. B's registrations are refused with
 * ENS_EUNREACHABLE, A and C register normally; A and C purge B's names
 * (issue 17's rule for a lost node) and agree on every holder; healed, B
 * claims its purged names again, gives up one that A took meanwhile, and
 * an old node id (B restarted) gets nothing delivered. */
static void test_partition_names_one_owner(void **state)
{
    (void)state;
    if (!in_namespaces) {
        /* A stopped gateway is not a partition: B's server keeps its
         * routes, the buckets keep their quorum on every side, and a
         * registration on B waits for the stopped gateway instead of
         * being refused. Only namespaces can cut a server off. */
        print_message(
            "a partition needs namespaces: a stopped gateway keeps its server's quorum\n");
        skip();
    }
    char rec[TEST_CLUSTER_HOSTS][64], kept[64], taken_b[64], taken_a[64], none[32];
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        snprintf(rec[i], sizeof(rec[i]), "%s", call(i, "recorder"));
    const int b[] = {B}, ac[] = {A, C};
    wait_told(A, rec[A], 'J', b, 1);
    wait_told(C, rec[C], 'J', b, 1);
    wait_told(B, rec[B], 'J', ac, 2);
    snprintf(none, sizeof(none), "none %d", ENS_ENOENT);
    snprintf(kept, sizeof(kept), "%s", name_spawn_settled(B, "part.kept"));
    snprintf(taken_b, sizeof(taken_b), "%s", name_spawn_settled(B, "part.taken"));
    assert_null(strstr(kept, "refused"));
    assert_null(strstr(taken_b, "refused"));
    wait_lookup(A, "part.kept", kept);
    wait_lookup(C, "part.taken", taken_b);

    int64_t t0 = now_ms();
    assert_int_equal(test_cluster_cut(&cluster, B, true), 0);
    b_cut = true;
    wait_told(A, rec[A], 'U', b, 1);
    wait_told(C, rec[C], 'U', b, 1);
    wait_told(B, rec[B], 'U', ac, 2);
    /* A and C purged B's names: both sides of the majority agree (none);
     * B still finds its own actor in its own table. */
    wait_lookup(A, "part.kept", none);
    wait_lookup(C, "part.kept", none);
    assert_string_equal(call(B, "lookup part.kept"), kept);
    print_message("B cut: A and C purged its names within %lld ms\n", (long long)(now_ms() - t0));

    /* B has 1 of 3 servers: a registration is refused, not made, not
     * left hanging past the ask's deadline. */
    int64_t t1 = now_ms();
    char want[32];
    snprintf(want, sizeof(want), "refused %d", ENS_EUNREACHABLE);
    assert_string_equal(call(B, "name-spawn part.new"), want);
    print_message("a registration on B (no quorum) refused ENS_EUNREACHABLE in %lld ms\n",
                  (long long)(now_ms() - t1));
    /* A and C (2 of 3) register normally, even a name B still holds
     * locally: the bucket, not B's table, decides. */
    snprintf(taken_a, sizeof(taken_a), "%s", name_spawn_settled(A, "part.taken"));
    if (strstr(taken_a, "refused") != NULL)
        fail_msg("A could not register part.taken while B is cut: %s", taken_a);
    assert_string_not_equal(taken_a, taken_b);
    wait_lookup(C, "part.taken", taken_a);
    char fresh[64];
    snprintf(fresh, sizeof(fresh), "%s", name_spawn_settled(C, "part.fresh"));
    assert_null(strstr(fresh, "refused"));
    wait_lookup(A, "part.fresh", fresh);

    t0 = now_ms();
    assert_int_equal(test_cluster_cut(&cluster, B, false), 0);
    b_cut = false;
    wait_told(A, rec[A], 'J', b, 1);
    wait_told(C, rec[C], 'J', b, 1);
    wait_told(B, rec[B], 'J', ac, 2);
    /* B claimed part.kept again (nobody took it) and gave part.taken up
     * (A holds it): one owner for each name, the same seen from all. */
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++) {
        wait_lookup(i, "part.kept", kept);
        wait_lookup(i, "part.taken", taken_a);
        wait_lookup(i, "part.fresh", fresh);
    }
    print_message("healed: B re-claimed its free name and gave up the taken one within %lld ms\n",
                  (long long)(now_ms() - t0));
    /* B's actor that lost its name still runs. */
    assert_int_equal(test_cluster_field(call(A, "ask %s", taken_b), "node"), pid_field(B, "node"));

    /* B starts again with a fresh node id: what is sent to the old one is
     * a dead letter at once (or its ask ends unreachable), never delivered
     * and never a timeout. */
    long long old_node = pid_field(B, "node");
    test_cluster_kill_host(&cluster, B);
    wait_told(A, rec[A], 'U', b, 1);
    assert_int_equal(test_cluster_start_host(&cluster, B, NAMES_WAIT_MS), 0);
    assert_true(pid_field(B, "node") != old_node);
    wait_told(A, rec[A], 'J', b, 1);
    long long rc = test_cluster_field(call(A, "ask-rc %s", kept), "rc");
    if (rc != ENS_ENOACTOR && rc != ENS_EUNREACHABLE)
        fail_msg("an ask of an actor of B's old node %lld answered %lld", old_node, rc);
}

static void test_server_killed_gateway_goes_on_without_false_down(void **state)
{
    (void)state;
    char rec_a[64], rec_c[64], gpu[64];
    snprintf(rec_a, sizeof(rec_a), "%s", call(A, "recorder"));
    snprintf(rec_c, sizeof(rec_c), "%s", call(C, "recorder"));
    const int b[] = {B};
    wait_told(A, rec_a, 'J', b, 1);
    wait_told(C, rec_c, 'J', b, 1);
    snprintf(gpu, sizeof(gpu), "%s", call(A, "spawn-gpu"));
    assert_null(strstr(gpu, "refused"));
    size_t told_a = strlen(call(A, "ask %s", rec_a));
    size_t told_c = strlen(call(C, "ask %s", rec_c));

    /* The server B's gateway is on: its own, first in its list, unless
     * the client's shuffle of the list chose another. */
    long long on = test_cluster_field(call(B, "server-of"), "server");
    assert_true(on >= 0 && on < TEST_CLUSTER_HOSTS);
    char members_stream[96];
    snprintf(members_stream, sizeof(members_stream), "KV_ens-%s-members", cluster.conv);
    /* The hardest case: that server also leads the members bucket (tried;
     * liveness does not go through the bucket, so any leader must do). */
    long long leader = test_cluster_field(call(A, "lead %lld %s", on, members_stream), "server");
    int64_t t0 = now_ms();
    test_cluster_kill_server(&cluster, (int)on);
    /* B's gateway is on another server, and B answers across the
     * convention again. Then, for 3 of its heartbeats and as much again,
     * nobody may be told it is unreachable. */
    long long node_b = pid_field(B, "node");
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        long long now_on = test_cluster_field(call(B, "server-of"), "server");
        const char *where = call(A, "ask %s", gpu);
        if (now_on >= 0 && now_on != on && test_cluster_field(where, "node") == node_b)
            break;
        if (test_deadline_passed(d))
            fail_msg("B's gateway is not on another server, or its Gpu did not answer: %s", where);
        test_nap_ms(100); /* a reconnection offers nothing to wait on */
    }
    print_message("server %c (B's gateway was on it; the members bucket's leader: %c) killed: B "
                  "on another server, answering again, after %lld ms\n",
                  "abc"[on], leader >= 0 ? "abc"[leader] : '?', (long long)(now_ms() - t0));
    test_deadline window = test_deadline_in(6 * HEARTBEAT_MS + 1000);
    while (!test_deadline_passed(window)) {
        const char *la = call(A, "ask %s", rec_a) + told_a;
        if (strchr(la, 'U') != NULL)
            fail_msg("A was told after server %c died (the members bucket's leader: %c): %s",
                     "abc"[on], leader >= 0 ? "abc"[leader] : '?', la);
        const char *lc = call(C, "ask %s", rec_c) + told_c;
        if (strchr(lc, 'U') != NULL)
            fail_msg("C was told after server %c died (the members bucket's leader: %c): %s",
                     "abc"[on], leader >= 0 ? "abc"[leader] : '?', lc);
        test_nap_ms(100); /* a window for a false down to show: nothing to wait on */
    }
}

/* The node of the supervisor sup's child (on A), or 0 while it has none. */
static uint32_t child_node(const char *sup)
{
    const char *r = call(A, "children %s", sup);
    const char *at = strstr(r, "child=");
    char text[128];
    ens_addr child = ENS_ADDR_NONE;
    if (at != NULL && sscanf(at, "child=%127s", text) == 1 && ens_addr_parse(text, &child) == 0 &&
        test_cluster_field(r, "status") == ENS_SUP_CHILD_RUNNING)
        return child.node;
    return 0;
}

static void test_supervisor_child_comes_back_on_another_host(void **state)
{
    (void)state;
    char rec[64], sup[64];
    snprintf(rec, sizeof(rec), "%s", call(A, "recorder"));
    snprintf(sup, sizeof(sup), "%s", call(A, "sup %s", rec));
    long long node_a = pid_field(A, "node"), node_b = pid_field(B, "node"),
              node_c = pid_field(C, "node");
    uint32_t first = strncmp(sup, "refused", 7) == 0 ? 0 : child_node(sup);
    if (first == 0 || first == node_a)
        fail_msg("the supervisor's child that needs a gpu was not placed on B or C: %s",
                 first == 0 ? sup : "it runs on A, which has none");
    int i = first == node_b ? B : C;
    assert_true(first == node_b || first == node_c);
    long long admin = pid_field(i, "admin");
    assert_true(admin > 0);
    int64_t t0 = now_ms();
    assert_int_equal(kill((pid_t)admin, SIGKILL), 0);
    uint32_t now = first;
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while ((now = child_node(sup)) == 0 || now == first) {
        if (test_deadline_passed(d))
            fail_msg("the child did not come back on another host after host %d's admin died: %s",
                     i, answer);
        test_nap_ms(50); /* which_children offers nothing to wait on */
    }
    assert_true(now == (uint32_t)(i == B ? node_c : node_b));
    print_message("the child came back on the other gpu host %lld ms after its admin was killed\n",
                  (long long)(now_ms() - t0));
}

int main(int argc, char **argv)
{
    bool loopback = argc > 1 && strcmp(argv[1], "loopback") == 0;
    if (!loopback) {
        char why[160];
        if (!test_cluster_netns_possible(why, sizeof(why))) {
            printf("hosts in network namespaces: skipped: %s\n", why);
            return TEST_SKIP_EXIT;
        }
        in_namespaces = true;
    }
    if (ens_actor_register(&gpu_def) < 0 || ens_actor_register(&worker_def) < 0 ||
        ens_actor_register(&recorder_def) < 0 || ens_actor_register(&named_def) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placement_across_hosts),
        cmocka_unit_test(test_members_through_the_url_list),
        cmocka_unit_test_teardown(test_link_cut_both_sides_see_unreachable_then_rejoin, heal_b),
        cmocka_unit_test_teardown(test_partition_names_one_owner, heal_b),
        cmocka_unit_test(test_server_killed_gateway_goes_on_without_false_down),
        cmocka_unit_test(test_supervisor_child_comes_back_on_another_host),
    };
    if (getenv("ENS_TEST_FILTER") != NULL) /* one scenario, e.g. test_partition_* */
        cmocka_set_test_filter(getenv("ENS_TEST_FILTER"));
    return cmocka_run_group_tests_name(loopback ? "hosts on loopback" : "hosts in namespaces",
                                       tests, cluster_setup, cluster_teardown);
}

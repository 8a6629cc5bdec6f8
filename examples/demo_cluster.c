/*
 * examples/demo_cluster.c - a convention on three hosts, and one of them
 * dying (`make demo-cluster`).
 *
 * Three nats-servers clustered by routes and three systems, lab-a, lab-b
 * and lab-c, each on its own host: network namespaces joined by a bridge
 * when run as root, else three "hosts" on 127.0.0.1 (the helper is the
 * tests', tests/support/netns.h). lab-b and lab-c have a gpu, lab-a has
 * none. From lab-a: a Trainer that needs a gpu is placed on a host that
 * has one, and a supervisor starts a Worker that needs a gpu. Then the
 * Trainer's host is killed (its whole process group, as a host that dies)
 * and the demo shows what lab-a sees: the member unreachable, the Trainer
 * gone, `ens members`, the supervisor's Worker placed again on the other
 * gpu host, then `ens status --convention` (each live member's actors)
 * and `ens journal --convention` (the rows of every host, merged, the
 * dead host named as not answering).
 *
 * Usage: demo_cluster ENS   (ENS: the built `ens` program)
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ensemble/ensemble.h>

#include "support/deadline.h"
#include "support/netns.h"

static const char *ens_tool;
static test_cluster cluster;
static char journals[] = "/tmp/ens-demo-cluster-XXXXXX";

/* ---- the actors ------------------------------------------------------ */

static int trainer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (ens_string_of(m) == NULL || !ens_msg_is_request(m))
        return 0;
    char text[64];
    snprintf(text, sizeof(text), "trained on node %" PRIu32, ens_self(c).node);
    return ens_string_reply(c, &(ens_string_v){text});
}

static const char *const needs_gpu[] = {"gpu", NULL};
static const ens_actor_def trainer_def = {
    .name = "lab.Trainer", .receive = trainer_receive, .requirements = needs_gpu};
static const ens_actor_def worker_def = {
    .name = "lab.Worker", .receive = trainer_receive, .requirements = needs_gpu};

/* Subscribed to the convention: "J<system> ", "L...", "U..." per update;
 * asked anything, answers all of it. */
typedef struct seen {
    char text[2048];
} seen;

static int watcher_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    return ens_convention_subscribe(c, true);
}

static int watcher_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    seen *s = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        size_t len = strlen(s->text);
        if (len + 80 < sizeof(s->text))
            snprintf(s->text + len, sizeof(s->text) - len, "%c%s ",
                     u->change == ENS_MEMBER_JOINED ? 'J'
                     : u->change == ENS_MEMBER_LEFT ? 'L'
                                                    : 'U',
                     u->system);
        return 0;
    }
    if (ens_msg_is_request(m))
        return ens_string_reply(c, &(ens_string_v){s->text});
    return 0;
}

static const ens_actor_def watcher_def = {.name = "lab.Watcher",
                                          .state_size = sizeof(seen),
                                          .init = watcher_init,
                                          .receive = watcher_receive};

/* ---- what a host does when asked (in the host's process) --------------- */

static int run_ens(const char *args)
{
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", args);
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)ens_tool;
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w != NULL && n < 23;
         w = strtok_r(NULL, " ", &save))
        argv[n++] = w;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execv(ens_tool, argv);
        _exit(127);
    }
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int serve(ens_system *sys, int host, const char *cmd, char *reply, size_t len)
{
    (void)host;
    ens_ctx *ctx = ens_system_ctx(sys);
    ens_addr a = ENS_ADDR_NONE;
    int rc = 0;
    if (strcmp(cmd, "trainer") == 0 || strcmp(cmd, "watcher") == 0) {
        rc = ens_spawn(ctx, cmd[0] == 't' ? &trainer_def : &watcher_def, NULL, NULL, &a);
    } else if (strcmp(cmd, "supervisor") == 0) {
        ens_child_spec spec = ENS_CHILD_SPEC_INIT;
        spec.id = "worker";
        spec.def = &worker_def;
        ens_sup_flags f = {ENS_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
        rc = ens_supervisor_spawn(ctx, &f, &spec, 1, &a);
    } else if (strncmp(cmd, "ask ", 4) == 0 || strncmp(cmd, "child ", 6) == 0) {
        const char *to = strchr(cmd, ' ') + 1;
        if ((rc = ens_addr_parse(to, &a)) < 0)
            return rc;
        ens_msg *r = NULL;
        if (cmd[0] == 'a') {
            rc = ens_string_ask(ctx, a, &(ens_string_v){"?"}, 5000, &r);
            const ens_string_v *s = rc == 0 ? ens_string_of(r) : NULL;
            snprintf(reply, len, "%s", s != NULL ? s->text : ens_strerror(rc));
        } else {
            rc = ens_supervisor_which_children_wait(ctx, a, &r);
            const ens_sup_children_v *ch = rc == 0 ? ens_msg_value(r, &ens_msg_sup_children) : NULL;
            if (ch != NULL && ch->children.count == 1) {
                const ens_sup_child_info *info = ch->children.items;
                char child[ENS_ADDR_STRLEN];
                ens_addr_format(info->child, child, sizeof(child));
                snprintf(reply, len, "%s status=%d restarts=%" PRIu32, child, info->status,
                         info->restarts);
            } else {
                snprintf(reply, len, "%s", ens_strerror(rc));
            }
        }
        ens_msg_free(r);
        return 0;
    } else if (strncmp(cmd, "ens ", 4) == 0) {
        snprintf(reply, len, "rc=%d", run_ens(cmd + 4));
        return 0;
    } else {
        return ENS_EINVAL;
    }
    if (rc < 0)
        snprintf(reply, len, "refused: %s %s", ens_strerror(rc), ens_errmsg());
    else
        ens_addr_format(a, reply, len);
    return 0;
}

/* ---- the demo ---------------------------------------------------------- */

static char answer[4096];

static const char *call(int i, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *call(int i, const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fflush(NULL);
    if (test_cluster_call(&cluster, i, cmd, answer, sizeof(answer), TEST_WAIT_MS) != 0)
        fprintf(stderr, "demo-cluster: %s\n", answer);
    return answer;
}

/* The host whose system has node `node`, or -1. */
static int host_of(uint32_t node)
{
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        if (cluster.h[i].host > 0 && test_cluster_field(call(i, "pids"), "node") == (long long)node)
            return i;
    return -1;
}

static uint32_t node_of(const char *addr_text)
{
    char text[128];
    ens_addr a = ENS_ADDR_NONE;
    if (sscanf(addr_text, "%127s", text) == 1 && ens_addr_parse(text, &a) == 0)
        return a.node;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int demo(void)
{
    char why[160];
    bool netns = test_cluster_netns_possible(why, sizeof(why));
    if (!netns)
        printf("(hosts on 127.0.0.1: %s)\n", why);
    static const char *const caps[TEST_CLUSTER_HOSTS] = {NULL, "gpu=1", "gpu=1"};
    if (test_cluster_start(&cluster, netns, caps, 0, serve, journals, TEST_WAIT_MS) != 0)
        return 1;
    printf("== three hosts%s, a NATS cluster of three servers, convention %s\n",
           netns ? " (network namespaces joined by a bridge)" : " on loopback", cluster.conv);
    for (int i = 0; i < TEST_CLUSTER_HOSTS; i++)
        printf("   %s: server %s:%d, node %lld, capabilities: %s\n", cluster.h[i].system,
               cluster.h[i].addr, cluster.h[i].port, test_cluster_field(call(i, "pids"), "node"),
               caps[i] != NULL ? caps[i] : "(none)");

    char watcher[64], trainer[64], sup[64];
    snprintf(watcher, sizeof(watcher), "%s", call(0, "watcher"));
    snprintf(trainer, sizeof(trainer), "%s", call(0, "trainer"));
    int gpu_host = host_of(node_of(trainer));
    if (gpu_host < 0) {
        fprintf(stderr, "demo-cluster: the Trainer was not placed: %s\n", trainer);
        return 1;
    }
    printf("\n== from %s: a Trainer (needs gpu) placed on %s: %s, \"%s\"\n", cluster.h[0].system,
           cluster.h[gpu_host].system, trainer, call(0, "ask %s", trainer));
    snprintf(sup, sizeof(sup), "%s", call(0, "supervisor"));
    char child[256];
    snprintf(child, sizeof(child), "%s", call(0, "child %s", sup));
    int worker_host = host_of(node_of(child));
    printf("== a supervisor on %s: %s; its Worker (needs gpu): %s, on %s\n", cluster.h[0].system,
           sup, child, worker_host >= 0 ? cluster.h[worker_host].system : "?");

    /* The host that dies runs the Worker, so its restart by placement
     * shows: the Worker's host if it has a gpu, else the Trainer's. */
    int doomed = worker_host > 0 ? worker_host : gpu_host;
    printf("\n== %s dies (its whole process group SIGKILLed)\n", cluster.h[doomed].system);
    fflush(NULL);
    int64_t t0 = now_ms();
    test_cluster_kill_host(&cluster, doomed);
    char unreachable[64];
    snprintf(unreachable, sizeof(unreachable), "U%s ", cluster.h[doomed].system);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (strstr(call(0, "ask %s", watcher), unreachable) == NULL && !test_deadline_passed(d))
        test_nap_ms(50); /* the watcher's log offers nothing to wait on */
    printf("   %s saw it unreachable after %lld ms (updates: %s)\n", cluster.h[0].system,
           (long long)(now_ms() - t0), answer);
    printf("   asking the Trainer now: %s\n", call(0, "ask %s", trainer));
    if (gpu_host != doomed)
        printf("   (it ran on %s, which lives)\n", cluster.h[gpu_host].system);

    printf("\n== ens members --convention %s\n", cluster.conv);
    call(0, "ens members --nats %s --convention %s", cluster.h[0].servers, cluster.conv);

    printf("\n== the supervisor's Worker, placed again by its supervisor's restart\n");
    int now_host = -1;
    d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        snprintf(child, sizeof(child), "%s", call(0, "child %s", sup));
        now_host = host_of(node_of(child));
        if ((now_host >= 0 && now_host != worker_host) || test_deadline_passed(d))
            break;
        test_nap_ms(100); /* which_children offers nothing to wait on */
    }
    printf("   was on %s, now %s: %s, %lld ms after the host died\n",
           worker_host >= 0 ? cluster.h[worker_host].system : "?",
           now_host >= 0 ? cluster.h[now_host].system : "(on no live host)", child,
           (long long)(now_ms() - t0));

    printf("\n== ens status --convention %s --nats ...\n", cluster.conv);
    fflush(NULL);
    call(0, "ens status --convention %s --nats %s --timeout 3000", cluster.conv,
         cluster.h[0].servers);
    printf("   (%s: exit status 1 because %s did not answer)\n",
           strcmp(answer, "rc=1") == 0 ? "as expected" : answer, cluster.h[doomed].system);

    printf("\n== ens journal --convention %s --nats ... --limit 25\n", cluster.conv);
    printf("   (rows of every host merged, newest first; the node column says whose)\n");
    fflush(NULL);
    call(0, "ens journal --convention %s --nats %s --timeout 3000 --limit 25", cluster.conv,
         cluster.h[0].servers);
    printf("   (%s: %s did not answer, its journal died with its host; the NODE column is the "
           "node whose journal holds the row, as listed at the top)\n",
           strcmp(answer, "rc=1") == 0 ? "exit status 1" : answer, cluster.h[doomed].system);
    return 0;
}

/* Interrupted (^C, a closed pipe): leave through exit, whose handlers
 * (tests/support/netns.c) stop the hosts, servers and namespaces. Not
 * async-signal-safe, and good enough for a demo that mostly waits. */
static void on_signal(int sig)
{
    exit(128 + sig); // NOLINT(bugprone-signal-handler): the cleanup above is the point
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, on_signal);
    if (argc < 2) {
        fprintf(stderr, "usage: demo_cluster ENS (the built ens program)\n");
        return 2;
    }
    ens_tool = argv[1];
    if (ens_actor_register(&trainer_def) < 0 || ens_actor_register(&worker_def) < 0 ||
        ens_actor_register(&watcher_def) < 0)
        return 1;
    if (mkdtemp(journals) == NULL) {
        perror("demo-cluster: a scratch directory");
        return 1;
    }
    int rc = demo();
    test_cluster_stop(&cluster);
    nftw(journals, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    printf("\n== everything stopped and removed\n");
    return rc;
}

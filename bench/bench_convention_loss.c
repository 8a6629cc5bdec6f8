/*
 * bench/bench_convention_loss.c - what the loss of a member costs, figures
 * of ens-bench's base "convention" (bench/bench_convention.c starts A and
 * B; this file starts C, with the capability "loss=1"):
 *  restart_across: a victim system with "loss=1" is started in a forked
 *    child (its own process group) and joins; a supervisor on A gets one
 *    permanent child that requires "loss", placed on the victim (placement
 *    takes the member with the fewest actors: the fresh victim has none, C
 *    holds two idle ones); the victim's whole group is SIGKILLed: ms from
 *    the kill until the supervisor's which_children (asked from A's outside
 *    every 10 ms) shows the child running at a new address, on C. Median
 *    and p99 (nearest rank) over n kills. Baseline: down_after_ms, below
 *    which nothing can be restarted (the loss is not known before).
 *  heal: C's gateway is SIGSTOPped until a Detector on A is told C is
 *    unreachable, then SIGCONTed: ms from the SIGCONT until the Detector
 *    is told C joined again (stamped by the Detector). Median and p99 over
 *    n. Baseline: heartbeat_ms (C's next heartbeat is what A hears).
 * All systems run the default heartbeat (500 ms) and down_after_ms (2000).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_convention_shared.h"
#include "bench_util.h"

#define LOSS_POLL_MS 10 /* how often which_children is asked while waiting */

static const char *const loss_needed[] = {"loss", NULL};

static int placed_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)c, (void)st, (void)m;
    return 0;
}

/* The supervised child: runs only where "loss" is a capability. */
static const ens_actor_def placed_def = {
    .name = "bench.conv.Placed", .receive = placed_receive, .requirements = loss_needed};

int conv_loss_register(void)
{
    return ens_actor_register(&placed_def);
}

/* ---- restart_across ------------------------------------------------------ */

/* A victim with "loss=1" in a child of its own process group; its node in
 * *node once it has joined; the child's pid, or a negative error. */
static pid_t victim_start(int i, uint32_t *node)
{
    int ready[2];
    if (pipe(ready) < 0)
        return ENS_EIO;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(ready[0]);
        close(ready[1]);
        return ENS_EAGAIN;
    }
    if (pid == 0) {
        setpgid(0, 0);
        close(ready[0]);
        char tag[32];
        snprintf(tag, sizeof(tag), "lossvictim%d", i);
        ens_system *v = NULL;
        uint32_t n = 0;
        if (conv_start_caps(tag, true, "loss=1", &v) == 0)
            n = ens_self(ens_system_ctx(v)).node;
        conv_write_all(ready[1], &n, sizeof(n));
        for (;;)
            pause();
    }
    setpgid(pid, pid); /* either side may run first */
    close(ready[1]);
    *node = 0;
    bool got = conv_read_all(ready[0], node, sizeof(*node));
    close(ready[0]);
    if (!got || *node == 0) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return ENS_EIO;
    }
    return pid;
}

static void victim_kill(pid_t pid)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Wait until the Detector at det was told node joined; false if not within
 * CONV_WAIT_MS. */
static bool wait_joined(ens_ctx *out, ens_addr det, uint32_t node, uint64_t after_ns)
{
    uint64_t joined = 0, down = 0, end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    while (bench_now_ns() < end && conv_detector_ask(out, det, node, &joined, &down)) {
        if (joined > after_ns)
            return true;
        conv_nap_ms(LOSS_POLL_MS);
    }
    return false;
}

/* The supervisor's one child, when running: its address in *child. */
static int running_child(ens_ctx *out, ens_addr sup, ens_addr *child)
{
    ens_msg *m = NULL;
    int rc = ens_supervisor_which_children_wait(out, sup, &m);
    if (rc < 0)
        return rc;
    const ens_sup_children_v *kids = ens_msg_value(m, &ens_msg_sup_children);
    const ens_sup_child_info *k = kids != NULL ? kids->children.items : NULL;
    *child = ENS_ADDR_NONE;
    if (k != NULL && kids->children.count == 1 && k[0].status == ENS_SUP_CHILD_RUNNING)
        *child = k[0].child;
    ens_msg_free(m);
    return 0;
}

/* One kill: ms from the victim's SIGKILL until the supervisor on A runs
 * its child on C again; ENS_EAGAIN when the child was not placed on the
 * victim (the round is redone), or another negative error. */
static double restart_once(ens_ctx *out, ens_addr det, uint32_t c_node, int i)
{
    uint32_t node = 0;
    pid_t pid = victim_start(i, &node);
    if (pid < 0)
        return pid;
    if (!wait_joined(out, det, node, 0)) {
        victim_kill(pid);
        return ENS_ETIMEDOUT;
    }
    ens_sup_flags f = ENS_SUP_FLAGS_INIT;
    f.intensity = 1000; /* the loss of a member is not the child's fault */
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = "placed";
    spec.def = &placed_def;
    ens_addr sup = ENS_ADDR_NONE, first = ENS_ADDR_NONE, next = ENS_ADDR_NONE;
    int rc = ens_supervisor_spawn(out, &f, &spec, 1, &sup);
    if (rc == 0)
        rc = running_child(out, sup, &first);
    if (rc == 0 && first.node != node)
        rc = ENS_EAGAIN;
    if (rc < 0) {
        if (!ens_addr_is_none(sup))
            ens_kill(out, sup);
        victim_kill(pid);
        return rc;
    }
    uint64_t t0 = bench_now_ns();
    victim_kill(pid);
    double ms = ENS_ETIMEDOUT;
    uint64_t end = t0 + (uint64_t)CONV_WAIT_MS * 1000000u;
    while (bench_now_ns() < end && (rc = running_child(out, sup, &next)) == 0) {
        if (!ens_addr_is_none(next) && !ens_addr_equal(next, first)) {
            ms = (double)(bench_now_ns() - t0) / 1e6;
            break;
        }
        conv_nap_ms(LOSS_POLL_MS);
    }
    if (rc < 0)
        ms = rc;
    else if (ms >= 0 && next.node != c_node)
        ms = ENS_EINVAL; /* back, but not on the member that fits */
    ens_kill(out, sup);  /* its child on C is asked to exit */
    return ms;
}

static void restart_figures(ens_ctx *out, ens_addr det, uint32_t c_node)
{
    long n = bench_n(30, 3);
    double *ms = calloc((size_t)n, sizeof(*ms));
    if (ms == NULL) {
        bench_fail("restart_across", "convention", "memory", ENS_ENOMEM);
        return;
    }
    uint64_t give_up = bench_now_ns() + (uint64_t)n * CONV_WAIT_MS * 1000000u;
    for (long i = 0, tries = 0; i < n; tries++) {
        double v = restart_once(out, det, c_node, (int)tries);
        if (v == ENS_EAGAIN && bench_now_ns() < give_up) {
            fprintf(stderr, "ens-bench: restart_across: the child went to C first: again\n");
            continue;
        }
        if (v < 0) {
            bench_fail("restart_across", "convention", "a placed child restarted on C", (int)v);
            free(ms);
            return;
        }
        ms[i++] = v;
    }
    conv_print_spread("restart_across", n, ms);
    bench_result base;
    bench_result_init(&base, "restart_across", "configured", n, 0,
                      "ms (down_after_ms: the loss is not known before)");
    bench_add(&base, ENS_CONVENTION_DOWN_AFTER_MS);
    bench_print(&base);
    free(ms);
}

/* ---- heal ---------------------------------------------------------------- */

/* The gateway process of local system s: the child of its admin whose
 * process title starts with "ens-gateway"; 0 if none. */
static pid_t gateway_pid(ens_system *s)
{
    int uid = -1, admin = -1;
    if (ens_system_holder(ens_system_options(s)->name, &uid, &admin) < 0)
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

/* One heal: C's gateway stopped until A is told C is unreachable, then
 * continued (on every path); ms until A is told C joined again. */
static double heal_once(ens_ctx *out, ens_addr det, uint32_t c_node, pid_t gw)
{
    uint64_t t_stop = bench_now_ns(), joined = 0, down = 0;
    if (kill(gw, SIGSTOP) < 0)
        return ENS_EIO;
    uint64_t end = t_stop + (uint64_t)CONV_WAIT_MS * 1000000u;
    bool seen = false;
    while (!seen && bench_now_ns() < end && conv_detector_ask(out, det, c_node, &joined, &down)) {
        seen = down > t_stop;
        if (!seen)
            conv_nap_ms(LOSS_POLL_MS);
    }
    uint64_t t_cont = bench_now_ns();
    kill(gw, SIGCONT);
    if (!seen)
        return ENS_ETIMEDOUT;
    end = t_cont + (uint64_t)CONV_WAIT_MS * 1000000u;
    while (bench_now_ns() < end && conv_detector_ask(out, det, c_node, &joined, &down)) {
        if (joined > t_cont)
            return (double)(joined - t_cont) / 1e6;
        conv_nap_ms(LOSS_POLL_MS);
    }
    return ENS_ETIMEDOUT;
}

static void heal_figures(ens_ctx *out, ens_addr det, ens_system *c)
{
    uint32_t c_node = ens_self(ens_system_ctx(c)).node;
    pid_t gw = gateway_pid(c);
    if (gw <= 0) {
        bench_fail("heal", "convention", "find C's gateway", ENS_ENOENT);
        return;
    }
    long n = bench_n(30, 3);
    double *ms = calloc((size_t)n, sizeof(*ms));
    if (ms == NULL) {
        bench_fail("heal", "convention", "memory", ENS_ENOMEM);
        return;
    }
    for (long i = 0; i < n; i++) {
        ms[i] = heal_once(out, det, c_node, gw);
        if (ms[i] < 0) {
            bench_fail("heal", "convention", "C seen unreachable and joined again", (int)ms[i]);
            free(ms);
            return;
        }
    }
    conv_print_spread("heal", n, ms);
    bench_result base;
    bench_result_init(&base, "heal", "configured", n, 0, "ms (heartbeat_ms)");
    bench_add(&base, ENS_CONVENTION_HEARTBEAT_MS);
    bench_print(&base);
    free(ms);
}

void conv_loss_figures(ens_system *a)
{
    ens_ctx *out = ens_system_ctx(a);
    ens_addr det = ENS_ADDR_NONE, idle = ENS_ADDR_NONE;
    ens_system *c = NULL;
    int rc = ens_spawn(out, &conv_detector_def, NULL, NULL, &det);
    if (rc == 0)
        rc = conv_start_caps("c", true, "loss=1", &c);
    /* Two idle actors on C, so that a fresh victim (none) is placed first. */
    for (int i = 0; rc == 0 && i < 2; i++)
        rc = ens_spawn(ens_system_ctx(c), &conv_echo_def, NULL, NULL, &idle);
    uint32_t c_node = rc == 0 ? ens_self(ens_system_ctx(c)).node : 0;
    if (rc == 0 && !wait_joined(out, det, c_node, 0))
        rc = ENS_ETIMEDOUT;
    if (rc < 0)
        bench_fail("restart_across", "convention", "start C and the Detector", rc);
    else
        restart_figures(out, det, c_node);
    if (rc == 0)
        heal_figures(out, det, c);
    if (c != NULL)
        ens_system_close(c, 30000);
}

/*
 * bench/bench_convention_spawn.c - the remote_spawn figures of ens-bench's
 * base "convention" (bench/bench_convention.c starts the systems):
 *  remote_spawn: A spawns from outside, n times, a definition that needs
 *    "gpu", which only B has (started with capabilities "gpu=1"): placed on
 *    B through both gateways, answered once its init ran there; each is
 *    asked to exit at once. spawns/s. Baseline in the same run: the same
 *    loop on A with a definition without requirements (a local spawn).
 */
#include <unistd.h>

#include "bench_convention_shared.h"
#include "bench_util.h"
#include "ensemble/ensemble.h"

static const char *const gpu_needed[] = {"gpu", NULL};
static const ens_actor_def gpu_def = {
    .name = "bench.conv.Gpu", .receive = conv_echo_receive, .requirements = gpu_needed};

typedef struct {
    ens_ctx *out;
    const ens_actor_def *def;
    uint32_t node; /* where each must run */
} spawn_arg;

static int run_spawn(long n, double *v, void *arg)
{
    const spawn_arg *sa = arg;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        ens_addr a;
        int rc = ens_spawn(sa->out, sa->def, NULL, NULL, &a);
        if (rc < 0)
            return rc;
        if (a.node != sa->node)
            return ENS_EINVAL;
        ens_exit_request(sa->out, a);
    }
    *v = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
    return 0;
}

/* A places on B once it knows B's record (its gateway reports it within a
 * heartbeat or so of B's start): tried until then, at most CONV_WAIT_MS. */
static int wait_placeable(ens_ctx *out, uint32_t node)
{
    uint64_t end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    for (;;) {
        ens_addr a;
        int rc = ens_spawn(out, &gpu_def, NULL, NULL, &a);
        if (rc == 0) {
            ens_exit_request(out, a);
            return a.node == node ? 0 : ENS_EINVAL;
        }
        if (rc != ENS_ENOPLACE || bench_now_ns() > end)
            return rc;
        usleep(50000); /* nothing to wait on: the member view is the admin's */
    }
}

void conv_spawn_figures(ens_system *a, ens_system *b)
{
    ens_ctx *out = ens_system_ctx(a);
    uint32_t node_a = ens_self(out).node, node_b = ens_self(ens_system_ctx(b)).node;
    int rc = wait_placeable(out, node_b);
    if (rc < 0) {
        bench_fail("remote_spawn", "convention", "place on B", rc);
        return;
    }
    long n = bench_n(1000, 100);
    spawn_arg local = {out, &conv_echo_def, node_a}, remote = {out, &gpu_def, node_b};
    conv_measure("remote_spawn_local", "process", n, 0, "spawns/s", run_spawn, &local);
    conv_measure("remote_spawn", "convention", n, 0, "spawns/s", run_spawn, &remote);
}

int conv_spawn_register(void)
{
    return ens_actor_register(&gpu_def);
}

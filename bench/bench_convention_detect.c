/*
 * bench/bench_convention_detect.c - the detect figures of ens-bench's base
 * "convention" (bench/bench_convention.c starts the systems):
 *  detect: a victim system is started in a forked child (its own process
 *    group) with the default heartbeat (500 ms) and down_after_ms (2000),
 *    joins, and its whole group (program, admin, gateway) is SIGKILLed (kill
 *    i at i * 97 ms mod one heartbeat after the join: the kills spread over
 *    the heartbeat cycle, as cuts do): ms
 *    from the kill until a Detector actor on A receives "unreachable" for
 *    its node (stamped by the Detector with the monotonic clock), over n
 *    kills: the median and the 99th percentile (nearest rank).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_convention_shared.h"
#include "bench_util.h"

/* ---- detection of a lost member ---------------------------------------- */

int conv_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void conv_print_spread(const char *name, long n, double *ms)
{
    qsort(ms, (size_t)n, sizeof(*ms), conv_cmp_double);
    char p99_name[64];
    snprintf(p99_name, sizeof(p99_name), "%s_p99", name);
    bench_result med, p99;
    bench_result_init(&med, name, "convention", n, 0, "ms (median of n)");
    bench_add(&med, ms[(n - 1) / 2]);
    bench_print(&med);
    long rank = (99 * n + 99) / 100; /* nearest rank */
    bench_result_init(&p99, p99_name, "convention", n, 0, "ms (p99 of n, nearest rank)");
    bench_add(&p99, ms[rank - 1]);
    bench_print(&p99);
}

/* Subscribed to the convention's updates: keeps when it was told each
 * node joined and went unreachable (the last of each). Asked with an
 * int64 node, it answers "joined_ns unreachable_ns" of that node (0 when
 * not told). */
#define DETECT_NODES 64
typedef struct detector_state {
    uint32_t node[DETECT_NODES];
    uint64_t joined_ns[DETECT_NODES], down_ns[DETECT_NODES];
    int n;
} detector_state;

static int detector_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    return ens_convention_subscribe(c, true);
}

static int detector_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    detector_state *d = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        uint64_t now = bench_now_ns();
        int i = 0;
        while (i < d->n && d->node[i] != u->node)
            i++;
        if (i == d->n) {
            if (d->n == DETECT_NODES)
                return 0;
            d->node[d->n++] = u->node;
            d->joined_ns[i] = d->down_ns[i] = 0;
        }
        if (u->change == ENS_MEMBER_JOINED)
            d->joined_ns[i] = now;
        else if (u->change == ENS_MEMBER_UNREACHABLE)
            d->down_ns[i] = now;
        return 0;
    }
    const ens_int64_v *q = ens_msg_value(m, &ens_msg_int64);
    if (q == NULL)
        return 0;
    char text[64] = "0 0";
    for (int i = 0; i < d->n; i++)
        if (d->node[i] == (uint32_t)q->value)
            snprintf(text, sizeof(text), "%llu %llu", (unsigned long long)d->joined_ns[i],
                     (unsigned long long)d->down_ns[i]);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
}

const ens_actor_def conv_detector_def = {.name = "bench.conv.Detector",
                                         .state_size = sizeof(detector_state),
                                         .init = detector_init,
                                         .receive = detector_receive};

void conv_nap_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* What the Detector at d was told about node: false if it did not answer. */
bool conv_detector_ask(ens_ctx *out, ens_addr d, uint32_t node, uint64_t *joined, uint64_t *down)
{
    ens_msg *r = NULL;
    if (ens_ask(out, d, &ens_msg_int64, &(ens_int64_v){node}, CONV_WAIT_MS, &r) < 0)
        return false;
    const ens_string_v *t = ens_msg_value(r, &ens_msg_string);
    unsigned long long j = 0, dn = 0;
    bool ok = t != NULL && sscanf(t->text, "%llu %llu", &j, &dn) == 2;
    ens_msg_free(r);
    *joined = j;
    *down = dn;
    return ok;
}

/* One victim: started in a child of its own process group, joined (seen by
 * the Detector), SIGKILLed whole; ms until the Detector saw it unreachable,
 * or a negative error. */
static double detect_once(ens_ctx *out, ens_addr det, int i)
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
        snprintf(tag, sizeof(tag), "victim%d", i);
        ens_system *v = NULL;
        ens_addr a = ENS_ADDR_NONE;
        uint32_t node = 0;
        if (conv_start(tag, true, &v) == 0 &&
            ens_spawn(ens_system_ctx(v), &conv_echo_def, NULL, NULL, &a) == 0)
            node = a.node;
        conv_write_all(ready[1], &node, sizeof(node));
        for (;;)
            pause();
    }
    setpgid(pid, pid);
    close(ready[1]);
    uint32_t node = 0;
    bool got = conv_read_all(ready[0], &node, sizeof(node));
    close(ready[0]);
    double ms = ENS_ETIMEDOUT;
    uint64_t joined = 0, down = 0, end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    while (got && node != 0 && bench_now_ns() < end &&
           conv_detector_ask(out, det, node, &joined, &down) && joined == 0)
        conv_nap_ms(20); /* the Detector's table offers nothing to wait on */
    /* A cut falls at any moment of the victim's heartbeat cycle: kill i
     * waits i * 97 ms mod one heartbeat after the join was seen, which
     * spreads the kills over the cycle (and is the same in every run). */
    conv_nap_ms((long)(((unsigned)i * 97u) % ENS_CONVENTION_HEARTBEAT_MS));
    uint64_t t0 = bench_now_ns();
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (joined == 0)
        return ENS_ETIMEDOUT;
    end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    while (bench_now_ns() < end && conv_detector_ask(out, det, node, &joined, &down)) {
        if (down > t0) {
            ms = (double)(down - t0) / 1e6;
            break;
        }
        conv_nap_ms(20);
    }
    return ms;
}

void conv_detect_figures(ens_system *a)
{
    ens_addr det;
    int rc = ens_spawn(ens_system_ctx(a), &conv_detector_def, NULL, NULL, &det);
    if (rc < 0) {
        bench_fail("detect", "convention", "spawn the Detector", rc);
        return;
    }
    long n = bench_n(50, 5);
    double *ms = calloc((size_t)n, sizeof(*ms));
    if (ms == NULL) {
        bench_fail("detect", "convention", "memory", ENS_ENOMEM);
        return;
    }
    for (long i = 0; i < n; i++) {
        ms[i] = detect_once(ens_system_ctx(a), det, (int)i);
        if (ms[i] < 0) {
            bench_fail("detect", "convention", "a kill seen unreachable", (int)ms[i]);
            free(ms);
            return;
        }
    }
    conv_print_spread("detect", n, ms);
    bench_result base;
    bench_result_init(&base, "detect", "configured", n, 0, "ms (down_after_ms: the floor)");
    bench_add(&base, ENS_CONVENTION_DOWN_AFTER_MS);
    bench_print(&base);
    free(ms);
}

/*
 * bench/bench_spin.c - requests across cores (bench_spin.h).
 *
 * Rows (bench / base):
 *   pingpong_one_cpu, pingpong_two_cpus, pingpong_unpinned, pingpong_busy:
 *     process (spin_us ENS_SPIN_US_DEFAULT, the default), process_nospin (spin_us 0), raw (the
 *     socketpair round trip), raw_spin (the same with the same spin before
 *     each blocking read): us per round trip. Placement: both processes on
 *     CPU 0; the pinger (raw: the parent) on CPU 0 and the echo on CPU 1;
 *     unpinned; unpinned with a forked child spinning on the last CPU.
 *   idle_cpu: process and process_nospin: a system with n idle actors,
 *     each asked once, then left alone; the CPU time (schedstat) of its
 *     admin and every actor over a quiet window: ms of CPU per second.
 * The runs of one placement alternate between the four bases, so a change
 * of load on the shared machine touches them alike.
 */
#include "bench_spin.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_raw.h"
#include "bench_util.h"

#define WAIT_MS 30000u

static ens_system *start_sys(const char *tag, uint32_t spin_us)
{
    char name[64];
    snprintf(name, sizeof(name), "ens-bench-%d-%s", (int)getpid(), tag);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.call_timeout_ms = WAIT_MS;
    o.log_level = ENS_LOG_ERROR;
    o.spin_us = spin_us;
    ens_system *s = NULL;
    fflush(NULL); /* the admin is forked */
    int rc = ens_system_start(&o, &s);
    if (rc < 0) {
        bench_fail("spin", tag, "ens_system_start", rc);
        return NULL;
    }
    return s;
}

static void stop_sys(ens_system *s)
{
    if (s != NULL && ens_system_close(s, 30000) < 0)
        bench_fail("spin", "-", "ens_system_close", 0);
}

static int pin_pid(int pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0) {
        for (int i = 0; i < CPU_SETSIZE && i < 1024; i++)
            CPU_SET(i, &set);
    } else {
        CPU_SET(cpu, &set);
    }
    return sched_setaffinity(pid, sizeof(set), &set);
}

/* The pid of the actor at addr in s, or -1. */
static int actor_pid(ens_system *s, ens_addr addr)
{
    ens_status *st = NULL;
    if (ens_system_status(s, WAIT_MS, &st) < 0)
        return -1;
    int pid = -1;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (ens_addr_equal(a->addr, addr))
            pid = a->pid;
    }
    ens_status_free(st);
    return pid;
}

/* A system with a pinger and an echo placed on cpu_a / cpu_b. */
typedef struct {
    ens_system *s;
    ens_addr pinger, echo;
} pp_sys;

static int pp_open(pp_sys *p, const char *tag, uint32_t spin_us, int cpu_a, int cpu_b)
{
    memset(p, 0, sizeof(*p));
    if ((p->s = start_sys(tag, spin_us)) == NULL)
        return ENS_EIO;
    ens_ctx *out = ens_system_ctx(p->s);
    int rc = ens_spawn(out, &pinger_def, NULL, NULL, &p->pinger);
    if (rc == 0)
        rc = ens_spawn(out, &echo_def, NULL, NULL, &p->echo);
    if (rc == 0 && (cpu_a >= 0 || cpu_b >= 0)) {
        int a = actor_pid(p->s, p->pinger), b = actor_pid(p->s, p->echo);
        if (a < 0 || b < 0 || pin_pid(a, cpu_a) < 0 || pin_pid(b, cpu_b) < 0)
            rc = ENS_EIO;
    }
    double us;
    if (rc == 0)
        rc = pingpong_run(out, p->pinger, p->echo, 1000, &us); /* warm-up */
    return rc;
}

/* A child that keeps the last CPU busy until killed (pid, or -1). */
static pid_t start_hog(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        long last = sysconf(_SC_NPROCESSORS_ONLN) - 1;
        pin_pid(0, last > 0 ? (int)last : 0);
        for (volatile unsigned long x = 0;; x++) {
        }
    }
    return pid;
}

static void stop_hog(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

static void placement(const char *name, int cpu_a, int cpu_b, bool busy, long n)
{
    bench_result on, off, raw, raw_spin;
    bench_result_init(&on, name, "process", n, 8, "us/roundtrip");
    bench_result_init(&off, name, "process_nospin", n, 8, "us/roundtrip");
    bench_result_init(&raw, name, "raw", n, 8, "us/roundtrip");
    bench_result_init(&raw_spin, name, "raw_spin", n, 8, "us/roundtrip");
    pp_sys a = {0}, b = {0};
    int rc = pp_open(&a, "spin", ENS_SPIN_US_DEFAULT, cpu_a, cpu_b);
    if (rc == 0)
        rc = pp_open(&b, "nospin", 0, cpu_a, cpu_b);
    size_t len = 0;
    uint8_t *f = sample_frame(8, &len);
    if (f == NULL)
        rc = ENS_ENOMEM;
    pid_t hog = rc == 0 && busy ? start_hog() : 0;
    for (int i = 0; rc == 0 && i < bench.runs; i++) {
        double us;
        if ((rc = pingpong_run(ens_system_ctx(a.s), a.pinger, a.echo, n, &us)) == 0)
            bench_add(&on, us);
        if (rc == 0 && (rc = pingpong_run(ens_system_ctx(b.s), b.pinger, b.echo, n, &us)) == 0)
            bench_add(&off, us);
        if (rc == 0 && (us = raw_pingpong_pinned_us(f, len, n, cpu_a, cpu_b, 0)) >= 0)
            bench_add(&raw, us);
        if (rc == 0 && us >= 0 &&
            (us = raw_pingpong_pinned_us(f, len, n, cpu_a, cpu_b, ENS_SPIN_US_DEFAULT)) >= 0)
            bench_add(&raw_spin, us);
        if (us < 0)
            rc = ENS_EIO;
    }
    stop_hog(hog);
    free(f);
    if (rc < 0)
        bench_fail(name, "-", "a run", rc);
    bench_print(&on);
    bench_print(&off);
    bench_print(&raw);
    bench_print(&raw_spin);
    stop_sys(a.s);
    stop_sys(b.s);
}

/* Nanoseconds pid has run on a CPU (schedstat), or -1. */
static long long cpu_ns(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    long long ns = -1;
    if (fscanf(fp, "%lld", &ns) != 1)
        ns = -1;
    fclose(fp);
    return ns;
}

/* The pids of s's admin and actors (*n of them, malloc'ed), or NULL. */
static int *sys_pids(ens_system *s, size_t *n)
{
    ens_status *st = NULL;
    if (ens_system_status(s, WAIT_MS, &st) < 0)
        return NULL;
    *n = ens_status_count(st) + 1;
    int *pids = malloc(*n * sizeof(*pids));
    if (pids != NULL) {
        pids[0] = ens_status_admin_pid(st);
        for (size_t i = 1; i < *n; i++)
            pids[i] = ens_status_at(st, i - 1)->pid;
    }
    ens_status_free(st);
    return pids;
}

/* Their CPU time in ns, or -1. */
static long long pids_cpu_ns(const int *pids, size_t n)
{
    long long sum = 0;
    for (size_t i = 0; sum >= 0 && i < n; i++) {
        long long ns = cpu_ns(pids[i]);
        sum = ns < 0 ? -1 : sum + ns;
    }
    return sum;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* One run: ms of CPU per second of a quiet window of window_ms (the pids
 * are read before it: a status request walks every actor in the admin). */
static int idle_run(const char *tag, uint32_t spin_us, long n, long window_ms, double *ms_per_s)
{
    ens_system *s = start_sys(tag, spin_us);
    if (s == NULL)
        return ENS_EIO;
    ens_ctx *out = ens_system_ctx(s);
    int rc = 0;
    for (long i = 0; rc == 0 && i < n; i++) {
        ens_addr a;
        rc = ens_spawn(out, &echo_def, NULL, NULL, &a);
        ens_int64_v x = {i};
        ens_msg *m = NULL;
        if (rc == 0) /* traffic: each actor may spin once after it */
            rc = ens_ask(out, a, &ens_msg_int64, &x, WAIT_MS, &m);
        ens_msg_free(m);
    }
    size_t np = 0;
    int *pids = rc == 0 ? sys_pids(s, &np) : NULL; /* read once: a status costs the admin */
    sleep_ms(1000);                                /* the start's own work settles */
    long long t0 = pids != NULL ? pids_cpu_ns(pids, np) : -1;
    uint64_t w0 = bench_now_ns();
    sleep_ms(window_ms);
    long long t1 = t0 >= 0 ? pids_cpu_ns(pids, np) : -1;
    uint64_t w1 = bench_now_ns();
    free(pids);
    if (rc == 0 && (t0 < 0 || t1 < 0))
        rc = ENS_EIO;
    if (rc == 0)
        *ms_per_s = (double)(t1 - t0) / 1e6 / ((double)(w1 - w0) / 1e9);
    stop_sys(s);
    return rc;
}

static void idle_cpu(void)
{
    long n = bench_n(1000, 200);
    long window = bench.quick ? 3000 : 5000;
    bench_result on, off;
    bench_result_init(&on, "idle_cpu", "process", n, 0, "ms/s");
    bench_result_init(&off, "idle_cpu", "process_nospin", n, 0, "ms/s");
    int rc = 0;
    for (int i = 0; rc == 0 && i < bench.runs; i++) {
        double v;
        if ((rc = idle_run("idle", ENS_SPIN_US_DEFAULT, n, window, &v)) == 0)
            bench_add(&on, v);
        if (rc == 0 && (rc = idle_run("idlenospin", 0, n, window, &v)) == 0)
            bench_add(&off, v);
    }
    if (rc < 0)
        bench_fail("idle_cpu", "-", "a run", rc);
    bench_print(&on);
    bench_print(&off);
}

void bench_spin_group(void)
{
    long n = bench_n(20000, 3000);
    const char *only = getenv("ENS_BENCH_SPIN_ONLY"); /* "pingpong" or "idle" */
    if (only == NULL || strcmp(only, "idle") != 0) {
        placement("pingpong_one_cpu", 0, 0, false, n);
        placement("pingpong_two_cpus", 0, 1, false, n);
        placement("pingpong_unpinned", -1, -1, false, n);
        placement("pingpong_busy", -1, -1, true, n);
    }
    if (only == NULL || strcmp(only, "pingpong") != 0)
        idle_cpu();
}

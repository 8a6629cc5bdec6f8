/*
 * bench/bench_troupe.c - "troupe": how well a troupe spreads CPU-bound work.
 *
 * Each message costs its worker TROUPE_WORK_NS of CPU time, measured on the
 * worker's own thread CPU clock (so time the worker spends preempted does
 * not count as work done). The outside program tells n messages to a
 * troupe leader whose max_count workers are all started up front
 * (idle_count = max_count: no worker is created or dismissed while timed),
 * and times from the first tell to the n-th reply: messages per second.
 *
 * The raw baseline does the same with plain processes: k forked children,
 * one AF_UNIX socketpair each; the parent keeps one 8-byte job in flight per
 * child (a troupe worker also holds one message at a time), sends the next
 * as soon as a child answers, and times the same n jobs.
 *
 * With 2 vCPUs, 2 workers can at best double one worker; 4 workers show the
 * cost of more workers than cores.
 */
#include "bench_troupe.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "ensemble/ensemble.h"

#define TROUPE_WORK_NS 1000000ll /* CPU time per message */
#define TROUPE_WAIT_MS 120000u
#define TROUPE_MAX_K   4

/* ---- the work ------------------------------------------------------------------ */

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Spin until this thread has used TROUPE_WORK_NS more CPU time. */
static void burn(void)
{
    int64_t end = thread_cpu_ns() + TROUPE_WORK_NS;
    while (thread_cpu_ns() < end) {
    }
}

/* ---- one JSON line, as bench_print, plus "workers" -------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_workers(const bench_result *r, int workers)
{
    if (r->runs == 0)
        return;
    double s[BENCH_MAX_RUNS];
    memcpy(s, r->v, sizeof(double) * (size_t)r->runs);
    qsort(s, (size_t)r->runs, sizeof(s[0]), cmp_double);
    double med = r->runs % 2 ? s[r->runs / 2] : (s[r->runs / 2 - 1] + s[r->runs / 2]) / 2.0;
    printf("{\"bench\":\"%s\",\"base\":\"%s\",\"n\":%ld,\"payload\":%ld,\"value\":%.0f,"
           "\"unit\":\"%s\",\"runs\":%d,\"min\":%.0f,\"median\":%.0f,\"max\":%.0f,"
           "\"workers\":%d}\n",
           r->bench, r->base, r->n, r->payload, med, r->unit, r->runs, s[0], med, s[r->runs - 1],
           workers);
    fflush(stdout);
}

/* ---- ensemble ---------------------------------------------------------------------- */

static int worker_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v == NULL)
        return 0;
    burn();
    return ens_reply(c, &ens_msg_int64, v);
}
static const ens_actor_def worker_def = {
    "bench.TroupeWorker", 0, NULL, worker_receive, NULL, NULL, NULL, NULL, NULL};

/* Tell n jobs to the leader and wait for the n replies: msgs/s, or < 0. */
static double troupe_run(ens_system *s, ens_addr leader, long n)
{
    ens_ctx *out = ens_system_ctx(s);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        int rc = ens_send(out, leader, &ens_msg_int64, &(ens_int64_v){i});
        if (rc < 0) {
            bench_fail("troupe", "process", "ens_send", rc);
            return -1;
        }
    }
    for (long got = 0; got < n; got++) {
        ens_msg *m = NULL;
        int rc = ens_listen(out, TROUPE_WAIT_MS, &m);
        bool ok = rc == 0 && ens_msg_value(m, &ens_msg_int64) != NULL;
        ens_msg_free(m);
        if (!ok) {
            bench_fail("troupe", "process", "ens_listen", rc < 0 ? rc : ENS_EBADTYPE);
            return -1;
        }
    }
    return (double)n / ((double)(bench_now_ns() - t0) / 1e9);
}

static void troupe_base(int workers, long n)
{
    char name[64];
    snprintf(name, sizeof(name), "ens-bench-troupe-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.call_timeout_ms = TROUPE_WAIT_MS;
    o.log_level = ENS_LOG_ERROR;
    ens_system *s = NULL;
    fflush(NULL); /* the admin is forked */
    int rc = ens_system_start(&o, &s);
    if (rc < 0) {
        bench_fail("troupe", "process", "ens_system_start", rc);
        return;
    }
    ens_troupe_opts to = ENS_TROUPE_OPTS_INIT;
    to.worker = &worker_def;
    to.max_count = (uint32_t)workers;
    to.idle_count = (uint32_t)workers;
    to.dismiss_after_ms = 600000;
    ens_addr leader;
    rc = ens_troupe_spawn(ens_system_ctx(s), &to, &leader);
    if (rc < 0) {
        bench_fail("troupe", "process", "ens_troupe_spawn", rc);
    } else {
        bench_result r;
        bench_result_init(&r, "troupe", "process", n, 8, "msgs/s");
        bool ok = troupe_run(s, leader, n / 10 > 0 ? n / 10 : 1) > 0; /* warm-up */
        for (int i = 0; ok && i < bench.runs; i++) {
            double v = troupe_run(s, leader, n);
            ok = v > 0;
            if (ok)
                bench_add(&r, v);
        }
        if (ok)
            print_workers(&r, workers);
    }
    rc = ens_system_close(s, 30000);
    if (rc < 0)
        bench_fail("troupe", "process", "ens_system_close", rc);
}

/* ---- raw: forked processes over socketpairs ------------------------------------------ */

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* A raw worker: a job in, the work, the job back; until end of file. */
static void raw_child(int fd)
{
    int64_t job;
    while (read_all(fd, &job, sizeof(job)) == 0) {
        burn();
        if (write_all(fd, &job, sizeof(job)) < 0)
            break;
    }
    _exit(0);
}

/* n jobs over k children, one in flight per child: msgs/s, or < 0. */
static double raw_run(int k, const int *fds, long n)
{
    struct pollfd p[TROUPE_MAX_K];
    long sent = 0, got = 0;
    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < k && sent < n; i++, sent++)
        if (write_all(fds[i], &(int64_t){sent}, sizeof(int64_t)) < 0)
            return -1;
    while (got < n) {
        for (int i = 0; i < k; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        if (poll(p, (nfds_t)k, (int)TROUPE_WAIT_MS) <= 0)
            return -1;
        for (int i = 0; i < k; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int64_t job;
            if (read_all(fds[i], &job, sizeof(job)) < 0)
                return -1;
            got++;
            if (sent < n && write_all(fds[i], &(int64_t){sent++}, sizeof(int64_t)) < 0)
                return -1;
        }
    }
    return (double)n / ((double)(bench_now_ns() - t0) / 1e9);
}

static void troupe_raw(int k, long n)
{
    int fds[TROUPE_MAX_K];
    pid_t pids[TROUPE_MAX_K];
    int started = 0;
    bool ok = true;
    fflush(NULL);
    for (; started < k; started++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            ok = false;
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            close(sv[0]);
            close(sv[1]);
            ok = false;
            break;
        }
        if (pid == 0) {
            for (int i = 0; i < started; i++)
                close(fds[i]);
            close(sv[0]);
            raw_child(sv[1]);
        }
        close(sv[1]);
        fds[started] = sv[0];
        pids[started] = pid;
    }
    bench_result r;
    bench_result_init(&r, "troupe", "raw", n, 8, "msgs/s");
    if (ok)
        ok = raw_run(k, fds, n / 10 > 0 ? n / 10 : 1) > 0; /* warm-up */
    for (int i = 0; ok && i < bench.runs; i++) {
        double v = raw_run(k, fds, n);
        ok = v > 0;
        if (ok)
            bench_add(&r, v);
    }
    for (int i = 0; i < started; i++)
        close(fds[i]); /* end of file: the child exits */
    for (int i = 0; i < started; i++) {
        int status;
        while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (ok)
        print_workers(&r, k);
    else
        bench_fail("troupe", "raw", "the socketpair workers", 0);
}

void bench_troupe_group(void)
{
    long n = bench_n(2000, 300);
    static const int counts[] = {1, 2, 4};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        troupe_base(counts[i], n);
        troupe_raw(counts[i], n);
    }
}

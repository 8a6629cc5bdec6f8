/*
 * bench/bench_raw.c - plain-C baselines: socketpair round trips, one-way
 * streams, fork, and the memory of an idle libuv process.
 */
#include "bench_raw.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "bench_util.h"

#define BATCH_BYTES 65536u

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reap child; kill it first when the parent gave up on it. */
static int reap(pid_t pid, int failed)
{
    int status = 0;
    if (failed)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ? -1 : 0;
}

/* Pin the calling process to cpu (cpu < 0: leave it where it is). */
static int pin_to(int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

/* Before a blocking read: look for bytes without sleeping for up to
 * spin_ns (0: no look), so a reply that comes soon needs no wake-up. Not
 * adaptive (the library's spin is): a fixed spin, to show the cost of
 * the wake-up it avoids and of the spins that miss. */
static void spin_for_input(int fd, uint64_t spin_ns)
{
    if (spin_ns == 0)
        return;
    uint64_t end = bench_now_ns() + spin_ns;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    do {
        __builtin_ia32_pause();
        if (poll(&p, 1, 0) > 0)
            return;
    } while (bench_now_ns() < end);
}

static int read_all_spin(int fd, void *buf, size_t len, uint64_t spin_ns)
{
    spin_for_input(fd, spin_ns);
    return read_all(fd, buf, len);
}

double raw_pingpong_us(const uint8_t *frame, size_t len, long n)
{
    return raw_pingpong_pinned_us(frame, len, n, -1, -1, 0);
}

double raw_pingpong_pinned_us(const uint8_t *frame, size_t len, long n, int cpu_a, int cpu_b,
                              unsigned spin_us)
{
    const uint64_t spin_ns = (uint64_t)spin_us * 1000u;
    int sv[2];
    uint8_t *buf = malloc(len);
    if (buf == NULL || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        free(buf);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        free(buf);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        if (pin_to(cpu_b) < 0)
            _exit(1);
        for (long i = 0; i < n; i++) {
            if (read_all_spin(sv[1], buf, len, spin_ns) < 0 || write_all(sv[1], buf, len) < 0)
                _exit(1);
        }
        _exit(0);
    }
    close(sv[1]);
    cpu_set_t was;
    int failed = cpu_a >= 0 && (sched_getaffinity(0, sizeof(was), &was) < 0 || pin_to(cpu_a) < 0);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n && !failed; i++) {
        if (write_all(sv[0], frame, len) < 0 || read_all_spin(sv[0], buf, len, spin_ns) < 0)
            failed = 1;
    }
    uint64_t dt = bench_now_ns() - t0;
    if (cpu_a >= 0)
        sched_setaffinity(0, sizeof(was), &was);
    close(sv[0]);
    free(buf);
    if (reap(pid, failed) < 0)
        return -1;
    return (double)dt / 1e3 / (double)n;
}

double raw_stream_msgs(const uint8_t *frame, size_t len, long n, int batch)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        /* the reader: take every byte, then acknowledge with one byte */
        close(sv[0]);
        static uint8_t in[BATCH_BYTES];
        uint64_t left = (uint64_t)len * (uint64_t)n;
        while (left > 0) {
            ssize_t r = read(sv[1], in, left < sizeof(in) ? left : sizeof(in));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                _exit(1);
            left -= (uint64_t)r;
        }
        _exit(write_all(sv[1], "k", 1) < 0 ? 1 : 0);
    }
    close(sv[1]);
    int failed = 0;
    uint8_t *out = batch ? malloc(BATCH_BYTES + len) : NULL;
    uint64_t t0 = bench_now_ns();
    if (!batch) {
        for (long i = 0; i < n && !failed; i++)
            failed = write_all(sv[0], frame, len) < 0;
    } else if (out == NULL) {
        failed = 1;
    } else {
        /* coalesce whole frames until the next would pass 64 KiB */
        size_t used = 0;
        for (long i = 0; i < n && !failed; i++) {
            if (used + len > BATCH_BYTES && used > 0) {
                failed = write_all(sv[0], out, used) < 0;
                used = 0;
            }
            memcpy(out + used, frame, len);
            used += len;
        }
        if (!failed && used > 0)
            failed = write_all(sv[0], out, used) < 0;
    }
    char ack;
    if (!failed)
        failed = read_all(sv[0], &ack, 1) < 0;
    uint64_t dt = bench_now_ns() - t0;
    free(out);
    close(sv[0]);
    if (reap(pid, failed) < 0)
        return -1;
    return (double)n / ((double)dt / 1e9);
}

double raw_spawn_rate(long n)
{
    fflush(NULL);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0)
            _exit(0);
        if (reap(pid, 0) < 0)
            return -1;
    }
    uint64_t dt = bench_now_ns() - t0;
    return (double)n / ((double)dt / 1e9);
}

/* A child as an actor starts: only its own descriptors (its AF_UNIX end as
 * 3, the quit pipe as 4), a libuv loop on them; it answers the one 64-byte
 * message that comes on its end and lives on until the quit pipe ends. */
static void on_quit(uv_poll_t *h, int status, int events);

static void on_ask(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    uint8_t msg[RAW_REPLY_BYTES];
    int fd = *(int *)h->data;
    if (read_all(fd, msg, sizeof(msg)) < 0 || write_all(fd, msg, sizeof(msg)) < 0)
        _exit(1);
    uv_poll_stop(h);
}

static _Noreturn void reply_child(int sock, int quit_fd)
{
    /* above both, so that neither dup2 below overwrites the other */
    int low = (sock > quit_fd ? sock : quit_fd) + 1;
    int s2 = fcntl(sock, F_DUPFD, low), q2 = fcntl(quit_fd, F_DUPFD, low);
    if (s2 < 0 || q2 < 0 || dup2(s2, 3) < 0 || dup2(q2, 4) < 0)
        _exit(1);
    close_range(5, ~0u, 0);
    prctl(PR_SET_NAME, "raw-child"); /* told apart from ens-bench in a profile */
    uv_loop_t loop;
    uv_poll_t ask, quit;
    int fd = 3;
    if (uv_loop_init(&loop) != 0 || uv_poll_init(&loop, &ask, 3) != 0 ||
        uv_poll_init(&loop, &quit, 4) != 0)
        _exit(1);
    ask.data = &fd;
    uv_poll_start(&ask, UV_READABLE, on_ask);
    uv_poll_start(&quit, UV_READABLE, on_quit);
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(0);
}

double raw_reply_spawn_rate(long n, int pipelined)
{
    int quit[2];
    if (n <= 0 || pipe2(quit, O_CLOEXEC) < 0)
        return -1;
    pid_t *pids = calloc((size_t)n, sizeof(*pids));
    int *socks = calloc((size_t)n, sizeof(*socks));
    long started = 0, answered = 0;
    int rc = pids != NULL && socks != NULL ? 0 : -1;
    uint8_t msg[RAW_REPLY_BYTES], back[RAW_REPLY_BYTES];
    memset(msg, 0x5a, sizeof(msg));
    fflush(NULL);
    uint64_t t0 = bench_now_ns();
    for (; rc == 0 && started < n; started++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            rc = -1;
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            close(sv[0]);
            close(sv[1]);
            rc = -1;
            break;
        }
        if (pid == 0)
            reply_child(sv[1], quit[0]);
        close(sv[1]);
        pids[started] = pid;
        socks[started] = sv[0];
        if (write_all(sv[0], msg, sizeof(msg)) < 0)
            rc = -1;
        if (!pipelined && rc == 0) {
            if (read_all(sv[0], back, sizeof(back)) < 0)
                rc = -1;
            close(sv[0]);
            socks[started] = -1;
            answered++;
        }
    }
    for (long i = 0; rc == 0 && pipelined && i < started; i++, answered++) {
        if (read_all(socks[i], back, sizeof(back)) < 0)
            rc = -1;
    }
    uint64_t dt = bench_now_ns() - t0;
    close(quit[1]); /* EOF: every loop ends */
    for (long i = 0; i < started; i++) {
        if (pipelined && socks[i] >= 0)
            close(socks[i]);
        if (reap(pids[i], rc < 0) < 0)
            rc = -1;
    }
    close(quit[0]);
    free(pids);
    free(socks);
    if (rc < 0 || answered != n)
        return -1;
    return (double)n / ((double)dt / 1e9);
}

int bench_proc_mem(int pid, double *pss_kib, double *rss_kib)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int found = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        long kib;
        if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
            *rss_kib = (double)kib;
            found |= 1;
        } else if (sscanf(line, "Pss: %ld kB", &kib) == 1) {
            *pss_kib = (double)kib;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -1;
}

/* An idle child: a libuv loop polling the quit pipe; EOF ends it. */
static void on_quit(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    uv_poll_stop(h);
}

static _Noreturn void idle_child(int quit_fd, int ready_fd)
{
    uv_loop_t loop;
    uv_poll_t p;
    if (uv_loop_init(&loop) != 0 || uv_poll_init(&loop, &p, quit_fd) != 0)
        _exit(1);
    uv_poll_start(&p, UV_READABLE, on_quit);
    if (write_all(ready_fd, "r", 1) < 0)
        _exit(1);
    close(ready_fd);
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(0);
}

int raw_idle_memory(int count, double *pss_kib, double *rss_kib)
{
    int quit[2], ready[2];
    if (pipe(quit) < 0)
        return -1;
    if (pipe(ready) < 0) {
        close(quit[0]);
        close(quit[1]);
        return -1;
    }
    pid_t *pids = calloc((size_t)count, sizeof(*pids));
    int started = 0, rc = pids != NULL ? 0 : -1;
    fflush(NULL);
    for (; rc == 0 && started < count; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -1;
            break;
        }
        if (pid == 0) {
            close(quit[1]);
            close(ready[0]);
            idle_child(quit[0], ready[1]);
        }
        pids[started] = pid;
    }
    close(ready[1]);
    close(quit[0]);
    /* every child has its loop running before anything is measured */
    char c;
    for (int i = 0; rc == 0 && i < started; i++)
        if (read_all(ready[0], &c, 1) < 0)
            rc = -1;
    double pss = 0, rss = 0;
    for (int i = 0; rc == 0 && i < started; i++) {
        double p = 0, r = 0;
        if (bench_proc_mem(pids[i], &p, &r) < 0)
            rc = -1;
        pss += p;
        rss += r;
    }
    close(quit[1]); /* EOF: every loop ends */
    close(ready[0]);
    for (int i = 0; i < started; i++)
        if (reap(pids[i], rc < 0) < 0)
            rc = -1;
    free(pids);
    if (rc == 0 && started > 0) {
        *pss_kib = pss / started;
        *rss_kib = rss / started;
    }
    return rc;
}

/*
 * bench/bench_supervisor.c - the "supervisor" figures of ens-bench:
 *  sup_start: ens_spawn from outside of a one_for_all supervisor of n
 *    static workers (given by its configure callback), until it returns
 *    (every init has run: OTP's start_link); ms per child.
 *  sup_restart_all: one worker of it is killed (ens_kill); the supervisor
 *    stops the n - 1 others, the last started first (exit request, each
 *    awaited), then starts all n again in order; from the kill until the
 *    n-th new init has run (counted in memory shared with every process);
 *    ms per child. _concurrent: the same tree under ENS_SUP_START_CONCURRENT
 *    (the n - 1 asked to stop at once, all n started in one batch).
 *  sup_restart_stop: the stop part of it, from the kill until the first
 *    new init began (the last end known to the supervisor, and one spawn);
 *    ms per child.
 *  sup_raw: the same run's baseline, fork + _exit + waitpid (raw_spawn_rate)
 *    of n processes; ms per process. ratio = raw ms / ensemble ms.
 *  sup_memory: bytes of the supervisor's heap per child record (id, spec,
 *    the running index), measured with mallinfo2 around n records built
 *    as the supervisor builds them (in this process: the records are the
 *    same on every base).
 * Each size gets a fresh system (the admin is forked from this program).
 */
#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_raw.h"
#include "bench_supervisor.h"
#include "bench_util.h"
#include "ensemble/ensemble.h"
#include "supervisor/sup_internal.h"

static volatile uint32_t *sup_inits; /* shared with every actor process */

static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    __atomic_add_fetch(sup_inits, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static int worker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    (void)m;
    return 0;
}

static const ens_actor_def worker_def = {
    "bench.SupWorker", 0, worker_init, worker_receive, NULL, NULL, NULL, NULL, NULL};

/* The children come from a configure callback: a configuration sent as
 * ens_supervisor_spawn's start argument stops at ENS_SPAWN_ARG_MAX on the
 * process base (~1 000 specs). sup_bench_n and sup_bench_specs are set before the
 * system starts (its processes are forked from this one). */
static long sup_bench_n;
static ens_sup_start sup_bench_start; /* ordered or concurrent, for the next run */
static char sup_why[512];             /* why the last start failed (ens_errmsg) */
static ens_child_spec *sup_bench_specs;

static int bench_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                           ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    *n = (size_t)sup_bench_n;
    if (max < (size_t)sup_bench_n)
        return 0; /* room, please: called again */
    *flags = (ens_sup_flags){ENS_ONE_FOR_ALL, 1000, 60000, sup_bench_start};
    for (long i = 0; i < sup_bench_n; i++)
        specs[i] = sup_bench_specs[i];
    return 0;
}
ENS_SUPERVISOR_DEF(bench_sup_def, "bench.Sup", bench_configure);

static ens_system *start_system(void)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.base = ENS_BASE_PROCESS;
    o.call_timeout_ms = 600000;
    o.log_level = ENS_LOG_ERROR;
    ens_system *s = NULL;
    fflush(NULL);
    return ens_system_start(&o, &s) == 0 ? s : NULL;
}

/* ENS_BENCH_SUP_FDS set: the admin's descriptors by kind, on stderr (a
 * look at what an actor costs it, not a figure). The admin is the process
 * child of this one whose title begins "ens-admin". */
static void admin_fds(long n, const char *when)
{
    if (getenv("ENS_BENCH_SUP_FDS") == NULL)
        return;
    DIR *d = opendir("/proc");
    struct dirent *e;
    int admin = 0;
    while (d != NULL && admin == 0 && (e = readdir(d)) != NULL) {
        char path[64], buf[256];
        int pid = atoi(e->d_name);
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        FILE *f = pid > 0 ? fopen(path, "r") : NULL;
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        if (strncmp(buf, "ens-admin", 9) != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid); /* ours: a child of this process */
        int ppid = 0;
        if ((f = fopen(path, "r")) != NULL) {
            len = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            buf[len] = '\0';
            const char *p = strrchr(buf, ')');
            if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1)
                ppid = 0;
        }
        if (ppid == getpid())
            admin = pid;
    }
    if (d != NULL)
        closedir(d);
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", admin);
    d = admin > 0 ? opendir(dir) : NULL;
    long sock = 0, pidfd = 0, memfd = 0, pipe = 0, other = 0, total = 0;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[320], to[256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t l = readlink(path, to, sizeof(to) - 1);
        if (l < 0)
            continue;
        to[l] = '\0';
        total++;
        if (strncmp(to, "socket:", 7) == 0)
            sock++;
        else if (strstr(to, "pidfd") != NULL)
            pidfd++;
        else if (strncmp(to, "/memfd:", 7) == 0)
            memfd++;
        else if (strncmp(to, "pipe:", 5) == 0)
            pipe++;
        else
            other++;
    }
    if (d != NULL)
        closedir(d);
    fprintf(stderr,
            "ens-bench: admin %d with %ld children %s: %ld descriptors: %ld sockets, %ld pidfds, "
            "%ld memfds, %ld pipes, %ld other\n",
            admin, n, when, total, sock, pidfd, memfd, pipe, other);
}

/* One run at n children: ms per child to start all, then to restart all. */
static int sup_run(long n, ens_child_spec *specs, double *start_ms, double *restart_ms,
                   double *stop_ms)
{
    sup_bench_n = n;
    sup_bench_specs = specs;
    ens_system *s = start_system();
    if (s == NULL)
        return ENS_EIO;
    ens_ctx *out = ens_system_ctx(s);
    __atomic_store_n(sup_inits, 0, __ATOMIC_SEQ_CST);
    ens_addr sup;
    uint64_t t0 = bench_now_ns();
    int rc = ens_spawn(out, &bench_sup_def, NULL, NULL, &sup);
    uint64_t t1 = bench_now_ns();
    if (rc < 0)
        snprintf(sup_why, sizeof(sup_why), "%s", ens_errmsg());
    else
        admin_fds(n, "started");
    ens_msg *r = NULL;
    if (rc == 0)
        rc = ens_supervisor_which_children_page_wait(out, sup, 0, 1, &r);
    const ens_sup_children_v *v = r != NULL ? ens_msg_value(r, &ens_msg_sup_children) : NULL;
    if (rc == 0 && (v == NULL || v->children.count != 1))
        rc = ENS_EBADTYPE;
    uint64_t t2 = 0, t3 = 0, t_first = 0;
    if (rc == 0) {
        ens_addr first = ((const ens_sup_child_info *)v->children.items)[0].child;
        t2 = bench_now_ns();
        rc = ens_kill(out, first);
        uint64_t end = t2 + 600ull * 1000000000u;
        uint32_t got;
        while (rc == 0 && (got = __atomic_load_n(sup_inits, __ATOMIC_SEQ_CST)) < 2 * (uint32_t)n) {
            if (t_first == 0 && got > (uint32_t)n)
                t_first = bench_now_ns();
            if (bench_now_ns() > end)
                rc = ENS_ETIMEDOUT;
            usleep(100); /* a figure, not a test: polling the shared count */
        }
        t3 = bench_now_ns();
        if (rc == 0)
            admin_fds(n, "restarted");
    }
    ens_msg_free(r);
    ens_system_stop(s, 120000);
    if (rc == 0) {
        *start_ms = (double)(t1 - t0) / 1e6 / (double)n;
        *restart_ms = (double)(t3 - t2) / 1e6 / (double)n;
        *stop_ms = (double)((t_first != 0 ? t_first : t3) - t2) / 1e6 / (double)n;
    }
    return rc;
}

/* The batch spawn's own figure at n: ms per actor for ens_spawn_many of n
 * workers from outside (new system each time), or < 0. */
static double batch_spawn_ms(long n)
{
    ens_system *s = start_system();
    if (s == NULL)
        return -1;
    ens_addr *out = calloc((size_t)n, sizeof(*out));
    int *status = calloc((size_t)n, sizeof(*status));
    double ms = -1;
    if (out != NULL && status != NULL) {
        uint64_t t0 = bench_now_ns();
        int rc =
            ens_spawn_many(ens_system_ctx(s), &worker_def, NULL, NULL, 0, (size_t)n, out, status);
        uint64_t t1 = bench_now_ns();
        if (rc == n)
            ms = (double)(t1 - t0) / 1e6 / (double)n;
    }
    free(out);
    free(status);
    ens_system_stop(s, 120000);
    return ms;
}

/* A simple_one_for_one pool of n started by one ens_supervisor_start_children
 * request: ms per child until every init ran, or < 0. */
static double pool_start_ms(long n)
{
    ens_system *s = start_system();
    if (s == NULL)
        return -1;
    ens_ctx *out = ens_system_ctx(s);
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = "w";
    spec.def = &worker_def;
    ens_sup_flags f = {ENS_SIMPLE_ONE_FOR_ONE, 1000, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup;
    ens_addr *addrs = calloc((size_t)n, sizeof(*addrs));
    double ms = -1;
    if (addrs != NULL && ens_supervisor_spawn(out, &f, &spec, 1, &sup) == 0) {
        uint64_t t0 = bench_now_ns();
        int rc = ens_supervisor_start_children_wait(out, sup, NULL, NULL, (size_t)n, addrs, NULL);
        uint64_t t1 = bench_now_ns();
        if (rc == n)
            ms = (double)(t1 - t0) / 1e6 / (double)n;
    }
    free(addrs);
    ens_system_stop(s, 120000);
    return ms;
}

/* Bytes of heap per child record, as the supervisor keeps them. */
static double record_bytes(long n)
{
    sup_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -1;
    struct mallinfo2 before = mallinfo2();
    for (long i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof(id), "w%ld", i);
        ens_child_spec sp = ENS_CHILD_SPEC_INIT;
        sp.id = id;
        sp.def = &worker_def;
        int err = 0;
        sup_child *k = ens__sup_child_new(&sp, &err);
        if (k == NULL || ens__sup_add(st, k) < 0) {
            ens__sup_child_free(k);
            n = -1; /* out of memory: no figure */
            break;
        }
    }
    struct mallinfo2 after = mallinfo2();
    for (size_t i = 0; i < st->n_kids; i++)
        ens__sup_child_free(st->kids[i]);
    free(st->kids);
    free(st->slots);
    free(st);
    return n > 0 ? (double)(after.uordblks - before.uordblks) / (double)n : -1;
}

void bench_supervisor_group(void)
{
    /* 5 000 fit here: the admin holds three descriptors a supervised
     * child (control channel, stage memfd, the kept end of the child's
     * connection to its supervisor), keeps an eighth of RLIMIT_NOFILE
     * (20 000 here) in reserve, and a size that does not fit is reported
     * refused. */
    static const long sizes[] = {10, 100, 1000, 3000, 5000};
    const size_t n_sizes = bench.quick ? 3 : 5;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        bench_fail("sup_start", "process", "mmap", ENS_ENOMEM);
        return;
    }
    sup_inits = p;
    /* For a profile by hand: ENS_BENCH_SUP_N=n runs that size alone, and
     * ENS_BENCH_SUP_CONCURRENT_ONLY=1 only the concurrent tree. */
    const char *only_n = getenv("ENS_BENCH_SUP_N");
    const bool conc_only = getenv("ENS_BENCH_SUP_CONCURRENT_ONLY") != NULL;
    for (size_t si = 0; si < n_sizes; si++) {
        const long n = only_n != NULL && atol(only_n) > 0 ? atol(only_n) : sizes[si];
        if (only_n != NULL && si > 0)
            break;
        ens_child_spec *specs = calloc((size_t)n, sizeof(*specs));
        char(*ids)[16] = calloc((size_t)n, sizeof(*ids));
        if (specs == NULL || ids == NULL) {
            free(specs);
            free(ids);
            bench_fail("sup_start", "process", "calloc", ENS_ENOMEM);
            break;
        }
        for (long i = 0; i < n; i++) {
            snprintf(ids[i], 24, "w%ld", i);
            specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
            specs[i].id = ids[i];
            specs[i].def = &worker_def;
        }
        bench_result rs, rr, cs, cr, pool, batch, raw, mem, so, sc;
        bench_result_init(&rs, "sup_start", "process", n, 0, "ms/child");
        bench_result_init(&rr, "sup_restart_all", "process", n, 0, "ms/child");
        bench_result_init(&cs, "sup_start_concurrent", "process", n, 0, "ms/child");
        bench_result_init(&cr, "sup_restart_all_concurrent", "process", n, 0, "ms/child");
        bench_result_init(&so, "sup_restart_stop", "process", n, 0, "ms/child");
        bench_result_init(&sc, "sup_restart_stop_concurrent", "process", n, 0, "ms/child");
        bench_result_init(&batch, "sup_batch_spawn", "process", n, 0, "ms/actor");
        bench_result_init(&pool, "sup_start_children", "process", n, 0, "ms/child");
        bench_result_init(&raw, "sup_raw", "raw", n, 0, "ms/proc");
        bench_result_init(&mem, "sup_memory", "process", n, 0, "bytes/child");
        int rc = 0;
        const int runs = n >= 1000 ? (bench.runs < 3 ? bench.runs : 3) : bench.runs;
        for (int i = 0; rc == 0 && i < runs; i++) {
            double a, b, st;
            double rate = raw_spawn_rate(n);
            if (rate > 0)
                bench_add(&raw, 1e3 / rate);
            sup_bench_start = ENS_SUP_START_ORDERED;
            if (!conc_only && (rc = sup_run(n, specs, &a, &b, &st)) == 0) {
                bench_add(&rs, a);
                bench_add(&rr, b);
                bench_add(&so, st);
            }
            sup_bench_start = ENS_SUP_START_CONCURRENT;
            if (rc == 0 && (rc = sup_run(n, specs, &a, &b, &st)) == 0) {
                bench_add(&cs, a);
                bench_add(&cr, b);
                bench_add(&sc, st);
            }
            double bm = rc == 0 && !conc_only ? batch_spawn_ms(n) : -1;
            if (bm > 0)
                bench_add(&batch, bm);
            double pm = rc == 0 && !conc_only ? pool_start_ms(n) : -1;
            if (pm > 0)
                bench_add(&pool, pm);
            double bytes = record_bytes(n);
            if (bytes >= 0)
                bench_add(&mem, bytes);
        }
        free(specs);
        free(ids);
        if ((rc == ENS_EAGAIN || rc == ENS_EINIT) && n > 1000) {
            /* e.g. the admin's descriptor reserve (RLIMIT_NOFILE): this
             * machine's limit, not a failure of the figures */
            fprintf(stderr, "ens-bench: sup_start n=%ld: not started: %s (%s)\n", n,
                    ens_strerror(rc), sup_why);
            continue;
        }
        if (rc < 0) {
            bench_fail("sup_start", "process", "a run", rc);
            break;
        }
        bench_print(&raw);
        bench_print(&rs);
        bench_print(&rr);
        bench_print(&batch);
        bench_print(&cs);
        bench_print(&cr);
        bench_print(&so);
        bench_print(&sc);
        bench_print(&pool);
        bench_print(&mem);
    }
    munmap(p, 4096);
}

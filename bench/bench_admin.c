/*
 * bench/bench_admin.c - "admin_scaling": what one event costs the admin
 * with 10, 100 and 1 000 idle actors alive.
 *
 * A fresh system gets N idle actors. Then, timed in the admin's own CPU
 * time (/proc/ADMIN/schedstat, nanoseconds on a CPU):
 *  - lookups: the outside asks the admin for a global name nobody holds,
 *    n times (a control round trip the admin answers at once, as it does
 *    connection requests): ns of admin CPU per lookup;
 *  - spawns: the outside spawns n more actors: ns of admin CPU per spawn.
 * With a constant cost per event, the three figures of each stay within a
 * few percent; a walk over every record per event grows them with N.
 */
#include "bench_admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "ensemble/ensemble.h"

static int idle_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)c;
    (void)st;
    (void)m;
    return 0;
}

static const ens_actor_def idle_def = {"bench.Idle", 0,    NULL, idle_receive, NULL,
                                       NULL,         NULL, NULL, NULL};

/* Nanoseconds pid has run on a CPU, or -1. */
static int64_t cpu_ns(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long long ns = -1;
    if (fscanf(f, "%lld", &ns) != 1)
        ns = -1;
    fclose(f);
    return ns;
}

static int admin_pid(ens_system *s)
{
    ens_status *st = NULL;
    if (ens_system_status(s, 30000, &st) < 0)
        return -1;
    int pid = ens_status_admin_pid(st);
    ens_status_free(st);
    return pid;
}

static int run(int actors, long n, double *per_lookup, double *per_spawn)
{
    char name[64];
    snprintf(name, sizeof(name), "ens-bench-admin-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.call_timeout_ms = 30000;
    o.log_level = ENS_LOG_ERROR;
    ens_system *s = NULL;
    fflush(NULL);
    int rc = ens_system_start(&o, &s);
    if (rc < 0)
        return rc;
    ens_ctx *out = ens_system_ctx(s);
    for (int i = 0; rc == 0 && i < actors; i++) {
        ens_addr a;
        rc = ens_spawn(out, &idle_def, NULL, NULL, &a);
    }
    int admin = rc == 0 ? admin_pid(s) : -1;
    if (rc == 0 && admin <= 0)
        rc = -1;
    /* lookups */
    int64_t t0 = rc == 0 ? cpu_ns(admin) : -1;
    for (long i = 0; rc == 0 && i < n; i++) {
        ens_addr a;
        int r = ens_name_lookup(out, "bench.nobody", &a);
        if (r != ENS_ENOENT)
            rc = r < 0 ? r : -1;
    }
    int64_t t1 = rc == 0 ? cpu_ns(admin) : -1;
    /* spawns (a tenth as many: each is a process) */
    long ns = n / 10 > 10 ? n / 10 : 10;
    for (long i = 0; rc == 0 && i < ns; i++) {
        ens_addr a;
        rc = ens_spawn(out, &idle_def, NULL, NULL, &a);
    }
    int64_t t2 = rc == 0 ? cpu_ns(admin) : -1;
    if (rc == 0 && (t0 < 0 || t1 < 0 || t2 < 0))
        rc = -1;
    if (rc == 0) {
        *per_lookup = (double)(t1 - t0) / (double)n;
        *per_spawn = (double)(t2 - t1) / (double)ns;
    }
    ens_system_close(s, 60000);
    return rc;
}

void bench_admin_group(void)
{
    static const int sizes[] = {10, 100, 1000};
    long n = bench_n(20000, 2000);
    if (ens_actor_register(&idle_def) < 0 && ens_actor_register(&idle_def) != ENS_EEXIST) {
        bench_fail("admin_scaling", "process", "register", -1);
        return;
    }
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char lname[64], sname[64];
        snprintf(lname, sizeof(lname), "admin_lookup_%d", sizes[k]);
        snprintf(sname, sizeof(sname), "admin_spawn_%d", sizes[k]);
        bench_result lk, sp;
        bench_result_init(&lk, lname, "process", n, 0, "ns/event");
        bench_result_init(&sp, sname, "process", n / 10, 0, "ns/spawn");
        int rc = 0;
        for (int i = 0; rc == 0 && i < bench.runs; i++) {
            double l = 0, p = 0;
            if ((rc = run(sizes[k], n, &l, &p)) == 0) {
                bench_add(&lk, l);
                bench_add(&sp, p);
            }
        }
        if (rc < 0) {
            bench_fail("admin_scaling", "process", "a run", rc);
            return;
        }
        bench_print(&lk);
        bench_print(&sp);
    }
}

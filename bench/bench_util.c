/*
 * bench/bench_util.c - clock, schedule and JSON output of ens-bench.
 */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ensemble/error.h"

bench_cfg bench = {false, 5};
int bench_failures;

long bench_n(long full_n, long quick_n)
{
    return bench.quick ? quick_n : full_n;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_result_init(bench_result *r, const char *name, const char *base, long n, long payload,
                       const char *unit)
{
    memset(r, 0, sizeof(*r));
    r->bench = name;
    r->base = base;
    r->n = n;
    r->payload = payload;
    r->unit = unit;
}

void bench_add(bench_result *r, double v)
{
    if (r->runs < BENCH_MAX_RUNS)
        r->v[r->runs++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Three significant decimals for small figures, whole numbers for large. */
static void num(char *buf, size_t len, double v)
{
    if (v >= 1000.0 || v <= -1000.0)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.3f", v);
}

double bench_median(const bench_result *r)
{
    if (r->runs == 0)
        return -1;
    double s[BENCH_MAX_RUNS];
    memcpy(s, r->v, sizeof(double) * (size_t)r->runs);
    qsort(s, (size_t)r->runs, sizeof(s[0]), cmp_double);
    /* the middle run, or the mean of the two middle runs */
    return r->runs % 2 ? s[r->runs / 2] : (s[r->runs / 2 - 1] + s[r->runs / 2]) / 2.0;
}

void bench_print(bench_result *r)
{
    if (r->runs == 0)
        return;
    double s[BENCH_MAX_RUNS];
    memcpy(s, r->v, sizeof(double) * (size_t)r->runs);
    qsort(s, (size_t)r->runs, sizeof(s[0]), cmp_double);
    double med = bench_median(r);
    char vmed[32], vmin[32], vmax[32];
    num(vmed, sizeof(vmed), med);
    num(vmin, sizeof(vmin), s[0]);
    num(vmax, sizeof(vmax), s[r->runs - 1]);
    printf("{\"bench\":\"%s\",\"base\":\"%s\",\"n\":%ld,\"payload\":%ld,\"value\":%s,"
           "\"unit\":\"%s\",\"runs\":%d,\"min\":%s,\"median\":%s,\"max\":%s}\n",
           r->bench, r->base, r->n, r->payload, vmed, r->unit, r->runs, vmin, vmed, vmax);
    fflush(stdout);
}

void bench_fail(const char *name, const char *base, const char *what, int rc)
{
    bench_failures++;
    fprintf(stderr, "ens-bench: %s (%s): %s failed: %s\n", name, base, what,
            rc < 0 ? ens_strerror(rc) : "see above");
}

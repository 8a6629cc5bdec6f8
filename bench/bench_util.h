/*
 * bench/bench_util.h - what every ens-bench benchmark shares: a monotonic
 * clock, the run schedule (quick or full), and the one JSON line per result.
 *
 * A result is a set of runs (after a warm-up the caller does not record):
 * value = median, with min and max beside it, so a reader sees the spread.
 */
#ifndef ENS_BENCH_UTIL_H
#define ENS_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_MAX_RUNS 16

/* How much work a run does: set once from the command line. */
typedef struct bench_cfg {
    bool quick; /* --quick: fewer runs, smaller n */
    int runs;   /* recorded runs per result (5 full, 3 quick) */
} bench_cfg;

extern bench_cfg bench;

/* n for a full run, or quick_n with --quick. */
long bench_n(long full_n, long quick_n);

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/* One result being gathered: add a figure per run, then print it. */
typedef struct bench_result {
    const char *bench; /* "pingpong", ... */
    const char *base;  /* "process", "inproc" or "raw" */
    long n;
    long payload; /* bytes of user payload per message (0 if none) */
    const char *unit;
    double v[BENCH_MAX_RUNS];
    int runs;
} bench_result;

void bench_result_init(bench_result *r, const char *name, const char *base, long n, long payload,
                       const char *unit);

/* Record one run's figure (ignored past BENCH_MAX_RUNS). */
void bench_add(bench_result *r, double v);

/* The median of the runs recorded, -1 if none. */
double bench_median(const bench_result *r);

/* Print the JSON line (nothing if no run was recorded) and flush stdout. */
void bench_print(bench_result *r);

/* Report a benchmark that could not run, on stderr (never on stdout, which
 * carries only JSON lines), and count it in bench_failures. */
extern int bench_failures;
void bench_fail(const char *name, const char *base, const char *what, int rc);

#endif

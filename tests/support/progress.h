/*
 * tests/support/progress.h - how far a long run is: a progress line on
 * stdout at a fixed interval, and the same figures as one CSV row per tick
 * (the run's series, for plots: scripts/plots.sh).
 *
 * The interval is ENS_PROGRESS_SECONDS (10 unless set; `make soak` and
 * `make reliability` must say something at least that often). The CSV is
 * written only when ENS_RUN_DIR names a directory (the Makefile's long runs
 * set it to build/runs): ENS_RUN_DIR/<name>.csv, replaced at each run, with
 * a header "time_s,<column>,..." and a row per tick. Without ENS_RUN_DIR the
 * suites under ctest leave no files behind.
 */
#ifndef ENS_TESTS_PROGRESS_H
#define ENS_TESTS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TEST_PROGRESS_MAX_COLUMNS 12

typedef struct test_progress {
    char name[64];  /* the run's name: the line's prefix and the file's name */
    char path[512]; /* the CSV's path; "" when none is written */
    FILE *csv;
    size_t n_columns;
    const char *columns[TEST_PROGRESS_MAX_COLUMNS];
    int64_t start_ns;    /* CLOCK_MONOTONIC at open */
    int64_t interval_ns; /* between ticks */
    int64_t next_ns;     /* the next tick is due at or after this */
    size_t rows;         /* ticks so far */
} test_progress;

/* Starts the clock of run name with n columns (besides time_s, which comes
 * first), and opens ENS_RUN_DIR/<name>.csv with its header when ENS_RUN_DIR
 * is set (the directory is created if missing). Returns 0, or -errno when
 * the CSV cannot be created (the run goes on without one: the line says
 * so), -EINVAL when n is 0 or above TEST_PROGRESS_MAX_COLUMNS. The column
 * names must outlive p. */
int test_progress_open(test_progress *p, const char *name, const char *const *columns, size_t n);

/* True when the interval has passed since the last tick (or since open):
 * for a run whose figures cost something to gather. */
bool test_progress_due(const test_progress *p);

/* When the interval has passed since the last tick (or since open): prints
 * "<name>: <elapsed> s: <column> <value>, ..." on stdout, flushed, and
 * appends the row "<elapsed>,<value>,..." to the CSV. values holds one
 * figure per column. Returns true if it ticked. */
bool test_progress_tick(test_progress *p, const int64_t *values);

/* The same, now, whether due or not (the final row of a run). */
void test_progress_tick_now(test_progress *p, const int64_t *values);

/* Closes the CSV and says where the series is ("<name>: series (N rows) in
 * PATH"). Safe on a p whose open failed. */
void test_progress_close(test_progress *p);

#endif

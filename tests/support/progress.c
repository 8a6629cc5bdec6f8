/*
 * tests/support/progress.c - progress lines and the CSV series of a long
 * run (progress.h).
 */
#include "support/progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int test_progress_open(test_progress *p, const char *name, const char *const *columns, size_t n)
{
    memset(p, 0, sizeof(*p));
    if (n == 0 || n > TEST_PROGRESS_MAX_COLUMNS)
        return -EINVAL;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->n_columns = n;
    for (size_t i = 0; i < n; i++)
        p->columns[i] = columns[i];
    double seconds = 10;
    const char *env = getenv("ENS_PROGRESS_SECONDS");
    if (env != NULL && atof(env) > 0)
        seconds = atof(env);
    p->interval_ns = (int64_t)(seconds * 1e9);
    p->start_ns = mono_ns();
    p->next_ns = p->start_ns + p->interval_ns;

    const char *dir = getenv("ENS_RUN_DIR");
    if (dir == NULL || dir[0] == '\0')
        return 0;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        int e = errno;
        printf("%s: no series: cannot create %s: %s\n", p->name, dir, strerror(e));
        return -e;
    }
    int len = snprintf(p->path, sizeof(p->path), "%s/%s.csv", dir, name);
    if (len < 0 || (size_t)len >= sizeof(p->path)) {
        printf("%s: no series: the directory's name is too long\n", p->name);
        p->path[0] = '\0';
        return -ENAMETOOLONG;
    }
    p->csv = fopen(p->path, "w");
    if (p->csv == NULL) {
        int e = errno;
        printf("%s: no series: cannot create %s: %s\n", p->name, p->path, strerror(e));
        p->path[0] = '\0';
        return -e;
    }
    fputs("time_s", p->csv);
    for (size_t i = 0; i < n; i++)
        fprintf(p->csv, ",%s", columns[i]);
    fputc('\n', p->csv);
    fflush(p->csv);
    return 0;
}

void test_progress_tick_now(test_progress *p, const int64_t *values)
{
    int64_t now = mono_ns();
    double elapsed = (double)(now - p->start_ns) / 1e9;
    printf("%s: %.0f s:", p->name, elapsed);
    for (size_t i = 0; i < p->n_columns; i++)
        printf("%s %s %lld", i == 0 ? "" : ",", p->columns[i], (long long)values[i]);
    printf("\n");
    fflush(stdout);
    if (p->csv != NULL) {
        fprintf(p->csv, "%.1f", elapsed);
        for (size_t i = 0; i < p->n_columns; i++)
            fprintf(p->csv, ",%lld", (long long)values[i]);
        fputc('\n', p->csv);
        fflush(p->csv); /* a run killed halfway leaves its series so far */
    }
    p->rows++;
    p->next_ns = now + p->interval_ns;
}

bool test_progress_due(const test_progress *p)
{
    return p->n_columns > 0 && mono_ns() >= p->next_ns;
}

bool test_progress_tick(test_progress *p, const int64_t *values)
{
    if (!test_progress_due(p))
        return false;
    test_progress_tick_now(p, values);
    return true;
}

void test_progress_close(test_progress *p)
{
    if (p->csv != NULL) {
        fclose(p->csv);
        p->csv = NULL;
        printf("%s: series (%zu rows) in %s\n", p->name, p->rows, p->path);
        fflush(stdout);
    }
}

/*
 * tests/test_progress.c - the progress line and CSV series of long runs
 * (tests/support/progress.c, used by the soak and the kill storm): the CSV
 * gets a header and one row per tick, the line names every figure, a tick
 * comes only when due, and without ENS_RUN_DIR (or with one that cannot be
 * made) the run goes on without a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/deadline.h"
#include "support/progress.h"
#include "support/scratch.h"

static const char *const columns[] = {"kills", "rss_kib"};

typedef struct fixture {
    char dir[64];     /* scratch ENS_RUN_DIR */
    char out[96];     /* where stdout went while capturing */
    int saved_stdout; /* stdout's descriptor while captured, else -1 */
    char captured[4096];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/ens-progress-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->out, sizeof(f->out), "%s/stdout", f->dir);
    f->saved_stdout = -1;
    unsetenv("ENS_RUN_DIR");
    unsetenv("ENS_PROGRESS_SECONDS");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->saved_stdout >= 0) {
        fflush(stdout);
        dup2(f->saved_stdout, STDOUT_FILENO);
        close(f->saved_stdout);
    }
    test_tree_remove(f->dir);
    unsetenv("ENS_RUN_DIR");
    unsetenv("ENS_PROGRESS_SECONDS");
    free(f);
    return 0;
}

/* stdout into f->out until release(): the lines progress.c prints. */
static void capture(fixture *f)
{
    fflush(stdout);
    f->saved_stdout = dup(STDOUT_FILENO);
    assert_true(f->saved_stdout >= 0);
    int fd = open(f->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);
}

static void release(fixture *f)
{
    fflush(stdout);
    dup2(f->saved_stdout, STDOUT_FILENO);
    close(f->saved_stdout);
    f->saved_stdout = -1;
    FILE *in = fopen(f->out, "r");
    assert_non_null(in);
    size_t n = fread(f->captured, 1, sizeof(f->captured) - 1, in);
    f->captured[n] = '\0';
    fclose(in);
}

static void read_file(const char *path, char *buf, size_t len)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    size_t n = fread(buf, 1, len - 1, in);
    buf[n] = '\0';
    fclose(in);
}

/* Does text hold a line "<prefix><whole seconds><rest>"? (The seconds
 * depend on how busy the machine is: any number will do.) */
static bool has_line(const char *text, const char *prefix, const char *rest)
{
    for (const char *l = text; l != NULL && *l != '\0';) {
        if (strncmp(l, prefix, strlen(prefix)) == 0) {
            const char *p = l + strlen(prefix);
            if (*p >= '0' && *p <= '9') {
                while (*p >= '0' && *p <= '9')
                    p++;
                if (strncmp(p, rest, strlen(rest)) == 0)
                    return true;
            }
        }
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    return false;
}

static void test_csv_has_a_header_and_a_row_per_tick(void **state)
{
    fixture *f = *state;
    char runs[128];
    snprintf(runs, sizeof(runs), "%s/runs", f->dir); /* made by open */
    setenv("ENS_RUN_DIR", runs, 1);
    setenv("ENS_PROGRESS_SECONDS", "3600", 1); /* no tick falls due in this test */
    test_progress p;
    capture(f);
    assert_int_equal(test_progress_open(&p, "storm", columns, 2), 0);
    bool ticked = test_progress_tick(&p, (int64_t[]){1, 100});
    test_progress_tick_now(&p, (int64_t[]){3, 2048});
    test_progress_tick_now(&p, (int64_t[]){7, 4096});
    test_progress_close(&p);
    release(f);
    assert_false(ticked);

    char want_path[160];
    snprintf(want_path, sizeof(want_path), "%s/storm.csv", runs);
    assert_string_equal(p.path, want_path);
    char csv[1024];
    read_file(want_path, csv, sizeof(csv));
    char *header = strtok(csv, "\n");
    char *row1 = strtok(NULL, "\n");
    char *row2 = strtok(NULL, "\n");
    assert_non_null(header);
    assert_string_equal(header, "time_s,kills,rss_kib");
    assert_non_null(row1);
    assert_non_null(row2);
    assert_null(strtok(NULL, "\n"));
    /* "<seconds with one decimal>,3,2048" */
    assert_non_null(strchr(row1, '.'));
    assert_string_equal(strchr(row1, ','), ",3,2048");
    assert_string_equal(strchr(row2, ','), ",7,4096");

    assert_true(has_line(f->captured, "storm: ", " s: kills 3, rss_kib 2048\n"));
    assert_true(has_line(f->captured, "storm: ", " s: kills 7, rss_kib 4096\n"));
    char said[256];
    snprintf(said, sizeof(said), "storm: series (2 rows) in %s\n", want_path);
    assert_non_null(strstr(f->captured, said));
}

static void test_tick_comes_when_due(void **state)
{
    fixture *f = *state;
    setenv("ENS_PROGRESS_SECONDS", "0.05", 1);
    test_progress p;
    capture(f);
    assert_int_equal(test_progress_open(&p, "soak", columns, 2), 0);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    bool ticked = false;
    while (!ticked && !test_deadline_passed(d))
        ticked = test_progress_tick(&p, (int64_t[]){1, 2});
    test_progress_close(&p);
    release(f);
    assert_true(ticked);
    assert_int_equal(p.rows, 1);
    assert_true(has_line(f->captured, "soak: ", " s: kills 1, rss_kib 2\n"));
    /* No ENS_RUN_DIR: no file, and close says nothing of one. */
    assert_string_equal(p.path, "");
    assert_null(strstr(f->captured, "series"));
}

static void test_a_run_goes_on_without_its_directory(void **state)
{
    fixture *f = *state;
    char blocked[128];
    snprintf(blocked, sizeof(blocked), "%s/file", f->dir);
    FILE *plain = fopen(blocked, "w"); /* a file where the directory should be */
    assert_non_null(plain);
    fclose(plain);
    char runs[160];
    snprintf(runs, sizeof(runs), "%s/runs", blocked);
    setenv("ENS_RUN_DIR", runs, 1);
    test_progress p;
    capture(f);
    int rc = test_progress_open(&p, "storm", columns, 2);
    test_progress_tick_now(&p, (int64_t[]){1, 2});
    test_progress_close(&p);
    release(f);
    assert_int_equal(rc, -ENOTDIR);
    assert_string_equal(p.path, "");
    assert_int_equal(p.rows, 1);
    assert_non_null(strstr(f->captured, "storm: no series: cannot create"));
    assert_true(has_line(f->captured, "storm: ", " s: kills 1, rss_kib 2\n"));
}

static void test_column_count_is_checked(void **state)
{
    (void)state;
    test_progress p;
    assert_int_equal(test_progress_open(&p, "x", columns, 0), -EINVAL);
    assert_false(test_progress_tick(&p, NULL)); /* an unopened run never ticks */
    const char *many[TEST_PROGRESS_MAX_COLUMNS + 1] = {0};
    assert_int_equal(test_progress_open(&p, "x", many, TEST_PROGRESS_MAX_COLUMNS + 1), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_has_a_header_and_a_row_per_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tick_comes_when_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_run_goes_on_without_its_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_column_count_is_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

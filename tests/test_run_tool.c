/*
 * tests/test_run_tool.c - the runner the CLI suites run `ens` with
 * (tests/support/run_tool.c), on programs every Linux has: an input larger
 * than a pipe holds goes through whole, a program that reads none of it
 * does not take the suite down with SIGPIPE, environment changes set and
 * unset, stderr apart or merged, and a process the program leaves behind
 * holding its output does not keep the runner waiting.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/run_tool.h"

#define SH "/bin/sh"

static char *out_text, *err_text;

static int teardown(void **state)
{
    (void)state;
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    return 0;
}

static void test_an_input_larger_than_a_pipe_goes_through_whole(void **state)
{
    (void)state;
    size_t n = 1 << 20; /* 16 pipe buffers */
    char *in = malloc(n + 1);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    in[n] = '\0';
    test_tool_opts o = {.input = in};
    assert_int_equal(
        test_tool_run("/bin/cat", (const char *const[]){NULL}, &o, &out_text, &err_text), 0);
    assert_int_equal(strlen(out_text), n);
    assert_string_equal(out_text, in);
    assert_string_equal(err_text, "");
    free(in);
}

static void test_an_input_nobody_reads_is_no_signal_to_the_suite(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    char *in = malloc(n + 1);
    assert_non_null(in);
    memset(in, 'x', n);
    in[n] = '\0';
    test_tool_opts o = {.input = in};
    assert_int_equal(
        test_tool_run(SH, (const char *const[]){"-c", "exit 4", NULL}, &o, &out_text, &err_text),
        4);
    free(in);
    /* The suite is still here; nothing is left pending for it either. */
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE));
}

static void test_the_environment_is_set_and_unset(void **state)
{
    (void)state;
    assert_int_equal(setenv("RUN_TOOL_GONE", "still here", 1), 0);
    test_tool_opts o = {.env = (const char *const[]){"RUN_TOOL_GONE", "RUN_TOOL_SET=yes", NULL}};
    const char *script = "echo \"[${RUN_TOOL_GONE-unset}] [$RUN_TOOL_SET]\"; echo oops >&2";
    assert_int_equal(
        test_tool_run(SH, (const char *const[]){"-c", script, NULL}, &o, &out_text, &err_text), 0);
    assert_string_equal(out_text, "[unset] [yes]\n");
    assert_string_equal(err_text, "oops\n");
    /* The test's own environment is as it was. */
    assert_string_equal(getenv("RUN_TOOL_GONE"), "still here");
    assert_null(getenv("RUN_TOOL_SET"));
    unsetenv("RUN_TOOL_GONE");
}

static void test_without_err_stderr_joins_stdout_in_order(void **state)
{
    (void)state;
    const char *script = "echo one; echo two >&2; echo three";
    assert_int_equal(
        test_tool_run(SH, (const char *const[]){"-c", script, NULL}, NULL, &out_text, NULL), 0);
    assert_string_equal(out_text, "one\ntwo\nthree\n");
}

/* Where the left-behind process's pid is written, so that the teardown
 * kills it even when the test failed before reading it. */
static char holder_file[64];

static int kill_holder(void **state)
{
    FILE *f = fopen(holder_file, "r");
    int pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%d", &pid) == 1 && pid > 0)
            kill(pid, SIGKILL); /* not our child: init reaps it */
        fclose(f);
        unlink(holder_file);
    }
    return teardown(state);
}

static void test_a_process_left_holding_the_output_does_not_hold_the_runner(void **state)
{
    (void)state;
    snprintf(holder_file, sizeof(holder_file), "/tmp/run_tool_holder-%d", (int)getpid());
    char kv[96];
    snprintf(kv, sizeof(kv), "HOLDER_FILE=%s", holder_file);
    test_tool_opts o = {.env = (const char *const[]){kv, NULL}};
    /* The shell ends at once; its child keeps stdout and stderr open. A
     * runner that waited for their end would fail at its deadline. */
    const char *script = "sleep 600 & echo $! > \"$HOLDER_FILE\"; echo started";
    assert_int_equal(
        test_tool_run(SH, (const char *const[]){"-c", script, NULL}, &o, &out_text, &err_text), 0);
    assert_string_equal(out_text, "started\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_an_input_larger_than_a_pipe_goes_through_whole, teardown),
        cmocka_unit_test_teardown(test_an_input_nobody_reads_is_no_signal_to_the_suite, teardown),
        cmocka_unit_test_teardown(test_the_environment_is_set_and_unset, teardown),
        cmocka_unit_test_teardown(test_without_err_stderr_joins_stdout_in_order, teardown),
        cmocka_unit_test_teardown(test_a_process_left_holding_the_output_does_not_hold_the_runner,
                                  kill_holder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

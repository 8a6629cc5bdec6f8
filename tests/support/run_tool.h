/*
 * tests/support/run_tool.h - running a built program (the `ens` tool) as a
 * user runs it: a subprocess with its own standard input, output and error,
 * and the suite looking at what it printed and how it exited. Written once
 * for every CLI suite, so each asserts on the output instead of carrying
 * its own fork, pipes and poll loop.
 */
#ifndef ENS_TESTS_RUN_TOOL_H
#define ENS_TESTS_RUN_TOOL_H

/* How to run it; a NULL test_tool_opts means all defaults. */
typedef struct test_tool_opts {
    /* The whole standard input (NULL: an empty one). Written as the
     * program reads it, so a long text cannot block both sides. */
    const char *input;
    /* Changes to the test's environment for the program, NULL-terminated:
     * "NAME=value" sets NAME, "NAME" alone unsets it. NULL: none. */
    const char *const *env;
    /* How long it may take to end (0: TEST_WAIT_MS). */
    int wait_ms;
} test_tool_opts;

/* Run the program at tool with args (NULL-terminated, without argv[0])
 * and wait for it to end. Its standard output goes into *out and its
 * standard error into *err, each malloc'ed and NUL-terminated ("" when it
 * printed nothing); what they held is freed, the caller frees the last.
 * With err NULL, standard error goes into *out too, interleaved as written.
 * Returns the program's exit status. A program that does not end within
 * wait_ms is killed and reaped, and that is a cmocka failure, as is one
 * that did not exit (a signal), or pipes or fork failing. */
int test_tool_run(const char *tool, const char *const *args, const test_tool_opts *opts, char **out,
                  char **err);

#endif

/*
 * tests/test_limits.c - resource exhaustion on the process base: spawning
 * past RLIMIT_NOFILE and RLIMIT_NPROC gives the spawner a clear error
 * (ENS_EAGAIN) and the system goes on serving the actors it has.
 *
 * Each case runs in a forked child, so the lowered limits (and, for
 * RLIMIT_NPROC, which root ignores, the switch to the user nobody) stay out
 * of the test runner. The child reports by its exit status; it shuts its
 * system down before it exits, and the parent kills it if it hangs.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"

#define WAIT_MS   30000
#define MAX_SPAWN 2000

static int echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *s = ens_msg_value(m, ENS_MSG_STRING);
    return s != NULL ? ens_reply(c, ENS_MSG_STRING, s) : 0;
}

static const ens_actor_def echo_def = {"limits.Echo", 0, NULL, echo_receive, NULL, NULL, NULL};

static int echo_ok(ens_system *s, ens_addr to)
{
    ens_msg *r = NULL;
    int rc = ens_ask(ens_system_ctx(s), to, ENS_MSG_STRING, &(ens_string_v){"still"}, WAIT_MS, &r);
    const ens_string_v *v = ens_msg_value(r, ENS_MSG_STRING);
    int ok = rc == 0 && v != NULL;
    ens_msg_free(r);
    return ok;
}

/* In the child: start a system, spawn until refused, check the refusal and
 * that every actor spawned still answers. Exit codes name the failure. */
static int spawn_until_refused(const char *what)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    ens_system *s = NULL;
    if (ens_system_start(&o, &s) != 0)
        return 20;
    static ens_addr a[MAX_SPAWN];
    int n = 0, rc = 0;
    while (n < MAX_SPAWN && (rc = ens_spawn(ens_system_ctx(s), &echo_def, NULL, NULL, &a[n])) == 0)
        n++;
    int code = 0;
    if (n == 0 || n == MAX_SPAWN)
        code = 21; /* the limit never bit, or nothing could start */
    else if (rc != ENS_EAGAIN)
        code = 22;
    for (int i = 0; code == 0 && i < n; i++) {
        if (!echo_ok(s, a[i]))
            code = 23;
    }
    printf("# %s: %d actors spawned, then %s; all of them still answer: %s\n", what, n,
           ens_err_name(rc), code == 0 ? "yes" : "no");
    fflush(stdout);
    if (ens_system_shutdown(s, WAIT_MS) != 0 && code == 0)
        code = 24;
    return code;
}

/* Run fn in a child and check it exits 0 within the wait. */
static void in_child(int (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int status = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 120) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the child hung");
        }
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL); /* polling a child's exit, not synchronising */
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child failed: %s %d", WIFEXITED(status) ? "exit" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static int nofile_case(void)
{
    struct rlimit rl = {96, 96};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 10;
    return spawn_until_refused("RLIMIT_NOFILE 96");
}

static int nproc_case(void)
{
    struct rlimit rl = {48, 48};
    if (setrlimit(RLIMIT_NPROC, &rl) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        return 10;
    return spawn_until_refused("RLIMIT_NPROC 48 (user nobody)");
}

static void test_nofile_limit(void **state)
{
    (void)state;
    in_child(nofile_case);
}

static void test_nproc_limit(void **state)
{
    (void)state;
    if (getuid() != 0)
        skip(); /* needs root to become another user (root ignores NPROC) */
    in_child(nproc_case);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nofile_limit),
        cmocka_unit_test(test_nproc_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

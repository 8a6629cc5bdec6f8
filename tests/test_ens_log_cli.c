/*
 * tests/test_ens_log_cli.c - `ens log NAME` as a user runs it: the built
 * `ens` (ENS_TOOL_PATH) as a subprocess, with XDG_STATE_HOME pointing at a
 * scratch directory. The log is first the one a real named system wrote
 * (the format comes from the library, not from this test), then lines
 * added by hand around it: the older part first, --level, --actor and
 * --lines filters, -f printing a line appended later and one written after
 * a rotation, and clear errors for a bad name, a missing log (naming the
 * path) and bad option values.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"
#include "support/deadline.h"
#include "support/run_tool.h"
#include "support/scratch.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

typedef struct fixture {
    char dir[64];
    char env[96];
    char name[48];
    char log[192], older[200];
    char out[128], err[128];
    char *out_text, *err_text;
    pid_t follower;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ens_logcli_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->env, sizeof(fx->env), "XDG_STATE_HOME=%s", fx->dir);
    snprintf(fx->name, sizeof(fx->name), "logcli-%d", (int)getpid());
    snprintf(fx->log, sizeof(fx->log), "%s/ensemble/%s.log", fx->dir, fx->name);
    snprintf(fx->older, sizeof(fx->older), "%s.1", fx->log);
    snprintf(fx->out, sizeof(fx->out), "%s/stdout", fx->dir);
    snprintf(fx->err, sizeof(fx->err), "%s/stderr", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->follower > 0) {
        kill(fx->follower, SIGKILL);
        waitpid(fx->follower, NULL, 0);
    }
    free(fx->out_text);
    free(fx->err_text);
    test_tree_remove(fx->dir);
    free(fx);
    return 0;
}

/* The file at path ("" while it does not exist yet). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL && errno == ENOENT) {
        char *none = calloc(1, 1);
        assert_non_null(none);
        return none;
    }
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Start ens with args (NULL-terminated), stdout and stderr into files. */
static pid_t spawn_ens(fixture *fx, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = ENS_TOOL_PATH;
    for (; args[n - 1] != NULL && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(fx->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(fx->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        putenv(fx->env);
        execv(ENS_TOOL_PATH, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int run(fixture *fx, const char *const *args)
{
    test_tool_opts o = {.env = (const char *const[]){fx->env, NULL}};
    return test_tool_run(ENS_TOOL_PATH, args, &o, &fx->out_text, &fx->err_text);
}

#define RUN(fx, ...) run((fx), (const char *const[]){__VA_ARGS__, NULL})

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* ---- a log written by a real system ---- */

static int talker_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || strcmp(s->text, "go") != 0)
        return 0;
    ens_log(c, ENS_LOG_WARN, "a warning from the talker");
    ens_log(c, ENS_LOG_INFO, "some news from the talker");
    return ens_reply(c, &ens_msg_int64, &(ens_int64_v){0});
}

static const ens_actor_def talker_def = {
    "logcli.Talker", 0, NULL, talker_receive, NULL, NULL, NULL, NULL, NULL};

/* Run a named system that logs two lines from one actor, and stop it. */
static void write_real_log(fixture *fx, ens_addr *actor)
{
    assert_int_equal(setenv("XDG_STATE_HOME", fx->dir, 1), 0);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = fx->name;
    o.journal_path = "";
    o.log_level = ENS_LOG_INFO;
    fflush(NULL);
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, actor), 0);
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(s), *actor, &ens_msg_string, &(ens_string_v){"go"},
                             TEST_WAIT_MS, &r),
                     0);
    ens_msg_free(r);
    assert_int_equal(ens_system_stop(s, TEST_WAIT_MS), 0);
}

static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_log_prints_the_older_part_first_and_filters(void **state)
{
    fixture *fx = *state;
    ens_addr talker;
    write_real_log(fx, &talker);
    char addr[ENS_ADDR_STRLEN], other[80];
    ens_addr_format(talker, addr, sizeof(addr));
    /* Lines of another actor and an error, in the format of the library. */
    char line[512];
    snprintf(line, sizeof(line),
             "2026-12-07T10:00:00.000Z ERROR [%s] 4242 logcli.Other ens:77/99: an old error\n",
             fx->name);
    append(fx->older, line);
    snprintf(other, sizeof(other), "ens:77/99");

    assert_int_equal(RUN(fx, "log", fx->name), 0);
    const char *old = strstr(fx->out_text, "an old error");
    const char *warn = strstr(fx->out_text, "a warning from the talker");
    assert_non_null(old);
    assert_non_null(warn);
    assert_true(old < warn); /* NAME.log.1 before NAME.log */
    assert_contains(fx->out_text, "some news from the talker");

    assert_int_equal(RUN(fx, "log", fx->name, "--level", "warn"), 0);
    assert_contains(fx->out_text, "an old error");
    assert_contains(fx->out_text, "a warning from the talker");
    assert_null(strstr(fx->out_text, "some news"));
    assert_int_equal(RUN(fx, "log", fx->name, "--level", "ERROR"), 0);
    assert_int_equal(count_lines(fx->out_text), 1);
    assert_contains(fx->out_text, "an old error");

    assert_int_equal(RUN(fx, "log", fx->name, "--actor", addr), 0);
    if (count_lines(fx->out_text) != 2)
        fail_msg("--actor %s printed:\n%s", addr, fx->out_text);
    assert_contains(fx->out_text, "a warning from the talker");
    assert_contains(fx->out_text, "some news from the talker");
    assert_int_equal(RUN(fx, "log", fx->name, "--actor", other), 0);
    assert_int_equal(count_lines(fx->out_text), 1);
    assert_contains(fx->out_text, "an old error");
    assert_int_equal(RUN(fx, "log", fx->name, "--actor", addr, "--level", "warn"), 0);
    assert_int_equal(count_lines(fx->out_text), 1);
    assert_contains(fx->out_text, "a warning from the talker");

    assert_int_equal(RUN(fx, "log", fx->name, "--lines", "1"), 0);
    assert_int_equal(count_lines(fx->out_text), 1);
    assert_contains(fx->out_text, "some news from the talker");
}

static void test_log_errors_name_the_problem(void **state)
{
    fixture *fx = *state;
    assert_int_equal(RUN(fx, "log", "a/b"), 2);
    assert_contains(fx->err_text, "'a/b' is not a system name");
    assert_int_equal(RUN(fx, "log", fx->name), 1);
    assert_contains(fx->err_text, "no log for system");
    assert_contains(fx->err_text, fx->log); /* the path it looked at */
    assert_int_equal(RUN(fx, "log", fx->name, "--level", "loud"), 2);
    assert_contains(fx->err_text, "--level 'loud'");
    assert_int_equal(RUN(fx, "log", fx->name, "--actor", "nobody"), 2);
    assert_contains(fx->err_text, "--actor 'nobody' is not an address");
    assert_int_equal(RUN(fx, "log", fx->name, "--lines", "0"), 2);
    assert_int_equal(RUN(fx, "log"), 2);
    assert_int_equal(RUN(fx, "log", "--help"), 0);
    assert_contains(fx->out_text, "usage: ens log NAME");
    assert_int_equal(RUN(fx, "--help"), 0);
    assert_contains(fx->out_text, "  log ");
}

/* Wait until the follower's output holds needle. */
static void wait_for_output(fixture *fx, const char *needle)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        char *text = slurp(fx->out);
        bool found = strstr(text, needle) != NULL;
        if (!found && test_deadline_passed(d))
            fail_msg("ens log -f never printed \"%s\"; it printed:\n%s", needle, text);
        free(text);
        if (found)
            return;
        int status;
        if (waitpid(fx->follower, &status, WNOHANG) == fx->follower) {
            fx->follower = 0;
            fail_msg("ens log -f ended (status %d): %s", status, slurp(fx->err));
        }
        test_nap_ms(20);
    }
}

static void test_log_follow_sees_new_lines_across_a_rotation(void **state)
{
    fixture *fx = *state;
    char dir[96];
    snprintf(dir, sizeof(dir), "%s/ensemble", fx->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char line[512];
    snprintf(line, sizeof(line),
             "2026-12-07T10:00:00.000Z WARN  [%s] 4242 logcli.Other ens:77/99: first\n", fx->name);
    append(fx->log, line);
    fx->follower = spawn_ens(fx, (const char *const[]){"log", fx->name, "-f", NULL});
    wait_for_output(fx, "ens:77/99: first");
    snprintf(line, sizeof(line),
             "2026-12-07T10:00:01.000Z WARN  [%s] 4242 logcli.Other ens:77/99: appended\n",
             fx->name);
    append(fx->log, line);
    wait_for_output(fx, "ens:77/99: appended");
    /* Rotated as the system does it: renamed to .1, a new file. */
    snprintf(line, sizeof(line),
             "2026-12-07T10:00:02.000Z WARN  [%s] 4242 logcli.Other ens:77/99: before the "
             "rename\n",
             fx->name);
    append(fx->log, line);
    assert_int_equal(rename(fx->log, fx->older), 0);
    snprintf(line, sizeof(line),
             "2026-12-07T10:00:03.000Z WARN  [%s] 4242 logcli.Other ens:77/99: after the "
             "rotation\n",
             fx->name);
    append(fx->log, line);
    wait_for_output(fx, "after the rotation");
    char *text = slurp(fx->out);
    const char *before = strstr(text, "before the rename");
    const char *after = strstr(text, "after the rotation");
    assert_non_null(before);
    assert_true(before < after);
    free(text);
    kill(fx->follower, SIGTERM);
    waitpid(fx->follower, NULL, 0);
    fx->follower = 0;
}

/* A running system that logs to a file of its own choosing (a relative
 * log_path): `ens log NAME` finds it through the system's status, which
 * names it absolute (its relative journal_path too); one that logs to
 * stderr is said to, not looked for. */
static void test_log_of_a_running_system_follows_its_log_path(void **state)
{
    fixture *fx = *state;
    assert_int_equal(setenv("XDG_STATE_HOME", fx->dir, 1), 0);
    char here[512], mine[256];
    assert_non_null(getcwd(here, sizeof(here)));
    snprintf(mine, sizeof(mine), "%s/mine.log", fx->dir);
    assert_int_equal(chdir(fx->dir), 0);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = fx->name;
    o.journal_path = "mine.db";
    o.log_level = ENS_LOG_INFO;
    o.log_path = "mine.log";
    fflush(NULL);
    ens_system *s = NULL;
    int rc = ens_system_start(&o, &s);
    assert_int_equal(chdir(here), 0);
    assert_int_equal(rc, 0);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, TEST_WAIT_MS, &st), 0);
    assert_non_null(ens_status_log(st));
    assert_string_equal(ens_status_log(st), mine);
    snprintf(mine, sizeof(mine), "%s/mine.db", fx->dir); /* the journal too */
    assert_string_equal(ens_status_journal(st), mine);
    ens_status_free(st);
    ens_addr talker;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &talker_def, NULL, NULL, &talker), 0);
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(s), talker, &ens_msg_string, &(ens_string_v){"go"},
                             TEST_WAIT_MS, &r),
                     0);
    ens_msg_free(r);
    int code = RUN(fx, "log", fx->name, "--level", "warn");
    if (code != 0)
        fail_msg("ens log exited %d: %s", code, fx->err_text);
    assert_contains(fx->out_text, "a warning from the talker");
    assert_int_equal(ens_system_stop(s, TEST_WAIT_MS), 0);

    o.journal_path = "";
    o.log_path = NULL;
    o.log_target = ENS_LOG_TO_STDERR;
    o.log_level = ENS_LOG_ERROR;
    assert_int_equal(ens_system_start(&o, &s), 0);
    assert_int_equal(RUN(fx, "log", fx->name), 1);
    assert_contains(fx->err_text, "logs to stderr or syslog");
    assert_int_equal(ens_system_stop(s, TEST_WAIT_MS), 0);
    assert_null(ens_status_log(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_prints_the_older_part_first_and_filters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_errors_name_the_problem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_follow_sees_new_lines_across_a_rotation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_of_a_running_system_follows_its_log_path, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

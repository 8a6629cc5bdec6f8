/*
 * tests/test_ens_complete.c - what Tab offers in `ens shell`
 * (tools/ens_complete.c, linked in): the commands for the first word, the
 * running systems after `connect`, the global names of the system in use
 * for a TARGET, nothing for free text; the command list is the one the
 * shell's help shows.
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ens_complete.h"
#include "ensemble/ensemble.h"
#include "support/deadline.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define WAIT_MS 30000

static ens_system *sys;
static char sys_name[64], other_name[64];
static ens_system *other;

static int idle_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c, (void)state, (void)m;
    return 0;
}
static const ens_actor_def idle_def = {.name = "cmpl.Idle", .receive = idle_receive};

static int group_setup(void **state)
{
    (void)state;
    snprintf(sys_name, sizeof(sys_name), "cmpl-%d", (int)getpid());
    snprintf(other_name, sizeof(other_name), "cmplz-%d", (int)getpid());
    if (ens_actor_register(&idle_def) != 0)
        return -1;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = sys_name;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    fflush(NULL);
    if (ens_system_start(&o, &sys) != 0)
        return -1;
    o.name = other_name;
    if (ens_system_start(&o, &other) != 0)
        return -1;
    ens_addr a;
    const char *names[] = {"cmpl.alpha", "cmpl.beta", "cmpl.gamma", "other.one"};
    for (size_t i = 0; i < 4; i++)
        if (ens_name_spawn(ens_system_ctx(sys), names[i], &idle_def, NULL, NULL, &a) != 0)
            return -1;
    if (ens_spawn(ens_system_ctx(sys), &idle_def, NULL, NULL, &a) != 0) /* no name */
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (sys != NULL)
        ens_system_stop(sys, 5000);
    if (other != NULL)
        ens_system_stop(other, 5000);
    return 0;
}

/* list as one text, "a b c", or "(none)". */
static const char *joined(char **list)
{
    static char text[4096];
    size_t k = 0;
    text[0] = '\0';
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        k += (size_t)snprintf(text + k, sizeof(text) - k, "%s%s", i > 0 ? " " : "", list[i]);
    if (list == NULL)
        snprintf(text, sizeof(text), "(none)");
    return text;
}

static void expect(const char *line, const char *prefix, ens_system *s, const char *want)
{
    size_t start = strlen(line) - strlen(prefix);
    char **list = ens_tool_complete(line, start, prefix, s, WAIT_MS);
    const char *got = joined(list);
    if (strcmp(got, want) != 0)
        fail_msg("completing '%s' at %zu: got '%s', want '%s'", line, start, got, want);
    ens_tool_complete_free(list);
}

static void test_the_word_before_decides_what_is_completed(void **state)
{
    (void)state;
    assert_int_equal(ens_tool_complete_kind("", 0), ENS_TOOL_COMPLETE_COMMAND);
    assert_int_equal(ens_tool_complete_kind("  con", 2), ENS_TOOL_COMPLETE_COMMAND);
    assert_int_equal(ens_tool_complete_kind("connect ", 8), ENS_TOOL_COMPLETE_SYSTEM);
    assert_int_equal(ens_tool_complete_kind("connect\tsy", 8), ENS_TOOL_COMPLETE_SYSTEM);
    assert_int_equal(ens_tool_complete_kind("ask ", 4), ENS_TOOL_COMPLETE_NAME);
    assert_int_equal(ens_tool_complete_kind("tell  x", 6), ENS_TOOL_COMPLETE_NAME);
    assert_int_equal(ens_tool_complete_kind("lookup ", 7), ENS_TOOL_COMPLETE_NAME);
    assert_int_equal(ens_tool_complete_kind("set $1 ", 7), ENS_TOOL_COMPLETE_NAME);
    /* The TEXT of ask, a second SYSTEM, options, unknown commands: nothing. */
    assert_int_equal(ens_tool_complete_kind("ask cmpl.alpha ", 15), ENS_TOOL_COMPLETE_NONE);
    assert_int_equal(ens_tool_complete_kind("ask \"a b\" ", 10), ENS_TOOL_COMPLETE_NONE);
    assert_int_equal(ens_tool_complete_kind("ask --type demo.Greeting ", 25),
                     ENS_TOOL_COMPLETE_NAME);
    assert_int_equal(ens_tool_complete_kind("tell --type t x ", 16), ENS_TOOL_COMPLETE_NONE);
    assert_int_equal(ens_tool_complete_kind("connect a ", 10), ENS_TOOL_COMPLETE_NONE);
    assert_int_equal(ens_tool_complete_kind("set ", 4), ENS_TOOL_COMPLETE_NONE);
    assert_int_equal(ens_tool_complete_kind("status ", 7), ENS_TOOL_COMPLETE_NONE);
    assert_int_equal(ens_tool_complete_kind("bogus ", 6), ENS_TOOL_COMPLETE_NONE);
}

static void test_commands(void **state)
{
    (void)state;
    expect("", "", NULL,
           "ask connect disconnect exit help journal lookup names quit regs set shutdown status "
           "tell timeout types");
    expect("con", "con", NULL, "connect");
    expect("  s", "s", NULL, "set shutdown status");
    expect("t", "t", NULL, "tell timeout types");
    expect("zz", "zz", NULL, "(none)");
}

static void test_systems_after_connect(void **state)
{
    (void)state;
    char want[160], prefix[16];
    snprintf(want, sizeof(want), "%s %s", sys_name, other_name);
    expect("connect cmpl", "cmpl", NULL, want);
    snprintf(prefix, sizeof(prefix), "cmplz");
    char line[64];
    snprintf(line, sizeof(line), "connect %s", prefix);
    expect(line, prefix, NULL, other_name);
    expect("connect nosuchsystem-", "nosuchsystem-", NULL, "(none)");
}

static void test_global_names_of_the_system_in_use(void **state)
{
    (void)state;
    expect("ask cmpl.", "cmpl.", sys, "cmpl.alpha cmpl.beta cmpl.gamma");
    expect("tell cmpl.b", "cmpl.b", sys, "cmpl.beta");
    expect("lookup ", "", sys, "cmpl.alpha cmpl.beta cmpl.gamma other.one");
    expect("set $0 o", "o", sys, "other.one");
    expect("ask ", "", other, "(none)");            /* it has no named actor */
    expect("ask cmpl.", "cmpl.", NULL, "(none)");   /* not connected */
    expect("ask cmpl.alpha c", "c", sys, "(none)"); /* the TEXT */
}

/* Every command offered is one `ens shell --help` lists, and the other
 * way round. */
static void test_the_commands_are_those_of_the_help(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/ens-complete-help-%d", (int)getpid());
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(127);
        execl(ENS_TOOL_PATH, ENS_TOOL_PATH, "shell", "--help", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    static char help[8192];
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    help[fread(help, 1, sizeof(help) - 1, fp)] = '\0';
    fclose(fp);
    unlink(path);
    size_t count = 0;
    for (size_t i = 0; ens_tool_shell_commands[i] != NULL; i++, count++) {
        char want[32];
        snprintf(want, sizeof(want), "\n  %s", ens_tool_shell_commands[i]);
        const char *at = strstr(help, want);
        if (at == NULL)
            snprintf(want, sizeof(want), ", %s", ens_tool_shell_commands[i]); /* "quit, exit" */
        if (at == NULL && strstr(help, want) == NULL)
            fail_msg("the help does not list command %s", ens_tool_shell_commands[i]);
    }
    /* Each command line of the help ("  WORD ...") is offered. */
    const char *p = strstr(help, "commands:\n");
    assert_non_null(p);
    size_t listed = 0;
    for (p = strchr(p, '\n') + 1; strncmp(p, "  ", 2) == 0; p = strchr(p, '\n') + 1) {
        char word[32];
        assert_int_equal(sscanf(p, " %31[a-z]", word), 1);
        bool found = false;
        for (size_t i = 0; ens_tool_shell_commands[i] != NULL && !found; i++)
            found = strcmp(ens_tool_shell_commands[i], word) == 0;
        if (!found)
            fail_msg("Tab does not offer command %s of the help", word);
        listed++;
    }
    assert_int_equal(listed + 1, count); /* "quit, exit" is one line */
}

/* End to end: `ens shell SYSTEM` on a terminal (a pty), typed "loo<Tab>"
 * and "cmpl.al<Tab>": libedit asks the completer, the line becomes
 * "lookup cmpl.alpha" and the lookup finds the actor. */
static void test_tab_in_the_shell_on_a_terminal(void **state)
{
    (void)state;
    int master = -1;
    fflush(NULL);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("TERM", "dumb", 1);
        execl(ENS_TOOL_PATH, ENS_TOOL_PATH, "shell", sys_name, (char *)NULL);
        _exit(127);
    }
    /* Typed one piece at a time, each after the prompt or the echo of the
     * piece before: libedit reads the terminal as it goes. */
    static char out[1 << 15];
    size_t len = 0;
    const char *steps[][2] = {
        {"> ", "loo\t"},
        {"lookup ", "cmpl.al\t"},
        {"cmpl.alpha", "\n"},
        {"(cmpl.alpha)", "quit\n"},
    };
    size_t step = 0;
    test_deadline d = test_deadline_in(WAIT_MS);
    bool ended = false;
    while (!ended && !test_deadline_passed(d)) {
        if (step < 4 && strstr(out, steps[step][0]) != NULL) {
            assert_true(write(master, steps[step][1], strlen(steps[step][1])) > 0);
            step++;
            continue;
        }
        struct pollfd pf = {master, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        ssize_t n = read(master, out + len, sizeof(out) - 1 - len);
        if (n <= 0) {
            ended = true; /* EIO: the shell ended and closed the terminal */
            break;
        }
        len += (size_t)n;
        out[len] = '\0';
    }
    if (!ended)
        kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(master);
    print_message("the terminal showed:\n%s\n", out);
    if (step < 4)
        fail_msg("the shell never showed '%s'", steps[step][0]);
    assert_true(ended);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_null(strstr(out, "no actor is named"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_word_before_decides_what_is_completed),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_systems_after_connect),
        cmocka_unit_test(test_global_names_of_the_system_in_use),
        cmocka_unit_test(test_the_commands_are_those_of_the_help),
        cmocka_unit_test(test_tab_in_the_shell_on_a_terminal),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

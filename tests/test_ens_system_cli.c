/*
 * tests/test_ens_system_cli.c - `ens status`, `ens names`, `ens ask`,
 * `ens tell`, `ens shell` and `ens shutdown` against a live process-base
 * system. The test starts a
 * named system with one echo actor, runs the built `ens` (ENS_TOOL_PATH,
 * set by CMakeLists.txt) as a subprocess with stdout and stderr read
 * through pipes, and checks exit codes and text: the status tree and its
 * JSON lines, an echoed ask, a tell that the actor counts, a poisoned ask,
 * a dead address, actors by global name (the echo is named "cli-echo"),
 * `ens shell` driven through a pipe, an unknown system, bad arguments, and
 * finally a shutdown that the test's own handle sees as the end of the
 * system.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/process/proc.h"
#include "ensemble/ensemble.h"
#include "support/deadline.h"
#include "support/json_doc.h"
#include "support/run_tool.h"
#include "support/squat.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define WAIT_MS 30000

/* ---- the actor: echoes, counts "tell:" texts, fails on "fail" ---- */

typedef struct echo_state {
    int told;
} echo_state;

static int echo_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    echo_state *st = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL)
        return 0;
    char buf[256];
    if (strncmp(s->text, "tell:", 5) == 0) {
        st->told++;
        return 0;
    }
    if (strcmp(s->text, "fail") == 0)
        return ENS_EINVAL;
    if (strcmp(s->text, "count?") == 0)
        snprintf(buf, sizeof(buf), "count: %d", st->told);
    else
        snprintf(buf, sizeof(buf), "echo: %s", s->text);
    ens_string_v r = {buf};
    return ens_reply(c, &ens_msg_string, &r);
}

static const ens_actor_def echo_def = {
    "clitest.Echo", sizeof(echo_state), NULL, echo_receive, NULL, NULL, NULL, NULL, NULL};

/* A parent with one child, for the tree of `ens status`. */
static int ignore_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c, (void)state, (void)m;
    return 0;
}

static const ens_actor_def grandchild_def = {
    "clitest.Grandchild", 0, NULL, ignore_receive, NULL, NULL, NULL, NULL, NULL};

/* The child has a child of its own: a tree three levels deep. */
static int child_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    ens_addr grandchild;
    return ens_spawn(c, &grandchild_def, NULL, NULL, &grandchild);
}

static const ens_actor_def child_def = {
    "clitest.Child", 0, child_init, ignore_receive, NULL, NULL, NULL, NULL, NULL};

static int parent_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    ens_addr child;
    return ens_spawn(c, &child_def, NULL, NULL, &child);
}

static const ens_actor_def parent_def = {
    "clitest.Parent", 0, parent_init, ignore_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- the system, shared by the tests in order ---- */

static ens_system *sys;
static char sys_name[64];
static ens_addr echo_addr, parent_addr;
static char echo_text[ENS_ADDR_STRLEN], parent_text[ENS_ADDR_STRLEN];
static char *out_text, *err_text;

static int group_setup(void **state)
{
    (void)state;
    snprintf(sys_name, sizeof(sys_name), "clitest-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = sys_name;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    fflush(NULL);
    if (ens_system_start(&o, &sys) != 0)
        return -1;
    if (ens_name_spawn(ens_system_ctx(sys), "cli-echo", &echo_def, NULL, NULL, &echo_addr) != 0)
        return -1;
    if (ens_addr_format(echo_addr, echo_text, sizeof(echo_text)) < 0)
        return -1;
    if (ens_spawn(ens_system_ctx(sys), &parent_def, NULL, NULL, &parent_addr) != 0)
        return -1;
    if (ens_addr_format(parent_addr, parent_text, sizeof(parent_text)) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (sys != NULL) /* the shutdown test did not get there */
        ens_system_stop(sys, 5000);
    sys = NULL;
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    return 0;
}

/* ---- running ens ---- */

/* Run ens with args (NULL-terminated, without argv[0]) and `input` (or
 * nothing) on its standard input. Returns the exit code; the output is in
 * out_text / err_text. */
static int run_input(const char *input, const char *const *args)
{
    test_tool_opts o = {.input = input, .wait_ms = WAIT_MS};
    return test_tool_run(ENS_TOOL_PATH, args, &o, &out_text, &err_text);
}

#define RUN(...)              run_input(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_INPUT(input, ...) run_input(input, (const char *const[]){__VA_ARGS__, NULL})

static void assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, text);
}

/* ---- the tests ---- */

static void test_status_lists_the_actor(void **state)
{
    (void)state;
    assert_int_equal(RUN("status", sys_name), 0);
    print_message("%s", out_text);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(sys, WAIT_MS, &st), 0);
    char admin[64];
    snprintf(admin, sizeof(admin), "admin pid %d", ens_status_admin_pid(st));
    ens_status_free(st);
    assert_contains(out_text, sys_name);
    assert_contains(out_text, admin);
    assert_contains(out_text, "TYPE");
    assert_contains(out_text, "clitest.Echo");
    assert_contains(out_text, echo_text);
    assert_contains(out_text, "actors 4");
    /* The tree is drawn with its lines: the child under its parent, the
     * grandchild one level further (ASCII lines in the C locale, box
     * drawing in a UTF-8 one). */
    const char *parent = strstr(out_text, "\nclitest.Parent ");
    assert_non_null(parent);
    const char *child = strstr(out_text, "\n`-clitest.Child ");
    if (child == NULL)
        child = strstr(out_text, "\n└─clitest.Child ");
    assert_non_null(child);
    const char *grandchild = strstr(out_text, "\n  `-clitest.Grandchild ");
    if (grandchild == NULL)
        grandchild = strstr(out_text, "\n  └─clitest.Grandchild ");
    assert_non_null(grandchild);
    assert_true(parent < child && child < grandchild);
    assert_non_null(strstr(out_text, "\nclitest.Echo "));
    assert_contains(out_text, "NAME");
    assert_contains(out_text, "cli-echo");
    assert_string_equal(err_text, "");
}

/* `ens status --json`: {"actors": [...]}, one object per actor with its
 * parent and depth. */
static void test_status_json(void **state)
{
    (void)state;
    assert_int_equal(RUN("status", "--json", sys_name), 0);
    print_message("%s", out_text);
    json_t *rows, *root = json_doc(out_text, "actors", &rows);
    assert_int_equal(json_array_size(rows), 4);
    json_t *echo = json_row_where(rows, "type", "clitest.Echo");
    assert_non_null(echo);
    assert_string_equal(json_text(echo, "address"), echo_text);
    assert_string_equal(json_text(echo, "system"), sys_name);
    assert_string_equal(json_text(echo, "name"), "cli-echo");
    assert_true(json_is_null_at(echo, "parent"));
    assert_int_equal(json_num(echo, "depth"), 0);
    assert_int_equal(json_num(echo, "restarts"), 0);
    assert_true(json_num(echo, "pid") > 0);
    assert_true(json_num(echo, "admin_pid") > 0);
    assert_true(json_num(echo, "rss_kib") >= 0);
    json_t *child = json_row_where(rows, "type", "clitest.Child");
    assert_non_null(child);
    assert_string_equal(json_text(child, "parent"), parent_text);
    assert_int_equal(json_num(child, "depth"), 1);
    assert_true(json_is_null_at(child, "name"));
    json_t *grandchild = json_row_where(rows, "type", "clitest.Grandchild");
    assert_non_null(grandchild);
    assert_string_equal(json_text(grandchild, "parent"), json_text(child, "address"));
    assert_int_equal(json_num(grandchild, "depth"), 2);
    json_decref(root);
    assert_string_equal(err_text, "");
}

/* `ens status --json --tree`: children nested in their parent. */
static void test_status_json_tree(void **state)
{
    (void)state;
    assert_int_equal(RUN("status", "--json", "--tree", sys_name), 0);
    json_t *rows, *root = json_doc(out_text, "actors", &rows);
    assert_int_equal(json_array_size(rows), 2); /* the echo and the parent */
    json_t *parent = json_row_where(rows, "type", "clitest.Parent");
    assert_non_null(parent);
    json_t *children = json_object_get(parent, "children");
    assert_int_equal(json_array_size(children), 1);
    json_t *child = json_array_get(children, 0);
    assert_string_equal(json_text(child, "type"), "clitest.Child");
    json_t *grand = json_object_get(child, "children");
    assert_int_equal(json_array_size(grand), 1);
    assert_string_equal(json_text(json_array_get(grand, 0), "type"), "clitest.Grandchild");
    json_decref(root);
    assert_int_equal(RUN("names", "--tree", sys_name), 2); /* status only */
}

static void test_names_lists_the_name(void **state)
{
    (void)state;
    assert_int_equal(RUN("names", sys_name), 0);
    print_message("%s", out_text);
    char line[160];
    snprintf(line, sizeof(line), "system %s  names 1\n", sys_name);
    assert_contains(out_text, line);
    assert_contains(out_text, "NAME");
    assert_contains(out_text, "cli-echo");
    assert_contains(out_text, echo_text);
    assert_contains(out_text, "clitest.Echo");
    assert_int_equal(RUN("names", "--json", sys_name), 0);
    json_t *rows, *root = json_doc(out_text, "names", &rows);
    assert_int_equal(json_array_size(rows), 1);
    json_t *row = json_array_get(rows, 0);
    assert_string_equal(json_text(row, "name"), "cli-echo");
    assert_string_equal(json_text(row, "address"), echo_text);
    assert_string_equal(json_text(row, "type"), "clitest.Echo");
    assert_string_equal(json_text(row, "system"), sys_name);
    assert_true(json_num(row, "pid") > 0);
    json_decref(root);
    assert_string_equal(err_text, "");
}

static void test_ask_and_tell_by_name(void **state)
{
    (void)state;
    assert_int_equal(RUN("ask", sys_name, "cli-echo", "by name"), 0);
    assert_string_equal(out_text, "echo: by name\n");
    assert_string_equal(err_text, "");
    assert_int_equal(RUN("ask", sys_name, "nobody", "hi"), 1);
    assert_string_equal(out_text, "");
    assert_contains(err_text, "no actor is named 'nobody'");
    assert_contains(err_text, sys_name);
    assert_int_equal(RUN("tell", sys_name, "nobody", "hi"), 1);
    assert_contains(err_text, "no actor is named 'nobody'");
    assert_contains(err_text, "dead letter");
}

/* `ens shell` reads a script from a pipe: no prompt, registers filled by
 * names, status and lookup, targets by register, name and address. */
static void test_shell_script(void **state)
{
    (void)state;
    char script[1024];
    snprintf(script, sizeof(script),
             "# a comment, then commands\n"
             "names\n"
             "ask $0 hello\n"
             "ask cli-echo \"two  words\"\n"
             "ask %s third\n"
             "lookup cli-echo\n"
             "status\n"
             "ask nobody hi\n"
             "ask $99 hi\n"
             "frobnicate\n"
             "set $1 cli-echo\n"
             "regs\n",
             echo_text);
    assert_int_equal(RUN_INPUT(script, "shell", sys_name), 0);
    print_message("%s---\n%s", out_text, err_text);
    char line[160];
    assert_non_null(strstr(out_text, "\n$0 ")); /* the REG column of names */
    assert_contains(out_text, "echo: hello\n");
    assert_contains(out_text, "echo: two  words\n");
    assert_contains(out_text, "echo: third\n");
    snprintf(line, sizeof(line), "$0 = %s (cli-echo)\n", echo_text);
    assert_contains(out_text, line);
    assert_contains(out_text, "REG");
    assert_contains(out_text, "clitest.Parent");
    snprintf(line, sizeof(line), "$1 = %s\n", echo_text);
    assert_contains(out_text, line);
    assert_null(strstr(out_text, "ens>")); /* no prompt when not a terminal */
    assert_contains(err_text, "no actor is named 'nobody'");
    assert_contains(err_text, "no register $99");
    assert_contains(err_text, "unknown command 'frobnicate'");

    /* The exit status is the last command's; a usage error is 2. */
    assert_int_equal(RUN_INPUT("ask nobody hi\n", "shell", sys_name), 1);
    assert_int_equal(RUN_INPUT("names --bogus\n", "shell", sys_name), 2);
    assert_int_equal(RUN_INPUT("status\n", "shell"), 1);
    assert_contains(err_text, "not connected");
    /* connect inside the shell; a bad system name. */
    snprintf(script, sizeof(script), "connect %s\nask cli-echo x\n", sys_name);
    assert_int_equal(RUN_INPUT(script, "shell"), 0);
    assert_string_equal(out_text, "echo: x\n");
    assert_int_equal(RUN_INPUT("connect bad/name\n", "shell"), 2);
    assert_contains(err_text, "bad system name");
    assert_int_equal(RUN_INPUT("", "shell", "--bogus"), 2);
    assert_int_equal(RUN_INPUT("help\n", "shell"), 0);
    assert_contains(out_text, "registers");
}

/* Registers keep their numbers until the shell exits: another listing,
 * and a disconnect and connect again, do not renumber them; a register
 * of another system is refused by name. */
static void test_shell_registers_stay_bound(void **state)
{
    (void)state;
    char script[512];
    snprintf(script, sizeof(script),
             "status\n"
             "names\n"
             "status\n"
             "disconnect\n"
             "connect %s\n"
             "names\n"
             "regs\n"
             "ask $0 still\n",
             sys_name);
    assert_int_equal(RUN_INPUT(script, "shell", sys_name), 0);
    print_message("%s---\n%s", out_text, err_text);
    char line[160];
    /* The echo is listed first by status: $0, and stays $0. */
    snprintf(line, sizeof(line), "$0 = %s\n", echo_text);
    assert_contains(out_text, line);
    snprintf(line, sizeof(line), "$1 = %s\n", parent_text);
    assert_contains(out_text, line);
    assert_null(strstr(out_text, "$4 = ")); /* four actors, four registers */
    assert_contains(out_text, "echo: still\n");
    assert_string_equal(err_text, "");
}

/* The shell's history is kept in $XDG_STATE_HOME/ensemble/shell_history,
 * made 0600, and read back by the next shell. */
static void test_shell_history_saved(void **state)
{
    (void)state;
    char dir[64], path[128];
    snprintf(dir, sizeof(dir), "/tmp/ens-shell-state-%d", (int)getpid());
    snprintf(path, sizeof(path), "%s/ensemble/shell_history", dir);
    const char *old = getenv("XDG_STATE_HOME");
    char *saved = old != NULL ? strdup(old) : NULL;
    setenv("XDG_STATE_HOME", dir, 1);
    assert_int_equal(RUN_INPUT("regs\ntimeout 7000\nquit\n", "shell"), 0);
    assert_int_equal(RUN_INPUT("names\n", "shell"), 1); /* not connected */
    if (saved != NULL)
        setenv("XDG_STATE_HOME", saved, 1);
    else
        unsetenv("XDG_STATE_HOME");
    free(saved);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char text[1024];
    text[fread(text, 1, sizeof(text) - 1, fp)] = '\0';
    fclose(fp);
    /* Both shells' lines, in order: the second loaded the first's
     * (libedit's file spells a blank inside a line \040). */
    const char *a = strstr(text, "timeout\\0407000\n");
    if (a == NULL)
        a = strstr(text, "timeout 7000\n");
    const char *b = strstr(text, "names\n");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ensemble", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_ask_prints_the_reply(void **state)
{
    (void)state;
    assert_int_equal(RUN("ask", sys_name, echo_text, "hi"), 0);
    assert_string_equal(out_text, "echo: hi\n");
    assert_string_equal(err_text, "");
    /* Options after the arguments, and -- before a text that looks like one. */
    assert_int_equal(RUN("ask", sys_name, echo_text, "--timeout", "20000", "--", "-x"), 0);
    assert_string_equal(out_text, "echo: -x\n");
}

static void test_tell_reaches_the_actor(void **state)
{
    (void)state;
    assert_int_equal(RUN("tell", sys_name, echo_text, "tell: one"), 0);
    assert_string_equal(out_text, "");
    assert_int_equal(RUN("tell", sys_name, echo_text, "tell: two"), 0);
    /* The tells left ens before it exited; they travel on another channel
     * than the test's ask, so ask again (no sleep) until they are counted. */
    char last[64] = "";
    for (test_deadline d = test_deadline_in(WAIT_MS); !test_deadline_passed(d);) {
        ens_msg *r = NULL;
        ens_string_v q = {"count?"};
        assert_int_equal(ens_ask(ens_system_ctx(sys), echo_addr, &ens_msg_string, &q, WAIT_MS, &r),
                         0);
        const ens_string_v *s = ens_msg_value(r, &ens_msg_string);
        assert_non_null(s);
        snprintf(last, sizeof(last), "%s", s->text);
        ens_msg_free(r);
        if (strcmp(last, "count: 2") == 0)
            break;
    }
    assert_string_equal(last, "count: 2");
}

static void test_ask_poisoned_prints_the_detail(void **state)
{
    (void)state;
    assert_int_equal(RUN("ask", sys_name, echo_text, "fail"), 1);
    assert_string_equal(out_text, "");
    print_message("%s", err_text);
    assert_contains(err_text, "poisoned");
    assert_contains(err_text, "ENS_EINVAL");
}

static void test_ask_dead_address(void **state)
{
    (void)state;
    ens_addr dead = echo_addr;
    dead.id += 1000;
    char text[ENS_ADDR_STRLEN];
    assert_true(ens_addr_format(dead, text, sizeof(text)) > 0);
    assert_int_equal(RUN("ask", sys_name, text, "hi", "--timeout", "20000"), 1);
    assert_string_equal(out_text, "");
    assert_contains(err_text, "no live actor at");
    assert_contains(err_text, text);
}

static void test_unknown_system(void **state)
{
    (void)state;
    char name[80];
    snprintf(name, sizeof(name), "clitest-nosuch-%d", (int)getpid());
    const char *cmds[] = {"status", "shutdown"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(RUN(cmds[i], name), 1);
        assert_contains(err_text, "no running system called");
        assert_contains(err_text, name);
    }
    assert_int_equal(RUN("ask", name, echo_text, "hi"), 1);
    assert_contains(err_text, "no running system called");
    assert_int_equal(RUN("tell", name, echo_text, "hi"), 1);
    assert_contains(err_text, "for this user");
}

static void test_ask_refuses_a_name_held_by_another_user(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become another user */
    char name[80];
    snprintf(name, sizeof(name), "clitest-squat-%d", (int)getpid());
    struct sockaddr_un sa;
    int len = ens__system_sockaddr(name, &sa);
    test_squatter squat;
    assert_true(test_squat(&sa, (socklen_t)len, &squat));
    int rc = RUN("ask", name, echo_text, "hi");
    /* Its connections (the refused one, then the look at who it is) were
     * told nothing. */
    int sent[2] = {test_squat_next(&squat, WAIT_MS), test_squat_next(&squat, WAIT_MS)};
    pid_t impostor = squat.pid;
    test_squat_end(&squat);
    assert_int_equal(rc, 1);
    char who[64];
    snprintf(who, sizeof(who), "uid 65534 (pid %d)", (int)impostor);
    assert_contains(err_text, "held by another user");
    assert_contains(err_text, who);
    assert_contains(err_text, "nothing was sent");
    assert_int_equal(sent[0], 0);
    assert_int_equal(sent[1], 0);
}

static void test_ask_refused_past_max_connections(void **state)
{
    (void)state;
    char name[80];
    snprintf(name, sizeof(name), "clitest-cap-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    o.max_connections = 1;
    ens_system *s = NULL, *held = NULL;
    fflush(NULL);
    assert_int_equal(ens_system_start(&o, &s), 0);
    int rc = ens_system_connect(name, &held);
    int run_rc = rc == 0 ? RUN("ask", name, "ens:1/16", "hi") : -1;
    ens_system_close(held, WAIT_MS);
    ens_system_stop(s, WAIT_MS);
    assert_int_equal(rc, 0);
    assert_int_equal(run_rc, 1);
    assert_contains(err_text, "too many connections to the system");
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(RUN("ask", sys_name, "ens:abc", "hi"), 2);
    assert_contains(err_text, "bad address 'ens:abc'");
    assert_int_equal(RUN("tell", sys_name, "bad name!", "hi"), 2);
    assert_contains(err_text, "bad address or name 'bad name!'");
    assert_int_equal(RUN("ask", sys_name, "-lead", "hi"), 2);
    assert_int_equal(RUN("names", sys_name, "extra"), 2);
    assert_contains(err_text, "unexpected argument 'extra'");
    assert_int_equal(RUN("ask", sys_name, echo_text), 2);
    assert_contains(err_text, "missing arguments");
    assert_int_equal(RUN("status", sys_name, "extra"), 2);
    assert_contains(err_text, "unexpected argument 'extra'");
    assert_int_equal(RUN("status", "bad/name"), 2);
    assert_contains(err_text, "bad system name");
    assert_int_equal(RUN("ask", sys_name, echo_text, "hi", "--timeout", "soon"), 2);
    assert_contains(err_text, "bad timeout");
    assert_int_equal(RUN("tell", sys_name, echo_text, "hi", "--json"), 2);
    assert_contains(err_text, "unknown option '--json'");
    assert_int_equal(RUN("shutdown"), 2);
}

/* No byte a terminal would obey: ESC, BEL, DEL, C1 (as UTF-8: C2 80..9F). */
static void assert_no_controls(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        bool control = (*p < 0x20 && *p != '\n') || *p == 0x7f ||
                       (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0);
        if (control)
            fail_msg("a raw control byte 0x%02x at offset %td in:\n%s", *p, (const char *)p - text,
                     text);
    }
}

/* Text that is not the tool's own (replies, what the user typed) is
 * printed with its control characters spelled out: an escape sequence in a
 * reply or a bad argument cannot drive the terminal. */
static void test_untrusted_text_is_escaped(void **state)
{
    (void)state;
    assert_int_equal(RUN("ask", sys_name, "cli-echo", "\x1b]0;owned\x07\x1b[2Jnext\nline\xc2\x9b"),
                     0);
    assert_string_equal(out_text, "echo: \\x1b]0;owned\\x07\\x1b[2Jnext\\nline\\xc2\\x9b\n");
    assert_no_controls(out_text);
    assert_int_equal(RUN("ask", sys_name, "ens:\x1b[2J", "hi"), 2);
    assert_contains(err_text, "bad address 'ens:\\x1b[2J'");
    assert_no_controls(err_text);
    assert_int_equal(RUN("tell", sys_name, "\x1b[1mname", "hi"), 2);
    assert_contains(err_text, "bad address or name '\\x1b[1mname'");
    assert_no_controls(err_text);
    assert_int_equal(RUN("status", "sys\x1b[2J"), 2);
    assert_contains(err_text, "bad system name 'sys\\x1b[2J'");
    assert_no_controls(err_text);
    assert_int_equal(RUN("ask", sys_name, "cli-echo", "hi", "--timeout", "\x1b[5m"), 2);
    assert_contains(err_text, "bad timeout '\\x1b[5m'");
    assert_no_controls(err_text);
    /* The shell: an unknown command, a bad name to look up, a bad target,
     * and a reply, all with escape sequences. */
    assert_int_equal(RUN_INPUT("\x1b[31mred\n"
                               "lookup \x1b[2J\n"
                               "ask \x1b[1m hi\n"
                               "ask cli-echo \x1b[H\x7f\n",
                               "shell", sys_name),
                     0);
    print_message("%s---\n%s", out_text, err_text);
    assert_contains(err_text, "unknown command '\\x1b[31mred'");
    assert_contains(err_text, "'\\x1b[2J'");
    assert_contains(err_text, "bad address or name '\\x1b[1m'");
    assert_contains(out_text, "echo: \\x1b[H\\x7f\n");
    assert_no_controls(out_text);
    assert_no_controls(err_text);
}

static void test_help(void **state)
{
    (void)state;
    const char *cmds[] = {"status", "names", "ask", "tell", "shutdown"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(RUN(cmds[i], "--help"), 0);
        char usage[64];
        snprintf(usage, sizeof(usage), "usage: ens %s SYSTEM", cmds[i]);
        assert_contains(out_text, usage);
        assert_int_equal(RUN("help", cmds[i]), 0);
        assert_contains(out_text, usage);
    }
    assert_int_equal(RUN("ask", "-h"), 0);
    assert_contains(out_text, "ADDRESS-OR-NAME");
    assert_int_equal(RUN("shell", "--help"), 0);
    assert_contains(out_text, "usage: ens shell [SYSTEM]");
    assert_int_equal(RUN("help", "shell"), 0);
    assert_contains(out_text, "usage: ens shell [SYSTEM]");
    assert_int_equal(RUN("--help"), 0);
    assert_contains(out_text, "shutdown");
    assert_contains(out_text, "names");
    assert_contains(out_text, "shell");
}

static void test_shutdown_ends_the_system(void **state)
{
    (void)state;
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(sys, WAIT_MS, &st), 0);
    pid_t admin = ens_status_admin_pid(st);
    size_t n = ens_status_count(st);
    assert_int_equal(n, 4);
    pid_t actors[4];
    for (size_t i = 0; i < n; i++)
        actors[i] = ens_status_at(st, i)->pid;
    ens_status_free(st);
    assert_int_equal(RUN("shutdown", sys_name, "--timeout", "20000"), 0);
    assert_string_equal(err_text, "");
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(ens_system_ctx(sys), WAIT_MS, &m), ENS_ESHUTDOWN);
    assert_null(m);
    ens_system_close(sys, WAIT_MS);
    sys = NULL;
    /* Nothing left: the admin is reaped, the actors are gone, the name is free. */
    assert_int_equal(kill(admin, 0), -1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(kill(actors[i], 0), -1);
    assert_int_equal(RUN("status", sys_name), 1);
    assert_contains(err_text, "no running system called");
}

int main(void)
{
    if (ens_actor_register(&echo_def) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_lists_the_actor),
        cmocka_unit_test(test_status_json),
        cmocka_unit_test(test_status_json_tree),
        cmocka_unit_test(test_ask_prints_the_reply),
        cmocka_unit_test(test_tell_reaches_the_actor),
        cmocka_unit_test(test_ask_poisoned_prints_the_detail),
        cmocka_unit_test(test_ask_dead_address),
        cmocka_unit_test(test_names_lists_the_name),
        cmocka_unit_test(test_ask_and_tell_by_name),
        cmocka_unit_test(test_shell_script),
        cmocka_unit_test(test_shell_registers_stay_bound),
        cmocka_unit_test(test_shell_history_saved),
        cmocka_unit_test(test_unknown_system),
        cmocka_unit_test(test_ask_refuses_a_name_held_by_another_user),
        cmocka_unit_test(test_ask_refused_past_max_connections),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_untrusted_text_is_escaped),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_shutdown_ends_the_system),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

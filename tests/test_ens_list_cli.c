/*
 * tests/test_ens_list_cli.c - `ens list` and the unknown-name message of
 * `ens status`: two running named systems (one persistent, one with a
 * journal) are listed with their admin pids, actor counts, persistence
 * and journal, in the table and in JSON (parsed with jansson), as their
 * status snapshots carry them; a socket nobody listens at (a system that
 * ended without removing it) is not; `ens status` of an unknown name names
 * the running ones; ens_system_list yields the running names.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/process/proc_door.h"
#include "ensemble/ensemble.h"
#include "support/deadline.h"
#include "support/json_doc.h"
#include "support/run_tool.h"
#include "support/scratch.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define WAIT_MS 30000

static ens_system *sys_a, *sys_b;
static char name_a[64], name_b[64], stale[64], stale_path[160], state_dir[64], journal_a[128];
static int64_t start_ms[2]; /* the clock before and after the systems started */
static int admin_a, admin_b;
static char *out_text, *err_text;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int admin_of(ens_system *s)
{
    ens_status *st = NULL;
    if (ens_system_status(s, WAIT_MS, &st) != 0)
        return -1;
    int pid = ens_status_admin_pid(st);
    ens_status_free(st);
    return pid;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(state_dir, sizeof(state_dir), "/tmp/ens-list-state-%d", (int)getpid());
    setenv("XDG_STATE_HOME", state_dir, 1); /* the journal of A goes here */
    snprintf(name_a, sizeof(name_a), "lista-%d", (int)getpid());
    snprintf(name_b, sizeof(name_b), "listb-%d", (int)getpid());
    /* A's journal at a path of its own, not ending in ".db": `ens list`
     * shows the path A was given, as A's status says. */
    snprintf(journal_a, sizeof(journal_a), "%s/journal-of-a.sqlite", state_dir);
    if (mkdir(state_dir, 0700) != 0)
        return -1;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name_a;
    o.journal_path = journal_a;
    o.log_level = ENS_LOG_ERROR;
    fflush(NULL);
    start_ms[0] = now_ms();
    if (ens_system_start(&o, &sys_a) != 0)
        return -1;
    o.name = name_b;
    o.journal_path = "";
    o.persistent = true;
    if (ens_system_start(&o, &sys_b) != 0)
        return -1;
    start_ms[1] = now_ms();
    admin_a = admin_of(sys_a);
    admin_b = admin_of(sys_b);
    /* A socket nobody listens at, named like a system. */
    char dir[64];
    if (ens__rundir(dir, sizeof(dir), true, NULL, 0) != 0)
        return -1;
    snprintf(stale, sizeof(stale), "liststale-%d", (int)getpid());
    snprintf(stale_path, sizeof(stale_path), "%s/%s", dir, stale);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, stale_path, strlen(stale_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    close(fd);
    return admin_a > 0 && admin_b > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    ens_system_stop(sys_a, 5000);
    if (sys_b != NULL)
        ens_system_stop(sys_b, 5000); /* persistent: ends only when told */
    unlink(stale_path);
    test_tree_remove(state_dir);
    free(out_text);
    free(err_text);
    return 0;
}

/* Run ens with args; stdout and stderr into out_text and err_text. */
static int run(const char *const *args)
{
    return test_tool_run(ENS_TOOL_PATH, args, NULL, &out_text, &err_text);
}

#define RUN(...) run((const char *const[]){__VA_ARGS__, NULL})

static void test_list_json_shows_both_systems_not_the_stale_socket(void **state)
{
    (void)state;
    /* The journal writer of A opens its file as it starts: wait for it. */
    json_t *root = NULL, *rows = NULL, *a = NULL, *b = NULL;
    for (test_deadline d = test_deadline_in(WAIT_MS); !test_deadline_passed(d);) {
        if (root != NULL)
            json_decref(root);
        assert_int_equal(RUN("list", "--json"), 0);
        root = json_doc(out_text, "systems", &rows);
        a = json_row_where(rows, "name", name_a);
        b = json_row_where(rows, "name", name_b);
        if (a != NULL && b != NULL && json_text(a, "journal") != NULL)
            break;
    }
    print_message("%s", out_text);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(json_num(a, "admin_pid"), admin_a);
    assert_int_equal(json_num(b, "admin_pid"), admin_b);
    assert_int_equal(json_num(a, "actors"), 0);
    assert_true(json_num(a, "uptime_s") >= 0);
    assert_true(json_is_false(json_object_get(a, "persistent")));
    assert_true(json_is_true(json_object_get(b, "persistent")));
    assert_non_null(json_text(a, "journal"));
    assert_string_equal(json_text(a, "journal"), journal_a);
    assert_true(json_is_null_at(b, "journal"));
    assert_null(json_row_where(rows, "name", stale));
    json_decref(root);
    /* Systems of tests running beside this one may say things to a program
     * that connects (a hostile one sends frames it cannot decode): only
     * this test's own systems must be quiet. */
    assert_null(strstr(err_text, name_a));
    assert_null(strstr(err_text, name_b));
}

static void test_list_table(void **state)
{
    (void)state;
    assert_int_equal(RUN("list"), 0);
    print_message("%s", out_text);
    assert_true(strncmp(out_text, "NAME", 4) == 0);
    assert_non_null(strstr(out_text, "PERSISTENT"));
    char line[128];
    snprintf(line, sizeof(line), "\n%s ", name_a);
    assert_non_null(strstr(out_text, line));
    snprintf(line, sizeof(line), " %d ", admin_b);
    assert_non_null(strstr(out_text, line));
    assert_null(strstr(out_text, stale));
    assert_int_equal(RUN("list", "extra"), 2);
    assert_int_equal(RUN("list", "--bogus"), 2);
}

static void test_status_of_an_unknown_name_lists_the_running_ones(void **state)
{
    (void)state;
    char unknown[64];
    snprintf(unknown, sizeof(unknown), "nosuch-%d", (int)getpid());
    assert_int_equal(RUN("status", unknown), 1);
    print_message("%s", err_text);
    assert_non_null(strstr(err_text, "no running system called"));
    assert_non_null(strstr(err_text, name_a));
    assert_non_null(strstr(err_text, name_b));
    assert_null(strstr(err_text, stale));
}

/* The facts `ens list` shows come in the status: start time, persistence
 * and journal path. */
static void test_status_carries_start_time_persistence_and_journal(void **state)
{
    (void)state;
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(sys_a, WAIT_MS, &st), 0);
    assert_true(ens_status_started_ms(st) >= start_ms[0]);
    assert_true(ens_status_started_ms(st) <= start_ms[1]);
    assert_false(ens_status_persistent(st));
    assert_string_equal(ens_status_journal(st), journal_a);
    ens_status_free(st);
    assert_int_equal(ens_system_status(sys_b, WAIT_MS, &st), 0);
    assert_true(ens_status_started_ms(st) >= start_ms[0]);
    assert_true(ens_status_started_ms(st) <= now_ms());
    assert_true(ens_status_persistent(st));
    assert_null(ens_status_journal(st)); /* journal_path "": none */
    ens_status_free(st);
    assert_false(ens_status_persistent(NULL));
    assert_null(ens_status_journal(NULL));
}

/* ---- ens_system_list, which `ens list` and the shell's completion use ---- */

typedef struct seen {
    char names[64][80];
    int n;
    int stop_after; /* return 7 at this call (0: never) */
} seen;

static int note(const char *name, void *arg)
{
    seen *s = arg;
    if (s->n < 64)
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->n++;
    return s->n == s->stop_after ? 7 : 0;
}

static int seen_index(const seen *s, const char *name)
{
    for (int i = 0; i < s->n && i < 64; i++)
        if (strcmp(s->names[i], name) == 0)
            return i;
    return -1;
}

static void test_system_list_yields_the_running_systems_in_order(void **state)
{
    (void)state;
    seen s = {.n = 0};
    int rc = ens_system_list(note, &s);
    assert_int_equal(rc, s.n);
    int a = seen_index(&s, name_a), b = seen_index(&s, name_b);
    assert_true(a >= 0);
    assert_true(b > a);                          /* "lista-" sorts before "listb-" */
    assert_int_equal(seen_index(&s, stale), -1); /* nobody listens there */
    for (int i = 1; i < s.n && i < 64; i++)
        assert_true(strcmp(s.names[i - 1], s.names[i]) < 0); /* sorted, each once */
    /* A non-zero return stops the list and is returned. */
    seen one = {.stop_after = 1};
    assert_int_equal(ens_system_list(note, &one), 7);
    assert_int_equal(one.n, 1);
    assert_int_equal(ens_system_list(NULL, NULL), ENS_EINVAL);
    /* A system that ended is no longer listed. */
    ens_system_stop(sys_b, 5000);
    sys_b = NULL;
    seen after = {.n = 0};
    rc = ens_system_list(note, &after);
    assert_int_equal(rc, after.n);
    assert_true(seen_index(&after, name_a) >= 0);
    assert_int_equal(seen_index(&after, name_b), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_json_shows_both_systems_not_the_stale_socket),
        cmocka_unit_test(test_list_table),
        cmocka_unit_test(test_status_of_an_unknown_name_lists_the_running_ones),
        cmocka_unit_test(test_status_carries_start_time_persistence_and_journal),
        cmocka_unit_test(test_system_list_yields_the_running_systems_in_order), /* stops B */
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * tests/test_proctitle.c - what ps, top and pgrep show of an actor process
 * (process base): the kernel's 15-byte name (/proc/PID/comm) is "e:" and
 * the last part of the type, cut to fit; the command line
 * (/proc/PID/cmdline) is "ens: TYPE [GLOBAL] SYSTEM ADDRESS", the global
 * name only when it has one: given by ens_name_spawn, taken or dropped by
 * the actor itself (ens_name_register, ens_name_unregister), and kept by a
 * restarted incarnation.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"

#define WAIT_MS 20000 /* a busy machine: generous */

/* "pid": reply with this process's pid; "name X": take the global name X
 * first; "unname": drop it first. */
static int probe_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *v = ens_msg_value(m, &ens_msg_string);
    if (v == NULL)
        return 0;
    int rc = 0;
    if (strncmp(v->text, "name ", 5) == 0)
        rc = ens_name_register(c, v->text + 5);
    else if (strcmp(v->text, "unname") == 0)
        rc = ens_name_unregister(c);
    if (rc < 0)
        return ens_reply_error(c, rc, &ens_msg_int64, &(ens_int64_v){0});
    return ens_reply(c, &ens_msg_int64, &(ens_int64_v){getpid()});
}

static const ens_actor_def probe_def = {.name = "ptitle.Probe", .receive = probe_receive};
static const ens_actor_def cache_def = {.name = "demo.Cache", .receive = probe_receive};
static const ens_actor_def long_def = {.name = "ptitle.AVeryLongActorTypeName",
                                       .receive = probe_receive};
static const ens_actor_def plain_def = {.name = "Plain", .receive = probe_receive};

typedef struct fixture {
    ens_system *sys;
    char name[64];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->name, sizeof(fx->name), "ptitle-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    o.name = fx->name;
    o.log_level = getenv("ENS_TEST_LOG") ? ENS_LOG_DEBUG : ENS_LOG_ERROR;
    assert_int_equal(ens_system_start(&o, &fx->sys), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    assert_int_equal(ens_system_stop(fx->sys, WAIT_MS), 0);
    free(fx);
    return 0;
}

/* Ask `to` with text; returns the pid it replied with. */
static pid_t ask_pid(fixture *fx, ens_addr to, const char *text)
{
    ens_msg *r = NULL;
    int rc = ens_ask(ens_system_ctx(fx->sys), to, &ens_msg_string, &(ens_string_v){(char *)text},
                     WAIT_MS, &r);
    if (rc != 0)
        fail_msg("ask '%s': %s", text, ens_err_name(rc));
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    pid_t pid = (pid_t)v->value;
    ens_msg_free(r);
    return pid;
}

/* /proc/PID/FILE up to its first NUL or newline. */
static void read_proc(pid_t pid, const char *file, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static void assert_titles(fixture *fx, pid_t pid, ens_addr a, const char *comm, const char *type,
                          const char *global)
{
    char got[512], want[512], where[ENS_ADDR_STRLEN];
    read_proc(pid, "comm", got, sizeof(got));
    assert_string_equal(got, comm);
    ens_addr_format(a, where, sizeof(where));
    if (global != NULL)
        snprintf(want, sizeof(want), "ens: %s [%s] %s %s", type, global, fx->name, where);
    else
        snprintf(want, sizeof(want), "ens: %s %s %s", type, fx->name, where);
    read_proc(pid, "cmdline", got, sizeof(got));
    assert_string_equal(got, want);
}

static void test_unnamed_actor_shows_type_system_and_address(void **state)
{
    fixture *fx = *state;
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(fx->sys), &probe_def, NULL, NULL, &a), 0);
    assert_titles(fx, ask_pid(fx, a, "pid"), a, "e:Probe", "ptitle.Probe", NULL);
}

/* "ens: ptitle.AVer" was all the kernel kept before: the short name now
 * keeps the part that tells actors apart, cut to 15 bytes. */
static void test_long_type_keeps_its_last_part_in_comm(void **state)
{
    fixture *fx = *state;
    ens_addr a, b;
    assert_int_equal(ens_spawn(ens_system_ctx(fx->sys), &long_def, NULL, NULL, &a), 0);
    assert_titles(fx, ask_pid(fx, a, "pid"), a, "e:AVeryLongActo", "ptitle.AVeryLongActorTypeName",
                  NULL);
    assert_int_equal(ens_spawn(ens_system_ctx(fx->sys), &plain_def, NULL, NULL, &b), 0);
    assert_titles(fx, ask_pid(fx, b, "pid"), b, "e:Plain", "Plain", NULL);
}

static void test_name_spawn_shows_the_global_name_from_the_start(void **state)
{
    fixture *fx = *state;
    ens_addr a;
    assert_int_equal(ens_name_spawn(ens_system_ctx(fx->sys), "cache", &cache_def, NULL, NULL, &a),
                     0);
    assert_titles(fx, ask_pid(fx, a, "pid"), a, "e:Cache", "demo.Cache", "cache");
}

/* The actor's own register and unregister change its title before it
 * replies; a restarted incarnation starts with the name it has. */
static void test_register_unregister_and_restart_update_the_title(void **state)
{
    fixture *fx = *state;
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(fx->sys), &probe_def, NULL, NULL, &a), 0);
    pid_t pid = ask_pid(fx, a, "name probe-1");
    assert_titles(fx, pid, a, "e:Probe", "ptitle.Probe", "probe-1");
    assert_int_equal(kill(pid, SIGKILL), 0);
    pid_t again = ask_pid(fx, a, "pid"); /* waits for the next incarnation */
    assert_int_not_equal(again, pid);
    assert_titles(fx, again, a, "e:Probe", "ptitle.Probe", "probe-1");
    assert_int_equal(ask_pid(fx, a, "unname"), again);
    assert_titles(fx, again, a, "e:Probe", "ptitle.Probe", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unnamed_actor_shows_type_system_and_address, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_type_keeps_its_last_part_in_comm, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_name_spawn_shows_the_global_name_from_the_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_register_unregister_and_restart_update_the_title,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

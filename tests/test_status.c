/*
 * tests/test_status.c - status snapshots and the system log, on every
 * base: the outside program and an actor see the same rows, and log lines
 * of every actor reach the configured log file (through the admin on the
 * process base).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/scenario.h"

extern const ens_actor_def member_def;

/* A member of a small family: the first spawns two children when told. */
static int member_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s != NULL && strcmp(s->text, "grow") == 0) {
        ens_addr a, b;
        int rc = ens_spawn(c, &member_def, NULL, NULL, &a);
        if (rc == 0)
            rc = ens_spawn(c, &member_def, NULL, NULL, &b);
        if (rc < 0)
            return rc;
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){2});
    }
    if (s != NULL && strcmp(s->text, "status") == 0) {
        /* Ask the admin; its answer arrives as a message, passed on. */
        ens_addr *asker = st;
        *asker = ens_sender(c);
        return ens_status_request(c);
    }
    if (s != NULL && strcmp(s->text, "log") == 0) {
        ens_log(c, ENS_LOG_WARN, "a line from %s", "the member");
        ens_log(c, ENS_LOG_DEBUG, "a line below the level");
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){1});
    }
    const ens_status_v *v = ens_msg_value(m, &ens_msg_status);
    if (v != NULL) {
        ens_addr *asker = st;
        return ens_send(c, *asker, &ens_msg_int64, &(ens_int64_v){(int64_t)v->actors.count});
    }
    return 0;
}

const ens_actor_def member_def = {
    "status.Member", sizeof(ens_addr), NULL, member_receive, NULL, NULL, NULL, NULL, NULL};

static int64_t ask_int(scn *t, ens_addr to, const char *text)
{
    ens_msg *r = NULL;
    int rc = ens_ask(t->out, to, &ens_msg_string, &(ens_string_v){(char *)text}, SCN_WAIT_MS, &r);
    if (rc != 0)
        fail_msg("ask %s: %s", text, ens_err_name(rc));
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    int64_t x = v->value;
    ens_msg_free(r);
    return x;
}

static void test_status_lists_every_actor_with_its_parent(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr top;
    assert_int_equal(ens_spawn(t->out, &member_def, NULL, NULL, &top), 0);
    assert_int_equal(ask_int(t, top, "grow"), 2);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    assert_int_equal(ens_status_count(st), 3);
    assert_null(ens_status_at(st, 3));
    int children = 0;
    for (size_t i = 0; i < 3; i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        assert_string_equal(a->type, "status.Member");
        assert_int_equal(a->incarnation, 1);
        assert_int_equal(a->restarts, 0);
        if (ens_addr_equal(a->addr, top)) {
            assert_true(ens_addr_is_none(a->parent));
            assert_int_equal(a->handled, 1); /* "grow" */
        } else {
            assert_true(ens_addr_equal(a->parent, top));
            children++;
        }
        if (t->base == ENS_BASE_PROCESS) {
            assert_true(a->pid > 0 && a->pid != getpid());
            assert_true(a->rss_kib > 0);
        } else {
            assert_int_equal(a->pid, getpid());
        }
    }
    assert_int_equal(children, 2);
    if (t->base == ENS_BASE_PROCESS)
        assert_true(ens_status_admin_pid(st) != getpid());
    ens_status_free(st);
    ens_status_free(NULL);
    /* The same rows, asked for from inside an actor (which answers later,
     * in a message of its own). */
    assert_int_equal(ens_send(t->out, top, &ens_msg_string, &(ens_string_v){"status"}), 0);
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(t->out, SCN_WAIT_MS, &m), 0);
    const ens_int64_v *count = ens_msg_value(m, &ens_msg_int64);
    assert_non_null(count);
    assert_int_equal(count->value, 3);
    ens_msg_free(m);
    assert_int_equal(ens_status_request(t->out), ENS_EINVAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_log_lines_reach_the_log_file(void **state)
{
    scn *t = *state;
    char path[] = "/tmp/ens-test-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    char name[32];
    snprintf(name, sizeof(name), "test-status-%d", (int)getpid());
    o.name = name;
    o.log_path = path;
    o.log_level = ENS_LOG_INFO;
    scn_start(t, &o);
    ens_addr a;
    assert_int_equal(ens_spawn(t->out, &member_def, NULL, NULL, &a), 0);
    assert_int_equal(ask_int(t, a, "log"), 1);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    unlink(path);
    text[n] = '\0';
    char addr[ENS_ADDR_STRLEN];
    ens_addr_format(a, addr, sizeof(addr));
    /* TIME LEVEL [SYSTEM] PID TYPE ADDR: TEXT (system.h, ens_log_target);
     * the pid is the actor's process's, unknown here. */
    char head[96], want[128];
    snprintf(head, sizeof(head), "WARN  [%s] ", name);
    snprintf(want, sizeof(want), " status.Member %s: a line from the member", addr);
    const char *at = strstr(text, want);
    if (at == NULL)
        fail_msg("log file lacks \"%s\":\n%s", want, text);
    const char *bol = at;
    while (bol > text && bol[-1] != '\n')
        bol--;
    if (strncmp(bol + 25, head, strlen(head)) != 0)
        fail_msg("log line does not start with the time and \"%s\":\n%s", head, text);
    const char *pid = bol + 25 + strlen(head);
    assert_true(pid < at && pid[0] >= '1' && pid[0] <= '9');
    assert_null(strstr(text, "below the level"));
    /* A log file that cannot be opened is an error at start. */
    ens_system_opts bad = ENS_SYSTEM_OPTS_INIT;
    bad.base = t->base;
    bad.log_path = "/nonexistent-dir/ens.log";
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&bad, &s), ENS_ENOENT);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_status_lists_every_actor_with_its_parent),
        SCN_TEST(test_log_lines_reach_the_log_file),
    };
    return scn_run_bases("status", tests, sizeof(tests) / sizeof(tests[0]));
}

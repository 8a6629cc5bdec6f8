/*
 * tests/support/convention.c - what the convention suites share (see
 * convention.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "support/convention.h"
#include "support/deadline.h"
#include "support/run_tool.h"

test_nats test_conv_server;
char test_conv_name[32];

int test_conv_server_start(void)
{
    if (test_nats_program() == NULL)
        return 0; /* each test skips and says why */
    return test_nats_start(&test_conv_server, TEST_WAIT_MS) == 0 ? 0 : -1;
}

void test_conv_server_stop(void)
{
    test_nats_stop(&test_conv_server);
    nats_Close();
}

int test_conv_group_setup(void **state)
{
    (void)state;
    return test_conv_server_start();
}

int test_conv_group_teardown(void **state)
{
    (void)state;
    test_conv_server_stop();
    return 0;
}

void test_conv_name_set(const char *prefix)
{
    snprintf(test_conv_name, sizeof(test_conv_name), "%s%d", prefix, (int)getpid());
}

ens_system_opts test_conv_member_opts(const char *name, uint32_t heartbeat_ms)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.log_path = "/dev/null";
    o.convention.servers = test_conv_server.url;
    o.convention.name = test_conv_name;
    o.convention.heartbeat_ms = heartbeat_ms;
    return o;
}

void test_conv_stop(ens_system **s)
{
    if (*s != NULL)
        ens_system_stop(*s, 5000);
    *s = NULL;
}

void test_conv_end(ens_system **const *systems, size_t n, pid_t *group)
{
    for (size_t i = 0; i < n; i++)
        test_conv_stop(systems[i]);
    if (group != NULL)
        test_conv_kill_group(group);
    test_conv_server_stop();
}

static bool about_gateway(const ens_event *ev)
{
    return ev->actor_type != NULL && strcmp(ev->actor_type, "ens.Gateway") == 0;
}

static void on_event(const ens_event *ev, void *arg)
{
    test_conv_seen *w = arg;
    const char *why = ev->reason != NULL ? ev->reason : "";
    if (ev->kind == ENS_EV_BADFRAME && about_gateway(ev)) {
        w->badframes++;
        snprintf(w->last_bad, sizeof(w->last_bad), "%s", why);
    } else if (ev->kind == ENS_EV_CRASH && about_gateway(ev)) {
        w->gateway_crashes++;
        snprintf(w->last_crash, sizeof(w->last_crash), "%s", why);
    } else if (ev->kind == ENS_EV_DEAD_LETTER) {
        w->dead_letters++;
        snprintf(w->last_dead, sizeof(w->last_dead), "%s", why);
    }
}

ens_system *test_conv_start_seen(test_conv_seen *w, uint32_t heartbeat_ms, uint32_t mailbox_limit)
{
    ens_system_opts o = test_conv_member_opts(NULL, heartbeat_ms);
    if (mailbox_limit != 0)
        o.mailbox_limit = mailbox_limit;
    o.on_event = on_event;
    o.event_arg = w;
    memset(w, 0, sizeof(*w));
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    return s;
}

pid_t test_conv_start_group(const ens_system_opts *o)
{
    int ready[2];
    if (pipe(ready) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        close(ready[0]);
        ens_system *s = NULL;
        char ok = ens_system_start(o, &s) == 0 ? 'y' : 'n';
        ssize_t w = write(ready[1], &ok, 1);
        (void)w;
        for (;;)
            pause();
    }
    setpgid(pid, pid); /* either side may run first */
    close(ready[1]);
    char ok = 0;
    ssize_t got;
    while ((got = read(ready[0], &ok, 1)) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    if (got == 1 && ok == 'y')
        return pid;
    test_conv_kill_group(&pid);
    return -1;
}

void test_conv_kill_group(pid_t *group)
{
    if (*group > 0) {
        kill(-*group, SIGKILL);
        waitpid(*group, NULL, 0);
        *group = 0;
    }
}

pid_t test_conv_gateway_pid(const char *name)
{
    int uid = -1, admin = -1;
    if (ens_system_holder(name, &uid, &admin) < 0)
        return 0;
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", admin, admin);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    pid_t found = 0;
    for (int pid; found == 0 && fscanf(f, "%d", &pid) == 1;) {
        char comm_path[64], comm[32] = "";
        snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", pid);
        FILE *c = fopen(comm_path, "r");
        if (c == NULL)
            continue;
        if (fgets(comm, sizeof(comm), c) != NULL && strncmp(comm, "ens-gateway", 11) == 0)
            found = pid;
        fclose(c);
    }
    fclose(f);
    return found;
}

pid_t test_conv_kill_gateway(const char *name, ens_system *run)
{
    pid_t old = test_conv_gateway_pid(name);
    assert_true(old > 0);
    assert_int_equal(kill(old, SIGKILL), 0);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    pid_t now;
    while ((now = test_conv_gateway_pid(name)) == 0 || now == old) {
        if (test_deadline_passed(d))
            fail_msg("no new gateway for %s", name);
        if (run != NULL)
            ens_system_run(run, 20);
        else
            test_nap_ms(20); /* /proc offers nothing to wait on */
    }
    return now;
}

int test_conv_run_tool(const char *tool, const char *const *args, const char *env_url, char **out)
{
    char url_kv[512] = "ENSEMBLE_NATS_URL"; /* alone: unset */
    if (env_url != NULL)
        assert_true(snprintf(url_kv, sizeof(url_kv), "ENSEMBLE_NATS_URL=%s", env_url) <
                    (int)sizeof(url_kv));
    test_tool_opts o = {.env = (const char *const[]){url_kv, "ENSEMBLE_CONVENTION", NULL}};
    return test_tool_run(tool, args, &o, out, NULL);
}

const char *test_conv_line_with(const char *text, const char *needle, char *line, size_t len)
{
    for (const char *p = text; *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n < len && memmem(p, n, needle, strlen(needle)) != NULL) {
            memcpy(line, p, n);
            line[n] = '\0';
            return line;
        }
        p += n;
        if (*p == '\n')
            p++;
    }
    return NULL;
}

void test_conv_append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

int test_conv_counter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    test_conv_counter *k = state;
    const int64_t *n = ens_msg_value(m, &ens_msg_int64);
    if (n != NULL) {
        if (*n != k->next)
            k->disorder++;
        k->next = *n + 1;
        return 0;
    }
    if (ens_msg_value(m, &ens_msg_string) != NULL) {
        char text[64];
        snprintf(text, sizeof(text), "%lld %lld", (long long)k->next, (long long)k->disorder);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
    }
    return 0;
}

int test_conv_subscribe_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    return ens_convention_subscribe(c, true);
}

void test_conv_run(ens_system *const *systems, size_t n, uint32_t ms)
{
    for (size_t i = 0; i < n; i++)
        if (systems[i] != NULL)
            ens_system_run(systems[i], ms / (uint32_t)n + 1);
}

int test_conv_ask_text(ens_system *s, ens_addr to, const char *text, uint32_t wait_ms, char *out,
                       size_t len)
{
    ens_msg *r = NULL;
    int rc =
        ens_ask(ens_system_ctx(s), to, &ens_msg_string, &(ens_string_v){(char *)text}, wait_ms, &r);
    const ens_string_v *v = r != NULL ? ens_msg_value(r, &ens_msg_string) : NULL;
    snprintf(out, len, "%s", v != NULL && v->text != NULL ? v->text : "");
    ens_msg_free(r);
    return rc;
}

bool test_conv_await_text(ens_system *s, ens_addr to, const char *ask, const char *want,
                          int wait_ms, ens_system *const *run, size_t n, char *out, size_t len)
{
    test_deadline d = test_deadline_in(wait_ms);
    for (;;) {
        int rc = test_conv_ask_text(s, to, ask, TEST_WAIT_MS, out, len);
        if (rc < 0)
            fail_msg("ask \"%s\": %s (%s)", ask, ens_strerror(rc), ens_errmsg());
        if (strstr(out, want) != NULL)
            return true;
        if (test_deadline_passed(d))
            return false;
        test_conv_run(run, n, 50);
    }
}

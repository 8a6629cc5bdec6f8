/*
 * tests/test_convention.c - systems of one convention on NATS (process
 * base): one private nats-server (tests/support/nats_server.h) and systems
 * on this host that reach each other's actors through their gateways.
 * Skipped, with a message, when nats-server is not installed.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/deadline.h"
#include "support/nats_server.h"

#include "ensemble/ensemble.h"

static test_nats server;

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0; /* each test skips and says why */
    return test_nats_start(&server, TEST_WAIT_MS) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    test_nats_stop(&server);
    return 0;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (server.pid == 0) {                                                                     \
            print_message("nats-server is not installed: skipped\n");                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* The helper's own contract: a second server runs beside the first on
 * another port, accepts, and once stopped leaves no process and no
 * directory. */
static void test_nats_helper_starts_and_stops_a_server(void **state)
{
    (void)state;
    NEED_SERVER();
    test_nats other;
    assert_int_equal(test_nats_start(&other, TEST_WAIT_MS), 0);
    assert_int_not_equal(other.port, server.port);
    assert_true(test_nats_accepts(&other));
    char dir[64];
    snprintf(dir, sizeof(dir), "%s", other.dir);
    pid_t pid = other.pid;
    test_nats_stop(&other);
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(kill(pid, 0), -1); /* reaped: the pid is no longer ours */
    test_nats_stop(&other);             /* twice is harmless */
}

/* Start a system of base with convention c; returns what ens_system_start
 * said (a system that started is stopped at once). Its log goes to
 * log_path (NULL: thrown away). */
static int start_with(ens_base base, const ens_convention_opts *c, const char *log_path)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.journal_path = "";
    o.log_path = log_path != NULL ? log_path : "/dev/null";
    o.convention = *c;
    ens_system *s = NULL;
    int rc = ens_system_start(&o, &s);
    if (rc == 0)
        ens_system_stop(s, 5000);
    return rc;
}

static void test_convention_options_refused_on_inproc(void **state)
{
    (void)state;
    char log[] = "/tmp/ens-conv-log-XXXXXX";
    int fd = mkstemp(log);
    assert_true(fd >= 0);
    ens_convention_opts c = {.servers = "nats://127.0.0.1:4222", .name = "demo"};
    assert_int_equal(start_with(ENS_BASE_INPROC, &c, log), ENS_ENOTSUP);
    /* Any field counts, not only servers. */
    ens_convention_opts t = {.token = "secret"};
    assert_int_equal(start_with(ENS_BASE_INPROC, &t, NULL), ENS_ENOTSUP);
    char text[512] = {0};
    assert_true(read(fd, text, sizeof(text) - 1) > 0);
    assert_non_null(strstr(text, "convention options need the process base"));
    close(fd);
    unlink(log);
}

static void test_bad_convention_options_refused(void **state)
{
    (void)state;
    static const ens_convention_opts bad[] = {
        {.servers = "nats://127.0.0.1:4222", .name = "a.b"}, /* a subject separator */
        {.servers = "nats://127.0.0.1:4222", .name = "a*"},
        {.servers = "nats://127.0.0.1:4222", .name = "a>"},
        {.servers = "nats://127.0.0.1:4222", .name = "has space"},
        {.servers = "nats://127.0.0.1:4222",
         .name = "x1234567890123456789012345678901234567890123456789012345678901234"}, /* 65 */
        {.servers = "nats://127.0.0.1:4222"},                                          /* no name */
        {.name = "demo"}, /* no servers */
        {.servers = "", .name = "demo"},
        {.servers = "nats://a:1,,nats://b:2", .name = "demo"},
        {.servers = "http://a:1", .name = "demo"},
        {.servers = "nats://a:1, nats://b:2", .name = "demo"},
        {.servers = "nats://a:1", .name = "demo", .user = "u"},
        {.servers = "nats://a:1", .name = "demo", .password = "p"},
        {.servers = "nats://a:1", .name = "demo", .user = "u", .password = "p", .token = "t"},
        {.servers = "nats://a:1", .name = "demo", .creds_file = "/x", .nkey_seed_file = "/y"},
        {.servers = "nats://a:1", .name = "demo", .tls_cert = "/c"},
        {.servers = "nats://a:1", .name = "demo", .tls_key = "/k"},
        {.servers = "nats://a:1", .name = "demo", .token = ""},
        {.token = "t"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = start_with(ENS_BASE_PROCESS, &bad[i], NULL);
        if (rc != ENS_EINVAL)
            fail_msg("case %zu: %s instead of ENS_EINVAL", i, ens_strerror(rc));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nats_helper_starts_and_stops_a_server),
        cmocka_unit_test(test_convention_options_refused_on_inproc),
        cmocka_unit_test(test_bad_convention_options_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nats_helper_starts_and_stops_a_server),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

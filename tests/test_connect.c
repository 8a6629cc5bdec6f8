/*
 * tests/test_connect.c - systems by name on the process base: a second
 * handle connects to a running system by its name and spawns, asks and
 * takes status there; names are unique per user; a persistent system
 * outlives the handle that started it until ens_system_stop; another user
 * is refused.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/echo.h"
#include "support/procfs.h"

#include "core/process/proc.h"
#include "ensemble/ensemble.h"

#define WAIT_MS 30000

static const ens_actor_def echo_def = {"connect.Echo", 0,    NULL, test_echo_receive, NULL, NULL,
                                       NULL,           NULL, NULL};
static const ens_actor_def unregistered_def = {
    "connect.Unregistered", 0, NULL, test_echo_receive, NULL, NULL, NULL, NULL, NULL};
/* What a connected program that has not the actor's code passes: the name. */
static const ens_actor_def echo_by_name = {.name = "connect.Echo"};

static ens_system *started, *connected;

static int teardown(void **state)
{
    (void)state;
    ens_system_close(connected, 1000);
    if (started != NULL)
        ens_system_stop(started, 5000);
    started = connected = NULL;
    return 0;
}

static void unique_name(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "test-%s-%d", what, (int)getpid());
}

static void expect_echo(ens_system *s, ens_addr to, const char *text)
{
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ens_system_ctx(s), to, &ens_msg_string, &(ens_string_v){(char *)text}, WAIT_MS, &r),
        0);
    const ens_string_v *v = ens_msg_value(r, &ens_msg_string);
    assert_non_null(v);
    assert_string_equal(v->text, text);
    ens_msg_free(r);
}

static void test_second_handle_connects_by_name(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof(name), "connect");
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.log_level = ENS_LOG_ERROR;
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr first;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &first), 0);

    /* A name is one system per user. */
    ens_system *twin = NULL;
    assert_int_equal(ens_system_start(&o, &twin), ENS_EEXIST);
    assert_null(twin);

    assert_int_equal(ens_system_connect(name, &connected), 0);
    ens_ctx *c = ens_system_ctx(connected);
    assert_false(ens_addr_equal(ens_self(c), ens_self(ens_system_ctx(started))));
    expect_echo(connected, first, "from the second handle");
    /* Spawning by a registered name; an unregistered one is refused. */
    ens_addr second;
    assert_int_equal(ens_spawn(c, &echo_def, NULL, NULL, &second), 0);
    expect_echo(connected, second, "spawned by name");
    expect_echo(started, second, "and seen by the first");
    assert_int_equal(ens_spawn(c, &unregistered_def, NULL, NULL, &second), ENS_ENOENT);
    /* A connected program needs only the definition's name (the registered
     * one runs); the starting program runs what it passes, so there a
     * definition without code is refused. */
    ens_addr third;
    assert_int_equal(ens_spawn(c, &echo_by_name, NULL, NULL, &third), 0);
    expect_echo(connected, third, "spawned by its name alone");
    assert_int_equal(ens_name_spawn(c, "by-name", &echo_by_name, NULL, NULL, &third), 0);
    expect_echo(connected, third, "and named");
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_by_name, NULL, NULL, &third),
                     ENS_EINVAL);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(connected, WAIT_MS, &st), 0);
    assert_int_equal(ens_status_count(st), 4);
    ens_status_free(st);
    /* Detaching leaves the system running. */
    assert_int_equal(ens_system_close(connected, WAIT_MS), 0);
    connected = NULL;
    expect_echo(started, first, "still here");
    assert_int_equal(ens_system_close(started, WAIT_MS), 0);
    started = NULL;
    assert_int_equal(ens_system_connect(name, &connected), ENS_ENOENT);
    assert_null(connected);
}

/* A program connected by name keeps the system's limits: they come in the
 * admin's hello, the byte bound of its sends among them. */
static void test_connected_program_keeps_the_byte_bound(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof(name), "bytes");
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.log_level = ENS_LOG_ERROR;
    o.mailbox_limit = 1000;
    o.mailbox_bytes_limit = 1u << 20;
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr echo;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &echo), 0);
    assert_int_equal(ens_system_connect(name, &connected), 0);
    const ens_system_opts *seen = ens_system_options(connected);
    assert_int_equal(seen->mailbox_limit, 1000);
    assert_int_equal(seen->mailbox_bytes_limit, 1u << 20);
    /* Its first sends wait for the connection (until its next call): ten
     * messages of 100 000 bytes fit in 1 MiB, the eleventh does not. */
    size_t len = 100000;
    uint8_t *buf = calloc(1, len);
    assert_non_null(buf);
    ens_ctx *c = ens_system_ctx(connected);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ens_send(c, echo, &ens_msg_bytes, &(ens_bytes_v){{buf, (uint32_t)len}}),
                         0);
    assert_int_equal(ens_send(c, echo, &ens_msg_bytes, &(ens_bytes_v){{buf, (uint32_t)len}}),
                     ENS_EFULL);
    free(buf);
    /* The ask waits behind them (it is bounded too): make room first. */
    ens_msg *r = NULL;
    int rc;
    while ((rc = ens_ask(c, echo, &ens_msg_string, &(ens_string_v){"after"}, WAIT_MS, &r)) ==
           ENS_EFULL)
        assert_int_equal(ens_system_run(connected, 100), 0);
    assert_int_equal(rc, 0);
    ens_msg_free(r);
}

static void test_bad_names_are_refused(void **state)
{
    (void)state;
    ens_system *s = NULL;
    assert_int_equal(ens_system_connect("no-such-system-here", &s), ENS_ENOENT);
    assert_int_equal(ens_system_connect("", &s), ENS_EINVAL);
    assert_int_equal(ens_system_connect("a/b", &s), ENS_EINVAL);
    assert_int_equal(ens_system_connect("x", NULL), ENS_EINVAL);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = "has space";
    assert_int_equal(ens_system_start(&o, &s), ENS_EINVAL);
    o.name = NULL;
    o.base = ENS_BASE_INPROC;
    o.persistent = true;
    assert_int_equal(ens_system_start(&o, &s), ENS_ENOTSUP);
    assert_null(s);
}

static void test_persistent_system_outlives_its_starter(void **state)
{
    (void)state;
    char name[64];
    unique_name(name, sizeof(name), "persist");
    /* The persistent admin is nobody's child; make it ours to reap (init
     * would, outside a test). */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.persistent = true;
    o.log_level = ENS_LOG_ERROR;
    assert_int_equal(ens_system_start(&o, &started), 0);
    ens_addr a;
    assert_int_equal(ens_spawn(ens_system_ctx(started), &echo_def, NULL, NULL, &a), 0);
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(started, WAIT_MS, &st), 0);
    pid_t admin = ens_status_admin_pid(st);
    pid_t actor = ens_status_at(st, 0)->pid;
    ens_status_free(st);
    /* The starter lets go: the system runs on. */
    assert_int_equal(ens_system_close(started, WAIT_MS), 0);
    started = NULL;
    assert_int_equal(ens_system_connect(name, &connected), 0);
    expect_echo(connected, a, "after the starter left");
    /* Any handle may end it. */
    assert_int_equal(ens_system_stop(connected, WAIT_MS), 0);
    connected = NULL;
    assert_true(test_gone_within((int)admin, 5000));
    assert_true(test_gone_within((int)actor, 5000));
    assert_int_equal(waitpid(admin, NULL, 0), admin);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    assert_int_equal(ens_system_connect(name, &connected), ENS_ENOENT);
}

static void test_another_user_is_refused(void **state)
{
    (void)state;
    if (getuid() != 0)
        skip(); /* needs root to become another user */
    char name[64];
    unique_name(name, sizeof(name), "uid");
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.log_level = ENS_LOG_ERROR;
    assert_int_equal(ens_system_start(&o, &started), 0);
    /* The system's socket address, built as root (the name holds the
     * uid), then used as nobody: the connection is made, and the admin
     * closes it at once when it sees the peer's uid. */
    struct sockaddr_un sa;
    int salen = ens__system_sockaddr(name, &sa);
    assert_true(salen > 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(10);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, (socklen_t)salen) != 0)
            _exit(11);
        char buf[256];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, WAIT_MS) != 1)
            _exit(12);
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        _exit(n == 0 ? 0 : 13); /* closed, no hello */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(ens_system_stop(started, WAIT_MS), 0);
    started = NULL;
}

int main(void)
{
    if (ens_actor_register(&echo_def) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_second_handle_connects_by_name, teardown),
        cmocka_unit_test_teardown(test_connected_program_keeps_the_byte_bound, teardown),
        cmocka_unit_test_teardown(test_bad_names_are_refused, teardown),
        cmocka_unit_test_teardown(test_persistent_system_outlives_its_starter, teardown),
        cmocka_unit_test_teardown(test_another_user_is_refused, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

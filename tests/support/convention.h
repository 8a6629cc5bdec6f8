/*
 * tests/support/convention.h - what the suites of systems in a convention
 * share (tests/test_convention*.c): the suite's private nats-server and the
 * convention's name, options and start of a member, a member run in a
 * process group of its own (killed at once, as with its host), the pid of
 * a system's gateway, the `ens` program run as a subprocess, and asking an
 * actor for text until it says what is awaited (by deadline).
 */
#ifndef ENS_TESTS_CONVENTION_H
#define ENS_TESTS_CONVENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ensemble/ensemble.h"
#include "support/nats_server.h"

/* The suite's private server (pid 0: nats-server is not installed, or it
 * was not started) and the name of its convention. */
extern test_nats test_conv_server;
extern char test_conv_name[32];

/* A test that needs the server skips, saying why, when it has none. */
#define TEST_CONV_NEED_SERVER()                                                                    \
    do {                                                                                           \
        if (test_conv_server.pid == 0) {                                                           \
            print_message("nats-server is not installed: skipped\n");                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Start test_conv_server, waiting up to TEST_WAIT_MS until it accepts.
 * Returns 0, also when nats-server is not installed (each test then skips:
 * TEST_CONV_NEED_SERVER); -1 when it would not start. */
int test_conv_server_start(void);

/* Stop test_conv_server (by pid, its directory removed) and release what
 * libnats holds in this process. Safe when it never started. */
void test_conv_server_stop(void);

/* cmocka group set-up and teardown for a suite whose fixtures start its
 * systems: test_conv_server_start and test_conv_server_stop. */
int test_conv_group_setup(void **state);
int test_conv_group_teardown(void **state);

/* Name the convention "<prefix><this pid>" (test_conv_name): suites that
 * run at once never share one. */
void test_conv_name_set(const char *prefix);

/* The options of a member of the convention on test_conv_server: named
 * name (NULL: the default), no journal, its log thrown away, heartbeats
 * every heartbeat_ms (0: the default). The strings are borrowed: they must
 * outlive the start. */
ens_system_opts test_conv_member_opts(const char *name, uint32_t heartbeat_ms);

/* Stop *s (waiting up to 5 s) if it runs, and forget it (NULL). */
void test_conv_stop(ens_system **s);

/* The end of a suite: stop each of the n systems (test_conv_stop), kill
 * the process group *group (test_conv_kill_group; group NULL: none), stop
 * the server (test_conv_server_stop). */
void test_conv_end(ens_system **const *systems, size_t n, pid_t *group);

/* ---- a member's events, as its starting program hears them ----------- */

typedef struct test_conv_seen {
    int badframes;       /* BADFRAME rows about a gateway */
    int gateway_crashes; /* CRASH rows of type ens.Gateway */
    int dead_letters;    /* DEAD_LETTER rows */
    char last_bad[256];  /* the reason of the last of each */
    char last_crash[256];
    char last_dead[256];
} test_conv_seen;

/* Start an unnamed member (test_conv_member_opts) whose events are counted
 * in *w (cleared first; w must outlive the system); mailbox_limit 0 keeps
 * the default. A failed start is a cmocka failure. */
ens_system *test_conv_start_seen(test_conv_seen *w, uint32_t heartbeat_ms, uint32_t mailbox_limit);

/* ---- a member in a process group of its own -------------------------- */

/* Start a system with o in a forked child that leads a new process group
 * and runs until killed. Returns the child's pid once the system said it
 * started, or -1 (could not fork, or the start failed: the child is then
 * killed and reaped). o's strings must be valid in the child (a copy of
 * this process). */
pid_t test_conv_start_group(const ens_system_opts *o);

/* SIGKILL the whole process group *group (its starter, admin, gateway and
 * actors at once, as a host that dies), reap its leader, and set *group to
 * 0. Nothing when *group is 0. */
void test_conv_kill_group(pid_t *group);

/* ---- the gateway process -------------------------------------------- */

/* The gateway of system `name`: the child of its admin whose process title
 * (comm) starts with "ens-gateway"; 0 if it has none now (or the system is
 * not running). */
pid_t test_conv_gateway_pid(const char *name);

/* SIGKILL the gateway of system `name` and wait (TEST_WAIT_MS) until its
 * admin runs another; returns the new one's pid. Between looks at /proc
 * (which offers nothing to wait on) it lets run's outside program move for
 * 20 ms, or naps 20 ms when run is NULL. No gateway to kill, or none new by
 * the deadline, is a cmocka failure. */
pid_t test_conv_kill_gateway(const char *name, ens_system *run);

/* ---- the ens program as a subprocess -------------------------------- */

/* Run the program at tool with args (NULL-terminated) by test_tool_run,
 * its stdout and stderr both into *out (malloc'ed, NUL-terminated; what
 * *out held is freed; the caller frees the last), ENSEMBLE_NATS_URL set to
 * env_url (NULL: unset) and ENSEMBLE_CONVENTION unset. Returns its exit status; one that
 * has not ended by TEST_WAIT_MS is killed, reaped and a cmocka failure, as
 * is one that did not exit. */
int test_conv_run_tool(const char *tool, const char *const *args, const char *env_url, char **out);

/* The first line of text that contains needle, copied into line (len
 * bytes), or NULL (none, or it would not fit). */
const char *test_conv_line_with(const char *text, const char *needle, char *line, size_t len);

/* ---- actors ---------------------------------------------------------- */

/* The counter's state and receive: it counts numbered ens.Int64 tells,
 * noting any out of order; asked with an ens.String it answers "<next>
 * <out of order>". Each suite names its own definition with them. */
typedef struct test_conv_counter {
    int64_t next;
    int64_t disorder;
} test_conv_counter;

int test_conv_counter_receive(ens_ctx *c, void *state, const ens_msg *m);

/* ---- asking actors for text ------------------------------------------ */

/* Append printf-style text to the string in buf (size bytes), cut to fit. */
void test_conv_append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An actor init that subscribes the actor to the convention's updates
 * (ens_convention_subscribe, with the members there now). */
int test_conv_subscribe_init(ens_ctx *c, void *state, const ens_msg *arg);

/* Let each system of systems (n of them; NULL ones skipped) run its
 * outside program for ms / n + 1 ms: what a tell left waiting goes out. */
void test_conv_run(ens_system *const *systems, size_t n, uint32_t ms);

/* Ask `to` from s's outside with text (an ens.String), waiting up to
 * wait_ms; the status, and the reply's text in out (len bytes; "" if the
 * reply has none). */
int test_conv_ask_text(ens_system *s, ens_addr to, const char *text, uint32_t wait_ms, char *out,
                       size_t len);

/* Ask `to` from s's outside with ask until the answer contains want, or
 * wait_ms passed, letting the n systems of run move 50 ms in all between
 * tries (test_conv_run). True once seen; the last answer is left in out.
 * An ask that fails is a cmocka failure. */
bool test_conv_await_text(ens_system *s, ens_addr to, const char *ask, const char *want,
                          int wait_ms, ens_system *const *run, size_t n, char *out, size_t len);

#endif

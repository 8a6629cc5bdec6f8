/*
 * tests/test_services.c - an actor's services, on every base: watching a
 * file descriptor (ens_watch_fd, one-shot FdReady) and running a shell
 * command (ens_command_run, CommandResult with bounded output), including
 * that a command still running dies with its actor and leaves no process.
 *
 * One actor, the Runner, does what the test asks (ens_ask of a Do message)
 * and tells the outside program what it saw: FdReady as a Seen report (with
 * the bytes it then read), CommandResult forwarded as is. Descriptors to
 * watch are made by the actor itself: on the process base it runs in a
 * process forked from the admin, which inherits none of the test's.
 * Waiting is ens_ask / ens_listen with a timeout, or poll() on a FIFO or a
 * pidfd; never a sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "support/scenario.h"

/* What the Runner should do. */
typedef struct {
    int32_t op;
    int32_t arg;
    uint64_t tag;
    char *text;
} do_v;
static ens_msgtype do_t = {"svct.Do", "S(iiUs)", sizeof(do_v), 0, 0, NULL};

/* A FdReady the Runner received, and what it read from the fd then. */
typedef struct {
    uint64_t tag;
    int32_t events;
    int32_t nread; /* bytes read; 0 at end of file; -1 would block */
} seen_v;
static ens_msgtype seen_t = {"svct.Seen", "S(Uii)", sizeof(seen_v), 0, 0, NULL};

enum {
    OP_PIPE = 1,   /* make a pipe and watch its read end (tag) */
    OP_WATCH,      /* watch the read end again (tag) */
    OP_UNWATCH,    /* unwatch the read end */
    OP_WRITE,      /* write arg bytes to the write end */
    OP_CLOSE_W,    /* close the write end */
    OP_WATCH_FD,   /* watch descriptor arg (tag) */
    OP_WATCH_FILE, /* watch a regular file */
    OP_RUN,        /* ens_command_run(text, arg, tag) */
    OP_STOP,       /* reply, then stop */
};

typedef struct {
    ens_addr outside;
    int rfd, wfd;
} runner_state;

static void close_pipe(runner_state *st)
{
    if (st->rfd > 0)
        close(st->rfd);
    if (st->wfd > 0)
        close(st->wfd);
    st->rfd = st->wfd = 0;
}

static int runner_do(ens_ctx *c, runner_state *st, const do_v *d)
{
    int rc = 0;
    switch (d->op) {
    case OP_PIPE: {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return ens_reply(c, &ens_msg_int64, &(ens_int64_v){-errno});
        st->rfd = p[0];
        st->wfd = p[1];
        rc = ens_watch_fd(c, st->rfd, d->tag);
        break;
    }
    case OP_WATCH:
        rc = ens_watch_fd(c, st->rfd, d->tag);
        break;
    case OP_UNWATCH:
        rc = ens_unwatch_fd(c, st->rfd);
        break;
    case OP_WRITE: {
        char buf[64] = {0};
        rc = (int)write(st->wfd, buf, (size_t)d->arg) == d->arg ? 0 : -errno;
        break;
    }
    case OP_CLOSE_W:
        rc = close(st->wfd);
        st->wfd = 0;
        break;
    case OP_WATCH_FD:
        rc = ens_watch_fd(c, d->arg, d->tag);
        break;
    case OP_WATCH_FILE: {
        int fd = open("/bin/sh", O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? -errno : ens_watch_fd(c, fd, d->tag);
        if (fd >= 0)
            close(fd);
        break;
    }
    case OP_RUN:
        rc = ens_command_run(c, d->text, (uint32_t)d->arg, d->tag);
        break;
    case OP_STOP:
        ens_stop(c, ENS_EXIT_NORMAL, 0);
        break;
    }
    return ens_reply(c, &ens_msg_int64, &(ens_int64_v){rc});
}

static int runner_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    runner_state *st = state;
    const do_v *d = ens_msg_value(m, &do_t);
    if (d != NULL) {
        st->outside = ens_sender(c);
        return runner_do(c, st, d);
    }
    const ens_fd_ready_v *r = ens_msg_value(m, &ens_msg_fd_ready);
    if (r != NULL) {
        char buf[256];
        ssize_t n = read(r->fd, buf, sizeof(buf)); /* the watch made it non-blocking */
        seen_v s = {r->tag, r->events, n < 0 ? -1 : (int32_t)n};
        return ens_send(c, st->outside, &seen_t, &s);
    }
    const ens_command_result_v *res = ens_msg_value(m, &ens_msg_command_result);
    if (res != NULL)
        return ens_send(c, st->outside, &ens_msg_command_result, res);
    return 0;
}

static void runner_terminate(ens_ctx *c, void *state, int reason)
{
    (void)c;
    (void)reason;
    close_pipe(state);
}

static const ens_actor_def runner_def = {
    .name = "svct.Runner",
    .state_size = sizeof(runner_state),
    .receive = runner_receive,
    .terminate = runner_terminate,
};

/* ---- helpers ---------------------------------------------------------- */

static char fifo_dir[64];
static char fifo_path[96];

static ens_addr start_runner(scn *t)
{
    scn_start(t, NULL);
    ens_addr a;
    assert_int_equal(ens_spawn(t->out, &runner_def, NULL, NULL, &a), 0);
    return a;
}

/* Ask the Runner to do op and return its answer (an error code or 0). */
static int64_t ask_do(scn *t, ens_addr to, int op, int arg, uint64_t tag, const char *text)
{
    do_v d = {op, arg, tag, (char *)text};
    ens_msg *r = NULL;
    int rc = ens_ask(t->out, to, &do_t, &d, SCN_WAIT_MS, &r);
    if (rc != 0)
        fail_msg("ask op %d: %s", op, ens_err_name(rc));
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    int64_t n = v->value;
    ens_msg_free(r);
    return n;
}

static seen_v listen_seen(scn *t)
{
    ens_msg *m = scn_listen_type(t, &seen_t, SCN_WAIT_MS);
    seen_v s = *(const seen_v *)ens_msg_value(m, &seen_t);
    ens_msg_free(m);
    return s;
}

/* Run cmd in the Runner and return its result (owned: ens_msg_free). */
static ens_msg *run_command(scn *t, ens_addr a, const char *cmd, uint32_t max, uint64_t tag,
                            const ens_command_result_v **res)
{
    assert_int_equal(ask_do(t, a, OP_RUN, (int)max, tag, cmd), 0);
    ens_msg *m = scn_listen_type(t, &ens_msg_command_result, SCN_WAIT_MS);
    *res = ens_msg_value(m, &ens_msg_command_result);
    assert_non_null(*res);
    assert_int_equal((*res)->tag, tag);
    return m;
}

/* Wait up to ms for the process behind pidfd to end. */
static bool ended_within(int pidfd, int ms)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return r == 1;
}

static bool proc_exists(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- watch ------------------------------------------------------------ */

static void test_watch_reports_readable_once_then_is_off(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    assert_int_equal(ask_do(t, a, OP_PIPE, 0, 7, NULL), 0);
    assert_int_equal(ask_do(t, a, OP_WATCH, 0, 8, NULL), ENS_EEXIST);
    assert_int_equal(ask_do(t, a, OP_WRITE, 3, 0, NULL), 0);
    seen_v s = listen_seen(t);
    assert_int_equal(s.tag, 7);
    assert_true(s.events & ENS_FD_READABLE);
    assert_false(s.events & (ENS_FD_HANGUP | ENS_FD_ERROR));
    assert_int_equal(s.nread, 3);
    /* One-shot: the watch is off once it fired. */
    assert_int_equal(ask_do(t, a, OP_UNWATCH, 0, 0, NULL), ENS_ENOENT);
    /* Watched again, it fires again for new data. */
    assert_int_equal(ask_do(t, a, OP_WATCH, 0, 9, NULL), 0);
    assert_int_equal(ask_do(t, a, OP_WRITE, 1, 0, NULL), 0);
    s = listen_seen(t);
    assert_int_equal(s.tag, 9);
    assert_int_equal(s.nread, 1);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_unwatch_drops_the_watch(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    assert_int_equal(ask_do(t, a, OP_PIPE, 0, 1, NULL), 0);
    assert_int_equal(ask_do(t, a, OP_UNWATCH, 0, 0, NULL), 0);
    assert_int_equal(ask_do(t, a, OP_UNWATCH, 0, 0, NULL), ENS_ENOENT);
    /* Data while unwatched reports nothing; a new watch sees it at once,
     * and the first FdReady the outside gets carries the new tag. */
    assert_int_equal(ask_do(t, a, OP_WRITE, 2, 0, NULL), 0);
    assert_int_equal(ask_do(t, a, OP_WATCH, 0, 2, NULL), 0);
    seen_v s = listen_seen(t);
    assert_int_equal(s.tag, 2);
    assert_int_equal(s.nread, 2);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_watch_reports_hangup_when_writer_closes(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    assert_int_equal(ask_do(t, a, OP_PIPE, 0, 5, NULL), 0);
    assert_int_equal(ask_do(t, a, OP_CLOSE_W, 0, 0, NULL), 0);
    seen_v s = listen_seen(t);
    assert_int_equal(s.tag, 5);
    assert_true(s.events & ENS_FD_HANGUP);
    assert_false(s.events & ENS_FD_ERROR);
    assert_int_equal(s.nread, 0); /* end of file */
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_watch_rejects_bad_fd_file_and_outside(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    assert_int_equal(ask_do(t, a, OP_WATCH_FD, 987, 0, NULL), ENS_EINVAL); /* not open */
    assert_int_equal(ask_do(t, a, OP_WATCH_FD, -1, 0, NULL), ENS_EINVAL);
    assert_int_equal(ask_do(t, a, OP_WATCH_FILE, 0, 0, NULL), ENS_EINVAL);
    assert_int_equal(ens_watch_fd(t->out, 0, 0), ENS_EINVAL);
    assert_int_equal(ens_unwatch_fd(t->out, 0), ENS_EINVAL);
    assert_int_equal(ens_watch_fd(NULL, 0, 0), ENS_EINVAL);
    assert_int_equal(ens_command_run(t->out, "true", 0, 0), ENS_EINVAL);
    assert_int_equal(ens_command_run(NULL, "true", 0, 0), ENS_EINVAL);
    assert_int_equal(ask_do(t, a, OP_RUN, 0, 0, NULL), ENS_EINVAL); /* NULL command */
    assert_int_equal(ask_do(t, a, OP_RUN, (int)(16u << 20), 0, "true"), ENS_EMSGSIZE);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- commands ----------------------------------------------------------- */

static void test_command_gives_output_and_exit_status(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    const ens_command_result_v *r;
    ens_msg *m = run_command(t, a, "echo hello; exit 3", 0, 41, &r);
    assert_int_equal(r->exit_status, 3);
    assert_int_equal(r->signal, 0);
    assert_int_equal(r->truncated, 0);
    assert_int_equal(r->output.len, 6);
    assert_memory_equal(r->output.data, "hello\n", 6);
    ens_msg_free(m);

    m = run_command(t, a, "echo out; echo err >&2; true", 0, 42, &r);
    assert_int_equal(r->exit_status, 0);
    assert_int_equal(r->output.len, 8);
    assert_memory_equal(r->output.data, "out\nerr\n", 8); /* merged, in order */
    ens_msg_free(m);

    m = run_command(t, a, "read x; echo \"[$x] $?\"", 0, 43, &r); /* stdin: /dev/null */
    assert_int_equal(r->exit_status, 0);
    assert_int_equal(r->output.len, 5);
    assert_memory_equal(r->output.data, "[] 1\n", 5);
    ens_msg_free(m);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_command_killed_by_signal_reports_signal(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    const ens_command_result_v *r;
    ens_msg *m = run_command(t, a, "kill -TERM $$", 0, 44, &r);
    assert_int_equal(r->exit_status, -1);
    assert_int_equal(r->signal, SIGTERM);
    assert_int_equal(r->output.len, 0);
    ens_msg_free(m);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_command_output_truncated_at_max(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    const ens_command_result_v *r;
    ens_msg *m = run_command(t, a, "head -c 200000 /dev/zero", 1000, 45, &r);
    assert_int_equal(r->exit_status, 0); /* the rest was read, not refused */
    assert_int_equal(r->signal, 0);
    assert_int_equal(r->truncated, 1);
    assert_int_equal(r->output.len, 1000);
    static const char zeros[1000];
    assert_memory_equal(r->output.data, zeros, 1000);
    ens_msg_free(m);

    /* 0 = the default of 64 KiB. */
    m = run_command(t, a, "head -c 70000 /dev/zero", 0, 46, &r);
    assert_int_equal(r->truncated, 1);
    assert_int_equal(r->output.len, ENS_COMMAND_OUTPUT_DEFAULT);
    ens_msg_free(m);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_commands_run_side_by_side(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    /* The slow one starts first and waits for a line on the FIFO, which the
     * test writes only after the fast one has reported: the actor was never
     * blocked by the first. (The test holds the FIFO open read-write, so the
     * shell's open never waits and the line stays until it is read.) */
    int ff = open(fifo_path, O_RDWR | O_CLOEXEC);
    assert_true(ff >= 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "read x < %s; echo \"slow $x\"", fifo_path);
    assert_int_equal(ask_do(t, a, OP_RUN, 0, 1, cmd), 0);
    const ens_command_result_v *r;
    ens_msg *m = run_command(t, a, "echo fast", 0, 2, &r);
    assert_int_equal(r->output.len, 5);
    assert_memory_equal(r->output.data, "fast\n", 5);
    ens_msg_free(m);
    assert_int_equal(write(ff, "go\n", 3), 3);
    m = scn_listen_type(t, &ens_msg_command_result, SCN_WAIT_MS);
    close(ff);
    r = ens_msg_value(m, &ens_msg_command_result);
    assert_int_equal(r->tag, 1);
    assert_int_equal(r->output.len, 8);
    assert_memory_equal(r->output.data, "slow go\n", 8);
    ens_msg_free(m);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* Start a command that reports "<shell pid> <background child pid>" through
 * the FIFO, then waits; return pidfds of both. */
static void start_sleeper(scn *t, ens_addr a, int pidfd[2], pid_t pid[2])
{
    int ff = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(ff >= 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "sleep 31.4159 & echo $$ $! > %s; wait", fifo_path);
    assert_int_equal(ask_do(t, a, OP_RUN, 0, 50, cmd), 0);
    struct pollfd p = {.fd = ff, .events = POLLIN};
    assert_int_equal(poll(&p, 1, SCN_WAIT_MS), 1);
    char buf[64] = {0};
    assert_true(read(ff, buf, sizeof(buf) - 1) > 0);
    close(ff);
    int p0 = 0, p1 = 0;
    assert_int_equal(sscanf(buf, "%d %d", &p0, &p1), 2);
    pid[0] = p0;
    pid[1] = p1;
    for (int i = 0; i < 2; i++) {
        pidfd[i] = (int)syscall(SYS_pidfd_open, pid[i], 0);
        assert_true(pidfd[i] >= 0);
    }
}

static void test_stopping_actor_kills_running_command(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    int pidfd[2];
    pid_t pid[2];
    start_sleeper(t, a, pidfd, pid);
    assert_false(ended_within(pidfd[0], 0));
    assert_int_equal(ask_do(t, a, OP_STOP, 0, 0, NULL), 0);
    /* The shell and its background child are killed with the actor. */
    bool shell_ended = ended_within(pidfd[0], SCN_WAIT_MS);
    bool child_ended = ended_within(pidfd[1], SCN_WAIT_MS);
    close(pidfd[0]);
    close(pidfd[1]);
    assert_true(shell_ended);
    assert_true(child_ended);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    assert_false(proc_exists(pid[0])); /* reaped, not a zombie */
}

static void test_shutdown_kills_running_command(void **state)
{
    scn *t = *state;
    ens_addr a = start_runner(t);
    int pidfd[2];
    pid_t pid[2];
    start_sleeper(t, a, pidfd, pid);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    bool shell_ended = ended_within(pidfd[0], SCN_WAIT_MS);
    bool child_ended = ended_within(pidfd[1], SCN_WAIT_MS);
    close(pidfd[0]);
    close(pidfd[1]);
    assert_true(shell_ended);
    assert_true(child_ended);
    assert_false(proc_exists(pid[0]));
}

/* ---- main ------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_watch_reports_readable_once_then_is_off),
    SCN_TEST(test_unwatch_drops_the_watch),
    SCN_TEST(test_watch_reports_hangup_when_writer_closes),
    SCN_TEST(test_watch_rejects_bad_fd_file_and_outside),
    SCN_TEST(test_command_gives_output_and_exit_status),
    SCN_TEST(test_command_killed_by_signal_reports_signal),
    SCN_TEST(test_command_output_truncated_at_max),
    SCN_TEST(test_commands_run_side_by_side),
    SCN_TEST(test_stopping_actor_kills_running_command),
    SCN_TEST(test_shutdown_kills_running_command),
};

int main(void)
{
    ens_msgtype *types[] = {&do_t, &seen_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ens_msgtype_register(types[i]);
        if (rc != 0) {
            fprintf(stderr, "registering %s: %s\n", types[i]->name, ens_err_name(rc));
            return 1;
        }
    }
    snprintf(fifo_dir, sizeof(fifo_dir), "/tmp/ens-svc-XXXXXX");
    if (mkdtemp(fifo_dir) == NULL)
        return 1;
    snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", fifo_dir);
    if (mkfifo(fifo_path, 0600) < 0)
        return 1;
    int failed = scn_run_bases("services", tests, sizeof(tests) / sizeof(tests[0]));
    unlink(fifo_path);
    rmdir(fifo_dir);
    return failed;
}

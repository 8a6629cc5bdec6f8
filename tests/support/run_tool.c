/*
 * tests/support/run_tool.c - a program run as a subprocess with its
 * standard streams on pipes (see run_tool.h). One poll loop feeds the
 * input and drains both outputs at once, so neither side can fill a pipe
 * and wait on the other; a pidfd lets the end of the program be waited for
 * against the same deadline as its output.
 */
#include "run_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "deadline.h"

extern char **environ;

typedef struct grow_text {
    char *buf;
    size_t len, cap;
} grow_text;

static void text_add(grow_text *t, const char *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = realloc(t->buf, t->cap);
        assert_non_null(t->buf);
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static size_t name_len(const char *kv)
{
    return strcspn(kv, "=");
}

/* The test's environment with changes applied (see test_tool_opts.env).
 * Built before fork: the child only calls execve. */
static char **child_environment(const char *const *changes)
{
    size_t n = 0, m = 0;
    while (environ[n] != NULL)
        n++;
    while (changes != NULL && changes[m] != NULL)
        m++;
    char **env = calloc(n + m + 1, sizeof(*env));
    assert_non_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool changed = false;
        for (size_t j = 0; j < m && !changed; j++)
            changed = name_len(changes[j]) == name_len(environ[i]) &&
                      strncmp(changes[j], environ[i], name_len(environ[i])) == 0;
        if (!changed)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        if (changes[j][name_len(changes[j])] == '=')
            env[k++] = (char *)changes[j];
    env[k] = NULL;
    return env;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* One read from *fd into t; the end of the stream (or, on a non-blocking
 * one, nothing left to read) closes *fd. */
static void drain_once(int *fd, grow_text *t)
{
    char chunk[4096];
    ssize_t got = read(*fd, chunk, sizeof(chunk));
    if (got > 0)
        text_add(t, chunk, (size_t)got);
    else if (got == 0 || errno != EINTR)
        close_fd(fd);
}

/* What is left in *fd once the writer ended, without waiting for an end
 * of stream that another holder of the pipe might delay. */
static void drain_rest(int *fd, grow_text *t)
{
    if (*fd >= 0)
        assert_int_equal(fcntl(*fd, F_SETFL, O_NONBLOCK), 0);
    while (*fd >= 0)
        drain_once(fd, t); /* EAGAIN: all there was */
}

int test_tool_run(const char *tool, const char *const *args, const test_tool_opts *opts, char **out,
                  char **err)
{
    static const test_tool_opts defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    size_t nargs = 0;
    while (args[nargs] != NULL)
        nargs++;
    const char **argv = calloc(nargs + 2, sizeof(*argv));
    assert_non_null(argv);
    argv[0] = tool;
    memcpy(argv + 1, args, nargs * sizeof(*argv));
    char **envp = child_environment(opts->env);

    int in_p[2], out_p[2], err_p[2] = {-1, -1};
    assert_int_equal(pipe2(in_p, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out_p, O_CLOEXEC), 0);
    if (err != NULL)
        assert_int_equal(pipe2(err_p, O_CLOEXEC), 0);
    /* A program that ends without reading all its input makes the write
     * fail with EPIPE; the signal that comes with it must not end the
     * suite. It is blocked here, in this thread, and discarded below. */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* dup2 clears close-on-exec on 0, 1 and 2 only; every other
         * descriptor (the pipes, a system's) is close-on-exec. */
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        if (dup2(in_p[0], 0) < 0 || dup2(out_p[1], 1) < 0 ||
            dup2(err != NULL ? err_p[1] : out_p[1], 2) < 0)
            _exit(126);
        execve(tool, (char *const *)argv, envp);
        _exit(127);
    }
    free(argv);
    free(envp);
    close_fd(&in_p[0]);
    close_fd(&out_p[1]);
    close_fd(&err_p[1]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(pidfd >= 0);

    const char *in = opts->input != NULL ? opts->input : "";
    size_t in_left = strlen(in);
    if (in_left == 0)
        close_fd(&in_p[1]);
    else
        assert_int_equal(fcntl(in_p[1], F_SETFL, O_NONBLOCK), 0);
    grow_text texts[2] = {{0}, {0}};
    text_add(&texts[0], "", 0);
    text_add(&texts[1], "", 0);
    test_deadline d = test_deadline_in(opts->wait_ms > 0 ? opts->wait_ms : TEST_WAIT_MS);
    bool ended = false;
    /* Until the program has ended: it may close its output and still run.
     * What it wrote is in the pipes by then; a process it left behind
     * holding them open must not keep the test waiting. */
    while (!ended) {
        struct pollfd p[4] = {{.fd = out_p[0], .events = POLLIN},
                              {.fd = err_p[0], .events = POLLIN},
                              {.fd = in_p[1], .events = POLLOUT},
                              {.fd = ended ? -1 : pidfd, .events = POLLIN}};
        int r = poll(p, 4, test_deadline_left_ms(d));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(pidfd);
            close_fd(&in_p[1]);
            close_fd(&out_p[0]);
            close_fd(&err_p[0]);
            free(texts[0].buf);
            free(texts[1].buf);
            pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
            fail_msg("%s %s did not end within %d ms", tool, nargs > 0 ? args[0] : "",
                     opts->wait_ms > 0 ? opts->wait_ms : TEST_WAIT_MS);
        }
        if (p[0].revents != 0)
            drain_once(&out_p[0], &texts[0]);
        if (p[1].revents != 0)
            drain_once(&err_p[0], &texts[1]);
        if (p[2].revents != 0) {
            ssize_t w = write(in_p[1], in, in_left);
            if (w > 0) {
                in += w;
                in_left -= (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                in_left = 0; /* EPIPE: it will read no more */
            }
            if (in_left == 0)
                close_fd(&in_p[1]);
        }
        if (p[3].revents != 0)
            ended = true;
    }
    drain_rest(&out_p[0], &texts[0]);
    drain_rest(&err_p[0], &texts[1]);
    close_fd(&in_p[1]);
    close(pidfd);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!sigismember(&old_mask, SIGPIPE)) {
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE))
            sigtimedwait(&pipe_set, NULL, &(struct timespec){0, 0});
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

    free(*out);
    *out = texts[0].buf;
    if (err != NULL) {
        free(*err);
        *err = texts[1].buf;
    } else {
        free(texts[1].buf);
    }
    if (!WIFEXITED(status))
        fail_msg("%s %s died: status %d; stderr: %s", tool, nargs > 0 ? args[0] : "", status,
                 err != NULL ? *err : *out);
    return WEXITSTATUS(status);
}

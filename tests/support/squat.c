/*
 * tests/support/squat.c - an impostor of another user holding a socket
 * address (tests/support/squat.h).
 */
#include "support/squat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_WAIT_MS 30000

_Noreturn static void impostor(const struct sockaddr_un *sa, socklen_t len, int report)
{
    int ready = -1;
    if (setgid(TEST_OTHER_UID) != 0 || setuid(TEST_OTHER_UID) != 0)
        _exit(10);
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (const struct sockaddr *)sa, len) != 0 || listen(lfd, 64) != 0) {
        ready = -errno;
        (void)!write(report, &ready, sizeof(ready));
        _exit(11);
    }
    if (write(report, &ready, sizeof(ready)) != sizeof(ready))
        _exit(12);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int got = 0;
        for (;;) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, READ_WAIT_MS) != 1)
                break;
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n <= 0)
                break;
            got += (int)n;
        }
        close(fd);
        if (write(report, &got, sizeof(got)) != sizeof(got))
            _exit(13);
    }
}

bool test_squat(const struct sockaddr_un *sa, socklen_t len, test_squatter *out)
{
    out->pid = 0;
    out->report = -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return false;
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return false;
    }
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(9);
        impostor(sa, len, p[1]);
    }
    close(p[1]);
    out->pid = pid;
    out->report = p[0];
    if (test_squat_next(out, READ_WAIT_MS) != -1) { /* -1 is "listening" */
        test_squat_end(out);
        return false;
    }
    return true;
}

int test_squat_next(test_squatter *s, int ms)
{
    struct pollfd p = {.fd = s->report, .events = POLLIN};
    int v = -2;
    int r;
    do
        r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    if (r != 1 || read(s->report, &v, sizeof(v)) != sizeof(v))
        return -2;
    return v;
}

void test_squat_end(test_squatter *s)
{
    if (s == NULL)
        return;
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    if (s->report >= 0)
        close(s->report);
    s->pid = 0;
    s->report = -1;
}

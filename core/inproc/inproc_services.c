/*
 * core/inproc/inproc_services.c - watched descriptors and shell commands on the
 * inproc base (ens_watch_fd, ens_command_run).
 *
 * The inproc base has no event loop of its own: actors run inside the
 * outside program's blocking calls, and when the FIFO is empty the loop
 * (core/inproc/inproc.c) waits here instead of sleeping. The wait is one poll() on
 * every watched descriptor and, for every running command, its output pipe
 * and a pidfd of its shell (readable once the shell has exited), bounded by
 * the next wake-up or the caller's deadline. What poll() reports becomes
 * system messages in the FIFO, so they are handled like any message. While
 * the FIFO is busy the loop also looks without waiting, at most once a
 * millisecond, so a steady stream of messages cannot starve a watch.
 *
 * Commands: posix_spawn of /bin/sh -c in a process group of its own, with
 * default signal dispositions and an empty mask (the host program's
 * handlers must not leak into it), stdin /dev/null, stdout and stderr on one
 * pipe, every other descriptor closed. The shell is reaped only after its
 * pidfd said it exited and its output was drained; until then its pid (and
 * process group id) cannot be reused, so killing the group is safe.
 */
#include "core/inproc/inproc_services.h"
#include "core/runtime/capbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ensemble/error.h"

extern char **environ;

#define PUMP_EVERY_NS 1000000u /* busy loop: look at most once a millisecond */
#define NO_PIDFD_POLL 10       /* ms between checks of a shell without pidfd */
#define READ_CHUNK    65536u

typedef struct iwatch {
    int fd;
    uint64_t tag;
    ens_addr owner;
    struct iwatch *next;
} iwatch;

typedef struct icmd {
    pid_t pid;
    int pidfd; /* -1 when pidfd_open is not available */
    int out;   /* read end of the output pipe; -1 once at its end */
    ens_addr owner;
    uint64_t tag;
    ens_capbuf output; /* what it wrote, up to its max */
    struct icmd *next;
} icmd;

typedef enum { ENT_WATCH = 1, ENT_CMD_OUT, ENT_CMD_EXIT } ent_kind;

typedef struct svc {
    iwatch *watches;
    icmd *cmds;
    uint64_t last_look_ns;
    struct pollfd *pfd; /* poll set of the last look, and what each entry is */
    ent_kind *kind;
    void **what;
    size_t cap;
} svc;

static svc *svc_of(ens_system *s, bool create)
{
    void **slot = ens__inproc_services_slot(s);
    if (*slot == NULL && create)
        *slot = calloc(1, sizeof(svc));
    return *slot;
}

/* ---- watches -------------------------------------------------------------- */

int ens__inproc_watch(ens_system *s, ens_actor *a, int fd, uint64_t tag, bool on)
{
    svc *v = svc_of(s, on);
    if (v == NULL)
        return on ? ENS_ENOMEM : ENS_ENOENT;
    iwatch **found = NULL;
    for (iwatch **pp = &v->watches; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->fd == fd && ens_addr_equal((*pp)->owner, a->addr))
            found = pp;
    }
    if (!on) {
        if (found == NULL)
            return ENS_ENOENT;
        iwatch *w = *found;
        *found = w->next;
        free(w);
        return 0;
    }
    if (found != NULL)
        return ENS_EEXIST;
    iwatch *w = malloc(sizeof(*w));
    if (w == NULL)
        return ENS_ENOMEM;
    /* As on the process base (libuv does it there): the watch makes fd
     * non-blocking, so a handler's read can never stall the system. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    *w = (iwatch){fd, tag, a->addr, v->watches};
    v->watches = w;
    return 0;
}

static int32_t events_of(short revents)
{
    int32_t ev = 0;
    if (revents & POLLIN)
        ev |= ENS_FD_READABLE;
    if (revents & (POLLHUP | POLLRDHUP))
        ev |= ENS_FD_HANGUP;
    if (revents & (POLLERR | POLLNVAL))
        ev |= ENS_FD_ERROR;
    return ev;
}

static void watch_fired(ens_system *s, svc *v, iwatch *w, short revents)
{
    for (iwatch **pp = &v->watches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    ens_fd_ready_v m = {w->fd, events_of(revents), w->tag};
    ens__send_frame(s, w->owner, w->owner, &ens_msg_fd_ready, &m, ENS_FRAME_SYSTEM, 0, 0, false);
    free(w);
}

/* Read what the pipe holds now; close it at its end. */
static void cmd_drain(icmd *c)
{
    static uint8_t chunk[READ_CHUNK];
    while (c->out >= 0) {
        ssize_t n = read(c->out, chunk, sizeof(chunk));
        if (n > 0) {
            ens__capbuf_keep(&c->output, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close(c->out); /* end of output, or a read error */
        c->out = -1;
    }
}

static void cmd_free(icmd *c)
{
    if (c->out >= 0)
        close(c->out);
    if (c->pidfd >= 0)
        close(c->pidfd);
    free(c->output.buf);
    free(c);
}

static void cmd_unlink(svc *v, icmd *c)
{
    for (icmd **pp = &v->cmds; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            return;
        }
    }
}

/* Kill the shell and its process group, and reap it. */
static void cmd_kill(icmd *c)
{
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The shell has exited (a zombie, not reaped yet): take the rest of its
 * output, kill what still holds the pipe, reap, and send the result. */
static void cmd_exited(ens_system *s, svc *v, icmd *c)
{
    cmd_drain(c);
    if (c->out >= 0) /* a background child holds the output open */
        kill(-c->pid, SIGKILL);
    int st = 0;
    pid_t r;
    while ((r = waitpid(c->pid, &st, 0)) < 0 && errno == EINTR)
        ;
    ens_command_result_v m = {.tag = c->tag, .truncated = c->output.truncated ? 1 : 0};
    if (r < 0) {
        m.exit_status = -1; /* someone else reaped it: status unknown */
    } else if (WIFSIGNALED(st)) {
        m.exit_status = -1;
        m.signal = WTERMSIG(st);
    } else {
        m.exit_status = WEXITSTATUS(st);
    }
    m.output = (ens_bytes){c->output.buf, c->output.len};
    cmd_unlink(v, c);
    ens__send_frame(s, c->owner, c->owner, &ens_msg_command_result, &m, ENS_FRAME_SYSTEM, 0, 0,
                    false);
    cmd_free(c);
}

/* Without a pidfd: has the shell exited? (Looks without reaping.) */
static bool cmd_has_exited(const icmd *c)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return si.si_pid == c->pid;
}

static int spawn_shell(const char *cmd, int out_w, pid_t *pid)
{
    posix_spawnattr_t at;
    posix_spawn_file_actions_t fa;
    int rc = posix_spawnattr_init(&at);
    if (rc != 0)
        return rc;
    rc = posix_spawn_file_actions_init(&fa);
    if (rc != 0) {
        posix_spawnattr_destroy(&at);
        return rc;
    }
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                           POSIX_SPAWN_SETSIGMASK);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&at, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&at, &all);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&at, &none);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, out_w, 2);
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (rc == 0) {
        static char sh[] = "/bin/sh", dash_c[] = "-c";
        char *args[] = {sh, dash_c, (char *)cmd, NULL};
        rc = posix_spawn(pid, sh, &fa, &at, args, environ);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

int ens__inproc_command(ens_system *s, ens_actor *a, const char *cmd, uint32_t max_output,
                        uint64_t tag)
{
    svc *v = svc_of(s, true);
    icmd *c = v != NULL ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL)
        return ENS_ENOMEM;
    int p[2];
    int err = ens__output_pipe(p);
    if (err < 0) {
        free(c);
        return err;
    }
    pid_t pid = 0;
    int rc = spawn_shell(cmd, p[1], &pid);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        free(c);
        return rc == ENOMEM ? ENS_ENOMEM : ENS_EAGAIN;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    c->pid = pid;
    c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    c->out = p[0];
    c->owner = a->addr;
    c->tag = tag;
    c->output.max = max_output;
    c->next = v->cmds;
    v->cmds = c;
    return 0;
}

/* ---- the loop's hooks ------------------------------------------------------- */

static bool grow(svc *v, size_t n)
{
    if (n <= v->cap)
        return true;
    size_t cap = v->cap ? v->cap : 16;
    while (cap < n)
        cap *= 2;
    struct pollfd *p = realloc(v->pfd, cap * sizeof(*p));
    if (p != NULL)
        v->pfd = p;
    ent_kind *k = realloc(v->kind, cap * sizeof(*k));
    if (k != NULL)
        v->kind = k;
    void **w = realloc(v->what, cap * sizeof(*w));
    if (w != NULL)
        v->what = w;
    if (p == NULL || k == NULL || w == NULL)
        return false;
    v->cap = cap;
    return true;
}

static void look(ens_system *s, svc *v, uint64_t until_ns)
{
    size_t n = 0;
    bool no_pidfd = false;
    for (iwatch *w = v->watches; w != NULL; w = w->next)
        n++;
    for (icmd *c = v->cmds; c != NULL; c = c->next)
        n += 2;
    if (!grow(v, n))
        return; /* out of memory: look again next time */
    n = 0;
    for (iwatch *w = v->watches; w != NULL; w = w->next) {
        v->pfd[n] = (struct pollfd){.fd = w->fd, .events = POLLIN | POLLRDHUP};
        v->kind[n] = ENT_WATCH;
        v->what[n++] = w;
    }
    for (icmd *c = v->cmds; c != NULL; c = c->next) {
        if (c->out >= 0) {
            v->pfd[n] = (struct pollfd){.fd = c->out, .events = POLLIN};
            v->kind[n] = ENT_CMD_OUT;
            v->what[n++] = c;
        }
        if (c->pidfd >= 0) {
            v->pfd[n] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
            v->kind[n] = ENT_CMD_EXIT;
            v->what[n++] = c;
        } else {
            no_pidfd = true;
        }
    }
    uint64_t now = ens__mono_ns();
    uint64_t wait = until_ns > now ? until_ns - now : 0;
    if (no_pidfd && wait > NO_PIDFD_POLL * 1000000ull)
        wait = NO_PIDFD_POLL * 1000000ull;
    struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
    int r = ppoll(n > 0 ? v->pfd : NULL, (nfds_t)n, &ts, NULL);
    v->last_look_ns = ens__mono_ns();
    if (r < 0)
        return; /* EINTR: the loop calls again */
    /* Output first, then exits, so a result carries everything. An entry
     * whose object went away earlier in this pass is skipped: watches and
     * commands are only removed by their own entry here. */
    for (size_t i = 0; i < n; i++) {
        if (v->pfd[i].revents == 0)
            continue;
        if (v->kind[i] == ENT_WATCH)
            watch_fired(s, v, v->what[i], v->pfd[i].revents);
        else if (v->kind[i] == ENT_CMD_OUT)
            cmd_drain(v->what[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (v->kind[i] == ENT_CMD_EXIT && v->pfd[i].revents != 0)
            cmd_exited(s, v, v->what[i]);
    }
    if (no_pidfd) {
        for (icmd *c = v->cmds, *next; c != NULL; c = next) {
            next = c->next;
            if (c->pidfd < 0 && cmd_has_exited(c))
                cmd_exited(s, v, c);
        }
    }
}

void ens__inproc_services_wait(ens_system *s, uint64_t until_ns)
{
    svc *v = svc_of(s, false);
    if (v != NULL && (v->watches != NULL || v->cmds != NULL)) {
        look(s, v, until_ns);
        return;
    }
    uint64_t now = ens__mono_ns();
    if (until_ns <= now)
        return;
    uint64_t d = until_ns - now;
    struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
    nanosleep(&ts, NULL); /* EINTR: the loop calls again */
}

void ens__inproc_services_pump(ens_system *s)
{
    svc *v = svc_of(s, false);
    if (v == NULL || (v->watches == NULL && v->cmds == NULL))
        return;
    if (ens__mono_ns() - v->last_look_ns < PUMP_EVERY_NS)
        return;
    look(s, v, 0);
}

void ens__inproc_services_actor_gone(ens_system *s, ens_actor *a)
{
    svc *v = svc_of(s, false);
    if (v == NULL)
        return;
    for (iwatch **pp = &v->watches; *pp != NULL;) {
        iwatch *w = *pp;
        if (ens_addr_equal(w->owner, a->addr)) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
    for (icmd **pp = &v->cmds; *pp != NULL;) {
        icmd *c = *pp;
        if (ens_addr_equal(c->owner, a->addr)) {
            *pp = c->next;
            cmd_kill(c);
            cmd_free(c);
        } else {
            pp = &c->next;
        }
    }
}

void ens__inproc_services_free(ens_system *s)
{
    svc *v = svc_of(s, false);
    if (v == NULL)
        return;
    for (iwatch *w = v->watches, *n; w != NULL; w = n) {
        n = w->next;
        free(w);
    }
    for (icmd *c = v->cmds, *n; c != NULL; c = n) {
        n = c->next;
        cmd_kill(c);
        cmd_free(c);
    }
    free(v->pfd);
    free(v->kind);
    free(v->what);
    free(v);
    *ens__inproc_services_slot(s) = NULL;
}

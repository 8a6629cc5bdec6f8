/*
 * core/process/proc_services.c - watched descriptors and shell commands for the
 * actor of a process-base actor process (ens_watch_fd, ens_command_run).
 *
 * Everything runs on the actor process's own libuv loop, so nothing blocks
 * the actor. A watch is a uv_poll_t; when it fires, poll() is asked once
 * more for the exact events (libuv reports a hang-up as "readable"), the
 * watch is closed (one-shot) and an FdReady goes to the actor. A command is
 * uv_spawn of /bin/sh -c in a session (hence process group) of its own,
 * with stdout and stderr on one pipe we read through a uv_pipe_t. The
 * result is sent when the shell has exited and its output is drained: on
 * exit whatever is left in the pipe is read at once, and if something the
 * shell started still holds the pipe open, the group is killed.
 *
 * uv_spawn relies on libuv's SIGCHLD watcher. That is sound here: actor
 * processes are forked by an admin that holds no libuv state, and each
 * builds a fresh loop (PLATFORM-NOTES.md), so the signal machinery is this
 * process's own. When the actor ends, ens__proc_services_end kills and
 * reaps every running command before the process exits.
 */
#include "core/process/proc_services.h"
#include "core/runtime/capbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ensemble/error.h"

typedef struct pwatch {
    uv_poll_t poll; /* first: the close callback frees the block */
    int fd;
    uint64_t tag;
    struct pwatch *next;
} pwatch;

typedef struct pcmd {
    uv_process_t proc;
    uv_pipe_t out;
    int open_handles; /* freed when both handles are closed */
    pid_t pid;
    uint64_t tag;
    ens_capbuf output; /* what it wrote, up to its max */
    bool exited, eof;
    int32_t exit_status, signal;
    struct pcmd *next;
} pcmd;

static struct {
    ens_system *sys;
    ens_addr self;
    pwatch *watches;
    pcmd *cmds;
} S;

/* Read buffer of the pipes: libuv reads into it and calls on_read before it
 * asks for a buffer again, so one is enough for every command. */
static uint8_t scratch[65536];

static void remember(ens_system *s, ens_actor *a)
{
    S.sys = s;
    S.self = a->addr;
}

/* ---- watches -------------------------------------------------------------- */

static void free_block(uv_handle_t *h)
{
    free(h);
}

/* The events of fd right now, as an enum ens_fd_event mask. */
static int32_t fd_events(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    int32_t ev = 0;
    if (p.revents & POLLIN)
        ev |= ENS_FD_READABLE;
    if (p.revents & (POLLHUP | POLLRDHUP))
        ev |= ENS_FD_HANGUP;
    if (p.revents & (POLLERR | POLLNVAL))
        ev |= ENS_FD_ERROR;
    return ev;
}

static void watch_unlink(pwatch *w)
{
    for (pwatch **pp = &S.watches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, free_block);
}

static void on_watch(uv_poll_t *h, int status, int events)
{
    (void)events;
    pwatch *w = h->data;
    int32_t ev = fd_events(w->fd);
    if (status < 0)
        ev |= ENS_FD_ERROR;
    if (ev == 0)
        return; /* gone again before we looked: keep watching */
    ens_fd_ready_v v = {w->fd, ev, w->tag};
    watch_unlink(w);
    ens__send_frame(S.sys, S.self, S.self, &ens_msg_fd_ready, &v, ENS_FRAME_SYSTEM, 0, 0, false);
}

int ens__proc_watch(ens_system *s, ens_actor *a, int fd, uint64_t tag, bool on)
{
    remember(s, a);
    pwatch *found = NULL;
    for (pwatch *w = S.watches; w != NULL; w = w->next) {
        if (w->fd == fd)
            found = w;
    }
    if (!on) {
        if (found == NULL)
            return ENS_ENOENT;
        watch_unlink(found);
        return 0;
    }
    if (found != NULL)
        return ENS_EEXIST;
    pwatch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return ENS_ENOMEM;
    /* Also refuses a descriptor the runtime itself polls (UV_EEXIST). */
    int rc = uv_poll_init(ens__proc_loop(), &w->poll, fd);
    if (rc < 0) {
        free(w);
        return rc == UV_ENOMEM ? ENS_ENOMEM : ENS_EINVAL;
    }
    w->fd = fd;
    w->tag = tag;
    w->poll.data = w;
    rc = uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_watch);
    if (rc < 0) {
        uv_close((uv_handle_t *)&w->poll, free_block);
        return rc == UV_ENOMEM ? ENS_ENOMEM : ENS_EINVAL;
    }
    w->next = S.watches;
    S.watches = w;
    return 0;
}

/* ---- commands ------------------------------------------------------------- */

static void cmd_closed(uv_handle_t *h)
{
    pcmd *c = h->data;
    if (--c->open_handles == 0) {
        free(c->output.buf);
        free(c);
    }
}

static void cmd_unlink(pcmd *c)
{
    for (pcmd **pp = &S.cmds; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            return;
        }
    }
}

static void cmd_finish(pcmd *c)
{
    if (!c->exited || !c->eof)
        return;
    ens_command_result_v v = {
        .tag = c->tag,
        .exit_status = c->exit_status,
        .signal = c->signal,
        .truncated = c->output.truncated ? 1 : 0,
        .output = {c->output.buf, c->output.len},
    };
    cmd_unlink(c);
    ens__send_frame(S.sys, S.self, S.self, &ens_msg_command_result, &v, ENS_FRAME_SYSTEM, 0, 0,
                    false);
    uv_close((uv_handle_t *)&c->proc, cmd_closed);
    uv_close((uv_handle_t *)&c->out, cmd_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    pcmd *c = st->data;
    if (n > 0) {
        ens__capbuf_keep(&c->output, (const uint8_t *)buf->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;    /* EAGAIN */
    c->eof = true; /* UV_EOF, or a read error: the output ends here */
    uv_read_stop(st);
    cmd_finish(c);
}

static void on_cmd_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    pcmd *c = p->data;
    c->exited = true;
    c->exit_status = term_signal != 0 ? -1 : (int32_t)exit_status;
    c->signal = term_signal;
    if (!c->eof) {
        /* Everything the shell wrote is in the pipe now: take it. */
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->out, &fd) == 0) {
            for (;;) {
                ssize_t n = read(fd, scratch, sizeof(scratch));
                if (n > 0) {
                    ens__capbuf_keep(&c->output, scratch, (size_t)n);
                    continue;
                }
                if (n < 0 && errno == EINTR)
                    continue;
                if (n == 0)
                    c->eof = true;
                break;
            }
        }
        if (!c->eof) /* a background child holds the output open */
            kill(-c->pid, SIGKILL);
        c->eof = true;
        uv_read_stop((uv_stream_t *)&c->out);
    }
    cmd_finish(c);
}

/* fd moved to 3 or above (so the child's dup2 onto 0..2 cannot clash). */
int ens__proc_command(ens_system *s, ens_actor *a, const char *cmd, uint32_t max_output,
                      uint64_t tag)
{
    remember(s, a);
    pcmd *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ENS_ENOMEM;
    int p[2];
    int err = ens__output_pipe(p);
    if (err < 0) {
        free(c);
        return err;
    }
    /* libuv closes no descriptor in the child: make every one of this
     * process close-on-exec, so the command inherits only 0..2. */
    close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);

    static char sh[] = "/bin/sh", dash_c[] = "-c";
    char *args[] = {sh, dash_c, (char *)cmd, NULL};
    uv_stdio_container_t io[3] = {
        {.flags = UV_IGNORE}, /* /dev/null */
        {.flags = UV_INHERIT_FD, .data.fd = p[1]},
        {.flags = UV_INHERIT_FD, .data.fd = p[1]},
    };
    uv_process_options_t o = {
        .exit_cb = on_cmd_exit,
        .file = sh,
        .args = args,
        .flags = UV_PROCESS_DETACHED, /* setsid: a process group to kill */
        .stdio_count = 3,
        .stdio = io,
    };
    int rc = uv_spawn(ens__proc_loop(), &c->proc, &o);
    c->proc.data = c;
    close(p[1]);
    if (rc < 0) {
        close(p[0]);
        c->open_handles = 1;
        uv_close((uv_handle_t *)&c->proc, cmd_closed);
        return rc == UV_ENOMEM ? ENS_ENOMEM : ENS_EAGAIN;
    }
    c->pid = c->proc.pid;
    c->tag = tag;
    c->output.max = max_output;
    c->open_handles = 2;
    uv_pipe_init(ens__proc_loop(), &c->out, 0);
    c->out.data = c;
    if (uv_pipe_open(&c->out, p[0]) < 0) {
        close(p[0]);
        c->eof = true; /* no output, but still a result when it ends */
    } else if (uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read) < 0) {
        c->eof = true;
    }
    c->next = S.cmds;
    S.cmds = c;
    return 0;
}

void ens__proc_services_end(void)
{
    for (pcmd *c = S.cmds; c != NULL; c = c->next) {
        if (c->exited)
            continue;
        kill(-c->pid, SIGKILL);
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}

/*
 * core/process/outside/outside_start.c - how a program gets its outside
 * handle on a process-base system: ens_system_start forks the admin (a
 * persistent one in a session of its own), ens_system_connect knocks at a
 * running system's door and is let in (or told why not).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/process/outside/outside.h"
#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "core/runtime/endpoint.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

static uint32_t make_node(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t h = 2166136261u;
    uint64_t parts[3] = {(uint64_t)getpid(), (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec};
    for (size_t i = 0; i < sizeof(parts); i++) {
        /* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign): all 24 bytes are set */
        h ^= ((const uint8_t *)parts)[i];
        h *= 16777619u;
    }
    return h > 1 ? h : 2; /* 0 is "none", 1 the inproc base */
}

/* Sort the few descriptors the admin keeps (those > 2 of fds[0..n)), for
 * ens__close_fds_except. */
static size_t admin_keep(int *keep, const int *fds, size_t n_fds)
{
    size_t n = 0;
    for (size_t i = 0; i < n_fds; i++) {
        if (fds[i] > 2)
            keep[n++] = fds[i];
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    return n;
}

int ens__process_start(ens_system *s)
{
    int rc = ens__ctl_register();
    if (rc < 0)
        return rc;
    ens_door door;
    rc = ens__door_open(s, &door);
    if (rc < 0)
        return rc;
    outside *o = ens__po_new();
    if (o == NULL) {
        ens__door_close(&door, true);
        return ENS_ENOMEM;
    }
    int ctl[2], conn[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
        ens__door_close(&door, true);
        ens__po_drop(o);
        return ENS_EIO;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn) < 0) {
        close(ctl[0]);
        close(ctl[1]);
        ens__door_close(&door, true);
        ens__po_drop(o);
        return ENS_EIO;
    }
    s->node = make_node();
    s->outside.self = (ens_addr){ENS_ID_OUTSIDE, s->node, 0};
    const bool persistent = s->opts.persistent;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno == EAGAIN ? ENS_EAGAIN : ENS_ENOMEM;
        close(ctl[0]);
        close(ctl[1]);
        close(conn[0]);
        close(conn[1]);
        ens__door_close(&door, true);
        ens__po_drop(o);
        return err;
    }
    if (pid == 0) {
        /* A persistent admin is not tied to us: it runs in a session of its
         * own, as the grandchild of a process that exits at once (so init,
         * not this program, reaps it). */
        if (!ens__child_setup(parent, !persistent))
            _exit(ENS_PROC_EXIT_PARENT_GONE);
        if (persistent) {
            setsid();
            pid_t admin = fork();
            if (admin != 0)
                _exit(admin < 0 ? 71 : 0);
        }
        int fds[5] = {ctl[1], conn[0], door.path_fd, door.abstract_fd, s->log_fd};
        int keep[5];
        size_t nk = admin_keep(keep, fds, 5);
        ens__close_fds_except(keep, nk);
        ens__admin_main(s, ctl[1], conn[0], &door);
    }
    close(ctl[1]);
    close(conn[0]);
    ens__door_close(&door, false); /* the admin's now: it removes the file */
    if (persistent) {
        int status;
        waitpid(pid, &status, 0); /* the middle process, gone at once */
        o->admin = 0;
        o->detach_only = true;
    } else {
        o->admin = pid;
    }
    o->ctl = ctl[0];
    ens__fd_nonblock(o->ctl);
    if (ens__po_io_start(o, conn[1]) < 0) {
        /* Closing the control channel ends the admin (its starter left). */
        close(conn[1]);
        s->base = o;
        ens__po_release(s);
        s->base = NULL;
        if (!persistent)
            waitpid(pid, NULL, 0);
        return ENS_ENOMEM;
    }
    ens__po_attach(s, o, o->ctl);
    if (s->opts.convention.servers != NULL) {
        ens__errmsg_clear();
        rc = ens__po_wait_joined(s);
        if (rc < 0) { /* refused: nothing of the system is left running */
            ens__po_close(s, s->opts.call_timeout_ms, true);
            s->base = NULL;
            return rc;
        }
    }
    return 0;
}

int ens__process_connect(const char *name, ens_system **out)
{
    if (!ens__system_name_ok(name))
        return ENS_EINVAL;
    ens__msgtype_table_init();
    int rc = ens__ctl_register();
    if (rc < 0)
        return rc;
    int fd = -1;
    ens_peer who;
    rc = ens__door_connect(name, false, &fd, &who);
    if (rc < 0)
        return rc;
    ens__fd_nonblock(fd);
    /* The admin answers at once: the hello (our address, its settings), or
     * why it refuses us (a Connected frame with the error), then closes. */
    ens_msg *m = NULL;
    int fds[ENS_CTL_MAX_FDS];
    int nfds = 0;
    uint64_t deadline = ens__mono_ns() + 5000000000u;
    for (;;) {
        nfds = ENS_CTL_MAX_FDS;
        rc = ens__ctl_recv(fd, &m, fds, &nfds);
        if (rc != 0)
            break;
        uint64_t now = ens__mono_ns();
        if (now >= deadline) {
            rc = ENS_ETIMEDOUT;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
    }
    if (rc == 1 && m->hdr.type_id == ens__ctl_connected.id) {
        const ens__ctl_status_v *refusal = m->value;
        rc = refusal->status < 0 ? refusal->status : ENS_EIO;
    } else if (rc == 1 && (m->hdr.type_id != ens__ctl_hello.id || nfds != 1)) {
        rc = ENS_EIO;
    }
    const ens__ctl_hello_v *h = rc == 1 ? m->value : NULL;
    /* Show the admin we are a real client: a connection that says nothing
     * in time is closed (it holds one of the system's max_connections). */
    if (h != NULL) {
        ens__ctl_hello_v ack = {.addr = h->addr};
        if (ens__ctl_send(fd, h->addr, &ens__ctl_hello, &ack, 0, NULL, 0) < 0)
            rc = ENS_EIO;
    }
    if (rc != 1) {
        ens_msg_free(m);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        close(fd);
        return rc < 0 ? rc : ENS_EIO;
    }
    ens_system *s = calloc(1, sizeof(*s));
    outside *o = ens__po_new();
    char *copy = strdup(name);
    if (s == NULL || o == NULL || copy == NULL || ens__outside_open(s) < 0) {
        ens__outside_free(s);
        free(s);
        if (o != NULL)
            ens__po_drop(o);
        free(copy);
        ens_msg_free(m);
        close(fds[0]);
        close(fd);
        return ENS_ENOMEM;
    }
    ens_system_opts defaults = ENS_SYSTEM_OPTS_INIT;
    s->opts = defaults;
    s->opts.name = copy;
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): rc == 1, so h is set */
    s->opts.max_frame_bytes = h->max_frame_bytes;
    s->opts.mailbox_limit = h->mailbox_limit;
    s->opts.mailbox_bytes_limit = h->mailbox_bytes_limit;
    s->opts.call_timeout_ms = h->call_timeout_ms;
    s->opts.log_level = (ens_log_level)h->log_level;
    s->name = copy;
    s->log_fd = 2;
    s->node = h->addr.node;
    s->outside.sys = s;
    s->outside.self = h->addr;
    ens_msg_free(m);
    o->ctl = fd;
    o->detach_only = true;
    s->spawn_by_name = true;
    if (ens__po_io_start(o, fds[0]) < 0) {
        close(fds[0]);
        s->base = o;
        ens__po_release(s); /* closes fd: the admin forgets this program */
        ens__outside_free(s);
        free(copy);
        free(s);
        return ENS_ENOMEM;
    }
    ens__po_attach(s, o, fd);
    *out = s;
    return 0;
}

/*
 * core/process/proc_ctl.c - the process base's plumbing: control frames with file
 * descriptors on SOCK_SEQPACKET channels, the shared-memory stage, and what
 * a freshly forked process does first (signals, parent-death signal, file
 * descriptors, process title).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/msgtype.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

ens_msgtype ens__ctl_spawn = {
    "ens.ctl.Spawn", "S(UUiiss" ENS_ADDR_FMT ")B", sizeof(ens__ctl_spawn_v), 0, 0, NULL};
ens_msgtype ens__ctl_kill = {
    "ens.ctl.Kill", "S(" ENS_ADDR_FMT "U)", sizeof(ens__ctl_conn_v), 0, 0, NULL};
ens_msgtype ens__ctl_release = {
    "ens.ctl.Release", "S(" ENS_ADDR_FMT "U)", sizeof(ens__ctl_conn_v), 0, 0, NULL};
ens_msgtype ens__ctl_fork = {"ens.ctl.Fork",
                             "S(U" ENS_ADDR_FMT ENS_ADDR_FMT "uuis" ENS_ADDR_FMT "U)A(U)B",
                             sizeof(ens__ctl_fork_v),
                             0,
                             0,
                             NULL};
ens_msgtype ens__ctl_spare = {"ens.ctl.Spare", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_name = {"ens.ctl.Name", "S(is)", sizeof(ens__ctl_name_v), 0, 0, NULL};
ens_msgtype ens__ctl_gwname = {
    "ens.ctl.GwName", "S(ii" ENS_ADDR_FMT "Us)", sizeof(ens__ctl_gwname_v), 0, 0, NULL};
ens_msgtype ens__ctl_gwspawn = {"ens.ctl.GwSpawn",
                                "S(iiuuiu" ENS_ADDR_FMT ENS_ADDR_FMT "ss)B",
                                sizeof(ens__ctl_gwspawn_v),
                                0,
                                0,
                                NULL};
ens_msgtype ens__ctl_spawned = {
    "ens.ctl.Spawned", "S(" ENS_ADDR_FMT "i)", sizeof(ens__ctl_status_v), 0, 0, NULL};
ens_msgtype ens__ctl_ack = {"ens.ctl.Ack", "S(" ENS_ADDR_FMT "i)", sizeof(ens__ctl_status_v), 0, 0,
                            NULL};
ens_msgtype ens__ctl_connect = {
    "ens.ctl.Connect", "S(" ENS_ADDR_FMT "U)", sizeof(ens__ctl_conn_v), 0, 0, NULL};
ens_msgtype ens__ctl_connected = {
    "ens.ctl.Connected", "S(" ENS_ADDR_FMT "i)", sizeof(ens__ctl_status_v), 0, 0, NULL};
ens_msgtype ens__ctl_newconn = {
    "ens.ctl.NewConn", "S(" ENS_ADDR_FMT "U)", sizeof(ens__ctl_conn_v), 0, 0, NULL};
ens_msgtype ens__ctl_regive = {
    "ens.ctl.Regive", "S(" ENS_ADDR_FMT "U)", sizeof(ens__ctl_conn_v), 0, 0, NULL};
ens_msgtype ens__ctl_closed = {
    "ens.ctl.Closed", "S(" ENS_ADDR_FMT "U)", sizeof(ens__ctl_conn_v), 0, 0, NULL};
ens_msgtype ens__ctl_started = {"ens.ctl.Started", "S(ii)", sizeof(ens__ctl_exit_v), 0, 0, NULL};
ens_msgtype ens__ctl_initfailed = {
    "ens.ctl.InitFailed", "S(is)", sizeof(ens__ctl_why_v), 0, 0, NULL};
ens_msgtype ens__ctl_exiting = {"ens.ctl.Exiting", "S(ii)", sizeof(ens__ctl_exit_v), 0, 0, NULL};
ens_msgtype ens__ctl_untold = {"ens.ctl.Untold", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_event = {"ens.ctl.Event",
                              "S(I" ENS_ADDR_FMT ENS_ADDR_FMT ENS_ADDR_FMT "iiiuuusss)",
                              sizeof(ens__ctl_event_v),
                              0,
                              0,
                              NULL};
ens_msgtype ens__ctl_deadletter = {
    "ens.ctl.DeadLetter", "S(s)B", sizeof(ens__ctl_frame_v), 0, 0, NULL};
ens_msgtype ens__ctl_deadhandler = {
    "ens.ctl.DeadHandler", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_shutdown = {"ens.ctl.Shutdown", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_status = {"ens.ctl.Status", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_convsub = {"ens.ctl.ConvSub", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_capset = {"ens.ctl.CapSet", "S(iss)", sizeof(ens__ctl_caps_v), 0, 0, NULL};
ens_msgtype ens__ctl_gwcaps = {"ens.ctl.GwCaps", "S(iss)", sizeof(ens__ctl_caps_v), 0, 0, NULL};
ens_msgtype ens__ctl_joined = {"ens.ctl.Joined", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_poison = {"ens.ctl.Poison", "S(iu)", sizeof(ens__ctl_flag_v), 0, 0, NULL};
ens_msgtype ens__ctl_log = {"ens.ctl.Log", "S(us)", sizeof(ens__ctl_log_v), 0, 0, NULL};
ens_msgtype ens__ctl_hello = {
    "ens.ctl.Hello", "S(" ENS_ADDR_FMT "uuuuU)", sizeof(ens__ctl_hello_v), 0, 0, NULL};

int ens__ctl_register(void)
{
    ens_msgtype *all[] = {
        &ens__ctl_spawn,      &ens__ctl_spawned,    &ens__ctl_connect,     &ens__ctl_connected,
        &ens__ctl_newconn,    &ens__ctl_closed,     &ens__ctl_started,     &ens__ctl_exiting,
        &ens__ctl_event,      &ens__ctl_deadletter, &ens__ctl_deadhandler, &ens__ctl_shutdown,
        &ens__ctl_status,     &ens__ctl_log,        &ens__ctl_hello,       &ens__ctl_name,
        &ens__ctl_kill,       &ens__ctl_fork,       &ens__ctl_spare,       &ens__ctl_ack,
        &ens__ctl_initfailed, &ens__ctl_poison,     &ens__ctl_release,     &ens__ctl_gwname,
        &ens__ctl_convsub,    &ens__ctl_capset,     &ens__ctl_gwcaps,      &ens__ctl_gwspawn,
        &ens__ctl_joined,     &ens__ctl_untold,     &ens__ctl_regive};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        int rc = ens__msgtype_register_library(all[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ens__spawn_arg_refused(const char *type, size_t len)
{
    return ens__fail(ENS_EMSGSIZE,
                     "spawn of %s: its start argument encodes to %zu bytes, above the process "
                     "base's %u (ENS_SPAWN_ARG_MAX)",
                     type != NULL ? type : "(no type)", len, ENS_SPAWN_ARG_MAX);
}

int ens__ctl_build(ens_addr from, const ens_msgtype *t, const void *v, uint64_t corr,
                   uint8_t **frame, size_t *len)
{
    ens_frame_hdr h = {.flags = ENS_FRAME_SYSTEM, .sender = from, .corr = corr, .attempt = 1};
    return ens__frame_build(t, v, &h, ENS_CTL_MAX, frame, len);
}

int ens__ctl_send_raw(int fd, const uint8_t *frame, size_t len, const int *fds, int nfds, bool wait)
{
    struct iovec iov = {(void *)frame, len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * ENS_CTL_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait)
            return ENS_EAGAIN;
        /* Full for a moment: wait for room (the admin never waits on us). */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        do {
            poll(&p, 1, -1);
            n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK));
    }
    return n == (ssize_t)len ? 0 : ENS_EIO;
}

int ens__ctl_send(int fd, ens_addr from, const ens_msgtype *t, const void *v, uint64_t corr,
                  const int *fds, int nfds)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__ctl_build(from, t, v, corr, &frame, &len);
    if (rc < 0)
        return rc;
    rc = ens__ctl_send_raw(fd, frame, len, fds, nfds, true);
    free(frame);
    return rc;
}

int ens__ctl_recv(int fd, ens_msg **out, int *fds, int *nfds)
{
    uint64_t lost;
    bool dropped;
    return ens__ctl_recv_lost(fd, out, fds, nfds, &lost, &dropped);
}

int ens__ctl_recv_lost(int fd, ens_msg **out, int *fds, int *nfds, uint64_t *lost_corr,
                       bool *fds_dropped)
{
    *lost_corr = 0;
    *fds_dropped = false;
    int maxfds = *nfds;
    *nfds = 0;
    uint8_t *buf = malloc(ENS_CTL_MAX);
    if (buf == NULL)
        return ENS_ENOMEM;
    struct iovec iov = {buf, ENS_CTL_MAX};
    union {
        char buf[CMSG_SPACE(sizeof(int) * ENS_CTL_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    /* ECONNRESET: the peer ended with frames of ours unread in its queue
     * (an actor whose init failed before it read what the admin sent). The
     * error is reported once, ahead of what the peer sent before its end,
     * which is still queued here: read on (the next read gets it, or the
     * end of the channel). */
    bool reset_seen = false;
    for (;;) {
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n >= 0 || (errno != EINTR && (errno != ECONNRESET || reset_seen)))
            break;
        reset_seen = reset_seen || errno == ECONNRESET;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        free(buf);
        return 0;
    }
    for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c != NULL;
         c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int got[ENS_CTL_MAX_FDS];
        memcpy(got, CMSG_DATA(c), sizeof(int) * (size_t)k);
        for (int i = 0; i < k; i++) {
            if (*nfds < maxfds)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
    }
    if (n <= 0 || (mh.msg_flags & MSG_TRUNC)) {
        free(buf);
        for (int i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return n <= 0 ? ENS_EIO : ENS_EBADFRAME;
    }
    *fds_dropped = (mh.msg_flags & MSG_CTRUNC) != 0;
    ens_frame_hdr h;
    if (ens__frame_hdr_read(buf, (size_t)n, ENS_CTL_MAX, &h) == 0)
        *lost_corr = h.corr; /* read before the frame goes with a failed decode */
    int rc = ens__msg_from_frame(buf, (size_t)n, ENS_CTL_MAX, out);
    if (rc < 0) {
        for (int i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return rc == ENS_ENOMEM ? ENS_ENOMEM : ENS_EBADFRAME;
    }
    return 1;
}

void ens__ctl_event_to(const ens_event *ev, ens__ctl_event_v *v)
{
    *v = (ens__ctl_event_v){
        .at_ms = ev->at_ms,
        .actor = ev->actor,
        .parent = ev->parent,
        .sender = ev->sender,
        .kind = (int32_t)ev->kind,
        .error = ev->error,
        .signal = ev->signal,
        .attempt = ev->attempt,
        .incarnation = ev->incarnation,
        .msg_size = ev->msg_size,
        .actor_type = (char *)ev->actor_type,
        .msg_type = (char *)ev->msg_type,
        .reason = (char *)ev->reason,
    };
}

int ens__ctl_send_event(int fd, const ens_event *ev)
{
    ens__ctl_event_v v;
    ens__ctl_event_to(ev, &v);
    return ens__ctl_send(fd, ev->actor, &ens__ctl_event, &v, 0, NULL, 0);
}

void ens__ctl_event_from(const ens__ctl_event_v *v, ens_event *ev)
{
    *ev = (ens_event){
        .at_ms = v->at_ms,
        .kind = (ens_event_kind)v->kind,
        .actor = v->actor,
        .parent = v->parent,
        .actor_type = v->actor_type,
        .msg_type = v->msg_type,
        .sender = v->sender,
        .error = v->error,
        .signal = v->signal,
        .attempt = v->attempt,
        .incarnation = v->incarnation,
        .msg_size = v->msg_size,
        .reason = v->reason,
    };
    ens__event_fill(ev);
}

bool ens__system_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool ens__child_setup(pid_t parent_pid, bool die_with_parent)
{
    /* A parent's injected allocation failure (a test's) stays the parent's. */
    ens__alloc_fail_after(-1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        signal(sig, SIG_DFL);
    }
    /* Writes to a peer that is gone must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    if (!die_with_parent)
        return true;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    return getppid() == parent_pid;
}

void ens__close_fds_except(const int *keep, size_t n)
{
    unsigned int from = 3;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 3)
            continue;
        if ((unsigned int)keep[i] > from)
            close_range(from, (unsigned int)keep[i] - 1, 0);
        from = (unsigned int)keep[i] + 1;
    }
    close_range(from, ~0u, 0);
}

int ens__fd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return ENS_EIO;
    int fd_flags = fcntl(fd, F_GETFD);
    fcntl(fd, F_SETFD, fd_flags | FD_CLOEXEC);
    return 0;
}

/* Where the kernel keeps this process's argv and environment strings:
 * fields 48-51 of /proc/self/stat. Returns false if unknown. */
static bool arg_env_area(uintptr_t *arg_start, uintptr_t *arg_end, uintptr_t *env_start,
                         uintptr_t *env_end)
{
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[2048];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL)
        return false;
    /* p + 2 is field 3 (state); skip to field 48. */
    p += 2;
    for (int field = 3; field < 48 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    unsigned long v[4];
    if (p == NULL || sscanf(p, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4)
        return false;
    *arg_start = v[0];
    *arg_end = v[1];
    *env_start = v[2];
    *env_end = v[3];
    return v[0] != 0 && v[1] > v[0];
}

/* The area of argv (and of the environment strings, moved to the heap when
 * they follow argv) to write a title into. */
static bool title_area(uintptr_t *start, uintptr_t *end_out)
{
    uintptr_t as, ae, es, ee;
    if (!arg_env_area(&as, &ae, &es, &ee))
        return false;
    uintptr_t end = ae;
    if (es == ae && ee > es) {
        extern char **environ;
        size_t n_env = 0;
        while (environ != NULL && environ[n_env] != NULL)
            n_env++;
        char **copy = calloc(n_env + 1, sizeof(char *));
        if (copy == NULL)
            return false;
        for (size_t i = 0; i < n_env; i++) {
            uintptr_t p = (uintptr_t)environ[i];
            copy[i] = p >= es && p < ee ? strdup(environ[i]) : environ[i];
        }
        environ = copy; /* the old strings become title space */
        end = ee;
    }
    *start = as;
    *end_out = end;
    return true;
}

/* The argv and environment strings of a process are one contiguous area;
 * /proc/PID/cmdline (hence ps) shows it from argv[0], and on past the end
 * of argv when the last argv byte is not a NUL (the kernel's setproctitle
 * rule). Moving the environment strings to the heap frees the whole area
 * for a title. */
static void write_title(const char *comm, const char *fmt, va_list ap)
{
    char title[256];
    vsnprintf(title, sizeof(title), fmt, ap);
    prctl(PR_SET_NAME, comm != NULL ? comm : title); /* the kernel keeps 15 bytes */
    /* Found once per program image: a forked process (every actor) has
     * the same area, and the environment was already moved. */
    static uintptr_t start_at, end_at;
    if (start_at == 0 && !title_area(&start_at, &end_at))
        return;
    char *start = (char *)start_at;
    size_t room = (size_t)(end_at - start_at);
    size_t len = strlen(title);
    if (len >= room)
        len = room - 1;
    memcpy(start, title, len);
    memset(start + len, 0, room - len);
}

void ens__proctitle(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_title(NULL, fmt, ap);
    va_end(ap);
}

void ens__proctitle_comm(const char *comm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_title(comm, fmt, ap);
    va_end(ap);
}

void ens__actor_proctitle(const char *type, const char *global, const char *system, ens_addr addr)
{
    char where[ENS_ADDR_STRLEN];
    ens_addr_format(addr, where, sizeof(where));
    /* The kernel's 15 bytes hold "ens: " and the first ten of the type
     * (`ens: rt.Sink en`): the last part of the type, "demo.Cache" ->
     * "e:Cache", says more. A type ending in '.' keeps its whole name. */
    const char *dot = strrchr(type, '.');
    const char *tail = dot != NULL && dot[1] != '\0' ? dot + 1 : type;
    char comm[16];
    snprintf(comm, sizeof(comm), "e:%s", tail);
    if (global != NULL && global[0] != '\0')
        ens__proctitle_comm(comm, "ens: %s [%s] %s %s", type, global, system, where);
    else
        ens__proctitle_comm(comm, "ens: %s %s %s", type, system, where);
}

int ens__spawn_batch_send(ens__spawn_batch *b, int ctl, ens_addr from)
{
    while (b->sent < b->n && b->sent - b->answered < ENS__SPAWN_WINDOW) {
        if (b->req.flags & (int32_t)ENS__SPAWN_AT)
            b->req.at = b->out[b->sent]; /* each at its own reserved address */
        int rc = ens__ctl_send(ctl, from, &ens__ctl_spawn, &b->req, b->corr0 + b->sent, NULL, 0);
        if (rc < 0) {
            /* Nothing more reaches the admin: the rest fail with this. */
            for (; b->sent < b->n; b->sent++, b->answered++)
                b->status[b->sent] = rc == ENS_EIO ? ENS_ESHUTDOWN : rc;
            return rc;
        }
        b->sent++;
    }
    return 0;
}

bool ens__spawn_batch_take(ens__spawn_batch *b, uint32_t type_id, uint64_t corr, const void *value)
{
    if (b == NULL || b->n == 0 || corr < b->corr0 || corr - b->corr0 >= b->sent)
        return false;
    size_t i = (size_t)(corr - b->corr0);
    if (value == NULL) { /* the answer was lost (out of memory) */
        if (b->status[i] == 1) {
            b->status[i] = ENS_ENOMEM;
            b->answered++;
        }
        return true;
    }
    if (type_id == ens__ctl_initfailed.id) {
        const ens__ctl_why_v *w = value;
        if (b->why[0] == '\0')
            snprintf(b->why, sizeof(b->why), "%s", w->reason != NULL ? w->reason : "");
        return true;
    }
    if (type_id != ens__ctl_spawned.id && type_id != ens__ctl_ack.id)
        return false;
    if (b->status[i] == 1) {
        const ens__ctl_status_v *v = value;
        b->status[i] = v->status < 0 ? v->status : 0;
        b->out[i] = v->status < 0 ? ENS_ADDR_NONE : v->addr;
        b->answered++;
    }
    return true;
}

bool ens__spawn_batch_ready(const ens__spawn_batch *b)
{
    if (b->sent < b->n)
        return b->sent - b->answered < ENS__SPAWN_WINDOW;
    return b->answered == b->n;
}

/*
 * core/process/admin/admin_loop.c - the admin's loop and its entry point.
 * One epoll set, level-triggered, up to 64 events a turn: the control
 * channels and connections of the records, the signalfd (SIGCHLD), the
 * listening sockets where programs connect by the system's name, and the
 * zygote's channel. After a turn's batch the epoll set is brought in line
 * with the records the turn touched and the records it freed are buried.
 * Shutdown stops the top-level actors one at a time, the last started
 * first (killing one that outlives its share of the time), then ends.
 * Restarts that wait for their backoff are started from the loop too.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/names_wide.h"
#include "ensemble/error.h"

/* The admin's state (admin.h): one per admin process, filled in by
 * ens__admin_main. */
admin admin_state;

/* ---- what the admin waits on --------------------------------------------
 * One epoll set, level-triggered: r's control channel (readable, and
 * writable while control frames wait for room) and its connection (writable
 * while frames wait). ens__admin_ep_sync brings a record's registrations in
 * line; at a turn's end only the records the turn touched are synced
 * (ens__admin_sync_dirty). A descriptor leaves the set before it is closed. */

enum { EP_CTL = 0, EP_TX = 1 };
#define EP_SIGNALS         2u /* tags of the admin's own descriptors (below any pointer) */
#define EP_LISTEN          4u
#define EP_ZYGOTE          6u
#define EP_LISTEN_ABSTRACT 8u
#define EP_JOURNAL         10u

void ens__admin_ep_set(int *reg_fd, uint32_t *reg_ev, int fd, uint32_t ev, uint64_t tag)
{
    if (*reg_fd >= 0 && (*reg_fd != fd || ev == 0)) {
        epoll_ctl(admin_state.ep, EPOLL_CTL_DEL, *reg_fd, NULL);
        *reg_fd = -1;
    }
    if (fd < 0 || ev == 0)
        return;
    struct epoll_event e = {.events = ev, .data.u64 = tag};
    if (*reg_fd < 0) {
        if (epoll_ctl(admin_state.ep, EPOLL_CTL_ADD, fd, &e) == 0) {
            *reg_fd = fd;
            *reg_ev = ev;
        }
    } else if (*reg_ev != ev && epoll_ctl(admin_state.ep, EPOLL_CTL_MOD, fd, &e) == 0) {
        *reg_ev = ev;
    }
}

void ens__admin_ep_sync(arec *r)
{
    uint64_t tag = (uint64_t)(uintptr_t)r;
    ens__admin_ep_set(&r->ep_ctl, &r->ep_ctl_ev, r->ctl,
                      r->ctl >= 0 ? EPOLLIN | (r->cq_head != NULL ? EPOLLOUT : 0u) : 0u,
                      tag | EP_CTL);
    ens__admin_ep_set(&r->ep_tx, &r->ep_tx_ev, r->tx, r->out_len > 0 ? EPOLLOUT : 0u, tag | EP_TX);
}

void ens__admin_close_ctl(arec *r)
{
    ens__admin_ep_set(&r->ep_ctl, &r->ep_ctl_ev, -1, 0, 0);
    if (r->ctl >= 0)
        close(r->ctl);
    r->ctl = -1;
}

/* ---- shutdown -------------------------------------------------------------
 * As a supervisor stops its children: the top-level actors one at a time,
 * the last started (highest id) first; the next is asked to exit only once
 * the one before has ended. Each gets what is left of the shutdown's time
 * divided by the top-level actors still to stop (time one does not use
 * passes on to the next); past it, it is killed (a journal row). */

/* An actor started for a parent on another system is top level here: its
 * parent's end asks it to exit across the gateways, this system's end
 * stops it as its own. */
static bool top_level(const arec *r)
{
    return !r->outside && (ens_addr_is_none(r->parent) || r->parent.node != admin_state.sys->node);
}

/* Kill the actor the shutdown waits for: its share of the time is up. */
static void shutdown_kill_current(void)
{
    arec *r =
        ens_addr_is_none(admin_state.shut_cur) ? NULL : ens__admin_by_addr(admin_state.shut_cur);
    if (r == NULL || r->shut_killed || r->pid <= 0)
        return;
    r->shut_killed = true;
    ens_event ev = {.kind = ENS_EV_EXIT,
                    .actor = r->addr,
                    .parent = r->parent,
                    .actor_type = r->shown->name,
                    .incarnation = r->incarnation,
                    .signal = SIGKILL,
                    .reason = "did not end within its share of the shutdown's time: killed"};
    ens__admin_emit(&ev);
    kill(r->pid, SIGKILL);
}

/* One step of the ordered shutdown at monotonic time now: ask the next
 * top-level actor once the one before has ended, kill the one waited for
 * once its time is up. Returns when it wants to look again (0: when a
 * process ends). */
static uint64_t shutdown_step(uint64_t now)
{
    arec *cur =
        ens_addr_is_none(admin_state.shut_cur) ? NULL : ens__admin_by_addr(admin_state.shut_cur);
    if (cur != NULL) {
        if (now < admin_state.shut_cur_by)
            return admin_state.shut_cur_by;
        shutdown_kill_current(); /* reaped as any process: then the next one */
        return 0;
    }
    arec *next = NULL;
    size_t left = 0;
    for (size_t i = 0; i < admin_state.n; i++) {
        arec *r = admin_state.recs[i];
        if (!top_level(r))
            continue;
        left++;
        if (!r->shut_asked && (next == NULL || r->addr.id > next->addr.id))
            next = r;
    }
    if (next == NULL) {
        admin_state.shut_cur = ENS_ADDR_NONE;
        return 0;
    }
    uint64_t rest = admin_state.shutdown_deadline > now ? admin_state.shutdown_deadline - now : 0;
    next->shut_asked = true;
    admin_state.shut_cur = next->addr;
    admin_state.shut_cur_by = now + rest / left;
    ens_exit_request_v v = {0};
    ens__admin_send_to((ens_addr){ENS_ID_ADMIN, admin_state.sys->node, 0}, next->addr,
                       &ens_msg_exit_request, &v, ENS_FRAME_SYSTEM, 0, 0);
    return admin_state.shut_cur_by;
}

void ens__admin_begin_shutdown(uint32_t timeout_ms)
{
    if (admin_state.shutting_down)
        return;
    admin_state.shutting_down = true;
    admin_state.shutdown_deadline = ens__mono_ns() + (uint64_t)timeout_ms * 1000000u;
    admin_state.shut_cur = ENS_ADDR_NONE;
    /* An actor waiting for a restart has no process to ask: it ends now
     * (from the end: ending frees the record, which moves later ones). */
    for (size_t i = admin_state.n; i-- > 0 && admin_state.n_backoff > 0;) {
        arec *r = admin_state.recs[i];
        if (r->restart_at != 0)
            ens__admin_end_waiting(r, r->restart_sig == SIGKILL ? ENS_EXIT_KILLED : ENS_EXIT_CRASH,
                                   "the system shut down while its restart waited");
    }
    /* With no time at all (the starting program is gone) all are killed
     * at once, at the loop's next turn. */
    if (timeout_ms > 0)
        shutdown_step(ens__mono_ns());
}

static void reap(void)
{
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
        ens__admin_on_child_exit(pid, wstatus);
}

static bool only_outside_left(void)
{
    for (size_t i = 0; i < admin_state.n; i++) {
        if (!admin_state.recs[i]->outside)
            return false;
    }
    return true;
}

/* Why connections are refused (static: the log's rate limit is per source
 * and reason). */
static const char NOT_OURS[] = "not this system's user";
static const char TOO_MANY[] = "too many programs connected (max_connections)";
static const char NO_FDS[] = "too few file descriptors left (kept for the actors)";
static const char ENDING[] = "the system is shutting down";
static const char SILENT[] = "connected but did not answer the hello in time";

/* How long a program connected by name may stay silent: it answers the
 * hello at once, so the call timeout is plenty (never below a second). */
static uint64_t hello_wait_ns(void)
{
    uint64_t ms = admin_state.sys->opts.call_timeout_ms;
    return (ms < 1000 ? 1000 : ms) * 1000000u;
}

/* A program connects by the system's name (on lfd): only the system's own
 * user is let in, and at most max_connections programs at once, never
 * taking the descriptors kept for actors. It becomes an outside endpoint
 * with an address of its own. A refused program of our user is told why;
 * another user is told nothing. */
static void on_connect(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    struct ucred cred = {0, (uid_t)-1, (gid_t)-1};
    socklen_t len = sizeof(cred);
    uint64_t now = ens__mono_ns();
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
        ens__refusal_note(admin_state.sys, &admin_state.refusals, (int)cred.uid, (int)cred.pid,
                          NOT_OURS, now);
        close(fd);
        return;
    }
    const char *why = NULL;
    int status = 0;
    if (admin_state.shutting_down)
        why = ENDING, status = ENS_ESHUTDOWN;
    else if (admin_state.n_foreign >= admin_state.sys->opts.max_connections)
        why = TOO_MANY, status = ENS_ETOOMANY;
    else if (ens__admin_fds_short())
        why = NO_FDS, status = ENS_EAGAIN;
    int sv[2] = {-1, -1};
    arec *r = NULL;
    if (status == 0 && (r = ens__admin_rec_add()) == NULL)
        status = ENS_ENOMEM;
    if (status == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        status = ENS_EAGAIN;
    if (status != 0) {
        if (r != NULL) {
            r->addr = ENS_ADDR_NONE;
            ens__admin_rec_free(r);
        }
        if (why != NULL)
            ens__refusal_note(admin_state.sys, &admin_state.refusals, (int)cred.uid, (int)cred.pid,
                              why, now);
        /* A refusal is one small frame into an empty channel: it fits. */
        ens__ctl_status_v no = {ENS_ADDR_NONE, status};
        uint8_t *frame = NULL;
        size_t flen = 0;
        if (ens__ctl_build(ENS_ADDR_NONE, &ens__ctl_connected, &no, 0, &frame, &flen) == 0)
            ens__ctl_send_raw(fd, frame, flen, NULL, 0, false);
        free(frame);
        close(fd);
        return;
    }
    r->outside = true;
    r->foreign = true;
    admin_state.n_foreign++;
    r->hello_by = now + hello_wait_ns();
    ens__admin_n_hello++;
    r->peer_uid = (int)cred.uid;
    r->peer_pid = (int)cred.pid;
    r->addr = (ens_addr){admin_state.next_id++, admin_state.sys->node, 0};
    ens__admin_rec_index(r);
    r->incarnation = 1;
    r->ctl = fd;
    r->tx = sv[0];
    ens__admin_dirty(r);
    ens__fd_nonblock(sv[0]);
    const ens_system_opts *o = &admin_state.sys->opts;
    ens__ctl_hello_v hello = {r->addr,
                              o->max_frame_bytes,
                              o->mailbox_limit,
                              o->call_timeout_ms,
                              (uint32_t)o->log_level,
                              o->mailbox_bytes_limit};
    ens__admin_ctl_out(r, r->addr, &ens__ctl_hello, &hello, 0, sv[1], false);
    close(sv[1]);
}

/* Close the connections by name that stayed silent past their deadline
 * (they hold a place among max_connections). Returns the next deadline,
 * 0 if none. */
static uint64_t close_silent(uint64_t now)
{
    uint64_t next = 0;
    if (ens__admin_n_hello == 0)
        return 0;
    for (size_t i = admin_state.n; i-- > 0;) {
        arec *r = admin_state.recs[i];
        if (r->hello_by == 0)
            continue;
        if (r->hello_by > now) {
            if (next == 0 || r->hello_by < next)
                next = r->hello_by;
            continue;
        }
        ens__refusal_note(admin_state.sys, &admin_state.refusals, r->peer_uid, r->peer_pid, SILENT,
                          now);
        ens__admin_close_ctl(r);
        ens__admin_rec_free(r); /* only records after i move */
    }
    return next;
}

/* One event of a turn's batch. A record freed by an earlier event of the
 * batch is still in memory (the graveyard) and marked gone. */
static void on_event(const struct epoll_event *e)
{
    if (e->data.u64 == EP_LISTEN) {
        on_connect(admin_state.door.path_fd);
    } else if (e->data.u64 == EP_LISTEN_ABSTRACT) {
        on_connect(admin_state.door.abstract_fd);
    } else if (e->data.u64 == EP_ZYGOTE) {
        ens__zygote_on_readable(&admin_state.zygote); /* its end: replaced once reaped */
    } else if (e->data.u64 == EP_JOURNAL) {
        ens__admin_journal_on_io(e->events);
    } else if (e->data.u64 == EP_SIGNALS) {
        struct signalfd_siginfo si;
        while (read(admin_state.sigfd, &si, sizeof(si)) == sizeof(si))
            ;
        reap();
    } else {
        arec *r = (arec *)(uintptr_t)(e->data.u64 & ~(uint64_t)EP_TX);
        if (r->gone)
            return;
        if ((e->data.u64 & EP_TX) != 0) {
            ens__admin_out_flush(r);
        } else {
            if (e->events & EPOLLOUT)
                ens__admin_ctl_flush(r);
            if (!r->gone && (e->events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                ens__admin_on_ctl(r);
        }
    }
}

_Noreturn static void finish(void)
{
    /* Nobody finds the system from now on (the socket file goes first). */
    ens__door_close(&admin_state.door, true);
    ens__refusal_flush(admin_state.sys, &admin_state.refusals, ens__mono_ns(), true);
    for (size_t i = 0; i < admin_state.n; i++) {
        if (admin_state.recs[i]->pid > 0)
            kill(admin_state.recs[i]->pid, SIGKILL);
    }
    ens__admin_gateway_leave(GATEWAY_LEAVE_MS);
    if (admin_state.gpid > 0)
        kill(admin_state.gpid, SIGKILL);
    ens__admin_journal_stop();
    ens__zygote_stop(&admin_state.zygote);
    while (waitpid(-1, NULL, 0) > 0)
        ;
    for (size_t i = 0; i < admin_state.n; i++) {
        arec *o = admin_state.recs[i];
        if (!o->outside)
            continue;
        ens__admin_out_flush(o);
        if (o->ctl >= 0)
            shutdown(o->ctl, SHUT_WR);
    }
    _exit(0);
}

_Noreturn void ens__admin_main(ens_system *s, int ctl, int tx, const ens_door *door)
{
    s->log_role = "admin";
    admin_state.door = *door;
    /* Listening again makes the admin the listener the kernel names to
     * programs that ask who answers (SO_PEERCRED), not the starter. */
    if (admin_state.door.path_fd >= 0)
        listen(admin_state.door.path_fd, 64);
    if (admin_state.door.abstract_fd >= 0)
        listen(admin_state.door.abstract_fd, 64);
    admin_state.sys = s;
    s->alloc_failures = 0; /* the starting program's count is not the admin's */
    admin_state.pid = getpid();
    admin_state.next_id = ENS_ID_FIRST_ACTOR;
    admin_state.next_conn = 1;
    ens__proctitle("ens-admin %s", s->name);
    /* Every actor costs the admin a few descriptors: take what is allowed. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    admin_state.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (admin_state.sigfd < 0) { /* it would never learn of an actor's end: refuse to run */
        ens__log(s, NULL, ENS_LOG_ERROR, "the admin cannot watch its children (signalfd: %s)",
                 strerror(errno));
        finish();
    }

    /* The journal writer first, while the admin holds nothing else: it is
     * the one process of the system that opens sqlite. */
    ens__admin_journal_start();
    /* Then the gateway, in a convention: it holds the NATS connection (the
     * admin has no NATS code and no threads). */
    ens__admin_gateway_start();
    /* Then the zygote, which forks new actors while the admin grows. */
    ens__zygote_init(&admin_state.zygote);
    int zrc = ens__zygote_start(s, admin_state.pid, &admin_state.zygote, ens__admin_zygote_drop);
    if (zrc < 0)
        ens__log(s, NULL, ENS_LOG_WARN, "no zygote (%s): actors are forked by the admin",
                 ens_strerror(zrc));

    /* The outside endpoint: its control channel and the admin's connection
     * to it (both made by the starting program before the fork). */
    arec *o = ens__admin_rec_add();
    if (o == NULL) { /* the starting program sees the admin end: ENS_ESHUTDOWN */
        ens__log(s, NULL, ENS_LOG_ERROR, "out of memory starting the admin");
        finish();
    }
    o->outside = true;
    admin_state.starter = o;
    o->addr = s->outside.self;
    o->ctl = ctl;
    o->tx = tx;
    ens__admin_rec_index(o);
    ens__admin_dirty(o);
    o->incarnation = 1;
    ens__fd_nonblock(ctl);
    ens__fd_nonblock(tx);

    admin_state.ep = epoll_create1(EPOLL_CLOEXEC);
    if (admin_state.ep < 0)
        finish();
    int fixed[3] = {admin_state.sigfd, admin_state.door.path_fd, admin_state.door.abstract_fd};
    uint64_t tags[3] = {EP_SIGNALS, EP_LISTEN, EP_LISTEN_ABSTRACT};
    for (int i = 0; i < 3; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = tags[i]};
        if (fixed[i] >= 0)
            epoll_ctl(admin_state.ep, EPOLL_CTL_ADD, fixed[i], &e);
    }
    admin_state.ep_zygote = -1;
    uint32_t zygote_ev = 0;
    /* tests/test_alloc_faults.c makes the n-th allocation of the admin's
     * loop fail (once) through this variable; nothing else sets it. */
    const char *fault = getenv("ENS__TEST_ADMIN_ALLOC_FAIL");
    if (fault != NULL && *fault >= '0' && *fault <= '9')
        ens__alloc_fail_once(strtol(fault, NULL, 10));
    for (;;) {
        uint64_t wake = 0;
        if (admin_state.shutting_down) {
            if (only_outside_left())
                finish();
            uint64_t now = ens__mono_ns();
            if (now >= admin_state.shutdown_deadline) {
                shutdown_kill_current(); /* journaled; finish kills the rest */
                finish();
            }
            wake = shutdown_step(now);
        }
        if (admin_state.ep_zygote_gen != admin_state.zygote.gen) {
            /* Its channel was closed (which took it out of the epoll set;
             * the number may already name another descriptor) or replaced. */
            admin_state.ep_zygote = -1;
            admin_state.ep_zygote_gen = admin_state.zygote.gen;
        }
        ens__admin_ep_set(&admin_state.ep_zygote, &zygote_ev, admin_state.zygote.fd, EPOLLIN,
                          EP_ZYGOTE);
        uint64_t now = ens__mono_ns();
        if (admin_state.n_backoff > 0) { /* before the sync: a new process's channel is watched */
            uint64_t restart_at = ens__admin_restart_due(now);
            if (restart_at != 0 && (wake == 0 || restart_at < wake))
                wake = restart_at;
        }
        ens__admin_journal_ep_sync(EP_JOURNAL);
        ens__admin_sync_dirty();
        struct epoll_event ev[64];
        uint64_t silent_at = close_silent(now);
        if (silent_at != 0 && (wake == 0 || silent_at < wake))
            wake = silent_at;
        uint64_t count_at = ens__admin_place_tick(now);
        if (count_at != 0 && (wake == 0 || count_at < wake))
            wake = count_at;
        uint64_t left_at = ens__admin_rkid_tick(now);
        if (left_at != 0 && (wake == 0 || left_at < wake))
            wake = left_at;
        uint64_t shrink_at = ens__zygote_tick(&admin_state.zygote, now); /* spares at rest */
        if (shrink_at != 0 && (wake == 0 || shrink_at < wake))
            wake = shrink_at;
        uint64_t reclaim_at = ens__admin_wide_tick(now);
        if (reclaim_at != 0 && (wake == 0 || reclaim_at < wake))
            wake = reclaim_at;
        uint64_t log_at = ens__refusal_flush(s, &admin_state.refusals, now, false);
        if (log_at != 0 && (wake == 0 || log_at < wake))
            wake = log_at;
        int timeout = admin_state.shutting_down ? 10 : -1;
        if (wake != 0) {
            uint64_t ms = wake > now ? (wake - now + 999999u) / 1000000u : 0;
            if (timeout < 0 || ms < (uint64_t)timeout)
                timeout = ms > INT32_MAX ? INT32_MAX : (int)ms;
        }
        int k = epoll_wait(admin_state.ep, ev, 64, timeout);
        if (k < 0 && errno != EINTR)
            finish();
        for (int i = 0; i < k; i++)
            on_event(&ev[i]);
        ens__admin_sync_dirty();
        ens__admin_bury();
        if (admin_state.starter == NULL && !s->opts.persistent && !admin_state.shutting_down)
            ens__admin_begin_shutdown(0);
    }
}

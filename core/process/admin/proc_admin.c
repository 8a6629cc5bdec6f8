/*
 * core/process/admin/proc_admin.c - the admin of a process-base system.
 *
 * Forked by the starting program, the admin never runs a handler, so it
 * stays a clean template to fork restarted actors from; it has no libuv loop and no
 * threads (an epoll loop and a signalfd). It keeps one record per actor:
 * its process, control channel, stage, start argument and a copy of the
 * receiving end of every connection to it. From these it
 *  - starts actors (spawn requests: in a spare process the zygote keeps
 *    ready, core/process/proc_zygote.h; restarts: forked here) and brokers
 *    connections between them;
 *  - on SIGCHLD tells an orderly exit from a crash; restarts a crashed
 *    actor at the same address (the new process inherits the receiving
 *    ends and the stage, so nothing queued is lost) unless it crashed in
 *    init or too often, and then ends it for good: the parent gets
 *    child-exited, everything still queued becomes a dead letter;
 *  - routes dead letters, and passes failure events to the starting
 *    program and to the journal writer process (core/runtime/journal_sink.c: forked
 *    first, the one process that opens sqlite; never waited on);
 *  - at shutdown asks the top-level actors to exit, waits, kills the rest.
 * Frames from the admin to an endpoint (child exited, dead envelopes, exit
 * requests, error replies) travel on a data connection of its own per
 * endpoint, so they are staged and crash-safe like any other message.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process/admin/idmap.h"
#include "core/process/admin/proc_names.h"
#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "core/process/proc_zygote.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"
#include "ensemble/status.h"

#define RESTART_WINDOW_MS         1000
#define RESTART_MAX               10 /* crashes within the window before the admin gives up */
#define JOURNAL_RESTART_WINDOW_MS 60000
#define JOURNAL_RESTART_MAX       5 /* writer restarts within the window before giving up */
#define ZYGOTE_RESTART_WINDOW_MS  60000
#define ZYGOTE_RESTART_MAX        5 /* zygote restarts within the window before giving up */

typedef struct rxend {
    uint64_t id;
    int fd;
} rxend;

/* A control frame waiting for room in a full channel (with a duplicate of
 * the descriptor it carries, or -1): the admin never blocks on a peer. */
typedef struct ctlq {
    struct ctlq *next;
    uint8_t *frame;
    size_t len;
    int fd;
} ctlq;

#define CTLQ_DROP_AT 4096 /* queued events beyond this are dropped, counted */

typedef struct arec {
    ens_addr addr, parent;
    const ens_actor_def *def;
    pid_t pid; /* 0 while no process runs */
    uint32_t incarnation;
    int ctl;                 /* admin's end of the control channel, -1 if none */
    int tx;                  /* admin's sending end of its own connection */
    uint8_t *out;            /* frames waiting for tx */
    uint32_t out_seq;        /* sequence number of the last frame queued on tx */
    ctlq *cq_head, *cq_tail; /* control frames waiting for room */
    size_t cq_n;
    size_t out_len, out_cap;
    rxend *rx; /* receiving ends (kept for restarts) */
    size_t n_rx, cap_rx;
    ens_stage *stage;
    size_t stage_len;
    uint8_t *arg;
    size_t arg_len;
    bool sync_pending;    /* an outside spawn waits for init */
    bool no_restart;      /* ENS_SPAWN_NO_RESTART: a crash ends it for good */
    bool killed;          /* ens_kill: SIGKILLed on request, ends for good */
    uint32_t spawn_flags; /* enum ens_spawn_flag, as asked */
    ens_addr requester;   /* who asked for the spawn */
    uint64_t req_corr;
    bool exiting; /* announced an orderly exit */
    int exit_reason, exit_status;
    int64_t crashes[RESTART_MAX];
    size_t n_crashes;
    bool outside;           /* an outside endpoint: the starting program or one connected by name */
    bool foreign;           /* connected by name: another program image */
    bool ep_dirty;          /* its wanted events may have changed: synced at the turn's end */
    bool gone;              /* freed this turn: events still naming it are ignored */
    struct arec *next_gone; /* the turn's freed records */
    uint64_t map_id;        /* the id it is found by in admin_state.by_id (0: none) */
    uint64_t hello_by;      /* connected by name and silent so far: closed at this
                               monotonic time (ns) unless it speaks; 0 once it has */
    int peer_uid, peer_pid; /* connected by name: who connected */
    int ep_ctl, ep_tx;      /* what the admin's epoll watches: fd (-1: none), */
    uint32_t ep_ctl_ev, ep_tx_ev; /* and events */
} arec;

typedef struct admin {
    ens_system *sys;
    pid_t pid;
    arec **recs;
    size_t n, cap;
    uint64_t next_id, next_conn;
    ens_addr dead_handler;
    int sigfd;
    bool shutting_down;
    uint64_t shutdown_deadline;
    ens_door door;                          /* where programs connect by the system name */
    ens_refusals refusals;                  /* refused connections, for the log */
    size_t n_foreign;                       /* programs connected by name (records) */
    arec *starter;                          /* the starting program endpoint, NULL once it left */
    pid_t jpid;                             /* the journal writer process (0: none) */
    int jfd;                                /* the channel to it, -1 if none */
    int jpidfd;                             /* its pidfd, -1 if none */
    uint64_t jdropped;                      /* events the full channel refused */
    int64_t jrestarts[JOURNAL_RESTART_MAX]; /* when the writer was restarted (ms) */
    size_t n_jrestarts;
    ens_zygote zygote; /* forks first incarnations (core/process/proc_zygote.h) */
    int64_t zrestarts[ZYGOTE_RESTART_MAX]; /* when the zygote was restarted (ms) */
    size_t n_zrestarts;
    int ep;                 /* epoll: the channels and connections to wait on */
    int ep_zygote;          /* the zygote channel it watches, -1 if none */
    unsigned ep_zygote_gen; /* the zygote.gen of that channel */
} admin;

static admin admin_state;

/* Records are found by id and by pid in O(1) (core/process/admin/idmap.h); the epoll set
 * follows only the records touched this turn (the dirty list); a record
 * freed while a turn's batch of events may still name it is kept until the
 * turn ends (the graveyard). So an event costs the admin the same with 10
 * or 1 000 actors. */
static ens_idmap rec_by_id, rec_by_pid;
static arec **dirty_recs;
static size_t n_dirty, cap_dirty;
static arec *graveyard;
static size_t n_hello; /* records waiting for a program's hello */

static void ep_sync(struct arec *r);

/* r's wanted epoll events may have changed: sync them at the turn's end. */
static void dirty(arec *r)
{
    if (r->ep_dirty || r->gone)
        return;
    if (n_dirty == cap_dirty) {
        size_t cap = cap_dirty ? cap_dirty * 2 : 64;
        arec **n = ens__realloc(dirty_recs, cap * sizeof(*n));
        if (n == NULL) {
            /* Cannot remember it: sync now (the caller may still change it,
             * and then marks it again). */
            ens__alloc_failed(admin_state.sys,
                              "the admin's list of records to sync (synced at once)");
            ep_sync(r);
            return;
        }
        dirty_recs = n;
        cap_dirty = cap;
    }
    r->ep_dirty = true;
    dirty_recs[n_dirty++] = r;
}

/* Index r by its address's id (after the address is set). */
static void rec_index(arec *r)
{
    if (r->map_id != 0)
        ens__idmap_del(&rec_by_id, r->map_id);
    r->map_id = r->addr.id;
    if (r->map_id != 0 && ens__idmap_put(&rec_by_id, r->map_id, r) < 0) {
        r->map_id = 0;
        ens__alloc_failed(admin_state.sys, "indexing an actor: it cannot be found");
    }
}

static void rec_set_pid(arec *r, pid_t pid)
{
    if (r->pid > 0 && ens__idmap_get(&rec_by_pid, (uint64_t)r->pid) == r)
        ens__idmap_del(&rec_by_pid, (uint64_t)r->pid);
    r->pid = pid;
    if (pid > 0 && ens__idmap_put(&rec_by_pid, (uint64_t)pid, r) < 0)
        ens__alloc_failed(admin_state.sys, "indexing a process: its end is found by a search");
}

static arec *by_addr(ens_addr addr)
{
    arec *r = ens__idmap_get(&rec_by_id, addr.id);
    return r != NULL && !r->gone && ens_addr_equal(r->addr, addr) ? r : NULL;
}

static arec *outside_rec(void)
{
    return admin_state.starter;
}

static void ctl_flush(arec *r)
{
    dirty(r);
    while (r->cq_head != NULL && r->ctl >= 0) {
        ctlq *q = r->cq_head;
        int rc = ens__ctl_send_raw(r->ctl, q->frame, q->len, &q->fd, q->fd >= 0 ? 1 : 0, false);
        if (rc == ENS_EAGAIN)
            return;
        r->cq_head = q->next;
        if (r->cq_head == NULL)
            r->cq_tail = NULL;
        r->cq_n--;
        if (q->fd >= 0)
            close(q->fd);
        free(q->frame);
        free(q);
    }
}

static void ctl_drop_all(arec *r)
{
    dirty(r);
    while (r->cq_head != NULL) {
        ctlq *q = r->cq_head;
        r->cq_head = q->next;
        if (q->fd >= 0)
            close(q->fd);
        free(q->frame);
        free(q);
    }
    r->cq_tail = NULL;
    r->cq_n = 0;
}

/* Queue a control frame for r (fd, if >= 0, is borrowed: a duplicate
 * travels) and send what the channel takes. Events (droppable) beyond
 * CTLQ_DROP_AT waiting are dropped: a program that does not read its
 * channel must not make the admin grow without bound. */
static void ctl_out(arec *r, ens_addr from, const ens_msgtype *t, const void *v, uint64_t corr,
                    int fd, bool droppable)
{
    if (r->ctl < 0)
        return;
    if (droppable && r->cq_n >= CTLQ_DROP_AT) {
        /* Never silent: counted, and said once per thousand. */
        static uint64_t dropped;
        if (dropped++ % 1000 == 0)
            ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                     "a program does not read its control channel: %llu event(s) not passed on "
                     "(the journal still has them)",
                     (unsigned long long)dropped);
        return;
    }
    ctlq *q = ens__calloc(1, sizeof(*q));
    if (q == NULL) {
        ens__alloc_failed(admin_state.sys, "a control message (a reply or notice) was not sent");
        return;
    }
    q->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
    int built = ens__ctl_build(from, t, v, corr, &q->frame, &q->len);
    if (built < 0 || (fd >= 0 && q->fd < 0)) {
        if (built == ENS_ENOMEM)
            ens__alloc_failed(admin_state.sys,
                              "a control message (a reply or notice) was not sent");
        else
            ens__log(admin_state.sys, NULL, ENS_LOG_ERROR, "a control message was not sent: %s",
                     ens_strerror(built < 0 ? built : ENS_EIO));
        if (q->fd >= 0)
            close(q->fd);
        free(q->frame);
        free(q);
        return;
    }
    if (r->cq_tail != NULL)
        r->cq_tail->next = q;
    else
        r->cq_head = q;
    r->cq_tail = q;
    r->cq_n++;
    ctl_flush(r);
}

static void ctl_event(arec *r, const ens_event *ev)
{
    ens__ctl_event_v v;
    ens__ctl_event_to(ev, &v);
    ctl_out(r, ev->actor, &ens__ctl_event, &v, 0, -1, true);
}

/* Hand ev to the journal writer process without ever waiting: a full
 * channel drops the event (counted, a warning per 1000). */
static void journal_send(const ens_event *ev)
{
    if (admin_state.jfd < 0)
        return;
    ens__ctl_event_v v;
    ens__ctl_event_to(ev, &v);
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__ctl_build(ev->actor, &ens__ctl_event, &v, 0, &frame, &len);
    if (rc == 0)
        rc = ens__ctl_send_raw(admin_state.jfd, frame, len, NULL, 0, false);
    free(frame);
    if (rc == 0)
        return;
    if (rc == ENS_ENOMEM) {
        ens__alloc_failed(admin_state.sys, "an event for the failure journal was dropped");
        return;
    }
    if (rc != ENS_EIO) {
        if (admin_state.jdropped++ % 1000 == 0)
            ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                     "failure journal: the writer is behind, %llu event(s) dropped so far",
                     (unsigned long long)admin_state.jdropped);
        return;
    }
    ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
             "failure journal: the writer process is gone; events until a new one runs are lost");
    close(admin_state.jfd);
    admin_state.jfd = -1;
}

static void emit(ens_event *ev);

/* May a helper process (the journal writer, the zygote) that died be
 * started again? Not if it was restarted max times within the last
 * window_ms (at[0..*n): when, dropped as they age out): it cannot work. */
static bool restart_allowed(int64_t *at, size_t *n, size_t max, int64_t window_ms, int64_t now)
{
    size_t recent = 0;
    for (size_t i = 0; i < *n; i++) {
        if (now - at[i] < window_ms)
            at[recent++] = at[i];
    }
    *n = recent;
    return recent < max;
}

/* Start the journal writer again after it died, unless it died too often
 * (JOURNAL_RESTART_MAX times within JOURNAL_RESTART_WINDOW_MS: it cannot
 * work, e.g. its file went bad). True if a new writer runs. */
static bool journal_restart(void)
{
    int64_t now = ens__now_ms();
    if (!restart_allowed(admin_state.jrestarts, &admin_state.n_jrestarts, JOURNAL_RESTART_MAX,
                         JOURNAL_RESTART_WINDOW_MS, now))
        return false;
    if (ens__journal_proc_start(admin_state.sys, admin_state.pid, &admin_state.jpid,
                                &admin_state.jfd) < 0 ||
        admin_state.jpid <= 0)
        return false;
    admin_state.jpidfd = (int)syscall(SYS_pidfd_open, admin_state.jpid, 0);
    admin_state.jrestarts[admin_state.n_jrestarts++] = now;
    return true;
}

/* The journal writer process ended (reaped): forget it, and unless the
 * system is ending, start a new one and journal what happened. Events the
 * dead writer had not committed are lost with it. */
static void journal_exited(int wstatus)
{
    if (admin_state.jfd >= 0)
        close(admin_state.jfd);
    if (admin_state.jpidfd >= 0)
        close(admin_state.jpidfd);
    admin_state.jfd = admin_state.jpidfd = -1;
    admin_state.jpid = 0;
    bool orderly = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    if (admin_state.shutting_down && orderly)
        return;
    char how[64];
    if (WIFSIGNALED(wstatus))
        snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
    if (admin_state.shutting_down || !journal_restart()) {
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "failure journal: the writer process %s; events are no longer journaled%s", how,
                 admin_state.shutting_down ? "" : " (it died too often to start it again)");
        return;
    }
    char why[256];
    snprintf(why, sizeof(why),
             "the failure journal's writer process %s; a new one was started (events it had not "
             "committed are lost)",
             how);
    ens_event ev = {.kind = ENS_EV_CRASH,
                    .actor = ENS_ADDR_NONE,
                    .actor_type = "ens.JournalWriter",
                    .signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0,
                    .reason = why};
    emit(&ev);
}

/* At the end: close the channel (the writer drains it, commits, exits) and
 * wait for the writer, at most 2 s, so the last rows are committed before
 * the starting program's shutdown returns. */
static void journal_stop(void)
{
    if (admin_state.jfd >= 0)
        close(admin_state.jfd);
    admin_state.jfd = -1;
    if (admin_state.jpid <= 0)
        return;
    int wstatus = 0;
    pid_t got = 0;
    if (admin_state.jpidfd >= 0) {
        struct pollfd p = {.fd = admin_state.jpidfd, .events = POLLIN};
        while (poll(&p, 1, 2000) < 0 && errno == EINTR)
            ;
        got = waitpid(admin_state.jpid, &wstatus, WNOHANG);
    } else {
        for (int i = 0; i < 200 && (got = waitpid(admin_state.jpid, &wstatus, WNOHANG)) == 0; i++)
            poll(NULL, 0, 10);
    }
    if (got == 0) {
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "failure journal: the writer did not finish in time; killed");
        kill(admin_state.jpid, SIGKILL);
        waitpid(admin_state.jpid, &wstatus, 0);
    }
    if (admin_state.jpidfd >= 0)
        close(admin_state.jpidfd);
    admin_state.jpidfd = -1;
    admin_state.jpid = 0;
}

/* Run first in a zygote started while actors exist: the admin's mappings
 * of their stages are none of its business, nor of the spares it makes and
 * the actors they become (and each would make its clones dearer). Its
 * descriptors are closed already. */
static void zygote_drop(void)
{
    for (size_t i = 0; i < admin_state.n; i++) {
        if (admin_state.recs[i]->stage != NULL)
            munmap(admin_state.recs[i]->stage, admin_state.recs[i]->stage_len);
    }
}

/* The zygote was reaped. It never ends by itself while the system runs:
 * journal it as a crash (whose log line says what followed), and start a
 * new one unless the system is ending or the zygote died too often
 * (ZYGOTE_RESTART_MAX restarts within ZYGOTE_RESTART_WINDOW_MS): then there
 * is no zygote any more and the admin forks every actor itself. The spares
 * in hand stay in use. */
static void zygote_exited(int wstatus)
{
    char how[96];
    if (admin_state.zygote.stuck)
        snprintf(how, sizeof(how), "was killed: a spare it owed was late");
    else if (WIFSIGNALED(wstatus))
        snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
    char then[128] = "the system is ending";
    int64_t now = ens__now_ms();
    int rc = 0;
    if (admin_state.shutting_down) {
        /* nothing more to start */
    } else if (!restart_allowed(admin_state.zrestarts, &admin_state.n_zrestarts, ZYGOTE_RESTART_MAX,
                                ZYGOTE_RESTART_WINDOW_MS, now)) {
        snprintf(then, sizeof(then),
                 "it died too often to start it again: actors are forked by the admin");
    } else if ((rc = ens__zygote_start(admin_state.sys, admin_state.pid, &admin_state.zygote,
                                       zygote_drop)) < 0) {
        snprintf(then, sizeof(then),
                 "a new one could not be started (%s): actors are forked by the admin",
                 ens_strerror(rc));
    } else {
        admin_state.zrestarts[admin_state.n_zrestarts++] = now;
        snprintf(then, sizeof(then), "a new one was started");
    }
    char why[256];
    snprintf(why, sizeof(why), "the zygote process %s; %s", how, then);
    ens_event ev = {.kind = ENS_EV_CRASH,
                    .actor = ENS_ADDR_NONE,
                    .actor_type = "ens.Zygote",
                    .signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0,
                    .reason = why};
    emit(&ev);
}

static void emit(ens_event *ev)
{
    ev->at_ms = ens__now_ms();
    if (ev->actor_type == NULL)
        ev->actor_type = "";
    if (ev->msg_type == NULL)
        ev->msg_type = "";
    if (ev->reason == NULL)
        ev->reason = "";
    arec *o = outside_rec();
    if (o != NULL)
        ctl_event(o, ev);
    journal_send(ev);
    char addr[ENS_ADDR_STRLEN];
    ens_addr_format(ev->actor, addr, sizeof(addr));
    ens__log(admin_state.sys, NULL,
             ev->kind == ENS_EV_CRASH || ev->kind == ENS_EV_DEAD_LETTER ? ENS_LOG_WARN
                                                                        : ENS_LOG_INFO,
             "%s: actor %s (%s) signal %d: %s", ens_event_kind_name(ev->kind), addr, ev->actor_type,
             ev->signal, ev->reason);
}

static void rec_event(arec *r, ens_event_kind kind, int sig, const char *reason)
{
    ens_event ev = {.kind = kind,
                    .actor = r->addr,
                    .parent = r->parent,
                    .actor_type = r->def != NULL ? r->def->name : "outside",
                    .signal = sig,
                    .incarnation = r->incarnation,
                    .reason = reason};
    emit(&ev);
}

/* ---- the admin's own frames to an endpoint ---------------------------- */

static void out_flush(arec *r)
{
    dirty(r);
    size_t off = 0;
    while (off < r->out_len) {
        ssize_t n = send(r->tx, r->out + off, r->out_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break; /* EAGAIN: poll for POLLOUT; other errors: the record ends soon */
    }
    if (off > 0) {
        memmove(r->out, r->out + off, r->out_len - off);
        r->out_len -= off;
    }
}

static void out_frame(arec *r, const uint8_t *frame, size_t len)
{
    if (ens__frag_append(&r->out, &r->out_len, &r->out_cap, frame, len, &r->out_seq) == 0)
        out_flush(r);
}

static void send_to(ens_addr from, ens_addr to, const ens_msgtype *t, const void *v, uint16_t flags,
                    uint64_t corr, int16_t error);

/* The dead-letter rules of core/runtime/actor.c, in the admin. Takes frame. */
/* frame is borrowed: a dead letter needs no copy of its own, so none is
 * ever lost to an allocation. */
static void dead_letter(const uint8_t *frame, size_t len, const char *reason)
{
    ens_frame_hdr h;
    int bad = ens__frame_hdr_read(frame, len, admin_state.sys->opts.max_frame_bytes, &h);
    if (bad < 0) {
        /* Nobody can be told (its addresses cannot be trusted): the row is
         * its only trace. */
        char why[256];
        snprintf(why, sizeof(why),
                 "a dead letter whose frame header cannot be read (%zu bytes): %s", len, reason);
        ens_event ev = {
            .kind = ENS_EV_BADFRAME, .error = bad, .msg_size = (uint32_t)len, .reason = why};
        emit(&ev);
        return;
    }
    if ((h.flags & ENS_FRAME_SYSTEM) && h.type_id == ens_msg_child_exited.id)
        return;
    if ((h.flags & ENS_FRAME_REQUEST) && h.corr != 0 && !ens_addr_is_none(h.sender)) {
        ens_string_v why = {(char *)reason};
        send_to(h.target, h.sender, &ens_msg_string, &why,
                ENS_FRAME_SYSTEM | ENS_FRAME_REPLY | ENS_FRAME_ERROR, h.corr, ENS_ENOACTOR);
    }
    arec *handler =
        ens_addr_is_none(admin_state.dead_handler) ? NULL : by_addr(admin_state.dead_handler);
    if (handler != NULL && !ens_addr_equal(handler->addr, h.target) &&
        h.type_id != ens_msg_dead_envelope.id) {
        ens_dead_envelope_v env = {
            h.target, h.type_id, (char *)reason, {(void *)frame, (uint32_t)len}};
        send_to(h.sender, handler->addr, &ens_msg_dead_envelope, &env, ENS_FRAME_SYSTEM, 0, 0);
    } else {
        const ens_typeinfo *info = ens__typeinfo_by_id(h.type_id);
        ens_event ev = {.kind = ENS_EV_DEAD_LETTER,
                        .actor = h.target,
                        .msg_type = info != NULL ? info->type->name : "",
                        .sender = h.sender,
                        .msg_size = (uint32_t)len,
                        .reason = reason};
        emit(&ev);
    }
}

static void send_to(ens_addr from, ens_addr to, const ens_msgtype *t, const void *v, uint16_t flags,
                    uint64_t corr, int16_t error)
{
    ens_frame_hdr h = {
        .flags = flags, .target = to, .sender = from, .corr = corr, .attempt = 1, .error = error};
    uint8_t *frame = NULL;
    size_t len = 0;
    int built = ens__frame_build(t, v, &h, admin_state.sys->opts.max_frame_bytes, &frame, &len);
    if (built == ENS_ENOMEM) {
        ens__alloc_failed(admin_state.sys,
                          "a message from the admin (a reply, notice or status) was not sent");
        return;
    }
    if (built < 0) {
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR, "a message from the admin was not sent: %s",
                 ens_strerror(built));
        return;
    }
    arec *r = by_addr(to);
    if (r == NULL) {
        dead_letter(frame, len, "no live actor at that address");
        free(frame);
        return;
    }
    out_frame(r, frame, len);
    free(frame);
}

/* ---- records ------------------------------------------------------------ */

static arec *rec_add(void)
{
    if (admin_state.n == admin_state.cap) {
        size_t cap = admin_state.cap ? admin_state.cap * 2 : 32;
        arec **n = ens__realloc(admin_state.recs, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        admin_state.recs = n;
        admin_state.cap = cap;
    }
    arec *r = ens__calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ctl = -1;
    r->tx = -1;
    r->ep_ctl = r->ep_tx = -1;
    admin_state.recs[admin_state.n++] = r;
    return r;
}

static int rx_add(arec *r, uint64_t id, int fd)
{
    if (r->n_rx == r->cap_rx) {
        size_t cap = r->cap_rx ? r->cap_rx * 2 : 8;
        rxend *n = ens__realloc(r->rx, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        r->rx = n;
        r->cap_rx = cap;
    }
    r->rx[r->n_rx++] = (rxend){id, fd};
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Start r's first incarnation in one of the zygote's spares, with ctl as
 * its control channel. Returns 0 (*pid set) or ENS_ENOENT (nothing
 * started: fork it here). */
static int zygote_fork(arec *r, bool sync, int ctl, int stage_fd, pid_t *pid)
{
    if (stage_fd < 0 || r->n_rx != 1)
        return ENS_ENOENT;
    int rx = r->rx[0].fd;
    uint64_t rx_id = r->rx[0].id;
    ens_actor_boot boot = {
        .def = r->def,
        .addr = r->addr,
        .parent = r->parent,
        .incarnation = r->incarnation,
        .ctl = ctl,
        .rx = &rx,
        .n_rx = 1,
        .rx_ids = &rx_id,
        .arg_frame = r->arg,
        .arg_len = r->arg_len,
        .sync = sync,
        .spawn_flags = r->spawn_flags,
    };
    return ens__zygote_fork(&admin_state.zygote, &boot, stage_fd, pid) == 0 ? 0 : ENS_ENOENT;
}

/* Start a process for r (a new incarnation when r ran before). stage_fd is
 * the memfd of a new actor's stage, or -1: first incarnations go through
 * the zygote when there is one, the others are forked here (they inherit
 * every receiving end the admin holds for them). */
static int fork_actor(arec *r, bool sync, int stage_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ENS_EIO;
    pid_t pid = -1;
    if (zygote_fork(r, sync, sv[1], stage_fd, &pid) != 0)
        pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return errno == EAGAIN ? ENS_EAGAIN : ENS_ENOMEM;
    }
    if (pid == 0) {
        if (!ens__child_setup(admin_state.pid, true))
            _exit(ENS_PROC_EXIT_PARENT_GONE);
        /* Keep only our own stage: another actor's is none of our business
         * (and each mapping would make our forks and page tables dearer). */
        for (size_t i = 0; i < admin_state.n; i++) {
            if (admin_state.recs[i] != r && admin_state.recs[i]->stage != NULL)
                munmap(admin_state.recs[i]->stage, admin_state.recs[i]->stage_len);
        }
        size_t nk = r->n_rx + 1;
        int *keep = malloc(nk * sizeof(int));
        int *rx = malloc((r->n_rx + 1) * sizeof(int));
        uint64_t *ids = malloc((r->n_rx + 1) * sizeof(uint64_t));
        if (keep == NULL || rx == NULL || ids == NULL)
            _exit(ENS_PROC_EXIT_NO_MEMORY);
        keep[0] = sv[1];
        for (size_t i = 0; i < r->n_rx; i++) {
            keep[i + 1] = r->rx[i].fd;
            rx[i] = r->rx[i].fd;
            ids[i] = r->rx[i].id;
        }
        qsort(keep, nk, sizeof(int), cmp_int);
        ens__close_fds_except(keep, nk);
        free(keep);
        ens_actor_boot boot = {
            .sys = admin_state.sys,
            .def = r->def,
            .addr = r->addr,
            .parent = r->parent,
            .incarnation = r->incarnation,
            .ctl = sv[1],
            .rx = rx,
            .n_rx = r->n_rx,
            .rx_ids = ids,
            .stage = r->stage,
            .arg_frame = r->arg,
            .arg_len = r->arg_len,
            .sync = sync,
            .spawn_flags = r->spawn_flags,
        };
        ens__actor_process_main(&boot);
    }
    close(sv[1]);
    ens__fd_nonblock(sv[0]);
    r->ctl = sv[0];
    rec_set_pid(r, pid);
    dirty(r);
    r->exiting = false;
    return 0;
}

typedef struct letters {
    arec *r;
    const char *reason;
} letters;

/* One frame of a queue turned into dead letters (ens__frame_walk): a whole
 * one goes to the dead-letter rules (which report one whose header they
 * refuse), a refused piece gets its row. */
static void letter_found(void *arg, ens_framed *f)
{
    const letters *l = arg;
    if (f->err != 0 && f->len >= ENS_FRAME_HEADER_LEN && ens__frag_is(f->frame)) {
        char why[256];
        snprintf(why, sizeof(why),
                 "a piece of a large frame queued for an actor that ended was refused "
                 "(%zu bytes): %s",
                 f->len, l->reason);
        ens_event ev = {.kind = ENS_EV_BADFRAME,
                        .error = f->err,
                        .actor = l->r->addr,
                        .sender = ens__frame_sender(f->frame),
                        .msg_size = (uint32_t)f->len,
                        .reason = why};
        emit(&ev);
        return;
    }
    dead_letter(f->frame, f->len, l->reason);
}

/* Hand every whole frame in buf[0..len) to the dead-letter rules, putting
 * frames in pieces together with a (which may hold the first pieces). */
static void frames_to_dead_letters(arec *r, const uint8_t *buf, size_t len, ens_frag_asm *a,
                                   const char *reason)
{
    letters l = {r, reason};
    ens_walk w =
        ens__frame_walk(buf, len, admin_state.sys->opts.max_frame_bytes, a, letter_found, &l);
    if (w.lost) {
        char why[256];
        snprintf(why, sizeof(why),
                 "bytes that are not a frame queued for an actor that ended: %zu bytes dropped: "
                 "%s",
                 len - w.used, reason);
        ens_event ev = {.kind = ENS_EV_BADFRAME,
                        .error = ENS_EBADFRAME,
                        .actor = r->addr,
                        .msg_size = (uint32_t)(len - w.used),
                        .reason = why};
        emit(&ev);
    }
}

/* A frame in pieces that never became whole when r ended: its row (the
 * sender, if it lives, also reports the message whole as a dead letter). */
static void drop_partial(arec *r, ens_frag_asm *a)
{
    if (a->buf != NULL && a->have < a->total) {
        char why[200];
        snprintf(why, sizeof(why),
                 "the actor ended with a frame in pieces not yet whole: %llu of %llu bytes dropped",
                 (unsigned long long)a->have, (unsigned long long)a->total);
        ens_event ev = {.kind = ENS_EV_BADFRAME,
                        .error = ENS_EBADFRAME,
                        .actor = r->addr,
                        .sender = a->have >= ENS_FRAME_HEADER_LEN ? ens__frame_sender(a->buf)
                                                                  : ENS_ADDR_NONE,
                        .msg_size = (uint32_t)a->total,
                        .reason = why};
        emit(&ev);
    }
    ens__frag_reset(a);
}

/* Give every frame still queued for r (its stage, then its receiving ends)
 * to the dead-letter rules, and close the receiving ends. A frame in
 * pieces, partly put together in the stage, is completed from its
 * connection. */
static void drain_to_dead_letters(arec *r, const char *reason)
{
    ens_stage *st = r->stage;
    ens_frag_asm staged[ENS_STAGE_SLOTS];
    uint64_t staged_conn[ENS_STAGE_SLOTS];
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        staged[i] = (ens_frag_asm){NULL, 0, 0, 0};
        staged_conn[i] = 0;
    }
    if (st != NULL && st->pend_bytes != 0) {
        int fd = -1;
        for (size_t i = 0; i < r->n_rx; i++) {
            if (r->rx[i].id == st->pend_conn)
                fd = r->rx[i].fd;
        }
        ens__stage_settle(st, fd);
    }
    /* Frames partly put together go on from their connections. */
    for (unsigned i = 0; st != NULL && i < ENS_STAGE_SLOTS; i++) {
        const ens_stage_slot *s = &st->slot[i];
        if (s->conn == 0 || s->total > st->slot_bytes || s->have > s->total)
            continue;
        if (s->have == s->total) { /* whole (in hand, or its last piece just taken) */
            dead_letter(ens__stage_slot_area(st, i), s->total, reason);
            continue;
        }
        if ((staged[i].buf = ens__malloc(s->total)) == NULL) {
            ens__alloc_failed(admin_state.sys,
                              "a frame in pieces queued for an actor that ended was "
                              "dropped without its dead-letter row");
            continue;
        }
        memcpy(staged[i].buf, ens__stage_slot_area(st, i), s->have);
        staged[i].total = s->total;
        staged[i].have = s->have;
        staged_conn[i] = s->conn;
    }
    ens_frag_asm none = {NULL, 0, 0, 0};
    ens_frag_asm *batch_asm = &none;
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        if (st != NULL && staged_conn[i] != 0 && staged_conn[i] == st->sticky)
            batch_asm = &staged[i];
    }
    if (st != NULL && st->len > st->done && !st->head_only)
        frames_to_dead_letters(r, st->buf + st->done, st->len - st->done, batch_asm, reason);
    ens__frag_reset(&none);
    for (size_t i = 0; i < r->n_rx; i++) {
        int fd = r->rx[i].fd;
        /* Writers get EPIPE from now on; what is queued is still readable. */
        shutdown(fd, SHUT_RDWR);
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
            if (cap - len < 65536) {
                size_t ncap = cap ? cap * 2 : 131072;
                uint8_t *n = ens__realloc(buf, ncap);
                if (n == NULL) {
                    ens__alloc_failed(admin_state.sys, "frames queued for an actor that ended were "
                                                       "dropped without their dead-letter rows");
                    break;
                }
                buf = n;
                cap = ncap;
            }
            ssize_t n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        ens_frag_asm own = {NULL, 0, 0, 0};
        ens_frag_asm *a = &own;
        for (unsigned k = 0; k < ENS_STAGE_SLOTS; k++) {
            if (staged_conn[k] != 0 && staged_conn[k] == r->rx[i].id)
                a = &staged[k];
        }
        if (buf != NULL)
            frames_to_dead_letters(r, buf, len, a, reason);
        drop_partial(r, &own);
        free(buf);
        close(fd);
    }
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++)
        drop_partial(r, &staged[i]);
    if (st != NULL)
        ens__stage_reset(st);
    r->n_rx = 0;
}

/* ---- what the admin waits on --------------------------------------------
 * One epoll set, level-triggered: r's control channel (readable, and
 * writable while control frames wait for room) and its connection (writable
 * while frames wait). ep_sync brings the set in line with the records
 * before each wait; a descriptor leaves the set before it is closed. */

enum { EP_CTL = 0, EP_TX = 1 };
#define EP_SIGNALS         2u /* tags of the admin's own descriptors (below any pointer) */
#define EP_LISTEN          4u
#define EP_ZYGOTE          6u
#define EP_LISTEN_ABSTRACT 8u

static void ep_set(int *reg_fd, uint32_t *reg_ev, int fd, uint32_t ev, uint64_t tag)
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

static void ep_sync(arec *r)
{
    uint64_t tag = (uint64_t)(uintptr_t)r;
    ep_set(&r->ep_ctl, &r->ep_ctl_ev, r->ctl,
           r->ctl >= 0 ? EPOLLIN | (r->cq_head != NULL ? EPOLLOUT : 0u) : 0u, tag | EP_CTL);
    ep_set(&r->ep_tx, &r->ep_tx_ev, r->tx, r->out_len > 0 ? EPOLLOUT : 0u, tag | EP_TX);
}

static void close_ctl(arec *r)
{
    ep_set(&r->ep_ctl, &r->ep_ctl_ev, -1, 0, 0);
    if (r->ctl >= 0)
        close(r->ctl);
    r->ctl = -1;
}

static void rec_free(arec *r)
{
    for (size_t i = 0; i < admin_state.n; i++) {
        if (admin_state.recs[i] == r) {
            memmove(&admin_state.recs[i], &admin_state.recs[i + 1],
                    (admin_state.n - i - 1) * sizeof(admin_state.recs[0]));
            admin_state.n--;
            break;
        }
    }
    ens__admin_name_forget(r->addr); /* it ended for good: its name is free */
    if (r->foreign)
        admin_state.n_foreign--;
    ctl_drop_all(r);
    close_ctl(r);
    ep_set(&r->ep_tx, &r->ep_tx_ev, -1, 0, 0);
    if (r->tx >= 0)
        close(r->tx);
    for (size_t i = 0; i < r->n_rx; i++)
        close(r->rx[i].fd);
    if (r->stage != NULL)
        munmap(r->stage, r->stage_len);
    free(r->rx);
    r->rx = NULL;
    free(r->out);
    r->out = NULL;
    free(r->arg);
    r->arg = NULL;
    if (r->map_id != 0 && ens__idmap_get(&rec_by_id, r->map_id) == r)
        ens__idmap_del(&rec_by_id, r->map_id);
    rec_set_pid(r, 0);
    if (r->hello_by != 0)
        n_hello--;
    r->hello_by = 0;
    /* Events of this turn may still name it: freed when the turn ends. */
    r->gone = true;
    r->next_gone = graveyard;
    graveyard = r;
}

/* r ended for good: tell whoever waits, the parent if the actor could not
 * tell it itself, turn its queue into dead letters, forget it. */
/* The children of an incarnation that died without its orderly stop (a
 * crash, a kill) are asked to exit, the last started first, as its stop
 * would have done: the incarnation that knew them is gone (a restarted one
 * starts with zeroed state, and its init starts children of its own). Their
 * exit notices reach the address, so the next incarnation, if any, hears of
 * them as of any child. */
static void stop_orphans(ens_addr parent)
{
    for (size_t i = admin_state.n; i-- > 0;) {
        arec *c = admin_state.recs[i];
        if (!c->outside && !c->killed && ens_addr_equal(c->parent, parent) &&
            !ens_addr_is_none(c->addr)) {
            ens_exit_request_v v = {0};
            send_to(parent, c->addr, &ens_msg_exit_request, &v, ENS_FRAME_SYSTEM, 0, 0);
        }
    }
}

static void end_for_good(arec *r, int reason, int status, int sig, bool orderly)
{
    ens_addr addr = r->addr;
    if (r->sync_pending) {
        ens__ctl_status_v v = {addr, ENS_EINIT};
        arec *q = by_addr(r->requester);
        if (q != NULL && q->ctl >= 0)
            ctl_out(q, addr, &ens__ctl_spawned, &v, r->req_corr, -1, false);
        r->sync_pending = false;
    }
    if (ens_addr_equal(admin_state.dead_handler, addr))
        admin_state.dead_handler = ENS_ADDR_NONE;
    if (!orderly && !ens_addr_is_none(r->parent) && r->parent.id != ENS_ID_OUTSIDE) {
        ens_child_exited_v ce = {addr, reason, sig, status, r->incarnation};
        send_to(addr, r->parent, &ens_msg_child_exited, &ce, ENS_FRAME_SYSTEM, 0, 0);
    }
    if (!orderly)
        stop_orphans(addr);
    /* Mark it gone before draining, so its letters do not come back to it. */
    r->addr = ENS_ADDR_NONE;
    drain_to_dead_letters(r, "the actor ended");
    r->addr = addr;
    rec_free(r);
}

static void on_ctl(arec *r);

/* A process of ours ended: orderly exit, or a crash to absorb. */
static void on_child_exit(pid_t pid, int wstatus)
{
    if (admin_state.jpid > 0 && pid == admin_state.jpid) { /* the journal writer: not an actor */
        journal_exited(wstatus);
        return;
    }
    switch (ens__zygote_exited(&admin_state.zygote, pid)) {
    case ENS_ZYGOTE_ITSELF:
        zygote_exited(wstatus);
        return;
    case ENS_ZYGOTE_SPARE:
        return;
    case ENS_ZYGOTE_NOT_OURS:
        break;
    }
    arec *r = ens__idmap_get(&rec_by_pid, (uint64_t)pid);
    for (size_t i = 0; r == NULL && i < admin_state.n; i++) /* not indexed: out of memory */
        r = admin_state.recs[i]->pid == pid ? admin_state.recs[i] : NULL;
    if (r == NULL || r->pid != pid)
        return;
    rec_set_pid(r, 0);
    if (r->ctl >= 0) {
        on_ctl(r); /* what it said before it ended (its exit notice) */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): on_ctl frees only outside recs (pid 0) */
        close_ctl(r);
    }
    if (r->exiting && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        end_for_good(r, r->exit_reason, r->exit_status, 0, true);
        return;
    }
    int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    if (r->killed) { /* ens_kill: no restart, whatever it died of */
        ens_event ev = {.kind = ENS_EV_EXIT,
                        .actor = r->addr,
                        .parent = r->parent,
                        .actor_type = r->def->name,
                        .signal = sig,
                        .incarnation = r->incarnation,
                        .reason = "killed on request (ens_kill)"};
        emit(&ev);
        end_for_good(r, ENS_EXIT_KILLED, 0, sig, false);
        return;
    }
    int reason = sig == SIGKILL ? ENS_EXIT_KILLED : ENS_EXIT_CRASH;
    char why[128];
    if (sig != 0)
        snprintf(why, sizeof(why), "process killed by signal %d (%s)", sig, strsignal(sig));
    else
        snprintf(why, sizeof(why), "process exited with status %d", WEXITSTATUS(wstatus));
    rec_event(r, ENS_EV_CRASH, sig, why);
    bool in_init = r->stage != NULL && r->stage->state == ENS_STAGE_INIT;
    int64_t now = ens__now_ms();
    size_t recent = 0;
    for (size_t i = 0; i < r->n_crashes; i++) {
        if (now - r->crashes[i] < RESTART_WINDOW_MS)
            r->crashes[recent++] = r->crashes[i];
    }
    r->n_crashes = recent;
    if (in_init || admin_state.shutting_down || r->no_restart || recent >= RESTART_MAX - 1) {
        const char *gave_up = in_init                     ? "crashed in init: not restarted"
                              : admin_state.shutting_down ? "crashed during shutdown"
                              : r->no_restart             ? "crashed: spawned not to be restarted"
                                                          : "crashed too often: not restarted";
        ens_event ev = {.kind = ENS_EV_EXIT,
                        .actor = r->addr,
                        .parent = r->parent,
                        .actor_type = r->def->name,
                        .signal = sig,
                        .incarnation = r->incarnation,
                        .reason = gave_up};
        emit(&ev);
        end_for_good(r, in_init ? ENS_EXIT_INIT_FAILED : reason, 0, sig, false);
        return;
    }
    r->crashes[r->n_crashes++] = now;
    stop_orphans(r->addr);
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): only staged recs are forked */
    r->stage->last_signal = sig;
    r->incarnation++;
    const bool redelivering = ens__stage_in_hand(r->stage) && r->stage->attempt < 2;
    if (fork_actor(r, false, -1) < 0) {
        end_for_good(r, reason, 0, sig, false);
        return;
    }
    rec_event(r, ENS_EV_RESTART, sig, "restarted at the same address");
    if (!ens_addr_is_none(r->parent) && r->parent.id != ENS_ID_OUTSIDE) {
        ens_child_restarted_v cr = {r->addr, sig, r->incarnation, redelivering ? 1 : 0, 0};
        send_to(r->addr, r->parent, &ens_msg_child_restarted, &cr, ENS_FRAME_SYSTEM, 0, 0);
    }
}

/* ---- control requests ------------------------------------------------- */

/* Descriptors kept free for connections between the actors that exist: a
 * spawn is refused (ENS_EAGAIN) rather than take the last of them, so that
 * running out of descriptors stops growth, not the actors already there. */
static bool fds_short(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return false;
    rlim_t reserve = rl.rlim_cur / 8 > 32 ? rl.rlim_cur / 8 : 32;
    /* The descriptors the records hold, and the admin's own (standard
     * streams, signalfd, listening socket, epoll, journal, zygote, log and
     * some slack)... */
    rlim_t used = 16 + (rlim_t)admin_state.zygote.n_spares;
    for (size_t i = 0; i < admin_state.n; i++)
        used += (admin_state.recs[i]->ctl >= 0) + (admin_state.recs[i]->tx >= 0) +
                (rlim_t)admin_state.recs[i]->n_rx;
    /* ...or, if higher, the lowest free descriptor (they are handed out
     * lowest first; holes left by closed ones make it an underestimate). */
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (probe < 0)
        return errno == EMFILE || errno == ENFILE;
    close(probe);
    if ((rlim_t)probe > used)
        used = (rlim_t)probe;
    return used + reserve >= rl.rlim_cur;
}

/* ens_kill: SIGKILL the actor's process; on_child_exit then ends it for
 * good. Nothing to do for an address with no actor process. */
static void do_kill(const ens_msg *m)
{
    const ens__ctl_conn_v *v = m->value;
    arec *r = by_addr(v->peer);
    if (r == NULL || r->outside || r->killed)
        return;
    r->killed = true;
    if (r->pid > 0)
        kill(r->pid, SIGKILL);
}

static void do_spawn(arec *from, const ens_msg *m)
{
    const ens__ctl_spawn_v *v = m->value;
    /* The same program image can pass the definition itself; a program
     * connected by name can only name a registered one. */
    const ens_actor_def *def =
        from->foreign ? ens_actor_find(v->name) : (const ens_actor_def *)(uintptr_t)v->def;
    ens__ctl_status_v reply = {ENS_ADDR_NONE, 0};
    arec *r = NULL;
    /* ens_name_spawn: create-or-get, atomic because nothing else runs here
     * between the check and the registration. */
    const bool named = v->global != NULL && v->global[0] != '\0';
    ens_addr holder = named ? ens__admin_name_get(v->global) : ENS_ADDR_NONE;
    if (admin_state.shutting_down)
        reply.status = ENS_ESHUTDOWN;
    else if (named && !ens_name_valid(v->global))
        reply.status = ENS_EINVAL;
    else if (!ens_addr_is_none(holder))
        reply = (ens__ctl_status_v){holder, 1};
    else if (fds_short()) {
        reply.status = ENS_EAGAIN;
        ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                 "spawn refused: too few file descriptors left (RLIMIT_NOFILE); the rest are "
                 "kept for the actors that run");
    } else if (from->foreign && def == NULL)
        reply.status = ENS_ENOENT;
    else if (def == NULL || v->name == NULL || def->name == NULL || strcmp(def->name, v->name))
        reply.status = ENS_EINVAL;
    else if ((r = rec_add()) == NULL)
        reply.status = ENS_ENOMEM;
    if (reply.status == 0) {
        r->addr = (ens_addr){admin_state.next_id++, admin_state.sys->node, 0};
        rec_index(r);
        r->parent = from->outside ? ENS_ADDR_NONE : from->addr;
        r->def = def;
        r->incarnation = 1;
        r->no_restart = (v->flags & ENS_SPAWN_NO_RESTART) != 0;
        r->spawn_flags = (uint32_t)v->flags;
        int stage_fd = -1;
        r->stage = ens__stage_map(admin_state.sys->opts.max_frame_bytes, &r->stage_len,
                                  ens__zygote_can_fork(&admin_state.zygote) ? &stage_fd : NULL);
        int sv[2] = {-1, -1};
        if (v->arg.len > 0 && (r->arg = ens__malloc(v->arg.len)) != NULL) {
            memcpy(r->arg, v->arg.data, v->arg.len);
            r->arg_len = v->arg.len;
        }
        if (r->stage == NULL || (v->arg.len > 0 && r->arg == NULL) ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            reply.status = ENS_ENOMEM;
        } else {
            ens__fd_nonblock(sv[0]);
            r->tx = sv[0];
            dirty(r);
            if (rx_add(r, admin_state.next_conn++, sv[1]) < 0) {
                close(sv[1]);
                reply.status = ENS_ENOMEM;
            }
            r->sync_pending = v->sync != 0;
            r->requester = from->addr;
            r->req_corr = m->hdr.corr;
            if (reply.status == 0)
                reply.status = named ? ens__admin_name_set(v->global, r->addr) : 0;
            if (reply.status == 0)
                reply.status = fork_actor(r, v->sync != 0, stage_fd);
        }
        if (stage_fd >= 0)
            close(stage_fd);
        if (reply.status < 0) {
            ens__admin_name_forget(r->addr);
            r->sync_pending = false;
            r->addr = ENS_ADDR_NONE;
            rec_free(r);
        } else {
            reply.addr = r->addr;
        }
    }
    if (reply.status != 0 || !v->sync)
        ctl_out(from, reply.addr, &ens__ctl_spawned, &reply, m->hdr.corr, -1, false);
}

/* A name request: answered at once (core/process/admin/proc_names.c). */
static void do_name(arec *from, const ens_msg *m)
{
    ens__ctl_status_v reply = {ENS_ADDR_NONE, 0};
    reply.status = ens__admin_name_request(from->addr, !from->outside, m->value, &reply.addr);
    ctl_out(from, reply.addr, &ens__ctl_ack, &reply, m->hdr.corr, -1, false);
}

static void do_connect(arec *from, const ens_msg *m)
{
    const ens__ctl_conn_v *v = m->value;
    arec *to = by_addr(v->peer);
    ens__ctl_status_v reply = {v->peer, 0};
    int sv[2] = {-1, -1};
    /* An actor between two incarnations (pid 0) is connected all the same:
     * its next process inherits the receiving end. */
    if (to == NULL || to->exiting)
        reply.status = ENS_ENOACTOR;
    if (reply.status == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        reply.status = ENS_EIO;
    if (reply.status < 0) {
        ctl_out(from, v->peer, &ens__ctl_connected, &reply, 0, -1, false);
        return;
    }
    uint64_t id = admin_state.next_conn++;
    ens__ctl_conn_v nc = {from->addr, id};
    if (to->ctl >= 0)
        ctl_out(to, from->addr, &ens__ctl_newconn, &nc, 0, sv[1], false);
    if (to->outside) {
        close(sv[1]); /* the outside never restarts: it holds its only copy */
    } else if (rx_add(to, id, sv[1]) < 0) {
        /* The actor has its own copy: the connection works, but what is
         * queued on it when the actor crashes is lost with it. Said once. */
        ens__alloc_failed(admin_state.sys,
                          "keeping a connection for restarts: what is queued on it when "
                          "its actor crashes is lost");
        close(sv[1]);
    }
    ctl_out(from, v->peer, &ens__ctl_connected, &reply, 0, sv[0], false);
    close(sv[0]);
}

/* Status rows from what the admin holds: the records, the stages, /proc. */
static void do_status(arec *from, const ens_msg *m)
{
    ens_actor_status *rows = ens__calloc(admin_state.n + 1, sizeof(*rows));
    if (rows == NULL) /* the snapshot goes out without rows, its count says why */
        ens__alloc_failed(admin_state.sys, "a status snapshot was answered without its actors");
    size_t n = 0;
    long page_kib = sysconf(_SC_PAGESIZE) / 1024;
    for (size_t i = 0; rows != NULL && i < admin_state.n; i++) {
        arec *r = admin_state.recs[i];
        if (r->outside)
            continue;
        uint64_t queued = 0, rss_pages = 0;
        if (r->stage != NULL && r->stage->len > r->stage->done)
            queued = r->stage->len - r->stage->done;
        for (size_t k = 0; k < r->n_rx; k++) {
            int bytes = 0;
            if (ioctl(r->rx[k].fd, FIONREAD, &bytes) == 0 && bytes > 0)
                queued += (uint64_t)bytes;
        }
        if (r->pid > 0) {
            char path[64];
            snprintf(path, sizeof(path), "/proc/%d/statm", (int)r->pid);
            FILE *f = fopen(path, "re");
            unsigned long size = 0, res = 0;
            if (f != NULL) {
                if (fscanf(f, "%lu %lu", &size, &res) == 2)
                    rss_pages = res;
                fclose(f);
            }
        }
        rows[n++] = (ens_actor_status){
            .addr = r->addr,
            .parent = r->parent,
            .type = (char *)r->def->name,
            .name = (char *)ens__admin_name_of(r->addr),
            .pid = (int32_t)r->pid,
            .incarnation = r->incarnation,
            .restarts = r->incarnation - 1,
            .handled = r->stage != NULL ? r->stage->handled : 0,
            .alloc_failures = r->stage != NULL ? (uint32_t)r->stage->alloc_failures : 0,
            .mailbox_bytes = queued,
            .rss_kib = rss_pages * (uint64_t)page_kib,
        };
    }
    ens_status_v v = {
        (int32_t)admin_state.pid, (uint32_t)admin_state.sys->alloc_failures, {rows, (uint32_t)n}};
    ens_addr self = {ENS_ID_ADMIN, admin_state.sys->node, 0};
    uint16_t flags = ENS_FRAME_SYSTEM | (m->hdr.corr != 0 ? ENS_FRAME_REPLY : 0);
    send_to(self, from->addr, &ens_msg_status, &v, flags, m->hdr.corr, 0);
    free(rows);
}

static void begin_shutdown(uint32_t timeout_ms)
{
    if (admin_state.shutting_down)
        return;
    admin_state.shutting_down = true;
    admin_state.shutdown_deadline = ens__mono_ns() + (uint64_t)timeout_ms * 1000000u;
    ens_exit_request_v v = {0};
    for (size_t i = admin_state.n; i-- > 0;) {
        arec *r = admin_state.recs[i];
        if (!r->outside && ens_addr_is_none(r->parent))
            send_to((ens_addr){ENS_ID_ADMIN, admin_state.sys->node, 0}, r->addr,
                    &ens_msg_exit_request, &v, ENS_FRAME_SYSTEM, 0, 0);
    }
}

/* An event a control peer reports (ens.ctl.Event): passed on to the
 * starting program and the journal if r may report it (the rule of
 * ens__event_refusal, core/process/proc.h), else refused with a BADFRAME row about
 * r that says why. An actor's claim about a child is checked against the
 * child's record while there is one. */
static void on_event_report(arec *r, const ens_msg *m)
{
    ens_event ev;
    ens__ctl_event_from(m->value, &ev);
    const char *why = ens__event_refusal(r->addr, r->outside, &ev);
    if (why == NULL && !ens_addr_equal(ev.actor, r->addr) && ev.kind != ENS_EV_DEAD_LETTER) {
        const arec *child = by_addr(ev.actor);
        if (child != NULL && !ens_addr_equal(child->parent, r->addr))
            why = "an actor reports events about itself, its children and its dead letters only";
    }
    if (why != NULL) {
        char about[ENS_ADDR_STRLEN], reason[256];
        ens_addr_format(ev.actor, about, sizeof(about));
        snprintf(reason, sizeof(reason), "event refused (%s): kind %d about %s", why, (int)ev.kind,
                 about);
        rec_event(r, ENS_EV_BADFRAME, 0, reason);
        return;
    }
    if (ens_addr_is_none(ev.actor))
        ev.actor = r->addr;
    arec *o = outside_rec();
    if (o != NULL)
        ctl_event(o, &ev);
    journal_send(&ev);
}

/* A log line from a control peer (ens.ctl.Log). Actor processes send their
 * lines here (the admin writes the system's log); ens__log_write keeps each
 * one line. Outside programs write their own log and never send one: a
 * line from one is refused, with a BADFRAME row that quotes its start. */
static void on_log_line(arec *r, const ens_msg *m)
{
    const ens__ctl_frame_v *v = m->value;
    if (v->reason == NULL)
        return;
    if (!r->outside) {
        ens__log_write(admin_state.sys, v->reason);
        return;
    }
    char text[96], reason[192];
    ens__text_escape(text, sizeof(text), v->reason, strlen(v->reason));
    snprintf(reason, sizeof(reason), "log line refused (outside programs write their own log): %s",
             text);
    rec_event(r, ENS_EV_BADFRAME, 0, reason);
}

static void on_ctl(arec *r)
{
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        uint64_t lost_corr = 0;
        int rc = ens__ctl_recv_lost(r->ctl, &m, fds, &nfds, &lost_corr);
        for (int i = 0; i < nfds; i++)
            close(fds[i]); /* nobody sends the admin descriptors */
        if (rc == 0)
            return;
        if (rc == 1 && r->hello_by != 0) {
            n_hello--;
            r->hello_by = 0; /* it speaks the protocol: a real client */
        }
        if (rc == ENS_EBADFRAME) {
            rec_event(r, ENS_EV_BADFRAME, 0, "malformed control frame");
            continue;
        }
        if (rc == ENS_ENOMEM) { /* only this request is lost: its sender is told */
            ens__alloc_failed(admin_state.sys, "a control request was lost");
            ctl_out(r, ENS_ADDR_NONE, &ens__ctl_ack,
                    &(ens__ctl_status_v){ENS_ADDR_NONE, ENS_ENOMEM}, lost_corr, -1, false);
            continue;
        }
        if (rc < 0) {
            close_ctl(r);
            if (r == admin_state.starter) {
                admin_state.starter = NULL;
                if (!admin_state.sys->opts.persistent)
                    begin_shutdown(0); /* the starting program is gone */
            }
            if (r->outside) /* an outside program left: forget its endpoint */
                rec_free(r);
            return;
        }
        uint32_t t = m->hdr.type_id;
        if (t == ens__ctl_spawn.id) {
            do_spawn(r, m);
        } else if (t == ens__ctl_connect.id) {
            do_connect(r, m);
        } else if (t == ens__ctl_name.id) {
            do_name(r, m);
        } else if (t == ens__ctl_kill.id) {
            do_kill(m);
        } else if (t == ens__ctl_closed.id) {
            const ens__ctl_conn_v *v = m->value;
            for (size_t i = 0; i < r->n_rx; i++) {
                if (r->rx[i].id == v->conn_id) {
                    close(r->rx[i].fd);
                    r->rx[i] = r->rx[--r->n_rx];
                    break;
                }
            }
        } else if (t == ens__ctl_started.id) {
            const ens__ctl_exit_v *v = m->value;
            if (r->sync_pending && v->status == 0) {
                ens__ctl_status_v s = {r->addr, 0};
                arec *q = by_addr(r->requester);
                if (q != NULL && q->ctl >= 0)
                    ctl_out(q, r->addr, &ens__ctl_spawned, &s, r->req_corr, -1, false);
                r->sync_pending = false;
            }
        } else if (t == ens__ctl_exiting.id) {
            const ens__ctl_exit_v *v = m->value;
            r->exiting = true;
            r->exit_reason = v->reason;
            r->exit_status = v->status;
            /* Its name is free from now on, not only once the process is
             * reaped: the actor announces this (and waits for the ack)
             * before its parent's child-exited notice leaves, so a
             * supervisor that starts it again at once finds the name free. */
            ens__admin_name_forget(r->addr);
            ens__ctl_status_v ack = {r->addr, 0};
            if (m->hdr.corr != 0 && r->ctl >= 0)
                ctl_out(r, r->addr, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
        } else if (t == ens__ctl_event.id) {
            on_event_report(r, m);
        } else if (t == ens__ctl_deadletter.id) {
            const ens__ctl_frame_v *v = m->value;
            dead_letter(v->frame.data, v->frame.len, v->reason != NULL ? v->reason : "dead letter");
        } else if (t == ens__ctl_deadhandler.id) {
            const ens__ctl_flag_v *v = m->value;
            if (v->enable)
                admin_state.dead_handler = r->addr;
            else if (ens_addr_equal(admin_state.dead_handler, r->addr))
                admin_state.dead_handler = ENS_ADDR_NONE;
            ens__ctl_status_v ack = {r->addr, 0};
            if (m->hdr.corr != 0 && r->ctl >= 0)
                ctl_out(r, r->addr, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
        } else if (t == ens__ctl_status.id) {
            do_status(r, m);
        } else if (t == ens__ctl_log.id) {
            on_log_line(r, m);
        } else if (t == ens__ctl_shutdown.id) {
            const ens__ctl_flag_v *v = m->value;
            begin_shutdown(v->timeout_ms);
        }
        ens_msg_free(m);
    }
}

static void reap(void)
{
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
        on_child_exit(pid, wstatus);
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
    else if (fds_short())
        why = NO_FDS, status = ENS_EAGAIN;
    int sv[2] = {-1, -1};
    arec *r = NULL;
    if (status == 0 && (r = rec_add()) == NULL)
        status = ENS_ENOMEM;
    if (status == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        status = ENS_EAGAIN;
    if (status != 0) {
        if (r != NULL) {
            r->addr = ENS_ADDR_NONE;
            rec_free(r);
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
    n_hello++;
    r->peer_uid = (int)cred.uid;
    r->peer_pid = (int)cred.pid;
    r->addr = (ens_addr){admin_state.next_id++, admin_state.sys->node, 0};
    rec_index(r);
    r->incarnation = 1;
    r->ctl = fd;
    r->tx = sv[0];
    dirty(r);
    ens__fd_nonblock(sv[0]);
    const ens_system_opts *o = &admin_state.sys->opts;
    ens__ctl_hello_v hello = {r->addr,
                              o->max_frame_bytes,
                              o->mailbox_limit,
                              o->call_timeout_ms,
                              (uint32_t)o->log_level,
                              o->mailbox_bytes_limit};
    ctl_out(r, r->addr, &ens__ctl_hello, &hello, 0, sv[1], false);
    close(sv[1]);
}

/* Close the connections by name that stayed silent past their deadline
 * (they hold a place among max_connections). Returns the next deadline,
 * 0 if none. */
static uint64_t close_silent(uint64_t now)
{
    uint64_t next = 0;
    if (n_hello == 0)
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
        close_ctl(r);
        rec_free(r); /* only records after i move */
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
            out_flush(r);
        } else {
            if (e->events & EPOLLOUT)
                ctl_flush(r);
            if (!r->gone && (e->events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_ctl(r);
        }
    }
}

/* Bring the epoll set in line with the records touched this turn. */
static void sync_dirty(void)
{
    for (size_t i = 0; i < n_dirty; i++) {
        arec *r = dirty_recs[i];
        if (r->gone)
            continue;
        r->ep_dirty = false;
        ep_sync(r);
    }
    n_dirty = 0;
}

/* Free the records that ended this turn. */
static void bury(void)
{
    while (graveyard != NULL) {
        arec *r = graveyard;
        graveyard = r->next_gone;
        free(r);
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
    journal_stop();
    ens__zygote_stop(&admin_state.zygote);
    while (waitpid(-1, NULL, 0) > 0)
        ;
    for (size_t i = 0; i < admin_state.n; i++) {
        arec *o = admin_state.recs[i];
        if (!o->outside)
            continue;
        out_flush(o);
        if (o->ctl >= 0)
            shutdown(o->ctl, SHUT_WR);
    }
    _exit(0);
}

_Noreturn void ens__admin_main(ens_system *s, int ctl, int tx, const ens_door *door)
{
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
    admin_state.jfd = admin_state.jpidfd = -1;
    int jrc = ens__journal_proc_start(s, admin_state.pid, &admin_state.jpid, &admin_state.jfd);
    if (jrc < 0)
        ens__log(s, NULL, ENS_LOG_ERROR, "failure journal: cannot start its writer: %s",
                 ens_strerror(jrc));
    if (admin_state.jpid > 0)
        admin_state.jpidfd = (int)syscall(SYS_pidfd_open, admin_state.jpid, 0);
    /* Then the zygote, which forks new actors while the admin grows. */
    ens__zygote_init(&admin_state.zygote);
    int zrc = ens__zygote_start(s, admin_state.pid, &admin_state.zygote, zygote_drop);
    if (zrc < 0)
        ens__log(s, NULL, ENS_LOG_WARN, "no zygote (%s): actors are forked by the admin",
                 ens_strerror(zrc));

    /* The outside endpoint: its control channel and the admin's connection
     * to it (both made by the starting program before the fork). */
    arec *o = rec_add();
    if (o == NULL) { /* the starting program sees the admin end: ENS_ESHUTDOWN */
        ens__log(s, NULL, ENS_LOG_ERROR, "out of memory starting the admin");
        finish();
    }
    o->outside = true;
    admin_state.starter = o;
    o->addr = s->outside.self;
    o->ctl = ctl;
    o->tx = tx;
    rec_index(o);
    dirty(o);
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
        if (admin_state.shutting_down && only_outside_left())
            finish();
        if (admin_state.shutting_down && ens__mono_ns() >= admin_state.shutdown_deadline)
            finish();
        if (admin_state.ep_zygote_gen != admin_state.zygote.gen) {
            /* Its channel was closed (which took it out of the epoll set;
             * the number may already name another descriptor) or replaced. */
            admin_state.ep_zygote = -1;
            admin_state.ep_zygote_gen = admin_state.zygote.gen;
        }
        ep_set(&admin_state.ep_zygote, &zygote_ev, admin_state.zygote.fd, EPOLLIN, EP_ZYGOTE);
        sync_dirty();
        struct epoll_event ev[64];
        uint64_t now = ens__mono_ns();
        uint64_t wake = close_silent(now);
        uint64_t log_at = ens__refusal_flush(s, &admin_state.refusals, now, false);
        if (log_at != 0 && (wake == 0 || log_at < wake))
            wake = log_at;
        int timeout = admin_state.shutting_down ? 10 : -1;
        if (wake != 0) {
            uint64_t ms = (wake - now + 999999u) / 1000000u;
            if (timeout < 0 || ms < (uint64_t)timeout)
                timeout = ms > INT32_MAX ? INT32_MAX : (int)ms;
        }
        int k = epoll_wait(admin_state.ep, ev, 64, timeout);
        if (k < 0 && errno != EINTR)
            finish();
        for (int i = 0; i < k; i++)
            on_event(&ev[i]);
        sync_dirty();
        bury();
        if (admin_state.starter == NULL && !s->opts.persistent && !admin_state.shutting_down)
            begin_shutdown(0);
    }
}

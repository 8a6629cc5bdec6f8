/*
 * core/process/admin/ctl_dispatch.c - control frames in. Every endpoint
 * (actor process or outside program) talks to the admin on its control
 * channel; the channel a frame arrives on says who speaks. Each frame type
 * has one handler: spawn, connect, names, kill, status, the announcements
 * an actor makes (started, exiting, a connection closed), events and log
 * lines reported, dead letters and the dead-letter handler, shutdown.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/names_wide.h"
#include "core/process/admin/proc_names.h"
#include "core/process/proc_types.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"
#include "ensemble/status.h"

/* ---- control requests ------------------------------------------------- */

/* Descriptors kept free for connections between the actors that exist: a
 * spawn is refused (ENS_EAGAIN) rather than take the last of them, so that
 * running out of descriptors stops growth, not the actors already there.
 * Counting walks every record, so a count that leaves room is trusted for
 * a while: each check and each receiving end kept (ens__admin_rx_add)
 * takes one unit, standing for FDS_PER_UNIT descriptors, of the room it
 * found. An actor holds two (its control channel and its stage's memfd)
 * and one per connection to it (the kept copy of the receiving end); the
 * admin's own connection to it, two more, only once the admin has sent it
 * something (exit requests at shutdown, notices of its children's ends,
 * dead envelopes). */
#define FDS_PER_UNIT 16
bool ens__admin_fds_short(void)
{
    if (admin_state.fds_unchecked > 0) {
        admin_state.fds_unchecked--;
        return false;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return false;
    rlim_t reserve = rl.rlim_cur / 8 > 32 ? rl.rlim_cur / 8 : 32;
    /* The descriptors the records hold, and the admin's own (standard
     * streams, signalfd, listening socket, epoll, journal, zygote, log and
     * some slack, and the most spares it may hold: the pool grows between
     * two checks)... */
    rlim_t used = 16 + (rlim_t)admin_state.zygote.cap;
    for (size_t i = 0; i < admin_state.n; i++)
        used += (admin_state.recs[i]->ctl >= 0) + (admin_state.recs[i]->tx >= 0) +
                (admin_state.recs[i]->stage_fd >= 0) + (rlim_t)admin_state.recs[i]->n_rx;
    /* ...or, if higher, the lowest free descriptor (they are handed out
     * lowest first; holes left by closed ones make it an underestimate). */
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (probe < 0)
        return errno == EMFILE || errno == ENFILE;
    close(probe);
    if ((rlim_t)probe > used)
        used = (rlim_t)probe;
    if (used + reserve >= rl.rlim_cur)
        return true;
    admin_state.fds_unchecked = (size_t)((rl.rlim_cur - reserve - used) / FDS_PER_UNIT);
    return false;
}

/* ens_kill: SIGKILL the actor's process; ens__admin_on_child_exit then ends it for
 * good. Nothing to do for an address with no actor process. */
static void do_kill(arec *from, const ens_msg *m)
{
    (void)from; /* the frame names the actor */
    const ens__ctl_conn_v *v = m->value;
    arec *r = ens__admin_by_addr(v->peer);
    if (r == NULL || r->outside || r->killed || r->reserved)
        return;
    r->killed = true;
    if (r->pid > 0)
        kill(r->pid, SIGKILL);
    else if (r->restart_at != 0) /* between two tries of a restart: no process to kill */
        ens__admin_end_waiting(r, ENS_EXIT_KILLED, "killed on request (ens_kill)");
}

/* The held area of a new stage: room for what the actor's mailbox may
 * hold (mailbox_bytes_limit), at most ENS_STAGE_HELD_MAX. Address space
 * only: pages are taken when touched. */
static uint64_t held_area_bytes(void)
{
    uint64_t b = admin_state.sys->opts.mailbox_bytes_limit;
    return b < ENS_STAGE_HELD_MAX ? b : ENS_STAGE_HELD_MAX;
}

static void do_spawn(arec *from, const ens_msg *m)
{
    const ens__ctl_spawn_v *v = m->value;
    if (!ens_addr_is_none(v->at)) {
        ens__admin_reincarnate(from, m);
        return;
    }
    const bool named = v->global != NULL && v->global[0] != '\0';
    /* A definition with requirements or a capability check is placed by
     * capabilities (placement.c); the same checks as ens__admin_spawn's
     * first tell which definition the request names. A named spawn stays
     * here (the name is this system's claim): placed only to be refused
     * when this system does not fit. */
    const ens_actor_def *def =
        from->foreign ? ens_actor_find(v->name) : (const ens_actor_def *)(uintptr_t)v->def;
    if (def != NULL && v->name != NULL && def->name != NULL && strcmp(def->name, v->name) == 0 &&
        ens__admin_placed(def) && (!named || !ens__admin_fits_here(def))) {
        ens__admin_place(from, m, def);
        return;
    }
    /* In a convention a name no actor of this system holds is claimed in
     * the convention's bucket first (names_wide.c): the spawn goes on when
     * the gateway answers. */
    if (named && ens__admin_wide() && !admin_state.shutting_down && ens_name_valid(v->global) &&
        ens_addr_is_none(ens__admin_name_get(v->global))) {
        ens__admin_wide_spawn(from, m);
        return;
    }
    ens__admin_spawn(from, v, m->hdr.corr, ENS_ADDR_NONE, 0);
}

static void spawn_as(arec *from, const ens__ctl_spawn_v *v, uint64_t corr, ens_addr claimed,
                     uint64_t rev, const ens_addr *parent);
static bool make_pairs(int a[2], int b[2]);
static void offer_pairs(arec *from, arec *r, int a[2], int b[2]);

void ens__admin_spawn(arec *from, const ens__ctl_spawn_v *v, uint64_t corr, ens_addr claimed,
                      uint64_t rev)
{
    spawn_as(from, v, corr, claimed, rev, NULL);
}

void ens__admin_spawn_parent(arec *from, const ens__ctl_spawn_v *v, uint64_t corr, ens_addr parent)
{
    spawn_as(from, v, corr, ENS_ADDR_NONE, 0, &parent);
}

/* The text of a refused spawn, for the requester's ens_errmsg: sent before
 * the refusal under its correlation id, as an init failure's. */
__attribute__((format(printf, 4, 5))) static void
spawn_refused_why(arec *from, uint64_t corr, int status, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ens__ctl_why_v w = {status, text};
    ens__admin_ctl_out(from, ENS_ADDR_NONE, &ens__ctl_initfailed, &w, corr, -1, false);
}

/* parent: NULL, the requester's child (none from outside). */
static void spawn_as(arec *from, const ens__ctl_spawn_v *v, uint64_t corr, ens_addr claimed,
                     uint64_t rev, const ens_addr *parent)
{
    /* The same program image can pass the definition itself; a program
     * connected by name can only name a registered one. */
    const ens_actor_def *def =
        from->foreign ? ens_actor_find(v->name) : (const ens_actor_def *)(uintptr_t)v->def;
    ens__ctl_status_v reply = {ENS_ADDR_NONE, 0};
    arec *r = NULL;
    /* ens_name_spawn: create-or-get, atomic because nothing else runs here
     * between the check and the registration (and, in a convention, because
     * the bucket took this system's claim and no other). */
    const bool named = v->global != NULL && v->global[0] != '\0';
    const bool wide = rev != 0;
    bool name_set = false;
    ens_addr holder = named ? ens__admin_name_get(v->global) : ENS_ADDR_NONE;
    if (admin_state.shutting_down)
        reply.status = ENS_ESHUTDOWN;
    else if (named && !ens_name_valid(v->global))
        reply.status = ENS_EINVAL;
    else if (!ens_addr_is_none(holder))
        reply = (ens__ctl_status_v){holder, 1};
    else if (ens__admin_fds_short()) {
        reply.status = ENS_EAGAIN;
        ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                 "spawn refused: too few file descriptors left (RLIMIT_NOFILE); the rest are "
                 "kept for the actors that run");
    } else if (from->foreign && def == NULL)
        reply.status = ENS_ENOENT;
    else if (def == NULL || v->name == NULL || def->name == NULL || strcmp(def->name, v->name))
        reply.status = ENS_EINVAL;
    else if ((r = ens__admin_rec_add()) == NULL)
        reply.status = ENS_ENOMEM;
    if (reply.status == 0) {
        r->addr = wide ? claimed : (ens_addr){admin_state.next_id++, admin_state.sys->node, 0};
        ens__admin_rec_index(r);
        r->parent = parent != NULL ? *parent : from->outside ? ENS_ADDR_NONE : from->addr;
        r->parent_inc = parent != NULL ? 0 : from->incarnation;
        r->def = def;
        r->shown =
            !from->foreign && v->shown != 0 ? (const ens_actor_def *)(uintptr_t)v->shown : def;
        r->incarnation = 1;
        r->no_restart = (v->flags & ENS_SPAWN_NO_RESTART) != 0;
        r->spawn_flags = (uint32_t)v->flags & ~ENS__SPAWN_DIRECT;
        /* The outside's own connected spawn is answered by the actor, on
         * the connection made below, once its init succeeded: one hop
         * through the admin less before the first message. */
        const bool connect = (v->flags & ENS_SPAWN_CONNECT) && !from->foreign;
        int pa[2] = {-1, -1}, pb[2] = {-1, -1};
        const bool paired = connect && make_pairs(pa, pb);
        r->answer_direct =
            paired && (v->flags & ENS__SPAWN_DIRECT) && v->sync != 0 && from->outside;
        int stage_fd = -1;
        r->stage =
            ens__stage_map(admin_state.sys->opts.max_frame_bytes, held_area_bytes(), &r->stage_len,
                           ens__zygote_can_fork(&admin_state.zygote) ? &stage_fd : NULL);
        if (v->arg.len > 0 && (r->arg = ens__malloc(v->arg.len)) != NULL) {
            memcpy(r->arg, v->arg.data, v->arg.len);
            r->arg_len = v->arg.len;
        }
        /* The admin's own connection to it is made on its first frame to
         * it (ens__admin_out_frame): most actors never get one. */
        if (r->stage == NULL || (v->arg.len > 0 && r->arg == NULL)) {
            reply.status = ENS_ENOMEM;
        } else {
            r->sync_pending = v->sync != 0;
            r->requester = from->addr;
            r->req_corr = corr;
            if (reply.status == 0 && named)
                reply.status = wide ? ens__admin_name_set_claimed(v->global, r->addr, rev)
                                    : ens__admin_name_set(v->global, r->addr);
            name_set = reply.status == 0 && named;
            if (reply.status == 0)
                reply.status = ens__admin_fork_actor(r, v->sync != 0, stage_fd);
        }
        if (reply.status == 0) { /* its restarts start in spares too */
            r->stage_fd = stage_fd;
            stage_fd = -1;
        }
        if (stage_fd >= 0)
            close(stage_fd);
        if (reply.status < 0) {
            ens__admin_name_forget(r->addr);
            r->sync_pending = false;
            r->addr = ENS_ADDR_NONE;
            ens__admin_rec_free(r);
        } else {
            reply.addr = r->addr;
        }
        if (paired && reply.status == 0) {
            offer_pairs(from, r, pa, pb);
        } else if (paired) {
            close(pa[0]);
            close(pa[1]);
            close(pb[0]);
            close(pb[1]);
        }
    }
    /* A claim the spawn did not use is deleted again. */
    if (wide && !name_set)
        ens__admin_wide_release(v->global, rev, claimed);
    if (reply.status == ENS_ENOENT && from->foreign && def == NULL)
        spawn_refused_why(from, corr, ENS_ENOENT, "actor type %s is not registered in system %s",
                          v->name != NULL ? v->name : "(none)", admin_state.sys->name);
    if (reply.status != 0 || !v->sync)
        ens__admin_ctl_out(from, reply.addr, &ens__ctl_spawned, &reply, corr, -1, false);
}

/* A name request: answered at once (core/process/admin/proc_names.c). */
static void do_name(arec *from, const ens_msg *m)
{
    const ens__ctl_name_v *v = m->value;
    /* In a convention, naming an actor with a name no actor of this system
     * holds is a claim in the convention's bucket first (names_wide.c). */
    if (v->op == ENS_NAMES_REGISTER && ens__admin_wide() && !from->outside &&
        ens_name_valid(v->name) && ens_addr_is_none(ens__admin_name_get(v->name)) &&
        ens__admin_name_of(from->addr) == NULL) {
        ens__admin_wide_register(from, v->name, m->hdr.corr);
        return;
    }
    ens__ctl_status_v reply = {ENS_ADDR_NONE, 0};
    reply.status = ens__admin_name_request(from->addr, !from->outside, m->value, &reply.addr);
    ens__admin_ctl_out(from, reply.addr, &ens__ctl_ack, &reply, m->hdr.corr, -1, false);
}

static void give_pair(arec *from, arec *to, ens_addr peer, int sv[2], int32_t status);

static void do_connect(arec *from, const ens_msg *m)
{
    const ens__ctl_conn_v *v = m->value;
    /* An address of another node: the sender is connected to the gateway,
     * which publishes what comes on that connection to the node. */
    arec *to = ens__admin_route(v->peer);
    ens__ctl_status_v reply = {v->peer, 0};
    int sv[2] = {-1, -1};
    /* An actor between two incarnations (pid 0, or ending with its address
     * kept for a supervisor) is connected all the same: its next process
     * inherits the receiving end. */
    if (to == NULL || (to->exiting && !(to->spawn_flags & ENS__SPAWN_KEEP_ADDR)))
        reply.status = ENS_ENOACTOR;
    if (reply.status == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        reply.status = ENS_EIO;
    if (reply.status < 0) {
        ens__admin_ctl_out(from, v->peer, &ens__ctl_connected, &reply, 0, -1, false);
        return;
    }
    give_pair(from, to, v->peer, sv, 0);
}

/* Give a connection from `from` to `to` (socketpair sv): the receiving end
 * to `to` (kept for its restarts), the sending end to `from` as a
 * Connected for `peer` (the address `from` sends to: `to`'s own, or one on
 * another node that the gateway `to` stands for) with `status` (0: the
 * answer to its request; 1: offered unasked, ens__tx_connected keeps it
 * all the same). */
static void give_pair(arec *from, arec *to, ens_addr peer, int sv[2], int32_t status)
{
    ens__ctl_status_v reply = {peer, status};
    uint64_t id = admin_state.next_conn++;
    ens__ctl_conn_v nc = {from->addr, id};
    if (to->ctl >= 0)
        ens__admin_ctl_out(to, from->addr, &ens__ctl_newconn, &nc, 0, sv[1], false);
    if (to->outside) {
        close(sv[1]); /* the outside never restarts: it holds its only copy */
    } else if (ens__admin_rx_add(to, id, sv[1]) < 0) {
        /* The actor has its own copy: the connection works, but what is
         * queued on it when the actor crashes is lost with it. Said once. */
        ens__alloc_failed(admin_state.sys,
                          "keeping a connection for restarts: what is queued on it when "
                          "its actor crashes is lost");
        close(sv[1]);
    }
    ens__admin_ctl_out(from, peer, &ens__ctl_connected, &reply, 0, sv[0], false);
    close(sv[0]);
}

/* A spawn with ENS_SPAWN_CONNECT: the requester (the outside or the
 * parent) and the new actor are connected both ways at the spawn, before
 * the answer, so that the first message and its reply need no connection
 * round trip through the admin each. The pairs are made before the actor's
 * process is started, so that one answering its spawner itself
 * (ENS__SPAWN_DIRECT) knows its connection is coming. Best effort: without
 * descriptors the connections are asked for later as usual. */
static bool make_pairs(int a[2], int b[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0)
        return false;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) < 0) {
        close(a[0]);
        close(a[1]);
        return false;
    }
    return true;
}

/* The actor's connection to its spawner goes first: it is what an actor
 * answering the spawn itself waits for. */
static void offer_pairs(arec *from, arec *r, int a[2], int b[2])
{
    give_pair(r, from, from->addr, b, 1);
    give_pair(from, r, r->addr, a, 1);
}

/* The type list (core/process/proc_types.h): the admin's table is the
 * system's, forked after the registrations. */
static void send_types(arec *from, const ens_msg *m)
{
    ens_type_desc *types = NULL;
    size_t n = 0;
    if (ens__types_snapshot(&types, &n) < 0) /* answered empty: the asker sees no types */
        ens__alloc_failed(admin_state.sys, "a type list was answered without its types");
    ens__type_list_v v = {{types, (uint32_t)n}};
    ens_addr self = {ENS_ID_ADMIN, admin_state.sys->node, 0};
    uint16_t flags = ENS_FRAME_SYSTEM | (m->hdr.corr != 0 ? ENS_FRAME_REPLY : 0);
    ens__admin_send_to(self, from->addr, &ens__msg_type_list, &v, flags, m->hdr.corr, 0);
    free(types);
}

/* Status rows from what the admin holds: the records, the stages, /proc
 * (or, asked with ENS__STATUS_TYPES, the type list). */
static void do_status(arec *from, const ens_msg *m)
{
    if (((const ens__ctl_flag_v *)m->value)->enable == ENS__STATUS_TYPES) {
        send_types(from, m);
        return;
    }
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
        if (r->stage != NULL && r->stage->held_len > r->stage->held_done) /* held in a call */
            queued += r->stage->held_len - r->stage->held_done;
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
            .type = (char *)r->shown->name,
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
    const ens_system *sys = admin_state.sys;
    ens_status_v v = {
        .admin_pid = (int32_t)admin_state.pid,
        .alloc_failures = (uint32_t)sys->alloc_failures,
        .started_ms = sys->started_ms,
        .persistent = sys->opts.persistent ? 1u : 0u,
        .journal = sys->journal_path,
        .log = sys->log_file,
        .actors = {rows, (uint32_t)n},
    };
    ens_addr self = {ENS_ID_ADMIN, admin_state.sys->node, 0};
    uint16_t flags = ENS_FRAME_SYSTEM | (m->hdr.corr != 0 ? ENS_FRAME_REPLY : 0);
    ens__admin_send_to(self, from->addr, &ens_msg_status, &v, flags, m->hdr.corr, 0);
    free(rows);
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
        const arec *child = ens__admin_by_addr(ev.actor);
        if (child != NULL && !ens_addr_equal(child->parent, r->addr))
            why = "an actor reports events about itself, its children and its dead letters only";
    }
    if (why != NULL) {
        char about[ENS_ADDR_STRLEN], reason[256];
        ens_addr_format(ev.actor, about, sizeof(about));
        snprintf(reason, sizeof(reason), "event refused (%s): kind %d about %s", why, (int)ev.kind,
                 about);
        ens__admin_rec_event(r, ENS_EV_BADFRAME, 0, reason);
        return;
    }
    if (ens_addr_is_none(ev.actor))
        ev.actor = r->addr;
    /* The row's time is when the admin took the report (the same host's
     * clock, a moment after the reporter's): a reporter's own at_ms could
     * date a row before the journal's age limit (deleted at once) or far
     * after it (never deleted). */
    ev.at_ms = ens__now_ms();
    arec *o = ens__admin_outside();
    if (o != NULL)
        ens__admin_ctl_event(o, &ev);
    ens__admin_journal_send(&ev);
}

/* A log line from a control peer (ens.ctl.Log). Actor processes send their
 * lines here (the admin writes the system's log); ens__log_write keeps each
 * one line. Outside programs write their own log and never send one: a
 * line from one is refused, with a BADFRAME row that quotes its start. */
static void on_log_line(arec *r, const ens_msg *m)
{
    const ens__ctl_log_v *v = m->value;
    if (v->line == NULL)
        return;
    if (!r->outside) {
        ens_log_level level = v->level <= ENS_LOG_DEBUG ? (ens_log_level)v->level : ENS_LOG_ERROR;
        ens__log_write(admin_state.sys, level, v->line);
        return;
    }
    char text[96], reason[192];
    ens__text_escape(text, sizeof(text), v->line, strlen(v->line));
    snprintf(reason, sizeof(reason), "log line refused (outside programs write their own log): %s",
             text);
    ens__admin_rec_event(r, ENS_EV_BADFRAME, 0, reason);
}

/* An actor closed its end of a connection (ens.ctl.Closed): the admin's
 * copy of the receiving end goes too, or restarts would keep it alive. */
static void on_closed(arec *r, const ens_msg *m)
{
    const ens__ctl_conn_v *v = m->value;
    for (size_t i = 0; i < r->n_rx; i++) {
        if (r->rx[i].id == v->conn_id) {
            close(r->rx[i].fd);
            r->rx[i] = r->rx[--r->n_rx];
            break;
        }
    }
}

/* An actor got a NewConn without its receiving end (ens.ctl.Regive): the
 * same end again, from the admin's copy, while its channel is empty. */
static void on_regive(arec *r, const ens_msg *m)
{
    const ens__ctl_conn_v *v = m->value;
    if (r->outside || r->cq_n > 0)
        return;
    for (size_t i = 0; i < r->n_rx; i++) {
        if (r->rx[i].id == v->conn_id) {
            ens__ctl_conn_v nc = {v->peer, v->conn_id};
            ens__admin_ctl_out(r, v->peer, &ens__ctl_newconn, &nc, 0, r->rx[i].fd, false);
            return;
        }
    }
}

/* An actor's init returned or was acknowledged (ens.ctl.Started, reason
 * -1), or deferred its acknowledgement (reason -2): a synchronous spawn
 * waiting for it is answered once it started, here, unless the actor says
 * it answered its spawner itself (status 1: ENS__SPAWN_DIRECT). A failed
 * init is answered when it is reaped (ens__admin_sync_failed), also when
 * the actor died after its own answer left and before this report came:
 * the spawner takes the first answer and drops the other. */
static void on_started(arec *r, const ens_msg *m)
{
    const ens__ctl_exit_v *v = m->value;
    const bool ran = v->reason == -1 && (v->status == 0 || v->status == 1);
    r->init_deferred = v->reason == -2;
    if (ran)
        r->init_crashes = 0; /* initialised: the backoff of restarts starts over */
    if (r->sync_pending && ran) {
        ens__ctl_status_v s = {r->addr, 0};
        arec *q = ens__admin_by_addr(r->requester);
        if (v->status == 0 && q != NULL && q->ctl >= 0)
            ens__admin_ctl_out(q, r->addr, &ens__ctl_spawned, &s, r->req_corr, -1, false);
        r->sync_pending = false;
        if (r->answer_direct)
            ens__zygote_top_up(&admin_state.zygote); /* its answer left: now its replacement */
        r->answer_direct = false;
    }
}

/* An actor's init failed (ens.ctl.InitFailed): kept for the spawn that
 * waits, answered once the actor is reaped. */
static void on_init_failed(arec *r, const ens_msg *m)
{
    const ens__ctl_why_v *v = m->value;
    if (r->outside)
        return; /* only an actor speaks of its own init */
    r->init_rc = v->status < 0 ? v->status : ENS_EINIT;
    free(r->init_why);
    r->init_why = NULL;
    size_t len = v->reason != NULL ? strlen(v->reason) : 0;
    if (len > 0 && (r->init_why = ens__malloc(len + 1)) != NULL)
        memcpy(r->init_why, v->reason, len + 1);
    else if (len > 0)
        ens__alloc_failed(admin_state.sys, "the reason of an init failure was not kept");
}

void ens__admin_sync_failed(arec *r)
{
    if (!r->sync_pending)
        return;
    r->sync_pending = false;
    if (r->answer_direct)
        ens__zygote_top_up(&admin_state.zygote);
    r->answer_direct = false;
    arec *q = ens__admin_by_addr(r->requester);
    if (q == NULL || q->ctl < 0)
        return;
    if (r->init_why != NULL) {
        ens__ctl_why_v w = {r->init_rc, r->init_why};
        ens__admin_ctl_out(q, r->addr, &ens__ctl_initfailed, &w, r->req_corr, -1, false);
    }
    ens__ctl_status_v v = {r->addr, r->init_rc < 0 ? r->init_rc : ENS_EINIT};
    ens__admin_ctl_out(q, r->addr, &ens__ctl_spawned, &v, r->req_corr, -1, false);
}

/* An actor announces its orderly exit (ens.ctl.Exiting), with the reason
 * and status its parent will hear; acknowledged when asked. */
static void on_exiting(arec *r, const ens_msg *m)
{
    const ens__ctl_exit_v *v = m->value;
    r->exiting = true;
    r->exit_reason = v->reason;
    r->exit_status = v->status;
    /* Its name is free from now on, not only once the process is
     * reaped: the actor announces this (and waits for the ack)
     * before its parent's child-exited notice leaves, so a
     * supervisor that starts it again at once finds the name free. */
    /* An address kept for a supervisor keeps its name too (reserve.c):
     * freed when the reservation ends. */
    if (!(r->spawn_flags & ENS__SPAWN_KEEP_ADDR))
        ens__admin_name_forget(r->addr);
    ens__ctl_status_v ack = {r->addr, 0};
    if (m->hdr.corr != 0 && r->ctl >= 0)
        ens__admin_ctl_out(r, r->addr, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
}

/* An exiting actor's own child-exited notice did not leave (ens.ctl.Untold):
 * the parent is told here when the process is reaped (end_for_good). */
static void on_untold(arec *r, const ens_msg *m)
{
    (void)m;
    if (!r->outside && r->exiting)
        r->untold = true;
}

/* A frame an endpoint could not deliver (ens.ctl.DeadLetter): the admin's
 * dead-letter rules apply, so a handler anywhere in the system sees it. */
static void on_dead_letter(arec *r, const ens_msg *m)
{
    (void)r;
    const ens__ctl_frame_v *v = m->value;
    ens__admin_dead_letter(v->frame.data, v->frame.len,
                           v->reason != NULL ? v->reason : "dead letter");
}

/* An actor becomes, or stops being, the dead-letter handler
 * (ens.ctl.DeadHandler); acknowledged when asked. */
static void do_dead_handler(arec *r, const ens_msg *m)
{
    const ens__ctl_flag_v *v = m->value;
    if (v->enable)
        admin_state.dead_handler = r->addr;
    else if (ens_addr_equal(admin_state.dead_handler, r->addr))
        admin_state.dead_handler = ENS_ADDR_NONE;
    ens__ctl_status_v ack = {r->addr, 0};
    if (m->hdr.corr != 0 && r->ctl >= 0)
        ens__admin_ctl_out(r, r->addr, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
}

/* A PoisonMessage waits in r's stage (ens.ctl.Poison): send it; acknowledged. */
static void do_poison(arec *r, const ens_msg *m)
{
    ens__admin_poison_flush(r);
    ens__ctl_status_v ack = {r->addr, 0};
    if (m->hdr.corr != 0 && r->ctl >= 0)
        ens__admin_ctl_out(r, r->addr, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
}

/* ens_system_stop from a program (ens.ctl.Shutdown). */
static void do_shutdown(arec *r, const ens_msg *m)
{
    (void)r;
    const ens__ctl_flag_v *v = m->value;
    ens__admin_begin_shutdown(v->timeout_ms);
}

/* What the admin does with each control frame type; r is the endpoint
 * whose channel it came on (who speaks), m the frame (borrowed). A type
 * not in the table (one only the admin sends, or one a newer peer knows)
 * is read and ignored. Type ids are given at registration, so the table
 * is keyed by the type objects and searched by id: a few entries, the
 * same cost with any number of actors. */
typedef struct ctl_handler {
    const ens_msgtype *type;
    void (*run)(arec *r, const ens_msg *m);
} ctl_handler;

static const ctl_handler handlers[] = {
    {&ens__ctl_spawn, do_spawn},
    {&ens__ctl_connect, do_connect},
    {&ens__ctl_name, do_name},
    {&ens__ctl_kill, do_kill},
    {&ens__ctl_release, ens__admin_do_release},
    {&ens__ctl_status, do_status},
    {&ens__ctl_deadhandler, do_dead_handler},
    {&ens__ctl_shutdown, do_shutdown},
    {&ens__ctl_started, on_started},
    {&ens__ctl_initfailed, on_init_failed},
    {&ens__ctl_exiting, on_exiting},
    {&ens__ctl_untold, on_untold},
    {&ens__ctl_regive, on_regive},
    {&ens__ctl_closed, on_closed},
    {&ens__ctl_event, on_event_report},
    {&ens__ctl_log, on_log_line},
    {&ens__ctl_deadletter, on_dead_letter},
    {&ens__ctl_poison, do_poison},
    {&ens__ctl_gwname, ens__admin_wide_on_ctl},
    {&ens__ctl_gwspawn, ens__admin_place_on_ctl},
    {&ens__ctl_convsub, ens__admin_do_convsub},
    {&ens__ctl_capset, ens__admin_do_capset},
    {&ens__ctl_joined, ens__admin_do_joined},
    {&ens_msg_convention_update, ens__admin_conv_update},
};

static const ctl_handler *handler_of(uint32_t type_id)
{
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
        /* Registered before any frame could be decoded (ens__ctl_recv). */
        assert(handlers[i].type->id != 0);
        if (handlers[i].type->id == type_id)
            return &handlers[i];
    }
    return NULL;
}

void ens__admin_on_ctl(arec *r)
{
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        uint64_t lost_corr = 0;
        bool dropped; /* nothing the admin is sent hands it descriptors */
        int rc = ens__ctl_recv_lost(r->ctl, &m, fds, &nfds, &lost_corr, &dropped);
        for (int i = 0; i < nfds; i++)
            close(fds[i]); /* nobody sends the admin descriptors */
        if (rc == 0)
            return;
        if (rc == 1 && r->hello_by != 0) {
            ens__admin_n_hello--;
            r->hello_by = 0; /* it speaks the protocol: a real client */
        }
        if (rc == ENS_EBADFRAME) {
            ens__admin_rec_event(r, ENS_EV_BADFRAME, 0, "malformed control frame");
            continue;
        }
        if (rc == ENS_ENOMEM) { /* only this request is lost: its sender is told */
            ens__alloc_failed(admin_state.sys, "a control request was lost");
            ens__admin_ctl_out(r, ENS_ADDR_NONE, &ens__ctl_ack,
                               &(ens__ctl_status_v){ENS_ADDR_NONE, ENS_ENOMEM}, lost_corr, -1,
                               false);
            continue;
        }
        if (rc < 0) {
            ens__admin_close_ctl(r);
            if (r == admin_state.starter) {
                admin_state.starter = NULL;
                if (!admin_state.sys->opts.persistent)
                    ens__admin_begin_shutdown(0); /* the starting program is gone */
            }
            if (r->outside) /* an outside program left: forget its endpoint */
                ens__admin_rec_free(r);
            return;
        }
        const ctl_handler *h = handler_of(m->hdr.type_id);
        if (h != NULL)
            h->run(r, m);
        ens_msg_free(m);
    }
}

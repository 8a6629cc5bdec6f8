/*
 * core/process/admin/outbound.c - what the admin sends: control frames to a
 * channel (queued while it is full: the admin never blocks on a peer),
 * events (to the starting program, the journal writer and the log), and
 * data frames on the admin's own connection to an endpoint, where they are
 * staged like any other message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "core/wire/frag.h"
#include "ensemble/error.h"

#define CTLQ_DROP_AT 4096 /* queued events beyond this are dropped, counted */

/* A send that failed otherwise than for room (errno says why). A peer
 * gone (EPIPE, ECONNRESET) is told of its end elsewhere; any other failure
 * loses the frame (e.g. ETOOMANYREFS: descriptors in flight beyond the
 * admin's limit), which must not be silent. */
static void send_failed(const arec *r, size_t len, bool with_fd)
{
    if (errno != EPIPE && errno != ECONNRESET)
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "a control message (%zu bytes%s) to pid %d was not sent: %s", len,
                 with_fd ? ", with a descriptor" : "", (int)r->pid, strerror(errno));
}

void ens__admin_ctl_flush(arec *r)
{
    ens__admin_dirty(r);
    while (r->cq_head != NULL && r->ctl >= 0) {
        ctlq *q = r->cq_head;
        int rc = ens__ctl_send_raw(r->ctl, q->frame, q->len, &q->fd, q->fd >= 0 ? 1 : 0, false);
        if (rc == ENS_EAGAIN)
            return;
        if (rc < 0)
            send_failed(r, q->len, q->fd >= 0);
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

void ens__admin_ctl_drop_all(arec *r)
{
    ens__admin_dirty(r);
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

/* Send a control frame to r, or queue it behind what waits for room (fd,
 * if >= 0, is borrowed: it travels, or a duplicate waits with the frame).
 * Events (droppable) beyond CTLQ_DROP_AT waiting are dropped: a program
 * that does not read its channel must not make the admin grow without
 * bound. */
void ens__admin_ctl_out(arec *r, ens_addr from, const ens_msgtype *t, const void *v, uint64_t corr,
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
    uint8_t *frame = NULL;
    size_t len = 0;
    int built = ens__ctl_build(from, t, v, corr, &frame, &len);
    if (built < 0) {
        if (built == ENS_ENOMEM)
            ens__alloc_failed(admin_state.sys,
                              "a control message (a reply or notice) was not sent");
        else
            ens__log(admin_state.sys, NULL, ENS_LOG_ERROR, "a control message was not sent: %s",
                     ens_strerror(built));
        return;
    }
    /* Nothing waits before it: it leaves now, with the caller's descriptor
     * itself (the kernel takes its own reference), so no duplicate is made
     * (each was a descriptor of the admin's for as long as it waited). */
    if (r->cq_head == NULL) {
        int rc = ens__ctl_send_raw(r->ctl, frame, len, &fd, fd >= 0 ? 1 : 0, false);
        if (rc != ENS_EAGAIN) {
            if (rc < 0)
                send_failed(r, len, fd >= 0);
            free(frame);
            return;
        }
    }
    ctlq *q = ens__calloc(1, sizeof(*q));
    if (q != NULL)
        q->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
    if (q == NULL || (fd >= 0 && q->fd < 0)) {
        if (q == NULL)
            ens__alloc_failed(admin_state.sys,
                              "a control message (a reply or notice) was not sent");
        else
            ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                     "a control message carrying a descriptor was not queued for pid %d: %s (the "
                     "admin is at its limit of open descriptors, RLIMIT_NOFILE)",
                     (int)r->pid, strerror(errno));
        free(q);
        free(frame);
        return;
    }
    q->frame = frame;
    q->len = len;
    if (r->cq_tail != NULL)
        r->cq_tail->next = q;
    else
        r->cq_head = q;
    r->cq_tail = q;
    r->cq_n++;
    ens__admin_ctl_flush(r);
}

void ens__admin_ctl_event(arec *r, const ens_event *ev)
{
    ens__ctl_event_v v;
    ens__ctl_event_to(ev, &v);
    ens__admin_ctl_out(r, ev->actor, &ens__ctl_event, &v, 0, -1, true);
}

void ens__admin_emit(ens_event *ev)
{
    ev->at_ms = ens__now_ms();
    if (ev->actor_type == NULL)
        ev->actor_type = "";
    if (ev->msg_type == NULL)
        ev->msg_type = "";
    if (ev->reason == NULL)
        ev->reason = "";
    arec *o = ens__admin_outside();
    if (o != NULL)
        ens__admin_ctl_event(o, ev);
    ens__admin_journal_send(ev);
    char addr[ENS_ADDR_STRLEN];
    ens_addr_format(ev->actor, addr, sizeof(addr));
    ens__log(admin_state.sys, NULL,
             ev->kind == ENS_EV_CRASH || ev->kind == ENS_EV_DEAD_LETTER ? ENS_LOG_WARN
                                                                        : ENS_LOG_INFO,
             "%s: actor %s (%s) signal %d: %s", ens_event_kind_name(ev->kind), addr, ev->actor_type,
             ev->signal, ev->reason);
}

void ens__admin_rec_event(arec *r, ens_event_kind kind, int sig, const char *reason)
{
    ens_event ev = {.kind = kind,
                    .actor = r->addr,
                    .parent = r->parent,
                    .actor_type = r->shown != NULL ? r->shown->name : "outside",
                    .signal = sig,
                    .incarnation = r->incarnation,
                    .reason = reason};
    ens__admin_emit(&ev);
}

/* ---- the admin's own frames to an endpoint ---------------------------- */

void ens__admin_out_flush(arec *r)
{
    ens__admin_dirty(r);
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

/* The admin's own connection to actor r, made on its first frame to r:
 * most actors never get one, and each costs the admin two descriptors (its
 * sending end, and the copy of the receiving end it keeps so that what is
 * queued on it survives a crash). The receiving end reaches r as any new
 * connection does: on its control channel while a process runs, and from
 * the kept copy in every later incarnation. 0, or ENS_EIO / ENS_ENOMEM
 * (nothing made). */
static int own_conn(arec *r)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return ENS_EIO;
    uint64_t id = admin_state.next_conn++;
    if (ens__admin_rx_add(r, id, sv[1]) < 0) {
        close(sv[0]);
        close(sv[1]);
        return ENS_ENOMEM;
    }
    ens__fd_nonblock(sv[0]);
    r->tx = sv[0];
    ens__admin_dirty(r);
    ens__ctl_conn_v nc = {ENS_ADDR_NONE, id};
    ens__admin_ctl_out(r, ENS_ADDR_NONE, &ens__ctl_newconn, &nc, 0, sv[1], false);
    return 0;
}

void ens__admin_out_frame(arec *r, const uint8_t *frame, size_t len)
{
    if (r->tx < 0 && !r->outside) {
        int rc = own_conn(r);
        if (rc < 0) {
            ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                     "no connection from the admin to an actor: %s", ens_strerror(rc));
            ens__admin_dead_letter(frame, len, "the admin could not connect to the actor");
            return;
        }
    }
    if (ens__frag_append(&r->out, &r->out_len, &r->out_cap, frame, len, &r->out_seq) == 0)
        ens__admin_out_flush(r);
}

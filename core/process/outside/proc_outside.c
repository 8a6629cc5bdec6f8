/*
 * core/process/outside/proc_outside.c - a program's side of a process-base
 * system once it has its handle (outside_start.c: started or connected):
 * it serves the outside context: the host operations it uses (route, spawn, status, kill, names)
 * and a poll() loop that runs only inside its blocking calls (the calls
 * themselves, ask, listen and the rest, are core/runtime/outside.c). It owns no
 * libuv loop, so a program that uses libuv itself keeps its loops to
 * itself.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/process/outside/outside.h"
#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "core/process/proc_spin.h"
#include "core/process/proc_tx.h"
#include "core/process/proc_types.h"
#include "core/runtime/endpoint.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

static outside *base_of(ens_system *s)
{
    return s->base;
}

static int rx_add(outside *o, int fd, ens_addr peer);

/* A new outside handle (NULL: out of memory or descriptors): its epoll
 * set and read buffer; ens__po_io_start puts the control channel in. */
outside *ens__po_new(void)
{
    outside *o = ens__calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->ep = epoll_create1(EPOLL_CLOEXEC);
    o->scratch = ens__malloc(RX_READ);
    if (o->ep < 0 || o->scratch == NULL) {
        if (o->ep >= 0)
            close(o->ep);
        free(o->scratch);
        free(o);
        return NULL;
    }
    return o;
}

/* Free a handle made by ens__po_new that holds nothing else yet. */
void ens__po_drop(outside *o)
{
    close(o->ep);
    free(o->scratch);
    free(o);
}

/* Watch o's control channel (data NULL) and the admin's connection to it.
 * Errors: ENS_ENOMEM (the kernel could not add them). */
int ens__po_io_start(outside *o, int admin_conn)
{
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(o->ep, EPOLL_CTL_ADD, o->ctl, &e) < 0)
        return ENS_ENOMEM;
    return rx_add(o, admin_conn, ENS_ADDR_NONE) == 0 ? 0 : ENS_ENOMEM;
}

static int rx_add(outside *o, int fd, ens_addr peer)
{
    if (o->n_rx == o->cap_rx) {
        size_t cap = o->cap_rx ? o->cap_rx * 2 : 8;
        orx **n = ens__realloc(o->rx, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        o->rx = n;
        o->cap_rx = cap;
    }
    orx *r = ens__calloc(1, sizeof(*r));
    if (r == NULL)
        return ENS_ENOMEM;
    ens__fd_nonblock(fd);
    r->fd = fd;
    r->peer = peer;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = r};
    if (epoll_ctl(o->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        free(r);
        return ENS_EIO;
    }
    o->rx[o->n_rx++] = r;
    return 0;
}

/* Close and forget receiving end r. */
static void rx_drop(outside *o, orx *r)
{
    for (size_t i = 0; i < o->n_rx; i++) {
        if (o->rx[i] == r) {
            o->rx[i] = o->rx[--o->n_rx];
            break;
        }
    }
    epoll_ctl(o->ep, EPOLL_CTL_DEL, r->fd, NULL);
    close(r->fd);
    ens__frag_reset(&r->pieces);
    ens__carry_free(&r->carry);
    free(r);
}

/* A new actor's own answer to the synchronous spawn under way
 * (ENS__SPAWN_DIRECT), on the connection the admin made from it at the
 * spawn: taken as the admin's answer would be. Such a frame is never a
 * message: one that is not the answer waited for (a second answer, when
 * the actor died after its own left and the admin's failure came first) is
 * dropped. False if f is not an answer. */
static bool take_answer(ens_system *s, const ens_framed *f)
{
    outside *o = base_of(s);
    ens_frame_hdr h;
    if (ens__frame_hdr_read(f->frame, f->len, s->opts.max_frame_bytes, &h) < 0 ||
        !(h.flags & ENS_FRAME_SYSTEM) || h.type_id != ens__ctl_spawned.id)
        return false;
    if (!o->spawn_direct || o->spawn_done || h.corr != o->spawn_corr || o->reading == NULL ||
        !ens_addr_equal(o->reading->peer, h.sender))
        return true;
    uint8_t *copy = ens__malloc(f->len);
    ens_msg *m = NULL;
    if (copy == NULL)
        return true; /* the admin's answer follows: the Started report said not answered */
    memcpy(copy, f->frame, f->len);
    if (ens__msg_from_frame(copy, f->len, ENS_CTL_MAX, &m) < 0)
        return true;
    const ens__ctl_status_v *v = m->value;
    if (v->status == 0 && ens_addr_equal(v->addr, h.sender)) {
        o->spawn_reply = *v;
        o->spawn_done = true;
    }
    ens_msg_free(m);
    return true;
}

/* One frame from a receiving end (ens__frame_walk): a whole one goes to
 * the outside endpoint, a refused one is reported. */
static void frame_found(void *arg, ens_framed *f)
{
    ens_system *s = arg;
    if (f->err == 0 && take_answer(s, f))
        return;
    if (f->err != 0) {
        ens_event ev = {.kind = ENS_EV_BADFRAME,
                        .actor = s->outside.self,
                        .error = f->err,
                        .msg_size = (uint32_t)f->len,
                        .reason = "a frame to the outside endpoint was refused"};
        ens__event(s, &ev);
        return;
    }
    uint8_t *frame = f->heap;
    f->heap = NULL;
    if (frame == NULL && f->frame != NULL && (frame = ens__malloc(f->len)) != NULL)
        memcpy(frame, f->frame, f->len);
    if (frame != NULL)
        ens__outside_deliver(s, frame, f->len);
    else /* a reply lost this way ends its ask in ENS_ETIMEDOUT */
        ens__alloc_failed(s, "a message to this program was lost");
}

/* Hand the whole frames at the start of data[0..len) to the outside
 * endpoint; *used gets their bytes. False if the stream is garbage (it
 * cannot be resynchronised). */
static bool take_frames(ens_system *s, orx *r, const uint8_t *data, size_t len, size_t *used)
{
    ens_walk w = ens__frame_walk(data, len, s->opts.max_frame_bytes, &r->pieces, frame_found, s);
    *used = w.used;
    if (w.lost) {
        ens_event ev = {.kind = ENS_EV_BADFRAME,
                        .actor = s->outside.self,
                        .error = ENS_EBADFRAME,
                        .reason = "bytes that are not a frame on a connection to the outside "
                                  "endpoint: connection closed"};
        ens__event(s, &ev);
    }
    return !w.lost;
}

/* A frame put together from pieces is complete: check its header as a
 * walk does (framing.c) and hand it on. */
static void frame_done(ens_system *s, uint8_t *whole, size_t wlen)
{
    ens_frame_hdr h;
    ens_framed f = {whole, wlen, ens__frame_hdr_read(whole, wlen, s->opts.max_frame_bytes, &h),
                    NULL};
    if (f.err == 0)
        f.heap = whole;
    frame_found(s, &f);
    free(f.err != 0 ? whole : f.heap);
}

/* What is left over after a walk starts a piece that is not whole yet: its
 * bytes are received straight into the frame being put together (one copy
 * out of the kernel, none through the scratch buffer and the carry). A
 * piece that does not continue the frame stays in the carry, where the walk
 * refuses it once it is whole. */
static void place_start(ens_system *s, orx *r)
{
    ens_carry *c = &r->carry;
    ens_wire_item it;
    if (c->len < ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD ||
        ens__wire_head(c->buf, c->len, s->opts.max_frame_bytes, &it) != 1 || !it.piece ||
        it.err != 0 || it.len <= c->len)
        return;
    ens_frag_place pl;
    if (ens__frag_begin(&r->pieces, c->buf, it.len, s->opts.max_frame_bytes, &pl) != 1)
        return;
    r->got = c->len - (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD);
    memcpy(pl.to, c->buf + ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD, r->got);
    r->place = pl;
    c->len = 0;
    if (c->cap > RX_READ)
        ens__carry_free(c);
}

/* The piece being placed is whole: the frame may be too. */
static void place_end(ens_system *s, orx *r)
{
    uint8_t *whole = NULL;
    size_t wlen = 0;
    const ens_frag_place pl = r->place;
    r->place = (ens_frag_place){NULL, 0, 0};
    r->got = 0;
    if (ens__frag_commit(&r->pieces, &pl, &whole, &wlen) == 1)
        frame_done(s, whole, wlen);
}

/* Read what r has, a RX_READ at a time into the shared buffer; only the
 * head of a frame still incomplete is kept per connection, and the bytes
 * of a piece go straight where their frame is put together. */
static void read_rx(ens_system *s, orx *r)
{
    outside *o = base_of(s);
    for (;;) {
        const bool placing = r->place.to != NULL;
        ssize_t n = placing ? recv(r->fd, r->place.to + r->got, r->place.n - r->got, MSG_DONTWAIT)
                            : recv(r->fd, o->scratch, RX_READ, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* the sender is gone */
            rx_drop(o, r);
            return;
        }
        if (placing) {
            r->got += (size_t)n;
            if (r->got == r->place.n)
                place_end(s, r);
            continue;
        }
        const uint8_t *data = o->scratch;
        size_t len = (size_t)n;
        if (!ens__carry_join(&r->carry, &data, &len)) { /* with a head that came earlier */
            ens__alloc_failed(s, "a connection to this program was closed with what it held");
            rx_drop(o, r); /* out of memory: this stream is lost */
            return;
        }
        size_t used = 0;
        o->reading = r;
        const bool taken = take_frames(s, r, data, len, &used);
        o->reading = NULL;
        if (!taken) {
            rx_drop(o, r); /* garbage: this stream cannot be resynchronised */
            return;
        }
        /* A large frame's buffer goes once it is used up. */
        if (!ens__carry_rest(&r->carry, data, len, used, RX_READ)) {
            ens__alloc_failed(s, "a connection to this program was closed with what it held");
            rx_drop(o, r);
            return;
        }
        place_start(s, r);
    }
}

/* The admin's channel closed: it ended (killed, or its orderly end). If it
 * is our child, reap it now, waiting at most wait_ms for the kernel to
 * finish its exit (the channel closes a moment before the process is a
 * zombie); one that has not ended by then is reaped, or killed, by
 * end_system. A persistent admin, or the admin of a system we connected
 * to, is not our child (o->admin is 0): there is nothing to reap. */
static void reap_admin(outside *o, int wait_ms)
{
    if (o->admin <= 0)
        return;
    int pfd = (int)syscall(SYS_pidfd_open, o->admin, 0);
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        while (poll(&p, 1, wait_ms) < 0 && errno == EINTR)
            ;
        close(pfd);
    }
    int status;
    pid_t got = waitpid(o->admin, &status, WNOHANG);
    if (got == o->admin || (got < 0 && errno == ECHILD))
        o->admin = 0;
}

static void handle_ctl(ens_system *s)
{
    outside *o = base_of(s);
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        uint64_t lost = 0;
        bool dropped = false;
        int rc = ens__ctl_recv_lost(o->ctl, &m, fds, &nfds, &lost, &dropped);
        if (rc == 0)
            return;
        if (rc == ENS_EBADFRAME)
            continue;
        if (rc == ENS_ENOMEM) {
            /* The spawn's answer ends its wait with the failure (the actor
             * may have started); a connection's answer is asked for again;
             * any other answer waited for ends in its caller's timeout. */
            ens__alloc_failed(s, "a control message from the admin was lost");
            if (lost != 0 && o->batch != NULL)
                (void)ens__spawn_batch_take(o->batch, 0, lost, NULL);
            if (lost != 0 && lost == o->spawn_corr && !o->spawn_done) {
                o->spawn_reply = (ens__ctl_status_v){ENS_ADDR_NONE, ENS_ENOMEM};
                o->spawn_done = true;
            }
            ens__tx_ask_again(&o->tx);
            continue;
        }
        if (rc < 0) {
            o->admin_gone = true;
            reap_admin(o, 1000);
            return;
        }
        if (dropped)
            ens__tx_fds_dropped(&o->tx, m);
        uint32_t t = m->hdr.type_id;
        int fd = nfds > 0 ? fds[0] : -1;
        bool taken = false;
        if (t == ens__ctl_connected.id) {
            const ens__ctl_status_v *v = m->value;
            ens__tx_connected(&o->tx, v->addr, v->status, fd);
            taken = true;
        } else if (t == ens__ctl_newconn.id && fd >= 0) {
            int kept = rx_add(o, fd, ((const ens__ctl_conn_v *)m->value)->peer);
            taken = kept == 0;
            if (kept ==
                ENS_ENOMEM) /* the sender finds it closed: its messages become dead letters */
                ens__alloc_failed(s, "a new connection to this program was not kept");
            else if (kept < 0)
                ens__log(s, NULL, ENS_LOG_ERROR,
                         "a new connection to this program was not kept: %s", ens_strerror(kept));
        } else if (t == ens__ctl_ack.id && m->hdr.corr == 0) {
            /* The admin lost a request that expects no ack (a
             * connection's): what waits for one asks again. */
            ens__tx_ask_again(&o->tx);
        } else if (o->batch != NULL && ens__spawn_batch_take(o->batch, t, m->hdr.corr, m->value)) {
            /* an answer to one of ens_spawn_many's requests */
        } else if ((t == ens__ctl_spawned.id || t == ens__ctl_ack.id) &&
                   m->hdr.corr == o->spawn_corr) {
            o->spawn_reply = *(const ens__ctl_status_v *)m->value;
            o->spawn_done = true;
        } else if (t == ens__ctl_initfailed.id && m->hdr.corr == o->spawn_corr) {
            const ens__ctl_why_v *v = m->value;
            snprintf(o->spawn_why, sizeof(o->spawn_why), "%s", v->reason != NULL ? v->reason : "");
        } else if (t == ens__ctl_event.id && s->opts.on_event != NULL) {
            ens_event ev;
            ens__ctl_event_from(m->value, &ev);
            s->opts.on_event(&ev, s->opts.event_arg);
        }
        for (int i = taken ? 1 : 0; i < nfds; i++)
            close(fds[i]);
        ens_msg_free(m);
    }
}

/* Handle the m ready events of ev: each receiving end is named at most
 * once per batch, and handling one frees none but itself. */
static void handle_ready(ens_system *s, const struct epoll_event *ev, int m)
{
    for (int i = 0; i < m; i++) {
        if (ev[i].data.ptr == NULL)
            handle_ctl(s);
        else
            read_rx(s, ev[i].data.ptr);
    }
}

/* Wait up to timeout_ms for something to happen, and handle it: the
 * control channel and the receiving ends are in o->ep; the sending ends
 * that have bytes waiting are polled beside it. */
static void pump(ens_system *s, int timeout_ms)
{
    outside *o = base_of(s);
    ens__tx_flush_all(&o->tx);
    size_t waiting = 0;
    for (size_t i = 0; o->tx.maybe_bytes && i < o->tx.n; i++) {
        ens_tx *tx = o->tx.tx[i];
        waiting += tx->state == ENS_TX_OPEN && ens__tx_has_bytes(tx);
    }
    struct epoll_event ev[64];
    int m;
    if (waiting == 0) { /* the common case: one wait, on the epoll set */
        /* The outside waits only inside its calls, when it expects an
         * answer: spin for it first, if that paid lately. */
        if (timeout_ms != 0)
            (void)ens__spin_before_wait(&o->spin, o->ep);
        m = epoll_wait(o->ep, ev, 64, timeout_ms);
        if (m > 0)
            ens__spin_traffic(&o->spin);
        handle_ready(s, ev, m);
        return;
    }
    struct pollfd *p = ens__malloc((waiting + 1) * sizeof(*p));
    if (p == NULL) { /* this turn waits on nothing; the caller's deadline still holds */
        ens__alloc_failed(s, "a wait for readiness was skipped");
        return;
    }
    nfds_t n = 0;
    p[n++] = (struct pollfd){.fd = o->ep, .events = POLLIN};
    for (size_t i = 0; i < o->tx.n && waiting > 0; i++) {
        ens_tx *tx = o->tx.tx[i];
        if (tx->state == ENS_TX_OPEN && ens__tx_has_bytes(tx))
            p[n++] = (struct pollfd){.fd = tx->fd, .events = POLLOUT};
    }
    int k = poll(p, n, timeout_ms);
    bool ready = k > 0 && p[0].revents != 0;
    if (k > 0 && n > 1)
        ens__tx_flush_all(&o->tx);
    free(p);
    if (!ready)
        return;
    m = epoll_wait(o->ep, ev, 64, 0);
    handle_ready(s, ev, m);
}

typedef bool (*done_fn)(ens_system *s);

/* The loop of the outside's calls (core/runtime/outside.c): until done(s), the
 * deadline (monotonic), or the admin's end. */
static int po_pump(ens_system *s, done_fn done, uint64_t deadline)
{
    outside *o = base_of(s);
    for (;;) {
        if (done(s))
            return 0;
        if (o->admin_gone)
            return ENS_ESHUTDOWN;
        uint64_t now = ens__mono_ns();
        if (now >= deadline)
            return ENS_ETIMEDOUT;
        pump(s, (int)((deadline - now + 999999u) / 1000000u));
    }
}

static int run_until(ens_system *s, done_fn done, uint32_t timeout_ms)
{
    return po_pump(s, done, ens__mono_ns() + (uint64_t)timeout_ms * 1000000u);
}

static int po_route(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded)
{
    outside *o = base_of(s);
    if (ens_addr_equal(h->target, s->outside.self)) {
        ens__outside_deliver(s, frame, len);
        return 0;
    }
    if (o->admin_gone) {
        free(frame);
        return ENS_ESHUTDOWN;
    }
    return ens__tx_send(&o->tx, frame, len, h, bounded);
}

static bool spawn_done(ens_system *s)
{
    return base_of(s)->spawn_done;
}

/* Wait for the answer to a synchronous spawn: an init that defers its ack
 * fails by itself call_timeout_ms after it ran, and the admin answers once
 * it has ended; the grace lets that answer, not a timeout here, decide. A
 * refusal with a text (ens.ctl.InitFailed) sets ens_errmsg. */
static int spawn_wait(ens_system *s)
{
    outside *o = base_of(s);
    int rc = run_until(s, spawn_done, s->opts.call_timeout_ms + ENS__INIT_ACK_GRACE_MS);
    if (rc < 0) {
        ens__errmsg_set("no answer to the spawn within %u ms",
                        s->opts.call_timeout_ms + ENS__INIT_ACK_GRACE_MS);
        return rc;
    }
    if (o->spawn_reply.status < 0 && o->spawn_why[0] != '\0')
        ens__errmsg_set("%s", o->spawn_why);
    return 0;
}

static int po_spawn(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                    const ens_actor_def *shown, uint8_t *arg_frame, size_t arg_len, bool sync,
                    uint32_t flags, ens_addr *out)
{
    (void)parent;
    (void)sync;
    outside *o = base_of(s);
    if (arg_len > ENS_SPAWN_ARG_MAX) {
        free(arg_frame);
        return ens__spawn_arg_refused(d->name, arg_len);
    }
    /* A connected spawn is answered by the new actor itself on the
     * connection made at the spawn; its failures still by the admin. */
    const bool direct = (flags & ENS_SPAWN_CONNECT) != 0;
    ens__ctl_spawn_v v = {.def = (uint64_t)(uintptr_t)d,
                          .shown = (uint64_t)(uintptr_t)shown,
                          .sync = 1,
                          .flags = (int32_t)(flags | (direct ? ENS__SPAWN_DIRECT : 0)),
                          .name = (char *)d->name,
                          .arg = {arg_frame, (uint32_t)arg_len}};
    o->spawn_corr = ++s->next_corr;
    o->spawn_done = false;
    o->spawn_why[0] = '\0';
    int rc = ens__ctl_send(o->ctl, s->outside.self, &ens__ctl_spawn, &v, o->spawn_corr, NULL, 0);
    free(arg_frame);
    if (rc < 0)
        return ENS_ESHUTDOWN;
    o->spawn_direct = direct;
    rc = spawn_wait(s);
    o->spawn_direct = false;
    if (rc < 0)
        return rc;
    if (o->spawn_reply.status < 0)
        return o->spawn_reply.status;
    *out = o->spawn_reply.addr;
    return 0;
}

static bool batch_ready(ens_system *s)
{
    return ens__spawn_batch_ready(base_of(s)->batch);
}

/* ens_spawn_many: the requests go out up to ENS__SPAWN_WINDOW at a time;
 * each wait is bounded as one synchronous spawn's, from the last answer. */
static int po_spawn_many(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                         const ens_actor_def *shown, const uint8_t *arg_frame, size_t arg_len,
                         bool sync, uint32_t flags, size_t n, ens_addr *out, int *status)
{
    (void)parent;
    (void)sync;
    outside *o = base_of(s);
    if (arg_len > ENS_CTL_MAX - 1024)
        return ENS_EMSGSIZE;
    if (o->admin_gone)
        return ENS_ESHUTDOWN;
    ens__spawn_batch b = {.req = {.def = (uint64_t)(uintptr_t)d,
                                  .shown = (uint64_t)(uintptr_t)shown,
                                  .sync = 1,
                                  .flags = (int32_t)flags,
                                  .name = (char *)d->name,
                                  .arg = {(uint8_t *)arg_frame, (uint32_t)arg_len}},
                          .corr0 = s->next_corr + 1,
                          .n = n,
                          .out = out,
                          .status = status};
    s->next_corr += n;
    o->batch = &b;
    int rc = 0;
    while (b.answered < b.n) {
        (void)ens__spawn_batch_send(&b, o->ctl, s->outside.self);
        if (b.answered == b.n)
            break;
        size_t before = b.answered;
        rc = run_until(s, batch_ready, s->opts.call_timeout_ms + ENS__INIT_ACK_GRACE_MS);
        if (rc < 0 && b.answered == before) {
            /* no answer within a spawn's bound, or the system ended */
            for (size_t i = 0; i < b.n; i++)
                if (status[i] == 1)
                    status[i] = rc == ENS_ESHUTDOWN ? ENS_ESHUTDOWN : ENS_ETIMEDOUT;
            break;
        }
    }
    o->batch = NULL;
    if (b.why[0] != '\0')
        ens__errmsg_set("%s", b.why);
    return 0;
}

/* Global names: one request to the admin (core/process/admin/proc_names.c), answered
 * like a spawn; a named spawn is a spawn request with the name. */
static int po_names(ens_system *s, ens_actor *caller, ens_names_req *req)
{
    (void)caller;
    outside *o = base_of(s);
    if (o->admin_gone) {
        free(req->frame);
        return ENS_ESHUTDOWN;
    }
    if (req->op == ENS_NAMES_DEAD) {
        int rc = ens__tx_dead_letter(&o->tx, req->frame, req->len, req->reason);
        free(req->frame);
        return rc;
    }
    o->spawn_corr = ++s->next_corr;
    o->spawn_done = false;
    o->spawn_why[0] = '\0';
    int rc;
    if (req->op == ENS_NAMES_SPAWN) {
        if (req->len > ENS_SPAWN_ARG_MAX) {
            free(req->frame);
            return ens__spawn_arg_refused(req->def->name, req->len);
        }
        ens__ctl_spawn_v v = {.def = (uint64_t)(uintptr_t)req->def,
                              .sync = 1,
                              .flags = (int32_t)req->flags,
                              .name = (char *)req->def->name,
                              .global = (char *)req->name,
                              .arg = {req->frame, (uint32_t)req->len}};
        rc = ens__ctl_send(o->ctl, s->outside.self, &ens__ctl_spawn, &v, o->spawn_corr, NULL, 0);
        free(req->frame);
    } else {
        ens__ctl_name_v v = {(int32_t)req->op, (char *)req->name};
        rc = ens__ctl_send(o->ctl, s->outside.self, &ens__ctl_name, &v, o->spawn_corr, NULL, 0);
    }
    if (rc < 0)
        return ENS_ESHUTDOWN;
    rc = req->op == ENS_NAMES_SPAWN ? spawn_wait(s)
                                    : run_until(s, spawn_done, s->opts.call_timeout_ms);
    if (rc < 0)
        return rc;
    req->addr = o->spawn_reply.addr;
    return o->spawn_reply.status;
}

/* A capability of the system: one request to the admin
 * (core/process/admin/convention.c), answered like a name request. */
static int po_capability_set(ens_system *s, ens_actor *caller, const char *key, const char *value)
{
    (void)caller;
    outside *o = base_of(s);
    if (o->admin_gone)
        return ENS_ESHUTDOWN;
    o->spawn_corr = ++s->next_corr;
    o->spawn_done = false;
    o->spawn_why[0] = '\0';
    ens__ctl_caps_v v = {value != NULL ? ENS_CAPSET_SET : ENS_CAPSET_UNSET, (char *)key,
                         (char *)(value != NULL ? value : "")};
    if (ens__ctl_send(o->ctl, s->outside.self, &ens__ctl_capset, &v, o->spawn_corr, NULL, 0) < 0)
        return ENS_ESHUTDOWN;
    int rc = run_until(s, spawn_done, s->opts.call_timeout_ms);
    if (rc < 0)
        return rc;
    return o->spawn_reply.status;
}

static int po_run(ens_system *s, uint32_t timeout_ms)
{
    /* Actors run by themselves: send what waits, take in what arrived,
     * waiting at most timeout_ms for something to happen. */
    outside *o = base_of(s);
    if (o->admin_gone)
        return ENS_ESHUTDOWN;
    pump(s, timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms);
    return o->admin_gone ? ENS_ESHUTDOWN : 0;
}

static bool admin_gone(ens_system *s)
{
    return base_of(s)->admin_gone;
}

static void pump_ctl_tx(ens_tx_table *t)
{
    handle_ctl(t->owner);
}

/* Free this handle's side: descriptors, buffers, messages, o. */
void ens__po_release(ens_system *s)
{
    outside *o = base_of(s);
    s->down = true;
    while (o->n_rx > 0)
        rx_drop(o, o->rx[o->n_rx - 1]);
    free(o->rx);
    close(o->ep);
    close(o->ctl);
    free(o->scratch);
    ens__tx_free(&o->tx);
    free(o);
}

/* Ask the admin to end the system and wait until it has: it closes its
 * channels as its last act. Then reap it if it is our child (bounded: kill
 * it if it does not go; its actors die with it). */
static int end_system(ens_system *s, uint32_t timeout_ms)
{
    outside *o = base_of(s);
    int rc = 0;
    ens__tx_flush_all(&o->tx);
    ens__ctl_flag_v v = {0, timeout_ms};
    if (!o->admin_gone &&
        ens__ctl_send(o->ctl, s->outside.self, &ens__ctl_shutdown, &v, 0, NULL, 0) == 0) {
        /* The admin ends when every actor has; allow it a little more than
         * the timeout it was given to kill stragglers. */
        if (run_until(s, admin_gone, timeout_ms + 2000) < 0)
            rc = ENS_ETIMEDOUT;
    }
    if (o->admin > 0) {
        int status;
        int pfd = (int)syscall(SYS_pidfd_open, o->admin, 0);
        if (pfd >= 0) {
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            poll(&p, 1, 2000);
            close(pfd);
        }
        if (waitpid(o->admin, &status, WNOHANG) == 0) {
            kill(o->admin, SIGKILL);
            rc = ENS_ETIMEDOUT;
            waitpid(o->admin, &status, 0);
        }
    }
    return rc;
}

/* Close this handle: end the system (asked to, or when the system is this
 * program's own and not persistent), else detach, letting what was sent
 * still leave. */
int ens__po_close(ens_system *s, uint32_t timeout_ms, bool end)
{
    outside *o = base_of(s);
    int rc = 0;
    if (o->detach_only && !end)
        ens__tx_drain(&o->tx, timeout_ms, pump_ctl_tx);
    else
        rc = end_system(s, timeout_ms);
    ens__po_release(s);
    return rc;
}

static int po_status(ens_system *s, ens_addr requester, uint64_t corr)
{
    ens__ctl_flag_v v = {0, 0};
    return ens__ctl_send(base_of(s)->ctl, requester, &ens__ctl_status, &v, corr, NULL, 0) < 0
               ? ENS_ESHUTDOWN
               : 0;
}

int ens__po_types_request(ens_system *s, uint64_t corr)
{
    ens__ctl_flag_v v = {ENS__STATUS_TYPES, 0};
    return ens__ctl_send(base_of(s)->ctl, s->outside.self, &ens__ctl_status, &v, corr, NULL, 0) < 0
               ? ENS_ESHUTDOWN
               : 0;
}

static int po_kill(ens_system *s, ens_actor *caller, ens_addr who)
{
    (void)caller;
    ens__ctl_conn_v v = {who, 0};
    return ens__ctl_send(base_of(s)->ctl, s->outside.self, &ens__ctl_kill, &v, 0, NULL, 0) < 0
               ? ENS_ESHUTDOWN
               : 0;
}

/* The outside program hosts no actor: no timers, watches, commands or
 * dead-letter handler here. */
static const ens__host_ops outside_host = {
    .route = po_route,
    .spawn = po_spawn,
    .spawn_many = po_spawn_many,
    .status = po_status,
    .names = po_names,
    .kill = po_kill,
    .capability_set = po_capability_set,
};

static const ens__outside_ops outside_loop = {
    .pump = po_pump,
    .run = po_run,
    .close = ens__po_close,
};

/* Make o the base of s, an outside program whose control channel (to the
 * admin) is ctl: its sending side, its host operations and its loop. */
void ens__po_attach(ens_system *s, outside *o, int ctl)
{
    o->tx.ctl = ctl;
    o->tx.self = s->outside.self;
    o->tx.sys = s;
    o->tx.limit = s->opts.mailbox_limit;
    o->tx.bytes_limit = s->opts.mailbox_bytes_limit;
    o->tx.owner = s;
    ens__spin_init(&o->spin, s->opts.spin_us);
    s->base = o;
    s->host = &outside_host;
    s->outside_ops = &outside_loop;
}

/* In a convention, ens_system_start returns once the system has joined:
 * its record is in the members bucket (a system started next finds it) and
 * its admin knows the members (a placement right away sees them). Not
 * joined within call_timeout_ms (the servers do not answer): the start goes
 * on, the gateway keeps trying, and the log says so (0). A server that
 * refused the credentials or the TLS handshake: ENS_EAUTH with NATS's
 * reason in ens_errmsg (the caller ends the system). */
int ens__po_wait_joined(ens_system *s)
{
    outside *o = base_of(s);
    o->spawn_corr = ++s->next_corr;
    o->spawn_done = false;
    o->spawn_why[0] = '\0';
    ens__ctl_flag_v v = {0, 0};
    int rc = ens__ctl_send(o->ctl, s->outside.self, &ens__ctl_joined, &v, o->spawn_corr, NULL, 0);
    if (rc >= 0)
        rc = run_until(s, spawn_done, s->opts.call_timeout_ms);
    if (rc >= 0)
        rc = o->spawn_reply.status;
    if (rc == ENS_EAUTH) {
        ens__errmsg_set("%s", o->spawn_why[0] != '\0' ? o->spawn_why : ens_strerror(rc));
        return rc;
    }
    if (rc < 0)
        ens__log(s, NULL, ENS_LOG_WARN,
                 "the convention %s was not joined within call_timeout_ms (%s): the system runs "
                 "and its gateway goes on trying",
                 s->opts.convention.name, ens_strerror(rc));
    return 0;
}

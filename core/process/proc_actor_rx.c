/*
 * core/process/proc_actor_rx.c - an actor process receiving. Incoming bytes
 * are read into the stage (shared with the admin): up to 64 KiB at a time
 * from one connection, whole frames only, then handled frame by frame, the
 * stage recording which frame is in hand and its attempt; connections take
 * turns. A frame whose head only has arrived stays in the kernel until the
 * rest comes (the next edge) or its sender hangs up (it is dropped, with a
 * BADFRAME row). Frames in pieces are put together in a slot of the stage
 * per connection. Messages held during a call wait in the stage's held area.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/process/proc.h"
#include "core/process/proc_actor.h"

static void on_rx_again(uv_idle_t *h);
#include "core/process/proc_services.h"
#include "core/process/proc_tx.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

/* ---- receiving: connections ------------------------------------------------ */

/* Close callback of handles that are the first member of a malloc'ed block. */
void ens__pa_free_handle(uv_handle_t *h)
{
    free(h);
}

static void ready_remove(rxconn *c)
{
    if (!c->ready)
        return;
    for (size_t i = 0; i < actor_proc.n_ready; i++) {
        if (actor_proc.ready[i] == c) {
            memmove(actor_proc.ready + i, actor_proc.ready + i + 1,
                    (actor_proc.n_ready - i - 1) * sizeof(*actor_proc.ready));
            actor_proc.n_ready--;
            break;
        }
    }
    c->ready = false;
}

/* The ready list has room for every connection (grown with actor_proc.rx). */
static void ready_push(rxconn *c)
{
    if (c->ready)
        return;
    c->ready = true;
    actor_proc.ready[actor_proc.n_ready++] = c;
    if (!uv_is_active((uv_handle_t *)&actor_proc.rx_again))
        uv_idle_start(&actor_proc.rx_again, on_rx_again);
}

rxconn *ens__pa_rx_find(uint64_t id)
{
    for (size_t i = 0; i < actor_proc.n_rx; i++) {
        if (actor_proc.rx[i]->id == id)
            return actor_proc.rx[i];
    }
    return NULL;
}

/* Close c for good and tell the admin, which closes its copy. */
static void rx_close(rxconn *c)
{
    for (size_t i = 0; i < actor_proc.n_rx; i++) {
        if (actor_proc.rx[i] == c) {
            actor_proc.rx[i] = actor_proc.rx[--actor_proc.n_rx];
            break;
        }
    }
    ready_remove(c);
    ens__ctl_conn_v v = {ENS_ADDR_NONE, c->id};
    ens__ctl_send(actor_proc.ctl, actor_proc.actor->addr, &ens__ctl_closed, &v, 0, NULL, 0);
    /* The admin holds the same open file: leave the set before closing. */
    epoll_ctl(actor_proc.rx_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

int ens__pa_rx_add(int fd, uint64_t id, ens_addr peer)
{
    if (actor_proc.n_rx == actor_proc.cap_rx) {
        size_t cap = actor_proc.cap_rx ? actor_proc.cap_rx * 2 : 8;
        rxconn **n = ens__realloc(actor_proc.rx, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        actor_proc.rx = n;
        rxconn **r = ens__realloc(actor_proc.ready, cap * sizeof(*r));
        if (r == NULL)
            return ENS_ENOMEM;
        actor_proc.ready = r;
        actor_proc.cap_rx = cap;
    }
    rxconn *c = ens__calloc(1, sizeof(*c));
    if (c == NULL)
        return ENS_ENOMEM;
    c->fd = fd;
    c->id = id;
    c->peer = peer;
    ens__fd_nonblock(fd);
    /* Edge-triggered: adding reports what is queued already, then each
     * arrival and the hang-up once. */
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(actor_proc.rx_ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        free(c);
        return ENS_EIO;
    }
    actor_proc.rx[actor_proc.n_rx++] = c;
    return 0;
}

static void journal_bad(int error, uint64_t bytes, ens_addr sender, const char *why)
{
    ens_event ev = {.kind = ENS_EV_BADFRAME,
                    .error = error,
                    .sender = sender,
                    .msg_size = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes,
                    .reason = why};
    ens__event_actor(&ev, actor_proc.actor);
    ens__event(actor_proc.sys, &ev);
}

/* ---- receiving: slots for frames in pieces ----------------------------------- */

static int slot_of(uint64_t conn)
{
    return ens__stage_slot_of(actor_proc.st, conn);
}

static bool slot_available(void)
{
    return slot_of(0) >= 0;
}

/* Free slot i; connections that waited for one are looked at again. */
static void slot_free(int i)
{
    ens__stage_slot_release(actor_proc.st, i);
    for (size_t k = 0; k < actor_proc.n_rx; k++) {
        if (actor_proc.rx[k]->wants_slot) {
            actor_proc.rx[k]->wants_slot = false;
            ready_push(actor_proc.rx[k]);
        }
    }
}

/* Drop what slot i put together (its sender is gone or stalled), with a
 * row that names the sender and the bytes dropped. */
void ens__pa_slot_drop(int i, const char *why)
{
    ens_stage_slot *s = &actor_proc.st->slot[i];
    rxconn *c = ens__pa_rx_find(s->conn);
    char reason[160];
    snprintf(reason, sizeof(reason), "%s: %llu of %llu bytes of a frame in pieces dropped", why,
             (unsigned long long)s->have, (unsigned long long)s->total);
    journal_bad(ENS_EBADFRAME, s->have, c != NULL ? c->peer : ENS_ADDR_NONE, reason);
    slot_free(i);
}

/* After the frame in hand counted as handled: the slot it was put
 * together in is free. */
void ens__pa_hand_slot_put_away(void)
{
    ens_stage *st = actor_proc.st;
    if (st->hand_slot == 0)
        return;
    int i = (int)st->hand_slot - 1;
    st->hand_slot = 0;
    if (i < (int)ENS_STAGE_SLOTS)
        slot_free(i);
}

static void on_stall(uv_timer_t *t);

/* A connection wants a slot and none is free: the slot that has waited
 * longest for its next piece is dropped, and its connection closed, once it
 * has waited call_timeout_ms (a sender that stalls mid-frame then holds
 * nobody up for longer than that); until then the connection waits. */
static void stall_check(void)
{
    bool wanted = false;
    for (size_t k = 0; k < actor_proc.n_rx && !wanted; k++)
        wanted = actor_proc.rx[k]->wants_slot;
    if (!wanted || slot_available())
        return;
    int oldest = 0;
    for (unsigned i = 1; i < ENS_STAGE_SLOTS; i++) {
        if (actor_proc.slot_ms[i] < actor_proc.slot_ms[oldest])
            oldest = (int)i;
    }
    uint64_t now = uv_now(&actor_proc.loop), limit = actor_proc.sys->opts.call_timeout_ms;
    if (now - actor_proc.slot_ms[oldest] < limit) {
        uv_timer_start(&actor_proc.stall, on_stall, actor_proc.slot_ms[oldest] + limit - now, 0);
        return;
    }
    rxconn *c = ens__pa_rx_find(actor_proc.st->slot[oldest].conn);
    ens__pa_slot_drop(oldest, "a sender stalled in the middle of a frame while others waited");
    if (c != NULL)
        rx_close(c);
}

static void on_stall(uv_timer_t *t)
{
    (void)t;
    uv_update_time(&actor_proc.loop);
    stall_check();
}

/* ---- receiving: taking frames -------------------------------------------------- */

enum { CONN_WAIT, CONN_MORE, CONN_GONE };

/* The sender of c hung up with the head of a frame (or part of one in
 * pieces) not yet whole: drop it, with a row that says so, and close. */
static int conn_ended_mid_frame(rxconn *c)
{
    /* Its sender: the connection's, else the one the frame names. */
    ens_addr from = c->peer;
    int i = slot_of(c->id);
    uint8_t head[ENS_FRAME_HEADER_LEN];
    if (!ens_addr_is_none(from)) {
        /* known */
    } else if (i >= 0 && actor_proc.st->slot[i].have >= ENS_FRAME_HEADER_LEN) {
        from = ens__frame_sender(ens__stage_slot_area(actor_proc.st, (unsigned)i));
    } else if (recv(c->fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof(head)) {
        from = ens__frame_sender(head);
    }
    uint64_t bytes = i >= 0 ? actor_proc.st->slot[i].have : 0;
    static uint8_t sink[ENS_STAGE_CHUNK];
    ssize_t n;
    while ((n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0 || (n < 0 && errno == EINTR))
        bytes += n > 0 ? (uint64_t)n : 0;
    if (i >= 0)
        slot_free(i);
    char reason[160];
    snprintf(reason, sizeof(reason),
             "the sender hung up in the middle of a frame: %llu bytes dropped, connection closed",
             (unsigned long long)bytes);
    journal_bad(ENS_EBADFRAME, bytes, from, reason);
    rx_close(c);
    return CONN_GONE;
}

static void bad_stream(rxconn *c, const char *why)
{
    journal_bad(ENS_EBADFRAME, 0, c->peer, why);
    int i = slot_of(c->id);
    if (i >= 0)
        ens__pa_slot_drop(i, "the connection was closed after a malformed frame");
    rx_close(c);
}

/* The largest frame this actor takes, whole or put together in a slot. */
static uint32_t wire_limit(void)
{
    uint64_t slot = actor_proc.st->slot_bytes;
    return slot < actor_proc.sys->opts.max_frame_bytes ? (uint32_t)slot
                                                       : actor_proc.sys->opts.max_frame_bytes;
}

/* The head of a piece is in the batch area (peeked): take the piece
 * straight into its connection's slot, one copy, once it is whole in the
 * kernel. The stage notes the take (the head, head_only) before it happens,
 * so after a crash the head of the connection tells whether it did
 * (ens__stage_settle). A piece this path cannot place (out of order) is
 * left to the batch path, which reports it. */
static int read_piece(rxconn *c)
{
    ens_stage *st = actor_proc.st;
    ens_wire_item it;
    if (ens__wire_head(st->buf, ENS_PIECE_HEAD, wire_limit(), &it) != 1 || !it.piece ||
        it.err != 0) {
        bad_stream(c, "a malformed piece of a large frame: connection closed");
        return CONN_GONE;
    }
    const uint64_t flen = it.len, total = it.total, off = it.offset;
    int i = slot_of(c->id);
    if (off == 0 && i < 0 && !slot_available()) {
        c->wants_slot = true;
        stall_check();
        return CONN_WAIT;
    }
    if (off != 0 && (i < 0 || st->slot[i].total != total || st->slot[i].have != off)) {
        c->in_pieces = false;
        return CONN_MORE;
    }
    if (c->queued < flen) {
        int queued = 0;
        if (ioctl(c->fd, FIONREAD, &queued) < 0 || (uint64_t)queued < flen) {
            c->queued = 0;
            return c->hup ? conn_ended_mid_frame(c) : CONN_WAIT;
        }
        c->queued = (uint64_t)queued;
    }
    if (off == 0) {
        if (i >= 0 && st->slot[i].have != 0) {
            ens__pa_slot_drop(i, "a new frame began before the last one ended");
            i = -1;
        }
        if (i < 0)
            i = slot_of(0);
        ens__stage_slot_claim(st, i, c->id, total);
    }
    if (ens__stage_take_piece(st, c->fd, c->id, ens__frame_seq(st->buf), flen, (unsigned)i, off) <
        0) {
        /* FIONREAD said it was there: the stream is lost */
        bad_stream(c, "a piece could not be taken whole: connection closed");
        return CONN_GONE;
    }
    c->queued -= flen;
    ens__pa_process_stage();
    return c->queued > 0 || c->hup ? CONN_MORE : CONN_WAIT;
}

/* A look (n bytes) that starts with a piece read_piece can place - the
 * first piece of a frame, or the next piece of the frame in c's slot - takes
 * it straight into the slot rather than through the batch area (which would
 * be read again and copied). Others go the batch way, which reports them. */
static bool piece_goes_straight(rxconn *c, size_t n)
{
    ens_stage *st = actor_proc.st;
    ens_wire_item it;
    if (n < ENS_PIECE_HEAD || !ens__frag_is(st->buf) ||
        ens__wire_head(st->buf, n, wire_limit(), &it) != 1 || !it.piece || it.err != 0)
        return false;
    if (it.offset == 0)
        return true;
    int i = slot_of(c->id);
    return i >= 0 && st->slot[i].total == it.total && st->slot[i].have == it.offset;
}

/* Frames are first looked at (MSG_PEEK, copied into the stage), then taken
 * from the kernel, whole frames only. The stage notes the take before it
 * happens (connection, length, sequence number of the first frame), so a
 * crash at any instant - SIGKILL lands typically right as a read returns -
 * neither loses nor repeats a byte: the next incarnation finds out from
 * the head of the connection whether the take happened. Frames above a
 * look's 64 KiB arrive in pieces (core/wire/frag.h), each taken the same way and
 * put together in the connection's slot. Returns CONN_MORE when c may hold
 * more whole frames, CONN_WAIT when it needs a new arrival (or a slot),
 * CONN_GONE when c was closed (and freed). */
static int read_conn(rxconn *c)
{
    ens_stage *st = actor_proc.st;
    if (c->in_pieces) {
        ssize_t k = ens__stage_look(st, c->fd, ENS_PIECE_HEAD);
        if (k == (ssize_t)ENS_PIECE_HEAD && ens__frag_is(st->buf))
            return read_piece(c);
        if (k == (ssize_t)ENS_PIECE_HEAD)
            c->in_pieces = false;
    }
    ssize_t n = ens__stage_look(st, c->fd, ENS_STAGE_CHUNK);
    if (n == -EINTR)
        return CONN_MORE;
    if (n == -EAGAIN || n == -EWOULDBLOCK)
        return CONN_WAIT; /* a hang-up with nothing queued reads as 0 */
    if (n <= 0) {
        if (slot_of(c->id) >= 0)
            return conn_ended_mid_frame(c);
        rx_close(c);
        return CONN_GONE;
    }
    if (piece_goes_straight(c, (size_t)n))
        return read_piece(c);
    /* A piece that cannot go straight is taken the batch way, whole in a
     * look, where take_piece reports it; one larger than a look never would
     * be: its sender's stream is not to be trusted further. */
    ens_wire_item head;
    if (ens__wire_head(st->buf, (size_t)n, wire_limit(), &head) == 1 && head.piece &&
        head.len > ENS_STAGE_CHUNK) {
        bad_stream(c, head.err != 0 ? "a malformed piece of a large frame: connection closed"
                                    : "a piece of a large frame out of order: connection closed");
        return CONN_GONE;
    }
    const bool slot_free_now = slot_of(c->id) >= 0 || slot_available();
    size_t whole = 0;
    bool for_slot = false;
    ens_wire_item it;
    int wr;
    while ((wr = ens__wire_next(st->buf + whole, (size_t)n - whole, wire_limit(), &it)) == 1) {
        /* The first piece of a frame needs a slot: stop before it if none is
         * free (a batch needs at most one: the pieces of one connection come
         * in order, so a frame ends before the next begins). */
        if (!slot_free_now && it.piece && it.err == 0 && it.offset == 0) {
            for_slot = true;
            break;
        }
        whole += it.len;
    }
    if (wr < 0 && whole == 0) { /* the frames before it are taken first */
        bad_stream(c, "bytes that are not a frame: connection closed");
        return CONN_GONE;
    }
    if (whole == 0) {
        if (for_slot) {
            c->wants_slot = true;
            stall_check();
            return CONN_WAIT;
        }
        /* Only the head of a frame: wait for the rest, unless its sender is
         * gone (then the rest never comes). */
        return c->hup ? conn_ended_mid_frame(c) : CONN_WAIT;
    }
    c->queued = c->queued > whole ? c->queued - whole : 0;
    if (ens__stage_take(st, c->fd, c->id, whole) < 0) {
        st->len = st->done = 0;
        bad_stream(c, "frames looked at could not be taken whole: connection closed");
        return CONN_GONE;
    }
    ens__pa_process_stage();
    /* A look that saw less than it could saw all there was: what arrives
     * later is announced by the next edge (after a hang-up there is none:
     * read on to the end). */
    return (size_t)n < ENS_STAGE_CHUNK && !c->hup ? CONN_WAIT : CONN_MORE;
}

#define RX_LOOKS_PER_TURN 4 /* a loop turn costs a poll and a flush: take a few */

/* One turn: each ready connection gets a few looks (batches, or pieces), in
 * order, so a busy sender does not starve the others. */
static void rx_turn(void)
{
    for (size_t turns = actor_proc.n_ready; turns > 0 && actor_proc.n_ready > 0; turns--) {
        rxconn *c = actor_proc.ready[0];
        ready_remove(c);
        if (c->wants_slot)
            continue;
        int r, looks = RX_LOOKS_PER_TURN;
        do
            r = read_conn(c);
        while (r == CONN_MORE && --looks > 0);
        if (r == CONN_MORE)
            ready_push(c);
    }
    if (actor_proc.n_ready == 0)
        uv_idle_stop(&actor_proc.rx_again);
}

void ens__pa_on_rx_events(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    struct epoll_event ev[64];
    int k;
    ens__spin_traffic(&actor_proc.spin);
    while ((k = epoll_wait(actor_proc.rx_ep, ev, 64, 0)) > 0) {
        for (int i = 0; i < k; i++) {
            rxconn *c = ev[i].data.ptr;
            if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                c->hup = true;
            /* What the edge announces came after the last FIONREAD: the
             * count is stale (trusting it, the last piece of a burst was
             * left waiting for an edge already taken). */
            c->queued = 0;
            if (!c->wants_slot)
                ready_push(c);
        }
        if (k < 64)
            break;
    }
    rx_turn();
}

static void on_rx_again(uv_idle_t *h)
{
    (void)h;
    rx_turn();
}

/* Make what the handler sent leave before its message counts as handled:
 * wait until the sockets took it all (and the connections still being set
 * up exist), so that a crash from here on repeats nothing and loses
 * nothing. A slow receiver thus holds its sender back (back-pressure); two
 * actors flooding each other give up waiting after call_timeout_ms, and
 * then their frames wait in their processes (see system.h). */
void ens__pa_settle_sends(void)
{
    ens__tx_flush_all(&actor_proc.tx);
    if (!ens__tx_pending(&actor_proc.tx))
        return; /* the common case: everything left at once */
    ens__tx_drain(&actor_proc.tx, actor_proc.sys->opts.call_timeout_ms, ens__pa_pump_ctl_tx);
}

/* Deliver message m (owned) as the frame in hand, attempt as given; total
 * is the bytes of the batch area it stands for. */
/* A child-exited notice: the connection to that child is let go once the
 * notice is handled (ens__tx_let_go). */
static void let_go_if_exited(const ens_msg *m)
{
    if ((m->hdr.flags & ENS_FRAME_SYSTEM) && m->hdr.type_id == ens_msg_child_exited.id &&
        m->value != NULL)
        ens__tx_let_go(&actor_proc.tx, ((const ens_child_exited_v *)m->value)->child);
}

void ens__pa_deliver(ens_msg *m, uint64_t total)
{
    let_go_if_exited(m);
    ens__stage_hand(actor_proc.st, m->hdr.attempt);
    actor_proc.cur_len = total;
    ens__actor_deliver(actor_proc.actor, m);
    ens_msg_free(m);
    /* Counted before its sends leave, so whoever got a reply sees it in
     * status (a crash in between counts it twice: a statistic). */
    actor_proc.st->handled++;
    /* What the handler sent leaves before its message counts as done, so
     * a crash from here on repeats nothing and loses nothing (unless a
     * destination is full: then its frames wait in this process). */
    ens__pa_settle_sends();
    ens__pa_mark_in_hand(total);
}

/* The frame in hand is handled: it stood for `total` bytes of the batch
 * area, or it is a held record. */
void ens__pa_mark_in_hand(uint64_t total)
{
    if (actor_proc.st->hand_held)
        ens__stage_mark_held(actor_proc.st);
    else
        ens__stage_mark(actor_proc.st, total);
}

/* Deliver held message m (owned; the record at held_done) as the frame in
 * hand, at its attempt. */
void ens__pa_deliver_held(ens_msg *m)
{
    let_go_if_exited(m);
    ens__stage_hand_held(actor_proc.st, m->hdr.attempt);
    ens__actor_deliver(actor_proc.actor, m);
    ens_msg_free(m);
    actor_proc.st->handled++;
    ens__pa_settle_sends();
    ens__stage_mark_held(actor_proc.st);
}

/* While no call waits, ens__pa_deliver what was held meanwhile, in order: the
 * records of the stage's held area, then any held in memory (the area was
 * full). Before anything newer is taken up. */
static void held_turn(void)
{
    ens_stage *st = actor_proc.st;
    const uint8_t *f;
    uint64_t n;
    while (actor_proc.actor->calls_waiting == 0 && ens__stage_held_peek(st, &f, &n)) {
        ens_msg *m = ens__pa_borrowed_msg(f, n, ens__frame_sender(f));
        if (m != NULL) {
            ens__pa_deliver_held(m);
        } else { /* rejected (reported): skip it */
            ens__stage_hand_held(st, 1);
            ens__stage_mark_held(st);
        }
    }
    if (st->held_len != 0 && st->held_done >= st->held_len) {
        st->held_len = 0;
        st->held_done = 0;
    }
    if (actor_proc.actor->calls_waiting == 0 && actor_proc.actor->n_held > 0)
        ens__request_release_held(actor_proc.actor);
}

/* host->hold: keep m, the frame in hand, in the stage's held area. */
int ens__pa_hold(ens_system *s, ens_actor *a, const ens_msg *m)
{
    (void)s;
    (void)a;
    if (!ens__stage_in_hand(actor_proc.st))
        return ENS_EINVAL;
    return ens__stage_hold(actor_proc.st, m->frame, m->frame_len);
}

/* The message of the frame at frame[0..len), borrowed: the stage keeps the
 * frame unchanged until it counts as handled, and the message lives only
 * while its handler runs. NULL if the frame is rejected (reported). */
ens_msg *ens__pa_borrowed_msg(const uint8_t *frame, uint64_t len, ens_addr from)
{
    ens_msg *m = NULL;
    int rc = ens__msg_from_borrowed(frame, len, actor_proc.sys->opts.max_frame_bytes, &m);
    if (rc == ENS_ENOMEM) /* its row below says which message was lost */
        ens__alloc_failed(actor_proc.sys, "a received message could not be decoded and was lost");
    if (rc < 0) {
        journal_bad(rc, len, from, "a received frame was rejected");
        return NULL;
    }
    return m;
}

/* The complete frame at the stage's `done` as a message, or NULL (a bad
 * frame is reported and skipped; *total is set in both cases, 0 if the
 * frame is not complete yet). */
ens_msg *ens__pa_staged_msg(uint64_t *total)
{
    ens_stage *st = actor_proc.st;
    *total = 0;
    if (st->len - st->done < ENS_FRAME_HEADER_LEN)
        return NULL;
    uint64_t t = ens__frame_total_len(st->buf + st->done);
    if (t > st->len - st->done)
        return NULL;
    *total = t;
    ens_frame_hdr h;
    ens_addr from =
        ens__frame_hdr_read(st->buf + st->done, t, UINT32_MAX, &h) == 0 ? h.sender : ENS_ADDR_NONE;
    ens_msg *m = ens__pa_borrowed_msg(st->buf + st->done, t, from);
    if (m == NULL)
        ens__stage_skip(st, t);
    return m;
}

/* The bytes of the batch area that the piece at `done` stands for: all of
 * it, or only its head when its bytes went straight into its slot. */
uint64_t ens__pa_staged_piece_len(void)
{
    ens_stage *st = actor_proc.st;
    return st->head_only ? st->len - st->done : ens__frame_total_len(st->buf + st->done);
}

/* A fragment (flen bytes) at the stage's `done`, from the batch's
 * connection: its bytes go into that connection's slot at their offset (so
 * doing it twice after a crash does no harm), unless `placed`: they were
 * taken straight there. The last one makes the whole frame the one in
 * hand. */
static void take_piece(uint64_t flen, bool placed)
{
    ens_stage *st = actor_proc.st;
    const uint64_t conn = st->sticky, here = ens__pa_staged_piece_len();
    rxconn *c = ens__pa_rx_find(conn);
    const ens_addr from = c != NULL ? c->peer : ENS_ADDR_NONE;
    if (c != NULL)
        c->in_pieces = true;
    uint64_t total, off;
    const uint8_t *bytes;
    size_t n;
    int i = slot_of(conn);
    if (!ens__frag_parse(st->buf + st->done, flen, actor_proc.sys->opts.max_frame_bytes, &total,
                         &off, &bytes, &n) ||
        total > st->slot_bytes) {
        if (i >= 0)
            ens__pa_slot_drop(i, "a malformed piece of a large frame");
        else
            journal_bad(ENS_EBADFRAME, flen, from, "a malformed piece of a large frame");
        ens__stage_skip(st, here);
        return;
    }
    ens_stage_slot *s = i >= 0 ? &st->slot[i] : NULL;
    /* A first piece starts the slot afresh, unless it is the same first
     * piece once more (a crash between copying it and moving past it), or
     * was taken straight into the slot made for it. */
    bool fresh = off == 0 && (s == NULL || s->total != total || (!placed && s->have != n));
    if (fresh) {
        if (i >= 0)
            ens__pa_slot_drop(i, "a new frame began before the last one ended");
        i = slot_of(0);
        if (i < 0) { /* cannot happen: read_conn stops before it */
            journal_bad(ENS_EBADFRAME, total, from, "no slot for a large frame");
            ens__stage_skip(st, here);
            return;
        }
        ens__stage_slot_claim(st, i, conn, total);
        s = &st->slot[i];
    }
    if (s == NULL || s->total != total || (off != s->have && off + n != s->have)) {
        if (i >= 0)
            ens__pa_slot_drop(i, "a piece of a large frame out of order");
        else
            journal_bad(ENS_EBADFRAME, flen, from, "a piece of a large frame out of order");
        ens__stage_skip(st, here);
        return;
    }
    uint8_t *area = ens__stage_slot_area(st, (unsigned)i);
    if (!placed)
        memcpy(area + off, bytes, n);
    s->have = off + n;
    actor_proc.slot_ms[i] = uv_now(&actor_proc.loop);
    if (s->have < s->total) {
        ens__stage_skip(st, here);
        return;
    }
    ens_msg *m = ens__pa_borrowed_msg(area, s->total, from);
    if (m == NULL) {
        slot_free(i);
        ens__stage_skip(st, here);
        return;
    }
    st->hand_slot = (uint32_t)i + 1;
    ens__pa_deliver(m, here);
    ens__pa_hand_slot_put_away();
}

void ens__pa_process_stage(void)
{
    ens_stage *st = actor_proc.st;
    held_turn();
    for (; st->len - st->done >= ENS_FRAME_HEADER_LEN; held_turn()) {
        uint64_t total = ens__frame_total_len(st->buf + st->done);
        if (st->head_only) {
            take_piece(total, true);
            continue;
        }
        if (total > st->len - st->done)
            break;
        if (ens__frag_is(st->buf + st->done)) {
            take_piece(total, false);
            continue;
        }
        ens_msg *m = ens__pa_staged_msg(&total);
        if (m != NULL)
            ens__pa_deliver(m, total);
    }
    ens__stage_end_batch(st);
}

/*
 * core/process/proc_actor.c - one actor process of the process base.
 *
 * Forked by the admin (or made from a zygote's spare), it runs a libuv
 * loop: one watch on an edge-triggered epoll set of its receiving ends, one
 * for the control channel, timers for wake-ups, and a prepare hook that
 * sends every coalesced outgoing buffer before the loop blocks. Incoming
 * bytes are read into the stage (shared with the admin): up to 64 KiB at a
 * time from one connection, whole frames only, then handled frame by frame,
 * the stage recording which frame is in hand and its attempt; connections
 * take turns. A frame whose head only has arrived stays in the kernel until
 * the rest comes (the next edge) or its sender hangs up (it is dropped, with
 * a BADFRAME row). Frames in pieces are put together in a slot of the stage
 * per connection. A new incarnation after a crash finds the stage as the
 * crash left it: it redelivers the frame in hand (attempt + 1), or returns
 * it as poison when that was its second attempt, then goes on.
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
#include "core/process/proc_services.h"
#include "core/process/proc_tx.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

/* A receiving end. Connections are watched edge-triggered in an epoll set
 * of their own (the loop watches that set), so a connection that holds
 * only the head of a frame is not reported again until more bytes or its
 * sender's hang-up arrive: no polling, and it never holds up the others. */
typedef struct rxconn {
    int fd;
    uint64_t id;
    ens_addr peer;   /* its sender, as the admin said (for the journal) */
    bool ready;      /* in the ready list: may hold frames not yet looked at */
    bool hup;        /* its sender hung up: what is queued is all there is */
    bool wants_slot; /* its next frame comes in pieces and every slot is taken */
    bool in_pieces;  /* its last frame came in pieces: look at the next one's
                        head first, to take a piece straight into its slot */
} rxconn;

typedef struct wtimer {
    uv_timer_t t;
    uint64_t id;
    uint64_t payload;
    uint32_t delay_ms;
    struct wtimer *next;
} wtimer;

typedef struct proc_actor {
    ens_system *sys;
    ens_actor *actor;
    uv_loop_t loop;
    int ctl;
    uv_poll_t ctl_poll;
    rxconn **rx; /* every receiving end */
    size_t n_rx, cap_rx;
    rxconn **ready; /* those that may hold frames, in turn order */
    size_t n_ready;
    int rx_ep;                         /* the epoll set of the receiving ends (edge-triggered) */
    uv_poll_t rx_poll;                 /* the loop's watch on rx_ep */
    uv_idle_t rx_again;                /* active while the ready list is not empty */
    uv_timer_t stall;                  /* looks at stalled slots while a connection wants one */
    uint64_t slot_ms[ENS_STAGE_SLOTS]; /* when each slot last got a piece */
    ens_tx_table tx;
    ens_stage *st;
    uint64_t cur_len; /* length of the frame in hand */
    uv_prepare_t flush;
    uv_timer_t watch_retry; /* a loop turn soon, when a write watch could not be made */
    wtimer *timers;
    uint64_t next_timer;
    uint64_t next_corr;
    uint64_t rpc_corr;
    bool rpc_done;
    ens__ctl_status_v rpc_reply;
    bool exit_announced; /* the admin acked our Exiting (pa_route) */
    bool starting;       /* inside the main's ens__actor_start: it reports a start itself */
} proc_actor;

static proc_actor actor_proc;

uv_loop_t *ens__proc_loop(void)
{
    return &actor_proc.loop;
}

static void process_stage(void);
static void mark_in_hand(uint64_t total);
static void on_rx_again(uv_idle_t *h);
static void pump_ctl(void);
static void pump_ctl_tx(ens_tx_table *t);

/* ---- receiving: connections ------------------------------------------------ */

/* Close callback of handles that are the first member of a malloc'ed block. */
static void free_handle(uv_handle_t *h)
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

static rxconn *rx_find(uint64_t id)
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

static int rx_add(int fd, uint64_t id, ens_addr peer)
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
static void slot_drop(int i, const char *why)
{
    ens_stage_slot *s = &actor_proc.st->slot[i];
    rxconn *c = rx_find(s->conn);
    char reason[160];
    snprintf(reason, sizeof(reason), "%s: %llu of %llu bytes of a frame in pieces dropped", why,
             (unsigned long long)s->have, (unsigned long long)s->total);
    journal_bad(ENS_EBADFRAME, s->have, c != NULL ? c->peer : ENS_ADDR_NONE, reason);
    slot_free(i);
}

/* After the frame in hand counted as handled: the slot it was put
 * together in is free. */
static void hand_slot_put_away(void)
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
    rxconn *c = rx_find(actor_proc.st->slot[oldest].conn);
    slot_drop(oldest, "a sender stalled in the middle of a frame while others waited");
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
        slot_drop(i, "the connection was closed after a malformed frame");
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
    int queued = 0;
    if (ioctl(c->fd, FIONREAD, &queued) < 0 || (uint64_t)queued < flen)
        return c->hup ? conn_ended_mid_frame(c) : CONN_WAIT;
    if (off == 0) {
        if (i >= 0 && st->slot[i].have != 0) {
            slot_drop(i, "a new frame began before the last one ended");
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
    process_stage();
    return (uint64_t)queued > flen || c->hup ? CONN_MORE : CONN_WAIT;
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
    if (ens__stage_take(st, c->fd, c->id, whole) < 0) {
        st->len = st->done = 0;
        bad_stream(c, "frames looked at could not be taken whole: connection closed");
        return CONN_GONE;
    }
    process_stage();
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

static void on_rx_events(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    struct epoll_event ev[64];
    int k;
    while ((k = epoll_wait(actor_proc.rx_ep, ev, 64, 0)) > 0) {
        for (int i = 0; i < k; i++) {
            rxconn *c = ev[i].data.ptr;
            if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                c->hup = true;
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
static void settle_sends(void)
{
    ens__tx_flush_all(&actor_proc.tx);
    if (!ens__tx_pending(&actor_proc.tx))
        return; /* the common case: everything left at once */
    ens__tx_drain(&actor_proc.tx, actor_proc.sys->opts.call_timeout_ms, pump_ctl_tx);
}

/* Deliver message m (owned) as the frame in hand, attempt as given; total
 * is the bytes of the batch area it stands for. */
static void deliver(ens_msg *m, uint64_t total)
{
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
    settle_sends();
    mark_in_hand(total);
}

/* The frame in hand is handled: it stood for `total` bytes of the batch
 * area, or it is a held record. */
static void mark_in_hand(uint64_t total)
{
    if (actor_proc.st->hand_held)
        ens__stage_mark_held(actor_proc.st);
    else
        ens__stage_mark(actor_proc.st, total);
}

static ens_msg *borrowed_msg(const uint8_t *frame, uint64_t len, ens_addr from);

/* Deliver held message m (owned; the record at held_done) as the frame in
 * hand, at its attempt. */
static void deliver_held(ens_msg *m)
{
    ens__stage_hand_held(actor_proc.st, m->hdr.attempt);
    ens__actor_deliver(actor_proc.actor, m);
    ens_msg_free(m);
    actor_proc.st->handled++;
    settle_sends();
    ens__stage_mark_held(actor_proc.st);
}

/* While no call waits, deliver what was held meanwhile, in order: the
 * records of the stage's held area, then any held in memory (the area was
 * full). Before anything newer is taken up. */
static void held_turn(void)
{
    ens_stage *st = actor_proc.st;
    const uint8_t *f;
    uint64_t n;
    while (actor_proc.actor->calls_waiting == 0 && ens__stage_held_peek(st, &f, &n)) {
        ens_msg *m = borrowed_msg(f, n, ens__frame_sender(f));
        if (m != NULL) {
            deliver_held(m);
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
static int pa_hold(ens_system *s, ens_actor *a, const ens_msg *m)
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
static ens_msg *borrowed_msg(const uint8_t *frame, uint64_t len, ens_addr from)
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
static ens_msg *staged_msg(uint64_t *total)
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
    ens_msg *m = borrowed_msg(st->buf + st->done, t, from);
    if (m == NULL)
        ens__stage_skip(st, t);
    return m;
}

/* The bytes of the batch area that the piece at `done` stands for: all of
 * it, or only its head when its bytes went straight into its slot. */
static uint64_t staged_piece_len(void)
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
    const uint64_t conn = st->sticky, here = staged_piece_len();
    rxconn *c = rx_find(conn);
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
            slot_drop(i, "a malformed piece of a large frame");
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
            slot_drop(i, "a new frame began before the last one ended");
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
            slot_drop(i, "a piece of a large frame out of order");
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
    ens_msg *m = borrowed_msg(area, s->total, from);
    if (m == NULL) {
        slot_free(i);
        ens__stage_skip(st, here);
        return;
    }
    st->hand_slot = (uint32_t)i + 1;
    deliver(m, here);
    hand_slot_put_away();
}

static void process_stage(void)
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
        ens_msg *m = staged_msg(&total);
        if (m != NULL)
            deliver(m, total);
    }
    ens__stage_end_batch(st);
}

/* ---- control channel ------------------------------------------------------ */

static void handle_ctl(ens_msg *m, int *fds, int nfds)
{
    uint32_t t = m->hdr.type_id;
    int fd = nfds > 0 ? fds[0] : -1;
    bool taken = false;
    if (t == ens__ctl_connected.id) {
        const ens__ctl_status_v *v = m->value;
        ens__tx_connected(&actor_proc.tx, v->addr, v->status, fd);
        taken = true;
    } else if (t == ens__ctl_newconn.id && fd >= 0) {
        const ens__ctl_conn_v *v = m->value;
        int rc = rx_add(fd, v->conn_id, v->peer);
        taken = rc == 0;
        if (rc == ENS_ENOMEM) /* its sender finds it closed: its messages become dead letters */
            ens__alloc_failed(actor_proc.sys, "a new connection to this actor was not kept");
        else if (rc < 0)
            ens__log(actor_proc.sys, NULL, ENS_LOG_ERROR,
                     "a new connection to this actor was not kept: %s", ens_strerror(rc));
    } else if (t == ens__ctl_ack.id && m->hdr.corr == 0) {
        /* The admin lost a request that expects no ack (a connection's):
         * what waits for one asks again. */
        ens__tx_ask_again(&actor_proc.tx);
    } else if ((t == ens__ctl_spawned.id || t == ens__ctl_ack.id) &&
               m->hdr.corr == actor_proc.rpc_corr) {
        actor_proc.rpc_reply = *(const ens__ctl_status_v *)m->value;
        actor_proc.rpc_done = true;
    }
    for (int i = taken ? 1 : 0; i < nfds; i++)
        close(fds[i]);
    ens_msg_free(m);
}

static void pump_ctl(void)
{
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        uint64_t lost = 0;
        int rc = ens__ctl_recv_lost(actor_proc.ctl, &m, fds, &nfds, &lost);
        if (rc == 0)
            return;
        if (rc == ENS_EBADFRAME)
            continue;
        if (rc == ENS_ENOMEM) {
            /* The answer rpc() waits for ends its wait with the failure
             * (what it asked for may have been done); a connection's
             * answer is asked for again. */
            ens__alloc_failed(actor_proc.sys, "a control message from the admin was lost");
            if (lost != 0 && lost == actor_proc.rpc_corr && !actor_proc.rpc_done) {
                actor_proc.rpc_reply = (ens__ctl_status_v){ENS_ADDR_NONE, ENS_ENOMEM};
                actor_proc.rpc_done = true;
            }
            ens__tx_ask_again(&actor_proc.tx);
            continue;
        }
        if (rc < 0)
            _exit(0); /* the admin is gone: so is the system */
        handle_ctl(m, fds, nfds);
    }
}

static void pump_ctl_tx(ens_tx_table *t)
{
    (void)t;
    pump_ctl();
}

static void on_ctl(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    pump_ctl();
}

/* ---- outgoing --------------------------------------------------------------- */

static void on_tx_writable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    ens__tx_flush(&actor_proc.tx, h->data);
}

#define WATCH_RETRY_MS 10

static void on_watch_retry(uv_timer_t *h)
{
    (void)h;
    ens__tx_flush_all(&actor_proc.tx);
}

static void want_write(ens_tx_table *t, ens_tx *tx, bool want)
{
    (void)t;
    if (tx->fd < 0) {
        if (tx->watch != NULL) {
            uv_poll_stop(tx->watch);
            uv_close((uv_handle_t *)tx->watch, free_handle);
            tx->watch = NULL;
        }
        return;
    }
    if (want && tx->watch == NULL) {
        uv_poll_t *p = ens__malloc(sizeof(*p));
        if (p == NULL) {
            /* Nothing would wake the loop for these frames: a turn soon
             * flushes again, and the flush asks for the watch again. */
            ens__alloc_failed(actor_proc.sys, "a connection's writes were not watched");
            if (!uv_is_active((uv_handle_t *)&actor_proc.watch_retry))
                uv_timer_start(&actor_proc.watch_retry, on_watch_retry, WATCH_RETRY_MS, 0);
            return;
        }
        uv_poll_init(&actor_proc.loop, p, tx->fd);
        p->data = tx;
        tx->watch = p;
    }
    if (tx->watch != NULL) {
        if (want)
            uv_poll_start(tx->watch, UV_WRITABLE, on_tx_writable);
        else
            uv_poll_stop(tx->watch);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    (void)h;
    ens__tx_flush_all(&actor_proc.tx);
    ens__tx_sweep(&actor_proc.tx);
}

/* ---- base operations --------------------------------------------------------- */

static int rpc(ens_system *s, const ens_msgtype *t, const void *v, ens__ctl_status_v *reply);
static int send_poison(ens_system *s, uint8_t *frame, size_t len);

/* Announce an orderly exit to the admin and wait for its ack (once). */
static void announce_exit(ens_system *s)
{
    if (actor_proc.exit_announced)
        return;
    actor_proc.exit_announced = true;
    ens__ctl_exit_v v = {actor_proc.actor->stop_reason, actor_proc.actor->stop_status};
    ens__ctl_status_v reply;
    (void)rpc(s, &ens__ctl_exiting, &v, &reply);
}

static int pa_route(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded)
{
    /* The actor's own child-exited notice (its orderly stop, after
     * terminate): the admin hears of the exit first, and frees the name
     * then, so the parent that reads the notice and starts the child again
     * at once never finds the old actor still holding its name (the notice
     * and the admin's control channel are different sockets: only the ack
     * orders them). */
    if (actor_proc.actor->status == ENS_ACTOR_DEAD && (h->flags & ENS_FRAME_SYSTEM) &&
        h->type_id == ens_msg_child_exited.id && ens_addr_equal(h->sender, actor_proc.actor->addr))
        announce_exit(s);
    if ((h->flags & ENS_FRAME_SYSTEM) && h->type_id == ens_msg_poison.id &&
        ens_addr_equal(h->sender, actor_proc.actor->addr) && ens__stage_in_hand(actor_proc.st) &&
        send_poison(s, frame, len) == 0)
        return 0;
    return ens__tx_send(&actor_proc.tx, frame, len, h, bounded);
}

/* A PoisonMessage for the frame in hand (frame, taken on success): put in
 * the stage, whose one store commits it, and sent by the admin, the one
 * process that never crashes without the system. Sent directly, a SIGKILL
 * between its leaving and the frame's mark would have the next incarnation
 * return it again; put here, the next incarnation finds the frame returned
 * (ens__stage_poisoned) and the admin sends what it finds, once - when
 * asked below, or when the process has ended. What the handler sent before
 * leaves first. Returns 0, or an error (then the caller sends it
 * directly). */
static int send_poison(ens_system *s, uint8_t *frame, size_t len)
{
    ens_stage *st = actor_proc.st;
    settle_sends();
    ens__ctl_status_v reply;
    /* A poison not yet sent (an earlier ask timed out): the admin first. */
    for (int tries = 0; st->poison_len != 0 && tries < 2; tries++)
        (void)rpc(s, &ens__ctl_poison, &(ens__ctl_flag_v){0, 0}, &reply);
    if (st->poison_len != 0)
        return ENS_EAGAIN;
    int rc = ens__stage_poison_put(st, frame, len);
    if (rc < 0)
        return rc;
    free(frame);
    /* Until the admin has it, it waits in the stage: a crash loses nothing. */
    (void)rpc(s, &ens__ctl_poison, &(ens__ctl_flag_v){0, 0}, &reply);
    ens__stage_poison_sent(st);
    return 0;
}

/* A control request that waits for the admin's answer (spawn, dead-letter
 * registration): the only blocking calls an actor makes, short because the
 * admin never waits on an actor. Other control frames that arrive meanwhile
 * are handled as usual. */
static int rpc(ens_system *s, const ens_msgtype *t, const void *v, ens__ctl_status_v *reply)
{
    actor_proc.rpc_corr = ++actor_proc.next_corr;
    actor_proc.rpc_done = false;
    int rc =
        ens__ctl_send(actor_proc.ctl, actor_proc.actor->addr, t, v, actor_proc.rpc_corr, NULL, 0);
    if (rc < 0)
        return rc;
    uint64_t deadline = ens__mono_ns() + (uint64_t)s->opts.call_timeout_ms * 1000000u;
    while (!actor_proc.rpc_done) {
        uint64_t now = ens__mono_ns();
        if (now >= deadline)
            return ENS_ETIMEDOUT;
        struct pollfd p = {.fd = actor_proc.ctl, .events = POLLIN};
        poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        pump_ctl();
    }
    *reply = actor_proc.rpc_reply;
    return reply->status < 0 ? reply->status : 0;
}

static int pa_spawn(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                    const ens_actor_def *shown, uint8_t *arg_frame, size_t arg_len, bool sync,
                    uint32_t flags, ens_addr *out)
{
    (void)parent;
    (void)sync;
    if (arg_len > ENS_CTL_MAX - 1024) {
        free(arg_frame);
        return ENS_EMSGSIZE;
    }
    ens__ctl_spawn_v v = {.def = (uint64_t)(uintptr_t)d,
                          .shown = (uint64_t)(uintptr_t)shown,
                          .flags = (int32_t)flags,
                          .name = (char *)d->name,
                          .at = (flags & ENS__SPAWN_AT) ? *out : ENS_ADDR_NONE,
                          .arg = {arg_frame, (uint32_t)arg_len}};
    ens__ctl_status_v reply;
    int rc = rpc(s, &ens__ctl_spawn, &v, &reply);
    free(arg_frame);
    if (rc == 0)
        *out = reply.addr;
    return rc;
}

/* Global names: one request to the admin, which owns the table
 * (core/process/admin/proc_names.c); a named spawn is a spawn request with the name. */
static int pa_names(ens_system *s, ens_actor *caller, ens_names_req *req)
{
    (void)caller;
    ens__ctl_status_v reply = {ENS_ADDR_NONE, 0};
    int rc;
    if (req->op == ENS_NAMES_DEAD) {
        rc = ens__tx_dead_letter(&actor_proc.tx, req->frame, req->len, req->reason);
        free(req->frame);
        return rc;
    }
    if (req->op == ENS_NAMES_SPAWN) {
        if (req->len > ENS_CTL_MAX - 1024) {
            free(req->frame);
            return ENS_EMSGSIZE;
        }
        ens__ctl_spawn_v v = {.def = (uint64_t)(uintptr_t)req->def,
                              .flags = (int32_t)req->flags,
                              .name = (char *)req->def->name,
                              .global = (char *)req->name,
                              .arg = {req->frame, (uint32_t)req->len}};
        rc = rpc(s, &ens__ctl_spawn, &v, &reply);
        free(req->frame);
    } else {
        ens__ctl_name_v v = {(int32_t)req->op, (char *)req->name};
        rc = rpc(s, &ens__ctl_name, &v, &reply);
    }
    if (rc < 0)
        return rc;
    req->addr = reply.addr;
    return reply.status;
}

/* End the reservation of an ended child (core/process/admin/reserve.c). */
static int pa_release(ens_system *s, ens_actor *caller, ens_addr who)
{
    (void)caller;
    ens__ctl_conn_v v = {who, 0};
    ens__ctl_status_v reply;
    return rpc(s, &ens__ctl_release, &v, &reply);
}

static void on_timer(uv_timer_t *h)
{
    wtimer *w = h->data;
    for (wtimer **pp = &actor_proc.timers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    ens_wakeup_v v = {w->id, w->payload, w->delay_ms};
    ens__send_frame(actor_proc.sys, actor_proc.actor->addr, actor_proc.actor->addr, &ens_msg_wakeup,
                    &v, ENS_FRAME_SYSTEM, 0, 0, false);
    uv_close((uv_handle_t *)h, free_handle);
}

static int pa_timer_add(ens_system *s, ens_actor *a, uint32_t delay_ms, uint64_t payload,
                        uint64_t *id)
{
    (void)s;
    (void)a;
    wtimer *w = ens__calloc(1, sizeof(*w));
    if (w == NULL)
        return ENS_ENOMEM;
    w->id = ++actor_proc.next_timer;
    w->payload = payload;
    w->delay_ms = delay_ms;
    uv_timer_init(&actor_proc.loop, &w->t);
    w->t.data = w;
    w->next = actor_proc.timers;
    actor_proc.timers = w;
    /* libuv counts from the loop's cached millisecond clock: refresh it and
     * add the millisecond it rounds down, so a wake-up is never early. */
    uv_update_time(&actor_proc.loop);
    uv_timer_start(&w->t, on_timer, (uint64_t)delay_ms + 1, 0);
    *id = w->id;
    return 0;
}

static int pa_timer_cancel(ens_system *s, ens_actor *a, uint64_t id)
{
    (void)s;
    (void)a;
    for (wtimer **pp = &actor_proc.timers; *pp != NULL; pp = &(*pp)->next) {
        wtimer *w = *pp;
        if (w->id == id) {
            *pp = w->next;
            uv_timer_stop(&w->t);
            uv_close((uv_handle_t *)&w->t, free_handle);
            return 0;
        }
    }
    return ENS_ENOENT;
}

static void pa_actor_gone(ens_system *s, ens_actor *a)
{
    (void)s;
    ens__proc_services_end(); /* commands die with the actor */
    if (ens__stage_in_hand(actor_proc.st)) {
        mark_in_hand(actor_proc.cur_len); /* the frame that ended the actor is handled */
        hand_slot_put_away();
    } else if (actor_proc.st->state == ENS_STAGE_INIT) {
        actor_proc.st->state = ENS_STAGE_IDLE;
    }
    ens__tx_drain(&actor_proc.tx, 2000, pump_ctl_tx);
    if (!actor_proc.exit_announced) { /* no parent to tell (see pa_route) */
        ens__ctl_exit_v v = {a->stop_reason, a->stop_status};
        ens__ctl_send(actor_proc.ctl, a->addr, &ens__ctl_exiting, &v, 0, NULL, 0);
    }
    _exit(0);
}

static void pa_dead_letters_set(ens_system *s, ens_addr who, bool enable)
{
    (void)who;
    if (!enable && actor_proc.actor->status == ENS_ACTOR_DEAD)
        return; /* ending: the admin drops the registration itself */
    /* Wait for the admin to have taken it: letters routed after this call
     * returns follow the new registration. */
    ens__ctl_flag_v v = {enable ? 1 : 0, 0};
    ens__ctl_status_v reply;
    rpc(s, &ens__ctl_deadhandler, &v, &reply);
}

static void pa_on_attempt(ens_system *s, ens_actor *a, uint32_t attempt)
{
    (void)s;
    (void)a;
    actor_proc.st->attempt = attempt;
}

static int pa_status(ens_system *s, ens_addr requester, uint64_t corr)
{
    (void)s;
    ens__ctl_flag_v v = {0, 0};
    return ens__ctl_send(actor_proc.ctl, requester, &ens__ctl_status, &v, corr, NULL, 0) < 0
               ? ENS_EIO
               : 0;
}

static int pa_kill(ens_system *s, ens_actor *caller, ens_addr who)
{
    (void)s;
    (void)caller;
    ens__ctl_conn_v v = {who, 0};
    return ens__ctl_send(actor_proc.ctl, actor_proc.actor->addr, &ens__ctl_kill, &v, 0, NULL, 0) < 0
               ? ENS_ESHUTDOWN
               : 0;
}

/* The outcome of the init: the admin answers a synchronous spawn from it
 * (ens.ctl.Started; a failure's code and text, ens.ctl.InitFailed, are
 * kept for the answer it gives once this process has ended). A start at
 * the end of the main's init is reported by the main, once the stage says
 * init is over. */
static void pa_init_done(ens_system *s, ens_actor *a, int rc, const char *why)
{
    (void)s;
    if (rc == 0 && actor_proc.starting)
        return;
    if (rc == 0) {
        ens__ctl_exit_v started = {-1, 0};
        ens__ctl_send(actor_proc.ctl, a->addr, &ens__ctl_started, &started, 0, NULL, 0);
        return;
    }
    ens__ctl_why_v v = {rc, (char *)(why != NULL ? why : "")};
    ens__ctl_send(actor_proc.ctl, a->addr, &ens__ctl_initfailed, &v, 0, NULL, 0);
}

/* An actor process hosts its one actor; it has no outside program (its
 * outside operations table stays NULL). */
static const ens__host_ops actor_host = {
    .route = pa_route,
    .spawn = pa_spawn,
    .release = pa_release,
    .timer_add = pa_timer_add,
    .timer_cancel = pa_timer_cancel,
    .actor_gone = pa_actor_gone,
    .dead_letters_set = pa_dead_letters_set,
    .on_attempt = pa_on_attempt,
    .hold = pa_hold,
    .status = pa_status,
    .watch = ens__proc_watch,
    .command = ens__proc_command,
    .kill = pa_kill,
    .names = pa_names,
    .init_done = pa_init_done,
};

/* Log lines of an actor process are written by the admin. */
static void send_log(ens_system *s, const char *line)
{
    (void)s;
    ens__ctl_frame_v v = {(char *)line, {NULL, 0}};
    ens__ctl_send(actor_proc.ctl, actor_proc.actor != NULL ? actor_proc.actor->addr : ENS_ADDR_NONE,
                  &ens__ctl_log, &v, 0, NULL, 0);
}

static void send_event(const ens_event *ev, void *arg)
{
    (void)arg;
    ens__ctl_send_event(actor_proc.ctl, ev);
}

/* After a crash: the frame in hand once more, or back as poison - unless
 * it was returned as poison already (the admin sends that one), or it was
 * being held for an ens_call: then it joins (or already is in) the held
 * area, whose records come first. */
static void recover(bool in_hand, uint32_t attempt, int sig)
{
    ens_stage *st = actor_proc.st;
    if (st->held_done >= st->held_len)
        st->held_len = st->held_done = 0;
    if (!in_hand)
        return;
    /* Every way out below advances `done` or `held_done` (the frame is
     * dealt with) before the stage says IDLE: a crash in between finds it
     * in hand again. */
    uint64_t total = 0;
    ens_msg *m = NULL;
    if (st->hand_held) {
        const uint8_t *f;
        uint64_t n;
        if (ens__stage_held_peek(st, &f, &n))
            m = borrowed_msg(f, n, ens__frame_sender(f));
        if (m == NULL) {
            ens__stage_mark_held(st);
            return;
        }
    } else if (st->hand_slot != 0 && st->hand_slot <= ENS_STAGE_SLOTS &&
               st->len - st->done >= ENS_FRAME_HEADER_LEN && ens__frag_is(st->buf + st->done)) {
        /* The frame in hand was put together from pieces: its last piece is
         * at `done`, the frame in its slot. */
        const unsigned i = st->hand_slot - 1;
        const uint8_t *area = ens__stage_slot_area(st, i);
        total = staged_piece_len();
        m = borrowed_msg(area, st->slot[i].total, ens__frame_sender(area));
        if (m == NULL) {
            ens__stage_mark(st, total);
            hand_slot_put_away();
            return;
        }
    } else {
        m = staged_msg(&total);
    }
    if (m == NULL) {
        st->state = ENS_STAGE_IDLE;
        return;
    }
    /* Returned as poison already (the admin sends it, once), or held (a
     * record of this hand number waits): dealt with. */
    bool done = ens__stage_poisoned(st) || ens__stage_held_has(st, st->hand_seq);
    if (!done && !st->hand_held && st->held_len > st->held_done &&
        ens__stage_hold(st, m->frame, m->frame_len) == 0) {
        /* Being held when the crash came (or a reply whose completion it
         * was): it arrived after every held record, and goes after them. */
        done = true;
    }
    if (done) {
        ens_msg_free(m);
        mark_in_hand(total);
        hand_slot_put_away();
        return;
    }
    if (!ens__msg_retried(&m->hdr)) {
        /* A notice the runtime already acted on (an exit request, a
         * child's exit...) runs its handler once, a crash in it included
         * (actor.h): journaled, dealt with, and an exit request still ends
         * the actor. */
        const bool is_exit = m->hdr.type_id == ens_msg_exit_request.id;
        char why[160];
        snprintf(why, sizeof(why), "crashed in its handler of %s: not retried%s",
                 m->info != NULL ? m->info->type->name : "a system message",
                 is_exit ? " (the actor ends all the same)" : "");
        ens_event ev = {.kind = ENS_EV_ERROR,
                        .signal = sig,
                        .attempt = attempt,
                        .msg_type = m->info != NULL ? m->info->type->name : "",
                        .sender = m->hdr.sender,
                        .reason = why};
        ens__event_actor(&ev, actor_proc.actor);
        ens__event(actor_proc.sys, &ev);
        ens_msg_free(m);
        mark_in_hand(total);
        hand_slot_put_away();
        if (is_exit)
            ens__actor_stop(actor_proc.actor, ENS_EXIT_SHUTDOWN, 0);
        return;
    }
    if (attempt >= 2) {
        m->hdr.attempt = (uint16_t)attempt;
        ens__actor_poison(actor_proc.actor, m, 0, sig);
        ens_msg_free(m);
        /* The poison leaves through the stage and the admin (pa_route)
         * before the frame counts as dealt with. */
        settle_sends();
        mark_in_hand(total);
        hand_slot_put_away();
        return;
    }
    m->hdr.attempt = (uint16_t)(attempt + 1);
    ens_event ev = {.kind = ENS_EV_RETRY,
                    .signal = sig,
                    .attempt = m->hdr.attempt,
                    .msg_type = m->info != NULL ? m->info->type->name : "",
                    .sender = m->hdr.sender,
                    .reason = "delivering the message in hand at the crash once more"};
    ens__event_actor(&ev, actor_proc.actor);
    ens__event(actor_proc.sys, &ev);
    if (st->hand_held) {
        deliver_held(m);
        return;
    }
    deliver(m, total);
    hand_slot_put_away();
}

static bool prepared;

bool ens__actor_process_prepare(void)
{
    if (prepared)
        return true;
    memset(&actor_proc, 0, sizeof(actor_proc));
    /* Large messages are encoded into and sent from buffers of their size:
     * keep freed ones for reuse rather than giving them back to the kernel
     * each time (a page first written costs 15-26 us on the VMs we measure
     * on: PLATFORM-NOTES.md) - up to 32 MiB, glibc's ceiling for these. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    if (uv_loop_init(&actor_proc.loop) != 0)
        return false;
    /* The receiving ends' own epoll set, edge-triggered (see rxconn). */
    actor_proc.rx_ep = epoll_create1(EPOLL_CLOEXEC);
    if (actor_proc.rx_ep < 0)
        return false;
    uv_poll_init(&actor_proc.loop, &actor_proc.rx_poll, actor_proc.rx_ep);
    uv_poll_start(&actor_proc.rx_poll, UV_READABLE, on_rx_events);
    uv_idle_init(&actor_proc.loop, &actor_proc.rx_again);
    uv_timer_init(&actor_proc.loop, &actor_proc.stall);
    uv_prepare_init(&actor_proc.loop, &actor_proc.flush);
    uv_prepare_start(&actor_proc.flush, on_prepare);
    uv_timer_init(&actor_proc.loop, &actor_proc.watch_retry);
    prepared = true;
    return true;
}

/* Test only (ENS__TEST_KILL_AT_STEP=n): the first incarnation of every
 * actor SIGKILLs itself at stage step n (enum ens_stage_step). */
static int kill_step;

static void kill_at_step(enum ens_stage_step step)
{
    if ((int)step == kill_step)
        raise(SIGKILL);
}

_Noreturn void ens__actor_process_main(const ens_actor_boot *b)
{
    ens_system *s = b->sys;
    char addr[ENS_ADDR_STRLEN];
    ens_addr_format(b->addr, addr, sizeof(addr));
    ens__proctitle("ens: %s %s", b->def->name, addr);
    if (!ens__actor_process_prepare())
        _exit(ENS_PROC_EXIT_NO_LOOP);
    actor_proc.sys = s;
    actor_proc.ctl = b->ctl;
    actor_proc.st = b->stage;
    s->host = &actor_host;
    s->outside_ops = NULL;
    s->base = &actor_proc;
    s->opts.on_event = send_event;
    s->log_sink = send_log;
    s->opts.event_arg = NULL;
    ens__fd_nonblock(actor_proc.ctl);
    actor_proc.tx.ctl = actor_proc.ctl;
    actor_proc.tx.self = b->addr;
    actor_proc.tx.sys = s;
    s->alloc_failures = 0; /* the admin's count is not this actor's */
    s->alloc_failures_mirror = &actor_proc.st->alloc_failures;
    actor_proc.tx.limit = s->opts.mailbox_limit;
    actor_proc.tx.bytes_limit = s->opts.mailbox_bytes_limit;
    actor_proc.tx.want_write = want_write;
    uint8_t *arg = NULL;
    if (b->arg_frame != NULL) {
        /* Never start without the argument it was spawned with: a crash,
         * reported and restarted, is better than a wrong init. */
        if ((arg = ens__malloc(b->arg_len)) == NULL)
            _exit(ENS_PROC_EXIT_NO_MEMORY);
        memcpy(arg, b->arg_frame, b->arg_len);
    }
    actor_proc.actor = ens__actor_new(s, b->def, b->addr, b->parent, arg, b->arg_len);
    if (actor_proc.actor == NULL)
        _exit(ENS_PROC_EXIT_NO_ACTOR);
    actor_proc.actor->incarnation = b->incarnation;
    actor_proc.actor->spawn_flags = b->spawn_flags;
    uv_poll_init(&actor_proc.loop, &actor_proc.ctl_poll, actor_proc.ctl);
    uv_poll_start(&actor_proc.ctl_poll, UV_READABLE, on_ctl);

    const char *ks = getenv("ENS__TEST_KILL_AT_STEP");
    if (ks != NULL && b->incarnation == 1 && (kill_step = atoi(ks)) > 0)
        ens__stage_step_hook = kill_at_step;
    ens_stage *st = actor_proc.st;
    const bool in_hand = ens__stage_in_hand(st);
    uint32_t crash_attempt = st->attempt;
    if (st->hand_slot != 0 && !in_hand) {
        /* The crash came after a frame in pieces was handled and before its
         * slot was put away. */
        hand_slot_put_away();
    }
    int sig = st->last_signal;
    st->state = ENS_STAGE_INIT;
    actor_proc.starting = true;
    int rc = ens__actor_start(actor_proc.actor); /* on failure it exits via actor_gone */
    actor_proc.starting = false;
    /* Until recover() has dealt with the frame in hand, the stage keeps
     * saying it is in hand: a crash in between must find that frame again,
     * with the same attempt, not take it up as a new message. */
    st->attempt = crash_attempt;
    st->state = in_hand ? ENS_STAGE_HANDLING : ENS_STAGE_IDLE;
    /* Started, or deferred (reason -2): the ack reports it (pa_init_done). */
    ens__ctl_exit_v started = {rc == ENS__INIT_DEFERRED ? -2 : -1, 0};
    ens__ctl_send(actor_proc.ctl, b->addr, &ens__ctl_started, &started, 0, NULL, 0);
    for (size_t i = 0; i < b->n_rx; i++) {
        if (st->pend_bytes != 0 && b->rx_ids[i] == st->pend_conn)
            ens__stage_settle(st, b->rx[i]);
        if (rx_add(b->rx[i], b->rx_ids[i], ENS_ADDR_NONE) < 0)
            _exit(ENS_PROC_EXIT_NO_WATCH); /* a crash: restarted */
    }
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        actor_proc.slot_ms[i] = uv_now(&actor_proc.loop);
        if (st->slot[i].conn != 0 && rx_find(st->slot[i].conn) == NULL)
            slot_drop((int)i, "the connection of a frame in pieces was gone after a crash");
    }
    ens__stage_settle(st, -1); /* its connection is gone: nothing to settle */
    recover(in_hand, crash_attempt, sig);
    process_stage();
    uv_run(&actor_proc.loop, UV_RUN_DEFAULT);
    _exit(0);
}

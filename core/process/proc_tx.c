/*
 * core/process/proc_tx.c - outgoing connections with per-destination coalescing
 * buffers (see core/process/proc_tx.h).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/process/proc_tx.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"
#include "ensemble/system.h"

/* A destination holding this much is sent at once, not at the turn's end. */
#define ENS_TX_EAGER_BYTES 65536u

static ens_tx *find(ens_tx_table *t, ens_addr peer)
{
    for (size_t i = 0; i < t->n; i++) {
        if (ens_addr_equal(t->tx[i]->peer, peer))
            return t->tx[i];
    }
    return NULL;
}

bool ens__tx_holds(ens_tx_table *t, ens_addr peer)
{
    const ens_tx *tx = find(t, peer);
    return tx != NULL && ens__tx_has_bytes(tx);
}

bool ens__tx_open(ens_tx_table *t, ens_addr peer)
{
    const ens_tx *tx = find(t, peer);
    return tx != NULL && tx->state == ENS_TX_OPEN;
}

static ens_tx *add(ens_tx_table *t, ens_addr peer)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        ens_tx **n = ens__realloc(t->tx, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        t->tx = n;
        t->cap = cap;
    }
    ens_tx *tx = ens__calloc(1, sizeof(*tx));
    if (tx == NULL)
        return NULL;
    tx->peer = peer;
    tx->fd = -1;
    t->tx[t->n++] = tx;
    return tx;
}

/* Give one frame (borrowed) to the admin as a dead letter. A frame too large
 * for a control message goes with its header only (its body is left out,
 * and the reason says so): the letter is still reported, never dropped. */
static int send_dead(ens_tx_table *t, const uint8_t *frame, size_t len, const char *reason)
{
    ens__ctl_frame_v v = {(char *)reason, {(void *)frame, (uint32_t)len}};
    uint8_t head[ENS_FRAME_HEADER_LEN];
    char why[160];
    if (len > ENS_CTL_MAX - 1024) {
        ens_frame_hdr h;
        if (ens__frame_hdr_read(frame, len, UINT32_MAX, &h) < 0)
            return ENS_EBADFRAME;
        h.payload_len = 0;
        ens__frame_hdr_write(&h, head);
        snprintf(why, sizeof(why), "%s (a %zu-byte message: its body is left out)", reason, len);
        v = (ens__ctl_frame_v){why, {head, sizeof(head)}};
    }
    return ens__ctl_send(t->ctl, t->self, &ens__ctl_deadletter, &v, 0, NULL, 0);
}

int ens__tx_dead_letter(ens_tx_table *t, const uint8_t *frame, size_t len, const char *reason)
{
    return send_dead(t, frame, len, reason);
}

typedef struct letters {
    ens_tx_table *t;
    const char *reason;
} letters;

/* A frame of tx's buffer (ens__frame_walk): its own frames, which pass;
 * one that would not is not a message anyone sent, and goes nowhere. */
static void letter_found(void *arg, ens_framed *f)
{
    const letters *l = arg;
    if (f->err != 0)
        return;
    int rc = send_dead(l->t, f->frame, f->len, l->reason);
    if (rc == ENS_ENOMEM)
        ens__alloc_failed(l->t->sys, "a dead letter could not be handed to the admin");
    else if (rc < 0 && l->t->sys != NULL)
        ens__log(l->t->sys, NULL, ENS_LOG_ERROR,
                 "a dead letter could not be handed to the admin (%s): %s", ens_strerror(rc),
                 l->reason);
}

/* Hand every frame from offset `from` of tx's buffer (the start of a
 * message: see count_sent) to the admin as a dead letter, and empty the
 * buffer. */
static void dead_letters(ens_tx_table *t, ens_tx *tx, size_t from, const char *reason)
{
    ens_frag_asm pieces = {NULL, 0, 0, 0};
    letters l = {t, reason};
    ens__frame_walk(tx->buf + from, tx->len - from, UINT32_MAX, &pieces, letter_found, &l);
    ens__frag_reset(&pieces);
    tx->len = tx->off = tx->mark = 0;
    tx->frames = 0;
}

bool ens__tx_has_bytes(const ens_tx *tx)
{
    return tx->off < tx->len || tx->big.frame != NULL;
}

static void big_free(ens_tx *tx)
{
    free(tx->big.frame);
    free(tx->big.heads);
    tx->big = (ens_tx_big){0};
}

/* The send buffer a connection gets once it carries a large frame: the
 * kernel doubles it (1 MiB), and a quarter of that is what a piece may
 * be (frag.h), so a 1 MiB message travels in 5 pieces rather than 32. Only
 * connections that carry large frames get it: what a slow receiver leaves
 * in the kernel is never counted against the mailbox bounds (they count
 * the bytes waiting in this process), and a flood of small messages keeps
 * the default buffer. */
#define ENS_TX_LARGE_SNDBUF (512 * 1024)

/* The bytes per piece for frames about to be cut for tx: while it has no
 * connection ENS_FRAG_CHUNK; once it has one, its send buffer is raised
 * (once) and the piece sized from what the kernel granted (capped by
 * net.core.wmem_max: the size is read back, never assumed). */
static size_t tx_chunk(ens_tx *tx)
{
    if (tx->fd < 0)
        return ENS_FRAG_CHUNK;
    if (tx->chunk == 0) {
        int want = ENS_TX_LARGE_SNDBUF, got = 0;
        socklen_t gl = sizeof(got);
        (void)setsockopt(tx->fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
        tx->chunk = getsockopt(tx->fd, SOL_SOCKET, SO_SNDBUF, &got, &gl) == 0
                        ? ens__frag_chunk_for(got)
                        : ENS_FRAG_CHUNK;
    }
    return tx->chunk;
}

/* Take frame (len bytes, above a piece, owned) as tx's large frame on its
 * way: its pieces' heads get the next sequence numbers. ENS_ENOMEM leaves
 * tx unchanged and the frame with the caller. */
static int big_take(ens_tx *tx, uint8_t *frame, size_t len)
{
    ens_frame_hdr orig;
    if (ens__frame_hdr_read(frame, len, UINT32_MAX, &orig) < 0)
        return ENS_EINVAL;
    const size_t chunk = tx_chunk(tx);
    size_t pieces = ens__frag_pieces_of(len, chunk);
    uint8_t *heads = ens__malloc(pieces * (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD));
    if (heads == NULL)
        return ENS_ENOMEM;
    for (size_t k = 0; k < pieces; k++)
        ens__frag_head(heads + k * (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD), &orig, len, chunk, k,
                       ++tx->seq);
    tx->big = (ens_tx_big){
        frame, len, heads, pieces, chunk, 0, len + pieces * (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD)};
    return 0;
}

/* Send what is left of tx's large frame. Returns 1 when it all left, 0 when
 * the socket is full, -1 when the receiver is gone. */
static int big_flush(ens_tx *tx)
{
    enum { HEAD = ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD };
    ens_tx_big *b = &tx->big;
    const size_t chunk = b->chunk, PIECE = HEAD + chunk;
    while (b->sent < b->wire) {
        struct iovec iov[64];
        int n = 0;
        for (size_t pos = b->sent; pos < b->wire && n < 63;) {
            size_t k = pos / PIECE, at = pos % PIECE;
            size_t bytes = b->len - k * chunk;
            if (bytes > chunk)
                bytes = chunk;
            if (at < HEAD) {
                iov[n++] = (struct iovec){b->heads + k * HEAD + at, HEAD - at};
                at = HEAD;
            }
            iov[n++] = (struct iovec){b->frame + k * chunk + (at - HEAD), bytes - (at - HEAD)};
            pos = k * PIECE + HEAD + bytes;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(tx->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            b->sent += (size_t)w;
            tx->blocked = false;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    big_free(tx);
    tx->frames--;
    return 1;
}

/* The messages that ended before tx->off are sent: count them, and move the
 * mark to the start of the message that holds off. A message in pieces
 * counts as sent with its last piece, and the mark stays at its first one
 * until then, so that a message partly sent when its receiver goes is still
 * whole in the buffer for the dead letters. */
static void count_sent(ens_tx *tx)
{
    size_t at = tx->mark;
    while (at < tx->off) {
        const uint8_t *f = tx->buf + at;
        uint64_t total = ens__frame_total_len(f);
        if (at + total > tx->off)
            break;
        at += total;
        if (!ens__frag_is(f) || ens__frag_is_last(f, total)) {
            tx->frames--;
            tx->mark = at;
        }
    }
}

static int ask_connect(ens_tx_table *t, ens_tx *tx);

/* tx's connection hung up and its peer is an address of another node: the
 * connection went to this system's gateway, which ended (the admin starts
 * another), not to the receiver. Ask the admin for a connection again and
 * send again from the message that was partly sent: the old gateway never
 * published a message it did not get whole, so none goes twice; the whole
 * ones it took were in flight and may be lost (at most once between
 * systems). False when this is no such connection or the admin cannot be
 * asked: the receiver then counts as gone. */
static bool tx_reroute(ens_tx_table *t, ens_tx *tx)
{
    if (tx->peer.node == 0 || tx->peer.node == t->self.node)
        return false;
    close(tx->fd);
    tx->fd = -1;
    if (t->want_write != NULL)
        t->want_write(t, tx, false);
    if (tx->big.frame != NULL)
        tx->big.sent = 0;
    memmove(tx->buf, tx->buf + tx->mark, tx->len - tx->mark);
    tx->len -= tx->mark;
    tx->off = tx->mark = 0;
    tx->blocked = false;
    tx->state = ENS_TX_CONNECTING;
    if (ask_connect(t, tx) == 0)
        return true;
    tx->state = ENS_TX_DEAD;
    return false;
}

/* The receiver is gone for good: what it did not get is dead. */
static void tx_died(ens_tx_table *t, ens_tx *tx)
{
    if (tx_reroute(t, tx))
        return;
    size_t start = tx->mark;
    close(tx->fd);
    tx->fd = -1;
    tx->state = ENS_TX_DEAD;
    if (t->want_write != NULL)
        t->want_write(t, tx, false);
    if (tx->big.frame != NULL) {
        /* Pieces that left are dropped by the receiver (its sender hung up
         * mid-frame): the frame goes whole. */
        send_dead(t, tx->big.frame, tx->big.len, "the actor ended");
        big_free(tx);
    }
    dead_letters(t, tx, start, "the actor ended");
}

void ens__tx_flush(ens_tx_table *t, ens_tx *tx)
{
    if (tx->state != ENS_TX_OPEN)
        return;
    if (tx->big.frame != NULL) {
        int r = big_flush(tx);
        if (r < 0) {
            tx_died(t, tx);
            return;
        }
        if (r == 0) {
            tx->blocked = true;
            if (t->want_write != NULL)
                t->want_write(t, tx, true);
            return;
        }
    }
    while (tx->off < tx->len) {
        ssize_t n = send(tx->fd, tx->buf + tx->off, tx->len - tx->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            tx->blocked = false;
            tx->off += (size_t)n;
            if (tx->off < tx->len)
                count_sent(tx);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            tx->blocked = true;
            /* Give back what was sent once it is at least what waits, so
             * that each byte is moved at most once on average (moving the
             * whole backlog at every full socket made a large backlog cost
             * its size per 200 KiB sent). */
            if (tx->mark > 0 && tx->mark >= tx->len - tx->mark) {
                memmove(tx->buf, tx->buf + tx->mark, tx->len - tx->mark);
                tx->len -= tx->mark;
                tx->off -= tx->mark;
                tx->mark = 0;
            }
            if (t->want_write != NULL)
                t->want_write(t, tx, true);
            return;
        }
        tx_died(t, tx);
        return;
    }
    tx->len = tx->off = tx->mark = 0;
    tx->frames = 0;
    if (t->want_write != NULL)
        t->want_write(t, tx, false);
}

/* True if a frame of len bytes would take what tx holds waiting past the
 * byte bound. Counted as the buffer will hold it: a frame over
 * ENS_FRAG_CHUNK goes as pieces of tx_chunk, each with its own header. A
 * destination holding nothing takes any one frame (the frame limit bounds
 * it). */
static bool over_bytes(const ens_tx_table *t, ens_tx *tx, size_t len)
{
    uint64_t waiting = tx->len - tx->off + (tx->big.wire - tx->big.sent);
    if (waiting == 0)
        return false;
    uint64_t limit = t->bytes_limit != 0 ? t->bytes_limit : ENS_MAILBOX_BYTES_DEFAULT;
    uint64_t wire = len;
    if (len > ENS_FRAG_CHUNK)
        wire += ens__frag_pieces_of(len, tx_chunk(tx)) * (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD);
    return waiting + wire > limit;
}

/* Ask the admin for a connection to tx's peer (answered by
 * ens__tx_connected). */
static int ask_connect(ens_tx_table *t, ens_tx *tx)
{
    ens__ctl_conn_v v = {tx->peer, 0};
    return ens__ctl_send(t->ctl, t->self, &ens__ctl_connect, &v, 0, NULL, 0);
}

void ens__tx_ask_again(ens_tx_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        ens_tx *tx = t->tx[i];
        if (tx->state != ENS_TX_CONNECTING || ask_connect(t, tx) == 0)
            continue;
        /* No answer can come: what waits for it is dead (and counted). */
        if (t->sys != NULL)
            ens__alloc_failed(t->sys, "a connection was not asked for again");
        tx->state = ENS_TX_DEAD;
        if (tx->big.frame != NULL) {
            send_dead(t, tx->big.frame, tx->big.len, "no connection: out of memory");
            big_free(tx);
        }
        dead_letters(t, tx, 0, "no connection: out of memory");
    }
}

int ens__tx_send(ens_tx_table *t, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded)
{
    t->maybe_bytes = true;
    ens_tx *tx = find(t, h->target);
    if (tx == NULL) {
        tx = add(t, h->target);
        if (tx == NULL) {
            free(frame);
            return ENS_ENOMEM;
        }
        tx->state = ENS_TX_CONNECTING;
        int rc = ask_connect(t, tx);
        if (rc < 0) {
            /* Not left waiting for an answer that cannot come: the next
             * send to this address asks again. */
            t->n--;
            free(tx);
            free(frame);
            return rc == ENS_ENOMEM ? ENS_ENOMEM : ENS_EIO;
        }
    }
    if (tx->state == ENS_TX_DEAD) {
        int rc = send_dead(t, frame, len, "no live actor at that address");
        free(frame);
        return rc < 0 ? ENS_EIO : 0;
    }
    if (bounded && !(h->flags & ENS_FRAME_SYSTEM) &&
        (tx->frames >= t->limit || over_bytes(t, tx, len))) {
        free(frame);
        return ENS_EFULL;
    }
    /* A large frame with nothing before it goes from where it was encoded
     * (the common case: a handler's sends leave before its next message). */
    if (len > ENS_FRAG_CHUNK && !ens__tx_has_bytes(tx) && big_take(tx, frame, len) == 0) {
        tx->frames++;
        if (!tx->blocked)
            ens__tx_flush(t, tx);
        return 0;
    }
    int rc = ens__frag_append_sized(&tx->buf, &tx->len, &tx->cap, frame, len,
                                    len > ENS_FRAG_CHUNK ? tx_chunk(tx) : ENS_FRAG_CHUNK, &tx->seq);
    free(frame);
    if (rc < 0)
        return rc;
    tx->frames++;
    /* A long burst: do not wait for the turn's end (unless the socket is
     * full: then its writable event or the turn's end flushes). */
    if (!tx->blocked && tx->len - tx->off >= ENS_TX_EAGER_BYTES)
        ens__tx_flush(t, tx);
    return 0;
}

/* tx will never be connected: what waits for it, and what is sent to it
 * later, are dead letters saying why. */
static void tx_refused(ens_tx_table *t, ens_tx *tx, const char *why)
{
    tx->state = ENS_TX_DEAD;
    if (tx->big.frame != NULL) {
        send_dead(t, tx->big.frame, tx->big.len, why);
        big_free(tx);
    }
    dead_letters(t, tx, 0, why);
}

#define NO_DESCRIPTOR                                                                              \
    "no connection: the sender is at its limit of open descriptors (RLIMIT_NOFILE)"

void ens__tx_fds_dropped(ens_tx_table *t, const ens_msg *m)
{
    if (m->hdr.type_id == ens__ctl_connected.id) {
        const ens__ctl_status_v *v = m->value;
        ens_tx *tx = find(t, v->addr);
        char to[ENS_ADDR_STRLEN];
        ens_addr_format(v->addr, to, sizeof(to));
        if (t->sys != NULL)
            ens__log(t->sys, NULL, ENS_LOG_ERROR,
                     "the connection to %s was not taken: this process is at its limit of open "
                     "descriptors (RLIMIT_NOFILE); what is sent to it is a dead letter",
                     to);
        if (tx != NULL && tx->state == ENS_TX_CONNECTING)
            tx_refused(t, tx, NO_DESCRIPTOR);
        return;
    }
    if (t->sys != NULL)
        ens__log(t->sys, NULL, ENS_LOG_ERROR,
                 "a control message (%s) came without its descriptors: this process is at its "
                 "limit of open descriptors (RLIMIT_NOFILE)%s",
                 m->info != NULL ? m->info->type->name : "?",
                 m->hdr.type_id == ens__ctl_newconn.id
                     ? "; a new connection to it is lost (what its sender sent on it becomes "
                       "dead letters)"
                     : "");
}

void ens__tx_connected(ens_tx_table *t, ens_addr peer, int status, int fd)
{
    ens_tx *tx = find(t, peer);
    if (tx == NULL && status == 1 && fd >= 0) {
        /* Offered unasked (ENS_SPAWN_CONNECT): kept for the first send. */
        if ((tx = add(t, peer)) == NULL) {
            close(fd);
            return;
        }
        tx->state = ENS_TX_CONNECTING;
    }
    if (tx == NULL || tx->state != ENS_TX_CONNECTING) {
        if (fd >= 0)
            close(fd);
        return;
    }
    if (status < 0 || fd < 0) {
        tx_refused(t, tx, "no live actor at that address");
        return;
    }
    ens__fd_nonblock(fd);
    tx->fd = fd;
    tx->chunk = 0;
    if (tx->big.frame != NULL) /* cut for an earlier connection: room for its pieces */
        (void)tx_chunk(tx);
    tx->state = ENS_TX_OPEN;
    ens__tx_flush(t, tx);
}

void ens__tx_flush_all(ens_tx_table *t)
{
    if (!t->maybe_bytes)
        return;
    bool left = false;
    for (size_t i = 0; i < t->n; i++) {
        if (ens__tx_has_bytes(t->tx[i]))
            ens__tx_flush(t, t->tx[i]);
        left = left || ens__tx_has_bytes(t->tx[i]);
    }
    t->maybe_bytes = left;
}

#define ENS_TX_IDLE_FREE  256u  /* empty sweeps before the buffer goes */
#define ENS_TX_IDLE_PROBE 1024u /* empty sweeps between hang-up probes */

static bool peer_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static void forget(ens_tx_table *t, ens_tx *tx)
{
    if (tx->fd >= 0)
        close(tx->fd);
    tx->fd = -1;
    if (t->want_write != NULL)
        t->want_write(t, tx, false); /* with fd -1: lets its watcher go */
    free(tx->buf);
    big_free(tx);
    free(tx);
}

void ens__tx_let_go(ens_tx_table *t, ens_addr peer)
{
    ens_tx *tx = find(t, peer);
    if (tx != NULL)
        tx->let_go = true;
}

/* Bytes sent on fd that its receiver has not read yet, or -1. */
static int unread_bytes(int fd)
{
    int n = 0;
    return ioctl(fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

void ens__tx_sweep(ens_tx_table *t)
{
    size_t keep = 0;
    for (size_t i = 0; i < t->n; i++) {
        ens_tx *tx = t->tx[i];
        bool empty = !ens__tx_has_bytes(tx);
        const bool let_go = tx->let_go;
        tx->let_go = false; /* one look: a peer started again is talked to again */
        if (let_go && empty && tx->state == ENS_TX_OPEN && unread_bytes(tx->fd) == 0) {
            forget(t, tx);
            continue;
        }
        if (!empty || tx->state == ENS_TX_CONNECTING) {
            tx->idle = 0;
        } else if (tx->state == ENS_TX_DEAD ||
                   (++tx->idle % ENS_TX_IDLE_PROBE == 0 && peer_hung_up(tx->fd))) {
            forget(t, tx);
            continue;
        } else if (tx->idle >= ENS_TX_IDLE_FREE && tx->buf != NULL) {
            free(tx->buf);
            tx->buf = NULL;
            tx->len = tx->off = tx->mark = tx->cap = 0;
        }
        t->tx[keep++] = tx;
    }
    t->n = keep;
}

bool ens__tx_pending(const ens_tx_table *t)
{
    if (!t->maybe_bytes)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        if (ens__tx_has_bytes(t->tx[i]))
            return true;
    }
    return false;
}

void ens__tx_free(ens_tx_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->tx[i]->fd >= 0)
            close(t->tx[i]->fd);
        free(t->tx[i]->buf);
        big_free(t->tx[i]);
        free(t->tx[i]);
    }
    free(t->tx);
    t->tx = NULL;
    t->n = t->cap = 0;
}

void ens__tx_drain(ens_tx_table *t, uint32_t timeout_ms, void (*pump_ctl)(ens_tx_table *t))
{
    uint64_t deadline = ens__mono_ns() + (uint64_t)timeout_ms * 1000000u;
    ens__tx_flush_all(t);
    while (ens__tx_pending(t) && ens__mono_ns() < deadline) {
        struct pollfd p[65];
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = t->ctl, .events = POLLIN};
        for (size_t i = 0; i < t->n && n < 64; i++) {
            if (t->tx[i]->state == ENS_TX_OPEN && ens__tx_has_bytes(t->tx[i]))
                p[n++] = (struct pollfd){.fd = t->tx[i]->fd, .events = POLLOUT};
        }
        poll(p, n, 10);
        if (pump_ctl != NULL)
            pump_ctl(t); /* answers to connection requests */
        ens__tx_flush_all(t);
    }
}

bool ens__tx_connecting(const ens_tx_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->tx[i]->state == ENS_TX_CONNECTING && t->tx[i]->len > t->tx[i]->off)
            return true;
    }
    return false;
}

/*
 * core/process/gateway/gateway.c - the gateway process (gateway.h): one
 * poll loop over its control channel to the admin, the connections local
 * senders write remote frames on, its outgoing connections to local
 * receivers, and an eventfd the NATS subscription's thread wakes it by
 * (gateway_nats.c). Every frame crossing in either direction is checked
 * here; a frame refused from NATS is a BADFRAME row about the gateway, a
 * frame that cannot leave is a dead letter (the admin's rules: a request
 * gets an error reply).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/gateway/gateway.h"
#include "core/process/gateway/gateway_batch.h"
#include "core/process/gateway/gateway_inbound.h"
#include "core/process/gateway/gateway_journal.h"
#include "core/process/gateway/gateway_members.h"
#include "core/process/gateway/gateway_names.h"
#include "core/process/gateway/gateway_nats.h"
#include "core/process/gateway/gateway_spawn.h"
#include "core/process/gateway/gateway_status.h"
#include "core/process/proc.h"
#include "core/process/proc_tx.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

#define RX_READ        65536
#define NODE_WAIT_MAX  5000u /* ms a first frame for a node waits for its answer */
#define CLOSE_FLUSH_MS 2000u

/* A connection a local sender (or the admin) writes remote frames on. */
typedef struct grx {
    int fd;
    ens_addr peer;
    ens_carry carry; /* the start of a frame not yet whole */
    ens_frag_asm pieces;
} grx;

/* A member the membership follower reported left or unreachable: frames
 * for it are dead letters ("node gone") until it is seen joined again. */
typedef struct gone_node {
    uint32_t node;
    int32_t change; /* ENS_MEMBER_LEFT or ENS_MEMBER_UNREACHABLE */
} gone_node;

/* Departed members remembered; past this the oldest is forgotten, and a
 * frame for it falls back to the ping rule (no responders: a dead letter). */
#define GONE_MAX 4096u

/* Children of other nodes whose parents here were told they exited
 * NOCONNECTION (ENS_GWSPAWN_LOST), remembered so that their own notice,
 * should it come after all, is dropped: a parent hears of a child's end
 * once. Past this the oldest is forgotten. */
#define LOST_MAX 4096u

static struct {
    ens_system *s;
    ens_addr self;
    int ctl;
    int wake;
    ens_gw_nats *nats;
    ens_gw_names *names;     /* names across hosts (gateway_names.c) */
    ens_gw_members *members; /* this member's record and the watch (NULL: none) */
    ens_gw_spawn *spawn;     /* remote spawn (gateway_spawn.c; NULL: none) */
    ens_gw_journal *journal; /* journal queries answered (gateway_journal.c; NULL: none) */
    ens_gw_status *status;   /* status requests answered (gateway_status.c; NULL: none) */
    grx **rx;
    size_t n_rx, cap_rx;
    ens_tx_table tx;
    uint8_t *scratch;
    uint64_t dropped_told; /* inbound drops already logged */
    ens_gw_in *held;       /* messages from NATS not yet all delivered, oldest first */
    size_t held_off;       /* in a held batch: the next entry (0: not checked yet) */
    int64_t held_since;    /* ms: the last time a held message moved on */
    ens_gw_batch *out;     /* frames gathered this turn, one batch per node */
    size_t n_out, cap_out;
    gone_node *gone; /* members that left or went silent, newest last */
    size_t n_gone, cap_gone;
    ens_addr *lost; /* remote children reported NOCONNECTION, oldest first */
    size_t n_lost, cap_lost;
    ens_gw_refusals refusals; /* what came from NATS and was refused */
} gw;

static uint32_t node_wait_ms(void)
{
    uint32_t t = gw.s->opts.call_timeout_ms;
    return t > 0 && t < NODE_WAIT_MAX ? t : NODE_WAIT_MAX;
}

/* A BADFRAME row about the gateway (it reports about itself only). */
static void refused(const uint8_t *frame, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refused(const uint8_t *frame, size_t len, int err, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    ens_event ev = {.kind = ENS_EV_BADFRAME,
                    .actor = gw.self,
                    .sender = len >= ENS_FRAME_HEADER_LEN && ens__frame_is_head(frame)
                                  ? ens__frame_sender(frame)
                                  : ENS_ADDR_NONE,
                    .error = err,
                    .msg_size = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len),
                    .actor_type = "ens.Gateway",
                    .reason = why};
    ev.at_ms = ens__now_ms();
    if (ens__ctl_send_event(gw.ctl, &ev) < 0)
        ens__log(gw.s, NULL, ENS_LOG_WARN, "gateway: %s", why);
}

static void dead_letter(const uint8_t *frame, size_t len, const char *reason)
{
    int rc = ens__tx_dead_letter(&gw.tx, frame, len, reason);
    if (rc < 0)
        ens__log(gw.s, NULL, ENS_LOG_ERROR, "gateway: a dead letter was lost (%s): %s",
                 ens_strerror(rc), reason);
}

/* ---- from NATS to a local receiver ---------------------------------- */

static void lost_add(ens_addr child)
{
    if (gw.n_lost == LOST_MAX) {
        memmove(gw.lost, gw.lost + 1, (LOST_MAX - 1) * sizeof(*gw.lost));
        gw.n_lost--;
    }
    if (gw.n_lost == gw.cap_lost) {
        size_t cap = gw.cap_lost != 0 ? gw.cap_lost * 2 : 16;
        ens_addr *t = ens__realloc(gw.lost, cap * sizeof(*t));
        if (t == NULL) {
            ens__alloc_failed(gw.s, "a lost child's own notice may reach its parent too");
            return;
        }
        gw.lost = t;
        gw.cap_lost = cap;
    }
    gw.lost[gw.n_lost++] = child;
}

/* True (and forgotten) if child was reported NOCONNECTION to its parent. */
static bool lost_take(ens_addr child)
{
    for (size_t i = 0; i < gw.n_lost; i++)
        if (ens_addr_equal(gw.lost[i], child)) {
            memmove(gw.lost + i, gw.lost + i + 1, (gw.n_lost - i - 1) * sizeof(*gw.lost));
            gw.n_lost--;
            return true;
        }
    return false;
}

/* The held-back refusals of an ended window: one summary row and line. */
static void refusals_tell(bool all)
{
    uint64_t held = ens__gw_refusal_flush(&gw.refusals, ens__now_ms(), all);
    if (held == 0)
        return;
    char why[400];
    snprintf(why, sizeof(why),
             "%" PRIu64 " more messages from NATS refused within %d ms (rows held back), %" PRIu64
             " since the gateway started; the last: %s",
             held, ENS_GW_REFUSAL_WINDOW_MS, gw.refusals.total, gw.refusals.last);
    refused(NULL, 0, ENS_EBADFRAME, "%s", why);
    ens__log(gw.s, NULL, ENS_LOG_WARN, "gateway: %s", why);
}

/* Something from NATS refused: counted, and a BADFRAME row and a log line
 * within the limits of gateway_inbound.h. */
static void refused_nats(const uint8_t *data, size_t len, int err, const char *why)
{
    refusals_tell(false);
    int say = ens__gw_refusal_note(&gw.refusals, ens__now_ms(), why);
    if (say >= 1)
        refused(data, len, err, "%s", why);
    if (say == 2)
        ens__log(gw.s, NULL, ENS_LOG_WARN,
                 "gateway: %s (%" PRIu64 " refused since the gateway started; more within %d ms "
                 "are counted, not logged)",
                 why, gw.refusals.total, ENS_GW_REFUSAL_WINDOW_MS);
}

/* A frame from NATS published by node `from`: refused, or queued to its
 * local receiver (0), or ENS_EFULL: the receiver's queue is full, nothing
 * was taken. */
static int inbound(const uint8_t *data, size_t len, uint32_t from)
{
    ens_frame_hdr h;
    char why[256];
    ens_gw_origin o = {gw.self.node, from, gw.s->opts.max_frame_bytes};
    int err = ens__gw_frame_check(data, len, &o, &h, why, sizeof(why));
    if (err < 0) {
        refused_nats(data, len, err, why);
        return 0;
    }
    /* A child's end: its parent heard of it already when its node was
     * lost; else the admin stops watching the child (remote_kids.c). */
    const bool child_exited = (h.flags & ENS_FRAME_SYSTEM) && h.type_id == ens_msg_child_exited.id;
    if (child_exited && lost_take(h.sender))
        return 0;
    uint8_t *copy = ens__malloc(len);
    if (copy == NULL) {
        ens__alloc_failed(gw.s, "a message from another system was lost");
        return 0;
    }
    memcpy(copy, data, len);
    int rc = ens__tx_send(&gw.tx, copy, len, &h, true);
    if (rc == ENS_EFULL)
        return rc;
    if (child_exited) {
        ens__ctl_gwspawn_v ex = {.op = ENS_GWSPAWN_EXITED, .addr = h.sender, .parent = h.target};
        ens__ctl_send(gw.ctl, gw.self, &ens__ctl_gwspawn, &ex, 0, NULL, 0);
    }
    if (rc < 0)
        ens__log(gw.s, NULL, ENS_LOG_ERROR, "gateway: a message from another system was lost: %s",
                 ens_strerror(rc));
    return 0;
}

/* A frame whose receiver's queue stays full this long is a dead letter:
 * one receiver that stopped reading must not hold every other message from
 * NATS for ever. */
static int64_t held_max_ms(void)
{
    uint32_t t = gw.s->opts.call_timeout_ms;
    return t > 0 ? t : 30000u;
}

/* Deliver a frame, or keep it (false) while its receiver's queue is full. */
static bool deliver(const uint8_t *frame, size_t len, uint32_t from)
{
    if (inbound(frame, len, from) == 0) {
        gw.held_since = ens__now_ms();
        return true;
    }
    ens__tx_flush_all(&gw.tx); /* the receiver may have read meanwhile */
    if (inbound(frame, len, from) == 0) {
        gw.held_since = ens__now_ms();
        return true;
    }
    if (ens__now_ms() - gw.held_since < held_max_ms())
        return false;
    dead_letter(frame, len, "the receiver's queue stayed full (a message from another system)");
    return true;
}

/* The held message at its place: a lone frame, or a batch checked whole
 * before any of its frames is taken (gateway_batch.h) then delivered from
 * gw.held_off. False while a receiver's queue is full. */
static bool deliver_message(const ens_gw_in *in)
{
    if (!ens__gw_batch_is(in->data, in->len))
        return deliver(in->data, in->len, in->from);
    if (gw.held_off == 0) {
        char why[160], text[200];
        if (ens__gw_batch_check(in->data, in->len, why, sizeof(why)) < 0) {
            snprintf(text, sizeof(text), "a batch from NATS refused: %s", why);
            refused_nats(in->data, in->len, ENS_EBADFRAME, text);
            return true;
        }
        gw.held_off = ENS_GW_BATCH_HEAD;
    }
    const uint8_t *frame = NULL;
    size_t len = 0, at = gw.held_off;
    while (ens__gw_batch_next(in->data, in->len, &at, &frame, &len)) {
        if (!deliver(frame, len, in->from))
            return false;
        gw.held_off = at;
    }
    return true;
}

/* Take what NATS delivered, behind what is held, and deliver in order until
 * a receiver's queue is full (the rest waits for the next turn: NATS keeps
 * queueing in the gateway, up to ENS_GW_INBOUND_MAX). */
static void take_inbound(void)
{
    ens_gw_in *fresh = ens__gw_nats_take(gw.nats);
    if (gw.held == NULL) {
        gw.held = fresh;
        gw.held_since = ens__now_ms();
    } else if (fresh != NULL) {
        ens_gw_in *last = gw.held;
        while (last->next != NULL)
            last = last->next;
        last->next = fresh;
    }
    /* Anything a member sent is life (its first frame's sender names its
     * node; a batch holds one sending system's frames). */
    for (ens_gw_in *in = fresh; in != NULL; in = in->next) {
        const uint8_t *first = in->data;
        size_t len = in->len;
        if (ens__gw_batch_is(in->data, in->len) &&
            in->len >= ENS_GW_BATCH_HEAD + ENS_GW_BATCH_ENTRY) {
            first = in->data + ENS_GW_BATCH_HEAD + ENS_GW_BATCH_ENTRY;
            len = in->len - ENS_GW_BATCH_HEAD - ENS_GW_BATCH_ENTRY;
        }
        if (len >= ENS_FRAME_HEADER_LEN && ens__frame_is_head(first))
            ens__gw_members_life(gw.members, ens__frame_sender(first).node);
    }
    while (gw.held != NULL) {
        if (!deliver_message(gw.held))
            break;
        ens_gw_in *next = gw.held->next;
        free(gw.held);
        gw.held = next;
        gw.held_off = 0;
    }
    refusals_tell(false);
    uint64_t dropped = ens__gw_nats_dropped(gw.nats);
    if (dropped > gw.dropped_told) {
        ens__log(gw.s, NULL, ENS_LOG_ERROR,
                 "gateway: %" PRIu64 " messages from NATS dropped: more than %zu bytes waited",
                 dropped - gw.dropped_told, ENS_GW_INBOUND_MAX);
        gw.dropped_told = dropped;
    }
}

/* ---- membership: routing, and the bucket's changes to the admin ----- */

static gone_node *gone_find(uint32_t node)
{
    for (size_t i = 0; i < gw.n_gone; i++)
        if (gw.gone[i].node == node)
            return &gw.gone[i];
    return NULL;
}

/* Routing follows membership: a member that left (its record deleted) or
 * went silent (unreachable) gets no more frames, one seen joined again
 * gets them again. A node never reported keeps the ping rule. */
static void route_change(uint32_t node, int32_t change)
{
    if (node == 0 || node == gw.self.node)
        return;
    gone_node *g = gone_find(node);
    if (change == ENS_MEMBER_JOINED) {
        if (g != NULL && g->change == ENS_MEMBER_UNREACHABLE)
            ens__gw_names_member_back(gw.names, node); /* a partition may have healed */
        if (g != NULL)
            *g = gw.gone[--gw.n_gone];
        return;
    }
    if (change != ENS_MEMBER_LEFT && change != ENS_MEMBER_UNREACHABLE)
        return;
    if (g != NULL) {
        g->change = change;
        return;
    }
    if (gw.n_gone == GONE_MAX) {
        memmove(gw.gone, gw.gone + 1, (GONE_MAX - 1) * sizeof(*gw.gone));
        gw.n_gone--;
    }
    if (gw.n_gone == gw.cap_gone) {
        size_t cap = gw.cap_gone != 0 ? gw.cap_gone * 2 : 16;
        gone_node *t = ens__realloc(gw.gone, cap * sizeof(*t));
        if (t == NULL) {
            ens__alloc_failed(gw.s, "a departed member is still routed to");
            return;
        }
        gw.gone = t;
        gw.cap_gone = cap;
    }
    gw.gone[gw.n_gone++] = (gone_node){node, change};
}

static void members_deliver(void)
{
    for (ens_gw_change *c = ens__gw_members_take(gw.members), *next; c != NULL; c = next) {
        next = c->next;
        route_change(c->v.node, c->v.change);
        if (c->v.change == ENS_MEMBER_UNREACHABLE)
            ens__gw_names_purge_node(gw.names, c->v.node); /* its names, at their revisions */
        if (ens__ctl_send(gw.ctl, gw.self, &ens_msg_convention_update, &c->v, 0, NULL, 0) < 0)
            ens__log(gw.s, NULL, ENS_LOG_ERROR,
                     "gateway: a change of member %u was not handed to the admin",
                     (unsigned)c->v.node);
        free(c);
    }
}

/* ---- from a local sender to NATS ------------------------------------ */

/* Frames for one node leave together at the end of the loop turn
 * (publish_gathered): one NATS message instead of one per frame, in the
 * order they were gathered, no bigger than the server's max_payload. */

typedef struct {
    uint32_t node;
    const char *why;
} failed_publish;

static void dead_letter_entry(void *arg, const uint8_t *frame, size_t len)
{
    const failed_publish *f = arg;
    char reason[200];
    snprintf(reason, sizeof(reason), "node %" PRIu32 ": %s", f->node, f->why);
    dead_letter(frame, len, reason);
}

static void publish_batch(ens_gw_batch *b)
{
    if (b->count == 0)
        return;
    const uint8_t *data = NULL;
    size_t len = 0;
    ens__gw_batch_out(b, &data, &len);
    failed_publish f = {b->node, NULL};
    if (ens__gw_nats_publish(gw.nats, b->node, data, len, &f.why) < 0)
        ens__gw_batch_each(b, dead_letter_entry, &f);
    ens__gw_batch_clear(b);
}

static void publish_gathered(void)
{
    for (size_t i = 0; i < gw.n_out; i++)
        publish_batch(&gw.out[i]);
}

static ens_gw_batch *batch_of(uint32_t node)
{
    for (size_t i = 0; i < gw.n_out; i++)
        if (gw.out[i].node == node)
            return &gw.out[i];
    if (gw.n_out == gw.cap_out) {
        size_t cap = gw.cap_out != 0 ? gw.cap_out * 2 : 4;
        ens_gw_batch *t = ens__realloc(gw.out, cap * sizeof(*t));
        if (t == NULL)
            return NULL;
        gw.out = t;
        gw.cap_out = cap;
    }
    ens_gw_batch *b = &gw.out[gw.n_out++];
    *b = (ens_gw_batch){.node = node};
    return b;
}

static void gather(uint32_t node, const uint8_t *frame, size_t len)
{
    ens_gw_batch *b = batch_of(node);
    if (b != NULL) {
        size_t max = ens__gw_nats_max_payload(gw.nats);
        if (b->count > 0 && ens__gw_batch_size_with(b, len) > max)
            publish_batch(b); /* full: it leaves now, this frame starts the next */
        if (ens__gw_batch_add(b, frame, len) == 0)
            return;
        publish_batch(b); /* no room to gather: what was gathered leaves first */
    }
    /* Alone, at once (keeps the order). */
    const char *why = NULL;
    if (ens__gw_nats_publish(gw.nats, node, frame, len, &why) < 0) {
        failed_publish f = {node, why};
        dead_letter_entry(&f, frame, len);
    }
}

static void outbound(const uint8_t *frame, size_t len)
{
    ens_frame_hdr h;
    int err = ens__frame_hdr_read(frame, len, gw.s->opts.max_frame_bytes, &h);
    if (err < 0) { /* the walk checked it: not reached */
        refused(frame, len, err, "a frame refused on a connection to the gateway");
        return;
    }
    if (ens_addr_equal(h.target, gw.self) && ens__gw_status_frame(gw.status, frame, len))
        return; /* the admin's status for a member that asked */
    if (h.target.node == gw.self.node || h.target.node == 0) {
        dead_letter(frame, len, "a message for this system reached its gateway");
        return;
    }
    const gone_node *g = gone_find(h.target.node);
    if (g != NULL) {
        char reason[160];
        snprintf(reason, sizeof(reason), "node %" PRIu32 ": node gone (%s)", h.target.node,
                 g->change == ENS_MEMBER_LEFT
                     ? "its system left the convention"
                     : "unreachable: no heartbeat from its system; until it is seen again");
        dead_letter(frame, len, reason);
        return;
    }
    const char *why = NULL;
    int known = ens__gw_nats_node_known(gw.nats, h.target.node, node_wait_ms(), &why);
    if (known != 1) {
        char reason[160];
        snprintf(reason, sizeof(reason), "node %" PRIu32 ": %s", h.target.node, why);
        dead_letter(frame, len, reason);
        return;
    }
    gather(h.target.node, frame, len);
}

static void frame_found(void *arg, ens_framed *f)
{
    (void)arg;
    if (f->err != 0) {
        refused(f->frame, f->len, f->err, "a frame refused on a connection to the gateway");
        return;
    }
    outbound(f->frame, f->len);
}

static void rx_drop(grx *r)
{
    close(r->fd);
    r->fd = -1;
    ens__carry_free(&r->carry);
    ens__frag_reset(&r->pieces);
}

static void read_rx(grx *r)
{
    for (;;) {
        ssize_t n = recv(r->fd, gw.scratch, RX_READ, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* the sender is gone */
            rx_drop(r);
            return;
        }
        const uint8_t *data = gw.scratch;
        size_t len = (size_t)n;
        if (!ens__carry_join(&r->carry, &data, &len)) {
            ens__alloc_failed(gw.s, "a connection to the gateway was closed with what it held");
            rx_drop(r);
            return;
        }
        ens_walk w =
            ens__frame_walk(data, len, gw.s->opts.max_frame_bytes, &r->pieces, frame_found, NULL);
        if (w.lost) {
            refused(data + w.used, len - w.used, ENS_EBADFRAME,
                    "bytes that are not a frame on a connection to the gateway: closed");
            rx_drop(r);
            return;
        }
        if (!ens__carry_rest(&r->carry, data, len, w.used, RX_READ)) {
            ens__alloc_failed(gw.s, "a connection to the gateway was closed with what it held");
            rx_drop(r);
            return;
        }
    }
}

static void rx_add(int fd, ens_addr peer)
{
    if (gw.n_rx == gw.cap_rx) {
        size_t cap = gw.cap_rx != 0 ? gw.cap_rx * 2 : 16;
        grx **t = ens__realloc(gw.rx, cap * sizeof(*t));
        if (t == NULL) {
            ens__alloc_failed(gw.s, "a connection to the gateway was not kept");
            close(fd);
            return;
        }
        gw.rx = t;
        gw.cap_rx = cap;
    }
    grx *r = ens__calloc(1, sizeof(*r));
    if (r == NULL) {
        ens__alloc_failed(gw.s, "a connection to the gateway was not kept");
        close(fd);
        return;
    }
    ens__fd_nonblock(fd);
    r->fd = fd;
    r->peer = peer;
    gw.rx[gw.n_rx++] = r;
}

/* Forget the connections whose sender hung up. */
static void rx_sweep(void)
{
    size_t k = 0;
    for (size_t i = 0; i < gw.n_rx; i++) {
        if (gw.rx[i]->fd >= 0)
            gw.rx[k++] = gw.rx[i];
        else
            free(gw.rx[i]);
    }
    gw.n_rx = k;
}

/* ---- the control channel -------------------------------------------- */

/* False once the admin is gone (the channel closed). */
static bool handle_ctl(void)
{
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        int rc = ens__ctl_recv(gw.ctl, &m, fds, &nfds);
        if (rc == 0)
            return true;
        if (rc == ENS_EBADFRAME)
            continue;
        if (rc < 0)
            return false;
        uint32_t t = m->hdr.type_id;
        int fd = nfds > 0 ? fds[0] : -1;
        bool taken = false;
        if (t == ens__ctl_connected.id) {
            const ens__ctl_status_v *v = m->value;
            ens__tx_connected(&gw.tx, v->addr, v->status, fd);
            taken = true;
        } else if (t == ens__ctl_newconn.id && fd >= 0) {
            const ens__ctl_conn_v *v = m->value;
            rx_add(fd, v->peer);
            taken = true;
        } else if (t == ens__ctl_gwspawn.id &&
                   ((const ens__ctl_gwspawn_v *)m->value)->op == ENS_GWSPAWN_ACTORS) {
            ens__gw_members_set_actors(gw.members, ((const ens__ctl_gwspawn_v *)m->value)->actors);
        } else if (t == ens__ctl_gwspawn.id &&
                   ((const ens__ctl_gwspawn_v *)m->value)->op == ENS_GWSPAWN_LOST) {
            lost_add(((const ens__ctl_gwspawn_v *)m->value)->addr);
        } else if (ens__gw_spawn_ctl(gw.spawn, gw.s, gw.ctl, gw.self, m)) {
            /* a spawn on another system, or the admin's answer to one */
        } else if (t == ens__ctl_gwname.id) {
            ens__gw_names_request(gw.names, m->value, m->hdr.corr);
        } else if (t == ens__ctl_gwcaps.id && gw.members != NULL) {
            const ens__ctl_caps_v *v = m->value;
            int crc = ens__gw_members_set_caps(gw.members, v->value);
            if (crc < 0)
                ens__log(gw.s, NULL, ENS_LOG_ERROR,
                         "gateway: the member record keeps the old capabilities: %s",
                         ens_strerror(crc));
        }
        for (int i = taken ? 1 : 0; i < nfds; i++)
            close(fds[i]);
        ens_msg_free(m);
    }
}

static void pump_ctl_tx(ens_tx_table *t)
{
    (void)t;
    handle_ctl();
}

_Noreturn static void gateway_end(int status)
{
    /* What the admin and the actors wrote to the gateway before the admin
     * closed the channel goes out before "leaving": the notices of remote
     * children that ended with the system are among it, and the loop reads
     * the channel before the connections, so they may still be queued. */
    for (size_t i = 0; gw.nats != NULL && i < gw.n_rx; i++)
        if (gw.rx[i]->fd >= 0)
            read_rx(gw.rx[i]);
    if (gw.nats != NULL)
        publish_gathered();
    refusals_tell(true);
    /* Status 0: the system ends in order (the admin closed the channel):
     * the member leaves, so the others see "left". */
    ens__gw_members_stop(gw.members, status == 0, CLOSE_FLUSH_MS);
    ens__tx_drain(&gw.tx, CLOSE_FLUSH_MS, pump_ctl_tx);
    ens__gw_names_close(gw.names);
    ens__gw_journal_close(gw.journal);
    ens__gw_status_close(gw.status);
    ens__gw_nats_close(gw.nats, CLOSE_FLUSH_MS);
    ens__gw_spawn_close(gw.spawn); /* after: no callback of its can run now */
    _exit(status);
}

/* ---- the loop ------------------------------------------------------- */

_Noreturn static void gateway_main(ens_system *s, ens_addr self, int ctl, int rx, const char *caps)
{
    ens__proctitle("ens-gateway %s", s->name);
    gw.s = s;
    gw.self = self;
    gw.ctl = ctl;
    gw.tx = (ens_tx_table){.ctl = ctl,
                           .self = self,
                           .sys = s,
                           .limit = s->opts.mailbox_limit,
                           .bytes_limit = s->opts.mailbox_bytes_limit};
    gw.scratch = ens__malloc(RX_READ);
    gw.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (gw.scratch == NULL || gw.wake < 0)
        _exit(ENS_PROC_EXIT_NO_MEMORY);
    rx_add(rx, self); /* the admin's connection: replies and notices it sends */
    char why[256] = "";
    int rc = ens__gw_nats_open(s, self.node, gw.wake, s->opts.call_timeout_ms, &gw.nats, why,
                               sizeof(why));
    if (rc == ENS_EAUTH) { /* NATS's reason goes with the refusal, for ens_errmsg */
        ens__ctl_why_v refusal = {rc, why};
        ens__ctl_send(ctl, self, &ens__ctl_initfailed, &refusal, 0, NULL, 0);
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: %s", why);
    } else if (rc < 0 && rc != ENS_EAGAIN)
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: cannot use the convention's options: %s", why);
    else if (rc == ENS_EAGAIN)
        ens__log(s, NULL, ENS_LOG_WARN, "gateway: %s", why);
    ens__ctl_status_v ready = {self, rc};
    ens__ctl_send(ctl, self, &ens__ctl_ack, &ready, 0, NULL, 0);
    if (gw.nats == NULL)
        _exit(ENS_PROC_EXIT_NO_ACTOR);
    gw.names = ens__gw_names_open(s, gw.nats, ctl, self, gw.wake);
    gw.spawn = ens__gw_spawn_open(s, gw.nats, ctl, self, gw.wake);
    if (ens__gw_journal_open(s, ens__gw_nats_conn(gw.nats), self.node, &gw.journal) < 0)
        ens__log(s, NULL, ENS_LOG_WARN, "gateway: the journal is not answered across hosts");
    if (ens__gw_status_open(s, ens__gw_nats_conn(gw.nats), self, ctl, gw.wake, &gw.status) < 0)
        ens__log(s, NULL, ENS_LOG_WARN, "gateway: the status is not answered across hosts");
    int mrc = ens__gw_members_start(s, gw.nats, self.node, getppid(), gw.wake, caps, &gw.members);
    if (mrc < 0)
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: no membership of the convention: %s",
                 ens_strerror(mrc));
    struct pollfd *p = NULL;
    size_t cap = 0;
    for (;;) {
        ens__gw_names_tick(gw.names);
        ens__gw_spawn_tick(gw.spawn);
        ens__gw_status_tick(gw.status);
        ens__tx_flush_all(&gw.tx);
        size_t want = 2 + gw.n_rx + gw.tx.n;
        if (p == NULL || want > cap) {
            struct pollfd *np = ens__realloc(p, want * sizeof(*p));
            if (np == NULL)
                gateway_end(ENS_PROC_EXIT_NO_MEMORY);
            p = np;
            cap = want;
        }
        size_t n = 0;
        p[n++] = (struct pollfd){gw.ctl, POLLIN, 0};
        p[n++] = (struct pollfd){gw.wake, POLLIN, 0};
        size_t rx_at = n, n_rx = gw.n_rx;
        for (size_t i = 0; i < n_rx; i++)
            p[n++] = (struct pollfd){gw.rx[i]->fd, POLLIN, 0};
        size_t tx_at = n;
        ens_tx *waiting[256];
        size_t n_tx = 0;
        for (size_t i = 0; i < gw.tx.n && n_tx < 256; i++) {
            ens_tx *t = gw.tx.tx[i];
            if (t->state == ENS_TX_OPEN && ens__tx_has_bytes(t)) {
                waiting[n_tx++] = t;
                p[n++] = (struct pollfd){t->fd, POLLOUT, 0};
            }
        }
        int k = poll(p, n, ens__tx_connecting(&gw.tx) || gw.held != NULL ? 10 : 1000);
        if (k < 0 && errno != EINTR)
            gateway_end(ENS_PROC_EXIT_CHANNEL);
        if (k <= 0) {
            if (gw.held != NULL)
                take_inbound();
            refusals_tell(false);
            continue;
        }
        if (p[0].revents != 0 && !handle_ctl())
            gateway_end(0); /* the admin ended, or closed the channel: the system ends */
        if (p[1].revents != 0 || gw.held != NULL) {
            take_inbound();
            members_deliver();
        }
        for (size_t i = 0; i < n_rx; i++)
            if (p[rx_at + i].revents != 0 && gw.rx[i]->fd >= 0)
                read_rx(gw.rx[i]);
        publish_gathered();
        for (size_t i = 0; i < n_tx; i++)
            if (p[tx_at + i].revents != 0)
                ens__tx_flush(&gw.tx, waiting[i]);
        rx_sweep();
        ens__tx_sweep(&gw.tx);
    }
}

int ens__gateway_start(ens_system *s, pid_t admin, ens_addr self, const char *caps,
                       uint32_t wait_ms, pid_t *pid, int *ctl, int *tx, int *ready, char *why,
                       size_t why_len)
{
    *pid = 0;
    if (why_len > 0)
        why[0] = '\0';
    *ctl = *tx = -1;
    *ready = ENS_EAGAIN;
    int ch[2], conn[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0)
        return ENS_EIO;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn) < 0) {
        close(ch[0]);
        close(ch[1]);
        return ENS_EIO;
    }
    pid_t child = fork();
    if (child < 0) {
        int err = errno == EAGAIN ? ENS_EAGAIN : ENS_ENOMEM;
        close(ch[0]);
        close(ch[1]);
        close(conn[0]);
        close(conn[1]);
        return err;
    }
    if (child == 0) {
        if (!ens__child_setup(admin, true))
            _exit(ENS_PROC_EXIT_PARENT_GONE);
        int keep[3] = {ch[1], conn[1], s->log_fd};
        size_t nk = s->log_fd > 2 ? 3 : 2;
        for (size_t i = 1; i < nk; i++) /* sorted, for ens__close_fds_except */
            for (size_t j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
                int t = keep[j];
                keep[j] = keep[j - 1];
                keep[j - 1] = t;
            }
        ens__close_fds_except(keep, nk);
        s->log_role = "gateway";
        gateway_main(s, self, ch[1], conn[1], caps);
    }
    close(ch[1]);
    close(conn[1]);
    ens__fd_nonblock(ch[0]);
    ens__fd_nonblock(conn[0]);
    *pid = child;
    *ctl = ch[0];
    *tx = conn[0];
    /* Its first word: connected and subscribed, or why not. */
    struct pollfd p = {ch[0], POLLIN, 0};
    uint64_t end = ens__mono_ns() + (uint64_t)wait_ms * 1000000u;
    for (;;) {
        uint64_t now = ens__mono_ns();
        if (now >= end)
            break;
        int k = poll(&p, 1, (int)((end - now + 999999u) / 1000000u));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        ens_msg *m = NULL;
        int nfds = 0;
        int rc = ens__ctl_recv(ch[0], &m, NULL, &nfds);
        bool refusal = rc == 1 && m->hdr.type_id == ens__ctl_initfailed.id;
        if (refusal && why_len > 0) {
            const ens__ctl_why_v *v = m->value;
            snprintf(why, why_len, "%s", v->reason != NULL ? v->reason : "");
        }
        if (rc == 1 && m->hdr.type_id == ens__ctl_ack.id)
            *ready = ((const ens__ctl_status_v *)m->value)->status;
        ens_msg_free(m);
        if (rc != 0 && !refusal)
            break;
    }
    return 0;
}

/*
 * core/process/admin/dead_letters.c - frames nobody will take. The admin
 * applies the runtime's dead-letter rules to frames for an address with no
 * live actor, and when an actor ends for good turns everything still queued
 * for it (its stage, then its receiving ends, frames in pieces completed
 * from their connections) into dead letters or BADFRAME rows: nothing
 * queued is lost silently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

void ens__admin_dead_letter(const uint8_t *frame, size_t len, const char *reason)
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
        ens__admin_emit(&ev);
        return;
    }
    if ((h.flags & ENS_FRAME_SYSTEM) && h.type_id == ens_msg_child_exited.id)
        return;
    /* An actor's own answer to a spawner that is gone (ENS__SPAWN_DIRECT):
     * nobody waits for it any more. */
    if ((h.flags & ENS_FRAME_SYSTEM) && h.type_id == ens__ctl_spawned.id)
        return;
    if ((h.flags & ENS_FRAME_REQUEST) && h.corr != 0 && !ens_addr_is_none(h.sender)) {
        ens_string_v why = {(char *)reason};
        ens__admin_send_to(h.target, h.sender, &ens_msg_string, &why,
                           ENS_FRAME_SYSTEM | ENS_FRAME_REPLY | ENS_FRAME_ERROR, h.corr,
                           ENS_ENOACTOR);
    }
    arec *handler = ens_addr_is_none(admin_state.dead_handler)
                        ? NULL
                        : ens__admin_by_addr(admin_state.dead_handler);
    if (handler != NULL && !ens_addr_equal(handler->addr, h.target) &&
        h.type_id != ens_msg_dead_envelope.id) {
        ens_dead_envelope_v env = {
            h.target, h.type_id, (char *)reason, {(void *)frame, (uint32_t)len}};
        ens__admin_send_to(h.sender, handler->addr, &ens_msg_dead_envelope, &env, ENS_FRAME_SYSTEM,
                           0, 0);
    } else {
        const ens_typeinfo *info = ens__typeinfo_by_id(h.type_id);
        ens_event ev = {.kind = ENS_EV_DEAD_LETTER,
                        .actor = h.target,
                        .msg_type = info != NULL ? info->type->name : "",
                        .sender = h.sender,
                        .msg_size = (uint32_t)len,
                        .reason = reason};
        ens__admin_emit(&ev);
    }
}

void ens__admin_send_to(ens_addr from, ens_addr to, const ens_msgtype *t, const void *v,
                        uint16_t flags, uint64_t corr, int16_t error)
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
    arec *r = ens__admin_route(to);
    if (r == NULL) {
        ens__admin_dead_letter(frame, len,
                               to.node != admin_state.sys->node
                                   ? "another system's address, and this system has no gateway"
                                   : "no live actor at that address");
        free(frame);
        return;
    }
    ens__admin_out_frame(r, frame, len);
    free(frame);
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
        ens__admin_emit(&ev);
        return;
    }
    ens__admin_dead_letter(f->frame, f->len, l->reason);
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
        ens__admin_emit(&ev);
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
        ens__admin_emit(&ev);
    }
    ens__frag_reset(a);
}

void ens__admin_poison_flush(arec *r)
{
    ens_stage *st = r->stage;
    if (st == NULL || st->poison_len == 0)
        return;
    const uint8_t *f = ens__stage_poison_area(st);
    const uint64_t len = st->poison_len;
    ens_frame_hdr h;
    if (len <= st->slot_bytes && ens__frame_hdr_read(f, len, UINT32_MAX, &h) == 0 &&
        ens_addr_equal(h.sender, r->addr)) {
        arec *to = ens__admin_route(h.target);
        if (to == NULL)
            ens__admin_dead_letter(f, len, "no live actor at that address");
        else
            ens__admin_out_frame(to, f, len);
    }
    st->poison_len = 0; /* sent */
}

/* Give every frame still queued for r (its stage, then its receiving ends)
 * to the dead-letter rules, and close the receiving ends. A frame in
 * pieces, partly put together in the stage, is completed from its
 * connection. */
void ens__admin_drain_to_dead_letters(arec *r, const char *reason)
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
            ens__admin_dead_letter(ens__stage_slot_area(st, i), s->total, reason);
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
    /* Held while a call waited: they came before what the batch holds. */
    const uint8_t *held;
    uint64_t held_n;
    while (st != NULL && ens__stage_held_peek(st, &held, &held_n)) {
        ens__admin_dead_letter(held, held_n, reason);
        st->hand_held = 1;
        st->state = ENS_STAGE_HANDLING;
        ens__stage_mark_held(st);
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

/*
 * core/process/gateway/gateway_inbound.c - the checks of what arrives from
 * NATS (gateway_inbound.h), and the limit on what refusing it costs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/process/gateway/gateway_batch.h"
#include "core/process/gateway/gateway_inbound.h"
#include "core/wire/msgtype.h"
#include "ensemble/error.h"
#include "ensemble/msg.h"

uint32_t ens__gw_subject_from(const char *subject)
{
    if (subject == NULL)
        return 0;
    const char *dot = strrchr(subject, '.');
    const char *p = dot != NULL ? dot + 1 : subject;
    if (*p == '\0' || *p == '0')
        return 0; /* empty, or a leading zero: not how a node is written */
    uint64_t v = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return 0;
    }
    return (uint32_t)v;
}

/* Types only this system's own admin and runtime send: control messages,
 * and the notices of things local to one host (a timer, a descriptor, a
 * command it ran, a dead letter handed to its handler). */
static bool admin_only(uint32_t type_id)
{
    if (type_id == ens_msg_wakeup.id || type_id == ens_msg_fd_ready.id ||
        type_id == ens_msg_command_result.id || type_id == ens_msg_dead_envelope.id)
        return true;
    const ens_typeinfo *t = ens__typeinfo_by_id(type_id);
    return t != NULL && strncmp(t->type->name, "ens.ctl.", 8) == 0;
}

int ens__gw_frame_check(const uint8_t *frame, size_t len, const ens_gw_origin *o, ens_frame_hdr *h,
                        char *why, size_t why_len)
{
    int err = ens__frame_hdr_read(frame, len, o->max_frame, h);
    if (err < 0) {
        snprintf(why, why_len,
                 "a message from NATS that is not a frame this system takes (%zu bytes)", len);
        return err;
    }
    if (h->flags & ENS_FRAME_FRAGMENT) {
        snprintf(why, why_len, "a piece of a frame from NATS: only whole frames cross");
        return ENS_EBADFRAME;
    }
    if (h->target.node != o->self) {
        snprintf(why, why_len,
                 "a frame from NATS for node %" PRIu32 " on the subject of node %" PRIu32,
                 h->target.node, o->self);
        return ENS_EBADFRAME;
    }
    if (o->from == 0 || o->from == o->self) {
        snprintf(why, why_len, "a frame from NATS whose subject names no other publishing node");
        return ENS_EBADFRAME;
    }
    bool forwarded = (h->flags & ENS_FRAME_FORWARDED) != 0;
    bool none = ens_addr_is_none(h->sender);
    if (!none && h->sender.node == o->self && !forwarded) {
        snprintf(why, why_len, "a frame from NATS that names a sender of this system: refused");
        return ENS_EBADFRAME;
    }
    if (!none && h->sender.node != o->from &&
        (!forwarded || h->type_id >= ENS_TYPE_ID_SYSTEM_MIN)) {
        snprintf(why, why_len,
                 "a frame from NATS published by node %" PRIu32 " names a sender of node %" PRIu32
                 "%s: refused",
                 o->from, h->sender.node,
                 forwarded ? " (a system notice is believed only from its own node)" : "");
        return ENS_EBADFRAME;
    }
    if (admin_only(h->type_id)) {
        snprintf(why, why_len,
                 "a frame from NATS of a type only this system's admin sends (type id %08" PRIx32
                 "): refused",
                 h->type_id);
        return ENS_EBADFRAME;
    }
    return 0;
}

size_t ens__gw_inbound_each(const uint8_t *data, size_t len, const ens_gw_origin *o,
                            ens_gw_inbound_cb *each, void *arg)
{
    char why[256];
    ens_frame_hdr h;
    if (!ens__gw_batch_is(data, len)) {
        int err = ens__gw_frame_check(data, len, o, &h, why, sizeof(why));
        each(arg, data, len, err == 0 ? &h : NULL, err, why);
        return err == 0;
    }
    char batch_why[160];
    if (ens__gw_batch_check(data, len, batch_why, sizeof(batch_why)) < 0) {
        snprintf(why, sizeof(why), "a batch from NATS refused: %s", batch_why);
        each(arg, data, len, NULL, ENS_EBADFRAME, why);
        return 0;
    }
    size_t passed = 0, at = ENS_GW_BATCH_HEAD, flen = 0;
    const uint8_t *frame = NULL;
    while (ens__gw_batch_next(data, len, &at, &frame, &flen)) {
        int err = ens__gw_frame_check(frame, flen, o, &h, why, sizeof(why));
        each(arg, frame, flen, err == 0 ? &h : NULL, err, why);
        passed += err == 0;
    }
    return passed;
}

int ens__gw_refusal_note(ens_gw_refusals *r, int64_t now_ms, const char *why)
{
    r->total++;
    if (r->window_ms == 0 || now_ms - r->window_ms >= ENS_GW_REFUSAL_WINDOW_MS) {
        /* A new window (the caller told the ended one's held refusals
         * first, with ens__gw_refusal_flush). */
        r->window_ms = now_ms;
        r->rows = 1;
        return 2;
    }
    if (r->rows < ENS_GW_ROWS_PER_WINDOW) {
        r->rows++;
        return 1;
    }
    r->held++;
    snprintf(r->last, sizeof(r->last), "%s", why);
    return 0;
}

uint64_t ens__gw_refusal_flush(ens_gw_refusals *r, int64_t now_ms, bool all)
{
    if (r->window_ms == 0 || (!all && now_ms - r->window_ms < ENS_GW_REFUSAL_WINDOW_MS))
        return 0;
    uint64_t held = r->held;
    r->window_ms = 0;
    r->rows = 0;
    r->held = 0;
    return held;
}

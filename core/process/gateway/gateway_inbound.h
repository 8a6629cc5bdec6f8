/*
 * core/process/gateway/gateway_inbound.h - the checks a NATS message passes
 * before anything of it is delivered, written without a NATS connection so
 * a fuzz target (tests/fuzz/fuzz_gateway_inbound.c) runs them as the
 * gateway does. Internal to core/process/gateway/.
 *
 * Everything from NATS is hostile. A frame crosses on the subject
 * ens.<convention>.n.<target node>.<publishing node>: NATS does not
 * authenticate each message, but the publishing node is in the subject,
 * which NATS permissions can bind to a user (README "Across hosts"). A
 * frame is taken only when its header agrees with the subject:
 *   - it is whole (no fragment) and for this node;
 *   - its sender is on the publishing node; a FORWARDED frame (ens_forward
 *     keeps the original sender) may name a sender of another node, but
 *     only for a user type: a system notice (an exit, a restart, a poison
 *     reply) is believed only from the node of the actor it is about;
 *   - it never names a sender of this node unless FORWARDED (a frame of
 *     ours sent back);
 *   - its type is not one only this system's admin sends: no control type
 *     (ens.ctl.*), no timer wakeup, fd readiness, command result or dead
 *     envelope, which never cross between systems.
 */
#ifndef ENS_CORE_GATEWAY_INBOUND_H
#define ENS_CORE_GATEWAY_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wire/frame.h"

#pragma GCC visibility push(hidden)

/* Where a NATS message came from and where it arrived. */
typedef struct ens_gw_origin {
    uint32_t self;      /* this system's node */
    uint32_t from;      /* the publishing node, from the subject (0: none readable) */
    uint32_t max_frame; /* this system's max_frame_bytes */
} ens_gw_origin;

/* The publishing node of subject "<prefix>.<from>": the decimal number
 * after its last dot (1..UINT32_MAX, digits only, no leading zero), or 0. */
uint32_t ens__gw_subject_from(const char *subject);

/* Check one frame of a NATS message (lone, or an entry of a checked batch)
 * against o. 0 with *h read, or an error (ENS_EBADFRAME, or what
 * ens__frame_hdr_read refused with) and why[] saying which rule. Never
 * reads outside frame[0..len). */
int ens__gw_frame_check(const uint8_t *frame, size_t len, const ens_gw_origin *o, ens_frame_hdr *h,
                        char *why, size_t why_len);

/* The whole inbound check of one NATS message, as the gateway makes it: a
 * batch is checked whole first (refused: each(...) is called once for the
 * message with the error, and no frame of it is taken), then each frame in
 * order; each(arg, frame, len, h, err, why) gets err 0 and h for a frame
 * that would be delivered, else the error, h NULL and why. Returns how many
 * frames passed. */
typedef void ens_gw_inbound_cb(void *arg, const uint8_t *frame, size_t len, const ens_frame_hdr *h,
                               int err, const char *why);
size_t ens__gw_inbound_each(const uint8_t *data, size_t len, const ens_gw_origin *o,
                            ens_gw_inbound_cb *each, void *arg);

/* A limit on what refusals from NATS cost: up to ENS_GW_ROWS_PER_WINDOW
 * BADFRAME rows in each window of ENS_GW_REFUSAL_WINDOW_MS and one log line
 * (the window's first); the rest are counted and told in one summary row
 * and line once the window has ended, so a peer flooding garbage costs a
 * bounded number of journal rows and log lines. */
#define ENS_GW_ROWS_PER_WINDOW   32u
#define ENS_GW_REFUSAL_WINDOW_MS 1000

typedef struct ens_gw_refusals {
    int64_t window_ms; /* the current window's start (0: none open) */
    uint32_t rows;     /* rows sent in it */
    uint64_t held;     /* refusals in it past the rows */
    uint64_t total;    /* refusals since the gateway started */
    char last[200];    /* the last held refusal's reason */
} ens_gw_refusals;

/* One refusal at now_ms (call ens__gw_refusal_flush first): counted; 2 (a
 * row and a log line: the window's first), 1 (a row only), or 0 (held: no
 * row, no line now; why kept for the summary). */
int ens__gw_refusal_note(ens_gw_refusals *r, int64_t now_ms, const char *why);

/* Once the window has ended (at once with all): how many refusals were held
 * in it (0: nothing to tell; else the caller sends one summary row and
 * line), and the window closed. */
uint64_t ens__gw_refusal_flush(ens_gw_refusals *r, int64_t now_ms, bool all);

#pragma GCC visibility pop

#endif

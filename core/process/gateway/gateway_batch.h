/*
 * core/process/gateway/gateway_batch.h - several frames for one node in one
 * NATS message. Internal to core/process/gateway/.
 *
 * What a gateway's loop turn gathers for one node leaves as one NATS
 * message: one publish and one delivery on the receiving side instead of
 * one per frame. A lone frame crosses bare (it starts with the frame magic
 * "ENS1"); two or more cross as a batch (all integers little-endian):
 *   off len
 *     0   4  magic "ENSB"
 *     4   1  version = 1
 *     5   3  zero
 *     8   4  count of frames, >= 2
 *    12   .  count entries: a length (4 bytes, >= 64, the frame's own
 *            header says the same) then the frame
 * and nothing after the last entry. A batch is no bigger than the NATS
 * server's max_payload. The receiver checks the whole structure before it
 * takes any frame (ens__gw_batch_check); each frame is then checked as a
 * lone one would be.
 */
#ifndef ENS_CORE_GATEWAY_BATCH_H
#define ENS_CORE_GATEWAY_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

#define ENS_GW_BATCH_HEAD    12u /* magic, version, zeros, count */
#define ENS_GW_BATCH_ENTRY   4u  /* the length before each frame */
#define ENS_GW_BATCH_VERSION 1u

/* The frames gathered for one node in this turn: always laid out as a
 * batch; a lone frame is published from behind the head. */
typedef struct ens_gw_batch {
    uint32_t node;
    uint32_t count;
    uint8_t *buf;
    size_t len, cap;
} ens_gw_batch;

/* The size of b once frame of len bytes is added (what max_payload bounds:
 * a lone frame's own length, else the batch's). */
size_t ens__gw_batch_size_with(const ens_gw_batch *b, size_t len);

/* Append frame[0..len) (copied). 0, or ENS_ENOMEM (b unchanged). */
int ens__gw_batch_add(ens_gw_batch *b, const uint8_t *frame, size_t len);

/* What to publish for b (count >= 1): the lone frame, or the batch with its
 * count written. Pointers into b, valid until the next add or clear. */
void ens__gw_batch_out(ens_gw_batch *b, const uint8_t **data, size_t *len);

/* Call each(arg, frame, len) for the frames of b, in order (to dead-letter
 * them when the publish failed). */
void ens__gw_batch_each(const ens_gw_batch *b, void (*each)(void *, const uint8_t *, size_t),
                        void *arg);

/* Empty b, keeping its buffer. */
void ens__gw_batch_clear(ens_gw_batch *b);

/* Free b's buffer. */
void ens__gw_batch_free(ens_gw_batch *b);

/* True if data[0..len) claims to be a batch (starts with its magic). */
bool ens__gw_batch_is(const uint8_t *data, size_t len);

/* Check the batch data[0..len) whole: head, version, zeros, count >= 2,
 * each length >= 64 and within what is left, nothing after the last entry.
 * 0, or ENS_EBADFRAME with why[] saying which rule failed. Never reads
 * outside data[0..len). */
int ens__gw_batch_check(const uint8_t *data, size_t len, char *why, size_t why_len);

/* The frame of a checked batch at *off (ENS_GW_BATCH_HEAD for the first):
 * true with *frame and *len set and *off moved past it, false after the
 * last. */
bool ens__gw_batch_next(const uint8_t *data, size_t len, size_t *off, const uint8_t **frame,
                        size_t *frame_len);

#pragma GCC visibility pop

#endif

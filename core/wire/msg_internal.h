/*
 * core/wire/msg_internal.h - the ens_msg object behind the opaque public type,
 * and how the runtime builds one from a frame. Internal.
 *
 * A message owns its whole frame (header + payload, one malloc'ed buffer),
 * the parsed header, and an arena holding the decoded value. The runtime
 * queues frames, not messages: a message is built when it is delivered.
 */
#ifndef ENS_CORE_MSG_INTERNAL_H
#define ENS_CORE_MSG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wire/arena.h"
#include "core/wire/frame.h"
#include "core/wire/msgtype.h"

struct ens_msg {
    ens_frame_hdr hdr;
    const ens_typeinfo *info; /* NULL if the type id is unknown here */
    uint8_t *frame;           /* header + payload: owned, unless frame_borrowed */
    size_t frame_len;
    bool frame_borrowed;      /* frame belongs to the caller (ens__msg_from_borrowed) */
    ens_arena *arena;         /* owns the value; NULL when value is NULL */
    void *value;              /* decoded value, or NULL (unknown type) */
    struct ens_msg *original; /* lazily decoded poison/dead-letter original */
    /* ens_msg_dup copied it: a handler that keeps a copy of the request it
     * handles keeps the request (it will answer or forward it later), so
     * the runtime does not answer it ENS_ENOREPLY. */
    bool copied;
};

/* Build a message from a frame, taking ownership of `frame` (malloc'ed,
 * len bytes) in every case: on error it is freed. Checks the header
 * (ens__frame_hdr_read with max_frame), finds the type, decodes the value.
 * Errors: ENS_EBADFRAME, ENS_EMSGSIZE, ENS_EBADTYPE (unknown type id),
 * ENS_ENOMEM. */
int ens__msg_from_frame(uint8_t *frame, size_t len, uint32_t max_frame, ens_msg **out);

/* As ens__msg_from_frame, but the frame is only borrowed: it must stay
 * unchanged until the message is freed, which ens_msg_free does not free.
 * For a message that lives only while its handler runs (the process base
 * delivers from the stage so, without a copy per message; a handler that
 * keeps a message calls ens_msg_dup, which copies). */
int ens__msg_from_borrowed(const uint8_t *frame, size_t len, uint32_t max_frame, ens_msg **out);

/* Encode (t, v) with header fields from *h into a new frame (see
 * ens__codec_encode). Errors: ENS_EBADTYPE (t not registered), ENS_EINVAL
 * (t NULL), ENS_EMSGSIZE, ENS_ENOMEM. */
int ens__frame_build(const ens_msgtype *t, const void *v, const ens_frame_hdr *h,
                     uint32_t max_frame, uint8_t **out, size_t *out_len);

/* Copy frame bytes: a malloc'ed copy of m's frame with header fields
 * target, sender, flags, corr, attempt replaced from *h (its payload_len,
 * type_id and FIXED flag are ignored: the payload keeps its encoding). For forwarding and
 * redelivery. Errors: ENS_ENOMEM. */
int ens__frame_rebuild(const ens_msg *m, const ens_frame_hdr *h, uint8_t **out, size_t *out_len);

#endif

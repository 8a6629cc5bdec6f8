/*
 * core/wire/codec.h - the only place that calls tpl. Encodes a message value into
 * a frame and decodes a frame's payload into a value living in an arena.
 * Internal.
 *
 * Safety rules (see PLATFORM-NOTES.md): tpl's hooks are set once per process
 * (oops -> the last error text, malloc/realloc/free -> the current arena,
 * fatal -> longjmp back into the codec call, which returns ENS_ENOMEM or
 * ENS_EBADFRAME); decoding uses tpl_load(TPL_MEM) with the exact payload
 * length; every A(...) count is checked with tpl_Alen (>= 0 and <=
 * max_items) before unpacking; the header has been checked before tpl sees
 * a byte. Not thread-safe (tpl's hooks are process-wide): one thread per
 * process uses the codec.
 *
 * Fixed-layout fast path: a type made only of fixed-size scalars (see
 * msgtype.h; ens.Int64, addresses, most system messages) is always encoded
 * without tpl, as its fields one after another, each little-endian at its
 * width (c 1, j v 2, i u 4, I U f 8 bytes), no padding, and the frame gets
 * ENS_FRAME_FIXED. Its payload length is exactly info->fixed_size. The
 * decoder takes that path only when the frame has the flag (a tpl image of
 * the same type, without the flag, still decodes through tpl), and rejects
 * a FIXED payload of an ineligible type or of any other length.
 *
 * One-blob fast path: a type whose only item is one B at offset 0
 * (ens.Bytes, "B") is encoded as the blob's bytes as they are, and the
 * frame gets ENS_FRAME_BLOB. Decoding points the value's ens_bytes at the
 * payload itself: no copy, so the bytes live exactly as long as the frame
 * (a message's own, or the receive buffer for a message delivered to a
 * handler), and are read-only. tpl packed a blob twice and unpacked it once:
 * three copies of every large message. A BLOB payload of any other type is
 * rejected.
 */
#ifndef ENS_CORE_CODEC_H
#define ENS_CORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/wire/arena.h"
#include "core/wire/frame.h"
#include "core/wire/msgtype.h"

/* Encode value v of type info into a new frame: 64 header bytes written
 * from *h (its payload_len, type_id and the FIXED flag are set from the
 * encoding, the rest is taken as given) followed by the payload: the
 * fixed-layout fields for an eligible type, else the tpl image. *out is malloc'ed and owned
 * by the caller (free()); *out_len is the total frame length. v NULL means a
 * zeroed value. Errors: ENS_EMSGSIZE (frame above max_frame), ENS_ENOMEM,
 * ENS_EINVAL (a value the format cannot encode, e.g. an ens_array with
 * count > 0 and items NULL, or count above the type's max_items). */
int ens__codec_encode(const ens_typeinfo *info, const void *v, const ens_frame_hdr *h,
                      uint32_t max_frame, uint8_t **out, size_t *out_len);

/* Decode the payload (exactly len bytes, borrowed) of a frame of type info
 * whose header has flags `flags` into a value struct allocated in arena a
 * (with all its strings, arrays and bytes); *value points into the arena,
 * except the bytes of a BLOB payload, which stay in the payload (it must
 * outlive the value). Errors: ENS_EBADFRAME (with ENS_FRAME_FIXED: the type
 * is not eligible or len is not its fixed size; with ENS_FRAME_BLOB: the
 * type is not a one-blob type, or both flags; without: the image is not a valid tpl image
 * of this format, an array count is negative or above max_items),
 * ENS_ENOMEM. On error nothing outside the arena was allocated. */
int ens__codec_decode(const ens_typeinfo *info, uint16_t flags, const uint8_t *payload, size_t len,
                      ens_arena *a, void **value);

/* The text of the last tpl complaint in this process ("" if none). */
const char *ens__codec_last_error(void);

#endif

/*
 * core/wire/framing.h - walking the frames of a byte stream. Internal.
 *
 * Every reader of a connection (the outside program, the admin turning a
 * queue into dead letters, a sender turning its own buffer into dead
 * letters, an actor taking a batch) sees the same thing: a run of frames,
 * whole ones and pieces of larger ones (core/wire/frag.h), possibly cut short
 * at the end. What may start a frame, how long a frame may be and what a
 * piece must say are decided here, once, so that every reader takes and
 * refuses the same bytes.
 *
 * The rules, all decided from a frame's head (its 64-byte header and, for
 * a piece, the 16 bytes after it):
 *  - the stream is lost (nothing after can be read) when the bytes do not
 *    start with a frame header (magic, version, header length), or when the
 *    header announces a length no sender writes: a whole frame above
 *    ENS_WIRE_WHOLE_MAX, a piece above ENS_WIRE_PIECE_MAX;
 *  - otherwise the length can be trusted and the walk goes past the frame,
 *    which is refused (err) if its header does not pass
 *    ens__frame_hdr_read against the limit, or, for a piece, if
 *    ens__frag_parse refuses its fields.
 */
#ifndef ENS_CORE_FRAMING_H
#define ENS_CORE_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wire/frag.h"
#include "core/wire/frame.h"

/* The longest whole frame a sender writes (a longer one goes in pieces),
 * and the longest piece. */
#define ENS_WIRE_WHOLE_MAX ENS_FRAG_CHUNK
#define ENS_WIRE_PIECE_MAX (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD + ENS_FRAG_CHUNK_MAX)

/* One frame of a stream, as ens__wire_head / ens__wire_next found it. */
typedef struct ens_wire_item {
    const uint8_t *at;    /* its first byte (borrowed from the buffer walked) */
    size_t len;           /* its bytes on the wire, header included */
    int err;              /* 0, or why it is refused: ENS_EBADFRAME, ENS_EMSGSIZE */
    bool piece;           /* a piece of a larger frame: the fields below are set */
    uint64_t total;       /* piece: the length of the frame it belongs to */
    uint64_t offset;      /* piece: where its bytes go in that frame */
    const uint8_t *bytes; /* piece: its bytes (at + 80; in the buffer only
                             once the piece is whole there) */
    size_t n;             /* piece: how many */
} ens_wire_item;

/* Look at the head of the frame at buf[0..avail) (borrowed), with limit
 * the largest frame the reader takes (whole, or put together from pieces).
 * Returns 1 with *it filled once the head is there (64 bytes, 80 for a
 * piece; it->len may exceed avail: the rest has not come yet), 0 when
 * fewer bytes than the head are there (wait for more), or ENS_EBADFRAME
 * when the bytes are not a frame whose length can be trusted (the stream
 * is lost). For a reader that has a piece's head without its bytes. */
int ens__wire_head(const uint8_t *buf, size_t avail, uint32_t limit, ens_wire_item *it);

/* The same, for a whole frame: returns 1 with *it only when all it->len
 * bytes are in buf[0..avail), 0 when the frame (or its head) is not whole
 * yet, ENS_EBADFRAME when the stream is lost. A walk: off += it.len while
 * this returns 1. */
int ens__wire_next(const uint8_t *buf, size_t avail, uint32_t limit, ens_wire_item *it);

/* A whole frame met by ens__frame_walk, or (err != 0) a frame or piece it
 * refused. */
typedef struct ens_framed {
    const uint8_t *frame; /* the frame, or the refused bytes; borrowed for the callback */
    size_t len;
    int err;       /* 0; or ENS_EBADFRAME / ENS_EMSGSIZE (refused: see the file comment,
                      or a piece that does not continue the frame being put together),
                      ENS_ENOMEM (no memory to put a frame together) */
    uint8_t *heap; /* when err == 0 and the frame was put together from pieces: the
                      malloc'ed frame (== frame), which the callback may take by setting
                      heap = NULL; else NULL (frame is in the buffer walked) */
} ens_framed;

typedef void (*ens_framed_cb)(void *arg, ens_framed *f);

/* Where a walk stopped. */
typedef struct ens_walk {
    size_t used; /* bytes of the frames and pieces walked */
    bool lost;   /* stopped at bytes that are not a frame (ens__wire_next said
                    ENS_EBADFRAME): the rest of the stream cannot be read;
                    false: stopped at the end, or at a frame not yet whole */
} ens_walk;

/* Walk the frames in buf[0..len) (borrowed): each whole frame, pieces put
 * together with a (which may hold the first pieces of a frame from earlier
 * bytes, and keeps the pieces of one not yet whole at the end), goes to cb,
 * and each frame or piece refused, with its error. The callback must not
 * touch a. Never fails: what it could not take is reported to cb. */
ens_walk ens__frame_walk(const uint8_t *buf, size_t len, uint32_t limit, ens_frag_asm *a,
                         ens_framed_cb cb, void *arg);

/* The bytes of a stream kept between reads: the start of a frame whose
 * rest has not come yet (readers that walk a shared read buffer and keep
 * only what is left over per connection). Zeroed: empty. */
typedef struct ens_carry {
    uint8_t *buf;
    size_t len, cap;
} ens_carry;

/* The bytes to walk after a read of *len bytes at *data: those bytes
 * themselves, or, when c holds the start of a frame, c's bytes with the
 * read appended (*data and *len then point at c). false: out of memory
 * (c is unchanged; the stream cannot go on). */
bool ens__carry_join(ens_carry *c, const uint8_t **data, size_t *len);

/* A walk of (data, len), as ens__carry_join gave them, used `used` bytes:
 * keep the rest in c. false: out of memory (the stream cannot go on). A
 * buffer grown past keep_cap is freed once nothing is left in it. */
bool ens__carry_rest(ens_carry *c, const uint8_t *data, size_t len, size_t used, size_t keep_cap);

/* Free what c holds; c is empty again. */
void ens__carry_free(ens_carry *c);

#endif

/*
 * core/wire/frag.h - frames larger than a look at a connection travel in pieces.
 * Internal.
 *
 * A receiving actor takes frames from its connections only whole, after
 * looking at them (core/process/proc_actor.c); a look sees at most 64 KiB. So a
 * frame above ENS_FRAG_CHUNK is sent as a run of fragment frames, each a
 * whole small frame with its own sequence number: header flags
 * ENS_FRAME_FRAGMENT, type id 0, target and sender of the original, payload
 * = u64le total length of the original frame, u64le offset, then the bytes.
 * Fragments of one frame are consecutive on their connection, in order.
 * A piece may be larger than a look (up to ENS_FRAG_CHUNK_MAX bytes): its
 * reader takes it by its head (the first 80 bytes).
 */
#ifndef ENS_CORE_FRAG_H
#define ENS_CORE_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wire/frame.h"

/* Original bytes per fragment. A receiver takes a piece only once it is
 * whole in the kernel, and an AF_UNIX sender may write only while less than
 * a quarter of its send buffer is queued (unix_writable): a piece larger
 * than that could stall half-queued with its sender waiting for room. So a
 * sender sizes its pieces from its connection's send buffer
 * (ens__frag_chunk_for); ENS_FRAG_CHUNK fits the default buffer (212 992
 * bytes) and is what a sender uses when it cannot tell. Readers accept
 * pieces of up to ENS_FRAG_CHUNK_MAX bytes. */
#define ENS_FRAG_CHUNK     32768u
#define ENS_FRAG_CHUNK_MAX 262144u
#define ENS_FRAG_HEAD      16u /* total + offset, before the bytes */

/* The piece size for a connection whose send buffer is sndbuf bytes (as
 * SO_SNDBUF reads): a quarter of it less an eighth for the kernel's
 * per-buffer overhead, in whole 4 KiB, between ENS_FRAG_CHUNK and
 * ENS_FRAG_CHUNK_MAX. */
size_t ens__frag_chunk_for(long sndbuf);

/* Write the head of piece `index` (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD
 * bytes) of a frame of len bytes cut in pieces of chunk bytes, whose header
 * is orig, with sequence number seq, into out; returns the bytes of the
 * frame that piece carries. */
size_t ens__frag_head(uint8_t *out, const ens_frame_hdr *orig, size_t len, size_t chunk,
                      size_t index, uint32_t seq);

/* The number of pieces of chunk bytes a frame of len bytes (> chunk)
 * travels in. */
static inline size_t ens__frag_pieces_of(size_t len, size_t chunk)
{
    return (len + chunk - 1) / chunk;
}

/* The same with pieces of ENS_FRAG_CHUNK. */
static inline size_t ens__frag_pieces(size_t len)
{
    return ens__frag_pieces_of(len, ENS_FRAG_CHUNK);
}

/* Append frame (borrowed, len bytes, header already written) to the
 * growing buffer *buf (len *blen, capacity *cap; realloc'ed), whole or as
 * fragments of ENS_FRAG_CHUNK, stamping each piece with the next sequence
 * number from *seq. Returns 0 or ENS_ENOMEM (the buffer is then
 * unchanged). */
int ens__frag_append(uint8_t **buf, size_t *blen, size_t *cap, const uint8_t *frame, size_t len,
                     uint32_t *seq);

/* ens__frag_append with pieces of chunk bytes (ENS_FRAG_CHUNK to
 * ENS_FRAG_CHUNK_MAX): a frame of up to chunk bytes goes whole only up to
 * ENS_FRAG_CHUNK (what a reader's look takes whole). */
int ens__frag_append_sized(uint8_t **buf, size_t *blen, size_t *cap, const uint8_t *frame,
                           size_t len, size_t chunk, uint32_t *seq);

/* The fields of a fragment frame of flen bytes (only its first
 * ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD need be there; *bytes points after
 * them): false unless its header passes ens__frame_hdr_read (flen its
 * length), it is a fragment, total is at least a header and at most
 * max_frame, and its 1 to ENS_FRAG_CHUNK_MAX bytes lie within total from
 * offset. The one check of a piece's fields: every reader uses it
 * (core/wire/framing.h). */
bool ens__frag_parse(const uint8_t *frag, size_t flen, uint32_t max_frame, uint64_t *total,
                     uint64_t *offset, const uint8_t **bytes, size_t *n);

/* True if the frame at p (at least 64 bytes) is a fragment. */
bool ens__frag_is(const uint8_t *p);

/* True if the fragment (whole, parsable) is the last piece of its frame. */
bool ens__frag_is_last(const uint8_t *frag, size_t flen);

/* Puts a frame together from its fragments, for the places that see them
 * in a byte stream (the outside program, dead letters). */
typedef struct ens_frag_asm {
    uint8_t *buf;
    uint64_t total, have;
    uint32_t seq; /* the sequence number of the last piece taken; 0: not known */
} ens_frag_asm;

/* Feed one fragment (flen bytes, whole). A first piece (offset 0) starts a
 * frame afresh, dropping any partial one; any other must continue the
 * frame being put together: the same total, its offset where the bytes
 * so far end, and (when the last one's is known) the next sequence number,
 * as a sender's pieces are consecutive on their connection. The last
 * piece taken, met again (a reader that crashed between taking it and
 * moving past it, core/process/proc_actor.c), is ignored. Returns 1 with
 * *frame (malloc'ed, owned by the caller) when it completes a frame, 0
 * when more are needed, ENS_EBADFRAME when ens__frag_parse refuses it or
 * it does not continue the frame (the partial frame is dropped),
 * ENS_ENOMEM. */
int ens__frag_feed(ens_frag_asm *a, const uint8_t *frag, size_t flen, uint32_t max_frame,
                   uint8_t **frame, size_t *len);

/* Where the bytes of one piece go in the frame being put together. */
typedef struct ens_frag_place {
    uint8_t *to; /* inside a->buf */
    size_t n;    /* the piece's bytes */
    uint32_t seq;
} ens_frag_place;

/* ens__frag_feed in two steps, for a reader that receives a piece's bytes
 * straight into the frame being put together rather than copying them:
 * begin needs only the piece's head (frag[0..flen) with flen its length on
 * the wire; the bytes after the head are not read) and applies feed's
 * rules. Returns 1 with *pl (the caller then puts pl->n bytes at pl->to
 * and calls ens__frag_commit), 0 for the last piece once more (skip its
 * bytes), ENS_EBADFRAME (the partial frame is dropped), ENS_ENOMEM. */
int ens__frag_begin(ens_frag_asm *a, const uint8_t *frag, size_t flen, uint32_t max_frame,
                    ens_frag_place *pl);

/* The bytes of the piece begun with *pl are in place: returns 1 with
 * *frame (malloc'ed, owned by the caller) when that completes the frame,
 * else 0. */
int ens__frag_commit(ens_frag_asm *a, const ens_frag_place *pl, uint8_t **frame, size_t *len);

/* Free a partial frame. */
void ens__frag_reset(ens_frag_asm *a);

#endif

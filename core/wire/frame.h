/*
 * core/wire/frame.h - the frame header that wraps every message on every base and
 * on every wire (processes now, hosts later). Internal.
 *
 * Layout (64 bytes, every field little-endian):
 *   off len field
 *     0   4 magic "ENS1"
 *     4   1 version = 1
 *     5   1 header length in 8-byte words = 8
 *     6   2 flags (ENS_FRAME_*); unknown bits are rejected
 *     8   4 payload length: bytes that follow the header (one tpl image,
 *            or with FIXED the fields of a fixed-layout type, see codec.h)
 *    12   4 message type id
 *    16  16 target address (id u64, node u32, spare u32)
 *    32  16 sender address (the original sender when FORWARDED)
 *    48   8 correlation id (0 = none)
 *    56   2 attempt (1 = first delivery)
 *    58   2 error code, int16 (replies with ERROR set; else 0)
 *    60   4 sequence number of the frame on its connection (0 = none): the
 *            receiver's way to tell, after a crash, what it already took
 *    64   . payload
 * The header is read and checked here without tpl; only core/wire/codec.c runs
 * tpl, on the payload, after the header passed.
 */
#ifndef ENS_CORE_FRAME_H
#define ENS_CORE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ensemble/addr.h"

#define ENS_FRAME_HEADER_LEN 64u
#define ENS_FRAME_VERSION    1u
#define ENS_FRAME_MIN_LIMIT  4096u /* smallest acceptable max_frame_bytes */

enum ens_frame_flag {
    ENS_FRAME_REQUEST = 1u << 0,   /* a reply is awaited under corr */
    ENS_FRAME_REPLY = 1u << 1,     /* answers the request with corr */
    ENS_FRAME_SYSTEM = 1u << 2,    /* a system message (never poisoned) */
    ENS_FRAME_FORWARDED = 1u << 3, /* sender is the original sender */
    ENS_FRAME_ERROR = 1u << 4,     /* an error reply: error holds the code */
    ENS_FRAME_FRAGMENT = 1u << 5,  /* a piece of a larger frame (core/wire/frag.h) */
    ENS_FRAME_CAST = 1u << 6,      /* sent with ens_cast */
    ENS_FRAME_FIXED = 1u << 7,     /* fixed-layout payload, not tpl (core/wire/codec.h) */
    ENS_FRAME_BLOB = 1u << 8,      /* the payload is a one-blob value's bytes (core/wire/codec.h) */
};
#define ENS_FRAME_FLAGS_KNOWN 0x1FFu
/* The flags that say how the payload is encoded. */
#define ENS_FRAME_ENCODING (ENS_FRAME_FIXED | ENS_FRAME_BLOB)

typedef struct ens_frame_hdr {
    uint16_t flags;
    uint32_t payload_len;
    uint32_t type_id;
    ens_addr target;
    ens_addr sender;
    uint64_t corr;
    uint16_t attempt;
    int16_t error;
    uint32_t seq; /* per-connection sequence, set when the frame is queued */
} ens_frame_hdr;

/* Stamp the sequence number into an encoded frame's header. */
void ens__frame_set_seq(uint8_t *frame, uint32_t seq);

/* The sequence number of an encoded frame (at least 64 bytes). */
uint32_t ens__frame_seq(const uint8_t *frame);

/* The sender field of a header (at least 64 bytes), unchecked: for naming
 * the sender of a frame that will never be whole. */
ens_addr ens__frame_sender(const uint8_t *frame);

/* Write h as 64 header bytes into out (borrowed). */
void ens__frame_hdr_write(const ens_frame_hdr *h, uint8_t out[ENS_FRAME_HEADER_LEN]);

/* Read and check the header at buf[0..len): len >= 64, magic, version,
 * header length, no unknown flag bits, reserved bytes zero, attempt >= 1,
 * spare address fields 0, header + payload_len <= max_frame (total frame
 * limit) and == len (the frame must be exactly len bytes). On success
 * fills *h and returns 0. Errors: ENS_EBADFRAME (any check above except the
 * limit), ENS_EMSGSIZE (header + payload_len > max_frame). */
int ens__frame_hdr_read(const uint8_t *buf, size_t len, uint32_t max_frame, ens_frame_hdr *h);

/* Peek at the total frame length announced by the header at buf (which must
 * hold at least 64 bytes) without other checks: 64 + payload_len. For
 * stream readers that must know how much to read before ens__frame_hdr_read. */
uint64_t ens__frame_total_len(const uint8_t buf[ENS_FRAME_HEADER_LEN]);

/* True if buf (at least 64 bytes) starts like a frame header: magic,
 * version and header length. A stream reader that finds otherwise has lost
 * the frame boundaries (the length field cannot be trusted either). */
bool ens__frame_is_head(const uint8_t buf[ENS_FRAME_HEADER_LEN]);

#endif

/*
 * core/wire/frame.c - write and check the 64-byte frame header (see frame.h).
 *
 * Every field is stored little-endian byte by byte, so a frame means the
 * same on any host. Reading checks everything the header can get wrong
 * before anyone looks at the payload: the runtime routes frames on the
 * header alone, and only the codec, later, hands the payload to tpl.
 */
#include "core/wire/frame.h"

#include <string.h>

#include "ensemble/error.h"

static const uint8_t frame_magic[4] = {'E', 'N', 'S', '1'};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_addr(uint8_t *p, ens_addr a)
{
    put64(p, a.id);
    put32(p + 8, a.node);
    put32(p + 12, a.spare);
}

static ens_addr get_addr(const uint8_t *p)
{
    ens_addr a;
    a.id = get64(p);
    a.node = get32(p + 8);
    a.spare = get32(p + 12);
    return a;
}

void ens__frame_hdr_write(const ens_frame_hdr *h, uint8_t out[ENS_FRAME_HEADER_LEN])
{
    memcpy(out, frame_magic, 4);
    out[4] = ENS_FRAME_VERSION;
    out[5] = ENS_FRAME_HEADER_LEN / 8;
    put16(out + 6, h->flags);
    put32(out + 8, h->payload_len);
    put32(out + 12, h->type_id);
    put_addr(out + 16, h->target);
    put_addr(out + 32, h->sender);
    put64(out + 48, h->corr);
    put16(out + 56, h->attempt);
    put16(out + 58, (uint16_t)h->error);
    put32(out + 60, h->seq);
}

bool ens__frame_is_head(const uint8_t buf[ENS_FRAME_HEADER_LEN])
{
    return memcmp(buf, frame_magic, 4) == 0 && buf[4] == ENS_FRAME_VERSION &&
           buf[5] == ENS_FRAME_HEADER_LEN / 8;
}

int ens__frame_hdr_read(const uint8_t *buf, size_t len, uint32_t max_frame, ens_frame_hdr *h)
{
    if (!buf || !h || len < ENS_FRAME_HEADER_LEN || !ens__frame_is_head(buf))
        return ENS_EBADFRAME;
    ens_frame_hdr r;
    r.flags = get16(buf + 6);
    if (r.flags & ~ENS_FRAME_FLAGS_KNOWN)
        return ENS_EBADFRAME;
    r.payload_len = get32(buf + 8);
    r.type_id = get32(buf + 12);
    r.target = get_addr(buf + 16);
    r.sender = get_addr(buf + 32);
    r.corr = get64(buf + 48);
    r.attempt = get16(buf + 56);
    r.error = (int16_t)get16(buf + 58);
    r.seq = get32(buf + 60);
    if (r.attempt == 0 || r.target.spare != 0 || r.sender.spare != 0)
        return ENS_EBADFRAME;
    uint64_t total = (uint64_t)ENS_FRAME_HEADER_LEN + r.payload_len;
    if (total > max_frame)
        return ENS_EMSGSIZE;
    if (total != len)
        return ENS_EBADFRAME;
    *h = r;
    return 0;
}

uint64_t ens__frame_total_len(const uint8_t buf[ENS_FRAME_HEADER_LEN])
{
    return (uint64_t)ENS_FRAME_HEADER_LEN + get32(buf + 8);
}

void ens__frame_set_seq(uint8_t *frame, uint32_t seq)
{
    put32(frame + 60, seq);
}

uint32_t ens__frame_seq(const uint8_t *frame)
{
    return get32(frame + 60);
}

ens_addr ens__frame_sender(const uint8_t *frame)
{
    return get_addr(frame + 32);
}

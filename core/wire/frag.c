/*
 * core/wire/frag.c - fragment frames: cutting a large frame into pieces that a
 * receiver can look at whole, and putting them together again.
 */
#include <stdlib.h>
#include <string.h>

#include "core/wire/frag.h"
#include "ensemble/error.h"

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *n = realloc(*buf, c);
    if (n == NULL)
        return ENS_ENOMEM;
    *buf = n;
    *cap = c;
    return 0;
}

size_t ens__frag_chunk_for(long sndbuf)
{
    if (sndbuf <= 0)
        return ENS_FRAG_CHUNK;
    size_t c = ((size_t)sndbuf / 4 - (size_t)sndbuf / 32) & ~(size_t)4095;
    return c < ENS_FRAG_CHUNK ? ENS_FRAG_CHUNK : c > ENS_FRAG_CHUNK_MAX ? ENS_FRAG_CHUNK_MAX : c;
}

int ens__frag_append(uint8_t **buf, size_t *blen, size_t *cap, const uint8_t *frame, size_t len,
                     uint32_t *seq)
{
    return ens__frag_append_sized(buf, blen, cap, frame, len, ENS_FRAG_CHUNK, seq);
}

int ens__frag_append_sized(uint8_t **buf, size_t *blen, size_t *cap, const uint8_t *frame,
                           size_t len, size_t chunk, uint32_t *seq)
{
    if (len <= ENS_FRAG_CHUNK) {
        if (reserve(buf, cap, *blen + len) < 0)
            return ENS_ENOMEM;
        memcpy(*buf + *blen, frame, len);
        ens__frame_set_seq(*buf + *blen, ++*seq);
        *blen += len;
        return 0;
    }
    size_t pieces = ens__frag_pieces_of(len, chunk);
    if (reserve(buf, cap, *blen + len + pieces * (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD)) < 0)
        return ENS_ENOMEM;
    ens_frame_hdr orig;
    /* The original's header was checked when it was built: read it without
     * a length check (its length is len). */
    if (ens__frame_hdr_read(frame, len, UINT32_MAX, &orig) < 0)
        return ENS_EINVAL;
    for (size_t k = 0; k < pieces; k++) {
        uint8_t *p = *buf + *blen;
        size_t n = ens__frag_head(p, &orig, len, chunk, k, ++*seq);
        memcpy(p + ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD, frame + k * chunk, n);
        *blen += ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD + n;
    }
    return 0;
}

size_t ens__frag_head(uint8_t *out, const ens_frame_hdr *orig, size_t len, size_t chunk,
                      size_t index, uint32_t seq)
{
    size_t off = index * chunk;
    size_t n = len - off < chunk ? len - off : chunk;
    ens_frame_hdr h = {
        .flags = ENS_FRAME_FRAGMENT,
        .payload_len = (uint32_t)(ENS_FRAG_HEAD + n),
        .type_id = 0,
        .target = orig->target,
        .sender = orig->sender,
        .attempt = 1,
        .seq = seq,
    };
    ens__frame_hdr_write(&h, out);
    put64(out + ENS_FRAME_HEADER_LEN, len);
    put64(out + ENS_FRAME_HEADER_LEN + 8, off);
    return n;
}

bool ens__frag_is(const uint8_t *p)
{
    return (p[6] | (p[7] << 8)) & ENS_FRAME_FRAGMENT;
}

bool ens__frag_parse(const uint8_t *frag, size_t flen, uint32_t max_frame, uint64_t *total,
                     uint64_t *offset, const uint8_t **bytes, size_t *n)
{
    ens_frame_hdr h;
    if (flen < ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD || !ens__frag_is(frag) ||
        ens__frame_hdr_read(frag, flen, UINT32_MAX, &h) < 0)
        return false;
    *total = get64(frag + ENS_FRAME_HEADER_LEN);
    *offset = get64(frag + ENS_FRAME_HEADER_LEN + 8);
    *bytes = frag + ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD;
    *n = flen - ENS_FRAME_HEADER_LEN - ENS_FRAG_HEAD;
    return *total >= ENS_FRAME_HEADER_LEN && *total <= max_frame && *offset <= *total && *n > 0 &&
           *n <= ENS_FRAG_CHUNK_MAX && *n <= *total - *offset;
}

bool ens__frag_is_last(const uint8_t *frag, size_t flen)
{
    uint64_t total, offset;
    const uint8_t *bytes;
    size_t n;
    return ens__frag_parse(frag, flen, UINT32_MAX, &total, &offset, &bytes, &n) &&
           offset + n == total;
}

void ens__frag_reset(ens_frag_asm *a)
{
    free(a->buf);
    *a = (ens_frag_asm){NULL, 0, 0, 0};
}

int ens__frag_begin(ens_frag_asm *a, const uint8_t *frag, size_t flen, uint32_t max_frame,
                    ens_frag_place *pl)
{
    uint64_t total, offset;
    const uint8_t *bytes;
    size_t n;
    if (flen < ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD ||
        !ens__frag_parse(frag, flen, max_frame, &total, &offset, &bytes, &n)) {
        ens__frag_reset(a);
        return ENS_EBADFRAME;
    }
    const uint32_t seq = ens__frame_seq(frag);
    if (offset == 0) {
        ens__frag_reset(a);
        a->buf = malloc(total);
        if (a->buf == NULL)
            return ENS_ENOMEM;
        a->total = total;
    } else if (a->buf != NULL && a->total == total && offset + n == a->have &&
               (a->seq == 0 || seq == a->seq)) {
        return 0; /* the last piece once more */
    } else if (a->buf == NULL || a->total != total || a->have != offset ||
               (a->seq != 0 && seq != (uint32_t)(a->seq + 1))) {
        ens__frag_reset(a);
        return ENS_EBADFRAME;
    }
    *pl = (ens_frag_place){a->buf + offset, n, seq};
    return 1;
}

int ens__frag_commit(ens_frag_asm *a, const ens_frag_place *pl, uint8_t **frame, size_t *len)
{
    a->have = (uint64_t)(pl->to - a->buf) + pl->n;
    a->seq = pl->seq;
    if (a->have < a->total)
        return 0;
    *frame = a->buf;
    *len = a->total;
    *a = (ens_frag_asm){NULL, 0, 0, 0};
    return 1;
}

int ens__frag_feed(ens_frag_asm *a, const uint8_t *frag, size_t flen, uint32_t max_frame,
                   uint8_t **frame, size_t *len)
{
    ens_frag_place pl;
    int rc = ens__frag_begin(a, frag, flen, max_frame, &pl);
    if (rc != 1)
        return rc;
    memcpy(pl.to, frag + ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD, pl.n);
    return ens__frag_commit(a, &pl, frame, len);
}

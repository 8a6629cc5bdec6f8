/*
 * core/wire/framing.c - walking the frames of a byte stream (see framing.h):
 * one set of checks for every reader, and the walk that puts frames in
 * pieces together for the readers that see them in a buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "core/wire/arena.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

int ens__wire_head(const uint8_t *buf, size_t avail, uint32_t limit, ens_wire_item *it)
{
    if (avail < ENS_FRAME_HEADER_LEN)
        return 0;
    /* Past a header that is not one, or one announcing a length no sender
     * writes, nothing tells where the next frame starts. */
    if (!ens__frame_is_head(buf))
        return ENS_EBADFRAME;
    const uint64_t len = ens__frame_total_len(buf);
    const bool piece = ens__frag_is(buf);
    if (len > (piece ? ENS_WIRE_PIECE_MAX : ENS_WIRE_WHOLE_MAX))
        return ENS_EBADFRAME;
    const size_t head = piece && len >= ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD
                            ? ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD
                            : ENS_FRAME_HEADER_LEN;
    if (avail < head)
        return 0;
    *it = (ens_wire_item){.at = buf, .len = (size_t)len, .piece = piece};
    if (piece) {
        if (!ens__frag_parse(buf, (size_t)len, limit, &it->total, &it->offset, &it->bytes,
                             &it->n)) {
            it->err = ENS_EBADFRAME;
            it->total = it->offset = 0;
            it->bytes = NULL;
            it->n = 0;
        }
    } else {
        ens_frame_hdr h;
        it->err = ens__frame_hdr_read(buf, (size_t)len, limit, &h);
    }
    return 1;
}

int ens__wire_next(const uint8_t *buf, size_t avail, uint32_t limit, ens_wire_item *it)
{
    ens_wire_item found;
    int rc = ens__wire_head(buf, avail, limit, &found);
    if (rc != 1)
        return rc;
    if (found.len > avail)
        return 0;
    *it = found;
    return 1;
}

ens_walk ens__frame_walk(const uint8_t *buf, size_t len, uint32_t limit, ens_frag_asm *a,
                         ens_framed_cb cb, void *arg)
{
    ens_walk w = {0, false};
    ens_wire_item it;
    int rc;
    while ((rc = ens__wire_next(buf + w.used, len - w.used, limit, &it)) == 1) {
        w.used += it.len;
        ens_framed f = {it.at, it.len, it.err, NULL};
        if (it.piece) {
            /* The feed checks the piece as ens__wire_next did (one parser):
             * a refused piece also drops the frame being put together. */
            uint8_t *whole = NULL;
            size_t wlen = 0;
            int r = ens__frag_feed(a, it.at, it.len, limit, &whole, &wlen);
            if (r == 0)
                continue;
            if (r == 1) {
                ens_frame_hdr h;
                f = (ens_framed){whole, wlen, ens__frame_hdr_read(whole, wlen, limit, &h), NULL};
                if (f.err == 0)
                    f.heap = whole;
            } else {
                f.err = r;
            }
            cb(arg, &f);
            free(r == 1 && f.err != 0 ? whole : f.heap);
            continue;
        }
        cb(arg, &f);
    }
    w.lost = rc < 0;
    return w;
}

static bool carry_append(ens_carry *c, const uint8_t *bytes, size_t n)
{
    if (c->cap - c->len < n) {
        size_t cap = c->len + n;
        uint8_t *b = ens__realloc(c->buf, cap);
        if (b == NULL)
            return false;
        c->buf = b;
        c->cap = cap;
    }
    memmove(c->buf + c->len, bytes, n);
    c->len += n;
    return true;
}

bool ens__carry_join(ens_carry *c, const uint8_t **data, size_t *len)
{
    if (c->len == 0)
        return true;
    if (!carry_append(c, *data, *len))
        return false;
    *data = c->buf;
    *len = c->len;
    return true;
}

bool ens__carry_rest(ens_carry *c, const uint8_t *data, size_t len, size_t used, size_t keep_cap)
{
    if (data == c->buf) {
        memmove(c->buf, c->buf + used, len - used);
        c->len = len - used;
    } else if (used < len && !carry_append(c, data + used, len - used)) {
        return false;
    }
    if (c->len == 0 && c->cap > keep_cap)
        ens__carry_free(c);
    return true;
}

void ens__carry_free(ens_carry *c)
{
    free(c->buf);
    *c = (ens_carry){0};
}

/*
 * core/process/gateway/gateway_batch.c - several frames for one node in one
 * NATS message (gateway_batch.h): building on the sending side, the strict
 * check on the receiving side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/gateway/gateway_batch.h"
#include "core/wire/arena.h"
#include "core/wire/frame.h"
#include "ensemble/error.h"

static const uint8_t magic[4] = {'E', 'N', 'S', 'B'};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t ens__gw_batch_size_with(const ens_gw_batch *b, size_t len)
{
    if (b->count == 0)
        return len;
    return b->len + ENS_GW_BATCH_ENTRY + len;
}

int ens__gw_batch_add(ens_gw_batch *b, const uint8_t *frame, size_t len)
{
    if (len > UINT32_MAX)
        return ENS_EMSGSIZE;
    size_t start = b->count == 0 ? ENS_GW_BATCH_HEAD : b->len;
    size_t need = start + ENS_GW_BATCH_ENTRY + len;
    if (need > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = ens__realloc(b->buf, cap);
        if (nb == NULL)
            return ENS_ENOMEM;
        b->buf = nb;
        b->cap = cap;
    }
    put32(b->buf + start, (uint32_t)len);
    memcpy(b->buf + start + ENS_GW_BATCH_ENTRY, frame, len);
    b->len = need;
    b->count++;
    return 0;
}

void ens__gw_batch_out(ens_gw_batch *b, const uint8_t **data, size_t *len)
{
    if (b->count == 1) {
        *data = b->buf + ENS_GW_BATCH_HEAD + ENS_GW_BATCH_ENTRY;
        *len = b->len - ENS_GW_BATCH_HEAD - ENS_GW_BATCH_ENTRY;
        return;
    }
    memcpy(b->buf, magic, sizeof(magic));
    b->buf[4] = ENS_GW_BATCH_VERSION;
    b->buf[5] = b->buf[6] = b->buf[7] = 0;
    put32(b->buf + 8, b->count);
    *data = b->buf;
    *len = b->len;
}

void ens__gw_batch_each(const ens_gw_batch *b, void (*each)(void *, const uint8_t *, size_t),
                        void *arg)
{
    size_t off = ENS_GW_BATCH_HEAD;
    for (uint32_t i = 0; i < b->count; i++) {
        size_t len = get32(b->buf + off);
        each(arg, b->buf + off + ENS_GW_BATCH_ENTRY, len);
        off += ENS_GW_BATCH_ENTRY + len;
    }
}

void ens__gw_batch_clear(ens_gw_batch *b)
{
    b->count = 0;
    b->len = 0;
}

void ens__gw_batch_free(ens_gw_batch *b)
{
    free(b->buf);
    *b = (ens_gw_batch){0};
}

bool ens__gw_batch_is(const uint8_t *data, size_t len)
{
    return len >= sizeof(magic) && memcmp(data, magic, sizeof(magic)) == 0;
}

int ens__gw_batch_check(const uint8_t *data, size_t len, char *why, size_t why_len)
{
    if (len < ENS_GW_BATCH_HEAD || !ens__gw_batch_is(data, len)) {
        snprintf(why, why_len, "a batch shorter than its head (%zu bytes)", len);
        return ENS_EBADFRAME;
    }
    if (data[4] != ENS_GW_BATCH_VERSION || data[5] != 0 || data[6] != 0 || data[7] != 0) {
        snprintf(why, why_len, "a batch of an unknown version (%u) or with stray head bytes",
                 data[4]);
        return ENS_EBADFRAME;
    }
    uint32_t count = get32(data + 8);
    size_t most = (len - ENS_GW_BATCH_HEAD) / (ENS_GW_BATCH_ENTRY + ENS_FRAME_HEADER_LEN);
    if (count < 2 || count > most) {
        snprintf(why, why_len, "a batch that says %u frames in %zu bytes", count, len);
        return ENS_EBADFRAME;
    }
    size_t off = ENS_GW_BATCH_HEAD;
    for (uint32_t i = 0; i < count; i++) {
        if (len - off < ENS_GW_BATCH_ENTRY) {
            snprintf(why, why_len, "a batch cut short before frame %u of %u", i + 1, count);
            return ENS_EBADFRAME;
        }
        uint32_t n = get32(data + off);
        off += ENS_GW_BATCH_ENTRY;
        if (n < ENS_FRAME_HEADER_LEN) {
            snprintf(why, why_len, "a batch entry %u of %u bytes (less than a frame header)", i + 1,
                     n);
            return ENS_EBADFRAME;
        }
        if (n > len - off) {
            snprintf(why, why_len,
                     "a batch entry %u of %u bytes where %zu are left (a length past the end)",
                     i + 1, n, len - off);
            return ENS_EBADFRAME;
        }
        off += n;
    }
    if (off != len) {
        snprintf(why, why_len, "%zu bytes after the last frame of a batch", len - off);
        return ENS_EBADFRAME;
    }
    return 0;
}

bool ens__gw_batch_next(const uint8_t *data, size_t len, size_t *off, const uint8_t **frame,
                        size_t *frame_len)
{
    if (*off + ENS_GW_BATCH_ENTRY > len)
        return false;
    size_t n = get32(data + *off);
    *frame = data + *off + ENS_GW_BATCH_ENTRY;
    *frame_len = n;
    *off += ENS_GW_BATCH_ENTRY + n;
    return true;
}

/*
 * core/capbuf.c - a byte buffer with a ceiling (see core/capbuf.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/capbuf.h"

void ens__capbuf_keep(ens_capbuf *b, const uint8_t *p, size_t n)
{
    size_t room = b->max - b->len;
    size_t take = n < room ? n : room;
    if (n > take)
        b->truncated = true;
    if (take == 0)
        return;
    if (b->len + take > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + take)
            cap *= 2;
        if (cap > b->max)
            cap = b->max;
        uint8_t *nb = realloc(b->buf, cap);
        if (nb == NULL) {
            b->truncated = true; /* out of memory: keep what we have */
            return;
        }
        b->buf = nb;
        b->cap = (uint32_t)cap;
    }
    memcpy(b->buf + b->len, p, take);
    b->len += (uint32_t)take;
}

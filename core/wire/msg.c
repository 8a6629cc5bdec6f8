/*
 * core/wire/msg.c - the message object (see msg_internal.h) and the public
 * accessors of ensemble/msg.h.
 *
 * A message is its frame (owned) plus the value decoded from it into an
 * arena; freeing a message is three frees whatever the value holds. The
 * runtime queues frames and builds a message only on delivery; copies
 * (ens_msg_dup) are made by decoding a copy of the frame again, so they
 * share nothing with the original.
 */
#include "core/wire/msg_internal.h"
#include "core/wire/why.h"

#include <stdlib.h>
#include <string.h>

#include "core/wire/codec.h"
#include "ensemble/error.h"

/* Frame limit for the original inside a poison or dead envelope. */
#define ORIGINAL_MAX_FRAME (16u << 20)

/* The message of frame; with owned, the frame is freed on error and by
 * ens_msg_free. */
static int msg_build(uint8_t *frame, size_t len, uint32_t max_frame, bool owned, ens_msg **out)
{
    ens_frame_hdr h;
    int rc = out ? ens__frame_hdr_read(frame, len, max_frame, &h) : ENS_EINVAL;
    const ens_typeinfo *info = rc == 0 ? ens__typeinfo_by_id(h.type_id) : NULL;
    if (rc == 0 && info == NULL)
        rc = ENS_EBADTYPE;
    ens_msg *m = rc == 0 ? ens__malloc(sizeof *m) : NULL;
    ens_arena *a = m != NULL ? ens__arena_new() : NULL;
    if (rc == 0 && a == NULL)
        rc = ENS_ENOMEM;
    void *value = NULL;
    if (rc == 0)
        rc = ens__codec_decode(info, h.flags, frame + ENS_FRAME_HEADER_LEN, h.payload_len, a,
                               &value);
    if (rc != 0) {
        ens__arena_free(a);
        free(m);
        if (owned)
            free(frame);
        return rc;
    }
    m->hdr = h;
    m->info = info;
    m->frame = frame;
    m->frame_len = len;
    m->frame_borrowed = !owned;
    m->arena = a;
    m->value = value;
    m->original = NULL;
    m->copied = false;
    *out = m;
    return 0;
}

int ens__msg_from_frame(uint8_t *frame, size_t len, uint32_t max_frame, ens_msg **out)
{
    return msg_build(frame, len, max_frame, true, out);
}

int ens__msg_from_borrowed(const uint8_t *frame, size_t len, uint32_t max_frame, ens_msg **out)
{
    return msg_build((uint8_t *)frame, len, max_frame, false, out);
}

int ens__frame_build(const ens_msgtype *t, const void *v, const ens_frame_hdr *h,
                     uint32_t max_frame, uint8_t **out, size_t *out_len)
{
    if (!t || !h || !out || !out_len)
        return ENS_EINVAL;
    const ens_typeinfo *info = ens__typeinfo_of(t);
    if (!info)
        return ens__fail(ENS_EBADTYPE, "the message type %.64s is not registered",
                         t->name != NULL ? t->name : "(unnamed)");
    int rc = ens__codec_encode(info, v, h, max_frame, out, out_len);
    if (rc == ENS_EINVAL)
        ens__errmsg_set("a value of %.64s cannot be encoded with its format %.64s (a NULL pointer "
                        "with a length, more items than its limit, or an address whose spare "
                        "is not 0)",
                        t->name != NULL ? t->name : "(unnamed)",
                        t->format != NULL ? t->format : "");
    return rc;
}

int ens__frame_rebuild(const ens_msg *m, const ens_frame_hdr *h, uint8_t **out, size_t *out_len)
{
    if (!m || !h || !out || !out_len)
        return ENS_EINVAL;
    uint8_t *f = ens__malloc(m->frame_len);
    if (!f)
        return ENS_ENOMEM;
    memcpy(f, m->frame, m->frame_len);
    ens_frame_hdr nh = m->hdr;
    nh.target = h->target;
    nh.sender = h->sender;
    /* the payload is unchanged: keep its encoding flag */
    nh.flags = (uint16_t)((h->flags & ~ENS_FRAME_ENCODING) | (m->hdr.flags & ENS_FRAME_ENCODING));
    nh.corr = h->corr;
    nh.attempt = h->attempt;
    ens__frame_hdr_write(&nh, f);
    *out = f;
    *out_len = m->frame_len;
    return 0;
}

const ens_msgtype *ens_msg_type(const ens_msg *m)
{
    return m && m->info ? m->info->type : NULL;
}

uint32_t ens_msg_type_id(const ens_msg *m)
{
    return m ? m->hdr.type_id : 0;
}

const void *ens_msg_value(const ens_msg *m, const ens_msgtype *want)
{
    if (!m || !want || !m->value || want->id == 0 || want->id != m->hdr.type_id)
        return NULL;
    return m->value;
}

ens_addr ens_msg_sender(const ens_msg *m)
{
    return m ? m->hdr.sender : ENS_ADDR_NONE;
}

ens_addr ens_msg_target(const ens_msg *m)
{
    return m ? m->hdr.target : ENS_ADDR_NONE;
}

#define ENS_MSG_CODEC_LIMIT (1u << 30)

int ens_msg_encode(const ens_msgtype *t, const void *v, uint8_t **out, size_t *len)
{
    ens__errmsg_clear();
    if (t == NULL || out == NULL || len == NULL)
        return ens__fail(ENS_EINVAL, "ens_msg_encode: %s is NULL",
                         t == NULL     ? "t"
                         : out == NULL ? "out"
                                       : "len");
    ens_frame_hdr h = {.attempt = 1};
    return ens__frame_build(t, v, &h, ENS_MSG_CODEC_LIMIT, out, len);
}

int ens_msg_decode(const void *data, size_t len, ens_msg **out)
{
    ens__errmsg_clear();
    if (data == NULL || out == NULL)
        return ens__fail(ENS_EINVAL, "ens_msg_decode: %s is NULL", data == NULL ? "data" : "out");
    uint8_t *copy = ens__malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return ENS_ENOMEM;
    memcpy(copy, data, len);
    return ens__msg_from_frame(copy, len, ENS_MSG_CODEC_LIMIT, out);
}

bool ens_msg_is_request(const ens_msg *m)
{
    return m != NULL && (m->hdr.flags & ENS_FRAME_REQUEST) && m->hdr.corr != 0;
}

bool ens_msg_is_cast(const ens_msg *m)
{
    return m != NULL && (m->hdr.flags & ENS_FRAME_CAST);
}

bool ens_msg_is_system(const ens_msg *m)
{
    return m != NULL && (m->hdr.flags & ENS_FRAME_SYSTEM);
}

int ens_msg_error(const ens_msg *m)
{
    return m != NULL && (m->hdr.flags & ENS_FRAME_ERROR) ? m->hdr.error : 0;
}

uint32_t ens_msg_attempt(const ens_msg *m)
{
    return m ? m->hdr.attempt : 0;
}

size_t ens_msg_size(const ens_msg *m)
{
    return m ? m->frame_len : 0;
}

ens_msg *ens_msg_dup(const ens_msg *m)
{
    if (!m)
        return NULL;
    /* The object itself is never const (messages are built on the heap);
     * only the caller's view of it is. */
    ((ens_msg *)m)->copied = true;
    uint8_t *f = ens__malloc(m->frame_len);
    if (!f)
        return NULL;
    memcpy(f, m->frame, m->frame_len);
    if (!m->info) {
        /* a message of a type unknown here: frame and header only */
        ens_msg *c = ens__malloc(sizeof *c);
        if (!c) {
            free(f);
            return NULL;
        }
        *c = (ens_msg){.hdr = m->hdr, .frame = f, .frame_len = m->frame_len};
        return c;
    }
    ens_msg *c = NULL;
    /* m passed the limit it was built with; no new limit applies */
    if (ens__msg_from_frame(f, m->frame_len, UINT32_MAX, &c) != 0)
        return NULL;
    return c;
}

void ens_msg_free(ens_msg *m)
{
    if (!m)
        return;
    ens_msg_free(m->original);
    ens__arena_free(m->arena);
    if (!m->frame_borrowed)
        free(m->frame);
    free(m);
}

const ens_msg *ens_poison_original(const ens_msg *m)
{
    if (!m || !m->value)
        return NULL;
    if (m->original)
        return m->original;
    ens_bytes b;
    if (m->hdr.type_id == ens_msg_poison.id)
        b = ((const ens_poison_v *)m->value)->original;
    else if (m->hdr.type_id == ens_msg_dead_envelope.id)
        b = ((const ens_dead_envelope_v *)m->value)->original;
    else
        return NULL;
    if (!b.data || b.len < ENS_FRAME_HEADER_LEN)
        return NULL;
    uint8_t *f = ens__malloc(b.len);
    if (!f)
        return NULL;
    memcpy(f, b.data, b.len);
    ens_msg *orig = NULL;
    if (ens__msg_from_frame(f, b.len, ORIGINAL_MAX_FRAME, &orig) != 0)
        return NULL;
    /* The decoded original is a cache owned by m: caching it in a message
     * passed as const is the one place we cast const away (m is never in
     * read-only memory: every ens_msg comes from ens__malloc). */
    ((ens_msg *)(uintptr_t)m)->original = orig;
    return orig;
}

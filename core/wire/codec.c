/*
 * core/wire/codec.c - the only file that calls tpl (see codec.h).
 *
 * tpl's process-wide hooks are set once, on the first codec call: malloc and
 * realloc carve from the arena of the codec call in progress (free is a
 * no-op: the arena goes as a whole), oops keeps the text of the last
 * complaint, and fatal - tpl's "out of memory" and its internal errors -
 * longjmps back to the setjmp that every encode and decode places around its
 * tpl calls. Our malloc hook does not wait for tpl to notice a NULL: it
 * longjmps itself with ENS_ENOMEM. So whatever tpl was doing, a failure ends
 * in one place, with nothing allocated outside the arena.
 *
 * tpl_map gets one pointer per top-level item: S -> the value struct,
 * A(x) -> a temporary element (copied to and from the ens_array), B -> a
 * temporary tpl_bin. Arrays are only top-level (the grammar has no nested
 * A), so their counts are all known right after tpl_load and are checked
 * twice before anything is unpacked (PLATFORM-NOTES.md weakness 1): by
 * our own walk over the image before tpl_load (which also spares tpl's walk
 * a signed overflow on counts >= 2^31), and with tpl_Alen (>= 0, <=
 * max_items) after it.
 *
 * Types of fixed-size scalars only skip all of this (see codec.h): their
 * fields are copied one by one between the C struct and the payload, so
 * the caller's padding bytes never reach the wire and a decoded value is a
 * zeroed struct with the fields filled in. tpl per message was the
 * throughput ceiling (BENCHMARKS.md); this path costs one malloc to encode
 * and one arena block to decode.
 */
#include "core/wire/codec.h"

#include <assert.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tpl.h>

#include "ensemble/error.h"

extern tpl_hook_t tpl_hook;

/* The codec call in progress: where allocations go and where to jump. */
typedef struct guard {
    jmp_buf env;
    ens_arena *arena;
    int fatal_err; /* returned when tpl calls fatal (not for OOM) */
    struct guard *prev;
} guard;

static guard *current;
static int hooks_set;
static char last_error[256];

static void *hook_malloc(size_t size)
{
    void *p = current ? ens__arena_alloc(current->arena, size) : NULL;
    if (!p && current)
        longjmp(current->env, ENS_ENOMEM);
    return p;
}

static void *hook_realloc(void *ptr, size_t size)
{
    void *p = current ? ens__arena_realloc(current->arena, ptr, size) : NULL;
    if (!p && current)
        longjmp(current->env, ENS_ENOMEM);
    return p;
}

static void hook_free(void *ptr)
{
    (void)ptr; /* arena blocks live until the arena is freed */
}

static int hook_oops(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return 0;
}

static void hook_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* tpl is only ever called inside a guarded codec call */
    if (!current)
        abort();
    longjmp(current->env, current->fatal_err);
}

static void set_hooks(void)
{
    if (hooks_set)
        return;
    hooks_set = 1;
    tpl_hook.oops = hook_oops;
    tpl_hook.malloc = hook_malloc;
    tpl_hook.realloc = hook_realloc;
    tpl_hook.free = hook_free;
    tpl_hook.fatal = hook_fatal;
    tpl_hook.gather_max = 1; /* tpl_gather is never used; refuse if it ever is */
}

const char *ens__codec_last_error(void)
{
    return last_error;
}

/* One encode or decode: everything the tpl calls need, kept outside the
 * function that calls setjmp so nothing is clobbered by the longjmp. */
typedef struct job {
    const ens_typeinfo *info;
    ens_arena *arena;
    void *ptrs[ENS_MSGTYPE_MAX_ITEMS]; /* tpl_map arguments */
    tpl_bin bins[ENS_MSGTYPE_MAX_ITEMS];
    /* encode */
    const uint8_t *value;
    const ens_frame_hdr *hdr;
    uint32_t max_frame;
    uint8_t *frame; /* ens__malloc'ed; freed here on a failed encode */
    size_t frame_len;
    /* decode */
    const uint8_t *payload;
    size_t len;
    uint8_t *out;
} job;

typedef int (*job_fn)(job *j);

/* Run fn(j) with tpl's allocations going to j->arena and tpl's fatal
 * errors returning fatal_err. */
static int run_guarded(job_fn fn, job *j, int fatal_err)
{
    guard g;
    int rc;
    set_hooks();
    g.arena = j->arena;
    g.fatal_err = fatal_err;
    g.prev = current;
    current = &g;
    rc = setjmp(g.env);
    if (rc == 0)
        rc = fn(j);
    current = g.prev;
    return rc;
}

static tpl_node *map(job *j)
{
    void **p = j->ptrs;
    return tpl_map(j->info->tpl_format, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
}

/* Point j->ptrs at the value struct, temporary elements and bins. */
static void set_ptrs(job *j, uint8_t *value)
{
    const ens_typeinfo *info = j->info;
    for (size_t i = 0; i < info->n_items; i++) {
        const ens_item *it = &info->items[i];
        if (it->kind == ENS_ITEM_STRUCT) {
            j->ptrs[i] = value;
        } else if (it->kind == ENS_ITEM_BYTES) {
            j->ptrs[i] = &j->bins[i];
        } else {
            /* element temporary; hook_malloc longjmps on failure */
            j->ptrs[i] = hook_malloc(it->elem_size);
            memset(j->ptrs[i], 0, it->elem_size);
        }
    }
}

/* ---- fixed layout ------------------------------------------------------------ */

/* A field of `size` bytes (1, 2, 4, 8) at src in host order. */
static uint64_t field_load(const uint8_t *src, size_t size)
{
    uint8_t b;
    uint16_t h;
    uint32_t w;
    uint64_t d;
    switch (size) {
    case 1:
        memcpy(&b, src, 1);
        return b;
    case 2:
        memcpy(&h, src, 2);
        return h;
    case 4:
        memcpy(&w, src, 4);
        return w;
    default:
        memcpy(&d, src, 8);
        return d;
    }
}

static void field_store(uint8_t *dst, uint64_t x, size_t size)
{
    uint8_t b = (uint8_t)x;
    uint16_t h = (uint16_t)x;
    uint32_t w = (uint32_t)x;
    switch (size) {
    case 1:
        memcpy(dst, &b, 1);
        break;
    case 2:
        memcpy(dst, &h, 2);
        break;
    case 4:
        memcpy(dst, &w, 4);
        break;
    default:
        memcpy(dst, &x, 8);
        break;
    }
}

static int encode_fixed(const ens_typeinfo *info, const uint8_t *value, const ens_frame_hdr *h,
                        uint32_t max_frame, uint8_t **out, size_t *out_len)
{
    size_t len = ENS_FRAME_HEADER_LEN + (size_t)info->fixed_size;
    if (len > max_frame)
        return ENS_EMSGSIZE;
    uint8_t *frame = ens__malloc(len);
    if (!frame)
        return ENS_ENOMEM;
    uint8_t *p = frame + ENS_FRAME_HEADER_LEN;
    for (uint32_t k = 0; k < info->n_fixed; k++) {
        const ens_fixed_field *f = &info->fixed[k];
        uint64_t x = value ? field_load(value + f->offset, f->size) : 0;
        for (size_t i = 0; i < f->size; i++)
            p[i] = (uint8_t)(x >> (8 * i));
        p += f->size;
    }
    assert(p == frame + len);
    ens_frame_hdr nh = *h;
    nh.flags = (uint16_t)((nh.flags & ~ENS_FRAME_ENCODING) | ENS_FRAME_FIXED);
    nh.payload_len = info->fixed_size;
    nh.type_id = info->type->id;
    ens__frame_hdr_write(&nh, frame);
    *out = frame;
    *out_len = len;
    return 0;
}

static int decode_fixed(const ens_typeinfo *info, const uint8_t *payload, size_t len, ens_arena *a,
                        void **value)
{
    if (info->fixed_size == 0 || len != info->fixed_size) {
        snprintf(last_error, sizeof last_error,
                 info->fixed_size ? "fixed-layout payload of %zu bytes, %s needs %u"
                                  : "fixed-layout payload of %zu bytes for %s, not fixed (%u)",
                 len, info->tpl_format, (unsigned)info->fixed_size);
        return ENS_EBADFRAME;
    }
    uint8_t *v = ens__arena_alloc(a, info->size);
    if (!v)
        return ENS_ENOMEM;
    memset(v, 0, info->size);
    const uint8_t *p = payload;
    for (uint32_t k = 0; k < info->n_fixed; k++) {
        const ens_fixed_field *f = &info->fixed[k];
        uint64_t x = 0;
        for (size_t i = 0; i < f->size; i++)
            x |= (uint64_t)p[i] << (8 * i);
        field_store(v + f->offset, x, f->size);
        p += f->size;
    }
    *value = v;
    return 0;
}

/* A type whose only item is one blob at offset 0 (see codec.h). */
static bool is_blob(const ens_typeinfo *info)
{
    return info->n_items == 1 && info->items[0].kind == ENS_ITEM_BYTES &&
           info->items[0].offset == 0 && info->size == sizeof(ens_bytes);
}

static int encode_blob(const ens_typeinfo *info, const uint8_t *value, const ens_frame_hdr *h,
                       uint32_t max_frame, uint8_t **out, size_t *out_len)
{
    ens_bytes b = {NULL, 0};
    if (value != NULL)
        memcpy(&b, value, sizeof b);
    if (b.len > 0 && b.data == NULL)
        return ENS_EINVAL;
    if ((uint64_t)ENS_FRAME_HEADER_LEN + b.len > max_frame)
        return ENS_EMSGSIZE;
    size_t len = ENS_FRAME_HEADER_LEN + (size_t)b.len;
    uint8_t *frame = ens__malloc(len);
    if (!frame)
        return ENS_ENOMEM;
    if (b.len > 0)
        memcpy(frame + ENS_FRAME_HEADER_LEN, b.data, b.len);
    ens_frame_hdr nh = *h;
    nh.flags = (uint16_t)((nh.flags & ~ENS_FRAME_ENCODING) | ENS_FRAME_BLOB);
    nh.payload_len = b.len;
    nh.type_id = info->type->id;
    ens__frame_hdr_write(&nh, frame);
    *out = frame;
    *out_len = len;
    return 0;
}

static int decode_blob(const ens_typeinfo *info, const uint8_t *payload, size_t len, ens_arena *a,
                       void **value)
{
    if (!is_blob(info) || len > UINT32_MAX) {
        snprintf(last_error, sizeof last_error, "a blob payload for %s, not a one-blob type",
                 info->tpl_format);
        return ENS_EBADFRAME;
    }
    ens_bytes *v = ens__arena_alloc(a, sizeof *v);
    if (!v)
        return ENS_ENOMEM;
    v->data = len > 0 ? (void *)(uintptr_t)payload : NULL;
    v->len = (uint32_t)len;
    *value = v;
    return 0;
}

/* ---- encode ---------------------------------------------------------------- */

static int encode_job(job *j)
{
    const ens_typeinfo *info = j->info;
    uint8_t *value = (uint8_t *)(uintptr_t)j->value; /* tpl only reads it */
    set_ptrs(j, value);
    for (size_t i = 0; i < info->n_items; i++) {
        if (info->items[i].kind == ENS_ITEM_BYTES) {
            ens_bytes b;
            memcpy(&b, value + info->items[i].offset, sizeof b);
            j->bins[i].addr = b.data;
            j->bins[i].sz = b.len;
        }
    }
    tpl_node *tn = map(j);
    if (!tn)
        return ENS_EINVAL;
    if (tpl_pack(tn, 0) != 0)
        return ENS_EINVAL;
    int index = 0;
    for (size_t i = 0; i < info->n_items; i++) {
        const ens_item *it = &info->items[i];
        if (it->kind != ENS_ITEM_ARRAY)
            continue;
        index++;
        ens_array arr;
        memcpy(&arr, value + it->offset, sizeof arr);
        for (uint32_t k = 0; k < arr.count; k++) {
            memcpy(j->ptrs[i], (const uint8_t *)arr.items + (size_t)k * it->elem_size,
                   it->elem_size);
            if (tpl_pack(tn, index) != 0)
                return ENS_EINVAL;
        }
    }
    size_t sz = 0;
    if (tpl_dump(tn, TPL_GETSIZE, &sz) != 0)
        return ENS_EINVAL;
    if (sz > UINT32_MAX - ENS_FRAME_HEADER_LEN || ENS_FRAME_HEADER_LEN + sz > j->max_frame)
        return ENS_EMSGSIZE;
    j->frame_len = ENS_FRAME_HEADER_LEN + sz;
    j->frame = ens__malloc(j->frame_len);
    if (!j->frame)
        return ENS_ENOMEM;
    if (tpl_dump(tn, TPL_MEM | TPL_PREALLOCD, j->frame + ENS_FRAME_HEADER_LEN, sz) != 0)
        return ENS_EINVAL;
    ens_frame_hdr h = *j->hdr;
    h.flags &= (uint16_t)~ENS_FRAME_ENCODING; /* e.g. copied from a received header */
    h.payload_len = (uint32_t)sz;
    h.type_id = info->type->id;
    ens__frame_hdr_write(&h, j->frame);
    return 0;
}

/* Reject values tpl would misread: arrays or bytes with a NULL pointer and
 * a nonzero length, arrays above the type's limit. */
static int check_value(const ens_typeinfo *info, const uint8_t *value, uint32_t max_frame)
{
    for (size_t i = 0; i < info->n_items; i++) {
        const ens_item *it = &info->items[i];
        if (it->kind == ENS_ITEM_ARRAY) {
            ens_array arr;
            memcpy(&arr, value + it->offset, sizeof arr);
            if ((arr.count > 0 && !arr.items) || arr.count > info->max_items)
                return ENS_EINVAL;
        } else if (it->kind == ENS_ITEM_BYTES) {
            ens_bytes b;
            memcpy(&b, value + it->offset, sizeof b);
            if (b.len > 0 && !b.data)
                return ENS_EINVAL;
            if (b.len > max_frame)
                return ENS_EMSGSIZE; /* cannot fit: do not copy it first */
        }
    }
    return 0;
}

int ens__codec_encode(const ens_typeinfo *info, const void *v, const ens_frame_hdr *h,
                      uint32_t max_frame, uint8_t **out, size_t *out_len)
{
    if (!info || !h || !out || !out_len)
        return ENS_EINVAL;
    if (info->fixed_size)
        return encode_fixed(info, v, h, max_frame, out, out_len);
    if (is_blob(info))
        return encode_blob(info, v, h, max_frame, out, out_len);
    int rc;
    job j = {0};
    j.info = info;
    j.hdr = h;
    j.max_frame = max_frame;
    j.arena = ens__arena_new();
    if (!j.arena)
        return ENS_ENOMEM;
    if (v) {
        j.value = v;
    } else {
        /* a zeroed value, from the arena */
        void *z = ens__arena_alloc(j.arena, info->size);
        if (!z) {
            ens__arena_free(j.arena);
            return ENS_ENOMEM;
        }
        memset(z, 0, info->size);
        j.value = z;
    }
    rc = check_value(info, j.value, max_frame);
    if (rc == 0)
        rc = run_guarded(encode_job, &j, ENS_EINVAL);
    ens__arena_free(j.arena);
    if (rc) {
        free(j.frame);
        return rc;
    }
    *out = j.frame;
    *out_len = j.frame_len;
    return 0;
}

/* ---- decode ---------------------------------------------------------------- */

/* Our own walk over a tpl image before tpl sees it, with the layout tpl
 * writes (src/tpl.c, tpl_dump_to_mem): "tpl", a flags byte (bit 0 big-endian,
 * bit 1 length+1 strings, required when the format has any), the uint32 image length, the format
 * with its NUL, then the root items in order: scalars raw, strings and B as a uint32 length and the
 * bytes, A as a uint32 count and the elements. tpl's own sanity walk reads array counts into an
 * int, so a count >= 2^31 passes it (and overflows a signed int in the walk): we refuse such
 * counts, and counts above max_items, before tpl_load. tpl then checks everything again. */
typedef struct cursor {
    const uint8_t *p, *end;
    int swap; /* image byte order differs from ours */
} cursor;

static int cur_u32(cursor *c, uint32_t *v)
{
    if ((size_t)(c->end - c->p) < 4)
        return -1;
    memcpy(v, c->p, 4);
    if (c->swap)
        *v = (*v >> 24) | ((*v >> 8) & 0xFF00u) | ((*v << 8) & 0xFF0000u) | (*v << 24);
    c->p += 4;
    return 0;
}

static int cur_skip(cursor *c, size_t n)
{
    if ((size_t)(c->end - c->p) < n)
        return -1;
    c->p += n;
    return 0;
}

/* Skip the data of the field characters in fmt[0..n) ('$', '(', ')' are
 * structure only). */
static int cur_fields(cursor *c, const char *fmt, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t slen;
        switch (fmt[i]) {
        case 'c':
            if (cur_skip(c, 1))
                return -1;
            break;
        case 'j':
        case 'v':
            if (cur_skip(c, 2))
                return -1;
            break;
        case 'i':
        case 'u':
            if (cur_skip(c, 4))
                return -1;
            break;
        case 'I':
        case 'U':
        case 'f':
            if (cur_skip(c, 8))
                return -1;
            break;
        case 's':
        case 'B':
            if (cur_u32(c, &slen))
                return -1;
            if (fmt[i] == 's')
                slen = slen > 1 ? slen - 1 : 0;
            if (cur_skip(c, slen))
                return -1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* Length of "S(...)" or "X" at fmt: the element or struct text. */
static size_t group_len(const char *fmt)
{
    if (*fmt != 'S')
        return 1;
    size_t i = 1;
    int depth = 0;
    do {
        if (fmt[i] == '(')
            depth++;
        else if (fmt[i] == ')')
            depth--;
        i++;
    } while (depth > 0 && fmt[i]);
    return i;
}

static int image_precheck(const ens_typeinfo *info, const uint8_t *img, size_t len)
{
    const char *fmt = info->tpl_format;
    size_t flen = strlen(fmt);
    const uint16_t one = 1;
    int big = *(const uint8_t *)&one == 0;
    if (len < 8 + flen + 1 || memcmp(img, "tpl", 3) != 0 || (img[3] & ~3u) != 0)
        return ENS_EBADFRAME;
    /* strings only in the length+1 encoding tpl 1.6 writes: the system
     * libtpl unpacks the older one inconsistently with its own sanity walk */
    if (strchr(fmt, 's') && (img[3] & 2) == 0)
        return ENS_EBADFRAME;
    cursor c = {img + 4, img + len, (img[3] & 1) != big};
    uint32_t total;
    if (cur_u32(&c, &total) || total != len || memcmp(c.p, fmt, flen + 1) != 0)
        return ENS_EBADFRAME;
    c.p += flen + 1;
    const char *f = fmt;
    while (*f) {
        size_t g = group_len(f);
        if (*f == 'A') {
            size_t e = group_len(f + 2); /* element after "A(" */
            uint32_t count;
            if (cur_u32(&c, &count) || count > INT32_MAX || count > info->max_items)
                return ENS_EBADFRAME;
            for (uint32_t k = 0; k < count; k++) {
                if (cur_fields(&c, f + 2, e))
                    return ENS_EBADFRAME;
            }
            g = 2 + e + 1;
        } else if (cur_fields(&c, f, g)) {
            return ENS_EBADFRAME;
        }
        f += g;
    }
    return c.p == c.end ? 0 : ENS_EBADFRAME;
}

static int decode_job(job *j)
{
    const ens_typeinfo *info = j->info;
    uint8_t *value = hook_malloc(info->size);
    memset(value, 0, info->size);
    set_ptrs(j, value);
    tpl_node *tn = map(j);
    if (!tn)
        return ENS_EBADFRAME;
    /* tpl only reads a TPL_MEM image (no TPL_UFREE: it never frees it) */
    if (tpl_load(tn, TPL_MEM, (void *)(uintptr_t)j->payload, j->len) != 0)
        return ENS_EBADFRAME;
    /* every array count, before any unpack */
    int index = 0;
    for (size_t i = 0; i < info->n_items; i++) {
        if (info->items[i].kind != ENS_ITEM_ARRAY)
            continue;
        int n = tpl_Alen(tn, ++index);
        if (n < 0 || (uint32_t)n > info->max_items)
            return ENS_EBADFRAME;
    }
    if (tpl_unpack(tn, 0) < 0)
        return ENS_EBADFRAME;
    index = 0;
    for (size_t i = 0; i < info->n_items; i++) {
        const ens_item *it = &info->items[i];
        if (it->kind == ENS_ITEM_BYTES) {
            ens_bytes b = {j->bins[i].addr, j->bins[i].sz};
            memcpy(value + it->offset, &b, sizeof b);
            continue;
        }
        if (it->kind != ENS_ITEM_ARRAY)
            continue;
        index++;
        int n = tpl_Alen(tn, index);
        if (n < 0 || (uint32_t)n > info->max_items)
            return ENS_EBADFRAME;
        ens_array arr = {NULL, (uint32_t)n};
        if (n > 0)
            arr.items = hook_malloc((size_t)n * it->elem_size);
        for (int k = 0; k < n; k++) {
            if (tpl_unpack(tn, index) <= 0)
                return ENS_EBADFRAME;
            memcpy((uint8_t *)arr.items + (size_t)k * it->elem_size, j->ptrs[i], it->elem_size);
        }
        memcpy(value + it->offset, &arr, sizeof arr);
    }
    j->out = value;
    return 0;
}

int ens__codec_decode(const ens_typeinfo *info, uint16_t flags, const uint8_t *payload, size_t len,
                      ens_arena *a, void **value)
{
    if (!info || !a || !value || (!payload && len > 0))
        return ENS_EINVAL;
    if ((flags & ENS_FRAME_ENCODING) == ENS_FRAME_ENCODING)
        return ENS_EBADFRAME;
    if (flags & ENS_FRAME_FIXED)
        return decode_fixed(info, payload, len, a, value);
    if (flags & ENS_FRAME_BLOB)
        return decode_blob(info, payload, len, a, value);
    int rc = image_precheck(info, payload, len);
    if (rc) {
        snprintf(last_error, sizeof last_error, "payload is not a tpl image of %s",
                 info->tpl_format);
        return rc;
    }
    job j = {0};
    j.info = info;
    j.arena = a;
    j.payload = payload;
    j.len = len;
    rc = run_guarded(decode_job, &j, ENS_EBADFRAME);
    if (rc == 0)
        *value = j.out;
    return rc;
}

/*
 * tests/test_codec.c - the tpl codec: round trips of every kind of item,
 * rejection of images that do not match, truncated or crafted payloads,
 * value checks on encode, and out-of-memory at every allocation of encode
 * and decode (run under ASan: nothing may leak or be touched out of bounds);
 * the fixed-layout fast path: eligibility, byte layout, padding, frames
 * whose flag and payload disagree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/wire/arena.h"
#include "core/wire/codec.h"
#include "core/wire/msg_internal.h"
#include "ensemble/error.h"

#define LIMIT (16u << 20)

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;
static ens_msgtype greeting_t = {"test.Greeting", "S(is)", sizeof(greeting_v), 0, 0};

typedef struct located_v {
    int32_t n;
    ens_addr who;
    char *note;
} located_v;
static ens_msgtype located_t = {"test.Located", "S(i" ENS_ADDR_FMT "s)", sizeof(located_v), 0, 0};

typedef struct pair {
    int32_t a;
    char *name;
} pair;
typedef struct lists_v {
    int32_t n;
    ens_array ints;    /* int32_t */
    ens_array bigs;    /* uint64_t */
    ens_array chars;   /* char */
    ens_array shorts;  /* int16_t */
    ens_array doubles; /* double */
    ens_array strs;    /* char * */
    ens_array pairs;   /* pair */
} lists_v;
static ens_msgtype lists_t = {"test.Lists", "S(i)A(i)A(U)A(c)A(j)A(f)A(s)A(S(is))", sizeof(lists_v),
                              0, 0};

typedef struct blob_v {
    ens_bytes b;
} blob_v;

typedef struct ints_v {
    ens_array a;
} ints_v;
static ens_msgtype ints_t = {"test.Ints", "A(i)", sizeof(ints_v), 0, 0};
static ens_msgtype ints3_t = {"test.Ints3", "A(i)", sizeof(ints_v), 3, 0};
static ens_msgtype strs_t = {"test.Strs", "A(s)", sizeof(ints_v), 0, 0};
static ens_msgtype pairs_t = {"test.Pairs", "A(S(is))", sizeof(ints_v), 0, 0};

/* Fixed-layout types: every fixed-size scalar kind, padding, a nested
 * address. */
typedef struct scalars_v {
    char c;
    int16_t j;
    uint16_t v;
    int32_t i;
    uint32_t u;
    int64_t big;
    uint64_t ubig;
    double f;
} scalars_v;
static ens_msgtype scalars_t = {"test.Scalars", "S(cjviuIUf)", sizeof(scalars_v), 0, 0};
#define SCALARS_PACKED (1 + 2 + 2 + 4 + 4 + 8 + 8 + 8)

typedef struct padded_v {
    char a;     /* 7 padding bytes follow */
    uint64_t b; /* at 8 */
    char c;     /* at 16, 1 padding byte */
    int16_t d;  /* at 18, 4 trailing padding bytes */
} padded_v;
static ens_msgtype padded_t = {"test.Padded", "S(cUcj)", sizeof(padded_v), 0, 0};
#define PADDED_PACKED (1 + 8 + 1 + 2)

typedef struct where_v {
    int32_t n;
    ens_addr who;
    char tag;
} where_v;
static ens_msgtype where_t = {"test.Where", "S(i" ENS_ADDR_FMT "c)", sizeof(where_v), 0, 0};
#define WHERE_PACKED (4 + 16 + 1)

static int setup(void **state)
{
    (void)state;
    ens_msgtype *all[] = {&greeting_t, &located_t, &lists_t,   &ints_t,   &ints3_t,
                          &strs_t,     &pairs_t,   &scalars_t, &padded_t, &where_t};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        if (ens_msgtype_register(all[k]) != 0)
            return -1;
    }
    return 0;
}

static const ens_typeinfo *info_of(const ens_msgtype *t)
{
    const ens_typeinfo *info = ens__typeinfo_of(t);
    assert_non_null(info);
    return info;
}

static int encode(const ens_msgtype *t, const void *v, uint8_t **frame, size_t *len)
{
    ens_frame_hdr h = {0};
    h.attempt = 1;
    return ens__codec_encode(info_of(t), v, &h, LIMIT, frame, len);
}

/* Encode v as t, decode it into a (caller frees a), return the value. */
static void *round_trip(const ens_msgtype *t, const void *v, ens_arena **a)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(encode(t, v, &frame, &len), 0);
    assert_true(len >= ENS_FRAME_HEADER_LEN); /* an empty blob is the header alone */
    ens_frame_hdr h;
    assert_int_equal(ens__frame_hdr_read(frame, len, LIMIT, &h), 0);
    assert_int_equal(h.type_id, t->id);
    assert_int_equal(h.payload_len, len - ENS_FRAME_HEADER_LEN);
    *a = ens__arena_new();
    assert_non_null(*a);
    /* The frame lives as long as the value: a blob's value points into it. */
    uint8_t *kept = ens__arena_alloc(*a, len);
    assert_non_null(kept);
    memcpy(kept, frame, len);
    free(frame);
    void *out = NULL;
    assert_int_equal(ens__codec_decode(info_of(t), h.flags, kept + ENS_FRAME_HEADER_LEN,
                                       h.payload_len, *a, &out),
                     0);
    assert_non_null(out);
    return out;
}

static void test_greeting_round_trip(void **state)
{
    (void)state;
    greeting_v in = {7, "hello, actor"};
    ens_arena *a;
    greeting_v *out = round_trip(&greeting_t, &in, &a);
    assert_int_equal(out->count, 7);
    assert_string_equal(out->text, "hello, actor");
    assert_ptr_not_equal(out->text, in.text);
    ens__arena_free(a);
}

static void test_null_and_empty_strings_survive(void **state)
{
    (void)state;
    greeting_v in = {-1, NULL};
    ens_arena *a;
    greeting_v *out = round_trip(&greeting_t, &in, &a);
    assert_int_equal(out->count, -1);
    assert_null(out->text);
    ens__arena_free(a);
    in.text = "";
    out = round_trip(&greeting_t, &in, &a);
    assert_non_null(out->text);
    assert_string_equal(out->text, "");
    ens__arena_free(a);
}

static void test_null_value_encodes_zeroed_struct(void **state)
{
    (void)state;
    ens_arena *a;
    lists_v *out = round_trip(&lists_t, NULL, &a);
    assert_int_equal(out->n, 0);
    assert_int_equal(out->ints.count, 0);
    assert_null(out->ints.items);
    assert_int_equal(out->pairs.count, 0);
    ens__arena_free(a);
}

static void test_nested_address_round_trip(void **state)
{
    (void)state;
    located_v in = {3, {0xFEDCBA9876543210ull, 0xDEADBEEFu, 0}, "over there"};
    ens_arena *a;
    located_v *out = round_trip(&located_t, &in, &a);
    assert_int_equal(out->n, 3);
    assert_true(out->who.id == in.who.id);
    assert_int_equal(out->who.node, in.who.node);
    assert_int_equal(out->who.spare, 0);
    assert_string_equal(out->note, "over there");
    ens__arena_free(a);
}

static void test_arrays_of_scalars_and_structs_round_trip(void **state)
{
    (void)state;
    int32_t ints[] = {1, -2, 3, INT32_MIN, INT32_MAX};
    uint64_t bigs[] = {UINT64_MAX, 0, 1ull << 40};
    char chars[] = {'a', '\0', 'z'};
    int16_t shorts[] = {-32768, 32767};
    double doubles[] = {3.5, -0.25};
    char *strs[] = {"one", NULL, "", "four"};
    pair pairs[] = {{1, "first"}, {2, NULL}, {3, "third"}};
    lists_v in = {42,          {ints, 5},    {bigs, 3}, {chars, 3},
                  {shorts, 2}, {doubles, 2}, {strs, 4}, {pairs, 3}};
    ens_arena *a;
    lists_v *out = round_trip(&lists_t, &in, &a);
    assert_int_equal(out->n, 42);
    assert_int_equal(out->ints.count, 5);
    assert_memory_equal(out->ints.items, ints, sizeof ints);
    assert_int_equal(out->bigs.count, 3);
    assert_memory_equal(out->bigs.items, bigs, sizeof bigs);
    assert_int_equal(out->chars.count, 3);
    assert_memory_equal(out->chars.items, chars, sizeof chars);
    assert_int_equal(out->shorts.count, 2);
    assert_memory_equal(out->shorts.items, shorts, sizeof shorts);
    assert_int_equal(out->doubles.count, 2);
    assert_memory_equal(out->doubles.items, doubles, sizeof doubles);
    assert_int_equal(out->strs.count, 4);
    char **s = out->strs.items;
    assert_string_equal(s[0], "one");
    assert_null(s[1]);
    assert_string_equal(s[2], "");
    assert_string_equal(s[3], "four");
    assert_int_equal(out->pairs.count, 3);
    pair *p = out->pairs.items;
    assert_int_equal(p[0].a, 1);
    assert_string_equal(p[0].name, "first");
    assert_int_equal(p[1].a, 2);
    assert_null(p[1].name);
    assert_int_equal(p[2].a, 3);
    assert_string_equal(p[2].name, "third");
    ens__arena_free(a);
}

static void test_bytes_empty_and_one_mebibyte(void **state)
{
    (void)state;
    ens_bytes_v in = {{NULL, 0}};
    ens_arena *a;
    ens_bytes_v *out = round_trip(ENS_MSG_BYTES, &in, &a);
    assert_int_equal(out->data.len, 0);
    assert_null(out->data.data);
    ens__arena_free(a);

    size_t n = 1u << 20;
    uint8_t *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 11));
    in.data = (ens_bytes){big, (uint32_t)n};
    out = round_trip(ENS_MSG_BYTES, &in, &a);
    assert_int_equal(out->data.len, n);
    assert_memory_equal(out->data.data, big, n);
    ens__arena_free(a);
    free(big);
}

static int decode_flags(const ens_msgtype *t, uint16_t flags, const uint8_t *payload, size_t len);

/* A one-blob type travels as its bytes (ENS_FRAME_BLOB), decoded without
 * a copy; the flag on any other type, or with FIXED, is refused. */
static void test_blob_payload_rules(void **state)
{
    (void)state;
    uint8_t data[100];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(encode(ENS_MSG_BYTES, &(ens_bytes_v){{data, sizeof data}}, &frame, &len), 0);
    ens_frame_hdr h;
    assert_int_equal(ens__frame_hdr_read(frame, len, LIMIT, &h), 0);
    assert_int_equal(h.flags & ENS_FRAME_ENCODING, ENS_FRAME_BLOB);
    assert_int_equal(h.payload_len, sizeof data);
    const uint8_t *payload = frame + ENS_FRAME_HEADER_LEN;
    assert_memory_equal(payload, data, sizeof data);
    ens_arena *a = ens__arena_new();
    void *v = NULL;
    assert_int_equal(
        ens__codec_decode(info_of(ENS_MSG_BYTES), h.flags, payload, h.payload_len, a, &v), 0);
    assert_ptr_equal(((ens_bytes_v *)v)->data.data, payload); /* no copy */
    assert_int_equal(decode_flags(ENS_MSG_STRING, ENS_FRAME_BLOB, payload, 8), ENS_EBADFRAME);
    assert_int_equal(decode_flags(ENS_MSG_INT64, ENS_FRAME_BLOB, payload, 8), ENS_EBADFRAME);
    assert_int_equal(decode_flags(ENS_MSG_POISON, ENS_FRAME_BLOB, payload, 8), ENS_EBADFRAME);
    assert_int_equal(decode_flags(ENS_MSG_BYTES, ENS_FRAME_BLOB | ENS_FRAME_FIXED, payload, 8),
                     ENS_EBADFRAME);
    ens__arena_free(a);
    free(frame);
}

static void test_builtin_and_system_types_round_trip(void **state)
{
    (void)state;
    ens_arena *a;
    ens_string_v s = {"text"};
    ens_string_v *so = round_trip(ENS_MSG_STRING, &s, &a);
    assert_string_equal(so->text, "text");
    ens__arena_free(a);

    ens_int64_v i = {INT64_MIN + 1};
    ens_int64_v *io = round_trip(ENS_MSG_INT64, &i, &a);
    assert_true(io->value == INT64_MIN + 1);
    ens__arena_free(a);

    ens_exit_request_v e = {5};
    ens_exit_request_v *eo = round_trip(ENS_MSG_EXIT_REQUEST, &e, &a);
    assert_int_equal(eo->reserved, 5);
    ens__arena_free(a);

    ens_child_exited_v c = {{9, 1, 0}, ENS_EXIT_CRASH, 11, -3, 4};
    ens_child_exited_v *co = round_trip(ENS_MSG_CHILD_EXITED, &c, &a);
    assert_memory_equal(co, &c, sizeof c);
    ens__arena_free(a);

    ens_wakeup_v w = {UINT64_MAX, 12345, 250};
    ens_wakeup_v *wo = round_trip(ENS_MSG_WAKEUP, &w, &a);
    assert_true(wo->timer_id == UINT64_MAX && wo->payload == 12345 && wo->delay_ms == 250);
    ens__arena_free(a);

    uint8_t orig[5] = {1, 2, 3, 4, 5};
    ens_poison_v p = {{7, 2, 0}, -22, 0, 2, "failed twice", {orig, 5}};
    ens_poison_v *po = round_trip(ENS_MSG_POISON, &p, &a);
    assert_true(po->target.id == 7 && po->target.node == 2);
    assert_int_equal(po->error, -22);
    assert_int_equal(po->attempts, 2);
    assert_string_equal(po->detail, "failed twice");
    assert_int_equal(po->original.len, 5);
    assert_memory_equal(po->original.data, orig, 5);
    ens__arena_free(a);

    ens_dead_envelope_v d = {{8, 3, 0}, 0x1234u, "no such actor", {orig, 3}};
    ens_dead_envelope_v *dout = round_trip(ENS_MSG_DEAD_ENVELOPE, &d, &a);
    assert_true(dout->intended.id == 8 && dout->intended.node == 3);
    assert_int_equal(dout->type_id, 0x1234u);
    assert_string_equal(dout->reason, "no such actor");
    assert_int_equal(dout->original.len, 3);
    assert_memory_equal(dout->original.data, orig, 3);
    ens__arena_free(a);
}

/* Decode a payload as type t; returns the codec's result. */
static int decode_as(const ens_msgtype *t, const uint8_t *payload, size_t len)
{
    ens_arena *a = ens__arena_new();
    assert_non_null(a);
    void *out = NULL;
    int rc = ens__codec_decode(info_of(t), 0, payload, len, a, &out);
    ens__arena_free(a);
    return rc;
}

static void test_image_of_another_format_is_rejected(void **state)
{
    (void)state;
    greeting_v in = {1, "x"};
    uint8_t *frame;
    size_t len;
    assert_int_equal(encode(&greeting_t, &in, &frame, &len), 0);
    const uint8_t *pl = frame + ENS_FRAME_HEADER_LEN;
    size_t plen = len - ENS_FRAME_HEADER_LEN;
    assert_int_equal(decode_as(&greeting_t, pl, plen), 0);
    assert_int_equal(decode_as(&located_t, pl, plen), ENS_EBADFRAME);
    assert_int_equal(decode_as(ENS_MSG_STRING, pl, plen), ENS_EBADFRAME);
    assert_int_equal(decode_as(&ints_t, pl, plen), ENS_EBADFRAME);
    assert_int_equal(decode_as(ENS_MSG_BYTES, pl, plen), ENS_EBADFRAME);
    assert_true(strlen(ens__codec_last_error()) > 0);
    free(frame);
}

static void test_truncated_or_extended_payloads_are_rejected(void **state)
{
    (void)state;
    int32_t ints[] = {1, 2};
    char *strs[] = {"a", "bc"};
    pair pairs[] = {{1, "p"}};
    uint8_t bytes[3] = {9, 9, 9};
    lists_v in = {1, {ints, 2}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {strs, 2}, {pairs, 1}};
    uint8_t *frame;
    size_t len;
    assert_int_equal(encode(&lists_t, &in, &frame, &len), 0);
    size_t plen = len - ENS_FRAME_HEADER_LEN;
    for (size_t cut = 0; cut < plen; cut++) {
        /* a copy of exactly `cut` bytes, so ASan sees any overread */
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, frame + ENS_FRAME_HEADER_LEN, cut);
        assert_int_equal(decode_as(&lists_t, p, cut), ENS_EBADFRAME);
        free(p);
    }
    uint8_t *longer = malloc(plen + 1);
    memcpy(longer, frame + ENS_FRAME_HEADER_LEN, plen);
    longer[plen] = 0;
    assert_int_equal(decode_as(&lists_t, longer, plen + 1), ENS_EBADFRAME);
    free(longer);
    free(frame);

    blob_v b = {{bytes, 3}};
    assert_int_equal(encode(ENS_MSG_BYTES, &b, &frame, &len), 0);
    plen = len - ENS_FRAME_HEADER_LEN;
    for (size_t cut = 0; cut < plen; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, frame + ENS_FRAME_HEADER_LEN, cut);
        assert_int_equal(decode_as(ENS_MSG_BYTES, p, cut), ENS_EBADFRAME);
        free(p);
    }
    free(frame);
}

/* Offset of the first array count in a tpl image: "tpl" + flags (4), the
 * image length (4), the format and its NUL, then the data. */
static size_t count_offset(const char *fmt)
{
    return 4 + 4 + strlen(fmt) + 1;
}

/* An empty image of array type t with its count patched to `count`, in a
 * buffer of exactly its length (17 bytes for A(i)). */
static int decode_patched_count(const ens_msgtype *t, uint32_t count)
{
    ints_v empty = {{NULL, 0}};
    uint8_t *frame;
    size_t len;
    assert_int_equal(encode(t, &empty, &frame, &len), 0);
    size_t plen = len - ENS_FRAME_HEADER_LEN;
    uint8_t *p = malloc(plen);
    memcpy(p, frame + ENS_FRAME_HEADER_LEN, plen);
    size_t off = count_offset(t->format);
    assert_int_equal(off + 4, plen);
    memcpy(p + off, &count, 4); /* native order, as tpl wrote it */
    int rc = decode_as(t, p, plen);
    free(p);
    free(frame);
    return rc;
}

static void test_crafted_negative_array_count_is_rejected(void **state)
{
    (void)state;
    /* PLATFORM-NOTES weakness 1: counts >= 2^31 pass tpl's own sanity walk */
    assert_int_equal(decode_patched_count(&ints_t, 0x80000001u), ENS_EBADFRAME);
    assert_int_equal(decode_patched_count(&ints_t, 0x80000000u), ENS_EBADFRAME);
    assert_int_equal(decode_patched_count(&ints_t, 0xFFFFFFFFu), ENS_EBADFRAME);
    assert_int_equal(decode_patched_count(&strs_t, 0x80000001u), ENS_EBADFRAME);
    assert_int_equal(decode_patched_count(&pairs_t, 0x80000001u), ENS_EBADFRAME);
    /* and a positive count the image does not hold is tpl's own catch */
    assert_int_equal(decode_patched_count(&ints_t, 1), ENS_EBADFRAME);
    assert_int_equal(decode_patched_count(&ints_t, 0), 0);
}

static void test_crafted_count_in_multi_array_image_is_rejected(void **state)
{
    (void)state;
    /* the fuzzer's first find (with an instrumented tpl): a count of 2^31
     * in the first of several arrays made tpl's sanity walk overflow an int */
    lists_v empty = {1,         {NULL, 0}, {NULL, 0}, {NULL, 0},
                     {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
    uint8_t *frame;
    size_t len;
    assert_int_equal(encode(&lists_t, &empty, &frame, &len), 0);
    size_t plen = len - ENS_FRAME_HEADER_LEN;
    uint8_t *p = malloc(plen);
    size_t off = count_offset(lists_t.format) + 4; /* after S(i) */
    for (int which = 0; which < 7; which++) {
        memcpy(p, frame + ENS_FRAME_HEADER_LEN, plen);
        uint32_t count = 0x80000000u;
        memcpy(p + off + 4 * (size_t)which, &count, 4);
        assert_int_equal(decode_as(&lists_t, p, plen), ENS_EBADFRAME);
    }
    free(p);
    free(frame);
}

/* An image in the other byte order decodes; the pre-1.3 string encoding
 * (exact lengths, no NULL strings), which Debian's libtpl unpacks one byte
 * short of what its own sanity walk measured, is refused. */
static void test_big_endian_image_decodes_and_old_strings_are_refused(void **state)
{
    (void)state;
    static const uint8_t be_int[] = {'t', 'p', 'l', 1, 0,    0,    0,    17,  'S',
                                     '(', 'i', ')', 0, 0x01, 0x02, 0x03, 0x04};
    uint8_t buf[64];
    memcpy(buf, be_int, sizeof be_int);
    uint16_t one = 1;
    if (*(uint8_t *)&one == 0) { /* on a big-endian host this is the other order */
        buf[3] = 0;
        buf[4] = 17;
        buf[7] = 0;
        buf[13] = 4, buf[14] = 3, buf[15] = 2, buf[16] = 1;
    }
    ens_arena *a = ens__arena_new();
    void *out = NULL;
    assert_int_equal(
        ens__codec_decode(info_of(ENS_MSG_EXIT_REQUEST), 0, buf, sizeof be_int, a, &out), 0);
    assert_int_equal(((ens_exit_request_v *)out)->reserved, 0x01020304);
    ens__arena_free(a);

    /* "S(s)" holding "hey", old string format, native order */
    uint8_t old[] = {'t', 'p', 'l', 0, 0, 0, 0, 0,   'S', '(',
                     's', ')', 0,   0, 0, 0, 0, 'h', 'e', 'y'};
    uint32_t total = sizeof old, slen = 3;
    if (*(uint8_t *)&one == 0)
        old[3] = 1;
    memcpy(old + 4, &total, 4);
    memcpy(old + 13, &slen, 4);
    assert_int_equal(decode_as(ENS_MSG_STRING, old, sizeof old), ENS_EBADFRAME);
    /* the same string in the current encoding (length + 1) is fine */
    old[3] |= 2;
    slen = 4;
    memcpy(old + 13, &slen, 4);
    a = ens__arena_new();
    assert_int_equal(ens__codec_decode(info_of(ENS_MSG_STRING), 0, old, sizeof old, a, &out), 0);
    assert_string_equal(((ens_string_v *)out)->text, "hey");
    ens__arena_free(a);
    /* one byte short of the string it announces */
    assert_int_equal(decode_as(ENS_MSG_STRING, old, sizeof old - 1), ENS_EBADFRAME);
}

static void test_array_count_above_max_items_is_rejected(void **state)
{
    (void)state;
    int32_t four[] = {1, 2, 3, 4};
    ints_v in = {{four, 4}};
    uint8_t *frame;
    size_t len;
    /* encode refuses it */
    assert_int_equal(encode(&ints3_t, &in, &frame, &len), ENS_EINVAL);
    /* an image made under a larger limit is refused on decode */
    assert_int_equal(encode(&ints_t, &in, &frame, &len), 0);
    assert_int_equal(decode_as(&ints3_t, frame + ENS_FRAME_HEADER_LEN, len - 64), ENS_EBADFRAME);
    free(frame);
    in.a.count = 3;
    assert_int_equal(encode(&ints_t, &in, &frame, &len), 0);
    assert_int_equal(decode_as(&ints3_t, frame + ENS_FRAME_HEADER_LEN, len - 64), 0);
    free(frame);
}

static void test_encode_rejects_null_items_and_data(void **state)
{
    (void)state;
    uint8_t *frame = NULL;
    size_t len;
    ints_v bad = {{NULL, 2}};
    assert_int_equal(encode(&ints_t, &bad, &frame, &len), ENS_EINVAL);
    ens_bytes_v nob = {{NULL, 4}};
    assert_int_equal(encode(ENS_MSG_BYTES, &nob, &frame, &len), ENS_EINVAL);
    int32_t one = 1;
    ints_v too_many = {{&one, ENS_MAX_ITEMS_DEFAULT + 1}};
    assert_int_equal(encode(&ints_t, &too_many, &frame, &len), ENS_EINVAL);
    assert_null(frame);
}

static void test_encode_over_frame_limit_is_emsgsize(void **state)
{
    (void)state;
    size_t n = 8192;
    uint8_t *data = calloc(1, n);
    ens_bytes_v in = {{data, (uint32_t)n}};
    ens_frame_hdr h = {0};
    h.attempt = 1;
    uint8_t *frame = NULL;
    size_t len = 0;
    const ens_typeinfo *info = info_of(ENS_MSG_BYTES);
    assert_int_equal(ens__codec_encode(info, &in, &h, 4096, &frame, &len), ENS_EMSGSIZE);
    assert_int_equal(ens__codec_encode(info, &in, &h, (uint32_t)n, &frame, &len), ENS_EMSGSIZE);
    assert_int_equal(ens__codec_encode(info, &in, &h, (uint32_t)n + 200, &frame, &len), 0);
    assert_true(len <= n + 200);
    free(frame);
    free(data);
}

static lists_v rich_value(void)
{
    static int32_t ints[] = {1, 2, 3};
    static char *strs[] = {"alpha", NULL, "gamma"};
    static pair pairs[] = {{1, "one"}, {2, "two"}};
    static double doubles[] = {1.5};
    lists_v v = {9,         {ints, 3},    {NULL, 0}, {NULL, 0},
                 {NULL, 0}, {doubles, 1}, {strs, 3}, {pairs, 2}};
    return v;
}

static void test_encode_out_of_memory_at_every_step(void **state)
{
    (void)state;
    lists_v in = rich_value();
    ens_frame_hdr h = {0};
    h.attempt = 1;
    long n;
    for (n = 0;; n++) {
        uint8_t *frame = NULL;
        size_t len = 0;
        ens__alloc_fail_after(n);
        int rc = ens__codec_encode(info_of(&lists_t), &in, &h, LIMIT, &frame, &len);
        ens__alloc_fail_after(-1);
        if (rc == 0) {
            free(frame);
            break;
        }
        assert_int_equal(rc, ENS_ENOMEM);
        assert_null(frame);
    }
    assert_true(n >= 3);
}

static void test_decode_out_of_memory_at_every_step(void **state)
{
    (void)state;
    lists_v in = rich_value();
    uint8_t *frame;
    size_t len;
    assert_int_equal(encode(&lists_t, &in, &frame, &len), 0);
    long n;
    for (n = 0;; n++) {
        ens_arena *a = ens__arena_new();
        assert_non_null(a);
        void *out = NULL;
        ens__alloc_fail_after(n);
        int rc = ens__codec_decode(info_of(&lists_t), 0, frame + ENS_FRAME_HEADER_LEN,
                                   len - ENS_FRAME_HEADER_LEN, a, &out);
        ens__alloc_fail_after(-1);
        if (rc == 0) {
            lists_v *v = out;
            assert_string_equal(((pair *)v->pairs.items)[1].name, "two");
            ens__arena_free(a);
            break;
        }
        assert_int_equal(rc, ENS_ENOMEM);
        assert_null(out);
        ens__arena_free(a);
    }
    assert_true(n >= 10);
    free(frame);
}

/* ---- fixed layout ------------------------------------------------------------ */

/* Encode v as t with header flags `flags`; check the frame is FIXED with
 * the packed size, and give the frame. */
static uint8_t *encode_fixed(const ens_msgtype *t, const void *v, uint16_t flags, size_t packed)
{
    ens_frame_hdr h = {0};
    h.flags = flags;
    h.attempt = 1;
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(ens__codec_encode(info_of(t), v, &h, LIMIT, &frame, &len), 0);
    assert_int_equal(len, ENS_FRAME_HEADER_LEN + packed);
    ens_frame_hdr out;
    assert_int_equal(ens__frame_hdr_read(frame, len, LIMIT, &out), 0);
    assert_int_equal(out.flags, flags | ENS_FRAME_FIXED);
    assert_int_equal(out.payload_len, packed);
    assert_int_equal(out.type_id, t->id);
    return frame;
}

/* Decode a payload (copied to a buffer of exactly len bytes, so ASan sees
 * any overread) as t with header flags `flags`. */
static int decode_flags(const ens_msgtype *t, uint16_t flags, const uint8_t *payload, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len)
        memcpy(p, payload, len);
    ens_arena *a = ens__arena_new();
    assert_non_null(a);
    void *out = NULL;
    int rc = ens__codec_decode(info_of(t), flags, p, len, a, &out);
    assert_true(rc == 0 ? out != NULL : out == NULL);
    ens__arena_free(a);
    free(p);
    return rc;
}

static void test_fixed_layout_eligibility_is_decided_at_registration(void **state)
{
    (void)state;
    static const struct {
        const char *fmt;
        uint32_t packed; /* 0: not eligible */
    } cases[] = {
        {"S(I)", 8},
        {"S(c)", 1},
        {"S(cjviuIUf)", SCALARS_PACKED},
        {"S(" ENS_ADDR_FMT ")", 16},
        {"S(i$(ij)u)", 4 + 4 + 2 + 4},
        {"S(" ENS_ADDR_FMT ENS_ADDR_FMT "c)", 16 + 16 + 1},
        {"S(s)", 0},
        {"S(is)", 0},
        {"S(i" ENS_ADDR_FMT "s)", 0},
        {"S(i)B", 0},
        {"S(i)A(i)", 0},
        {"A(i)", 0},
        {"A(S(i))", 0},
        {"B", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ens_typeinfo info;
        memset(&info, 0xAB, sizeof info); /* every fixed field must be set */
        assert_int_equal(ens__format_layout(cases[k].fmt, &info), 0);
        assert_int_equal(info.fixed_size, cases[k].packed);
        if (cases[k].packed == 0) {
            assert_int_equal(info.n_fixed, 0);
            continue;
        }
        uint32_t sum = 0;
        for (uint32_t f = 0; f < info.n_fixed; f++) {
            assert_true(info.fixed[f].offset + info.fixed[f].size <= info.size);
            assert_true(f == 0 ||
                        info.fixed[f].offset >= info.fixed[f - 1].offset + info.fixed[f - 1].size);
            sum += info.fixed[f].size;
        }
        assert_int_equal(sum, info.fixed_size);
    }
    /* 32 fields are fine, 33 go through tpl */
    char fmt[64] = "S(";
    memset(fmt + 2, 'i', 32);
    memcpy(fmt + 34, ")", 2);
    ens_typeinfo info;
    assert_int_equal(ens__format_layout(fmt, &info), 0);
    assert_int_equal(info.fixed_size, 128);
    memcpy(fmt + 2 + 32, "i)", 3);
    assert_int_equal(ens__format_layout(fmt, &info), 0);
    assert_int_equal(info.fixed_size, 0);
    /* the built-in and system types */
    assert_int_equal(info_of(ENS_MSG_INT64)->fixed_size, 8);
    assert_int_equal(info_of(ENS_MSG_EXIT_REQUEST)->fixed_size, 4);
    assert_int_equal(info_of(ENS_MSG_CHILD_EXITED)->fixed_size, 32);
    assert_int_equal(info_of(ENS_MSG_WAKEUP)->fixed_size, 20);
    assert_int_equal(info_of(ENS_MSG_STRING)->fixed_size, 0);
    assert_int_equal(info_of(ENS_MSG_BYTES)->fixed_size, 0);
    assert_int_equal(info_of(ENS_MSG_POISON)->fixed_size, 0);
    assert_int_equal(info_of(&scalars_t)->fixed_size, SCALARS_PACKED);
    assert_int_equal(info_of(&where_t)->fixed_size, WHERE_PACKED);
}

static void test_fixed_layout_round_trips_every_scalar_kind(void **state)
{
    (void)state;
    const scalars_v vals[] = {
        {'a', -2, 65535, INT32_MIN, UINT32_MAX, INT64_MIN, UINT64_MAX, -0.0},
        {'\xFF', INT16_MAX, 0, INT32_MAX, 0, INT64_MAX, 0, 1e300},
        {0, INT16_MIN, 1, -1, 1, -1, 1, 3.25},
    };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        scalars_v in;
        memset(&in, 0x5C, sizeof in); /* padding the decoder must not copy */
        in.c = vals[k].c;
        in.j = vals[k].j;
        in.v = vals[k].v;
        in.i = vals[k].i;
        in.u = vals[k].u;
        in.big = vals[k].big;
        in.ubig = vals[k].ubig;
        in.f = vals[k].f;
        uint8_t *frame = encode_fixed(&scalars_t, &in, ENS_FRAME_REQUEST, SCALARS_PACKED);
        ens_arena *a = ens__arena_new();
        void *out = NULL;
        assert_int_equal(ens__codec_decode(info_of(&scalars_t), ENS_FRAME_REQUEST | ENS_FRAME_FIXED,
                                           frame + ENS_FRAME_HEADER_LEN, SCALARS_PACKED, a, &out),
                         0);
        /* the decoded struct is the value with zeroed padding */
        scalars_v want;
        memset(&want, 0, sizeof want);
        want = vals[k];
        scalars_v z;
        memset(&z, 0, sizeof z);
        z.c = want.c, z.j = want.j, z.v = want.v, z.i = want.i, z.u = want.u;
        z.big = want.big, z.ubig = want.ubig, z.f = want.f;
        assert_memory_equal(out, &z, sizeof z);
        free(frame);
        ens__arena_free(a);
    }
    /* a NULL value is the zeroed struct */
    uint8_t *frame = encode_fixed(&scalars_t, NULL, 0, SCALARS_PACKED);
    for (size_t i = 0; i < SCALARS_PACKED; i++)
        assert_int_equal(frame[ENS_FRAME_HEADER_LEN + i], 0);
    free(frame);
}

static void test_fixed_layout_is_little_endian_field_by_field(void **state)
{
    (void)state;
    scalars_v in = {
        0x11, 0x2233, 0x4455, 0x66778899, 0xAABBCCDDu, 0x0102030405060708, 0xF1F2F3F4F5F6F7F8u, 0};
    uint64_t fbits = 0x400921FB54442D18u; /* pi */
    memcpy(&in.f, &fbits, 8);
    uint8_t *frame = encode_fixed(&scalars_t, &in, 0, SCALARS_PACKED);
    static const uint8_t want[SCALARS_PACKED] = {
        0x11,                                           /* c */
        0x33, 0x22,                                     /* j */
        0x55, 0x44,                                     /* v */
        0x99, 0x88, 0x77, 0x66,                         /* i */
        0xDD, 0xCC, 0xBB, 0xAA,                         /* u */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* I */
        0xF8, 0xF7, 0xF6, 0xF5, 0xF4, 0xF3, 0xF2, 0xF1, /* U */
        0x18, 0x2D, 0x44, 0x54, 0xFB, 0x21, 0x09, 0x40, /* f */
    };
    assert_memory_equal(frame + ENS_FRAME_HEADER_LEN, want, sizeof want);
    free(frame);

    ens_int64_v x = {0x0102030405060708};
    frame = encode_fixed(ENS_MSG_INT64, &x, ENS_FRAME_SYSTEM, 8);
    static const uint8_t want64[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    assert_memory_equal(frame + ENS_FRAME_HEADER_LEN, want64, 8);
    free(frame);
}

static void test_fixed_layout_does_not_leak_padding(void **state)
{
    (void)state;
    padded_v in;
    memset(&in, 0xAA, sizeof in);
    in.a = 1;
    in.b = 0x0203040506070809u;
    in.c = 10;
    in.d = 0x0C0B;
    uint8_t *frame = encode_fixed(&padded_t, &in, 0, PADDED_PACKED);
    static const uint8_t want[PADDED_PACKED] = {1, 9, 8, 7, 6, 5, 4, 3, 2, 10, 0x0B, 0x0C};
    assert_memory_equal(frame + ENS_FRAME_HEADER_LEN, want, sizeof want);
    for (size_t i = 0; i < PADDED_PACKED; i++)
        assert_int_not_equal(frame[ENS_FRAME_HEADER_LEN + i], 0xAA);
    ens_arena *a = ens__arena_new();
    void *out = NULL;
    assert_int_equal(ens__codec_decode(info_of(&padded_t), ENS_FRAME_FIXED,
                                       frame + ENS_FRAME_HEADER_LEN, PADDED_PACKED, a, &out),
                     0);
    padded_v z;
    memset(&z, 0, sizeof z);
    z.a = 1, z.b = in.b, z.c = 10, z.d = in.d;
    assert_memory_equal(out, &z, sizeof z);
    ens__arena_free(a);
    free(frame);
}

static void test_fixed_layout_nested_address_and_system_types(void **state)
{
    (void)state;
    where_v in;
    memset(&in, 0xAA, sizeof in);
    in.n = -7;
    in.who = (ens_addr){0xFEDCBA9876543210ull, 0xDEADBEEFu, 0};
    in.tag = 'q';
    uint8_t *frame = encode_fixed(&where_t, &in, 0, WHERE_PACKED);
    ens_arena *a;
    where_v *out = round_trip(&where_t, &in, &a);
    assert_int_equal(out->n, -7);
    assert_true(ens_addr_equal(out->who, in.who));
    assert_int_equal(out->who.spare, 0);
    assert_int_equal(out->tag, 'q');
    ens__arena_free(a);
    free(frame);

    /* system types go the same way (round_trip decodes with the header's flags) */
    ens_child_exited_v c = {{9, 1, 0}, ENS_EXIT_CRASH, 11, -3, 4};
    free(encode_fixed(ENS_MSG_CHILD_EXITED, &c, ENS_FRAME_SYSTEM, 32));
    ens_wakeup_v w = {UINT64_MAX, 12345, 250};
    free(encode_fixed(ENS_MSG_WAKEUP, &w, ENS_FRAME_SYSTEM, 20));
}

static void test_fixed_frame_of_wrong_length_is_rejected(void **state)
{
    (void)state;
    scalars_v in = {'x', 1, 2, 3, 4, 5, 6, 7.0};
    uint8_t *frame = encode_fixed(&scalars_t, &in, 0, SCALARS_PACKED);
    uint8_t longer[SCALARS_PACKED + 8] = {0};
    memcpy(longer, frame + ENS_FRAME_HEADER_LEN, SCALARS_PACKED);
    for (size_t len = 0; len <= sizeof longer; len++) {
        int want = len == SCALARS_PACKED ? 0 : ENS_EBADFRAME;
        assert_int_equal(decode_flags(&scalars_t, ENS_FRAME_FIXED, longer, len), want);
    }
    assert_true(strlen(ens__codec_last_error()) > 0);
    /* right length, wrong type: int64's 8 bytes are not a 37-byte scalars */
    assert_int_equal(decode_flags(&scalars_t, ENS_FRAME_FIXED, longer, 8), ENS_EBADFRAME);
    assert_int_equal(decode_flags(ENS_MSG_INT64, ENS_FRAME_FIXED, longer, 8), 0);
    free(frame);
}

static void test_fixed_flag_on_an_ineligible_type_is_rejected(void **state)
{
    (void)state;
    greeting_v g = {1, "x"};
    uint8_t *frame;
    size_t len;
    assert_int_equal(encode(&greeting_t, &g, &frame, &len), 0);
    const uint8_t *pl = frame + ENS_FRAME_HEADER_LEN;
    size_t plen = len - ENS_FRAME_HEADER_LEN;
    assert_int_equal(decode_flags(&greeting_t, 0, pl, plen), 0);
    assert_int_equal(decode_flags(&greeting_t, ENS_FRAME_FIXED, pl, plen), ENS_EBADFRAME);
    /* whatever the length */
    for (size_t n = 0; n <= 16; n++)
        assert_int_equal(decode_flags(&greeting_t, ENS_FRAME_FIXED, pl, n < plen ? n : plen),
                         ENS_EBADFRAME);
    assert_int_equal(decode_flags(ENS_MSG_STRING, ENS_FRAME_FIXED, pl, 8), ENS_EBADFRAME);
    assert_int_equal(decode_flags(ENS_MSG_BYTES, ENS_FRAME_FIXED, pl, 0), ENS_EBADFRAME);
    assert_int_equal(decode_flags(&ints_t, ENS_FRAME_FIXED, pl, 4), ENS_EBADFRAME);
    assert_int_equal(decode_flags(ENS_MSG_POISON, ENS_FRAME_FIXED, pl, plen), ENS_EBADFRAME);
    free(frame);
}

static void test_fixed_and_tpl_payloads_do_not_mix(void **state)
{
    (void)state;
    /* a fixed payload without the flag goes to tpl, which refuses it */
    ens_exit_request_v e = {0x01020304};
    uint8_t *frame = encode_fixed(ENS_MSG_EXIT_REQUEST, &e, 0, 4);
    assert_int_equal(decode_flags(ENS_MSG_EXIT_REQUEST, 0, frame + ENS_FRAME_HEADER_LEN, 4),
                     ENS_EBADFRAME);
    scalars_v in = {'t', 'p', 'l', 0, 0, 0, 0, 0};
    uint8_t *sframe = encode_fixed(&scalars_t, &in, 0, SCALARS_PACKED);
    assert_int_equal(decode_flags(&scalars_t, 0, sframe + ENS_FRAME_HEADER_LEN, SCALARS_PACKED),
                     ENS_EBADFRAME);
    free(sframe);

    /* a tpl image of an eligible type (what an older sender wrote) decodes
     * without the flag and is refused with it */
    uint8_t img[17] = {'t', 'p', 'l', 0, 17, 0, 0, 0, 'S', '(', 'i', ')', 0};
    uint16_t one = 1;
    if (*(uint8_t *)&one == 0) {
        img[3] = 1;
        img[4] = 0, img[7] = 17;
    }
    int32_t v = 0x01020304;
    memcpy(img + 13, &v, 4);
    assert_int_equal(decode_flags(ENS_MSG_EXIT_REQUEST, 0, img, sizeof img), 0);
    assert_int_equal(decode_flags(ENS_MSG_EXIT_REQUEST, ENS_FRAME_FIXED, img, sizeof img),
                     ENS_EBADFRAME);

    /* the same through whole frames: header flag and payload must agree */
    ens_msg *m = NULL;
    uint8_t *f = malloc(ENS_FRAME_HEADER_LEN + sizeof img);
    memcpy(f, frame, ENS_FRAME_HEADER_LEN);
    memcpy(f + ENS_FRAME_HEADER_LEN, img, sizeof img);
    ens_frame_hdr h;
    assert_int_equal(ens__frame_hdr_read(frame, ENS_FRAME_HEADER_LEN + 4, LIMIT, &h), 0);
    h.payload_len = sizeof img;
    ens__frame_hdr_write(&h, f); /* FIXED kept: refused */
    assert_int_equal(ens__msg_from_frame(f, ENS_FRAME_HEADER_LEN + sizeof img, LIMIT, &m),
                     ENS_EBADFRAME);
    f = malloc(ENS_FRAME_HEADER_LEN + sizeof img);
    memcpy(f + ENS_FRAME_HEADER_LEN, img, sizeof img);
    h.flags &= (uint16_t)~ENS_FRAME_FIXED; /* tpl: accepted */
    ens__frame_hdr_write(&h, f);
    assert_int_equal(ens__msg_from_frame(f, ENS_FRAME_HEADER_LEN + sizeof img, LIMIT, &m), 0);
    assert_int_equal(((const ens_exit_request_v *)m->value)->reserved, 0x01020304);
    ens_msg_free(m);
    f = malloc(ENS_FRAME_HEADER_LEN + 4);
    memcpy(f, frame, ENS_FRAME_HEADER_LEN + 4);
    h.payload_len = 4; /* fixed payload, flag cleared: refused */
    ens__frame_hdr_write(&h, f);
    assert_int_equal(ens__msg_from_frame(f, ENS_FRAME_HEADER_LEN + 4, LIMIT, &m), ENS_EBADFRAME);
    f = malloc(ENS_FRAME_HEADER_LEN + 4);
    memcpy(f, frame, ENS_FRAME_HEADER_LEN + 4); /* as encoded: accepted */
    assert_int_equal(ens__msg_from_frame(f, ENS_FRAME_HEADER_LEN + 4, LIMIT, &m), 0);
    assert_int_equal(((const ens_exit_request_v *)m->value)->reserved, 0x01020304);
    ens_msg_free(m);
    free(frame);
}

static void test_encoder_sets_and_clears_the_fixed_flag(void **state)
{
    (void)state;
    /* a header copied from a received fixed frame, reused for a tpl type */
    ens_frame_hdr h = {0};
    h.flags = ENS_FRAME_FIXED | ENS_FRAME_REPLY;
    h.attempt = 1;
    greeting_v g = {2, "hi"};
    uint8_t *frame;
    size_t len;
    assert_int_equal(ens__codec_encode(info_of(&greeting_t), &g, &h, LIMIT, &frame, &len), 0);
    ens_frame_hdr out;
    assert_int_equal(ens__frame_hdr_read(frame, len, LIMIT, &out), 0);
    assert_int_equal(out.flags, ENS_FRAME_REPLY);
    free(frame);
    /* forwarding (ens__frame_rebuild) keeps the payload's encoding flag
     * whatever flags the new header asks for */
    ens_int64_v x = {-5};
    frame = encode_fixed(ENS_MSG_INT64, &x, 0, 8);
    ens_msg *m = NULL;
    assert_int_equal(ens__msg_from_frame(frame, ENS_FRAME_HEADER_LEN + 8, LIMIT, &m), 0);
    h.flags = ENS_FRAME_FORWARDED;
    uint8_t *f2;
    size_t len2;
    assert_int_equal(ens__frame_rebuild(m, &h, &f2, &len2), 0);
    ens_msg *m2 = NULL;
    assert_int_equal(ens__msg_from_frame(f2, len2, LIMIT, &m2), 0);
    assert_int_equal(m2->hdr.flags, ENS_FRAME_FORWARDED | ENS_FRAME_FIXED);
    assert_true(((const ens_int64_v *)m2->value)->value == -5);
    ens_msg_free(m2);
    ens_msg_free(m);
    assert_int_equal(encode(&greeting_t, &g, &frame, &len), 0);
    assert_int_equal(ens__msg_from_frame(frame, len, LIMIT, &m), 0);
    h.flags = ENS_FRAME_FORWARDED | ENS_FRAME_FIXED;
    assert_int_equal(ens__frame_rebuild(m, &h, &f2, &len2), 0);
    assert_int_equal(ens__msg_from_frame(f2, len2, LIMIT, &m2), 0);
    assert_int_equal(m2->hdr.flags, ENS_FRAME_FORWARDED);
    assert_string_equal(((const greeting_v *)m2->value)->text, "hi");
    ens_msg_free(m2);
    ens_msg_free(m);
    /* and the public codec */
    uint8_t *bytes;
    size_t n;
    assert_int_equal(ens_msg_encode(&where_t, NULL, &bytes, &n), 0);
    assert_int_equal(n, ENS_FRAME_HEADER_LEN + WHERE_PACKED);
    assert_int_equal(ens_msg_decode(bytes, n, &m), 0);
    assert_int_equal(ens_msg_size(m), n);
    assert_int_equal(((const where_v *)ens_msg_value(m, &where_t))->n, 0);
    ens_msg_free(m);
    free(bytes);
}

static void test_fixed_encode_limit_and_out_of_memory(void **state)
{
    (void)state;
    ens_frame_hdr h = {0};
    h.attempt = 1;
    scalars_v in = {0};
    uint8_t *frame = NULL;
    size_t len = 0;
    const ens_typeinfo *info = info_of(&scalars_t);
    uint32_t need = ENS_FRAME_HEADER_LEN + SCALARS_PACKED;
    assert_int_equal(ens__codec_encode(info, &in, &h, need - 1, &frame, &len), ENS_EMSGSIZE);
    assert_null(frame);
    assert_int_equal(ens__codec_encode(info, &in, &h, need, &frame, &len), 0);
    ens__alloc_fail_after(0);
    uint8_t *none = NULL;
    int rc = ens__codec_encode(info, &in, &h, LIMIT, &none, &len);
    ens__alloc_fail_after(-1);
    assert_int_equal(rc, ENS_ENOMEM);
    assert_null(none);
    long n;
    for (n = 0;; n++) {
        ens_arena *a = ens__arena_new();
        assert_non_null(a);
        void *out = NULL;
        ens__alloc_fail_after(n);
        rc = ens__codec_decode(info, ENS_FRAME_FIXED, frame + ENS_FRAME_HEADER_LEN, SCALARS_PACKED,
                               a, &out);
        ens__alloc_fail_after(-1);
        ens__arena_free(a);
        if (rc == 0)
            break;
        assert_int_equal(rc, ENS_ENOMEM);
        assert_null(out);
    }
    assert_true(n >= 1);
    free(frame);
}

static void test_arena_realloc_keeps_contents(void **state)
{
    (void)state;
    ens_arena *a = ens__arena_new();
    char *p = ens__arena_alloc(a, 10);
    memcpy(p, "123456789", 10);
    char *q = ens__arena_alloc(a, 3);
    char *p2 = ens__arena_realloc(a, p, 100000);
    assert_string_equal(p2, "123456789");
    char *q2 = ens__arena_realloc(a, q, 5000);
    assert_non_null(q2);
    assert_true(((uintptr_t)p2 & 15) == 0 && ((uintptr_t)q2 & 15) == 0);
    char *r = ens__arena_realloc(a, NULL, 8);
    assert_non_null(r);
    assert_true(ens__arena_footprint(a) > 100000);
    ens__arena_free(a);
    ens__arena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_round_trip),
        cmocka_unit_test(test_null_and_empty_strings_survive),
        cmocka_unit_test(test_null_value_encodes_zeroed_struct),
        cmocka_unit_test(test_nested_address_round_trip),
        cmocka_unit_test(test_arrays_of_scalars_and_structs_round_trip),
        cmocka_unit_test(test_bytes_empty_and_one_mebibyte),
        cmocka_unit_test(test_blob_payload_rules),
        cmocka_unit_test(test_builtin_and_system_types_round_trip),
        cmocka_unit_test(test_image_of_another_format_is_rejected),
        cmocka_unit_test(test_truncated_or_extended_payloads_are_rejected),
        cmocka_unit_test(test_crafted_negative_array_count_is_rejected),
        cmocka_unit_test(test_crafted_count_in_multi_array_image_is_rejected),
        cmocka_unit_test(test_big_endian_image_decodes_and_old_strings_are_refused),
        cmocka_unit_test(test_array_count_above_max_items_is_rejected),
        cmocka_unit_test(test_encode_rejects_null_items_and_data),
        cmocka_unit_test(test_encode_over_frame_limit_is_emsgsize),
        cmocka_unit_test(test_encode_out_of_memory_at_every_step),
        cmocka_unit_test(test_decode_out_of_memory_at_every_step),
        cmocka_unit_test(test_fixed_layout_eligibility_is_decided_at_registration),
        cmocka_unit_test(test_fixed_layout_round_trips_every_scalar_kind),
        cmocka_unit_test(test_fixed_layout_is_little_endian_field_by_field),
        cmocka_unit_test(test_fixed_layout_does_not_leak_padding),
        cmocka_unit_test(test_fixed_layout_nested_address_and_system_types),
        cmocka_unit_test(test_fixed_frame_of_wrong_length_is_rejected),
        cmocka_unit_test(test_fixed_flag_on_an_ineligible_type_is_rejected),
        cmocka_unit_test(test_fixed_and_tpl_payloads_do_not_mix),
        cmocka_unit_test(test_encoder_sets_and_clears_the_fixed_flag),
        cmocka_unit_test(test_fixed_encode_limit_and_out_of_memory),
        cmocka_unit_test(test_arena_realloc_keeps_contents),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * tests/support/codec_cases.c - see codec_cases.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/codec_cases.h"

ens_msgtype codec_greeting_t = {"test.Greeting", "S(is)", sizeof(greeting_v), 0, 0, NULL};
ens_msgtype codec_located_t = {
    "test.Located", "S(i" ENS_ADDR_FMT "s)", sizeof(located_v), 0, 0, NULL};
ens_msgtype codec_lists_t = {
    "test.Lists", "S(i)A(i)A(U)A(c)A(j)A(f)A(s)A(S(is))", sizeof(lists_v), 0, 0, NULL};
ens_msgtype codec_ints_t = {"test.Ints", "A(i)", sizeof(ints_v), 0, 0, NULL};
ens_msgtype codec_ints3_t = {"test.Ints3", "A(i)", sizeof(ints_v), 3, 0, NULL};
ens_msgtype codec_strs_t = {"test.Strs", "A(s)", sizeof(ints_v), 0, 0, NULL};
ens_msgtype codec_pairs_t = {"test.Pairs", "A(S(is))", sizeof(ints_v), 0, 0, NULL};
ens_msgtype codec_scalars_t = {"test.Scalars", "S(cjviuIUf)", sizeof(scalars_v), 0, 0, NULL};
ens_msgtype codec_padded_t = {"test.Padded", "S(cUcj)", sizeof(padded_v), 0, 0, NULL};
ens_msgtype codec_where_t = {"test.Where", "S(i" ENS_ADDR_FMT "c)", sizeof(where_v), 0, 0, NULL};

int codec_cases_setup(void **state)
{
    (void)state;
    ens_msgtype *all[] = {&codec_greeting_t, &codec_located_t, &codec_lists_t, &codec_ints_t,
                          &codec_ints3_t,    &codec_strs_t,    &codec_pairs_t, &codec_scalars_t,
                          &codec_padded_t,   &codec_where_t};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        if (ens_msgtype_register(all[k]) != 0)
            return -1;
    }
    return 0;
}

const ens_typeinfo *info_of(const ens_msgtype *t)
{
    const ens_typeinfo *info = ens__typeinfo_of(t);
    assert_non_null(info);
    return info;
}

int encode(const ens_msgtype *t, const void *v, uint8_t **frame, size_t *len)
{
    ens_frame_hdr h = {0};
    h.attempt = 1;
    return ens__codec_encode(info_of(t), v, &h, LIMIT, frame, len);
}

void *round_trip(const ens_msgtype *t, const void *v, ens_arena **a)
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

uint8_t *encode_fixed(const ens_msgtype *t, const void *v, uint16_t flags, size_t packed)
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

int decode_flags(const ens_msgtype *t, uint16_t flags, const uint8_t *payload, size_t len)
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

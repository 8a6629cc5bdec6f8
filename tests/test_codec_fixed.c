/*
 * tests/test_codec_fixed.c - the codec's fixed-layout path: eligibility,
 * byte layout, padding, frames whose flag and payload disagree, limits and
 * out-of-memory (types shared with tests/test_codec.c in
 * tests/support/codec_cases.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ensemble/error.h"
#include "support/codec_cases.h"

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
    assert_int_equal(info_of(&ens_msg_int64)->fixed_size, 8);
    assert_int_equal(info_of(&ens_msg_exit_request)->fixed_size, 4);
    assert_int_equal(info_of(&ens_msg_child_exited)->fixed_size, 32);
    assert_int_equal(info_of(&ens_msg_wakeup)->fixed_size, 20);
    assert_int_equal(info_of(&ens_msg_string)->fixed_size, 0);
    assert_int_equal(info_of(&ens_msg_bytes)->fixed_size, 0);
    assert_int_equal(info_of(&ens_msg_poison)->fixed_size, 0);
    assert_int_equal(info_of(&codec_scalars_t)->fixed_size, SCALARS_PACKED);
    assert_int_equal(info_of(&codec_where_t)->fixed_size, WHERE_PACKED);
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
        uint8_t *frame = encode_fixed(&codec_scalars_t, &in, ENS_FRAME_REQUEST, SCALARS_PACKED);
        ens_arena *a = ens__arena_new();
        void *out = NULL;
        assert_int_equal(ens__codec_decode(info_of(&codec_scalars_t),
                                           ENS_FRAME_REQUEST | ENS_FRAME_FIXED,
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
    uint8_t *frame = encode_fixed(&codec_scalars_t, NULL, 0, SCALARS_PACKED);
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
    uint8_t *frame = encode_fixed(&codec_scalars_t, &in, 0, SCALARS_PACKED);
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
    frame = encode_fixed(&ens_msg_int64, &x, ENS_FRAME_SYSTEM, 8);
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
    uint8_t *frame = encode_fixed(&codec_padded_t, &in, 0, PADDED_PACKED);
    static const uint8_t want[PADDED_PACKED] = {1, 9, 8, 7, 6, 5, 4, 3, 2, 10, 0x0B, 0x0C};
    assert_memory_equal(frame + ENS_FRAME_HEADER_LEN, want, sizeof want);
    for (size_t i = 0; i < PADDED_PACKED; i++)
        assert_int_not_equal(frame[ENS_FRAME_HEADER_LEN + i], 0xAA);
    ens_arena *a = ens__arena_new();
    void *out = NULL;
    assert_int_equal(ens__codec_decode(info_of(&codec_padded_t), ENS_FRAME_FIXED,
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
    uint8_t *frame = encode_fixed(&codec_where_t, &in, 0, WHERE_PACKED);
    ens_arena *a;
    where_v *out = round_trip(&codec_where_t, &in, &a);
    assert_int_equal(out->n, -7);
    assert_true(ens_addr_equal(out->who, in.who));
    assert_int_equal(out->who.spare, 0);
    assert_int_equal(out->tag, 'q');
    ens__arena_free(a);
    free(frame);

    /* system types go the same way (round_trip decodes with the header's flags) */
    ens_child_exited_v c = {{9, 1, 0}, ENS_EXIT_CRASH, 11, -3, 4};
    free(encode_fixed(&ens_msg_child_exited, &c, ENS_FRAME_SYSTEM, 32));
    ens_wakeup_v w = {UINT64_MAX, 12345, 250};
    free(encode_fixed(&ens_msg_wakeup, &w, ENS_FRAME_SYSTEM, 20));
}

static void test_fixed_frame_of_wrong_length_is_rejected(void **state)
{
    (void)state;
    scalars_v in = {'x', 1, 2, 3, 4, 5, 6, 7.0};
    uint8_t *frame = encode_fixed(&codec_scalars_t, &in, 0, SCALARS_PACKED);
    uint8_t longer[SCALARS_PACKED + 8] = {0};
    memcpy(longer, frame + ENS_FRAME_HEADER_LEN, SCALARS_PACKED);
    for (size_t len = 0; len <= sizeof longer; len++) {
        int want = len == SCALARS_PACKED ? 0 : ENS_EBADFRAME;
        assert_int_equal(decode_flags(&codec_scalars_t, ENS_FRAME_FIXED, longer, len), want);
    }
    assert_true(strlen(ens__codec_last_error()) > 0);
    /* right length, wrong type: int64's 8 bytes are not a 37-byte scalars */
    assert_int_equal(decode_flags(&codec_scalars_t, ENS_FRAME_FIXED, longer, 8), ENS_EBADFRAME);
    assert_int_equal(decode_flags(&ens_msg_int64, ENS_FRAME_FIXED, longer, 8), 0);
    free(frame);
}

static void test_fixed_flag_on_an_ineligible_type_is_rejected(void **state)
{
    (void)state;
    greeting_v g = {1, "x"};
    uint8_t *frame;
    size_t len;
    assert_int_equal(encode(&codec_greeting_t, &g, &frame, &len), 0);
    const uint8_t *pl = frame + ENS_FRAME_HEADER_LEN;
    size_t plen = len - ENS_FRAME_HEADER_LEN;
    assert_int_equal(decode_flags(&codec_greeting_t, 0, pl, plen), 0);
    assert_int_equal(decode_flags(&codec_greeting_t, ENS_FRAME_FIXED, pl, plen), ENS_EBADFRAME);
    /* whatever the length */
    for (size_t n = 0; n <= 16; n++)
        assert_int_equal(decode_flags(&codec_greeting_t, ENS_FRAME_FIXED, pl, n < plen ? n : plen),
                         ENS_EBADFRAME);
    assert_int_equal(decode_flags(&ens_msg_string, ENS_FRAME_FIXED, pl, 8), ENS_EBADFRAME);
    assert_int_equal(decode_flags(&ens_msg_bytes, ENS_FRAME_FIXED, pl, 0), ENS_EBADFRAME);
    assert_int_equal(decode_flags(&codec_ints_t, ENS_FRAME_FIXED, pl, 4), ENS_EBADFRAME);
    assert_int_equal(decode_flags(&ens_msg_poison, ENS_FRAME_FIXED, pl, plen), ENS_EBADFRAME);
    free(frame);
}

static void test_fixed_and_tpl_payloads_do_not_mix(void **state)
{
    (void)state;
    /* a fixed payload without the flag goes to tpl, which refuses it */
    ens_exit_request_v e = {0x01020304};
    uint8_t *frame = encode_fixed(&ens_msg_exit_request, &e, 0, 4);
    assert_int_equal(decode_flags(&ens_msg_exit_request, 0, frame + ENS_FRAME_HEADER_LEN, 4),
                     ENS_EBADFRAME);
    scalars_v in = {'t', 'p', 'l', 0, 0, 0, 0, 0};
    uint8_t *sframe = encode_fixed(&codec_scalars_t, &in, 0, SCALARS_PACKED);
    assert_int_equal(
        decode_flags(&codec_scalars_t, 0, sframe + ENS_FRAME_HEADER_LEN, SCALARS_PACKED),
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
    assert_int_equal(decode_flags(&ens_msg_exit_request, 0, img, sizeof img), 0);
    assert_int_equal(decode_flags(&ens_msg_exit_request, ENS_FRAME_FIXED, img, sizeof img),
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
    assert_int_equal(ens__codec_encode(info_of(&codec_greeting_t), &g, &h, LIMIT, &frame, &len), 0);
    ens_frame_hdr out;
    assert_int_equal(ens__frame_hdr_read(frame, len, LIMIT, &out), 0);
    assert_int_equal(out.flags, ENS_FRAME_REPLY);
    free(frame);
    /* forwarding (ens__frame_rebuild) keeps the payload's encoding flag
     * whatever flags the new header asks for */
    ens_int64_v x = {-5};
    frame = encode_fixed(&ens_msg_int64, &x, 0, 8);
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
    assert_int_equal(encode(&codec_greeting_t, &g, &frame, &len), 0);
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
    assert_int_equal(ens_msg_encode(&codec_where_t, NULL, &bytes, &n), 0);
    assert_int_equal(n, ENS_FRAME_HEADER_LEN + WHERE_PACKED);
    assert_int_equal(ens_msg_decode(bytes, n, &m), 0);
    assert_int_equal(ens_msg_size(m), n);
    assert_int_equal(((const where_v *)ens_msg_value(m, &codec_where_t))->n, 0);
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
    const ens_typeinfo *info = info_of(&codec_scalars_t);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests(tests, codec_cases_setup, NULL);
}

/*
 * tests/test_frame.c - the 64-byte frame header: byte layout, round trip,
 * and one test per rejection of ens__frame_hdr_read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/wire/frame.h"
#include "ensemble/error.h"

#define PAYLOAD 16u

static ens_frame_hdr sample_hdr(void)
{
    ens_frame_hdr h = {0};
    h.flags = ENS_FRAME_REQUEST | ENS_FRAME_FORWARDED;
    h.payload_len = PAYLOAD;
    h.type_id = 0xA1B2C3D4u;
    h.target = (ens_addr){0x0102030405060708ull, 77, 0};
    h.sender = (ens_addr){42, 0xFFFFFFFFu, 0};
    h.corr = 0x1122334455667788ull;
    h.attempt = 2;
    h.error = -5;
    return h;
}

/* A whole valid frame: header plus PAYLOAD bytes. */
static void sample_frame(uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD])
{
    ens_frame_hdr h = sample_hdr();
    memset(buf, 0xAB, ENS_FRAME_HEADER_LEN + PAYLOAD);
    ens__frame_hdr_write(&h, buf);
}

static int read_sample(uint8_t *buf, size_t len)
{
    ens_frame_hdr h;
    return ens__frame_hdr_read(buf, len, 1u << 20, &h);
}

static void test_header_round_trip_keeps_every_field(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    ens_frame_hdr in = sample_hdr(), out;
    memset(&out, 0, sizeof out);
    assert_int_equal(ens__frame_hdr_read(buf, sizeof buf, 1u << 20, &out), 0);
    assert_int_equal(out.flags, in.flags);
    assert_int_equal(out.payload_len, in.payload_len);
    assert_int_equal(out.type_id, in.type_id);
    assert_true(out.target.id == in.target.id && out.target.node == in.target.node);
    assert_true(out.sender.id == in.sender.id && out.sender.node == in.sender.node);
    assert_true(out.corr == in.corr);
    assert_int_equal(out.attempt, in.attempt);
    assert_int_equal(out.error, in.error);
    assert_int_equal(ens__frame_total_len(buf), sizeof buf);
}

static void test_header_bytes_are_little_endian(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    static const uint8_t head[16] = {'E', 'N', 'S', '1', 1,    8,    0x09, 0x00,
                                     16,  0,   0,   0,   0xD4, 0xC3, 0xB2, 0xA1};
    assert_memory_equal(buf, head, sizeof head);
    static const uint8_t target[16] = {8, 7, 6, 5, 4, 3, 2, 1, 77, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(buf + 16, target, sizeof target);
    assert_int_equal(buf[48], 0x88);
    assert_int_equal(buf[55], 0x11);
    assert_int_equal(buf[56], 2);
    assert_int_equal(buf[57], 0);
    assert_int_equal(buf[58], 0xFB); /* -5 as int16 */
    assert_int_equal(buf[59], 0xFF);
    assert_int_equal(buf[60] | buf[61] | buf[62] | buf[63], 0);
}

static void test_short_buffer_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    assert_int_equal(read_sample(buf, ENS_FRAME_HEADER_LEN - 1), ENS_EBADFRAME);
    assert_int_equal(read_sample(buf, 0), ENS_EBADFRAME);
    assert_int_equal(read_sample(NULL, 0), ENS_EBADFRAME);
}

static void test_wrong_magic_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    buf[3] = '2';
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
}

static void test_wrong_version_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    buf[4] = 2;
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
}

static void test_wrong_header_length_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    buf[5] = 9;
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
}

static void test_unknown_flag_bits_are_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    for (unsigned bit = 9; bit < 16; bit++) {
        sample_frame(buf);
        buf[6 + bit / 8] |= (uint8_t)(1u << (bit % 8));
        assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
    }
}

static void test_sequence_number_round_trips(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    ens__frame_set_seq(buf, 0xA1B2C3D4u);
    assert_int_equal(ens__frame_seq(buf), 0xA1B2C3D4u);
    ens_frame_hdr h;
    assert_int_equal(ens__frame_hdr_read(buf, sizeof buf, 1u << 20, &h), 0);
    assert_int_equal(h.seq, 0xA1B2C3D4u);
    uint8_t out[ENS_FRAME_HEADER_LEN];
    ens__frame_hdr_write(&h, out);
    assert_memory_equal(out, buf, ENS_FRAME_HEADER_LEN);
}

static void test_attempt_zero_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    buf[56] = 0;
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
}

static void test_spare_address_fields_nonzero_are_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    buf[16 + 12] = 1; /* target.spare */
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
    sample_frame(buf);
    buf[32 + 15] = 0x80; /* sender.spare */
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
}

static void test_payload_length_lying_up_or_down_is_rejected(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    sample_frame(buf);
    buf[8] = PAYLOAD + 1;
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
    buf[8] = PAYLOAD - 1;
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
    buf[8] = 0;
    assert_int_equal(read_sample(buf, sizeof buf), ENS_EBADFRAME);
    /* a buffer longer than the frame says is not accepted either */
    sample_frame(buf);
    assert_int_equal(read_sample(buf, sizeof buf - 1), ENS_EBADFRAME);
}

static void test_frame_over_limit_is_emsgsize(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    ens_frame_hdr h;
    sample_frame(buf);
    assert_int_equal(ens__frame_hdr_read(buf, sizeof buf, sizeof buf, &h), 0);
    assert_int_equal(ens__frame_hdr_read(buf, sizeof buf, sizeof buf - 1, &h), ENS_EMSGSIZE);
    /* a huge announced payload: the limit speaks before the length */
    buf[8] = buf[9] = buf[10] = buf[11] = 0xFF;
    assert_int_equal(ens__frame_hdr_read(buf, sizeof buf, UINT32_MAX, &h), ENS_EMSGSIZE);
    assert_true(ens__frame_total_len(buf) == 64ull + 0xFFFFFFFFull);
}

static void test_every_known_flag_is_accepted(void **state)
{
    (void)state;
    uint8_t buf[ENS_FRAME_HEADER_LEN + PAYLOAD];
    ens_frame_hdr h = sample_hdr(), out;
    h.flags = ENS_FRAME_FLAGS_KNOWN;
    ens__frame_hdr_write(&h, buf);
    assert_int_equal(ens__frame_hdr_read(buf, sizeof buf, 1u << 20, &out), 0);
    assert_int_equal(out.flags, ENS_FRAME_FLAGS_KNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip_keeps_every_field),
        cmocka_unit_test(test_header_bytes_are_little_endian),
        cmocka_unit_test(test_short_buffer_is_rejected),
        cmocka_unit_test(test_wrong_magic_is_rejected),
        cmocka_unit_test(test_wrong_version_is_rejected),
        cmocka_unit_test(test_wrong_header_length_is_rejected),
        cmocka_unit_test(test_unknown_flag_bits_are_rejected),
        cmocka_unit_test(test_sequence_number_round_trips),
        cmocka_unit_test(test_attempt_zero_is_rejected),
        cmocka_unit_test(test_spare_address_fields_nonzero_are_rejected),
        cmocka_unit_test(test_payload_length_lying_up_or_down_is_rejected),
        cmocka_unit_test(test_frame_over_limit_is_emsgsize),
        cmocka_unit_test(test_every_known_flag_is_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

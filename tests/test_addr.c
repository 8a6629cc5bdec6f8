/*
 * tests/test_addr.c - addresses as values: equality, order, "none", the text
 * form "ens:<node>/<id>" and its strict parser (every malformed string must
 * be ENS_EINVAL and leave the output untouched).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ensemble/addr.h"
#include "ensemble/error.h"

static ens_addr mk(uint32_t node, uint64_t id)
{
    ens_addr a = {.id = id, .node = node, .spare = 0};
    return a;
}

static void test_equal_compares_every_field(void **state)
{
    (void)state;
    ens_addr a = mk(1, 2);
    ens_addr spare = a;
    spare.spare = 1;
    assert_true(ens_addr_equal(a, mk(1, 2)));
    assert_false(ens_addr_equal(a, mk(1, 3)));
    assert_false(ens_addr_equal(a, mk(2, 2)));
    assert_false(ens_addr_equal(a, spare));
}

static void test_none_is_the_all_zero_address(void **state)
{
    (void)state;
    ens_addr spare = ENS_ADDR_NONE;
    spare.spare = 1;
    assert_true(ens_addr_is_none(ENS_ADDR_NONE));
    assert_true(ens_addr_is_none(mk(0, 0)));
    assert_false(ens_addr_is_none(mk(0, 1)));
    assert_false(ens_addr_is_none(mk(1, 0)));
    assert_false(ens_addr_is_none(spare));
    assert_true(ens_addr_equal(ENS_ADDR_NONE, mk(0, 0)));
}

static void test_compare_orders_by_node_then_id_then_spare(void **state)
{
    (void)state;
    ens_addr spare = mk(1, 1);
    spare.spare = 1;
    assert_int_equal(ens_addr_compare(mk(1, 1), mk(1, 1)), 0);
    assert_true(ens_addr_compare(mk(1, 1), mk(1, 2)) < 0);
    assert_true(ens_addr_compare(mk(1, 2), mk(1, 1)) > 0);
    /* node dominates id */
    assert_true(ens_addr_compare(mk(1, UINT64_MAX), mk(2, 0)) < 0);
    assert_true(ens_addr_compare(mk(2, 0), mk(1, UINT64_MAX)) > 0);
    assert_true(ens_addr_compare(mk(1, 1), spare) < 0);
    assert_true(ens_addr_compare(spare, mk(1, 1)) > 0);
    /* unsigned, no overflow in the subtraction a naive compare would do */
    assert_true(ens_addr_compare(mk(0, 0), mk(UINT32_MAX, UINT64_MAX)) < 0);
    assert_true(ens_addr_compare(mk(UINT32_MAX, 0), mk(0, 0)) > 0);
    assert_true(ens_addr_compare(mk(0, UINT64_MAX), mk(0, 1)) > 0);
}

static void test_format_writes_node_and_id_in_decimal(void **state)
{
    (void)state;
    char buf[ENS_ADDR_STRLEN];
    assert_int_equal(ens_addr_format(mk(7, 42), buf, sizeof(buf)), 8);
    assert_string_equal(buf, "ens:7/42");
    assert_int_equal(ens_addr_format(ENS_ADDR_NONE, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "ens:0/0");
}

static void test_format_of_largest_address_fits_strlen(void **state)
{
    (void)state;
    char buf[ENS_ADDR_STRLEN];
    const char *want = "ens:4294967295/18446744073709551615";
    assert_int_equal(ens_addr_format(mk(UINT32_MAX, UINT64_MAX), buf, sizeof(buf)),
                     (int)strlen(want));
    assert_string_equal(buf, want);
    assert_true(strlen(want) < ENS_ADDR_STRLEN);
}

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    const ens_addr cases[] = {
        mk(0, 0),
        mk(0, 1),
        mk(1, 0),
        mk(1, 1),
        mk(10, 100),
        mk(UINT32_MAX, 0),
        mk(0, UINT64_MAX),
        mk(UINT32_MAX, UINT64_MAX),
        mk(UINT32_MAX - 1, UINT64_MAX - 1),
        mk(123456789, 9876543210123ULL),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[ENS_ADDR_STRLEN];
        ens_addr back = mk(99, 99);
        int n = ens_addr_format(cases[i], buf, sizeof(buf));
        assert_true(n > 0);
        assert_int_equal((size_t)n, strlen(buf));
        assert_int_equal(ens_addr_parse(buf, &back), 0);
        assert_true(ens_addr_equal(back, cases[i]));
    }
}

static void test_format_exact_fit_succeeds(void **state)
{
    (void)state;
    char buf[9]; /* "ens:7/42" + NUL */
    assert_int_equal(ens_addr_format(mk(7, 42), buf, sizeof(buf)), 8);
    assert_string_equal(buf, "ens:7/42");
}

static void test_format_small_buffer_gives_enobufs_and_truncates(void **state)
{
    (void)state;
    char buf[16];
    for (size_t len = 1; len <= 8; len++) {
        memset(buf, 'x', sizeof(buf));
        assert_int_equal(ens_addr_format(mk(7, 42), buf, len), ENS_ENOBUFS);
        /* a terminated prefix of the full text, nothing written past len */
        assert_int_equal(strlen(buf), len - 1);
        assert_memory_equal(buf, "ens:7/42", len - 1);
        assert_int_equal(buf[len], 'x');
    }
}

static void test_format_zero_length_buffer_gives_enobufs(void **state)
{
    (void)state;
    char buf[1] = {'x'};
    assert_int_equal(ens_addr_format(mk(7, 42), buf, 0), ENS_ENOBUFS);
    assert_int_equal(buf[0], 'x');
    assert_int_equal(ens_addr_format(mk(7, 42), NULL, 0), ENS_ENOBUFS);
}

static void test_format_rejects_null_buffer_with_length(void **state)
{
    (void)state;
    assert_int_equal(ens_addr_format(mk(7, 42), NULL, 16), ENS_EINVAL);
}

static void test_parse_accepts_canonical_text(void **state)
{
    (void)state;
    ens_addr a;
    assert_int_equal(ens_addr_parse("ens:3/17", &a), 0);
    assert_true(ens_addr_equal(a, mk(3, 17)));
    assert_int_equal(a.spare, 0);
    assert_int_equal(ens_addr_parse("ens:0/0", &a), 0);
    assert_true(ens_addr_is_none(a));
}

static void test_parse_accepts_the_largest_values(void **state)
{
    (void)state;
    ens_addr a;
    assert_int_equal(ens_addr_parse("ens:4294967295/18446744073709551615", &a), 0);
    assert_int_equal(a.node, UINT32_MAX);
    assert_true(a.id == UINT64_MAX);
}

/* Each string must be rejected and must not touch *out. */
static void assert_rejected(const char *text)
{
    ens_addr out = mk(0xabcd, 0x1234);
    int rc = ens_addr_parse(text, &out);
    if (rc != ENS_EINVAL)
        fail_msg("ens_addr_parse(\"%s\") returned %d, want ENS_EINVAL", text, rc);
    assert_true(ens_addr_equal(out, mk(0xabcd, 0x1234)));
}

static void test_parse_rejects_null_arguments(void **state)
{
    (void)state;
    ens_addr a;
    assert_int_equal(ens_addr_parse(NULL, &a), ENS_EINVAL);
    assert_int_equal(ens_addr_parse("ens:1/2", NULL), ENS_EINVAL);
}

static void test_parse_rejects_missing_or_wrong_prefix(void **state)
{
    (void)state;
    assert_rejected("");
    assert_rejected("1/2");
    assert_rejected("ens");
    assert_rejected("ens:");
    assert_rejected("ENS:1/2");
    assert_rejected("Ens:1/2");
    assert_rejected("en:1/2");
    assert_rejected("ens1/2");
    assert_rejected("ens::1/2");
    assert_rejected("ens;1/2");
    assert_rejected("xens:1/2");
}

static void test_parse_rejects_missing_parts(void **state)
{
    (void)state;
    assert_rejected("ens:/2");
    assert_rejected("ens:1/");
    assert_rejected("ens:1");
    assert_rejected("ens:/");
    assert_rejected("ens:12");
    assert_rejected("ens:1//2");
}

static void test_parse_rejects_signs(void **state)
{
    (void)state;
    assert_rejected("ens:-1/2");
    assert_rejected("ens:+1/2");
    assert_rejected("ens:1/-2");
    assert_rejected("ens:1/+2");
}

static void test_parse_rejects_whitespace(void **state)
{
    (void)state;
    assert_rejected(" ens:1/2");
    assert_rejected("ens: 1/2");
    assert_rejected("ens:1 /2");
    assert_rejected("ens:1/ 2");
    assert_rejected("ens:1/2 ");
    assert_rejected("ens:1/2\n");
    assert_rejected("ens:\t1/2");
}

static void test_parse_rejects_trailing_text(void **state)
{
    (void)state;
    assert_rejected("ens:1/2x");
    assert_rejected("ens:1/2/3");
    assert_rejected("ens:1/2.0");
    assert_rejected("ens:1/2:");
    assert_rejected("ens:1/2ens:1/2");
}

static void test_parse_rejects_non_decimal_digits(void **state)
{
    (void)state;
    assert_rejected("ens:0x1/2");
    assert_rejected("ens:1/0x2");
    assert_rejected("ens:a/2");
    assert_rejected("ens:1/b");
    assert_rejected("ens:1e3/2");
    assert_rejected("ens:1.5/2");
    assert_rejected("ens:1,2/3");
    assert_rejected("ens:1_0/2");
    assert_rejected("ens:\xd9\xa1/2"); /* ARABIC-INDIC DIGIT ONE in UTF-8 */
}

static void test_parse_rejects_leading_zeros(void **state)
{
    (void)state;
    /* Each address has exactly one spelling: the one ens_addr_format writes. */
    assert_rejected("ens:01/2");
    assert_rejected("ens:1/02");
    assert_rejected("ens:00/0");
    assert_rejected("ens:0/00");
    assert_rejected("ens:0004294967295/1");
}

static void test_parse_rejects_node_overflow(void **state)
{
    (void)state;
    assert_rejected("ens:4294967296/1");  /* UINT32_MAX + 1 */
    assert_rejected("ens:4294967300/1");  /* same length, above */
    assert_rejected("ens:9999999999/1");  /* ten digits */
    assert_rejected("ens:42949672950/1"); /* eleven digits */
    assert_rejected("ens:18446744073709551615/1");
    assert_rejected("ens:18446744073709551616/1"); /* wraps to 0 in 64 bits */
}

static void test_parse_rejects_id_overflow(void **state)
{
    (void)state;
    assert_rejected("ens:1/18446744073709551616"); /* UINT64_MAX + 1 */
    assert_rejected("ens:1/18446744073709551620");
    assert_rejected("ens:1/99999999999999999999");
    assert_rejected("ens:1/184467440737095516150");
    assert_rejected("ens:1/36893488147419103232"); /* 2^65: wraps to 0 twice */
    assert_rejected("ens:1/1000000000000000000000000000000000000000");
}

static void test_parse_rejects_embedded_nul_as_truncated(void **state)
{
    (void)state;
    /* The parser sees a C string: text after a NUL is invisible, so what
     * remains must itself be malformed to be rejected. */
    assert_rejected("ens:1\0/2");
    assert_rejected("ens\0:1/2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_compares_every_field),
        cmocka_unit_test(test_none_is_the_all_zero_address),
        cmocka_unit_test(test_compare_orders_by_node_then_id_then_spare),
        cmocka_unit_test(test_format_writes_node_and_id_in_decimal),
        cmocka_unit_test(test_format_of_largest_address_fits_strlen),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_format_exact_fit_succeeds),
        cmocka_unit_test(test_format_small_buffer_gives_enobufs_and_truncates),
        cmocka_unit_test(test_format_zero_length_buffer_gives_enobufs),
        cmocka_unit_test(test_format_rejects_null_buffer_with_length),
        cmocka_unit_test(test_parse_accepts_canonical_text),
        cmocka_unit_test(test_parse_accepts_the_largest_values),
        cmocka_unit_test(test_parse_rejects_null_arguments),
        cmocka_unit_test(test_parse_rejects_missing_or_wrong_prefix),
        cmocka_unit_test(test_parse_rejects_missing_parts),
        cmocka_unit_test(test_parse_rejects_signs),
        cmocka_unit_test(test_parse_rejects_whitespace),
        cmocka_unit_test(test_parse_rejects_trailing_text),
        cmocka_unit_test(test_parse_rejects_non_decimal_digits),
        cmocka_unit_test(test_parse_rejects_leading_zeros),
        cmocka_unit_test(test_parse_rejects_node_overflow),
        cmocka_unit_test(test_parse_rejects_id_overflow),
        cmocka_unit_test(test_parse_rejects_embedded_nul_as_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tests/test_error.c - ens_strerror() and ens_err_name(): every ENS_E* code
 * has its own name and a sentence, and anything else gets the fixed
 * "unknown" answers instead of NULL.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ensemble/error.h"

static const struct {
    int code;
    const char *name;
} all_codes[] = {
    {ENS_OK, "ENS_OK"},
    {ENS_ENOENT, "ENS_ENOENT"},
    {ENS_EIO, "ENS_EIO"},
    {ENS_EAGAIN, "ENS_EAGAIN"},
    {ENS_EACCES, "ENS_EACCES"},
    {ENS_ENOMEM, "ENS_ENOMEM"},
    {ENS_EEXIST, "ENS_EEXIST"},
    {ENS_EINVAL, "ENS_EINVAL"},
    {ENS_EMSGSIZE, "ENS_EMSGSIZE"},
    {ENS_ENOTSUP, "ENS_ENOTSUP"},
    {ENS_ENOBUFS, "ENS_ENOBUFS"},
    {ENS_ESHUTDOWN, "ENS_ESHUTDOWN"},
    {ENS_ETIMEDOUT, "ENS_ETIMEDOUT"},
    {ENS_ENOACTOR, "ENS_ENOACTOR"},
    {ENS_EPOISON, "ENS_EPOISON"},
    {ENS_EBREAKER_OPEN, "ENS_EBREAKER_OPEN"},
    {ENS_EINIT, "ENS_EINIT"},
    {ENS_EBADFRAME, "ENS_EBADFRAME"},
    {ENS_EBADTYPE, "ENS_EBADTYPE"},
    {ENS_EFULL, "ENS_EFULL"},
    {ENS_EUNSAFE, "ENS_EUNSAFE"},
    {ENS_EPEERCRED, "ENS_EPEERCRED"},
    {ENS_ETOOMANY, "ENS_ETOOMANY"},
    {ENS_ENOTJOURNAL, "ENS_ENOTJOURNAL"},
    {ENS_EUNREACHABLE, "ENS_EUNREACHABLE"},
    {ENS_ENOPLACE, "ENS_ENOPLACE"},
    {ENS_EAUTH, "ENS_EAUTH"},
    {ENS_ENOREPLY, "ENS_ENOREPLY"},
    {ENS_EWRONGTHREAD, "ENS_EWRONGTHREAD"},
};

#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

static void test_every_code_has_its_own_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++)
        assert_string_equal(ens_err_name(all_codes[i].code), all_codes[i].name);
}

static void test_names_are_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        for (size_t j = i + 1; j < NCODES; j++)
            assert_string_not_equal(ens_err_name(all_codes[i].code),
                                    ens_err_name(all_codes[j].code));
    }
}

static void test_every_code_has_a_known_sentence(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        const char *text = ens_strerror(all_codes[i].code);
        assert_non_null(text);
        assert_true(strlen(text) > 0);
        assert_string_not_equal(text, "unknown error");
    }
}

static void test_sentences_are_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        for (size_t j = i + 1; j < NCODES; j++)
            assert_string_not_equal(ens_strerror(all_codes[i].code),
                                    ens_strerror(all_codes[j].code));
    }
}

static void test_codes_reuse_errno_values_where_they_fit(void **state)
{
    (void)state;
    /* The header promises Linux errno values, negated, for these. */
    assert_int_equal(ENS_ENOMEM, -12);
    assert_int_equal(ENS_EINVAL, -22);
    assert_int_equal(ENS_ETIMEDOUT, -110);
    /* ensemble's own codes count down from -1000, clear of errno values. */
    assert_int_equal(ENS_ENOACTOR, -1000);
    assert_true(ENS_EUNSAFE < ENS_ENOACTOR && ENS_EUNSAFE > -1100);
}

static void test_unknown_codes_get_fixed_answers(void **state)
{
    (void)state;
    static const int unknown[] = {
        1, 42, -1, -3, -4, ENS_ENOACTOR + 1, ENS_EWRONGTHREAD - 1, -5000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(ens_strerror(unknown[i]), "unknown error");
        assert_string_equal(ens_err_name(unknown[i]), "ENS_EUNKNOWN");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_its_own_name),
        cmocka_unit_test(test_names_are_distinct),
        cmocka_unit_test(test_every_code_has_a_known_sentence),
        cmocka_unit_test(test_sentences_are_distinct),
        cmocka_unit_test(test_codes_reuse_errno_values_where_they_fit),
        cmocka_unit_test(test_unknown_codes_get_fixed_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

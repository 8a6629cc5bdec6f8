/*
 * tests/test_version.c - ensemble/version.h: the macros a program is
 * compiled with agree with what the library says at run time, and with the
 * version CMake gave the build (ENS_PROJECT_VERSION, from project()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"

static void test_runtime_version_is_the_headers(void **state)
{
    (void)state;
    assert_int_equal(ens_version(), ENS_VERSION_NUMBER);
    assert_string_equal(ens_version_string(), ENS_VERSION_STRING);
}

static void test_string_is_the_three_numbers(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof(want), "%d.%d.%d", ENS_VERSION_MAJOR, ENS_VERSION_MINOR,
             ENS_VERSION_PATCH);
    assert_string_equal(ENS_VERSION_STRING, want);
    assert_int_equal(ENS_VERSION_NUMBER,
                     ENS_VERSION_MAJOR * 10000 + ENS_VERSION_MINOR * 100 + ENS_VERSION_PATCH);
}

static void test_header_is_the_projects_version(void **state)
{
    (void)state;
    assert_string_equal(ENS_VERSION_STRING, ENS_PROJECT_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_version_is_the_headers),
        cmocka_unit_test(test_string_is_the_three_numbers),
        cmocka_unit_test(test_header_is_the_projects_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

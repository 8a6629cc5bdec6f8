/*
 * tests/test_exit_reason.c - ens_exit_reason_name(): every enum
 * ens_exit_reason has its own symbolic name, and any other number gets the
 * fixed "unknown" answer instead of NULL.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ensemble/msg.h"

static const struct {
    int reason;
    const char *name;
} all_reasons[] = {
    {ENS_EXIT_NORMAL, "ENS_EXIT_NORMAL"},
    {ENS_EXIT_SHUTDOWN, "ENS_EXIT_SHUTDOWN"},
    {ENS_EXIT_ERROR, "ENS_EXIT_ERROR"},
    {ENS_EXIT_CRASH, "ENS_EXIT_CRASH"},
    {ENS_EXIT_KILLED, "ENS_EXIT_KILLED"},
    {ENS_EXIT_INIT_FAILED, "ENS_EXIT_INIT_FAILED"},
    {ENS_EXIT_INTENSITY, "ENS_EXIT_INTENSITY"},
    {ENS_EXIT_NOPLACE, "ENS_EXIT_NOPLACE"},
    {ENS_EXIT_NOCONNECTION, "ENS_EXIT_NOCONNECTION"},
};

#define NREASONS (sizeof(all_reasons) / sizeof(all_reasons[0]))

static void test_every_reason_has_its_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < NREASONS; i++)
        assert_string_equal(ens_exit_reason_name(all_reasons[i].reason), all_reasons[i].name);
}

static void test_the_table_covers_the_enum(void **state)
{
    (void)state;
    /* The reasons are consecutive from 0: the list above is all of them
     * when the one after its last has no name. */
    for (size_t i = 0; i < NREASONS; i++)
        assert_int_equal(all_reasons[i].reason, (int)i);
    assert_string_equal(ens_exit_reason_name((int)NREASONS), "ENS_EXIT_UNKNOWN");
}

static void test_other_numbers_are_unknown(void **state)
{
    (void)state;
    const int others[] = {-1, 1000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_string_equal(ens_exit_reason_name(others[i]), "ENS_EXIT_UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_reason_has_its_name),
        cmocka_unit_test(test_the_table_covers_the_enum),
        cmocka_unit_test(test_other_numbers_are_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

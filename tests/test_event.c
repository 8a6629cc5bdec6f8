/*
 * tests/test_event.c - the names of failure-event kinds: each kind has the
 * documented name (the journal stores it), names parse back to their kind,
 * and anything else is "unknown" / ENS_EINVAL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ensemble/error.h"
#include "ensemble/event.h"

static const struct {
    ens_event_kind kind;
    const char *name;
} all_kinds[] = {
    {ENS_EV_ERROR, "error"},
    {ENS_EV_RETRY, "retry"},
    {ENS_EV_POISON, "poison"},
    {ENS_EV_CRASH, "crash"},
    {ENS_EV_RESTART, "restart"},
    {ENS_EV_EXIT, "exit"},
    {ENS_EV_ESCALATE, "escalate"},
    {ENS_EV_BREAKER, "breaker"},
    {ENS_EV_BADFRAME, "badframe"},
    {ENS_EV_DEAD_LETTER, "dead_letter"},
    {ENS_EV_INIT_FAILED, "init_failed"},
    {ENS_EV_NOPLACE, "no_place"},
    {ENS_EV_MEMBER, "member"},
};

#define NKINDS (sizeof(all_kinds) / sizeof(all_kinds[0]))

static void test_every_kind_has_its_documented_name(void **state)
{
    (void)state;
    for (size_t i = 0; i < NKINDS; i++)
        assert_string_equal(ens_event_kind_name(all_kinds[i].kind), all_kinds[i].name);
}

static void test_names_parse_back_to_their_kind(void **state)
{
    (void)state;
    for (size_t i = 0; i < NKINDS; i++)
        assert_int_equal(ens_event_kind_parse(all_kinds[i].name), all_kinds[i].kind);
}

static void test_unknown_kinds_are_named_unknown(void **state)
{
    (void)state;
    assert_string_equal(ens_event_kind_name((ens_event_kind)0), "unknown");
    assert_string_equal(ens_event_kind_name((ens_event_kind)(ENS_EV_MEMBER + 1)), "unknown");
    assert_string_equal(ens_event_kind_name((ens_event_kind)-1), "unknown");
    assert_string_equal(ens_event_kind_name((ens_event_kind)1000000), "unknown");
}

static void test_parse_rejects_other_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",       "unknown", "Error",       "ERROR",      " error",      "error ",
        "errors", "err",     "dead-letter", "deadletter", "init failed", "1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ens_event_kind_parse(bad[i]), ENS_EINVAL);
}

static void test_parse_rejects_null(void **state)
{
    (void)state;
    assert_int_equal(ens_event_kind_parse(NULL), ENS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_has_its_documented_name),
        cmocka_unit_test(test_names_parse_back_to_their_kind),
        cmocka_unit_test(test_unknown_kinds_are_named_unknown),
        cmocka_unit_test(test_parse_rejects_other_text),
        cmocka_unit_test(test_parse_rejects_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

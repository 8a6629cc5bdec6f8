/*
 * tests/support/echo.c - the echo actor and its round-trip check (see
 * echo.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/echo.h"

int test_echo_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    return s != NULL ? ens_reply(c, &ens_msg_string, s) : 0;
}

int test_plus_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    return v != NULL ? ens_reply(c, &ens_msg_int64, &(ens_int64_v){v->value + TEST_PLUS}) : 0;
}

void test_expect_echo(ens_ctx *c, ens_addr to, const char *text, uint32_t wait_ms)
{
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(c, to, &ens_msg_string, &(ens_string_v){(char *)text}, wait_ms, &r),
                     0);
    const ens_string_v *v = ens_msg_value(r, &ens_msg_string);
    assert_non_null(v);
    assert_string_equal(v->text, text);
    ens_msg_free(r);
}

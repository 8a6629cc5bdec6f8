/*
 * tests/support/journal_files.c - journal files and echo checks for tests
 * (see journal_files.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/journal_files.h"

void test_journal_remove(const char *db)
{
    static const char *const sides[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", db, sides[i]);
        unlink(path);
    }
}

void test_expect_echo(ens_ctx *c, ens_addr to, const char *text, uint32_t wait_ms)
{
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(c, to, ENS_MSG_STRING, &(ens_string_v){(char *)text}, wait_ms, &r), 0);
    const ens_string_v *v = ens_msg_value(r, ENS_MSG_STRING);
    assert_non_null(v);
    assert_string_equal(v->text, text);
    ens_msg_free(r);
}

/*
 * tests/support/echo.h - the echo actor most process tests talk to, and
 * the check of one round trip with it.
 */
#ifndef ENS_TESTS_ECHO_H
#define ENS_TESTS_ECHO_H

#include <stdint.h>

#include "ensemble/ensemble.h"

/* A receive callback: replies to an ens.String with the same text, ignores
 * anything else. Each suite names its own definition with it. */
int test_echo_receive(ens_ctx *c, void *state, const ens_msg *m);

/* A receive callback: replies to an ens.Int64 with its value plus
 * TEST_PLUS (a reply that proves it went through the actor), ignores
 * anything else. */
#define TEST_PLUS 1000
int test_plus_receive(ens_ctx *c, void *state, const ens_msg *m);

/* Ask `to` (an echo of ens.String) with text and check the same text comes
 * back within wait_ms (a cmocka failure otherwise). */
void test_expect_echo(ens_ctx *c, ens_addr to, const char *text, uint32_t wait_ms);

#endif

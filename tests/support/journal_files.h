/*
 * tests/support/journal_files.h - what tests that run a system with a
 * journal of their own need around it.
 */
#ifndef ENS_TESTS_JOURNAL_FILES_H
#define ENS_TESTS_JOURNAL_FILES_H

#include <stdint.h>

#include "ensemble/ensemble.h"

/* Remove a journal database and the files sqlite keeps beside it (-wal,
 * -shm, -journal), whichever exist. */
void test_journal_remove(const char *db);

/* Ask `to` (an echo of ens.String) with text and check the same text comes
 * back within wait_ms (a cmocka failure otherwise). */
void test_expect_echo(ens_ctx *c, ens_addr to, const char *text, uint32_t wait_ms);

#endif

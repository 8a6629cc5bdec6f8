/*
 * tests/support/scratch.h - scratch directories tests make and remove.
 */
#ifndef ENS_TESTS_SCRATCH_H
#define ENS_TESTS_SCRATCH_H

/* Remove dir and everything below it (symbolic links are removed, not
 * followed). Best effort: a test's teardown calls it whatever happened. */
void test_tree_remove(const char *dir);

#endif

/*
 * tests/support/deadline.h - waiting for something until a deadline on the
 * monotonic clock. Tests never wait by counting tries: how long a try takes
 * depends on how busy the machine is, so a count that is generous on an idle
 * machine runs out on a loaded one. A deadline costs nothing when the thing
 * waited for happens at once.
 */
#ifndef ENS_TESTS_DEADLINE_H
#define ENS_TESTS_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

/* How long a test waits for what must happen, when it has no figure of its
 * own: generous, a success returns as soon as it happens. */
#define TEST_WAIT_MS 30000

typedef struct test_deadline {
    int64_t end_ns; /* CLOCK_MONOTONIC */
} test_deadline;

/* The deadline ms milliseconds from now. */
test_deadline test_deadline_in(int64_t ms);

/* True once d has passed. */
bool test_deadline_passed(test_deadline d);

/* Milliseconds left before d (0 once it passed), for a poll() timeout. */
int test_deadline_left_ms(test_deadline d);

/* Sleep ms milliseconds. Only for polling something that offers nothing to
 * wait on (/proc, a file's contents), never to let something happen. */
void test_nap_ms(int ms);

#endif

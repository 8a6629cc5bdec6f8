/*
 * tests/support/deadline.c - deadlines on the monotonic clock for the
 * tests' waits (see deadline.h).
 */
#include "deadline.h"

#include <errno.h>
#include <time.h>

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

test_deadline test_deadline_in(int64_t ms)
{
    return (test_deadline){mono_ns() + ms * 1000000};
}

bool test_deadline_passed(test_deadline d)
{
    return mono_ns() >= d.end_ns;
}

int test_deadline_left_ms(test_deadline d)
{
    int64_t left = d.end_ns - mono_ns();
    if (left <= 0)
        return 0;
    int64_t ms = (left + 999999) / 1000000;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

void test_nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

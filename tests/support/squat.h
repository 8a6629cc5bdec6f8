/*
 * tests/support/squat.h - a process of another user (uid 65534) that holds
 * a socket address, for the tests of who may answer at a system's name.
 * Only root can start one.
 */
#ifndef ENS_TESTS_SQUAT_H
#define ENS_TESTS_SQUAT_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define TEST_OTHER_UID 65534

typedef struct test_squatter {
    pid_t pid;  /* the impostor, 0 if none */
    int report; /* what it tells: one int per connection it had (below) */
} test_squatter;

/* Fork an impostor that becomes uid/gid 65534 and listens at sa
 * (SOCK_SEQPACKET); it dies with the test process. For every connection
 * it accepts it reads until the peer closes and reports the number of
 * bytes the peer sent. Returns true once it listens (false: it could not;
 * nothing left running). */
bool test_squat(const struct sockaddr_un *sa, socklen_t len, test_squatter *out);

/* The byte count the impostor reports for the next connection that
 * closed, waiting up to ms; -2 if none came in time. */
int test_squat_next(test_squatter *s, int ms);

/* Kill and reap the impostor (by its pid), close the report. NULL-safe,
 * idempotent. */
void test_squat_end(test_squatter *s);

#endif

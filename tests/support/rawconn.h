/*
 * tests/support/rawconn.h - a raw connection to a running system, as a
 * program connected by name has, but driven byte by byte: for tests that
 * write what a well-behaved sender never would (half frames, lies).
 */
#ifndef ENS_TESTS_RAWCONN_H
#define ENS_TESTS_RAWCONN_H

#include "ensemble/addr.h"

/* Connect to system `name` of this user as a program would, read the
 * admin's hello and answer it. Returns the control channel (the caller
 * closes it), or a negative error; *self (may be NULL) gets the address
 * the admin gave the connection. */
int test_raw_connect(const char *name, int timeout_ms, ens_addr *self);

/* Ask the admin, on control channel fd, for a connection to peer and wait
 * up to timeout_ms for the answer: returns its status (0: *out is the
 * sending end, owned by the caller) or a negative error. */
int test_raw_connect_peer(int fd, ens_addr peer, int timeout_ms, int *out);

#endif

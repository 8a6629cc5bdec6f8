/*
 * tests/support/nats_server.h - a private nats-server for tests of systems in
 * a convention: JetStream on, bound to 127.0.0.1 on a port nobody else
 * holds, its store and log in a scratch directory. Stopped by pid and its
 * directory removed at the end of the test, at the test program's exit
 * (a cmocka failure included), whichever comes first.
 */
#ifndef ENS_TESTS_NATS_SERVER_H
#define ENS_TESTS_NATS_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct test_nats {
    pid_t pid;     /* the server (0: not running) */
    int port;      /* its client port on 127.0.0.1 */
    char dir[64];  /* its scratch directory (store and log) */
    char url[64];  /* "nats://127.0.0.1:PORT" */
    char conf[96]; /* its configuration file ("": none, flags only) */
    /* In a cluster (test_nats_start_cluster), else 0 and "": */
    int cluster_port; /* its route port on 127.0.0.1 */
    char name[16];    /* its server name */
    char routes[512]; /* the route URLs of every server of its cluster */
} test_nats;

/* The path of the nats-server program, or NULL when it is not installed
 * (tests needing it then skip and say so). */
const char *test_nats_program(void);

/* Start a server and wait, up to wait_ms, until it accepts connections.
 * A port taken between the check and the server's bind is retried with
 * another until the deadline. Returns 0, or -1 with a line on stderr (not
 * installed, could not start before the deadline: nothing is left). */
int test_nats_start(test_nats *n, int wait_ms);

/* Start count servers (at most 5) as one cluster, "ens-test", joined by
 * routes on 127.0.0.1, each with JetStream and server name s1, s2, ...:
 * JetStream in a cluster needs a quorum of its servers, so 3 survive the
 * loss of one. Waits up to wait_ms until each accepts connections (not
 * until JetStream has elected its leader: a client waits for that).
 * Returns 0, or -1 with a line on stderr (nothing is left running). */
int test_nats_start_cluster(test_nats *n, size_t count, int wait_ms);

/* The client URLs of the count servers of n, comma-separated, starting
 * with server `first` (a static buffer). */
const char *test_nats_cluster_urls(const test_nats *n, size_t count, size_t first);

/* The same with a configuration file holding `config` (nats-server's
 * syntax: authorization, tls, accounts...), written into the server's
 * scratch directory; the flags of test_nats_start (address, port, store,
 * log, JetStream) are given too and win over the file. Returns 0 or -1
 * as test_nats_start (a configuration nats-server refuses: it exits, and
 * the deadline passes). */
int test_nats_start_with(test_nats *n, const char *config, int wait_ms);

/* SIGKILL the server by pid, reap it, remove its directory. Safe to call
 * twice and on a server that never started. */
void test_nats_stop(test_nats *n);

/* SIGKILL the server by pid and start it again on the same port with the
 * same store (what JetStream held is kept), waiting up to wait_ms until it
 * accepts connections. Clients reconnect to the same URL. Returns 0, or -1
 * with a line on stderr (the server is then not running; test_nats_stop
 * still removes its directory). */
int test_nats_restart(test_nats *n, int wait_ms);

/* True while the server's port accepts a TCP connection. */
bool test_nats_accepts(const test_nats *n);

#endif

/*
 * tests/support/netns.h - three hosts of a convention for tests: three
 * nats-servers clustered by routes (JetStream, server names a, b, c) and
 * three ensemble systems, one per host, each in a process of its own.
 *
 * Two kinds of host:
 *  - namespaces (root only): three network namespaces joined by veth pairs
 *    to a bridge in a fourth; each has loopback up and one address on its
 *    link (10.77.X.1-3/24, X derived from the pid), its nats-server and its
 *    system run inside it (the host process setns()es into the namespace
 *    before it starts the system, so the admin, gateway and actors are all
 *    there). Cutting a host's link sets its veth down on the bridge side:
 *    packets vanish both ways without a word.
 *  - loopback (any user): the three servers on 127.0.0.1 on ports of their
 *    own; cutting a host stops its gateway (SIGSTOP), so the others hear
 *    nothing from it.
 *
 * Each system is started by a host process (leader of its process group)
 * that then serves commands from the test over a pipe: a line in, a line
 * out. "pids" is answered by the helper ("admin=P gateway=G node=N
 * netns=I"), "server-of" too ("server=J": the server, 0-2, whose
 * clients (its /connz) include this system's gateway; -1 none), "probe J"
 * (a TCP connection to host J's server from here within 2 s: "connected",
 * "refused", "silent" when nothing answers at all), "stop"
 * stops the system in order; every other line goes to
 * the test's serve callback, in the host process.
 *
 * With ENS_TEST_NETNS_LOG_DIR set to a directory, each system logs at
 * debug level to <dir>/<system>.log (kept after the test); otherwise its
 * log goes nowhere.
 *
 * Everything started is removed by test_cluster_stop and, if the test
 * fails half way, at the exit of the process that started it: host groups
 * and servers killed by pid and reaped, namespaces deleted, directories
 * removed. A set-up that failed part way is removed the same way.
 */
#ifndef ENS_TESTS_NETNS_H
#define ENS_TESTS_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ensemble/ensemble.h"

#define TEST_CLUSTER_HOSTS 3

/* Exit code of a test that cannot run here (ctest's SKIP_RETURN_CODE). */
#define TEST_SKIP_EXIT 77

/* Runs in host process i with its system: answers cmd (one line) in reply
 * (NUL-terminated; newlines are turned into spaces). Returns 0, or a
 * negative code that is sent as "error <code>". */
typedef int (*test_cluster_serve_cb)(ens_system *sys, int host, const char *cmd, char *reply,
                                     size_t len);

typedef struct test_cluster_host {
    char ns[32];    /* its network namespace ("" on loopback) */
    char addr[32];  /* the address its server listens on */
    int port;       /* client port */
    int route_port; /* cluster (routes) port */
    int http_port;  /* monitoring port (/healthz) */
    pid_t nats;     /* its nats-server (0: not running) */
    char dir[64];   /* scratch: store and log */
    char system[48];
    char servers[256]; /* the URL list its system is given: its own server first */
    pid_t host;        /* the host process, leader of its group (0: none) */
    int cmd;           /* pipe to the host process */
    int reply;         /* pipe from it */
    bool started;      /* its system was started before (a start again waits less) */
} test_cluster_host;

typedef struct test_cluster {
    bool netns;
    char bridge_ns[32];
    char conv[32];
    uint32_t heartbeat_ms;
    const char *caps[TEST_CLUSTER_HOSTS];
    test_cluster_serve_cb serve;
    char journal_dir[64]; /* "" none; else system i journals to <dir>/<system>.db */
    test_cluster_host h[TEST_CLUSTER_HOSTS];
} test_cluster;

/* Whether hosts in namespaces can be made here; if not, why (root needed,
 * ip missing, namespaces refused) in why. */
bool test_cluster_netns_possible(char *why, size_t len);

/* Make the hosts (namespaces if netns, else loopback), start the three
 * servers and wait until each says JetStream is ready, then start the three
 * systems (caps[i] the capabilities of system i, heartbeat_ms their
 * heartbeat), each joined before this returns. journal_dir: NULL, no
 * journals; else each system journals to <journal_dir>/<its name>.db (the
 * directory is the caller's). Returns 0, or -1 with a line on stderr;
 * whatever was set up is removed. */
int test_cluster_start(test_cluster *cl, bool netns, const char *const caps[TEST_CLUSTER_HOSTS],
                       uint32_t heartbeat_ms, test_cluster_serve_cb serve, const char *journal_dir,
                       int wait_ms);

/* Send cmd to host i and wait up to wait_ms for its answer. Returns 0, or
 * -1 (no host, it died, no answer in time: reply says which). */
int test_cluster_call(test_cluster *cl, int i, const char *cmd, char *reply, size_t len,
                      int wait_ms);

/* A number from a "key=N" field of text, or -1. */
long long test_cluster_field(const char *text, const char *key);

/* Cut (cut) or heal host i's link to the others: namespaces, its veth on
 * the bridge side down/up; loopback, its gateway SIGSTOP/SIGCONT. Returns
 * 0 or -1 with a line on stderr. */
int test_cluster_cut(test_cluster *cl, int i, bool cut);

/* SIGKILL host i's nats-server and reap it. */
void test_cluster_kill_server(test_cluster *cl, int i);

/* Start host i's system again (after test_cluster_kill_host). */
int test_cluster_start_host(test_cluster *cl, int i, int wait_ms);

/* SIGKILL host i's whole process group (starter, admin, gateway, actors)
 * and reap its leader. */
void test_cluster_kill_host(test_cluster *cl, int i);

/* Stop everything; safe on a cluster that failed part way and twice. */
void test_cluster_stop(test_cluster *cl);

#endif

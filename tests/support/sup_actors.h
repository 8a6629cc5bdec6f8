/*
 * tests/support/sup_actors.h - the actors and helpers the supervisor suites
 * share (tests/test_supervisor.c, tests/test_supervisor_shutdown.c).
 *
 * Workers report what happens to them to the test (tsup.Report: up from
 * init, down from terminate, with CLOCK_MONOTONIC times so the order of
 * events in different processes can be checked; stubborn ones say when they
 * ignore an exit request, blocking ones when they stop reading). A host
 * actor starts a supervisor as its child and reports its exit; a client
 * actor runs supervisor operations from inside an actor and reports their
 * results. Handlers never assert; the helpers (test side) do.
 *
 * Every name here is prefixed tsup_ (or TSUP_, TAG_, OP_): tests/support is
 * linked into every suite.
 */
#ifndef ENS_TESTS_SUP_ACTORS_H
#define ENS_TESTS_SUP_ACTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "support/scenario.h"

/* ---- messages --------------------------------------------------------- */

typedef struct tsup_warg_v { /* a worker's start argument */
    int32_t num;
    int32_t init_fail; /* init returns ENS_EINIT */
    int32_t init_ms;   /* init takes this long (to make overlaps visible) */
    int32_t stubborn;  /* exit requests are deferred (ens_exit_defer) for good */
    ens_addr to;       /* where reports go */
} tsup_warg_v;

typedef struct tsup_rep_v {
    int32_t tag;
    int32_t num; /* the worker's number (TAG_EXITED: the status) */
    int32_t n;   /* TAG_DOWN, TAG_EXITED: the exit reason; TAG_OPDONE: the status */
    int32_t aux;
    int64_t at;    /* CLOCK_MONOTONIC ns when sent (TAG_UP: init's end) */
    int64_t begin; /* TAG_UP: CLOCK_MONOTONIC ns when init began */
    ens_addr who;
} tsup_rep_v;

typedef struct tsup_sarg_v { /* a host's or a nested supervisor's argument */
    int32_t strategy;
    uint32_t intensity;
    int32_t level;       /* host: 0 = built-in supervisor of workers 1..3; > 0 nested */
    int32_t restart;     /* level > 0: of the nested supervisors */
    int32_t fail_num;    /* host, level 0: the worker whose init fails */
    int32_t stubborn_ms; /* host, level 0: > 0 adds stubborn worker 4 with this
                            shutdown timeout */
    ens_addr to;
} tsup_sarg_v;

typedef struct tsup_op_v { /* to the client actor: run one operation inside */
    int32_t op;
    int32_t num;
    char *id;
    ens_addr sup;
    ens_addr child;
} tsup_op_v;

extern ens_msgtype tsup_warg_t; /* "tsup.WArg" */
extern ens_msgtype tsup_rep_t;  /* "tsup.Report" */
extern ens_msgtype tsup_sarg_t; /* "tsup.SArg" */
extern ens_msgtype tsup_op_t;   /* "tsup.Op" */

enum {
    TAG_UP = 1, /* a worker's init ran */
    TAG_DOWN,   /* a worker's terminate ran (n: reason) */
    TAG_SUP,    /* the host started its supervisor (n: status, who: it) */
    TAG_EXITED, /* the host's supervisor exited (n: reason, num: status) */
    TAG_OPDONE, /* the client's operation completed */
    TAG_DEFER,  /* a stubborn worker deferred an exit request (n: its result) */
};
enum { OP_START, OP_START_SIMPLE, OP_TERMINATE, OP_RESTART, OP_DELETE, OP_COUNT, OP_WHICH };

/* Register the message types above and map the memory shared with the
 * systems' processes; call once, before any system starts. 0 or the error
 * of ens_msgtype_register (ENS_ENOMEM: no shared memory). */
int tsup_types_register(void);

/* How many times worker num's init began, in any process of any system
 * (memory shared with them); and back to 0 for every worker. */
int32_t tsup_inits(int num);
void tsup_inits_clear(void);

/* ---- actors ----------------------------------------------------------- */

/* A worker (argument tsup_warg_v). Commands as ens.String: "stop_normal",
 * "stop_error" (ens_stop ERROR, status 7), "crash" (SIGSEGV on the first
 * attempt; process base only), "block" (marks itself blocked in memory
 * shared with the test, then pause()s for ever; process base only). */
extern const ens_actor_def tsup_worker_def;
/* A nested supervisor (argument tsup_sarg_v): level 1 supervises worker 1,
 * level L > 1 a nested supervisor of level L - 1. Intensity by level: leaf
 * 0, middle 1, top 0. */
extern const ens_actor_def *const tsup_nested_def;
/* The host (argument tsup_sarg_v): starts a supervisor, reports TAG_SUP and
 * its exit (TAG_EXITED). */
extern const ens_actor_def tsup_host_def;

/* A host's state, and its receive callback (TAG_EXITED to `to` when its
 * supervisor exits), for hosts that start their supervisor otherwise. */
typedef struct tsup_host_st {
    ens_addr to;
} tsup_host_st;
int tsup_host_receive(ens_ctx *c, void *state, const ens_msg *m);
/* The client (argument tsup_warg_v, only `to`): runs tsup_op_v operations. */
extern const ens_actor_def tsup_client_def;

/* ---- test helpers ------------------------------------------------------ */

#define TSUP_MAX_REPS        32
#define assert_addr_eq(a, b) assert_true(ens_addr_equal((a), (b)))

/* Reports put aside while waiting for another one; tsup_listen_rep returns
 * these first. Cleared by tsup_start_host and tsup_stash_clear. */
void tsup_stash_clear(void);

/* The next report (stashed first), waiting up to SCN_WAIT_MS. */
tsup_rep_v tsup_listen_rep(scn *t);

/* Wait for exactly the reports want[i] = {tag, num} (any order of arrival;
 * any other report fails the test); out[] gets them sorted by time. */
void tsup_expect_reps(scn *t, const int (*want)[2], size_t n, tsup_rep_v *out);

/* The one report (tag, num). */
void tsup_expect_one(scn *t, int tag, int num);

/* The index of report (tag, num) in r[0..n); fails the test if none. */
int tsup_pos_of(const tsup_rep_v *r, size_t n, int tag, int num);

/* Sort r[0..n) by time (at). */
void tsup_sort_reps(tsup_rep_v *r, size_t n);

typedef struct tsup_kid {
    char id[16];
    ens_addr addr;
    int32_t status;
    int32_t is_sup;
    uint32_t restarts;
    char type[32];
    char name[64]; /* its global name, "" if none */
} tsup_kid;

/* which_children from outside into kids[]; returns the row count. */
size_t tsup_which(scn *t, ens_addr sup, tsup_kid *kids, size_t max);
const tsup_kid *tsup_kid_by_id(const tsup_kid *k, size_t n, const char *id);
/* The address of child id of sup (which must list it). */
ens_addr tsup_child_of(scn *t, ens_addr sup, const char *id);
/* Ask which_children until child `id` is not running (or gone); returns
 * its row count. Asks, no sleeps: each one is a round trip. */
size_t tsup_wait_not_running(scn *t, ens_addr sup, const char *id, tsup_kid *kids, size_t max);

/* Send the ens.String command text to `to` from outside. */
void tsup_tell(scn *t, ens_addr to, const char *text);

/* Tell worker num, child id of sup, to "block", and return once it is
 * inside that handler for good (process base only). */
void tsup_block(scn *t, ens_addr sup, const char *id, int num);

/* A worker spec (w filled and borrowed by the spec). */
ens_child_spec tsup_wspec(const char *id, tsup_warg_v *w, int num, ens_addr to, ens_restart r);

/* Spawn a host with argument a (its `to` set here); returns its
 * supervisor once the host reported it (other reports are stashed). */
ens_addr tsup_start_host(scn *t, tsup_sarg_v a, ens_addr *host);

/* True if r is the host's report of an exit with ENS_EXIT_INTENSITY. */
bool tsup_is_intensity_exit(const tsup_rep_v *r);

typedef struct tsup_opres {
    int status;
    ens_addr addr;
    int32_t active, specs;
    int32_t reason; /* terminate: ens_sup_result_v.reason (inside only) */
    int64_t at;     /* CLOCK_MONOTONIC ns when the result was known */
} tsup_opres;

/* Run one operation outside (blocking) or, when client is not none,
 * through the client (inside, asynchronous: its callback reports). The
 * workers started get number num. */
tsup_opres tsup_op(scn *t, ens_addr client, int what, ens_addr sup, const char *id, ens_addr child,
                   int num);

/* Spawn a client reporting to the test. */
ens_addr tsup_spawn_client(scn *t);

#endif

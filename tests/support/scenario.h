/*
 * tests/support/scenario.h - a small harness for tests written once and run
 * on every system base.
 *
 * A scenario suite is one cmocka group run once per base (scn_run_bases).
 * Each test gets an scn fixture through its state: the base it runs on, the
 * system it started (shut down by the teardown if an assertion left it
 * running), and a record of the failure events the system reported through
 * on_event. Handlers never assert (on the process base they run in another
 * process, and a longjmp out of the runtime would leave it inconsistent):
 * they report what they saw in messages, and the test asserts on those.
 */
#ifndef ENS_TESTS_SCENARIO_H
#define ENS_TESTS_SCENARIO_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"

#define SCN_MAX_EVENTS 256

/* How long a test waits for what must happen: generous, because a success
 * returns as soon as it happens (sanitizers and loaded CI machines are slow). */
#define SCN_WAIT_MS 30000

/* One failure event, copied out of the borrowed ens_event. */
typedef struct scn_event {
    ens_event_kind kind;
    ens_addr actor;
    ens_addr sender;
    int32_t error;
    uint32_t attempt;
    char msg_type[64];
    char actor_type[64];
} scn_event;

typedef struct scn {
    ens_base base;
    const void *row; /* the table row of a test made with SCN_TEST_ROW, or NULL */
    ens_system *sys; /* the system of the running test, or NULL */
    ens_ctx *out;    /* its outside context */
    size_t n_events;
    size_t lost_events; /* events past SCN_MAX_EVENTS */
    scn_event events[SCN_MAX_EVENTS];
} scn;

/* "inproc" or "process". */
const char *scn_base_name(ens_base b);

/* Run the group `tests` (n entries, each made with SCN_TEST) once for every
 * base: inproc always, process unless ENS_TEST_PROCESS=0 in the
 * environment. Returns the number of failed tests. */
int scn_run_bases(const char *suite, const struct CMUnitTest *tests, size_t n);

/* A cmocka test entry whose state is an scn fixture. */
#define SCN_TEST(f) cmocka_unit_test_setup_teardown(f, scn_setup, scn_teardown)
/* The entry of a table-driven test: runner f runs the table row `row`
 * (found in the fixture's row field) under the test name `name`. */
#define SCN_TEST_ROW(name, f, row)                                                                 \
    ((struct CMUnitTest){(name), (f), scn_setup, scn_teardown, (void *)(row)})
int scn_setup(void **state);
int scn_teardown(void **state);

/* Start a system on t's base with options o (o->base, o->on_event and
 * o->event_arg are set here; pass NULL for the defaults). Fails the test if
 * the start fails. */
void scn_start(scn *t, ens_system_opts *o);

/* Shut t's system down and return what ens_system_close returned. */
int scn_shutdown(scn *t, uint32_t timeout_ms);

/* True when on_event reaches this program, so event checks can be made
 * (the inproc base; the process base reports through its journal). */
bool scn_events_local(const scn *t);

/* Forget the events recorded so far. */
void scn_events_clear(scn *t);

/* Number of recorded events of `kind` about `actor` (any actor when actor
 * is none). */
size_t scn_events_count(const scn *t, ens_event_kind kind, ens_addr actor);

/* Write into kinds[] (at most max) the kinds of the events about `actor`,
 * in order; returns how many there were. */
size_t scn_events_kinds(const scn *t, ens_addr actor, ens_event_kind *kinds, size_t max);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t scn_now_ns(void);

/* Wait with ens_listen for a message of type want and return it (owned by
 * the caller). Fails the test on a timeout or a message of another type. */
ens_msg *scn_listen_type(scn *t, const ens_msgtype *want, uint32_t timeout_ms);

#endif

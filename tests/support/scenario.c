/*
 * tests/support/scenario.c - the harness of scenario.h: one cmocka group per
 * system base, a per-test fixture that owns the system (so a failed
 * assertion still shuts it down in the teardown), and a recorder of the
 * failure events the system reports through on_event.
 */
#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The base of the group being run; read by the per-test setup. */
static ens_base current_base = ENS_BASE_INPROC;

const char *scn_base_name(ens_base b)
{
    switch (b) {
    case ENS_BASE_INPROC:
        return "inproc";
    case ENS_BASE_PROCESS:
        return "process";
    }
    return "unknown";
}

int scn_setup(void **state)
{
    scn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    t->base = current_base;
    t->row = *state; /* the initial state: a table row (SCN_TEST_ROW), or NULL */
    *state = t;
    return 0;
}

int scn_teardown(void **state)
{
    scn *t = *state;
    if (t == NULL)
        return 0;
    if (t->sys != NULL)
        (void)ens_system_close(t->sys, 5000);
    free(t);
    *state = NULL;
    return 0;
}

int scn_run_bases(const char *suite, const struct CMUnitTest *tests, size_t n)
{
    ens_base bases[2];
    size_t n_bases = 0;
    bases[n_bases++] = ENS_BASE_INPROC;
    /* ENS_TEST_PROCESS=0 leaves the process base out (for a quick run). */
    const char *env = getenv("ENS_TEST_PROCESS");
    if (env == NULL || strcmp(env, "0") != 0)
        bases[n_bases++] = ENS_BASE_PROCESS;

    /* ENS_TEST_ONLY=pattern runs the tests whose name matches (cmocka's
     * filter, * and ? wildcards), for a run by hand. */
    const char *only = getenv("ENS_TEST_ONLY");
    if (only != NULL && only[0] != '\0')
        cmocka_set_test_filter(only);
    int failed = 0;
    for (size_t i = 0; i < n_bases; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s/%s", suite, scn_base_name(bases[i]));
        current_base = bases[i];
        failed += _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    }
    return failed;
}

static void copy_text(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src != NULL ? src : "");
}

static void record_event(const ens_event *ev, void *arg)
{
    scn *t = arg;
    if (t->n_events == SCN_MAX_EVENTS) {
        t->lost_events++;
        return;
    }
    scn_event *e = &t->events[t->n_events++];
    e->kind = ev->kind;
    e->actor = ev->actor;
    e->sender = ev->sender;
    e->error = ev->error;
    e->attempt = ev->attempt;
    copy_text(e->msg_type, sizeof(e->msg_type), ev->msg_type);
    copy_text(e->actor_type, sizeof(e->actor_type), ev->actor_type);
}

void scn_start(scn *t, ens_system_opts *o)
{
    ens_system_opts defaults = ENS_SYSTEM_OPTS_INIT;
    if (o == NULL)
        o = &defaults;
    assert_null(t->sys);
    o->base = t->base;
    o->on_event = record_event;
    o->event_arg = t;
    scn_events_clear(t);
    int rc = ens_system_start(o, &t->sys);
    if (rc != 0)
        fail_msg("ens_system_start on the %s base: %s", scn_base_name(t->base), ens_err_name(rc));
    assert_non_null(t->sys);
    t->out = ens_system_ctx(t->sys);
    assert_non_null(t->out);
}

int scn_shutdown(scn *t, uint32_t timeout_ms)
{
    ens_system *s = t->sys;
    t->sys = NULL;
    t->out = NULL;
    return ens_system_close(s, timeout_ms);
}

bool scn_events_local(const scn *t)
{
    return t->base == ENS_BASE_INPROC;
}

void scn_events_clear(scn *t)
{
    t->n_events = 0;
    t->lost_events = 0;
}

static bool event_about(const scn_event *e, ens_addr actor)
{
    return ens_addr_is_none(actor) || ens_addr_equal(e->actor, actor);
}

size_t scn_events_count(const scn *t, ens_event_kind kind, ens_addr actor)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_events; i++)
        if (t->events[i].kind == kind && event_about(&t->events[i], actor))
            n++;
    return n;
}

size_t scn_events_kinds(const scn *t, ens_addr actor, ens_event_kind *kinds, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_events; i++) {
        if (!event_about(&t->events[i], actor))
            continue;
        if (n < max)
            kinds[n] = t->events[i].kind;
        n++;
    }
    return n;
}

int64_t scn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

ens_msg *scn_listen_type(scn *t, const ens_msgtype *want, uint32_t timeout_ms)
{
    ens_msg *m = NULL;
    int rc = ens_listen(t->out, timeout_ms, &m);
    if (rc != 0)
        fail_msg("ens_listen waiting for %s: %s", want->name, ens_err_name(rc));
    assert_non_null(m);
    if (ens_msg_value(m, want) == NULL) {
        const ens_msgtype *got = ens_msg_type(m);
        char name[64];
        snprintf(name, sizeof(name), "%s", got != NULL ? got->name : "an unknown type");
        ens_msg_free(m);
        fail_msg("ens_listen: expected %s, got %s", want->name, name);
    }
    return m;
}

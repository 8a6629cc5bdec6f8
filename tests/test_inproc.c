/*
 * tests/test_inproc.c - what only the inproc base promises: the same
 * program gives the same interleaving every run, actors run only inside the
 * outside program's calls, and the system frees everything at shutdown.
 * The behaviour shared with the process base is in test_scenarios_*.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"

/* A trace of handler calls, kept in this process (inproc only). */
static char trace[8192];

static void note(const char *fmt, ...)
{
    size_t n = strlen(trace);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
    va_end(ap);
}

typedef struct {
    ens_addr peer;
    int hops;
} relay_state;

/* Relays each int64 to its peer, decremented, until it reaches 0. */
static int relay_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    relay_state *s = st;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v != NULL) {
        char me[ENS_ADDR_STRLEN];
        ens_addr_format(ens_self(c), me, sizeof(me));
        note("%s:%lld ", me, (long long)v->value);
        s->hops++;
        if (v->value > 0 && !ens_addr_is_none(s->peer)) {
            ens_int64_v next = {v->value - 1};
            return ens_send(c, s->peer, &ens_msg_int64, &next);
        }
        return 0;
    }
    const ens_string_v *peer = ens_msg_value(m, &ens_msg_string);
    if (peer != NULL) {
        assert_int_equal(ens_addr_parse(peer->text, &s->peer), 0);
        return ens_reply(c, &ens_msg_string, peer);
    }
    return 0;
}

static const ens_actor_def relay_def = {
    "test.Relay", sizeof(relay_state), NULL, relay_receive, NULL, NULL, NULL, NULL, NULL};

static void run_relay_program(char *out, size_t len)
{
    trace[0] = '\0';
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_INPROC;
    ens_system *sys = NULL;
    assert_int_equal(ens_system_start(&o, &sys), 0);
    ens_ctx *out_ctx = ens_system_ctx(sys);
    ens_addr a, b;
    assert_int_equal(ens_spawn(out_ctx, &relay_def, NULL, NULL, &a), 0);
    assert_int_equal(ens_spawn(out_ctx, &relay_def, NULL, NULL, &b), 0);
    char text[ENS_ADDR_STRLEN];
    ens_msg *r = NULL;
    ens_addr_format(b, text, sizeof(text));
    ens_string_v sv = {text};
    assert_int_equal(ens_ask(out_ctx, a, &ens_msg_string, &sv, 1000, &r), 0);
    ens_msg_free(r);
    ens_addr_format(a, text, sizeof(text));
    assert_int_equal(ens_ask(out_ctx, b, &ens_msg_string, &sv, 1000, &r), 0);
    ens_msg_free(r);
    for (int i = 0; i < 5; i++) {
        ens_int64_v v = {i};
        assert_int_equal(ens_send(out_ctx, i % 2 ? a : b, &ens_msg_int64, &v), 0);
    }
    /* Nothing runs until the outside program enters a blocking call. */
    assert_string_equal(trace, "");
    assert_true(ens_system_run(sys, 1000) > 0);
    assert_int_equal(ens_system_run(sys, 1000), 0);
    assert_int_equal(ens_system_close(sys, 1000), 0);
    snprintf(out, len, "%s", trace);
}

static void test_same_program_gives_same_interleaving(void **state)
{
    (void)state;
    char first[sizeof(trace)], second[sizeof(trace)];
    run_relay_program(first, sizeof(first));
    run_relay_program(second, sizeof(second));
    assert_true(strlen(first) > 0);
    assert_string_equal(first, second);
    /* FIFO over the whole system: the five tells are handled first, in the
     * order sent, then the relays they caused, breadth first. */
    assert_string_equal(first, "ens:1/17:0 ens:1/16:1 ens:1/17:2 ens:1/16:3 ens:1/17:4 "
                               "ens:1/17:0 ens:1/16:1 ens:1/17:2 ens:1/16:3 "
                               "ens:1/17:0 ens:1/16:1 ens:1/17:2 "
                               "ens:1/17:0 ens:1/16:1 "
                               "ens:1/17:0 ");
}

static void test_start_rejects_bad_options(void **state)
{
    (void)state;
    ens_system *sys = NULL;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_INPROC;
    assert_int_equal(ens_system_start(&o, NULL), ENS_EINVAL);
    o.max_frame_bytes = 100;
    assert_int_equal(ens_system_start(&o, &sys), ENS_EINVAL);
    o.max_frame_bytes = 1u << 20;
    o.mailbox_limit = 0;
    assert_int_equal(ens_system_start(&o, &sys), ENS_EINVAL);
    o.mailbox_limit = 10;
    o.base = (ens_base)42;
    assert_int_equal(ens_system_start(&o, &sys), ENS_EINVAL);
    assert_null(sys);
    assert_int_equal(ens_system_close(NULL, 0), 0);
}

static int misuse_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    (void)m;
    ens_msg *r = (ens_msg *)1;
    /* Blocking outside calls are refused inside a handler. */
    int ask = ens_ask(c, ens_self(c), &ens_msg_string, NULL, 10, &r);
    ens_msg *l = NULL;
    int listen = ens_listen(c, 10, &l);
    int stop = ens_stop(c, ENS_EXIT_CRASH, 0); /* only the runtime says so */
    ens_int64_v v = {
        (ask == ENS_EINVAL && r == NULL && listen == ENS_EINVAL && stop == ENS_EINVAL) ? 1 : 0};
    return ens_reply(c, &ens_msg_int64, &v);
}

static const ens_actor_def misuse_def = {"test.Misuse", 0,    NULL, misuse_receive, NULL, NULL,
                                         NULL,          NULL, NULL};

static void test_outside_calls_are_refused_where_they_do_not_belong(void **state)
{
    (void)state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_INPROC;
    ens_system *sys = NULL;
    assert_int_equal(ens_system_start(&o, &sys), 0);
    ens_ctx *out = ens_system_ctx(sys);
    uint64_t id;
    assert_int_equal(ens_wakeup_after(out, 1, 0, &id), ENS_EINVAL);
    assert_int_equal(ens_stop(out, ENS_EXIT_NORMAL, 0), ENS_EINVAL);
    assert_int_equal(ens_dead_letters_handle(out, true), ENS_EINVAL);
    ens_addr a;
    assert_int_equal(ens_spawn(out, &misuse_def, NULL, NULL, NULL), ENS_EINVAL);
    assert_int_equal(ens_spawn(out, &misuse_def, NULL, (void *)1, &a), ENS_EINVAL);
    assert_int_equal(ens_spawn(out, &misuse_def, NULL, NULL, &a), 0);
    assert_int_equal(ens_send(out, ENS_ADDR_NONE, &ens_msg_int64, NULL), ENS_EINVAL);
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, a, &ens_msg_int64, &(ens_int64_v){0}, 1000, &r), 0);
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    assert_int_equal(v->value, 1);
    ens_msg_free(r);
    assert_int_equal(ens_system_close(sys, 1000), 0);
}

extern const ens_actor_def nested_def;

static int nested_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    const ens_int64_v *depth = ens_msg_value(m, &ens_msg_int64);
    if (depth != NULL) {
        ens_addr child;
        if (depth->value > 0) {
            ens_int64_v next = {depth->value - 1};
            assert_int_equal(ens_spawn(c, NULL, NULL, NULL, &child), ENS_EINVAL);
            assert_int_equal(ens_spawn(c, &nested_def, NULL, NULL, &child), 0);
            return ens_send(c, child, &ens_msg_int64, &next);
        }
    }
    return 0;
}

static void nested_terminate(ens_ctx *c, void *st, int reason)
{
    (void)c;
    (void)st;
    note("T%d ", reason);
}

const ens_actor_def nested_def = {"test.Nested", 0,    NULL, nested_receive, nested_terminate, NULL,
                                  NULL,          NULL, NULL};

static void test_shutdown_stops_a_deep_tree(void **state)
{
    (void)state;
    trace[0] = '\0';
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_INPROC;
    ens_system *sys = NULL;
    assert_int_equal(ens_system_start(&o, &sys), 0);
    ens_ctx *out = ens_system_ctx(sys);
    ens_addr a;
    assert_int_equal(ens_spawn(out, &nested_def, NULL, NULL, &a), 0);
    ens_int64_v depth = {20};
    assert_int_equal(ens_send(out, a, &ens_msg_int64, &depth), 0);
    assert_true(ens_system_run(sys, 5000) > 20);
    assert_int_equal(ens_system_close(sys, 5000), 0);
    /* 21 actors, each terminated once with the shutdown reason. */
    char expect[256] = "";
    for (int i = 0; i < 21; i++)
        strcat(expect, "T1 ");
    assert_string_equal(trace, expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_program_gives_same_interleaving),
        cmocka_unit_test(test_start_rejects_bad_options),
        cmocka_unit_test(test_outside_calls_are_refused_where_they_do_not_belong),
        cmocka_unit_test(test_shutdown_stops_a_deep_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

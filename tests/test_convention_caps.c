/*
 * tests/test_convention_caps.c - capabilities changed at run time
 * (ens_capability_set, ensemble/convention.h): two systems on one private
 * nats-server (tests/support/nats_server.h). A is started with "gpu=1" and
 * changes its capabilities; a subscriber on B sees A "joined" again with
 * the new ones. The refusals change nothing; a system without a
 * convention, and the inproc base, have none to change; an actor whose
 * requirements no longer hold is asked to exit (its parent is told
 * child-exited ENS_EXIT_SHUTDOWN) while one without requirements stays;
 * a gateway killed after a change comes back with the changed record.
 * Skipped, with a message, when nats-server is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "ensemble/ensemble.h"
#include "support/convention.h"
#include "support/deadline.h"
#include "support/nats_server.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define HEARTBEAT_MS 300u

static char name_a[32], name_b[32];
static ens_system *sys_a, *sys_b;
static ens_addr watcher_b; /* on B: what it was told about A */

/* ---- the subscriber on B: keeps A's last capabilities ----------------- */

typedef struct watcher {
    char *caps; /* A's capabilities in its last "joined" (malloc'ed), or NULL */
} watcher;

static int watcher_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    watcher *w = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        if (strcmp(u->system, name_a) == 0 && u->change == ENS_MEMBER_JOINED) {
            free(w->caps);
            w->caps = strdup(u->capabilities);
        }
        return 0;
    }
    return ens_reply(c, &ens_msg_string, &(ens_string_v){w->caps != NULL ? w->caps : ""});
}

static const ens_actor_def watcher_def = {.name = "caps.Watcher",
                                          .state_size = sizeof(watcher),
                                          .init = test_conv_subscribe_init,
                                          .receive = watcher_receive};

/* What B's subscriber last saw of A's capability key: its value in out
 * (ens_capability_get's result: the length, or ENS_ENOENT). */
static int seen_on_b(const char *key, char *out, size_t out_len)
{
    static char caps[ENS_CAPABILITY_TOTAL_MAX + 1];
    assert_int_equal(test_conv_ask_text(sys_b, watcher_b, "?", TEST_WAIT_MS, caps, sizeof(caps)),
                     0);
    return ens_capability_get(caps, key, out, out_len);
}

/* Wait until B saw A's key with value want (NULL: without key). */
static void wait_seen(const char *key, const char *want)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    char got[1100];
    for (;;) {
        int rc = seen_on_b(key, got, sizeof(got));
        if (want == NULL ? rc == ENS_ENOENT : (rc >= 0 && strcmp(got, want) == 0))
            return;
        if (test_deadline_passed(d))
            fail_msg("B did not see %s %s%s (last: %s)", key, want != NULL ? "= " : "removed",
                     want != NULL ? want : "", rc >= 0 ? got : "absent");
        ens_system_run(sys_b, 50);
    }
}

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    test_conv_name_set("c");
    snprintf(name_a, sizeof(name_a), "caps-%d-a", (int)getpid());
    snprintf(name_b, sizeof(name_b), "caps-%d-b", (int)getpid());
    if (test_conv_server_start() != 0)
        return -1;
    ens_system_opts oa = test_conv_member_opts(name_a, HEARTBEAT_MS),
                    ob = test_conv_member_opts(name_b, HEARTBEAT_MS);
    oa.convention.capabilities = "gpu=1";
    if (ens_system_start(&oa, &sys_a) != 0 || ens_system_start(&ob, &sys_b) != 0)
        return -1;
    return ens_spawn(ens_system_ctx(sys_b), &watcher_def, NULL, NULL, &watcher_b) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    test_conv_end((ens_system **[]){&sys_a, &sys_b}, 2, NULL);
    return 0;
}

/* ---- set and unset ---------------------------------------------------- */

static void test_set_and_unset_from_the_outside_seen_by_another_member(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_seen("gpu", "1"); /* from the start */
    assert_int_equal(ens_capability_set(ens_system_ctx(sys_a), "zone", "eu"), 0);
    wait_seen("zone", "eu");
    assert_int_equal(ens_capability_set(ens_system_ctx(sys_a), "zone", "us"), 0);
    wait_seen("zone", "us");
    assert_int_equal(ens_capability_set(ens_system_ctx(sys_a), "zone", NULL), 0);
    wait_seen("zone", NULL);
    /* Removing what is not there is no error. */
    assert_int_equal(ens_capability_set(ens_system_ctx(sys_a), "zone", NULL), 0);
    char v[16];
    assert_int_equal(seen_on_b("gpu", v, sizeof(v)), 1);
}

/* Asked a key: sets it to "yes" (or removes it when the key starts with
 * '-') and answers the result. */
static int setter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *t = ens_msg_value(m, &ens_msg_string);
    int64_t rc = t == NULL           ? ENS_EINVAL
                 : t->text[0] == '-' ? ens_capability_set(c, t->text + 1, NULL)
                                     : ens_capability_set(c, t->text, "yes");
    return ens_reply(c, &ens_msg_int64, &rc);
}

static const ens_actor_def setter_def = {"caps.Setter", 0,    NULL, setter_receive, NULL, NULL,
                                         NULL,          NULL, NULL};

static int64_t ask_setter(ens_system *s, ens_addr setter, const char *key)
{
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(s), setter, &ens_msg_string,
                             &(ens_string_v){(char *)key}, TEST_WAIT_MS, &r),
                     0);
    int64_t rc = *(const int64_t *)ens_msg_value(r, &ens_msg_int64);
    ens_msg_free(r);
    return rc;
}

static void test_set_and_unset_from_an_actor(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr setter = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_a), &setter_def, NULL, NULL, &setter), 0);
    assert_int_equal(ask_setter(sys_a, setter, "from.actor"), 0);
    wait_seen("from.actor", "yes");
    assert_int_equal(ask_setter(sys_a, setter, "-from.actor"), 0);
    wait_seen("from.actor", NULL);
    assert_int_equal(ask_setter(sys_a, setter, "ens.host"), ENS_EINVAL);
}

/* ---- refusals --------------------------------------------------------- */

static void test_refusals_change_nothing(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_ctx *c = ens_system_ctx(sys_a);
    static char long_value[ENS_CAPABILITY_VALUE_MAX + 2];
    memset(long_value, 'v', sizeof(long_value) - 1);
    static char long_key[ENS_CAPABILITY_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    assert_int_equal(ens_capability_set(NULL, "gpu", "0"), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, NULL, "0"), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, "", "0"), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, "bad key", "0"), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, long_key, "0"), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, "ens.version", "9"), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, "ens.host", NULL), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, "gpu", long_value), ENS_EINVAL);
    assert_int_equal(ens_capability_set(c, "gpu", "a\nb"), ENS_EINVAL);

    /* 256 keys with the built-ins: ens.version, ens.host, gpu, then k.N. */
    char key[32];
    int added = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "k.%d", i);
        int rc = ens_capability_set(c, key, "1");
        if (rc == ENS_ETOOMANY)
            break;
        assert_int_equal(rc, 0);
        added++;
    }
    assert_int_equal(added, (int)ENS_CAPABILITY_MAX_KEYS - 3);
    /* Replacing a key's value adds no key: still allowed. */
    assert_int_equal(ens_capability_set(c, "k.0", "2"), 0);
    for (int i = 0; i < added; i++) {
        snprintf(key, sizeof(key), "k.%d", i);
        assert_int_equal(ens_capability_set(c, key, NULL), 0);
    }

    /* 48 KiB in all: values of 1 KiB until the total is reached. */
    memset(long_value, 'v', ENS_CAPABILITY_VALUE_MAX);
    long_value[ENS_CAPABILITY_VALUE_MAX] = '\0';
    int big = 0;
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof(key), "big.%d", i);
        int rc = ens_capability_set(c, key, long_value);
        if (rc == ENS_ETOOMANY)
            break;
        assert_int_equal(rc, 0);
        big++;
    }
    assert_true(big > 40 && big < 60);
    wait_seen("big.0", long_value); /* a record that large still reaches B */
    for (int i = 0; i < big; i++) {
        snprintf(key, sizeof(key), "big.%d", i);
        assert_int_equal(ens_capability_set(c, key, NULL), 0);
    }

    /* What B sees after a later change: none of the refused ones. */
    assert_int_equal(ens_capability_set(c, "marker", "refusals"), 0);
    wait_seen("marker", "refusals");
    char v[64];
    assert_int_equal(seen_on_b("gpu", v, sizeof(v)), 1);
    assert_string_equal(v, "1");
    assert_int_equal(seen_on_b("ens.version", v, sizeof(v)) > 0, 1);
    assert_string_not_equal(v, "9");
    assert_int_equal(seen_on_b("k.0", v, sizeof(v)), ENS_ENOENT);
    assert_int_equal(seen_on_b("big.0", v, sizeof(v)), ENS_ENOENT);
    assert_int_equal(ens_capability_set(c, "marker", NULL), 0);
}

static void test_no_convention_and_inproc_have_none(void **state)
{
    (void)state;
    char name[32];
    snprintf(name, sizeof(name), "caps-%d-lone", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    o.log_path = "/dev/null";
    ens_system *lone = NULL;
    assert_int_equal(ens_system_start(&o, &lone), 0);
    assert_int_equal(ens_capability_set(ens_system_ctx(lone), "gpu", "1"), ENS_ENOTSUP);
    /* A program connected by name asks the admin, which has none either. */
    ens_system *conn = NULL;
    assert_int_equal(ens_system_connect(name, &conn), 0);
    assert_int_equal(ens_capability_set(ens_system_ctx(conn), "gpu", "1"), ENS_ENOTSUP);
    ens_system_close(conn, 5000);
    ens_system_stop(lone, 5000);

    ens_system_opts io = ENS_SYSTEM_OPTS_INIT;
    io.base = ENS_BASE_INPROC;
    io.journal_path = "";
    io.log_path = "/dev/null";
    ens_system *in = NULL;
    assert_int_equal(ens_system_start(&io, &in), 0);
    assert_int_equal(ens_capability_set(ens_system_ctx(in), "gpu", "1"), ENS_ENOTSUP);
    ens_system_stop(in, 5000);
}

static void test_a_connected_program_may_set(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_system *conn = NULL;
    assert_int_equal(ens_system_connect(name_a, &conn), 0);
    assert_int_equal(ens_capability_set(ens_system_ctx(conn), "from.program", "yes"), 0);
    ens_system_close(conn, 5000);
    wait_seen("from.program", "yes");
    assert_int_equal(ens_capability_set(ens_system_ctx(sys_a), "from.program", NULL), 0);
    wait_seen("from.program", NULL);
}

/* ---- eviction --------------------------------------------------------- */

static const char *const needs_gpu[] = {"gpu", NULL};

static bool has_fast(const char *caps)
{
    char v[8];
    return ens_capability_get(caps, "fast", v, sizeof(v)) >= 0;
}

static int plain_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state, (void)m;
    return ens_reply(c, &ens_msg_string, &(ens_string_v){"here"});
}

static const ens_actor_def gpu_def = {"caps.NeedsGpu", 0,   NULL, plain_receive, NULL, NULL, NULL,
                                      needs_gpu,       NULL};
static const ens_actor_def fast_def = {
    "caps.NeedsFast", 0, NULL, plain_receive, NULL, NULL, NULL, NULL, has_fast};
static const ens_actor_def plain_def = {"caps.Plain", 0,    NULL, plain_receive, NULL,
                                        NULL,         NULL, NULL, NULL};

/* The parent: spawns one child of each, keeps "<letter><reason> " per
 * child exited (g: needs gpu, f: needs fast, p: plain); asked, answers
 * the text; asked "p?" answers the plain child's address as text. */
typedef struct parent {
    ens_addr gpu, fast, plain;
    char log[256];
} parent;

static int parent_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)arg;
    parent *p = state;
    int rc = ens_spawn(c, &gpu_def, NULL, NULL, &p->gpu);
    if (rc == 0)
        rc = ens_spawn(c, &fast_def, NULL, NULL, &p->fast);
    if (rc == 0)
        rc = ens_spawn(c, &plain_def, NULL, NULL, &p->plain);
    return rc;
}

static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent *p = state;
    const ens_child_exited_v *x = ens_msg_value(m, &ens_msg_child_exited);
    if (x != NULL) {
        char who = ens_addr_equal(x->child, p->gpu)     ? 'g'
                   : ens_addr_equal(x->child, p->fast)  ? 'f'
                   : ens_addr_equal(x->child, p->plain) ? 'p'
                                                        : '?';
        size_t len = strlen(p->log);
        snprintf(p->log + len, sizeof(p->log) - len, "%c%d ", who, (int)x->reason);
        return 0;
    }
    const ens_string_v *t = ens_msg_value(m, &ens_msg_string);
    if (t != NULL && strcmp(t->text, "p?") == 0) {
        char at[ENS_ADDR_STRLEN];
        ens_addr_format(p->plain, at, sizeof(at));
        return ens_reply(c, &ens_msg_string, &(ens_string_v){at});
    }
    return ens_reply(c, &ens_msg_string, &(ens_string_v){p->log});
}

static const ens_actor_def parent_def = {
    "caps.Parent", sizeof(parent), parent_init, parent_receive, NULL, NULL, NULL, NULL, NULL};

static void ask_text(ens_addr to, const char *what, char *out, size_t len)
{
    assert_int_equal(test_conv_ask_text(sys_a, to, what, TEST_WAIT_MS, out, len), 0);
}

/* Wait until the parent's log holds want. */
static void wait_log(ens_addr parent_at, const char *want)
{
    char log[256];
    if (!test_conv_await_text(sys_a, parent_at, "log", want, TEST_WAIT_MS, &sys_a, 1, log,
                              sizeof(log)))
        fail_msg("the parent was not told %s: %s", want, log);
}

static void test_actors_that_no_longer_fit_are_asked_to_exit(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_ctx *c = ens_system_ctx(sys_a);
    assert_int_equal(ens_capability_set(c, "fast", "1"), 0);
    ens_addr par = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(c, &parent_def, NULL, NULL, &par), 0);
    char text[256], want[16];

    /* gpu removed: the actor that needs it ends as asked, the others stay. */
    assert_int_equal(ens_capability_set(c, "gpu", NULL), 0);
    snprintf(want, sizeof(want), "g%d ", (int)ENS_EXIT_SHUTDOWN);
    wait_log(par, want);
    /* fast removed: the one whose check wants it ends too. */
    assert_int_equal(ens_capability_set(c, "fast", NULL), 0);
    snprintf(want, sizeof(want), "f%d ", (int)ENS_EXIT_SHUTDOWN);
    wait_log(par, want);
    /* The plain child was never asked: it answers, and its parent heard of
     * no exit of it. */
    ask_text(par, "p?", text, sizeof(text));
    ens_addr plain = ENS_ADDR_NONE;
    assert_int_equal(ens_addr_parse(text, &plain), 0);
    ask_text(plain, "?", text, sizeof(text));
    assert_string_equal(text, "here");
    ask_text(par, "log", text, sizeof(text));
    assert_null(strchr(text, 'p'));

    assert_int_equal(ens_capability_set(c, "gpu", "1"), 0);
    wait_seen("gpu", "1");
    ens_kill(c, par);
}

/* ---- a restarted gateway ---------------------------------------------- */

static void test_a_restarted_gateway_puts_the_changed_capabilities(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_ctx *c = ens_system_ctx(sys_a);
    assert_int_equal(ens_capability_set(c, "after.kill", "kept"), 0);
    assert_int_equal(ens_capability_set(c, "gpu", NULL), 0);
    wait_seen("after.kill", "kept");
    wait_seen("gpu", NULL);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    char bucket[64], key[16];
    snprintf(bucket, sizeof(bucket), "ens-%s-members", test_conv_name);
    snprintf(key, sizeof(key), "%u", (unsigned)ens_self(c).node);
    assert_int_equal(natsConnection_ConnectTo(&nc, test_conv_server.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);

    /* Once a new gateway runs the old one was reaped: every later put is
     * the new one's. */
    test_conv_kill_gateway(name_a, NULL);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    kvEntry *e = NULL;
    assert_int_equal(kvStore_Get(&e, kv, key), NATS_OK);
    uint64_t before = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    char *record = NULL;
    for (;;) {
        e = NULL;
        if (kvStore_Get(&e, kv, key) == NATS_OK && kvEntry_Revision(e) > before) {
            record = strdup(kvEntry_ValueString(e));
            kvEntry_Destroy(e);
            break;
        }
        kvEntry_Destroy(e);
        if (test_deadline_passed(d))
            fail_msg("the new gateway of %s put no record", name_a);
        ens_system_run(sys_a, 50); /* nothing to wait on but the server's answer */
    }
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    assert_non_null(record);
    bool has_kept = strstr(record, "\ncap.after.kill=kept\n") != NULL;
    bool has_gpu = strstr(record, "\ncap.gpu=") != NULL;
    free(record);
    assert_true(has_kept);
    assert_false(has_gpu);
    assert_int_equal(ens_capability_set(c, "after.kill", NULL), 0);
    assert_int_equal(ens_capability_set(c, "gpu", "1"), 0);
    wait_seen("gpu", "1");
}

/* ---- the CLI ---------------------------------------------------------- */

/* Run `ens capability ARGS...` (test_conv_run_tool; a4 may be NULL) and
 * return its exit status. */
static int run_tool(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *out = NULL;
    int status = test_conv_run_tool(
        ENS_TOOL_PATH, (const char *const[]){"capability", a1, a2, a3, a4, NULL}, NULL, &out);
    free(out);
    return status;
}

static void test_the_cli_sets_and_unsets(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    assert_int_equal(run_tool("set", name_a, "from.cli", "yes"), 0);
    wait_seen("from.cli", "yes");
    assert_int_equal(run_tool("unset", name_a, "from.cli", NULL), 0);
    wait_seen("from.cli", NULL);
    assert_int_equal(run_tool("set", name_a, "ens.host", "x"), 1);
    assert_int_equal(run_tool("set", name_a, "only.key", NULL), 2);
    assert_int_equal(run_tool("set", "caps-no-such-system", "k", "v"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_unset_from_the_outside_seen_by_another_member),
        cmocka_unit_test(test_set_and_unset_from_an_actor),
        cmocka_unit_test(test_refusals_change_nothing),
        cmocka_unit_test(test_no_convention_and_inproc_have_none),
        cmocka_unit_test(test_a_connected_program_may_set),
        cmocka_unit_test(test_actors_that_no_longer_fit_are_asked_to_exit),
        cmocka_unit_test(test_a_restarted_gateway_puts_the_changed_capabilities),
        cmocka_unit_test(test_the_cli_sets_and_unsets),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * tests/test_convention_members.c - the members of a convention
 * (ensemble/convention.h): three systems on one private nats-server
 * (tests/support/nats_server.h). A subscriber on A sees B and C join (and
 * a late subscriber gets them as its first updates), B's orderly stop is
 * "left", the SIGKILL of C's whole process group is "unreachable", and
 * `ens members` lists the bucket. C runs in a child process of its own
 * group, so that killing the group kills its starter, admin, gateway and
 * actors at once, as a host that dies would. Skipped, with a message, when
 * nats-server is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "ensemble/ensemble.h"
#include "support/convention.h"
#include "support/deadline.h"
#include "support/json_doc.h"
#include "support/nats_server.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

/* Short heartbeats; a vanished member is noticed after the default
 * down_after_ms (2000). Generous deadlines below cover a busy machine. */
#define HEARTBEAT_MS 300u

static char name_a[32], name_b[32], name_c[32];
static ens_system *sys_a, *sys_b;
static pid_t c_group; /* the child that runs C, leader of its process group */

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    test_conv_name_set("m");
    snprintf(name_a, sizeof(name_a), "memb-%d-a", (int)getpid());
    snprintf(name_b, sizeof(name_b), "memb-%d-b", (int)getpid());
    snprintf(name_c, sizeof(name_c), "memb-%d-c", (int)getpid());
    return test_conv_server_start();
}

static int group_teardown(void **state)
{
    (void)state;
    test_conv_end((ens_system **[]){&sys_a, &sys_b}, 2, &c_group);
    return 0;
}

/* ---- the subscriber: keeps what it was told, as text ---------------- */

/* "J<system> " per joined, "L..." left, "U..." unreachable; a "?" after
 * the name when the capabilities lack the built-ins. Asked with any
 * string, it answers the whole text. */
typedef struct watcher {
    char log[2048];
} watcher;

static int watcher_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    watcher *w = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        char host[256], version[64];
        bool caps =
            ens_capability_get(u->capabilities, "ens.host", host, sizeof(host)) > 0 &&
            strcmp(host, u->host) == 0 &&
            ens_capability_get(u->capabilities, "ens.version", version, sizeof(version)) > 0 &&
            u->node != 0 && u->admin_pid != 0 && u->started_ms > 0;
        char letter = u->change == ENS_MEMBER_JOINED        ? 'J'
                      : u->change == ENS_MEMBER_LEFT        ? 'L'
                      : u->change == ENS_MEMBER_UNREACHABLE ? 'U'
                                                            : '!';
        size_t len = strlen(w->log);
        snprintf(w->log + len, sizeof(w->log) - len, "%c%s%s ", letter, u->system, caps ? "" : "?");
        return 0;
    }
    const ens_string_v *text = ens_msg_value(m, &ens_msg_string);
    if (text != NULL && strcmp(text->text, "again") == 0) {
        int rc = ens_convention_subscribe(c, true);
        if (rc < 0)
            return rc;
    }
    if (text != NULL)
        return ens_reply(c, &ens_msg_string, &(ens_string_v){w->log});
    return 0;
}

static const ens_actor_def watcher_def = {.name = "memb.Watcher",
                                          .state_size = sizeof(watcher),
                                          .init = test_conv_subscribe_init,
                                          .receive = watcher_receive};

/* Asked anything: answers ens_convention_subscribe's result as an Int64. */
static int trier_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state, (void)m;
    int64_t rc = ens_convention_subscribe(c, true);
    return ens_reply(c, &ens_msg_int64, &rc);
}

static const ens_actor_def trier_def = {"memb.Trier", 0,    NULL, trier_receive, NULL,
                                        NULL,         NULL, NULL, NULL};

/* What the watcher at w was told so far (a static buffer). */
static const char *told(ens_addr w)
{
    static char text[2048];
    assert_int_equal(test_conv_ask_text(sys_a, w, "?", TEST_WAIT_MS, text, sizeof(text)), 0);
    return text;
}

/* The last change told about system `name` ('J', 'L', 'U'), or 0. */
static char last_change(const char *log, const char *name)
{
    char last = 0;
    size_t n = strlen(name);
    for (const char *p = log; *p != '\0';) {
        const char *end = strchr(p, ' ');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len >= n + 1 && memcmp(p + 1, name, n) == 0 &&
            (len == n + 1 || (len == n + 2 && p[n + 1] == '?')))
            last = p[0];
        p += len;
        if (*p == ' ')
            p++;
    }
    return last;
}

/* Wait until the watcher's last change for each name is the one wanted. */
static void wait_for(ens_addr w, const char *name, char want, const char *name2, char want2)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    const char *log = "";
    for (;;) {
        log = told(w);
        if (last_change(log, name) == want && (name2 == NULL || last_change(log, name2) == want2))
            break;
        if (test_deadline_passed(d))
            fail_msg("waited for %c%s%s%c%s; the watcher was told: %s", want, name,
                     name2 != NULL ? " and " : "", name2 != NULL ? want2 : ' ',
                     name2 != NULL ? name2 : "", log);
        ens_system_run(sys_a, 50);
    }
    assert_null(strchr(log, '?')); /* every update had its built-in capabilities */
}

/* ---- running ens members --------------------------------------------- */

static char *out_text;

/* Run `ens ARGS...` (test_conv_run_tool): its output in out_text. */
static int run_ens(const char *const *args, const char *env_url)
{
    return test_conv_run_tool(ENS_TOOL_PATH, args, env_url, &out_text);
}

/* The member objects of `ens members --json` (the document in out_text):
 * the document, to json_decref, and its array in *rows. */
static json_t *members_doc(json_t **rows)
{
    return json_doc(out_text, "members", rows);
}

/* The object about system name among rows, or NULL. */
static json_t *member_row(json_t *rows, const char *name)
{
    return json_row_where(rows, "system", name);
}

/* Whether member m's capabilities array has an item starting with text
 * (all of it when whole). */
static bool has_capability(const json_t *m, const char *text, bool whole)
{
    json_t *caps = json_object_get(m, "capabilities");
    if (!json_is_array(caps))
        fail_msg("no array \"capabilities\" in the member of %s", json_text(m, "system"));
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c)
    {
        const char *v = json_string_value(c);
        if (v != NULL && (whole ? strcmp(v, text) == 0 : strncmp(v, text, strlen(text)) == 0))
            return true;
    }
    return false;
}

/* ---- the scenario ---------------------------------------------------- */

static void test_join_leave_and_vanish_seen_by_subscribers_and_the_cli(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_system_opts oa = test_conv_member_opts(name_a, HEARTBEAT_MS),
                    ob = test_conv_member_opts(name_b, HEARTBEAT_MS),
                    oc = test_conv_member_opts(name_c, HEARTBEAT_MS);
    oa.convention.capabilities = "gpu=1\nzone=eu"; /* the last newline may be left out */
    assert_int_equal(ens_system_start(&oa, &sys_a), 0);
    ens_addr early = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_a), &watcher_def, NULL, NULL, &early), 0);
    assert_int_equal(ens_system_start(&ob, &sys_b), 0);
    c_group = test_conv_start_group(&oc);
    assert_true(c_group > 0);

    /* Subscribed before B and C started: told as they joined. */
    wait_for(early, name_b, 'J', name_c, 'J');
    assert_int_equal(last_change(told(early), name_a), 0); /* never about its own system */
    /* Subscribed after: its first updates are the members there now. */
    ens_addr late = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ens_system_ctx(sys_a), &watcher_def, NULL, NULL, &late), 0);
    wait_for(late, name_b, 'J', name_c, 'J');
    /* Subscribing again is one subscription that tells the members again. */
    char joined_b[48];
    snprintf(joined_b, sizeof(joined_b), "J%s ", name_b);
    ens_msg *again = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(sys_a), late, &ens_msg_string, &(ens_string_v){"again"},
                             TEST_WAIT_MS, &again),
                     0);
    ens_msg_free(again);
    test_deadline twice = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        const char *log = told(late);
        const char *first = strstr(log, joined_b);
        if (first != NULL && strstr(first + 1, joined_b) != NULL)
            break;
        if (test_deadline_passed(twice))
            fail_msg("the second subscription did not tell B again: %s", log);
        ens_system_run(sys_a, 50);
    }

    /* Anyone with access to the server can write the bucket: what is not a
     * member's record (a key that is no node id, binary junk, a record
     * without a system name, one past the size bound) is ignored; a
     * well-formed one is a member until it is deleted. */
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    char bucket[64];
    snprintf(bucket, sizeof(bucket), "ens-%s-members", test_conv_name);
    assert_int_equal(natsConnection_ConnectTo(&nc, test_conv_server.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    static char big[70000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "system=big\n", 11);
    assert_int_equal(kvStore_PutString(NULL, kv, "notanode", "system=x\n"), NATS_OK);
    assert_int_equal(kvStore_Put(NULL, kv, "71", "\x01\x00\xff junk", 9), NATS_OK);
    assert_int_equal(kvStore_PutString(NULL, kv, "72", "host=h\nheartbeat_ms=300\n"), NATS_OK);
    assert_int_equal(kvStore_Put(NULL, kv, "73", big, (int)sizeof(big)), NATS_OK);
    assert_int_equal(kvStore_PutString(NULL, kv, "74",
                                       "system=outsider\nhost=h\npid=1\nstarted=1\nheartbeat_ms="
                                       "60000\ncap.ens.version=0\ncap.ens.host=h\n"),
                     NATS_OK);
    wait_for(early, "outsider", 'J', name_b, 'J');
    assert_int_equal(kvStore_Delete(kv, "74"), NATS_OK);
    wait_for(early, "outsider", 'L', name_c, 'J');
    const char *seen = told(early);
    assert_null(strstr(seen, "J "));   /* nothing without a name */
    assert_null(strstr(seen, "Jbig")); /* nor past the bound */
    assert_null(strstr(seen, "Jx "));
    for (const char *k = "notanode\0"
                         "71\0"
                         "72\0"
                         "73\0";
         *k != '\0'; k += strlen(k) + 1)
        kvStore_Purge(kv, k, NULL);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);

    /* A's gateway is killed and restarted: the subscriptions are the
     * admin's and outlive it; the new gateway's view of the bucket changes
     * nothing (nobody is told B or C left), and later changes still come. */
    test_conv_kill_gateway(name_a, sys_a);

    /* B ends in order: it deletes its record, "left". */
    assert_int_equal(ens_system_stop(sys_b, 5000), 0);
    sys_b = NULL;
    wait_for(early, name_b, 'L', name_c, 'J');
    wait_for(late, name_b, 'L', name_c, 'J');

    /* The CLI lists the live members: A and C, not B; by --nats and by
     * ENSEMBLE_NATS_URL. */
    assert_int_equal(run_ens((const char *const[]){"members", "--nats", test_conv_server.url,
                                                   "--convention", test_conv_name, "--json", NULL},
                             NULL),
                     0);
    print_message("ens members --json:\n%s", out_text);
    json_t *rows;
    json_t *doc = members_doc(&rows);
    json_t *m = member_row(rows, name_a);
    assert_non_null(m);
    assert_string_equal(json_text(m, "state"), "live");
    assert_true(json_num(m, "node") > 0);
    assert_true(json_num(m, "pid") > 0); /* A's admin */
    assert_true(has_capability(m, "ens.version=", false));
    assert_true(has_capability(m, "gpu=1", true));   /* its own, given at start */
    assert_true(has_capability(m, "zone=eu", true)); /* the last line without a newline */
    m = member_row(rows, name_c);
    assert_non_null(m);
    assert_string_equal(json_text(m, "state"), "live");
    assert_false(has_capability(m, "gpu=", false));
    assert_null(member_row(rows, name_b));
    json_decref(doc);
    assert_int_equal(run_ens((const char *const[]){"members", "--convention", test_conv_name, NULL},
                             test_conv_server.url),
                     0);
    assert_non_null(strstr(out_text, name_a));
    assert_non_null(strstr(out_text, name_c));
    assert_null(strstr(out_text, name_b));

    /* C's whole process group dies at once, as with its host: nobody
     * deletes its record; the heartbeats stop, "unreachable". */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    test_conv_kill_group(&c_group);
    wait_for(early, name_c, 'U', NULL, 0);
    wait_for(late, name_c, 'U', NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int ms = (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    print_message("C seen unreachable %d ms after its SIGKILL (down_after_ms %u)\n", ms,
                  ENS_CONVENTION_DOWN_AFTER_MS);
    assert_int_equal(
        run_ens((const char *const[]){"members", "--convention", test_conv_name, "--json", NULL},
                test_conv_server.url),
        0);
    doc = members_doc(&rows);
    m = member_row(rows, name_c);
    assert_non_null(m);
    assert_string_equal(json_text(m, "state"), "unreachable");
    json_decref(doc);
    const char *all = told(early);
    print_message("the first subscriber was told: %s\n", all);
    char left_c[48];
    snprintf(left_c, sizeof(left_c), "L%s", name_c);
    assert_null(strstr(all, left_c)); /* not even across A's gateway restart */
    print_message("ens members --json:\n%s", out_text);
}

static void test_cli_refuses_without_a_server_or_a_convention(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    assert_int_equal(
        run_ens((const char *const[]){"members", "--convention", test_conv_name, NULL}, NULL), 2);
    assert_non_null(strstr(out_text, "ENSEMBLE_NATS_URL"));
    assert_int_equal(run_ens((const char *const[]){"members", NULL}, test_conv_server.url), 2);
    assert_non_null(strstr(out_text, "--convention"));
    /* A convention nobody joined has no bucket: said, exit 1. */
    assert_int_equal(run_ens((const char *const[]){"members", "--convention", "nobody-here", NULL},
                             test_conv_server.url),
                     1);
    assert_non_null(strstr(out_text, "has no members"));
}

/* Without a convention there is nothing to subscribe to: ENS_ENOTSUP, on
 * the process base (no convention options) and on the inproc base. */
static void test_subscribe_without_a_convention_is_not_supported(void **state)
{
    (void)state;
    ens_base bases[] = {ENS_BASE_PROCESS, ENS_BASE_INPROC};
    for (size_t i = 0; i < 2; i++) {
        ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
        o.base = bases[i];
        o.journal_path = "";
        o.log_path = "/dev/null";
        ens_system *s = NULL;
        assert_int_equal(ens_system_start(&o, &s), 0);
        ens_addr t = ENS_ADDR_NONE;
        assert_int_equal(ens_spawn(ens_system_ctx(s), &trier_def, NULL, NULL, &t), 0);
        ens_msg *r = NULL;
        assert_int_equal(
            ens_ask(ens_system_ctx(s), t, &ens_msg_string, &(ens_string_v){"?"}, TEST_WAIT_MS, &r),
            0);
        assert_int_equal(*(const int64_t *)ens_msg_value(r, &ens_msg_int64), ENS_ENOTSUP);
        ens_msg_free(r);
        /* Outside an actor: not an actor's context. */
        assert_int_equal(ens_convention_subscribe(ens_system_ctx(s), true), ENS_EINVAL);
        ens_system_stop(s, 5000);
    }
    assert_int_equal(ens_convention_subscribe(NULL, true), ENS_EINVAL);
}

static void test_capability_get(void **state)
{
    (void)state;
    const char *caps = "ens.version=0.1.0\nens.host=h1\ngpu=1\nzone=eu-west\n";
    char out[16];
    assert_int_equal(ens_capability_get(caps, "gpu", out, sizeof(out)), 1);
    assert_string_equal(out, "1");
    assert_int_equal(ens_capability_get(caps, "zone", out, sizeof(out)), 7);
    assert_string_equal(out, "eu-west");
    assert_int_equal(ens_capability_get(caps, "zone", out, 3), 7); /* cut, full length told */
    assert_string_equal(out, "eu");
    assert_int_equal(ens_capability_get(caps, "ens", out, sizeof(out)), ENS_ENOENT);
    assert_int_equal(ens_capability_get(caps, "ens.host=h1", out, sizeof(out)), ENS_ENOENT);
    assert_int_equal(ens_capability_get(caps, "", out, sizeof(out)), ENS_EINVAL);
    assert_int_equal(ens_capability_get(caps, "gpu", out, 0), ENS_EINVAL);
    assert_int_equal(ens_capability_get(NULL, "gpu", out, sizeof(out)), ENS_EINVAL);
}

/* Requirements, table-driven: each row the capabilities, the list, whether
 * they are met and the reason given when not. */
static void test_capabilities_meet(void **state)
{
    (void)state;
    const char *caps = "ens.version=0.1.0\nens.host=h1\ngpu=1\nzone=eu\noff=0\nno=false\nempty=\n";
    static const char *const gpu[] = {"gpu", NULL};
    static const char *const gpu_eu[] = {"gpu", "zone=eu", NULL};
    static const char *const gpu_us[] = {"gpu", "zone=us", NULL};
    static const char *const tpu[] = {"tpu", NULL};
    static const char *const off[] = {"off", NULL};
    static const char *const no[] = {"no", NULL};
    static const char *const empty[] = {"empty", NULL};
    static const char *const empty_eq[] = {"empty=", NULL};
    static const char *const prefix[] = {"zon", NULL}; /* not a prefix match */
    static const char *const none[] = {NULL};
    const struct {
        const char *caps;
        const char *const *req;
        bool met;
        const char *why;
    } rows[] = {
        {caps, gpu, true, ""},
        {caps, gpu_eu, true, ""},
        {caps, gpu_us, false, "zone is eu, not us"},
        {caps, tpu, false, "tpu missing"},
        {caps, off, false, "off is \"0\""},
        {caps, no, false, "no is \"false\""},
        {caps, empty, false, "empty is \"\""},
        {caps, empty_eq, true, ""},
        {caps, prefix, false, "zon missing"},
        {caps, none, true, ""},
        {caps, NULL, true, ""},
        {NULL, gpu, false, "gpu missing"},
        {NULL, NULL, true, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char why[64] = "x";
        bool met = ens_capabilities_meet(rows[i].caps, rows[i].req, why, sizeof(why));
        if (met != rows[i].met || strcmp(why, rows[i].why) != 0)
            fail_msg("row %zu: met %d why \"%s\"", i, met, why);
    }
    /* A short buffer is cut, never overrun; no buffer at all is fine. */
    char small[5];
    assert_false(ens_capabilities_meet(caps, tpu, small, sizeof(small)));
    assert_string_equal(small, "tpu ");
    assert_false(ens_capabilities_meet(caps, tpu, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capability_get),
        cmocka_unit_test(test_capabilities_meet),
        cmocka_unit_test(test_subscribe_without_a_convention_is_not_supported),
        cmocka_unit_test(test_cli_refuses_without_a_server_or_a_convention),
        cmocka_unit_test(test_join_leave_and_vanish_seen_by_subscribers_and_the_cli),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    free(out_text);
    return rc;
}

/*
 * tests/test_convention_names_cli.c - `ens names --nats URL --convention
 * NAME` (tools/ens_names_wide.c): the convention-wide names read straight
 * from the names bucket, text and --json, with each holder's address, node
 * and system; a name whose actor ended leaves the listing; an entry that
 * is not an address is shown as such; the refusals (no server, no
 * convention, a bad one, a SYSTEM beside --nats, an unreachable server, a
 * convention without a bucket); `ens names SYSTEM` still lists one
 * system's names. Two systems of one convention on a private nats-server
 * (tests/support/nats_server.h). Skipped, with a message, when nats-server
 * is not installed.
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
#include "support/json_doc.h"
#include "support/nats_server.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

static char name_a[32], name_b[32];
static ens_system *sys_a, *sys_b;
static char *out_text;

static ens_system *start_member(const char *name)
{
    ens_system_opts o = test_conv_member_opts(name, 0);
    ens_system *s = NULL;
    return ens_system_start(&o, &s) == 0 ? s : NULL;
}

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0; /* each test skips and says why */
    test_conv_name_set("nc");
    snprintf(name_a, sizeof(name_a), "ncli-%d-a", (int)getpid());
    snprintf(name_b, sizeof(name_b), "ncli-%d-b", (int)getpid());
    if (test_conv_server_start() != 0)
        return -1;
    sys_a = start_member(name_a);
    sys_b = start_member(name_b);
    return sys_a != NULL && sys_b != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    test_conv_end((ens_system **[]){&sys_a, &sys_b}, 2, NULL);
    return 0;
}

static int idle_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c, (void)state, (void)m;
    return 0;
}
static const ens_actor_def idle_def = {.name = "ncli.Idle", .receive = idle_receive};

/* ---- running ens ------------------------------------------------------- */

/* Run `ens ARGS...` (test_conv_run_tool): its output in out_text. */
static int run_ens(const char *const *args, const char *env_url)
{
    return test_conv_run_tool(ENS_TOOL_PATH, args, env_url, &out_text);
}

/* The line of out_text that contains text, copied into line, or NULL. */
static const char *line_with(const char *text, char *line, size_t len)
{
    return test_conv_line_with(out_text, text, line, len);
}

/* Run `ens names --nats URL --convention C [--json]` until its output has
 * (want) or lacks (!want) text, within the test's deadline (the members
 * record, or a release, reaches the server a moment after the call that
 * caused it returned), letting both systems run between tries. */
static void await_listing(bool json, const char *text, bool want)
{
    const char *args[] = {"names",
                          "--nats",
                          test_conv_server.url,
                          "--convention",
                          test_conv_name,
                          json ? "--json" : NULL,
                          NULL};
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        assert_int_equal(run_ens(args, NULL), 0);
        if ((strstr(out_text, text) != NULL) == want)
            return;
        if (test_deadline_passed(d))
            fail_msg("ens names %s '%s' in time:\n%s", want ? "never showed" : "still shows", text,
                     out_text);
        /* An outside's request (the exit request below) leaves during its
         * system's next call. */
        ens_system_run(sys_a, 5);
        ens_system_run(sys_b, 5);
    }
}

/* ---- tests -------------------------------------------------------------- */

static void test_the_cli_lists_the_convention_names_with_their_holders(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr alpha, beta, gamma;
    /* "ncli..beta" is stored under a key with "=2E" for each '.'. */
    assert_int_equal(
        ens_name_spawn(ens_system_ctx(sys_a), "ncli.alpha", &idle_def, NULL, NULL, &alpha), 0);
    assert_int_equal(
        ens_name_spawn(ens_system_ctx(sys_a), "ncli..beta", &idle_def, NULL, NULL, &beta), 0);
    assert_int_equal(
        ens_name_spawn(ens_system_ctx(sys_b), "ncli.gamma", &idle_def, NULL, NULL, &gamma), 0);
    char a_alpha[ENS_ADDR_STRLEN], a_beta[ENS_ADDR_STRLEN], a_gamma[ENS_ADDR_STRLEN];
    ens_addr_format(alpha, a_alpha, sizeof(a_alpha));
    ens_addr_format(beta, a_beta, sizeof(a_beta));
    ens_addr_format(gamma, a_gamma, sizeof(a_gamma));

    /* Text: a header with the count, one line per name, sorted by name,
     * each with its holder's address, node and system. */
    char want[256], line[512];
    snprintf(want, sizeof(want), "%s", name_b); /* B's members record is in */
    await_listing(false, want, true);
    await_listing(false, name_a, true);
    print_message("ens names --nats:\n%s", out_text);
    snprintf(want, sizeof(want), "convention %s  names 3\n", test_conv_name);
    assert_non_null(strstr(out_text, want));
    assert_non_null(line_with("ncli.alpha ", line, sizeof(line)));
    assert_non_null(strstr(line, a_alpha));
    assert_non_null(strstr(line, name_a));
    snprintf(want, sizeof(want), " %u ", (unsigned)alpha.node);
    assert_non_null(strstr(line, want));
    assert_non_null(line_with("ncli..beta ", line, sizeof(line)));
    assert_non_null(strstr(line, a_beta));
    assert_non_null(line_with("ncli.gamma ", line, sizeof(line)));
    assert_non_null(strstr(line, a_gamma));
    assert_non_null(strstr(line, name_b));
    assert_true(strstr(out_text, "ncli..beta") < strstr(out_text, "ncli.alpha"));
    assert_true(strstr(out_text, "ncli.alpha") < strstr(out_text, "ncli.gamma"));

    /* --json, with the server from ENSEMBLE_NATS_URL: one object per name. */
    assert_int_equal(
        run_ens((const char *const[]){"names", "--convention", test_conv_name, "--json", NULL},
                test_conv_server.url),
        0);
    print_message("ens names --nats --json:\n%s", out_text);
    assert_null(strstr(out_text, "names 3")); /* no header */
    json_t *rows;
    json_t *doc = json_doc(out_text, "names", &rows);
    assert_int_equal(json_array_size(rows), 3);
    /* Sorted by name, every object with the same keys. */
    assert_string_equal(json_text(json_array_get(rows, 0), "name"), "ncli..beta");
    assert_string_equal(json_text(json_array_get(rows, 1), "name"), "ncli.alpha");
    assert_string_equal(json_text(json_array_get(rows, 2), "name"), "ncli.gamma");
    json_t *r = json_row_where(rows, "name", "ncli..beta");
    assert_string_equal(json_text(r, "convention"), test_conv_name);
    assert_string_equal(json_text(r, "address"), a_beta);
    assert_int_equal(json_num(r, "node"), beta.node);
    assert_string_equal(json_text(r, "system"), name_a);
    assert_true(json_is_null_at(r, "entry"));
    r = json_row_where(rows, "name", "ncli.gamma");
    assert_string_equal(json_text(r, "convention"), test_conv_name);
    assert_string_equal(json_text(r, "address"), a_gamma);
    assert_int_equal(json_num(r, "node"), gamma.node);
    assert_string_equal(json_text(r, "system"), name_b);
    assert_int_equal(json_object_size(r), 6);
    json_decref(doc);

    /* The local mode is unchanged: one system's own names. */
    assert_int_equal(run_ens((const char *const[]){"names", name_b, NULL}, test_conv_server.url),
                     0);
    snprintf(want, sizeof(want), "system %s  names 1\n", name_b);
    assert_non_null(strstr(out_text, want));
    assert_non_null(strstr(out_text, "ncli.gamma"));

    /* A name whose actor ended leaves the bucket, and the listing. */
    assert_int_equal(ens_exit_request(ens_system_ctx(sys_b), gamma), 0);
    await_listing(false, "ncli.gamma", false);
    snprintf(want, sizeof(want), "convention %s  names 2\n", test_conv_name);
    assert_non_null(strstr(out_text, want));
}

static void test_an_entry_that_is_not_an_address_is_shown_as_such(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    char bucket[64];
    snprintf(bucket, sizeof(bucket), "ens-%s-names", test_conv_name);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, test_conv_server.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&kv, js, bucket), NATS_OK);
    uint64_t rev = 0;
    assert_int_equal(kvStore_CreateString(&rev, kv, "ncli.junk",
                                          "not\x01"
                                          "an address"),
                     NATS_OK);
    /* A key that stands for no name at all: skipped with a note. */
    assert_int_equal(kvStore_CreateString(&rev, kv, "ncli=41x", "ens:1/16"), NATS_OK);

    char line[512];
    assert_int_equal(run_ens((const char *const[]){"names", "--nats", test_conv_server.url,
                                                   "--convention", test_conv_name, NULL},
                             NULL),
                     0);
    assert_non_null(line_with("ncli.junk ", line, sizeof(line)));
    assert_non_null(strstr(line, "(not an address)"));
    assert_non_null(strstr(out_text, "key ncli=41x"));
    assert_non_null(strstr(out_text, "stands for no name"));
    assert_int_equal(run_ens((const char *const[]){"names", "--nats", test_conv_server.url,
                                                   "--convention", test_conv_name, "--json", NULL},
                             NULL),
                     0);
    print_message("ens names --nats --json:\n%s", out_text);
    /* The note about the key comes on stderr, before the document. */
    json_t *rows;
    json_t *doc = json_doc_within(out_text, "names", &rows);
    json_t *r = json_row_where(rows, "name", "ncli.junk");
    assert_non_null(r);
    assert_true(json_is_null_at(r, "address"));
    assert_true(json_is_null_at(r, "node"));
    assert_true(json_is_null_at(r, "system"));
    assert_string_equal(json_text(r, "entry"), "not\x01"
                                               "an address");
    json_decref(doc);

    assert_int_equal(kvStore_Delete(kv, "ncli.junk"), NATS_OK);
    assert_int_equal(kvStore_Delete(kv, "ncli=41x"), NATS_OK);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void test_the_cli_refuses_what_it_cannot_list(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    /* Usage errors: 2. */
    assert_int_equal(
        run_ens((const char *const[]){"names", "--convention", test_conv_name, NULL}, NULL), 2);
    assert_non_null(strstr(out_text, "ENSEMBLE_NATS_URL"));
    assert_int_equal(
        run_ens((const char *const[]){"names", "--nats", test_conv_server.url, NULL}, NULL), 2);
    assert_non_null(strstr(out_text, "--convention"));
    assert_int_equal(run_ens((const char *const[]){"names", "--nats", test_conv_server.url,
                                                   "--convention", "no.dots", NULL},
                             NULL),
                     2);
    assert_non_null(strstr(out_text, "bad convention name"));
    assert_int_equal(
        run_ens((const char *const[]){"names", "--convention", test_conv_name, name_a, NULL},
                test_conv_server.url),
        2);
    assert_non_null(strstr(out_text, "unexpected argument"));
    assert_int_equal(run_ens((const char *const[]){"names", "--convention", test_conv_name,
                                                   "--timeout", "soon", NULL},
                             test_conv_server.url),
                     2);
    assert_int_equal(run_ens((const char *const[]){"names", "--nats", NULL}, NULL), 2);
    /* Runtime errors: 1. Nothing listens on port 1 of the loopback. */
    assert_int_equal(run_ens((const char *const[]){"names", "--nats", "nats://127.0.0.1:1",
                                                   "--convention", test_conv_name, NULL},
                             NULL),
                     1);
    assert_non_null(strstr(out_text, "cannot connect to nats://127.0.0.1:1"));
    assert_int_equal(run_ens((const char *const[]){"names", "--convention", "nobody-here", NULL},
                             test_conv_server.url),
                     1);
    assert_non_null(strstr(out_text, "has no names bucket"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_cli_refuses_what_it_cannot_list),
        cmocka_unit_test(test_the_cli_lists_the_convention_names_with_their_holders),
        cmocka_unit_test(test_an_entry_that_is_not_an_address_is_shown_as_such),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    free(out_text);
    return rc;
}

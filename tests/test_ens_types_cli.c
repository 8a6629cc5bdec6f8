/*
 * tests/test_ens_types_cli.c - `ens types` and `ens ask|tell --type`
 * against a live process-base system whose program registered its own
 * message types with field names: demo.Greeting "S(is)" (count, text),
 * demo.Order with a nested struct, an array of structs and bytes, and
 * demo.Unnamed without names (f0, f1). The built `ens` has not registered
 * any of them: it learns them from the system. A greeter answers a
 * greeting with count + 1; a mirror answers any message with itself, so a
 * value round-trips through JSON -> struct -> frame -> struct -> JSON.
 * Bad values are usage errors that name the field; a system with
 * thousands of types is listed whole.
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

#include "ensemble/ensemble.h"
#include "support/deadline.h"
#include "support/json_doc.h"
#include "support/run_tool.h"

#ifndef ENS_TOOL_PATH
#error "ENS_TOOL_PATH must name the built ens program (CMakeLists.txt sets it)"
#endif

#define WAIT_MS 30000
#define N_BULK  2000

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;

typedef struct order_item_v {
    int32_t a;
    uint64_t b;
} order_item_v;

typedef struct order_v {
    int32_t n;
    ens_addr from;
    char *note;
    ens_array items; /* order_item_v */
    ens_bytes raw;
} order_v;

typedef struct unnamed_v {
    int32_t x;
    int64_t y;
} unnamed_v;

static ens_msgtype greeting_t = {"demo.Greeting", "S(is)", sizeof(greeting_v), 0, 0, "count,text"};
static ens_msgtype order_t = {"demo.Order",
                              "S(i" ENS_ADDR_FMT "s)A(S(iU))B",
                              sizeof(order_v),
                              0,
                              0,
                              "n,from,node,id,gen,note,items,a,b,raw"};
static ens_msgtype unnamed_t = {"demo.Unnamed", "S(iI)", sizeof(unnamed_v), 0, 0, NULL};
static ens_msgtype bulk_t[N_BULK];
static char bulk_names[N_BULK][32];

/* ---- the actors ---- */

typedef struct greeter_state {
    int32_t last_told;
} greeter_state;

static int greeter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    greeter_state *st = state;
    const greeting_v *g = ens_msg_value(m, &greeting_t);
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    char buf[300];
    if (g != NULL && !ens_msg_is_request(m)) {
        st->last_told = g->count;
        return 0;
    }
    if (g != NULL) {
        snprintf(buf, sizeof(buf), "hello, %s", g->text != NULL ? g->text : "(null)");
        greeting_v r = {g->count + 1, buf};
        return ens_reply(c, &greeting_t, &r);
    }
    if (s != NULL && s->text != NULL) {
        if (strcmp(s->text, "last?") == 0)
            snprintf(buf, sizeof(buf), "last: %d", (int)st->last_told);
        else
            snprintf(buf, sizeof(buf), "plain: %s", s->text);
        ens_string_v r = {buf};
        return ens_reply(c, &ens_msg_string, &r);
    }
    return 0;
}

static const ens_actor_def greeter_def = {"typestest.Greeter",
                                          sizeof(greeter_state),
                                          NULL,
                                          greeter_receive,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL};

static int mirror_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_msgtype *t = ens_msg_type(m);
    if (t == NULL || !ens_msg_is_request(m))
        return 0;
    return ens_reply(c, t, ens_msg_value(m, t));
}

static const ens_actor_def mirror_def = {
    "typestest.Mirror", 0, NULL, mirror_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- the system ---- */

static ens_system *sys;
static char sys_name[64];
static char *out_text, *err_text;

static int group_setup(void **state)
{
    (void)state;
    snprintf(sys_name, sizeof(sys_name), "typestest-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = sys_name;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    fflush(NULL);
    if (ens_system_start(&o, &sys) != 0)
        return -1;
    ens_addr a;
    if (ens_name_spawn(ens_system_ctx(sys), "greeter", &greeter_def, NULL, NULL, &a) != 0)
        return -1;
    if (ens_name_spawn(ens_system_ctx(sys), "mirror", &mirror_def, NULL, NULL, &a) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (sys != NULL)
        ens_system_stop(sys, 5000);
    sys = NULL;
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    return 0;
}

/* ---- running ens ---- */

/* Run ens with args (NULL-terminated, without argv[0]) and `input` (or
 * nothing) on its standard input. Returns the exit code; the output is in
 * out_text / err_text. */
static int run_input(const char *input, const char *const *args)
{
    test_tool_opts o = {.input = input, .wait_ms = WAIT_MS};
    return test_tool_run(ENS_TOOL_PATH, args, &o, &out_text, &err_text);
}

#define RUN(...)              run_input(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_INPUT(input, ...) run_input(input, (const char *const[]){__VA_ARGS__, NULL})

static void assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, text);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* ---- the tests ---- */

static void test_types_lists_the_registered_types(void **state)
{
    (void)state;
    assert_int_equal(RUN("types", sys_name), 0);
    assert_contains(out_text, "demo.Greeting");
    assert_contains(out_text, "S(is)");
    assert_contains(out_text, "count,text");
    assert_contains(out_text, "demo.Order");
    assert_contains(out_text, "n,from,node,id,gen,note,items,a,b,raw");
    assert_contains(out_text, "demo.Unnamed");
    assert_contains(out_text, "ens.String");
    assert_null(strstr(out_text, "ens.ctl.")); /* the internal control types are not listed */
    assert_null(strstr(out_text, "not usable"));
}

static void test_types_json(void **state)
{
    (void)state;
    assert_int_equal(RUN("types", sys_name, "--json"), 0);
    json_t *rows = NULL;
    json_t *root = json_doc(out_text, "types", &rows);
    assert_non_null(root);
    json_t *g = json_row_where(rows, "name", "demo.Greeting");
    assert_non_null(g);
    assert_string_equal(json_text(g, "format"), "S(is)");
    assert_int_equal(json_num(g, "size"), 16);
    assert_string_equal(json_text(g, "fields"), "count,text");
    assert_true(json_is_true(json_object_get(g, "usable")));
    json_t *u = json_row_where(rows, "name", "demo.Unnamed");
    assert_non_null(u);
    assert_true(json_is_null_at(u, "fields"));
    assert_null(strstr(out_text, "system "));
    json_decref(root);
}

/* The shell speaks the same types: `types` and `ask --type`. */
static void test_shell_types_and_typed_ask(void **state)
{
    (void)state;
    char script[256];
    snprintf(script, sizeof(script),
             "connect %s\ntypes\nask --type demo.Greeting greeter {\"count\":41,\"text\":\"x\"}\n"
             "ask --type demo.Greeting greeter {\"count\":\"no\"}\n",
             sys_name);
    int rc = RUN_INPUT(script, "shell");
    print_message("%s%s", out_text, err_text);
    assert_int_equal(rc, 2); /* the last command: a bad value */
    assert_contains(out_text, "demo.Greeting");
    assert_contains(out_text, "{\"count\":42,\"text\":\"hello, x\"}");
    assert_contains(err_text, "count");
}

static void test_types_lists_thousands(void **state)
{
    (void)state;
    assert_int_equal(RUN("types", sys_name), 0);
    const char *head = strstr(out_text, "types ");
    assert_non_null(head);
    assert_true(atoi(head + 6) >= N_BULK + 3);
    assert_contains(out_text, "bulk.T1999");
    assert_int_equal(count_lines(out_text), atoi(head + 6) + 2); /* the summary and the header */
}

static void test_ask_typed_round_trip(void **state)
{
    (void)state;
    assert_int_equal(
        RUN("ask", sys_name, "greeter", "--type", "demo.Greeting", "{\"count\":1,\"text\":\"hi\"}"),
        0);
    assert_string_equal(out_text, "{\"count\":2,\"text\":\"hello, hi\"}\n");
    /* Without --type: ens.String as before. */
    assert_int_equal(RUN("ask", sys_name, "greeter", "hi"), 0);
    assert_string_equal(out_text, "plain: hi\n");
}

static void test_ask_typed_nested_arrays_bytes(void **state)
{
    (void)state;
    const char *order =
        "{\"n\":-5,\"from\":{\"node\":\"18446744073709551615\",\"id\":17,\"gen\":0},"
        "\"note\":null,\"items\":[{\"a\":1,\"b\":2},{\"a\":-2147483648,"
        "\"b\":9007199254740993}],\"raw\":\"00ff10\"}";
    assert_int_equal(RUN("ask", sys_name, "mirror", "--type", "demo.Order", order), 0);
    char want[1024];
    snprintf(want, sizeof(want), "%s\n", order);
    assert_string_equal(out_text, want);
    const char *empty = "{\"n\":0,\"from\":{\"node\":0,\"id\":0,\"gen\":0},\"note\":\"\","
                        "\"items\":[],\"raw\":\"\"}";
    assert_int_equal(RUN("ask", sys_name, "mirror", "--type", "demo.Order", empty), 0);
    snprintf(want, sizeof(want), "%s\n", empty);
    assert_string_equal(out_text, want);
    /* No field names: f0, f1. */
    assert_int_equal(RUN("ask", sys_name, "mirror", "--type", "demo.Unnamed",
                         "{\"f0\":3,\"f1\":-9223372036854775808}"),
                     0);
    assert_string_equal(out_text, "{\"f0\":3,\"f1\":-9223372036854775808}\n");
    /* A library type by name. */
    assert_int_equal(RUN("ask", sys_name, "mirror", "--type", "ens.Int64", "{\"value\":7}"), 0);
    assert_string_equal(out_text, "{\"value\":7}\n");
}

static void test_tell_typed(void **state)
{
    (void)state;
    assert_int_equal(RUN("tell", sys_name, "greeter", "--type", "demo.Greeting",
                         "{\"count\":41,\"text\":\"t\"}"),
                     0);
    /* The tell and the asks come on different connections: wait for it. */
    test_deadline d = test_deadline_in(WAIT_MS);
    for (;;) {
        assert_int_equal(RUN("ask", sys_name, "greeter", "last?"), 0);
        if (strcmp(out_text, "last: 41\n") == 0)
            break;
        assert_false(test_deadline_passed(d));
        test_nap_ms(20);
    }
}

static void expect_usage_error(const char *type, const char *json, const char *named)
{
    int rc = RUN("ask", sys_name, "mirror", "--type", type, json);
    if (rc != 2)
        fail_msg("ask --type %s '%s': exit %d, stderr: %s", type, json, rc, err_text);
    assert_contains(err_text, named);
    assert_string_equal(out_text, "");
}

static void test_bad_values_are_usage_errors(void **state)
{
    (void)state;
    expect_usage_error("demo.Greeting", "{\"count\":1}", "field 'text': missing");
    expect_usage_error("demo.Greeting", "{\"count\":1,\"text\":\"x\",\"more\":2}",
                       "field 'more': the type has no such field");
    expect_usage_error("demo.Greeting", "{\"count\":\"1\",\"text\":\"x\"}",
                       "field 'count': expected an integer");
    expect_usage_error("demo.Greeting", "{\"count\":2147483648,\"text\":\"x\"}",
                       "field 'count': out of range");
    expect_usage_error("demo.Greeting", "{\"count\":1,\"text\":5}", "field 'text'");
    expect_usage_error("demo.Greeting", "{count", "not JSON");
    expect_usage_error("demo.Greeting", "[1,2]", "expected an object");
    expect_usage_error("demo.Nope", "{}", "no type 'demo.Nope'");
    expect_usage_error("demo.Order",
                       "{\"n\":0,\"from\":{\"node\":0,\"id\":0,\"gen\":0},\"note\":null,"
                       "\"items\":[{\"a\":1,\"b\":2},{\"a\":1,\"b\":-2}],\"raw\":\"\"}",
                       "field 'items[1].b': out of range");
    expect_usage_error("demo.Order",
                       "{\"n\":0,\"from\":{\"node\":0,\"id\":0},\"note\":null,"
                       "\"items\":[],\"raw\":\"\"}",
                       "field 'from.gen': missing");
    expect_usage_error("demo.Order",
                       "{\"n\":0,\"from\":{\"node\":0,\"id\":0,\"gen\":0},\"note\":null,"
                       "\"items\":[],\"raw\":\"0g\"}",
                       "field 'raw'");
}

/* ---- the C API ---- */

typedef struct found {
    int greeting, bulk, internal;
    char fields[64];
} found;

static int note_type(const ens_type_desc *t, void *arg)
{
    found *f = arg;
    if (strcmp(t->name, "demo.Greeting") == 0) {
        f->greeting++;
        assert_string_equal(t->format, "S(is)");
        assert_int_equal(t->size, sizeof(greeting_v));
        assert_int_equal(t->id, greeting_t.id);
        snprintf(f->fields, sizeof(f->fields), "%s", t->fields != NULL ? t->fields : "(null)");
    }
    if (strncmp(t->name, "bulk.", 5) == 0)
        f->bulk++;
    if (strncmp(t->name, "ens.ctl.", 8) == 0 || t->id >= 0xFFFF0000u)
        f->internal++;
    return 0;
}

static int stop_at_first(const ens_type_desc *t, void *arg)
{
    (void)t;
    ++*(int *)arg;
    return 7;
}

static void check_types_of(ens_system *s)
{
    found f = {0};
    assert_int_equal(ens_system_types(s, WAIT_MS, note_type, &f), 0);
    assert_int_equal(f.greeting, 1);
    assert_int_equal(f.bulk, N_BULK);
    assert_int_equal(f.internal, 0);
    assert_string_equal(f.fields, "count,text");
    int calls = 0;
    assert_int_equal(ens_system_types(s, WAIT_MS, stop_at_first, &calls), 7);
    assert_int_equal(calls, 1);
    assert_int_equal(ens_system_types(s, WAIT_MS, NULL, NULL), ENS_EINVAL);
}

/* The process base (the admin answers) and the inproc base (this
 * process's table) give the same list. */
static void test_api_lists_types_on_both_bases(void **state)
{
    (void)state;
    assert_int_equal(ens_system_types(NULL, WAIT_MS, note_type, NULL), ENS_EINVAL);
    check_types_of(sys);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_INPROC;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    ens_system *in = NULL;
    assert_int_equal(ens_system_start(&o, &in), 0);
    check_types_of(in);
    assert_int_equal(ens_system_stop(in, 5000), 0);
}

int main(void)
{
    if (ens_msgtype_register(&greeting_t) != 0 || ens_msgtype_register(&order_t) != 0 ||
        ens_msgtype_register(&unnamed_t) != 0)
        return 1;
    for (int i = 0; i < N_BULK; i++) {
        snprintf(bulk_names[i], sizeof(bulk_names[i]), "bulk.T%04d", i);
        bulk_t[i] = (ens_msgtype){bulk_names[i], "S(i)", sizeof(int32_t), 0, 0, "v"};
        if (ens_msgtype_register(&bulk_t[i]) != 0)
            return 1;
    }
    if (ens_actor_register(&greeter_def) != 0 || ens_actor_register(&mirror_def) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_lists_types_on_both_bases),
        cmocka_unit_test(test_types_lists_the_registered_types),
        cmocka_unit_test(test_types_json),
        cmocka_unit_test(test_shell_types_and_typed_ask),
        cmocka_unit_test(test_types_lists_thousands),
        cmocka_unit_test(test_ask_typed_round_trip),
        cmocka_unit_test(test_ask_typed_nested_arrays_bytes),
        cmocka_unit_test(test_tell_typed),
        cmocka_unit_test(test_bad_values_are_usage_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * tests/test_ens_json.c - the JSON codec of the `ens` tool
 * (tools/ens_json.c) on its own: a table of formats, each with a JSON
 * value that must come back the same after JSON -> C struct -> JSON; the
 * struct checked against the C layout the compiler gives; and type
 * descriptions a hostile system could send (bad formats, sizes, names),
 * each refused with a reason instead of a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ens_json.h"
#include "ensemble/msg.h"

typedef struct codec_case {
    const char *format;
    const char *fields;
    size_t size;
    const char *json;
} codec_case;

typedef struct scalars_v {
    char c;
    int16_t j;
    uint16_t v;
    int32_t i;
    uint32_t u;
    double f;
    int64_t I;
    uint64_t U;
    char *s;
} scalars_v;

typedef struct nested_v {
    char c;
    struct {
        uint64_t node;
        uint32_t id, gen;
    } at;
    char *s;
} nested_v;

typedef struct arrays_v {
    int32_t n;
    ens_array ints;
    ens_array pairs;
    ens_bytes raw;
} arrays_v;

static const codec_case cases[] = {
    {"S(is)", "count,text", 16, "{\"count\":-1,\"text\":\"h\xc3\xa9llo \\\"q\\\"\"}"},
    {"S(is)", "count,text", 16, "{\"count\":2147483647,\"text\":null}"},
    {"S(cjviufIUs)", "c,j,v,i,u,f,I,U,s", sizeof(scalars_v),
     "{\"c\":-128,\"j\":-32768,\"v\":65535,\"i\":-2147483648,\"u\":4294967295,\"f\":0.5,"
     "\"I\":-9223372036854775808,\"U\":\"18446744073709551615\",\"s\":\"\"}"},
    {"S(c$(Uuu)s)", "c,at,node,id,gen,s", sizeof(nested_v),
     "{\"c\":1,\"at\":{\"node\":9223372036854775807,\"id\":1,\"gen\":2},\"s\":\"x\"}"},
    {"S(i)A(i)A(S(iU))B", "n,ints,pairs,a,b,raw", sizeof(arrays_v),
     "{\"n\":3,\"ints\":[1,-2,3],\"pairs\":[{\"a\":1,\"b\":2}],\"raw\":\"0001feff\"}"},
    /* Unnamed: f0 n, f1 ints, f2 pairs, f3 and f4 its a and b, f5 raw. */
    {"S(i)A(i)A(S(iU))B", NULL, sizeof(arrays_v),
     "{\"f0\":0,\"f1\":[],\"f2\":[{\"f3\":1,\"f4\":2}],\"f5\":\"ab\"}"},
    {"B", "data", sizeof(ens_bytes), "{\"data\":\"\"}"},
    {"A(s)", "names", sizeof(ens_array), "{\"names\":[\"a\",null,\"c\"]}"},
};

static void test_round_trip_table(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const codec_case *cc = &cases[k];
        ens_json_type *t = NULL;
        char err[256] = "";
        if (ens_json_type_new(cc->format, cc->fields, cc->size, &t, err, sizeof(err)) != 0)
            fail_msg("case %zu (%s): %s", k, cc->format, err);
        assert_int_equal(ens_json_type_size(t), cc->size);
        const char *json = cc->json;
        void *v = NULL;
        if (ens_json_to_value(t, json, &v, err, sizeof(err)) != 0)
            fail_msg("case %zu (%s): %s", k, cc->format, err);
        char *back = ens_json_from_value(t, v);
        assert_non_null(back);
        if (strcmp(back, json) != 0)
            fail_msg("case %zu (%s):\n in:  %s\n out: %s", k, cc->format, json, back);
        free(back);
        ens_json_value_free(t, v);
        ens_json_type_free(t);
    }
}

/* The struct is the one the compiler lays out for the format. */
static void test_value_has_the_c_layout(void **state)
{
    (void)state;
    ens_json_type *t = NULL;
    char err[256];
    assert_int_equal(ens_json_type_new("S(cjviufIUs)", "c,j,v,i,u,f,I,U,s", sizeof(scalars_v), &t,
                                       err, sizeof(err)),
                     0);
    void *raw = NULL;
    assert_int_equal(ens_json_to_value(t,
                                       "{\"c\":\"A\",\"j\":-2,\"v\":3,\"i\":-4,\"u\":5,\"f\":6.25,"
                                       "\"I\":-7,\"U\":8,\"s\":\"nine\"}",
                                       &raw, err, sizeof(err)),
                     0);
    const scalars_v *v = raw;
    assert_int_equal(v->c, 'A');
    assert_int_equal(v->j, -2);
    assert_int_equal(v->v, 3);
    assert_int_equal(v->i, -4);
    assert_int_equal(v->u, 5);
    assert_true(v->f == 6.25);
    assert_int_equal(v->I, -7);
    assert_int_equal(v->U, 8);
    assert_string_equal(v->s, "nine");
    ens_json_value_free(t, raw);
    ens_json_type_free(t);

    assert_int_equal(ens_json_type_new("S(i)A(i)A(S(iU))B", "n,ints,pairs,a,b,raw",
                                       sizeof(arrays_v), &t, err, sizeof(err)),
                     0);
    assert_int_equal(ens_json_to_value(t,
                                       "{\"n\":1,\"ints\":[7,8],\"pairs\":[{\"a\":1,\"b\":2},"
                                       "{\"a\":3,\"b\":4}],\"raw\":\"0aFF\"}",
                                       &raw, err, sizeof(err)),
                     0);
    const arrays_v *a = raw;
    assert_int_equal(a->ints.count, 2);
    assert_int_equal(((int32_t *)a->ints.items)[1], 8);
    assert_int_equal(a->pairs.count, 2);
    struct pair {
        int32_t a;
        uint64_t b;
    } *p = a->pairs.items;
    assert_int_equal(p[1].a, 3);
    assert_int_equal(p[1].b, 4);
    assert_int_equal(a->raw.len, 2);
    assert_int_equal(((uint8_t *)a->raw.data)[1], 0xff);
    ens_json_value_free(t, raw);
    ens_json_type_free(t);
}

typedef struct hostile_case {
    const char *format;
    const char *fields;
    uint64_t size;
    const char *why; /* part of the reason */
} hostile_case;

static void test_hostile_descriptions_are_refused(void **state)
{
    (void)state;
    static char long_format[4096], deep[256];
    memset(long_format, 'i', sizeof(long_format) - 1);
    long_format[0] = 'S';
    long_format[1] = '(';
    size_t n = 0;
    deep[n++] = 'S';
    deep[n++] = '(';
    for (int d = 0; d < 40; d++) {
        deep[n++] = '$';
        deep[n++] = '(';
    }
    deep[n++] = 'i';
    for (int d = 0; d < 41; d++)
        deep[n++] = ')';
    const hostile_case bad[] = {
        {NULL, NULL, 4, "no format"},
        {"", NULL, 0, "no format"},
        {long_format, NULL, 4, "longer"},
        {deep, NULL, 4, "deeper"},
        {"S(i", NULL, 4, "format"},
        {"S(i#)", NULL, 4, "format"},
        {"S()", NULL, 0, "empty"},
        {"BS(i)", NULL, 24, "format"},
        {"BBBBBBBBB", NULL, 144, "more than 8 items"},
        {"A(x)", NULL, 16, "array element"},
        {"A(i", NULL, 16, "')'"},
        {"S(is)", NULL, 12, "size 12 does not match the format's 16"},
        {"S(is)", NULL, UINT64_MAX, "does not match"},
        {"S(is)", "count", 16, "fewer field names"},
        {"S(is)", "count,text,more", 16, "more field names"},
        {"S(is)", "count,count", 16, "given twice"},
        {"S(is)", "count,", 16, "empty field name"},
        {"S(is)", "count,te\"xt", 16, "bad field name"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        ens_json_type *t = (ens_json_type *)&t;
        char err[256] = "";
        if (ens_json_type_new(bad[k].format, bad[k].fields, bad[k].size, &t, err, sizeof(err)) !=
            -1)
            fail_msg("case %zu (%s) accepted", k, bad[k].format ? bad[k].format : "NULL");
        assert_null(t);
        if (strstr(err, bad[k].why) == NULL)
            fail_msg("case %zu: expected \"%s\" in \"%s\"", k, bad[k].why, err);
    }
}

/* A type as a system describes it: its name and id are checked too. */
static void test_hostile_names_and_ids_are_refused(void **state)
{
    (void)state;
    static char long_name[300];
    memset(long_name, 'n', sizeof(long_name) - 1);
    ens_json_type *t = NULL;
    char err[256];
    /* Its id as ens_msgtype_register gives it (FNV-1a of the name). */
    static ens_msgtype probe = {"jsontest.Probe", "S(i)", 4, 0, 0, "v"};
    assert_int_equal(ens_msgtype_register(&probe), 0);
    assert_int_equal(
        ens_json_type_from_desc(probe.name, probe.id, "S(i)", "v", 4, &t, err, sizeof(err)), 0);
    ens_json_type_free(t);
    static const struct {
        const char *name;
        int id_delta;
        const char *why;
    } bad[] = {
        {"jsontest.Probe", 1, "is not its name's"},
        {"", 0, "no type name"},
        {NULL, 0, "no type name"},
        {"has space", 0, "bad type name"},
        {"ctl\x01char", 0, "bad type name"},
        {long_name, 0, "bad type name"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        t = (ens_json_type *)&t;
        err[0] = '\0';
        uint32_t id = probe.id + (uint32_t)bad[k].id_delta;
        assert_int_equal(
            ens_json_type_from_desc(bad[k].name, id, "S(i)", "v", 4, &t, err, sizeof(err)), -1);
        assert_null(t);
        if (strstr(err, bad[k].why) == NULL)
            fail_msg("case %zu: expected \"%s\" in \"%s\"", k, bad[k].why, err);
    }
}

/* Values: what is wrong is named by its path. */
static void test_bad_values_name_the_field(void **state)
{
    (void)state;
    ens_json_type *t = NULL;
    char err[256];
    assert_int_equal(ens_json_type_new("S(c$(Uuu)s)", "c,at,node,id,gen,s", sizeof(nested_v), &t,
                                       err, sizeof(err)),
                     0);
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"c\":1,\"at\":{\"node\":1,\"id\":1,\"gen\":1}}", "field 's': missing"},
        {"{\"c\":128,\"at\":{\"node\":1,\"id\":1,\"gen\":1},\"s\":null}",
         "field 'c': out of range"},
        {"{\"c\":1,\"at\":{\"node\":-1,\"id\":1,\"gen\":1},\"s\":null}",
         "field 'at.node': out of range"},
        {"{\"c\":1,\"at\":{\"node\":\"1x\",\"id\":1,\"gen\":1},\"s\":null}", "field 'at.node'"},
        {"{\"c\":1,\"at\":{\"node\":\"18446744073709551616\",\"id\":1,\"gen\":1},\"s\":null}",
         "field 'at.node': out of range"},
        {"{\"c\":1,\"at\":{\"node\":1,\"id\":4294967296,\"gen\":1},\"s\":null}",
         "field 'at.id': out of range"},
        {"{\"c\":1,\"at\":{\"node\":1,\"id\":1,\"gen\":1,\"x\":0},\"s\":null}",
         "field 'at.x': the type has no such field"},
        {"{\"c\":1,\"at\":[],\"s\":null}", "field 'at': expected an object, got an array"},
        {"{\"c\":1,\"at\":{\"node\":1,\"id\":1,\"gen\":1},\"s\":\"a\\u0000b\"}",
         "field 's': a string with a NUL byte"},
        {"{\"c\":1,\"c\":2,\"at\":{\"node\":1,\"id\":1,\"gen\":1},\"s\":null}", "not JSON"},
        {"", "not JSON"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        void *v = (void *)&v;
        err[0] = '\0';
        assert_int_equal(ens_json_to_value(t, bad[k].json, &v, err, sizeof(err)), -1);
        assert_null(v);
        if (strstr(err, bad[k].why) == NULL)
            fail_msg("case %zu: expected \"%s\" in \"%s\"", k, bad[k].why, err);
    }
    ens_json_type_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_table),
        cmocka_unit_test(test_value_has_the_c_layout),
        cmocka_unit_test(test_hostile_descriptions_are_refused),
        cmocka_unit_test(test_hostile_names_and_ids_are_refused),
        cmocka_unit_test(test_bad_values_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

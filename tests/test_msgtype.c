/*
 * tests/test_msgtype.c - the type registry and the format grammar: ids,
 * C layouts, built-in and system types (those of core and those the
 * supervisor and behaviours place in the built-in section, all known
 * before any system starts and entered once, thread-safe, on first use),
 * every registration error.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/wire/arena.h"
#include "core/wire/msgtype.h"
#include "ensemble/circuit_breaker.h"
#include "ensemble/error.h"
#include "ensemble/status.h"
#include "ensemble/supervisor.h"
#include "ensemble/troupe.h"

static size_t layout_size(const char *fmt)
{
    ens_typeinfo info;
    memset(&info, 0, sizeof info);
    assert_int_equal(ens__format_layout(fmt, &info), 0);
    return info.size;
}

static int layout_rc(const char *fmt)
{
    ens_typeinfo info;
    memset(&info, 0, sizeof info);
    return ens__format_layout(fmt, &info);
}

/* The library's built-in types outside core, by name, with their objects. */
static const struct {
    const char *name;
    const ens_msgtype *type;
} library_types[] = {
    {"ens.Status", &ens_msg_status},
    {"ens.TroupeStats", &ens_msg_troupe_stats},
    {"ens.BreakerOpen", &ens_msg_breaker_open},
    {"ens.BreakerInfo", &ens_msg_breaker_info},
    {"ens.sup.Result", &ens_msg_sup_result},
    {"ens.sup.Children", &ens_msg_sup_children},
    {"ens.sup.Counts", &ens_msg_sup_counts},
};
#define N_LIBRARY_TYPES (sizeof library_types / sizeof library_types[0])

#define FIRST_USE_THREADS 8
static pthread_barrier_t first_use_gate;

/* One thread of the first use: wait for the others, then look every
 * library type up at once; returns how many were found. */
static void *first_use_lookups(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&first_use_gate);
    uintptr_t found = 0;
    for (size_t i = 0; i < N_LIBRARY_TYPES; i++) {
        const ens_msgtype *t = ens_msgtype_find(library_types[i].name);
        if (t == library_types[i].type && ens__typeinfo_by_id(t->id) != NULL)
            found++;
    }
    return (void *)found;
}

/* Runs first, before anything touched the type table: threads that all make
 * the table's first use at the same moment each find every type (the
 * table is filled once, under pthread_once, never seen half-filled). */
static void test_first_use_from_many_threads_finds_every_type(void **state)
{
    (void)state;
    pthread_t th[FIRST_USE_THREADS];
    assert_int_equal(pthread_barrier_init(&first_use_gate, NULL, FIRST_USE_THREADS), 0);
    for (int i = 0; i < FIRST_USE_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, first_use_lookups, NULL), 0);
    for (int i = 0; i < FIRST_USE_THREADS; i++) {
        void *found = NULL;
        assert_int_equal(pthread_join(th[i], &found), 0);
        assert_int_equal((uintptr_t)found, N_LIBRARY_TYPES);
    }
    pthread_barrier_destroy(&first_use_gate);
}

static int impostor_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    (void)m;
    return 0;
}

/* Documented use (ensemble/msg.h): without any registration call and
 * before any system starts, each library type is found by name and by id,
 * its id is its name's hash, and ens_msgtype_register of the object itself
 * is the idempotent 0 while another object of that name is ENS_EEXIST.
 * The breaker's definition is found by name too. */
static void test_library_types_are_known_before_any_system(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_LIBRARY_TYPES; i++) {
        const ens_msgtype *t = library_types[i].type;
        assert_ptr_equal(ens_msgtype_find(library_types[i].name), t);
        assert_int_equal(t->id, ens__type_hash(library_types[i].name));
        const ens_typeinfo *info = ens__typeinfo_by_id(t->id);
        assert_non_null(info);
        assert_ptr_equal(info->type, t);
        assert_int_equal(ens_msgtype_register((ens_msgtype *)t), 0);
        ens_msgtype clash = {library_types[i].name, "S(i)", sizeof(int32_t), 0, 0, NULL};
        assert_int_equal(ens_msgtype_register(&clash), ENS_EEXIST);
    }
    assert_ptr_equal(ens_actor_find("ens.CircuitBreaker"), &ens_breaker_def);
    static const ens_actor_def impostor = {
        "ens.CircuitBreaker", 0, NULL, impostor_receive, NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(ens_actor_register(&impostor), ENS_EEXIST);
}

static void test_type_hash_is_fnv1a_32(void **state)
{
    (void)state;
    assert_int_equal(ens__type_hash(""), 0x811C9DC5u);
    assert_int_equal(ens__type_hash("a"), 0xE40C292Cu);
    assert_int_equal(ens__type_hash("foobar"), 0xBF9CF968u);
}

static void test_layout_follows_c_rules(void **state)
{
    (void)state;
    struct greeting {
        int32_t count;
        char *text;
    };
    struct mixed {
        char c;
        int16_t j;
        double f;
        uint32_t u;
        ens_addr who;
        char d;
    };
    struct with_arrays {
        char c;
        ens_array a;
        ens_bytes b;
        ens_array z;
    };
    struct arr_only {
        ens_array a;
    };
    assert_int_equal(layout_size("S(is)"), sizeof(struct greeting));
    assert_int_equal(layout_size("S(cjfu" ENS_ADDR_FMT "c)"), sizeof(struct mixed));
    assert_int_equal(layout_size("S(c)A(i)BA(S(is))"), sizeof(struct with_arrays));
    assert_int_equal(layout_size("A(c)"), sizeof(struct arr_only));
    assert_int_equal(layout_size("B"), sizeof(ens_bytes));

    ens_typeinfo info;
    memset(&info, 0, sizeof info);
    assert_int_equal(ens__format_layout("S(c)A(i)BA(S(is))", &info), 0);
    assert_int_equal(info.n_items, 4);
    assert_int_equal(info.items[0].kind, ENS_ITEM_STRUCT);
    assert_int_equal(info.items[1].kind, ENS_ITEM_ARRAY);
    assert_int_equal(info.items[1].offset, offsetof(struct with_arrays, a));
    assert_int_equal(info.items[1].elem_size, 4);
    assert_int_equal(info.items[2].kind, ENS_ITEM_BYTES);
    assert_int_equal(info.items[2].offset, offsetof(struct with_arrays, b));
    assert_int_equal(info.items[3].offset, offsetof(struct with_arrays, z));
    assert_int_equal(info.items[3].elem_size, sizeof(struct greeting));
}

static void test_formats_outside_the_grammar_are_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",        "i",        "S(",     "S()",       "S(x)",         "A(A(i))", "S(i#)",
        "i#",      "A(i)S(i)", "BS(i)",  "S(i)S(i)",  "A()",          "A(i",     "A(B)",
        "A($(i))", "S($())",   "S($(i)", "S(i))",     "S(iA(i))",     "S(iB)",   "A(S(i)",
        "Q",       "S(i) ",    "A(ii)",  "BBBBBBBBB", "S(i)BBBBBBBB",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        if (layout_rc(bad[k]) != ENS_EINVAL)
            fail_msg("format \"%s\" was accepted", bad[k]);
    }
    assert_int_equal(layout_rc(NULL), ENS_EINVAL);
    /* exactly eight items is the limit */
    assert_int_equal(layout_rc("S(i)BBBBBBB"), 0);
    assert_int_equal(layout_rc("BBBBBBBB"), 0);
}

static void test_nested_struct_tpl_cannot_place_is_rejected(void **state)
{
    (void)state;
    /* C puts the inner struct at 8 (its alignment); tpl would put c at 1 */
    assert_int_equal(layout_rc("S(c$(cI))"), ENS_EINVAL);
    /* trailing padding inside the inner struct: C puts the last c at 16 */
    assert_int_equal(layout_rc("S($(Ic)c)"), ENS_EINVAL);
    /* these agree */
    assert_int_equal(layout_rc("S(c$(Ic))"), 0);
    assert_int_equal(layout_rc("S(i" ENS_ADDR_FMT "s)"), 0);
    assert_int_equal(layout_rc("S($($(i)i)I)"), 0);
}

static void test_builtin_and_system_types_are_registered(void **state)
{
    (void)state;
    const ens_msgtype *all[] = {&ens_msg_string,       &ens_msg_int64,        &ens_msg_bytes,
                                &ens_msg_exit_request, &ens_msg_child_exited, &ens_msg_wakeup,
                                &ens_msg_poison,       &ens_msg_dead_envelope};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        const ens_typeinfo *info = ens__typeinfo_by_id(all[k]->id);
        assert_non_null(info);
        assert_ptr_equal(info->type, all[k]);
        assert_ptr_equal(ens__typeinfo_of(all[k]), info);
        assert_ptr_equal(ens_msgtype_find(all[k]->name), all[k]);
        assert_int_equal(info->size, all[k]->size);
        /* registering a built-in pointer again is a no-op */
        assert_int_equal(ens_msgtype_register((ens_msgtype *)(uintptr_t)all[k]), 0);
    }
    assert_int_equal(ens_msg_string.id, ens__type_hash("ens.String"));
    assert_int_equal(ens_msg_int64.id, ens__type_hash("ens.Int64"));
    assert_int_equal(ens_msg_bytes.id, ens__type_hash("ens.Bytes"));
    assert_true(ens_msg_exit_request.id >= ENS_TYPE_ID_SYSTEM_MIN);
    assert_true(ens_msg_child_exited.id >= ENS_TYPE_ID_SYSTEM_MIN);
    assert_true(ens_msg_wakeup.id >= ENS_TYPE_ID_SYSTEM_MIN);
    assert_true(ens_msg_poison.id >= ENS_TYPE_ID_SYSTEM_MIN);
    assert_true(ens_msg_dead_envelope.id >= ENS_TYPE_ID_SYSTEM_MIN);
    assert_int_equal(ens_msg_poison.size, sizeof(ens_poison_v));
}

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;

static void test_register_sets_id_and_is_idempotent(void **state)
{
    (void)state;
    static ens_msgtype greeting = {"test.Greeting", "S(is)", sizeof(greeting_v), 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&greeting), 0);
    assert_int_equal(greeting.id, ens__type_hash("test.Greeting"));
    assert_int_equal(ens_msgtype_register(&greeting), 0);
    assert_ptr_equal(ens_msgtype_find("test.Greeting"), &greeting);
    const ens_typeinfo *info = ens__typeinfo_by_id(greeting.id);
    assert_non_null(info);
    assert_string_equal(info->tpl_format, "S(is)");
    assert_int_equal(info->max_items, ENS_MAX_ITEMS_DEFAULT);
    assert_null(ens_msgtype_find("test.NoSuchType"));
    assert_null(ens_msgtype_find(NULL));
}

/* Field names: one per named element (msg.h); a wrong count, an empty or
 * bad name is ENS_EINVAL and leaves the type unregistered. */
static void test_register_checks_field_names(void **state)
{
    (void)state;
    static ens_msgtype named = {"test.FieldsNamed", "S(is)", sizeof(greeting_v), 0, 0,
                                "count,text"};
    static ens_msgtype nested = {"test.FieldsNested",
                                 "S(i" ENS_ADDR_FMT ")A(S(iU))B",
                                 56,
                                 0,
                                 0,
                                 "n,from,node,id,gen,items,a,b,raw"};
    static ens_msgtype scalar_array = {"test.FieldsScalarArray", "A(i)", 16, 0, 0, "values"};
    static ens_msgtype too_few = {"test.FieldsTooFew", "S(is)", sizeof(greeting_v), 0, 0, "count"};
    static ens_msgtype too_many = {"test.FieldsTooMany", "S(is)", sizeof(greeting_v), 0, 0,
                                   "count,text,more"};
    static ens_msgtype empty = {"test.FieldsEmpty", "S(is)", sizeof(greeting_v), 0, 0, "count,"};
    static ens_msgtype bad_char = {"test.FieldsBadChar", "S(is)", sizeof(greeting_v), 0, 0,
                                   "count,te xt"};
    static ens_msgtype array_elem = {"test.FieldsArrayElem", "A(i)", 16, 0, 0, "values,v"};
    assert_int_equal(ens_msgtype_register(&named), 0);
    assert_string_equal(ens_msgtype_find("test.FieldsNamed")->fields, "count,text");
    assert_int_equal(ens_msgtype_register(&nested), 0);
    assert_int_equal(ens_msgtype_register(&scalar_array), 0);
    assert_int_equal(ens_msgtype_register(&too_few), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&too_many), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&empty), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&bad_char), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&array_elem), ENS_EINVAL);
    assert_null(ens_msgtype_find("test.FieldsTooFew"));
    assert_string_equal(ens_msg_string.fields, "text");
}

static void test_register_rejects_bad_arguments(void **state)
{
    (void)state;
    static ens_msgtype no_name = {NULL, "S(i)", 4, 0, 0, NULL};
    static ens_msgtype empty_name = {"", "S(i)", 4, 0, 0, NULL};
    static ens_msgtype space_name = {"has space", "S(i)", 4, 0, 0, NULL};
    static ens_msgtype no_format = {"test.NoFormat", NULL, 4, 0, 0, NULL};
    static ens_msgtype bad_format = {"test.BadFormat", "S(i#)", 4, 0, 0, NULL};
    static ens_msgtype s_not_first = {"test.SNotFirst", "BS(i)", 24, 0, 0, NULL};
    static ens_msgtype too_many = {"test.TooMany", "BBBBBBBBB", 9 * 16, 0, 0, NULL};
    static ens_msgtype size_mismatch = {"test.SizeMismatch", "S(is)", 12, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(NULL), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&no_name), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&empty_name), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&space_name), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&no_format), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&bad_format), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&s_not_first), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&too_many), ENS_EINVAL);
    assert_int_equal(ens_msgtype_register(&size_mismatch), ENS_EINVAL);
    assert_int_equal(size_mismatch.id, 0);
    assert_null(ens_msgtype_find("test.SizeMismatch"));
    char long_name[300];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ens_msgtype long_t = {long_name, "S(i)", 4, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&long_t), ENS_EINVAL);
}

static void test_register_rejects_duplicate_name(void **state)
{
    (void)state;
    static ens_msgtype a = {"test.Dup", "S(i)", 4, 0, 0, NULL};
    static ens_msgtype b = {"test.Dup", "S(i)", 4, 0, 0, NULL};
    static ens_msgtype builtin_clash = {"ens.String", "S(s)", sizeof(char *), 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&a), 0);
    assert_int_equal(ens_msgtype_register(&b), ENS_EEXIST);
    assert_int_equal(b.id, 0);
    assert_int_equal(ens_msgtype_register(&builtin_clash), ENS_EEXIST);
    assert_null(ens__typeinfo_of(&b));
}

/* Find a name "test.R<n>" whose hash lands in the reserved range, and two
 * different names with the same hash: a few million tries suffice. */
static int find_reserved_name(char *out, size_t len)
{
    for (unsigned long n = 0; n < 50000000ul; n++) {
        snprintf(out, len, "test.R%lu", n);
        if (ens__type_hash(out) >= ENS_TYPE_ID_SYSTEM_MIN)
            return 0;
    }
    return -1;
}

static void test_register_rejects_reserved_range(void **state)
{
    (void)state;
    static char name[32];
    assert_int_equal(find_reserved_name(name, sizeof name), 0);
    static ens_msgtype t = {name, "S(i)", 4, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&t), ENS_EEXIST);
    assert_int_equal(t.id, 0);
}

static void test_register_rejects_id_collision(void **state)
{
    (void)state;
    /* FNV-1a: "costarring" and "liquid" are a known colliding pair */
    assert_int_equal(ens__type_hash("costarring"), ens__type_hash("liquid"));
    static ens_msgtype a = {"costarring", "S(i)", 4, 0, 0, NULL};
    static ens_msgtype b = {"liquid", "S(i)", 4, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&a), 0);
    assert_int_equal(ens_msgtype_register(&b), ENS_EEXIST);
    assert_ptr_equal(ens_msgtype_find("costarring"), &a);
    assert_null(ens_msgtype_find("liquid"));
}

static void test_many_registrations_grow_the_table(void **state)
{
    (void)state;
    static char names[300][24];
    static ens_msgtype types[300];
    for (int k = 0; k < 300; k++) {
        snprintf(names[k], sizeof names[k], "test.Many%d", k);
        types[k] = (ens_msgtype){names[k], "S(iU)", 16, 0, 0, NULL};
        assert_int_equal(ens_msgtype_register(&types[k]), 0);
    }
    for (int k = 0; k < 300; k++) {
        assert_ptr_equal(ens_msgtype_find(names[k]), &types[k]);
        assert_ptr_equal(ens__typeinfo_by_id(types[k].id)->type, &types[k]);
    }
    assert_ptr_equal(ens_msgtype_find("ens.WakeUp"), &ens_msg_wakeup);
}

static void test_register_out_of_memory_is_clean(void **state)
{
    (void)state;
    static char names[40][24];
    static ens_msgtype types[40];
    int failures = 0;
    for (int k = 0; k < 40; k++) {
        snprintf(names[k], sizeof names[k], "test.Oom%d", k);
        types[k] = (ens_msgtype){names[k], "S(i)", 4, 0, 0, NULL};
        for (long n = 0;; n++) {
            ens__alloc_fail_after(n);
            int rc = ens_msgtype_register(&types[k]);
            ens__alloc_fail_after(-1);
            if (rc == 0)
                break;
            assert_int_equal(rc, ENS_ENOMEM);
            assert_null(ens_msgtype_find(names[k]));
            failures++;
        }
    }
    assert_true(failures >= 80);
}

static void test_max_items_default_and_custom(void **state)
{
    (void)state;
    static ens_msgtype t = {"test.Limited", "A(i)", sizeof(ens_array), 3, 0, NULL};
    assert_int_equal(ens_msgtype_register(&t), 0);
    assert_int_equal(ens__typeinfo_of(&t)->max_items, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_use_from_many_threads_finds_every_type),
        cmocka_unit_test(test_register_checks_field_names),
        cmocka_unit_test(test_library_types_are_known_before_any_system),
        cmocka_unit_test(test_type_hash_is_fnv1a_32),
        cmocka_unit_test(test_layout_follows_c_rules),
        cmocka_unit_test(test_formats_outside_the_grammar_are_rejected),
        cmocka_unit_test(test_nested_struct_tpl_cannot_place_is_rejected),
        cmocka_unit_test(test_builtin_and_system_types_are_registered),
        cmocka_unit_test(test_register_sets_id_and_is_idempotent),
        cmocka_unit_test(test_register_rejects_bad_arguments),
        cmocka_unit_test(test_register_rejects_duplicate_name),
        cmocka_unit_test(test_register_rejects_reserved_range),
        cmocka_unit_test(test_register_rejects_id_collision),
        cmocka_unit_test(test_many_registrations_grow_the_table),
        cmocka_unit_test(test_register_out_of_memory_is_clean),
        cmocka_unit_test(test_max_items_default_and_custom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

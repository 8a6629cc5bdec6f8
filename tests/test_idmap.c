/*
 * tests/test_idmap.c - the id map (core/process/admin/idmap.h) against a plain array as
 * the model, through random puts and deletes that collide and wrap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/process/admin/idmap.h"
#include "ensemble/error.h"

#define KEYS 5000

static void test_refuses_key_zero_and_null(void **state)
{
    (void)state;
    ens_idmap m = {0};
    int x;
    assert_int_equal(ens__idmap_put(&m, 0, &x), ENS_EINVAL);
    assert_int_equal(ens__idmap_put(&m, 1, NULL), ENS_EINVAL);
    assert_null(ens__idmap_get(&m, 1));
    assert_null(ens__idmap_del(&m, 1));
    ens__idmap_free(&m);
}

static void test_matches_a_model(void **state)
{
    (void)state;
    static int vals[KEYS];
    static void *model[KEYS];
    ens_idmap m = {0};
    unsigned seed = 7;
    size_t live = 0;
    for (int round = 0; round < 200000; round++) {
        seed = seed * 1103515245u + 12345u;
        /* Dense keys (as ids and pids are) and some far apart. */
        size_t k = (seed >> 8) % KEYS;
        uint64_t key = (k % 7 == 0) ? ((uint64_t)k << 40) + 1 : (uint64_t)k + 1;
        if ((seed >> 4) % 3 != 0) {
            assert_int_equal(ens__idmap_put(&m, key, &vals[k]), 0);
            live += model[k] == NULL;
            model[k] = &vals[k];
        } else {
            assert_ptr_equal(ens__idmap_del(&m, key), model[k]);
            live -= model[k] != NULL;
            model[k] = NULL;
        }
        assert_int_equal(m.n, live);
        if (round % 997 == 0) {
            for (size_t j = 0; j < KEYS; j++) {
                uint64_t kj = (j % 7 == 0) ? ((uint64_t)j << 40) + 1 : (uint64_t)j + 1;
                assert_ptr_equal(ens__idmap_get(&m, kj), model[j]);
            }
        }
    }
    ens__idmap_free(&m);
    assert_int_equal(m.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_key_zero_and_null),
        cmocka_unit_test(test_matches_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

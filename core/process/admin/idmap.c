/*
 * core/process/admin/idmap.c - a map from nonzero 64-bit keys to pointers (see idmap.h).
 */
#include <stdlib.h>

#include "core/process/admin/idmap.h"

#include "core/wire/arena.h"
#include "ensemble/error.h"

static size_t slot_of(uint64_t key, size_t cap)
{
    /* Fibonacci hashing: ids and pids are dense, the product spreads them. */
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static int grow(ens_idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = ens__calloc(cap, sizeof(*keys));
    void **vals = ens__calloc(cap, sizeof(*vals));
    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        return ENS_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == 0)
            continue;
        size_t j = slot_of(m->keys[i], cap);
        while (keys[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int ens__idmap_put(ens_idmap *m, uint64_t key, void *val)
{
    if (key == 0 || val == NULL)
        return ENS_EINVAL;
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return ENS_ENOMEM;
    size_t i = slot_of(key, m->cap);
    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == 0)
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

void *ens__idmap_get(const ens_idmap *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    for (size_t i = slot_of(key, m->cap); m->keys[i] != 0; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return m->vals[i];
    }
    return NULL;
}

void *ens__idmap_del(ens_idmap *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    size_t mask = m->cap - 1, i = slot_of(key, m->cap);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return NULL;
        i = (i + 1) & mask;
    }
    void *val = m->vals[i];
    /* Backward shift: move later entries of the run into the hole when
     * their home slot does not lie (cyclically) between the hole and them. */
    for (size_t j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = slot_of(m->keys[j], m->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->n--;
    return val;
}

void ens__idmap_free(ens_idmap *m)
{
    free(m->keys);
    free(m->vals);
    *m = (ens_idmap){0};
}

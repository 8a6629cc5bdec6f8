/*
 * core/runtime/names.c - the table of global names (core/runtime/names.h): a sorted array of
 * (name, address) with a binary search by name. Adding or dropping a name
 * moves the tail; by-address queries walk the array. Both are fine for the
 * hundreds of names a system has; a hash would be the next step.
 */
#include <stdlib.h>
#include <string.h>

#include "core/runtime/names.h"
#include "core/runtime/runtime.h"
#include "ensemble/error.h"

/* Index of name, or of where it would go (*found false). */
static size_t find(const ens_names *t, const char *name, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

ens_addr ens__names_get(const ens_names *t, const char *name)
{
    bool found = false;
    size_t i = name != NULL ? find(t, name, &found) : 0;
    return found ? t->v[i].addr : ENS_ADDR_NONE;
}

const char *ens__names_of(const ens_names *t, ens_addr addr)
{
    if (ens_addr_is_none(addr))
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        if (ens_addr_equal(t->v[i].addr, addr))
            return t->v[i].name;
    }
    return NULL;
}

int ens__names_set(ens_names *t, const char *name, ens_addr addr)
{
    bool found = false;
    size_t i = find(t, name, &found);
    if (found)
        return ens_addr_equal(t->v[i].addr, addr) ? 0 : ENS_EEXIST;
    if (ens__names_of(t, addr) != NULL)
        return ENS_EEXIST;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        ens_name_entry *v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL)
            return ENS_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return ENS_ENOMEM;
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(t->v[0]));
    t->v[i] = (ens_name_entry){copy, addr};
    t->n++;
    return 0;
}

int ens__names_drop_addr(ens_names *t, ens_addr addr)
{
    if (ens_addr_is_none(addr))
        return ENS_ENOENT;
    for (size_t i = 0; i < t->n; i++) {
        if (ens_addr_equal(t->v[i].addr, addr)) {
            free(t->v[i].name);
            memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
            t->n--;
            return 0;
        }
    }
    return ENS_ENOENT;
}

void ens__names_clear(ens_names *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].name);
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

int ens__names_apply(ens_names *t, int op, const char *name, ens_addr from, ens_addr *out)
{
    *out = ENS_ADDR_NONE;
    switch (op) {
    case ENS_NAMES_LOOKUP:
        *out = ens__names_get(t, name);
        return ens_addr_is_none(*out) ? ENS_ENOENT : 0;
    case ENS_NAMES_REGISTER:
        *out = from;
        return ens__names_set(t, name, from);
    case ENS_NAMES_UNREGISTER:
        return ens__names_drop_addr(t, from);
    default:
        return ENS_EINVAL;
    }
}

/*
 * core/process/admin/idmap.h - a map from nonzero 64-bit keys (actor ids, pids) to
 * pointers: open addressing, linear probing, deletion by backward shift
 * (no tombstones), grown at 3/4 full. O(1) expected per operation; the
 * admin finds its records by address and by pid with it. Internal.
 */
#ifndef ENS_CORE_IDMAP_H
#define ENS_CORE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ens_idmap {
    uint64_t *keys; /* 0: empty */
    void **vals;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} ens_idmap;

/* Set key (nonzero) to val (non-NULL), replacing any value it had.
 * Returns 0, ENS_EINVAL (key 0 or val NULL) or ENS_ENOMEM (the map is
 * unchanged). */
int ens__idmap_put(ens_idmap *m, uint64_t key, void *val);

/* The value of key, or NULL. */
void *ens__idmap_get(const ens_idmap *m, uint64_t key);

/* Remove key if present; returns its value or NULL. */
void *ens__idmap_del(ens_idmap *m, uint64_t key);

/* Free the map's memory (not the values); the map is empty again. */
void ens__idmap_free(ens_idmap *m);

#endif

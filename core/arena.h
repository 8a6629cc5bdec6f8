/*
 * core/arena.h - a bump allocator that owns everything decoded for one
 * message (tpl's nodes, strings, arrays), so a message is freed in one call
 * and a decode abandoned by longjmp leaks nothing. Internal.
 */
#ifndef ENS_CORE_ARENA_H
#define ENS_CORE_ARENA_H

#include <stddef.h>

typedef struct ens_arena ens_arena;

/* A new empty arena, or NULL when out of memory. */
ens_arena *ens__arena_new(void);

/* size bytes aligned to 16 from the arena, or NULL when out of memory (or
 * when the fault-injection countdown says so, see ens__alloc_fail_after). */
void *ens__arena_alloc(ens_arena *a, size_t size);

/* Grow an arena block: a new block with the first min(old, size) bytes of p
 * (p may be NULL). NULL when out of memory (p stays valid). */
void *ens__arena_realloc(ens_arena *a, void *p, size_t size);

/* Free the arena and every block in it. NULL-safe. */
void ens__arena_free(ens_arena *a);

/* Bytes allocated from the system by this arena (for tests). */
size_t ens__arena_footprint(const ens_arena *a);

#endif

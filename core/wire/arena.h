/*
 * core/wire/arena.h - a bump allocator that owns everything decoded for one
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

/* malloc(size) that honours the fault-injection countdown below: for the
 * buffers the codec and messages own outside an arena (frames, ens_msg),
 * and for the allocations of the admin, the actor process and the outside
 * (core/proc_*.c), so a test can make any of them fail. Release with
 * free(). NULL when out of memory. */
void *ens__malloc(size_t size);

/* calloc() and realloc() under the same countdown (realloc: NULL leaves p
 * valid, as realloc does). */
void *ens__calloc(size_t n, size_t size);
void *ens__realloc(void *p, size_t size);

/* Test hook for allocation-failure injection. After ens__alloc_fail_after(n)
 * with n >= 0, the n-th next allocation (0-based) made by ens__arena_new,
 * ens__arena_alloc, ens__arena_realloc, ens__malloc, ens__calloc or
 * ens__realloc fails, and so does every one after it, until
 * ens__alloc_fail_after(-1) (the default) turns injection off.
 * ens__alloc_fail_once(n) makes only that n-th allocation fail, then turns
 * injection off by itself: for long-lived processes that must go on
 * working. Process-wide (a forked child inherits the countdown), not
 * thread-safe: for tests only. */
void ens__alloc_fail_after(long n);
void ens__alloc_fail_once(long n);

/* Failures injected in this process so far (a test asks whether its
 * countdown reached an allocation). */
unsigned long ens__alloc_injected(void);

#endif

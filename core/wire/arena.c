/*
 * core/wire/arena.c - the per-message bump allocator (see arena.h).
 *
 * An arena is a list of chunks obtained from malloc. Small blocks are carved
 * from the current chunk; a block too large for a chunk gets a chunk of its
 * own, linked behind the current one so carving goes on. Every block carries
 * a 16-byte prefix with its size, so realloc can copy the old contents (and
 * grow the newest block in place). Nothing is freed before the whole arena:
 * tpl's free hook is a no-op for arena blocks. The fault-injection countdown
 * for tests lives here too, so every allocation the codec makes can fail on
 * demand.
 */
#include "core/wire/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16u
#define ARENA_CHUNK_MIN                                                                            \
    256u                       /* first chunk's usable bytes: small, so a small                    \
                                  message costs a small malloc (a 4 KiB one per                    \
                                  message kept glibc in malloc_consolidate) */
#define ARENA_CHUNK_MAX 65536u /* chunks grow up to this size */
#define ARENA_BLOCK_HDR 16u    /* size prefix of every block */
#define ARENA_BIG_BLOCK 16384u /* blocks above this get a chunk of their own */

typedef struct chunk {
    struct chunk *next;
    size_t cap;  /* usable bytes in data[] */
    size_t used; /* bytes carved so far */
    alignas(ARENA_ALIGN) unsigned char data[];
} chunk;

struct ens_arena {
    chunk *head;      /* current chunk for carving; NULL until first alloc */
    size_t footprint; /* bytes obtained from malloc, headers included */
    void *last;       /* the newest carved block in head (can grow in place) */
};

static long fail_countdown = -1;
static int fail_once;            /* the countdown's failure is a single one */
static unsigned long n_injected; /* failures injected so far */

void ens__alloc_fail_after(long n)
{
    fail_countdown = n < 0 ? -1 : n;
    fail_once = 0;
}

void ens__alloc_fail_once(long n)
{
    fail_countdown = n < 0 ? -1 : n;
    fail_once = 1;
}

unsigned long ens__alloc_injected(void)
{
    return n_injected;
}

/* True when the fault-injection countdown says this allocation fails. */
static int injected_failure(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0) {
        n_injected++;
        if (fail_once)
            fail_countdown = -1;
        return 1;
    }
    fail_countdown--;
    return 0;
}

void *ens__malloc(size_t size)
{
    if (injected_failure())
        return NULL;
    return malloc(size ? size : 1);
}

void *ens__calloc(size_t n, size_t size)
{
    if (injected_failure())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *ens__realloc(void *p, size_t size)
{
    if (injected_failure())
        return NULL;
    return realloc(p, size ? size : 1);
}

ens_arena *ens__arena_new(void)
{
    if (injected_failure())
        return NULL;
    ens_arena *a = calloc(1, sizeof *a);
    if (a)
        a->footprint = sizeof *a;
    return a;
}

static size_t round_up(size_t n)
{
    return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static chunk *chunk_new(ens_arena *a, size_t cap)
{
    chunk *c = malloc(sizeof(chunk) + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    a->footprint += sizeof(chunk) + cap;
    return c;
}

/* The size recorded in the prefix of block p. */
static size_t block_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - ARENA_BLOCK_HDR, sizeof n);
    return n;
}

static void *carve(chunk *c, size_t size, size_t need)
{
    unsigned char *b = c->data + c->used;
    memcpy(b, &size, sizeof size);
    c->used += need;
    return b + ARENA_BLOCK_HDR;
}

static void *arena_alloc_raw(ens_arena *a, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t need = ARENA_BLOCK_HDR + round_up(size ? size : 1);
    if (a->head && a->head->cap - a->head->used >= need) {
        a->last = carve(a->head, size, need);
        return a->last;
    }
    if (need > ARENA_BIG_BLOCK) {
        /* a chunk of its own, behind the current one */
        chunk *c = chunk_new(a, need);
        if (!c)
            return NULL;
        if (a->head) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            a->head = c;
        }
        void *p = carve(c, size, need);
        if (c == a->head)
            a->last = p;
        return p;
    }
    size_t cap = ARENA_CHUNK_MIN;
    if (a->head && a->head->cap < ARENA_CHUNK_MAX)
        cap = a->head->cap * 2;
    else if (a->head)
        cap = ARENA_CHUNK_MAX;
    if (cap < need)
        cap = need;
    chunk *c = chunk_new(a, cap);
    if (!c)
        return NULL;
    c->next = a->head;
    a->head = c;
    a->last = carve(c, size, need);
    return a->last;
}

void *ens__arena_alloc(ens_arena *a, size_t size)
{
    if (!a || injected_failure())
        return NULL;
    return arena_alloc_raw(a, size);
}

void *ens__arena_realloc(ens_arena *a, void *p, size_t size)
{
    if (!a || injected_failure())
        return NULL;
    if (!p)
        return arena_alloc_raw(a, size);
    size_t old = block_size(p);
    if (p == a->last && size <= SIZE_MAX / 2) {
        /* the newest block of the current chunk: grow or shrink in place */
        chunk *c = a->head;
        size_t start = (size_t)((unsigned char *)p - ARENA_BLOCK_HDR - c->data);
        size_t need = ARENA_BLOCK_HDR + round_up(size ? size : 1);
        if (c->cap - start >= need) {
            c->used = start + need;
            memcpy((unsigned char *)p - ARENA_BLOCK_HDR, &size, sizeof size);
            return p;
        }
    }
    void *q = arena_alloc_raw(a, size);
    if (!q)
        return NULL;
    memcpy(q, p, old < size ? old : size);
    return q;
}

void ens__arena_free(ens_arena *a)
{
    if (!a)
        return;
    chunk *c = a->head;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

size_t ens__arena_footprint(const ens_arena *a)
{
    return a ? a->footprint : 0;
}

/*
 * supervisor/sup_index.c - the running children by address, so that a
 * child's notice (exited, restarted, started) finds its record in constant
 * time in a supervisor of thousands.
 *
 * An open-addressing table with linear probing, kept at most half full. Its
 * room grows with the children (ens__sup_add), never when a child starts,
 * so marking a child running cannot fail for want of memory.
 */
#include <stdlib.h>

#include "ensemble/error.h"
#include "supervisor/sup_internal.h"

static size_t slot_of(ens_addr a, size_t cap)
{
    uint64_t h = a.id * 0x9E3779B97F4A7C15ull ^ (uint64_t)a.node * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static void put(sup_child **slots, size_t cap, sup_child *k)
{
    size_t i = slot_of(k->addr, cap);
    while (slots[i] != NULL)
        i = (i + 1) & (cap - 1);
    slots[i] = k;
}

int ens__sup_index_reserve(sup_state *st, size_t n)
{
    if (2 * n <= st->cap_slots)
        return 0;
    size_t cap = st->cap_slots ? st->cap_slots : 16;
    while (2 * n > cap)
        cap *= 2;
    sup_child **slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return ENS_ENOMEM;
    for (size_t i = 0; i < st->cap_slots; i++)
        if (st->slots[i] != NULL)
            put(slots, cap, st->slots[i]);
    free(st->slots);
    st->slots = slots;
    st->cap_slots = cap;
    return 0;
}

void ens__sup_index_put(sup_state *st, sup_child *k)
{
    if (st->cap_slots == 0 || ens_addr_is_none(k->addr))
        return; /* no room was reserved: ens__sup_add failed, k is not kept */
    put(st->slots, st->cap_slots, k);
}

void ens__sup_index_del(sup_state *st, const sup_child *k)
{
    if (st->cap_slots == 0 || ens_addr_is_none(k->addr))
        return;
    const size_t mask = st->cap_slots - 1;
    size_t i = slot_of(k->addr, st->cap_slots);
    while (st->slots[i] != NULL && st->slots[i] != k)
        i = (i + 1) & mask;
    if (st->slots[i] == NULL)
        return;
    /* Backward-shift deletion: move up every later entry of the run that
     * would no longer be found past the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; st->slots[j] != NULL; j = (j + 1) & mask) {
        size_t home = slot_of(st->slots[j]->addr, st->cap_slots);
        /* j's entry may fill the hole unless its home lies in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            st->slots[hole] = st->slots[j];
            hole = j;
        }
    }
    st->slots[hole] = NULL;
}

sup_child *ens__sup_find_addr(const sup_state *st, ens_addr a)
{
    if (st->cap_slots == 0 || ens_addr_is_none(a))
        return NULL;
    for (size_t i = slot_of(a, st->cap_slots); st->slots[i] != NULL;
         i = (i + 1) & (st->cap_slots - 1))
        if (ens_addr_equal(st->slots[i]->addr, a))
            return st->slots[i];
    return NULL;
}

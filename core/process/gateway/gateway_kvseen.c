/*
 * core/process/gateway/gateway_kvseen.c - the newest sequence passed on
 * per key (gateway_kvseen.h): an open-addressing hash table of keys.
 */
#include <stdlib.h>
#include <string.h>

#include "core/process/gateway/gateway_kvseen.h"
#include "ensemble/error.h"

typedef struct slot {
    char *key; /* NULL: empty */
    uint64_t seq;
} slot;

struct ens_gw_kv_seen {
    slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
    uint64_t max;
};

static uint64_t hash_of(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

static slot *find(slot *slots, size_t cap, const char *key)
{
    size_t i = (size_t)hash_of(key) & (cap - 1);
    while (slots[i].key != NULL && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static bool grow(ens_gw_kv_seen *t)
{
    size_t cap = t->cap != 0 ? t->cap * 2 : 64;
    slot *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key != NULL)
            *find(slots, cap, t->slots[i].key) = t->slots[i];
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

ens_gw_kv_seen *ens__gw_kv_seen_new(void)
{
    return calloc(1, sizeof(ens_gw_kv_seen));
}

void ens__gw_kv_seen_clear(ens_gw_kv_seen *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].key);
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
    t->max = 0;
}

void ens__gw_kv_seen_free(ens_gw_kv_seen *t)
{
    ens__gw_kv_seen_clear(t);
    free(t);
}

int ens__gw_kv_seen_newer(ens_gw_kv_seen *t, const char *key, uint64_t seq)
{
    if (t->cap != 0) {
        slot *s = find(t->slots, t->cap, key);
        if (s->key != NULL) {
            if (seq <= s->seq)
                return 0;
            s->seq = seq;
            if (seq > t->max)
                t->max = seq;
            return 1;
        }
    }
    /* A new key: the table stays at most half full. */
    if ((t->count + 1) * 2 > t->cap && !grow(t))
        return ENS_ENOMEM;
    char *copy = strdup(key);
    if (copy == NULL)
        return ENS_ENOMEM;
    slot *s = find(t->slots, t->cap, key);
    *s = (slot){copy, seq};
    t->count++;
    if (seq > t->max)
        t->max = seq;
    return 1;
}

uint64_t ens__gw_kv_seen_max(const ens_gw_kv_seen *t)
{
    return t != NULL ? t->max : 0;
}

size_t ens__gw_kv_seen_count(const ens_gw_kv_seen *t)
{
    return t != NULL ? t->count : 0;
}

bool ens__gw_kv_read_current(uint64_t read_max, uint64_t stream_last)
{
    return read_max >= stream_last;
}

ens_gw_kv_stream ens__gw_kv_stream_judge(int64_t created_ns, uint64_t last,
                                         int64_t known_created_ns, uint64_t seen_max)
{
    if (known_created_ns != 0 && created_ns != 0 && created_ns != known_created_ns)
        return ENS_GW_KV_STREAM_ANEW;
    return last < seen_max ? ENS_GW_KV_STREAM_BEHIND : ENS_GW_KV_STREAM_CURRENT;
}

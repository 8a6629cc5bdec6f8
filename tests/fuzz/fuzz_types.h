/*
 * tests/fuzz/fuzz_types.h - the message types the fuzz targets register
 * (strings, arrays of structs, bytes, a fixed-layout struct) and a walk that
 * reads every byte a decoded value claims to have, so ASan checks the
 * claims. Included by fuzz_frame.c and fuzz_payload.c (static functions:
 * one copy per target).
 */
#ifndef ENS_FUZZ_TYPES_H
#define ENS_FUZZ_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/msg_internal.h"

typedef struct fz_greeting_v {
    int32_t count;
    char *text;
} fz_greeting_v;

typedef struct fz_item {
    int32_t id;
    char *name;
    ens_addr who;
} fz_item;

typedef struct fz_list_v {
    int32_t n;
    char *title;
    ens_array items; /* fz_item */
    ens_array tags;  /* char * */
    ens_array nums;  /* uint64_t */
    ens_bytes blob;
} fz_list_v;

/* every fixed-size scalar kind and an address: sent without tpl */
typedef struct fz_fixed_v {
    char c;
    int16_t j;
    uint16_t v;
    int32_t i;
    uint32_t u;
    int64_t big;
    uint64_t ubig;
    double f;
    ens_addr who;
} fz_fixed_v;

static ens_msgtype fz_greeting = {"fuzz.Greeting", "S(is)", sizeof(fz_greeting_v), 0, 0, NULL};
static ens_msgtype fz_list = {
    "fuzz.List", "S(is)A(S(is" ENS_ADDR_FMT "))A(s)A(U)B", sizeof(fz_list_v), 64, 0, NULL};
static ens_msgtype fz_fixed = {
    "fuzz.Fixed", "S(cjviuIUf" ENS_ADDR_FMT ")", sizeof(fz_fixed_v), 0, 0, NULL};

static void fz_register(void)
{
    static int done;
    if (!done) {
        done = 1;
        /* a layout mistake here would make the target fuzz nothing */
        if (ens_msgtype_register(&fz_greeting) != 0 || ens_msgtype_register(&fz_list) != 0 ||
            ens_msgtype_register(&fz_fixed) != 0)
            abort();
    }
}

static size_t fz_strlen(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Read every byte the value claims to have, so ASan checks the claims. */
static size_t fz_touch(const ens_msg *m)
{
    size_t sum = 0;
    const fz_greeting_v *g = ens_msg_value(m, &fz_greeting);
    if (g)
        sum += fz_strlen(g->text) + (size_t)g->count;
    const fz_list_v *l = ens_msg_value(m, &fz_list);
    if (l) {
        sum += fz_strlen(l->title);
        const fz_item *it = l->items.items;
        for (uint32_t i = 0; i < l->items.count; i++)
            sum += fz_strlen(it[i].name) + it[i].who.id;
        char *const *tags = l->tags.items;
        for (uint32_t i = 0; i < l->tags.count; i++)
            sum += fz_strlen(tags[i]);
        const uint64_t *nums = l->nums.items;
        for (uint32_t i = 0; i < l->nums.count; i++)
            sum += nums[i];
        const uint8_t *b = l->blob.data;
        for (uint32_t i = 0; i < l->blob.len; i++)
            sum += b[i];
    }
    const fz_fixed_v *fx = ens_msg_value(m, &fz_fixed);
    if (fx)
        sum += (size_t)fx->c + (size_t)fx->j + fx->v + (size_t)fx->i + fx->u + (size_t)fx->big +
               fx->ubig + (size_t)(fx->f == fx->f) + fx->who.id + fx->who.node + fx->who.spare;
    const ens_int64_v *i64 = ens_msg_value(m, &ens_msg_int64);
    if (i64)
        sum += (size_t)i64->value;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s)
        sum += fz_strlen(s->text);
    const ens_poison_v *p = ens_msg_value(m, &ens_msg_poison);
    if (p)
        sum += fz_strlen(p->detail);
    const ens_dead_envelope_v *d = ens_msg_value(m, &ens_msg_dead_envelope);
    if (d)
        sum += fz_strlen(d->reason);
    return sum;
}

#endif

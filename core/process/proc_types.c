/*
 * core/process/proc_types.c - the type list of a system (proc_types.h).
 */
#include "core/process/proc_types.h"

#include <stdlib.h>
#include <string.h>

#include "core/wire/arena.h"
#include "core/wire/msgtype.h"
#include "ensemble/error.h"

_Static_assert(sizeof(ens_type_desc) == 40, "ens_type_desc layout (S(susUs))");

const ens_msgtype ens__msg_type_list = {
    "ens.TypeList", "A(S(susUs))", sizeof(ens__type_list_v),
    1u << 16,       0x945987FFu,   "types,name,id,format,size,fields"};
ENS__BUILTIN_MSGTYPE(ens__msg_type_list);

typedef struct collect {
    ens_type_desc *items;
    size_t n, cap;
    bool failed;
} collect;

static bool listed(const ens_msgtype *t)
{
    return t->id < ENS_TYPE_ID_SYSTEM_MIN && strncmp(t->name, "ens.ctl.", 8) != 0;
}

static void count_one(const ens_msgtype *t, void *arg)
{
    if (listed(t))
        ((collect *)arg)->cap++;
}

static void add_one(const ens_msgtype *t, void *arg)
{
    collect *c = arg;
    if (!listed(t) || c->n >= c->cap)
        return;
    c->items[c->n++] = (ens_type_desc){(char *)t->name, t->id, (char *)t->format, (uint64_t)t->size,
                                       (char *)t->fields};
}

int ens__types_snapshot(ens_type_desc **out, size_t *n)
{
    collect c = {0};
    ens__msgtype_each(count_one, &c);
    c.items = ens__calloc(c.cap + 1, sizeof(*c.items));
    if (c.items == NULL)
        return ENS_ENOMEM;
    ens__msgtype_each(add_one, &c);
    *out = c.items;
    *n = c.n;
    return 0;
}

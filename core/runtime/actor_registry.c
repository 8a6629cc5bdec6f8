/*
 * core/runtime/actor_registry.c - actor definitions by name, so a spawn can travel
 * as a name: from a program connected to a running system today, from other
 * hosts and loadable images later. A small array: definitions are few and
 * registered once at start-up. The library's own definitions sit in the
 * section ens_builtin_actors (ENS__BUILTIN_ACTOR, core/runtime/runtime.h): read
 * only, found without registration.
 */
#include <stdlib.h>
#include <string.h>

#include "core/wire/why.h"
#include "ensemble/actor.h"
#include "ensemble/error.h"

static const ens_actor_def **defs;
static size_t n_defs, cap_defs;

/* The section's bounds, defined by the linker. This file holds one empty
 * entry, so the section exists in every program (the walk skips it);
 * hidden, so the shared library does not export them. */
__attribute__((
    used, section("ens_builtin_actors"))) static const ens_actor_def *const no_builtin_actor = NULL;
extern const ens_actor_def *const __start_ens_builtin_actors[]
    __attribute__((visibility("hidden")));
extern const ens_actor_def *const __stop_ens_builtin_actors[] __attribute__((visibility("hidden")));

const ens_actor_def *ens_actor_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < n_defs; i++) {
        if (strcmp(defs[i]->name, name) == 0)
            return defs[i];
    }
    for (const ens_actor_def *const *d = __start_ens_builtin_actors; d < __stop_ens_builtin_actors;
         d++) {
        if (*d != NULL && strcmp((*d)->name, name) == 0)
            return *d;
    }
    return NULL;
}

int ens_actor_register(const ens_actor_def *d)
{
    ens__errmsg_clear();
    if (d == NULL || d->name == NULL || d->name[0] == '\0' ||
        (d->receive == NULL && d->dispatch == NULL))
        return ens__fail(ENS_EINVAL, "ens_actor_register: %s",
                         d == NULL ? "d is NULL"
                         : d->name == NULL || d->name[0] == '\0'
                             ? "d->name is NULL or empty"
                             : "d has neither receive nor dispatch");
    const ens_actor_def *known = ens_actor_find(d->name);
    if (known != NULL && known != d)
        return ens__fail(ENS_EEXIST, "ens_actor_register: another definition is registered as %s",
                         d->name);
    if (known != NULL)
        return 0;
    if (n_defs == cap_defs) {
        size_t cap = cap_defs ? cap_defs * 2 : 16;
        const ens_actor_def **n = realloc(defs, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        defs = n;
        cap_defs = cap;
    }
    defs[n_defs++] = d;
    return 0;
}

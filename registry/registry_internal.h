/*
 * registry/registry_internal.h - what the registry offers the library's
 * upper layers beyond ensemble/registry.h. Internal.
 */
#ifndef ENS_REGISTRY_REGISTRY_INTERNAL_H
#define ENS_REGISTRY_REGISTRY_INTERNAL_H

#include <stdint.h>

#include "ensemble/actor.h"

/* ens_name_spawn_flags that also takes the internal spawn flags
 * (ENS__SPAWN_KEEP_ADDR, core/runtime/runtime.h): the supervisor's named
 * children keep their address, and so their name, across its restarts.
 * Returns and errors as ens_name_spawn_flags. */
int ens__name_spawn(ens_ctx *c, const char *name, const ens_actor_def *d, const ens_msgtype *argt,
                    const void *arg, uint32_t flags, ens_addr *out);

#endif

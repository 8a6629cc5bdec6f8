/*
 * ensemble/registry.h - global names: one system-wide name per actor.
 *
 * A name is a short string that finds an actor anywhere in its system:
 * create-or-get (ens_name_spawn), look up, name the calling actor, send by
 * name. The system holds the one table (the admin on the process base, the
 * system itself on inproc), so create-or-get is atomic: two requests for
 * one name, from any processes, never start two actors.
 *
 * Lifetime: a name belongs to its actor until the actor ends for good (an
 * orderly stop, init failure, or a crash the runtime does not absorb). A
 * crash the runtime absorbs by restarting the actor in place keeps the
 * address and therefore the name. An actor that stops in order gives its
 * name up before its parent can hear that it exited, so a supervisor that
 * starts it again at once (a child spec with a name) finds the name free.
 * An actor has at most one name.
 *
 * Inside an actor every call here is one short request to the admin, bounded
 * by the system's call timeout (the admin never waits on an actor). The
 * list of names is part of the status: ens_actor_status.name (ens status,
 * ens names).
 *
 * In a convention (ens_system_opts.convention) names are convention-wide:
 * one table for every system of the convention, the JetStream key-value
 * bucket "ens-<convention>-names" (value: the holder's address as
 * ens_addr_format writes it). ens_name_spawn and ens_name_register claim
 * the name there (atomically across the cluster) before the actor is
 * named, so create-or-get raced from several systems starts one actor. A
 * name is deleted when its actor ends, by its system and only at the
 * revision that system claimed. Lookups (and ens_name_send) answer from a
 * cache the gateway's watch keeps fresh: a name claimed or dropped on
 * another system is seen after the watch delivers it, so a lookup may
 * briefly miss a new name or return an address whose actor just ended.
 * Extra errors in a convention: ENS_EUNREACHABLE (ens_name_spawn,
 * ens_name_register: the convention's NATS servers cannot be reached,
 * the names bucket does not answer (this side of a partition lacks the
 * quorum of its copies) or the gateway is not running; the log says
 * which; lookups still answer from the cache), ENS_EBADFRAME (ens_name_lookup, ens_name_send,
 * ens_name_spawn: the name's entry in the bucket is not an address, as
 * only another program could write it: refused, logged).
 * A name of this system's live actor that another member removed (it saw
 * this system unreachable) is claimed again when the gateway sees the
 * removal; if another system's actor claimed it meanwhile, the name leaves
 * this system's table (a warning; the actor runs on, unnamed).
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail: every call
 * here that returns an int (the name, and for a name that is taken, the address that holds it).
 */
#ifndef ENSEMBLE_REGISTRY_H
#define ENSEMBLE_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "addr.h"
#include "api.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest name, in bytes (without the terminating NUL). */
#define ENS_NAME_MAX 127

/* True if name is a valid global name: 1 to ENS_NAME_MAX characters of
 * A-Z a-z 0-9 . _ - / starting with a letter, a digit or '_'. (No ':', so
 * a name never reads as an address "ens:NODE/ID"; no spaces, so the shell
 * and the command line take it as one word.) NULL: false. */
ENS_API bool ens_name_valid(const char *name);

/* Create-or-get: if an actor named `name` is alive, store its address in
 * *out and return 1 (d and the argument are ignored; nothing starts).
 * Otherwise spawn an actor of d exactly as ens_spawn does (a child of the
 * caller inside an actor, top level from outside: init has run when this
 * returns) and give it the name before any other request can see the name
 * free; return 0. The argument (argt, arg) is encoded before the call and
 * borrowed. Errors: ENS_EINVAL (NULL arguments, an invalid name),
 * ENS_EINIT (outside: init failed; the name is free again), ENS_ETIMEDOUT
 * (the admin did not answer), ENS_ESHUTDOWN, ENS_ENOMEM, ENS_EMSGSIZE, and
 * those of ens_spawn. The name is taken from the moment the actor is
 * created, before its init has run: a concurrent request gets its address
 * at once (messages queue until init has run); if that init fails, the name
 * is free again and the address has no actor (sends become dead letters). */
ENS_API int ens_name_spawn(ens_ctx *c, const char *name, const ens_actor_def *d,
                           const ens_msgtype *argt, const void *arg, ens_addr *out);

/* ens_name_spawn with spawn flags (a mask of enum ens_spawn_flag, as
 * ens_spawn_flags), which apply only when an actor is created: a
 * supervisor starts a named child with ENS_SPAWN_NOTIFY_START (and
 * ENS_SPAWN_NO_RESTART where it restarts children itself). Returns 1 when
 * the name was taken (*out its actor; nothing starts, no notice comes).
 * Unknown flags: ENS_EINVAL. Otherwise as ens_name_spawn, which is this
 * with flags 0. */
ENS_API int ens_name_spawn_flags(ens_ctx *c, const char *name, const ens_actor_def *d,
                                 const ens_msgtype *argt, const void *arg, uint32_t flags,
                                 ens_addr *out);

/* The address of the live actor named `name`, in *out. Errors: ENS_ENOENT
 * (no such name), ENS_EINVAL (NULL arguments, invalid name), ENS_ETIMEDOUT,
 * ENS_ESHUTDOWN. */
ENS_API int ens_name_lookup(ens_ctx *c, const char *name, ens_addr *out);

/* Give the calling actor the name `name` (inside an actor only). Naming it
 * again with its own name is a no-op. Errors: ENS_EEXIST (another live actor
 * has the name, or the caller already has a different name), ENS_EINVAL
 * (outside an actor, NULL or invalid name), ENS_ETIMEDOUT. */
ENS_API int ens_name_register(ens_ctx *c, const char *name);

/* Drop the calling actor's name (inside an actor only), so the name is free
 * for another. Errors: ENS_ENOENT (it has none), ENS_EINVAL (outside an
 * actor), ENS_ETIMEDOUT. */
ENS_API int ens_name_unregister(ens_ctx *c);

/* Send (t, v) to the actor named `name`, as ens_send would to its address.
 * An unregistered name makes the message a dead letter with the reason
 * "no such name: NAME" (the dead-letter handler gets it, else a
 * DEAD_LETTER journal row) and still returns 0. Errors: ENS_EINVAL (NULL
 * arguments, v included; invalid name), ENS_ETIMEDOUT (the lookup), and those of
 * ens_send. */
ENS_API int ens_name_send(ens_ctx *c, const char *name, const ens_msgtype *t, const void *v);

#ifdef __cplusplus
}
#endif
#endif

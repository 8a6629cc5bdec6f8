/*
 * core/inproc/inproc_services.h - watched descriptors and shell commands on the
 * inproc base (core/inproc/inproc_services.c), and the hooks core/inproc/inproc.c calls.
 * Internal.
 */
#ifndef ENS_CORE_INPROC_SERVICES_H
#define ENS_CORE_INPROC_SERVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/runtime/runtime.h"

/* Where the inproc base keeps the services' state of s (core/inproc/inproc.c). */
void **ens__inproc_services_slot(ens_system *s);

/* The base operations watch and command (see core/runtime/runtime.h). */
int ens__inproc_watch(ens_system *s, ens_actor *a, int fd, uint64_t tag, bool on);
int ens__inproc_command(ens_system *s, ens_actor *a, const char *cmd, uint32_t max_output,
                        uint64_t tag);

/* The loop is idle: wait until until_ns (monotonic) for a watched
 * descriptor or a command, turning what happened into messages. Sleeps
 * plainly when there is nothing to wait for. May return early. */
void ens__inproc_services_wait(ens_system *s, uint64_t until_ns);

/* The loop is busy: look (without waiting, at most once a millisecond) at
 * the watched descriptors and commands. Costs nothing when there are none. */
void ens__inproc_services_pump(ens_system *s);

/* Actor a is gone: drop its watches, kill and reap its commands. */
void ens__inproc_services_actor_gone(ens_system *s, ens_actor *a);

/* The system is being freed: kill and reap every command, free all. */
void ens__inproc_services_free(ens_system *s);

#endif

/*
 * core/process/proc_services.h - watched descriptors and shell commands in an actor
 * process of the process base (core/process/proc_services.c). Internal.
 *
 * Both live on the actor process's libuv loop (core/process/proc_actor.c owns it)
 * and report to the actor by sending it a system message through its own
 * outgoing path, so a result is queued like any other message.
 */
#ifndef ENS_CORE_PROC_SERVICES_H
#define ENS_CORE_PROC_SERVICES_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/runtime/runtime.h"

/* The loop of this actor process (core/process/proc_actor.c). */
uv_loop_t *ens__proc_loop(void);

/* The base operations watch and command (see core/runtime/runtime.h). */
int ens__proc_watch(ens_system *s, ens_actor *a, int fd, uint64_t tag, bool on);
int ens__proc_command(ens_system *s, ens_actor *a, const char *cmd, uint32_t max_output,
                      uint64_t tag);

/* The actor is ending and its process is about to exit: kill every command
 * still running with its process group (SIGKILL) and reap it. Watches need
 * nothing (they go with the process). */
void ens__proc_services_end(void);

#endif

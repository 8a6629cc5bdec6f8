/*
 * tools/ens_complete.h - what Tab offers in `ens shell`: the shell's
 * commands for the first word, this user's running systems after
 * `connect`, and the global names of the system in use where a command
 * takes an actor (ask, tell, lookup, set). Kept apart from libedit so the
 * choice can be tested without a terminal (tests/test_ens_complete.c).
 * Internal to the tool.
 */
#ifndef ENS_COMPLETE_H
#define ENS_COMPLETE_H

#include <stddef.h>
#include <stdint.h>

#include "ensemble/system.h"

/* What the word being completed stands for. */
typedef enum ens_tool_complete_what {
    ENS_TOOL_COMPLETE_NONE,    /* free text, or an option: nothing offered */
    ENS_TOOL_COMPLETE_COMMAND, /* the first word */
    ENS_TOOL_COMPLETE_SYSTEM,  /* the SYSTEM of `connect` */
    ENS_TOOL_COMPLETE_NAME,    /* a TARGET: a global name */
} ens_tool_complete_what;

/* The shell's commands, sorted, NULL-terminated. */
extern const char *const ens_tool_shell_commands[];

/* What the word that starts at byte `start` of line stands for (the words
 * before it decide; line may go on past start). */
ens_tool_complete_what ens_tool_complete_kind(const char *line, size_t start);

/* The candidates for the word that starts at byte `start` of line and
 * begins with prefix: commands, the names of this user's running systems
 * (ens_system_list), or the global names of the actors of sys (from its
 * status, waiting up to timeout_ms; none when sys is NULL or it does not
 * answer). Sorted, each once. Returns a NULL-terminated array of strings,
 * all malloc'd (ens_tool_complete_free), or NULL when there is none (or
 * no memory). */
char **ens_tool_complete(const char *line, size_t start, const char *prefix, ens_system *sys,
                         uint32_t timeout_ms);

/* Free what ens_tool_complete returned. NULL-safe. */
void ens_tool_complete_free(char **list);

#endif

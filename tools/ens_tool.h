/*
 * tools/ens_tool.h - what the parts of the `ens` program share: the
 * subcommand entry points (tools/ens.c dispatches to them) and the pieces
 * of tools/ens_system.c that `ens shell` (tools/ens_shell.c) runs on a
 * connection it keeps open. Internal to the tool.
 *
 * Every function that prints prefixes its messages with `prog` ("ens ask",
 * "ens shell") and returns an exit status: 0 success, 1 runtime error, 2
 * usage error (or -1 where it says "to go on").
 */
#ifndef ENS_TOOL_H
#define ENS_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "ensemble/addr.h"
#include "ensemble/status.h"
#include "ensemble/system.h"

/* text (NULL: "") as printable text on one line, for printing anything the
 * tool did not write itself (user input, replies, names, journal text):
 * newline, carriage return and tab become \n, \r, \t; every other control
 * character (C0, DEL, C1) and every byte that is not well-formed UTF-8
 * becomes \xNN. The string is the tool's, valid until 8 more calls (so up
 * to 8 may appear in one printf). tools/ens_text.c. */
const char *ens_tool_esc(const char *text);

/* Subcommands: argv[0] is the command's name. */
int ens_tool_journal(int argc, char **argv);
int ens_tool_journal_prune(int argc, char **argv); /* tools/ens_journal_prune.c */
int ens_tool_status(int argc, char **argv);
int ens_tool_names(int argc, char **argv);
int ens_tool_ask(int argc, char **argv);
int ens_tool_tell(int argc, char **argv);
int ens_tool_shutdown(int argc, char **argv);
int ens_tool_shell(int argc, char **argv);
int ens_tool_members(int argc, char **argv);    /* tools/ens_members.c */
int ens_tool_capability(int argc, char **argv); /* tools/ens_capability.c */

/* `ens names` with --nats or --convention: the convention-wide names, read
 * from the names bucket (tools/ens_names_wide.c). wanted: whether argv
 * asks for that mode (an option --nats or --convention before any "--"). */
bool ens_tool_names_wide_wanted(int argc, char **argv);
int ens_tool_names_wide(int argc, char **argv);

/* A label for an address (the shell's register "$3"), or NULL for none;
 * the text is borrowed until the next call. */
typedef const char *(*ens_tool_label_fn)(ens_addr a, void *arg);

/* Attach to system `name`, printing why not. Returns -1 with *out set,
 * else the exit status. */
int ens_tool_connect(const char *prog, const char *name, ens_system **out);

/* Print the status tree (or JSON lines) of s, called `system`. With label,
 * a first column REG shows each actor's label. */
int ens_tool_print_status(ens_system *s, const char *prog, const char *system, bool json,
                          uint32_t timeout_ms, ens_tool_label_fn label, void *arg);

/* Print the status tree (or JSON lines) of snapshot st of `system`. */
int ens_tool_show_status(const ens_status *st, const char *prog, const char *system, bool json,
                         ens_tool_label_fn label, void *arg);

/* `ens status --convention NAME`: every member's tree (tools/ens_status_wide.c).
 * wanted: whether argv asks for it (--convention or --nats). */
bool ens_tool_status_wide_wanted(int argc, char **argv);
int ens_tool_status_wide(int argc, char **argv);

/* Print the global names of s: NAME ADDRESS TYPE PID, sorted by name (or
 * JSON lines). With label, a first column REG. */
int ens_tool_print_names(ens_system *s, const char *prog, const char *system, bool json,
                         uint32_t timeout_ms, ens_tool_label_fn label, void *arg);

/* Parse a target: an address (text with ':') into *addr, or a global name
 * (*name = text). Returns -1 to go on, else 2 (a usage error, printed). */
int ens_tool_target(const char *prog, const char *text, ens_addr *addr, const char **name);

/* Ask (or tell) the actor at `to`, or named `name` when name != NULL, the
 * string `text`, printing the reply. `shown` is how the user wrote the
 * target, for messages. */
int ens_tool_ask_run(ens_system *s, const char *prog, const char *system, const char *shown,
                     ens_addr to, const char *name, const char *text, uint32_t timeout_ms);
int ens_tool_tell_run(ens_system *s, const char *prog, const char *system, const char *shown,
                      ens_addr to, const char *name, const char *text);

#endif

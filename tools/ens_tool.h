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
#include <stdio.h>

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

/* The same for a JSON string's content: the C0 controls stay (the JSON
 * writer escapes them as \n, \u001b...), DEL, C1 and bad UTF-8 become \xNN
 * as above, since a JSON writer would pass them on raw. */
const char *ens_tool_esc_json(const char *text);

/* ---- command lines (tools/ens_args.c) ---- */

/* text as a whole decimal number from min to max into *out: digits only
 * (no sign, space, base prefix or suffix). False, *out untouched, if not. */
bool ens_tool_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* Print "prog: " fmt (its one %s is arg, escaped) and a pointer to
 * `prog --help` on stderr. Returns 2, the usage error's exit status. */
int ens_tool_usage_error(const char *prog, const char *fmt, const char *arg);

/* The operands from argv[first] on of a command that reads one journal:
 * at most one SYSTEM (*system, else NULL), and not with --db (db !=
 * NULL). Returns -1 to go on, else 2 (a usage error, printed). */
int ens_tool_system_operand(const char *prog, int argc, char **argv, int first, const char *db,
                            const char **system);

/* The journal file to read: db when given, else that of system (NULL:
 * "default") under the user's state directory, written into buf (len
 * bytes). Returns -1 to go on with *path set (db or buf), else 2 (system
 * is no usable name) or 1 (no state directory), printed. */
int ens_tool_journal_file(const char *prog, const char *system, const char *db, char *buf,
                          size_t len, const char **path);

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
int ens_tool_log(int argc, char **argv);        /* tools/ens_log.c */
int ens_tool_list(int argc, char **argv);       /* tools/ens_list.c */

/* The names of this user's running systems (sockets nobody listens at are
 * left out), sorted; *count of them. Free with ens_tool_free_names. NULL
 * with *count 0 when there are none (or no memory). tools/ens_list.c. */
char **ens_tool_system_names(size_t *count);
void ens_tool_free_names(char **names, size_t count);

/* "running: a b (see `ens list`)" or that none runs, one line to out. */
void ens_tool_print_running(FILE *out);

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

/* Take the status of s, printing why not (as prog, of system). NULL on
 * failure, with *status the exit code (1); the result is the caller's
 * (ens_status_free). */
ens_status *ens_tool_take_status(ens_system *s, const char *prog, const char *system,
                                 uint32_t timeout_ms, int *status);

/* Print the status tree of s, called `system`, or its JSON document
 * {"actors": [...]}: one object per actor with its parent and depth, or
 * with as_tree each actor's children nested in its "children". With label,
 * a first column REG ("register") shows each actor's label. */
int ens_tool_print_status(ens_system *s, const char *prog, const char *system, bool json,
                          bool as_tree, uint32_t timeout_ms, ens_tool_label_fn label, void *arg);

/* The same for snapshot st of `system`. */
int ens_tool_show_status(const ens_status *st, const char *prog, const char *system, bool json,
                         bool as_tree, ens_tool_label_fn label, void *arg);

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

/* ---- run-time types (tools/ens_types.c) ---- */

/* `ens types SYSTEM`. */
int ens_tool_types(int argc, char **argv);

/* The message types of a system, as ens_system_types told them; each one
 * ens can use has a JSON codec (tools/ens_json.h) and is registered here. */
typedef struct ens_tool_typeset ens_tool_typeset;
struct ens_json_type;
struct ens_msg;
struct ens_msgtype;

/* Learn the types of s. Returns -1 to go on with *out
 * (ens_tool_types_free), else the exit status (printed). */
int ens_tool_types_load(ens_system *s, const char *prog, const char *system, uint32_t timeout_ms,
                        ens_tool_typeset **out);

/* The type called name and its codec. Returns -1 to go on, else 2 (no
 * such type) or 1 (the system's entry is not usable), printed. */
int ens_tool_types_find(ens_tool_typeset *tt, const char *prog, const char *system,
                        const char *name, const struct ens_msgtype **mt,
                        const struct ens_json_type **codec);

/* m's value as JSON (malloc'ed), by its type from the system's list or
 * this program's own; NULL when its type is unknown here. */
char *ens_tool_types_reply_json(ens_tool_typeset *tt, const struct ens_msg *m);

void ens_tool_types_free(ens_tool_typeset *tt);

/* Print the types of s as `ens types` does (a table, or one JSON document
 * {"types": [...]}). Returns the exit status (errors printed). */
int ens_tool_print_types(ens_system *s, const char *prog, const char *system, bool json,
                         uint32_t timeout_ms);

/* Ask or tell with a value of a run-time type: json encoded by the type
 * `type_name` of the system (tools/ens_types.c); a bad value is a usage
 * error (2) naming the field. The reply is printed as JSON. */
int ens_tool_ask_typed_run(ens_system *s, const char *prog, const char *system, const char *shown,
                           ens_addr to, const char *name, const char *type_name, const char *json,
                           uint32_t timeout_ms);
int ens_tool_tell_typed_run(ens_system *s, const char *prog, const char *system, const char *shown,
                            ens_addr to, const char *name, const char *type_name, const char *json,
                            uint32_t timeout_ms);

#endif

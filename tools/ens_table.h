/*
 * tools/ens_table.h - the tables of `ens` and their --json, drawn by
 * util-linux's libsmartcols (columns sized to the terminal, trees with
 * their lines, JSON as lsblk writes it). Internal to the tool.
 *
 * A table is made for one mode: for a terminal (headers as given, cells
 * escaped with ens_tool_esc, NULL or "" shown as "-") or for JSON (one
 * document {"NAME": [ {row}, ... ]}, keys as given, NULL as null, numbers
 * bare).
 */
#ifndef ENS_TABLE_H
#define ENS_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include <libsmartcols.h>

/* The kinds of a column's values in JSON. */
typedef enum ens_tool_kind {
    ENS_TOOL_TEXT,   /* a string */
    ENS_TOOL_NUMBER, /* a number, given as its decimal text */
    ENS_TOOL_BOOL,   /* "1"/"0": true/false */
    ENS_TOOL_LIST,   /* strings, one a line of the cell: a JSON array */
} ens_tool_kind;

/* A new table called `name` (the JSON document's key), or NULL (out of
 * memory). */
struct libscols_table *ens_tool_table(const char *name, bool json);

/* Add a column: `header` on a terminal, `key` in JSON. tree: the column
 * that draws the tree lines (in JSON: children nest in a "children" array
 * of their parent). Returns 0, or -1 (no memory). */
int ens_tool_column(struct libscols_table *tb, const char *header, const char *key,
                    ens_tool_kind kind, bool right, bool tree);

/* Set cell `col` of line ln to text (NULL: "-" or null), made safe for the
 * table's mode: escaped for a terminal; for JSON, bytes a terminal could
 * obey that the JSON writer would pass on (DEL, C1 controls, bytes that are
 * not well-formed UTF-8) are spelled \xNN as on the terminal. Returns 0,
 * or -1 (no memory). */
int ens_tool_cell(struct libscols_table *tb, struct libscols_line *ln, size_t col,
                  const char *text);

/* A number cell. */
int ens_tool_cell_num(struct libscols_table *tb, struct libscols_line *ln, size_t col, long long v);

/* Print tb to stdout and free it. Returns 0, or 1 (printed to stderr with
 * prog in front). */
int ens_tool_table_print(struct libscols_table *tb, const char *prog);

#endif

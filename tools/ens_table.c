/*
 * tools/ens_table.c - tables and their JSON through libsmartcols (see
 * tools/ens_table.h).
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "ens_table.h"
#include "ens_tool.h"

struct libscols_table *ens_tool_table(const char *name, bool json)
{
    /* Column widths count characters of the user's charset, not bytes. */
    static bool locale_set;
    if (!locale_set) {
        setlocale(LC_CTYPE, "");
        locale_set = true;
    }
    struct libscols_table *tb = scols_new_table();
    if (tb == NULL)
        return NULL;
    /* Cells are escaped here already (ens_tool_esc keeps valid UTF-8, which
     * libsmartcols would spell out in a non-UTF-8 locale). */
    if (scols_table_set_name(tb, name) != 0 || scols_table_enable_json(tb, json) != 0 ||
        scols_table_enable_noencoding(tb, 1) != 0 ||
        (!json && scols_table_set_column_separator(tb, "  ") != 0)) {
        scols_unref_table(tb);
        return NULL;
    }
    return tb;
}

int ens_tool_column(struct libscols_table *tb, const char *header, const char *key,
                    ens_tool_kind kind, bool right, bool tree)
{
    bool json = scols_table_is_json(tb);
    int flags = (right ? SCOLS_FL_RIGHT : 0) | (tree ? SCOLS_FL_TREE : 0) |
                (kind == ENS_TOOL_LIST ? SCOLS_FL_WRAP : 0);
    struct libscols_column *cl = scols_table_new_column(tb, json ? key : header, 0, flags);
    if (cl == NULL)
        return -1;
    int type = kind == ENS_TOOL_NUMBER ? SCOLS_JSON_NUMBER
               : kind == ENS_TOOL_BOOL ? SCOLS_JSON_BOOLEAN
               : kind == ENS_TOOL_LIST ? SCOLS_JSON_ARRAY_STRING
                                       : SCOLS_JSON_STRING;
    /* A list's cell is cut at its newlines: the array's items in JSON, one
     * line each on a terminal. */
    if (kind == ENS_TOOL_LIST &&
        scols_column_set_wrapfunc(cl, scols_wrapnl_chunksize, scols_wrapnl_nextchunk, NULL) != 0)
        return -1;
    return scols_column_set_json_type(cl, type) == 0 ? 0 : -1;
}

int ens_tool_cell(struct libscols_table *tb, struct libscols_line *ln, size_t col, const char *text)
{
    if (scols_table_is_json(tb)) {
        if (text == NULL)
            return 0; /* no data: null */
        return scols_line_set_data(ln, col, ens_tool_esc_json(text)) == 0 ? 0 : -1;
    }
    const char *shown = text == NULL || text[0] == '\0' ? "-" : ens_tool_esc(text);
    return scols_line_set_data(ln, col, shown) == 0 ? 0 : -1;
}

int ens_tool_cell_num(struct libscols_table *tb, struct libscols_line *ln, size_t col, long long v)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", v);
    return ens_tool_cell(tb, ln, col, num);
}

int ens_tool_table_print(struct libscols_table *tb, const char *prog)
{
    int rc = scols_print_table(tb);
    scols_unref_table(tb);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot print the table: %s\n", prog, strerror(rc < 0 ? -rc : rc));
        return 1;
    }
    return 0;
}

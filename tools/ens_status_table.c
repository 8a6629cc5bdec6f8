/*
 * tools/ens_status_table.c - how `ens status` and `ens shell` show a
 * system's status: the table of actors (optionally as a tree of parents
 * and children, depth first) or the same as JSON (tools/ens_tool.h).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_json.h"
#include "ens_table.h"
#include "ens_tool.h"
#include "ensemble/addr.h"
#include "ensemble/error.h"
#include "ensemble/status.h"
#include "ensemble/system.h"

typedef struct tree {
    const ens_status *st;
    size_t n;
    size_t *order; /* actor indexes, depth first */
    int *depth;    /* depth of order[i] */
    size_t len;
    bool *placed;
} tree;

static bool has_parent_in(const ens_status *st, size_t n, ens_addr parent)
{
    if (ens_addr_is_none(parent))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (ens_addr_equal(ens_status_at(st, i)->addr, parent))
            return true;
    }
    return false;
}

static void tree_visit(tree *t, size_t i, int depth)
{
    if (t->placed[i])
        return;
    t->placed[i] = true;
    t->order[t->len] = i;
    t->depth[t->len] = depth;
    t->len++;
    ens_addr self = ens_status_at(t->st, i)->addr;
    for (size_t k = 0; k < t->n; k++) {
        if (ens_addr_equal(ens_status_at(t->st, k)->parent, self))
            tree_visit(t, k, depth + 1);
    }
}

/* Order the actors parent before children, children in start order. */
static bool tree_build(tree *t, const ens_status *st)
{
    memset(t, 0, sizeof(*t));
    t->st = st;
    t->n = ens_status_count(st);
    size_t cap = t->n > 0 ? t->n : 1;
    t->order = calloc(cap, sizeof(*t->order));
    t->depth = calloc(cap, sizeof(*t->depth));
    t->placed = calloc(cap, sizeof(*t->placed));
    if (t->order == NULL || t->depth == NULL || t->placed == NULL)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        if (!has_parent_in(st, t->n, ens_status_at(st, i)->parent))
            tree_visit(t, i, 0);
    }
    for (size_t i = 0; i < t->n; i++) /* a parent cycle cannot happen; be safe */
        tree_visit(t, i, 0);
    return true;
}

static void tree_free(tree *t)
{
    free(t->order);
    free(t->depth);
    free(t->placed);
}

/* The index of the actor whose address is a, or n. */
static size_t index_of(const ens_status *st, size_t n, ens_addr a)
{
    size_t i = 0;
    while (i < n && !ens_addr_equal(ens_status_at(st, i)->addr, a))
        i++;
    return i;
}

/* The status as a table (tree lines in TYPE) or JSON: flat rows with
 * parent and depth, or with as_tree children nested in their parent. */
static int print_status_table(const char *prog, const char *system, const ens_status *st,
                              const tree *t, bool json, bool as_tree, ens_tool_label_fn label,
                              void *arg)
{
    if (!json)
        printf("system %s  admin pid %d  actors %zu\n", system, ens_status_admin_pid(st), t->len);
    if (!json && t->len == 0)
        return 0;
    struct libscols_table *tb = ens_tool_table("actors", json);
    struct libscols_line **lines = calloc(t->n + 1, sizeof(*lines));
    if (tb == NULL || lines == NULL)
        goto oom;
    enum {
        REG,
        TYPE,
        ADDR,
        NAME,
        PID,
        RESTARTS,
        HANDLED,
        MAILBOX,
        RSS,
        SYSTEM,
        ADMIN,
        PARENT,
        DEPTH,
        INCARNATION,
        NCOL
    };
    size_t col[NCOL] = {0};
    size_t nc = 0;
    bool ok = true;
#define COL(id, header, key, kind, right, tr)                                                      \
    do {                                                                                           \
        col[id] = nc++;                                                                            \
        ok = ok && ens_tool_column(tb, header, key, kind, right, tr) == 0;                         \
    } while (0)
    if (label != NULL)
        COL(REG, "REG", "register", ENS_TOOL_TEXT, false, false);
    if (json) {
        COL(SYSTEM, "SYSTEM", "system", ENS_TOOL_TEXT, false, false);
        COL(ADMIN, "ADMIN", "admin_pid", ENS_TOOL_NUMBER, false, false);
    }
    COL(TYPE, "TYPE", "type", ENS_TOOL_TEXT, false, !json || as_tree);
    COL(ADDR, "ADDRESS", "address", ENS_TOOL_TEXT, false, false);
    if (json) {
        COL(PARENT, "PARENT", "parent", ENS_TOOL_TEXT, false, false);
        COL(DEPTH, "DEPTH", "depth", ENS_TOOL_NUMBER, false, false);
    }
    COL(NAME, "NAME", "name", ENS_TOOL_TEXT, false, false);
    COL(PID, "PID", "pid", ENS_TOOL_NUMBER, true, false);
    if (json)
        COL(INCARNATION, "INCARNATION", "incarnation", ENS_TOOL_NUMBER, true, false);
    COL(RESTARTS, "RESTARTS", "restarts", ENS_TOOL_NUMBER, true, false);
    COL(HANDLED, "HANDLED", "handled", ENS_TOOL_NUMBER, true, false);
    COL(MAILBOX, "MAILBOX_B", "mailbox_bytes", ENS_TOOL_NUMBER, true, false);
    COL(RSS, "RSS_KIB", "rss_kib", ENS_TOOL_NUMBER, true, false);
#undef COL
    if (!ok)
        goto oom;
    for (size_t k = 0; k < t->len && ok; k++) {
        size_t i = t->order[k];
        const ens_actor_status *a = ens_status_at(st, i);
        size_t p = index_of(st, t->n, a->parent);
        struct libscols_line *up = (!json || as_tree) && p < t->n ? lines[p] : NULL;
        struct libscols_line *ln = lines[i] = scols_table_new_line(tb, up);
        if (ln == NULL)
            goto oom;
        char addr[ENS_ADDR_STRLEN], parent[ENS_ADDR_STRLEN];
        ens_addr_format(a->addr, addr, sizeof(addr));
        if (label != NULL)
            ok = ok && ens_tool_cell(tb, ln, col[REG], label(a->addr, arg)) == 0;
        if (json) {
            ok = ok && ens_tool_cell(tb, ln, col[SYSTEM], system) == 0;
            ok = ok && ens_tool_cell_num(tb, ln, col[ADMIN], ens_status_admin_pid(st)) == 0;
            if (!ens_addr_is_none(a->parent)) {
                ens_addr_format(a->parent, parent, sizeof(parent));
                ok = ok && ens_tool_cell(tb, ln, col[PARENT], parent) == 0;
            }
            ok = ok && ens_tool_cell_num(tb, ln, col[DEPTH], t->depth[k]) == 0;
            ok = ok && ens_tool_cell_num(tb, ln, col[INCARNATION], a->incarnation) == 0;
        }
        ok = ok && ens_tool_cell(tb, ln, col[ADDR], addr) == 0;
        ok = ok && ens_tool_cell(tb, ln, col[TYPE], a->type) == 0;
        ok = ok && ens_tool_cell_num(tb, ln, col[PID], a->pid) == 0;
        ok = ok && ens_tool_cell_num(tb, ln, col[RESTARTS], a->restarts) == 0;
        ok = ok && ens_tool_cell_num(tb, ln, col[HANDLED], (long long)a->handled) == 0;
        ok = ok && ens_tool_cell_num(tb, ln, col[MAILBOX], (long long)a->mailbox_bytes) == 0;
        ok = ok && ens_tool_cell_num(tb, ln, col[RSS], (long long)a->rss_kib) == 0;
        if (a->name != NULL && a->name[0] != '\0')
            ok = ok && ens_tool_cell(tb, ln, col[NAME], a->name) == 0;
        else if (!json)
            ok = ok && ens_tool_cell(tb, ln, col[NAME], NULL) == 0;
    }
    if (!ok)
        goto oom;
    free(lines);
    return ens_tool_table_print(tb, prog);
oom:
    free(lines);
    if (tb != NULL)
        scols_unref_table(tb);
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
}

ens_status *ens_tool_take_status(ens_system *s, const char *prog, const char *system,
                                 uint32_t timeout_ms, int *status)
{
    ens_status *st = NULL;
    int rc = ens_system_status(s, timeout_ms, &st);
    *status = rc < 0 ? 1 : 0;
    if (rc == ENS_ETIMEDOUT)
        fprintf(stderr, "%s: system %s did not answer within %" PRIu32 " ms\n", prog, system,
                timeout_ms);
    else if (rc == ENS_ESHUTDOWN)
        fprintf(stderr, "%s: system %s ended\n", prog, system);
    else if (rc < 0)
        fprintf(stderr, "%s: cannot take the status of %s: %s\n", prog, system, ens_strerror(rc));
    return rc < 0 ? NULL : st;
}

int ens_tool_show_status(const ens_status *st, const char *prog, const char *system, bool json,
                         bool as_tree, ens_tool_label_fn label, void *arg)
{
    int status = 0;
    tree t;
    if (!tree_build(&t, st)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        status = 1;
    } else {
        status = print_status_table(prog, system, st, &t, json, as_tree, label, arg);
    }
    tree_free(&t);
    return status;
}

int ens_tool_print_status(ens_system *s, const char *prog, const char *system, bool json,
                          bool as_tree, uint32_t timeout_ms, ens_tool_label_fn label, void *arg)
{
    int status = 0;
    ens_status *st = ens_tool_take_status(s, prog, system, timeout_ms, &status);
    if (st == NULL)
        return status;
    status = ens_tool_show_status(st, prog, system, json, as_tree, label, arg);
    ens_status_free(st);
    return status;
}

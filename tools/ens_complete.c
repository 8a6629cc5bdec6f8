/*
 * tools/ens_complete.c - the candidates of Tab in `ens shell` (see
 * tools/ens_complete.h). The shell hands them to libedit.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ens_complete.h"
#include "ensemble/status.h"

const char *const ens_tool_shell_commands[] = {
    "ask",  "connect", "disconnect", "exit",   "help", "journal", "lookup", "names", "quit",
    "regs", "set",     "shutdown",   "status", "tell", "timeout", "types",  NULL,
};

/* The words of line before byte start, as the shell splits them (blanks;
 * a "..." group is one word). Up to max of them into w (copies into buf).
 * Returns how many. */
static size_t words_before(const char *line, size_t start, char *buf, size_t len, char **w,
                           size_t max)
{
    size_t n = 0, k = 0;
    size_t i = 0;
    while (i < start && n < max) {
        while (i < start && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= start)
            break;
        bool quoted = line[i] == '"';
        i += quoted;
        w[n++] = buf + k;
        while (i < start && (quoted ? line[i] != '"' : line[i] != ' ' && line[i] != '\t')) {
            if (k + 1 < len)
                buf[k++] = line[i];
            i++;
        }
        i += quoted && i < start;
        if (k < len)
            buf[k++] = '\0';
        else
            buf[len - 1] = '\0';
    }
    return n;
}

ens_tool_complete_what ens_tool_complete_kind(const char *line, size_t start)
{
    char buf[512], *w[4];
    size_t n = words_before(line, start, buf, sizeof(buf), w, 4);
    if (n == 0)
        return ENS_TOOL_COMPLETE_COMMAND;
    const char *cmd = w[0];
    if (n == 1 && strcmp(cmd, "connect") == 0)
        return ENS_TOOL_COMPLETE_SYSTEM;
    if (n == 1 &&
        (strcmp(cmd, "ask") == 0 || strcmp(cmd, "tell") == 0 || strcmp(cmd, "lookup") == 0))
        return ENS_TOOL_COMPLETE_NAME;
    if (n == 2 && strcmp(cmd, "set") == 0) /* set $N TARGET */
        return ENS_TOOL_COMPLETE_NAME;
    if (n == 3 && (strcmp(cmd, "ask") == 0 || strcmp(cmd, "tell") == 0) &&
        strcmp(w[1], "--type") == 0) /* ask --type T TARGET */
        return ENS_TOOL_COMPLETE_NAME;
    return ENS_TOOL_COMPLETE_NONE;
}

/* A growing list of distinct candidates. */
typedef struct cands {
    char **items;
    size_t n, cap;
    const char *prefix;
    bool oom;
} cands;

static void add(cands *c, const char *text)
{
    if (c->oom || text == NULL || strncmp(text, c->prefix, strlen(c->prefix)) != 0)
        return;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i], text) == 0)
            return;
    if (c->n + 1 >= c->cap) { /* room for the NULL at the end */
        size_t cap = c->cap == 0 ? 16 : 2 * c->cap;
        char **p = realloc(c->items, cap * sizeof(*p));
        if (p == NULL) {
            c->oom = true;
            return;
        }
        c->items = p;
        c->cap = cap;
    }
    if ((c->items[c->n] = strdup(text)) == NULL)
        c->oom = true;
    else
        c->n++;
}

static int add_system(const char *name, void *arg)
{
    add(arg, name);
    return 0;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **ens_tool_complete(const char *line, size_t start, const char *prefix, ens_system *sys,
                         uint32_t timeout_ms)
{
    cands c = {.prefix = prefix != NULL ? prefix : ""};
    switch (ens_tool_complete_kind(line, start)) {
    case ENS_TOOL_COMPLETE_COMMAND:
        for (size_t i = 0; ens_tool_shell_commands[i] != NULL; i++)
            add(&c, ens_tool_shell_commands[i]);
        break;
    case ENS_TOOL_COMPLETE_SYSTEM:
        ens_system_list(add_system, &c);
        break;
    case ENS_TOOL_COMPLETE_NAME: {
        ens_status *st = NULL;
        if (sys == NULL || ens_system_status(sys, timeout_ms, &st) != 0)
            break;
        for (size_t i = 0; i < ens_status_count(st); i++)
            add(&c, ens_status_at(st, i)->name);
        ens_status_free(st);
        break;
    }
    case ENS_TOOL_COMPLETE_NONE:
        break;
    }
    if (c.oom || c.n == 0) {
        for (size_t i = 0; i < c.n; i++)
            free(c.items[i]);
        free(c.items);
        return NULL;
    }
    qsort(c.items, c.n, sizeof(*c.items), by_text);
    c.items[c.n] = NULL;
    return c.items;
}

void ens_tool_complete_free(char **list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; list[i] != NULL; i++)
        free(list[i]);
    free(list);
}

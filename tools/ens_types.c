/*
 * tools/ens_types.c - `ens types SYSTEM`, and the run-time types behind
 * `ens ask|tell --type` (tools/ens_tool.h).
 *
 * `ens` has not registered the application's types: it learns them from
 * the system (ens_system_types) and, for each one it can use, builds a
 * JSON codec (tools/ens_json.h) and registers an ens_msgtype made from
 * what the system said, so that it can send values of that type and
 * decode replies of it. A connected program forks nothing, so registering
 * after the connection is sound. What a system says is not trusted: an
 * entry whose id is not its name's, whose format is not in the grammar or
 * whose size or field names do not fit the format is listed but not used.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_json.h"
#include "ens_table.h"
#include "ens_tool.h"
#include "ensemble/error.h"
#include "ensemble/msg.h"
#include "ensemble/system.h"

#define TYPES_MAX          65536 /* entries kept from one list */
#define TYPE_NAME_MAX      255
#define DEFAULT_TIMEOUT_MS 5000u

typedef struct type_entry {
    char *name, *format, *fields; /* copies of what the system said */
    uint32_t id;
    uint64_t size;
    ens_json_type *codec;  /* NULL: not usable (why says why) */
    const ens_msgtype *mt; /* this program's type of that name, when usable */
    char why[160];
} type_entry;

struct ens_tool_typeset {
    type_entry *e;
    size_t n, cap;
    bool oom;
};

static int collect(const ens_type_desc *d, void *arg)
{
    ens_tool_typeset *tt = arg;
    if (tt->n >= TYPES_MAX)
        return 0; /* the rest is dropped: more than any system registers */
    if (tt->n == tt->cap) {
        size_t cap = tt->cap ? tt->cap * 2 : 64;
        type_entry *e = realloc(tt->e, cap * sizeof(*e));
        if (e == NULL) {
            tt->oom = true;
            return ENS_ENOMEM;
        }
        tt->e = e;
        tt->cap = cap;
    }
    type_entry *e = &tt->e[tt->n];
    memset(e, 0, sizeof(*e));
    e->name = strdup(d->name != NULL ? d->name : "");
    e->format = strdup(d->format != NULL ? d->format : "");
    e->fields = d->fields != NULL ? strdup(d->fields) : NULL;
    e->id = d->id;
    e->size = d->size;
    tt->n++;
    if (e->name == NULL || e->format == NULL || (d->fields != NULL && e->fields == NULL)) {
        tt->oom = true;
        return ENS_ENOMEM;
    }
    return 0;
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const type_entry *)x)->name, ((const type_entry *)y)->name);
}

/* Check e and make it usable: a codec, and a registered type here. */
static void prepare(type_entry *e, bool first_of_name)
{
    if (!first_of_name) {
        snprintf(e->why, sizeof(e->why), "listed twice");
        return;
    }
    char err[160];
    if (ens_json_type_from_desc(e->name, e->id, e->format, e->fields, e->size, &e->codec, err,
                                sizeof(err)) < 0) {
        snprintf(e->why, sizeof(e->why), "%s", err);
        return;
    }
    const ens_msgtype *local = ens_msgtype_find(e->name);
    if (local != NULL) {
        if (strcmp(local->format, e->format) != 0 || local->size != e->size) {
            snprintf(e->why, sizeof(e->why), "differs from this program's type of that name");
            ens_json_type_free(e->codec);
            e->codec = NULL;
            return;
        }
        e->mt = local;
        return;
    }
    /* Registered for the life of the program (the table keeps the pointer). */
    ens_msgtype *t = calloc(1, sizeof(*t));
    char *name = strdup(e->name), *format = strdup(e->format);
    char *fields = e->fields != NULL ? strdup(e->fields) : NULL;
    int rc = ENS_ENOMEM;
    if (t != NULL && name != NULL && format != NULL && (e->fields == NULL || fields != NULL)) {
        *t = (ens_msgtype){name, format, e->size, 0, 0, fields};
        rc = ens_msgtype_register(t);
    }
    if (rc < 0) {
        free(t);
        free(name);
        free(format);
        free(fields);
        snprintf(e->why, sizeof(e->why), "cannot be registered here: %s", ens_strerror(rc));
        ens_json_type_free(e->codec);
        e->codec = NULL;
        return;
    }
    e->mt = t;
}

int ens_tool_types_load(ens_system *s, const char *prog, const char *system, uint32_t timeout_ms,
                        ens_tool_typeset **out)
{
    *out = NULL;
    ens_tool_typeset *tt = calloc(1, sizeof(*tt));
    if (tt == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    int rc = ens_system_types(s, timeout_ms, collect, tt);
    if (rc < 0 || tt->oom) {
        if (rc == ENS_ETIMEDOUT)
            fprintf(stderr, "%s: system %s did not answer within %" PRIu32 " ms\n", prog,
                    ens_tool_esc(system), timeout_ms);
        else
            fprintf(stderr, "%s: cannot learn the types of %s: %s\n", prog, ens_tool_esc(system),
                    ens_strerror(tt->oom ? ENS_ENOMEM : rc));
        ens_tool_types_free(tt);
        return 1;
    }
    if (tt->n > 1)
        qsort(tt->e, tt->n, sizeof(*tt->e), by_name);
    for (size_t i = 0; i < tt->n; i++)
        prepare(&tt->e[i], i == 0 || strcmp(tt->e[i - 1].name, tt->e[i].name) != 0);
    *out = tt;
    return -1;
}

static type_entry *entry_of(ens_tool_typeset *tt, const char *name)
{
    for (size_t i = 0; tt != NULL && i < tt->n; i++) {
        if (strcmp(tt->e[i].name, name) == 0)
            return &tt->e[i];
    }
    return NULL;
}

int ens_tool_types_find(ens_tool_typeset *tt, const char *prog, const char *system,
                        const char *name, const ens_msgtype **mt, const ens_json_type **codec)
{
    type_entry *e = entry_of(tt, name);
    if (e == NULL) {
        fprintf(stderr, "%s: system %s has no type '%s' (see `ens types %s`)\n", prog,
                ens_tool_esc(system), ens_tool_esc(name), ens_tool_esc(system));
        return 2;
    }
    if (e->codec == NULL) {
        fprintf(stderr, "%s: type '%s' of system %s cannot be used: %s\n", prog, ens_tool_esc(name),
                ens_tool_esc(system), ens_tool_esc(e->why));
        return 1;
    }
    *mt = e->mt;
    *codec = e->codec;
    return -1;
}

char *ens_tool_types_reply_json(ens_tool_typeset *tt, const ens_msg *m)
{
    const ens_msgtype *t = ens_msg_type(m);
    if (t == NULL)
        return NULL;
    const void *v = ens_msg_value(m, t);
    type_entry *e = entry_of(tt, t->name);
    if (v == NULL)
        return NULL;
    if (e != NULL && e->codec != NULL && e->mt == t)
        return ens_json_from_value(e->codec, v);
    /* Not in the system's list: this program's own (a library type). */
    ens_json_type *codec = NULL;
    char err[160];
    if (ens_json_type_new(t->format, t->fields, t->size, &codec, err, sizeof(err)) < 0)
        return NULL;
    char *text = ens_json_from_value(codec, v);
    ens_json_type_free(codec);
    return text;
}

void ens_tool_types_free(ens_tool_typeset *tt)
{
    if (tt == NULL)
        return;
    for (size_t i = 0; i < tt->n; i++) {
        free(tt->e[i].name);
        free(tt->e[i].format);
        free(tt->e[i].fields);
        ens_json_type_free(tt->e[i].codec);
    }
    free(tt->e);
    free(tt);
}

/* ---- ens types ---- */

static void help_types(FILE *out)
{
    fputs("usage: ens types SYSTEM [--json] [--timeout MS]\n"
          "\n"
          "List the message types of a running system: those its program registered and\n"
          "the library's public ones, sorted by name, each with its wire id, tpl format,\n"
          "C size and field names (- when registered without names: f0, f1, ... then).\n"
          "These are the types `ens ask|tell --type` can send. A type the system lists\n"
          "but ens cannot use (a bad format or size) is marked with why.\n"
          "\n"
          "  SYSTEM              the name the system was started with\n"
          "  --json              one JSON document {\"types\": [...]}\n"
          "  --timeout MS        wait at most MS milliseconds for the admin (default 5000)\n"
          "  -h, --help          this text\n"
          "\n"
          "exit status: 0 success, 1 runtime error (no such system, no answer), 2 usage error\n",
          out);
}

/* One type as a line of tb. Its field names stay one comma-separated text,
 * as ens_msgtype.fields has them (null in JSON when it has none: a list
 * column would print an empty list as [null]). */
static bool add_type(struct libscols_table *tb, const type_entry *e)
{
    struct libscols_line *ln = scols_table_new_line(tb, NULL);
    char id[16];
    snprintf(id, sizeof(id), "0x%08" PRIx32, e->id);
    return ln != NULL && ens_tool_cell(tb, ln, 0, e->name) == 0 &&
           ens_tool_cell(tb, ln, 1, id) == 0 && ens_tool_cell(tb, ln, 2, e->format) == 0 &&
           ens_tool_cell_num(tb, ln, 3, e->size <= INT64_MAX ? (long long)e->size : -1) == 0 &&
           ens_tool_cell(tb, ln, 4, e->fields) == 0 &&
           ens_tool_cell(tb, ln, 5, e->codec != NULL ? "1" : "0") == 0 &&
           ens_tool_cell(tb, ln, 6, e->codec != NULL ? NULL : e->why) == 0;
}

int ens_tool_print_types(ens_system *s, const char *prog, const char *system, bool json,
                         uint32_t timeout_ms)
{
    ens_tool_typeset *tt = NULL;
    int rc = ens_tool_types_load(s, prog, system, timeout_ms, &tt);
    if (rc >= 0)
        return rc;
    struct libscols_table *tb = ens_tool_table("types", json);
    bool ok = tb != NULL && ens_tool_column(tb, "NAME", "name", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "ID", "id", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "FORMAT", "format", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "SIZE", "size", ENS_TOOL_NUMBER, true, false) == 0 &&
              ens_tool_column(tb, "FIELDS", "fields", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "USABLE", "usable", ENS_TOOL_BOOL, false, false) == 0 &&
              ens_tool_column(tb, "WHY NOT", "why", ENS_TOOL_TEXT, false, false) == 0;
    for (size_t i = 0; i < tt->n && ok; i++)
        ok = add_type(tb, &tt->e[i]);
    size_t n = tt->n;
    ens_tool_types_free(tt);
    if (!ok) {
        if (tb != NULL)
            scols_unref_table(tb);
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    if (!json)
        printf("system %s  types %zu\n", ens_tool_esc(system), n);
    int status = ens_tool_table_print(tb, prog);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "%s: cannot write the output: %s\n", prog, strerror(errno));
        status = 1;
    }
    return status;
}

static int usage_error(const char *what, const char *arg)
{
    return ens_tool_usage_error("ens types", what, arg);
}

int ens_tool_types(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    uint32_t timeout_ms = DEFAULT_TIMEOUT_MS;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            help_types(stdout);
            return 0;
        case 'j':
            json = true;
            break;
        case 't': {
            uint64_t v = 0;
            if (!ens_tool_parse_uint(optarg, 1, UINT32_MAX, &v))
                return usage_error("bad timeout '%s' (milliseconds, at least 1)", optarg);
            timeout_ms = (uint32_t)v;
            break;
        }
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind < 1)
        return usage_error("missing arguments: expected %s", "SYSTEM");
    if (argc - optind > 1)
        return usage_error("unexpected argument '%s'", argv[optind + 1]);
    const char *system = argv[optind];
    ens_system *s = NULL;
    int rc = ens_tool_connect("ens types", system, &s);
    if (rc >= 0)
        return rc;
    rc = ens_tool_print_types(s, "ens types", system, json, timeout_ms);
    ens_system_close(s, DEFAULT_TIMEOUT_MS);
    return rc;
}

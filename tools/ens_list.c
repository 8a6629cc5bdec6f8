/*
 * tools/ens_list.c - `ens list`: the running systems of this user, and the
 * list of their names that other commands print when a name is unknown.
 *
 * The names come from ens_system_list (a system that ended without
 * removing its socket is left out there); the rest from each system's
 * status: its admin, actors, start time, persistence and journal path.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ens_table.h"
#include "ens_tool.h"
#include "ensemble/error.h"
#include "ensemble/status.h"
#include "ensemble/system.h"

#define PROG       "ens list"
#define TIMEOUT_MS 5000u

static void help(FILE *out)
{
    fputs("usage: ens list [--json]\n"
          "\n"
          "List the running systems of this user on this host: each system's name, the\n"
          "process id of its admin, how many actors it has, how long it has run, whether\n"
          "it is persistent (outlives the program that started it) and its journal file\n"
          "(- for none). Sockets of systems that ended are skipped.\n"
          "\n"
          "  --json              a JSON document {\"systems\": [...]}, one object per system\n"
          "  -h, --help          this text\n"
          "\n"
          "exit status: 0 success (also when none runs), 2 usage error\n",
          out);
}

typedef struct name_list {
    char **names;
    size_t n, cap;
} name_list;

static int collect(const char *name, void *arg)
{
    name_list *l = arg;
    if (l->n == l->cap) {
        size_t c = l->cap == 0 ? 8 : 2 * l->cap;
        char **p = realloc(l->names, c * sizeof(*p));
        if (p == NULL)
            return ENS_ENOMEM;
        l->names = p;
        l->cap = c;
    }
    if ((l->names[l->n] = strdup(name)) == NULL)
        return ENS_ENOMEM;
    l->n++;
    return 0;
}

char **ens_tool_system_names(size_t *count)
{
    name_list l = {0};
    if (ens_system_list(collect, &l) < 0) {
        ens_tool_free_names(l.names, l.n);
        l.names = NULL;
        l.n = 0;
    }
    *count = l.n;
    return l.names;
}

void ens_tool_free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

void ens_tool_print_running(FILE *out)
{
    size_t n = 0;
    char **names = ens_tool_system_names(&n);
    if (n == 0) {
        fputs("no system of this user is running\n", out);
    } else {
        fputs("running:", out);
        for (size_t i = 0; i < n; i++)
            fprintf(out, " %s", ens_tool_esc(names[i]));
        fputs(" (see `ens list`)\n", out);
    }
    ens_tool_free_names(names, n);
}

static void format_uptime(double s, char *buf, size_t len)
{
    unsigned long long t = s < 0 ? 0 : (unsigned long long)s;
    if (s < 0)
        snprintf(buf, len, "-");
    else if (t < 60)
        snprintf(buf, len, "%llus", t);
    else if (t < 3600)
        snprintf(buf, len, "%llum%02llus", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, len, "%lluh%02llum", t / 3600, t / 60 % 60);
    else
        snprintf(buf, len, "%llud%02lluh", t / 86400, t / 3600 % 24);
}

/* ---- the command ---- */

/* One row for system `name`; false when it ended or would not answer
 * meanwhile (left out). */
static bool add_system(struct libscols_table *tb, const char *name, bool json, bool *oom)
{
    ens_system *s = NULL;
    if (ens_system_connect(name, &s) != 0)
        return false;
    ens_status *st = NULL;
    int rc = ens_system_status(s, TIMEOUT_MS, &st);
    ens_system_close(s, TIMEOUT_MS);
    if (rc != 0)
        return false;
    int admin = ens_status_admin_pid(st);
    size_t actors = ens_status_count(st);
    bool persistent = ens_status_persistent(st);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    double up = (double)(now_ms - ens_status_started_ms(st)) / 1000.0;
    if (up < 0)
        up = 0; /* the clock was set back */
    char upt[32];
    struct libscols_line *ln = scols_table_new_line(tb, NULL);
    bool ok = ln != NULL && ens_tool_cell(tb, ln, 0, name) == 0 &&
              ens_tool_cell_num(tb, ln, 1, admin) == 0 &&
              ens_tool_cell_num(tb, ln, 2, (long long)actors) == 0;
    if (json)
        ok = ok && (up < 0 || ens_tool_cell_num(tb, ln, 3, (long long)up) == 0) &&
             ens_tool_cell(tb, ln, 4, persistent ? "1" : "0") == 0;
    else {
        format_uptime(up, upt, sizeof(upt));
        ok = ok && ens_tool_cell(tb, ln, 3, upt) == 0 &&
             ens_tool_cell(tb, ln, 4, persistent ? "yes" : "no") == 0;
    }
    ok = ok && ens_tool_cell(tb, ln, 5, ens_status_journal(st)) == 0;
    ens_status_free(st);
    *oom = *oom || !ok;
    return true;
}

int ens_tool_list(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'h') {
            help(stdout);
            return 0;
        }
        if (c == 'j') {
            json = true;
            continue;
        }
        fprintf(stderr, PROG ": unknown option '%s'\n(try '" PROG " --help')\n",
                ens_tool_esc(argv[optind - 1]));
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n(try '" PROG " --help')\n",
                ens_tool_esc(argv[optind]));
        return 2;
    }
    size_t n = 0;
    char **names = ens_tool_system_names(&n);
    struct libscols_table *tb = ens_tool_table("systems", json);
    bool oom = tb == NULL;
    oom = oom || ens_tool_column(tb, "NAME", "name", ENS_TOOL_TEXT, false, false) != 0 ||
          ens_tool_column(tb, "PID", "admin_pid", ENS_TOOL_NUMBER, true, false) != 0 ||
          ens_tool_column(tb, "ACTORS", "actors", ENS_TOOL_NUMBER, true, false) != 0 ||
          ens_tool_column(tb, "UPTIME", "uptime_s", ENS_TOOL_NUMBER, true, false) != 0 ||
          ens_tool_column(tb, "PERSISTENT", "persistent", ENS_TOOL_BOOL, false, false) != 0 ||
          ens_tool_column(tb, "JOURNAL", "journal", ENS_TOOL_TEXT, false, false) != 0;
    size_t shown = 0;
    for (size_t i = 0; i < n && !oom; i++)
        shown += add_system(tb, names[i], json, &oom);
    ens_tool_free_names(names, n);
    if (oom) {
        if (tb != NULL)
            scols_unref_table(tb);
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    if (!json && shown == 0) {
        scols_unref_table(tb);
        printf("no system of this user is running\n");
        return 0;
    }
    int status = ens_tool_table_print(tb, PROG);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}

/*
 * tools/ens_journal_prune.c - `ens journal prune`: apply a retention limit
 * to a journal by hand (ens_journal_prune of ensemble/journal.h).
 *
 * The system's writer enforces its own limits as it writes; this is for a
 * journal whose system is not running, or to cut one shorter than its
 * limits now. It goes through the same writer code, so the counts the
 * count queries read stay right, and it may run beside a running system
 * (sqlite's locks order the two writers' transactions).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_tool.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"

#define PROG "ens journal prune"

static void help(FILE *out)
{
    fputs("usage: ens journal prune [--max-rows N] [--max-age DAYS] [--db PATH | SYSTEM]\n"
          "\n"
          "Delete the oldest rows of a failure journal now: every row beyond the newest N\n"
          "and every row older than DAYS days (a number, fractions allowed: 0.5 = 12 h).\n"
          "At least one limit must be given; 0 means no limit of that kind. The freed\n"
          "space goes back to the file system (journals created by this version).\n"
          "\n"
          "  SYSTEM            the system's name (default \"default\"): its journal at\n"
          "                    $XDG_STATE_HOME/ensemble/SYSTEM.db or\n"
          "                    ~/.local/state/ensemble/SYSTEM.db\n"
          "  --db PATH         the journal at PATH instead\n"
          "  -h, --help        this text\n"
          "\n"
          "Prints the number of rows deleted. Exit status: 0 done, 1 runtime error (no\n"
          "journal, not a journal, locked, I/O error), 2 usage error.\n",
          out);
}

static int usage_error(const char *fmt, const char *arg)
{
    return ens_tool_usage_error(PROG, fmt, arg);
}

enum { OPT_DB = 256, OPT_MAX_ROWS, OPT_MAX_AGE };

static const struct option options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"max-rows", required_argument, NULL, OPT_MAX_ROWS},
    {"max-age", required_argument, NULL, OPT_MAX_AGE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int ens_tool_journal_prune(int argc, char **argv)
{
    const char *db = NULL;
    uint64_t max_rows = 0;
    int64_t max_age_ms = 0;
    bool have_limit = false;
    opterr = 0;
    optind = 0; /* glibc: full re-initialisation */
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            help(stdout);
            return 0;
        case OPT_DB:
            db = optarg;
            break;
        case OPT_MAX_ROWS:
            if (!ens_tool_parse_uint(optarg, 0, UINT64_MAX, &max_rows))
                return usage_error("bad --max-rows '%s' (a number of rows, 0 = no limit)", optarg);
            have_limit = true;
            break;
        case OPT_MAX_AGE: {
            char *end = NULL;
            errno = 0;
            double d = strtod(optarg, &end);
            if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0 || d < 0 ||
                d > 1e6)
                return usage_error("bad --max-age '%s' (days, e.g. 90 or 0.5; 0 = no limit)",
                                   optarg);
            max_age_ms = (int64_t)(d * 86400000.0);
            if (d > 0 && max_age_ms == 0)
                max_age_ms = 1;
            have_limit = true;
            break;
        }
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    const char *system = NULL;
    int rc = ens_tool_system_operand(PROG, argc, argv, optind, db, &system);
    if (rc >= 0)
        return rc;
    if (!have_limit)
        return usage_error("%s", "give --max-rows or --max-age");
    char path_buf[4096];
    rc = ens_tool_journal_file(PROG, system, db, path_buf, sizeof(path_buf), &db);
    if (rc >= 0)
        return rc;
    uint64_t deleted = 0;
    char why[512] = "";
    rc = ens_journal_prune(db, max_rows, max_age_ms, &deleted, why, sizeof(why));
    if (rc != 0) {
        fprintf(stderr, PROG ": %s %s: %s\n", rc == ENS_ENOENT ? "no journal at" : "cannot prune",
                ens_tool_esc(db), ens_tool_esc(why[0] != '\0' ? why : ens_strerror(rc)));
        if (deleted > 0)
            fprintf(stderr, PROG ": %" PRIu64 " rows were deleted before the error\n", deleted);
        return 1;
    }
    printf("%" PRIu64 " rows deleted from %s\n", deleted, ens_tool_esc(db));
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

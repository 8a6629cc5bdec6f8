/*
 * tools/ens_args.c - what the subcommands read from their command lines
 * alike: numbers given as option values, the usage error that names the
 * subcommand's help, and the journal a SYSTEM operand or --db names. Each
 * subcommand parses its own options (getopt_long); these are the pieces
 * whose rules must not drift apart between them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ens_tool.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"

bool ens_tool_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    /* strtoull alone would take a sign, leading space or "0x"; a value is
     * digits only. */
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int ens_tool_usage_error(const char *prog, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, ens_tool_esc(arg));
    fprintf(stderr, "\n(try '%s --help')\n", prog);
    return 2;
}

int ens_tool_system_operand(const char *prog, int argc, char **argv, int first, const char *db,
                            const char **system)
{
    *system = first < argc ? argv[first++] : NULL;
    if (first < argc)
        return ens_tool_usage_error(prog, "unexpected argument '%s'", argv[first]);
    if (*system != NULL && db != NULL)
        return ens_tool_usage_error(prog, "give either SYSTEM or --db, not both (SYSTEM was '%s')",
                                    *system);
    return -1;
}

int ens_tool_journal_file(const char *prog, const char *system, const char *db, char *buf,
                          size_t len, const char **path)
{
    if (db != NULL) {
        *path = db;
        return -1;
    }
    int rc = ens_journal_default_path(system, buf, len);
    if (rc < 0) {
        if (system != NULL && (system[0] == '\0' || strchr(system, '/') != NULL))
            return ens_tool_usage_error(prog, "bad system name '%s' (use --db for a path)", system);
        fprintf(stderr, "%s: cannot find the journal: %s (HOME is not set? use --db)\n", prog,
                ens_strerror(rc));
        return 1;
    }
    *path = buf;
    return -1;
}

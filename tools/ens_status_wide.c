/*
 * tools/ens_status_wide.c - `ens status --convention NAME`: the actor tree
 * of every member of a convention, through ens_status_query_convention
 * (each member's gateway asks its admin). Needs no system on this host,
 * only the NATS server: --nats URL or ENSEMBLE_NATS_URL.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_tool.h"
#include "ensemble/error.h"
#include "ensemble/status.h"

#define PROG "ens status"

static int usage_error(const char *fmt, const char *arg)
{
    return ens_tool_usage_error(PROG, fmt, arg);
}

bool ens_tool_status_wide_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--nats", 6) == 0 || strncmp(argv[i], "--convention", 12) == 0)
            return true;
    }
    return false;
}

typedef struct wide_ctx {
    bool json;
    uint32_t timeout_ms;
    unsigned missing; /* members without a snapshot */
    int status;
} wide_ctx;

static void on_member(uint32_t node, const char *system, const char *host, const ens_status *st,
                      int status, const char *why, void *arg)
{
    wide_ctx *w = arg;
    if (st == NULL) {
        fprintf(stderr, PROG ": node %" PRIu32 " (system %s", node, ens_tool_esc(system));
        fprintf(stderr, " on host %s) ", ens_tool_esc(host));
        if (status == ENS_ETIMEDOUT)
            fprintf(stderr, "did not answer within %" PRIu32 " ms\n", w->timeout_ms);
        else
            fprintf(stderr, "gave no status: %s (%s)\n", ens_tool_esc(why), ens_err_name(status));
        w->missing++;
        return;
    }
    if (!w->json)
        printf("node %" PRIu32 "  host %s\n", node, ens_tool_esc(host));
    if (ens_tool_show_status(st, PROG, system, w->json, false, NULL, NULL) != 0)
        w->status = 1;
    if (!w->json)
        putchar('\n');
}

int ens_tool_status_wide(int argc, char **argv)
{
    const char *url = getenv("ENSEMBLE_NATS_URL");
    const char *conv = NULL;
    wide_ctx w = {.timeout_ms = 5000};
    static const struct option opts[] = {
        {"nats", required_argument, NULL, 'n'}, {"convention", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},       {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    optind = 0; /* glibc: full re-initialisation */
    opterr = 0;
    for (int o; (o = getopt_long(argc, argv, ":h", opts, NULL)) != -1;) {
        switch (o) {
        case 'n':
            url = optarg;
            break;
        case 'c':
            conv = optarg;
            break;
        case 'j':
            w.json = true;
            break;
        case 't': {
            uint64_t v = 0;
            if (!ens_tool_parse_uint(optarg, 1, 3600000, &v))
                return usage_error("bad --timeout '%s' (milliseconds, 1 to 3600000)", optarg);
            w.timeout_ms = (uint32_t)v;
            break;
        }
        case 'h':
            return ens_tool_status(2, (char *[]){"status", "--help", NULL});
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s' (no SYSTEM with --convention)", argv[optind]);
    if (url == NULL || url[0] == '\0')
        return usage_error("%s", "no NATS server: give --nats URL or set ENSEMBLE_NATS_URL");
    if (conv == NULL || conv[0] == '\0')
        return usage_error("%s", "no convention: give --convention NAME");
    int rc = ens_status_query_convention(url, conv, w.timeout_ms, on_member, &w);
    if (rc == ENS_EINVAL)
        return usage_error("bad convention name '%s' (1-64 bytes, no '.', '*', '>' or space)",
                           conv);
    if (rc == ENS_ENOENT) {
        fprintf(stderr, PROG ": no convention %s on %s (no members bucket)\n", ens_tool_esc(conv),
                ens_tool_esc(url));
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot ask the members of %s on %s: %s\n", ens_tool_esc(conv),
                ens_tool_esc(url), ens_strerror(rc));
        return 1;
    }
    int status = w.status != 0 || w.missing > 0 ? 1 : 0;
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}

/*
 * tools/ens_members.c - `ens members`: the members of a convention, read
 * straight from its JetStream key-value bucket "ens-<convention>-members"
 * (core/process/gateway/gateway_members.h describes a record). It needs no
 * system on this host, only the NATS server: --nats URL or
 * ENSEMBLE_NATS_URL, and the convention's name.
 *
 * A member is "live" while its record is younger than its down_after_ms
 * (it puts the record every half of that; the server's time stamp against this host's clock), else
 * "unreachable" (its system went without deleting its record; the bucket forgets such records after
 * ENS_CONVENTION_RECORD_TTL_S). A member that stopped in order deleted its record and is not
 * listed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ens_bucket.h"
#include "ens_tool.h"
#include "ensemble/convention.h"

#define PROG "ens members"

static void usage(FILE *out)
{
    fputs("usage: ens members [--nats URL] [--convention NAME] [--json] [--timeout MS]\n"
          "\n"
          "List the members of a convention (systems sharing a NATS cluster and a\n"
          "convention name), read from its members bucket on the NATS server.\n"
          "\n"
          "  --nats URL          the NATS server(s), nats://host:port[,...]; default:\n"
          "                      $ENSEMBLE_NATS_URL\n"
          "  --convention NAME   the convention; default: $ENSEMBLE_CONVENTION\n"
          "  --json              one JSON object per member per line (no header)\n"
          "  --timeout MS        how long to wait for the server (default 5000)\n"
          "  -h, --help          this text\n"
          "\n"
          "A member is live while its record is younger than its down_after_ms\n"
          "(it puts it every half of that), unreachable after. Exit status: 0 listed,\n"
          "1 runtime error, 2 usage error.\n",
          out);
}

static void json_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const char *key, const char *record, const char *state)
{
    char buf[1024];
    printf("{\"node\":%s,\"system\":", key);
    ens_tool_record_field(record, "system", buf, sizeof(buf));
    json_str(buf, strlen(buf));
    fputs(",\"host\":", stdout);
    ens_tool_record_field(record, "host", buf, sizeof(buf));
    json_str(buf, strlen(buf));
    printf(",\"pid\":%lld", atoll(ens_tool_record_field(record, "pid", buf, sizeof(buf))));
    fputs(",\"version\":", stdout);
    ens_tool_record_field(record, "version", buf, sizeof(buf));
    json_str(buf, strlen(buf));
    printf(",\"started_ms\":%lld",
           atoll(ens_tool_record_field(record, "started", buf, sizeof(buf))));
    printf(",\"heartbeat_ms\":%lld",
           atoll(ens_tool_record_field(record, "heartbeat_ms", buf, sizeof(buf))));
    printf(",\"state\":\"%s\",\"capabilities\":{", state);
    bool first = true;
    for (const char *line = record; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *eq = memchr(line, '=', n);
        if (n > 4 && memcmp(line, "cap.", 4) == 0 && eq != NULL) {
            if (!first)
                putchar(',');
            first = false;
            json_str(line + 4, (size_t)(eq - line - 4));
            putchar(':');
            json_str(eq + 1, n - (size_t)(eq + 1 - line));
        }
        line += n;
        if (*line == '\n')
            line++;
    }
    puts("}}");
}

static void print_text(const char *key, const char *record, const char *state)
{
    char sys[256], host[256], pid[32];
    ens_tool_record_field(record, "system", sys, sizeof(sys));
    ens_tool_record_field(record, "host", host, sizeof(host));
    ens_tool_record_field(record, "pid", pid, sizeof(pid));
    printf("%-10s %-24s %-20s %-8s %s\n", key, ens_tool_esc(sys), ens_tool_esc(host), pid, state);
}

int ens_tool_members(int argc, char **argv)
{
    ens_tool_bucket_args args;
    int rc = ens_tool_bucket_args_read(&args, argc, argv, PROG, usage, NULL);
    if (rc >= 0)
        return rc;
    const char *url = args.url, *conv = args.conv;
    bool json = args.json;
    long timeout = args.timeout_ms;
    char bucket[128];
    snprintf(bucket, sizeof(bucket), "ens-%s-members", conv);
    ens_tool_bucket b;
    rc = ens_tool_bucket_open(&b, PROG, url, bucket, timeout);
    if (rc == ENS_TOOL_BUCKET_MISSING)
        fprintf(stderr, PROG ": convention %s has no members (no bucket %s)\n", ens_tool_esc(conv),
                ens_tool_esc(bucket));
    if (rc != 0) {
        ens_tool_bucket_close(&b);
        return 1;
    }
    if (!json)
        printf("%-10s %-24s %-20s %-8s %s\n", "NODE", "SYSTEM", "HOST", "PID", "STATE");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    for (size_t i = 0; i < b.count; i++) {
        int len = 0;
        int64_t created = 0;
        char *record = ens_tool_bucket_get(&b, b.keys[i], &len, &created);
        if (record == NULL)
            continue; /* deleted meanwhile */
        /* A live member puts its record every half of its down_after_ms. */
        char hb[32], da[32];
        long long beat = atoll(ens_tool_record_field(record, "heartbeat_ms", hb, sizeof(hb)));
        long long down = atoll(ens_tool_record_field(record, "down_after_ms", da, sizeof(da)));
        if (beat <= 0)
            beat = ENS_CONVENTION_HEARTBEAT_MS;
        if (down <= 0)
            down =
                beat * 4 > ENS_CONVENTION_DOWN_AFTER_MS ? beat * 4 : ENS_CONVENTION_DOWN_AFTER_MS;
        int64_t age_ns = now_ns - created;
        const char *state = age_ns > down * 1000000 ? "unreachable" : "live";
        if (json)
            print_json(b.keys[i], record, state);
        else
            print_text(b.keys[i], record, state);
        free(record);
    }
    ens_tool_bucket_close(&b);
    fflush(stdout);
    return 0;
}

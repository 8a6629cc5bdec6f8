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
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ens_bucket.h"
#include "ens_table.h"
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
          "  --json              a JSON document {\"members\": [...]}, one object per\n"
          "                      member (capabilities as \"KEY=VALUE\" strings)\n"
          "  --timeout MS        how long to wait for the server (default 5000)\n"
          "  -h, --help          this text\n"
          "\n"
          "A member is live while its record is younger than its down_after_ms\n"
          "(it puts it every half of that), unreachable after. Exit status: 0 listed,\n"
          "1 runtime error, 2 usage error.\n",
          out);
}

/* The capabilities of a record ("cap.KEY=VALUE" lines) as "KEY=VALUE"
 * lines, into out (malloc'd; NULL: no memory). */
static char *capabilities(const char *record)
{
    size_t len = strlen(record) + 1, k = 0;
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    for (const char *line = record; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (n > 4 && memcmp(line, "cap.", 4) == 0 && memchr(line, '=', n) != NULL) {
            if (k > 0)
                out[k++] = '\n';
            memcpy(out + k, line + 4, n - 4);
            k += n - 4;
        }
        line += n;
        if (*line == '\n')
            line++;
    }
    out[k] = '\0';
    return out;
}

/* The columns: the terminal shows NODE SYSTEM HOST PID STATE; JSON has
 * every field of the record under a stable key. */
enum { C_NODE, C_SYSTEM, C_HOST, C_PID, C_STATE, C_VERSION, C_STARTED, C_HEARTBEAT, C_CAPS };

static bool columns(struct libscols_table *tb, bool json)
{
    bool ok = ens_tool_column(tb, "NODE", "node", ENS_TOOL_NUMBER, false, false) == 0 &&
              ens_tool_column(tb, "SYSTEM", "system", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "HOST", "host", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "PID", "pid", ENS_TOOL_NUMBER, true, false) == 0 &&
              ens_tool_column(tb, "STATE", "state", ENS_TOOL_TEXT, false, false) == 0;
    if (json)
        ok = ok && ens_tool_column(tb, "VERSION", "version", ENS_TOOL_TEXT, false, false) == 0 &&
             ens_tool_column(tb, "STARTED", "started_ms", ENS_TOOL_NUMBER, true, false) == 0 &&
             ens_tool_column(tb, "HEARTBEAT", "heartbeat_ms", ENS_TOOL_NUMBER, true, false) == 0 &&
             ens_tool_column(tb, "CAPABILITIES", "capabilities", ENS_TOOL_LIST, false, false) == 0;
    return ok;
}

/* One member's row; false: no memory. */
static bool add_row(struct libscols_table *tb, bool json, const char *key, const char *record,
                    const char *state)
{
    char buf[1024];
    struct libscols_line *ln = scols_table_new_line(tb, NULL);
    bool ok =
        ln != NULL && ens_tool_cell_num(tb, ln, C_NODE, atoll(key)) == 0 &&
        ens_tool_cell(tb, ln, C_SYSTEM,
                      ens_tool_record_field(record, "system", buf, sizeof(buf))) == 0 &&
        ens_tool_cell(tb, ln, C_HOST, ens_tool_record_field(record, "host", buf, sizeof(buf))) ==
            0 &&
        ens_tool_cell_num(tb, ln, C_PID,
                          atoll(ens_tool_record_field(record, "pid", buf, sizeof(buf)))) == 0 &&
        ens_tool_cell(tb, ln, C_STATE, state) == 0;
    if (!ok || !json)
        return ok;
    char *caps = capabilities(record);
    ok =
        caps != NULL &&
        ens_tool_cell(tb, ln, C_VERSION,
                      ens_tool_record_field(record, "version", buf, sizeof(buf))) == 0 &&
        ens_tool_cell_num(tb, ln, C_STARTED,
                          atoll(ens_tool_record_field(record, "started", buf, sizeof(buf)))) == 0 &&
        ens_tool_cell_num(tb, ln, C_HEARTBEAT,
                          atoll(ens_tool_record_field(record, "heartbeat_ms", buf, sizeof(buf)))) ==
            0 &&
        ens_tool_cell(tb, ln, C_CAPS, caps) == 0;
    free(caps);
    return ok;
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
    struct libscols_table *tb = ens_tool_table("members", json);
    bool ok = tb != NULL && columns(tb, json);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    for (size_t i = 0; i < b.count && ok; i++) {
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
        ok = add_row(tb, json, b.keys[i], record, state);
        free(record);
    }
    ens_tool_bucket_close(&b);
    if (!ok) {
        if (tb != NULL)
            scols_unref_table(tb);
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    int status = ens_tool_table_print(tb, PROG);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}

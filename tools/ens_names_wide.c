/*
 * tools/ens_names_wide.c - `ens names --nats URL --convention NAME`: the
 * convention-wide global names, read straight from the JetStream
 * key-value bucket "ens-<convention>-names" (ensemble/registry.h;
 * core/process/gateway/gateway_names.c writes it). Like `ens members`, it
 * needs no system on this host, only the NATS server.
 *
 * A key is the name, or with every '.' written "=2E" when the name is not
 * a valid key as it stands; the value is the holder's address as
 * ens_addr_format writes it (ens:NODE/ID). The system of the holder's node
 * comes from the members bucket (the member's record under its node id),
 * "-" when it has none (the system is gone, or stopped following). An
 * entry that is not an address, as only another program could write it,
 * is listed as such: the systems refuse it too. A key that stands for no
 * name is not listed (a line on stderr says so).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_bucket.h"
#include "ens_table.h"
#include "ens_tool.h"
#include "ensemble/addr.h"
#include "ensemble/registry.h"

#define PROG "ens names"

static int usage_error(const char *fmt, const char *arg)
{
    return ens_tool_usage_error(PROG, fmt, arg);
}

/* As core/system.c accepts it: 1-64 of A-Z a-z 0-9 _ -. */
static bool convention_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

/* The name key stands for, or false. */
static bool name_of(const char *key, char *name, size_t len)
{
    size_t k = 0;
    for (const char *p = key; *p != '\0'; p++) {
        if (k + 1 >= len)
            return false;
        if (*p == '=') {
            if (strncmp(p, "=2E", 3) != 0)
                return false;
            name[k++] = '.';
            p += 2;
        } else {
            name[k++] = *p;
        }
    }
    name[k] = '\0';
    return ens_name_valid(name);
}

/* The system name in a member's record ("system=..." line), into out. */
static const char *member_system(ens_tool_bucket *members, uint32_t node, char *out, size_t len)
{
    char key[16];
    snprintf(key, sizeof(key), "%" PRIu32, node);
    int n = 0;
    char *record = members->kv != NULL ? ens_tool_bucket_get(members, key, &n, NULL) : NULL;
    if (ens_tool_record_field(record != NULL ? record : "", "system", out, len)[0] == '\0')
        snprintf(out, len, "-");
    free(record);
    return out;
}

static void help(FILE *out)
{
    fputs("usage: ens names --nats URL --convention NAME [--json] [--timeout MS]\n"
          "       ens names SYSTEM [--json] [--timeout MS]   (one system: ens names --help)\n"
          "\n"
          "List the convention-wide global names of a convention, read from its names\n"
          "bucket on the NATS server (no system on this host needed): each name with the\n"
          "address of the actor that holds it, its node and the system of that node\n"
          "(from the members bucket; - if none). Sorted by name; the first line says how\n"
          "many there are.\n"
          "\n"
          "  --nats URL          the NATS server(s), nats://host:port[,...]; default:\n"
          "                      $ENSEMBLE_NATS_URL\n"
          "  --convention NAME   the convention; default: $ENSEMBLE_CONVENTION\n"
          "  --json              a JSON document {\"names\": [...]}, one object per name\n"
          "                      (no header line)\n"
          "  --timeout MS        how long to wait for the server (default 5000)\n"
          "\n"
          "An entry that is not an address (written by another program; the systems\n"
          "refuse it) is listed with the address \"(not an address)\".\n"
          "exit status: 0 listed, 1 runtime error (no server, no such convention),\n"
          "2 usage error\n",
          out);
}

bool ens_tool_names_wide_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--nats", 6) == 0 || strncmp(argv[i], "--convention", 12) == 0)
            return true;
    }
    return false;
}

int ens_tool_names_wide(int argc, char **argv)
{
    ens_tool_bucket_args args;
    int rc = ens_tool_bucket_args_read(&args, argc, argv, PROG, help,
                                       "a SYSTEM is not given with --nats or --convention");
    if (rc >= 0)
        return rc;
    const char *url = args.url, *conv = args.conv;
    bool json = args.json;
    long timeout = args.timeout_ms;
    if (!convention_ok(conv))
        return usage_error("bad convention name '%s' (1-64 of A-Z a-z 0-9 _ -)", conv);

    char bucket[96], members_bucket[96];
    snprintf(bucket, sizeof(bucket), "ens-%s-names", conv);
    snprintf(members_bucket, sizeof(members_bucket), "ens-%s-members", conv);
    ens_tool_bucket b, m;
    memset(&m, 0, sizeof(m));
    rc = ens_tool_bucket_open(&b, PROG, url, bucket, timeout);
    if (rc == ENS_TOOL_BUCKET_MISSING)
        fprintf(stderr,
                PROG ": convention %s has no names bucket (%s): no system of it has run "
                     "on this server\n",
                ens_tool_esc(conv), bucket);
    if (rc == 0 &&
        ens_tool_bucket_open(&m, PROG, url, members_bucket, timeout) == ENS_TOOL_BUCKET_ERROR) {
        rc = ENS_TOOL_BUCKET_ERROR;
    }
    if (rc != 0) {
        ens_tool_bucket_close(&m);
        ens_tool_bucket_close(&b);
        return 1;
    }
    /* Read first, print after: the header carries the count. */
    typedef struct row {
        char name[ENS_NAME_MAX + 1];
        char *value;
    } row;
    row *rows = calloc(b.count > 0 ? b.count : 1, sizeof(*rows));
    size_t n = 0;
    if (rows == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        ens_tool_bucket_close(&m);
        ens_tool_bucket_close(&b);
        return 1;
    }
    for (size_t i = 0; i < b.count; i++) {
        if (!name_of(b.keys[i], rows[n].name, sizeof(rows[n].name))) {
            fprintf(stderr, PROG ": key %s of bucket %s stands for no name: not listed\n",
                    ens_tool_esc(b.keys[i]), bucket);
            continue;
        }
        int len = 0;
        rows[n].value = ens_tool_bucket_get(&b, b.keys[i], &len, NULL);
        if (rows[n].value != NULL) /* else deleted meanwhile */
            n++;
    }
    /* Keys sort as keys; "=2E" can put a name out of order. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(rows[j - 1].name, rows[j].name) > 0; j--) {
            row t = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = t;
        }
    if (!json)
        printf("convention %s  names %zu\n", conv, n);
    /* Every object has the same keys: address, node and system null for
     * an entry that is not an address, whose text is under "entry" (null
     * for the others). */
    struct libscols_table *tb = ens_tool_table("names", json);
    bool ok = tb != NULL &&
              (!json ||
               ens_tool_column(tb, "CONVENTION", "convention", ENS_TOOL_TEXT, false, false) == 0) &&
              ens_tool_column(tb, "NAME", "name", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "ADDRESS", "address", ENS_TOOL_TEXT, false, false) == 0 &&
              ens_tool_column(tb, "NODE", "node", ENS_TOOL_NUMBER, true, false) == 0 &&
              ens_tool_column(tb, "SYSTEM", "system", ENS_TOOL_TEXT, false, false) == 0 &&
              (!json || ens_tool_column(tb, "ENTRY", "entry", ENS_TOOL_TEXT, false, false) == 0);
    size_t c0 = json ? 1 : 0; /* the column of the name */
    for (size_t i = 0; i < n && ok; i++) {
        ens_addr a;
        bool is_addr = ens_addr_parse(rows[i].value, &a) == 0 && a.node != 0;
        char sys[256];
        struct libscols_line *ln = scols_table_new_line(tb, NULL);
        ok = ln != NULL && (!json || ens_tool_cell(tb, ln, 0, conv) == 0) &&
             ens_tool_cell(tb, ln, c0, rows[i].name) == 0;
        if (ok && is_addr) {
            member_system(&m, a.node, sys, sizeof(sys));
            ok = ens_tool_cell(tb, ln, c0 + 1, rows[i].value) == 0 &&
                 ens_tool_cell_num(tb, ln, c0 + 2, a.node) == 0 &&
                 ens_tool_cell(tb, ln, c0 + 3, strcmp(sys, "-") == 0 ? NULL : sys) == 0;
        } else if (ok) {
            ok = ens_tool_cell(tb, ln, c0 + 1, json ? NULL : "(not an address)") == 0 &&
                 (!json || ens_tool_cell(tb, ln, c0 + 4, rows[i].value) == 0);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(rows[i].value);
    free(rows);
    ens_tool_bucket_close(&m);
    ens_tool_bucket_close(&b);
    if (!ok) {
        if (tb != NULL)
            scols_unref_table(tb);
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    if (!json && n == 0) { /* the header line says there are none */
        scols_unref_table(tb);
        tb = NULL;
    }
    int status = tb != NULL ? ens_tool_table_print(tb, PROG) : 0;
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}

/*
 * tools/ens_bucket.c - reading a convention's key-value bucket from the
 * NATS server (tools/ens_bucket.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ens_bucket.h"
#include "ens_tool.h"

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int ens_tool_bucket_open(ens_tool_bucket *b, const char *prog, const char *url, const char *bucket,
                         long timeout_ms)
{
    memset(b, 0, sizeof(*b));
    /* natsOptions_SetURL takes one URL only: a list is split into servers. */
    char list[1024];
    const char *servers[16];
    int count = 0;
    snprintf(list, sizeof(list), "%s", url);
    for (char *save = NULL, *u = strtok_r(list, ", ", &save); u != NULL && count < 16;
         u = strtok_r(NULL, ", ", &save))
        servers[count++] = u;
    natsStatus st = natsOptions_Create(&b->opts);
    if (st == NATS_OK)
        st = count > 0 ? natsOptions_SetServers(b->opts, servers, count) : NATS_INVALID_ARG;
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(b->opts, timeout_ms);
    if (st == NATS_OK)
        st = natsConnection_Connect(&b->nc, b->opts);
    if (st != NATS_OK) {
        fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, ens_tool_esc(url),
                natsStatus_GetText(st));
        return ENS_TOOL_BUCKET_ERROR;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = timeout_ms;
    st = natsConnection_JetStream(&b->js, b->nc, &jo);
    if (st == NATS_OK)
        st = js_KeyValue(&b->kv, b->js, bucket);
    if (st == NATS_NOT_FOUND)
        return ENS_TOOL_BUCKET_MISSING;
    char stream[160], filter[160];
    snprintf(stream, sizeof(stream), "KV_%s", bucket);
    snprintf(filter, sizeof(filter), "$KV.%s.>", bucket);
    jsOptions so;
    jsOptions_Init(&so);
    so.Wait = timeout_ms;
    so.Stream.Info.SubjectsFilter = filter;
    jsErrCode jerr = 0;
    if (st == NATS_OK)
        st = js_GetStreamInfo(&b->info, b->js, stream, &so, &jerr);
    if (st != NATS_OK) {
        fprintf(stderr, "%s: the bucket %s: %s\n", prog, ens_tool_esc(bucket),
                natsStatus_GetText(st));
        return ENS_TOOL_BUCKET_ERROR;
    }
    size_t prefix = strlen(filter) - 1;
    int n = b->info->State.Subjects != NULL ? b->info->State.Subjects->Count : 0;
    b->keys = calloc(n > 0 ? (size_t)n : 1, sizeof(*b->keys));
    if (b->keys == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return ENS_TOOL_BUCKET_ERROR;
    }
    for (int i = 0; i < n; i++) {
        const char *subject = b->info->State.Subjects->List[i].Subject;
        if (subject != NULL && strlen(subject) > prefix)
            b->keys[b->count++] = subject + prefix;
    }
    qsort(b->keys, b->count, sizeof(*b->keys), key_cmp);
    return 0;
}

char *ens_tool_bucket_get(ens_tool_bucket *b, const char *key, int *len, int64_t *created_ns)
{
    kvEntry *e = NULL;
    if (b->kv == NULL || kvStore_Get(&e, b->kv, key) != NATS_OK)
        return NULL;
    int n = kvEntry_ValueLen(e);
    if (n < 0)
        n = 0;
    char *value = malloc((size_t)n + 1);
    if (value != NULL) {
        if (n > 0)
            memcpy(value, kvEntry_Value(e), (size_t)n);
        value[n] = '\0';
        *len = n;
        if (created_ns != NULL)
            *created_ns = kvEntry_Created(e);
    }
    kvEntry_Destroy(e);
    return value;
}

void ens_tool_bucket_close(ens_tool_bucket *b)
{
    free(b->keys);
    if (b->info != NULL)
        jsStreamInfo_Destroy(b->info);
    if (b->kv != NULL)
        kvStore_Destroy(b->kv);
    if (b->js != NULL)
        jsCtx_Destroy(b->js);
    if (b->nc != NULL)
        natsConnection_Destroy(b->nc);
    if (b->opts != NULL)
        natsOptions_Destroy(b->opts);
    memset(b, 0, sizeof(*b));
}

static int usage_error(const char *prog, const char *what, const char *arg, const char *why)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, what, ens_tool_esc(arg));
    if (why != NULL)
        fprintf(stderr, " (%s)", why);
    fprintf(stderr, "\n(try '%s --help')\n", prog);
    return 2;
}

int ens_tool_bucket_args_read(ens_tool_bucket_args *a, int argc, char **argv, const char *prog,
                              void (*help)(FILE *out), const char *why_no_args)
{
    *a = (ens_tool_bucket_args){getenv("ENSEMBLE_NATS_URL"), getenv("ENSEMBLE_CONVENTION"), false,
                                5000};
    static const struct option opts[] = {
        {"nats", required_argument, NULL, 'n'}, {"convention", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},       {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    optind = 0; /* glibc: full re-initialisation (the shell runs commands in turn) */
    opterr = 0;
    for (int o; (o = getopt_long(argc, argv, ":h", opts, NULL)) != -1;) {
        char *end = NULL;
        switch (o) {
        case 'n':
            a->url = optarg;
            break;
        case 'c':
            a->conv = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 't':
            a->timeout_ms = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || a->timeout_ms <= 0 || a->timeout_ms > 3600000)
                return usage_error(prog, "bad --timeout '%s' (milliseconds, at least 1)", optarg,
                                   NULL);
            break;
        case 'h':
            help(stdout);
            return 0;
        case ':':
            return usage_error(prog, "option '%s' needs a value", argv[optind - 1], NULL);
        default:
            return usage_error(prog, "unknown option '%s'", argv[optind - 1], NULL);
        }
    }
    if (optind < argc)
        return usage_error(prog, "unexpected argument '%s'", argv[optind], why_no_args);
    if (a->url == NULL || a->url[0] == '\0')
        return usage_error(prog, "%s", "no NATS server: give --nats URL or set ENSEMBLE_NATS_URL",
                           NULL);
    if (a->conv == NULL || a->conv[0] == '\0')
        return usage_error(
            prog, "%s", "no convention: give --convention NAME or set ENSEMBLE_CONVENTION", NULL);
    return -1;
}

const char *ens_tool_record_field(const char *record, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *line = record; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (n > klen && line[klen] == '=' && memcmp(line, key, klen) == 0) {
            size_t v = n - klen - 1 < len - 1 ? n - klen - 1 : len - 1;
            memcpy(out, line + klen + 1, v);
            out[v] = '\0';
            break;
        }
        line += n;
        if (*line == '\n')
            line++;
    }
    return out;
}

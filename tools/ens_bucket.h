/*
 * tools/ens_bucket.h - reading a convention's JetStream key-value bucket
 * straight from the NATS server, for `ens members` and `ens names --nats`
 * (no system on this host needed). Internal to the tool.
 *
 * The keys come from the bucket's stream (its subjects, with a subjects
 * filter), not from kvStore_Keys: that uses libnats's watch, which the
 * gateway avoids too. A key listed may have been deleted since (its last
 * entry a delete marker): kvStore_Get then answers NATS_NOT_FOUND.
 */
#ifndef ENS_TOOL_BUCKET_H
#define ENS_TOOL_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <nats/nats.h>

typedef struct ens_tool_bucket {
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    jsStreamInfo *info;
    const char **keys; /* sorted; point into info */
    size_t count;
} ens_tool_bucket;

/* What ens_tool_bucket_open says besides 0. */
enum { ENS_TOOL_BUCKET_ERROR = 1, ENS_TOOL_BUCKET_MISSING = 3 };

/* Connect to url (one server or a comma-separated list), waiting at most
 * timeout_ms, and read the keys of bucket. Returns 0; or
 * ENS_TOOL_BUCKET_ERROR after printing why ("PROG: cannot connect to URL:
 * ...", out of memory, the server's error); or ENS_TOOL_BUCKET_MISSING,
 * printing nothing, when the server has no such bucket. Whatever it
 * returns, ens_tool_bucket_close(b) frees what was opened. */
int ens_tool_bucket_open(ens_tool_bucket *b, const char *prog, const char *url, const char *bucket,
                         long timeout_ms);

/* The value of key in the open bucket b, as a NUL-terminated copy the
 * caller frees (*len its length), or NULL: no such key (deleted meanwhile)
 * or out of memory. created_ns (may be NULL): the entry's time stamp. */
char *ens_tool_bucket_get(ens_tool_bucket *b, const char *key, int *len, int64_t *created_ns);

void ens_tool_bucket_close(ens_tool_bucket *b);

/* What a command that lists a bucket is given. */
typedef struct ens_tool_bucket_args {
    const char *url;  /* --nats, default $ENSEMBLE_NATS_URL */
    const char *conv; /* --convention, default $ENSEMBLE_CONVENTION */
    bool json;        /* --json */
    long timeout_ms;  /* --timeout MS, default 5000 */
} ens_tool_bucket_args;

/* Read argv's options --nats URL, --convention NAME, --json, --timeout MS
 * and --help (-h) into a. Returns -1 when a holds a server and a
 * convention and no argument is left over; else the exit status after
 * printing: 0 for --help (help(stdout)), 2 for a usage error ("PROG: what
 * is wrong" and "(try 'PROG --help')" on stderr; an argument left over is
 * "unexpected argument 'ARG' (why_no_args)", the parenthesis only when
 * why_no_args is not NULL). */
int ens_tool_bucket_args_read(ens_tool_bucket_args *a, int argc, char **argv, const char *prog,
                              void (*help)(FILE *out), const char *why_no_args);

/* The value of record's line "key=VALUE" (a member's record: one
 * key=value a line), copied into out (len bytes, cut to fit); "" if it has
 * no such line. Returns out. */
const char *ens_tool_record_field(const char *record, const char *key, char *out, size_t len);

#endif

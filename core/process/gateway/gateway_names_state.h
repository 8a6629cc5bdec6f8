/*
 * core/process/gateway/gateway_names_state.h - what the names module's two
 * files share: its state and the helpers each calls in the other. Internal
 * to the gateway (gateway_names.c: the bucket, claims, releases, the
 * follower; gateway_names_purge.c: removing the names of a lost node).
 */
#ifndef ENS_GATEWAY_NAMES_STATE_H
#define ENS_GATEWAY_NAMES_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_kvseen.h"
#include "core/process/gateway/gateway_names.h"
#include "ensemble/registry.h"

#define KEY_MAX        (3 * ENS_NAME_MAX + 1)
#define VALUE_MAX      64 /* an address's text is shorter; a longer value is garbage */
#define RETRY_EVERY_NS 500000000ull
#define JS_WAIT_MAX_MS 5000
#define JS_WAIT_MIN_MS 200
#define FOLLOW_POLL_MS 250
#define BEHIND_MAX_NS  30000000000ull
#define PURGE_EVERY_NS 2000000000ull
#define PURGE_PENDING  64
#define KV_OP_HEADER   "KV-Operation"
#define KV_OP_DELETE   "DEL"
#define KV_OP_PURGE    "PURGE"
/* JetStream's error codes that libnats 3.4.1's nats.h does not name: */
#define JS_NO_MESSAGE     10037 /* no message found */
#define JS_UNAVAILABLE    10008 /* JetStream system temporarily unavailable */
#define JS_NOT_LEADER     10074 /* JetStream cluster can not handle request */
#define JS_STREAM_OFFLINE 10118 /* stream is offline */

/* An entry the follower saw, waiting for the loop. */
typedef struct wentry {
    struct wentry *next;
    int32_t op; /* ENS_GWNAME_SEEN or ENS_GWNAME_GONE */
    uint64_t rev;
    uint32_t purged; /* GONE: removed as the names of this lost node (0: otherwise) */
    char key[KEY_MAX + 1];
    char value[VALUE_MAX];
    int len; /* the value's bytes (copied only up to VALUE_MAX) */
} wentry;

/* A release not done yet (NATS unreachable): tried again by the tick. */
typedef struct kept {
    struct kept *next;
    ens__ctl_gwname_v v; /* name owned */
    uint64_t corr;
} kept;

struct ens_gw_names {
    ens_system *sys;
    ens_gw_nats *nats;
    int ctl;
    ens_addr self;
    int wake_fd;
    char bucket[96];
    char prefix[112];      /* "$KV.<bucket>." */
    char live_prefix[112]; /* "ens-kv.<bucket>.": the bucket's entries, republished */
    jsCtx *js;             /* the loop's */
    jsCtx *follow_js;      /* the follower's */
    kvStore *kv;
    natsSubscription *live;
    pthread_t thread;
    bool thread_on;
    atomic_bool stop;
    pthread_mutex_t lock; /* the follower's queue */
    wentry *head, *tail;
    /* the follower's own: */
    ens_gw_kv_seen *seen;   /* the newest sequence passed on per key */
    uint64_t read_max;      /* the newest sequence the current read delivered */
    uint64_t behind_since;  /* reads served by a copy behind the stream since then (0: none) */
    int64_t stream_created; /* the stream's creation time as last answered (0: not yet) */
    bool reread;            /* the bucket was read before: removals are passed on too */
    atomic_bool read_again; /* asked by the loop (a member back from unreachable) */
    kept *kept;
    uint64_t retry_at;
    /* lost nodes whose names could not all be removed yet (the bucket had
     * no leader: it was on the far side of the cut), tried again */
    uint32_t purge_pending[PURGE_PENDING];
    size_t n_purge;
    uint64_t purge_at;
};

/* The name a key stands for, or false (not a key this module writes). */
bool ens__gw_name_of(const char *key, char *name, size_t len);

/* How long a JetStream request may wait: half the call timeout, bounded. */
int64_t ens__gw_js_wait_ms(const ens_system *s);

/* Open the bucket and start following it (once). 0, or an error with the
 * reason logged. */
int ens__gw_names_bucket_open(ens_gw_names *n);

/* Delete key (of name) only if its last revision is rev: 0 done or moot
 * (the key moved on: another claim, left alone), ENS_EUNREACHABLE, or
 * another error (logged). lost: the node judged lost whose name this is
 * (the marker says so), 0 for a release. */
int ens__gw_names_delete_at(ens_gw_names *n, const char *name, const char *key, uint64_t rev,
                            uint32_t lost);

/* The lost nodes whose names are not all removed yet, tried again when
 * due (the loop's tick). */
void ens__gw_names_purge_retry(ens_gw_names *n);

#endif

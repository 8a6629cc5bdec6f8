/*
 * core/process/gateway/gateway_names.c - global names across hosts, the
 * gateway's half (gateway_names.h).
 *
 * The bucket holds one key per name. A name that is not a valid key as it
 * stands (".." in it, or a trailing '.') is stored with every '.' written
 * "=2E": '=' never occurs in a name, so the two spellings never meet.
 * A claim is kvStore_Create (the server stores it only if the key has no
 * value, atomically in the cluster); a key whose value is taken is read
 * back so the claimer learns the holder. A release publishes the delete
 * marker itself with the expected last revision of the key (libnats 3.4.1
 * has no delete with a revision check; the server refuses a marker whose
 * expectation fails with JSStreamWrongLastSequenceErr): a later claim by
 * another system is never deleted by a late release of the first owner.
 * The value is the holder's address as ens_addr_format writes it; anything
 * else found in the bucket is refused where it is read (a lookup of that
 * name fails with ENS_EBADFRAME), never trusted.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_names.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"

#define KEY_MAX        (3 * ENS_NAME_MAX + 1)
#define VALUE_MAX      64 /* an address's text is shorter; a longer value is garbage */
#define RETRY_EVERY_NS 500000000ull
#define JS_WAIT_MAX_MS 5000
#define JS_WAIT_MIN_MS 200
#define WATCH_POLL_MS  250
#define KV_OP_HEADER   "KV-Operation"
#define KV_OP_DELETE   "DEL"

/* An entry the watch saw, waiting for the loop. */
typedef struct wentry {
    struct wentry *next;
    int32_t op; /* ENS_GWNAME_SEEN or ENS_GWNAME_GONE */
    uint64_t rev;
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
    char prefix[112]; /* "$KV.<bucket>." */
    jsCtx *js;
    kvStore *kv;
    kvWatcher *watch;
    pthread_t thread;
    bool thread_on;
    atomic_bool stop;
    pthread_mutex_t lock; /* the watch's queue */
    wentry *head, *tail;
    kept *kept;
    uint64_t retry_at;
};

/* ---- names and keys ------------------------------------------------- */

static void key_of(const char *name, char *key)
{
    size_t len = strlen(name);
    bool plain = strstr(name, "..") == NULL && name[len - 1] != '.';
    size_t k = 0;
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '.' && !plain) {
            memcpy(key + k, "=2E", 3);
            k += 3;
        } else {
            key[k++] = *p;
        }
    }
    key[k] = '\0';
}

/* The name a key stands for, or false (not a key this module writes). */
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

/* ---- answers to the admin ------------------------------------------- */

static void tell_admin(ens_gw_names *n, int32_t op, int32_t status, ens_addr addr, uint64_t rev,
                       const char *name, uint64_t corr)
{
    ens__ctl_gwname_v v = {op, status, addr, rev, (char *)name};
    if (ens__ctl_send(n->ctl, n->self, &ens__ctl_gwname, &v, corr, NULL, 0) < 0)
        ens__log(n->sys, NULL, ENS_LOG_ERROR, "gateway: a name notice for the admin was lost");
}

/* ---- the bucket ------------------------------------------------------ */

static bool connected(ens_gw_names *n)
{
    return natsConnection_Status(ens__gw_nats_conn(n->nats)) == NATS_CONN_STATUS_CONNECTED;
}

static int64_t js_wait_ms(const ens_system *s)
{
    int64_t t = s->opts.call_timeout_ms / 2;
    return t < JS_WAIT_MIN_MS ? JS_WAIT_MIN_MS : t > JS_WAIT_MAX_MS ? JS_WAIT_MAX_MS : t;
}

/* The watch's thread: each entry queued for the loop. */
static void *watch_main(void *arg)
{
    ens_gw_names *n = arg;
    while (!atomic_load(&n->stop)) {
        kvEntry *e = NULL;
        natsStatus st = kvWatcher_Next(&e, n->watch, WATCH_POLL_MS);
        if (st == NATS_TIMEOUT)
            continue;
        if (st != NATS_OK)
            break; /* stopped */
        if (e == NULL)
            continue; /* the initial values are all in */
        wentry *w = calloc(1, sizeof(*w));
        if (w != NULL) {
            kvOperation op = kvEntry_Operation(e);
            w->op = op == kvOp_Put ? ENS_GWNAME_SEEN : ENS_GWNAME_GONE;
            w->rev = kvEntry_Revision(e);
            snprintf(w->key, sizeof(w->key), "%s", kvEntry_Key(e));
            w->len = kvEntry_ValueLen(e);
            if (w->len > 0 && w->len <= VALUE_MAX)
                memcpy(w->value, kvEntry_Value(e), (size_t)w->len);
            pthread_mutex_lock(&n->lock);
            if (n->tail != NULL)
                n->tail->next = w;
            else
                n->head = w;
            n->tail = w;
            pthread_mutex_unlock(&n->lock);
            uint64_t one = 1;
            ssize_t wr = write(n->wake_fd, &one, sizeof(one));
            (void)wr; /* a full eventfd is already awake */
        }
        kvEntry_Destroy(e);
    }
    return NULL;
}

/* Open the bucket (made by whichever system comes first: the server takes
 * a second creation with the same configuration as a no-op) and start the
 * watch. 0, or an error with the reason logged. */
static int bucket_open(ens_gw_names *n)
{
    if (n->kv != NULL)
        return 0;
    if (!connected(n))
        return ENS_EUNREACHABLE;
    natsStatus st = NATS_OK;
    if (n->js == NULL) {
        jsOptions o;
        jsOptions_Init(&o);
        o.Wait = js_wait_ms(n->sys);
        st = natsConnection_JetStream(&n->js, ens__gw_nats_conn(n->nats), &o);
    }
    if (st == NATS_OK)
        st = js_KeyValue(&n->kv, n->js, n->bucket);
    if (st == NATS_NOT_FOUND) {
        kvConfig c;
        kvConfig_Init(&c);
        c.Bucket = n->bucket;
        c.Description = "ensemble: global names of the convention";
        c.History = 1;
        st = js_CreateKeyValue(&n->kv, n->js, &c);
        if (st != NATS_OK) /* another system made it meanwhile */
            st = js_KeyValue(&n->kv, n->js, n->bucket);
    }
    if (st == NATS_OK)
        st = kvStore_WatchAll(&n->watch, n->kv, NULL);
    if (st == NATS_OK && pthread_create(&n->thread, NULL, watch_main, n) != 0)
        st = NATS_NO_MEMORY;
    if (st != NATS_OK) {
        ens__log(n->sys, NULL, ENS_LOG_ERROR, "gateway: the names bucket %s: %s (%s)", n->bucket,
                 natsStatus_GetText(st), nats_GetLastError(NULL));
        if (n->watch != NULL)
            kvWatcher_Destroy(n->watch);
        n->watch = NULL;
        if (n->kv != NULL)
            kvStore_Destroy(n->kv);
        n->kv = NULL;
        return st == NATS_NO_MEMORY ? ENS_ENOMEM : ENS_EUNREACHABLE;
    }
    n->thread_on = true;
    return 0;
}

/* Why a request cannot reach the bucket now: logged, ENS_EUNREACHABLE. */
static int unreachable(ens_gw_names *n, const char *name, const char *what)
{
    ens__log(n->sys, NULL, ENS_LOG_WARN,
             "gateway: name %s: %s refused: the NATS connection is %s (ENS_EUNREACHABLE)", name,
             what, connected(n) ? "up but JetStream did not answer" : "down");
    return ENS_EUNREACHABLE;
}

/* The holder a value names, or an error (garbage in the bucket). */
static int holder_of(ens_gw_names *n, const char *name, const void *value, int len, ens_addr *out)
{
    char text[VALUE_MAX + 1];
    if (len <= 0 || len > VALUE_MAX || memchr(value, '\0', (size_t)len) != NULL) {
        ens__log(n->sys, NULL, ENS_LOG_ERROR,
                 "gateway: the convention's entry of name %s is not an address (%d bytes): "
                 "refused",
                 name, len);
        return ENS_EBADFRAME;
    }
    memcpy(text, value, (size_t)len);
    text[len] = '\0';
    if (ens_addr_parse(text, out) < 0 || out->node == 0) {
        ens__log(n->sys, NULL, ENS_LOG_ERROR,
                 "gateway: the convention's entry of name %s is not an address: refused", name);
        return ENS_EBADFRAME;
    }
    return 0;
}

/* Create-or-get: 0 (claimed at *rev), 1 (taken: *holder), or an error. */
static int claim(ens_gw_names *n, const char *name, ens_addr addr, uint64_t *rev, ens_addr *holder)
{
    int rc = bucket_open(n);
    if (rc == ENS_EUNREACHABLE)
        return unreachable(n, name, "registration");
    if (rc < 0)
        return rc;
    char key[KEY_MAX + 1], value[ENS_ADDR_STRLEN];
    key_of(name, key);
    ens_addr_format(addr, value, sizeof(value));
    uint64_t end = ens__mono_ns() + (uint64_t)js_wait_ms(n->sys) * 1000000ull;
    for (;;) {
        natsStatus st = kvStore_CreateString(rev, n->kv, key, value);
        if (st == NATS_OK)
            return 0;
        if (!connected(n) || st == NATS_TIMEOUT)
            return unreachable(n, name, "registration");
        /* Taken (or refused otherwise): who holds it? */
        kvEntry *e = NULL;
        st = kvStore_Get(&e, n->kv, key);
        if (st == NATS_OK) {
            rc = holder_of(n, name, kvEntry_Value(e), kvEntry_ValueLen(e), holder);
            kvEntry_Destroy(e);
            return rc < 0 ? rc : 1;
        }
        if (st != NATS_NOT_FOUND || ens__mono_ns() >= end) { /* not found: deleted meanwhile */
            if (!connected(n) || st == NATS_TIMEOUT || st == NATS_NOT_FOUND)
                return unreachable(n, name, "registration");
            ens__log(n->sys, NULL, ENS_LOG_ERROR, "gateway: name %s: %s (%s)", name,
                     natsStatus_GetText(st), nats_GetLastError(NULL));
            return ENS_EIO;
        }
    }
}

/* Delete name only at revision rev (0: at whatever revision holds addr
 * now, if any): 0 done or moot (someone else's claim, or gone already),
 * ENS_EUNREACHABLE (kept by the caller), or another error. */
static int release(ens_gw_names *n, const char *name, uint64_t rev, ens_addr addr)
{
    int rc = bucket_open(n);
    if (rc < 0)
        return rc;
    char key[KEY_MAX + 1];
    key_of(name, key);
    if (rev == 0) { /* a claim whose answer was lost: delete it only if it is ours */
        kvEntry *e = NULL;
        natsStatus st = kvStore_Get(&e, n->kv, key);
        if (st == NATS_NOT_FOUND)
            return 0;
        if (st != NATS_OK)
            return connected(n) ? ENS_EIO : ENS_EUNREACHABLE;
        ens_addr holder;
        bool ours = holder_of(n, name, kvEntry_Value(e), kvEntry_ValueLen(e), &holder) == 0 &&
                    ens_addr_equal(holder, addr);
        rev = kvEntry_Revision(e);
        kvEntry_Destroy(e);
        if (!ours)
            return 0;
    }
    char subject[sizeof(n->prefix) + KEY_MAX + 1];
    snprintf(subject, sizeof(subject), "%s%s", n->prefix, key);
    natsMsg *m = NULL;
    natsStatus st = natsMsg_Create(&m, subject, NULL, NULL, 0);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, KV_OP_HEADER, KV_OP_DELETE);
    if (st != NATS_OK) {
        natsMsg_Destroy(m);
        return ENS_ENOMEM;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = rev;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    st = js_PublishMsg(&ack, n->js, m, &po, &jerr);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
    if (st == NATS_OK || jerr == JSStreamWrongLastSequenceErr)
        return 0; /* deleted, or the key moved on: another claim, left alone */
    if (!connected(n) || st == NATS_TIMEOUT)
        return ENS_EUNREACHABLE;
    ens__log(n->sys, NULL, ENS_LOG_ERROR, "gateway: name %s could not be deleted: %s (%s)", name,
             natsStatus_GetText(st), nats_GetLastError(NULL));
    return ENS_EIO;
}

static void keep_release(ens_gw_names *n, const ens__ctl_gwname_v *v, uint64_t corr)
{
    kept *k = calloc(1, sizeof(*k));
    char *name = k != NULL ? strdup(v->name) : NULL;
    if (name == NULL) {
        free(k);
        ens__log(n->sys, NULL, ENS_LOG_ERROR,
                 "gateway: out of memory: the deletion of name %s is left to the admin", v->name);
        tell_admin(n, ENS_GWNAME_ANSWER, ENS_ENOMEM, v->addr, v->rev, v->name, corr);
        return;
    }
    k->v = *v;
    k->v.name = name;
    k->corr = corr;
    k->next = n->kept;
    n->kept = k;
}

/* ---- the module's interface ------------------------------------------ */

ens_gw_names *ens__gw_names_open(ens_system *s, ens_gw_nats *g, int ctl, ens_addr self, int wake_fd)
{
    ens_gw_names *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: out of memory: no names across hosts");
        return NULL;
    }
    n->sys = s;
    n->nats = g;
    n->ctl = ctl;
    n->self = self;
    n->wake_fd = wake_fd;
    snprintf(n->bucket, sizeof(n->bucket), "ens-%s-names", s->opts.convention.name);
    snprintf(n->prefix, sizeof(n->prefix), "$KV.%s.", n->bucket);
    pthread_mutex_init(&n->lock, NULL);
    atomic_init(&n->stop, false);
    (void)bucket_open(n); /* not connected yet: the tick opens it */
    return n;
}

void ens__gw_names_request(ens_gw_names *n, const ens__ctl_gwname_v *v, uint64_t corr)
{
    if (n == NULL || v->name == NULL || !ens_name_valid(v->name) ||
        (v->op != ENS_GWNAME_CLAIM && v->op != ENS_GWNAME_RELEASE)) {
        if (n != NULL)
            tell_admin(n, ENS_GWNAME_ANSWER, ENS_EINVAL, ENS_ADDR_NONE, 0, v->name, corr);
        return;
    }
    if (v->op == ENS_GWNAME_CLAIM) {
        uint64_t rev = 0;
        ens_addr holder = ENS_ADDR_NONE;
        int rc = claim(n, v->name, v->addr, &rev, &holder);
        tell_admin(n, ENS_GWNAME_ANSWER, rc, rc == 1 ? holder : v->addr, rev, v->name, corr);
        return;
    }
    int rc = release(n, v->name, v->rev, v->addr);
    if (rc == ENS_EUNREACHABLE)
        keep_release(n, v, corr);
    else
        tell_admin(n, ENS_GWNAME_ANSWER, rc, v->addr, v->rev, v->name, corr);
}

static void send_seen(ens_gw_names *n)
{
    pthread_mutex_lock(&n->lock);
    wentry *all = n->head;
    n->head = n->tail = NULL;
    pthread_mutex_unlock(&n->lock);
    for (wentry *w = all, *next; w != NULL; w = next) {
        next = w->next;
        char name[ENS_NAME_MAX + 1];
        if (!name_of(w->key, name, sizeof(name))) {
            ens__log(n->sys, NULL, ENS_LOG_WARN,
                     "gateway: a key of the names bucket that is not a name: ignored");
        } else if (w->op == ENS_GWNAME_GONE) {
            tell_admin(n, ENS_GWNAME_GONE, 0, ENS_ADDR_NONE, w->rev, name, 0);
        } else {
            ens_addr holder = ENS_ADDR_NONE;
            int rc = holder_of(n, name, w->value, w->len, &holder);
            tell_admin(n, ENS_GWNAME_SEEN, rc, holder, w->rev, name, 0);
        }
        free(w);
    }
}

void ens__gw_names_tick(ens_gw_names *n)
{
    if (n == NULL)
        return;
    if (n->kv == NULL || n->kept != NULL) {
        uint64_t now = ens__mono_ns();
        if (now >= n->retry_at) {
            n->retry_at = now + RETRY_EVERY_NS;
            if (bucket_open(n) == 0) {
                kept *left = NULL;
                for (kept *k = n->kept, *next; k != NULL; k = next) {
                    next = k->next;
                    int rc = release(n, k->v.name, k->v.rev, k->v.addr);
                    if (rc == ENS_EUNREACHABLE) {
                        k->next = left;
                        left = k;
                        continue;
                    }
                    tell_admin(n, ENS_GWNAME_ANSWER, rc, k->v.addr, k->v.rev, k->v.name, k->corr);
                    free(k->v.name);
                    free(k);
                }
                n->kept = left;
            }
        }
    }
    send_seen(n);
}

void ens__gw_names_close(ens_gw_names *n)
{
    if (n == NULL)
        return;
    atomic_store(&n->stop, true);
    if (n->watch != NULL)
        kvWatcher_Stop(n->watch);
    if (n->thread_on)
        pthread_join(n->thread, NULL);
    if (n->watch != NULL)
        kvWatcher_Destroy(n->watch);
    if (n->kv != NULL)
        kvStore_Destroy(n->kv);
    if (n->js != NULL)
        jsCtx_Destroy(n->js);
    for (wentry *w = n->head, *next; w != NULL; w = next) {
        next = w->next;
        free(w);
    }
    for (kept *k = n->kept, *next; k != NULL; k = next) {
        next = k->next;
        free(k->v.name);
        free(k);
    }
    pthread_mutex_destroy(&n->lock);
    free(n);
}

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
 *
 * The cache of the admin is fed by a thread that follows the bucket
 * (gateway_kvfollow.h: a plain subscription and a read of every key, not
 * libnats's kvStore_Watch, which crashed the gateway). It does not
 * subscribe to the bucket's own subjects: a claim the stream refuses (the
 * name taken) and a refused late release reach every subscriber there all
 * the same. The bucket republishes each entry it stored instead, with its
 * stream sequence, on "ens-kv.<bucket>.<key>" (every copy of the stream
 * does, as it applies the entry: a copy cut off by a partition republishes
 * what it missed when it catches up, after the newer entries the leader
 * republished). An entry is passed on only if it is later than every
 * entry of its key passed on before (gateway_kvseen.h), whichever of the
 * read, the leader or a late copy delivered it: the admin's cache never
 * goes back. After a reconnect (libnats subscribes again by itself), or
 * when a member comes back from unreachable (a partition healed), the
 * bucket is read again until a read reaches the sequence the stream's
 * leader reported before it (a copy still catching up may serve the read):
 * what changed meanwhile, deletions included, reaches the cache then.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_kvfollow.h"
#include "core/process/gateway/gateway_kvseen.h"
#include "core/process/gateway/gateway_members.h"
#include "core/process/gateway/gateway_names.h"
#include "core/process/gateway/gateway_names_state.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"

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

bool ens__gw_name_of(const char *key, char *name, size_t len)
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

int64_t ens__gw_js_wait_ms(const ens_system *s)
{
    int64_t t = s->opts.call_timeout_ms / 2;
    return t < JS_WAIT_MIN_MS ? JS_WAIT_MIN_MS : t > JS_WAIT_MAX_MS ? JS_WAIT_MAX_MS : t;
}

/* An entry for the loop, which sends it to the admin. */
static void queue(ens_gw_names *n, const ens_gw_kv_entry *e)
{
    wentry *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        ens__log(n->sys, NULL, ENS_LOG_ERROR,
                 "gateway: out of memory: a change of the names bucket was lost");
        return;
    }
    w->op = e->put ? ENS_GWNAME_SEEN : ENS_GWNAME_GONE;
    w->rev = e->seq;
    w->purged = e->purged;
    if (strlen(e->key) < sizeof(w->key)) /* longer: no name's key (refused by the loop) */
        memcpy(w->key, e->key, strlen(e->key) + 1);
    w->len = e->len;
    if (w->len > 0 && w->len <= VALUE_MAX)
        memcpy(w->value, e->data, (size_t)w->len);
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

/* One debug line per entry the follower meets (a heal's story). */
static void trace(ens_gw_names *n, const char *what, const ens_gw_kv_entry *e)
{
    if (n->sys->opts.log_level < ENS_LOG_DEBUG)
        return;
    ens__log(n->sys, NULL, ENS_LOG_DEBUG,
             "gateway: names follower: %s %s seq %" PRIu64 " %s%s%.*s (passed on up to %" PRIu64
             ")",
             what, e->key, e->seq, e->put ? "put " : "removed", e->purged != 0 ? " (purged)" : "",
             e->put ? (e->len > 0 && e->len < 64 ? e->len : 0) : 0,
             e->put ? (const char *)e->data : "", ens__gw_kv_seen_max(n->seen));
}

/* Whether e is later than every entry of its key passed on before (late
 * copies from a catching-up copy of the stream, and stale reads, are not:
 * gateway_kvseen.h). */
static bool newer(ens_gw_names *n, const ens_gw_kv_entry *e)
{
    int rc = ens__gw_kv_seen_newer(n->seen, e->key, e->seq);
    if (rc == ENS_ENOMEM)
        ens__log(n->sys, NULL, ENS_LOG_ERROR,
                 "gateway: out of memory: an entry of the names bucket may be seen twice, or "
                 "an older one after it");
    return rc != 0;
}

/* An entry of the read: passed on unless an entry as new of its key was. */
static void on_read(void *arg, const ens_gw_kv_entry *e)
{
    ens_gw_names *n = arg;
    if (e->seq > n->read_max)
        n->read_max = e->seq;
    if (e->seq != 0 && !newer(n, e)) {
        trace(n, "read, had", e);
        return;
    }
    trace(n, "read", e);
    if (e->put || n->reread) /* at the first read the admin's cache is empty */
        queue(n, e);
}

/* The stream's last sequence and creation time as its leader (or a copy
 * taking itself for the leader) reports them. */
static natsStatus stream_last(ens_gw_names *n, uint64_t *last, int64_t *created)
{
    char stream[128];
    snprintf(stream, sizeof(stream), "KV_%s", n->bucket);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, n->follow_js, stream, NULL, &jerr);
    if (st == NATS_OK) {
        *last = si->State.LastSeq;
        *created = si->Created;
    }
    jsStreamInfo_Destroy(si);
    return st;
}

/* Read every key of the bucket: true when the read was as new as the
 * stream when it began; false (logged once) when the bucket did not
 * answer or a copy that had not caught up served the read (a copy cut off
 * by a partition is behind right after the heal): tried again. */
static bool read_all(ens_gw_names *n, bool *told)
{
    ens__log(n->sys, NULL, ENS_LOG_DEBUG, "gateway: names follower: reading the bucket%s",
             n->reread ? " again" : "");
    uint64_t last = 0;
    int64_t created = 0;
    natsStatus st = stream_last(n, &last, &created);
    ens_gw_kv_stream judged = ENS_GW_KV_STREAM_CURRENT;
    if (st == NATS_OK) {
        judged =
            ens__gw_kv_stream_judge(created, last, n->stream_created, ens__gw_kv_seen_max(n->seen));
        if (judged == ENS_GW_KV_STREAM_ANEW) {
            ens__log(n->sys, NULL, ENS_LOG_INFO,
                     "gateway: the names bucket %s was made anew (its stream was created "
                     "again): following it from its start",
                     n->bucket);
            ens__gw_kv_seen_clear(n->seen);
        } else if (judged == ENS_GW_KV_STREAM_BEHIND) {
            ens__log(n->sys, NULL, ENS_LOG_DEBUG,
                     "gateway: names follower: the stream's info came from a copy behind (its "
                     "last sequence %" PRIu64 " is below %" PRIu64 " passed on)",
                     last, ens__gw_kv_seen_max(n->seen));
        }
        n->stream_created = created;
    }
    n->read_max = 0;
    if (st == NATS_OK)
        st = ens__gw_kv_read(n->follow_js, n->bucket, ens__gw_js_wait_ms(n->sys), on_read, n);
    if (st != NATS_OK) {
        if (!*told)
            ens__log(n->sys, NULL, ENS_LOG_WARN,
                     "gateway: the names bucket %s cannot be read (%s): trying again every "
                     "500 ms",
                     n->bucket, natsStatus_GetText(st));
        *told = true;
        return false;
    }
    if (judged == ENS_GW_KV_STREAM_BEHIND || !ens__gw_kv_read_current(n->read_max, last)) {
        /* The stream's last message may also be gone (an operator deleted
         * it): after a while, the read is taken as it is. What a copy
         * behind missed still comes when it catches up: it republishes
         * each entry it applies. */
        uint64_t now = ens__mono_ns();
        if (n->behind_since == 0)
            n->behind_since = now;
        if (now - n->behind_since < BEHIND_MAX_NS) {
            ens__log(n->sys, NULL, ENS_LOG_DEBUG,
                     "gateway: names follower: the read ended at sequence %" PRIu64
                     ", the stream is at %" PRIu64 " (a copy behind served it): read again",
                     n->read_max, last);
            return false;
        }
        ens__log(n->sys, NULL, ENS_LOG_WARN,
                 "gateway: the names bucket %s: reads end at sequence %" PRIu64
                 ", its stream is at %" PRIu64 ", for %llu s: taken as they are",
                 n->bucket, n->read_max, last, BEHIND_MAX_NS / 1000000000ull);
    }
    n->behind_since = 0;
    n->reread = true;
    *told = false;
    ens__log(n->sys, NULL, ENS_LOG_DEBUG,
             "gateway: names follower: read up to sequence %" PRIu64 " (the stream's last: %" PRIu64
             ")",
             n->read_max, last);
    return true;
}

/* An entry the bucket republished (the leader, or any copy of the stream
 * as it applies it): passed on unless an entry as new of its key was. */
static void on_live(ens_gw_names *n, natsMsg *msg)
{
    ens_gw_kv_entry e;
    if (!ens__gw_kv_entry_of(msg, n->live_prefix, &e) || e.seq == 0)
        return; /* not the stream's: its republished entries carry their sequence */
    if (!newer(n, &e)) {
        trace(n, "live, had", &e);
        return;
    }
    trace(n, "live", &e);
    queue(n, &e);
}

static uint64_t reconnects(natsConnection *nc, natsStatistics *stats)
{
    uint64_t in_msgs = 0, in_bytes = 0, out_msgs = 0, out_bytes = 0, count = 0;
    if (stats != NULL && natsConnection_GetStats(nc, stats) == NATS_OK)
        natsStatistics_GetCounts(stats, &in_msgs, &in_bytes, &out_msgs, &out_bytes, &count);
    return count;
}

/* The follower's thread: the bucket read (again after each reconnect),
 * and its republished entries, each queued for the loop. */
static void *follow_main(void *arg)
{
    ens_gw_names *n = arg;
    natsConnection *nc = ens__gw_nats_conn(n->nats);
    natsStatistics *stats = NULL;
    if (natsStatistics_Create(&stats) != NATS_OK) /* then a reconnect is not noticed */
        ens__log(n->sys, NULL, ENS_LOG_ERROR,
                 "gateway: out of memory: the names bucket will not be read again after a "
                 "reconnect");
    uint64_t seen_reconnects = reconnects(nc, stats);
    bool must_read = true, told = false;
    uint64_t read_at = 0;
    while (!atomic_load(&n->stop)) {
        if (must_read && ens__mono_ns() >= read_at) {
            must_read = !read_all(n, &told);
            read_at = ens__mono_ns() + RETRY_EVERY_NS;
        }
        natsMsg *msg = NULL;
        natsStatus st = natsSubscription_NextMsg(&msg, n->live, FOLLOW_POLL_MS);
        if (st == NATS_OK) {
            on_live(n, msg);
            natsMsg_Destroy(msg);
        } else if (st != NATS_TIMEOUT) {
            if (!atomic_load(&n->stop))
                ens__log(n->sys, NULL, ENS_LOG_ERROR,
                         "gateway: the names bucket %s is no longer followed (%s): lookups "
                         "answer from a cache that no longer changes",
                         n->bucket, natsStatus_GetText(st));
            break; /* unsubscribed by ens__gw_names_close, or the connection closed */
        }
        uint64_t r = reconnects(nc, stats);
        /* Subscribed again already after a reconnect, or a partition
         * healed (this server was cut off from the bucket's leader while
         * the connection stayed up): read what was missed. */
        if (r != seen_reconnects || atomic_exchange(&n->read_again, false)) {
            seen_reconnects = r;
            must_read = true;
            read_at = 0;
        }
    }
    natsStatistics_Destroy(stats);
    return NULL;
}

/* Make the bucket's stream republish what it stores on live_prefix (a
 * bucket made before that was asked for at creation is updated). NATS_OK
 * with *on false when the server refuses the update (nats-server 2.9 does
 * not change the republish of a stream): the bucket is not followed then. */
static natsStatus republish_on(ens_gw_names *n, jsRePublish *rp, bool *on)
{
    *on = true;
    char stream[128];
    snprintf(stream, sizeof(stream), "KV_%s", n->bucket);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, n->js, stream, NULL, &jerr);
    if (st != NATS_OK)
        return st;
    jsRePublish *had = si->Config != NULL ? si->Config->RePublish : NULL;
    if (si->Config != NULL && (had == NULL || had->Destination == NULL ||
                               strcmp(had->Destination, rp->Destination) != 0)) {
        si->Config->RePublish = rp;
        st = js_UpdateStream(NULL, n->js, si->Config, NULL, &jerr);
        si->Config->RePublish = had;
        if (st == NATS_OK) {
            ens__log(n->sys, NULL, ENS_LOG_INFO,
                     "gateway: the names bucket %s now republishes its entries on %s", n->bucket,
                     rp->Destination);
        } else if (jerr != 0) { /* refused by the server, not unanswered */
            ens__log(n->sys, NULL, ENS_LOG_ERROR,
                     "gateway: the names bucket %s does not republish its entries (made by an "
                     "older gateway) and the server refused to change that (%s): names of other "
                     "systems are not seen here (lookups miss them; registrations still ask the "
                     "bucket). Delete the bucket while no system of the convention runs",
                     n->bucket, nats_GetLastError(NULL));
            *on = false;
            st = NATS_OK;
        }
    }
    jsStreamInfo_Destroy(si);
    return st;
}

/* Open the bucket (made by whichever system comes first: the server takes
 * a second creation with the same configuration as a no-op) and start
 * following it. 0, or an error with the reason logged. */
int ens__gw_names_bucket_open(ens_gw_names *n)
{
    if (n->kv != NULL)
        return 0;
    if (!connected(n))
        return ENS_EUNREACHABLE;
    natsConnection *nc = ens__gw_nats_conn(n->nats);
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = ens__gw_js_wait_ms(n->sys);
    natsStatus st = NATS_OK;
    if (n->js == NULL)
        st = natsConnection_JetStream(&n->js, nc, &o);
    if (st == NATS_OK && n->follow_js == NULL)
        st = natsConnection_JetStream(&n->follow_js, nc, &o);
    char source[128], live[128];
    snprintf(source, sizeof(source), "%s>", n->prefix);
    snprintf(live, sizeof(live), "%s>", n->live_prefix);
    jsRePublish rp;
    jsRePublish_Init(&rp);
    rp.Source = source;
    rp.Destination = live;
    if (st == NATS_OK)
        st = js_KeyValue(&n->kv, n->js, n->bucket);
    if (st == NATS_NOT_FOUND) {
        kvConfig c;
        kvConfig_Init(&c);
        c.Bucket = n->bucket;
        c.Description = "ensemble: global names of the convention";
        c.History = 1;
        c.RePublish = &rp;
        c.Replicas = 3; /* as the members bucket (gateway_members.c) */
        st = js_CreateKeyValue(&n->kv, n->js, &c);
        if (st != NATS_OK) {
            c.Replicas = 1;
            st = js_CreateKeyValue(&n->kv, n->js, &c);
        }
        if (st != NATS_OK) /* another system made it meanwhile */
            st = js_KeyValue(&n->kv, n->js, n->bucket);
    }
    bool follow = true;
    if (st == NATS_OK)
        st = republish_on(n, &rp, &follow);
    if (st == NATS_OK && follow)
        st = ens__gw_kv_subscribe(nc, live, o.Wait, &n->live);
    if (st == NATS_OK && follow && pthread_create(&n->thread, NULL, follow_main, n) != 0)
        st = NATS_NO_MEMORY;
    if (st != NATS_OK) {
        ens__log(n->sys, NULL, ENS_LOG_ERROR, "gateway: the names bucket %s: %s (%s)", n->bucket,
                 natsStatus_GetText(st), nats_GetLastError(NULL));
        if (n->live != NULL)
            natsSubscription_Destroy(n->live);
        n->live = NULL;
        if (n->kv != NULL)
            kvStore_Destroy(n->kv);
        n->kv = NULL;
        return st == NATS_NO_MEMORY ? ENS_ENOMEM : ENS_EUNREACHABLE;
    }
    n->thread_on = follow;
    return 0;
}

/* Why a request cannot reach the bucket now: logged, ENS_EUNREACHABLE. */
static int unreachable(ens_gw_names *n, const char *name, const char *what)
{
    ens__log(n->sys, NULL, ENS_LOG_WARN,
             "gateway: name %s: %s refused: the NATS connection is %s (ENS_EUNREACHABLE)", name,
             what,
             connected(n) ? "up but the names bucket did not answer (no leader: this side of a "
                            "partition may hold too few of its servers)"
                          : "down");
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

/* Whether a JetStream request failed because the bucket has no leader to
 * answer: nobody answered in time, or nobody listens (a server on the
 * side of a partition that lost the quorum of the bucket's three copies
 * has no leader for it: the request times out or finds no responder). */
static bool no_quorum(natsStatus st)
{
    return st == NATS_TIMEOUT || st == NATS_NO_RESPONDERS;
}

/* The current entry of key as the stream's leader has it: NATS_OK (*out
 * a put: the value, its revision in natsMsg_GetSequence), NATS_NOT_FOUND
 * (no entry, or removed), or another status. kvStore_Get is not used: the
 * bucket allows direct gets (libnats makes it so), which any copy of the
 * stream answers, and a copy still catching up after a partition healed
 * answers an older holder, or none. NATS_TIMEOUT too when the cluster
 * answered that the stream has no leader now. */
static natsStatus leader_get(ens_gw_names *n, const char *key, natsMsg **out)
{
    char stream[128], subject[sizeof(n->prefix) + KEY_MAX + 1];
    snprintf(stream, sizeof(stream), "KV_%s", n->bucket);
    snprintf(subject, sizeof(subject), "%s%s", n->prefix, key);
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetLastMsg(&m, n->js, stream, subject, NULL, &jerr);
    const char *op = NULL;
    if (st == NATS_OK && natsMsgHeader_Get(m, KV_OP_HEADER, &op) == NATS_OK && op != NULL &&
        (strcmp(op, KV_OP_DELETE) == 0 || strcmp(op, KV_OP_PURGE) == 0)) {
        natsMsg_Destroy(m);
        m = NULL;
        st = NATS_NOT_FOUND;
    }
    if (st != NATS_OK && jerr == JS_NO_MESSAGE)
        st = NATS_NOT_FOUND;
    /* Answered, but by a cluster electing the stream's leader (right
     * after a partition healed): as if no leader answered. */
    if (st != NATS_OK &&
        (jerr == JS_UNAVAILABLE || jerr == JS_NOT_LEADER || jerr == JS_STREAM_OFFLINE))
        st = NATS_TIMEOUT;
    *out = st == NATS_OK ? m : NULL;
    return st;
}

/* Create-or-get: 0 (claimed at *rev), 1 (taken: *holder at *rev), or an
 * error. */
static int claim(ens_gw_names *n, const char *name, ens_addr addr, uint64_t *rev, ens_addr *holder)
{
    int rc = ens__gw_names_bucket_open(n);
    if (rc == ENS_EUNREACHABLE)
        return unreachable(n, name, "registration");
    if (rc < 0)
        return rc;
    char key[KEY_MAX + 1], value[ENS_ADDR_STRLEN];
    key_of(name, key);
    ens_addr_format(addr, value, sizeof(value));
    uint64_t end = ens__mono_ns() + (uint64_t)ens__gw_js_wait_ms(n->sys) * 1000000ull;
    for (;;) {
        natsStatus st = kvStore_CreateString(rev, n->kv, key, value);
        if (st == NATS_OK)
            return 0;
        if (!connected(n) || no_quorum(st))
            return unreachable(n, name, "registration");
        /* Taken (or refused otherwise): who holds it? */
        natsMsg *e = NULL;
        st = leader_get(n, key, &e);
        if (st == NATS_OK) {
            rc = holder_of(n, name, natsMsg_GetData(e), natsMsg_GetDataLength(e), holder);
            if (rc == 0)
                *rev = natsMsg_GetSequence(e);
            natsMsg_Destroy(e);
            return rc < 0 ? rc : 1;
        }
        if (st != NATS_NOT_FOUND || ens__mono_ns() >= end) { /* not found: deleted meanwhile */
            if (!connected(n) || no_quorum(st) || st == NATS_NOT_FOUND)
                return unreachable(n, name, "registration");
            ens__log(n->sys, NULL, ENS_LOG_ERROR, "gateway: name %s: %s (%s)", name,
                     natsStatus_GetText(st), nats_GetLastError(NULL));
            return ENS_EIO;
        }
    }
}

int ens__gw_names_delete_at(ens_gw_names *n, const char *name, const char *key, uint64_t rev,
                            uint32_t lost)
{
    char subject[sizeof(n->prefix) + KEY_MAX + 1];
    snprintf(subject, sizeof(subject), "%s%s", n->prefix, key);
    natsMsg *m = NULL;
    natsStatus st = natsMsg_Create(&m, subject, NULL, NULL, 0);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, KV_OP_HEADER, KV_OP_DELETE);
    if (st == NATS_OK && lost != 0) {
        char node[16];
        snprintf(node, sizeof(node), "%" PRIu32, lost);
        st = natsMsgHeader_Set(m, ENS_KV_PURGED_HEADER, node);
    }
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

/* Delete name only at revision rev (0: at whatever revision holds addr
 * now, if any): 0 done or moot (someone else's claim, or gone already),
 * ENS_EUNREACHABLE (kept by the caller), or another error. */
static int release(ens_gw_names *n, const char *name, uint64_t rev, ens_addr addr)
{
    int rc = ens__gw_names_bucket_open(n);
    if (rc < 0)
        return rc;
    char key[KEY_MAX + 1];
    key_of(name, key);
    if (rev == 0) { /* a claim whose answer was lost: delete it only if it is ours */
        natsMsg *e = NULL;
        natsStatus st = leader_get(n, key, &e);
        if (st == NATS_NOT_FOUND)
            return 0;
        if (st != NATS_OK)
            return connected(n) && !no_quorum(st) ? ENS_EIO : ENS_EUNREACHABLE;
        ens_addr holder;
        bool ours =
            holder_of(n, name, natsMsg_GetData(e), natsMsg_GetDataLength(e), &holder) == 0 &&
            ens_addr_equal(holder, addr);
        rev = natsMsg_GetSequence(e);
        natsMsg_Destroy(e);
        if (!ours)
            return 0;
    }
    return ens__gw_names_delete_at(n, name, key, rev, 0);
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
    snprintf(n->live_prefix, sizeof(n->live_prefix), "ens-kv.%s.", n->bucket);
    if ((n->seen = ens__gw_kv_seen_new()) == NULL) {
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: out of memory: no names across hosts");
        free(n);
        return NULL;
    }
    pthread_mutex_init(&n->lock, NULL);
    atomic_init(&n->stop, false);
    atomic_init(&n->read_again, false);
    (void)ens__gw_names_bucket_open(n); /* not connected yet: the tick opens it */
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
        if (!ens__gw_name_of(w->key, name, sizeof(name))) {
            ens__log(n->sys, NULL, ENS_LOG_WARN,
                     "gateway: a key of the names bucket that is not a name: ignored");
        } else if (w->op == ENS_GWNAME_GONE) {
            /* status 1: removed by a member that judged this node lost */
            tell_admin(n, ENS_GWNAME_GONE, w->purged != 0 && w->purged == n->self.node ? 1 : 0,
                       ENS_ADDR_NONE, w->rev, name, 0);
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
            if (ens__gw_names_bucket_open(n) == 0) {
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
    ens__gw_names_purge_retry(n);
    send_seen(n);
}

void ens__gw_names_close(ens_gw_names *n)
{
    if (n == NULL)
        return;
    atomic_store(&n->stop, true);
    if (n->live != NULL)
        natsSubscription_Unsubscribe(n->live); /* ends the follower's wait */
    if (n->thread_on)
        pthread_join(n->thread, NULL);
    natsSubscription_Destroy(n->live);
    ens__gw_kv_seen_free(n->seen);
    if (n->kv != NULL)
        kvStore_Destroy(n->kv);
    if (n->js != NULL)
        jsCtx_Destroy(n->js);
    if (n->follow_js != NULL)
        jsCtx_Destroy(n->follow_js);
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

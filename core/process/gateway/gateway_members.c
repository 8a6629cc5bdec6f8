/*
 * core/process/gateway/gateway_members.c - the members bucket and the
 * members' heartbeats (gateway_members.h). One thread: it puts this
 * member's record when it changed and every half down_after_ms (the first
 * put confirmed by the stream, the later ones published without waiting:
 * a confirmed put can wait seconds while JetStream elects a leader), publishes
 * a heartbeat every heartbeat_ms, waits for the bucket's changes in
 * between, and judges after each wait which members went silent or came
 * back.
 *
 * The changes come on a plain subscription to the bucket's subjects
 * ($KV.<bucket>.<key>: every put, and every delete with its KV-Operation
 * header, is a message there), and the records there when it starts are
 * read once, after the subscription is in place so nothing falls between
 * the two (gateway_kvfollow.h; not libnats's kvStore_Watch, which crashed
 * the gateway). A record both delivered is the same record twice: taken
 * as one. Every put of a member is unconditional, so the publishes seen
 * on the subscription are the ones the stream stored.
 *
 * Heartbeats are core NATS messages on ens.<conv>.hb.<node> (empty, or
 * "leaving" from a member that stops in order), received by an
 * asynchronous subscription to ens.<conv>.hb.* on a libnats thread; the
 * gateway's loop adds the frames it receives (ens__gw_members_life). A
 * frame to one member is not a heartbeat for the others, and a record put
 * may be held up by the bucket's stream, so heartbeats go out every
 * heartbeat_ms whatever else was sent.
 *
 * Liveness is judged by when this gateway received something of a member
 * (the monotonic clock of this host), never by a time another host
 * stamped, so clocks of other hosts do not matter; only records read at
 * start, which were not received here, are judged by the server's stamp
 * (a record older than its writer's down_after_ms then is reported
 * unreachable, not joined). Silence counts only while this gateway hears
 * its own heartbeats come back: when it does not (its connection is down,
 * or this host is too busy for libnats's threads to read), everything
 * arrives late here, so it holds its judgement up to another
 * down_after_ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_kvfollow.h"
#include "core/process/gateway/gateway_members.h"
#include "core/runtime/caps.h"
#include "ensemble/error.h"

#ifndef ENS_VERSION_TEXT
#define ENS_VERSION_TEXT "unknown"
#endif

#define JS_WAIT_MS 2000 /* JetStream API calls (bind, create, put, delete) */
/* The longest the thread waits on the bucket's subscription before it
 * looks for a record handed over (ens__gw_members_set_caps): libnats has
 * no way to wake a wait for the next message but a message. */
#define HANDOVER_WAIT_MS 50
/* What a heartbeat of a member stopping in order says. */
#define LEAVING     "leaving"
#define LEAVING_LEN 7

/* A member as this gateway sees it (the thread's own). */
typedef struct seen {
    uint32_t node;
    int32_t state;    /* ENS_MEMBER_JOINED or ENS_MEMBER_UNREACHABLE */
    uint64_t last_ns; /* when anything of it was last received (monotonic) */
    bool leaving;     /* its "leaving" heartbeat came */
    char *record;     /* its last record (NUL-terminated) */
} seen;

struct ens_gw_members {
    ens_system *sys;
    natsConnection *nc;
    uint32_t node;
    uint32_t hb_ms;
    uint32_t down_ms; /* down_after_ms */
    int wake_fd;
    char bucket[96];
    char key[16];
    char hb_subject[112]; /* ens.<conv>.hb.<this node> */
    char hb_prefix[96];   /* ens.<conv>.hb. */
    char *record;
    uint32_t actors;         /* this system's actor count, as the admin last said (under lock) */
    uint32_t actors_put;     /* the count in the record put last (the thread's) */
    natsSubscription *beats; /* ens.<conv>.hb.* (asynchronous) */
    /* life_lock: `seen` (its array, and each last_ns and leaving) and
     * own_ns, written by libnats's thread and the loop too. Taken before
     * `lock` when both are. */
    pthread_mutex_t life_lock;
    uint64_t own_ns; /* when this member's own heartbeat or record last came back */
    jsCtx *js;
    kvStore *kv;
    natsSubscription *live; /* the bucket's subjects (NULL: not yet) */
    pthread_t thread;
    pthread_mutex_t lock;   /* the queue, `live`, `stop` and `handed` */
    pthread_cond_t stopped; /* signalled with stop or handed (CLOCK_MONOTONIC) */
    bool stop;
    bool beats_done; /* no heartbeat callback runs any more (under lock) */
    char *handed;    /* a new record for the thread to put at once, or NULL */
    pid_t admin;
    ens_gw_change *head, *tail;
    seen *seen; /* under life_lock */
    size_t n_seen, cap_seen;
    bool told_down;         /* that NATS does not answer was logged */
    natsStatus beat_failed; /* the last heartbeat's failure (logged once) */
};

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static bool stopping(ens_gw_members *m)
{
    pthread_mutex_lock(&m->lock);
    bool s = m->stop;
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* ---- changes for the loop ------------------------------------------- */

/* The value of line `key=` in record, its length in *len; NULL if none. */
static const char *field(const char *record, const char *key, size_t *len)
{
    size_t klen = strlen(key);
    for (const char *line = record; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (n > klen && line[klen] == '=' && memcmp(line, key, klen) == 0) {
            *len = n - klen - 1;
            return line + klen + 1;
        }
        line += n;
        if (*line == '\n')
            line++;
    }
    return NULL;
}

static uint64_t field_u64(const char *record, const char *key)
{
    size_t len = 0;
    const char *v = field(record, key, &len);
    uint64_t n = 0;
    for (size_t i = 0; v != NULL && i < len && i < 19 && v[i] >= '0' && v[i] <= '9'; i++)
        n = n * 10 + (uint64_t)(v[i] - '0');
    return n;
}

static void push(ens_gw_members *m, ens_gw_change *c)
{
    pthread_mutex_lock(&m->lock);
    if (m->tail != NULL)
        m->tail->next = c;
    else
        m->head = c;
    m->tail = c;
    pthread_mutex_unlock(&m->lock);
    uint64_t one = 1;
    ssize_t w = write(m->wake_fd, &one, sizeof(one));
    (void)w; /* a full eventfd is already awake */
}

/* Report node's change, with what its record (NULL: none) says. */
static void tell(ens_gw_members *m, uint32_t node, int32_t change, const char *record)
{
    size_t rlen = record != NULL ? strlen(record) : 0;
    ens_gw_change *c = calloc(1, sizeof(*c) + rlen + 3);
    if (c == NULL) {
        ens__log(m->sys, NULL, ENS_LOG_ERROR,
                 "gateway: a change of member %" PRIu32 " was lost: out of memory", node);
        return;
    }
    c->v.node = node;
    c->v.change = change;
    char *out = c->text;
    size_t len = 0;
    const char *v;
    c->v.system = out; /* system\0host\0capabilities\0 */
    if (record != NULL && (v = field(record, "system", &len)) != NULL) {
        memcpy(out, v, len);
        out += len;
    }
    *out++ = '\0';
    c->v.host = out;
    if (record != NULL && (v = field(record, "host", &len)) != NULL) {
        memcpy(out, v, len);
        out += len;
    }
    *out++ = '\0';
    c->v.capabilities = out;
    for (const char *line = record != NULL ? record : ""; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
        if (n > 4 && memcmp(line, "cap.", 4) == 0 && memchr(line, '=', n) != NULL) {
            memcpy(out, line + 4, n - 4);
            out += n - 4;
            *out++ = '\n';
        }
        line += n;
        if (*line == '\n')
            line++;
    }
    *out = '\0';
    if (record != NULL) {
        c->v.admin_pid = (uint32_t)field_u64(record, "pid");
        c->v.started_ms = (int64_t)field_u64(record, "started");
        uint64_t actors = field_u64(record, "actors");
        c->v.actors = actors > UINT32_MAX ? UINT32_MAX : (uint32_t)actors;
    }
    if (node != 0)
        ens__log(m->sys, NULL, ENS_LOG_INFO, "gateway: member %" PRIu32 " (system %s, host %s) %s",
                 node, c->v.system[0] != '\0' ? c->v.system : "?",
                 c->v.host[0] != '\0' ? c->v.host : "?",
                 change == ENS_MEMBER_JOINED ? "joined"
                 : change == ENS_MEMBER_LEFT ? "left"
                                             : "is unreachable: nothing of it received for "
                                               "down_after_ms");
    push(m, c);
}

/* ---- the bucket ------------------------------------------------------ */

static seen *seen_find(ens_gw_members *m, uint32_t node, size_t *at)
{
    for (size_t i = 0; i < m->n_seen; i++)
        if (m->seen[i].node == node) {
            if (at != NULL)
                *at = i;
            return &m->seen[i];
        }
    return NULL;
}

static seen *seen_add(ens_gw_members *m, uint32_t node)
{
    if (m->n_seen == m->cap_seen) {
        size_t cap = m->cap_seen != 0 ? m->cap_seen * 2 : 8;
        seen *t = realloc(m->seen, cap * sizeof(*t));
        if (t == NULL)
            return NULL;
        m->seen = t;
        m->cap_seen = cap;
    }
    seen *s = &m->seen[m->n_seen++];
    *s = (seen){.node = node};
    return s;
}

/* How long a record read at start may be old and its writer still live:
 * its writer puts it every half of its down_after_ms. */
static uint64_t stale_ns(const char *record)
{
    uint64_t down = field_u64(record, "down_after_ms");
    if (down < ENS_CONVENTION_DOWN_AFTER_MIN_MS || down > ENS_CONVENTION_DOWN_AFTER_MAX_MS) {
        uint64_t hb = field_u64(record, "heartbeat_ms");
        if (hb < ENS_CONVENTION_HEARTBEAT_MIN_MS || hb > ENS_CONVENTION_HEARTBEAT_MAX_MS)
            hb = ENS_CONVENTION_HEARTBEAT_MS;
        down = hb * 4 > ENS_CONVENTION_DOWN_AFTER_MS ? hb * 4 : ENS_CONVENTION_DOWN_AFTER_MS;
    }
    return down * 1000000u;
}

bool ens__gw_members_record_fresh(const void *data, int len, int64_t stamp_ns, int64_t now_ns)
{
    if (data == NULL || len <= 0 || (unsigned)len > ENS_GW_RECORD_MAX)
        return false;
    char *record = malloc((size_t)len + 1);
    if (record == NULL) /* its writer's own pace is unknown: the default one */
        return now_ns - stamp_ns < (int64_t)ENS_CONVENTION_DOWN_AFTER_MS * 1000000;
    memcpy(record, data, (size_t)len);
    record[len] = '\0';
    uint64_t stale = stale_ns(record);
    free(record);
    return now_ns - stamp_ns < (int64_t)stale;
}

bool ens__gw_members_stream_current(int64_t last_ns, int64_t now_ns, uint32_t down_ms)
{
    return last_ns > 0 && now_ns - last_ns < (int64_t)down_ms * 1000000;
}

/* A key is a node id in decimal; anything else is no member's. */
static bool node_of(const char *key, uint32_t *node)
{
    uint64_t n = 0;
    size_t i = 0;
    for (; key[i] >= '0' && key[i] <= '9' && i < 10; i++)
        n = n * 10 + (uint64_t)(key[i] - '0');
    if (i == 0 || key[i] != '\0' || n == 0 || n > UINT32_MAX)
        return false;
    *node = (uint32_t)n;
    return true;
}

/* A record of key (put: data[0..len), else deleted). created_ns: the
 * server's stamp of a record read at start, 0 for one received live. */
static void on_record(ens_gw_members *m, const char *key, bool put, const void *data, int len,
                      int64_t created_ns)
{
    uint32_t node = 0;
    if (!node_of(key, &node))
        return;
    if (node == m->node) { /* this member's own record came back: its reading works */
        if (put)
            m->own_ns = mono_ns();
        return;
    }
    size_t at = 0;
    seen *s = seen_find(m, node, &at);
    if (!put) { /* deleted (or purged): it left */
        if (s != NULL) {
            tell(m, node, ENS_MEMBER_LEFT, s->record);
            free(s->record);
            m->seen[at] = m->seen[--m->n_seen];
        }
        return;
    }
    if (len <= 0 || (unsigned)len > ENS_GW_RECORD_MAX) {
        ens__log(m->sys, NULL, ENS_LOG_WARN,
                 "gateway: the record of member %" PRIu32 " is ignored (%d bytes)", node, len);
        return;
    }
    char *record = malloc((size_t)len + 1);
    if (record == NULL) {
        ens__log(m->sys, NULL, ENS_LOG_ERROR,
                 "gateway: the record of member %" PRIu32 " was lost: out of memory", node);
        return;
    }
    memcpy(record, data, (size_t)len);
    record[len] = '\0';
    size_t name_len = 0;
    if (memchr(record, '\0', (size_t)len) != NULL || field(record, "system", &name_len) == NULL ||
        name_len == 0) {
        free(record); /* not a record a gateway writes */
        ens__log(m->sys, NULL, ENS_LOG_WARN,
                 "gateway: the record of member %" PRIu32 " is ignored (not a member's record)",
                 node);
        return;
    }
    bool changed = s == NULL || s->state != ENS_MEMBER_JOINED || strcmp(s->record, record) != 0;
    if (s == NULL && (s = seen_add(m, node)) == NULL) {
        free(record);
        ens__log(m->sys, NULL, ENS_LOG_ERROR,
                 "gateway: member %" PRIu32 " was not kept: out of memory", node);
        return;
    }
    free(s->record);
    s->record = record;
    uint64_t now = mono_ns();
    uint64_t stale = stale_ns(record);
    int64_t age = created_ns != 0 ? real_ns() - created_ns : 0;
    if (age > 0 && (uint64_t)age > stale) {
        /* Found at start and old: its system went without a word (its
         * heartbeats, if they come, make it joined). */
        bool was = s->state == ENS_MEMBER_UNREACHABLE;
        s->state = ENS_MEMBER_UNREACHABLE;
        if (s->last_ns == 0)
            s->last_ns = now > stale ? now - stale : 1;
        if (!was)
            tell(m, node, ENS_MEMBER_UNREACHABLE, record);
        return;
    }
    s->last_ns = now;
    s->state = ENS_MEMBER_JOINED;
    if (changed)
        tell(m, node, ENS_MEMBER_JOINED, record);
}

/* A message on the bucket's subjects: a put, or a removal (its header). */
static void on_live(ens_gw_members *m, natsMsg *msg)
{
    char prefix[112];
    snprintf(prefix, sizeof(prefix), "$KV.%s.", m->bucket);
    ens_gw_kv_entry e;
    if (ens__gw_kv_entry_of(msg, prefix, &e)) {
        pthread_mutex_lock(&m->life_lock);
        on_record(m, e.key, e.put, e.data, e.len, 0);
        pthread_mutex_unlock(&m->life_lock);
    }
}

/* Members that left by their heartbeat, went silent, or came back. Silence
 * counts while this member hears itself: its own heartbeat or record came
 * back within two heartbeats (plus a margin for a busy host); when it does
 * not, what arrives here arrives late, and a member is judged silent only
 * after twice down_after_ms. */
static void judge(ens_gw_members *m, uint64_t now)
{
    uint64_t down_ns = (uint64_t)m->down_ms * 1000000u;
    pthread_mutex_lock(&m->life_lock);
    bool deaf = now - m->own_ns > ((uint64_t)m->hb_ms * 2u + 50u) * 1000000u;
    /* From the end: a member that left is replaced by the last one, which
     * was judged already. */
    for (size_t i = m->n_seen; i-- > 0;) {
        seen *s = &m->seen[i];
        if (s->leaving) { /* it stops in order: its record goes next */
            tell(m, s->node, ENS_MEMBER_LEFT, s->record);
            free(s->record);
            m->seen[i] = m->seen[--m->n_seen];
            continue;
        }
        uint64_t silent = now > s->last_ns ? now - s->last_ns : 0;
        if (s->state == ENS_MEMBER_JOINED && silent > down_ns && (!deaf || silent > 2 * down_ns)) {
            s->state = ENS_MEMBER_UNREACHABLE;
            tell(m, s->node, ENS_MEMBER_UNREACHABLE, s->record);
        } else if (s->state == ENS_MEMBER_UNREACHABLE && silent <= down_ns) {
            s->state = ENS_MEMBER_JOINED; /* something of it came again */
            tell(m, s->node, ENS_MEMBER_JOINED, s->record);
        }
    }
    pthread_mutex_unlock(&m->life_lock);
}

/* Something of node was received now: a heartbeat (leaving: its last),
 * or a frame. */
static void life(ens_gw_members *m, uint32_t node, bool leaving)
{
    uint64_t now = mono_ns();
    pthread_mutex_lock(&m->life_lock);
    if (node == m->node) {
        m->own_ns = now;
    } else {
        seen *s = seen_find(m, node, NULL);
        if (s != NULL) { /* a node without a record is no member yet */
            s->last_ns = now;
            s->leaving = s->leaving || leaving;
        }
    }
    pthread_mutex_unlock(&m->life_lock);
}

/* A heartbeat (libnats's thread). */
static void on_beat(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    ens_gw_members *m = closure;
    const char *subject = natsMsg_GetSubject(msg);
    size_t plen = strlen(m->hb_prefix);
    uint32_t node = 0;
    if (subject != NULL && strncmp(subject, m->hb_prefix, plen) == 0 &&
        node_of(subject + plen, &node)) {
        bool leaving = natsMsg_GetDataLength(msg) == LEAVING_LEN &&
                       memcmp(natsMsg_GetData(msg), LEAVING, LEAVING_LEN) == 0;
        life(m, node, leaving);
    }
    natsMsg_Destroy(msg);
}

/* The heartbeat subscription is closed and its last callback returned. */
static void on_beats_done(void *closure)
{
    ens_gw_members *m = closure;
    pthread_mutex_lock(&m->lock);
    m->beats_done = true;
    pthread_cond_broadcast(&m->stopped);
    pthread_mutex_unlock(&m->lock);
}

/* Unsubscribe from the heartbeats and wait (up to a second: a callback
 * takes microseconds) until no callback of theirs can run, so m may go. */
static void beats_close(ens_gw_members *m)
{
    natsSubscription_Unsubscribe(m->beats);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 1;
    pthread_mutex_lock(&m->lock);
    while (!m->beats_done && pthread_cond_timedwait(&m->stopped, &m->lock, &ts) == 0)
        ;
    bool done = m->beats_done;
    pthread_mutex_unlock(&m->lock);
    if (!done)
        ens__log(m->sys, NULL, ENS_LOG_WARN,
                 "gateway: the heartbeat subscription did not close within a second");
    natsSubscription_Destroy(m->beats);
}

void ens__gw_members_life(ens_gw_members *m, uint32_t node)
{
    if (m != NULL && node != 0 && node != m->node) /* own life is only what came back */
        life(m, node, false);
}

static void down(ens_gw_members *m, const char *what, natsStatus st)
{
    if (m->told_down)
        return;
    m->told_down = true;
    ens__log(m->sys, NULL, ENS_LOG_WARN,
             "gateway: the members bucket %s: %s (%s); trying again every heartbeat", m->bucket,
             what, natsStatus_GetText(st));
}

static void on_read(void *arg, const ens_gw_kv_entry *e)
{
    ens_gw_members *m = arg;
    pthread_mutex_lock(&m->life_lock);
    on_record(m, e->key, e->put, e->data, e->len, e->time_ns);
    pthread_mutex_unlock(&m->life_lock);
}

/* Read every record in the bucket now (each key's last entry). */
static bool read_all(ens_gw_members *m)
{
    natsStatus st = ens__gw_kv_read(m->js, m->bucket, JS_WAIT_MS, on_read, m);
    if (st != NATS_OK)
        down(m, "cannot be read", st);
    return st == NATS_OK;
}

/* Put this member's record, with the actor count the admin last said (a
 * line that is not a capability: placement orders members by it). */
static natsStatus put_record(ens_gw_members *m, bool confirmed)
{
    pthread_mutex_lock(&m->lock);
    uint32_t actors = m->actors;
    pthread_mutex_unlock(&m->lock);
    size_t len = strlen(m->record) + 32;
    char *text = malloc(len);
    if (text == NULL)
        return NATS_NO_MEMORY;
    int n = snprintf(text, len, "%sactors=%" PRIu32 "\n", m->record, actors);
    natsStatus st;
    if (confirmed) {
        st = kvStore_PutString(NULL, m->kv, m->key, text);
    } else {
        /* Published to the bucket's subject without waiting for the
         * stream's acknowledgement: while JetStream elects a new leader for
         * the bucket (its server died) a confirmed put waits up to
         * JS_WAIT_MS, and this thread must go on beating meanwhile. A record
         * lost then is put again half a down_after_ms later. */
        char subject[192];
        snprintf(subject, sizeof(subject), "$KV.%s.%s", m->bucket, m->key);
        st = natsConnection_Publish(m->nc, subject, text, n);
    }
    free(text);
    if (st == NATS_OK)
        m->actors_put = actors;
    return st;
}

/* Bind the bucket, or create it; then follow it and read what it holds. */
static bool open_bucket(ens_gw_members *m)
{
    natsStatus st = NATS_OK;
    if (m->kv == NULL) {
        st = js_KeyValue(&m->kv, m->js, m->bucket);
        if (st == NATS_NOT_FOUND) {
            kvConfig cfg;
            kvConfig_Init(&cfg);
            cfg.Bucket = m->bucket;
            cfg.Description = "ensemble: the members of a convention";
            cfg.History = 1;
            cfg.TTL = (int64_t)ENS_CONVENTION_RECORD_TTL_S * 1000000000;
            /* Three copies where the servers are a cluster of three or
             * more, so that losing one server (or the link to it) keeps
             * the bucket with the majority; one on a lone server. */
            cfg.Replicas = 3;
            st = js_CreateKeyValue(&m->kv, m->js, &cfg);
            if (st != NATS_OK) {
                cfg.Replicas = 1;
                st = js_CreateKeyValue(&m->kv, m->js, &cfg);
            }
            if (st != NATS_OK) /* another member created it meanwhile */
                st = js_KeyValue(&m->kv, m->js, m->bucket);
        }
        if (st != NATS_OK) {
            m->kv = NULL;
            down(m, "cannot be opened", st);
            return false;
        }
    }
    /* This member's record goes in before the view is read, so that "the
     * view is complete" (change 0) also says "this system has joined": a
     * system started next finds it in the bucket. */
    st = put_record(m, true);
    if (st != NATS_OK) {
        down(m, "took no record", st);
        return false;
    }
    char subject[128];
    snprintf(subject, sizeof(subject), "$KV.%s.>", m->bucket);
    natsSubscription *live = NULL;
    st = ens__gw_kv_subscribe(m->nc, subject, JS_WAIT_MS, &live);
    if (st != NATS_OK) {
        down(m, "cannot be followed", st);
        return false;
    }
    if (!read_all(m)) {
        natsSubscription_Destroy(live);
        return false;
    }
    tell(m, 0, 0, NULL); /* what was there at start is reported */
    pthread_mutex_lock(&m->lock);
    m->live = live;
    if (m->stop)
        natsSubscription_Unsubscribe(live);
    pthread_mutex_unlock(&m->lock);
    if (m->told_down)
        ens__log(m->sys, NULL, ENS_LOG_INFO, "gateway: the members bucket %s answers", m->bucket);
    m->told_down = false;
    return true;
}

/* A heartbeat of this member's: NATS_OK or why not (libnats buffers it
 * while reconnecting). */
static natsStatus beat(ens_gw_members *m, bool leaving)
{
    return natsConnection_Publish(m->nc, m->hb_subject, leaving ? LEAVING : NULL,
                                  leaving ? LEAVING_LEN : 0);
}

static bool actors_changed(ens_gw_members *m)
{
    pthread_mutex_lock(&m->lock);
    bool changed = m->actors != m->actors_put;
    pthread_mutex_unlock(&m->lock);
    return changed;
}

static void *members_main(void *arg)
{
    ens_gw_members *m = arg;
    uint64_t hb_ns = (uint64_t)m->hb_ms * 1000000u;
    uint64_t put_ns = (uint64_t)m->down_ms * 1000000u / 2u;
    uint64_t next_put = 0, next_beat = 0;
    while (!stopping(m)) {
        pthread_mutex_lock(&m->lock);
        char *handed = m->handed;
        m->handed = NULL;
        pthread_mutex_unlock(&m->lock);
        if (handed != NULL) { /* the capabilities changed: the others learn it now */
            free(m->record);
            m->record = handed;
            next_put = 0;
        }
        uint64_t now = mono_ns();
        if (m->live == NULL) {
            if (open_bucket(m)) { /* it puts the record */
                now = mono_ns();
                next_put = now + put_ns;
                next_beat = now + hb_ns;
            }
        } else if (now >= next_put || (now + put_ns >= next_put + hb_ns && actors_changed(m))) {
            /* due, or the actor count changed (at most once a heartbeat) */
            natsStatus st = put_record(m, false);
            if (st != NATS_OK)
                down(m, "took no record", st);
            now = mono_ns();
            next_put = now + put_ns;
        }
        if (now >= next_beat) {
            natsStatus st = beat(m, false);
            if (st != NATS_OK && st != m->beat_failed)
                ens__log(m->sys, NULL, ENS_LOG_WARN, "gateway: a heartbeat was not sent: %s",
                         natsStatus_GetText(st));
            m->beat_failed = st;
            now = mono_ns();
            next_beat = now + hb_ns;
        }
        judge(m, now);
        uint64_t until = next_beat;
        if (m->live != NULL && next_put < until)
            until = next_put;
        int64_t wait_ms = until > now ? (int64_t)((until - now + 999999u) / 1000000u) : 1;
        if (wait_ms > HANDOVER_WAIT_MS)
            wait_ms = HANDOVER_WAIT_MS; /* also how often silence is judged */
        if (m->live == NULL) {          /* nothing to wait on: wait for the next try, or a stop */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)wait_ms * 1000000u;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            pthread_mutex_lock(&m->lock);
            if (!m->stop && m->handed == NULL)
                pthread_cond_timedwait(&m->stopped, &m->lock, &ts);
            pthread_mutex_unlock(&m->lock);
            continue;
        }
        natsMsg *msg = NULL;
        natsStatus st = natsSubscription_NextMsg(&msg, m->live, wait_ms);
        if (st == NATS_OK) {
            on_live(m, msg);
            natsMsg_Destroy(msg);
        } else if (st != NATS_TIMEOUT) {
            if (stopping(m))
                break; /* unsubscribed by ens__gw_members_stop */
            /* The subscription is no longer usable (its connection was
             * closed): follow the bucket afresh at the next try. */
            down(m, "is no longer followed", st);
            pthread_mutex_lock(&m->lock);
            natsSubscription *dead = m->live;
            m->live = NULL;
            pthread_mutex_unlock(&m->lock);
            natsSubscription_Destroy(dead);
        }
    }
    return NULL;
}

/* ---- start and stop -------------------------------------------------- */

/* This member's record: who it is, then each capability of caps (the
 * system's full capabilities, the built-ins first, each line ending in
 * '\n') as a "cap." line. Owned by the caller; NULL when out of memory. */
static char *record_build(const ens_system *s, pid_t admin, uint32_t hb_ms, uint32_t down_ms,
                          const char *caps)
{
    char host[256];
    ens__caps_host(host, sizeof(host));
    size_t lines = 0;
    for (const char *p = caps; *p != '\0'; p++)
        lines += *p == '\n';
    size_t cap = 512 + strlen(s->name) + strlen(host) + strlen(caps) + 4 * lines;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    int n = snprintf(out, cap,
                     "system=%s\nhost=%s\npid=%d\nversion=%s\nstarted=%" PRId64
                     "\nheartbeat_ms=%" PRIu32 "\ndown_after_ms=%" PRIu32 "\n",
                     s->name, host, (int)admin, ENS_VERSION_TEXT, s->started_ms, hb_ms, down_ms);
    for (const char *line = caps; *line != '\0' && n > 0;) {
        const char *nl = strchr(line, '\n');
        int len = nl != NULL ? (int)(nl - line) : (int)strlen(line);
        n += snprintf(out + n, cap - (size_t)n, "cap.%.*s\n", len, line);
        line += len + (nl != NULL);
    }
    return out;
}

int ens__gw_members_start(ens_system *s, ens_gw_nats *g, uint32_t node, pid_t admin, int wake_fd,
                          const char *caps, ens_gw_members **out)
{
    *out = NULL;
    ens_gw_members *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return ENS_ENOMEM;
    m->sys = s;
    m->nc = ens__gw_nats_conn(g);
    m->node = node;
    m->hb_ms = s->opts.convention.heartbeat_ms != 0 ? s->opts.convention.heartbeat_ms
                                                    : ENS_CONVENTION_HEARTBEAT_MS;
    m->down_ms = ens__gw_down_after_ms(&s->opts.convention);
    m->wake_fd = wake_fd;
    snprintf(m->hb_prefix, sizeof(m->hb_prefix), "ens.%s.hb.", s->opts.convention.name);
    snprintf(m->hb_subject, sizeof(m->hb_subject), "%s%" PRIu32, m->hb_prefix, node);
    snprintf(m->bucket, sizeof(m->bucket), "ens-%s-members", s->opts.convention.name);
    snprintf(m->key, sizeof(m->key), "%" PRIu32, node);
    m->admin = admin;
    m->record = caps != NULL ? record_build(s, admin, m->hb_ms, m->down_ms, caps) : NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = JS_WAIT_MS;
    if (m->record == NULL || natsConnection_JetStream(&m->js, m->nc, &jo) != NATS_OK) {
        free(m->record);
        free(m);
        return ENS_ENOMEM;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->life_lock, NULL);
    char every[sizeof(((ens_gw_members *)0)->hb_prefix) + 2];
    snprintf(every, sizeof(every), "%s*", m->hb_prefix);
    if (natsConnection_Subscribe(&m->beats, m->nc, every, on_beat, m) != NATS_OK) {
        jsCtx_Destroy(m->js);
        pthread_mutex_destroy(&m->life_lock);
        pthread_mutex_destroy(&m->lock);
        free(m->record);
        free(m);
        return ENS_ENOMEM;
    }
    natsSubscription_SetPendingLimits(m->beats, -1, -1); /* each is taken at once */
    natsSubscription_SetOnCompleteCB(m->beats, on_beats_done, m);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->stopped, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&m->thread, NULL, members_main, m) != 0) {
        beats_close(m);
        jsCtx_Destroy(m->js);
        pthread_mutex_destroy(&m->life_lock);
        pthread_cond_destroy(&m->stopped);
        pthread_mutex_destroy(&m->lock);
        free(m->record);
        free(m);
        return ENS_EAGAIN;
    }
    *out = m;
    return 0;
}

int ens__gw_members_set_caps(ens_gw_members *m, const char *caps)
{
    if (m == NULL || caps == NULL)
        return ENS_EINVAL;
    char *record = record_build(m->sys, m->admin, m->hb_ms, m->down_ms, caps);
    if (record == NULL)
        return ENS_ENOMEM;
    pthread_mutex_lock(&m->lock);
    free(m->handed); /* a record not put yet is outdated by this one */
    m->handed = record;
    pthread_cond_signal(&m->stopped);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

void ens__gw_members_set_actors(ens_gw_members *m, uint32_t actors)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->actors = actors;
    pthread_mutex_unlock(&m->lock);
}

ens_gw_change *ens__gw_members_take(ens_gw_members *m)
{
    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&m->lock);
    ens_gw_change *all = m->head;
    m->head = m->tail = NULL;
    pthread_mutex_unlock(&m->lock);
    return all;
}

void ens__gw_members_stop(ens_gw_members *m, bool leave, uint32_t wait_ms)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->stopped);
    if (m->live != NULL)
        natsSubscription_Unsubscribe(m->live); /* ends a wait for the next message */
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    beats_close(m); /* no heartbeat is taken from here on */
    if (leave)      /* the others see "left" at once, before the record goes */
        (void)beat(m, true);
    if (leave && m->kv != NULL) {
        natsStatus st = kvStore_Delete(m->kv, m->key);
        if (st == NATS_OK)
            st = natsConnection_FlushTimeout(m->nc, wait_ms > 0 ? wait_ms : 1);
        if (st != NATS_OK)
            ens__log(m->sys, NULL, ENS_LOG_WARN,
                     "gateway: this member's record was not deleted (%s): the others will see it "
                     "unreachable, not left",
                     natsStatus_GetText(st));
    }
    if (m->live != NULL)
        natsSubscription_Destroy(m->live);
    if (m->kv != NULL)
        kvStore_Destroy(m->kv);
    jsCtx_Destroy(m->js);
    for (ens_gw_change *c = m->head, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    for (size_t i = 0; i < m->n_seen; i++)
        free(m->seen[i].record);
    free(m->seen);
    pthread_cond_destroy(&m->stopped);
    pthread_mutex_destroy(&m->life_lock);
    pthread_mutex_destroy(&m->lock);
    free(m->handed);
    free(m->record);
    free(m);
}

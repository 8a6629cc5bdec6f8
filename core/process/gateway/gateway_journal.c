/*
 * core/process/gateway/gateway_journal.c - the journal across a
 * convention (gateway_journal.h): the gateway's answerer and the asker,
 * ens_journal_query_convention().
 *
 * Requests come from anyone who may publish on the convention's NATS
 * server: each field is checked before use, the request is bounded in size
 * and the queue of requests in libnats too (ENS_GW_JOURNAL_QUEUE_MAX; more
 * are dropped, the asker times out). The answerer runs on its
 * subscription's own libnats thread, so a slow query never holds the
 * gateway's loop; it opens the journal read-only per request (the writer
 * process keeps writing meanwhile, WAL).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/gateway/gateway_journal.h"
#include "core/wire/why.h"
#include "ensemble/error.h"

#define SUBJECT_MAX 200
/* Room kept in a chunk for its header. */
#define CHUNK_HEADER 32u

static const uint8_t request_magic[4] = {'E', 'J', 'Q', '1'};
static const uint8_t chunk_magic[4] = {'E', 'J', 'A', '1'};

/* ---- writing and reading the wire ---------------------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} wbuf;

static void w_bytes(wbuf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap != 0 ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void w_u64(wbuf *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    w_bytes(b, t, (size_t)bytes);
}

static void w_u32(wbuf *b, uint32_t v)
{
    w_u64(b, v, 4);
}

static void w_text(wbuf *b, const char *s, size_t max)
{
    size_t n = s != NULL ? strnlen(s, max) : 0;
    w_u64(b, n, 2);
    w_bytes(b, s, n);
}

static void w_addr(wbuf *b, ens_addr a)
{
    w_u64(b, a.id, 8);
    w_u32(b, a.node);
}

typedef struct rbuf {
    const uint8_t *p;
    size_t left;
    bool bad;
} rbuf;

static uint64_t r_u64(rbuf *r, int bytes)
{
    if (r->bad || r->left < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    r->left -= (size_t)bytes;
    return v;
}

static uint32_t r_u32(rbuf *r)
{
    return (uint32_t)r_u64(r, 4);
}

/* A text of at most max bytes without NUL, copied into out (max + 1). */
static bool r_text(rbuf *r, char *out, size_t max)
{
    size_t n = (size_t)r_u64(r, 2);
    if (r->bad || n > max || n > r->left || memchr(r->p, '\0', n) != NULL) {
        r->bad = true;
        out[0] = '\0';
        return false;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
    r->left -= n;
    return true;
}

static ens_addr r_addr(rbuf *r)
{
    ens_addr a = ENS_ADDR_NONE;
    a.id = r_u64(r, 8);
    a.node = r_u32(r);
    return a;
}

/* ---- the request ----------------------------------------------------- */

int ens__gw_journal_encode_request(const ens_journal_filter *f, uint8_t *buf, size_t len)
{
    const char *at = f->actor_type != NULL ? f->actor_type : "";
    const char *mt = f->msg_type != NULL ? f->msg_type : "";
    if (strlen(at) > ENS_GW_JOURNAL_TEXT_MAX || strlen(mt) > ENS_GW_JOURNAL_TEXT_MAX)
        return ENS_EINVAL;
    wbuf b = {0};
    w_bytes(&b, request_magic, 4);
    w_u32(&b, f->actor.node);
    w_u64(&b, f->actor.id, 8);
    w_u32(&b, f->kinds);
    w_u64(&b, (uint64_t)f->since_ms, 8);
    w_u64(&b, (uint64_t)f->until_ms, 8);
    w_u32(&b, f->limit);
    w_text(&b, at, ENS_GW_JOURNAL_TEXT_MAX);
    w_text(&b, mt, ENS_GW_JOURNAL_TEXT_MAX);
    int rc = b.oom ? ENS_ENOMEM : b.len > len ? ENS_EINVAL : (int)b.len;
    if (rc > 0)
        memcpy(buf, b.p, b.len);
    free(b.p);
    return rc;
}

int ens__gw_journal_decode_request(const uint8_t *data, size_t len, ens_journal_filter *f,
                                   char names[2][ENS_GW_JOURNAL_TEXT_MAX + 1], char *why,
                                   size_t why_len)
{
    if (len > ENS_GW_JOURNAL_REQUEST_MAX) {
        snprintf(why, why_len, "a request of %zu bytes (at most %u)", len,
                 ENS_GW_JOURNAL_REQUEST_MAX);
        return ENS_EBADFRAME;
    }
    if (len < 4 || memcmp(data, request_magic, 4) != 0) {
        snprintf(why, why_len, "not a journal request");
        return ENS_EBADFRAME;
    }
    rbuf r = {data + 4, len - 4, false};
    memset(f, 0, sizeof(*f));
    f->actor.node = r_u32(&r);
    f->actor.id = r_u64(&r, 8);
    f->kinds = r_u32(&r);
    f->since_ms = (int64_t)r_u64(&r, 8);
    f->until_ms = (int64_t)r_u64(&r, 8);
    f->limit = r_u32(&r);
    bool texts = r_text(&r, names[0], ENS_GW_JOURNAL_TEXT_MAX) &&
                 r_text(&r, names[1], ENS_GW_JOURNAL_TEXT_MAX);
    if (r.bad || !texts) {
        snprintf(why, why_len, "a truncated request or a type name that is too long or holds NUL");
        return ENS_EBADFRAME;
    }
    if (r.left != 0) {
        snprintf(why, why_len, "%zu bytes after the request", r.left);
        return ENS_EBADFRAME;
    }
    for (unsigned k = 0; k < 32; k++)
        if ((f->kinds & (1u << k)) &&
            strcmp(ens_event_kind_name((ens_event_kind)k), "unknown") == 0) {
            snprintf(why, why_len, "kinds bit %u names no event kind", k);
            return ENS_EBADFRAME;
        }
    if (f->limit > ENS_GW_JOURNAL_ROWS_MAX) {
        snprintf(why, why_len, "a limit of %" PRIu32 " rows (at most %u)", f->limit,
                 ENS_GW_JOURNAL_ROWS_MAX);
        return ENS_EBADFRAME;
    }
    if (f->limit == 0)
        f->limit = ENS_GW_JOURNAL_ROWS_MAX;
    if (f->since_ms < 0 || f->until_ms < 0) {
        snprintf(why, why_len, "a time before 1970");
        return ENS_EBADFRAME;
    }
    f->actor_type = names[0][0] != '\0' ? names[0] : NULL;
    f->msg_type = names[1][0] != '\0' ? names[1] : NULL;
    return 0;
}

/* ---- the answerer ---------------------------------------------------- */

struct ens_gw_journal {
    ens_system *sys;
    natsConnection *nc;
    natsSubscription *sub;
};

/* One answer under way: the chunk being filled and where it goes. */
typedef struct answer {
    natsConnection *nc;
    const char *reply;
    wbuf b;
    size_t budget; /* bytes of one chunk */
    size_t cell;   /* bytes of one text */
    uint32_t index, rows;
    bool failed;
} answer;

static void chunk_start(answer *a)
{
    a->b.len = 0;
    a->rows = 0;
    w_bytes(&a->b, chunk_magic, 4);
    w_u32(&a->b, a->index);
    w_u64(&a->b, 0, 1); /* last: set when sent */
    w_u32(&a->b, 0);    /* status */
    w_u32(&a->b, 0);    /* rows: set when sent */
}

static void chunk_send(answer *a, bool last)
{
    if (a->b.oom || a->failed) {
        a->failed = true;
        return;
    }
    a->b.p[8] = last ? 1 : 0;
    for (int i = 0; i < 4; i++)
        a->b.p[13 + i] = (uint8_t)(a->rows >> (8 * i));
    if (natsConnection_Publish(a->nc, a->reply, a->b.p, (int)a->b.len) != NATS_OK)
        a->failed = true;
    a->index++;
    chunk_start(a);
}

/* A last chunk (number index) without rows that says status and why. */
static void answer_status(natsConnection *nc, const char *reply, uint32_t index, int status,
                          const char *why)
{
    wbuf b = {0};
    w_bytes(&b, chunk_magic, 4);
    w_u32(&b, index);
    w_u64(&b, 1, 1);
    w_u32(&b, (uint32_t)status);
    w_u32(&b, 0);
    w_text(&b, why, 1000);
    if (!b.oom)
        natsConnection_Publish(nc, reply, b.p, (int)b.len);
    free(b.p);
}

static int on_row(const ens_journal_row *row, void *arg)
{
    answer *a = arg;
    size_t before = a->b.len;
    const ens_event *ev = &row->ev;
    w_u64(&a->b, (uint64_t)row->seq, 8);
    w_u64(&a->b, (uint64_t)ev->at_ms, 8);
    w_u32(&a->b, row->node);
    w_u32(&a->b, (uint32_t)ev->kind);
    w_addr(&a->b, ev->actor);
    w_addr(&a->b, ev->parent);
    w_addr(&a->b, ev->sender);
    w_u32(&a->b, (uint32_t)ev->error);
    w_u32(&a->b, (uint32_t)ev->signal);
    w_u32(&a->b, ev->attempt);
    w_u32(&a->b, ev->incarnation);
    w_u32(&a->b, ev->msg_size);
    const char *texts[6] = {row->system,    row->host,    row->error_name,
                            ev->actor_type, ev->msg_type, ev->reason};
    for (int i = 0; i < 6; i++)
        w_text(&a->b, texts[i], a->cell);
    if (a->b.oom)
        return 1;
    if (a->b.len > a->budget && a->rows > 0) {
        /* This row does not fit: send the chunk without it, then start the
         * next one with it (a row alone always fits: cell bounds it). */
        size_t n = a->b.len - before;
        uint8_t *copy = malloc(n);
        if (copy == NULL)
            return 1;
        memcpy(copy, a->b.p + before, n);
        a->b.len = before;
        chunk_send(a, false);
        w_bytes(&a->b, copy, n);
        free(copy);
    }
    a->rows++;
    return a->failed ? 1 : 0;
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    ens_gw_journal *j = closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply == NULL || reply[0] == '\0') {
        natsMsg_Destroy(msg); /* nowhere to answer */
        return;
    }
    ens_journal_filter f;
    char names[2][ENS_GW_JOURNAL_TEXT_MAX + 1];
    char why[512] = "";
    int len = natsMsg_GetDataLength(msg);
    int rc = ens__gw_journal_decode_request((const uint8_t *)natsMsg_GetData(msg),
                                            len > 0 ? (size_t)len : 0, &f, names, why, sizeof(why));
    if (rc != 0) {
        answer_status(nc, reply, 0, rc, why);
        natsMsg_Destroy(msg);
        return;
    }
    if (j->sys->journal_path == NULL) {
        answer_status(nc, reply, 0, ENS_ENOENT, "no journal");
        natsMsg_Destroy(msg);
        return;
    }
    ens_journal *jr = NULL;
    rc = ens_journal_open_why(j->sys->journal_path, &jr, why, sizeof(why));
    if (rc != 0) {
        answer_status(nc, reply, 0, rc, why);
        natsMsg_Destroy(msg);
        return;
    }
    int64_t max = natsConnection_GetMaxPayload(nc);
    answer a = {.nc = nc, .reply = reply};
    a.budget = max > 0 ? (size_t)max - CHUNK_HEADER : 64u * 1024u;
    if (a.budget > 512u * 1024u)
        a.budget = 512u * 1024u;
    a.cell = a.budget / 8 < ENS_GW_JOURNAL_CELL_MAX ? a.budget / 8 : ENS_GW_JOURNAL_CELL_MAX;
    chunk_start(&a);
    rc = ens_journal_query(jr, &f, on_row, &a);
    if (rc < 0) {
        /* The rows sent stay sent; the last chunk says what failed. */
        snprintf(why, sizeof(why), "%s", ens_journal_errmsg(jr));
        answer_status(nc, reply, a.index, rc, why);
    } else if (a.b.oom || a.failed) {
        answer_status(nc, reply, a.index, ENS_ENOMEM, "out of memory answering");
    } else {
        chunk_send(&a, true);
    }
    free(a.b.p);
    ens_journal_close(jr);
    natsMsg_Destroy(msg);
}

int ens__gw_journal_open(ens_system *s, natsConnection *nc, uint32_t node, ens_gw_journal **out)
{
    *out = NULL;
    ens_gw_journal *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return ENS_ENOMEM;
    j->sys = s;
    j->nc = nc;
    char subj[SUBJECT_MAX];
    snprintf(subj, sizeof(subj), "ens.%s.journal.%" PRIu32, s->opts.convention.name, node);
    natsStatus st = natsConnection_Subscribe(&j->sub, nc, subj, on_request, j);
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(
            j->sub, ENS_GW_JOURNAL_QUEUE_MAX,
            (int)(ENS_GW_JOURNAL_QUEUE_MAX * ENS_GW_JOURNAL_REQUEST_MAX));
    if (st != NATS_OK) {
        natsSubscription_Destroy(j->sub);
        free(j);
        return st == NATS_NO_MEMORY ? ENS_ENOMEM : ENS_EIO;
    }
    *out = j;
    return 0;
}

void ens__gw_journal_close(ens_gw_journal *j)
{
    if (j == NULL)
        return;
    /* Drained: a request being answered is finished before j goes (its
     * callback reads j); one that takes longer keeps j (the gateway ends). */
    bool done = natsSubscription_Drain(j->sub) == NATS_OK &&
                natsSubscription_WaitForDrainCompletion(j->sub, 2000) == NATS_OK;
    natsSubscription_Destroy(j->sub);
    if (done)
        free(j);
}

/* ---- the asker: ens_journal_query_convention ------------------------ */

/* One row received, its texts in one allocation. */
typedef struct got_row {
    ens_journal_row row;
    char *texts;
} got_row;

typedef struct asked_member {
    uint32_t node;
    char system[ENS_GW_RECORD_TEXT_MAX], host[ENS_GW_RECORD_TEXT_MAX];
    uint32_t next_chunk;
    uint32_t rows;
    bool done;
    int status;
    char why[256];
} asked_member;

typedef struct asking {
    asked_member *m;
    size_t n;
    got_row *rows;
    size_t n_rows, cap_rows;
    uint32_t per_member; /* rows taken from one member, at most */
    bool oom;
} asking;

/* "key=VALUE" of a member record (text, one line each) into out. */
static void record_field(const char *rec, const char *key, char *out, size_t len)
{
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = rec; p != NULL && *p != '\0';) {
        const char *eol = strchr(p, '\n');
        size_t n = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t v = n - kl - 1;
            if (v >= len)
                v = len - 1;
            memcpy(out, p + kl + 1, v);
            out[v] = '\0';
            for (char *c = out; *c != '\0'; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    *c = '?';
            return;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
}

int ens__gw_conv_members(natsConnection *nc, const char *convention, uint32_t timeout_ms,
                         ens_gw_conv_member **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    char bucket[160], stream[170], filter[180];
    snprintf(bucket, sizeof(bucket), "ens-%s-members", convention);
    snprintf(stream, sizeof(stream), "KV_%s", bucket);
    snprintf(filter, sizeof(filter), "$KV.%s.>", bucket);
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    jsStreamInfo *info = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = timeout_ms;
    jo.Stream.Info.SubjectsFilter = filter;
    natsStatus st = natsConnection_JetStream(&js, nc, &jo);
    if (st == NATS_OK)
        st = js_KeyValue(&kv, js, bucket);
    jsErrCode jerr = 0;
    if (st == NATS_OK)
        st = js_GetStreamInfo(&info, js, stream, &jo, &jerr);
    int rc = st == NATS_OK ? 0 : st == NATS_NOT_FOUND ? ENS_ENOENT : ENS_EUNREACHABLE;
    int n = rc == 0 && info->State.Subjects != NULL ? info->State.Subjects->Count : 0;
    size_t prefix = strlen(filter) - 1;
    ens_gw_conv_member *list = calloc(n > 0 ? (size_t)n : 1, sizeof(*list));
    if (list == NULL)
        rc = ENS_ENOMEM;
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *subject = info->State.Subjects->List[i].Subject;
        if (subject == NULL || strlen(subject) <= prefix)
            continue;
        const char *key = subject + prefix;
        char *end = NULL;
        unsigned long long node = strtoull(key, &end, 10);
        if (key[0] < '0' || key[0] > '9' || *end != '\0' || node == 0 || node > UINT32_MAX)
            continue;
        kvEntry *e = NULL;
        if (kvStore_Get(&e, kv, key) != NATS_OK)
            continue; /* deleted: the member left */
        ens_gw_conv_member *m = &list[(*count)++];
        m->node = (uint32_t)node;
        int vlen = kvEntry_ValueLen(e);
        char *rec = malloc(vlen > 0 ? (size_t)vlen + 1 : 1);
        if (rec != NULL) {
            if (vlen > 0)
                memcpy(rec, kvEntry_Value(e), (size_t)vlen);
            rec[vlen > 0 ? vlen : 0] = '\0';
            record_field(rec, "system", m->system, sizeof(m->system));
            record_field(rec, "host", m->host, sizeof(m->host));
            free(rec);
        }
        kvEntry_Destroy(e);
    }
    if (info != NULL)
        jsStreamInfo_Destroy(info);
    if (kv != NULL)
        kvStore_Destroy(kv);
    if (js != NULL)
        jsCtx_Destroy(js);
    if (rc == 0)
        *out = list;
    else
        free(list);
    return rc;
}

int ens__gw_conv_connect(const char *servers, uint32_t timeout_ms, natsOptions **opts,
                         natsConnection **nc)
{
    *opts = NULL;
    *nc = NULL;
    /* natsOptions_SetURL takes one URL: a list is split into servers,
     * tried in the order given (the asker's own server first). */
    char list[1024];
    const char *urls[16];
    int count = 0;
    snprintf(list, sizeof(list), "%s", servers);
    for (char *save = NULL, *u = strtok_r(list, ", ", &save); u != NULL && count < 16;
         u = strtok_r(NULL, ", ", &save))
        urls[count++] = u;
    if (count == 0)
        return ENS_EINVAL;
    natsStatus st = natsOptions_Create(opts);
    if (st == NATS_OK)
        st = natsOptions_SetServers(*opts, urls, count);
    if (st == NATS_OK)
        st = natsOptions_SetNoRandomize(*opts, true);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(*opts, timeout_ms);
    if (st == NATS_OK)
        st = natsConnection_Connect(nc, *opts);
    return st == NATS_OK ? 0 : st == NATS_NO_MEMORY ? ENS_ENOMEM : ENS_EUNREACHABLE;
}

bool ens__gw_conv_name_ok(const char *convention)
{
    return convention != NULL && convention[0] != '\0' && strlen(convention) <= 64 &&
           strpbrk(convention, ".*> \t\r\n") == NULL;
}

static asked_member *member_of(asking *q, uint32_t node)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->m[i].node == node)
            return &q->m[i];
    return NULL;
}

/* One row of a chunk into q (false: malformed). */
static bool take_row(rbuf *r, asking *q)
{
    got_row g;
    memset(&g, 0, sizeof(g));
    ens_journal_row *row = &g.row;
    row->seq = (int64_t)r_u64(r, 8);
    row->ev.at_ms = (int64_t)r_u64(r, 8);
    row->node = r_u32(r);
    uint32_t kind = r_u32(r);
    row->ev.kind = strcmp(ens_event_kind_name((ens_event_kind)kind), "unknown") != 0
                       ? (ens_event_kind)kind
                       : (ens_event_kind)0;
    row->ev.actor = r_addr(r);
    row->ev.parent = r_addr(r);
    row->ev.sender = r_addr(r);
    row->ev.error = (int32_t)r_u32(r);
    row->ev.signal = (int32_t)r_u32(r);
    row->ev.attempt = r_u32(r);
    row->ev.incarnation = r_u32(r);
    row->ev.msg_size = r_u32(r);
    if (r->bad)
        return false;
    /* The texts' lengths first (checked), then one allocation of their
     * exact size. */
    rbuf peek = *r;
    size_t total = 0;
    for (int i = 0; i < 6; i++) {
        size_t n = (size_t)r_u64(&peek, 2);
        if (peek.bad || n > ENS_GW_JOURNAL_CELL_MAX || n > peek.left)
            return false;
        peek.p += n;
        peek.left -= n;
        total += n + 1;
    }
    g.texts = malloc(total);
    if (g.texts == NULL) {
        q->oom = true;
        return false;
    }
    char *t[6];
    char *at = g.texts;
    for (int i = 0; i < 6; i++) {
        t[i] = at;
        if (!r_text(r, t[i], ENS_GW_JOURNAL_CELL_MAX)) {
            free(g.texts);
            return false;
        }
        at += strlen(t[i]) + 1;
    }
    row->system = t[0];
    row->host = t[1];
    row->error_name = t[2];
    row->ev.actor_type = t[3];
    row->ev.msg_type = t[4];
    row->ev.reason = t[5];
    if (q->n_rows == q->cap_rows) {
        size_t cap = q->cap_rows != 0 ? q->cap_rows * 2 : 256;
        got_row *nr = realloc(q->rows, cap * sizeof(*nr));
        if (nr == NULL) {
            free(g.texts);
            q->oom = true;
            return false;
        }
        q->rows = nr;
        q->cap_rows = cap;
    }
    q->rows[q->n_rows++] = g;
    return true;
}

/* A chunk from member m: its rows kept; m done at the last one, a refusal
 * or anything malformed (then m's status says so). */
static void take_chunk(asking *q, asked_member *m, const uint8_t *data, size_t len)
{
    rbuf r = {data, len, false};
    if (len < 4 || memcmp(data, chunk_magic, 4) != 0) {
        m->done = true;
        m->status = ENS_EBADFRAME;
        snprintf(m->why, sizeof(m->why), "an answer that is not a journal chunk");
        return;
    }
    r.p += 4;
    r.left -= 4;
    uint32_t index = r_u32(&r);
    bool last = r_u64(&r, 1) != 0;
    int32_t status = (int32_t)r_u32(&r);
    uint32_t rows = r_u32(&r);
    if (r.bad || index != m->next_chunk) {
        m->done = true;
        m->status = ENS_EBADFRAME;
        snprintf(m->why, sizeof(m->why), "a malformed answer (chunk %u, expected %u)", index,
                 m->next_chunk);
        return;
    }
    m->next_chunk++;
    if (status != 0) {
        char why[1001];
        if (!r_text(&r, why, 1000))
            snprintf(why, sizeof(why), "(no reason given)");
        m->done = true;
        m->status = status < 0 ? status : ENS_EBADFRAME;
        snprintf(m->why, sizeof(m->why), "%.200s", why);
        return;
    }
    /* Rows past the limit asked for are not kept (a member that sends
     * more is not believed further). */
    for (uint32_t i = 0; i < rows && m->rows < q->per_member; i++) {
        if (!take_row(&r, q)) {
            if (!q->oom) {
                m->done = true;
                m->status = ENS_EBADFRAME;
                snprintf(m->why, sizeof(m->why), "a malformed row in its answer");
            }
            return;
        }
        q->rows[q->n_rows - 1].row.node =
            q->rows[q->n_rows - 1].row.node != 0 ? q->rows[q->n_rows - 1].row.node : m->node;
        m->rows++;
    }
    if (last)
        m->done = true;
}

/* Newest first, as ens_journal_query; ties by node, then seq. */
static int row_cmp(const void *a, const void *b)
{
    const ens_journal_row *x = &((const got_row *)a)->row, *y = &((const got_row *)b)->row;
    if (x->ev.at_ms != y->ev.at_ms)
        return x->ev.at_ms > y->ev.at_ms ? -1 : 1;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq ? 1 : 0;
}

int ens_journal_query_convention(const char *servers, const char *convention,
                                 const ens_journal_filter *f, uint32_t timeout_ms,
                                 ens_journal_row_cb cb, void *arg, ens_journal_missing_cb missing,
                                 void *missing_arg)
{
    ens__errmsg_clear();
    if (servers == NULL || !ens__gw_conv_name_ok(convention) || cb == NULL || timeout_ms == 0)
        return ens__fail(ENS_EINVAL, "ens_journal_query_convention: %s",
                         servers == NULL                     ? "servers is NULL"
                         : !ens__gw_conv_name_ok(convention) ? "the convention name is not 1-64 "
                                                               "of [A-Za-z0-9_-]"
                         : cb == NULL                        ? "cb is NULL"
                                                             : "timeout_ms is 0");
    ens_journal_filter want = ENS_JOURNAL_FILTER_INIT;
    if (f != NULL)
        want = *f;
    if (want.limit == 0 || want.limit > ENS_GW_JOURNAL_ROWS_MAX)
        want.limit = ENS_GW_JOURNAL_ROWS_MAX;
    uint8_t req[ENS_GW_JOURNAL_REQUEST_MAX];
    int req_len = ens__gw_journal_encode_request(&want, req, sizeof(req));
    if (req_len < 0)
        return req_len;
    int64_t deadline = ens__now_ms() + timeout_ms;
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    asking q = {.per_member = want.limit};
    natsStatus st = NATS_OK;
    int rc = ens__gw_conv_connect(servers, timeout_ms, &opts, &nc);
    ens_gw_conv_member *list = NULL;
    if (rc == 0)
        rc = ens__gw_conv_members(nc, convention, timeout_ms, &list, &q.n);
    if (rc == ENS_ENOENT)
        ens__errmsg_set("ens_journal_query_convention: no convention named %s at %.200s",
                        convention, servers);
    if (rc == 0) {
        q.m = calloc(q.n > 0 ? q.n : 1, sizeof(*q.m));
        if (q.m == NULL)
            rc = ENS_ENOMEM;
        for (size_t i = 0; rc == 0 && i < q.n; i++) {
            q.m[i].node = list[i].node;
            memcpy(q.m[i].system, list[i].system, sizeof(q.m[i].system));
            memcpy(q.m[i].host, list[i].host, sizeof(q.m[i].host));
        }
    }
    free(list);
    char inbox[128] = "";
    if (rc == 0) {
        natsInbox *ib = NULL;
        if (natsInbox_Create(&ib) != NATS_OK)
            rc = ENS_ENOMEM;
        else
            snprintf(inbox, sizeof(inbox), "%s", (const char *)ib);
        natsInbox_Destroy(ib);
    }
    if (rc == 0) {
        char subj[SUBJECT_MAX];
        snprintf(subj, sizeof(subj), "%s.*", inbox);
        st = natsConnection_SubscribeSync(&sub, nc, subj);
        if (st == NATS_OK)
            st = natsSubscription_SetPendingLimits(sub, -1, -1);
        rc = st == NATS_OK ? 0 : ENS_EUNREACHABLE;
    }
    for (size_t i = 0; rc == 0 && i < q.n; i++) {
        char subj[SUBJECT_MAX], reply[SUBJECT_MAX];
        snprintf(subj, sizeof(subj), "ens.%s.journal.%" PRIu32, convention, q.m[i].node);
        snprintf(reply, sizeof(reply), "%s.%" PRIu32, inbox, q.m[i].node);
        if (natsConnection_PublishRequest(nc, subj, reply, req, req_len) != NATS_OK)
            rc = ENS_EUNREACHABLE;
    }
    size_t open = q.n;
    size_t prefix = strlen(inbox) + 1;
    while (rc == 0 && open > 0 && !q.oom) {
        int64_t left = deadline - ens__now_ms();
        if (left <= 0)
            break;
        natsMsg *msg = NULL;
        st = natsSubscription_NextMsg(&msg, sub, left);
        if (st == NATS_TIMEOUT)
            break;
        if (st != NATS_OK)
            continue; /* a slow-consumer notice: the next message follows */
        const char *subject = natsMsg_GetSubject(msg);
        char *end = NULL;
        unsigned long long node =
            strlen(subject) > prefix ? strtoull(subject + prefix, &end, 10) : 0;
        asked_member *m = end != NULL && *end == '\0' && node <= UINT32_MAX
                              ? member_of(&q, (uint32_t)node)
                              : NULL;
        int len = natsMsg_GetDataLength(msg);
        if (m != NULL && !m->done) {
            take_chunk(&q, m, (const uint8_t *)natsMsg_GetData(msg), len > 0 ? (size_t)len : 0);
            if (m->done)
                open--;
        }
        natsMsg_Destroy(msg);
    }
    if (q.oom)
        rc = ENS_ENOMEM;
    int passed = 0;
    if (rc == 0) {
        if (q.rows != NULL && q.n_rows > 1)
            qsort(q.rows, q.n_rows, sizeof(*q.rows), row_cmp);
        uint32_t limit = f != NULL ? f->limit : 1000;
        for (size_t i = 0; i < q.n_rows && (limit == 0 || (uint32_t)passed < limit); i++) {
            passed++;
            if (cb(&q.rows[i].row, arg) != 0)
                break;
        }
        for (size_t i = 0; i < q.n && missing != NULL; i++) {
            asked_member *m = &q.m[i];
            if (!m->done)
                missing(m->node, m->system, m->host, ENS_ETIMEDOUT, "did not answer in time",
                        missing_arg);
            else if (m->status != 0)
                missing(m->node, m->system, m->host, m->status, m->why, missing_arg);
        }
    }
    for (size_t i = 0; i < q.n_rows; i++)
        free(q.rows[i].texts);
    free(q.rows);
    free(q.m);
    if (sub != NULL)
        natsSubscription_Destroy(sub);
    if (nc != NULL)
        natsConnection_Destroy(nc);
    if (opts != NULL)
        natsOptions_Destroy(opts);
    return rc < 0 ? rc : passed;
}

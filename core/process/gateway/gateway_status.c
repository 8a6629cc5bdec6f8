/*
 * core/process/gateway/gateway_status.c - the status of a convention's
 * members (gateway_status.h): the gateway's answerer and the asker,
 * ens_status_query_convention().
 *
 * The answerer is split between libnats's thread, which checks a request
 * and queues its reply subject (bounded), and the gateway's loop, which
 * sends ens.ctl.Status to the admin and passes the admin's answer on: the
 * control channel and the codec belong to the loop.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/process/gateway/gateway_journal.h"
#include "core/process/gateway/gateway_status.h"
#include "core/process/proc.h"
#include "core/wire/frame.h"
#include "core/wire/why.h"
#include "ensemble/error.h"
#include "ensemble/status.h"

#define SUBJECT_MAX   200
#define REPLY_MAX     160
#define ANSWER_HEADER 8u
/* Correlation ids of the gateway's status asks: apart from any other. */
#define CORR_BASE (UINT64_C(0x5354) << 48)

static const uint8_t request_magic[4] = {'E', 'S', 'Q', '1'};
static const uint8_t answer_magic[4] = {'E', 'S', 'A', '1'};

typedef struct waiting {
    char reply[REPLY_MAX];
    uint64_t corr; /* 0: not asked yet */
    int64_t by_ms; /* asked: answered ENS_ETIMEDOUT after this */
} waiting;

struct ens_gw_status {
    ens_system *sys;
    natsConnection *nc;
    natsSubscription *sub;
    ens_addr self;
    int ctl, wake_fd;
    pthread_mutex_t lock; /* w and n: libnats's thread adds, the loop takes */
    waiting w[ENS_GW_STATUS_WAITING];
    size_t n;
    uint64_t next_corr;
};

/* An answer without a snapshot: status and why. */
static void answer_error(natsConnection *nc, const char *reply, int status, const char *why)
{
    uint8_t b[ANSWER_HEADER + 2 + 256];
    size_t n = strnlen(why, 256);
    memcpy(b, answer_magic, 4);
    for (int i = 0; i < 4; i++)
        b[4 + i] = (uint8_t)((uint32_t)status >> (8 * i));
    b[8] = (uint8_t)n;
    b[9] = (uint8_t)(n >> 8);
    memcpy(b + 10, why, n);
    natsConnection_Publish(nc, reply, b, (int)(10 + n));
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    ens_gw_status *st = closure;
    const char *reply = natsMsg_GetReply(msg);
    int len = natsMsg_GetDataLength(msg);
    if (reply == NULL || reply[0] == '\0') {
        natsMsg_Destroy(msg);
        return;
    }
    if (len != 4 || memcmp(natsMsg_GetData(msg), request_magic, 4) != 0) {
        answer_error(nc, reply, ENS_EBADFRAME, "not a status request");
        natsMsg_Destroy(msg);
        return;
    }
    if (strlen(reply) >= REPLY_MAX) {
        answer_error(nc, reply, ENS_EINVAL, "a reply subject longer than 159 bytes");
        natsMsg_Destroy(msg);
        return;
    }
    pthread_mutex_lock(&st->lock);
    bool room = st->n < ENS_GW_STATUS_WAITING;
    if (room) {
        waiting *w = &st->w[st->n++];
        memset(w, 0, sizeof(*w));
        snprintf(w->reply, sizeof(w->reply), "%s", reply);
    }
    pthread_mutex_unlock(&st->lock);
    if (room) {
        uint64_t one = 1;
        ssize_t wr = write(st->wake_fd, &one, sizeof(one));
        (void)wr; /* a full eventfd is already awake */
    } else {
        answer_error(nc, reply, ENS_EAGAIN, "busy: too many status requests waiting");
    }
    natsMsg_Destroy(msg);
}

int ens__gw_status_open(ens_system *s, natsConnection *nc, ens_addr self, int ctl, int wake_fd,
                        ens_gw_status **out)
{
    *out = NULL;
    ens_gw_status *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ENS_ENOMEM;
    st->sys = s;
    st->nc = nc;
    st->self = self;
    st->ctl = ctl;
    st->wake_fd = wake_fd;
    st->next_corr = CORR_BASE;
    pthread_mutex_init(&st->lock, NULL);
    char subj[SUBJECT_MAX];
    snprintf(subj, sizeof(subj), "ens.%s.status.%" PRIu32, s->opts.convention.name, self.node);
    natsStatus ns = natsConnection_Subscribe(&st->sub, nc, subj, on_request, st);
    if (ns == NATS_OK)
        ns = natsSubscription_SetPendingLimits(st->sub, 4 * ENS_GW_STATUS_WAITING, 64 * 1024);
    if (ns != NATS_OK) {
        natsSubscription_Destroy(st->sub);
        pthread_mutex_destroy(&st->lock);
        free(st);
        return ns == NATS_NO_MEMORY ? ENS_ENOMEM : ENS_EIO;
    }
    *out = st;
    return 0;
}

/* Remove waiting i (lock held). */
static void drop(ens_gw_status *st, size_t i)
{
    st->w[i] = st->w[--st->n];
}

void ens__gw_status_tick(ens_gw_status *st)
{
    if (st == NULL)
        return;
    int64_t now = ens__now_ms();
    pthread_mutex_lock(&st->lock);
    for (size_t i = st->n; i-- > 0;) {
        waiting *w = &st->w[i];
        if (w->corr == 0) {
            w->corr = ++st->next_corr;
            w->by_ms = now + st->sys->opts.call_timeout_ms;
            ens__ctl_flag_v v = {0, 0};
            if (ens__ctl_send(st->ctl, st->self, &ens__ctl_status, &v, w->corr, NULL, 0) < 0) {
                answer_error(st->nc, w->reply, ENS_EAGAIN, "the admin cannot be asked now");
                drop(st, i);
            }
        } else if (now > w->by_ms) {
            answer_error(st->nc, w->reply, ENS_ETIMEDOUT, "the admin did not answer");
            drop(st, i);
        }
    }
    pthread_mutex_unlock(&st->lock);
}

bool ens__gw_status_frame(ens_gw_status *st, const uint8_t *frame, size_t len)
{
    if (st == NULL)
        return false;
    ens_frame_hdr h;
    if (ens__frame_hdr_read(frame, len, st->sys->opts.max_frame_bytes, &h) < 0 ||
        h.type_id != ens_msg_status.id || !(h.flags & ENS_FRAME_REPLY) || h.corr <= CORR_BASE)
        return false;
    pthread_mutex_lock(&st->lock);
    size_t i = 0;
    while (i < st->n && st->w[i].corr != h.corr)
        i++;
    if (i == st->n) {
        pthread_mutex_unlock(&st->lock);
        return true; /* answered already (timed out): nothing more to do */
    }
    char reply[REPLY_MAX];
    memcpy(reply, st->w[i].reply, sizeof(reply));
    drop(st, i);
    pthread_mutex_unlock(&st->lock);
    int64_t max = natsConnection_GetMaxPayload(st->nc);
    if (max > 0 && len + ANSWER_HEADER > (size_t)max) {
        answer_error(st->nc, reply, ENS_EMSGSIZE,
                     "the status is larger than one NATS message may be");
        return true;
    }
    uint8_t *b = malloc(len + ANSWER_HEADER);
    if (b == NULL) {
        answer_error(st->nc, reply, ENS_ENOMEM, "out of memory answering");
        return true;
    }
    memcpy(b, answer_magic, 4);
    memset(b + 4, 0, 4);
    memcpy(b + ANSWER_HEADER, frame, len);
    natsConnection_Publish(st->nc, reply, b, (int)(len + ANSWER_HEADER));
    free(b);
    return true;
}

void ens__gw_status_close(ens_gw_status *st)
{
    if (st == NULL)
        return;
    /* Drained: a callback under way finishes before st goes; one that
     * does not in time keeps st (the gateway ends). */
    bool done = natsSubscription_Drain(st->sub) == NATS_OK &&
                natsSubscription_WaitForDrainCompletion(st->sub, 2000) == NATS_OK;
    natsSubscription_Destroy(st->sub);
    if (done) {
        pthread_mutex_destroy(&st->lock);
        free(st);
    }
}

/* ---- the asker -------------------------------------------------------- */

typedef struct st_member {
    ens_gw_conv_member who;
    bool done;
    int status;
    char why[260];
    ens_status *snap;
} st_member;

/* The answer of m: a snapshot, or a status and why. */
static void take_answer(st_member *m, const uint8_t *data, size_t len)
{
    m->done = true;
    if (len < ANSWER_HEADER || memcmp(data, answer_magic, 4) != 0) {
        m->status = ENS_EBADFRAME;
        snprintf(m->why, sizeof(m->why), "an answer that is not a status");
        return;
    }
    int32_t status = (int32_t)((uint32_t)data[4] | (uint32_t)data[5] << 8 |
                               (uint32_t)data[6] << 16 | (uint32_t)data[7] << 24);
    if (status != 0) {
        m->status = status < 0 ? status : ENS_EBADFRAME;
        size_t n = len >= ANSWER_HEADER + 2 ? (size_t)data[8] | (size_t)data[9] << 8 : 0;
        if (len < 10 || n > len - 10 || n > 256 || memchr(data + 10, '\0', n) != NULL)
            snprintf(m->why, sizeof(m->why), "(no reason given)");
        else
            snprintf(m->why, sizeof(m->why), "%.*s", (int)n, (const char *)data + 10);
        return;
    }
    ens_msg *msg = NULL;
    int rc = ens_msg_decode(data + ANSWER_HEADER, len - ANSWER_HEADER, &msg);
    const ens_status_v *v = rc == 0 ? ens_msg_value(msg, &ens_msg_status) : NULL;
    bool ok = v != NULL;
    for (uint32_t i = 0; ok && i < v->actors.count; i++)
        ok = ((const ens_actor_status *)v->actors.items)[i].type != NULL;
    if (!ok || (rc = ens__status_from_msg(msg, &m->snap)) != 0) {
        m->status = rc == ENS_ENOMEM ? ENS_ENOMEM : ENS_EBADFRAME;
        snprintf(m->why, sizeof(m->why), "%s",
                 rc == ENS_ENOMEM ? "out of memory" : "a malformed status snapshot");
        if (m->snap == NULL)
            ens_msg_free(msg);
        return;
    }
    m->status = 0;
}

static int by_node(const void *a, const void *b)
{
    uint32_t x = ((const st_member *)a)->who.node, y = ((const st_member *)b)->who.node;
    return x < y ? -1 : x > y;
}

int ens_status_query_convention(const char *servers, const char *convention, uint32_t timeout_ms,
                                ens_status_member_cb cb, void *arg)
{
    ens__errmsg_clear();
    if (servers == NULL || !ens__gw_conv_name_ok(convention) || cb == NULL || timeout_ms == 0)
        return ens__fail(ENS_EINVAL, "ens_status_query_convention: %s",
                         servers == NULL                     ? "servers is NULL"
                         : !ens__gw_conv_name_ok(convention) ? "the convention name is not 1-64 "
                                                               "of [A-Za-z0-9_-]"
                         : cb == NULL                        ? "cb is NULL"
                                                             : "timeout_ms is 0");
    int64_t deadline = ens__now_ms() + timeout_ms;
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    ens_gw_conv_member *list = NULL;
    st_member *m = NULL;
    size_t n = 0;
    int rc = ens__gw_conv_connect(servers, timeout_ms, &opts, &nc);
    if (rc == 0)
        rc = ens__gw_conv_members(nc, convention, timeout_ms, &list, &n);
    if (rc == ENS_ENOENT)
        ens__errmsg_set("ens_status_query_convention: no convention named %s at %.200s", convention,
                        servers);
    if (rc == 0 && (m = calloc(n > 0 ? n : 1, sizeof(*m))) == NULL)
        rc = ENS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        m[i].who = list[i];
    free(list);
    if (rc == 0)
        qsort(m, n, sizeof(*m), by_node);
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
        natsStatus ns = natsConnection_SubscribeSync(&sub, nc, subj);
        if (ns == NATS_OK)
            ns = natsSubscription_SetPendingLimits(sub, -1, -1);
        rc = ns == NATS_OK ? 0 : ENS_EUNREACHABLE;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char subj[SUBJECT_MAX], reply[SUBJECT_MAX];
        snprintf(subj, sizeof(subj), "ens.%s.status.%" PRIu32, convention, m[i].who.node);
        snprintf(reply, sizeof(reply), "%s.%" PRIu32, inbox, m[i].who.node);
        if (natsConnection_PublishRequest(nc, subj, reply, request_magic, 4) != NATS_OK)
            rc = ENS_EUNREACHABLE;
    }
    size_t open = n, prefix = strlen(inbox) + 1;
    while (rc == 0 && open > 0) {
        int64_t left = deadline - ens__now_ms();
        if (left <= 0)
            break;
        natsMsg *msg = NULL;
        natsStatus ns = natsSubscription_NextMsg(&msg, sub, left);
        if (ns == NATS_TIMEOUT)
            break;
        if (ns != NATS_OK)
            continue;
        const char *subject = natsMsg_GetSubject(msg);
        char *end = NULL;
        unsigned long long node =
            strlen(subject) > prefix ? strtoull(subject + prefix, &end, 10) : 0;
        for (size_t i = 0; end != NULL && *end == '\0' && i < n; i++) {
            if (m[i].who.node != node || m[i].done)
                continue;
            int len = natsMsg_GetDataLength(msg);
            take_answer(&m[i], (const uint8_t *)natsMsg_GetData(msg), len > 0 ? (size_t)len : 0);
            open--;
            break;
        }
        natsMsg_Destroy(msg);
    }
    int answered = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!m[i].done) {
            m[i].status = ENS_ETIMEDOUT;
            snprintf(m[i].why, sizeof(m[i].why), "did not answer in time");
        }
        answered += m[i].status == 0;
        cb(m[i].who.node, m[i].who.system, m[i].who.host, m[i].snap, m[i].status, m[i].why, arg);
    }
    for (size_t i = 0; m != NULL && i < n; i++)
        ens_status_free(m[i].snap);
    free(m);
    if (sub != NULL)
        natsSubscription_Destroy(sub);
    if (nc != NULL)
        natsConnection_Destroy(nc);
    if (opts != NULL)
        natsOptions_Destroy(opts);
    return rc < 0 ? rc : answered;
}

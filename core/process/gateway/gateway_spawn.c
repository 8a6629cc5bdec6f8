/*
 * core/process/gateway/gateway_spawn.c - remote spawn, the gateway's half
 * (gateway_spawn.h). Two queues fed by libnats's threads (requests on this
 * node's spawn subject, answers on this gateway's inbox) and two lists the
 * loop keeps: requests of other nodes waiting for this admin ("foreign"),
 * and this admin's requests waiting for another node ("asked").
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_spawn.h"
#include "core/wire/frame.h"
#include "core/wire/msg_internal.h"
#include "ensemble/actor.h"
#include "ensemble/error.h"

#define SUBJECT_MAX 160

/* Something libnats delivered: a request (reply: where to answer) or an
 * answer (id: the request it answers). */
typedef struct sp_in {
    struct sp_in *next;
    bool answer;
    bool no_responders;
    bool too_big; /* more than ENS_CTL_MAX bytes: data not kept */
    uint64_t id;
    char *reply;
    size_t len;
    uint8_t data[];
} sp_in;

typedef struct foreign {
    struct foreign *next;
    uint64_t corr; /* the gateway's, on the FOREIGN to the admin */
    int64_t by_ms;
    char *reply;
    char *why; /* the admin's text (ens.ctl.InitFailed), or NULL */
} foreign;

typedef struct asked {
    struct asked *next;
    uint64_t id;   /* the token of its reply subject */
    uint64_t corr; /* the admin's */
    uint32_t node;
    int64_t by_ms;
} asked;

struct ens_gw_spawn {
    ens_system *sys;
    natsConnection *nc;
    natsSubscription *requests, *answers;
    char inbox[96];
    ens_addr self;
    int ctl;
    int wake_fd;
    pthread_mutex_t lock; /* the queue and its count */
    sp_in *head, *tail;
    size_t queued;
    foreign *foreign;
    size_t n_foreign;
    asked *asked;
    size_t n_asked;
    uint64_t next_id;
};

static int64_t now_ms(void)
{
    return ens__now_ms();
}

static void row(ens_gw_spawn *sp, int err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void row(ens_gw_spawn *sp, int err, size_t size, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    ens_event ev = {.kind = ENS_EV_BADFRAME,
                    .actor = sp->self,
                    .error = err,
                    .msg_size = (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size),
                    .actor_type = "ens.Gateway",
                    .reason = why};
    ev.at_ms = ens__now_ms();
    if (ens__ctl_send_event(sp->ctl, &ev) < 0)
        ens__log(sp->sys, NULL, ENS_LOG_WARN, "gateway: %s", why);
}

/* ---- libnats's threads ---------------------------------------------- */

static void queue(ens_gw_spawn *sp, natsMsg *msg, bool answer)
{
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    const char *reply = natsMsg_GetReply(msg);
    bool too_big = len > ENS_CTL_MAX;
    size_t keep = too_big ? 0 : len;
    size_t rlen = reply != NULL ? strnlen(reply, SUBJECT_MAX) : 0;
    sp_in *in = NULL;
    pthread_mutex_lock(&sp->lock);
    bool room = sp->queued < 2 * ENS_GW_SPAWN_WAITING;
    pthread_mutex_unlock(&sp->lock);
    if (room)
        in = calloc(1, sizeof(*in) + keep + rlen + 1);
    if (in == NULL) { /* a flood, or no memory: the asker times out */
        natsMsg_Destroy(msg);
        return;
    }
    in->answer = answer;
    in->too_big = too_big;
    in->len = len;
    if (keep > 0)
        memcpy(in->data, natsMsg_GetData(msg), keep);
    if (rlen > 0 && reply[rlen] == '\0') {
        in->reply = (char *)in->data + keep;
        memcpy(in->reply, reply, rlen + 1);
    }
    if (answer) {
        in->no_responders = natsMsg_IsNoResponders(msg);
        const char *subj = natsMsg_GetSubject(msg);
        const char *dot = subj != NULL ? strrchr(subj, '.') : NULL;
        for (const char *p = dot != NULL ? dot + 1 : ""; *p >= '0' && *p <= '9'; p++)
            in->id = in->id * 10 + (uint64_t)(*p - '0');
    }
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&sp->lock);
    if (sp->tail != NULL)
        sp->tail->next = in;
    else
        sp->head = in;
    sp->tail = in;
    sp->queued++;
    pthread_mutex_unlock(&sp->lock);
    uint64_t one = 1;
    ssize_t w = write(sp->wake_fd, &one, sizeof(one));
    (void)w; /* a full eventfd is already awake */
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    queue(closure, msg, false);
}

static void on_answer(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    queue(closure, msg, true);
}

/* ---- answers -------------------------------------------------------- */

/* Publish an ANSWER to reply (a request's reply subject). */
static void answer_nats(ens_gw_spawn *sp, const char *reply, int status, ens_addr addr,
                        const char *why)
{
    if (reply == NULL || reply[0] == '\0')
        return;
    ens__ctl_gwspawn_v v = {.op = ENS_GWSPAWN_ANSWER,
                            .status = status,
                            .node = sp->self.node,
                            .addr = addr,
                            .why = (char *)why};
    uint8_t *frame = NULL;
    size_t len = 0;
    if (ens__ctl_build(sp->self, &ens__ctl_gwspawn, &v, 0, &frame, &len) < 0) {
        ens__alloc_failed(sp->sys, "the answer to another system's spawn was lost");
        return;
    }
    natsStatus st = natsConnection_Publish(sp->nc, reply, frame, (int)len);
    if (st != NATS_OK)
        ens__log(sp->sys, NULL, ENS_LOG_WARN,
                 "gateway: the answer to another system's spawn was not sent: %s",
                 natsStatus_GetText(st));
    free(frame);
}

/* Answer the admin's ASK (corr). */
static void answer_admin(ens_system *s, int ctl, ens_addr self, uint64_t corr, int status,
                         ens_addr addr, const char *why)
{
    ens__ctl_gwspawn_v v = {
        .op = ENS_GWSPAWN_ANSWER, .status = status, .addr = addr, .why = (char *)why};
    if (ens__ctl_send(ctl, self, &ens__ctl_gwspawn, &v, corr, NULL, 0) < 0)
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: a spawn's answer was not handed to the admin");
}

/* ---- another node's request ----------------------------------------- */

static bool type_name_ok(const char *name)
{
    size_t n = name != NULL ? strnlen(name, ENS_GWSPAWN_NAME_MAX + 1) : 0;
    if (n == 0 || n > ENS_GWSPAWN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* Why the request v (from NATS) is refused, or NULL. */
static const char *request_refusal(const ens_gw_spawn *sp, const ens__ctl_gwspawn_v *v)
{
    if (v->op != ENS_GWSPAWN_ASK)
        return "not a spawn request (op)";
    if (!type_name_ok(v->name))
        return "the type name is not 1-128 bytes of [A-Za-z0-9._:-]";
    if (v->node == 0 || v->node == sp->self.node)
        return "the asking node is none or this system's";
    if (!ens_addr_is_none(v->parent) && (v->parent.node != v->node || v->parent.spare != 0))
        return "the parent is not an actor of the asking node";
    if ((v->flags & ~ENS__SPAWN_PUBLIC) != 0)
        return "unknown spawn flags";
    if (v->sync != 0 && v->sync != 1)
        return "sync is neither 0 nor 1";
    if (!ens_addr_is_none(v->addr) || v->status != 0 || v->actors != 0 ||
        (v->why != NULL && v->why[0] != '\0'))
        return "fields of an answer in a request";
    if (v->arg.len > ENS_GWSPAWN_ARG_MAX)
        return "the start argument is too large";
    ens_frame_hdr h;
    if (v->arg.len > 0 &&
        ens__frame_hdr_read(v->arg.data, v->arg.len, sp->sys->opts.max_frame_bytes, &h) < 0)
        return "the start argument is not a frame this system takes";
    return NULL;
}

static void take_request(ens_gw_spawn *sp, sp_in *in)
{
    if (in->reply == NULL) {
        row(sp, ENS_EBADFRAME, in->len, "a spawn request from NATS without a reply subject");
        return;
    }
    if (in->too_big) {
        char why[96];
        snprintf(why, sizeof(why), "a spawn request of %zu bytes (at most %u)", in->len,
                 ENS_CTL_MAX);
        row(sp, ENS_EMSGSIZE, in->len, "refused %s", why);
        answer_nats(sp, in->reply, ENS_EMSGSIZE, ENS_ADDR_NONE, why);
        return;
    }
    uint8_t *copy = ens__malloc(in->len > 0 ? in->len : 1);
    if (copy == NULL) {
        answer_nats(sp, in->reply, ENS_ENOMEM, ENS_ADDR_NONE, "out of memory");
        return;
    }
    memcpy(copy, in->data, in->len);
    ens_msg *m = NULL;
    int rc = ens__msg_from_frame(copy, in->len, ENS_CTL_MAX, &m);
    const char *why = NULL;
    if (rc < 0)
        why = "not a frame of a spawn request";
    else if (m->hdr.type_id != ens__ctl_gwspawn.id)
        why = "not a spawn request (type)";
    else
        why = request_refusal(sp, m->value);
    if (why == NULL && sp->n_foreign >= ENS_GW_SPAWN_WAITING) {
        answer_nats(sp, in->reply, ENS_EAGAIN, ENS_ADDR_NONE,
                    "too many spawns from other systems wait here");
        ens_msg_free(m);
        return;
    }
    if (why != NULL) {
        row(sp, ENS_EBADFRAME, in->len, "a spawn request from NATS refused: %s", why);
        answer_nats(sp, in->reply, ENS_EBADFRAME, ENS_ADDR_NONE, why);
        ens_msg_free(m);
        return;
    }
    const ens__ctl_gwspawn_v *v = m->value;
    foreign *f = ens__calloc(1, sizeof(*f));
    if (f != NULL && (f->reply = strdup(in->reply)) == NULL) {
        free(f);
        f = NULL;
    }
    if (f == NULL) {
        answer_nats(sp, in->reply, ENS_ENOMEM, ENS_ADDR_NONE, "out of memory");
        ens_msg_free(m);
        return;
    }
    f->corr = ++sp->next_id;
    /* Bounded for memory only: the admin answers every spawn it is given. */
    f->by_ms = now_ms() + 2 * (int64_t)sp->sys->opts.call_timeout_ms + ENS__INIT_ACK_GRACE_MS;
    ens__ctl_gwspawn_v fw = *v;
    fw.op = ENS_GWSPAWN_FOREIGN;
    if (ens__ctl_send(sp->ctl, sp->self, &ens__ctl_gwspawn, &fw, f->corr, NULL, 0) < 0) {
        answer_nats(sp, in->reply, ENS_EIO, ENS_ADDR_NONE, "the admin did not take the spawn");
        free(f->reply);
        free(f);
    } else {
        f->next = sp->foreign;
        sp->foreign = f;
        sp->n_foreign++;
    }
    ens_msg_free(m);
}

/* ---- an answer to this admin's request ------------------------------ */

static asked *asked_take(ens_gw_spawn *sp, uint64_t id)
{
    for (asked **p = &sp->asked; *p != NULL; p = &(*p)->next)
        if ((*p)->id == id) {
            asked *a = *p;
            *p = a->next;
            sp->n_asked--;
            return a;
        }
    return NULL;
}

static void take_answer(ens_gw_spawn *sp, sp_in *in)
{
    asked *a = asked_take(sp, in->id);
    if (a == NULL)
        return; /* late (answered ENS_ETIMEDOUT already), or not ours */
    if (in->no_responders) {
        answer_admin(sp->sys, sp->ctl, sp->self, a->corr, ENS_EUNREACHABLE, ENS_ADDR_NONE,
                     "no system of the convention has that node");
        free(a);
        return;
    }
    ens_msg *m = NULL;
    uint8_t *copy = in->too_big ? NULL : ens__malloc(in->len > 0 ? in->len : 1);
    if (copy != NULL)
        memcpy(copy, in->data, in->len);
    int rc = copy != NULL ? ens__msg_from_frame(copy, in->len, ENS_CTL_MAX, &m) : ENS_EBADFRAME;
    const ens__ctl_gwspawn_v *v =
        rc == 0 && m->hdr.type_id == ens__ctl_gwspawn.id ? m->value : NULL;
    const char *bad = NULL;
    if (v == NULL || v->op != ENS_GWSPAWN_ANSWER || v->status > 0)
        bad = "not an answer to a spawn";
    else if (v->status == 0 &&
             (ens_addr_is_none(v->addr) || v->addr.node != a->node || v->addr.spare != 0))
        bad = "the new actor's address is not of the node asked";
    else if (v->why != NULL && strlen(v->why) > ENS_GWSPAWN_WHY_MAX)
        bad = "the reason is too long";
    if (bad != NULL) {
        row(sp, ENS_EBADFRAME, in->len, "the answer of node %" PRIu32 " to a spawn: %s", a->node,
            bad);
        answer_admin(sp->sys, sp->ctl, sp->self, a->corr, ENS_EBADFRAME, ENS_ADDR_NONE, bad);
    } else {
        answer_admin(sp->sys, sp->ctl, sp->self, a->corr, v->status, v->addr, v->why);
    }
    ens_msg_free(m);
    free(a);
}

/* ---- from the admin ------------------------------------------------- */

static void ask(ens_gw_spawn *sp, const ens__ctl_gwspawn_v *v, uint64_t corr)
{
    if (sp->n_asked >= ENS_GW_SPAWN_WAITING) {
        answer_admin(sp->sys, sp->ctl, sp->self, corr, ENS_EAGAIN, ENS_ADDR_NONE,
                     "too many spawns of this system wait for other systems");
        return;
    }
    asked *a = ens__calloc(1, sizeof(*a));
    if (a == NULL) {
        answer_admin(sp->sys, sp->ctl, sp->self, corr, ENS_ENOMEM, ENS_ADDR_NONE, "out of memory");
        return;
    }
    a->id = ++sp->next_id;
    a->corr = corr;
    a->node = v->node;
    a->by_ms = now_ms() + (int64_t)sp->sys->opts.call_timeout_ms + ENS__INIT_ACK_GRACE_MS / 2;
    ens__ctl_gwspawn_v out = *v;
    out.node = sp->self.node; /* the asker, to the other side */
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__ctl_build(sp->self, &ens__ctl_gwspawn, &out, 0, &frame, &len);
    char subj[SUBJECT_MAX], reply[SUBJECT_MAX];
    snprintf(subj, sizeof(subj), "ens.%s.spawn.%" PRIu32, sp->sys->opts.convention.name, v->node);
    snprintf(reply, sizeof(reply), "%s.%" PRIu64, sp->inbox, a->id);
    natsStatus st = NATS_OK;
    if (rc == 0)
        st = natsConnection_PublishRequest(sp->nc, subj, reply, frame, (int)len);
    free(frame);
    if (rc < 0 || st != NATS_OK) {
        answer_admin(
            sp->sys, sp->ctl, sp->self, corr, rc < 0 ? rc : ENS_EUNREACHABLE, ENS_ADDR_NONE,
            rc < 0 ? "the request could not be built" : "the NATS connection refused the request");
        free(a);
        return;
    }
    a->next = sp->asked;
    sp->asked = a;
    sp->n_asked++;
}

static foreign *foreign_find(ens_gw_spawn *sp, uint64_t corr, bool take)
{
    for (foreign **p = &sp->foreign; *p != NULL; p = &(*p)->next)
        if ((*p)->corr == corr) {
            foreign *f = *p;
            if (take) {
                *p = f->next;
                sp->n_foreign--;
            }
            return f;
        }
    return NULL;
}

bool ens__gw_spawn_ctl(ens_gw_spawn *sp, ens_system *s, int ctl, ens_addr self, const ens_msg *m)
{
    uint32_t t = m->hdr.type_id;
    if (t == ens__ctl_gwspawn.id) {
        const ens__ctl_gwspawn_v *v = m->value;
        if (v->op != ENS_GWSPAWN_ASK)
            return false;
        if (sp == NULL)
            answer_admin(s, ctl, self, m->hdr.corr, ENS_EUNREACHABLE, ENS_ADDR_NONE,
                         "the gateway cannot spawn on other systems");
        else
            ask(sp, v, m->hdr.corr);
        return true;
    }
    if (sp == NULL || (t != ens__ctl_initfailed.id && t != ens__ctl_spawned.id))
        return false;
    foreign *f = foreign_find(sp, m->hdr.corr, t == ens__ctl_spawned.id);
    if (f == NULL)
        return false;
    if (t == ens__ctl_initfailed.id) {
        const ens__ctl_why_v *w = m->value;
        free(f->why);
        f->why = w->reason != NULL ? strndup(w->reason, ENS_GWSPAWN_WHY_MAX) : NULL;
        return true;
    }
    const ens__ctl_status_v *st = m->value;
    answer_nats(sp, f->reply, st->status, st->status == 0 ? st->addr : ENS_ADDR_NONE, f->why);
    free(f->why);
    free(f->reply);
    free(f);
    return true;
}

/* ---- the loop ------------------------------------------------------- */

static void expire(ens_gw_spawn *sp, int64_t now)
{
    for (asked **p = &sp->asked; *p != NULL;) {
        asked *a = *p;
        if (now < a->by_ms) {
            p = &a->next;
            continue;
        }
        *p = a->next;
        sp->n_asked--;
        answer_admin(sp->sys, sp->ctl, sp->self, a->corr, ENS_ETIMEDOUT, ENS_ADDR_NONE,
                     "the system did not answer in time");
        free(a);
    }
    for (foreign **p = &sp->foreign; *p != NULL;) {
        foreign *f = *p;
        if (now < f->by_ms) {
            p = &f->next;
            continue;
        }
        *p = f->next;
        sp->n_foreign--;
        answer_nats(sp, f->reply, ENS_ETIMEDOUT, ENS_ADDR_NONE, "the admin did not answer");
        free(f->why);
        free(f->reply);
        free(f);
    }
}

void ens__gw_spawn_tick(ens_gw_spawn *sp)
{
    if (sp == NULL)
        return;
    pthread_mutex_lock(&sp->lock);
    sp_in *all = sp->head;
    sp->head = sp->tail = NULL;
    sp->queued = 0;
    pthread_mutex_unlock(&sp->lock);
    for (sp_in *in = all, *next; in != NULL; in = next) {
        next = in->next;
        if (in->answer)
            take_answer(sp, in);
        else
            take_request(sp, in);
        free(in);
    }
    if (sp->asked != NULL || sp->foreign != NULL)
        expire(sp, now_ms());
}

ens_gw_spawn *ens__gw_spawn_open(ens_system *s, ens_gw_nats *g, int ctl, ens_addr self, int wake_fd)
{
    ens_gw_spawn *sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: no remote spawn: out of memory");
        return NULL;
    }
    sp->sys = s;
    sp->nc = ens__gw_nats_conn(g);
    sp->self = self;
    sp->ctl = ctl;
    sp->wake_fd = wake_fd;
    pthread_mutex_init(&sp->lock, NULL);
    natsInbox *inbox = NULL;
    natsStatus st = natsInbox_Create(&inbox);
    if (st == NATS_OK) {
        snprintf(sp->inbox, sizeof(sp->inbox), "%s", (const char *)inbox);
        natsInbox_Destroy(inbox);
    }
    char subj[SUBJECT_MAX];
    snprintf(subj, sizeof(subj), "%s.*", sp->inbox);
    if (st == NATS_OK)
        st = natsConnection_Subscribe(&sp->answers, sp->nc, subj, on_answer, sp);
    snprintf(subj, sizeof(subj), "ens.%s.spawn.%" PRIu32, s->opts.convention.name, self.node);
    if (st == NATS_OK)
        st = natsConnection_Subscribe(&sp->requests, sp->nc, subj, on_request, sp);
    if (st != NATS_OK) {
        ens__log(s, NULL, ENS_LOG_ERROR, "gateway: no remote spawn: NATS subscribe: %s",
                 natsStatus_GetText(st));
        ens__gw_spawn_close(sp);
        return NULL;
    }
    return sp;
}

void ens__gw_spawn_close(ens_gw_spawn *sp)
{
    if (sp == NULL)
        return;
    /* Destroying a subscription waits for its callback to return. */
    if (sp->requests != NULL) {
        natsSubscription_Unsubscribe(sp->requests);
        natsSubscription_Destroy(sp->requests);
    }
    if (sp->answers != NULL) {
        natsSubscription_Unsubscribe(sp->answers);
        natsSubscription_Destroy(sp->answers);
    }
    for (sp_in *in = sp->head, *next; in != NULL; in = next) {
        next = in->next;
        free(in);
    }
    for (foreign *f = sp->foreign, *next; f != NULL; f = next) {
        next = f->next;
        free(f->why);
        free(f->reply);
        free(f);
    }
    for (asked *a = sp->asked, *next; a != NULL; a = next) {
        next = a->next;
        free(a);
    }
    pthread_mutex_destroy(&sp->lock);
    free(sp);
}

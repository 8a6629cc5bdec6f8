/*
 * core/process/gateway/gateway_nats.c - the gateway's NATS connection
 * (gateway_nats.h). Subjects, for convention C:
 *   ens.C.n.NODE.FROM  frames for the system whose node is NODE, published
 *                    by the system whose node is FROM, each NATS message one
 *                    whole frame (64-byte header + payload) or a batch of
 *                    them (gateway_batch.h); the receiver subscribes to
 *                    ens.C.n.NODE.* and refuses a frame whose sender is not
 *                    on FROM (gateway_inbound.h);
 *   ens.C.ping.NODE  answered (an empty reply) by that system's gateway:
 *                    how a gateway learns that a node exists before it
 *                    publishes to it. NATS answers a request nobody
 *                    subscribes to with "no responders" at once, which is
 *                    what turns a frame for an unknown node into a dead
 *                    letter instead of a publish into the void.
 * The connection retries for ever (libnats reconnects and buffers what is
 * published meanwhile, up to its reconnect buffer).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_inbound.h"
#include "core/process/gateway/gateway_nats.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"

#define SUBJECT_MAX 96

struct ens_gw_nats {
    ens_system *sys;
    natsOptions *opts;
    natsConnection *conn;
    natsSubscription *frames, *ping;
    uint32_t node;
    int wake_fd;
    pthread_mutex_t lock; /* the inbound queue: libnats's threads add, the loop takes */
    ens_gw_in *head, *tail;
    size_t queued;
    uint64_t dropped;
    uint32_t *known; /* nodes that answered a ping */
    size_t n_known, cap_known;
};

static void subject_of(char *buf, size_t len, const ens_system *s, const char *kind, uint32_t node)
{
    snprintf(buf, len, "ens.%s.%s.%" PRIu32, s->opts.convention.name, kind, node);
}

/* A frame from NATS (libnats's thread): copied into the queue. */
static void on_frame(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    ens_gw_nats *g = closure;
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    ens_gw_in *in = NULL;
    pthread_mutex_lock(&g->lock);
    bool room = g->queued + len <= ENS_GW_INBOUND_MAX;
    pthread_mutex_unlock(&g->lock);
    if (room)
        in = malloc(sizeof(*in) + len);
    if (in != NULL) {
        in->next = NULL;
        in->from = ens__gw_subject_from(natsMsg_GetSubject(msg));
        in->len = len;
        if (len > 0)
            memcpy(in->data, natsMsg_GetData(msg), len);
    }
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&g->lock);
    if (in == NULL) {
        g->dropped++;
    } else {
        if (g->tail != NULL)
            g->tail->next = in;
        else
            g->head = in;
        g->tail = in;
        g->queued += len;
    }
    pthread_mutex_unlock(&g->lock);
    uint64_t one = 1;
    ssize_t w = write(g->wake_fd, &one, sizeof(one));
    (void)w; /* a full eventfd is already awake */
}

/* A ping (libnats's thread): this node exists. */
static void on_ping(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    if (reply != NULL)
        natsConnection_Publish(nc, reply, NULL, 0);
    natsMsg_Destroy(msg);
}

/* The comma-separated server list as an array (owned: one block). */
static char **split_servers(const char *list, int *n)
{
    int count = 1;
    for (const char *p = list; *p != '\0'; p++)
        count += *p == ',';
    size_t len = strlen(list) + 1;
    char **out = malloc((size_t)count * sizeof(char *) + len);
    if (out == NULL)
        return NULL;
    char *copy = (char *)(out + count);
    memcpy(copy, list, len);
    int i = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL && i < count;
         tok = strtok_r(NULL, ",", &save))
        out[i++] = tok;
    *n = i;
    return out;
}

uint32_t ens__gw_down_after_ms(const ens_convention_opts *c)
{
    if (c->down_after_ms != 0)
        return c->down_after_ms;
    uint32_t hb = c->heartbeat_ms != 0 ? c->heartbeat_ms : ENS_CONVENTION_HEARTBEAT_MS;
    return hb * 4u > ENS_CONVENTION_DOWN_AFTER_MS ? hb * 4u : ENS_CONVENTION_DOWN_AFTER_MS;
}

/* A quarter of the silence after which members judge this one down. */
static int64_t reconnect_wait_ms(const ens_convention_opts *c)
{
    return ens__gw_down_after_ms(c) / 4u;
}

static int set_options(ens_gw_nats *g, char *why, size_t why_len)
{
    const ens_convention_opts *c = &g->sys->opts.convention;
    int n = 0;
    char **servers = split_servers(c->servers, &n);
    if (servers == NULL)
        return ENS_ENOMEM;
    char name[160];
    snprintf(name, sizeof(name), "ensemble %s node %" PRIu32, g->sys->name, g->node);
    const char *step = "options";
    natsStatus st = natsOptions_Create(&g->opts);
    if (st == NATS_OK && (step = "servers") != NULL)
        st = natsOptions_SetServers(g->opts, (const char **)servers, n);
    free(servers);
    if (st == NATS_OK && (step = "name") != NULL)
        st = natsOptions_SetName(g->opts, name);
    /* The servers in the order given: the first is this host's own (or
     * nearest), the others are for when it fails. Shuffled, a gateway
     * could use a server on another host and be cut off with it. */
    if (st == NATS_OK && (step = "server order") != NULL)
        st = natsOptions_SetNoRandomize(g->opts, true);
    /* Each publish is written at once, not left to libnats's flusher thread
     * (which waits about a millisecond to gather more): the gateway already
     * gathers a loop turn's frames for a node into one message. */
    if (st == NATS_OK && (step = "send at once") != NULL)
        st = natsOptions_SetSendAsap(g->opts, true);
    if (st == NATS_OK && (step = "reconnect") != NULL)
        st = natsOptions_SetMaxReconnect(g->opts, -1);
    /* A server of the cluster that dies: the others are tried at once (each
     * server no sooner than this after its last try), within down_after_ms,
     * so no member judges this one unreachable meanwhile. What is published
     * while reconnecting waits in a buffer of this bound; past it a publish
     * fails, and the frames become dead letters. */
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(g->opts, reconnect_wait_ms(c));
    /* The servers in the order given (libnats shuffles them otherwise): a
     * host's own server of the cluster listed first is the one used while
     * it lives. */
    if (st == NATS_OK)
        st = natsOptions_SetNoRandomize(g->opts, true);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectBufSize(g->opts, ENS_GW_RECONNECT_BUF);
    if (st == NATS_OK && c->user != NULL && (step = "user and password") != NULL)
        st = natsOptions_SetUserInfo(g->opts, c->user, c->password);
    if (st == NATS_OK && c->token != NULL && (step = "token") != NULL)
        st = natsOptions_SetToken(g->opts, c->token);
    if (st == NATS_OK && c->creds_file != NULL && (step = "creds_file") != NULL)
        st = natsOptions_SetUserCredentialsFromFiles(g->opts, c->creds_file, NULL);
    if (st == NATS_OK && c->nkey_seed_file != NULL && (step = "nkey_seed_file") != NULL)
        st = natsOptions_SetNKeyFromSeed(g->opts, c->nkey, c->nkey_seed_file);
    bool tls = c->tls_ca != NULL || c->tls_cert != NULL || strstr(c->servers, "tls://") != NULL;
    if (st == NATS_OK && tls && (step = "TLS") != NULL)
        st = natsOptions_SetSecure(g->opts, true);
    if (st == NATS_OK && c->tls_ca != NULL && (step = "tls_ca") != NULL)
        st = natsOptions_LoadCATrustedCertificates(g->opts, c->tls_ca);
    if (st == NATS_OK && c->tls_cert != NULL && (step = "tls_cert and tls_key") != NULL)
        st = natsOptions_LoadCertificatesChain(g->opts, c->tls_cert, c->tls_key);
    if (st != NATS_OK) {
        snprintf(why, why_len, "NATS %s: %s", step, natsStatus_GetText(st));
        return st == NATS_NO_MEMORY ? ENS_ENOMEM : ENS_EINVAL;
    }
    return 0;
}

/* The statuses of a server that was reached and refused this system: its
 * credentials (user and password, token, nkey, JWT) or its permissions, or
 * a TLS handshake that failed (a certificate not signed by tls_ca, a name
 * that does not match the server's address, TLS wanted on one side only). */
static bool refused_status(natsStatus st)
{
    return st == NATS_NOT_PERMITTED || st == NATS_CONNECTION_AUTH_FAILED || st == NATS_SSL_ERROR ||
           st == NATS_SECURE_CONNECTION_WANTED || st == NATS_SECURE_CONNECTION_REQUIRED;
}

/* libnats's last error without the "(conn.c:1905): " of where it was set. */
static const char *reason_of(const char *text)
{
    if (text[0] == '(') {
        const char *end = strstr(text, "): ");
        if (end != NULL)
            return end + 3;
    }
    return text;
}

static void gw_free(ens_gw_nats *g)
{
    if (g->frames != NULL)
        natsSubscription_Destroy(g->frames);
    if (g->ping != NULL)
        natsSubscription_Destroy(g->ping);
    if (g->conn != NULL)
        natsConnection_Destroy(g->conn);
    if (g->opts != NULL)
        natsOptions_Destroy(g->opts);
    for (ens_gw_in *in = g->head, *next; in != NULL; in = next) {
        next = in->next;
        free(in);
    }
    pthread_mutex_destroy(&g->lock);
    free(g->known);
    free(g);
}

int ens__gw_nats_open(ens_system *s, uint32_t node, int wake_fd, uint32_t wait_ms,
                      ens_gw_nats **out, char *why, size_t why_len)
{
    *out = NULL;
    ens_gw_nats *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return ENS_ENOMEM;
    g->sys = s;
    g->node = node;
    g->wake_fd = wake_fd;
    pthread_mutex_init(&g->lock, NULL);
    int rc = set_options(g, why, why_len);
    if (rc < 0) {
        gw_free(g);
        return rc;
    }
    /* A first try of every server once, without retrying: a server that
     * answers and refuses is told apart from none answering. */
    natsStatus st = natsConnection_Connect(&g->conn, g->opts);
    if (st != NATS_OK && !refused_status(st)) {
        /* None answered: libnats keeps trying (and buffers meanwhile). */
        st = natsOptions_SetRetryOnFailedConnect(g->opts, true, NULL, NULL);
        if (st == NATS_OK)
            st = natsConnection_Connect(&g->conn, g->opts);
    }
    if (refused_status(st)) {
        /* A server that answered and refused this system: trying again
         * with the same credentials or certificates cannot help. */
        const char *text = nats_GetLastError(NULL);
        snprintf(why, why_len, "NATS refused the connection (%s): %s", natsStatus_GetText(st),
                 reason_of(text != NULL ? text : ""));
        gw_free(g);
        return ENS_EAUTH;
    }
    if (st != NATS_OK && st != NATS_NOT_YET_CONNECTED) {
        snprintf(why, why_len, "NATS connect: %s", natsStatus_GetText(st));
        gw_free(g);
        return ENS_EIO;
    }
    char subj[SUBJECT_MAX];
    subject_of(subj, sizeof(subj), s, "n", node);
    strcat(subj, ".*"); /* any publishing node: which one is checked per frame */
    natsStatus sub = natsConnection_Subscribe(&g->frames, g->conn, subj, on_frame, g);
    subject_of(subj, sizeof(subj), s, "ping", node);
    if (sub == NATS_OK)
        sub = natsConnection_Subscribe(&g->ping, g->conn, subj, on_ping, g);
    if (sub != NATS_OK) {
        snprintf(why, why_len, "NATS subscribe: %s", natsStatus_GetText(sub));
        gw_free(g);
        return sub == NATS_NO_MEMORY ? ENS_ENOMEM : ENS_EIO;
    }
    /* No pending limit of libnats's: the callback never holds a message. */
    natsSubscription_SetPendingLimits(g->frames, -1, -1);
    *out = g;
    if (st == NATS_NOT_YET_CONNECTED) {
        snprintf(why, why_len, "no NATS server of %s answered yet (still trying)",
                 s->opts.convention.servers);
        return ENS_EAGAIN;
    }
    st = natsConnection_FlushTimeout(g->conn, wait_ms > 0 ? wait_ms : 1);
    /* The server answers a subscription this user may not make with a
     * permissions violation before the flush's answer: the user is not
     * allowed to be a member of this convention. */
    const char *text = NULL;
    if (natsConnection_GetLastError(g->conn, &text) == NATS_NOT_PERMITTED) {
        snprintf(why, why_len, "NATS refused this user the convention's subjects: %s",
                 text != NULL ? reason_of(text) : "permissions violation");
        *out = NULL;
        natsConnection_Close(g->conn);
        gw_free(g);
        return ENS_EAUTH;
    }
    if (st != NATS_OK) {
        snprintf(why, why_len, "NATS flush: %s", natsStatus_GetText(st));
        return ENS_EAGAIN;
    }
    return 0;
}

ens_gw_in *ens__gw_nats_take(ens_gw_nats *g)
{
    uint64_t n;
    ssize_t r = read(g->wake_fd, &n, sizeof(n));
    (void)r; /* nothing to clear is fine */
    pthread_mutex_lock(&g->lock);
    ens_gw_in *all = g->head;
    g->head = g->tail = NULL;
    g->queued = 0;
    pthread_mutex_unlock(&g->lock);
    return all;
}

uint64_t ens__gw_nats_dropped(ens_gw_nats *g)
{
    pthread_mutex_lock(&g->lock);
    uint64_t n = g->dropped;
    pthread_mutex_unlock(&g->lock);
    return n;
}

int ens__gw_nats_node_known(ens_gw_nats *g, uint32_t node, uint32_t wait_ms, const char **why)
{
    for (size_t i = 0; i < g->n_known; i++)
        if (g->known[i] == node)
            return 1;
    char subj[SUBJECT_MAX];
    subject_of(subj, sizeof(subj), g->sys, "ping", node);
    natsMsg *reply = NULL;
    natsStatus st = natsConnection_Request(&reply, g->conn, subj, NULL, 0, wait_ms);
    natsMsg_Destroy(reply);
    if (st == NATS_NO_RESPONDERS) {
        *why = "no system of the convention has that node";
        return 0;
    }
    if (st == NATS_TIMEOUT) {
        *why = "the node did not answer in time (between systems)";
        return ENS_ETIMEDOUT;
    }
    if (st != NATS_OK) {
        *why = "the NATS connection is down: the message could not leave this system";
        return ENS_EIO;
    }
    if (g->n_known == g->cap_known) {
        size_t cap = g->cap_known != 0 ? g->cap_known * 2 : 16;
        uint32_t *k = realloc(g->known, cap * sizeof(*k));
        if (k == NULL)
            return 1; /* known for this frame; asked again next time */
        g->known = k;
        g->cap_known = cap;
    }
    g->known[g->n_known++] = node;
    return 1;
}

size_t ens__gw_nats_max_payload(ens_gw_nats *g)
{
    int64_t max = natsConnection_GetMaxPayload(g->conn);
    return max > 0 ? (size_t)max : (size_t)1 << 20;
}

int ens__gw_nats_publish(ens_gw_nats *g, uint32_t node, const uint8_t *frame, size_t len,
                         const char **why)
{
    int64_t max = natsConnection_GetMaxPayload(g->conn);
    if (max > 0 && (int64_t)len > max) {
        *why = "the message is larger than the NATS server's max_payload";
        return ENS_EMSGSIZE;
    }
    char subj[SUBJECT_MAX];
    snprintf(subj, sizeof(subj), "ens.%s.n.%" PRIu32 ".%" PRIu32, g->sys->opts.convention.name,
             node, g->node);
    natsStatus st = natsConnection_Publish(g->conn, subj, frame, (int)len);
    if (st == NATS_INSUFFICIENT_BUFFER) {
        *why = "the NATS connection is down and its reconnect buffer is full";
        return ENS_EIO;
    }
    if (st != NATS_OK) {
        *why = "the NATS connection refused the message (closed, or its reconnect buffer is full)";
        return ENS_EIO;
    }
    return 0;
}

natsConnection *ens__gw_nats_conn(ens_gw_nats *g)
{
    return g->conn;
}

void ens__gw_nats_close(ens_gw_nats *g, uint32_t wait_ms)
{
    if (g == NULL)
        return;
    natsConnection_FlushTimeout(g->conn, wait_ms > 0 ? wait_ms : 1);
    natsConnection_Close(g->conn);
    gw_free(g);
}

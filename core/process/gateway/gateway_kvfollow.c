/*
 * core/process/gateway/gateway_kvfollow.c - following a key-value bucket
 * with a plain subscription and one read (gateway_kvfollow.h).
 *
 * The read is one pass of an ephemeral push consumer on the bucket's
 * stream that delivers each subject's last message (removal markers
 * included: kvStore_Get would hide them, and the follower that meets a
 * removal at a re-read must know it), stopped when the consumer says
 * nothing more is pending, then removed. One request per key (the stream's
 * subjects listed, then each one's last message) made a member joining a
 * convention whose names bucket had seen thousands of names wait tens of
 * seconds, and blocked the gateway's loop as long at each purge of a lost
 * node's names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/gateway/gateway_kvfollow.h"

#define KV_OP_HEADER "KV-Operation"

natsStatus ens__gw_kv_subscribe(natsConnection *nc, const char *subject, int64_t wait_ms,
                                natsSubscription **out)
{
    natsSubscription *sub = NULL;
    natsStatus st = natsConnection_SubscribeSync(&sub, nc, subject);
    if (st == NATS_OK) /* a burst of changes must not be dropped as a slow consumer */
        st = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (st == NATS_OK) /* in place at the server before the bucket is read */
        st = natsConnection_FlushTimeout(nc, wait_ms);
    if (st != NATS_OK) {
        natsSubscription_Destroy(sub);
        sub = NULL;
    }
    *out = sub;
    return st;
}

static bool removal(natsMsg *msg)
{
    const char *op = NULL;
    return natsMsgHeader_Get(msg, KV_OP_HEADER, &op) == NATS_OK && op != NULL &&
           (strcmp(op, "DEL") == 0 || strcmp(op, "PURGE") == 0);
}

/* The node a removal names as judged lost, or 0. */
static uint32_t purged_node(natsMsg *msg)
{
    const char *text = NULL;
    if (natsMsgHeader_Get(msg, ENS_KV_PURGED_HEADER, &text) != NATS_OK || text == NULL)
        return 0;
    uint64_t node = 0;
    for (const char *p = text; *p >= '0' && *p <= '9' && p - text < 10; p++)
        node = node * 10 + (uint64_t)(*p - '0');
    return node <= UINT32_MAX ? (uint32_t)node : 0;
}

/* Whether the read's consumer has anything to deliver: it had delivered
 * something already (what it delivered is on its way) or something waits. */
static natsStatus consumer_has_entries(natsSubscription *sub, const jsOptions *o, bool *any)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus st = natsSubscription_GetConsumerInfo(&ci, sub, (jsOptions *)o, &jerr);
    if (st == NATS_OK)
        *any = ci->NumPending > 0 || ci->Delivered.Consumer > 0;
    jsConsumerInfo_Destroy(ci);
    return st;
}

/* The next entry from the read's consumer, passed to cb; *last: the
 * consumer had nothing more to deliver after it. */
static natsStatus next_entry(natsSubscription *sub, size_t prefix, int64_t wait_ms,
                             ens_gw_kv_entry_cb cb, void *arg, bool *last)
{
    natsMsg *msg = NULL;
    natsStatus st = natsSubscription_NextMsg(&msg, sub, wait_ms);
    if (st != NATS_OK)
        return st;
    jsMsgMetaData *meta = NULL;
    st = natsMsg_GetMetaData(&meta, msg);
    if (st == NATS_OK) {
        const char *subject = natsMsg_GetSubject(msg);
        if (subject != NULL && strlen(subject) > prefix) {
            ens_gw_kv_entry e = {
                .key = subject + prefix,
                .put = !removal(msg),
                .data = natsMsg_GetData(msg),
                .len = natsMsg_GetDataLength(msg),
                .seq = meta->Sequence.Stream,
                .time_ns = meta->Timestamp,
                .purged = purged_node(msg),
            };
            cb(arg, &e);
        }
        *last = meta->NumPending == 0;
        jsMsgMetaData_Destroy(meta);
    }
    natsMsg_Destroy(msg);
    return st;
}

natsStatus ens__gw_kv_read(jsCtx *js, const char *bucket, int64_t wait_ms, ens_gw_kv_entry_cb cb,
                           void *arg)
{
    char stream[128], filter[128];
    snprintf(stream, sizeof(stream), "KV_%s", bucket);
    snprintf(filter, sizeof(filter), "$KV.%s.>", bucket);
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    /* Not ordered (libnats recreates an ordered consumer by itself, which
     * crashed under load) and no flow control or heartbeats: every message
     * that comes is an entry. */
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Config.DeliverPolicy = js_DeliverLastPerSubject;
    so.Config.AckPolicy = js_AckNone;
    /* One copy, in memory: it lives for one read, and nats-server 2.9
     * may otherwise give it as many copies as the stream (each a raft
     * group to elect and remove). */
    so.Config.Replicas = 1;
    so.Config.MemoryStorage = true;
    /* First the stream's leader: without one (this side of a partition
     * lacks the quorum) no consumer is asked for. A consumer asked for
     * then is made when the cluster heals, long after this read gave up,
     * and nats-server 2.9 was seen to keep such an orphan "not current",
     * failing its server's health check for minutes. */
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, js, stream, &o, &jerr);
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK)
        return st;
    natsSubscription *sub = NULL;
    st = js_SubscribeSync(&sub, js, filter, &o, &so, &jerr);
    if (st != NATS_OK)
        return st;
    /* A bucket of many keys arrives at once: none may be dropped. */
    st = natsSubscription_SetPendingLimits(sub, -1, -1);
    bool more = false;
    if (st == NATS_OK)
        st = consumer_has_entries(sub, &o, &more);
    size_t prefix = strlen(filter) - 1;
    while (st == NATS_OK && more) {
        bool last = false;
        st = next_entry(sub, prefix, wait_ms, cb, arg, &last);
        more = !last;
    }
    int64_t dropped = 0;
    if (st == NATS_OK && natsSubscription_GetDropped(sub, &dropped) == NATS_OK && dropped > 0)
        st = NATS_SLOW_CONSUMER;
    /* Removes the consumer at the server (libnats made it). */
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return st;
}

bool ens__gw_kv_entry_of(natsMsg *msg, const char *prefix, ens_gw_kv_entry *e)
{
    const char *subject = natsMsg_GetSubject(msg);
    size_t plen = strlen(prefix);
    if (subject == NULL || strncmp(subject, prefix, plen) != 0 || subject[plen] == '\0')
        return false;
    uint64_t seq = 0;
    const char *text = NULL;
    if (natsMsgHeader_Get(msg, "Nats-Sequence", &text) == NATS_OK && text != NULL)
        for (const char *p = text; *p >= '0' && *p <= '9' && p - text < 19; p++)
            seq = seq * 10 + (uint64_t)(*p - '0');
    *e = (ens_gw_kv_entry){
        .key = subject + plen,
        .put = !removal(msg),
        .data = natsMsg_GetData(msg),
        .len = natsMsg_GetDataLength(msg),
        .seq = seq,
        .purged = purged_node(msg),
    };
    return true;
}

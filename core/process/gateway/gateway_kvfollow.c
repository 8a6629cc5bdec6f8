/*
 * core/process/gateway/gateway_kvfollow.c - following a key-value bucket
 * with a plain subscription and one read (gateway_kvfollow.h).
 *
 * The read lists the keys from the stream's subjects (the stream info
 * filtered on the bucket's subjects), then takes each subject's last
 * message: kvStore_Get would hide a removal marker, and the follower that
 * meets a removal at a re-read must know it.
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

natsStatus ens__gw_kv_read(jsCtx *js, const char *bucket, int64_t wait_ms, ens_gw_kv_entry_cb cb,
                           void *arg)
{
    char stream[128], filter[128];
    snprintf(stream, sizeof(stream), "KV_%s", bucket);
    snprintf(filter, sizeof(filter), "$KV.%s.>", bucket);
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    o.Stream.Info.SubjectsFilter = filter;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, js, stream, &o, &jerr);
    if (st != NATS_OK)
        return st;
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    size_t prefix = strlen(filter) - 1;
    jsStreamStateSubjects *subjects = si->State.Subjects;
    for (int i = 0; subjects != NULL && i < subjects->Count; i++) {
        const char *subject = subjects->List[i].Subject;
        if (subject == NULL || strlen(subject) <= prefix)
            continue;
        natsMsg *msg = NULL;
        if (js_GetLastMsg(&msg, js, stream, subject, &o, &jerr) != NATS_OK)
            continue; /* gone meanwhile (the bucket's age limit) */
        ens_gw_kv_entry e = {
            .key = subject + prefix,
            .put = !removal(msg),
            .data = natsMsg_GetData(msg),
            .len = natsMsg_GetDataLength(msg),
            .seq = natsMsg_GetSequence(msg),
            .time_ns = natsMsg_GetTime(msg),
            .purged = purged_node(msg),
        };
        cb(arg, &e);
        natsMsg_Destroy(msg);
    }
    jsStreamInfo_Destroy(si);
    return NATS_OK;
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

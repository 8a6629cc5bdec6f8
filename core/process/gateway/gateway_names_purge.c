/*
 * core/process/gateway/gateway_names_purge.c - the names of a lost node
 * removed from the bucket (gateway_names.h: ens__gw_names_purge_node).
 *
 * Each name the lost node held is deleted at the revision it wrote, so a
 * name claimed anew since is left alone. A purge waits while the lost
 * node's record in the members bucket, as a current copy holds it, is
 * younger than its down_after_ms: a node only this side cannot hear still
 * reaches the quorum, and its names stay. A purge that cannot finish (the
 * buckets on the far side of a cut) is tried again every 2 s while the node
 * stays unreachable, and dropped when it comes back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "core/process/gateway/gateway_kvfollow.h"
#include "core/process/gateway/gateway_members.h"
#include "core/process/gateway/gateway_names.h"
#include "core/process/gateway/gateway_names_state.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"

/* A name of the lost node, found by the purge's read. */
typedef struct lost_name {
    char key[KEY_MAX + 1];
    uint64_t rev;
} lost_name;

typedef struct purge_scan {
    ens_gw_names *n;
    uint32_t node;
    lost_name *found;
    size_t count, cap;
    bool short_of_memory;
} purge_scan;

static void on_purge_read(void *arg, const ens_gw_kv_entry *e)
{
    purge_scan *p = arg;
    char name[ENS_NAME_MAX + 1], text[VALUE_MAX + 1];
    ens_addr holder;
    if (!e->put || e->seq == 0 || e->len <= 0 || e->len > VALUE_MAX || strlen(e->key) > KEY_MAX ||
        !ens__gw_name_of(e->key, name, sizeof(name)))
        return;
    memcpy(text, e->data, (size_t)e->len);
    text[e->len] = '\0';
    if (strlen(text) != (size_t)e->len || ens_addr_parse(text, &holder) < 0 ||
        holder.node != p->node)
        return;
    if (p->count == p->cap) {
        size_t cap = p->cap != 0 ? p->cap * 2 : 16;
        lost_name *t = realloc(p->found, cap * sizeof(*t));
        if (t == NULL) {
            p->short_of_memory = true;
            return;
        }
        p->found = t;
        p->cap = cap;
    }
    lost_name *l = &p->found[p->count++];
    memcpy(l->key, e->key, strlen(e->key) + 1);
    l->rev = e->seq;
}

static int64_t real_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Whether lost node `node` still puts its record in the members bucket, as
 * the bucket's leader holds it: 1 (put less than its down_after_ms ago: it
 * reaches the buckets' quorum, only this gateway does not hear it), 0 (an
 * older record, or none), ENS_EUNREACHABLE (the bucket did not answer, or
 * a copy that is not current did: it has none of this gateway's own
 * recent puts, so its records say nothing of who is alive now). */
static int still_puts_record(ens_gw_names *n, uint32_t node)
{
    const char *conv = n->sys->opts.convention.name;
    char stream[128], subject[160];
    snprintf(stream, sizeof(stream), "KV_ens-%s-members", conv);
    snprintf(subject, sizeof(subject), "$KV.ens-%s-members.%" PRIu32, conv, node);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, n->js, stream, NULL, &jerr);
    int64_t last = st == NATS_OK ? si->State.LastTime : 0;
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK)
        return ENS_EUNREACHABLE;
    if (!ens__gw_members_stream_current(last, real_ns(),
                                        ens__gw_down_after_ms(&n->sys->opts.convention))) {
        ens__log(n->sys, NULL, ENS_LOG_DEBUG,
                 "gateway: unreachable node %" PRIu32
                 ": the members bucket answered from a copy whose last record is %" PRId64
                 " ms old: not current",
                 node, (real_ns() - last) / 1000000);
        return ENS_EUNREACHABLE;
    }
    natsMsg *m = NULL;
    st = js_GetLastMsg(&m, n->js, stream, subject, NULL, &jerr);
    if (st != NATS_OK)
        return jerr == JS_NO_MESSAGE ? 0 : ENS_EUNREACHABLE;
    const char *op = NULL;
    bool removed = natsMsgHeader_Get(m, KV_OP_HEADER, &op) == NATS_OK && op != NULL &&
                   (strcmp(op, KV_OP_DELETE) == 0 || strcmp(op, KV_OP_PURGE) == 0);
    int64_t now = real_ns(), stamp = natsMsg_GetTime(m);
    bool fresh = !removed && ens__gw_members_record_fresh(natsMsg_GetData(m),
                                                          natsMsg_GetDataLength(m), stamp, now);
    ens__log(n->sys, NULL, ENS_LOG_DEBUG,
             "gateway: unreachable node %" PRIu32 ": its record in the members bucket %s %" PRId64
             " ms ago (sequence %" PRIu64 ")",
             node, removed ? "was removed" : "was put", (now - stamp) / 1000000,
             natsMsg_GetSequence(m));
    natsMsg_Destroy(m);
    return fresh ? 1 : 0;
}

/* Remove the names of lost node `node`: true when done (every one found
 * removed or claimed anew), false when the buckets did not answer or the
 * node still puts its record (tried again). */
static bool purge_once(ens_gw_names *n, uint32_t node, bool first)
{
    if (ens__gw_names_bucket_open(n) < 0) {
        if (first)
            ens__log(n->sys, NULL, ENS_LOG_WARN,
                     "gateway: the names of unreachable node %" PRIu32
                     " were not removed: the names bucket does not answer (tried again every "
                     "2 s while it stays unreachable)",
                     node);
        return false;
    }
    /* A gateway on the side of a cut without the quorum judges the far
     * side lost too; its purge, tried again until the buckets answer, gets
     * through the moment the cut heals, before the far side's heartbeats
     * say it is back (seen removing a name a far-side system claimed
     * during the cut: its owner lost it, everyone then saw none). A node
     * that is really lost puts no record: the purge waits until its record
     * is older than its down_after_ms. */
    int alive = still_puts_record(n, node);
    if (alive != 0) {
        if (alive == 1)
            ens__log(n->sys, NULL, ENS_LOG_INFO,
                     "gateway: the names of unreachable node %" PRIu32
                     " are left for now: its record in the members bucket was put less than "
                     "its down_after_ms ago (it may be cut off from this system only); tried "
                     "again every 2 s while it stays unreachable",
                     node);
        else if (first)
            ens__log(n->sys, NULL, ENS_LOG_WARN,
                     "gateway: the names of unreachable node %" PRIu32
                     " were not removed: the members bucket does not answer, or not from a "
                     "current copy (tried again every 2 s while it stays unreachable)",
                     node);
        return false;
    }
    purge_scan p = {.n = n, .node = node};
    natsStatus st =
        ens__gw_kv_read(n->js, n->bucket, ens__gw_js_wait_ms(n->sys), on_purge_read, &p);
    if ((st != NATS_OK || p.short_of_memory) && first)
        ens__log(n->sys, NULL, ENS_LOG_WARN,
                 "gateway: the names of unreachable node %" PRIu32
                 " were not all found (%s): tried again every 2 s while it stays unreachable",
                 node, st != NATS_OK ? natsStatus_GetText(st) : "out of memory");
    bool done = st == NATS_OK && !p.short_of_memory;
    size_t removed = 0;
    for (size_t i = 0; i < p.count; i++) {
        char name[ENS_NAME_MAX + 1];
        if (!ens__gw_name_of(p.found[i].key, name, sizeof(name)))
            continue;
        /* At the revision the lost node wrote: a name claimed anew since
         * (another revision) is refused by the server, left alone. */
        int rc = ens__gw_names_delete_at(n, name, p.found[i].key, p.found[i].rev, node);
        if (rc == 0)
            removed++;
        else if (rc == ENS_EUNREACHABLE)
            done = false;
    }
    if (st == NATS_OK)
        ens__log(n->sys, NULL, ENS_LOG_INFO,
                 "gateway: names of unreachable node %" PRIu32
                 ": %zu found, %zu removed or already claimed anew",
                 node, p.count, removed);
    free(p.found);
    return done;
}

static void purge_forget(ens_gw_names *n, uint32_t node)
{
    for (size_t i = 0; i < n->n_purge; i++)
        if (n->purge_pending[i] == node) {
            n->purge_pending[i] = n->purge_pending[--n->n_purge];
            return;
        }
}

void ens__gw_names_purge_node(ens_gw_names *n, uint32_t node)
{
    if (n == NULL || node == 0 || node == n->self.node)
        return;
    purge_forget(n, node);
    if (purge_once(n, node, true))
        return;
    if (n->n_purge == PURGE_PENDING) {
        ens__log(n->sys, NULL, ENS_LOG_WARN,
                 "gateway: too many lost nodes wait for their names to be removed: node %" PRIu32
                 "'s are left to the other members",
                 node);
        return;
    }
    n->purge_pending[n->n_purge++] = node;
    n->purge_at = ens__mono_ns() + PURGE_EVERY_NS;
}

void ens__gw_names_purge_retry(ens_gw_names *n)
{
    uint64_t now = ens__mono_ns();
    if (n->n_purge == 0 || now < n->purge_at)
        return;
    for (size_t i = 0; i < n->n_purge;) {
        if (purge_once(n, n->purge_pending[i], false))
            n->purge_pending[i] = n->purge_pending[--n->n_purge];
        else
            i++;
    }
    n->purge_at = ens__mono_ns() + PURGE_EVERY_NS;
}

void ens__gw_names_member_back(ens_gw_names *n, uint32_t node)
{
    if (n == NULL)
        return;
    purge_forget(n, node);
    atomic_store(&n->read_again, true);
}

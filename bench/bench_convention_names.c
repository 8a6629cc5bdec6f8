/*
 * bench/bench_convention_names.c - the name figures of ens-bench's base
 * "convention" (bench/bench_convention.c starts the systems and the
 * server):
 *  name_register: a Registrar actor on A registers n fresh names one
 *    after the other with ens_name_register, giving each up again with
 *    ens_name_unregister before the next (an actor holds at most one name):
 *    each registration is one claim in the names bucket (kvStore_Create in
 *    the gateway, answered before ens_name_register returns) and one
 *    release (the delete at the claimed revision, which the gateway does
 *    before the next claim). Registrations/s, timed inside the Registrar.
 *    Baselines in the same run: the same on a system without a convention
 *    (base "process": the admin's table only), and a forked plain-libnats
 *    client doing the same two bucket operations (kvStore_Create, then the
 *    delete marker published with the expected last sequence) n times on a
 *    bucket of the same configuration.
 *  name_lookup: the outside of B looks up a name held by an actor on A,
 *    n times (answered from B's cache of the bucket: us per lookup);
 *    baseline: a lookup of a local name on the system without a convention.
 */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_convention_shared.h"
#include "bench_util.h"
#include "ensemble/ensemble.h"

/* On a Start {n}: n fresh names, each registered and given up again; reports
 * the ns it took, or a negative error code. */
static int registrar_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    int64_t *run = state;
    const conv_start_v *s = ens_msg_value(m, &conv_start_t);
    if (s == NULL)
        return 0;
    ++*run;
    int rc = 0;
    uint64_t t0 = bench_now_ns();
    for (int64_t i = 0; rc == 0 && i < s->n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "bench.reg-%d-%lld-%lld", (int)getpid(), (long long)*run,
                 (long long)i);
        rc = ens_name_register(c, name);
        if (rc == 0)
            rc = ens_name_unregister(c);
    }
    ens_int64_v r = {rc < 0 ? rc : (int64_t)(bench_now_ns() - t0)};
    return ens_send(c, ens_sender(c), &ens_msg_int64, &r);
}
static const ens_actor_def registrar_def = {
    "bench.conv.Registrar", sizeof(int64_t), NULL, registrar_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct {
    ens_ctx *out;
    ens_addr registrar;
} reg_arg;

static int run_register(long n, double *v, void *arg)
{
    const reg_arg *r = arg;
    int rc = ens_send(r->out, r->registrar, &conv_start_t, &(conv_start_v){n, ENS_ADDR_NONE});
    int64_t ns = 0;
    if (rc == 0)
        rc = conv_listen_int64(r->out, &ns);
    if (rc == 0 && ns <= 0)
        rc = ns < 0 ? (int)ns : ENS_EIO;
    if (rc == 0)
        *v = (double)n / ((double)ns / 1e9);
    return rc;
}

typedef struct {
    ens_ctx *out;
    const char *name;
    ens_addr holder;
} lookup_arg;

static int run_lookup(long n, double *v, void *arg)
{
    const lookup_arg *l = arg;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        ens_addr got = ENS_ADDR_NONE;
        int rc = ens_name_lookup(l->out, l->name, &got);
        if (rc < 0)
            return rc;
        if (!ens_addr_equal(got, l->holder))
            return ENS_EIO;
    }
    *v = (double)(bench_now_ns() - t0) / 1e3 / (double)n;
    return 0;
}

/* Until the outside of s finds name (the cache of the bucket filled), at
 * most CONV_WAIT_MS: 0 or the last error. */
static int await_name(ens_ctx *out, const char *name, ens_addr holder)
{
    uint64_t end = bench_now_ns() + (uint64_t)CONV_WAIT_MS * 1000000u;
    for (;;) {
        ens_addr got = ENS_ADDR_NONE;
        int rc = ens_name_lookup(out, name, &got);
        if (rc == 0 && !ens_addr_equal(got, holder))
            rc = ENS_EIO;
        if (rc == 0 || bench_now_ns() >= end)
            return rc;
        usleep(1000); /* a poll with a deadline: the cache fills when the watch delivers */
    }
}

/* The raw client: its own bucket configured as the convention's names
 * bucket (history 1, entries republished), then n times a create of a fresh
 * key and the delete marker at the created revision. Writes the elapsed ns
 * (or -1). */
static void raw_names_body(int fd, long n)
{
    char bucket[64], source[96], live[96];
    snprintf(bucket, sizeof(bucket), "bench-raw-names-%d", (int)getpid());
    snprintf(source, sizeof(source), "$KV.%s.>", bucket);
    snprintf(live, sizeof(live), "ens-kv.%s.>", bucket);
    natsConnection *nc = conv_raw_connect(true);
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    int64_t ns = -1;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = CONV_WAIT_MS;
    jsRePublish rp;
    jsRePublish_Init(&rp);
    rp.Source = source;
    rp.Destination = live;
    kvConfig c;
    kvConfig_Init(&c);
    c.Bucket = bucket;
    c.History = 1;
    c.RePublish = &rp;
    if (nc != NULL && natsConnection_JetStream(&js, nc, &o) == NATS_OK &&
        js_CreateKeyValue(&kv, js, &c) == NATS_OK) {
        uint64_t t0 = bench_now_ns();
        long i = 0;
        for (; i < n; i++) {
            char key[48], subject[160];
            snprintf(key, sizeof(key), "bench.reg-%ld", i);
            uint64_t rev = 0;
            if (kvStore_CreateString(&rev, kv, key, "ens:1/16") != NATS_OK)
                break;
            snprintf(subject, sizeof(subject), "$KV.%s.%s", bucket, key);
            natsMsg *m = NULL;
            jsPubAck *ack = NULL;
            jsPubOptions po;
            jsPubOptions_Init(&po);
            po.ExpectLastSubjectSeq = rev;
            natsStatus st = natsMsg_Create(&m, subject, NULL, NULL, 0);
            if (st == NATS_OK)
                st = natsMsgHeader_Set(m, "KV-Operation", "DEL");
            if (st == NATS_OK)
                st = js_PublishMsg(&ack, js, m, &po, NULL);
            jsPubAck_Destroy(ack);
            natsMsg_Destroy(m);
            if (st != NATS_OK)
                break;
        }
        if (i == n)
            ns = (int64_t)(bench_now_ns() - t0);
        js_DeleteKeyValue(js, bucket);
    }
    conv_write_all(fd, &ns, sizeof(ns));
    if (kv != NULL)
        kvStore_Destroy(kv);
    if (js != NULL)
        jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static int run_raw_names(long n, double *v, void *arg)
{
    (void)arg;
    int fd = -1;
    pid_t p = conv_child(raw_names_body, n, &fd);
    if (p < 0)
        return ENS_EIO;
    int64_t ns = -1;
    bool got = conv_read_all(fd, &ns, sizeof(ns));
    close(fd);
    conv_reap(p, !got);
    if (!got || ns <= 0)
        return ENS_EIO;
    *v = (double)n / ((double)ns / 1e9);
    return 0;
}

void conv_names_figures(ens_system *a, ens_system *b, ens_system *solo)
{
    reg_arg wide = {ens_system_ctx(a), ENS_ADDR_NONE},
            local = {ens_system_ctx(solo), ENS_ADDR_NONE};
    char held[64], own[64];
    snprintf(held, sizeof(held), "bench.held-%d", (int)getpid());
    snprintf(own, sizeof(own), "bench.own-%d", (int)getpid());
    lookup_arg remote = {ens_system_ctx(b), held, ENS_ADDR_NONE};
    lookup_arg here = {ens_system_ctx(solo), own, ENS_ADDR_NONE};
    int rc = ens_spawn(wide.out, &registrar_def, NULL, NULL, &wide.registrar);
    if (rc == 0)
        rc = ens_spawn(local.out, &registrar_def, NULL, NULL, &local.registrar);
    if (rc == 0)
        rc = ens_name_spawn(ens_system_ctx(a), held, &conv_echo_def, NULL, NULL, &remote.holder);
    if (rc == 0)
        rc = ens_name_spawn(here.out, own, &conv_echo_def, NULL, NULL, &here.holder);
    if (rc == 0)
        rc = await_name(remote.out, held, remote.holder);
    if (rc < 0) {
        bench_fail("name_register", "convention", "start the registrars and named actors", rc);
        return;
    }
    long n_reg = bench_n(2000, 200), n_look = bench_n(20000, 2000);
    conv_measure("name_register_raw_nats", "raw", n_reg, 0, "names/s", run_raw_names, NULL);
    conv_measure("name_register", "process", n_reg, 0, "names/s", run_register, &local);
    conv_measure("name_register", "convention", n_reg, 0, "names/s", run_register, &wide);
    conv_measure("name_lookup", "process", n_look, 0, "us/lookup", run_lookup, &here);
    conv_measure("name_lookup", "convention", n_look, 0, "us/lookup", run_lookup, &remote);
}

/*
 * tests/test_convention_names.c - global names across hosts (process base):
 * one private nats-server (tests/support/nats_server.h), three systems of
 * one convention on this host. A name registered on one system is found
 * and reached from the others; create-or-get raced from the three starts
 * one actor; a name goes when its actor ends, and only the entry its owner
 * claimed; garbage in the bucket is refused; a claim or a deletion the
 * bucket refused never reaches a cache, nor does a late copy of an older
 * entry (a stream's copy catching up after a heal); after a restart of the server the
 * caches follow the bucket again, changes made meanwhile included; with
 * the server gone a registration says ENS_EUNREACHABLE; a member joining
 * after thousands of names, half of them deleted, reads them all (the
 * time it takes is printed). Skipped, with a message, when nats-server is
 * not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "support/convention.h"
#include "support/deadline.h"
#include "support/nats_server.h"

#include "ensemble/ensemble.h"

#define SPAWNERS 20 /* racing spawners per system */

static ens_system *sys[3];

/* ---- actors ------------------------------------------------------------- */

typedef struct addr_v {
    ens_addr addr;
} addr_v;
static ens_msgtype addr_t = {"cn.Addr", "S(" ENS_ADDR_FMT ")", sizeof(addr_v), 0, 0, NULL};

typedef struct report_v {
    int32_t rc;
    int32_t spare;
    ens_addr addr;
} report_v;
static ens_msgtype report_t = {"cn.Report", "S(ii" ENS_ADDR_FMT ")", sizeof(report_v), 0, 0, NULL};

/* Adds up the ens.Int64 it gets (an init of the raced actor sends 1),
 * counts the reports of spawners and whether they all name one address;
 * asked with an ens.String: "stop" stops it, anything else is answered
 * "<sum> <reports> <reports of an error or another address than the
 * first> <reports of a creation>". */
typedef struct tally {
    int64_t sum;
    int reports, differ, creators;
    ens_addr first;
} tally;

static int tally_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    tally *t = state;
    const int64_t *n = ens_msg_value(m, &ens_msg_int64);
    const report_v *r = ens_msg_value(m, &report_t);
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (n != NULL) {
        t->sum += *n;
    } else if (r != NULL) {
        if (t->reports++ == 0)
            t->first = r->addr;
        t->creators += r->rc == 0;
        t->differ += r->rc < 0 || r->rc > 1 || !ens_addr_equal(r->addr, t->first);
    } else if (s != NULL && s->text != NULL && strcmp(s->text, "stop") == 0) {
        return ens_stop(c, ENS_EXIT_NORMAL, 0);
    } else if (s != NULL) {
        char text[96];
        snprintf(text, sizeof(text), "%lld %d %d %d", (long long)t->sum, t->reports, t->differ,
                 t->creators);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
    }
    return 0;
}

static const ens_actor_def tally_def = {
    .name = "cn.Tally", .state_size = sizeof(tally), .receive = tally_receive};

/* The actor raced for: its init tells the tally whose address is its
 * argument that it ran. */
static int raced_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    const addr_v *to = ens_msg_value(arg, &addr_t);
    if (to == NULL)
        return ENS_EINVAL;
    int64_t one = 1;
    return ens_send(c, to->addr, &ens_msg_int64, &one);
}

static int raced_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c, (void)state, (void)m;
    return 0;
}

static const ens_actor_def raced_def = {
    .name = "cn.Raced", .init = raced_init, .receive = raced_receive};

/* On an ens.String "NAME": create-or-get NAME (a raced actor reporting to
 * the tally of its argument), then report what it got to that tally. */
static int spawner_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    const addr_v *to = ens_msg_value(arg, &addr_t);
    if (to == NULL)
        return ENS_EINVAL;
    *(ens_addr *)state = to->addr;
    return 0;
}

static int spawner_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    ens_addr tally_at = *(ens_addr *)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL)
        return 0;
    report_v r = {0, 0, ENS_ADDR_NONE};
    r.rc = ens_name_spawn(c, s->text, &raced_def, &addr_t, &(addr_v){tally_at}, &r.addr);
    return ens_send(c, tally_at, &report_t, &r);
}

static const ens_actor_def spawner_def = {.name = "cn.Spawner",
                                          .state_size = sizeof(ens_addr),
                                          .init = spawner_init,
                                          .receive = spawner_receive};

/* ---- fixtures ------------------------------------------------------------ */

static ens_system *start_member(void)
{
    ens_system_opts o = test_conv_member_opts(NULL, 0);
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    return s;
}

static int group_setup(void **state)
{
    (void)state;
    if (ens_msgtype_register(&addr_t) != 0 || ens_msgtype_register(&report_t) != 0)
        return -1;
    if (test_nats_program() == NULL)
        return 0; /* each test skips and says why */
    if (test_conv_server_start() != 0)
        return -1;
    test_conv_name_set("n");
    for (int i = 0; i < 3; i++)
        sys[i] = start_member();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    test_conv_end((ens_system **[]){&sys[0], &sys[1], &sys[2]}, 3, NULL);
    return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static ens_ctx *ctx(int i)
{
    return ens_system_ctx(sys[i]);
}

static ens_addr spawn_on(int i, const ens_actor_def *d, const ens_msgtype *t, const void *v)
{
    ens_addr a = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ctx(i), d, t, v, &a), 0);
    return a;
}

/* Let each starting program's sends leave (an outside send goes out during
 * its system's next call), waiting a little on each. */
static void run_all(void)
{
    for (int i = 0; i < 3; i++)
        ens_system_run(sys[i], 5);
}

/* What the tally at `at` says, asked from system i. */
static void tally_says(int i, ens_addr at, char *out, size_t len)
{
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ctx(i), at, &ens_msg_string, &(ens_string_v){"?"}, TEST_WAIT_MS, &r),
                     0);
    snprintf(out, len, "%s", ((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text);
    ens_msg_free(r);
}

/* Wait until a lookup of name on system i returns rc (and, for 0, want). */
static void await_lookup(int i, const char *name, int rc, ens_addr want)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    int got = 0;
    ens_addr a = ENS_ADDR_NONE;
    for (;;) {
        got = ens_name_lookup(ctx(i), name, &a);
        if (got == rc && (rc != 0 || ens_addr_equal(a, want)))
            return;
        if (test_deadline_passed(d))
            fail_msg("system %d, lookup of %s: %s, not %s in time", i, name, ens_err_name(got),
                     ens_err_name(rc));
        run_all(); /* nothing to wait on: the cache is the admin's */
    }
}

/* The test's own connection to the bucket, as a hostile program of the
 * same user would have. */
typedef struct bucket {
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
} bucket;

static void bucket_open(bucket *b)
{
    char name[64];
    snprintf(name, sizeof(name), "ens-%s-names", test_conv_name);
    assert_int_equal(natsConnection_ConnectTo(&b->nc, test_conv_server.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&b->js, b->nc, NULL), NATS_OK);
    assert_int_equal(js_KeyValue(&b->kv, b->js, name), NATS_OK);
}

static void bucket_close(bucket *b)
{
    kvStore_Destroy(b->kv);
    jsCtx_Destroy(b->js);
    natsConnection_Destroy(b->nc);
}

/* ---- tests -------------------------------------------------------------- */

static void test_a_name_registered_on_one_system_is_found_and_reached_from_the_others(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr t = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "svc.tally", &tally_def, NULL, NULL, &t), 0);
    for (int i = 1; i < 3; i++) {
        await_lookup(i, "svc.tally", 0, t);
        int64_t n = 10 * i;
        assert_int_equal(ens_name_send(ctx(i), "svc.tally", &ens_msg_int64, &n), 0);
    }
    /* 10 from B and 20 from C, each behind its lookup. */
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    char got[96] = "";
    while (!test_deadline_passed(d)) {
        tally_says(1, t, got, sizeof(got));
        if (strcmp(got, "30 0 0 0") == 0)
            return;
        run_all();
    }
    fail_msg("the tally says %s, not 30 0 0", got);
}

static void test_create_or_get_raced_from_three_systems_starts_one_actor(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr t = spawn_on(0, &tally_def, NULL, NULL);
    ens_addr sp[3][SPAWNERS];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < SPAWNERS; k++)
            sp[i][k] = spawn_on(i, &spawner_def, &addr_t, &(addr_v){t});
    /* Every spawner asked at once, the three systems in turn. */
    for (int k = 0; k < SPAWNERS; k++)
        for (int i = 0; i < 3; i++)
            assert_int_equal(
                ens_send(ctx(i), sp[i][k], &ens_msg_string, &(ens_string_v){"race.one"}), 0);
    char want[64], got[96] = "";
    snprintf(want, sizeof(want), "1 %d 0 1", 3 * SPAWNERS);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (!test_deadline_passed(d)) {
        tally_says(0, t, got, sizeof(got));
        if (strcmp(got, want) == 0)
            break;
        run_all();
    }
    /* One init, one creation, every spawner got the one address (each
     * actor started would have been reported by its spawner, with its own
     * address). */
    assert_string_equal(got, want);
    ens_addr one = ENS_ADDR_NONE;
    assert_int_equal(ens_name_lookup(ctx(0), "race.one", &one), 0);
    for (int i = 1; i < 3; i++)
        await_lookup(i, "race.one", 0, one);
}

static void test_a_name_disappears_everywhere_when_its_actor_ends(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr t = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(1), "gone.soon", &tally_def, NULL, NULL, &t), 0);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "gone.soon", 0, t);
    assert_int_equal(ens_send(ctx(1), t, &ens_msg_string, &(ens_string_v){"stop"}), 0);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "gone.soon", ENS_ENOENT, ENS_ADDR_NONE);
    /* Free again for anyone: another system takes it. */
    ens_addr again = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(2), "gone.soon", &tally_def, NULL, NULL, &again), 0);
    assert_int_not_equal(again.node, t.node);
}

static void test_a_late_cleanup_never_deletes_a_later_claim(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr first = ENS_ADDR_NONE, second = ENS_ADDR_NONE, sync = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "late.one", &tally_def, NULL, NULL, &first), 0);
    /* The entry of A's claim vanishes behind A's back (as after an
     * operator's delete), and B claims the name anew. */
    bucket b = {0};
    bucket_open(&b);
    assert_int_equal(kvStore_Delete(b.kv, "late.one"), NATS_OK);
    await_lookup(1, "late.one", ENS_ENOENT, ENS_ADDR_NONE);
    assert_int_equal(ens_name_spawn(ctx(1), "late.one", &tally_def, NULL, NULL, &second), 0);
    /* A's actor ends: A deletes its entry, at the revision it claimed. */
    assert_int_equal(ens_send(ctx(0), first, &ens_msg_string, &(ens_string_v){"stop"}), 0);
    await_lookup(0, "late.one", 0, second);
    /* A's gateway answers in order: once a later claim of A's is answered,
     * the deletion asked before it has been tried. */
    assert_int_equal(ens_name_spawn(ctx(0), "late.sync", &tally_def, NULL, NULL, &sync), 0);
    kvEntry *e = NULL;
    assert_int_equal(kvStore_Get(&e, b.kv, "late.one"), NATS_OK);
    char want[ENS_ADDR_STRLEN];
    ens_addr_format(second, want, sizeof(want));
    assert_string_equal(kvEntry_ValueString(e), want);
    kvEntry_Destroy(e);
    bucket_close(&b);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "late.one", 0, second);
}

static void test_garbage_in_the_bucket_is_refused(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    bucket b = {0};
    bucket_open(&b);
    uint64_t rev = 0;
    static const uint8_t binary[] = {'e', 'n', 's', ':', '1', '/', '2', 0, 0xff, 0xfe};
    char long_value[4096];
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    assert_int_equal(kvStore_PutString(&rev, b.kv, "junk.text", "not an address"), NATS_OK);
    assert_int_equal(kvStore_Put(&rev, b.kv, "junk.binary", binary, sizeof(binary)), NATS_OK);
    assert_int_equal(kvStore_PutString(&rev, b.kv, "junk.long", long_value), NATS_OK);
    assert_int_equal(kvStore_PutString(&rev, b.kv, "junk.nonode", "ens:0/5"), NATS_OK);
    assert_int_equal(kvStore_PutString(&rev, b.kv, "not=valid", "ens:1/2"), NATS_OK);
    bucket_close(&b);
    static const char *const junk[] = {"junk.text", "junk.binary", "junk.long", "junk.nonode"};
    for (size_t k = 0; k < sizeof(junk) / sizeof(junk[0]); k++) {
        await_lookup(2, junk[k], ENS_EBADFRAME, ENS_ADDR_NONE);
        int64_t n = 1;
        assert_int_equal(ens_name_send(ctx(2), junk[k], &ens_msg_int64, &n), ENS_EBADFRAME);
        /* Create-or-get reads the holder back: refused the same way. */
        ens_addr a = ENS_ADDR_NONE;
        assert_int_equal(ens_name_spawn(ctx(1), junk[k], &tally_def, NULL, NULL, &a),
                         ENS_EBADFRAME);
    }
    /* Nothing crashed: every system still names and finds. */
    ens_addr t = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "after.junk", &tally_def, NULL, NULL, &t), 0);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "after.junk", 0, t);
}

static void test_a_refused_claim_or_deletion_never_reaches_the_caches(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr held = ENS_ADDR_NONE, sync = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "refused.held", &tally_def, NULL, NULL, &held), 0);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "refused.held", 0, held);
    /* A competing claim, made as another system makes it, and a late
     * deletion at a revision long gone: the stream refuses both, though
     * each publish reaches every plain subscriber of the bucket's own
     * subjects. */
    bucket b = {0};
    bucket_open(&b);
    ens_addr other = held;
    other.node = held.node + 100;
    char text[ENS_ADDR_STRLEN];
    ens_addr_format(other, text, sizeof(text));
    uint64_t rev = 0;
    assert_int_not_equal(kvStore_CreateString(&rev, b.kv, "refused.held", text), NATS_OK);
    char subject[96];
    snprintf(subject, sizeof(subject), "$KV.ens-%s-names.refused.held", test_conv_name);
    natsMsg *del = NULL;
    assert_int_equal(natsMsg_Create(&del, subject, NULL, NULL, 0), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(del, "KV-Operation", "DEL"), NATS_OK);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = 1; /* the entry's revision is later: the test claimed before */
    jsErrCode jerr = 0;
    assert_int_not_equal(js_PublishMsg(NULL, b.js, del, &po, &jerr), NATS_OK);
    assert_int_equal(jerr, JSStreamWrongLastSequenceErr);
    natsMsg_Destroy(del);
    bucket_close(&b);
    /* A claim after both: once every cache has it, each gateway has passed
     * on whatever it took from the two refused publishes. */
    assert_int_equal(ens_name_spawn(ctx(1), "refused.sync", &tally_def, NULL, NULL, &sync), 0);
    for (int i = 0; i < 3; i++) {
        await_lookup(i, "refused.sync", 0, sync);
        ens_addr a = ENS_ADDR_NONE;
        assert_int_equal(ens_name_lookup(ctx(i), "refused.held", &a), 0);
        assert_true(ens_addr_equal(a, held));
    }
}

static void test_names_are_followed_again_after_the_server_restarts(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr kept = ENS_ADDR_NONE, gone = ENS_ADDR_NONE, after = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "restart.kept", &tally_def, NULL, NULL, &kept), 0);
    assert_int_equal(ens_name_spawn(ctx(1), "restart.gone", &tally_def, NULL, NULL, &gone), 0);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "restart.gone", 0, gone);
    assert_int_equal(test_nats_restart(&test_conv_server, TEST_WAIT_MS), 0);
    /* Behind the gateways' backs while they reconnect (as an operator's
     * delete): the entry of restart.gone goes. JetStream answers once it
     * has read its store again. */
    bucket b = {0};
    bucket_open(&b);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    natsStatus st;
    while ((st = kvStore_Delete(b.kv, "restart.gone")) != NATS_OK) {
        if (test_deadline_passed(d))
            fail_msg("the bucket did not answer after the restart: %s", natsStatus_GetText(st));
        test_nap_ms(50); /* nothing to wait on: the server recovers its streams */
    }
    bucket_close(&b);
    int rc = 0;
    while ((rc = ens_name_spawn(ctx(0), "restart.after", &tally_def, NULL, NULL, &after)) != 0) {
        /* Until its gateway has reconnected the registration is refused. */
        if (rc != ENS_EUNREACHABLE && rc != ENS_ETIMEDOUT)
            fail_msg("registration after the restart: %s", ens_err_name(rc));
        if (test_deadline_passed(d))
            fail_msg("registration after the restart did not succeed in time");
        run_all();
    }
    for (int i = 0; i < 3; i++) {
        await_lookup(i, "restart.after", 0, after);
        await_lookup(i, "restart.kept", 0, kept);
        if (i != 1) /* system 1 holds it: it answers from its own names */
            await_lookup(i, "restart.gone", ENS_ENOENT, ENS_ADDR_NONE);
    }
}

/* Publish a removal of key at its current revision, as a member purging
 * the names of node `lost` writes it (lost 0: no purge header, as an
 * operator's delete). */
static void remove_as_purge(bucket *b, const char *key, uint32_t lost)
{
    kvEntry *e = NULL;
    assert_int_equal(kvStore_Get(&e, b->kv, key), NATS_OK);
    uint64_t rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    char subject[160], node[16];
    snprintf(subject, sizeof(subject), "$KV.ens-%s-names.%s", test_conv_name, key);
    snprintf(node, sizeof(node), "%" PRIu32, lost);
    natsMsg *m = NULL;
    assert_int_equal(natsMsg_Create(&m, subject, NULL, NULL, 0), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(m, "KV-Operation", "DEL"), NATS_OK);
    if (lost != 0)
        assert_int_equal(natsMsgHeader_Set(m, "Ens-Purged-Node", node), NATS_OK);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = rev;
    jsPubAck *ack = NULL;
    assert_int_equal(js_PublishMsg(&ack, b->js, m, &po, NULL), NATS_OK);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
}

/* A member that judged a node lost removed its names (issue 17), but the
 * node lives (the other side of a healed partition): its admin claims
 * each name its live actor still holds again. A removal that names
 * another node, or none (an operator's), stands. */
static void test_a_live_holders_purged_name_is_claimed_again(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr kept = ENS_ADDR_NONE, other = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(1), "purged.kept", &tally_def, NULL, NULL, &kept), 0);
    assert_int_equal(ens_name_spawn(ctx(1), "purged.other", &tally_def, NULL, NULL, &other), 0);
    for (int i = 0; i < 3; i++) {
        await_lookup(i, "purged.kept", 0, kept);
        await_lookup(i, "purged.other", 0, other);
    }
    bucket b = {0};
    bucket_open(&b);
    remove_as_purge(&b, "purged.other", kept.node + 1);
    remove_as_purge(&b, "purged.kept", kept.node);
    await_lookup(0, "purged.other", ENS_ENOENT, ENS_ADDR_NONE);
    /* Claimed again by system 1: the bucket holds it again (the removal
     * was acknowledged, so until then a read finds nothing), and every
     * system finds its actor. */
    kvEntry *e = NULL;
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (kvStore_Get(&e, b.kv, "purged.kept") != NATS_OK) {
        if (test_deadline_passed(d))
            fail_msg("purged.kept is not in the bucket again");
        test_nap_ms(50); /* the re-claim offers nothing to wait on from here */
    }
    kvEntry_Destroy(e);
    bucket_close(&b);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "purged.kept", 0, kept);
    await_lookup(2, "purged.other", ENS_ENOENT, ENS_ADDR_NONE);
    /* System 1 still answers its own name from its own table, until
     * another system claims the free name: then the bucket decides, and
     * system 1's actor runs on without it (one owner everywhere). */
    await_lookup(1, "purged.other", 0, other);
    ens_addr taker = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "purged.other", &tally_def, NULL, NULL, &taker), 0);
    assert_false(ens_addr_equal(taker, other));
    for (int i = 0; i < 3; i++)
        await_lookup(i, "purged.other", 0, taker);
}

/* Put the record of a member that is no system here, as its gateway would:
 * the members see it joined, then unreachable once nothing more of it
 * comes for their down_after_ms. */
static void put_member_record(kvStore *members, uint32_t node, uint32_t down_after_ms)
{
    char key[16], record[160];
    snprintf(key, sizeof(key), "%" PRIu32, node);
    snprintf(record, sizeof(record),
             "system=far%" PRIu32 "\nhost=elsewhere\npid=1\nversion=0.1.0\nheartbeat_ms=500\n"
             "down_after_ms=%" PRIu32 "\nactors=1\n",
             node, down_after_ms);
    assert_int_equal(kvStore_PutString(NULL, members, key, record), NATS_OK);
}

/* The side of a cut that lacks the buckets' quorum judges the far side
 * lost, and its purge, tried again until the names bucket answers, got
 * through as the cut healed, before the far side's heartbeats came back:
 * it removed a name a far-side system held (the namespace test's
 * test_partition_names_one_owner: every host then answered none). A
 * member silent here whose record in the members bucket is younger than
 * its down_after_ms (it puts it every half of that) still reaches the
 * quorum: its names stay. One whose record is older is lost: its names
 * go. Both fall silent together, the live-looking one judged first. */
static void test_a_silent_member_that_still_puts_its_record_keeps_its_names(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    const uint32_t alive = 4000000011u, lost = 4000000012u;
    const ens_addr alive_addr = {5, alive, 0}, lost_addr = {5, lost, 0};
    char alive_text[ENS_ADDR_STRLEN], lost_text[ENS_ADDR_STRLEN], name[64];
    ens_addr_format(alive_addr, alive_text, sizeof(alive_text));
    ens_addr_format(lost_addr, lost_text, sizeof(lost_text));
    bucket b = {0};
    bucket_open(&b);
    kvStore *members = NULL;
    snprintf(name, sizeof(name), "ens-%s-members", test_conv_name);
    assert_int_equal(js_KeyValue(&members, b.js, name), NATS_OK);
    assert_int_equal(kvStore_PutString(NULL, b.kv, "far.alive", alive_text), NATS_OK);
    assert_int_equal(kvStore_PutString(NULL, b.kv, "far.lost", lost_text), NATS_OK);
    for (int i = 0; i < 3; i++) {
        await_lookup(i, "far.alive", 0, alive_addr);
        await_lookup(i, "far.lost", 0, lost_addr);
    }
    /* A record put less than 600 s ago, and one older than 200 ms when
     * its writer is judged lost. */
    put_member_record(members, alive, 600000);
    put_member_record(members, lost, ENS_CONVENTION_DOWN_AFTER_MIN_MS);
    kvEntry *e = NULL;
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (kvStore_Get(&e, b.kv, "far.lost") == NATS_OK) {
        kvEntry_Destroy(e);
        e = NULL;
        if (test_deadline_passed(d))
            fail_msg("the names of a silent member whose record is old were not removed");
        test_nap_ms(50); /* the members' judgement offers nothing to wait on from here */
    }
    for (int i = 0; i < 3; i++)
        await_lookup(i, "far.lost", ENS_ENOENT, ENS_ADDR_NONE);
    /* Judged lost before, by every member: still there. */
    assert_int_equal(kvStore_Get(&e, b.kv, "far.alive"), NATS_OK);
    kvEntry_Destroy(e);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "far.alive", 0, alive_addr);
    /* The far members leave (their records deleted), their names go. */
    assert_int_equal(kvStore_Delete(b.kv, "far.alive"), NATS_OK);
    char key[16];
    snprintf(key, sizeof(key), "%" PRIu32, alive);
    assert_int_equal(kvStore_Delete(members, key), NATS_OK);
    snprintf(key, sizeof(key), "%" PRIu32, lost);
    assert_int_equal(kvStore_Delete(members, key), NATS_OK);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "far.alive", ENS_ENOENT, ENS_ADDR_NONE);
    kvStore_Destroy(members);
    bucket_close(&b);
}

/* Publish, as a copy of the bucket's stream republishes an entry it
 * applies, name's entry at stream sequence seq: value (NULL: a removal). */
static void republish_as_a_copy(bucket *b, const char *name, uint64_t seq, const char *value)
{
    char subject[128], text[24];
    snprintf(subject, sizeof(subject), "ens-kv.ens-%s-names.%s", test_conv_name, name);
    snprintf(text, sizeof(text), "%llu", (unsigned long long)seq);
    natsMsg *m = NULL;
    assert_int_equal(
        natsMsg_Create(&m, subject, NULL, value, value != NULL ? (int)strlen(value) : 0), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(m, "Nats-Sequence", text), NATS_OK);
    if (value == NULL)
        assert_int_equal(natsMsgHeader_Set(m, "KV-Operation", "DEL"), NATS_OK);
    assert_int_equal(natsConnection_PublishMsg(b->nc, m), NATS_OK);
    natsMsg_Destroy(m);
}

/* After a partition heals, the copy of the names stream that was cut off
 * republishes what it missed as it catches up, after the leader
 * republished those entries and newer ones, and a read served by that
 * copy delivers entries from before the cut: an entry older than one a
 * gateway passed on for its key (a put naming a former holder, a removal)
 * never reaches the admin's cache. Before this was so, a host answered
 * the cut side's actor, or none, for a name the majority had given to
 * another actor, long after the heal. */
static void test_a_late_copy_of_an_entry_never_rolls_a_cache_back(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr held = ENS_ADDR_NONE, kept = ENS_ADDR_NONE, sync = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "copy.held", &tally_def, NULL, NULL, &held), 0);
    assert_int_equal(ens_name_spawn(ctx(0), "copy.kept", &tally_def, NULL, NULL, &kept), 0);
    for (int i = 1; i < 3; i++) {
        await_lookup(i, "copy.held", 0, held);
        await_lookup(i, "copy.kept", 0, kept);
    }
    bucket b = {0};
    bucket_open(&b);
    kvEntry *e = NULL;
    assert_int_equal(kvStore_Get(&e, b.kv, "copy.held"), NATS_OK);
    uint64_t held_rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    assert_int_equal(kvStore_Get(&e, b.kv, "copy.kept"), NATS_OK);
    uint64_t kept_rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    assert_true(held_rev > 1 && kept_rev > 1);
    /* A late copy of the current entry of copy.held (nothing changes),
     * then earlier entries of both keys, as a copy catching up after a
     * heal republishes them: a former holder of copy.held, a removal of
     * copy.kept. */
    char text[ENS_ADDR_STRLEN];
    ens_addr_format(held, text, sizeof(text));
    republish_as_a_copy(&b, "copy.held", held_rev, text);
    ens_addr former = held;
    former.node = held.node + 100;
    ens_addr_format(former, text, sizeof(text));
    republish_as_a_copy(&b, "copy.held", held_rev - 1, text);
    republish_as_a_copy(&b, "copy.kept", kept_rev - 1, NULL);
    assert_int_equal(natsConnection_FlushTimeout(b.nc, TEST_WAIT_MS), NATS_OK);
    bucket_close(&b);
    /* A claim after them: the server delivered the late copies to every
     * gateway before it republishes this one, so once every cache has it
     * each gateway has passed on whatever it took from them. */
    assert_int_equal(ens_name_spawn(ctx(1), "copy.sync", &tally_def, NULL, NULL, &sync), 0);
    for (int i = 0; i < 3; i++)
        await_lookup(i, "copy.sync", 0, sync);
    for (int i = 1; i < 3; i++) {
        ens_addr a = ENS_ADDR_NONE;
        assert_int_equal(ens_name_lookup(ctx(i), "copy.held", &a), 0);
        if (!ens_addr_equal(a, held))
            fail_msg("system %d finds copy.held at a former holder after a late copy", i);
        assert_int_equal(ens_name_lookup(ctx(i), "copy.kept", &a), 0);
        assert_true(ens_addr_equal(a, kept));
    }
}

#define BULK_KEYS 5000 /* a names bucket that saw this many names */

/* The address bulk entry i names. */
static ens_addr bulk_addr(int i)
{
    return (ens_addr){.id = 1000 + (uint64_t)i, .node = 0x7ffffff0};
}

/* The name of bulk entry i. */
static void bulk_name(int i, char *out, size_t len)
{
    snprintf(out, len, "bulk.%05d", i);
}

static void test_a_system_joining_after_many_names_reads_them_all(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    /* Each entry names an address of its own (a cache keeps one name per
     * address) on a node no member has; the odd ones are deleted
     * afterwards, each leaving its removal marker in the stream. */
    bucket b = {0};
    bucket_open(&b);
    char name[32];
    uint64_t rev = 0;
    char value[ENS_ADDR_STRLEN];
    for (int i = 0; i < BULK_KEYS; i++) {
        bulk_name(i, name, sizeof(name));
        ens_addr_format(bulk_addr(i), value, sizeof(value));
        assert_int_equal(kvStore_PutString(&rev, b.kv, name, value), NATS_OK);
    }
    for (int i = 1; i < BULK_KEYS; i += 2) {
        bulk_name(i, name, sizeof(name));
        assert_int_equal(kvStore_Delete(b.kv, name), NATS_OK);
    }
    bucket_close(&b);
    /* A member that joins now knows of the names only through its read of
     * the bucket: timed from its start until it has every sampled name. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ens_system *late = start_member();
    ens_ctx *c = ens_system_ctx(late);
    test_deadline d = test_deadline_in(4 * TEST_WAIT_MS);
    int i = 0;
    while (i < BULK_KEYS) {
        bulk_name(i, name, sizeof(name));
        ens_addr a = ENS_ADDR_NONE;
        int got = ens_name_lookup(c, name, &a);
        bool live = i % 2 == 0;
        if ((live && got == 0 && ens_addr_equal(a, bulk_addr(i))) || (!live && got == ENS_ENOENT)) {
            i += live ? 1 : 49; /* every live one, a deleted one every 50 */
            continue;
        }
        if (test_deadline_passed(d)) {
            test_conv_stop(&late);
            fail_msg("the late member, lookup of %s: %s", name, ens_err_name(got));
        }
        ens_system_run(late, 5); /* nothing to wait on: the cache is the admin's */
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("a member joining after %d names (half deleted) found them all in %.2f s\n",
                  BULK_KEYS,
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    /* A deleted one never came back. */
    ens_addr a = ENS_ADDR_NONE;
    bulk_name(BULK_KEYS - 1, name, sizeof(name));
    assert_int_equal(ens_name_lookup(c, name, &a), ENS_ENOENT);
    test_conv_stop(&late);
}

/* Whether the file at path holds text (read up to 1 MiB). */
static bool file_has(const char *path, const char *text)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static void test_a_bucket_made_without_the_republish_still_takes_registrations(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    /* A convention of its own whose names bucket an older gateway made
     * (its entries not republished). */
    char conv[32], bucket_name[64], log[64];
    snprintf(conv, sizeof(conv), "o%d", (int)getpid());
    snprintf(bucket_name, sizeof(bucket_name), "ens-%s-names", conv);
    snprintf(log, sizeof(log), "/tmp/ens-names-old-%d.log", (int)getpid());
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, test_conv_server.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    kvConfig c;
    kvConfig_Init(&c);
    c.Bucket = bucket_name;
    c.Description = "ensemble: global names of the convention";
    c.History = 1;
    assert_int_equal(js_CreateKeyValue(&kv, js, &c), NATS_OK);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.log_path = log;
    o.convention.servers = test_conv_server.url;
    o.convention.name = conv;
    ens_system *old = NULL;
    assert_int_equal(ens_system_start(&o, &old), 0);
    ens_addr a = ENS_ADDR_NONE;
    int rc = ens_name_spawn(ens_system_ctx(old), "old.one", &tally_def, NULL, NULL, &a);
    kvEntry *e = NULL;
    natsStatus st = kvStore_Get(&e, kv, "old.one");
    char want[ENS_ADDR_STRLEN];
    ens_addr_format(a, want, sizeof(want));
    bool stored = st == NATS_OK && strcmp(kvEntry_ValueString(e), want) == 0;
    kvEntry_Destroy(e);
    ens_system_stop(old, 5000);
    /* The gateway made the bucket republish (a server that allows it), or
     * said why names of other systems are not seen. */
    bool told = file_has(log, "now republishes its entries") ||
                file_has(log, "does not republish its entries");
    unlink(log);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    assert_int_equal(rc, 0);
    assert_true(stored);
    assert_true(told);
}

/* Last: it stops the server. */
static void test_registration_is_refused_while_nats_is_unreachable(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr t = ENS_ADDR_NONE;
    assert_int_equal(ens_name_spawn(ctx(0), "before.down", &tally_def, NULL, NULL, &t), 0);
    await_lookup(2, "before.down", 0, t);
    test_nats_stop(&test_conv_server);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    int rc = 0;
    ens_addr a = ENS_ADDR_NONE;
    while ((rc = ens_name_spawn(ctx(1), "while.down", &tally_def, NULL, NULL, &a)) !=
           ENS_EUNREACHABLE) {
        /* Until its gateway notices, a claim may time out in JetStream:
         * that is ENS_EUNREACHABLE too; nothing else may come. */
        if (rc != ENS_ETIMEDOUT)
            fail_msg("registration while NATS is down: %s", ens_err_name(rc));
        if (test_deadline_passed(d))
            fail_msg("registration was not refused in time");
    }
    /* Lookups still answer from the cache (which may be stale). */
    await_lookup(2, "before.down", 0, t);
    await_lookup(0, "before.down", 0, t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_name_registered_on_one_system_is_found_and_reached_from_the_others),
        cmocka_unit_test(test_create_or_get_raced_from_three_systems_starts_one_actor),
        cmocka_unit_test(test_a_name_disappears_everywhere_when_its_actor_ends),
        cmocka_unit_test(test_a_late_cleanup_never_deletes_a_later_claim),
        cmocka_unit_test(test_garbage_in_the_bucket_is_refused),
        cmocka_unit_test(test_a_refused_claim_or_deletion_never_reaches_the_caches),
        cmocka_unit_test(test_names_are_followed_again_after_the_server_restarts),
        cmocka_unit_test(test_a_live_holders_purged_name_is_claimed_again),
        cmocka_unit_test(test_a_silent_member_that_still_puts_its_record_keeps_its_names),
        cmocka_unit_test(test_a_late_copy_of_an_entry_never_rolls_a_cache_back),
        cmocka_unit_test(test_a_system_joining_after_many_names_reads_them_all),
        cmocka_unit_test(test_a_bucket_made_without_the_republish_still_takes_registrations),
        cmocka_unit_test(test_registration_is_refused_while_nats_is_unreachable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

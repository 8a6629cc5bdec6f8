/*
 * tests/test_gw_kvseen.c - what a bucket follower passes on never goes
 * back (core/process/gateway/gateway_kvseen.h).
 *
 * The orders are the ones a partition's heal produced in the namespace
 * test: the leader republishes a key's newer entries, then the copy that
 * was cut off republishes the older ones as it catches up, and a read
 * served by that copy (still behind) delivers a key's entry from before
 * the cut after the follower had passed on the newer ones. Each late or
 * stale entry must be dropped, whatever the order; a read is current only
 * when it reached the stream's last sequence.
 *
 * And the purge's proof of life (gateway_members.h): a gateway on the side
 * of a cut without the quorum judged the far side lost, and its purge,
 * tried again until the buckets answered, removed at the heal a name a
 * far-side system had claimed during the cut. A lost node's names are
 * removed only once its record in the members bucket is older than its
 * writer's down_after_ms; a live one puts it every half of that.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/process/gateway/gateway_kvseen.h"
#include "core/process/gateway/gateway_members.h"
#include "ensemble/error.h"

static void test_a_key_passes_only_later_sequences(void **state)
{
    (void)state;
    ens_gw_kv_seen *t = ens__gw_kv_seen_new();
    assert_non_null(t);
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.taken", 2), 1); /* B claims */
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.taken", 2), 0); /* the read has it too */
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.taken", 4), 1); /* purged as B's */
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.taken", 5), 1); /* A claims */
    /* The heal: B's copy republishes 4 and 5 as it catches up, and a read
     * it serves before it caught up delivers 2. */
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.taken", 4), 0);
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.taken", 5), 0);
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.taken", 2), 0);
    /* Other keys are apart: an older sequence of another key passes. */
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.kept", 3), 1);
    assert_int_equal(ens__gw_kv_seen_newer(t, "part.kept", 7), 1);
    assert_int_equal(ens__gw_kv_seen_max(t), 7);
    assert_int_equal(ens__gw_kv_seen_count(t), 2);
    ens__gw_kv_seen_free(t);
}

static void test_many_keys_grow_the_table_and_keep_each_sequence(void **state)
{
    (void)state;
    ens_gw_kv_seen *t = ens__gw_kv_seen_new();
    assert_non_null(t);
    char key[32];
    for (unsigned i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "name.%u", i);
        assert_int_equal(ens__gw_kv_seen_newer(t, key, 10 + i), 1);
    }
    assert_int_equal(ens__gw_kv_seen_count(t), 10000);
    for (unsigned i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "name.%u", i);
        assert_int_equal(ens__gw_kv_seen_newer(t, key, 10 + i), 0);
        assert_int_equal(ens__gw_kv_seen_newer(t, key, 9 + i), 0);
        assert_int_equal(ens__gw_kv_seen_newer(t, key, 20000 + i), 1);
    }
    assert_int_equal(ens__gw_kv_seen_max(t), 29999);
    /* The bucket made anew: its sequences start again. */
    ens__gw_kv_seen_clear(t);
    assert_int_equal(ens__gw_kv_seen_count(t), 0);
    assert_int_equal(ens__gw_kv_seen_max(t), 0);
    assert_int_equal(ens__gw_kv_seen_newer(t, "name.1", 1), 1);
    ens__gw_kv_seen_free(t);
}

static void test_a_read_is_current_only_up_to_the_streams_last_sequence(void **state)
{
    (void)state;
    /* The stream's leader said 6; a copy behind served a read up to 2. */
    assert_false(ens__gw_kv_read_current(2, 6));
    assert_true(ens__gw_kv_read_current(6, 6));
    assert_true(ens__gw_kv_read_current(8, 6)); /* written while it read */
    assert_true(ens__gw_kv_read_current(0, 0)); /* an empty bucket */
}

/* After the heal in the namespace test: B's follower had passed on
 * part.taken up to sequence 6 when a re-read's stream info came from B's
 * own copy, still at 2. Taken for a bucket made anew, it cleared the table
 * and passed on B's entry from before the cut (sequence 2): B's cache
 * answered none for A's name. Only another creation time is a new bucket. */
static void test_a_copy_behind_is_not_a_bucket_made_anew(void **state)
{
    (void)state;
    const int64_t created = 1796687990123456789ll;
    assert_int_equal(ens__gw_kv_stream_judge(created, 2, created, 6), ENS_GW_KV_STREAM_BEHIND);
    assert_int_equal(ens__gw_kv_stream_judge(created, 6, created, 6), ENS_GW_KV_STREAM_CURRENT);
    assert_int_equal(ens__gw_kv_stream_judge(created, 9, created, 6), ENS_GW_KV_STREAM_CURRENT);
    /* The bucket deleted and made again: fewer sequences, or as many. */
    assert_int_equal(ens__gw_kv_stream_judge(created + 1, 2, created, 6), ENS_GW_KV_STREAM_ANEW);
    assert_int_equal(ens__gw_kv_stream_judge(created + 1, 60, created, 6), ENS_GW_KV_STREAM_ANEW);
    /* The first read: nothing known, nothing passed on. */
    assert_int_equal(ens__gw_kv_stream_judge(created, 0, 0, 0), ENS_GW_KV_STREAM_CURRENT);
    assert_int_equal(ens__gw_kv_stream_judge(created, 4, 0, 0), ENS_GW_KV_STREAM_CURRENT);
}

#define MS 1000000ll

static bool fresh(const char *record, int64_t age_ms)
{
    int64_t now = 1796688000000ll * MS; /* any time: only the difference counts */
    return ens__gw_members_record_fresh(record, (int)strlen(record), now - age_ms * MS, now);
}

static void test_a_lost_nodes_names_wait_until_its_record_is_older_than_its_down_after(void **state)
{
    (void)state;
    const char *a = "system=ns1n-a\nhost=vm\npid=42\nversion=0.1.0\nstarted=1796687990000\n"
                    "heartbeat_ms=500\ndown_after_ms=2000\nactors=3\n";
    /* The heal: A, on the side with the quorum, put its record every
     * second throughout the cut; B's purge of A's names finds it fresh. */
    assert_true(fresh(a, 0));
    assert_true(fresh(a, 300));
    assert_true(fresh(a, 1999));
    /* A lost for real puts nothing: its names go one down_after_ms after
     * its last record. */
    assert_false(fresh(a, 2000));
    assert_false(fresh(a, 2500));
    assert_false(fresh(a, 600000));
    /* Stamped by a server whose clock is ahead of this host's. */
    assert_true(fresh(a, -50));
    /* Each writer's own pace: a member judged after 10 s puts every 5 s. */
    const char *slow = "system=x\nheartbeat_ms=500\ndown_after_ms=10000\n";
    assert_true(fresh(slow, 6000));
    assert_false(fresh(slow, 10001));
    /* No down_after_ms (or one out of range): four heartbeats, at least
     * the default 2000 ms. */
    assert_true(fresh("system=x\nheartbeat_ms=1000\n", 3500));
    assert_false(fresh("system=x\nheartbeat_ms=1000\n", 4001));
    assert_false(fresh("system=x\ndown_after_ms=7\n", 2001));
    assert_true(fresh("system=x\ndown_after_ms=7\n", 1999));
    /* Nothing of a record: never a proof of life. */
    assert_false(ens__gw_members_record_fresh("", 0, 0, 0));
    assert_false(ens__gw_members_record_fresh(NULL, 10, 0, 0));
    assert_false(ens__gw_members_record_fresh(a, (int)ENS_GW_RECORD_MAX + 1, 0, 0));
}

static void test_a_members_copy_without_this_gateways_recent_puts_is_not_current(void **state)
{
    (void)state;
    int64_t now = 1796688000000ll * MS;
    /* The leader: every member, this gateway included, put within 1 s. */
    assert_true(ens__gw_members_stream_current(now - 300 * MS, now, 2000));
    assert_true(ens__gw_members_stream_current(now + 40 * MS, now, 2000)); /* clocks apart */
    /* A restarted server's copy, 10.7 s behind, answered a get with every
     * member's record 10.7 s old: no proof that any of them is lost. */
    assert_false(ens__gw_members_stream_current(now - 10745 * MS, now, 2000));
    assert_false(ens__gw_members_stream_current(now - 2000 * MS, now, 2000));
    assert_true(ens__gw_members_stream_current(now - 9000 * MS, now, 10000));
    assert_false(ens__gw_members_stream_current(0, now, 2000)); /* an empty stream */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_key_passes_only_later_sequences),
        cmocka_unit_test(test_many_keys_grow_the_table_and_keep_each_sequence),
        cmocka_unit_test(test_a_read_is_current_only_up_to_the_streams_last_sequence),
        cmocka_unit_test(test_a_copy_behind_is_not_a_bucket_made_anew),
        cmocka_unit_test(
            test_a_lost_nodes_names_wait_until_its_record_is_older_than_its_down_after),
        cmocka_unit_test(test_a_members_copy_without_this_gateways_recent_puts_is_not_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

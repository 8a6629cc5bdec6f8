/*
 * tests/test_flood.c - one consumer receiving from 50 producers that send
 * as fast as they can (process base): every message arrives, in order per
 * producer, and the memory of every process stays under a bound, because
 * back-pressure (a full mailbox holds its senders back, ENS_EFULL refuses
 * what does not fit) keeps the backlog in bounded kernel buffers instead of
 * anyone's heap.
 *
 * ENS_FLOOD_PER_PRODUCER sets the messages per producer (default 20 000,
 * 400 under ASan); `make reliability` runs it with more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"
#include "support/procfs.h"

#define WAIT_MS     120000
#define PRODUCERS   50
#define BATCH       500 /* messages per handler call, so producers interleave */
#define RSS_MAX_KIB (64 * 1024)

#ifdef __SANITIZE_ADDRESS__
#define DEFAULT_PER_PRODUCER 400
#else
#define DEFAULT_PER_PRODUCER 20000
#endif

typedef struct item_v {
    uint32_t producer;
    uint32_t seq;
} item_v;
static ens_msgtype item_t = {"flood.Item", "S(uu)", sizeof(item_v), 0, 0, NULL};

typedef struct go_v {
    ens_addr consumer;
    uint32_t producer;
    uint32_t count;
} go_v;
static ens_msgtype go_t = {"flood.Go", "S(" ENS_ADDR_FMT "uu)", sizeof(go_v), 0, 0, NULL};

typedef struct result_v {
    uint64_t received;
    uint64_t out_of_order;
    uint64_t unknown;
    uint32_t producers_done;
    uint32_t efull; /* refusals the producers met (reported by them) */
} result_v;
static ens_msgtype result_t = {"flood.Result", "S(UUUuu)", sizeof(result_v), 0, 0, NULL};

/* ---- producer --------------------------------------------------------- */

typedef struct producer_state {
    go_v go;
    uint32_t next;
    uint32_t efull;
} producer_state;

static int producer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    producer_state *st = state;
    const go_v *g = ens_msg_value(m, &go_t);
    if (g != NULL) {
        st->go = *g;
        st->next = 0;
    } else if (ens_msg_value(m, &ens_msg_wakeup) == NULL && ens_msg_value(m, &item_t) == NULL) {
        return 0;
    }
    for (uint32_t i = 0; i < BATCH && st->next < st->go.count; i++) {
        item_v it = {st->go.producer, st->next};
        int rc = ens_send(c, st->go.consumer, &item_t, &it);
        if (rc == ENS_EFULL) { /* full: try again in a moment */
            st->efull++;
            return ens_wakeup_after(c, 1, 0, NULL);
        }
        if (rc < 0)
            return rc;
        st->next++;
    }
    if (st->next < st->go.count) /* go on after whatever else is queued */
        return ens_send(c, ens_self(c), &item_t, &(item_v){0, 0});
    /* Done: the last item says so (seq = count, never counted as data). */
    item_v end = {st->go.producer, UINT32_MAX - st->efull};
    return ens_send(c, st->go.consumer, &item_t, &end);
}

static const ens_actor_def producer_def = {
    "flood.Producer", sizeof(producer_state), NULL, producer_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- consumer --------------------------------------------------------- */

typedef struct consumer_state {
    uint32_t next[PRODUCERS];
    result_v r;
    ens_addr outside;
} consumer_state;

static int consumer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    consumer_state *st = state;
    const item_v *it = ens_msg_value(m, &item_t);
    if (it == NULL) {
        if (ens_msg_value(m, &ens_msg_string) != NULL)
            st->outside = ens_sender(c);
        return 0;
    }
    if (it->producer >= PRODUCERS) {
        st->r.unknown++;
        return 0;
    }
    if (it->seq > UINT32_MAX / 2) { /* the end marker, carrying EFULL count */
        st->r.producers_done++;
        st->r.efull += UINT32_MAX - it->seq;
        if (st->r.producers_done == PRODUCERS)
            return ens_send(c, st->outside, &result_t, &st->r);
        return 0;
    }
    if (it->seq != st->next[it->producer])
        st->r.out_of_order++;
    st->next[it->producer] = it->seq + 1;
    st->r.received++;
    return 0;
}

static const ens_actor_def consumer_def = {
    "flood.Consumer", sizeof(consumer_state), NULL, consumer_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- the test ---------------------------------------------------------- */

static void test_fifty_producers_one_consumer(void **state)
{
    (void)state;
    uint32_t per = DEFAULT_PER_PRODUCER;
    const char *env = getenv("ENS_FLOOD_PER_PRODUCER");
    if (env != NULL && atoi(env) > 0)
        per = (uint32_t)atoi(env);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.log_level = ENS_LOG_ERROR;
    o.mailbox_limit = 1u << 16; /* a small bound, so back-pressure bites */
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr consumer;
    assert_int_equal(ens_spawn(out, &consumer_def, NULL, NULL, &consumer), 0);
    assert_int_equal(ens_send(out, consumer, &ens_msg_string, &(ens_string_v){"report to me"}), 0);
    ens_addr producers[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++)
        assert_int_equal(ens_spawn(out, &producer_def, NULL, NULL, &producers[i]), 0);
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        go_v g = {consumer, i, per};
        assert_int_equal(ens_send(out, producers[i], &go_t, &g), 0);
    }
    /* Sample memory while the flood runs: every status call is one sample
     * of every actor process and of the admin. */
    long peak_actor = 0, peak_admin = 0, peak_total = 0;
    ens_msg *m = NULL;
    for (;;) {
        int rc = ens_listen(out, 100, &m);
        if (rc == 0)
            break;
        assert_int_equal(rc, ENS_ETIMEDOUT);
        ens_status *st = NULL;
        assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
        long total = 0;
        for (size_t i = 0; i < ens_status_count(st); i++) {
            long kib = (long)ens_status_at(st, i)->rss_kib;
            total += kib;
            if (kib > peak_actor)
                peak_actor = kib;
        }
        long admin = test_rss_kib(ens_status_admin_pid(st));
        if (admin > peak_admin)
            peak_admin = admin;
        if (total + admin > peak_total)
            peak_total = total + admin;
        ens_status_free(st);
    }
    const result_v *r = ens_msg_value(m, &result_t);
    assert_non_null(r);
    printf("# %u producers x %u messages: %llu received, %llu out of order, %u EFULL refusals; "
           "peak RSS: actor %ld KiB, admin %ld KiB, all %ld KiB\n",
           PRODUCERS, per, (unsigned long long)r->received, (unsigned long long)r->out_of_order,
           r->efull, peak_actor, peak_admin, peak_total);
    assert_int_equal(r->received, (uint64_t)PRODUCERS * per);
    assert_int_equal(r->out_of_order, 0);
    assert_int_equal(r->unknown, 0);
    ens_msg_free(m);
#ifndef __SANITIZE_ADDRESS__ /* ASan's shadow memory and quarantine dwarf the bound */
    assert_true(peak_actor < RSS_MAX_KIB);
    assert_true(peak_admin < RSS_MAX_KIB);
#endif
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
}

int main(void)
{
    if (ens_msgtype_register(&item_t) != 0 || ens_msgtype_register(&go_t) != 0 ||
        ens_msgtype_register(&result_t) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifty_producers_one_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

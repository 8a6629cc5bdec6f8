/*
 * tests/test_large_receive.c - large messages received without extra
 * copies: an actor takes the pieces of a frame straight into its slot (also
 * the first piece after small frames), and the outside program receives
 * the bytes of a piece straight where its frame is put together. What must
 * hold: 1 MiB and 8 MiB messages arrive intact and in order, mixed with
 * small ones, on both bases, actor to actor and actor to outside; a sender
 * killed in the middle of a large frame to the outside costs nothing but
 * that frame.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ensemble/ensemble.h"
#include "support/deadline.h"

#define WAIT_MS   30000u
#define MAX_FRAME (16u << 20)

static const size_t sizes[] = {1u << 20, 8u << 20};

/* The byte at i of a message tagged tag: different in every message and
 * every 4 KiB of one, so a misplaced piece shows. */
static uint8_t pattern(size_t i, uint32_t tag)
{
    return (uint8_t)(i * 31u + tag * 7u + (i >> 12));
}

static void fill(uint8_t *p, size_t n, uint32_t tag)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(i, tag);
}

/* The first 4 bytes of a large message say its tag. */
static bool intact(const uint8_t *p, size_t n, uint32_t *tag)
{
    if (n < 4)
        return false;
    uint32_t t;
    memcpy(&t, p, 4);
    for (size_t i = 4; i < n; i++) {
        if (p[i] != pattern(i, t))
            return false;
    }
    *tag = t;
    return true;
}

static uint8_t *make(size_t n, uint32_t tag)
{
    uint8_t *p = malloc(n);
    assert_non_null(p);
    fill(p, n, tag);
    memcpy(p, &tag, 4);
    return p;
}

/* echo: sends every bytes message back to its sender, and forwards it
 * to the peer it was given (if any) first. */
typedef struct {
    ens_addr peer;
} echo_state;

static int echo_init(ens_ctx *c, void *st, const ens_msg *arg)
{
    (void)c;
    echo_state *e = st;
    const ens_string_v *p = arg != NULL ? ens_msg_value(arg, &ens_msg_string) : NULL;
    e->peer = ENS_ADDR_NONE;
    return p != NULL ? ens_addr_parse(p->text, &e->peer) : 0;
}

static int echo_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    echo_state *e = st;
    const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
    if (b == NULL)
        return 0;
    if (!ens_addr_is_none(e->peer)) {
        int rc = ens_send(c, e->peer, &ens_msg_bytes, b);
        if (rc < 0)
            return rc;
    }
    return ens_send(c, ens_sender(c), &ens_msg_bytes, b);
}

static const ens_actor_def echo_def = {
    "lrx.Echo", sizeof(echo_state), echo_init, echo_receive, NULL, NULL, NULL, NULL, NULL};

/* checker: checks every bytes message it gets (actor to actor), and
 * answers an int64 ask with (intact << 32) | broken. */
typedef struct {
    int64_t intact, broken;
} check_state;

static int check_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    check_state *cs = st;
    const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
    uint32_t tag;
    if (b != NULL) {
        if (b->data.len < 1024 || intact(b->data.data, b->data.len, &tag))
            cs->intact++;
        else
            cs->broken++;
        return 0;
    }
    if (ens_msg_value(m, &ens_msg_int64) != NULL)
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){(cs->intact << 32) | cs->broken});
    return 0;
}

static const ens_actor_def check_def = {
    "lrx.Check", sizeof(check_state), NULL, check_receive, NULL, NULL, NULL, NULL, NULL};

static ens_system *start(ens_base base)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.max_frame_bytes = MAX_FRAME;
    o.log_level = getenv("ENS_TEST_LOG") ? ENS_LOG_DEBUG : ENS_LOG_ERROR;
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    return s;
}

/* Send a tell, letting the system run (not dropping) when the
 * destination is full. */
static void tell(ens_system *s, ens_addr to, const ens_bytes_v *b)
{
    int rc;
    while ((rc = ens_send(ens_system_ctx(s), to, &ens_msg_bytes, b)) == ENS_EFULL)
        ens_system_run(s, 100);
    assert_int_equal(rc, 0);
}

/* Small and large messages, alternating, go outside -> echo -> checker
 * (actor to actor) and echo -> outside: all arrive whole, in order. */
static void mixed_round(ens_base base)
{
    ens_system *s = start(base);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr check, echo;
    assert_int_equal(ens_spawn(out, &check_def, NULL, NULL, &check), 0);
    char peer[ENS_ADDR_STRLEN];
    assert_true(ens_addr_format(check, peer, sizeof(peer)) > 0);
    assert_int_equal(ens_spawn(out, &echo_def, &ens_msg_string, &(ens_string_v){peer}, &echo), 0);
    enum { ROUNDS = 3 };
    uint8_t small[100];
    memset(small, 0x5a, sizeof(small));
    uint32_t sent = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            tell(s, echo, &(ens_bytes_v){{small, sizeof(small)}});
            uint8_t *big = make(sizes[k], ++sent);
            tell(s, echo, &(ens_bytes_v){{big, (uint32_t)sizes[k]}});
            free(big);
        }
    }
    uint32_t want = 1;
    for (uint32_t got = 0; got < 2 * sent;) {
        ens_msg *m = NULL;
        assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
        const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
        assert_non_null(b);
        got++;
        if (b->data.len == sizeof(small)) {
            assert_memory_equal(b->data.data, small, sizeof(small));
        } else {
            uint32_t tag = 0;
            assert_true(intact(b->data.data, b->data.len, &tag));
            assert_int_equal(tag, want); /* in order */
            assert_int_equal(b->data.len, sizes[(tag - 1) % 2]);
            want++;
        }
        ens_msg_free(m);
    }
    assert_int_equal(want, sent + 1);
    /* The checker hears from the echo on another connection than the
     * outside's asks: ask until it has them all (or the deadline). */
    const test_deadline deadline = test_deadline_in(WAIT_MS);
    for (int64_t have = 0; have < 2 * (int64_t)sent;) {
        assert_false(test_deadline_passed(deadline));
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(out, check, &ens_msg_int64, &(ens_int64_v){0}, WAIT_MS, &r), 0);
        const ens_int64_v *counts = ens_msg_value(r, &ens_msg_int64);
        assert_non_null(counts);
        const int64_t broken = counts->value & 0xffffffff;
        have = counts->value >> 32;
        ens_msg_free(r);
        assert_int_equal(broken, 0);
        assert_true(have <= 2 * (int64_t)sent);
    }
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
}

static void test_large_intact_process(void **state)
{
    (void)state;
    mixed_round(ENS_BASE_PROCESS);
}

static void test_large_intact_inproc(void **state)
{
    (void)state;
    mixed_round(ENS_BASE_INPROC);
}

/* big: told a string, says "started" to the outside, then sends it an
 * 8 MiB message (first attempt only: a restarted one stays quiet). */
static int big_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)st;
    if (ens_msg_value(m, &ens_msg_string) == NULL || ens_msg_attempt(m) != 1)
        return 0;
    ens_addr to = ens_sender(c);
    int rc = ens_send(c, to, &ens_msg_string, &(ens_string_v){"started"});
    if (rc < 0)
        return rc;
    uint8_t *p = make(sizes[1], 99);
    rc = ens_send(c, to, &ens_msg_bytes, &(ens_bytes_v){{p, (uint32_t)sizes[1]}});
    free(p);
    return rc;
}

static const ens_actor_def big_def = {"lrx.Big", 0,    NULL, big_receive, NULL,
                                      NULL,      NULL, NULL, NULL};

/* The outside reads the start of an 8 MiB message (its first piece is
 * being placed) and its sender is killed: the 1 MiB messages of another
 * sender, sent before and after, all arrive whole; the killed one's
 * message never arrives in part. */
static void test_sender_killed_mid_frame_to_outside(void **state)
{
    (void)state;
    ens_system *s = start(ENS_BASE_PROCESS);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr big, echo;
    assert_int_equal(ens_spawn(out, &big_def, NULL, NULL, &big), 0);
    assert_int_equal(ens_spawn(out, &echo_def, NULL, NULL, &echo), 0);
    uint8_t *one = make(sizes[0], 1);
    tell(s, echo, &(ens_bytes_v){{one, (uint32_t)sizes[0]}});
    assert_int_equal(ens_send(out, big, &ens_msg_string, &(ens_string_v){"go"}), 0);
    /* "started" comes first on big's connection: once it is here, the
     * 8 MiB behind it cannot all be (a socket holds far less). */
    int echoes = 0;
    for (bool started = false; !started;) {
        ens_msg *m = NULL;
        assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
        const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
        uint32_t tag;
        if (b != NULL) {
            assert_true(b->data.len == sizes[0] && intact(b->data.data, b->data.len, &tag));
            echoes++;
        } else {
            const ens_string_v *t = ens_msg_value(m, &ens_msg_string);
            assert_non_null(t);
            assert_string_equal(t->text, "started");
            started = true;
        }
        ens_msg_free(m);
    }
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    int pid = 0;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        if (ens_addr_equal(ens_status_at(st, i)->addr, big))
            pid = ens_status_at(st, i)->pid;
    }
    ens_status_free(st);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    for (uint32_t k = 2; k <= 4; k++) {
        uint8_t *p = make(sizes[0], k);
        tell(s, echo, &(ens_bytes_v){{p, (uint32_t)sizes[0]}});
        free(p);
    }
    while (echoes < 4) {
        ens_msg *m = NULL;
        assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
        const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
        assert_non_null(b);
        uint32_t tag = 0;
        assert_true(intact(b->data.data, b->data.len, &tag));
        if (tag == 99) { /* the killed sender's, if it left whole before the kill */
            assert_int_equal(b->data.len, sizes[1]);
        } else {
            assert_int_equal(b->data.len, sizes[0]);
            echoes++;
        }
        ens_msg_free(m);
    }
    free(one);
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_intact_process),
        cmocka_unit_test(test_large_intact_inproc),
        cmocka_unit_test(test_sender_killed_mid_frame_to_outside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

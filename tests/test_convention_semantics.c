/*
 * tests/test_convention_semantics.c - remote actors behave as local ones:
 * systems A, B (and C) of one convention on a private nats-server
 * (tests/support/nats_server.h), each with actors spawned by this program
 * as its outside program, and the rules of a single system checked across
 * them: calls and error replies, forwards keeping the original sender,
 * PoisonMessages back to a sender on another host, exit requests, wake-ups,
 * dead letters for a dead remote target, 100 000 ordered tells; and routing
 * that follows membership (a node that left or went silent gets dead
 * letters "node gone", not frames published to nobody). Skipped, with a
 * message, when nats-server is not installed.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/convention.h"
#include "support/deadline.h"
#include "support/echo.h"
#include "support/nats_server.h"

#include "ensemble/ensemble.h"

#define LONG_WAIT_MS 120000 /* for what a busy 2-core machine may take long to move */
#define FLOOD        100000
#define REFUSED      (-4242) /* the server's own error code for "fail" */

/* ---- systems ---------------------------------------------------------- */

static ens_system *sys_a, *sys_b, *sys_c;
static test_conv_seen seen_a, seen_b, seen_c;
static pid_t stopped_pid; /* a process this test SIGSTOPped: continued at teardown */

static int three_setup(void **state)
{
    (void)state;
    if (test_conv_server.pid == 0)
        return 0;
    test_conv_name_set("s");
    sys_a = test_conv_start_seen(&seen_a, 0, 0);
    sys_b = test_conv_start_seen(&seen_b, 0, 0);
    sys_c = test_conv_start_seen(&seen_c, 0, 0);
    return 0;
}

/* Two systems; with fast heartbeats (250 ms: a silent one is seen
 * unreachable within about a second, and a busy machine rarely stalls a
 * live gateway's heartbeats that long). */
static int two_setup_beats(uint32_t heartbeat_ms)
{
    if (test_conv_server.pid == 0)
        return 0;
    test_conv_name_set("f");
    sys_a = test_conv_start_seen(&seen_a, heartbeat_ms, 0);
    sys_b = test_conv_start_seen(&seen_b, heartbeat_ms, 0);
    return 0;
}

static int two_setup(void **state)
{
    (void)state;
    return two_setup_beats(0);
}

static int two_fast_setup(void **state)
{
    (void)state;
    return two_setup_beats(250);
}

static int teardown(void **state)
{
    (void)state;
    if (stopped_pid > 0)
        kill(stopped_pid, SIGCONT);
    stopped_pid = 0;
    test_conv_stop(&sys_a);
    test_conv_stop(&sys_b);
    test_conv_stop(&sys_c);
    return 0;
}

static ens_addr spawn_on(ens_system *s, const ens_actor_def *d, const char *arg)
{
    ens_addr a = ENS_ADDR_NONE;
    ens_string_v v = {(char *)arg};
    assert_int_equal(
        ens_spawn(ens_system_ctx(s), d, arg != NULL ? &ens_msg_string : NULL, arg ? &v : NULL, &a),
        0);
    return a;
}

static const char *addr_text(ens_addr a, char buf[ENS_ADDR_STRLEN])
{
    ens_addr_format(a, buf, ENS_ADDR_STRLEN);
    return buf;
}

static const char *string_of(const ens_msg *m)
{
    const ens_string_v *v = m != NULL ? ens_msg_value(m, &ens_msg_string) : NULL;
    return v != NULL ? v->text : NULL;
}

/* ---- the probe: an actor that acts on commands and notes what it gets -- */

/* Asked (a request) with a command:
 *   "call ADDR TEXT"  ens_call ADDR with TEXT; answers "STATUS TEXT" (the
 *                     reply's text, or "poison ORIGINAL ATTEMPTS")
 *   "tell ADDR TEXT"  ens_send TEXT to ADDR; answers "ok"
 *   "exit ADDR"       ens_exit_request ADDR; answers "ok"
 *   "tick N"          answers "tock N"
 *   "log?"            answers what it noted
 * Anything else it gets is noted: a plain string "msg(TEXT)", a
 * PoisonMessage "poison(TEXT,ERROR,ATTEMPTS)", a DeadEnvelope
 * "dead(INTENDED,TEXT)", a convention update "left N" / "joined N" /
 * "unreachable N". Its start argument: "subscribe" (to the convention's
 * updates), "dead letters" (the system's dead-letter handler), or none. */
typedef struct probe {
    ens_from asker;
    char log[4096];
} probe;

/* Note what happened, and a ';' after it. */
#define note(p, ...)                                                                               \
    (test_conv_append((p)->log, sizeof((p)->log), __VA_ARGS__),                                    \
     test_conv_append((p)->log, sizeof((p)->log), ";"))

static int probe_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    const char *a = string_of(arg);
    if (a != NULL && strcmp(a, "subscribe") == 0)
        return ens_convention_subscribe(c, true);
    if (a != NULL && strcmp(a, "dead letters") == 0)
        return ens_dead_letters_handle(c, true);
    return 0;
}

static void probe_called(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    (void)tag;
    probe *p = state;
    char text[256] = "";
    const ens_poison_v *pv = reply != NULL ? ens_msg_value(reply, &ens_msg_poison) : NULL;
    if (pv != NULL) {
        const char *orig = string_of(ens_poison_original(reply));
        snprintf(text, sizeof(text), "poison %s %u", orig != NULL ? orig : "?",
                 (unsigned)pv->attempts);
    } else if (string_of(reply) != NULL) {
        snprintf(text, sizeof(text), "%s", string_of(reply));
    }
    char out[300];
    snprintf(out, sizeof(out), "%d %s", status, text);
    ens_reply_to(c, p->asker, 0, &ens_msg_string, &(ens_string_v){out});
}

static int probe_command(ens_ctx *c, probe *p, const char *text)
{
    char verb[16] = "", where[64] = "";
    int off = 0;
    if (strcmp(text, "log?") == 0)
        return ens_reply(c, &ens_msg_string, &(ens_string_v){p->log});
    if (sscanf(text, "%15s %63s %n", verb, where, &off) < 2)
        return ens_reply_error(c, ENS_EINVAL, NULL, NULL);
    if (strcmp(verb, "tick") == 0) {
        char out[80];
        snprintf(out, sizeof(out), "tock %s", where);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){out});
    }
    ens_addr to;
    if (ens_addr_parse(where, &to) < 0)
        return ens_reply_error(c, ENS_EINVAL, NULL, NULL);
    ens_string_v rest = {(char *)text + (off > 0 ? off : (int)strlen(text))};
    int rc = ENS_EINVAL;
    if (strcmp(verb, "call") == 0) {
        p->asker = ens_from_current(c);
        rc = ens_call(c, to, &ens_msg_string, &rest, LONG_WAIT_MS, probe_called, 0);
        if (rc == 0)
            return 0; /* answered by probe_called */
    } else if (strcmp(verb, "tell") == 0) {
        rc = ens_send(c, to, &ens_msg_string, &rest);
    } else if (strcmp(verb, "exit") == 0) {
        rc = ens_exit_request(c, to);
    }
    return rc == 0 ? ens_reply(c, &ens_msg_string, &(ens_string_v){"ok"})
                   : ens_reply_error(c, rc, NULL, NULL);
}

static int probe_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    probe *p = state;
    char where[ENS_ADDR_STRLEN];
    const char *text = string_of(m);
    if (text != NULL && ens_from_current(c).corr != 0)
        return probe_command(c, p, text);
    if (text != NULL) {
        note(p, "msg(%s)", text);
        return 0;
    }
    const ens_poison_v *pv = ens_msg_value(m, &ens_msg_poison);
    if (pv != NULL) {
        const char *orig = string_of(ens_poison_original(m));
        note(p, "poison(%s,%d,%u)", orig != NULL ? orig : "?", (int)pv->error,
             (unsigned)pv->attempts);
        return 0;
    }
    const ens_dead_envelope_v *dv = ens_msg_value(m, &ens_msg_dead_envelope);
    if (dv != NULL) {
        const char *orig = string_of(ens_poison_original(m));
        note(p, "dead(%s,%s)", addr_text(dv->intended, where), orig != NULL ? orig : "?");
        return 0;
    }
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        const char *what = u->change == ENS_MEMBER_JOINED ? "joined"
                           : u->change == ENS_MEMBER_LEFT ? "left"
                                                          : "unreachable";
        note(p, "%s %u", what, (unsigned)u->node);
    }
    return 0;
}

static const ens_actor_def probe_def = {"sem.Probe", sizeof(probe), probe_init, probe_receive, NULL,
                                        NULL,        NULL,          NULL,       NULL};

/* Ask probe (on s) for its log until it holds needle or the deadline
 * passes; true if it does. The log is left in log. Every system runs
 * between tries: a tell waits in its outside program until its connection
 * is ready. */
static bool wait_note(ens_system *s, ens_addr probe_at, const char *needle, int wait_ms, char *log,
                      size_t len)
{
    return test_conv_await_text(s, probe_at, "log?", needle, wait_ms,
                                (ens_system *[]){sys_a, sys_b, sys_c}, 3, log, len);
}

/* ---- actors of B -------------------------------------------------------- */

/* A gen_server: "ping" -> "pong"; "fail" -> the error REFUSED with
 * "refused"; "poison" fails its handler (a call, or a plain tell). */
static int server_call(ens_ctx *c, void *state, const ens_msg *req, ens_from from)
{
    (void)state;
    const char *t = string_of(req);
    if (t != NULL && strcmp(t, "ping") == 0)
        return ens_gen_server_reply(c, from, &ens_msg_string, &(ens_string_v){"pong"});
    if (t != NULL && strcmp(t, "fail") == 0)
        return ens_gen_server_reply_error(c, from, REFUSED, &ens_msg_string,
                                          &(ens_string_v){"refused"});
    if (t != NULL && strcmp(t, "poison") == 0)
        return ENS_EINVAL;
    return ens_gen_server_reply_error(c, from, ENS_EBADTYPE, NULL, NULL);
}

static int server_info(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    const char *t = string_of(m);
    return t != NULL && strcmp(t, "poison") == 0 ? ENS_EINVAL : 0;
}

static const ens_gen_server_cbs server_cbs = {NULL, server_call, NULL, server_info, NULL};
static const ens_actor_def server_def = ENS_GEN_SERVER_DEF_STATELESS("sem.Server", &server_cbs);

/* The init of the actors below, whose state starts with an address: the
 * address their start argument gives. */
static int addr_arg_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    const char *a = string_of(arg);
    return a != NULL ? ens_addr_parse(a, (ens_addr *)state) : ENS_EINVAL;
}

/* Forwards every request to the address of its start argument. */
typedef struct forwarder {
    ens_addr to;
} forwarder;

static int forwarder_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    forwarder *f = state;
    return ens_forward(c, f->to, m);
}

static const ens_actor_def forwarder_def = {"sem.Forwarder",
                                            sizeof(forwarder),
                                            addr_arg_init,
                                            forwarder_receive,
                                            NULL,
                                            NULL,
                                            NULL,
                                            NULL,
                                            NULL};

/* An echo that, when it ends in order, tells the address of its start
 * argument "terminated REASON". */
static void ender_terminate(ens_ctx *c, void *state, int reason)
{
    const forwarder *f = state; /* the watcher's address */
    char text[48];
    snprintf(text, sizeof(text), "terminated %d", reason);
    ens_send(c, f->to, &ens_msg_string, &(ens_string_v){text});
}

static const ens_actor_def ender_def = {"sem.Ender",
                                        sizeof(forwarder),
                                        addr_arg_init,
                                        test_echo_receive,
                                        ender_terminate,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};

/* Asked "start N", it sets a wake-up; at each wake-up K it requests "tick
 * K" of the probe of its start argument and, once "tock K" came, sets the
 * next one, until N; then it answers the asker with what happened, in
 * order: "w1 tock 1 w2 tock 2 ...". */
typedef struct ticker {
    ens_addr probe; /* first: addr_arg_init's */
    ens_from asker;
    uint64_t n;
    char trail[512];
} ticker;

static void ticker_trail(ticker *t, const char *piece)
{
    size_t used = strlen(t->trail);
    snprintf(t->trail + used, sizeof(t->trail) - used, "%s%s", used > 0 ? " " : "", piece);
}

static void ticker_tocked(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t k)
{
    ticker *t = state;
    const char *r = string_of(reply);
    if (status != 0 || r == NULL) {
        ens_reply_to(c, t->asker, status < 0 ? status : ENS_EBADTYPE, NULL, NULL);
        return;
    }
    ticker_trail(t, r);
    if (k < t->n)
        ens_wakeup_after(c, 10, k + 1, NULL);
    else
        ens_reply_to(c, t->asker, 0, &ens_msg_string, &(ens_string_v){t->trail});
}

static int ticker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    ticker *t = state;
    const ens_wakeup_v *w = ens_msg_value(m, &ens_msg_wakeup);
    if (w != NULL) {
        char piece[32], ask[32];
        snprintf(piece, sizeof(piece), "w%llu", (unsigned long long)w->payload);
        ticker_trail(t, piece);
        snprintf(ask, sizeof(ask), "tick %llu", (unsigned long long)w->payload);
        return ens_request(c, t->probe, &ens_msg_string, &(ens_string_v){ask}, LONG_WAIT_MS,
                           ticker_tocked, w->payload);
    }
    const char *text = string_of(m);
    unsigned long long n = 0;
    if (text == NULL || sscanf(text, "start %llu", &n) != 1 || n == 0)
        return 0;
    t->asker = ens_from_current(c);
    t->n = n;
    t->trail[0] = '\0';
    return ens_wakeup_after(c, 10, 1, NULL);
}

static const ens_actor_def ticker_def = {
    "sem.Ticker", sizeof(ticker), addr_arg_init, ticker_receive, NULL, NULL, NULL, NULL, NULL};

static const ens_actor_def counter_def = {.name = "sem.Counter",
                                          .state_size = sizeof(test_conv_counter),
                                          .receive = test_conv_counter_receive};

/* Asked "ADDR N", tells ADDR the int64s 0..N-1 in order, then answers
 * "sent N". When its connection is full (ENS_EFULL) it goes on at a
 * wake-up, after its handler returned and what it sent left. */
typedef struct flooder {
    ens_from asker;
    ens_addr to;
    int64_t next, n;
} flooder;

static int flood_on(ens_ctx *c, flooder *f)
{
    while (f->next < f->n) {
        int rc = ens_send(c, f->to, &ens_msg_int64, &f->next);
        if (rc == ENS_EFULL)
            return ens_wakeup_after(c, 1, 0, NULL);
        if (rc < 0)
            return ens_reply_to(c, f->asker, rc, NULL, NULL);
        f->next++;
    }
    char text[48];
    snprintf(text, sizeof(text), "sent %lld", (long long)f->n);
    return ens_reply_to(c, f->asker, 0, &ens_msg_string, &(ens_string_v){text});
}

static int flooder_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    flooder *f = state;
    if (ens_msg_value(m, &ens_msg_wakeup) != NULL)
        return flood_on(c, f);
    const char *text = string_of(m);
    char where[64];
    long long n = 0;
    if (text == NULL || sscanf(text, "%63s %lld", where, &n) != 2 ||
        ens_addr_parse(where, &f->to) < 0)
        return ens_reply_error(c, ENS_EINVAL, NULL, NULL);
    f->asker = ens_from_current(c);
    f->next = 0;
    f->n = n;
    return flood_on(c, f);
}

static const ens_actor_def flooder_def = {
    "sem.Flooder", sizeof(flooder), NULL, flooder_receive, NULL, NULL, NULL, NULL, NULL};

static const ens_actor_def echo_def = {"sem.Echo", 0,    NULL, test_echo_receive, NULL, NULL,
                                       NULL,       NULL, NULL};

/* ---- scenarios ------------------------------------------------------------ */

/* An actor of A calls a gen_server of B: its reply, its error reply with
 * the server's own code and payload, and ENS_EPOISON with the
 * PoisonMessage when handle_call fails twice. */
static void test_call_to_a_gen_server_of_another_system(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr srv = spawn_on(sys_b, &server_def, NULL);
    ens_addr p = spawn_on(sys_a, &probe_def, NULL);
    char at[ENS_ADDR_STRLEN], cmd[128], got[256];
    snprintf(cmd, sizeof(cmd), "call %s ping", addr_text(srv, at));
    assert_int_equal(test_conv_ask_text(sys_a, p, cmd, LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_string_equal(got, "0 pong");
    snprintf(cmd, sizeof(cmd), "call %s fail", at);
    assert_int_equal(test_conv_ask_text(sys_a, p, cmd, LONG_WAIT_MS, got, sizeof(got)), 0);
    snprintf(cmd, sizeof(cmd), "%d refused", REFUSED);
    assert_string_equal(got, cmd);
    snprintf(cmd, sizeof(cmd), "call %s poison", at);
    assert_int_equal(test_conv_ask_text(sys_a, p, cmd, LONG_WAIT_MS, got, sizeof(got)), 0);
    snprintf(cmd, sizeof(cmd), "%d poison poison 2", ENS_EPOISON);
    assert_string_equal(got, cmd);
    /* And from A's outside, as ens_gen_server_call. */
    ens_msg *r = NULL;
    assert_int_equal(ens_gen_server_call(ens_system_ctx(sys_a), srv, &ens_msg_string,
                                         &(ens_string_v){"fail"}, LONG_WAIT_MS, NULL, 0, &r),
                     REFUSED);
    assert_string_equal(string_of(r), "refused");
    ens_msg_free(r);
}

/* A's outside asks X on B; X forwards to Y on C, and to Y on A itself: Y's
 * reply reaches the ask (original sender and correlation kept). */
static void test_forward_across_keeps_the_original_sender(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    char at[ENS_ADDR_STRLEN], got[128];
    ens_addr on_c = spawn_on(sys_c, &echo_def, NULL);
    ens_addr x = spawn_on(sys_b, &forwarder_def, addr_text(on_c, at));
    assert_int_equal(test_conv_ask_text(sys_a, x, "via B to C", LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_string_equal(got, "via B to C");
    ens_addr on_a = spawn_on(sys_a, &echo_def, NULL);
    ens_addr back = spawn_on(sys_b, &forwarder_def, addr_text(on_a, at));
    assert_int_equal(
        test_conv_ask_text(sys_a, back, "via B back to A", LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_string_equal(got, "via B back to A");
}

/* A handler of B fails twice on a message from A: an ask from A's outside
 * completes with ENS_EPOISON and the PoisonMessage; a tell from an actor of
 * A brings the PoisonMessage to that actor. */
static void test_poison_goes_back_to_a_sender_on_another_system(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr srv = spawn_on(sys_b, &server_def, NULL);
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(sys_a), srv, &ens_msg_string, &(ens_string_v){"poison"},
                             LONG_WAIT_MS, &r),
                     ENS_EPOISON);
    assert_non_null(r);
    const ens_poison_v *pv = ens_msg_value(r, &ens_msg_poison);
    assert_non_null(pv);
    assert_true(ens_addr_equal(pv->target, srv));
    assert_int_equal(pv->attempts, 2);
    assert_string_equal(string_of(ens_poison_original(r)), "poison");
    ens_msg_free(r);

    ens_addr p = spawn_on(sys_a, &probe_def, NULL);
    char at[ENS_ADDR_STRLEN], cmd[128], log[4096];
    snprintf(cmd, sizeof(cmd), "tell %s poison", addr_text(srv, at));
    assert_int_equal(test_conv_ask_text(sys_a, p, cmd, LONG_WAIT_MS, log, sizeof(log)), 0);
    assert_string_equal(log, "ok");
    snprintf(cmd, sizeof(cmd), "poison(poison,%d,2)", ENS_EINVAL);
    if (!wait_note(sys_a, p, cmd, LONG_WAIT_MS, log, sizeof(log)))
        fail_msg("no PoisonMessage reached the probe of A: \"%s\"", log);
}

/* An actor of A sends an exit request to an actor of B: it ends in order
 * (its terminate tells A's probe so, with ENS_EXIT_SHUTDOWN). Afterwards
 * its address is dead: an ask from A gets ENS_ENOACTOR across, and a tell
 * reaches B's dead-letter handler as a DeadEnvelope. */
static void test_exit_request_across_then_dead_letters_for_the_dead_target(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    char at[ENS_ADDR_STRLEN], cmd[128], log[4096];
    ens_addr p = spawn_on(sys_a, &probe_def, NULL);
    ens_addr sink = spawn_on(sys_b, &probe_def, "dead letters");
    ens_addr e = spawn_on(sys_b, &ender_def, addr_text(p, at));
    test_expect_echo(ens_system_ctx(sys_a), e, "alive", LONG_WAIT_MS);
    snprintf(cmd, sizeof(cmd), "exit %s", addr_text(e, at));
    assert_int_equal(test_conv_ask_text(sys_a, p, cmd, LONG_WAIT_MS, log, sizeof(log)), 0);
    assert_string_equal(log, "ok");
    snprintf(cmd, sizeof(cmd), "msg(terminated %d)", ENS_EXIT_SHUTDOWN);
    if (!wait_note(sys_a, p, cmd, LONG_WAIT_MS, log, sizeof(log)))
        fail_msg("the actor of B did not end in order: \"%s\"", log);

    /* Its end reached A through its terminate, so the admin of B knows it
     * gone: an ask now is answered by B's admin. */
    assert_int_equal(test_conv_ask_text(sys_a, e, "anyone?", LONG_WAIT_MS, log, sizeof(log)),
                     ENS_ENOACTOR);
    assert_int_equal(
        ens_send(ens_system_ctx(sys_a), e, &ens_msg_string, &(ens_string_v){"a late tell"}), 0);
    char want[128];
    snprintf(want, sizeof(want), "dead(%s,a late tell)", at);
    if (!wait_note(sys_b, sink, want, LONG_WAIT_MS, log, sizeof(log)))
        fail_msg("the tell did not reach B's dead-letter handler: \"%s\"", log);
    snprintf(want, sizeof(want), "dead(%s,anyone?)", at);
    assert_non_null(strstr(log, want));
}

/* An actor of B with wake-ups talks with A between them: each wake-up comes,
 * in order, and each request to A's probe is answered before the next. */
static void test_wakeups_of_an_actor_that_talks_with_another_system(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    char at[ENS_ADDR_STRLEN], got[512];
    ens_addr p = spawn_on(sys_a, &probe_def, NULL);
    ens_addr t = spawn_on(sys_b, &ticker_def, addr_text(p, at));
    assert_int_equal(test_conv_ask_text(sys_a, t, "start 5", LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_string_equal(got, "w1 tock 1 w2 tock 2 w3 tock 3 w4 tock 4 w5 tock 5");
}

/* 100 000 int64 tells from an actor of A to one of B arrive complete and
 * in order. */
static void test_a_hundred_thousand_tells_between_actors_arrive_in_order(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    char at[ENS_ADDR_STRLEN], cmd[96], got[64], want[64];
    ens_addr k = spawn_on(sys_b, &counter_def, NULL);
    ens_addr f = spawn_on(sys_a, &flooder_def, NULL);
    snprintf(cmd, sizeof(cmd), "%s %d", addr_text(k, at), FLOOD);
    snprintf(want, sizeof(want), "sent %d", FLOOD);
    assert_int_equal(test_conv_ask_text(sys_a, f, cmd, LONG_WAIT_MS, got, sizeof(got)), 0);
    assert_string_equal(got, want);
    snprintf(want, sizeof(want), "%d 0", FLOOD);
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    while (!test_deadline_passed(d)) {
        assert_int_equal(test_conv_ask_text(sys_b, k, "?", LONG_WAIT_MS, got, sizeof(got)), 0);
        long long next = 0, bad = 0;
        assert_int_equal(sscanf(got, "%lld %lld", &next, &bad), 2);
        if (next >= FLOOD || bad != 0)
            break;
        ens_system_run(sys_b, 100);
    }
    assert_string_equal(got, want);
}

/* ---- routing that follows membership ------------------------------------ */

/* Wait until the probe on s (subscribed) noted `what` of node. */
static void expect_member_change(ens_system *s, ens_addr watcher, const char *what, uint32_t node)
{
    char needle[48], log[4096];
    snprintf(needle, sizeof(needle), "%s %u;", what, (unsigned)node);
    if (!wait_note(s, watcher, needle, LONG_WAIT_MS, log, sizeof(log)))
        fail_msg("no \"%s\" seen: \"%s\"", needle, log);
}

/* B stops in order after A talked with it (A's gateway knows its node):
 * once A has seen B leave, a tell and an ask to B's old actor are dead
 * letters "node gone" (the ask answers ENS_ENOACTOR at once, no hang), one
 * row each. A restarted B is a new node; the old one stays gone. */
static void test_a_node_that_left_gets_dead_letters_node_gone(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr watcher = spawn_on(sys_a, &probe_def, "subscribe");
    ens_addr echo = spawn_on(sys_b, &echo_def, NULL);
    uint32_t old_node = echo.node;
    test_expect_echo(ens_system_ctx(sys_a), echo, "before", LONG_WAIT_MS);
    expect_member_change(sys_a, watcher, "joined", old_node);
    ens_system_stop(sys_b, 5000);
    sys_b = NULL;
    expect_member_change(sys_a, watcher, "left", old_node);

    int rows = seen_a.dead_letters;
    char got[256];
    assert_int_equal(test_conv_ask_text(sys_a, echo, "after", LONG_WAIT_MS, got, sizeof(got)),
                     ENS_ENOACTOR);
    assert_non_null(strstr(got, "node gone"));
    assert_non_null(strstr(got, "left the convention"));
    assert_int_equal(
        ens_send(ens_system_ctx(sys_a), echo, &ens_msg_string, &(ens_string_v){"a tell"}), 0);
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    while (seen_a.dead_letters < rows + 2 && !test_deadline_passed(d))
        ens_system_run(sys_a, 50);
    assert_int_equal(seen_a.dead_letters, rows + 2);
    assert_non_null(strstr(seen_a.last_dead, "node gone"));

    /* B again: a fresh node, reachable; the old node stays gone. */
    sys_b = test_conv_start_seen(&seen_b, 0, 0);
    ens_addr echo2 = spawn_on(sys_b, &echo_def, NULL);
    assert_int_not_equal(echo2.node, old_node);
    test_expect_echo(ens_system_ctx(sys_a), echo2, "the new B", LONG_WAIT_MS);
    assert_int_equal(test_conv_ask_text(sys_a, echo, "old B?", LONG_WAIT_MS, got, sizeof(got)),
                     ENS_ENOACTOR);
    assert_non_null(strstr(got, "node gone"));
}

/* B's gateway is frozen (SIGSTOP): its heartbeats stop and A sees B
 * unreachable; messages to B are then dead letters "node gone" (as Erlang
 * drops messages to a disconnected node, but visible: an ask answers
 * ENS_ENOACTOR at once instead of timing out). Once B's gateway runs again
 * and A sees it joined, messages cross again. */
static void test_an_unreachable_node_gets_dead_letters_until_it_is_back(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    ens_addr watcher = spawn_on(sys_a, &probe_def, "subscribe");
    ens_addr echo = spawn_on(sys_b, &echo_def, NULL);
    test_expect_echo(ens_system_ctx(sys_a), echo, "before", LONG_WAIT_MS);
    /* A must know B as a member first (the echo crossed on the ping rule,
     * which does not wait for B's record). */
    expect_member_change(sys_a, watcher, "joined", echo.node);
    pid_t gw = test_conv_gateway_pid(ens_system_options(sys_b)->name);
    assert_true(gw > 0);
    stopped_pid = gw;
    assert_int_equal(kill(gw, SIGSTOP), 0);
    expect_member_change(sys_a, watcher, "unreachable", echo.node);
    char got[256];
    assert_int_equal(test_conv_ask_text(sys_a, echo, "while away", LONG_WAIT_MS, got, sizeof(got)),
                     ENS_ENOACTOR);
    assert_non_null(strstr(got, "node gone"));
    assert_non_null(strstr(got, "unreachable"));
    assert_int_equal(kill(gw, SIGCONT), 0);
    stopped_pid = 0;
    /* Back: the watcher's log has "joined" after "unreachable". */
    char log[4096], needle[48];
    snprintf(needle, sizeof(needle), "unreachable %u;", (unsigned)echo.node);
    test_deadline d = test_deadline_in(LONG_WAIT_MS);
    for (;;) {
        assert_int_equal(test_conv_ask_text(sys_a, watcher, "log?", TEST_WAIT_MS, log, sizeof(log)),
                         0);
        const char *u = strstr(log, needle);
        char back[48];
        snprintf(back, sizeof(back), "joined %u;", (unsigned)echo.node);
        if (u != NULL && strstr(u, back) != NULL)
            break;
        if (test_deadline_passed(d))
            fail_msg("B was not seen back: \"%s\"", log);
        ens_system_run(sys_a, 50);
    }
    test_expect_echo(ens_system_ctx(sys_a), echo, "back again", LONG_WAIT_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_to_a_gen_server_of_another_system, three_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forward_across_keeps_the_original_sender, three_setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_poison_goes_back_to_a_sender_on_another_system,
                                        three_setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_exit_request_across_then_dead_letters_for_the_dead_target, three_setup, teardown),
        cmocka_unit_test_setup_teardown(test_wakeups_of_an_actor_that_talks_with_another_system,
                                        three_setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_hundred_thousand_tells_between_actors_arrive_in_order, three_setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_node_that_left_gets_dead_letters_node_gone,
                                        two_setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_unreachable_node_gets_dead_letters_until_it_is_back,
                                        two_fast_setup, teardown),
    };
    if (getenv("ENS_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("ENS_TEST_FILTER"));
    return cmocka_run_group_tests(tests, test_conv_group_setup, test_conv_group_teardown);
}

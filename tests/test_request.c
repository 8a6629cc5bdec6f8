/*
 * tests/test_request.c - requests from inside an actor (ens_request,
 * ens_call), their completions, error replies, casts, deferred replies and
 * the restart notice, on every base.
 *
 * The requester actor A turns text commands from the outside into requests
 * to the server actor B and reports each completion to the outside as a
 * Report {tag, status, text}; every other message A handles is reported too,
 * so the test sees the order in which A handled things.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support/scenario.h"

typedef struct report_v {
    int32_t tag;
    int32_t status;
    char *text;
} report_v;
static ens_msgtype report_t = {"rq.Report", "S(iis)", sizeof(report_v), 0, 0, NULL};

typedef struct addr_v {
    ens_addr who;
} addr_v;
static ens_msgtype addr_t = {"rq.Addr", "S(" ENS_ADDR_FMT ")", sizeof(addr_v), 0, 0, NULL};

enum { TAG_DONE = 1, TAG_SEEN = 2, TAG_CAST = 3, TAG_INFO = 4 };

static void report(ens_ctx *c, ens_addr to, int32_t tag, int32_t status, const char *text)
{
    report_v r = {tag, status, (char *)text};
    ens_send(c, to, &report_t, &r);
}

/* ---- B: the server ---------------------------------------------------- */

typedef struct server_state {
    ens_from parked; /* a request answered later */
    ens_addr outside;
} server_state;

static int server_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    server_state *st = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "noreply") == 0) {
        /* Kept (so not answered ENS_ENOREPLY) and never answered: the
         * requester's timeout ends it. */
        (void)ens_from_current(c);
        return 0;
    }
    if (strcmp(s->text, "fail") == 0)
        return -5;
    if (strcmp(s->text, "err") == 0)
        return ens_reply_error(c, -42, &ens_msg_string, &(ens_string_v){"nope"});
    if (strcmp(s->text, "park") == 0) {
        st->parked = ens_from_current(c);
        report(c, st->outside, TAG_SEEN, 0, "parked");
        return 0;
    }
    if (strcmp(s->text, "hello") == 0) { /* from the outside: remember it */
        st->outside = ens_sender(c);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){"hi"});
    }
    if (strcmp(s->text, "release") == 0) {
        /* A message to the caller first, on the same pair as the reply:
         * it must still be handled after the call's completion. */
        ens_send(c, st->parked.to, &ens_msg_string, &(ens_string_v){"m1"});
        int rc = ens_reply_to(c, st->parked, 0, &ens_msg_string, &(ens_string_v){"answer"});
        st->parked.to = ENS_ADDR_NONE;
        return rc;
    }
    char buf[128];
    snprintf(buf, sizeof(buf), "echo:%s%s", s->text, ens_msg_is_cast(m) ? ":cast" : "");
    if (ens_msg_is_request(m))
        return ens_reply(c, &ens_msg_string, &(ens_string_v){buf});
    return ens_send(c, ens_sender(c), &ens_msg_string, &(ens_string_v){buf});
}

static const ens_actor_def server_def = {
    "rq.Server", sizeof(server_state), NULL, server_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- A: the requester ------------------------------------------------- */

typedef struct req_state {
    ens_addr server;
    ens_addr outside;
} req_state;

static void on_done(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    req_state *st = state;
    (void)tag;
    const ens_string_v *s = reply != NULL ? ens_msg_value(reply, &ens_msg_string) : NULL;
    const char *text = s != NULL ? s->text : "";
    if (reply != NULL && ens_msg_value(reply, &ens_msg_poison) != NULL)
        text = "poison";
    report(c, st->outside, TAG_DONE, status, text);
}

static int req_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    req_state *st = state;
    const addr_v *a = ens_msg_value(arg, &addr_t);
    if (a == NULL)
        return ENS_EINVAL;
    st->server = a->who;
    return 0;
}

static int req_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    req_state *st = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL) {
        if (ens_msg_is_system(m))
            report(c, st->outside, TAG_INFO, 0, ens_msg_type(m)->name);
        return 0;
    }
    if (strncmp(s->text, "req:", 4) == 0 || strncmp(s->text, "call:", 5) == 0 ||
        strncmp(s->text, "dead:", 5) == 0) {
        st->outside = ens_sender(c);
        bool call = s->text[0] == 'c';
        const char *what = strchr(s->text, ':') + 1;
        ens_addr to = st->server;
        if (s->text[0] == 'd')
            to = (ens_addr){999999, to.node, 0}; /* nobody lives there */
        uint32_t timeout = strcmp(what, "noreply") == 0 ? 100 : 0;
        ens_string_v v = {(char *)what};
        int rc = call ? ens_call(c, to, &ens_msg_string, &v, timeout, on_done, 7)
                      : ens_request(c, to, &ens_msg_string, &v, timeout, on_done, 7);
        if (rc < 0)
            report(c, st->outside, TAG_DONE, rc, "not sent");
        return 0;
    }
    if (strncmp(s->text, "cast:", 5) == 0) {
        st->outside = ens_sender(c);
        return ens_cast(c, st->server, &ens_msg_string, &(ens_string_v){s->text + 5});
    }
    report(c, st->outside, TAG_SEEN, 0, s->text);
    return 0;
}

static const ens_actor_def req_def = {
    "rq.Requester", sizeof(req_state), req_init, req_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- helpers ---------------------------------------------------------- */

typedef struct pair {
    ens_addr a, b;
} pair;

static pair start_pair(scn *t)
{
    scn_start(t, NULL);
    pair p;
    assert_int_equal(ens_spawn(t->out, &server_def, NULL, NULL, &p.b), 0);
    ens_msg *hi = NULL;
    assert_int_equal(
        ens_ask(t->out, p.b, &ens_msg_string, &(ens_string_v){"hello"}, SCN_WAIT_MS, &hi), 0);
    ens_msg_free(hi);
    addr_v arg = {p.b};
    assert_int_equal(ens_spawn(t->out, &req_def, &addr_t, &arg, &p.a), 0);
    return p;
}

static void tell(scn *t, ens_addr to, const char *text)
{
    assert_int_equal(ens_send(t->out, to, &ens_msg_string, &(ens_string_v){(char *)text}), 0);
}

/* The next report (owned text copied into buf). */
static report_v next_report(scn *t, char *buf, size_t len)
{
    ens_msg *m = scn_listen_type(t, &report_t, SCN_WAIT_MS);
    report_v r = *(const report_v *)ens_msg_value(m, &report_t);
    snprintf(buf, len, "%s", r.text);
    r.text = buf;
    ens_msg_free(m);
    return r;
}

static void expect(scn *t, int32_t tag, int32_t status, const char *text)
{
    char buf[128];
    report_v r = next_report(t, buf, sizeof(buf));
    if (r.tag != tag || r.status != status || strcmp(r.text, text) != 0)
        fail_msg("expected {%d, %d, %s}, got {%d, %d (%s), %s}", tag, status, text, r.tag, r.status,
                 ens_err_name(r.status), r.text);
}

/* ---- tests ------------------------------------------------------------ */

static void test_request_reply(void **state)
{
    scn *t = *state;
    pair p = start_pair(t);
    tell(t, p.a, "req:ping");
    expect(t, TAG_DONE, 0, "echo:ping");
    tell(t, p.a, "call:pong");
    expect(t, TAG_DONE, 0, "echo:pong");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_request_errors(void **state)
{
    scn *t = *state;
    pair p = start_pair(t);
    tell(t, p.a, "req:err");
    expect(t, TAG_DONE, -42, "nope");
    tell(t, p.a, "req:fail");
    expect(t, TAG_DONE, ENS_EPOISON, "poison");
    tell(t, p.a, "dead:x");
    char buf[128];
    report_v r = next_report(t, buf, sizeof(buf));
    assert_int_equal(r.tag, TAG_DONE);
    assert_int_equal(r.status, ENS_ENOACTOR);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_request_timeout_late_reply_dropped(void **state)
{
    scn *t = *state;
    pair p = start_pair(t);
    /* B parks the request and answers only when told: after the timeout. */
    tell(t, p.a, "req:park");
    expect(t, TAG_SEEN, 0, "parked");
    tell(t, p.a, "req:noreply"); /* 100 ms timeout; B never answers it */
    expect(t, TAG_DONE, ENS_ETIMEDOUT, "");
    /* The parked request has the default timeout (5 s): answer it now. */
    tell(t, p.b, "release");
    expect(t, TAG_SEEN, 0, "m1");
    expect(t, TAG_DONE, 0, "answer");
    /* A late reply: a request that timed out, answered afterwards, must not
     * reach receive (it would be reported as SEEN). */
    tell(t, p.a, "req:park");
    expect(t, TAG_SEEN, 0, "parked");
    tell(t, p.a, "req:noreply");
    expect(t, TAG_DONE, ENS_ETIMEDOUT, "");
    tell(t, p.a, "marker");
    expect(t, TAG_SEEN, 0, "marker");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_call_holds_other_messages(void **state)
{
    scn *t = *state;
    pair p = start_pair(t);
    tell(t, p.a, "call:park");
    expect(t, TAG_SEEN, 0, "parked");
    /* While the call waits, A must handle nothing: m0 waits, and so does
     * m1, which B sends just before its reply. */
    tell(t, p.a, "m0");
    tell(t, p.b, "release");
    expect(t, TAG_DONE, 0, "answer");
    char buf[2][128];
    report_v r1 = next_report(t, buf[0], sizeof(buf[0]));
    report_v r2 = next_report(t, buf[1], sizeof(buf[1]));
    assert_int_equal(r1.tag, TAG_SEEN);
    assert_int_equal(r2.tag, TAG_SEEN);
    /* m0 and m1 come from different senders: either order, both after. */
    assert_true((strcmp(r1.text, "m0") == 0 && strcmp(r2.text, "m1") == 0) ||
                (strcmp(r1.text, "m1") == 0 && strcmp(r2.text, "m0") == 0));
    /* And a request (not a call) does not hold: m1 comes before "answer". */
    tell(t, p.a, "req:park");
    expect(t, TAG_SEEN, 0, "parked");
    tell(t, p.b, "release");
    expect(t, TAG_SEEN, 0, "m1");
    expect(t, TAG_DONE, 0, "answer");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_cast_is_marked(void **state)
{
    scn *t = *state;
    pair p = start_pair(t);
    tell(t, p.a, "cast:c1");
    expect(t, TAG_SEEN, 0, "echo:c1:cast");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_held_exit_request_waits(void **state)
{
    scn *t = *state;
    pair p = start_pair(t);
    tell(t, p.a, "call:park");
    expect(t, TAG_SEEN, 0, "parked");
    /* An exit request during the call is held too: A still completes. */
    assert_int_equal(ens_exit_request(t->out, p.a), 0);
    tell(t, p.b, "release");
    expect(t, TAG_DONE, 0, "answer");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_api_errors(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr x = {20, 0, 0};
    /* Outside an actor there is nothing to call back. */
    assert_int_equal(ens_request(t->out, x, &ens_msg_string, &(ens_string_v){"a"}, 0, on_done, 0),
                     ENS_EINVAL);
    assert_int_equal(ens_call(t->out, x, &ens_msg_string, &(ens_string_v){"a"}, 0, on_done, 0),
                     ENS_EINVAL);
    assert_false(ens_in_actor(t->out));
    assert_int_equal(ens_reply_error(t->out, -1, NULL, NULL), ENS_EINVAL);
    ens_from none = {ENS_ADDR_NONE, 0};
    assert_int_equal(ens_reply_to(t->out, none, 0, &ens_msg_string, &(ens_string_v){"a"}),
                     ENS_EINVAL);
    assert_int_equal(ens_cast(t->out, ENS_ADDR_NONE, &ens_msg_string, &(ens_string_v){"a"}),
                     ENS_EINVAL);
    ens_addr out;
    assert_int_equal(ens_spawn_flags(t->out, &server_def, NULL, NULL, 1u << 9, &out), ENS_EINVAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- the restart notice (process base only) ----------------------------- */

static int *volatile opaque_null;

static int crashy_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s != NULL && strcmp(s->text, "crash") == 0 && ens_msg_attempt(m) == 1)
        *opaque_null = 1;
    return 0;
}

static const ens_actor_def crashy_def = {"rq.Crashy", 0,    NULL, crashy_receive, NULL, NULL,
                                         NULL,        NULL, NULL};

typedef struct parent_state {
    ens_addr child, outside;
} parent_state;

static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent_state *st = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s != NULL && strncmp(s->text, "spawn", 5) == 0) {
        st->outside = ens_sender(c);
        uint32_t flags = strcmp(s->text, "spawn-norestart") == 0 ? ENS_SPAWN_NO_RESTART : 0;
        int rc = ens_spawn_flags(c, &crashy_def, NULL, NULL, flags, &st->child);
        if (rc == 0)
            rc = ens_send(c, st->child, &ens_msg_string, &(ens_string_v){"crash"});
        if (rc < 0)
            report(c, st->outside, TAG_INFO, rc, "spawn failed");
        return 0;
    }
    const ens_child_restarted_v *cr = ens_msg_value(m, &ens_msg_child_restarted);
    if (cr != NULL) {
        char buf[64];
        snprintf(buf, sizeof(buf), "restarted %u %d", cr->incarnation, cr->redelivering);
        report(c, st->outside, TAG_INFO, cr->signal, buf);
    }
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL) {
        char buf[64];
        snprintf(buf, sizeof(buf), "exited %d", ce->reason);
        report(c, st->outside, TAG_INFO, ce->signal, buf);
    }
    return 0;
}

static const ens_actor_def parent_def = {
    "rq.Parent", sizeof(parent_state), NULL, parent_receive, NULL, NULL, NULL, NULL, NULL};

static void test_restart_notice(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip();
    scn_start(t, NULL);
    ens_addr p;
    assert_int_equal(ens_spawn(t->out, &parent_def, NULL, NULL, &p), 0);
    /* The signal is SIGSEGV, or 0 under ASan, whose handler turns the
     * fault into an exit. */
    char buf[128], want[32];
    tell(t, p, "spawn");
    report_v r = next_report(t, buf, sizeof(buf));
    assert_int_equal(r.tag, TAG_INFO);
    assert_string_equal(r.text, "restarted 2 1");
    assert_true(r.status == SIGSEGV || r.status == 0);
    tell(t, p, "spawn-norestart");
    r = next_report(t, buf, sizeof(buf));
    snprintf(want, sizeof(want), "exited %d", ENS_EXIT_CRASH);
    assert_int_equal(r.tag, TAG_INFO);
    assert_string_equal(r.text, want);
    assert_true(r.status == SIGSEGV || r.status == 0);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_request_reply),
    SCN_TEST(test_request_errors),
    SCN_TEST(test_request_timeout_late_reply_dropped),
    SCN_TEST(test_call_holds_other_messages),
    SCN_TEST(test_cast_is_marked),
    SCN_TEST(test_held_exit_request_waits),
    SCN_TEST(test_api_errors),
    SCN_TEST(test_restart_notice),
};

int main(void)
{
    ens_msgtype *types[] = {&report_t, &addr_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (ens_msgtype_register(types[i]) != 0)
            return 1;
    }
    return scn_run_bases("request", tests, sizeof(tests) / sizeof(tests[0]));
}

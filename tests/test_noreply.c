/*
 * tests/test_noreply.c - a request whose handler returns without replying,
 * forwarding or keeping its ens_from is answered ENS_ENOREPLY at once, on
 * every base: from the outside (ens_ask, ens_gen_server_call, with
 * ens_errmsg naming both types), from an actor (ens_request, ens_call),
 * after a forward (the new target owes it), after a retry and after a
 * crash's redelivery; a kept ens_from (by hand or in a gen_server's
 * handle_call), an error (retry, then poison) and a plain send are not
 * answered so. Every wait is generous (SCN_WAIT_MS): the tests assert the
 * code, never the time it took.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/deadline.h"
#include "support/scenario.h"

typedef struct ping_v {
    char *text;
} ping_v;
static ens_msgtype ping_t = {"nr.Ping", "S(s)", sizeof(ping_v), 0, 0, NULL};

typedef struct addr_v {
    ens_addr who;
} addr_v;
static ens_msgtype addr_t = {"nr.Addr", "S(" ENS_ADDR_FMT ")", sizeof(addr_v), 0, 0, NULL};

/* ---- the echo (and the sink it forwards to): one receive, two types ---- */

typedef struct echo_state {
    ens_addr next; /* where fwd:... goes */
    ens_from kept;
} echo_state;

static int echo_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    echo_state *st = state;
    const addr_v *a = arg != NULL ? ens_msg_value(arg, &addr_t) : NULL;
    st->next = a != NULL ? a->who : ENS_ADDR_NONE;
    return 0;
}

static int echo_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    echo_state *st = state;
    if (ens_msg_value(m, &ens_msg_wakeup) != NULL) { /* the kept request's turn */
        ens_from f = st->kept;
        st->kept.to = ENS_ADDR_NONE;
        return ens_reply_to(c, f, 0, &ens_msg_string, &(ens_string_v){"late"});
    }
    const ping_v *p = ens_msg_value(m, &ping_t);
    if (p == NULL)
        return 0;
    const char *cmd = p->text;
    if (strncmp(cmd, "fwd:", 4) == 0) {
        if (!ens_addr_is_none(st->next))
            return ens_forward(c, st->next, m);
        cmd += 4; /* the sink: the rest is its command */
    }
    if (strcmp(cmd, "silent") == 0)
        return 0;
    if (strcmp(cmd, "reply") == 0)
        return ens_reply(c, &ens_msg_string, &(ens_string_v){(char *)ens_self_def(c)->name});
    if (strcmp(cmd, "keep") == 0) { /* answered later, from a wake-up */
        st->kept = ens_from_current(c);
        return ens_wakeup_after(c, 1, 0, NULL);
    }
    if (strcmp(cmd, "fail") == 0)
        return -5;
    if (strcmp(cmd, "failonce") == 0) /* the retry succeeds, silently */
        return ens_msg_attempt(m) == 1 ? -5 : 0;
    if (strcmp(cmd, "crashonce") == 0) { /* process base: redelivered at attempt 2 */
        if (ens_msg_attempt(m) == 1)
            raise(SIGKILL);
        return 0;
    }
    return 0;
}

static const ens_actor_def echo_def = {
    "nr.Echo", sizeof(echo_state), echo_init, echo_receive, NULL, NULL, NULL, NULL, NULL};
static const ens_actor_def sink_def = {
    "nr.Sink", sizeof(echo_state), echo_init, echo_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- the asker: turns "req:CMD" / "call:CMD" into a request to the echo,
 * and answers the outside's ask with the completion's status ------------- */

typedef struct asker_state {
    ens_addr echo;
    ens_from outer;
} asker_state;

static void asked_done(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    (void)reply;
    (void)tag;
    asker_state *st = state;
    ens_int64_v v = {status};
    (void)ens_reply_to(c, st->outer, 0, &ens_msg_int64, &v);
}

static int asker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    asker_state *st = state;
    const ping_v *p = ens_msg_value(m, &ping_t);
    if (p == NULL)
        return 0;
    bool call = strncmp(p->text, "call:", 5) == 0;
    const char *cmd = strchr(p->text, ':');
    if (cmd == NULL)
        return 0;
    st->outer = ens_from_current(c);
    ping_v v = {(char *)cmd + 1};
    int rc = call ? ens_call(c, st->echo, &ping_t, &v, SCN_WAIT_MS, asked_done, 0)
                  : ens_request(c, st->echo, &ping_t, &v, SCN_WAIT_MS, asked_done, 0);
    if (rc < 0)
        return ens_reply_to(c, st->outer, 0, &ens_msg_int64, &(ens_int64_v){rc});
    return 0;
}

static int asker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    asker_state *st = state;
    const addr_v *a = ens_msg_value(arg, &addr_t);
    if (a == NULL)
        return ENS_EINVAL;
    st->echo = a->who;
    return 0;
}

static const ens_actor_def asker_def = {
    "nr.Asker", sizeof(asker_state), asker_init, asker_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- a gen_server whose handle_call keeps its from and replies later ---- */

typedef struct gs_state {
    ens_from held;
} gs_state;

static int gs_call(ens_ctx *c, void *state, const ens_msg *req, ens_from from)
{
    (void)req;
    ((gs_state *)state)->held = from; /* no reply now: OTP's noreply */
    return ens_wakeup_after(c, 1, 0, NULL);
}

static int gs_info(ens_ctx *c, void *state, const ens_msg *m)
{
    gs_state *st = state;
    if (ens_msg_value(m, &ens_msg_wakeup) == NULL || ens_addr_is_none(st->held.to))
        return 0;
    ens_from f = st->held;
    st->held.to = ENS_ADDR_NONE;
    return ens_gen_server_reply(c, f, &ens_msg_string, &(ens_string_v){"gs-late"});
}

static const ens_gen_server_cbs gs_cbs = {.handle_call = gs_call, .handle_info = gs_info};
static const ens_actor_def gs_def = ENS_GEN_SERVER_DEF("nr.Keeper", gs_state, &gs_cbs);

/* ---- helpers ------------------------------------------------------------ */

static int ask_ping(scn *t, ens_addr to, const char *cmd, ens_msg **reply)
{
    ping_v v = {(char *)cmd};
    return ens_ask(t->out, to, &ping_t, &v, SCN_WAIT_MS, reply);
}

static const char *text_of(const ens_msg *m)
{
    const ens_string_v *s = m != NULL ? ens_msg_value(m, &ens_msg_string) : NULL;
    return s != NULL ? s->text : "";
}

static ens_addr spawn_echo(scn *t, const ens_actor_def *d, ens_addr next)
{
    ens_addr a;
    addr_v arg = {next};
    assert_int_equal(ens_spawn(t->out, d, &addr_t, &arg, &a), 0);
    return a;
}

/* ---- tests -------------------------------------------------------------- */

static void test_ask_silent_handler_gets_enoreply(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    ens_msg *r = NULL;
    assert_int_equal(ask_ping(t, e, "silent", &r), ENS_ENOREPLY);
    assert_string_equal(ens_errmsg(), "nr.Echo handled nr.Ping without replying");
    assert_string_equal(ens_err_name(ENS_ENOREPLY), "ENS_ENOREPLY");
    ens_msg_free(r);
    /* The actor lives on and answers what it answers. */
    assert_int_equal(ask_ping(t, e, "reply", &r), 0);
    assert_string_equal(text_of(r), "nr.Echo");
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_kept_from_is_not_enoreply(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    ens_msg *r = NULL;
    assert_int_equal(ask_ping(t, e, "keep", &r), 0);
    assert_string_equal(text_of(r), "late");
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_forward_target_owes_the_answer(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr sink = spawn_echo(t, &sink_def, ENS_ADDR_NONE);
    ens_addr e = spawn_echo(t, &echo_def, sink);
    ens_msg *r = NULL;
    assert_int_equal(ask_ping(t, e, "fwd:reply", &r), 0); /* the forward is no ENOREPLY */
    assert_string_equal(text_of(r), "nr.Sink");
    ens_msg_free(r);
    assert_int_equal(ask_ping(t, e, "fwd:silent", &r), ENS_ENOREPLY);
    assert_string_equal(ens_errmsg(), "nr.Sink handled nr.Ping without replying");
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_errors_keep_retry_and_poison(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    ens_msg *r = NULL;
    assert_int_equal(ask_ping(t, e, "fail", &r), ENS_EPOISON);
    ens_msg_free(r);
    /* Failed once, then handled without a reply on the retry. */
    assert_int_equal(ask_ping(t, e, "failonce", &r), ENS_ENOREPLY);
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_crash_redelivery_then_silent(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip(); /* a crash is a process's own */
    scn_start(t, NULL);
    ens_addr e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    ens_msg *r = NULL;
    assert_int_equal(ask_ping(t, e, "crashonce", &r), ENS_ENOREPLY);
    ens_msg_free(r);
    assert_int_equal(ask_ping(t, e, "reply", &r), 0);
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_send_gets_no_answer(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    assert_int_equal(ens_send(t->out, e, &ping_t, &(ping_v){"silent"}), 0);
    ens_msg *r = NULL;
    /* Handled in order after the send: nothing came back for the send. */
    assert_int_equal(ask_ping(t, e, "reply", &r), 0);
    ens_msg_free(r);
    ens_msg *stray = NULL;
    assert_int_equal(ens_listen(t->out, 0, &stray), ENS_ETIMEDOUT);
    assert_null(stray);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static int64_t asker_status(scn *t, ens_addr asker, const char *cmd)
{
    ens_msg *r = NULL;
    assert_int_equal(ask_ping(t, asker, cmd, &r), 0);
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    int64_t status = v->value;
    ens_msg_free(r);
    return status;
}

static void test_request_and_call_from_an_actor(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    ens_addr a;
    assert_int_equal(ens_spawn(t->out, &asker_def, &addr_t, &(addr_v){e}, &a), 0);
    assert_int_equal(asker_status(t, a, "req:silent"), ENS_ENOREPLY);
    assert_int_equal(asker_status(t, a, "call:silent"), ENS_ENOREPLY);
    assert_int_equal(asker_status(t, a, "req:keep"), 0);
    assert_int_equal(asker_status(t, a, "call:reply"), 0);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_gen_server_keeps_its_from(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr g, e;
    assert_int_equal(ens_spawn(t->out, &gs_def, NULL, NULL, &g), 0);
    e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    ens_msg *r = NULL;
    assert_int_equal(
        ens_gen_server_call(t->out, g, &ping_t, &(ping_v){"x"}, SCN_WAIT_MS, NULL, 0, &r), 0);
    assert_string_equal(text_of(r), "gs-late");
    ens_msg_free(r);
    /* A gen_server call to a handler that does not answer. */
    assert_int_equal(
        ens_gen_server_call(t->out, e, &ping_t, &(ping_v){"silent"}, SCN_WAIT_MS, NULL, 0, &r),
        ENS_ENOREPLY);
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_debug_log_line(void **state)
{
    scn *t = *state;
    char path[] = "/tmp/ens-noreply-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_level = ENS_LOG_DEBUG;
    o.log_path = path;
    scn_start(t, &o);
    ens_addr e = spawn_echo(t, &echo_def, ENS_ADDR_NONE);
    ens_msg *r = NULL;
    assert_int_equal(ask_ping(t, e, "silent", &r), ENS_ENOREPLY);
    ens_msg_free(r);
    /* The process base writes an actor's lines through its admin: poll. */
    bool found = false;
    test_deadline d = test_deadline_in(SCN_WAIT_MS);
    while (!found && !test_deadline_passed(d)) {
        FILE *f = fopen(path, "r");
        char line[1024];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
            found = found || strstr(line, "nr.Echo handled nr.Ping without replying") != NULL;
        if (f != NULL)
            fclose(f);
        if (!found)
            test_nap_ms(10);
    }
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    unlink(path);
    assert_true(found);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_ask_silent_handler_gets_enoreply),
    SCN_TEST(test_kept_from_is_not_enoreply),
    SCN_TEST(test_forward_target_owes_the_answer),
    SCN_TEST(test_errors_keep_retry_and_poison),
    SCN_TEST(test_crash_redelivery_then_silent),
    SCN_TEST(test_send_gets_no_answer),
    SCN_TEST(test_request_and_call_from_an_actor),
    SCN_TEST(test_gen_server_keeps_its_from),
    SCN_TEST(test_debug_log_line),
};

int main(void)
{
    ens_msgtype *types[] = {&ping_t, &addr_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (ens_msgtype_register(types[i]) != 0)
            return 1;
    }
    return scn_run_bases("noreply", tests, sizeof(tests) / sizeof(tests[0]));
}

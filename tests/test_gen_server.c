/*
 * tests/test_gen_server.c - gen_server on every base: calls answered now,
 * later (a kept ens_from) or never (timeout, late reply dropped), calls from
 * inside an actor that hold its other messages in order, casts, info
 * (wake-ups, child exited, exit requests), terminate with its reason, and a
 * failing handle_call that completes its caller with ENS_EPOISON at once.
 *
 * Two gen_servers do the work: `server` (a counter whose commands say how
 * to answer) and `driver`, a client that calls the server from inside an
 * actor and reports what its completions and other messages saw. Handlers
 * never assert: they answer with gs.Report values or send them to the
 * outside, and the test asserts on those. No sleeps: every wait is an ask
 * or a listen with a timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/scenario.h"

/* ---- message types ---------------------------------------------------- */

enum op {
    OP_ADD = 1,  /* call: total += arg, reply total now; cast: total += arg */
    OP_GET,      /* call: reply a report {total, casts, infos, call_attempts} */
    OP_HOLD,     /* call: keep the from, reply later (OP_RELEASE) */
    OP_RELEASE,  /* call: reply arg to the kept from, then ping `who` (if set), reply 0 */
    OP_IGNORE,   /* call: never reply */
    OP_FAIL,     /* call: handle_call returns ENS_EIO (every attempt) */
    OP_WATCH,    /* call: send info/terminate reports to the caller from now on */
    OP_WAKE_KID, /* call: set a wake-up and spawn a child that stops at once */
    OP_STOP,     /* call: reply, then ens_stop(NORMAL) */
    OP_PING,     /* plain send from the server to the driver (after a release) */
    /* driver commands (calls from the test) */
    OP_D_CALL_HELD,    /* ens_gen_server_call(server, HOLD); reply "started" */
    OP_D_CALL_TIMEOUT, /* call(server, HOLD, 100 ms); reply "started" */
    OP_D_CALL_FAIL,    /* call(server, FAIL); reply "started" */
    OP_D_LATER,        /* request HOLD then RELEASE 42; reply when both completed */
};

typedef struct cmd_v {
    int32_t op;
    int64_t arg;
    ens_addr who;
} cmd_v;
static ens_msgtype cmd_t = {"gs.Cmd", "S(iI" ENS_ADDR_FMT ")", sizeof(cmd_v), 0, 0, NULL};

enum tag {
    TAG_STATE = 1,  /* n = total, a = casts, b = infos, c = call attempts (FAIL) */
    TAG_STARTED,    /* driver: its call was made, n = rc */
    TAG_DONE,       /* driver: completion, n = status, a = reply value, b = events seen */
    TAG_LOG,        /* driver: n = count, log = order seen */
    TAG_WAKE,       /* server info: wake-up payload a */
    TAG_KID_EXITED, /* server info: child exited, n = reason */
    TAG_EXIT_SEEN,  /* server info: exit request */
    TAG_TERMINATE,  /* server terminate: n = reason */
    TAG_STRAY,      /* driver: n = stray messages, a = pings */
};

typedef struct report_v {
    int32_t tag;
    int32_t n;
    int64_t a;
    int64_t b;
    int64_t c;
    char *log;
} report_v;
static ens_msgtype report_t = {"gs.Report", "S(iiIIIs)", sizeof(report_v), 0, 0, NULL};

#define CMD(...) (&(cmd_v){__VA_ARGS__})

/* ---- the server ------------------------------------------------------- */

typedef struct server_state {
    int64_t total;
    int64_t casts, infos, fail_attempts;
    ens_from held;
    ens_addr watcher;
} server_state;

static int report_to(ens_ctx *c, ens_addr to, report_v r)
{
    if (ens_addr_is_none(to))
        return 0;
    return ens_send(c, to, &report_t, &r);
}

static int kid_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    (void)arg;
    return ens_stop(c, ENS_EXIT_NORMAL, 0);
}

static int kid_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    (void)m;
    return 0;
}

static const ens_actor_def kid_def = {"gs.Kid", 0,    kid_init, kid_receive, NULL,
                                      NULL,     NULL, NULL,     NULL};

static int server_call(ens_ctx *c, void *state, const ens_msg *req, ens_from from)
{
    server_state *s = state;
    const cmd_v *cmd = ens_msg_value(req, &cmd_t);
    if (cmd == NULL)
        return ens_reply_error(c, ENS_EBADTYPE, NULL, NULL);
    switch (cmd->op) {
    case OP_ADD:
        s->total += cmd->arg;
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){s->total});
    case OP_GET:
        return ens_reply(
            c, &report_t,
            &(report_v){TAG_STATE, (int32_t)s->total, s->casts, s->infos, s->fail_attempts, ""});
    case OP_HOLD:
        s->held = from; /* answered by OP_RELEASE */
        return 0;
    case OP_RELEASE: {
        int rc = ens_gen_server_reply(c, s->held, &ens_msg_int64, &(ens_int64_v){cmd->arg});
        if (!ens_addr_is_none(cmd->who))
            ens_send(c, cmd->who, &cmd_t, CMD(OP_PING, 0, ENS_ADDR_NONE));
        return ens_gen_server_reply(c, from, &ens_msg_int64, &(ens_int64_v){rc});
    }
    case OP_IGNORE:
        return 0;
    case OP_FAIL:
        s->fail_attempts++;
        return ENS_EIO;
    case OP_WATCH:
        s->watcher = from.to;
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){0});
    case OP_WAKE_KID: {
        ens_addr kid;
        int rc = ens_wakeup_after(c, 10, 77, NULL);
        if (rc == 0)
            rc = ens_spawn(c, &kid_def, NULL, NULL, &kid);
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){rc});
    }
    case OP_STOP:
        ens_reply(c, &ens_msg_int64, &(ens_int64_v){0});
        return ens_stop(c, ENS_EXIT_NORMAL, 0);
    }
    return ens_reply_error(c, ENS_EINVAL, NULL, NULL);
}

static int server_cast(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    server_state *s = state;
    const cmd_v *cmd = ens_msg_value(m, &cmd_t);
    s->casts++;
    if (cmd != NULL && cmd->op == OP_ADD)
        s->total += cmd->arg;
    return 0;
}

static int server_info(ens_ctx *c, void *state, const ens_msg *m)
{
    server_state *s = state;
    s->infos++;
    const ens_wakeup_v *w = ens_msg_value(m, &ens_msg_wakeup);
    if (w != NULL)
        return report_to(c, s->watcher, (report_v){TAG_WAKE, 0, (int64_t)w->payload, 0, 0, ""});
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL)
        return report_to(c, s->watcher, (report_v){TAG_KID_EXITED, ce->reason, 0, 0, 0, ""});
    if (ens_msg_value(m, &ens_msg_exit_request) != NULL)
        return report_to(c, s->watcher, (report_v){TAG_EXIT_SEEN, 0, 0, 0, 0, ""});
    return 0;
}

static void server_terminate(ens_ctx *c, void *state, int reason)
{
    server_state *s = state;
    report_to(c, s->watcher, (report_v){TAG_TERMINATE, reason, 0, 0, 0, ""});
}

static const ens_gen_server_cbs server_cbs = {NULL, server_call, server_cast, server_info,
                                              server_terminate};
static const ens_actor_def server_def = ENS_GEN_SERVER_DEF("gs.Server", server_state, &server_cbs);

/* ---- the driver: a gen_server that calls the server ------------------- */

typedef struct driver_state {
    ens_addr server;
    ens_addr outside; /* where completions are reported */
    ens_from asker;   /* OP_D_LATER: the test's call, answered at the end */
    int done;         /* OP_D_LATER completions so far */
    int64_t later[2];
    int64_t strays, pings;
    char log[64];
} driver_state;

static int driver_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    driver_state *d = state;
    const cmd_v *cmd = arg != NULL ? ens_msg_value(arg, &cmd_t) : NULL;
    if (cmd == NULL)
        return ENS_EINVAL;
    d->server = cmd->who;
    return 0;
}

static void log_add(driver_state *d, char ch)
{
    size_t n = strlen(d->log);
    if (n + 1 < sizeof(d->log))
        d->log[n] = ch;
}

/* Completion of the driver's exclusive calls: report to the outside. */
static void driver_done(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    (void)tag;
    driver_state *d = state;
    const ens_int64_v *v = reply != NULL ? ens_msg_value(reply, &ens_msg_int64) : NULL;
    log_add(d, 'R');
    report_to(c, d->outside,
              (report_v){TAG_DONE, status, v != NULL ? v->value : -1,
                         reply != NULL && ens_msg_value(reply, &ens_msg_poison) != NULL, 0, ""});
}

/* Completions of OP_D_LATER's two requests; the test's call is answered
 * once both are in, with the reply values in completion order. */
static void driver_later(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    driver_state *d = state;
    const ens_int64_v *v = reply != NULL ? ens_msg_value(reply, &ens_msg_int64) : NULL;
    int64_t got = status == 0 && v != NULL ? v->value : status;
    if (d->done < 2)
        d->later[d->done++] = (int64_t)tag * 1000 + got;
    if (d->done == 2)
        ens_gen_server_reply(c, d->asker, &report_t,
                             &(report_v){TAG_DONE, 0, d->later[0], d->later[1], 0, ""});
}

static int driver_call(ens_ctx *c, void *state, const ens_msg *req, ens_from from)
{
    driver_state *d = state;
    const cmd_v *cmd = ens_msg_value(req, &cmd_t);
    if (cmd == NULL)
        return ens_reply_error(c, ENS_EBADTYPE, NULL, NULL);
    d->outside = from.to;
    int rc;
    switch (cmd->op) {
    case OP_D_CALL_HELD:
        rc = ens_gen_server_call(c, d->server, &cmd_t, CMD(OP_HOLD, 0, ENS_ADDR_NONE), 30000,
                                 driver_done, 0, NULL);
        break;
    case OP_D_CALL_TIMEOUT:
        rc = ens_gen_server_call(c, d->server, &cmd_t, CMD(OP_HOLD, 0, ENS_ADDR_NONE), 100,
                                 driver_done, 0, NULL);
        break;
    case OP_D_CALL_FAIL:
        rc = ens_gen_server_call(c, d->server, &cmd_t, CMD(OP_FAIL, 0, ENS_ADDR_NONE), 30000,
                                 driver_done, 0, NULL);
        break;
    case OP_D_LATER:
        d->asker = from;
        d->done = 0;
        rc = ens_request(c, d->server, &cmd_t, CMD(OP_HOLD, 0, ENS_ADDR_NONE), 30000, driver_later,
                         1);
        if (rc == 0)
            rc = ens_request(c, d->server, &cmd_t, CMD(OP_RELEASE, 42, ENS_ADDR_NONE), 30000,
                             driver_later, 2);
        return rc < 0 ? ens_reply_error(c, rc, NULL, NULL) : 0; /* answered by driver_later */
    default:
        return ens_reply_error(c, ENS_EINVAL, NULL, NULL);
    }
    return ens_reply(c, &report_t, &(report_v){TAG_STARTED, rc, 0, 0, 0, ""});
}

/* Plain sends: digits go to the log (reported on '.'), a ping from the
 * server reports stray messages; anything else is a stray. */
static int driver_info(ens_ctx *c, void *state, const ens_msg *m)
{
    driver_state *d = state;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    const cmd_v *cmd = ens_msg_value(m, &cmd_t);
    if (v != NULL && v->value >= 0 && v->value <= 9) {
        log_add(d, (char)('0' + v->value));
        return 0;
    }
    if (v != NULL && v->value == -1)
        return report_to(c, d->outside, (report_v){TAG_LOG, 0, 0, 0, 0, d->log});
    if (cmd != NULL && cmd->op == OP_PING) {
        d->pings++;
        return report_to(c, d->outside,
                         (report_v){TAG_STRAY, (int32_t)d->strays, d->pings, 0, 0, ""});
    }
    if (!ens_msg_is_system(m))
        d->strays++;
    return 0;
}

static int driver_cast(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)m;
    ((driver_state *)state)->strays++;
    return 0;
}

static const ens_gen_server_cbs driver_cbs = {driver_init, driver_call, driver_cast, driver_info,
                                              NULL};
static const ens_actor_def driver_def = ENS_GEN_SERVER_DEF("gs.Driver", driver_state, &driver_cbs);

/* ---- test helpers ------------------------------------------------------ */

static ens_addr spawn_server(scn *t)
{
    ens_addr a = ENS_ADDR_NONE;
    int rc = ens_spawn(t->out, &server_def, NULL, NULL, &a);
    if (rc != 0)
        fail_msg("spawning the server: %s", ens_err_name(rc));
    return a;
}

static ens_addr spawn_driver(scn *t, ens_addr server)
{
    ens_addr a = ENS_ADDR_NONE;
    int rc = ens_spawn(t->out, &driver_def, &cmd_t, CMD(0, 0, server), &a);
    if (rc != 0)
        fail_msg("spawning the driver: %s", ens_err_name(rc));
    return a;
}

/* Call with ens_gen_server_call from outside; returns rc, reply in *r. */
static int call(scn *t, ens_addr to, int32_t op, int64_t arg, ens_addr who, uint32_t timeout_ms,
                ens_msg **r)
{
    *r = NULL;
    return ens_gen_server_call(t->out, to, &cmd_t, CMD(op, arg, who), timeout_ms, NULL, 0, r);
}

static int64_t call_int(scn *t, ens_addr to, int32_t op, int64_t arg, ens_addr who)
{
    ens_msg *r = NULL;
    int rc = call(t, to, op, arg, who, SCN_WAIT_MS, &r);
    if (rc != 0) {
        ens_msg_free(r);
        fail_msg("call op %d: %s", (int)op, ens_err_name(rc));
    }
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    if (v == NULL) {
        ens_msg_free(r);
        fail_msg("call op %d: reply is not an Int64", (int)op);
    }
    int64_t out = v->value;
    ens_msg_free(r);
    return out;
}

static report_v call_report(scn *t, ens_addr to, int32_t op, int64_t arg)
{
    ens_msg *r = NULL;
    int rc = call(t, to, op, arg, ENS_ADDR_NONE, SCN_WAIT_MS, &r);
    if (rc != 0) {
        ens_msg_free(r);
        fail_msg("call op %d: %s", (int)op, ens_err_name(rc));
    }
    const report_v *v = ens_msg_value(r, &report_t);
    if (v == NULL) {
        ens_msg_free(r);
        fail_msg("call op %d: reply is not a report", (int)op);
    }
    report_v out = *v;
    out.log = NULL; /* owned by r */
    ens_msg_free(r);
    return out;
}

/* The next report sent to the outside; its log copied into log (may be NULL). */
static report_v listen_report(scn *t, char *log, size_t len)
{
    ens_msg *m = scn_listen_type(t, &report_t, SCN_WAIT_MS);
    report_v r = *(const report_v *)ens_msg_value(m, &report_t);
    if (log != NULL)
        snprintf(log, len, "%s", r.log != NULL ? r.log : "");
    r.log = NULL;
    ens_msg_free(m);
    return r;
}

static void assert_listen_quiet(scn *t, uint32_t timeout_ms)
{
    ens_msg *m = NULL;
    int rc = ens_listen(t->out, timeout_ms, &m);
    ens_msg_free(m);
    assert_int_equal(rc, ENS_ETIMEDOUT);
}

static void tell_int(scn *t, ens_addr to, int64_t v)
{
    assert_int_equal(ens_send(t->out, to, &ens_msg_int64, &(ens_int64_v){v}), 0);
}

/* ---- tests -------------------------------------------------------------- */

/* handle_call answering at once; the value is the server's state. */
static void test_call_reply_now(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    assert_int_equal(call_int(t, s, OP_ADD, 5, ENS_ADDR_NONE), 5);
    assert_int_equal(call_int(t, s, OP_ADD, 3, ENS_ADDR_NONE), 8);

    /* The outside form wants *reply and no callback, and the reverse is refused. */
    ens_msg *r = NULL;
    assert_int_equal(
        ens_gen_server_call(t->out, s, &cmd_t, CMD(OP_GET, 0, ENS_ADDR_NONE), 1000, NULL, 0, NULL),
        ENS_EINVAL);
    assert_int_equal(ens_gen_server_call(t->out, ENS_ADDR_NONE, &cmd_t,
                                         CMD(OP_GET, 0, ENS_ADDR_NONE), 1000, NULL, 0, &r),
                     ENS_EINVAL);
    assert_null(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* handle_call keeps its from and a later call answers it: the first
 * request completes with the value given to the second (42), after the
 * second's own reply was sent. */
static void test_call_reply_later_from_kept_from(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    ens_addr d = spawn_driver(t, s);
    report_v r = call_report(t, d, OP_D_LATER, 0);
    assert_int_equal(r.tag, TAG_DONE);
    /* tag * 1000 + value, in completion order: the held call (tag 1) got
     * 42, the release (tag 2) got 0 (ens_gen_server_reply succeeded). */
    assert_true((r.a == 1042 && r.b == 2000) || (r.a == 2000 && r.b == 1042));
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* A call never answered ends with ENS_ETIMEDOUT, and the reply that comes
 * after the timeout is dropped: ens_listen never sees it. */
static void test_call_no_reply_times_out_late_reply_dropped(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    ens_msg *r = NULL;
    int64_t t0 = scn_now_ns();
    assert_int_equal(call(t, s, OP_IGNORE, 0, ENS_ADDR_NONE, 100, &r), ENS_ETIMEDOUT);
    assert_null(r);
    assert_true(scn_now_ns() - t0 >= 100 * 1000000LL);

    assert_int_equal(call(t, s, OP_HOLD, 0, ENS_ADDR_NONE, 100, &r), ENS_ETIMEDOUT);
    assert_null(r);
    /* Release the held call: its reply reaches the outside late (sent
     * before the release's own reply, same pair, so it has arrived). */
    assert_int_equal(call_int(t, s, OP_RELEASE, 7, ENS_ADDR_NONE), 0);
    assert_listen_quiet(t, 200);
    assert_int_equal(call_int(t, s, OP_ADD, 1, ENS_ADDR_NONE), 1); /* still serving */
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* A call made inside an actor holds the actor's other messages: the three
 * tells that arrive while it waits are handled after its completion, in
 * order ("R123"). With a plain request they would come first. */
static void test_inside_call_holds_other_messages_in_order(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    ens_addr d = spawn_driver(t, s);
    report_v r = call_report(t, d, OP_D_CALL_HELD, 0);
    assert_int_equal(r.tag, TAG_STARTED);
    assert_int_equal(r.n, 0);
    tell_int(t, d, 1);
    tell_int(t, d, 2);
    tell_int(t, d, 3);
    tell_int(t, d, -1); /* report the log */
    /* The server answers the driver's held call with 9. */
    assert_int_equal(call_int(t, s, OP_RELEASE, 9, ENS_ADDR_NONE), 0);

    r = listen_report(t, NULL, 0);
    assert_int_equal(r.tag, TAG_DONE);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.a, 9);
    char log[64];
    r = listen_report(t, log, sizeof(log));
    assert_int_equal(r.tag, TAG_LOG);
    assert_string_equal(log, "R123");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* A call from inside that times out completes with ENS_ETIMEDOUT; the
 * server's late reply is dropped, never delivered to handle_info/cast. */
static void test_inside_call_timeout_drops_late_reply(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    ens_addr d = spawn_driver(t, s);
    report_v r = call_report(t, d, OP_D_CALL_TIMEOUT, 0);
    assert_int_equal(r.tag, TAG_STARTED);
    assert_int_equal(r.n, 0);
    r = listen_report(t, NULL, 0);
    assert_int_equal(r.tag, TAG_DONE);
    assert_int_equal(r.n, ENS_ETIMEDOUT);

    /* Late reply to the driver, then a ping on the same pair: when the
     * driver sees the ping, the late reply has been dealt with. */
    assert_int_equal(call_int(t, s, OP_RELEASE, 5, d), 0);
    r = listen_report(t, NULL, 0);
    assert_int_equal(r.tag, TAG_STRAY);
    assert_int_equal(r.a, 1); /* one ping */
    assert_int_equal(r.n, 0); /* no stray message */
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* Casts land in handle_cast (and change state), plain sends in
 * handle_info, never in handle_call. */
static void test_cast_and_plain_send_routing(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ens_gen_server_cast(t->out, s, &cmd_t, CMD(OP_ADD, 5, ENS_ADDR_NONE)), 0);
    assert_int_equal(ens_send(t->out, s, &cmd_t, CMD(OP_ADD, 100, ENS_ADDR_NONE)), 0);
    report_v r = call_report(t, s, OP_GET, 0);
    assert_int_equal(r.tag, TAG_STATE);
    assert_int_equal(r.n, 15); /* the plain send did not add */
    assert_int_equal(r.a, 3);  /* casts */
    assert_int_equal(r.b, 1);  /* infos */
    assert_int_equal(
        ens_gen_server_cast(t->out, ENS_ADDR_NONE, &cmd_t, CMD(OP_ADD, 1, ENS_ADDR_NONE)),
        ENS_EINVAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* System messages reach handle_info: a wake-up and a child's exit. */
static void test_info_gets_wakeup_and_child_exited(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    assert_int_equal(call_int(t, s, OP_WATCH, 0, ENS_ADDR_NONE), 0);
    assert_int_equal(call_int(t, s, OP_WAKE_KID, 0, ENS_ADDR_NONE), 0);
    bool wake = false, kid = false;
    for (int i = 0; i < 2; i++) {
        report_v r = listen_report(t, NULL, 0);
        if (r.tag == TAG_WAKE) {
            assert_int_equal(r.a, 77);
            wake = true;
        } else {
            assert_int_equal(r.tag, TAG_KID_EXITED);
            assert_int_equal(r.n, ENS_EXIT_NORMAL);
            kid = true;
        }
    }
    assert_true(wake && kid);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* terminate runs with the reason: SHUTDOWN after an exit request (which
 * handle_info sees first), NORMAL after ens_stop. */
static void test_terminate_gets_reason(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    assert_int_equal(call_int(t, s, OP_WATCH, 0, ENS_ADDR_NONE), 0);
    assert_int_equal(ens_exit_request(t->out, s), 0);
    report_v r = listen_report(t, NULL, 0);
    assert_int_equal(r.tag, TAG_EXIT_SEEN);
    r = listen_report(t, NULL, 0);
    assert_int_equal(r.tag, TAG_TERMINATE);
    assert_int_equal(r.n, ENS_EXIT_SHUTDOWN);

    ens_addr s2 = spawn_server(t);
    assert_int_equal(call_int(t, s2, OP_WATCH, 0, ENS_ADDR_NONE), 0);
    assert_int_equal(call_int(t, s2, OP_STOP, 0, ENS_ADDR_NONE), 0);
    r = listen_report(t, NULL, 0);
    assert_int_equal(r.tag, TAG_TERMINATE);
    assert_int_equal(r.n, ENS_EXIT_NORMAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* handle_call failing twice: the caller's call completes at once with
 * ENS_EPOISON (outside: the PoisonMessage as reply; inside: the callback),
 * not at its 30 s timeout, and the server goes on. */
static void test_call_error_poisons_caller_promptly(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr s = spawn_server(t);
    ens_msg *r = NULL;
    int64_t t0 = scn_now_ns();
    assert_int_equal(call(t, s, OP_FAIL, 0, ENS_ADDR_NONE, SCN_WAIT_MS, &r), ENS_EPOISON);
    assert_true(scn_now_ns() - t0 < 10 * 1000000000LL);
    assert_non_null(r);
    const ens_poison_v *p = ens_msg_value(r, &ens_msg_poison);
    assert_non_null(p);
    assert_int_equal(p->error, ENS_EIO);
    ens_msg_free(r);

    ens_addr d = spawn_driver(t, s);
    report_v rep = call_report(t, d, OP_D_CALL_FAIL, 0);
    assert_int_equal(rep.tag, TAG_STARTED);
    assert_int_equal(rep.n, 0);
    rep = listen_report(t, NULL, 0);
    assert_int_equal(rep.tag, TAG_DONE);
    assert_int_equal(rep.n, ENS_EPOISON);
    assert_int_equal(rep.b, 1); /* the reply is the PoisonMessage */

    rep = call_report(t, s, OP_GET, 0);
    assert_int_equal(rep.c, 4); /* two calls, each tried twice */
    if (scn_events_local(t))
        assert_int_equal(scn_events_count(t, ENS_EV_POISON, s), 2);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* A gen_server without handle_call answers calls with ENS_ENOTSUP. */
static const ens_gen_server_cbs bare_cbs = {NULL, NULL, NULL, NULL, NULL};
static const ens_actor_def bare_def = ENS_GEN_SERVER_DEF_STATELESS("gs.Bare", &bare_cbs);

static void test_call_without_handle_call_is_enotsup(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr b;
    assert_int_equal(ens_spawn(t->out, &bare_def, NULL, NULL, &b), 0);
    ens_msg *r = NULL;
    assert_int_equal(call(t, b, OP_GET, 0, ENS_ADDR_NONE, SCN_WAIT_MS, &r), ENS_ENOTSUP);
    ens_msg_free(r);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_call_reply_now),
    SCN_TEST(test_call_reply_later_from_kept_from),
    SCN_TEST(test_call_no_reply_times_out_late_reply_dropped),
    SCN_TEST(test_inside_call_holds_other_messages_in_order),
    SCN_TEST(test_inside_call_timeout_drops_late_reply),
    SCN_TEST(test_cast_and_plain_send_routing),
    SCN_TEST(test_info_gets_wakeup_and_child_exited),
    SCN_TEST(test_terminate_gets_reason),
    SCN_TEST(test_call_error_poisons_caller_promptly),
    SCN_TEST(test_call_without_handle_call_is_enotsup),
};

int main(void)
{
    ens_msgtype *types[] = {&cmd_t, &report_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ens_msgtype_register(types[i]);
        if (rc != 0) {
            fprintf(stderr, "registering %s: %s\n", types[i]->name, ens_err_name(rc));
            return 1;
        }
    }
    if (ens_actor_register(&server_def) != 0 || ens_actor_register(&driver_def) != 0)
        return 1;
    return scn_run_bases("gen_server", tests, sizeof(tests) / sizeof(tests[0]));
}

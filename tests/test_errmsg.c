/*
 * tests/test_errmsg.c - ens_errmsg() says why a call failed (ensemble/error.h).
 *
 * One table: each row provokes one ENS_ENOENT, ENS_EEXIST or ENS_EINVAL of
 * a public call and checks the code and that ens_errmsg() names the thing
 * (the type, the name and its holder, the argument, the system). Rows run
 * on both bases (tests/support/scenario.h) unless the call is the process
 * base's alone (system names, programs connected by name). A row marked
 * inside makes its call in an actor, the prober, which answers with the
 * code and its own thread's ens_errmsg(); the others call from the outside
 * context. A last test checks the other half of the rule: a call that
 * succeeds leaves ens_errmsg() empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/scenario.h"

#define WAIT_MS 30000u

/* What a row needs at run time besides its call: texts the message must
 * contain that are known only then (a system's name, an address). */
typedef struct erun {
    char want[3][128];
    ens_addr target;
    ens_system *other; /* a second system the row started or connected, closed after */
} erun;

typedef struct erow {
    const char *what;
    int code;
    bool process_only;
    void (*setup)(scn *t, erun *r);         /* may be NULL */
    int (*outside)(scn *t, erun *r);        /* the failing call from outside, or NULL */
    int (*inside)(ens_ctx *c, ens_addr at); /* the failing call in the prober, or NULL */
} erow;

/* Row i's inside call (the rows come after the prober). */
static int inside_call(ens_ctx *c, int64_t i, ens_addr at, bool *known);

/* ---- the prober: makes row i's inside call, answers "code|errmsg" ------- */

static int prober_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    bool known = false;
    /* A call that needs an address gets the asker's. */
    int rc = v != NULL ? inside_call(c, v->value, ens_msg_sender(m), &known) : 0;
    if (!known)
        return ens_msg_is_request(m) ? ens_reply(c, &ens_msg_string, &(ens_string_v){"1|no row"})
                                     : 0;
    char text[600];
    snprintf(text, sizeof(text), "%d|%s", rc, ens_errmsg());
    return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
}

static const ens_actor_def prober_def = {.name = "terr.Prober", .receive = prober_receive};

static int idle_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c, (void)state, (void)m;
    return 0;
}

static const ens_actor_def idle_def = {.name = "terr.Idle", .receive = idle_receive};
static const ens_actor_def dup_def = {.name = "terr.Idle", .receive = prober_receive};
/* Never registered: a program connected by name cannot spawn it. */
static const ens_actor_def unregistered_def = {.name = "terr.Unregistered",
                                               .receive = idle_receive};
static const ens_actor_def nameless_def = {.name = NULL, .receive = idle_receive};

static char sys_name[64];

static void want_text(erun *r, const char *a, const char *b)
{
    snprintf(r->want[0], sizeof(r->want[0]), "%s", a);
    if (b != NULL)
        snprintf(r->want[1], sizeof(r->want[1]), "%s", b);
}

/* ---- setups --------------------------------------------------------------- */

/* A system name of this test's own (the caller's pid). */
static void name_of(char *out, size_t len, const char *what)
{
    snprintf(out, len, "terr-%s-%d", what, (int)getpid());
}

/* The row's system runs under a name: t's, restarted named. */
static void setup_named(scn *t, erun *r)
{
    (void)r;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_level = ENS_LOG_ERROR;
    name_of(sys_name, sizeof(sys_name), "named");
    o.name = sys_name;
    if (t->sys != NULL)
        assert_int_equal(scn_shutdown(t, WAIT_MS), 0);
    scn_start(t, &o);
}

static void setup_taken(scn *t, erun *r)
{
    ens_addr holder;
    assert_in_range(ens_name_spawn(t->out, "terr.taken", &idle_def, NULL, NULL, &holder), 0, 1);
    snprintf(r->want[0], sizeof(r->want[0]), "terr.taken");
    ens_addr_format(holder, r->want[1], sizeof(r->want[1]));
}

static void setup_supervisor(scn *t, erun *r)
{
    ens_child_spec spec = {.id = "k1", .def = &idle_def, .restart = ENS_PERMANENT};
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 3, 5000, ENS_SUP_START_ORDERED};
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &spec, 1, &r->target), 0);
}

/* ---- outside calls -------------------------------------------------------- */

static int start_mailbox_limit(scn *t, erun *r)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = t->base;
    o.mailbox_limit = 0;
    snprintf(r->want[0], sizeof(r->want[0]), "mailbox_limit is 0");
    return ens_system_start(&o, &r->other);
}

static int start_bad_name(scn *t, erun *r)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = t->base;
    o.name = "no/slash";
    snprintf(r->want[0], sizeof(r->want[0]), "\"no/slash\"");
    return ens_system_start(&o, &r->other);
}

static int start_name_runs(scn *t, erun *r)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, WAIT_MS, &st), 0);
    int pid = ens_status_admin_pid(st);
    ens_status_free(st);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = t->base;
    o.log_level = ENS_LOG_ERROR;
    o.name = sys_name;
    snprintf(r->want[0], sizeof(r->want[0]), "a system named %s runs already", sys_name);
    snprintf(r->want[1], sizeof(r->want[1]), "(admin pid %d)", pid);
    return ens_system_start(&o, &r->other);
}

static int connect_unknown(scn *t, erun *r)
{
    (void)t;
    char name[64];
    name_of(name, sizeof(name), "nobody");
    snprintf(r->want[0], sizeof(r->want[0]), "no system named %s of this user", name);
    snprintf(r->want[1], sizeof(r->want[1]), "running: ");
    snprintf(r->want[2], sizeof(r->want[2]), "%s", sys_name); /* it runs: it is listed */
    return ens_system_connect(name, &r->other);
}

static int holder_unknown(scn *t, erun *r)
{
    (void)t;
    char name[64];
    name_of(name, sizeof(name), "nobody");
    snprintf(r->want[0], sizeof(r->want[0]), "no system named %s", name);
    int uid, pid;
    return ens_system_holder(name, &uid, &pid);
}

static int spawn_nameless(scn *t, erun *r)
{
    ens_addr a;
    snprintf(r->want[0], sizeof(r->want[0]), "ens_spawn: def->name is NULL");
    return ens_spawn(t->out, &nameless_def, NULL, NULL, &a);
}

static int register_duplicate(scn *t, erun *r)
{
    (void)t;
    snprintf(r->want[0], sizeof(r->want[0]), "registered as terr.Idle");
    return ens_actor_register(&dup_def);
}

static int ask_null_type(scn *t, erun *r)
{
    ens_msg *reply = NULL;
    snprintf(r->want[0], sizeof(r->want[0]), "ens_ask: the message type is NULL");
    return ens_ask(t->out, ens_self(t->out), NULL, &(ens_int64_v){1}, 1000, &reply);
}

static int lookup_unknown(scn *t, erun *r)
{
    ens_addr a;
    snprintf(r->want[0], sizeof(r->want[0]), "no actor is named terr.nobody");
    return ens_name_lookup(t->out, "terr.nobody", &a);
}

static int lookup_invalid(scn *t, erun *r)
{
    ens_addr a;
    snprintf(r->want[0], sizeof(r->want[0]), "\"-bad name\" is not a valid global name");
    return ens_name_lookup(t->out, "-bad name", &a);
}

static int spawn_unregistered_connected(scn *t, erun *r)
{
    (void)t;
    assert_int_equal(ens_system_connect(sys_name, &r->other), 0);
    ens_addr a;
    snprintf(r->want[0], sizeof(r->want[0]), "actor type terr.Unregistered is not registered");
    snprintf(r->want[1], sizeof(r->want[1]), "%s", sys_name);
    return ens_spawn(ens_system_ctx(r->other), &unregistered_def, NULL, NULL, &a);
}

static int sup_terminate_unknown(scn *t, erun *r)
{
    snprintf(r->want[0], sizeof(r->want[0]), "has no child nope");
    ens_addr_format(r->target, r->want[1], sizeof(r->want[1]));
    return ens_supervisor_terminate_child_wait(t->out, r->target, "nope", ENS_ADDR_NONE);
}

static int sup_restart_running(scn *t, erun *r)
{
    ens_addr a;
    snprintf(r->want[0], sizeof(r->want[0]), "child k1 of supervisor");
    snprintf(r->want[1], sizeof(r->want[1]), "runs (at ");
    return ens_supervisor_restart_child_wait(t->out, r->target, "k1", &a);
}

static int sup_spawn_same_ids(scn *t, erun *r)
{
    ens_child_spec spec[2] = {{.id = "twin", .def = &idle_def, .restart = ENS_PERMANENT},
                              {.id = "twin", .def = &idle_def, .restart = ENS_PERMANENT}};
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 3, 5000, ENS_SUP_START_ORDERED};
    ens_addr a;
    snprintf(r->want[0], sizeof(r->want[0]), "share the id twin");
    return ens_supervisor_spawn(t->out, &f, spec, 2, &a);
}

static int addr_parse_bad(scn *t, erun *r)
{
    (void)t;
    ens_addr a;
    want_text(r, "\"ens:01/2\" is not an address", NULL);
    return ens_addr_parse("ens:01/2", &a);
}

static int event_kind_unknown(scn *t, erun *r)
{
    (void)t;
    want_text(r, "no event kind is named \"NOPE\"", NULL);
    return ens_event_kind_parse("NOPE");
}

static int capability_missing(scn *t, erun *r)
{
    (void)t;
    char v[16];
    want_text(r, "no capability disk", NULL);
    return ens_capability_get("gpu=1\nram=4\n", "disk", v, sizeof(v));
}

static int journal_missing(scn *t, erun *r)
{
    (void)t;
    ens_journal *j = NULL;
    want_text(r, "/nonexistent-terr/terr.db", "No such file");
    return ens_journal_open("/nonexistent-terr/terr.db", &j);
}

static int journal_path_bad_name(scn *t, erun *r)
{
    (void)t;
    char buf[256];
    want_text(r, "\"a/b\" is not a system name", NULL);
    return ens_journal_default_path("a/b", buf, sizeof(buf));
}

static int troupe_no_workers(scn *t, erun *r)
{
    ens_troupe_opts o = ENS_TROUPE_OPTS_INIT;
    o.worker = &idle_def;
    o.max_count = 0;
    o.idle_count = 0;
    ens_addr a;
    want_text(r, "ens_troupe_spawn: max_count is 0", NULL);
    return ens_troupe_spawn(t->out, &o, &a);
}

static int breaker_no_target(scn *t, erun *r)
{
    ens_breaker_opts o = ENS_BREAKER_OPTS_INIT;
    ens_addr a;
    want_text(r, "ens_breaker_spawn", "give one of target and target_name");
    return ens_breaker_spawn(t->out, &o, &a);
}

static int gen_server_call_cb_outside(scn *t, erun *r)
{
    ens_msg *reply = NULL;
    want_text(r, "ens_gen_server_call: outside, give reply and no cb", NULL);
    return ens_gen_server_call(t->out, ens_self(t->out), &ens_msg_int64, &(ens_int64_v){1}, 1000,
                               (ens_reply_cb)1, 0, &reply);
}

static int status_null_out(scn *t, erun *r)
{
    want_text(r, "ens_system_status: out is NULL", NULL);
    return ens_system_status(t->sys, 1000, NULL);
}

static int status_convention_no_servers(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_status_query_convention: servers is NULL", NULL);
    return ens_status_query_convention(NULL, "c", 1000, (ens_status_member_cb)1, NULL);
}

static int connect_empty_name(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_system_connect: \"\" is not a system name", NULL);
    return ens_system_connect("", &r->other);
}

static ens_msgtype unregistered_t = {"terr.NotRegistered", "S(i)", sizeof(int32_t), 0, 0, NULL};

static int send_unregistered_type(scn *t, erun *r)
{
    ens_addr a;
    assert_int_equal(ens_spawn(t->out, &idle_def, NULL, NULL, &a), 0);
    want_text(r, "the message type terr.NotRegistered is not registered", NULL);
    return ens_send(t->out, a, &unregistered_t, &(int32_t){1});
}

static int send_bytes_without_data(scn *t, erun *r)
{
    ens_addr a;
    assert_int_equal(ens_spawn(t->out, &idle_def, NULL, NULL, &a), 0);
    want_text(r, "a value of ens.Bytes cannot be encoded", NULL);
    return ens_send(t->out, a, &ens_msg_bytes, &(ens_bytes_v){{NULL, 5}});
}

/* ---- inside calls (in the prober) ----------------------------------------- */

static int in_register_invalid(ens_ctx *c, ens_addr at)
{
    (void)at;
    return ens_name_register(c, "has space");
}

static int in_watch_regular_file(ens_ctx *c, ens_addr at)
{
    (void)at;
    FILE *f = tmpfile();
    if (f == NULL)
        return 1;
    int rc = ens_watch_fd(c, fileno(f), 7);
    char keep[600];
    snprintf(keep, sizeof(keep), "%s", ens_errmsg());
    fclose(f);
    return rc == ENS_EINVAL && strstr(keep, "a regular file") != NULL ? rc : 1;
}

static int in_unwatch_unknown(ens_ctx *c, ens_addr at)
{
    (void)at;
    return ens_unwatch_fd(c, 2);
}

static int in_init_ack_outside_init(ens_ctx *c, ens_addr at)
{
    (void)at;
    return ens_init_ack(c, 0, NULL);
}

static int in_spawn_nameless(ens_ctx *c, ens_addr at)
{
    (void)at;
    ens_addr a;
    return ens_spawn(c, &nameless_def, NULL, NULL, &a);
}

static int in_lookup_unknown(ens_ctx *c, ens_addr at)
{
    (void)at;
    ens_addr a;
    return ens_name_lookup(c, "terr.nobody", &a);
}

static int in_register_taken(ens_ctx *c, ens_addr at)
{
    (void)at;
    return ens_name_register(c, "terr.taken");
}

static int in_unregister_none(ens_ctx *c, ens_addr at)
{
    (void)at;
    return ens_name_unregister(c);
}

static int in_send_null_type(ens_ctx *c, ens_addr at)
{
    return ens_send(c, at, NULL, &(ens_int64_v){1});
}

static int in_wakeup_cancel_unknown(ens_ctx *c, ens_addr at)
{
    (void)at;
    return ens_wakeup_cancel(c, 987654);
}

static int in_stop_bad_reason(ens_ctx *c, ens_addr at)
{
    (void)at;
    return ens_stop(c, 4242, 0);
}

/* A failure, then a call that succeeds: the text is empty again. */
static int in_fail_then_succeed(ens_ctx *c, ens_addr at)
{
    ens_addr a;
    (void)ens_name_lookup(c, "terr.nobody", &a);
    if (ens_errmsg()[0] == '\0')
        return -1;
    return ens_send(c, at, &ens_msg_int64, &(ens_int64_v){1});
}

static void w_spawn_nameless(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_spawn: def->name is NULL", NULL);
}
static void w_lookup_unknown(scn *t, erun *r)
{
    (void)t;
    want_text(r, "no actor is named terr.nobody", NULL);
}
static void w_unregister_none(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_name_unregister: this actor has no global name", NULL);
}
static void w_send_null_type(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_send: the message type is NULL", NULL);
}
static void w_wakeup_cancel(scn *t, erun *r)
{
    (void)t;
    want_text(r, "no wake-up 987654 is pending", NULL);
}
static void w_register_invalid(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_name_register: \"has space\" is not a valid global name", NULL);
}
static void w_watch_file(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_watch_fd: fd ", "is a regular file or a directory");
}
static void w_unwatch(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_unwatch_fd: fd 2 is not watched", NULL);
}
static void w_init_ack(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_init_ack: init did not defer", NULL);
}
static void w_stop_bad_reason(scn *t, erun *r)
{
    (void)t;
    want_text(r, "ens_stop: reason 4242", NULL);
}

static const erow rows[] = {
    {"start: mailbox_limit 0", ENS_EINVAL, false, NULL, start_mailbox_limit, NULL},
    {"start: a name with a slash", ENS_EINVAL, false, NULL, start_bad_name, NULL},
    {"start: the name runs", ENS_EEXIST, true, setup_named, start_name_runs, NULL},
    {"connect: no such system", ENS_ENOENT, true, setup_named, connect_unknown, NULL},
    {"holder: no such system", ENS_ENOENT, true, NULL, holder_unknown, NULL},
    {"spawn: def->name NULL", ENS_EINVAL, false, NULL, spawn_nameless, NULL},
    {"actor_register: the type name is taken", ENS_EEXIST, false, NULL, register_duplicate, NULL},
    {"ask: NULL type", ENS_EINVAL, false, NULL, ask_null_type, NULL},
    {"name_lookup: no such name", ENS_ENOENT, false, NULL, lookup_unknown, NULL},
    {"name_lookup: invalid name", ENS_EINVAL, false, NULL, lookup_invalid, NULL},
    {"spawn by a connected program: type not registered", ENS_ENOENT, true, setup_named,
     spawn_unregistered_connected, NULL},
    {"supervisor terminate: no such child", ENS_ENOENT, false, setup_supervisor,
     sup_terminate_unknown, NULL},
    {"supervisor restart: the child runs", ENS_EEXIST, false, setup_supervisor, sup_restart_running,
     NULL},
    {"supervisor spawn: two specs, one id", ENS_EINVAL, false, NULL, sup_spawn_same_ids, NULL},
    {"addr_parse: a leading zero", ENS_EINVAL, false, NULL, addr_parse_bad, NULL},
    {"event_kind_parse: no such kind", ENS_EINVAL, false, NULL, event_kind_unknown, NULL},
    {"capability_get: no such key", ENS_ENOENT, false, NULL, capability_missing, NULL},
    {"journal_open: no such file", ENS_ENOENT, false, NULL, journal_missing, NULL},
    {"journal_default_path: a name with a slash", ENS_EINVAL, false, NULL, journal_path_bad_name,
     NULL},
    {"troupe_spawn: max_count 0", ENS_EINVAL, false, NULL, troupe_no_workers, NULL},
    {"breaker_spawn: no target", ENS_EINVAL, false, NULL, breaker_no_target, NULL},
    {"gen_server_call: a cb outside", ENS_EINVAL, false, NULL, gen_server_call_cb_outside, NULL},
    {"system_status: NULL out", ENS_EINVAL, false, NULL, status_null_out, NULL},
    {"status_query_convention: no servers", ENS_EINVAL, false, NULL, status_convention_no_servers,
     NULL},
    {"connect: an empty name", ENS_EINVAL, true, NULL, connect_empty_name, NULL},
    {"send: a type not registered", ENS_EBADTYPE, false, NULL, send_unregistered_type, NULL},
    {"send: bytes with a length and no data", ENS_EINVAL, false, NULL, send_bytes_without_data,
     NULL},
    {"in an actor: name_register an invalid name", ENS_EINVAL, false, w_register_invalid, NULL,
     in_register_invalid},
    {"in an actor: watch a regular file", ENS_EINVAL, false, w_watch_file, NULL,
     in_watch_regular_file},
    {"in an actor: unwatch an fd not watched", ENS_ENOENT, false, w_unwatch, NULL,
     in_unwatch_unknown},
    {"in an actor: init_ack outside init", ENS_EINVAL, false, w_init_ack, NULL,
     in_init_ack_outside_init},
    {"in an actor: spawn def->name NULL", ENS_EINVAL, false, w_spawn_nameless, NULL,
     in_spawn_nameless},
    {"in an actor: name_lookup no such name", ENS_ENOENT, false, w_lookup_unknown, NULL,
     in_lookup_unknown},
    {"in an actor: name_register, the name is taken", ENS_EEXIST, false, setup_taken, NULL,
     in_register_taken},
    {"in an actor: name_unregister without a name", ENS_ENOENT, false, w_unregister_none, NULL,
     in_unregister_none},
    {"in an actor: send a NULL type", ENS_EINVAL, false, w_send_null_type, NULL, in_send_null_type},
    {"in an actor: cancel an unknown wake-up", ENS_ENOENT, false, w_wakeup_cancel, NULL,
     in_wakeup_cancel_unknown},
    {"in an actor: stop with a bad reason", ENS_EINVAL, false, w_stop_bad_reason, NULL,
     in_stop_bad_reason},
};
static const size_t n_rows = sizeof(rows) / sizeof(rows[0]);

static int inside_call(ens_ctx *c, int64_t i, ens_addr at, bool *known)
{
    *known = i >= 0 && ((size_t)i == n_rows || ((size_t)i < n_rows && rows[i].inside != NULL));
    if (!*known)
        return 0;
    return (size_t)i == n_rows ? in_fail_then_succeed(c, at) : rows[i].inside(c, at);
}

/* Ask the prober to make row i's call; its code in *rc, its text in text. */
static void probe(scn *t, size_t i, int *rc, char *text, size_t len)
{
    ens_addr prober;
    assert_int_equal(ens_spawn(t->out, &prober_def, NULL, NULL, &prober), 0);
    ens_msg *reply = NULL;
    int ask = ens_ask(t->out, prober, &ens_msg_int64, &(ens_int64_v){(int64_t)i}, WAIT_MS, &reply);
    if (ask != 0)
        fail_msg("ask the prober: %s", ens_err_name(ask));
    const ens_string_v *s = ens_msg_value(reply, &ens_msg_string);
    assert_non_null(s);
    const char *bar = strchr(s->text, '|');
    assert_non_null(bar);
    *rc = atoi(s->text);
    snprintf(text, len, "%s", bar + 1);
    ens_msg_free(reply);
}

static void run_row(void **state)
{
    scn *t = *state;
    const erow *row = t->row;
    if (row->process_only && t->base != ENS_BASE_PROCESS)
        skip();
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_level = ENS_LOG_ERROR;
    scn_start(t, &o);
    erun r = {0};
    if (row->setup != NULL)
        row->setup(t, &r);
    int rc;
    char text[600];
    if (row->outside != NULL) {
        rc = row->outside(t, &r);
        snprintf(text, sizeof(text), "%s", ens_errmsg());
    } else {
        probe(t, (size_t)(row - rows), &rc, text, sizeof(text));
    }
    if (r.other != NULL && rc != 0)
        (void)ens_system_close(r.other, WAIT_MS); /* the connected program of the row */
    else if (r.other != NULL)
        fail_msg("%s: the call succeeded", row->what);
    print_message("%s [%s]: %s \"%s\"\n", row->what, scn_base_name(t->base), ens_err_name(rc),
                  text);
    if (rc != row->code)
        fail_msg("%s: %s, want %s (\"%s\")", row->what, ens_err_name(rc), ens_err_name(row->code),
                 text);
    for (size_t i = 0; i < 3; i++)
        if (r.want[i][0] != '\0' && strstr(text, r.want[i]) == NULL)
            fail_msg("%s: ens_errmsg \"%s\" does not say \"%s\"", row->what, text, r.want[i]);
    assert_true(r.want[0][0] != '\0');
}

static void test_success_clears(void **state)
{
    scn *t = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.log_level = ENS_LOG_ERROR;
    scn_start(t, &o);
    ens_addr a;
    assert_int_equal(ens_name_lookup(t->out, "terr.nobody", &a), ENS_ENOENT);
    assert_non_null(strstr(ens_errmsg(), "terr.nobody"));
    assert_in_range(ens_name_spawn(t->out, "terr.some", &idle_def, NULL, NULL, &a), 0, 1);
    assert_string_equal(ens_errmsg(), "");
    assert_int_equal(ens_name_lookup(t->out, "terr.nobody", &a), ENS_ENOENT);
    assert_int_equal(ens_name_lookup(t->out, "terr.some", &a), 0);
    assert_string_equal(ens_errmsg(), "");
    assert_int_equal(ens_name_lookup(t->out, "terr.nobody", &a), ENS_ENOENT);
    assert_int_equal(ens_send(t->out, a, &ens_msg_int64, &(ens_int64_v){1}), 0);
    assert_string_equal(ens_errmsg(), "");

    /* In the prober: a failure, then a send that works (to ourselves). */
    ens_addr prober;
    assert_int_equal(ens_spawn(t->out, &prober_def, NULL, NULL, &prober), 0);
    ens_msg *reply = NULL;
    int64_t row = (int64_t)n_rows; /* the extra row: in_fail_then_succeed */
    assert_int_equal(ens_ask(t->out, prober, &ens_msg_int64, &(ens_int64_v){row}, WAIT_MS, &reply),
                     0);
    const ens_string_v *s = ens_msg_value(reply, &ens_msg_string);
    assert_non_null(s);
    assert_string_equal(s->text, "0|");
    ens_msg_free(reply);
}

int main(void)
{
    if (ens_actor_register(&prober_def) != 0 || ens_actor_register(&idle_def) != 0)
        return 1;
    static struct CMUnitTest tests[sizeof(rows) / sizeof(rows[0]) + 1];
    for (size_t i = 0; i < n_rows; i++)
        tests[i] = SCN_TEST_ROW(rows[i].what, run_row, &rows[i]);
    tests[n_rows] = (struct CMUnitTest)SCN_TEST(test_success_clears);
    return scn_run_bases("errmsg", tests, n_rows + 1);
}

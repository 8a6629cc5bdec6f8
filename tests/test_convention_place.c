/*
 * tests/test_convention_place.c - placement by capabilities and spawns
 * across a convention (ensemble/convention.h, "Placement"): three systems
 * on one private nats-server (tests/support/nats_server.h). A has no
 * capabilities of its own, B has "gpu=1" and "zone=eu", C has "gpu=1" and
 * runs in a child process started before this program registered its
 * actor types, so C knows none of them (a real "type not registered").
 * From A: a trainer that needs a gpu runs on B; a type nobody can run is
 * ENS_ENOPLACE with a reason per member and one no_place journal row;
 * inside an actor the parent hears child-exited ENS_EXIT_NOPLACE; a child
 * on B has its parent on A, which hears of its end and whose own end asks
 * it to exit first; hostile spawn requests on NATS are answered with a
 * refusal and the system goes on. Skipped, with a message, when
 * nats-server is not installed.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <nats/nats.h>

#include "core/process/proc.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"
#include "support/convention.h"
#include "support/deadline.h"
#include "support/journal_files.h"
#include "support/nats_server.h"

#define HEARTBEAT_MS 300u

static char name_a[32], name_b[32], name_c[32];
static char journal_a[96];
static ens_system *sys_a, *sys_b;
static pid_t c_group; /* the child that runs C, leader of its process group */

/* ---- the actors ------------------------------------------------------ */

static const char *const gpu_needed[] = {"gpu", NULL};
static const char *const tpu_needed[] = {"tpu", NULL};

/* The trainer: asked "where", answers "node=N parent=P" (P: its parent's
 * address, or "none"); told "stop", it stops. */
static int trainer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "stop") == 0)
        return ens_stop(c, ENS_EXIT_NORMAL, 0);
    char parent[ENS_ADDR_STRLEN] = "none", text[128];
    if (!ens_addr_is_none(ens_parent(c)))
        ens_addr_format(ens_parent(c), parent, sizeof(parent));
    snprintf(text, sizeof(text), "node=%" PRIu32 " parent=%s", ens_self(c).node, parent);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
}

static const ens_actor_def trainer_def = {
    .name = "place.Trainer", .receive = trainer_receive, .requirements = gpu_needed};
static const ens_actor_def tpu_def = {
    .name = "place.Tpu", .receive = trainer_receive, .requirements = tpu_needed};

/* Refuses a system with a zone: B's; C never gets to ask it (it does not
 * know the type). */
static bool without_zone(const char *caps)
{
    char v[16];
    return ens_capability_get(caps, "zone", v, sizeof(v)) == ENS_ENOENT;
}

static const ens_actor_def only_c_def = {.name = "place.OnlyC",
                                         .receive = trainer_receive,
                                         .requirements = gpu_needed,
                                         .capability_check = without_zone};

/* The recorder: keeps every string told; asked anything, answers them. */
typedef struct text_log {
    char text[2048];
} text_log;

static int recorder_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    text_log *l = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (ens_msg_is_request(m))
        return ens_reply(c, &ens_msg_string, &(ens_string_v){l->text});
    test_conv_append(l->text, sizeof(l->text), "%s ", s->text);
    return 0;
}

static const ens_actor_def recorder_def = {
    .name = "place.Recorder", .state_size = sizeof(text_log), .receive = recorder_receive};

/* The parent: start argument the id of a recorder on its system. Asked
 * "trainer" or "tpu", spawns one and answers its address; "stop-child"
 * tells the last child to stop; "log" answers what it heard (child exits
 * as "exit:<reason>:<node>"). Its terminate sends its log, then
 * "terminated", to the recorder. */
typedef struct parent_state {
    text_log log;
    ens_addr child, recorder;
} parent_state;

static int parent_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    parent_state *p = state;
    const int64_t *id = ens_msg_value(arg, &ens_msg_int64);
    p->recorder = (ens_addr){id != NULL ? (uint64_t)*id : 0, ens_self(c).node, 0};
    return 0;
}

static int parent_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    parent_state *p = state;
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL) {
        test_conv_append(p->log.text, sizeof(p->log.text), "exit:%d:%" PRIu32 " ", ce->reason,
                         ce->child.node);
        return 0;
    }
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "log") == 0)
        return ens_reply(c, &ens_msg_string, &(ens_string_v){p->log.text});
    if (strcmp(s->text, "stop-child") == 0)
        return ens_send(c, p->child, &ens_msg_string, &(ens_string_v){"stop"});
    const ens_actor_def *d = strcmp(s->text, "tpu") == 0 ? &tpu_def : &trainer_def;
    char text[ENS_ADDR_STRLEN + 16];
    int rc = ens_spawn(c, d, NULL, NULL, &p->child);
    if (rc == 0)
        ens_addr_format(p->child, text, sizeof(text));
    else
        snprintf(text, sizeof(text), "error %d", rc);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
}

static void parent_terminate(ens_ctx *c, void *state, int reason)
{
    (void)reason;
    parent_state *p = state;
    ens_send(c, p->recorder, &ens_msg_string, &(ens_string_v){p->log.text});
    ens_send(c, p->recorder, &ens_msg_string, &(ens_string_v){"terminated"});
}

static const ens_actor_def parent_def = {.name = "place.Parent",
                                         .state_size = sizeof(parent_state),
                                         .init = parent_init,
                                         .receive = parent_receive,
                                         .terminate = parent_terminate};

/* The watcher: subscribed to the convention; asked anything, answers
 * "J<system>[+gpu]#<actors> " per joined member it was told of; asked
 * "again", it answers that, forgets it and subscribes again (so it is told
 * every member as its admin knows it now). */
static int watcher_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    text_log *l = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        char v[8];
        if (u->change == ENS_MEMBER_JOINED)
            test_conv_append(l->text, sizeof(l->text), "J%s%s#%" PRIu32 " ", u->system,
                             ens_capability_get(u->capabilities, "gpu", v, sizeof(v)) > 0 ? "+gpu"
                                                                                          : "",
                             u->actors);
        return 0;
    }
    int rc = ens_reply(c, &ens_msg_string, &(ens_string_v){l->text});
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (rc == 0 && s != NULL && strcmp(s->text, "again") == 0) {
        l->text[0] = '\0';
        rc = ens_convention_subscribe(c, true);
    }
    return rc;
}

static const ens_actor_def watcher_def = {.name = "place.Watcher",
                                          .state_size = sizeof(text_log),
                                          .init = test_conv_subscribe_init,
                                          .receive = watcher_receive};

/* ---- systems --------------------------------------------------------- */

static ens_system_opts member_opts(const char *name, const char *caps)
{
    ens_system_opts o = test_conv_member_opts(name, HEARTBEAT_MS);
    o.convention.capabilities = caps;
    return o;
}

static int group_setup(void **state)
{
    (void)state;
    if (test_nats_program() == NULL)
        return 0;
    test_conv_name_set("p");
    snprintf(name_a, sizeof(name_a), "place-%d-a", (int)getpid());
    snprintf(name_b, sizeof(name_b), "place-%d-b", (int)getpid());
    snprintf(name_c, sizeof(name_c), "place-%d-c", (int)getpid());
    snprintf(journal_a, sizeof(journal_a), "/tmp/ens-place-%d-a.db", (int)getpid());
    if (test_conv_server_start() < 0)
        return -1;
    /* C first: it must not know the types registered below. */
    ens_system_opts c = member_opts(name_c, "gpu=1");
    if ((c_group = test_conv_start_group(&c)) < 0)
        return -1;
    const ens_actor_def *defs[] = {&trainer_def,  &tpu_def,    &only_c_def,
                                   &recorder_def, &parent_def, &watcher_def};
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (ens_actor_register(defs[i]) < 0)
            return -1;
    ens_system_opts a = member_opts(name_a, NULL);
    a.journal_path = journal_a;
    /* Longer than any wait here: a parent that ends in time heard from its
     * children, it did not give up on them. */
    a.child_exit_timeout_ms = 2 * TEST_WAIT_MS;
    ens_system_opts b = member_opts(name_b, "gpu=1\nzone=eu\n");
    if (ens_system_start(&a, &sys_a) < 0 || ens_system_start(&b, &sys_b) < 0)
        return -1;
    return ens__ctl_register();
}

static int group_teardown(void **state)
{
    (void)state;
    test_conv_end((ens_system **[]){&sys_a, &sys_b}, 2, &c_group);
    if (journal_a[0] != '\0')
        test_journal_remove(journal_a);
    return 0;
}

static ens_ctx *ctx_a(void)
{
    return ens_system_ctx(sys_a);
}

static uint32_t node_of(ens_system *s)
{
    return ens_self(ens_system_ctx(s)).node;
}

/* Ask `to` (from A's outside) with a string; the answer's text (static). */
static const char *ask_text(ens_addr to, const char *text)
{
    static char out[2048];
    int rc = test_conv_ask_text(sys_a, to, text, TEST_WAIT_MS, out, sizeof(out));
    if (rc < 0)
        fail_msg("ask %s: %s (%s)", text, ens_strerror(rc), ens_errmsg());
    return out;
}

/* Ask `to` until its answer contains want (by a deadline). */
static void wait_text(ens_addr to, const char *ask, const char *want)
{
    char got[2048];
    if (!test_conv_await_text(sys_a, to, ask, want, TEST_WAIT_MS, &sys_a, 1, got, sizeof(got)))
        fail_msg("waited for \"%s\"; got \"%s\"", want, got);
}

/* A knows B and C, with their capabilities (A's admin places by them). */
static void wait_members(void)
{
    static bool known;
    if (known)
        return;
    ens_addr w;
    assert_int_equal(ens_spawn(ctx_a(), &watcher_def, NULL, NULL, &w), 0);
    char b[48], c[48];
    snprintf(b, sizeof(b), "J%s+gpu", name_b);
    snprintf(c, sizeof(c), "J%s+gpu", name_c);
    wait_text(w, "?", b);
    wait_text(w, "?", c);
    ens_exit_request(ctx_a(), w);
    known = true;
}

/* no_place rows in A's journal about type, and the last one's reason. */
typedef struct rows_seen {
    int n;
    char reason[4200];
} rows_seen;

static int on_row(const ens_journal_row *row, void *arg)
{
    rows_seen *r = arg;
    if (r->n++ == 0)
        snprintf(r->reason, sizeof(r->reason), "%s", row->ev.reason);
    return 0;
}

static rows_seen journal_rows(ens_event_kind kind, const char *type)
{
    rows_seen r = {0, ""};
    ens_journal *j = NULL;
    if (ens_journal_open(journal_a, &j) < 0)
        return r;
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << kind;
    f.actor_type = type;
    ens_journal_query(j, &f, on_row, &r);
    ens_journal_close(j);
    return r;
}

/* Wait until A's journal has n rows of kind about type. */
static rows_seen wait_rows(ens_event_kind kind, const char *type, int n)
{
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    rows_seen r;
    while ((r = journal_rows(kind, type)).n < n) {
        if (test_deadline_passed(d))
            fail_msg("waited for %d rows of kind %d about %s; found %d", n, (int)kind, type, r.n);
        test_nap_ms(20); /* the journal offers nothing to wait on */
    }
    return r;
}

static void assert_has(const char *text, const char *who, const char *why)
{
    char want[160];
    snprintf(want, sizeof(want), "%s: %s", who, why);
    if (strstr(text, want) == NULL)
        fail_msg("\"%s\" not in \"%s\"", want, text);
}

/* ---- tests ----------------------------------------------------------- */

static void test_placed_on_the_member_with_a_gpu(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members();
    ens_addr t;
    int rc = ens_spawn(ctx_a(), &trainer_def, NULL, NULL, &t);
    if (rc < 0)
        fail_msg("spawn: %s (%s)", ens_strerror(rc), ens_errmsg());
    assert_int_equal(t.node, node_of(sys_b));
    char want[64];
    snprintf(want, sizeof(want), "node=%" PRIu32 " parent=none", node_of(sys_b));
    assert_string_equal(ask_text(t, "where"), want);
    assert_int_equal(ens_exit_request(ctx_a(), t), 0);
    /* Without requirements nothing is placed elsewhere. */
    ens_addr r;
    assert_int_equal(ens_spawn(ctx_a(), &recorder_def, NULL, NULL, &r), 0);
    assert_int_equal(r.node, node_of(sys_a));
    assert_int_equal(ens_exit_request(ctx_a(), r), 0);
}

/* A system that spawns right after its start, before its gateway has
 * reported the members: the placement waits for that first view instead of
 * finding "no member fits" among none known. */
static void test_a_spawn_at_start_waits_for_the_members(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members(); /* B and C are in the bucket */
    char name_d[48];
    snprintf(name_d, sizeof(name_d), "place-%d-d", (int)getpid());
    ens_system_opts o = member_opts(name_d, NULL);
    ens_system *d = NULL;
    assert_int_equal(ens_system_start(&o, &d), 0);
    ens_addr t = ENS_ADDR_NONE;
    int rc = ens_spawn(ens_system_ctx(d), &trainer_def, NULL, NULL, &t);
    uint32_t own = ens_self(ens_system_ctx(d)).node;
    ens_system_stop(d, 5000);
    if (rc == 0) /* a top-level actor of B's: B ends it */
        ens_exit_request(ens_system_ctx(sys_b), t);
    if (rc < 0)
        fail_msg("spawn right after the start: %s (%s)", ens_strerror(rc), ens_errmsg());
    assert_int_not_equal(t.node, own);
    assert_int_equal(t.node, node_of(sys_b)); /* C has a gpu too, but not the type */
}

static void test_no_place_lists_each_member(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members();
    ens_addr t = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(ctx_a(), &tpu_def, NULL, NULL, &t), ENS_ENOPLACE);
    assert_true(ens_addr_is_none(t));
    const char *why = ens_errmsg();
    assert_has(why, name_a, "tpu missing");
    assert_has(why, name_b, "tpu missing");
    assert_has(why, name_c, "tpu missing");
    rows_seen r = wait_rows(ENS_EV_NOPLACE, "place.Tpu", 1);
    assert_int_equal(r.n, 1);
    assert_has(r.reason, name_b, "tpu missing");
    assert_has(r.reason, name_c, "tpu missing");
}

static void test_remote_refusals_are_reasons(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members();
    ens_addr t;
    assert_int_equal(ens_spawn(ctx_a(), &only_c_def, NULL, NULL, &t), ENS_ENOPLACE);
    const char *why = ens_errmsg();
    assert_has(why, name_a, "gpu missing");
    assert_has(why, name_b, "the capability check refused");
    assert_has(why, name_c, "type place.OnlyC not registered");
    rows_seen r = wait_rows(ENS_EV_NOPLACE, "place.OnlyC", 1);
    assert_int_equal(r.n, 1);
    assert_has(r.reason, name_c, "type place.OnlyC not registered");
}

static ens_addr start_parent(ens_addr *recorder)
{
    assert_int_equal(ens_spawn(ctx_a(), &recorder_def, NULL, NULL, recorder), 0);
    int64_t id = (int64_t)recorder->id;
    ens_addr p;
    assert_int_equal(ens_spawn(ctx_a(), &parent_def, &ens_msg_int64, &id, &p), 0);
    return p;
}

/* Each member's record carries its actor count, and placement tries the
 * member with fewer actors first: with a trainer on B (1 actor) and none on
 * C, C is asked before B (the reasons are in the order tried). */
static void test_fewest_actors_first(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members();
    ens_addr t, w;
    assert_int_equal(ens_spawn(ctx_a(), &trainer_def, NULL, NULL, &t), 0);
    assert_int_equal(t.node, node_of(sys_b));
    assert_int_equal(ens_spawn(ctx_a(), &watcher_def, NULL, NULL, &w), 0);
    char b[64], c[64];
    snprintf(b, sizeof(b), "J%s+gpu#1 ", name_b);
    snprintf(c, sizeof(c), "J%s+gpu#0 ", name_c);
    wait_text(w, "again", b);
    wait_text(w, "again", c);
    assert_int_equal(ens_spawn(ctx_a(), &only_c_def, NULL, NULL, &t), ENS_ENOPLACE);
    const char *why = ens_errmsg();
    const char *at_a = strstr(why, name_a), *at_b = strstr(why, name_b),
               *at_c = strstr(why, name_c);
    assert_non_null(at_a);
    assert_non_null(at_b);
    assert_non_null(at_c);
    if (!(at_a < at_c && at_c < at_b))
        fail_msg("tried in the wrong order: %s", why);
    ens_exit_request(ctx_a(), t);
    ens_exit_request(ctx_a(), w);
}

static void test_no_place_inside_is_child_exited(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members();
    int before = journal_rows(ENS_EV_NOPLACE, "place.Tpu").n;
    ens_addr rec, p = start_parent(&rec);
    const char *child = ask_text(p, "tpu");
    ens_addr c;
    assert_int_equal(ens_addr_parse(child, &c), 0); /* an address at once */
    char want[48];
    snprintf(want, sizeof(want), "exit:%d:%" PRIu32, ENS_EXIT_NOPLACE, node_of(sys_a));
    wait_text(p, "log", want);
    wait_rows(ENS_EV_NOPLACE, "place.Tpu", before + 1);
    /* Nothing lives there: a request to it is refused. */
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ctx_a(), c, &ens_msg_string, &(ens_string_v){"where"}, TEST_WAIT_MS, &r),
        ENS_ENOACTOR);
    ens_msg_free(r); /* the error reply, if one came */
    ens_exit_request(ctx_a(), p);
    ens_exit_request(ctx_a(), rec);
}

static void test_parent_on_another_system(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members();
    ens_addr rec, p = start_parent(&rec);
    char pa[ENS_ADDR_STRLEN], want[96];
    ens_addr_format(p, pa, sizeof(pa));
    /* A child on B knows its parent on A; its end reaches the parent. */
    ens_addr c;
    assert_int_equal(ens_addr_parse(ask_text(p, "trainer"), &c), 0);
    assert_int_equal(c.node, node_of(sys_b));
    snprintf(want, sizeof(want), "node=%" PRIu32 " parent=%s", node_of(sys_b), pa);
    assert_string_equal(ask_text(c, "where"), want);
    assert_int_equal(ens_send(ctx_a(), p, &ens_msg_string, &(ens_string_v){"stop-child"}), 0);
    snprintf(want, sizeof(want), "exit:%d:%" PRIu32, ENS_EXIT_NORMAL, node_of(sys_b));
    wait_text(p, "log", want);
    /* The parent's end asks its child on B to exit and waits for its
     * child-exited (handled by the ending, not by receive): it ends long
     * before its child_exit_timeout_ms only if that came back from B. */
    ens_addr c2;
    assert_int_equal(ens_addr_parse(ask_text(p, "trainer"), &c2), 0);
    assert_int_equal(c2.node, node_of(sys_b));
    assert_int_equal(ens_exit_request(ctx_a(), p), 0);
    wait_text(rec, "?", "terminated");
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ctx_a(), c2, &ens_msg_string, &(ens_string_v){"where"}, TEST_WAIT_MS, &r),
        ENS_ENOACTOR);
    ens_msg_free(r); /* the error reply, if one came */
    ens_exit_request(ctx_a(), rec);
}

/* A request on A's spawn subject; the answer's status (0 with no answer:
 * fails). why gets its text. */
static int hostile(natsConnection *nc, const void *data, size_t len, char *why, size_t why_len)
{
    char subj[96];
    snprintf(subj, sizeof(subj), "ens.%s.spawn.%" PRIu32, test_conv_name, node_of(sys_a));
    natsMsg *reply = NULL;
    natsStatus st = natsConnection_Request(&reply, nc, subj, data, (int)len, TEST_WAIT_MS);
    if (st != NATS_OK)
        fail_msg("no answer to a hostile request: %s", natsStatus_GetText(st));
    size_t n = (size_t)natsMsg_GetDataLength(reply);
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, natsMsg_GetData(reply), n);
    natsMsg_Destroy(reply);
    ens_msg *m = NULL;
    assert_int_equal(ens__msg_from_frame(copy, n, ENS_CTL_MAX, &m), 0);
    assert_int_equal(m->hdr.type_id, ens__ctl_gwspawn.id);
    const ens__ctl_gwspawn_v *v = m->value;
    assert_int_equal(v->op, ENS_GWSPAWN_ANSWER);
    snprintf(why, why_len, "%s", v->why != NULL ? v->why : "");
    int status = v->status;
    ens_msg_free(m);
    return status;
}

static int hostile_frame(natsConnection *nc, ens__ctl_gwspawn_v v, char *why, size_t why_len)
{
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(
        ens__ctl_build((ens_addr){5, v.node, 0}, &ens__ctl_gwspawn, &v, 0, &frame, &len), 0);
    int status = hostile(nc, frame, len, why, why_len);
    free(frame);
    return status;
}

static void test_hostile_spawn_requests_are_refused(void **state)
{
    (void)state;
    TEST_CONV_NEED_SERVER();
    wait_members();
    int before = journal_rows(ENS_EV_BADFRAME, "ens.Gateway").n;
    natsConnection *nc = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, test_conv_server.url), NATS_OK);
    char why[256];
    /* Garbage. */
    const char junk[] = "not a frame at all";
    assert_int_equal(hostile(nc, junk, sizeof(junk), why, sizeof(why)), ENS_EBADFRAME);
    /* Huge: larger than any control frame. */
    size_t big = 200000;
    uint8_t *huge = calloc(1, big);
    assert_non_null(huge);
    assert_int_equal(hostile(nc, huge, big, why, sizeof(why)), ENS_EMSGSIZE);
    free(huge);
    /* Frames of the right type with a field out of bounds. */
    const uint32_t asker = 424242;
    ens__ctl_gwspawn_v ok = {
        .op = ENS_GWSPAWN_ASK, .node = asker, .name = "place.Trainer", .arg = {NULL, 0}};
    ens__ctl_gwspawn_v v = ok;
    v.name = "place Trainer;rm -rf";
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_EBADFRAME);
    assert_non_null(strstr(why, "type name"));
    v = ok;
    v.name = "";
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_EBADFRAME);
    v = ok;
    v.parent = (ens_addr){7, node_of(sys_a), 0}; /* "my child, of your own actor" */
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_EBADFRAME);
    assert_non_null(strstr(why, "parent"));
    v = ok;
    v.flags = 1u << 16; /* an internal flag: kept addresses are this system's business */
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_EBADFRAME);
    v = ok;
    v.node = node_of(sys_a); /* posing as A itself */
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_EBADFRAME);
    v = ok;
    uint8_t not_a_frame[100] = {1, 2, 3};
    v.arg = (ens_bytes){not_a_frame, sizeof(not_a_frame)};
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_EBADFRAME);
    assert_non_null(strstr(why, "start argument"));
    v = ok;
    v.op = ENS_GWSPAWN_FOREIGN;
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_EBADFRAME);
    /* Well formed: A's admin checks it again and refuses (A has no gpu;
     * no such type). */
    assert_int_equal(hostile_frame(nc, ok, why, sizeof(why)), ENS_ENOPLACE);
    assert_string_equal(why, "gpu missing");
    v = ok;
    v.name = "place.Nobody";
    assert_int_equal(hostile_frame(nc, v, why, sizeof(why)), ENS_ENOPLACE);
    assert_string_equal(why, "type place.Nobody not registered");
    natsConnection_Destroy(nc);
    wait_rows(ENS_EV_BADFRAME, "ens.Gateway", before + 9);
    /* A goes on: it places and spawns as before. */
    ens_addr t;
    assert_int_equal(ens_spawn(ctx_a(), &trainer_def, NULL, NULL, &t), 0);
    assert_int_equal(t.node, node_of(sys_b));
    assert_int_equal(ens_exit_request(ctx_a(), t), 0);
    /* ...with the gateway it had: none crashed and was restarted. */
    assert_int_equal(journal_rows(ENS_EV_CRASH, "ens.Gateway").n, 0);
}

/* Without a convention (both bases): a definition with requirements runs
 * only where the built-ins meet them; else ENS_ENOPLACE from outside, and
 * child exited ENS_EXIT_NOPLACE inside an actor. */
static void alone(ens_base base)
{
    static const char *const version_needed[] = {"ens.version", NULL};
    static const ens_actor_def versioned = {
        .name = "place.Versioned", .receive = trainer_receive, .requirements = version_needed};
    char name[48];
    snprintf(name, sizeof(name), "place-%d-alone%d", (int)getpid(), (int)base);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = base;
    o.name = name;
    o.journal_path = "";
    o.log_path = "/dev/null";
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    ens_ctx *c = ens_system_ctx(s);
    ens_addr t = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(c, &trainer_def, NULL, NULL, &t), ENS_ENOPLACE);
    assert_has(ens_errmsg(), name, "gpu missing");
    assert_true(ens_addr_is_none(t));
    assert_int_equal(ens_spawn(c, &versioned, NULL, NULL, &t), 0);
    assert_int_equal(t.node, ens_self(c).node);
    int64_t none = 0;
    ens_addr p;
    assert_int_equal(ens_spawn(c, &parent_def, &ens_msg_int64, &none, &p), 0);
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(c, p, &ens_msg_string, &(ens_string_v){"tpu"}, TEST_WAIT_MS, &r), 0);
    ens_msg_free(r);
    char want[48];
    snprintf(want, sizeof(want), "exit:%d:%" PRIu32, ENS_EXIT_NOPLACE, ens_self(c).node);
    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    for (;;) {
        ens_system_run(s, 50);
        assert_int_equal(ens_ask(c, p, &ens_msg_string, &(ens_string_v){"log"}, TEST_WAIT_MS, &r),
                         0);
        bool seen =
            strstr(((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text, want) != NULL;
        ens_msg_free(r);
        if (seen)
            break;
        if (test_deadline_passed(d))
            fail_msg("the parent never heard child exited NOPLACE");
    }
    ens_system_stop(s, 5000);
}

static void test_without_a_convention_builtins_decide(void **state)
{
    (void)state;
    alone(ENS_BASE_PROCESS);
    alone(ENS_BASE_INPROC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placed_on_the_member_with_a_gpu),
        cmocka_unit_test(test_no_place_lists_each_member),
        cmocka_unit_test(test_remote_refusals_are_reasons),
        cmocka_unit_test(test_fewest_actors_first),
        cmocka_unit_test(test_no_place_inside_is_child_exited),
        cmocka_unit_test(test_parent_on_another_system),
        cmocka_unit_test(test_hostile_spawn_requests_are_refused),
        cmocka_unit_test(test_without_a_convention_builtins_decide),
        cmocka_unit_test(test_a_spawn_at_start_waits_for_the_members),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

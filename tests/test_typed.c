/*
 * tests/test_typed.c - the typed layer (ensemble/typed.h) and the checks of
 * message type registration.
 *
 * The wrappers run on both bases (tests/support/scenario.h): tell, cast,
 * ask, reply, request, reply_to, forward, value-of and a typed start
 * argument, for a type of this file (ENS_MESSAGE), a type shared through a
 * header (ENS_MESSAGE_DECLARE / ENS_MESSAGE_DEFINE, tests/support/
 * typed_point.c) and the built-in ones. Registration: a format whose size
 * is not the struct's, a bad format and a name or id held by another type
 * fail with an ens_errmsg() that names the type; a new type registered while
 * a system started by this program runs is refused on both bases ("register
 * before ens_system_start") and accepted again once it has stopped.
 *
 * That a wrong struct does not compile is checked by tests/typed/check.sh
 * (ctest typed_compile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/scn_reports.h"
#include "support/typed_point.h"

typedef struct salute_v {
    int32_t count;
    char *text;
} salute_v;

ENS_MESSAGE(salute, salute_v, "test.typed.Salute", "S(is)")

typedef struct target_v {
    ens_addr to;
} target_v;

ENS_MESSAGE(target, target_v, "test.typed.Target", "S(" ENS_ADDR_FMT ")")

/* Never registered: an actor tries to, while its system runs. */
typedef struct in_actor_v {
    int32_t n;
} in_actor_v;

ENS_MESSAGE(in_actor, in_actor_v, "test.typed.InActor", "S(i)")

/* ---- actors -------------------------------------------------------------- */

typedef struct greeter_state {
    int64_t sum;   /* of the ens.Int64 told or cast to it */
    int64_t casts; /* how many of them were casts */
} greeter_state;

/* Salute -> salute (count + 1, "hello, TEXT"); Int64 -> added up;
 * Point -> the point mirrored; String "sum"/"casts" -> Int64; String
 * "forward" -> the code of salute_forward on that very string; String
 * "register" -> the code of registering a new type. */
static int greeter_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    greeter_state *st = state;
    const salute_v *g = salute_of(m);
    if (g != NULL) {
        char buf[128];
        snprintf(buf, sizeof(buf), "hello, %s", g->text != NULL ? g->text : "(null)");
        return salute_reply(c, &(salute_v){g->count + 1, buf});
    }
    const ens_int64_v *n = ens_int64_of(m);
    if (n != NULL) {
        st->sum += n->value;
        st->casts += ens_msg_is_cast(m) ? 1 : 0;
        return 0;
    }
    const point_v *p = point_of(m);
    if (p != NULL)
        return point_reply(c, &(point_v){p->y, p->x, p->label});
    const ens_string_v *s = ens_string_of(m);
    if (s == NULL || s->text == NULL)
        return 0;
    if (strcmp(s->text, "sum") == 0)
        return ens_int64_reply(c, &(ens_int64_v){st->sum});
    if (strcmp(s->text, "casts") == 0)
        return ens_int64_reply(c, &(ens_int64_v){st->casts});
    if (strcmp(s->text, "register") == 0) /* a new type, from inside an actor */
        return ens_int64_reply(c, &(ens_int64_v){ens_msgtype_register(&in_actor_msgtype)});
    if (strcmp(s->text, "forward") == 0)
        return ens_int64_reply(c, &(ens_int64_v){salute_forward(c, ens_self(c), m)});
    return 0;
}

static const ens_actor_def greeter_def = {"test.typed.Greeter",
                                          sizeof(greeter_state),
                                          NULL,
                                          greeter_receive,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL};

typedef struct relay_state {
    ens_addr greeter; /* from the typed start argument */
    ens_from asker;   /* the outside ask a request answers */
} relay_state;

static int relay_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    relay_state *st = state;
    const target_v *t = target_of(arg);
    if (t == NULL)
        return ENS_EINVAL;
    st->greeter = t->to;
    return 0;
}

static void relay_answered(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    (void)tag;
    relay_state *st = state;
    const salute_v *g = status == 0 ? salute_of(reply) : NULL;
    char buf[160];
    snprintf(buf, sizeof(buf), "via request: %s", g != NULL ? g->text : ens_strerror(status));
    salute_reply_to(c, st->asker, 0, &(salute_v){g != NULL ? g->count : status, buf});
}

/* Salute -> forwarded to the greeter (which answers the asker); String
 * "request" -> a typed request to the greeter, answered with reply_to. */
static int relay_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    relay_state *st = state;
    if (salute_of(m) != NULL)
        return salute_forward(c, st->greeter, m);
    if (msg_is_text(m, "request")) {
        st->asker = ens_from_current(c);
        return salute_request(c, st->greeter, &(salute_v){40, "relay"}, SCN_WAIT_MS, relay_answered,
                              0);
    }
    return 0;
}

static const ens_actor_def relay_def = {"test.typed.Relay",
                                        sizeof(relay_state),
                                        relay_init,
                                        relay_receive,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};

/* ---- the wrappers on both bases ----------------------------------------------- */

static ens_addr spawn_greeter(scn *t)
{
    return spawn_ok(t, &greeter_def, NULL, NULL);
}

static void test_typed_ask_and_reply(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr g = spawn_greeter(t);

    ens_msg *r = NULL;
    assert_int_equal(salute_ask(t->out, g, &(salute_v){1, "typed"}, SCN_WAIT_MS, &r), 0);
    const salute_v *back = salute_of(r);
    assert_non_null(back);
    assert_int_equal(back->count, 2);
    assert_string_equal(back->text, "hello, typed");
    /* value-of is NULL for every other type */
    assert_null(ens_int64_of(r));
    assert_null(ens_string_of(r));
    assert_null(point_of(r));
    assert_null(salute_of(NULL));
    ens_msg_free(r);

    /* the shared type (declared in a header, defined in one .c) */
    assert_int_equal(point_ask(t->out, g, &(point_v){3, 4, "p"}, SCN_WAIT_MS, &r), 0);
    const point_v *p = point_of(r);
    assert_non_null(p);
    assert_int_equal(p->x, 4);
    assert_int_equal(p->y, 3);
    assert_string_equal(p->label, "p");
    ens_msg_free(r);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static int64_t ask_int64(scn *t, ens_addr to, const char *text)
{
    ens_msg *r = NULL;
    assert_int_equal(ens_string_ask(t->out, to, &(ens_string_v){(char *)text}, SCN_WAIT_MS, &r), 0);
    const ens_int64_v *v = ens_int64_of(r);
    assert_non_null(v);
    int64_t n = v->value;
    ens_msg_free(r);
    return n;
}

static void test_typed_tell_and_cast_builtins(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr g = spawn_greeter(t);

    assert_int_equal(ens_int64_tell(t->out, g, &(ens_int64_v){41}), 0);
    assert_int_equal(ens_int64_cast(t->out, g, &(ens_int64_v){1}), 0);
    /* the asks come after the tells from the same sender: order per pair */
    assert_int_equal(ask_int64(t, g, "sum"), 42);
    assert_int_equal(ask_int64(t, g, "casts"), 1);
    /* a typed forward refuses a message of another type */
    assert_int_equal(ask_int64(t, g, "forward"), ENS_EBADTYPE);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_typed_forward_request_and_start_argument(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr g = spawn_greeter(t);
    ens_addr relay = spawn_ok(t, &relay_def, &target_msgtype, &(target_v){g});

    /* forwarded: the greeter answers the outside's ask */
    ens_msg *r = NULL;
    assert_int_equal(salute_ask(t->out, relay, &(salute_v){9, "fwd"}, SCN_WAIT_MS, &r), 0);
    assert_non_null(salute_of(r));
    assert_int_equal(salute_of(r)->count, 10);
    assert_string_equal(salute_of(r)->text, "hello, fwd");
    assert_addr_equal(ens_msg_sender(r), g);
    ens_msg_free(r);

    /* a typed request from the relay, answered with a typed reply_to */
    assert_int_equal(ens_string_ask(t->out, relay, &(ens_string_v){"request"}, SCN_WAIT_MS, &r), 0);
    assert_non_null(salute_of(r));
    assert_int_equal(salute_of(r)->count, 41);
    assert_string_equal(salute_of(r)->text, "via request: hello, relay");
    ens_msg_free(r);

    /* the typed encode is the frame a start argument travels in */
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(target_encode(&(target_v){g}, &frame, &len), 0);
    ens_msg *m = NULL;
    assert_int_equal(ens_msg_decode(frame, len, &m), 0);
    assert_non_null(target_of(m));
    assert_addr_equal(target_of(m)->to, g);
    ens_msg_free(m);
    free(frame);

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* A type registered while a system runs: refused on both bases, with a text
 * naming it; accepted once the system has stopped. One type object per base
 * (the first base's run registers its own after the stop). */
typedef struct late_v {
    int32_t n;
} late_v;

ENS_MESSAGE(late_inproc, late_v, "test.typed.LateInproc", "S(i)")
ENS_MESSAGE(late_process, late_v, "test.typed.LateProcess", "S(i)")

static void test_register_after_start_is_refused(void **state)
{
    scn *t = *state;
    bool inproc = t->base == ENS_BASE_INPROC;
    ens_msgtype *late = inproc ? &late_inproc_msgtype : &late_process_msgtype;
    scn_start(t, NULL);

    assert_int_equal(inproc ? late_inproc_register() : late_process_register(), ENS_EINVAL);
    assert_non_null(strstr(ens_errmsg(), late->name));
    assert_non_null(strstr(ens_errmsg(), "register before ens_system_start"));
    assert_null(ens_msgtype_find(late->name));
    assert_int_equal(late->id, 0);
    /* an actor is refused too (on the process base, in its own process) */
    ens_addr g = spawn_greeter(t);
    assert_int_equal(ask_int64(t, g, "register"), ENS_EINVAL);
    assert_null(ens_msgtype_find(in_actor_msgtype.name));
    /* a type registered before the start: again is still fine */
    assert_int_equal(salute_register(), 0);
    assert_string_equal(ens_errmsg(), "");

    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    assert_int_equal(ens_msgtype_register(late), 0);
    assert_ptr_equal(ens_msgtype_find(late->name), late);
}

/* ---- registration errors (no system) ----------------------------------------- */

typedef struct padded_v {
    int32_t count;
    char *text;
    int32_t extra;
} padded_v;

static void test_size_mismatch_names_both_sizes(void **state)
{
    (void)state;
    static ens_msgtype wrong = {"demo.Greeting", "S(is)", sizeof(padded_v), 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&wrong), ENS_EINVAL);
    char want[128];
    snprintf(want, sizeof(want),
             "demo.Greeting: format S(is) describes %zu bytes, the struct has %zu",
             sizeof(salute_v), sizeof(padded_v));
    assert_string_equal(ens_errmsg(), want);
    assert_null(ens_msgtype_find("demo.Greeting"));
}

static void test_bad_format_and_name_name_the_type(void **state)
{
    (void)state;
    static ens_msgtype bad = {"test.typed.Bad", "S(i#)", 4, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&bad), ENS_EINVAL);
    assert_non_null(strstr(ens_errmsg(), "test.typed.Bad"));
    assert_non_null(strstr(ens_errmsg(), "S(i#)"));

    static ens_msgtype spaced = {"test typed", "S(i)", 4, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&spaced), ENS_EINVAL);
    assert_non_null(strstr(ens_errmsg(), "'test typed'"));

    assert_int_equal(ens_msgtype_register(NULL), ENS_EINVAL);
    assert_string_not_equal(ens_errmsg(), "");
}

static void test_clashes_name_the_holder(void **state)
{
    (void)state;
    /* the same name as a registered type */
    static ens_msgtype twin = {"test.typed.Salute", "S(i)", 4, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&twin), ENS_EEXIST);
    assert_non_null(strstr(ens_errmsg(), "test.typed.Salute"));
    assert_non_null(strstr(ens_errmsg(), "S(is)")); /* the holder's format */

    /* another name with the same id: "costarring" and "liquid" collide */
    static ens_msgtype a = {"costarring", "S(i)", 4, 0, 0, NULL};
    static ens_msgtype b = {"liquid", "S(i)", 4, 0, 0, NULL};
    assert_int_equal(ens_msgtype_register(&a), 0);
    assert_string_equal(ens_errmsg(), "");
    assert_int_equal(ens_msgtype_register(&b), ENS_EEXIST);
    assert_non_null(strstr(ens_errmsg(), "liquid"));
    assert_non_null(strstr(ens_errmsg(), "is held by costarring"));
}

/* ---- main ---------------------------------------------------------------- */

static const struct CMUnitTest scenarios[] = {
    SCN_TEST(test_typed_ask_and_reply),
    SCN_TEST(test_typed_tell_and_cast_builtins),
    SCN_TEST(test_typed_forward_request_and_start_argument),
    SCN_TEST(test_register_after_start_is_refused),
};

static const struct CMUnitTest registration[] = {
    cmocka_unit_test(test_size_mismatch_names_both_sizes),
    cmocka_unit_test(test_bad_format_and_name_name_the_type),
    cmocka_unit_test(test_clashes_name_the_holder),
};

int main(void)
{
    if (salute_register() != 0 || target_register() != 0 || point_register() != 0)
        return 1;
    int failed = cmocka_run_group_tests_name("typed_registration", registration, NULL, NULL);
    return failed + scn_run_bases("typed", scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}

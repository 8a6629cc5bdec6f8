/*
 * tests/test_wrong_thread.c - the outside context belongs to the thread
 * that started or connected its system: every outside call from another
 * thread, and every call on it from inside an actor (inproc: the same
 * thread, inside the loop; process base: the copy an actor process
 * inherited), returns ENS_EWRONGTHREAD, with ens_errmsg naming the owning
 * thread and the caller's; the system goes on untouched and its owner
 * uses and closes it as usual. On every base.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/scenario.h"

typedef struct handle_v {
    int64_t ctx; /* the starting program's outside context (its address) */
    int64_t sys;
} handle_v;
static ens_msgtype handle_t = {"wt.Handle", "S(II)", sizeof(handle_v), 0, 0, NULL};

static int echo_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    if (!ens_msg_is_request(m))
        return 0;
    return ens_reply(c, &ens_msg_string, &(ens_string_v){"pong"});
}

static const ens_actor_def echo_def = {"wt.Echo", 0,    NULL, echo_receive, NULL,
                                       NULL,      NULL, NULL, NULL};

/* ---- another thread ------------------------------------------------------ */

enum { N_CALLS = 17 };

typedef struct other_thread {
    ens_system *sys;
    ens_addr echo;
    int rc[N_CALLS];
    const char *what[N_CALLS];
    size_t n;
    char errmsg[512]; /* after the first call */
    pid_t tid;
} other_thread;

static void note(other_thread *o, const char *what, int rc)
{
    if (o->n < N_CALLS) {
        o->what[o->n] = what;
        o->rc[o->n++] = rc;
    }
}

static int no_type(const ens_type_desc *t, void *arg)
{
    (void)t;
    (void)arg;
    return 1; /* never called: the call is refused before */
}

static void *other_main(void *arg)
{
    other_thread *o = arg;
    ens_ctx *out = ens_system_ctx(o->sys);
    o->tid = gettid();
    ens_msg *r = NULL;
    ens_string_v hi = {"hi"};
    note(o, "ask", ens_ask(out, o->echo, &ens_msg_string, &hi, SCN_WAIT_MS, &r));
    snprintf(o->errmsg, sizeof(o->errmsg), "%s", ens_errmsg());
    ens_msg_free(r);
    note(o, "send", ens_send(out, o->echo, &ens_msg_string, &hi));
    note(o, "cast", ens_cast(out, o->echo, &ens_msg_string, &hi));
    ens_addr a;
    note(o, "spawn", ens_spawn(out, &echo_def, NULL, NULL, &a));
    note(o, "name_spawn", ens_name_spawn(out, "wt-named", &echo_def, NULL, NULL, &a));
    note(o, "name_lookup", ens_name_lookup(out, "wt-named", &a));
    note(o, "name_send", ens_name_send(out, "wt-named", &ens_msg_string, &hi));
    ens_status *st = NULL;
    note(o, "status", ens_system_status(o->sys, SCN_WAIT_MS, &st));
    ens_status_free(st);
    note(o, "listen", ens_listen(out, 0, &r));
    ens_msg_free(r);
    note(o, "run", ens_system_run(o->sys, 0));
    note(o, "types", ens_system_types(o->sys, SCN_WAIT_MS, no_type, NULL));
    note(o, "exit_request", ens_exit_request(out, o->echo));
    note(o, "kill", ens_kill(out, o->echo));
    note(o, "gen_server_call",
         ens_gen_server_call(out, o->echo, &ens_msg_string, &hi, SCN_WAIT_MS, NULL, 0, &r));
    ens_msg_free(r);
    note(o, "supervisor_which", ens_supervisor_which_children_wait(out, o->echo, &r));
    ens_msg_free(r);
    /* Refused, and s stays open: its owner may be inside a call on it. */
    note(o, "close", ens_system_close(o->sys, SCN_WAIT_MS));
    note(o, "stop", ens_system_stop(o->sys, SCN_WAIT_MS));
    return NULL;
}

static void run_other_thread(other_thread *o)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_main, o), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

static void assert_all_refused(const other_thread *o)
{
    assert_int_equal(o->n, N_CALLS);
    for (size_t i = 0; i < o->n; i++) {
        if (o->rc[i] != ENS_EWRONGTHREAD)
            fail_msg("%s from another thread returned %s, not ENS_EWRONGTHREAD", o->what[i],
                     ens_err_name(o->rc[i]));
    }
    char owner[32], caller[32];
    snprintf(owner, sizeof(owner), "thread %d", (int)gettid());
    snprintf(caller, sizeof(caller), "thread %d", (int)o->tid);
    if (strstr(o->errmsg, owner) == NULL || strstr(o->errmsg, caller) == NULL)
        fail_msg("ens_errmsg does not name %s and %s: %s", owner, caller, o->errmsg);
}

static void assert_owner_asks(ens_system *s, ens_addr echo)
{
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ens_system_ctx(s), echo, &ens_msg_string, &(ens_string_v){"hi"}, SCN_WAIT_MS, &r),
        0);
    const ens_string_v *v = ens_msg_value(r, &ens_msg_string);
    assert_non_null(v);
    assert_string_equal(v->text, "pong");
    ens_msg_free(r);
}

static void test_started_system_refuses_other_threads(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    other_thread o = {.sys = t->sys};
    assert_int_equal(ens_spawn(t->out, &echo_def, NULL, NULL, &o.echo), 0);
    run_other_thread(&o);
    assert_all_refused(&o);
    /* Nothing of those calls happened: the echo lives, no name was taken. */
    assert_owner_asks(t->sys, o.echo);
    ens_addr a;
    assert_int_equal(ens_name_lookup(t->out, "wt-named", &a), ENS_ENOENT);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_connected_system_refuses_other_threads(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip(); /* connecting by name is the process base's */
    char name[64];
    snprintf(name, sizeof(name), "wrong-thread-%d", (int)getpid());
    char journal[96];
    snprintf(journal, sizeof(journal), "/tmp/ens-wrong-thread-%d.db", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = journal; /* not the user's state directory */
    scn_start(t, &o);
    ens_addr echo;
    assert_int_equal(ens_spawn(t->out, &echo_def, NULL, NULL, &echo), 0);
    ens_system *connected = NULL;
    assert_int_equal(ens_system_connect(name, &connected), 0);
    other_thread ot = {.sys = connected, .echo = echo};
    run_other_thread(&ot);
    assert_all_refused(&ot);
    assert_owner_asks(connected, echo);
    assert_int_equal(ens_system_close(connected, SCN_WAIT_MS), 0);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s%s", journal, suffix[i]);
        unlink(p);
    }
}

/* ---- inside an actor ---------------------------------------------------- */

/* Told the program's handles, use them as an actor must not: "ask" replies
 * with the codes of the calls, "fail" returns ens_ask's code as the
 * handler's error (so the asker sees the poison, not a timeout). */
static int misuser_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const handle_v *h = ens_msg_value(m, &handle_t);
    if (h == NULL)
        return 0;
    ens_ctx *out = (ens_ctx *)(uintptr_t)h->ctx;
    ens_system *sys = (ens_system *)(uintptr_t)h->sys;
    ens_msg *r = NULL;
    ens_string_v hi = {"hi"};
    int ask = ens_ask(out, ens_self(c), &ens_msg_string, &hi, SCN_WAIT_MS, &r);
    ens_msg_free(r);
    if (h->sys == -1)
        return ask < 0 ? ask : ENS_EIO; /* "fail": the handler's error is the refusal */
    ens_addr a;
    int send = ens_send(out, ens_self(c), &ens_msg_string, &hi);
    int spawn = ens_spawn(out, &echo_def, NULL, NULL, &a);
    int lookup = ens_name_lookup(out, "anything", &a);
    int close = ens_system_close(sys, SCN_WAIT_MS);
    int stop = ens_system_stop(sys, SCN_WAIT_MS);
    char line[200];
    snprintf(line, sizeof(line), "ask %d send %d spawn %d lookup %d close %d stop %d", ask, send,
             spawn, lookup, close, stop);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){line});
}

static const ens_actor_def misuser_def = {"wt.Misuser", 0,    NULL, misuser_receive, NULL, NULL,
                                          NULL,         NULL, NULL};

static void test_outside_context_refused_inside_an_actor(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr a;
    assert_int_equal(ens_spawn(t->out, &misuser_def, NULL, NULL, &a), 0);
    handle_v h = {(int64_t)(uintptr_t)t->out, (int64_t)(uintptr_t)t->sys};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(t->out, a, &handle_t, &h, SCN_WAIT_MS, &r), 0);
    const ens_string_v *line = ens_msg_value(r, &ens_msg_string);
    assert_non_null(line);
    char want[200];
    const int e = ENS_EWRONGTHREAD;
    snprintf(want, sizeof(want), "ask %d send %d spawn %d lookup %d close %d stop %d", e, e, e, e,
             e, e);
    assert_string_equal(line->text, want);
    ens_msg_free(r);
    /* A handler that fails with the refusal: retried, then poisoned - the
     * asker hears ENS_EPOISON, not a timeout. */
    h.sys = -1;
    assert_int_equal(ens_ask(t->out, a, &handle_t, &h, SCN_WAIT_MS, &r), ENS_EPOISON);
    ens_msg_free(r);
    /* The system was neither closed nor stopped by those calls. */
    ens_addr echo;
    assert_int_equal(ens_spawn(t->out, &echo_def, NULL, NULL, &echo), 0);
    assert_owner_asks(t->sys, echo);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_started_system_refuses_other_threads),
    SCN_TEST(test_connected_system_refuses_other_threads),
    SCN_TEST(test_outside_context_refused_inside_an_actor),
};

int main(void)
{
    if (ens_msgtype_register(&handle_t) != 0 || ens_actor_register(&echo_def) != 0)
        return 1;
    return scn_run_bases("wrong_thread", tests, sizeof(tests) / sizeof(tests[0]));
}

/*
 * tests/test_registry.c - global names (ensemble/registry.h).
 *
 * The scenarios run on both bases (tests/support/scenario.h): create-or-get
 * from outside and from actors, lookups, registration rules, names freed
 * when their actor ends, sending by name (and dead letters for a name
 * nobody has), names in the status, and actors racing for one name inside
 * the system. Process-only: a crash absorbed by a restart keeps the name,
 * the DEAD_LETTER journal row, and eight forked programs connected by name
 * racing to create-or-get one name, which must start exactly one actor.
 *
 * Actors never assert; they answer with reg.Report messages. A counter in
 * shared memory counts inits across every process.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/scenario.h"

typedef struct report_v {
    int32_t rc;
    int32_t spare;
    ens_addr addr;
} report_v;
static ens_msgtype report_t = {"reg.Report", "S(ii" ENS_ADDR_FMT ")", sizeof(report_v), 0, 0, NULL};

typedef struct shared {
    int inits; /* echo inits, over every process */
} shared;
static shared *sh;

/* ---- actors ------------------------------------------------------------- */

static int echo_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c, (void)state, (void)arg;
    __atomic_fetch_add(&sh->inits, 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* Replies with the text; "crash" kills its process on the first delivery
 * (the redelivery after the restart answers "survived"); "stop" stops it. */
static int echo_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL)
        return 0;
    if (strcmp(s->text, "crash") == 0) {
        if (ens_msg_attempt(m) == 1)
            raise(SIGKILL);
        return ens_reply(c, &ens_msg_string, &(ens_string_v){"survived"});
    }
    if (strcmp(s->text, "stop") == 0)
        return ens_stop(c, ENS_EXIT_NORMAL, 0);
    return ens_reply(c, &ens_msg_string, s);
}

static const ens_actor_def echo_def = {
    .name = "reg.Echo", .init = echo_init, .receive = echo_receive};

/* Runs one registry call per string command and replies a report:
 * "register NAME", "unregister", "spawn NAME", "lookup NAME", "send NAME". */
static int namer_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL)
        return 0;
    report_v r = {0, 0, ENS_ADDR_NONE};
    const char *arg = strchr(s->text, ' ');
    arg = arg != NULL ? arg + 1 : "";
    if (strncmp(s->text, "register ", 9) == 0)
        r.rc = ens_name_register(c, arg);
    else if (strcmp(s->text, "unregister") == 0)
        r.rc = ens_name_unregister(c);
    else if (strncmp(s->text, "spawn ", 6) == 0)
        r.rc = ens_name_spawn(c, arg, &echo_def, NULL, NULL, &r.addr);
    else if (strncmp(s->text, "lookup ", 7) == 0)
        r.rc = ens_name_lookup(c, arg, &r.addr);
    else if (strncmp(s->text, "send ", 5) == 0)
        r.rc = ens_name_send(c, arg, &ens_msg_string, &(ens_string_v){"from namer"});
    else
        r.rc = -1;
    return ens_reply(c, &report_t, &r);
}

static const ens_actor_def namer_def = {.name = "reg.Namer", .receive = namer_receive};

/* The dead-letter handler: the first message it gets (from the test) says
 * where to report; each dead envelope's reason goes there as a string. */
typedef struct collector_state {
    ens_addr report_to;
} collector_state;

static int collector_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state, (void)arg;
    return ens_dead_letters_handle(c, true);
}

static int collector_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    collector_state *st = state;
    const ens_dead_envelope_v *d = ens_msg_value(m, &ens_msg_dead_envelope);
    if (d != NULL)
        return ens_send(c, st->report_to, &ens_msg_string, &(ens_string_v){d->reason});
    st->report_to = ens_msg_sender(m);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){"ready"});
}

static const ens_actor_def collector_def = {.name = "reg.Collector",
                                            .state_size = sizeof(collector_state),
                                            .init = collector_init,
                                            .receive = collector_receive};

/* ---- helpers ------------------------------------------------------------ */

static void expect_text(scn *t, ens_addr to, const char *text, const char *want)
{
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(t->out, to, &ens_msg_string, &(ens_string_v){(char *)text}, SCN_WAIT_MS, &r), 0);
    const ens_string_v *v = ens_msg_value(r, &ens_msg_string);
    assert_non_null(v);
    assert_string_equal(v->text, want);
    ens_msg_free(r);
}

/* Ask actor `to` to run command `cmd`; returns its report. */
static report_v command(scn *t, ens_addr to, const char *cmd)
{
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(t->out, to, &ens_msg_string, &(ens_string_v){(char *)cmd}, SCN_WAIT_MS, &r), 0);
    const report_v *v = ens_msg_value(r, &report_t);
    assert_non_null(v);
    report_v copy = *v;
    ens_msg_free(r);
    return copy;
}

static ens_addr spawn(scn *t, const ens_actor_def *d)
{
    ens_addr a;
    assert_int_equal(ens_spawn(t->out, d, NULL, NULL, &a), 0);
    return a;
}

/* Wait until `name` is free (its actor's end has been processed). */
static void wait_name_gone(scn *t, const char *name)
{
    int64_t deadline = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    ens_addr a;
    while (ens_name_lookup(t->out, name, &a) == 0) {
        assert_true(scn_now_ns() < deadline);
        ens_system_run(t->sys, 10);
    }
}

/* The status row of addr (copied fields), or fails. */
static void status_name(scn *t, ens_addr addr, char *name, size_t len, uint32_t *incarnation)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    bool found = false;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (ens_addr_equal(a->addr, addr)) {
            snprintf(name, len, "%s", a->name != NULL ? a->name : "");
            if (incarnation != NULL)
                *incarnation = a->incarnation;
            found = true;
        }
    }
    ens_status_free(st);
    assert_true(found);
}

/* ---- scenarios (both bases) --------------------------------------------- */

static void test_name_spawn_creates_once_then_gets(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    sh->inits = 0;
    ens_addr a, b, c;
    assert_int_equal(ens_name_spawn(t->out, "echo", &echo_def, NULL, NULL, &a), 0);
    assert_int_equal(sh->inits, 1); /* init has run when an outside spawn returns */
    assert_int_equal(ens_name_spawn(t->out, "echo", &echo_def, NULL, NULL, &b), 1);
    assert_true(ens_addr_equal(a, b));
    assert_int_equal(ens_name_lookup(t->out, "echo", &c), 0);
    assert_true(ens_addr_equal(a, c));
    expect_text(t, c, "hi", "hi");
    assert_int_equal(sh->inits, 1);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_invalid_names_are_einval(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    char longest[ENS_NAME_MAX + 2];
    memset(longest, 'x', sizeof(longest));
    longest[ENS_NAME_MAX] = '\0';
    assert_true(ens_name_valid(longest));
    assert_true(ens_name_valid("shop.orders/eu-1_a"));
    longest[ENS_NAME_MAX] = 'x';
    longest[ENS_NAME_MAX + 1] = '\0';
    const char *bad[] = {longest, "", "a b", "ens:1/16", "-lead", ".dot", "tab\t", "é", "$1"};
    ens_addr a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(ens_name_valid(bad[i]));
        assert_int_equal(ens_name_lookup(t->out, bad[i], &a), ENS_EINVAL);
        assert_int_equal(ens_name_spawn(t->out, bad[i], &echo_def, NULL, NULL, &a), ENS_EINVAL);
        assert_int_equal(ens_name_send(t->out, bad[i], &ens_msg_string, &(ens_string_v){"x"}),
                         ENS_EINVAL);
    }
    assert_false(ens_name_valid(NULL));
    /* Unknown spawn flags: nothing starts, the name stays free. (The
     * supervisor suites use ENS_SPAWN_NOTIFY_START and NO_RESTART.) */
    assert_int_equal(ens_name_spawn_flags(t->out, "flagged", &echo_def, NULL, NULL, 1u << 7, &a),
                     ENS_EINVAL);
    assert_int_equal(ens_name_lookup(t->out, "flagged", &a), ENS_ENOENT);
    assert_int_equal(ens_name_lookup(t->out, NULL, &a), ENS_EINVAL);
    assert_int_equal(ens_name_lookup(t->out, "nobody", &a), ENS_ENOENT);
    /* Naming and unnaming are for actors. */
    assert_int_equal(ens_name_register(t->out, "outside"), ENS_EINVAL);
    assert_int_equal(ens_name_unregister(t->out), ENS_EINVAL);
    ens_addr n = spawn(t, &namer_def);
    assert_int_equal(command(t, n, "register a b").rc, ENS_EINVAL);
    assert_int_equal(command(t, n, "lookup ens:1/2").rc, ENS_EINVAL);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_register_rules_one_name_per_actor(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr x = spawn(t, &namer_def), y = spawn(t, &namer_def), at;
    assert_int_equal(command(t, x, "register alpha").rc, 0);
    assert_int_equal(command(t, x, "register alpha").rc, 0); /* again: a no-op */
    assert_int_equal(command(t, y, "register alpha").rc, ENS_EEXIST);
    assert_int_equal(command(t, x, "register beta").rc, ENS_EEXIST); /* has one */
    assert_int_equal(ens_name_lookup(t->out, "alpha", &at), 0);
    assert_true(ens_addr_equal(at, x));
    report_v r = command(t, y, "lookup alpha");
    assert_int_equal(r.rc, 0);
    assert_true(ens_addr_equal(r.addr, x));
    assert_int_equal(command(t, y, "unregister").rc, ENS_ENOENT);
    assert_int_equal(command(t, x, "unregister").rc, 0);
    assert_int_equal(ens_name_lookup(t->out, "alpha", &at), ENS_ENOENT);
    assert_int_equal(command(t, y, "register alpha").rc, 0);
    assert_int_equal(ens_name_lookup(t->out, "alpha", &at), 0);
    assert_true(ens_addr_equal(at, y));
    /* A name taken by registration is got, not created, by a named spawn. */
    ens_addr got;
    assert_int_equal(ens_name_spawn(t->out, "alpha", &echo_def, NULL, NULL, &got), 1);
    assert_true(ens_addr_equal(got, y));
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_name_freed_when_actor_ends(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr a, b;
    assert_int_equal(ens_name_spawn(t->out, "short-lived", &echo_def, NULL, NULL, &a), 0);
    assert_int_equal(ens_send(t->out, a, &ens_msg_string, &(ens_string_v){"stop"}), 0);
    wait_name_gone(t, "short-lived");
    assert_int_equal(ens_name_spawn(t->out, "short-lived", &echo_def, NULL, NULL, &b), 0);
    assert_false(ens_addr_equal(a, b));
    expect_text(t, b, "again", "again");
    /* An exit request ends it for good too. */
    assert_int_equal(ens_exit_request(t->out, b), 0);
    wait_name_gone(t, "short-lived");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_name_send_delivers_or_dead_letters(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr e;
    assert_int_equal(ens_name_spawn(t->out, "echo", &echo_def, NULL, NULL, &e), 0);
    /* A send by name is a send: the echo answers the outside endpoint. */
    assert_int_equal(ens_name_send(t->out, "echo", &ens_msg_string, &(ens_string_v){"by name"}), 0);
    ens_msg *m = scn_listen_type(t, &ens_msg_string, SCN_WAIT_MS);
    assert_string_equal(((const ens_string_v *)ens_msg_value(m, &ens_msg_string))->text, "by name");
    ens_msg_free(m);

    /* No such name: a dead letter whose reason names the name, returning 0. */
    ens_addr col = spawn(t, &collector_def);
    expect_text(t, col, "report here", "ready");
    assert_int_equal(ens_name_send(t->out, "nobody", &ens_msg_string, &(ens_string_v){"lost"}), 0);
    m = scn_listen_type(t, &ens_msg_string, SCN_WAIT_MS);
    assert_string_equal(((const ens_string_v *)ens_msg_value(m, &ens_msg_string))->text,
                        "no such name: nobody");
    ens_msg_free(m);
    /* The same from inside an actor. */
    ens_addr n = spawn(t, &namer_def);
    assert_int_equal(command(t, n, "send nobody-either").rc, 0);
    m = scn_listen_type(t, &ens_msg_string, SCN_WAIT_MS);
    assert_string_equal(((const ens_string_v *)ens_msg_value(m, &ens_msg_string))->text,
                        "no such name: nobody-either");
    ens_msg_free(m);

    /* Without a handler: a DEAD_LETTER event (checked here on inproc; the
     * process base's journal row is test_dead_letter_row_in_journal). */
    assert_int_equal(ens_exit_request(t->out, col), 0);
    ens_system_run(t->sys, 100);
    scn_events_clear(t);
    assert_int_equal(ens_name_send(t->out, "ghost", &ens_msg_string, &(ens_string_v){"x"}), 0);
    if (scn_events_local(t)) {
        ens_system_run(t->sys, 100);
        assert_int_equal(scn_events_count(t, ENS_EV_DEAD_LETTER, ENS_ADDR_NONE), 1);
    }
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_actors_race_for_one_name(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    sh->inits = 0;
    enum { N = 6 };
    ens_addr namers[N];
    for (int i = 0; i < N; i++)
        namers[i] = spawn(t, &namer_def);
    for (int i = 0; i < N; i++) /* all at once: nobody waits for an answer */
        assert_int_equal(
            ens_send(t->out, namers[i], &ens_msg_string, &(ens_string_v){"spawn inner"}), 0);
    int created = 0, got = 0;
    ens_addr first = ENS_ADDR_NONE, creator = ENS_ADDR_NONE;
    for (int i = 0; i < N; i++) {
        ens_msg *m = scn_listen_type(t, &report_t, SCN_WAIT_MS);
        const report_v *r = ens_msg_value(m, &report_t);
        if (r->rc == 0) {
            created++;
            creator = ens_msg_sender(m);
        } else {
            assert_int_equal(r->rc, 1);
            got++;
        }
        if (i == 0)
            first = r->addr;
        assert_true(ens_addr_equal(first, r->addr));
        ens_msg_free(m);
    }
    assert_int_equal(created, 1);
    assert_int_equal(got, N - 1);
    expect_text(t, first, "one", "one");
    assert_int_equal(sh->inits, 1);
    /* The named actor is its creator's child, and the status names it. */
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    int echoes = 0;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (strcmp(a->type, "reg.Echo") != 0)
            continue;
        echoes++;
        assert_true(ens_addr_equal(a->parent, creator));
        assert_non_null(a->name);
        assert_string_equal(a->name, "inner");
    }
    ens_status_free(st);
    assert_int_equal(echoes, 1);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_status_carries_names(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr named, plain = spawn(t, &echo_def);
    assert_int_equal(ens_name_spawn(t->out, "svc.named", &echo_def, NULL, NULL, &named), 0);
    char name[ENS_NAME_MAX + 1];
    status_name(t, named, name, sizeof(name), NULL);
    assert_string_equal(name, "svc.named");
    status_name(t, plain, name, sizeof(name), NULL);
    assert_string_equal(name, "");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- process only ------------------------------------------------------- */

static void test_crash_restart_keeps_name(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip();
    scn_start(t, NULL);
    ens_addr a, b;
    assert_int_equal(ens_name_spawn(t->out, "phoenix", &echo_def, NULL, NULL, &a), 0);
    expect_text(t, a, "crash", "survived"); /* killed, restarted in place, redelivered */
    assert_int_equal(ens_name_lookup(t->out, "phoenix", &b), 0);
    assert_true(ens_addr_equal(a, b));
    char name[ENS_NAME_MAX + 1];
    uint32_t incarnation = 0;
    status_name(t, a, name, sizeof(name), &incarnation);
    assert_string_equal(name, "phoenix");
    assert_int_equal(incarnation, 2);
    assert_int_equal(ens_name_spawn(t->out, "phoenix", &echo_def, NULL, NULL, &b), 1);
    assert_true(ens_addr_equal(a, b));
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

typedef struct row_seen {
    int n;
    char reason[128];
} row_seen;

static int keep_reason(const ens_journal_row *row, void *arg)
{
    row_seen *s = arg;
    if (strstr(row->ev.reason, "no such name") != NULL) {
        s->n++;
        snprintf(s->reason, sizeof(s->reason), "%s", row->ev.reason);
    }
    return 0;
}

static void test_dead_letter_row_in_journal(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip();
    char dir[] = "/tmp/ens-reg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/j.db", dir);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = path;
    scn_start(t, &o);
    assert_int_equal(ens_name_send(t->out, "ghost", &ens_msg_string, &(ens_string_v){"x"}), 0);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0); /* the writer has committed */
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(path, &j), 0);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_DEAD_LETTER;
    row_seen seen = {0, ""};
    assert_true(ens_journal_query(j, &f, keep_reason, &seen) >= 0);
    ens_journal_close(j);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.reason, "no such name: ghost");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* One racing program: connect by name, wait for the start signal, create-
 * or-get, write (rc, addr) to out, detach. Never returns. */
_Noreturn static void racer(const char *system_name, int go, int out)
{
    report_v r = {ENS_EIO, 0, ENS_ADDR_NONE};
    ens_system *s = NULL;
    int rc = ens_system_connect(system_name, &s);
    char b;
    if (read(go, &b, 1) < 0) /* returns 0 when the test closes the pipe */
        _exit(3);
    if (rc == 0)
        r.rc = ens_name_spawn(ens_system_ctx(s), "the-one", &echo_def, NULL, NULL, &r.addr);
    else
        r.rc = rc;
    if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(4);
    if (s != NULL)
        ens_system_close(s, 5000); /* detaches */
    _exit(0);
}

static void test_programs_race_for_one_name(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip();
    char name[64];
    snprintf(name, sizeof(name), "test-reg-race-%d", (int)getpid());
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = name;
    o.journal_path = "";
    scn_start(t, &o);
    sh->inits = 0;
    enum { N = 8 };
    int go[2], res[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(res), 0);
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            close(res[0]);
            racer(name, go[0], res[1]);
        }
    }
    close(go[0]);
    close(res[1]);
    /* Give every program time to connect, then start them all at once. */
    poll(NULL, 0, 200);
    close(go[1]);
    int created = 0, got = 0;
    ens_addr first = ENS_ADDR_NONE;
    for (int i = 0; i < N; i++) {
        report_v r;
        ssize_t n;
        size_t have = 0;
        while (have < sizeof(r) && (n = read(res[0], (char *)&r + have, sizeof(r) - have)) > 0)
            have += (size_t)n;
        assert_int_equal(have, sizeof(r));
        if (r.rc == 0)
            created++;
        else if (r.rc == 1)
            got++;
        else
            fail_msg("racer %d: %s", i, ens_err_name(r.rc));
        if (i == 0)
            first = r.addr;
        assert_true(ens_addr_equal(first, r.addr));
    }
    close(res[0]);
    for (int i = 0; i < N; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(created, 1);
    assert_int_equal(got, N - 1);
    assert_int_equal(__atomic_load_n(&sh->inits, __ATOMIC_SEQ_CST), 1);
    ens_addr at;
    assert_int_equal(ens_name_lookup(t->out, "the-one", &at), 0);
    assert_true(ens_addr_equal(at, first));
    expect_text(t, at, "only one", "only one");
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- main --------------------------------------------------------------- */

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_name_spawn_creates_once_then_gets),
    SCN_TEST(test_invalid_names_are_einval),
    SCN_TEST(test_register_rules_one_name_per_actor),
    SCN_TEST(test_name_freed_when_actor_ends),
    SCN_TEST(test_name_send_delivers_or_dead_letters),
    SCN_TEST(test_actors_race_for_one_name),
    SCN_TEST(test_status_carries_names),
    SCN_TEST(test_crash_restart_keeps_name),
    SCN_TEST(test_dead_letter_row_in_journal),
    SCN_TEST(test_programs_race_for_one_name),
};

int main(void)
{
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    if (ens_msgtype_register(&report_t) != 0 || ens_actor_register(&echo_def) != 0)
        return 1;
    return scn_run_bases("registry", tests, sizeof(tests) / sizeof(tests[0]));
}

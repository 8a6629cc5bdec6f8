/*
 * tests/test_scenarios_stopping.c - how actors end, written once and run on each system base
 * (see tests/support/scenario.h).
 *
 * - Children before their parent: an actor asked to exit asks its children first and runs its
 *   terminate only once they have ended, grandchildren before children; a child that does not
 *   end within child_exit_timeout_ms is killed and journaled.
 * - An exit request is not retried: its handler runs once even when it fails, the actor ends
 *   all the same, the error is a journal row. A wake-up is retried like any message.
 * - System messages are not replies: an ask (outside) or a request (inside an actor) answered
 *   with a system message goes on waiting for a real reply.
 *
 * What actors saw is written into a page every process of the system shares (mapped in main
 * before any system starts, so the forked actor processes write the test's copy), or told in
 * scn.Report messages. Failure rows are read from the system's journal once it has ended, on
 * both bases. Waits are deadlines, never sleeps.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "support/deadline.h"
#include "support/journal_files.h"
#include "support/scn_reports.h"

/* ---- the shared record ---------------------------------------------- */

#define MAX_NODES 32

typedef struct node_entry {
    ens_addr who;
    int32_t pid;
    int32_t n_kids;     /* children it had spawned */
    int32_t kids_ended; /* of them, how many had finished terminate before its own began */
    int32_t kids_gone;  /* of the others, how many had no process left (process base) */
    int began;          /* terminate began */
    int ended;          /* terminate returned */
} node_entry;

typedef struct stop_record {
    int n;
    node_entry e[MAX_NODES];
    int exit_runs;  /* runs of the failing exit-request handler */
    int wake_runs;  /* runs of the failing wake-up handler */
    int child_runs; /* runs of the failing child-exited handler */
} stop_record;

static stop_record *rec;

static node_entry *entry_of(ens_addr who)
{
    int n = __atomic_load_n(&rec->n, __ATOMIC_SEQ_CST);
    for (int i = 0; i < n && i < MAX_NODES; i++)
        if (__atomic_load_n(&rec->e[i].began, __ATOMIC_SEQ_CST) &&
            ens_addr_equal(rec->e[i].who, who))
            return &rec->e[i];
    return NULL;
}

static node_entry *claim_entry(ens_addr self)
{
    int at = __atomic_fetch_add(&rec->n, 1, __ATOMIC_SEQ_CST);
    if (at >= MAX_NODES)
        return NULL;
    node_entry *e = &rec->e[at];
    e->who = self;
    e->pid = (int32_t)getpid();
    __atomic_store_n(&e->began, 1, __ATOMIC_SEQ_CST);
    return e;
}

/* ---- a tree of nodes ------------------------------------------------- */

enum node_kind {
    NODE_LEAF = 0,     /* nothing of its own */
    NODE_MID,          /* two leaves */
    NODE_TOP,          /* a mid and a leaf: three levels */
    NODE_STUBBORN,     /* defers its exit request and never ends by itself */
    NODE_SLOW_END,     /* its terminate does not return (process base only) */
    NODE_TOP_STUBBORN, /* a leaf and a stubborn child */
    NODE_TOP_SLOW,     /* a leaf, a stubborn child and a slow one */
};

typedef struct node_state {
    int64_t kind;
    int32_t n_kids;
    ens_addr kids[4];
} node_state;

static const ens_actor_def node_def;

static int spawn_kid(ens_ctx *c, node_state *s, int64_t kind)
{
    if (s->n_kids == 4)
        return ENS_EINVAL;
    return ens_spawn(c, &node_def, &ens_msg_int64, &(ens_int64_v){kind}, &s->kids[s->n_kids++]);
}

static int node_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    node_state *s = state;
    const ens_int64_v *kind = arg != NULL ? ens_msg_value(arg, &ens_msg_int64) : NULL;
    if (kind == NULL)
        return ENS_EINVAL;
    s->kind = kind->value;
    static const int64_t kids[][4] = {
        [NODE_MID] = {NODE_LEAF, NODE_LEAF, -1},
        [NODE_TOP] = {NODE_MID, NODE_LEAF, -1},
        [NODE_TOP_STUBBORN] = {NODE_LEAF, NODE_STUBBORN, -1},
        [NODE_TOP_SLOW] = {NODE_LEAF, NODE_STUBBORN, NODE_SLOW_END, -1},
    };
    if (s->kind == NODE_MID || s->kind == NODE_TOP || s->kind == NODE_TOP_STUBBORN ||
        s->kind == NODE_TOP_SLOW) {
        for (int i = 0; i < 4 && kids[s->kind][i] >= 0; i++) {
            int rc = spawn_kid(c, s, kids[s->kind][i]);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int node_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    node_state *s = state;
    if (ens_msg_is_system(m) && ens_msg_value(m, &ens_msg_exit_request) != NULL &&
        s->kind == NODE_STUBBORN)
        return ens_exit_defer(c); /* and never ens_stop */
    if (msg_is_text(m, "ready"))  /* the top's init has run: its children are spawned */
        return ens_reply(c, &ens_msg_string, &(ens_string_v){"up"});
    return 0;
}

static void node_terminate(ens_ctx *c, void *state, int reason)
{
    (void)reason;
    node_state *s = state;
    node_entry *e = claim_entry(ens_self(c));
    if (e == NULL)
        return;
    e->n_kids = s->n_kids;
    for (int i = 0; i < s->n_kids; i++) {
        node_entry *k = entry_of(s->kids[i]);
        if (k != NULL && __atomic_load_n(&k->ended, __ATOMIC_SEQ_CST))
            e->kids_ended++;
        else if (k != NULL && k->pid != (int32_t)getpid() && kill(k->pid, 0) < 0 && errno == ESRCH)
            e->kids_gone++; /* killed in the middle of its terminate, and reaped */
    }
    if (s->kind == NODE_SLOW_END) {
        /* A terminate that does not end: only its parent's kill ends it. */
        struct timespec nap = {0, 10 * 1000 * 1000};
        for (int i = 0; i < 6000; i++)
            nanosleep(&nap, NULL);
    }
    __atomic_store_n(&e->ended, 1, __ATOMIC_SEQ_CST);
}

static const ens_actor_def node_def = {
    "scn.Node", sizeof(node_state), node_init, node_receive, node_terminate, NULL, NULL, NULL,
    NULL};

/* Wait until `who` has finished its terminate (the system runs meanwhile). */
static node_entry *wait_ended(scn *t, ens_addr who)
{
    test_deadline d = test_deadline_in(SCN_WAIT_MS);
    node_entry *e;
    while (((e = entry_of(who)) == NULL || !__atomic_load_n(&e->ended, __ATOMIC_SEQ_CST)) &&
           !test_deadline_passed(d))
        assert_true(ens_system_run(t->sys, 10) >= 0);
    assert_non_null(e);
    assert_true(e->ended);
    return e;
}

static ens_addr spawn_tree(scn *t, int64_t kind)
{
    ens_addr top = spawn_mode(t, &node_def, kind);
    ens_msg *up = ask_ok(t, top, &ens_msg_string, &(ens_string_v){"ready"}, &ens_msg_string);
    ens_msg_free(up);
    return top;
}

/* Rows of the journal, read after the system ended. */
typedef struct row_copy {
    ens_event_kind kind;
    ens_addr actor;
    ens_addr parent;
    int32_t error;
    char msg_type[64];
    char reason[160];
} row_copy;

typedef struct rows {
    size_t n;
    row_copy r[256];
} rows;

static int keep_row(const ens_journal_row *row, void *arg)
{
    rows *rs = arg;
    if (rs->n == sizeof(rs->r) / sizeof(rs->r[0]))
        return 1;
    row_copy *c = &rs->r[rs->n++];
    c->kind = row->ev.kind;
    c->actor = row->ev.actor;
    c->parent = row->ev.parent;
    c->error = row->ev.error;
    snprintf(c->msg_type, sizeof(c->msg_type), "%s", row->ev.msg_type);
    snprintf(c->reason, sizeof(c->reason), "%s", row->ev.reason);
    return 0;
}

typedef struct journal_dir {
    char dir[64];
    char path[96];
} journal_dir;

static void journal_dir_make(journal_dir *j)
{
    snprintf(j->dir, sizeof(j->dir), "/tmp/ens-stopping-XXXXXX");
    assert_non_null(mkdtemp(j->dir));
    snprintf(j->path, sizeof(j->path), "%s/journal.db", j->dir);
}

static void journal_read(journal_dir *j, rows *rs)
{
    ens_journal *jr = NULL;
    assert_int_equal(ens_journal_open(j->path, &jr), 0);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.limit = 0;
    rs->n = 0;
    assert_true(ens_journal_query(jr, &f, keep_row, rs) >= 0);
    ens_journal_close(jr);
    test_journal_remove(j->path);
    rmdir(j->dir);
}

static size_t rows_about(const rows *rs, ens_event_kind kind, ens_addr actor, const char *reason)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n; i++)
        n += rs->r[i].kind == kind && ens_addr_equal(rs->r[i].actor, actor) &&
             (reason == NULL || strstr(rs->r[i].reason, reason) != NULL);
    return n;
}

/* ---- children before their parent -------------------------------------- */

static void test_children_end_before_parent_terminates(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    memset(rec, 0, sizeof(*rec));
    ens_addr top = spawn_tree(t, NODE_TOP);
    assert_int_equal(ens_exit_request(t->out, top), 0);
    node_entry *e = wait_ended(t, top);

    /* Five nodes; each one's terminate saw every child of its finished (the leaves before the
     * mid, the mid and the leaf before the top). */
    assert_int_equal(rec->n, 5);
    for (int i = 0; i < rec->n; i++) {
        assert_true(rec->e[i].ended);
        assert_int_equal(rec->e[i].kids_ended, rec->e[i].n_kids);
    }
    assert_int_equal(e->n_kids, 2);
    assert_ptr_equal(e, &rec->e[4]); /* the top last */
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

static void test_child_that_does_not_end_is_killed_and_journaled(void **state)
{
    scn *t = *state;
    journal_dir jd;
    journal_dir_make(&jd);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = jd.path;
    o.child_exit_timeout_ms = 1500; /* the stubborn children's fate: expected, not measured */
    scn_start(t, &o);
    memset(rec, 0, sizeof(*rec));
    /* A terminate that never returns can be ended only where it has a process of its own. */
    const bool slow = t->base == ENS_BASE_PROCESS;
    ens_addr top = spawn_tree(t, slow ? NODE_TOP_SLOW : NODE_TOP_STUBBORN);
    assert_int_equal(ens_exit_request(t->out, top), 0);
    node_entry *e = wait_ended(t, top);

    assert_int_equal(e->n_kids, slow ? 3 : 2);
    assert_int_equal(e->kids_ended, 1); /* the leaf ended in order, before the top */
    /* The stubborn child never ran terminate (killed); the slow one began it and was killed in
     * the middle, before the top's terminate began. */
    int began = 0, ended = 0;
    for (int i = 0; i < rec->n; i++) {
        began += rec->e[i].began;
        ended += rec->e[i].ended;
    }
    assert_int_equal(began, slow ? 3 : 2);
    assert_int_equal(ended, 2);
    if (slow)
        assert_int_equal(e->kids_gone, 1);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);

    rows rs;
    journal_read(&jd, &rs);
    size_t killed = 0, timed_out = 0;
    for (size_t i = 0; i < rs.n; i++) {
        if (rs.r[i].kind != ENS_EV_EXIT || !ens_addr_equal(rs.r[i].parent, top))
            continue;
        timed_out += strstr(rs.r[i].reason, "did not end within 1500 ms") != NULL;
        killed += strstr(rs.r[i].reason, "killed on request") != NULL;
    }
    assert_int_equal(timed_out, slow ? 2 : 1);
    assert_int_equal(killed, slow ? 2 : 1);
}

/* ---- an exit request is not retried ------------------------------------ */

enum failing_kind {
    FAIL_EXIT = 1,   /* its exit-request handler fails */
    FAIL_WAKE,       /* its wake-up handler fails (and reports each run) */
    FAIL_CHILD,      /* its child-exited handler fails */
    FAIL_EXIT_CRASH, /* its exit-request handler crashes its process (process base) */
};

typedef struct failing_state {
    int64_t kind;
    ens_addr outside;
    ens_addr kid;
} failing_state;

static const ens_actor_def failing_def;

static int failing_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    failing_state *s = state;
    const ens_int64_v *kind = arg != NULL ? ens_msg_value(arg, &ens_msg_int64) : NULL;
    if (kind == NULL)
        return ENS_EINVAL;
    s->kind = kind->value;
    return 0;
}

static int failing_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    failing_state *s = state;
    if (ens_msg_is_system(m) && ens_msg_value(m, &ens_msg_exit_request) != NULL) {
        if (s->kind != FAIL_EXIT && s->kind != FAIL_EXIT_CRASH)
            return 0;
        __atomic_fetch_add(&rec->exit_runs, 1, __ATOMIC_SEQ_CST);
        if (s->kind == FAIL_EXIT_CRASH)
            raise(SIGKILL); /* the process ends in the handler: a crash */
        return ENS_EIO;
    }
    if (ens_msg_is_system(m) && ens_msg_value(m, &ens_msg_wakeup) != NULL) {
        int runs = __atomic_add_fetch(&rec->wake_runs, 1, __ATOMIC_SEQ_CST);
        send_report(c, s->outside, REPORT(.tag = TAG_WAKE, .n = runs, .a = ens_msg_attempt(m)));
        return ENS_EIO;
    }
    if (ens_msg_is_system(m) && ens_msg_value(m, &ens_msg_child_exited) != NULL) {
        int runs = __atomic_add_fetch(&rec->child_runs, 1, __ATOMIC_SEQ_CST);
        send_report(c, s->outside, REPORT(.tag = TAG_CHILD_EXITED, .n = runs));
        return ENS_EIO;
    }
    if (msg_is_text(m, "go")) {
        s->outside = ens_sender(c);
        if (s->kind == FAIL_WAKE)
            return ens_wakeup_after(c, 1, 7, NULL);
        if (s->kind == FAIL_CHILD) {
            int rc = ens_spawn(c, &failing_def, &ens_msg_int64, &(ens_int64_v){0}, &s->kid);
            return rc == 0 ? ens_exit_request(c, s->kid) : rc;
        }
    }
    return 0;
}

static void failing_terminate(ens_ctx *c, void *state, int reason)
{
    (void)c;
    (void)state;
    node_entry *e = claim_entry(ens_self(c));
    if (e != NULL) {
        e->n_kids = reason;
        __atomic_store_n(&e->ended, 1, __ATOMIC_SEQ_CST);
    }
}

static const ens_actor_def failing_def = {"scn.Failing",
                                          sizeof(failing_state),
                                          failing_init,
                                          failing_receive,
                                          failing_terminate,
                                          NULL,
                                          NULL,
                                          NULL,
                                          NULL};

static void test_exit_request_handler_runs_once(void **state)
{
    scn *t = *state;
    journal_dir jd;
    journal_dir_make(&jd);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = jd.path;
    scn_start(t, &o);
    memset(rec, 0, sizeof(*rec));

    /* The exit request's handler fails: it ran once, and the actor ended all the same. */
    ens_addr x = spawn_mode(t, &failing_def, FAIL_EXIT);
    assert_int_equal(ens_exit_request(t->out, x), 0);
    node_entry *e = wait_ended(t, x);
    assert_int_equal(e->n_kids, ENS_EXIT_SHUTDOWN); /* its terminate's reason */
    assert_int_equal(__atomic_load_n(&rec->exit_runs, __ATOMIC_SEQ_CST), 1);
    ens_msg *reply = NULL;
    assert_int_equal(
        ens_ask(t->out, x, &ens_msg_string, &(ens_string_v){"hi"}, SCN_WAIT_MS, &reply),
        ENS_ENOACTOR);
    ens_msg_free(reply);

    /* A child-exited notice is not retried either. */
    ens_addr p = spawn_mode(t, &failing_def, FAIL_CHILD);
    tell_text(t, p, "go");
    report_v r = listen_report(t);
    assert_int_equal(r.tag, TAG_CHILD_EXITED);
    assert_int_equal(r.n, 1);

    /* A wake-up is: its handler runs twice, attempt 1 then 2. */
    ens_addr w = spawn_mode(t, &failing_def, FAIL_WAKE);
    tell_text(t, w, "go");
    r = listen_report(t);
    assert_int_equal(r.tag, TAG_WAKE);
    assert_int_equal(r.a, 1);
    r = listen_report(t);
    assert_int_equal(r.tag, TAG_WAKE);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.a, 2);
    assert_listen_quiet(t, 100); /* nothing after the child-exited report: it ran once */
    assert_int_equal(__atomic_load_n(&rec->child_runs, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    assert_int_equal(__atomic_load_n(&rec->exit_runs, __ATOMIC_SEQ_CST), 1);

    rows rs;
    journal_read(&jd, &rs);
    assert_int_equal(rows_about(&rs, ENS_EV_ERROR, x, "not retried (the actor ends all the same)"),
                     1);
    assert_int_equal(rows_about(&rs, ENS_EV_ERROR, x, NULL), 1);
    assert_int_equal(rows_about(&rs, ENS_EV_RETRY, x, NULL), 0);
    for (size_t i = 0; i < rs.n; i++)
        if (rs.r[i].kind == ENS_EV_ERROR && ens_addr_equal(rs.r[i].actor, x)) {
            assert_string_equal(rs.r[i].msg_type, "ens.ExitRequest");
            assert_int_equal(rs.r[i].error, ENS_EIO);
        }
    assert_int_equal(rows_about(&rs, ENS_EV_ERROR, p, "ens.ChildExited: not retried"), 1);
    assert_int_equal(rows_about(&rs, ENS_EV_RETRY, p, NULL), 0);
    assert_int_equal(rows_about(&rs, ENS_EV_RETRY, w, NULL), 1);
    assert_int_equal(rows_about(&rs, ENS_EV_ERROR, w, NULL), 2);
}

/* A crash in the handler of an exit request does not run it again either:
 * the next incarnation finds the request in hand, journals it as not
 * retried and ends (process base: only there can a handler crash). */
static void test_exit_request_handler_that_crashes_runs_once(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip();
    journal_dir jd;
    journal_dir_make(&jd);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = jd.path;
    scn_start(t, &o);
    memset(rec, 0, sizeof(*rec));
    ens_addr x = spawn_mode(t, &failing_def, FAIL_EXIT_CRASH);
    assert_int_equal(ens_exit_request(t->out, x), 0);
    node_entry *e = wait_ended(t, x);
    assert_int_equal(e->n_kids, ENS_EXIT_SHUTDOWN); /* the next incarnation's terminate */
    assert_int_equal(__atomic_load_n(&rec->exit_runs, __ATOMIC_SEQ_CST), 1);
    ens_msg *reply = NULL;
    assert_int_equal(
        ens_ask(t->out, x, &ens_msg_string, &(ens_string_v){"hi"}, SCN_WAIT_MS, &reply),
        ENS_ENOACTOR);
    ens_msg_free(reply);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
    assert_int_equal(__atomic_load_n(&rec->exit_runs, __ATOMIC_SEQ_CST), 1);
    rows rs;
    journal_read(&jd, &rs);
    assert_int_equal(rows_about(&rs, ENS_EV_CRASH, x, NULL), 1);
    assert_int_equal(
        rows_about(&rs, ENS_EV_ERROR, x, "crashed in its handler of ens.ExitRequest: not retried"),
        1);
    assert_int_equal(rows_about(&rs, ENS_EV_RETRY, x, NULL), 0);
}

/* ---- system messages are not replies ----------------------------------- */

/* "sys-then-real": answers with an exit request, a child-exited notice and a wake-up, then
 * with "real". "sys-only": with an exit request only. */
static int replier_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const bool real = msg_is_text(m, "sys-then-real");
    if (!real && !msg_is_text(m, "sys-only"))
        return 0;
    int rc = ens_reply(c, &ens_msg_exit_request, &(ens_exit_request_v){0});
    if (rc == 0 && real)
        rc = ens_reply(c, &ens_msg_child_exited, &(ens_child_exited_v){.child = ens_self(c)});
    if (rc == 0 && real)
        rc = ens_reply(c, &ens_msg_wakeup, &(ens_wakeup_v){.payload = 1});
    if (rc == 0 && real)
        rc = ens_reply(c, &ens_msg_string, &(ens_string_v){"real"});
    return rc;
}

static const ens_actor_def replier_def = {
    "scn.SystemReplier", 0, NULL, replier_receive, NULL, NULL, NULL, NULL, NULL};

/* Inside an actor: requests the replier (its address is the start argument's `who`) the same
 * two ways and reports how each completed: TAG_CHILD_REPLY with n = status, a = 1 when the
 * reply was the string "real". */
typedef struct asker_state {
    ens_addr replier;
    ens_addr outside;
} asker_state;

static void asker_done(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    asker_state *s = state;
    send_report(c, s->outside,
                REPORT(.tag = TAG_CHILD_REPLY, .n = status, .a = msg_is_text(reply, "real"),
                       .b = (int64_t)tag));
}

static int asker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    asker_state *s = state;
    const report_v *r = arg != NULL ? ens_msg_value(arg, &report_t) : NULL;
    if (r == NULL)
        return ENS_EINVAL;
    s->replier = r->who;
    return 0;
}

static int asker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    asker_state *s = state;
    if (!msg_is_text(m, "go"))
        return 0;
    s->outside = ens_sender(c);
    int rc = ens_request(c, s->replier, &ens_msg_string, &(ens_string_v){"sys-then-real"},
                         SCN_WAIT_MS, asker_done, 1);
    if (rc == 0)
        rc = ens_request(c, s->replier, &ens_msg_string, &(ens_string_v){"sys-only"}, 300,
                         asker_done, 2);
    return rc;
}

static const ens_actor_def asker_def = {
    "scn.Asker", sizeof(asker_state), asker_init, asker_receive, NULL, NULL, NULL, NULL, NULL};

static void test_system_message_is_never_a_reply(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_addr r = spawn_ok(t, &replier_def, NULL, NULL);

    /* From outside: the real reply completes the ask; the system ones were dropped. */
    ens_msg *m = ask_ok(t, r, &ens_msg_string, &(ens_string_v){"sys-then-real"}, &ens_msg_string);
    assert_string_equal(msg_text(m), "real");
    ens_msg_free(m);
    /* With only a system message the ask waits for its deadline (the expected outcome). */
    m = NULL;
    assert_int_equal(ens_ask(t->out, r, &ens_msg_string, &(ens_string_v){"sys-only"}, 300, &m),
                     ENS_ETIMEDOUT);
    assert_null(m);
    assert_listen_quiet(t, 100); /* dropped, not queued for ens_listen either */

    /* Inside an actor: the same for ens_request. */
    ens_addr a = spawn_ok(t, &asker_def, &report_t, REPORT(.who = r));
    tell_text(t, a, "go");
    report_v first = listen_report(t);
    report_v second = listen_report(t);
    assert_int_equal(first.tag, TAG_CHILD_REPLY);
    assert_int_equal(first.b, 1);
    assert_int_equal(first.n, 0);
    assert_int_equal(first.a, 1);
    assert_int_equal(second.tag, TAG_CHILD_REPLY);
    assert_int_equal(second.b, 2);
    assert_int_equal(second.n, ENS_ETIMEDOUT);
    assert_int_equal(second.a, 0);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);
}

/* ---- main ------------------------------------------------------------- */

static const struct CMUnitTest scenarios[] = {
    SCN_TEST(test_children_end_before_parent_terminates),
    SCN_TEST(test_child_that_does_not_end_is_killed_and_journaled),
    SCN_TEST(test_exit_request_handler_runs_once),
    SCN_TEST(test_exit_request_handler_that_crashes_runs_once),
    SCN_TEST(test_system_message_is_never_a_reply),
};

int main(void)
{
    rec = mmap(NULL, sizeof(*rec), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rec == MAP_FAILED)
        return 1;
    if (scn_reports_register() != 0)
        return 1;
    return scn_run_bases("scenarios_stopping", scenarios, sizeof(scenarios) / sizeof(scenarios[0]));
}

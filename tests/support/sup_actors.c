/*
 * tests/support/sup_actors.c - the actors and helpers of the supervisor
 * suites (see sup_actors.h).
 */
#include "support/sup_actors.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Shared with every process the systems fork (mapped before any starts):
 * blocked[num] is set by worker num when it blocks for good, since its
 * reports would never leave a handler that never returns. */
#define TSUP_MAX_NUM 64
static volatile int32_t *blocked;
/* inits[num]: how many times worker num's init began (any process). */
static volatile int32_t *inits;

/* ---- messages --------------------------------------------------------- */

ens_msgtype tsup_warg_t = {"tsup.WArg", "S(iiii" ENS_ADDR_FMT ")", sizeof(tsup_warg_v), 0, 0, NULL};
ens_msgtype tsup_rep_t = {"tsup.Report", "S(iiiiII" ENS_ADDR_FMT ")", sizeof(tsup_rep_v), 0, 0,
                          NULL};
ens_msgtype tsup_sarg_t = {"tsup.SArg", "S(iuiiii" ENS_ADDR_FMT ")", sizeof(tsup_sarg_v), 0, 0,
                           NULL};
ens_msgtype tsup_op_t = {"tsup.Op", "S(iis" ENS_ADDR_FMT ENS_ADDR_FMT ")", sizeof(tsup_op_v), 0, 0,
                         NULL};

int tsup_types_register(void)
{
    void *p = mmap(NULL, 2 * TSUP_MAX_NUM * sizeof(int32_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return ENS_ENOMEM;
    blocked = p;
    inits = (volatile int32_t *)p + TSUP_MAX_NUM;
    ens_msgtype *types[] = {&tsup_warg_t, &tsup_rep_t, &tsup_sarg_t, &tsup_op_t};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        int rc = ens_msgtype_register(types[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void send_rep_at(ens_ctx *c, ens_addr to, int32_t tag, int32_t num, int32_t n, int32_t aux,
                        int64_t begin, ens_addr who)
{
    tsup_rep_v r = {tag, num, n, aux, scn_now_ns(), begin, who};
    (void)ens_send(c, to, &tsup_rep_t, &r);
}

static void send_rep(ens_ctx *c, ens_addr to, int32_t tag, int32_t num, int32_t n, int32_t aux,
                     ens_addr who)
{
    send_rep_at(c, to, tag, num, n, aux, 0, who);
}

int32_t tsup_inits(int num)
{
    return num >= 0 && num < TSUP_MAX_NUM ? __atomic_load_n(&inits[num], __ATOMIC_SEQ_CST) : 0;
}

void tsup_inits_clear(void)
{
    for (int i = 0; i < TSUP_MAX_NUM; i++)
        __atomic_store_n(&inits[i], 0, __ATOMIC_SEQ_CST);
}

/* ---- actors ----------------------------------------------------------- */

typedef struct worker_st {
    int32_t num;
    int32_t stubborn;
    ens_addr to;
} worker_st;

static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    worker_st *s = state;
    const tsup_warg_v *a = arg != NULL ? ens_msg_value(arg, &tsup_warg_t) : NULL;
    if (a == NULL)
        return ENS_EINVAL;
    int64_t begin = scn_now_ns();
    if (a->num >= 0 && a->num < TSUP_MAX_NUM)
        __atomic_add_fetch(&inits[a->num], 1, __ATOMIC_SEQ_CST);
    if (a->init_ms > 0) { /* a slow init, so that overlapping starts would show */
        struct timespec d = {a->init_ms / 1000, (long)(a->init_ms % 1000) * 1000000L};
        while (nanosleep(&d, &d) != 0)
            ;
    }
    if (a->init_fail)
        return ENS_EINIT;
    s->num = a->num;
    s->stubborn = a->stubborn;
    s->to = a->to;
    send_rep_at(c, s->to, TAG_UP, s->num, 0, 0, begin, ens_self(c));
    return 0;
}

static int worker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    worker_st *s = state;
    if (ens_msg_value(m, &ens_msg_exit_request) != NULL && s->stubborn) {
        send_rep(c, s->to, TAG_DEFER, s->num, ens_exit_defer(c), 0, ens_self(c));
        return 0; /* and never stops: only a kill ends it */
    }
    const ens_string_v *cmd = ens_msg_value(m, &ens_msg_string);
    if (cmd == NULL || cmd->text == NULL)
        return 0;
    if (strcmp(cmd->text, "stop_normal") == 0)
        return ens_stop(c, ENS_EXIT_NORMAL, 0);
    if (strcmp(cmd->text, "stop_error") == 0)
        return ens_stop(c, ENS_EXIT_ERROR, 7);
    if (strcmp(cmd->text, "crash") == 0 && ens_msg_attempt(m) == 1) {
        raise(SIGSEGV); /* a real crash: process base only */
    }
    if (strcmp(cmd->text, "block") == 0 && s->num >= 0 && s->num < TSUP_MAX_NUM) {
        __atomic_store_n(&blocked[s->num], 1, __ATOMIC_SEQ_CST);
        for (;;)
            pause(); /* stuck for good (process base only): only a kill ends it */
    }
    return 0;
}

static void worker_terminate(ens_ctx *c, void *state, int reason)
{
    worker_st *s = state;
    send_rep(c, s->to, TAG_DOWN, s->num, reason, 0, ens_self(c));
}

const ens_actor_def tsup_worker_def = {"tsup.Worker",
                                       sizeof(worker_st),
                                       worker_init,
                                       worker_receive,
                                       worker_terminate,
                                       NULL,
                                       NULL,
                                       NULL,
                                       NULL};

/* A nested supervisor: level 1 supervises worker 1, level L > 1 a
 * supervisor of level L - 1. Intensity by level: leaf 0, middle 1, top 0. */
static int nested_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                            ens_child_spec *specs, size_t max, size_t *n);
ENS_SUPERVISOR_DEF(nested_def, "tsup.Nested", nested_configure);
const ens_actor_def *const tsup_nested_def = &nested_def;

static int nested_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                            ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)max;
    const tsup_sarg_v *a = arg != NULL ? ens_msg_value(arg, &tsup_sarg_t) : NULL;
    if (a == NULL)
        return ENS_EINVAL;
    flags->strategy = ENS_ONE_FOR_ONE;
    flags->intensity = a->level == 2 ? 1 : 0;
    flags->period_ms = 60000;
    if (a->level == 1) {
        static tsup_warg_v w; /* read when configure returns: static, not a local */
        w = (tsup_warg_v){1, 0, 0, 0, a->to};
        specs[0].id = "worker";
        specs[0].def = &tsup_worker_def;
        specs[0].arg_type = &tsup_warg_t;
        specs[0].arg = &w;
        *n = 1;
        return 0;
    }
    static tsup_sarg_v below;
    below = *a;
    below.level = a->level - 1;
    specs[0].id = a->level == 3 ? "mid" : "leaf";
    specs[0].def = &nested_def;
    specs[0].arg_type = &tsup_sarg_t;
    specs[0].arg = &below;
    specs[0].restart = (ens_restart)a->restart;
    specs[0].shutdown = ENS_SHUTDOWN_INFINITY;
    specs[0].is_supervisor = true;
    *n = 1;
    return 0;
}

/* The host: starts a supervisor as its child and reports its exit. */
typedef tsup_host_st host_st;

static int host_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    host_st *s = state;
    const tsup_sarg_v *a = ens_msg_value(arg, &tsup_sarg_t);
    s->to = a->to;
    ens_addr sup = ENS_ADDR_NONE;
    int rc;
    if (a->level > 0) {
        rc = ens_spawn(c, &nested_def, &tsup_sarg_t, a, &sup);
    } else {
        tsup_warg_v w[4];
        ens_child_spec specs[4];
        for (int i = 0; i < 4; i++) {
            w[i] = (tsup_warg_v){i + 1, a->fail_num == i + 1, 0, i == 3, a->to};
            specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
            specs[i].def = &tsup_worker_def;
            specs[i].arg_type = &tsup_warg_t;
            specs[i].arg = &w[i];
        }
        specs[0].id = "a";
        specs[1].id = "b";
        specs[2].id = "c";
        specs[3].id = "stubborn";
        specs[3].shutdown_ms = (uint32_t)a->stubborn_ms;
        ens_sup_flags f = {(ens_sup_strategy)a->strategy, a->intensity, 60000,
                           ENS_SUP_START_ORDERED};
        rc = ens_supervisor_spawn(c, &f, specs, a->stubborn_ms > 0 ? 4 : 3, &sup);
    }
    send_rep(c, s->to, TAG_SUP, 0, rc, 0, sup);
    return 0;
}

int tsup_host_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    host_st *s = state;
    const ens_child_exited_v *e = ens_msg_value(m, &ens_msg_child_exited);
    if (e != NULL)
        send_rep(c, s->to, TAG_EXITED, e->status, e->reason, 0, e->child);
    return 0;
}

const ens_actor_def tsup_host_def = {
    "tsup.Host", sizeof(host_st), host_init, tsup_host_receive, NULL, NULL, NULL, NULL, NULL};

/* The client: runs operations from inside an actor, reports their results. */
typedef struct client_st {
    ens_addr to;
} client_st;

static void client_done(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    client_st *s = state;
    const ens_sup_result_v *r = reply ? ens_msg_value(reply, &ens_msg_sup_result) : NULL;
    const ens_sup_counts_v *k = reply ? ens_msg_value(reply, &ens_msg_sup_counts) : NULL;
    const ens_sup_children_v *w = reply ? ens_msg_value(reply, &ens_msg_sup_children) : NULL;
    int32_t num = k != NULL ? (int32_t)k->active : w != NULL ? (int32_t)w->children.count : 0;
    int32_t aux = k != NULL ? (int32_t)k->specs : r != NULL ? r->reason : 0;
    send_rep(c, s->to, TAG_OPDONE, num, status, aux, r != NULL ? r->child : ENS_ADDR_NONE);
    (void)tag;
}

static int client_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    ((client_st *)state)->to = ((const tsup_warg_v *)ens_msg_value(arg, &tsup_warg_t))->to;
    return 0;
}

static int client_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    client_st *s = state;
    const tsup_op_v *o = ens_msg_value(m, &tsup_op_t);
    if (o == NULL)
        return 0;
    tsup_warg_v w = {o->num, 0, 0, 0, s->to};
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = o->id;
    spec.def = &tsup_worker_def;
    spec.arg_type = &tsup_warg_t;
    spec.arg = &w;
    spec.restart = ENS_TRANSIENT;
    int rc = ENS_EINVAL;
    switch (o->op) {
    case OP_START:
        rc = ens_supervisor_start_child(c, o->sup, &spec, NULL, NULL, client_done, 0);
        break;
    case OP_START_SIMPLE:
        rc = ens_supervisor_start_child(c, o->sup, NULL, &tsup_warg_t, &w, client_done, 0);
        break;
    case OP_TERMINATE:
        rc = ens_supervisor_terminate_child(c, o->sup, o->id, o->child, client_done, 0);
        break;
    case OP_RESTART:
        rc = ens_supervisor_restart_child(c, o->sup, o->id, client_done, 0);
        break;
    case OP_DELETE:
        rc = ens_supervisor_delete_child(c, o->sup, o->id, client_done, 0);
        break;
    case OP_COUNT:
        rc = ens_supervisor_count_children(c, o->sup, client_done, 0);
        break;
    case OP_WHICH:
        rc = ens_supervisor_which_children(c, o->sup, client_done, 0);
        break;
    }
    if (rc < 0)
        send_rep(c, s->to, TAG_OPDONE, 0, rc, 0, ENS_ADDR_NONE);
    return 0;
}

const ens_actor_def tsup_client_def = {
    "tsup.Client", sizeof(client_st), client_init, client_receive, NULL, NULL, NULL, NULL, NULL};

/* ---- test helpers ------------------------------------------------------ */

static tsup_rep_v stash[TSUP_MAX_REPS];
static size_t n_stash;

void tsup_block(scn *t, ens_addr sup, const char *id, int num)
{
    assert_true(num >= 0 && num < TSUP_MAX_NUM);
    __atomic_store_n(&blocked[num], 0, __ATOMIC_SEQ_CST);
    tsup_tell(t, tsup_child_of(t, sup, id), "block");
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    tsup_kid k[8];
    while (!__atomic_load_n(&blocked[num], __ATOMIC_SEQ_CST)) {
        if (scn_now_ns() > end)
            fail_msg("worker %d did not block", num);
        (void)tsup_which(t, sup, k, 8); /* a round trip, no sleep */
    }
}

void tsup_stash_clear(void)
{
    n_stash = 0;
}

tsup_rep_v tsup_listen_rep(scn *t)
{
    if (n_stash > 0) {
        tsup_rep_v r = stash[0];
        memmove(&stash[0], &stash[1], --n_stash * sizeof(stash[0]));
        return r;
    }
    ens_msg *m = scn_listen_type(t, &tsup_rep_t, SCN_WAIT_MS);
    tsup_rep_v r = *(const tsup_rep_v *)ens_msg_value(m, &tsup_rep_t);
    ens_msg_free(m);
    return r;
}

/* Wait for exactly the reports want[i] = {tag, num} (any order of arrival;
 * any other report fails the test); out[] gets them sorted by time. */
void tsup_sort_reps(tsup_rep_v *r, size_t n)
{
    for (size_t i = 1; i < n; i++) /* insertion sort by time */
        for (size_t j = i; j > 0 && r[j].at < r[j - 1].at; j--) {
            tsup_rep_v x = r[j];
            r[j] = r[j - 1];
            r[j - 1] = x;
        }
}

void tsup_expect_reps(scn *t, const int (*want)[2], size_t n, tsup_rep_v *out)
{
    bool seen[TSUP_MAX_REPS] = {false};
    assert_true(n <= TSUP_MAX_REPS);
    for (size_t got = 0; got < n; got++) {
        tsup_rep_v r = tsup_listen_rep(t);
        size_t i = 0;
        while (i < n && (seen[i] || want[i][0] != r.tag || want[i][1] != r.num))
            i++;
        if (i == n)
            fail_msg("unexpected report tag %d num %d (n %d)", r.tag, r.num, r.n);
        seen[i] = true;
        out[got] = r;
    }
    tsup_sort_reps(out, n);
}

int tsup_pos_of(const tsup_rep_v *r, size_t n, int tag, int num)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].tag == tag && r[i].num == num)
            return (int)i;
    fail_msg("no report tag %d num %d", tag, num);
    return -1;
}

/* which_children from outside into kids[]; returns the row count. */
size_t tsup_which(scn *t, ens_addr sup, tsup_kid *kids, size_t max)
{
    ens_msg *r = NULL;
    int rc = ens_supervisor_which_children_wait(t->out, sup, &r);
    if (rc != 0)
        fail_msg("which_children: %s", ens_err_name(rc));
    const ens_sup_children_v *v = ens_msg_value(r, &ens_msg_sup_children);
    assert_non_null(v);
    const ens_sup_child_info *rows = v->children.items;
    size_t n = v->children.count;
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        snprintf(kids[i].id, sizeof(kids[i].id), "%s", rows[i].id);
        snprintf(kids[i].type, sizeof(kids[i].type), "%s", rows[i].type);
        kids[i].addr = rows[i].child;
        kids[i].status = rows[i].status;
        kids[i].is_sup = rows[i].is_supervisor;
        kids[i].restarts = rows[i].restarts;
        snprintf(kids[i].name, sizeof(kids[i].name), "%s", rows[i].name);
    }
    ens_msg_free(r);
    return n;
}

const tsup_kid *tsup_kid_by_id(const tsup_kid *k, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k[i].id, id) == 0)
            return &k[i];
    return NULL;
}

/* Ask which_children until child `id` is not running (or gone); returns
 * its row count. Asks, no sleeps: each one is a round trip. */
size_t tsup_wait_not_running(scn *t, ens_addr sup, const char *id, tsup_kid *kids, size_t max)
{
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    while (scn_now_ns() < end) {
        size_t n = tsup_which(t, sup, kids, max);
        const tsup_kid *k = tsup_kid_by_id(kids, n, id);
        if (k == NULL || k->status != ENS_SUP_CHILD_RUNNING)
            return n;
    }
    fail_msg("child %s still running", id);
    return 0;
}

void tsup_tell(scn *t, ens_addr to, const char *text)
{
    assert_int_equal(ens_send(t->out, to, &ens_msg_string, &(ens_string_v){(char *)text}), 0);
}

ens_child_spec tsup_wspec(const char *id, tsup_warg_v *w, int num, ens_addr to, ens_restart r)
{
    *w = (tsup_warg_v){num, 0, 0, 0, to};
    ens_child_spec s = ENS_CHILD_SPEC_INIT;
    s.id = id;
    s.def = &tsup_worker_def;
    s.arg_type = &tsup_warg_t;
    s.arg = w;
    s.restart = r;
    return s;
}

/* Spawn a host (level 0: built-in supervisor over workers a, b, c); returns
 * the host's supervisor. */
ens_addr tsup_start_host(scn *t, tsup_sarg_v a, ens_addr *host)
{
    a.to = ens_self(t->out);
    n_stash = 0;
    assert_int_equal(ens_spawn(t->out, &tsup_host_def, &tsup_sarg_t, &a, host), 0);
    for (;;) { /* workers' reports may come first (other processes) */
        ens_msg *m = scn_listen_type(t, &tsup_rep_t, SCN_WAIT_MS);
        tsup_rep_v r = *(const tsup_rep_v *)ens_msg_value(m, &tsup_rep_t);
        ens_msg_free(m);
        if (r.tag == TAG_SUP) {
            assert_int_equal(r.n, 0);
            return r.who;
        }
        assert_true(n_stash < TSUP_MAX_REPS);
        stash[n_stash++] = r;
    }
}

bool tsup_is_intensity_exit(const tsup_rep_v *r)
{
    return r->tag == TAG_EXITED && r->n == ENS_EXIT_INTENSITY && r->num == 0;
}

ens_addr tsup_child_of(scn *t, ens_addr sup, const char *id)
{
    tsup_kid k[8];
    size_t n = tsup_which(t, sup, k, 8);
    const tsup_kid *x = tsup_kid_by_id(k, n, id);
    assert_non_null(x);
    return x->addr;
}

/* Run one operation outside (blocking) or through the client (inside,
 * asynchronous: its callback reports). */
tsup_opres tsup_op(scn *t, ens_addr client, int what, ens_addr sup, const char *id, ens_addr child,
                   int num)
{
    tsup_opres o = {0, ENS_ADDR_NONE, 0, 0, 0, 0};
    if (!ens_addr_is_none(client)) {
        tsup_op_v v = {what, num, (char *)id, sup, child};
        assert_int_equal(ens_send(t->out, client, &tsup_op_t, &v), 0);
        for (;;) { /* keep the up/down reports of the operation for later */
            ens_msg *m = scn_listen_type(t, &tsup_rep_t, SCN_WAIT_MS);
            tsup_rep_v r = *(const tsup_rep_v *)ens_msg_value(m, &tsup_rep_t);
            ens_msg_free(m);
            if (r.tag == TAG_OPDONE)
                return (tsup_opres){r.n, r.who, r.num, r.aux, r.aux, r.at};
            assert_true(n_stash < TSUP_MAX_REPS);
            stash[n_stash++] = r;
        }
    }
    tsup_warg_v w;
    ens_child_spec spec = tsup_wspec(id, &w, num, ens_self(t->out), ENS_TRANSIENT);
    ens_sup_counts_v cnt = {0, 0, 0, 0};
    switch (what) {
    case OP_START:
        o.status = ens_supervisor_start_child_wait(t->out, sup, &spec, NULL, NULL, &o.addr);
        break;
    case OP_START_SIMPLE:
        o.status = ens_supervisor_start_child_wait(t->out, sup, NULL, &tsup_warg_t, &w, &o.addr);
        break;
    case OP_TERMINATE:
        o.status = ens_supervisor_terminate_child_wait(t->out, sup, id, child);
        break;
    case OP_RESTART:
        o.status = ens_supervisor_restart_child_wait(t->out, sup, id, &o.addr);
        break;
    case OP_DELETE:
        o.status = ens_supervisor_delete_child_wait(t->out, sup, id);
        break;
    case OP_COUNT:
        o.status = ens_supervisor_count_children_wait(t->out, sup, &cnt);
        o.active = (int32_t)cnt.active;
        o.specs = (int32_t)cnt.specs;
        break;
    }
    o.at = scn_now_ns();
    return o;
}

/* The report (tag, num), which an operation caused. */
void tsup_expect_one(scn *t, int tag, int num)
{
    tsup_rep_v r[1];
    const int want[1][2] = {{tag, num}};
    tsup_expect_reps(t, want, 1, r);
}

ens_addr tsup_spawn_client(scn *t)
{
    ens_addr c;
    tsup_warg_v w = {0, 0, 0, 0, ens_self(t->out)};
    assert_int_equal(ens_spawn(t->out, &tsup_client_def, &tsup_warg_t, &w, &c), 0);
    return c;
}

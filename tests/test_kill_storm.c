/*
 * tests/test_kill_storm.c - SIGKILL storms under steady request/reply load
 * through a supervision tree (process base).
 *
 *   storm.Top (one_for_one)
 *   |- group-a  storm.GroupA (one_for_one): 4 storm.Worker, restarted in
 *   |           place by the runtime (same address) when killed
 *   `- group-b  storm.GroupB (one_for_all): 4 storm.Worker spawned without
 *               in-place restart, so a kill makes the group restart all four
 *
 * Four client actors keep requests in flight to random workers (ens_request,
 * 10 s timeout) and refresh their worker lists from the groups
 * (which_children) when a worker is gone. Meanwhile the test SIGKILLs random
 * workers and, now and then, a group supervisor, each time waiting until
 * the victim's process was replaced. Checked at the end:
 *  - every request completed with its reply, a PoisonMessage (ENS_EPOISON)
 *    or an error reply (ENS_ENOACTOR): none timed out, none was lost;
 *  - no request was handled twice at attempt 1, nor twice at attempt 2 (the
 *    only repeat allowed is the documented redelivery of the message in
 *    hand at a crash);
 *  - every kill has exactly one CRASH row with SIGKILL for the victim's
 *    address and incarnation, except a kill that came when the victim had
 *    already begun its orderly exit (asked to exit by its one_for_all
 *    group, or as the orphan of a killed group) and was past the point
 *    where a signal changes anything: it exited with status 0 anyway, so
 *    there was no crash to journal (the worker's terminate tells the test
 *    it was leaving: its address, incarnation and process, since a
 *    supervisor's child keeps its address across restarts and so the same
 *    address ends in order again and again); and the supervisors' RESTART
 *    rows follow their strategies;
 *  - no process of the system is left after shutdown.
 * ENS_STORM_KILLS sets the number of kills (50 by default; `make
 * reliability` runs 1 000).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/runtime/runtime.h"
#include "supervisor/sup_internal.h"
#include "support/deadline.h"
#include "support/journal_files.h"
#include "support/procfs.h"
#include "support/progress.h"
#include "support/scenario.h"

#define MAX_REQUESTS (1u << 20)
#define CLIENTS      4
#define IN_FLIGHT    4 /* per client */
#define WORKERS      4 /* per group */
#define MAX_PIDS     8192
#define MAX_KILLS    200000
#define MAX_LEFT     (1u << 20) /* orderly exits begun (terminates run) */

/* A worker process that ran its terminate: it was leaving in order. */
typedef struct left_rec {
    uint64_t addr_id;
    uint32_t incarnation;
    int32_t pid;
} left_rec;

/* Per request id: how often a worker handled it at attempt 1 and 2. */
typedef struct storm_shared {
    uint32_t attempt1[MAX_REQUESTS];
    uint32_t attempt2[MAX_REQUESTS];
    uint8_t outcome[MAX_REQUESTS];         /* enum outcome, set by the client */
    uint32_t handler[MAX_REQUESTS];        /* address id of the worker that handled it */
    int32_t handler_pid[MAX_REQUESTS][2];  /* its process at attempt 1 and 2 */
    uint32_t handler_inc[MAX_REQUESTS][2]; /* and its incarnation (the last at each attempt) */
    /* Every worker process that ran its terminate (began its orderly exit),
     * in no order: n_left of them were recorded (more than MAX_LEFT: the
     * log overflowed). An address ends in order many times: a supervisor
     * starts its child again at the address it had. */
    uint32_t n_left;
    left_rec left[MAX_LEFT];
    /* Requests issued and completed by all clients so far: the progress
     * line reads them while the clients run. */
    uint64_t sent, completed;
} storm_shared;

enum outcome { OUT_NONE, OUT_REPLY, OUT_POISON, OUT_NOACTOR, OUT_TIMEOUT, OUT_OTHER };
static storm_shared *shared;

typedef struct req_v {
    uint32_t id;
} req_v;
static ens_msgtype req_t = {"storm.Req", "S(u)", sizeof(req_v), 0, 0, NULL};

typedef struct groups_v {
    ens_addr top, spare_addr;
    uint32_t first_id; /* this client's ids: first_id, first_id + 1, ... */
    uint32_t spare;
} groups_v;
static ens_msgtype groups_t = {
    "storm.Groups", "S(" ENS_ADDR_FMT ENS_ADDR_FMT "uu)", sizeof(groups_v), 0, 0, NULL};

typedef struct tally_v {
    uint64_t sent, replied, poisoned, noactor, timedout, other, refreshes;
    uint32_t first_id, last_id; /* the client's ids: [first_id, last_id) */
} tally_v;
static ens_msgtype tally_t = {"storm.Tally", "S(UUUUUUUuu)", sizeof(tally_v), 0, 0, NULL};

/* ---- the worker ------------------------------------------------------- */

static int worker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const req_v *r = ens_msg_value(m, &req_t);
    if (r == NULL || r->id >= MAX_REQUESTS)
        return 0;
    if (ens_msg_attempt(m) >= 2)
        __atomic_add_fetch(&shared->attempt2[r->id], 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&shared->attempt1[r->id], 1, __ATOMIC_SEQ_CST);
    shared->handler[r->id] = (uint32_t)ens_self(c).id;
    shared->handler_pid[r->id][ens_msg_attempt(m) >= 2] = (int32_t)getpid();
    shared->handler_inc[r->id][ens_msg_attempt(m) >= 2] = c->actor->incarnation;
    return ens_reply(c, &req_t, r);
}

/* An exit request (its group restarting all, or its group killed): the
 * process is leaving in order from here on. */
static void worker_terminate(ens_ctx *c, void *state, int reason)
{
    (void)state;
    (void)reason;
    uint32_t at = __atomic_fetch_add(&shared->n_left, 1, __ATOMIC_SEQ_CST);
    if (at < MAX_LEFT)
        shared->left[at] = (left_rec){ens_self(c).id, c->actor->incarnation, (int32_t)getpid()};
}

static const ens_actor_def worker_def = {
    .name = "storm.Worker", .receive = worker_receive, .terminate = worker_terminate};

/* ---- the tree ---------------------------------------------------------- */

static int group_configure(ens_sup_strategy strategy, ens_sup_flags *flags, ens_child_spec *specs,
                           size_t *n)
{
    static const char *ids[WORKERS] = {"w1", "w2", "w3", "w4"};
    /* The storm is the point: never give up. */
    *flags = (ens_sup_flags){strategy, 1000000, 1000, ENS_SUP_START_ORDERED};
    for (size_t i = 0; i < WORKERS; i++) {
        specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
        specs[i].id = ids[i];
        specs[i].def = &worker_def;
        specs[i].shutdown_ms = 2000;
    }
    *n = WORKERS;
    return 0;
}

static int group_a_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                             ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    (void)max;
    return group_configure(ENS_ONE_FOR_ONE, flags, specs, n);
}

static int group_b_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                             ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    (void)max;
    return group_configure(ENS_ONE_FOR_ALL, flags, specs, n);
}

ENS_SUPERVISOR_DEF(group_a_def, "storm.GroupA", group_a_configure);
ENS_SUPERVISOR_DEF(group_b_def, "storm.GroupB", group_b_configure);

static int top_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                         ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    (void)max;
    *flags = (ens_sup_flags){ENS_ONE_FOR_ONE, 1000000, 1000, ENS_SUP_START_ORDERED};
    specs[0] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
    specs[0].id = "group-a";
    specs[0].def = &group_a_def;
    specs[0].is_supervisor = true;
    specs[0].shutdown = ENS_SHUTDOWN_INFINITY;
    specs[1] = specs[0];
    specs[1].id = "group-b";
    specs[1].def = &group_b_def;
    *n = 2;
    return 0;
}
ENS_SUPERVISOR_DEF(top_def, "storm.Top", top_configure);

/* ---- the clients ------------------------------------------------------- */

typedef struct client_state {
    groups_v g;
    ens_addr workers[2 * WORKERS];
    size_t n_workers;
    uint32_t next_id;
    uint32_t outstanding;
    uint32_t refreshing; /* which_children requests pending */
    bool stopping;
    ens_addr report_to;
    tally_v t;
    uint64_t rng;
} client_state;

static uint32_t rnd(client_state *st)
{
    st->rng = st->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(st->rng >> 33);
}

static void client_pump(ens_ctx *c, client_state *st);

static void on_children(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag);

/* which_children with a short timeout: a supervisor killed while it held
 * the question (during a restart) never answers it, and a client must not
 * stall for the operations' default minute. */
static int ask_children(ens_ctx *c, ens_addr sup, ens_reply_cb cb, uint64_t tag)
{
    ens_sup_query_v q = {0};
    return ens_request(c, sup, &ens__msg_sup_which, &q, 500, cb, tag);
}

/* The top's children: the groups as they are now (asked each time: a group
 * between two starts has no address); then their workers. */
static void on_groups(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    client_state *st = state;
    (void)tag;
    st->refreshing--;
    const ens_sup_children_v *v =
        status == 0 && reply != NULL ? ens_msg_value(reply, &ens_msg_sup_children) : NULL;
    const ens_sup_child_info *rows = v != NULL ? v->children.items : NULL;
    for (uint32_t i = 0; v != NULL && i < v->children.count && i < 2; i++) {
        if (!ens_addr_is_none(rows[i].child) && ask_children(c, rows[i].child, on_children, i) == 0)
            st->refreshing++;
    }
    client_pump(c, st);
}

static void on_children(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    client_state *st = state;
    st->refreshing--;
    const ens_sup_children_v *v =
        status == 0 && reply != NULL ? ens_msg_value(reply, &ens_msg_sup_children) : NULL;
    size_t base = tag == 0 ? 0 : WORKERS;
    for (size_t i = 0; i < WORKERS; i++)
        st->workers[base + i] = ENS_ADDR_NONE;
    if (v != NULL) {
        const ens_sup_child_info *rows = v->children.items;
        for (uint32_t i = 0; i < v->children.count && i < WORKERS; i++)
            st->workers[base + i] = rows[i].child;
    }
    client_pump(c, st);
}

static void refresh(ens_ctx *c, client_state *st)
{
    st->t.refreshes++;
    if (ask_children(c, st->g.top, on_groups, 0) == 0)
        st->refreshing++;
}

static void finish_if_done(ens_ctx *c, client_state *st)
{
    if (st->stopping && st->outstanding == 0 && st->refreshing == 0 &&
        !ens_addr_is_none(st->report_to)) {
        st->t.first_id = st->g.first_id;
        st->t.last_id = st->next_id;
        ens_send(c, st->report_to, &tally_t, &st->t);
        st->report_to = ENS_ADDR_NONE;
    }
}

static void on_reply(ens_ctx *c, void *state, int status, const ens_msg *reply, uint64_t tag)
{
    client_state *st = state;
    (void)reply;
    (void)tag;
    st->outstanding--;
    __atomic_add_fetch(&shared->completed, 1, __ATOMIC_RELAXED);
    if (tag < MAX_REQUESTS)
        shared->outcome[tag] = status == 0               ? OUT_REPLY
                               : status == ENS_EPOISON   ? OUT_POISON
                               : status == ENS_ENOACTOR  ? OUT_NOACTOR
                               : status == ENS_ETIMEDOUT ? OUT_TIMEOUT
                                                         : OUT_OTHER;
    if (status == 0)
        st->t.replied++;
    else if (status == ENS_EPOISON)
        st->t.poisoned++;
    else if (status == ENS_ENOACTOR)
        st->t.noactor++;
    else if (status == ENS_ETIMEDOUT)
        st->t.timedout++;
    else
        st->t.other++;
    if (status == ENS_ENOACTOR && st->refreshing == 0)
        refresh(c, st);
    client_pump(c, st);
}

static void client_pump(ens_ctx *c, client_state *st)
{
    while (!st->stopping && st->outstanding < IN_FLIGHT && st->refreshing == 0) {
        ens_addr to = st->workers[rnd(st) % (2 * WORKERS)];
        if (ens_addr_is_none(to)) { /* a group between restarts: ask again */
            refresh(c, st);
            break;
        }
        if (st->next_id >= st->g.first_id + MAX_REQUESTS / CLIENTS - 1)
            break;
        req_v r = {st->next_id};
        if (ens_request(c, to, &req_t, &r, 10000, on_reply, r.id) != 0) {
            st->t.other++;
            break;
        }
        st->next_id++;
        st->outstanding++;
        st->t.sent++;
        __atomic_add_fetch(&shared->sent, 1, __ATOMIC_RELAXED);
    }
    finish_if_done(c, st);
}

static int client_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    client_state *st = state;
    const groups_v *g = ens_msg_value(arg, &groups_t);
    if (g == NULL)
        return ENS_EINVAL;
    st->g = *g;
    st->next_id = g->first_id;
    st->rng = g->first_id * 2654435761u + 1;
    refresh(c, st);
    return 0;
}

static int client_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    client_state *st = state;
    if (ens_msg_value(m, &ens_msg_string) != NULL) { /* "stop": report when drained */
        st->stopping = true;
        st->report_to = ens_sender(c);
        finish_if_done(c, st);
    }
    return 0;
}

static const ens_actor_def client_def = {.name = "storm.Client",
                                         .state_size = sizeof(client_state),
                                         .init = client_init,
                                         .receive = client_receive};

/* ---- the storm --------------------------------------------------------- */

typedef struct victim {
    ens_addr addr;
    int pid;
    uint32_t incarnation;
    bool group;
} victim;

/* Every kill, and how many CRASH rows with SIGKILL name its victim's
 * address and incarnation; by_victim: the kills sorted by that. */
static victim killed[MAX_KILLS];
static uint8_t killed_rows[MAX_KILLS];
static uint32_t by_victim[MAX_KILLS];

/* Memory over the run: the peak of any actor process, the peak total of all
 * of them with the admin, and per sample the mean per process (the number
 * of processes varies with restarts in progress; their size must not). */
#define MAX_SAMPLES 200000
typedef struct mem_samples {
    long peak_proc_kib, peak_total_kib;
    long last_total_kib;   /* all processes with the admin, at the last sample */
    long last_procs;       /* how many processes that was */
    char peak_type[8][32]; /* the peak per actor type, to name a grower */
    long peak_type_kib[8];
    size_t n;
    long total_kib[MAX_SAMPLES];
} mem_samples;
static mem_samples mem;

/* Mean of the samples in [from, to) (fractions of the run). */
static long mem_mean(double from, double to)
{
    size_t a = (size_t)(from * (double)mem.n), b = (size_t)(to * (double)mem.n);
    if (b <= a)
        return 0;
    double sum = 0;
    for (size_t i = a; i < b; i++)
        sum += (double)mem.total_kib[i];
    return (long)(sum / (double)(b - a));
}

/* The progress figures, in the order of the columns in the storm's test. */
static int64_t *storm_figures(int64_t *f, unsigned kills, unsigned group_kills)
{
    f[0] = kills;
    f[1] = group_kills;
    f[2] = (int64_t)__atomic_load_n(&shared->sent, __ATOMIC_RELAXED);
    f[3] = (int64_t)__atomic_load_n(&shared->completed, __ATOMIC_RELAXED);
    f[4] = mem.last_total_kib;
    f[5] = mem.peak_total_kib;
    f[6] = mem.last_procs;
    f[7] = mem.peak_proc_kib;
    return f;
}

static void note_pid(int pid, int *pids, size_t *n_pids)
{
    for (size_t i = 0; i < *n_pids; i++) {
        if (pids[i] == pid)
            return;
    }
    if (*n_pids < MAX_PIDS)
        pids[(*n_pids)++] = pid;
}

/* The live workers and group supervisors, and every pid seen. */
static size_t snapshot(scn *t, victim *v, size_t max, int *pids, size_t *n_pids)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    size_t n = 0;
    long total = test_rss_kib(ens_status_admin_pid(st));
    long procs = 1;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (a->pid > 0)
            note_pid(a->pid, pids, n_pids);
        total += (long)a->rss_kib;
        for (size_t k = 0; k < 8; k++) {
            if (mem.peak_type[k][0] == '\0')
                snprintf(mem.peak_type[k], sizeof(mem.peak_type[k]), "%s", a->type);
            if (strcmp(mem.peak_type[k], a->type) == 0) {
                if ((long)a->rss_kib > mem.peak_type_kib[k])
                    mem.peak_type_kib[k] = (long)a->rss_kib;
                break;
            }
        }
        procs += a->rss_kib > 0;
        if ((long)a->rss_kib > mem.peak_proc_kib)
            mem.peak_proc_kib = (long)a->rss_kib;
        bool worker = strcmp(a->type, "storm.Worker") == 0;
        bool group = strcmp(a->type, "storm.GroupA") == 0 || strcmp(a->type, "storm.GroupB") == 0;
        if ((worker || group) && a->pid > 0 && n < max)
            v[n++] = (victim){a->addr, a->pid, a->incarnation, group};
    }
    ens_status_free(st);
    mem.last_total_kib = total;
    mem.last_procs = procs;
    if (total > mem.peak_total_kib)
        mem.peak_total_kib = total;
    if (mem.n < MAX_SAMPLES)
        mem.total_kib[mem.n++] = total / procs;
    return n;
}

/* Is pid a live process (not a zombie, not gone)? A kill of a zombie
 * succeeds but kills nothing, and would be counted as a kill. */
static bool running(int pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Has v's process been replaced? 0: not yet; 1: restarted in place (same
 * address, another process: the kill was surely a crash); 2: v ended. */
static int replaced(scn *t, const victim *v)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(t->sys, SCN_WAIT_MS, &st), 0);
    int how = 2;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (ens_addr_equal(a->addr, v->addr))
            how = a->pid == v->pid ? 0 : 1;
    }
    ens_status_free(st);
    return how;
}

static int count_rows(const ens_journal_row *row, void *arg)
{
    size_t *n = arg;
    if (row->ev.kind != ENS_EV_CRASH || row->ev.signal == SIGKILL)
        (*n)++;
    return 0;
}

static size_t journal_count(const char *db, ens_event_kind kind, const char *type)
{
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(db, &j), 0);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << kind;
    f.actor_type = type;
    f.limit = 0;
    size_t n = 0;
    assert_true(ens_journal_query(j, &f, count_rows, &n) >= 0);
    ens_journal_close(j);
    return n;
}

static int cmp_victim(const victim *a, const victim *b)
{
    if (a->addr.id != b->addr.id)
        return a->addr.id < b->addr.id ? -1 : 1;
    if (a->addr.node != b->addr.node)
        return a->addr.node < b->addr.node ? -1 : 1;
    return (a->incarnation > b->incarnation) - (a->incarnation < b->incarnation);
}

static int cmp_kill(const void *a, const void *b)
{
    return cmp_victim(&killed[*(const uint32_t *)a], &killed[*(const uint32_t *)b]);
}

static int match_row(const ens_journal_row *row, void *arg)
{
    unsigned kills = *(const unsigned *)arg;
    if (row->ev.signal != SIGKILL)
        return 0;
    victim key = {row->ev.actor, 0, row->ev.incarnation, false};
    size_t lo = 0, hi = kills; /* the first kill not below key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_victim(&killed[by_victim[mid]], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < kills && cmp_victim(&killed[by_victim[lo]], &key) == 0; lo++) {
        if (killed_rows[by_victim[lo]] < UINT8_MAX)
            killed_rows[by_victim[lo]]++;
    }
    return 0;
}

static int cmp_left(const void *a, const void *b)
{
    const left_rec *x = a, *y = b;
    if (x->addr_id != y->addr_id)
        return x->addr_id < y->addr_id ? -1 : 1;
    if (x->incarnation != y->incarnation)
        return x->incarnation < y->incarnation ? -1 : 1;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Did the victim of kill i begin its orderly exit (its terminate ran)? The
 * same address, incarnation and process: pids are reused within a run. The
 * log is sorted (match_kills). */
static bool was_leaving(unsigned i)
{
    const victim *k = &killed[i];
    left_rec key = {k->addr.id, k->incarnation, k->pid};
    return !k->group &&
           bsearch(&key, shared->left, shared->n_left, sizeof(shared->left[0]), cmp_left) != NULL;
}

/* Match every kill with its CRASH rows. Returns the number of kills with
 * no row; *unexplained counts those whose victim was not leaving in order
 * and the kills with more than one row (both must not happen). */
static unsigned match_kills(const char *db, unsigned kills, unsigned *unexplained)
{
    memset(killed_rows, 0, sizeof(killed_rows));
    assert_true(shared->n_left <= MAX_LEFT); /* else an exit in order went unrecorded */
    qsort(shared->left, shared->n_left, sizeof(shared->left[0]), cmp_left);
    for (uint32_t i = 0; i < kills; i++)
        by_victim[i] = i;
    qsort(by_victim, kills, sizeof(by_victim[0]), cmp_kill);
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(db, &j), 0);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_CRASH;
    f.limit = 0;
    assert_true(ens_journal_query(j, &f, match_row, &kills) >= 0);
    ens_journal_close(j);
    unsigned no_row = 0;
    *unexplained = 0;
    for (unsigned i = 0; i < kills; i++) {
        if (killed_rows[i] == 1)
            continue;
        no_row += killed_rows[i] == 0;
        bool explained = killed_rows[i] == 0 && was_leaving(i);
        *unexplained += !explained;
        if (explained && getenv("ENS_STORM_DEBUG") == NULL)
            continue;
        char a[ENS_ADDR_STRLEN];
        ens_addr_format(killed[i].addr, a, sizeof(a));
        printf("# kill %u: %s incarnation %u, pid %d%s: %u CRASH rows%s\n", i + 1, a,
               killed[i].incarnation, killed[i].pid, killed[i].group ? " (supervisor)" : "",
               killed_rows[i], explained ? " (it was leaving in order)" : " - UNEXPLAINED");
    }
    return no_row;
}

static bool pid_is_gone(int pid)
{
    char path[64], cmd[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    cmd[n] = '\0';
    return strncmp(cmd, "ens", 3) != 0; /* reused by someone else, or a zombie */
}

static void test_kill_storm_through_a_supervision_tree(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip(); /* SIGKILL needs processes */
    unsigned kills_wanted = 50;
    const char *env = getenv("ENS_STORM_KILLS");
    if (env != NULL && atoi(env) > 0)
        kills_wanted = (unsigned)atoi(env);
    /* The soak: kill for this many seconds instead of a number of kills. */
    long seconds = 0;
    env = getenv("ENS_STORM_SECONDS");
    if (env != NULL && atol(env) > 0)
        seconds = atol(env);
    int64_t t_start = scn_now_ns();
    memset(&mem, 0, sizeof(mem));
    memset(shared, 0, sizeof(*shared));
    char db[128];
    snprintf(db, sizeof(db), "storm-%d.db", (int)getpid());
    unlink(db);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = db;
    o.log_level = getenv("ENS_TEST_LOG") != NULL ? ENS_LOG_DEBUG : ENS_LOG_ERROR;
    scn_start(t, &o);
    ens_addr top;
    assert_int_equal(ens_spawn(t->out, &top_def, NULL, NULL, &top), 0);
    /* The storm starts once the whole tree is up: a kill in the first
     * start of a supervisor is a start failure, not a storm. */
    static int pids[MAX_PIDS];
    size_t n_pids = 0;
    victim v[64];
    test_deadline tree_up = test_deadline_in(TEST_WAIT_MS);
    while (snapshot(t, v, 64, pids, &n_pids) != 2 + 2 * WORKERS && !test_deadline_passed(tree_up))
        ;
    assert_int_equal(snapshot(t, v, 64, pids, &n_pids), 2 + 2 * WORKERS);
    groups_v g = {top, ENS_ADDR_NONE, 0, 0};
    ens_addr clients[CLIENTS];
    for (uint32_t i = 0; i < CLIENTS; i++) {
        g.first_id = 1 + i * (MAX_REQUESTS / CLIENTS);
        assert_int_equal(ens_spawn(t->out, &client_def, &groups_t, &g, &clients[i]), 0);
    }

    unsigned kills = 0, group_kills = 0, restarted_in_place = 0;
    uint64_t rng = 12345;
    /* How far the storm is: a line every ENS_PROGRESS_SECONDS, and the
     * series in ENS_RUN_DIR/kill_storm.csv (support/progress.h). */
    static const char *const columns[] = {"kills",     "supervisor_kills", "requests",
                                          "completed", "rss_kib",          "worst_rss_kib",
                                          "processes", "worst_proc_kib"};
    test_progress progress;
    int64_t figures[sizeof(columns) / sizeof(columns[0])];
    test_progress_open(&progress, "kill_storm", columns, sizeof(columns) / sizeof(columns[0]));
    while (seconds > 0 ? scn_now_ns() - t_start < seconds * 1000000000LL : kills < kills_wanted) {
        size_t n = snapshot(t, v, 64, pids, &n_pids);
        test_progress_tick(&progress, storm_figures(figures, kills, group_kills));
        /* A group killed in the init of its restart is restarted after a
         * backoff, with no process meanwhile: when both groups wait so,
         * nothing is up to be killed until the first of them is back. */
        test_deadline back_up = test_deadline_in(TEST_WAIT_MS);
        while (n == 0 && !test_deadline_passed(back_up))
            n = snapshot(t, v, 64, pids, &n_pids);
        assert_true(n > 0);
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t pick = (uint32_t)(rng >> 33);
        /* One kill in ten goes to a supervisor. */
        bool want_group = pick % 10 == 0;
        victim *chosen = NULL;
        for (size_t k = 0; k < n && chosen == NULL; k++) {
            victim *c = &v[(pick / 10 + k) % n];
            if (c->group == want_group)
                chosen = c;
        }
        if (chosen == NULL)
            continue;
        if (!running(chosen->pid))
            continue; /* it is ending by itself (a group restart): pick again */
        if (kill(chosen->pid, SIGKILL) != 0) {
            assert_int_equal(errno, ESRCH); /* it ended meanwhile: pick again */
            continue;
        }
        if (kills < MAX_KILLS)
            killed[kills] = *chosen;
        kills++;
        if (getenv("ENS_STORM_DEBUG") != NULL) {
            char a[ENS_ADDR_STRLEN];
            ens_addr_format(chosen->addr, a, sizeof(a));
            printf("# kill %u at %.3f s: %s pid %d%s\n", kills,
                   (double)(scn_now_ns() - t_start) / 1e9, a, chosen->pid,
                   chosen->group ? " (supervisor)" : "");
        }
        if (chosen->group)
            group_kills++;
        /* Wait until it was replaced, so the next kill meets a live tree. */
        test_deadline back = test_deadline_in(TEST_WAIT_MS);
        int how = 0;
        while ((how = replaced(t, chosen)) == 0)
            if (test_deadline_passed(back))
                fail_msg("pid %d was not replaced within %d ms", chosen->pid, TEST_WAIT_MS);
        restarted_in_place += how == 1;
    }

    /* Drain: every client stops issuing and reports once all its requests
     * completed. */
    tally_v total = {0};
    for (uint32_t i = 0; i < CLIENTS; i++)
        assert_int_equal(ens_send(t->out, clients[i], &ens_msg_string, &(ens_string_v){"stop"}), 0);
    uint32_t first_ids[CLIENTS], last_ids[CLIENTS];
    for (uint32_t i = 0; i < CLIENTS; i++) {
        ens_msg *m = scn_listen_type(t, &tally_t, 60000);
        const tally_v *tv = ens_msg_value(m, &tally_t);
        total.sent += tv->sent;
        total.replied += tv->replied;
        total.poisoned += tv->poisoned;
        total.noactor += tv->noactor;
        total.timedout += tv->timedout;
        total.other += tv->other;
        total.refreshes += tv->refreshes;
        first_ids[i] = tv->first_id;
        last_ids[i] = tv->last_id;
        ens_msg_free(m);
    }
    snapshot(t, v, 64, pids, &n_pids);
    /* The last row: the run's totals. */
    test_progress_tick_now(&progress, storm_figures(figures, kills, group_kills));
    test_progress_close(&progress);
    assert_int_equal(scn_shutdown(t, SCN_WAIT_MS), 0);

    uint64_t twice1 = 0, twice2 = 0, redelivered = 0;
    for (uint32_t i = 0; i < CLIENTS; i++) {
        for (uint32_t id = first_ids[i]; id < last_ids[i]; id++) {
            twice1 += shared->attempt1[id] > 1;
            twice2 += shared->attempt2[id] > 1;
            redelivered += shared->attempt2[id] > 0;
            if (shared->outcome[id] == OUT_NONE || shared->outcome[id] >= OUT_TIMEOUT ||
                shared->attempt1[id] > 1 || shared->attempt2[id] > 1)
                printf("# request %u: outcome %d, handled %u times at attempt 1, %u at 2, by "
                       "actor %u, pids %d and %d (incarnations %u and %u)\n",
                       id, shared->outcome[id], shared->attempt1[id], shared->attempt2[id],
                       shared->handler[id], shared->handler_pid[id][0], shared->handler_pid[id][1],
                       shared->handler_inc[id][0], shared->handler_inc[id][1]);
        }
    }
    size_t crash_rows = journal_count(db, ENS_EV_CRASH, "storm.Worker") +
                        journal_count(db, ENS_EV_CRASH, "storm.GroupA") +
                        journal_count(db, ENS_EV_CRASH, "storm.GroupB");
    size_t inplace_rows = journal_count(db, ENS_EV_RESTART, "storm.Worker");
    unsigned unexplained = 0;
    assert_true(kills <= MAX_KILLS);
    unsigned no_row = match_kills(db, kills, &unexplained);
    size_t escalations = journal_count(db, ENS_EV_ESCALATE, NULL);
    printf("# %u kills (%u of supervisors) under %llu requests: %llu replies, %llu poisoned, "
           "%llu error replies (no actor), %llu timed out, %llu other; %llu redelivered after a "
           "crash, %llu handled twice; %u restarted in place; journal: %zu SIGKILL crash rows (%u "
           "kills met a process already leaving in order and left none), %zu worker restart "
           "rows\n",
           kills, group_kills, (unsigned long long)total.sent, (unsigned long long)total.replied,
           (unsigned long long)total.poisoned, (unsigned long long)total.noactor,
           (unsigned long long)total.timedout, (unsigned long long)total.other,
           (unsigned long long)redelivered, (unsigned long long)(twice1 + twice2),
           restarted_in_place, crash_rows, no_row, inplace_rows);
    assert_true(total.sent > 0);
    assert_int_equal(total.sent,
                     total.replied + total.poisoned + total.noactor + total.timedout + total.other);
    assert_int_equal(total.timedout, 0);
    assert_int_equal(total.other, 0);
    assert_int_equal(twice1, 0);
    assert_int_equal(twice2, 0);
    /* One CRASH row per kill, but none for a kill that met a process
     * already leaving in order (it exited with status 0 all the same). */
    assert_int_equal(unexplained, 0);
    assert_int_equal(crash_rows, kills - no_row);
    assert_true(inplace_rows >= 1);
    assert_int_equal(escalations, 0);
    /* Memory must not grow with the kills: the last third of the run
     * against the second (the first is the warm-up). */
    long mid = mem_mean(1.0 / 3, 2.0 / 3), late = mem_mean(2.0 / 3, 1.0);
    printf("# memory: peak %ld KiB in one process, %ld KiB in all; mean per process %ld KiB in "
           "the middle third of the run, %ld KiB in the last (%zu samples over %.1f s)\n",
           mem.peak_proc_kib, mem.peak_total_kib, mid, late, mem.n,
           (double)(scn_now_ns() - t_start) / 1e9);
    for (size_t k = 0; k < 8 && mem.peak_type[k][0] != '\0'; k++)
        printf("# memory: peak %ld KiB for %s\n", mem.peak_type_kib[k], mem.peak_type[k]);
#ifndef __SANITIZE_ADDRESS__
    if (seconds > 0)
        assert_true(late < mid + mid / 4); /* no growth beyond noise */
#endif
    test_deadline all_gone = test_deadline_in(TEST_WAIT_MS);
    for (size_t i = 0; i < n_pids; i++) {
        while (!pid_is_gone(pids[i]) && !test_deadline_passed(all_gone))
            test_nap_ms(10); /* polling /proc for exits: nothing to wait on */
        if (!pid_is_gone(pids[i]))
            fail_msg("process %d is left after shutdown", pids[i]);
    }
    test_journal_remove(db);
}

static const struct CMUnitTest tests[] = {
    SCN_TEST(test_kill_storm_through_a_supervision_tree),
};

int main(void)
{
    shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return 1;
    if (ens_msgtype_register(&req_t) != 0 || ens_msgtype_register(&groups_t) != 0 ||
        ens_msgtype_register(&tally_t) != 0)
        return 1;
    return scn_run_bases("kill_storm", tests, sizeof(tests) / sizeof(tests[0]));
}

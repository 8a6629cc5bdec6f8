/*
 * behaviours/troupe.c - a leader that spreads work over a pool of workers.
 *
 * Two actor definitions live here, both static so that their addresses are
 * valid in every process of the process base (all fork from one image):
 *
 *  - the leader ("ens.Troupe"): keeps a slot per worker (free, idle, busy,
 *    leaving) and a FIFO of work that found no idle worker. It hands work
 *    out with ens_forward (original sender and correlation kept) and right
 *    behind it, on the same leader -> worker pair, a small Mark carrying a
 *    sequence number.
 *  - the worker wrapper ("ens.TroupeWorker"): runs the user's definition on
 *    a state buffer of its own and answers each Mark with a Done of the same
 *    number to the leader. It is spawned shown as the user's definition
 *    (ens__spawn_shown): status rows, journal rows, events and log lines
 *    name the user's type, and the leader is their parent, so nobody
 *    outside this file sees the wrapper's name. Order per pair is FIFO and a worker handles one
 *    message at a time, so when it takes a Mark the work before it is over:
 *    handled, retried and handled, or poisoned (after errors or, on the
 *    process base, after a crash, redelivery and a second crash). The leader
 *    needs no other notice, not even ens_msg_child_restarted: a crash
 *    restart keeps the mailbox, so the Mark still comes.
 *
 * A worker that ends for good reaches the leader as ens_msg_child_exited:
 * its slot is freed (its work became a dead letter in the core) and work
 * waiting, or the minimum of idle_count workers, gets a new one.
 *
 * Start arguments: the user's (type, value) is encoded into a frame once by
 * ens_troupe_spawn and travels as bytes inside the leader's start argument
 * and, from there, inside each worker's; the wrapper decodes it and gives it
 * to the user's init (ens_msg_encode / ens_msg_decode).
 */
#include "ensemble/troupe.h"
#include "core/wire/why.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/runtime/runtime.h"
#include "core/wire/msgtype.h"
#include "ensemble/error.h"

/* ---- message types ------------------------------------------------------- */

/* Start argument of the leader and of every worker. */
typedef struct troupe_cfg_v {
    uint64_t def; /* const ens_actor_def * of the workers */
    uint32_t max_count;
    uint32_t idle_count;
    uint32_t dismiss_after_ms;
    uint32_t spare;
    ens_bytes arg; /* the user's start argument as a frame; len 0: none */
} troupe_cfg_v;
/* The types of this file are built-in types (ENS__BUILTIN_MSGTYPE): known
 * in every process, the process base's forked actors included, without a
 * registration call; their ids are their names' FNV-1a hashes. */
static const ens_msgtype cfg_t = {"ens.TroupeConfig", "S(Uuuuu)B", sizeof(troupe_cfg_v), 0,
                                  0xB3029D68u,        NULL};
ENS__BUILTIN_MSGTYPE(cfg_t);

/* Leader -> worker after each work message, and worker -> leader when the
 * worker takes it (the work before it is over). */
typedef struct troupe_seq_v {
    uint64_t seq;
} troupe_seq_v;
static const ens_msgtype mark_t = {"ens.TroupeMark", "S(U)", sizeof(troupe_seq_v), 0,
                                   0xBAB5AA2Fu,      NULL};
static const ens_msgtype done_t = {"ens.TroupeDone", "S(U)", sizeof(troupe_seq_v), 0,
                                   0x8D567C46u,      NULL};
ENS__BUILTIN_MSGTYPE(mark_t);
ENS__BUILTIN_MSGTYPE(done_t);

const ens_msgtype ens_msg_troupe_stats = {
    "ens.TroupeStats", "S(uuuuUUUU)", sizeof(ens_troupe_stats_v), 0, 0xD7DAD105u, NULL};
ENS__BUILTIN_MSGTYPE(ens_msg_troupe_stats);

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the worker wrapper --------------------------------------------------- */

typedef struct worker_state {
    const ens_actor_def *def;
    void *user;        /* def->state_size bytes (at least 1), zeroed */
    bool hold;         /* ens_troupe_busy(true) is in force */
    bool mark_pending; /* a Mark came while held: answer it on release */
    uint64_t pending_seq;
    struct worker_link *link; /* this wrapper's entry in live_workers */
} worker_state;

/* Every wrapper alive in this process (one on the process base, all of them
 * on inproc), so ens_troupe_busy finds its worker from any callback, also a
 * request completion that the core calls without the wrapper. Entries are
 * nodes of their own: a system torn down without terminate (a shutdown
 * timeout) leaves a node naming an address, never a freed state that a
 * lookup would read. */
typedef struct worker_link {
    ens_addr addr;
    worker_state *w;
    struct worker_link *next;
} worker_link;
static worker_link *live_workers;

static int worker_link_add(worker_state *w, ens_addr addr)
{
    worker_link *l = malloc(sizeof(*l));
    if (l == NULL)
        return ENS_ENOMEM;
    *l = (worker_link){addr, w, live_workers};
    live_workers = l;
    w->link = l;
    return 0;
}

static void worker_link_drop(worker_state *w)
{
    for (worker_link **p = &live_workers; *p != NULL; p = &(*p)->next) {
        if (*p == w->link) {
            *p = w->link->next;
            free(w->link);
            break;
        }
    }
    w->link = NULL;
}

static int worker_done(ens_ctx *c, uint64_t seq)
{
    troupe_seq_v d = {seq};
    return ens_send(c, ens_parent(c), &done_t, &d);
}

static int worker_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    worker_state *w = state;
    const troupe_cfg_v *cfg = arg != NULL ? ens_msg_value(arg, &cfg_t) : NULL;
    if (cfg == NULL || cfg->def == 0)
        return ENS_EINVAL;
    w->def = (const ens_actor_def *)(uintptr_t)cfg->def;
    ens__actor_show_as(c, w->def); /* the events of this process name it too */
    w->user = calloc(1, w->def->state_size > 0 ? w->def->state_size : 1);
    if (w->user == NULL)
        return ENS_ENOMEM;
    ens_msg *um = NULL;
    if (cfg->arg.len > 0) {
        int rc = ens_msg_decode(cfg->arg.data, cfg->arg.len, &um);
        if (rc < 0) {
            free(w->user);
            return rc;
        }
    }
    int rc = worker_link_add(w, ens_self(c));
    if (rc < 0) {
        ens_msg_free(um);
        free(w->user);
        return rc;
    }
    rc = w->def->init != NULL ? w->def->init(c, w->user, um) : 0;
    ens_msg_free(um);
    if (rc < 0) {
        /* terminate never runs after a failed init: clean up here. */
        worker_link_drop(w);
        free(w->user);
        w->user = NULL;
    }
    return rc;
}

static int worker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    worker_state *w = state;
    const troupe_seq_v *mark = ens_msg_value(m, &mark_t);
    if (mark != NULL && ens_addr_equal(ens_msg_sender(m), ens_parent(c))) {
        if (w->hold) {
            w->mark_pending = true;
            w->pending_seq = mark->seq;
            return 0;
        }
        return worker_done(c, mark->seq);
    }
    const ens_actor_def *d = w->def;
    if (d->dispatch != NULL) {
        for (const ens_dispatch_entry *e = d->dispatch; e->type != NULL; e++) {
            const void *v = ens_msg_value(m, e->type);
            if (v != NULL && e->handle != NULL)
                return e->handle(c, w->user, v, m);
        }
    }
    return d->receive != NULL ? d->receive(c, w->user, m) : 0;
}

static void worker_terminate(ens_ctx *c, void *state, int reason)
{
    worker_state *w = state;
    if (w->def != NULL && w->def->terminate != NULL && w->user != NULL)
        w->def->terminate(c, w->user, reason);
    worker_link_drop(w);
    free(w->user);
    w->user = NULL;
}

static const ens_actor_def worker_def = {"ens.TroupeWorker",
                                         sizeof(worker_state),
                                         worker_init,
                                         worker_receive,
                                         worker_terminate,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL};

int ens_troupe_busy(ens_ctx *c, bool busy)
{
    ens__errmsg_clear();
    if (c == NULL || !ens_in_actor(c))
        return ens__fail(ENS_EINVAL, "ens_troupe_busy: called outside an actor");
    ens_addr self = ens_self(c);
    worker_link *l = live_workers;
    while (l != NULL && !ens_addr_equal(l->addr, self))
        l = l->next;
    if (l == NULL)
        return ens__fail(ENS_EINVAL, "ens_troupe_busy: the caller is not a troupe worker");
    worker_state *w = l->w;
    w->hold = busy;
    if (!busy && w->mark_pending) {
        w->mark_pending = false;
        return worker_done(c, w->pending_seq);
    }
    return 0;
}

/* ---- the leader --------------------------------------------------------------- */

enum slot_state { SLOT_FREE = 0, SLOT_IDLE, SLOT_BUSY, SLOT_LEAVING };

typedef struct slot {
    ens_addr addr;
    int state;          /* enum slot_state */
    uint64_t seq;       /* the Mark of the work in hand (BUSY) */
    int64_t idle_since; /* mono ms (IDLE) */
    bool proven;        /* it has finished work: it can start */
} slot;

typedef struct leader_state {
    const ens_actor_def *def;
    uint32_t max_count, idle_count, dismiss_after_ms;
    uint8_t *arg; /* the user's start argument frame (owned), or NULL */
    uint32_t arg_len;
    slot *slots;      /* max_count of them */
    uint32_t live;    /* slots not FREE */
    uint32_t leaving; /* slots LEAVING */
    uint32_t busy;
    uint64_t next_seq;
    bool timer_armed;
    bool init_failing; /* a worker's init failed, and none has worked since */
    /* Work waiting for a worker: a ring of owned messages. */
    ens_msg **q;
    size_t q_head, q_len, q_cap;
    ens_troupe_stats_v st;
} leader_state;

static int q_push(leader_state *L, const ens_msg *m)
{
    if (L->q_len == L->q_cap) {
        size_t cap = L->q_cap ? L->q_cap * 2 : 64;
        ens_msg **nq = malloc(cap * sizeof(*nq));
        if (nq == NULL)
            return ENS_ENOMEM;
        for (size_t i = 0; i < L->q_len; i++)
            nq[i] = L->q[(L->q_head + i) % L->q_cap];
        free(L->q);
        L->q = nq;
        L->q_cap = cap;
        L->q_head = 0;
    }
    ens_msg *d = ens_msg_dup(m);
    if (d == NULL)
        return ENS_ENOMEM;
    L->q[(L->q_head + L->q_len) % L->q_cap] = d;
    L->q_len++;
    return 0;
}

static ens_msg *q_pop(leader_state *L)
{
    if (L->q_len == 0)
        return NULL;
    ens_msg *m = L->q[L->q_head];
    L->q_head = (L->q_head + 1) % L->q_cap;
    L->q_len--;
    return m;
}

static slot *slot_of(leader_state *L, ens_addr a)
{
    for (uint32_t i = 0; i < L->max_count; i++)
        if (L->slots[i].state != SLOT_FREE && ens_addr_equal(L->slots[i].addr, a))
            return &L->slots[i];
    return NULL;
}

/* The idle worker that became idle last: the others stay idle longer and
 * are the ones dismissed. */
static slot *idle_slot(leader_state *L)
{
    slot *best = NULL;
    for (uint32_t i = 0; i < L->max_count; i++) {
        slot *s = &L->slots[i];
        if (s->state == SLOT_IDLE && (best == NULL || s->idle_since >= best->idle_since))
            best = s;
    }
    return best;
}

/* Start one more worker in a free slot, idle. */
static int worker_start(ens_ctx *c, leader_state *L, slot **out)
{
    slot *s = NULL;
    for (uint32_t i = 0; i < L->max_count && s == NULL; i++)
        if (L->slots[i].state == SLOT_FREE)
            s = &L->slots[i];
    if (s == NULL)
        return ENS_EAGAIN;
    troupe_cfg_v cfg = {
        (uint64_t)(uintptr_t)L->def, L->max_count, L->idle_count, L->dismiss_after_ms, 0,
        {L->arg, L->arg_len}};
    ens_addr a;
    int rc = ens__spawn_shown(c, &worker_def, L->def, &cfg_t, &cfg, 0, &a);
    if (rc < 0)
        return rc;
    *s = (slot){a, SLOT_IDLE, 0, mono_ms(), false};
    L->live++;
    L->st.started++;
    if (out != NULL)
        *out = s;
    return 0;
}

/* Give m to the worker of s, followed by its Mark. */
static int assign(ens_ctx *c, leader_state *L, slot *s, const ens_msg *m)
{
    int rc = ens_forward(c, s->addr, m);
    if (rc < 0)
        return rc;
    troupe_seq_v mark = {++L->next_seq};
    rc = ens_send(c, s->addr, &mark_t, &mark);
    if (rc < 0)
        return rc;
    s->state = SLOT_BUSY;
    s->seq = mark.seq;
    L->busy++;
    if (L->busy > L->st.max_busy)
        L->st.max_busy = L->busy;
    return 0;
}

/* Arm the dismissal check for the first idle worker above the minimum whose
 * time is up, if none is armed. */
static void dismiss_arm(ens_ctx *c, leader_state *L)
{
    if (L->timer_armed || L->live - L->leaving <= L->idle_count)
        return;
    int64_t first = -1;
    for (uint32_t i = 0; i < L->max_count; i++) {
        slot *s = &L->slots[i];
        if (s->state == SLOT_IDLE && (first < 0 || s->idle_since < first))
            first = s->idle_since;
    }
    if (first < 0)
        return;
    int64_t due = first + (int64_t)L->dismiss_after_ms - mono_ms();
    if (due < 0)
        due = 0;
    if (due >= UINT32_MAX)
        due = UINT32_MAX - 1;
    if (ens_wakeup_after(c, (uint32_t)due + 1, 0, NULL) == 0)
        L->timer_armed = true;
}

static void dismiss_due(ens_ctx *c, leader_state *L)
{
    L->timer_armed = false;
    int64_t now = mono_ms();
    while (L->live - L->leaving > L->idle_count) {
        slot *oldest = NULL;
        for (uint32_t i = 0; i < L->max_count; i++) {
            slot *s = &L->slots[i];
            if (s->state == SLOT_IDLE && (oldest == NULL || s->idle_since < oldest->idle_since))
                oldest = s;
        }
        if (oldest == NULL || now - oldest->idle_since < (int64_t)L->dismiss_after_ms)
            break;
        if (ens_exit_request(c, oldest->addr) < 0)
            break;
        oldest->state = SLOT_LEAVING;
        L->leaving++;
        L->st.dismissed++;
    }
    dismiss_arm(c, L);
}

/* Put m back at the head of the waiting work. */
static void q_unpop(leader_state *L, ens_msg *m)
{
    assert(L->q_len < L->q_cap);
    L->q_head = (L->q_head + L->q_cap - 1) % L->q_cap;
    L->q[L->q_head] = m;
    L->q_len++;
}

/* Hand waiting work to idle workers (starting workers up to max_count),
 * then make sure idle_count workers live. While workers fail to start no
 * new one is started here (only for new work), or a definition whose init
 * always fails would be started in an endless loop. Returns the first
 * error; the work it concerned waits on at the head. */
static int pump(ens_ctx *c, leader_state *L)
{
    while (L->q_len > 0) {
        slot *s = idle_slot(L);
        if (s == NULL && !L->init_failing && L->live < L->max_count && worker_start(c, L, &s) < 0)
            s = NULL;
        if (s == NULL)
            break;
        ens_msg *m = q_pop(L);
        int rc = assign(c, L, s, m);
        if (rc < 0) {
            q_unpop(L, m);
            return rc;
        }
        ens_msg_free(m);
    }
    while (!L->init_failing && L->live - L->leaving < L->idle_count && L->live < L->max_count)
        if (worker_start(c, L, NULL) < 0)
            break;
    dismiss_arm(c, L);
    return 0;
}

static void stats_fill(leader_state *L)
{
    L->st.workers = L->live;
    L->st.busy = L->busy;
    L->st.waiting = (uint32_t)L->q_len;
}

static void leader_free(leader_state *L)
{
    ens_msg *m;
    while ((m = q_pop(L)) != NULL)
        ens_msg_free(m);
    free(L->q);
    free(L->slots);
    free(L->arg);
    L->q = NULL;
    L->slots = NULL;
    L->arg = NULL;
}

static int leader_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    leader_state *L = state;
    const troupe_cfg_v *cfg = arg != NULL ? ens_msg_value(arg, &cfg_t) : NULL;
    if (cfg == NULL || cfg->def == 0 || cfg->max_count == 0 || cfg->idle_count > cfg->max_count)
        return ENS_EINVAL;
    L->def = (const ens_actor_def *)(uintptr_t)cfg->def;
    L->max_count = cfg->max_count;
    L->idle_count = cfg->idle_count;
    L->dismiss_after_ms = cfg->dismiss_after_ms;
    L->slots = calloc(cfg->max_count, sizeof(*L->slots));
    if (L->slots == NULL)
        return ENS_ENOMEM;
    if (cfg->arg.len > 0) {
        L->arg = malloc(cfg->arg.len);
        if (L->arg == NULL) {
            leader_free(L);
            return ENS_ENOMEM;
        }
        memcpy(L->arg, cfg->arg.data, cfg->arg.len);
        L->arg_len = cfg->arg.len;
    }
    for (uint32_t i = 0; i < L->idle_count; i++) {
        int rc = worker_start(c, L, NULL);
        if (rc < 0) {
            leader_free(L);
            return rc;
        }
    }
    return 0;
}

static void on_child_exited(ens_ctx *c, leader_state *L, const ens_child_exited_v *x)
{
    slot *s = slot_of(L, x->child);
    if (s == NULL)
        return;
    if (s->state == SLOT_BUSY)
        L->busy--;
    if (s->state == SLOT_LEAVING)
        L->leaving--;
    else
        L->st.lost++;
    s->state = SLOT_FREE;
    L->live--;
    /* A worker that could not start (init failed, or crashed before it ever
     * finished work: a crash in init ends an actor for good) says the
     * next one may not start either. */
    if (x->reason == ENS_EXIT_INIT_FAILED ||
        (!s->proven && (x->reason == ENS_EXIT_CRASH || x->reason == ENS_EXIT_KILLED)))
        L->init_failing = true;
    if (L->init_failing && L->live == 0) {
        /* The definition cannot start: starting another now would fail the
         * same way, over and over. Waiting work becomes dead letters (its
         * requesters get ENS_ENOACTOR); later work tries again. */
        ens_msg *m;
        while ((m = q_pop(L)) != NULL) {
            (void)ens_forward(c, x->child, m);
            ens_msg_free(m);
        }
        return;
    }
    (void)pump(c, L);
}

static int leader_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    leader_state *L = state;
    if (ens_msg_is_system(m)) {
        const ens_child_exited_v *x = ens_msg_value(m, &ens_msg_child_exited);
        if (x != NULL)
            on_child_exited(c, L, x);
        else if (ens_msg_value(m, &ens_msg_wakeup) != NULL)
            dismiss_due(c, L);
        return 0; /* exit requests are the core's; restarts change nothing here */
    }
    const troupe_seq_v *d = ens_msg_value(m, &done_t);
    if (d != NULL) {
        slot *s = slot_of(L, ens_msg_sender(m));
        if (s == NULL || s->state != SLOT_BUSY || s->seq != d->seq)
            return 0; /* stale: a worker that ended for good meanwhile */
        s->state = SLOT_IDLE;
        s->idle_since = mono_ms();
        s->proven = true;
        L->busy--;
        L->st.done++;
        L->init_failing = false;
        return pump(c, L);
    }
    if (ens_msg_value(m, &ens_msg_troupe_stats) != NULL) {
        stats_fill(L);
        return ens_reply(c, &ens_msg_troupe_stats, &L->st);
    }
    /* Work. Anything waiting goes first, to keep arrival order. */
    if (L->q_len == 0) {
        slot *s = idle_slot(L);
        if (s == NULL && L->live < L->max_count) {
            int rc = worker_start(c, L, &s);
            if (rc < 0 && L->live == 0)
                return rc; /* nobody to wait for: retry, then poison */
        }
        if (s != NULL)
            return assign(c, L, s, m);
    }
    int rc = q_push(L, m);
    if (rc < 0)
        return rc;
    return pump(c, L);
}

static void leader_terminate(ens_ctx *c, void *state, int reason)
{
    (void)c;
    (void)reason;
    leader_free(state);
}

static const ens_actor_def leader_def = {"ens.Troupe",
                                         sizeof(leader_state),
                                         leader_init,
                                         leader_receive,
                                         leader_terminate,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL};

/* ---- spawning ------------------------------------------------------------------- */

int ens_troupe_spawn(ens_ctx *c, const ens_troupe_opts *o, ens_addr *out)
{
    ens__errmsg_clear();
    if (c == NULL || o == NULL || out == NULL || o->worker == NULL)
        return ens__fail(ENS_EINVAL, "ens_troupe_spawn: %s is NULL",
                         c == NULL     ? "c"
                         : o == NULL   ? "o"
                         : out == NULL ? "out"
                                       : "o->worker");
    if ((o->worker->receive == NULL && o->worker->dispatch == NULL) || o->max_count == 0 ||
        o->idle_count > o->max_count || (o->arg_type == NULL) != (o->arg == NULL))
        return ens__fail(ENS_EINVAL, "ens_troupe_spawn: %s",
                         o->max_count == 0              ? "max_count is 0"
                         : o->idle_count > o->max_count ? "idle_count is above max_count"
                         : (o->arg_type == NULL) != (o->arg == NULL)
                             ? "arg_type and arg go together"
                             : "the worker definition has "
                               "neither receive nor dispatch");
    int rc = 0;
    uint8_t *frame = NULL;
    size_t len = 0;
    if (o->arg_type != NULL) {
        rc = ens_msg_encode(o->arg_type, o->arg, &frame, &len);
        if (rc < 0)
            return rc;
        if (len > UINT32_MAX / 2) {
            free(frame);
            return ENS_EMSGSIZE;
        }
    }
    troupe_cfg_v cfg = {
        (uint64_t)(uintptr_t)o->worker, o->max_count, o->idle_count, o->dismiss_after_ms, 0,
        {frame, (uint32_t)len}};
    rc = ens_spawn(c, &leader_def, &cfg_t, &cfg, out);
    free(frame);
    return rc;
}

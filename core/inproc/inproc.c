/*
 * core/inproc/inproc.c - the inproc base: every actor in the calling process, run
 * one message at a time, in the order the messages were sent (Thespian's
 * simpleSystemBase). The deterministic base for tests and debugging.
 *
 * One FIFO of encoded frames holds every message of the system; a
 * "start" entry in the same FIFO runs the init of an actor spawned from
 * inside another, so messages sent to a new actor wait behind its init.
 * Wake-ups are a binary heap ordered by (deadline, request order); a due
 * wake-up joins the FIFO when the loop sees it. Actors run only inside the
 * outside program's blocking calls (spawn, ask, listen, run, shutdown);
 * when nothing is queued the loop sleeps until the next wake-up or the
 * call's deadline, on the real clock (polling watched descriptors and
 * commands meanwhile: core/inproc/inproc_services.c).
 *
 * A supervisor's child (ENS__SPAWN_KEEP_ADDR) that ends leaves a
 * reservation: frames for its address that the loop reaches meanwhile are
 * parked there, in order, and put back at the head of the FIFO once the
 * next incarnation's init has run (or become dead letters when the
 * reservation is released or its parent ends).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/inproc/inproc_services.h"
#include "core/runtime/caps.h"
#include "core/runtime/names.h"
#include "core/runtime/runtime.h"
#include "core/wire/why.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"
#include "ensemble/status.h"

typedef struct qitem {
    struct qitem *next;
    ens_addr target;
    uint8_t *frame; /* NULL for a start entry */
    size_t len;
    uint32_t counted; /* the incarnation whose mailbox counts it, 0: none */
} qitem;

/* The address of an ended child kept for its parent (ENS__SPAWN_KEEP_ADDR),
 * with the frames that reached it meanwhile. */
typedef struct kept {
    ens_addr addr, parent;
    uint32_t incarnation; /* of the last incarnation */
    qitem *head, *tail;   /* parked frames, in arrival order */
} kept;

typedef struct timer {
    uint64_t deadline_ns;
    uint64_t seq;
    uint64_t id;
    uint64_t payload;
    uint32_t delay_ms;
    ens_addr owner;
} timer;

typedef struct inproc {
    ens_actor **actors; /* index: id - ENS_ID_FIRST_ACTOR; NULL once gone */
    size_t cap_actors;
    uint64_t next_id;
    size_t live;
    qitem *head, *tail;
    timer *timers; /* binary heap */
    size_t n_timers, cap_timers;
    uint64_t next_timer_id;
    ens_addr dead_handler;
    ens_addr *top; /* top-level actors alive, in start order */
    size_t n_top, cap_top;
    ens_addr stopping; /* the top-level actor ip_close waits for */
    void *services;    /* watches and commands: core/inproc/inproc_services.c */
    ens_names names;   /* global names (registry/) */
    /* The actor a synchronous spawn waits for (init_done tells how it went). */
    ens_addr await;
    bool await_done;
    int await_rc;
    char await_why[512];
    kept *kept; /* reservations (few: a supervisor's children between two starts) */
    size_t n_kept, cap_kept;
} inproc;

static inproc *base_of(ens_system *s)
{
    return s->base;
}

void **ens__inproc_services_slot(ens_system *s)
{
    return &base_of(s)->services;
}

static ens_actor *lookup(ens_system *s, ens_addr addr)
{
    inproc *b = base_of(s);
    if (addr.node != s->node || addr.spare != 0 || addr.id < ENS_ID_FIRST_ACTOR)
        return NULL;
    uint64_t i = addr.id - ENS_ID_FIRST_ACTOR;
    if (i >= b->cap_actors)
        return NULL;
    ens_actor *a = b->actors[i];
    return a != NULL && a->status != ENS_ACTOR_DEAD ? a : NULL;
}

static int enqueue(inproc *b, ens_addr target, uint8_t *frame, size_t len, uint32_t counted)
{
    qitem *q = malloc(sizeof(*q));
    if (q == NULL) {
        free(frame);
        return ENS_ENOMEM;
    }
    *q = (qitem){NULL, target, frame, len, counted};
    if (b->tail != NULL)
        b->tail->next = q;
    else
        b->head = q;
    b->tail = q;
    return 0;
}

/* ---- reservations ------------------------------------------------------ */

static kept *kept_find(inproc *b, ens_addr addr)
{
    for (size_t i = 0; i < b->n_kept; i++)
        if (ens_addr_equal(b->kept[i].addr, addr))
            return &b->kept[i];
    return NULL;
}

/* End reservation k: its parked frames become dead letters, its name is
 * free. */
static void kept_release(ens_system *s, kept *k)
{
    inproc *b = base_of(s);
    qitem *q = k->head;
    ens_addr addr = k->addr;
    *k = b->kept[--b->n_kept];
    ens__names_drop_addr(&b->names, addr);
    while (q != NULL) {
        qitem *n = q->next;
        ens_frame_hdr h;
        if (ens__frame_hdr_read(q->frame, q->len, s->opts.max_frame_bytes, &h) == 0)
            ens__dead_letter(s, q->frame, q->len, &h, b->dead_handler, "the actor ended");
        else
            free(q->frame);
        free(q);
        q = n;
    }
}

/* a ends: keep its address for its parent if it was spawned so and the
 * parent runs. True when kept. */
static bool kept_begin(ens_system *s, const ens_actor *a)
{
    inproc *b = base_of(s);
    if (!(a->spawn_flags & ENS__SPAWN_KEEP_ADDR) || s->down)
        return false;
    const ens_actor *p = lookup(s, a->parent);
    kept *k = kept_find(b, a->addr);
    if (p == NULL || p->status != ENS_ACTOR_RUNNING) {
        if (k != NULL)
            kept_release(s, k);
        return false;
    }
    if (k == NULL) {
        if (b->n_kept == b->cap_kept) {
            size_t cap = b->cap_kept ? b->cap_kept * 2 : 8;
            kept *n = realloc(b->kept, cap * sizeof(*n));
            if (n == NULL)
                return false; /* it ends for good: dead letters, as without the flag */
            b->kept = n;
            b->cap_kept = cap;
        }
        k = &b->kept[b->n_kept++];
        *k = (kept){a->addr, a->parent, 0, NULL, NULL};
    }
    k->incarnation = a->incarnation;
    return true;
}

/* The new incarnation at k's address has run its init: the parked frames go
 * first, before anything the FIFO holds for it (all of that came later). */
static void kept_resume(ens_system *s, kept *k, ens_actor *a)
{
    inproc *b = base_of(s);
    for (qitem *q = k->head; q != NULL; q = q->next) {
        q->counted = a->incarnation;
        a->queued++;
        a->queued_bytes += q->len;
    }
    if (k->head != NULL) {
        k->tail->next = b->head;
        if (b->head == NULL)
            b->tail = k->tail;
        b->head = k->head;
    }
    k->head = k->tail = NULL;
    *k = b->kept[--b->n_kept];
}

/* ---- base operations -------------------------------------------------- */

static int ip_route(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded)
{
    inproc *b = base_of(s);
    if (h->target.node == s->node && h->target.id == ENS_ID_OUTSIDE && h->target.spare == 0) {
        ens__outside_deliver(s, frame, len);
        return 0;
    }
    ens_actor *a = lookup(s, h->target);
    if (a == NULL && kept_find(b, h->target) != NULL) /* waits for the next incarnation */
        return enqueue(b, h->target, frame, len, 0);
    if (a == NULL) {
        ens__dead_letter(s, frame, len, h, b->dead_handler,
                         h->target.node == s->node ? "no live actor at that address"
                                                   : "address of another system");
        return 0;
    }
    /* The same two bounds as the process base's senders (core/process/proc_tx.c):
     * frames, and bytes (a lone message always fits). */
    if (bounded && !(h->flags & ENS_FRAME_SYSTEM) &&
        (a->queued >= s->opts.mailbox_limit ||
         (a->queued_bytes > 0 && a->queued_bytes + len > s->opts.mailbox_bytes_limit))) {
        free(frame);
        return ENS_EFULL;
    }
    int rc = enqueue(b, h->target, frame, len, a->incarnation);
    if (rc == 0) {
        a->queued++;
        a->queued_bytes += len;
    }
    return rc;
}

static int add_top(inproc *b, ens_addr addr)
{
    if (b->n_top == b->cap_top) {
        size_t cap = b->cap_top ? b->cap_top * 2 : 16;
        ens_addr *n = realloc(b->top, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        b->top = n;
        b->cap_top = cap;
    }
    b->top[b->n_top++] = addr;
    return 0;
}

typedef bool (*done_fn)(ens_system *s);
static int run_until(ens_system *s, done_fn done, uint64_t deadline_ns, bool wait_timers);
static int ip_kill(ens_system *s, ens_actor *caller, ens_addr who);

static void ip_init_done(ens_system *s, ens_actor *a, int rc, const char *why)
{
    inproc *b = base_of(s);
    if (!ens_addr_equal(a->addr, b->await))
        return;
    b->await_done = true;
    b->await_rc = rc;
    snprintf(b->await_why, sizeof(b->await_why), "%s", why != NULL ? why : "");
}

static bool await_over(ens_system *s)
{
    inproc *b = base_of(s);
    return b->await_done || lookup(s, b->await) == NULL;
}

/* An outside spawn: run a's init now; if it deferred its ack, run the
 * system until the ack, the actor's end, or past the actor's own deadline
 * (call_timeout_ms after its init). */
static int sync_start(ens_system *s, ens_actor *a)
{
    inproc *b = base_of(s);
    ens_addr addr = a->addr;
    b->await = addr;
    b->await_done = false;
    b->await_rc = 0;
    b->await_why[0] = '\0';
    int rc = ens__actor_start(a); /* a may be freed */
    if (rc == ENS__INIT_DEFERRED) {
        uint64_t deadline = ens__mono_ns() +
                            ((uint64_t)s->opts.call_timeout_ms + ENS__INIT_ACK_GRACE_MS) * 1000000u;
        if (run_until(s, await_over, deadline, true) == ENS_ETIMEDOUT && !b->await_done) {
            ip_kill(s, NULL, addr); /* its own deadline never fired: the loop was held up */
            snprintf(b->await_why, sizeof(b->await_why),
                     "no acknowledgement of its init came within %u ms: killed",
                     s->opts.call_timeout_ms);
            b->await_done = true;
            b->await_rc = ENS_ETIMEDOUT;
        }
        rc = b->await_done ? b->await_rc : ENS_EINIT;
        if (!b->await_done)
            snprintf(b->await_why, sizeof(b->await_why),
                     "the actor ended before it acknowledged its init");
    } else if (rc < 0) {
        rc = b->await_done ? b->await_rc : ENS_EINIT;
    }
    b->await = ENS_ADDR_NONE;
    if (rc < 0 && b->await_why[0] != '\0')
        ens__errmsg_set("%s", b->await_why);
    return rc < 0 ? rc : 0;
}

/* A new incarnation at the address reserved for parent's child *out; its
 * init runs from the FIFO, as any spawn from inside. */
static int spawn_at(ens_system *s, ens_actor *parent, const ens_actor_def *d, uint8_t *arg_frame,
                    size_t arg_len, uint32_t flags, ens_addr *out)
{
    inproc *b = base_of(s);
    kept *k = kept_find(b, *out);
    if (parent == NULL || k == NULL || !ens_addr_equal(k->parent, parent->addr) ||
        b->actors[k->addr.id - ENS_ID_FIRST_ACTOR] != NULL) {
        free(arg_frame);
        return ENS_ENOENT;
    }
    ens_actor *a = ens__actor_new(s, d, k->addr, parent->addr, arg_frame, arg_len);
    if (a == NULL)
        return ENS_ENOMEM;
    a->spawn_flags = flags;
    a->incarnation = k->incarnation + 1;
    if (enqueue(b, a->addr, NULL, 0, 0) < 0) {
        ens__actor_free(a);
        return ENS_ENOMEM;
    }
    b->actors[a->addr.id - ENS_ID_FIRST_ACTOR] = a;
    b->live++;
    return 0;
}

/* A definition placed by capabilities (convention.h, "Placement") runs
 * here only if the built-ins (the one system there is has no others) meet
 * it. Returns 0 (it fits), ENS_ENOPLACE (outside: ens_errmsg says why), 1
 * (inside: *out is an address with no actor, its parent hears child-exited
 * ENS_EXIT_NOPLACE), ENS_ENOMEM. Either way one no_place journal row. */
static int place_here(ens_system *s, ens_actor *parent, const ens_actor_def *d, ens_addr *out)
{
    if ((d->requirements == NULL || d->requirements[0] == NULL) && d->capability_check == NULL)
        return 0;
    char host[256], why[256] = "";
    ens__caps_host(host, sizeof(host));
    char *caps = ens__caps_compose(host, NULL);
    if (caps == NULL)
        return ENS_ENOMEM;
    bool ok = ens_capabilities_meet(caps, d->requirements, why, sizeof(why));
    if (ok && d->capability_check != NULL && !d->capability_check(caps)) {
        ok = false;
        snprintf(why, sizeof(why), "the capability check refused");
    }
    free(caps);
    if (ok)
        return 0;
    char text[512];
    snprintf(text, sizeof(text), "no system can run %s: %s: %s", d->name, s->name, why);
    inproc *b = base_of(s);
    ens_addr addr = ENS_ADDR_NONE;
    if (parent != NULL)
        addr = (ens_addr){b->next_id++, s->node, 0};
    ens_event ev = {.kind = ENS_EV_NOPLACE,
                    .actor = addr,
                    .parent = parent != NULL ? parent->addr : ENS_ADDR_NONE,
                    .error = ENS_ENOPLACE,
                    .actor_type = (char *)d->name,
                    .reason = text};
    ens__event(s, &ev);
    if (parent == NULL) {
        ens__errmsg_set("%s", text);
        return ENS_ENOPLACE;
    }
    ens_child_exited_v ce = {addr, ENS_EXIT_NOPLACE, 0, ENS_ENOPLACE, 1};
    ens__send_frame(s, addr, parent->addr, &ens_msg_child_exited, &ce, ENS_FRAME_SYSTEM, 0, 0,
                    false);
    *out = addr;
    return 1;
}

static int ip_spawn(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                    const ens_actor_def *shown, uint8_t *arg_frame, size_t arg_len, bool sync,
                    uint32_t flags, ens_addr *out)
{
    inproc *b = base_of(s);
    if (flags & ENS__SPAWN_AT)
        return spawn_at(s, parent, d, arg_frame, arg_len, flags, out);
    int placed = place_here(s, parent, d, out);
    if (placed != 0) {
        free(arg_frame);
        return placed < 0 ? placed : 0;
    }
    uint64_t i = b->next_id - ENS_ID_FIRST_ACTOR;
    if (i >= b->cap_actors) {
        size_t cap = b->cap_actors ? b->cap_actors * 2 : 64;
        ens_actor **n = realloc(b->actors, cap * sizeof(*n));
        if (n == NULL) {
            free(arg_frame);
            return ENS_ENOMEM;
        }
        memset(n + b->cap_actors, 0, (cap - b->cap_actors) * sizeof(*n));
        b->actors = n;
        b->cap_actors = cap;
    }
    ens_addr addr = {b->next_id, s->node, 0};
    ens_actor *a = ens__actor_new(s, d, addr, parent != NULL ? parent->addr : ENS_ADDR_NONE,
                                  arg_frame, arg_len);
    if (a == NULL)
        return ENS_ENOMEM;
    a->spawn_flags = flags; /* NO_RESTART: nothing to turn off, no crashes here */
    a->shown = shown;
    if (parent == NULL && add_top(b, addr) < 0) {
        ens__actor_free(a);
        return ENS_ENOMEM;
    }
    if (!sync && enqueue(b, addr, NULL, 0, 0) < 0) {
        ens__actor_free(a);
        return ENS_ENOMEM;
    }
    b->next_id++;
    b->actors[i] = a;
    b->live++;
    *out = addr;
    return sync ? sync_start(s, a) : 0;
}

static bool timer_before(const timer *x, const timer *y)
{
    return x->deadline_ns < y->deadline_ns || (x->deadline_ns == y->deadline_ns && x->seq < y->seq);
}

static void heap_up(inproc *b, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(&b->timers[i], &b->timers[p]))
            break;
        timer t = b->timers[i];
        b->timers[i] = b->timers[p];
        b->timers[p] = t;
        i = p;
    }
}

static void heap_down(inproc *b, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < b->n_timers && timer_before(&b->timers[l], &b->timers[m]))
            m = l;
        if (r < b->n_timers && timer_before(&b->timers[r], &b->timers[m]))
            m = r;
        if (m == i)
            return;
        timer t = b->timers[i];
        b->timers[i] = b->timers[m];
        b->timers[m] = t;
        i = m;
    }
}

static void heap_remove(inproc *b, size_t i)
{
    b->timers[i] = b->timers[--b->n_timers];
    if (i < b->n_timers) {
        heap_down(b, i);
        heap_up(b, i);
    }
}

static int ip_timer_add(ens_system *s, ens_actor *a, uint32_t delay_ms, uint64_t payload,
                        uint64_t *id)
{
    inproc *b = base_of(s);
    if (b->n_timers == b->cap_timers) {
        size_t cap = b->cap_timers ? b->cap_timers * 2 : 16;
        timer *n = realloc(b->timers, cap * sizeof(*n));
        if (n == NULL)
            return ENS_ENOMEM;
        b->timers = n;
        b->cap_timers = cap;
    }
    uint64_t tid = ++b->next_timer_id;
    b->timers[b->n_timers] = (timer){
        .deadline_ns = ens__mono_ns() + (uint64_t)delay_ms * 1000000u,
        .seq = tid,
        .id = tid,
        .payload = payload,
        .delay_ms = delay_ms,
        .owner = a->addr,
    };
    heap_up(b, b->n_timers++);
    *id = tid;
    return 0;
}

static int ip_timer_cancel(ens_system *s, ens_actor *a, uint64_t id)
{
    inproc *b = base_of(s);
    for (size_t i = 0; i < b->n_timers; i++) {
        if (b->timers[i].id == id && ens_addr_equal(b->timers[i].owner, a->addr)) {
            heap_remove(b, i);
            return 0;
        }
    }
    return ENS_ENOENT;
}

static void ip_actor_gone(ens_system *s, ens_actor *a)
{
    inproc *b = base_of(s);
    ens__inproc_services_actor_gone(s, a);
    for (size_t i = b->n_timers; i-- > 0;) {
        if (ens_addr_equal(b->timers[i].owner, a->addr))
            heap_remove(b, i);
    }
    for (size_t i = 0; i < b->n_top; i++) {
        if (ens_addr_equal(b->top[i], a->addr)) {
            memmove(&b->top[i], &b->top[i + 1], (b->n_top - i - 1) * sizeof(b->top[0]));
            b->n_top--;
            break;
        }
    }
    for (size_t i = b->n_kept; i-- > 0;) /* no reservation outlives its parent */
        if (ens_addr_equal(b->kept[i].parent, a->addr))
            kept_release(s, &b->kept[i]);
    if (!kept_begin(s, a))
        ens__names_drop_addr(&b->names, a->addr); /* it ended for good */
    b->actors[a->addr.id - ENS_ID_FIRST_ACTOR] = NULL;
    b->live--;
    ens__actor_free(a);
}

static void ip_dead_letters_set(ens_system *s, ens_addr who, bool enable)
{
    inproc *b = base_of(s);
    if (enable)
        b->dead_handler = who;
    else if (ens_addr_equal(b->dead_handler, who))
        b->dead_handler = ENS_ADDR_NONE;
}

/* ---- the loop --------------------------------------------------------- */

/* Move due wake-ups into the FIFO, in deadline order. */
static void fire_timers(ens_system *s)
{
    inproc *b = base_of(s);
    if (b->n_timers == 0)
        return;
    uint64_t now = ens__mono_ns();
    while (b->n_timers > 0 && b->timers[0].deadline_ns <= now) {
        timer t = b->timers[0];
        heap_remove(b, 0);
        ens_wakeup_v w = {t.id, t.payload, t.delay_ms};
        ens__send_frame(s, t.owner, t.owner, &ens_msg_wakeup, &w, ENS_FRAME_SYSTEM, 0, 0, false);
    }
}

/* Handle the first entry of the FIFO. Returns false when it is empty. */
static bool step(ens_system *s)
{
    inproc *b = base_of(s);
    fire_timers(s);
    ens__inproc_services_pump(s);
    qitem *q = b->head;
    if (q == NULL)
        return false;
    b->head = q->next;
    if (b->head == NULL)
        b->tail = NULL;
    ens_addr target = q->target;
    uint8_t *frame = q->frame;
    size_t len = q->len;
    uint32_t counted = q->counted;
    free(q);

    ens_actor *a = lookup(s, target);
    if (frame == NULL) { /* start entry */
        if (a != NULL && a->status == ENS_ACTOR_STARTING && ens__actor_start(a) == 0) {
            kept *k = kept_find(b, target);
            a = lookup(s, target);
            if (k != NULL && a != NULL && a->status == ENS_ACTOR_RUNNING)
                kept_resume(s, k, a);
        }
        return true;
    }
    kept *k = kept_find(b, target);
    if (k != NULL && (a == NULL || a->status == ENS_ACTOR_STARTING)) {
        /* Between two incarnations: it waits for the next one's init. */
        if (a != NULL && counted == a->incarnation) {
            a->queued--;
            a->queued_bytes -= len;
        }
        qitem *p = malloc(sizeof(*p));
        if (p != NULL) {
            *p = (qitem){NULL, target, frame, len, 0};
            if (k->tail != NULL)
                k->tail->next = p;
            else
                k->head = p;
            k->tail = p;
            return true;
        }
        ens__alloc_failed(s, "keeping a message for a restarting actor: a dead letter instead");
        a = NULL;
    }
    if (a == NULL) {
        ens_frame_hdr h;
        if (ens__frame_hdr_read(frame, len, s->opts.max_frame_bytes, &h) == 0)
            ens__dead_letter(s, frame, len, &h, b->dead_handler, "the actor ended");
        else
            free(frame);
        return true;
    }
    if (counted == a->incarnation) {
        a->queued--;
        a->queued_bytes -= len;
    }
    ens_msg *m = NULL;
    int rc = ens__msg_from_frame(frame, len, s->opts.max_frame_bytes, &m);
    if (rc == ENS_ENOMEM) { /* its sender was told it was sent: counted */
        ens__alloc_failed(s, "a message to an actor could not be decoded and was lost");
        return true;
    }
    if (rc < 0) {
        ens_event ev = {.kind = ENS_EV_BADFRAME, .error = rc, .reason = ens_strerror(rc)};
        ens__event_actor(&ev, a);
        ens__event(s, &ev);
        return true;
    }
    ens__actor_deliver(a, m);
    ens_msg_free(m);
    return true;
}

/* Run until done(s) or the deadline. Returns 0 or ENS_ETIMEDOUT. With
 * wait_timers false, an empty FIFO ends the run (returns 0). The failure
 * journal is flushed whenever the loop goes idle: before it sleeps and when
 * it returns. */
static int run_until(ens_system *s, done_fn done, uint64_t deadline_ns, bool wait_timers)
{
    inproc *b = base_of(s);
    int rc = 0;
    for (;;) {
        if (done != NULL && done(s))
            break;
        if (ens__mono_ns() >= deadline_ns) {
            rc = ENS_ETIMEDOUT;
            break;
        }
        if (step(s))
            continue;
        if (!wait_timers)
            break;
        uint64_t until = deadline_ns;
        if (b->n_timers > 0 && b->timers[0].deadline_ns < until)
            until = b->timers[0].deadline_ns;
        ens__journal_flush(s);
        ens__inproc_services_wait(s, until); /* sleeps, or polls fds and commands */
    }
    ens__journal_flush(s);
    return rc;
}

static uint64_t deadline_after(uint32_t timeout_ms)
{
    return ens__mono_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* The outside's calls (core/runtime/outside.c) wait here: actors run meanwhile,
 * wake-ups are waited for. */
static int ip_pump(ens_system *s, done_fn done, uint64_t deadline_ns)
{
    return run_until(s, done, deadline_ns, true);
}

/* Nothing runs between the call and the lookup, so an address without a
 * live actor is known at once. */
static bool ip_absent(ens_system *s, ens_addr to)
{
    return lookup(s, to) == NULL && kept_find(base_of(s), to) == NULL;
}

static int ip_run(ens_system *s, uint32_t timeout_ms)
{
    uint64_t deadline = deadline_after(timeout_ms);
    int n = 0;
    while (ens__mono_ns() < deadline && step(s))
        n++;
    ens__journal_flush(s);
    return n;
}

static bool all_gone(ens_system *s)
{
    return base_of(s)->live == 0;
}

static bool all_gone_or_queued(ens_system *s)
{
    return base_of(s)->live == 0 || base_of(s)->head != NULL;
}

static void free_all(ens_system *s)
{
    inproc *b = base_of(s);
    ens__inproc_services_free(s);
    for (size_t i = 0; i < b->cap_actors; i++)
        ens__actor_free(b->actors[i]);
    free(b->actors);
    for (qitem *q = b->head, *n; q != NULL; q = n) {
        n = q->next;
        free(q->frame);
        free(q);
    }
    free(b->timers);
    free(b->top);
    for (size_t i = 0; i < b->n_kept; i++) {
        for (qitem *q = b->kept[i].head, *n; q != NULL; q = n) {
            n = q->next;
            free(q->frame);
            free(q);
        }
    }
    free(b->kept);
    ens__names_clear(&b->names);
    free(b);
}

/* The top-level actor the shutdown waits for (ip_close) has ended. */
static bool stopping_gone(ens_system *s)
{
    return lookup(s, base_of(s)->stopping) == NULL;
}

/* The last started top-level actor still alive (the list keeps start
 * order; one whose turn came has ended or was killed by then), or NULL. */
static ens_actor *next_top(ens_system *s)
{
    inproc *b = base_of(s);
    for (size_t i = b->n_top; i-- > 0;) {
        ens_actor *a = lookup(s, b->top[i]);
        if (a != NULL)
            return a;
    }
    return NULL;
}

/* The outside program and its actors are one: closing the handle ends the
 * system (`end` or not). As the process base does (and a supervisor with
 * its children): the top-level actors one at a time, the last started
 * first, each asked once the one before has ended; each gets what is left
 * of timeout_ms divided by the top-level actors still to stop, and is
 * killed (journaled) past it. */
static int ip_close(ens_system *s, uint32_t timeout_ms, bool end)
{
    (void)end;
    inproc *b = base_of(s);
    uint64_t deadline = deadline_after(timeout_ms);
    int rc = 0;
    ens_actor *a;
    while ((a = next_top(s)) != NULL) {
        size_t left = 0;
        for (size_t i = 0; i < b->n_top; i++)
            left += lookup(s, b->top[i]) != NULL;
        if (left == 0)
            left = 1; /* a is one of them; an actor not in the list still gets the rest */
        uint64_t now = ens__mono_ns();
        uint64_t by = now + (deadline > now ? deadline - now : 0) / left;
        b->stopping = a->addr;
        ens__send_frame(s, s->outside.self, a->addr, &ens_msg_exit_request, NULL, ENS_FRAME_SYSTEM,
                        0, 0, false);
        if (run_until(s, stopping_gone, by, true) == 0)
            continue;
        a = lookup(s, b->stopping);
        if (a == NULL)
            continue;
        ens_event ev = {.kind = ENS_EV_EXIT,
                        .reason = "did not end within its share of the shutdown's time: killed"};
        ens__event_actor(&ev, a);
        ens__event(s, &ev);
        a->killed = true;
        ens__actor_stop(a, ENS_EXIT_KILLED, 0);
        rc = ENS_ETIMEDOUT;
    }
    /* Actors left over (started by a terminate, say, or whose parent did
     * not ask them) get theirs in rounds until the time is up. */
    while (b->live > 0 && ens__mono_ns() < deadline) {
        for (size_t i = 0; i < b->cap_actors; i++) {
            if (b->actors[i] != NULL)
                ens__send_frame(s, s->outside.self, b->actors[i]->addr, &ens_msg_exit_request, NULL,
                                ENS_FRAME_SYSTEM, 0, 0, false);
        }
        if (run_until(s, all_gone, deadline, false) != 0)
            break;
        /* Nothing queued, actors left: some wait on a wake-up (a parent
         * bounding the wait for its children, a supervisor's shutdown
         * timeout). Sleep until one fires rather than asking again at once. */
        if (b->live > 0 && b->n_timers > 0 && run_until(s, all_gone_or_queued, deadline, true) != 0)
            break;
    }
    if (b->live > 0)
        rc = ENS_ETIMEDOUT;
    ens__journal_flush(s);
    s->down = true;
    free_all(s);
    return rc;
}

static int ip_status(ens_system *s, ens_addr requester, uint64_t corr)
{
    inproc *b = base_of(s);
    ens_actor_status *rows = calloc(b->live + 1, sizeof(*rows));
    if (rows == NULL)
        return ENS_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < b->cap_actors && n < b->live; i++) {
        const ens_actor *a = b->actors[i];
        if (a == NULL)
            continue;
        rows[n++] = (ens_actor_status){
            .addr = a->addr,
            .parent = a->parent,
            .type = (char *)ens__actor_type(a),
            .name = (char *)ens__names_of(&b->names, a->addr),
            .pid = (int32_t)getpid(),
            .incarnation = a->incarnation,
            .handled = a->handled,
            .mailbox_bytes = a->queued_bytes,
        };
    }
    ens_status_v v = {
        .admin_pid = (int32_t)getpid(),
        .alloc_failures = (uint32_t)s->alloc_failures,
        .started_ms = s->started_ms,
        .persistent = 0, /* an inproc system lives in its program */
        .journal = s->journal_path,
        .log = s->log_file,
        .actors = {rows, (uint32_t)n},
    };
    ens_addr admin = {ENS_ID_ADMIN, s->node, 0};
    uint16_t flags = ENS_FRAME_SYSTEM | (corr != 0 ? ENS_FRAME_REPLY : 0);
    int rc = ens__send_frame(s, admin, requester, &ens_msg_status, &v, flags, corr, 0, false);
    free(rows);
    return rc;
}

/* Global names: the table is the system's own, and nothing runs between
 * the check and the spawn, so create-or-get is atomic here by itself. The
 * name is given after the spawn returns: for an outside spawn init has run
 * by then (an init that fails leaves the name free). */
static int ip_names(ens_system *s, ens_actor *caller, ens_names_req *req)
{
    inproc *b = base_of(s);
    switch (req->op) {
    case ENS_NAMES_LOOKUP:
    case ENS_NAMES_REGISTER:
    case ENS_NAMES_UNREGISTER: {
        ens_addr from = caller != NULL ? caller->addr : s->outside.self;
        ens_addr at = ENS_ADDR_NONE;
        int rc = ens__names_apply(&b->names, (int)req->op, req->name, from, &at);
        if (req->op == ENS_NAMES_LOOKUP)
            req->addr = at;
        return rc;
    }
    case ENS_NAMES_SPAWN: {
        ens_addr at = ens__names_get(&b->names, req->name);
        if (!ens_addr_is_none(at)) {
            free(req->frame);
            req->addr = at;
            return 1;
        }
        int rc = ip_spawn(s, caller, req->def, NULL, req->frame, req->len, req->sync, req->flags,
                          &req->addr);
        if (rc < 0)
            return rc;
        if (lookup(s, req->addr) == NULL)
            return 0; /* no place for it (child exited NOPLACE): nothing to name */
        rc = ens__names_set(&b->names, req->name, req->addr);
        if (rc == ENS_EEXIST) { /* its init named it otherwise: the asked name wins */
            ens__names_drop_addr(&b->names, req->addr);
            rc = ens__names_set(&b->names, req->name, req->addr);
        }
        return rc;
    }
    case ENS_NAMES_DEAD: {
        ens_frame_hdr h;
        if (ens__frame_hdr_read(req->frame, req->len, UINT32_MAX, &h) < 0) {
            free(req->frame);
            return ENS_EBADFRAME;
        }
        ens__dead_letter(s, req->frame, req->len, &h, b->dead_handler, req->reason);
        return 0;
    }
    }
    free(req->frame);
    return ENS_EINVAL;
}

static int ip_release(ens_system *s, ens_actor *caller, ens_addr who)
{
    kept *k = kept_find(base_of(s), who);
    if (caller == NULL || k == NULL || !ens_addr_equal(k->parent, caller->addr) ||
        lookup(s, who) != NULL)
        return ENS_ENOENT;
    kept_release(s, k);
    return 0;
}

static int ip_kill(ens_system *s, ens_actor *caller, ens_addr who)
{
    ens_actor *a = lookup(s, who);
    if (a == NULL || a->status == ENS_ACTOR_DEAD)
        return 0;
    a->killed = true;
    ens_event ev = {.kind = ENS_EV_EXIT, .reason = "killed on request (ens_kill)"};
    ens__event_actor(&ev, a);
    ens__event(s, &ev);
    if (a == caller) { /* it is running: it ends when its handler returns */
        a->stop_requested = true;
        a->stop_reason = ENS_EXIT_KILLED;
        a->stop_status = 0;
        return 0;
    }
    ens__actor_stop(a, ENS_EXIT_KILLED, 0);
    return 0;
}

/* The outside program and the actors' host are one process here: the
 * inproc base fills both tables. */
static const ens__host_ops inproc_host = {
    .route = ip_route,
    .spawn = ip_spawn,
    .timer_add = ip_timer_add,
    .timer_cancel = ip_timer_cancel,
    .actor_gone = ip_actor_gone,
    .dead_letters_set = ip_dead_letters_set,
    .status = ip_status,
    .watch = ens__inproc_watch,
    .command = ens__inproc_command,
    .kill = ip_kill,
    .names = ip_names,
    .init_done = ip_init_done,
    .release = ip_release,
};

static const ens__outside_ops inproc_outside = {
    .pump = ip_pump,
    .run = ip_run,
    .absent = ip_absent,
    .close = ip_close,
};

int ens__inproc_start(ens_system *s)
{
    inproc *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return ENS_ENOMEM;
    b->next_id = ENS_ID_FIRST_ACTOR;
    s->base = b;
    s->host = &inproc_host;
    s->outside_ops = &inproc_outside;
    s->node = 1;
    return 0;
}

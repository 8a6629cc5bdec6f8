/*
 * core/process/admin/placement.c - placement by capabilities and spawns
 * across a convention, the admin's half (ensemble/convention.h,
 * "Placement"). The admin has no NATS code: a spawn on another system is an
 * ens.ctl.GwSpawn ASK to the gateway (core/process/gateway/gateway_spawn.c),
 * answered under its correlation id while the admin serves everything else;
 * the spawn request itself waits here, copied.
 *
 * What happens here:
 *  - a spawn of a definition with requirements or a capability check is
 *    placed: this system first, then the live members (convention.c) with
 *    the fewest actors first, ties by node id; each member that does not
 *    fit or refuses adds a reason, and when none takes it the requester
 *    gets ENS_ENOPLACE (from outside) or an address whose child-exited
 *    says ENS_EXIT_NOPLACE (inside an actor), and the journal one no_place
 *    row with every reason;
 *  - a spawn another system asks for (FOREIGN, from the gateway) is checked
 *    again here (the type registered, this system's capabilities) and
 *    started with the parent the asker named;
 *  - the system's actor count goes to the gateway (for the member record)
 *    when it changes, at most every PLACE_COUNT_MS.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/names_wide.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"

#define PLACE_COUNT_MS 200u  /* the actor count goes to the gateway at most this often */
#define PLACE_WHY_MAX  4000u /* the reasons of one placement, at most (then cut) */

typedef struct place {
    struct place *next;
    uint64_t corr;      /* of the ASK waiting for the gateway (0: none) */
    ens_addr requester; /* who asked, */
    uint32_t req_inc;   /* in which incarnation, */
    uint64_t req_corr;  /* under which correlation id */
    bool inside;        /* the requester is an actor: the new one is its child */
    ens_msg *spawn;     /* the spawn request (a copy) */
    const ens_actor_def *def;
    uint32_t *nodes; /* the members to try, in order */
    size_t n_nodes, at;
    uint64_t held_until;  /* waiting for the first view of the members until (monotonic ns) */
    char trying_name[96]; /* the system name of the member asked */
    char why[PLACE_WHY_MAX];
} place;

static struct {
    place *held; /* waiting for the gateway's first view of the members */
    place *waiting;
    uint64_t next_corr;
    uint32_t sent_count; /* the actor count the gateway was last told */
    bool count_sent;     /* ... at all, by this gateway */
    uint64_t count_at;   /* when (monotonic ns) */
} pl;

bool ens__admin_placed(const ens_actor_def *d)
{
    return d != NULL &&
           ((d->requirements != NULL && d->requirements[0] != NULL) || d->capability_check != NULL);
}

/* Whether capabilities caps meet d; when not, why says how. */
static bool fits(const ens_actor_def *d, const char *caps, char *why, size_t why_len)
{
    if (!ens_capabilities_meet(caps != NULL ? caps : "", d->requirements, why, why_len))
        return false;
    if (d->capability_check != NULL && !d->capability_check(caps != NULL ? caps : "")) {
        snprintf(why, why_len, "the capability check refused");
        return false;
    }
    return true;
}

static void reason(place *p, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reason(place *p, const char *who, const char *fmt, ...)
{
    size_t len = strlen(p->why);
    if (len + 8 >= sizeof(p->why))
        return;
    int n = snprintf(p->why + len, sizeof(p->why) - len, "%s%s: ", len > 0 ? "; " : "", who);
    if (n < 0 || (size_t)n >= sizeof(p->why) - len)
        return;
    len += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why + len, sizeof(p->why) - len, fmt, ap);
    va_end(ap);
}

static arec *gateway(void)
{
    arec *g = admin_state.gateway;
    return g != NULL && !g->gone && g->ctl >= 0 ? g : NULL;
}

/* The requester, still in the incarnation that asked. */
static arec *requester_of(const place *p)
{
    arec *r = ens__admin_by_addr(p->requester);
    return r != NULL && r->incarnation == p->req_inc && r->ctl >= 0 ? r : NULL;
}

static void place_free(place *p)
{
    ens_msg_free(p->spawn);
    free(p->nodes);
    free(p);
}

static void answer(arec *to, uint64_t corr, ens_addr addr, int status, const char *why)
{
    if (to == NULL)
        return;
    if (why != NULL && status < 0) {
        ens__ctl_why_v w = {status, (char *)why};
        ens__admin_ctl_out(to, addr, &ens__ctl_initfailed, &w, corr, -1, false);
    }
    ens__ctl_status_v v = {addr, status};
    ens__admin_ctl_out(to, addr, &ens__ctl_spawned, &v, corr, -1, false);
}

/* No member took it: one journal row with every reason; the requester gets
 * ENS_ENOPLACE, or (an actor) an address with no actor whose child-exited
 * says ENS_EXIT_NOPLACE. */
static void no_place(place *p)
{
    char text[PLACE_WHY_MAX + 160];
    snprintf(text, sizeof(text), "no system can run %s: %s", p->def->name,
             p->why[0] != '\0' ? p->why : "no member tried");
    arec *to = requester_of(p);
    ens_addr addr = ENS_ADDR_NONE;
    if (p->inside && to != NULL)
        addr = (ens_addr){admin_state.next_id++, admin_state.sys->node, 0};
    ens_event ev = {.kind = ENS_EV_NOPLACE,
                    .actor = addr,
                    .parent = p->inside ? p->requester : ENS_ADDR_NONE,
                    .error = ENS_ENOPLACE,
                    .actor_type = p->def->name,
                    .reason = text};
    ens__admin_emit(&ev);
    if (to == NULL)
        return;
    if (!p->inside) {
        answer(to, p->req_corr, ENS_ADDR_NONE, ENS_ENOPLACE, text);
        return;
    }
    answer(to, p->req_corr, addr, 0, NULL);
    ens_child_exited_v ce = {addr, ENS_EXIT_NOPLACE, 0, ENS_ENOPLACE, 1};
    ens__admin_send_to(addr, p->requester, &ens_msg_child_exited, &ce, ENS_FRAME_SYSTEM, 0, 0);
}

static int by_load(const void *a, const void *b)
{
    const ens_convention_update_v *x = ens__admin_conv_member(*(const uint32_t *)a);
    const ens_convention_update_v *y = ens__admin_conv_member(*(const uint32_t *)b);
    uint32_t ax = x != NULL ? x->actors : UINT32_MAX, ay = y != NULL ? y->actors : UINT32_MAX;
    if (ax != ay)
        return ax < ay ? -1 : 1;
    uint32_t nx = *(const uint32_t *)a, ny = *(const uint32_t *)b;
    return nx < ny ? -1 : nx > ny;
}

/* Ask the next member that fits, or end with no place. */
static void place_next(place *p)
{
    const ens__ctl_spawn_v *v = p->spawn->value;
    while (p->nodes != NULL && p->at < p->n_nodes) {
        uint32_t node = p->nodes[p->at++];
        const ens_convention_update_v *m = ens__admin_conv_member(node);
        char why[256];
        if (m == NULL || m->change != ENS_MEMBER_JOINED) {
            snprintf(why, sizeof(why), "node %u", (unsigned)node);
            reason(p, why, "no longer a live member");
            continue;
        }
        if (!fits(p->def, m->capabilities, why, sizeof(why))) {
            reason(p, m->system, "%s", why);
            continue;
        }
        if (gateway() == NULL) {
            reason(p, m->system, "the gateway of this system is not running");
            continue;
        }
        snprintf(p->trying_name, sizeof(p->trying_name), "%s", m->system);
        p->corr = ++pl.next_corr;
        ens__ctl_gwspawn_v ask = {.op = ENS_GWSPAWN_ASK,
                                  .node = node,
                                  .flags = (uint32_t)v->flags,
                                  .sync = p->inside ? 0 : v->sync,
                                  .parent = p->inside ? p->requester : ENS_ADDR_NONE,
                                  .addr = ENS_ADDR_NONE,
                                  .name = (char *)p->def->name,
                                  .arg = v->arg};
        ens__admin_ctl_out(gateway(), ENS_ADDR_NONE, &ens__ctl_gwspawn, &ask, p->corr, -1, false);
        p->next = pl.waiting;
        pl.waiting = p;
        return;
    }
    no_place(p);
    place_free(p);
}

static void place_start(place *p);

bool ens__admin_fits_here(const ens_actor_def *d)
{
    char why[8];
    return fits(d, ens__admin_own_caps(), why, sizeof(why));
}

void ens__admin_place(arec *from, const ens_msg *m, const ens_actor_def *def)
{
    const ens__ctl_spawn_v *v = m->value;
    char why[256];
    /* This system first: started here as any spawn. */
    if (admin_state.shutting_down || fits(def, ens__admin_own_caps(), why, sizeof(why))) {
        ens__admin_spawn(from, v, m->hdr.corr, ENS_ADDR_NONE, 0);
        return;
    }
    place *p = ens__calloc(1, sizeof(*p));
    if (p == NULL || (p->spawn = ens_msg_dup(m)) == NULL) {
        free(p);
        ens__alloc_failed(admin_state.sys, "a spawn to place was refused");
        answer(from, m->hdr.corr, ENS_ADDR_NONE, ENS_ENOMEM, NULL);
        return;
    }
    p->requester = from->addr;
    p->req_inc = from->incarnation;
    p->req_corr = m->hdr.corr;
    p->inside = !from->outside;
    p->def = def;
    reason(p, admin_state.sys->name, "%s", why);
    /* Until the gateway has reported the members as it found them, "no
     * member fits" would only mean "none known yet" (a system spawning
     * right after its start): the placement waits for that first view, at
     * most call_timeout_ms, and then goes on with what is known. */
    if (ens__admin_wide() && !ens__admin_conv_view_ready()) {
        p->held_until = ens__mono_ns() + (uint64_t)admin_state.sys->opts.call_timeout_ms * 1000000u;
        p->next = pl.held;
        pl.held = p;
        return;
    }
    place_start(p);
}

/* Try the members known now, in order (after this system, which did not
 * fit). */
static void place_start(place *p)
{
    const ens__ctl_spawn_v *v = p->spawn->value;
    /* Names and a supervisor's kept addresses belong to this system's
     * tables: such spawns are never placed elsewhere. */
    const bool local_only = (v->global != NULL && v->global[0] != '\0') ||
                            (v->flags & (int32_t)ENS__SPAWN_KEEP_ADDR) != 0;
    size_t n = local_only ? 0 : ens__admin_conv_count();
    uint32_t *nodes = n > 0 ? ens__calloc(n, sizeof(*nodes)) : NULL;
    if (n > 0 && nodes == NULL)
        ens__alloc_failed(admin_state.sys, "a spawn was placed on this system only");
    size_t live = 0;
    for (size_t i = 0; nodes != NULL && i < n; i++) {
        const ens_convention_update_v *u = ens__admin_conv_at(i);
        if (u->change == ENS_MEMBER_JOINED)
            nodes[live++] = u->node;
    }
    if (nodes != NULL && live > 1)
        qsort(nodes, live, sizeof(*nodes), by_load);
    p->nodes = nodes;
    p->n_nodes = nodes != NULL ? live : 0;
    if (local_only && ens__admin_wide())
        reason(p, "others", "a named or supervised spawn is placed on its own system only");
    else if (ens__admin_wide() && !ens__admin_conv_view_ready())
        reason(p, "others",
               "the members of the convention are not known yet (the gateway has not "
               "reported them within call_timeout_ms)");
    place_next(p);
}

/* Start the held placements: all when the first view is ready, else those
 * whose wait is over. Returns when the next one is due (0: none held). */
static uint64_t held_go_on(uint64_t now)
{
    bool ready = ens__admin_conv_view_ready() || admin_state.shutting_down;
    uint64_t next = 0;
    place *go = NULL;
    for (place **q = &pl.held; *q != NULL;) {
        place *p = *q;
        if (ready || now >= p->held_until) {
            *q = p->next;
            p->next = go;
            go = p;
        } else {
            if (next == 0 || p->held_until < next)
                next = p->held_until;
            q = &p->next;
        }
    }
    /* In the order they were asked (the list holds the newest first). */
    place *order = NULL;
    for (place *p = go, *n; p != NULL; p = n) {
        n = p->next;
        p->next = order;
        order = p;
    }
    for (place *p = order, *n; p != NULL; p = n) {
        n = p->next;
        p->next = NULL;
        if (admin_state.shutting_down) {
            answer(requester_of(p), p->req_corr, ENS_ADDR_NONE, ENS_ESHUTDOWN, NULL);
            place_free(p);
        } else {
            place_start(p);
        }
    }
    return next;
}

void ens__admin_place_view_ready(void)
{
    (void)held_go_on(ens__mono_ns());
}

static place *take(uint64_t corr)
{
    for (place **q = &pl.waiting; *q != NULL; q = &(*q)->next)
        if ((*q)->corr == corr) {
            place *p = *q;
            *q = p->next;
            p->next = NULL;
            p->corr = 0;
            return p;
        }
    return NULL;
}

/* The gateway's ANSWER to an ASK. */
static void on_answer(const ens_msg *m)
{
    place *p = take(m->hdr.corr);
    if (p == NULL)
        return;
    const ens__ctl_gwspawn_v *v = m->value;
    arec *to = requester_of(p);
    if (v->status == 0) {
        if (to != NULL) {
            if (p->inside)
                ens__admin_rkid_add(v->addr, p->requester, p->req_inc);
            answer(to, p->req_corr, v->addr, 0, NULL);
        } else { /* its requester is gone: nobody will know of it */
            ens_addr self = {ENS_ID_ADMIN, admin_state.sys->node, 0};
            ens_exit_request_v x = {0};
            ens__admin_send_to(self, v->addr, &ens_msg_exit_request, &x, ENS_FRAME_SYSTEM, 0, 0);
        }
        place_free(p);
        return;
    }
    if (v->status == ENS_EINIT) {
        /* It was placed and its init failed: that is the actor's failure,
         * not the member's. */
        answer(to, p->req_corr, ENS_ADDR_NONE, v->status, v->why);
        place_free(p);
        return;
    }
    reason(p, p->trying_name, "%s",
           v->why != NULL && v->why[0] != '\0' ? v->why : ens_strerror(v->status));
    place_next(p);
}

void ens__admin_place_gateway_down(void)
{
    place *all = pl.waiting;
    pl.waiting = NULL;
    for (place *p = all, *next; p != NULL; p = next) {
        next = p->next;
        p->next = NULL;
        p->corr = 0;
        reason(p, p->trying_name, "the gateway of this system went down");
        place_next(p);
    }
    pl.count_sent = false;
}

/* ---- another system's spawn ----------------------------------------- */

static void refuse(arec *g, uint64_t corr, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(arec *g, uint64_t corr, int status, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    answer(g, corr, ENS_ADDR_NONE, status, why);
}

static void on_foreign(arec *g, const ens_msg *m)
{
    const ens__ctl_gwspawn_v *v = m->value;
    uint64_t corr = m->hdr.corr;
    const ens_actor_def *def = v->name != NULL ? ens_actor_find(v->name) : NULL;
    char why[256];
    if (def == NULL) {
        refuse(g, corr, ENS_ENOPLACE, "type %s not registered", v->name != NULL ? v->name : "");
        return;
    }
    if (!ens__admin_placed(def)) {
        refuse(g, corr, ENS_ENOPLACE,
               "type %s is not placed across systems (it has no requirements)", def->name);
        return;
    }
    /* Checked again here: this system's capabilities may have changed
     * since the asker saw its record. */
    if (!fits(def, ens__admin_own_caps(), why, sizeof(why))) {
        refuse(g, corr, ENS_ENOPLACE, "%s", why);
        return;
    }
    ens__ctl_spawn_v sv = {.def = (uint64_t)(uintptr_t)def,
                           .sync = v->sync,
                           .flags = (int32_t)(v->flags & ENS__SPAWN_PUBLIC & ~ENS_SPAWN_CONNECT),
                           .name = (char *)def->name,
                           .at = ENS_ADDR_NONE,
                           .arg = v->arg};
    ens__admin_spawn_parent(g, &sv, corr, v->parent);
}

void ens__admin_place_on_ctl(arec *from, const ens_msg *m)
{
    if (from != gateway())
        return; /* only the gateway speaks for other systems */
    const ens__ctl_gwspawn_v *v = m->value;
    if (v->op == ENS_GWSPAWN_ANSWER)
        on_answer(m);
    else if (v->op == ENS_GWSPAWN_EXITED)
        ens__admin_rkid_exited(v->addr);
    else if (v->op == ENS_GWSPAWN_FOREIGN)
        on_foreign(from, m);
}

/* ---- the actor count ------------------------------------------------ */

static uint64_t count_tick(uint64_t now)
{
    arec *g = gateway();
    if (g == NULL)
        return 0;
    uint32_t n = 0;
    for (size_t i = 0; i < admin_state.n; i++)
        n += !admin_state.recs[i]->outside;
    if (pl.count_sent && n == pl.sent_count)
        return 0;
    uint64_t due = pl.count_at + (uint64_t)PLACE_COUNT_MS * 1000000u;
    if (pl.count_sent && now < due)
        return due;
    ens__ctl_gwspawn_v v = {.op = ENS_GWSPAWN_ACTORS, .actors = n};
    ens__admin_ctl_out(g, ENS_ADDR_NONE, &ens__ctl_gwspawn, &v, 0, -1, false);
    pl.sent_count = n;
    pl.count_sent = true;
    pl.count_at = now;
    return 0;
}

uint64_t ens__admin_place_tick(uint64_t now)
{
    uint64_t held_at = pl.held != NULL ? held_go_on(now) : 0;
    uint64_t count_at = count_tick(now);
    if (held_at == 0 || (count_at != 0 && count_at < held_at))
        return count_at;
    return held_at;
}

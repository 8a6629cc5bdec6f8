/*
 * core/process/admin/names_wide.c - global names across hosts, the admin's
 * half (core/process/admin/names_wide.h).
 *
 * The admin holds no NATS code: every convention-wide step is an
 * ens.ctl.GwName request to the gateway, answered under its correlation
 * id, while the admin goes on serving everything else. What waits here:
 *  - claims: a named spawn or a registration waiting for the gateway's
 *    answer (the spawn request itself is kept, copied, and carried on
 *    when the claim is made; its requester waits as for any spawn);
 *  - releases: deletions of this system's entries, kept until the gateway
 *    confirms them (done, or moot because another system claimed the
 *    name since), so a gateway restart loses none;
 *  - the cache: the names of other systems' actors, as the gateway's watch
 *    reports them, and the names whose entry is not an address (refused);
 *  - re-claims: a name of this system's live actor whose entry another
 *    system deleted as a lost node's (the other side of a partition saw
 *    this node unreachable and purged its names; the removal says so) is
 *    claimed again. Whenever the bucket shows another system's actor
 *    holding a name this system's actor holds under an older claim (its
 *    entry removed, then claimed), the name leaves the local table (the
 *    actor runs on, unnamed), so the convention never has two owners.
 */
#include <stdlib.h>
#include <string.h>

#include "core/process/admin/names_wide.h"
#include "core/process/admin/proc_names.h"
#include "core/runtime/names.h"
#include "ensemble/error.h"
#include "ensemble/registry.h"

typedef struct claim {
    struct claim *next;
    uint64_t corr;      /* of the request to the gateway */
    ens_addr requester; /* who asked, */
    uint32_t req_inc;   /* in which incarnation, */
    uint64_t req_corr;  /* under which correlation id */
    ens_msg *spawn;     /* a named spawn's request (a copy), or NULL: a registration */
    bool reclaim;       /* a name purged by others, claimed again: nobody waits */
    uint64_t retry_at;  /* a re-claim the convention did not answer: tried again then */
    ens_addr addr;      /* the address claimed */
    char *name;
} claim;

typedef struct release {
    struct release *next;
    uint64_t corr; /* of the request to the gateway (0: not sent yet) */
    uint64_t rev;
    ens_addr addr;
    char *name;
} release;

#define RECLAIM_RETRY_NS 1000000000ull

static struct {
    claim *claims;
    claim *reclaims; /* re-claims waiting to be tried again (ENS_EUNREACHABLE) */
    release *releases;
    uint64_t next_corr;
    ens_names remote;  /* other systems' names -> holder */
    ens_names refused; /* names whose entry is not an address -> {revision} */
} wide;

bool ens__admin_wide(void)
{
    return admin_state.sys->opts.convention.servers != NULL;
}

static arec *gateway(void)
{
    arec *g = admin_state.gateway;
    return g != NULL && !g->gone && g->ctl >= 0 ? g : NULL;
}

static void ask_gateway(int32_t op, const char *name, ens_addr addr, uint64_t rev, uint64_t corr)
{
    ens__ctl_gwname_v v = {op, 0, addr, rev, (char *)name};
    ens__admin_ctl_out(gateway(), ENS_ADDR_NONE, &ens__ctl_gwname, &v, corr, -1, false);
}

/* ---- claims ----------------------------------------------------------- */

static void answer_spawn(arec *to, uint64_t corr, ens_addr addr, int status)
{
    ens__ctl_status_v reply = {addr, status};
    ens__admin_ctl_out(to, addr, &ens__ctl_spawned, &reply, corr, -1, false);
}

static void answer_register(arec *to, uint64_t corr, int status)
{
    ens__ctl_status_v reply = {to->addr, status};
    ens__admin_ctl_out(to, to->addr, &ens__ctl_ack, &reply, corr, -1, false);
}

static void unreachable(const char *name)
{
    ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
             "name %s: registration refused: the gateway is not running, so the convention "
             "cannot be reached (ENS_EUNREACHABLE)",
             name);
}

/* Send a claim to the gateway, or answer at once that there is none. */
static void claim_start(claim *c, arec *from)
{
    if (gateway() == NULL) {
        unreachable(c->name);
        if (c->spawn != NULL)
            answer_spawn(from, c->req_corr, ENS_ADDR_NONE, ENS_EUNREACHABLE);
        else
            answer_register(from, c->req_corr, ENS_EUNREACHABLE);
        ens_msg_free(c->spawn);
        free(c->name);
        free(c);
        return;
    }
    c->corr = ++wide.next_corr;
    c->next = wide.claims;
    wide.claims = c;
    ask_gateway(ENS_GWNAME_CLAIM, c->name, c->addr, 0, c->corr);
}

static claim *claim_new(arec *from, const char *name, uint64_t corr)
{
    claim *c = ens__calloc(1, sizeof(*c));
    if (c != NULL && (c->name = strdup(name)) == NULL) {
        free(c);
        c = NULL;
    }
    if (c == NULL) {
        ens__alloc_failed(admin_state.sys, "a name registration was refused");
        return NULL;
    }
    c->requester = from->addr;
    c->req_inc = from->incarnation;
    c->req_corr = corr;
    return c;
}

void ens__admin_wide_spawn(arec *from, const ens_msg *m)
{
    const ens__ctl_spawn_v *v = m->value;
    uint64_t corr = m->hdr.corr;
    claim *c = claim_new(from, v->global, corr);
    ens_msg *copy = NULL;
    if (c != NULL && (copy = ens_msg_dup(m)) == NULL) {
        ens__alloc_failed(admin_state.sys, "a named spawn was refused");
        free(c->name);
        free(c);
        c = NULL;
    }
    if (c == NULL) {
        answer_spawn(from, corr, ENS_ADDR_NONE, ENS_ENOMEM);
        return;
    }
    c->spawn = copy;
    /* The address is chosen now: it is the value the bucket will hold. */
    c->addr = (ens_addr){admin_state.next_id++, admin_state.sys->node, 0};
    claim_start(c, from);
}

void ens__admin_wide_register(arec *from, const char *name, uint64_t corr)
{
    claim *c = claim_new(from, name, corr);
    if (c == NULL) {
        answer_register(from, corr, ENS_ENOMEM);
        return;
    }
    c->addr = from->addr;
    claim_start(c, from);
}

/* The requester is still there, in the incarnation that asked. */
static arec *requester_of(const claim *c)
{
    arec *r = ens__admin_by_addr(c->requester);
    return r != NULL && r->incarnation == c->req_inc && r->ctl >= 0 ? r : NULL;
}

/* The answer to a re-claim of a purged name of this system's actor. */
static void reclaim_answered(claim *c, const ens__ctl_gwname_v *v)
{
    if (v->status == 0) {
        if (ens__admin_name_reclaimed(c->name, c->addr, v->rev) < 0) {
            ens__admin_wide_release(c->name, v->rev, c->addr); /* its actor ended meanwhile */
            return;
        }
        ens__log(admin_state.sys, NULL, ENS_LOG_INFO,
                 "name %s: its entry in the convention was removed by another member (this "
                 "system was unreachable to it): claimed again",
                 c->name);
    } else if (v->status == 1 && !ens_addr_equal(v->addr, c->addr)) {
        char other[ENS_ADDR_STRLEN];
        ens_addr_format(v->addr, other, sizeof(other));
        ens__admin_name_lost(c->name, c->addr);
        ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                 "name %s: claimed by %s while this system was unreachable to the others: this "
                 "system's actor keeps running without the name",
                 c->name, other);
    } else if (v->status == ENS_EUNREACHABLE) {
        /* Right after a heal the buckets may still be electing leaders:
         * tried again every second while the actor holds the name. */
        claim *again = ens__calloc(1, sizeof(*again));
        if (again != NULL && (again->name = strdup(c->name)) == NULL) {
            free(again);
            again = NULL;
        }
        if (again == NULL) {
            ens__alloc_failed(admin_state.sys, "a purged name is not claimed again");
            return;
        }
        ens__log(admin_state.sys, NULL, ENS_LOG_INFO,
                 "name %s: its entry in the convention was removed by another member and "
                 "cannot be claimed again yet (the convention does not answer): tried again "
                 "every second",
                 c->name);
        again->reclaim = true;
        again->addr = c->addr;
        again->retry_at = ens__mono_ns() + RECLAIM_RETRY_NS;
        again->next = wide.reclaims;
        wide.reclaims = again;
    } else if (v->status < 0) {
        ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                 "name %s: its entry in the convention was removed by another member and could "
                 "not be claimed again (%s): only this system finds the name",
                 c->name, ens_strerror(v->status));
    }
}

static void reclaim_send(claim *c)
{
    c->corr = ++wide.next_corr;
    c->next = wide.claims;
    wide.claims = c;
    ask_gateway(ENS_GWNAME_CLAIM, c->name, c->addr, 0, c->corr);
}

uint64_t ens__admin_wide_tick(uint64_t now)
{
    uint64_t next = 0;
    for (claim **p = &wide.reclaims; *p != NULL;) {
        claim *c = *p;
        if (!ens_addr_equal(ens__admin_name_get(c->name), c->addr)) {
            *p = c->next; /* its actor ended, or it was unregistered */
            free(c->name);
            free(c);
            continue;
        }
        if (now < c->retry_at || gateway() == NULL) {
            if (now >= c->retry_at)
                c->retry_at = now + RECLAIM_RETRY_NS;
            if (next == 0 || c->retry_at < next)
                next = c->retry_at;
            p = &c->next;
            continue;
        }
        *p = c->next;
        reclaim_send(c);
    }
    return next;
}

/* Another member deleted the entry of `name` at revision rev because it
 * judged this node lost: if a live actor of this system still holds the
 * name, under a claim older than that deletion, claim it again. (A
 * deletion by anyone else, an operator's, stands.) */
static void maybe_reclaim(const char *name, uint64_t rev)
{
    ens_addr holder = ens__admin_name_get(name);
    uint64_t mine = ens__admin_name_claimed_rev(name);
    if (ens_addr_is_none(holder) || mine == 0 || rev <= mine || gateway() == NULL)
        return;
    for (claim *c = wide.claims; c != NULL; c = c->next)
        if (c->reclaim && strcmp(c->name, name) == 0)
            return; /* already asked */
    for (claim *c = wide.reclaims; c != NULL; c = c->next)
        if (strcmp(c->name, name) == 0)
            return; /* asked again soon */
    claim *c = ens__calloc(1, sizeof(*c));
    if (c != NULL && (c->name = strdup(name)) == NULL) {
        free(c);
        c = NULL;
    }
    if (c == NULL) {
        ens__alloc_failed(admin_state.sys, "a purged name is not claimed again");
        return;
    }
    c->reclaim = true;
    c->addr = holder;
    reclaim_send(c);
}

static void claim_answered(claim *c, const ens__ctl_gwname_v *v)
{
    if (c->reclaim) {
        reclaim_answered(c, v);
        return;
    }
    arec *from = requester_of(c);
    int status = v->status;
    if (status == 0 && (from == NULL || admin_state.shutting_down)) {
        /* Claimed for a requester that is gone: the entry goes again. */
        ens__admin_wide_release(c->name, v->rev, c->addr);
        status = ENS_ESHUTDOWN;
    } else if (status == 0 && c->spawn != NULL) {
        ens__admin_spawn(from, c->spawn->value, c->req_corr, c->addr, v->rev);
        return;
    } else if (status == 0) {
        status = ens__admin_name_set_claimed(c->name, c->addr, v->rev);
        if (status < 0)
            ens__admin_wide_release(c->name, v->rev, c->addr);
    } else if (status == 1 && c->spawn == NULL) {
        status = ENS_EEXIST; /* another system's actor has it */
    }
    if (from == NULL)
        return;
    if (c->spawn != NULL)
        answer_spawn(from, c->req_corr, status == 1 ? v->addr : ENS_ADDR_NONE, status);
    else
        answer_register(from, c->req_corr, status);
}

/* ---- releases --------------------------------------------------------- */

void ens__admin_wide_release(const char *name, uint64_t rev, ens_addr addr)
{
    if (!ens__admin_wide())
        return;
    release *r = ens__calloc(1, sizeof(*r));
    if (r != NULL && (r->name = strdup(name)) == NULL) {
        free(r);
        r = NULL;
    }
    if (r == NULL) {
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "out of memory: the convention's entry of name %s stays (it names an actor "
                 "that ended)",
                 name);
        return;
    }
    r->rev = rev;
    r->addr = addr;
    r->next = wide.releases;
    wide.releases = r;
    if (gateway() != NULL) {
        r->corr = ++wide.next_corr;
        ask_gateway(ENS_GWNAME_RELEASE, r->name, r->addr, r->rev, r->corr);
    }
}

/* ---- the cache -------------------------------------------------------- */

static void cache_drop(const char *name)
{
    ens_addr a = ens__names_get(&wide.remote, name);
    if (!ens_addr_is_none(a))
        ens__names_drop_addr(&wide.remote, a);
    a = ens__names_get(&wide.refused, name);
    if (!ens_addr_is_none(a))
        ens__names_drop_addr(&wide.refused, a);
}

/* Another system's actor holds `name` at revision rev in the bucket: if
 * this system's live actor still has the name under an older claim, that
 * claim was removed (a purge while this node was unreachable, or an
 * operator) and the name taken since: the bucket decides, the name leaves
 * the local table, so no name has two owners. */
static void lost_to(const char *name, ens_addr other, uint64_t rev)
{
    ens_addr mine = ens__admin_name_get(name);
    uint64_t mine_rev = ens__admin_name_claimed_rev(name);
    if (ens_addr_is_none(mine) || mine_rev == 0 || rev <= mine_rev)
        return;
    char text[ENS_ADDR_STRLEN];
    ens_addr_format(other, text, sizeof(text));
    ens__admin_name_lost(name, mine);
    ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
             "name %s: its entry in the convention was removed and %s claimed it since: this "
             "system's actor keeps running without the name",
             name, text);
}

static void cache_seen(const ens__ctl_gwname_v *v)
{
    cache_drop(v->name);
    if (v->status >= 0 && v->addr.node != admin_state.sys->node)
        lost_to(v->name, v->addr, v->rev);
    int rc = 0;
    if (v->status < 0) {
        rc = ens__names_set(&wide.refused, v->name, (ens_addr){v->rev, 0, 0});
    } else if (v->addr.node != admin_state.sys->node) {
        /* An address under two names (only a hostile writer makes that):
         * the later entry wins. */
        const char *other = ens__names_of(&wide.remote, v->addr);
        if (other != NULL)
            ens__names_drop_addr(&wide.remote, v->addr);
        rc = ens__names_set(&wide.remote, v->name, v->addr);
    }
    if (rc < 0)
        ens__alloc_failed(admin_state.sys, "a name of another system is not cached");
}

int ens__admin_wide_lookup(const char *name, ens_addr *out)
{
    *out = ens__names_get(&wide.remote, name);
    if (!ens_addr_is_none(*out))
        return 0;
    if (!ens_addr_is_none(ens__names_get(&wide.refused, name))) {
        ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                 "name %s: lookup refused: the convention's entry is not an address", name);
        return ENS_EBADFRAME;
    }
    return ENS_ENOENT;
}

/* ---- the gateway's frames --------------------------------------------- */

void ens__admin_wide_on_ctl(arec *from, const ens_msg *m)
{
    const ens__ctl_gwname_v *v = m->value;
    if (from != gateway() || v->name == NULL || !ens_name_valid(v->name))
        return; /* only the gateway speaks for the bucket */
    if (admin_state.sys->opts.log_level >= ENS_LOG_DEBUG &&
        (v->op == ENS_GWNAME_SEEN || v->op == ENS_GWNAME_GONE)) {
        char text[ENS_ADDR_STRLEN];
        ens_addr_format(v->addr, text, sizeof(text));
        ens__log(admin_state.sys, NULL, ENS_LOG_DEBUG,
                 "name %s: the bucket: %s at revision %llu (status %d)", v->name,
                 v->op == ENS_GWNAME_SEEN ? text : "removed", (unsigned long long)v->rev,
                 (int)v->status);
    }
    if (v->op == ENS_GWNAME_SEEN) {
        cache_seen(v);
    } else if (v->op == ENS_GWNAME_GONE) {
        cache_drop(v->name);
        if (v->status == 1) /* purged as a lost node's: this node lives */
            maybe_reclaim(v->name, v->rev);
    } else if (v->op == ENS_GWNAME_ANSWER) {
        for (claim **p = &wide.claims; *p != NULL; p = &(*p)->next) {
            claim *c = *p;
            if (c->corr != m->hdr.corr)
                continue;
            *p = c->next;
            claim_answered(c, v);
            ens_msg_free(c->spawn);
            free(c->name);
            free(c);
            return;
        }
        for (release **p = &wide.releases; *p != NULL; p = &(*p)->next) {
            release *r = *p;
            if (r->corr != m->hdr.corr)
                continue;
            *p = r->next;
            free(r->name);
            free(r);
            return;
        }
    }
}

void ens__admin_wide_gateway_up(void)
{
    ens__names_clear(&wide.remote);
    ens__names_clear(&wide.refused);
    for (release *r = wide.releases; r != NULL; r = r->next) {
        r->corr = ++wide.next_corr;
        ask_gateway(ENS_GWNAME_RELEASE, r->name, r->addr, r->rev, r->corr);
    }
}

void ens__admin_wide_gateway_down(void)
{
    claim *all = wide.claims;
    wide.claims = NULL;
    for (claim *c = all, *next; c != NULL; c = next) {
        next = c->next;
        if (c->reclaim) { /* the name stays local; asked again at the next removal seen */
            free(c->name);
            free(c);
            continue;
        }
        /* It may have been made before the gateway died: the next gateway
         * deletes the entry if it holds the address claimed. */
        ens__admin_wide_release(c->name, 0, c->addr);
        unreachable(c->name);
        arec *from = requester_of(c);
        if (from != NULL && c->spawn != NULL)
            answer_spawn(from, c->req_corr, ENS_ADDR_NONE, ENS_EUNREACHABLE);
        else if (from != NULL)
            answer_register(from, c->req_corr, ENS_EUNREACHABLE);
        ens_msg_free(c->spawn);
        free(c->name);
        free(c);
    }
    for (release *r = wide.releases; r != NULL; r = r->next)
        r->corr = 0; /* sent again to the next gateway */
}

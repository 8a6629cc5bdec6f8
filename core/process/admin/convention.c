/*
 * core/process/admin/convention.c - the admin's part of convention
 * membership (ensemble/convention.h). The admin has no NATS code: its
 * gateway watches the members bucket and reports each change on its
 * control channel (an ens_msg_convention_update); the admin keeps the
 * members it was told of and the actors that subscribed, and sends each
 * change to each subscriber as a message. Keeping both here, not in the
 * gateway, lets a subscription outlive a gateway restart: the new gateway
 * reports the bucket as it finds it, the admin passes on only what changed
 * (a member that went meanwhile is "left" once the new view is complete).
 *
 * The admin also holds its system's own capabilities: a change at run time
 * (ens.ctl.CapSet from an actor or an outside program) is checked here,
 * handed to the gateway (ens.ctl.GwCaps; a new gateway is forked with them),
 * and the actors whose definition no longer fits them are asked to exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/names_wide.h"
#include "core/runtime/caps.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"

#define JOINED_WAIT_MAX 64u /* programs waiting for ens.ctl.Joined at once */

typedef struct member {
    ens_convention_update_v v; /* change: its last state; strings owned */
    unsigned gen;              /* the gateway start that last reported it */
} member;

static struct {
    ens_addr *subs; /* the subscribed actors */
    size_t n_subs, cap_subs;
    member *m; /* the members other than this system, as reported */
    size_t n_m, cap_m;
    unsigned gen; /* gateway starts so far */
    char *own;    /* this system's capabilities (ens__admin_own_caps) */
    /* Its own lines (without the built-ins) once changed at run time;
     * until then opts.convention.capabilities are. */
    char *mine;
    bool changed;
    char host[256]; /* ens.host, read once */
    bool view;      /* a gateway has reported the members as it found them */
    /* Programs waiting for the system to have joined (ens.ctl.Joined). */
    struct joined_wait {
        ens_addr who;
        uint32_t inc;
        uint64_t corr;
    } joined[JOINED_WAIT_MAX];
    size_t n_joined;
    int refused;           /* ENS_EAUTH once NATS refused the gateway, else 0 */
    char refused_why[256]; /* NATS's reason */
} conv;

static void joined_ack(ens_addr who, uint32_t inc, uint64_t corr, int status)
{
    arec *r = ens__admin_by_addr(who);
    if (r == NULL || r->incarnation != inc || r->ctl < 0)
        return;
    if (status == conv.refused && status < 0) { /* the reason first, for ens_errmsg */
        ens__ctl_why_v why = {status, conv.refused_why};
        ens__admin_ctl_out(r, who, &ens__ctl_initfailed, &why, corr, -1, false);
    }
    ens__ctl_status_v ack = {who, status};
    ens__admin_ctl_out(r, who, &ens__ctl_ack, &ack, corr, -1, false);
}

void ens__admin_conv_refused(int status, const char *why)
{
    conv.refused = status;
    snprintf(conv.refused_why, sizeof(conv.refused_why), "%s", why);
    ens__log(admin_state.sys, NULL, ENS_LOG_ERROR, "the convention %s refused this system: %s",
             admin_state.sys->opts.convention.name, why);
    for (size_t i = 0; i < conv.n_joined; i++)
        joined_ack(conv.joined[i].who, conv.joined[i].inc, conv.joined[i].corr, status);
    conv.n_joined = 0;
}

bool ens__admin_conv_is_refused(void)
{
    return conv.refused != 0;
}

void ens__admin_do_joined(arec *r, const ens_msg *m)
{
    if (conv.refused != 0) {
        joined_ack(r->addr, r->incarnation, m->hdr.corr, conv.refused);
        return;
    }
    if (!ens__admin_wide() || conv.view) {
        joined_ack(r->addr, r->incarnation, m->hdr.corr, 0);
        return;
    }
    /* Bounded: a program that asks again and again is told to wait itself. */
    if (conv.n_joined == JOINED_WAIT_MAX) {
        joined_ack(r->addr, r->incarnation, m->hdr.corr, ENS_EAGAIN);
        return;
    }
    conv.joined[conv.n_joined++] = (struct joined_wait){r->addr, r->incarnation, m->hdr.corr};
}

bool ens__admin_conv_view_ready(void)
{
    return conv.view;
}

const char *ens__admin_own_caps(void)
{
    if (conv.own == NULL) {
        if (conv.host[0] == '\0')
            ens__caps_host(conv.host, sizeof(conv.host));
        conv.own = ens__caps_compose(
            conv.host, conv.changed ? conv.mine : admin_state.sys->opts.convention.capabilities);
    }
    return conv.own;
}

static void send_update(ens_addr to, const ens_convention_update_v *v)
{
    ens_addr from = admin_state.gateway != NULL ? admin_state.gateway->addr : ENS_ADDR_NONE;
    ens__admin_send_to(from, to, &ens_msg_convention_update, v, 0, 0, 0);
}

static void tell_all(const ens_convention_update_v *v)
{
    for (size_t i = 0; i < conv.n_subs; i++)
        send_update(conv.subs[i], v);
}

static void member_free(member *x)
{
    free(x->v.system);
    free(x->v.host);
    free(x->v.capabilities);
}

static void member_drop(size_t i)
{
    member_free(&conv.m[i]);
    conv.m[i] = conv.m[--conv.n_m];
}

static member *member_find(uint32_t node, size_t *at)
{
    for (size_t i = 0; i < conv.n_m; i++)
        if (conv.m[i].v.node == node) {
            if (at != NULL)
                *at = i;
            return &conv.m[i];
        }
    return NULL;
}

static bool same_text(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* Keep v as node's state (copies its strings). False: out of memory. */
static bool member_set(member *x, const ens_convention_update_v *v)
{
    ens_convention_update_v c = *v;
    c.system = strdup(v->system != NULL ? v->system : "");
    c.host = strdup(v->host != NULL ? v->host : "");
    c.capabilities = strdup(v->capabilities != NULL ? v->capabilities : "");
    if (c.system == NULL || c.host == NULL || c.capabilities == NULL) {
        free(c.system);
        free(c.host);
        free(c.capabilities);
        return false;
    }
    member_free(x);
    x->v = c;
    x->gen = conv.gen;
    return true;
}

/* One journal row per membership change this system saw (ENS_EV_MEMBER):
 * change is "joined", "left", "unreachable" or "rejoined". */
static void member_row(const char *change, const ens_convention_update_v *v)
{
    char text[640];
    snprintf(text, sizeof(text), "%s: node %u, system %.200s on host %.256s", change,
             (unsigned)v->node, v->system != NULL ? v->system : "", v->host != NULL ? v->host : "");
    ens_event ev = {.kind = ENS_EV_MEMBER, .reason = text};
    ens__admin_emit(&ev);
}

/* A joined member: new, back, or with new capabilities is told. */
static void on_joined(const ens_convention_update_v *v)
{
    member *x = member_find(v->node, NULL);
    /* A row for a membership change only: a new gateway's report of a
     * known member, or new capabilities, is none. */
    if (x == NULL)
        member_row("joined", v);
    else if (x->v.change == ENS_MEMBER_UNREACHABLE || x->v.admin_pid != v->admin_pid)
        member_row("rejoined", v);
    if (x != NULL && x->v.change == ENS_MEMBER_JOINED && same_text(x->v.system, v->system) &&
        same_text(x->v.host, v->host) && same_text(x->v.capabilities, v->capabilities) &&
        x->v.admin_pid == v->admin_pid) {
        /* Reported again by a new gateway, or only its actor count changed
         * (kept for placement, not a change subscribers hear of). */
        x->gen = conv.gen;
        x->v.actors = v->actors;
        return;
    }
    if (x == NULL) {
        if (conv.n_m == conv.cap_m) {
            size_t cap = conv.cap_m != 0 ? conv.cap_m * 2 : 8;
            member *t = ens__realloc(conv.m, cap * sizeof(*t));
            if (t == NULL) {
                ens__alloc_failed(admin_state.sys, "a convention member was not kept");
                tell_all(v);
                return;
            }
            conv.m = t;
            conv.cap_m = cap;
        }
        x = &conv.m[conv.n_m++];
        memset(x, 0, sizeof(*x));
    }
    if (!member_set(x, v)) {
        ens__alloc_failed(admin_state.sys, "a convention member was not kept");
        size_t at = (size_t)(x - conv.m);
        member_drop(at);
    }
    tell_all(v);
}

void ens__admin_conv_update(arec *r, const ens_msg *m)
{
    if (r != admin_state.gateway)
        return; /* only the gateway reports members */
    const ens_convention_update_v *v = m->value;
    size_t at = 0;
    member *x = member_find(v->node, &at);
    switch (v->change) {
    case 0: /* the new gateway's first view is complete: who is not in it left */
        for (size_t i = conv.n_m; i-- > 0;) {
            if (conv.m[i].gen == conv.gen)
                continue;
            const bool was_lost = conv.m[i].v.change == ENS_MEMBER_UNREACHABLE;
            conv.m[i].v.change = ENS_MEMBER_LEFT;
            member_row("left", &conv.m[i].v);
            tell_all(&conv.m[i].v);
            if (!was_lost)
                ens__admin_node_lost(conv.m[i].v.node, ENS_MEMBER_LEFT);
            member_drop(i);
        }
        if (!conv.view) {
            conv.view = true;
            for (size_t i = 0; i < conv.n_joined; i++)
                joined_ack(conv.joined[i].who, conv.joined[i].inc, conv.joined[i].corr, 0);
            conv.n_joined = 0;
            ens__admin_place_view_ready();
        }
        break;
    case ENS_MEMBER_JOINED:
        on_joined(v);
        break;
    case ENS_MEMBER_LEFT:
        if (x != NULL) {
            const bool was_lost = x->v.change == ENS_MEMBER_UNREACHABLE;
            x->v.change = ENS_MEMBER_LEFT;
            member_row("left", &x->v);
            tell_all(&x->v);
            if (!was_lost)
                ens__admin_node_lost(x->v.node, ENS_MEMBER_LEFT);
            member_drop(at);
        }
        break;
    case ENS_MEMBER_UNREACHABLE:
        if (x == NULL)
            break; /* never seen here: nothing to withdraw */
        x->gen = conv.gen;
        if (x->v.change != ENS_MEMBER_UNREACHABLE) {
            x->v.change = ENS_MEMBER_UNREACHABLE;
            member_row("unreachable", &x->v);
            tell_all(&x->v);
            ens__admin_node_lost(x->v.node, ENS_MEMBER_UNREACHABLE);
        }
        break;
    default:
        break;
    }
}

size_t ens__admin_conv_count(void)
{
    return conv.n_m;
}

const ens_convention_update_v *ens__admin_conv_at(size_t i)
{
    return i < conv.n_m ? &conv.m[i].v : NULL;
}

const ens_convention_update_v *ens__admin_conv_member(uint32_t node)
{
    member *x = member_find(node, NULL);
    return x != NULL ? &x->v : NULL;
}

void ens__admin_conv_gateway_new(void)
{
    conv.gen++;
}

void ens__admin_do_convsub(arec *r, const ens_msg *m)
{
    const ens__ctl_flag_v *f = m->value;
    int status = 0;
    size_t i = 0;
    while (i < conv.n_subs && !ens_addr_equal(conv.subs[i], r->addr))
        i++;
    if (admin_state.sys->opts.convention.servers == NULL) {
        status = ENS_ENOTSUP;
    } else if (!f->enable) {
        if (i < conv.n_subs)
            conv.subs[i] = conv.subs[--conv.n_subs];
    } else if (i == conv.n_subs) {
        if (conv.n_subs == conv.cap_subs) {
            size_t cap = conv.cap_subs != 0 ? conv.cap_subs * 2 : 8;
            ens_addr *t = ens__realloc(conv.subs, cap * sizeof(*t));
            if (t == NULL) {
                status = ENS_ENOMEM;
                goto answer;
            }
            conv.subs = t;
            conv.cap_subs = cap;
        }
        conv.subs[conv.n_subs++] = r->addr;
    }
    if (status == 0 && f->enable) {
        /* A late subscriber first learns who is there (again, when it
         * subscribes again: an actor restarted in place starts afresh). */
        for (size_t k = 0; k < conv.n_m; k++)
            if (conv.m[k].v.change == ENS_MEMBER_JOINED)
                send_update(r->addr, &conv.m[k].v);
    }
answer:
    if (m->hdr.corr != 0 && r->ctl >= 0) {
        ens__ctl_status_v ack = {r->addr, status};
        ens__admin_ctl_out(r, r->addr, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
    }
}

void ens__admin_conv_forget(ens_addr who)
{
    for (size_t i = 0; i < conv.n_subs; i++)
        if (ens_addr_equal(conv.subs[i], who)) {
            conv.subs[i] = conv.subs[--conv.n_subs];
            return;
        }
}

/* ---- capabilities changed at run time ---------------------------------- */

/* True if an actor of definition d may run on a system of capabilities
 * caps; why gets the reason when not. A definition without requirements
 * and without a check always fits. */
static bool def_fits(const ens_actor_def *d, const char *caps, char *why, size_t why_len)
{
    if (d->requirements != NULL && !ens_capabilities_meet(caps, d->requirements, why, why_len))
        return false;
    if (d->capability_check != NULL && !d->capability_check(caps)) {
        snprintf(why, why_len, "its capability check refused them");
        return false;
    }
    return true;
}

/* Ask each live actor whose definition no longer fits caps to exit, as
 * from its parent: it stops in order (its terminate runs, its children
 * first) and its parent hears child-exited with ENS_EXIT_SHUTDOWN. */
static void evict_misfits(const char *caps)
{
    for (size_t i = 0; i < admin_state.n; i++) {
        arec *r = admin_state.recs[i];
        if (r->outside || r->gone || r->killed || r->exiting || r->reserved || r->def == NULL ||
            ens_addr_is_none(r->addr))
            continue;
        const ens_actor_def *d = r->def;
        if (d->requirements == NULL && d->capability_check == NULL)
            continue;
        char why[160] = "";
        if (def_fits(d, caps, why, sizeof(why)))
            continue;
        char at[ENS_ADDR_STRLEN];
        ens_addr_format(r->addr, at, sizeof(at));
        ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                 "actor %s (%s) no longer fits this system's capabilities (%s): asked to exit", at,
                 d->name != NULL ? d->name : "?", why);
        ens_addr from = ens_addr_is_none(r->parent)
                            ? (ens_addr){ENS_ID_ADMIN, admin_state.sys->node, 0}
                            : r->parent;
        ens_exit_request_v v = {0};
        ens__admin_send_to(from, r->addr, &ens_msg_exit_request, &v, ENS_FRAME_SYSTEM, 0, 0);
    }
}

void ens__admin_gateway_caps(void)
{
    arec *g = admin_state.gateway;
    const char *caps = ens__admin_own_caps();
    if (g == NULL || g->ctl < 0 || caps == NULL)
        return;
    ens__ctl_caps_v v = {0, "", (char *)caps};
    ens__admin_ctl_out(g, g->addr, &ens__ctl_gwcaps, &v, 0, -1, false);
}

/* Set or remove one capability: 0 or why not (*why for the log). */
static int caps_change(const ens__ctl_caps_v *v, const char **why)
{
    if (admin_state.sys->opts.convention.servers == NULL)
        return ENS_ENOTSUP;
    if ((v->op != ENS_CAPSET_SET && v->op != ENS_CAPSET_UNSET) || v->key == NULL ||
        v->value == NULL) {
        *why = "not a capability change";
        return ENS_EINVAL;
    }
    if (ens__admin_own_caps() == NULL)
        return ENS_ENOMEM;
    const char *mine = conv.changed ? conv.mine : admin_state.sys->opts.convention.capabilities;
    char *next = NULL;
    int rc = ens__caps_set(mine, v->key, v->op == ENS_CAPSET_SET ? v->value : NULL, &next, why);
    if (rc < 0)
        return rc;
    char *full = ens__caps_compose(conv.host, next);
    if (full == NULL) {
        free(next);
        return ENS_ENOMEM;
    }
    free(conv.mine);
    free(conv.own);
    conv.mine = next;
    conv.own = full;
    conv.changed = true;
    return 0;
}

void ens__admin_do_capset(arec *r, const ens_msg *m)
{
    const ens__ctl_caps_v *v = m->value;
    if (r == admin_state.gateway)
        return; /* the gateway reports capabilities, it does not set them */
    const char *why = NULL;
    int status = caps_change(v, &why);
    char who[ENS_ADDR_STRLEN];
    ens_addr_format(r->addr, who, sizeof(who));
    if (status == 0)
        ens__log(admin_state.sys, NULL, ENS_LOG_INFO, "capability %s %s%s%s (asked by %s)", v->key,
                 v->op == ENS_CAPSET_SET ? "set to \"" : "removed",
                 v->op == ENS_CAPSET_SET ? v->value : "", v->op == ENS_CAPSET_SET ? "\"" : "", who);
    else if (why != NULL)
        ens__log(admin_state.sys, NULL, ENS_LOG_INFO, "capability change refused (asked by %s): %s",
                 who, why);
    if (m->hdr.corr != 0 && r->ctl >= 0) {
        ens__ctl_status_v ack = {r->addr, status};
        ens__admin_ctl_out(r, r->addr, &ens__ctl_ack, &ack, m->hdr.corr, -1, false);
    }
    if (status != 0)
        return;
    ens__admin_gateway_caps();
    evict_misfits(conv.own);
}

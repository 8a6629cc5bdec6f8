/*
 * core/process/admin/remote_kids.c - the children this system's actors have
 * on other members (placed there, placement.c), and what the loss of a
 * member means here.
 *
 * A child on another system tells its parent of its end itself, over NATS;
 * when that system is lost (unreachable, or left without the notice) nobody
 * would. So the admin keeps one entry per remote child: the child, its
 * parent here and the parent's incarnation that spawned it. An entry ends
 *  - when the child's own child-exited reaches this system (the gateway
 *    delivers it to the parent and reports it, ENS_GWSPAWN_EXITED);
 *  - when its parent's incarnation ends: in order (its runtime asked its
 *    children to exit already), or by a crash or a kill, when the remote
 *    children are asked to exit as the local ones are (restart.c);
 *  - when the child's member is lost: the parent gets one child-exited
 *    ENS_EXIT_NOCONNECTION from the admin, and the gateway is told to drop
 *    the child's own notice should it come after all (ENS_GWSPAWN_LOST).
 * A lost member is also told to every local actor and outside program
 * (ens.NodeDown, core/wire/msgtype.h): requests and asks waiting for an
 * actor there complete at once with ENS_EUNREACHABLE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/admin/admin.h"
#include "core/wire/msgtype.h"
#include "ensemble/error.h"

typedef struct rkid {
    ens_addr child, parent;
    uint32_t parent_inc;
} rkid;

static struct {
    rkid *k;
    size_t n, cap;
} rk;

static void drop(size_t i)
{
    rk.k[i] = rk.k[--rk.n];
}

void ens__admin_rkid_add(ens_addr child, ens_addr parent, uint32_t parent_inc)
{
    if (child.node == admin_state.sys->node || ens_addr_is_none(parent))
        return;
    if (rk.n == rk.cap) {
        size_t cap = rk.cap != 0 ? rk.cap * 2 : 16;
        rkid *t = ens__realloc(rk.k, cap * sizeof(*t));
        if (t == NULL) {
            ens__alloc_failed(admin_state.sys,
                              "a child on another system is not watched: its parent will not hear "
                              "of the loss of that system");
            return;
        }
        rk.k = t;
        rk.cap = cap;
    }
    rk.k[rk.n++] = (rkid){child, parent, parent_inc};
}

void ens__admin_rkid_exited(ens_addr child)
{
    for (size_t i = rk.n; i-- > 0;)
        if (ens_addr_equal(rk.k[i].child, child))
            drop(i);
}

void ens__admin_rkid_parent_gone(ens_addr parent, bool ask_exit)
{
    for (size_t i = rk.n; i-- > 0;) {
        if (!ens_addr_equal(rk.k[i].parent, parent))
            continue;
        if (ask_exit) {
            /* From the parent's address, as its own stop would have asked:
             * the notice comes back to that address (a dead letter, or the
             * next incarnation hears of it, as of a local child). */
            ens_exit_request_v v = {0};
            ens__admin_send_to(parent, rk.k[i].child, &ens_msg_exit_request, &v, ENS_FRAME_SYSTEM,
                               0, 0);
        }
        drop(i);
    }
}

/* The parent of entry e, still in the incarnation that spawned the child. */
static arec *parent_of(const rkid *e)
{
    arec *p = ens__admin_by_addr(e->parent);
    return p != NULL && p->incarnation == e->parent_inc && !p->outside ? p : NULL;
}

static void tell_parents(uint32_t node, const char *why)
{
    arec *g = admin_state.gateway;
    for (size_t i = rk.n; i-- > 0;) {
        rkid e = rk.k[i];
        if (e.child.node != node)
            continue;
        drop(i);
        if (parent_of(&e) == NULL)
            continue;
        ens_event ev = {.kind = ENS_EV_EXIT,
                        .actor = e.child,
                        .parent = e.parent,
                        .error = ENS_EUNREACHABLE,
                        .actor_type = "",
                        .reason = why};
        ens__admin_emit(&ev);
        ens_child_exited_v ce = {e.child, ENS_EXIT_NOCONNECTION, 0, ENS_EUNREACHABLE, 0};
        ens__admin_send_to(e.child, e.parent, &ens_msg_child_exited, &ce, ENS_FRAME_SYSTEM, 0, 0);
        if (g != NULL && !g->gone && g->ctl >= 0) {
            ens__ctl_gwspawn_v lost = {
                .op = ENS_GWSPAWN_LOST, .addr = e.child, .parent = e.parent, .node = node};
            ens__admin_ctl_out(g, ENS_ADDR_NONE, &ens__ctl_gwspawn, &lost, 0, -1, false);
        }
    }
}

/* Every process here that may wait for an answer from node: the live
 * actors (one without a process has no requests: a restarted incarnation
 * starts with none) and the outside programs. */
static void tell_waiters(uint32_t node)
{
    const ens_addr self = {ENS_ID_ADMIN, admin_state.sys->node, 0};
    const ens__node_down_v v = {node};
    for (size_t i = 0; i < admin_state.n; i++) {
        arec *r = admin_state.recs[i];
        if (r->gone || r == admin_state.gateway || r->killed || ens_addr_is_none(r->addr) ||
            (!r->outside && r->pid == 0))
            continue;
        ens__admin_send_to(self, r->addr, &ens__msg_node_down, &v, ENS_FRAME_SYSTEM, 0, 0);
    }
}

/* A member that left in order: its children's own notices were sent
 * before its "leaving" heartbeat, but they reach this system on another
 * subscription, so they may be handed on a little after the leave is seen.
 * The loss of such a member is acted on LEFT_GRACE_MS later; an
 * unreachable one at once. Two seconds proved too short on two cores kept
 * busy (a suite, a sanitizer build and a linter beside it): the child's own
 * notice came after the grace and its parent was told NOCONNECTION. */
#define LEFT_GRACE_MS 5000u
#define LEFT_MAX      64u

static struct {
    uint32_t node[LEFT_MAX];
    uint64_t due[LEFT_MAX];
    size_t n;
} left;

static void lost_now(uint32_t node, int32_t change);

static void left_forget(uint32_t node)
{
    for (size_t i = left.n; i-- > 0;)
        if (left.node[i] == node) {
            left.node[i] = left.node[--left.n];
            left.due[i] = left.due[left.n];
        }
}

uint64_t ens__admin_rkid_tick(uint64_t now)
{
    uint64_t next = 0;
    for (size_t i = left.n; i-- > 0;) {
        if (now >= left.due[i]) {
            uint32_t node = left.node[i];
            left.node[i] = left.node[--left.n];
            left.due[i] = left.due[left.n];
            lost_now(node, ENS_MEMBER_LEFT);
        } else if (next == 0 || left.due[i] < next) {
            next = left.due[i];
        }
    }
    return next;
}

void ens__admin_node_lost(uint32_t node, int32_t change)
{
    if (node == 0 || node == admin_state.sys->node)
        return;
    left_forget(node);
    if (change == ENS_MEMBER_LEFT && left.n < LEFT_MAX) {
        left.node[left.n] = node;
        left.due[left.n++] = ens__mono_ns() + (uint64_t)LEFT_GRACE_MS * 1000000u;
        return;
    }
    lost_now(node, change);
}

static void lost_now(uint32_t node, int32_t change)
{
    char why[160];
    snprintf(why, sizeof(why),
             "node %u %s: its parent here was told child exited (ENS_EXIT_NOCONNECTION)",
             (unsigned)node,
             change == ENS_MEMBER_LEFT ? "left the convention before the child's notice came"
                                       : "became unreachable");
    tell_parents(node, why);
    tell_waiters(node);
}

/*
 * core/process/proc_actor_host.c - an actor process's control channel (to
 * the admin), its outgoing connections, and the host operations
 * (ens__host_ops) its actor calls: route, spawn, names, timers, status,
 * kill, release, and the reports of its init.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/process/proc.h"
#include "core/process/proc_actor.h"
#include "core/process/proc_services.h"
#include "core/process/proc_tx.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

/* ---- control channel ------------------------------------------------------ */

static void on_regive(uv_timer_t *h)
{
    (void)h;
    for (size_t i = 0; i < actor_proc.n_regive; i++)
        (void)ens__ctl_send(actor_proc.ctl, actor_proc.actor->addr, &ens__ctl_regive,
                            &actor_proc.regive[i], 0, NULL, 0);
}

/* A NewConn came without its receiving end: the admin keeps a copy, so it
 * is asked for again until there is room for it; what its sender sent
 * waits in the kernel meanwhile, nothing is lost. */
static void regive_later(const ens__ctl_conn_v *v)
{
    char from[ENS_ADDR_STRLEN];
    ens_addr_format(v->peer, from, sizeof(from));
    if (actor_proc.n_regive == ENS__REGIVE_MAX) {
        ens__log(actor_proc.sys, NULL, ENS_LOG_ERROR,
                 "a new connection from %s came without its descriptor (this process is at its "
                 "limit of open descriptors, RLIMIT_NOFILE) and %d others wait already: it stays "
                 "unread until this actor's next incarnation",
                 from, ENS__REGIVE_MAX);
        return;
    }
    ens__log(actor_proc.sys, NULL, ENS_LOG_ERROR,
             "a new connection from %s came without its descriptor: this process is at its limit "
             "of open descriptors (RLIMIT_NOFILE); asked for again every %d ms",
             from, ENS__REGIVE_MS);
    actor_proc.regive[actor_proc.n_regive++] = *v;
    actor_proc.regiven = true;
    if (!uv_is_active((uv_handle_t *)&actor_proc.regive_timer))
        uv_timer_start(&actor_proc.regive_timer, on_regive, ENS__REGIVE_MS, ENS__REGIVE_MS);
}

static void regive_forget(uint64_t conn_id)
{
    for (size_t i = 0; i < actor_proc.n_regive; i++) {
        if (actor_proc.regive[i].conn_id == conn_id) {
            actor_proc.regive[i] = actor_proc.regive[--actor_proc.n_regive];
            break;
        }
    }
    if (actor_proc.n_regive == 0)
        uv_timer_stop(&actor_proc.regive_timer);
}

static void handle_ctl(ens_msg *m, int *fds, int nfds)
{
    uint32_t t = m->hdr.type_id;
    int fd = nfds > 0 ? fds[0] : -1;
    bool taken = false;
    if (t == ens__ctl_connected.id) {
        const ens__ctl_status_v *v = m->value;
        ens__tx_connected(&actor_proc.tx, v->addr, v->status, fd);
        taken = true;
    } else if (t == ens__ctl_newconn.id && fd >= 0) {
        const ens__ctl_conn_v *v = m->value;
        if (actor_proc.n_regive > 0)
            regive_forget(v->conn_id);
        /* A second answer to a Regive: the end is here already. */
        int rc = actor_proc.regiven && ens__pa_rx_find(v->conn_id) != NULL
                     ? ENS_EEXIST
                     : ens__pa_rx_add(fd, v->conn_id, v->peer);
        if (rc == ENS_EEXIST) {
            close(fd);
            rc = 0;
        }
        taken = rc == 0;
        if (rc == ENS_ENOMEM) /* its sender finds it closed: its messages become dead letters */
            ens__alloc_failed(actor_proc.sys, "a new connection to this actor was not kept");
        else if (rc < 0)
            ens__log(actor_proc.sys, NULL, ENS_LOG_ERROR,
                     "a new connection to this actor was not kept: %s", ens_strerror(rc));
    } else if (t == ens__ctl_ack.id && m->hdr.corr == 0) {
        /* The admin lost a request that expects no ack (a connection's):
         * what waits for one asks again. */
        ens__tx_ask_again(&actor_proc.tx);
    } else if (actor_proc.batch != NULL &&
               ens__spawn_batch_take(actor_proc.batch, t, m->hdr.corr, m->value)) {
        /* an answer to one of ens_spawn_many's requests */
    } else if ((t == ens__ctl_spawned.id || t == ens__ctl_ack.id) &&
               m->hdr.corr == actor_proc.rpc_corr) {
        actor_proc.rpc_reply = *(const ens__ctl_status_v *)m->value;
        actor_proc.rpc_done = true;
    }
    for (int i = taken ? 1 : 0; i < nfds; i++)
        close(fds[i]);
    ens_msg_free(m);
}

static void pump_ctl(void)
{
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        uint64_t lost = 0;
        bool dropped = false;
        int rc = ens__ctl_recv_lost(actor_proc.ctl, &m, fds, &nfds, &lost, &dropped);
        if (rc == 0)
            return;
        if (rc == ENS_EBADFRAME)
            continue;
        if (rc == ENS_ENOMEM) {
            /* The answer rpc() waits for ends its wait with the failure
             * (what it asked for may have been done); a connection's
             * answer is asked for again. */
            ens__alloc_failed(actor_proc.sys, "a control message from the admin was lost");
            if (lost != 0 && actor_proc.batch != NULL)
                (void)ens__spawn_batch_take(actor_proc.batch, 0, lost, NULL);
            if (lost != 0 && lost == actor_proc.rpc_corr && !actor_proc.rpc_done) {
                actor_proc.rpc_reply = (ens__ctl_status_v){ENS_ADDR_NONE, ENS_ENOMEM};
                actor_proc.rpc_done = true;
            }
            ens__tx_ask_again(&actor_proc.tx);
            continue;
        }
        if (rc < 0)
            _exit(0); /* the admin is gone: so is the system */
        if (dropped && m->hdr.type_id == ens__ctl_newconn.id)
            regive_later(m->value);
        else if (dropped)
            ens__tx_fds_dropped(&actor_proc.tx, m);
        handle_ctl(m, fds, nfds);
    }
}

void ens__pa_pump_ctl_tx(ens_tx_table *t)
{
    (void)t;
    pump_ctl();
}

void ens__pa_on_ctl(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    pump_ctl();
}

/* ---- outgoing --------------------------------------------------------------- */

static void on_tx_writable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    ens__tx_flush(&actor_proc.tx, h->data);
}

#define WATCH_RETRY_MS 10

static void on_watch_retry(uv_timer_t *h)
{
    (void)h;
    ens__tx_flush_all(&actor_proc.tx);
}

void ens__pa_want_write(ens_tx_table *t, ens_tx *tx, bool want)
{
    (void)t;
    if (tx->fd < 0) {
        if (tx->watch != NULL) {
            uv_poll_stop(tx->watch);
            uv_close((uv_handle_t *)tx->watch, ens__pa_free_handle);
            tx->watch = NULL;
        }
        return;
    }
    if (want && tx->watch == NULL) {
        uv_poll_t *p = ens__malloc(sizeof(*p));
        if (p == NULL) {
            /* Nothing would wake the loop for these frames: a turn soon
             * flushes again, and the flush asks for the watch again. */
            ens__alloc_failed(actor_proc.sys, "a connection's writes were not watched");
            if (!uv_is_active((uv_handle_t *)&actor_proc.watch_retry))
                uv_timer_start(&actor_proc.watch_retry, on_watch_retry, WATCH_RETRY_MS, 0);
            return;
        }
        uv_poll_init(&actor_proc.loop, p, tx->fd);
        p->data = tx;
        tx->watch = p;
    }
    if (tx->watch != NULL) {
        if (want)
            uv_poll_start(tx->watch, UV_WRITABLE, on_tx_writable);
        else
            uv_poll_stop(tx->watch);
    }
}

/* The last thing before the loop waits (libuv computes the wait's timeout
 * after the prepare hooks): send what is coalesced, then, when the wait
 * would sleep, spin for the next message if that pays. */
void ens__pa_on_prepare(uv_prepare_t *h)
{
    (void)h;
    ens__tx_flush_all(&actor_proc.tx);
    ens__tx_sweep(&actor_proc.tx);
    if (uv_backend_timeout(&actor_proc.loop) != 0)
        (void)ens__spin_before_wait(&actor_proc.spin, uv_backend_fd(&actor_proc.loop));
}

/* ---- base operations --------------------------------------------------------- */

static int rpc(ens_system *s, const ens_msgtype *t, const void *v, ens__ctl_status_v *reply);
static int send_poison(ens_system *s, uint8_t *frame, size_t len);

/* Announce an orderly exit to the admin and wait for its ack (once). */
static void announce_exit(ens_system *s)
{
    if (actor_proc.exit_announced)
        return;
    actor_proc.exit_announced = true;
    ens__ctl_exit_v v = {actor_proc.actor->stop_reason, actor_proc.actor->stop_status};
    ens__ctl_status_v reply;
    (void)rpc(s, &ens__ctl_exiting, &v, &reply);
}

int ens__pa_route(ens_system *s, uint8_t *frame, size_t len, const ens_frame_hdr *h, bool bounded)
{
    /* The actor's own child-exited notice (its orderly stop, after
     * terminate): the admin hears of the exit first, and frees the name
     * then, so the parent that reads the notice and starts the child again
     * at once never finds the old actor still holding its name (the notice
     * and the admin's control channel are different sockets: only the ack
     * orders them). */
    const bool notice = actor_proc.actor->status == ENS_ACTOR_DEAD &&
                        (h->flags & ENS_FRAME_SYSTEM) && h->type_id == ens_msg_child_exited.id &&
                        ens_addr_equal(h->sender, actor_proc.actor->addr);
    if (notice)
        announce_exit(s);
    if ((h->flags & ENS_FRAME_SYSTEM) && h->type_id == ens_msg_poison.id &&
        ens_addr_equal(h->sender, actor_proc.actor->addr) && ens__stage_in_hand(actor_proc.st) &&
        send_poison(s, frame, len) == 0)
        return 0;
    int rc = ens__tx_send(&actor_proc.tx, frame, len, h, bounded);
    if (notice && rc < 0)
        actor_proc.notice_refused = true;
    return rc;
}

/* A PoisonMessage for the frame in hand (frame, taken on success): put in
 * the stage, whose one store commits it, and sent by the admin, the one
 * process that never crashes without the system. Sent directly, a SIGKILL
 * between its leaving and the frame's mark would have the next incarnation
 * return it again; put here, the next incarnation finds the frame returned
 * (ens__stage_poisoned) and the admin sends what it finds, once - when
 * asked below, or when the process has ended. What the handler sent before
 * leaves first. Returns 0, or an error (then the caller sends it
 * directly). */
static int send_poison(ens_system *s, uint8_t *frame, size_t len)
{
    ens_stage *st = actor_proc.st;
    ens__pa_settle_sends();
    ens__ctl_status_v reply;
    /* A poison not yet sent (an earlier ask timed out): the admin first. */
    for (int tries = 0; st->poison_len != 0 && tries < 2; tries++)
        (void)rpc(s, &ens__ctl_poison, &(ens__ctl_flag_v){0, 0}, &reply);
    if (st->poison_len != 0)
        return ENS_EAGAIN;
    int rc = ens__stage_poison_put(st, frame, len);
    if (rc < 0)
        return rc;
    free(frame);
    /* Until the admin has it, it waits in the stage: a crash loses nothing. */
    (void)rpc(s, &ens__ctl_poison, &(ens__ctl_flag_v){0, 0}, &reply);
    ens__stage_poison_sent(st);
    return 0;
}

/* A control request that waits for the admin's answer (spawn, dead-letter
 * registration): the only blocking calls an actor makes, short because the
 * admin never waits on an actor. Other control frames that arrive meanwhile
 * are handled as usual. */
static int rpc(ens_system *s, const ens_msgtype *t, const void *v, ens__ctl_status_v *reply)
{
    actor_proc.rpc_corr = ++actor_proc.next_corr;
    actor_proc.rpc_done = false;
    int rc =
        ens__ctl_send(actor_proc.ctl, actor_proc.actor->addr, t, v, actor_proc.rpc_corr, NULL, 0);
    if (rc < 0)
        return rc;
    uint64_t deadline = ens__mono_ns() + (uint64_t)s->opts.call_timeout_ms * 1000000u;
    while (!actor_proc.rpc_done) {
        uint64_t now = ens__mono_ns();
        if (now >= deadline)
            return ENS_ETIMEDOUT;
        struct pollfd p = {.fd = actor_proc.ctl, .events = POLLIN};
        poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        pump_ctl();
    }
    *reply = actor_proc.rpc_reply;
    return reply->status < 0 ? reply->status : 0;
}

static int pa_spawn(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                    const ens_actor_def *shown, uint8_t *arg_frame, size_t arg_len, bool sync,
                    uint32_t flags, ens_addr *out)
{
    (void)parent;
    (void)sync;
    if (arg_len > ENS_SPAWN_ARG_MAX) {
        free(arg_frame);
        return ens__spawn_arg_refused(d->name, arg_len);
    }
    ens__ctl_spawn_v v = {.def = (uint64_t)(uintptr_t)d,
                          .shown = (uint64_t)(uintptr_t)shown,
                          .flags = (int32_t)flags,
                          .name = (char *)d->name,
                          .at = (flags & ENS__SPAWN_AT) ? *out : ENS_ADDR_NONE,
                          .arg = {arg_frame, (uint32_t)arg_len}};
    ens__ctl_status_v reply;
    int rc = rpc(s, &ens__ctl_spawn, &v, &reply);
    free(arg_frame);
    if (rc == 0)
        *out = reply.addr;
    return rc;
}

/* ens_spawn_many: up to ENS__SPAWN_WINDOW requests in flight; each wait
 * bounded by call_timeout_ms from the last answer, as rpc()'s. */
static int pa_spawn_many(ens_system *s, ens_actor *parent, const ens_actor_def *d,
                         const ens_actor_def *shown, const uint8_t *arg_frame, size_t arg_len,
                         bool sync, uint32_t flags, size_t n, ens_addr *out, int *status)
{
    (void)parent;
    (void)sync;
    if (arg_len > ENS_CTL_MAX - 1024)
        return ENS_EMSGSIZE;
    ens__spawn_batch b = {.req = {.def = (uint64_t)(uintptr_t)d,
                                  .shown = (uint64_t)(uintptr_t)shown,
                                  .flags = (int32_t)flags,
                                  .name = (char *)d->name,
                                  .arg = {(uint8_t *)arg_frame, (uint32_t)arg_len}},
                          .corr0 = actor_proc.next_corr + 1,
                          .n = n,
                          .out = out,
                          .status = status};
    actor_proc.next_corr += n;
    actor_proc.batch = &b;
    uint64_t wait_ns = (uint64_t)s->opts.call_timeout_ms * 1000000u;
    uint64_t deadline = ens__mono_ns() + wait_ns;
    while (b.answered < b.n) {
        (void)ens__spawn_batch_send(&b, actor_proc.ctl, actor_proc.actor->addr);
        size_t before = b.answered;
        while (!ens__spawn_batch_ready(&b)) {
            uint64_t now = ens__mono_ns();
            if (now >= deadline)
                break;
            struct pollfd p = {.fd = actor_proc.ctl, .events = POLLIN};
            poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
            pump_ctl();
        }
        if (b.answered > before)
            deadline = ens__mono_ns() + wait_ns;
        else if (!ens__spawn_batch_ready(&b)) {
            for (size_t i = 0; i < b.n; i++)
                if (status[i] == 1)
                    status[i] = ENS_ETIMEDOUT;
            break;
        }
    }
    actor_proc.batch = NULL;
    return 0;
}

/* Global names: one request to the admin, which owns the table
 * (core/process/admin/proc_names.c); a named spawn is a spawn request with the name. */
static int pa_names(ens_system *s, ens_actor *caller, ens_names_req *req)
{
    (void)caller;
    ens__ctl_status_v reply = {ENS_ADDR_NONE, 0};
    int rc;
    if (req->op == ENS_NAMES_DEAD) {
        rc = ens__tx_dead_letter(&actor_proc.tx, req->frame, req->len, req->reason);
        free(req->frame);
        return rc;
    }
    if (req->op == ENS_NAMES_SPAWN) {
        if (req->len > ENS_SPAWN_ARG_MAX) {
            free(req->frame);
            return ens__spawn_arg_refused(req->def->name, req->len);
        }
        ens__ctl_spawn_v v = {.def = (uint64_t)(uintptr_t)req->def,
                              .flags = (int32_t)req->flags,
                              .name = (char *)req->def->name,
                              .global = (char *)req->name,
                              .arg = {req->frame, (uint32_t)req->len}};
        rc = rpc(s, &ens__ctl_spawn, &v, &reply);
        free(req->frame);
    } else {
        ens__ctl_name_v v = {(int32_t)req->op, (char *)req->name};
        rc = rpc(s, &ens__ctl_name, &v, &reply);
        /* The caller named itself, or dropped its name: its title says so
         * (a name given by ens_name_spawn comes with the start, from the admin). */
        if (rc == 0 && reply.status == 0 &&
            (req->op == ENS_NAMES_REGISTER || req->op == ENS_NAMES_UNREGISTER))
            ens__actor_proctitle(actor_proc.actor->def->name,
                                 req->op == ENS_NAMES_REGISTER ? req->name : NULL, s->name,
                                 actor_proc.actor->addr);
    }
    if (rc < 0)
        return rc;
    req->addr = reply.addr;
    return reply.status;
}

/* End the reservation of an ended child (core/process/admin/reserve.c). */
static int pa_release(ens_system *s, ens_actor *caller, ens_addr who)
{
    (void)caller;
    ens__ctl_conn_v v = {who, 0};
    ens__ctl_status_v reply;
    return rpc(s, &ens__ctl_release, &v, &reply);
}

static void on_timer(uv_timer_t *h)
{
    wtimer *w = h->data;
    for (wtimer **pp = &actor_proc.timers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    ens_wakeup_v v = {w->id, w->payload, w->delay_ms};
    ens__send_frame(actor_proc.sys, actor_proc.actor->addr, actor_proc.actor->addr, &ens_msg_wakeup,
                    &v, ENS_FRAME_SYSTEM, 0, 0, false);
    uv_close((uv_handle_t *)h, ens__pa_free_handle);
}

static int pa_timer_add(ens_system *s, ens_actor *a, uint32_t delay_ms, uint64_t payload,
                        uint64_t *id)
{
    (void)s;
    (void)a;
    wtimer *w = ens__calloc(1, sizeof(*w));
    if (w == NULL)
        return ENS_ENOMEM;
    w->id = ++actor_proc.next_timer;
    w->payload = payload;
    w->delay_ms = delay_ms;
    uv_timer_init(&actor_proc.loop, &w->t);
    w->t.data = w;
    w->next = actor_proc.timers;
    actor_proc.timers = w;
    /* libuv counts from the loop's cached millisecond clock: refresh it and
     * add the millisecond it rounds down, so a wake-up is never early. */
    uv_update_time(&actor_proc.loop);
    uv_timer_start(&w->t, on_timer, (uint64_t)delay_ms + 1, 0);
    *id = w->id;
    return 0;
}

static int pa_timer_cancel(ens_system *s, ens_actor *a, uint64_t id)
{
    (void)s;
    (void)a;
    for (wtimer **pp = &actor_proc.timers; *pp != NULL; pp = &(*pp)->next) {
        wtimer *w = *pp;
        if (w->id == id) {
            *pp = w->next;
            uv_timer_stop(&w->t);
            uv_close((uv_handle_t *)&w->t, ens__pa_free_handle);
            return 0;
        }
    }
    return ENS_ENOENT;
}

static void pa_actor_gone(ens_system *s, ens_actor *a)
{
    (void)s;
    ens__proc_services_end(); /* commands die with the actor */
    if (ens__stage_in_hand(actor_proc.st)) {
        ens__pa_mark_in_hand(actor_proc.cur_len); /* the frame that ended the actor is handled */
        ens__pa_hand_slot_put_away();
    } else if (actor_proc.st->state == ENS_STAGE_INIT) {
        actor_proc.st->state = ENS_STAGE_IDLE;
    }
    ens__tx_drain(&actor_proc.tx, 2000, ens__pa_pump_ctl_tx);
    /* The drain is bounded (a parent that does not read must not hold its
     * child's process forever): a notice that has not wholly left by now
     * never reaches the parent - the bytes cut short by this process's end
     * are dropped there - so the admin, which heard our Exiting and so
     * would not tell the parent itself, is asked to. */
    if (actor_proc.exit_announced &&
        (actor_proc.notice_refused || ens__tx_holds(&actor_proc.tx, a->parent))) {
        ens__ctl_flag_v untold = {0, 0};
        ens__ctl_send(actor_proc.ctl, a->addr, &ens__ctl_untold, &untold, 0, NULL, 0);
    }
    if (!actor_proc.exit_announced) { /* no parent to tell (see ens__pa_route) */
        ens__ctl_exit_v v = {a->stop_reason, a->stop_status};
        ens__ctl_send(actor_proc.ctl, a->addr, &ens__ctl_exiting, &v, 0, NULL, 0);
    }
    _exit(0);
}

static void pa_dead_letters_set(ens_system *s, ens_addr who, bool enable)
{
    (void)who;
    if (!enable && actor_proc.actor->status == ENS_ACTOR_DEAD)
        return; /* ending: the admin drops the registration itself */
    /* Wait for the admin to have taken it: letters routed after this call
     * returns follow the new registration. */
    ens__ctl_flag_v v = {enable ? 1 : 0, 0};
    ens__ctl_status_v reply;
    rpc(s, &ens__ctl_deadhandler, &v, &reply);
}

static int pa_convention_subscribe(ens_system *s, ens_actor *a, bool on)
{
    (void)a;
    /* Answered once the admin took it: the joined members it sends follow. */
    ens__ctl_flag_v v = {on ? 1 : 0, 0};
    ens__ctl_status_v reply;
    int rc = rpc(s, &ens__ctl_convsub, &v, &reply);
    return rc == ENS_EIO ? ENS_ESHUTDOWN : rc;
}

static int pa_capability_set(ens_system *s, ens_actor *caller, const char *key, const char *value)
{
    (void)caller;
    ens__ctl_caps_v v = {value != NULL ? ENS_CAPSET_SET : ENS_CAPSET_UNSET, (char *)key,
                         (char *)(value != NULL ? value : "")};
    ens__ctl_status_v reply;
    int rc = rpc(s, &ens__ctl_capset, &v, &reply);
    return rc == ENS_EIO ? ENS_ESHUTDOWN : rc;
}

static void pa_on_attempt(ens_system *s, ens_actor *a, uint32_t attempt)
{
    (void)s;
    (void)a;
    actor_proc.st->attempt = attempt;
}

static int pa_status(ens_system *s, ens_addr requester, uint64_t corr)
{
    (void)s;
    ens__ctl_flag_v v = {0, 0};
    return ens__ctl_send(actor_proc.ctl, requester, &ens__ctl_status, &v, corr, NULL, 0) < 0
               ? ENS_EIO
               : 0;
}

static int pa_kill(ens_system *s, ens_actor *caller, ens_addr who)
{
    (void)s;
    (void)caller;
    ens__ctl_conn_v v = {who, 0};
    return ens__ctl_send(actor_proc.ctl, actor_proc.actor->addr, &ens__ctl_kill, &v, 0, NULL, 0) < 0
               ? ENS_ESHUTDOWN
               : 0;
}

/* The outcome of the init: the admin answers a synchronous spawn from it
 * (ens.ctl.Started; a failure's code and text, ens.ctl.InitFailed, are
 * kept for the answer it gives once this process has ended). A start at
 * the end of the main's init is reported by the main, once the stage says
 * init is over. */
void ens__pa_init_done(ens_system *s, ens_actor *a, int rc, const char *why)
{
    (void)s;
    if (rc == 0 && actor_proc.starting)
        return;
    if (rc == 0) {
        ens__ctl_exit_v started = {-1, ens__pa_answer_spawner()};
        ens__ctl_send(actor_proc.ctl, a->addr, &ens__ctl_started, &started, 0, NULL, 0);
        return;
    }
    ens__ctl_why_v v = {rc, (char *)(why != NULL ? why : "")};
    ens__ctl_send(actor_proc.ctl, a->addr, &ens__ctl_initfailed, &v, 0, NULL, 0);
}

#define ANSWER_CONN_WAIT_MS 1000u

int32_t ens__pa_answer_spawner(void)
{
    const uint64_t corr = actor_proc.answer_corr;
    if (corr == 0)
        return 0;
    actor_proc.answer_corr = 0;
    /* The connection the admin made at the spawn comes on the control
     * channel right after the Fork (it was made before): taken now, not
     * asked for. The wait is bounded only against a lost control message
     * (the admin out of memory): then the admin answers. */
    const uint64_t deadline = ens__mono_ns() + ANSWER_CONN_WAIT_MS * 1000000ull;
    for (;;) {
        pump_ctl();
        if (ens__tx_open(&actor_proc.tx, actor_proc.answer_to))
            break;
        const uint64_t now = ens__mono_ns();
        if (now >= deadline)
            return 0;
        struct pollfd p = {.fd = actor_proc.ctl, .events = POLLIN};
        (void)poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
    }
    const ens_addr self = actor_proc.actor->addr;
    ens__ctl_status_v v = {self, 0};
    ens_frame_hdr h = {.flags = ENS_FRAME_SYSTEM,
                       .sender = self,
                       .target = actor_proc.answer_to,
                       .corr = corr,
                       .attempt = 1};
    uint8_t *frame = NULL;
    size_t len = 0;
    if (ens__frame_build(&ens__ctl_spawned, &v, &h, ENS_CTL_MAX, &frame, &len) < 0 ||
        ens__tx_send(&actor_proc.tx, frame, len, &h, false) < 0)
        return 0;
    ens__tx_flush_all(&actor_proc.tx); /* with what init sent before it */
    if (ens__tx_holds(&actor_proc.tx, actor_proc.answer_to))
        return 0;
    /* Test only: the process dies between its answer and its report. */
    if (getenv("ENS__TEST_KILL_AFTER_ANSWER") != NULL && actor_proc.actor->incarnation == 1)
        raise(SIGKILL);
    return 1;
}

/* An actor process hosts its one actor; it has no outside program (its
 * outside operations table stays NULL). */
const ens__host_ops ens__pa_actor_host = {
    .route = ens__pa_route,
    .spawn = pa_spawn,
    .spawn_many = pa_spawn_many,
    .release = pa_release,
    .timer_add = pa_timer_add,
    .timer_cancel = pa_timer_cancel,
    .actor_gone = pa_actor_gone,
    .dead_letters_set = pa_dead_letters_set,
    .convention_subscribe = pa_convention_subscribe,
    .capability_set = pa_capability_set,
    .on_attempt = pa_on_attempt,
    .hold = ens__pa_hold,
    .status = pa_status,
    .watch = ens__proc_watch,
    .command = ens__proc_command,
    .kill = pa_kill,
    .names = pa_names,
    .init_done = ens__pa_init_done,
};

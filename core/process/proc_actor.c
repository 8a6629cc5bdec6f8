/*
 * core/process/proc_actor.c - one actor process of the process base: boot,
 * the loop, and recovery after a crash (proc_actor.h lists the modules).
 *
 * Forked by the admin (or made from a zygote's spare), it runs a libuv
 * loop: one watch on an edge-triggered epoll set of its receiving ends, one
 * for the control channel, timers for wake-ups, and a prepare hook that
 * sends every coalesced outgoing buffer before the loop blocks and then,
 * after traffic, spins briefly for the next message (proc_spin.h). A new
 * incarnation after a crash finds the stage as the crash left it: it
 * redelivers the frame in hand (attempt + 1), or returns it as poison when
 * that was its second attempt, then goes on.
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

proc_actor actor_proc;
#include "core/process/proc_services.h"
#include "core/process/proc_tx.h"
#include "core/wire/arena.h"
#include "core/wire/frag.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

uv_loop_t *ens__proc_loop(void)
{
    return &actor_proc.loop;
}

/* Log lines of an actor process are written by the admin. */
static void send_log(ens_system *s, ens_log_level level, const char *line)
{
    (void)s;
    ens__ctl_log_v v = {(uint32_t)level, (char *)line};
    ens__ctl_send(actor_proc.ctl, actor_proc.actor != NULL ? actor_proc.actor->addr : ENS_ADDR_NONE,
                  &ens__ctl_log, &v, 0, NULL, 0);
}

static void send_event(const ens_event *ev, void *arg)
{
    (void)arg;
    ens__ctl_send_event(actor_proc.ctl, ev);
}

/* After a crash: the frame in hand once more, or back as poison - unless
 * it was returned as poison already (the admin sends that one), or it was
 * being held for an ens_call: then it joins (or already is in) the held
 * area, whose records come first. */
static void recover(bool in_hand, uint32_t attempt, int sig)
{
    ens_stage *st = actor_proc.st;
    if (st->held_done >= st->held_len)
        st->held_len = st->held_done = 0;
    if (!in_hand)
        return;
    /* Every way out below advances `done` or `held_done` (the frame is
     * dealt with) before the stage says IDLE: a crash in between finds it
     * in hand again. */
    uint64_t total = 0;
    ens_msg *m = NULL;
    if (st->hand_held) {
        const uint8_t *f;
        uint64_t n;
        if (ens__stage_held_peek(st, &f, &n))
            m = ens__pa_borrowed_msg(f, n, ens__frame_sender(f));
        if (m == NULL) {
            ens__stage_mark_held(st);
            return;
        }
    } else if (st->hand_slot != 0 && st->hand_slot <= ENS_STAGE_SLOTS &&
               st->len - st->done >= ENS_FRAME_HEADER_LEN && ens__frag_is(st->buf + st->done)) {
        /* The frame in hand was put together from pieces: its last piece is
         * at `done`, the frame in its slot. */
        const unsigned i = st->hand_slot - 1;
        const uint8_t *area = ens__stage_slot_area(st, i);
        total = ens__pa_staged_piece_len();
        m = ens__pa_borrowed_msg(area, st->slot[i].total, ens__frame_sender(area));
        if (m == NULL) {
            ens__stage_mark(st, total);
            ens__pa_hand_slot_put_away();
            return;
        }
    } else {
        m = ens__pa_staged_msg(&total);
    }
    if (m == NULL) {
        st->state = ENS_STAGE_IDLE;
        return;
    }
    /* Returned as poison already (the admin sends it, once), or held (a
     * record of this hand number waits): dealt with. */
    bool done = ens__stage_poisoned(st) || ens__stage_held_has(st, st->hand_seq);
    if (!done && !st->hand_held && st->held_len > st->held_done &&
        ens__stage_hold(st, m->frame, m->frame_len) == 0) {
        /* Being held when the crash came (or a reply whose completion it
         * was): it arrived after every held record, and goes after them. */
        done = true;
    }
    if (done) {
        ens_msg_free(m);
        ens__pa_mark_in_hand(total);
        ens__pa_hand_slot_put_away();
        return;
    }
    if (!ens__msg_retried(&m->hdr)) {
        /* A notice the runtime already acted on (an exit request, a
         * child's exit...) runs its handler once, a crash in it included
         * (actor.h): journaled, dealt with, and an exit request still ends
         * the actor. */
        const bool is_exit = m->hdr.type_id == ens_msg_exit_request.id;
        char why[160];
        snprintf(why, sizeof(why), "crashed in its handler of %s: not retried%s",
                 m->info != NULL ? m->info->type->name : "a system message",
                 is_exit ? " (the actor ends all the same)" : "");
        ens_event ev = {.kind = ENS_EV_ERROR,
                        .signal = sig,
                        .attempt = attempt,
                        .msg_type = m->info != NULL ? m->info->type->name : "",
                        .sender = m->hdr.sender,
                        .reason = why};
        ens__event_actor(&ev, actor_proc.actor);
        ens__event(actor_proc.sys, &ev);
        ens_msg_free(m);
        ens__pa_mark_in_hand(total);
        ens__pa_hand_slot_put_away();
        if (is_exit)
            ens__actor_stop(actor_proc.actor, ENS_EXIT_SHUTDOWN, 0);
        return;
    }
    if (attempt >= 2) {
        m->hdr.attempt = (uint16_t)attempt;
        ens__actor_poison(actor_proc.actor, m, 0, sig);
        ens_msg_free(m);
        /* The poison leaves through the stage and the admin (ens__pa_route)
         * before the frame counts as dealt with. */
        ens__pa_settle_sends();
        ens__pa_mark_in_hand(total);
        ens__pa_hand_slot_put_away();
        return;
    }
    m->hdr.attempt = (uint16_t)(attempt + 1);
    ens_event ev = {.kind = ENS_EV_RETRY,
                    .signal = sig,
                    .attempt = m->hdr.attempt,
                    .msg_type = m->info != NULL ? m->info->type->name : "",
                    .sender = m->hdr.sender,
                    .reason = "delivering the message in hand at the crash once more"};
    ens__event_actor(&ev, actor_proc.actor);
    ens__event(actor_proc.sys, &ev);
    if (st->hand_held) {
        ens__pa_deliver_held(m);
        return;
    }
    ens__pa_deliver(m, total);
    ens__pa_hand_slot_put_away();
}

static bool prepared;

bool ens__actor_process_prepare(void)
{
    if (prepared)
        return true;
    memset(&actor_proc, 0, sizeof(actor_proc));
    /* Large messages are encoded into and sent from buffers of their size:
     * keep freed ones for reuse rather than giving them back to the kernel
     * each time (a page first written costs 15-26 us on the VMs we measure
     * on: PLATFORM-NOTES.md) - up to 32 MiB, glibc's ceiling for these. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    if (uv_loop_init(&actor_proc.loop) != 0)
        return false;
    /* The receiving ends' own epoll set, edge-triggered (see rxconn). */
    actor_proc.rx_ep = epoll_create1(EPOLL_CLOEXEC);
    if (actor_proc.rx_ep < 0)
        return false;
    uv_poll_init(&actor_proc.loop, &actor_proc.rx_poll, actor_proc.rx_ep);
    uv_poll_start(&actor_proc.rx_poll, UV_READABLE, ens__pa_on_rx_events);
    uv_idle_init(&actor_proc.loop, &actor_proc.rx_again);
    uv_timer_init(&actor_proc.loop, &actor_proc.stall);
    uv_prepare_init(&actor_proc.loop, &actor_proc.flush);
    uv_prepare_start(&actor_proc.flush, ens__pa_on_prepare);
    uv_timer_init(&actor_proc.loop, &actor_proc.watch_retry);
    uv_timer_init(&actor_proc.loop, &actor_proc.regive_timer);
    prepared = true;
    return true;
}

/* Test only (ENS__TEST_KILL_AT_STEP=n): the first incarnation of every
 * actor SIGKILLs itself at stage step n (enum ens_stage_step). */
static int kill_step;

static void kill_at_step(enum ens_stage_step step)
{
    if ((int)step == kill_step)
        raise(SIGKILL);
}

_Noreturn void ens__actor_process_main(const ens_actor_boot *b)
{
    ens_system *s = b->sys;
    ens__actor_proctitle(b->def->name, b->global, s->name, b->addr);
    if (!ens__actor_process_prepare())
        _exit(ENS_PROC_EXIT_NO_LOOP);
    actor_proc.sys = s;
    actor_proc.ctl = b->ctl;
    actor_proc.st = b->stage;
    s->host = &ens__pa_actor_host;
    s->outside_ops = NULL;
    s->base = &actor_proc;
    s->opts.on_event = send_event;
    s->log_sink = send_log;
    s->log_role = "actor"; /* this process's own lines, before or without its actor */
    s->opts.event_arg = NULL;
    ens__fd_nonblock(actor_proc.ctl);
    actor_proc.tx.ctl = actor_proc.ctl;
    actor_proc.tx.self = b->addr;
    actor_proc.tx.sys = s;
    s->alloc_failures = 0; /* the admin's count is not this actor's */
    s->alloc_failures_mirror = &actor_proc.st->alloc_failures;
    actor_proc.tx.limit = s->opts.mailbox_limit;
    actor_proc.tx.bytes_limit = s->opts.mailbox_bytes_limit;
    actor_proc.tx.want_write = ens__pa_want_write;
    ens__spin_init(&actor_proc.spin, s->opts.spin_us);
    uint8_t *arg = NULL;
    if (b->arg_frame != NULL) {
        /* Never start without the argument it was spawned with: a crash,
         * reported and restarted, is better than a wrong init. */
        if ((arg = ens__malloc(b->arg_len)) == NULL)
            _exit(ENS_PROC_EXIT_NO_MEMORY);
        memcpy(arg, b->arg_frame, b->arg_len);
    }
    actor_proc.actor = ens__actor_new(s, b->def, b->addr, b->parent, arg, b->arg_len);
    if (actor_proc.actor == NULL)
        _exit(ENS_PROC_EXIT_NO_ACTOR);
    actor_proc.actor->incarnation = b->incarnation;
    s->log_actor = actor_proc.actor;
    actor_proc.actor->spawn_flags = b->spawn_flags;
    actor_proc.answer_to = b->answer_to;
    actor_proc.answer_corr = b->answer_corr;
    uv_poll_init(&actor_proc.loop, &actor_proc.ctl_poll, actor_proc.ctl);
    uv_poll_start(&actor_proc.ctl_poll, UV_READABLE, ens__pa_on_ctl);

    const char *ks = getenv("ENS__TEST_KILL_AT_STEP");
    if (ks != NULL && b->incarnation == 1 && (kill_step = atoi(ks)) > 0)
        ens__stage_step_hook = kill_at_step;
    ens_stage *st = actor_proc.st;
    const bool in_hand = ens__stage_in_hand(st);
    uint32_t crash_attempt = st->attempt;
    if (st->hand_slot != 0 && !in_hand) {
        /* The crash came after a frame in pieces was handled and before its
         * slot was put away. */
        ens__pa_hand_slot_put_away();
    }
    int sig = st->last_signal;
    st->state = ENS_STAGE_INIT;
    actor_proc.starting = true;
    int rc = ens__actor_start(actor_proc.actor); /* on failure it exits via actor_gone */
    actor_proc.starting = false;
    /* Until recover() has dealt with the frame in hand, the stage keeps
     * saying it is in hand: a crash in between must find that frame again,
     * with the same attempt, not take it up as a new message. */
    st->attempt = crash_attempt;
    st->state = in_hand ? ENS_STAGE_HANDLING : ENS_STAGE_IDLE;
    /* Started, or deferred (reason -2): the ack reports it (ens__pa_init_done). */
    ens__ctl_exit_v started = {rc == ENS__INIT_DEFERRED ? -2 : -1, 0};
    if (rc != ENS__INIT_DEFERRED)
        started.status = ens__pa_answer_spawner();
    ens__ctl_send(actor_proc.ctl, b->addr, &ens__ctl_started, &started, 0, NULL, 0);
    for (size_t i = 0; i < b->n_rx; i++) {
        if (st->pend_bytes != 0 && b->rx_ids[i] == st->pend_conn)
            ens__stage_settle(st, b->rx[i]);
        if (ens__pa_rx_add(b->rx[i], b->rx_ids[i], ENS_ADDR_NONE) < 0)
            _exit(ENS_PROC_EXIT_NO_WATCH); /* a crash: restarted */
    }
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        actor_proc.slot_ms[i] = uv_now(&actor_proc.loop);
        if (st->slot[i].conn != 0 && ens__pa_rx_find(st->slot[i].conn) == NULL)
            ens__pa_slot_drop((int)i, "the connection of a frame in pieces was gone after a crash");
    }
    ens__stage_settle(st, -1); /* its connection is gone: nothing to settle */
    recover(in_hand, crash_attempt, sig);
    ens__pa_process_stage();
    uv_run(&actor_proc.loop, UV_RUN_DEFAULT);
    _exit(0);
}

/*
 * core/process/admin/restart.c - actor processes: forking one (through the
 * zygote for a first incarnation, here for a restart, which inherits the
 * receiving ends and the stage), and when one is reaped, telling an orderly
 * exit from a crash: a crash is restarted at the same address unless it
 * happened in the first init, during shutdown, on request, or too often
 * (RESTART_MAX within RESTART_WINDOW_MS, or RESTART_MAX restarts in a row
 * whose init crashed); else the actor ends for good. A restart whose init
 * crashed is tried again after a backoff (RESTART_BACKOFF_*), timed by the
 * admin's loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/proc_names.h"
#include "ensemble/error.h"

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Start an incarnation of r in one of the zygote's spares, with stage_fd
 * (or r's kept memfd) as its stage. Returns 0 (*pid set, *ctl the admin's
 * end of its control channel: the spare's) or ENS_ENOENT (nothing
 * started: fork it here). A
 * fork here copies the admin's descriptor table and stage mappings, and
 * the child then closes and unmaps them: a cost that grows with the number
 * of actors, which is why restarts go through spares too. */
static int zygote_fork(arec *r, bool sync, int stage_fd, pid_t *pid, int *ctl)
{
    if (stage_fd < 0)
        stage_fd = r->stage_fd;
    if (stage_fd < 0 || r->n_rx > ENS_ZYGOTE_MAX_RX)
        return ENS_ENOENT;
    int rx[ENS_ZYGOTE_MAX_RX];
    uint64_t rx_id[ENS_ZYGOTE_MAX_RX];
    for (size_t i = 0; i < r->n_rx; i++) {
        rx[i] = r->rx[i].fd;
        rx_id[i] = r->rx[i].id;
    }
    ens_actor_boot boot = {
        .def = r->def,
        .addr = r->addr,
        .parent = r->parent,
        .incarnation = r->incarnation,
        .ctl = -1,
        .rx = rx,
        .n_rx = r->n_rx,
        .rx_ids = rx_id,
        .arg_frame = r->arg,
        .arg_len = r->arg_len,
        .sync = sync,
        .spawn_flags = r->spawn_flags,
        .global = ens__admin_name_of(r->addr),
        .answer_to = sync && r->answer_direct ? r->requester : ENS_ADDR_NONE,
        .answer_corr = sync && r->answer_direct ? r->req_corr : 0,
    };
    return ens__zygote_fork(&admin_state.zygote, &boot, stage_fd, pid, ctl) == 0 ? 0 : ENS_ENOENT;
}

/* Start a process for r (a new incarnation when r ran before). stage_fd is
 * the memfd of a new actor's stage, or -1 (r's kept one). Every
 * incarnation goes through a zygote spare when there is one and r has at
 * most ENS_ZYGOTE_MAX_RX receiving ends; otherwise it is forked here and
 * inherits every receiving end the admin holds for it. */
/* r runs as pid, with ctl the admin's end of its control channel. */
static void forked(arec *r, pid_t pid, int ctl)
{
    ens__fd_nonblock(ctl);
    r->ctl = ctl;
    ens__admin_rec_set_pid(r, pid);
    ens__admin_dirty(r);
    r->exiting = false;
}

int ens__admin_fork_actor(arec *r, bool sync, int stage_fd)
{
    /* What an init that does not finish gives back (ens__admin_on_child_exit):
     * every fork, a restart in place or a supervisor's start at the kept
     * address alike. */
    r->boot_state = r->stage != NULL ? r->stage->state : ENS_STAGE_IDLE;
    pid_t pid = -1;
    int ctl = -1;
    if (zygote_fork(r, sync, stage_fd, &pid, &ctl) == 0) {
        forked(r, pid, ctl);
        return 0;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ENS_EIO;
    pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return errno == EAGAIN ? ENS_EAGAIN : ENS_ENOMEM;
    }
    if (pid == 0) {
        if (!ens__child_setup(admin_state.pid, true))
            _exit(ENS_PROC_EXIT_PARENT_GONE);
        /* Keep only our own stage: another actor's is none of our business
         * (and each mapping would make our forks and page tables dearer). */
        for (size_t i = 0; i < admin_state.n; i++) {
            if (admin_state.recs[i] != r && admin_state.recs[i]->stage != NULL)
                munmap(admin_state.recs[i]->stage, admin_state.recs[i]->stage_len);
        }
        size_t nk = r->n_rx + 1;
        int *keep = malloc(nk * sizeof(int));
        int *rx = malloc((r->n_rx + 1) * sizeof(int));
        uint64_t *ids = malloc((r->n_rx + 1) * sizeof(uint64_t));
        if (keep == NULL || rx == NULL || ids == NULL)
            _exit(ENS_PROC_EXIT_NO_MEMORY);
        keep[0] = sv[1];
        for (size_t i = 0; i < r->n_rx; i++) {
            keep[i + 1] = r->rx[i].fd;
            rx[i] = r->rx[i].fd;
            ids[i] = r->rx[i].id;
        }
        qsort(keep, nk, sizeof(int), cmp_int);
        ens__close_fds_except(keep, nk);
        free(keep);
        ens_actor_boot boot = {
            .sys = admin_state.sys,
            .def = r->def,
            .addr = r->addr,
            .parent = r->parent,
            .incarnation = r->incarnation,
            .ctl = sv[1],
            .rx = rx,
            .n_rx = r->n_rx,
            .rx_ids = ids,
            .stage = r->stage,
            .arg_frame = r->arg,
            .arg_len = r->arg_len,
            .sync = sync,
            .spawn_flags = r->spawn_flags,
            .global = ens__admin_name_of(r->addr),
            .answer_to = sync && r->answer_direct ? r->requester : ENS_ADDR_NONE,
            .answer_corr = sync && r->answer_direct ? r->req_corr : 0,
        };
        ens__actor_process_main(&boot);
    }
    close(sv[1]);
    forked(r, pid, sv[0]);
    return 0;
}

/* The children of an incarnation that died without its orderly stop (a
 * crash, a kill) are asked to exit, the last started first, as its stop
 * would have done: the incarnation that knew them is gone (a restarted one
 * starts with zeroed state, and its init starts children of its own). Their
 * exit notices reach the address, so the next incarnation, if any, hears of
 * them as of any child. Its children on other systems (remote_kids.c) are
 * asked too. */
static void stop_orphans(ens_addr parent)
{
    for (size_t i = admin_state.n; i-- > 0;) {
        arec *c = admin_state.recs[i];
        if (!c->outside && !c->killed && ens_addr_equal(c->parent, parent) &&
            !ens_addr_is_none(c->addr)) {
            ens_exit_request_v v = {0};
            ens__admin_send_to(parent, c->addr, &ens_msg_exit_request, &v, ENS_FRAME_SYSTEM, 0, 0);
        }
    }
    ens__admin_rkid_parent_gone(parent, true); /* and those it has on other systems */
}

/* r ended for good: tell whoever waits, the parent if the actor could not
 * tell it itself (a crash, a kill, or an orderly exit whose own notice did
 * not leave: ens.ctl.Untold), turn its queue into dead letters, forget it. */
static void end_for_good(arec *r, int reason, int status, int sig, bool orderly)
{
    ens_addr addr = r->addr;
    ens__admin_sync_failed(r);
    if (ens_addr_equal(admin_state.dead_handler, addr))
        admin_state.dead_handler = ENS_ADDR_NONE;
    ens__admin_conv_forget(addr);
    const bool untold = r->untold;
    r->untold = false; /* a kept address's next incarnation speaks for itself */
    if ((!orderly || untold) && !ens_addr_is_none(r->parent) && r->parent.id != ENS_ID_OUTSIDE) {
        ens_child_exited_v ce = {addr, reason, sig, status, r->incarnation};
        ens__admin_send_to(addr, r->parent, &ens_msg_child_exited, &ce, ENS_FRAME_SYSTEM, 0, 0);
    }
    if (!orderly)
        stop_orphans(addr);
    else
        ens__admin_rkid_parent_gone(addr, false);
    ens__admin_release_children(r);
    if (ens__admin_keep(r, sig))
        return; /* its parent decides: a new incarnation here, or the end */
    /* Mark it gone before draining, so its letters do not come back to it. */
    r->addr = ENS_ADDR_NONE;
    ens__admin_drain_to_dead_letters(r, "the actor ended");
    r->addr = addr;
    ens__admin_rec_free(r);
}

/* The backoff before the next try of a restart whose init crashed n times
 * in a row (n >= 1): 10 ms, doubling, at most 1 s. */
static uint64_t backoff_ms(uint32_t n)
{
    uint64_t ms = RESTART_BACKOFF_FIRST_MS;
    for (uint32_t i = 1; i < n && ms < RESTART_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < RESTART_BACKOFF_MAX_MS ? ms : RESTART_BACKOFF_MAX_MS;
}

static void end_event(arec *r, int sig, const char *why)
{
    ens_event ev = {.kind = ENS_EV_EXIT,
                    .actor = r->addr,
                    .parent = r->parent,
                    .actor_type = r->shown->name,
                    .signal = sig,
                    .incarnation = r->incarnation,
                    .reason = why};
    ens__admin_emit(&ev);
}

/* Fork r's next incarnation now (after a crash of the last one, by sig),
 * and tell it to the journal and the parent; an actor that cannot be
 * forked ends for good. */
static void restart_now(arec *r, int sig, int reason, uint64_t waited_ms)
{
    r->incarnation++;
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): only staged recs are forked */
    const bool redelivering = ens__stage_in_hand(r->stage) && r->stage->attempt < 2;
    if (ens__admin_fork_actor(r, false, -1) < 0) {
        end_event(r, sig, "could not be restarted (no process)");
        end_for_good(r, reason, 0, sig, false);
        return;
    }
    char why[128];
    if (waited_ms > 0)
        snprintf(why, sizeof(why),
                 "restarted at the same address after %llu ms (its last restart crashed in init)",
                 (unsigned long long)waited_ms);
    else
        snprintf(why, sizeof(why), "restarted at the same address");
    ens__admin_rec_event(r, ENS_EV_RESTART, sig, why);
    if (!ens_addr_is_none(r->parent) && r->parent.id != ENS_ID_OUTSIDE) {
        ens_child_restarted_v cr = {r->addr, sig, r->incarnation, redelivering ? 1 : 0, 0};
        ens__admin_send_to(r->addr, r->parent, &ens_msg_child_restarted, &cr, ENS_FRAME_SYSTEM, 0,
                           0);
    }
}

uint64_t ens__admin_restart_due(uint64_t now)
{
    uint64_t next = 0;
    /* From the end: a restart that fails frees its record, which moves
     * only the records after it. */
    for (size_t i = admin_state.n; i-- > 0 && admin_state.n_backoff > 0;) {
        arec *r = admin_state.recs[i];
        if (r->restart_at == 0)
            continue;
        if (r->restart_at > now) {
            if (next == 0 || r->restart_at < next)
                next = r->restart_at;
            continue;
        }
        r->restart_at = 0;
        admin_state.n_backoff--;
        restart_now(r, r->restart_sig, r->restart_sig == SIGKILL ? ENS_EXIT_KILLED : ENS_EXIT_CRASH,
                    backoff_ms(r->init_crashes));
    }
    return next;
}

void ens__admin_end_waiting(arec *r, int reason, const char *why)
{
    if (r->restart_at != 0) {
        r->restart_at = 0;
        admin_state.n_backoff--;
    }
    end_event(r, r->restart_sig, why);
    end_for_good(r, reason, 0, r->restart_sig, false);
}

/* A process of ours ended: orderly exit, or a crash to absorb. A crash in
 * the first init fails the spawn; a crash in the init of a restart counts
 * as a crash, and the restart is tried again after a backoff. */
void ens__admin_on_child_exit(pid_t pid, int wstatus)
{
    if (admin_state.jpid > 0 && pid == admin_state.jpid) { /* the journal writer: not an actor */
        ens__admin_journal_exited(wstatus);
        return;
    }
    if (admin_state.gpid > 0 && pid == admin_state.gpid) { /* the gateway: not an actor */
        ens__admin_gateway_exited(wstatus);
        return;
    }
    switch (ens__zygote_exited(&admin_state.zygote, pid)) {
    case ENS_ZYGOTE_ITSELF:
        ens__admin_zygote_exited(wstatus);
        return;
    case ENS_ZYGOTE_SPARE:
        return;
    case ENS_ZYGOTE_NOT_OURS:
        break;
    }
    arec *r = ens__admin_by_pid(pid);
    if (r == NULL || r->pid != pid)
        return;
    ens__admin_rec_set_pid(r, 0);
    if (r->ctl >= 0) {
        ens__admin_on_ctl(r); /* what it said before it ended (its exit notice) */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): ens__admin_on_ctl frees only outside recs
         * (pid 0) */
        ens__admin_close_ctl(r);
    }
    ens__admin_poison_flush(r); /* decided before the end: it leaves, once */
    const bool in_init =
        (r->stage != NULL && r->stage->state == ENS_STAGE_INIT) || r->init_deferred;
    /* An incarnation that ended in its init (killed, crashed, or its init
     * failed) took nothing up: the stage says again what it said when that
     * incarnation was forked, so a frame in hand stays in hand, at its
     * attempt, for whichever incarnation comes next - a restart in place
     * or a supervisor's start at the kept address. Left saying INIT, the
     * next one would take that frame up as a new message (attempt 1 once
     * more). An init that deferred its ack has left INIT already: what it
     * took up since then is in the stage as for any running actor. */
    if (r->stage != NULL && r->stage->state == ENS_STAGE_INIT)
        r->stage->state = r->boot_state;
    if (r->exiting && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        end_for_good(r, r->exit_reason, r->exit_status, 0, true);
        return;
    }
    int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    if (r->killed || r->shut_killed) { /* ens_kill, or the shutdown: journaled when killed */
        if (r->killed)
            end_event(r, sig, "killed on request (ens_kill)");
        end_for_good(r, ENS_EXIT_KILLED, 0, sig, false);
        return;
    }
    int reason = sig == SIGKILL ? ENS_EXIT_KILLED : ENS_EXIT_CRASH;
    const bool first_init = in_init && r->incarnation == 1;
    char why[160];
    int at =
        sig != 0
            ? snprintf(why, sizeof(why), "process killed by signal %d (%s)", sig, strsignal(sig))
            : snprintf(why, sizeof(why), "process exited with status %d", WEXITSTATUS(wstatus));
    if (in_init && !first_init && at > 0 && (size_t)at < sizeof(why))
        snprintf(why + at, sizeof(why) - (size_t)at, " in the init of a restart (%u in a row)",
                 r->init_crashes + 1);
    ens__admin_rec_event(r, ENS_EV_CRASH, sig, why);
    int64_t now = ens__now_ms();
    size_t recent = 0;
    for (size_t i = 0; i < r->n_crashes; i++) {
        if (now - r->crashes[i] < RESTART_WINDOW_MS)
            r->crashes[recent++] = r->crashes[i];
    }
    r->n_crashes = recent;
    const bool init_loop = in_init && !first_init && r->init_crashes + 1 >= RESTART_MAX;
    if (first_init || admin_state.shutting_down || r->no_restart || recent >= RESTART_MAX - 1 ||
        init_loop) {
        const char *gave_up = first_init                  ? "crashed in init: not restarted"
                              : admin_state.shutting_down ? "crashed during shutdown"
                              : r->no_restart             ? "crashed: spawned not to be restarted"
                              : init_loop ? "crashed in the init of every restart: not restarted"
                                          : "crashed too often: not restarted";
        end_event(r, sig, gave_up);
        end_for_good(r, first_init ? ENS_EXIT_INIT_FAILED : reason, 0, sig, false);
        return;
    }
    r->crashes[r->n_crashes++] = now;
    stop_orphans(r->addr); /* init, too, may have started children */
    ens__admin_release_children(r);
    if (in_init) {
        /* The stage says again what it said before this incarnation's
         * init (above), and the try waits for its backoff: the admin's
         * loop starts it (ens__admin_restart_due), never blocking here. */
        r->init_crashes++;
        r->restart_sig = sig;
        r->restart_at = ens__mono_ns() + backoff_ms(r->init_crashes) * 1000000u;
        admin_state.n_backoff++;
        return;
    }
    r->init_crashes = 0;
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): only staged recs are forked */
    r->stage->last_signal = sig;
    restart_now(r, sig, reason, 0);
}

/*
 * core/process/admin/helpers.c - the helper processes the admin supervises:
 * the journal writer (the one process that opens sqlite) and the zygote
 * (spare processes for first incarnations). Each is restarted when it
 * dies, at most JOURNAL_RESTART_MAX / ZYGOTE_RESTART_MAX times a window,
 * and its death is journaled as a CRASH row.
 *
 * No journal row is lost when the writer dies: the admin keeps each event
 * until the writer acknowledges its commit and sends the unacknowledged
 * ones to the next writer; rows are keyed (run id, event number), so one
 * sent twice is written once. What it keeps is bounded (JOURNAL_KEEP_MAX
 * events, JOURNAL_KEEP_BYTES of frames): beyond that, as when the disk is
 * dead, the oldest are dropped, counted and logged (one line per 1000).
 * Rows are lost only when the admin itself dies, when the writer cannot be
 * restarted (its restart limit), or when the system ends before a writer
 * could commit them (JOURNAL_STOP_MS): each said in the log with a count.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "core/process/admin/names_wide.h"
#include "core/process/gateway/gateway.h"
#include "ensemble/error.h"

/* ---- the journal writer ------------------------------------------------
 * Every event gets the next number of the run and is kept, encoded, in a
 * ring (oldest first) until the writer acknowledges a commit that covers
 * it; jkeep_sent counts the first kept events the current writer has been
 * sent. A writer that dies takes only its channel with it: the next one is
 * sent every kept event from the oldest, and the rows' unique key
 * (jrun, number) makes those it had committed already no second row. */

static jkept *kept_at(size_t i)
{
    return &admin_state.jkeep[(admin_state.jkeep_head + i) % admin_state.jkeep_cap];
}

/* Forget the oldest kept event (committed, or dropped). */
static void kept_pop(void)
{
    jkept *k = kept_at(0);
    admin_state.jkeep_bytes -= k->len;
    free(k->frame);
    k->frame = NULL;
    admin_state.jkeep_head = (admin_state.jkeep_head + 1) % admin_state.jkeep_cap;
    admin_state.jkeep_n--;
    if (admin_state.jkeep_sent > 0)
        admin_state.jkeep_sent--;
}

/* Drop everything kept (said, with why, when it was not empty). */
static void kept_free_all(const char *why)
{
    if (admin_state.jkeep_n > 0 && why != NULL)
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "failure journal: %zu event(s) not committed are lost: %s", admin_state.jkeep_n,
                 why);
    while (admin_state.jkeep_n > 0)
        kept_pop();
    free(admin_state.jkeep);
    admin_state.jkeep = NULL;
    admin_state.jkeep_cap = admin_state.jkeep_head = admin_state.jkeep_sent = 0;
}

/* Room for one more kept event: the ring doubles (up to JOURNAL_KEEP_MAX).
 * False when out of memory. */
static bool kept_grow(void)
{
    size_t cap = admin_state.jkeep_cap == 0 ? 256 : admin_state.jkeep_cap * 2;
    if (cap > JOURNAL_KEEP_MAX)
        cap = JOURNAL_KEEP_MAX;
    jkept *ring = ens__calloc(cap, sizeof(*ring));
    if (ring == NULL)
        return false;
    for (size_t i = 0; i < admin_state.jkeep_n; i++)
        ring[i] = *kept_at(i);
    free(admin_state.jkeep);
    admin_state.jkeep = ring;
    admin_state.jkeep_cap = cap;
    admin_state.jkeep_head = 0;
    return true;
}

/* The writer committed every event up to number seq. */
static void kept_ack(uint64_t seq)
{
    while (admin_state.jkeep_n > 0 && kept_at(0)->seq <= seq)
        kept_pop();
}

/* Close the channel to the writer (out of the epoll set first); the next
 * writer is sent every kept event again. */
static void journal_close_channel(void)
{
    ens__admin_ep_set(&admin_state.ep_jfd, &admin_state.ep_jev, -1, 0, 0);
    if (admin_state.jfd >= 0)
        close(admin_state.jfd);
    admin_state.jfd = -1;
    admin_state.jkeep_sent = 0;
}

/* Take the writer's acknowledgements; a closed channel (the writer died:
 * it is reaped soon) is closed here too. */
static void journal_read_acks(void)
{
    while (admin_state.jfd >= 0) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        int rc = ens__ctl_recv(admin_state.jfd, &m, fds, &nfds);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (rc == 1) {
            if (m->hdr.type_id == ens__ctl_ack.id)
                kept_ack(m->hdr.corr);
            ens_msg_free(m);
            continue;
        }
        if (rc == ENS_EBADFRAME)
            continue;
        if (rc == ENS_EIO)
            journal_close_channel();
        return; /* nothing more for now (or no memory to read: next turn) */
    }
}

/* Send the kept events the writer has not been sent, while its channel
 * takes them (the rest wait for EPOLLOUT). */
static void journal_pump(void)
{
    while (admin_state.jfd >= 0 && admin_state.jkeep_sent < admin_state.jkeep_n) {
        const jkept *k = kept_at(admin_state.jkeep_sent);
        int rc = ens__ctl_send_raw(admin_state.jfd, k->frame, k->len, NULL, 0, false);
        if (rc == ENS_EAGAIN)
            return;
        if (rc < 0) { /* the writer is gone: reaped soon, then replaced */
            journal_close_channel();
            return;
        }
        admin_state.jkeep_sent++;
    }
}

void ens__admin_journal_send(const ens_event *ev)
{
    if (!admin_state.jon)
        return;
    ens__ctl_event_v v;
    ens__ctl_event_to(ev, &v);
    uint64_t seq = admin_state.jseq + 1;
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__ctl_build(ev->actor, &ens__ctl_event, &v, seq, &frame, &len);
    if (rc == 0 && admin_state.jkeep_n == admin_state.jkeep_cap &&
        admin_state.jkeep_cap < JOURNAL_KEEP_MAX && !kept_grow())
        rc = ENS_ENOMEM;
    if (rc < 0) {
        free(frame);
        if (rc == ENS_ENOMEM)
            ens__alloc_failed(admin_state.sys, "an event for the failure journal was dropped");
        else
            ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                     "failure journal: an event could not be encoded (%s); dropped",
                     ens_strerror(rc));
        return;
    }
    /* The bound: a writer that cannot commit (a dead disk) must not make
     * the admin grow without limit. The oldest give way, counted. */
    while (admin_state.jkeep_n > 0 && (admin_state.jkeep_n >= JOURNAL_KEEP_MAX ||
                                       admin_state.jkeep_bytes + len > JOURNAL_KEEP_BYTES)) {
        kept_pop();
        if (admin_state.jdropped++ % 1000 == 0)
            ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                     "failure journal: %zu event(s) wait for the writer's commit, the most kept; "
                     "the oldest was dropped (%llu so far)",
                     admin_state.jkeep_n + 1, (unsigned long long)admin_state.jdropped);
    }
    admin_state.jseq = seq;
    *kept_at(admin_state.jkeep_n) = (jkept){seq, frame, len};
    admin_state.jkeep_n++;
    admin_state.jkeep_bytes += len;
    journal_pump();
}

void ens__admin_journal_on_io(uint32_t events)
{
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        journal_read_acks();
    if (events & EPOLLOUT)
        journal_pump();
}

void ens__admin_journal_ep_sync(uint64_t tag)
{
    uint32_t ev = 0;
    if (admin_state.jfd >= 0)
        ev = EPOLLIN | (admin_state.jkeep_sent < admin_state.jkeep_n ? EPOLLOUT : 0u);
    ens__admin_ep_set(&admin_state.ep_jfd, &admin_state.ep_jev, admin_state.jfd, ev, tag);
}

/* A run's id: random, so that no other run of the system (before or after,
 * whose rows share the journal) uses the same one; positive, as sqlite
 * keeps it. */
static uint64_t new_run_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
        id = ens__mono_ns() ^ ((uint64_t)ens__now_ms() << 20) ^ ((uint64_t)getpid() << 44);
    id &= INT64_MAX;
    return id != 0 ? id : 1;
}

/* Fork a writer for this run; its pidfd when the kernel gives one. */
static int journal_fork(void)
{
    int rc = ens__journal_proc_start(admin_state.sys, admin_state.pid, admin_state.jrun,
                                     &admin_state.jpid, &admin_state.jfd);
    if (rc == 0 && admin_state.jpid > 0)
        admin_state.jpidfd = (int)syscall(SYS_pidfd_open, admin_state.jpid, 0);
    return rc;
}

void ens__admin_journal_start(void)
{
    admin_state.jfd = admin_state.jpidfd = admin_state.ep_jfd = -1;
    admin_state.jrun = new_run_id();
    int rc = journal_fork();
    if (rc < 0)
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "failure journal: cannot start its writer: %s", ens_strerror(rc));
    admin_state.jon = admin_state.jpid > 0;
}

/* May a helper process (the journal writer, the zygote) that died be
 * started again? Not if it was restarted max times within the last
 * window_ms (at[0..*n): when, dropped as they age out): it cannot work. */
static bool restart_allowed(int64_t *at, size_t *n, size_t max, int64_t window_ms, int64_t now)
{
    size_t recent = 0;
    for (size_t i = 0; i < *n; i++) {
        if (now - at[i] < window_ms)
            at[recent++] = at[i];
    }
    *n = recent;
    return recent < max;
}

/* Start the journal writer again after it died, unless it died too often
 * (JOURNAL_RESTART_MAX times within JOURNAL_RESTART_WINDOW_MS: it cannot
 * work, e.g. its file went bad). True if a new writer runs; it is sent
 * every kept event. */
static bool journal_restart(void)
{
    int64_t now = ens__now_ms();
    if (!restart_allowed(admin_state.jrestarts, &admin_state.n_jrestarts, JOURNAL_RESTART_MAX,
                         JOURNAL_RESTART_WINDOW_MS, now))
        return false;
    if (journal_fork() < 0 || admin_state.jpid <= 0)
        return false;
    admin_state.jrestarts[admin_state.n_jrestarts++] = now;
    journal_pump();
    return true;
}

/* The writer process that was reaped (wstatus): forget it, its channel
 * (after taking what it acknowledged) and its pidfd. */
static void journal_forget(void)
{
    journal_read_acks();
    journal_close_channel();
    if (admin_state.jpidfd >= 0)
        close(admin_state.jpidfd);
    admin_state.jpidfd = -1;
    admin_state.jpid = 0;
}

/* How a helper process ended, for a log line or a row. */
static void ended_how(int wstatus, char *how, size_t len)
{
    if (WIFSIGNALED(wstatus))
        snprintf(how, len, "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(how, len, "exited with status %d", WEXITSTATUS(wstatus));
}

/* The writer that ended (wstatus) was replaced: its CRASH row. */
static void journal_replaced_row(int wstatus)
{
    char how[64], why[256];
    ended_how(wstatus, how, sizeof(how));
    snprintf(why, sizeof(why),
             "the failure journal's writer process %s; a new one was started and sent the %zu "
             "event(s) not acknowledged as committed",
             how, admin_state.jkeep_n);
    ens_event ev = {.kind = ENS_EV_CRASH,
                    .actor = ENS_ADDR_NONE,
                    .actor_type = "ens.JournalWriter",
                    .signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0,
                    .reason = why};
    ens__admin_emit(&ev);
}

/* The journal writer process ended (reaped): forget it, and unless it
 * ended in order at the system's end, start a new one (also while the
 * system is ending: kept events need it) and journal what happened. */
void ens__admin_journal_exited(int wstatus)
{
    journal_forget();
    bool orderly = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    if (admin_state.shutting_down && orderly)
        return;
    if (!journal_restart()) {
        char how[64];
        ended_how(wstatus, how, sizeof(how));
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "failure journal: the writer process %s; events are no longer journaled (it died "
                 "too often to start it again)",
                 how);
        admin_state.jon = false;
        kept_free_all("the writer cannot be started again");
        return;
    }
    journal_replaced_row(wstatus);
}

/* At the end: send the writer every kept event, then end of file (it
 * commits and exits), and wait for it, at most JOURNAL_STOP_MS in all, so
 * the last rows are committed before the starting program's shutdown
 * returns. A writer that dies meanwhile is replaced (within its restart
 * limits) while events are not acknowledged. */
void ens__admin_journal_stop(void)
{
    int64_t deadline = ens__now_ms() + JOURNAL_STOP_MS;
    bool eof_sent = false;
    while (admin_state.jpid > 0) {
        journal_read_acks();
        journal_pump();
        if (!eof_sent && admin_state.jfd >= 0 && admin_state.jkeep_sent == admin_state.jkeep_n) {
            shutdown(admin_state.jfd, SHUT_WR);
            eof_sent = true;
        }
        int wstatus = 0;
        if (waitpid(admin_state.jpid, &wstatus, WNOHANG) == admin_state.jpid) {
            journal_forget();
            bool orderly = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
            if (orderly || admin_state.jkeep_n == 0 || !journal_restart())
                break;
            journal_replaced_row(wstatus);
            eof_sent = false;
            continue;
        }
        int64_t left = deadline - ens__now_ms();
        if (left <= 0) {
            ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                     "failure journal: the writer did not finish in time; killed");
            kill(admin_state.jpid, SIGKILL);
            waitpid(admin_state.jpid, &wstatus, 0);
            journal_forget();
            break;
        }
        struct pollfd p[2] = {
            {.fd = admin_state.jpidfd, .events = POLLIN},
            {.fd = admin_state.jfd,
             .events = POLLIN | (admin_state.jkeep_sent < admin_state.jkeep_n ? POLLOUT : 0)}};
        int wait = admin_state.jpidfd < 0 && left > 10 ? 10 : (int)left;
        while (poll(p, 2, wait) < 0 && errno == EINTR)
            ;
    }
    kept_free_all("the system ended before the writer committed them");
    admin_state.jon = false;
}

/* Run first in a zygote started while actors exist: the admin's mappings
 * of their stages are none of its business, nor of the spares it makes and
 * the actors they become (and each would make its clones dearer). Its
 * descriptors are closed already. */
void ens__admin_zygote_drop(void)
{
    for (size_t i = 0; i < admin_state.n; i++) {
        if (admin_state.recs[i]->stage != NULL)
            munmap(admin_state.recs[i]->stage, admin_state.recs[i]->stage_len);
    }
}

/* The zygote was reaped. It never ends by itself while the system runs:
 * journal it as a crash (whose log line says what followed), and start a
 * new one unless the system is ending or the zygote died too often
 * (ZYGOTE_RESTART_MAX restarts within ZYGOTE_RESTART_WINDOW_MS): then there
 * is no zygote any more and the admin forks every actor itself. The spares
 * in hand stay in use. */
void ens__admin_zygote_exited(int wstatus)
{
    char how[96];
    if (admin_state.zygote.stuck)
        snprintf(how, sizeof(how), "was killed: a spare it owed was late");
    else if (WIFSIGNALED(wstatus))
        snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
    char then[128] = "the system is ending";
    int64_t now = ens__now_ms();
    int rc = 0;
    if (admin_state.shutting_down) {
        /* nothing more to start */
    } else if (ens__admin_conv_is_refused()) {
        snprintf(then, sizeof(then),
                 "the convention's NATS server refused this system: not started again, "
                 "messages to other systems become dead letters");
    } else if (!restart_allowed(admin_state.zrestarts, &admin_state.n_zrestarts, ZYGOTE_RESTART_MAX,
                                ZYGOTE_RESTART_WINDOW_MS, now)) {
        snprintf(then, sizeof(then),
                 "it died too often to start it again: actors are forked by the admin");
    } else if ((rc = ens__zygote_start(admin_state.sys, admin_state.pid, &admin_state.zygote,
                                       ens__admin_zygote_drop)) < 0) {
        snprintf(then, sizeof(then),
                 "a new one could not be started (%s): actors are forked by the admin",
                 ens_strerror(rc));
    } else {
        admin_state.zrestarts[admin_state.n_zrestarts++] = now;
        snprintf(then, sizeof(then), "a new one was started");
    }
    char why[256];
    snprintf(why, sizeof(why), "the zygote process %s; %s", how, then);
    ens_event ev = {.kind = ENS_EV_CRASH,
                    .actor = ENS_ADDR_NONE,
                    .actor_type = "ens.Zygote",
                    .signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0,
                    .reason = why};
    ens__admin_emit(&ev);
}

/* ---- the gateway -------------------------------------------------------- */

/* Fork a gateway and give it a record (an outside-like endpoint: a control
 * channel and the admin's connection to it, no stage, never restarted in
 * place). Waits up to call_timeout_ms for it to connect. */
static int gateway_fork(void)
{
    ens_system *s = admin_state.sys;
    arec *r = ens__admin_rec_add();
    if (r == NULL)
        return ENS_ENOMEM;
    r->outside = true;
    r->incarnation = 1;
    r->addr = (ens_addr){admin_state.next_id++, s->node, 0};
    ens__admin_rec_index(r);
    pid_t pid = 0;
    int ctl = -1, tx = -1, ready = 0;
    char why[256];
    /* It starts with the capabilities as they are now, changed at run time
     * or not: its record never shows older ones. */
    int rc = ens__gateway_start(s, admin_state.pid, r->addr, ens__admin_own_caps(),
                                s->opts.call_timeout_ms, &pid, &ctl, &tx, &ready, why, sizeof(why));
    if (rc < 0) {
        ens__admin_rec_free(r);
        return rc;
    }
    r->ctl = ctl;
    r->tx = tx;
    ens__admin_dirty(r);
    admin_state.gpid = pid;
    admin_state.gateway = r;
    ens__admin_wide_gateway_up();
    ens__admin_conv_gateway_new();
    if (ready == ENS_EAGAIN)
        ens__log(s, NULL, ENS_LOG_WARN,
                 "the gateway is not connected to NATS yet: messages to other systems become "
                 "dead letters until it is");
    else if (ready == ENS_EAUTH)
        ens__admin_conv_refused(ready, why);
    else if (ready < 0)
        ens__log(s, NULL, ENS_LOG_ERROR, "the gateway could not start: %s", ens_strerror(ready));
    return 0;
}

void ens__admin_gateway_start(void)
{
    if (admin_state.sys->opts.convention.servers == NULL)
        return; /* not in a convention: no NATS anywhere */
    int rc = gateway_fork();
    if (rc < 0)
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "no gateway (%s): messages to other systems become dead letters",
                 ens_strerror(rc));
}

void ens__admin_gateway_leave(uint32_t wait_ms)
{
    arec *g = admin_state.gateway;
    if (admin_state.gpid <= 0 || g == NULL || g->ctl < 0)
        return;
    uint64_t end = ens__mono_ns() + (uint64_t)wait_ms * 1000000u;
    /* What is still queued for the gateway (a remote parent's child-exited
     * notice of this end, say) goes before the channel closes: the gateway
     * reads its connections once more when it ends, then leaves. */
    while (g->tx >= 0 && g->out_len > 0) {
        uint64_t now = ens__mono_ns();
        if (now >= end)
            break;
        struct pollfd p = {g->tx, POLLOUT, 0};
        int k = poll(&p, 1, (int)((end - now + 999999u) / 1000000u));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || (p.revents & (POLLERR | POLLHUP)))
            break;
        ens__admin_out_flush(g);
    }
    shutdown(g->ctl, SHUT_WR); /* the gateway reads the end: it leaves, then ends */
    for (;;) {
        uint64_t now = ens__mono_ns();
        if (now >= end)
            return;
        struct pollfd p = {g->ctl, POLLIN, 0};
        int k = poll(&p, 1, (int)((end - now + 999999u) / 1000000u));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        char drop[512]; /* what it still says (events, log lines) is not kept now */
        ssize_t n = recv(g->ctl, drop, sizeof(drop), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return; /* its end of the channel closed: it ended */
    }
}

void ens__admin_gateway_exited(int wstatus)
{
    admin_state.gpid = 0;
    arec *old = admin_state.gateway;
    if (old != NULL) {
        ens__admin_close_ctl(old);
        ens__admin_rec_free(old); /* senders connected to it see the hang-up */
    }
    ens__admin_wide_gateway_down();
    ens__admin_place_gateway_down();
    if (admin_state.shutting_down && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        return; /* its orderly end with the system */
    char how[64];
    if (WIFSIGNALED(wstatus))
        snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
    char then[160] = "the system is ending";
    int64_t now = ens__now_ms();
    int rc = 0;
    if (admin_state.shutting_down) {
        /* nothing more to start */
    } else if (ens__admin_conv_is_refused()) {
        snprintf(then, sizeof(then),
                 "the convention's NATS server refused this system: not started again, "
                 "messages to other systems become dead letters");
    } else if (!restart_allowed(admin_state.grestarts, &admin_state.n_grestarts,
                                GATEWAY_RESTART_MAX, GATEWAY_RESTART_WINDOW_MS, now)) {
        snprintf(then, sizeof(then),
                 "it died too often to start it again: messages to other systems become dead "
                 "letters");
    } else if ((rc = gateway_fork()) < 0) {
        snprintf(then, sizeof(then),
                 "a new one could not be started (%s): messages to other systems become dead "
                 "letters",
                 ens_strerror(rc));
    } else {
        admin_state.grestarts[admin_state.n_grestarts++] = now;
        snprintf(then, sizeof(then), "a new one was started");
    }
    char why[256];
    snprintf(why, sizeof(why), "the gateway process %s; %s", how, then);
    ens_event ev = {.kind = ENS_EV_CRASH,
                    .actor = ENS_ADDR_NONE,
                    .actor_type = "ens.Gateway",
                    .signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0,
                    .reason = why};
    ens__admin_emit(&ev);
}

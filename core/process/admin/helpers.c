/*
 * core/process/admin/helpers.c - the helper processes the admin supervises:
 * the journal writer (the one process that opens sqlite) and the zygote
 * (spare processes for first incarnations). Each is restarted when it
 * dies, at most JOURNAL_RESTART_MAX / ZYGOTE_RESTART_MAX times a window,
 * and its death is journaled as a CRASH row.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process/admin/admin.h"
#include "ensemble/error.h"

/* Hand ev to the journal writer process without ever waiting: a full
 * channel drops the event (counted, a warning per 1000). */
void ens__admin_journal_send(const ens_event *ev)
{
    if (admin_state.jfd < 0)
        return;
    ens__ctl_event_v v;
    ens__ctl_event_to(ev, &v);
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__ctl_build(ev->actor, &ens__ctl_event, &v, 0, &frame, &len);
    if (rc == 0)
        rc = ens__ctl_send_raw(admin_state.jfd, frame, len, NULL, 0, false);
    free(frame);
    if (rc == 0)
        return;
    if (rc == ENS_ENOMEM) {
        ens__alloc_failed(admin_state.sys, "an event for the failure journal was dropped");
        return;
    }
    if (rc != ENS_EIO) {
        if (admin_state.jdropped++ % 1000 == 0)
            ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
                     "failure journal: the writer is behind, %llu event(s) dropped so far",
                     (unsigned long long)admin_state.jdropped);
        return;
    }
    ens__log(admin_state.sys, NULL, ENS_LOG_WARN,
             "failure journal: the writer process is gone; events until a new one runs are lost");
    close(admin_state.jfd);
    admin_state.jfd = -1;
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
 * work, e.g. its file went bad). True if a new writer runs. */
static bool journal_restart(void)
{
    int64_t now = ens__now_ms();
    if (!restart_allowed(admin_state.jrestarts, &admin_state.n_jrestarts, JOURNAL_RESTART_MAX,
                         JOURNAL_RESTART_WINDOW_MS, now))
        return false;
    if (ens__journal_proc_start(admin_state.sys, admin_state.pid, &admin_state.jpid,
                                &admin_state.jfd) < 0 ||
        admin_state.jpid <= 0)
        return false;
    admin_state.jpidfd = (int)syscall(SYS_pidfd_open, admin_state.jpid, 0);
    admin_state.jrestarts[admin_state.n_jrestarts++] = now;
    return true;
}

/* The journal writer process ended (reaped): forget it, and unless the
 * system is ending, start a new one and journal what happened. Events the
 * dead writer had not committed are lost with it. */
void ens__admin_journal_exited(int wstatus)
{
    if (admin_state.jfd >= 0)
        close(admin_state.jfd);
    if (admin_state.jpidfd >= 0)
        close(admin_state.jpidfd);
    admin_state.jfd = admin_state.jpidfd = -1;
    admin_state.jpid = 0;
    bool orderly = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    if (admin_state.shutting_down && orderly)
        return;
    char how[64];
    if (WIFSIGNALED(wstatus))
        snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
    if (admin_state.shutting_down || !journal_restart()) {
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "failure journal: the writer process %s; events are no longer journaled%s", how,
                 admin_state.shutting_down ? "" : " (it died too often to start it again)");
        return;
    }
    char why[256];
    snprintf(why, sizeof(why),
             "the failure journal's writer process %s; a new one was started (events it had not "
             "committed are lost)",
             how);
    ens_event ev = {.kind = ENS_EV_CRASH,
                    .actor = ENS_ADDR_NONE,
                    .actor_type = "ens.JournalWriter",
                    .signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0,
                    .reason = why};
    ens__admin_emit(&ev);
}

/* At the end: close the channel (the writer drains it, commits, exits) and
 * wait for the writer, at most 2 s, so the last rows are committed before
 * the starting program's shutdown returns. */
void ens__admin_journal_stop(void)
{
    if (admin_state.jfd >= 0)
        close(admin_state.jfd);
    admin_state.jfd = -1;
    if (admin_state.jpid <= 0)
        return;
    int wstatus = 0;
    pid_t got = 0;
    if (admin_state.jpidfd >= 0) {
        struct pollfd p = {.fd = admin_state.jpidfd, .events = POLLIN};
        while (poll(&p, 1, 2000) < 0 && errno == EINTR)
            ;
        got = waitpid(admin_state.jpid, &wstatus, WNOHANG);
    } else {
        for (int i = 0; i < 200 && (got = waitpid(admin_state.jpid, &wstatus, WNOHANG)) == 0; i++)
            poll(NULL, 0, 10);
    }
    if (got == 0) {
        ens__log(admin_state.sys, NULL, ENS_LOG_ERROR,
                 "failure journal: the writer did not finish in time; killed");
        kill(admin_state.jpid, SIGKILL);
        waitpid(admin_state.jpid, &wstatus, 0);
    }
    if (admin_state.jpidfd >= 0)
        close(admin_state.jpidfd);
    admin_state.jpidfd = -1;
    admin_state.jpid = 0;
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

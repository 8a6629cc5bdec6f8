/*
 * core/journal_sink.c - where failure events meet the failure journal.
 *
 * Inproc base: the program that runs the system holds the writer
 * (persistence/journal_writer.h); ens__event() batches every event, the
 * loop flushes when it goes idle, shutdown flushes and closes.
 * Process base: the admin, which forks every actor, must never hold a
 * sqlite connection (PLATFORM-NOTES.md), so it forks a journal writer
 * process before any actor and sends it every event as an ens__ctl_event
 * frame on a SOCK_SEQPACKET channel; the writer opens the database itself.
 * The path is checked at start by the starting program (opened, then closed
 * again before the admin is forked).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/proc.h"
#include "core/runtime.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "persistence/journal_writer.h"

int ens__journal_setup(ens_system *s, const ens_system_opts *o)
{
    s->journal = NULL;
    s->journal_path = NULL;
    char buf[PATH_MAX];
    const char *path = o->journal_path;
    if (path != NULL && path[0] == '\0')
        return 0; /* "" asks for no journal */
    if (path == NULL && o->name != NULL) {
        if (ens_journal_default_path(o->name, buf, sizeof(buf)) < 0) {
            ens__log(s, NULL, ENS_LOG_WARN,
                     "no default place for the failure journal (HOME not set?): no journal");
            return 0;
        }
        path = buf;
    }
    if (path == NULL)
        return 0;
    ens_jwriter *w = NULL;
    char why[512] = "";
    int rc = ens__jwriter_open_why(path, s->name, &w, why, sizeof(why));
    if (rc < 0) {
        ens__log(s, NULL, ENS_LOG_ERROR, "cannot open the failure journal %s: %s", path, why);
        return rc;
    }
    s->journal_path = strdup(path);
    if (s->journal_path == NULL) {
        ens__jwriter_close(w);
        return ENS_ENOMEM;
    }
    if (o->base == ENS_BASE_INPROC)
        s->journal = w;
    else
        ens__jwriter_close(w); /* never carry a connection across fork() */
    return 0;
}

void ens__journal_append(ens_system *s, const ens_event *ev)
{
    if (s->journal != NULL)
        ens__jwriter_append(s->journal, ev);
}

void ens__journal_flush(ens_system *s)
{
    ens_jwriter *w = s->journal;
    if (w == NULL)
        return;
    int rc = ens__jwriter_pending(w) > 0 ? ens__jwriter_flush(w) : 0;
    if (rc < 0 && !s->journal_failing) {
        ens__log(s, NULL, ENS_LOG_ERROR,
                 "cannot write the failure journal %s: %s (events are kept and retried)",
                 s->journal_path, ens__jwriter_last_error(w));
        s->journal_failing = true;
    } else if (rc == 0 && s->journal_failing) {
        ens__log(s, NULL, ENS_LOG_WARN, "the failure journal %s is written again", s->journal_path);
        s->journal_failing = false;
    }
    uint64_t dropped = ens__jwriter_dropped(w);
    if (dropped > s->journal_dropped &&
        (s->journal_dropped == 0 || dropped / 1000 > s->journal_dropped / 1000)) {
        ens__log(s, NULL, ENS_LOG_WARN, "failure journal: %llu events dropped so far",
                 (unsigned long long)dropped);
        s->journal_dropped = dropped;
    }
}

void ens__journal_close(ens_system *s)
{
    if (s == NULL)
        return;
    if (s->journal != NULL) {
        ens__journal_flush(s);
        if (ens__jwriter_pending(s->journal) > 0)
            ens__log(s, NULL, ENS_LOG_ERROR, "failure journal: %u events could not be written",
                     ens__jwriter_pending(s->journal));
        ens__jwriter_close(s->journal);
        s->journal = NULL;
    }
    free(s->journal_path);
    s->journal_path = NULL;
}

/* ---- the process base's journal writer process ------------------------ */

_Noreturn static void writer_main(ens_system *s, int ch)
{
    ens__proctitle("ens-journal %s", s->name);
    ens_jwriter *w = NULL;
    char why[512] = "";
    if (ens__jwriter_open_why(s->journal_path, s->name, &w, why, sizeof(why)) < 0) {
        ens__log(s, NULL, ENS_LOG_ERROR, "journal writer: cannot open %s: %s", s->journal_path,
                 why);
        _exit(ENS_PROC_EXIT_NO_JOURNAL);
    }
    s->journal = w;
    s->journal_failing = false;
    s->journal_dropped = 0;
    uint32_t since_flush = 0;
    for (;;) {
        ens_msg *m = NULL;
        int fds[ENS_CTL_MAX_FDS];
        int nfds = ENS_CTL_MAX_FDS;
        int rc = ens__ctl_recv(ch, &m, fds, &nfds);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (rc == 1) {
            if (m->hdr.type_id == ens__ctl_event.id) {
                ens_event ev;
                ens__ctl_event_from(m->value, &ev);
                ens__journal_append(s, &ev);
                if (++since_flush >= ENS__JWRITER_BATCH_MAX) {
                    ens__journal_flush(s);
                    since_flush = 0;
                }
            }
            ens_msg_free(m);
            continue;
        }
        if (rc == ENS_EBADFRAME)
            continue;
        /* Nothing more to read for now (or the admin closed the channel). */
        ens__journal_flush(s);
        since_flush = 0;
        if (rc < 0)
            break;
        struct pollfd p = {.fd = ch, .events = POLLIN};
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
            ;
    }
    ens__journal_close(s);
    _exit(0);
}

int ens__journal_proc_start(ens_system *s, pid_t admin, pid_t *pid, int *fd)
{
    *pid = 0;
    *fd = -1;
    if (s->journal_path == NULL)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ENS_EIO;
    pid_t child = fork();
    if (child < 0) {
        int err = errno == EAGAIN ? ENS_EAGAIN : ENS_ENOMEM;
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    if (child == 0) {
        if (!ens__child_setup(admin, true))
            _exit(ENS_PROC_EXIT_PARENT_GONE);
        int keep[2] = {sv[1], s->log_fd};
        size_t nk = 1;
        if (s->log_fd > 2 && s->log_fd != sv[1]) {
            nk = 2;
            if (keep[1] < keep[0]) {
                keep[0] = s->log_fd;
                keep[1] = sv[1];
            }
        }
        ens__close_fds_except(keep, nk);
        writer_main(s, sv[1]);
    }
    close(sv[1]);
    ens__fd_nonblock(sv[0]);
    /* Room for bursts (capped by net.core.wmem_max): the admin never waits. */
    int bytes = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
    *pid = child;
    *fd = sv[0];
    return 0;
}

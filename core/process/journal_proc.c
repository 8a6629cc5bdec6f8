/*
 * core/process/journal_proc.c - the process base's journal writer process.
 *
 * The admin, which forks every actor, must never hold a sqlite connection
 * (PLATFORM-NOTES.md), so it forks this process before any actor and sends
 * it every event as an ens__ctl_event frame on a SOCK_SEQPACKET channel; the
 * writer opens the journal itself through the system's store
 * (core/runtime/journal_sink.c) and commits in batches.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/runtime/runtime.h"
#include "ensemble/error.h"
#include "persistence/journal_writer.h"

_Noreturn static void writer_main(ens_system *s, int ch)
{
    ens__proctitle("ens-journal %s", s->name);
    struct ens_jwriter *w = NULL;
    char why[512] = "";
    if (s->journal_store->open(s->journal_path, s->name, &w, why, sizeof(why)) < 0) {
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
        if (rc == ENS_EBADFRAME || rc == ENS_ENOMEM)
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

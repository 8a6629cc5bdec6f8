/*
 * core/process/journal_proc.c - the process base's journal writer process.
 *
 * The admin, which forks every actor, must never hold a sqlite connection
 * (PLATFORM-NOTES.md), so it forks this process before any actor and sends
 * it every event as an ens__ctl_event frame on a SOCK_SEQPACKET channel; the
 * writer opens the journal itself through the system's store
 * (core/runtime/journal_sink.c) and commits in batches.
 *
 * Each event frame carries the admin's number for it (the frame's
 * correlation id); the writer stores it with the run's id as the row's key
 * and, after each commit, sends back an ens__ctl_ack whose correlation id
 * is the last number committed. The admin keeps every event until then and
 * gives the unacknowledged ones to the next writer if this one dies; the
 * key makes a row given twice one row (persistence/journal_writer.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/runtime/runtime.h"
#include "ensemble/error.h"
#include "persistence/journal_writer.h"

/* How often a flush that failed (full disk, locked file) is tried again
 * while no event comes. */
#define RETRY_FLUSH_MS 1000

/* Tell the admin that every event up to seq is committed (the frame's
 * correlation id), without waiting: the admin reads its channel from its
 * loop, and an acknowledgement that finds no room is sent with the next
 * one. True if sent. */
static bool send_ack(int ch, uint64_t seq)
{
    ens__ctl_status_v v = {ENS_ADDR_NONE, 0};
    uint8_t *frame = NULL;
    size_t len = 0;
    int rc = ens__ctl_build(ENS_ADDR_NONE, &ens__ctl_ack, &v, seq, &frame, &len);
    if (rc == 0)
        rc = ens__ctl_send_raw(ch, frame, len, NULL, 0, false);
    free(frame);
    return rc == 0;
}

/* Commit the batch; once nothing waits in it, acknowledge the last event
 * received. Returns false if the batch could not be committed. */
static bool commit(ens_system *s, int ch, uint64_t received, uint64_t *acked)
{
    ens__journal_flush(s);
    if (s->journal_store->pending(s->journal) > 0)
        return false;
    if (received > *acked && send_ack(ch, received))
        *acked = received;
    return true;
}

_Noreturn static void writer_main(ens_system *s, int ch, uint64_t run_id)
{
    ens__proctitle("ens-journal %s", s->name);
    struct ens_jwriter *w = NULL;
    char why[512] = "";
    if (s->journal_store->open(s->journal_path, s->name, &w, why, sizeof(why)) < 0) {
        ens__log(s, NULL, ENS_LOG_ERROR, "journal writer: cannot open %s: %s", s->journal_path,
                 why);
        _exit(ENS_PROC_EXIT_NO_JOURNAL);
    }
    if (s->journal_store->set_node != NULL)
        s->journal_store->set_node(w, s->node);
    if (s->journal_store->set_retention != NULL)
        s->journal_store->set_retention(w, s->opts.journal_max_rows, s->opts.journal_max_age_days);
    s->journal = w;
    s->journal_failing = false;
    s->journal_dropped = 0;
    const ens__journal_store *st = s->journal_store;
    /* received: the admin's number of the last event in the batch (events
     * come in the admin's order); acked: the last one acknowledged. */
    uint64_t received = 0, acked = 0;
    for (;;) {
        /* Read while the batch has room: a batch that cannot be committed
         * stops the reading, so the events wait in the channel and then in
         * the admin, which bounds what it keeps. */
        int rc = 0;
        while (st->pending(w) < ENS__JWRITER_BATCH_MAX) {
            ens_msg *m = NULL;
            int fds[ENS_CTL_MAX_FDS];
            int nfds = ENS_CTL_MAX_FDS;
            rc = ens__ctl_recv(ch, &m, fds, &nfds);
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            if (rc == ENS_EBADFRAME)
                continue;
            if (rc != 1)
                break;
            int err = 0;
            if (m->hdr.type_id == ens__ctl_event.id) {
                ens_event ev;
                ens__ctl_event_from(m->value, &ev);
                err = st->append_keyed(w, &ev, run_id, m->hdr.corr);
                if (err == 0)
                    received = m->hdr.corr;
            }
            ens_msg_free(m);
            if (err == ENS_ENOMEM)
                rc = err;
            if (err != 0)
                break;
        }
        bool committed = commit(s, ch, received, &acked);
        if (rc == ENS_ENOMEM) {
            /* An event it could not keep: end, so that the admin gives
             * everything not acknowledged to the next writer. */
            ens__log(s, NULL, ENS_LOG_ERROR, "journal writer: out of memory; ending");
            ens__journal_close(s);
            _exit(ENS_PROC_EXIT_NO_MEMORY);
        }
        if (rc < 0)
            break; /* the admin closed the channel (or is gone) */
        struct pollfd p = {.fd = ch, .events = 0};
        if (st->pending(w) < ENS__JWRITER_BATCH_MAX)
            p.events |= POLLIN;
        if (received > acked)
            p.events |= POLLOUT;
        int wait = committed && received == acked ? -1 : RETRY_FLUSH_MS;
        while (poll(&p, 1, wait) < 0 && errno == EINTR)
            ;
        if ((p.revents & (POLLHUP | POLLERR)) && !(p.events & POLLIN))
            break; /* the admin left while the batch cannot be committed */
    }
    ens__journal_close(s);
    _exit(0);
}

int ens__journal_proc_start(ens_system *s, pid_t admin, uint64_t run_id, pid_t *pid, int *fd)
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
        s->log_role = "journal";
        writer_main(s, sv[1], run_id);
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

/*
 * core/runtime/journal_sink.c - where failure events meet the failure journal.
 *
 * The store is reached through s->journal_store (persistence/ provides the
 * sqlite one, core/system.c plugs it in), never called directly.
 *
 * Inproc base: the program that runs the system holds the writer
 * (persistence/journal_writer.h); ens__event() batches every event, the
 * loop flushes when it goes idle, shutdown flushes and closes.
 * Process base: the admin, which forks every actor, must never hold a
 * sqlite connection (PLATFORM-NOTES.md), so it forks a journal writer
 * process before any actor and sends it every event as an ens__ctl_event
 * frame on a SOCK_SEQPACKET channel; the writer opens the database itself.
 * The path is checked at start by the starting program (opened, then closed
 * again before the admin is forked). The writer process itself is the
 * process base's (core/process/journal_proc.c).
 */
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime/runtime.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"

int ens__journal_setup(ens_system *s, const ens_system_opts *o)
{
    s->journal = NULL;
    s->journal_path = NULL;
    const ens__journal_store *st = s->journal_store;
    char buf[PATH_MAX];
    const char *path = o->journal_path;
    if (path != NULL && path[0] == '\0')
        return 0; /* "" asks for no journal */
    if (path == NULL && o->name != NULL) {
        if (st->default_path(o->name, buf, sizeof(buf)) < 0) {
            ens__log(s, NULL, ENS_LOG_WARN,
                     "no default place for the failure journal (HOME not set?): no journal");
            return 0;
        }
        path = buf;
    }
    if (path == NULL)
        return 0;
    if (st == NULL)
        return ENS_ENOTSUP; /* a journal asked for, no store to write it */
    struct ens_jwriter *w = NULL;
    char why[512] = "";
    int rc = st->open(path, s->name, &w, why, sizeof(why));
    if (rc < 0) {
        ens__log(s, NULL, ENS_LOG_ERROR, "cannot open the failure journal %s: %s", path, why);
        return rc;
    }
    /* Kept absolute: the journal writer process reopens it when it is
     * restarted, maybe after the program changed directory, and status
     * reports it to tools that run elsewhere. */
    bool special = path[0] == ':' || strncmp(path, "file:", 5) == 0; /* sqlite's names */
    s->journal_path = path[0] != '/' && !special ? realpath(path, NULL) : NULL;
    if (s->journal_path == NULL)
        s->journal_path = strdup(path);
    if (s->journal_path == NULL) {
        st->close(w);
        return ENS_ENOMEM;
    }
    if (o->base == ENS_BASE_INPROC) {
        s->journal = w;
        if (st->set_retention != NULL)
            st->set_retention(w, o->journal_max_rows, o->journal_max_age_days);
    } else
        st->close(w); /* never carry a connection across fork() */
    return 0;
}

void ens__journal_append(ens_system *s, const ens_event *ev)
{
    if (s->journal == NULL)
        return;
    /* The node is known only once the base started (after the writer
     * opened); setting it is one store. */
    if (s->journal_store->set_node != NULL)
        s->journal_store->set_node(s->journal, s->node);
    s->journal_store->append(s->journal, ev);
}

void ens__journal_flush(ens_system *s)
{
    struct ens_jwriter *w = s->journal;
    if (w == NULL)
        return;
    const ens__journal_store *st = s->journal_store;
    int rc = st->pending(w) > 0 ? st->flush(w) : 0;
    if (rc < 0 && !s->journal_failing) {
        ens__log(s, NULL, ENS_LOG_ERROR,
                 "cannot write the failure journal %s: %s (events are kept and retried)",
                 s->journal_path, st->last_error(w));
        s->journal_failing = true;
    } else if (rc == 0 && s->journal_failing) {
        ens__log(s, NULL, ENS_LOG_WARN, "the failure journal %s is written again", s->journal_path);
        s->journal_failing = false;
    }
    uint64_t dropped = st->dropped(w);
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
        const ens__journal_store *st = s->journal_store;
        if (st->pending(s->journal) > 0)
            ens__log(s, NULL, ENS_LOG_ERROR, "failure journal: %u events could not be written",
                     st->pending(s->journal));
        st->close(s->journal);
        s->journal = NULL;
    }
    free(s->journal_path);
    s->journal_path = NULL;
}

/*
 * core/system.c - starting a system on a base, or connecting to one, and
 * finding out who holds a system's name. The calls the outside program
 * makes afterwards are in core/runtime/outside.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "core/runtime/files.h"
#include "core/runtime/runtime.h"
#include "core/wire/frame.h"
#include "ensemble/error.h"
#include "persistence/journal_writer.h"

int ens_system_start(const ens_system_opts *o, ens_system **out)
{
    ens_system_opts defaults = ENS_SYSTEM_OPTS_INIT;
    if (out == NULL)
        return ENS_EINVAL;
    if (o == NULL)
        o = &defaults;
    if (o->max_frame_bytes < ENS_FRAME_MIN_LIMIT || o->mailbox_limit == 0 ||
        o->mailbox_bytes_limit == 0)
        return ENS_EINVAL;
    if (o->base != ENS_BASE_INPROC && o->base != ENS_BASE_PROCESS)
        return ENS_EINVAL;
    if (o->base == ENS_BASE_INPROC && o->persistent)
        return ENS_ENOTSUP; /* an inproc system lives in its program */
    if (o->name != NULL && !ens__system_name_ok(o->name))
        return ENS_EINVAL;
    ens_system *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ENS_ENOMEM;
    s->opts = *o;
    static unsigned seq;
    char auto_name[32];
    snprintf(auto_name, sizeof(auto_name), "pid%d-%u", (int)getpid(), ++seq);
    s->name = strdup(o->name != NULL ? o->name : auto_name);
    if (s->name == NULL) {
        free(s);
        return ENS_ENOMEM;
    }
    s->opts.name = s->name;
    s->log_fd = 2;
    if (o->log_path != NULL) {
        char why[PATH_MAX + 128];
        int err = ens__file_open_log(o->log_path, &s->log_fd, why, sizeof(why));
        if (err < 0) {
            s->log_fd = 2; /* the reason goes to stderr */
            ens__log(s, NULL, ENS_LOG_ERROR, "cannot use log_path: %s", why);
            free(s->name);
            free(s);
            return err;
        }
    }
    s->opts.log_path = NULL; /* the caller's string is only borrowed */
    s->outside.sys = s;
    s->journal_store = &ens__sqlite_journal;
    int rc = ens__outside_open(s);
    if (rc == 0)
        rc = ens__journal_setup(s, o);
    s->opts.journal_path = s->journal_path; /* resolved, owned by s */
    ens__msgtype_table_init();              /* built-in types present before the base forks */
    if (rc == 0)
        rc = o->base == ENS_BASE_INPROC ? ens__inproc_start(s) : ens__process_start(s);
    if (rc < 0) {
        ens__outside_free(s);
        ens__journal_close(s);
        if (s->log_fd > 2)
            close(s->log_fd);
        free(s->name);
        free(s);
        return rc;
    }
    s->outside.self = (ens_addr){ENS_ID_OUTSIDE, s->node, 0};
    *out = s;
    return 0;
}

ens_ctx *ens_system_ctx(ens_system *s)
{
    return s != NULL ? &s->outside : NULL;
}

const ens_system_opts *ens_system_options(const ens_system *s)
{
    return s != NULL ? &s->opts : NULL;
}

int ens_system_connect(const char *name, ens_system **out)
{
    if (out != NULL)
        *out = NULL;
    if (out == NULL || !ens__system_name_ok(name))
        return ENS_EINVAL;
    return ens__process_connect(name, out);
}

int ens_system_holder(const char *name, int *uid, int *pid)
{
    if (uid != NULL)
        *uid = -1;
    if (pid != NULL)
        *pid = -1;
    if (!ens__system_name_ok(name))
        return ENS_EINVAL;
    int fd = -1;
    ens_peer who;
    int rc = ens__door_connect(name, true, &fd, &who);
    if (fd >= 0)
        close(fd);
    if (rc < 0 && rc != ENS_EPEERCRED)
        return rc;
    if (uid != NULL)
        *uid = who.uid;
    if (pid != NULL)
        *pid = who.pid;
    return 0;
}

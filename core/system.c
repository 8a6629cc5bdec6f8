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
#include "core/runtime/caps.h"
#include "core/runtime/files.h"
#include "core/runtime/runtime.h"
#include "core/wire/frame.h"
#include "core/wire/why.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"
#include "ensemble/status.h"
#include "persistence/journal_writer.h"

/* The convention's string fields, in the order of ens_convention_opts. */
static const char *const *conv_field(const ens_convention_opts *c, size_t i, const char **name)
{
    static const char *const names[] = {"servers", "name",       "user",    "password",
                                        "token",   "creds_file", "nkey",    "nkey_seed_file",
                                        "tls_ca",  "tls_cert",   "tls_key", "capabilities"};
    const char *const *fields[] = {&c->servers, &c->name,       &c->user,    &c->password,
                                   &c->token,   &c->creds_file, &c->nkey,    &c->nkey_seed_file,
                                   &c->tls_ca,  &c->tls_cert,   &c->tls_key, &c->capabilities};
    _Static_assert(sizeof(names) / sizeof(names[0]) == 12, "one name per field");
    if (name != NULL)
        *name = names[i];
    return fields[i];
}
#define CONV_FIELDS 12u

static bool conv_any(const ens_convention_opts *c)
{
    for (size_t i = 0; i < CONV_FIELDS; i++)
        if (*conv_field(c, i, NULL) != NULL)
            return true;
    return c->heartbeat_ms != 0 || c->down_after_ms != 0;
}

static bool convention_name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n] != '\0'; n++) {
        char ch = name[n];
        if (n >= 64 || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                         (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return n > 0;
}

/* The server list: comma-separated URLs of nats:// or tls://, no spaces. */
static const char *servers_refusal(const char *list)
{
    size_t len = strlen(list);
    if (len == 0 || len > 4096)
        return "servers must hold 1 to 4096 characters";
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            return "servers holds an empty item";
        if (!(n > 7 && strncmp(p, "nats://", 7) == 0) && !(n > 6 && strncmp(p, "tls://", 6) == 0))
            return "each server must start with nats:// or tls://";
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
                return "servers holds a space or a control character";
        if (end == NULL)
            return NULL;
        p = end + 1;
    }
}

/* Why the convention options c cannot be used, or NULL. */
static const char *convention_refusal(const ens_convention_opts *c)
{
    for (size_t i = 0; i < CONV_FIELDS; i++) {
        const char *field;
        const char *v = *conv_field(c, i, &field);
        if (v != NULL && v[0] == '\0' && i != 0)
            return "a convention string is empty (leave it NULL)";
    }
    if (c->servers == NULL)
        return "convention options without servers";
    if (c->name == NULL)
        return "servers without a convention name";
    if (!convention_name_ok(c->name))
        return "the convention name must be 1-64 of [A-Za-z0-9_-]";
    const char *why = servers_refusal(c->servers);
    if (why != NULL)
        return why;
    if ((c->user == NULL) != (c->password == NULL))
        return "user and password go together";
    if (c->token != NULL && c->user != NULL)
        return "token and user are two ways to authenticate: give one";
    if (c->creds_file != NULL && c->nkey_seed_file != NULL)
        return "creds_file and nkey_seed_file are two ways to authenticate: give one";
    if ((c->nkey == NULL) != (c->nkey_seed_file == NULL))
        return "nkey and nkey_seed_file go together";
    if ((c->tls_cert == NULL) != (c->tls_key == NULL))
        return "tls_cert and tls_key go together";
    if (c->heartbeat_ms != 0 && (c->heartbeat_ms < ENS_CONVENTION_HEARTBEAT_MIN_MS ||
                                 c->heartbeat_ms > ENS_CONVENTION_HEARTBEAT_MAX_MS))
        return "heartbeat_ms must be 0 (the default) or 50-60000";
    if (c->down_after_ms != 0 && (c->down_after_ms < ENS_CONVENTION_DOWN_AFTER_MIN_MS ||
                                  c->down_after_ms > ENS_CONVENTION_DOWN_AFTER_MAX_MS))
        return "down_after_ms must be 0 (the default) or 200-600000";
    uint32_t hb = c->heartbeat_ms != 0 ? c->heartbeat_ms : ENS_CONVENTION_HEARTBEAT_MS;
    if (c->down_after_ms != 0 && c->down_after_ms <= hb)
        return "down_after_ms must be more than heartbeat_ms (its default 500 when 0)";
    return ens__caps_refusal(c->capabilities);
}

/* Copy the convention's strings into one block owned by s. */
static int convention_copy(ens_system *s, const ens_convention_opts *c)
{
    size_t total = 0;
    for (size_t i = 0; i < CONV_FIELDS; i++) {
        const char *v = *conv_field(c, i, NULL);
        total += v != NULL ? strlen(v) + 1 : 0;
    }
    if (total == 0)
        return 0;
    s->convention_copy = malloc(total);
    if (s->convention_copy == NULL)
        return ENS_ENOMEM;
    char *at = s->convention_copy;
    for (size_t i = 0; i < CONV_FIELDS; i++) {
        const char *v = *conv_field(c, i, NULL);
        const char **dst = (const char **)conv_field(&s->opts.convention, i, NULL);
        if (v == NULL)
            continue;
        size_t n = strlen(v) + 1;
        memcpy(at, v, n);
        *dst = at;
        at += n;
    }
    return 0;
}

/* Refuse convention options that cannot be used, with a line in s's log. */
static int convention_check(ens_system *s, const ens_system_opts *o)
{
    if (!conv_any(&o->convention))
        return 0;
    if (o->base == ENS_BASE_INPROC) {
        ens__log(s, NULL, ENS_LOG_ERROR,
                 "convention options need the process base (the inproc base has no gateway)");
        return ENS_ENOTSUP;
    }
    const char *why = convention_refusal(&o->convention);
    if (why != NULL) {
        ens__log(s, NULL, ENS_LOG_ERROR, "convention options refused: %s", why);
        return ens__fail(ENS_EINVAL, "ens_system_start: convention options refused: %s", why);
    }
    return 0;
}

/* ens_errmsg for a start refused because a system of that name runs: its
 * admin's pid comes from its status (the socket's owner is the program that
 * started it, which may be gone). */
static void start_refused_name(const char *name)
{
    ens_system *peer = NULL;
    int admin = -1;
    if (ens__process_connect(name, &peer) == 0) {
        ens_status *st = NULL;
        if (ens_system_status(peer, 5000, &st) == 0)
            admin = ens_status_admin_pid(st);
        ens_status_free(st);
        (void)ens_system_close(peer, 5000);
    }
    if (admin > 0)
        ens__errmsg_set("a system named %s runs already (admin pid %d)", name, admin);
    else
        ens__errmsg_set("a system named %s runs already", name);
}

int ens_system_start(const ens_system_opts *o, ens_system **out)
{
    ens_system_opts defaults = ENS_SYSTEM_OPTS_INIT;
    ens__errmsg_clear();
    if (out == NULL)
        return ens__fail(ENS_EINVAL, "ens_system_start: out is NULL");
    if (o == NULL)
        o = &defaults;
    if (o->max_frame_bytes < ENS_FRAME_MIN_LIMIT)
        return ens__fail(ENS_EINVAL, "ens_system_start: max_frame_bytes %u is below %u",
                         (unsigned)o->max_frame_bytes, (unsigned)ENS_FRAME_MIN_LIMIT);
    if (o->mailbox_limit == 0)
        return ens__fail(ENS_EINVAL, "ens_system_start: mailbox_limit is 0");
    if (o->mailbox_bytes_limit == 0)
        return ens__fail(ENS_EINVAL, "ens_system_start: mailbox_bytes_limit is 0");
    if (o->base != ENS_BASE_INPROC && o->base != ENS_BASE_PROCESS)
        return ens__fail(ENS_EINVAL,
                         "ens_system_start: base %d is neither ENS_BASE_INPROC nor "
                         "ENS_BASE_PROCESS",
                         (int)o->base);
    if (o->base == ENS_BASE_INPROC && o->persistent)
        return ENS_ENOTSUP; /* an inproc system lives in its program */
    if (o->name != NULL && !ens__system_name_ok(o->name))
        return ens__fail(ENS_EINVAL, "ens_system_start: the name \"%.64s\" is not a system name",
                         o->name);
    ens_system *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ENS_ENOMEM;
    s->opts = *o;
    s->started_ms = ens__now_ms();
    if (convention_copy(s, &o->convention) < 0) {
        free(s);
        return ENS_ENOMEM;
    }
    static unsigned seq;
    char auto_name[32];
    snprintf(auto_name, sizeof(auto_name), "pid%d-%u", (int)getpid(), ++seq);
    s->name = strdup(o->name != NULL ? o->name : auto_name);
    if (s->name == NULL) {
        free(s->convention_copy);
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
            ens__errmsg_set("ens_system_start: cannot use log_path: %s", why);
            free(s->name);
            free(s->convention_copy);
            free(s);
            return err;
        }
    }
    s->opts.log_path = NULL; /* the caller's string is only borrowed */
    int bad = convention_check(s, o);
    if (bad < 0) {
        if (s->log_fd > 2)
            close(s->log_fd);
        free(s->name);
        free(s->convention_copy);
        free(s);
        return bad;
    }
    s->outside.sys = s;
    s->journal_store = &ens__sqlite_journal;
    int rc = ens__outside_open(s);
    if (rc == 0)
        rc = ens__journal_setup(s, o);
    s->opts.journal_path = s->journal_path; /* resolved, owned by s */
    ens__msgtype_table_init();              /* built-in types present before the base forks */
    if (rc == 0)
        rc = o->base == ENS_BASE_INPROC ? ens__inproc_start(s) : ens__process_start(s);
    if (rc == ENS_EEXIST && o->name != NULL)
        start_refused_name(o->name);
    if (rc < 0) {
        ens__outside_free(s);
        ens__journal_close(s);
        if (s->log_fd > 2)
            close(s->log_fd);
        free(s->name);
        free(s->convention_copy);
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

/* ens_errmsg for a system name nobody of this user runs: what runs. */
static void no_such_system(const char *call, const char *name)
{
    char running[400];
    ens__door_list(running, sizeof(running));
    ens__errmsg_set("%s: no system named %s of this user; running: %s", call, name,
                    running[0] != '\0' ? running : "none");
}

int ens_system_connect(const char *name, ens_system **out)
{
    ens__errmsg_clear();
    if (out != NULL)
        *out = NULL;
    if (out == NULL)
        return ens__fail(ENS_EINVAL, "ens_system_connect: out is NULL");
    if (!ens__system_name_ok(name))
        return ens__fail(ENS_EINVAL, "ens_system_connect: \"%.64s\" is not a system name",
                         name != NULL ? name : "(null)");
    int rc = ens__process_connect(name, out);
    if (rc == ENS_ENOENT)
        no_such_system("ens_system_connect", name);
    return rc;
}

int ens_system_holder(const char *name, int *uid, int *pid)
{
    if (uid != NULL)
        *uid = -1;
    if (pid != NULL)
        *pid = -1;
    ens__errmsg_clear();
    if (!ens__system_name_ok(name))
        return ens__fail(ENS_EINVAL, "ens_system_holder: \"%.64s\" is not a system name",
                         name != NULL ? name : "(null)");
    int fd = -1;
    ens_peer who;
    int rc = ens__door_connect(name, true, &fd, &who);
    if (fd >= 0)
        close(fd);
    if (rc == ENS_ENOENT)
        no_such_system("ens_system_holder", name);
    if (rc < 0 && rc != ENS_EPEERCRED)
        return rc;
    if (uid != NULL)
        *uid = who.uid;
    if (pid != NULL)
        *pid = who.pid;
    return 0;
}

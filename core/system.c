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
#include <sys/stat.h>
#include <unistd.h>

#include "core/process/proc.h"
#include "core/process/proc_door.h"
#include "core/runtime/caps.h"
#include "core/runtime/files.h"
#include "core/runtime/runtime.h"
#include "core/wire/frame.h"
#include "core/wire/msgtype.h"
#include "core/wire/why.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"
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

int ens_log_default_path(const char *name, char *buf, size_t len)
{
    if (name == NULL || buf == NULL)
        return ENS_EINVAL;
    char db[PATH_MAX];
    int n = ens_journal_default_path(name, db, sizeof(db));
    if (n < 0)
        return n;
    if (n < 3 || strcmp(db + n - 3, ".db") != 0)
        return ENS_EINVAL;
    db[n - 3] = '\0'; /* beside the journal: NAME.db -> NAME.log */
    int m = snprintf(buf, len, "%s.log", db);
    if (m < 0)
        return ENS_EINVAL;
    if ((size_t)m >= len) {
        if (len > 0)
            buf[0] = '\0';
        return ENS_ENOBUFS;
    }
    return m;
}

/* Where this system's lines go (ens_system_opts.log_target): open the
 * file, if a file it is, into s->log_fd and keep its path in s->log_file
 * (for rotation); opts.log_target says afterwards which target was chosen.
 * Returns 0 or the error for ens_system_start (logged to stderr). */
static int log_setup(ens_system *s, const ens_system_opts *o)
{
    int target = o->log_target;
    if (target < ENS_LOG_TO_DEFAULT || target > ENS_LOG_TO_SYSLOG) {
        ens__log(s, NULL, ENS_LOG_ERROR, "log_target %d is not an ens_log_target", target);
        return ENS_EINVAL;
    }
    if (o->log_path != NULL && (target == ENS_LOG_TO_STDERR || target == ENS_LOG_TO_SYSLOG)) {
        ens__log(s, NULL, ENS_LOG_ERROR, "log_path %s is set but log_target says %s", o->log_path,
                 target == ENS_LOG_TO_STDERR ? "stderr" : "syslog");
        return ENS_EINVAL;
    }
    char buf[PATH_MAX];
    const char *path = o->log_path;
    if (path == NULL &&
        (target == ENS_LOG_TO_FILE ||
         (target == ENS_LOG_TO_DEFAULT && o->name != NULL && o->base == ENS_BASE_PROCESS))) {
        int n = o->name != NULL ? ens_log_default_path(o->name, buf, sizeof(buf)) : ENS_EINVAL;
        if (n < 0 && target == ENS_LOG_TO_FILE) {
            ens__log(s, NULL, ENS_LOG_ERROR,
                     o->name == NULL
                         ? "log_target file needs a system name or log_path"
                         : "no default place for the log file (neither XDG_STATE_HOME nor HOME "
                           "set?)");
            return n == ENS_ENOBUFS ? ENS_ENOBUFS : ENS_EINVAL;
        }
        if (n < 0) {
            ens__log(s, NULL, ENS_LOG_WARN,
                     "no default place for the log file (HOME not set?): logging to stderr");
            s->opts.log_target = ENS_LOG_TO_STDERR;
            return 0;
        }
        ens__file_make_parent_dirs(buf); /* if it fails, the open below says why */
        path = buf;
    }
    if (path == NULL) {
        s->opts.log_target = target == ENS_LOG_TO_SYSLOG ? ENS_LOG_TO_SYSLOG : ENS_LOG_TO_STDERR;
        return 0;
    }
    char why[PATH_MAX + 128];
    int err = ens__file_open_log(path, &s->log_fd, why, sizeof(why));
    if (err < 0 && err != ENS_EUNSAFE && o->log_path == NULL && target == ENS_LOG_TO_DEFAULT) {
        /* The default place is out of reach (a directory of another user's
         * XDG_STATE_HOME): the system runs, logging as an unnamed one. A
         * planted file is refused like any other: that is an attack. */
        s->log_fd = 2;
        ens__log(s, NULL, ENS_LOG_WARN, "cannot use the default log file (%s): logging to stderr",
                 why);
        s->opts.log_target = ENS_LOG_TO_STDERR;
        return 0;
    }
    if (err < 0) {
        s->log_fd = 2; /* the reason goes to stderr */
        ens__log(s, NULL, ENS_LOG_ERROR, "cannot use %s: %s",
                 o->log_path != NULL ? "log_path" : "the default log file", why);
        ens__errmsg_set("ens_system_start: cannot use %s: %s",
                        o->log_path != NULL ? "log_path" : "the default log file", why);
        return err;
    }
    struct stat st;
    /* Kept absolute: rotation renames it after the program may have changed
     * directory, and `ens log` reads it from the status of a running system. */
    if (fstat(s->log_fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (s->log_file = path[0] != '/' ? realpath(path, NULL) : NULL) == NULL &&
        (s->log_file = strdup(path)) == NULL) {
        close(s->log_fd);
        s->log_fd = 2;
        return ENS_ENOMEM;
    }
    s->opts.log_target = ENS_LOG_TO_FILE;
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
    int err = log_setup(s, o);
    if (err < 0) {
        if (ens_errmsg()[0] == '\0')
            ens__errmsg_set(
                "ens_system_start: the log cannot be set up (%s; the reason is on stderr)",
                ens_strerror(err));
        s->log_fd = 2;
        free(s->name);
        free(s->convention_copy);
        free(s);
        return err;
    }
    s->opts.log_path = s->log_file; /* the caller's string is only borrowed */
    int bad = convention_check(s, o);
    if (bad < 0) {
        if (s->log_fd > 2)
            close(s->log_fd);
        free(s->log_file);
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
    /* From here on new types are refused, in this program and in every
     * process the base forks (an actor that registered one would be the
     * only process to know it), until the system ends. */
    ens__msgtype_system_started();
    if (rc == 0)
        rc = o->base == ENS_BASE_INPROC ? ens__inproc_start(s) : ens__process_start(s);
    if (rc == ENS_EEXIST && o->name != NULL)
        start_refused_name(o->name);
    if (rc < 0) {
        ens__msgtype_system_ended();
        ens__outside_free(s);
        ens__journal_close(s);
        if (s->log_fd > 2)
            close(s->log_fd);
        free(s->log_file);
        free(s->name);
        free(s->convention_copy);
        free(s);
        return rc;
    }
    s->outside.self = (ens_addr){ENS_ID_OUTSIDE, s->node, 0};
    s->holds_msgtypes = true; /* release() ends the refusal of new types */
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
    ens__door_list_text(running, sizeof(running));
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

int ens_system_list(ens_system_list_cb cb, void *arg)
{
    if (cb == NULL)
        return ENS_EINVAL;
    char **names = NULL;
    size_t n = 0;
    int rc = ens__door_list(&names, &n);
    bool stopped = false;
    for (size_t i = 0; i < n; i++) {
        if (!stopped) {
            int r = cb(names[i], arg);
            stopped = r != 0;
            rc = stopped ? r : rc + 1;
        }
        free(names[i]);
    }
    free(names);
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

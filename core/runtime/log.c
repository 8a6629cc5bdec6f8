/*
 * core/runtime/log.c - clocks, the system log and failure-event reporting.
 *
 * Every failure the runtime sees goes through ens__event(): it stamps the
 * time, hands the event to the program's on_event callback and to the
 * failure journal (inproc base: core/runtime/journal_sink.c; on the process base
 * the admin forwards events to its journal writer process) and writes a
 * log line. Log lines go where ens_system_opts.log_target says (a file,
 * rotated once past log_max_bytes; stderr; syslog), one line each, filtered
 * by the system's log level, with the fields system.h lists at
 * ens_log_target. Actor processes hand their lines, with their level, to
 * the admin, which writes them.
 *
 * A log line is one line whatever its text: everything written passes
 * ens__log_write, which escapes control characters (a newline inside a
 * reason, an actor name or a line a hostile peer sent the admin would
 * otherwise start a line of its own that looks like any other).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/runtime/files.h"
#include "core/runtime/runtime.h"
#include "ensemble/error.h"

int64_t ens__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ens__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *level_name(ens_log_level level)
{
    switch (level) {
    case ENS_LOG_ERROR:
        return "ERROR";
    case ENS_LOG_WARN:
        return "WARN";
    case ENS_LOG_INFO:
        return "INFO";
    case ENS_LOG_DEBUG:
        return "DEBUG";
    }
    return "?";
}

/* Who wrote a line: the actor's type and address, or, for the system's own
 * lines, the role of this process and its address ("-": it has none). */
static void log_who(const ens_system *s, const ens_actor *a, char *who, size_t len)
{
    char addr[ENS_ADDR_STRLEN] = "-";
    if (a == NULL && s != NULL)
        a = s->log_actor;
    if (a != NULL) {
        ens_addr_format(a->addr, addr, sizeof(addr));
        const char *type = ens__actor_type(a);
        snprintf(who, len, "%s %s", type != NULL && type[0] != '\0' ? type : "actor", addr);
        return;
    }
    const char *role = "outside";
    uint32_t id = ENS_ID_OUTSIDE;
    if (s == NULL) {
        role = "ensemble";
        id = 0;
    } else if (s->log_role != NULL) {
        role = s->log_role;
        id = strcmp(role, "admin") == 0 ? ENS_ID_ADMIN : 0;
    } else if (s->opts.base == ENS_BASE_INPROC) {
        role = "system";
        id = ENS_ID_ADMIN;
    }
    if (id != 0 && s != NULL && s->node != 0)
        ens_addr_format((ens_addr){id, s->node, 0}, addr, sizeof(addr));
    snprintf(who, len, "%s %s", role, addr);
}

static void log_linev(ens_system *s, const ens_actor *a, ens_log_level level, const char *fmt,
                      va_list ap)
{
    if (s != NULL && level > s->opts.log_level)
        return;
    int64_t now = ens__now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    char who[ENS_ADDR_STRLEN + 80];
    log_who(s, a, who, sizeof(who));
    char text[512];
    vsnprintf(text, sizeof(text), fmt, ap);
    char line[sizeof(text) + 256];
    snprintf(line, sizeof(line), "%s.%03dZ %-5s [%s] %d %s: %s\n", when, (int)(now % 1000),
             level_name(level), s != NULL && s->name != NULL ? s->name : "ensemble", (int)getpid(),
             who, text);
    if (s != NULL && s->log_sink != NULL)
        s->log_sink(s, level, line);
    else
        ens__log_write(s, level, line);
}

/* The length of the well-formed UTF-8 sequence at p (n bytes left) that
 * encodes a character from U+00A0 up (no overlong forms, surrogates or C1
 * controls), or 0. */
static size_t utf8_printable(const unsigned char *p, size_t n)
{
    /* The range of the second byte depends on the first. */
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len = 0;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        lo = p[0] == 0xC2 ? 0xA0 : 0x80; /* C2 80..C2 9F: the C1 controls */
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        lo = p[0] == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = p[0] == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        lo = p[0] == 0xF0 ? 0x90 : 0x80;
        hi = p[0] == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    }
    return len;
}

size_t ens__text_escape(char *out, size_t cap, const char *in, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)in;
    size_t n = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        char esc[4];
        const char *put = esc;
        size_t k = 0, take = 1;
        if (p[i] >= 0x20 && p[i] < 0x7F) {
            esc[k++] = (char)p[i];
        } else if (p[i] >= 0x80 && (take = utf8_printable(p + i, len - i)) > 0) {
            put = in + i;
            k = take;
        } else {
            take = 1;
            esc[k++] = '\\';
            if (p[i] == '\n' || p[i] == '\r' || p[i] == '\t') {
                esc[k++] = p[i] == '\n' ? 'n' : p[i] == '\r' ? 'r' : 't';
            } else {
                esc[k++] = 'x';
                esc[k++] = hex[p[i] >> 4];
                esc[k++] = hex[p[i] & 0xF];
            }
        }
        if (n + k > cap - 1)
            break; /* never half an escape or a character */
        memcpy(out + n, put, k);
        n += k;
        i += take;
    }
    out[n] = '\0';
    return n;
}

static void write_all(int fd, const char *buf, size_t end)
{
    size_t off = 0;
    while (off < end) {
        ssize_t n = write(fd, buf + off, end - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* nowhere left to complain to */
        off += (size_t)n;
    }
}

/* The log file at fd grew past its bound: rename it to FILE.1 and open
 * FILE anew onto the same descriptor (other code keeps its number). Every
 * process of the system that writes the file checks its own descriptor:
 * one that finds the name already on another file (a process before it
 * rotated) only opens it again. A FILE.1 that breaks the rule of files.h
 * is not replaced: the log is emptied instead, and says why. */
static void log_rotate_if_due(ens_system *s, int fd)
{
    uint64_t max = s->opts.log_max_bytes != 0 ? s->opts.log_max_bytes : ENS_LOG_MAX_BYTES_DEFAULT;
    struct stat st, at;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size <= max)
        return;
    char why[PATH_MAX + 128] = "";
    /* Two processes past the bound at once must not both rename: the second
     * would rename the file the first just made over the older part. A
     * record lock on the full file's first byte orders them (it belongs to
     * the process, not to the descriptor fork shares; closing the file at
     * the dup3 below releases it): the one that comes second finds the name
     * on a new file. It is never waited for: a process that cannot take it
     * (another is rotating, or a program holds it) writes on and tries at
     * its next line, so no lock holder can stall a writer. */
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    if (fcntl(fd, F_SETLK, &lk) != 0)
        return;
    bool ours = lstat(s->log_file, &at) == 0 && at.st_ino == st.st_ino && at.st_dev == st.st_dev;
    if (ours) {
        char old[PATH_MAX];
        bool exists = false;
        int rc = snprintf(old, sizeof(old), "%s.1", s->log_file) >= (int)sizeof(old)
                     ? ENS_ENOBUFS
                     : ens__file_check(old, geteuid(), &exists, why, sizeof(why));
        if (rc == 0 && rename(s->log_file, old) != 0) {
            snprintf(why, sizeof(why), "%s: %s", old, strerror(errno));
            rc = ENS_EIO;
        }
        if (rc < 0) {
            if (ftruncate(fd, 0) == 0) {
                char note[sizeof(why) + 128];
                int n = snprintf(note, sizeof(note),
                                 "log %s passed %llu bytes and was emptied: cannot keep it as "
                                 "%s.1: %s\n",
                                 s->log_file, (unsigned long long)max, s->log_file,
                                 why[0] != '\0' ? why : ens_strerror(rc));
                write_all(fd, note, n > 0 && (size_t)n < sizeof(note) ? (size_t)n : 0);
            }
            lk.l_type = F_UNLCK;
            (void)fcntl(fd, F_SETLK, &lk);
            return;
        }
    }
    int nfd = -1;
    if (ens__file_open_log(s->log_file, &nfd, why, sizeof(why)) < 0) {
        lk.l_type = F_UNLCK;
        (void)fcntl(fd, F_SETLK, &lk);
        return; /* kept on the old file; tried again at the next line */
    }
    if (nfd != fd) {
        dup3(nfd, fd, O_CLOEXEC);
        close(nfd);
    }
}

static int syslog_priority(ens_log_level level)
{
    switch (level) {
    case ENS_LOG_ERROR:
        return LOG_ERR;
    case ENS_LOG_WARN:
        return LOG_WARNING;
    case ENS_LOG_INFO:
        return LOG_INFO;
    case ENS_LOG_DEBUG:
        return LOG_DEBUG;
    }
    return LOG_NOTICE;
}

void ens__log_write(ens_system *s, ens_log_level level, const char *line)
{
    int fd = s != NULL && s->log_fd > 0 ? s->log_fd : 2;
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n')
        len--; /* the one newline that ends the line is added back below */
    /* One buffer, so that the line leaves in one write (O_APPEND keeps the
     * lines of several processes whole); too large for the stack: from the
     * heap, or cut short if there is none. */
    char small[2048];
    char *buf = small;
    size_t cap = sizeof(small);
    if (len > (sizeof(small) - 2) / 4) {
        char *big = malloc(len * 4 + 2);
        if (big != NULL) {
            buf = big;
            cap = len * 4 + 2;
        }
    }
    size_t end = ens__text_escape(buf, cap - 1, line, len);
    if (s != NULL && s->opts.log_target == ENS_LOG_TO_SYSLOG) {
        if (!s->log_syslog_open) {
            openlog(s->name, 0, LOG_USER); /* s->name lives as long as s */
            s->log_syslog_open = true;
        }
        /* syslog stamps its own time: the line goes without ours (the
         * first word, "2026-12-07T18:32:59.123Z"). */
        const char *body = buf;
        const char *sp = strchr(buf, ' ');
        if (sp != NULL && sp - buf == 24 && buf[23] == 'Z')
            body = sp + 1;
        syslog(syslog_priority(level), "%s", body);
    } else {
        buf[end++] = '\n';
        if (s != NULL && s->log_file != NULL && fd > 2)
            log_rotate_if_due(s, fd);
        write_all(fd, buf, end);
    }
    if (buf != small)
        free(buf);
}

void ens__log(ens_system *s, const ens_actor *a, ens_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_linev(s, a, level, fmt, ap);
    va_end(ap);
}

void ens_logv(ens_ctx *c, ens_log_level level, const char *fmt, va_list ap)
{
    if (c == NULL || fmt == NULL)
        return;
    log_linev(c->sys, c->actor, level, fmt, ap);
}

void ens_log(ens_ctx *c, ens_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ens_logv(c, level, fmt, ap);
    va_end(ap);
}

void ens__alloc_failed(ens_system *s, const char *what)
{
    if (s == NULL)
        return;
    if (s->alloc_failures_mirror != NULL)
        (*s->alloc_failures_mirror)++;
    if (s->alloc_failures++ == 0)
        ens__log(s, NULL, ENS_LOG_ERROR,
                 "out of memory: %s (counted in the status snapshot as alloc_failures; later "
                 "ones in this process are counted, not logged)",
                 what);
}

void ens__actor_show_as(ens_ctx *c, const ens_actor_def *shown)
{
    if (c != NULL && c->actor != NULL && shown != NULL)
        c->actor->shown = shown;
}

void ens__event_actor(ens_event *ev, const ens_actor *a)
{
    if (a == NULL)
        return;
    ev->actor = a->addr;
    ev->parent = a->parent;
    ev->actor_type = ens__actor_type(a);
    ev->incarnation = a->incarnation;
}

void ens__event_fill(ens_event *ev)
{
    if (ev->actor_type == NULL)
        ev->actor_type = "";
    if (ev->msg_type == NULL)
        ev->msg_type = "";
    if (ev->reason == NULL)
        ev->reason = "";
}

void ens__event(ens_system *s, ens_event *ev)
{
    ev->at_ms = ens__now_ms();
    ens__event_fill(ev);
    if (s->opts.on_event != NULL)
        s->opts.on_event(ev, s->opts.event_arg);
    ens__journal_append(s, ev); /* inproc: into the batch; elsewhere no-op */
    char addr[ENS_ADDR_STRLEN];
    ens_addr_format(ev->actor, addr, sizeof(addr));
    ens_log_level level = ev->kind == ENS_EV_DEAD_LETTER || ev->kind == ENS_EV_POISON ||
                                  ev->kind == ENS_EV_BADFRAME || ev->kind == ENS_EV_EXIT
                              ? ENS_LOG_WARN
                              : ENS_LOG_INFO;
    ens__log(s, NULL, level, "%s: actor %s (%s) message %s attempt %u error %s: %s",
             ens_event_kind_name(ev->kind), addr, ev->actor_type, ev->msg_type, ev->attempt,
             ev->error != 0 ? ens_err_name(ev->error) : "none", ev->reason);
}

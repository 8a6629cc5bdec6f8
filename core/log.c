/*
 * core/log.c - clocks, the system log and failure-event reporting.
 *
 * Every failure the runtime sees goes through ens__event(): it stamps the
 * time, hands the event to the program's on_event callback and to the
 * failure journal (inproc base: core/journal_sink.c; on the process base
 * the admin forwards events to its journal writer process) and writes a
 * log line. Log lines go to
 * stderr, one line each, filtered by the system's log level.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/runtime.h"
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
    char who[ENS_ADDR_STRLEN + 64] = "system";
    if (a != NULL) {
        char addr[ENS_ADDR_STRLEN];
        ens_addr_format(a->addr, addr, sizeof(addr));
        snprintf(who, sizeof(who), "%s %s", a->def->name != NULL ? a->def->name : "actor", addr);
    }
    char text[512];
    vsnprintf(text, sizeof(text), fmt, ap);
    char line[sizeof(text) + 256];
    snprintf(line, sizeof(line), "%s.%03dZ %-5s [%s] %s: %s\n", when, (int)(now % 1000),
             level_name(level), s != NULL && s->name != NULL ? s->name : "ensemble", who, text);
    if (s != NULL && s->log_sink != NULL)
        s->log_sink(s, line);
    else
        ens__log_write(s, line);
}

void ens__log_write(ens_system *s, const char *line)
{
    int fd = s != NULL && s->log_fd > 0 ? s->log_fd : 2;
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t n = write(fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to complain to */
        off += (size_t)n;
    }
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

void ens__event_actor(ens_event *ev, const ens_actor *a)
{
    if (a == NULL)
        return;
    ev->actor = a->addr;
    ev->parent = a->parent;
    ev->actor_type = a->def->name;
    ev->incarnation = a->incarnation;
}

void ens__event(ens_system *s, ens_event *ev)
{
    ev->at_ms = ens__now_ms();
    if (ev->actor_type == NULL)
        ev->actor_type = "";
    if (ev->msg_type == NULL)
        ev->msg_type = "";
    if (ev->reason == NULL)
        ev->reason = "";
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

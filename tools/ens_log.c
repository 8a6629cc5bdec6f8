/*
 * tools/ens_log.c - `ens log NAME`: print the log file of a named system
 * (the file a running system's status names, which may be its own
 * log_path; for a system not running, ens_log_default_path, the place it
 * chooses by default), older rotation (FILE.1) first,
 * filtered by level and actor; -f keeps printing what is appended, across
 * a rotation.
 *
 * A line is TIME LEVEL [SYSTEM] PID WHO ADDR: TEXT (include/ensemble/system.h,
 * ens_log_target). Lines the filters cannot judge (not of that form) are
 * printed only when no filter is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ens_tool.h"
#include "ensemble/actor.h"
#include "ensemble/addr.h"
#include "ensemble/error.h"
#include "ensemble/status.h"
#include "ensemble/system.h"

#define PROG "ens log"

typedef struct log_filter {
    int level; /* show lines at this level or more severe; -1: all */
    bool by_actor;
    ens_addr actor;
    /* --lines N: only the last N lines that pass (0: all); kept in a ring. */
    size_t last;
    char **ring;
    size_t ring_next, ring_count;
} log_filter;

static void usage(FILE *out)
{
    fputs("usage: ens log NAME [-f] [--level LEVEL] [--actor ADDR] [--lines N]\n"
          "\n"
          "Print the log of system NAME, after its previous part (FILE.1): while NAME\n"
          "runs, the file its status names (its own log_path, if it set one); else the\n"
          "file a named system writes by default, $XDG_STATE_HOME/ensemble/NAME.log\n"
          "(else ~/.local/state/ensemble/NAME.log).\n"
          "Each line: TIME LEVEL [SYSTEM] PID WHO ADDR: TEXT (WHO is the actor's type, or\n"
          "admin, journal, zygote, gateway, outside for the system's own processes).\n"
          "\n"
          "options:\n"
          "  -f, --follow      keep printing lines as they are written (also after the\n"
          "                    file is rotated); end with Ctrl-C\n"
          "  --level LEVEL     only lines at LEVEL or more severe: error, warn, info, debug\n"
          "  --actor ADDR      only lines of the actor at ADDR (as `ens status` shows it)\n"
          "  --lines N         only the last N lines (that pass the filters)\n"
          "  -h, --help        this text\n"
          "\n"
          "exit status: 0 success, 1 runtime error (no log file), 2 usage error\n",
          out);
}

static int level_of(const char *word, size_t len)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strlen(names[i]) == len && strncasecmp(word, names[i], len) == 0)
            return i;
    }
    return -1;
}

/* Whether line (without its newline) passes the filters. */
static bool line_passes(const log_filter *f, const char *line)
{
    if (f->level < 0 && !f->by_actor)
        return true;
    /* TIME LEVEL [SYSTEM] PID WHO ADDR: TEXT */
    const char *p = strchr(line, ' ');
    if (p == NULL)
        return false;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, " ");
    int level = level_of(p, n);
    if (level < 0)
        return false;
    if (f->level >= 0 && level > f->level)
        return false;
    if (!f->by_actor)
        return true;
    const char *colon = strstr(p, ": ");
    if (colon == NULL)
        return false;
    const char *addr = colon;
    while (addr > p && addr[-1] != ' ')
        addr--;
    char text[ENS_ADDR_STRLEN];
    size_t len = (size_t)(colon - addr);
    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, addr, len);
    text[len] = '\0';
    ens_addr a;
    return ens_addr_parse(text, &a) == 0 && ens_addr_equal(a, f->actor);
}

static void emit(log_filter *f, const char *line)
{
    if (!line_passes(f, line))
        return;
    if (f->last == 0) {
        printf("%s\n", line);
        return;
    }
    free(f->ring[f->ring_next]);
    f->ring[f->ring_next] = strdup(line);
    f->ring_next = (f->ring_next + 1) % f->last;
    if (f->ring_count < f->last)
        f->ring_count++;
}

static void flush_ring(log_filter *f)
{
    if (f->last == 0)
        return;
    size_t first = (f->ring_next + f->last - f->ring_count) % f->last;
    for (size_t i = 0; i < f->ring_count; i++) {
        char **slot = &f->ring[(first + i) % f->last];
        if (*slot != NULL)
            printf("%s\n", *slot);
        free(*slot);
        *slot = NULL;
    }
    f->ring_count = 0;
    f->last = 0; /* from here on (following), every line is printed */
}

/* What is read of a file and not yet a whole line. */
typedef struct pending {
    char *buf;
    size_t len, cap;
} pending;

/* Read what fd has now, handing each whole line to emit. Returns 0, or
 * -errno. */
static int drain(int fd, pending *pd, log_filter *f)
{
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (pd->len + (size_t)n + 1 > pd->cap) {
            size_t cap = (pd->len + (size_t)n + 1) * 2;
            char *b = realloc(pd->buf, cap);
            if (b == NULL)
                return -ENOMEM;
            pd->buf = b;
            pd->cap = cap;
        }
        memcpy(pd->buf + pd->len, chunk, (size_t)n);
        pd->len += (size_t)n;
        size_t start = 0;
        for (size_t i = 0; i < pd->len; i++) {
            if (pd->buf[i] != '\n')
                continue;
            pd->buf[i] = '\0';
            emit(f, pd->buf + start);
            start = i + 1;
        }
        memmove(pd->buf, pd->buf + start, pd->len - start);
        pd->len -= start;
    }
}

/* A last line without its newline (a file read to its end, not followed). */
static void drain_rest(pending *pd, log_filter *f)
{
    if (pd->len == 0)
        return;
    pd->buf[pd->len] = '\0';
    emit(f, pd->buf);
    pd->len = 0;
}

static void pause_a_little(void)
{
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Follow path from fd (open on it, read to its end): print what is
 * appended; when the name moves to a new file (rotation), finish the old
 * one and go on with the new. Returns only on an error (1). */
static int follow(const char *path, int fd, pending *pd, log_filter *f)
{
    fflush(stdout);
    for (;;) {
        int rc = drain(fd, pd, f);
        if (rc < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", PROG, ens_tool_esc(path), strerror(-rc));
            close(fd);
            return 1;
        }
        fflush(stdout);
        struct stat now, at;
        if (fstat(fd, &now) == 0 && now.st_size < lseek(fd, 0, SEEK_CUR))
            lseek(fd, 0, SEEK_SET); /* emptied in place */
        if (stat(path, &at) == 0 && (at.st_ino != now.st_ino || at.st_dev != now.st_dev)) {
            int nfd = open(path, O_RDONLY | O_CLOEXEC);
            if (nfd >= 0) {
                (void)drain(fd, pd, f); /* what was written before the rename */
                drain_rest(pd, f);
                close(fd);
                fd = nfd;
                continue;
            }
        }
        pause_a_little();
    }
}

/* The file a running system `name` logs to, from its status, into path.
 * Returns 1 (path set), 0 (not running, or it did not answer: the default
 * place is used) or -1 (it runs and logs to stderr or syslog: said). */
static int running_log_path(const char *name, char *path, size_t len)
{
    ens_system *s = NULL;
    if (ens_system_connect(name, &s) != 0)
        return 0;
    ens_status *st = NULL;
    int found = 0;
    if (ens_system_status(s, 5000, &st) == 0) {
        const char *file = ens_status_log(st);
        if (file == NULL) {
            fprintf(stderr,
                    "%s: system %s runs and logs to stderr or syslog (its log_target), not to a "
                    "file\n",
                    PROG, ens_tool_esc(name));
            found = -1;
        } else if (strlen(file) < len) {
            strcpy(path, file);
            found = 1;
        }
    }
    ens_status_free(st);
    ens_system_close(s, 5000);
    return found;
}

int ens_tool_log(int argc, char **argv)
{
    static const struct option longs[] = {
        {"follow", no_argument, NULL, 'f'},      {"level", required_argument, NULL, 'l'},
        {"actor", required_argument, NULL, 'a'}, {"lines", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    log_filter f = {.level = -1};
    bool follow_on = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "fh", longs, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow_on = true;
            break;
        case 'l':
            if ((f.level = level_of(optarg, strlen(optarg))) < 0) {
                fprintf(stderr, "%s: --level '%s' is not one of error, warn, info, debug\n", PROG,
                        ens_tool_esc(optarg));
                return 2;
            }
            break;
        case 'a':
            if (ens_addr_parse(optarg, &f.actor) != 0) {
                fprintf(stderr, "%s: --actor '%s' is not an address (as `ens status` shows)\n",
                        PROG, ens_tool_esc(optarg));
                return 2;
            }
            f.by_actor = true;
            break;
        case 'n': {
            uint64_t v = 0;
            if (!ens_tool_parse_uint(optarg, 1, 1000000, &v)) {
                fprintf(stderr, "%s: --lines '%s' is not a number from 1 to 1000000\n", PROG,
                        ens_tool_esc(optarg));
                return 2;
            }
            f.last = (size_t)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "%s: unknown option '%s' (see ens log --help)\n", PROG,
                    ens_tool_esc(argv[optind - 1]));
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "%s: give one system name (see ens log --help)\n", PROG);
        return 2;
    }
    const char *name = argv[optind];
    char path[PATH_MAX];
    int rc = ens_log_default_path(name, path, sizeof(path));
    if (rc == ENS_ENOBUFS || (rc < 0 && (name[0] == '\0' || strchr(name, '/') != NULL ||
                                         strcmp(name, ".") == 0 || strcmp(name, "..") == 0))) {
        fprintf(stderr, "%s: '%s' is not a system name\n", PROG, ens_tool_esc(name));
        return 2;
    }
    int running = running_log_path(name, path, sizeof(path));
    if (running < 0)
        return 1;
    if (rc < 0 && running == 0) {
        fprintf(stderr, "%s: no place for logs: set XDG_STATE_HOME or HOME\n", PROG);
        return 1;
    }
    if (f.last > 0 && (f.ring = calloc(f.last, sizeof(*f.ring))) == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return 1;
    }
    pending pd = {NULL, 0, 0};
    char older[PATH_MAX + 2];
    snprintf(older, sizeof(older), "%s.1", path);
    int ofd = open(older, O_RDONLY | O_CLOEXEC);
    if (ofd >= 0) {
        (void)drain(ofd, &pd, &f);
        drain_rest(&pd, &f);
        close(ofd);
    }
    int status = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr,
                "%s: no log for system %s at %s: %s (a system named %s writes it while it "
                "runs, unless it logs elsewhere: log_path, log_target)\n",
                PROG, ens_tool_esc(name), ens_tool_esc(path), strerror(errno), ens_tool_esc(name));
        status = 1;
    } else if ((rc = drain(fd, &pd, &f)) < 0) {
        fprintf(stderr, "%s: cannot read %s: %s\n", PROG, ens_tool_esc(path), strerror(-rc));
        close(fd);
        status = 1;
    } else {
        if (!follow_on)
            drain_rest(&pd, &f);
        flush_ring(&f);
        if (follow_on)
            status = follow(path, fd, &pd, &f);
        else
            close(fd);
    }
    flush_ring(&f);
    free(f.ring);
    free(pd.buf);
    return status;
}

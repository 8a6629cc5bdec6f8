/*
 * tools/ens_journal.c - `ens journal`: query a system's failure journal.
 *
 * A thin front end over the query API of ensemble/journal.h: parse the
 * options into an ens_journal_filter, open the file read-only and print the
 * rows newest first, as a table or a JSON document (tools/ens_table.h). It only reads the file, so
 * it works whether or not the system runs.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ens_table.h"
#include "ens_tool.h"
#include "ensemble/error.h"
#include "ensemble/journal.h"

int ens_tool_journal(int argc, char **argv);

#define PROG "ens journal"

static void help(FILE *out)
{
    fputs("usage: ens journal [--db PATH | SYSTEM] [options]\n"
          "       ens journal --convention NAME [--nats URL] [--timeout MS] [options]\n"
          "       ens journal prune [--max-rows N] [--max-age DAYS] [--db PATH | SYSTEM]\n"
          "\n"
          "Show the failures a system recorded, newest first. Reads the journal file only:\n"
          "works whether or not the system runs.\n"
          "\n"
          "  SYSTEM              the system's name (default \"default\"); its journal is\n"
          "                      $XDG_STATE_HOME/ensemble/SYSTEM.db or\n"
          "                      ~/.local/state/ensemble/SYSTEM.db\n"
          "  --db PATH           read the journal at PATH instead\n"
          "  --convention NAME   ask every member of convention NAME (its gateway answers\n"
          "                      from its journal) and merge the rows by time; members\n"
          "                      that do not answer are named on stderr (exit status 1)\n"
          "  --nats URL          the NATS server(s) of the convention, nats://host:port[,...];\n"
          "                      default: $ENSEMBLE_NATS_URL\n"
          "  --timeout MS        how long to wait for the members (default 5000)\n"
          "  --actor ADDR        only this actor (ens:NODE/ID)\n"
          "  --type NAME         only actors of this type\n"
          "  --msg-type NAME     only failures while handling this message type\n"
          "  --kind K[,K...]     only these kinds: error, retry, poison, crash, restart,\n"
          "                      exit, escalate, breaker, badframe, dead_letter, init_failed,\n"
          "                      no_place, member (convention membership changes)\n"
          "  --since TIME        at or after TIME\n"
          "  --until TIME        before TIME\n"
          "  --limit N           at most N rows (default 1000; 0 = all)\n"
          "  --count-by kind|type  count the matching rows per kind or per actor type\n"
          "  --json              a JSON document {\"journal\": [...]} (with --count-by:\n"
          "                      {\"counts\": [...]}) instead of a table\n"
          "  -h, --help          this text\n"
          "\n"
          "TIME is UTC ISO-8601 (2026-11-28T21:00:00Z, 2026-11-28T21:00, 2026-11-28),\n"
          "relative to now (-30s, -10m, -2h, -1d), or Unix milliseconds (1795899600000).\n"
          "\n"
          "exit status: 0 success, 1 runtime error (missing or corrupt journal), 2 usage error\n",
          out);
}

static int usage_error(const char *fmt, const char *arg)
{
    return ens_tool_usage_error(PROG, fmt, arg);
}

/* ---- parsing option values ---- */

/* Exactly n decimal digits at *p (advanced). */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* ISO-8601 UTC: YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z]. */
static bool parse_iso(const char *s, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    const char *p = s;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return false;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return false;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return false;
            if (*p == '.') {
                p++;
                int scale = 100, nd = 0;
                while (*p >= '0' && *p <= '9' && nd < 9) {
                    ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                    nd++;
                }
                if (nd == 0)
                    return false;
            }
        }
    }
    if (*p == 'Z' || *p == 'z')
        p++;
    if (*p != '\0')
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (tm.tm_mday != d || tm.tm_mon != mo - 1) /* 2026-02-30 normalised away */
        return false;
    *out = (int64_t)t * 1000 + ms;
    return true;
}

/* TIME as documented in help(). */
static bool parse_time(const char *s, int64_t now_ms, int64_t *out)
{
    if (s[0] == '-') {
        char *end = NULL;
        errno = 0;
        if (s[1] < '0' || s[1] > '9')
            return false;
        long long n = strtoll(s + 1, &end, 10);
        if (errno != 0 || end[0] == '\0' || end[1] != '\0')
            return false;
        int64_t unit;
        switch (end[0]) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        case 'w':
            unit = 7 * 86400 * 1000;
            break;
        default:
            return false;
        }
        if (n > now_ms / unit)
            return false;
        *out = now_ms - n * unit;
        return true;
    }
    size_t len = strlen(s);
    if (len > 0 && strspn(s, "0123456789") == len) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0)
            return false;
        *out = v;
        return true;
    }
    return parse_iso(s, out);
}

static bool parse_kinds(const char *s, uint32_t *mask)
{
    char *copy = strdup(s);
    if (copy == NULL)
        return false;
    bool ok = true;
    char *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        int k = ens_event_kind_parse(tok);
        if (k < 0 || k > 31) {
            ok = false;
            break;
        }
        *mask |= 1u << k;
        n++;
    }
    free(copy);
    return ok && n > 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output ---- */

static void format_time(int64_t ms, char *buf, size_t len)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, len, "%" PRId64, ms);
        return;
    }
    char day[32];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", day, (int)frac);
}

static void format_addr(ens_addr a, char *buf, size_t len)
{
    if (ens_addr_is_none(a))
        snprintf(buf, len, "-");
    else
        ens_addr_format(a, buf, len);
}

typedef struct out_ctx {
    bool json;
    bool by_kind; /* --count-by kind (else type) */
    struct libscols_table *tb;
    size_t rows;
    bool oom;
} out_ctx;

/* The columns of a row: on a terminal, and (more, raw) in JSON. */
static const char *const table_cols[] = {"TIME",    "KIND",  "ACTOR", "TYPE", "MESSAGE",
                                         "ATTEMPT", "ERROR", "NODE",  "HOST", "REASON"};
static const struct {
    const char *key;
    ens_tool_kind kind;
} json_cols[] = {
    {"seq", ENS_TOOL_NUMBER},     {"at_ms", ENS_TOOL_NUMBER},       {"time", ENS_TOOL_TEXT},
    {"system", ENS_TOOL_TEXT},    {"node", ENS_TOOL_NUMBER},        {"host", ENS_TOOL_TEXT},
    {"kind", ENS_TOOL_TEXT},      {"actor", ENS_TOOL_TEXT},         {"actor_type", ENS_TOOL_TEXT},
    {"parent", ENS_TOOL_TEXT},    {"msg_type", ENS_TOOL_TEXT},      {"sender", ENS_TOOL_TEXT},
    {"error", ENS_TOOL_NUMBER},   {"error_name", ENS_TOOL_TEXT},    {"signal", ENS_TOOL_NUMBER},
    {"attempt", ENS_TOOL_NUMBER}, {"incarnation", ENS_TOOL_NUMBER}, {"msg_size", ENS_TOOL_NUMBER},
    {"reason", ENS_TOOL_TEXT},
};
#define N_TABLE_COLS (sizeof(table_cols) / sizeof(table_cols[0]))
#define N_JSON_COLS  (sizeof(json_cols) / sizeof(json_cols[0]))

/* Make o's table: the rows of the journal, or counts (by kind or type). */
static bool out_open(out_ctx *o, bool counts)
{
    o->tb = ens_tool_table(counts ? "counts" : "journal", o->json);
    bool ok = o->tb != NULL;
    if (counts) {
        ok = ok &&
             ens_tool_column(o->tb, o->by_kind ? "KIND" : "TYPE",
                             o->by_kind ? "kind" : "actor_type", ENS_TOOL_TEXT, false, false) == 0;
        ok = ok && ens_tool_column(o->tb, "COUNT", "count", ENS_TOOL_NUMBER, true, false) == 0;
    } else if (o->json) {
        for (size_t c = 0; ok && c < N_JSON_COLS; c++)
            ok = ens_tool_column(o->tb, json_cols[c].key, json_cols[c].key, json_cols[c].kind,
                                 false, false) == 0;
    } else {
        for (size_t c = 0; ok && c < N_TABLE_COLS; c++)
            ok = ens_tool_column(o->tb, table_cols[c], table_cols[c], ENS_TOOL_TEXT, false,
                                 false) == 0;
    }
    o->oom = !ok;
    return ok;
}

static void out_close(out_ctx *o)
{
    if (o->tb != NULL)
        scols_unref_table(o->tb);
    o->tb = NULL;
}

/* The name of what ended the actor: the signal that killed it (SIGSEGV),
 * else the error's name, else NULL. */
static const char *error_name(const ens_journal_row *row, char *buf, size_t len)
{
    const ens_event *ev = &row->ev;
    if (ev->signal != 0) {
        const char *abbrev = sigabbrev_np(ev->signal);
        if (abbrev != NULL)
            snprintf(buf, len, "SIG%s", abbrev);
        else
            snprintf(buf, len, "signal %d", (int)ev->signal);
        return buf;
    }
    if (row->error_name[0] != '\0' && strcmp(row->error_name, "ENS_EUNKNOWN") != 0)
        return row->error_name;
    return NULL;
}

static int on_row(const ens_journal_row *row, void *arg)
{
    out_ctx *o = arg;
    const ens_event *ev = &row->ev;
    char when[48], actor[ENS_ADDR_STRLEN], parent[ENS_ADDR_STRLEN], sender[ENS_ADDR_STRLEN];
    char ename[48], num[32];
    format_time(ev->at_ms, when, sizeof(when));
    format_addr(ev->actor, actor, sizeof(actor));
    format_addr(ev->parent, parent, sizeof(parent));
    format_addr(ev->sender, sender, sizeof(sender));
    const char *err = error_name(row, ename, sizeof(ename));
    struct libscols_line *ln = scols_table_new_line(o->tb, NULL);
    if (ln == NULL) {
        o->oom = true;
        return 1;
    }
    struct libscols_table *tb = o->tb;
    bool ok = true;
    if (o->json) {
        /* Addresses that are none are null; so is an error without a name. */
        const char *vals[N_JSON_COLS] = {NULL,
                                         NULL,
                                         when,
                                         row->system,
                                         NULL,
                                         row->host,
                                         ens_event_kind_name(ev->kind),
                                         ens_addr_is_none(ev->actor) ? NULL : actor,
                                         ev->actor_type,
                                         ens_addr_is_none(ev->parent) ? NULL : parent,
                                         ev->msg_type,
                                         ens_addr_is_none(ev->sender) ? NULL : sender,
                                         NULL,
                                         err,
                                         NULL,
                                         NULL,
                                         NULL,
                                         NULL,
                                         ev->reason};
        const long long nums[N_JSON_COLS] = {
            [0] = row->seq,         [1] = ev->at_ms,
            [4] = row->node,        [12] = ev->error,
            [14] = ev->signal,      [15] = ev->attempt,
            [16] = ev->incarnation, [17] = (long long)ev->msg_size};
        for (size_t c = 0; ok && c < N_JSON_COLS; c++) {
            if (json_cols[c].kind == ENS_TOOL_NUMBER)
                ok = ens_tool_cell_num(tb, ln, c, nums[c]) == 0;
            else if (vals[c] != NULL)
                ok = ens_tool_cell(tb, ln, c, vals[c]) == 0;
        }
    } else {
        char attempt[16], node[16];
        snprintf(attempt, sizeof(attempt), "%u", ev->attempt);
        snprintf(num, sizeof(num), "%d", (int)ev->error);
        snprintf(node, sizeof(node), "%" PRIu32, row->node);
        const char *vals[N_TABLE_COLS] = {when,
                                          ens_event_kind_name(ev->kind),
                                          actor,
                                          ev->actor_type,
                                          ev->msg_type,
                                          ev->attempt != 0 ? attempt : NULL,
                                          err != NULL      ? err
                                          : ev->error != 0 ? num
                                                           : NULL,
                                          row->node != 0 ? node : NULL,
                                          row->host,
                                          ev->reason};
        for (size_t c = 0; ok && c < N_TABLE_COLS; c++)
            ok = ens_tool_cell(tb, ln, c, vals[c]) == 0;
    }
    o->rows++;
    o->oom = o->oom || !ok;
    return ok ? 0 : 1;
}

static int on_group(const ens_journal_row *row, void *arg)
{
    out_ctx *o = arg;
    const char *name = o->by_kind ? ens_event_kind_name(row->ev.kind) : row->ev.actor_type;
    struct libscols_line *ln = scols_table_new_line(o->tb, NULL);
    bool ok = ln != NULL && ens_tool_cell(o->tb, ln, 0, name) == 0 &&
              ens_tool_cell_num(o->tb, ln, 1, row->count) == 0;
    o->rows++;
    o->oom = o->oom || !ok;
    return ok ? 0 : 1;
}

/* ---- the command ---- */

enum {
    OPT_DB = 256,
    OPT_ACTOR,
    OPT_TYPE,
    OPT_MSG_TYPE,
    OPT_KIND,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_LIMIT,
    OPT_JSON,
    OPT_COUNT_BY,
    OPT_CONVENTION,
    OPT_NATS,
    OPT_TIMEOUT
};

static const struct option options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"actor", required_argument, NULL, OPT_ACTOR},
    {"type", required_argument, NULL, OPT_TYPE},
    {"msg-type", required_argument, NULL, OPT_MSG_TYPE},
    {"kind", required_argument, NULL, OPT_KIND},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"count-by", required_argument, NULL, OPT_COUNT_BY},
    {"convention", required_argument, NULL, OPT_CONVENTION},
    {"nats", required_argument, NULL, OPT_NATS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What the members of a convention did not give. */
typedef struct missing_ctx {
    unsigned not_answered; /* members that did not answer, or failed */
    uint32_t timeout_ms;
} missing_ctx;

static void on_missing(uint32_t node, const char *system, const char *host, int status,
                       const char *why, void *arg)
{
    missing_ctx *m = arg;
    fprintf(stderr, PROG ": node %" PRIu32 " (system %s", node, ens_tool_esc(system));
    fprintf(stderr, " on host %s) ", ens_tool_esc(host));
    if (status == ENS_ETIMEDOUT)
        fprintf(stderr, "did not answer within %" PRIu32 " ms\n", m->timeout_ms);
    else if (status == ENS_ENOENT)
        fprintf(stderr, "has no journal\n");
    else
        fprintf(stderr, "did not answer in full: %s (%s)\n", ens_tool_esc(why),
                ens_err_name(status));
    if (status != ENS_ENOENT)
        m->not_answered++;
}

/* --convention: every member's journal, merged. */
static int query_convention(const char *url, const char *convention, uint32_t timeout_ms,
                            const ens_journal_filter *f, bool json)
{
    out_ctx o = {.json = json};
    missing_ctx m = {.timeout_ms = timeout_ms};
    int rc = out_open(&o, false) ? ens_journal_query_convention(url, convention, f, timeout_ms,
                                                                on_row, &o, on_missing, &m)
                                 : ENS_ENOMEM;
    int status = 0;
    if (rc == ENS_ENOENT) {
        fprintf(stderr, PROG ": no convention %s on %s (no members bucket)\n",
                ens_tool_esc(convention), ens_tool_esc(url));
        status = 1;
    } else if (rc < 0) {
        fprintf(stderr, PROG ": cannot ask the members of %s on %s: %s\n", ens_tool_esc(convention),
                ens_tool_esc(url), ens_strerror(rc));
        status = 1;
    } else if (o.oom) {
        fprintf(stderr, PROG ": out of memory\n");
        status = 1;
    } else if (!json && o.rows == 0) {
        printf("no failures match (convention %s)\n", ens_tool_esc(convention));
    } else {
        status = ens_tool_table_print(o.tb, PROG);
        o.tb = NULL;
    }
    if (m.not_answered > 0)
        status = 1;
    out_close(&o);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}

int ens_tool_journal(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "prune") == 0)
        return ens_tool_journal_prune(argc - 1, argv + 1);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    const char *db = NULL, *count_by = NULL;
    const char *convention = NULL, *url = getenv("ENSEMBLE_NATS_URL");
    uint32_t timeout_ms = 5000;
    bool json = false;
    int64_t now = now_ms();
    opterr = 0;
    optind = 0; /* glibc: full re-initialisation */
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h':
            help(stdout);
            return 0;
        case OPT_DB:
            db = optarg;
            break;
        case OPT_ACTOR:
            if (ens_addr_parse(optarg, &f.actor) != 0 || ens_addr_is_none(f.actor))
                return usage_error("bad address '%s' (expected ens:NODE/ID, e.g. ens:1/16)",
                                   optarg);
            break;
        case OPT_TYPE:
            f.actor_type = optarg;
            break;
        case OPT_MSG_TYPE:
            f.msg_type = optarg;
            break;
        case OPT_KIND:
            if (!parse_kinds(optarg, &f.kinds))
                return usage_error("bad kind list '%s' (kinds: error, retry, poison, crash, "
                                   "restart, exit, escalate, breaker, badframe, dead_letter, "
                                   "init_failed, no_place, member)",
                                   optarg);
            break;
        case OPT_SINCE:
            if (!parse_time(optarg, now, &f.since_ms))
                return usage_error("bad time '%s' (expected 2026-11-28T21:00:00Z, -10m, -2h, "
                                   "-1d or Unix milliseconds)",
                                   optarg);
            break;
        case OPT_UNTIL:
            if (!parse_time(optarg, now, &f.until_ms))
                return usage_error("bad time '%s' (expected 2026-11-28T21:00:00Z, -10m, -2h, "
                                   "-1d or Unix milliseconds)",
                                   optarg);
            break;
        case OPT_LIMIT: {
            uint64_t v = 0;
            if (!ens_tool_parse_uint(optarg, 0, UINT32_MAX, &v))
                return usage_error("bad limit '%s' (a number, 0 = no limit)", optarg);
            f.limit = (uint32_t)v;
            break;
        }
        case OPT_JSON:
            json = true;
            break;
        case OPT_COUNT_BY:
            if (strcmp(optarg, "kind") != 0 && strcmp(optarg, "type") != 0)
                return usage_error("bad --count-by '%s' (kind or type)", optarg);
            count_by = optarg;
            break;
        case OPT_CONVENTION:
            convention = optarg;
            break;
        case OPT_NATS:
            url = optarg;
            break;
        case OPT_TIMEOUT: {
            uint64_t v = 0;
            if (!ens_tool_parse_uint(optarg, 1, 3600000, &v))
                return usage_error("bad --timeout '%s' (milliseconds, 1 to 3600000)", optarg);
            timeout_ms = (uint32_t)v;
            break;
        }
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    const char *system = NULL;
    int rc = ens_tool_system_operand(PROG, argc, argv, optind, db, &system);
    if (rc >= 0)
        return rc;
    if (f.since_ms != 0 && f.until_ms != 0 && f.until_ms <= f.since_ms)
        fprintf(stderr, PROG ": note: --until is not after --since; nothing can match\n");
    if (convention != NULL) {
        if (system != NULL || db != NULL)
            return usage_error("%s", "--convention asks the members: no SYSTEM or --db with it");
        if (count_by != NULL)
            return usage_error("%s", "--count-by reads one journal: not with --convention");
        if (url == NULL || url[0] == '\0')
            return usage_error("%s", "no NATS server: give --nats URL or set ENSEMBLE_NATS_URL");
        return query_convention(url, convention, timeout_ms, &f, json);
    }

    char path_buf[4096];
    rc = ens_tool_journal_file(PROG, system, db, path_buf, sizeof(path_buf), &db);
    if (rc >= 0)
        return rc;

    ens_journal *j = NULL;
    char why[512];
    rc = ens_journal_open_why(db, &j, why, sizeof(why));
    if (rc == ENS_ENOENT) {
        fprintf(stderr, PROG ": no journal at %s: %s\n", ens_tool_esc(db), ens_tool_esc(why));
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": cannot read %s: %s\n", ens_tool_esc(db), ens_tool_esc(why));
        return 1;
    }

    out_ctx o = {.json = json};
    o.by_kind = count_by != NULL && strcmp(count_by, "kind") == 0;
    if (!out_open(&o, count_by != NULL))
        rc = ENS_ENOMEM;
    else if (count_by != NULL)
        rc = ens_journal_count(j, &f, o.by_kind ? "kind" : "actor_type", on_group, &o);
    else
        rc = ens_journal_query(j, &f, on_row, &o);
    int status = 0;
    if (o.oom || rc == ENS_ENOMEM) {
        fprintf(stderr, PROG ": out of memory\n");
        status = 1;
    } else if (rc < 0) {
        fprintf(stderr, PROG ": cannot read %s: %s\n", ens_tool_esc(db),
                ens_tool_esc(ens_journal_errmsg(j)));
        status = 1;
    } else if (!json && count_by == NULL && o.rows == 0) {
        printf("no failures match (journal %s)\n", ens_tool_esc(db));
    } else {
        status = ens_tool_table_print(o.tb, PROG);
        o.tb = NULL;
        if (!json && count_by == NULL && f.limit != 0 && o.rows == f.limit)
            fprintf(stderr, PROG ": showing the newest %u rows; --limit 0 shows all\n", f.limit);
    }
    out_close(&o);
    ens_journal_close(j);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}

/*
 * tests/test_journal.c - the failure journal: the writer (persistence/
 * journal_writer.h) and the query API (ensemble/journal.h) against real
 * files, including their failure modes: bad paths, read-only files, a full
 * disk (RLIMIT_FSIZE in a child), SIGKILL mid-flood, corrupt and truncated
 * files, and the migration from schema version 0.
 *
 * Each test works in its own temporary directory. Rows are checked against
 * a reference filter written here over the same generated events.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "persistence/journal_schema.h"
#include "persistence/journal_writer.h"

#define BASE_MS INT64_C(1795899600000) /* 2026-11-28T21:00:00Z */
#define NEV     60

static const char *const types[] = {"worker", "cache", "supervisor"};
static const char *const msgs[] = {"job", "ping", "", "tick"};

typedef struct fixture {
    char dir[64];
    char db[128];
    ens_event ev[NEV];
    char reasons[NEV][32];
} fixture;

/* Event i of the standard set: at_ms is a permutation of BASE + k s, so
 * time order differs from insertion order. */
static void make_event(fixture *fx, int i)
{
    ens_event *e = &fx->ev[i];
    memset(e, 0, sizeof(*e));
    e->at_ms = BASE_MS + (int64_t)((i * 7) % NEV) * 1000;
    e->kind = (ens_event_kind)(1 + i % 11);
    e->actor = (ens_addr){16 + (uint64_t)(i % 5), 1, 0};
    e->parent = i % 4 == 0 ? ENS_ADDR_NONE : (ens_addr){15, 1, 0};
    e->sender = i % 3 == 0 ? ENS_ADDR_NONE : (ens_addr){2, 1, 0};
    e->actor_type = types[i % 3];
    e->msg_type = msgs[i % 4];
    e->error = i % 2 ? ENS_EINVAL : 0;
    e->signal = e->kind == ENS_EV_CRASH ? 11 : 0;
    e->attempt = 1 + (uint32_t)(i % 2);
    e->incarnation = 1 + (uint32_t)(i / 20);
    e->msg_size = (uint32_t)i * 10;
    snprintf(fx->reasons[i], sizeof(fx->reasons[i]), "reason %d", i);
    e->reason = fx->reasons[i];
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ens_journal_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/j.db", fx->dir);
    for (int i = 0; i < NEV; i++)
        make_event(fx, i);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    chmod(fx->dir, 0700);
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void write_all(fixture *fx)
{
    ens_jwriter *w = NULL;
    char why[256];
    assert_int_equal(ens__jwriter_open_why(fx->db, "testsys", &w, why, sizeof(why)), 0);
    for (int i = 0; i < NEV; i++) {
        assert_int_equal(ens__jwriter_append(w, &fx->ev[i]), 0);
        if (i == NEV / 2)
            assert_int_equal(ens__jwriter_flush(w), 0); /* two transactions */
    }
    assert_int_equal(ens__jwriter_pending(w), NEV - NEV / 2 - 1);
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(ens__jwriter_pending(w), 0);
    assert_int_equal(ens__jwriter_dropped(w), 0);
    ens__jwriter_close(w);
}

/* ---- collecting rows ---- */

typedef struct seen {
    int n;
    int idx[512]; /* event index, from the reason text (first 512 rows) */
    int64_t seq[512];
    int64_t count[16]; /* for count callbacks: by kind */
    int stop_after;    /* nonzero: stop the query after this many */
    char types[8][32]; /* for count by actor_type */
    int64_t type_count[8];
} seen;

static int collect(const ens_journal_row *row, void *arg)
{
    seen *s = arg;
    int i = -1;
    sscanf(row->ev.reason, "reason %d", &i);
    if (s->n < 512) {
        s->idx[s->n] = i;
        s->seq[s->n] = row->seq;
    }
    s->n++;
    return s->stop_after != 0 && s->n >= s->stop_after;
}

static bool matches(const ens_event *e, const ens_journal_filter *f)
{
    if (!ens_addr_is_none(f->actor) && !ens_addr_equal(f->actor, e->actor))
        return false;
    if (f->actor_type != NULL && strcmp(f->actor_type, e->actor_type) != 0)
        return false;
    if (f->msg_type != NULL && strcmp(f->msg_type, e->msg_type) != 0)
        return false;
    if (f->kinds != 0 && !(f->kinds & (1u << e->kind)))
        return false;
    if (f->since_ms != 0 && e->at_ms < f->since_ms)
        return false;
    if (f->until_ms != 0 && e->at_ms >= f->until_ms)
        return false;
    return true;
}

/* The reference answer: matching indexes, newest first (at_ms, then
 * insertion order), cut at the limit. */
static int expected(const fixture *fx, const ens_journal_filter *f, int *out)
{
    int n = 0;
    for (int i = 0; i < NEV; i++)
        if (matches(&fx->ev[i], f))
            out[n++] = i;
    for (int a = 1; a < n; a++) /* insertion sort, newest first */
        for (int b = a; b > 0; b--) {
            const ens_event *x = &fx->ev[out[b - 1]], *y = &fx->ev[out[b]];
            if (x->at_ms > y->at_ms || (x->at_ms == y->at_ms && out[b - 1] > out[b]))
                break;
            int t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    if (f->limit != 0 && n > (int)f->limit)
        n = (int)f->limit;
    return n;
}

static void check_query(fixture *fx, ens_journal *j, const ens_journal_filter *f)
{
    int want[NEV];
    int n = expected(fx, f, want);
    seen s = {0};
    assert_int_equal(ens_journal_query(j, f, collect, &s), n);
    assert_int_equal(s.n, n);
    for (int k = 0; k < n; k++)
        assert_int_equal(s.idx[k], want[k]);
}

static ens_journal *open_reader(const char *path)
{
    ens_journal *j = NULL;
    char why[256] = "";
    int rc = ens_journal_open_why(path, &j, why, sizeof(why));
    if (rc != 0)
        fail_msg("ens_journal_open(%s) = %s: %s", path, ens_err_name(rc), why);
    return j;
}

static int64_t count_rows(const char *path);

/* ---- round trip ---- */

typedef struct one_row {
    ens_journal_row row;
    char system[32], host[256], type[32], msg[32], reason[64], err[32];
} one_row;

static int keep_first(const ens_journal_row *row, void *arg)
{
    one_row *o = arg;
    o->row = *row;
    snprintf(o->system, sizeof(o->system), "%s", row->system);
    snprintf(o->host, sizeof(o->host), "%s", row->host);
    snprintf(o->type, sizeof(o->type), "%s", row->ev.actor_type);
    snprintf(o->msg, sizeof(o->msg), "%s", row->ev.msg_type);
    snprintf(o->reason, sizeof(o->reason), "%s", row->ev.reason);
    snprintf(o->err, sizeof(o->err), "%s", row->error_name);
    return 1;
}

static void test_written_events_read_back_with_every_field(void **state)
{
    fixture *fx = *state;
    write_all(fx);
    ens_journal *j = open_reader(fx->db);
    /* Event 3 (a crash: kind 4) is the only one at BASE + 21 s. */
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.since_ms = BASE_MS + 21000;
    f.until_ms = BASE_MS + 21001;
    one_row o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(ens_journal_query(j, &f, keep_first, &o), 1);
    const ens_event *e = &fx->ev[3];
    assert_int_equal(o.row.seq, 4);
    assert_int_equal(o.row.ev.at_ms, e->at_ms);
    assert_int_equal(o.row.ev.kind, ENS_EV_CRASH);
    assert_true(ens_addr_equal(o.row.ev.actor, e->actor));
    assert_true(ens_addr_equal(o.row.ev.parent, e->parent));
    assert_true(ens_addr_equal(o.row.ev.sender, e->sender));
    assert_string_equal(o.system, "testsys");
    char host[256] = "";
    gethostname(host, sizeof(host));
    assert_string_equal(o.host, host);
    assert_string_equal(o.type, e->actor_type);
    assert_string_equal(o.msg, e->msg_type);
    assert_string_equal(o.reason, "reason 3");
    assert_int_equal(o.row.ev.error, ENS_EINVAL);
    assert_string_equal(o.err, "ENS_EINVAL");
    assert_int_equal(o.row.ev.signal, 11);
    assert_int_equal(o.row.ev.attempt, e->attempt);
    assert_int_equal(o.row.ev.incarnation, e->incarnation);
    assert_int_equal(o.row.ev.msg_size, e->msg_size);
    /* A top-level actor's parent and a message without sender stay none. */
    f.since_ms = fx->ev[0].at_ms;
    f.until_ms = fx->ev[0].at_ms + 1;
    assert_int_equal(ens_journal_query(j, &f, keep_first, &o), 1);
    assert_true(ens_addr_is_none(o.row.ev.parent));
    assert_true(ens_addr_is_none(o.row.ev.sender));
    assert_string_equal(o.err, "");
    ens_journal_close(j);
}

static void test_rows_come_newest_first_and_limit_cuts(void **state)
{
    fixture *fx = *state;
    write_all(fx);
    ens_journal *j = open_reader(fx->db);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.limit = 0;
    check_query(fx, j, &f);
    f.limit = 7;
    check_query(fx, j, &f);
    f.limit = 1;
    check_query(fx, j, &f);
    /* NULL filter: every row. */
    seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, collect, &s), NEV);
    for (int k = 1; k < s.n; k++)
        assert_true(fx->ev[s.idx[k - 1]].at_ms > fx->ev[s.idx[k]].at_ms);
    /* A callback that returns nonzero stops the query. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 5;
    assert_int_equal(ens_journal_query(j, NULL, collect, &s), 5);
    ens_journal_close(j);
}

static void test_every_filter_selects_the_matching_rows(void **state)
{
    fixture *fx = *state;
    write_all(fx);
    ens_journal *j = open_reader(fx->db);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){17, 1, 0};
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){17, 2, 0}; /* same id, other node: nothing */
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.actor_type = "cache";
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.msg_type = "tick";
    check_query(fx, j, &f);
    f.msg_type = "";
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_CRASH;
    check_query(fx, j, &f);
    f.kinds |= 1u << ENS_EV_POISON | 1u << ENS_EV_DEAD_LETTER;
    check_query(fx, j, &f);
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.since_ms = BASE_MS + 30000;
    check_query(fx, j, &f);
    f.until_ms = BASE_MS + 45000;
    check_query(fx, j, &f);
    f.since_ms = 0;
    check_query(fx, j, &f);
    /* All at once, and a filter that matches nothing. */
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){16, 1, 0};
    f.actor_type = "worker";
    f.kinds = 0x7fe;
    f.since_ms = BASE_MS + 5000;
    f.until_ms = BASE_MS + 55000;
    f.limit = 3;
    check_query(fx, j, &f);
    f.actor_type = "nobody";
    check_query(fx, j, &f);
    /* A kinds bit that names no kind is an error, not an empty answer. */
    f = (ens_journal_filter)ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << 30;
    seen s = {0};
    assert_int_equal(ens_journal_query(j, &f, collect, &s), ENS_EINVAL);
    assert_true(strlen(ens_journal_errmsg(j)) > 0);
    assert_int_equal(ens_journal_query(j, NULL, NULL, NULL), ENS_EINVAL);
    assert_int_equal(ens_journal_query(NULL, NULL, collect, &s), ENS_EINVAL);
    ens_journal_close(j);
}

static int count_kind(const ens_journal_row *row, void *arg)
{
    seen *s = arg;
    assert_true(row->ev.kind > 0 && row->ev.kind < 16);
    s->count[row->ev.kind] = row->seq;
    s->n++;
    return 0;
}

static int count_type(const ens_journal_row *row, void *arg)
{
    seen *s = arg;
    if (s->n < 8) {
        snprintf(s->types[s->n], sizeof(s->types[s->n]), "%s", row->ev.actor_type);
        s->type_count[s->n] = row->seq;
    }
    s->n++;
    return 0;
}

static void test_counts_group_by_kind_and_by_actor_type(void **state)
{
    fixture *fx = *state;
    write_all(fx);
    ens_journal *j = open_reader(fx->db);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.limit = 1; /* ignored by counts */
    seen s = {0};
    assert_int_equal(ens_journal_count(j, &f, "kind", count_kind, &s), 11);
    for (int k = 1; k <= 11; k++) {
        int64_t want = 0;
        for (int i = 0; i < NEV; i++)
            want += fx->ev[i].kind == (ens_event_kind)k;
        assert_int_equal(s.count[k], want);
    }
    memset(&s, 0, sizeof(s));
    f.actor_type = "cache";
    f.kinds = 1u << ENS_EV_ERROR | 1u << ENS_EV_RETRY;
    assert_int_equal(ens_journal_count(j, &f, "kind", count_kind, &s), 2);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ens_journal_count(j, NULL, "actor_type", count_type, &s), 3);
    for (int g = 0; g < 3; g++)
        assert_int_equal(s.type_count[g], NEV / 3);
    assert_int_equal(ens_journal_count(j, NULL, "reason", count_type, &s), ENS_EINVAL);
    assert_int_equal(ens_journal_count(j, NULL, NULL, count_type, &s), ENS_EINVAL);
    ens_journal_close(j);
}

static void test_strings_with_quotes_newlines_and_unicode_survive(void **state)
{
    fixture *fx = *state;
    static const char tricky[] = "it said \"no\";\nDROP TABLE failures; -- 'x' \t\\ é ∂ 🎉";
    ens_event e = fx->ev[0];
    e.reason = tricky;
    e.actor_type = "tÿpe'\"";
    e.msg_type = NULL; /* NULL strings are taken as "" */
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "sys \"quoted\"", &w), 0);
    assert_int_equal(ens__jwriter_append(w, &e), 0);
    ens__jwriter_close(w); /* close flushes */
    ens_journal *j = open_reader(fx->db);
    one_row o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(ens_journal_query(j, NULL, keep_first, &o), 1);
    assert_string_equal(o.reason, tricky);
    assert_string_equal(o.type, "tÿpe'\"");
    assert_string_equal(o.msg, "");
    assert_string_equal(o.system, "sys \"quoted\"");
    /* User text in a filter is a bound value, never SQL. */
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor_type = "tÿpe'\"";
    seen s = {0};
    assert_int_equal(ens_journal_query(j, &f, collect, &s), 1);
    f.actor_type = "x' OR '1'='1";
    assert_int_equal(ens_journal_query(j, &f, collect, &s), 0);
    ens_journal_close(j);
}

static void test_memory_journal_takes_events(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(":memory:", "mem", &w), 0);
    for (int i = 0; i < NEV; i++)
        assert_int_equal(ens__jwriter_append(w, &fx->ev[i]), 0);
    assert_int_equal(ens__jwriter_pending(w), NEV);
    assert_int_equal(ens__jwriter_flush(w), 0);
    assert_int_equal(ens__jwriter_pending(w), 0);
    assert_int_equal(ens__jwriter_set_durable(w, true), 0);
    assert_int_equal(ens__jwriter_set_durable(w, false), 0);
    assert_string_equal(ens__jwriter_last_error(w), "");
    ens__jwriter_close(w);
    ens__jwriter_close(NULL);
    ens_journal_close(NULL);
    assert_int_equal(ens__jwriter_dropped(NULL), 0);
    assert_string_equal(ens__jwriter_last_error(NULL), "");
    assert_int_equal(ens__jwriter_append(NULL, &fx->ev[0]), ENS_EINVAL);
    assert_int_equal(ens__jwriter_flush(NULL), ENS_EINVAL);
}

static void test_batch_at_its_bound_flushes_by_itself(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "bound", &w), 0);
    for (uint32_t i = 0; i < ENS__JWRITER_BATCH_MAX; i++)
        assert_int_equal(ens__jwriter_append(w, &fx->ev[i % NEV]), 0);
    assert_int_equal(ens__jwriter_pending(w), ENS__JWRITER_BATCH_MAX);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[0]), 0);
    assert_int_equal(ens__jwriter_pending(w), 1);
    assert_int_equal(ens__jwriter_dropped(w), 0);
    assert_int_equal(count_rows(fx->db), ENS__JWRITER_BATCH_MAX);
    ens__jwriter_close(w);
    assert_int_equal(count_rows(fx->db), ENS__JWRITER_BATCH_MAX + 1);
}

static void test_reader_sees_commits_while_the_writer_stays_open(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "live", &w), 0);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[0]), 0);
    assert_int_equal(ens__jwriter_flush(w), 0);
    ens_journal *j = open_reader(fx->db);
    seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, collect, &s), 1);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[1]), 0);
    assert_int_equal(ens__jwriter_append(w, &fx->ev[2]), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ens_journal_query(j, NULL, collect, &s), 1); /* not flushed yet */
    assert_int_equal(ens__jwriter_flush(w), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ens_journal_query(j, NULL, collect, &s), 3);
    ens_journal_close(j);
    ens__jwriter_close(w);
}

/* ---- paths ---- */

static void test_writer_creates_missing_directories_private(void **state)
{
    fixture *fx = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/a/b/c/sys.db", fx->dir);
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(path, "sys", &w), 0);
    ens__jwriter_close(w);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/a/b/c", fx->dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    ens_journal *j = open_reader(path);
    ens_journal_close(j);
}

static void test_directory_that_cannot_be_created_fails_at_open(void **state)
{
    fixture *fx = *state;
    char file[256], path[300];
    snprintf(file, sizeof(file), "%s/plainfile", fx->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/sub/j.db", file); /* under a regular file */
    ens_jwriter *w = (ens_jwriter *)1;
    char why[256];
    assert_int_equal(ens__jwriter_open_why(path, "sys", &w, why, sizeof(why)), ENS_EIO);
    assert_null(w);
    assert_non_null(strstr(why, "cannot create directory"));
    assert_non_null(strstr(why, "Not a directory"));
    assert_int_equal(ens__jwriter_open(NULL, "sys", &w), ENS_EINVAL);
    assert_int_equal(ens__jwriter_open("", "sys", &w), ENS_EINVAL);
}

static void test_missing_journal_is_enoent_and_not_created(void **state)
{
    fixture *fx = *state;
    ens_journal *j = (ens_journal *)1;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOENT);
    assert_null(j);
    assert_non_null(strstr(why, "No such file"));
    assert_int_equal(access(fx->db, F_OK), -1);
    assert_int_equal(ens_journal_open(fx->dir, &j), ENS_ENOTJOURNAL); /* a directory */
    assert_int_equal(ens_journal_open(NULL, &j), ENS_EINVAL);
}

static void test_read_only_journal_is_refused_at_writer_open(void **state)
{
    fixture *fx = *state;
    write_all(fx);
    assert_int_equal(chmod(fx->db, 0444), 0);
    assert_int_equal(chmod(fx->dir, 0755), 0);
    /* Root ignores permission bits: the check runs in a child that drops
     * to the unprivileged user "nobody" first. */
    struct passwd *nobody = getpwnam("nobody");
    uid_t uid = nobody != NULL ? nobody->pw_uid : 65534;
    gid_t gid = nobody != NULL ? nobody->pw_gid : 65534;
    /* The writer takes only a file of its own user (core/runtime/files.h): the
     * read-only file must be nobody's. */
    bool root = geteuid() == 0;
    if (root)
        assert_int_equal(chown(fx->db, uid, gid), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        char msg[300] = "";
        int rc = 0;
        if (root && (setgid(gid) != 0 || setuid(uid) != 0)) {
            snprintf(msg, sizeof(msg), "SKIP cannot drop root: %s", strerror(errno));
        } else {
            ens_jwriter *w = NULL;
            char why[256] = "";
            rc = ens__jwriter_open_why(fx->db, "ro", &w, why, sizeof(why));
            snprintf(msg, sizeof(msg), "%d %s", rc, why);
            ens__jwriter_close(w);
        }
        ssize_t n = write(pfd[1], msg, strlen(msg) + 1);
        _exit(n > 0 ? 0 : 1);
    }
    close(pfd[1]);
    char msg[300] = "";
    ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(n > 0);
    if (strncmp(msg, "SKIP", 4) == 0) {
        print_message("read-only test skipped: %s\n", msg + 5);
        skip();
    }
    int rc = atoi(msg);
    assert_int_equal(rc, ENS_EIO);
    assert_non_null(strstr(msg, "read-only"));
    /* Reading a read-only journal is fine. */
    ens_journal *j = open_reader(fx->db);
    ens_journal_close(j);
}

/* ---- full disk, SIGKILL ---- */

static int integrity(const char *path, char *out, size_t len)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        snprintf(out, len, "error: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int64_t count_rows(const char *path)
{
    ens_journal *j = open_reader(path);
    seen s = {0};
    int64_t total = 0;
    int groups = ens_journal_count(j, NULL, "kind", count_kind, &s);
    assert_int_equal(groups, s.n);
    for (int k = 0; k < 16; k++)
        total += s.count[k];
    ens_journal_close(j);
    return total;
}

typedef struct disk_report {
    int64_t acked;
    int first_err;
    uint32_t pending_after;
    int bound_err;
    uint64_t dropped;
    char msg[256];
} disk_report;

static void test_full_disk_fails_clearly_and_keeps_acknowledged_rows(void **state)
{
    fixture *fx = *state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A 512 KiB file-size limit is a disk that fills up; works as root. */
        close(pfd[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {512 * 1024, 512 * 1024};
        disk_report r;
        memset(&r, 0, sizeof(r));
        ens_jwriter *w = NULL;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0 || ens__jwriter_open(fx->db, "full", &w) != 0)
            _exit(3);
        char reason[300];
        memset(reason, 'x', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = '\0';
        ens_event e = fx->ev[1];
        e.reason = reason;
        for (int round = 0; round < 10000 && r.first_err == 0; round++) {
            for (int i = 0; i < 50; i++)
                ens__jwriter_append(w, &e);
            int rc = ens__jwriter_flush(w);
            if (rc == 0)
                r.acked += 50;
            else
                r.first_err = rc;
        }
        snprintf(r.msg, sizeof(r.msg), "%s", ens__jwriter_last_error(w));
        /* The failed batch is kept; filling it to the bound and one more
         * drops exactly that one event. */
        r.pending_after = ens__jwriter_pending(w);
        while (ens__jwriter_pending(w) < ENS__JWRITER_BATCH_MAX)
            ens__jwriter_append(w, &e);
        r.bound_err = ens__jwriter_append(w, &e);
        r.dropped = ens__jwriter_dropped(w);
        ens__jwriter_close(w);
        ssize_t n = write(pfd[1], &r, sizeof(r));
        _exit(n == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(pfd[1]);
    disk_report r;
    memset(&r, 0, sizeof(r));
    ssize_t n = read(pfd[0], &r, sizeof(r));
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(n, sizeof(r));
    print_message("full disk after %lld rows: %s (%s)\n", (long long)r.acked, r.msg,
                  ens_err_name(r.first_err));
    assert_int_equal(r.first_err, ENS_EIO);
    assert_true(r.acked > 0);
    assert_non_null(strstr(r.msg, "cannot"));
    assert_int_equal(r.pending_after, 50);
    assert_int_equal(r.bound_err, ENS_EIO);
    assert_int_equal(r.dropped, 1);
    char check[256];
    assert_int_equal(integrity(fx->db, check, sizeof(check)), SQLITE_OK);
    assert_string_equal(check, "ok");
    assert_int_equal(count_rows(fx->db), r.acked);
}

static void test_sigkill_mid_flood_keeps_every_acknowledged_row(void **state)
{
    fixture *fx = *state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        ens_jwriter *w = NULL;
        if (ens__jwriter_open(fx->db, "flood", &w) != 0)
            _exit(3);
        for (int64_t acked = 0;;) {
            for (int i = 0; i < 100; i++)
                ens__jwriter_append(w, &fx->ev[i % NEV]);
            if (ens__jwriter_flush(w) != 0)
                _exit(4);
            acked += 100;
            if (write(pfd[1], &acked, sizeof(acked)) != sizeof(acked))
                _exit(5);
        }
    }
    close(pfd[1]);
    int64_t acked = 0, v;
    while (acked < 20000 && read(pfd[0], &v, sizeof(v)) == sizeof(v))
        acked = v;
    kill(pid, SIGKILL);
    while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
        acked = v; /* acknowledged before the kill landed */
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char check[256];
    assert_int_equal(integrity(fx->db, check, sizeof(check)), SQLITE_OK);
    assert_string_equal(check, "ok");
    int64_t rows = count_rows(fx->db);
    assert_true(rows >= acked);
    assert_true(rows <= acked + 100); /* at most the batch in flight */
}

/* ---- not a journal ---- */

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

static void test_random_bytes_are_not_a_journal(void **state)
{
    fixture *fx = *state;
    unsigned char junk[8192];
    srand(42);
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)rand();
    write_bytes(fx->db, junk, sizeof(junk));
    ens_journal *j = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "not an ensemble journal"));
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_null(w);
    /* An empty file and another program's database are not journals either. */
    write_bytes(fx->db, "", 0);
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "without a failures table"));
}

static void test_truncated_journal_is_reported_corrupt(void **state)
{
    fixture *fx = *state;
    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open(fx->db, "trunc", &w), 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(ens__jwriter_append(w, &fx->ev[i % NEV]), 0);
    ens__jwriter_close(w); /* the last close checkpoints into the main file */
    struct stat st;
    assert_int_equal(stat(fx->db, &st), 0);
    char full[256];
    snprintf(full, sizeof(full), "%s/full.db", fx->dir);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cp %s %s", fx->db, full);
    assert_int_equal(system(cmd), 0);
    const off_t cuts[] = {st.st_size / 2, 50, 4096, 4096 + 100, st.st_size - 4096};
    int corrupt_seen = 0;
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        snprintf(cmd, sizeof(cmd), "cp %s %s", full, fx->db);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(truncate(fx->db, cuts[c]), 0);
        ens_journal *j = NULL;
        char why[256] = "";
        int rc = ens_journal_open_why(fx->db, &j, why, sizeof(why));
        if (rc == 0) {
            seen s = {0};
            s.stop_after = 0;
            ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
            f.limit = 0;
            f.kinds = 1u << ENS_EV_CRASH; /* forces a full scan */
            int q = ens_journal_query(j, &f, collect, &s);
            print_message("cut at %lld bytes: open ok, query %s %s\n", (long long)cuts[c],
                          ens_err_name(q), q < 0 ? ens_journal_errmsg(j) : "");
            if (q < 0) {
                assert_int_equal(q, ENS_ENOTJOURNAL);
                assert_non_null(strstr(ens_journal_errmsg(j), "corrupt"));
                corrupt_seen++;
            }
            int n = ens_journal_count(j, NULL, "actor_type", count_type, &s);
            assert_true(n == ENS_ENOTJOURNAL || n >= 0);
            ens_journal_close(j);
        } else {
            print_message("cut at %lld bytes: open %s: %s\n", (long long)cuts[c], ens_err_name(rc),
                          why);
            assert_int_equal(rc, ENS_ENOTJOURNAL);
            corrupt_seen++;
        }
    }
    assert_int_equal(corrupt_seen, 5); /* sqlite checks the file against its header */
    /* The writer refuses a truncated journal at open too. */
    ens_jwriter *w2 = NULL;
    char why[256];
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w2, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "corrupt"));
    /* A page of garbage inside the tree, file size intact: found by the query. */
    snprintf(cmd, sizeof(cmd), "cp %s %s", full, fx->db);
    assert_int_equal(system(cmd), 0);
    int fd = open(fx->db, O_WRONLY);
    assert_true(fd >= 0);
    unsigned char junk[4096];
    memset(junk, 0xa5, sizeof(junk));
    for (off_t off = 8 * 4096; off < st.st_size - 4096; off += 16 * 4096)
        assert_int_equal(pwrite(fd, junk, sizeof(junk), off), sizeof(junk));
    close(fd);
    ens_journal *j = NULL;
    int rc = ens_journal_open_why(fx->db, &j, why, sizeof(why));
    if (rc == 0) {
        seen s = {0};
        ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
        f.limit = 0;
        int q = ens_journal_query(j, &f, collect, &s);
        print_message("garbage pages: query %s %s\n", ens_err_name(q), ens_journal_errmsg(j));
        assert_int_equal(q, ENS_ENOTJOURNAL);
        assert_non_null(strstr(ens_journal_errmsg(j), "corrupt"));
        ens_journal_close(j);
    } else {
        assert_int_equal(rc, ENS_ENOTJOURNAL);
    }
}

/* ---- schema versions ---- */

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

static void test_version0_journal_is_migrated_by_the_writer(void **state)
{
    fixture *fx = *state;
    /* The prototype layout, by hand: loose columns, no schema_version. */
    exec_sql(fx->db,
             "CREATE TABLE failures (seq INTEGER PRIMARY KEY, at_ms, system, actor, actor_type,"
             " msg_type, kind, error, signal, attempt, reason);"
             "INSERT INTO failures VALUES (1, 1795899600000, 'old', 'ens:1/17', 'worker', 'job',"
             " 'error', -22, 0, 1, 'first');"
             "INSERT INTO failures VALUES (2, 1795899601000, 'old', 'ens:3/40', 'cache', 'ping',"
             " 'crash', NULL, 11, 2, 'it''s \"quoted\"');"
             "INSERT INTO failures VALUES (3, '1795899602000', 'old', 'garbage', NULL, NULL,"
             " 'poison', 0, 0, 2, NULL);");
    ens_journal *j = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "version 0"));

    ens_jwriter *w = NULL;
    assert_int_equal(ens__jwriter_open_why(fx->db, "new", &w, why, sizeof(why)), 0);
    ens_event e = fx->ev[0];
    e.at_ms = BASE_MS + 10000;
    assert_int_equal(ens__jwriter_append(w, &e), 0);
    ens__jwriter_close(w);

    j = open_reader(fx->db);
    one_row o;
    memset(&o, 0, sizeof(o));
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.actor = (ens_addr){40, 3, 0};
    assert_int_equal(ens_journal_query(j, &f, keep_first, &o), 1);
    assert_int_equal(o.row.seq, 2);
    assert_int_equal(o.row.ev.kind, ENS_EV_CRASH);
    assert_int_equal(o.row.ev.signal, 11);
    assert_int_equal(o.row.ev.attempt, 2);
    assert_string_equal(o.reason, "it's \"quoted\"");
    assert_string_equal(o.system, "old");
    f.actor = (ens_addr){17, 1, 0};
    assert_int_equal(ens_journal_query(j, &f, keep_first, &o), 1);
    assert_string_equal(o.err, "ENS_EINVAL");
    assert_int_equal(o.row.ev.at_ms, BASE_MS);
    f.actor = ENS_ADDR_NONE;
    f.kinds = 1u << ENS_EV_POISON;
    assert_int_equal(ens_journal_query(j, &f, keep_first, &o), 1);
    assert_int_equal(o.row.ev.at_ms, BASE_MS + 2000);
    assert_true(ens_addr_is_none(o.row.ev.actor));
    assert_string_equal(o.type, "");
    seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, collect, &s), 4);
    assert_int_equal(s.seq[0], 4); /* the new row follows the old ones */
    ens_journal_close(j);
    char check[256];
    integrity(fx->db, check, sizeof(check));
    assert_string_equal(check, "ok");
}

static void test_newer_schema_version_is_refused(void **state)
{
    fixture *fx = *state;
    write_all(fx);
    exec_sql(fx->db, "UPDATE schema_version SET version = 2");
    ens_journal *j = NULL;
    ens_jwriter *w = NULL;
    char why[256];
    assert_int_equal(ens_journal_open_why(fx->db, &j, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "newer"));
    assert_int_equal(ens__jwriter_open_why(fx->db, "x", &w, why, sizeof(why)), ENS_ENOTJOURNAL);
    assert_non_null(strstr(why, "newer"));
    /* The refused file is unchanged. */
    exec_sql(fx->db, "UPDATE schema_version SET version = 1");
    j = open_reader(fx->db);
    seen s = {0};
    assert_int_equal(ens_journal_query(j, NULL, collect, &s), NEV);
    ens_journal_close(j);
}

/* ---- default path ---- */

static void test_default_path_follows_xdg_state_home_then_home(void **state)
{
    (void)state;
    char buf[256];
    char *old_xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("XDG_STATE_HOME", "/state", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(ens_journal_default_path("sys", buf, sizeof(buf)),
                     (int)strlen("/state/ensemble/sys.db"));
    assert_string_equal(buf, "/state/ensemble/sys.db");
    setenv("XDG_STATE_HOME", "relative", 1); /* invalid per XDG: ignored */
    ens_journal_default_path(NULL, buf, sizeof(buf));
    assert_string_equal(buf, "/home/u/.local/state/ensemble/default.db");
    unsetenv("XDG_STATE_HOME");
    assert_true(ens_journal_default_path("a", buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "/home/u/.local/state/ensemble/a.db");
    assert_int_equal(ens_journal_default_path("a", buf, 5), ENS_ENOBUFS);
    assert_int_equal(ens_journal_default_path("", buf, sizeof(buf)), ENS_EINVAL);
    assert_int_equal(ens_journal_default_path("a/b", buf, sizeof(buf)), ENS_EINVAL);
    assert_int_equal(ens_journal_default_path("..", buf, sizeof(buf)), ENS_EINVAL);
    unsetenv("HOME");
    assert_int_equal(ens_journal_default_path("a", buf, sizeof(buf)), ENS_EINVAL);
    if (old_xdg != NULL)
        setenv("XDG_STATE_HOME", old_xdg, 1);
    if (old_home != NULL)
        setenv("HOME", old_home, 1);
    free(old_xdg);
    free(old_home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_written_events_read_back_with_every_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rows_come_newest_first_and_limit_cuts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_every_filter_selects_the_matching_rows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_counts_group_by_kind_and_by_actor_type, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_strings_with_quotes_newlines_and_unicode_survive,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_journal_takes_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_at_its_bound_flushes_by_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_sees_commits_while_the_writer_stays_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writer_creates_missing_directories_private, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_directory_that_cannot_be_created_fails_at_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_journal_is_enoent_and_not_created, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_only_journal_is_refused_at_writer_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_fails_clearly_and_keeps_acknowledged_rows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_mid_flood_keeps_every_acknowledged_row, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_random_bytes_are_not_a_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_journal_is_reported_corrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_version0_journal_is_migrated_by_the_writer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_version_is_refused, setup, teardown),
        cmocka_unit_test(test_default_path_follows_xdg_state_home_then_home),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

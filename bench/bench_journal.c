/*
 * bench/bench_journal.c - how fast the journal writer commits rows.
 *
 * Writes N failure events through ens__jwriter_append/flush in batches of
 * 1000 (one transaction each; WAL, synchronous=NORMAL, the writer's
 * defaults) into a fresh file, five runs, and prints one JSON line with the
 * median rows per second. A second line ("base":"raw") is the floor under
 * it: the same rows inserted with plain sqlite into the same schema, one
 * prepared INSERT, the same 1000 rows per transaction, no batching copy.
 * Usage: bench_journal [N] [DIR]   (default 100000 rows, /tmp)
 *
 * At size: bench_journal --at M [--tail K] [DIR] fills a fresh journal to M
 * rows through the writer itself in its largest transactions
 * (ENS__JWRITER_BATCH_MAX rows each; not timed), then times K more rows
 * (default 200000) through the writer, 1000 per transaction (base
 * "inproc", n = M), then K more through plain sqlite with its defaults into
 * the same file (base "raw"), then the reader's count queries at that size
 * (count by kind, by kind of one actor type, rows of one actor: ms, median
 * of 5). The tail's writer has a system's default retention (10 M rows,
 * 90 days), so at 10 M it also deletes a row for each row it adds;
 * --max-rows R sets its row limit instead (R = M: the same at-limit work
 * at a smaller size). The journal_at lines also give rows per CPU second
 * of the timed part. --template T keeps the filled journal at T (made on
 * the first run, copied for each later one: a 10 M-row fill takes
 * minutes); a template of an older schema is migrated in the copy.
 * --keyed 1 gives every row of the fill and the tail a key (run 1, its
 * number), as the process base's writer does: the key index then holds
 * every row.
 * Options come in any order before DIR.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ensemble/error.h"
#include "ensemble/journal.h"
#include "persistence/journal_schema.h"
#include "persistence/journal_writer.h"

#define RUNS  5
#define BATCH 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this process: on a machine shared with other work the
 * wall-clock rate says how much of a core the run got as much as how fast
 * the code is; rows per CPU second says the latter. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double last_cpu_rate; /* rows per CPU second of the last timed run */

static void event_n(ens_event *e, int i)
{
    static const char *const types[] = {"worker", "cache", "supervisor"};
    memset(e, 0, sizeof(*e));
    e->at_ms = INT64_C(1795899600000) + i;
    e->kind = (ens_event_kind)(1 + i % 11);
    e->actor = (ens_addr){16 + (uint64_t)(i % 100), 1, 0};
    e->parent = (ens_addr){15, 1, 0};
    e->sender = (ens_addr){2, 1, 0};
    e->actor_type = types[i % 3];
    e->msg_type = "job";
    e->error = ENS_EINVAL;
    e->attempt = 2;
    e->incarnation = 1;
    e->msg_size = 64;
    e->reason = "handler returned an error twice; message poisoned";
}

static void remove_db(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

/* A writer on a new journal at path (the old one removed); exits on error. */
static ens_jwriter *open_fresh(const char *path)
{
    remove_db(path);
    ens_jwriter *w = NULL;
    char why[256];
    if (ens__jwriter_open_why(path, "bench", &w, why, sizeof(why)) != 0) {
        fprintf(stderr, "bench_journal: %s\n", why);
        exit(1);
    }
    return w;
}

static double run_writer(const char *path, int n)
{
    ens_jwriter *w = open_fresh(path);
    ens_event e;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        event_n(&e, i);
        if (ens__jwriter_append(w, &e) != 0)
            exit(1);
        if ((i + 1) % BATCH == 0 && ens__jwriter_flush(w) != 0) {
            fprintf(stderr, "bench_journal: %s\n", ens__jwriter_last_error(w));
            exit(1);
        }
    }
    if (ens__jwriter_flush(w) != 0)
        exit(1);
    double dt = now_s() - t0;
    ens__jwriter_close(w);
    return n / dt;
}

static double run_raw_into(const char *path, int n, int first, bool fresh);

static double run_raw(const char *path, int n)
{
    return run_raw_into(path, n, 0, true);
}

static double run_raw_into(const char *path, int n, int first, bool fresh)
{
    if (fresh)
        remove_db(path);
    sqlite3 *db = NULL;
    char why[256];
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", NULL, NULL,
                     NULL) != SQLITE_OK ||
        ens__jschema_migrate(db, why, sizeof(why)) != 0) {
        fprintf(stderr, "bench_journal: raw setup failed: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db,
                       "INSERT INTO failures (at_ms, system, host, actor, actor_id, node,"
                       " actor_type, parent, msg_type, sender, kind, error, error_name, signal,"
                       " attempt, incarnation, msg_size, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                       " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                       -1, &st, NULL);
    ens_event e;
    double c0 = cpu_s();
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (i % BATCH == 0)
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        event_n(&e, first + i);
        char actor[ENS_ADDR_STRLEN];
        ens_addr_format(e.actor, actor, sizeof(actor));
        sqlite3_bind_int64(st, 1, e.at_ms);
        sqlite3_bind_text(st, 2, "bench", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, "host", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, actor, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)e.actor.id);
        sqlite3_bind_int64(st, 6, e.actor.node);
        sqlite3_bind_text(st, 7, e.actor_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, "ens:1/15", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, e.msg_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, "ens:1/2", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, ens_event_kind_name(e.kind), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 12, e.error);
        sqlite3_bind_text(st, 13, ens_err_name(e.error), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 14, e.signal);
        sqlite3_bind_int64(st, 15, e.attempt);
        sqlite3_bind_int64(st, 16, e.incarnation);
        sqlite3_bind_int64(st, 17, e.msg_size);
        sqlite3_bind_text(st, 18, e.reason, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            exit(1);
        sqlite3_reset(st);
        if ((i + 1) % BATCH == 0 || i + 1 == n)
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double dt = now_s() - t0;
    last_cpu_rate = n / (cpu_s() - c0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n / dt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *base, int n, double v[RUNS])
{
    qsort(v, RUNS, sizeof(v[0]), cmp_double);
    printf("{\"bench\":\"journal\",\"base\":\"%s\",\"n\":%d,\"payload\":0,\"value\":%.0f,"
           "\"unit\":\"rows/s\",\"runs\":%d,\"min\":%.0f,\"median\":%.0f,\"max\":%.0f}\n",
           base, n, v[RUNS / 2], RUNS, v[0], v[RUNS / 2], v[RUNS - 1]);
}

/* Rows carry a key (run 1, their number) as the process base's do. */
static bool keyed;

static int append_row(ens_jwriter *w, const ens_event *e, int i)
{
    return keyed ? ens__jwriter_append_keyed(w, e, 1, (uint64_t)i + 1) : ens__jwriter_append(w, e);
}

/* Fill path to m rows through the writer, its own batching (not timed). */
static void fill(const char *path, int m)
{
    ens_jwriter *w = open_fresh(path);
    ens_event e;
    for (int i = 0; i < m; i++) {
        event_n(&e, i);
        if (append_row(w, &e, i) != 0) {
            fprintf(stderr, "bench_journal: %s\n", ens__jwriter_last_error(w));
            exit(1);
        }
    }
    if (ens__jwriter_flush(w) != 0)
        exit(1);
    ens__jwriter_close(w);
}

/* The tail's journal_max_rows; 0: a system's default. */
static uint64_t tail_max_rows;

/* k more rows, numbered from first, through the writer, BATCH per flush,
 * with a system's default retention (or tail_max_rows). */
static double tail_writer(const char *path, int first, int k)
{
    ens_jwriter *w = NULL;
    char why[256];
    if (ens__jwriter_open_why(path, "bench", &w, why, sizeof(why)) != 0) {
        fprintf(stderr, "bench_journal: %s\n", why);
        exit(1);
    }
    ens__jwriter_set_retention(w, tail_max_rows, 0);
    ens_event e;
    double c0 = cpu_s();
    double t0 = now_s();
    for (int i = 0; i < k; i++) {
        event_n(&e, first + i);
        if (append_row(w, &e, first + i) != 0)
            exit(1);
        if ((i + 1) % BATCH == 0 && ens__jwriter_flush(w) != 0) {
            fprintf(stderr, "bench_journal: %s\n", ens__jwriter_last_error(w));
            exit(1);
        }
    }
    if (ens__jwriter_flush(w) != 0)
        exit(1);
    double dt = now_s() - t0;
    last_cpu_rate = k / (cpu_s() - c0);
    ens__jwriter_close(w);
    return k / dt;
}

static int count_row(const ens_journal_row *row, void *arg)
{
    (void)row;
    (*(long *)arg)++;
    return 0;
}

/* Median ms of RUNS calls of one query ("count_kind", "count_kind_type",
 * "actor"). */
static void time_query(ens_journal *j, const char *name, int m)
{
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
        long rows = 0;
        int rc;
        double t0 = now_s();
        if (strcmp(name, "actor") == 0) {
            f.actor = (ens_addr){16 + 7, 1, 0};
            rc = ens_journal_query(j, &f, count_row, &rows);
        } else {
            if (strcmp(name, "count_kind_type") == 0)
                f.actor_type = "cache";
            rc = ens_journal_count(j, &f, "kind", count_row, &rows);
        }
        v[r] = (now_s() - t0) * 1e3;
        if (rc < 0) {
            fprintf(stderr, "bench_journal: %s: %s\n", name, ens_journal_errmsg(j));
            exit(1);
        }
    }
    qsort(v, RUNS, sizeof(v[0]), cmp_double);
    printf("{\"bench\":\"journal_query\",\"base\":\"%s\",\"n\":%d,\"payload\":0,"
           "\"value\":%.2f,\"unit\":\"ms\",\"runs\":%d,\"min\":%.2f,\"median\":%.2f,"
           "\"max\":%.2f}\n",
           name, m, v[RUNS / 2], RUNS, v[0], v[RUNS / 2], v[RUNS - 1]);
}

/* Copy the file from to to (created or truncated). */
static void copy_file(const char *from, const char *to)
{
    remove_db(to);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) {
        fprintf(stderr, "bench_journal: cannot copy %s to %s\n", from, to);
        exit(1);
    }
    static char buf[1 << 20];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            fprintf(stderr, "bench_journal: cannot write %s\n", to);
            exit(1);
        }
    }
    close(in);
    close(out);
}

static int run_at(int m, int k, const char *dir, const char *template)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/bench_journal_at_%d.db", dir, (int)getpid());
    double t0 = now_s();
    struct stat st;
    if (template != NULL && stat(template, &st) == 0) {
        copy_file(template, path);
        fprintf(stderr, "bench_journal: copied %s in %.1f s\n", template, now_s() - t0);
    } else if (template != NULL) {
        fill(template, m);
        fprintf(stderr, "bench_journal: filled %d rows into %s in %.1f s\n", m, template,
                now_s() - t0);
        copy_file(template, path);
    } else {
        fill(path, m);
        fprintf(stderr, "bench_journal: filled %d rows in %.1f s\n", m, now_s() - t0);
    }
    double v = tail_writer(path, m, k), v_cpu = last_cpu_rate;
    /* A profiler attached after "copied"/"filled" stops here to see the writer alone. */
    fprintf(stderr, "bench_journal: writer tail done\n");
    double r = run_raw_into(path, k, m + k, false), r_cpu = last_cpu_rate;
    printf("{\"bench\":\"journal_at\",\"base\":\"%s\",\"n\":%d,\"tail\":%d,\"payload\":0,"
           "\"value\":%.0f,\"unit\":\"rows/s\",\"runs\":1,\"rows_per_cpu_s\":%.0f}\n",
           keyed ? "inproc_keyed" : "inproc", m, k, v, v_cpu);
    printf("{\"bench\":\"journal_at\",\"base\":\"raw\",\"n\":%d,\"tail\":%d,\"payload\":0,"
           "\"value\":%.0f,\"unit\":\"rows/s\",\"runs\":1,\"rows_per_cpu_s\":%.0f}\n",
           m + k, k, r, r_cpu);
    fflush(stdout);
    ens_journal *j = NULL;
    char why[256];
    if (ens_journal_open_why(path, &j, why, sizeof(why)) != 0) {
        fprintf(stderr, "bench_journal: %s\n", why);
        return 1;
    }
    time_query(j, "count_kind", m);
    time_query(j, "count_kind_type", m);
    time_query(j, "actor", m);
    ens_journal_close(j);
    remove_db(path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--at") == 0) {
        int m = atoi(argv[2]), k = 200000;
        const char *template = NULL;
        int a = 3;
        for (; argc > a + 1 && strncmp(argv[a], "--", 2) == 0; a += 2) {
            if (strcmp(argv[a], "--tail") == 0)
                k = atoi(argv[a + 1]);
            else if (strcmp(argv[a], "--max-rows") == 0)
                tail_max_rows = strtoull(argv[a + 1], NULL, 10);
            else if (strcmp(argv[a], "--keyed") == 0)
                keyed = atoi(argv[a + 1]) != 0;
            else if (strcmp(argv[a], "--template") == 0)
                template = argv[a + 1];
            else
                m = 0;
        }
        if (m <= 0 || k <= 0 || (argc > a && strncmp(argv[a], "--", 2) == 0)) {
            fprintf(stderr, "usage: bench_journal --at M [--tail K] [--max-rows R] [--template T]"
                            " [--keyed 0|1]"
                            " [DIR]\n");
            return 2;
        }
        return run_at(m, k, argc > a ? argv[a] : "/tmp", template);
    }
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    if (n <= 0)
        n = 100000;
    char path[512];
    snprintf(path, sizeof(path), "%s/bench_journal_%d.db", dir, (int)getpid());
    double w[RUNS], r[RUNS];
    for (int i = 0; i < RUNS; i++) {
        w[i] = run_writer(path, n);
        r[i] = run_raw(path, n);
    }
    remove_db(path);
    report("inproc", n, w);
    report("raw", n, r);
    return 0;
}

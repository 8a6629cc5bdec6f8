/*
 * tests/test_shutdown_order.c - ens_system_close stops the top-level actors
 * as a supervisor stops its children: the last started first, each asked to
 * exit only once the one before has ended (or, past its share of the
 * close's time, was killed). Written once and run on each base
 * (tests/support/scenario.h).
 *
 * The actors are separate processes on the process base, so they report
 * the start of their stop (the exit request) and the end of their terminate
 * as lines appended to a file (one write() each, O_APPEND: the file's order
 * is the order the writes happened). Their stops take different times (a
 * deferred exit finished by a wake-up, and a sleep inside terminate: the
 * workload, not synchronisation), the shortest in the actor started first,
 * so that stopping them all at once ends them in the wrong order.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/journal_files.h"
#include "support/scn_reports.h"

#define N_TOP   4
#define REPEATS 50

/* Where the actors write; set before each system starts (forked children
 * inherit it). */
static char order_path[256];

/* How long each actor's terminate takes, by start index; an index of
 * HANG_INDEX hangs (process base: the shutdown must kill it). */
static const int terminate_ms[N_TOP] = {0, 4, 8, 12};
static int hang_index = -1;

typedef struct ord_state {
    int64_t idx;
} ord_state;

static void note(char what, int64_t idx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char line[64];
    int n = snprintf(line, sizeof(line), "%c %lld %lld\n", what, (long long)idx,
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    int fd = open(order_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return; /* the test sees the line missing */
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    close(fd);
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int ord_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    const ens_int64_v *v = ens_msg_value(arg, &ens_msg_int64);
    if (v == NULL)
        return ENS_EINVAL;
    ((ord_state *)state)->idx = v->value;
    return 0;
}

/* The exit request starts the actor's stop ('S'); it takes its time in two
 * parts: a deferred exit finished by a wake-up, then a terminate that
 * sleeps. The next actor must not start stopping before 'E'. */
static int ord_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    int64_t idx = ((ord_state *)state)->idx;
    if (ens_msg_value(m, &ens_msg_exit_request) != NULL) {
        note('S', idx);
        int rc = ens_exit_defer(c);
        return rc == 0 ? ens_wakeup_after(c, (uint32_t)terminate_ms[idx], 0, NULL) : rc;
    }
    if (ens_msg_value(m, &ens_msg_wakeup) != NULL)
        return ens_stop(c, ENS_EXIT_SHUTDOWN, 0);
    return 0;
}

static void ord_terminate(ens_ctx *c, void *state, int reason)
{
    (void)c;
    (void)reason;
    int64_t idx = ((ord_state *)state)->idx;
    if (idx == hang_index)
        nap_ms(600000); /* killed by the shutdown */
    nap_ms(terminate_ms[idx]);
    note('E', idx);
}

static const ens_actor_def ord_def = {
    "ord.Top", sizeof(ord_state), ord_init, ord_receive, ord_terminate, NULL, NULL, NULL, NULL};

typedef struct note_line {
    char what;
    long long idx, ns;
} note_line;

/* Read the notes back; returns how many (at most max). */
static size_t read_notes(note_line *out, size_t max)
{
    FILE *f = fopen(order_path, "r");
    assert_non_null(f);
    size_t n = 0;
    note_line l;
    while (n < max && fscanf(f, " %c %lld %lld", &l.what, &l.idx, &l.ns) == 3)
        out[n++] = l;
    fclose(f);
    return n;
}

static void fresh_file(void)
{
    snprintf(order_path, sizeof(order_path), "/tmp/ens-shutdown-order-XXXXXX");
    int fd = mkstemp(order_path);
    assert_true(fd >= 0);
    close(fd);
}

/* One system: N_TOP top-level actors started in order, then closed. The
 * notes must read S k, E k for k = N_TOP-1 down to 0. */
static void one_round(scn *t, int round)
{
    fresh_file();
    scn_start(t, NULL);
    for (int i = 0; i < N_TOP; i++)
        spawn_mode(t, &ord_def, i);
    assert_int_equal(scn_shutdown(t, 30000), 0);
    note_line l[2 * N_TOP + 1];
    size_t n = read_notes(l, 2 * N_TOP + 1);
    unlink(order_path);
    if (n != 2 * N_TOP)
        fail_msg("round %d: %zu notes, want %d", round, n, 2 * N_TOP);
    for (int k = 0; k < N_TOP; k++) {
        const note_line *s = &l[2 * k], *e = &l[2 * k + 1];
        long long want = N_TOP - 1 - k;
        if (s->what != 'S' || s->idx != want || e->what != 'E' || e->idx != want)
            fail_msg("round %d: note %d is %c%lld %c%lld, want S%lld E%lld", round, 2 * k, s->what,
                     s->idx, e->what, e->idx, want, want);
        /* The next terminate starts only after this one ended. */
        if (k + 1 < N_TOP && l[2 * k + 2].ns < e->ns)
            fail_msg("round %d: actor %lld started terminating before %lld ended", round,
                     l[2 * k + 2].idx, want);
    }
}

static void test_top_level_actors_stop_last_started_first(void **state)
{
    scn *t = *state;
    hang_index = -1;
    for (int r = 0; r < REPEATS; r++)
        one_round(t, r);
}

/* Process base: an actor whose terminate never returns is killed once its
 * share of the close's time is up (a journal row says so), and the
 * shutdown goes on with the one started before it. */
static int count_kill_rows(const ens_journal_row *row, void *arg)
{
    if (strstr(row->ev.reason, "shutdown's time: killed") != NULL &&
        strcmp(row->ev.actor_type, "ord.Top") == 0)
        (*(int *)arg)++;
    return 0;
}

static void test_actor_outliving_its_share_is_killed_and_the_next_stops(void **state)
{
    scn *t = *state;
    if (t->base != ENS_BASE_PROCESS)
        skip(); /* inproc: a terminate runs in the caller's thread; nothing can cut it short */
    char db[] = "/tmp/ens-shutdown-order-db-XXXXXX";
    int dfd = mkstemp(db);
    assert_true(dfd >= 0);
    close(dfd);
    unlink(db);
    fresh_file();
    hang_index = 2;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = db;
    scn_start(t, &o);
    for (int i = 0; i < N_TOP; i++)
        spawn_mode(t, &ord_def, i);
    /* Each gets at least a quarter of this: plenty for the others. */
    (void)scn_shutdown(t, 8000); /* process base: 0 even though one was killed (not yet told) */
    hang_index = -1;
    note_line l[2 * N_TOP + 1];
    size_t n = read_notes(l, 2 * N_TOP + 1);
    unlink(order_path);
    /* S3 E3 S2 (killed) S1 E1 S0 E0 */
    const char want_what[] = {'S', 'E', 'S', 'S', 'E', 'S', 'E'};
    const long long want_idx[] = {3, 3, 2, 1, 1, 0, 0};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        if (l[i].what != want_what[i] || l[i].idx != want_idx[i])
            fail_msg("note %zu is %c%lld, want %c%lld", i, l[i].what, l[i].idx, want_what[i],
                     want_idx[i]);
    }
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(db, &j), 0);
    ens_journal_filter f = ENS_JOURNAL_FILTER_INIT;
    f.kinds = 1u << ENS_EV_EXIT;
    int kills = 0;
    assert_true(ens_journal_query(j, &f, count_kill_rows, &kills) >= 1);
    ens_journal_close(j);
    test_journal_remove(db);
    assert_int_equal(kills, 1);
}

int main(void)
{
    if (scn_reports_register() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_top_level_actors_stop_last_started_first),
        SCN_TEST(test_actor_outliving_its_share_is_killed_and_the_next_stops),
    };
    return scn_run_bases("shutdown_order", tests, sizeof(tests) / sizeof(tests[0]));
}

/*
 * tests/support/journal_cases.h - the generated events, the per-test
 * directory and the row collectors the journal suites share
 * (tests/test_journal.c: reading back and paths; tests/test_journal_damage.c:
 * full disk, SIGKILL, files that are not a journal, schema versions).
 */
#ifndef ENS_TEST_JOURNAL_CASES_H
#define ENS_TEST_JOURNAL_CASES_H

#include <stdint.h>

#include "ensemble/journal.h"

#define BASE_MS INT64_C(1795899600000) /* 2026-11-28T21:00:00Z */
#define NEV     60

typedef struct journal_fixture {
    char dir[64];
    char db[128];
    ens_event ev[NEV];
    char reasons[NEV][32];
} journal_fixture;

/* cmocka setup/teardown: a fresh private directory with fx->db inside it,
 * and the NEV standard events (at_ms a permutation of BASE_MS + k s, so
 * time order differs from insertion order); teardown removes it all. */
int journal_setup(void **state);
int journal_teardown(void **state);

/* Write the NEV events to fx->db in two transactions (fails the test on
 * any error). */
void journal_write_all(journal_fixture *fx);

/* Rows a query saw: event indexes (from the reason text) and sequence
 * numbers of the first 512, counts for the count callbacks. */
typedef struct journal_seen {
    int n;
    int idx[512];
    int64_t seq[512];
    int64_t count[16]; /* for count callbacks: by kind */
    int stop_after;    /* nonzero: stop the query after this many */
    char types[8][32]; /* for count by actor_type */
    int64_t type_count[8];
} journal_seen;

/* ens_journal_query callback: note the row in the journal_seen *arg. */
int journal_collect(const ens_journal_row *row, void *arg);

/* The first row of a query, its strings copied. */
typedef struct journal_one_row {
    ens_journal_row row;
    char system[32], host[256], type[32], msg[32], reason[64], err[32];
} journal_one_row;

/* ens_journal_query callback: keep the first row in the journal_one_row
 * *arg and stop. */
int journal_keep_first(const ens_journal_row *row, void *arg);

/* ens_journal_count callback by kind: the count of each kind in the
 * journal_seen *arg's count[] and one more group in n. */
int journal_count_kind(const ens_journal_row *row, void *arg);

/* ens_journal_count callback by actor type: names in types[], counts in
 * type_count[], groups in n (the first 8). */
int journal_count_type(const ens_journal_row *row, void *arg);

/* Open path for reading (fails the test with the reason otherwise). */
ens_journal *journal_open_reader(const char *path);

/* The number of rows in path's events table by plain sqlite (-1 if it
 * cannot be read). */
int64_t journal_count_rows(const char *path);

#endif

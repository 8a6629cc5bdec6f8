/*
 * tests/support/journal_cases.c - see journal_cases.h.
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

#include "support/journal_cases.h"
#include "support/scratch.h"

static const char *const types[] = {"worker", "cache", "supervisor"};
static const char *const msgs[] = {"job", "ping", "", "tick"};

/* Event i of the standard set: at_ms is a permutation of BASE + k s, so
 * time order differs from insertion order. */
static void make_event(journal_fixture *fx, int i)
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

int journal_setup(void **state)
{
    journal_fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ens_journal_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/j.db", fx->dir);
    for (int i = 0; i < NEV; i++)
        make_event(fx, i);
    *state = fx;
    return 0;
}

int journal_teardown(void **state)
{
    journal_fixture *fx = *state;
    chmod(fx->dir, 0700);
    test_tree_remove(fx->dir);
    free(fx);
    return 0;
}

void journal_write_all(journal_fixture *fx)
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

int journal_collect(const ens_journal_row *row, void *arg)
{
    journal_seen *s = arg;
    int i = -1;
    sscanf(row->ev.reason, "reason %d", &i);
    if (s->n < 512) {
        s->idx[s->n] = i;
        s->seq[s->n] = row->seq;
    }
    s->n++;
    return s->stop_after != 0 && s->n >= s->stop_after;
}

ens_journal *journal_open_reader(const char *path)
{
    ens_journal *j = NULL;
    char why[256] = "";
    int rc = ens_journal_open_why(path, &j, why, sizeof(why));
    if (rc != 0)
        fail_msg("ens_journal_open(%s) = %s: %s", path, ens_err_name(rc), why);
    return j;
}

int journal_keep_first(const ens_journal_row *row, void *arg)
{
    journal_one_row *o = arg;
    o->row = *row;
    snprintf(o->system, sizeof(o->system), "%s", row->system);
    snprintf(o->host, sizeof(o->host), "%s", row->host);
    snprintf(o->type, sizeof(o->type), "%s", row->ev.actor_type);
    snprintf(o->msg, sizeof(o->msg), "%s", row->ev.msg_type);
    snprintf(o->reason, sizeof(o->reason), "%s", row->ev.reason);
    snprintf(o->err, sizeof(o->err), "%s", row->error_name);
    return 1;
}

int journal_count_kind(const ens_journal_row *row, void *arg)
{
    journal_seen *s = arg;
    assert_true(row->ev.kind > 0 && row->ev.kind < 16);
    assert_int_equal(row->seq, row->count); /* the older place of the count */
    s->count[row->ev.kind] = row->count;
    s->n++;
    return 0;
}

int journal_count_type(const ens_journal_row *row, void *arg)
{
    journal_seen *s = arg;
    if (s->n < 8) {
        snprintf(s->types[s->n], sizeof(s->types[s->n]), "%s", row->ev.actor_type);
        s->type_count[s->n] = row->count;
    }
    s->n++;
    return 0;
}

int64_t journal_count_rows(const char *path)
{
    ens_journal *j = journal_open_reader(path);
    journal_seen s = {0};
    int64_t total = 0;
    int groups = ens_journal_count(j, NULL, "kind", journal_count_kind, &s);
    assert_int_equal(groups, s.n);
    for (int k = 0; k < 16; k++)
        total += s.count[k];
    ens_journal_close(j);
    return total;
}

/*
 * tests/test_fd_exhausted.c - an actor process at its descriptor limit
 * (RLIMIT_NOFILE) on the process base: the descriptors the admin hands it
 * are dropped by the kernel (MSG_CTRUNC), and that must not be silent.
 *
 * The Hog actor fills every free descriptor slot below a lowered soft
 * limit, then tells an actor it has no connection to yet: the admin's
 * answer comes without its sending end, so the message is a dead letter
 * whose reason names the descriptor limit (not "no live actor", which is
 * what it said before). Then its child, which has no connection to it
 * either, is made to tell it something: the new connection comes without
 * its receiving end, the Hog's process logs that and asks the admin for
 * the end again (ens.ctl.Regive) until it has room: once it gives its
 * descriptors back, the child's message arrives - nothing is lost. The Hog gives its
 * descriptors back before the system stops, so the stop is not held up.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/deadline.h"

#include "ensemble/ensemble.h"

/* The Hog's soft limit: above what an actor process holds at the start. */
#define HOG_LIMIT 256

static ens_system *sys;
static char log_path[64];
static char dead_reason[256]; /* the first dead letter's reason, from on_event */
static int dead_letters;

static int child_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s != NULL && s->text != NULL && strcmp(s->text, "poke") == 0)
        return ens_send(c, ens_parent(c), &ens_msg_string, &(ens_string_v){"poked"});
    return 0;
}

static const ens_actor_def child_def = {"fd.Child", 0,    NULL, child_receive, NULL,
                                        NULL,       NULL, NULL, NULL};

typedef struct hog_state {
    ens_addr child;
    rlim_t soft; /* the limit it had */
    int poked;   /* "poked" messages from the child */
    int n_dups;
    int dups[HOG_LIMIT];
} hog_state;

static int hog_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)arg;
    hog_state *h = state;
    return ens_spawn(c, &child_def, NULL, NULL, &h->child); /* a spawn opens no connection */
}

/* Every free slot below HOG_LIMIT taken: the next descriptor the kernel
 * would install for this process has no room. */
static int hog_fill(hog_state *h)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    h->soft = rl.rlim_cur;
    rl.rlim_cur = HOG_LIMIT;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    int fd;
    while (h->n_dups < HOG_LIMIT && (fd = fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0)
        h->dups[h->n_dups++] = fd;
    return 0;
}

static void hog_release(hog_state *h)
{
    while (h->n_dups > 0)
        close(h->dups[--h->n_dups]);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = h->soft;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int hog_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    hog_state *h = state;
    const ens_string_v *s = ens_msg_value(m, &ens_msg_string);
    if (s == NULL || s->text == NULL)
        return 0;
    if (strcmp(s->text, "child") == 0) {
        char text[ENS_ADDR_STRLEN];
        ens_addr_format(h->child, text, sizeof(text));
        return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
    }
    if (strcmp(s->text, "hog") == 0) {
        if (hog_fill(h) < 0)
            return ens_reply(c, &ens_msg_int64, &(ens_int64_v){-1});
        /* No connection to the child yet: the admin's answer brings one. */
        (void)ens_send(c, h->child, &ens_msg_string, &(ens_string_v){"to the child"});
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){h->n_dups});
    }
    if (strcmp(s->text, "release") == 0) {
        hog_release(h);
        return ens_reply(c, &ens_msg_string, s);
    }
    if (strcmp(s->text, "poked") == 0)
        h->poked++;
    if (strcmp(s->text, "how many") == 0)
        return ens_reply(c, &ens_msg_int64, &(ens_int64_v){h->poked});
    return 0;
}

static const ens_actor_def hog_def = {
    "fd.Hog", sizeof(hog_state), hog_init, hog_receive, NULL, NULL, NULL, NULL, NULL};

static void on_event(const ens_event *ev, void *arg)
{
    (void)arg;
    if (ev->kind != ENS_EV_DEAD_LETTER)
        return;
    if (dead_letters++ == 0)
        snprintf(dead_reason, sizeof(dead_reason), "%s", ev->reason != NULL ? ev->reason : "");
}

/* The log file holds text. */
static bool log_holds(const char *text)
{
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

static int teardown(void **state)
{
    (void)state;
    if (sys != NULL)
        ens_system_stop(sys, 30000);
    sys = NULL;
    unlink(log_path);
    return 0;
}

static void test_descriptors_dropped_at_the_limit_are_said(void **state)
{
    (void)state;
    snprintf(log_path, sizeof(log_path), "/tmp/ens-fd-exhausted-%d.log", (int)getpid());
    unlink(log_path);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.base = ENS_BASE_PROCESS;
    o.log_level = ENS_LOG_ERROR;
    o.log_path = log_path;
    o.on_event = on_event;
    assert_int_equal(ens_system_start(&o, &sys), 0);
    ens_ctx *out = ens_system_ctx(sys);
    ens_addr hog = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(out, &hog_def, NULL, NULL, &hog), 0);
    /* Its connection to this program is made while it has room. */
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, hog, &ens_msg_string, &(ens_string_v){"child"}, TEST_WAIT_MS, &r),
                     0);
    const ens_string_v *text = ens_msg_value(r, &ens_msg_string);
    ens_addr child = ENS_ADDR_NONE;
    assert_non_null(text);
    assert_int_equal(ens_addr_parse(text->text, &child), 0);
    ens_msg_free(r);
    assert_int_equal(ens_ask(out, hog, &ens_msg_string, &(ens_string_v){"hog"}, TEST_WAIT_MS, &r),
                     0);
    const ens_int64_v *dups = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(dups);
    assert_true(dups->value > 0);
    ens_msg_free(r);

    test_deadline d = test_deadline_in(TEST_WAIT_MS);
    while (dead_letters == 0 && !test_deadline_passed(d))
        (void)ens_system_run(sys, 10);
    assert_true(dead_letters > 0);
    print_message("dead letter: %s\n", dead_reason);
    assert_non_null(strstr(dead_reason, "limit of open descriptors"));

    /* The child has no connection to the Hog: its send brings a new one. */
    assert_int_equal(ens_send(out, child, &ens_msg_string, &(ens_string_v){"poke"}), 0);
    d = test_deadline_in(TEST_WAIT_MS);
    while (!log_holds("came without its descriptor") && !test_deadline_passed(d))
        (void)ens_system_run(sys, 10);
    assert_true(log_holds("came without its descriptor"));
    assert_true(log_holds("asked for again every"));

    /* Given its descriptors back, the Hog gets the connection after all
     * (the admin kept its end): the child's message was never lost. */
    assert_int_equal(
        ens_ask(out, hog, &ens_msg_string, &(ens_string_v){"release"}, TEST_WAIT_MS, &r), 0);
    ens_msg_free(r);
    int64_t poked = 0;
    d = test_deadline_in(TEST_WAIT_MS);
    while (poked == 0 && !test_deadline_passed(d)) {
        assert_int_equal(
            ens_ask(out, hog, &ens_msg_string, &(ens_string_v){"how many"}, TEST_WAIT_MS, &r), 0);
        poked = ((const ens_int64_v *)ens_msg_value(r, &ens_msg_int64))->value;
        ens_msg_free(r);
        if (poked == 0)
            test_nap_ms(20);
    }
    assert_int_equal(poked, 1);
    assert_int_equal(ens_system_stop(sys, 30000), 0);
    sys = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_descriptors_dropped_at_the_limit_are_said, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * examples/supervision_tree.c - a small application built from behaviours,
 * with failures injected while it runs, every one of them in the journal.
 *
 *   demo.App (supervisor, one_for_one, at most 3 restarts in 10 s)
 *   |- cache      demo.Cache, a gen_server, globally named "cache"
 *   |- workers    demo.Workers (supervisor, one_for_one, 2 restarts in 5 s)
 *   |  |- worker-1, worker-2, worker-3   demo.Worker
 *   `- frontdesk  demo.FrontDesk, which starts
 *      |- a flaky service (demo.Flaky)
 *      |- a circuit breaker in front of it
 *      `- a troupe of up to 3 demo.Job workers
 *
 * The program (the "outside") drives it step by step and prints what
 * happened; failure events are printed as the runtime reports them. The
 * journal goes to the path given as the first argument (default
 * supervision-tree.db); `make demo` shows it with `ens journal` afterwards.
 * Runs on the process base: every actor above is its own process.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ensemble/ensemble.h>

#define CALL_MS 10000

static volatile int *volatile nowhere; /* stays NULL: writing there is a real crash */

/* ---- demo.Worker: "work" replies, "crash" crashes once, "fail" stops ---- */

static int worker_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_string_v *s = ens_string_of(m);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "crash") == 0 && ens_msg_attempt(m) == 1)
        *nowhere = 1; /* SIGSEGV: restarted in place, the message comes again */
    if (strcmp(s->text, "fail") == 0)
        return ens_stop(c, ENS_EXIT_ERROR, -5); /* ends: its supervisor decides */
    char line[96];
    snprintf(line, sizeof(line), "done by pid %d (attempt %u)", (int)getpid(), ens_msg_attempt(m));
    return ens_msg_is_request(m) ? ens_string_reply(c, &(ens_string_v){line}) : 0;
}

static const ens_actor_def worker_def = {.name = "demo.Worker", .receive = worker_receive};

static int workers_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                             ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    (void)max;
    static const char *ids[] = {"worker-1", "worker-2", "worker-3"};
    *flags = (ens_sup_flags){ENS_ONE_FOR_ONE, 2, 5000, ENS_SUP_START_ORDERED};
    for (size_t i = 0; i < 3; i++) {
        specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
        specs[i].id = ids[i];
        specs[i].def = &worker_def;
    }
    *n = 3;
    return 0;
}
ENS_SUPERVISOR_DEF(workers_def, "demo.Workers", workers_configure);

/* ---- demo.Cache: a gen_server keeping one value per key ----------------- */

#define CACHE_SLOTS 16

typedef struct cache_state {
    char keys[CACHE_SLOTS][32];
    char values[CACHE_SLOTS][64];
} cache_state;

static int cache_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)state;
    (void)arg;
    return ens_name_register(c, "cache"); /* again after every restart */
}

/* "put KEY VALUE", "get KEY", "crash" (crashes every time: poison). */
static int cache_call(ens_ctx *c, void *state, const ens_msg *req, ens_from from)
{
    cache_state *st = state;
    const ens_string_v *s = ens_string_of(req);
    char key[32] = "", value[64] = "";
    if (s == NULL)
        return ens_gen_server_reply_error(c, from, ENS_EBADTYPE, NULL, NULL);
    if (strcmp(s->text, "crash") == 0)
        *nowhere = 1;
    if (sscanf(s->text, "put %31s %63s", key, value) == 2) {
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
            if (st->keys[i][0] == '\0' || strcmp(st->keys[i], key) == 0) {
                snprintf(st->keys[i], sizeof(st->keys[i]), "%s", key);
                snprintf(st->values[i], sizeof(st->values[i]), "%s", value);
                return ens_gen_server_reply(c, from, &ens_msg_string, &(ens_string_v){"ok"});
            }
        }
        return ens_gen_server_reply_error(c, from, ENS_ENOBUFS, NULL, NULL);
    }
    if (sscanf(s->text, "get %31s", key) == 1) {
        for (size_t i = 0; i < CACHE_SLOTS; i++) {
            if (strcmp(st->keys[i], key) == 0)
                return ens_gen_server_reply(c, from, &ens_msg_string,
                                            &(ens_string_v){st->values[i]});
        }
        return ens_gen_server_reply_error(c, from, ENS_ENOENT, NULL, NULL);
    }
    return ens_gen_server_reply_error(c, from, ENS_EINVAL, NULL, NULL);
}

static const ens_gen_server_cbs cache_cbs = {.init = cache_init, .handle_call = cache_call};
static const ens_actor_def cache_def = ENS_GEN_SERVER_DEF("demo.Cache", cache_state, &cache_cbs);

/* ---- demo.Flaky: answers "ping", fails while told to be down ------------ */

static int flaky_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    int *down = state;
    const ens_string_v *s = ens_string_of(m);
    if (s == NULL)
        return 0;
    if (strcmp(s->text, "down") == 0 || strcmp(s->text, "up") == 0) {
        *down = s->text[0] == 'd';
        return ens_string_reply(c, &(ens_string_v){"noted"});
    }
    if (*down)
        return ENS_EIO; /* fails: retried once, then poisoned back */
    return ens_string_reply(c, &(ens_string_v){"pong"});
}

static const ens_actor_def flaky_def = {
    .name = "demo.Flaky", .state_size = sizeof(int), .receive = flaky_receive};

/* ---- demo.Job: troupe work; job -1 crashes its worker every time -------- */

static int job_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)state;
    const ens_int64_v *job = ens_int64_of(m);
    if (job == NULL)
        return 0;
    if (job->value < 0)
        raise(SIGSEGV);
    ens_int64_v done = {(int64_t)getpid()};
    return ens_int64_reply(c, &done);
}

static const ens_actor_def job_def = {.name = "demo.Job", .receive = job_receive};

/* ---- demo.FrontDesk: owns the service, its breaker and the troupe ------- */

typedef struct where_v {
    ens_addr flaky, breaker, troupe;
} where_v;
ENS_MESSAGE(where, where_v, "demo.Where", "S(" ENS_ADDR_FMT ENS_ADDR_FMT ENS_ADDR_FMT ")")

static int frontdesk_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)arg;
    where_v *w = state;
    int rc = ens_spawn(c, &flaky_def, NULL, NULL, &w->flaky);
    if (rc < 0)
        return rc;
    ens_breaker_opts bo = ENS_BREAKER_OPTS_INIT;
    bo.target = w->flaky;
    bo.max_failures = 3;
    bo.call_timeout_ms = 2000;
    bo.reset_timeout_ms = 300;
    if ((rc = ens_breaker_spawn(c, &bo, &w->breaker)) < 0)
        return rc;
    ens_troupe_opts to = ENS_TROUPE_OPTS_INIT;
    to.worker = &job_def;
    to.max_count = 3;
    to.idle_count = 1;
    return ens_troupe_spawn(c, &to, &w->troupe);
}

static int frontdesk_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    return ens_msg_is_request(m) ? where_reply(c, state) : 0;
}

static const ens_actor_def frontdesk_def = {.name = "demo.FrontDesk",
                                            .state_size = sizeof(where_v),
                                            .init = frontdesk_init,
                                            .receive = frontdesk_receive};

/* ---- demo.App: the top supervisor --------------------------------------- */

static int app_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                         ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    (void)max;
    *flags = (ens_sup_flags){ENS_ONE_FOR_ONE, 3, 10000, ENS_SUP_START_ORDERED};
    for (size_t i = 0; i < 3; i++)
        specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
    specs[0].id = "cache";
    specs[0].def = &cache_def;
    specs[1].id = "workers";
    specs[1].def = &workers_def;
    specs[1].is_supervisor = true;
    specs[1].shutdown = ENS_SHUTDOWN_INFINITY;
    specs[2].id = "frontdesk";
    specs[2].def = &frontdesk_def;
    *n = 3;
    return 0;
}
ENS_SUPERVISOR_DEF(app_def, "demo.App", app_configure);

/* ---- the outside: drive it and tell what happens ------------------------- */

static unsigned long events_seen;

static void on_event(const ens_event *ev, void *arg)
{
    (void)arg;
    events_seen++;
    char who[ENS_ADDR_STRLEN];
    ens_addr_format(ev->actor, who, sizeof(who));
    printf("      event %-11s %-20s %-24s %s\n", ens_event_kind_name(ev->kind), ev->actor_type, who,
           ev->reason);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static ens_system *demo_sys;

/* A new section. The events of the last one print first: they reach this
 * program only while it is inside an ens_* call (on_event runs there), so
 * take them in until none has come for a quarter of a second (at most 3 s:
 * one that comes later still prints, under the next heading). */
static void step(const char *what)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        unsigned long before = events_seen;
        if (ens_system_run(demo_sys, 250) < 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (events_seen == before || now.tv_sec - start.tv_sec >= 3)
            break;
    }
    printf("\n-- %s\n", what);
}

/* The child `id` of supervisor sup (none if absent) and, when restarts is
 * not NULL, how often sup restarted it while it runs (else -1); prints the
 * children when print is set. */
static ens_addr child_row(ens_ctx *out, ens_addr sup, const char *id, int print, long *restarts)
{
    if (restarts != NULL)
        *restarts = -1;
    ens_msg *r = NULL;
    ens_addr found = ENS_ADDR_NONE;
    if (ens_supervisor_which_children_wait(out, sup, &r) != 0) {
        ens_msg_free(r);
        return found;
    }
    const ens_sup_children_v *v = ens_msg_value(r, &ens_msg_sup_children);
    const ens_sup_child_info *rows = v != NULL ? v->children.items : NULL;
    for (uint32_t i = 0; v != NULL && i < v->children.count; i++) {
        char a[ENS_ADDR_STRLEN];
        ens_addr_format(rows[i].child, a, sizeof(a));
        if (print)
            printf("   %-10s %-14s %-26s restarts %u%s%s\n", rows[i].id, rows[i].type, a,
                   rows[i].restarts, rows[i].name[0] != '\0' ? "  name " : "", rows[i].name);
        if (strcmp(rows[i].id, id) == 0) {
            found = rows[i].child;
            if (restarts != NULL && rows[i].status == ENS_SUP_CHILD_RUNNING)
                *restarts = rows[i].restarts;
        }
    }
    ens_msg_free(r);
    return found;
}

static ens_addr child_of(ens_ctx *out, ens_addr sup, const char *id, int print)
{
    return child_row(out, sup, id, print, NULL);
}

static void ask_text(ens_ctx *out, ens_addr to, const char *text, const char *label)
{
    ens_msg *r = NULL;
    int rc = ens_string_ask(out, to, &(ens_string_v){(char *)text}, CALL_MS, &r);
    const ens_string_v *s = rc == 0 ? ens_string_of(r) : NULL;
    printf("   %s %-12s -> %s%s\n", label, text, rc == 0 ? "" : ens_err_name(rc),
           s != NULL ? s->text : "");
    ens_msg_free(r);
}

static void cache_call_text(ens_ctx *out, ens_addr cache, const char *text)
{
    ens_msg *r = NULL;
    int rc = ens_gen_server_call(out, cache, &ens_msg_string, &(ens_string_v){(char *)text},
                                 CALL_MS, NULL, 0, &r);
    const ens_string_v *s = rc == 0 ? ens_string_of(r) : NULL;
    printf("   cache call %-16s -> %s%s\n", text, rc == 0 ? "" : ens_err_name(rc),
           s != NULL ? s->text : "");
    ens_msg_free(r);
}

/* How often supervisor top has restarted `id` (-1: not running). */
static long restarts_of(ens_ctx *out, ens_addr top, const char *id)
{
    long n = -1;
    (void)child_row(out, top, id, 0, &n);
    return n;
}

/* Wait (bounded) until supervisor top has restarted `id` more than `before`
 * times and it runs (at its address: the one returned is old). */
static ens_addr wait_restarted(ens_ctx *out, ens_addr top, const char *id, ens_addr old,
                               long before)
{
    long now = -1;
    for (int i = 0; i < 100; i++) {
        ens_addr a = child_row(out, top, id, 0, &now);
        if (now > before)
            return a;
        nap_ms(50);
    }
    return old;
}

static int run(ens_system *s)
{
    ens_ctx *out = ens_system_ctx(s);
    ens_addr top;
    int rc = ens_spawn(out, &app_def, NULL, NULL, &top);
    if (rc < 0) {
        fprintf(stderr, "starting demo.App: %s\n", ens_strerror(rc));
        return 1;
    }
    step("the tree, as demo.App sees it");
    ens_addr workers = child_of(out, top, "workers", 1);
    ens_addr frontdesk = child_of(out, top, "frontdesk", 0);
    printf("   and under workers:\n");
    ens_addr w1 = child_of(out, workers, "worker-1", 1);
    ens_addr w2 = child_of(out, workers, "worker-2", 0);
    ens_addr w3 = child_of(out, workers, "worker-3", 0);

    step("the cache, found by its global name, answers calls");
    ens_addr cache;
    if ((rc = ens_name_lookup(out, "cache", &cache)) < 0) {
        fprintf(stderr, "lookup cache: %s\n", ens_strerror(rc));
        return 1;
    }
    cache_call_text(out, cache, "put colour blue");
    cache_call_text(out, cache, "get colour");
    cache_call_text(out, cache, "get size");

    step("worker-1 crashes (SIGSEGV): restarted in place, its message handled again");
    ask_text(out, w1, "crash", "worker-1");
    ask_text(out, w1, "work", "worker-1");

    step(
        "worker-2 stops with an error: demo.Workers restarts it (a new process, the same address)");
    long w2_restarts = restarts_of(out, workers, "worker-2");
    ens_string_tell(out, w2, &(ens_string_v){"fail"});
    ens_addr w2b = wait_restarted(out, workers, "worker-2", w2, w2_restarts);
    ask_text(out, w2b, "work", "worker-2");

    step("worker-3 crashes twice more: 3 restarts in 5 s is over demo.Workers' limit of 2,");
    printf("   so it stops its workers and gives up; demo.App restarts the whole subtree\n");
    long workers_restarts = restarts_of(out, top, "workers");
    ens_string_tell(out, w3, &(ens_string_v){"crash"});
    ens_string_tell(out, w3, &(ens_string_v){"crash"});
    ens_addr workers2 = wait_restarted(out, top, "workers", workers, workers_restarts);
    child_of(out, top, "", 1);
    printf("   and under the restarted workers (same address, new children):\n");
    child_of(out, workers2, "", 1);

    ens_msg *r = NULL;
    if ((rc = ens_string_ask(out, frontdesk, &(ens_string_v){"where"}, CALL_MS, &r)) < 0) {
        fprintf(stderr, "frontdesk: %s\n", ens_strerror(rc));
        ens_msg_free(r);
        return 1;
    }
    where_v where = *where_of(r);
    ens_msg_free(r);

    step("the troupe: 6 jobs over up to 3 worker processes; job -1 kills its worker twice");
    int64_t jobs[] = {1, 2, -1, 3, 4, 5};
    for (size_t i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++) {
        rc = ens_int64_ask(out, where.troupe, &(ens_int64_v){jobs[i]}, CALL_MS, &r);
        const ens_int64_v *pid = rc == 0 ? ens_int64_of(r) : NULL;
        if (pid != NULL)
            printf("   job %2lld -> done by pid %lld\n", (long long)jobs[i], (long long)pid->value);
        else
            printf("   job %2lld -> %s (%s)\n", (long long)jobs[i], ens_err_name(rc),
                   ens_strerror(rc));
        ens_msg_free(r);
    }

    step("the circuit breaker in front of the flaky service");
    ask_text(out, where.breaker, "ping", "breaker");
    ask_text(out, where.flaky, "down", "service");
    for (int i = 0; i < 4; i++)
        ask_text(out, where.breaker, "ping", "breaker");
    ask_text(out, where.flaky, "up", "service");
    printf("   (waiting for the reset timeout: open -> half-open)\n");
    for (int i = 0; i < 50; i++) {
        rc = ens_string_ask(out, where.breaker, &(ens_string_v){"ping"}, CALL_MS, &r);
        ens_msg_free(r);
        if (rc != ENS_EBREAKER_OPEN)
            break;
        nap_ms(50);
    }
    printf("   breaker ping         -> %s\n", rc == 0 ? "pong (closed again)" : ens_err_name(rc));

    step("a call that crashes the cache twice: the caller gets an error, not a timeout");
    cache_call_text(out, cache, "crash");
    printf("   (the cache was restarted in place: same address, same name, empty state)\n");
    cache_call_text(out, cache, "get colour");

    step("the tree at the end");
    child_of(out, top, "", 1);
    return 0;
}

int main(int argc, char **argv)
{
    const char *journal = argc > 1 ? argv[1] : "supervision-tree.db";
    if (where_register() != 0)
        return 1;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = "demo-tree";
    o.journal_path = journal;
    o.log_level = ENS_LOG_ERROR;
    o.on_event = on_event;
    ens_system *s = NULL;
    /* Lines in the order they happen, also into a pipe (make demo | less):
     * the log's lines go to stderr, the rest to stdout. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = ens_system_start(&o, &s);
    if (rc < 0) {
        fprintf(stderr, "ens_system_start: %s\n", ens_strerror(rc));
        return 1;
    }
    demo_sys = s;
    int status = run(s);
    step("shutting down");
    rc = ens_system_close(s, 10000);
    printf("   shutdown: %s; the journal is in %s\n", rc == 0 ? "clean" : ens_err_name(rc),
           journal);
    return status != 0 || rc != 0;
}

/*
 * tests/test_supervisor_many.c - a simple_one_for_one supervisor of
 * thousands of dynamic children: all start, which_children is read by
 * pages, count_children counts them, one crash restarts that child alone
 * (same address, the others untouched), terminating every child leaves
 * none, and on the process base every child process is reaped. Also the
 * concurrent start (ENS_SUP_START_CONCURRENT: start-all, restart-all, a
 * failing child among many) and ens_supervisor_start_children.
 *
 * The count: ENS_TEST_SUP_MANY in the environment, else 10 000 on the
 * inproc base and TEST_PROCESS_DEFAULT on the process base (see there why
 * fewer; larger counts by hand with ENS_TEST_SUP_MANY=N).
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "support/scenario.h"

/* A process per child. The admin holds about four descriptors per actor
 * and keeps an eighth of RLIMIT_NOFILE in reserve: with this machine's
 * hard limit of 20 000 it refuses spawns (ENS_EAGAIN) past ~4 400 actors,
 * so 10 000 processes cannot run here (measured: child 4 370 refused).
 * Starting and stopping them one request at a time takes ~1-3 ms each on a
 * loaded 2-core machine: 2 000 keeps the suite well under a minute. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_PROCESS_DEFAULT 500u /* each process pays ASan's start-up and shadow memory */
#else
#define TEST_PROCESS_DEFAULT 2000u
#endif
#define TEST_INPROC_DEFAULT 10000u
#define PAGE                1000u

static volatile uint32_t *inits; /* shared with every actor process */

static int many_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    __atomic_add_fetch(inits, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static int many_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    (void)c;
    (void)state;
    (void)m;
    return 0;
}

static const ens_actor_def many_worker_def = {"tmany.Worker", 0,    many_init, many_receive, NULL,
                                              NULL,           NULL, NULL,      NULL};

static uint32_t child_count(const scn *t)
{
    const char *e = getenv("ENS_TEST_SUP_MANY");
    if (e != NULL && atoi(e) > 0)
        return (uint32_t)atoi(e);
    return t->base == ENS_BASE_PROCESS ? TEST_PROCESS_DEFAULT : TEST_INPROC_DEFAULT;
}

/* Processes below this one but the zygote and its spares (it refills
 * them at its own pace: counting them would make the count depend on when
 * it is taken): how many, and how many of them zombies. */
static void descendants(size_t *n, size_t *zombies)
{
    int maxp = 1 << 22; /* PID_MAX_LIMIT; /proc/sys/kernel/pid_max says less */
    FILE *pm = fopen("/proc/sys/kernel/pid_max", "r");
    if (pm != NULL) {
        if (fscanf(pm, "%d", &maxp) != 1 || maxp <= 0)
            maxp = 1 << 22;
        fclose(pm);
    }
    maxp++;
    int *ppid_of = calloc((size_t)maxp, sizeof(int));
    char *state_of = calloc((size_t)maxp, 1);
    bool *spare = calloc((size_t)maxp, sizeof(bool));
    assert_true(ppid_of != NULL && state_of != NULL && spare != NULL);
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid >= maxp)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *name = strchr(buf, '(');
        const char *p = strrchr(buf, ')'); /* after the command name */
        char st;
        int ppid;
        if (name != NULL && p != NULL && sscanf(p + 1, " %c %d", &st, &ppid) == 2) {
            ppid_of[pid] = ppid;
            state_of[pid] = st;
            spare[pid] =
                strncmp(name + 1, "ens-spare", 9) == 0 || strncmp(name + 1, "ens-zygote", 10) == 0;
        }
    }
    closedir(d);
    const int me = getpid();
    *n = *zombies = 0;
    for (int pid = 1; pid < maxp; pid++) {
        int up = ppid_of[pid], hops = 0;
        while (up > 1 && up != me && hops++ < 64)
            up = up < maxp ? ppid_of[up] : 0;
        if (up == me && pid != me && !spare[pid]) {
            (*n)++;
            *zombies += state_of[pid] == 'Z';
        }
    }
    free(ppid_of);
    free(state_of);
    free(spare);
}

static void count_is(scn *t, ens_addr sup, uint32_t specs, uint32_t active)
{
    ens_sup_counts_v n;
    assert_int_equal(ens_supervisor_count_children_wait(t->out, sup, &n), 0);
    assert_int_equal(n.specs, specs);
    assert_int_equal(n.active, active);
    assert_int_equal(n.workers, specs);
    assert_int_equal(n.supervisors, 0);
}

/* Every child by pages: addresses into out[0..n), restarts into
 * restarts[] (both in start order). */
static void read_pages(scn *t, ens_addr sup, uint32_t n, ens_addr *out, uint32_t *restarts)
{
    uint32_t got = 0;
    while (got < n) {
        ens_msg *r = NULL;
        assert_int_equal(ens_supervisor_which_children_page_wait(t->out, sup, got, PAGE, &r), 0);
        const ens_sup_children_v *v = ens_msg_value(r, &ens_msg_sup_children);
        assert_non_null(v);
        assert_int_equal(v->total, n);
        assert_int_equal(v->offset, got);
        assert_int_equal(v->strategy, ENS_SIMPLE_ONE_FOR_ONE);
        assert_int_equal(v->children.count, n - got < PAGE ? n - got : PAGE);
        const ens_sup_child_info *rows = v->children.items;
        for (uint32_t i = 0; i < v->children.count; i++) {
            assert_int_equal(rows[i].status, ENS_SUP_CHILD_RUNNING);
            assert_string_equal(rows[i].type, "tmany.Worker");
            out[got + i] = rows[i].child;
            restarts[got + i] = rows[i].restarts;
        }
        got += v->children.count;
        ens_msg_free(r);
    }
    /* Past the end: an empty page that still says how many there are. */
    ens_msg *r = NULL;
    assert_int_equal(ens_supervisor_which_children_page_wait(t->out, sup, n + 5, PAGE, &r), 0);
    const ens_sup_children_v *v = ens_msg_value(r, &ens_msg_sup_children);
    assert_int_equal(v->children.count, 0);
    assert_int_equal(v->total, n);
    ens_msg_free(r);
}

static void test_many_dynamic_children(void **state)
{
    scn *t = *state;
    const uint32_t n = child_count(t);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.call_timeout_ms = 300000;
    scn_start(t, &o);
    __atomic_store_n(inits, 0, __ATOMIC_SEQ_CST);
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = "w";
    spec.def = &many_worker_def;
    spec.shutdown = ENS_SHUTDOWN_BRUTAL;
    ens_sup_flags f = {ENS_SIMPLE_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup = ENS_ADDR_NONE;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &spec, 1, &sup), 0);
    size_t base_procs = 0, zombies = 0;
    if (t->base == ENS_BASE_PROCESS)
        descendants(&base_procs, &zombies);

    ens_addr *addrs = calloc(n, sizeof(*addrs)), *again = calloc(n, sizeof(*again));
    uint32_t *restarts = calloc(n, sizeof(*restarts));
    assert_true(addrs != NULL && again != NULL && restarts != NULL);
    int64_t t0 = scn_now_ns();
    for (uint32_t i = 0; i < n; i++) {
        int rc = ens_supervisor_start_child_wait(t->out, sup, NULL, NULL, NULL, &addrs[i]);
        if (rc != 0)
            fail_msg("child %u of %u: %s", i, n, ens_strerror(rc));
    }
    int64_t t1 = scn_now_ns();
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), n);
    count_is(t, sup, n, n);
    read_pages(t, sup, n, again, restarts);
    for (uint32_t i = 0; i < n; i++) {
        assert_true(ens_addr_equal(again[i], addrs[i]));
        assert_int_equal(restarts[i], 0);
    }
    int64_t t2 = scn_now_ns();

    /* One crash: that child alone comes back, at its address. */
    const uint32_t victim = n / 2;
    assert_int_equal(ens_kill(t->out, addrs[victim]), 0);
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    for (;;) { /* polled with queries: they also drive the inproc base */
        read_pages(t, sup, n, again, restarts);
        /* restarts counts from the decision; the init runs after it */
        if ((restarts[victim] == 1 && __atomic_load_n(inits, __ATOMIC_SEQ_CST) == n + 1) ||
            scn_now_ns() > end)
            break;
        usleep(5000);
    }
    for (uint32_t i = 0; i < n; i++) {
        assert_true(ens_addr_equal(again[i], addrs[i]));
        assert_int_equal(restarts[i], i == victim ? 1 : 0);
    }
    count_is(t, sup, n, n);
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), n + 1);
    int64_t t3 = scn_now_ns();

    for (uint32_t i = 0; i < n; i++) {
        int rc = ens_supervisor_terminate_child_wait(t->out, sup, NULL, addrs[i]);
        if (rc != 0)
            fail_msg("terminate %u of %u: %s", i, n, ens_strerror(rc));
    }
    count_is(t, sup, 0, 0);
    int64_t t4 = scn_now_ns();
    if (t->base == ENS_BASE_PROCESS) {
        /* Every child process ended and was reaped: back to the processes
         * there were before (the zygote and its spares not counted). */
        size_t procs = 0;
        end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
        do {
            descendants(&procs, &zombies);
            if (procs <= base_procs && zombies == 0)
                break;
            usleep(20000);
        } while (scn_now_ns() < end);
        assert_int_equal(zombies, 0);
        assert_true(procs <= base_procs);
    }
    print_message("%s: %u children: start %.1f s, count + pages %.2f s, crash %.2f s, "
                  "terminate %.1f s\n",
                  scn_base_name(t->base), n, (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9,
                  (t4 - t3) / 1e9);
    free(addrs);
    free(again);
    free(restarts);
    assert_int_equal(scn_shutdown(t, 30000), 0);
}

#define SPEC_ID_LEN 12

/* n specs of brutally killed workers, ids PREFIX0, PREFIX1, ... kept in ids. */
static void worker_specs(ens_child_spec *specs, char (*ids)[SPEC_ID_LEN], uint32_t n,
                         const char *prefix)
{
    for (uint32_t i = 0; i < n; i++) {
        snprintf(ids[i], SPEC_ID_LEN, "%s%u", prefix, i);
        specs[i] = (ens_child_spec)ENS_CHILD_SPEC_INIT;
        specs[i].id = ids[i];
        specs[i].def = &many_worker_def;
        specs[i].shutdown = ENS_SHUTDOWN_BRUTAL;
    }
}

/* More static specs than the old bound of 256: a configure callback asks
 * for room (the first call gives it 256) and is called again. It gives
 * configure_n specs (set before the system starts: the process base's
 * processes are forked from this one then, and see the value). */
#define STATIC_N   1000u
#define STATIC_BIG 5000u
static int configure_calls;
static uint32_t configure_n = STATIC_N;

static int many_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                          ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    static char ids[STATIC_BIG][SPEC_ID_LEN];
    configure_calls++;
    *n = configure_n;
    if (max < configure_n)
        return 0; /* room for configure_n, please */
    flags->strategy = ENS_ONE_FOR_ALL;
    worker_specs(specs, ids, configure_n, "w");
    return 0;
}
ENS_SUPERVISOR_DEF(many_sup_def, "tmany.Sup", many_configure);

static void test_static_thousand(void **state)
{
    scn *t = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.call_timeout_ms = 300000; /* 1 000 processes under sanitizers on a loaded machine */
    scn_start(t, &o);
    __atomic_store_n(inits, 0, __ATOMIC_SEQ_CST);
    configure_calls = 0;
    ens_addr sup = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &many_sup_def, NULL, NULL, &sup), 0);
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), STATIC_N);
    if (t->base == ENS_BASE_INPROC) /* the process base calls it in another process */
        assert_int_equal(configure_calls, 2);
    count_is(t, sup, STATIC_N, STATIC_N);
    /* The same through ens_supervisor_spawn (one config message). */
    static ens_child_spec specs[STATIC_N];
    static char ids[STATIC_N][SPEC_ID_LEN];
    worker_specs(specs, ids, STATIC_N, "s");
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup2 = ENS_ADDR_NONE;
    specs[STATIC_N - 1].id = "s7"; /* a duplicate id, found among 1 000 */
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, STATIC_N, &sup2), ENS_EINVAL);
    specs[STATIC_N - 1].id = ids[STATIC_N - 1];
    assert_int_equal(ens_supervisor_spawn(t->out, &f, specs, STATIC_N, &sup2), 0);
    count_is(t, sup2, STATIC_N, STATIC_N);
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), 2 * STATIC_N);
    /* Two supervisors stop 1 000 children each, one after another (kill,
     * reap, notice): measured above 60 s under ASan at load 20. */
    assert_int_equal(scn_shutdown(t, 300000), 0);
}

/* Descriptors for n actors: the admin keeps about five for each (control
 * channel, sending and receiving ends, the stage's memfd, the supervisor's
 * connection) and refuses spawns within an eighth of RLIMIT_NOFILE of the
 * limit. Raise the limit (root may raise the hard one) before the system
 * starts: its processes inherit it. False if it cannot be had. */
static bool room_for(uint32_t n)
{
    rlim_t want = (rlim_t)n * 8 + 4096;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return false;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit up = {want, rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? rl.rlim_max
                                                                                     : want};
        if (setrlimit(RLIMIT_NOFILE, &up) < 0)
            return false;
    }
    return true;
}

/* 5 000 static specs start under one_for_all: given by a configure
 * callback, they are never sent. Through ens_supervisor_spawn they are the
 * supervisor's start argument: on the process base, above
 * ENS_SPAWN_ARG_MAX, refused with ENS_EMSGSIZE and a text that says what
 * to do; on the in-process base (max_frame_bytes) they start too. */
static void test_static_five_thousand(void **state)
{
    scn *t = *state;
    const bool room = t->base == ENS_BASE_INPROC || room_for(STATIC_BIG);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.call_timeout_ms = 600000;  /* 5 000 processes, maybe under sanitizers, on a loaded machine */
    o.log_level = ENS_LOG_ERROR; /* not a line per child stopped at the end */
    configure_n = STATIC_BIG;    /* before the start: the system's processes are forked from here */
    scn_start(t, &o);
    if (room) {
        __atomic_store_n(inits, 0, __ATOMIC_SEQ_CST);
        ens_addr sup = ENS_ADDR_NONE;
        int rc = ens_spawn(t->out, &many_sup_def, NULL, NULL, &sup);
        if (rc != 0)
            fail_msg("5 000 static children: %s (%s)", ens_strerror(rc), ens_errmsg());
        assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), STATIC_BIG);
        count_is(t, sup, STATIC_BIG, STATIC_BIG);
        assert_int_equal(ens_supervisor_terminate_child_wait(t->out, sup, "w4999", ENS_ADDR_NONE),
                         0);
        count_is(t, sup, STATIC_BIG, STATIC_BIG - 1);
    } else {
        /* e.g. here: hard limit 20 000 without CAP_SYS_RESOURCE, room for
         * ~3 500 actors; the refusal below is still checked. */
        print_message("%u processes not started: RLIMIT_NOFILE cannot be raised to %u\n",
                      STATIC_BIG, STATIC_BIG * 8 + 4096);
    }

    static ens_child_spec specs[STATIC_BIG];
    static char ids[STATIC_BIG][SPEC_ID_LEN];
    worker_specs(specs, ids, STATIC_BIG, "s");
    ens_sup_flags f = {ENS_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup2 = ENS_ADDR_NONE;
    int rc = ens_supervisor_spawn(t->out, &f, specs, STATIC_BIG, &sup2);
    if (t->base == ENS_BASE_PROCESS) {
        assert_int_equal(rc, ENS_EMSGSIZE);
        assert_non_null(strstr(ens_errmsg(), "ENS_SPAWN_ARG_MAX"));
        assert_non_null(strstr(ens_errmsg(), "configure callback"));
    } else {
        assert_int_equal(rc, 0);
        count_is(t, sup2, STATIC_BIG, STATIC_BIG);
    }
    assert_int_equal(scn_shutdown(t, 120000), 0);
    configure_n = STATIC_N;
}

/* ---- ENS_SUP_START_CONCURRENT -------------------------------------------
 * CONC_N children under one_for_all, started side by side: runs of alike
 * workers go through the batch spawn, one child of another definition
 * (conc_odd_def, at CONC_ODD) splits them. Its init fails when *odd_fail
 * says so: 1 always, 2 once (then it is set back to 0). */
#define CONC_N   300u /* more than the 256 stops a supervisor awaits at once (sup_stop.c) */
#define CONC_ODD 77u
static volatile uint32_t *odd_fail; /* shared with every actor process */

static int conc_odd_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    (void)c;
    (void)state;
    (void)arg;
    uint32_t mode = __atomic_load_n(odd_fail, __ATOMIC_SEQ_CST);
    if (mode == 2 &&
        __atomic_compare_exchange_n(odd_fail, &mode, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return -1;
    if (mode == 1)
        return -1;
    __atomic_add_fetch(inits, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static const ens_actor_def conc_odd_def = {"tmany.Odd", 0,    conc_odd_init, many_receive, NULL,
                                           NULL,        NULL, NULL,          NULL};

static int conc_configure(ens_ctx *c, const ens_msg *arg, ens_sup_flags *flags,
                          ens_child_spec *specs, size_t max, size_t *n)
{
    (void)c;
    (void)arg;
    static char ids[CONC_N][SPEC_ID_LEN];
    *n = CONC_N;
    if (max < CONC_N)
        return 0;
    *flags = (ens_sup_flags){ENS_ONE_FOR_ALL, 100, 60000, ENS_SUP_START_CONCURRENT};
    worker_specs(specs, ids, CONC_N, "c");
    specs[CONC_ODD].def = &conc_odd_def;
    return 0;
}
ENS_SUPERVISOR_DEF(conc_sup_def, "tmany.ConcSup", conc_configure);

/* Every child's address and status by which_children, in start order. */
static void conc_rows(scn *t, ens_addr sup, ens_addr *addrs, int *status)
{
    ens_msg *r = NULL;
    assert_int_equal(ens_supervisor_which_children_page_wait(t->out, sup, 0, CONC_N, &r), 0);
    const ens_sup_children_v *v = ens_msg_value(r, &ens_msg_sup_children);
    assert_non_null(v);
    assert_int_equal(v->children.count, CONC_N);
    const ens_sup_child_info *rows = v->children.items;
    for (uint32_t i = 0; i < CONC_N; i++) {
        char id[12];
        snprintf(id, sizeof(id), "c%u", i);
        assert_string_equal(rows[i].id, id); /* start order = spec order */
        addrs[i] = rows[i].child;
        status[i] = rows[i].status;
    }
    ens_msg_free(r);
}

/* Concurrent start-all, a one_for_all restart-all (one child's restart
 * failing once: tried again, the others keep their addresses), and a start
 * where one child among many fails: the start fails with ENS_EINIT naming
 * it, and every child that started is stopped. */
static void test_concurrent_start(void **state)
{
    scn *t = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.call_timeout_ms = 300000;
    o.log_level = ENS_LOG_ERROR;
    scn_start(t, &o);
    __atomic_store_n(inits, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(odd_fail, 0, __ATOMIC_SEQ_CST);
    size_t base_procs = 0, zombies = 0;
    if (t->base == ENS_BASE_PROCESS)
        descendants(&base_procs, &zombies);
    ens_addr sup = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &conc_sup_def, NULL, NULL, &sup), 0);
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), CONC_N);
    ens_sup_counts_v cnt;
    assert_int_equal(ens_supervisor_count_children_wait(t->out, sup, &cnt), 0);
    assert_int_equal(cnt.specs, CONC_N);
    assert_int_equal(cnt.active, CONC_N);
    static ens_addr addrs[CONC_N], again[CONC_N];
    static int status[CONC_N];
    conc_rows(t, sup, addrs, status);
    for (uint32_t i = 0; i < CONC_N; i++)
        assert_int_equal(status[i], ENS_SUP_CHILD_RUNNING);

    /* Restart-all; the odd child's first restart fails, the retry starts it. */
    __atomic_store_n(odd_fail, 2, __ATOMIC_SEQ_CST);
    assert_int_equal(ens_kill(t->out, addrs[3]), 0);
    int64_t end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
    bool all = false;
    while (!all && scn_now_ns() < end) {
        conc_rows(t, sup, again, status);
        all = __atomic_load_n(odd_fail, __ATOMIC_SEQ_CST) == 0 &&
              __atomic_load_n(inits, __ATOMIC_SEQ_CST) >= 3 * CONC_N - 1;
        for (uint32_t i = 0; all && i < CONC_N; i++)
            all = status[i] == ENS_SUP_CHILD_RUNNING;
        if (!all)
            usleep(20000);
    }
    assert_true(all);
    /* Twice every child but the odd one (the kill, then the odd child's
     * failed restart restarted the group again), the odd one once. */
    /* The others keep their addresses. (A child whose init failed is
     * started anew: its base keeps no address after an init failure, in
     * the ordered start too.) */
    for (uint32_t i = 0; i < CONC_N; i++)
        if (i != CONC_ODD && !ens_addr_equal(again[i], addrs[i]))
            fail_msg("child c%u has a new address after its restart", i);
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), 3 * CONC_N - 1);

    /* One failing child among many at the start: ENS_EINIT naming it, and
     * nothing of that tree left running. */
    assert_int_equal(ens_supervisor_terminate_child_wait(t->out, sup, "c0", ENS_ADDR_NONE), 0);
    assert_int_equal(ens_exit_request(t->out, sup), 0);
    __atomic_store_n(odd_fail, 1, __ATOMIC_SEQ_CST);
    ens_addr sup2 = ENS_ADDR_NONE;
    assert_int_equal(ens_spawn(t->out, &conc_sup_def, NULL, NULL, &sup2), ENS_EINIT);
    assert_non_null(strstr(ens_errmsg(), "c77"));
    if (t->base == ENS_BASE_PROCESS) {
        size_t procs = 0;
        end = scn_now_ns() + (int64_t)SCN_WAIT_MS * 1000000;
        do {
            descendants(&procs, &zombies);
            if (procs <= base_procs && zombies == 0)
                break;
            usleep(20000);
        } while (scn_now_ns() < end);
        assert_int_equal(zombies, 0);
        assert_true(procs <= base_procs);
    }
    __atomic_store_n(odd_fail, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(scn_shutdown(t, 60000), 0);
}

/* ens_supervisor_start_children: START_N dynamic children in one request
 * (through the batch spawn), every one running and listed in order; then a
 * pool of the odd definition whose init fails once (one child among many
 * dropped with ENS_EINIT, the others running), and always (none started). */
#define START_N 300u

static ens_addr start_pool(scn *t, const ens_actor_def *def)
{
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = "p";
    spec.def = def;
    spec.shutdown = ENS_SHUTDOWN_BRUTAL;
    ens_sup_flags f = {ENS_SIMPLE_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup = ENS_ADDR_NONE;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &spec, 1, &sup), 0);
    return sup;
}

static void test_start_children(void **state)
{
    scn *t = *state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.call_timeout_ms = 300000;
    o.log_level = ENS_LOG_ERROR;
    scn_start(t, &o);
    __atomic_store_n(inits, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(odd_fail, 0, __ATOMIC_SEQ_CST);
    static ens_addr out[START_N], again[START_N];
    static int status[START_N];
    static uint32_t restarts[START_N];

    ens_addr sup = start_pool(t, &many_worker_def);
    assert_int_equal(
        ens_supervisor_start_children_wait(t->out, sup, NULL, NULL, START_N, out, status),
        (int)START_N);
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), START_N);
    for (uint32_t i = 0; i < START_N; i++) {
        assert_int_equal(status[i], 0);
        assert_false(ens_addr_is_none(out[i]));
    }
    count_is(t, sup, START_N, START_N);
    read_pages(t, sup, START_N, again, restarts);
    for (uint32_t i = 0; i < START_N; i++)
        assert_true(ens_addr_equal(again[i], out[i])); /* which_children in start order */
    /* Bad requests start nothing. */
    assert_int_equal(ens_supervisor_start_children_wait(t->out, sup, NULL, NULL, 0, out, status),
                     ENS_EINVAL);
    assert_int_equal(ens_supervisor_start_children_wait(t->out, sup, NULL, NULL, 1, NULL, NULL),
                     ENS_EINVAL);
    count_is(t, sup, START_N, START_N);
    /* Terminating every other child leaves holes in the supervisor's
     * start-order array (closed later): the rest keep their order. */
    for (uint32_t i = 0; i < START_N; i += 2)
        assert_int_equal(ens_supervisor_terminate_child_wait(t->out, sup, NULL, out[i]), 0);
    count_is(t, sup, START_N / 2, START_N / 2);
    ens_msg *page = NULL;
    assert_int_equal(ens_supervisor_which_children_page_wait(t->out, sup, 10, START_N, &page), 0);
    const ens_sup_children_v *left = ens_msg_value(page, &ens_msg_sup_children);
    assert_non_null(left);
    assert_int_equal(left->total, START_N / 2);
    assert_int_equal(left->children.count, START_N / 2 - 10);
    for (uint32_t i = 0; i < left->children.count; i++) {
        const ens_sup_child_info *row = &((const ens_sup_child_info *)left->children.items)[i];
        assert_true(ens_addr_equal(row->child, out[2 * (10 + i) + 1]));
    }
    ens_msg_free(page);

    /* One init among many fails: that child alone is dropped (a child
     * whose own notice of its end did not leave is told of by the admin:
     * ens.ctl.Untold). */
    ens_addr odd = start_pool(t, &conc_odd_def);
    __atomic_store_n(inits, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(odd_fail, 2, __ATOMIC_SEQ_CST);
    assert_int_equal(
        ens_supervisor_start_children_wait(t->out, odd, NULL, NULL, START_N, out, status),
        (int)START_N - 1);
    uint32_t failed = 0;
    for (uint32_t i = 0; i < START_N; i++) {
        if (status[i] == 0) {
            assert_false(ens_addr_is_none(out[i]));
            continue;
        }
        failed++;
        assert_int_equal(status[i], ENS_EINIT);
        assert_true(ens_addr_is_none(out[i]));
    }
    assert_int_equal(failed, 1);
    assert_int_equal(__atomic_load_n(inits, __ATOMIC_SEQ_CST), START_N - 1);
    ens_sup_counts_v cnt;
    assert_int_equal(ens_supervisor_count_children_wait(t->out, odd, &cnt), 0);
    assert_int_equal(cnt.specs, START_N - 1);
    assert_int_equal(cnt.active, START_N - 1);

    /* Every init fails: none started, none kept. */
    __atomic_store_n(odd_fail, 1, __ATOMIC_SEQ_CST);
    assert_int_equal(ens_supervisor_start_children_wait(t->out, odd, NULL, NULL, 20, out, status),
                     0);
    for (uint32_t i = 0; i < 20; i++)
        assert_int_equal(status[i], ENS_EINIT);
    assert_int_equal(ens_supervisor_count_children_wait(t->out, odd, &cnt), 0);
    assert_int_equal(cnt.specs, START_N - 1);
    __atomic_store_n(odd_fail, 0, __ATOMIC_SEQ_CST);
    assert_int_equal(scn_shutdown(t, 60000), 0);
}

/* The limits that stay: a page of 0 rows or above ENS_SUP_PAGE_MAX. */
static void test_page_limits(void **state)
{
    scn *t = *state;
    scn_start(t, NULL);
    ens_msg *r = NULL;
    ens_child_spec spec = ENS_CHILD_SPEC_INIT;
    spec.id = "w";
    spec.def = &many_worker_def;
    ens_sup_flags f = {ENS_SIMPLE_ONE_FOR_ONE, 5, 60000, ENS_SUP_START_ORDERED};
    ens_addr sup = ENS_ADDR_NONE;
    assert_int_equal(ens_supervisor_spawn(t->out, &f, &spec, 1, &sup), 0);
    assert_int_equal(ens_supervisor_which_children_page_wait(t->out, sup, 0, 0, &r), ENS_EINVAL);
    assert_int_equal(
        ens_supervisor_which_children_page_wait(t->out, sup, 0, ENS_SUP_PAGE_MAX + 1, &r),
        ENS_EINVAL);
    assert_null(r);
    assert_int_equal(scn_shutdown(t, 30000), 0);
}

int main(void)
{
    void *p =
        mmap(NULL, 2 * sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    inits = p;
    odd_fail = (volatile uint32_t *)p + 1;
    const struct CMUnitTest tests[] = {
        SCN_TEST(test_many_dynamic_children), SCN_TEST(test_static_thousand),
        SCN_TEST(test_static_five_thousand),  SCN_TEST(test_page_limits),
        SCN_TEST(test_concurrent_start),      SCN_TEST(test_start_children),
    };
    return scn_run_bases("supervisor_many", tests, sizeof(tests) / sizeof(tests[0]));
}

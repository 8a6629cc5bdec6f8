/*
 * tests/soak_convention_downs.c - the false-down soak of a convention (run
 * by `make soak`, never by `make test`): three systems of one convention on
 * a private nats-server, each with the default heartbeat (500 ms) and
 * down_after_ms (2000), run for ENS_SOAK_SECONDS (600 unless set) while one
 * spinning child keeps a core busy. A watcher on each system, subscribed to
 * the convention's updates, records every member it is told is unreachable
 * or left (with when, since the start, and the load average of then). No
 * member stops or dies here, so each such report is a false down.
 * Prints a progress line every ENS_PROGRESS_SECONDS (10 unless set) and
 * writes the same figures to ENS_RUN_DIR/convention_downs.csv when that is
 * set (support/progress.h), a line at each new false down, and the count at
 * the end, with every report in detail; exits 1 when the count is above 0, 77 (skipped, said
 * why) when nats-server is not installed, 2 when it cannot start.
 * The spinner and the server are stopped by pid at the end, on every path.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ensemble/ensemble.h"
#include "support/deadline.h"
#include "support/nats_server.h"
#include "support/procfs.h"
#include "support/progress.h"

#define MEMBERS 3
#define POLL_MS 5000  /* how often the watchers are asked, at most */
#define ASK_MS  60000 /* an ask's timeout: generous on a busy machine */

static test_nats server;
static pid_t spinner;
static char conv_name[32];

/* ---- the watcher -------------------------------------------------------- */

/* What a watcher was told of the others going away: "count|details", the
 * details one line per report ("<ms since start> U|L <system> load <1-min
 * load average>"), kept up to the buffer's end (the count is exact). */
typedef struct watcher {
    int64_t start_ms; /* CLOCK_MONOTONIC of the soak's start (its argument) */
    int downs;
    char details[3072];
} watcher;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static double load_1min(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static int watcher_init(ens_ctx *c, void *state, const ens_msg *arg)
{
    watcher *w = state;
    const ens_int64_v *v = arg != NULL ? ens_msg_value(arg, &ens_msg_int64) : NULL;
    w->start_ms = v != NULL ? v->value : now_ms();
    return ens_convention_subscribe(c, true);
}

static int watcher_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    watcher *w = state;
    const ens_convention_update_v *u = ens_msg_value(m, &ens_msg_convention_update);
    if (u != NULL) {
        if (u->change != ENS_MEMBER_UNREACHABLE && u->change != ENS_MEMBER_LEFT)
            return 0;
        w->downs++;
        size_t used = strlen(w->details);
        snprintf(w->details + used, sizeof(w->details) - used, "%lld %c %s load %.2f\n",
                 (long long)(now_ms() - w->start_ms),
                 u->change == ENS_MEMBER_UNREACHABLE ? 'U' : 'L', u->system, load_1min());
        return 0;
    }
    if (ens_msg_value(m, &ens_msg_string) == NULL)
        return 0;
    char text[sizeof(w->details) + 16];
    snprintf(text, sizeof(text), "%d|%s", w->downs, w->details);
    return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
}

static const ens_actor_def watcher_def = {.name = "soak.Watcher",
                                          .state_size = sizeof(watcher),
                                          .init = watcher_init,
                                          .receive = watcher_receive};

/* ---- the rest ---------------------------------------------------------- */

static void stop_spinner(void)
{
    if (spinner > 0) {
        kill(spinner, SIGKILL);
        while (waitpid(spinner, NULL, 0) < 0 && errno == EINTR)
            ;
        spinner = 0;
    }
}

static void cleanup(void)
{
    stop_spinner();
    test_nats_stop(&server);
}

/* A child that spins until killed: one core kept busy. */
static pid_t start_spinner(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        volatile unsigned long x = 0;
        for (;;)
            x++;
    }
    return pid;
}

/* The RSS of s's processes (its admin and actors) in KiB; 0 when its status
 * cannot be had. */
static long system_rss_kib(ens_system *s)
{
    ens_status *st = NULL;
    if (ens_system_status(s, ASK_MS, &st) < 0)
        return 0;
    long total = test_rss_kib(ens_status_admin_pid(st));
    for (size_t i = 0; i < ens_status_count(st); i++)
        total += (long)ens_status_at(st, i)->rss_kib;
    ens_status_free(st);
    return total > 0 ? total : 0;
}

/* What the watcher at w on s says: its count, and its details in text;
 * -1 when it did not answer. */
static int ask_watcher(ens_system *s, ens_addr w, char *text, size_t len)
{
    ens_msg *r = NULL;
    int rc = ens_ask(ens_system_ctx(s), w, &ens_msg_string, &(ens_string_v){"?"}, ASK_MS, &r);
    if (rc < 0) {
        snprintf(text, len, "ask failed: %s", ens_strerror(rc));
        return -1;
    }
    const ens_string_v *v = ens_msg_value(r, &ens_msg_string);
    int count = -1;
    const char *bar = v != NULL ? strchr(v->text, '|') : NULL;
    if (bar != NULL) {
        count = atoi(v->text);
        snprintf(text, len, "%s", bar + 1);
    }
    ens_msg_free(r);
    return count;
}

int main(void)
{
    long seconds = 600;
    const char *env = getenv("ENS_SOAK_SECONDS");
    if (env != NULL && atol(env) > 0)
        seconds = atol(env);
    if (test_nats_program() == NULL) {
        printf("soak_convention_downs: nats-server is not installed: skipped\n");
        return 77;
    }
    atexit(cleanup);
    if (ens_actor_register(&watcher_def) < 0 || test_nats_start(&server, TEST_WAIT_MS) < 0) {
        fprintf(stderr, "soak_convention_downs: cannot start nats-server\n");
        return 2;
    }
    snprintf(conv_name, sizeof(conv_name), "soak%d", (int)getpid());
    ens_system *sys[MEMBERS] = {0};
    ens_addr watch[MEMBERS];
    const int64_t start = now_ms();
    for (int i = 0; i < MEMBERS; i++) {
        char name[48];
        snprintf(name, sizeof(name), "soak-%c-%d", 'a' + i, (int)getpid());
        ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
        o.name = name;
        o.journal_path = "";
        o.log_path = "/dev/null";
        o.convention.servers = server.url;
        o.convention.name = conv_name; /* heartbeat_ms and down_after_ms: the defaults */
        fflush(NULL);
        int rc = ens_system_start(&o, &sys[i]);
        if (rc == 0)
            rc = ens_spawn(ens_system_ctx(sys[i]), &watcher_def, &ens_msg_int64,
                           &(ens_int64_v){start}, &watch[i]);
        if (rc < 0) {
            fprintf(stderr, "soak_convention_downs: start member %d: %s\n", i, ens_strerror(rc));
            for (int j = 0; j <= i; j++)
                if (sys[j] != NULL)
                    ens_system_stop(sys[j], 5000);
            return 2;
        }
    }
    spinner = start_spinner();
    if (spinner < 0) {
        fprintf(stderr, "soak_convention_downs: fork the spinner: %s\n", strerror(errno));
        return 2;
    }
    printf("soak_convention_downs: %d members, heartbeat %u ms, down after %u ms, one core "
           "spinning, %ld s\n",
           MEMBERS, ENS_CONVENTION_HEARTBEAT_MS, ENS_CONVENTION_DOWN_AFTER_MS, seconds);
    fflush(stdout);

    int downs = 0, told = 0;
    char text[MEMBERS][4096];
    bool answered = true;
    static const char *const columns[] = {"false_downs", "load_x100", "rss_kib", "worst_rss_kib"};
    test_progress progress;
    test_progress_open(&progress, "convention_downs", columns,
                       sizeof(columns) / sizeof(columns[0]));
    int poll_ms =
        progress.interval_ns / 1000000 < POLL_MS ? (int)(progress.interval_ns / 1000000) : POLL_MS;
    long rss = 0, worst_rss = 0;
    test_deadline end = test_deadline_in((int64_t)seconds * 1000);
    for (bool last = false; !last;) {
        last = test_deadline_passed(end);
        if (!last)
            ens_system_run(sys[0], poll_ms); /* the wait between polls */
        downs = 0;
        for (int i = 0; i < MEMBERS; i++) {
            int n = ask_watcher(sys[i], watch[i], text[i], sizeof(text[i]));
            if (n < 0)
                answered = false;
            else
                downs += n;
        }
        if (downs != told) {
            printf("soak_convention_downs: %lld s: %d false downs, load %.2f\n",
                   (long long)((now_ms() - start) / 1000), downs, load_1min());
            fflush(stdout);
            told = downs;
        }
        if (test_progress_due(&progress) || last) {
            rss = 0;
            for (int i = 0; i < MEMBERS; i++)
                rss += system_rss_kib(sys[i]);
            if (rss > worst_rss)
                worst_rss = rss;
            int64_t figures[] = {downs, (int64_t)(load_1min() * 100), rss, worst_rss};
            if (last)
                test_progress_tick_now(&progress, figures);
            else
                test_progress_tick(&progress, figures);
        }
        if (!answered)
            break;
    }
    test_progress_close(&progress);
    stop_spinner();
    for (int i = 0; i < MEMBERS; i++)
        if (text[i][0] != '\0')
            printf("watcher on soak-%c was told (ms since start, change, member, load):\n%s",
                   'a' + i, text[i]);
    printf("soak_convention_downs: %d false downs (unreachable or left) in %lld s%s\n", downs,
           (long long)((now_ms() - start) / 1000), answered ? "" : "; a watcher did not answer");
    for (int i = 0; i < MEMBERS; i++)
        ens_system_stop(sys[i], 5000);
    return downs > 0 || !answered ? 1 : 0;
}

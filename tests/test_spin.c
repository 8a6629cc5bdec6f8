/*
 * tests/test_spin.c - the adaptive spin before a process of the process
 * base sleeps (ens_system_opts.spin_us, core/process/proc_spin.h): with it
 * on, an idle system uses no measurable CPU once its traffic ended, and
 * messages are still handled in the order they were sent, requests
 * answered in between.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/process/proc_spin.h"
#include "ensemble/ensemble.h"

#define WAIT_MS     30000u
#define IDLE_ACTORS 50

/* Counts int64 messages and checks each is the next one; an ask with -1
 * replies with the count, or -1 - count if one came out of order. */
typedef struct {
    int64_t next;
    bool out_of_order;
} seq_state;

static int seq_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    seq_state *s = state;
    const ens_int64_v *v = ens_msg_value(m, &ens_msg_int64);
    if (v == NULL)
        return 0;
    if (v->value == -1) {
        ens_int64_v r = {s->out_of_order ? -1 - s->next : s->next};
        return ens_reply(c, &ens_msg_int64, &r);
    }
    if (v->value != s->next)
        s->out_of_order = true;
    s->next++;
    return 0;
}

static const ens_actor_def seq_def = {
    "test.Seq", sizeof(seq_state), NULL, seq_receive, NULL, NULL, NULL, NULL, NULL};

static ens_system *start(uint32_t spin_us)
{
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.journal_path = "";
    o.call_timeout_ms = WAIT_MS;
    o.spin_us = spin_us;
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(&o, &s), 0);
    return s;
}

static void test_default_is_on(void **state)
{
    (void)state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    assert_int_equal(o.spin_us, ENS_SPIN_US_DEFAULT);
    assert_true(o.spin_us > 0);
}

/* The echo of test_spin_for_a_peer_on_the_same_cpu_never_pays: answers each
 * byte a few microseconds after it came (a timer wakes it: as a real-time
 * process on the spinner's CPU it then preempts the spinner at once),
 * until the socket closes. */
static void late_echo(int fd)
{
    char b;
    while (read(fd, &b, 1) == 1) {
        struct timespec d = {0, 30000};
        clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
        if (write(fd, &b, 1) != 1)
            break;
    }
    _exit(0);
}

/* A peer that shares the spinner's CPU can answer only when the spinner
 * loses the CPU: such a spin must count as a miss even though the answer
 * is there when it ends (else the spin never backs off where it cannot
 * pay, and costs every round trip a preemption and the rest of a spin).
 * The peer is a SCHED_FIFO process pinned to the same CPU, so it runs in
 * the middle of a spin, deterministically. */
static void test_spin_for_a_peer_on_the_same_cpu_never_pays(void **state)
{
    (void)state;
    cpu_set_t was, one;
    assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &was))
        cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        late_echo(sv[1]);
    }
    close(sv[1]);
    struct sched_param prio = {.sched_priority = 1};
    const bool rt = sched_setscheduler(pid, SCHED_FIFO, &prio) == 0;
    const int rt_errno = errno;
    ens_spin sp;
    ens__spin_init(&sp, ENS_SPIN_US_DEFAULT);
    bool echoed = true;
    for (int i = 0; rt && echoed && i < 300; i++) {
        char b = (char)i, r;
        echoed = write(sv[0], &b, 1) == 1;
        ens__spin_traffic(&sp); /* a conversation: the spin engages */
        (void)ens__spin_before_wait(&sp, sv[0]);
        echoed = echoed && read(sv[0], &r, 1) == 1 && r == b;
    }
    close(sv[0]); /* the echo ends */
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
    if (!rt) {
        print_message("skipped: SCHED_FIFO refused (%s)\n", strerror(rt_errno));
        skip();
    }
    assert_true(echoed);
    uint64_t paid, wasted, sleeps;
    ens__spin_counts(&sp, &paid, &wasted, &sleeps);
    print_message("same cpu: %llu paid, %llu wasted, %llu sleeps\n", (unsigned long long)paid,
                  (unsigned long long)wasted, (unsigned long long)sleeps);
    assert_int_equal(paid, 0);
}

static void test_messages_stay_in_order_under_spin(void **state)
{
    (void)state;
    ens_system *s = start(ENS_SPIN_US_DEFAULT);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr seq;
    assert_int_equal(ens_spawn(out, &seq_def, NULL, NULL, &seq), 0);
    for (int64_t i = 0; i < 20000; i++) {
        ens_int64_v v = {i};
        assert_int_equal(ens_send(out, seq, &ens_msg_int64, &v), 0);
        if (i % 100 == 99) { /* a request among the messages, answered after them */
            ens_int64_v q = {-1};
            ens_msg *m = NULL;
            assert_int_equal(ens_ask(out, seq, &ens_msg_int64, &q, WAIT_MS, &m), 0);
            const ens_int64_v *r = ens_msg_value(m, &ens_msg_int64);
            assert_non_null(r);
            assert_int_equal(r->value, i + 1);
            ens_msg_free(m);
        }
    }
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
}

/* utime + stime of pid in clock ticks, or -1. */
static long long cpu_ticks(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long long ut, st;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static long long system_ticks(ens_system *s)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    long long sum = cpu_ticks(ens_status_admin_pid(st));
    assert_true(sum >= 0);
    assert_int_equal(ens_status_count(st), IDLE_ACTORS);
    for (size_t i = 0; i < ens_status_count(st); i++) {
        long long t = cpu_ticks(ens_status_at(st, i)->pid);
        assert_true(t >= 0);
        sum += t;
    }
    ens_status_free(st);
    return sum;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* A resource check, not a timing: after traffic, the actors and the admin
 * of a quiet system use well under 5 % of a core over 3 s (each spins at
 * most once, for 50 us, after its last message; spinning on would be 100 %
 * of a core per actor). */
static void test_idle_system_stays_idle_with_spin_on(void **state)
{
    (void)state;
    ens_system *s = start(ENS_SPIN_US_DEFAULT);
    ens_ctx *out = ens_system_ctx(s);
    for (int i = 0; i < IDLE_ACTORS; i++) {
        ens_addr a;
        assert_int_equal(ens_spawn(out, &seq_def, NULL, NULL, &a), 0);
        for (int64_t k = 0; k < 50; k++) { /* a conversation: the spin engages */
            ens_int64_v v = {k};
            assert_int_equal(ens_send(out, a, &ens_msg_int64, &v), 0);
        }
        ens_int64_v q = {-1};
        ens_msg *m = NULL;
        assert_int_equal(ens_ask(out, a, &ens_msg_int64, &q, WAIT_MS, &m), 0);
        ens_msg_free(m);
    }
    pause_ms(500); /* let the last spins end (50 us each) */
    long long t0 = system_ticks(s);
    const long window_ms = 3000;
    pause_ms(window_ms);
    long long used = system_ticks(s) - t0;
    long long core = sysconf(_SC_CLK_TCK) * window_ms / 1000;
    print_message("idle: %lld ticks of %lld (one core over the window)\n", used, core);
    assert_true(used * 20 < core);
    assert_int_equal(ens_system_close(s, WAIT_MS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_on),
        cmocka_unit_test(test_spin_for_a_peer_on_the_same_cpu_never_pays),
        cmocka_unit_test(test_messages_stay_in_order_under_spin),
        cmocka_unit_test(test_idle_system_stays_idle_with_spin_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

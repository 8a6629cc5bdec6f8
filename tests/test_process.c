/*
 * tests/test_process.c - what only the process base can do: survive hard
 * crashes of actor processes without losing a queued message, end every
 * process it started, carry messages larger than a socket buffer, and hold
 * senders back instead of growing without bound.
 *
 * Handlers never assert (they run in other processes): they report in
 * messages, and the test asserts on those. Waiting is always ens_ask /
 * ens_listen with a timeout, or poll() on a pidfd for a process to end.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/deadline.h"
#include "support/procfs.h"

#include "ensemble/ensemble.h"

#define WAIT_MS 30000

/* {op, arg}: what a Victim should do with a message. */
typedef struct {
    int32_t op;
    int32_t arg;
    int64_t seq;
} cmd_v;
static ens_msgtype cmd_t = {"ptest.Cmd", "S(iiI)", sizeof(cmd_v), 0, 0, NULL};

/* A report: what the actor saw. */
typedef struct {
    int64_t seq;
    int32_t attempt;
    int32_t pid;
    int32_t ppid;
    uint32_t incarnation_hint;
} seen_v;
static ens_msgtype seen_t = {"ptest.Seen", "S(Iiiiu)", sizeof(seen_v), 0, 0, NULL};

enum {
    OP_ECHO = 1,      /* reply with what was seen */
    OP_SEGV_ONCE,     /* crash with SIGSEGV on attempt 1, then reply */
    OP_ABORT_ALWAYS,  /* abort() on every attempt */
    OP_HANG_ONCE,     /* tell the outside "in", then block until killed; attempt 2 replies */
    OP_NOTE,          /* tell the outside what was seen (a tell, no reply) */
    OP_FLOOD,         /* send arg messages to the outside in one handler, report EFULLs */
    OP_COUNT,         /* count seq in the shared area; arg: COUNT_* */
    OP_SPAWN_CRASHER, /* spawn a child that aborts on every message, send it arg of them */
};

enum {
    COUNT_PLAIN = 0,
    COUNT_SEGV_ONCE, /* SIGSEGV on attempt 1, before counting */
    COUNT_ABORT,     /* abort on every attempt: never counted, poisoned */
    COUNT_FLAG,      /* count, then raise the flag with this process's pid */
};

/* A page shared with every process of the system (mapped before the system
 * starts, so the admin and the actors inherit it): a handler raises the flag
 * and wakes the test through a futex, so the test knows without polling that
 * the handler is running. */
static volatile uint32_t *in_handler;

/* The rest of the shared area: for the kill storm, how often each message
 * was handled, and the pid of the process that raised the flag. */
#define STORM_N 10000
typedef struct {
    volatile int32_t pid;
    volatile uint8_t handled[STORM_N + 1];
} storm_area;
static storm_area *storm;

static void raise_flag(void)
{
    *in_handler = 1;
    syscall(SYS_futex, (uint32_t *)in_handler, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static bool wait_flag(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (*in_handler == 0) {
        if (syscall(SYS_futex, (uint32_t *)in_handler, FUTEX_WAIT, 0, &ts, NULL, 0) < 0 &&
            errno == ETIMEDOUT)
            return *in_handler != 0;
    }
    return true;
}

typedef struct {
    int32_t last_full; /* ENS_EFULL answers seen by the last OP_FLOOD */
} victim_state;

/* A real NULL dereference, hidden from UBSan (which would turn it into an
 * abort before the hardware fault). */
static volatile int *volatile null_ptr; /* the compiler cannot know it stays NULL */

__attribute__((no_sanitize("undefined"), noinline)) static void null_store(void)
{
    *null_ptr = 1;
}

static int victim_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    victim_state *vs = st;
    const ens_bytes_v *b = ens_msg_value(m, &ens_msg_bytes);
    if (b != NULL)
        return ens_reply(c, &ens_msg_bytes, b);
    const cmd_v *v = ens_msg_value(m, &cmd_t);
    if (v == NULL)
        return 0;
    seen_v s = {v->seq, (int32_t)ens_msg_attempt(m), (int32_t)getpid(), (int32_t)getppid(), 0};
    switch (v->op) {
    case OP_SEGV_ONCE:
        if (ens_msg_attempt(m) == 1)
            raise(SIGSEGV);
        break;
    case OP_ABORT_ALWAYS:
        abort();
    case OP_HANG_ONCE:
        if (ens_msg_attempt(m) == 1) {
            raise_flag();
            for (;;)
                pause(); /* until the test kills this process */
        }
        break;
    case OP_NOTE:
        return ens_send(c, ens_sender(c), &seen_t, &s);
    case OP_COUNT:
        if (v->arg == COUNT_SEGV_ONCE && ens_msg_attempt(m) == 1)
            null_store(); /* a real NULL dereference */
        if (v->arg == COUNT_ABORT)
            abort();
        storm->handled[v->seq]++;
        if (v->arg == COUNT_FLAG && ens_msg_attempt(m) == 1) {
            /* Wait here for the test's SIGKILL: a fast actor would
             * otherwise reach the abort at 5 000 (and end this process)
             * before the test reacts to the flag. */
            storm->pid = getpid();
            raise_flag();
            for (;;)
                pause();
        }
        return 0;
    case OP_FLOOD: {
        int32_t full = 0;
        for (int32_t i = 0; i < v->arg; i++) {
            ens_int64_v x = {i};
            int rc = ens_send(c, ens_sender(c), &ens_msg_int64, &x);
            if (rc == ENS_EFULL)
                full++;
            else if (rc != 0)
                return rc;
        }
        vs->last_full = full;
        return 0;
    }
    case OP_ECHO:
        if (v->arg == 1)
            s.seq = vs->last_full;
        break;
    default:
        break;
    }
    return ens_reply(c, &seen_t, &s);
}

static int crasher_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    (void)c;
    (void)st;
    if (ens_msg_value(m, &cmd_t) != NULL)
        abort();
    return 0;
}

static const ens_actor_def crasher_def = {
    "ptest.Crasher", 0, NULL, crasher_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct {
    ens_addr outside;
} watcher_state;

/* Spawns a crasher, feeds it, and tells the outside how it ended. */
static int watcher_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    watcher_state *ws = st;
    const cmd_v *v = ens_msg_value(m, &cmd_t);
    if (v != NULL && v->op == OP_SPAWN_CRASHER) {
        ws->outside = ens_sender(c);
        ens_addr child;
        int rc = ens_spawn(c, &crasher_def, NULL, NULL, &child);
        if (rc < 0)
            return rc;
        for (int32_t i = 0; i < v->arg; i++) {
            cmd_v x = {OP_ECHO, 0, i};
            ens_send(c, child, &cmd_t, &x);
        }
        char text[ENS_ADDR_STRLEN];
        ens_addr_format(child, text, sizeof(text));
        return ens_reply(c, &ens_msg_string, &(ens_string_v){text});
    }
    const ens_child_exited_v *ce = ens_msg_value(m, &ens_msg_child_exited);
    if (ce != NULL) {
        seen_v s = {ce->reason, ce->signal, 0, 0, ce->incarnation};
        return ens_send(c, ws->outside, &seen_t, &s);
    }
    return 0;
}

static const ens_actor_def watcher_def = {
    "ptest.Watcher", sizeof(watcher_state), NULL, watcher_receive, NULL, NULL, NULL, NULL, NULL};

static const ens_actor_def victim_def = {
    "ptest.Victim", sizeof(victim_state), NULL, victim_receive, NULL, NULL, NULL, NULL, NULL};

static int crash_init(ens_ctx *c, void *st, const ens_msg *arg)
{
    (void)c;
    (void)st;
    (void)arg;
    raise(SIGSEGV);
    return 0;
}

static const ens_actor_def crash_init_def = {
    "ptest.CrashInit", 0, crash_init, victim_receive, NULL, NULL, NULL, NULL, NULL};

/* The system of the running test, shut down by the teardown when an
 * assertion ends the test early, so no process outlives a failed test. */
static ens_system *current;

static int teardown(void **state)
{
    (void)state;
    if (current != NULL)
        ens_system_close(current, 5000);
    current = NULL;
    return 0;
}

static int stop(ens_system *s, uint32_t timeout_ms)
{
    current = NULL;
    return ens_system_close(s, timeout_ms);
}

static ens_system *start(ens_system_opts *o)
{
    ens_system_opts d = ENS_SYSTEM_OPTS_INIT;
    if (o == NULL)
        o = &d;
    o->base = ENS_BASE_PROCESS;
    o->log_level = getenv("ENS_TEST_LOG") ? ENS_LOG_DEBUG : ENS_LOG_ERROR;
    ens_system *s = NULL;
    assert_int_equal(ens_system_start(o, &s), 0);
    current = s;
    return s;
}

static seen_v ask_cmd(ens_system *s, ens_addr to, int32_t op, int64_t seq)
{
    cmd_v c = {op, 0, seq};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(ens_system_ctx(s), to, &cmd_t, &c, WAIT_MS, &r), 0);
    const seen_v *v = ens_msg_value(r, &seen_t);
    assert_non_null(v);
    seen_v out = *v;
    ens_msg_free(r);
    return out;
}

static void test_segv_redelivers_in_flight_and_keeps_queue(void **state)
{
    (void)state;
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
    seen_v first = ask_cmd(s, v, OP_ECHO, 0);
    /* Queue: a crash-once message, then 100 notes behind it. */
    cmd_v crash = {OP_SEGV_ONCE, 0, 1000};
    assert_int_equal(ens_send(out, v, &cmd_t, &crash), 0);
    for (int64_t i = 1; i <= 100; i++) {
        cmd_v note = {OP_NOTE, 0, i};
        assert_int_equal(ens_send(out, v, &cmd_t, &note), 0);
    }
    /* The crash-once message's reply goes nowhere (it was a tell: its reply
     * reaches the outside as a plain message), then the notes, in order,
     * each exactly once. */
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
    const seen_v *sv = ens_msg_value(m, &seen_t);
    assert_non_null(sv);
    assert_int_equal(sv->seq, 1000);
    assert_int_equal(sv->attempt, 2);         /* redelivered after the crash */
    assert_int_not_equal(sv->pid, first.pid); /* by a new process */
    assert_int_equal(sv->ppid, first.ppid);   /* of the same admin */
    ens_msg_free(m);
    for (int64_t i = 1; i <= 100; i++) {
        assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
        sv = ens_msg_value(m, &seen_t);
        assert_non_null(sv);
        assert_int_equal(sv->seq, i);
        assert_int_equal(sv->attempt, 1);
        ens_msg_free(m);
    }
    assert_int_equal(ens_listen(out, 200, &m), ENS_ETIMEDOUT);
    /* Same address, still serving. */
    assert_int_equal(ask_cmd(s, v, OP_ECHO, 7).seq, 7);
    assert_int_equal(stop(s, WAIT_MS), 0);
    assert_true(test_gone_within((int)first.ppid, 5000));
}

static void test_second_crash_poisons_with_signal(void **state)
{
    (void)state;
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
    cmd_v c = {OP_ABORT_ALWAYS, 0, 5};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, v, &cmd_t, &c, WAIT_MS, &r), ENS_EPOISON);
    const ens_poison_v *p = ens_msg_value(r, &ens_msg_poison);
    assert_non_null(p);
    assert_int_equal(p->signal, SIGABRT);
    assert_int_equal(p->attempts, 2);
    assert_true(ens_addr_equal(p->target, v));
    const ens_msg *orig = ens_poison_original(r);
    assert_non_null(orig);
    const cmd_v *oc = ens_msg_value(orig, &cmd_t);
    assert_non_null(oc);
    assert_int_equal(oc->seq, 5);
    ens_msg_free(r);
    /* Restarted once more, it goes on with the next message. */
    assert_int_equal(ask_cmd(s, v, OP_ECHO, 6).seq, 6);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

static void test_sigkill_from_outside_redelivers(void **state)
{
    (void)state;
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
    seen_v first = ask_cmd(s, v, OP_ECHO, 0);
    *in_handler = 0;
    cmd_v c = {OP_HANG_ONCE, 0, 9};
    ens_msg *r = NULL;
    /* The ask blocks while the handler hangs: send it as a tell, wait for
     * the flag, kill, then collect the redelivered message's reply. */
    assert_int_equal(ens_send(out, v, &cmd_t, &c), 0);
    for (int64_t i = 1; i <= 10; i++) {
        cmd_v note = {OP_NOTE, 0, i};
        assert_int_equal(ens_send(out, v, &cmd_t, &note), 0);
    }
    ens_system_run(s, 0); /* let the sends leave */
    assert_true(wait_flag(WAIT_MS));
    assert_int_equal(kill(first.pid, SIGKILL), 0);
    assert_int_equal(ens_listen(out, WAIT_MS, &r), 0);
    const seen_v *sv = ens_msg_value(r, &seen_t);
    assert_non_null(sv);
    assert_int_equal(sv->seq, 9);
    assert_int_equal(sv->attempt, 2);
    assert_int_not_equal(sv->pid, first.pid);
    ens_msg_free(r);
    for (int64_t i = 1; i <= 10; i++) {
        assert_int_equal(ens_listen(out, WAIT_MS, &r), 0);
        sv = ens_msg_value(r, &seen_t);
        assert_non_null(sv);
        assert_int_equal(sv->seq, i);
        ens_msg_free(r);
    }
    assert_int_equal(stop(s, WAIT_MS), 0);
}

static void test_crash_in_init_is_not_restarted(void **state)
{
    (void)state;
    ens_system *s = start(NULL);
    ens_addr v;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &crash_init_def, NULL, NULL, &v), ENS_EINIT);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

static void test_admin_death_ends_every_actor(void **state)
{
    (void)state;
    /* Orphaned actors come to us (not to init) so we can reap them. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    pid_t pids[5];
    pid_t admin = 0;
    for (int i = 0; i < 5; i++) {
        ens_addr v;
        assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
        seen_v sv = ask_cmd(s, v, OP_ECHO, i);
        pids[i] = sv.pid;
        admin = sv.ppid;
    }
    assert_int_equal(kill(admin, SIGKILL), 0);
    for (int i = 0; i < 5; i++)
        assert_true(test_gone_within((int)pids[i], 2000));
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(out, WAIT_MS, &m), ENS_ESHUTDOWN);
    stop(s, 1000);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* The admin of s, from its status. */
static pid_t admin_of(ens_system *s)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
    pid_t admin = ens_status_admin_pid(st);
    ens_status_free(st);
    assert_true(admin > 0);
    return admin;
}

/* Call ens_system_run until it says something other than 0 (each call
 * waits at most a second), for at most WAIT_MS. */
static int run_until_not_0(ens_system *s)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int rc = ens_system_run(s, 1000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (rc != 0 || (now.tv_sec - t0.tv_sec) * 1000 > WAIT_MS)
            return rc;
    }
}

static void test_run_after_admin_death_says_shutdown_and_reaps(void **state)
{
    (void)state;
    /* Orphaned actors come to us (not to init) so we can reap them. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ens_system *s = start(NULL);
    ens_addr v;
    assert_int_equal(ens_spawn(ens_system_ctx(s), &victim_def, NULL, NULL, &v), 0);
    pid_t admin = admin_of(s);
    assert_int_equal(test_ppid_of((int)admin), (int)getpid()); /* ours to reap */
    assert_int_equal(ens_system_run(s, 0), 0);
    assert_int_equal(kill(admin, SIGKILL), 0);
    assert_int_equal(run_until_not_0(s), ENS_ESHUTDOWN);
    assert_int_equal(ens_system_run(s, 0), ENS_ESHUTDOWN);
    /* Reaped by the call that saw the end: no zombie is left. */
    errno = 0;
    assert_int_equal(waitpid(admin, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", (int)admin);
    assert_int_equal(access(path, F_OK), -1);
    stop(s, 1000);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void test_run_after_persistent_admin_death_says_shutdown(void **state)
{
    (void)state;
    /* The persistent admin is nobody's child: the runtime must not wait for
     * it; we become its reaper here so the test leaves no zombie. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    char name[64];
    snprintf(name, sizeof(name), "ptest-persistent-%d", (int)getpid());
    o.name = name;
    o.journal_path = "";
    o.persistent = true;
    ens_system *s = start(&o);
    pid_t admin = admin_of(s);
    assert_int_equal(kill(admin, SIGKILL), 0);
    assert_int_equal(run_until_not_0(s), ENS_ESHUTDOWN);
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(ens_system_ctx(s), 0, &m), ENS_ESHUTDOWN);
    stop(s, 1000);
    assert_true(test_gone_within((int)admin, WAIT_MS));
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void test_killed_starter_ends_its_system(void **state)
{
    (void)state;
    /* The starter's orphans come to us (not init), so we can reap them. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t starter = fork();
    assert_true(starter >= 0);
    if (starter == 0) {
        close(fds[0]);
        ens_system *s = NULL;
        ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
        o.log_level = ENS_LOG_ERROR;
        ens_addr v;
        if (ens_system_start(&o, &s) != 0 ||
            ens_spawn(ens_system_ctx(s), &victim_def, NULL, NULL, &v) != 0)
            _exit(1);
        cmd_v c = {OP_ECHO, 0, 0};
        ens_msg *r = NULL;
        if (ens_ask(ens_system_ctx(s), v, &cmd_t, &c, WAIT_MS, &r) != 0)
            _exit(2);
        const seen_v *sv = ens_msg_value(r, &seen_t);
        int32_t pids[2] = {sv->pid, sv->ppid};
        if (write(fds[1], pids, sizeof(pids)) != (ssize_t)sizeof(pids))
            _exit(3);
        raise(SIGKILL); /* no shutdown, no exit handlers */
    }
    close(fds[1]);
    int32_t pids[2] = {0, 0};
    ssize_t n = read(fds[0], pids, sizeof(pids));
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(starter, &status, 0), starter);
    assert_int_equal(n, (ssize_t)sizeof(pids));
    assert_true(WIFSIGNALED(status));
    /* The admin dies with its starter, the actor with its admin. */
    assert_true(test_gone_within((int)pids[1], 5000));
    assert_true(test_gone_within((int)pids[0], 5000));
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void test_shutdown_leaves_no_process(void **state)
{
    (void)state;
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    pid_t pids[8];
    pid_t admin = 0;
    for (int i = 0; i < 8; i++) {
        ens_addr v;
        assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
        seen_v sv = ask_cmd(s, v, OP_ECHO, i);
        pids[i] = sv.pid;
        admin = sv.ppid;
        /* ps shows the actor's type, system and address (the named forms:
         * tests/test_proctitle.c). */
        char path[64], cmdline[256] = "";
        snprintf(path, sizeof(path), "/proc/%d/cmdline", sv.pid);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        size_t n = fread(cmdline, 1, sizeof(cmdline) - 1, f);
        fclose(f);
        cmdline[n] = '\0';
        char want[160];
        char a[ENS_ADDR_STRLEN];
        ens_addr_format(v, a, sizeof(a));
        snprintf(want, sizeof(want), "ens: ptest.Victim %s %s", ens_system_options(s)->name, a);
        assert_string_equal(cmdline, want);
    }
    assert_int_equal(stop(s, WAIT_MS), 0);
    for (int i = 0; i < 8; i++)
        assert_true(test_gone_within((int)pids[i], 100));
    assert_true(test_gone_within((int)admin, 100));
}

static void test_large_messages_cross_processes(void **state)
{
    (void)state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.max_frame_bytes = (16u << 20) + 4096;
    ens_system *s = start(&o);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
    size_t sizes[] = {1u << 20, 16u << 20};
    for (size_t k = 0; k < 2; k++) {
        uint8_t *data = malloc(sizes[k]);
        assert_non_null(data);
        for (size_t i = 0; i < sizes[k]; i++)
            data[i] = (uint8_t)(i * 7 + k);
        ens_bytes_v b = {{data, (uint32_t)sizes[k]}};
        ens_msg *r = NULL;
        assert_int_equal(ens_ask(out, v, &ens_msg_bytes, &b, WAIT_MS, &r), 0);
        const ens_bytes_v *back = ens_msg_value(r, &ens_msg_bytes);
        assert_non_null(back);
        assert_int_equal(back->data.len, sizes[k]);
        assert_memory_equal(back->data.data, data, sizes[k]);
        ens_msg_free(r);
        free(data);
    }
    /* Above the limit: refused at the sender. */
    uint8_t *big = calloc(1, o.max_frame_bytes);
    assert_non_null(big);
    ens_bytes_v b = {{big, o.max_frame_bytes}};
    assert_int_equal(ens_send(out, v, &ens_msg_bytes, &b), ENS_EMSGSIZE);
    free(big);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

/* Send a tell, making room (not dropping) when the destination is full. */
static void tell(ens_system *s, ens_addr to, const ens_msgtype *t, const void *v)
{
    int rc;
    while ((rc = ens_send(ens_system_ctx(s), to, t, v)) == ENS_EFULL)
        ens_system_run(s, 100);
    assert_int_equal(rc, 0);
}

/* Large messages travel in pieces; a SIGKILL while pieces are in flight
 * loses none of them and garbles nothing. */
static void test_kill_during_large_transfers_loses_nothing(void **state)
{
    (void)state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.max_frame_bytes = 4u << 20;
    ens_system *s = start(&o);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
    enum { N = 14, SIZE = 2u << 20 };
    uint8_t *data = malloc(SIZE);
    assert_non_null(data);
    for (int k = 0; k < N; k++) {
        for (size_t i = 0; i < SIZE; i++)
            data[i] = (uint8_t)(i * 13 + (size_t)k * 7 + (i >> 12));
        ens_bytes_v b = {{data, SIZE}};
        tell(s, v, &ens_msg_bytes, &b);
    }
    int next = 0, kills = 0;
    while (next < N) {
        ens_system_run(s, 0);
        ens_msg *m = NULL;
        assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
        /* A message in hand at two kills (the victim may run ahead of the
         * replies it sends) comes back as poison: dealt with all the same. */
        const ens_msg *orig = ens_poison_original(m);
        const ens_bytes_v *back = ens_msg_value(orig != NULL ? orig : m, &ens_msg_bytes);
        assert_non_null(back);
        assert_int_equal(back->data.len, SIZE);
        const uint8_t *got = back->data.data;
        int k = -1;
        for (int c = (next > 0 ? next - 1 : 0); c <= next && k < 0; c++) {
            bool same = true;
            for (size_t i = 0; i < SIZE && same; i += 4093)
                same = got[i] == (uint8_t)(i * 13 + (size_t)c * 7 + (i >> 12));
            if (same)
                k = c;
        }
        if (k < 0) {
            int was = -1;
            for (int c = 0; c < N && was < 0; c++) {
                bool same = true;
                for (size_t i = 0; i < SIZE && same; i += 4093)
                    same = got[i] == (uint8_t)(i * 13 + (size_t)c * 7 + (i >> 12));
                if (same)
                    was = c;
            }
            fail_msg("reply %d is message %d (-1: none of those sent)", next, was);
        }
        ens_msg_free(m);
        const bool advanced = k == next; /* (else the one in hand at a kill, again) */
        if (advanced)
            next++;
        if (advanced && kills < 6 && next % 2 == 1) {
            ens_status *st = NULL;
            assert_int_equal(ens_system_status(s, WAIT_MS, &st), 0);
            pid_t pid = ens_status_at(st, 0)->pid;
            ens_status_free(st);
            assert_true(pid > 0);
            kill(pid, SIGKILL); /* somewhere in the middle of the next transfer */
            kills++;
        }
    }
    free(data);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

static void test_flood_is_bounded_by_efull(void **state)
{
    (void)state;
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.mailbox_limit = 1000;
    ens_system *s = start(&o);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
    cmd_v c = {OP_FLOOD, 3000, 0};
    assert_int_equal(ens_send(out, v, &cmd_t, &c), 0);
    /* Within one handler nothing leaves before the turn ends: exactly the
     * bound is accepted, the rest refused with ENS_EFULL, none lost. */
    for (int64_t i = 0; i < 1000; i++) {
        ens_msg *m = NULL;
        assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
        const ens_int64_v *x = ens_msg_value(m, &ens_msg_int64);
        assert_non_null(x);
        assert_int_equal(x->value, i);
        ens_msg_free(m);
    }
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(out, 200, &m), ENS_ETIMEDOUT);
    cmd_v q = {OP_ECHO, 1, 0};
    assert_int_equal(ens_ask(out, v, &cmd_t, &q, WAIT_MS, &m), 0);
    const seen_v *sv = ens_msg_value(m, &seen_t);
    assert_non_null(sv);
    assert_int_equal(sv->seq, 2000);
    ens_msg_free(m);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

static void test_kill_storm_handles_every_message_once(void **state)
{
    (void)state;
    memset((void *)storm, 0, sizeof(*storm));
    *in_handler = 0;
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr v;
    assert_int_equal(ens_spawn(out, &victim_def, NULL, NULL, &v), 0);
    /* 10 000 messages in flight: a NULL dereference at 2 500, a SIGKILL
     * from here while 3 000 is in hand (it is handled again), an abort on
     * every attempt at 5 000. */
    for (int64_t seq = 1; seq <= STORM_N; seq++) {
        int32_t how = seq == 2500   ? COUNT_SEGV_ONCE
                      : seq == 3000 ? COUNT_FLAG
                      : seq == 5000 ? COUNT_ABORT
                                    : COUNT_PLAIN;
        cmd_v c = {OP_COUNT, how, seq};
        tell(s, v, &cmd_t, &c);
    }
    /* What the socket did not take waits in this program: keep sending
     * while waiting for the flag (each call waits for I/O, not a clock). */
    test_deadline d = test_deadline_in(WAIT_MS);
    while (*in_handler == 0 && !test_deadline_passed(d))
        ens_system_run(s, 50);
    assert_true(*in_handler != 0);
    assert_true(storm->pid > 0); /* never kill(0): that is our own group */
    if (getenv("ENS_TEST_LOG") != NULL) {
        int n = 0;
        for (int i = 1; i <= STORM_N; i++)
            n += storm->handled[i] != 0;
        fprintf(stderr, "storm: killing %d after %d handled (2500: %d)\n", (int)storm->pid, n,
                storm->handled[2500]);
    }
    assert_int_equal(kill(storm->pid, SIGKILL), 0);
    /* FIFO per pair: this answer comes after all 10 000. */
    seen_v last = ask_cmd(s, v, OP_ECHO, 1);
    assert_int_not_equal(last.pid, storm->pid);
    ens_msg *m = NULL;
    assert_int_equal(ens_listen(out, WAIT_MS, &m), 0);
    const ens_poison_v *p = ens_msg_value(m, &ens_msg_poison);
    assert_non_null(p);
    assert_int_equal(p->signal, SIGABRT);
    const cmd_v *pc = ens_msg_value(ens_poison_original(m), &cmd_t);
    assert_non_null(pc);
    assert_int_equal(pc->seq, 5000);
    ens_msg_free(m);
    int twice = 0;
    for (int seq = 1; seq <= STORM_N; seq++) {
        if (seq == 5000) {
            assert_int_equal(storm->handled[seq], 0);
            continue;
        }
        if (storm->handled[seq] == 2) {
            twice++; /* the message in hand at the SIGKILL, handled again */
            continue;
        }
        if (storm->handled[seq] != 1)
            fail_msg("message %d handled %d times", seq, storm->handled[seq]);
    }
    assert_true(twice <= 1);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

static void test_crash_loop_ends_actor_and_tells_parent(void **state)
{
    (void)state;
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr w;
    assert_int_equal(ens_spawn(out, &watcher_def, NULL, NULL, &w), 0);
    cmd_v c = {OP_SPAWN_CRASHER, 20, 0};
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, w, &cmd_t, &c, WAIT_MS, &r), 0);
    ens_addr child;
    assert_int_equal(
        ens_addr_parse(((const ens_string_v *)ens_msg_value(r, &ens_msg_string))->text, &child), 0);
    ens_msg_free(r);
    /* Twenty messages, each fatal twice: past ten crashes in a second the
     * admin gives up, and the parent hears how its child ended. */
    assert_int_equal(ens_listen(out, WAIT_MS, &r), 0);
    const seen_v *sv = ens_msg_value(r, &seen_t);
    assert_non_null(sv);
    assert_int_equal(sv->seq, ENS_EXIT_CRASH);
    assert_int_equal(sv->attempt, SIGABRT);
    ens_msg_free(r);
    cmd_v e = {OP_ECHO, 0, 0};
    assert_int_equal(ens_ask(out, child, &cmd_t, &e, WAIT_MS, &r), ENS_ENOACTOR);
    assert_non_null(r); /* why nobody was there */
    ens_msg_free(r);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

typedef struct {
    int64_t next;
    int32_t bad;
} order_state;

static int order_receive(ens_ctx *c, void *st, const ens_msg *m)
{
    order_state *os = st;
    const ens_int64_v *x = ens_msg_value(m, &ens_msg_int64);
    if (x != NULL) {
        if (x->value != os->next)
            os->bad++;
        os->next = x->value + 1;
        return 0;
    }
    ens_int64_v r = {os->bad ? -1 : os->next};
    return ens_reply(c, &ens_msg_int64, &r);
}

static const ens_actor_def order_def = {
    "ptest.Order", sizeof(order_state), NULL, order_receive, NULL, NULL, NULL, NULL, NULL};

static void test_million_messages_keep_their_order(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    const int64_t n = 200000; /* the sanitizer build is ~10x slower */
#else
    const int64_t n = 1000000;
#endif
    ens_system *s = start(NULL);
    ens_ctx *out = ens_system_ctx(s);
    ens_addr a;
    assert_int_equal(ens_spawn(out, &order_def, NULL, NULL, &a), 0);
    for (int64_t i = 0; i < n; i++) {
        ens_int64_v x = {i};
        tell(s, a, &ens_msg_int64, &x);
    }
    ens_msg *r = NULL;
    assert_int_equal(ens_ask(out, a, &ens_msg_string, &(ens_string_v){"count"}, WAIT_MS * 4, &r),
                     0);
    const ens_int64_v *got = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(got);
    assert_int_equal(got->value, n);
    ens_msg_free(r);
    assert_int_equal(stop(s, WAIT_MS), 0);
}

int main(void)
{
    in_handler = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    storm =
        mmap(NULL, sizeof(storm_area), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (in_handler == MAP_FAILED || storm == MAP_FAILED)
        return 1;
    if (getenv("ENS_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("ENS_TEST_FILTER"));
    ens_msgtype_register(&cmd_t);
    ens_msgtype_register(&seen_t);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_segv_redelivers_in_flight_and_keeps_queue, teardown),
        cmocka_unit_test_teardown(test_second_crash_poisons_with_signal, teardown),
        cmocka_unit_test_teardown(test_sigkill_from_outside_redelivers, teardown),
        cmocka_unit_test_teardown(test_crash_in_init_is_not_restarted, teardown),
        cmocka_unit_test_teardown(test_admin_death_ends_every_actor, teardown),
        cmocka_unit_test_teardown(test_run_after_admin_death_says_shutdown_and_reaps, teardown),
        cmocka_unit_test_teardown(test_run_after_persistent_admin_death_says_shutdown, teardown),
        cmocka_unit_test_teardown(test_killed_starter_ends_its_system, teardown),
        cmocka_unit_test_teardown(test_shutdown_leaves_no_process, teardown),
        cmocka_unit_test_teardown(test_large_messages_cross_processes, teardown),
        cmocka_unit_test_teardown(test_kill_during_large_transfers_loses_nothing, teardown),
        cmocka_unit_test_teardown(test_flood_is_bounded_by_efull, teardown),
        cmocka_unit_test_teardown(test_kill_storm_handles_every_message_once, teardown),
        cmocka_unit_test_teardown(test_crash_loop_ends_actor_and_tells_parent, teardown),
        cmocka_unit_test_teardown(test_million_messages_keep_their_order, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

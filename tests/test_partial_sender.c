/*
 * tests/test_partial_sender.c - senders that stop in the middle of a frame
 * (process base). A sender killed at any point of a large message, before
 * its first piece, between pieces or inside one, must cost the receiving
 * actor nothing but the partial frame: dropped with a BADFRAME row that
 * names the sender, the connection closed and forgotten by the admin, and
 * the actor answering its next ask - on its first incarnation and after a
 * restart. A sender that stalls mid-frame holds up nobody else; senders
 * that stall in every slot are dropped after call_timeout_ms once another
 * large frame waits.
 */
#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/process/proc.h"
#include "core/wire/frag.h"
#include "core/wire/frame.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"
#include "support/echo.h"
#include "support/journal_files.h"
#include "support/procfs.h"
#include "support/rawconn.h"

#define WAIT_MS     30000
#define LARGE_BYTES (6u * ENS_FRAG_CHUNK + 1000u) /* seven pieces */
#define HUGE_BYTES  (1u << 20)

/* sink: echoes strings, counts bytes messages, tells the count when asked
 * with an int64. */
typedef struct {
    int64_t bytes_seen;
} sink_state;

static int sink_receive(ens_ctx *c, void *state, const ens_msg *m)
{
    sink_state *s = state;
    const ens_string_v *str = ens_msg_value(m, &ens_msg_string);
    if (str != NULL && strcmp(str->text, "block") == 0) {
        for (;;)
            pause(); /* until it is killed */
    }
    if (str != NULL)
        return ens_reply(c, &ens_msg_string, str);
    if (ens_msg_value(m, &ens_msg_bytes) != NULL) {
        s->bytes_seen++;
        return 0;
    }
    if (ens_msg_value(m, &ens_msg_int64) != NULL) {
        ens_int64_v n = {s->bytes_seen};
        return ens_reply(c, &ens_msg_int64, &n);
    }
    return 0;
}

static const ens_actor_def sink_def = {
    "partial.Sink", sizeof(sink_state), NULL, sink_receive, NULL, NULL, NULL, NULL, NULL};

typedef struct fixture {
    ens_system *sys;
    char name[64];
    char db[256];
    ens_addr sink;
} fixture;

static int start(void **state, uint32_t call_timeout_ms)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->name, sizeof(f->name), "partial-%d", (int)getpid());
    snprintf(f->db, sizeof(f->db), "partial-%d.db", (int)getpid());
    unlink(f->db);
    ens_system_opts o = ENS_SYSTEM_OPTS_INIT;
    o.name = f->name;
    o.journal_path = f->db;
    o.log_level = ENS_LOG_ERROR;
    if (call_timeout_ms != 0)
        o.call_timeout_ms = call_timeout_ms;
    if (ens_system_start(&o, &f->sys) != 0 ||
        ens_spawn(ens_system_ctx(f->sys), &sink_def, NULL, NULL, &f->sink) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start(state, 0);
}

static int setup_short_stall(void **state)
{
    return start(state, 1000);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->sys != NULL)
        ens_system_close(f->sys, WAIT_MS);
    test_journal_remove(f->db);
    free(f);
    return 0;
}

static void expect_echo(fixture *f, const char *text)
{
    test_expect_echo(ens_system_ctx(f->sys), f->sink, text, WAIT_MS);
}

static int64_t bytes_seen(fixture *f)
{
    ens_msg *r = NULL;
    assert_int_equal(
        ens_ask(ens_system_ctx(f->sys), f->sink, &ens_msg_int64, &(ens_int64_v){0}, WAIT_MS, &r),
        0);
    const ens_int64_v *v = ens_msg_value(r, &ens_msg_int64);
    assert_non_null(v);
    int64_t n = v->value;
    ens_msg_free(r);
    return n;
}

/* Wait until the sink has counted n bytes messages (they come on another
 * connection than the asks: nothing orders the two). */
static void expect_bytes_seen(fixture *f, int64_t n)
{
    uint64_t t0 = ens__mono_ns();
    int64_t seen;
    while ((seen = bytes_seen(f)) < n)
        assert_true(ens__mono_ns() - t0 < (uint64_t)WAIT_MS * 1000000u);
    assert_int_equal(seen, n);
}

/* The sink's pid and incarnation, and the admin's pid. */
static void sink_status(fixture *f, int *pid, uint32_t *incarnation, int *admin)
{
    ens_status *st = NULL;
    assert_int_equal(ens_system_status(f->sys, WAIT_MS, &st), 0);
    *admin = ens_status_admin_pid(st);
    *pid = 0;
    for (size_t i = 0; i < ens_status_count(st); i++) {
        const ens_actor_status *a = ens_status_at(st, i);
        if (ens_addr_equal(a->addr, f->sink)) {
            *pid = a->pid;
            *incarnation = a->incarnation;
        }
    }
    ens_status_free(st);
}

static int open_fds(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* A bytes message of `size` to `to`, cut into pieces of chunk bytes: the
 * stream a sender writes (caller frees). */
static uint8_t *pieces_sized(ens_addr to, size_t size, size_t chunk, size_t *len, size_t *piece_len)
{
    uint8_t *data = malloc(size);
    assert_non_null(data);
    memset(data, 0x5a, size);
    uint8_t *frame = NULL;
    size_t flen = 0;
    ens_frame_hdr h = {.target = to, .attempt = 1};
    assert_int_equal(ens__frame_build(&ens_msg_bytes, &(ens_bytes_v){{data, (uint32_t)size}}, &h,
                                      UINT32_MAX, &frame, &flen),
                     0);
    free(data);
    uint8_t *out = NULL;
    size_t cap = 0;
    uint32_t seq = 0;
    *len = 0;
    assert_int_equal(ens__frag_append_sized(&out, len, &cap, frame, flen, chunk, &seq), 0);
    free(frame);
    *piece_len = ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD + chunk;
    assert_true(*len > 3 * *piece_len);
    return out;
}

/* The same in pieces of ENS_FRAG_CHUNK. */
static uint8_t *pieces_of(ens_addr to, size_t size, size_t *len, size_t *piece_len)
{
    return pieces_sized(to, size, ENS_FRAG_CHUNK, len, piece_len);
}

/* SO_SNDBUF of a raw sender's connection (0: the default): pieces above a
 * quarter of the default buffer need more, as a real sender asks
 * (proc_tx.c). */
static int raw_sndbuf;

/* In a child: connect raw to the sink, write the first `upto` bytes of
 * stream, then die by SIGKILL (or, with hold_fd >= 0, tell the parent and
 * wait until it closes hold_fd). Returns the child's pid. */
static pid_t sender(fixture *f, const uint8_t *stream, size_t upto, bool kill_self, int hold_fd)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    /* Hold nothing of the parent's but hold_fd: other children's hold ends
     * and the system's sockets stay with their owners. */
    ens__close_fds_except(&hold_fd, hold_fd >= 0 ? 1 : 0);
    int ctl = test_raw_connect(f->name, WAIT_MS, NULL);
    int conn = -1;
    if (ctl < 0 || test_raw_connect_peer(ctl, f->sink, WAIT_MS, &conn) != 0)
        _exit(3);
    if (raw_sndbuf != 0 &&
        setsockopt(conn, SOL_SOCKET, SO_SNDBUF, &raw_sndbuf, sizeof(raw_sndbuf)) != 0)
        _exit(6);
    for (size_t off = 0; off < upto;) {
        ssize_t n = send(conn, stream + off, upto - off, MSG_NOSIGNAL);
        if (n <= 0)
            _exit(4);
        off += (size_t)n;
    }
    if (kill_self)
        raise(SIGKILL);
    if (hold_fd >= 0) {
        char c = 1;
        if (write(hold_fd, &c, 1) != 1)
            _exit(5);
        while (read(hold_fd, &c, 1) > 0)
            ;
    }
    _exit(0);
}

static void reap_killed(pid_t pid)
{
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
}

typedef struct rows {
    int hung_up;
    int stalled;
    int named;
    int dead_bytes;    /* dead letters of an ens.Bytes */
    int ended_partial; /* frames in pieces dropped when their actor ended */
    int out_of_order;  /* connections closed for a piece out of order */
} rows;

static int count_row(const ens_journal_row *row, void *arg)
{
    rows *r = arg;
    if (row->ev.kind == ENS_EV_DEAD_LETTER && strcmp(row->ev.msg_type, "ens.Bytes") == 0)
        r->dead_bytes++;
    bool named = !ens_addr_is_none(row->ev.sender);
    if (strstr(row->ev.reason, "hung up in the middle of a frame") != NULL) {
        r->hung_up++;
        r->named += named;
    } else if (strstr(row->ev.reason, "out of order: connection closed") != NULL) {
        r->out_of_order++;
    } else if (strstr(row->ev.reason, "ended with a frame in pieces") != NULL) {
        r->ended_partial++;
    } else if (strstr(row->ev.reason, "stalled in the middle of a frame") != NULL) {
        r->stalled++;
        r->named += named;
    }
    return 0;
}

static rows journal_rows(fixture *f)
{
    ens_journal *j = NULL;
    assert_int_equal(ens_journal_open(f->db, &j), 0);
    ens_journal_filter flt = ENS_JOURNAL_FILTER_INIT;
    flt.kinds = 1u << ENS_EV_BADFRAME | 1u << ENS_EV_DEAD_LETTER;
    flt.limit = 0;
    rows r = {0, 0, 0, 0, 0, 0};
    assert_true(ens_journal_query(j, &flt, count_row, &r) >= 0);
    ens_journal_close(j);
    return r;
}

/* The 20 places a sender dies at: before its first piece, between pieces,
 * inside a piece's header, inside its bytes, and one byte short of the end. */
static size_t kill_point(int k, size_t piece, size_t len)
{
    static const struct {
        int piece;
        long at; /* bytes into that piece; -1: one short of the end */
    } points[20] = {{0, 0},     {0, 1}, {0, 40}, {0, 64},    {0, 70}, {0, 4096},  {0, 32000},
                    {1, 0},     {1, 1}, {1, 63}, {1, 80},    {2, 0},  {2, 20000}, {3, 0},
                    {3, 12345}, {4, 0}, {4, 79}, {5, 30000}, {6, 0},  {0, -1}};
    if (points[k].at < 0)
        return len - 1;
    return (size_t)points[k].piece * piece + (size_t)points[k].at;
}

static int kill_at_twenty_points(fixture *f, const uint8_t *stream, size_t len, size_t piece)
{
    int with_bytes = 0;
    for (int k = 0; k < 20; k++) {
        size_t upto = kill_point(k, piece, len);
        assert_true(upto < len);
        reap_killed(sender(f, stream, upto, true, -1));
        with_bytes += upto > 0;
        char text[32];
        snprintf(text, sizeof(text), "after point %d", k);
        expect_echo(f, text);
    }
    return with_bytes;
}

static void test_sender_killed_mid_frame(void **state)
{
    fixture *f = *state;
    size_t len = 0, piece = 0;
    uint8_t *stream = pieces_of(f->sink, LARGE_BYTES, &len, &piece);
    expect_echo(f, "first");
    int pid0 = 0, admin = 0;
    uint32_t inc0 = 0;
    sink_status(f, &pid0, &inc0, &admin);
    int admin_fds = open_fds(admin);

    int dropped = kill_at_twenty_points(f, stream, len, piece);
    int pid = 0, admin_now = 0;
    uint32_t inc = 0;
    sink_status(f, &pid, &inc, &admin_now);
    assert_int_equal(pid, pid0); /* nothing crashed the sink */
    assert_int_equal(inc, inc0);

    /* A whole message still goes through on the same incarnation. */
    reap_killed(sender(f, stream, len, true, -1));
    expect_bytes_seen(f, 1);

    /* The same after a restart: the new incarnation inherits the
     * connections the admin keeps, and none of the dead ones. */
    assert_int_equal(kill(pid0, SIGKILL), 0);
    assert_true(test_gone_within(pid0, WAIT_MS));
    expect_echo(f, "restarted");
    sink_status(f, &pid, &inc, &admin_now);
    assert_true(pid != pid0 && inc > inc0);
    dropped += kill_at_twenty_points(f, stream, len, piece);
    reap_killed(sender(f, stream, len, true, -1));
    expect_bytes_seen(f, 1); /* counted since the restart */

    /* The admin forgot every dead connection (a few descriptors of slack
     * for the restart's own). */
    int admin_fds_after = open_fds(admin);
    printf("# admin descriptors %d -> %d after 42 dead senders\n", admin_fds, admin_fds_after);
    assert_true(admin_fds_after <= admin_fds + 4);
    free(stream);
    assert_int_equal(ens_system_close(f->sys, WAIT_MS), 0);
    f->sys = NULL;
    rows r = journal_rows(f);
    printf("# %d senders killed with bytes sent, %d rows \"hung up in the middle\", %d naming "
           "the sender\n",
           dropped, r.hung_up, r.named);
    assert_int_equal(r.hung_up, dropped);
    assert_int_equal(r.named, dropped);
}

/* Pieces of the largest size readers take (ENS_FRAG_CHUNK_MAX, four times
 * a look): a sender killed inside one, past what a look sees, or between
 * two costs the sink only the partial frame, as with small pieces; a whole
 * message in such pieces arrives. */
static void test_sender_killed_inside_a_large_piece(void **state)
{
    fixture *f = *state;
    size_t len = 0, piece = 0;
    raw_sndbuf = 512 * 1024;
    uint8_t *stream = pieces_sized(f->sink, HUGE_BYTES, ENS_FRAG_CHUNK_MAX, &len, &piece);
    const size_t points[] = {70,     80 + 100000, piece, piece + 80, piece + 200000, 3 * piece + 5,
                             len - 1};
    const int n = (int)(sizeof(points) / sizeof(points[0]));
    for (int k = 0; k < n; k++) {
        reap_killed(sender(f, stream, points[k], true, -1));
        expect_echo(f, "after a large piece cut short");
    }
    reap_killed(sender(f, stream, len, true, -1));
    expect_bytes_seen(f, 1);
    raw_sndbuf = 0;
    free(stream);
    assert_int_equal(ens_system_close(f->sys, WAIT_MS), 0);
    f->sys = NULL;
    rows r = journal_rows(f);
    assert_int_equal(r.hung_up, n);
    assert_int_equal(r.named, n);
}

/* A piece larger than a look that does not continue its frame (the first
 * piece, then the third): the sink closes that connection with a row
 * rather than wait for a look to see it whole (it never would), and
 * answers on. The sender, alive, sees its connection close. */
static void test_large_piece_out_of_order_closes_its_connection(void **state)
{
    fixture *f = *state;
    size_t len = 0, piece = 0;
    raw_sndbuf = 512 * 1024;
    uint8_t *stream = pieces_sized(f->sink, HUGE_BYTES, ENS_FRAG_CHUNK_MAX, &len, &piece);
    uint8_t *lie = malloc(2 * piece);
    assert_non_null(lie);
    memcpy(lie, stream, piece);
    memcpy(lie + piece, stream + 2 * piece, piece);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int keep = sv[1];
        ens__close_fds_except(&keep, 1);
        int ctl = test_raw_connect(f->name, WAIT_MS, NULL);
        int conn = -1;
        if (ctl < 0 || test_raw_connect_peer(ctl, f->sink, WAIT_MS, &conn) != 0 ||
            setsockopt(conn, SOL_SOCKET, SO_SNDBUF, &raw_sndbuf, sizeof(raw_sndbuf)) != 0)
            _exit(3);
        for (size_t off = 0; off < 2 * piece;) {
            ssize_t w = send(conn, lie + off, 2 * piece - off, MSG_NOSIGNAL);
            if (w <= 0)
                _exit(4);
            off += (size_t)w;
        }
        /* Until the sink (and the admin's copy) let go of the connection,
         * or the deadline. */
        struct pollfd p = {.fd = conn, .events = POLLRDHUP};
        char verdict = poll(&p, 1, WAIT_MS) == 1 && (p.revents & (POLLHUP | POLLRDHUP)) ? 'c' : 't';
        _exit(write(keep, &verdict, 1) == 1 ? 0 : 5);
    }
    close(sv[1]);
    char verdict = 0;
    assert_int_equal(read(sv[0], &verdict, 1), 1);
    close(sv[0]);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    assert_int_equal(verdict, 'c');
    expect_echo(f, "after a piece out of order");
    raw_sndbuf = 0;
    free(lie);
    free(stream);
    assert_int_equal(ens_system_close(f->sys, WAIT_MS), 0);
    f->sys = NULL;
    rows r = journal_rows(f);
    assert_int_equal(r.out_of_order, 1);
}

/* One sender stalls after the first piece of a 1 MiB frame: the sink keeps
 * answering everyone else; when that sender goes, its piece is dropped. */
static void test_stalled_sender_holds_nobody_up(void **state)
{
    fixture *f = *state;
    size_t len = 0, piece = 0;
    uint8_t *stream = pieces_of(f->sink, HUGE_BYTES, &len, &piece);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t staller = sender(f, stream, piece, false, sv[1]);
    close(sv[1]);
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1); /* its piece is written */
    for (int i = 0; i < 5; i++)
        expect_echo(f, "during the stall");
    /* A whole large message from another sender is not held up either. */
    reap_killed(sender(f, stream, len, true, -1));
    expect_bytes_seen(f, 1);
    close(sv[0]); /* the staller exits: its piece is dropped */
    int ws;
    assert_int_equal(waitpid(staller, &ws, 0), staller);
    expect_echo(f, "after the stall");
    free(stream);
    assert_int_equal(ens_system_close(f->sys, WAIT_MS), 0);
    f->sys = NULL;
    rows r = journal_rows(f);
    assert_int_equal(r.hung_up, 1);
}

/* Every slot held by a sender that stalls mid-frame, and one more large
 * frame waiting: after call_timeout_ms (1 s here) the slot that waited
 * longest is dropped, its connection closed, and the waiting frame goes
 * through. */
static void test_stalled_senders_in_every_slot(void **state)
{
    fixture *f = *state;
    size_t len = 0, piece = 0;
    uint8_t *stream = pieces_of(f->sink, HUGE_BYTES, &len, &piece);
    pid_t stallers[ENS_STAGE_SLOTS];
    int hold[ENS_STAGE_SLOTS];
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        stallers[i] = sender(f, stream, 2 * piece, false, sv[1]);
        close(sv[1]);
        char c;
        assert_int_equal(read(sv[0], &c, 1), 1);
        hold[i] = sv[0];
        expect_echo(f, "a slot is taken");
    }
    /* The fifth large frame waits for a slot, then gets the stalled one's. */
    pid_t whole = sender(f, stream, len, false, -1);
    expect_bytes_seen(f, 1);
    int ws;
    assert_int_equal(waitpid(whole, &ws, 0), whole);
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        close(hold[i]);
        assert_int_equal(waitpid(stallers[i], &ws, 0), stallers[i]);
    }
    expect_echo(f, "after");
    free(stream);
    assert_int_equal(ens_system_close(f->sys, WAIT_MS), 0);
    f->sys = NULL;
    rows r = journal_rows(f);
    printf("# %u stallers: %d dropped for stalling, %d when they hung up\n", ENS_STAGE_SLOTS,
           r.stalled, r.hung_up);
    assert_true(r.stalled >= 1);
    assert_int_equal(r.stalled + r.hung_up, (int)ENS_STAGE_SLOTS);
}

/* A large message still on its way (its receiver stopped reading) when
 * the receiver ends for good: the sender's pieces that left are dropped by
 * the admin with the rest of the actor's queue, and the message becomes
 * one dead letter from the sender - whole, never half and never twice.
 * Twice: queued behind another message (it goes through the sender's
 * buffer), and alone (it goes from where it was encoded). */
static void test_large_message_on_its_way_to_an_ended_actor(void **state)
{
    fixture *f = *state;
    ens_ctx *out = ens_system_ctx(f->sys);
    size_t size = 8u << 20;
    uint8_t *data = calloc(1, size);
    assert_non_null(data);
    for (int alone = 0; alone < 2; alone++) {
        ens_addr sink = f->sink;
        if (alone)
            assert_int_equal(ens_spawn(out, &sink_def, NULL, NULL, &sink), 0);
        if (alone) { /* an ask leaves at once: nothing waits in front of the bytes */
            ens_msg *r = NULL;
            assert_int_equal(ens_ask(out, sink, &ens_msg_string, &(ens_string_v){"block"}, 200, &r),
                             ENS_ETIMEDOUT);
        } else {
            assert_int_equal(ens_send(out, sink, &ens_msg_string, &(ens_string_v){"block"}), 0);
        }
        assert_int_equal(
            ens_send(out, sink, &ens_msg_bytes, &(ens_bytes_v){{data, (uint32_t)size}}), 0);
        ens_system_run(f->sys, 100); /* what the socket takes leaves */
        assert_int_equal(ens_kill(out, sink), 0);
        /* The sender learns it when it sends what is left: run until it has. */
        uint64_t t0 = ens__mono_ns();
        while (journal_rows(f).dead_bytes < alone + 1) {
            assert_true(ens__mono_ns() - t0 < (uint64_t)WAIT_MS * 1000000u);
            ens_system_run(f->sys, 100);
        }
    }
    free(data);
    assert_int_equal(ens_system_close(f->sys, WAIT_MS), 0);
    f->sys = NULL;
    rows r = journal_rows(f);
    printf("# 2 large messages to ended actors: %d dead letters from the sender, %d partial "
           "frames dropped by the admin (with a row)\n",
           r.dead_bytes, r.ended_partial);
    assert_int_equal(r.dead_bytes, 2);
}

int main(void)
{
    if (ens_actor_register(&sink_def) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sender_killed_mid_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_killed_inside_a_large_piece, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_piece_out_of_order_closes_its_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stalled_sender_holds_nobody_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_senders_in_every_slot, setup_short_stall,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_large_message_on_its_way_to_an_ended_actor, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

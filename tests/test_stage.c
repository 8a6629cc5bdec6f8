/*
 * tests/test_stage.c - the stage's protocol under SIGKILL (core/process/stage.h).
 *
 * A receiver made of the stage's transitions (look, take, take a piece,
 * hand, mark, end, settle) reads a stream of small frames and one frame in
 * pieces from a socket, as an actor process does. For every step of every
 * take and every handling, a first incarnation is SIGKILLed right after
 * that step; a second one (no kill) settles, redelivers what was in hand
 * and reads on to the end of the stream. The stage and the receiving end
 * outlive both, as the admin keeps them. What the handlers saw must be:
 * every frame, each handled once as a new message, and only the frame in
 * hand at the kill handled again (attempt 2).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/process/stage.h"
#include "core/wire/frag.h"
#include "core/wire/frame.h"
#include "core/wire/msg_internal.h"
#include "ensemble/ensemble.h"

#define SMALL_BEFORE 6
#define SMALL_AFTER  3
#define N_FRAMES     (SMALL_BEFORE + 1 + SMALL_AFTER)
#define LARGE_BYTES  (3u * ENS_FRAG_CHUNK + 500u) /* four pieces */
#define MAX_FRAME    (1u << 20)

/* What the handlers saw, in memory both incarnations share. */
typedef struct seen {
    uint32_t n;
    struct {
        uint32_t id, attempt;
    } at[4 * N_FRAMES];
} seen;

typedef struct world {
    ens_stage *st;
    size_t st_len;
    seen *log;
    int tx, rx; /* the sender's end, the receiving end */
} world;

/* ---- the frames ------------------------------------------------------------ */

/* Frame ids: the int64 value of a small frame, the first 8 bytes of the
 * large one's blob. */
static uint32_t frame_id(const uint8_t *frame, uint64_t len)
{
    ens_frame_hdr h;
    assert_int_equal(ens__frame_hdr_read(frame, len, MAX_FRAME, &h), 0);
    uint64_t v = 0;
    memcpy(&v, frame + ENS_FRAME_HEADER_LEN, sizeof(v));
    return (uint32_t)v;
}

static void write_stream(int fd)
{
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    uint32_t seq = 0;
    ens_frame_hdr h = {.target = {16, 1, 0}, .sender = {17, 1, 0}, .attempt = 1};
    for (int64_t id = 1; id <= N_FRAMES; id++) {
        uint8_t *f = NULL;
        size_t flen = 0;
        if (id == SMALL_BEFORE + 1) {
            uint8_t *blob = calloc(1, LARGE_BYTES);
            assert_non_null(blob);
            memcpy(blob, &id, sizeof(id));
            blob[LARGE_BYTES - 1] = 0x7e;
            assert_int_equal(ens__frame_build(&ens_msg_bytes, &(ens_bytes_v){{blob, LARGE_BYTES}},
                                              &h, MAX_FRAME, &f, &flen),
                             0);
            free(blob);
        } else {
            assert_int_equal(
                ens__frame_build(&ens_msg_int64, &(ens_int64_v){id}, &h, MAX_FRAME, &f, &flen), 0);
        }
        assert_int_equal(ens__frag_append(&buf, &len, &cap, f, flen, &seq), 0);
        free(f);
    }
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    free(buf);
}

/* ---- a receiver made of the stage's transitions ------------------------------ */

static void handled(world *w, const uint8_t *frame, uint64_t len, uint32_t attempt)
{
    uint32_t k = w->log->n;
    assert_true(k < sizeof(w->log->at) / sizeof(w->log->at[0]));
    w->log->at[k].id = frame_id(frame, len);
    w->log->at[k].attempt = attempt;
    __atomic_store_n(&w->log->n, k + 1, __ATOMIC_SEQ_CST);
}

/* The bytes of the batch area the frame or piece at `done` stands for. */
static uint64_t here(const ens_stage *st)
{
    return st->head_only ? st->len - st->done : ens__frame_total_len(st->buf + st->done);
}

/* A piece at `done`: into its slot (unless placed there already); the last
 * one hands the whole frame. */
static void piece(world *w, bool placed)
{
    ens_stage *st = w->st;
    uint64_t flen = ens__frame_total_len(st->buf + st->done), total, off;
    const uint8_t *bytes;
    size_t n;
    assert_true(ens__frag_parse(st->buf + st->done, flen, MAX_FRAME, &total, &off, &bytes, &n));
    int i = ens__stage_slot_of(st, st->sticky);
    if (off == 0 && !placed && (i < 0 || st->slot[i].have != n)) {
        i = i >= 0 ? i : ens__stage_slot_of(st, 0);
        ens__stage_slot_claim(st, i, st->sticky, total);
    }
    assert_true(i >= 0);
    uint8_t *area = ens__stage_slot_area(st, (unsigned)i);
    if (!placed)
        memcpy(area + off, bytes, n);
    st->slot[i].have = off + n;
    uint64_t len = here(st);
    if (st->slot[i].have < total) {
        ens__stage_skip(st, len);
        return;
    }
    st->hand_slot = (uint32_t)i + 1;
    ens__stage_hand(st, 1);
    handled(w, area, total, 1);
    ens__stage_mark(st, len);
    st->hand_slot = 0;
    ens__stage_slot_release(st, i);
}

static void process(world *w)
{
    ens_stage *st = w->st;
    while (st->len - st->done >= ENS_FRAME_HEADER_LEN) {
        uint64_t total = ens__frame_total_len(st->buf + st->done);
        if (st->head_only) {
            piece(w, true);
            continue;
        }
        if (total > st->len - st->done)
            break;
        if (ens__frag_is(st->buf + st->done)) {
            piece(w, false);
            continue;
        }
        ens__stage_hand(st, 1);
        handled(w, st->buf + st->done, total, 1);
        ens__stage_mark(st, total);
    }
    ens__stage_end_batch(st);
}

/* One look: a piece that continues its slot goes straight there, anything
 * else as a batch of whole frames. Returns false when nothing is queued. */
static bool look_and_take(world *w)
{
    ens_stage *st = w->st;
    ssize_t k = ens__stage_look(st, w->rx, ENS_PIECE_HEAD);
    if (k <= 0)
        return false;
    if (k == (ssize_t)ENS_PIECE_HEAD && ens__frag_is(st->buf)) {
        uint64_t flen = ens__frame_total_len(st->buf), total, off;
        const uint8_t *bytes;
        size_t n;
        assert_true(ens__frag_parse(st->buf, flen, MAX_FRAME, &total, &off, &bytes, &n));
        int i = ens__stage_slot_of(st, 1);
        int queued = 0;
        assert_int_equal(ioctl(w->rx, FIONREAD, &queued), 0);
        if (off != 0 && i >= 0 && st->slot[i].have == off && (uint64_t)queued >= flen) {
            assert_int_equal(ens__stage_take_piece(st, w->rx, 1, ens__frame_seq(st->buf), flen,
                                                   (unsigned)i, off),
                             0);
            process(w);
            return true;
        }
    }
    ssize_t n = ens__stage_look(st, w->rx, ENS_STAGE_CHUNK);
    assert_true(n > 0);
    size_t whole = 0;
    while ((size_t)n - whole >= ENS_FRAME_HEADER_LEN &&
           ens__frame_total_len(st->buf + whole) <= (size_t)n - whole)
        whole += ens__frame_total_len(st->buf + whole);
    assert_true(whole > 0);
    assert_int_equal(ens__stage_take(st, w->rx, 1, whole), 0);
    process(w);
    return true;
}

/* What a new incarnation does first: settle a take, deliver the frame in
 * hand once more. */
static void recover(world *w)
{
    ens_stage *st = w->st;
    ens__stage_settle(st, w->rx);
    if (!ens__stage_in_hand(st)) {
        if (st->hand_slot != 0) { /* handled, its slot not yet put away */
            ens__stage_slot_release(st, (int)st->hand_slot - 1);
            st->hand_slot = 0;
        }
        return;
    }
    uint32_t attempt = st->attempt + 1;
    uint64_t len = here(st);
    if (st->hand_slot != 0) {
        int i = (int)st->hand_slot - 1;
        ens__stage_hand(st, attempt);
        handled(w, ens__stage_slot_area(st, (unsigned)i), st->slot[i].total, attempt);
        ens__stage_mark(st, len);
        st->hand_slot = 0;
        ens__stage_slot_release(st, i);
    } else {
        ens__stage_hand(st, attempt);
        handled(w, st->buf + st->done, len, attempt);
        ens__stage_mark(st, len);
    }
}

static void run(world *w)
{
    recover(w);
    process(w);
    while (look_and_take(w))
        ;
}

/* ---- killing at every step ----------------------------------------------------- */

static int kill_at, steps;

static void count_step(enum ens_stage_step s)
{
    (void)s;
    if (++steps == kill_at)
        raise(SIGKILL);
}

static void world_new(world *w)
{
    memset(w->st, 0, sizeof(*w->st));
    w->st->slot_bytes = MAX_FRAME;
    w->st->cap = ENS_STAGE_CHUNK + (uint64_t)ENS_STAGE_SLOTS * MAX_FRAME;
    memset(w->log, 0, sizeof(*w->log));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    w->tx = sv[0];
    w->rx = sv[1];
    write_stream(w->tx);
}

/* Run an incarnation in a child; with kill_after > 0 it dies by SIGKILL
 * after that many steps. Returns true if it was killed. */
static bool incarnation(world *w, int kill_after)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kill_at = kill_after;
        steps = 0;
        ens__stage_step_hook = kill_after > 0 ? count_step : NULL;
        run(w);
        _exit(0);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (WIFSIGNALED(ws)) {
        assert_int_equal(WTERMSIG(ws), SIGKILL);
        return true;
    }
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    return false;
}

/* Every frame handled, each once at attempt 1, and attempt 2 only for at
 * most one frame (the one in hand at the kill). */
static void check_seen(const seen *log, int kill_after)
{
    int fresh[N_FRAMES + 1] = {0}, again[N_FRAMES + 1] = {0}, agains = 0;
    for (uint32_t k = 0; k < log->n; k++) {
        uint32_t id = log->at[k].id;
        assert_true(id >= 1 && id <= N_FRAMES);
        if (log->at[k].attempt == 1) {
            fresh[id]++;
        } else {
            assert_int_equal(log->at[k].attempt, 2);
            again[id]++;
            agains++;
        }
    }
    for (int id = 1; id <= N_FRAMES; id++) {
        if (fresh[id] + again[id] == 0 || fresh[id] > 1 || again[id] > 1)
            fail_msg("killed after step %d: frame %d handled %d times new, %d again", kill_after,
                     id, fresh[id], again[id]);
    }
    assert_true(agains <= 1);
}

static void test_kill_after_every_step(void **state)
{
    world *w = *state;
    /* A run without a kill counts the steps. */
    world_new(w);
    ens__stage_step_hook = count_step;
    kill_at = -1;
    steps = 0;
    run(w);
    ens__stage_step_hook = NULL;
    int total = steps;
    check_seen(w->log, 0);
    close(w->tx);
    close(w->rx);
    assert_true(total > 20);
    int redelivered = 0;
    for (int k = 1; k <= total; k++) {
        world_new(w);
        assert_true(incarnation(w, k));
        uint32_t before = w->log->n;
        assert_false(incarnation(w, 0));
        assert_true(w->log->n >= before);
        check_seen(w->log, k);
        for (uint32_t i = 0; i < w->log->n; i++)
            redelivered += w->log->at[i].attempt == 2;
        int queued = -1;
        assert_int_equal(ioctl(w->rx, FIONREAD, &queued), 0);
        assert_int_equal(queued, 0); /* nothing left behind in the kernel */
        assert_int_equal(w->st->len, 0);
        close(w->tx);
        close(w->rx);
    }
    printf("# %d steps, a SIGKILL after each: every frame handled once as new; %d handled "
           "again after a kill in hand\n",
           total, redelivered);
    assert_true(redelivered > 0);
}

/* Settling a take: noted and not done leaves the bytes in the kernel;
 * done and not cleared keeps what was taken. */
static void test_settle_a_take(void **state)
{
    world *w = *state;
    for (int taken = 0; taken < 2; taken++) {
        world_new(w);
        ens_stage *st = w->st;
        ssize_t n = ens__stage_look(st, w->rx, ENS_STAGE_CHUNK);
        uint64_t first = ens__frame_total_len(st->buf);
        assert_true(n >= (ssize_t)first);
        /* the note, by hand, as ens__stage_take writes it */
        st->sticky = st->pend_conn = 1;
        st->pend_seq = ens__frame_seq(st->buf);
        st->pend_bytes = first;
        st->len = first;
        if (taken) {
            uint8_t sink[ENS_STAGE_CHUNK];
            assert_int_equal(recv(w->rx, sink, first, 0), (ssize_t)first);
        }
        int before = 0, after = 0;
        assert_int_equal(ioctl(w->rx, FIONREAD, &before), 0);
        ens__stage_settle(st, w->rx);
        assert_int_equal(ioctl(w->rx, FIONREAD, &after), 0);
        assert_int_equal(st->pend_bytes, 0);
        /* Either way the first frame is now in the batch area, not the kernel. */
        assert_int_equal(before - after, taken ? 0 : (int)first);
        assert_int_equal(st->len, first);
        close(w->tx);
        close(w->rx);
    }
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -1;
    w->st = ens__stage_map(MAX_FRAME, 0, &w->st_len, NULL);
    w->log = mmap(NULL, sizeof(seen), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w->st == NULL || w->log == MAP_FAILED)
        return -1;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    munmap(w->st, w->st_len);
    munmap(w->log, sizeof(seen));
    free(w);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_after_every_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_a_take, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

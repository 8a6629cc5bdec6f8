/*
 * core/process/stage.c - the stage: an actor's crash-proof receive buffer (see
 * core/process/stage.h for the protocol).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/process/stage.h"
#include "core/wire/frag.h"
#include "core/wire/frame.h"
#include "ensemble/error.h"

void (*ens__stage_step_hook)(enum ens_stage_step step);

static void step(enum ens_stage_step s)
{
    if (ens__stage_step_hook != NULL)
        ens__stage_step_hook(s);
}

/* ---- mapping and settling --------------------------------------------------- */

/* The piece whose head is in the batch area went into its slot: count it. */
static void settle_piece(ens_stage *st)
{
    uint64_t total, off;
    const uint8_t *bytes;
    size_t n;
    if (!ens__frag_parse(st->buf, ens__frame_total_len(st->buf), UINT32_MAX, &total, &off, &bytes,
                         &n))
        return;
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        ens_stage_slot *s = &st->slot[i];
        if (s->conn == st->pend_conn && s->total == total && off + n <= total)
            s->have = off + n;
    }
}

void ens__stage_settle(ens_stage *st, int fd)
{
    if (st->pend_bytes == 0)
        return;
    uint8_t head[ENS_FRAME_HEADER_LEN];
    const bool at_head =
        fd >= 0 && recv(fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof(head) &&
        ens__frame_seq(head) == st->pend_seq;
    if (st->head_only) {
        if (at_head) { /* not taken: it is read again */
            st->len = st->done = 0;
            st->head_only = 0;
            st->sticky = 0;
        } else {
            settle_piece(st);
        }
    } else if (at_head && st->len == st->pend_bytes) {
        /* Copied but not taken: take them now (in one read, as the first
         * take would have), the stage's copy counts. */
        uint8_t *scratch = malloc(st->pend_bytes);
        if (scratch != NULL) {
            ssize_t n;
            do
                n = recv(fd, scratch, st->pend_bytes, MSG_DONTWAIT);
            while (n < 0 && errno == EINTR);
            free(scratch);
        }
    }
    st->pend_bytes = 0;
}

/* Bytes of buf for these limits: batch, slots, poison area, held area. */
static uint64_t buf_bytes(uint64_t max_frame, uint64_t held_bytes)
{
    return ENS_STAGE_CHUNK + (ENS_STAGE_SLOTS + 1u) * max_frame + held_bytes;
}

ens_stage *ens__stage_map(uint32_t max_frame, uint64_t held_bytes, size_t *map_len, int *memfd)
{
    held_bytes = (held_bytes + 7u) & ~(uint64_t)7u;
    size_t len = sizeof(ens_stage) + buf_bytes(max_frame, held_bytes);
    int fd = -1;
    if (memfd != NULL) {
        *memfd = -1;
        fd = memfd_create("ens-stage", MFD_CLOEXEC);
        if (fd < 0)
            return NULL;
        if (ftruncate(fd, (off_t)len) < 0) {
            close(fd);
            return NULL;
        }
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
    if (p == MAP_FAILED) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (memfd != NULL)
        *memfd = fd;
    ens_stage *st = p;
    st->slot_bytes = max_frame;
    st->held_cap = held_bytes;
    st->cap = buf_bytes(max_frame, held_bytes);
    *map_len = len;
    return st;
}

ens_stage *ens__stage_map_fd(int fd, size_t *map_len)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0 || (size_t)sb.st_size <= sizeof(ens_stage))
        return NULL;
    size_t len = (size_t)sb.st_size;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    ens_stage *st = p;
    if (st->cap != len - sizeof(ens_stage) || st->slot_bytes > UINT32_MAX ||
        st->held_cap > st->cap || st->cap != buf_bytes(st->slot_bytes, st->held_cap)) {
        /* not one of ours */
        munmap(p, len);
        return NULL;
    }
    *map_len = len;
    return st;
}

/* ---- transitions ----------------------------------------------------------- */

void ens__stage_check(const ens_stage *st)
{
#ifdef NDEBUG
    (void)st;
#else
    assert(st->done <= st->len && st->len <= ENS_STAGE_CHUNK);
    assert(!st->head_only || st->len == ENS_PIECE_HEAD);
    assert(st->hand_slot <= ENS_STAGE_SLOTS);
    assert(st->state <= ENS_STAGE_HANDLING);
    assert(st->held_done <= st->held_len && st->held_len <= st->held_cap);
    assert(st->poison_len <= st->slot_bytes);
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        const ens_stage_slot *s = &st->slot[i];
        assert(s->have <= s->total && s->total <= st->slot_bytes);
        assert(s->conn != 0 || (s->total == 0 && s->have == 0));
        for (unsigned k = i + 1; s->conn != 0 && k < ENS_STAGE_SLOTS; k++)
            assert(st->slot[k].conn != s->conn);
    }
#endif
}

ssize_t ens__stage_look(ens_stage *st, int fd, size_t max)
{
    assert(st->len == st->done && st->pend_bytes == 0);
    st->len = st->done = 0;
    st->head_only = 0;
    ssize_t n =
        recv(fd, st->buf, max < ENS_STAGE_CHUNK ? max : ENS_STAGE_CHUNK, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

/* A note stands for the take it announces: written whole before it. */
static void note(ens_stage *st, uint64_t conn, uint32_t seq, uint64_t bytes)
{
    st->sticky = conn; /* the batch's connection, noted before the batch */
    st->pend_seq = seq;
    st->pend_conn = conn;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    st->pend_bytes = bytes;
}

static int took(ens_stage *st, ssize_t got, uint64_t want)
{
    step(ENS_STAGE_STEP_TAKEN);
    st->pend_bytes = 0;
    step(ENS_STAGE_STEP_CLEARED);
    ens__stage_check(st);
    return got == (ssize_t)want ? 0 : ENS_EIO;
}

int ens__stage_take(ens_stage *st, int fd, uint64_t conn, size_t whole)
{
    assert(whole >= ENS_FRAME_HEADER_LEN && whole <= ENS_STAGE_CHUNK);
    note(st, conn, ens__frame_seq(st->buf), whole);
    /* len after the note: settle takes a note whose len differs as one
     * whose take never happened (see ens__stage_settle). */
    st->len = whole;
    step(ENS_STAGE_STEP_NOTED);
    /* One read takes them all (they are queued): a crash cannot split the
     * take, so the head of the connection tells whether it happened. The
     * bytes are in the batch area already (looked at): read them there
     * again rather than into a scratch buffer. */
    ssize_t got;
    do
        got = recv(fd, st->buf, whole, MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    return took(st, got, whole);
}

int ens__stage_take_piece(ens_stage *st, int fd, uint64_t conn, uint32_t seq, uint64_t flen,
                          unsigned i, uint64_t off)
{
    assert(i < ENS_STAGE_SLOTS && flen > ENS_PIECE_HEAD &&
           flen <= ENS_PIECE_HEAD + ENS_FRAG_CHUNK_MAX);
    assert(off + (flen - ENS_PIECE_HEAD) <= st->slot[i].total);
    st->len = ENS_PIECE_HEAD;
    st->done = 0;
    st->head_only = 1;
    note(st, conn, seq, flen);
    step(ENS_STAGE_STEP_NOTED);
    struct iovec iov[2] = {{st->buf, ENS_PIECE_HEAD},
                           {ens__stage_slot_area(st, i) + off, flen - ENS_PIECE_HEAD}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t got;
    do
        got = recvmsg(fd, &mh, MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    int rc = took(st, got, flen);
    if (rc < 0) {
        st->len = st->done = 0;
        st->head_only = 0;
    }
    return rc;
}

void ens__stage_hand(ens_stage *st, uint32_t attempt)
{
    assert(st->done < st->len);
    if (!ens__stage_in_hand(st) || st->hand_held)
        st->hand_seq++; /* a crash before HANDLING below only skips a number */
    st->attempt = attempt;
    st->hand_at = st->done;
    st->hand_held = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    st->state = ENS_STAGE_HANDLING;
    step(ENS_STAGE_STEP_IN_HAND);
}

/* ---- held frames ------------------------------------------------------------- */

#define HELD_HEAD 8u

static uint64_t held_rec_len(uint64_t frame_len)
{
    return (HELD_HEAD + frame_len + 7u) & ~(uint64_t)7u;
}

int ens__stage_hold(ens_stage *st, const uint8_t *frame, uint64_t len)
{
    assert(st->state == ENS_STAGE_HANDLING);
    const uint64_t rec = held_rec_len(len);
    if (len < ENS_FRAME_HEADER_LEN || rec > st->held_cap - st->held_len)
        return ENS_EFULL;
    uint8_t *at = ens__stage_held_area(st) + st->held_len;
    memcpy(at, &st->hand_seq, HELD_HEAD);
    memcpy(at + HELD_HEAD, frame, len);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    st->held_len += rec; /* held: the mark of the frame in hand follows */
    step(ENS_STAGE_STEP_HELD);
    return 0;
}

bool ens__stage_held_peek(ens_stage *st, const uint8_t **frame, uint64_t *len)
{
    if (st->held_len - st->held_done < HELD_HEAD + ENS_FRAME_HEADER_LEN)
        return false;
    const uint8_t *f = ens__stage_held_area(st) + st->held_done + HELD_HEAD;
    const uint64_t n = ens__frame_total_len(f);
    if (n < ENS_FRAME_HEADER_LEN || held_rec_len(n) > st->held_len - st->held_done)
        return false;
    *frame = f;
    *len = n;
    return true;
}

void ens__stage_hand_held(ens_stage *st, uint32_t attempt)
{
    assert(st->held_done < st->held_len);
    if (!ens__stage_in_hand(st) || !st->hand_held)
        st->hand_seq++;
    st->attempt = attempt;
    st->hand_at = st->held_done;
    st->hand_held = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    st->state = ENS_STAGE_HANDLING;
    step(ENS_STAGE_STEP_IN_HAND);
}

void ens__stage_mark_held(ens_stage *st)
{
    assert(st->state == ENS_STAGE_HANDLING && st->hand_held);
    const uint8_t *f;
    uint64_t n;
    if (!ens__stage_held_peek(st, &f, &n)) /* a damaged record: the rest cannot be read */
        n = st->held_len - st->held_done - HELD_HEAD;
    st->held_done += held_rec_len(n); /* handled */
    if (st->held_done > st->held_len)
        st->held_done = st->held_len;
    step(ENS_STAGE_STEP_MARKED);
    st->state = ENS_STAGE_IDLE;
    st->hand_held = 0;
    if (st->held_done == st->held_len) {
        /* All delivered: start afresh. held_len first: a crash in between
         * leaves held_done >= held_len, which reads as empty. */
        st->held_len = 0;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        st->held_done = 0;
    }
    ens__stage_check(st);
}

bool ens__stage_held_has(const ens_stage *st, uint64_t seq)
{
    const uint8_t *area = ens__stage_held_area((ens_stage *)st);
    for (uint64_t at = st->held_done; at + HELD_HEAD + ENS_FRAME_HEADER_LEN <= st->held_len;) {
        uint64_t s;
        memcpy(&s, area + at, HELD_HEAD);
        if (s == seq)
            return true;
        at += held_rec_len(ens__frame_total_len(area + at + HELD_HEAD));
    }
    return false;
}

/* ---- poison ------------------------------------------------------------------ */

int ens__stage_poison_put(ens_stage *st, const uint8_t *frame, uint64_t len)
{
    assert(ens__stage_in_hand(st) && st->poison_len == 0);
    step(ENS_STAGE_STEP_POISON_BEFORE);
    if (len > st->slot_bytes)
        return ENS_EMSGSIZE;
    memcpy(ens__stage_poison_area(st), frame, len);
    st->poison_for = st->hand_seq;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    st->poison_len = len; /* decided: the admin sends it, once */
    step(ENS_STAGE_STEP_POISON_NOTED);
    return 0;
}

void ens__stage_poison_sent(ens_stage *st)
{
    (void)st;
    step(ENS_STAGE_STEP_POISON_SENT);
}

void ens__stage_mark(ens_stage *st, uint64_t bytes)
{
    assert(st->state == ENS_STAGE_HANDLING && st->done + bytes <= st->len);
    st->done += bytes; /* handled: a crash from here on finds nothing in hand */
    step(ENS_STAGE_STEP_MARKED);
    st->state = ENS_STAGE_IDLE;
    ens__stage_check(st);
}

void ens__stage_skip(ens_stage *st, uint64_t bytes)
{
    assert(st->done + bytes <= st->len);
    st->done += bytes;
}

void ens__stage_end_batch(ens_stage *st)
{
    if (st->done != st->len)
        return;
    st->len = st->done = 0;
    st->sticky = 0;
    st->head_only = 0;
    step(ENS_STAGE_STEP_ENDED);
}

void ens__stage_reset(ens_stage *st)
{
    st->len = st->done = 0;
    st->sticky = 0;
    st->hand_slot = 0;
    st->head_only = 0;
    st->pend_bytes = 0;
    st->state = ENS_STAGE_IDLE;
    st->hand_held = 0;
    st->held_len = st->held_done = 0;
    memset(st->slot, 0, sizeof(st->slot));
}

/* ---- slots ---------------------------------------------------------------- */

int ens__stage_slot_of(const ens_stage *st, uint64_t conn)
{
    for (unsigned i = 0; i < ENS_STAGE_SLOTS; i++) {
        if (st->slot[i].conn == conn)
            return (int)i;
    }
    return -1;
}

void ens__stage_slot_claim(ens_stage *st, int i, uint64_t conn, uint64_t total)
{
    assert(i >= 0 && i < (int)ENS_STAGE_SLOTS && conn != 0 && total <= st->slot_bytes);
    ens_stage_slot *s = &st->slot[i];
    s->total = total;
    s->have = 0;
    s->conn = conn;
}

void ens__stage_slot_release(ens_stage *st, int i)
{
    assert(i >= 0 && i < (int)ENS_STAGE_SLOTS);
    ens_stage_slot *s = &st->slot[i];
    s->conn = 0;
    s->total = s->have = 0;
}

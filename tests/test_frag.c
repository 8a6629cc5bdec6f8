/*
 * tests/test_frag.c - frames in pieces and the walk over a byte stream
 * (core/wire/frag.h, core/wire/framing.h): what a piece must say to be taken, how a
 * frame is put together again, where a walk stops, and ens__frag_append
 * round trips around the piece size. Pure unit tests: no processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/wire/frag.h"
#include "core/wire/frame.h"
#include "core/wire/framing.h"
#include "ensemble/error.h"

#define LIMIT    (2u * 1024u * 1024u) /* the frame limit of these tests */
#define PHEAD    (ENS_FRAME_HEADER_LEN + ENS_FRAG_HEAD)
#define MAX_SEEN 64

static const ens_addr target = {7, 0, 0};
static const ens_addr sender = {9, 0, 0};

/* A valid frame of len bytes (>= 64): header, then a byte pattern from
 * seed. */
static uint8_t *make_frame(size_t len, unsigned seed)
{
    uint8_t *f = malloc(len);
    assert_non_null(f);
    ens_frame_hdr h = {.payload_len = (uint32_t)(len - ENS_FRAME_HEADER_LEN),
                       .type_id = 5,
                       .target = target,
                       .sender = sender,
                       .attempt = 1};
    ens__frame_hdr_write(&h, f);
    for (size_t i = ENS_FRAME_HEADER_LEN; i < len; i++)
        f[i] = (uint8_t)(i * 31u + seed);
    return f;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A piece written by hand (any fields, true or not): its header says
 * payload_len = 16 + declared; n bytes of the frame from offset follow.
 * Returns its bytes on the wire (80 + n). */
static size_t make_piece(uint8_t *out, const uint8_t *frame, uint64_t total, uint64_t offset,
                         size_t n, size_t declared, uint32_t seq)
{
    ens_frame_hdr h = {.flags = ENS_FRAME_FRAGMENT,
                       .payload_len = (uint32_t)(ENS_FRAG_HEAD + declared),
                       .target = target,
                       .sender = sender,
                       .attempt = 1,
                       .seq = seq};
    ens__frame_hdr_write(&h, out);
    put64(out + ENS_FRAME_HEADER_LEN, total);
    put64(out + ENS_FRAME_HEADER_LEN + 8, offset);
    if (n > 0)
        memcpy(out + PHEAD, frame + offset, n);
    return PHEAD + n;
}

/* What a walk handed its callback. */
typedef struct seen {
    size_t n;
    int err[MAX_SEEN];
    size_t len[MAX_SEEN];
    uint8_t *frame[MAX_SEEN]; /* copies of the whole frames (err 0) */
    bool heap[MAX_SEEN];
} seen;

static void record(void *arg, ens_framed *f)
{
    seen *s = arg;
    assert_true(s->n < MAX_SEEN);
    s->err[s->n] = f->err;
    s->len[s->n] = f->len;
    s->heap[s->n] = f->heap != NULL;
    if (f->err == 0) {
        /* Taking the assembled frame is allowed: take it when there is one. */
        if (f->heap != NULL) {
            s->frame[s->n] = f->heap;
            f->heap = NULL;
        } else {
            s->frame[s->n] = malloc(f->len);
            assert_non_null(s->frame[s->n]);
            memcpy(s->frame[s->n], f->frame, f->len);
        }
    }
    s->n++;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->frame[i]);
    memset(s, 0, sizeof(*s));
}

/* Frame a equals frame b except for the sequence number (stamped when a
 * frame is queued). */
static void assert_same_frame(const uint8_t *a, const uint8_t *b, size_t len)
{
    assert_true(len >= ENS_FRAME_HEADER_LEN);
    assert_memory_equal(a, b, 60);
    assert_memory_equal(a + ENS_FRAME_HEADER_LEN, b + ENS_FRAME_HEADER_LEN,
                        len - ENS_FRAME_HEADER_LEN);
}

/* ---- reassembly edge cases -------------------------------------------- */

static void test_out_of_order_offsets_are_refused(void **state)
{
    (void)state;
    const size_t total = 3 * ENS_FRAG_CHUNK;
    uint8_t *f = make_frame(total, 1);
    uint8_t *p0 = malloc(PHEAD + ENS_FRAG_CHUNK), *p1 = malloc(PHEAD + ENS_FRAG_CHUNK),
            *p2 = malloc(PHEAD + ENS_FRAG_CHUNK);
    size_t n0 = make_piece(p0, f, total, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    size_t n2 = make_piece(p2, f, total, 2 * ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 2);
    size_t n1 = make_piece(p1, f, total, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 3);
    ens_frag_asm a = {0};
    uint8_t *out = NULL;
    size_t olen = 0;
    assert_int_equal(ens__frag_feed(&a, p0, n0, LIMIT, &out, &olen), 0);
    assert_int_equal(a.have, ENS_FRAG_CHUNK);
    /* The third piece before the second: refused, and the frame is dropped. */
    assert_int_equal(ens__frag_feed(&a, p2, n2, LIMIT, &out, &olen), ENS_EBADFRAME);
    assert_null(a.buf);
    assert_int_equal(a.have, 0);
    /* The second, late: nothing to continue. */
    assert_int_equal(ens__frag_feed(&a, p1, n1, LIMIT, &out, &olen), ENS_EBADFRAME);
    assert_null(a.buf);
    assert_null(out);
    free(p0);
    free(p1);
    free(p2);
    free(f);
}

static void test_overlapping_piece_is_refused(void **state)
{
    (void)state;
    const size_t total = 2 * ENS_FRAG_CHUNK;
    uint8_t *f = make_frame(total, 2);
    uint8_t *p0 = malloc(PHEAD + ENS_FRAG_CHUNK), *ov = malloc(PHEAD + ENS_FRAG_CHUNK);
    size_t n0 = make_piece(p0, f, total, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    /* Starts in the middle of the bytes already taken. */
    size_t nov = make_piece(ov, f, total, ENS_FRAG_CHUNK / 2, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 2);
    ens_frag_asm a = {0};
    uint8_t *out = NULL;
    size_t olen = 0;
    assert_int_equal(ens__frag_feed(&a, p0, n0, LIMIT, &out, &olen), 0);
    assert_int_equal(ens__frag_feed(&a, ov, nov, LIMIT, &out, &olen), ENS_EBADFRAME);
    assert_null(a.buf);
    /* The last piece taken, once more (a reader that crashed between
     * taking it and moving past it meets it again): ignored. */
    assert_int_equal(ens__frag_feed(&a, p0, n0, LIMIT, &out, &olen), 0);
    uint8_t *p1 = malloc(PHEAD + ENS_FRAG_CHUNK);
    size_t n1 = make_piece(p1, f, total, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK - 1, ENS_FRAG_CHUNK - 1, 2);
    uint8_t *p1b = malloc(PHEAD + ENS_FRAG_CHUNK);
    size_t n1b = make_piece(p1b, f, total, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 2);
    assert_int_equal(ens__frag_feed(&a, p1, n1, LIMIT, &out, &olen), 0);
    assert_int_equal(a.have, total - 1);
    assert_int_equal(ens__frag_feed(&a, p1, n1, LIMIT, &out, &olen), 0);
    assert_int_equal(a.have, total - 1);
    /* Overlapping its end instead of repeating it: refused. */
    assert_int_equal(ens__frag_feed(&a, p1b, n1b, LIMIT, &out, &olen), ENS_EBADFRAME);
    assert_null(a.buf);
    free(p1);
    free(p1b);
    /* The same first piece twice: the second starts the frame afresh. */
    assert_int_equal(ens__frag_feed(&a, p0, n0, LIMIT, &out, &olen), 0);
    assert_int_equal(ens__frag_feed(&a, p0, n0, LIMIT, &out, &olen), 0);
    assert_int_equal(a.have, ENS_FRAG_CHUNK);
    assert_int_equal(a.total, total);
    ens__frag_reset(&a);
    assert_null(out);
    free(p0);
    free(ov);
    free(f);
}

static void test_last_piece_past_the_total_is_refused(void **state)
{
    (void)state;
    const size_t total = ENS_FRAG_CHUNK + 1000;
    uint8_t *f = make_frame(total + 500, 3); /* bytes to copy past the end */
    uint8_t *p0 = malloc(PHEAD + ENS_FRAG_CHUNK), *p1 = malloc(PHEAD + 1500);
    size_t n0 = make_piece(p0, f, total, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    size_t n1 = make_piece(p1, f, total, ENS_FRAG_CHUNK, 1500, 1500, 2);
    ens_wire_item it;
    assert_int_equal(ens__wire_next(p1, n1, LIMIT, &it), 1);
    assert_int_equal(it.err, ENS_EBADFRAME);
    assert_true(it.piece);
    assert_int_equal(it.len, PHEAD + 1500);
    ens_frag_asm a = {0};
    uint8_t *out = NULL;
    size_t olen = 0;
    assert_int_equal(ens__frag_feed(&a, p0, n0, LIMIT, &out, &olen), 0);
    assert_int_equal(ens__frag_feed(&a, p1, n1, LIMIT, &out, &olen), ENS_EBADFRAME);
    assert_null(a.buf);
    assert_null(out);
    free(p0);
    free(p1);
    free(f);
}

static void test_zero_length_piece_is_refused_and_skipped(void **state)
{
    (void)state;
    const size_t total = 2 * ENS_FRAG_CHUNK;
    uint8_t *f = make_frame(total, 4);
    uint8_t *small = make_frame(200, 5);
    uint8_t buf[PHEAD + 200];
    size_t n = make_piece(buf, f, total, 0, 0, 0, 1);
    assert_int_equal(n, PHEAD);
    memcpy(buf + n, small, 200);
    ens_wire_item it;
    assert_int_equal(ens__wire_next(buf, sizeof(buf), LIMIT, &it), 1);
    assert_true(it.piece);
    assert_int_equal(it.err, ENS_EBADFRAME);
    assert_int_equal(it.len, PHEAD);
    /* Its length can be trusted: the walk goes on to the frame after it. */
    ens_frag_asm a = {0};
    seen s = {0};
    ens_walk w = ens__frame_walk(buf, sizeof(buf), LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, sizeof(buf));
    assert_int_equal(s.n, 2);
    assert_int_equal(s.err[0], ENS_EBADFRAME);
    assert_int_equal(s.len[0], PHEAD);
    assert_int_equal(s.err[1], 0);
    assert_int_equal(s.len[1], 200);
    assert_memory_equal(s.frame[1], small, 200);
    assert_false(s.heap[1]);
    assert_null(a.buf);
    seen_free(&s);
    free(small);
    free(f);
}

static void test_total_above_the_limit_is_refused(void **state)
{
    (void)state;
    const uint32_t limit = 40000;
    uint8_t *f = make_frame(limit + 1, 6);
    uint8_t *p = malloc(PHEAD + ENS_FRAG_CHUNK);
    ens_wire_item it;
    /* A piece of a frame one byte over the limit. */
    size_t n = make_piece(p, f, limit + 1, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    assert_int_equal(ens__wire_next(p, n, limit, &it), 1);
    assert_int_equal(it.err, ENS_EBADFRAME);
    ens_frag_asm a = {0};
    uint8_t *out = NULL;
    size_t olen = 0;
    assert_int_equal(ens__frag_feed(&a, p, n, limit, &out, &olen), ENS_EBADFRAME);
    assert_null(a.buf);
    /* At the limit exactly: taken. The piece itself (32 KiB + 80) may be
     * longer than a small limit: the limit bounds frames, not pieces. */
    n = make_piece(p, f, limit, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    assert_int_equal(ens__wire_next(p, n, limit, &it), 1);
    assert_int_equal(it.err, 0);
    assert_int_equal(it.total, limit);
    assert_int_equal(ens__frag_feed(&a, p, n, limit, &out, &olen), 0);
    ens__frag_reset(&a);
    assert_int_equal(ens__wire_next(p, n, ENS_FRAG_CHUNK + 40, &it), 1);
    assert_int_equal(it.err, ENS_EBADFRAME); /* total 40000 > that limit */
    /* A whole frame over the limit, of a length a sender writes: refused,
     * skipped. */
    uint8_t *w = make_frame(5000, 7);
    assert_int_equal(ens__wire_next(w, 5000, 4096, &it), 1);
    assert_false(it.piece);
    assert_int_equal(it.err, ENS_EMSGSIZE);
    assert_int_equal(it.len, 5000);
    /* A whole frame longer than any sender writes (it would go in pieces):
     * the stream is lost. */
    ens_frame_hdr h = {.payload_len = ENS_WIRE_WHOLE_MAX - ENS_FRAME_HEADER_LEN + 1,
                       .target = target,
                       .sender = sender,
                       .attempt = 1};
    uint8_t head[ENS_FRAME_HEADER_LEN];
    ens__frame_hdr_write(&h, head);
    assert_int_equal(ens__wire_next(head, sizeof(head), LIMIT, &it), ENS_EBADFRAME);
    h.payload_len--;
    ens__frame_hdr_write(&h, head);
    assert_int_equal(ens__wire_next(head, sizeof(head), LIMIT, &it), 0); /* wait for it */
    /* A piece longer than any piece: lost too. */
    h.flags = ENS_FRAME_FRAGMENT;
    h.payload_len = ENS_FRAG_HEAD + ENS_FRAG_CHUNK_MAX + 1;
    ens__frame_hdr_write(&h, head);
    assert_int_equal(ens__wire_next(head, sizeof(head), LIMIT, &it), ENS_EBADFRAME);
    h.payload_len--; /* the longest piece: wait for it */
    ens__frame_hdr_write(&h, head);
    assert_int_equal(ens__wire_next(head, sizeof(head), LIMIT, &it), 0);
    free(w);
    free(p);
    free(f);
}

static void test_first_piece_restarts_an_assembly(void **state)
{
    (void)state;
    const size_t ta = 2 * ENS_FRAG_CHUNK, tb = ENS_FRAG_CHUNK + 10;
    uint8_t *fa = make_frame(ta, 8), *fb = make_frame(tb, 9);
    uint8_t *buf = malloc(3 * (PHEAD + ENS_FRAG_CHUNK));
    size_t len = 0;
    len += make_piece(buf + len, fa, ta, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    len += make_piece(buf + len, fb, tb, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 2);
    len += make_piece(buf + len, fb, tb, ENS_FRAG_CHUNK, 10, 10, 3);
    ens_frag_asm a = {0};
    seen s = {0};
    ens_walk w = ens__frame_walk(buf, len, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, len);
    /* The first frame's piece is dropped without a word; the second is whole. */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.err[0], 0);
    assert_int_equal(s.len[0], tb);
    assert_true(s.heap[0]);
    assert_memory_equal(s.frame[0], fb, tb);
    assert_null(a.buf);
    seen_free(&s);
    free(buf);
    free(fa);
    free(fb);
}

static void test_pieces_of_two_frames_interleaved_are_refused(void **state)
{
    (void)state;
    /* Two frames of the same length, target and sender: only the
     * sequence numbers tell their pieces apart. */
    const size_t t = ENS_FRAG_CHUNK + 100;
    uint8_t *fa = make_frame(t, 10), *fb = make_frame(t, 11);
    uint8_t *buf = malloc(4 * (PHEAD + ENS_FRAG_CHUNK));
    size_t len = 0;
    ens_frag_asm a = {0};
    seen s = {0};
    /* B's first piece restarts (A is dropped); A's last piece has B's
     * total and the right offset, but a sequence number from the past. */
    len = 0;
    len += make_piece(buf + len, fa, t, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    len += make_piece(buf + len, fb, t, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 3);
    len += make_piece(buf + len, fa, t, ENS_FRAG_CHUNK, 100, 100, 2);
    ens_walk w = ens__frame_walk(buf, len, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, len);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.err[0], ENS_EBADFRAME);
    assert_int_equal(s.len[0], PHEAD + 100);
    assert_null(a.buf);
    seen_free(&s);
    /* Interleaved as a sender would number them (1 2 3 4): A's last piece
     * is indistinguishable from B's, it completes B with A's bytes, and
     * B's own last piece continues nothing. Pieces carry no frame identity
     * beyond total, sender and target: a sender never interleaves, and a
     * walk cannot tell when two frames that alike are. */
    len = 0;
    len += make_piece(buf + len, fa, t, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    len += make_piece(buf + len, fb, t, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 2);
    len += make_piece(buf + len, fa, t, ENS_FRAG_CHUNK, 100, 100, 3);
    len += make_piece(buf + len, fb, t, ENS_FRAG_CHUNK, 100, 100, 4);
    w = ens__frame_walk(buf, len, LIMIT, &a, record, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.err[0], 0);
    assert_int_equal(s.len[0], t);
    assert_memory_equal(s.frame[0], fb, ENS_FRAG_CHUNK);
    assert_memory_equal(s.frame[0] + ENS_FRAG_CHUNK, fa + ENS_FRAG_CHUNK, 100);
    assert_int_equal(s.err[1], ENS_EBADFRAME);
    assert_null(a.buf);
    seen_free(&s);
    /* Two frames with different lengths: the totals tell them apart. */
    const size_t t2 = ENS_FRAG_CHUNK + 50;
    uint8_t *fc = make_frame(t2, 12);
    len = 0;
    len += make_piece(buf + len, fa, t, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    len += make_piece(buf + len, fc, t2, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 2);
    len += make_piece(buf + len, fa, t, ENS_FRAG_CHUNK, 100, 100, 3);
    len += make_piece(buf + len, fc, t2, ENS_FRAG_CHUNK, 50, 50, 4);
    w = ens__frame_walk(buf, len, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.err[0], ENS_EBADFRAME); /* A's last: C's total differs */
    assert_int_equal(s.err[1], ENS_EBADFRAME); /* C's last: nothing to continue */
    assert_null(a.buf);
    seen_free(&s);
    free(buf);
    free(fa);
    free(fb);
    free(fc);
}

static void test_piece_whose_payload_length_lies(void **state)
{
    (void)state;
    const size_t t = 2 * ENS_FRAG_CHUNK;
    uint8_t *f = make_frame(t, 13);
    uint8_t *small = make_frame(200, 14);
    uint8_t *buf = malloc(PHEAD + ENS_FRAG_CHUNK + 200);
    /* It says 100 bytes and carries a whole piece's: the walk takes 100,
     * and the rest of the bytes are not a frame. */
    size_t n = make_piece(buf, f, t, 0, ENS_FRAG_CHUNK, 100, 1);
    ens_frag_asm a = {0};
    seen s = {0};
    ens_walk w = ens__frame_walk(buf, n, LIMIT, &a, record, &s);
    assert_true(w.lost);
    assert_int_equal(w.used, PHEAD + 100);
    assert_int_equal(s.n, 0);
    assert_int_equal(a.have, 100); /* taken as a first piece of 100 bytes */
    ens__frag_reset(&a);
    /* It says a whole piece and carries 100 bytes, then a small frame: the
     * piece swallows the frame and waits for bytes that never come. */
    n = make_piece(buf, f, t, 0, 100, ENS_FRAG_CHUNK, 1);
    memcpy(buf + n, small, 200);
    w = ens__frame_walk(buf, n + 200, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, 0);
    assert_int_equal(s.n, 0);
    assert_null(a.buf);
    /* A last piece that says more bytes than are left of the frame. */
    n = make_piece(buf, f, ENS_FRAG_CHUNK + 100, ENS_FRAG_CHUNK, 150, 150, 2);
    ens_wire_item it;
    assert_int_equal(ens__wire_next(buf, n, LIMIT, &it), 1);
    assert_int_equal(it.err, ENS_EBADFRAME);
    seen_free(&s);
    free(buf);
    free(small);
    free(f);
}

static void test_buffer_ending_mid_header_and_mid_piece(void **state)
{
    (void)state;
    uint8_t *small = make_frame(300, 15);
    const size_t t = 2 * ENS_FRAG_CHUNK;
    uint8_t *f = make_frame(t, 16);
    uint8_t *buf = malloc(300 + 2 * (PHEAD + ENS_FRAG_CHUNK));
    memcpy(buf, small, 300);
    size_t len = 300;
    len += make_piece(buf + len, f, t, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    len += make_piece(buf + len, f, t, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 2);
    ens_frag_asm a = {0};
    seen s = {0};
    ens_wire_item it;
    /* Mid-header: the small frame, then 30 bytes of the piece's header. */
    ens_walk w = ens__frame_walk(buf, 330, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, 300);
    assert_int_equal(s.n, 1);
    assert_memory_equal(s.frame[0], small, 300);
    seen_free(&s);
    /* A piece's header without its total and offset: no head yet. */
    assert_int_equal(ens__wire_head(buf + 300, ENS_FRAME_HEADER_LEN + 10, LIMIT, &it), 0);
    /* Its head without its bytes (an actor that takes the bytes elsewhere). */
    assert_int_equal(ens__wire_head(buf + 300, PHEAD, LIMIT, &it), 1);
    assert_true(it.piece);
    assert_int_equal(it.err, 0);
    assert_int_equal(it.len, PHEAD + ENS_FRAG_CHUNK);
    assert_int_equal(it.total, t);
    assert_int_equal(it.offset, 0);
    assert_int_equal(it.n, ENS_FRAG_CHUNK);
    assert_ptr_equal(it.bytes, buf + 300 + PHEAD);
    assert_int_equal(ens__wire_next(buf + 300, PHEAD, LIMIT, &it), 0);
    /* Mid-piece, as a stream reader meets it: walk, keep the tail, add the
     * next bytes, walk again. */
    const size_t cut = 300 + PHEAD + ENS_FRAG_CHUNK + 1000;
    w = ens__frame_walk(buf + 300, cut - 300, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, PHEAD + ENS_FRAG_CHUNK);
    assert_int_equal(s.n, 0);
    assert_int_equal(a.have, ENS_FRAG_CHUNK);
    w = ens__frame_walk(buf + 300 + w.used, len - 300 - w.used, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, PHEAD + ENS_FRAG_CHUNK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.len[0], t);
    assert_memory_equal(s.frame[0], f, t);
    /* Bytes that are not a frame header at all. */
    uint8_t junk[ENS_FRAME_HEADER_LEN];
    memset(junk, 0x41, sizeof(junk));
    assert_int_equal(ens__wire_next(junk, sizeof(junk), LIMIT, &it), ENS_EBADFRAME);
    assert_int_equal(ens__wire_next(junk, sizeof(junk) - 1, LIMIT, &it), 0);
    seen_free(&s);
    free(buf);
    free(small);
    free(f);
}

/* ---- ens__frag_append -> walk round trips ----------------------------- */

/* Frames of len bytes appended, each between two small frames, walked back
 * in one go and in reads of an odd size: the same frames, in order, each
 * in the expected number of pieces with consecutive sequence numbers. */
static void round_trip_sized(size_t len, size_t chunk)
{
    uint8_t *before = make_frame(100, 20), *big = make_frame(len, 21),
            *after = make_frame(ENS_FRAME_HEADER_LEN, 22);
    uint8_t *buf = NULL;
    size_t blen = 0, cap = 0;
    uint32_t seq = 0;
    assert_int_equal(ens__frag_append(&buf, &blen, &cap, before, 100, &seq), 0);
    assert_int_equal(ens__frag_append_sized(&buf, &blen, &cap, big, len, chunk, &seq), 0);
    assert_int_equal(ens__frag_append(&buf, &blen, &cap, after, ENS_FRAME_HEADER_LEN, &seq), 0);
    const size_t pieces = len > ENS_FRAG_CHUNK ? ens__frag_pieces_of(len, chunk) : 1;
    assert_int_equal(seq, 2 + pieces);
    assert_int_equal(blen, 100 + len + ENS_FRAME_HEADER_LEN +
                               (len > ENS_FRAG_CHUNK ? pieces * PHEAD : 0));
    /* Each item on the wire, in order. */
    size_t off = 0, items = 0;
    ens_wire_item it;
    while (ens__wire_next(buf + off, blen - off, LIMIT, &it) == 1) {
        assert_int_equal(it.err, 0);
        assert_int_equal(ens__frame_seq(it.at), items + 1);
        assert_true(it.len <= (it.piece ? PHEAD + chunk : ENS_WIRE_WHOLE_MAX));
        assert_int_equal(it.piece, len > ENS_FRAG_CHUNK && items >= 1 && items <= pieces);
        off += it.len;
        items++;
    }
    assert_int_equal(off, blen);
    assert_int_equal(items, 2 + pieces);
    /* In one go. */
    ens_frag_asm a = {0};
    seen s = {0};
    ens_walk w = ens__frame_walk(buf, blen, LIMIT, &a, record, &s);
    assert_false(w.lost);
    assert_int_equal(w.used, blen);
    assert_int_equal(s.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(s.err[i], 0);
    assert_int_equal(s.len[0], 100);
    assert_int_equal(s.len[1], len);
    assert_int_equal(s.len[2], ENS_FRAME_HEADER_LEN);
    assert_int_equal(s.heap[1], len > ENS_FRAG_CHUNK);
    assert_same_frame(s.frame[0], before, 100);
    assert_same_frame(s.frame[1], big, len);
    assert_same_frame(s.frame[2], after, ENS_FRAME_HEADER_LEN);
    assert_null(a.buf);
    seen_free(&s);
    /* In reads of 7001 bytes, the unread tail kept as a stream reader does. */
    uint8_t *pending = malloc(blen);
    size_t plen = 0, fed = 0;
    while (fed < blen) {
        size_t n = blen - fed < 7001 ? blen - fed : 7001;
        memcpy(pending + plen, buf + fed, n);
        plen += n;
        fed += n;
        w = ens__frame_walk(pending, plen, LIMIT, &a, record, &s);
        assert_false(w.lost);
        memmove(pending, pending + w.used, plen - w.used);
        plen -= w.used;
    }
    assert_int_equal(plen, 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.len[1], len);
    assert_same_frame(s.frame[1], big, len);
    assert_null(a.buf);
    seen_free(&s);
    free(pending);
    free(buf);
    free(before);
    free(big);
    free(after);
}

static void round_trip(size_t len)
{
    round_trip_sized(len, ENS_FRAG_CHUNK);
}

static void test_round_trip_empty_payload(void **state)
{
    (void)state;
    round_trip(ENS_FRAME_HEADER_LEN + 0);
}

static void test_round_trip_one_byte_payload(void **state)
{
    (void)state;
    round_trip(ENS_FRAME_HEADER_LEN + 1);
}

static void test_round_trip_around_one_piece(void **state)
{
    (void)state;
    /* Frame lengths each side of the piece size (a frame of 32768 bytes
     * goes whole, 32769 in two pieces), and payloads of those sizes. */
    round_trip(ENS_FRAG_CHUNK - 1);
    round_trip(ENS_FRAG_CHUNK);
    round_trip(ENS_FRAG_CHUNK + 1);
    round_trip(ENS_FRAME_HEADER_LEN + ENS_FRAG_CHUNK - 1);
    round_trip(ENS_FRAME_HEADER_LEN + ENS_FRAG_CHUNK);
    round_trip(ENS_FRAME_HEADER_LEN + ENS_FRAG_CHUNK + 1);
}

static void test_round_trip_three_pieces(void **state)
{
    (void)state;
    round_trip(3 * ENS_FRAG_CHUNK);
    round_trip(3 * ENS_FRAG_CHUNK + 1);
}

static void test_round_trip_one_mebibyte(void **state)
{
    (void)state;
    round_trip(1024 * 1024);
    round_trip(ENS_FRAME_HEADER_LEN + 1024 * 1024);
}

/* Pieces sized to a connection's send buffer: a quarter of it less an
 * eighth, in whole 4 KiB, never below the default piece or above what
 * readers take; frames cut so walk back whole, also in small reads. */
static void test_pieces_sized_to_the_send_buffer(void **state)
{
    (void)state;
    assert_int_equal(ens__frag_chunk_for(-1), ENS_FRAG_CHUNK);
    assert_int_equal(ens__frag_chunk_for(4608), ENS_FRAG_CHUNK);
    assert_int_equal(ens__frag_chunk_for(212992), 45056);   /* the default buffer */
    assert_int_equal(ens__frag_chunk_for(1048576), 229376); /* SO_SNDBUF 512 KiB, doubled */
    assert_int_equal(ens__frag_chunk_for(8388608), ENS_FRAG_CHUNK_MAX);
    round_trip_sized(1024 * 1024, ens__frag_chunk_for(1048576));
    round_trip_sized(ENS_FRAG_CHUNK + 1, ENS_FRAG_CHUNK_MAX);
    round_trip_sized(3 * ENS_FRAG_CHUNK_MAX + 7, ENS_FRAG_CHUNK_MAX);
}

/* Placing a piece's bytes by hand (ens__frag_begin, then the bytes, then
 * ens__frag_commit: how the outside receives straight into the frame)
 * puts the same frame together as feeding whole pieces, needs only the
 * head, and refuses what feed refuses. */
static void test_place_by_head_matches_feed(void **state)
{
    (void)state;
    const size_t total = 2 * ENS_FRAG_CHUNK + 300;
    uint8_t *f = make_frame(total, 11);
    uint8_t *p = malloc(PHEAD + ENS_FRAG_CHUNK);
    ens_frag_asm a = {0};
    uint8_t *whole = NULL;
    size_t wlen = 0;
    const size_t n[3] = {ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 300};
    for (size_t k = 0; k < 3; k++) {
        size_t plen = make_piece(p, f, total, k * ENS_FRAG_CHUNK, n[k], n[k], (uint32_t)k + 1);
        /* only the head is there: the bytes after it are garbage */
        memset(p + PHEAD, 0xee, plen - PHEAD);
        ens_frag_place pl;
        assert_int_equal(ens__frag_begin(&a, p, plen, LIMIT, &pl), 1);
        assert_int_equal(pl.n, n[k]);
        memcpy(pl.to, f + k * ENS_FRAG_CHUNK, pl.n);
        assert_int_equal(ens__frag_commit(&a, &pl, &whole, &wlen), k == 2 ? 1 : 0);
        if (k == 1) { /* the same piece once more: its bytes are skipped */
            make_piece(p, f, total, ENS_FRAG_CHUNK, n[k], n[k], 2);
            assert_int_equal(ens__frag_begin(&a, p, plen, LIMIT, &pl), 0);
        }
    }
    assert_int_equal(wlen, total);
    assert_memory_equal(whole, f, total);
    free(whole);
    /* out of order: refused, and the partial frame is dropped */
    ens_frag_place pl;
    size_t plen = make_piece(p, f, total, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    assert_int_equal(ens__frag_begin(&a, p, plen, LIMIT, &pl), 1);
    memcpy(pl.to, f, pl.n);
    assert_int_equal(ens__frag_commit(&a, &pl, &whole, &wlen), 0);
    plen = make_piece(p, f, total, 2 * ENS_FRAG_CHUNK, 300, 300, 2);
    assert_int_equal(ens__frag_begin(&a, p, plen, LIMIT, &pl), ENS_EBADFRAME);
    assert_null(a.buf);
    /* a head whose fields do not hold */
    plen = make_piece(p, f, LIMIT + 1, 0, ENS_FRAG_CHUNK, ENS_FRAG_CHUNK, 1);
    assert_int_equal(ens__frag_begin(&a, p, plen, LIMIT, &pl), ENS_EBADFRAME);
    assert_int_equal(ens__frag_begin(&a, p, PHEAD - 1, LIMIT, &pl), ENS_EBADFRAME);
    ens__frag_reset(&a);
    free(p);
    free(f);
}

/* A reader that carries the start of a frame between reads: a stream cut at
 * every byte boundary comes out as the same bytes, in order, and the carry
 * is empty (and its large buffer freed) once a read ends on a boundary. */
static void test_carry_keeps_what_a_walk_left_between_reads(void **state)
{
    (void)state;
    uint8_t stream[100];
    for (size_t i = 0; i < sizeof(stream); i++)
        stream[i] = (uint8_t)i;
    for (size_t cut = 1; cut < sizeof(stream); cut++) {
        ens_carry c = {0};
        uint8_t out[100];
        size_t got = 0;
        /* Two reads: [0, cut) and [cut, end); a "walk" takes whole 10-byte
         * records and leaves the rest. */
        const size_t reads[2][2] = {{0, cut}, {cut, sizeof(stream) - cut}};
        for (int r = 0; r < 2; r++) {
            const uint8_t *data = stream + reads[r][0];
            size_t len = reads[r][1];
            assert_true(ens__carry_join(&c, &data, &len));
            size_t used = len / 10 * 10;
            memcpy(out + got, data, used);
            got += used;
            assert_true(ens__carry_rest(&c, data, len, used, 16));
        }
        assert_int_equal(got, sizeof(stream));
        assert_memory_equal(out, stream, sizeof(stream));
        assert_int_equal(c.len, 0);
        assert_true(c.cap <= 16); /* past keep_cap, an empty carry lets go of its buffer */
        ens__carry_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_order_offsets_are_refused),
        cmocka_unit_test(test_overlapping_piece_is_refused),
        cmocka_unit_test(test_last_piece_past_the_total_is_refused),
        cmocka_unit_test(test_zero_length_piece_is_refused_and_skipped),
        cmocka_unit_test(test_total_above_the_limit_is_refused),
        cmocka_unit_test(test_first_piece_restarts_an_assembly),
        cmocka_unit_test(test_pieces_of_two_frames_interleaved_are_refused),
        cmocka_unit_test(test_piece_whose_payload_length_lies),
        cmocka_unit_test(test_buffer_ending_mid_header_and_mid_piece),
        cmocka_unit_test(test_round_trip_empty_payload),
        cmocka_unit_test(test_round_trip_one_byte_payload),
        cmocka_unit_test(test_round_trip_around_one_piece),
        cmocka_unit_test(test_round_trip_three_pieces),
        cmocka_unit_test(test_round_trip_one_mebibyte),
        cmocka_unit_test(test_pieces_sized_to_the_send_buffer),
        cmocka_unit_test(test_place_by_head_matches_feed),
        cmocka_unit_test(test_carry_keeps_what_a_walk_left_between_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

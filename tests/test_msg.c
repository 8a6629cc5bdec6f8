/*
 * tests/test_msg.c - messages built from frames: accessors, ownership of
 * the frame on every error, unknown types, copies, rebuilt frames, and the
 * original inside a PoisonMessage or DeadEnvelope.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/wire/msg_internal.h"
#include "ensemble/error.h"

#define LIMIT (1u << 20)

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;
static ens_msgtype greeting_t = {"test.msg.Greeting", "S(is)", sizeof(greeting_v), 0, 0, NULL};
static ens_msgtype unregistered_t = {"test.msg.Never", "S(is)", sizeof(greeting_v), 0, 0, NULL};

static int setup(void **state)
{
    (void)state;
    return ens_msgtype_register(&greeting_t);
}

static ens_frame_hdr hdr(void)
{
    ens_frame_hdr h = {0};
    h.flags = ENS_FRAME_REQUEST;
    h.target = (ens_addr){11, 1, 0};
    h.sender = (ens_addr){22, 1, 0};
    h.corr = 99;
    h.attempt = 1;
    return h;
}

static ens_msg *build(const ens_msgtype *t, const void *v)
{
    ens_frame_hdr h = hdr();
    uint8_t *frame = NULL;
    size_t len = 0;
    assert_int_equal(ens__frame_build(t, v, &h, LIMIT, &frame, &len), 0);
    ens_msg *m = NULL;
    assert_int_equal(ens__msg_from_frame(frame, len, LIMIT, &m), 0);
    assert_non_null(m);
    return m;
}

static void test_message_accessors_report_header_and_value(void **state)
{
    (void)state;
    greeting_v in = {5, "hi"};
    ens_msg *m = build(&greeting_t, &in);
    assert_ptr_equal(ens_msg_type(m), &greeting_t);
    assert_int_equal(ens_msg_type_id(m), greeting_t.id);
    const greeting_v *v = ens_msg_value(m, &greeting_t);
    assert_non_null(v);
    assert_int_equal(v->count, 5);
    assert_string_equal(v->text, "hi");
    assert_null(ens_msg_value(m, &ens_msg_string));
    assert_null(ens_msg_value(m, &unregistered_t));
    assert_null(ens_msg_value(m, NULL));
    assert_true(ens_msg_sender(m).id == 22);
    assert_true(ens_msg_target(m).id == 11);
    assert_int_equal(ens_msg_attempt(m), 1);
    assert_int_equal(ens_msg_size(m), m->frame_len);
    assert_null(ens_poison_original(m));
    ens_msg_free(m);
    ens_msg_free(NULL);
    assert_null(ens_msg_type(NULL));
    assert_null(ens_msg_dup(NULL));
}

static void test_frame_build_rejects_null_and_unregistered_types(void **state)
{
    (void)state;
    ens_frame_hdr h = hdr();
    uint8_t *frame = NULL;
    size_t len;
    greeting_v in = {1, "x"};
    assert_int_equal(ens__frame_build(NULL, &in, &h, LIMIT, &frame, &len), ENS_EINVAL);
    assert_int_equal(ens__frame_build(&unregistered_t, &in, &h, LIMIT, &frame, &len), ENS_EBADTYPE);
    assert_null(frame);
}

static void test_unknown_type_id_is_ebadtype(void **state)
{
    (void)state;
    greeting_v in = {1, "x"};
    ens_frame_hdr h = hdr();
    uint8_t *frame;
    size_t len;
    assert_int_equal(ens__frame_build(&greeting_t, &in, &h, LIMIT, &frame, &len), 0);
    uint32_t bogus = ens__type_hash("test.msg.NobodyRegisteredMe");
    for (int i = 0; i < 4; i++)
        frame[12 + i] = (uint8_t)(bogus >> (8 * i));
    ens_msg *m = NULL;
    /* the frame is owned (and freed) by ens__msg_from_frame: ASan checks */
    assert_int_equal(ens__msg_from_frame(frame, len, LIMIT, &m), ENS_EBADTYPE);
    assert_null(m);
}

static void test_bad_frames_are_freed_and_rejected(void **state)
{
    (void)state;
    greeting_v in = {1, "x"};
    ens_frame_hdr h = hdr();
    uint8_t *frame;
    size_t len;
    ens_msg *m = NULL;
    assert_int_equal(ens__frame_build(&greeting_t, &in, &h, LIMIT, &frame, &len), 0);
    frame[0] = 'X';
    assert_int_equal(ens__msg_from_frame(frame, len, LIMIT, &m), ENS_EBADFRAME);
    assert_int_equal(ens__frame_build(&greeting_t, &in, &h, LIMIT, &frame, &len), 0);
    assert_int_equal(ens__msg_from_frame(frame, len, (uint32_t)len - 1, &m), ENS_EMSGSIZE);
    /* a payload that is not the type's image */
    assert_int_equal(ens__frame_build(&greeting_t, &in, &h, LIMIT, &frame, &len), 0);
    frame[ENS_FRAME_HEADER_LEN + 10] ^= 0x5A;
    assert_int_equal(ens__msg_from_frame(frame, len, LIMIT, &m), ENS_EBADFRAME);
    assert_null(m);
    frame = malloc(10);
    memset(frame, 0, 10);
    assert_int_equal(ens__msg_from_frame(frame, 10, LIMIT, &m), ENS_EBADFRAME);
}

static void test_dup_is_independent_of_the_original(void **state)
{
    (void)state;
    greeting_v in = {8, "keep me"};
    ens_msg *m = build(&greeting_t, &in);
    ens_msg *c = ens_msg_dup(m);
    assert_non_null(c);
    assert_ptr_not_equal(c->frame, m->frame);
    const greeting_v *mv = ens_msg_value(m, &greeting_t);
    const greeting_v *cv = ens_msg_value(c, &greeting_t);
    assert_ptr_not_equal(mv, cv);
    assert_ptr_not_equal(mv->text, cv->text);
    ens_msg_free(m); /* the copy must not read anything of m */
    assert_int_equal(cv->count, 8);
    assert_string_equal(cv->text, "keep me");
    assert_int_equal(ens_msg_size(c), c->frame_len);
    ens_msg_free(c);
}

static void test_rebuild_replaces_routing_fields_only(void **state)
{
    (void)state;
    greeting_v in = {3, "again"};
    ens_msg *m = build(&greeting_t, &in);
    ens_frame_hdr h = {0};
    h.target = (ens_addr){33, 2, 0};
    h.sender = (ens_addr){44, 2, 0};
    h.flags = ENS_FRAME_FORWARDED | ENS_FRAME_SYSTEM;
    h.corr = 7;
    h.attempt = 2;
    h.payload_len = 1; /* ignored */
    h.type_id = 1;     /* ignored */
    uint8_t *frame;
    size_t len;
    assert_int_equal(ens__frame_rebuild(m, &h, &frame, &len), 0);
    assert_int_equal(len, m->frame_len);
    assert_memory_equal(frame + ENS_FRAME_HEADER_LEN, m->frame + ENS_FRAME_HEADER_LEN,
                        len - ENS_FRAME_HEADER_LEN);
    ens_msg *r = NULL;
    assert_int_equal(ens__msg_from_frame(frame, len, LIMIT, &r), 0);
    assert_true(ens_msg_target(r).id == 33 && ens_msg_sender(r).id == 44);
    assert_int_equal(ens_msg_attempt(r), 2);
    assert_int_equal(r->hdr.flags, h.flags);
    assert_true(r->hdr.corr == 7);
    assert_int_equal(ens_msg_type_id(r), greeting_t.id);
    assert_string_equal(((const greeting_v *)ens_msg_value(r, &greeting_t))->text, "again");
    ens_msg_free(r);
    ens_msg_free(m);
}

/* A poison (or dead envelope) whose original is a full greeting frame. */
static ens_msg *wrap(const ens_msgtype *wrapper, const char *text)
{
    greeting_v in = {77, (char *)(uintptr_t)text};
    ens_frame_hdr h = hdr();
    uint8_t *inner;
    size_t inner_len;
    assert_int_equal(ens__frame_build(&greeting_t, &in, &h, LIMIT, &inner, &inner_len), 0);
    ens_msg *m;
    if (wrapper == &ens_msg_poison) {
        ens_poison_v p = {{11, 1, 0}, -5, 0, 2, "failed twice", {inner, (uint32_t)inner_len}};
        m = build(&ens_msg_poison, &p);
    } else {
        ens_dead_envelope_v d = {
            {11, 1, 0}, greeting_t.id, "no such actor", {inner, (uint32_t)inner_len}};
        m = build(&ens_msg_dead_envelope, &d);
    }
    free(inner);
    return m;
}

static void test_poison_original_round_trip(void **state)
{
    (void)state;
    ens_msg *m = wrap(&ens_msg_poison, "the failed one");
    const ens_poison_v *p = ens_msg_value(m, &ens_msg_poison);
    assert_non_null(p);
    assert_string_equal(p->detail, "failed twice");
    const ens_msg *o = ens_poison_original(m);
    assert_non_null(o);
    assert_ptr_equal(ens_poison_original(m), o); /* decoded once, cached */
    const greeting_v *g = ens_msg_value(o, &greeting_t);
    assert_non_null(g);
    assert_int_equal(g->count, 77);
    assert_string_equal(g->text, "the failed one");
    assert_true(ens_msg_target(o).id == 11);
    /* a copy of the poison decodes its own original */
    ens_msg *c = ens_msg_dup(m);
    ens_msg_free(m);
    const ens_msg *co = ens_poison_original(c);
    assert_non_null(co);
    assert_string_equal(((const greeting_v *)ens_msg_value(co, &greeting_t))->text,
                        "the failed one");
    ens_msg_free(c);
}

static void test_dead_envelope_original_round_trip(void **state)
{
    (void)state;
    ens_msg *m = wrap(&ens_msg_dead_envelope, "nobody home");
    const ens_msg *o = ens_poison_original(m);
    assert_non_null(o);
    assert_string_equal(((const greeting_v *)ens_msg_value(o, &greeting_t))->text, "nobody home");
    ens_msg_free(m);
}

/* tests/fuzz/corpus/frame/crash-libtpl-old-string-format */
static const uint8_t old_string_poison[226] = {
    0x45, 0x4e, 0x53, 0x31, 0x01, 0x08, 0x01, 0x00, 0xa2, 0x00, 0x00, 0x00, 0x04, 0x00, 0xff, 0xff,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x74, 0x70, 0x6c, 0x00, 0xa2, 0x00, 0x00, 0x00, 0x53, 0x28, 0x24, 0x28, 0x55, 0x75, 0x75, 0x29,
    0x69, 0x69, 0x75, 0x73, 0x29, 0x42, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xea, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x66, 0x61, 0x69, 0x6c, 0x65, 0x64, 0x20, 0x74, 0x77,
    0x69, 0x63, 0x65, 0x5b, 0x00, 0x00, 0x00, 0x45, 0x4e, 0x53, 0x31, 0x01, 0x08, 0x01, 0x00, 0x1b,
    0x00, 0x00, 0x00, 0x19, 0xbd, 0x71, 0x39, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x74, 0x70, 0x6c, 0x02, 0x1b, 0x00, 0x00, 0x00, 0x53,
    0x28, 0x69, 0x73, 0x29, 0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x68, 0x65, 0x6c,
    0x6c, 0x6f,
};

static void test_old_string_format_image_is_rejected_without_overread(void **state)
{
    (void)state;
    /* the fuzzer's find with the system libtpl: a poison whose tpl image
     * uses the pre-1.3 string encoding (flags byte 0, exact string lengths)
     * passed tpl_load, and tpl_unpack then read the blob length from the
     * wrong place and copied far past the payload. ASan would report it
     * here if the codec let it through. */
    uint8_t *frame = malloc(sizeof old_string_poison);
    memcpy(frame, old_string_poison, sizeof old_string_poison);
    assert_int_equal(frame[ENS_FRAME_HEADER_LEN + 3], 0);
    ens_msg *m = NULL;
    assert_int_equal(ens__msg_from_frame(frame, sizeof old_string_poison, LIMIT, &m),
                     ENS_EBADFRAME);
    assert_null(m);
    /* our own encoder always writes the current string encoding */
    m = wrap(&ens_msg_poison, "hello");
    assert_int_equal(m->frame[ENS_FRAME_HEADER_LEN + 3] & 2, 2);
    ens_msg_free(m);
}

static void test_poison_with_bad_original_gives_null(void **state)
{
    (void)state;
    uint8_t junk[80];
    memset(junk, 0x11, sizeof junk);
    ens_poison_v p = {{1, 1, 0}, 0, 9, 2, NULL, {junk, sizeof junk}};
    ens_msg *m = build(&ens_msg_poison, &p);
    assert_null(ens_poison_original(m));
    assert_null(ens_poison_original(m));
    ens_msg_free(m);
    ens_poison_v empty = {{1, 1, 0}, 0, 9, 2, NULL, {NULL, 0}};
    m = build(&ens_msg_poison, &empty);
    assert_null(ens_poison_original(m));
    ens_msg_free(m);
}

static void test_out_of_memory_at_every_step_of_build_and_decode(void **state)
{
    (void)state;
    greeting_v in = {1, "memory"};
    ens_frame_hdr h = hdr();
    long n, failures = 0;
    for (n = 0;; n++) {
        uint8_t *frame = NULL;
        size_t len = 0;
        ens__alloc_fail_after(n);
        int rc = ens__frame_build(&greeting_t, &in, &h, LIMIT, &frame, &len);
        ens_msg *m = NULL;
        if (rc == 0)
            rc = ens__msg_from_frame(frame, len, LIMIT, &m);
        ens__alloc_fail_after(-1);
        if (rc == 0) {
            assert_string_equal(((const greeting_v *)ens_msg_value(m, &greeting_t))->text,
                                "memory");
            ens_msg_free(m);
            break;
        }
        assert_int_equal(rc, ENS_ENOMEM);
        failures++;
    }
    assert_true(failures >= 5);
}

static void test_out_of_memory_in_dup_and_original_is_clean(void **state)
{
    (void)state;
    ens_msg *m = wrap(&ens_msg_poison, "oom");
    long n;
    for (n = 0;; n++) {
        ens__alloc_fail_after(n);
        ens_msg *c = ens_msg_dup(m);
        ens__alloc_fail_after(-1);
        if (c) {
            ens_msg_free(c);
            break;
        }
    }
    assert_true(n >= 3);
    for (n = 0;; n++) {
        ens__alloc_fail_after(n);
        const ens_msg *o = ens_poison_original(m);
        ens__alloc_fail_after(-1);
        if (o)
            break;
        assert_null(m->original);
    }
    assert_true(n >= 3);
    ens_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_accessors_report_header_and_value),
        cmocka_unit_test(test_frame_build_rejects_null_and_unregistered_types),
        cmocka_unit_test(test_unknown_type_id_is_ebadtype),
        cmocka_unit_test(test_bad_frames_are_freed_and_rejected),
        cmocka_unit_test(test_dup_is_independent_of_the_original),
        cmocka_unit_test(test_rebuild_replaces_routing_fields_only),
        cmocka_unit_test(test_poison_original_round_trip),
        cmocka_unit_test(test_dead_envelope_original_round_trip),
        cmocka_unit_test(test_old_string_format_image_is_rejected_without_overread),
        cmocka_unit_test(test_poison_with_bad_original_gives_null),
        cmocka_unit_test(test_out_of_memory_at_every_step_of_build_and_decode),
        cmocka_unit_test(test_out_of_memory_in_dup_and_original_is_clean),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

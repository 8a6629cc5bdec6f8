/*
 * tests/support/codec_cases.h - the message types and helpers the codec's
 * suites share (tests/test_codec.c: the tpl path; tests/test_codec_fixed.c:
 * the fixed-layout path).
 */
#ifndef ENS_TEST_CODEC_CASES_H
#define ENS_TEST_CODEC_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "core/wire/arena.h"
#include "core/wire/codec.h"
#include "core/wire/msg_internal.h"

#define LIMIT (16u << 20)

typedef struct greeting_v {
    int32_t count;
    char *text;
} greeting_v;
extern ens_msgtype codec_greeting_t;

typedef struct located_v {
    int32_t n;
    ens_addr who;
    char *note;
} located_v;
extern ens_msgtype codec_located_t;

typedef struct pair {
    int32_t a;
    char *name;
} pair;
typedef struct lists_v {
    int32_t n;
    ens_array ints;    /* int32_t */
    ens_array bigs;    /* uint64_t */
    ens_array chars;   /* char */
    ens_array shorts;  /* int16_t */
    ens_array doubles; /* double */
    ens_array strs;    /* char * */
    ens_array pairs;   /* pair */
} lists_v;
extern ens_msgtype codec_lists_t;

typedef struct blob_v {
    ens_bytes b;
} blob_v;

typedef struct ints_v {
    ens_array a;
} ints_v;
extern ens_msgtype codec_ints_t;
extern ens_msgtype codec_ints3_t;
extern ens_msgtype codec_strs_t;
extern ens_msgtype codec_pairs_t;

/* Fixed-layout types: every fixed-size scalar kind, padding, a nested
 * address. */
typedef struct scalars_v {
    char c;
    int16_t j;
    uint16_t v;
    int32_t i;
    uint32_t u;
    int64_t big;
    uint64_t ubig;
    double f;
} scalars_v;
extern ens_msgtype codec_scalars_t;
#define SCALARS_PACKED (1 + 2 + 2 + 4 + 4 + 8 + 8 + 8)

typedef struct padded_v {
    char a;     /* 7 padding bytes follow */
    uint64_t b; /* at 8 */
    char c;     /* at 16, 1 padding byte */
    int16_t d;  /* at 18, 4 trailing padding bytes */
} padded_v;
extern ens_msgtype codec_padded_t;
#define PADDED_PACKED (1 + 8 + 1 + 2)

typedef struct where_v {
    int32_t n;
    ens_addr who;
    char tag;
} where_v;
extern ens_msgtype codec_where_t;
#define WHERE_PACKED (4 + 16 + 1)

/* Register every type above (a cmocka group setup). */
int codec_cases_setup(void **state);

/* The codec's view of a registered type (fails the test if unknown). */
const ens_typeinfo *info_of(const ens_msgtype *t);

/* Encode v as t into a new frame (attempt 1, limit LIMIT). */
int encode(const ens_msgtype *t, const void *v, uint8_t **frame, size_t *len);

/* Encode v as t, decode it into a (caller frees a), return the value. */
void *round_trip(const ens_msgtype *t, const void *v, ens_arena **a);

/* Encode v as t with header flags `flags`; check the frame is FIXED with
 * the packed size, and give the frame (caller frees). */
uint8_t *encode_fixed(const ens_msgtype *t, const void *v, uint16_t flags, size_t packed);

/* Decode a payload (copied to a buffer of exactly len bytes, so ASan sees
 * any overread) as t with header flags `flags`; the codec's result. */
int decode_flags(const ens_msgtype *t, uint16_t flags, const uint8_t *payload, size_t len);

#endif

/*
 * tests/support/typed_point.h - a message type shared by several files,
 * declared here with ENS_MESSAGE_DECLARE and defined once in
 * typed_point.c with ENS_MESSAGE_DEFINE (ensemble/typed.h).
 */
#ifndef ENS_TESTS_TYPED_POINT_H
#define ENS_TESTS_TYPED_POINT_H

#include <stdint.h>

#include "ensemble/ensemble.h"

typedef struct point_v {
    int32_t x;
    int32_t y;
    char *label;
} point_v; /* "S(iis)" */

ENS_MESSAGE_DECLARE(point, point_v)

#endif

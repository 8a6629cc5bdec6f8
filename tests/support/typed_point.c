/*
 * tests/support/typed_point.c - the one definition of the shared test type
 * point (see typed_point.h).
 */
#include "support/typed_point.h"

ENS_MESSAGE_DEFINE(point, point_v, "test.typed.Point", "S(iis)")

#ifndef ENSEMBLE_CIRCUIT_BREAKER_H
#define ENSEMBLE_CIRCUIT_BREAKER_H
#include "actor.h"
#endif

#ifndef ENSEMBLE_TROUPE_H
#define ENSEMBLE_TROUPE_H
#include "actor.h"
#endif

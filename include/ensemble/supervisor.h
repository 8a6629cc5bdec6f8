#ifndef ENSEMBLE_SUPERVISOR_H
#define ENSEMBLE_SUPERVISOR_H
#include "actor.h"
#endif

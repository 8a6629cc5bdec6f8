#ifndef ENSEMBLE_REGISTRY_H
#define ENSEMBLE_REGISTRY_H
#include "actor.h"
#endif

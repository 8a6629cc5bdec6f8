#ifndef ENSEMBLE_GEN_SERVER_H
#define ENSEMBLE_GEN_SERVER_H
#include "actor.h"
#endif

/*
 * ensemble/ensemble.h - the whole public API of ensemble in one include.
 */
#ifndef ENSEMBLE_ENSEMBLE_H
#define ENSEMBLE_ENSEMBLE_H

#include "actor.h"
#include "addr.h"
#include "error.h"
#include "event.h"
#include "journal.h"
#include "msg.h"
#include "status.h"
#include "system.h"

#endif

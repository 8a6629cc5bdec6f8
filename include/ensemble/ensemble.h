/*
 * ensemble/ensemble.h - the whole public API of ensemble in one include.
 */
#ifndef ENSEMBLE_ENSEMBLE_H
#define ENSEMBLE_ENSEMBLE_H

#include "actor.h"
#include "addr.h"
#include "api.h"
#include "circuit_breaker.h"
#include "convention.h"
#include "error.h"
#include "event.h"
#include "gen_server.h"
#include "journal.h"
#include "msg.h"
#include "registry.h"
#include "status.h"
#include "supervisor.h"
#include "system.h"
#include "troupe.h"
#include "typed.h"
#include "version.h"

#endif

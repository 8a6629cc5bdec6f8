/*
 * core/wire/event.c - names of the failure-event kinds of ensemble/event.h.
 *
 * The journal stores the kind as this text and `ens journal --kind` parses
 * it back, so the names are part of the on-disk format: never rename one.
 * The table is indexed by kind; ENS_EV_ERROR is 1, slot 0 is unused.
 */
#include <stddef.h>
#include <string.h>

#include "core/wire/why.h"
#include "ensemble/error.h"
#include "ensemble/event.h"

static const char *const kind_names[] = {
    [ENS_EV_ERROR] = "error",
    [ENS_EV_RETRY] = "retry",
    [ENS_EV_POISON] = "poison",
    [ENS_EV_CRASH] = "crash",
    [ENS_EV_RESTART] = "restart",
    [ENS_EV_EXIT] = "exit",
    [ENS_EV_ESCALATE] = "escalate",
    [ENS_EV_BREAKER] = "breaker",
    [ENS_EV_BADFRAME] = "badframe",
    [ENS_EV_DEAD_LETTER] = "dead_letter",
    [ENS_EV_INIT_FAILED] = "init_failed",
    [ENS_EV_NOPLACE] = "no_place",
    [ENS_EV_MEMBER] = "member",
};

#define KIND_COUNT (sizeof(kind_names) / sizeof(kind_names[0]))

const char *ens_event_kind_name(ens_event_kind kind)
{
    /* Compare as unsigned so a negative value cast into the enum is rejected too. */
    unsigned k = (unsigned)kind;
    if (k >= KIND_COUNT || kind_names[k] == NULL)
        return "unknown";
    return kind_names[k];
}

int ens_event_kind_parse(const char *name)
{
    ens__errmsg_clear();
    if (name == NULL)
        return ens__fail(ENS_EINVAL, "ens_event_kind_parse: name is NULL");
    for (size_t k = 0; k < KIND_COUNT; k++) {
        if (kind_names[k] != NULL && strcmp(kind_names[k], name) == 0)
            return (int)k;
    }
    return ens__fail(ENS_EINVAL, "ens_event_kind_parse: no event kind is named \"%.64s\"", name);
}

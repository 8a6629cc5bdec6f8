/*
 * ensemble/event.h - failure events: the one record of everything that went
 * wrong (or was recovered) in a system.
 *
 * The runtime reports each failure as one ens_event: handler errors, retries,
 * poison messages, crashes and restarts, exits, dead letters, rejected
 * frames. The failure journal stores them as rows; a program can also watch
 * them live with ens_system_opts.on_event.
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_event_kind_parse (the name that is no kind) and ens_event_report.
 */
#ifndef ENSEMBLE_EVENT_H
#define ENSEMBLE_EVENT_H

#include <stdint.h>

#include "addr.h"
#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ens_event_kind {
    ENS_EV_ERROR = 1,   /* a handler returned an error (attempt says which) */
    ENS_EV_RETRY,       /* the same message is delivered once more */
    ENS_EV_POISON,      /* second failure: the message went back as poison */
    ENS_EV_CRASH,       /* the actor's process died by a signal */
    ENS_EV_RESTART,     /* the actor was started again at the same address */
    ENS_EV_EXIT,        /* the actor ended for good, abnormally */
    ENS_EV_ESCALATE,    /* a supervisor gave up and passed the failure up */
    ENS_EV_BREAKER,     /* a circuit breaker changed state */
    ENS_EV_BADFRAME,    /* a malformed frame was rejected */
    ENS_EV_DEAD_LETTER, /* a message found no actor and no dead-letter handler */
    ENS_EV_INIT_FAILED, /* an actor's init failed; it never ran */
    ENS_EV_NOPLACE,     /* no member of the convention could run an actor (convention.h) */
    ENS_EV_MEMBER,      /* a member of the convention joined, left, became unreachable or
                           rejoined: the reason starts with the change ("joined",
                           "left", "unreachable", "rejoined"), then the member's node,
                           system and host */
} ens_event_kind;

/* One failure event. Every pointer is borrowed for the duration of the
 * callback that receives the event; strings are never NULL ("" if unknown). */
typedef struct ens_event {
    int64_t at_ms; /* UTC, milliseconds since the Unix epoch */
    ens_event_kind kind;
    ens_addr actor;         /* the actor concerned (the target for letters) */
    ens_addr parent;        /* its parent or supervisor; none if top level */
    const char *actor_type; /* the actor definition's name */
    const char *msg_type;   /* the message type name, if a message was involved */
    ens_addr sender;        /* the sender of that message */
    int32_t error;          /* ENS_E* or the handler's return code, else 0 */
    int32_t signal;         /* the signal for CRASH, else 0 */
    uint32_t attempt;       /* delivery attempt of the message, else 0 */
    uint32_t incarnation;   /* 1 for the first start, +1 per restart */
    uint32_t msg_size;      /* encoded size of the message, else 0 */
    const char *reason;     /* human-readable reason text */
} ens_event;

/* Called once per event, on both bases, in the program that started the
 * system and on its thread: on the inproc base as the event happens, on the
 * process base (where the admin forwards each event to the starting
 * program) while that program is inside ens_ask, ens_listen,
 * ens_system_run, ens_spawn or another call that waits for the system.
 * Programs that ens_system_connect get none (their events are in the
 * journal, as all are). ev is borrowed for the duration of the call. Must
 * not call back into the system. */
typedef void (*ens_event_cb)(const ens_event *ev, void *arg);

/* "error", "retry", "poison", "crash", "restart", "exit", "escalate",
 * "breaker", "badframe", "dead_letter", "init_failed", "no_place", "member";
 * "unknown" otherwise.
 * Static strings, never NULL. */
ENS_API const char *ens_event_kind_name(ens_event_kind kind);

/* The kind whose name is `name` (as above), or ENS_EINVAL. name borrowed. */
ENS_API int ens_event_kind_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif

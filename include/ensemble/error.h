/*
 * ensemble/error.h - the one error vocabulary of ensemble.
 *
 * Every public function that can fail returns an int: 0 (or a documented
 * non-negative value) on success, a negative ENS_E* code on failure. Codes
 * reuse the Linux errno value (negated) where one fits; the rest live in a
 * private range from -1000 down. ens_strerror() and ens_err_name() turn any int
 * into words and never return NULL.
 */
#ifndef ENSEMBLE_ERROR_H
#define ENSEMBLE_ERROR_H

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

enum ens_error {
    ENS_OK = 0,
    ENS_ENOENT = -2,           /* no such entry (name, timer, system) */
    ENS_EIO = -5,              /* an operating-system I/O call failed */
    ENS_EAGAIN = -11,          /* try again: a resource is busy for now */
    ENS_EACCES = -13,          /* permission denied (an unsafe runtime directory) */
    ENS_ENOMEM = -12,          /* out of memory */
    ENS_EEXIST = -17,          /* already exists (type name, global name) */
    ENS_EINVAL = -22,          /* invalid argument or call in the wrong place */
    ENS_EMSGSIZE = -90,        /* message larger than the frame limit */
    ENS_ENOTSUP = -95,         /* not supported (yet) by this base or build */
    ENS_ENOBUFS = -105,        /* caller's buffer is too small */
    ENS_ESHUTDOWN = -108,      /* the system has been shut down */
    ENS_ETIMEDOUT = -110,      /* no reply within the timeout */
    ENS_ENOACTOR = -1000,      /* no live actor at that address */
    ENS_EPOISON = -1001,       /* the request was poisoned: handler failed twice */
    ENS_EBREAKER_OPEN = -1002, /* a circuit breaker is open and failed fast */
    ENS_EINIT = -1003,         /* an actor's init callback failed */
    ENS_EBADFRAME = -1004,     /* malformed frame: header or payload rejected */
    ENS_EBADTYPE = -1005,      /* message type unknown or value not of that type */
    ENS_EFULL = -1006,         /* the receiver's mailbox is at its bound */
    ENS_EUNSAFE = -1007,       /* a file refused: a link, not regular, another user's */
    ENS_EPEERCRED = -1008,     /* the system's socket is held by another user */
    ENS_ETOOMANY = -1009,      /* too many: programs connected to the system, capabilities */
    ENS_ENOTJOURNAL = -1010,   /* the file is not an ensemble journal this build reads */
    ENS_EUNREACHABLE = -1011,  /* the convention's NATS servers cannot be reached now */
    ENS_ENOPLACE = -1012,      /* no member of the convention can run the actor */
    ENS_EAUTH = -1013,         /* the convention's NATS servers refused the credentials or TLS */
    ENS_ENOREPLY = -1014,      /* the actor handled the request without replying */
    ENS_EWRONGTHREAD = -1015,  /* an outside context used off its thread, or inside an actor */
};

/* A static English sentence describing err; never NULL. Unknown codes give
 * "unknown error". Thread-safe; the string is never freed. */
ENS_API const char *ens_strerror(int err);

/* The symbolic name of err ("ENS_ETIMEDOUT"); "ENS_EUNKNOWN" for codes that
 * are not ENS_E*. Thread-safe; the string is never freed. */
ENS_API const char *ens_err_name(int err);

/* What the last failed call of this thread had to say beyond its code, or
 * "" when it said nothing more. Only the calls whose documentation names
 * ens_errmsg set it (a synchronous spawn whose init failed or timed out:
 * ens_spawn, ens_spawn_flags, ens_name_spawn from outside,
 * ens_supervisor_spawn, which names the child that failed; ens_system_start
 * refused by the convention's servers with ENS_EAUTH: NATS's reason;
 * ens_msgtype_register, which names the type and why; ens_ask answered
 * ENS_ENOREPLY: the actor's and the message's types; any call on an outside
 * context refused with ENS_EWRONGTHREAD: the owning thread and the
 * caller's); each of them
 * clears it when it starts, so read it right after the call, on the same
 * thread. Never NULL; the text is the thread's own (a per-thread buffer,
 * overwritten by the next such call) and at most 511 bytes. */
ENS_API const char *ens_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif

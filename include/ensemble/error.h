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

/* Why the last failed call of this thread failed, beyond its code: the
 * thing it names (the argument and what is wrong with it, the actor or
 * message type that is not registered, the global name and the address
 * that holds it, the system name and its admin pid, the names of the
 * systems that do run, the supervisor's child id), or an init failure's
 * reason (a synchronous spawn: the child's type and address and what its
 * init said; ens_system_start refused by the convention's servers with
 * ENS_EAUTH: NATS's reason; ens_msgtype_register: the type and why; an ask
 * answered ENS_ENOREPLY: the actor's and the message's types; a call
 * refused with ENS_EWRONGTHREAD: the owning thread and the caller's).
 *
 * The rule: every call whose documentation says "sets ens_errmsg" clears it
 * when it starts and, when it fails with ENS_ENOENT, ENS_EEXIST or
 * ENS_EINVAL (and for the failures its documentation names), sets it before
 * it returns. So after a failed call ens_errmsg() says why; after a
 * successful one it is "". Read it right after the call, on the same
 * thread: the next such call overwrites it. Pure helpers that format for
 * reports (ens_strerror, ens_err_name, ens_addr_format, ens_errmsg itself)
 * never touch it, so a report may use them after the failed call.
 *
 * Per thread, not per context: calls that have no context (ens_system_start,
 * ens_system_connect, ens_actor_register, ens_addr_parse, the journal
 * readers) report the same way as the others, and an outside context is
 * used by one thread only. In an actor it is that actor's own (its thread
 * on the inproc base, its process on the process base). An error the admin
 * or a supervisor returns comes back with its detail (a connected
 * program's spawn of a type the system does not know names the type and
 * the system). Never NULL; at most 511 bytes. */
ENS_API const char *ens_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif

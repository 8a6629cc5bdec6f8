/*
 * core/wire/error.c - words for the ENS_E* codes of ensemble/error.h.
 *
 * One table maps each code to its symbolic name and an English sentence, so
 * ens_strerror() and ens_err_name() can never disagree about which codes
 * exist. Both are pure lookups on static data: thread-safe, never NULL.
 */
#include <stddef.h>

#include "ensemble/error.h"

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

static const struct err_entry err_table[] = {
    {ENS_OK, "ENS_OK", "success"},
    {ENS_ENOENT, "ENS_ENOENT", "no such entry"},
    {ENS_EIO, "ENS_EIO", "input/output error"},
    {ENS_EAGAIN, "ENS_EAGAIN", "resource temporarily unavailable, try again"},
    {ENS_EACCES, "ENS_EACCES", "permission denied"},
    {ENS_ENOMEM, "ENS_ENOMEM", "out of memory"},
    {ENS_EEXIST, "ENS_EEXIST", "already exists"},
    {ENS_EINVAL, "ENS_EINVAL", "invalid argument"},
    {ENS_EMSGSIZE, "ENS_EMSGSIZE", "message larger than the frame limit"},
    {ENS_ENOTSUP, "ENS_ENOTSUP", "operation not supported"},
    {ENS_ENOBUFS, "ENS_ENOBUFS", "buffer too small"},
    {ENS_ESHUTDOWN, "ENS_ESHUTDOWN", "the system has been shut down"},
    {ENS_ETIMEDOUT, "ENS_ETIMEDOUT", "timed out waiting for a reply"},
    {ENS_ENOACTOR, "ENS_ENOACTOR", "no live actor at that address"},
    {ENS_EPOISON, "ENS_EPOISON", "message poisoned: the handler failed twice"},
    {ENS_EBREAKER_OPEN, "ENS_EBREAKER_OPEN", "circuit breaker open: failed fast"},
    {ENS_EINIT, "ENS_EINIT", "actor initialisation failed"},
    {ENS_EBADFRAME, "ENS_EBADFRAME", "malformed frame rejected"},
    {ENS_EBADTYPE, "ENS_EBADTYPE", "unknown message type or value of the wrong type"},
    {ENS_EFULL, "ENS_EFULL", "the receiver's mailbox is full"},
    {ENS_EUNSAFE, "ENS_EUNSAFE",
     "unsafe file refused (a symbolic or hard link, not a regular file, another user's file "
     "or a directory others may change)"},
    {ENS_EPEERCRED, "ENS_EPEERCRED", "the system's socket is held by another user"},
    {ENS_ETOOMANY, "ENS_ETOOMANY", "too many connections to the system, or too many capabilities"},
    {ENS_ENOTJOURNAL, "ENS_ENOTJOURNAL",
     "not an ensemble journal (not a sqlite database, another program's database, corrupt, or a "
     "schema version this build does not read)"},
    {ENS_EUNREACHABLE, "ENS_EUNREACHABLE",
     "the convention's NATS servers cannot be reached (the gateway is not connected, or "
     "not running): nothing convention-wide can be registered now"},
    {ENS_ENOPLACE, "ENS_ENOPLACE",
     "no member of the convention can run the actor (its requirements or capability check "
     "hold nowhere, or the members that fit do not have its type registered; the journal "
     "lists each member's reason)"},
    {ENS_EAUTH, "ENS_EAUTH",
     "the convention's NATS server refused this system: wrong credentials, no permission, or "
     "a TLS handshake that failed (an untrusted or mismatched server certificate); ens_errmsg "
     "gives NATS's reason"},
    {ENS_ENOREPLY, "ENS_ENOREPLY",
     "the actor handled the request without replying (it neither replied, forwarded the "
     "request nor kept its ens_from to reply later); ens_errmsg names the actor's and the "
     "message's types"},
    {ENS_EWRONGTHREAD, "ENS_EWRONGTHREAD",
     "an outside context was used from a thread other than the one that started or connected "
     "the system, or inside an actor (which uses its own ens_ctx); ens_errmsg names the threads"},
};

static const struct err_entry *err_find(int err)
{
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++) {
        if (err_table[i].code == err)
            return &err_table[i];
    }
    return NULL;
}

const char *ens_strerror(int err)
{
    const struct err_entry *e = err_find(err);
    return e ? e->text : "unknown error";
}

const char *ens_err_name(int err)
{
    const struct err_entry *e = err_find(err);
    return e ? e->name : "ENS_EUNKNOWN";
}

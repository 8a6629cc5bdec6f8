/*
 * ensemble/addr.h - actor addresses as plain values.
 *
 * An address names one actor for as long as it lives, across restarts by the
 * runtime (a crash restarted in place) or by a supervisor (a child it starts
 * again, however it ended, at the address its base kept for it meanwhile;
 * ensemble/supervisor.h, "Addresses"); the incarnation is metadata, not part
 * of the address. An actor that ends for good - not supervised, temporary,
 * or given up by its supervisor - frees its address: messages sent to it
 * from then on are dead letters. Addresses are never reused. It is a small struct: copy it, compare
 * it, print it, parse it back, and carry it inside messages with ENS_ADDR_FMT in a tpl format. The
 * all-zero address is "none". `node` identifies the system that owns the actor (conventions across
 * hosts use it later); `spare` is reserved and 0: every call that sends to an address refuses one
 * whose spare is not 0 with ENS_EINVAL (no frame could carry it).
 *
 * ens_errmsg (error.h) is cleared when these calls start and says why when they fail:
 * ens_addr_parse (ens_addr_format never touches it: a report may format addresses after a failed
 * call).
 */
#ifndef ENSEMBLE_ADDR_H
#define ENSEMBLE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ens_addr {
    uint64_t id;    /* actor id within its node; 0 = none */
    uint32_t node;  /* owning system / host identity */
    uint32_t spare; /* reserved, always 0 */
} ens_addr;

/* The tpl format of an ens_addr embedded in a message struct:
 * "S(i" ENS_ADDR_FMT ")" describes struct { int32_t n; ens_addr who; }. */
#define ENS_ADDR_FMT "$(Uuu)"

/* Buffer size that always suffices for ens_addr_format(). */
#define ENS_ADDR_STRLEN 40

/* The "no actor" address (all zero), usable as a value. */
#define ENS_ADDR_NONE ((ens_addr){0, 0, 0})

/* True when a and b name the same actor. */
ENS_API bool ens_addr_equal(ens_addr a, ens_addr b);

/* True for the all-zero address. */
ENS_API bool ens_addr_is_none(ens_addr a);

/* Total order (node, then id, then spare): <0, 0 or >0, for sorting. */
ENS_API int ens_addr_compare(ens_addr a, ens_addr b);

/* Write "ens:<node>/<id>" (decimal) into buf, NUL-terminated. buf is
 * borrowed. Returns the length written (without the NUL), or ENS_ENOBUFS
 * when len is too small (buf then holds a truncated, terminated string if
 * len > 0), or ENS_EINVAL when buf is NULL and len > 0. */
ENS_API int ens_addr_format(ens_addr a, char *buf, size_t len);

/* Parse the text produced by ens_addr_format() (the whole string, no
 * trailing characters) into *out. text and out are borrowed. Returns 0, or
 * ENS_EINVAL for NULL arguments, a malformed string or an out-of-range
 * number; *out is untouched on error. */
ENS_API int ens_addr_parse(const char *text, ens_addr *out);

#ifdef __cplusplus
}
#endif
#endif

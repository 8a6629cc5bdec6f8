/*
 * core/runtime/caps.h - a system's capabilities as text (ensemble/convention.h):
 * "key=value\n" lines, checked against the limits, and composed with the
 * built-ins every member has (ens.version, ens.host).
 */
#ifndef ENS_CORE_RUNTIME_CAPS_H
#define ENS_CORE_RUNTIME_CAPS_H

#include <stdbool.h>
#include <stddef.h>

/* Why caps (a system's own capabilities, without the built-ins) cannot be
 * used, or NULL when they can: every line "key=value" (the last newline may
 * be left out), a key 1-ENS_CAPABILITY_KEY_MAX bytes of [A-Za-z0-9._-] not
 * starting with "ens." (the built-ins' prefix), a value of at most
 * ENS_CAPABILITY_VALUE_MAX bytes without control characters, no key twice,
 * at most ENS_CAPABILITY_MAX_KEYS keys with the built-ins, at most
 * ENS_CAPABILITY_TOTAL_MAX bytes in all. */
const char *ens__caps_refusal(const char *caps);

/* True if key may be a capability's key a system sets itself (as in
 * ens__caps_refusal). */
bool ens__caps_key_ok(const char *key, size_t len);

/* This host's name, as the built-in ens.host gives it: gethostname, each
 * control character written as '?' ("unknown" if there is none). */
void ens__caps_host(char *out, size_t out_len);

/* The full capabilities of a system: the built-ins, then own (checked by
 * ens__caps_refusal; NULL for none), one line each ending in '\n'. Returns
 * a string owned by the caller (free), or NULL when out of memory. */
char *ens__caps_compose(const char *host, const char *own);

#endif

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

/* Why one capability key (value NULL: its removal) cannot be set: NULL
 * when it can; ENS_EINVAL as *err for a key (ens__caps_key_ok) or value
 * (ENS_CAPABILITY_VALUE_MAX bytes, no control characters) outside the
 * limits. What the whole text then holds is ens__caps_set's to check. */
const char *ens__caps_entry_refusal(const char *key, const char *value);

/* Set (value non-NULL) or remove (value NULL) key in own (a system's own
 * capabilities as ens__caps_refusal takes them; NULL: none): *out is the
 * new text (owned by the caller; the key's line, if any, replaced where it
 * was, a new key last), one "key=value\n" line each, or NULL when no line
 * is left. Returns 0, ENS_EINVAL (ens__caps_entry_refusal; *why set),
 * ENS_ETOOMANY (ENS_CAPABILITY_MAX_KEYS keys with the built-ins, or more
 * than ENS_CAPABILITY_TOTAL_MAX bytes, after the change; *why set) or
 * ENS_ENOMEM. own is not changed. */
int ens__caps_set(const char *own, const char *key, const char *value, char **out,
                  const char **why);

/* This host's name, as the built-in ens.host gives it: gethostname, each
 * control character written as '?' ("unknown" if there is none). */
void ens__caps_host(char *out, size_t out_len);

/* The full capabilities of a system: the built-ins, then own (checked by
 * ens__caps_refusal; NULL for none), one line each ending in '\n'. Returns
 * a string owned by the caller (free), or NULL when out of memory. */
char *ens__caps_compose(const char *host, const char *own);

#endif

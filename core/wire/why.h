/*
 * core/wire/why.h - the one-line reason an operation that failed gives its
 * caller (a `why` buffer next to an error code). Internal.
 */
#ifndef ENS_CORE_WHY_H
#define ENS_CORE_WHY_H

#include <stddef.h>

/* Format the reason into why[0..len) (always NUL-terminated); nothing when
 * why is NULL or len 0. */
void ens__why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Set the calling thread's ens_errmsg() text (truncated to its 511
 * bytes), or clear it (ens__errmsg_clear). */
void ens__errmsg_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ens__errmsg_clear(void);

/* Set the calling thread's ens_errmsg() text and return err: a failing
 * path's one line, `return ens__fail(ENS_EINVAL, "ens_spawn: d is NULL");`. */
int ens__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

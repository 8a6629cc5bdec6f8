/*
 * core/runtime/capbuf.h - a byte buffer that keeps at most `max` bytes and notes
 * that more came, and the pipe it comes through (a command's output, on
 * both bases). Internal.
 */
#ifndef ENS_CORE_CAPBUF_H
#define ENS_CORE_CAPBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ens_capbuf {
    uint8_t *buf; /* owned; free() */
    uint32_t len, cap, max;
    bool truncated; /* bytes beyond max (or beyond memory) were dropped */
} ens_capbuf;

/* A pipe for a command's output, both ends close-on-exec and above the
 * standard descriptors (so the child's dup2 onto 1 and 2 cannot clash).
 * Returns 0, or ENS_ENOMEM / ENS_EAGAIN with nothing left open. */
int ens__output_pipe(int p[2]);

/* Keep what fits of p[0..n) (borrowed); count the rest as cut. */
void ens__capbuf_keep(ens_capbuf *b, const uint8_t *p, size_t n);

#endif

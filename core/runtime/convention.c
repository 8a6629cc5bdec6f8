/*
 * core/runtime/convention.c - the actor's side of convention membership
 * (ensemble/convention.h): subscribing goes to the base's host (the
 * process base asks its admin, which keeps the subscribers and the members
 * its gateway reports), and reading a capability out of an update.
 */
#include <stdint.h>
#include <string.h>

#include "core/runtime/runtime.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"

int ens_convention_subscribe(ens_ctx *c, bool on)
{
    if (c == NULL || c->actor == NULL)
        return ENS_EINVAL;
    if (c->sys->opts.convention.servers == NULL || c->sys->host->convention_subscribe == NULL)
        return ENS_ENOTSUP;
    return c->sys->host->convention_subscribe(c->sys, c->actor, on);
}

int ens_capability_get(const char *caps, const char *key, char *out, size_t out_len)
{
    if (caps == NULL || key == NULL || key[0] == '\0' || out == NULL || out_len == 0)
        return ENS_EINVAL;
    size_t klen = strlen(key);
    for (const char *line = caps; *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > klen && line[klen] == '=' && memcmp(line, key, klen) == 0) {
            size_t vlen = len - klen - 1;
            size_t n = vlen < out_len - 1 ? vlen : out_len - 1;
            memcpy(out, line + klen + 1, n);
            out[n] = '\0';
            return vlen > (size_t)INT32_MAX ? INT32_MAX : (int)vlen;
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    return ENS_ENOENT;
}

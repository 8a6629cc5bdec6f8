/*
 * core/runtime/convention.c - the actor's side of convention membership
 * (ensemble/convention.h): subscribing goes to the base's host (the
 * process base asks its admin, which keeps the subscribers and the members
 * its gateway reports), changing a capability of the system (the same
 * way: the admin holds them), and reading a capability out of an update.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/runtime/caps.h"
#include "core/runtime/runtime.h"
#include "core/wire/why.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"

int ens_convention_subscribe(ens_ctx *c, bool on)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || c->actor == NULL)
        return ens__fail(ENS_EINVAL, "ens_convention_subscribe: %s",
                         c == NULL ? "the context is NULL" : "called outside an actor");
    if (c->sys->opts.convention.servers == NULL || c->sys->host->convention_subscribe == NULL)
        return ENS_ENOTSUP;
    return c->sys->host->convention_subscribe(c->sys, c->actor, on);
}

int ens_capability_set(ens_ctx *c, const char *key, const char *value)
{
    ens__errmsg_clear();
    int wrong = ens__outside_check(c);
    if (wrong < 0)
        return wrong;
    if (c == NULL || key == NULL)
        return ens__fail(ENS_EINVAL, "ens_capability_set: %s is NULL",
                         c == NULL ? "the context" : "key");
    /* Checked here as well as by the admin: a value too long for a control
     * frame is refused without one. */
    const char *why = ens__caps_entry_refusal(key, value);
    if (why != NULL) {
        return ens__fail(ENS_EINVAL, "ens_capability_set: %s", why);
    }
    if (c->sys->host->capability_set == NULL)
        return ENS_ENOTSUP;
    /* A program connected by name knows nothing of the convention: whether
     * there is one is the admin's to say. */
    return c->sys->host->capability_set(c->sys, c->actor, key, value);
}

int ens_capability_get(const char *caps, const char *key, char *out, size_t out_len)
{
    ens__errmsg_clear();
    if (caps == NULL || key == NULL || key[0] == '\0' || out == NULL || out_len == 0)
        return ens__fail(ENS_EINVAL, "ens_capability_get: %s",
                         caps == NULL                    ? "caps is NULL"
                         : key == NULL || key[0] == '\0' ? "key is NULL or empty"
                                                         : "no room in out");
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
    return ens__fail(ENS_ENOENT, "ens_capability_get: no capability %.64s", key);
}

/* The value of `key` in caps as a span (not NUL-terminated), or NULL. */
static const char *cap_find(const char *caps, const char *key, size_t klen, size_t *vlen)
{
    for (const char *line = caps; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > klen && line[klen] == '=' && memcmp(line, key, klen) == 0) {
            *vlen = len - klen - 1;
            return line + klen + 1;
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    return NULL;
}

static bool say(char *why, size_t why_len, const char *fmt, int klen, const char *key, int vlen,
                const char *value, int wlen, const char *want)
{
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, fmt, klen, key, vlen, value, wlen, want);
    return false;
}

bool ens_capabilities_meet(const char *caps, const char *const *requirements, char *why,
                           size_t why_len)
{
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    for (size_t i = 0; requirements != NULL && requirements[i] != NULL; i++) {
        const char *req = requirements[i];
        const char *eq = strchr(req, '=');
        size_t klen = eq != NULL ? (size_t)(eq - req) : strlen(req);
        size_t vlen = 0;
        const char *value = cap_find(caps, req, klen, &vlen);
        /* Lengths are printed with %.*s: keys and values are bounded by the
         * capability limits, far below INT_MAX, but a requirement is the
         * caller's text, so cut it there too. */
        int k = klen > 4096 ? 4096 : (int)klen;
        int v = vlen > 4096 ? 4096 : (int)vlen;
        if (value == NULL)
            return say(why, why_len, "%.*s missing%.*s%.*s", k, req, 0, "", 0, "");
        if (eq == NULL) {
            bool off = vlen == 0 || (vlen == 1 && value[0] == '0') ||
                       (vlen == 5 && memcmp(value, "false", 5) == 0);
            if (off)
                return say(why, why_len, "%.*s is \"%.*s\"%.*s", k, req, v, value, 0, "");
            continue;
        }
        size_t wlen = strlen(eq + 1);
        if (wlen != vlen || memcmp(value, eq + 1, vlen) != 0) {
            int w = wlen > 4096 ? 4096 : (int)wlen;
            return say(why, why_len, "%.*s is %.*s, not %.*s", k, req, v, value, w, eq + 1);
        }
    }
    return true;
}

/*
 * core/runtime/caps.c - a system's capabilities as text (core/runtime/caps.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/runtime/caps.h"
#include "core/runtime/runtime.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"

#define BUILTIN_KEYS 2u /* ens.version, ens.host */

bool ens__caps_key_ok(const char *key, size_t len)
{
    if (len == 0 || len > ENS_CAPABILITY_KEY_MAX || (len >= 4 && memcmp(key, "ens.", 4) == 0))
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = key[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* True if the key of line [line, line + klen) appears in an earlier line of
 * caps (before `line`). */
static bool seen_before(const char *caps, const char *line, size_t klen)
{
    for (const char *p = caps; p < line;) {
        const char *eq = strchr(p, '=');
        const char *nl = strchr(p, '\n');
        if (eq != NULL && (nl == NULL || eq < nl) && (size_t)(eq - p) == klen &&
            memcmp(p, line, klen) == 0)
            return true;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return false;
}

const char *ens__caps_refusal(const char *caps)
{
    if (caps == NULL)
        return NULL;
    if (strlen(caps) > ENS_CAPABILITY_TOTAL_MAX)
        return "the capabilities hold more than 48 KiB in all";
    size_t keys = BUILTIN_KEYS;
    for (const char *line = caps; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t n = nl != NULL ? (size_t)(nl - line) : strlen(line);
        const char *eq = memchr(line, '=', n);
        if (eq == NULL)
            return "a capability line is not key=value";
        size_t klen = (size_t)(eq - line);
        if (!ens__caps_key_ok(line, klen))
            return "a capability key must be 1-64 of [A-Za-z0-9._-], not starting with \"ens.\"";
        size_t vlen = n - klen - 1;
        if (vlen > ENS_CAPABILITY_VALUE_MAX)
            return "a capability value is longer than 1024 bytes";
        for (size_t i = 0; i < vlen; i++)
            if ((unsigned char)eq[1 + i] < 0x20 || eq[1 + i] == 0x7f)
                return "a capability value holds a control character";
        if (seen_before(caps, line, klen))
            return "a capability key is given twice";
        if (++keys > ENS_CAPABILITY_MAX_KEYS)
            return "more than 256 capabilities (with the built-ins ens.version and ens.host)";
        line += n;
        if (*line == '\n')
            line++;
    }
    return NULL;
}

void ens__caps_host(char *out, size_t out_len)
{
    if (out_len == 0)
        return;
    out[0] = '\0';
    if (gethostname(out, out_len - 1) < 0 || out[0] == '\0')
        snprintf(out, out_len, "unknown");
    out[out_len - 1] = '\0';
    for (char *p = out; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?'; /* one line each */
}

char *ens__caps_compose(const char *host, const char *own)
{
    size_t olen = own != NULL ? strlen(own) : 0;
    size_t cap =
        sizeof("ens.version=\nens.host=\n") + strlen(ENS_VERSION_TEXT) + strlen(host) + olen + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    int n = snprintf(out, cap, "ens.version=%s\nens.host=%s\n", ENS_VERSION_TEXT, host);
    if (olen > 0) {
        memcpy(out + n, own, olen);
        n += (int)olen;
        if (own[olen - 1] != '\n')
            out[n++] = '\n';
    }
    out[n] = '\0';
    return out;
}

const char *ens__caps_entry_refusal(const char *key, const char *value)
{
    if (key == NULL || !ens__caps_key_ok(key, strlen(key)))
        return "a capability key must be 1-64 of [A-Za-z0-9._-], not starting with \"ens.\"";
    if (value == NULL)
        return NULL;
    size_t vlen = strnlen(value, ENS_CAPABILITY_VALUE_MAX + 1);
    if (vlen > ENS_CAPABILITY_VALUE_MAX)
        return "a capability value is longer than 1024 bytes";
    for (size_t i = 0; i < vlen; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return "a capability value holds a control character";
    return NULL;
}

int ens__caps_set(const char *own, const char *key, const char *value, char **out, const char **why)
{
    *out = NULL;
    const char *refusal = ens__caps_entry_refusal(key, value);
    if (refusal != NULL) {
        *why = refusal;
        return ENS_EINVAL;
    }
    size_t klen = strlen(key);
    size_t olen = own != NULL ? strlen(own) : 0;
    size_t vlen = value != NULL ? strlen(value) : 0;
    char *text = malloc(olen + klen + vlen + 4);
    if (text == NULL)
        return ENS_ENOMEM;
    size_t n = 0, keys = BUILTIN_KEYS;
    bool placed = false;
    for (const char *line = own != NULL ? own : ""; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        const char *eq = memchr(line, '=', len);
        bool same = eq != NULL && (size_t)(eq - line) == klen && memcmp(line, key, klen) == 0;
        if (same && value != NULL) { /* replaced where it was: the order stays */
            n += (size_t)sprintf(text + n, "%s=%s\n", key, value);
            placed = true;
            keys++;
        } else if (!same && len > 0) {
            memcpy(text + n, line, len);
            n += len;
            text[n++] = '\n';
            keys++;
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    if (value != NULL && !placed) {
        n += (size_t)sprintf(text + n, "%s=%s\n", key, value);
        keys++;
    }
    text[n] = '\0';
    if (keys > ENS_CAPABILITY_MAX_KEYS) {
        *why = "more than 256 capabilities (with the built-ins ens.version and ens.host)";
        free(text);
        return ENS_ETOOMANY;
    }
    if (n > ENS_CAPABILITY_TOTAL_MAX) {
        *why = "the capabilities would hold more than 48 KiB in all";
        free(text);
        return ENS_ETOOMANY;
    }
    if (n == 0) {
        free(text);
        text = NULL;
    }
    *out = text;
    return 0;
}

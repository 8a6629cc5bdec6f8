/*
 * tools/ens_text.c - untrusted text made safe for a terminal.
 *
 * What `ens` prints back is often not its own: what the user typed (a bad
 * name, an unknown command), replies and poison details from actors, names
 * and types from a system's status, reasons from the journal. Any of it may
 * hold an escape sequence that a terminal would obey (move the cursor,
 * rewrite the title, fake a line of output). Every such string passes
 * ens_tool_esc first, which spells control characters out; the rule is the
 * same as for the system log (ens__text_escape in core/runtime/log.c).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ens_tool.h"

/* The length of the well-formed UTF-8 sequence at p (n bytes left) for a
 * character from U+00A0 up (no overlong forms, surrogates or C1 controls),
 * or 0. */
static size_t utf8_printable(const unsigned char *p, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    size_t len = 0;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        lo = p[0] == 0xC2 ? 0xA0 : 0x80; /* C2 80..C2 9F: the C1 controls */
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        lo = p[0] == 0xE0 ? 0xA0 : 0x80;
        hi = p[0] == 0xED ? 0x9F : 0xBF;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        lo = p[0] == 0xF0 ? 0x90 : 0x80;
        hi = p[0] == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    }
    return len;
}

/* Write the escaped form of in[0..len) to out (room for 4 * len + 1).
 * keep_c0: leave the C0 controls as they are (a JSON writer escapes them). */
static void escape_into(char *out, const unsigned char *in, size_t len, bool keep_c0)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t take = 1;
        if ((in[i] >= 0x20 || keep_c0) && in[i] < 0x7F) {
            out[n++] = (char)in[i];
        } else if (in[i] >= 0x80 && (take = utf8_printable(in + i, len - i)) > 0) {
            memcpy(out + n, in + i, take);
            n += take;
        } else {
            take = 1;
            out[n++] = '\\';
            if (in[i] == '\n' || in[i] == '\r' || in[i] == '\t') {
                out[n++] = in[i] == '\n' ? 'n' : in[i] == '\r' ? 'r' : 't';
            } else {
                out[n++] = 'x';
                out[n++] = hex[in[i] >> 4];
                out[n++] = hex[in[i] & 0xF];
            }
        }
        i += take;
    }
    out[n] = '\0';
}

#define SLOTS 8

static const char *escape(const char *text, bool keep_c0)
{
    static char *slot[SLOTS];
    static size_t cap[SLOTS];
    static unsigned next;
    if (text == NULL)
        return "";
    size_t len = strlen(text);
    unsigned k = next++ % SLOTS;
    if (cap[k] < 4 * len + 1) {
        char *p = realloc(slot[k], 4 * len + 1);
        if (p == NULL)
            return "(text not shown: out of memory)";
        slot[k] = p;
        cap[k] = 4 * len + 1;
    }
    escape_into(slot[k], (const unsigned char *)text, len, keep_c0);
    return slot[k];
}

const char *ens_tool_esc(const char *text)
{
    return escape(text, false);
}

const char *ens_tool_esc_json(const char *text)
{
    return escape(text, true);
}

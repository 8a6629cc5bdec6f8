/*
 * core/wire/addr.c - actor addresses as values: compare, print, parse.
 *
 * The text form "ens:<node>/<id>" (both decimal) is what tools print and what
 * a user types back into `ens tell`, so parsing is strict: exactly the form
 * ens_addr_format() writes, canonical decimal (no sign, no whitespace, no
 * leading zeros, no overflow), nothing after the id. Each address thus has
 * exactly one spelling. The incarnation is not part of an address.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/wire/why.h"
#include "ensemble/addr.h"
#include "ensemble/error.h"

bool ens_addr_equal(ens_addr a, ens_addr b)
{
    return a.id == b.id && a.node == b.node && a.spare == b.spare;
}

bool ens_addr_is_none(ens_addr a)
{
    return a.id == 0 && a.node == 0 && a.spare == 0;
}

int ens_addr_compare(ens_addr a, ens_addr b)
{
    if (a.node != b.node)
        return a.node < b.node ? -1 : 1;
    if (a.id != b.id)
        return a.id < b.id ? -1 : 1;
    if (a.spare != b.spare)
        return a.spare < b.spare ? -1 : 1;
    return 0;
}

int ens_addr_format(ens_addr a, char *buf, size_t len)
{
    if (buf == NULL && len > 0)
        return ENS_EINVAL;
    int n = snprintf(buf, len, "ens:%" PRIu32 "/%" PRIu64, a.node, a.id);
    if (n < 0)
        return ENS_EINVAL; /* cannot happen for these conversions */
    if ((size_t)n >= len)
        return ENS_ENOBUFS; /* snprintf left a truncated, terminated string */
    return n;
}

/* Parse canonical decimal digits at *p up to (not including) a character that
 * is not a digit, into *out, rejecting empty input, leading zeros and values
 * above max. Advances *p past the digits. Returns 0 or ENS_EINVAL. */
static int parse_decimal(const char **p, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    size_t ndigits = 0;

    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (ndigits == 1 && v == 0)
            return ENS_EINVAL; /* leading zero */
        if (v > (max - d) / 10)
            return ENS_EINVAL; /* v * 10 + d would exceed max */
        v = v * 10 + d;
        ndigits++;
        s++;
    }
    if (ndigits == 0)
        return ENS_EINVAL;
    *p = s;
    *out = v;
    return 0;
}

static int addr_parse(const char *text, ens_addr *out);

int ens_addr_parse(const char *text, ens_addr *out)
{
    ens__errmsg_clear();
    int rc = addr_parse(text, out);
    if (rc == ENS_EINVAL && out == NULL)
        ens__errmsg_set("ens_addr_parse: out is NULL");
    else if (rc == ENS_EINVAL)
        ens__errmsg_set("ens_addr_parse: \"%.64s\" is not an address (ens:NODE/ID in decimal, "
                        "no leading zeros)",
                        text != NULL ? text : "(null)");
    return rc;
}

static int addr_parse(const char *text, ens_addr *out)
{
    static const char prefix[] = "ens:";
    uint64_t node, id;

    if (text == NULL || out == NULL)
        return ENS_EINVAL;
    if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
        return ENS_EINVAL;
    const char *p = text + sizeof(prefix) - 1;
    if (parse_decimal(&p, UINT32_MAX, &node) != 0)
        return ENS_EINVAL;
    if (*p++ != '/')
        return ENS_EINVAL;
    if (parse_decimal(&p, UINT64_MAX, &id) != 0)
        return ENS_EINVAL;
    if (*p != '\0')
        return ENS_EINVAL;

    out->id = id;
    out->node = (uint32_t)node;
    out->spare = 0;
    return 0;
}

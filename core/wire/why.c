/*
 * core/wire/why.c - the reason text of a failed operation (see why.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "core/wire/why.h"

void ens__why(char *why, size_t len, const char *fmt, ...)
{
    if (why == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

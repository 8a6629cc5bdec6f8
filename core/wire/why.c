/*
 * core/wire/why.c - the reason text of a failed operation (see why.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "core/wire/why.h"
#include "ensemble/error.h"

void ens__why(char *why, size_t len, const char *fmt, ...)
{
    if (why == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* ens_errmsg: one buffer per thread, so a program's threads (each with its
 * own system or calls) never read each other's text. */
static _Thread_local char errmsg[512];

const char *ens_errmsg(void)
{
    return errmsg;
}

void ens__errmsg_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
    va_end(ap);
}

void ens__errmsg_clear(void)
{
    errmsg[0] = '\0';
}

int ens__fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
    va_end(ap);
    return err;
}

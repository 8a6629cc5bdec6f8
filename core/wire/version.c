/*
 * core/wire/version.c - the running library's version (ensemble/version.h).
 * The macros are expanded here, when the library is compiled, so a program
 * gets the library's numbers, not those of the header it was built with.
 */
#include "ensemble/version.h"

int ens_version(void)
{
    return ENS_VERSION_NUMBER;
}

const char *ens_version_string(void)
{
    return ENS_VERSION_STRING;
}

/*
 * ensemble/version.h - the version of ensemble a program was compiled
 * against, and of the library it runs with.
 *
 * This header is the one place the version is written: CMakeLists.txt reads
 * the three numbers below into project(VERSION ...), so the shared library's
 * SONAME, the package files (ensembleConfigVersion.cmake, ensemble.pc) and
 * `ens --version` all follow it. A program compares the macros (what it was
 * compiled against) with ens_version() (the library the loader found):
 *
 *     if (ens_version() / 100 != ENS_VERSION_NUMBER / 100)
 *         fprintf(stderr, "built for ensemble %s, running with %s\n",
 *                 ENS_VERSION_STRING, ens_version_string());
 */
#ifndef ENSEMBLE_VERSION_H
#define ENSEMBLE_VERSION_H

#include "api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ENS_VERSION_MAJOR 0
#define ENS_VERSION_MINOR 1
#define ENS_VERSION_PATCH 0

#define ENS__VERSION_STR2(x) #x
#define ENS__VERSION_STR(x)  ENS__VERSION_STR2(x)
/* "MAJOR.MINOR.PATCH", e.g. "0.1.0". */
#define ENS_VERSION_STRING                                                                         \
    ENS__VERSION_STR(ENS_VERSION_MAJOR)                                                            \
    "." ENS__VERSION_STR(ENS_VERSION_MINOR) "." ENS__VERSION_STR(ENS_VERSION_PATCH)
/* One number that orders versions: MAJOR * 10000 + MINOR * 100 + PATCH
 * (0.1.0 is 100, 1.2.3 is 10203). */
#define ENS_VERSION_NUMBER (ENS_VERSION_MAJOR * 10000 + ENS_VERSION_MINOR * 100 + ENS_VERSION_PATCH)

/* The version of the library this program runs with, as ENS_VERSION_NUMBER
 * (the value the library was compiled with). Never fails. */
ENS_API int ens_version(void);

/* The same as ENS_VERSION_STRING of the running library: a static string,
 * never NULL. Never fails. */
ENS_API const char *ens_version_string(void);

#ifdef __cplusplus
}
#endif
#endif

/*
 * ensemble/api.h - ENS_API, the mark of everything the shared library exports.
 *
 * The library is compiled with hidden visibility: a name is in the dynamic
 * symbol table of libensemble.so only if its declaration in a public header
 * carries ENS_API. Internals (ens__*) stay out of reach of programs linked
 * against the shared library, and calls between the library's own files bind
 * inside it (no PLT, no interposition). The `exports` test checks that the
 * exported names are exactly the ENS_API declarations of these headers.
 */
#ifndef ENSEMBLE_API_H
#define ENSEMBLE_API_H

#if defined(__GNUC__) || defined(__clang__)
#define ENS_API __attribute__((visibility("default")))
#else
#define ENS_API
#endif

#endif

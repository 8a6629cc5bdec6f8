/*
 * tools/ens_json.h - JSON <-> message values for a type known only at run
 * time (its format, C size and field names, as ens_system_types tells
 * them), for `ens ask|tell --type` and the shell. Internal to the tool.
 *
 * The value is the C struct the format describes (include/ensemble/msg.h),
 * built in memory with C alignment: the same layout ens_msgtype_register
 * computes, so it can be sent with a type registered from the same
 * format and size. The JSON is an object with one member per named
 * element (msg.h, ens_msgtype.fields; unnamed types say f0, f1, ...):
 *
 *   i u j v I    a JSON integer in the field's range
 *   U            an integer 0..2^63-1, or a string of decimal digits up to
 *                2^64-1 (written as a string above 2^63-1)
 *   c            an integer -128..127 (or, read only, a one-byte string)
 *   f            a number
 *   s            a string without NUL bytes, or null
 *   $(...)       an object
 *   A(x)         an array of x (at most 65536 elements)
 *   B            a string of hexadecimal digits, two per byte ("00ff")
 *
 * A field missing, one the type does not have, or a value of the wrong
 * kind or out of range is an error whose text names the field
 * ("field 'items[2].a': ...").
 */
#ifndef ENS_TOOL_JSON_H
#define ENS_TOOL_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct ens_json_type ens_json_type;

/* A codec for values of (format, fields, size); fields may be NULL. Checks
 * what it is given (from a system: not trusted): the format in the grammar
 * of msg.h, the size the one the format implies, one distinct name per
 * named element. Returns 0 with *out (ens_json_type_free), or -1 with
 * why in err (errlen bytes). */
int ens_json_type_new(const char *format, const char *fields, uint64_t size, ens_json_type **out,
                      char *err, size_t errlen);
void ens_json_type_free(ens_json_type *t);

/* The same for a type as a system described it (ens_type_desc): also
 * checks the name (1-255 printable ASCII bytes, no space) and that id is
 * the name's wire id (FNV-1a), as the system's registration made it. */
int ens_json_type_from_desc(const char *name, uint32_t id, const char *format, const char *fields,
                            uint64_t size, ens_json_type **out, char *err, size_t errlen);

/* The C size of the type's values. */
size_t ens_json_type_size(const ens_json_type *t);

/* Parse JSON text into a fresh value (*value, ens_json_value_free). Returns
 * 0, or -1 with why in err (a field named where one is at fault). */
int ens_json_to_value(const ens_json_type *t, const char *text, void **value, char *err,
                      size_t errlen);

/* Free a value made by ens_json_to_value. NULL-safe. */
void ens_json_value_free(const ens_json_type *t, void *value);

/* The value as one line of JSON (malloc'ed; free()), NULL when out of
 * memory. Strings that are not UTF-8 are shown with \xNN escapes. */
char *ens_json_from_value(const ens_json_type *t, const void *value);

#endif

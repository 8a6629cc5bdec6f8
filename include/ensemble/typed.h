/*
 * ensemble/typed.h - message types the compiler checks.
 *
 * The untyped calls (ens_send, ens_ask, ens_reply, ens_msg_value, ...) take
 * a type and a `const void *` value: nothing stops a program from sending an
 * ens_int64_v as an ens.String, and tpl then reads a pointer that is not
 * one. One macro here defines a message type from its C struct, its name and
 * its tpl format (msg.h) and generates `static inline` wrappers whose value
 * argument is a pointer to that struct, so a wrong struct is a compile
 * error (an incompatible pointer type: an error under -Werror, and by
 * default in recent compilers). The untyped calls stay for generic code
 * (forwarding, routing by type name, behaviours).
 *
 *   typedef struct greeting_v { int32_t count; char *text; } greeting_v;
 *   ENS_MESSAGE(greeting, greeting_v, "demo.Greeting", "S(is)")
 *
 * defines the type object `greeting_msgtype` (an ens_msgtype, static to the
 * file) and, for a ctx c, an address to and a const greeting_v *v:
 *
 *   greeting_register()                 ens_msgtype_register
 *   greeting_tell(c, to, v)             ens_send
 *   greeting_cast(c, to, v)             ens_cast
 *   greeting_ask(c, to, v, ms, &reply)  ens_ask (outside only)
 *   greeting_request(c, to, v, ms, cb, tag), greeting_call(...)
 *                                       ens_request, ens_call (actors only)
 *   greeting_reply(c, v)                ens_reply
 *   greeting_reply_error(c, err, v)     ens_reply_error
 *   greeting_reply_to(c, from, err, v)  ens_reply_to
 *   greeting_forward(c, to, m)          ens_forward of a message that must be
 *                                       a demo.Greeting (ENS_EBADTYPE if not)
 *   greeting_of(m)                      the value of m if m is a
 *                                       demo.Greeting, else NULL (owned by m)
 *   greeting_encode(v, &out, &len)      ens_msg_encode (start arguments)
 *
 * Each returns and fails as the call it wraps (actor.h, system.h, msg.h).
 * greeting_register() checks that the format describes a struct of
 * sizeof(greeting_v) bytes (ENS_EINVAL, ens_errmsg() naming both sizes) and
 * must run before ens_system_start. To set max_items, assign
 * greeting_msgtype.max_items before registering.
 *
 * A type used by several files: declare it in a header and define it in one
 * .c file:
 *
 *   // greeting.h
 *   ENS_MESSAGE_DECLARE(greeting, greeting_v)
 *   // greeting.c
 *   ENS_MESSAGE_DEFINE(greeting, greeting_v, "demo.Greeting", "S(is)")
 *
 * (the object is then `extern ens_msgtype greeting_msgtype`, the wrappers
 * are in every file that includes the header). The three macros are whole
 * declarations: write no semicolon after them (-Wpedantic would flag it).
 *
 * ENS_MESSAGE_FIELDS and ENS_MESSAGE_DEFINE_FIELDS take the field names as a
 * fifth argument ("count,text", msg.h), for `ens types` and `ens ask --type`.
 *
 * The built-in types have their wrappers here already, with the prefixes
 * ens_string, ens_int64 and ens_bytes (no _register: they are always
 * known):
 *
 *   ens_int64_tell(c, to, &(ens_int64_v){41});
 *   const ens_string_v *s = ens_string_of(reply);
 */
#ifndef ENSEMBLE_TYPED_H
#define ENSEMBLE_TYPED_H

#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "msg.h"
#include "system.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The wrappers of a type object `obj` (an expression of type
 * const ens_msgtype *) whose values are `vtype`. Internal: use the macros
 * below. */
/* The wrappers a program does not use must not warn (clang's
 * -Wunused-function warns about an unused static inline function of the
 * main file, and the macros expand there). */
#if defined(__GNUC__) || defined(__clang__)
#define ENS__TYPED_FN static inline __attribute__((unused))
#else
#define ENS__TYPED_FN static inline
#endif

#define ENS__TYPED_WRAPPERS(prefix, vtype, obj)                                                    \
    ENS__TYPED_FN int prefix##_tell(ens_ctx *c, ens_addr to, const vtype *v)                       \
    {                                                                                              \
        return ens_send(c, to, (obj), v);                                                          \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_cast(ens_ctx *c, ens_addr to, const vtype *v)                       \
    {                                                                                              \
        return ens_cast(c, to, (obj), v);                                                          \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_ask(ens_ctx *outside, ens_addr to, const vtype *v,                  \
                                   uint32_t timeout_ms, ens_msg **reply)                           \
    {                                                                                              \
        return ens_ask(outside, to, (obj), v, timeout_ms, reply);                                  \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_request(ens_ctx *c, ens_addr to, const vtype *v,                    \
                                       uint32_t timeout_ms, ens_reply_cb cb, uint64_t tag)         \
    {                                                                                              \
        return ens_request(c, to, (obj), v, timeout_ms, cb, tag);                                  \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_call(ens_ctx *c, ens_addr to, const vtype *v, uint32_t timeout_ms,  \
                                    ens_reply_cb cb, uint64_t tag)                                 \
    {                                                                                              \
        return ens_call(c, to, (obj), v, timeout_ms, cb, tag);                                     \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_reply(ens_ctx *c, const vtype *v)                                   \
    {                                                                                              \
        return ens_reply(c, (obj), v);                                                             \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_reply_error(ens_ctx *c, int error, const vtype *v)                  \
    {                                                                                              \
        return ens_reply_error(c, error, (obj), v);                                                \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_reply_to(ens_ctx *c, ens_from from, int error, const vtype *v)      \
    {                                                                                              \
        return ens_reply_to(c, from, error, (obj), v);                                             \
    }                                                                                              \
    ENS__TYPED_FN const vtype *prefix##_of(const ens_msg *m)                                       \
    {                                                                                              \
        return (const vtype *)ens_msg_value(m, (obj));                                             \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_forward(ens_ctx *c, ens_addr to, const ens_msg *m)                  \
    {                                                                                              \
        if (m != NULL && prefix##_of(m) == NULL)                                                   \
            return ENS_EBADTYPE;                                                                   \
        return ens_forward(c, to, m);                                                              \
    }                                                                                              \
    ENS__TYPED_FN int prefix##_encode(const vtype *v, uint8_t **out, size_t *len)                  \
    {                                                                                              \
        return ens_msg_encode((obj), v, out, len);                                                 \
    }

#define ENS__TYPED_REGISTER(prefix)                                                                \
    ENS__TYPED_FN int prefix##_register(void)                                                      \
    {                                                                                              \
        return ens_msgtype_register(&prefix##_msgtype);                                            \
    }

/* A message type private to one .c file: the object prefix##_msgtype
 * (static) and its wrappers. name and format are string literals. */
#define ENS_MESSAGE(prefix, vtype, name, format)                                                   \
    ENS_MESSAGE_FIELDS(prefix, vtype, name, format, NULL)

/* The same with field names (ens_msgtype.fields, msg.h: "count,text"), so
 * `ens ask --type` and `ens types` can speak the type as JSON. */
#define ENS_MESSAGE_FIELDS(prefix, vtype, name, format, fields)                                    \
    static ens_msgtype prefix##_msgtype = {(name), (format), sizeof(vtype), 0, 0, (fields)};       \
    ENS__TYPED_REGISTER(prefix)                                                                    \
    ENS__TYPED_WRAPPERS(prefix, vtype, &prefix##_msgtype)

/* In a header: the object prefix##_msgtype (extern) and its wrappers. */
#define ENS_MESSAGE_DECLARE(prefix, vtype)                                                         \
    extern ens_msgtype prefix##_msgtype;                                                           \
    ENS__TYPED_REGISTER(prefix)                                                                    \
    ENS__TYPED_WRAPPERS(prefix, vtype, &prefix##_msgtype)

/* In one .c file that includes the header with ENS_MESSAGE_DECLARE: the
 * object itself. The size check of registration uses vtype here too. */
#define ENS_MESSAGE_DEFINE(prefix, vtype, name, format)                                            \
    ENS_MESSAGE_DEFINE_FIELDS(prefix, vtype, name, format, NULL)

/* The same with field names (see ENS_MESSAGE_FIELDS). */
#define ENS_MESSAGE_DEFINE_FIELDS(prefix, vtype, name, format, fields)                             \
    ens_msgtype prefix##_msgtype = {(name), (format), sizeof(vtype), 0, 0, (fields)};

/* The built-in types (msg.h). */
ENS__TYPED_WRAPPERS(ens_string, ens_string_v, &ens_msg_string)
ENS__TYPED_WRAPPERS(ens_int64, ens_int64_v, &ens_msg_int64)
ENS__TYPED_WRAPPERS(ens_bytes, ens_bytes_v, &ens_msg_bytes)

#ifdef __cplusplus
}
#endif
#endif

/*
 * core/wire/msgtype.h - the process-wide table of message types and the parsed
 * form of their formats, shared by the codec and the runtime. Internal.
 *
 * A format is parsed once at registration into a list of top-level items
 * (see ensemble/msg.h): one optional leading S(...), then A(...) and B
 * items. For each item the table keeps the tpl format text of the item, its
 * offset in the user's C struct and, for arrays, the element size and
 * alignment (tpl itself finds the strings inside an element). The C layout
 * is computed with the x86-64/aarch64 System V rules (natural alignment;
 * struct alignment is its largest member's). tpl places the fields of
 * S(...) by flattening nested $(...) structs, so a nested struct whose
 * alignment or trailing padding makes C place a field elsewhere than tpl
 * would (e.g. "S(c$(cI))") is rejected as outside the grammar;
 * ENS_ADDR_FMT and the like are fine.
 *
 * Fixed layout: a format that is a single S(...) of fixed-size scalars
 * (c j v i u I U f, nested $(...) of them; no s, A, B, no second item) and
 * at most ENS_FIXED_MAX_FIELDS fields is marked at registration with the
 * C offset and wire width of each field. The codec then sends it as the
 * fields one after another, little-endian, without tpl (codec.h).
 */
#ifndef ENS_CORE_MSGTYPE_H
#define ENS_CORE_MSGTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "ensemble/msg.h"

#define ENS_TYPE_ID_SYSTEM_MIN 0xFFFF0000u /* ids at or above: system types */
#define ENS_MSGTYPE_MAX_ITEMS  8           /* top-level items per format */
#define ENS_MAX_ITEMS_DEFAULT  65536u      /* default A(...) element limit */
#define ENS_FIXED_MAX_FIELDS   32          /* fields of a fixed-layout type */

typedef enum ens_item_kind {
    ENS_ITEM_STRUCT = 1, /* S(...): fields inline at offset 0 */
    ENS_ITEM_ARRAY,      /* A(...): an ens_array member */
    ENS_ITEM_BYTES,      /* B: an ens_bytes member */
} ens_item_kind;

typedef struct ens_item {
    ens_item_kind kind;
    size_t offset;    /* of the member (STRUCT: 0) in the user struct */
    size_t elem_size; /* ARRAY: size of one element; STRUCT: size of the fields */
    size_t elem_align;
} ens_item;

/* One field of a fixed-layout type: its offset in the C struct and its
 * width, the same in C and on the wire (1, 2, 4 or 8 bytes). */
typedef struct ens_fixed_field {
    uint16_t offset;
    uint8_t size;
} ens_fixed_field;

typedef struct ens_typeinfo {
    const ens_msgtype *type; /* borrowed from the registrant */
    char *tpl_format;        /* writable copy of type->format for tpl_map */
    size_t n_items;
    ens_item items[ENS_MSGTYPE_MAX_ITEMS];
    size_t size;        /* computed C struct size */
    uint32_t max_items; /* effective A(...) limit */
    /* fixed layout (see above): fixed_size is the packed payload size, the
     * sum of the field widths, or 0 when the type is not eligible */
    uint32_t fixed_size;
    uint32_t n_fixed;
    ens_fixed_field fixed[ENS_FIXED_MAX_FIELDS];
} ens_typeinfo;

/* ens.NodeDown (a system message, never handed to a handler): the admin
 * of a system in a convention tells each local actor and outside program
 * that the member of node `node` became unreachable or left; requests and
 * asks waiting for an answer from an actor of that node complete at once
 * with ENS_EUNREACHABLE (core/runtime/request.c, core/runtime/endpoint.c). */
typedef struct ens__node_down_v {
    uint32_t node;
} ens__node_down_v; /* "S(u)" */

extern const ens_msgtype ens__msg_node_down;

/* FNV-1a 32-bit hash of name: the wire id of a type of that name. */
uint32_t ens__type_hash(const char *name);

/* Parse `format` and compute the C layout into *info, fixed-layout fields
 * included (info->type and info->tpl_format are set by the caller). Returns 0 or ENS_EINVAL for a
 * format outside the accepted grammar. Pure function, for tests too. */
int ens__format_layout(const char *format, ens_typeinfo *info);

/* Call fn for every type in this process's table (built-in, system and
 * registered ones), in no particular order. Not thread-safe against
 * registration (which happens at start-up only). */
void ens__msgtype_each(void (*fn)(const ens_msgtype *t, void *arg), void *arg);

/* Enter the built-in types (core's and the section's) into the table if
 * that has not happened yet; every lookup does it too. ens_system_start
 * calls it so the table is complete before the process base forks. */
void ens__msgtype_table_init(void);

/* A system started by this process (ens_system_start succeeded) / ended
 * (stopped or closed). While any runs, ens_msgtype_register refuses new
 * types: the process base has forked its actors, which would not know them,
 * and the inproc base follows the same rule so code moves between bases. */
void ens__msgtype_system_started(void);
void ens__msgtype_system_ended(void);

/* ens_msgtype_register for the library's own types (the process base's
 * control messages), which may be entered while a system runs: every
 * process that needs them registers them itself. */
int ens__msgtype_register_library(ens_msgtype *t);

/* The registered type with wire id `id`, with its parsed layout; NULL if
 * none. The built-in and system types are always registered. */
const ens_typeinfo *ens__typeinfo_by_id(uint32_t id);

/* The registered info of t (by t->id, or by name for an unregistered t that
 * is a registered name's pointer); NULL if t is not registered. */
const ens_typeinfo *ens__typeinfo_of(const ens_msgtype *t);

/* A message type the library defines outside core/ (supervisor, behaviours)
 * and that must be known in every process without a call the user could
 * forget: a program may look it up by name or receive it before it starts
 * a system, and the process base forks its actors from the program as it
 * is. ENS__BUILTIN_MSGTYPE(obj) puts a reference to obj, with static room
 * for its table entry, in the linker section ens_builtin_msgtypes; the
 * type table registers every entry of that section on its first use
 * (ens_msgtype_register, ens_msgtype_find, a lookup by id), once per
 * process (pthread_once), so core calls nothing above it. obj is a const
 * ens_msgtype whose id is already its name's FNV-1a hash (checked then).
 * Only objects linked into the program are found: with the static library
 * a module nobody uses contributes no types, and needs none. */
#define ENS__BUILTIN_FORMAT_MAX 128 /* longest format of such a type, with its NUL */
typedef struct ens__builtin_msgtype {
    const ens_msgtype *type;
    ens_typeinfo *info;  /* static room for its table entry */
    char *format_buffer; /* ENS__BUILTIN_FORMAT_MAX bytes: tpl's writable copy */
} ens__builtin_msgtype;

#define ENS__BUILTIN_MSGTYPE(obj)                                                                  \
    static ens_typeinfo obj##_typeinfo;                                                            \
    static char obj##_format_buffer[ENS__BUILTIN_FORMAT_MAX];                                      \
    static const ens__builtin_msgtype obj##_builtin = {&(obj), &obj##_typeinfo,                    \
                                                       obj##_format_buffer};                       \
    __attribute__((used, section("ens_builtin_msgtypes"))) static const ens__builtin_msgtype       \
        *const obj##_builtin_ref = &obj##_builtin

#endif

/*
 * core/wire/msgtype.c - message type registry and format parser (see msgtype.h).
 *
 * A format is parsed once, at registration, into at most eight top-level
 * items with their offsets in the user's C struct (System V rules). tpl
 * computes the field addresses inside S(...) itself, by flattening nested
 * $(...) structs and aligning each scalar to its own size; a format whose C
 * layout differs from tpl's guess (possible only with nested structs) is
 * rejected, so tpl can never write outside a field.
 *
 * A lone S(...) of fixed-size scalars also gets its fixed layout (the C
 * offset and width of every flattened field), so the codec can send it
 * without tpl; the offsets are the ones checked against tpl's above.
 *
 * Ids: a user type's id is the FNV-1a hash of its name. The built-in types
 * ens.String, ens.Int64 and ens.Bytes are ordinary types and use their hash
 * too; the system types (exit request, child exited, wake-up, poison, dead
 * envelope) have fixed ids 0xFFFF0001..0xFFFF0005 in the reserved range,
 * fd ready and command result 0xFFFF0008 and 0xFFFF0009, child restarted
 * 0xFFFF000A, child started 0xFFFF000B, node down 0xFFFF000C (6 and 7 are
 * kept for the status request and reply).
 * Ids 0 and >= ENS_TYPE_ID_SYSTEM_MIN are never given to user types.
 *
 * The table is an open-addressing hash keyed by id, initialised lazily on
 * first use from static storage (no constructor, cannot fail, once per
 * process under pthread_once), with the built-in and system types always
 * present: those of core listed below, and those other modules of the
 * library place in the section ens_builtin_msgtypes (ENS__BUILTIN_MSGTYPE
 * in msgtype.h), which core finds without calling up into them.
 */
#include "core/wire/msgtype.h"

#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/arena.h"
#include "core/wire/why.h"
#include "ensemble/convention.h"
#include "ensemble/error.h"
#include "ensemble/status.h"

#define FORMAT_MAX_LEN    1024 /* longest accepted format */
#define FORMAT_MAX_DEPTH  16   /* deepest $(...) nesting */
#define FORMAT_MAX_FIELDS 256  /* scalar fields per S(...) */
#define NAME_MAX_LEN      255

/* ---- built-in and system types ------------------------------------------ */

#define ID_STRING          0x15B20BFAu /* FNV-1a("ens.String") */
#define ID_INT64           0x5C456122u /* FNV-1a("ens.Int64") */
#define ID_BYTES           0xE271EBFAu /* FNV-1a("ens.Bytes") */
#define ID_EXIT_REQUEST    0xFFFF0001u
#define ID_CHILD_EXITED    0xFFFF0002u
#define ID_WAKEUP          0xFFFF0003u
#define ID_POISON          0xFFFF0004u
#define ID_DEAD_ENVELOPE   0xFFFF0005u
#define ID_CHILD_RESTARTED 0xFFFF000Au
#define ID_CHILD_STARTED   0xFFFF000Bu
#define ID_NODE_DOWN       0xFFFF000Cu
#define ID_FD_READY        0xFFFF0008u
#define ID_CMD_RESULT      0xFFFF0009u
#define ID_STATUS          0x32AF6F79u /* FNV-1a("ens.Status") */
#define ID_CONV_UPDATE     0xEE2C39D9u /* FNV-1a("ens.ConventionUpdate") */

const ens_msgtype ens_msg_string = {"ens.String", "S(s)", sizeof(ens_string_v), 0,
                                    ID_STRING,    "text"};
const ens_msgtype ens_msg_int64 = {"ens.Int64", "S(I)", sizeof(ens_int64_v), 0, ID_INT64, "value"};
const ens_msgtype ens_msg_bytes = {"ens.Bytes", "B", sizeof(ens_bytes_v), 0, ID_BYTES, "data"};
const ens_msgtype ens_msg_exit_request = {"ens.ExitRequest", "S(i)", sizeof(ens_exit_request_v), 0,
                                          ID_EXIT_REQUEST,   NULL};
const ens_msgtype ens_msg_child_exited = {"ens.ChildExited",
                                          "S(" ENS_ADDR_FMT "iiiu)",
                                          sizeof(ens_child_exited_v),
                                          0,
                                          ID_CHILD_EXITED,
                                          NULL};
const ens_msgtype ens_msg_child_restarted = {"ens.ChildRestarted",
                                             "S(" ENS_ADDR_FMT "iuii)",
                                             sizeof(ens_child_restarted_v),
                                             0,
                                             ID_CHILD_RESTARTED,
                                             NULL};
const ens_msgtype ens_msg_child_started = {"ens.ChildStarted",
                                           "S(" ENS_ADDR_FMT "ui)",
                                           sizeof(ens_child_started_v),
                                           0,
                                           ID_CHILD_STARTED,
                                           NULL};
const ens_msgtype ens__msg_node_down = {"ens.NodeDown", "S(u)", sizeof(ens__node_down_v), 0,
                                        ID_NODE_DOWN,   NULL};
const ens_msgtype ens_msg_wakeup = {"ens.WakeUp", "S(UUu)", sizeof(ens_wakeup_v), 0,
                                    ID_WAKEUP,    NULL};
const ens_msgtype ens_msg_poison = {
    "ens.PoisonMessage", "S(" ENS_ADDR_FMT "iius)B", sizeof(ens_poison_v), 0, ID_POISON, NULL};
const ens_msgtype ens_msg_dead_envelope = {"ens.DeadEnvelope",
                                           "S(" ENS_ADDR_FMT "us)B",
                                           sizeof(ens_dead_envelope_v),
                                           0,
                                           ID_DEAD_ENVELOPE,
                                           NULL};
const ens_msgtype ens_msg_fd_ready = {"ens.FdReady", "S(iiU)", sizeof(ens_fd_ready_v), 0,
                                      ID_FD_READY,   NULL};
const ens_msgtype ens_msg_command_result = {
    "ens.CommandResult", "S(Uiii)B", sizeof(ens_command_result_v), 0, ID_CMD_RESULT, NULL};
const ens_msgtype ens_msg_status = {"ens.Status",
                                    "S(iuIuss)A(S(" ENS_ADDR_FMT ENS_ADDR_FMT "ssiuuuUUU))",
                                    sizeof(ens_status_v),
                                    1u << 20,
                                    ID_STATUS,
                                    NULL};
const ens_msgtype ens_msg_convention_update = {
    "ens.ConventionUpdate", "S(uiuuIsss)", sizeof(ens_convention_update_v), 0,
    ID_CONV_UPDATE,         NULL};

/* The C structs of msg.h as the formats above describe them (x86-64 and
 * aarch64 System V); ensure_init() also checks the parsed layouts. */
_Static_assert(sizeof(ens_addr) == 16, "ens_addr layout");
_Static_assert(sizeof(ens_array) == 16 && alignof(ens_array) == 8, "ens_array layout");
_Static_assert(sizeof(ens_bytes) == 16 && alignof(ens_bytes) == 8, "ens_bytes layout");
_Static_assert(sizeof(ens_string_v) == sizeof(char *), "ens_string_v layout");
_Static_assert(sizeof(ens_int64_v) == 8, "ens_int64_v layout");
_Static_assert(sizeof(ens_exit_request_v) == 4, "ens_exit_request_v layout");
_Static_assert(sizeof(ens_child_exited_v) == 32, "ens_child_exited_v layout");
_Static_assert(sizeof(ens_child_restarted_v) == 32, "ens_child_restarted_v layout");
_Static_assert(sizeof(ens_child_started_v) == 24, "ens_child_started_v layout");
_Static_assert(sizeof(ens_wakeup_v) == 24, "ens_wakeup_v layout");
_Static_assert(sizeof(ens__node_down_v) == 4, "ens__node_down_v layout");
_Static_assert(offsetof(ens_poison_v, detail) == 32 && sizeof(ens_poison_v) == 56,
               "ens_poison_v layout");
_Static_assert(offsetof(ens_dead_envelope_v, reason) == 24 && sizeof(ens_dead_envelope_v) == 48,
               "ens_dead_envelope_v layout");
_Static_assert(sizeof(ens_fd_ready_v) == 16, "ens_fd_ready_v layout");
_Static_assert(offsetof(ens_status_v, journal) == 24 && offsetof(ens_status_v, log) == 32 &&
                   offsetof(ens_status_v, actors) == 40,
               "ens_status_v layout");
_Static_assert(offsetof(ens_convention_update_v, system) == 24 &&
                   sizeof(ens_convention_update_v) == 48,
               "ens_convention_update_v layout");
_Static_assert(offsetof(ens_command_result_v, output) == 24 && sizeof(ens_command_result_v) == 40,
               "ens_command_result_v layout");

static const ens_msgtype *const builtins[] = {
    &ens_msg_string,          &ens_msg_int64,
    &ens_msg_bytes,           &ens_msg_exit_request,
    &ens_msg_child_exited,    &ens_msg_wakeup,
    &ens_msg_poison,          &ens_msg_dead_envelope,
    &ens_msg_fd_ready,        &ens_msg_command_result,
    &ens_msg_child_restarted, &ens_msg_child_started,
    &ens_msg_status,          &ens_msg_convention_update,
    &ens__msg_node_down,
};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

static ens_typeinfo builtin_info[N_BUILTINS];
static char builtin_fmt[N_BUILTINS][64];

/* ---- FNV-1a ---------------------------------------------------------------- */

uint32_t ens__type_hash(const char *name)
{
    uint32_t h = 0x811C9DC5u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x01000193u;
    }
    return h;
}

/* ---- format parsing and layout ---------------------------------------------- */

/* One scalar field of an S(...), flattened: its C offset (relative to the
 * struct being parsed while parsing, absolute at the end) and tpl size. */
typedef struct flat_field {
    size_t off;
    size_t size;
    char ch;
} flat_field;

typedef struct parser {
    const char *p;
    flat_field fields[FORMAT_MAX_FIELDS];
    size_t n_fields;
} parser;

/* tpl's own guess of the alignment of double and int64 (src/tpl.c uses the
 * same detector structs): what it uses to place fields inside S(...). */
struct tpl_double_detector {
    char a;
    double d;
};
struct tpl_int64_detector {
    int i;
    int64_t j;
};

/* C size and alignment of a field character; 0 if ch is none. */
static size_t scalar_size(char ch, size_t *c_align)
{
    switch (ch) {
    case 'i':
    case 'u':
        *c_align = alignof(int32_t);
        return 4;
    case 'j':
    case 'v':
        *c_align = alignof(int16_t);
        return 2;
    case 'c':
        *c_align = 1;
        return 1;
    case 'f':
        *c_align = alignof(double);
        return sizeof(double);
    case 'I':
    case 'U':
        *c_align = alignof(int64_t);
        return 8;
    case 's':
        *c_align = alignof(char *);
        return sizeof(char *);
    default:
        return 0;
    }
}

/* tpl's alignment of a field character inside S(...). */
static size_t tpl_align(char ch, size_t size)
{
    if (ch == 'f')
        return sizeof(struct tpl_double_detector) > 12 ? 8 : 4;
    if (ch == 'I' || ch == 'U')
        return sizeof(struct tpl_int64_detector) > 12 ? 8 : 4;
    return size;
}

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Parse "(fields)" at ps->p (just after S or $): append the scalar fields to
 * ps->fields with offsets relative to this struct, and give the struct's C
 * size and alignment. Returns 0 or ENS_EINVAL. */
static int parse_fields(parser *ps, int depth, size_t *size, size_t *align)
{
    if (depth > FORMAT_MAX_DEPTH || *ps->p != '(')
        return ENS_EINVAL;
    ps->p++;
    size_t cur = 0, al = 1;
    bool any = false;
    while (*ps->p != ')') {
        char ch = *ps->p;
        size_t c_align = 1;
        if (ch == '$') {
            ps->p++;
            size_t first = ps->n_fields, nsize, nalign;
            int rc = parse_fields(ps, depth + 1, &nsize, &nalign);
            if (rc)
                return rc;
            size_t base = align_up(cur, nalign);
            for (size_t k = first; k < ps->n_fields; k++)
                ps->fields[k].off += base;
            cur = base + nsize;
            if (nalign > al)
                al = nalign;
        } else {
            size_t sz = scalar_size(ch, &c_align);
            if (sz == 0 || ps->n_fields >= FORMAT_MAX_FIELDS)
                return ENS_EINVAL; /* '\0', '#', 'A', 'B', 'S' or junk */
            cur = align_up(cur, c_align);
            ps->fields[ps->n_fields++] = (flat_field){cur, sz, ch};
            cur += sz;
            if (c_align > al)
                al = c_align;
            ps->p++;
        }
        any = true;
    }
    ps->p++; /* ')' */
    if (!any)
        return ENS_EINVAL;
    *size = align_up(cur, al);
    *align = al;
    return 0;
}

/* Parse one S(...) at ps->p (just after 'S') and check that tpl places its
 * fields where C does. */
static int parse_struct(parser *ps, size_t *size, size_t *align)
{
    ps->n_fields = 0;
    int rc = parse_fields(ps, 0, size, align);
    if (rc)
        return rc;
    size_t end = 0;
    for (size_t k = 0; k < ps->n_fields; k++) {
        const flat_field *f = &ps->fields[k];
        size_t off = k == 0 ? 0 : align_up(end, tpl_align(f->ch, f->size));
        if (off != f->off)
            return ENS_EINVAL; /* nested struct padding tpl cannot follow */
        end = off + f->size;
    }
    return 0;
}

/* Record the fields of the S(...) just parsed as a fixed layout if they are
 * all fixed-size scalars (no 's') and few enough; else mark the type as not
 * eligible. The caller drops the mark if another item follows. */
static void set_fixed(ens_typeinfo *info, const parser *ps, size_t struct_size)
{
    info->fixed_size = 0;
    info->n_fixed = 0;
    if (ps->n_fields > ENS_FIXED_MAX_FIELDS)
        return;
    size_t total = 0;
    for (size_t k = 0; k < ps->n_fields; k++) {
        const flat_field *f = &ps->fields[k];
        if (f->ch == 's')
            return;
        /* parse_fields placed it inside the struct, at its own alignment */
        assert(f->size <= 8 && f->off + f->size <= struct_size && f->off % f->size == 0);
        info->fixed[k] = (ens_fixed_field){(uint16_t)f->off, (uint8_t)f->size};
        total += f->size;
    }
    (void)struct_size;
    info->n_fixed = (uint32_t)ps->n_fields;
    info->fixed_size = (uint32_t)total;
}

int ens__format_layout(const char *format, ens_typeinfo *info)
{
    if (!format || !info || *format == '\0' || strlen(format) > FORMAT_MAX_LEN)
        return ENS_EINVAL;
    parser pst, *ps = &pst;
    ps->p = format;
    info->fixed_size = 0;
    info->n_fixed = 0;
    size_t cur = 0, max_align = 1, n = 0;
    int rc = 0;
    while (*ps->p && rc == 0) {
        char ch = *ps->p++;
        ens_item it = {0};
        size_t sz = 0, al = 1;
        if (n >= ENS_MSGTYPE_MAX_ITEMS) {
            rc = ENS_EINVAL;
        } else if (ch == 'S' && n == 0) {
            rc = parse_struct(ps, &sz, &al);
            it = (ens_item){ENS_ITEM_STRUCT, 0, sz, al};
            cur = sz;
            if (rc == 0)
                set_fixed(info, ps, sz);
        } else if (ch == 'B') {
            al = alignof(ens_bytes);
            cur = align_up(cur, al);
            it = (ens_item){ENS_ITEM_BYTES, cur, sizeof(ens_bytes), al};
            cur += sizeof(ens_bytes);
        } else if (ch == 'A' && *ps->p == '(') {
            ps->p++;
            char e = *ps->p;
            if (e == 'S') {
                ps->p++;
                rc = parse_struct(ps, &sz, &al);
            } else {
                sz = scalar_size(e, &al);
                if (sz == 0)
                    rc = ENS_EINVAL;
                else
                    ps->p++;
            }
            if (rc == 0 && *ps->p != ')')
                rc = ENS_EINVAL;
            else if (rc == 0)
                ps->p++;
            size_t a_al = alignof(ens_array);
            cur = align_up(cur, a_al);
            it = (ens_item){ENS_ITEM_ARRAY, cur, sz, al};
            cur += sizeof(ens_array);
            al = a_al;
        } else {
            rc = ENS_EINVAL; /* S not first, a bare field, '#', junk */
        }
        if (rc == 0) {
            info->items[n++] = it;
            if (al > max_align)
                max_align = al;
        }
    }
    if (rc || n != 1) {
        /* fixed layout only for a lone S(...) */
        info->fixed_size = 0;
        info->n_fixed = 0;
    }
    if (rc)
        return rc;
    info->n_items = n;
    info->size = align_up(cur, max_align);
    return 0;
}

/* ---- the registry ------------------------------------------------------- */

static ens_typeinfo *slots0[128];
static ens_typeinfo **slots = slots0;
static size_t n_slots = sizeof slots0 / sizeof slots0[0]; /* a power of 2 */
static size_t n_used;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static size_t slot_of(uint32_t id, size_t cap)
{
    return (size_t)(id * 0x9E3779B1u) & (cap - 1);
}

static void insert_slot(ens_typeinfo **tab, size_t cap, ens_typeinfo *info)
{
    size_t i = slot_of(info->type->id, cap);
    while (tab[i])
        i = (i + 1) & (cap - 1);
    tab[i] = info;
}

static const ens_typeinfo *lookup(uint32_t id)
{
    for (size_t i = slot_of(id, n_slots); slots[i]; i = (i + 1) & (n_slots - 1)) {
        if (slots[i]->type->id == id)
            return slots[i];
    }
    return NULL;
}

/* The section's bounds, defined by the linker. This file holds one empty
 * entry, so the section exists in every program that has a type table
 * (the walk skips it); hidden, so the shared library does not export them. */
__attribute__((
    used,
    section("ens_builtin_msgtypes"))) static const ens__builtin_msgtype *const no_builtin_msgtype =
    NULL;
extern const ens__builtin_msgtype *const __start_ens_builtin_msgtypes[]
    __attribute__((visibility("hidden")));
extern const ens__builtin_msgtype *const __stop_ens_builtin_msgtypes[]
    __attribute__((visibility("hidden")));

/* Enter one built-in type into the table from static storage. The table
 * starts large enough for all of them (asserted), so this cannot fail. */
static void add_builtin(const ens_msgtype *t, ens_typeinfo *info, char *fmt, size_t fmt_room)
{
    int rc = ens__format_layout(t->format, info);
    assert(rc == 0 && info->size == t->size);
    assert(t->id >= ENS_TYPE_ID_SYSTEM_MIN || t->id == ens__type_hash(t->name));
    assert(strlen(t->format) < fmt_room);
    assert(lookup(t->id) == NULL);
    assert((n_used + 1) * 2 <= n_slots);
    (void)rc;
    (void)fmt_room;
    memcpy(fmt, t->format, strlen(t->format) + 1);
    info->type = t;
    info->tpl_format = fmt;
    info->max_items = t->max_items ? t->max_items : ENS_MAX_ITEMS_DEFAULT;
    insert_slot(slots, n_slots, info);
    n_used++;
}

static void init_builtins(void)
{
    for (size_t k = 0; k < N_BUILTINS; k++)
        add_builtin(builtins[k], &builtin_info[k], builtin_fmt[k], sizeof builtin_fmt[k]);
    for (const ens__builtin_msgtype *const *b = __start_ens_builtin_msgtypes;
         b < __stop_ens_builtin_msgtypes; b++) {
        if (*b != NULL)
            add_builtin((*b)->type, (*b)->info, (*b)->format_buffer, ENS__BUILTIN_FORMAT_MAX);
    }
}

/* Register the built-in and system types on first use, once per process. */
static void ensure_init(void)
{
    int rc = pthread_once(&init_once, init_builtins);
    assert(rc == 0);
    (void)rc;
}

void ens__msgtype_table_init(void)
{
    ensure_init();
}

/* Make room for one more entry (load factor <= 1/2). */
static int grow_if_needed(void)
{
    if ((n_used + 1) * 2 <= n_slots)
        return 0;
    size_t cap = n_slots * 2;
    ens_typeinfo **tab = ens__malloc(cap * sizeof *tab);
    if (!tab)
        return ENS_ENOMEM;
    memset(tab, 0, cap * sizeof *tab);
    for (size_t i = 0; i < n_slots; i++) {
        if (slots[i])
            insert_slot(tab, cap, slots[i]);
    }
    if (slots != slots0)
        free(slots);
    slots = tab;
    n_slots = cap;
    return 0;
}

static bool name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        unsigned char ch = (unsigned char)name[n];
        if (ch <= 0x20 || ch >= 0x7F || n >= NAME_MAX_LEN)
            return false;
    }
    return n > 0;
}

/* By name: user and built-in types sit at their name's hash, system types
 * at their fixed ids. */
static const ens_typeinfo *lookup_name(const char *name)
{
    const ens_typeinfo *info = lookup(ens__type_hash(name));
    if (info && strcmp(info->type->name, name) == 0)
        return info;
    for (size_t k = 0; k < N_BUILTINS; k++) {
        if (strcmp(builtins[k]->name, name) == 0)
            return &builtin_info[k];
    }
    return NULL;
}

/* The named elements of an (accepted) format, as msg.h counts them for
 * ens_msgtype.fields: every field character, $, A and B, except S and the
 * scalar element of an A(x). */
static size_t named_elements(const char *format)
{
    size_t n = 0;
    for (size_t k = 0; format[k]; k++) {
        char ch = format[k];
        if (ch == '(' || ch == ')' || ch == 'S')
            continue;
        if (k >= 2 && format[k - 1] == '(' && format[k - 2] == 'A' && ch != 'S')
            continue;
        n++;
    }
    return n;
}

/* fields is NULL or one name (1-64 of A-Z a-z 0-9 _) per named element. */
static bool fields_ok(const char *format, const char *fields)
{
    if (fields == NULL)
        return true;
    size_t n = 0, len = 0;
    for (const char *p = fields;; p++) {
        if (*p == ',' || *p == '\0') {
            if (len == 0)
                return false;
            n++;
            len = 0;
            if (*p == '\0')
                break;
            continue;
        }
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok || ++len > 64)
            return false;
    }
    return n == named_elements(format);
}

/* Systems started by this process and not yet stopped or closed: while
 * one runs, a new type would be unknown to its forked processes (process
 * base), so registration is refused on both bases alike. */
static int systems_running;

void ens__msgtype_system_started(void)
{
    __atomic_add_fetch(&systems_running, 1, __ATOMIC_SEQ_CST);
}

void ens__msgtype_system_ended(void)
{
    __atomic_sub_fetch(&systems_running, 1, __ATOMIC_SEQ_CST);
}

/* The registered type (other than t) whose id is t's name's hash, for the
 * text of a clash. */
static const char *holder_of(uint32_t id)
{
    const ens_typeinfo *info = lookup(id);
    return info ? info->type->name : "?";
}

static int register_type(ens_msgtype *t, bool late_ok)
{
    ensure_init();
    ens__errmsg_clear();
    if (!t) {
        ens__errmsg_set("ens_msgtype_register: the type is NULL");
        return ENS_EINVAL;
    }
    if (!t->name || !name_ok(t->name)) {
        ens__errmsg_set("message type name '%.*s' is not accepted: 1 to %d printable ASCII "
                        "characters, no space",
                        64, t->name ? t->name : "(null)", NAME_MAX_LEN);
        return ENS_EINVAL;
    }
    if (!t->format) {
        ens__errmsg_set("%s: the format is NULL", t->name);
        return ENS_EINVAL;
    }
    const ens_typeinfo *old = lookup_name(t->name);
    if (old) {
        if (old->type == t)
            return 0;
        ens__errmsg_set("%s: the name is held by another registered type (format %s)", t->name,
                        old->type->format);
        return ENS_EEXIST;
    }
    ens_typeinfo tmp = {0};
    int rc = ens__format_layout(t->format, &tmp);
    if (rc) {
        ens__errmsg_set("%s: format %.*s is not accepted (see ensemble/msg.h)", t->name, 200,
                        t->format);
        return rc;
    }
    if (tmp.size != t->size) {
        ens__errmsg_set("%s: format %.*s describes %zu bytes, the struct has %zu", t->name, 200,
                        t->format, tmp.size, t->size);
        return ENS_EINVAL;
    }
    if (!fields_ok(t->format, t->fields)) {
        ens__errmsg_set("%s: fields \"%.*s\" are not one name (1-64 of A-Za-z0-9_) per named "
                        "element of format %.*s",
                        t->name, 200, t->fields, 200, t->format);
        return ENS_EINVAL;
    }
    uint32_t id = ens__type_hash(t->name);
    if (id == 0 || id >= ENS_TYPE_ID_SYSTEM_MIN) {
        ens__errmsg_set("%s: its id 0x%08x (the name's FNV-1a hash) is in the range reserved for "
                        "system types; choose another name",
                        t->name, id);
        return ENS_EEXIST;
    }
    if (lookup(id)) {
        ens__errmsg_set("%s: its id 0x%08x (the name's FNV-1a hash) is held by %s; choose another "
                        "name",
                        t->name, id, holder_of(id));
        return ENS_EEXIST;
    }
    if (!late_ok && __atomic_load_n(&systems_running, __ATOMIC_SEQ_CST) > 0) {
        ens__errmsg_set("%s: registered while a system runs; register before ens_system_start "
                        "(its actors would not know the type)",
                        t->name);
        return ENS_EINVAL;
    }
    if (grow_if_needed()) {
        ens__errmsg_set("%s: out of memory", t->name);
        return ENS_ENOMEM;
    }
    ens_typeinfo *info = ens__malloc(sizeof *info);
    size_t flen = strlen(t->format) + 1;
    char *fmt = ens__malloc(flen);
    if (!info || !fmt) {
        free(info);
        free(fmt);
        ens__errmsg_set("%s: out of memory", t->name);
        return ENS_ENOMEM;
    }
    memcpy(fmt, t->format, flen);
    *info = tmp;
    info->type = t;
    info->tpl_format = fmt;
    info->max_items = t->max_items ? t->max_items : ENS_MAX_ITEMS_DEFAULT;
    t->id = id;
    insert_slot(slots, n_slots, info);
    n_used++;
    return 0;
}

int ens_msgtype_register(ens_msgtype *t)
{
    return register_type(t, false);
}

int ens__msgtype_register_library(ens_msgtype *t)
{
    return register_type(t, true);
}

const ens_msgtype *ens_msgtype_find(const char *name)
{
    ensure_init();
    if (!name)
        return NULL;
    const ens_typeinfo *info = lookup_name(name);
    return info ? info->type : NULL;
}

const ens_typeinfo *ens__typeinfo_by_id(uint32_t id)
{
    ensure_init();
    return lookup(id);
}

const ens_typeinfo *ens__typeinfo_of(const ens_msgtype *t)
{
    ensure_init();
    if (!t || !t->name)
        return NULL;
    if (t->id != 0) {
        const ens_typeinfo *info = lookup(t->id);
        if (info && (info->type == t || strcmp(info->type->name, t->name) == 0))
            return info;
        return NULL;
    }
    const ens_typeinfo *info = lookup_name(t->name);
    return info && info->type == t ? info : NULL;
}

void ens__msgtype_each(void (*fn)(const ens_msgtype *t, void *arg), void *arg)
{
    ensure_init();
    for (size_t i = 0; i < n_slots; i++) {
        if (slots[i])
            fn(slots[i]->type, arg);
    }
}
